"""Pod Security Standards, "restricted" level (v1.33), as rules over a rendered pod spec.

https://kubernetes.io/docs/concepts/security/pod-security-standards/ — every baseline and
restricted control that a pod spec alone decides; what it needs the node for (AppArmor
defaults, for instance) is not checked. Returns what a pod violates, so a test can show both
a pass and a refusal.
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}  # fmt: skip
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}  # fmt: skip
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}


def _containers(spec: Spec) -> list[Spec]:
    return [*spec.get("initContainers", []), *spec.get("containers", []),
            *spec.get("ephemeralContainers", [])]  # fmt: skip


def _baseline(spec: Spec) -> list[str]:
    pod = spec.get("securityContext", {})
    found = [f"host namespace: {f}" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    found += [
        f"sysctl {s['name']}" for s in pod.get("sysctls", []) if s["name"] not in SAFE_SYSCTLS
    ]
    found += [f"hostPath volume {v['name']}" for v in spec.get("volumes", []) if "hostPath" in v]
    if pod.get("windowsOptions", {}).get("hostProcess"):
        found.append("hostProcess")
    for c in _containers(spec):
        ctx = c.get("securityContext", {})
        if ctx.get("privileged"):
            found.append(f"{c['name']}: privileged")
        if ctx.get("procMount", "Default") != "Default":
            found.append(f"{c['name']}: procMount {ctx['procMount']}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            found.append(f"{c['name']}: hostPort")
        for profile in (ctx.get("seccompProfile"), ctx.get("appArmorProfile")):
            if profile and profile.get("type") == "Unconfined":
                found.append(f"{c['name']}: Unconfined profile")
    return found


def _restricted_container(c: Spec, pod: Spec) -> list[str]:
    ctx, name = c.get("securityContext", {}), c["name"]
    found = []
    if ctx.get("allowPrivilegeEscalation") is not False:
        found.append(f"{name}: allowPrivilegeEscalation not false")
    if ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
        found.append(f"{name}: runAsNonRoot not true")
    if ctx.get("runAsUser", pod.get("runAsUser")) == 0:
        found.append(f"{name}: runAsUser 0")
    seccomp = ctx.get("seccompProfile", pod.get("seccompProfile", {})).get("type")
    if seccomp not in SECCOMP_ALLOWED:
        found.append(f"{name}: seccompProfile {seccomp}")
    caps = ctx.get("capabilities", {})
    if "ALL" not in caps.get("drop", []):
        found.append(f"{name}: capabilities not dropping ALL")
    if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
        found.append(f"{name}: capabilities added {caps['add']}")
    return found


def restricted_violations(spec: Spec) -> list[str]:
    """Every way ``spec`` (a pod spec) breaks Pod Security "restricted"; [] if it meets it."""
    pod = spec.get("securityContext", {})
    found = _baseline(spec)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    if pod.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    for c in _containers(spec):
        found += _restricted_container(c, pod)
    return found
