"""A login in progress: single use, bound to the browser, its cookie Secure in production."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth.oauth.pending import (
    BINDING_COOKIE,
    browser_binding,
    new_pending,
    same_browser,
    save_pending,
    set_binding_cookie,
    take_pending,
)
from app.settings import Settings
from app.store import MemoryStore


def _request(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{BINDING_COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


async def test_a_state_can_be_taken_once() -> None:
    store, settings = MemoryStore(), Settings()
    state, pending = new_pending(provider="corp", next_path="/x", binding="b" * 43)
    await save_pending(store=store, settings=settings, state=state, pending=pending)
    assert await take_pending(store=store, state=state) == pending
    assert await take_pending(store=store, state=state) is None


async def test_the_store_holds_no_usable_state_or_binding() -> None:
    store, settings = MemoryStore(), Settings()
    binding = "b" * 43
    state, pending = new_pending(provider="corp", next_path="/", binding=binding)
    await save_pending(store=store, settings=settings, state=state, pending=pending)
    dump = repr(store._data)
    assert state not in dump and binding not in dump


def test_only_the_browser_holding_the_binding_matches() -> None:
    binding = browser_binding(_request())
    _, pending = new_pending(provider="corp", next_path="/", binding=binding)
    assert same_browser(pending, _request(binding))
    assert not same_browser(pending, _request())
    assert not same_browser(pending, _request(browser_binding(_request())))


def test_a_browser_keeps_its_binding_across_parallel_logins() -> None:
    first = browser_binding(_request())
    assert browser_binding(_request(first)) == first
    assert browser_binding(_request("short")) != "short"


def test_the_binding_cookie_is_httponly_lax_and_secure_only_in_production() -> None:
    for env, secure in (("development", False), ("production", True)):
        response = Response()
        set_binding_cookie(response, Settings(env=env), "b" * 43)
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "path=/api/v7/auth/callback" in cookie and "max-age=600" in cookie
        assert ("secure" in cookie) is secure
