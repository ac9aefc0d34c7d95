"""The deploy tooling's Kubernetes branch against a FAKE kubectl (no cluster runs here).

The fake (written below, put first on PATH) keeps a tiny cluster state in a JSON file: the
``api`` Service's slot and annotations, each workload's image and each Deployment's replica
count; ``apply -k`` reads the generated kustomization's patches. Two tiny HTTP servers stand
for the public URL (the slot ``api`` selects) and the preview URL (the other slot). The same
generated kustomization is also rendered by the REAL ``kubectl kustomize`` over
k8s/overlays/<env>, to prove it builds what the fake pretends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from deploy.history import load
from deploy.k8s import namespaces, write_kustomization
from tests.prereq import require_binary
from tests.unit.test_deploy_preflight import ANSWERS, answers_env

REPO = Path(__file__).resolve().parents[2]
OLD = "registry.example.com/nox@sha256:" + "a" * 64
NEW = "registry.example.com/nox@sha256:" + "b" * 64
BAD = "registry.example.com/nox-bad@sha256:" + "c" * 64

FAKE_KUBECTL = r'''#!/usr/bin/env python3
"""FAKE kubectl for tests: records calls, emulates just enough of a cluster."""
import json, os, sys
state_path = os.environ["FAKE_KUBECTL_STATE"]
state = json.load(open(state_path))
args = sys.argv[1:]
namespace = ""
if args[:1] == ["-n"]:
    namespace, args = args[1], args[2:]
with open(state_path + ".namespaces", "a") as log:
    log.write(json.dumps([namespace, " ".join(args[:3])]) + "\n")
with open(state_path + ".calls", "a") as log:
    log.write(json.dumps(args) + "\n")
if "--raw" in args or args[:1] == ["kustomize"] or args[:2] == ["annotate", "--local"]:
    # the preflight's questions: a cluster that passes it (recorded 1.33 answers)
    os.execv(sys.executable, [sys.executable, os.environ["FAKE_KUBE_APISERVER"], *args])
if args[:3] == ["get", "service", "api"]:
    if "annotations" in args[-1]:
        print(json.dumps(state["annotations"]), end="")
    else:
        print(state["slot"], end="")
elif args[:2] == ["get", "deployment"]:
    if "replicas" in args[-1]:
        print(state["replicas"].get(args[2], 1), end="")
        sys.exit(0)
    image = state["images"].get(args[2])
    if image is None:
        sys.exit("Error from server (NotFound)")
    print(image, end="")
elif args[:2] == ["apply", "-k"]:
    kustomization = json.load(open(os.path.join(args[2], "kustomization.yaml")))
    for patch in kustomization["patches"]:
        kind, name = patch["target"]["kind"], patch["target"]["name"]
        key = name if kind == "Deployment" else f"{kind}/{name}"
        if kind != "Service":
            state["images"][key] = json.loads(patch["patch"])[0]["value"]
elif args[:1] == ["scale"]:
    name = args[1].split("/", 1)[1]
    state["replicas"][name] = int(args[2].split("=", 1)[1])
elif args[:1] == ["annotate"]:
    for pair in args[args.index("api") + 1:]:
        key, _, value = pair.partition("=")
        state["annotations"][key] = value
elif args[:2] == ["patch", "service"] and args[2] == "api":
    state["slot"] = json.loads(args[args.index("-p") + 1])["spec"]["selector"]["slot"]
json.dump(state, open(state_path, "w"))
'''


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.state = tmp / "cluster.json"
        self.state.write_text(json.dumps({
            "slot": "blue", "images": {"api-blue": OLD}, "annotations": {},
            "replicas": {"api-blue": 4, "api-green": 2},  # active grown by its HPA; idle at min
        }))  # fmt: skip
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(FAKE_KUBECTL.replace("python3", sys.executable, 1))
        (bin_dir / "kubectl").chmod(0o755)
        self.bin_dir = bin_dir

    @property
    def now(self) -> dict[str, object]:
        return dict(json.loads(self.state.read_text()))

    def calls(self) -> list[list[str]]:
        lines = Path(f"{self.state}.calls").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def namespaces(self) -> dict[str, set[str]]:
        """Each call (its first three words) -> the namespaces it was made in ("" for none)."""
        seen: dict[str, set[str]] = {}
        for line in Path(f"{self.state}.namespaces").read_text().splitlines():
            namespace, call = json.loads(line)
            seen.setdefault(call, set()).add(namespace)
        return seen

    def log(self, event: list[str]) -> None:
        with Path(f"{self.state}.calls").open("a") as log:
            log.write(json.dumps(event) + "\n")

    def image(self, name: str) -> str:
        images = self.now["images"]
        assert isinstance(images, dict)
        return str(images[name])

    def serving(self) -> str:
        return self.image(f"api-{self.now['slot']}")

    def previewing(self) -> str:
        idle = "green" if self.now["slot"] == "blue" else "blue"
        return self.image(f"api-{idle}")

    def components(self) -> dict[str, str]:
        names = ("executor", "Job/nox-migrate", "CronJob/nox-backup")
        return {name: self.image(name) for name in names}


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def serve(cluster: Cluster, image_of: Callable[[], str], name: str) -> Iterator[str]:
    """Ready unless the slot behind this URL runs the BAD image; every smoke GET is logged."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            image = image_of()
            if self.path == "/readyz":
                cluster.log([f"smoke {name}", image])
            ok = self.path != "/readyz" or image != BAD
            body = json.dumps({"status": "ok", "version": "7.0.0"}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def public_url(cluster: Cluster) -> Iterator[str]:
    yield from serve(cluster, cluster.serving, "public")


@pytest.fixture
def preview_url(cluster: Cluster) -> Iterator[str]:
    yield from serve(cluster, cluster.previewing, "preview")


def deploy_sh(
    cluster: Cluster, url: str, state: Path, *args: str, preview: str = "", kube: str = "v1.33"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NOX_PREVIEW_URL": preview,
        "FAKE_KUBECTL_STATE": str(cluster.state),
        "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ['PATH']}",
        **answers_env(cluster.bin_dir.parent, ANSWERS / kube),
        "FAKE_KUBE_APISERVER": str(REPO / "tests" / "unit" / "fake_kube_apiserver.py"),
        "NOX_DEPLOY_STATE_DIR": str(state),
        "NOX_SMOKE_URL": url,
        "NOX_SMOKE_TIMEOUT_S": "2",
    }
    cmd = [str(REPO / "scripts" / "deploy.sh"), *args, "--target", "k8s", "--env", "prod"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def test_release_goes_to_the_idle_slot_after_migrations_then_switches(
    cluster: Cluster, public_url: str, preview_url: str, tmp_path: Path
) -> None:
    done = deploy_sh(
        cluster, public_url, tmp_path / "state", "deploy", "--image", NEW, preview=preview_url
    )
    assert done.returncode == 0, done.stderr
    assert cluster.now["slot"] == "green"
    assert cluster.serving() == NEW
    calls = [" ".join(c[:3]) for c in cluster.calls()]
    # migrations first, the idle slot grown to the active one's size, its preview smoke-tested,
    # and only then the switch
    order = [
        "get --raw /version", "create --raw", "delete job nox-migrate", "apply -k",
        "wait --for=condition=complete job/nox-migrate",
        "scale deployment/api-green --replicas=4", "rollout status deployment/api-green",
        f"smoke preview {NEW}", "patch service api", f"smoke public {NEW}",
    ]  # fmt: skip
    positions = [next(i for i, c in enumerate(calls) if c.startswith(step)) for step in order]
    assert positions == sorted(positions), calls
    assert all("-n" not in c or c.index("-n") == 0 for c in cluster.calls())
    # The executor is watched in its own namespace; apply -k sends objects of both namespaces.
    app, sandbox = namespaces(REPO / "k8s", "prod")
    made_in = cluster.namespaces()
    assert made_in["rollout status deployment/executor"] == {sandbox}
    assert [ns for call, ns in made_in.items() if call.startswith("apply -k")] == [{""}]
    assert made_in["rollout status deployment/api-green"] == {app}
    assert made_in["patch service api"] == {app}
    [entry] = load(tmp_path / "state", env="prod", target="k8s")
    assert (entry.status, entry.digest) == ("deployed", "sha256:" + "b" * 64)
    assert cluster.now["annotations"] == {
        "nox.dev/current-image": NEW, "nox.dev/previous-image": OLD,
    }  # fmt: skip


def test_a_cluster_that_fails_the_preflight_gets_nothing_applied(
    cluster: Cluster, public_url: str, preview_url: str, tmp_path: Path
) -> None:
    done = deploy_sh(
        cluster, public_url, tmp_path / "state", "deploy", "--image", NEW,
        preview=preview_url, kube="v1.30",
    )  # fmt: skip
    assert done.returncode == 1
    assert "preflight refused, nothing applied" in done.stderr
    assert "UserNamespacesSupport" in done.stderr
    changing = {"apply", "delete", "scale", "patch", "annotate"}
    assert [c for c in cluster.calls() if c[0] in changing and "--local" not in c] == []
    assert cluster.serving() == OLD
    [entry] = load(tmp_path / "state", env="prod", target="k8s")
    assert entry.status == "failed" and entry.detail.startswith("preflight:")


def test_a_bad_preview_never_takes_traffic_and_every_component_goes_back(
    cluster: Cluster, public_url: str, preview_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    ok = deploy_sh(cluster, public_url, state, "deploy", "--image", NEW, preview=preview_url)
    assert ok.returncode == 0, ok.stderr
    bad = deploy_sh(cluster, public_url, state, "deploy", "--image", BAD, preview=preview_url)
    assert bad.returncode == 1
    assert "preview slot blue failed its smoke test" in bad.stderr
    assert "rolled back" in bad.stderr
    assert cluster.serving() == NEW
    assert [" ".join(c) for c in cluster.calls() if c == ["smoke public", BAD]] == []
    assert cluster.components() == dict.fromkeys(cluster.components(), NEW)
    annotations = cluster.now["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["nox.dev/current-image"] == NEW  # a failed deploy records nothing


def test_rollback_from_a_fresh_machine_reads_the_record_on_the_cluster(
    cluster: Cluster, public_url: str, preview_url: str, tmp_path: Path
) -> None:
    first = tmp_path / "ci-runner-1"
    for image in (OLD, NEW):  # OLD lands in green, NEW in blue
        done = deploy_sh(
            cluster, public_url, first, "deploy", "--image", image, preview=preview_url
        )
        assert done.returncode == 0, done.stderr
    assert cluster.serving() == NEW and cluster.components()["executor"] == NEW
    shutil.rmtree(first)  # the runner that deployed is gone with its history
    fresh = tmp_path / "ci-runner-2"
    back = deploy_sh(cluster, public_url, fresh, "rollback", preview=preview_url)
    assert back.returncode == 0, back.stderr
    assert cluster.serving() == OLD
    assert cluster.now["slot"] == "green"  # OLD still ran there: its slot is switched back in
    assert cluster.components() == dict.fromkeys(cluster.components(), OLD)
    reads = [c for c in cluster.calls() if c[:3] == ["get", "service", "api"] and "annot" in c[-1]]
    assert reads, "rollback read the release record from the cluster"
    assert cluster.now["annotations"] == {
        "nox.dev/current-image": OLD, "nox.dev/previous-image": NEW,
    }  # fmt: skip
    [entry] = load(fresh, env="prod", target="k8s")  # the new runner's log starts here
    assert (entry.action, entry.image) == ("rollback", OLD)


def test_deploy_refuses_without_a_preview_url(
    cluster: Cluster, public_url: str, tmp_path: Path
) -> None:
    refused = deploy_sh(cluster, public_url, tmp_path / "s", "deploy", "--image", NEW)
    assert refused.returncode == 1
    assert "NOX_PREVIEW_URL" in refused.stderr
    assert cluster.now["slot"] == "blue"


def test_kubernetes_refuses_images_without_digest(
    cluster: Cluster, public_url: str, tmp_path: Path
) -> None:
    refused = deploy_sh(cluster, public_url, tmp_path / "s", "deploy", "--image", "nox:latest")
    assert refused.returncode == 1
    assert "by digest only" in refused.stderr


def test_generated_kustomization_renders_with_real_kubectl(tmp_path: Path) -> None:
    kubectl = require_binary("kubectl", "install kubectl (.ci/install-monitoring.sh)")
    out = tmp_path / "k"
    out.mkdir()
    write_kustomization(
        out, overlay=REPO / "k8s" / "overlays" / "prod",
        slot_images={"blue": OLD, "green": NEW}, image=NEW, active="blue",
    )  # fmt: skip
    rendered = subprocess.run(
        [kubectl, "kustomize", str(out)], capture_output=True, text=True, check=True
    ).stdout
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered) if d}

    def image(kind: str, name: str) -> str:
        spec = docs[(kind, name)]["spec"]
        if kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        return str(spec["template"]["spec"]["containers"][0]["image"])

    assert image("Deployment", "api-blue") == OLD
    assert image("Deployment", "api-green") == NEW
    assert image("Deployment", "executor") == NEW
    assert image("Job", "nox-migrate") == NEW
    assert image("CronJob", "nox-backup") == NEW
    assert docs[("Service", "api")]["spec"]["selector"]["slot"] == "blue"
    assert docs[("Service", "api-preview")]["spec"]["selector"]["slot"] == "green"
    assert shutil.which(kubectl)
