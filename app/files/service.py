"""File operations for a user: quotas, the executor, metrics, audit and error mapping.

Shared by the v7 ``/api/v7/files`` routes and the legacy ones. The executor does the
no-follow, fd-relative work (``app.sandbox.workspace``); this layer decides who may do what.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from http import HTTPStatus
from typing import TypeVar

from fastapi import Request

from app.audit.service import AuditContext, record_in
from app.auth.caller import Caller
from app.errors import NoxProblem
from app.observability.metrics import FILE_OPERATIONS
from app.quotas.service import check_workspace
from app.sandbox.interface import ExecutorUnavailable, FileInfo, WorkspaceError
from app.sandbox.service import executor_unavailable
from app.state import AppState

T = TypeVar("T")
_STATUS = {"invalid": 422, "not_found": 404, "too_large": 413, "quota": 429, "conflict": 409}


async def _guard(operation: str, call: Awaitable[T]) -> T:
    """Count the operation and turn executor errors into problems."""
    try:
        value = await call
    except WorkspaceError as exc:
        FILE_OPERATIONS.labels(operation=operation, outcome=exc.kind).inc()
        status = _STATUS[exc.kind]
        raise NoxProblem(status, HTTPStatus(status).phrase, exc.detail) from exc
    except ExecutorUnavailable as exc:
        FILE_OPERATIONS.labels(operation=operation, outcome="unavailable").inc()
        raise executor_unavailable(exc) from exc
    FILE_OPERATIONS.labels(operation=operation, outcome="ok").inc()
    return value


async def read_body(request: Request, limit: int) -> bytes:
    """The raw request body, refused with 413 as soon as it passes ``limit``."""
    return await read_capped(request.stream(), limit)


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise NoxProblem(413, "Content Too Large", f"upload is over {limit} bytes")
    return bytes(data)


async def put_file(
    state: AppState, audit: AuditContext, *, user: Caller, path: str, data: bytes
) -> FileInfo:
    workspace = str(user.id)
    usage = await _guard("usage", state.executor.usage(workspace))
    existing = await _guard("list", state.executor.list_files(workspace, prefix=path))
    old = next((f for f in existing if f.path == path), None)
    check_workspace(
        settings=state.settings,
        user=user,
        usage=usage,
        add_bytes=len(data) - (old.size if old else 0),
        add_files=0 if old else 1,
    )
    try:
        info = await _guard("write", state.executor.write_file(workspace, path, data))
    except NoxProblem as exc:
        await _record_refusal(state, audit, "file.write", user, path, exc)
        raise
    await record_in(
        state,
        audit,
        action="file.write",
        outcome="ok",
        actor_id=user.id,
        target=path,
        detail={"bytes": info.size},
    )
    return info


async def get_file(state: AppState, *, user: Caller, path: str) -> bytes:
    return await _guard("read", state.executor.read_file(str(user.id), path))


async def list_files(state: AppState, *, user: Caller, prefix: str = "") -> list[FileInfo]:
    return await _guard("list", state.executor.list_files(str(user.id), prefix))


async def delete_file(state: AppState, audit: AuditContext, *, user: Caller, path: str) -> None:
    try:
        await _guard("delete", state.executor.delete_file(str(user.id), path))
    except NoxProblem as exc:
        await _record_refusal(state, audit, "file.delete", user, path, exc)
        raise
    await record_in(state, audit, action="file.delete", outcome="ok", actor_id=user.id, target=path)


async def _record_refusal(
    state: AppState, audit: AuditContext, action: str, user: Caller, path: str, exc: NoxProblem
) -> None:
    await record_in(
        state,
        audit,
        action=action,
        outcome="refused",
        actor_id=user.id,
        target=path[:200],
        detail={"status": exc.status},
    )
