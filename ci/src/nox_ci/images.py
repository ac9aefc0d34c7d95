"""Images built from the repository's Dockerfile, which stays the one source of truth.

`docker_build` gives the same image a local `docker build --target ...` gives; the pipeline adds
no build steps of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagger
from dagger import dag

from .facts import PLATFORMS, PYTHON_IMAGE, RUNTIME_TARGET, TEST_TARGET


def build_args(revision: str = "") -> list[dagger.BuildArg]:
    """The base image pinned by digest (the Dockerfile's default is a tag, for laptops) and the
    OCI label values (empty ones keep the Dockerfile's defaults)."""
    pinned = [dagger.BuildArg(name="PYTHON_IMAGE", value=PYTHON_IMAGE)]
    return pinned + ([dagger.BuildArg(name="REVISION", value=revision)] if revision else [])


def runtime_image(source: dagger.Directory, platform: str, revision: str = "") -> dagger.Container:
    """The production image for one platform; a foreign one is built under QEMU by the engine."""
    return source.docker_build(
        target=RUNTIME_TARGET,
        platform=dagger.Platform(platform),
        build_args=build_args(revision),
    )


def runtime_variants(
    source: dagger.Directory, platforms: Sequence[str] = PLATFORMS, revision: str = ""
) -> list[dagger.Container]:
    if not platforms:
        raise ValueError("at least one platform is needed, e.g. linux/amd64")
    return [runtime_image(source, p, revision) for p in platforms]


def multi_platform_tarball(
    source: dagger.Directory, platforms: Sequence[str] = PLATFORMS, revision: str = ""
) -> dagger.File:
    """One OCI archive holding an index over every platform variant."""
    variants = runtime_variants(source, platforms, revision)
    return dag.container().as_tarball(platform_variants=variants)


# Building the test stage runs pytest on TEST_ARGS; here it only checks that the suite
# collects, because `suite_container` runs the tiers next to their services afterwards.
SUITE_BUILD_TEST_ARGS = "--collect-only tests/unit tests/integration tests/e2e"


def suite_image(source: dagger.Directory) -> dagger.Container:
    """The Dockerfile's test stage: the locked dev environment and the whole tree."""
    return source.docker_build(
        target=TEST_TARGET,
        build_args=[*build_args(), dagger.BuildArg(name="TEST_ARGS", value=SUITE_BUILD_TEST_ARGS)],
    )
