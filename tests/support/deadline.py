"""How long the tests wait for what they start, and the one loop that waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# How long a server the tests start may take to answer. Generous on purpose: under `task test`
# every Python process starts with coverage's tracer, next to parallel xdist workers on two
# cores, and a deadline is no performance assertion (bench/ measures speed).
STARTUP_DEADLINE_S = 90.0


def wait_for(
    what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 0.05
) -> T:
    """The first true answer of ``check``, asked every ``every_s`` until ``timeout_s`` passes;
    ``TimeoutError`` naming ``what`` then. ``check`` may raise to stop waiting early."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(every_s)
