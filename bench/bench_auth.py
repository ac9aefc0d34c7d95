"""Authenticated cheap endpoint vs a bare FastAPI hello: same machine, same run.

Starts `nox serve` on its embedded defaults (SQLite, in-process store) with a fresh token and
a bare FastAPI app under the same uvicorn, drives both with wrk, and prints requests/s,
p50/p95 and the ratio. Target: Nox `/api/v7/auth/me` at >= 0.5x the bare hello's requests/s.
The per-user rate limit is raised for the run, since wrk would otherwise measure 429s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import run_wrk
from tests.servers import nox_command, nox_serve
from tests.services import free_port


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
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
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
                bare = run_wrk(
                    hello_url, seconds=args.seconds, connections=args.connections, headers={}
                )
                ours = run_wrk(
                    me_url, seconds=args.seconds, connections=args.connections, headers=auth
                )
        finally:
            hello.terminate()
            hello.wait()
    print(f"machine: {os.cpu_count()} cores; wrk -t2 -c{args.connections} -d{args.seconds}s")
    print(bare.line("bare FastAPI /hello"))
    print(ours.line("Nox GET /api/v7/auth/me"))
    ratio = ours.rps / bare.rps
    print(
        f"ratio Nox/bare requests/s: {ratio:.2f}x (target >= 0.5x) -> "
        f"{'MET' if ratio >= 0.5 else 'NOT MET'}"
    )
    print(f"ratio p50 latency Nox/bare: {ours.p50_ms / bare.p50_ms:.2f}x")


if __name__ == "__main__":
    main()
