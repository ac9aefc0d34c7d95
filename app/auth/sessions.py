"""Server-side login sessions in the store: an opaque id in a cookie, nothing else client-side.

The store key is a hash of the id, so a store dump does not hand out live cookies.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time

from starlette.responses import Response

from app.settings import Settings
from app.store.base import Store

SESSION_COOKIE = "nox_session"


def _key(session_id: str) -> str:
    return "sess:" + hashlib.sha256(session_id.encode()).hexdigest()


def _cutoff_key(user_id: int) -> str:
    return f"sess-cutoff:{user_id}"


async def create_session(*, store: Store, settings: Settings, user_id: int) -> str:
    """A fresh random id at every login: an id set before login is never promoted."""
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    record = {"user_id": user_id, "created": now}
    await store.set(_key(session_id), json.dumps(record), settings.session_idle_s)
    return session_id


async def load_session(*, store: Store, settings: Settings, session_id: str) -> int | None:
    """The user id behind ``session_id``; slides the idle expiry within the absolute one."""
    if not session_id or len(session_id) > 100:
        return None
    raw = await store.get(_key(session_id))
    if raw is None:
        return None
    record = json.loads(raw)
    left = record["created"] + settings.session_absolute_s - time.time()
    cutoff = await store.get(_cutoff_key(int(record["user_id"])))
    if left <= 0 or (cutoff is not None and record["created"] <= float(cutoff)):
        await store.delete(_key(session_id))
        return None
    # EXPIRE, not SET: sliding needs no memory, so sessions keep working on a full Redis.
    await store.expire(_key(session_id), int(min(settings.session_idle_s, left)) or 1)
    return int(record["user_id"])


async def revoke_session(*, store: Store, session_id: str) -> None:
    await store.delete(_key(session_id))


async def revoke_user_sessions(*, store: Store, settings: Settings, user_id: int) -> None:
    """Every session of ``user_id`` opened until now stops working, for good: sessions are
    not indexed by user, so a cut-off time is kept for as long as any of them could live."""
    await store.set(_cutoff_key(user_id), repr(time.time()), settings.session_absolute_s)


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.session_absolute_s,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=settings.is_production, path="/"
    )
