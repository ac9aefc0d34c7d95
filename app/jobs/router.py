"""``/api/v7/runs``: asynchronous runs — submit (202), poll, follow as events, cancel.

A submission is the body of the synchronous route plus its ``language``. A job is its
owner's only: any other caller gets the same 404 as for a job that never existed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from app.audit.service import AuditContext
from app.auth.caller import Caller
from app.auth.deps import CurrentUser
from app.errors import NoxProblem
from app.jobs.book import TERMINAL_EVENTS, JobBook
from app.jobs.models import ID_PATTERN, JobRecord, JobStatus, RunJob
from app.jobs.runner import JobRunner, book_of
from app.sandbox import sse
from app.sandbox.interface import Language
from app.sandbox.router import PythonRun, ShellRun
from app.sandbox.service import prepare_run
from app.state import get_state

router = APIRouter(prefix="/api/v7/runs", tags=["runs"])

POLL_S = 0.1  # how often a follower looks for new events of a job running elsewhere
RECHECK_S = 1.0  # how often it re-reads the record (lost replica, expiry) while silent

JobId = Annotated[str, Path(pattern=ID_PATTERN, description="the id the submission answered")]
EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the job's events from the start (or after `Last-Event-ID`): "
        '`stdout`/`stderr` (`{"text": ...}`), then one of `result`, `error`, `cancelled`',
        "content": {sse.MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


def runner(request: Request) -> JobRunner:
    jobs: JobRunner = request.app.state.jobs
    return jobs


async def _owned(request: Request, user: Caller, job_id: str) -> tuple[JobBook, JobRecord]:
    book = book_of(get_state(request))
    record = await book.load(job_id)
    if record is None or record.owner != user.id:
        raise NoxProblem(404, "Not Found", "no such run (finished runs are kept for a while)")
    return book, record


class PythonJob(PythonRun):
    language: Literal[Language.python]


class ShellJob(ShellRun):
    language: Literal[Language.shell]


Submission = Annotated[PythonJob | ShellJob, Field(discriminator="language")]


@router.post("", status_code=202)
async def submit(
    body: Submission, request: Request, response: Response, user: CurrentUser
) -> RunJob:
    """Start a run and answer at once (the body of `/api/v7/run/{language}` plus `language`);
    the `Location` header is where to follow it."""
    if isinstance(body, PythonJob):
        run: dict[str, Any] = {"source": body.code, "args": body.args}
    else:
        run = {"source": body.script}
    prepared = prepare_run(
        get_state(request).settings,
        user=user,
        language=body.language,
        stdin=body.stdin,
        timeout_s=body.timeout_s,
        **run,
    )
    record = await runner(request).submit(get_state(request), AuditContext.of(request), prepared)
    response.headers["Location"] = f"{router.prefix}/{record.id}"
    return record.public()


@router.get("/{job_id}")
async def get_job(job_id: JobId, request: Request, user: CurrentUser) -> RunJob:
    """The job's state, and its result once finished."""
    _book, record = await _owned(request, user, job_id)
    return record.public()


@router.delete(
    "/{job_id}",
    status_code=202,
    response_model=None,
    responses={
        202: {"model": RunJob, "description": "cancelling: the job ends as `cancelled`"},
        204: {"description": "the job had ended: its record and output are deleted"},
    },
)
async def delete_job(job_id: JobId, request: Request, user: CurrentUser) -> Response:
    """Cancel a queued or running job (202, its sandbox is killed), or forget an ended one
    (204)."""
    book, record = await _owned(request, user, job_id)
    if record.public().status.terminal:
        await book.remove(job_id)
        return Response(status_code=204)
    if not runner(request).cancel_here(job_id):
        await book.request_cancel(job_id, book.keep_s)  # its replica stops it within 0.1 s
    body = record.public().model_copy(update={"status": record.status})
    return Response(body.model_dump_json(), status_code=202, media_type="application/json")


@router.get("/{job_id}/events", response_model=None, responses=EVENTS_DOC)
async def job_events(
    job_id: JobId,
    request: Request,
    user: CurrentUser,
    last_event_id: Annotated[int | None, Header(ge=-1, le=1_000_000)] = None,
) -> StreamingResponse:
    """Follow a job as Server-Sent Events; resumes after `Last-Event-ID`."""
    book, _record = await _owned(request, user, job_id)
    start = 0 if last_event_id is None else last_event_id + 1
    return StreamingResponse(
        _follow(request, book, job_id, start), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS
    )


async def _follow(request: Request, book: JobBook, job_id: str, start: int) -> AsyncIterator[bytes]:
    position = start
    checked = time.monotonic()
    while True:
        events = await book.events(job_id, position)
        for name, data in events:
            yield sse.event(name, data, position)
            position += 1
            if name in TERMINAL_EVENTS:
                return
        if events:
            checked = time.monotonic()
            continue
        if time.monotonic() - checked >= RECHECK_S:
            checked = time.monotonic()
            record = await book.load(job_id)
            if record is None:  # deleted or expired while followed
                return
            view = record.public()
            if view.status is JobStatus.failed and view.error is not None:  # its replica died
                yield sse.event("error", view.error, position)
                return
            if await request.is_disconnected():
                return
            yield sse.HEARTBEAT
        await asyncio.sleep(POLL_S)
