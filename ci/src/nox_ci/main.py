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

from .deploying import (
    Credentials,
    Env,
    Target,
    deploy_source,
    deployer,
    rollback_container,
    smoke_container,
)
from .environments import (
    CONFIG_PATH,
    Config,
    ConfigError,
    Environment,
    missing_message,
    parse,
    registry_references,
)
from .facts import PLATFORMS
from .images import multi_platform_tarball, runtime_image, runtime_variants
from .publishing import digest_ref, image_address, pinned_ref, publisher
from .reports import scan_report, suite_report
from .scanning import scan_container
from .suite import TIERS, suite_container
from .toolbox import lint_container

# Never uploaded to the engine: secrets (the same patterns .dockerignore keeps out of images;
# tests/pipeline/test_source_ignore.py holds the two lists together), caches, environments,
# local data and the module's own SDK.
SOURCE_IGNORE = [
    ".env", ".env.*", "**/.env", "**/.env.*", "*.pem", "*.key", "**/*.pem", "**/*.key",
    ".git", ".venv", "**/__pycache__", "**/*.py[cod]", "node_modules", "**/node_modules",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".coverage", "htmlcov", ".idea", ".vscode",
    ".nox-data", "data", "backups", "*.log", "*.sqlite", "*.db", "build", "dist", "reports",
    "ci/sdk", "ci/.venv",
    "!.env.example",  # last: the variables' template (no secrets), as in .dockerignore
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


async def _read_secrets(references: dict[str, str]) -> dict[str, dagger.Secret]:
    """Every credential a call needs, read before anything runs; all missing ones in one error."""
    found: dict[str, dagger.Secret] = {}
    unset: dict[str, str] = {}
    for key, reference in references.items():
        secret = dag.secret(reference)
        try:
            # only to learn now, not mid-rollout, that it is unset (or set but empty: what a
            # GitHub Actions expression gives for a secret the repository does not have)
            present = bool((await secret.plaintext()).strip())
        except dagger.QueryError:
            present = False
        if present:
            found[key] = secret
        else:
            unset[key] = reference
    if unset:
        raise PipelineError(missing_message(unset))
    return found


@object_type
class NoxCi:
    """Lint, test, scan, build, publish and deploy Nox 7."""

    source: Annotated[
        dagger.Directory,
        DefaultPath("/"),
        Ignore(SOURCE_IGNORE),
        Doc("The repository checkout (defaults to the git root holding dagger.json)"),
    ]

    async def _config(self) -> Config:
        try:
            return parse(await self.source.file(CONFIG_PATH).contents())
        except ConfigError as exc:
            raise PipelineError(str(exc)) from exc

    async def _environment(self, env: Env) -> Environment:
        try:
            return (await self._config()).environment(env.value)
        except ConfigError as exc:
            raise PipelineError(str(exc)) from exc

    @function
    async def lint(self) -> str:
        """Every linter and validator of `task lint` (ruff, mypy, hadolint, shellcheck, ...)."""
        return await lint_container(self.source).stdout()

    @function
    async def test(
        self,
        tiers: Annotated[
            list[str] | None, Doc("Tiers to run: unit, integration, e2e, pipeline")
        ] = None,
        paths: Annotated[
            list[str] | None,
            Doc("Only these test files or node ids, inside the chosen tiers (e.g. a failing test)"),
        ] = None,
        fail: Annotated[bool, Doc("Also raise when a test fails (after the report)")] = False,
    ) -> dagger.Directory:
        """The test tiers next to PostgreSQL, Redis and OIDC; returns junit.xml and `outcome`,
        also when tests fail, so the report can be exported exactly when it matters."""
        ctr = suite_container(self.source, tiers or TIERS, paths or ())
        report, passed = await suite_report(ctr)
        if fail and not passed:
            await _require_success(ctr, "tests")
        return report

    @never_cached
    async def scan(
        self,
        fail: Annotated[bool, Doc("Also raise on fixed HIGH/CRITICAL findings")] = False,
    ) -> dagger.Directory:
        """Trivy on the runtime image: trivy.sarif, sbom.cdx.json and `outcome`, also when
        findings fail the gate."""
        platform = str(await dag.default_platform())
        ctr = scan_container(runtime_image(self.source, platform).as_tarball(), nonce())
        report, passed = await scan_report(ctr)
        if fail and not passed:
            await _require_success(ctr, "trivy (fixed HIGH/CRITICAL findings)")
        return report

    @function
    def build(
        self,
        platforms: Annotated[list[str] | None, Doc("e.g. linux/amd64,linux/arm64")] = None,
        revision: Annotated[str, Doc("git commit for the OCI revision label")] = "",
    ) -> dagger.File:
        """The runtime image for every platform, as one OCI archive (`export --path nox.tar`)."""
        return multi_platform_tarball(self.source, platforms or PLATFORMS, revision)

    async def _registry_user(self, config: Config, found: dict[str, dagger.Secret]) -> str:
        if "registry.username" in found:
            return (await found["registry.username"].plaintext()).strip()
        return config.registry.username

    @never_cached
    async def publish(
        self,
        registry: Annotated[str, Doc("default: deploy/environments.toml [registry] address")] = "",
        image: Annotated[str, Doc("repository path, default: [registry] image")] = "",
        tags: Annotated[list[str] | None, Doc("default: [registry] tags (+ sha-REVISION)")] = None,
        username: Annotated[str, Doc("default: [registry] username")] = "",
        password: Annotated[dagger.Secret | None, Doc("default: [registry] password")] = None,
        platforms: list[str] | None = None,
        revision: Annotated[str, Doc("git commit: OCI label and an extra sha- tag")] = "",
    ) -> str:
        """Pushes every platform variant under each tag; returns `registry/image@sha256:...`."""
        config = await self._config()
        found = await _read_secrets(
            registry_references(config.registry, username=username, password=password)
        )
        user = username or await self._registry_user(config, found)
        secret = password or found["registry.password"]
        address = registry or config.registry.address
        repository = image or config.registry.image
        chosen = tags or [*config.registry.tags, *([f"sha-{revision}"] if revision else [])]
        variants = runtime_variants(self.source, platforms or PLATFORMS, revision)
        pusher = publisher(address, user, secret)
        addresses = [image_address(address, repository, tag) for tag in chosen]
        published = [await pusher.publish(a, platform_variants=variants) for a in addresses]
        return digest_ref(address, repository, published)

    async def _deployment(
        self,
        env: Env,
        target: Target | None,
        given: Credentials,
        *,
        image: str | None,
        gate: bool = False,
    ) -> tuple[Target, str, Credentials, str]:
        """Target, URL, credentials and image of `env`: flags first, deploy/environments.toml
        after; every credential is read (and every missing one named) before anything runs.
        `image=""` means: the digest the environment's tag points at in the registry.
        `gate`: a deploy, so also the load gate's users (rollback runs no gate)."""
        config = await self._config()
        environment = await self._environment(env)
        named = environment.credentials() | (environment.gate_credentials() if gate else {})
        wanted = {key: ref for key, ref in named.items() if getattr(given, key) is None}
        if image == "":
            wanted |= registry_references(config.registry)
        found = await _read_secrets(wanted)
        credentials = Credentials(
            kubeconfig=given.kubeconfig or found.get("kubeconfig"),
            docker_host=given.docker_host or environment.docker_host,
            ssh_key=given.ssh_key or found.get("ssh_key"),
            known_hosts=given.known_hosts or found.get("known_hosts"),
            load_tokens=given.load_tokens or found.get("load_tokens"),
        )
        if image == "":
            image = await self._released_image(config, environment.tag, found)
        return target or Target(environment.target), environment.url, credentials, image or ""

    async def _released_image(
        self, config: Config, tag: str, found: dict[str, dagger.Secret]
    ) -> str:
        """The digest `tag` points at: what `publish` pushed last under it."""
        registry = config.registry
        user = await self._registry_user(config, found)
        login = publisher(registry.address, user, found["registry.password"])
        address = image_address(registry.address, registry.image, tag)
        resolved = await login.from_(address).image_ref()
        return pinned_ref(registry.address, registry.image, resolved)

    @never_cached
    async def deploy(
        self,
        env: Annotated[Env, Doc("staging or prod, as named in deploy/environments.toml")],
        image: Annotated[str, Doc("image by digest; default: the digest of the env's tag")] = "",
        target: Annotated[Target | None, Doc("default: the environment's target")] = None,
        smoke_url: Annotated[str, Doc("default: the environment's url")] = "",
        kubeconfig: Annotated[dagger.Secret | None, Doc("default: from the env's config")] = None,
        docker_host: Annotated[str, Doc("Swarm: e.g. ssh://deploy@host")] = "",
        ssh_key: Annotated[dagger.Secret | None, Doc("key for an ssh:// docker_host")] = None,
        known_hosts: Annotated[dagger.Secret | None, Doc("the ssh host's key")] = None,
        preview_url: Annotated[str, Doc("k8s: Service/api-preview's URL; default: config")] = "",
        load_tokens: Annotated[
            dagger.Secret | None, Doc("the load gate's API tokens; default: from the config")
        ] = None,
    ) -> str:
        """scripts/deploy.sh deploy: migrate, roll out, smoke test, load gate, roll back on
        failure."""
        given = Credentials(kubeconfig, docker_host, ssh_key, known_hosts, load_tokens)
        chosen, url, credentials, ref = await self._deployment(
            env, target, given, image=image, gate=True
        )
        environment = await self._environment(env)
        ctr = deployer(
            deploy_source(self.source), chosen, env, ref, smoke_url or url, nonce(), credentials,
            preview_url=preview_url or environment.preview_url, settings=environment.settings,
        )  # fmt: skip
        await _require_success(ctr, f"deploy to {env.value}")
        return await ctr.stdout()

    @never_cached
    async def rollback(
        self,
        env: Env,
        target: Target | None = None,
        smoke_url: str = "",
        kubeconfig: dagger.Secret | None = None,
        docker_host: str = "",
        ssh_key: dagger.Secret | None = None,
        known_hosts: dagger.Secret | None = None,
        preview_url: str = "",
    ) -> str:
        """scripts/deploy.sh rollback: back to the image recorded on the target itself (labels
        of the Swarm api service, annotations of the Kubernetes api Service): no local state."""
        given = Credentials(kubeconfig, docker_host, ssh_key, known_hosts)
        chosen, url, credentials, _ = await self._deployment(env, target, given, image=None)
        environment = await self._environment(env)
        ctr = rollback_container(
            deploy_source(self.source), chosen, env, smoke_url or url, nonce(), credentials,
            preview_url=preview_url or environment.preview_url, settings=environment.settings,
        )  # fmt: skip
        await _require_success(ctr, f"rollback of {env.value}")
        return await ctr.stdout()

    @never_cached
    async def smoke(self, url: Annotated[str, Doc("base URL, e.g. https://nox.example")]) -> str:
        """The deploy script's smoke checks against a running Nox."""
        ctr = smoke_container(deploy_source(self.source), url, nonce())
        await _require_success(ctr, f"smoke test of {url}")
        return await ctr.stdout()
