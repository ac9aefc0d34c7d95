"""JSON logs carry the request id; unexpected errors become a 500 problem without internals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi import APIRouter

from app.observability.context import request_id_var
from app.observability.logging import JsonFormatter
from tests.conftest import app_client, make_settings


def test_json_log_lines_carry_the_request_id_and_extras() -> None:
    record = logging.LogRecord("nox", logging.INFO, __file__, 1, "ran %s", ("x",), None)
    record.duration_ms = 1.5
    token = request_id_var.set("abc-123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "ran x"
    assert line["request_id"] == "abc-123"
    assert line["duration_ms"] == 1.5
    assert line["level"] == "info"


async def test_an_unexpected_error_is_a_generic_500_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boom = APIRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("secret internal detail: password=hunter2")

    from app import routers

    monkeypatch.setattr(routers, "ROUTERS", [*routers.ROUTERS, boom])
    monkeypatch.setattr("app.main.ROUTERS", routers.ROUTERS)
    async with app_client(make_settings(tmp_path)) as client:
        client._transport.raise_app_exceptions = False  # type: ignore[attr-defined]
        answer = await client.get("/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in answer.text
    assert "RuntimeError" not in answer.text
    assert answer.json()["detail"] == "an internal error occurred; it has been logged"


async def test_development_login_sets_a_session_and_is_off_when_disabled(tmp_path: Path) -> None:
    async with app_client(make_settings(tmp_path)) as client:
        login = await client.post("/api/v7/auth/dev-login", json={"email": "dev@example.test"})
        assert login.status_code == 200
        assert "httponly" in login.headers["set-cookie"].lower()
        assert (await client.get("/api/v7/auth/me")).json()["email"] == "dev@example.test"
    async with app_client(make_settings(tmp_path / "off", dev_login=False)) as client:
        refused = await client.post("/api/v7/auth/dev-login", json={"email": "dev@example.test"})
        assert refused.status_code == 404
        bad = await client.post("/api/v7/auth/dev-login", json={"email": "not-an-email"})
        assert bad.status_code == 422
