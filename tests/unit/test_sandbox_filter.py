"""The run's seccomp filter, built by libseccomp for x86-64 and aarch64 from one list of names.

The exported BPF programs are executed here by a small classic-BPF interpreter on synthetic
`struct seccomp_data`, so the tests check what the kernel would decide, per architecture.
"""

from __future__ import annotations

import errno
import struct

import pyseccomp
import pytest

from app.sandbox import seccomp

X86_64 = seccomp.ARCHITECTURES["x86_64"]
AARCH64 = seccomp.ARCHITECTURES["aarch64"]
ALLOW, ERRNO_BASE = 0x7FFF0000, 0x00050000
EPERM = ERRNO_BASE | errno.EPERM
AF_INET = 2
ORDINARY = ["read", "write", "openat", "close", "execve", "clone", "mmap", "exit_group",
            "wait4", "prlimit64", "getpid", "futex"]  # fmt: skip


def seccomp_data(arch: int, nr: int, args: tuple[int, ...] = ()) -> bytes:
    padded = (*args, 0, 0, 0, 0, 0, 0)[:6]
    return struct.pack("=iIQ6Q", nr, arch, 0, *padded)


def run_bpf(program: bytes, data: bytes) -> int:
    """Classic BPF as the kernel runs seccomp filters (the opcodes libseccomp emits)."""
    insns: list[tuple[int, int, int, int]] = [
        struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)
    ]
    acc = x = pc = 0
    mem = [0] * 16
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            (acc,) = struct.unpack_from("=I", data, k)
        elif code == 0x00:  # ld #k
            acc = k
        elif code == 0x01:  # ldx #k
            x = k
        elif code == 0x60:  # ld M[k]
            acc = mem[k]
        elif code == 0x61:  # ldx M[k]
            x = mem[k]
        elif code == 0x02:  # st M[k]
            mem[k] = acc
        elif code == 0x03:  # stx M[k]
            mem[k] = x
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x44:  # or #k
            acc |= k
        elif code == 0x07:  # tax
            x = acc
        elif code == 0x87:  # txa
            acc = x
        elif code == 0x05:  # ja
            pc += k
        elif code & 0x07 == 0x05:  # conditional jumps, #k or x
            operand = x if code & 0x08 else k
            test = {0x10: acc == operand, 0x20: acc > operand, 0x30: acc >= operand,
                    0x40: bool(acc & operand)}[code & 0x70]  # fmt: skip
            pc += jt if test else jf
        elif code == 0x06:  # ret #k
            return k
        elif code == 0x16:  # ret a
            return acc
        else:
            raise AssertionError(f"opcode {code:#x} not modelled")


def decide(
    arch: int, name: str, args: tuple[int, ...] = (), *, audit_arch: int | None = None
) -> int:
    nr = pyseccomp.resolve_syscall(arch, name)
    audit = audit_arch if audit_arch is not None else arch
    return run_bpf(seccomp.program(arch), seccomp_data(audit, nr, args))


def denied_names(arch: int) -> set[str]:
    present = [n for n in (*seccomp.DENIED_SYSCALLS, *ORDINARY) if seccomp.exists_on(arch, n)]
    return {n for n in present if decide(arch, n) == EPERM}


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=["x86_64", "aarch64"])
def test_every_listed_name_that_exists_is_refused_with_eperm(arch: int) -> None:
    for name in seccomp.DENIED_SYSCALLS:
        if seccomp.exists_on(arch, name):
            assert decide(arch, name) == EPERM, name


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=["x86_64", "aarch64"])
def test_ordinary_calls_are_allowed(arch: int) -> None:
    for name in ORDINARY:
        if seccomp.exists_on(arch, name):
            assert decide(arch, name) == ALLOW, name


def test_aarch64_denies_the_same_names_as_x86_64() -> None:
    on_x86 = denied_names(X86_64)
    on_arm = denied_names(AARCH64)
    assert on_arm == {n for n in on_x86 if seccomp.exists_on(AARCH64, n)}
    assert len(on_arm) > 40  # most of the list exists on both
    # What aarch64 lacks are legacy calls only, never a modern surface.
    missing = on_x86 - on_arm
    assert missing.isdisjoint({"bpf", "io_uring_setup", "keyctl", "ptrace", "userfaultfd"})


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=["x86_64", "aarch64"])
def test_vsock_sockets_are_refused_and_others_allowed(arch: int) -> None:
    assert decide(arch, "socket", (seccomp.AF_VSOCK,)) == EPERM
    assert decide(arch, "socket", (AF_INET,)) == ALLOW


def test_a_call_from_another_abi_is_refused() -> None:
    assert decide(X86_64, "read", audit_arch=AARCH64) == EPERM
    assert decide(AARCH64, "read", audit_arch=X86_64) == EPERM
    x32_read = 0x40000000  # __X32_SYSCALL_BIT | read
    assert run_bpf(seccomp.program(X86_64), seccomp_data(X86_64, x32_read)) == EPERM


def test_an_unknown_architecture_has_no_filter() -> None:
    with pytest.raises(seccomp.UnsupportedArchitecture, match="riscv64"):
        seccomp.architecture("riscv64")
    assert seccomp.architecture("aarch64") == AARCH64
