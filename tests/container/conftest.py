"""Session fixtures of the container tier: engine, stand-in bases, images built once, a stack.

Every test here talks to the real Docker engine. The base images are the air-gapped stand-ins
(``scripts/airgap-images.sh``, idempotent), so nothing is pulled from a registry.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.container.engine import (
    INSTALL_HINT,
    PREFIX,
    REPO,
    Compose,
    build,
    compose_v2_present,
    docker_cli,
    engine_answers,
    free_port,
    run,
)
from tests.prereq import require, require_binary

RUNTIME_TAG = f"{PREFIX}/nox:test"
POSTGRES_TAG = f"{PREFIX}/nox-postgres:test"
TEST_SOURCE = "https://example.invalid/nox"  # the OCI source label the test build carries


# The container tier runs as two groups, each on one worker, one test after another: the
# tests that deploy onto the engine's single-node Swarm (module mark `swarm`) and the rest
# (compose stacks, image builds, replayed pipelines). Stacks, ports, subnets and names are
# unique per test, so the two groups share the engine; more than one test per group did not
# share a 2-core machine well (four workers reached load 19 and Swarm rolled healthy updates
# back on missed health checks). The other workers run the other tiers.
CONTAINER_GROUP = "container"
SWARM_GROUP = "container-swarm"


# Marked as each item is collected: pytest-xdist turns xdist_group marks into groups in its own
# pytest_collection_modifyitems, which may run before a conftest's.
def pytest_itemcollected(item: pytest.Item) -> None:
    if isinstance(item, pytest.Function) and Path(item.path).is_relative_to(Path(__file__).parent):
        group = SWARM_GROUP if item.get_closest_marker("swarm") else CONTAINER_GROUP
        item.add_marker(pytest.mark.container)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def engine() -> None:
    require(docker_cli() is not None, f"docker not found: {INSTALL_HINT}")
    require(engine_answers(), f"the Docker engine does not answer: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def compose_v2(engine: None) -> None:
    require(compose_v2_present(), f"docker compose (v2) missing: {INSTALL_HINT}")


@pytest.fixture(scope="session")
def base_images(engine: None) -> dict[str, str]:
    """PYTHON_IMAGE / POSTGRES_IMAGE / REDIS_IMAGE: local stand-ins, built if missing."""
    script = str(REPO / "scripts" / "airgap-images.sh")
    names = dict(line.split("=", 1) for line in run(["bash", script, "--print-env"]).stdout.split())
    missing = [
        n for n in names.values() if run(["docker", "image", "inspect", n], check=False).returncode
    ]
    if missing:
        require(
            os.geteuid() == 0,
            f"stand-in base images {missing} missing: run scripts/airgap-images.sh as root",
        )
        run(["bash", script], timeout=1800)
    return names


@pytest.fixture(scope="session")
def revision() -> str:
    proc = run(["git", "rev-parse", "HEAD"], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


@pytest.fixture(scope="session")
def runtime_image(base_images: dict[str, str], revision: str) -> str:
    """The runtime target, built once per session (later builds hit the layer cache)."""
    build(
        RUNTIME_TAG,
        python_image=base_images["PYTHON_IMAGE"],
        target="runtime",
        extra=[
            *("--build-arg", f"REVISION={revision}", "--build-arg", "VERSION=7.0.0-test"),
            *("--build-arg", f"SOURCE={TEST_SOURCE}"),
        ],
    )
    return RUNTIME_TAG


@pytest.fixture(scope="session")
def postgres_image(base_images: dict[str, str]) -> str:
    """PostgreSQL + pgBackRest (scripts/pitr) on the stand-in PostgreSQL, as compose runs it."""
    build(
        POSTGRES_TAG,
        python_image=base_images["PYTHON_IMAGE"],
        context=REPO / "scripts" / "pitr",
        extra=["--build-arg", f"POSTGRES_IMAGE={base_images['POSTGRES_IMAGE']}"],
    )
    return POSTGRES_TAG


@dataclass
class Stack:
    compose: Compose
    port: int
    secrets: dict[str, str]

    def token(self, email: str, *, admin: bool = False) -> str:
        args = ["exec", "-T", "api", "nox", "token", "create", "--email", email]
        out = self.compose(*args, *(["--admin"] if admin else [])).stdout
        return out.strip().splitlines()[-1]


def stack_env(
    base_images: dict[str, str], image: str, port: int, *, postgres_image: str
) -> dict[str, str]:
    return {
        **base_images,
        "NOX_IMAGE": image,
        "POSTGRES_PITR_IMAGE": postgres_image,
        "API_PUBLISHED_PORT": str(port),
        "NOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "NOX_SECRET_KEY": secrets.token_hex(32),
        "NOX_EXECUTOR_SECRET": secrets.token_hex(32),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "NOX_WORKERS": "2",
        # never read a developer's .env: the test decides every value
        "COMPOSE_ENV_FILES": os.devnull,
    }


@pytest.fixture(scope="session")
def stack(
    compose_v2: None, base_images: dict[str, str], runtime_image: str, postgres_image: str
) -> Iterator[Stack]:
    """compose.yaml (+ the local override) up and healthy, on a free published port."""
    port = free_port()
    env = stack_env(base_images, runtime_image, port, postgres_image=postgres_image)
    compose = Compose(
        project=f"{PREFIX}-stack-{os.getpid()}",
        files=["compose.yaml", "compose.override.yaml"],
        env=env,
    )
    try:
        up = compose("up", "-d", "--wait", "--wait-timeout", "180", "--no-build", check=False)
        if up.returncode != 0:
            logs = compose("logs", "--no-color", "--tail", "40", check=False).stdout
            pytest.fail(f"compose up --wait failed:\n{up.stderr[-3000:]}\n{logs[-6000:]}")
        yield Stack(compose=compose, port=port, secrets=env)
    finally:
        compose.down()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry (Debian `docker-registry`) on a loopback port; its address."""
    binary = require_binary("docker-registry", "apt-get install docker-registry")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: warn\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "docker-registry did not answer"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
