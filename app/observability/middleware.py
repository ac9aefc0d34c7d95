"""Request id, access log and HTTP metrics, as plain ASGI middleware (no per-request task)."""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.context import request_id_var
from app.observability.metrics import HTTP_DURATION, HTTP_IN_PROGRESS, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()
# Clients choose the method token freely; anything else is counted as OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = logging.getLogger("nox.access")


# Label children looked up once: labels() takes a lock and validates on every call.
# The key sets are bounded by the routes, methods and status codes the app can produce.
@functools.cache
def _requests_child(method: str, route: str, status: int) -> Any:
    return HTTP_REQUESTS.labels(method=method, route=route, status=str(status))


@functools.cache
def _duration_child(method: str, route: str) -> Any:
    return HTTP_DURATION.labels(method=method, route=route)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_KEY:
            incoming = value.decode("latin-1")
            return incoming if _VALID_ID.match(incoming) else None
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((_REQUEST_ID_KEY, request_id.encode()))
                message["headers"] = headers
            await send(message)

        HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            HTTP_IN_PROGRESS.dec()
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            _requests_child(method, route, status).inc()
            _duration_child(method, route).observe(elapsed)
            if log.isEnabledFor(logging.INFO):  # skip building the record when filtered out
                log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        # after uvicorn's proxy-headers step: X-Forwarded-For only when it
                        # came from NOX_FORWARDED_ALLOW_IPS (the edge), else the peer address
                        "client": scope["client"][0] if scope.get("client") else "",
                    },
                )
            request_id_var.reset(token)
