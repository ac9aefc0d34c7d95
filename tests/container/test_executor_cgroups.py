"""The executor container with a delegated cgroup subtree (compose.cgroups.yaml, set up by
scripts/cgroup-delegate.sh): whole-run limits hold inside an unprivileged container, and a
production executor with neither a subtree nor the explicit opt-out refuses to start."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.container.engine import PREFIX, REPO, container_state, free_port, run, wait_for
from tests.prereq import require

SECCOMP = REPO / "seccomp" / "executor.json"
HOG = "blocks = []\nwhile True: blocks.append(bytearray(16 << 20))"
LIMITS = {"cpu_s": 5, "wall_s": 10, "memory_bytes": 128 << 20, "processes": 32,
          "file_size_bytes": 1 << 20, "open_files": 64, "output_bytes": 1 << 16}  # fmt: skip


def delegated_mounts(subtree: str) -> list[str]:
    """The override's volume lines, with the subtree name the test delegated."""
    override = yaml.safe_load((REPO / "compose.cgroups.yaml").read_text())
    lines = override["services"]["executor"]["volumes"]
    return [line.replace("${NOX_CGROUP_SUBTREE:-nox-exec}", subtree) for line in lines]


def executor_args(name: str, port: int, secret: str, image: str, extra: list[str]) -> list[str]:
    return [
        "docker", "run", "-d", "--name", name, "--user", "10001",
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--security-opt", f"seccomp={SECCOMP}",
        "--security-opt", "systempaths=unconfined",
        "-e", "NOX_ENV=production", "-e", "NOX_SANDBOX_BACKEND=bwrap",
        "-e", "NOX_EXECUTOR_HOST=0.0.0.0", "-e", f"NOX_EXECUTOR_SECRET={secret}",
        "-e", "NOX_WORKSPACES_DIR=/tmp/workspaces",
        "-e", "NOX_SANDBOX_ALLOW_PER_PROCESS_LIMITS=false",
        "-p", f"127.0.0.1:{port}:8001", *extra, image, "nox", "executor",
    ]  # fmt: skip


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def delegated() -> Iterator[str]:
    require(os.geteuid() == 0, "delegating a cgroup subtree needs root on the host")
    require(not Path("/sys/fs/cgroup/cgroup.controllers").exists(), "a cgroup v1 host is needed")
    subtree = f"{PREFIX}-exec-{secrets.token_hex(4)}"
    run(["bash", str(REPO / "scripts" / "cgroup-delegate.sh"), subtree, "10001"])
    try:
        yield subtree
    finally:
        run(["bash", str(REPO / "scripts" / "cgroup-delegate.sh"), "--remove", subtree])


def test_whole_run_limits_hold_inside_the_unprivileged_executor_container(
    runtime_image: str, delegated: str
) -> None:
    port, secret = free_port(), secrets.token_urlsafe(32)
    name = f"{PREFIX}-cg-executor-{port}"
    mounts = [a for line in delegated_mounts(delegated) for a in ("-v", line)]
    run(executor_args(name, port, secret, runtime_image, mounts))
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, name)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            detail = client.get("/v1/health").json()["detail"]
            body = client.post(
                "/v1/run",
                json={"workspace": "1", "language": "python", "source": HOG, "limits": LIMITS},
                timeout=30,
            ).json()
        assert "cgroup v1 whole-run limits" in detail
        assert body["status"] == "memory_limit", body
        assert 0 < body["memory_peak_bytes"] <= 128 << 20
        assert container_state(name, "{{.HostConfig.Privileged}}") == "false"
    finally:
        run(["docker", "rm", "-f", name], check=False)


def test_production_executor_without_a_subtree_refuses_to_start(runtime_image: str) -> None:
    port, secret = free_port(), secrets.token_urlsafe(32)
    name = f"{PREFIX}-nocg-executor-{port}"
    run(executor_args(name, port, secret, runtime_image, []))
    try:
        deadline = time.monotonic() + 30
        while container_state(name, "{{.State.Running}}") == "true":
            assert time.monotonic() < deadline, "a production executor without cgroups started"
            time.sleep(0.5)
        logs = run(["docker", "logs", name]).stderr
        assert "NOX_SANDBOX_ALLOW_PER_PROCESS_LIMITS" in logs
    finally:
        run(["docker", "rm", "-f", name], check=False)
