"""Limits every request meets before the application parses anything, as nginx or Envoy would.

A pure ASGI middleware, so that nothing upstream of it reads the body:

- too many headers -> 431;
- a body over its route family's cap -> 413, at once when Content-Length says so, else as soon
  as the chunked stream passes the cap (the application never sees more than the cap);
- a body that does not arrive within ``NOX_REQUEST_BODY_TIMEOUT_S`` (slow or endless) -> 408;
- a request that carries a body to a route that needs a caller is authenticated *before* any
  of its body is read: an anonymous 300 MB upload costs the server a header parse, not 300 MB.
  The caller found here is handed on, so the route does not authenticate (or rate-count) twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import NoxProblem, problem_response
from app.settings import Settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ENVELOPE_BYTES = 64 * 1024  # JSON keys, quoting and multipart framing around the capped parts
# Routes that take a body without a caller: development login only (refused in production).
PUBLIC_BODY_ROUTES = frozenset({"/api/v7/auth/dev-login"})


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    error while reading into a 400) and the problem handlers answer it."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"the request body is over {cap} bytes")


class BodyTimeout(HTTPException):
    def __init__(self, timeout_s: float) -> None:
        detail = f"the request body did not arrive within {timeout_s:g} s"
        super().__init__(408, detail, headers={"Connection": "close"})


def body_cap(settings: Settings, method: str, path: str) -> int:
    """The most a body on this route may carry, by route family."""
    limits = settings.sandbox
    if path.startswith("/api/v7/files/") and method == "PUT":
        return limits.upload_bytes
    if path == "/put":
        return limits.upload_bytes + ENVELOPE_BYTES
    if path.startswith("/api/v7/run/") or path in ("/run_py", "/run_sh"):
        return limits.code_bytes + limits.upload_bytes + ENVELOPE_BYTES  # code + stdin
    return settings.request_body_bytes


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (
        length is not None and length.strip() not in (b"", b"0")
    )


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.nox.settings
        refused = self._refusal(settings, scope)
        if refused is None and scope["method"] in BODY_METHODS and has_body(scope):
            refused = await self._authenticate(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self._limited(settings, scope, receive, send)

    def _refusal(self, settings: Settings, scope: Scope) -> Any:
        if len(scope["headers"]) > settings.request_max_headers:
            detail = f"more than {settings.request_max_headers} header fields"
            return problem_response(431, detail)
        cap = body_cap(settings, scope["method"], scope["path"])
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            return problem_response(413, f"the request body is over {cap} bytes")
        return None

    async def _authenticate(self, scope: Scope) -> Any:
        if scope["path"] in PUBLIC_BODY_ROUTES:
            return None
        from app.auth.deps import CALLER_KEY, current_user  # local: auth imports the store

        try:
            caller = await current_user(Request(scope))
        except NoxProblem as problem:
            return problem_response(
                problem.status, problem.detail, title=problem.title, type_=problem.type,
                headers=problem.headers, extra=problem.extra,
            )  # fmt: skip
        scope[CALLER_KEY] = caller  # this request's own scope: never the shared lifespan state
        return None

    async def _limited(
        self, settings: Settings, scope: Scope, receive: Receive, send: Send
    ) -> None:
        cap = body_cap(settings, scope["method"], scope["path"])
        deadline = time.monotonic() + settings.request_body_timeout_s
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise BodyTimeout(settings.request_body_timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, BodyTimeout) as exc:  # raised where no handler saw it
            if started:
                raise
            headers = dict(exc.headers or {})
            response = problem_response(exc.status_code, exc.detail, headers=headers)
            await response(scope, receive, send)
