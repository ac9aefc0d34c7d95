"""The age of the newest pgBackRest backup of each type, for the PITR backup-age alerts.

The scheduler beside PostgreSQL (scripts/pitr/nox-pitr-backup, run by the compose/Swarm
``pitr-backup`` service and the Kubernetes CronJob) records every backup it makes in the
``backups`` table with ``kind`` = the type pgBackRest reports (full, diff, incr); the api
exports what it finds there on each scrape, like the logical dump's gauge.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.backup.models import Backup
from app.observability.metrics import PITR_BACKUP_LAST_SUCCESS

PITR_KINDS = ("full", "diff", "incr")


async def refresh_pitr_backup_metric(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set nox_pitr_backup_last_success_timestamp_seconds{type} (on scrape). A type never
    backed up exports nothing; a database that does not answer leaves the gauges as they were."""
    try:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Backup.kind, func.max(Backup.finished_at))
                    .where(Backup.ok, Backup.kind.in_(PITR_KINDS))
                    .group_by(Backup.kind)
                )
            ).all()
    except (SQLAlchemyError, OSError):
        return
    for kind, newest in rows:
        PITR_BACKUP_LAST_SUCCESS.labels(type=kind).set(newest.timestamp())
