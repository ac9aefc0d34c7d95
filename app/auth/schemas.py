"""Request and response bodies of the auth routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool


class MePublic(BaseModel):
    id: int
    email: str | None
    name: str
    role: str
    providers: list[str]


class TokenCreate(BaseModel):
    name: str = Field(default="", max_length=100)


class TokenPublic(BaseModel):
    id: int
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; store it now")


class DevLogin(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    admin: StrictBool = False
