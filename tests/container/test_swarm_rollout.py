"""Swarm, for real: deploy v1, roll to v2 and survive a broken v3 without losing a request,
every request over HTTPS through the HAProxy edge (verified against a CA made here).

Everything goes through scripts/deploy.sh (the code path `dagger call deploy` runs): secrets,
migrations first, the executor container, `docker stack deploy`, smoke test, history.
v1 and v2 are the Nox image with another label and env; v3 has a HEALTHCHECK that fails.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.swarm_support import (
    REPO,
    EdgeCA,
    Load,
    derive_image,
    docker,
    free_port,
    make_test_ca,
    nox_image,
    stand_in_env,
    swarm_node,
)

pytestmark = pytest.mark.container

VERSIONS = {
    "v1": 'LABEL org.opencontainers.image.version="7.0.0+v1"\nENV NOX_RELEASE=v1\n',
    "v2": 'LABEL org.opencontainers.image.version="7.0.0+v2"\nENV NOX_RELEASE=v2\n',
    # the api process is fine; only its health check says no: Swarm must roll back
    "v3": 'ENV NOX_RELEASE=v3\nHEALTHCHECK --interval=2s CMD ["python", "-c", "exit(1)"]\n',
}


class Stack:
    def __init__(self, state_dir: Path, ca: EdgeCA) -> None:
        prefix = os.environ.get("NOX_CTR_PREFIX", "nox")
        self.name = f"{prefix}-dep-{uuid.uuid4().hex[:6]}"
        self.port, self.http_port = free_port(), free_port()
        self.ca = ca
        stand_ins = stand_in_env()
        # every stack gets its own edge subnet: several may run on one engine
        subnet = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
        self.env = {
            **os.environ,
            "NOX_STACK": self.name,
            "NOX_EDGE_PORT": str(self.port),
            "NOX_EDGE_HTTP_PORT": str(self.http_port),
            "NOX_EDGE_SUBNET": subnet,
            "NOX_EDGE_IMAGE": stand_ins["NOX_EDGE_IMAGE"],
            "NOX_TLS_CERT_FILE": str(ca.cert),
            "NOX_TLS_KEY_FILE": str(ca.key),
            "SSL_CERT_FILE": str(ca.ca),  # deploy.sh's smoke test verifies the edge with it
            "NOX_DEPLOY_STATE_DIR": str(state_dir),
            "POSTGRES_IMAGE": stand_ins["POSTGRES_IMAGE"],
            "REDIS_IMAGE": stand_ins["REDIS_IMAGE"],
        }

    def load(self) -> Load:
        return Load(self.port, tls=self.ca.context())

    def deploy_sh(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / "scripts" / "deploy.sh"), *args, "--target", "swarm", "--env", "test"]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, check=False)

    def api(self, template: str) -> str:
        return docker("service", "inspect", "--format", template, f"{self.name}_api")

    def remove(self) -> None:
        removed = self.deploy_sh("remove")
        for kind in ("secret", "volume"):
            names = docker(kind, "ls", "-q", "--filter", f"name={self.name}").split()
            if names:
                docker(kind, "rm", *names, check=False)
        assert removed.returncode == 0, removed.stderr
        label = f"label=com.docker.stack.namespace={self.name}"
        assert not docker("ps", "-aq", "--filter", label)
        assert not docker("network", "ls", "-q", "--filter", label)


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    base = nox_image()
    return {
        v: derive_image(f"nox-dep/nox:{v}", f"FROM {base}\n{extra}")
        for v, extra in VERSIONS.items()
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with swarm_node():
        created = Stack(tmp_path / "state", make_test_ca(tmp_path / "tls"))
        try:
            yield created
        finally:
            created.remove()


def test_rollout_and_automatic_rollback_lose_no_request(
    stack: Stack, images: dict[str, str]
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

    with stack.load() as during_rollback:
        t0 = time.monotonic()
        back = stack.deploy_sh("rollback")
        took_back = time.monotonic() - t0
        time.sleep(2)
    assert back.returncode == 0, back.stderr
    print(f"deploy.sh rollback v2 -> v1 under load: {took_back:.1f}s, {during_rollback.summary()}")
    assert during_rollback.failures == []
    assert stack.api("{{.Spec.TaskTemplate.ContainerSpec.Image}}") == images["v1"]

    history = Path(stack.env["NOX_DEPLOY_STATE_DIR"]) / "history.jsonl"
    records = [json.loads(line) for line in history.read_text().splitlines()]
    assert [(r["image"], r["status"], r["action"]) for r in records] == [
        (images["v1"], "deployed", "deploy"),
        (images["v2"], "deployed", "deploy"),
        (images["v3"], "failed", "deploy"),
        (images["v1"], "deployed", "rollback"),
    ]
    assert all(r["digest"].startswith("sha256:") for r in records)
