"""What one api process holds for its lifetime, and the dependencies that hand it out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.cache import AuthCache
from app.sandbox.interface import Executor
from app.settings import Settings
from app.store.base import Store


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    store: Store
    executor: Executor
    auth_cache: AuthCache
    audit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


# Dependencies are ``async def`` so FastAPI calls them inline: a plain ``def`` would cost a
# thread-pool hop on every request.
async def get_state_dep(request: Request) -> AppState:
    return get_state(request)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.nox
    return state


async def get_settings_dep(request: Request) -> Settings:
    return get_state(request).settings


async def get_store(request: Request) -> Store:
    return get_state(request).store


async def get_executor(request: Request) -> Executor:
    return get_state(request).executor


StateDep = Annotated[AppState, Depends(get_state_dep)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[Store, Depends(get_store)]
ExecutorDep = Annotated[Executor, Depends(get_executor)]
