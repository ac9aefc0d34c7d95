"""The service contract on both backends: SQLite + in-process store, PostgreSQL + Redis."""

from __future__ import annotations

import json

import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


async def test_health_readiness_and_status(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["components"]) == {"database", "cache", "executor"}
        status = (await client.get("/api/v7/status")).json()
        assert status["service"] == "nox"
        assert status["version"].startswith("7.")
        assert status["environment"] == "test"


async def test_me_with_a_token_and_every_kind_of_bad_credentials(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        token = await make_token(client, backend_settings, "ada@example.test")
        me = await client.get("/api/v7/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["email"] == "ada@example.test"
        assert me.json()["role"] == "user"
        for headers, detail in [
            ({}, "no credentials"),
            ({"Authorization": "Bearer nox_wrong"}, "invalid or revoked"),
            ({"Authorization": f"Basic {token}"}, "must be 'Bearer <token>'"),
            ({"Cookie": "nox_session=forged"}, "invalid or expired"),
        ]:
            answer = await client.get("/api/v7/auth/me", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["content-type"] == PROBLEM
            assert detail in answer.json()["detail"]


async def test_tokens_are_shown_once_listed_hashed_and_revocable(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        first = await make_token(client, backend_settings, "bo@example.test")
        auth = {"Authorization": f"Bearer {first}"}
        created = await client.post("/api/v7/auth/tokens", json={"name": "laptop"}, headers=auth)
        assert created.status_code == 201
        second = created.json()["token"]
        second_auth = {"Authorization": f"Bearer {second}"}
        assert (await client.get("/api/v7/auth/me", headers=second_auth)).status_code == 200
        listed = (await client.get("/api/v7/auth/tokens", headers=auth)).json()
        assert [t["name"] for t in listed] == ["test", "laptop"]
        assert all("token" not in t for t in listed)
        assert listed[1]["hint"] == second[:8]
        gone = await client.delete(f"/api/v7/auth/tokens/{created.json()['id']}", headers=auth)
        assert gone.status_code == 204
        revoked = await client.get("/api/v7/auth/me", headers={"Authorization": f"Bearer {second}"})
        assert revoked.status_code == 401
        other = await client.delete("/api/v7/auth/tokens/9999", headers=auth)
        assert other.status_code == 404


async def test_problem_details_for_404_405_422_and_request_ids(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        missing = await client.get("/nope", headers={"X-Request-ID": "req-123"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM
        assert missing.headers["x-request-id"] == "req-123"
        assert set(missing.json()) >= {"type", "title", "status", "detail"}
        wrong_method = await client.delete("/healthz")
        assert wrong_method.status_code == 405
        assert wrong_method.headers["content-type"] == PROBLEM
        token = await make_token(client, backend_settings, "cy@example.test")
        invalid = await client.post(
            "/api/v7/auth/tokens",
            json={"name": "x" * 500},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert invalid.status_code == 422
        assert invalid.json()["detail"].startswith("body.name:")
        generated = missing.headers["x-request-id"]
        assert generated
        evil = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
        assert evil.headers["x-request-id"] != "bad id\nwith newline"


async def test_admin_manages_users_and_others_are_forbidden(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        root = await make_token(client, backend_settings, "root@example.test", admin=True)
        admin = {"Authorization": f"Bearer {root}"}
        user_token = await make_token(client, backend_settings, "dee@example.test")
        user = {"Authorization": f"Bearer {user_token}"}
        assert (await client.get("/api/v7/admin/users", headers=user)).status_code == 403
        page = (await client.get("/api/v7/admin/users?limit=1", headers=admin)).json()
        assert len(page["items"]) == 1
        assert page["next_cursor"] is not None
        rest = (
            await client.get(f"/api/v7/admin/users?cursor={page['next_cursor']}", headers=admin)
        ).json()
        dee = next(u for u in rest["items"] if u["email"] == "dee@example.test")
        patched = await client.patch(
            f"/api/v7/admin/users/{dee['id']}",
            json={"quotas": {"concurrent_runs": 1}, "role": "admin"},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["quotas"] == {"concurrent_runs": 1}
        bad = await client.patch(
            f"/api/v7/admin/users/{dee['id']}", json={"quotas": {"cpu_forever": 1}}, headers=admin
        )
        assert bad.status_code == 422
        assert "unknown quota" in bad.text
        off = await client.patch(
            f"/api/v7/admin/users/{dee['id']}", json={"is_active": False}, headers=admin
        )
        assert off.json()["is_active"] is False
        # Deactivation revoked the token itself (tests/integration/test_deactivation.py).
        assert (await client.get("/api/v7/auth/me", headers=user)).status_code == 401


async def test_audit_records_actions_and_exports_them(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        token = await make_token(client, backend_settings, "eve@example.test", admin=True)
        auth = {"Authorization": f"Bearer {token}", "X-Request-ID": "audit-req-1"}
        for name in ("a", "b", "c"):
            await client.post("/api/v7/auth/tokens", json={"name": name}, headers=auth)
        first = (
            await client.get("/api/v7/admin/audit?action=token.*&limit=2", headers=auth)
        ).json()
        assert len(first["items"]) == 2
        assert first["items"][0]["id"] > first["items"][1]["id"]
        assert first["items"][0]["request_id"] == "audit-req-1"
        assert first["items"][0]["client_addr"] == "127.0.0.1"
        second = (
            await client.get(
                f"/api/v7/admin/audit?action=token.*&limit=2&cursor={first['next_cursor']}",
                headers=auth,
            )
        ).json()
        assert {e["action"] for e in first["items"] + second["items"]} == {"token.create"}
        assert len(first["items"] + second["items"]) == 3
        jsonl = await client.get(
            "/api/v7/admin/audit/export?format=jsonl&outcome=success", headers=auth
        )
        rows = [json.loads(line) for line in jsonl.text.splitlines()]
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
        assert len(rows) == 3
        csv = await client.get("/api/v7/admin/audit/export?format=csv", headers=auth)
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].startswith("id,created_at,actor_id,action")
        assert len(lines) == 4
        bad = await client.get("/api/v7/admin/audit/export?format=xml", headers=auth)
        assert bad.status_code == 422


async def test_request_rate_limit_answers_429_naming_the_limit(backend_settings: Settings) -> None:
    settings = backend_settings.model_copy(
        update={"quotas": backend_settings.quotas.model_copy(update={"requests_per_minute": 3})}
    )
    async with app_client(settings) as client:
        auth = {"Authorization": f"Bearer {await make_token(client, settings, 'fi@example.test')}"}
        codes = [(await client.get("/api/v7/auth/me", headers=auth)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = await client.get("/api/v7/auth/me", headers=auth)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["limit"] == "requests_per_minute"
        assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_metrics_use_route_templates_not_ids(backend_settings: Settings) -> None:
    async with app_client(backend_settings) as client:
        gus = await make_token(client, backend_settings, "gus@example.test")
        auth = {"Authorization": f"Bearer {gus}"}
        await client.delete("/api/v7/auth/tokens/424242", headers=auth)
        await client.get("/no/such/path/77")
        await client.request("BREW", "/healthz")
        text = (await client.get("/metrics")).text
        assert 'route="/api/v7/auth/tokens/{token_id}"' in text
        assert "424242" not in text
        assert "/no/such/path" not in text
        assert 'route="unmatched"' in text
        assert 'method="OTHER"' in text
        assert "BREW" not in text
        assert 'nox_component_up{component="database"} 1.0' in text
        assert "nox_build_info" in text
