"""Every login that must fail, against the real oidc-provider and real Redis: each is refused
with a problem document naming the reason, and leaves no user, identity or session behind."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import RSAKey
from redis.asyncio import Redis
from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.oauth.runtime import OAuthRuntime
from app.observability.metrics import REGISTRY
from app.users.models import Identity, User
from app.users.service import get_or_create_by_email
from tests.e2e.oauth_fixtures import (
    ADMIN_EMAIL,
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_PROVIDER,
    PROVIDER,
    OidcPeer,
    browser,
    login_callback_url,
    oauth_settings,
    oidc_peer_fixture,  # noqa: F401 - provides the oidc_peer fixture
    running_nox,
    start_login,
)
from tests.e2e.oauth_tamper import Forgery, TamperingTransport, edit_keeping_signature, resign

pytestmark = pytest.mark.e2e


@dataclass
class Rig:
    peer: OidcPeer
    app: FastAPI
    redis: Redis
    url: str

    async def audited(self) -> list[tuple[str, str, str]]:
        """(action, outcome, reason) of every audit event, oldest first."""
        async with self.app.state.nox.sessionmaker() as session:
            events = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
            return [(e.action, e.outcome, (e.detail or {}).get("reason", "")) for e in events]

    async def counts(self) -> dict[str, int]:
        """Users, identities and live sessions: what a refused login must not create."""
        async with self.app.state.nox.sessionmaker() as session:
            users = await session.scalar(select(func.count()).select_from(User))
            identities = await session.scalar(select(func.count()).select_from(Identity))
        sessions = len([k async for k in self.redis.scan_iter("sess:*")])
        return {"users": users or 0, "identities": identities or 0, "sessions": sessions}


@pytest.fixture
async def rig(oidc_peer: OidcPeer, redis_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    redis = Redis.from_url(redis_url)
    settings = oauth_settings(oidc_peer, tmp_path, redis_url=redis_url)
    async with running_nox(settings) as app:
        yield Rig(oidc_peer, app, redis, oidc_peer.public_url)
    await redis.aclose()


def assert_refused(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "nox_session" not in response.headers.get("set-cookie", "")
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:nox:login:{reason}", problem
    assert problem["detail"]
    return problem


def logins(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "nox_logins_total", {"provider": PROVIDER, "outcome": outcome}
    )
    return value or 0.0


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        query.pop(key, None)
    return parts._replace(query=urlencode(query)).geturl()


async def test_a_started_login_lives_in_redis_for_the_state_ttl_only(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        authorize = await start_login(user_agent, rig.url)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    keys = [k async for k in rig.redis.scan_iter("oauth:state:*")]
    assert keys == [b"oauth:state:" + hashlib.sha256(state.encode()).hexdigest().encode()]
    ttl = rig.app.state.nox.settings.oauth_state_ttl_s
    assert ttl - 5 <= await rig.redis.ttl(keys[0]) <= ttl


async def test_an_unknown_provider_is_a_404_problem(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        for path in ("login/nope", "callback/nope?code=x&state=y"):
            assert_refused(
                await user_agent.get(f"{rig.url}/api/v7/auth/{path}"), 404, "unknown_provider"
            )


async def test_a_callback_without_state_is_refused(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="dave")
        refused = await user_agent.get(with_query(callback, state=None))
    assert_refused(refused, 400, "missing_state")
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}
    assert await rig.audited() == []  # made-up callbacks are counted, not audited


async def test_a_callback_with_a_state_nox_never_issued_is_refused(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="dave")
        refused = await user_agent.get(with_query(callback, state=secrets.token_urlsafe(32)))
    assert_refused(refused, 400, "unknown_state")
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}


async def test_a_state_is_good_for_one_callback_only(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="erin")
        assert (await user_agent.get(callback)).status_code == 302
        before = await rig.counts()
        again = await user_agent.get(callback)
    assert_refused(again, 400, "unknown_state")
    assert await rig.counts() == before == {"users": 1, "identities": 1, "sessions": 1}


async def test_a_callback_delivered_to_another_browser_is_refused_and_burnt(rig: Rig) -> None:
    async with (
        browser(rig.app, rig.url) as victim,
        browser(rig.app, rig.url) as attacker,
    ):
        callback = await login_callback_url(victim, rig.peer, login="frank")
        assert_refused(await attacker.get(callback), 400, "other_browser")
        # an attacker who started a login of their own holds a binding cookie: still not theirs
        second = await login_callback_url(victim, rig.peer, login="frank")
        await start_login(attacker, rig.url)
        assert_refused(await attacker.get(second), 400, "other_browser")
        # the state was spent by the refused attempt: the victim must start again
        assert_refused(await victim.get(second), 400, "unknown_state")
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}


async def test_a_callback_sent_to_another_provider_is_refused(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="gina")
        other = callback.replace(f"/callback/{PROVIDER}?", f"/callback/{OTHER_PROVIDER}?")
        refused = await user_agent.get(other)
    assert_refused(refused, 400, "wrong_provider")
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}


async def test_a_callback_naming_another_issuer_is_refused(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="gina")
        assert parse_qs(urlsplit(callback).query)["iss"] == [rig.peer.issuer]
        refused = await user_agent.get(with_query(callback, iss="https://evil.test"))
    assert_refused(refused, 400, "issuer_mismatch")
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}


async def test_a_code_already_redeemed_by_someone_else_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = logins("code_rejected")
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="hank")
        query = parse_qs(urlsplit(callback).query)
        # The interceptor knows the verifier too (read from the store here): only the
        # single-use code stands between them and the account.
        key = "oauth:state:" + hashlib.sha256(query["state"][0].encode()).hexdigest()
        pending = json.loads(await rig.redis.get(key) or b"{}")
        stolen = httpx.post(
            f"{rig.peer.issuer}/token",
            auth=(CLIENT_ID, CLIENT_SECRET),
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "code_verifier": pending["code_verifier"],
                "redirect_uri": rig.peer.callback_prefix(),
            },
        )
        assert stolen.status_code == 200, stolen.text
        refused = await user_agent.get(callback)
    problem = assert_refused(refused, 400, "code_rejected")
    assert "invalid_grant" in problem["detail"]
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}
    # counted and logged with its reason; the code, state, verifier and secret stay out of
    # Nox's logs (the test's own browser logs URLs, so only Nox's loggers are read)
    assert logins("code_rejected") == before + 1
    nox_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app."))
    assert "code_rejected" in nox_log and "invalid_grant" in nox_log
    for secret in (query["code"][0], query["state"][0], pending["code_verifier"], CLIENT_SECRET):
        assert secret not in nox_log


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.test/",
        "//evil.test/",
        "/\\evil.test/",
        "/%2F%2Fevil.test/",
        "%2F%2Fevil.test/",
        "/%5Cevil.test/",
        "/%252F%252Fevil.test/",
    ],
)
async def test_next_pointing_off_site_is_refused_before_anything_is_stored(
    rig: Rig, next_path: str
) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        refused = await user_agent.get(
            f"{rig.url}/api/v7/auth/login/{PROVIDER}", params={"next": next_path}
        )
    assert_refused(refused, 400, "unsafe_next")
    assert "location" not in refused.headers
    assert [k async for k in rig.redis.scan_iter("oauth:state:*")] == []


def _foreign_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "e2e-1"})  # same kid as the provider's


TAMPERING: dict[str, tuple[Any, str]] = {
    "signature by another key": (lambda key: resign(_foreign_key()), "signature"),
    "payload edited, signature kept": (
        lambda key: edit_keeping_signature(sub=ADMIN_EMAIL),
        "signature",
    ),
    "issuer": (lambda key: resign(key, iss="https://evil.test"), "'iss'"),
    "audience": (lambda key: resign(key, aud="another-client"), "'aud'"),
    "nonce": (lambda key: resign(key, nonce="replayed-nonce"), "'nonce'"),
    "expired": (
        lambda key: resign(key, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "expired",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_a_tampered_id_token_is_refused(rig: Rig, case: str) -> None:
    make_forgery, check = TAMPERING[case]
    forgery: Forgery = make_forgery(rig.peer.signing_key)
    transport = TamperingTransport(forgery)
    rig.app.state.oauth = OAuthRuntime(rig.app.state.nox.settings, transport=transport)
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="ivy")
        refused = await user_agent.get(callback)
    await transport.aclose()
    assert transport.forged == 1
    problem = assert_refused(refused, 401, "invalid_id_token")
    assert check in problem["detail"]
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}


async def test_access_denied_at_the_provider_is_reported(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="jo", cancel=True)
        assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
        refused = await user_agent.get(callback)
    problem = assert_refused(refused, 403, "provider_error")
    assert "access_denied" in problem["detail"]
    assert await rig.counts() == {"users": 0, "identities": 0, "sessions": 0}
    assert await rig.audited() == [("auth.login", "failure", "provider_error")]


@pytest.mark.parametrize("claimed", [ADMIN_EMAIL, "kim@example.test"])
async def test_an_unverified_email_cannot_claim_an_admin_or_existing_account(
    rig: Rig, claimed: str
) -> None:
    async with rig.app.state.nox.sessionmaker() as session:
        await get_or_create_by_email(session=session, email="kim@example.test")
        await session.commit()
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login=f"unverified-{claimed}")
        refused = await user_agent.get(callback)
    problem = assert_refused(refused, 403, "unverified_email")
    assert claimed in problem["detail"] and "not verified" in problem["detail"]
    assert await rig.counts() == {"users": 1, "identities": 0, "sessions": 0}


async def test_a_verified_email_links_to_the_existing_account(rig: Rig) -> None:
    async with rig.app.state.nox.sessionmaker() as session:
        existing = await get_or_create_by_email(session=session, email="lee@example.test")
        await session.commit()
    async with browser(rig.app, rig.url) as user_agent:
        await user_agent.get(await login_callback_url(user_agent, rig.peer, login="lee"))
        me = (await user_agent.get(f"{rig.url}/api/v7/auth/me")).json()
    assert (me["id"], me["role"], me["providers"]) == (existing.id, "user", [PROVIDER])


async def test_an_unverified_email_nobody_holds_logs_in_without_an_email(rig: Rig) -> None:
    async with browser(rig.app, rig.url) as user_agent:
        callback = await login_callback_url(user_agent, rig.peer, login="unverified-max")
        assert (await user_agent.get(callback)).status_code == 302
        me = (await user_agent.get(f"{rig.url}/api/v7/auth/me")).json()
    assert (me["email"], me["role"]) == (None, "user")


async def test_forged_and_expired_session_ids_are_refused(rig: Rig) -> None:
    me_url = f"{rig.url}/api/v7/auth/me"
    async with browser(rig.app, rig.url) as user_agent, browser(rig.app, rig.url) as other:
        forged = await other.get(
            me_url, headers={"Cookie": f"nox_session={secrets.token_urlsafe(32)}"}
        )
        assert forged.status_code == 401

        await user_agent.get(await login_callback_url(user_agent, rig.peer, login="ned"))
        session_id = user_agent.cookies["nox_session"]
        cookie = {"Cookie": f"nox_session={session_id}"}
        assert (await other.get(me_url, headers=cookie)).status_code == 200
        # past its absolute lifetime: the record says it was created long ago
        key = "sess:" + hashlib.sha256(session_id.encode()).hexdigest()
        record = json.loads(await rig.redis.get(key) or b"{}")
        record["created"] -= rig.app.state.nox.settings.session_absolute_s + 1
        await rig.redis.set(key, json.dumps(record), ex=60)
        assert (await other.get(me_url, headers=cookie)).status_code == 401
        assert await rig.redis.exists(key) == 0
