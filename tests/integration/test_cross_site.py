"""A state-changing request that authenticates by the session cookie must come from Nox's own
pages (CSRF); the same request with a Bearer token is unaffected."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
     {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.nox.example"}],
)  # fmt: skip
async def test_a_cross_site_cookie_post_is_refused_and_a_bearer_one_is_not(
    backend_settings: Settings, headers: dict[str, str]
) -> None:
    async with app_client(backend_settings) as client:
        login = await client.post("/api/v7/auth/dev-login", json={"email": "csrf@example.test"})
        assert login.status_code == 200
        forged = await client.post("/api/v7/auth/tokens", json={"name": "x"}, headers=headers)
        assert forged.status_code == 403, forged.text
        assert forged.json()["type"] == "https://nox.dev/problems/cross-site-request"
        own = {"Origin": backend_settings.public_url, "Sec-Fetch-Site": "same-origin"}
        same = await client.post("/api/v7/auth/tokens", json={"name": "ok"}, headers=own)
        assert same.status_code == 201
        client.cookies.clear()
        token = await make_token(client, backend_settings, "csrf-bearer@example.test")
        bearer = await client.post(
            "/api/v7/auth/tokens", json={"name": "b"},
            headers={**headers, "Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert bearer.status_code == 201


async def test_a_cross_site_multipart_put_with_the_cookie_is_refused(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        await client.post("/api/v7/auth/dev-login", json={"email": "csrf2@example.test"})
        forged = await client.post(
            "/put?path=x.txt", files={"f": ("x.txt", b"data")},
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        assert forged.status_code == 403
