"""Which login providers settings enable, and the settings that are refused."""

from __future__ import annotations

import json

import pytest

from app.auth.oauth.providers import (
    ProviderKind,
    ProviderSettingsError,
    configured_providers,
    redirect_uri,
)
from app.settings import Settings


def _oidc(**changes: str) -> dict[str, str]:
    entry = {
        "name": "corp",
        "display_name": "Corp SSO",
        "issuer": "https://sso.corp.test",
        "client_id": "nox",
        "client_secret": "s3cret",
    }
    return {**entry, **changes}


def test_nothing_is_enabled_without_client_ids() -> None:
    assert configured_providers(Settings()) == {}


def test_every_kind_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOX_GOOGLE_CLIENT_ID", "g-id")
    monkeypatch.setenv("NOX_MICROSOFT_CLIENT_ID", "m-id")
    monkeypatch.setenv("NOX_MICROSOFT_TENANT", "contoso.onmicrosoft.com")
    monkeypatch.setenv("NOX_GITHUB_CLIENT_ID", "gh-id")
    monkeypatch.setenv(
        "NOX_OIDC_PROVIDERS",
        json.dumps([_oidc(), _oidc(name="lab", issuer="https://lab.test/realms/x/")]),
    )
    providers = configured_providers(Settings())
    assert list(providers) == ["google", "microsoft", "github", "corp", "lab"]
    assert providers["microsoft"].discovery_url == (
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
        "/.well-known/openid-configuration"
    )
    assert providers["github"].kind is ProviderKind.github
    assert providers["lab"].discovery_url == (
        "https://lab.test/realms/x/.well-known/openid-configuration"
    )
    assert providers["corp"].client_secret == "s3cret"


def test_the_callback_comes_from_the_public_url_not_the_request() -> None:
    settings = Settings(public_url="https://nox.example.test/", google_client_id="g")
    google = configured_providers(settings)["google"]
    assert redirect_uri(settings, google) == (
        "https://nox.example.test/api/v7/auth/callback/google"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_oidc(name="google"), "already taken"),
        (_oidc(name="Bad Name"), "name must match"),
        (_oidc(issuer="http://sso.corp.test"), "https"),
        (_oidc(scopes="email profile"), "'openid'"),
    ],
)
def test_unusable_oidc_entries_are_refused_naming_the_setting(
    entry: dict[str, str], message: str
) -> None:
    with pytest.raises(ProviderSettingsError, match=message) as refused:
        configured_providers(Settings(oidc_providers=[entry]))
    assert "NOX_OIDC_PROVIDERS" in str(refused.value)
