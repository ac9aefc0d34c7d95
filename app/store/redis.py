"""Redis-backed store: shared by every api replica."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

_INCR_WITH_TTL = """
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return v
"""


class RedisStore:
    name = "redis"

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10
        )
        self._incr: Any = self._redis.register_script(_INCR_WITH_TTL)

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(key)
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes | str, ttl_s: int) -> None:
        await self._redis.set(key, value, ex=ttl_s)

    async def getdel(self, key: str) -> bytes | None:
        value = await self._redis.getdel(key)
        return value.encode() if isinstance(value, str) else value

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def expire(self, key: str, ttl_s: int) -> bool:
        return bool(await self._redis.expire(key, ttl_s))

    async def incr(self, key: str, amount: int = 1, ttl_s: int | None = None) -> int:
        return int(await self.incr_float(key, amount, ttl_s))

    async def incr_float(self, key: str, amount: float, ttl_s: int | None = None) -> float:
        value = await self._incr(keys=[key], args=[amount, "" if ttl_s is None else ttl_s])
        return float(value)

    async def ttl(self, key: str) -> int:
        return int(await self._redis.ttl(key))

    async def append(self, key: str, value: bytes | str, ttl_s: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, value)
            pipe.expire(key, ttl_s)
            length, _ = await pipe.execute()
        return int(length)

    async def items(self, key: str, start: int = 0) -> list[bytes]:
        values = await self._redis.lrange(key, start, -1)
        return [v.encode() if isinstance(v, str) else v for v in values]

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()
