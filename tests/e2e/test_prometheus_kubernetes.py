"""Debian's Prometheus runs monitoring/prometheus/kubernetes.yml's relabelling on targets
shaped as the API server describes pods and nodes: each job keeps exactly its pods, by name
label and port name, running ones only, labelled with namespace, pod and environment.

Discovery itself is swapped for files (tests/unit/k8s_scrape.py: Debian builds Prometheus
without Kubernetes discovery). The pods' targets are closed ports; the kubelet is a stand-in
serving cAdvisor's series over TLS, with a certificate of the cluster CA the config verifies.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.test_prometheus_live import HINT, poll, query, running_prometheus
from tests.prereq import require_binary
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
KUBELET_IP = "127.0.0.10"


def certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ip: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if ip:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(item: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    return item.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def kubelet_tls(workdir: Path) -> ssl.SSLContext:
    """The cluster CA (in ca.crt, as a pod's service account has it) and a kubelet serving
    certificate it signed for KUBELET_IP."""
    ca_key, kubelet_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = certificate("kubernetes", ca_key)
    kubelet = certificate("node-a", kubelet_key, issuer=(ca.subject, ca_key), ip=KUBELET_IP)
    (workdir / "ca.crt").write_bytes(pem(ca))
    (workdir / "kubelet.crt").write_bytes(pem(kubelet))
    (workdir / "kubelet.key").write_bytes(pem(kubelet_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "kubelet.crt", workdir / "kubelet.key")
    return context


# The kubelet's cAdvisor as it labels series: a container, its pod's cgroup, the node's root.
CGROUPS = [
    ("api", "/kubepods/pod1/c1", "c1f00d", "nox-staging", "api-blue-1", 12.5),
    ("", "/kubepods/pod1", "", "nox-staging", "api-blue-1", 13),
    ("", "/", "", "", "", 100),
]
CADVISOR = "# TYPE container_cpu_usage_seconds_total counter\n" + "".join(
    f'container_cpu_usage_seconds_total{{container="{c}",id="{i}",name="{n}",'
    f'namespace="{ns}",pod="{p}"}} {v}\n'
    for c, i, n, ns, p, v in CGROUPS
)


class Kubelet(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        body = CADVISOR.encode() if self.path == "/metrics/cadvisor" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus-kubernetes")


@pytest.fixture(scope="module")
def kubelet(workdir: Path) -> Iterator[int]:
    context = kubelet_tls(workdir)
    server = ThreadingHTTPServer((KUBELET_IP, 0), Kubelet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# One Prometheus for the module: it takes about 5 s to first apply discovered targets.
@pytest.fixture(scope="module")
def prometheus(workdir: Path, kubelet: int) -> Iterator[str]:
    binary = require_binary("prometheus", HINT)
    (workdir / "pod.json").write_text(json.dumps(PODS))
    node = {
        "targets": [f"{KUBELET_IP}:{kubelet}"],
        "labels": {"__meta_kubernetes_node_name": "node-a"},
    }
    (workdir / "node.json").write_text(json.dumps([node]))
    config = with_file_discovery(workdir)
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    with running_prometheus(binary, config, workdir) as url:
        yield url


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
    assert cadvisor["scrapeUrl"].startswith(f"https://{KUBELET_IP}:")
    assert cadvisor["scrapeUrl"].endswith("/metrics/cadvisor")
    assert cadvisor["labels"]["node"] == "node-a"


def test_the_kubelets_cadvisor_is_scraped_over_verified_tls_and_named_for_the_dashboard(
    prometheus: str,
) -> None:
    """The dashboard's container panels read ``sum by (name) (...{name!=""})``."""

    def series() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = query(
            prometheus, 'container_cpu_usage_seconds_total{job="cadvisor"}'
        )
        return found if len(found) == 3 else None

    found = poll("the kubelet's cAdvisor series", series, 20)
    names = sorted(s["metric"].get("name", "") for s in found)
    assert names == ["", "", "nox-staging/api-blue-1/api"]
    assert all(s["metric"]["node"] == "node-a" for s in found)
    assert ("/metrics/cadvisor", "Bearer stand-in") in Kubelet.seen
