#!/bin/sh
# The log collector's entry point, the same in compose (compose.logs.yaml), Swarm
# (swarm/logs.yaml) and Kubernetes (k8s/cluster/logs): syslog-ng in the foreground with the
# configuration given as $1 (else LOGS_CONFIG, else /etc/syslog-ng/nox.conf, where compose and
# Swarm mount monitoring/logs/syslog-ng.conf), its state under LOGS_DIR/.run (the container's
# root filesystem is read-only), and the retention: every hour, day files older than
# LOGS_RETENTION_DAYS days are deleted (docs/operations.md "Logs").
# Settings from the environment: LOGS_DIR, LOGS_RETENTION_DAYS (and LOGS_LISTEN, LOGS_PORT for
# syslog-ng.conf); SYSLOG_NG names the binary when it is not /usr/sbin/syslog-ng (tests).
set -eu
: "${LOGS_DIR:?}" "${LOGS_RETENTION_DAYS:?}"
config="${1:-${LOGS_CONFIG:-/etc/syslog-ng/nox.conf}}"
run="$LOGS_DIR/.run"
mkdir -p "$run"
while :; do
    find "$LOGS_DIR" -name '*.jsonl' -mtime "+$LOGS_RETENTION_DAYS" -delete
    sleep 3600
done &
exec "${SYSLOG_NG:-/usr/sbin/syslog-ng}" -F --no-caps -f "$config" \
    -R "$run/persist" -p "$run/pid" -c "$run/ctl"
