"""The one process runner behind every local backend: spawn, stream, time out, kill, classify.

Backends differ only in the command they build (``bwrap.py``, ``fallback.py``). The runner
starts it in a new session, reads stdout/stderr while it runs with a hard cap (the program is
killed as soon as a stream goes over it), enforces the wall clock from outside, kills the whole
process group when anything ends, and reaps the child with ``wait4`` to learn its CPU time.
No ``preexec_fn``: the server has threads, so limits are applied by ``prlimit`` exec'ing the
program, and the uid switch is done by ``subprocess`` itself in C.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from app.sandbox.cgroups import RunGroup
from app.sandbox.disk import DiskWatch
from app.sandbox.interface import OutputStream, RunLimits, RunObserver, RunResult, RunStatus

PRLIMIT = "/usr/bin/prlimit"
SETPRIV = "/usr/bin/setpriv"
NICE = "/usr/bin/nice"
SHELL = "/bin/sh"
_CHUNK = 65536
_DRAIN_GRACE_S = 1.0
_REAP_GRACE_S = 0.5
_CPU_POLL_S = 0.05
# Only without cgroups: then a process's own RLIMIT_AS failure is all there is to go by.
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "out of memory")
# The launcher's first step when the run has a cgroup: the shell writes its own pid into each
# group's cgroup.procs, then execs the rest, so the sandbox and everything it ever forks start
# inside the group (no window in which a child could be born outside it). One sh exec, ~1 ms.
CGROUP_ENTRY = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
CGROUP_ENTRY_FAILED = 125


@dataclass
class Launch:
    """A fully built command; ``signal_in_exit_code`` when the launcher reports 128+signal."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    pass_fds: tuple[int, ...] = ()
    user: tuple[int, int] | None = None
    signal_in_exit_code: bool = False
    owned_fds: tuple[int, ...] = ()  # passed to the child, then closed here once it started
    group: RunGroup | None = None  # the run's cgroup, entered before the sandbox starts
    disk: DiskWatch | None = None  # the run's workspace writes, stopped at the quota
    nice: int = 0  # CPU priority of the whole run (inherited by everything it starts)


def as_owner(argv: list[str], user: tuple[int, int] | None) -> list[str]:
    """``argv`` run as ``user`` (uid, gid, no supplementary groups) through setpriv.

    Popen's own user/group switch makes CPython fork the whole server instead of vfork-ing
    it (about 4 ms against under 1 ms here); the setpriv exec costs about 1.5 ms.
    """
    if user is None:
        return argv
    uid, gid = user
    return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]


def niced(argv: list[str], nice: int) -> list[str]:
    return [NICE, "-n", str(nice), *argv] if nice else argv


def in_group(argv: list[str], group: RunGroup | None) -> list[str]:
    """``argv`` started inside ``group`` (unchanged without one)."""
    if group is None:
        return argv
    return [SHELL, "-c", CGROUP_ENTRY, "nox-cgroup", *map(str, group.procs_files), "--", *argv]


def prlimit_argv(limits: RunLimits, *, address_space: bool = True) -> list[str]:
    """rlimits applied by exec. CPU soft = hard: a namespace init ignores SIGXCPU, so the
    kernel's SIGKILL at the hard limit is what stops a CPU loop. With a memory cgroup the
    address-space limit is left out: the group bounds all processes together, and RLIMIT_AS
    only breaks programs that reserve more than they use (as isolate and nsjail do)."""
    cpu = max(1, math.ceil(limits.cpu_s))
    memory = [f"--as={limits.memory_bytes}"] if address_space else []
    return [
        PRLIMIT,
        f"--cpu={cpu}:{cpu}",
        *memory,
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (this kernel may lack /proc/<pid>/task/<pid>/children)."""
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class Measured:
    """What the run used: from its cgroup when it had one, else from wait4's rusage."""

    cpu_s: float
    memory_peak_bytes: int
    oom_kills: int = 0
    by_cgroup: bool = False


@dataclass
class _Stream:
    name: OutputStream
    cap: int
    data: bytearray = field(default_factory=bytearray)
    overflow: bool = False
    eof: asyncio.Event = field(default_factory=asyncio.Event)
    # Chunks may end inside a UTF-8 sequence: an observer gets whole characters only.
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )


