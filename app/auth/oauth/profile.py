"""Who the provider says logged in: subject, email and whether the provider verified it.

OIDC: the validated ID token, completed from userinfo when it carries no email (oidc-provider
and others put only the required claims in the ID token). GitHub: its REST API, with the email
taken from ``/user/emails`` because ``/user`` shows only a public, unverified address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.providers import GITHUB_API_URL, ProviderConfig
from app.auth.oauth.runtime import OAuthRuntime, get_json


@dataclass(frozen=True)
class ProviderIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str


def _verified(claims: dict[str, Any], provider: ProviderConfig) -> bool:
    value = claims.get("email_verified")
    if value is True or value == "true":
        return True
    # Microsoft sends no email_verified; its "email" is whatever the tenant typed in, unless
    # the optional claim xms_edov says the tenant owns the domain.
    return provider.name == "microsoft" and claims.get("xms_edov") in (True, "true", "1", 1)


async def _api_json(client: httpx.AsyncClient, provider: ProviderConfig, url: str) -> Any:
    return await get_json(client, provider, url, failure="did not return the profile")


async def oidc_identity(
    runtime: OAuthRuntime, provider: ProviderConfig, claims: dict[str, Any], access_token: str
) -> ProviderIdentity:
    merged = dict(claims)
    userinfo_url = (await runtime.metadata(provider)).get("userinfo_endpoint")
    if "email" not in claims and userinfo_url:
        async with runtime.http() as client:
            client.headers["Authorization"] = f"Bearer {access_token}"
            userinfo = await _api_json(client, provider, userinfo_url)
        # OIDC Core 5.3.2: userinfo of another subject must not be mixed in (token substitution).
        if not isinstance(userinfo, dict) or userinfo.get("sub") != claims["sub"]:
            raise LoginFailedError(
                "invalid_id_token",
                f"{provider.display_name} userinfo names another subject than the ID token",
                status=401,
            )
        merged = {**userinfo, **claims}
    email = merged.get("email")
    return ProviderIdentity(
        subject=str(claims["sub"]),
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=_verified(merged, provider),
        name=str(merged.get("name") or merged.get("preferred_username") or ""),
    )


async def github_identity(
    runtime: OAuthRuntime, provider: ProviderConfig, access_token: str
) -> ProviderIdentity:
    async with runtime.http() as client:
        client.headers["Authorization"] = f"Bearer {access_token}"
        client.headers["Accept"] = "application/vnd.github+json"
        client.headers["X-GitHub-Api-Version"] = "2022-11-28"
        user = await _api_json(client, provider, f"{GITHUB_API_URL}/user")
        emails = await _api_json(client, provider, f"{GITHUB_API_URL}/user/emails")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise LoginFailedError(
            "provider_unreachable", "GitHub returned a profile without an id", status=502
        )
    primary = (
        next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
        if isinstance(emails, list)
        else None
    )
    email = primary.get("email") if primary else None
    return ProviderIdentity(
        subject=str(user["id"]),  # the numeric id: logins can be renamed and reused
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=bool(primary and primary.get("verified") is True),
        name=str(user.get("name") or user.get("login") or ""),
    )
