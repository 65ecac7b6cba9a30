#!/usr/bin/env bash
# Runs every strictdot test. The Unbound integration tests (tests/it/unbound.rs) need
# unbound and kdig, the metrics test promtool; this script installs them (and dig,
# openssl) with apt-get when any is missing, then runs `cargo test --all-targets` with any extra arguments passed through:
#
#   scripts/test.sh                 # everything
#   scripts/test.sh unbound_        # only tests whose names contain "unbound_"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# unbound lives in /usr/sbin, which is not always on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing=()
for tool in unbound kdig dig openssl promtool setcap setpriv ldns-signzone; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
    fi
done

# Whether a unbound daemon (not a kernel thread named *unbound*) is running.
unbound_running() {
    pgrep -x unbound >/dev/null 2>&1
}

if ((${#missing[@]} > 0)); then
    echo "scripts/test.sh: missing ${missing[*]}; installing with apt-get" >&2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: apt-get not found; install unbound, knot-dnsutils (kdig)," \
            "bind9-dnsutils (dig) and openssl yourself" >&2
        exit 1
    fi
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "scripts/test.sh: not root and no sudo; cannot install ${missing[*]}" >&2
            exit 1
        fi
    fi
    was_running=no
    if unbound_running; then
        was_running=yes
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y unbound knot-dnsutils bind9-dnsutils openssl prometheus libcap2-bin \
        util-linux ldnsutils
    # The prometheus package is installed for promtool only (the metrics test runs
    # `promtool check metrics`); a server its install may have started is stopped below.
    if pgrep -x prometheus >/dev/null 2>&1; then
        "${sudo[@]}" pkill -x prometheus || true
    fi
    # Installing the unbound package may start the system resolver service. The tests run
    # their own unbound on free loopback ports, but a system unbound started here would
    # keep running (and may take over 127.0.0.1:53), so stop one that this install
    # started. A unbound that was already running before is left alone.
    if [[ $was_running == no ]] && unbound_running; then
        echo "scripts/test.sh: stopping the unbound service the package install started" >&2
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
            "${sudo[@]}" systemctl stop unbound.service || true
        elif command -v service >/dev/null 2>&1; then
            "${sudo[@]}" service unbound stop || true
        fi
        if unbound_running; then
            echo "scripts/test.sh: warning: a system unbound is still running" >&2
        fi
    fi
fi

for tool in unbound kdig promtool; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "scripts/test.sh: $tool is still not available" >&2
        exit 1
    fi
done

# The abuse tests hold a thousand TCP connections at once.
ulimit -n 8192 2>/dev/null || true

exec cargo test --all-targets "$@"
