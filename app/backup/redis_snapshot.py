"""Redis snapshot without touching the server's files: every key as DUMP + its TTL.

Why not the RDB file (BGSAVE / `redis-cli --rdb`): restoring an RDB means stopping Redis and
replacing its file, impossible on a managed Redis or from the api's network position, and it
needs redis-cli in the image. DUMP values are in RDB serialisation, RESTORE ... REPLACE
puts them back online. The keys are read with SCAN, so the snapshot is per key, not one
instant: right for Redis here (rate-limit and quota counters).

Credentials are never in a snapshot and never restored: a session or OAuth state put back
from a backup could be one revoked since (issue 16). Restoring keeps what the live Redis has
(its keys are newer than the backup's), shrinks every TTL by the backup's age and drops keys
that would have expired meanwhile.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from app.auth.cache import EPOCH_KEY

MAGIC = b"NOXREDIS1\n"
# sessions, OAuth state, runs in flight at backup time, the auth-cache epoch (bumped instead)
NEVER_RESTORED = (b"sess:", b"oauth:state:", b"q:conc:", EPOCH_KEY.encode())


def is_restorable(key: bytes) -> bool:
    return not key.startswith(NEVER_RESTORED)


def dump_keys(url: str, target: Path, progress: Callable[[int], None] | None = None) -> int:
    """Write every key of ``url``'s database to ``target``; the number of keys."""
    client = Redis.from_url(url)
    count = 0
    try:
        with target.open("wb") as out:
            out.write(MAGIC)
            for key in client.scan_iter(count=1000):
                if not is_restorable(key):
                    continue
                pipe = client.pipeline(transaction=False)
                pipe.dump(key)
                pipe.pttl(key)
                value, pttl = pipe.execute()
                if value is None:  # expired or deleted between SCAN and DUMP
                    continue
                out.write(struct.pack(">I", len(key)) + key)
                out.write(struct.pack(">qI", int(pttl), len(value)) + value)
                count += 1
                if progress and count % 1000 == 0:
                    progress(count)
    finally:
        client.close()
    return count


def restore_keys(url: str, source: Path, *, age_s: float) -> int:
    """Put back the restorable keys of ``source`` that the live Redis lacks, with TTLs shrunk
    by ``age_s`` (the backup's age); the number of keys restored."""
    client = Redis.from_url(url)
    count = 0
    try:
        with source.open("rb") as src:
            if src.read(len(MAGIC)) != MAGIC:
                raise ValueError(f"{source.name} is not a Nox Redis snapshot")
            pipe = client.pipeline(transaction=False)
            while header := src.read(4):
                key = src.read(struct.unpack(">I", header)[0])
                pttl, size = struct.unpack(">qI", src.read(12))
                value = src.read(size)
                ttl_ms = _remaining_ms(pttl, age_s)
                if ttl_ms is None or not is_restorable(key):
                    continue
                pipe.restore(key, ttl_ms, value)  # no REPLACE: a live key is newer
            count = _execute_keeping_live_keys(pipe)
    finally:
        client.close()
    return count


def _remaining_ms(pttl: int, age_s: float) -> int | None:
    """0 (no expiry) for a persistent key, None when it expired since the backup."""
    if pttl == -1:
        return 0
    left = pttl - int(age_s * 1000)
    return left if pttl >= 0 and left > 0 else None


def _execute_keeping_live_keys(pipe: Any) -> int:
    restored = 0
    for outcome in pipe.execute(raise_on_error=False):
        if isinstance(outcome, ResponseError) and "BUSYKEY" in str(outcome):
            continue
        if isinstance(outcome, Exception):
            raise outcome
        restored += 1
    return restored


def server_version(url: str) -> str:
    client = Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()
