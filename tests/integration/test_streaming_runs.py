"""Streamed runs (SSE) through the Python client against a real ``nox serve``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import httpx
import pytest

from app.client import AsyncNoxClient, Finished, NoxClient, NoxError, Output
from app.sandbox.interface import RunStatus
from tests.support.nox_process import Served, embedded_env, served
from tests.support.run_markers import sleeper, wait_gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("streaming")
    with served(embedded_env(), tmp_path) as running:
        yield running


def test_output_arrives_while_the_program_runs(nox: Served) -> None:
    with NoxClient(nox.url, nox.alice) as client:
        started = time.monotonic()
        seen: list[tuple[float, object]] = []
        for event in client.stream("python", "import time\nprint(1)\ntime.sleep(2)\nprint(2)"):
            seen.append((time.monotonic() - started, event))
    outputs = [(t, e) for t, e in seen if isinstance(e, Output)]
    assert "".join(e.text for _, e in outputs) == "1\n2\n"  # however the chunks fell
    first, (end, last) = outputs[0][0], seen[-1]
    assert outputs[0][1].text.startswith("1")
    assert isinstance(last, Finished) and last.result.stdout == "1\n2\n"
    # The first line came before the program's 2 s sleep ended, not with the result.
    assert end - first >= 1.5, seen


def test_stderr_and_the_final_result_keep_the_synchronous_fields(nox: Served) -> None:
    with NoxClient(nox.url, nox.alice) as client:
        events = list(client.stream("shell", "echo out; echo err >&2; exit 4"))
        plain = client.run("shell", "echo out; echo err >&2; exit 4")
    streams = {e.stream: e.text for e in events if isinstance(e, Output)}
    assert streams == {"stdout": "out\n", "stderr": "err\n"}
    result = events[-1]
    assert isinstance(result, Finished)
    assert result.result.exit_code == plain.exit_code == 4
    assert result.result.status is plain.status is RunStatus.error


def test_limits_apply_to_streamed_runs(nox: Served) -> None:
    with NoxClient(nox.url, nox.alice) as client:
        events = list(client.stream("python", "print('x' * 10_000_000)"))
        with pytest.raises(NoxError) as refused:
            list(client.stream("python", "#" * 2_000_000))
    result = events[-1]
    assert isinstance(result, Finished) and result.result.status is RunStatus.output_limit
    sent = sum(len(e.text) for e in events if isinstance(e, Output))
    assert sent == len(result.result.stdout)  # nothing past the cap was streamed either
    assert refused.value.status == 413  # refused before any event, as a problem


def test_a_client_that_leaves_stops_the_run(nox: Served) -> None:
    marker = f"31{random.randint(100, 999)}.{random.randint(1000, 9999)}"
    with NoxClient(nox.url, nox.alice) as client:
        events = client.stream("python", sleeper(marker))
        first = next(iter(events))
        assert isinstance(first, Output) and first.text.startswith("started")
        events.close()  # type: ignore[attr-defined]
    assert wait_gone(marker), "the sandbox kept running after its client left"


def test_streamed_runs_count_in_metrics_like_others(nox: Served) -> None:
    def ok_runs() -> float:
        text = httpx.get(f"{nox.url}/metrics").text
        for line in text.splitlines():
            if line.startswith('nox_runs_total{language="shell",status="ok"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = ok_runs()
    with NoxClient(nox.url, nox.alice) as client:
        list(client.stream("shell", "true"))
    assert ok_runs() == before + 1


async def test_the_async_client_streams_submits_and_moves_files(nox: Served) -> None:
    async with AsyncNoxClient(nox.url, nox.alice) as client:
        events = [e async for e in client.stream("shell", "echo a; sleep 0.3; echo b")]
        await client.put_file("in.txt", b"from a file")
        job = await client.submit("python", "print(open('in.txt').read())")
        done = await client.wait(job.id, poll_s=0.1)
        listed = [f.path for f in await client.list_files()]
        await client.delete_file("in.txt")
        with pytest.raises(NoxError) as missing:
            await client.get_file("in.txt")
    assert "".join(e.text for e in events if isinstance(e, Output)) == "a\nb\n"
    assert isinstance(events[-1], Finished)
    assert done.result is not None and done.result.stdout == "from a file\n"
    assert "in.txt" in listed and missing.value.status == 404
