#!/usr/bin/env bash
# Runs every strictdot test. The Unbound integration tests (tests/it/unbound.rs) need
# unbound and kdig, the metrics test promtool; this script installs the package of each
# missing tool with apt-get (--no-install-recommends; the list is in the README's Testing), then runs `cargo test --all-targets` with any extra arguments passed through:
#
#   scripts/test.sh                 # everything
#   scripts/test.sh unbound_        # only tests whose names contain "unbound_"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# unbound lives in /usr/sbin, which is not always on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Each tool the tests run, and the Debian/Ubuntu package that has it. Only the packages of
# missing tools are installed, without recommended packages (README, "Testing").
declare -A package_of=(
    [unbound]=unbound [kdig]=knot-dnsutils [dig]=bind9-dnsutils [openssl]=openssl
    [promtool]=prometheus [setcap]=libcap2-bin [setpriv]=util-linux [ldns-signzone]=ldnsutils
)
missing=()
packages=()
for tool in unbound kdig dig openssl promtool setcap setpriv ldns-signzone; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
        packages+=("${package_of[$tool]}")
    fi
done

# Whether a daemon of this exact name (not a kernel thread named like it) is running.
running() {
    pgrep -x "$1" >/dev/null 2>&1
}

# Stops a daemon the package install started; one that ran before is left alone.
stop_started() {
    local name=$1 was=$2
    if [[ $was == no ]] && running "$name"; then
        echo "scripts/test.sh: stopping the $name service the package install started" >&2
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
            "${sudo[@]}" systemctl stop "$name.service" || true
        elif command -v service >/dev/null 2>&1; then
            "${sudo[@]}" service "$name" stop || true
        fi
        if running "$name"; then
            echo "scripts/test.sh: warning: a $name started by the install is still running" >&2
        fi
    fi
}

if ((${#missing[@]} > 0)); then
    echo "scripts/test.sh: missing ${missing[*]}; installing ${packages[*]} with apt-get" >&2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "scripts/test.sh: apt-get not found; install ${packages[*]} yourself" >&2
        exit 1
    fi
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "scripts/test.sh: not root and no sudo; cannot install ${packages[*]}" >&2
            exit 1
        fi
    fi
    # A unbound or Prometheus the user already runs is never stopped: only one the install
    # started (the tests start their own unbound on free loopback ports; Prometheus is
    # installed for promtool alone, Debian has no package with promtool only).
    unbound_was=no prometheus_was=no
    running unbound && unbound_was=yes
    running prometheus && prometheus_was=yes
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${packages[@]}"
    stop_started prometheus "$prometheus_was"
    stop_started unbound "$unbound_was"
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
