"""Logs are JSON for machines and readable lines for a person at a terminal (NOX_LOG_FORMAT)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from app.observability.logging import HumanFormatter, JsonFormatter, formatter_for
from app.settings import LogFormat

SNIPPET = (
    "import logging; from app.observability.logging import configure_logging; "
    "from app.settings import get_settings; s = get_settings(); "
    "configure_logging(s.log_level, s.log_format); "
    "logging.getLogger('nox.test').warning('hello %s', 'there', extra={'user_id': 7})"
)


def _log_line(*, tty: bool, log_format: str | None = None) -> str:
    """One warning logged by a real process whose stderr is a terminal or a pipe."""
    env = {k: v for k, v in os.environ.items() if k != "NOX_LOG_FORMAT"}
    if log_format:
        env["NOX_LOG_FORMAT"] = log_format
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True
        )
        return done.stderr.strip()
    main, secondary = pty.openpty()
    try:
        subprocess.run([sys.executable, "-c", SNIPPET], env=env, stderr=secondary, check=True)
        os.close(secondary)
        data = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(main)
    return data.decode().strip()


def test_a_pipe_gets_json_lines() -> None:
    entry = json.loads(_log_line(tty=False))
    assert entry["message"] == "hello there"
    assert entry["level"] == "warning" and entry["user_id"] == 7


def test_a_terminal_gets_readable_lines() -> None:
    line = _log_line(tty=True)
    assert not line.startswith("{")
    assert "WARNING" in line and "nox.test" in line and "hello there" in line
    assert "user_id=7" in line


@pytest.mark.parametrize(("fmt", "tty", "expected"), [("json", True, "{"), ("human", False, "")])
def test_nox_log_format_overrides_the_guess(fmt: str, tty: bool, expected: str) -> None:
    line = _log_line(tty=tty, log_format=fmt)
    assert line.startswith("{") == (expected == "{")


def test_formatter_choice() -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    assert isinstance(formatter_for(LogFormat.auto, Terminal()), HumanFormatter)
    assert isinstance(formatter_for(LogFormat.auto, object()), JsonFormatter)
    assert isinstance(formatter_for(LogFormat.json, Terminal()), JsonFormatter)
