"""The module's functions executed for real: their lazy graphs replayed on the local Docker
engine by tests/pipeline/replayer.py (a test-only replayer, not Dagger; what it cannot model is
listed in docs/pipeline.md). Pinned images map to local stand-ins, printed with each run."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagger import dag

from tests.container.engine import PREFIX, REPO, container_state, free_port, run, wait_for
from tests.pipeline.conftest import load
from tests.pipeline.replayer import Replayer, replaying

main = load("main")
facts = load("facts")

# Tool images the module pulls, made locally from the stand-in base and this machine's binaries.
TOOL_STANDINS = {
    "NODE_IMAGE": (
        "standin-node:20",
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm"
        " && rm -rf /var/lib/apt/lists/* && ln -s /usr/bin/node /usr/local/bin/node\n",
    ),
    "DOCKER_CLI_IMAGE": ("standin-docker-cli:27", "COPY docker /usr/local/bin/docker\n"),
    "KUBECTL_IMAGE": ("standin-kubectl:1", "COPY kubectl /bin/kubectl\n"),
}


@pytest.fixture(scope="module")
def image_map(
    base_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    mapping = {
        facts.PYTHON_IMAGE: base_images["PYTHON_IMAGE"],
        facts.POSTGRES_IMAGE: base_images["POSTGRES_IMAGE"],
        facts.REDIS_IMAGE: base_images["REDIS_IMAGE"],
    }
    context = tmp_path_factory.mktemp("tool-standins")
    # /usr/local/bin first: there this machine keeps the static docker client of today (the
    # pinned image's is 27); Debian's 20.10 client in /usr/bin cannot deploy a stack with a
    # `replicated-job` service (the migration job)
    for binary in ("docker", "kubectl"):
        found = shutil.which(binary, path="/usr/local/bin:/usr/bin")
        assert found, f"{binary} is needed on this machine to make its stand-in image"
        shutil.copy2(Path(found).resolve(), context / binary)
    base = base_images["PYTHON_IMAGE"].replace("python:3.11-slim-bookworm", "debian:bookworm")
    for variable, (name, body) in TOOL_STANDINS.items():
        tag = f"{PREFIX}/{name}"
        (context / "Dockerfile").write_text(f"FROM {base}\n{body}")
        run(["docker", "build", "-q", "-t", tag, str(context)], timeout=900)
        mapping[getattr(facts, variable)] = tag
    return mapping


@pytest.fixture
def replayer(
    image_map: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Replayer]:
    replay = Replayer(
        images=image_map,
        scratch=tmp_path,
        prefix=f"{PREFIX}-replay",
        host_ignore=main.SOURCE_IGNORE,
    )
    with replaying(replay, monkeypatch):
        yield replay


def ci() -> Any:
    return main.NoxCi(source=dag.host().directory(str(REPO)))


def test_build_gives_an_amd64_image_that_starts_healthy(replayer: Replayer, tmp_path: Path) -> None:
    archive = ci().build(["linux/amd64"], revision="replay")
    tarball = replayer.export(archive, tmp_path / "nox.tar")
    with tarfile.open(tarball) as tar:
        assert "manifest.json" in tar.getnames()
    loaded = run(["docker", "load", "-i", str(tarball)]).stdout
    image = loaded.strip().split()[-1]
    revision = '{{index .Config.Labels "org.opencontainers.image.revision"}}'
    inspect = ["docker", "image", "inspect", "--format", f"{revision} {{{{.Architecture}}}}", image]
    assert run(inspect).stdout.split() == ["replay", "amd64"]
    port = free_port()
    name = f"{PREFIX}-replayed-{port}"
    run(["docker", "run", "-d", "--name", name, "-e", "NOX_ENV=development",
         "-p", f"127.0.0.1:{port}:8000", image])  # fmt: skip
    try:
        wait_for(
            lambda: container_state(name, "{{.State.Health.Status}}") == "healthy", 90, "healthy"
        )
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        run(["docker", "rm", "-f", name], check=False)


@pytest.fixture
def running_nox(runtime_image: str) -> Iterator[tuple[str, str]]:
    port = free_port()
    name = f"{PREFIX}-smoke-target-{port}"
    run(["docker", "run", "-d", "--name", name, "-e", "NOX_ENV=development",
         "-p", f"127.0.0.1:{port}:8000", runtime_image])  # fmt: skip
    try:
        wait_for(lambda: container_state(name, "{{.State.Health.Status}}") == "healthy", 90, name)
        yield name, f"http://127.0.0.1:{port}"
    finally:
        run(["docker", "rm", "-f", name], check=False)


def test_smoke_passes_against_a_running_nox(
    replayer: Replayer, running_nox: tuple[str, str]
) -> None:
    name, url = running_nox
    asyncio.run(ci().smoke(url))  # raises PipelineError when the script fails
    served = run(["docker", "logs", name]).stdout + run(["docker", "logs", name]).stderr
    for route in ("/healthz", "/readyz", "/api/v7/status"):
        assert f'"path": "{route}"' in served or route in served, route


# The integration modules that talk to the bound PostgreSQL and Redis (migrations, quotas on
# both stores, replicas sharing them, the audit chain), not the whole tier: .ci/run runs the
# whole tier natively, and replaying it here took 252 s of a 15-minute CI run. What this test
# proves is the wiring: the test image, its bound services, the report coming back.
BOUND_SERVICE_MODULES = [
    "tests/integration/test_migrations.py",
    "tests/integration/test_quotas.py",
    "tests/integration/test_replicas.py",
    "tests/integration/test_audit_chain.py",
]


def test_test_runs_integration_next_to_its_services_and_returns_junit(
    replayer: Replayer, tmp_path: Path
) -> None:
    report = asyncio.run(ci().test(["integration"], paths=BOUND_SERVICE_MODULES))
    reports = replayer.export(report, tmp_path / "reports")
    outcome = (reports / "outcome").read_text().strip()
    suites = ET.parse(reports / "junit.xml").getroot()  # noqa: S314 - our own run's report
    cases = suites.findall(".//testcase")
    modules = {c.get("classname", "") for c in cases}
    assert modules == {m.removesuffix(".py").replace("/", ".") for m in BOUND_SERVICE_MODULES}
    assert len(cases) > 20
    # The replayer started the bound services the fixtures then used instead of their own.
    assert any("postgres" in line for line in replayer.log if line.startswith("service "))
    assert any("redis" in line for line in replayer.log if line.startswith("service "))
    assert outcome == "passed", outcome + "\n" + replayer.container_log_tail()


def test_lint_runs_every_validator_in_its_tool_container(replayer: Replayer) -> None:
    output = asyncio.run(ci().lint())
    assert "Success: no issues found" in output  # mypy --strict
    assert "validation done" in output  # check-jsonschema on the workflows
    assert any(line.startswith("exec task lint") for line in replayer.log)
