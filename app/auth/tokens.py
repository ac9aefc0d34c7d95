"""Personal API tokens: random, shown once, stored as a SHA-256 hash, revocable.

The tokens carry 256 bits of randomness, so a fast hash is enough: there is nothing to
brute-force, and lookups stay a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow
from app.users.models import User

if TYPE_CHECKING:
    from app.auth.caller import HasUserId

TOKEN_PREFIX = "nox_"  # noqa: S105 - a public marker, not a secret


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    hint: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_token(
    *, session: AsyncSession, user: HasUserId, name: str = ""
) -> tuple[ApiToken, str]:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, hint=plaintext[:8], token_hash=hash_token(plaintext)
    )
    session.add(token)
    await session.flush()
    return token, plaintext


async def authenticate_token(*, session: AsyncSession, plaintext: str) -> User | None:
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    result = await session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(plaintext), ApiToken.revoked_at.is_(None))
    )
    return result.scalar_one_or_none()


async def list_tokens(*, session: AsyncSession, user: HasUserId) -> list[ApiToken]:
    result = await session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    )
    return list(result.scalars())


async def revoke_all_tokens(*, session: AsyncSession, user_id: int) -> int:
    """Revoke every live token of ``user_id``; how many there were."""
    result = await session.execute(
        select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    )
    tokens = list(result.scalars())
    for token in tokens:
        token.revoked_at = utcnow()
    await session.flush()
    return len(tokens)


async def revoke_token(*, session: AsyncSession, user: HasUserId, token_id: int) -> ApiToken | None:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        return None
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token
