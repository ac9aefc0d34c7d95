"""Schema migrations: Alembic is the only way the schema is created.

Safe when several replicas start at once: PostgreSQL takes a session advisory lock, SQLite a
file lock, and whoever waits finds the schema already at head and applies nothing.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from app.db import make_engine
from app.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ADVISORY_LOCK_KEY = 0x4E4F58  # "NOX"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _apply(connection: Connection, revision: str, downgrade: bool) -> tuple[str | None, str | None]:
    before = MigrationContext.configure(connection).get_current_revision()
    config = alembic_config(connection)
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)
    after = MigrationContext.configure(connection).get_current_revision()
    return before, after


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def migrate(
    settings: Settings, revision: str = "head", *, downgrade: bool = False
) -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns the revisions before and after."""
    url = settings.effective_database_url
    engine = make_engine(url)
    try:
        if url.startswith("sqlite"):
            with _file_lock(settings.data_dir / "migrate.lock"):
                async with engine.begin() as conn:
                    return await conn.run_sync(_apply, revision, downgrade)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            await conn.commit()
            try:
                result = await conn.run_sync(_apply, revision, downgrade)
                await conn.commit()
                return result
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await conn.commit()
    finally:
        await engine.dispose()


async def ensure_embedded_schema(settings: Settings) -> None:
    """Embedded mode (SQLite) migrates on start; PostgreSQL is migrated by its own step."""
    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(settings)
