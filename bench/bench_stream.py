"""Streamed runs against the synchronous route, on a real `nox serve` (embedded defaults).

Prints, for `print(1)`: end-to-end p50/p95 of the synchronous route and of the streamed one
(request sent → result event read), and their ratio (target <= 1.2x); and for a program that
prints, then sleeps 2 s, then prints: the time to its first output event (target <= 500 ms),
against the time its synchronous answer takes. Runs under `flock /tmp/nox-bench.lock`; the
load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.client import Finished, NoxClient, Output
from tests.support.nox_process import nox_command, nox_serve

PRINT_ONE = "print(1)"
PRINT_SLEEP_PRINT = "import time\nprint(1)\ntime.sleep(2)\nprint(2)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_sync(client: NoxClient, code: str) -> float:
    started = time.perf_counter()
    client.run("python", code)
    return time.perf_counter() - started


def timed_stream(client: NoxClient, code: str) -> tuple[float, float]:
    """(first output event, result event) seconds after the request was sent."""
    started = time.perf_counter()
    first = 0.0
    for event in client.stream("python", code):
        if isinstance(event, Output) and not first:
            first = time.perf_counter() - started
        if isinstance(event, Finished):
            return first, time.perf_counter() - started
    raise SystemExit("the stream ended without a result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--slow-runs", type=int, default=5)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="nox-bench-stream-"))
    data.chmod(0o711)  # the sandbox uid enters the workspaces below
    env = {
        "NOX_DATA_DIR": str(data),
        "NOX_ENV": "test",
        "NOX_QUOTAS__REQUESTS_PER_MINUTE": "100000",
        "NOX_QUOTAS__DAILY_RUNS": "100000",
    }
    nox_command("migrate", env=env)
    token = nox_command("token", "create", "--email", "bench@example.test", env=env)
    with nox_serve(env, data) as server, NoxClient(server.url, token) as client:
        for _ in range(5):  # warm both paths
            timed_sync(client, PRINT_ONE)
            timed_stream(client, PRINT_ONE)
        sync, streamed = [], []
        for _ in range(args.runs):  # interleaved: both see the same machine
            sync.append(timed_sync(client, PRINT_ONE))
            streamed.append(timed_stream(client, PRINT_ONE)[1])
        firsts, slow_sync = [], []
        for _ in range(args.slow_runs):
            firsts.append(timed_stream(client, PRINT_SLEEP_PRINT)[0])
            slow_sync.append(timed_sync(client, PRINT_SLEEP_PRINT))
    p50_sync, p50_stream = statistics.median(sync), statistics.median(streamed)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"print(1), {args.runs} runs each, interleaved")
    for name, times in (("synchronous", sync), ("streamed", streamed)):
        p50, p95 = statistics.median(times) * 1000, percentile(times, 0.95) * 1000
        print(f"  {name:<12} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    print(f"  streamed / synchronous p50: {p50_stream / p50_sync:.2f}x (target <= 1.2x)")
    print(f"print(1); sleep(2); print(2), {args.slow_runs} runs")
    print(
        f"  first output event p50 {statistics.median(firsts) * 1000:7.1f} ms"
        f"  max {max(firsts) * 1000:7.1f} ms (target <= 500 ms)"
    )
    slow_p50 = statistics.median(slow_sync) * 1000
    print(f"  synchronous answer p50 {slow_p50:7.1f} ms (all output at the end)")


if __name__ == "__main__":
    main()
