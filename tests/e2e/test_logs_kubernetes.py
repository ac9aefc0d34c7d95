"""The Kubernetes log pipeline with Debian's syslog-ng: the node agent
(monitoring/logs/k8s-agent.conf) reads container log files in the exact CRI format and
forwards them to the collector (monitoring/logs/syslog-ng.conf, the one compose runs), which
files them by service and level; one request's lines are found by its id.

The files hold real Nox JSON log lines (app.observability.logging.JsonFormatter), one of them
longer than containerd's 16 KiB buffer and so split into partial (P) pieces, with a line of
the other stream written between them, as a runtime may.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.observability.context import request_id_var
from app.observability.logging import JsonFormatter
from tests.e2e.test_prometheus_live import poll
from tests.prereq import require_binary
from tests.support.logs import filed_lines
from tests.support.net import free_port, wait_for_port
from tests.support.processes import stop
from tests.unit.k8s_manifests import cluster, find, pod_template

pytestmark = pytest.mark.e2e
LOGS = Path(__file__).resolve().parents[2] / "monitoring" / "logs"
HINT = "run .ci/install-monitoring.sh (Debian syslog-ng-core)"
CRI_TIME = "2026-11-29T06:00:00.123456789Z"
CONTAINERD_PIECE = 16 * 1024


def started(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # its own process group: the collector's retention loop is a child of syslog-ng
        return subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stopped(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    stop(process)


def collector(filed: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """monitoring/logs/collector.sh with syslog-ng.conf, as compose and k8s/cluster run it."""
    env = {
        "SYSLOG_NG": require_binary("syslog-ng", HINT),
        "LOGS_DIR": str(filed),
        "LOGS_LISTEN": "127.0.0.1",
        "LOGS_PORT": str(port),
        "LOGS_RETENTION_DAYS": "14",
    }
    return started(["sh", str(LOGS / "collector.sh"), str(LOGS / "syslog-ng.conf")], log, env)


def agent_env() -> dict[str, str]:
    """The log-agent DaemonSet's environment, as rendered (k8s/cluster)."""
    [container] = pod_template(find(cluster(), "DaemonSet", "log-agent"))["spec"]["containers"]
    return {env["name"]: env["value"] for env in container["env"]}


