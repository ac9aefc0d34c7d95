"""``nox backup`` and ``nox restore``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from app.backup.crypto import BackupKeyError
from app.backup.manifest import BackupInvalid, verify
from app.backup.postgres import PostgresToolError
from app.backup.restore import restore_backup
from app.backup.service import backup_root, complete_backups, create_backup
from app.settings import get_settings


def register(main: click.Group) -> None:
    main.add_command(backup)
    main.add_command(restore)


@click.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="default NOX_BACKUP_DIR")
@click.option("--keep", type=int, help="finished backups to keep (default NOX_BACKUP_KEEP)")
def backup(directory: Path | None, keep: int | None) -> None:
    """Dump PostgreSQL and Redis with a checksummed manifest; prune old backups."""
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
def restore(
    source: Path | None,
    latest: bool,
    verify_only: bool,
    database_url: str | None,
    redis_url: str | None,
    yes: bool,
) -> None:
    """Verify a backup, then replace the database (and Redis keys) with it."""
    settings = get_settings()
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
