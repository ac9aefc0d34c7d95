"""A login in progress: state, nonce and PKCE verifier held in the store, taken exactly once.

The store key is the ``state`` sent to the provider, so any replica can finish the login. The
record is bound to the provider it was started for and to the browser that started it: that
browser holds a random value in a short-lived HttpOnly cookie, and only its hash is stored.
A callback replayed from another browser (login CSRF, a leaked callback URL) carries no or
another cookie and is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass

from starlette.requests import Request
from starlette.responses import Response

from app.settings import Settings
from app.store.base import Store

BINDING_COOKIE = "nox_oauth_binding"
BINDING_COOKIE_PATH = "/api/v7/auth/callback"
_KEY_PREFIX = "oauth:state:"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


@dataclass(frozen=True)
class PendingLogin:
    provider: str
    code_verifier: str
    nonce: str
    next: str
    binding_hash: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_binding(request: Request) -> str:
    """The browser's binding value: reused when it already has one, so parallel tabs work."""
    current = request.cookies.get(BINDING_COOKIE, "")
    return current if _TOKEN.match(current) else secrets.token_urlsafe(32)


def set_binding_cookie(response: Response, settings: Settings, binding: str) -> None:
    # Lax is enough: the provider sends the browser back with a top-level GET.
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=settings.oauth_state_ttl_s,
        path=BINDING_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


def clear_binding_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        BINDING_COOKIE,
        path=BINDING_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


def new_pending(*, provider: str, next_path: str, binding: str) -> tuple[str, PendingLogin]:
    """A fresh state and its record; the state goes to the provider, the record to the store."""
    pending = PendingLogin(
        provider=provider,
        code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43..128
        nonce=secrets.token_urlsafe(32),
        next=next_path,
        binding_hash=_digest(binding),
    )
    return secrets.token_urlsafe(32), pending


async def save_pending(
    *, store: Store, settings: Settings, state: str, pending: PendingLogin
) -> None:
    await store.set(
        _KEY_PREFIX + _digest(state), json.dumps(asdict(pending)), settings.oauth_state_ttl_s
    )


async def take_pending(*, store: Store, state: str) -> PendingLogin | None:
    """The record for ``state``, deleted in the same step: a second callback finds nothing."""
    if not _TOKEN.match(state):
        return None
    raw = await store.getdel(_KEY_PREFIX + _digest(state))
    return PendingLogin(**json.loads(raw)) if raw is not None else None


def same_browser(pending: PendingLogin, request: Request) -> bool:
    binding = request.cookies.get(BINDING_COOKIE, "")
    return bool(binding) and hmac.compare_digest(_digest(binding), pending.binding_hash)
