"""The api and a real ``nox executor`` process: shared secret, errors carried over HTTP,
and an executor that goes away answered with 503 on the routes that need it and named by
``/readyz``, which stays 200: the api replica itself can still serve everything else."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.sandbox.bwrap import BwrapExecutor
from app.sandbox.interface import ExecutorUnavailable, Language, RunRequest
from app.sandbox.limits import default_limits
from app.sandbox.remote import RemoteExecutor
from app.settings import ENV_PREFIX, SandboxBackend
from tests.conftest import app_client, make_settings, make_token
from tests.e2e.sandbox_rig import require_bwrap, traversable_dir
from tests.support.net import free_port, wait_for_port
from tests.support.processes import coverage_env

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ExecutorProcess:
    url: str
    secret: str
    process: subprocess.Popen[bytes]


def start_executor(port: int, secret: str, data: Path, workspaces: Path) -> ExecutorProcess:
    env = {
        **coverage_env(),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        f"{ENV_PREFIX}EXECUTOR_SECRET": secret,
        f"{ENV_PREFIX}SANDBOX_BACKEND": "bwrap",
        f"{ENV_PREFIX}DATA_DIR": str(data),
        f"{ENV_PREFIX}WORKSPACES_DIR": str(workspaces),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "executor", "--port", str(port)], cwd=REPO, env=env
    )
    try:
        wait_for_port(port)
    except BaseException:
        stop_executor(process)
        raise
    return ExecutorProcess(f"http://127.0.0.1:{port}", secret, process)


def stop_executor(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    require_bwrap()
    workspaces = traversable_dir("nox-sbx-exec-")
    data = tmp_path_factory.mktemp("executor")
    started = start_executor(free_port(), secrets.token_urlsafe(32), data, workspaces)
    try:
        yield started
    finally:
        stop_executor(started.process)
        shutil.rmtree(workspaces, ignore_errors=True)


def test_executor_refuses_calls_without_the_shared_secret(executor: ExecutorProcess) -> None:
    assert httpx.get(f"{executor.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{executor.url}/v1/health").status_code == 401
    wrong = {"Authorization": "Bearer " + "x" * 43}
    assert httpx.get(f"{executor.url}/v1/health", headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {executor.secret}"}
    assert httpx.get(f"{executor.url}/v1/health", headers=right).json()["backend"] == "bwrap"


async def test_api_runs_and_stores_files_through_the_executor(
    executor: ExecutorProcess, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        sandbox_backend=SandboxBackend.remote,
        executor_url=executor.url,
        executor_secret=executor.secret,
    )
    async with app_client(settings) as client:
        auth = {"Authorization": f"Bearer {await make_token(client, settings, 'r@example.test')}"}
        put = await client.put("/api/v7/files/n.txt", content=b"20", headers=auth)
        assert put.status_code == 201
        code = {"code": "print(int(open('n.txt').read()) * 2)"}
        run = await client.post("/api/v7/run/python", json=code, headers=auth)
        assert run.json()["stdout"] == "40\n"
        await client.post("/api/v7/run/shell", json={"script": "ln -s / root"}, headers=auth)
        planted = await client.get("/api/v7/files/root/etc/passwd", headers=auth)
        assert planted.status_code == 422
        ready = await client.get("/readyz")
        assert ready.json()["components"]["executor"]["ok"] is True


async def test_executor_down_gives_503_on_runs_and_readyz_names_it_but_stays_ready(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        sandbox_backend=SandboxBackend.remote,
        executor_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        executor_secret=secrets.token_urlsafe(32),
    )
    async with app_client(settings) as client:
        auth = {"Authorization": f"Bearer {await make_token(client, settings, 'd@example.test')}"}
        run = await client.post("/api/v7/run/python", json={"code": "print(1)"}, headers=auth)
        assert run.status_code == 503
        assert run.headers["content-type"] == "application/problem+json"
        assert "executor" in run.json()["detail"]
        assert run.headers["retry-after"] == "5"
        files = await client.get("/api/v7/files", headers=auth)
        assert files.status_code == 503
        assert (await client.get("/api/v7/auth/me", headers=auth)).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["required"] == ["database", "cache"]
        executor_status = ready.json()["components"]["executor"]
        assert executor_status["ok"] is False and "unreachable" in executor_status["detail"]


async def test_executor_stopped_then_restarted_keeps_api_ready_and_runs_recover(
    tmp_path: Path,
) -> None:
    """Embedded split mode: the api stays Ready across an executor outage and needs no restart."""
    require_bwrap()
    port, secret = free_port(), secrets.token_urlsafe(32)
    workspaces = traversable_dir("nox-sbx-exec-")
    settings = make_settings(
        tmp_path,
        sandbox_backend=SandboxBackend.remote,
        executor_url=f"http://127.0.0.1:{port}",
        executor_secret=secret,
    )
    code = {"code": "print(6 * 7)"}
    first = start_executor(port, secret, tmp_path / "executor", workspaces)
    try:
        async with app_client(settings) as client:
            auth = {"Authorization": f"Bearer {await make_token(client, settings, 's@x.test')}"}
            ok = await client.post("/api/v7/run/python", json=code, headers=auth)
            assert ok.json()["stdout"] == "42\n"
            stop_executor(first.process)
            down = await client.post("/api/v7/run/python", json=code, headers=auth)
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["components"]["executor"]["ok"] is False
            metrics = (await client.get("/metrics")).text
            assert 'nox_component_up{component="executor"} 0.0' in metrics
            second = start_executor(port, secret, tmp_path / "executor", workspaces)
            try:
                again = await client.post("/api/v7/run/python", json=code, headers=auth)
                assert again.status_code == 200 and again.json()["stdout"] == "42\n"
                ready = await client.get("/readyz")
                assert ready.json()["components"]["executor"]["ok"] is True
            finally:
                stop_executor(second.process)
    finally:
        if first.process.poll() is None:
            stop_executor(first.process)
        shutil.rmtree(workspaces, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root server drops to the sandbox uid")
async def test_workspaces_the_sandbox_uid_cannot_enter_are_reported_not_run(
    tmp_path: Path,
) -> None:
    require_bwrap()
    tmp_path.chmod(0o700)
    settings = make_settings(tmp_path, sandbox_backend=SandboxBackend.bwrap)
    executor = BwrapExecutor(settings)
    health = await executor.health()
    assert health.ok is False and "cannot enter" in health.detail
    request = RunRequest(workspace="1", language=Language.python, source="print(1)",
                         limits=default_limits(settings.sandbox))  # fmt: skip
    with pytest.raises(ExecutorUnavailable, match="sandbox setup failed"):
        await executor.run(request)


class _Seen:
    """A RunObserver recording when each event arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def started(self) -> None:
        self.events.append((time.monotonic(), "started", ""))

    def output(self, stream: str, text: str) -> None:
        self.events.append((time.monotonic(), stream, text))


