"""Kubernetes preflight: ask the cluster whether the executor's isolation will hold there.

Before 1.33 the ``UserNamespacesSupport`` and ``ProcMountType`` feature gates are off by
default, and where a gate is off the API server drops ``hostUsers: false`` and
``procMount: Unmasked`` without an error: the executor would start with the node's users and a
masked ``/proc``. So the deploy asks first, and refuses naming every missing piece:

- the server version (``GET /version``), reported;
- a server-side dry-run of the executor pod (``POST .../pods?dryRun=All``): the answer must
  still carry both fields, which proves the gates are on and no admission step removed them;
- the executor nodes (the Deployment's nodeSelector): present, on a runtime that can give a
  pod its own user namespace (containerd 2 or CRI-O), and labelled as holding today's seccomp
  profile (``nox.dev/seccomp-executor=<digest>``, set by whoever installs the file: the node
  image or the DaemonSet docs/kubernetes.md describes);
- the Pod Security level the executor's namespace enforces: ``privileged``, as
  ``procMount: Unmasked`` is refused by ``baseline`` and ``restricted``.

Everything is read from the rendered manifests (``kubectl kustomize`` of the overlay): the
executor's namespace, pod spec and node selector are never restated here. Every question goes
through kubectl, the raw API paths included, so the answers are the API server's own JSON.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SECCOMP = REPO / "seccomp" / "executor.json"
SECCOMP_LABEL = "nox.dev/seccomp-executor"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
EXECUTOR = "executor"  # the Deployment's name in k8s/base/executor.yaml
GATES_DEFAULT_ON = (1, 33)  # UserNamespacesSupport and ProcMountType on by default from here

Json = dict[str, Any]


class PreflightRefused(Exception):
    pass


@dataclass
class Report:
    facts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"  ok: {fact}" for fact in self.facts]
        lines += [f"  MISSING: {piece}" for piece in self.missing]
        return "\n".join(lines)


def seccomp_digest() -> str:
    """The label value that says a node holds today's profile (label values: <= 63 chars)."""
    return hashlib.sha256(SECCOMP.read_bytes()).hexdigest()[:32]


