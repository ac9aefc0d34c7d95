"""The Kubernetes target: `kubectl apply -k` of a generated overlay, blue/green switch.

No cluster runs on the development machines: this branch is exercised with a fake kubectl
(tests/unit/test_deploy_k8s_fake_kubectl.py) that records the calls and, when a real
kubectl is installed, renders the generated kustomization.

A release: the idle slot (the one the ``api`` Service does not select) gets the new image,
the migration Job runs, the idle slot is scaled to the active slot's replica count (capacity
does not drop at the switch), its rollout and the executor's must finish, the ``api-preview``
Service (which selects the idle slot) is smoke-tested at ``preview_url``, and only then does
the ``api`` Service selector switch to it and ``api-preview`` to the old slot.

Restoring an image (a failed deploy, or ``rollback``) puts *every* component the deploy
changed back on it: executor, migration Job and backup CronJob images as well as the api
slot, then smoke-tests the preview and switches. The ``api`` Service carries the release
record (annotations ``nox.dev/current-image`` and ``nox.dev/previous-image``), so rollback
works from a machine with no local history.

Compared with Argo Rollouts' blue/green (activeService/previewService, prePromotionAnalysis,
previewReplicaCount, scaleDownDelaySeconds): the same sequence, done by the deploy tool so
the cluster needs no controller or CRDs. The old slot is not scaled down at all (it stays
the instant rollback target; its HPA shrinks it when idle), which covers scaleDownDelay.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from deploy import preflight
from deploy.smoke import SmokeFailed, smoke
from deploy.swarm import RolloutFailed

SLOTS = ("blue", "green")
CURRENT = "nox.dev/current-image"
PREVIOUS = "nox.dev/previous-image"


def namespaces(k8s_dir: Path, env: str) -> tuple[str, str]:
    """(api namespace, executor's sandbox namespace) as the overlay names them, once each:
    ``overlays/<env>/app`` and ``overlays/<env>/sandbox`` (docs/kubernetes.md)."""
    found = []
    for part in ("app", "sandbox"):
        path = k8s_dir / "overlays" / env / part / "kustomization.yaml"
        # The top-level `namespace:` line, read without PyYAML: deploy/ runs on the standard
        # library alone (the Dagger deploy container has no third-party packages).
        match = re.search(r"^namespace:\s*[\"']?([a-z0-9-]+)[\"']?\s*$", path.read_text(), re.M)
        if match is None:
            raise ValueError(f"{path} names no namespace (a top-level `namespace:` line)")
        found.append(match.group(1))
    return found[0], found[1]


@dataclass(frozen=True)
class Kubernetes:
    env: str
    k8s_dir: Path
    namespace: str  # the api's (Services, slots, Jobs); the executor's is sandbox_namespace
    sandbox_namespace: str
    timeout_s: float = 600.0
    kubectl: str = "kubectl"
    # Reaches Service/api-preview (an internal Ingress/Gateway host, or a port-forward).
    preview_url: str | None = None

    def run(self, *args: str, namespace: str | None = None) -> str:
        """kubectl in the api namespace, or ``namespace``; "" for none (``apply -k``: every
        object carries its own)."""
        chosen = self.namespace if namespace is None else namespace
        cmd = [self.kubectl, *(["-n", chosen] if chosen else []), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RolloutFailed(f"kubectl {' '.join(args[:3])}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def active_slot(self) -> str:
        slot = self.run("get", "service", "api", "-o", "jsonpath={.spec.selector.slot}")
        return slot if slot in SLOTS else "blue"

    def idle_slot(self) -> str:
        return SLOTS[1 - SLOTS.index(self.active_slot())]

    def slot_image(self, slot: str) -> str | None:
        try:
            image = self.run(
                "get", "deployment", f"api-{slot}",
                "-o", "jsonpath={.spec.template.spec.containers[0].image}",
            )  # fmt: skip
        except RolloutFailed:
            return None
        return image or None

    def current_image(self) -> str | None:
        return self.slot_image(self.active_slot())

    def digest(self, image: str) -> str:
        if "@sha256:" not in image:
            raise RolloutFailed(f"Kubernetes deploys images by digest only, got {image}")
        return image.split("@", 1)[1]

    def apply(self, *, slot_images: dict[str, str], image: str, active: str) -> None:
        with tempfile.TemporaryDirectory(prefix="nox-deploy-") as tmp:
            write_kustomization(
                Path(tmp), overlay=self.k8s_dir / "overlays" / self.env,
                slot_images=slot_images, image=image, active=active,
            )  # fmt: skip
            self.run("apply", "-k", tmp, namespace="")

    def preflight(self) -> str:
        """Refuse a cluster that would silently drop the executor's isolation."""
        try:
            return preflight.require(self.kubectl, self.k8s_dir / "overlays" / self.env).text()
        except preflight.PreflightRefused as exc:
            raise RolloutFailed(str(exc)) from exc

    def migrate(self, image: str) -> None:
        active, idle = self.active_slot(), self.idle_slot()
        current = self.slot_image(active) or image
        self.run("delete", "job", "nox-migrate", "--ignore-not-found", "--wait=true")
        self.apply(slot_images={active: current, idle: image}, image=image, active=active)
        self.run(
            "wait",
            "--for=condition=complete",
            "job/nox-migrate",
            f"--timeout={self.timeout_s:.0f}s",
        )

    def replicas(self, slot: str) -> int:
        try:
            out = self.run("get", "deployment", f"api-{slot}", "-o", "jsonpath={.spec.replicas}")
        except RolloutFailed:
            return 0
        return int(out) if out.isdigit() else 0

    def roll(self, image: str) -> None:
        active, idle = self.active_slot(), self.idle_slot()
        if self.preview_url is None:
            raise RolloutFailed("set NOX_PREVIEW_URL to a URL of Service/api-preview")
        wanted = self.replicas(active)
        if wanted > self.replicas(idle):  # the idle slot takes all the traffic at the switch
            self.run("scale", f"deployment/api-{idle}", f"--replicas={wanted}")
        self.run("rollout", "status", f"deployment/api-{idle}", f"--timeout={self.timeout_s:.0f}s")
        self.executor_rolled_out()
        try:
            smoke(self.preview_url)
        except SmokeFailed as exc:
            raise RolloutFailed(f"preview slot {idle} failed its smoke test: {exc}") from exc
        self.switch(idle)

    def restore(self, image: str) -> None:
        """Every component back on ``image``: executor, migration Job and backup CronJob, and
        the api through the preview slot (smoke-tested, then switched) unless it serves it."""
        active = self.active_slot()
        slots = {slot: self.slot_image(slot) or image for slot in SLOTS}
        if slots[active] == image:  # the switch never happened: only the components go back
            self.apply(slot_images=slots, image=image, active=active)
            self.executor_rolled_out()
            return
        holder = next((s for s in SLOTS if slots[s] == image), SLOTS[1 - SLOTS.index(active)])
        slots[holder] = image
        self.apply(slot_images=slots, image=image, active=active)
        self.roll(image)

    def executor_rolled_out(self) -> None:
        timeout = f"--timeout={self.timeout_s:.0f}s"
        self.run(
            "rollout", "status", "deployment/executor", timeout, namespace=self.sandbox_namespace
        )

    def release_record(self) -> tuple[str | None, str | None]:
        """(current, previous) image as annotated on the live ``api`` Service."""
        out = self.run("get", "service", "api", "-o", "jsonpath={.metadata.annotations}")
        notes = json.loads(out) if out else {}
        return notes.get(CURRENT) or None, notes.get(PREVIOUS) or None

    def record_release(self, current: str, previous: str | None) -> None:
        pairs = [f"{CURRENT}={current}", f"{PREVIOUS}={previous or ''}"]
        self.run("annotate", "--overwrite", "service", "api", *pairs)

    def switch(self, slot: str) -> None:
        other = SLOTS[1 - SLOTS.index(slot)]
        for service, to in (("api", slot), ("api-preview", other)):
            patch = json.dumps({"spec": {"selector": {"slot": to}}})
            self.run("patch", "service", service, "--type", "merge", "-p", patch)


def write_kustomization(
    out: Path, *, overlay: Path, slot_images: dict[str, str], image: str, active: str
) -> None:
    """A kustomization (written as JSON, which YAML parsers accept) over the env overlay:
    per-workload images as patches, as both slots carry the same image name after the
    overlay's own ``images:`` step, and the Service selectors as they are live."""
    container = "/spec/template/spec/containers/0/image"
    targets = [("Deployment", f"api-{slot}", container, ref) for slot, ref in slot_images.items()]
    targets += [
        ("Deployment", "executor", container, image),
        ("Job", "nox-migrate", container, image),
        ("CronJob", "nox-backup", "/spec/jobTemplate" + container, image),
    ]
    patches = [
        {
            "target": {"kind": kind, "name": name},
            "patch": json.dumps([{"op": "replace", "path": path, "value": ref}]),
        }
        for kind, name, path, ref in targets
    ]
    idle = SLOTS[1 - SLOTS.index(active)]
    for service, slot in (("api", active), ("api-preview", idle)):
        selector = json.dumps([{"op": "replace", "path": "/spec/selector/slot", "value": slot}])
        patches.append({"target": {"kind": "Service", "name": service}, "patch": selector})
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, out)],
        "patches": patches,
    }
    (out / "kustomization.yaml").write_text(json.dumps(kustomization, indent=2) + "\n")
