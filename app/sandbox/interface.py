"""The executor interface: what the api asks of a sandbox, in-process or over HTTP.

Backends (``bwrap``, ``fallback``) and the remote client all implement ``Executor``; the api
never knows which one it talks to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, Field


class Language(StrEnum):
    python = "python"
    shell = "shell"


class RunStatus(StrEnum):
    ok = "ok"
    error = "error"
    timeout = "timeout"
    memory_limit = "memory_limit"
    output_limit = "output_limit"
    killed = "killed"
    disk_limit = "disk_limit"  # added in 7.1: the run was stopped for filling its workspace


class RunLimits(BaseModel):
    """Limits of one run, already clamped to the configured ceilings."""

    cpu_s: float
    wall_s: float
    memory_bytes: int
    processes: int
    file_size_bytes: int
    open_files: int
    output_bytes: int
    network: bool = False


class WorkspaceQuota(BaseModel):
    """The owner's workspace quota, enforced while the run writes."""

    bytes: int
    files: int


class RunRequest(BaseModel):
    workspace: str = Field(description="workspace id (the user's id); never a path")
    language: Language
    source: str
    stdin: str = ""
    args: list[str] = Field(default_factory=list)
    limits: RunLimits
    workspace_quota: WorkspaceQuota | None = None


class RunPublic(BaseModel):
    """The run result of the HTTP contract."""

    status: RunStatus
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    truncated: bool
    timed_out: bool
    duration_ms: float
    # Added in 7.1 (older clients ignore them): the run's peak memory, all its processes
    # together when the executor has cgroups (else the largest process's RSS), and the CPU
    # time it used, summed over every process.
    memory_peak_bytes: int = 0
    cpu_ms: float = 0.0
    # How long the run waited for a free sandbox before it started (not part of duration_ms).
    queue_ms: float = 0.0


class RunResult(RunPublic):
    """What a backend reports: the contract's fields plus the CPU time charged to quotas."""

    cpu_s: float = 0.0

    def public(self) -> RunPublic:
        return RunPublic.model_validate(self.model_dump(exclude={"cpu_s"}))


class FileInfo(BaseModel):
    path: str
    size: int
    modified: float


class WorkspaceUsage(BaseModel):
    bytes: int
    files: int


class ExecutorHealth(BaseModel):
    backend: Literal["bwrap", "fallback", "remote"]
    ok: bool
    detail: str = ""


class ExecutorUnavailable(RuntimeError):
    """The executor cannot be reached or refused the request; the api answers 503."""


class WorkspaceError(ValueError):
    """A file operation was refused (bad name, symlink escape, missing file)."""

    def __init__(
        self, kind: Literal["invalid", "not_found", "too_large", "quota", "conflict"], detail: str
    ):
        self.kind = kind
        self.detail = detail
        super().__init__(detail)


OutputStream = Literal["stdout", "stderr"]


class RunObserver(Protocol):
    """Told what a run does while it runs: for streamed and asynchronous runs."""

    def started(self) -> None:
        """The run left the queue and its sandbox is starting."""

    def output(self, stream: OutputStream, text: str) -> None:
        """Output as the program produced it (only what fits the run's output cap)."""


class Executor(Protocol):
    async def run(self, request: RunRequest, observer: RunObserver | None = None) -> RunResult: ...

    async def health(self) -> ExecutorHealth: ...

    async def write_file(self, workspace: str, path: str, data: bytes) -> FileInfo: ...

    async def read_file(self, workspace: str, path: str) -> bytes: ...

    async def list_files(self, workspace: str, prefix: str = "") -> list[FileInfo]: ...

    async def delete_file(self, workspace: str, path: str) -> None: ...

    async def usage(self, workspace: str) -> WorkspaceUsage: ...

    async def aclose(self) -> None: ...
