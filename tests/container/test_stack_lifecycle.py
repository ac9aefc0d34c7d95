"""compose.yaml under stress: database and cache outages, down/up, SIGTERM during a run.

Runs after test_stack_api.py (same session stack); the last test leaves the stack up.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.container.conftest import Stack
from tests.container.engine import container_state, http_client, wait_for


@pytest.fixture(scope="module")
def token(stack: Stack) -> str:
    token = stack.token("lifecycle@example.com")
    with http_client(stack.port, token) as client:
        assert client.put("/api/v7/files/kept.txt", content=b"still here").status_code == 201
    return token


def readyz(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code
    except httpx.TransportError:
        return 0


def me_status(stack: Stack, token: str) -> int:
    with http_client(stack.port, token) as client:
        status = client.get("/api/v7/auth/me").status_code
    assert status != 500, "a backing-service outage must never be a 500"
    return status


def assert_data_kept(stack: Stack, token: str) -> None:
    with http_client(stack.port, token) as client:
        assert client.get("/api/v7/auth/me").status_code == 200  # token row survived
        kept = client.get("/api/v7/files/kept.txt")
    assert kept.status_code == 200 and kept.content == b"still here"


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_outage_gives_503_then_recovers_without_500(stack: Stack, token: str, service: str) -> None:
    statuses: Counter[int] = Counter()

    def probe() -> int:
        status = readyz(stack.port)
        statuses[status] += 1
        with http_client(stack.port, token) as client:
            statuses[client.get("/api/v7/auth/me").status_code] += 1
        return status

    stack.compose("stop", "-t", "10", service)
    wait_for(lambda: probe() == 503, 60, f"/readyz 503 while {service} is down")
    stack.compose("start", service)
    stack.compose("up", "-d", "--wait", "--no-build", service)
    wait_for(lambda: probe() == 200, 90, f"/readyz 200 after {service} is back")
    # /readyz answered from one worker; the other may still be reconnecting (503, never 500).
    wait_for(lambda: me_status(stack, token) == 200, 30, f"/auth/me 200 after {service} is back")
    assert statuses[500] == 0, statuses
    assert_data_kept(stack, token)


def test_executor_stopped_keeps_api_ready_runs_503_then_recover(stack: Stack, token: str) -> None:
    """Readiness is the api's own: an executor outage makes runs 503, not the whole api."""
    code = {"code": "print(6 * 7)"}
    stack.compose("stop", "-t", "10", "executor")
    try:
        with http_client(stack.port, token) as client:
            run = client.post("/api/v7/run/python", json=code)
            assert run.status_code == 503, run.text
            assert run.headers["content-type"] == "application/problem+json"
            assert run.headers["retry-after"] == "5"
            assert client.get("/api/v7/auth/me").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["components"]["executor"]["ok"] is False
    finally:
        stack.compose("up", "-d", "--wait", "--no-build", "executor")

    def run_works() -> bool:
        with http_client(stack.port, token) as client:
            run = client.post("/api/v7/run/python", json=code)
        return run.status_code == 200 and run.json()["stdout"] == "42\n"

    wait_for(run_works, 60, "runs answer again once the executor is back, no api restart")


def test_down_then_up_keeps_data(stack: Stack, token: str) -> None:
    stack.compose("down", "-t", "20")  # no -v: named volumes stay
    stack.compose("up", "-d", "--wait", "--wait-timeout", "180", "--no-build")
    assert readyz(stack.port) == 200
    assert_data_kept(stack, token)


def test_sigterm_during_a_long_run_ends_cleanly(stack: Stack, token: str) -> None:
    api = stack.compose.container("api")
    result: dict[str, httpx.Response] = {}

    def long_run() -> None:
        with http_client(stack.port, token) as client:
            code = "import time; time.sleep(4); print('finished')"
            result["run"] = client.post("/api/v7/run/python", json={"code": code, "timeout_s": 20})

    worker = threading.Thread(target=long_run)
    worker.start()
    time.sleep(1.5)  # the run is in flight inside the executor
    started = time.monotonic()
    # `stop` sends SIGTERM and waits up to stop_grace_period (40 s) before SIGKILL
    stack.compose("stop", "api")
    stopped_after = time.monotonic() - started
    worker.join(timeout=60)

    assert result["run"].status_code == 200 and result["run"].json()["stdout"] == "finished\n"
    assert container_state(api, "{{.State.ExitCode}}") == "0"  # 137 would mean SIGKILL
    assert container_state(api, "{{.State.OOMKilled}}") == "false"
    assert stopped_after < 40, f"shutdown took {stopped_after:.1f}s, longer than the grace period"
    stack.compose("up", "-d", "--wait", "--no-build", "api")
