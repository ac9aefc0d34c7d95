"""A man in the middle between Nox and the real provider's token endpoint, for forged ID tokens.

Every other request passes through untouched. The ID token the provider issued is decoded,
changed, and re-signed: with the provider's own key (the tests hand it to oidc-provider) when a
claim is under test, or with a foreign key under the same key id when the signature is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

Forgery = Callable[[str], str]


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def resign(key: RSAKey, **changes: Any) -> Forgery:
    """Change claims and sign again with ``key`` under the provider's key id."""

    def forge(token: str) -> str:
        claims = {**_payload(token), **changes}
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    return forge


def edit_keeping_signature(**changes: Any) -> Forgery:
    """Change claims but keep the provider's original signature (classic payload tampering)."""

    def forge(token: str) -> str:
        header, _, signature = token.split(".")
        claims = json.dumps({**_payload(token), **changes}).encode()
        body = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
        return f"{header}.{body}.{signature}"

    return forge


class TamperingTransport(httpx.AsyncBaseTransport):
    def __init__(self, forge: Forgery) -> None:
        self._forge = forge
        self._real = httpx.AsyncHTTPTransport()
        self.forged = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if request.url.path != "/token" or request.method != "POST":
            return response
        await response.aread()
        body = response.json()
        if "id_token" in body:
            body["id_token"] = self._forge(body["id_token"])
            self.forged += 1
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self._real.aclose()
