"""deploy, rollback and smoke run scripts/deploy.sh: the code path operators run by hand.

The script holds the logic (migrations first, rollout, smoke test on real routes, automatic
rollback, a record of what was deployed); this module only provides its tools and credentials.
Credentials arrive as Dagger secrets and reach the script as files or secret variables, never
as plaintext arguments, environment values or image layers.
"""

from __future__ import annotations

import enum
import re
from typing import Final

import dagger
from dagger import dag

from .facts import DOCKER_CLI_IMAGE, KUBECTL_IMAGE, PYTHON_IMAGE
from .toolbox import with_apt_packages

SCRIPT: Final = "scripts/deploy.sh"
WORKDIR: Final = "/src"
# The script's record of what was deployed (rollback returns to the previous good entry).
# Kept in a cache volume per environment: it survives as long as the engine does, so CI
# needs a persistent engine for `rollback` (docs/pipeline.md).
STATE_DIR: Final = "/var/lib/nox-deploy"
KUBECONFIG_PATH: Final = "/run/secrets/kubeconfig"
SSH_KEY_PATH: Final = "/root/.ssh/id_deploy"
REGISTRY_PASSWORD_ENV: Final = "REGISTRY_PASSWORD"  # noqa: S105 - a variable name
OPS_PACKAGES: Final = ("openssh-client", "ca-certificates")  # ssh:// docker hosts, TLS

_BY_DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


@dagger.enum_type
class Target(enum.Enum):
    """Where Nox runs."""

    swarm = "swarm"
    """A Docker Swarm reached through docker_host (ssh:// with ssh_key)."""

    k8s = "k8s"
    """A Kubernetes cluster reached through kubeconfig."""


@dagger.enum_type
class Env(enum.Enum):
    """A deployment environment."""

    staging = "staging"
    """Deployed from main on every push; no approval."""

    prod = "prod"
    """Deployed only after approval (the GitHub `prod` environment)."""


def require_digest(image: str) -> str:
    """Deploys are by digest: a tag can move between the staging and the prod rollout."""
    if not _BY_DIGEST.match(image):
        raise ValueError(f"deploy an image by digest (name@sha256:<64 hex>), not {image!r}")
    return image


def ops_image(source: dagger.Directory) -> dagger.Container:
    """python3 (the deploy package), docker CLI and kubectl around the repository."""
    docker = dag.container().from_(DOCKER_CLI_IMAGE).file("/usr/local/bin/docker")
    kubectl = dag.container().from_(KUBECTL_IMAGE).file("/bin/kubectl")
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_(lambda c: with_apt_packages(c, OPS_PACKAGES))
        .with_file("/usr/local/bin/docker", docker, permissions=0o755)
        .with_file("/usr/local/bin/kubectl", kubectl, permissions=0o755)
        .with_directory(WORKDIR, source)
        .with_workdir(WORKDIR)
    )


def with_credentials(
    ctr: dagger.Container,
    *,
    kubeconfig: dagger.Secret | None = None,
    docker_host: str = "",
    ssh_key: dagger.Secret | None = None,
    registry_password: dagger.Secret | None = None,
) -> dagger.Container:
    if kubeconfig is not None:
        ctr = ctr.with_mounted_secret(KUBECONFIG_PATH, kubeconfig, mode=0o400).with_env_variable(
            "KUBECONFIG", KUBECONFIG_PATH
        )
    if ssh_key is not None:
        ctr = ctr.with_mounted_secret(SSH_KEY_PATH, ssh_key, mode=0o400).with_env_variable(
            "DOCKER_SSH_IDENTITY", SSH_KEY_PATH
        )
        # docker's ssh:// transport runs the ssh client, which reads this identity.
        ctr = ctr.with_new_file(
            "/root/.ssh/config",
            f"Host *\n  IdentityFile {SSH_KEY_PATH}\n  StrictHostKeyChecking accept-new\n",
            permissions=0o600,
        )
    if docker_host:
        ctr = ctr.with_env_variable("DOCKER_HOST", docker_host)
    if registry_password is not None:
        ctr = ctr.with_secret_variable(REGISTRY_PASSWORD_ENV, registry_password)
    return ctr


def with_history(ctr: dagger.Container, env: Env) -> dagger.Container:
    return ctr.with_mounted_cache(
        STATE_DIR,
        dag.cache_volume(f"nox-deploy-history-{env.value}"),
        sharing=dagger.CacheSharingMode.LOCKED,  # one rollout per environment at a time
    ).with_env_variable("NOX_DEPLOY_STATE_DIR", STATE_DIR)


def run_script(ctr: dagger.Container, args: list[str], nonce: str) -> dagger.Container:
    """The nonce defeats the layer cache: a deploy must act every time it is asked to."""
    return ctr.with_env_variable("DEPLOY_NONCE", nonce).with_exec(
        ["bash", SCRIPT, *args], expect=dagger.ReturnType.ANY
    )


def deployer(
    source: dagger.Directory,
    target: Target,
    env: Env,
    image: str,
    smoke_url: str,
    nonce: str,
    *,
    kubeconfig: dagger.Secret | None = None,
    docker_host: str = "",
    ssh_key: dagger.Secret | None = None,
    registry_password: dagger.Secret | None = None,
) -> dagger.Container:
    ctr = with_credentials(
        ops_image(source),
        kubeconfig=kubeconfig,
        docker_host=docker_host,
        ssh_key=ssh_key,
        registry_password=registry_password,
    )
    args = ["deploy", "--target", target.value, "--env", env.value,
            "--image", require_digest(image), "--smoke-url", smoke_url]  # fmt: skip
    return run_script(with_history(ctr, env), args, nonce)


def rollback_container(
    source: dagger.Directory,
    target: Target,
    env: Env,
    smoke_url: str,
    nonce: str,
    *,
    kubeconfig: dagger.Secret | None = None,
    docker_host: str = "",
    ssh_key: dagger.Secret | None = None,
) -> dagger.Container:
    ctr = with_credentials(
        ops_image(source), kubeconfig=kubeconfig, docker_host=docker_host, ssh_key=ssh_key
    )
    args = ["rollback", "--target", target.value, "--env", env.value, "--smoke-url", smoke_url]
    return run_script(with_history(ctr, env), args, nonce)


def smoke_container(source: dagger.Directory, url: str, nonce: str) -> dagger.Container:
    return run_script(ops_image(source), ["smoke", "--url", url], nonce)
