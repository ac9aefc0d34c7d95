"""Who is calling: a personal API token (Bearer) or the session cookie set by login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy import select

from app.auth.caller import Caller
from app.auth.sessions import SESSION_COOKIE, load_session
from app.auth.tokens import authenticate_token, hash_token
from app.errors import NoxProblem
from app.quotas.service import check_request_rate
from app.state import AppState, get_state
from app.users.models import User

_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}
CALLER_KEY = "nox.caller"  # the scope key where the request limits leave the caller they found


def _unauthorized(detail: str) -> NoxProblem:
    return NoxProblem(401, "Unauthorized", detail, headers=_UNAUTHENTICATED)


async def _resolve(
    key: str, state: AppState, load: Callable[[], Awaitable[User | None]]
) -> Caller | None:
    caller = state.auth_cache.get(key)
    if caller is None:
        user = await load()
        if user is None:
            return None
        caller = Caller.of(user)
        state.auth_cache.put(key, caller)
    return caller


async def _by_token(state: AppState, header: str) -> Caller:
    scheme, _, credentials = header.partition(" ")
    plaintext = credentials.strip()
    if scheme.lower() != "bearer" or not plaintext:
        raise _unauthorized("Authorization header must be 'Bearer <token>'")

    async def load() -> User | None:
        async with state.sessionmaker() as session:
            return await authenticate_token(session=session, plaintext=plaintext)

    caller = await _resolve("t:" + hash_token(plaintext), state, load)
    if caller is None:
        raise _unauthorized("the API token is invalid or revoked")
    return caller


async def _by_session(state: AppState, session_id: str) -> Caller:
    user_id = await load_session(store=state.store, settings=state.settings, session_id=session_id)

    async def load() -> User | None:
        async with state.sessionmaker() as session:
            found = await session.execute(select(User).where(User.id == user_id))
            return found.scalar_one_or_none()

    # Keyed by session, not user: a new login (perhaps with a new role) starts afresh.
    caller = None if user_id is None else await _resolve("s:" + hash_token(session_id), state, load)
    if caller is None:
        raise _unauthorized("the session is invalid or expired: log in again")
    return caller


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
CROSS_SITE_TYPE = "https://nox.dev/problems/cross-site-request"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_same_origin(request: Request, public_url: str) -> None:
    """A state-changing request that authenticates by cookie must come from Nox's own pages
    (CSRF: a form on another site, a sibling subdomain included, would carry the cookie).
    Browsers say where a request comes from in Sec-Fetch-Site and Origin; a client that sends
    neither is not a browser. Bearer-token requests never reach this check."""
    if request.method in SAFE_METHODS:
        return
    fetch_site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    allowed = {_origin(public_url), _origin(str(request.base_url))}
    if (fetch_site is not None and fetch_site not in SAME_SITE_FETCHES) or (
        origin is not None and origin.lower() not in allowed
    ):
        raise NoxProblem(
            403, "Forbidden",
            "a cross-site request cannot use the session cookie: send it from this site or "
            "use a Bearer token",
            type_=CROSS_SITE_TYPE,
        )  # fmt: skip


async def current_user(request: Request) -> Caller:
    """The caller, authenticated and counted against their request rate.

    No request-scoped database session here: a cached caller costs no database work at all.
    """
    handed_on = request.scope.get(CALLER_KEY)
    if isinstance(handed_on, Caller):  # authenticated by the request limits, before the body
        request.state.user_id = handed_on.id
        return handed_on
    state = get_state(request)
    await state.auth_cache.sync(state.store)
    header = request.headers.get("authorization")
    if header:
        caller = await _by_token(state, header)
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise _unauthorized("no credentials: send a Bearer token or log in")
        check_same_origin(request, state.settings.public_url)
        caller = await _by_session(state, session_id)
    if not caller.is_active:
        raise NoxProblem(403, "Forbidden", "this account is deactivated")
    await check_request_rate(store=state.store, settings=state.settings, user=caller)
    request.state.user_id = caller.id
    return caller


async def admin_user(user: Annotated[Caller, Depends(current_user)]) -> Caller:
    if not user.is_admin:
        raise NoxProblem(403, "Forbidden", "this action needs the admin role")
    return user


CurrentUser = Annotated[Caller, Depends(current_user)]
AdminUser = Annotated[Caller, Depends(admin_user)]
