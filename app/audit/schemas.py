"""Audit query filters and the public shape of an event."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from app.db import INT_MAX

# pydantic reads a number as a Unix time; the document promises an RFC 3339 date-time.
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


class AuditFilters(BaseModel):
    actor_id: int | None = Field(default=None, le=INT_MAX)
    action: str | None = Field(default=None, max_length=64, description="exact, or prefix with *")
    outcome: str | None = Field(default=None, max_length=16)
    target: str | None = Field(default=None, max_length=512)
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _date_time_only(cls, value: object) -> object:
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z")
        return value


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
