"""The load gate ends as soon as it has failed for certain, against a real HTTP server that
answers every request of the scenario (http.server in a thread): slowly, or once wrongly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy.loadgate import LoadGateFailed, gate, most_requests


class Scenario(BaseHTTPRequestHandler):
    """Answers the gate's six requests as Nox would; `delay_s` before each, and the request
    numbered `fail_at` (counted over the whole server) answers 500."""

    delay_s = 0.0
    fail_at = -1
    served = 0
    files: dict[str, bytes] = {}  # noqa: RUF012 - one scenario per test, reset by the fixture
    lock = threading.Lock()

    def log_message(self, *_: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        time.sleep(self.delay_s)
        with Scenario.lock:
            Scenario.served += 1
            if Scenario.served == self.fail_at:
                status, body = 500, b"broken"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self) -> None:
        if self.path == "/api/v7/auth/me":
            self._answer(200, b'{"email": "load@example.test"}')
        elif self.path == "/api/v7/files":
            self._answer(200, json.dumps(sorted(Scenario.files)).encode())
        else:
            self._answer(200, Scenario.files.get(self.path.removeprefix("/api/v7/files/"), b""))

    def do_PUT(self) -> None:
        Scenario.files[self.path.removeprefix("/api/v7/files/")] = self._body()
        self._answer(201)

    def do_POST(self) -> None:
        self._body()
        self._answer(200, b'{"stdout": "42\\n"}')

    def do_DELETE(self) -> None:
        Scenario.files.pop(self.path.removeprefix("/api/v7/files/"), None)
        self._answer(204)


@pytest.fixture
def server() -> Iterator[str]:
    Scenario.delay_s, Scenario.fail_at, Scenario.served, Scenario.files = 0.0, -1, 0, {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scenario)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_healthy_server_passes_the_whole_scenario(server: str) -> None:
    result = gate(server, ["a", "b"], seconds=1, bound_ms=1000)
    assert result.errors == [] and len(result.latencies_ms) == 12  # one iteration each
    assert len(result.latencies_ms) <= most_requests(2, 1)


def test_a_slow_server_fails_after_a_few_requests_not_the_whole_scenario(server: str) -> None:
    Scenario.delay_s = 0.2
    started = time.monotonic()
    with pytest.raises(LoadGateFailed, match="p95"):
        gate(server, ["a", "b"], seconds=60, bound_ms=100)
    # 60 s asked; allowed over the bound: 5 % of the most it could measure (2 users x 18
    # iterations x 6), so it stops after 11 + the two requests in flight, about 2 s
    assert time.monotonic() - started < 10


def test_the_first_error_ends_the_gate(server: str) -> None:
    Scenario.fail_at = 5  # after both warm-up runs, a measured request
    started = time.monotonic()
    with pytest.raises(LoadGateFailed, match=r"1 errors, first: .* -> 500"):
        gate(server, ["a", "b"], seconds=60, bound_ms=1000)
    assert time.monotonic() - started < 10
