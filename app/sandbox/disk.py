"""Workspace disk use: accounted, not walked per run, and bounded *while* a run writes.

``WorkspaceIndex`` holds the size of every regular file of a workspace, built by one walk the
first time this executor meets the workspace and kept exact afterwards: file endpoints update
it, and after each run only the paths the run touched are looked at again.

``DiskWatch`` follows one run's writes with inotify (no privilege needed, so it works in the
executor container too): each created, written, truncated, moved or deleted path is looked at
as the event arrives, the running usage is adjusted by the difference, and once the workspace
passes its quota (bytes or files) the run is stopped. With RLIMIT_FSIZE capping any one file,
a run can leave its workspace at most about one file-size limit over quota (measured by
bench/bench_disk.py). Sizes are apparent sizes (``st_size``), as the quota counts them; a
hard link counts once per name. Writes through ``mmap`` raise no event, but a file's size can
only grow by ``ftruncate``/``write``, which do.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inotify_simple import INotify, flags

from app.sandbox.interface import WorkspaceUsage

UPLOAD_PREFIX = ".nox-upload-"  # the file endpoints' temporary names, never counted
CLOCK_REALTIME_COARSE = 5  # Linux's clock id; the time module does not name it
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Size changes come with MODIFY (write, truncate, fallocate); names with the rest.
_EVENTS = (
    flags.CREATE | flags.MODIFY | flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE
    | flags.DONT_FOLLOW | flags.ONLYDIR | flags.EXCL_UNLINK
)  # fmt: skip
_KEEP_INDEXES = 256


def _size_of(root_fd: int, relative: str) -> int | None:
    """A regular file's size under ``root_fd``, reached without following any link."""
    *folders, name = relative.split("/")
    fd = os.dup(root_fd)
    try:
        for folder in folders:
            next_fd = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(fd)
    return info.st_size if stat.S_ISREG(info.st_mode) else None


@dataclass
class WorkspaceIndex:
    root: Path
    files: dict[str, int] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    total: int = 0

    @classmethod
    def build(cls, root: Path) -> WorkspaceIndex:
        index = cls(root)
        index.rescan()
        return index

    def rescan(self) -> None:
        """The one full walk: at first sight, or after a run moved whole directories."""
        self.files.clear()
        self.dirs = {""}
        root_fd = os.open(self.root, _DIR_FLAGS)
        try:
            for top, dirs, names, dir_fd in os.fwalk(dir_fd=root_fd, follow_symlinks=False):
                prefix = "" if top == "." else os.path.normpath(top) + "/"
                self.dirs.update(prefix + d for d in dirs)
                for name in names:
                    with contextlib.suppress(OSError):
                        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode) and not name.startswith(UPLOAD_PREFIX):
                            self.files[prefix + name] = info.st_size
        finally:
            os.close(root_fd)
        self.total = sum(self.files.values())

    def usage(self) -> WorkspaceUsage:
        # Directories count against the file quota (they cost inodes too): a run making
        # empty directories is bounded like one making empty files.
        return WorkspaceUsage(bytes=self.total, files=len(self.files) + len(self.dirs) - 1)

    def record(self, relative: str, size: int | None) -> None:
        """Record a path's new state (None: it is gone, or not a regular file)."""
        self.total -= self.files.pop(relative, 0)
        if size is not None and not relative.rsplit("/", 1)[-1].startswith(UPLOAD_PREFIX):
            self.files[relative] = size
            self.total += size
            parts = relative.split("/")  # an upload makes its missing folders
            self.dirs.update("/".join(parts[:depth]) for depth in range(1, len(parts)))

    def refresh(self, paths: set[str]) -> None:
        """Look again at the paths a run touched; files under a removed folder go too."""
        root_fd = os.open(self.root, _DIR_FLAGS)
        try:
            for relative in paths:
                self.record(relative, _size_of(root_fd, relative))
        finally:
            os.close(root_fd)


