"""Per-user rate limit, concurrent and daily runs, daily CPU seconds, workspace size.

Counters live in the store (Redis in production), so several api processes enforce one
limit between them. Each refusal is a 429 problem naming the limit, with ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from app.auth.caller import Caller
from app.errors import NoxProblem
from app.observability.metrics import RATE_LIMITED
from app.sandbox.interface import WorkspaceUsage
from app.settings import QuotaLimits, Settings
from app.store.base import Store

DAY_S = 86_400
QUOTA_TYPE = "https://nox.dev/problems/quota-exceeded"


def effective_quotas(settings: Settings, user: Caller) -> QuotaLimits:
    """The configured quotas with the user's admin-set overrides applied."""
    if not user.quotas:
        return settings.quotas
    return settings.quotas.model_copy(update=user.quotas)


def _refuse(limit: str, detail: str, retry_after: int) -> NoxProblem:
    RATE_LIMITED.labels(limit=limit).inc()
    return NoxProblem(
        429,
        "Too Many Requests",
        detail,
        type_=QUOTA_TYPE,
        headers={"Retry-After": str(max(1, retry_after))},
        extra={"limit": limit},
    )


def _seconds_to_midnight() -> int:
    now = time.time()
    return int(DAY_S - now % DAY_S) + 1


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


async def check_request_rate(*, store: Store, settings: Settings, user: Caller) -> None:
    limit = effective_quotas(settings, user).requests_per_minute
    window = int(time.time() // 60)
    count = await store.incr(f"q:rate:{user.id}:{window}", 1, ttl_s=120)
    if count > limit:
        retry = 60 - int(time.time() % 60)
        raise _refuse(
            "requests_per_minute", f"rate limit of {limit} requests per minute reached", retry
        )


async def check_login_rate(*, store: Store, settings: Settings, client: str) -> None:
    """Login starts per client address: each stores a pending record for a while."""
    limit = settings.login_starts_per_minute
    window = int(time.time() // 60)
    count = await store.incr(f"q:login:{client}:{window}", 1, ttl_s=120)
    if count > limit:
        retry = 60 - int(time.time() % 60)
        raise _refuse("login_starts_per_minute", f"more than {limit} login starts a minute", retry)


@asynccontextmanager
async def run_slot(*, store: Store, settings: Settings, user: Caller) -> AsyncIterator[None]:
    """Hold one of the user's concurrent-run slots and count the run against the day."""
    quotas = effective_quotas(settings, user)
    cpu_used = float(await store.get(f"q:cpu:{user.id}:{_today()}") or 0)
    if cpu_used >= quotas.daily_cpu_s:
        raise _refuse(
            "daily_cpu_s",
            f"daily CPU quota of {quotas.daily_cpu_s:g} s used up",
            _seconds_to_midnight(),
        )
    daily_key = f"q:runs:{user.id}:{_today()}"
    if await store.incr(daily_key, 1, ttl_s=2 * DAY_S) > quotas.daily_runs:
        await store.incr(daily_key, -1)
        raise _refuse(
            "daily_runs",
            f"daily quota of {quotas.daily_runs} runs used up",
            _seconds_to_midnight(),
        )
    concurrent_key = f"q:conc:{user.id}"
    # The TTL only frees slots of a process that died mid-run; live runs release their slot.
    wall_ceiling = int(settings.sandbox.wall_max_s) + 60
    if await store.incr(concurrent_key, 1, ttl_s=wall_ceiling) > quotas.concurrent_runs:
        await store.incr(concurrent_key, -1)
        await store.incr(daily_key, -1)
        raise _refuse("concurrent_runs", f"at most {quotas.concurrent_runs} runs at once", 1)
    try:
        yield
    finally:
        await store.incr(concurrent_key, -1)


async def charge_cpu(*, store: Store, settings: Settings, user: Caller, seconds: float) -> None:
    if seconds > 0:
        await store.incr_float(f"q:cpu:{user.id}:{_today()}", seconds, ttl_s=2 * DAY_S)


def check_workspace(
    *, settings: Settings, user: Caller, usage: WorkspaceUsage, add_bytes: int, add_files: int
) -> None:
    quotas = effective_quotas(settings, user)
    if usage.bytes + add_bytes > quotas.workspace_bytes:
        raise _refuse(
            "workspace_bytes",
            f"workspace quota of {quotas.workspace_bytes} bytes: it holds {usage.bytes}"
            + (f" and this adds {add_bytes}" if add_bytes else "; delete files first"),
            60,
        )
    if usage.files + add_files > quotas.workspace_files:
        raise _refuse(
            "workspace_files",
            f"workspace quota of {quotas.workspace_files} files: it holds {usage.files}"
            + (f" and this adds {add_files}" if add_files else "; delete files first"),
            60,
        )
