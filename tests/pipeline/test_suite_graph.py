"""`test` builds the intended graph: test image, healthchecked services, env, report."""

from __future__ import annotations

import asyncio
from typing import Any

import dagger
import pytest
from dagger import dag

from tests.pipeline import graph
from tests.pipeline.conftest import load

facts = load("facts")
services = load("services")
suite = load("suite")
images = load("images")
main = load("main")


def bindings(ctr: Any) -> dict[str, Any]:
    return {a["alias"]: a["service"] for a in graph.find(ctr, "withServiceBinding")}


@pytest.fixture
def suite_ctr() -> Any:
    return suite.suite_container(dag.directory())


def test_runs_in_the_dockerfile_test_target(suite_ctr: Any) -> None:
    build = graph.one(suite_ctr, "dockerBuild")
    assert build["target"] == facts.TEST_TARGET == "test"
    # The stage's own pytest run is reduced to collection: the tiers run next to the services.
    assert {"name": "TEST_ARGS", "value": images.SUITE_BUILD_TEST_ARGS} in build["buildArgs"]
    assert "--collect-only" in images.SUITE_BUILD_TEST_ARGS


def test_binds_postgres_redis_and_oidc_under_their_aliases(suite_ctr: Any) -> None:
    assert set(bindings(suite_ctr)) == {"postgres", "redis", "oidc"}


@pytest.mark.parametrize(
    ("alias", "image", "port", "probe"),
    [
        ("postgres", facts.POSTGRES_IMAGE, 5432, "pg_isready"),
        ("redis", facts.REDIS_IMAGE, 6379, "redis-cli"),
        ("oidc", facts.NODE_IMAGE, 9010, "node"),
    ],
)
def test_each_service_is_pinned_healthchecked_and_exposed(
    suite_ctr: Any, alias: str, image: str, port: int, probe: str
) -> None:
    service = bindings(suite_ctr)[alias]
    assert graph.images(service)[-1] == image
    assert "@sha256:" in image
    assert graph.find(service, "withExposedPort") == [{"port": port}]
    health = graph.one(service, "withDockerHealthcheck")
    assert health["args"][0] == probe
    assert health["retries"] >= 30
    # Readiness is the healthcheck, declared before the service is made.
    order = graph.names(service)
    assert order.index("withDockerHealthcheck") < order.index("asService")


def test_postgres_runs_its_entrypoint_and_is_probed_over_tcp(suite_ctr: Any) -> None:
    pg = bindings(suite_ctr)["postgres"]
    assert graph.one(pg, "asService") == {"useEntrypoint": True}
    probe = graph.one(pg, "withDockerHealthcheck")["args"]
    assert probe[probe.index("-h") + 1] == "127.0.0.1"  # the init server has no TCP socket
    assert graph.env(pg)["POSTGRES_HOST_AUTH_METHOD"] == "trust"  # no password to leak


def test_oidc_service_runs_the_repository_peer_reachable_by_alias(suite_ctr: Any) -> None:
    oidc = bindings(suite_ctr)["oidc"]
    assert graph.one(oidc, "asService")["args"] == ["node", "tests/e2e/oidc/provider.mjs"]
    assert ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"] in graph.execs(oidc)
    env = graph.env(oidc)
    assert env["OIDC_HOST"] == "0.0.0.0"  # noqa: S104 - the peer serves other containers
    assert env["OIDC_ISSUER"] == "http://oidc:9010"


def test_tests_see_the_services_through_their_aliases(suite_ctr: Any) -> None:
    env = graph.env(suite_ctr)
    assert env["NOX_TEST_POSTGRES_URL"] == "postgresql+asyncpg://nox@postgres:5432/nox_test"
    assert env["NOX_TEST_REDIS_URL"] == "redis://redis:6379/0"
    assert env["NOX_TEST_OIDC_ISSUER"] == "http://oidc:9010"
    assert env["CI"] == "true"  # a missing prerequisite fails the tier instead of skipping


