"""Asynchronous runs against real ``nox serve`` processes: embedded, and two replicas sharing
PostgreSQL and Redis (one replica follows and cancels what the other runs; results outlive a
restart of every api process)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.client import Cancelled, Finished, NoxClient, NoxError, Output
from app.jobs.models import JobStatus
from tests.integration.test_replicas import replica_env
from tests.support.nox_process import Served, embedded_env, nox_command, nox_serve, served
from tests.support.run_markers import sleeper, wait_gone

pytestmark = pytest.mark.integration

PROGRAM = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n"


def _marker() -> str:
    return f"32{random.randint(100, 999)}.{random.randint(1000, 9999)}"


@pytest.fixture(scope="module")
def nox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("async")
    with served(embedded_env(), tmp_path) as running:
        yield running


def test_submit_answers_at_once_then_the_result_is_kept(nox: Served) -> None:
    answer = httpx.post(
        f"{nox.url}/api/v7/runs",
        json={"language": "python", "code": PROGRAM},
        headers={"Authorization": f"Bearer {nox.alice}"},
    )
    assert answer.status_code == 202
    job = answer.json()
    assert answer.headers["location"] == f"/api/v7/runs/{job['id']}"
    assert job["status"] in ("queued", "running")
    with NoxClient(nox.url, nox.alice) as client:
        done = client.wait(job["id"], poll_s=0.1, timeout_s=30)
        assert done.status is JobStatus.finished
        assert done.result is not None and done.result.exit_code == 3
        assert (done.result.stdout, done.result.stderr) == ("out\n", "err\n")
        events = list(client.follow(job["id"]))  # replayed from the start after the end
        resumed = list(client.follow(job["id"], after=events[0].id))
    assert isinstance(events[-1], Finished) and events[-1].result == done.result
    texts = {e.stream: e.text for e in events if isinstance(e, Output)}
    assert texts == {"stdout": "out\n", "stderr": "err\n"}
    assert [e.id for e in resumed] == [e.id for e in events[1:]]


def test_following_a_running_job_streams_its_output(nox: Served) -> None:
    with NoxClient(nox.url, nox.alice) as client:
        job = client.submit("shell", "echo one; sleep 1; echo two")
        events = list(client.follow(job.id))
    assert "".join(e.text for e in events if isinstance(e, Output)) == "one\ntwo\n"
    assert isinstance(events[-1], Finished) and events[-1].result.exit_code == 0


def test_cancel_kills_the_sandbox(nox: Served) -> None:
    marker = _marker()
    with NoxClient(nox.url, nox.alice) as client:
        job = client.submit("python", sleeper(marker))
        first = next(iter(client.follow(job.id)))
        assert isinstance(first, Output)
        client.cancel(job.id)
        assert wait_gone(marker), "the sandbox kept running after DELETE"
        ended = client.wait(job.id, poll_s=0.1, timeout_s=10)
        assert ended.status is JobStatus.cancelled and ended.result is None
        assert isinstance(list(client.follow(job.id))[-1], Cancelled)
        client.cancel(job.id)  # an ended job: deleted (204)
        with pytest.raises(NoxError) as gone:
            client.job(job.id)
    assert gone.value.status == 404


def test_a_job_is_its_owners_only(nox: Served) -> None:
    with NoxClient(nox.url, nox.alice) as alice, NoxClient(nox.url, nox.bob) as bob:
        job = alice.submit("shell", "echo private")
        for attempt in (
            lambda: bob.job(job.id),
            lambda: bob.cancel(job.id),
            lambda: list(bob.follow(job.id)),
        ):
            with pytest.raises(NoxError) as refused:
                attempt()
            assert refused.value.status == 404
        assert alice.wait(job.id, poll_s=0.1).status is JobStatus.finished


def test_bad_ids_and_bodies_are_refused_before_any_work(nox: Served) -> None:
    auth = {"Authorization": f"Bearer {nox.alice}"}
    assert httpx.get(f"{nox.url}/api/v7/runs/not-an-id", headers=auth).status_code == 422
    missing = httpx.get(f"{nox.url}/api/v7/runs/{'A' * 22}", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = httpx.post(
        f"{nox.url}/api/v7/runs", json={"language": "ruby", "code": "1"}, headers=auth
    )
    assert wrong.status_code == 422
    huge_body = {"language": "shell", "script": "#" * 2_000_000}
    huge = httpx.post(f"{nox.url}/api/v7/runs", json=huge_body, headers=auth)
    assert huge.status_code == 413


def test_the_concurrency_quota_refuses_at_submission(tmp_path: Path) -> None:
    env = embedded_env(NOX_QUOTAS__CONCURRENT_RUNS="1")
    marker = _marker()
    with served(env, tmp_path) as nox, NoxClient(nox.url, nox.alice) as client:
        running = client.submit("python", sleeper(marker))
        with pytest.raises(NoxError) as refused:
            client.submit("shell", "true")
        assert refused.value.status == 429 and refused.value.retry_after is not None
        client.cancel(running.id)
        assert wait_gone(marker)


def test_replicas_share_jobs_and_results_outlive_a_restart(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = replica_env(postgres_url, redis_url, tmp_path)
    nox_command("migrate", env=env)
    alice = nox_command("token", "create", "--email", "async-alice@example.test", env=env)
    marker = _marker()
    with (
        nox_serve(env, tmp_path) as one,
        nox_serve(env, tmp_path) as two,
        NoxClient(one.url, alice) as on_one,
        NoxClient(two.url, alice) as on_two,
    ):
        finished = on_one.submit("shell", "echo kept")
        assert on_two.wait(finished.id, poll_s=0.1).status is JobStatus.finished
        running = on_one.submit("python", sleeper(marker))
        first = next(iter(on_two.follow(running.id)))  # runs on one, followed on two
        assert isinstance(first, Output) and first.text.startswith("started")
        on_two.cancel(running.id)  # cancelled through the replica not running it
        assert wait_gone(marker), "a cancel made on another replica did not stop the run"
        assert on_one.wait(running.id, poll_s=0.1).status is JobStatus.cancelled
    with nox_serve(env, tmp_path) as again, NoxClient(again.url, alice) as client:
        kept = client.job(finished.id)
    assert kept.status is JobStatus.finished
    assert kept.result is not None and kept.result.stdout == "kept\n"
