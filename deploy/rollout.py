"""deploy / rollback: the one code path behind scripts/deploy.sh and `dagger call deploy`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

from deploy.gate_policy import GateUnready, gate_users
from deploy.history import DEPLOYED, FAILED, Entry, record
from deploy.loadgate import LoadGateFailed, gate_after_deploy
from deploy.smoke import SmokeFailed
from deploy.smoke import smoke as smoke_test
from deploy.swarm import RolloutFailed


class Target(Protocol):
    def current_image(self) -> str | None: ...
    def digest(self, image: str) -> str: ...
    def migrate(self, image: str) -> None: ...
    def roll(self, image: str) -> None: ...
    def restore(self, image: str) -> None: ...

    def release_record(self) -> tuple[str | None, str | None]:
        """(current, previous) image as recorded on the target itself (Swarm: labels of the
        api service; Kubernetes: annotations of the api Service), so that rollback needs no
        local state. The history file is only an append-only log."""
        ...

    def record_release(self, current: str, previous: str | None) -> None: ...


@runtime_checkable
class ChecksFirst(Protocol):
    """A target that asks its cluster, before anything is applied, whether the release can
    run there as specified (Kubernetes: deploy/preflight.py); raises RolloutFailed if not."""

    def preflight(self) -> str: ...


class DeployFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)


def deploy(
    target: Target, *, image: str, env: str, kind: str, state_dir: Path, smoke_url: str
) -> Entry:
    try:
        users = gate_users(env)  # before the target is even asked: nothing may be applied
    except (GateUnready, LoadGateFailed) as exc:
        raise DeployFailed(str(exc)) from exc
    digest = target.digest(image)
    previous = target.current_image()
    say(f"{env}/{kind}: {image} ({digest}); running now: {previous or 'nothing'}")
    if isinstance(target, ChecksFirst):
        try:
            say(f"preflight\n{target.preflight()}")
        except RolloutFailed as exc:
            record(state_dir, Entry(env, kind, image, digest, FAILED, detail=f"preflight: {exc}"))
            raise DeployFailed(f"preflight refused, nothing applied: {exc}") from exc
    try:
        say("migrations (before any new code serves)")
        target.migrate(image)
    except RolloutFailed as exc:
        record(state_dir, Entry(env, kind, image, digest, FAILED, detail=f"migrate: {exc}"))
        raise DeployFailed(f"migrations failed, nothing rolled: {exc}") from exc
    try:
        say("rollout")
        target.roll(image)
        say(f"smoke test {smoke_url}")
        smoke_test(smoke_url)
        gate_after_deploy(env, smoke_url, users)
    except (RolloutFailed, SmokeFailed, LoadGateFailed) as exc:
        record(state_dir, Entry(env, kind, image, digest, FAILED, detail=str(exc)))
        if previous is None:
            raise DeployFailed(f"{exc}; nothing ran before, nothing to roll back to") from exc
        say(f"FAILED ({exc}); rolling back to {previous}")
        target.restore(previous)
        smoke_test(smoke_url)
        raise DeployFailed(f"{exc}; rolled back to {previous}") from exc
    if previous == image:  # the same image again: what it replaced is still the way back
        previous = target.release_record()[1]
    target.record_release(image, previous)
    entry = Entry(env, kind, image, digest, DEPLOYED)
    record(state_dir, entry)
    say(f"deployed {image}")
    return entry


def rollback(target: Target, *, env: str, kind: str, state_dir: Path, smoke_url: str) -> Entry:
    """Back to the image the target records as previous; the local log is never consulted."""
    now_image, back_image = target.release_record()
    if now_image is None or back_image is None:
        raise DeployFailed(f"the {kind} target of {env} records no earlier release")
    say(f"rolling {env} back from {now_image} to {back_image} (record on the target)")
    now_digest, back_digest = target.digest(now_image), target.digest(back_image)
    target.restore(back_image)
    smoke_test(smoke_url)
    target.record_release(back_image, now_image)
    entry = Entry(
        env, kind, back_image, back_digest, DEPLOYED, action="rollback", detail=now_digest
    )
    record(state_dir, entry)
    return entry
