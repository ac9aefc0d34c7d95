"""Where `deploy.sh rollback` returns, read from the JSON-lines history."""

from __future__ import annotations

from pathlib import Path

from deploy.history import DEPLOYED, FAILED, Entry, current, load, record, rollback_target


def entry(digest: str, status: str = DEPLOYED, action: str = "deploy", detail: str = "") -> Entry:
    return Entry("prod", "swarm", f"nox@{digest}", digest, status, action, detail)


def test_rollback_returns_to_the_previous_good_deploy_skipping_failures() -> None:
    entries = [entry("a"), entry("b"), entry("c", FAILED)]
    assert current(entries) == entries[1]
    target = rollback_target(entries)
    assert target is not None and target.digest == "a"


def test_a_second_rollback_goes_further_back_never_to_the_abandoned_version() -> None:
    entries = [entry("a"), entry("b"), entry("c"), entry("b", action="rollback", detail="c")]
    target = rollback_target(entries)
    assert target is not None and target.digest == "a"


def test_nothing_to_roll_back_to_with_a_single_version() -> None:
    assert rollback_target([entry("a"), entry("a")]) is None
    assert rollback_target([]) is None


def test_history_is_per_environment_and_target(tmp_path: Path) -> None:
    record(tmp_path, entry("a"))
    record(tmp_path, Entry("staging", "swarm", "nox@b", "b", DEPLOYED))
    record(tmp_path, Entry("prod", "k8s", "nox@c", "c", DEPLOYED))
    assert [e.digest for e in load(tmp_path, env="prod", target="swarm")] == ["a"]
    assert (tmp_path / "history.jsonl").read_text().count("\n") == 3
