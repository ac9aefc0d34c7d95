"""``nox executor``: the only process that runs untrusted code, as a small HTTP service.

It owns the workspaces and holds no database or Redis credentials; the api reaches it on an
internal network with a shared secret (compared in constant time). ``/healthz`` and
``/metrics`` are open for probes and Prometheus; everything under ``/v1`` needs the secret.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.observability.metrics import REGISTRY, RUN_DURATION, RUNS, RUNS_IN_PROGRESS
from app.observability.middleware import ObservabilityMiddleware
from app.sandbox.admission import SandboxesBusy
from app.sandbox.interface import (
    ExecutorHealth,
    ExecutorUnavailable,
    FileInfo,
    RunRequest,
    RunResult,
    WorkspaceError,
    WorkspaceUsage,
)
from app.sandbox.local import LocalExecutor
from app.sandbox.selfcheck import isolation_problems
from app.sandbox.streaming import Finished, Heartbeat, RunRelay
from app.sandbox.workspace import validate_workspace_id
from app.settings import ENV_PREFIX, PLACEHOLDER_SECRETS, SandboxBackend, Settings


def executor_problems(settings: Settings) -> list[str]:
    """Why this process must not serve as the executor (production only, but for the backend)."""
    problems: list[str] = []
    if settings.effective_sandbox_backend is SandboxBackend.remote:
        problems.append(f"{ENV_PREFIX}SANDBOX_BACKEND=remote: the executor runs bwrap itself")
    if not settings.is_production:
        return problems
    if settings.effective_sandbox_backend is not SandboxBackend.bwrap:
        problems.append(f"{ENV_PREFIX}SANDBOX_BACKEND must be bwrap for the executor")
    if settings.executor_secret.get_secret_value() in PLACEHOLDER_SECRETS:
        problems.append(f"{ENV_PREFIX}EXECUTOR_SECRET is a placeholder: set a random value")
    if settings.database_url or settings.redis_url:
        problems.append(
            f"the executor must not hold {ENV_PREFIX}DATABASE_URL or {ENV_PREFIX}REDIS_URL"
        )
    problems += isolation_problems(require_own_userns=settings.executor_require_userns)
    return problems


def create_executor_app(settings: Settings, executor: LocalExecutor) -> FastAPI:
    secret = settings.executor_secret.get_secret_value().encode()

    def authorized(authorization: Annotated[str, Header()] = "") -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), secret):
            raise HTTPException(401, "shared secret missing or wrong")

    app = FastAPI(title="Nox executor", docs_url=None, redoc_url=None, openapi_url=None)
    # one JSON line per call, under the api's X-Request-ID: a request is followed across both
    app.add_middleware(ObservabilityMiddleware)
    auth = [Depends(authorized)]

    @app.exception_handler(WorkspaceError)
    async def _workspace_error(_request: Request, exc: WorkspaceError) -> JSONResponse:
        body = {"kind": exc.kind, "detail": exc.detail}
        return JSONResponse(body, status_code=422, headers={"x-nox-workspace-error": "1"})

    @app.exception_handler(ExecutorUnavailable)
    async def _unavailable(_request: Request, exc: ExecutorUnavailable) -> JSONResponse:
        if isinstance(exc, SandboxesBusy):
            body = {"detail": str(exc), "busy": exc.reason, "retry_after": exc.retry_after_s}
            headers = {"Retry-After": str(exc.retry_after_s)}
            return JSONResponse(body, status_code=503, headers=headers)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/health", dependencies=auth)
    async def health() -> ExecutorHealth:
        return await executor.health()

    async def measured(request: RunRequest, relay: RunRelay[RunResult] | None) -> RunResult:
        started = time.monotonic()
        with RUNS_IN_PROGRESS.track_inprogress():
            result = await executor.run(request, relay)
        RUNS.labels(language=request.language.value, status=result.status.value).inc()
        RUN_DURATION.labels(language=request.language.value).observe(time.monotonic() - started)
        return result

    @app.post("/v1/run", dependencies=auth)
    async def run(request: RunRequest) -> RunResult:
        validate_workspace_id(request.workspace)
        return await measured(request, None)

    @app.post("/v1/run/stream", dependencies=auth)
    async def run_stream(request: RunRequest) -> StreamingResponse:
        """The run's events as NDJSON lines; refusals (busy, bad workspace) stay HTTP errors."""
        validate_workspace_id(request.workspace)
        relay: RunRelay[RunResult] = RunRelay()
        await relay.start(lambda observer: measured(request, observer))
        return StreamingResponse(_ndjson(relay), media_type="application/x-ndjson")

    @app.put("/v1/workspaces/{workspace}/file", dependencies=auth, status_code=201)
    async def write(workspace: str, path: Annotated[str, Query()], request: Request) -> FileInfo:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > executor.workspaces.max_file_bytes:
                raise WorkspaceError("too_large", "upload over the file size limit")
        return await executor.write_file(workspace, path, bytes(data))

    @app.get("/v1/workspaces/{workspace}/file", dependencies=auth)
    async def read(workspace: str, path: Annotated[str, Query()]) -> Response:
        data = await executor.read_file(workspace, path)
        return Response(data, media_type="application/octet-stream")

    @app.delete("/v1/workspaces/{workspace}/file", dependencies=auth, status_code=204)
    async def delete(workspace: str, path: Annotated[str, Query()]) -> Response:
        await executor.delete_file(workspace, path)
        return Response(status_code=204)

    @app.get("/v1/workspaces/{workspace}/files", dependencies=auth)
    async def listing(workspace: str, prefix: str = "") -> list[FileInfo]:
        return await executor.list_files(workspace, prefix)

    @app.get("/v1/workspaces/{workspace}/usage", dependencies=auth)
    async def usage(workspace: str) -> WorkspaceUsage:
        return await executor.usage(workspace)

    return app


async def _ndjson(relay: RunRelay[RunResult]) -> AsyncIterator[bytes]:
    """started, output…, then result (or error); heartbeats keep the line alive, and a reader
    gone makes the next write fail, which cancels the run."""
    yield _line({"event": "started"})
    try:
        async with contextlib.aclosing(relay.events()) as events:
            async for event in events:
                if isinstance(event, Heartbeat):
                    yield _line({"event": "heartbeat"})
                elif isinstance(event, Finished):
                    yield _line({"event": "result", "result": event.result.model_dump()})
                else:
                    yield _line({"event": "output", "stream": event.stream, "text": event.text})
    except ExecutorUnavailable as exc:
        yield _line({"event": "error", "detail": str(exc)})


def _line(message: dict[str, object]) -> bytes:
    return json.dumps(message).encode() + b"\n"
