"""Who is calling: a personal API token (Bearer) or the session cookie set by login."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.auth.sessions import SESSION_COOKIE, load_session
from app.auth.tokens import authenticate_token
from app.db import SessionDep
from app.errors import NoxProblem
from app.quotas.service import check_request_rate
from app.state import StateDep
from app.users.models import User

_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def _unauthorized(detail: str) -> NoxProblem:
    return NoxProblem(401, "Unauthorized", detail, headers=_UNAUTHENTICATED)


async def _authenticate(request: Request, session: SessionDep, state: StateDep) -> User:
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorized("Authorization header must be 'Bearer <token>'")
        user = await authenticate_token(session=session, plaintext=credentials.strip())
        if user is None:
            raise _unauthorized("the API token is invalid or revoked")
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise _unauthorized("no credentials: send a Bearer token or log in")
        user_id = await load_session(
            store=state.store, settings=state.settings, session_id=session_id
        )
        user = await session.get(User, user_id) if user_id is not None else None
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
