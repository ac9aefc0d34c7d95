"""Trivy on the built image archive: vulnerabilities, secrets and misconfigurations, plus an SBOM.

The scanner reads the OCI tarball the pipeline built, never a registry, and gets no credentials
at all. Its database lives in a cache volume; a nonce makes every call scan again, because the
database changes daily while the image may not.
"""

from __future__ import annotations

from typing import Final

import dagger
from dagger import dag

from .facts import TRIVY_IMAGE

IMAGE_TAR: Final = "/scan/image.tar"
REPORTS: Final = "/reports"
SARIF: Final = "trivy.sarif"
SBOM: Final = "sbom.cdx.json"
CACHE_DIR: Final = "/root/.cache/trivy"
SEVERITY: Final = "HIGH,CRITICAL"
# Trivy exits 1 when it fails itself; findings get a code of their own so the two never mix.
FINDINGS_EXIT: Final = 3


def trivy_base(image_tar: dagger.File, nonce: str) -> dagger.Container:
    return (
        dag.container()
        .from_(TRIVY_IMAGE)
        # Locked: two scans at once must not both rewrite the database.
        .with_mounted_cache(
            CACHE_DIR, dag.cache_volume("nox-trivy-db"), sharing=dagger.CacheSharingMode.LOCKED
        )
        .with_env_variable("TRIVY_CACHE_DIR", CACHE_DIR)
        .with_env_variable("TRIVY_NO_PROGRESS", "true")
        .with_mounted_file(IMAGE_TAR, image_tar)
        .with_env_variable("SCAN_NONCE", nonce)
        .with_exec(["mkdir", "-p", REPORTS])
    )


def sbom_args() -> list[str]:
    return ["trivy", "image", "--input", IMAGE_TAR, "--format", "cyclonedx",
            "--output", f"{REPORTS}/{SBOM}"]  # fmt: skip


def findings_args() -> list[str]:
    """Exits FINDINGS_EXIT only on HIGH/CRITICAL findings that have a fix to apply."""
    return [
        "trivy", "image", "--input", IMAGE_TAR,
        "--scanners", "vuln,secret,misconfig",
        "--severity", SEVERITY, "--ignore-unfixed", "--exit-code", str(FINDINGS_EXIT),
        "--format", "sarif", "--output", f"{REPORTS}/{SARIF}",
    ]  # fmt: skip


def scan_container(image_tar: dagger.File, nonce: str) -> dagger.Container:
    """SBOM first (it never fails), then the gate, whose exit code the caller inspects."""
    return (
        trivy_base(image_tar, nonce)
        .with_exec(sbom_args())
        .with_exec(findings_args(), expect=dagger.ReturnType.ANY)
    )
