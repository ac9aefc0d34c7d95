"""Running code for a user: size cap, quotas, the executor, metrics and audit, in one place.

The v7 routes, the legacy ones and asynchronous jobs all come here; none talks to the
executor. Services take the app state and an audit context, never the request: a job runs on
after its request has been answered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from app.audit.service import AuditContext, record_in
from app.auth.caller import Caller
from app.errors import NoxProblem
from app.observability.metrics import RUN_DURATION, RUNS, RUNS_IN_PROGRESS
from app.quotas.service import charge_cpu, check_workspace, effective_quotas, run_slot
from app.sandbox.admission import SandboxesBusy
from app.sandbox.interface import (
    ExecutorUnavailable,
    Language,
    RunObserver,
    RunRequest,
    RunResult,
    WorkspaceQuota,
)
from app.sandbox.limits import default_limits, lowered
from app.settings import Settings
from app.state import AppState

UNAVAILABLE_TYPE = "https://nox.dev/problems/executor-unavailable"
BUSY_TYPE = "https://nox.dev/problems/sandboxes-busy"


def executor_unavailable(exc: ExecutorUnavailable) -> NoxProblem:
    if isinstance(exc, SandboxesBusy):  # capacity, not an outage: come back in a moment
        return NoxProblem(
            503, "Service Unavailable", f"no sandbox is free: {exc}; retry later",
            type_=BUSY_TYPE, headers={"Retry-After": str(exc.retry_after_s)},
        )  # fmt: skip
    return NoxProblem(
        503, "Service Unavailable", f"the sandbox executor is unavailable: {exc}",
        type_=UNAVAILABLE_TYPE, headers={"Retry-After": "5"},
    )  # fmt: skip


def workspace_quota(settings: Settings, user: Caller) -> WorkspaceQuota:
    quotas = effective_quotas(settings, user)
    return WorkspaceQuota(bytes=quotas.workspace_bytes, files=quotas.workspace_files)


def _outcome(exc: ExecutorUnavailable) -> str:
    return "busy" if isinstance(exc, SandboxesBusy) else "unavailable"


def check_source_size(source: str, limit: int, what: str) -> None:
    if len(source.encode()) > limit:
        raise NoxProblem(413, "Content Too Large", f"{what} is over {limit} bytes")


@dataclass(frozen=True)
class PreparedRun:
    """A run checked and limited, not yet started: what every run route hands on."""

    user: Caller
    request: RunRequest
    code_bytes: int

    @property
    def action(self) -> str:
        return f"run.{self.request.language.value}"


def prepare_run(
    settings: Settings,
    *,
    user: Caller,
    language: Language,
    source: str,
    stdin: str = "",
    args: list[str] | None = None,
    timeout_s: float | None = None,
) -> PreparedRun:
    """Size caps and limits, before any work is done."""
    check_source_size(source, settings.sandbox.code_bytes, "code")
    check_source_size(stdin, settings.sandbox.upload_bytes, "stdin")
    run = RunRequest(
        workspace=str(user.id),
        language=language,
        source=source,
        stdin=stdin,
        args=args or [],
        limits=lowered(default_limits(settings.sandbox), timeout_s=timeout_s),
        workspace_quota=workspace_quota(settings, user),
    )
    return PreparedRun(user=user, request=run, code_bytes=len(source.encode()))


async def run_for_user(
    state: AppState,
    audit: AuditContext,
    *,
    user: Caller,
    language: Language,
    source: str,
    stdin: str = "",
    args: list[str] | None = None,
    timeout_s: float | None = None,
    observer: RunObserver | None = None,
) -> RunResult:
    prepared = prepare_run(
        state.settings,
        user=user,
        language=language,
        source=source,
        stdin=stdin,
        args=args,
        timeout_s=timeout_s,
    )
    try:
        async with run_slot(store=state.store, settings=state.settings, user=user):
            result = await run_in_slot(state, audit, prepared, observer)
    except asyncio.CancelledError:  # a streaming client left: its sandbox was killed
        await asyncio.shield(cancelled(state, audit, prepared))
        raise
    await account(state, audit, prepared, result)
    return result


async def cancelled(state: AppState, audit: AuditContext, prepared: PreparedRun) -> None:
    RUNS.labels(language=prepared.request.language.value, status="cancelled").inc()
    await record_in(
        state, audit, action=prepared.action, outcome="cancelled", actor_id=prepared.user.id
    )


async def run_in_slot(
    state: AppState,
    audit: AuditContext,
    prepared: PreparedRun,
    observer: RunObserver | None = None,
) -> RunResult:
    """Run while the caller holds one of the user's run slots (``run_slot``)."""
    user, run = prepared.user, prepared.request
    language = run.language.value
    try:
        # Runs may write files the upload checks never see: a workspace already over its
        # quota takes no further runs until files are deleted.
        usage = await state.executor.usage(run.workspace)
        check_workspace(settings=state.settings, user=user, usage=usage, add_bytes=0, add_files=0)
        started = time.monotonic()
        with RUNS_IN_PROGRESS.track_inprogress():
            result = await state.executor.run(run, observer)
    except ExecutorUnavailable as exc:
        RUNS.labels(language=language, status=_outcome(exc)).inc()
        await record_in(
            state, audit, action=prepared.action, outcome=_outcome(exc), actor_id=user.id
        )
        raise executor_unavailable(exc) from exc
    RUN_DURATION.labels(language=language).observe(time.monotonic() - started)
    return result


async def account(
    state: AppState, audit: AuditContext, prepared: PreparedRun, result: RunResult
) -> None:
    """Metrics, the user's CPU quota and the audit event of a finished run."""
    user = prepared.user
    RUNS.labels(language=prepared.request.language.value, status=result.status.value).inc()
    await charge_cpu(store=state.store, settings=state.settings, user=user, seconds=result.cpu_s)
    await record_in(
        state,
        audit,
        action=prepared.action,
        outcome=result.status.value,
        actor_id=user.id,
        duration_ms=result.duration_ms,
        detail={
            "exit_code": result.exit_code,
            "signal": result.signal,
            "cpu_s": result.cpu_s,
            "truncated": result.truncated,
            "code_bytes": prepared.code_bytes,
        },
    )
