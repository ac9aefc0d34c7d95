"""Run limits: the configured defaults are ceilings, and a request may only lower them."""

from __future__ import annotations

from app.sandbox.interface import RunLimits
from app.settings import SandboxLimits


def default_limits(sandbox: SandboxLimits) -> RunLimits:
    """The limits of a run that asks for nothing; the wall time never exceeds ``wall_max_s``."""
    return RunLimits(
        cpu_s=sandbox.cpu_s,
        wall_s=min(sandbox.wall_s, sandbox.wall_max_s),
        memory_bytes=sandbox.memory_bytes,
        processes=sandbox.processes,
        file_size_bytes=sandbox.file_size_bytes,
        open_files=sandbox.open_files,
        output_bytes=sandbox.output_bytes,
        network=sandbox.network,
    )


def lowered(ceiling: RunLimits, *, timeout_s: float | None = None) -> RunLimits:
    """The ceiling with the wall clock lowered to ``timeout_s`` when the request gives one."""
    if timeout_s is None:
        return ceiling
    return ceiling.model_copy(update={"wall_s": max(0.1, min(timeout_s, ceiling.wall_s))})


def clamp(requested: RunLimits, ceiling: RunLimits) -> RunLimits:
    """Every field of ``requested`` capped at ``ceiling``: what an executor enforces whatever
    its caller sent (the remote executor does not trust the api to have clamped)."""
    return RunLimits(
        cpu_s=min(requested.cpu_s, ceiling.cpu_s),
        wall_s=min(requested.wall_s, ceiling.wall_s),
        memory_bytes=min(requested.memory_bytes, ceiling.memory_bytes),
        processes=min(requested.processes, ceiling.processes),
        file_size_bytes=min(requested.file_size_bytes, ceiling.file_size_bytes),
        open_files=min(requested.open_files, ceiling.open_files),
        output_bytes=min(requested.output_bytes, ceiling.output_bytes),
        network=requested.network and ceiling.network,
    )
