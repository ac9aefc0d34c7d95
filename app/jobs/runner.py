"""Running asynchronous jobs in this api process, recording everything in the ``JobBook``.

A job holds one of its owner's run slots from submission (so quotas refuse at submit time,
with 429, not later), runs through the same ``run_in_slot`` as every other run (admission,
audit, metrics), and writes its output to the book in batches. While it runs, its replica
refreshes the record (so a replica that dies leaves a job other replicas report as lost) and
watches for a cancel request made through any replica.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.audit.service import AuditContext
from app.errors import NoxProblem, problem_document, problem_of
from app.jobs.book import JobBook
from app.jobs.models import HEARTBEAT_S, JobRecord, JobStatus, now
from app.quotas.service import run_slot
from app.sandbox.interface import OutputStream, RunResult
from app.sandbox.service import PreparedRun, account, cancelled, run_in_slot
from app.state import AppState

log = logging.getLogger(__name__)

FLUSH_S = 0.1  # output is written to the book at most this often (one event per stream)
SHUTDOWN_WAIT_S = 5.0


def book_of(state: AppState) -> JobBook:
    return JobBook(state.store, state.settings.run_results_keep_s)


def running_ttl(state: AppState) -> int:
    """How long a job's keys live while it may still run: its keep time past the longest run."""
    settings = state.settings
    return settings.run_results_keep_s + int(settings.sandbox.wall_max_s) + 60


class _Recorder:
    """The job's ``RunObserver``: buffers output between flushes."""

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.pending: dict[OutputStream, list[str]] = {"stdout": [], "stderr": []}

    def started(self) -> None:
        self.started_at = time.time()

    def output(self, stream: OutputStream, text: str) -> None:
        self.pending[stream].append(text)

    def take(self) -> list[tuple[OutputStream, str]]:
        taken: list[tuple[OutputStream, str]] = []
        for stream, parts in self.pending.items():
            if parts:
                taken.append((stream, "".join(parts)))
                parts.clear()
        return taken


@dataclass
class _Job:
    """One job this process runs: what it needs after its request was answered."""

    state: AppState
    audit: AuditContext
    prepared: PreparedRun
    record: JobRecord
    slot: AsyncExitStack
    recorder: _Recorder = field(default_factory=_Recorder)

    @property
    def book(self) -> JobBook:
        return book_of(self.state)

    async def flush(self) -> None:
        for stream, text in self.recorder.take():
            await self.book.append(self.record.id, stream, {"text": text}, running_ttl(self.state))

    async def save(self) -> None:
        await self.book.save(self.record, running_ttl(self.state))

    async def finish(
        self,
        status: JobStatus,
        *,
        result: RunResult | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        record, keep_s = self.record, self.state.settings.run_results_keep_s
        finished = now()
        record.status, record.finished_at = status, finished
        record.expires_at = finished + timedelta(seconds=keep_s)
        record.heartbeat = time.time()
        record.result = result.public() if result is not None else None
        record.error = error
        if record.started_at is None and self.recorder.started_at is not None:
            record.started_at = datetime.fromtimestamp(self.recorder.started_at, UTC)
        if record.result is not None:
            event, data = "result", record.result.model_dump(mode="json")
        else:
            event, data = ("cancelled" if status is JobStatus.cancelled else "error"), error or {}
        await self.book.append(record.id, event, data, keep_s)
        await self.book.save(record, keep_s)


class JobRunner:
    """The jobs this process runs; ``aclose`` interrupts them at shutdown."""

    def __init__(self) -> None:
        self._runs: dict[str, asyncio.Future[RunResult]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def submit(
        self, state: AppState, audit: AuditContext, prepared: PreparedRun
    ) -> JobRecord:
        if self._closing:
            raise NoxProblem(
                503,
                "Service Unavailable",
                "the api is shutting down; retry",
                headers={"Retry-After": "5"},
            )
        slot = AsyncExitStack()
        await slot.enter_async_context(
            run_slot(store=state.store, settings=state.settings, user=prepared.user)
        )
        created = now()
        record = JobRecord(
            id=secrets.token_urlsafe(16),
            status=JobStatus.queued,
            language=prepared.request.language,
            created_at=created,
            expires_at=created + timedelta(seconds=running_ttl(state)),
            owner=prepared.user.id,
            heartbeat=time.time(),
        )
        job = _Job(state, audit, prepared, record, slot)
        try:
            await job.save()
        except BaseException:
            await slot.aclose()
            raise
        task = asyncio.create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    def cancel_here(self, job_id: str) -> bool:
        """Cancel the job if this process runs it (else its replica sees the cancel request)."""
        run = self._runs.get(job_id)
        if run is None:
            return False
        run.cancel()
        return True

    async def _run(self, job: _Job) -> None:
        run = asyncio.ensure_future(run_in_slot(job.state, job.audit, job.prepared, job.recorder))
        self._runs[job.record.id] = run
        watch = asyncio.ensure_future(self._watch(job, run))
        outcome: RunResult | BaseException
        try:
            outcome = await run
        except (asyncio.CancelledError, Exception) as exc:
            outcome = exc
        finally:
            self._runs.pop(job.record.id, None)
            # The watcher must be gone before the final record is written: a save of its own
            # still in flight would otherwise overwrite the end with an older state.
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        try:
            await job.flush()
            await self._end(job, outcome)
        finally:
            await job.slot.aclose()

    async def _end(self, job: _Job, outcome: RunResult | BaseException) -> None:
        if isinstance(outcome, RunResult):
            await job.finish(JobStatus.finished, result=outcome)
            await account(job.state, job.audit, job.prepared, outcome)
        elif isinstance(outcome, asyncio.CancelledError):
            await cancelled(job.state, job.audit, job.prepared)
            await job.finish(JobStatus.cancelled, error=self._why())
        elif isinstance(outcome, NoxProblem):  # the executor was unavailable or busy
            await job.finish(JobStatus.failed, error=problem_of(outcome))
        else:
            log.error("asynchronous run %s failed", job.record.id, exc_info=outcome)
            problem = problem_document(500, "the run failed inside the api; see its logs")
            await job.finish(JobStatus.failed, error=problem)

    def _why(self) -> dict[str, Any] | None:
        if self._closing:
            return problem_document(503, "interrupted: the api replica shut down; submit again")
        return None

    async def _watch(self, job: _Job, run: asyncio.Future[RunResult]) -> None:
        """Every FLUSH_S: output to the book, a cancel request from any replica, the
        heartbeat and the switch to ``running``."""
        record, last_beat = job.record, time.monotonic()
        while not run.done():
            await asyncio.sleep(FLUSH_S)
            try:
                await job.flush()
                if await job.book.cancel_requested(record.id):
                    run.cancel()
                    return
                started = job.recorder.started_at is not None and record.started_at is None
                if started or time.monotonic() - last_beat >= HEARTBEAT_S:
                    if started:
                        record.status = JobStatus.running
                        record.started_at = now()
                    record.heartbeat = time.time()
                    await job.save()
                    last_beat = time.monotonic()
            except Exception:  # the store hiccuped: the run goes on, the next tick retries
                log.warning("could not update asynchronous run %s", record.id, exc_info=True)

    async def aclose(self) -> None:
        """Shutdown: interrupt every job still running here, recording why."""
        self._closing = True
        for run in list(self._runs.values()):
            run.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_WAIT_S)
