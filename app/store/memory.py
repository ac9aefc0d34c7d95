"""In-process store for the embedded single-process mode.

Expired keys are swept as writes arrive (not only when read again), and the store holds at most
``max_keys``: past that the oldest keys go first. Anonymous traffic (login starts) can then
neither grow it without bound nor keep dead keys alive.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_MAX_KEYS = 100_000
_SWEEP_EVERY = 1024  # writes between two sweeps of expired keys


class MemoryStore:
    name = "memory"

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lists: dict[str, list[bytes]] = {}  # list values; their keys live in _data
        self._lock = asyncio.Lock()
        self.max_keys = max_keys
        self._writes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _put(self, key: str, item: tuple[bytes, float | None]) -> None:
        self._data.pop(key, None)  # re-inserted: insertion order is age order
        self._data[key] = item
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0 or len(self._data) > self.max_keys:
            self._sweep()

    def _sweep(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._data.items() if expires and expires <= now]:
            self._drop(key)
        while len(self._data) > self.max_keys:  # still full: the oldest go
            self._drop(next(iter(self._data)))

    def _drop(self, key: str) -> None:
        self._data.pop(key, None)
        self._lists.pop(key, None)

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            self._drop(key)
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes | str, ttl_s: int) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._put(key, (data, time.monotonic() + ttl_s))

    async def getdel(self, key: str) -> bytes | None:
        item = self._live(key)
        self._drop(key)
        return item[0] if item else None

    async def delete(self, key: str) -> None:
        self._drop(key)

    async def expire(self, key: str, ttl_s: int) -> bool:
        item = self._live(key)
        if item is None:
            return False
        self._data[key] = (item[0], time.monotonic() + ttl_s)
        return True

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        return int(await self.incr_float(key, amount, ttl_s))

    async def incr_float(self, key: str, amount: float, ttl_s: int | None = None) -> float:
        async with self._lock:
            item = self._live(key)
            if item is None:
                expires = time.monotonic() + ttl_s if ttl_s is not None else None
                value = float(amount)
            else:
                expires = item[1]
                value = float(item[0]) + amount
            text = str(int(value)) if value.is_integer() else repr(value)
            self._put(key, (text.encode(), expires))
            return value

    async def ttl(self, key: str) -> int:
        item = self._live(key)
        if item is None:
            return -2
        if item[1] is None:
            return -1
        return max(0, int(item[1] - time.monotonic() + 0.999))

    async def append(self, key: str, value: bytes | str, ttl_s: int) -> int:
        data = value.encode() if isinstance(value, str) else value
        self._lists.setdefault(key, []).append(data)
        self._put(key, (b"list", time.monotonic() + ttl_s))  # expiry and age, like any key
        return len(self._lists[key])

    async def items(self, key: str, start: int = 0) -> list[bytes]:
        if self._live(key) is None:
            return []
        return list(self._lists.get(key, [])[start:])

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._data.clear()
        self._lists.clear()
