"""Point-in-time recovery with pgBackRest on the backup drill's data: prints the figures.

Same data as bench/bench_backup.py (100k users + 100k audit events, set-based SQL) on a
throwaway cluster archiving WAL through pgBackRest, then:
  full backup; "10 minutes of steady writes" compressed (one transaction of 100 users per
  step, 600 steps) with a timestamp T in the middle; incremental backup; restore to T into a
  fresh data directory on another port, started and promoted (the RTO); finally single-row
  commits for a while, a hard kill (SIGKILL to every PostgreSQL process), restore of the
  latest archive and the commits that are missing (the RPO).
Run: flock /tmp/nox-bench.lock uv run python bench/bench_pitr.py [--rows N] [--archive-timeout S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.backup import pitr
from app.migrate import migrate
from bench.bench_backup import FILL
from tests.pitr_cluster import Archived, archived_cluster, kill_hard, restored_cluster

STEPS = 600
STEADY = "INSERT INTO users (email, name, role, is_active, created_at) SELECT 's{step}-' || g || \
'@example.com', '', 'user', true, now() FROM generate_series(1, 100) g"


def _timed(label: str, step: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    step()
    took = time.perf_counter() - t0
    print(f"{label:34} {took:7.2f} s")
    return took


def _steady_writes(archived: Archived) -> str:
    """600 transactions of 100 users; returns T, taken after the first half."""
    target = ""
    for step in range(STEPS):
        archived.server.psql(STEADY.format(step=step), "nox")
        if step == STEPS // 2 - 1:
            target = archived.server.psql("SELECT clock_timestamp()")
    return target


def _rto(archived: Archived, work: Path, target: str, expected_users: int) -> None:
    t0 = time.perf_counter()
    with restored_cluster(archived, work, to_time=target) as restored:
        took = time.perf_counter() - t0
        users = int(restored.psql("SELECT count(*) FROM users", "nox"))
    state = "ok" if users == expected_users else f"WRONG, expected {expected_users}"
    print(f"{'restore to T, started, promoted':34} {took:7.2f} s  (users {users}: {state})")


def _rpo(archived: Archived, work: Path, seconds: float, timeout_s: int) -> None:
    server = archived.server
    server.psql("CREATE TABLE ticks (id int PRIMARY KEY)", "nox")
    committed: list[tuple[int, float]] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                server.psql(f"INSERT INTO ticks VALUES ({i})", "nox")  # noqa: S608 - an int
            except subprocess.CalledProcessError:  # the server was killed under us
                return
            committed.append((i, time.time()))

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(seconds)
    killed_at = time.time()
    kill_hard(server)
    stop.set()
    thread.join(timeout=30)
    with restored_cluster(archived, work) as restored:
        present = {int(r) for r in restored.psql("SELECT id FROM ticks", "nox").split()}
    missing = [at for i, at in committed if i not in present]
    span = killed_at - min(missing) if missing else 0.0
    print(
        f"{'hard kill, restore latest':34} {len(committed)} commits, {len(missing)} missing, "
        f"oldest missing {span:.1f} s before the kill (archive_timeout {timeout_s} s)"
    )


async def run(rows: int, timeout_s: int, rpo_s: float) -> None:
    print(f"load average before: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="nox-bench-pitr-"))
    with archived_cluster(work, timeout_s) as archived:
        settings, config = archived.settings, archived.config
        await migrate(settings)
        archived.server.psql(FILL.format(rows=rows), "nox")
        print(f"filled {rows} users + {rows} audit events")
        _timed("full backup", lambda: pitr.backup(settings, config, "full"))
        time.sleep(1.1)  # pgBackRest picks a backup that stopped before T, to the second
        target = ""

        def steady() -> None:
            nonlocal target
            target = _steady_writes(archived)

        _timed(f"steady writes ({STEPS} tx x 100 rows)", steady)
        _timed("incremental backup", lambda: pitr.backup(settings, config, "incr"))
        pitr.run(settings, config, "check")
        _rto(archived, work, target, rows + 100 * STEPS // 2)
        _rpo(archived, work, rpo_s, timeout_s)
    print(f"load average after: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--archive-timeout", type=int, default=10)
    parser.add_argument("--rpo-seconds", type=float, default=25.0)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.archive_timeout, args.rpo_seconds))


if __name__ == "__main__":
    main()
