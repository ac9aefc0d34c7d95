"""The load gate in the pipeline: deploy/environments.toml says per environment whether the gate
is required and which credential holds its users' tokens; `dagger call deploy` reads that
credential before anything runs and hands it to the deploy script as a secret file."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dagger import dag

from deploy import gate_policy
from tests.pipeline import graph
from tests.pipeline.conftest import ROOT, load
from tests.pipeline.engine_fakes import FakeEngine
from tests.pipeline.test_brief_commands import CREDENTIALS, ci, ran  # noqa: F401 (fixture)
from tests.pipeline.test_deploy_graph import SENTINEL, leaked_into

deploying = load("deploying")
environments = load("environments")
main = load("main")

IMAGE = "ghcr.io/acme/nox@sha256:" + "ab" * 32
SHIPPED = (ROOT / environments.CONFIG_PATH).read_text()


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine(ROOT, environ=dict(CREDENTIALS))
    fake.install(monkeypatch)
    return fake


def token_mount(ctr: Any) -> dict[str, Any] | None:
    mounts = [
        a for a in graph.find(ctr, "withMountedSecret") if a["path"] == deploying.LOAD_TOKENS_PATH
    ]
    assert len(mounts) <= 1
    return mounts[0] if mounts else None


def test_staging_requires_the_gate_and_prod_leaves_it_out() -> None:
    config = environments.parse(SHIPPED)
    staging, prod = config.environment("staging"), config.environment("prod")
    assert (staging.load_gate, staging.load_tokens) == ("required", "env://NOX_LOAD_TOKENS")
    assert staging.gate_credentials() == {"load_tokens": "env://NOX_LOAD_TOKENS"}
    assert (prod.load_gate, prod.gate_credentials()) == ("optional", {})


def test_the_deploy_package_reads_the_same_requirement_as_the_module() -> None:
    """scripts/deploy.sh decides from the same key (deploy/gate_policy.py)."""
    config = environments.parse(SHIPPED)
    for name, environment in config.environments.items():
        assert gate_policy.required(name) == (environment.load_gate == "required"), name
    assert gate_policy.required("staging")  # the check above can fail: staging is required


def test_deploy_to_staging_hands_the_tokens_over_as_a_secret_file(
    engine: FakeEngine,
    ran: list[Any],  # noqa: F811 (the fixture imported above)
) -> None:
    asyncio.run(ci().deploy(deploying.Env.staging, image=IMAGE))
    (ctr,) = ran
    mount = token_mount(ctr)
    assert mount is not None and mount.get("mode", 0o400) == 0o400
    assert graph.steps(mount["source"]) == [graph.Step("secret", {"uri": "env://NOX_LOAD_TOKENS"})]
    assert graph.env(ctr)["NOX_LOAD_TOKENS_FILE"] == deploying.LOAD_TOKENS_PATH
    assert "NOX_LOAD_TOKENS" not in graph.env(ctr)
    assert graph.find(ctr, "withSecretVariable") == []


def test_the_mount_comes_before_the_script_runs(engine: FakeEngine, ran: list[Any]) -> None:  # noqa: F811
    asyncio.run(ci().deploy(deploying.Env.staging, image=IMAGE))
    names = graph.names(ran[0])
    mounted = max(
        i
        for i, s in enumerate(graph.steps(ran[0]))
        if s.name == "withMountedSecret" and s.args["path"] == deploying.LOAD_TOKENS_PATH
    )
    assert mounted < len(names) - 1 and names[-1] == "withExec"


def test_the_tokens_never_appear_outside_the_secret() -> None:
    ctr = deploying.deployer(
        dag.directory(), deploying.Target.k8s, deploying.Env.staging, IMAGE,
        "https://staging.nox.example", "n",
        deploying.Credentials(
            kubeconfig=dag.secret("env://K"), load_tokens=dag.set_secret("tokens", SENTINEL)
        ),
    )  # fmt: skip
    assert token_mount(ctr) is not None
    assert leaked_into(ctr) == []


@pytest.mark.parametrize("value", [None, "", " \n"], ids=["unset", "empty", "blank"])
def test_staging_without_gate_users_is_refused_before_anything_runs(
    engine: FakeEngine,
    ran: list[Any],  # noqa: F811
    value: str | None,
) -> None:
    if value is None:
        engine.environ.pop("NOX_LOAD_TOKENS")
    else:
        engine.environ["NOX_LOAD_TOKENS"] = value
    with pytest.raises(main.PipelineError) as raised:
        asyncio.run(ci().deploy(deploying.Env.staging, image=IMAGE))
    message = str(raised.value)
    assert "load_tokens: set the environment variable NOX_LOAD_TOKENS" in message
    assert "load gate" in message and "nothing was run" in message
    assert "not run" not in message.replace("nothing was run", "")
    assert ran == []


def test_a_load_tokens_flag_overrides_the_configuration(
    engine: FakeEngine,
    ran: list[Any],  # noqa: F811
) -> None:
    engine.environ.pop("NOX_LOAD_TOKENS")
    flag = dag.secret("env://OTHER_TOKENS")
    asyncio.run(ci().deploy(deploying.Env.staging, image=IMAGE, load_tokens=flag))
    mount = token_mount(ran[0])
    assert mount is not None
    assert graph.steps(mount["source"]) == [graph.Step("secret", {"uri": "env://OTHER_TOKENS"})]


def test_prod_and_rollbacks_get_no_gate_users(
    engine: FakeEngine,
    ran: list[Any],  # noqa: F811
) -> None:
    asyncio.run(ci().deploy(deploying.Env.prod, image=IMAGE))
    engine.environ.pop("NOX_LOAD_TOKENS")  # a rollback runs no gate, so it needs none
    asyncio.run(ci().rollback(deploying.Env.staging))
    assert len(ran) == 2
    for ctr in ran:
        assert token_mount(ctr) is None
        assert "NOX_LOAD_TOKENS_FILE" not in graph.env(ctr)


def test_the_gate_length_is_an_environment_setting(
    engine: FakeEngine,
    ran: list[Any],  # noqa: F811
) -> None:
    engine.files[environments.CONFIG_PATH] = SHIPPED.replace(
        'load_tokens = "env://NOX_LOAD_TOKENS"\n',
        'load_tokens = "env://NOX_LOAD_TOKENS"\n[environments.staging.settings]\n'
        "NOX_LOAD_SECONDS = 3\n",
        1,
    )
    asyncio.run(ci().deploy(deploying.Env.staging, image=IMAGE))
    assert graph.env(ran[0])["NOX_LOAD_SECONDS"] == "3"


REGISTRY = '[registry]\naddress="r"\nimage="i"\nusername="u"\npassword="env://P"\ntags=["t"]\n'
ENV = '[environments.staging]\ntarget="swarm"\nurl="u"\ntag="t"\ndocker_host="unix:///d"\n'


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ('load_gate = "required"', 'load_gate = "required" needs load_tokens'),
        ('load_gate = "always"\nload_tokens = "env://T"', "load_gate must be one of"),
        ('load_gate = "required"\nload_tokens = "tok-a,tok-b"', "must name a credential"),
    ],
)
def test_a_bad_gate_configuration_is_refused(keys: str, error: str) -> None:
    with pytest.raises(environments.ConfigError, match=error):
        environments.parse(REGISTRY + ENV + keys)
