"""The executor's seccomp profile: it lets bubblewrap build its sandbox and denies the
syscalls a namespaced program should never reach (``../shared/lab/sandbox-in-containers.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PROFILE = Path(__file__).resolve().parents[2] / "seccomp" / "executor.json"

# What bwrap (and the runner inside it) calls to set up a run.
BWRAP_NEEDS = ["unshare", "clone", "clone3", "mount", "umount2", "pivot_root", "sethostname",
               "prctl", "setresuid", "setresgid", "setrlimit", "prlimit64", "execve",
               "capset", "pidfd_open", "wait4"]  # fmt: skip
# Kernel surfaces with a history of escapes or host-wide effects.
MUST_DENY = ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "kexec_load",
             "ptrace", "process_vm_readv", "process_vm_writev", "open_by_handle_at",
             "init_module", "finit_module", "delete_module", "reboot", "swapon",
             "io_uring_setup", "userfaultfd", "settimeofday", "clock_settime"]  # fmt: skip


def _profile() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PROFILE.read_text())
    return data


def _denied() -> set[str]:
    return {
        name
        for rule in _profile()["syscalls"]
        if rule["action"] != "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }


def test_profile_allows_by_default_and_names_the_architectures() -> None:
    profile = _profile()
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    assert "SCMP_ARCH_X86_64" in profile["architectures"]


@pytest.mark.parametrize("syscall", BWRAP_NEEDS)
def test_what_bubblewrap_needs_is_not_denied(syscall: str) -> None:
    assert syscall not in _denied()


@pytest.mark.parametrize("syscall", MUST_DENY)
def test_dangerous_syscalls_are_denied(syscall: str) -> None:
    assert syscall in _denied()
