"""Progress of long backup and restore steps on stderr.

On a terminal one line is rewritten in place; elsewhere (logs of a CronJob or a compose
service) a plain line every few seconds, so the log stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s if not self.tty else 0.2
        self._last = 0.0
        self._started = time.monotonic()

    def update(self, step: str, done: int, total: int | None = None, unit: str = "B") -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return
        self._last = now
        amount = _human(done, unit) + (f" of ~{_human(total, unit)}" if total else "")
        line = f"{step}: {amount} ({now - self._started:.0f}s)"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self, step: str, detail: str) -> None:
        prefix = "\r\033[K" if self.tty else ""
        elapsed = time.monotonic() - self._started
        self.stream.write(f"{prefix}{step}: {detail} ({elapsed:.1f}s)\n")
        self.stream.flush()
        self._last = 0.0


def _human(value: int, unit: str) -> str:
    if unit != "B":
        return f"{value} {unit}"
    size = float(value)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or suffix == "GiB":
            return f"{size:.1f} {suffix}" if suffix != "B" else f"{value} B"
        size /= 1024
    return f"{value} B"