class WorkspaceIndexes:
    """The indexes of the workspaces this executor met recently (least recently used go)."""

    def __init__(self) -> None:
        self._indexes: OrderedDict[Path, WorkspaceIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, root: Path) -> WorkspaceIndex:
        with self._lock:
            index = self._indexes.get(root)
            if index is not None:
                self._indexes.move_to_end(root)
                return index
        index = WorkspaceIndex.build(root)
        with self._lock:
            self._indexes[root] = index
            while len(self._indexes) > _KEEP_INDEXES:
                self._indexes.popitem(last=False)
        return index


class DiskWatch:
    """One run's writes, followed as they happen; ``on_exceed`` is called (once, from the
    watcher's thread) when the workspace passes ``max_bytes`` or ``max_files``."""

    def __init__(self, index: WorkspaceIndex, *, max_bytes: int, max_files: int) -> None:
        self.index = index
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.touched: set[str] = set()
        self.dirty = False  # a folder moved: paths under it are re-read by a rescan
        self.exceeded = False
        self.peak_bytes = index.total
        self._seen: dict[str, int | None] = {}
        self._bytes = index.total
        self._files = index.usage().files
        self.created: list[str] = []  # what the run made (files and folders), oldest first
        self._inotify = INotify()
        self._folders: dict[int, str] = {}
        self._stop = threading.Event()
        # stop() writes here to wake the watcher at once (a read timeout made every run wait
        # for up to one timeout after it ended).
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread: threading.Thread | None = None
        self._on_exceed: Callable[[], None] = lambda: None
        self._root_fd = os.open(index.root, _DIR_FLAGS)
        # Anything changed after this is the run's. The kernel stamps files from its coarse
        # clock, which lags time.time_ns() by up to a tick: compare like with like.
        self._started_ns = time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
        self._before = set(index.files) | index.dirs  # never counted as made by the run
        for folder in sorted(index.dirs):
            self._watch(folder)

    def _watch(self, folder: str) -> None:
        path = self.index.root / folder if folder else self.index.root
        with contextlib.suppress(OSError):  # gone already, or a symlink: nothing to follow
            self._folders[self._inotify.add_watch(str(path), _EVENTS)] = folder

    def start(self, on_exceed: Callable[[], None]) -> None:
        self._on_exceed = on_exceed
        self._thread = threading.Thread(target=self._loop, name="nox-disk-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            select.select([self._inotify.fd, self._wake_r], [], [])
            self._batch(self._inotify.read(timeout=0))
            if not self.exceeded and (self._bytes > self.max_bytes or self._files > self.max_files):
                self.exceeded = True
                self._on_exceed()

    def _batch(self, events: list[Any]) -> None:
        """Each path once per batch, however many writes it saw: 10,000 new files cost
        10,000 looks, not one per event."""
        changed: dict[str, None] = {}
        overflowed = False
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                overflowed = True
                continue
            folder = self._folders.get(event.wd)
            if folder is None or not event.name:
                continue
            relative = f"{folder}/{event.name}" if folder else str(event.name)
            if event.mask & (flags.CREATE | flags.MOVED_TO):
                self.created.append(relative)
            if event.mask & flags.ISDIR:
                self._folder_event(relative, event.mask)
            else:
                changed[relative] = None
        for relative in changed:
            self._account(relative)
        if overflowed:
            self._recount()

    def _recount(self) -> None:
        """The kernel's event queue overflowed and events were lost: the tally is read back
        from the disk, new folders are watched, and what the run made (changed since it
        started) is ordered by change time, so a trim still removes the newest first."""
        self.dirty = True
        files: dict[str, int] = {}
        dirs = {""}
        made: list[tuple[int, str]] = []
        for top, folders, names, dir_fd in os.fwalk(dir_fd=self._root_fd, follow_symlinks=False):
            prefix = "" if top == "." else os.path.normpath(top) + "/"
            for name in (*folders, *names):
                with contextlib.suppress(OSError):
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    new = prefix + name not in self._before
                    if new and info.st_ctime_ns >= self._started_ns:
                        made.append((info.st_ctime_ns, prefix + name))
                    if stat.S_ISDIR(info.st_mode):
                        dirs.add(prefix + name)
                    elif stat.S_ISREG(info.st_mode) and not name.startswith(UPLOAD_PREFIX):
                        files[prefix + name] = info.st_size
        for gone in set(self._seen) | set(self.index.files):
            if gone not in files:
                self._seen[gone] = None
        self._seen.update(files)
        self.touched.update(self._seen)
        for folder in dirs - self.index.dirs:
            self._watch(folder)
        self.index.dirs = dirs
        self._bytes = sum(files.values())
        self._files = len(files) + len(dirs) - 1
        self.peak_bytes = max(self.peak_bytes, self._bytes)
        self.created = [relative for _, relative in sorted(made)]

    def _folder_event(self, relative: str, mask: int) -> None:
        if mask & (flags.MOVED_FROM | flags.MOVED_TO):
            self.dirty = True  # the paths of everything under it changed
        if mask & (flags.DELETE | flags.MOVED_FROM) and relative in self.index.dirs:
            self.index.dirs.discard(relative)
            self._files -= 1
        if mask & (flags.CREATE | flags.MOVED_TO):
            self._add_folder(relative)
            for inside in self._scan(relative):  # written before the watch was in place
                self._account(inside)

    def _scan(self, folder: str, found: list[str] | None = None) -> Iterator[str]:
        """The files under ``folder``; its folders are counted and watched (and listed in
        ``found``)."""
        with contextlib.suppress(OSError):
            for top, dirs, names, _fd in os.fwalk(
                folder, dir_fd=self._root_fd, follow_symlinks=False
            ):
                for name in dirs:
                    self._add_folder(os.path.join(top, name))
                    if found is not None:
                        found.append(os.path.join(top, name))
                yield from (os.path.join(top, name) for name in names)

    def _add_folder(self, relative: str) -> None:
        if relative not in self.index.dirs:
            self.index.dirs.add(relative)
            self._files += 1
        self._watch(relative)

    def _account(self, relative: str) -> None:
        if relative.rsplit("/", 1)[-1].startswith(UPLOAD_PREFIX):
            return
        before = self._seen.get(relative, self.index.files.get(relative))
        now = _size_of(self._root_fd, relative)
        self._seen[relative] = now
        self.touched.add(relative)
        self._bytes += (now or 0) - (before or 0)
        self._files += (now is not None) - (before is not None)
        self.peak_bytes = max(self.peak_bytes, self._bytes)

    def stop(self, remove: Callable[[str], None] | None = None) -> None:
        """Stop watching; then bring the index up to date from what the run touched.

        A run over its quota then loses what it made last (``remove``), newest first, until
        the workspace is within the quota again: the watcher lags the run (cheap changes —
        ``ftruncate``, ``fallocate``, empty files and folders — come faster than events are
        read), so stopping the run alone does not bound what it left."""
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._batch(self._inotify.read(timeout=0))
        if self._bytes > self.max_bytes or self._files > self.max_files:
            self.exceeded = True  # passed it in its last moments, before the loop looked
        if self.exceeded and remove is not None:
            self._trim(remove)
        # Closing an inotify instance waits for an RCU grace period (milliseconds): done in
        # the background, so the run's answer does not wait for it.
        threading.Thread(target=self._inotify.close, name="nox-disk-close", daemon=True).start()
        os.close(self._root_fd)
        if self.dirty:
            self.index.rescan()
        else:
            self.index.refresh(self.touched)

    def _over(self) -> bool:
        return self._bytes > self.max_bytes or self._files > self.max_files

    def _trim(self, remove: Callable[[str], None]) -> None:
        done: set[str] = set()
        for relative in reversed(self.created):
            if not self._over():
                break
            if relative in done:
                continue
            done.add(relative)
            if relative in self.index.dirs:
                folders: list[str] = []
                inside = list(self._scan(relative, folders))  # its files, and its folders
                remove(relative)
                for path in inside:
                    self._account(path)
                for folder in (relative, *folders):
                    if not os.path.lexists(self.index.root / folder):
                        self.index.dirs.discard(folder)
                        self._files -= 1
                self.dirty = True
            else:
                remove(relative)
                self._account(relative)
