"""Fixtures shared by every tier: settings, real PostgreSQL and Redis, an app under test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.migrate import migrate
from app.settings import SandboxBackend, Settings
from tests.prereq import require
from tests.support.postgres import (
    PostgresService,
    bound_postgres,
    postgres_bin_dir,
    postgres_server,
)
from tests.support.redis import RedisService, bound_redis, redis_server

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

# The Dagger SDK reads the module's main object name once, when it is first imported; the
# container tier imports it too (the replayed pipeline), possibly before the pipeline tier's
# conftest runs, so the name is set here, where every tier starts.
os.environ.setdefault("DAGGER_MAIN_OBJECT", "NoxCi")


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path / "data",
        "sandbox_backend": SandboxBackend.fallback,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresService]:
    bound = bound_postgres()  # a service container bound by `dagger call test`
    if bound is not None:
        yield bound
        return
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server not found: apt-get install postgresql")
    assert bin_dir is not None
    with postgres_server(bin_dir) as server:
        yield server


@pytest.fixture
def postgres_url(pg_server: PostgresService) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    pg_server.psql(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    pg_server.psql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[RedisService]:
    bound = bound_redis()
    if bound is not None:
        yield bound
        return
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server not found: apt-get install redis-server")
    assert binary is not None
    with redis_server(binary) as server:
        yield server


@pytest.fixture
async def redis_url(redis_srv: RedisService) -> AsyncIterator[str]:
    """The session's Redis, its database flushed before each test (a bound server is shared by
    the xdist workers, each on its own database: tests/support/redis.py)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_srv.url)
    await client.flushdb()
    await client.aclose()
    yield redis_srv.url


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@asynccontextmanager
async def app_client(
    settings: Settings, *, migrated: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over ASGI against a fully started app (lifespan included)."""
    from app.main import create_app

    if migrated:
        await migrate(settings)
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://nox.test") as client:
            _APPS[id(client)] = app
            try:
                yield client
            finally:
                _APPS.pop(id(client), None)


_APPS: dict[int, Any] = {}


def app_state(client: httpx.AsyncClient) -> Any:
    """The running app's state (settings, executor, store) behind an ``app_client``."""
    return _APPS[id(client)].state.nox


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same service tests on the embedded default and on PostgreSQL + Redis."""
    if request.param == "sqlite":
        return make_settings(tmp_path)
    postgres = request.getfixturevalue("postgres_url")
    redis = request.getfixturevalue("redis_url")
    return make_settings(tmp_path, database_url=postgres, redis_url=redis)


async def make_token(
    client: httpx.AsyncClient, settings: Settings, email: str, *, admin: bool = False
) -> str:
    """A personal API token for ``email`` (user created if needed), as the CLI makes one."""
    from app.auth.tokens import create_token
    from app.db import session_scope
    from app.users.service import get_or_create_by_email

    async with session_scope(settings) as session:
        user = await get_or_create_by_email(session=session, email=email, admin=admin)
        _, plaintext = await create_token(session=session, user=user, name="test")
    return plaintext
