"""Monitoring on Kubernetes, as rendered: the exporters of each environment and the per-cluster
log pipeline and node agents (k8s/cluster); namespaces and their Pod Security levels, the
NetworkPolicies around them, images from their one pin, and the Prometheus scrape config
(monitoring/prometheus/kubernetes.yml) against the pods it must find."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.k8s import namespaces
from tests.prereq import require_binary
from tests.unit.k8s_manifests import (
    K8S_DIR,
    OVERLAYS,
    ROOT,
    Doc,
    build,
    cluster,
    cluster_text,
    containers,
    find,
    kubectl,
    of_kind,
    pod_template,
    workloads,
)
from tests.unit.k8s_scrape import K8S_SCRAPE, with_file_discovery
from tests.unit.pod_security import restricted_violations
from tests.unit.promql_names import PROMETHEUS_DIR, PROMTOOL_HINT
from tests.unit.test_k8s_build import validate

PSS = "pod-security.kubernetes.io/enforce"
IMAGES = K8S_DIR / "components" / "monitoring-images" / "kustomization.yaml"
EXPORTER_PORTS = {"postgres-exporter": 9187, "redis-exporter": 9121}


def in_namespace(docs: list[Doc], namespace: str) -> list[Doc]:
    return [d for d in docs if d["metadata"].get("namespace") == namespace]


def ingress_peers(docs: list[Doc], app: str) -> dict[str, set[int]]:
    """Who may reach pods labelled ``app``: ``namespace/app`` (or ``namespace/*``) -> ports."""
    peers: dict[str, set[int]] = {}
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        selector = spec["podSelector"]
        names = {selector.get("matchLabels", {}).get("app.kubernetes.io/name")}
        for expression in selector.get("matchExpressions", []):
            names |= set(expression["values"])
        if "Ingress" not in spec["policyTypes"] or app not in names:
            continue
        for rule in spec.get("ingress", []):
            for peer in rule["from"]:
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                pods = peer.get("podSelector", {}).get("matchLabels", {})
                source = namespace.get("kubernetes.io/metadata.name")
                source = source or policy["metadata"]["namespace"]
                label = f"{source}/{pods.get('app.kubernetes.io/name', '*')}"
                peers.setdefault(label, set()).update(p["port"] for p in rule["ports"])
    return peers


def test_the_cluster_build_passes_strict_schema_validation() -> None:
    result = validate(cluster_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_collector_meets_restricted_and_only_agents_may_read_the_node() -> None:
    docs = cluster()
    assert find(docs, "Namespace", "nox-logs")["metadata"]["labels"][PSS] == "restricted"
    assert find(docs, "Namespace", "nox-node-agents")["metadata"]["labels"][PSS] == "privileged"
    for name, spec in workloads(in_namespace(docs, "nox-logs")):
        assert restricted_violations(spec) == [], name
    agents = dict(workloads(in_namespace(docs, "nox-node-agents")))
    assert sorted(agents) == ["DaemonSet/log-agent", "DaemonSet/node-exporter"]


@pytest.mark.parametrize("agent", ["log-agent", "node-exporter"])
def test_node_agents_read_the_node_and_nothing_more(agent: str) -> None:
    spec = pod_template(find(cluster(), "DaemonSet", agent))["spec"]
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(field), field
    assert spec["automountServiceAccountToken"] is False
    [container] = containers(spec)
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert not context.get("privileged")
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    writable = {m["name"] for m in container["volumeMounts"] if not m.get("readOnly")}
    # the log agent writes its file positions, in a directory of its own; nothing else
    assert writable & set(host) == ({"positions"} if agent == "log-agent" else set())
    if agent == "log-agent":
        assert host["positions"] == "/var/lib/nox-log-agent"
        assert host["varlog"] == "/var/log"
    else:
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_the_log_agent_keeps_exactly_the_namespaces_of_the_overlays() -> None:
    [container] = pod_template(find(cluster(), "DaemonSet", "log-agent"))["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    kept = re.compile(env["LOGS_NAMESPACES"])
    ours = {name for overlay in OVERLAYS for name in namespaces(K8S_DIR, overlay)}
    assert all(kept.search(name) for name in ours)
    for other in ("kube-system", "nox-logs", "nox-node-agents", "monitoring", "noxious"):
        assert not kept.search(other), other
    assert env["LOGS_COLLECTOR_HOST"] == "logs-collector.nox-logs.svc"


def test_the_collector_runs_the_compose_collectors_files_unchanged() -> None:
    docs = cluster()
    for namespace in ("nox-logs", "nox-node-agents"):
        [config] = of_kind(in_namespace(docs, namespace), "ConfigMap")
        for key in ("syslog-ng.conf", "k8s-agent.conf", "collector.sh"):
            assert config["data"][key] == (ROOT / "monitoring" / "logs" / key).read_text()
    collector = pod_template(find(docs, "StatefulSet", "logs-collector"))["spec"]
    [container] = collector["containers"]
    assert container["command"] == [
        "sh",
        "/etc/syslog-ng/nox/collector.sh",  # the entry point compose runs: retention
        "/etc/syslog-ng/nox/syslog-ng.conf",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    env_example = (ROOT / ".env.example").read_text()
    assert f"LOGS_RETENTION_DAYS={env['LOGS_RETENTION_DAYS']}\n" in env_example


def test_network_paths_of_the_cluster_agents() -> None:
    docs = cluster()
    for namespace in ("nox-logs", "nox-node-agents"):
        deny = find(in_namespace(docs, namespace), "NetworkPolicy", "default-deny")
        assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert ingress_peers(docs, "node-exporter") == {"monitoring/*": {9100}}
    assert ingress_peers(docs, "logs-collector") == {"nox-node-agents/log-agent": {5514}}
    assert ingress_peers(docs, "log-agent") == {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_reaches_the_exporters_and_nothing_else_of_the_datastores(overlay: str) -> None:
    docs = build(overlay)
    for exporter, port in EXPORTER_PORTS.items():
        assert ingress_peers(docs, exporter) == {"monitoring/*": set(EXPORTER_PORTS.values())}
        [container] = pod_template(find(docs, "Deployment", exporter))["spec"]["containers"]
        assert container["ports"] == [{"name": "metrics", "containerPort": port}]
    for store in ("postgres", "redis"):
        assert not any(peer.startswith("monitoring/") for peer in ingress_peers(docs, store))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_exporters_read_passwords_from_files_only(overlay: str) -> None:
    docs = build(overlay)
    for exporter, secret in (
        ("postgres-exporter", "nox-postgres"),
        ("redis-exporter", "nox-redis"),
    ):
        spec = pod_template(find(docs, "Deployment", exporter))["spec"]
        mounted = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        assert mounted == {secret}
        for container in containers(spec):
            assert all("valueFrom" not in e for e in container.get("env", [])), exporter


def pinned() -> dict[str, str]:
    """Image name in the manifests -> the pinned reference."""
    component = yaml.safe_load(IMAGES.read_text())
    return {i["name"]: f"{i['newName']}:{i['newTag']}" for i in component["images"]}


def test_monitoring_images_are_pinned_once_at_the_compose_release() -> None:
    env = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+_IMAGE=", line)
    )
    compose = {
        "postgres-exporter": env["POSTGRES_EXPORTER_IMAGE"],
        "redis-exporter": env["REDIS_EXPORTER_IMAGE"],
        "node-exporter": env["NODE_EXPORTER_IMAGE"],
        "syslog-ng": env["LOGS_IMAGE"],
    }
    refs = pinned()
    assert sorted(refs) == sorted(compose)
    for name, ref in refs.items():
        assert re.search(r"@sha256:[0-9a-f]{64}$", ref), ref
        assert ref.split("@")[0].split(":")[-1] == compose[name].split(":")[-1], name


def rendered_images(docs: list[Doc]) -> set[str]:
    return {c["image"] for _, spec in workloads(docs) for c in containers(spec)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_monitoring_images_come_from_the_pin(overlay: str) -> None:
    refs = set(pinned().values())
    assert rendered_images(cluster()) <= refs
    exporters = [d for d in build(overlay) if d["metadata"]["name"] in EXPORTER_PORTS]
    assert rendered_images(exporters) <= refs
    nowhere_else = [p for p in K8S_DIR.rglob("*.yaml") if p != IMAGES]
    for path in nowhere_else:
        text = path.read_text()
        assert not any(ref.split(":")[0] in text for ref in refs), path


def scrape_jobs(path: Path) -> dict[str, Any]:
    return {job["job_name"]: job for job in yaml.safe_load(path.read_text())["scrape_configs"]}


def test_kubernetes_scrape_config_has_the_compose_jobs() -> None:
    """The rules name jobs; both configs must use the same names."""
    assert set(scrape_jobs(K8S_SCRAPE)) == set(scrape_jobs(PROMETHEUS_DIR / "prometheus.yml"))


def test_kubernetes_scrape_config_passes_promtool(tmp_path: Path) -> None:
    """promtool checks everything but the discovery block (tests/unit/k8s_scrape.py)."""
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(with_file_discovery(tmp_path)))
    promtool = require_binary("promtool", PROMTOOL_HINT)
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = len(list((PROMETHEUS_DIR / "rules").glob("*.yml")))
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout + result.stderr


def kept_pods(job: dict[str, Any]) -> tuple[str, str]:
    """(app.kubernetes.io/name, port name) a pod job's first relabelling keeps."""
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep" and keep["source_labels"] == [
        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "__meta_kubernetes_pod_container_port_name",
    ]
    app, port = keep["regex"].split(";")
    return app, port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_job_finds_a_rendered_pod_with_its_port(overlay: str) -> None:
    rendered: set[tuple[str, str]] = set()
    for doc in [*build(overlay), *cluster()]:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            template = pod_template(doc)
            app = template["metadata"]["labels"]["app.kubernetes.io/name"]
            for container in template["spec"]["containers"]:
                rendered |= {(app, port["name"]) for port in container.get("ports", [])}
    jobs = scrape_jobs(K8S_SCRAPE)
    pod_jobs = [j for j in jobs.values() if j.get("kubernetes_sd_configs") == [{"role": "pod"}]]
    assert {j["job_name"] for j in pod_jobs} == {
        "nox-api",
        "nox-executor",
        "postgres",
        "redis",
        "node",
    }
    for job in pod_jobs:
        assert kept_pods(job) in rendered, job["job_name"]
    assert jobs["cadvisor"]["metrics_path"] == "/metrics/cadvisor"


def test_the_example_rbac_grants_what_the_scrape_config_reads() -> None:
    path = K8S_DIR / "examples" / "prometheus-rbac.yaml"
    result = validate(path.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    [role] = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] == "ClusterRole"]
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    roles = {
        sd["role"]
        for job in scrape_jobs(K8S_SCRAPE).values()
        for sd in job.get("kubernetes_sd_configs", [])
    }
    needed = {("nodes/metrics", "get")} if "node" in roles else set()
    for role_name in roles:
        needed |= {(f"{role_name}s", verb) for verb in ("list", "watch")}
    assert needed <= granted
    assert not any(verb in {"create", "update", "patch", "delete"} for _, verb in granted)


def test_a_cluster_with_its_own_node_exporter_can_leave_ours_out(tmp_path: Path) -> None:
    """The overlay docs/kubernetes.md describes: k8s/cluster less DaemonSet/node-exporter."""
    overlay = {
        "resources": [os.path.relpath(K8S_DIR / "cluster", tmp_path)],
        "patches": [
            {
                "patch": "$patch: delete\napiVersion: apps/v1\nkind: DaemonSet\n"
                "metadata: {name: node-exporter, namespace: nox-node-agents}\n"
            }
        ],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    result = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["metadata"]["name"] for d in of_kind(docs, "DaemonSet")] == ["log-agent"]
