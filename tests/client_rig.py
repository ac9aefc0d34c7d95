"""A real ``nox serve`` with two users' tokens, for the client, CLI, streaming and async tests."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sandbox_rig import traversable_dir
from tests.servers import NoxProcess, nox_command, nox_serve


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
    nox_command("migrate", env=env)
    alice = nox_command("token", "create", "--email", "alice@example.test", env=env)
    bob = nox_command("token", "create", "--email", "bob@example.test", env=env)
    with nox_serve(env, tmp_path) as server:
        yield Served(server, alice, bob, env)


def marker_alive(marker: str) -> bool:
    """Whether a process whose command line holds ``marker`` still runs on this host."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False)
    return found.returncode == 0


def wait_gone(marker: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while marker_alive(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sleeper(marker_seconds: str) -> str:
    """Python that prints, then waits in a child ``sleep`` the host can find by its argument."""
    assert re.fullmatch(r"\d+\.\d+", marker_seconds)
    return (
        "import subprocess, sys\n"
        "print('started', flush=True)\n"
        f"subprocess.run(['sleep', '{marker_seconds}'])\n"
        "print('never')\n"
    )
