#!/usr/bin/env bash
# Everything the test tiers need on a fresh Debian 12 machine, as root; idempotent.
# Base: PostgreSQL and Redis binaries (the tests start throwaway servers themselves) and uv.
# Each part of the project adds its own prerequisites in .ci/install-<part>.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/lib.sh
source .ci/lib.sh

log() { printf 'install: %s\n' "$*" >&2; }

apt_install_missing postgresql redis-server ca-certificates git

if ! command -v uv >/dev/null 2>&1; then
    log "pip install uv"
    python3 -m pip install --quiet uv
fi
uv sync --frozen

for part in .ci/install-*.sh; do
    log "running $part"
    bash "$part"
done
