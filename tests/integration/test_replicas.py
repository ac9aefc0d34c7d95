"""Two api processes sharing one Redis enforce one rate limit between them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.servers import nox_command, nox_serve

pytestmark = pytest.mark.integration


def test_two_api_processes_share_one_rate_limit(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "NOX_DATABASE_URL": postgres_url,
        "NOX_REDIS_URL": redis_url,
        "NOX_DATA_DIR": str(tmp_path / "data"),
        "NOX_SANDBOX_BACKEND": "fallback",
        "NOX_QUOTAS__REQUESTS_PER_MINUTE": "10",
        "NOX_ENV": "test",
    }
    nox_command("migrate", env=env)
    token = nox_command("token", "create", "--email", "shared@example.test", env=env)
    auth = {"Authorization": f"Bearer {token}"}
    with nox_serve(env, tmp_path) as one, nox_serve(env, tmp_path) as two:
        if time.time() % 60 > 50:  # keep the 14 requests inside one fixed window
            time.sleep(61 - time.time() % 60)
        window = int(time.time() // 60)
        codes = [
            httpx.get(f"{server.url}/api/v7/auth/me", headers=auth).status_code
            for server in [one, two] * 7
        ]
        assert int(time.time() // 60) == window, "the requests straddled a minute"
    assert codes == [200] * 10 + [429] * 4, codes
