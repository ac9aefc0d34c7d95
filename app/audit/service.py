"""Writing audit events: each in its own short transaction, appended to the hash chain."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any, Required, TypedDict, Unpack

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.chain import GENESIS, event_hash
from app.audit.models import AuditEvent, AuditHead
from app.db import utcnow
from app.observability.context import request_id_var
from app.state import AppState

log = logging.getLogger(__name__)


async def _append(session: AsyncSession, event: AuditEvent) -> None:
    # Row lock on PostgreSQL serialises appends across replicas; SQLite serialises writers.
    head = (
        await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    ).scalar_one_or_none()
    if head is None:  # the migration creates it; gone means deleted, which verify reports
        head = AuditHead(id=1, last_event_id=0, last_hash=GENESIS)
        session.add(head)
    session.add(event)
    await session.flush()
    event.prev_hash = head.last_hash
    event.hash = event_hash(event, head.last_hash)
    head.last_event_id, head.last_hash = event.id, event.hash


class AuditFields(TypedDict, total=False):
    """What an audit event says, apart from who asked (``AuditContext``)."""

    action: Required[str]
    outcome: Required[str]
    actor_id: Required[int | None]
    target: str
    duration_ms: float | None
    detail: dict[str, Any] | None


async def record_event(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    request_id: str = "",
    client_addr: str = "",
    **fields: Unpack[AuditFields],
) -> None:
    event = AuditEvent(
        created_at=utcnow(),
        actor_id=fields["actor_id"],
        action=fields["action"],
        target=fields.get("target", "")[:512],
        outcome=fields["outcome"],
        request_id=request_id or request_id_var.get(),
        client_addr=client_addr,
        duration_ms=fields.get("duration_ms"),
        detail=fields.get("detail") or {},
        prev_hash="",
        hash="",
    )
    async with sessionmaker() as session, session.begin():
        await _append(session, event)


@dataclass(frozen=True)
class AuditContext:
    """Who asked (request id, client address), apart from the request: work that outlives its
    request, such as an asynchronous run, still records who asked for it."""

    request_id: str
    client_addr: str

    @classmethod
    def of(cls, request: Request) -> AuditContext:
        return cls(request_id_var.get(), request.client.host if request.client else "")


async def _audit_context(request: Request) -> AuditContext:  # async: no thread-pool hop
    return AuditContext.of(request)


AuditDep = Annotated[AuditContext, Depends(_audit_context)]


async def record_in(state: AppState, context: AuditContext, **fields: Unpack[AuditFields]) -> None:
    async with state.audit_lock:  # one writer per process keeps SQLite from lock upgrades
        await record_event(
            state.sessionmaker,
            request_id=context.request_id,
            client_addr=context.client_addr,
            **fields,
        )
