"""In-process store for the embedded single-process mode."""

from __future__ import annotations

import asyncio
import time


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes | str, ttl_s: int) -> None:
        data = value.encode() if isinstance(value, str) else value
        self._data[key] = (data, time.monotonic() + ttl_s)

    async def getdel(self, key: str) -> bytes | None:
        item = self._live(key)
        self._data.pop(key, None)
        return item[0] if item else None

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

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
            self._data[key] = (text.encode(), expires)
            return value

    async def ttl(self, key: str) -> int:
        item = self._live(key)
        if item is None:
            return -2
        if item[1] is None:
            return -1
        return max(0, int(item[1] - time.monotonic() + 0.999))

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._data.clear()
