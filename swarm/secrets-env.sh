#!/bin/sh
# Docker secrets arrive as files under /run/secrets; Nox reads its settings from NOX_*
# environment variables. Export every /run/secrets/nox_* file as the matching upper-case
# variable (nox_database_url -> NOX_DATABASE_URL), then exec the real command.
# Shipped to the services as a Docker config, so any Nox image works unchanged.
set -eu
for f in /run/secrets/nox_*; do
    [ -f "$f" ] || continue
    name=$(basename "$f" | tr '[:lower:]' '[:upper:]')
    value=$(cat "$f")
    export "$name=$value"
done
exec "$@"
