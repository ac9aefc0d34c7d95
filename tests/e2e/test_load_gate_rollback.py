"""A failed load gate rolls a deploy back, through deploy.rollout's real code path.

The server is a real ``nox serve``; the deploy target is a fake (FakeTarget, below): rolling
out the image "slow" throttles the server the way a CPU quota would (SIGSTOP/SIGCONT, running
10 ms of every 3 s), and restoring the previous image lifts the throttle. The throttle is far
below what the gate tolerates even on a busy machine: the gate's bound grows with the machine's
slowness (calibration), and at 20 ms of every second a release passed it at load 10.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.history import DEPLOYED, FAILED, load
from deploy.loadgate import gate, p95_bound_ms
from deploy.rollout import DeployFailed, deploy
from tests.support.nox_process import NoxProcess, nox_command, nox_serve

pytestmark = pytest.mark.e2e


class Throttle:
    """Let ``pid`` run ``on_s`` of every ``period_s``: a CPU quota from the outside."""

    def __init__(self, pid: int, on_s: float = 0.01, period_s: float = 3.0) -> None:
        self.pid, self.on_s, self.period_s = pid, on_s, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                os.kill(self.pid, signal.SIGSTOP)
                self._stop.wait(self.period_s - self.on_s)
                os.kill(self.pid, signal.SIGCONT)
                self._stop.wait(self.on_s)
        except ProcessLookupError:
            return  # the server is gone (its fixture ended it): nothing left to throttle

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)


@dataclass
class FakeTarget:
    """A fake deploy target: 'rolls' by throttling or freeing one real server."""

    server: NoxProcess
    running: str = "good"
    restored: list[str] = field(default_factory=list)
    throttle: Throttle | None = None
    record: tuple[str | None, str | None] = (None, None)

    def release_record(self) -> tuple[str | None, str | None]:
        return self.record

    def record_release(self, current: str, previous: str | None) -> None:
        self.record = (current, previous)

    def current_image(self) -> str | None:
        return self.running

    def digest(self, image: str) -> str:
        return f"sha256:{image}"

    def migrate(self, image: str) -> None:
        pass

    def roll(self, image: str) -> None:
        self.running = image
        if image == "slow":
            self.throttle = Throttle(self.server.process.pid)
            self.throttle.start()

    def restore(self, image: str) -> None:
        self.restored.append(image)
        self.running = image
        if self.throttle is not None:
            self.throttle.stop()
            self.throttle = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[NoxProcess, list[str]]]:
    # the fallback sandbox: this test is about the gate, not isolation
    env = {
        "NOX_ENV": "development",
        "NOX_DATA_DIR": str(tmp_path / "data"),
        "NOX_SANDBOX_BACKEND": "fallback",
    }
    nox_command("migrate", env=env)
    tokens = [
        nox_command("token", "create", "--email", f"l{n}@example.test", env=env) for n in (0, 1)
    ]
    with nox_serve(env, tmp_path) as process:
        yield process, [t.splitlines()[-1] for t in tokens]


def test_a_slow_release_fails_the_gate_and_is_rolled_back(
    server: tuple[NoxProcess, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    process, tokens = server
    monkeypatch.setenv("NOX_LOAD_TOKENS", ",".join(tokens))
    monkeypatch.setenv("NOX_LOAD_SECONDS", "5")
    target = FakeTarget(process)
    request.addfinalizer(lambda: target.restore(target.running))  # never leave it stopped
    state = tmp_path / "state"

    deploy(
        target, image="good2", env="staging", kind="fake", state_dir=state, smoke_url=process.url
    )
    assert target.restored == []

    with pytest.raises(DeployFailed, match="rolled back to good2") as failed:
        deploy(
            target, image="slow", env="staging", kind="fake", state_dir=state, smoke_url=process.url
        )
    assert target.restored == ["good2"] and target.running == "good2"
    assert "p95" in str(failed.value) or "errors" in str(failed.value)
    statuses = [(e.image, e.status) for e in load(state, env="staging", target="fake")]
    assert statuses == [("good2", DEPLOYED), ("slow", FAILED)]
    # and the restored release passes the gate again
    gate(process.url, tokens, seconds=4, bound_ms=p95_bound_ms())
