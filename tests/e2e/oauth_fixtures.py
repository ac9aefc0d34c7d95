"""The e2e login rig: a real oidc-provider on loopback, Nox configured against it, and a
headless browser (httpx) that goes through the provider's real login and consent pages.

Test modules import ``oidc_peer_fixture`` (the fixture named ``oidc_peer``) from here.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from joserfc.jwk import RSAKey

from app.main import create_app
from app.migrate import migrate
from app.settings import OIDCProviderSettings, SandboxBackend, Settings
from tests.prereq import require, require_binary
from tests.support.deadline import wait_for
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = REPO / "tests" / "e2e" / "oidc" / "provider.mjs"
CLIENT_ID = "nox-e2e"
CLIENT_SECRET = "nox-e2e-secret"
# Two Nox provider entries point at the same issuer, so a callback can be sent to the wrong one.
PROVIDER = "e2e"
OTHER_PROVIDER = "e2e-other"
ADMIN_EMAIL = "boss@example.test"


@dataclass
class OidcPeer:
    issuer: str
    public_url: str  # where browsers reach Nox; the registered redirect URIs live under it
    signing_key: RSAKey  # the provider's own private key, for forging tokens in tests
    process: subprocess.Popen[bytes]

    def callback_prefix(self, provider: str = PROVIDER) -> str:
        return f"{self.public_url}/api/v7/auth/callback/{provider}"


@contextmanager
def start_oidc_peer(workdir: Path, public_url: str) -> Iterator[OidcPeer]:
    node = require_binary("node", "install Node.js 20+ (apt-get install nodejs npm)")
    require(
        (REPO / "node_modules" / "oidc-provider").is_dir(),
        "npm package oidc-provider missing: run `npm ci` at the repository root",
    )
    key = RSAKey.generate_key(2048, parameters={"kid": "e2e-1", "use": "sig", "alg": "RS256"})
    jwks_file = workdir / "provider-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    argv = [
        node,
        str(PROVIDER_SCRIPT),
        "--jwks-file",
        str(jwks_file),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
    ]
    for name in (PROVIDER, OTHER_PROVIDER):
        argv += ["--redirect-uri", f"{public_url}/api/v7/auth/callback/{name}"]
    with (workdir / "provider.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        line = process.stdout.readline() if ready else b""
        if not line:
            log_text = (workdir / "provider.log").read_text()
            raise RuntimeError(f"oidc-provider did not start: {log_text}")
        issuer = json.loads(line)["issuer"]
        _wait_for_discovery(issuer)
        yield OidcPeer(issuer, public_url, key, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def _wait_for_discovery(issuer: str, timeout_s: float = 15.0) -> None:
    def published() -> bool:
        try:
            return httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(f"the discovery document at {issuer}", published, timeout_s)


@pytest.fixture(scope="session", name="oidc_peer")
def oidc_peer_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcPeer]:
    public_url = f"http://127.0.0.1:{free_port()}"
    with start_oidc_peer(tmp_path_factory.mktemp("oidc"), public_url) as peer:
        yield peer


def oauth_settings(peer: OidcPeer, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a Nox that logs in against ``peer`` (and, by default, nothing else)."""
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path / "data",
        "sandbox_backend": SandboxBackend.fallback,
        "public_url": peer.public_url,
        "dev_login": False,
        "admin_emails": [ADMIN_EMAIL],
        # The suite starts hundreds of logins from 127.0.0.1 within minutes.
        "login_starts_per_minute": 100_000,
        "oidc_providers": [
            OIDCProviderSettings(
                name=name,
                display_name=f"E2E {name}",
                issuer=peer.issuer,
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
            )
            for name in (PROVIDER, OTHER_PROVIDER)
        ],
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_nox(settings: Settings) -> AsyncIterator[FastAPI]:
    """A started Nox app (lifespan run, database migrated), served in-process."""
    await migrate(settings)
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


def browser(app: FastAPI, public_url: str) -> httpx.AsyncClient:
    """A cookie-keeping client: Nox's public URL goes to ``app`` in-process, the rest to the
    network (the provider). Cookies do not depend on the port, as in a real browser."""
    return httpx.AsyncClient(
        mounts={public_url: httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))},
        timeout=10,
        follow_redirects=False,
    )


_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
_PROMPT = re.compile(r'name="prompt" value="(\w+)"')
_CANCEL = re.compile(r'<a href="([^"]+)">\[ Cancel \]</a>')


def _found(pattern: re.Pattern[str], html: str) -> str:
    match = pattern.search(html)
    assert match, f"the provider page has no {pattern.pattern!r}: {html[:300]}"
    return match.group(1).replace("&amp;", "&")


async def through_provider(
    client: httpx.AsyncClient,
    authorize_url: str,
    *,
    login: str,
    stop_at: str,
    cancel: bool = False,
) -> str:
    """Follow the provider's pages like a user: fill in the login form, approve consent (or
    press Cancel), and return the URL the provider sends the browser back to (not visited)."""
    response = await client.get(authorize_url)
    for _ in range(20):
        if response.is_redirect:
            target = str(response.request.url.join(response.headers["location"]))
            if target.startswith(stop_at):
                return target
            response = await client.get(target)
            continue
        assert response.status_code == 200, f"{response.status_code}: {response.text[:300]}"
        page, here = response.text, response.request.url
        if cancel:
            response = await client.get(here.join(_found(_CANCEL, page)))
            continue
        form = {"prompt": _found(_PROMPT, page)}
        if form["prompt"] == "login":
            form |= {"login": login, "password": "any"}
        response = await client.post(here.join(_found(_FORM_ACTION, page)), data=form)
    raise AssertionError("the provider never redirected back")


async def start_login(
    client: httpx.AsyncClient, base_url: str, provider: str = PROVIDER, next_path: str = ""
) -> str:
    """Ask Nox to start a login; return the provider URL it redirects to."""
    params = {"next": next_path} if next_path else {}
    response = await client.get(f"{base_url}/api/v7/auth/login/{provider}", params=params)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def login_callback_url(
    client: httpx.AsyncClient,
    peer: OidcPeer,
    *,
    login: str,
    base_url: str | None = None,
    provider: str = PROVIDER,
    next_path: str = "",
    cancel: bool = False,
) -> str:
    """Start a login at Nox and pass the provider's pages; the callback URL is returned
    unvisited, so a test can deliver it as it likes."""
    authorize = await start_login(client, base_url or peer.public_url, provider, next_path)
    return await through_provider(
        client, authorize, login=login, stop_at=peer.callback_prefix(provider), cancel=cancel
    )


def env_for(settings: Settings) -> dict[str, str]:
    """Environment variables giving a separate Nox process the same login settings."""
    providers = [
        {**p.model_dump(), "client_secret": p.client_secret.get_secret_value()}
        for p in settings.oidc_providers
    ]
    return {
        **os.environ,
        "NOX_ENV": settings.env.value,
        "NOX_PUBLIC_URL": settings.public_url,
        "NOX_DEV_LOGIN": "false",
        "NOX_ADMIN_EMAILS": ",".join(settings.admin_emails),
        "NOX_OIDC_PROVIDERS": json.dumps(providers),
        "NOX_DATABASE_URL": settings.database_url,
        "NOX_REDIS_URL": settings.redis_url,
        "NOX_DATA_DIR": str(settings.data_dir),
        "NOX_SANDBOX_BACKEND": "fallback",
        "NOX_LOGIN_STARTS_PER_MINUTE": str(settings.login_starts_per_minute),
    }
