"""deploy, rollback and smoke run scripts/deploy.sh: the code path operators run by hand.

The script holds the logic (migrations first, rollout, smoke test on real routes, automatic
rollback, a record of what was deployed); this module only provides its tools and credentials.
Credentials arrive as Dagger secrets and reach the script as files or secret variables, never
as plaintext arguments, environment values or image layers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

import dagger
from dagger import dag

from .facts import DOCKER_CLI_IMAGE, KUBECTL_IMAGE, PYTHON_IMAGE
from .toolbox import with_apt_packages

SCRIPT: Final = "scripts/deploy.sh"
WORKDIR: Final = "/src"
# The script's append-only log of what was deployed, in a cache volume per environment. It is
# only a log: `rollback` reads the release record on the target itself (labels on the Swarm
# api service, annotations on the Kubernetes api Service), so a fresh engine can roll back.
STATE_DIR: Final = "/var/lib/nox-deploy"
KUBECONFIG_PATH: Final = "/run/secrets/kubeconfig"
SSH_KEY_PATH: Final = "/root/.ssh/id_deploy"
KNOWN_HOSTS_PATH: Final = "/root/.ssh/known_hosts"
# The load gate's users (deploy/loadgate.py reads the file NOX_LOAD_TOKENS_FILE names).
LOAD_TOKENS_PATH: Final = "/run/secrets/load-tokens"
# What scripts/deploy.sh reads: its package, the manifests it applies, nothing else.
DEPLOY_PATHS: Final = ("deploy", "scripts", "swarm", "k8s", "seccomp")
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


@dataclass(frozen=True)
class Credentials:
    """How the deploy script reaches its target; each one a Dagger secret, never plaintext."""

    kubeconfig: dagger.Secret | None = None
    docker_host: str = ""
    ssh_key: dagger.Secret | None = None
    known_hosts: dagger.Secret | None = None
    load_tokens: dagger.Secret | None = None  # the load gate's users (deploy only)


def deploy_source(source: dagger.Directory) -> dagger.Directory:
    """The narrowest tree the deploy script needs: no tests, no app sources, no local files."""
    tree = dag.directory()
    for path in DEPLOY_PATHS:
        tree = tree.with_directory(path, source.directory(path))
    return tree


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


def with_credentials(ctr: dagger.Container, credentials: Credentials) -> dagger.Container:
    if credentials.kubeconfig is not None:
        ctr = ctr.with_mounted_secret(
            KUBECONFIG_PATH, credentials.kubeconfig, mode=0o400
        ).with_env_variable("KUBECONFIG", KUBECONFIG_PATH)
    if credentials.ssh_key is not None:
        ctr = with_ssh(ctr, credentials.ssh_key, credentials.known_hosts)
    if credentials.docker_host:
        ctr = ctr.with_env_variable("DOCKER_HOST", credentials.docker_host)
    if credentials.load_tokens is not None:
        # a file, not a variable: docker, kubectl and ssh, started by the script, inherit
        # its environment but never read this file
        ctr = ctr.with_mounted_secret(
            LOAD_TOKENS_PATH, credentials.load_tokens, mode=0o400
        ).with_env_variable("NOX_LOAD_TOKENS_FILE", LOAD_TOKENS_PATH)
    return ctr


def with_ssh(
    ctr: dagger.Container, key: dagger.Secret, known_hosts: dagger.Secret | None
) -> dagger.Container:
    """docker's ssh:// transport runs the ssh client, which reads this identity; the host's
    key must be known in advance (StrictHostKeyChecking yes): a first connection is no proof."""
    if known_hosts is None:
        raise ValueError("an ssh:// docker host needs known_hosts (the host's public key)")
    return (
        ctr.with_mounted_secret(SSH_KEY_PATH, key, mode=0o400)
        .with_mounted_secret(KNOWN_HOSTS_PATH, known_hosts, mode=0o400)
        .with_new_file(
            "/root/.ssh/config",
            f"Host *\n  IdentityFile {SSH_KEY_PATH}\n  UserKnownHostsFile {KNOWN_HOSTS_PATH}\n"
            "  StrictHostKeyChecking yes\n",
            permissions=0o600,
        )
    )


def with_history(ctr: dagger.Container, env: Env) -> dagger.Container:
    return ctr.with_mounted_cache(
        STATE_DIR,
        dag.cache_volume(f"nox-deploy-history-{env.value}"),
        sharing=dagger.CacheSharingMode.LOCKED,  # one rollout per environment at a time
    ).with_env_variable("NOX_DEPLOY_STATE_DIR", STATE_DIR)


def with_settings(ctr: dagger.Container, settings: tuple[tuple[str, str], ...]) -> dagger.Container:
    """The environment's non-secret deploy.sh variables (deploy/environments.toml)."""
    for name, value in settings:
        ctr = ctr.with_env_variable(name, value)
    return ctr


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
    credentials: Credentials = Credentials(),
    preview_url: str = "",
    settings: tuple[tuple[str, str], ...] = (),
) -> dagger.Container:
    ctr = with_settings(with_credentials(ops_image(source), credentials), settings)
    args = ["deploy", "--target", target.value, "--env", env.value,
            "--image", require_digest(image), "--smoke-url", smoke_url]  # fmt: skip
    args += ["--preview-url", preview_url] if preview_url else []
    return run_script(with_history(ctr, env), args, nonce)


def rollback_container(
    source: dagger.Directory,
    target: Target,
    env: Env,
    smoke_url: str,
    nonce: str,
    credentials: Credentials = Credentials(),
    preview_url: str = "",
    settings: tuple[tuple[str, str], ...] = (),
) -> dagger.Container:
    ctr = with_settings(with_credentials(ops_image(source), credentials), settings)
    args = ["rollback", "--target", target.value, "--env", env.value, "--smoke-url", smoke_url]
    args += ["--preview-url", preview_url] if preview_url else []
    return run_script(with_history(ctr, env), args, nonce)


def smoke_container(source: dagger.Directory, url: str, nonce: str) -> dagger.Container:
    return run_script(ops_image(source), ["smoke", "--url", url], nonce)
