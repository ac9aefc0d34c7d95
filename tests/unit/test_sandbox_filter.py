"""The hand-built BPF deny-list: well formed, every jump lands inside the program."""

from __future__ import annotations

import platform
import struct

import pytest

from app.sandbox.seccomp import DENIED_SYSCALLS, deny_filter

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 filter")

RET, JMP = 0x06, 0x05


def _program() -> list[tuple[int, int, int, int]]:
    raw = deny_filter()
    assert raw is not None and len(raw) % 8 == 0
    return [struct.unpack("=HBBI", raw[i : i + 8]) for i in range(0, len(raw), 8)]


def test_every_jump_stays_inside_and_the_program_ends_in_returns() -> None:
    program = _program()
    for index, (code, jt, jf, _k) in enumerate(program):
        if code & 0x07 == JMP:
            assert index + 1 + max(jt, jf) < len(program)
    assert [code & 0x07 for code, *_ in program[-2:]] == [RET, RET]


def test_each_denied_syscall_jumps_to_eperm() -> None:
    program = _program()
    eperm = len(program) - 1
    assert program[eperm][3] == 0x00050001
    targets = {k: index + 1 + jt for index, (code, jt, _jf, k) in enumerate(program)
               if code == 0x15 and jt}  # fmt: skip
    for name, number in DENIED_SYSCALLS.items():
        assert targets.get(number) == eperm, name
