"""``POST /api/v7/run/python`` and ``/api/v7/run/shell``: 200 whenever the sandbox ran.

With ``Accept: text/event-stream`` the same routes stream the run as Server-Sent Events
(``app.sandbox.sse``): output as the program writes it, then the result. Refusals (size, quota,
busy executor) are still ordinary problem responses, sent before any event.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from app.audit.service import AuditContext
from app.auth.caller import Caller
from app.auth.deps import CurrentUser
from app.errors import NoxProblem, problem_of
from app.sandbox import sse
from app.sandbox.interface import Language, RunObserver, RunPublic, RunResult
from app.sandbox.service import run_for_user
from app.sandbox.streaming import Finished, Heartbeat, RunRelay
from app.state import get_state

router = APIRouter(prefix="/api/v7/run", tags=["run"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the run's result; with `Accept: text/event-stream`, its events: "
        '`stdout`/`stderr` (`{"text": ...}`) as produced, then `result` (this schema) or '
        "`error` (a problem document)",
        "content": {sse.MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


class PythonRun(BaseModel):
    code: str
    stdin: str = ""
    args: list[str] = Field(default_factory=list, max_length=64)
    timeout_s: float | None = Field(default=None, gt=0, description="may only lower the wall limit")

    @field_validator("args")
    @classmethod
    def _args_fit_argv(cls, args: list[str]) -> list[str]:
        if any("\x00" in a or len(a) > 4096 for a in args):
            raise ValueError("each argument must be under 4096 characters without NUL")
        return args


class ShellRun(BaseModel):
    script: str
    stdin: str = ""
    timeout_s: float | None = Field(default=None, gt=0, description="may only lower the wall limit")


async def _answer(
    request: Request,
    user: Caller,
    language: Language,
    source: str,
    stdin: str,
    args: list[str],
    timeout_s: float | None,
) -> RunPublic | Response:
    async def run(observer: RunObserver | None) -> RunResult:
        return await run_for_user(
            get_state(request),
            AuditContext.of(request),
            user=user,
            language=language,
            source=source,
            stdin=stdin,
            args=args,
            timeout_s=timeout_s,
            observer=observer,
        )

    if not sse.wants_stream(request.headers.get("accept", "")):
        return (await run(None)).public()
    relay: RunRelay[RunResult] = RunRelay()
    await relay.start(run)
    return StreamingResponse(
        _events(relay, request), media_type=sse.MEDIA_TYPE, headers=sse.HEADERS
    )


async def _events(relay: RunRelay[RunResult], request: Request) -> AsyncIterator[bytes]:
    try:
        async with contextlib.aclosing(relay.events()) as events:
            async for event in events:
                if isinstance(event, Heartbeat):
                    if await request.is_disconnected():
                        return  # closing the events cancels the run: its sandbox is killed
                    yield sse.HEARTBEAT
                elif isinstance(event, Finished):
                    yield sse.event("result", event.result.public().model_dump(mode="json"))
                else:
                    yield sse.event(event.stream, {"text": event.text})
    except NoxProblem as exc:  # the executor failed after the stream began
        yield sse.event("error", problem_of(exc))


@router.post("/python", response_model=RunPublic, responses=STREAM_DOC)
async def run_python(body: PythonRun, request: Request, user: CurrentUser) -> RunPublic | Response:
    return await _answer(
        request, user, Language.python, body.code, body.stdin, body.args, body.timeout_s
    )


@router.post("/shell", response_model=RunPublic, responses=STREAM_DOC)
async def run_shell(body: ShellRun, request: Request, user: CurrentUser) -> RunPublic | Response:
    return await _answer(request, user, Language.shell, body.script, body.stdin, [], body.timeout_s)
