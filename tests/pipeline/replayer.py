"""A test-only replayer of Dagger graphs on the local Docker engine. It is not Dagger.

No Dagger engine can run on our machines, so the lazy graph a function of the module builds
(the same selections `tests/pipeline/graph.py` reads) is executed here step by step with the
Docker CLI instead: `from` (pinned references mapped to local stand-in images, the mapping
printed), `withExec` (a container run, then committed as the next image), environment, workdir,
user, mounted directories, files, secrets and cache volumes (named volumes), service bindings
(containers on a private network under their aliases, started once, healthy before use),
Dockerfile builds with target and build arguments, `file`/`directory` reads, exports and
single-platform tarballs. `replaying()` patches the SDK's leaf calls (`exit_code`, `stdout`,
`contents`, `export`, ...) so the module's own async functions run unchanged.

What it does not model, and docs/pipeline.md lists: Dagger's caching and its cache keys,
multi-platform builds and exports, registry pushes, secret scrubbing in logs, `Host` services.
Two deliberate differences: an exec with no service binding runs on the host network (so a
smoke test reaches a Nox on loopback), and `host_docker=True` mounts the engine's socket into
execs, standing in for a deploy's ssh:// Docker host.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import dagger
import pytest

from tests.pipeline import graph

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
SOCKET = "/var/run/docker.sock"
# The host's CA bundle: where TLS to package registries goes through an inspecting proxy, an
# engine is configured with its CA, which then reaches every container; so do execs here.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
# `insecure_root_capabilities` is every capability in Dagger; this machine's engine cannot grant
# them (runc: "unable to apply caps"), so the replayer gives what the flag is used for here,
# bubblewrap's user namespaces: no seccomp filter, no AppArmor profile, an unmasked /proc.
UNCONFINED = [
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
]  # fmt: skip
CA_VARIABLES = ("NODE_EXTRA_CA_CERTS", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class ReplayError(RuntimeError):
    """A step the replayer cannot perform, or an exec that failed where success was expected."""


@dataclass(frozen=True)
class Mount:
    target: str
    source: str  # a host path, or a named volume for caches
    kind: str  # "bind" or "volume"
    readonly: bool = False

    def args(self) -> list[str]:
        spec = f"type={self.kind},source={self.source},target={self.target}"
        return ["--mount", spec + (",readonly" if self.readonly else "")]


@dataclass(frozen=True)
class Ctr:
    """A container as the chain has built it so far."""

    image: str
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"
    user: str = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    secret_env: tuple[tuple[str, str], ...] = ()
    services: tuple[tuple[str, Any], ...] = ()  # alias -> Service object (replayed on bind)
    healthcheck: tuple[tuple[str, ...], str, int] | None = None
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""

    def with_env(self, name: str, value: str) -> Ctr:
        return replace(self, env=(*((k, v) for k, v in self.env if k != name), (name, value)))

    def env_value(self, name: str) -> str:
        return dict(self.env).get(name, "")


@dataclass(frozen=True)
class Svc:
    """A service not yet started: the container it runs and its arguments."""

    ctr: Ctr
    args: tuple[str, ...] | None
    use_entrypoint: bool


def _expand(value: str, env: Mapping[str, str]) -> str:
    for name in sorted(env, key=len, reverse=True):
        value = value.replace(f"${{{name}}}", env[name]).replace(f"${name}", env[name])
    return value


def _matches(relative: str, pattern: str) -> bool:
    bare = pattern.removeprefix("**/")
    if fnmatch(relative, pattern) or fnmatch(relative, bare):
        return True
    return pattern.startswith("**/") and fnmatch(relative.rsplit("/", 1)[-1], bare)


def _ignored(relative: str, patterns: Sequence[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins, and ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _matches(relative, pattern.removeprefix("!")):
            ignored = not negated
    return ignored


@dataclass
class Replayer:
    images: Mapping[str, str]  # pinned reference -> local stand-in image
    scratch: Path
    prefix: str = "nox-replay"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    host_ignore: Sequence[str] = ()  # patterns left out of a host directory (the upload)
    host_overlay: Mapping[str, str] = field(default_factory=dict)  # relative path -> text
    host_docker: bool = False
    # The CA bundle the engine hands to every container (Dagger: an engine configured with a
    # custom CA); a test adds its own CA to the host's here.
    ca_bundle: Path = HOST_CA
    log: list[str] = field(default_factory=list)
    _memo: dict[Any, Any] = field(default_factory=dict)
    _started: list[str] = field(default_factory=list)
    _images: list[str] = field(default_factory=list)  # committed or built here, removed at close
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _network: str = ""

    # ---- the engine side: docker commands -------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise ReplayError(
                f"docker {' '.join(args[:3])} … exited {proc.returncode}: {proc.stderr[-2000:]}"
            )
        return proc

    def commit(self, container: str) -> str:
        image = self.docker("commit", container).stdout.strip()
        self._images.append(image)
        return image

    def _name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-{os.getpid()}-{next(self._counter)}"

    def _temp(self, kind: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.scratch))

    def network(self) -> str:
        if not self._network:
            self._network = self._name("net")
            self.docker("network", "create", self._network)
        return self._network

    def close(self) -> None:
        for name in reversed(self._started):
            self.docker("rm", "-f", name, check=False)
        for image in reversed(self._images):
            self.docker("image", "rm", "-f", image, check=False)
        if self._network:
            self.docker("network", "rm", self._network, check=False)

    # ---- evaluation: selections in order, memoised by their fingerprint -------------------

    def fingerprint(self, value: Any) -> Any:
        if graph.is_dagger_object(value):
            return tuple((s.name, self.fingerprint(s.args)) for s in graph.steps(value))
        if isinstance(value, dict):
            return tuple(sorted((k, self.fingerprint(v)) for k, v in value.items()))
        if isinstance(value, list | tuple):
            return tuple(self.fingerprint(v) for v in value)
        return repr(value)

    def value(self, obj: Any) -> Any:
        steps = graph.steps(obj)
        current: Any = None
        for i, step in enumerate(steps):
            key = tuple((s.name, self.fingerprint(s.args)) for s in steps[: i + 1])
            if key in self._memo:
                current = self._memo[key]
                continue
            handler = self._handler(current, step.name)
            current = handler(**step.args) if current is None else handler(current, **step.args)
            self._memo[key] = current
        return current

    def _handler(self, current: Any, name: str) -> Callable[..., Any]:
        kind = {Ctr: "ctr", Path: "path", Svc: "svc", str: "str"}.get(type(current), "root")
        if isinstance(current, Path):
            kind = "dir" if current.is_dir() else "file"
        handler = getattr(self, f"_{kind}_{name}", None)
        if handler is None:
            raise ReplayError(f"the replayer does not model {name} on a {kind}")
        return handler  # type: ignore[no-any-return]

    # ---- roots ----------------------------------------------------------------------------

    def _root_container(self, **_: Any) -> Ctr:
        return Ctr(image="")

    def _root_directory(self, **_: Any) -> Path:
        return self._temp("dir")

    def _root_host(self, **_: Any) -> str:
        return "host"

    def _str_directory(self, _host: str, path: str, exclude: Sequence[str] = (), **_: Any) -> Path:
        """A host directory as the engine uploads it: ignore patterns applied, overlay written."""
        target = self._temp("host") / "tree"
        patterns = [*self.host_ignore, *exclude]
        root = Path(path)

        def skip(folder: str, names: list[str]) -> set[str]:
            relative = os.path.relpath(folder, root)
            prefix = "" if relative == "." else relative + "/"
            return {n for n in names if _ignored(prefix + n, patterns)}

        shutil.copytree(root, target, ignore=skip, symlinks=True)
        for relative, text in self.host_overlay.items():
            (target / relative).write_text(text)
        return target

    def _root_setSecret(self, name: str, plaintext: str, **_: Any) -> str:
        return plaintext

    def _root_secret(self, uri: str, **_: Any) -> str:
        if uri.startswith("env://"):
            variable = uri.removeprefix("env://")
            if variable not in self.environ:
                raise ReplayError(f"secret env var not found: {variable}")
            return self.environ[variable]
        if uri.startswith("file://"):
            return Path(uri.removeprefix("file://")).expanduser().read_text()
        raise ReplayError(f"the replayer reads env:// and file:// secrets, not {uri}")

    def _root_cacheVolume(self, key: str, **_: Any) -> str:
        return f"{self.prefix}-cache-{key}"

    def secret_text(self, secret: Any) -> str:
        text = self.value(secret)
        assert isinstance(text, str)
        return text

    # ---- directories and files -----------------------------------------------------------

    def _dir_directory(self, current: Path, path: str, **_: Any) -> Path:
        copy = self._temp("dir") / "d"
        shutil.copytree(current / path.lstrip("/"), copy, symlinks=True)
        return copy

    def _dir_file(self, current: Path, path: str, **_: Any) -> Path:
        copy = self._temp("file") / Path(path).name
        shutil.copy2(current / path.lstrip("/"), copy)
        return copy

    def _dir_withDirectory(self, current: Path, path: str, source: Any, **_: Any) -> Path:
        copy = self._copy_dir(current)
        shutil.copytree(
            self.value(source), copy / path.lstrip("/"), dirs_exist_ok=True, symlinks=True
        )
        return copy

    def _dir_withNewFile(self, current: Path, path: str, contents: str, **_: Any) -> Path:
        copy = self._copy_dir(current)
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        (copy / path).write_text(contents)
        return copy

    def _copy_dir(self, current: Path) -> Path:
        copy = self._temp("dir") / "d"
        shutil.copytree(current, copy, symlinks=True)
        return copy

    def _dir_dockerBuild(
        self,
        current: Path,
        target: str = "",
        platform: str = "",
        buildArgs: Sequence[Any] = (),
        dockerfile: str = "Dockerfile",
        **_: Any,
    ) -> Ctr:
        tag = f"{self.prefix}/build:{next(self._counter)}-{os.getpid()}"
        args = ["build", "-q", "-t", tag, "-f", str(current / dockerfile)]
        args += ["--target", target] if target else []
        args += ["--platform", platform] if platform else []
        for arg in buildArgs:  # {"name", "value"} inputs, as the SDK serialises BuildArg
            value = self.images.get(arg["value"], arg["value"])  # pinned bases -> stand-ins
            if value != arg["value"]:
                self.log.append(f"build-arg {arg['name']}: {arg['value']} -> {value}")
            args += ["--build-arg", f"{arg['name']}={value}"]
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        args += ["--secret", f"id=ca,src={ca}"] if ca.is_file() else []
        proc = subprocess.run(
            [DOCKER, *args, str(current)], capture_output=True, text=True, check=False,
            env={**os.environ, "DOCKER_BUILDKIT": "1"}, timeout=1800,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ReplayError(f"docker build {target or ''} failed: {proc.stderr[-3000:]}")
        self.log.append(f"dockerBuild target={target or '-'} -> {tag}")
        self._images.append(tag)
        return self._from_image(tag)

    # ---- containers ------------------------------------------------------------------------

    def _from_image(self, image: str) -> Ctr:
        config = json.loads(
            self.docker("image", "inspect", "--format", "{{json .Config}}", image).stdout
        )
        env = tuple((k, v) for k, _, v in (e.partition("=") for e in config.get("Env") or []))
        return Ctr(
            image=image, env=env,
            workdir=config.get("WorkingDir") or "/", user=config.get("User") or "",
            entrypoint=tuple(config.get("Entrypoint") or ()), cmd=tuple(config.get("Cmd") or ()),
        )  # fmt: skip

    def _ctr_from(self, current: Ctr, address: str, **_: Any) -> Ctr:
        local = self.images.get(address)
        if local is None:
            raise ReplayError(f"no local stand-in for {address}: add it to the image map")
        self.log.append(f"from {address} -> {local}")
        return replace(self._from_image(local), mounts=current.mounts)

    def _ctr_withEnvVariable(
        self, current: Ctr, name: str, value: str, expand: bool = False, **_: Any
    ) -> Ctr:
        return current.with_env(name, _expand(value, dict(current.env)) if expand else value)

    def _ctr_withoutEnvVariable(self, current: Ctr, name: str, **_: Any) -> Ctr:
        return replace(current, env=tuple((k, v) for k, v in current.env if k != name))

    def _ctr_withWorkdir(self, current: Ctr, path: str, **_: Any) -> Ctr:
        return replace(current, workdir=path)

    def _ctr_withUser(self, current: Ctr, name: str, **_: Any) -> Ctr:
        return replace(current, user=name)

    def _ctr_withSecretVariable(self, current: Ctr, name: str, secret: Any, **_: Any) -> Ctr:
        return replace(current, secret_env=(*current.secret_env, (name, self.secret_text(secret))))

    def _ctr_withMountedCache(self, current: Ctr, path: str, cache: Any, **_: Any) -> Ctr:
        return self._mount(current, Mount(path, self.value(cache), "volume"))

    def _ctr_withMountedSecret(
        self, current: Ctr, path: str, source: Any, mode: int = 0o400, **_: Any
    ) -> Ctr:
        file = self._temp("secret") / "secret"
        file.write_text(self.secret_text(source))
        file.chmod(mode)
        return self._mount(current, Mount(path, str(file), "bind", readonly=True))

    def _ctr_withMountedFile(self, current: Ctr, path: str, source: Any, **_: Any) -> Ctr:
        return self._mount(current, Mount(path, str(self.value(source)), "bind", readonly=True))

    def _ctr_withMountedDirectory(self, current: Ctr, path: str, source: Any, **_: Any) -> Ctr:
        return self._mount(current, Mount(path, str(self.value(source)), "bind"))

    def _ctr_withoutMount(self, current: Ctr, path: str, **_: Any) -> Ctr:
        return replace(current, mounts=tuple(m for m in current.mounts if m.target != path))

    def _mount(self, current: Ctr, mount: Mount) -> Ctr:
        others = tuple(m for m in current.mounts if m.target != mount.target)
        return replace(current, mounts=(*others, mount))

    def _ctr_withServiceBinding(self, current: Ctr, alias: str, service: Any, **_: Any) -> Ctr:
        return replace(current, services=(*current.services, (alias, service)))

    def _ctr_withExposedPort(self, current: Ctr, **_: Any) -> Ctr:
        return current

    def _ctr_withDockerHealthcheck(
        self, current: Ctr, args: Sequence[str], interval: str = "1s", retries: int = 30, **_: Any
    ) -> Ctr:
        return replace(current, healthcheck=(tuple(args), interval, retries))

    def _ctr_withDirectory(self, current: Ctr, path: str, source: Any, **_: Any) -> Ctr:
        return self._copy_in(current, self.value(source), path, contents=True)

    def _ctr_withFile(
        self, current: Ctr, path: str, source: Any, permissions: int | None = None, **_: Any
    ) -> Ctr:
        file = self.value(source)
        if permissions is not None:
            file.chmod(permissions)
        return self._copy_in(current, file, path)

    def _ctr_withNewFile(
        self, current: Ctr, path: str, contents: str, permissions: int = 0o644, **_: Any
    ) -> Ctr:
        file = self._temp("new") / Path(path).name
        file.write_text(contents)
        file.chmod(permissions)
        return self._copy_in(current, file, path)

    def _copy_in(self, current: Ctr, source: Path, path: str, *, contents: bool = False) -> Ctr:
        name = self._name("cp")
        destination = path if path.startswith("/") else f"{current.workdir.rstrip('/')}/{path}"
        self.docker("create", "--name", name, "--entrypoint", "/bin/true", current.image)
        try:
            parent = str(Path(destination).parent) if not contents else destination
            self._mkdir(name, parent, current.image)
            if contents:
                self.docker("cp", f"{source}/.", f"{name}:{destination}")
            else:
                self.docker("cp", str(source), f"{name}:{destination}")
            image = self.commit(name)
        finally:
            self.docker("rm", "-f", name, check=False)
        return replace(current, image=image)

    def _mkdir(self, name: str, path: str, image: str) -> None:
        """docker cp needs the parent: create it through an empty directory copy."""
        empty = self._temp("empty")
        walk = Path("/")
        for part in Path(path).parts[1:]:
            walk = walk / part
            self.docker("cp", f"{empty}/.", f"{name}:{walk}", check=False)

    def _ctr_withExec(
        self,
        current: Ctr,
        args: Sequence[str],
        expect: str = "SUCCESS",
        insecureRootCapabilities: bool = False,
        useEntrypoint: bool = False,
        **_: Any,
    ) -> Ctr:
        name = self._name("exec")
        argv = ["run", "--name", name, "-w", current.workdir]
        argv += self._network_args(current)
        argv += ["--user", current.user] if current.user else []
        for key, value in (*current.env, *current.secret_env):
            argv += ["-e", f"{key}={value}"]
        for mount in current.mounts:
            argv += mount.args()
        if self.host_docker:
            argv += ["--mount", f"type=bind,source={SOCKET},target={SOCKET}"]
        argv += self._ca_args()
        argv += UNCONFINED if insecureRootCapabilities else []
        command = [*current.entrypoint, *args] if useEntrypoint else list(args)
        argv += ["--entrypoint", command[0], current.image, *command[1:]]
        self.log.append(f"exec {shlex.join(args)[:160]}")
        proc = self.docker(*argv, check=False, timeout=3600)
        try:
            image = self.commit(name)
        finally:
            self.docker("rm", "-f", name, check=False)
        if proc.returncode == 125:  # docker itself failed, not the command
            raise ReplayError(f"docker run failed: {proc.stderr[-2000:]}")
        if expect == "SUCCESS" and proc.returncode != 0:
            tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            raise ReplayError(f"exec {shlex.join(args)} exited {proc.returncode}:\n{tail}")
        return replace(
            current, image=image, exit_code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr
        )

    def _ca_args(self) -> list[str]:
        if not self.ca_bundle.is_file():
            return []
        bundle = f"{self.ca_bundle}:{HOST_CA}:ro"
        return ["-v", bundle, *(a for v in CA_VARIABLES for a in ("-e", f"{v}={HOST_CA}"))]

    def _network_args(self, current: Ctr) -> list[str]:
        if not current.services:
            return ["--network", "host"]
        network = self.network()
        for alias, service in current.services:
            self.start(service, alias)
        return ["--network", network]

    def _ctr_asService(
        self,
        current: Ctr,
        args: Sequence[str] | None = None,
        useEntrypoint: bool = False,
        **_: Any,
    ) -> Svc:
        return Svc(current, tuple(args) if args is not None else None, useEntrypoint)

    def _ctr_file(self, current: Ctr, path: str, **_: Any) -> Path:
        return self._copy_out(current, path, self._temp("file") / Path(path).name)

    def _ctr_directory(self, current: Ctr, path: str, **_: Any) -> Path:
        return self._copy_out(current, path, self._temp("dir") / "d")

    def _copy_out(self, current: Ctr, path: str, destination: Path) -> Path:
        name = self._name("out")
        self.docker("create", "--name", name, "--entrypoint", "/bin/true", current.image)
        try:
            self.docker("cp", f"{name}:{path}", str(destination))
        finally:
            self.docker("rm", "-f", name, check=False)
        return destination

    def _ctr_asTarball(self, current: Ctr, platformVariants: Sequence[Any] = (), **_: Any) -> Path:
        variants = [self.value(v) for v in platformVariants] or [current]
        if len(variants) != 1:
            raise ReplayError("the replayer exports one platform; multi-platform needs the engine")
        tarball = self._temp("tar") / "image.tar"
        self.docker("save", "-o", str(tarball), variants[0].image)
        return tarball

    # ---- services ------------------------------------------------------------------------

    def start(self, service: Any, alias: str) -> str:
        """One container per service definition and alias, started once, healthy before use."""
        key = ("service", alias, self.fingerprint(service))
        if key not in self._memo:
            self._memo[key] = self._run_service(self.value(service), alias)
        return str(self._memo[key])

    def _run_service(self, svc: Svc, alias: str) -> str:
        ctr = svc.ctr
        name = self._name("svc")
        argv = ["run", "-d", "--name", name, "--network", self.network(), "--network-alias", alias]
        argv += ["-w", ctr.workdir]
        argv += ["--user", ctr.user] if ctr.user else []
        for key, value in (*ctr.env, *ctr.secret_env):
            argv += ["-e", f"{key}={value}"]
        for mount in ctr.mounts:
            argv += mount.args()
        argv += self._ca_args()
        if ctr.healthcheck:
            check, interval, retries = ctr.healthcheck
            argv += ["--health-cmd", shlex.join(check), "--health-interval", interval,
                     "--health-retries", str(retries)]  # fmt: skip
        args = svc.args if svc.args is not None else ctr.cmd
        command = [*ctr.entrypoint, *args] if svc.use_entrypoint else list(args)
        argv += ["--entrypoint", command[0], ctr.image, *command[1:]]
        self.docker(*argv)
        self._started.append(name)
        self.log.append(f"service {name}: {shlex.join(command)[:120]}")
        if ctr.healthcheck:
            self._wait_healthy(name, ctr.healthcheck[2])
        return name

    def _wait_healthy(self, name: str, retries: int) -> None:
        deadline = time.monotonic() + max(60, retries * 2)
        while time.monotonic() < deadline:
            state = self.docker(
                "inspect", "--format", "{{.State.Health.Status}} {{.State.Status}}", name
            ).stdout
            if state.startswith("healthy"):
                return
            if "exited" in state:
                break
            time.sleep(0.5)
        logs = self.docker("logs", "--tail", "30", name, check=False)
        raise ReplayError(f"service {name} never became healthy: {logs.stdout}{logs.stderr}")

    # ---- leaves --------------------------------------------------------------------------

    def container(self, obj: Any) -> Ctr:
        value = self.value(obj)
        assert isinstance(value, Ctr), value
        return value

    def container_log_tail(self) -> str:
        """The last exec's output, for assertion messages."""
        ran = [v for v in self._memo.values() if isinstance(v, Ctr) and (v.stdout or v.stderr)]
        return (ran[-1].stdout[-4000:] + ran[-1].stderr[-2000:]) if ran else ""

    def export(self, obj: Any, path: str | Path) -> Path:
        source = self.value(obj)
        destination = Path(path)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        return destination


