"""Loopback ports: a free one for a server to take, and waiting until one listens."""

from __future__ import annotations

import socket

from tests.support.deadline import STARTUP_DEADLINE_S, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout_s: float = STARTUP_DEADLINE_S) -> None:
    wait_for(f"a listener on 127.0.0.1:{port}", lambda: listening(port), timeout_s)
