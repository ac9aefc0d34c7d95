"""`dagger call deploy --env staging` and `dagger call rollback --env staging`, replayed on the
local Swarm by tests/pipeline/replayer.py (a test-only replayer, not Dagger).

The module's own functions run unchanged: the ops container (python3, docker CLI, kubectl)
is built from the stand-ins, `scripts/deploy.sh` runs in it against this engine (the
replayer mounts the engine's socket where a real run reaches an ssh:// Docker host), and the
smoke test verifies the edge with this run's CA (the replayer hands it to every container,
as an engine configured with a custom CA does). Staging is described by a sample
deploy/environments.toml written into the uploaded source only (the repository's file keeps
its meaning): target swarm, this stack's ports and stand-in images as its settings, and the
load gate required as shipped, with its users' tokens in NOX_LOAD_TOKENS (read by the module as a
Dagger secret) and a short NOX_LOAD_SECONDS setting: the gate must run after the smoke test.

The first deploy is the operator's, by hand (`init-secrets` writes the executor's secret to
the deploying machine); the Dagger runs then start from an empty state volume each, so both
read the release record on the api service.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.container.engine import PREFIX
from tests.container.swarm_support import (
    SwarmStack,
    derive_image,
    docker,
    make_test_ca,
    nox_image,
    swarm_node,
)
from tests.container.test_pipeline_replay import ci, image_map  # noqa: F401 (fixture)
from tests.pipeline.conftest import load
from tests.pipeline.replayer import HOST_CA, Replayer, replaying

pytestmark = [pytest.mark.container, pytest.mark.swarm]

deploying = load("deploying")
main = load("main")

SETTINGS = (
    "NOX_STACK", "NOX_EDGE_PORT", "NOX_EDGE_HTTP_PORT", "NOX_EDGE_SUBNET", "NOX_EDGE_IMAGE",
    "POSTGRES_IMAGE", "REDIS_IMAGE", "NOX_API_REPLICAS",
)  # fmt: skip
# Short: this test proves the gate is wired into the pipeline's deploy (what it measures is
# test_stack_load_gate.py's and test_load_gate_rollback.py's), and CI time is tight.
GATE_SECONDS = "3"
GATE_USERS = 2


def pushed(registry: str, version: str) -> str:
    """A Nox image labelled ``version``, pushed: its reference by digest."""
    tag = f"{registry}/nox-dep/nox:{version}"
    body = f'LABEL org.opencontainers.image.version="7.0.0+{version}"\nENV NOX_RELEASE={version}\n'
    derive_image(tag, f"FROM {nox_image()}\n{body}")
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", docker("push", tag))
    assert match
    return f"{registry}/nox-dep/nox@{match.group(1)}"


def staging_config(stack: SwarmStack) -> str:
    """deploy/environments.toml with staging on this Swarm (the registry part as shipped)."""
    shipped = (Path(__file__).resolve().parents[2] / "deploy" / "environments.toml").read_text()
    settings = "\n".join(f'{name} = "{stack.env[name]}"' for name in SETTINGS)
    return shipped.split("[environments.staging]")[0] + (
        "[environments.staging]\n"
        'target = "swarm"\n'
        f'url = "https://127.0.0.1:{stack.port}"\n'
        'tag = "main"\n'
        'docker_host = "unix:///var/run/docker.sock"\n'
        'load_gate = "required"\n'
        'load_tokens = "env://NOX_LOAD_TOKENS"\n'
        f"[environments.staging.settings]\n{settings}\n"
        f'NOX_LOAD_SECONDS = "{GATE_SECONDS}"\n'
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SwarmStack]:
    with swarm_node():
        # two api replicas, as in production: with one, the edge answered 503 for the moments
        # its DNS view held only the stopped task (12 of 1111 requests in one run)
        created = SwarmStack(
            tmp_path / "state", make_test_ca(tmp_path / "tls"), NOX_API_REPLICAS="2"
        )
        try:
            yield created
        finally:
            created.remove()


@pytest.fixture
def replayer(
    image_map: dict[str, str],  # noqa: F811 (the fixture imported above)
    stack: SwarmStack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Replayer]:
    bundle = tmp_path / "ca-bundle.pem"
    host = HOST_CA.read_text() if HOST_CA.is_file() else ""
    bundle.write_text(host + stack.ca.ca.read_text())
    replay = Replayer(
        images=image_map,
        scratch=tmp_path,
        prefix=f"{PREFIX}-replay",
        host_ignore=main.SOURCE_IGNORE,
        host_overlay={"deploy/environments.toml": staging_config(stack)},
        host_docker=True,
        ca_bundle=bundle,
    )
    with replaying(replay, monkeypatch):
        yield replay


def dagger_run(stack: SwarmStack, call: Coroutine[Any, Any, str]) -> str:
    """Run a module function; when it fails, say what the api's tasks went through."""
    try:
        return asyncio.run(call)
    except main.PipelineError as exc:
        tasks = docker(
            "service", "ps", "--no-trunc", "--format", "{{.Image}} {{.CurrentState}} {{.Error}}",
            f"{stack.name}_api",
        )  # fmt: skip
        raise AssertionError(f"{exc}\napi tasks:\n{tasks}") from exc


