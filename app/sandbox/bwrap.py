"""The bubblewrap backend: every run in fresh user, pid, net, ipc, uts, mount namespaces.

Inside, the program sees a read-only ``/usr`` (the interpreter by its real path), a fresh
``/proc`` of its own pid namespace, a minimal ``/dev``, size-capped tmpfs ``/tmp`` and
``/dev/shm``, its source read-only under ``/sandbox``, and its workspace read-write at
``/workspace``. Everything else (the host ``/etc``, the data directory, other workspaces, the
server's environment) does not exist there. bwrap itself is started with a near-empty
environment because ``/proc/1/environ`` inside the sandbox is bwrap's own.

RLIMIT_NPROC counts per uid *per user namespace* (and root ignores it), so ``prlimit`` applies
the limits inside the sandbox, after bwrap created the namespace: the process budget is then
the sandbox's own, not shared with concurrent runs, and when the server is root the run is
launched as a dedicated unprivileged host uid so the limit is enforced at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from app.sandbox.interface import (
    ExecutorHealth,
    ExecutorUnavailable,
    Language,
    RunLimits,
    RunRequest,
    RunResult,
)
from app.sandbox.local import LocalExecutor, program_env, sandbox_owner, source_name
from app.sandbox.runner import PRLIMIT, SETPRIV, Launch, as_owner, prlimit_argv
from app.sandbox.seccomp import UnsupportedArchitecture, deny_filter

PYTHON = "/usr/bin/python3"
SHELL = "/bin/sh"
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_NETWORK_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl")
_LAUNCH_ENV = {"PATH": "/usr/bin:/bin"}
# Paths inside the sandbox: private tmpfs mounts, not the host's shared temp directories.
SANDBOX_TMP = "/tmp"  # noqa: S108
SANDBOX_SHM = "/dev/shm"  # noqa: S108


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        host = Path("/") / name
        if host.is_symlink():  # merged-/usr systems: /bin -> usr/bin
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    # Only what programs need from /etc: alternatives symlinks and the loader cache.
    args += ["--ro-bind-try", "/etc/alternatives", "/etc/alternatives"]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _namespace_args(network: bool) -> list[str]:
    args = ["--unshare-all", "--unshare-user", "--disable-userns"]
    # --as-pid-1: the program is the namespace's init, so bwrap reaps it directly and its
    # rusage (with everything it reaped, and whatever the namespace teardown killed) counts.
    args += ["--as-pid-1", "--die-with-parent", "--new-session", "--hostname", "nox-sandbox"]
    if network:
        args.append("--share-net")
        for path in _NETWORK_FILES:
            args += ["--ro-bind-try", path, path]
    return args


def bwrap_argv(
    request: RunRequest, workspace: Path, source_fd: int, *, address_space: bool = True
) -> list[str]:
    limits: RunLimits = request.limits
    source = f"/sandbox/{source_name(request.language)}"
    args = [shutil.which("bwrap") or "bwrap", *_namespace_args(limits.network), *_system_binds()]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(limits.memory_bytes // 16), "--tmpfs", SANDBOX_SHM]
    args += ["--size", str(limits.memory_bytes // 4), "--tmpfs", SANDBOX_TMP]
    args += ["--dir", "/sandbox", "--perms", "0444", "--ro-bind-data", str(source_fd), source]
    args += ["--bind", str(workspace), "/workspace", "--chdir", "/workspace"]
    # Nothing outside /workspace, /tmp and /dev/shm stays writable.
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    env = program_env(request.language, "/workspace") | {"TMPDIR": SANDBOX_TMP}
    args.append("--clearenv")
    for name, value in env.items():
        args += ["--setenv", name, value]
    args += ["--cap-drop", "ALL", "--"]
    program = (
        [PYTHON, source, *request.args]
        if request.language is Language.python
        else [
            SHELL,
            source,
        ]
    )
    return args + prlimit_argv(limits, address_space=address_space) + program


def _probe_argv() -> list[str]:
    bwrap = shutil.which("bwrap") or "bwrap"
    return [bwrap, *_namespace_args(False), *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "--", PRLIMIT, "--nproc=8", "--", PYTHON, "-c", "pass"]  # fmt: skip


@lru_cache(maxsize=1)
def bwrap_problem() -> str:
    """Why bwrap cannot sandbox here ("" when it can): probed once by a real launch."""
    for binary in (PYTHON, PRLIMIT, SETPRIV):
        if not os.access(binary, os.X_OK):
            return f"{binary} missing: install Debian python3 and util-linux"
    if shutil.which("bwrap") is None:
        return "bwrap not found: install Debian bubblewrap"
    owner = sandbox_owner()
    try:
        done = subprocess.run(
            as_owner(_probe_argv(), owner), capture_output=True, timeout=10, env=_LAUNCH_ENV
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap probe failed: {exc}"
    if done.returncode != 0:
        return "bwrap cannot create namespaces: " + done.stderr.decode(errors="replace").strip()
    return ""


def bwrap_available() -> bool:
    return bwrap_problem() == ""


class BwrapExecutor(LocalExecutor):
    backend = "bwrap"
    binds_by_path = True

    def build(self, request: RunRequest, workspace: Path, source_fd: int) -> Launch:
        argv = bwrap_argv(request, workspace, source_fd, address_space=not self.memory_by_cgroup)
        owned: tuple[int, ...] = ()
        try:
            program: bytes | None = deny_filter()
        except UnsupportedArchitecture:  # reported by health; refused at start in production
            program = None
        if program is not None:
            seccomp_fd = os.memfd_create("nox-seccomp", os.MFD_CLOEXEC)
            os.write(seccomp_fd, program)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            owned = (seccomp_fd,)
            argv[1:1] = ["--seccomp", str(seccomp_fd)]
        return Launch(
            argv=argv,
            env=dict(_LAUNCH_ENV),
            pass_fds=(source_fd, *owned),
            user=self.owner,
            signal_in_exit_code=True,  # bwrap exits with 128+n when its child died of signal n
            owned_fds=owned,
        )

    def check_setup(self, result: RunResult) -> None:
        # bwrap reports a failed setup (bind source missing, namespaces refused) as exit 1
        # with "bwrap: ..." on stderr before the program ever started.
        if result.exit_code == 1 and not result.stdout and result.stderr.startswith("bwrap: "):
            raise ExecutorUnavailable("sandbox setup failed: " + result.stderr.strip()[:200])

    async def health(self) -> ExecutorHealth:
        problem = bwrap_problem()
        if problem:
            return ExecutorHealth(backend="bwrap", ok=False, detail=problem)
        return await super().health()
