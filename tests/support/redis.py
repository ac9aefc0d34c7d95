"""Redis for tests: a throwaway server from Debian's binary on a free loopback port, or the
server `dagger call test` binds (``NOX_TEST_REDIS_URL``), behind one protocol."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from tests.support.net import free_port, wait_for_port
from tests.support.processes import stop

REDIS_ENV = "NOX_TEST_REDIS_URL"


class RedisService(Protocol):
    @property
    def url(self) -> str: ...


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def redis_server(binary: str, port: int | None = None) -> Iterator[RedisServer]:
    root = Path(tempfile.mkdtemp(prefix="nox-redis-"))
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(root),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield RedisServer(port=port, process=process)
    finally:
        stop(process, timeout_s=10)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class BoundRedis:
    """The server `dagger call test` binds, on a database of this xdist worker's own."""

    url: str


def bound_redis() -> BoundRedis | None:
    """The bound server, on a database of this pytest-xdist worker's own (gw0 -> 0, gw1 -> 1, ...):
    the tests flush their database before each test, and workers share the one server."""
    url = os.environ.get(REDIS_ENV, "")
    if not url:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    parts = urlsplit(url)
    return BoundRedis(urlunsplit((parts.scheme, parts.netloc, f"/{int(worker)}", "", "")))
