#!/usr/bin/env bash
# The e2e login tests' peer: npm oidc-provider (pinned by package.json + package-lock.json),
# run by Node.js. Installs Debian's nodejs and npm when node is missing, then `npm ci`.
# Idempotent; runs as root on a fresh Debian 12 (Node 18 there: oidc-provider 8.x supports it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

log() { printf 'install-oauth: %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install_missing nodejs npm
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
if ((major < 18)); then
    log "Node.js $(node --version) is too old: oidc-provider 8 needs Node 18 or newer"
    exit 1
fi

lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp="node_modules/.nox-lock-sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" && -d node_modules/oidc-provider ]]; then
    log "node_modules matches package-lock.json"
else
    log "npm ci (node $(node --version), npm $(npm --version))"
    npm ci --no-audit --no-fund
    printf '%s\n' "$lock_hash" >"$stamp"
fi
node -e "import('oidc-provider').then(() => console.log('install-oauth: oidc-provider loads'))"
