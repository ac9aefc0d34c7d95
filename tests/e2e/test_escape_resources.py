"""Escape suite, resources: every runaway program is stopped and reported with its status."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from tests.e2e.sandbox_rig import CPU_BOUND, Rig, processes_with, rig_fixture  # noqa: F401

pytestmark = [pytest.mark.e2e, CPU_BOUND]

FORK_COUNT = """
import os, sys, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as exc:
    print(n, exc.errno)
"""

FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""


async def test_print_runs_and_reports_ok(rig: Rig) -> None:
    body = await rig.python(rig.alice, "import sys; print(sys.argv[1:]); print(input())",
                            args=["a", "b"], stdin="from stdin\n")  # fmt: skip
    assert body["status"] == "ok" and body["exit_code"] == 0
    assert body["stdout"] == "['a', 'b']\nfrom stdin\n"
    shell = await rig.shell(rig.alice, "echo $HOME; exit 3")
    assert (shell["status"], shell["exit_code"], shell["stdout"]) == ("error", 3, "/workspace\n")


async def test_cpu_loop_is_stopped_by_the_cpu_limit(rig: Rig) -> None:
    body = await rig.python(rig.alice, "while True: pass")
    assert body["status"] == "timeout" and body["timed_out"] is True
    assert body["signal"] == 9 and body["exit_code"] is None


async def test_sleep_past_the_wall_limit_is_killed(rig: Rig) -> None:
    body = await rig.python(rig.alice, "import time; time.sleep(60)", timeout_s=1)
    assert body["status"] == "timeout" and body["timed_out"] is True
    assert body["duration_ms"] < 4000


async def test_a_request_cannot_raise_the_wall_limit(rig: Rig) -> None:
    body = await rig.python(rig.alice, "import time; time.sleep(60)", timeout_s=600)
    assert body["status"] == "timeout"
    assert body["duration_ms"] < (rig.settings.sandbox.wall_s + 2) * 1000


async def test_memory_bomb_hits_the_memory_limit(rig: Rig) -> None:
    body = await rig.python(rig.alice, "chunks = []\nwhile True: chunks.append(bytearray(8 << 20))")
    # Told by the kernel (the run's cgroup counted an OOM kill), not read from stderr.
    assert body["status"] == "memory_limit"
    assert 0 < body["memory_peak_bytes"] <= rig.settings.sandbox.memory_bytes


async def test_fork_bomb_is_capped_and_leaves_no_process(rig: Rig) -> None:
    marker = f"nox-forkbomb-{secrets.token_hex(6)}"
    counted = await rig.python(rig.alice, FORK_COUNT, args=[marker], timeout_s=3)
    forks, errno = map(int, counted["stdout"].split())
    assert errno == 11  # EAGAIN from RLIMIT_NPROC, not the wall clock
    assert forks < rig.settings.sandbox.processes
    # Every process forks forever: the run is saturated at its process limit until the wall
    # clock ends it. The marker is in each fork's argv, so leftovers would show on the host.
    bomb = await rig.python(rig.alice, FORK_BOMB, args=[marker], timeout_s=2)
    assert bomb["status"] == "timeout"
    assert processes_with(marker) == []
    after = await rig.python(rig.alice, "print('still serving')")
    assert after["stdout"] == "still serving\n"


async def test_background_process_does_not_outlive_its_run(rig: Rig) -> None:
    marker = f"nox-daemon-{secrets.token_hex(6)}"
    script = (
        f"nohup sh -c 'sleep 30' {marker} >/dev/null 2>&1 &\n"
        f"setsid sh -c 'sleep 30' {marker}-setsid >/dev/null 2>&1 &\n"
        "echo started"
    )
    body = await rig.shell(rig.alice, script)
    assert (body["status"], body["stdout"]) == ("ok", "started\n")
    await asyncio.sleep(0.2)
    assert processes_with(marker) == []


async def test_100_mb_of_output_is_cut_at_the_cap(rig: Rig) -> None:
    code = "import sys\nfor _ in range(100): sys.stdout.write('x' * (1 << 20))"
    body = await rig.python(rig.alice, code)
    assert body["status"] == "output_limit" and body["truncated"] is True
    assert len(body["stdout"]) == rig.settings.sandbox.output_bytes


async def test_1_gb_file_stops_at_the_file_size_limit(rig: Rig) -> None:
    code = (
        "import errno\n"
        "with open('big.bin', 'wb') as f:\n"
        "    try:\n"
        "        for _ in range(1024): f.write(b'0' * (1 << 20))\n"
        "    except OSError as exc: print('refused', errno.errorcode[exc.errno])\n"
    )
    body = await rig.python(rig.alice, code)
    assert body["stdout"] == "refused EFBIG\n"
    listing = await rig.client.get("/api/v7/files", headers=rig.auth(rig.alice))
    sizes = {f["path"]: f["size"] for f in listing.json()["files"]}
    assert sizes["big.bin"] <= rig.settings.sandbox.file_size_bytes
    tmp = await rig.shell(rig.alice, "head -c 1073741824 /dev/zero > /tmp/big; echo rc=$?")
    assert "rc=0" not in tmp["stdout"]


async def test_leftover_check_does_see_a_live_run(rig: Rig) -> None:
    """The host-side check the tests above rely on finds a run's processes while it lives."""
    marker = f"nox-alive-{secrets.token_hex(6)}"
    run = asyncio.ensure_future(
        rig.python(rig.alice, "import time; time.sleep(30)", args=[marker], timeout_s=2)
    )
    seen: list[int] = []
    for _ in range(40):
        await asyncio.sleep(0.05)
        seen = processes_with(marker)
        if seen:
            break
    assert seen, "a live sandboxed process was not visible from the host"
    assert (await run)["status"] == "timeout"
    assert processes_with(marker) == []


async def test_each_run_has_its_own_process_budget(rig: Rig) -> None:
    """Concurrent runs share a host uid but not a process count: one user's fork bomb cannot
    starve another's run (RLIMIT_NPROC is set inside each run's user namespace)."""
    alice, bob = await asyncio.gather(
        rig.python(rig.alice, FORK_COUNT, timeout_s=4),
        rig.python(rig.bob, FORK_COUNT, timeout_s=4),
    )
    counts = [int(body["stdout"].split()[0]) for body in (alice, bob)]
    limit = rig.settings.sandbox.processes
    assert all(limit - 4 <= n < limit for n in counts), counts
