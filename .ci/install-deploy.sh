#!/usr/bin/env bash
# Deployment and backup prerequisites on a fresh Debian 12 machine (run as root, idempotent):
# - docker-registry (Debian's distribution 2.8): the local registry of
#   tests/container/test_registry_publish.py. Its postinst does not start a daemon; the test
#   serves its own loopback-only config. Nothing here starts a registry.
# - postgresql-client (pg_dump, pg_restore, psql) for `nox backup` / `nox restore` and the
#   backup drill (tests/integration/test_backup_drill.py); postgresql and redis-server for
#   the drill's throwaway servers (already installed by the integration tier on most runs).
# - curl (with nghttp2) and openssl: the edge tests speak HTTP/2 to HAProxy and make a test CA.
# - pgbackrest (Debian 2.45): WAL archiving and point-in-time recovery (app/backup/pitr.py),
#   exercised by tests/integration/test_pitr_drill.py.
# The Swarm test initialises a single-node swarm itself (and leaves it again) when the
# engine has none, so no swarm setup happens here. The engine comes from install-docker.sh.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

log() { printf 'install-deploy: %s\n' "$*" >&2; }

apt_install_missing docker-registry postgresql-client postgresql redis-server curl openssl \
    pgbackrest
for tool in docker-registry pg_dump pg_restore psql curl openssl pgbackrest; do
    command -v "$tool" >/dev/null || { log "$tool missing after install"; exit 1; }
done
log "ok: docker-registry, PostgreSQL client tools, pgbackrest"
