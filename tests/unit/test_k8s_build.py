"""Every overlay builds with ``kubectl kustomize`` and passes strict schema validation."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.prereq import require_binary
from tests.unit.k8s_manifests import K8S_VERSION, OVERLAYS, build, built_text

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def validate(manifests: str) -> subprocess.CompletedProcess[str]:
    validator = require_binary("kubernetes-validate", "uv sync (dev group: kubernetes-validate)")
    return subprocess.run(
        [validator, "--strict", "--quiet", "-k", K8S_VERSION, "-"],
        input=manifests,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_strict_schema_validation(overlay: str) -> None:
    result = validate(built_text(overlay))
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_rejects_a_misspelt_field() -> None:
    """Guards the test above: a typo that kubectl would silently drop must fail here."""
    docs = build("prod")
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["replicsa"] = 2
            break
    result = validate(yaml.safe_dump_all(docs))
    assert result.returncode != 0
    assert "replicsa" in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaces_are_created_first_and_hold_everything(overlay: str) -> None:
    docs = build(overlay)
    namespaces = [doc["metadata"]["name"] for doc in docs[:2]]
    assert [doc["kind"] for doc in docs[:2]] == ["Namespace", "Namespace"]
    for doc in docs[2:]:
        assert doc["kind"] != "Namespace"
        assert doc["metadata"].get("namespace") in namespaces, doc["metadata"]["name"]


def test_overlays_use_separate_namespaces() -> None:
    namespaces = [doc["metadata"]["name"] for o in OVERLAYS for doc in build(o)[:2]]
    assert len(set(namespaces)) == 2 * len(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_by_digest(overlay: str) -> None:
    for doc in build(overlay):
        for image in re.findall(r"image: (\S+)", yaml.safe_dump(doc)):
            assert DIGEST.search(image), f"{doc['metadata']['name']}: {image} has no digest"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_values_are_committed(overlay: str) -> None:
    kinds = {doc["kind"] for doc in build(overlay)}
    assert "Secret" not in kinds, "Secrets are created out of band (docs/kubernetes.md)"
