"""The earlier Nox's answers that its clients depend on: /list of a missing path is a 404
"Path not found", /cat of a missing file a 404 naming "File not found", /list of a file
describes the file, and /put also takes the multipart field `file` with `path` as a form field."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration


async def test_legacy_routes_answer_as_the_earlier_nox(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        auth = {
            "Authorization": f"Bearer {await make_token(client, backend_settings, 'old@x.test')}"
        }
        missing = await client.get("/list?path=nowhere", headers=auth)
        assert missing.status_code == 404 and missing.json()["detail"] == "Path not found"
        absent = await client.get("/cat?path=nothing.txt", headers=auth)
        assert absent.status_code == 404 and "File not found" in absent.json()["detail"]
        shaped = await client.post(
            "/put", files={"file": ("x.txt", b"old shape")}, data={"path": "docs/x.txt"},
            headers=auth,
        )  # fmt: skip
        assert shaped.status_code == 200, shaped.text
        assert shaped.json()["message"] == "Uploaded 9 bytes to docs/x.txt"
        classic = await client.post("/put?path=y.txt", files={"f": ("y", b"f")}, headers=auth)
        assert classic.status_code == 200
        listing = await client.get("/list?path=docs", headers=auth)
        assert listing.json()["type"] == "directory"
        assert [f["name"] for f in listing.json()["files"]] == ["x.txt"]
        one = (await client.get("/list?path=docs/x.txt", headers=auth)).json()
        assert (one["type"], one["name"], one["size"]) == ("file", "docs/x.txt", 9)
        root = (await client.get("/list", headers=auth)).json()
        assert {f["name"] for f in root["files"]} == {"docs/x.txt", "y.txt"}
        assert (await client.get("/cat?path=docs/x.txt", headers=auth)).json() == {
            "content": "old shape"
        }
