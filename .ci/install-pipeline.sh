#!/usr/bin/env bash
# Pipeline tier and `task lint` prerequisites on a fresh Debian 12 machine (root, idempotent):
# Debian's shellcheck. Everything else the offline pipeline tier uses comes from the uv dev
# group (dagger-io, check-jsonschema, go-task-bin) or from the other install scripts
# (kubectl, promtool, amtool: install-monitoring.sh). No Dagger engine runs on these machines.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

apt_install_missing shellcheck
shellcheck --version | sed -n 2p
