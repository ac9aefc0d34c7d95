"""Publish to a real registry (Debian `docker-registry` on loopback) and run by digest.

What `dagger call publish` returns and `deploy.sh --image` takes is ``ref@sha256:...``:
the digest from the push must equal the registry's manifest digest, and the image must
pull and run (as a Swarm job) by that digest alone, with the local tag gone.
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid

import pytest

from tests.container.swarm_support import docker, nox_image, swarm_node, task_logs

pytestmark = [pytest.mark.container, pytest.mark.swarm]
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def test_push_gives_the_registry_digest_and_swarm_runs_it_by_digest(registry: str) -> None:
    with swarm_node():
        repo = f"{registry}/nox-dep/nox"
        tag = f"{repo}:{uuid.uuid4().hex[:8]}"
        docker("tag", nox_image(), tag)
        t0 = time.monotonic()
        pushed = docker("push", tag)
        push_s = time.monotonic() - t0
        match = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed)
        assert match, pushed
        digest = match.group(1)

        request = urllib.request.Request(
            f"http://{registry}/v2/nox-dep/nox/manifests/{tag.rsplit(':', 1)[1]}",
            method="HEAD", headers={"Accept": MANIFEST_V2},
        )  # fmt: skip
        with urllib.request.urlopen(request) as answer:  # noqa: S310
            assert answer.headers["Docker-Content-Digest"] == digest
        assert f"{repo}@{digest}" in docker("image", "inspect", "--format", "{{.RepoDigests}}", tag)

        by_digest = f"{repo}@{digest}"
        docker("rmi", tag)
        t0 = time.monotonic()
        docker("pull", by_digest)
        pull_s = time.monotonic() - t0
        name = f"nox-dep-reg-{uuid.uuid4().hex[:6]}"
        try:
            docker(
                "service", "create", "--quiet", "--detach=false", "--name", name,
                "--mode", "replicated-job", "--restart-condition", "none",
                by_digest, "nox", "--version",
            )  # fmt: skip
            assert (
                docker(
                    "service",
                    "inspect",
                    "--format",
                    "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                    name,
                )
                == by_digest
            )
            logs = task_logs(name)
            assert "7." in logs, logs
        finally:
            docker("service", "rm", name, check=False)
            for cid in docker("ps", "-aq", "--filter", f"name={name}").split():  # the job's task
                docker("rm", "-f", cid, check=False)
            docker("rmi", by_digest, check=False)
        print(f"\npush {push_s:.1f}s, pull by digest {pull_s:.1f}s: {by_digest}")
