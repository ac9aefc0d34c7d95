"""Who is calling: a personal API token (Bearer) or the session cookie set by login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from app.auth.sessions import SESSION_COOKIE, load_session
from app.auth.tokens import authenticate_token, hash_token
from app.errors import NoxProblem
from app.quotas.service import check_request_rate
from app.state import AppState, StateDep
from app.users.models import User

_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def _unauthorized(detail: str) -> NoxProblem:
    return NoxProblem(401, "Unauthorized", detail, headers=_UNAUTHENTICATED)


async def _resolve(
    key: str, state: AppState, request: Request, load: Callable[[], Awaitable[User | None]]
) -> User | None:
    cached = state.auth_cache.get(key)
    if cached is not None:
        request.state.providers = cached.providers
        return cached.to_user()
    user = await load()
    if user is not None:
        state.auth_cache.put(key, user)
        request.state.providers = tuple(sorted({i.provider for i in user.identities}))
    return user


async def _authenticate(request: Request, state: StateDep) -> User:
    # No request-scoped database session here: a cached caller costs no database work at all.
    await state.auth_cache.sync(state.store)
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        plaintext = credentials.strip()
        if scheme.lower() != "bearer" or not plaintext:
            raise _unauthorized("Authorization header must be 'Bearer <token>'")

        async def by_token() -> User | None:
            async with state.sessionmaker() as session:
                return await authenticate_token(session=session, plaintext=plaintext)

        user = await _resolve("t:" + hash_token(plaintext), state, request, by_token)
        if user is None:
            raise _unauthorized("the API token is invalid or revoked")
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise _unauthorized("no credentials: send a Bearer token or log in")
        user_id = await load_session(
            store=state.store, settings=state.settings, session_id=session_id
        )

        async def by_id() -> User | None:
            async with state.sessionmaker() as session:
                found = await session.execute(select(User).where(User.id == user_id))
                return found.scalar_one_or_none()

        # Keyed by session, not user: a new login (perhaps with a new role) starts afresh.
        key = "s:" + hash_token(session_id)
        user = None if user_id is None else await _resolve(key, state, request, by_id)
        if user is None:
            raise _unauthorized("the session is invalid or expired: log in again")
    if not user.is_active:
        raise NoxProblem(403, "Forbidden", "this account is deactivated")
    request.state.user_id = user.id
    return user


async def current_user(user: Annotated[User, Depends(_authenticate)], state: StateDep) -> User:
    await check_request_rate(store=state.store, settings=state.settings, user=user)
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise NoxProblem(403, "Forbidden", "this action needs the admin role")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
