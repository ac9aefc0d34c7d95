"""The remote client against the real executor app (in-process ASGI), and the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.sandbox.factory import build_executor
from app.sandbox.fallback import FallbackExecutor
from app.sandbox.interface import (
    ExecutorUnavailable,
    Language,
    RunRequest,
    RunStatus,
    WorkspaceError,
)
from app.sandbox.limits import default_limits
from app.sandbox.remote import RemoteExecutor
from app.sandbox.runner import Launch
from app.sandbox.server import create_executor_app, executor_problems
from app.settings import SandboxBackend, Settings
from tests.support.net import free_port

SECRET = "s" * 40


def _settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {"env": "test", "data_dir": tmp_path / "data",
                                 "sandbox_backend": SandboxBackend.fallback,
                                 "executor_secret": SECRET}  # fmt: skip
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[RemoteExecutor]:
    settings = _settings(tmp_path)
    app = create_executor_app(settings, FallbackExecutor(settings))
    client = RemoteExecutor("http://executor", SECRET, transport=httpx.ASGITransport(app=app))
    yield client
    await client.aclose()


async def test_runs_and_files_round_trip_over_http(remote: RemoteExecutor) -> None:
    info = await remote.write_file("5", "d/x.txt", b"hello")
    assert (info.path, info.size) == ("d/x.txt", 5)
    assert await remote.read_file("5", "d/x.txt") == b"hello"
    assert [f.path for f in await remote.list_files("5", "d/")] == ["d/x.txt"]
    assert (await remote.usage("5")).files == 2  # the file and its directory
    limits = default_limits(Settings().sandbox)
    result = await remote.run(RunRequest(workspace="5", language=Language.shell,
                                         source="cat d/x.txt", limits=limits))  # fmt: skip
    assert (result.status, result.stdout) == (RunStatus.ok, "hello")
    await remote.delete_file("5", "d/x.txt")
    with pytest.raises(WorkspaceError) as caught:
        await remote.read_file("5", "d/x.txt")
    assert caught.value.kind == "not_found"


async def test_refused_names_come_back_as_workspace_errors(remote: RemoteExecutor) -> None:
    for name in ("../x", "/etc/passwd", "a\x00b"):
        with pytest.raises(WorkspaceError) as caught:
            await remote.write_file("5", name, b"x")
        assert caught.value.kind == "invalid"
    with pytest.raises(WorkspaceError):
        await remote.list_files("../5")


async def test_wrong_secret_and_unreachable_executor_are_unavailable(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    app = create_executor_app(settings, FallbackExecutor(settings))
    wrong = RemoteExecutor("http://e", "w" * 40, transport=httpx.ASGITransport(app=app))
    with pytest.raises(ExecutorUnavailable, match="shared secret"):
        await wrong.list_files("1")
    assert (await wrong.health()).ok is False
    await wrong.aclose()
    gone = RemoteExecutor(f"http://127.0.0.1:{free_port()}", SECRET)
    with pytest.raises(ExecutorUnavailable, match="unreachable"):
        await gone.read_file("1", "x")
    health = await gone.health()
    assert (health.backend, health.ok) == ("remote", False)
    await gone.aclose()


def test_factory_builds_the_configured_backend(tmp_path: Path) -> None:
    assert isinstance(build_executor(_settings(tmp_path)), FallbackExecutor)
    remote = build_executor(_settings(tmp_path, sandbox_backend=SandboxBackend.remote))
    assert isinstance(remote, RemoteExecutor)


def test_executor_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    assert executor_problems(_settings(tmp_path)) == []
    remote = executor_problems(_settings(tmp_path, sandbox_backend=SandboxBackend.remote))
    assert any("SANDBOX_BACKEND=remote" in p for p in remote)
    production = executor_problems(_settings(
        tmp_path, env="production", executor_secret="change-me",
        database_url="postgresql+asyncpg://db/nox",
    ))  # fmt: skip
    joined = "\n".join(production)
    assert "NOX_EXECUTOR_SECRET" in joined and "NOX_DATABASE_URL" in joined
    assert "must be bwrap" in joined


async def test_a_sandbox_that_cannot_start_is_unavailable_over_http(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    backend = FallbackExecutor(settings)
    backend.build = _missing_launcher  # type: ignore[method-assign]
    app = create_executor_app(settings, backend)
    client = RemoteExecutor("http://e", SECRET, transport=httpx.ASGITransport(app=app))
    limits = default_limits(Settings().sandbox)
    request = RunRequest(workspace="5", language=Language.shell, source="true", limits=limits)
    with pytest.raises(ExecutorUnavailable, match="cannot start the sandbox"):
        await client.run(request)
    await client.aclose()


def _missing_launcher(request: RunRequest, workspace: Path, source_fd: int) -> Launch:
    return Launch(argv=["/nonexistent/launcher"], env={})
