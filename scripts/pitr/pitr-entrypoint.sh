#!/bin/bash
# PostgreSQL with continuous WAL archiving through pgBackRest, then the base image's own
# entrypoint (initdb on first start, drop to the postgres user). The settings are
# app.backup.pitr.postgres_parameters; archive_timeout is the RPO under low traffic.
# Env: PITR_ARCHIVE_TIMEOUT_S (default 60, as NOX_PITR_ARCHIVE_TIMEOUT_S), PITR_SOCKET_DIR
# (a second socket directory on a volume the scheduler shares, e.g. the Kubernetes data PVC).
set -Eeo pipefail
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ]; then
    set -- "$@" -c wal_level=replica -c archive_mode=on \
        -c 'archive_command=nox-pgbackrest-archive-push %p' \
        -c "archive_timeout=${PITR_ARCHIVE_TIMEOUT_S:-60}s"
    if [ -n "${PITR_SOCKET_DIR:-}" ]; then
        mkdir -p "$PITR_SOCKET_DIR"
        if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PITR_SOCKET_DIR"; fi
        set -- "$@" -c "unix_socket_directories=/var/run/postgresql,$PITR_SOCKET_DIR"
    fi
fi
exec docker-entrypoint.sh "$@"
