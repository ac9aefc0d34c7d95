"""pg_dump / pg_restore around the database URL Nox already has (custom format).

The password goes to the tools through PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url


class PostgresToolError(RuntimeError):
    pass


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """``postgresql+asyncpg://u:p@h/db`` -> (``postgresql://u@h/db``, env with PGPASSWORD)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise PostgresToolError(
            f"backups need PostgreSQL; NOX_DATABASE_URL is {url.get_backend_name()}"
        )
    env = {**os.environ}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise PostgresToolError(
            f"{name} not found: install the PostgreSQL client (postgresql-client)"
        )
    return found


def tool_version(name: str = "pg_dump") -> str:
    return subprocess.run(
        [_tool(name), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def dump(database_url: str, target: Path, *, progress: Callable[[int], None] | None = None) -> None:
    """``pg_dump -Fc`` into ``target``; ``progress`` gets the bytes written so far."""
    dsn, env = libpq_target(database_url)
    argv = [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", dsn]
    _run_watching(argv, env, target, progress)


def restore(database_url: str, source: Path) -> None:
    """Replace the database's objects with the dump's, in one transaction."""
    dsn, env = libpq_target(database_url)
    argv = [
        _tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
        "--exit-on-error", "--single-transaction", f"--dbname={dsn}", str(source),
    ]  # fmt: skip
    _run_watching(argv, env, None, None)


def _run_watching(
    argv: list[str],
    env: dict[str, str],
    output: Path | None,
    progress: Callable[[int], None] | None,
) -> None:
    # stderr to a file, not a pipe: a chatty tool can never block on a full pipe
    with tempfile.TemporaryFile(mode="w+") as errors:
        with subprocess.Popen(argv, env=env, stderr=errors, text=True) as proc:
            while proc.poll() is None:
                if progress is not None and output is not None and output.exists():
                    progress(output.stat().st_size)
                time.sleep(0.2)
        errors.seek(0)
        if proc.returncode != 0:
            raise PostgresToolError(
                f"{Path(argv[0]).name} failed ({proc.returncode}): {errors.read().strip()}"
            )
