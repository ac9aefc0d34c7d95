#!/usr/bin/env bash
# Everything the test tiers need on a fresh Debian 12 machine, as root; idempotent.
# Base: PostgreSQL and Redis binaries (the tests start throwaway servers themselves) and uv.
# Each part of the project adds its own prerequisites in .ci/install-<part>.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'install: %s\n' "$*" >&2; }

base_packages=(postgresql redis-server ca-certificates git)
missing=()
for pkg in "${base_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v uv >/dev/null 2>&1; then
    log "pip install uv"
    python3 -m pip install --quiet uv
fi
uv sync --frozen

for part in .ci/install-*.sh; do
    log "running $part"
    bash "$part"
done
