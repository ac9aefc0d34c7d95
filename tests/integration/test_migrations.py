"""Alembic is the only way the schema is made, on PostgreSQL from empty and back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from app.db import Base, make_engine
from app.migrate import head_revision, migrate
from app.models import load_all_models
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_migrations_from_empty_create_every_model_table(
    postgres_url: str, tmp_path: Path
) -> None:
    load_all_models()
    settings = make_settings(tmp_path, database_url=postgres_url)
    assert await _tables(postgres_url) == set()
    before, after = await migrate(settings)
    assert (before, after) == (None, head_revision())
    assert await _tables(postgres_url) == set(Base.metadata.tables)


async def test_downgrade_to_base_and_upgrade_again(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=postgres_url)
    await migrate(settings)
    _, after = await migrate(settings, "base", downgrade=True)
    assert after is None
    assert await _tables(postgres_url) == set()
    _, again = await migrate(settings)
    assert again == head_revision()
    assert await migrate(settings) == (again, again)


def test_three_concurrent_nox_migrate_one_applies_none_fails(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "NOX_DATABASE_URL": postgres_url, "NOX_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "app.cli", "migrate"]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    outputs = [out for _, out, _ in results]
    assert sum("schema migrated from None" in out for out in outputs) == 1, outputs
    assert sum("nothing to apply" in out for out in outputs) == 2, outputs
    assert asyncio.run(_tables(postgres_url)) >= {"users", "audit_events"}