def kubectl_json(kubectl: str, *args: str) -> Json:
    proc = subprocess.run([kubectl, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PreflightRefused(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()}")
    answer: Json = json.loads(proc.stdout)
    return answer


def rendered(kubectl: str, overlay: Path) -> list[Json]:
    """The overlay's objects as JSON, offline: `kubectl kustomize`, then `annotate --local`,
    which prints each object as JSON without contacting a server (the deploy package stays
    stdlib-only, with no YAML parser)."""
    yaml_text = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(yaml_text)
        f.flush()
        out = subprocess.run(
            [kubectl, "annotate", "--local", "-f", f.name, "-o", "json", "nox.dev/preflight=1"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    objects, decoder, at = [], json.JSONDecoder(), 0
    while (at := _skip_space(out, at)) < len(out):
        obj, at = decoder.raw_decode(out, at)
        objects.append(obj)
    return objects


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def executor_of(objects: list[Json]) -> Json:
    for obj in objects:
        if obj.get("kind") == "Deployment" and obj["metadata"]["name"] == EXECUTOR:
            return obj
    raise PreflightRefused(f"the manifests hold no Deployment/{EXECUTOR}")


def check(kubectl: str, overlay: Path) -> Report:
    objects = rendered(kubectl, overlay)
    executor = executor_of(objects)
    namespace = executor["metadata"]["namespace"]
    report = Report()
    check_version(report, kubectl_json(kubectl, "get", "--raw", "/version"))
    level = check_namespace(report, kubectl, namespace, objects)
    pod_spec = executor["spec"]["template"]["spec"]
    check_dry_run(report, kubectl, namespace if level is not None else "default", pod_spec)
    check_nodes(report, kubectl_json(kubectl, "get", "--raw", "/api/v1/nodes"), pod_spec)
    return report


def require(kubectl: str, overlay: Path) -> Report:
    report = check(kubectl, overlay)
    if report.missing:
        raise PreflightRefused(
            "the cluster cannot run the executor as isolated as the manifests ask:\n"
            + report.text()
        )
    return report


def check_version(report: Report, version: Json) -> None:
    minor = int("".join(ch for ch in version["minor"] if ch.isdigit()))
    gates = (
        "feature gates on by default"
        if (int(version["major"]), minor) >= GATES_DEFAULT_ON
        else "UserNamespacesSupport/ProcMountType off by default: the dry-run tells"
    )
    report.facts.append(f"server {version['gitVersion']} ({gates})")


def check_namespace(
    report: Report, kubectl: str, namespace: str, objects: list[Json]
) -> str | None:
    """The enforced Pod Security level: the live namespace's, or (not created yet) the one the
    manifests give it. None when the namespace does not exist yet."""
    proc = subprocess.run(
        [kubectl, "get", "--raw", f"/api/v1/namespaces/{namespace}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode == 0:
        labels = json.loads(proc.stdout)["metadata"].get("labels", {})
        where, live = f"namespace {namespace}", True
    elif "NotFound" in proc.stderr or "not found" in proc.stderr:
        manifest: Json = next(
            (o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == namespace),
            {"metadata": {}},
        )
        labels = manifest["metadata"].get("labels", {})
        where, live = f"namespace {namespace} (not created yet; as the manifests set it)", False
    else:
        raise PreflightRefused(f"kubectl get namespace {namespace}: {proc.stderr.strip()}")
    level = labels.get(ENFORCE_LABEL)
    if level in (None, "privileged"):
        shown = level or "not set: the cluster's default applies; the dry-run tells"
        report.facts.append(f"{where} enforces Pod Security {shown}")
    else:
        report.missing.append(
            f"{where} enforces Pod Security {level!r}; the executor's procMount: Unmasked "
            f"needs 'privileged' (label {ENFORCE_LABEL}=privileged)"
        )
    return (level or "") if live else None


def check_dry_run(report: Report, kubectl: str, namespace: str, pod_spec: Json) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nox-preflight-executor", "namespace": namespace},
        "spec": pod_spec,
    }
    path = f"/api/v1/namespaces/{namespace}/pods?dryRun=All"
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(pod, f)
        f.flush()
        try:
            kept = kubectl_json(kubectl, "create", "--raw", path, "-f", f.name)
        except PreflightRefused as exc:
            report.missing.append(f"a server-side dry-run of the executor pod was refused: {exc}")
            return
    spec = kept["spec"]
    if spec.get("hostUsers") is False:
        report.facts.append("dry-run keeps hostUsers: false (UserNamespacesSupport on)")
    else:
        report.missing.append(
            "the API server dropped hostUsers: false from the executor pod: enable the "
            "UserNamespacesSupport feature gate (default from Kubernetes 1.33)"
        )
    dropped = [
        c["name"]
        for c in spec.get("containers", [])
        if (c.get("securityContext") or {}).get("procMount") != "Unmasked"
    ]
    if dropped:
        report.missing.append(
            f"the API server dropped procMount: Unmasked from container(s) {', '.join(dropped)}: "
            "enable the ProcMountType feature gate (default from Kubernetes 1.33)"
        )
    else:
        report.facts.append("dry-run keeps procMount: Unmasked (ProcMountType on)")


def check_nodes(report: Report, nodes: Json, pod_spec: Json) -> None:
    selector: dict[str, str] = pod_spec.get("nodeSelector", {})
    pool = [n for n in nodes["items"] if _matches(n["metadata"].get("labels", {}), selector)]
    wanted = ",".join(f"{k}={v}" for k, v in selector.items()) or "any"
    if not pool:
        report.missing.append(f"no node matches the executor's nodeSelector {wanted}")
        return
    digest, before = seccomp_digest(), len(report.missing)
    for node in pool:
        name, labels = node["metadata"]["name"], node["metadata"].get("labels", {})
        runtime = node["status"]["nodeInfo"]["containerRuntimeVersion"]
        if not _runtime_maps_ids(runtime):
            report.missing.append(
                f"node {name} runs {runtime}: hostUsers: false needs containerd 2 or CRI-O"
            )
        if labels.get(SECCOMP_LABEL) != digest:
            report.missing.append(
                f"node {name} is not labelled {SECCOMP_LABEL}={digest}: install "
                "seccomp/executor.json as <kubelet root>/seccomp/nox/executor.json there "
                "(docs/kubernetes.md), then label the node"
            )
    if len(report.missing) == before:
        report.facts.append(f"{len(pool)} executor node(s) ({wanted}): runtime and seccomp")


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _runtime_maps_ids(runtime: str) -> bool:
    name, _, version = runtime.partition("://")
    if name == "cri-o":
        return True
    major = version.split(".", 1)[0]
    return name == "containerd" and major.isdigit() and int(major) >= 2
