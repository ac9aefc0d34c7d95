"""Readiness checks of each component, bounded in time, mirrored into metrics."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import text

from app.observability.metrics import COMPONENT_UP, DISK_FREE, DISK_SIZE
from app.state import AppState

CHECK_TIMEOUT_S = 2.0


# Readiness means "this api replica can serve": its process, database and store. The executor
# is not among them: every api replica shares the same executors, so failing readiness on
# executor trouble would take every route (logins, files listing, admin) off the load balancer
# at once, on every executor deploy or drain. Executor trouble shows in the /readyz detail, in
# nox_component_up (alert NoxExecutorUnreachable) and as 503 + Retry-After on the routes
# that need it.
READINESS_COMPONENTS = ("database", "cache")


class ComponentStatus(BaseModel):
    ok: bool
    detail: str


async def _bounded(check: Awaitable[ComponentStatus]) -> ComponentStatus:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return ComponentStatus(ok=False, detail=f"no answer within {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # any failure of a dependency is "not ready", never a 500
        return ComponentStatus(ok=False, detail=f"{type(exc).__name__}: {exc}"[:300])


async def _database(state: AppState) -> ComponentStatus:
    async with state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return ComponentStatus(ok=True, detail=state.engine.dialect.name)


async def _cache(state: AppState) -> ComponentStatus:
    if await state.store.ping():
        detail = "redis" if state.store.name == "redis" else "in-process store (single process)"
        return ComponentStatus(ok=True, detail=detail)
    return ComponentStatus(ok=False, detail=f"{state.store.name} did not answer PING")


async def _executor(state: AppState) -> ComponentStatus:
    health = await state.executor.health()
    detail = health.backend + (f": {health.detail}" if health.detail else "")
    if health.backend == "fallback":
        detail += " (UNSAFE: no kernel isolation; development only)"
    return ComponentStatus(ok=health.ok, detail=detail)


async def check_components(state: AppState) -> dict[str, ComponentStatus]:
    names = ("database", "cache", "executor")
    results = await asyncio.gather(
        _bounded(_database(state)), _bounded(_cache(state)), _bounded(_executor(state))
    )
    for name, status in zip(names, results, strict=True):
        COMPONENT_UP.labels(component=name).set(1 if status.ok else 0)
    return dict(zip(names, results, strict=True))


def is_ready(components: dict[str, ComponentStatus]) -> bool:
    return all(components[name].ok for name in READINESS_COMPONENTS)


def refresh_disk_metrics(state: AppState) -> None:
    volumes = {"data": state.settings.data_dir}
    if state.settings.sandbox_backend != "remote":
        volumes["workspaces"] = state.settings.effective_workspaces_dir
    for volume, path in volumes.items():
        existing = next(p for p in (Path(path), *Path(path).absolute().parents) if p.exists())
        stat = os.statvfs(existing)
        DISK_FREE.labels(volume=volume).set(stat.f_bavail * stat.f_frsize)
        DISK_SIZE.labels(volume=volume).set(stat.f_blocks * stat.f_frsize)
