"""Restore a backup: verify every checksum and decrypt everything first, then replace.

Nothing touches a database until the whole backup has proven intact (and, when encrypted,
authentic): a bad backup leaves the running system exactly as it was. A restore never makes a
revoked credential work again: revocations are read from the database being replaced and
applied to the restored one (app/backup/revocations.py), sessions and OAuth state are never
restored, and every replica's cache of authenticated callers is dropped.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from redis import Redis

from app.audit.service import record_event
from app.auth.cache import EPOCH_KEY, EPOCH_TTL_S
from app.backup import crypto, postgres, redis_snapshot, revocations
from app.backup.manifest import BackupInvalid, Manifest, verify
from app.backup.progress import Progress
from app.db import make_engine, make_sessionmaker, utcnow
from app.settings import ENV_PREFIX, Settings


def _plain_files(
    settings: Settings, directory: Path, manifest: Manifest, tmp: Path
) -> dict[str, Path]:
    key = crypto.load_key(settings) if manifest.encrypted else None
    if manifest.encrypted and key is None:
        raise BackupInvalid(f"{directory.name} is encrypted: set {ENV_PREFIX}BACKUP_KEY")
    plain = {}
    for name in manifest.files:
        source = directory / name
        if key is None:
            plain[name] = source
            continue
        target = tmp / name.removesuffix(".enc")
        try:
            crypto.decrypt_file(key, source, target)
        except InvalidTag as exc:
            raise BackupInvalid(f"{name}: wrong {ENV_PREFIX}BACKUP_KEY or altered data") from exc
        plain[target.name] = target
    return plain


async def restore_backup(
    settings: Settings,
    directory: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Restore ``directory`` into ``database_url``/``redis_url`` (default: the settings')."""
    progress = progress or Progress()
    manifest = verify(directory)
    progress.done("verify", f"{len(manifest.files)} files match the manifest")
    database_url = database_url or settings.effective_database_url
    redis_url = settings.redis_url if redis_url is None else redis_url
    carried = await revocations.read(database_url)
    if carried.unreadable and database_url != settings.effective_database_url:
        # a fresh cluster has nothing to carry: the database it replaces may still answer
        carried = await revocations.read(settings.effective_database_url)
    with tempfile.TemporaryDirectory(prefix="nox-restore-") as tmp:
        plain = _plain_files(settings, directory, manifest, Path(tmp))
        postgres.restore(database_url, plain["postgres.dump"])
        progress.done("postgres restore", f"schema {manifest.alembic_revision or '?'}")
        reapplied = await revocations.apply(database_url, carried)
        progress.done("revocations", _describe(carried, reapplied))
        if redis_url and "redis.snapshot" in plain:
            age_s = (utcnow() - datetime.fromisoformat(manifest.created_at)).total_seconds()
            keys = redis_snapshot.restore_keys(redis_url, plain["redis.snapshot"], age_s=age_s)
            progress.done("redis restore", f"{keys} keys, TTLs shortened by {age_s:.0f} s")
    if redis_url:
        drop_cached_callers(redis_url)
    engine = make_engine(database_url)
    try:
        await record_event(
            make_sessionmaker(engine), action="backup.restore", outcome="ok", actor_id=None,
            target=manifest.name,
            detail={"created_at": manifest.created_at, "revocations_reapplied": reapplied},
        )  # fmt: skip
    finally:
        await engine.dispose()
    return manifest


def drop_cached_callers(redis_url: str) -> None:
    """Bump the auth-cache epoch so no replica trusts a caller it resolved before the restore."""
    client = Redis.from_url(redis_url)
    try:
        client.incr(EPOCH_KEY)
        client.expire(EPOCH_KEY, EPOCH_TTL_S)
    finally:
        client.close()


def _describe(carried: revocations.Revocations, reapplied: int) -> str:
    if carried.unreadable:
        return f"NONE carried: the database being replaced was unreadable ({carried.unreadable})"
    found = len(carried.tokens) + len(carried.inactive_emails)
    return f"{found} carried over from the replaced database, {reapplied} re-applied"
