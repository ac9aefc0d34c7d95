"""Redis snapshot without touching the server's files: every key as DUMP + its TTL.

Why not the RDB file (BGSAVE / `redis-cli --rdb`): restoring an RDB means stopping Redis and
replacing its file, impossible on a managed Redis or from the api's network position, and it
needs redis-cli in the image. DUMP values are in RDB serialisation, RESTORE ... REPLACE
puts them back online. The keys are read with SCAN, so the snapshot is per key, not one
instant: right for Redis here (sessions, OAuth state, rate-limit and quota counters).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from redis import Redis

MAGIC = b"NOXREDIS1\n"


def dump_keys(url: str, target: Path, progress: Callable[[int], None] | None = None) -> int:
    """Write every key of ``url``'s database to ``target``; the number of keys."""
    client = Redis.from_url(url)
    count = 0
    try:
        with target.open("wb") as out:
            out.write(MAGIC)
            for key in client.scan_iter(count=1000):
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


def restore_keys(url: str, source: Path) -> int:
    """Put every key of ``source`` back (replacing existing ones); the number of keys."""
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
                if pttl == -2:  # gone before it was dumped
                    continue
                pipe.restore(key, max(pttl, 0), value, replace=True)
                count += 1
                if count % 1000 == 0:
                    pipe.execute()
            pipe.execute()
    finally:
        client.close()
    return count


def server_version(url: str) -> str:
    client = Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()
