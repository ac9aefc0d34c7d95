"""The Kubernetes preflight against kube-apiserver answers for 1.30 and 1.33, through a FAKE
kubectl (tests/unit/fake_kube_apiserver.py; no cluster runs here). The manifests are rendered
by the real kubectl, so the namespace, pod spec and node selector asked about are the ones a
deploy would apply.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.preflight import SECCOMP_LABEL, seccomp_digest
from tests.prereq import require_binary

REPO = Path(__file__).resolve().parents[2]
ANSWERS = REPO / "tests" / "fixtures" / "kube-apiserver"
FAKE = Path(__file__).with_name("fake_kube_apiserver.py")


def answers_env(tmp: Path, answers: Path) -> dict[str, str]:
    """What the fake needs: the real kubectl (rendering), the answers, a call log."""
    return {
        "REAL_KUBECTL": require_binary("kubectl", "install kubectl (.ci/install-monitoring.sh)"),
        "FAKE_KUBE_ANSWERS": str(answers),
        "FAKE_KUBE_ANSWERS_LOG": str(tmp / "kubectl-calls.jsonl"),
        "FAKE_SECCOMP_DIGEST": seccomp_digest(),
    }


def fake_kubectl(tmp: Path, answers: Path) -> dict[str, str]:
    """PATH and variables that make `kubectl` the fake answering from ``answers``."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **answers_env(tmp, answers)}


def preflight(tmp: Path, answers: Path, env: str = "staging") -> subprocess.CompletedProcess[str]:
    cmd = [str(REPO / "scripts" / "deploy.sh"), "preflight", "--env", env]
    variables = {**os.environ, **fake_kubectl(tmp, answers)}
    return subprocess.run(cmd, capture_output=True, text=True, env=variables, check=False)


def calls(tmp: Path) -> list[dict[str, object]]:
    lines = (tmp / "kubectl-calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_1_30_with_gates_off_is_refused_naming_each_missing_piece(tmp_path: Path) -> None:
    done = preflight(tmp_path, ANSWERS / "v1.30")
    assert done.returncode == 1, done.stdout
    refusal = done.stderr
    print(refusal)
    assert "server v1.30.6" in refusal
    assert "dropped hostUsers: false" in refusal and "UserNamespacesSupport" in refusal
    assert "dropped procMount: Unmasked from container(s) executor" in refusal
    assert "ProcMountType" in refusal
    assert "namespace nox-staging-sandbox enforces Pod Security 'baseline'" in refusal
    executor_node = "ip-10-0-2-41.eu-west-1.compute.internal"
    assert f"node {executor_node} runs containerd://1.7.22" in refusal
    assert f"node {executor_node} is not labelled {SECCOMP_LABEL}=" in refusal
    assert refusal.count("MISSING:") == 5
    # the node outside the executor pool is not held to the executor's needs
    assert "ip-10-0-1-17" not in refusal


def test_1_33_is_allowed_and_the_dry_run_submits_the_rendered_executor_pod(
    tmp_path: Path,
) -> None:
    done = preflight(tmp_path, ANSWERS / "v1.33")
    assert done.returncode == 0, done.stderr
    assert "MISSING" not in done.stdout
    assert "dry-run keeps hostUsers: false" in done.stdout
    assert "dry-run keeps procMount: Unmasked" in done.stdout
    assert "server v1.33.2" in done.stdout
    [dry_run] = [c for c in calls(tmp_path) if c["args"][0] == "create"]  # type: ignore[index]
    assert dry_run["args"][:3] == [  # type: ignore[index]
        "create", "--raw", "/api/v1/namespaces/nox-staging-sandbox/pods?dryRun=All",
    ]  # fmt: skip
    body = dry_run["body"]
    assert isinstance(body, dict)
    assert body["spec"]["hostUsers"] is False
    assert body["spec"]["containers"][0]["securityContext"]["procMount"] == "Unmasked"
    assert body["spec"]["securityContext"]["seccompProfile"]["localhostProfile"] == (
        "nox/executor.json"
    )


def test_prod_reads_its_namespace_from_the_manifests(tmp_path: Path) -> None:
    done = preflight(tmp_path, ANSWERS / "v1.33", env="prod")
    assert done.returncode == 0, done.stderr
    asked = [c["args"] for c in calls(tmp_path)]
    assert ["get", "--raw", "/api/v1/namespaces/nox-sandbox"] in asked  # the executor's own


def test_a_node_with_an_older_profile_is_refused(tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    shutil.copytree(ANSWERS / "v1.33", answers)
    nodes = answers / "nodes.json"
    nodes.write_text(nodes.read_text().replace("SECCOMP_DIGEST", "0" * 32))
    done = preflight(tmp_path, answers)
    assert done.returncode == 1
    assert f"is not labelled {SECCOMP_LABEL}={seccomp_digest()}" in done.stderr


def test_a_namespace_not_created_yet_is_judged_by_its_manifest(tmp_path: Path) -> None:
    answers = tmp_path / "answers"
    shutil.copytree(ANSWERS / "v1.33", answers)
    (answers / "namespace.json").unlink()
    done = preflight(tmp_path, answers)
    assert done.returncode == 0, done.stderr
    assert "not created yet; as the manifests set it) enforces Pod Security privileged" in (
        done.stdout
    )
    [dry_run] = [c["args"] for c in calls(tmp_path) if c["args"][0] == "create"]  # type: ignore[index]
    assert isinstance(dry_run, list)
    assert dry_run[:3] == ["create", "--raw", "/api/v1/namespaces/default/pods?dryRun=All"]


@pytest.mark.parametrize("version", ["v1.30", "v1.33"])
def test_the_recorded_answers_have_the_api_servers_shape(version: str) -> None:
    answers = {p.name: json.loads(p.read_text()) for p in (ANSWERS / version).glob("*.json")}
    assert set(answers) == {"version.json", "namespace.json", "nodes.json", "pod-dry-run.json"}
    assert answers["version.json"]["gitVersion"].startswith(f"{version}.")
    assert (answers["namespace.json"]["kind"], answers["nodes.json"]["kind"]) == (
        "Namespace", "NodeList",
    )  # fmt: skip
    assert answers["pod-dry-run.json"]["kind"] == "Pod"
    assert answers["pod-dry-run.json"]["status"]["phase"] == "Pending"
