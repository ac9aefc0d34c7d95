"""The OpenAPI document: committed copy current, every error documented, ``Allow`` agrees."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.deps import CROSS_SITE_TYPE
from app.contract import COMMITTED, PROBLEM_TYPES, render
from app.errors import PROBLEM_JSON
from app.main import create_app
from app.quotas.service import QUOTA_TYPE
from app.sandbox.service import BUSY_TYPE, UNAVAILABLE_TYPE
from app.settings import Settings
from tests.conftest import app_client

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head"}


def _document() -> dict[str, Any]:
    return create_app().openapi()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in HTTP_METHODS
    ]


def test_committed_document_is_current() -> None:
    assert COMMITTED.read_text() == render(create_app()), "run `nox openapi` and commit it"


def test_authenticated_operations_document_auth_rate_and_outage_problems() -> None:
    doc = _document()
    authed = [(p, m, op) for p, m, op in _operations(doc) if "401" in op["responses"]]
    assert len(authed) >= 20  # every /api/v7 route behind a token, and the legacy ones
    for path, method, op in authed:
        for status in ("403", "429", "503"):
            answer = op["responses"].get(status)
            assert answer is not None, f"{method} {path} omits {status}"
            assert answer["content"][PROBLEM_JSON]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
        assert "Retry-After" in op["responses"]["429"]["headers"]
        assert "Retry-After" in op["responses"]["503"]["headers"]
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]


def test_every_validation_error_is_a_problem_not_fastapis_default() -> None:
    doc = _document()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, method, op in _operations(doc):
        if "422" in op["responses"]:
            assert PROBLEM_JSON in op["responses"]["422"]["content"], f"{method} {path}"
            assert "application/json" not in op["responses"]["422"]["content"]


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/api/v7/run/python", {"413", "422", "429", "503"}),
        ("put", "/api/v7/files/{path}", {"404", "413", "422", "429", "503"}),
        ("get", "/api/v7/files", {"404", "422"}),
        ("patch", "/api/v7/admin/users/{user_id}", {"403", "404", "409"}),
        ("post", "/run_sh", {"400", "413"}),
        ("get", "/readyz", {"503"}),
    ],
)
def test_route_families_declare_their_own_errors(
    method: str, path: str, statuses: set[str]
) -> None:
    responses = _document()["paths"][path][method]["responses"]
    assert statuses <= set(responses), statuses - set(responses)


def test_problem_schema_names_every_type_uri_nox_uses() -> None:
    problem = _document()["components"]["schemas"]["Problem"]
    assert set(problem["properties"]["type"]["enum"]) == set(PROBLEM_TYPES)
    assert {QUOTA_TYPE, UNAVAILABLE_TYPE, BUSY_TYPE, CROSS_SITE_TYPE, "about:blank"} <= set(
        PROBLEM_TYPES
    )


async def test_405_allow_lists_every_documented_method(sqlite_settings: Settings) -> None:
    doc = _document()
    async with app_client(sqlite_settings) as client:
        for url, template in (
            ("/api/v7/files/a.txt", "/api/v7/files/{path}"),
            ("/api/v7/run/python", "/api/v7/run/python"),
            ("/api/v7/auth/tokens", "/api/v7/auth/tokens"),
        ):
            response = await client.request("OPTIONS", url)
            assert response.status_code == 405
            assert response.headers["content-type"] == PROBLEM_JSON
            allowed = {m.strip().lower() for m in response.headers["allow"].split(",")}
            assert allowed == set(doc["paths"][template]), url


async def test_audit_dates_must_be_date_times_not_unix_numbers(sqlite_settings: Settings) -> None:
    from tests.conftest import make_token

    async with app_client(sqlite_settings) as client:
        token = await make_token(client, sqlite_settings, "admin@x.io", admin=True)
        auth = {"Authorization": f"Bearer {token}"}
        number = await client.get("/api/v7/admin/audit", params={"until": "0.5"}, headers=auth)
        assert number.status_code == 422 and number.headers["content-type"] == PROBLEM_JSON
        date = await client.get(
            "/api/v7/admin/audit", params={"until": "2000-01-01T00:00:00Z"}, headers=auth
        )
        assert date.status_code == 200 and date.json()["items"] == []