def test_runs_the_taskfile_tiers_and_keeps_the_exit_code(suite_ctr: Any) -> None:
    last = graph.find(suite_ctr, "withExec")[-1]
    assert last["args"] == [
        "task", "--exit-code", "test:pytest", "JUNIT=/reports/junit.xml",
        "--", "tests/unit", "tests/integration", "tests/e2e", "tests/pipeline",
    ]  # fmt: skip
    assert last["expect"] == "ANY"
    assert last["insecureRootCapabilities"] is True  # bubblewrap needs user namespaces


def test_e2e_rig_gets_node_and_locked_npm_modules(suite_ctr: Any) -> None:
    files = {a["path"]: a for a in graph.find(suite_ctr, "withFile")}
    assert graph.images(files["/usr/local/bin/node"]["source"]) == [facts.NODE_IMAGE]
    dirs = [a["path"] for a in graph.find(suite_ctr, "withDirectory")]
    assert "/app/node_modules" in dirs


def test_tiers_can_be_chosen_and_unknown_ones_are_refused() -> None:
    ctr = suite.suite_container(dag.directory(), ["integration"])
    assert graph.execs(ctr)[-1][-2:] == ["--", "tests/integration"]
    with pytest.raises(ValueError, match="unknown test tiers"):
        suite.suite_container(dag.directory(), ["container"])


def test_paths_narrow_the_run_to_files_inside_the_chosen_tiers() -> None:
    chosen = ["tests/integration/test_quotas.py", "tests/integration/test_replicas.py::test_x"]
    ctr = suite.suite_container(dag.directory(), ["integration"], chosen)
    assert graph.execs(ctr)[-1][-3:] == ["--", *chosen]
    for outside in ("tests/unit/test_config.py", "tests/integration/../container/x.py", "/etc"):
        with pytest.raises(ValueError, match="not inside the chosen tiers"):
            suite.suite_container(dag.directory(), ["integration"], [outside])


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, "passed\n"),
        (1, "failed: tests failed (exit 1)\n"),
        (137, "failed: killed by SIGKILL (exit 137)\n"),
    ],
)
def test_test_function_returns_the_report_directory_whatever_the_outcome(
    monkeypatch: pytest.MonkeyPatch, code: int, outcome: str
) -> None:
    async def exit_code(self: dagger.Container) -> int:
        return code

    monkeypatch.setattr(dagger.Container, "exit_code", exit_code)
    report = asyncio.run(main.NoxCi(source=dag.directory()).test())
    assert graph.steps(report)[-2] == graph.Step("directory", {"path": "/reports"})
    assert graph.one(report, "withNewFile") == {"path": "outcome", "contents": outcome}


def test_test_function_raises_with_the_output_tail_on_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def failed(self: dagger.Container) -> int:
        return 1

    async def output(self: dagger.Container) -> str:
        return "FAILED tests/unit/test_x.py::test_y\n"

    monkeypatch.setattr(dagger.Container, "exit_code", failed)
    monkeypatch.setattr(dagger.Container, "stdout", output)
    monkeypatch.setattr(dagger.Container, "stderr", output)
    with pytest.raises(main.PipelineError, match="test_y"):
        asyncio.run(main.NoxCi(source=dag.directory()).test(fail=True))


def test_tiers_get_the_tools_ci_installs_for_them(suite_ctr: Any) -> None:
    installs = [argv for argv in graph.execs(suite_ctr) if argv[:2] == ["apt-get", "install"]]
    assert len(installs) == 1
    for package in ("bubblewrap", "prometheus", "prometheus-alertmanager", "shellcheck",
                    "postgresql", "pgbackrest", "procps", "redis-server"):  # fmt: skip
        assert package in installs[0]
    files = {a["path"]: a["source"] for a in graph.find(suite_ctr, "withFile")}
    assert graph.images(files["/usr/local/bin/kubectl"]) == [facts.KUBECTL_IMAGE]
