"""Debian's Prometheus and Alertmanager against a running Nox (``nox serve``), for real.

Grafana has no Debian package, so the dashboards' queries are run against this Prometheus.

The shipped configs are used as they are except for what a loopback test must change: the
scrape target (DNS discovery becomes 127.0.0.1:port), 1-second intervals, the webhook URLs
of the receivers, Alertmanager's waits, and a 3-second ``for`` on NoxApiDown instead of 2
minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.prereq import require_binary
from tests.support.deadline import STARTUP_DEADLINE_S, wait_for
from tests.support.net import free_port, wait_for_port
from tests.support.processes import stop
from tests.unit.promql_names import (
    MONITORING,
    PROMETHEUS_DIR,
    RULE_FILES,
    dashboard_exprs,
    names_of_families,
    unknown_names,
)

pytestmark = pytest.mark.e2e
HINT = "run .ci/install-monitoring.sh (Debian prometheus, prometheus-alertmanager)"
T = TypeVar("T")


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def poll(what: str, check: Callable[[], T | None], timeout_s: float = 30.0) -> T:
    return wait_for(what, check, timeout_s, every_s=0.2)


def start_prometheus(
    binary: str, config: dict[str, Any], workdir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus with ``config`` (written to ``workdir``/prometheus.yml) on a free loopback
    port, its TSDB and log in ``workdir``; answered once it is ready: before, its API answers
    503 Service Unavailable (seen in CI, where a test read the targets the moment the port was
    open)."""
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = start(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("Prometheus ready", lambda: _ready(url), STARTUP_DEADLINE_S, every_s=0.2)
    except BaseException:
        stop(process)
        raise
    return process, url


@contextmanager
def running_prometheus(binary: str, config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """``start_prometheus`` for the length of a ``with`` block (a fixture's life)."""
    process, url = start_prometheus(binary, config, workdir)
    try:
        yield url
    finally:
        stop(process)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_nox(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``nox serve`` with the embedded defaults (SQLite, in-process store) on a free port."""
    nox = Path(sys.executable).with_name("nox")
    assert nox.exists(), f"{nox} missing: uv sync installs the nox command"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOX_")}
    env |= {"NOX_ENV": "development", "NOX_DATA_DIR": str(workdir / "data"), "NOX_PORT": str(port)}
    process = start([str(nox), "serve"], workdir / "nox.log", env)
    wait_for_port(port)
    return process, port


def test_running_nox_exports_every_metric_the_rules_and_dashboards_read(tmp_path: Path) -> None:
    process, port = start_nox(tmp_path)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop(process)
    families = list(text_string_to_metric_families(text))
    exported = names_of_families((family.name, family.type) for family in families)
    assert "nox_http_request_duration_seconds_bucket" in exported
    assert unknown_names(exported) == {}


class Webhooks(BaseHTTPRequestHandler):
    """Alertmanager's webhook receivers: remembers (path, alert names) of every delivery."""

    received: ClassVar[list[tuple[str, list[str]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        names = [alert["labels"]["alertname"] for alert in body["alerts"]]
        self.received.append((self.path, names))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture
def webhooks() -> Iterator[tuple[int, list[tuple[str, list[str]]]]]:
    Webhooks.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], Webhooks.received
    server.shutdown()
    server.server_close()


def alertmanager_config(hook_port: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (MONITORING / "alertmanager" / "alertmanager.yml").read_text()
    )
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = f"http://127.0.0.1:{hook_port}/{receiver['name']}"
    # Seconds instead of minutes. group_interval too: the group may already exist from the
    # alert that fires, and resolves, while Prometheus waits for its first scrape.
    for route in [config["route"], *config["route"].get("routes", [])]:
        route |= {"group_wait": "1s", "group_interval": "1s"}
    return config


def prometheus_config(workdir: Path, nox_port: int, am_port: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"] |= {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    rule_files = []
    for path in RULE_FILES:
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "NoxApiDown":
                    rule["for"] = "3s"
        (workdir / path.name).write_text(yaml.safe_dump(rules))
        rule_files.append(str(workdir / path.name))
    config["rule_files"] = rule_files
    config["alerting"]["alertmanagers"][0]["static_configs"] = [
        {"targets": [f"127.0.0.1:{am_port}"]}
    ]
    [api_job] = [job for job in config["scrape_configs"] if job["job_name"] == "nox-api"]
    del api_job["dns_sd_configs"]
    api_job["static_configs"] = [{"targets": [f"127.0.0.1:{nox_port}"]}]
    config["scrape_configs"] = [api_job]
    return config


def query(prom: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_prometheus_scrapes_nox_and_pages_api_down_when_it_stops(
    tmp_path: Path, webhooks: tuple[int, list[tuple[str, list[str]]]]
) -> None:
    prometheus = require_binary("prometheus", HINT)
    alertmanager = require_binary("prometheus-alertmanager", HINT)
    hook_port, received = webhooks
    am_port = free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(hook_port)))
    processes = [
        start(
            [
                alertmanager,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        )
    ]
    try:
        nox, nox_port = start_nox(tmp_path)
        processes.append(nox)
        config = prometheus_config(tmp_path, nox_port, am_port)
        started = time.monotonic()
        process, prom = start_prometheus(prometheus, config, tmp_path)
        processes.append(process)

        poll("api target up", lambda: query(prom, 'up{job="nox-api"} == 1'))
        first_sample = time.monotonic() - started
        poll(
            "database readiness", lambda: query(prom, 'nox_component_up{component="database"} == 1')
        )
        poll("recording rule", lambda: query(prom, 'job:nox_http_requests:rate5m{job="nox-api"}'))
        assert query(prom, 'ALERTS{alertname="NoxApiDown"}') == []
        answered = [expr for expr in dashboard_exprs() if query(prom, expr)]
        assert 'sum(up{job="nox-api"})' in answered
        assert any("nox_http_requests_total" in expr for expr in answered)

        stop(nox)
        stopped = time.monotonic()
        poll(
            "NoxApiDown firing",
            lambda: query(prom, 'ALERTS{alertname="NoxApiDown", alertstate="firing"}'),
        )
        firing = time.monotonic() - stopped
        poll(
            "NoxApiDown delivered to oncall",
            lambda: [r for r in received if r == ("/oncall", ["NoxApiDown"])],
        )
        delivered = time.monotonic() - stopped
        print(
            f"\n{len(answered)} of {len(dashboard_exprs())} dashboard queries returned data; "
            f"first sample {first_sample:.1f} s after Prometheus start; NoxApiDown firing "
            f"{firing:.1f} s and paged {delivered:.1f} s after Nox stopped (for: 3s, 1 s intervals)"
        )
    finally:
        for process in reversed(processes):
            stop(process)
