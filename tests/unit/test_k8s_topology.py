"""Blue/green slots, availability objects and network policies of every overlay."""

from __future__ import annotations

import ipaddress

import pytest

from tests.unit.k8s_manifests import (
    OVERLAYS,
    Doc,
    build,
    find,
    namespace_of,
    of_kind,
    pod_template,
    workloads,
)

SLOTS = ("blue", "green")
PRIVATE = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
METADATA = ipaddress.IPv4Network("169.254.169.254/32")


def slot_of(docs: list[Doc], service: str) -> str:
    selector = find(docs, "Service", service)["spec"]["selector"]
    assert selector["app.kubernetes.io/name"] == "nox-api"
    return str(selector["slot"])


def image_of(docs: list[Doc], kind: str, name: str) -> str:
    return str(pod_template(find(docs, kind, name))["spec"]["containers"][0]["image"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_api_slots_exist_and_select_only_their_pods(overlay: str) -> None:
    docs = build(overlay)
    for slot in SLOTS:
        deployment = find(docs, "Deployment", f"api-{slot}")
        assert deployment["spec"]["selector"]["matchLabels"]["slot"] == slot
        assert pod_template(deployment)["metadata"]["labels"]["slot"] == slot


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_serves_one_slot_and_preview_the_other(overlay: str) -> None:
    docs = build(overlay)
    active, idle = slot_of(docs, "api"), slot_of(docs, "api-preview")
    assert {active, idle} == set(SLOTS)
    [rule] = find(docs, "HTTPRoute", "nox")["spec"]["rules"]
    assert [(b["name"], b["port"]) for b in rule["backendRefs"]] == [("api", 8000)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_active_slot_runs_the_release_the_executor_and_jobs_run(overlay: str) -> None:
    docs = build(overlay)
    active = image_of(docs, "Deployment", f"api-{slot_of(docs, 'api')}")
    assert active == image_of(docs, "Deployment", "executor")
    assert active == image_of(docs, "Job", "nox-migrate")
    assert active == image_of(docs, "CronJob", "nox-backup")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_slot_autoscales_and_survives_drains(overlay: str) -> None:
    docs = build(overlay)
    for slot in SLOTS:
        hpa = find(docs, "HorizontalPodAutoscaler", f"api-{slot}")
        pdb = find(docs, "PodDisruptionBudget", f"api-{slot}")
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"api-{slot}"
        assert pdb["spec"]["selector"]["matchLabels"]["slot"] == slot
        # A budget equal to the minimum replica count would block every node drain.
        assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
        assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]


def policies_for(docs: list[Doc], app: str, direction: str) -> list[Doc]:
    found = []
    for policy in of_kind(docs, "NetworkPolicy"):
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not spec["podSelector"]:
            continue
        selector = spec["podSelector"]
        names = {selector.get("matchLabels", {}).get("app.kubernetes.io/name")}
        for expression in selector.get("matchExpressions", []):
            names |= set(expression["values"])
        if app in names:
            found.append(policy)
    return found


def peer_label(peer: Doc) -> str:
    """``app`` (same namespace), ``namespace/app`` or ``namespace/*``, or ``ipBlock``."""
    if "ipBlock" in peer:
        return "ipBlock"
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    app = pods.get("app.kubernetes.io/name") or pods.get("k8s-app", "*")
    if "namespaceSelector" not in peer:
        return str(app)
    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    return f"{namespace}/{app}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_denied_unless_a_policy_allows_it(overlay: str) -> None:
    docs = build(overlay)
    denying = {
        doc["metadata"]["namespace"]
        for doc in of_kind(docs, "NetworkPolicy")
        if doc["metadata"]["name"] == "default-deny"
        and doc["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }
    assert denying == {doc["metadata"]["name"] for doc in of_kind(docs, "Namespace")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_reaches_only_postgres_redis_executor_in_cluster(overlay: str) -> None:
    docs = build(overlay)
    sandbox = namespace_of(docs, "Deployment", "executor")
    reached: dict[str, set[int]] = {}
    for policy in policies_for(docs, "nox-api", "Egress"):
        for rule in policy["spec"]["egress"]:
            for peer in rule["to"]:
                ports = {p["port"] for p in rule["ports"]}
                reached.setdefault(peer_label(peer), set()).update(ports)
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    excluded = [ipaddress.IPv4Network(n) for n in block["except"]]
                    assert all(n in excluded for n in PRIVATE), "cluster ranges stay closed"
                    assert any(METADATA.subnet_of(n) for n in excluded), "metadata address"
    assert reached == {
        "postgres": {5432},
        "redis": {6379},
        f"{sandbox}/nox-executor": {8001},
        "kube-system/kube-dns": {53},
        "ipBlock": {443},
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_executor_has_no_egress_and_only_api_and_monitoring_reach_it(overlay: str) -> None:
    docs = build(overlay)
    assert policies_for(docs, "nox-executor", "Egress") == []
    [ingress] = policies_for(docs, "nox-executor", "Ingress")
    peers = {peer_label(p) for rule in ingress["spec"]["ingress"] for p in rule["from"]}
    api = namespace_of(docs, "Deployment", "api-blue")
    assert peers == {f"{api}/nox-api", "monitoring/*"}
    sandbox = namespace_of(docs, "Deployment", "executor")
    in_sandbox = [
        d for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["namespace"] == sandbox
    ]
    assert {d["metadata"]["name"] for d in in_sandbox} == {"default-deny", "executor-ingress"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_is_reached_from_the_gateway_and_monitoring_only(overlay: str) -> None:
    [ingress] = policies_for(build(overlay), "nox-api", "Ingress")
    peers = {peer_label(p) for rule in ingress["spec"]["ingress"] for p in rule["from"]}
    assert peers == {"nox-gateway/*", "monitoring/*"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_datastores_accept_only_nox_components(overlay: str) -> None:
    docs = build(overlay)
    for store, allowed in (
        ("postgres", {"nox-api", "nox-migrate", "nox-backup", "postgres-exporter"}),
        ("redis", {"nox-api", "nox-backup", "redis-exporter"}),
    ):
        [policy] = policies_for(docs, store, "Ingress")
        sources: set[str] = set()
        for rule in policy["spec"]["ingress"]:
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, "same namespace only"
                for expression in peer["podSelector"]["matchExpressions"]:
                    sources |= set(expression["values"])
        assert sources == allowed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_executor_survives_deploys_and_drains(overlay: str) -> None:
    docs = build(overlay)
    executor = find(docs, "Deployment", "executor")
    assert executor["spec"]["replicas"] >= 2
    strategy = executor["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    pdb = find(docs, "PodDisruptionBudget", "executor")
    labels = pod_template(executor)["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # The budget must leave at least one executor while still allowing a drain.
    assert pdb["spec"]["maxUnavailable"] == 1
    anti = pod_template(executor)["spec"]["affinity"]["podAntiAffinity"]
    [term] = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_executor_replica_mounts_the_shared_workspaces(overlay: str) -> None:
    docs = build(overlay)
    volumes = pod_template(find(docs, "Deployment", "executor"))["spec"]["volumes"]
    [claim] = [
        v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v
    ]
    assert find(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_untrusted_code_runs_only_on_the_executor_pool(overlay: str) -> None:
    pool = {"nox.dev/pool": "executor"}
    for name, spec in workloads(build(overlay)):
        tolerated = {(t["key"], t.get("value")) for t in spec.get("tolerations", [])}
        if name == "Deployment/executor":
            assert spec["nodeSelector"] == pool
            assert ("nox.dev/pool", "executor") in tolerated
        else:  # nothing else tolerates the pool's taint, so nothing else lands there
            assert ("nox.dev/pool", "executor") not in tolerated, name
