"""Ephemeral shared state: sessions, OAuth state, rate limits and quota counters.

Redis in production; an in-process store with the same interface in embedded mode.
"""

from __future__ import annotations

from app.settings import Settings
from app.store.base import Store
from app.store.memory import MemoryStore
from app.store.redis import RedisStore


def make_store(settings: Settings) -> Store:
    if settings.redis_url:
        return RedisStore(settings.redis_url)
    return MemoryStore()


__all__ = ["MemoryStore", "RedisStore", "Store", "make_store"]
