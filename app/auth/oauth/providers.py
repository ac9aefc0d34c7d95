"""The login providers enabled by settings: Google, Microsoft, GitHub and generic OIDC issuers.

A provider is enabled when its client id is set. OIDC providers are described by their issuer
and found through discovery; GitHub is plain OAuth2 with fixed endpoints and its REST API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from app.settings import ENV_PREFIX, Settings

GOOGLE_ISSUER = "https://accounts.google.com"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GITHUB_AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN_URL = "https://github.com/login/oauth/access_token"  # noqa: S105 - a URL
GITHUB_API_URL = "https://api.github.com"

# Names of the built-in providers; generic OIDC providers may not reuse them.
BUILTIN_NAMES = ("google", "microsoft", "github")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class ProviderKind(StrEnum):
    oidc = "oidc"
    github = "github"


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    display_name: str
    kind: ProviderKind
    client_id: str
    client_secret: str
    scopes: str
    # OIDC: the issuer whose discovery document gives every endpoint.
    issuer: str = ""

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class ProviderSettingsError(ValueError):
    """Provider settings Nox cannot use; the message names the setting."""


def _microsoft_issuer(tenant: str) -> str:
    # "common", "organizations" and "consumers" serve a discovery document whose issuer holds
    # the placeholder "{tenantid}"; the ID token's "tid" claim fills it in (see idtoken.py).
    return f"{MICROSOFT_AUTHORITY}/{tenant}/v2.0"


def _builtin(settings: Settings) -> list[ProviderConfig]:
    found: list[ProviderConfig] = []
    if settings.google_client_id:
        found.append(
            ProviderConfig(
                "google",
                "Google",
                ProviderKind.oidc,
                settings.google_client_id,
                settings.google_client_secret.get_secret_value(),
                "openid email profile",
                issuer=GOOGLE_ISSUER,
            )
        )
    if settings.microsoft_client_id:
        found.append(
            ProviderConfig(
                "microsoft",
                "Microsoft",
                ProviderKind.oidc,
                settings.microsoft_client_id,
                settings.microsoft_client_secret.get_secret_value(),
                "openid email profile",
                issuer=_microsoft_issuer(settings.microsoft_tenant),
            )
        )
    if settings.github_client_id:
        found.append(
            ProviderConfig(
                "github",
                "GitHub",
                ProviderKind.github,
                settings.github_client_id,
                settings.github_client_secret.get_secret_value(),
                "read:user user:email",
            )
        )
    return found


def configured_providers(settings: Settings) -> dict[str, ProviderConfig]:
    """Every enabled provider by name, in display order; raises on unusable settings."""
    providers = {p.name: p for p in _builtin(settings)}
    for oidc in settings.oidc_providers:
        where = f"{ENV_PREFIX}OIDC_PROVIDERS entry {oidc.name!r}"
        if not _NAME.match(oidc.name):
            raise ProviderSettingsError(f"{where}: name must match {_NAME.pattern}")
        if oidc.name in BUILTIN_NAMES or oidc.name in providers:
            raise ProviderSettingsError(f"{where}: name is already taken")
        if not oidc.issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ProviderSettingsError(f"{where}: issuer must be an https URL")
        if "openid" not in oidc.scopes.split():
            raise ProviderSettingsError(f"{where}: scopes must include 'openid'")
        providers[oidc.name] = ProviderConfig(
            oidc.name,
            oidc.display_name,
            ProviderKind.oidc,
            oidc.client_id,
            oidc.client_secret.get_secret_value(),
            oidc.scopes,
            issuer=oidc.issuer.rstrip("/"),
        )
    return providers


def redirect_uri(settings: Settings, provider: ProviderConfig) -> str:
    """The callback URL registered at the provider: built from the public URL, never the request.

    Taking it from the request's Host header would let a forged header choose where codes go.
    """
    return f"{settings.public_url.rstrip('/')}/api/v7/auth/callback/{provider.name}"
