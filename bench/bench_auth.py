"""Authenticated cheap endpoint vs a bare FastAPI hello: same machine, same run.

Starts `nox serve` on its embedded defaults (SQLite, in-process store) with a fresh token and
a bare FastAPI app under the same uvicorn, drives both with wrk, and prints requests/s,
p50/p95 and the ratio. Target: Nox `/api/v7/auth/me` at >= 0.5x the bare hello's requests/s.
The per-user rate limit is raised for the run, since wrk would otherwise measure 429s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import Load, run_wrk
from tests.support.net import free_port
from tests.support.nox_process import nox_command, nox_serve


def start_hello() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.hello_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).resolve().parent.parent,
    )
    url = f"http://127.0.0.1:{port}/hello"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the hello app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved bare/Nox rounds")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    load = {"seconds": args.seconds, "connections": args.connections}
    rounds: list[tuple[Load, Load]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "NOX_DATA_DIR": tmp,
            "NOX_QUOTAS__REQUESTS_PER_MINUTE": "100000000",
            "NOX_LOG_LEVEL": "WARNING",
        }
        nox_command("migrate", env=env)
        token = nox_command("token", "create", "--email", "bench@example.test", env=env)
        hello, hello_url = start_hello()
        try:
            with nox_serve(env, Path(tmp)) as nox:
                me_url = f"{nox.url}/api/v7/auth/me"
                auth = {"Authorization": f"Bearer {token}"}
                assert httpx.get(me_url, headers=auth).status_code == 200
                run_wrk(hello_url, seconds=2, connections=args.connections, headers={})  # warm-up
                run_wrk(me_url, seconds=2, connections=args.connections, headers=auth)
                # Interleaved rounds: a busy moment of the machine weighs on both alike.
                for _ in range(args.rounds):
                    bare = run_wrk(hello_url, headers={}, **load)
                    ours = run_wrk(me_url, headers=auth, **load)
                    rounds.append((bare, ours))
        finally:
            hello.terminate()
            hello.wait()
    print(
        f"machine: {os.cpu_count()} cores; {args.rounds} rounds of "
        f"wrk -t2 -c{args.connections} -d{args.seconds}s per server"
    )
    for number, (bare, ours) in enumerate(rounds, 1):
        print(f"round {number}: " + bare.line("bare FastAPI /hello"))
        print(f"round {number}: " + ours.line("Nox GET /api/v7/auth/me"))
    ratios = sorted(ours.rps / bare.rps for bare, ours in rounds)
    ratio = statistics.median(ratios)
    print(f"ratio Nox/bare requests/s per round: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"median ratio Nox/bare requests/s: {ratio:.2f}x (target >= 0.5x) -> "
        f"{'MET' if ratio >= 0.5 else 'NOT MET'}"
    )
    p50 = statistics.median(o.p50_ms / b.p50_ms for b, o in rounds)
    p95 = statistics.median(o.p95_ms / b.p95_ms for b, o in rounds)
    print(f"median latency ratio Nox/bare: p50 {p50:.2f}x, p95 {p95:.2f}x")


if __name__ == "__main__":
    main()
