"""Programs a sandboxed run leaves on the host, found by a marker in their command line: to
prove a stopped run leaves nothing behind."""

from __future__ import annotations

import re
import subprocess

from tests.support.deadline import wait_for


def marker_alive(marker: str) -> bool:
    """Whether a process whose command line holds ``marker`` still runs on this host."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False)
    return found.returncode == 0


def wait_gone(marker: str, within_s: float = 5.0) -> bool:
    try:
        wait_for(f"no process with {marker}", lambda: not marker_alive(marker), within_s)
    except TimeoutError:
        return False
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
