"""Real ``nox serve`` processes on loopback, for tests that cross process boundaries: alone
(``nox_serve``) or migrated with two users' tokens (``served``, for the client, CLI,
streaming and asynchronous-run tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.sandbox_rig import traversable_dir
from tests.support.deadline import STARTUP_DEADLINE_S, wait_for
from tests.support.net import free_port
from tests.support.processes import stop


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

    def healthy(self) -> bool:
        """Whether /healthz answers; ``RuntimeError`` with the log if the process has ended."""
        if self.process.poll() is not None:
            raise RuntimeError(f"nox serve exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


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
        try:
            wait_for("nox serve healthy", server.healthy, timeout_s, every_s=0.1)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}:\n{server.log()}") from exc
        yield server
    finally:
        stop(process)


@dataclass
class Served:
    server: NoxProcess
    alice: str
    bob: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url


def embedded_env(**extra: str) -> dict[str, str]:
    """Embedded defaults (SQLite, in-process store and executor, the best sandbox here), in
    a data directory the sandbox uid can enter."""
    return {"NOX_DATA_DIR": str(traversable_dir("nox-client-")), "NOX_ENV": "test", **extra}


@contextmanager
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    """``nox serve`` on a migrated database, with tokens for alice and bob."""
    nox_command("migrate", env=env)
    alice = nox_command("token", "create", "--email", "alice@example.test", env=env)
    bob = nox_command("token", "create", "--email", "bob@example.test", env=env)
    with nox_serve(env, tmp_path) as server:
        yield Served(server, alice, bob, env)
