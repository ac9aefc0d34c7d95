#!/usr/bin/env bash
# The sandbox tier: Debian's bubblewrap, the interpreter the sandbox runs by its real path
# (/usr/bin/python3, never a version-manager shim), prlimit (util-linux) and user namespaces.
# Idempotent; runs as root on a fresh Debian 12 machine.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

log() { printf 'install-sandbox: %s\n' "$*" >&2; }

packages=(bubblewrap python3 util-linux)
apt_install_missing "${packages[@]}"

# bwrap runs unprivileged (as a dedicated uid when the server is root): it needs
# unprivileged user namespaces, which Debian may have switched off.
if [[ -f /proc/sys/kernel/unprivileged_userns_clone ]] \
    && [[ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" == 0 ]]; then
    log "enabling kernel.unprivileged_userns_clone"
    sysctl -q -w kernel.unprivileged_userns_clone=1
fi
if [[ "$(cat /proc/sys/user/max_user_namespaces)" == 0 ]]; then
    log "raising user.max_user_namespaces"
    sysctl -q -w user.max_user_namespaces=15000
fi

for binary in /usr/bin/bwrap /usr/bin/python3 /usr/bin/prlimit; do
    [[ -x "$binary" ]] || { log "missing $binary after install"; exit 1; }
done
log "bubblewrap $(bwrap --version | cut -d' ' -f2), $(/usr/bin/python3 --version)"
