"""PostgreSQL for tests: a throwaway server from Debian's binaries on a free loopback port, or
the server `dagger call test` binds (``NOX_TEST_POSTGRES_URL``), behind one protocol."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from tests.support.net import free_port

POSTGRES_ENV = "NOX_TEST_POSTGRES_URL"


class PostgresService(Protocol):
    """A server whose user may create databases (the service's superuser)."""

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str: ...

    def psql(self, sql: str, database: str = "postgres") -> str:
        """One statement's single value, like `psql -Atqc`."""
        ...


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user when root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    bin_dir: Path

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-w",
                    "-l",
                    str(self.data_dir.parent / "pg.log"),
                    "-o",
                    f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="nox-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    server = PostgresServer(port=free_port(), data_dir=data, bin_dir=bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class BoundPostgres:
    """The server `dagger call test` binds, by URL."""

    server_url: str

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        parts = urlsplit(self.server_url)
        return urlunsplit((driver, parts.netloc, f"/{database}", "", ""))

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Through asyncpg: the test image has no psql binary."""
        import asyncpg

        async def run() -> str:
            conn = await asyncpg.connect(self.url(database, driver="postgresql"))
            try:
                value = await conn.fetchval(sql)
            finally:
                await conn.close()
            return "" if value is None else str(value)

        # Its own loop in its own thread: callers may already be inside pytest-asyncio's loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result()


def bound_postgres() -> BoundPostgres | None:
    url = os.environ.get(POSTGRES_ENV, "")
    return BoundPostgres(url) if url else None
