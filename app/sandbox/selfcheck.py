"""What the executor checks about its own process before serving (production).

bubblewrap mounts a fresh /proc for every run, which the kernel refuses while the container's
/proc has paths masked by the runtime (Docker and the CRI bind /dev/null or a tmpfs over
/proc/kcore, /proc/acpi, ...). On Kubernetes before the ProcMountType and UserNamespacesSupport
gates are on, the API server silently drops ``procMount: Unmasked`` and ``hostUsers: false``:
the executor would start with a masked /proc in the node's user namespace. These checks turn
that into a refusal to start that names the missing piece, instead of every run failing later.
"""

from __future__ import annotations

from pathlib import Path

# Mounted by the host itself on an empty procfs directory: it does not block a new /proc.
HARMLESS_PROC_MOUNTS = frozenset({"/proc/sys/fs/binfmt_misc"})
# uid_map of the initial user namespace: the identity map over every uid.
INITIAL_UID_MAP = ("0", "0", "4294967295")


def masked_proc_paths(mountinfo: str) -> list[str]:
    """Mount points under /proc/ (runtime masks), from the text of /proc/self/mountinfo."""
    points = (line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4)
    return sorted({p for p in points if p.startswith("/proc/") and p not in HARMLESS_PROC_MOUNTS})


def in_initial_user_namespace(uid_map: str) -> bool:
    return [tuple(line.split()) for line in uid_map.splitlines()] == [INITIAL_UID_MAP]


def isolation_problems(require_own_userns: bool, proc: Path = Path("/proc")) -> list[str]:
    problems = []
    masked = masked_proc_paths((proc / "self" / "mountinfo").read_text())
    if masked:
        shown = ", ".join(masked[:4]) + (", ..." if len(masked) > 4 else "")
        problems.append(
            f"/proc is masked ({shown}): bubblewrap cannot mount a fresh /proc. Run the executor "
            "with an unmasked /proc: Docker security_opt systempaths=unconfined, Kubernetes "
            "procMount: Unmasked (needs the ProcMountType feature gate)"
        )
    if require_own_userns and in_initial_user_namespace((proc / "self" / "uid_map").read_text()):
        problems.append(
            "the executor runs in the node's user namespace: Kubernetes dropped hostUsers: false "
            "(needs the UserNamespacesSupport feature gate, containerd 2 or CRI-O)"
        )
    return problems
