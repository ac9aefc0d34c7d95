"""Whole-run limits from cgroups: one group per run, for every process of the run together.

Memory (swap off), process count and CPU time summed over the run are the kernel's to enforce
and report, as in isolate and nsjail: the run's peak memory, its CPU time and whether the kernel
OOM-killed anything in it come from the group, not from guesses at stderr.

Layout: ``<root>/<parent>/<instance>/run-<n>``, where ``<root>`` is a subtree this executor may
write (the host's hierarchy as root, a systemd-delegated unit, or a directory the host created
and chowned for a container) and ``<instance>`` names this executor process (pid and start
time), so a restarted executor can tell its dead predecessors' groups from a live neighbour's
and remove them (``sweep_stale``).

cgroup v1 (what our CI machines have): one directory per controller (``memory``, ``pids``,
``cpuacct``, and ``freezer`` when mounted). cgroup v2: one directory; the controllers are
enabled in each parent's ``cgroup.subtree_control`` (the kernel's delegation rules: a group
with controllers enabled for its children holds no processes itself).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.sandbox.interface import RunLimits

V1_CONTROLLERS = ("memory", "pids", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
_REMOVE_TRIES = 50


class CgroupUnavailable(RuntimeError):
    """No writable cgroup subtree: the message says what is missing."""


@dataclass(frozen=True)
class Usage:
    memory_peak_bytes: int
    cpu_ns: int
    oom_kills: int


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _keyed(path: Path, key: str) -> int:
    """A value of a flat-keyed file (memory.events, memory.oom_control, cpu.stat)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _pid_alive(pid: int, started: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[19] == started


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


class RunGroup:
    """The cgroup(s) of one run: limits set before the program starts, usage read after."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs = dirs
        self.version = version

    @property
    def procs_files(self) -> list[Path]:
        """Where the launcher writes its own pid before it execs the sandbox."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def _dir(self, controller: str) -> Path:
        return self.dirs["unified"] if self.version == 2 else self.dirs[controller]

    def apply(self, limits: RunLimits) -> None:
        if self.version == 2:
            unified = self.dirs["unified"]
            _write(unified / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting: no swap to use
                _write(unified / "memory.swap.max", "0")
            _write(unified / "pids.max", str(limits.processes))
            return
        memory = self.dirs["memory"]
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        with contextlib.suppress(FileNotFoundError, PermissionError):
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", "0")
        _write(self.dirs["pids"] / "pids.max", str(limits.processes))

    def cpu_ns(self) -> int:
        if self.version == 2:
            return _keyed(self.dirs["unified"] / "cpu.stat", "usage_usec") * 1000
        return _read_int(self.dirs["cpuacct"] / "cpuacct.usage")

    def usage(self) -> Usage:
        if self.version == 2:
            unified = self.dirs["unified"]
            peak = _read_int(unified / "memory.peak")
            ooms = _keyed(unified / "memory.events", "oom_kill")
        else:
            memory = self.dirs["memory"]
            peak = _read_int(memory / "memory.max_usage_in_bytes")
            ooms = _keyed(memory / "memory.oom_control", "oom_kill")
        return Usage(memory_peak_bytes=peak, cpu_ns=self.cpu_ns(), oom_kills=ooms)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in procs.read_text().split())
        return sorted(found)

    def kill(self) -> None:
        """Every process of the run, wherever it went (new sessions, double forks)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.dirs["unified"] / "cgroup.kill", "1")
                return
        freezer = self.dirs.get("freezer")
        if freezer is not None:  # frozen, nothing can fork while we kill
            with contextlib.suppress(OSError):
                _write(freezer / "freezer.state", "FROZEN")
        for _ in range(20):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if freezer is not None:
                with contextlib.suppress(OSError):
                    _write(freezer / "freezer.state", "THAWED")
            time.sleep(0.005)

    def remove(self) -> None:
        """rmdir every directory; a group still holding an exiting process is retried briefly."""
        for directory in self.dirs.values():
            for _ in range(_REMOVE_TRIES):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise
                    self.kill()
                    time.sleep(0.01)


class Cgroups:
    """This executor's own subtree of run groups."""

    def __init__(self, bases: dict[str, Path], version: int, parent: str) -> None:
        self.version = version
        self.bases = bases  # controller (v1) or "unified" (v2) -> the writable root
        self.parent = parent
        self.instance = f"{os.getpid()}-{_start_time(os.getpid())}"
        self._counter = itertools.count()

    def _parents(self) -> dict[str, Path]:
        return {name: base / self.parent for name, base in self.bases.items()}

    def _mine(self) -> dict[str, Path]:
        return {name: parent / self.instance for name, parent in self._parents().items()}

    def prepare(self) -> int:
        """Create this executor's groups and remove what dead executors left; returns how many
        stale run groups were removed."""
        removed = self.sweep_stale()
        for name, directory in self._mine().items():
            directory.mkdir(parents=True, exist_ok=True)
            if self.version == 2:
                self._delegate(self.bases[name], directory)
        return removed

    def _group(self, dirs: dict[str, Path]) -> RunGroup:
        return RunGroup(dirs, self.version)

    def _delegate(self, base: Path, mine: Path) -> None:
        """v2's no-internal-process rule: a group that enables controllers for its children
        holds no process, so the executor first leaves ``base`` for a leaf of its own."""
        own = str(os.getpid())
        if own in (base / "cgroup.procs").read_text().split():
            leaf = base / f"{self.parent}-executor"
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", own)
        wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        for directory in (base, base / self.parent, mine):
            _write(directory / "cgroup.subtree_control", wanted)

    def sweep_stale(self) -> int:
        removed = 0
        for parent in self._parents().values():
            if not parent.is_dir():
                continue
            for instance in [p for p in parent.iterdir() if p.is_dir()]:
                pid, _, started = instance.name.partition("-")
                if pid.isdigit() and _pid_alive(int(pid), started):
                    continue
                for run in [r for r in instance.iterdir() if r.is_dir()]:
                    orphan = self._group({"unified" if self.version == 2 else "any": run})
                    orphan.kill()
                    orphan.remove()
                    removed += 1
                with contextlib.suppress(OSError):
                    instance.rmdir()
        return removed

    def create(self, limits: RunLimits) -> RunGroup:
        name = f"run-{next(self._counter)}"
        dirs = {controller: mine / name for controller, mine in self._mine().items()}
        for directory in dirs.values():
            directory.mkdir()
        group = RunGroup(dirs, self.version)
        try:
            group.apply(limits)
        except OSError:
            group.remove()
            raise
        return group

    def run_groups(self) -> Iterator[Path]:
        for mine in self._mine().values():
            if mine.is_dir():
                yield from (p for p in mine.iterdir() if p.is_dir())


def _own_path(controller: str) -> str:
    """This process's cgroup path for a v1 controller ("" for v2's unified line)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controller == "" and controllers == ""):
            return path
    return "/"


def _writable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)


def _candidates(mount: Path, controller: str) -> list[Path]:
    """Our own group first (the host, systemd delegation), then the mount's root (a container
    given a delegated subtree mounted at the controller's usual place)."""
    own = mount / _own_path(controller).lstrip("/")
    return [own, mount] if own != mount else [mount]


def detect(root: Path, parent: str, version: str = "auto") -> Cgroups:
    """The cgroup tree this executor may use; raises CgroupUnavailable saying why not."""
    unified = root / "cgroup.controllers"
    if version in ("auto", "v2") and unified.is_file():
        for base in _candidates(root, ""):
            available = (base / "cgroup.controllers").read_text().split() if base.is_dir() else []
            if _writable(base) and set(V2_CONTROLLERS) <= set(available):
                return Cgroups({"unified": base}, 2, parent)
        raise CgroupUnavailable(
            f"cgroup v2 at {root}: no writable subtree with {', '.join(V2_CONTROLLERS)} "
            "controllers (delegate one to the executor)"
        )
    if version == "v2":
        raise CgroupUnavailable(f"no cgroup v2 hierarchy at {root}")
    bases: dict[str, Path] = {}
    missing = []
    for controller in (*V1_CONTROLLERS, "freezer"):
        found = [c for c in _candidates(root / controller, controller) if _writable(c)]
        if found:
            bases[controller] = found[0]
        elif controller != "freezer":
            missing.append(controller)
    if missing:
        raise CgroupUnavailable(
            f"cgroup v1 at {root}: no writable {', '.join(missing)} hierarchy "
            "(the executor needs its own subtree of each)"
        )
    return Cgroups(bases, 1, parent)
