#!/bin/sh
# The log collector's entrypoint, the same under compose (compose.logs.yaml) and Swarm
# (swarm/logs.yaml): syslog-ng with monitoring/logs/syslog-ng.conf, and retention: every hour,
# day files older than LOGS_RETENTION_DAYS are deleted. syslog-ng keeps its state files beside
# the logs (LOGS_DIR/.run): the container's root filesystem is read-only. LOGS_CONFIG: the
# configuration's path (the containers mount it at the default).
set -eu
: "${LOGS_DIR:?}" "${LOGS_RETENTION_DAYS:?}"
run="$LOGS_DIR/.run"
mkdir -p "$run"
while :; do
    find "$LOGS_DIR" -name '*.jsonl' -mtime "+$LOGS_RETENTION_DAYS" -delete
    sleep 3600
done &
exec /usr/sbin/syslog-ng -F --no-caps -f "${LOGS_CONFIG:-/etc/syslog-ng/nox.conf}" \
    -R "$run/persist" -p "$run/pid" -c "$run/ctl"
