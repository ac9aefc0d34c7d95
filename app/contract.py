"""The OpenAPI document tells every answer a route can give; error responses are declared here.

FastAPI only documents the success response and its own 422. Nox answers problem+json
(``app.errors``) for every error, so this module adds them in one place, by what a route needs:
authentication (401, 403 deactivated, 429 rate limit), the admin role (403), a request body
(413, 422), the sandbox executor (503 + Retry-After) and a storage back end (503 + Retry-After).
When a route gains a new error, add its status to the family below and run ``nox openapi``
to regenerate ``docs/openapi.json`` (a unit test fails while the committed copy is stale).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.auth.deps import CROSS_SITE_TYPE, admin_user, current_user
from app.errors import PROBLEM_JSON
from app.quotas.service import QUOTA_TYPE
from app.routers import ROUTERS
from app.sandbox.service import BUSY_TYPE, UNAVAILABLE_TYPE

# Every ``type`` URI a Nox problem carries; ``about:blank`` means "the status says it all".
PROBLEM_TYPES = ("about:blank", QUOTA_TYPE, UNAVAILABLE_TYPE, BUSY_TYPE, CROSS_SITE_TYPE)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "enum": list(PROBLEM_TYPES)},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "limit": {"type": "string", "description": "which limit refused a 429"},
        "errors": {
            "type": "array",
            "description": "every validation error of a 422",
            "items": {"type": "object"},
        },
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "the scheme to authenticate with",
        "schema": {"type": "string"},
    }
}

# status -> (description, headers)
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("the request is malformed", {}),
    401: ("no valid token or session", _WWW_AUTHENTICATE),
    403: ("the caller may not do this (deactivated account, missing role, cross-site)", {}),
    404: ("no such resource for this caller", {}),
    409: ("the request conflicts with the resource's state", {}),
    413: ("the request body or an upload is over its limit", {}),
    422: ("the request does not match the schema or a path is invalid", {}),
    429: ("a rate limit or quota refused the request", _RETRY_AFTER),
    503: ("a backing service or the sandbox executor is unavailable", _RETRY_AFTER),
}

AUTHENTICATED = (401, 403, 429, 503)  # auth reads the database/store, rate limit applies
WITH_BODY = (400, 413, 422)  # 400: a body that does not parse
WITH_PARAMS = (422,)


def _family(path: str, method: str) -> tuple[int, ...]:
    """Errors a route gives beyond those of authentication and its parameters."""
    if path == "/run_sh":
        return (400, 413, 429, 503)  # empty cmd, source size, run quotas, executor
    if path.startswith(("/api/v7/run/", "/run_py")) or path == "/api/v7/runs":
        return (413, 429, 503)
    if path.startswith("/api/v7/runs/"):
        return (404,)
    if path == "/put":  # a hand-declared multipart body: 400 when it does not parse
        return (400, 404, 413, 422, 429, 503)
    if path.startswith("/api/v7/files") or path in ("/put", "/list", "/cat", "/delete"):
        writes = method in ("PUT", "POST")
        return (404, 413, 422, 429, 503) if writes else (404, 422, 503)
    if path.startswith("/api/v7/admin/users/"):
        return (404, 409)
    if path.startswith("/api/v7/auth/tokens/"):
        return (404,)
    if path == "/api/v7/auth/dev-login":
        return (404, 503)
    if path == "/readyz":
        return (503,)
    return ()


def _needs(dependant: Dependant, target: Callable[..., Any]) -> bool:
    return any(d.call is target or _needs(d, target) for d in dependant.dependencies)


def route_errors(route: APIRoute) -> list[int]:
    method = sorted(route.methods or {"GET"})[0]
    codes: set[int] = set(_family(route.path_format, method))
    if _needs(route.dependant, current_user):
        codes.update(AUTHENTICATED)
    if _needs(route.dependant, admin_user):
        codes.add(403)
    if route.body_field is not None:
        codes.update(WITH_BODY)
    if route.dependant.path_params or route.dependant.query_params:
        codes.update(WITH_PARAMS)
    return sorted(codes)


def _problem_response(status: int) -> dict[str, Any]:
    description, headers = _ERRORS[status]
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    # The routers, not ``app.routes``: FastAPI wraps included routers in private route types.
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            for status in route_errors(route):
                operation["responses"][str(status)] = _problem_response(status)
    app.openapi_schema = schema
    return schema


def install_contract(app: FastAPI) -> None:
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    return json.dumps(build_openapi(app), indent=2, sort_keys=True) + "\n"


COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
