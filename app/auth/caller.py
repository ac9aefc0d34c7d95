"""The authenticated caller as routes see it: an immutable snapshot, not a database row.

Routes read who is calling; they never change the caller through it, so a plain frozen
dataclass is enough, costs no ORM bookkeeping, and can be cached between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from app.users.models import ROLE_ADMIN, User


class HasUserId(Protocol):
    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Caller:
    id: int
    email: str | None
    name: str
    role: str
    is_active: bool
    quotas: dict[str, Any] | None
    providers: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @classmethod
    def of(cls, user: User) -> Caller:
        """Snapshot ``user``; its identities must be loaded (they are, eagerly)."""
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            is_active=user.is_active,
            quotas=dict(user.quotas) if user.quotas else None,
            providers=tuple(sorted({i.provider for i in user.identities})),
        )
