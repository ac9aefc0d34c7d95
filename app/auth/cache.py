"""A short-lived, per-process cache of authenticated callers.

Resolving a token costs a database round trip; the cache turns repeated calls by the same
token into a dictionary lookup. It never outlives a revocation: every revocation, role or
active change bumps an epoch in the shared store, and each request compares the epoch it saw
(one store read, which the rate limit makes anyway) before trusting a cached entry, so every
replica drops its cache on the next request after the change.
"""

from __future__ import annotations

import time

from app.auth.caller import Caller
from app.store.base import Store

EPOCH_KEY = "auth:epoch"
EPOCH_TTL_S = 30 * 86_400
MAX_ENTRIES = 10_000


class AuthCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._epoch: bytes | None = None

    async def sync(self, store: Store) -> None:
        """Drop every entry when another process (or this one) bumped the epoch."""
        epoch = await store.get(EPOCH_KEY)
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch

    def get(self, key: str) -> Caller | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, caller: Caller) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_s, caller)


async def invalidate_all(store: Store) -> None:
    """Make every replica forget its cached callers (after a revocation or user change)."""
    await store.incr(EPOCH_KEY, 1, ttl_s=EPOCH_TTL_S)
