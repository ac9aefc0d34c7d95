"""A real Redis at its maxmemory, under the deployments' eviction policy: sessions and OAuth
login state stay, and what no longer fits is refused loudly instead of evicting something."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from app.auth.oauth.pending import new_pending, save_pending, take_pending
from app.auth.sessions import create_session, load_session
from app.settings import Settings
from app.store.redis import RedisStore
from tests.conftest import make_settings
from tests.prereq import require
from tests.redis_manifests import policy
from tests.support.redis import redis_server

pytestmark = pytest.mark.integration

LIMIT_BYTES = 8 * 1024 * 1024  # small, so the test fills it in a moment
FILLER = b"x" * 32 * 1024


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis of this test's own: it is reconfigured and filled, which a server shared with
    other tests or workers (the session's, or the one `dagger call test` binds) must not be."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server not found: apt-get install redis-server")
    assert binary is not None
    with redis_server(binary) as server:
        yield server.url


@pytest.fixture
async def full_redis(redis_url: str) -> AsyncIterator[Redis]:
    """That Redis with the deployments' policy and a small maxmemory."""
    client = Redis.from_url(redis_url)
    await client.config_set("maxmemory-policy", policy())
    await client.config_set("maxmemory", LIMIT_BYTES)
    try:
        yield client
    finally:
        await client.aclose()


async def fill(client: Redis, filler: bytes = FILLER, prefix: str = "filler") -> int:
    """Cache-like keys with TTLs until Redis refuses a write; returns how many fitted."""
    for i in range(10 * LIMIT_BYTES // len(filler)):
        try:
            await client.set(f"{prefix}:{i}", filler, ex=3600)
        except OutOfMemoryError:
            return i
    raise AssertionError("Redis never reached its maxmemory")


async def test_sessions_and_oauth_state_survive_a_full_redis(
    full_redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    settings: Settings = make_settings(tmp_path, redis_url=redis_url)
    store = RedisStore(redis_url)
    try:
        session_id = await create_session(store=store, settings=settings, user_id=42)
        state, pending = new_pending(provider="github", next_path="/", binding="b" * 43)
        await save_pending(store=store, settings=settings, state=state, pending=pending)

        fitted = await fill(full_redis)
        assert fitted > 0
        info = await full_redis.info("memory")
        assert info["used_memory"] >= LIMIT_BYTES * 0.95

        # what was there stays, and a session still slides its expiry at the limit
        assert await load_session(store=store, settings=settings, session_id=session_id) == 42
        assert await take_pending(store=store, state=state) == pending
        stats = await full_redis.info("stats")
        assert stats["evicted_keys"] == 0

        # what no longer fits is an error the caller sees, not a silent loss elsewhere (small
        # keys first take up what a refused 32 KiB filler, or the taken login, left free)
        await fill(full_redis, b"y" * 64, "crumb")
        with pytest.raises(OutOfMemoryError):
            await create_session(store=store, settings=settings, user_id=43)
    finally:
        await store.aclose()
