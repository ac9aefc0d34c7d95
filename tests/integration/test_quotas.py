"""Run quotas on both stores: concurrent slots, daily runs, daily CPU, workspace size."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.auth.caller import Caller
from app.errors import NoxProblem
from app.quotas.service import charge_cpu, check_workspace, run_slot
from app.sandbox.interface import WorkspaceUsage
from app.settings import QuotaLimits, Settings
from app.store import MemoryStore, RedisStore
from app.store.base import Store
from tests.support.redis import RedisService

pytestmark = pytest.mark.integration

SETTINGS = Settings(
    quotas=QuotaLimits(
        concurrent_runs=2, daily_runs=3, daily_cpu_s=1.0, workspace_bytes=100, workspace_files=2
    )
)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_srv: RedisService) -> AsyncIterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else RedisStore(redis_srv.url)
    yield made
    await made.aclose()


def caller(quotas: dict[str, float] | None) -> Caller:
    """A caller whose id no other test run has used on the shared Redis."""
    return Caller(
        id=uuid.uuid4().int >> 80,
        email=None,
        name="",
        role="user",
        is_active=True,
        quotas=quotas,
        providers=(),
    )


def limit_of(caught: pytest.ExceptionInfo[NoxProblem]) -> str:
    assert caught.value.status == 429
    assert int(caught.value.headers["Retry-After"]) >= 1
    return str(caught.value.extra["limit"])


async def test_concurrent_runs_are_capped_and_released(store: Store) -> None:
    user = caller(None)
    async with (
        run_slot(store=store, settings=SETTINGS, user=user),
        run_slot(store=store, settings=SETTINGS, user=user),
    ):
        with pytest.raises(NoxProblem) as caught:
            async with run_slot(store=store, settings=SETTINGS, user=user):
                pass
        assert limit_of(caught) == "concurrent_runs"
    async with run_slot(store=store, settings=SETTINGS, user=user):
        pass  # both slots were given back


async def test_daily_runs_are_counted_and_refusals_do_not_count(store: Store) -> None:
    user = caller(None)
    for _ in range(3):
        async with run_slot(store=store, settings=SETTINGS, user=user):
            pass
    for _ in range(2):
        with pytest.raises(NoxProblem) as caught:
            async with run_slot(store=store, settings=SETTINGS, user=user):
                pass
        assert limit_of(caught) == "daily_runs"


async def test_daily_cpu_seconds_stop_new_runs(store: Store) -> None:
    user = caller(None)
    await charge_cpu(store=store, settings=SETTINGS, user=user, seconds=0.6)
    async with run_slot(store=store, settings=SETTINGS, user=user):
        pass
    await charge_cpu(store=store, settings=SETTINGS, user=user, seconds=0.5)
    with pytest.raises(NoxProblem) as caught:
        async with run_slot(store=store, settings=SETTINGS, user=user):
            pass
    assert limit_of(caught) == "daily_cpu_s"


async def test_per_user_overrides_replace_the_defaults(store: Store) -> None:
    generous = caller({"concurrent_runs": 3})
    async with (
        run_slot(store=store, settings=SETTINGS, user=generous),
        run_slot(store=store, settings=SETTINGS, user=generous),
        run_slot(store=store, settings=SETTINGS, user=generous),
    ):
        pass


def test_workspace_bytes_and_files() -> None:
    user = caller(None)
    check_workspace(
        settings=SETTINGS,
        user=user,
        usage=WorkspaceUsage(bytes=50, files=1),
        add_bytes=50,
        add_files=1,
    )
    with pytest.raises(NoxProblem) as caught:
        check_workspace(
            settings=SETTINGS,
            user=user,
            usage=WorkspaceUsage(bytes=50, files=1),
            add_bytes=51,
            add_files=0,
        )
    assert limit_of(caught) == "workspace_bytes"
    with pytest.raises(NoxProblem) as caught:
        check_workspace(
            settings=SETTINGS,
            user=user,
            usage=WorkspaceUsage(bytes=0, files=2),
            add_bytes=1,
            add_files=1,
        )
    assert limit_of(caught) == "workspace_files"
