#!/bin/sh
# The log collector's entry point, in compose (compose.logs.yaml) and on Kubernetes
# (k8s/cluster/logs): syslog-ng in the foreground with the configuration given as $1
# (syslog-ng.conf here), its state under LOGS_DIR/.run, and the retention: every hour, day
# files older than LOGS_RETENTION_DAYS days are deleted (docs/operations.md "Logs").
# Settings from the environment: LOGS_DIR, LOGS_RETENTION_DAYS (and LOGS_PORT for syslog-ng.conf).
set -eu
config="$1"
run="$LOGS_DIR/.run"
mkdir -p "$run"
while :; do
    find "$LOGS_DIR" -name '*.jsonl' -mtime "+$LOGS_RETENTION_DAYS" -delete
    sleep 3600
done &
exec "${SYSLOG_NG:-/usr/sbin/syslog-ng}" -F --no-caps -f "$config" \
    -R "$run/persist" -p "$run/pid" -c "$run/ctl"
