"""Service containers the test tiers talk to: PostgreSQL, Redis and a real OIDC provider.

Each is ready when its Docker healthcheck passes (engine >= 0.20.1), not merely when its port
opens: an open PostgreSQL port during initdb is not a usable database.
"""

from __future__ import annotations

from typing import Final

import dagger
from dagger import dag

from .facts import NODE_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE

POSTGRES_ALIAS: Final = "postgres"
REDIS_ALIAS: Final = "redis"
OIDC_ALIAS: Final = "oidc"

POSTGRES_PORT: Final = 5432
REDIS_PORT: Final = 6379
OIDC_PORT: Final = 9010

POSTGRES_USER: Final = "nox"
POSTGRES_DB: Final = "nox_test"

# Addresses as the test container sees them through its service bindings.
POSTGRES_URL: Final = (
    f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_ALIAS}:{POSTGRES_PORT}/{POSTGRES_DB}"
)
REDIS_URL: Final = f"redis://{REDIS_ALIAS}:{REDIS_PORT}/0"
OIDC_ISSUER: Final = f"http://{OIDC_ALIAS}:{OIDC_PORT}"

# The provider script the e2e tier runs on loopback; here it runs as a service.
OIDC_SCRIPT: Final = "tests/e2e/oidc/provider.mjs"
NODE_WORKDIR: Final = "/srv/node"
OIDC_CLIENT_ID: Final = "nox-e2e"
# The e2e app under test listens on the API port inside the test container.
OIDC_REDIRECT_URI: Final = "http://127.0.0.1:8000/api/v7/auth/callback/e2e"


def _healthy_when(ctr: dagger.Container, args: list[str]) -> dagger.Container:
    """Probe every second, for up to a minute: cold image pulls and initdb are slow on CI.
    (No per-probe timeout: the engine does not apply one, so none is written.)"""
    return ctr.with_docker_healthcheck(args, interval="1s", retries=60)


def postgres() -> dagger.Service:
    """A throwaway PostgreSQL reachable only inside this session, so trust auth needs no secret."""
    return (
        dag.container()
        .from_(POSTGRES_IMAGE)
        .with_env_variable("POSTGRES_USER", POSTGRES_USER)
        .with_env_variable("POSTGRES_DB", POSTGRES_DB)
        .with_env_variable("POSTGRES_HOST_AUTH_METHOD", "trust")
        # The entrypoint's init server listens on no TCP socket: probing TCP waits for the real one.
        .with_(
            lambda c: _healthy_when(
                c, ["pg_isready", "-h", "127.0.0.1", "-U", POSTGRES_USER, "-d", POSTGRES_DB]
            )
        )
        .with_exposed_port(POSTGRES_PORT)
        # The official image needs docker-entrypoint.sh to create the cluster and drop root.
        .as_service(use_entrypoint=True)
    )


def redis() -> dagger.Service:
    return (
        dag.container()
        .from_(REDIS_IMAGE)
        .with_(lambda c: _healthy_when(c, ["redis-cli", "ping"]))
        .with_exposed_port(REDIS_PORT)
        .as_service(use_entrypoint=True)
    )


def node_peer(source: dagger.Directory) -> dagger.Container:
    """Node with the repository's npm dependencies (oidc-provider) installed from its lock."""
    return (
        dag.container()
        .from_(NODE_IMAGE)
        .with_workdir(NODE_WORKDIR)
        .with_file("package.json", source.file("package.json"))
        .with_file("package-lock.json", source.file("package-lock.json"))
        .with_mounted_cache("/root/.npm", dag.cache_volume("nox-npm"))
        .with_exec(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"])
    )


def oidc(source: dagger.Directory) -> dagger.Service:
    """The repository's own oidc-provider peer script, listening for the other containers."""
    check = (
        f"fetch('http://127.0.0.1:{OIDC_PORT}/.well-known/openid-configuration')"
        ".then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
    )
    return (
        node_peer(source)
        .with_file(OIDC_SCRIPT, source.file(OIDC_SCRIPT))
        .with_env_variable("OIDC_HOST", "0.0.0.0")  # noqa: S104 - reachable from the test container
        .with_env_variable("OIDC_PORT", str(OIDC_PORT))
        .with_env_variable("OIDC_ISSUER", OIDC_ISSUER)
        .with_env_variable("OIDC_CLIENT_ID", OIDC_CLIENT_ID)
        .with_env_variable("OIDC_REDIRECT_URIS", OIDC_REDIRECT_URI)
        .with_(lambda c: _healthy_when(c, ["node", "-e", check]))
        .with_exposed_port(OIDC_PORT)
        .as_service(args=["node", OIDC_SCRIPT])
    )