def forget_history(replayer: Replayer) -> None:
    """Empty the deploy log's cache volume, as a fresh engine (a new CI runner) has it."""
    volume = f"{replayer.prefix}-cache-nox-deploy-history-staging"
    docker("volume", "rm", "--force", volume)


def release(stack: SwarmStack) -> tuple[str, str, str]:
    labels = json.loads(stack.api("{{json .Spec.Labels}}"))
    image = stack.api("{{.Spec.TaskTemplate.ContainerSpec.Image}}")
    return image, labels["nox.release.current"], labels["nox.release.previous"]


def gate_users(stack: SwarmStack) -> str:
    """API tokens of the gate's users, made the way §5b tells operators: `nox token create`
    in an api container of the environment."""
    (api, *_) = docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack.name}_api"
    ).split()
    made = [
        docker("exec", api, "nox", "token", "create", "--email", f"load-{n}@example.com")
        for n in range(GATE_USERS)
    ]
    return ",".join(out.splitlines()[-1] for out in made)


def deploy_log(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The deploy containers the module builds, to read their exec's stderr afterwards."""
    built: list[Any] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        built.append(deploying.deployer(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(main, "deployer", recording)
    return built


def test_dagger_deploy_and_rollback_of_staging_on_the_local_swarm(
    replayer: Replayer, stack: SwarmStack, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2 = pushed(registry, "v1"), pushed(registry, "v2")
    assert stack.deploy_sh("init-secrets").returncode == 0
    first = stack.deploy_sh("deploy", "--image", v1)
    assert first.returncode == 0, first.stderr
    replayer.environ = {**replayer.environ, "NOX_LOAD_TOKENS": gate_users(stack)}
    built = deploy_log(monkeypatch)

    # Only the gate's own short load here: zero failed requests during a rollout is
    # test_swarm_rollout.py's claim (the same deploy.sh); this test is about the Dagger
    # functions reaching the Swarm, the load gate included.
    forget_history(replayer)
    t0 = time.monotonic()
    out = dagger_run(stack, ci().deploy(deploying.Env.staging, image=v2))
    print(f"\ndagger call deploy --env staging (replayed) v1 -> v2: {time.monotonic() - t0:.1f}s")
    assert release(stack) == (v2, v2, v1), out
    (ctr,) = built
    said = asyncio.run(ctr.stderr())
    gate = re.search(rf"load gate: (\d+) requests by {GATE_USERS} users in .*, 0 errors.*", said)
    assert gate and int(gate.group(1)) > 0, said
    assert said.index("deploy: smoke test") < gate.start() < said.index("deploy: deployed"), said
    print(gate.group(0))

    forget_history(replayer)
    t0 = time.monotonic()
    dagger_run(stack, ci().rollback(deploying.Env.staging))
    print(f"dagger call rollback --env staging (replayed) v2 -> v1: {time.monotonic() - t0:.1f}s")
    assert release(stack) == (v1, v1, v2)
    ran: list[Any] = [line for line in replayer.log if line.startswith("exec bash scripts/")]
    assert [line.split()[3] for line in ran] == ["deploy", "rollback"], ran
