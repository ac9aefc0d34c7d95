"""Response bodies of the login routes."""

from __future__ import annotations

from pydantic import BaseModel


class ProviderPublic(BaseModel):
    name: str
    display_name: str
    login_url: str


class ProvidersPublic(BaseModel):
    providers: list[ProviderPublic]
