"""The seccomp filter bwrap loads into every run (``--seccomp FD``): a classic-BPF deny-list.

Namespaces and a capability-less uid already make most of these calls fail; the filter takes
the kernel surfaces with a history of escapes off the table entirely (keyrings, bpf, perf,
io_uring, userfaultfd, ptrace and cross-process memory, module and kexec loading, mount API,
handle-based opens, clock and swap changes) plus vsock sockets, which no network namespace
isolates. The list follows isolate 2.4+ and the container profile in ``seccomp/``.

Built by hand (no libseccomp binding needed): x86-64 only; other architectures run without
this filter (documented in docs/sandbox.md) and rely on the container's profile.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SOCKET_NR = 41
AF_VSOCK = 40

# x86-64 syscall numbers (asm/unistd_64.h).
DENIED_SYSCALLS: dict[str, int] = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "ustat": 136, "sysfs": 139, "vhangup": 153,
    "pivot_root": 155, "_sysctl": 156, "adjtimex": 159, "acct": 163, "settimeofday": 164,
    "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172,
    "ioperm": 173, "create_module": 174, "init_module": 175, "delete_module": 176,
    "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180,
    "lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
}  # fmt: skip

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_KILL_PROCESS = 0x80000000
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def deny_filter() -> bytes | None:
    """The BPF program as bwrap reads it, or None on architectures it is not written for."""
    if platform.machine() != "x86_64":
        return None
    numbers = sorted(DENIED_SYSCALLS.values())
    # Layout: arch check, nr load, x32 check, one jeq per denied nr, the socket check,
    # then ALLOW and EPERM; jump offsets count instructions after the jumping one.
    tail = len(numbers) + 4  # jeqs + socket jeq, arg load, AF_VSOCK jeq, ALLOW
    program = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, X32_SYSCALL_BIT, jt=tail),
    ]
    for index, number in enumerate(numbers):
        program.append(_insn(_JEQ_K, number, jt=tail - 1 - index))
    program += [
        _insn(_JEQ_K, SOCKET_NR, jf=2),
        _insn(_LD_W_ABS, _ARG0),  # the socket's address family (low 32 bits)
        _insn(_JEQ_K, AF_VSOCK, jt=1),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_RET_K, _RET_EPERM),
    ]
    return b"".join(program)
