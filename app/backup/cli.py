"""``nox backup`` and ``nox restore``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.backup import pitr_cli
from app.backup.crypto import BackupKeyError
from app.backup.manifest import BackupInvalid, verify
from app.backup.postgres import PostgresToolError
from app.backup.restore import restore_backup
from app.backup.service import backup_root, complete_backups, create_backup
from app.settings import get_settings


def register(main: click.Group) -> None:
    main.add_command(backup)
    main.add_command(restore)
    main.add_command(pitr_cli.commands)


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="default NOX_BACKUP_DIR")
@click.option("--keep", type=int, help="finished backups to keep (default NOX_BACKUP_KEEP)")
def backup(directory: Path | None, keep: int | None) -> None:
    """Dump PostgreSQL and Redis with a checksummed manifest; prune old backups.

    The logical dump is portable (another PostgreSQL major version, another host): use it to
    move data. For "lose at most a minute" and "restore to 14:02:37" use `nox pitr`."""
    settings = get_settings()
    updates = {k: v for k, v in {"backup_dir": directory, "backup_keep": keep}.items() if v}
    settings = settings.model_copy(update=updates)
    try:
        created = asyncio.run(create_backup(settings))
    except (PostgresToolError, BackupKeyError, RedisError, SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"backup failed: {exc}") from exc
    click.echo(f"backup {created.path} ({created.size_bytes} bytes)")
    for path in created.pruned:
        click.echo(f"pruned {path}")


@click.command()
@click.argument("source", required=False, type=click.Path(path_type=Path))
@click.option("--latest", is_flag=True, help="the newest backup in NOX_BACKUP_DIR")
@click.option("--verify-only", is_flag=True, help="check checksums, change nothing")
@click.option("--database-url", help="restore into this database instead (e.g. a fresh cluster)")
@click.option("--redis-url", help="restore Redis here instead; '' skips Redis")
@click.option("--yes", is_flag=True, help="do not ask before replacing data")
@click.option("--to-time", help="point-in-time recovery (pgBackRest) to this timestamp")
@click.option("--to-name", help="point-in-time recovery to this named restore point")
@click.option(
    "--pg-data", type=click.Path(path_type=Path), help="PITR target (default NOX_PITR_PG_DATA)"
)
def restore(
    source: Path | None,
    latest: bool,
    verify_only: bool,
    database_url: str | None,
    redis_url: str | None,
    yes: bool,
    to_time: str | None,
    to_name: str | None,
    pg_data: Path | None,
) -> None:
    """Verify a backup, then replace the database (and Redis keys) with it.

    With --to-time/--to-name: point-in-time recovery from the pgBackRest repository into a
    stopped (or empty) data directory, see `nox pitr restore`."""
    settings = get_settings()
    if to_time or to_name:
        pitr_cli.restore_to(settings, pg_data=pg_data, to_time=to_time, to_name=to_name, yes=yes)
        return
    if source is None:
        found = complete_backups(backup_root(settings)) if latest else []
        if not found:
            raise click.UsageError("give a backup directory, or --latest with NOX_BACKUP_DIR set")
        source = found[-1]
    try:
        manifest = verify(source)
        if verify_only:
            click.echo(f"{source}: intact ({len(manifest.files)} files, {manifest.created_at})")
            return
        if not yes:
            click.confirm(f"replace the data with backup {manifest.name}?", abort=True)
        asyncio.run(
            restore_backup(settings, source, database_url=database_url, redis_url=redis_url)
        )
    except (
        BackupInvalid,
        PostgresToolError,
        BackupKeyError,
        RedisError,
        SQLAlchemyError,
        OSError,
    ) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {manifest.name} (schema {manifest.alembic_revision})")
