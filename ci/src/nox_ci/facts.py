"""Facts the pipeline shares with the rest of the repository, in one place for the module.

The module runs in its own container and cannot import `app.settings`, so the few values it needs
are repeated here; `tests/pipeline/test_facts.py` reads `app/settings.py`, the Dockerfile, compose
and the OIDC provider script and fails when one of these drifts from its source.
"""

from __future__ import annotations

from typing import Final

# app/settings.py: API_PORT, EXECUTOR_PORT, ENV_PREFIX
API_PORT: Final = 8000
EXECUTOR_PORT: Final = 8001
ENV_PREFIX: Final = "NOX_"

# Dockerfile stages (`FROM ... AS <target>`)
TEST_TARGET: Final = "test"
RUNTIME_TARGET: Final = "runtime"

# The platforms a release image is built for.
PLATFORMS: Final = ("linux/amd64", "linux/arm64")

# Third-party images, pinned by digest: a tag can be moved under us (Trivy's own tags were
# force-pushed in March 2026), a digest cannot. Repository and tag stay readable for updates.
PYTHON_IMAGE: Final = (
    "python:3.11-slim-bookworm"
    "@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b"
)
POSTGRES_IMAGE: Final = (
    "postgres:15-bookworm@sha256:5d1d70e254e3c5d7d76847a9deebb18478cd518df37abf6b278d4bdb1fe5d96c"
)
REDIS_IMAGE: Final = (
    "redis:7-bookworm@sha256:595cc6f2bb3af6e03347b90deb6123c6aa2c81dea05ce08128de8a174b6ac67b"
)
NODE_IMAGE: Final = (
    "node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0"
)
# 0.69.3 is the last release before the compromised 0.69.4-0.69.6 images (GHSA-69fq-xp46-6x23).
TRIVY_IMAGE: Final = (
    "aquasec/trivy:0.69.3@sha256:bcc376de8d77cfe086a917230e818dc9f8528e3c852f7b1aff648949b6258d1c"
)
DOCKER_CLI_IMAGE: Final = (
    "docker:27-cli@sha256:851f91d241214e7c6db86513b270d58776379aacc5eb9c4a87e5b47115e3065c"
)
KUBECTL_IMAGE: Final = (
    "registry.k8s.io/kubectl:v1.31.2"
    "@sha256:d31de5468fb5c0943358671e3dcf8e4d8281108027efd1f211262d09aedd5519"
)

# uv installed from PyPI into the tool containers, pinned like the lock file it reads.
UV_VERSION: Final = "0.13.9"
