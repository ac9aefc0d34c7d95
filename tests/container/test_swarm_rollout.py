"""Swarm, for real: deploy v1, roll to v2 and survive a broken v3 without losing a request,
every request over HTTPS through the HAProxy edge (verified against a CA made here).

Everything goes through scripts/deploy.sh (the code path `dagger call deploy` runs): secrets,
migrations first, the executor container, `docker stack deploy`, smoke test, history. The
manual rollback runs as from a fresh machine: every local state file is deleted first, so it
can only read the release record on the api service.
v1 and v2 are the Nox image with another label and env; v3 has a HEALTHCHECK that fails.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.swarm_support import (
    PREFIX,
    SwarmStack,
    derive_image,
    docker,
    make_test_ca,
    nox_image,
    swarm_node,
)

pytestmark = [pytest.mark.container, pytest.mark.swarm]

VERSIONS = {
    "v1": 'LABEL org.opencontainers.image.version="7.0.0+v1"\nENV NOX_RELEASE=v1\n',
    "v2": 'LABEL org.opencontainers.image.version="7.0.0+v2"\nENV NOX_RELEASE=v2\n',
    # the api process is fine; only its health check says no: Swarm must roll back
    "v3": 'ENV NOX_RELEASE=v3\nHEALTHCHECK --interval=2s CMD ["python", "-c", "exit(1)"]\n',
}


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    base = nox_image()
    return {
        v: derive_image(f"{PREFIX}-dep/nox:{v}", f"FROM {base}\n{extra}")
        for v, extra in VERSIONS.items()
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SwarmStack]:
    with swarm_node():
        created = SwarmStack(tmp_path / "state", make_test_ca(tmp_path / "tls"))
        try:
            yield created
        finally:
            created.remove()


def test_rollout_and_automatic_rollback_lose_no_request(
    stack: SwarmStack, images: dict[str, str]
) -> None:
    init = stack.deploy_sh("init-secrets")
    assert init.returncode == 0, init.stderr

    t0 = time.monotonic()
    first = stack.deploy_sh("deploy", "--image", images["v1"])
    assert first.returncode == 0, first.stderr
    print(f"\ndeploy v1 (migrate, executor, 2 api replicas, smoke): {time.monotonic() - t0:.1f}s")

    with stack.load() as during_v2:
        time.sleep(2)
        t0 = time.monotonic()
        second = stack.deploy_sh("deploy", "--image", images["v2"])
        took_v2 = time.monotonic() - t0
        time.sleep(2)
    assert second.returncode == 0, second.stderr
    print(f"v1 -> v2 under load: {took_v2:.1f}s, {during_v2.summary()}")
    assert during_v2.failures == []
    assert during_v2.ok > 100
    assert stack.api("{{.Spec.TaskTemplate.ContainerSpec.Image}}") == images["v2"]

    with stack.load() as during_v3:
        time.sleep(2)
        t0 = time.monotonic()
        third = stack.deploy_sh("deploy", "--image", images["v3"])
        took_v3 = time.monotonic() - t0
        time.sleep(2)
    print(
        f"v2 -> broken v3 -> automatic rollback under load: {took_v3:.1f}s, {during_v3.summary()}"
    )
    assert third.returncode != 0, "a deploy whose tasks never turn healthy must fail"
    # Swarm rolled the api back by itself; deploy.sh then put the whole stack back on v2
    assert "rollback_completed" in third.stderr, third.stderr
    assert during_v3.failures == []
    assert during_v3.ok > 100
    assert stack.api("{{.Spec.TaskTemplate.ContainerSpec.Image}}") == images["v2"]

    assert release_labels(stack) == (images["v2"], images["v1"])  # the failed v3 left no mark

    # a fresh machine: no history, no secret copies, nothing local but the repository
    old_state = Path(stack.env["NOX_DEPLOY_STATE_DIR"])
    shutil.rmtree(old_state)
    fresh = old_state.parent / "fresh-machine"
    stack.env["NOX_DEPLOY_STATE_DIR"] = str(fresh)
    with stack.load() as during_rollback:
        t0 = time.monotonic()
        back = stack.deploy_sh("rollback")
        took_back = time.monotonic() - t0
        time.sleep(2)
    assert back.returncode == 0, back.stderr
    print(
        f"deploy.sh rollback v2 -> v1 with no local state, under load: {took_back:.1f}s, "
        f"{during_rollback.summary()}"
    )
    assert "record on the target" in back.stderr, back.stderr
    assert during_rollback.failures == []
    assert during_rollback.ok > 100
    assert stack.api("{{.Spec.TaskTemplate.ContainerSpec.Image}}") == images["v1"]
    assert release_labels(stack) == (images["v1"], images["v2"])
    executor_images = docker(
        "ps", "--filter", f"label=nox.executor-of={stack.name}", "--format", "{{.Image}}"
    ).split()
    assert executor_images == [images["v1"]]

    # the history file is a log: the fresh machine's holds only what it did
    records = [json.loads(line) for line in (fresh / "history.jsonl").read_text().splitlines()]
    assert [(r["image"], r["status"], r["action"]) for r in records] == [
        (images["v1"], "deployed", "rollback")
    ]
    assert records[0]["digest"].startswith("sha256:")


def release_labels(stack: SwarmStack) -> tuple[str, str]:
    labels = json.loads(stack.api("{{json .Spec.Labels}}"))
    return labels["nox.release.current"], labels["nox.release.previous"]
