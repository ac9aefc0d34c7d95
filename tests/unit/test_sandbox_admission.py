"""Admission to the sandboxes: capacity, a bounded FIFO wait, round-robin between users, and
slots a busy user cannot take while a user with nothing running needs one."""

from __future__ import annotations

import asyncio

import pytest

from app.sandbox.admission import Admission, SandboxesBusy


def admission(
    capacity: int = 1, reserved: int = 0, queue_max: int = 10, wait: float = 5
) -> Admission:
    return Admission(capacity=capacity, reserved=reserved, queue_max=queue_max, max_wait_s=wait)


async def hold(gate: Admission, user: str, release: asyncio.Event, order: list[str]) -> None:
    async with gate.slot(user):
        order.append(user)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_no_more_than_the_capacity_runs_at_once() -> None:
    gate, release, order = admission(capacity=2), asyncio.Event(), list[str]()
    tasks = [asyncio.ensure_future(hold(gate, f"u{i}", release, order)) for i in range(5)]
    await settle()
    assert gate.in_use == 2 and gate.waiting == 3 and len(order) == 2
    release.set()
    await asyncio.gather(*tasks)
    assert gate.in_use == 0 and gate.waiting == 0 and len(order) == 5


async def test_a_single_waiting_run_goes_before_a_burst_whose_runs_stay_in_order() -> None:
    gate, order = admission(capacity=1), []
    first = asyncio.Event()
    blocker = asyncio.ensure_future(hold(gate, "busy", first, []))
    await settle()

    async def run(user: str, n: int) -> None:
        async with gate.slot(user):
            order.append(f"{user}{n}")

    tasks = [asyncio.ensure_future(run("a", n)) for n in range(3)]
    await settle()
    tasks.append(asyncio.ensure_future(run("b", 0)))
    await settle()
    first.set()
    await asyncio.gather(blocker, *tasks)
    # b arrived after all of a's runs, yet waits for none of them.
    assert order == ["b0", "a0", "a1", "a2"]


async def test_a_user_with_nothing_running_gets_a_reserved_slot_at_once() -> None:
    gate, release = admission(capacity=2, reserved=1), asyncio.Event()
    burners = [asyncio.ensure_future(hold(gate, f"burner{i % 2}", release, [])) for i in range(6)]
    await settle()
    assert gate.in_use == 2  # burners never take the reserved slot
    async with gate.slot("light") as waited:
        assert waited < 0.05 and gate.in_use == 3
    release.set()
    await asyncio.gather(*burners)


async def test_a_full_queue_is_answered_busy_with_retry_after() -> None:
    gate, release = admission(capacity=1, queue_max=1), asyncio.Event()
    running = asyncio.ensure_future(hold(gate, "a", release, []))
    queued = asyncio.ensure_future(hold(gate, "b", release, []))
    await settle()
    with pytest.raises(SandboxesBusy) as refused:
        async with gate.slot("c"):
            pass
    assert refused.value.reason == "queue_full" and refused.value.retry_after_s >= 1
    assert gate.waiting == 1
    release.set()
    await asyncio.gather(running, queued)


async def test_a_wait_that_runs_out_is_answered_busy_and_leaves_the_queue() -> None:
    gate, release = admission(capacity=1, wait=0.05), asyncio.Event()
    running = asyncio.ensure_future(hold(gate, "a", release, []))
    await settle()
    with pytest.raises(SandboxesBusy, match=r"within 0\.05 s") as refused:
        async with gate.slot("b"):
            pass
    assert refused.value.reason == "wait_timeout" and gate.waiting == 0
    release.set()
    await running


async def test_a_waiter_whose_client_went_away_gives_up_its_place() -> None:
    gate, release = admission(capacity=1), asyncio.Event()
    running = asyncio.ensure_future(hold(gate, "a", release, []))
    gone = asyncio.ensure_future(hold(gate, "b", release, []))
    await settle()
    gone.cancel()
    await settle()
    assert gate.waiting == 0
    release.set()
    await running
    assert gate.in_use == 0


async def test_after_a_run_the_next_slot_goes_to_the_user_with_fewest_runs_going() -> None:
    gate, release = admission(capacity=2), asyncio.Event()
    order: list[str] = []
    heavy = [asyncio.ensure_future(hold(gate, "heavy", release, order)) for _ in range(2)]
    await settle()
    waiting = [asyncio.ensure_future(hold(gate, u, release, order)) for u in ("heavy", "other")]
    await settle()
    release.set()
    await asyncio.gather(*heavy, *waiting)
    assert order[2] == "other"
