"""ID token validation against a provider whose discovery and JWKS are served in memory.

The provider here is a stand-in (httpx.MockTransport): the e2e tier checks the same rules
against the real oidc-provider; these cases cover what that provider cannot be made to send.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey, RSAKey

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.idtoken import validate_id_token
from app.auth.oauth.runtime import OAuthRuntime
from app.settings import OIDCProviderSettings, Settings

ISSUER = "https://idp.test"
CLIENT = "nox-client"
NONCE = "n-0123456789"


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


KEY = _key("k1")
ROTATED = _key("k2")


def _runtime(
    keys: list[Any], issuer: str = ISSUER, algs: list[str] | None = None
) -> tuple[OAuthRuntime, list[str]]:
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": issuer,
                    "authorization_endpoint": f"{ISSUER}/auth",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                    "id_token_signing_alg_values_supported": algs or ["RS256", "HS256", "none"],
                },
            )
        return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in keys]})

    settings = Settings(
        microsoft_client_id=CLIENT,
        oidc_providers=[
            OIDCProviderSettings(
                name="idp",
                display_name="IdP",
                issuer=ISSUER,
                client_id=CLIENT,
                client_secret="s3cret",
            )
        ],
    )
    return OAuthRuntime(settings, transport=httpx.MockTransport(handler)), fetched


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "u1",
        "nonce": NONCE,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: RSAKey = KEY) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


async def _validate(
    token: str, runtime: OAuthRuntime | None = None, provider: str = "idp"
) -> dict[str, Any]:
    runtime = runtime or _runtime([KEY])[0]
    return await validate_id_token(runtime, runtime.providers[provider], token, nonce=NONCE)


async def test_a_well_formed_token_passes() -> None:
    assert (await _validate(_sign(_claims())))["sub"] == "u1"


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"iss": "https://other.test"}, "'iss'"),
        ({"aud": "someone-else"}, "'aud'"),
        ({"nonce": "replayed"}, "'nonce'"),
        ({"nonce": None}, "'nonce'"),
        ({"sub": None}, "'sub'"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, "'azp'"),
    ],
)
async def test_each_wrong_claim_is_named(changes: dict[str, Any], check: str) -> None:
    with pytest.raises(LoginFailedError) as failed:
        await _validate(_sign(_claims(**changes)))
    assert failed.value.reason == "invalid_id_token"
    assert check in failed.value.detail


async def test_a_token_signed_by_another_key_with_the_same_kid_is_refused() -> None:
    forger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(LoginFailedError, match="signature"):
        await _validate(_sign(_claims(), forger))


@pytest.mark.parametrize("alg", ["HS256", "none"])
async def test_unsigned_and_hmac_tokens_are_refused_even_when_discovery_offers_them(
    alg: str,
) -> None:
    token = jwt.encode({"alg": "HS256"}, _claims(), OctKey.import_key("s3cret" * 6))
    if alg == "none":  # joserfc will not produce one: build "header.payload." by hand

        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        token = f"{part({'alg': 'none'})}.{part(_claims())}."
    with pytest.raises(LoginFailedError) as failed:
        await _validate(token)
    assert failed.value.reason == "invalid_id_token"


async def test_a_rotated_key_is_fetched_once_more_but_not_for_every_unknown_kid() -> None:
    served = [KEY]
    runtime, fetched = _runtime(served)
    await _validate(_sign(_claims()), runtime)
    served.append(ROTATED)  # the provider rotates after Nox cached its keys
    assert (await _validate(_sign(_claims(), ROTATED), runtime))["sub"] == "u1"
    with pytest.raises(LoginFailedError, match="signature"):
        await _validate(_sign(_claims(), _key("k3")), runtime)
    assert fetched.count("/jwks") == 2


async def test_a_discovery_document_naming_another_issuer_is_not_used() -> None:
    runtime, _ = _runtime([KEY], issuer="https://evil.test")
    with pytest.raises(LoginFailedError, match="another issuer") as failed:
        await _validate(_sign(_claims(iss="https://evil.test")), runtime)
    assert failed.value.status == 502


async def test_microsoft_tenant_placeholder_is_filled_from_tid() -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    runtime, _ = _runtime([KEY], issuer=template)
    tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
    good = _claims(iss=template.replace("{tenantid}", tid), tid=tid)
    assert (await _validate(_sign(good), runtime, "microsoft"))["tid"] == tid
    with pytest.raises(LoginFailedError, match="'iss'"):
        await _validate(_sign({**good, "tid": "another-tenant"}), runtime, "microsoft")


@pytest.mark.parametrize("published", [["HS256"], ["none"], ["HS256", "none"], ["XYZ1"]])
async def test_a_provider_publishing_no_accepted_algorithm_is_refused_not_widened(
    published: list[str],
) -> None:
    """An empty allow-list would let joserfc fall back to its own set, HS256 included: an HS256
    token made with an `oct` key from the provider's own key set must not pass."""
    secret = OctKey.import_key("s" * 32, parameters={"kid": "oct1"})
    runtime, _ = _runtime([KEY, secret], algs=published)
    token = jwt.encode({"alg": "HS256", "kid": "oct1"}, _claims(), secret)
    with pytest.raises(LoginFailedError) as failed:
        await _validate(token, runtime)
    assert failed.value.reason == "invalid_id_token"
    assert "none of which Nox accepts" in failed.value.detail


# joserfc warns that RFC 9864 deprecates the name "EdDSA"; providers still publish it.
@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
async def test_an_eddsa_provider_works(alg: str) -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "ed1"})
    runtime, _ = _runtime([key], algs=[alg])
    token = jwt.encode({"alg": alg, "kid": "ed1"}, _claims(), key, algorithms=[alg])
    assert (await _validate(token, runtime))["sub"] == "u1"
