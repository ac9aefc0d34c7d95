"""The executor's start-up self-check on /proc and user namespaces, on text recorded from
real containers (Docker 20.10 here: default, and with systempaths=unconfined) and hosts.
The container tier runs the real executor image without systempaths=unconfined."""

from __future__ import annotations

from pathlib import Path

from app.sandbox.selfcheck import (
    in_initial_user_namespace,
    isolation_problems,
    masked_proc_paths,
)

# /proc/self/mountinfo lines of a default Docker container (masked) and an unconfined one.
MASKED = """\
435 434 0:142 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
281 435 0:142 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
282 435 0:142 /fs /proc/fs ro,nosuid,nodev,noexec,relatime - proc proc rw
287 435 0:143 / /proc/acpi ro,relatime - tmpfs tmpfs ro,inode64
288 435 0:16 /null /proc/keys rw,nosuid - devtmpfs udev rw,size=4096k
"""
UNMASKED = "436 435 0:142 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"
HOST = UNMASKED + "40 436 0:37 / /proc/sys/fs/binfmt_misc rw,relatime - binfmt_misc b rw\n"
INITIAL_UID_MAP = "         0          0 4294967295\n"
POD_UID_MAP = "         0     65536      65536\n"  # hostUsers: false


def fake_proc(tmp_path: Path, mountinfo: str, uid_map: str) -> Path:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(mountinfo)
    (tmp_path / "self" / "uid_map").write_text(uid_map)
    return tmp_path


def test_runtime_masks_are_found_and_an_unmasked_proc_passes() -> None:
    assert masked_proc_paths(MASKED) == ["/proc/acpi", "/proc/bus", "/proc/fs", "/proc/keys"]
    assert masked_proc_paths(UNMASKED) == []
    assert masked_proc_paths(HOST) == []  # binfmt_misc does not block a new /proc


def test_the_initial_user_namespace_is_told_from_a_pod_namespace() -> None:
    assert in_initial_user_namespace(INITIAL_UID_MAP)
    assert not in_initial_user_namespace(POD_UID_MAP)


def test_masked_proc_and_host_users_are_each_named(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, MASKED, INITIAL_UID_MAP)
    problems = isolation_problems(require_own_userns=True, proc=proc)
    assert len(problems) == 2
    assert "/proc is masked (/proc/acpi" in problems[0] and "procMount" in problems[0]
    assert "hostUsers: false" in problems[1] and "UserNamespacesSupport" in problems[1]


def test_compose_shape_needs_no_user_namespace_and_a_pod_passes(tmp_path: Path) -> None:
    (tmp_path / "compose").mkdir()
    (tmp_path / "pod").mkdir()
    compose = fake_proc(tmp_path / "compose", UNMASKED, INITIAL_UID_MAP)
    assert isolation_problems(require_own_userns=False, proc=compose) == []
    pod = fake_proc(tmp_path / "pod", UNMASKED, POD_UID_MAP)
    assert isolation_problems(require_own_userns=True, proc=pod) == []
