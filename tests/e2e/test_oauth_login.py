"""Logging in through a real OpenID Connect provider (npm oidc-provider on loopback), with
Nox on real PostgreSQL and Redis: the happy path and the session it produces."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from tests.conftest import make_token
from tests.e2e.oauth_fixtures import (
    ADMIN_EMAIL,
    PROVIDER,
    OidcPeer,
    browser,
    login_callback_url,
    oauth_settings,
    oidc_peer_fixture,  # noqa: F401 - provides the oidc_peer fixture
    running_nox,
)

pytestmark = pytest.mark.e2e


async def test_login_then_me_then_token_then_logout_then_the_old_cookie_is_refused(
    oidc_peer: OidcPeer, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = oauth_settings(oidc_peer, tmp_path, database_url=postgres_url, redis_url=redis_url)
    nox = oidc_peer.public_url
    async with running_nox(settings) as app, browser(app, nox) as user_agent:
        callback = await login_callback_url(user_agent, oidc_peer, login="alice", next_path="/runs")
        landed = await user_agent.get(callback)
        assert landed.status_code == 302, landed.text
        assert landed.headers["location"] == "/runs"
        set_cookie = landed.headers["set-cookie"].lower()
        assert "nox_session=" in set_cookie and "httponly" in set_cookie
        assert "samesite=lax" in set_cookie
        first_session = user_agent.cookies["nox_session"]

        me = (await user_agent.get(f"{nox}/api/v7/auth/me")).json()
        assert me["email"] == "alice@example.test"
        assert me["role"] == "user"
        assert me["providers"] == [PROVIDER]

        minted = await user_agent.post(f"{nox}/api/v7/auth/tokens", json={"name": "laptop"})
        assert minted.status_code == 201, minted.text
        bearer = {"Authorization": f"Bearer {minted.json()['token']}"}
        async with browser(app, nox) as program:  # no cookies: the token alone
            by_token = await program.get(f"{nox}/api/v7/auth/me", headers=bearer)
            assert by_token.status_code == 200
            assert by_token.json()["id"] == me["id"]

            assert (await user_agent.post(f"{nox}/api/v7/auth/logout")).status_code == 204
            replayed = await program.get(
                f"{nox}/api/v7/auth/me", headers={"Cookie": f"nox_session={first_session}"}
            )
            assert replayed.status_code == 401
            assert replayed.headers["content-type"] == "application/problem+json"

        async with app.state.nox.sessionmaker() as session:
            events = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
            logged = [(e.action, e.outcome, e.actor_id) for e in events]
        assert ("auth.login", "success", me["id"]) in logged
        assert logged[-1] == ("auth.logout", "success", me["id"])

        again = await login_callback_url(user_agent, oidc_peer, login="alice")
        assert (await user_agent.get(again)).status_code == 302
        second_session = user_agent.cookies["nox_session"]
        assert second_session != first_session
        assert (await user_agent.get(f"{nox}/api/v7/auth/me")).json()["id"] == me["id"]


async def test_a_session_id_planted_before_login_is_replaced_and_revoked(
    oidc_peer: OidcPeer, redis_url: str, tmp_path: Path
) -> None:
    settings = oauth_settings(oidc_peer, tmp_path, redis_url=redis_url)
    nox = oidc_peer.public_url
    async with running_nox(settings) as app, browser(app, nox) as user_agent:
        first = await login_callback_url(user_agent, oidc_peer, login="carol")
        await user_agent.get(first)
        earlier = user_agent.cookies["nox_session"]
        second = await login_callback_url(user_agent, oidc_peer, login="carol")
        await user_agent.get(second)
        assert user_agent.cookies["nox_session"] != earlier
        async with browser(app, nox) as other:
            stale = await other.get(
                f"{nox}/api/v7/auth/me", headers={"Cookie": f"nox_session={earlier}"}
            )
            assert stale.status_code == 401


async def test_providers_lists_what_settings_enable(oidc_peer: OidcPeer, tmp_path: Path) -> None:
    settings = oauth_settings(oidc_peer, tmp_path, github_client_id="gh-client")
    async with running_nox(settings) as app, browser(app, oidc_peer.public_url) as client:
        listed = (await client.get(f"{oidc_peer.public_url}/api/v7/auth/providers")).json()
    names = [p["name"] for p in listed["providers"]]
    assert names == ["github", "e2e", "e2e-other"]
    assert listed["providers"][0]["login_url"] == "/api/v7/auth/login/github"


async def test_a_verified_admin_email_promotes_the_existing_account_at_once(
    oidc_peer: OidcPeer, redis_url: str, tmp_path: Path
) -> None:
    settings = oauth_settings(oidc_peer, tmp_path, redis_url=redis_url)
    nox = oidc_peer.public_url
    async with running_nox(settings) as app, browser(app, nox) as user_agent:
        token = await make_token(user_agent, settings, ADMIN_EMAIL)
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await user_agent.get(f"{nox}/api/v7/auth/me", headers=bearer)).json()[
            "role"
        ] == "user"  # now cached by this process
        callback = await login_callback_url(user_agent, oidc_peer, login=ADMIN_EMAIL)
        await user_agent.get(callback)
        me = (await user_agent.get(f"{nox}/api/v7/auth/me")).json()
        by_token = (await user_agent.get(f"{nox}/api/v7/auth/me", headers=bearer)).json()
    assert (me["email"], me["role"], me["providers"]) == (ADMIN_EMAIL, "admin", [PROVIDER])
    assert (by_token["id"], by_token["role"]) == (me["id"], "admin")
