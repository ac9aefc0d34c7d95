"""Deactivating a user ends their credentials for good (audited): their sessions and API
tokens are refused while inactive and after reactivation too. The development login that
promotes an existing email takes effect at once, like every other role change."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration


async def test_deactivation_revokes_sessions_and_tokens_for_good(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        root = await make_token(client, backend_settings, "root@example.test", admin=True)
        admin = {"Authorization": f"Bearer {root}"}
        token = await make_token(client, backend_settings, "leaver@example.test")
        bearer = {"Authorization": f"Bearer {token}"}
        login = await client.post("/api/v7/auth/dev-login", json={"email": "leaver@example.test"})
        cookie = {"Cookie": f"nox_session={login.cookies['nox_session']}"}
        client.cookies.clear()
        me = await client.get("/api/v7/auth/me", headers=bearer)
        user_id = me.json()["id"]
        assert (await client.get("/api/v7/auth/me", headers=cookie)).status_code == 200
        off = await client.patch(f"/api/v7/admin/users/{user_id}", json={"is_active": False},
                                 headers=admin)  # fmt: skip
        assert off.status_code == 200
        assert (await client.get("/api/v7/auth/me", headers=bearer)).status_code in (401, 403)
        assert (await client.get("/api/v7/auth/me", headers=cookie)).status_code in (401, 403)
        on = await client.patch(f"/api/v7/admin/users/{user_id}", json={"is_active": True},
                                headers=admin)  # fmt: skip
        assert on.status_code == 200
        assert (await client.get("/api/v7/auth/me", headers=bearer)).status_code == 401
        assert (await client.get("/api/v7/auth/me", headers=cookie)).status_code == 401
        audit = await client.get(
            "/api/v7/admin/audit?action=auth.credentials.revoke", headers=admin
        )
        (event,) = audit.json()["items"]
        assert event["target"] == f"user:{user_id}" and event["detail"]["tokens"] == 1
        # A new login after reactivation works: only what existed at deactivation is gone.
        again = await client.post("/api/v7/auth/dev-login", json={"email": "leaver@example.test"})
        assert again.status_code == 200


async def test_dev_login_promotion_applies_at_once(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        token = await make_token(client, backend_settings, "climber@example.test")
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v7/auth/me", headers=bearer)).json()["role"] == "user"
        promoted = await client.post(
            "/api/v7/auth/dev-login", json={"email": "climber@example.test", "admin": True}
        )
        assert promoted.status_code == 200
        client.cookies.clear()
        assert (await client.get("/api/v7/auth/me", headers=bearer)).json()["role"] == "admin"