def agent(containers: Path, port: int, run: Path) -> subprocess.Popen[bytes]:
    """syslog-ng with k8s-agent.conf, as the log-agent DaemonSet runs it."""
    run.mkdir()
    files = ["-R", str(run / "persist"), "-p", str(run / "pid"), "-c", str(run / "ctl")]
    env = {
        "LOGS_CONTAINERS_DIR": str(containers),
        "LOGS_NAMESPACES": agent_env()["LOGS_NAMESPACES"],
        "LOGS_COLLECTOR_HOST": "127.0.0.1",
        "LOGS_COLLECTOR_PORT": str(port),
    }
    argv = [
        require_binary("syslog-ng", HINT),
        "-F",
        "--no-caps",
        "-f",
        str(LOGS / "k8s-agent.conf"),
    ]
    return started([*argv, *files], run / "output.log", env)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(the node's container log directory, the collector's filing directory)."""
    containers, filed, port = tmp_path / "containers", tmp_path / "filed", free_port()
    containers.mkdir()
    processes = [collector(filed, port, tmp_path / "collector.log")]
    try:
        wait_for_port(port)
        processes.append(agent(containers, port, tmp_path / "agent"))
        yield containers, filed
    finally:
        for process in reversed(processes):
            stopped(process)


def nox_line(level: int, message: str, request_id: str, **extra: object) -> str:
    """A line exactly as a Nox process logs it."""
    token = request_id_var.set(request_id)
    try:
        record = logging.LogRecord("nox.http", level, __file__, 1, message, None, None)
        record.__dict__.update(extra)
        return JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)


def cri(stream: str, line: str) -> list[str]:
    """``line`` as the runtime writes it: P pieces of 16 KiB, then the F piece."""
    pieces = [line[i : i + CONTAINERD_PIECE] for i in range(0, len(line), CONTAINERD_PIECE)]
    tags = ["P"] * (len(pieces) - 1) + ["F"]
    return [f"{CRI_TIME} {stream} {tag} {piece}\n" for tag, piece in zip(tags, pieces, strict=True)]


def log_file(directory: Path, pod: str, namespace: str, container: str) -> Path:
    return directory / f"{pod}_{namespace}_{container}-{uuid.uuid4().hex * 2}.log"


def test_one_request_is_filed_by_service_and_level_and_found_by_its_id(
    pipeline: tuple[Path, Path],
) -> None:
    containers, filed = pipeline
    request_id = uuid.uuid4().hex
    long_message = "x" * (2 * CONTAINERD_PIECE + 100)  # three pieces: P, P, F
    long_line = nox_line(logging.INFO, long_message, request_id, route="/api/v7/run/python")
    warning = nox_line(logging.WARNING, "slow executor", request_id)
    stdout_pieces = cri("stdout", long_line)
    api = stdout_pieces[:1] + cri("stderr", warning) + stdout_pieces[1:]
    # not JSON (a crash before logging is set up), and long: kept whole, as it was written
    traceback = f"Traceback (most recent call last): {'y' * CONTAINERD_PIECE} {request_id}"
    api += cri("stderr", traceback)
    log_file(containers, "api-blue-5d8f-x2x", "nox-staging", "api").write_text("".join(api))
    executor = cri("stdout", nox_line(logging.ERROR, "run failed", request_id, route="/v1/run"))
    log_file(containers, "executor-6c9-k4", "nox-staging-sandbox", "executor").write_text(
        "".join(executor)
    )
    # another tenant of the node: the same id, not Nox's namespace
    other = cri("stdout", nox_line(logging.INFO, "not ours", request_id))
    log_file(containers, "coredns-1", "kube-system", "coredns").write_text("".join(other))

    def four_lines() -> list[dict[str, str]] | None:
        found = filed_lines(filed, request_id)
        return found if len(found) >= 4 else None

    found = poll("four filed lines", four_lines, 20)

    by_path = {entry["_path"].rsplit("/", 1)[0]: entry for entry in found}
    assert sorted(by_path) == ["api/info", "api/unparsed", "api/warning", "executor/error"]
    joined = by_path["api/info"]
    assert joined["message"] == long_message, "the P pieces are joined, nothing lost or added"
    assert joined["route"] == "/api/v7/run/python" and joined["stream"] == "stdout"
    assert joined["k8s_namespace"] == "nox-staging" and joined["k8s_pod"] == "api-blue-5d8f-x2x"
    assert by_path["api/warning"]["message"] == "slow executor"
    assert by_path["api/warning"]["stream"] == "stderr"
    assert by_path["executor/error"]["k8s_namespace"] == "nox-staging-sandbox"
    for entry in found:
        assert entry["_path"].startswith(f"{entry['service']}/{entry['level']}/"), entry
    assert all(entry.get("k8s_namespace") != "kube-system" for entry in found)
    assert by_path["api/unparsed"]["message"] == traceback


def test_the_collector_deletes_day_files_past_the_retention(tmp_path: Path) -> None:
    filed, port = tmp_path / "filed", free_port()
    day_files = filed / "api" / "info"
    day_files.mkdir(parents=True)
    ages = {"old.jsonl": 20, "recent.jsonl": 10, "old-but-not-a-day-file.txt": 20}
    for name, days in ages.items():
        (day_files / name).write_text("{}\n")
        then = time.time() - days * 86400
        os.utime(day_files / name, (then, then))
    process = collector(filed, port, tmp_path / "collector.log")
    try:
        wait_for_port(port)
        poll("the 20-day file deleted", lambda: not (day_files / "old.jsonl").exists(), 10)
        assert sorted(p.name for p in day_files.iterdir()) == [
            "old-but-not-a-day-file.txt",
            "recent.jsonl",
        ]
    finally:
        stopped(process)


def test_lines_written_while_the_collector_is_down_arrive_when_it_is_back(tmp_path: Path) -> None:
    containers, filed, port = tmp_path / "containers", tmp_path / "filed", free_port()
    containers.mkdir()
    request_id = uuid.uuid4().hex
    lines = [nox_line(logging.INFO, f"line {n}", request_id) for n in range(200)]
    processes = [agent(containers, port, tmp_path / "agent")]
    try:
        path = log_file(containers, "api-blue-1", "nox", "api")
        path.write_text("".join(piece for line in lines for piece in cri("stderr", line)))
        time.sleep(2)  # the agent has read the file and found no collector
        processes.append(collector(filed, port, tmp_path / "collector.log"))

        def all_lines() -> list[dict[str, str]] | None:
            found = filed_lines(filed, request_id)
            return found if len(found) >= len(lines) else None

        found = poll("every line once the collector is back", all_lines, 20)
        assert sorted(e["message"] for e in found) == sorted(f"line {n}" for n in range(200))
    finally:
        for process in reversed(processes):
            stopped(process)
