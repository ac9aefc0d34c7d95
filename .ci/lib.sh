#!/usr/bin/env bash
# Shared by the .ci/install*.sh scripts (sourced, not run).

POLICY_RC=/usr/sbin/policy-rc.d

# apt_install_missing PKG...: install the Debian packages that are not installed yet.
# Their services are kept from starting (policy-rc.d): the tests start their own servers on
# free loopback ports, and the engine is started by install-docker.sh.
apt_install_missing() {
    local missing=() pkg own_policy=0
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    printf 'apt-get install %s\n' "${missing[*]}" >&2
    if [[ ! -e $POLICY_RC ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
        own_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if ((own_policy)); then
        rm -f "$POLICY_RC"
    fi
}
