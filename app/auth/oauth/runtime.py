"""Per-process OAuth state that is safe to share: provider list, discovery and JWKS caches.

Nothing here belongs to one login; per-login state lives in the store (pending.py) so any
replica can finish a login another one started.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from fastapi import Request
from joserfc.jwk import KeySet

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.providers import ProviderConfig, ProviderSettingsError, configured_providers
from app.errors import NoxProblem
from app.settings import Settings
from app.state import get_state

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10.0
METADATA_TTL_S = 3600
# A JWKS refresh on an unknown key id is allowed this often, so forged kids cannot make us
# hammer the provider.
JWKS_REFRESH_MIN_S = 60


async def get_json(
    client: httpx.AsyncClient, provider: ProviderConfig, url: str, *, failure: str
) -> Any:
    """GET a provider document; any transport, status or JSON error is a 502 login failure."""
    try:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("oauth %s: fetching %s failed: %s", provider.name, url, type(exc).__name__)
        raise LoginFailedError(
            "provider_unreachable", f"{provider.display_name} {failure}", status=502
        ) from exc


class OAuthRuntime:
    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.providers: dict[str, ProviderConfig] = configured_providers(settings)
        # Tests put recorded provider responses here; None means the real network.
        self.transport = transport
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._jwks: dict[str, tuple[float, KeySet]] = {}
        self._forced: dict[str, float] = {}  # when an unknown kid last forced a JWKS refetch

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport,
            timeout=HTTP_TIMEOUT_S,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "Nox/7 (+oauth login)"},
        )

    async def _get_json(self, provider: ProviderConfig, url: str) -> Any:
        async with self.http() as client:
            return await get_json(
                client, provider, url, failure="could not be reached; try again later"
            )

    async def metadata(self, provider: ProviderConfig) -> dict[str, Any]:
        """The provider's discovery document, cached for an hour."""
        cached = self._metadata.get(provider.name)
        if cached and time.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        document = await self._get_json(provider, provider.discovery_url)
        if not isinstance(document, dict) or "authorization_endpoint" not in document:
            raise LoginFailedError(
                "provider_unreachable",
                f"{provider.display_name} answered discovery without an authorization endpoint",
                status=502,
            )
        # OIDC Discovery 4.3: the document must name the issuer it was fetched for, or anyone
        # serving it could vouch for another issuer's tokens. Microsoft is exempt: a tenant
        # given by domain discovers as its GUID, and "common" as a "{tenantid}" template.
        named = str(document.get("issuer", "")).rstrip("/")
        if provider.name != "microsoft" and named != provider.issuer.rstrip("/"):
            log.error("oauth %s: discovery names issuer %r", provider.name, named[:200])
            raise LoginFailedError(
                "provider_unreachable",
                f"{provider.display_name} discovery names another issuer than configured",
                status=502,
            )
        self._metadata[provider.name] = (time.monotonic(), document)
        return document

    async def jwks(self, provider: ProviderConfig, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys; ``refresh`` refetches them (key rotation), rate-limited."""
        now = time.monotonic()
        cached = self._jwks.get(provider.name)
        if (
            refresh
            and now - self._forced.get(provider.name, -JWKS_REFRESH_MIN_S) >= JWKS_REFRESH_MIN_S
        ):
            self._forced[provider.name] = now
        elif cached and now - cached[0] < METADATA_TTL_S:
            return cached[1]
        document = await self._get_json(provider, (await self.metadata(provider))["jwks_uri"])
        try:
            keys = KeySet.import_key_set(document)
        except Exception as exc:  # any malformed key set: joserfc raises many types
            raise LoginFailedError(
                "provider_unreachable",
                f"{provider.display_name} served unusable signing keys",
                status=502,
            ) from exc
        self._jwks[provider.name] = (time.monotonic(), keys)
        return keys


def oauth_runtime(request: Request) -> OAuthRuntime:
    """The app's OAuthRuntime, built on first use from the app's settings."""
    runtime: OAuthRuntime | None = getattr(request.app.state, "oauth", None)
    if runtime is None:
        try:
            runtime = OAuthRuntime(get_state(request).settings)
        except ProviderSettingsError as exc:
            log.error("oauth login disabled: %s", exc)
            raise NoxProblem(503, "Login unavailable", f"login is misconfigured: {exc}") from exc
        request.app.state.oauth = runtime
    return runtime
