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
from datetime import UTC, datetime, timedelta

from fastapi import Request

from app.errors import NoxProblem, problem_document, problem_of
from app.jobs.book import JobBook
from app.jobs.models import HEARTBEAT_S, JobRecord, JobStatus, now
from app.quotas.service import run_slot
from app.sandbox.interface import OutputStream, RunResult
from app.sandbox.service import PreparedRun, account, cancelled, run_in_slot
from app.state import get_state

log = logging.getLogger(__name__)

FLUSH_S = 0.1  # output is written to the book at most this often (one event per stream)
SHUTDOWN_WAIT_S = 5.0


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


class JobRunner:
    """The jobs this process runs; ``aclose`` interrupts them at shutdown."""

    def __init__(self) -> None:
        self._runs: dict[str, asyncio.Future[RunResult]] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._closing = False

    @staticmethod
    def book(request: Request) -> JobBook:
        state = get_state(request)
        return JobBook(state.store, state.settings.run_results_keep_s)

    def _running_ttl(self, request: Request) -> int:
        settings = get_state(request).settings
        return settings.run_results_keep_s + int(settings.sandbox.wall_max_s) + 60

    async def submit(self, request: Request, prepared: PreparedRun) -> JobRecord:
        if self._closing:
            raise NoxProblem(
                503,
                "Service Unavailable",
                "the api is shutting down; retry",
                headers={"Retry-After": "5"},
            )
        state = get_state(request)
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
            expires_at=created + timedelta(seconds=self._running_ttl(request)),
            owner=prepared.user.id,
            heartbeat=time.time(),
        )
        try:
            await self.book(request).save(record, self._running_ttl(request))
        except BaseException:
            await slot.aclose()
            raise
        task = asyncio.create_task(self._job(request, prepared, record, slot))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return record

    async def cancel_here(self, job_id: str) -> bool:
        """Cancel the job if this process runs it (else its replica sees the cancel request)."""
        run = self._runs.get(job_id)
        if run is None:
            return False
        run.cancel()
        return True

    async def _job(
        self, request: Request, prepared: PreparedRun, record: JobRecord, slot: AsyncExitStack
    ) -> None:
        book = self.book(request)
        recorder = _Recorder()
        run = asyncio.ensure_future(run_in_slot(request, prepared, recorder))
        self._runs[record.id] = run
        watch = asyncio.ensure_future(self._watch(request, book, record, recorder, run))
        outcome: RunResult | BaseException
        try:
            outcome = await run
        except (asyncio.CancelledError, Exception) as exc:
            outcome = exc
        finally:
            self._runs.pop(record.id, None)
            # The watcher must be gone before the final record is written: a save of its own
            # still in flight would otherwise overwrite the end with an older state.
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        try:
            if recorder.started_at is not None and record.started_at is None:
                record.started_at = datetime.fromtimestamp(recorder.started_at, UTC)
            await self._flush(request, book, record, recorder)
            await self._end(request, book, record, prepared, outcome)
        finally:
            await slot.aclose()

    async def _end(
        self,
        request: Request,
        book: JobBook,
        record: JobRecord,
        prepared: PreparedRun,
        outcome: RunResult | BaseException,
    ) -> None:
        if isinstance(outcome, RunResult):
            await self._finish(request, book, record, JobStatus.finished, result=outcome)
            await account(request, prepared, outcome)
        elif isinstance(outcome, asyncio.CancelledError):
            await cancelled(request, prepared)
            await self._finish(request, book, record, JobStatus.cancelled, error=self._why())
        elif isinstance(outcome, NoxProblem):  # the executor was unavailable or busy
            await self._finish(request, book, record, JobStatus.failed, error=problem_of(outcome))
        else:
            log.error("asynchronous run %s failed", record.id, exc_info=outcome)
            problem = problem_document(500, "the run failed inside the api; see its logs")
            await self._finish(request, book, record, JobStatus.failed, error=problem)

    def _why(self) -> dict[str, object] | None:
        if self._closing:
            return problem_document(503, "interrupted: the api replica shut down; submit again")
        return None

    async def _watch(
        self,
        request: Request,
        book: JobBook,
        record: JobRecord,
        recorder: _Recorder,
        run: asyncio.Future[RunResult],
    ) -> None:
        """Every FLUSH_S: output to the book, a cancel request from any replica, the
        heartbeat and the switch to ``running``."""
        last_beat = time.monotonic()
        while not run.done():
            await asyncio.sleep(FLUSH_S)
            try:
                await self._flush(request, book, record, recorder)
                if await book.cancel_requested(record.id):
                    run.cancel()
                    return
                started = recorder.started_at is not None and record.started_at is None
                if started or time.monotonic() - last_beat >= HEARTBEAT_S:
                    if started:
                        record.status = JobStatus.running
                        record.started_at = now()
                    record.heartbeat = time.time()
                    await book.save(record, self._running_ttl(request))
                    last_beat = time.monotonic()
            except Exception:  # the store hiccuped: the run goes on, the next tick retries
                log.warning("could not update asynchronous run %s", record.id, exc_info=True)

    async def _flush(
        self, request: Request, book: JobBook, record: JobRecord, recorder: _Recorder
    ) -> None:
        for stream, text in recorder.take():
            await book.append(record.id, stream, {"text": text}, self._running_ttl(request))

    async def _finish(
        self,
        request: Request,
        book: JobBook,
        record: JobRecord,
        status: JobStatus,
        *,
        result: RunResult | None = None,
        error: dict[str, object] | None = None,
    ) -> None:
        finished = now()
        record.status = status
        record.finished_at = finished
        record.expires_at = finished + timedelta(seconds=book.keep_s)
        record.heartbeat = time.time()
        if result is not None:
            record.result = result.public()
        record.error = dict(error) if error else None
        if status is JobStatus.finished and record.result is not None:
            event, data = "result", record.result.model_dump(mode="json")
        elif status is JobStatus.cancelled:
            event, data = "cancelled", dict(error or {})
        else:
            event, data = "error", dict(error or {})
        await book.append(record.id, event, data, book.keep_s)
        await book.save(record, book.keep_s)

    async def aclose(self) -> None:
        """Shutdown: interrupt every job still running here, recording why."""
        self._closing = True
        for run in list(self._runs.values()):
            run.cancel()
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=SHUTDOWN_WAIT_S)
