"""The deploy log: one appended JSON line per attempt, read back per environment and target."""

from __future__ import annotations

from pathlib import Path

from deploy.history import DEPLOYED, FAILED, Entry, load, record


def entry(digest: str, status: str = DEPLOYED, action: str = "deploy", detail: str = "") -> Entry:
    return Entry("prod", "swarm", f"nox@{digest}", digest, status, action, detail)


def test_every_attempt_is_appended_failures_included(tmp_path: Path) -> None:
    for line in (entry("a"), entry("b", FAILED), entry("a", action="rollback", detail="b")):
        record(tmp_path, line)
    logged = load(tmp_path, env="prod", target="swarm")
    assert [(e.digest, e.status, e.action) for e in logged] == [
        ("a", DEPLOYED, "deploy"), ("b", FAILED, "deploy"), ("a", DEPLOYED, "rollback"),
    ]  # fmt: skip


def test_history_is_per_environment_and_target(tmp_path: Path) -> None:
    record(tmp_path, entry("a"))
    record(tmp_path, Entry("staging", "swarm", "nox@b", "b", DEPLOYED))
    record(tmp_path, Entry("prod", "k8s", "nox@c", "c", DEPLOYED))
    assert [e.digest for e in load(tmp_path, env="prod", target="swarm")] == ["a"]
    assert (tmp_path / "history.jsonl").read_text().count("\n") == 3
