"""`deploy`, `rollback` and `smoke` run scripts/deploy.sh with credentials that stay secrets."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import dagger
import pytest
from dagger import dag

from tests.pipeline import graph
from tests.pipeline.conftest import ROOT, load
from tests.pipeline.engine_fakes import FakeEngine

facts = load("facts")
deploying = load("deploying")
main = load("main")

IMAGE = "ghcr.io/acme/nox@sha256:" + "ab" * 32
SMOKE_URL = "https://staging.nox.example"
# Plaintext a leak would carry into the graph; only the Secret objects themselves may hold it.
SENTINEL = "sentinel-credential-7f3a"


def leaked_into(ctr: Any) -> list[str]:
    """Where the sentinel shows up outside Secret objects (env values, exec args, files)."""
    return [
        f"{s.name}: {value}"
        for obj in graph.walk(ctr)
        if not isinstance(obj, dagger.Secret)
        for s in graph.steps(obj)
        for value in s.args.values()
        if isinstance(value, str | list) and SENTINEL in str(value)
    ]


@pytest.fixture
def deploy_ctr() -> Any:
    return deploying.deployer(
        dag.directory(),
        deploying.Target.swarm,
        deploying.Env.staging,
        IMAGE,
        SMOKE_URL,
        "nonce-1",
        deploying.Credentials(
            kubeconfig=dag.set_secret("kubeconfig", SENTINEL),
            docker_host="ssh://deploy@swarm.example",
            ssh_key=dag.set_secret("ssh", SENTINEL),
            known_hosts=dag.set_secret("known_hosts", SENTINEL),
        ),
    )


def test_deploy_runs_the_deploy_script_with_env_and_digest(deploy_ctr: Any) -> None:
    last = graph.find(deploy_ctr, "withExec")[-1]
    assert last["args"] == [
        "bash", "scripts/deploy.sh", "deploy", "--target", "swarm", "--env", "staging",
        "--image", IMAGE, "--smoke-url", SMOKE_URL,
    ]  # fmt: skip
    assert last["expect"] == "ANY"  # the wrapper reads the exit code and shows the output
    assert graph.one(deploy_ctr, "withWorkdir") == {"path": "/src"}
    assert "/src" in [a["path"] for a in graph.find(deploy_ctr, "withDirectory")]


def test_deploy_has_docker_and_kubectl_from_pinned_images(deploy_ctr: Any) -> None:
    files = {a["path"]: a["source"] for a in graph.find(deploy_ctr, "withFile")}
    assert graph.images(files["/usr/local/bin/docker"]) == [facts.DOCKER_CLI_IMAGE]
    assert graph.images(files["/usr/local/bin/kubectl"]) == [facts.KUBECTL_IMAGE]
    assert all("@sha256:" in image for image in graph.images(deploy_ctr))


def test_credentials_reach_the_script_as_secret_files_and_variables(deploy_ctr: Any) -> None:
    mounts = {a["path"]: a for a in graph.find(deploy_ctr, "withMountedSecret")}
    assert set(mounts) == {
        "/run/secrets/kubeconfig", "/root/.ssh/id_deploy", "/root/.ssh/known_hosts",
    }  # fmt: skip
    for mount in mounts.values():
        assert isinstance(mount["source"], dagger.Secret)
        assert mount.get("mode", 0o400) == 0o400  # owner-read only (the SDK omits its default)
    # Nothing is passed as a secret variable that no program reads.
    assert graph.find(deploy_ctr, "withSecretVariable") == []
    env = graph.env(deploy_ctr)
    assert env["KUBECONFIG"] == "/run/secrets/kubeconfig"
    assert env["DOCKER_HOST"] == "ssh://deploy@swarm.example"
    assert "DOCKER_SSH_IDENTITY" not in env  # not a variable Docker reads


def test_ssh_checks_the_host_key_it_was_given(deploy_ctr: Any) -> None:
    config = graph.one(deploy_ctr, "withNewFile")
    assert config["path"] == "/root/.ssh/config"
    assert "StrictHostKeyChecking yes" in config["contents"]
    assert "UserKnownHostsFile /root/.ssh/known_hosts" in config["contents"]
    assert "accept-new" not in config["contents"]


def test_an_ssh_host_without_its_known_key_is_refused() -> None:
    with pytest.raises(ValueError, match="known_hosts"):
        deploying.with_credentials(
            dag.container(), deploying.Credentials(ssh_key=dag.set_secret("ssh", SENTINEL))
        )


def test_deploy_gets_only_the_directories_its_script_reads() -> None:
    tree = deploying.deploy_source(dag.directory())
    assert [a["path"] for a in graph.find(tree, "withDirectory")] == list(deploying.DEPLOY_PATHS)


def test_no_credential_plaintext_anywhere_outside_secrets(deploy_ctr: Any) -> None:
    assert leaked_into(deploy_ctr) == []
    # The check itself can fail: a plaintext env value is caught.
    assert leaked_into(deploy_ctr.with_env_variable("TOKEN", SENTINEL)) != []


def test_deploy_never_replays_a_cached_rollout(deploy_ctr: Any) -> None:
    assert graph.env(deploy_ctr)["DEPLOY_NONCE"] == "nonce-1"
    steps = graph.steps(deploy_ctr)
    nonce_at = steps.index(
        graph.Step("withEnvVariable", {"name": "DEPLOY_NONCE", "value": "nonce-1"})
    )
    assert nonce_at < len(steps) - 1 and steps[-1].name == "withExec"


def test_deploy_history_survives_between_calls_per_environment(deploy_ctr: Any) -> None:
    state_dir = graph.env(deploy_ctr)["NOX_DEPLOY_STATE_DIR"]
    assert graph.cache_at(deploy_ctr, state_dir) == {
        "key": "nox-deploy-history-staging", "sharing": "LOCKED",
    }  # fmt: skip


@pytest.mark.parametrize("image", ["ghcr.io/acme/nox:7.0.0", "ghcr.io/acme/nox@sha256:abc", ""])
def test_deploy_refuses_images_not_addressed_by_digest(image: str) -> None:
    with pytest.raises(ValueError, match="by digest"):
        deploying.deployer(
            dag.directory(), deploying.Target.k8s, deploying.Env.prod, image, SMOKE_URL, "n"
        )


def test_rollback_and_smoke_run_the_same_script() -> None:
    rollback = deploying.rollback_container(
        dag.directory(), deploying.Target.k8s, deploying.Env.prod, SMOKE_URL, "n",
        deploying.Credentials(kubeconfig=dag.secret("env://KUBECONFIG_DATA")),
    )  # fmt: skip
    assert graph.execs(rollback)[-1] == [
        "bash", "scripts/deploy.sh", "rollback", "--target", "k8s", "--env", "prod",
        "--smoke-url", SMOKE_URL,
    ]  # fmt: skip
    # The same history volume as deploy, or rollback would not know where to return.
    state_dir = graph.env(rollback)["NOX_DEPLOY_STATE_DIR"]
    assert graph.cache_at(rollback, state_dir)["key"] == "nox-deploy-history-prod"
    assert [a["path"] for a in graph.find(rollback, "withMountedSecret")] == [
        "/run/secrets/kubeconfig"
    ]
    smoke = deploying.smoke_container(dag.directory(), "https://nox.example", "n")
    assert graph.execs(smoke)[-1] == [
        "bash",
        "scripts/deploy.sh",
        "smoke",
        "--url",
        "https://nox.example",
    ]
    assert not graph.find(smoke, "withMountedSecret") and not graph.find(
        smoke, "withSecretVariable"
    )


def test_deploy_function_raises_when_the_script_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failed(self: Any) -> int:
        return 1

    async def output(self: Any) -> str:
        return "smoke test failed on /readyz; rolled back\n"

    monkeypatch.setattr(dagger.Container, "exit_code", failed)
    monkeypatch.setattr(dagger.Container, "stdout", output)
    monkeypatch.setattr(dagger.Container, "stderr", output)
    FakeEngine(ROOT).install(monkeypatch)
    ci = main.NoxCi(source=dag.directory())
    with pytest.raises(main.PipelineError, match="deploy to prod failed"):
        asyncio.run(
            ci.deploy(
                deploying.Env.prod,
                IMAGE,
                deploying.Target.k8s,
                SMOKE_URL,
                kubeconfig=dag.secret("env://K"),
            )
        )


def test_the_script_accepts_exactly_what_the_pipeline_passes() -> None:
    """The deploy package's own argument parser, fed the pipeline's command lines."""
    import sys

    assert (ROOT / deploying.SCRIPT).is_file()
    sys.path.insert(0, str(ROOT))
    try:
        cli = importlib.import_module("deploy.__main__")
    finally:
        sys.path.remove(str(ROOT))
    source = dag.directory()
    argvs = [
        graph.execs(deploying.deployer(source, deploying.Target.k8s, deploying.Env.prod, IMAGE,
                                       SMOKE_URL, "n"))[-1],
        graph.execs(deploying.rollback_container(source, deploying.Target.swarm,
                                                 deploying.Env.staging, SMOKE_URL, "n"))[-1],
        graph.execs(deploying.smoke_container(source, SMOKE_URL, "n"))[-1],
    ]  # fmt: skip
    for argv in argvs:
        assert argv[:2] == ["bash", "scripts/deploy.sh"]
        with pytest.raises(SystemExit) as parsed:
            cli.main([*argv[2:], "--help"])
        assert parsed.value.code == 0, argv  # argparse accepted every option before --help
