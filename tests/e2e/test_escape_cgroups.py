"""Escape suite, whole-run limits: memory, processes and CPU of all a run's processes together,
held by the run's cgroup on the real kernel (cgroup v1 on our machines), and nothing left behind
by an executor that was killed mid-run."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.sandbox.cgroups import detect
from app.sandbox.limits import default_limits
from app.settings import ENV_PREFIX, SandboxLimits
from tests.e2e.sandbox_rig import (  # noqa: F401
    CPU_BOUND,
    Rig,
    processes_with,
    require_bwrap,
    rig_fixture,
    traversable_dir,
)
from tests.prereq import require
from tests.support.net import free_port, wait_for_port
from tests.support.processes import coverage_env

pytestmark = [pytest.mark.e2e, CPU_BOUND]

REPO = Path(__file__).resolve().parents[2]
CGROUP_ROOT = Path("/sys/fs/cgroup")

FORK_HOLDERS = """
import os, sys, time
children = []
for _ in range(32):
    pid = os.fork()
    if pid == 0:
        block = bytearray(64 << 20)  # zero-filled: every page touched
        time.sleep(20)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print("all children held their memory")
"""

SPINNERS = """
import os
for _ in range(7):
    if os.fork() == 0:
        break
while True:
    pass
"""


def require_cgroups() -> None:
    try:
        detect(CGROUP_ROOT, "nox-probe")
    except Exception as exc:
        require(False, f"no writable cgroup subtree here ({exc}): run the tests as root")


async def test_runs_report_their_peak_memory_and_cpu_time(rig: Rig) -> None:
    require_cgroups()
    body = await rig.python(rig.alice, "block = bytearray(40 << 20); print(len(block))")
    assert body["status"] == "ok"
    assert 40 << 20 <= body["memory_peak_bytes"] <= rig.settings.sandbox.memory_bytes
    assert body["cpu_ms"] > 0


async def test_32_children_holding_64_mib_each_end_in_memory_limit(rig: Rig) -> None:
    require_cgroups()
    body = await rig.python(rig.alice, FORK_HOLDERS, timeout_s=5)
    assert body["status"] == "memory_limit", body
    assert "all children held" not in body["stdout"]
    # The whole run never held more than its limit, whatever RLIMIT_AS allowed each process.
    assert 0 < body["memory_peak_bytes"] <= rig.settings.sandbox.memory_bytes


async def test_eight_spinning_processes_stop_at_the_runs_summed_cpu_limit(rig: Rig) -> None:
    require_cgroups()
    limit_ms = rig.settings.sandbox.cpu_s * 1000
    body = await rig.python(rig.alice, SPINNERS, timeout_s=5)
    assert body["status"] == "timeout" and body["timed_out"] is True
    # Summed over all eight: at the limit plus one poll interval on each core, not 8 x 1 s.
    assert limit_ms <= body["cpu_ms"] <= limit_ms + 400, body["cpu_ms"]
    assert body["duration_ms"] < 4000


def executor_env(port: int, secret: str, data: Path, workspaces: Path) -> dict[str, str]:
    return {
        **coverage_env(),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        f"{ENV_PREFIX}EXECUTOR_SECRET": secret,
        f"{ENV_PREFIX}SANDBOX_BACKEND": "bwrap",
        f"{ENV_PREFIX}DATA_DIR": str(data),
        f"{ENV_PREFIX}WORKSPACES_DIR": str(workspaces),
        f"{ENV_PREFIX}SANDBOX_CGROUP_PARENT": parent_name(data),
        f"{ENV_PREFIX}EXECUTOR_PORT": str(port),
    }


def parent_name(data: Path) -> str:
    return f"nox-test-{data.name}"


def run_groups(parent: str) -> list[Path]:
    return sorted((CGROUP_ROOT / "pids").rglob(f"{parent}/*/run-*"))


def start_executor(env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = int(env[f"{ENV_PREFIX}EXECUTOR_PORT"])
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "executor", "--port", str(port)], cwd=REPO, env=env
    )
    try:
        wait_for_port(port)
    except BaseException:
        process.kill()  # never leave an executor behind the failed test
        process.wait()
        raise
    return process


def test_a_sigkilled_executor_leaves_no_run_cgroup_after_restart(tmp_path: Path) -> None:
    require_bwrap()
    require_cgroups()
    secret = secrets.token_urlsafe(32)
    workspaces = traversable_dir("nox-sbx-cg-")
    port = free_port()
    env = executor_env(port, secret, tmp_path, workspaces)
    marker = f"nox-cg-{secrets.token_hex(6)}"
    limits = default_limits(SandboxLimits()).model_dump()
    request = {"workspace": "7", "language": "python", "source": "import time; time.sleep(60)",
               "args": [marker], "limits": limits}  # fmt: skip
    first = start_executor(env)
    client = httpx.Client(headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    try:
        pending = subprocess.Popen(  # a run in flight when the executor dies
            [sys.executable, "-c", "import httpx, json, sys; httpx.post(sys.argv[1], "
             "json=json.loads(sys.argv[2]), headers={'Authorization': 'Bearer ' + sys.argv[3]},"
             " timeout=60)", f"http://127.0.0.1:{port}/v1/run", json.dumps(request),
             secret],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not run_groups(parent_name(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run_groups(parent_name(tmp_path)), "the run's cgroup was never created"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        pending.wait(timeout=10)
        second = start_executor(env)
        try:
            assert run_groups(parent_name(tmp_path)) == []
            assert processes_with(marker) == []
            health = client.get(f"http://127.0.0.1:{port}/v1/health").json()
            assert "cgroup v1 whole-run limits" in health["detail"]
        finally:
            second.terminate()
            second.wait(timeout=10)
    finally:
        client.close()
        if first.poll() is None:
            first.kill()
        for path in sorted(CGROUP_ROOT.glob(f"*/{parent_name(tmp_path)}/**/"), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()
