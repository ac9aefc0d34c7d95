"""Admin views of users."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictFloat,
    StrictInt,
    field_validator,
)

from app.settings import QuotaLimits


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    name: str
    role: str
    is_active: bool
    quotas: dict[str, Any] | None
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserPublic]
    next_cursor: int | None


_QUOTA_PROPERTIES: dict[str, JsonValue] = {
    name: {"type": "integer" if field.annotation is int else "number", "minimum": 0}
    for name, field in QuotaLimits.model_fields.items()
}


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["admin", "user"] | None = None
    is_active: bool | None = None
    # Strict numbers: pydantic would read false as 0; the document says a number.
    quotas: dict[str, StrictInt | StrictFloat] | None = Field(
        default=None,
        description="overrides of the default quotas; {} clears them",
        json_schema_extra={  # what _known_quotas enforces, so clients know names and types
            "properties": _QUOTA_PROPERTIES,
            "additionalProperties": False,
        },
    )

    @field_validator("quotas")
    @classmethod
    def _known_quotas(cls, value: dict[str, int | float] | None) -> dict[str, int | float] | None:
        if value is None:
            return None
        unknown = set(value) - set(QuotaLimits.model_fields)
        if unknown:
            known = ", ".join(sorted(QuotaLimits.model_fields))
            raise ValueError(f"unknown quota {sorted(unknown)}; known: {known}")
        if any(v < 0 for v in value.values()):
            raise ValueError("quotas must not be negative")
        QuotaLimits.model_validate(value)
        return value
