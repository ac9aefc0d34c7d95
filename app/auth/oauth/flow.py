"""The two provider round trips of an authorization-code login with PKCE (S256), via authlib."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.idtoken import validate_id_token
from app.auth.oauth.pending import PendingLogin
from app.auth.oauth.profile import ProviderIdentity, github_identity, oidc_identity
from app.auth.oauth.providers import (
    GITHUB_AUTHORIZE_URL,
    GITHUB_TOKEN_URL,
    ProviderConfig,
    ProviderKind,
    redirect_uri,
)
from app.auth.oauth.runtime import HTTP_TIMEOUT_S, OAuthRuntime

# Authlib 1.9 warns at import that its httpx client prefers the "httpx2" package; that package
# is not available here and the client works with the httpx 0.28 the rest of Nox uses.
warnings.filterwarnings(
    "ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning
)
from authlib.integrations.base_client import OAuthError  # noqa: E402
from authlib.integrations.httpx_client import AsyncOAuth2Client  # noqa: E402

log = logging.getLogger(__name__)


def _client(runtime: OAuthRuntime, provider: ProviderConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=provider.scopes,
        redirect_uri=redirect_uri(runtime.settings, provider),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
        transport=runtime.transport,
        timeout=HTTP_TIMEOUT_S,
    )


async def _endpoints(runtime: OAuthRuntime, provider: ProviderConfig) -> tuple[str, str]:
    if provider.kind is ProviderKind.github:
        return GITHUB_AUTHORIZE_URL, GITHUB_TOKEN_URL
    metadata = await runtime.metadata(provider)
    return metadata["authorization_endpoint"], metadata["token_endpoint"]


async def authorization_url(
    runtime: OAuthRuntime, provider: ProviderConfig, *, state: str, pending: PendingLogin
) -> str:
    authorize, _ = await _endpoints(runtime, provider)
    extra: dict[str, str] = {}
    if provider.kind is ProviderKind.oidc:
        extra["nonce"] = pending.nonce
    async with _client(runtime, provider) as client:
        url, _ = client.create_authorization_url(
            authorize, state=state, code_verifier=pending.code_verifier, **extra
        )
    return str(url)


async def _exchange_code(
    runtime: OAuthRuntime, provider: ProviderConfig, *, code: str, pending: PendingLogin
) -> dict[str, Any]:
    _, token_url = await _endpoints(runtime, provider)
    try:
        async with _client(runtime, provider) as client:
            token = await client.fetch_token(
                token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
            )
    except OAuthError as exc:
        # e.g. invalid_grant: a replayed or expired code, or a verifier that does not match
        log.warning("oauth %s: code exchange refused: %s", provider.name, exc.error)
        raise LoginFailedError(
            "code_rejected",
            f"{provider.display_name} refused the authorization code ({exc.error}); log in again",
        ) from exc
    except httpx.HTTPError as exc:
        log.warning("oauth %s: token endpoint failed: %s", provider.name, type(exc).__name__)
        raise LoginFailedError(
            "provider_unreachable",
            f"{provider.display_name} could not be reached; try again",
            status=502,
        ) from exc
    if not isinstance(token.get("access_token"), str):
        raise LoginFailedError(
            "code_rejected", f"{provider.display_name} returned no access token", status=502
        )
    return dict(token)


async def complete(
    runtime: OAuthRuntime, provider: ProviderConfig, *, code: str, pending: PendingLogin
) -> ProviderIdentity:
    """Exchange ``code``, validate what comes back, and return the identity. Tokens are dropped:
    no feature of Nox calls the provider on the user's behalf."""
    token = await _exchange_code(runtime, provider, code=code, pending=pending)
    if provider.kind is ProviderKind.github:
        return await github_identity(runtime, provider, token["access_token"])
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailedError(
            "invalid_id_token", f"{provider.display_name} returned no ID token", status=401
        )
    claims = await validate_id_token(runtime, provider, id_token, nonce=pending.nonce)
    return await oidc_identity(runtime, provider, claims, token["access_token"])
