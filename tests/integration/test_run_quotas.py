"""Files a run writes count against the workspace quota: an over-quota workspace takes no runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import QuotaLimits
from tests.conftest import app_client, make_settings, make_token

pytestmark = pytest.mark.integration


async def test_a_run_filling_the_workspace_is_stopped_and_loses_what_it_made_past_the_quota(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, quotas=QuotaLimits(workspace_bytes=1000))
    async with app_client(settings) as client:
        token = await make_token(client, settings, "filler@example.test")
        auth = {"Authorization": f"Bearer {token}"}
        keep = "open('keep.bin', 'wb').write(b'k' * 600)"
        first = await client.post("/api/v7/run/python", json={"code": keep}, headers=auth)
        assert first.json()["status"] == "ok", first.json()
        fill = "open('big.bin', 'wb').write(b'x' * 5000)"
        over = await client.post("/api/v7/run/python", json={"code": fill}, headers=auth)
        assert over.status_code == 200
        # Stopped by the watch, or passed the quota in its last moment: disk_limit either way.
        assert over.json()["status"] == "disk_limit", over.json()
        listing = await client.get("/api/v7/files", headers=auth)
        assert [(f["path"], f["size"]) for f in listing.json()["files"]] == [("keep.bin", 600)]
        # Within its quota again: the next run goes, and an upload past it is refused.
        again = await client.post("/api/v7/run/python", json={"code": "print(1)"}, headers=auth)
        assert again.json()["stdout"] == "1\n"
        upload = await client.put("/api/v7/files/more.bin", content=b"m" * 500, headers=auth)
        assert upload.status_code == 429
        assert "holds 600" in upload.json()["detail"]
