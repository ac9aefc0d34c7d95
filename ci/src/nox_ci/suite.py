"""The test tiers inside the Dockerfile's test image, next to real service containers.

The command is `task test:pytest`, the task `task test` runs on a laptop: the pytest invocation
is written once, in Taskfile.yml; only the tier paths and the report path are passed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import dagger
from dagger import dag

from .facts import ENV_PREFIX, NODE_IMAGE
from .images import suite_image
from .services import (
    NODE_WORKDIR,
    OIDC_ALIAS,
    OIDC_CLIENT_ID,
    OIDC_ISSUER,
    POSTGRES_ALIAS,
    POSTGRES_URL,
    REDIS_ALIAS,
    REDIS_URL,
    node_peer,
    oidc,
    postgres,
    redis,
)
from .toolbox import with_apt_packages, with_kubectl

# `pipeline` is this module's own offline tier: GitHub Actions runs it through `dagger call test`.
TIERS: Final = ("unit", "integration", "e2e", "pipeline")
REPORTS: Final = "/reports"
REPORT: Final = f"{REPORTS}/junit.xml"
# The test stage's WORKDIR: the tree is copied there, so the tests find node_modules beside it.
APP_DIR: Final = "/app"
# What the tiers call besides Python, as .ci/run installs it: bubblewrap (sandbox tests),
# promtool/amtool and a live Prometheus (monitoring tests), libstdc++ for node (login rig),
# shellcheck (the pipeline tier checks the workflows' run steps with it), PostgreSQL's tools
# and a throwaway server (the backup drill restores into a fresh cluster; both found missing
# when the replayer first ran this container), pgBackRest and pgrep (the point-in-time
# recovery drill; pgrep found missing by the replayer too), and a redis-server of its own for
# the memory-limit test (it reconfigures its server: the bound one is shared by the workers).
SUITE_PACKAGES: Final = (
    "bubblewrap", "prometheus", "prometheus-alertmanager", "libstdc++6", "shellcheck",
    "postgresql", "pgbackrest", "procps", "redis-server",
)  # fmt: skip

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


def check_paths(tiers: Sequence[str], paths: Sequence[str]) -> list[str]:
    """Files or node ids to run instead of whole tiers: each inside one of the chosen tiers
    (so the tier's services are bound) and a plain relative path (it ends up on pytest's argv)."""
    roots = tuple(f"tests/{t}/" for t in tiers)
    wrong = [p for p in paths if not p.startswith(roots) or ".." in p.split("::")[0].split("/")]
    if wrong:
        raise ValueError(f"test paths {wrong} are not inside the chosen tiers {', '.join(tiers)}")
    return list(paths)


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


def with_node(ctr: dagger.Container, source: dagger.Directory) -> dagger.Container:
    """The e2e login rig starts its own provider with a signing key it controls (to forge
    tokens), so the test container also gets node and the locked npm dependencies."""
    node = dag.container().from_(NODE_IMAGE).file("/usr/local/bin/node")
    modules = node_peer(source).directory(f"{NODE_WORKDIR}/node_modules")
    return ctr.with_file("/usr/local/bin/node", node, permissions=0o755).with_directory(
        f"{APP_DIR}/node_modules", modules
    )


def pytest_argv(tiers: Sequence[str], paths: Sequence[str] = ()) -> list[str]:
    """`task test:pytest`, as on a laptop; --exit-code passes pytest's own exit code through
    (not task's 201), so the report's outcome can say what happened."""
    selected = list(paths) or [f"tests/{t}" for t in tiers]
    return ["task", "--exit-code", "test:pytest", f"JUNIT={REPORT}", "--", *selected]


def suite_container(
    source: dagger.Directory, tiers: Sequence[str] = TIERS, paths: Sequence[str] = ()
) -> dagger.Container:
    """Runs the tiers (or only `paths` inside them); the exit code is kept (not raised) so the
    report survives a failure."""
    selected = check_tiers(tiers)
    chosen = check_paths(selected, paths)
    return (
        suite_image(source)
        .with_(lambda c: with_apt_packages(c, SUITE_PACKAGES))
        .with_(with_kubectl)
        .with_(lambda c: with_node(c, source))
        .with_(lambda c: with_services(c, source))
        # In CI mode a missing prerequisite fails the tier instead of skipping it.
        .with_env_variable("CI", "true")
        .with_exec(["mkdir", "-p", REPORTS])
        .with_exec(
            pytest_argv(selected, chosen),
            expect=dagger.ReturnType.ANY,
            # bubblewrap creates user namespaces; the engine's default exec sandbox forbids that.
            insecure_root_capabilities=True,
        )
    )
