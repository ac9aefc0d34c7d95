"""The test tiers inside the Dockerfile's test image, next to real service containers.

The command is `task test:tiers`, the task a developer runs locally: the pytest invocation is
written once, in Taskfile.yml.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import dagger

from .facts import ENV_PREFIX
from .images import suite_image
from .services import (
    OIDC_ALIAS,
    OIDC_CLIENT_ID,
    OIDC_ISSUER,
    POSTGRES_ALIAS,
    POSTGRES_URL,
    REDIS_ALIAS,
    REDIS_URL,
    oidc,
    postgres,
    redis,
)

TIERS: Final = ("unit", "integration", "e2e")
REPORT: Final = "/reports/junit.xml"

# What the fixtures in tests/ read to use these services instead of starting their own.
TEST_POSTGRES_ENV: Final = f"{ENV_PREFIX}TEST_POSTGRES_URL"
TEST_REDIS_ENV: Final = f"{ENV_PREFIX}TEST_REDIS_URL"
TEST_OIDC_ISSUER_ENV: Final = f"{ENV_PREFIX}TEST_OIDC_ISSUER"
TEST_OIDC_CLIENT_ENV: Final = f"{ENV_PREFIX}TEST_OIDC_CLIENT_ID"


def check_tiers(tiers: Sequence[str]) -> list[str]:
    unknown = sorted(set(tiers) - set(TIERS))
    if unknown or not tiers:
        raise ValueError(f"unknown test tiers {unknown or tiers}: choose from {', '.join(TIERS)}")
    return list(tiers)


def with_services(ctr: dagger.Container, source: dagger.Directory) -> dagger.Container:
    return (
        ctr.with_service_binding(POSTGRES_ALIAS, postgres())
        .with_service_binding(REDIS_ALIAS, redis())
        .with_service_binding(OIDC_ALIAS, oidc(source))
        .with_env_variable(TEST_POSTGRES_ENV, POSTGRES_URL)
        .with_env_variable(TEST_REDIS_ENV, REDIS_URL)
        .with_env_variable(TEST_OIDC_ISSUER_ENV, OIDC_ISSUER)
        .with_env_variable(TEST_OIDC_CLIENT_ENV, OIDC_CLIENT_ID)
    )


def suite_container(source: dagger.Directory, tiers: Sequence[str] = TIERS) -> dagger.Container:
    """Runs the tiers; the exit code is kept (not raised) so the report survives a failure."""
    selected = check_tiers(tiers)
    return (
        suite_image(source)
        # The sandbox tests of the e2e tier need bubblewrap, which only the runtime stage has.
        .with_exec(["sh", "-c", "apt-get update -qq && apt-get install -y -qq bubblewrap"])
        .with_(lambda c: with_services(c, source))
        # In CI mode a missing prerequisite fails the tier instead of skipping it.
        .with_env_variable("CI", "true")
        .with_exec(["mkdir", "-p", "/reports"])
        .with_exec(
            ["task", "test:tiers", f"TIERS={' '.join(selected)}", f"JUNIT={REPORT}"],
            expect=dagger.ReturnType.ANY,
            # bubblewrap creates user namespaces; the engine's default exec sandbox forbids that.
            insecure_root_capabilities=True,
        )
    )
