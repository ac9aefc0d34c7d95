"""The PostgreSQL server image is pinned by tag and digest, and its major is the major of the
runtime image's pg_dump: one fact, stated in ci/src/nox_ci/facts.py (POSTGRES_IMAGE) and
repeated where YAML cannot import it, every copy checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.k8s_manifests import OVERLAYS, build

ROOT = Path(__file__).resolve().parents[2]
# repository:MAJOR[-variant]@sha256:<64 hex>
PIN = re.compile(r"^(?:docker\.io/library/)?postgres:(\d+)(?:[.-][\w.-]*)?@sha256:[0-9a-f]{64}$")


def pinned() -> str:
    facts = (ROOT / "ci" / "src" / "nox_ci" / "facts.py").read_text()
    found = re.search(r'POSTGRES_IMAGE: Final = \(\s*"([^"]+)"\s*\)', facts)
    assert found, "facts.py states POSTGRES_IMAGE"
    return found.group(1)


def major(image: str) -> str:
    found = PIN.match(image)
    assert found, f"{image}: not postgres:<major>...@sha256:<digest>"
    return found.group(1)


def compose_default(path: Path) -> str:
    found = re.search(r"\$\{POSTGRES_IMAGE:-([^}]+)\}", path.read_text())
    assert found, f"{path.name} takes POSTGRES_IMAGE with a default"
    return found.group(1)


def test_the_pin_has_a_major_tag_and_a_digest() -> None:
    assert major(pinned()) == "15"


@pytest.mark.parametrize("path", ["compose.yaml", "swarm/stack.yaml"])
def test_compose_and_swarm_default_to_the_pin(path: str) -> None:
    assert compose_default(ROOT / path) == pinned()


def test_the_pitr_image_is_built_on_the_pin() -> None:
    """nox-postgres (scripts/pitr: the server plus pgBackRest) starts FROM the pin."""
    found = re.search(
        r"^ARG POSTGRES_IMAGE=(\S+)$", (ROOT / "scripts/pitr/Dockerfile").read_text(), re.M
    )
    assert found and found.group(1) == pinned()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_runs_the_pin_or_the_image_built_on_it(overlay: str) -> None:
    [postgres] = [d for d in build(overlay) if d["metadata"]["name"] == "postgres"
                  and d["kind"] == "StatefulSet"]  # fmt: skip
    image = postgres["spec"]["template"]["spec"]["containers"][0]["image"]
    built_on_pin = image.split("@")[0].endswith("/nox-postgres")
    assert built_on_pin or image.removeprefix("docker.io/library/") == pinned(), image


def test_runtime_pg_dump_is_the_servers_major() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    found = re.search(r"^ARG PG_MAJOR=(\d+)$", dockerfile, re.MULTILINE)
    assert found, "the Dockerfile names the pg_dump major as ARG PG_MAJOR"
    assert found.group(1) == major(pinned())
    assert "postgresql-client-${PG_MAJOR}" in dockerfile


@pytest.mark.parametrize(
    "image",
    ["postgres:15-bookworm", "postgres@sha256:" + "a" * 64, "postgres:latest@sha256:" + "a" * 64],
)
def test_a_pin_without_digest_or_major_is_refused(image: str) -> None:
    with pytest.raises(AssertionError):
        major(image)
