"""Bodies meet their limits before anything parses them, and before auth, on a real ``nox serve``:
chunked and over-long bodies answer 413 with the server's memory (RSS) and /tmp barely moving,
an anonymous upload is refused without being read, and a body that never ends is cut."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.sandbox_rig import traversable_dir
from tests.support.nox_process import NoxProcess, nox_command, nox_serve

pytestmark = pytest.mark.e2e

MB = 1 << 20
RSS_BUDGET = 20 * MB
BODY_TIMEOUT_S = 2


def rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM): a body held for a moment and then freed
    counts, as it would when a few such requests arrive together."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def tmp_usage(root: Path) -> int:
    """Bytes under the server's own temporary directory (where a multipart parser spools)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's own TMPDIR: the machine's /tmp is shared and others write to it meanwhile."""
    return tmp_path_factory.mktemp("abuse-tmp")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, spool: Path
) -> Iterator[tuple[NoxProcess, str]]:
    data = tmp_path_factory.mktemp("abuse")
    workspaces = traversable_dir("nox-abuse-ws-")
    env = {
        "NOX_DATA_DIR": str(data),
        "NOX_WORKSPACES_DIR": str(workspaces),
        "NOX_REQUEST_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "NOX_QUOTAS__REQUESTS_PER_MINUTE": "100000",
        "TMPDIR": str(spool),
    }
    with nox_serve(env, data) as nox:
        token = nox_command("token", "create", "--email", "abuser@example.test", env=env)
        yield nox, token.splitlines()[-1]
    shutil.rmtree(workspaces, ignore_errors=True)


def send(port: int, head: str, chunks: Iterator[bytes], *, read_after: bool = True) -> str:
    """A raw HTTP/1.1 request: the head, then whatever the body generator yields (stops early,
    as a client would, once the server has answered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode())
        conn.setblocking(False)
        answer = b""
        for chunk in chunks:
            with contextlib.suppress(BlockingIOError):
                answer += conn.recv(65536)
            if answer:
                break
            try:
                conn.setblocking(True)
                conn.sendall(chunk)
                conn.setblocking(False)
            except (BrokenPipeError, ConnectionResetError):
                break
        conn.setblocking(True)
        if read_after:
            try:
                while b"\r\n\r\n" not in answer:
                    more = conn.recv(65536)
                    if not more:
                        break
                    answer += more
            except (ConnectionResetError, TimeoutError):
                pass
        return answer.decode(errors="replace")


def chunked(total: int, size: int = MB) -> Iterator[bytes]:
    block = b" " * size
    sent = 0
    while sent < total:
        yield f"{len(block):x}\r\n".encode() + block + b"\r\n"
        sent += len(block)
    yield b"0\r\n\r\n"


def status(answer: str) -> int:
    return int(answer.split(" ", 2)[1]) if answer.startswith("HTTP/1.1") else 0


def head(path: str, token: str | None, extra: str) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"POST {path} HTTP/1.1\r\nHost: nox\r\n{auth}{extra}\r\n"


def test_anonymous_chunked_300_mb_json_is_refused_without_being_read(
    server: tuple[NoxProcess, str],
) -> None:
    nox, _ = server
    before = rss(nox.process.pid)
    extra = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    answer = send(nox.port, head("/api/v7/run/python", None, extra), chunked(300 * MB))
    assert status(answer) == 401, answer[:300]
    assert rss(nox.process.pid) - before < RSS_BUDGET


def test_authenticated_chunked_300_mb_json_is_cut_at_the_cap_with_413(
    server: tuple[NoxProcess, str],
) -> None:
    nox, token = server
    before = rss(nox.process.pid)
    extra = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    answer = send(nox.port, head("/api/v7/run/python", token, extra), chunked(300 * MB))
    assert status(answer) == 413, answer[:300]
    assert "application/problem+json" in answer
    assert rss(nox.process.pid) - before < RSS_BUDGET


def test_a_declared_over_long_body_is_refused_before_reading(
    server: tuple[NoxProcess, str],
) -> None:
    nox, token = server
    extra = f"Content-Type: application/json\r\nContent-Length: {300 * MB}\r\n"
    answer = send(nox.port, head("/api/v7/run/python", token, extra), iter([b"{"]))
    assert status(answer) == 413, answer[:300]


def test_anonymous_300_mb_multipart_put_is_refused_with_rss_and_tmp_flat(
    server: tuple[NoxProcess, str], spool: Path
) -> None:
    nox, _ = server
    before_rss, before_tmp = rss(nox.process.pid), tmp_usage(spool)
    boundary = "nox-abuse"
    extra = (
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n"
    )
    answer = send(nox.port, head("/put?path=x.bin", None, extra), chunked(300 * MB))
    assert status(answer) == 401, answer[:300]
    assert rss(nox.process.pid) - before_rss < RSS_BUDGET
    assert tmp_usage(spool) - before_tmp < RSS_BUDGET


def test_a_body_that_never_ends_is_cut_by_the_read_timeout(
    server: tuple[NoxProcess, str],
) -> None:
    nox, token = server

    def trickle() -> Iterator[bytes]:
        deadline = time.monotonic() + BODY_TIMEOUT_S + 5
        while time.monotonic() < deadline:
            yield b"1\r\n \r\n"
            time.sleep(0.2)

    extra = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    started = time.monotonic()
    answer = send(nox.port, head("/api/v7/run/python", token, extra), trickle())
    assert status(answer) == 408, answer[:300]
    assert time.monotonic() - started < BODY_TIMEOUT_S + 3


def test_too_many_headers_are_refused_with_431(server: tuple[NoxProcess, str]) -> None:
    nox, token = server
    many = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(150))
    answer = send(nox.port, head("/api/v7/run/python", token, many + "Content-Length: 2\r\n"),
                  iter([b"{}"]))  # fmt: skip
    assert status(answer) == 431, answer[:300]


def test_the_server_still_serves_after_the_abuse(server: tuple[NoxProcess, str]) -> None:
    nox, token = server
    assert os.path.exists(f"/proc/{nox.process.pid}")
    body = b'{"code": "print(1)"}'
    extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    answer = send(nox.port, head("/api/v7/run/python", token, extra + "Connection: close\r\n"),
                  iter([body]))  # fmt: skip
    assert status(answer) == 200, answer[:300]
