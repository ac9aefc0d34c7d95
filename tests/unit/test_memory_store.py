"""The in-process store honours the same contract as Redis."""

from __future__ import annotations

import asyncio

from app.store.memory import MemoryStore


async def test_getdel_hands_a_value_out_once() -> None:
    store = MemoryStore()
    await store.set("k", "v", ttl_s=60)
    assert await store.getdel("k") == b"v"
    assert await store.getdel("k") is None


async def test_values_expire() -> None:
    store = MemoryStore()
    await store.set("k", b"v", ttl_s=0)
    await asyncio.sleep(0.01)
    assert await store.get("k") is None
    assert await store.ttl("k") == -2


async def test_incr_keeps_the_first_expiry_and_counts_concurrently() -> None:
    store = MemoryStore()
    await asyncio.gather(*(store.incr("n", 1, ttl_s=60) for _ in range(50)))
    assert await store.get("n") == b"50"
    assert 0 < await store.ttl("n") <= 60
    assert await store.incr_float("cpu", 0.25) == 0.25
    assert await store.incr_float("cpu", 0.5) == 0.75


async def test_ten_thousand_pending_logins_keep_the_store_bounded() -> None:
    store = MemoryStore(max_keys=1000)
    await store.set("sess:live-session", "user 1", 3600)
    for i in range(10_000):
        await store.set(f"oauth:pending:{i}", "x", 600)
    assert len(store) <= 1000
    assert await store.get("oauth:pending:9999") == b"x"  # the newest stay, the oldest went


async def test_expired_keys_are_swept_without_being_read_again() -> None:
    store = MemoryStore()
    for i in range(2000):
        await store.set(f"k{i}", "x", 0)  # already expired
    await asyncio.sleep(0)
    assert len(store) < 1100  # swept as later writes arrived, never read
