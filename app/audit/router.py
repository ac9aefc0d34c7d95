"""Admin access to the audit log: filtered pages and streamed exports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.audit import query
from app.audit.schemas import AuditFilters, AuditPage
from app.auth.deps import AdminUser
from app.db import SessionDep
from app.state import StateDep

router = APIRouter(prefix="/api/v7/admin/audit", tags=["admin"])

FiltersDep = Annotated[AuditFilters, Query()]  # a query model: its validators see raw text


@router.get("")
async def list_events(
    _: AdminUser,
    session: SessionDep,
    filters: FiltersDep,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    items, next_cursor = await query.page(session, filters, cursor=cursor, limit=limit)
    return AuditPage(items=items, next_cursor=next_cursor)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            }
        }
    },
)
async def export_events(
    _: AdminUser,
    state: StateDep,
    filters: FiltersDep,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "jsonl",
) -> StreamingResponse:
    events = query.export_rows(state.sessionmaker, filters)
    if format == "csv":
        body, media = query.as_csv(events), "text/csv"
    else:
        body, media = query.as_jsonl(events), "application/x-ndjson"
    return StreamingResponse(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="nox-audit.{format}"'},
    )
