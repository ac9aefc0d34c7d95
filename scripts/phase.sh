#!/usr/bin/env bash
# Run one CI phase; when NOX_PHASE_LOG names a file (`.ci/run` sets it), append the phase's
# name, wall seconds and exit status to it for the table printed at the end
# (scripts/ci_timings.py).  Usage: scripts/phase.sh NAME command [args...]
set -uo pipefail
name="$1"
shift
log="${NOX_PHASE_LOG:-}"
if [[ -z "$log" ]]; then
    exec "$@"
fi
mkdir -p "$(dirname "$log")"
started=$(date +%s.%N)
"$@"
status=$?
awk -v n="$name" -v a="$started" -v b="$(date +%s.%N)" -v s="$status" \
    'BEGIN { printf "%s\t%.1f\t%s\n", n, b - a, s }' >>"$log"
exit "$status"
