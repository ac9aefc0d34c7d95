"""The lint container: the project's own dev tools plus the Debian validators.

`lint` runs `task lint` in it, the same task a developer runs on a laptop, so the list of
linters lives in one place (Taskfile.yml) and this container only has to provide the binaries.
"""

from __future__ import annotations

from typing import Final

import dagger
from dagger import dag

from .facts import KUBECTL_IMAGE, PYTHON_IMAGE, UV_VERSION

WORKDIR: Final = "/src"
VENV: Final = "/opt/venv"
# Debian bookworm packages: the same shellcheck/promtool/amtool versions CI's machine installs.
APT_PACKAGES: Final = ("shellcheck", "prometheus", "prometheus-alertmanager")


def with_apt_packages(ctr: dagger.Container, packages: tuple[str, ...]) -> dagger.Container:
    """Install Debian packages; the apt caches are locked so parallel builds do not collide."""
    locked = dagger.CacheSharingMode.LOCKED
    return (
        ctr.with_mounted_cache("/var/cache/apt", dag.cache_volume("nox-apt-cache"), sharing=locked)
        .with_mounted_cache("/var/lib/apt/lists", dag.cache_volume("nox-apt-lists"), sharing=locked)
        # The slim image deletes downloaded packages after each install; keep them in the cache.
        .with_exec(["rm", "-f", "/etc/apt/apt.conf.d/docker-clean"])
        .with_exec(["apt-get", "update", "-qq"])
        .with_exec(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages])
        # Unmounted at once: a locked cache left mounted would block every other build that
        # installs packages for as long as this container's later steps run.
        .without_mount("/var/cache/apt")
        .without_mount("/var/lib/apt/lists")
    )


def with_uv(ctr: dagger.Container) -> dagger.Container:
    """uv from PyPI at a pinned version, with its download cache in a volume."""
    return (
        ctr.with_exec(["pip", "install", "--no-cache-dir", f"uv=={UV_VERSION}"])
        .with_mounted_cache("/root/.cache/uv", dag.cache_volume("nox-uv"))
        # The cache volume is another filesystem: hard links would fail.
        .with_env_variable("UV_LINK_MODE", "copy")
        # Outside the source tree, so mounting the sources never hides the environment.
        .with_env_variable("UV_PROJECT_ENVIRONMENT", VENV)
        .with_env_variable("PATH", f"{VENV}/bin:$PATH", expand=True)
    )


def with_project(ctr: dagger.Container, source: dagger.Directory) -> dagger.Container:
    """The locked dev environment first (a layer that survives code edits), then the sources."""
    return (
        ctr.with_workdir(WORKDIR)
        .with_file(f"{WORKDIR}/pyproject.toml", source.file("pyproject.toml"))
        .with_file(f"{WORKDIR}/uv.lock", source.file("uv.lock"))
        .with_exec(["uv", "sync", "--frozen", "--no-install-project"])
        .with_directory(WORKDIR, source)
        .with_exec(["uv", "sync", "--frozen"])
    )


def with_kubectl(ctr: dagger.Container) -> dagger.Container:
    """kubectl (with its built-in kustomize) from the official image, pinned by digest."""
    kubectl = dag.container().from_(KUBECTL_IMAGE).file("/bin/kubectl")
    return ctr.with_file("/usr/local/bin/kubectl", kubectl, permissions=0o755)


def toolbox(source: dagger.Directory) -> dagger.Container:
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_(lambda c: with_apt_packages(c, APT_PACKAGES))
        .with_(with_kubectl)
        .with_(with_uv)
        .with_(lambda c: with_project(c, source))
        .with_env_variable("CI", "true")
    )


def lint_container(source: dagger.Directory) -> dagger.Container:
    return toolbox(source).with_exec(["task", "lint"])
