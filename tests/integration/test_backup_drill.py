"""Disaster-recovery drill on real PostgreSQL and Redis: write, back up, destroy, restore.

The backup runs through scripts/backup.sh and the restore through `nox restore`, the entry
points cron, compose and the CronJob use. Every row must come back equal and
`nox audit verify` must pass on the restored database.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from redis import Redis

from app.audit.service import record_event
from app.auth.cache import EPOCH_KEY
from app.auth.sessions import create_session, load_session, revoke_session
from app.auth.tokens import authenticate_token, create_token, revoke_token
from app.backup.manifest import BackupInvalid
from app.backup.restore import restore_backup
from app.backup.service import complete_backups, create_backup, refresh_backup_metric
from app.db import make_engine, make_sessionmaker, session_scope
from app.migrate import migrate
from app.observability.metrics import BACKUP_LAST_SUCCESS
from app.settings import Settings
from app.store.redis import RedisStore
from app.users.models import User
from app.users.service import get_or_create_by_email
from tests.conftest import make_settings
from tests.prereq import require, require_binary
from tests.support.postgres import postgres_bin_dir, postgres_server

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def psql(url: str, sql: str) -> str:
    from app.backup.postgres import libpq_target

    dsn, env = libpq_target(url)
    return subprocess.run(
        ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
        capture_output=True, text=True, env=env, check=True,
    ).stdout  # fmt: skip


def table_dump(url: str, *, skip: tuple[str, ...] = ("backups",)) -> dict[str, str]:
    """Every row of every table as COPY text, in primary-key order."""
    names = psql(url, "SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1")
    return {
        name: psql(url, f"COPY (SELECT * FROM {name} ORDER BY 1) TO STDOUT")  # noqa: S608
        for name in names.split()
        if name not in skip
    }


async def write_data(settings: Settings, users: int = 20) -> None:
    async with session_scope(settings) as session:
        for i in range(users):
            user = await get_or_create_by_email(session=session, email=f"u{i}@example.com")
            await create_token(session=session, user=user, name=f"t{i}")
    engine = make_engine(settings.effective_database_url)
    try:
        for i in range(10):
            await record_event(
                make_sessionmaker(engine), action="run.python", outcome="ok", actor_id=1,
                target=f"job-{i}", detail={"n": i},
            )  # fmt: skip
    finally:
        await engine.dispose()
    redis = Redis.from_url(settings.redis_url)
    redis.set("session:abc", "1", ex=3600)
    redis.set("quota:1:day", 42)
    redis.hset("oauth:state", mapping={"nonce": "n", "verifier": "v"})
    redis.close()


def nox(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NOX_ENV": "test",
        "NOX_DATA_DIR": str(settings.data_dir),
        "NOX_DATABASE_URL": settings.database_url,
        "NOX_REDIS_URL": settings.redis_url,
        "NOX_BACKUP_DIR": str(settings.backup_dir),
        "NOX_BACKUP_KEY": settings.backup_key.get_secret_value(),
    }
    if args[0] == "backup":
        cmd = [str(REPO / "scripts" / "backup.sh"), *args[1:]]
    else:
        cmd = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def drill_settings(tmp_path: Path, postgres_url: str, redis_url: str) -> Settings:
    require_binary("pg_dump", "apt-get install postgresql-client")
    return make_settings(
        tmp_path, database_url=postgres_url, redis_url=redis_url, backup_dir=tmp_path / "backups"
    )


async def test_drill_backup_destroy_restore_every_row_equal(drill_settings: Settings) -> None:
    settings = drill_settings
    await migrate(settings)
    await write_data(settings)
    before = table_dump(settings.database_url)
    assert before["users"].count("\n") == 20

    made = nox(settings, "backup")
    assert made.returncode == 0, made.stderr
    assert "postgres dump" in made.stderr  # the progress display, on stderr
    [backup] = complete_backups(settings.backup_dir or Path())

    # disaster: the schema and every Redis key are gone
    psql(settings.database_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    Redis.from_url(settings.redis_url).flushdb()
    assert table_dump(settings.database_url) == {}

    restored = nox(settings, "restore", str(backup), "--yes")
    assert restored.returncode == 0, restored.stderr
    after = table_dump(settings.database_url, skip=("backups", "audit_events", "audit_head"))
    assert after == {k: v for k, v in before.items() if k not in ("audit_events", "audit_head")}
    events = table_dump(settings.database_url)["audit_events"].splitlines()
    old_events = before["audit_events"].splitlines()
    assert events[: len(old_events)] == old_events
    assert [e.split("\t")[3] for e in events[len(old_events) :]] == ["backup.restore"]

    redis = Redis.from_url(settings.redis_url)
    assert redis.get("quota:1:day") == b"42"
    assert redis.hgetall("oauth:state") == {b"nonce": b"n", b"verifier": b"v"}
    assert 3500 < redis.ttl("session:abc") <= 3600
    redis.close()

    verified = nox(settings, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_restore_into_a_fresh_cluster(drill_settings: Settings) -> None:
    settings = drill_settings
    await migrate(settings)
    await write_data(settings)
    created = await create_backup(settings)
    # revoked after the backup, in the database the fresh cluster replaces: stays revoked there
    psql(settings.database_url, "UPDATE api_tokens SET revoked_at = now() WHERE id = 1")
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL server not found: apt-get install postgresql")
    assert bin_dir is not None
    with postgres_server(bin_dir) as fresh:
        fresh.psql("CREATE DATABASE nox")
        await restore_backup(settings, created.path, database_url=fresh.url("nox"), redis_url="")
        skip = ("backups", "audit_events", "audit_head")
        restored = table_dump(fresh.url("nox"), skip=skip)
        assert restored == table_dump(settings.database_url, skip=skip)
        source_events = table_dump(settings.database_url)["audit_events"].splitlines()
        fresh_events = table_dump(fresh.url("nox"))["audit_events"].splitlines()
        # the source logged backup.create after its dump; the copy logged backup.restore
        assert fresh_events[:-1] == source_events[:-1]


async def test_restore_refuses_a_damaged_backup_before_touching_anything(
    drill_settings: Settings,
) -> None:
    settings = drill_settings
    await migrate(settings)
    await write_data(settings, users=3)
    created = await create_backup(settings)
    await write_data(settings, users=5)  # newer data a bad restore would wipe
    dump = created.path / "postgres.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    with pytest.raises(BackupInvalid, match="sha256 mismatch"):
        await restore_backup(settings, created.path)
    assert table_dump(settings.database_url)["users"].count("\n") == 5
    refused = nox(settings, "restore", str(created.path), "--yes")
    assert refused.returncode != 0 and "sha256 mismatch" in refused.stderr


async def test_encrypted_backup_restores_only_with_its_key(drill_settings: Settings) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    settings = drill_settings.model_copy(update={"backup_key": SecretStr(key)})
    await migrate(settings)
    await write_data(settings, users=4)
    before = table_dump(settings.database_url)
    created = await create_backup(settings)
    assert created.manifest.encrypted
    assert sorted(created.manifest.files) == ["postgres.dump.enc", "redis.snapshot.enc"]
    assert b"u1@example.com" not in (created.path / "postgres.dump.enc").read_bytes()

    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    wrong = settings.model_copy(update={"backup_key": SecretStr(other)})
    with pytest.raises(BackupInvalid, match="BACKUP_KEY"):
        await restore_backup(wrong, created.path)

    psql(settings.database_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await restore_backup(settings, created.path)
    after = table_dump(settings.database_url)
    assert after["users"] == before["users"]
    assert after["api_tokens"] == before["api_tokens"]


async def test_retention_keeps_the_newest_and_the_metric_follows(drill_settings: Settings) -> None:
    settings = drill_settings.model_copy(update={"backup_keep": 2})
    await migrate(settings)
    made = [await create_backup(settings) for _ in range(3)]
    kept = complete_backups(settings.backup_dir or Path())
    assert kept == [made[1].path, made[2].path]
    assert made[2].pruned == [made[0].path]
    engine = make_engine(settings.database_url)
    try:
        await refresh_backup_metric(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    newest = next(iter(BACKUP_LAST_SUCCESS.collect())).samples[0].value
    stamp = made[2].manifest.created_at
    assert abs(newest - datetime.fromisoformat(stamp).timestamp()) < 60


async def test_restore_never_resurrects_revoked_credentials(drill_settings: Settings) -> None:
    settings = drill_settings
    await migrate(settings)
    async with session_scope(settings) as session:
        alice = await get_or_create_by_email(session=session, email="alice@example.com")
        bob = await get_or_create_by_email(session=session, email="bob@example.com")
        revoked_later, revoked_plain = await create_token(session=session, user=alice)
        _, kept_plain = await create_token(session=session, user=alice)
        _, bob_plain = await create_token(session=session, user=bob)
    store = RedisStore(settings.redis_url)
    session_id = await create_session(store=store, settings=settings, user_id=alice.id)
    redis = Redis.from_url(settings.redis_url)
    redis.set(f"q:runs:{alice.id}:day", 3, ex=3600)
    redis.set(f"q:conc:{alice.id}", 1, ex=3600)
    created = await create_backup(settings)
    ttl_at_backup = redis.pttl(f"q:runs:{alice.id}:day")
    assert b"sess:" not in (created.path / "redis.snapshot").read_bytes()

    # after the backup: a token revoked, a user deactivated, a logout, then Redis is lost
    async with session_scope(settings) as session:
        assert await revoke_token(session=session, user=alice, token_id=revoked_later.id)
        (await session.get(User, bob.id)).is_active = False  # type: ignore[union-attr]
    await revoke_session(store=store, session_id=session_id)
    epoch_before = redis.get(EPOCH_KEY)
    redis.flushdb()
    redis.set("q:rate:new", 1)  # a key the backup never saw: left as it is
    time.sleep(2)

    await restore_backup(settings, created.path)

    async with session_scope(settings) as session:
        assert await authenticate_token(session=session, plaintext=revoked_plain) is None
        assert await authenticate_token(session=session, plaintext=kept_plain) is not None
        restored_bob = await authenticate_token(session=session, plaintext=bob_plain)
        assert restored_bob is not None and not restored_bob.is_active  # stays deactivated
    assert await load_session(store=store, settings=settings, session_id=session_id) is None
    await store.aclose()
    ttl_now = redis.pttl(f"q:runs:{alice.id}:day")
    assert 0 < ttl_now <= ttl_at_backup - 2000, (ttl_now, ttl_at_backup)
    assert redis.get(f"q:runs:{alice.id}:day") == b"3"
    assert redis.exists(f"q:conc:{alice.id}") == 0  # runs in flight at backup time are over
    assert redis.get("q:rate:new") == b"1"
    assert redis.get(EPOCH_KEY) not in (None, epoch_before)
    redis.close()
