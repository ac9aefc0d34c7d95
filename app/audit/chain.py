"""The tamper-evident hash chain over audit events.

Each event's hash covers its own fields and the previous event's hash; the head row holds the
newest id and hash. An edited row breaks its own hash, a deleted or reordered row breaks the
next row's link, and a deleted tail breaks the head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    payload = {
        "id": event.id,
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "client_addr": event.client_addr,
        "duration_ms": event.duration_ms,
        "detail": event.detail,
        "prev": prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ChainReport:
    ok: bool
    checked: int
    problems: list[str]


async def _events(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.id > last)
                    .order_by(AuditEvent.id)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].id
        session.expunge_all()


async def verify_chain(session: AsyncSession, max_problems: int = 20) -> ChainReport:
    problems: list[str] = []
    prev_hash, prev_id, checked = GENESIS, 0, 0
    async for event in _events(session):
        checked += 1
        if event.prev_hash != prev_hash:
            problems.append(
                f"event {event.id}: link to the previous event (id {prev_id}) is broken "
                "(a row was deleted, inserted or reordered)"
            )
        if event_hash(event, event.prev_hash) != event.hash:
            problems.append(f"event {event.id}: content does not match its hash (edited)")
        prev_hash, prev_id = event.hash, event.id
        if len(problems) >= max_problems:
            break
    head = await session.get(AuditHead, 1)
    head_id, head_hash = (head.last_event_id, head.last_hash) if head else (0, GENESIS)
    if len(problems) < max_problems and (head_id, head_hash) != (prev_id, prev_hash):
        problems.append(
            f"chain head names event {head_id} but the log ends at event {prev_id} "
            "(newest events were deleted or the head was edited)"
        )
    return ChainReport(ok=not problems, checked=checked, problems=problems)
