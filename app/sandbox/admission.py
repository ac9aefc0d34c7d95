"""Admission to the executor's sandboxes: a fixed number of slots, a bounded wait, fair turns.

Like Judge0's and Piston's worker pools, the executor runs at most ``capacity`` sandboxes at
once (plus ``reserved``, below); more wait in a bounded queue for at most ``max_wait_s`` and are
otherwise answered 503 with Retry-After (``SandboxesBusy``), never left to starve. The wall clock
of a run starts when its sandbox starts: queue time is never charged to it.

Fairness, as in fair-share schedulers: when a slot frees, the waiting user with the fewest runs
going (then the fewest waiting, then the shortest typical run, then whoever has waited longest in
turn) gets it, each user's own runs first in, first out; so a user with nothing running waits
for one slot at most, however many runs a burst has queued. ``reserved`` slots are taken only
by a *light* user: nothing running, nothing else waiting, and recent runs that held a slot for
less than LIGHT_RUN_S on average. A burst fills the shared slots, never those, so light users
are usually not queued at all; a new user's first run counts as light (nothing is known yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from app.observability.metrics import (
    SANDBOX_QUEUE_DEPTH,
    SANDBOX_QUEUE_WAIT,
    SANDBOX_REJECTIONS,
    SANDBOX_SLOTS,
    SANDBOX_SLOTS_IN_USE,
)
from app.sandbox.interface import ExecutorUnavailable

_RUN_S_PRIOR = 1.0  # a first guess at a run's length, for Retry-After before any run finished
LIGHT_RUN_S = 0.5  # a user whose runs hold a slot shorter than this on average is light
_KEEP_USERS = 4096


class SandboxesBusy(ExecutorUnavailable):
    """Every sandbox slot is taken and the queue is full, or the wait ran out."""

    def __init__(self, reason: str, detail: str, retry_after_s: int) -> None:
        self.reason = reason  # queue_full or wait_timeout
        self.retry_after_s = retry_after_s
        super().__init__(detail)


@dataclass
class _Waiter:
    user: str
    granted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Admission:
    def __init__(self, *, capacity: int, reserved: int, queue_max: int, max_wait_s: float):
        self.capacity = capacity
        self.reserved = reserved
        self.queue_max = queue_max
        self.max_wait_s = max_wait_s
        self.running: Counter[str] = Counter()
        self.in_use = 0
        self._queues: OrderedDict[str, deque[_Waiter]] = OrderedDict()  # round-robin order
        self._run_s = _RUN_S_PRIOR  # moving average of how long a slot is held
        self._run_avg: OrderedDict[str, float] = OrderedDict()  # user -> recent run length
        SANDBOX_SLOTS.set(capacity + reserved)
        self._publish()

    @property
    def total(self) -> int:
        return self.capacity + self.reserved

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def typical_run_s(self, user: str) -> float:
        """How long ``user``'s recent runs held a slot (moving average; 0 before any)."""
        return self._run_avg.get(user, 0.0)

    def heavy(self, user: str) -> bool:
        """Runs of a user whose recent runs were long get a lower CPU priority, so a light
        run admitted next to them is not slowed by them either (nice, as Judge0's workers)."""
        return self.typical_run_s(user) >= LIGHT_RUN_S

    def _queued(self, user: str) -> int:
        return len(self._queues.get(user, ()))

    def _light(self, user: str) -> bool:
        return (
            self.running[user] == 0
            and self._queued(user) <= 1
            and self.typical_run_s(user) < LIGHT_RUN_S
        )

    def _may_take(self, user: str) -> bool:
        free = self.total - self.in_use
        return free > 0 and (free > self.reserved or self._light(user))

    def _take(self, user: str) -> None:
        self.in_use += 1
        self.running[user] += 1

    def _turns(self) -> list[str]:
        """Waiting users, the one owed a slot most first (see the module's docstring)."""
        order = {user: i for i, user in enumerate(self._queues)}
        key = lambda u: (self.running[u], self._queued(u), self.typical_run_s(u), order[u])  # noqa: E731
        return sorted(self._queues, key=key)

    def _dispatch(self) -> None:
        """Grant free slots in turn, each user's oldest waiter first."""
        granted = True
        while granted:
            granted = False
            for user in self._turns():
                if not self._may_take(user):
                    continue
                waiter = self._queues[user].popleft()
                if not self._queues[user]:
                    del self._queues[user]
                else:
                    self._queues.move_to_end(user)
                self._take(user)
                waiter.granted.set_result(None)
                granted = True
                break
        self._publish()

    def _publish(self) -> None:
        SANDBOX_SLOTS_IN_USE.set(self.in_use)
        SANDBOX_QUEUE_DEPTH.set(self.waiting)

    def retry_after_s(self) -> int:
        """About when a slot will be free for a newcomer: the queue ahead, at the current pace."""
        return max(1, math.ceil(self._run_s * (self.waiting + 1) / self.total))

    def _reject(self, reason: str) -> SandboxesBusy:
        SANDBOX_REJECTIONS.labels(reason=reason).inc()
        detail = {
            "queue_full": f"all {self.total} sandboxes are busy and {self.waiting} runs wait",
            "wait_timeout": f"no sandbox became free within {self.max_wait_s:g} s",
        }[reason]
        return SandboxesBusy(reason, detail, self.retry_after_s())

    async def _wait(self, user: str) -> None:
        waiter = _Waiter(user)
        self._queues.setdefault(user, deque()).append(waiter)
        self._dispatch()  # may grant at once: a reserved slot for a user with nothing running
        if not waiter.granted.done() and self.waiting > self.queue_max:
            self._forget(waiter)
            raise self._reject("queue_full")
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
            # arrives together with the grant, and the run would go ahead for a client gone.
            async with asyncio.timeout(self.max_wait_s):
                await asyncio.shield(waiter.granted)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.granted.done():  # granted just as we gave up: hand the slot back
                self.release(user, held_s=0.0)
            else:
                self._forget(waiter)
            if isinstance(exc, TimeoutError):
                raise self._reject("wait_timeout") from None
            raise

    def _forget(self, waiter: _Waiter) -> None:
        queue = self._queues.get(waiter.user)
        if queue is not None:
            queue.remove(waiter)
            if not queue:
                del self._queues[waiter.user]
        self._publish()

    def release(self, user: str, *, held_s: float) -> None:
        self.in_use -= 1
        self.running[user] -= 1
        if self.running[user] <= 0:
            del self.running[user]
        if held_s:
            self._run_s = 0.8 * self._run_s + 0.2 * held_s
            before = self._run_avg.pop(user, held_s)
            self._run_avg[user] = 0.5 * before + 0.5 * held_s  # most recent users last
            if len(self._run_avg) > _KEEP_USERS:
                self._run_avg.popitem(last=False)
        self._dispatch()

    @contextlib.asynccontextmanager
    async def slot(self, user: str) -> AsyncIterator[float]:
        """Hold a sandbox slot for ``user``; yields the seconds spent waiting for it."""
        asked = time.monotonic()
        if not self._queues and self._may_take(user):
            self._take(user)
            self._publish()
        else:
            await self._wait(user)
        waited = time.monotonic() - asked
        SANDBOX_QUEUE_WAIT.observe(waited)
        started = time.monotonic()
        try:
            yield waited
        finally:
            self.release(user, held_s=time.monotonic() - started)
