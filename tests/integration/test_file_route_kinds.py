"""A directory where a file is expected, or a file where a directory is expected, is a clear
409 on every file route, v7 and legacy: never a 500 (a directory read used to raise
IsADirectoryError all the way up)."""

from __future__ import annotations

import httpx
import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def calls(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    v7 = "/api/v7/files"
    return {
        "v7 GET a directory": client.get(f"{v7}/d", headers=auth),
        "v7 PUT onto a directory": client.put(f"{v7}/d", content=b"x", headers=auth),
        "v7 DELETE a directory": client.delete(f"{v7}/d", headers=auth),
        "v7 GET below a file": client.get(f"{v7}/f.txt/x", headers=auth),
        "v7 PUT below a file": client.put(f"{v7}/f.txt/x", content=b"x", headers=auth),
        "v7 DELETE below a file": client.delete(f"{v7}/f.txt/x", headers=auth),
        "legacy /cat a directory": client.get("/cat?path=d", headers=auth),
        "legacy /delete a directory": client.delete("/delete?path=d", headers=auth),
        "legacy /put onto a directory": client.post(
            "/put?path=d", files={"f": ("d", b"x")}, headers=auth
        ),
        "legacy /cat below a file": client.get("/cat?path=f.txt/x", headers=auth),
    }


async def test_every_file_route_answers_409_for_a_kind_mismatch(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        auth = {"Authorization": f"Bearer {await make_token(client, backend_settings, 'k@x.test')}"}
        for path in ("d/inner.txt", "f.txt"):
            assert (
                await client.put(f"/api/v7/files/{path}", content=b"1", headers=auth)
            ).status_code == 201
        for what, call in calls(client, auth).items():
            response = await call  # type: ignore[misc]
            assert response.status_code == 409, (what, response.status_code, response.text)
            assert response.headers["content-type"] == PROBLEM, what
            detail = response.json()["detail"]
            assert "is a directory, not a file" in detail or "is a file, not a directory" in detail
