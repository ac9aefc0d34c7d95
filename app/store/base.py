"""The store interface both backends implement."""

from __future__ import annotations

from typing import Protocol


class Store(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes | str, ttl_s: int) -> None: ...

    async def getdel(self, key: str) -> bytes | None:
        """Return and delete atomically: a value can be taken once."""
        ...

    async def delete(self, key: str) -> None: ...

    async def expire(self, key: str, ttl_s: int) -> bool:
        """Give an existing ``key`` a new expiry; False when it is missing. Unlike ``set`` this
        needs no memory, so it still succeeds on a Redis at its ``maxmemory``."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl_s`` is set when the key is created."""
        ...

    async def incr_float(self, key: str, amount: float, ttl_s: int | None = None) -> float: ...

    async def ttl(self, key: str) -> int:
        """Seconds left before ``key`` expires; -1 without expiry, -2 when missing."""
        ...

    async def append(self, key: str, value: bytes | str, ttl_s: int) -> int:
        """Append to the list at ``key`` (its expiry set to ``ttl_s``); the new length."""
        ...

    async def items(self, key: str, start: int = 0) -> list[bytes]:
        """The list at ``key`` from index ``start``; empty when missing."""
        ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...
