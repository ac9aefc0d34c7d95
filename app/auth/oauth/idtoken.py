"""ID token validation (OpenID Connect Core 3.1.3.7): signature via JWKS, iss, aud, azp, exp,
iat and nonce. Any failure is a LoginFailedError("invalid_id_token") naming the check.
"""

from __future__ import annotations

import logging
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from app.auth.oauth.errors import LoginFailedError
from app.auth.oauth.providers import ProviderConfig
from app.auth.oauth.runtime import OAuthRuntime

log = logging.getLogger(__name__)

# Asymmetric algorithms only: "none" and HMAC (keyed with the client secret) are never accepted,
# whatever a provider publishes. The list handed to joserfc is never empty: an empty one would
# mean joserfc's own recommended set, which includes HS256.
ALLOWED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
    "Ed25519", "EdDSA",  # RFC 9864's Ed25519, and the older name providers still publish
)  # fmt: skip
CLOCK_LEEWAY_S = 60


def _fail(provider: ProviderConfig, check: str) -> LoginFailedError:
    log.warning("oauth %s: ID token rejected: %s", provider.name, check)
    return LoginFailedError(
        "invalid_id_token", f"the ID token from {provider.display_name} failed: {check}", status=401
    )


def _expected_issuer(metadata: dict[str, Any], claims: dict[str, Any]) -> str:
    issuer = str(metadata.get("issuer", ""))
    # Microsoft's multi-tenant endpoints publish ".../{tenantid}/v2.0"; the token names its tenant.
    if "{tenantid}" in issuer and isinstance(claims.get("tid"), str):
        issuer = issuer.replace("{tenantid}", claims["tid"])
    return issuer


def _algorithms(provider: ProviderConfig, metadata: dict[str, Any]) -> list[str]:
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    accepted = [alg for alg in ALLOWED_ALGORITHMS if alg in offered]
    if not accepted:
        raise _fail(
            provider,
            f"the provider signs ID tokens with {', '.join(map(str, offered))}, none of which "
            f"Nox accepts ({', '.join(ALLOWED_ALGORITHMS)})",
        )
    return accepted


def _decode(token: str, keys: KeySet, algorithms: list[str]) -> dict[str, Any]:
    return dict(jwt.decode(token, keys, algorithms=algorithms).claims)


async def validate_id_token(
    runtime: OAuthRuntime, provider: ProviderConfig, id_token: str, *, nonce: str
) -> dict[str, Any]:
    """The verified claims of ``id_token``; raises LoginFailedError on any failed check."""
    metadata = await runtime.metadata(provider)
    algorithms = _algorithms(provider, metadata)
    try:
        try:
            claims = _decode(id_token, await runtime.jwks(provider), algorithms)
        except InvalidKeyIdError:  # the provider may have rotated its keys since we cached them
            claims = _decode(id_token, await runtime.jwks(provider, refresh=True), algorithms)
    except (BadSignatureError, InvalidKeyIdError) as exc:
        raise _fail(provider, "signature does not verify with the provider's keys") from exc
    except JoseError as exc:
        raise _fail(provider, f"malformed token ({exc.error})") from exc
    except ValueError as exc:  # not even a JWS
        raise _fail(provider, "malformed token") from exc

    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_S,
        iss={"essential": True, "value": _expected_issuer(metadata, claims)},
        aud={"essential": True, "value": provider.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise _fail(provider, "token has expired") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise _fail(provider, f"claim {exc.claim!r} is missing or wrong") from exc
    except JoseError as exc:
        raise _fail(provider, f"claims rejected ({exc.error})") from exc
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != provider.client_id:
        raise _fail(provider, "claim 'azp' does not name this client")
    return claims
