"""The Kubernetes log pods (k8s/cluster) as their manifests run them, in the syslog-ng
stand-in image (scripts/airgap-images.sh, Debian's syslog-ng-core): the collector as uid
65534 on a read-only root without capabilities, the agent as uid 0 without capabilities
reading a root-owned 0640 CRI file (as the kubelet writes them) and keeping its positions
in its own directory; one Nox line goes from the file to the collector's filing.

Docker stands in for the kubelet: user, read-only root, dropped capabilities, no new
privileges and the mounts come from the rendered pods; the Service name becomes a network
alias; the volume's fsGroup becomes a directory owned by the collector's uid.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from app.observability.context import request_id_var
from app.observability.logging import JsonFormatter
from tests.container.engine import PREFIX, REPO, run
from tests.e2e.test_prometheus_live import poll
from tests.prereq import require
from tests.unit.k8s_manifests import cluster, find, pod_template

LOGS = REPO / "monitoring" / "logs"


def pod(kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod security context, the one container) of a rendered workload."""
    spec = pod_template(find(cluster(), kind, name))["spec"]
    [container] = spec["containers"]
    return spec["securityContext"], container


def docker_run(
    name: str,
    network: str,
    image: str,
    workload: tuple[str, str],
    mounts: dict[str, str],
    alias: str = "",
) -> None:
    """The workload's container under Docker, with the user and lockdown its pod asks for."""
    context, container = pod(*workload)
    locked = container["securityContext"]
    assert locked["capabilities"] == {"drop": ["ALL"]} and locked["readOnlyRootFilesystem"]
    user = f"{context['runAsUser']}:{context['runAsGroup']}"
    argv = ["docker", "run", "-d", "--name", name, "--network", network, "--user", user]
    argv += ["--network-alias", alias] if alias else []
    argv += ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    for target, source in mounts.items():
        path, _, mode = source.partition(":")  # "<host path>[:ro]", or "tmpfs"
        volume = f"{path}:{target}:{mode}" if mode else f"{path}:{target}"
        argv += ["--tmpfs", target] if source == "tmpfs" else ["-v", volume]
    for env in container["env"]:
        argv += ["-e", f"{env['name']}={env['value']}"]
    [command, *args] = container["command"]
    run([*argv, "--entrypoint", command, image, *args])


def cri_files(var_log: Path, line: str) -> None:
    """/var/log as a kubelet leaves it: the file under pods/, owned by root, mode 0640, and
    the link to it in containers/; the line split into a P and an F piece."""
    pod_dir = var_log / "pods" / "nox_api-blue-1_0d7c" / "api"
    pod_dir.mkdir(parents=True)
    (var_log / "containers").mkdir()
    log = pod_dir / "0.log"
    log.write_text(
        f"2026-11-29T06:00:00.1Z stdout P {line[:25]}\n"
        f"2026-11-29T06:00:00.1Z stdout F {line[25:]}\n"
    )
    os.chown(log, 0, 0)
    log.chmod(0o640)
    link = var_log / "containers" / f"api-blue-1_nox_api-{'d' * 64}.log"
    link.symlink_to(Path("/var/log") / log.relative_to(var_log))


def test_the_agent_and_collector_pods_ship_a_line_under_their_lockdown(
    tmp_path: Path, base_images: dict[str, str]
) -> None:
    require(os.geteuid() == 0, "run as root: the test writes root- and 65534-owned files")
    image = base_images["LOGS_IMAGE"]
    request_id = uuid.uuid4().hex
    token = request_id_var.set(request_id)
    record = logging.LogRecord("nox.http", logging.INFO, __file__, 1, "shipped", None, None)
    line = JsonFormatter().format(record)
    request_id_var.reset(token)
    var_log, filed, positions = tmp_path / "var-log", tmp_path / "filed", tmp_path / "positions"
    cri_files(var_log, line)
    filed.mkdir()
    os.chown(filed, 65534, 65534)  # what the pod's fsGroup does to the volume
    _, agent_container = pod("DaemonSet", "log-agent")
    collector_host = next(
        e["value"] for e in agent_container["env"] if e["name"] == "LOGS_COLLECTOR_HOST"
    )
    suffix = uuid.uuid4().hex[:6]
    network, collector, agent = (f"{PREFIX}-k8slogs-{part}-{suffix}" for part in ("net", "c", "a"))
    run(["docker", "network", "create", network])
    try:
        docker_run(
            collector,
            network,
            image,
            ("StatefulSet", "logs-collector"),
            {"/etc/syslog-ng/nox": f"{LOGS}:ro", "/var/log/nox": str(filed), "/tmp": "tmpfs"},
            alias=collector_host,  # the Service's name
        )
        docker_run(
            agent,
            network,
            image,
            ("DaemonSet", "log-agent"),
            {
                "/etc/syslog-ng/nox": f"{LOGS}:ro",
                "/var/log": f"{var_log}:ro",
                "/var/lib/nox-log-agent": str(positions),
                "/run/syslog-ng": "tmpfs",
            },
        )

        def filed_line() -> dict[str, str] | None:
            for path in filed.rglob("*.jsonl"):
                for text in path.read_text().splitlines():
                    if request_id in text:
                        entry: dict[str, str] = json.loads(text)
                        entry["_path"] = str(path.relative_to(filed))
                        return entry
            return None

        entry = poll("the line filed by the collector", filed_line, 30)
        assert entry["_path"].startswith("api/info/") and entry["message"] == "shipped"
        assert entry["k8s_namespace"] == "nox" and entry["k8s_pod"] == "api-blue-1"
        assert (positions / "persist").is_file(), "the agent keeps its file positions"
    finally:
        run(["docker", "rm", "-f", agent, collector], check=False)
        run(["docker", "network", "rm", network], check=False)
