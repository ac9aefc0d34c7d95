"""Login starts (each stores a pending login for a while) are rate-limited per client address."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.conftest import app_client

pytestmark = pytest.mark.integration


async def test_login_starts_beyond_the_rate_are_refused_with_429(
    backend_settings: Settings,
) -> None:
    settings = backend_settings.model_copy(update={"login_starts_per_minute": 5})
    async with app_client(settings) as client:
        answers = [
            (await client.get("/api/v7/auth/login/unknown-provider")).status_code for _ in range(6)
        ]
        refused = await client.get("/api/v7/auth/login/unknown-provider")
    assert 429 not in answers[:5] and answers[5] == 429
    assert refused.json()["limit"] == "login_starts_per_minute"
    assert int(refused.headers["retry-after"]) >= 1
