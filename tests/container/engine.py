"""Thin helpers over the real Docker engine for the container tier.

Builds go through ``/usr/bin/docker`` with BuildKit: on Debian that is the 20.10 client,
which has BuildKit built in (a newer client without buildx refuses). Compose is v2 as a CLI
plugin (``.ci/install-docker.sh``). Everything this tier creates is named ``nox-ctr-...``
(or ``$NOX_CTR_PREFIX-...``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
# Several checkouts may share one engine: NOX_CTR_PREFIX keeps their images and stacks apart.
PREFIX = os.environ.get("NOX_CTR_PREFIX", "nox-ctr")
BUILD_DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
INSTALL_HINT = "run .ci/install-docker.sh (Debian docker.io, dockerd, Compose v2 plugin)"


def docker_cli() -> str | None:
    return shutil.which("docker") or (BUILD_DOCKER if Path(BUILD_DOCKER).exists() else None)


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; on failure raise with the output in the message."""
    proc = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def engine_answers() -> bool:
    cli = docker_cli()
    if cli is None:
        return False
    return (
        run([cli, "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30).returncode
        == 0
    )


def compose_v2_present() -> bool:
    cli = docker_cli()
    return cli is not None and run([cli, "compose", "version"], check=False).returncode == 0


def build_args(python_image: str) -> list[str]:
    """The arguments every build of ours shares: base image and, if the host has one, the CA."""
    args = ["--build-arg", f"PYTHON_IMAGE={python_image}"]
    if HOST_CA.is_file():
        args += ["--secret", f"id=ca,src={HOST_CA}"]
    return args


def build(
    tag: str,
    *,
    python_image: str,
    target: str | None = None,
    dockerfile: str = "Dockerfile",
    extra: Sequence[str] = (),
    context: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    args = [BUILD_DOCKER, "build", "--progress=plain", "-f", str(context / dockerfile), "-t", tag]
    if target:
        args += ["--target", target]
    args += [*build_args(python_image), *extra, str(context)]
    with building(dockerfile, target):
        return run(args, env={"DOCKER_BUILDKIT": "1"}, timeout=1200)


@contextmanager
def building(dockerfile: str, target: str | None) -> Iterator[None]:
    """A lock per Dockerfile stage shared by the test workers of this machine: the container
    tier's two groups ask for the same images at the same time, and a second build of a stage
    should wait for the first and then find every layer cached, not do the same work beside it."""
    name = f"{PREFIX}-build-{Path(dockerfile).name}-{target or 'last'}"
    path = Path(tempfile.gettempdir()) / f"{name}.lock"
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def container_state(container: str, template: str) -> str:
    """One `docker inspect -f TEMPLATE` value of a container."""
    return run(["docker", "inspect", "-f", template, container]).stdout.strip()


def health(container: str) -> str:
    proc = run(
        [
            "docker",
            "inspect",
            "-f",
            "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
            container,
        ],
        check=False,
    )
    return proc.stdout.strip()


@dataclass
class Compose:
    """One compose project of this tier: files, project name and environment."""

    project: str
    files: list[str]
    env: dict[str, str]
    directory: Path = REPO
    profiles: list[str] = field(default_factory=list)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "-p", self.project, "--project-directory", str(self.directory)]
        for name in self.files:
            cmd += ["-f", str(self.directory / name)]
        for profile in self.profiles:
            cmd += ["--profile", profile]
        return run([*cmd, *args], check=check, env=self.env, timeout=timeout, cwd=self.directory)

    def container(self, service: str) -> str:
        return self("ps", "-a", "-q", service).stdout.strip()

    def down(self) -> None:
        self("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=180)


def http_client(port: int, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60)