@contextlib.contextmanager
def replaying(replayer: Replayer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Replayer]:
    """The SDK's leaf calls answered by the replayer, so `await ctr.exit_code()` in the module
    runs the graph on Docker. Nothing else of the SDK is touched."""

    async def exit_code(self: Any) -> int:
        return replayer.container(self).exit_code

    async def stdout(self: Any) -> str:
        return replayer.container(self).stdout

    async def stderr(self: Any) -> str:
        return replayer.container(self).stderr

    async def contents(self: Any) -> str:
        return Path(replayer.value(self)).read_text()

    async def plaintext(self: Any) -> str:
        try:
            return replayer.secret_text(self)
        except ReplayError as exc:
            from tests.pipeline.engine_fakes import query_error

            raise query_error(str(exc)) from exc

    async def export(self: Any, path: str, **_: Any) -> str:
        return str(replayer.export(self, path))

    async def default_platform(self: Any) -> str:
        return "linux/amd64"

    for cls, name, fn in [
        (dagger.Container, "exit_code", exit_code), (dagger.Container, "stdout", stdout),
        (dagger.Container, "stderr", stderr), (dagger.File, "contents", contents),
        (dagger.Secret, "plaintext", plaintext), (dagger.File, "export", export),
        (dagger.Directory, "export", export), (dagger.Client, "default_platform", default_platform),
    ]:  # fmt: skip
        monkeypatch.setattr(cls, name, fn)
    try:
        yield replayer
    finally:
        print("\n".join(["replayer image map and steps:", *replayer.log]))
        replayer.close()
