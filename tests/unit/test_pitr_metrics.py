"""The PITR backup-age gauge reads the rows the scheduler records; the dump's gauge ignores them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from app.backup.models import Backup
from app.backup.pitr_metrics import refresh_pitr_backup_metric
from app.backup.service import refresh_backup_metric
from app.db import Base, make_engine, make_sessionmaker
from app.observability.metrics import BACKUP_LAST_SUCCESS, PITR_BACKUP_LAST_SUCCESS


def _at(hour: int) -> datetime:
    return datetime(2026, 11, 29, hour, tzinfo=UTC)


def _row(name: str, kind: str, hour: int, *, ok: bool = True) -> Backup:
    return Backup(name=name, kind=kind, ok=ok, started_at=_at(hour), finished_at=_at(hour))


async def _scenario(db: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = make_sessionmaker(engine)
    async with sessions() as session, session.begin():
        session.add_all(
            [
                _row("nox-dump", "dump", 1),
                _row("pitr-F", "full", 2),
                _row("pitr-F_I1", "incr", 3),
                _row("pitr-F_I2", "incr", 5),
                _row("pitr-failed-x", "incr", 6, ok=False),  # a failure is no backup
            ]
        )
    await refresh_pitr_backup_metric(sessions)
    await refresh_backup_metric(sessions)
    await engine.dispose()


def test_each_type_reports_its_newest_success_and_dumps_stay_apart(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path / "m.db"))
    gauge = {
        s.labels["type"]: s.value for s in next(iter(PITR_BACKUP_LAST_SUCCESS.collect())).samples
    }
    assert gauge["full"] == _at(2).timestamp()
    assert gauge["incr"] == _at(5).timestamp()
    assert "dump" not in gauge and "diff" not in gauge
    # the logical dump's gauge is the dump's time, not the newer pgBackRest backups'
    assert next(iter(BACKUP_LAST_SUCCESS.collect())).samples[0].value == _at(1).timestamp()
