"""migrations/env.py outside `nox migrate`: the plain `alembic` command a developer runs
(docs/foundation.md), online against the configured database and offline as a SQL script."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def alembic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_alembic_upgrade_creates_the_schema_in_the_configured_database(tmp_path: Path) -> None:
    done = alembic("upgrade", "head", env={"NOX_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "nox.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "alembic_version"} <= tables


def test_alembic_offline_mode_prints_the_postgresql_script_and_touches_nothing() -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:9/none"  # never connected to: offline
    done = alembic("upgrade", "head", "--sql", env={"NOX_DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE users" in done.stdout
    assert "INSERT INTO alembic_version" in done.stdout
