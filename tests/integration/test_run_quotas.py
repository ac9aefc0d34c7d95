"""Files a run writes count against the workspace quota: an over-quota workspace takes no runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import QuotaLimits
from tests.conftest import app_client, make_settings, make_token

pytestmark = pytest.mark.integration


async def test_a_workspace_filled_by_a_run_refuses_the_next_run_until_cleaned(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, quotas=QuotaLimits(workspace_bytes=1000))
    async with app_client(settings) as client:
        token = await make_token(client, settings, "filler@example.test")
        auth = {"Authorization": f"Bearer {token}"}
        fill = "open('big.bin', 'wb').write(b'x' * 5000)"
        first = await client.post("/api/v7/run/python", json={"code": fill}, headers=auth)
        assert first.status_code == 200
        # Stopped by the watch when it saw the write in time; a run this short may end first.
        assert first.json()["status"] in ("disk_limit", "ok"), first.json()
        refused = await client.post("/api/v7/run/python", json={"code": "print(1)"}, headers=auth)
        assert refused.status_code == 429
        assert refused.json()["limit"] == "workspace_bytes"
        assert "holds 5000" in refused.json()["detail"]
        assert (await client.delete("/api/v7/files/big.bin", headers=auth)).status_code == 204
        again = await client.post("/api/v7/run/python", json={"code": "print(1)"}, headers=auth)
        assert again.status_code == 200
        assert again.json()["stdout"] == "1\n"
