"""`dagger call` entry points: each one is a thin wrapper over the builders of this package.

Builders return lazy Container/Service/File objects and are tested offline
(tests/pipeline); the functions here only await leaf calls and turn exit codes into errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import dagger
from dagger import DefaultPath, Doc, Ignore, dag, function, object_type

from .deploying import Env, Target, deployer, rollback_container, smoke_container
from .facts import PLATFORMS
from .images import multi_platform_tarball, runtime_image, runtime_variants
from .publishing import digest_ref, image_address, publisher
from .scanning import REPORTS, scan_container
from .suite import REPORT, TIERS, suite_container
from .toolbox import lint_container

# Never uploaded to the engine: caches, environments, local data and the module's own SDK.
SOURCE_IGNORE = [
    ".git", ".venv", "**/__pycache__", "**/node_modules", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".nox-data", "build", "dist", "ci/sdk", "ci/.venv", "reports",
]  # fmt: skip


F = TypeVar("F", bound=Callable[..., Any])


def never_cached(func: F) -> F:
    """`@function(cache="never")`: the result depends on the world, not only on the inputs."""
    # The SDK's typing overloads of `function` leave out its `cache` keyword.
    decorate: Callable[[F], F] = function(cache="never")  # type: ignore[call-overload]
    return decorate(func)


class PipelineError(RuntimeError):
    """A step ran and failed; the message says which one and shows its output's tail."""


def nonce() -> str:
    """A value that differs on every call, for execs that must never replay a cached result."""
    return str(time.time_ns())


async def _require_success(ctr: dagger.Container, step: str) -> None:
    if await ctr.exit_code() != 0:
        tail = (await ctr.stdout())[-4000:] + (await ctr.stderr())[-4000:]
        raise PipelineError(f"{step} failed:\n{tail}")


@object_type
class NoxCi:
    """Lint, test, scan, build, publish and deploy Nox 7."""

    source: Annotated[
        dagger.Directory,
        DefaultPath("/"),
        Ignore(SOURCE_IGNORE),
        Doc("The repository checkout (defaults to the git root holding dagger.json)"),
    ]

    @function
    async def lint(self) -> str:
        """Every linter and validator of `task lint` (ruff, mypy, hadolint, shellcheck, ...)."""
        return await lint_container(self.source).stdout()

    @function
    async def test(
        self,
        tiers: Annotated[list[str] | None, Doc("Tiers to run: unit, integration, e2e")] = None,
        fail: Annotated[bool, Doc("Raise when a test fails (false: return the report)")] = True,
    ) -> dagger.File:
        """The test tiers in the Dockerfile's test image with PostgreSQL, Redis and OIDC."""
        ctr = suite_container(self.source, tiers or TIERS)
        if fail:
            await _require_success(ctr, "tests")
        return ctr.file(REPORT)

    @never_cached
    async def scan(
        self,
        fail: Annotated[bool, Doc("Raise on fixed HIGH/CRITICAL findings")] = True,
    ) -> dagger.Directory:
        """Trivy on the runtime image: trivy.sarif (vuln, secret, misconfig) and sbom.cdx.json."""
        platform = str(await dag.default_platform())
        ctr = scan_container(runtime_image(self.source, platform).as_tarball(), nonce())
        if fail:
            await _require_success(ctr, "trivy (fixed HIGH/CRITICAL findings)")
        return ctr.directory(REPORTS)

    @function
    def build(
        self,
        platforms: Annotated[list[str] | None, Doc("e.g. linux/amd64,linux/arm64")] = None,
        revision: Annotated[str, Doc("git commit for the OCI revision label")] = "",
    ) -> dagger.File:
        """The runtime image for every platform, as one OCI archive (`export --path nox.tar`)."""
        return multi_platform_tarball(self.source, platforms or PLATFORMS, revision)

    @never_cached
    async def publish(
        self,
        registry: Annotated[str, Doc("e.g. ghcr.io")],
        image: Annotated[str, Doc("repository path, e.g. acme/nox")],
        tags: Annotated[list[str], Doc("tags to push, e.g. 7.0.0,main")],
        username: str,
        password: Annotated[dagger.Secret, Doc("registry token, e.g. env://REGISTRY_TOKEN")],
        platforms: list[str] | None = None,
        revision: str = "",
    ) -> str:
        """Pushes every platform variant under each tag; returns `registry/image@sha256:...`."""
        variants = runtime_variants(self.source, platforms or PLATFORMS, revision)
        pusher = publisher(registry, username, password)
        published = [
            await pusher.publish(image_address(registry, image, tag), platform_variants=variants)
            for tag in tags
        ]
        return digest_ref(registry, image, published)

    @never_cached
    async def deploy(
        self,
        target: Annotated[Target, Doc("swarm or k8s")],
        env: Env,
        image: Annotated[str, Doc("image by digest, as `publish` returns it")],
        smoke_url: Annotated[str, Doc("public URL of the environment, for the smoke test")],
        kubeconfig: Annotated[dagger.Secret | None, Doc("for Kubernetes targets")] = None,
        docker_host: Annotated[str, Doc("for Swarm targets, e.g. ssh://deploy@host")] = "",
        ssh_key: Annotated[dagger.Secret | None, Doc("key for an ssh:// docker_host")] = None,
        registry_password: Annotated[dagger.Secret | None, Doc("to pull a private image")] = None,
    ) -> str:
        """scripts/deploy.sh deploy: migrate, roll out, smoke test, roll back on failure."""
        ctr = deployer(
            self.source, target, env, image, smoke_url, nonce(),
            kubeconfig=kubeconfig, docker_host=docker_host, ssh_key=ssh_key,
            registry_password=registry_password,
        )  # fmt: skip
        await _require_success(ctr, f"deploy to {env.value}")
        return await ctr.stdout()

    @never_cached
    async def rollback(
        self,
        target: Target,
        env: Env,
        smoke_url: str,
        kubeconfig: dagger.Secret | None = None,
        docker_host: str = "",
        ssh_key: dagger.Secret | None = None,
    ) -> str:
        """scripts/deploy.sh rollback: back to the previously recorded digest."""
        ctr = rollback_container(
            self.source, target, env, smoke_url, nonce(),
            kubeconfig=kubeconfig, docker_host=docker_host, ssh_key=ssh_key,
        )  # fmt: skip
        await _require_success(ctr, f"rollback of {env.value}")
        return await ctr.stdout()

    @never_cached
    async def smoke(self, url: Annotated[str, Doc("base URL, e.g. https://nox.example")]) -> str:
        """The deploy script's smoke checks against a running Nox."""
        ctr = smoke_container(self.source, url, nonce())
        await _require_success(ctr, f"smoke test of {url}")
        return await ctr.stdout()
