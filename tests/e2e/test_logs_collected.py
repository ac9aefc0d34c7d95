"""The shipped log collector (monitoring/logs/collector.sh running Debian's syslog-ng with
monitoring/logs/syslog-ng.conf, as the compose and Swarm collectors do) receives a real api's
and a real executor's JSON logs and one request is found in both by its X-Request-ID; day
files past the retention are deleted.

Between each service and syslog-ng stands util-linux ``logger`` sending each stderr line as
RFC 5424 over TCP with the service as APP-NAME: what Docker's syslog logging driver does in
compose.logs.yaml (tag=<service>, syslog-format=rfc5424).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_prometheus_live import poll
from tests.prereq import require_binary
from tests.support.logs import filed_lines
from tests.support.net import free_port, wait_for_port
from tests.support.nox_process import nox_command
from tests.support.processes import stop

pytestmark = pytest.mark.e2e
LOGS = Path(__file__).resolve().parents[2] / "monitoring" / "logs"
RETENTION_DAYS = 14
HINT = "run .ci/install-monitoring.sh (Debian syslog-ng-core)"


def shipped(
    service: str, argv: list[str], env: dict[str, str], port: int, log: Path
) -> list[subprocess.Popen[bytes]]:
    """``argv`` with its output piped into logger, which sends it to the collector."""
    logger = require_binary("logger", "apt-get install bsdutils")
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        send = ["--rfc5424", "--tcp", "--server", "127.0.0.1", "--port", str(port)]
        sender = subprocess.Popen(
            [logger, *send, "--size", "65536", "-t", service],
            stdin=process.stdout,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process.stdout.close()  # logger holds the pipe now
    return [process, sender]


def day_file(logs: Path, name: str, age_days: float) -> Path:
    path = logs / "api" / "info" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"level":"info"}\n')
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """collector.sh in a session of its own: its retention loop is stopped with it."""
    require_binary("syslog-ng", HINT)
    port, logs = free_port(), tmp_path / "collected"
    env = {
        **os.environ,
        "LOGS_CONFIG": str(LOGS / "syslog-ng.conf"),
        "LOGS_LISTEN": "127.0.0.1",
        "LOGS_PORT": str(port),
        "LOGS_DIR": str(logs),
        "LOGS_RETENTION_DAYS": str(RETENTION_DAYS),
    }
    expired = day_file(logs, "2000-01-01.jsonl", RETENTION_DAYS + 2)
    kept = day_file(logs, "2000-01-02.jsonl", RETENTION_DAYS - 2)
    with (tmp_path / "syslog-ng.log").open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(LOGS / "collector.sh")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port)
        # retention ran once at start: the day file past it is gone, the younger one stays
        poll("the expired day file deleted", lambda: not expired.exists(), 10)
        assert kept.exists()
        kept.unlink()
        yield port, logs
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        stop(process)


def test_one_request_is_found_in_api_and_executor_logs_by_its_id(
    tmp_path: Path, collector: tuple[int, Path]
) -> None:
    port, logs = collector
    nox = [sys.executable, "-m", "app.cli"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOX_")}
    secret = secrets.token_hex(32)
    executor_port, api_port = free_port(), free_port()
    executor_env = base | {
        "NOX_ENV": "development",
        "NOX_SANDBOX_BACKEND": "fallback",
        "NOX_EXECUTOR_SECRET": secret,
        "NOX_EXECUTOR_PORT": str(executor_port),
        "NOX_DATA_DIR": str(tmp_path / "executor"),
    }
    api_env = base | {
        "NOX_ENV": "development",
        "NOX_DATA_DIR": str(tmp_path / "api"),
        "NOX_SANDBOX_BACKEND": "remote",
        "NOX_EXECUTOR_URL": f"http://127.0.0.1:{executor_port}",
        "NOX_EXECUTOR_SECRET": secret,
    }
    nox_command("migrate", env=api_env)
    token = nox_command("token", "create", "--email", "logs@example.test", env=api_env)
    processes = shipped(
        "executor", [*nox, "executor"], executor_env, port, tmp_path / "logger-executor.log"
    )
    try:
        wait_for_port(executor_port, timeout_s=30)
        processes += shipped(
            "api",
            [*nox, "serve", "--host", "127.0.0.1", "--port", str(api_port)],
            api_env,
            port,
            tmp_path / "logger-api.log",
        )
        wait_for_port(api_port, timeout_s=30)
        request_id = uuid.uuid4().hex
        answer = httpx.post(
            f"http://127.0.0.1:{api_port}/api/v7/run/python",
            json={"code": "print(6 * 7)"},
            headers={
                "Authorization": f"Bearer {token.splitlines()[-1]}",
                "X-Request-ID": request_id,
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-ID"] == request_id

        def both_services() -> list[dict[str, str]] | None:
            found = filed_lines(logs, request_id)
            routes = {(e["service"], e.get("route")) for e in found}
            wanted = {("api", "/api/v7/run/python"), ("executor", "/v1/run")}
            return found if wanted <= routes else None

        found = poll("api and executor lines with the request id", both_services, 20)
        api = [e for e in found if e["service"] == "api"]
        executor = [e for e in found if e["service"] == "executor"]
        assert any(e.get("route") == "/api/v7/run/python" and e.get("status") == "200" for e in api)
        assert any(e.get("route") == "/v1/run" for e in executor)
        for entry in found:
            # labels: the service and level directories, and the same as fields
            assert entry["_path"].startswith(f"{entry['service']}/{entry['level']}/"), entry
            assert entry["level"] == "info" and entry["request_id"] == request_id
        # and the other requests (health checks, the other run) are not mixed in
        assert all(e["request_id"] == request_id for e in found)
    finally:
        for process in reversed(processes):
            stop(process)
