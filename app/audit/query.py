"""Reading the audit log: filters, newest-first keyset pagination, streamed export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.models import AuditEvent
from app.audit.schemas import AuditEventPublic, AuditFilters

EXPORT_FIELDS = list(AuditEventPublic.model_fields)


def filtered(filters: AuditFilters) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action:
        if filters.action.endswith("*"):
            query = query.where(AuditEvent.action.startswith(filters.action[:-1], autoescape=True))
        else:
            query = query.where(AuditEvent.action == filters.action)
    if filters.outcome:
        query = query.where(AuditEvent.outcome == filters.outcome)
    if filters.target:
        query = query.where(AuditEvent.target == filters.target)
    if filters.since:
        query = query.where(AuditEvent.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditEvent.created_at < filters.until)
    return query


async def page(
    session: AsyncSession, filters: AuditFilters, *, cursor: int | None, limit: int
) -> tuple[list[AuditEventPublic], int | None]:
    query = filtered(filters).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(AuditEvent.id < cursor)
    rows = list((await session.execute(query)).scalars())
    items = [AuditEventPublic.model_validate(r, from_attributes=True) for r in rows[:limit]]
    next_cursor = items[-1].id if len(rows) > limit else None
    return items, next_cursor


async def export_rows(
    sessionmaker: async_sessionmaker[AsyncSession], filters: AuditFilters, batch: int = 500
) -> AsyncIterator[AuditEventPublic]:
    """Oldest first, in batches, each batch in a short session: memory stays flat."""
    last = 0
    while True:
        async with sessionmaker() as session:
            query = filtered(filters).where(AuditEvent.id > last)
            rows = list(
                (await session.execute(query.order_by(AuditEvent.id).limit(batch))).scalars()
            )
        if not rows:
            return
        for row in rows:
            yield AuditEventPublic.model_validate(row, from_attributes=True)
        last = rows[-1].id


async def as_jsonl(events: AsyncIterator[AuditEventPublic]) -> AsyncIterator[str]:
    async for event in events:
        yield event.model_dump_json() + "\n"


# A cell a spreadsheet would read as a formula (OWASP "CSV Injection"): prefixed with a quote so
# it stays text. Only the CSV export does this; the JSONL export stays exact.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def as_csv(events: AsyncIterator[AuditEventPublic]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    async for event in events:
        row = event.model_dump(mode="json")
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
