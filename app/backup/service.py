"""Create, verify, prune and restore backups; record them for the staleness metric.

A backup is a directory ``nox-YYYYmmddTHHMMSSffffffZ`` under ``settings.backup_dir`` holding
``postgres.dump`` (pg_dump custom format), ``redis.snapshot`` and ``manifest.json``
(``.enc`` suffixes when encrypted). It is built in a ``.partial`` directory and renamed
when complete, so a crash never leaves something that looks like a backup.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import __version__
from app.audit.service import record_event
from app.backup import crypto, postgres, redis_snapshot
from app.backup.manifest import MANIFEST, Manifest, describe
from app.backup.models import Backup
from app.backup.progress import Progress
from app.db import make_engine, make_sessionmaker, utcnow
from app.observability.metrics import BACKUP_LAST_SUCCESS, WAL_ARCHIVE_FAILED, WAL_ARCHIVED
from app.settings import Settings

PREFIX = "nox-"


@dataclass(frozen=True)
class Created:
    path: Path
    manifest: Manifest
    size_bytes: int
    pruned: list[Path]


def backup_root(settings: Settings) -> Path:
    return settings.backup_dir or settings.data_dir / "backups"


def complete_backups(root: Path) -> list[Path]:
    """Finished backups, oldest first (names sort by time)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob(f"{PREFIX}*") if p.is_dir() and (p / MANIFEST).exists())


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` finished backups."""
    old = complete_backups(root)[: -keep or None] if keep > 0 else []
    for path in old:
        shutil.rmtree(path)
    return old


async def _database_facts(session: AsyncSession) -> tuple[str, str]:
    version = (await session.execute(text("SHOW server_version"))).scalar_one()
    revision = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return str(version), str(revision or "")


async def create_backup(settings: Settings, *, progress: Progress | None = None) -> Created:
    progress = progress or Progress()
    postgres.libpq_target(settings.effective_database_url)  # refuses SQLite before any work
    key = crypto.load_key(settings)
    root = backup_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    started = utcnow()
    name = PREFIX + started.strftime("%Y%m%dT%H%M%S%fZ")  # sortable, unique per microsecond
    work = root / f"{name}.partial"
    work.mkdir()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as session:
            pg_version, revision = await _database_facts(session)
            db_size = await session.execute(text("SELECT pg_database_size(current_database())"))
            estimate = int(db_size.scalar_one())
        dump = work / "postgres.dump"
        postgres.dump(
            settings.effective_database_url, dump,
            progress=lambda n: progress.update("postgres dump", n, estimate),
        )  # fmt: skip
        progress.done("postgres dump", f"{dump.stat().st_size} bytes")
        files = [dump]
        redis_version = ""
        if settings.redis_url:
            snapshot = work / "redis.snapshot"
            keys = redis_snapshot.dump_keys(
                settings.redis_url, snapshot, lambda n: progress.update("redis", n, unit="keys")
            )
            redis_version = redis_snapshot.server_version(settings.redis_url)
            progress.done("redis snapshot", f"{keys} keys")
            files.append(snapshot)
        if key is not None:
            files = [_encrypt(key, f) for f in files]
            progress.done("encryption", "AES-256-GCM")
        manifest = Manifest(
            name=name, created_at=started.isoformat(), nox_version=__version__,
            postgresql_version=pg_version, pg_dump_version=postgres.tool_version(),
            redis_version=redis_version, alembic_revision=revision, encrypted=key is not None,
            files={f.name: describe(f) for f in files},
        )  # fmt: skip
        manifest_sha = manifest.write(work)
        final = root / name
        work.rename(final)
        size = sum(f.size for f in manifest.files.values())
        pruned = prune(root, settings.backup_keep)
        async with sessions() as session, session.begin():
            session.add(Backup(
                name=name, started_at=started, finished_at=utcnow(), ok=True, size_bytes=size,
                encrypted=key is not None, manifest_sha256=manifest_sha, alembic_revision=revision,
            ))  # fmt: skip
        await record_event(
            sessions, action="backup.create", outcome="ok", actor_id=None, target=name,
            detail={"bytes": size, "encrypted": key is not None},
        )  # fmt: skip
        return Created(final, manifest, size, pruned)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        await _record_failure(sessions, name, started, exc)
        raise
    finally:
        await engine.dispose()


async def _record_failure(
    sessions: async_sessionmaker[AsyncSession], name: str, started: datetime, exc: BaseException
) -> None:
    try:
        async with sessions() as session, session.begin():
            session.add(Backup(name=name, started_at=started, ok=False, detail=repr(exc)[:2000]))
    except Exception:  # noqa: S110 - the database may be why the backup failed
        pass


def _encrypt(key: bytes, path: Path) -> Path:
    target = path.with_name(path.name + ".enc")
    crypto.encrypt_file(key, path, target)
    path.unlink()
    return target


async def refresh_backup_metric(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set nox_backup_last_success_timestamp_seconds from the backups table (on scrape).
    A database that does not answer leaves the gauge as it was: the database alert covers it."""
    try:
        async with sessions() as session:
            newest = await session.scalar(
                select(func.max(Backup.finished_at)).where(Backup.ok, Backup.kind == "dump")
            )
    except (SQLAlchemyError, OSError):
        return
    if newest is not None:
        BACKUP_LAST_SUCCESS.set(newest.timestamp())


async def refresh_archiver_metrics(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set the WAL-archiving gauges from pg_stat_archiver (on scrape; PostgreSQL only). Left
    unset while nothing was ever archived, so a database without PITR exports nothing."""
    try:
        async with sessions() as session:
            if session.get_bind().dialect.name != "postgresql":
                return
            row = (
                await session.execute(
                    text("SELECT last_archived_time, last_failed_time FROM pg_stat_archiver")
                )
            ).one()
    except (SQLAlchemyError, OSError):
        return
    archived, failed = row
    if archived is None and failed is None:
        return
    WAL_ARCHIVED.set(archived.timestamp() if archived else 0)
    WAL_ARCHIVE_FAILED.set(failed.timestamp() if failed else 0)
