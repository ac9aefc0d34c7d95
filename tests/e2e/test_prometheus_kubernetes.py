"""Debian's Prometheus runs monitoring/prometheus/kubernetes.yml's relabelling on targets
shaped as the API server describes pods and nodes: each job keeps exactly its pods, by name
label and port name, running ones only, labelled with namespace, pod and environment.

Discovery itself is swapped for files (tests/unit/k8s_scrape.py: Debian builds Prometheus
without Kubernetes discovery); nothing is scraped for real, the targets are closed ports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.test_prometheus_live import HINT, poll, start, stop
from tests.prereq import require_binary
from tests.services import free_port, wait_for_port
from tests.unit.k8s_scrape import with_file_discovery

pytestmark = pytest.mark.e2e


def pod(address: str, app: str, port: str, name: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "targets": [address],
        "labels": {
            "__meta_kubernetes_namespace": "nox-staging",
            "__meta_kubernetes_pod_name": name,
            "__meta_kubernetes_pod_phase": phase,
            "__meta_kubernetes_pod_node_name": "node-a",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": app,
            "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "nox-staging",
            "__meta_kubernetes_pod_container_port_name": port,
        },
    }


PODS = [
    pod("127.0.0.2:8000", "nox-api", "http", "api-blue-1"),
    pod("127.0.0.3:8000", "nox-api", "http", "api-blue-2", phase="Pending"),
    pod("127.0.0.4:8001", "nox-executor", "http", "executor-1"),
    pod("127.0.0.5:5432", "postgres", "postgres", "postgres-0"),
    pod("127.0.0.6:9187", "postgres-exporter", "metrics", "postgres-exporter-1"),
    pod("127.0.0.7:9121", "redis-exporter", "metrics", "redis-exporter-1"),
    pod("127.0.0.8:9100", "node-exporter", "metrics", "node-exporter-x"),
    pod("127.0.0.9:8080", "somebody-else", "metrics", "other-1"),
]
NODES = [{"targets": ["127.0.0.10:10250"], "labels": {"__meta_kubernetes_node_name": "node-a"}}]


def cluster_ca() -> bytes:
    """A CA certificate such as a pod's service account carries (Prometheus loads it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    binary = require_binary("prometheus", HINT)
    (tmp_path / "pod.json").write_text(json.dumps(PODS))
    (tmp_path / "node.json").write_text(json.dumps(NODES))
    (tmp_path / "ca.crt").write_bytes(cluster_ca())
    config = with_file_discovery(tmp_path)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = start(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_each_job_keeps_its_running_pods_with_their_labels(prometheus: str) -> None:
    def active() -> list[dict[str, Any]] | None:
        answer = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()
        found: list[dict[str, Any]] = answer["data"]["activeTargets"]
        return found if len({t["labels"]["job"] for t in found}) >= 7 else None

    targets = poll("targets of every job", active, 20)
    kept = {(t["labels"]["job"], t["labels"].get("pod", "")): t for t in targets}
    assert set(kept) == {
        ("nox-api", "api-blue-1"),
        ("nox-executor", "executor-1"),
        ("postgres", "postgres-exporter-1"),
        ("redis", "redis-exporter-1"),
        ("node", ""),
        ("cadvisor", ""),
        ("prometheus", ""),
    }
    api = kept[("nox-api", "api-blue-1")]["labels"]
    assert api["namespace"] == "nox-staging" and api["environment"] == "nox-staging"
    assert api["instance"] == "127.0.0.2:8000"
    assert kept[("node", "")]["labels"]["node"] == "node-a"
    cadvisor = kept[("cadvisor", "")]
    assert cadvisor["scrapeUrl"] == "https://127.0.0.10:10250/metrics/cadvisor"
    assert cadvisor["labels"]["node"] == "node-a"
