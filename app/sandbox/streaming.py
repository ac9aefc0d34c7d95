"""A run's events as they happen: the observer that queues them, and the relay that hands them on.

The api's streamed runs (Server-Sent Events), the executor's streamed runs (NDJSON to the api)
and asynchronous runs all read a run the same way: wait until it has started (so refusals —
quota, busy, unavailable — are still plain HTTP errors), then take output events until the
result. Whoever stops reading (a client gone) cancels the run, which kills its sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.sandbox.interface import OutputStream

T = TypeVar("T")

HEARTBEAT_S = 1.0  # silence longer than this yields a heartbeat (proxies, disconnect checks)


@dataclass(frozen=True)
class Output:
    stream: OutputStream
    text: str


@dataclass(frozen=True)
class Heartbeat:
    """Nothing happened for HEARTBEAT_S: the reader may check its client is still there."""


@dataclass(frozen=True)
class Finished(Generic[T]):
    result: T


class RunRelay(Generic[T]):
    """A ``RunObserver`` that queues events for one reader, and owns the run's task."""

    def __init__(self, heartbeat_s: float = HEARTBEAT_S) -> None:
        self._queue: asyncio.Queue[Output] = asyncio.Queue()
        self._started = asyncio.Event()
        self.heartbeat_s = heartbeat_s
        self._task: asyncio.Task[T] | None = None

    # RunObserver
    def started(self) -> None:
        self._started.set()

    def output(self, stream: OutputStream, text: str) -> None:
        self._queue.put_nowait(Output(stream, text))

    async def start(self, run: Callable[[RunRelay[T]], Awaitable[T]]) -> None:
        """Start ``run`` and return once its sandbox started; a run refused or failed before
        that raises here (the caller answers it as an ordinary HTTP error)."""
        self._task = asyncio.ensure_future(run(self))
        started = asyncio.ensure_future(self._started.wait())
        try:
            await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._task.cancel()
            raise
        finally:
            started.cancel()
        if self._task.done() and not self._started.is_set():
            self._task.result()  # raises the refusal

    async def events(self) -> AsyncGenerator[Output | Heartbeat | Finished[T]]:
        """Output as it comes, heartbeats in silences, then the result (or the run's error
        raised). Closing the iterator early cancels the run."""
        task = self._task
        assert task is not None, "start() first"
        try:
            while True:
                getter = asyncio.ensure_future(self._queue.get())
                done, _ = await asyncio.wait(
                    {getter, task}, timeout=self.heartbeat_s, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                if task in done:
                    while not self._queue.empty():
                        yield self._queue.get_nowait()
                    yield Finished(task.result())
                    return
                yield Heartbeat()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
