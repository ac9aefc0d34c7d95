#!/usr/bin/env bash
# Deploy, roll back or smoke-test Nox (Swarm or Kubernetes). Thin entry point: the logic is
# the stdlib-only `deploy` package, which the Dagger `deploy` function runs too.
#   scripts/deploy.sh init-secrets --env prod                     # Swarm, once
#   scripts/deploy.sh deploy --target swarm --env prod --image registry/nox@sha256:...
#   scripts/deploy.sh rollback --target swarm --env prod
#   scripts/deploy.sh smoke --url https://nox.example.com
#   scripts/deploy.sh history --target swarm --env prod
# Needs python3 (3.11+) and the docker or kubectl client. See docs/operations.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m deploy "$@"
