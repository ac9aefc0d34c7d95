"""Real ``nox serve`` processes on loopback for tests that cross process boundaries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.services import STARTUP_DEADLINE_S, free_port


@dataclass
class NoxProcess:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def nox_command(*args: str, env: dict[str, str]) -> str:
    """Run a ``nox`` sub-command to completion and return its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nox {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


@contextmanager
def nox_serve(
    env: dict[str, str], log_dir: Path, *, timeout_s: float = STARTUP_DEADLINE_S
) -> Iterator[NoxProcess]:
    """Start ``nox serve`` with ``env`` on a free port and wait until /healthz answers."""
    port = free_port()
    log_path = log_dir / f"nox-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = NoxProcess(port=port, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nox serve exited with {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nox serve not healthy after {timeout_s} s:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
