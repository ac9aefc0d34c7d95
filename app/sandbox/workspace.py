"""Per-user workspace directories, touched by the server without ever following a symlink.

Sandboxed code can plant symlinks, FIFOs and directories anywhere in its workspace, so every
operation here walks the path one component at a time relative to an open directory fd with
``O_NOFOLLOW`` (the Judge0 CVE-2024-28185 lesson): a planted link is never traversed, a FIFO is
never opened for a blocking read, and a rename replaces a link instead of writing through it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.sandbox.interface import FileInfo, WorkspaceError, WorkspaceUsage

MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
MAX_LISTED = 10_000
_WORKSPACE_ID = re.compile(r"\d{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_UPLOAD_PREFIX = ".nox-upload-"


def validate_workspace_id(workspace: str) -> str:
    if not _WORKSPACE_ID.fullmatch(workspace):
        raise WorkspaceError("invalid", "workspace id must be digits or a lowercase uuid")
    return workspace


# The rules of split_path that a JSON Schema can state (the OpenAPI document uses it); byte
# lengths and the reserved upload prefix are checked by split_path only.
_C = r"[^\x00-\x1f\x7f\\/]"  # a character a name may hold
_NAME = rf"(?:[^.\x00-\x1f\x7f\\/]{_C}*|\.[^.\x00-\x1f\x7f\\/]{_C}*|\.\.{_C}+)"  # not . or ..
PATH_PATTERN = rf"^{_NAME}(?:/{_NAME})*$"
PREFIX_PATTERN = r"^[^\x00-\x1f\x7f\\]*$"


def _check_text(text: str, what: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise WorkspaceError("invalid", f"{what} contains a control character or NUL")
    if "\\" in text:
        raise WorkspaceError("invalid", f"{what} contains a backslash")


def split_path(path: str) -> list[str]:
    """Validate a workspace-relative file name and return its components."""
    _check_text(path, "path")
    if not path or len(path.encode()) > MAX_PATH_BYTES:
        raise WorkspaceError("invalid", f"path must be 1 to {MAX_PATH_BYTES} bytes")
    if path.startswith("/"):
        raise WorkspaceError("invalid", "path must be relative to the workspace")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise WorkspaceError("invalid", "path has an empty, '.' or '..' component")
        if len(part.encode()) > MAX_NAME_BYTES:
            raise WorkspaceError("invalid", f"a path component is over {MAX_NAME_BYTES} bytes")
    if parts[-1].startswith(_UPLOAD_PREFIX):
        raise WorkspaceError("invalid", f"names starting with {_UPLOAD_PREFIX} are reserved")
    return parts


def _is_a_directory(path: str) -> WorkspaceError:
    return WorkspaceError("conflict", f"'{path}' is a directory, not a file")


def _not_a_directory(part: str, dir_fd: int) -> WorkspaceError:
    """A path component that is not a directory: a planted symlink (refused as invalid) or a
    file where a directory is expected (a conflict with what the workspace holds)."""
    try:
        info = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return WorkspaceError("invalid", f"'{part}' is not a directory")
    if stat.S_ISLNK(info.st_mode):
        return WorkspaceError("invalid", f"'{part}' is a symlink or not a directory")
    return WorkspaceError("conflict", f"'{part}' is a file, not a directory")


class Workspaces:
    """All workspaces under one root; ``owner`` (uid, gid) is given when the server is root."""

    def __init__(self, root: Path, *, max_file_bytes: int, owner: tuple[int, int] | None) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.owner = owner
        self._root_ready = False

    def ensure(self, workspace: str) -> Path:
        """Create the workspace if needed; return its host path (for the sandbox bind)."""
        validate_workspace_id(workspace)
        if not self._root_ready:
            # 0o711: the sandbox uid must traverse the root to bind its workspace, not list it.
            self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
            os.chmod(self.root, 0o711)  # noqa: S103 - traverse only, no read
            self._root_ready = True
        with self._fd(os.open(self.root, _DIR_FLAGS)) as root_fd:
            self._mkdir(workspace, 0o700, root_fd)
        return self.root / workspace

    @staticmethod
    @contextmanager
    def _fd(fd: int) -> Iterator[int]:
        try:
            yield fd
        finally:
            os.close(fd)

    def _chown(self, fd: int) -> None:
        if self.owner is not None:
            os.fchown(fd, *self.owner)

    def _mkdir(self, name: str, mode: int, dir_fd: int) -> None:
        """Create ``name`` under ``dir_fd`` unless it exists; a new one goes to the owner."""
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            return
        with self._fd(os.open(name, _DIR_FLAGS, dir_fd=dir_fd)) as fd:
            self._chown(fd)

    @contextmanager
    def _parent(self, workspace: str, parts: list[str], *, create: bool) -> Iterator[int]:
        """An fd of the directory holding ``parts[-1]``, reached without following links."""
        self.ensure(workspace)
        fd = os.open(self.root / workspace, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                if create:
                    self._mkdir(part, 0o755, fd)
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    raise WorkspaceError("not_found", "no such file in the workspace") from None
                except OSError as exc:
                    raise _not_a_directory(part, fd) from exc
                os.close(fd)
                fd = next_fd
            yield fd
        finally:
            os.close(fd)

    def write(self, workspace: str, path: str, data: bytes) -> FileInfo:
        parts = split_path(path)
        if len(data) > self.max_file_bytes:
            raise WorkspaceError("too_large", f"file is over {self.max_file_bytes} bytes")
        with self._parent(workspace, parts, create=True) as dir_fd:
            tmp = _UPLOAD_PREFIX + secrets.token_hex(8)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(tmp, flags, 0o644, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb", closefd=False) as out:
                    out.write(data)
                self._chown(fd)
                # rename replaces whatever entry is there (a planted symlink included) and
                # never writes through it.
                os.rename(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                info = os.fstat(fd)
            except IsADirectoryError:
                os.unlink(tmp, dir_fd=dir_fd)
                raise _is_a_directory(path) from None
            except OSError:
                os.unlink(tmp, dir_fd=dir_fd)
                raise
            finally:
                os.close(fd)
        return FileInfo(path=path, size=info.st_size, modified=info.st_mtime)

    def read(self, workspace: str, path: str) -> bytes:
        parts = split_path(path)
        with self._parent(workspace, parts, create=False) as dir_fd:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(parts[-1], flags, dir_fd=dir_fd)
            except FileNotFoundError:
                raise WorkspaceError("not_found", "no such file in the workspace") from None
            except OSError as exc:  # ELOOP for a symlink, ENXIO for a socket
                raise WorkspaceError("invalid", "not a regular file (symlink?)") from exc
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                os.close(fd)
                raise _is_a_directory(path)
            with os.fdopen(fd, "rb") as src:
                if not stat.S_ISREG(info.st_mode):
                    raise WorkspaceError("invalid", "not a regular file")
                if info.st_size > self.max_file_bytes:
                    raise WorkspaceError("too_large", f"file is over {self.max_file_bytes} bytes")
                return src.read(self.max_file_bytes + 1)[: self.max_file_bytes]

    def delete(self, workspace: str, path: str) -> None:
        parts = split_path(path)
        with self._parent(workspace, parts, create=False) as dir_fd:
            try:
                info = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise WorkspaceError("not_found", "no such file in the workspace") from None
            if stat.S_ISDIR(info.st_mode):
                raise _is_a_directory(path)
            # unlink removes the entry itself: a symlink goes, its target stays.
            os.unlink(parts[-1], dir_fd=dir_fd)

    def remove(self, workspace: str, relative: str) -> None:
        """Remove an entry a run made, folder or not, without following links (a run over
        its quota loses what it made last, ``disk.DiskWatch.stop``)."""
        parts = relative.split("/")
        try:
            with self._parent(workspace, parts, create=False) as dir_fd:
                info = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    # rmtree with dir_fd works fd-relative and never follows a link.
                    shutil.rmtree(parts[-1], dir_fd=dir_fd)
                else:
                    os.unlink(parts[-1], dir_fd=dir_fd)
        except (WorkspaceError, OSError):
            return  # gone already, or behind a link: nothing of the workspace to remove

    def _walk(self, workspace: str, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
        """Regular files whose path may start with ``prefix``: only the folder the prefix
        names is walked, and in it only entries starting with the prefix's last part (an
        upload looks up one path: its cost no longer grows with the whole workspace)."""
        self.ensure(workspace)
        folder, _, first = prefix.rpartition("/")
        fd = os.open(self.root / workspace, _DIR_FLAGS)
        try:
            for part in folder.split("/") if folder else []:
                if part in ("", ".", ".."):
                    return  # never in a walked path: nothing can match
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError:  # missing, a file, or a link (never followed)
                    return
                os.close(fd)
                fd = next_fd
            # fwalk never descends into a symlinked directory when follow_symlinks=False.
            for top, dirs, files, dir_fd in os.fwalk(dir_fd=fd, follow_symlinks=False):
                if top == ".":
                    dirs[:] = [d for d in dirs if d.startswith(first)]
                    files = [f for f in files if f.startswith(first)]
                for name in files:
                    try:
                        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISREG(info.st_mode) and not name.startswith(_UPLOAD_PREFIX):
                        yield os.path.normpath(os.path.join(folder, top, name)), info
        finally:
            os.close(fd)

    def list(self, workspace: str, prefix: str = "") -> list[FileInfo]:
        _check_text(prefix, "prefix")
        found: list[FileInfo] = []
        for rel, info in self._walk(workspace, prefix):
            if rel.startswith(prefix):
                found.append(FileInfo(path=rel, size=info.st_size, modified=info.st_mtime))
                if len(found) >= MAX_LISTED:
                    break
        return sorted(found, key=lambda f: f.path)

    def usage(self, workspace: str) -> WorkspaceUsage:
        total = files = 0
        for _rel, info in self._walk(workspace):
            total += info.st_size
            files += 1
        return WorkspaceUsage(bytes=total, files=files)
