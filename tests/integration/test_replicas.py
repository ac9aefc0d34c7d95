"""Two api processes sharing one Redis enforce one rate limit between them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.nox_process import nox_command, nox_serve

pytestmark = pytest.mark.integration


def replica_env(postgres_url: str, redis_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Settings for api processes that share one PostgreSQL and one Redis."""
    return {
        "NOX_DATABASE_URL": postgres_url,
        "NOX_REDIS_URL": redis_url,
        "NOX_DATA_DIR": str(tmp_path / "data"),
        "NOX_SANDBOX_BACKEND": "fallback",
        "NOX_ENV": "test",
        **extra,
    }


def test_two_api_processes_share_one_rate_limit(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(postgres_url, redis_url, tmp_path, NOX_QUOTAS__REQUESTS_PER_MINUTE="10")
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


def test_a_token_revoked_on_one_replica_is_refused_at_once_by_the_other(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(postgres_url, redis_url, tmp_path)
    nox_command("migrate", env=env)
    keeper = nox_command("token", "create", "--email", "rev@example.test", env=env)
    with nox_serve(env, tmp_path) as one, nox_serve(env, tmp_path) as two:
        keep = {"Authorization": f"Bearer {keeper}"}
        made = httpx.post(f"{one.url}/api/v7/auth/tokens", json={"name": "doomed"}, headers=keep)
        doomed = {"Authorization": f"Bearer {made.json()['token']}"}
        for server in (one, two):  # both replicas now hold the token in their cache
            assert httpx.get(f"{server.url}/api/v7/auth/me", headers=doomed).status_code == 200
        revoked = httpx.delete(f"{one.url}/api/v7/auth/tokens/{made.json()['id']}", headers=keep)
        assert revoked.status_code == 204
        assert httpx.get(f"{two.url}/api/v7/auth/me", headers=doomed).status_code == 401
        assert httpx.get(f"{one.url}/api/v7/auth/me", headers=doomed).status_code == 401
        assert httpx.get(f"{two.url}/api/v7/auth/me", headers=keep).status_code == 200
