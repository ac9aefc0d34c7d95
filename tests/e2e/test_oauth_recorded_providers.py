"""Google, Microsoft and GitHub at the HTTP level, with RECORDED provider responses.

Their servers cannot be reached here, so Nox's outgoing calls go to an httpx.MockTransport
that replays tests/fixtures/providers/ and checks what Nox sends (PKCE verifier, client
authentication, redirect URI). Nox itself runs for real, with real Redis; the browser side
(authorize redirect, callback) goes through Nox's HTTP routes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.auth.oauth.runtime import OAuthRuntime
from app.settings import SandboxBackend, Settings
from tests.e2e.oauth_fixtures import browser, running_nox

pytestmark = pytest.mark.e2e

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
PUBLIC_URL = "http://127.0.0.1:18299"
CODE = "4/0AeaYSHrecorded-authorization-code"
GOOGLE_CLIENT = "1234567890-recorded.apps.googleusercontent.com"
MICROSOFT_CLIENT = "6cb04018-a3f5-46a7-b995-940c78f5aef3"
KEY = RSAKey.generate_key(2048, parameters={"kid": "recorded-test-key", "alg": "RS256"})


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class RecordedProvider:
    """Replays one provider's recorded responses and keeps what Nox asked for."""

    routes: dict[str, Any]  # "host/path" -> JSON body, or a callable building it
    client_id: str
    client_secret: str
    authorize: dict[str, str] = field(default_factory=dict)  # query Nox sent the browser to
    seen: list[httpx.Request] = field(default_factory=list)

    def token_response(self, request: httpx.Request, body: Any) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        checks = {
            "client authentication": request.headers.get("authorization")
            == _basic(self.client_id, self.client_secret),
            "grant_type": form.get("grant_type") == "authorization_code",
            "code": form.get("code") == CODE,
            "redirect_uri": form.get("redirect_uri") == self.authorize.get("redirect_uri"),
            "PKCE S256 verifier": challenge.rstrip(b"=").decode()
            == self.authorize.get("code_challenge"),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": failed})
        return httpx.Response(200, json=body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        route = f"{request.url.host}{request.url.path}"
        if route not in self.routes:
            return httpx.Response(404, json={"error": f"not recorded: {route}"})
        body = self.routes[route]
        body = body() if callable(body) else body
        if request.method == "POST":
            return self.token_response(request, body)
        return httpx.Response(200, json=body)

    def id_token(self, claims_file: str, **changes: Any) -> str:
        now = int(time.time())
        claims = {**recorded(claims_file), "iat": now, "exp": now + 3600, **changes}
        claims["nonce"] = self.authorize["nonce"]
        return jwt.encode({"alg": "RS256", "kid": KEY.kid, "typ": "JWT"}, claims, KEY)


def settings_for(tmp_path: Path, redis_url: str, **overrides: Any) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        sandbox_backend=SandboxBackend.fallback,
        public_url=PUBLIC_URL,
        redis_url=redis_url,
        **overrides,
    )


@pytest.fixture
async def nox_with(tmp_path: Path, redis_url: str) -> AsyncIterator[Any]:
    """Start Nox with ``overrides`` and the provider's calls going to ``provider``."""
    started: list[Any] = []

    async def start(provider: RecordedProvider, **overrides: Any) -> FastAPI:
        context = running_nox(settings_for(tmp_path, redis_url, **overrides))
        app = await context.__aenter__()
        started.append(context)
        app.state.oauth = OAuthRuntime(
            app.state.nox.settings, transport=httpx.MockTransport(provider.handler)
        )
        return app

    yield start
    for context in started:
        await context.__aexit__(None, None, None)


async def login(
    app: FastAPI, provider: RecordedProvider, name: str, authorize_prefix: str
) -> tuple[httpx.AsyncClient, httpx.Response]:
    """Start a login at Nox, play the provider's redirect back, return the callback answer."""
    user_agent = browser(app, PUBLIC_URL)
    started = await user_agent.get(f"{PUBLIC_URL}/api/v7/auth/login/{name}")
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    assert location.startswith(authorize_prefix + "?"), location
    provider.authorize = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    query = urlencode({"code": CODE, "state": provider.authorize["state"]})
    return user_agent, await user_agent.get(f"{PUBLIC_URL}/api/v7/auth/callback/{name}?{query}")


async def test_recorded_google_login_sends_pkce_and_nonce_and_trusts_the_verified_email(
    nox_with: Any,
) -> None:
    google = RecordedProvider({}, GOOGLE_CLIENT, "GOCSPX-recorded")
    google.routes = {
        "accounts.google.com/.well-known/openid-configuration": recorded(
            "google/openid-configuration.json"
        ),
        "www.googleapis.com/oauth2/v3/certs": {"keys": [KEY.as_dict(private=False)]},
        "oauth2.googleapis.com/token": lambda: {
            **recorded("google/token.json"),
            "id_token": google.id_token("google/id_token_claims.json"),
        },
    }
    app = await nox_with(
        google,
        google_client_id=GOOGLE_CLIENT,
        google_client_secret="GOCSPX-recorded",
        admin_emails="grace.hopper@gmail.test",
    )
    user_agent, landed = await login(
        app, google, "google", "https://accounts.google.com/o/oauth2/v2/auth"
    )
    assert landed.status_code == 302, landed.text
    sent = google.authorize
    assert sent["code_challenge_method"] == "S256" and len(sent["nonce"]) >= 32
    assert sent["scope"] == "openid email profile"
    assert sent["redirect_uri"] == f"{PUBLIC_URL}/api/v7/auth/callback/google"
    me = (await user_agent.get(f"{PUBLIC_URL}/api/v7/auth/me")).json()
    assert (me["email"], me["role"], me["providers"]) == (
        "grace.hopper@gmail.test",
        "admin",
        ["google"],
    )
    # the ID token carried the email: userinfo was not needed
    assert [r.url.host for r in google.seen if "userinfo" in r.url.path] == []
    await user_agent.aclose()


async def test_recorded_google_id_token_for_another_client_is_refused(nox_with: Any) -> None:
    google = RecordedProvider({}, GOOGLE_CLIENT, "GOCSPX-recorded")
    google.routes = {
        "accounts.google.com/.well-known/openid-configuration": recorded(
            "google/openid-configuration.json"
        ),
        "www.googleapis.com/oauth2/v3/certs": {"keys": [KEY.as_dict(private=False)]},
        "oauth2.googleapis.com/token": lambda: {
            **recorded("google/token.json"),
            "id_token": google.id_token("google/id_token_claims.json", aud="someone-else"),
        },
    }
    app = await nox_with(
        google, google_client_id=GOOGLE_CLIENT, google_client_secret="GOCSPX-recorded"
    )
    user_agent, refused = await login(
        app, google, "google", "https://accounts.google.com/o/oauth2/v2/auth"
    )
    assert refused.status_code == 401
    assert refused.json()["type"] == "urn:nox:login:invalid_id_token"
    await user_agent.aclose()


def microsoft(claims_changes: dict[str, Any]) -> RecordedProvider:
    provider = RecordedProvider({}, MICROSOFT_CLIENT, "recorded~secret")
    provider.routes = {
        "login.microsoftonline.com/common/v2.0/.well-known/openid-configuration": recorded(
            "microsoft/openid-configuration-common.json"
        ),
        "login.microsoftonline.com/common/discovery/v2.0/keys": {
            "keys": [KEY.as_dict(private=False)]
        },
        "login.microsoftonline.com/common/oauth2/v2.0/token": lambda: {
            **recorded("microsoft/token.json"),
            "id_token": provider.id_token("microsoft/id_token_claims.json", **claims_changes),
        },
    }
    return provider


@pytest.mark.parametrize(
    ("changes", "email"),
    [({}, None), ({"xms_edov": True}, "alan.turing@contoso.test")],
    ids=["email-unverified", "domain-owner-verified"],
)
async def test_recorded_microsoft_common_tenant_checks_the_tid_issuer_and_email_proof(
    nox_with: Any, changes: dict[str, Any], email: str | None
) -> None:
    provider = microsoft(changes)
    app = await nox_with(
        provider,
        microsoft_client_id=MICROSOFT_CLIENT,
        microsoft_client_secret="recorded~secret",
        microsoft_tenant="common",
    )
    user_agent, landed = await login(
        app,
        provider,
        "microsoft",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    )
    assert landed.status_code == 302, landed.text
    me = (await user_agent.get(f"{PUBLIC_URL}/api/v7/auth/me")).json()
    assert (me["email"], me["providers"]) == (email, ["microsoft"])
    await user_agent.aclose()


async def test_recorded_microsoft_token_from_another_tenant_issuer_is_refused(
    nox_with: Any,
) -> None:
    provider = microsoft({"iss": "https://login.microsoftonline.com/another-tenant/v2.0"})
    app = await nox_with(
        provider, microsoft_client_id=MICROSOFT_CLIENT, microsoft_client_secret="recorded~secret"
    )
    user_agent, refused = await login(
        app,
        provider,
        "microsoft",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    )
    assert refused.status_code == 401
    assert "'iss'" in refused.json()["detail"]
    await user_agent.aclose()


def github(emails: Any, reply_file: str = "github/access_token.json") -> RecordedProvider:
    return RecordedProvider(
        {
            "github.com/login/oauth/access_token": recorded(reply_file),
            "api.github.com/user": recorded("github/user.json"),
            "api.github.com/user/emails": emails,
        },
        "Iv1.recorded0000",
        "recorded-github-secret",
    )


@pytest.mark.parametrize(
    ("primary_verified", "email"),
    [(True, "octocat@example.test"), (False, None)],
    ids=["primary-verified", "primary-unverified"],
)
async def test_recorded_github_login_takes_only_a_verified_primary_email(
    nox_with: Any, primary_verified: bool, email: str | None
) -> None:
    emails = recorded("github/emails.json")
    emails[1]["verified"] = primary_verified
    provider = github(emails)
    app = await nox_with(
        provider, github_client_id="Iv1.recorded0000", github_client_secret="recorded-github-secret"
    )
    user_agent, landed = await login(
        app, provider, "github", "https://github.com/login/oauth/authorize"
    )
    assert landed.status_code == 302, landed.text
    me = (await user_agent.get(f"{PUBLIC_URL}/api/v7/auth/me")).json()
    assert (me["email"], me["name"], me["providers"]) == (email, "The Octocat", ["github"])
    assert provider.authorize["code_challenge_method"] == "S256"
    assert "nonce" not in provider.authorize  # plain OAuth2: no ID token to bind it to
    api_calls = [r for r in provider.seen if r.url.host == "api.github.com"]
    assert {r.headers["authorization"] for r in api_calls} == {
        "Bearer gho_RecordedNotRealAccessToken0000000000"
    }
    await user_agent.aclose()


async def test_recorded_github_bad_verification_code_is_refused(nox_with: Any) -> None:
    provider = github([], reply_file="github/access_token_error.json")
    app = await nox_with(
        provider, github_client_id="Iv1.recorded0000", github_client_secret="recorded-github-secret"
    )
    user_agent, refused = await login(
        app, provider, "github", "https://github.com/login/oauth/authorize"
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:nox:login:code_rejected"
    assert "bad_verification_code" in refused.json()["detail"]
    await user_agent.aclose()
