"""Child processes the tests start: stopping them, and passing coverage on to them."""

from __future__ import annotations

import os
import subprocess


def coverage_env() -> dict[str, str]:
    """This process's COVERAGE_* variables, for a child started with a clean environment: under
    `task test` it then records its coverage like every other process (pyproject.toml)."""
    return {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")}


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
