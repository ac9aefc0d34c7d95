#!/usr/bin/env bash
# Air-gapped base images: when no registry is reachable, build stand-ins for the python,
# postgres and redis base images from a Debian mirror (debootstrap + docker import), then
# point builds and compose at them through PYTHON_IMAGE / POSTGRES_IMAGE / REDIS_IMAGE.
# The same recipe builds the edge proxy image (Debian HAProxy): NOX_EDGE_IMAGE.
#
# They are tagged under a local prefix (default nox-airgap/) and NEVER under the official
# names: a stand-in must not be mistaken for, or pushed as, the image it imitates.
#
# Usage: scripts/airgap-images.sh [--force] [--prefix PREFIX] [--print-env]
#   --force      rebuild even when a tag exists (default: skip existing tags)
#   --prefix P   tag prefix ending in '/', e.g. nox-airgap/ (env AIRGAP_PREFIX)
#   --print-env  only print the PYTHON_IMAGE=... lines for the chosen prefix
# Env: MIRROR (Debian mirror for debootstrap and apt, default http://deb.debian.org/debian),
#      SUITE (default bookworm). Needs root (debootstrap, chroot) and a Docker engine.
set -euo pipefail
# debootstrap and chroot live in sbin, which a non-login root shell may lack
PATH="$PATH:/usr/sbin:/sbin"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${AIRGAP_PREFIX:-nox-airgap/}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SUITE="${SUITE:-bookworm}"
FORCE=0
PRINT_ENV=0
DOCKER="${DOCKER:-docker}"

while (($#)); do
    case "$1" in
        --force) FORCE=1 ;;
        --prefix) PREFIX="${2:?--prefix needs a value}"; shift ;;
        --print-env) PRINT_ENV=1 ;;
        -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

# A prefix that is empty or names Docker Hub would make the stand-ins look official.
case "$PREFIX" in
    */) ;;
    *) echo "prefix must end with '/': $PREFIX" >&2; exit 2 ;;
esac
case "$PREFIX" in
    / | library/ | docker.io/* | index.docker.io/* | registry-1.docker.io/*)
        echo "refusing prefix '$PREFIX': stand-ins are never tagged as official images" >&2
        exit 2 ;;
esac

BASE_TAG="${PREFIX}debian:${SUITE}"
PYTHON_TAG="${PREFIX}python:3.11-slim-${SUITE}"
POSTGRES_TAG="${PREFIX}postgres:15"
REDIS_TAG="${PREFIX}redis:7"
# not a stand-in: the edge proxy itself (Debian's HAProxy), built by the same recipe
EDGE_TAG="${PREFIX}nox-edge:haproxy-2.6"
# stand-ins for the exporters of the monitoring profile, from Debian's packages (same versions
# as the upstream images pinned in compose.yaml / .env.example)
PG_EXPORTER_TAG="${PREFIX}postgres-exporter:v0.11.1"
REDIS_EXPORTER_TAG="${PREFIX}redis_exporter:v1.45.0"
NODE_EXPORTER_TAG="${PREFIX}node-exporter:v1.5.0"
# stand-in for the log collector (compose.logs.yaml), Debian's syslog-ng-core
LOGS_TAG="${PREFIX}syslog-ng:3.38.1"
# stand-in for cAdvisor (no Debian package): a small exporter on the python stand-in serving
# cAdvisor's container_* series from the engine and its cgroups (scripts/airgap/cadvisor)
CADVISOR_TAG="${PREFIX}cadvisor:v0.47.2"

print_env() {
    printf 'PYTHON_IMAGE=%s\nPOSTGRES_IMAGE=%s\nREDIS_IMAGE=%s\nNOX_EDGE_IMAGE=%s\n' \
        "$PYTHON_TAG" "$POSTGRES_TAG" "$REDIS_TAG" "$EDGE_TAG"
    printf 'POSTGRES_EXPORTER_IMAGE=%s\nREDIS_EXPORTER_IMAGE=%s\nNODE_EXPORTER_IMAGE=%s\n' \
        "$PG_EXPORTER_TAG" "$REDIS_EXPORTER_TAG" "$NODE_EXPORTER_TAG"
    printf 'LOGS_IMAGE=%s\nCADVISOR_IMAGE=%s\n' "$LOGS_TAG" "$CADVISOR_TAG"
}
if ((PRINT_ENV)); then
    print_env
    exit 0
fi

# One build at a time per engine: test workers may ask for the stand-ins at once; a second
# caller waits, then finds the tags and skips them.
exec 9>"${TMPDIR:-/tmp}/nox-airgap-images.lock"
flock 9

log() { printf 'airgap-images: %s\n' "$*" >&2; }
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
wanted() { ((FORCE)) || ! have "$1"; }

build_base() {
    local root
    root="$(mktemp -d)"
    # the rootfs holds root-owned device nodes: remove it whatever happens
    trap 'rm -rf "$root"' RETURN
    log "debootstrap $SUITE from $MIRROR"
    debootstrap --variant=minbase "$SUITE" "$root/rootfs" "$MIRROR" >&2
    local rootfs="$root/rootfs"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: ${MIRROR}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # The apt/dpkg settings of the official Debian images: no recommends, no docs, no caches.
    echo 'APT::Install-Recommends "false"; APT::Install-Suggests "false";' \
        >"$rootfs/etc/apt/apt.conf.d/90nox-norecommends"
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90nox-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
    log "applying $SUITE-updates and $SUITE-security"
    chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade && apt-get clean' >&2
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
        "$rootfs"/var/log/*.log "$rootfs"/tmp/*
    tar --numeric-owner --xattrs -C "$rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
        --message "nox stand-in: debootstrap $SUITE from $MIRROR" - "$BASE_TAG" >/dev/null
}

build_from_base() {  # TAG DIR [--build-arg K=V ...]
    local tag="$1" dir="$2"
    shift 2
    log "building $tag"
    "$DOCKER" build -q --no-cache --build-arg "BASE=$BASE_TAG" "$@" \
        --label "org.opencontainers.image.description=nox stand-in built from $MIRROR, not the official image" \
        -t "$tag" "$HERE/airgap/$dir" >/dev/null
}

# A rebuilt base must rebuild everything on top of it.
if wanted "$BASE_TAG"; then
    build_base
    FORCE=1
else
    log "skip $BASE_TAG (exists; --force rebuilds)"
fi
for pair in "$PYTHON_TAG python" "$POSTGRES_TAG postgres" "$REDIS_TAG redis" "$EDGE_TAG edge" \
    "$LOGS_TAG logs"; do
    read -r tag dir <<<"$pair"
    if wanted "$tag"; then
        build_from_base "$tag" "$dir"
    else
        log "skip $tag (exists; --force rebuilds)"
    fi
done
for triple in "$PG_EXPORTER_TAG prometheus-postgres-exporter /bin/postgres_exporter" \
    "$REDIS_EXPORTER_TAG prometheus-redis-exporter /redis_exporter" \
    "$NODE_EXPORTER_TAG prometheus-node-exporter /bin/node_exporter"; do
    read -r tag package upstream_path <<<"$triple"
    if wanted "$tag"; then
        build_from_base "$tag" exporter --build-arg "PACKAGE=$package" \
            --build-arg "UPSTREAM_PATH=$upstream_path"
    else
        log "skip $tag (exists; --force rebuilds)"
    fi
done
# built on the python stand-in (above), so after it
if wanted "$CADVISOR_TAG"; then
    build_from_base "$CADVISOR_TAG" cadvisor --build-arg "PYTHON=$PYTHON_TAG"
else
    log "skip $CADVISOR_TAG (exists; --force rebuilds)"
fi
print_env
