#!/usr/bin/env bash
# Back up Nox: PostgreSQL (pg_dump custom format) + Redis keys + a checksummed manifest,
# then prune to NOX_BACKUP_KEEP. Thin entry point over `nox backup` (app/backup/), used by
# cron, the compose "backup" profile and the Kubernetes CronJob alike.
#   scripts/backup.sh [--dir DIR] [--keep N]
# Settings come from the environment: NOX_DATABASE_URL, NOX_REDIS_URL, NOX_BACKUP_DIR,
# NOX_BACKUP_KEEP, optional NOX_BACKUP_KEY or NOX_BACKUP_KEY_FILE (encryption).
# Restore: nox restore DIR (or --latest); see docs/operations.md.
set -euo pipefail
if command -v nox >/dev/null 2>&1; then
    exec nox backup "$@"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec uv run --frozen nox backup "$@"
