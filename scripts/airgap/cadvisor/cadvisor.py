#!/usr/bin/env python3
"""STAND-IN for cAdvisor's Prometheus endpoint (gcr.io/cadvisor/cadvisor, pinned upstream).

Why: cAdvisor cannot be fetched on the machines this project is built on (no registry, no
Debian package, no Go module proxy), so its series were never seen. This small exporter reads
what cAdvisor reads, from the same read-only mounts compose gives cAdvisor, so the monitoring
profile, its dashboard panels and its container alerts can be tested here. Production runs
the pinned upstream image, not this.

What it serves on :8080/metrics, per running Docker container, with cAdvisor's names and
labels (id="/docker/<full id>", name, image, and the whitelisted container_label_* labels,
"restartcount" among them: cAdvisor's Docker handler adds the engine's RestartCount to a
container's labels when it is above 0):
  container_cpu_usage_seconds_total{cpu="total"}  cpuacct.usage / 1e9
  container_memory_usage_bytes                    memory.usage_in_bytes
  container_memory_working_set_bytes              usage - total_inactive_file (>= 0), as cAdvisor
  container_spec_memory_limit_bytes               memory.limit_in_bytes, 0 when unlimited
  container_start_time_seconds                    the engine's Created, as cAdvisor's Docker
                                                  handler takes it (a restart in place keeps it)
  container_last_seen                             time of this scrape
cgroup v1 only (the kernel here has no v2 controllers); cgroupfs or systemd driver paths.
Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path(os.environ.get("CGROUP_ROOT", "/sys/fs/cgroup"))
DOCKER_SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
# cAdvisor reports an unlimited cgroup v1 limit (page-rounded 2^63-1) as 0
UNLIMITED = 1 << 62
# the labels cAdvisor is told to keep (--whitelisted_container_labels in compose.yaml)
DEFAULT_LABELS = "com.docker.compose.service,com.docker.swarm.service.name,restartcount"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def engine(path: str) -> Any:
    conn = UnixHTTPConnection(DOCKER_SOCKET)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"engine {path}: HTTP {response.status}")
        return json.loads(body)
    finally:
        conn.close()


def cgroup_dir(controller: str, container_id: str, parent: str) -> Path | None:
    for rel in (
        f"{parent.strip('/') or 'docker'}/{container_id}",
        f"system.slice/docker-{container_id}.scope",
    ):
        path = CGROUP_ROOT / controller / rel
        if path.is_dir():
            return path
    return None


def read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def memory_stat(path: Path) -> dict[str, int]:
    stats = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        stats[key] = int(value)
    return stats


def timestamp(text: str) -> float:
    # RFC 3339 with nanoseconds: keep microseconds for fromisoformat
    head, _, frac = text.rstrip("Z").partition(".")
    stamp = head + ("." + frac[:6] if frac else "") + "+00:00"
    return datetime.fromisoformat(stamp).timestamp()


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_name(key: str) -> str:
    return "container_label_" + "".join(c if c.isalnum() else "_" for c in key)


HELP = {
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed in seconds."),
    "container_memory_usage_bytes": ("gauge", "Current memory usage in bytes."),
    "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
    "container_spec_memory_limit_bytes": ("gauge", "Memory limit for the container."),
    "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch."),
    "container_last_seen": ("gauge", "Last time a container was seen by the exporter"),
}


def collect(kept_labels: list[str]) -> str:
    samples: dict[str, list[str]] = {name: [] for name in HELP}
    now = time.time()
    for summary in engine("/containers/json"):
        cid = summary["Id"]
        try:
            info = engine(f"/containers/{cid}/json")
        except OSError:
            continue  # gone between list and inspect
        parent = info.get("HostConfig", {}).get("CgroupParent") or "docker"
        cpu_dir = cgroup_dir("cpuacct", cid, parent)
        mem_dir = cgroup_dir("memory", cid, parent)
        if cpu_dir is None or mem_dir is None:
            continue
        labels = {
            "id": f"/{parent.strip('/')}/{cid}",
            "image": info.get("Config", {}).get("Image", summary.get("Image", "")),
            "name": info["Name"].lstrip("/"),
        }
        container_labels = dict(info.get("Config", {}).get("Labels") or {})
        if info.get("RestartCount", 0) > 0:  # as cAdvisor's Docker handler does
            container_labels["restartcount"] = str(info["RestartCount"])
        for key in kept_labels:
            labels[label_name(key)] = container_labels.get(key, "")
        try:
            cpu = read_int(cpu_dir / "cpuacct.usage") / 1e9
            usage = read_int(mem_dir / "memory.usage_in_bytes")
            inactive = memory_stat(mem_dir / "memory.stat").get("total_inactive_file", 0)
            limit = read_int(mem_dir / "memory.limit_in_bytes")
        except (OSError, ValueError):
            continue  # the container stopped while being read
        text = ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))
        samples["container_cpu_usage_seconds_total"].append(f'{{cpu="total",{text}}} {cpu}')
        samples["container_memory_usage_bytes"].append(f"{{{text}}} {usage}")
        samples["container_memory_working_set_bytes"].append(
            f"{{{text}}} {max(usage - inactive, 0)}"
        )
        samples["container_spec_memory_limit_bytes"].append(
            f"{{{text}}} {0 if limit > UNLIMITED else limit}"
        )
        samples["container_start_time_seconds"].append(f"{{{text}}} {timestamp(info['Created'])}")
        samples["container_last_seen"].append(f"{{{text}}} {now}")
    out = []
    for name, (kind, help_text) in HELP.items():
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        out += [name + sample for sample in samples[name]]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-port", "--port", type=int, default=8080)
    parser.add_argument(
        "-whitelisted_container_labels", "--whitelisted_container_labels", default=DEFAULT_LABELS
    )
    # cAdvisor's other flags (compose passes some) are accepted and have no effect here
    args, ignored = parser.parse_known_args()
    kept = [k for k in args.whitelisted_container_labels.split(",") if k]
    print(f"cadvisor STAND-IN on :{args.port} (ignoring {ignored})", file=sys.stderr)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] in ("/healthz",):
                body, status = b"ok", 200
            elif self.path.split("?")[0] == "/metrics":
                try:
                    body, status = collect(kept).encode(), 200
                except OSError as exc:
                    body, status = f"engine unreachable: {exc}\n".encode(), 500
            else:
                body, status = b"not found\n", 404
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    http.server.ThreadingHTTPServer(("", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
