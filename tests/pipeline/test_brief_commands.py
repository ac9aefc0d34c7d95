"""The brief's commands work as typed: `dagger call publish`, `dagger call deploy --env prod`,
`dagger call rollback --env staging` take everything else from deploy/environments.toml and
from what publish pushed, and a missing credential stops them before anything runs."""

from __future__ import annotations

import asyncio
from typing import Any

import dagger
import pytest
from dagger import dag

from tests.pipeline import graph
from tests.pipeline.conftest import ROOT, load
from tests.pipeline.engine_fakes import FakeEngine

main = load("main")
deploying = load("deploying")
environments = load("environments")

DIGEST = "sha256:" + "ef" * 32
CREDENTIALS = {
    "REGISTRY_USER": "acme-bot",
    "REGISTRY_TOKEN": "registry-token",
    "KUBECONFIG_DATA": "apiVersion: v1",
    "NOX_LOAD_TOKENS": "tok-a,tok-b",
}


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine(ROOT, environ=dict(CREDENTIALS))
    fake.install(monkeypatch)
    return fake


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Containers whose result was awaited (the deploy script 'ran' and succeeded)."""
    awaited: list[Any] = []

    async def exit_code(self: Any) -> int:
        awaited.append(self)
        return 0

    async def stdout(self: Any) -> str:
        return "deployed\n"

    async def image_ref(self: Any) -> str:
        address = graph.one(self, "from")["address"]
        return f"{address}@{DIGEST}"

    async def publish(self: Any, address: str, **_: Any) -> str:
        awaited.append((self, address))
        return f"{address}@{DIGEST}"

    monkeypatch.setattr(dagger.Container, "exit_code", exit_code)
    monkeypatch.setattr(dagger.Container, "stdout", stdout)
    monkeypatch.setattr(dagger.Container, "image_ref", image_ref)
    monkeypatch.setattr(dagger.Container, "publish", publish)
    return awaited


def ci() -> Any:
    return main.NoxCi(source=dag.directory())


def script_args(ctr: Any) -> list[str]:
    return graph.execs(ctr)[-1]


def test_the_sample_configuration_parses() -> None:
    config = environments.parse((ROOT / environments.CONFIG_PATH).read_text())
    assert set(config.environments) == {e.value for e in deploying.Env}
    assert config.environment("prod").credentials() == {"kubeconfig": "env://KUBECONFIG_DATA"}


def test_publish_bare_pushes_the_configured_tags(engine: FakeEngine, ran: list[Any]) -> None:
    ref = asyncio.run(ci().publish())
    assert ref == f"ghcr.io/acme/nox@{DIGEST}"
    ((pusher, address),) = ran
    assert address == "ghcr.io/acme/nox:main"
    auth = graph.one(pusher, "withRegistryAuth")
    assert auth["address"] == "ghcr.io" and auth["username"] == "acme-bot"


def test_publish_with_a_revision_also_tags_the_commit(engine: FakeEngine, ran: list[Any]) -> None:
    asyncio.run(ci().publish(revision="abc123"))
    assert [address for _, address in ran] == [
        "ghcr.io/acme/nox:main",
        "ghcr.io/acme/nox:sha-abc123",
    ]


def test_deploy_env_prod_takes_target_url_credentials_and_the_published_digest(
    engine: FakeEngine, ran: list[Any]
) -> None:
    assert asyncio.run(ci().deploy(deploying.Env.prod)) == "deployed\n"
    (ctr,) = ran
    assert script_args(ctr) == [
        "bash", "scripts/deploy.sh", "deploy", "--target", "k8s", "--env", "prod",
        "--image", f"ghcr.io/acme/nox@{DIGEST}", "--smoke-url", "https://nox.example",
        "--preview-url", "https://preview.nox.example",
    ]  # fmt: skip
    mounts = {a["path"]: a["source"] for a in graph.find(ctr, "withMountedSecret")}
    assert graph.steps(mounts["/run/secrets/kubeconfig"]) == [
        graph.Step("secret", {"uri": "env://KUBECONFIG_DATA"})
    ]


def test_deploy_flags_override_the_configuration(engine: FakeEngine, ran: list[Any]) -> None:
    image = "registry.example/nox@sha256:" + "12" * 32
    engine.environ.pop("REGISTRY_TOKEN")  # an explicit image needs no registry login
    asyncio.run(ci().deploy(deploying.Env.staging, image=image, smoke_url="https://s.example"))
    args = script_args(ran[0])
    assert args[args.index("--image") + 1] == image
    assert args[args.index("--smoke-url") + 1] == "https://s.example"


def test_rollback_env_staging_needs_no_flags(engine: FakeEngine, ran: list[Any]) -> None:
    asyncio.run(ci().rollback(deploying.Env.staging))
    assert script_args(ran[0]) == [
        "bash", "scripts/deploy.sh", "rollback", "--target", "k8s", "--env", "staging",
        "--smoke-url", "https://staging.nox.example",
        "--preview-url", "https://preview.staging.nox.example",
    ]  # fmt: skip


def test_missing_credentials_are_named_at_once_before_anything_runs(
    engine: FakeEngine, ran: list[Any]
) -> None:
    engine.environ.clear()
    with pytest.raises(main.PipelineError) as raised:
        asyncio.run(ci().deploy(deploying.Env.prod))
    message = str(raised.value)
    for variable in ("KUBECONFIG_DATA", "REGISTRY_TOKEN", "REGISTRY_USER"):
        assert f"the environment variable {variable}" in message
    assert "nothing was run" in message
    assert ran == []


def test_publish_without_its_token_says_what_to_set(engine: FakeEngine, ran: list[Any]) -> None:
    engine.environ.pop("REGISTRY_TOKEN")
    with pytest.raises(main.PipelineError, match=r"registry\.password: set the environment"):
        asyncio.run(ci().publish())
    assert ran == []


SWARM_STAGING = """
[environments.staging]
target = "swarm"
url = "https://127.0.0.1:8443"
tag = "main"
docker_host = "unix:///var/run/docker.sock"
[environments.staging.settings]
NOX_STACK = "nox-stage"
NOX_EDGE_PORT = 8443
NOX_SWARM_OVERLAYS = "logs"
LOGS_RETENTION_DAYS = 30
"""


def test_an_environments_settings_reach_deploy_and_rollback_as_variables(
    engine: FakeEngine, ran: list[Any]
) -> None:
    sample = (ROOT / environments.CONFIG_PATH).read_text()
    engine.files[environments.CONFIG_PATH] = sample.split("[environments.staging]")[0] + (
        SWARM_STAGING
    )
    image = "registry.example/nox@sha256:" + "12" * 32
    asyncio.run(ci().deploy(deploying.Env.staging, image=image))
    asyncio.run(ci().rollback(deploying.Env.staging))
    for ctr in ran:
        variables = graph.env(ctr)
        assert (variables["NOX_STACK"], variables["NOX_EDGE_PORT"]) == ("nox-stage", "8443")
        assert (variables["NOX_SWARM_OVERLAYS"], variables["LOGS_RETENTION_DAYS"]) == ("logs", "30")
        assert variables["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert [script_args(ctr)[2:5] for ctr in ran] == [
        ["deploy", "--target", "swarm"], ["rollback", "--target", "swarm"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="hunter2"\ntags=["t"]',
         "must name a credential"),
        ('[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="env://P"\ntags=["t"]\n'
         '[environments.prod]\ntarget="nomad"\nurl="u"\ntag="t"', "target must be one of"),
        ('[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="env://P"\ntags=["t"]\n'
         '[environments.prod]\ntarget="swarm"\nurl="u"\ntag="t"\ndocker_host="ssh://h"',
         "needs ssh_key, known_hosts"),
        ('[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="env://P"\ntags=["t"]\n'
         '[environments.prod]\ntarget="swarm"\nurl="u"\ntag="t"\ndocker_host="unix:///d"\n'
         '[environments.prod.settings]\nNOX_DB_PASSWORD="x"', "credentials are never settings"),
        ('[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="env://P"\ntags=["t"]\n'
         '[environments.prod]\ntarget="swarm"\nurl="u"\ntag="t"\ndocker_host="unix:///d"\n'
         '[environments.prod.settings]\nPATH="/x"', "a deploy.sh variable"),
    ],
)  # fmt: skip
def test_a_bad_configuration_is_refused_with_the_key_to_fix(text: str, error: str) -> None:
    with pytest.raises(environments.ConfigError, match=error):
        environments.parse(text)


def test_an_unknown_environment_names_the_known_ones(
    engine: FakeEngine, ran: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = (ROOT / environments.CONFIG_PATH).read_text()
    engine.files[environments.CONFIG_PATH] = sample.split("[environments.prod]")[0]
    with pytest.raises(main.PipelineError, match=r"no \[environments.prod\] \(has: staging\)"):
        asyncio.run(ci().deploy(deploying.Env.prod))
