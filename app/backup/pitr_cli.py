"""``nox pitr`` and ``nox restore --to-time``: archiving and point-in-time recovery.

Every command reads the pgBackRest configuration from NOX_PITR_CONFIG_PATH, which
``nox pitr config --write`` renders from the NOX_PITR_* settings (one place for the stanza,
repository, retention and cipher).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import click
from sqlalchemy import text

from app.backup import pitr, revocations
from app.db import make_engine
from app.settings import Settings, get_settings

REVOCATIONS_FILE = "nox-revocations.json"


@click.group("pitr")
def commands() -> None:
    """Point-in-time recovery (pgBackRest): archiving, backups, restore points, restore."""


@commands.command("config")
@click.option("--write", "target", type=click.Path(path_type=Path), help="write it here")
def config_command(target: Path | None) -> None:
    """Print (or write, mode 0600) pgbackrest.conf and the postgresql.conf lines for it."""
    settings = get_settings()
    if target is not None:
        click.echo(f"wrote {pitr.write_config(settings, target)}")
        return
    click.echo(pitr.render_config(settings), nl=False)
    click.echo("\n# postgresql.conf")
    for name, value in pitr.postgres_parameters(settings, settings.pitr_config_path).items():
        click.echo(f"{name} = '{value}'")


@commands.command("stanza-create")
def stanza_create() -> None:
    """Create the stanza in the repository (once, after archiving is configured)."""
    settings = get_settings()
    _call(lambda: pitr.run(settings, settings.pitr_config_path, "stanza-create"))
    click.echo(f"stanza {settings.pitr_stanza} ready")


@commands.command("backup")
@click.option("--type", "kind", type=click.Choice(get_args(pitr.BackupKind)), default="incr")
def backup_command(kind: pitr.BackupKind) -> None:
    """A full, differential or incremental backup; retention expires old ones."""
    settings = get_settings()
    _call(lambda: pitr.backup(settings, settings.pitr_config_path, kind))
    click.echo(f"{kind} backup done")


@commands.command("verify")
def verify_command() -> None:
    """Check every backup file and archived WAL segment; exit 1 naming the damaged ones."""
    settings = get_settings()
    _call(lambda: pitr.verify(settings, settings.pitr_config_path))
    click.echo("repository intact")


@commands.command("restore-point")
@click.argument("name")
def restore_point(name: str) -> None:
    """Mark this instant in the WAL (before a risky change); `nox restore --to-name NAME`."""
    lsn = asyncio.run(_create_restore_point(get_settings(), name))
    click.echo(f"restore point {name!r} at {lsn}")


@commands.command("save-revocations")
@click.argument("target", type=click.Path(path_type=Path))
def save_revocations(target: Path) -> None:
    """Before stopping PostgreSQL for a PITR: save what it has revoked (tokens, users)."""
    carried = asyncio.run(revocations.read(get_settings().effective_database_url))
    if carried.unreadable:
        raise click.ClickException(f"cannot read the database: {carried.unreadable}")
    carried.save(target)
    click.echo(f"saved {len(carried.tokens)} revoked tokens, {len(carried.inactive_emails)} users")


@commands.command("reapply-revocations")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
def reapply_revocations(source: Path) -> None:
    """After a PITR: revoke again what the replaced database had revoked (saved by restore)."""
    changed = asyncio.run(
        revocations.apply(
            get_settings().effective_database_url, revocations.Revocations.load(source)
        )
    )
    click.echo(f"{changed} revocations re-applied")


def restore_to(
    settings: Settings,
    *,
    pg_data: Path | None,
    to_time: str | None,
    to_name: str | None,
    yes: bool,
) -> None:
    """Restore into the stopped (or empty) data directory; the live database's revocations
    are saved first, or the file `nox pitr save-revocations` left before it was stopped."""
    target = pg_data or settings.pitr_pg_data
    saved = target.parent / REVOCATIONS_FILE
    carried = asyncio.run(revocations.read(settings.effective_database_url))
    if not yes:
        click.confirm(f"replace {target} with the cluster as of {to_time or to_name}?", abort=True)
    _call(
        lambda: pitr.restore(
            settings, settings.pitr_config_path, target, to_time=to_time, to_name=to_name
        )
    )
    if not carried.unreadable:
        carried.save(saved)
    click.echo(f"restored {target} to {to_time or to_name}; start PostgreSQL, then run")
    if saved.exists():
        click.echo(f"  nox pitr reapply-revocations {saved}")
    else:
        click.echo(
            f"WARNING: no revocations to re-apply ({carried.unreadable}); next time run "
            "`nox pitr save-revocations` before stopping PostgreSQL",
            err=True,
        )


async def _create_restore_point(settings: Settings, name: str) -> str:
    engine = make_engine(settings.effective_database_url)
    try:
        async with engine.begin() as conn:
            lsn = await conn.scalar(text("SELECT pg_create_restore_point(:n)::text"), {"n": name})
            return str(lsn)
    finally:
        await engine.dispose()


def _call(step: Callable[[], object]) -> None:
    try:
        step()
    except pitr.PitrError as exc:
        raise click.ClickException(str(exc)) from exc
