"""The relay between a run and its reader: refusals before the start, order, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from app.sandbox.streaming import Finished, Heartbeat, Output, RunRelay
from app.store.memory import MemoryStore


async def test_a_refusal_before_the_start_is_raised_by_start() -> None:
    async def refused(_relay: RunRelay[str]) -> str:
        raise LookupError("quota")

    with pytest.raises(LookupError, match="quota"):
        await RunRelay[str]().start(refused)


async def test_output_in_order_merged_per_stream_then_the_result() -> None:
    async def run(relay: RunRelay[str]) -> str:
        relay.started()
        for stream, text in [("stdout", "a"), ("stdout", "b"), ("stderr", "c"), ("stdout", "d")]:
            relay.output(stream, text)  # type: ignore[arg-type]
        return "done"

    relay: RunRelay[str] = RunRelay()
    await relay.start(run)
    events = [e async for e in relay.events()]
    assert events == [
        Output("stdout", "ab"),
        Output("stderr", "c"),
        Output("stdout", "d"),
        Finished("done"),
    ]


async def test_silence_yields_heartbeats_and_closing_cancels_the_run() -> None:
    cancelled = asyncio.Event()

    async def run(relay: RunRelay[str]) -> str:
        relay.started()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    relay: RunRelay[str] = RunRelay(heartbeat_s=0.05)
    await relay.start(run)
    events = relay.events()
    assert isinstance(await anext(events), Heartbeat)
    await events.aclose()
    assert cancelled.is_set()


async def test_memory_store_lists_expire_and_are_deleted() -> None:
    store = MemoryStore()
    assert await store.append("l", b"a", ttl_s=60) == 1
    assert await store.append("l", "b", ttl_s=60) == 2
    assert await store.items("l") == [b"a", b"b"]
    assert await store.items("l", 1) == [b"b"]
    await store.delete("l")
    assert await store.items("l") == []
    await store.append("gone", b"x", ttl_s=0)
    assert await store.items("gone") == []
