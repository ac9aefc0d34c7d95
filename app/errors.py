"""RFC 9457 problem details for every error Nox answers, internals never included."""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class NoxProblem(Exception):
    """An error answered as a problem document; raise it from services and routes."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.headers = headers or {}
        self.extra = extra or {}


def problem_document(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **(extra or {}),
    }


def problem_of(exc: NoxProblem) -> dict[str, Any]:
    """The document of a problem raised where no response can carry it (an event stream)."""
    return problem_document(
        exc.status, exc.detail, title=exc.title, type_=exc.type, extra=exc.extra
    )


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = problem_document(status, detail, title=title, type_=type_, extra=extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _nox_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoxProblem)
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=exc.type,
        headers=exc.headers,
        extra=exc.extra,
    )


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path.

    Starlette's 405 names only the methods of the first route that matched the path; Nox
    declares GET, PUT and DELETE of one path as separate routes, so ``Allow`` must join them
    to agree with the OpenAPI document. The routers are walked, not ``app.routes``: FastAPI
    wraps included routers in private route types.
    """
    from app.routers import ROUTERS  # the routers import this module

    methods: set[str] = set()
    for route in (r for router in ROUTERS for r in router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such resource"
    if exc.status_code == 405:
        detail = "this method is not allowed on this resource"
        headers["Allow"] = allowed_methods(request)
    return problem_response(exc.status_code, detail, headers=headers or None)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    return problem_response(
        422, f"{where}: {first['msg']}" if where else str(first["msg"]), extra={"errors": errors}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "an internal error occurred; it has been logged")


# A database or cache that is down (stopped, restarting, name not resolving) is a 503 the
# client may retry, never a 500: asyncpg lets socket errors through unwrapped. A Redis at its
# maxmemory refuses writes (noeviction, docs/operations.md "Redis memory"): the same 503.
BACKING_SERVICE_DOWN: tuple[type[Exception], ...] = (
    ConnectionError,
    socket.gaierror,
    TimeoutError,
    OperationalError,
    InterfaceError,
    DisconnectionError,
    RedisConnectionError,
    RedisTimeoutError,
    RedisOutOfMemoryError,
)


async def _backing_service_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("backing service unavailable on %s %s: %r", request.method, request.url.path, exc)
    return problem_response(
        503, "a backing service is unavailable; retry shortly", headers={"Retry-After": "5"}
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NoxProblem, _nox_problem)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation)
    for exc_type in BACKING_SERVICE_DOWN:
        app.add_exception_handler(exc_type, _backing_service_down)
    app.add_exception_handler(Exception, _unexpected)
