"""deploy / rollback: the one code path behind scripts/deploy.sh and `dagger call deploy`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

from deploy.history import DEPLOYED, FAILED, Entry, current, load, record, rollback_target
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


@runtime_checkable
class RecordsReleases(Protocol):
    """A target that keeps (current, previous) image on itself, so rollback needs no local
    state (Kubernetes: annotations on the api Service). The history file is then a log."""

    def release_record(self) -> tuple[str | None, str | None]: ...
    def record_release(self, current: str, previous: str | None) -> None: ...


class DeployFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)


def deploy(
    target: Target, *, image: str, env: str, kind: str, state_dir: Path, smoke_url: str
) -> Entry:
    digest = target.digest(image)
    previous = target.current_image()
    say(f"{env}/{kind}: {image} ({digest}); running now: {previous or 'nothing'}")
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
        gate_after_deploy(env, smoke_url)
    except (RolloutFailed, SmokeFailed, LoadGateFailed) as exc:
        record(state_dir, Entry(env, kind, image, digest, FAILED, detail=str(exc)))
        if previous is None:
            raise DeployFailed(f"{exc}; nothing ran before, nothing to roll back to") from exc
        say(f"FAILED ({exc}); rolling back to {previous}")
        target.restore(previous)
        smoke_test(smoke_url)
        raise DeployFailed(f"{exc}; rolled back to {previous}") from exc
    if isinstance(target, RecordsReleases):
        target.record_release(image, previous if previous != image else None)
    entry = Entry(env, kind, image, digest, DEPLOYED)
    record(state_dir, entry)
    say(f"deployed {image}")
    return entry


def rollback(target: Target, *, env: str, kind: str, state_dir: Path, smoke_url: str) -> Entry:
    if isinstance(target, RecordsReleases):
        now_image, back_image = target.release_record()
        if now_image is None or back_image is None:
            raise DeployFailed(f"the {kind} target of {env} records no earlier release")
        say(f"rolling {env} back from {now_image} to {back_image} (record on the target)")
        now_digest, back_digest = target.digest(now_image), target.digest(back_image)
    else:
        entries = load(state_dir, env=env, target=kind)
        now, back = current(entries), rollback_target(entries)
        if now is None or back is None:
            raise DeployFailed(f"no earlier successful {kind} deploy of {env} in the history")
        say(f"rolling {env} back from {now.image} to {back.image} (deployed {back.time})")
        now_image, back_image = now.image, back.image
        now_digest, back_digest = now.digest, back.digest
    target.restore(back_image)
    smoke_test(smoke_url)
    if isinstance(target, RecordsReleases):
        target.record_release(back_image, now_image)
    entry = Entry(
        env, kind, back_image, back_digest, DEPLOYED, action="rollback", detail=now_digest
    )
    record(state_dir, entry)
    return entry
