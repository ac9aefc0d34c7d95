"""The seccomp filter bwrap loads into every run (``--seccomp FD``), built by libseccomp.

Namespaces and a capability-less uid already make most of these calls fail; the filter takes
the kernel surfaces with a history of escapes off the table entirely (keyrings, bpf, perf,
io_uring, userfaultfd, ptrace and cross-process memory, module and kexec loading, mount API,
handle-based opens, clock and swap changes) plus vsock sockets, which no network namespace
isolates. The list follows isolate 2.4+ and the container profile in ``seccomp/``.

The policy is written once, by syscall *name*; libseccomp (through ``pyseccomp``, a ctypes
binding with libseccomp's own Python API) resolves the numbers for each architecture and emits
the BPF, including the architecture check (a call from any other ABI, x32 included, is refused).
Names that an architecture never had (``uselib`` on aarch64) simply have nothing to deny there.
"""

from __future__ import annotations

import errno
import platform
import tempfile
from functools import lru_cache

import pyseccomp as seccomp

DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace", "syslog", "uselib", "ustat", "sysfs", "vhangup", "pivot_root", "_sysctl",
    "adjtimex", "acct", "settimeofday", "mount", "umount2", "swapon", "swapoff", "reboot",
    "iopl", "ioperm", "create_module", "init_module", "delete_module", "get_kernel_syms",
    "query_module", "quotactl", "nfsservctl", "lookup_dcookie", "clock_settime", "kexec_load",
    "add_key", "request_key", "keyctl", "unshare", "perf_event_open", "fanotify_init",
    "name_to_handle_at", "open_by_handle_at", "clock_adjtime", "setns", "process_vm_readv",
    "process_vm_writev", "kcmp", "finit_module", "kexec_file_load", "bpf", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "pidfd_getfd", "mount_setattr", "quotactl_fd",
)  # fmt: skip
AF_VSOCK = 40
DENY = seccomp.ERRNO(errno.EPERM)

# `uname -m` -> libseccomp architecture: the ones Nox images are built and tested for.
ARCHITECTURES = {"x86_64": seccomp.Arch.X86_64, "aarch64": seccomp.Arch.AARCH64}


class UnsupportedArchitecture(RuntimeError):
    """No filter is written for this machine: production refuses to run sandboxes here."""


def architecture(machine: str | None = None) -> int:
    machine = machine or platform.machine()
    try:
        return int(ARCHITECTURES[machine])
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UnsupportedArchitecture(
            f"no seccomp filter for {machine}: sandboxes are filtered on {known} only"
        ) from None


def exists_on(arch: int, name: str) -> bool:
    return bool(seccomp.resolve_syscall(arch, name) >= 0)


def build_filter(arch: int) -> seccomp.SyscallFilter:
    """The policy for one architecture: allow, except the denied names and vsock sockets."""
    policy = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    # A call through another ABI (x32 on x86-64, say) is refused like a denied name, rather
    # than killing the process: the program learns EPERM, the policy stays the same.
    policy.set_attr(seccomp.Attr.ACT_BADARCH, DENY)
    native = seccomp.system_arch()
    if arch != native:
        policy.add_arch(arch)
        policy.remove_arch(native)
    for name in DENIED_SYSCALLS:
        if exists_on(arch, name):
            policy.add_rule(DENY, name)
    policy.add_rule(DENY, "socket", seccomp.Arg(0, seccomp.EQ, AF_VSOCK))
    return policy


@lru_cache(maxsize=len(ARCHITECTURES))
def program(arch: int) -> bytes:
    """The BPF program bwrap reads for ``arch`` (built once per process)."""
    with tempfile.TemporaryFile() as out:  # export_bpf wants a real file object
        build_filter(arch).export_bpf(out)
        out.seek(0)
        return out.read()


def deny_filter() -> bytes:
    """The filter for this machine; raises UnsupportedArchitecture where none is written."""
    return program(architecture())
