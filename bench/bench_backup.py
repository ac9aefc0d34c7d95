"""Backup and restore of a 100k-row dataset on a throwaway PostgreSQL: prints the figures.

Starts its own PostgreSQL (Debian binaries, like the test fixtures) and Redis, migrates,
fills 100,000 users plus 100,000 audit events (set-based SQL, not through the API), then
times `create_backup` and `restore_backup` into a fresh database, plain and encrypted.
Run: uv run python bench/bench_backup.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.backup.progress import Progress
from app.backup.restore import restore_backup
from app.backup.service import create_backup
from app.migrate import migrate
from app.settings import Settings
from tests.support.postgres import postgres_bin_dir, postgres_server
from tests.support.redis import redis_server

FILL = """
INSERT INTO users (email, name, role, is_active, quotas, created_at)
SELECT 'user' || g || '@example.com', 'User ' || g, 'user', true, NULL, now()
FROM generate_series(1, {rows}) AS g;
INSERT INTO audit_events (created_at, actor_id, action, target, outcome, request_id,
                          client_addr, duration_ms, detail, prev_hash, hash)
SELECT now(), g, 'run.python', 'job-' || g, 'ok', md5(g::text), '127.0.0.1', 12.5,
       json_build_object('n', g), md5((g - 1)::text) || md5(g::text), md5(g::text) || md5(g::text)
FROM generate_series(1, {rows}) AS g;
"""


async def run(rows: int) -> None:
    bin_dir = postgres_bin_dir()
    redis_bin = shutil.which("redis-server")
    if bin_dir is None or redis_bin is None:
        sys.exit("needs PostgreSQL and Redis: apt-get install postgresql redis-server")
    work = Path(tempfile.mkdtemp(prefix="nox-bench-backup-"))
    with postgres_server(bin_dir) as pg, redis_server(redis_bin) as redis:
        pg.psql("CREATE DATABASE nox")
        settings = Settings(
            env="test", data_dir=work, database_url=pg.url("nox"), redis_url=redis.url,
            backup_dir=work / "backups",
        )  # fmt: skip
        await migrate(settings)
        t0 = time.perf_counter()
        pg.psql(FILL.format(rows=rows), database="nox")
        print(f"fill: {rows} users + {rows} audit events in {time.perf_counter() - t0:.2f}s")
        key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        quiet = Progress(open(os.devnull, "w"))  # noqa: SIM115 - lives for the run
        for label, variant in (("plain", settings), ("aes-gcm", settings.model_copy(
            update={"backup_key": SecretStr(key)}))):  # fmt: skip
            t0 = time.perf_counter()
            created = await create_backup(variant, progress=quiet)
            backup_s = time.perf_counter() - t0
            target = f"restore_{label.replace('-', '_')}"
            pg.psql(f"CREATE DATABASE {target}")
            t0 = time.perf_counter()
            await restore_backup(
                variant, created.path, database_url=pg.url(target), redis_url="", progress=quiet
            )
            restore_s = time.perf_counter() - t0
            restored = pg.psql("SELECT count(*) FROM users", database=target)
            size_mb = created.size_bytes / 1e6
            print(
                f"{label:8} backup {backup_s:6.2f}s ({size_mb:.1f} MB, "
                f"{2 * rows / backup_s:,.0f} rows/s) | restore {restore_s:6.2f}s "
                f"({2 * rows / restore_s:,.0f} rows/s) | users restored {restored}"
            )
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    asyncio.run(run(parser.parse_args().rows))


if __name__ == "__main__":
    main()
