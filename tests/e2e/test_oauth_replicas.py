"""A login may start on one api process and finish on another: two real ``nox serve``
processes share one PostgreSQL and one Redis, behind one public URL as replicas would be."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.migrate import migrate
from tests.e2e.oauth_fixtures import (
    OidcPeer,
    env_for,
    oauth_settings,
    oidc_peer_fixture,  # noqa: F401 - provides the oidc_peer fixture
    start_login,
    through_provider,
)
from tests.support.nox_process import nox_serve

pytestmark = pytest.mark.e2e


async def test_a_login_started_on_one_process_completes_on_another(
    oidc_peer: OidcPeer, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = oauth_settings(oidc_peer, tmp_path, database_url=postgres_url, redis_url=redis_url)
    await migrate(settings)
    env = env_for(settings)
    with nox_serve(env, tmp_path) as first, nox_serve(env, tmp_path) as second:
        async with httpx.AsyncClient(follow_redirects=False, timeout=10) as user_agent:
            authorize = await start_login(user_agent, first.url, next_path="/files")
            callback = await through_provider(
                user_agent, authorize, login="olga", stop_at=oidc_peer.callback_prefix()
            )
            # the load balancer sends the provider's redirect to the other replica
            landed = await user_agent.get(callback.replace(oidc_peer.public_url, second.url))
            assert landed.status_code == 302, f"{landed.text}\n{second.log()}"
            assert landed.headers["location"] == "/files"

            me = await user_agent.get(f"{first.url}/api/v7/auth/me")
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "olga@example.test"

            replay = await user_agent.get(callback.replace(oidc_peer.public_url, first.url))
            assert replay.status_code == 400
            assert replay.json()["type"] == "urn:nox:login:unknown_state"
