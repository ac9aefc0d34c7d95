"""PostgreSQL and Redis that somebody else runs, named by environment variables.

`dagger call test` binds real PostgreSQL and Redis containers to the test container and sets
NOX_TEST_POSTGRES_URL / NOX_TEST_REDIS_URL; the session fixtures then use them instead of
starting servers from Debian's binaries. Unset (the usual local and .ci/run case), nothing
changes.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

POSTGRES_ENV = "NOX_TEST_POSTGRES_URL"
REDIS_ENV = "NOX_TEST_REDIS_URL"


@dataclass
class BoundPostgres:
    """A server URL whose user may create databases (the service's superuser)."""

    server_url: str

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        parts = urlsplit(self.server_url)
        return urlunsplit((driver, parts.netloc, f"/{database}", "", ""))

    def psql(self, sql: str, database: str = "postgres") -> str:
        """One statement, like `psql -Atqc`; the test image has no psql binary."""
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


@dataclass
class BoundRedis:
    url: str


def bound_postgres() -> BoundPostgres | None:
    url = os.environ.get(POSTGRES_ENV, "")
    return BoundPostgres(url) if url else None


def bound_redis() -> BoundRedis | None:
    """The bound server, on a database of this pytest-xdist worker's own (gw0 -> 0, gw1 -> 1, ...):
    the tests flush their database before each test, and workers share the one server."""
    url = os.environ.get(REDIS_ENV, "")
    if not url:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    parts = urlsplit(url)
    return BoundRedis(urlunsplit((parts.scheme, parts.netloc, f"/{int(worker)}", "", "")))
