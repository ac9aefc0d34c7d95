"""The executor's seccomp profile is an allow-list: Docker's default profile (vendored in
tests/fixtures/seccomp/) resolved for a container without capabilities, plus what bubblewrap
needs, every difference a rule with its reason (``docs/sandbox.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "seccomp" / "executor.json"
DOCKER_DEFAULT = ROOT / "tests" / "fixtures" / "seccomp" / "docker-default.json"
# The executor container's architectures, in Docker's names (its archMap / includes.arches).
ARCHES = {"amd64", "x86", "x32", "arm64", "arm"}

# What bwrap (and the runner inside it) calls to set up a run.
BWRAP_NEEDS = ["unshare", "clone", "mount", "umount2", "pivot_root", "sethostname",
               "prctl", "seccomp", "setresuid", "setresgid", "setrlimit", "prlimit64", "execve",
               "capset", "pidfd_open", "wait4"]  # fmt: skip
# Kernel surfaces with a history of escapes or host-wide effects.
MUST_DENY = ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "kexec_load",
             "ptrace", "process_vm_readv", "process_vm_writev", "open_by_handle_at",
             "init_module", "finit_module", "delete_module", "reboot", "swapon",
             "io_uring_setup", "userfaultfd", "settimeofday", "clock_settime", "setns",
             "fsopen", "move_mount", "open_tree", "chroot", "mount_setattr"]  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _unconditional(rules: list[dict[str, Any]], action: str) -> set[str]:
    return {n for r in rules if r["action"] == action and not r.get("args") for n in r["names"]}


def _docker_allows_without_capabilities() -> set[str]:
    """Names Docker's default allows to a container with no capabilities on our architectures."""
    allowed: set[str] = set()
    for rule in _load(DOCKER_DEFAULT)["syscalls"]:
        includes, excludes = rule.get("includes", {}), rule.get("excludes", {})
        if rule["action"] != "SCMP_ACT_ALLOW" or rule.get("args") or includes.get("caps"):
            continue
        if "arches" in includes and not ARCHES & set(includes["arches"]):
            continue
        assert not excludes or "caps" in excludes, rule
        allowed |= set(rule["names"])
    return allowed


def test_default_action_denies_with_eperm() -> None:
    profile = _load(PROFILE)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert "SCMP_ARCH_X86_64" in profile["architectures"]


def test_every_rule_is_unconditional_and_commented() -> None:
    """No includes/excludes (Docker-only keys other runtimes may ignore, widening the rule)."""
    for rule in _load(PROFILE)["syscalls"]:
        assert not {"includes", "excludes"} & set(rule), rule["names"]
        assert len(rule.get("comment", "")) > 20, rule["names"]


def test_every_addition_to_dockers_default_is_for_bubblewrap() -> None:
    rules = _load(PROFILE)["syscalls"]
    added = _unconditional(rules, "SCMP_ACT_ALLOW") - _docker_allows_without_capabilities()
    assert added, "bubblewrap needs more than Docker's default: the additions are missing"
    for name in added:
        [rule] = [r for r in rules if name in r["names"] and r["action"] == "SCMP_ACT_ALLOW"]
        assert rule["comment"].startswith("bubblewrap: "), name


def test_every_removal_from_dockers_default_is_a_commented_deny_rule() -> None:
    rules = _load(PROFILE)["syscalls"]
    removed = _docker_allows_without_capabilities() - _unconditional(rules, "SCMP_ACT_ALLOW")
    assert removed <= _unconditional(rules, "SCMP_ACT_ERRNO"), removed


def test_argument_rules_are_dockers() -> None:
    """(Docker's capability-dependent clone rule drops out: bubblewrap needs clone unfiltered.)"""

    def with_args(rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
        plain = [r for r in rules if r.get("args") and not r.get("excludes")]
        return sorted((r["names"][0], json.dumps(r["args"])) for r in plain)

    assert with_args(_load(PROFILE)["syscalls"]) == with_args(_load(DOCKER_DEFAULT)["syscalls"])


@pytest.mark.parametrize("syscall", BWRAP_NEEDS)
def test_what_bubblewrap_needs_is_allowed(syscall: str) -> None:
    assert syscall in _unconditional(_load(PROFILE)["syscalls"], "SCMP_ACT_ALLOW")


@pytest.mark.parametrize("syscall", MUST_DENY)
def test_dangerous_syscalls_are_not_allowed(syscall: str) -> None:
    rules = _load(PROFILE)["syscalls"]
    assert all(syscall not in r["names"] for r in rules if r["action"] == "SCMP_ACT_ALLOW")
