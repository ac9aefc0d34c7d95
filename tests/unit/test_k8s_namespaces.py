"""Untrusted code in its own namespace: the executor alone in a "privileged" namespace, every
other pod in one that enforces "restricted" and meets it, each namespace named once per
environment, and the network paths between them exactly api -> executor."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deploy.k8s import namespaces
from tests.unit.k8s_manifests import (
    K8S_DIR,
    OVERLAYS,
    Doc,
    build,
    env_value,
    find,
    namespace_of,
    of_kind,
    pod_template,
    workloads,
)
from tests.unit.pod_security import restricted_violations

PSS = "pod-security.kubernetes.io/"


def labels_of(docs: list[Doc], namespace: str) -> dict[str, str]:
    return dict(find(docs, "Namespace", namespace)["metadata"]["labels"])


def in_namespace(docs: list[Doc], namespace: str) -> list[Doc]:
    return [d for d in docs if d["metadata"].get("namespace") == namespace]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deploy_tool_reads_the_namespaces_where_the_overlay_names_them(overlay: str) -> None:
    docs = build(overlay)
    app, sandbox = namespaces(K8S_DIR, overlay)
    assert app == namespace_of(docs, "Deployment", "api-blue")
    assert sandbox == namespace_of(docs, "Deployment", "executor")
    assert sorted(d["metadata"]["name"] for d in of_kind(docs, "Namespace")) == sorted(
        [app, sandbox]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_sandbox_namespace_is_privileged_and_it_holds_only_the_executor(
    overlay: str,
) -> None:
    docs = build(overlay)
    app, sandbox = namespaces(K8S_DIR, overlay)
    assert labels_of(docs, sandbox)[f"{PSS}enforce"] == "privileged"
    for mode in ("enforce", "warn", "audit"):
        assert labels_of(docs, app)[f"{PSS}{mode}"] == "restricted", mode
    there = {(d["kind"], d["metadata"]["name"]) for d in in_namespace(docs, sandbox)}
    assert [name for name, _ in workloads(in_namespace(docs, sandbox))] == ["Deployment/executor"]
    assert ("Service", "executor") in there and ("PodDisruptionBudget", "executor") in there


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_of_the_restricted_namespace_meets_restricted(overlay: str) -> None:
    docs = build(overlay)
    app, _ = namespaces(K8S_DIR, overlay)
    checked = 0
    for name, spec in workloads(in_namespace(docs, app)):
        assert restricted_violations(spec) == [], name
        checked += 1
    assert checked >= 6, "api slots, postgres, redis, migrate, backup"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_executor_would_be_refused_by_restricted(overlay: str) -> None:
    """Why it needs its own namespace: the checker refuses what bubblewrap needs."""
    spec = pod_template(find(build(overlay), "Deployment", "executor"))["spec"]
    assert restricted_violations(spec) == ["executor: procMount Unmasked"]


def test_the_checker_catches_each_kind_of_violation() -> None:
    bad = {
        "hostPID": True,
        "securityContext": {"runAsUser": 0},
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}],
                        "securityContext": {"privileged": True,
                                            "capabilities": {"add": ["SYS_ADMIN"]}}}],
    }  # fmt: skip
    found = " | ".join(restricted_violations(bad))
    for expected in ("hostPID", "hostPath", "privileged", "hostPort", "runAsUser 0",
                     "allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile None",
                     "not dropping ALL", "SYS_ADMIN", "volume host"):  # fmt: skip
        assert expected in found, expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_calls_the_executor_in_its_namespace(overlay: str) -> None:
    docs = build(overlay)
    _, sandbox = namespaces(K8S_DIR, overlay)
    api = pod_template(find(docs, "Deployment", "api-green"))["spec"]["containers"][0]
    url = urlsplit(env_value(api, "NOX_EXECUTOR_URL", docs))
    assert url.hostname == f"executor.{sandbox}.svc"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_names_each_namespace_once(overlay: str) -> None:
    """The names are in overlays/<env>/{app,sandbox}; nowhere else in the overlay or base."""
    app, sandbox = namespaces(K8S_DIR, overlay)
    overlay_dir = K8S_DIR / "overlays" / overlay
    texts = {p: p.read_text() for p in overlay_dir.rglob("*.yaml")}
    for name, home in ((app, "app"), (sandbox, "sandbox")):
        holders = [p for p, t in texts.items() if f"namespace: {name}\n" in t]
        assert holders == [overlay_dir / home / "kustomization.yaml"], name
    base = "".join(p.read_text() for p in Path(K8S_DIR / "base").rglob("*.yaml"))
    assert overlay == "prod" or app not in base
