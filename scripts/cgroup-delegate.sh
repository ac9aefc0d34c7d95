#!/usr/bin/env bash
# Delegate a cgroup v1 subtree to the executor container (run on the Docker host, as root).
# A container's cgroupfs is read-only; this creates <controller>/NAME for memory, pids, cpuacct
# and freezer, owned by the executor's uid, which compose.cgroups.yaml mounts read-write over
# the container's own. Inside, the executor creates one group per run (docs/sandbox.md).
#   scripts/cgroup-delegate.sh [NAME] [UID]      (defaults: nox-exec 10001)
#   scripts/cgroup-delegate.sh --remove [NAME]
# cgroup v2 hosts: delegate with systemd instead (Delegate=yes on the unit running the engine's
# container scope) or mount the container's own group read-write; see docs/sandbox.md.
set -euo pipefail
CGROUP_ROOT="${CGROUP_ROOT:-/sys/fs/cgroup}"
CONTROLLERS=(memory pids cpuacct freezer)

if [[ ${1:-} == --remove ]]; then
    name="${2:-nox-exec}"
    for controller in "${CONTROLLERS[@]}"; do
        find "$CGROUP_ROOT/$controller/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    exit 0
fi
name="${1:-nox-exec}"
uid="${2:-10001}"
if [[ -e "$CGROUP_ROOT/cgroup.controllers" ]]; then
    echo "cgroup v2 host: use systemd delegation instead (docs/sandbox.md)" >&2
    exit 2
fi
for controller in "${CONTROLLERS[@]}"; do
    dir="$CGROUP_ROOT/$controller/$name"
    mkdir -p "$dir"
    chown "$uid" "$dir" "$dir/cgroup.procs" "$dir/tasks"
    echo "$dir"
done
