"""A run's events as they happen: the observer that queues them, and the relay that hands them on.

The api's streamed runs (Server-Sent Events), the executor's streamed runs (NDJSON to the api)
and asynchronous runs all read a run the same way: wait until it has started (so refusals —
quota, busy, unavailable — are still plain HTTP errors), then take output events until the
result. Whoever stops reading (a client gone) cancels the run, which kills its sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
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
        self._pending: deque[Output] = deque()
        self._arrived = asyncio.Event()
        self._started = asyncio.Event()
        self.heartbeat_s = heartbeat_s
        self._task: asyncio.Task[T] | None = None

    # RunObserver
    def started(self) -> None:
        self._started.set()

    def output(self, stream: OutputStream, text: str) -> None:
        self._pending.append(Output(stream, text))
        self._arrived.set()

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

    def _take(self) -> Output:
        """The oldest output joined with the output of the same stream queued behind it (a
        reader that falls behind gets fewer, larger events; nothing is reordered)."""
        first = self._pending.popleft()
        parts = [first.text]
        while self._pending and self._pending[0].stream == first.stream:
            parts.append(self._pending.popleft().text)
        if not self._pending:
            self._arrived.clear()
        return first if len(parts) == 1 else Output(first.stream, "".join(parts))

    async def events(self) -> AsyncGenerator[Output | Heartbeat | Finished[T]]:
        """Output as it comes, heartbeats in silences, then the result (or the run's error
        raised). Closing the iterator early cancels the run."""
        task = self._task
        assert task is not None, "start() first"
        try:
            while True:
                if self._pending:
                    yield self._take()
                    continue
                if task.done():
                    yield Finished(task.result())
                    return
                arrived = asyncio.ensure_future(self._arrived.wait())
                try:
                    done, _ = await asyncio.wait(
                        {arrived, task},
                        timeout=self.heartbeat_s,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    arrived.cancel()
                if not done:
                    yield Heartbeat()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
