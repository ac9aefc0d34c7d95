"""The runner on plain processes: statuses, streaming cap, wall clock, group kill."""

from __future__ import annotations

import os
import secrets
import signal

import pytest

from app.sandbox.interface import RunLimits, RunStatus
from app.sandbox.runner import Launch, prlimit_argv, run_launch

LIMITS = RunLimits(cpu_s=1, wall_s=3, memory_bytes=256 << 20, processes=10_000,
                   file_size_bytes=1 << 20, open_files=64, output_bytes=1000)  # fmt: skip
ENV = {"PATH": "/usr/bin:/bin"}


def sh(script: str, *, limits: RunLimits = LIMITS) -> Launch:
    return Launch(argv=[*prlimit_argv(limits), "/bin/sh", "-c", script], env=ENV)


async def test_exit_codes_map_to_ok_and_error() -> None:
    ok = await run_launch(sh("cat; echo err >&2"), limits=LIMITS, stdin="in\n")
    assert (ok.status, ok.exit_code, ok.stdout, ok.stderr) == (RunStatus.ok, 0, "in\n", "err\n")
    failed = await run_launch(sh("exit 7"), limits=LIMITS)
    assert (failed.status, failed.exit_code, failed.signal) == (RunStatus.error, 7, None)


async def test_environment_is_only_what_the_launch_gives() -> None:
    os.environ["NOX_RUNNER_SENTINEL"] = "leak"
    try:
        result = await run_launch(sh("env"), limits=LIMITS)
    finally:
        del os.environ["NOX_RUNNER_SENTINEL"]
    assert "leak" not in result.stdout


async def test_wall_clock_kills_the_whole_group() -> None:
    marker = secrets.token_hex(6)
    result = await run_launch(sh(f"sh -c 'sleep 30' {marker} & sleep 30"), limits=LIMITS)
    assert result.status is RunStatus.timeout and result.timed_out
    assert result.duration_ms < 6000
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    leftovers.append(pid)
        except OSError:
            pass
    assert leftovers == []


async def test_cpu_limit_reports_timeout() -> None:
    result = await run_launch(sh("while :; do :; done"), limits=LIMITS)
    assert result.status is RunStatus.timeout
    assert result.signal in {signal.SIGXCPU, signal.SIGKILL}


async def test_output_over_the_cap_is_cut_and_stops_the_run() -> None:
    result = await run_launch(sh("yes"), limits=LIMITS)
    assert result.status is RunStatus.output_limit and result.truncated
    assert len(result.stdout) == LIMITS.output_bytes
    assert not result.timed_out


async def test_a_signal_is_reported_as_killed() -> None:
    result = await run_launch(sh("kill -SEGV $$"), limits=LIMITS)
    assert (result.status, result.signal, result.exit_code) == (RunStatus.killed, 11, None)


@pytest.mark.parametrize("code", [137, 130])
async def test_launchers_reporting_128_plus_signal_are_decoded(code: int) -> None:
    launch = sh(f"exit {code}")
    launch.signal_in_exit_code = True
    result = await run_launch(launch, limits=LIMITS)
    assert (result.signal, result.exit_code) == (code - 128, None)


class _Collect:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def started(self) -> None:
        pass

    def output(self, stream: str, text: str) -> None:
        self.events.append((stream, text))


async def test_an_observer_gets_whole_characters_and_only_what_fits_the_cap() -> None:
    # "é" written as two bytes in two writes, 0.2 s apart: two reads, one character.
    split = r"printf '\303'; sleep 0.2; printf '\251\n'; printf 'x%.0s' $(seq 1 2000) >&2"
    seen = _Collect()
    result = await run_launch(sh(split), limits=LIMITS, observer=seen)
    stdout = "".join(text for stream, text in seen.events if stream == "stdout")
    stderr = "".join(text for stream, text in seen.events if stream == "stderr")
    assert stdout == result.stdout == "é\n"
    assert "\ufffd" not in "".join(text for _, text in seen.events)
    assert stderr == result.stderr and len(stderr) == LIMITS.output_bytes
    assert result.status is RunStatus.output_limit
