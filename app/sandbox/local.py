"""What the bwrap and fallback backends share: workspaces, limits, the runner.

A backend only says how to turn a request into a command (``build``); everything else — the
workspace, clamping the limits, the source handed over through a memfd, running, file
operations off the event loop — lives here once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from app.sandbox.admission import Admission
from app.sandbox.cgroups import Cgroups, CgroupUnavailable, RunGroup, detect
from app.sandbox.disk import DiskWatch, WorkspaceIndexes
from app.sandbox.interface import (
    ExecutorHealth,
    ExecutorUnavailable,
    FileInfo,
    Language,
    OutputStream,
    RunObserver,
    RunRequest,
    RunResult,
    RunStatus,
    WorkspaceUsage,
)
from app.sandbox.limits import clamp, default_limits
from app.sandbox.runner import CGROUP_ENTRY_FAILED, Launch, run_launch
from app.sandbox.seccomp import UnsupportedArchitecture, architecture
from app.sandbox.workspace import Workspaces, split_path
from app.settings import ENV_PREFIX, CgroupMode, Settings, UnsafeSettingsError

log = logging.getLogger(__name__)

# When the server runs as root, sandboxed code runs as this otherwise unused host uid/gid:
# never as root (root ignores RLIMIT_NPROC) and never as the server's own uid.
SANDBOX_UID = 64999
SANDBOX_GID = 64999
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
HEAVY_NICE = 10  # CPU weight about a tenth of a light run's


def sandbox_owner() -> tuple[int, int] | None:
    """The host identity runs switch to, or None when the server is already unprivileged."""
    return (SANDBOX_UID, SANDBOX_GID) if os.geteuid() == 0 else None


def untraversable(path: Path, uid: int) -> Path | None:
    """The first ancestor of ``path`` that ``uid`` cannot enter."""
    for directory in (path, *path.parents):
        if not directory.exists():
            continue
        info = directory.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            return directory
    return None


def program_env(language: Language, home: str) -> dict[str, str]:
    """The sandboxed program's whole environment (nothing of the server's). Python writes
    unbuffered, so a streamed run shows each line when it is printed, not at exit."""
    env = {"PATH": SANDBOX_PATH, "HOME": home, "LANG": "C.UTF-8"}
    if language is Language.python:
        env |= {"PYTHONPATH": home, "PYTHONUNBUFFERED": "1"}
    return env


def source_name(language: Language) -> str:
    return "main.py" if language is Language.python else "main.sh"


def run_cgroups(settings: Settings) -> tuple[Cgroups | None, str]:
    """The executor's cgroup subtree, prepared (stale groups of dead executors removed), or
    None and the reason, which /readyz and the startup log repeat."""
    if settings.sandbox_cgroup is CgroupMode.off:
        return None, f"cgroups turned off ({ENV_PREFIX}SANDBOX_CGROUP=off)"
    try:
        cgroups = detect(
            settings.sandbox_cgroup_root, settings.sandbox_cgroup_parent, settings.sandbox_cgroup
        )
        removed = cgroups.prepare()
    except (CgroupUnavailable, OSError) as exc:
        return None, str(exc)
    if removed:
        log.warning("removed %d run cgroup(s) left by an executor that died", removed)
    return cgroups, ""


def isolation_problems(settings: Settings, cgroup_problem: str, filter_problem: str) -> list[str]:
    """What production refuses: runs without whole-run limits, or without a syscall filter."""
    problems = []
    if cgroup_problem and not settings.sandbox_allow_per_process_limits:
        problems.append(
            f"no cgroup subtree for whole-run limits ({cgroup_problem}): give the executor one "
            f"(docs/sandbox.md) or accept per-process limits with "
            f"{ENV_PREFIX}SANDBOX_ALLOW_PER_PROCESS_LIMITS=true"
        )
    if filter_problem:
        problems.append(filter_problem)
    return problems


LAUNCHER_PREFIXES = ("bwrap: ", "nox-cgroup: ")


class _LauncherGuard:
    """Holds back a run's first stderr chunk while it may be the launcher's own setup error
    (``check_setup`` then answers 503): such text must never reach a streaming client as
    if the program had written it. Anything else that happens releases it."""

    def __init__(self, observer: RunObserver) -> None:
        self.observer = observer
        self.held: str | None = None
        self.passed = False

    def started(self) -> None:
        self.observer.started()

    def output(self, stream: OutputStream, text: str) -> None:
        first = not self.passed and self.held is None
        if first and stream == "stderr" and text.startswith(LAUNCHER_PREFIXES):
            self.held = text
            return
        self.release()
        self.observer.output(stream, text)

    def release(self) -> None:
        self.passed = True
        if self.held is not None:
            held, self.held = self.held, None
            self.observer.output("stderr", held)


class LocalExecutor(ABC):
    """An executor running sandboxes as children of this process."""

    backend: Literal["bwrap", "fallback"]
    # bwrap binds the workspace by path as the sandbox uid; the fallback changes into it
    # before dropping root, so only bwrap needs every ancestor to be enterable.
    binds_by_path = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ceiling = default_limits(settings.sandbox)
        self.owner = sandbox_owner()
        self.admission = Admission(
            capacity=settings.effective_sandbox_capacity,
            reserved=settings.sandbox_reserved_slots,
            queue_max=settings.sandbox_queue_max,
            max_wait_s=settings.sandbox_queue_wait_s,
        )
        self.cgroups, self.cgroup_problem = run_cgroups(settings)
        self.indexes = WorkspaceIndexes()
        self._removals: set[asyncio.Future[None]] = set()
        self.filter_problem = self._filter_problem()
        self._announce()
        self.workspaces = Workspaces(
            settings.effective_workspaces_dir,
            max_file_bytes=max(settings.sandbox.upload_bytes, settings.sandbox.file_size_bytes),
            owner=self.owner,
        )

    def _filter_problem(self) -> str:
        try:
            architecture()
        except UnsupportedArchitecture as exc:
            return str(exc)
        return ""

    def _announce(self) -> None:
        if self.cgroups is not None:
            where = ", ".join(f"{k}={v}" for k, v in sorted(self.cgroups.bases.items()))
            version = self.cgroups.version
            log.info("sandbox runs get whole-run cgroup limits (v%d: %s)", version, where)
        else:
            log.warning("sandbox runs get per-process limits only: %s", self.cgroup_problem)
        if self.settings.is_production:
            problems = isolation_problems(self.settings, self.cgroup_problem, self.filter_problem)
            if problems:
                raise UnsafeSettingsError(problems)

    @property
    def isolation_detail(self) -> str:
        """How runs are limited here, for /readyz."""
        limits = (
            f"cgroup v{self.cgroups.version} whole-run limits"
            if self.cgroups is not None
            else f"per-process limits only ({self.cgroup_problem})"
        )
        return limits + (f"; {self.filter_problem}" if self.filter_problem else "")

    @abstractmethod
    def build(self, request: RunRequest, workspace: Path, source_fd: int) -> Launch:
        """The command running ``request`` with its source readable from ``source_fd``."""

    async def run(self, request: RunRequest, observer: RunObserver | None = None) -> RunResult:
        """Waits for a sandbox slot (admission), then runs; the wall clock starts at launch."""
        nice = HEAVY_NICE if self.admission.heavy(request.workspace) else 0
        async with self.admission.slot(request.workspace) as waited_s:
            guard = _LauncherGuard(observer) if observer is not None else None
            if guard is not None:
                guard.started()
            result = await self._run(request, nice, guard)
            if guard is not None:  # the launcher did not fail: what it held is the program's
                guard.release()
        return result.model_copy(update={"queue_ms": round(waited_s * 1000, 3)})

    async def _run(
        self, request: RunRequest, nice: int = 0, observer: RunObserver | None = None
    ) -> RunResult:
        request = request.model_copy(update={"limits": clamp(request.limits, self.ceiling)})
        workspace = await asyncio.to_thread(self.workspaces.ensure, request.workspace)
        source_fd = os.memfd_create("nox-source", os.MFD_CLOEXEC)
        try:
            os.write(source_fd, request.source.encode())
            os.lseek(source_fd, 0, os.SEEK_SET)
            launch = self.build(request, workspace, source_fd)
            launch.disk = await self._disk_watch(request, workspace)
            launch.nice = nice
            launch.group = self._group(request)
            try:
                result = await run_launch(
                    launch, limits=request.limits, stdin=request.stdin, observer=observer
                )
            except OSError as exc:  # the launcher itself is missing or cannot start
                raise ExecutorUnavailable(f"cannot start the sandbox: {exc}") from exc
            finally:
                if launch.group is not None:
                    self._remove_later(launch.group)
                if launch.disk is not None:
                    await asyncio.to_thread(launch.disk.stop, self._remover(request.workspace))
        finally:
            os.close(source_fd)
        if launch.disk is not None and launch.disk.exceeded:
            result = result.model_copy(update={"status": RunStatus.disk_limit})
        self._check_cgroup_entry(result)
        self.check_setup(result)
        return result

    def _remove_later(self, group: RunGroup) -> None:
        """Off the run's path: the usage was read and every process killed already, and an
        exiting process can keep the group busy for a few milliseconds. A group an executor
        crash leaves behind is swept at the next start."""
        task = asyncio.get_running_loop().run_in_executor(None, group.remove)
        self._removals.add(task)
        task.add_done_callback(self._removals.discard)

    def _remover(self, workspace: str) -> Callable[[str], None]:
        def remove(relative: str) -> None:
            self.workspaces.remove(workspace, relative)

        return remove

    async def _disk_watch(self, request: RunRequest, workspace: Path) -> DiskWatch | None:
        quota = request.workspace_quota
        if quota is None:
            return None
        index = await asyncio.to_thread(self.indexes.get, workspace)
        return DiskWatch(index, max_bytes=quota.bytes, max_files=quota.files)

    @property
    def memory_by_cgroup(self) -> bool:
        """A run's memory is bounded by its group: no per-process address-space limit."""
        return self.cgroups is not None

    def _group(self, request: RunRequest) -> RunGroup | None:
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.create(request.limits)
        except OSError as exc:
            raise ExecutorUnavailable(f"cannot create the run's cgroup: {exc}") from exc

    def _check_cgroup_entry(self, result: RunResult) -> None:
        """The entry shell's own errors (it is named nox-cgroup): the group could not be
        entered (125), or the launcher it execs is missing (126/127)."""
        if not result.stderr.startswith("nox-cgroup: ") or result.stdout:
            return
        if result.exit_code == CGROUP_ENTRY_FAILED:
            raise ExecutorUnavailable("cannot enter the run's cgroup: " + result.stderr[:200])
        if result.exit_code in (126, 127):
            raise ExecutorUnavailable("cannot start the sandbox: " + result.stderr[:200])

    def check_setup(self, result: RunResult) -> None:
        """Raise ExecutorUnavailable when the sandbox could not be set up (not the program's
        fault: the api answers 503 instead of showing launcher errors as program output)."""
        return None

    async def health(self) -> ExecutorHealth:
        root = self.settings.effective_workspaces_dir
        try:
            await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            return ExecutorHealth(backend=self.backend, ok=False, detail=f"workspaces: {exc}")
        check = self.owner is not None and self.binds_by_path
        blocked = untraversable(root.absolute(), SANDBOX_UID) if check else None
        if blocked is not None:
            detail = f"the sandbox uid {SANDBOX_UID} cannot enter {blocked}: chmod o+x it"
            return ExecutorHealth(backend=self.backend, ok=False, detail=detail)
        return ExecutorHealth(backend=self.backend, ok=True, detail=self.isolation_detail)

    async def write_file(self, workspace: str, path: str, data: bytes) -> FileInfo:
        info = await asyncio.to_thread(self.workspaces.write, workspace, path, data)
        index = await asyncio.to_thread(self.indexes.get, self.workspaces.root / workspace)
        index.record("/".join(split_path(info.path)), info.size)
        return info

    async def read_file(self, workspace: str, path: str) -> bytes:
        return await asyncio.to_thread(self.workspaces.read, workspace, path)

    async def list_files(self, workspace: str, prefix: str = "") -> list[FileInfo]:
        return await asyncio.to_thread(self.workspaces.list, workspace, prefix)

    async def delete_file(self, workspace: str, path: str) -> None:
        await asyncio.to_thread(self.workspaces.delete, workspace, path)
        index = await asyncio.to_thread(self.indexes.get, self.workspaces.root / workspace)
        index.record("/".join(split_path(path)), None)

    async def usage(self, workspace: str) -> WorkspaceUsage:
        """From the workspace's index: a sum, not a walk (built once, then kept exact)."""
        root = await asyncio.to_thread(self.workspaces.ensure, workspace)
        index = await asyncio.to_thread(self.indexes.get, root)
        return index.usage()

    async def aclose(self) -> None:
        if self._removals:  # let the last run groups go before the process does
            await asyncio.gather(*self._removals, return_exceptions=True)