async def test_runs_stream_from_the_executor_and_stop_when_the_api_leaves(
    executor: ExecutorProcess, tmp_path: Path
) -> None:
    remote = RemoteExecutor(executor.url, executor.secret)
    limits = default_limits(make_settings(tmp_path).sandbox)
    try:
        seen = _Seen()
        code = "import time\nprint(1)\ntime.sleep(1.5)\nprint(2)"
        request = RunRequest(workspace="7", language=Language.python, source=code, limits=limits)
        result = await remote.run(request, seen)
        ended = time.monotonic()
        assert result.stdout == "1\n2\n"
        assert seen.events[0][1] == "started"
        first = next(at for at, kind, _ in seen.events if kind == "stdout")
        assert ended - first >= 1.0  # the first line came while the program still ran
        marker = f"33{secrets.randbelow(900) + 100}.{secrets.randbelow(9000) + 1000}"
        sleeper = (
            f"import subprocess\nprint('go', flush=True)\nsubprocess.run(['sleep', '{marker}'])"
        )
        request = RunRequest(workspace="7", language=Language.python, source=sleeper, limits=limits)
        running = _Seen()
        task = asyncio.ensure_future(remote.run(request, running))
        while not any(kind == "stdout" for _, kind, _ in running.events):
            await asyncio.sleep(0.05)
        task.cancel()  # the api's client went away: the connection to the executor closes
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 5
        while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "the executor kept the run after the api left"
            await asyncio.sleep(0.1)
    finally:
        await remote.aclose()
