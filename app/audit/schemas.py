"""Audit query filters and the public shape of an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditFilters(BaseModel):
    actor_id: int | None = None
    action: str | None = Field(default=None, max_length=64, description="exact, or prefix with *")
    outcome: str | None = Field(default=None, max_length=16)
    target: str | None = Field(default=None, max_length=512)
    since: datetime | None = None
    until: datetime | None = None


class AuditEventPublic(BaseModel):
    id: int
    created_at: datetime
    actor_id: int | None
    action: str
    target: str
    outcome: str
    request_id: str
    client_addr: str
    duration_ms: float | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: int | None = Field(description="pass as `cursor` for the next (older) page")
