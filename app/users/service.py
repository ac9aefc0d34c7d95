"""User service functions: plain async functions taking a keyword-only session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.users.models import ROLE_ADMIN, ROLE_USER, User


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def get_or_create_by_email(
    *, session: AsyncSession, email: str, admin: bool = False, name: str = ""
) -> User:
    """The user with ``email``, created if missing; ``admin`` promotes, never demotes."""
    email = normalize_email(email)
    user = await get_by_email(session=session, email=email)
    if user is None:
        user = User(email=email, name=name, role=ROLE_ADMIN if admin else ROLE_USER)
        try:
            async with session.begin_nested():
                session.add(user)
        except IntegrityError:  # created concurrently by another request
            user = await get_by_email(session=session, email=email)
            assert user is not None
    if admin and user.role != ROLE_ADMIN:
        user.role = ROLE_ADMIN
    await session.flush()
    return user


async def list_users(*, session: AsyncSession, after_id: int = 0, limit: int = 50) -> list[User]:
    result = await session.execute(
        select(User).where(User.id > after_id).order_by(User.id).limit(limit)
    )
    return list(result.scalars())


async def update_user(
    *,
    session: AsyncSession,
    user: User,
    role: str | None = None,
    is_active: bool | None = None,
    quotas: dict[str, Any] | None = None,
) -> User:
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    if quotas is not None:
        user.quotas = quotas or None
    await session.flush()
    return user