class _Run:
    def __init__(
        self, launch: Launch, limits: RunLimits, stdin: bytes, observer: RunObserver | None
    ) -> None:
        self.launch = launch
        self.limits = limits
        self.stdin = stdin
        self.observer = observer
        self.out = _Stream("stdout", limits.output_bytes)
        self.err = _Stream("stderr", limits.output_bytes)
        self.wall_expired = False
        self.cpu_expired = False
        self.disk_expired = False
        self.exited = asyncio.Event()
        self.stopping: asyncio.Future[None] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        stdin_fd = os.memfd_create("nox-stdin", os.MFD_CLOEXEC)
        try:
            os.write(stdin_fd, self.stdin)
            os.lseek(stdin_fd, 0, os.SEEK_SET)
            argv = niced(as_owner(self.launch.argv, self.launch.user), self.launch.nice)
            return subprocess.Popen(
                in_group(argv, self.launch.group),
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.launch.env,
                cwd=self.launch.cwd,
                pass_fds=self.launch.pass_fds,
                start_new_session=True,
            )
        finally:
            os.close(stdin_fd)
            for fd in self.launch.owned_fds:
                os.close(fd)

    async def _stop(self, proc: subprocess.Popen[bytes], exited: asyncio.Event) -> None:
        """Kill a run that is still going, children first so their CPU time is accounted:
        a killed pid-namespace init takes its namespace down and is reaped by bwrap, which
        then exits on its own with everything summed in its rusage."""
        for child in _children(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exited.wait(), _REAP_GRACE_S)
        self._kill(proc)
        await exited.wait()

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        # The group id stays valid until we reap the leader, so this cannot hit a reused pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def _reader(self, proc: subprocess.Popen[bytes], fd: int, stream: _Stream) -> None:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            asyncio.get_running_loop().remove_reader(fd)
            self._observe(stream, b"", final=True)
            stream.eof.set()
            return
        room = stream.cap - len(stream.data)
        accepted = chunk[: max(room, 0)]
        stream.data += accepted
        self._observe(stream, accepted, final=len(chunk) > room)
        if len(chunk) > room and not stream.overflow:
            stream.overflow = True
            self.stopping = asyncio.ensure_future(self._stop(proc, self.exited))

    def _observe(self, stream: _Stream, data: bytes, *, final: bool) -> None:
        if self.observer is None or (stream.overflow and not data):
            return
        text = stream.decoder.decode(data, final=final)
        if text:
            self.observer.output(stream.name, text)

    def _disk_full(self, proc: subprocess.Popen[bytes]) -> None:
        """The workspace passed its quota: freeze and stop everything at once."""
        if self.exited.is_set():
            return
        self.disk_expired = True
        if self.launch.group is not None:
            self.launch.group.kill()
        self._kill(proc)
        self.stopping = asyncio.ensure_future(self._stop(proc, self.exited))

    async def _watch_cpu(self, proc: subprocess.Popen[bytes], group: RunGroup) -> None:
        """CPU time summed over every process of the run, stopped at the limit (RLIMIT_CPU
        alone bounds each process, so 8 spinning processes would get 8 times the limit)."""
        budget_ns = self.limits.cpu_s * 1e9
        while not self.exited.is_set():
            if group.cpu_ns() >= budget_ns:
                self.cpu_expired = True
                group.kill()
                await self._stop(proc, self.exited)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exited.wait(), _CPU_POLL_S)

    async def execute(self) -> RunResult:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        proc = self._spawn()
        group = self.launch.group
        watcher = asyncio.ensure_future(self._watch_cpu(proc, group)) if group else None
        if self.launch.disk is not None:

            def disk_full() -> None:  # called from the watcher's thread
                loop.call_soon_threadsafe(self._disk_full, proc)

            self.launch.disk.start(disk_full)
        pidfd = os.pidfd_open(proc.pid)
        exited = self.exited
        loop.add_reader(pidfd, exited.set)
        pipes = [(proc.stdout, self.out), (proc.stderr, self.err)]
        for pipe, stream in pipes:
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            loop.add_reader(pipe.fileno(), self._reader, proc, pipe.fileno(), stream)
        try:
            try:
                await asyncio.wait_for(exited.wait(), self.limits.wall_s)
            except TimeoutError:
                self.wall_expired = True
                await self._stop(proc, exited)
            if self.stopping is not None:
                await self.stopping
            # Whatever the program left behind in its group dies with it.
            self._kill(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(self.out.eof.wait(), self.err.eof.wait()), _DRAIN_GRACE_S
                )
        finally:
            # Also on cancellation (client gone, shutdown): never leave a run behind.
            self._kill(proc)
            if watcher is not None:
                watcher.cancel()
            if group is not None:
                group.kill()
            loop.remove_reader(pidfd)
            os.close(pidfd)
            for pipe, _stream in pipes:
                assert pipe is not None
                loop.remove_reader(pipe.fileno())
                pipe.close()
            # The leader has exited or was just SIGKILLed: this returns at once.
            _pid, status, usage = os.wait4(proc.pid, 0)  # noqa: ASYNC222
            proc.returncode = os.waitstatus_to_exitcode(status)
        measured = Measured(
            cpu_s=usage.ru_utime + usage.ru_stime,
            memory_peak_bytes=usage.ru_maxrss * 1024,  # the largest process only
        )
        if group is not None:
            kernel = group.usage()
            measured = Measured(
                cpu_s=kernel.cpu_ns / 1e9,
                memory_peak_bytes=kernel.memory_peak_bytes,
                oom_kills=kernel.oom_kills,
                by_cgroup=True,
            )
        return self._result(status, measured, started)

    def _memory_limit(self, measured: Measured, exit_code: int | None, stderr: str) -> bool:
        if measured.by_cgroup:  # the kernel's own count, never a guess
            return measured.oom_kills > 0
        return exit_code != 0 and any(m in stderr[-4096:] for m in _MEMORY_MARKERS)

    def _result(self, status: int, measured: Measured, started: float) -> RunResult:
        cpu_s = measured.cpu_s
        exit_code: int | None = None
        sig: int | None = None
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
        elif self.launch.signal_in_exit_code and os.WEXITSTATUS(status) > 128:
            sig = os.WEXITSTATUS(status) - 128
        else:
            exit_code = os.WEXITSTATUS(status)
        stdout = self.out.data.decode(errors="replace")
        stderr = self.err.data.decode(errors="replace")
        # rusage lags the kernel's own RLIMIT_CPU accounting by up to a few ticks.
        cpu_over = cpu_s >= 0.8 * max(1, math.ceil(self.limits.cpu_s))
        if measured.oom_kills:  # the kernel killed part of the run for memory: say so first
            status_ = RunStatus.memory_limit
        elif self.disk_expired or (self.launch.disk is not None and self.launch.disk.exceeded):
            status_ = RunStatus.disk_limit
        elif self.wall_expired or self.cpu_expired:
            status_ = RunStatus.timeout
        elif self.out.overflow or self.err.overflow:
            status_ = RunStatus.output_limit
        elif self._memory_limit(measured, exit_code, stderr):
            status_ = RunStatus.memory_limit
        elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_over):
            status_ = RunStatus.timeout
        elif sig is not None:
            status_ = RunStatus.killed
        else:
            status_ = RunStatus.ok if exit_code == 0 else RunStatus.error
        return RunResult(
            status=status_,
            exit_code=exit_code,
            signal=sig,
            stdout=stdout,
            stderr=stderr,
            truncated=self.out.overflow or self.err.overflow,
            timed_out=status_ is RunStatus.timeout,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            cpu_s=round(cpu_s, 3),
            cpu_ms=round(cpu_s * 1000, 3),
            memory_peak_bytes=measured.memory_peak_bytes,
        )


async def run_launch(
    launch: Launch, *, limits: RunLimits, stdin: str = "", observer: RunObserver | None = None
) -> RunResult:
    return await _Run(launch, limits, stdin.encode(), observer).execute()
