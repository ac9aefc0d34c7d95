#!/usr/bin/env bash
# Pipeline tier and `task lint` prerequisites on a fresh Debian 12 machine (root, idempotent):
# Debian's shellcheck. Everything else the offline pipeline tier uses comes from the uv dev
# group (dagger-io, check-jsonschema, go-task-bin) or from the other install scripts
# (kubectl, promtool, amtool: install-monitoring.sh). No Dagger engine runs on these machines.
set -euo pipefail

log() { printf 'install-pipeline: %s\n' "$*" >&2; }

if ! dpkg-query -W -f='${Status}' shellcheck 2>/dev/null | grep -q 'install ok installed'; then
    log "apt-get install shellcheck"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck
fi
shellcheck --version | sed -n 2p
