#!/usr/bin/env bash
# Proves the FROM scratch property without a Docker engine: the static binary runs in an
# empty root directory holding only itself and a policy file (chroot), answers a query
# through a local DNS-over-TLS upstream (Unbound on loopback), and exits 0 on SIGTERM.
# It runs as the image runs it: as user 65532, binding a port below 1024 through the file
# capability the Dockerfile gives the binary (cap_net_bind_service=+p), after which it must
# hold no capability at all. A second run, in a root laid out as the image is
# (/etc/strictdot/strictdot.toml, the default policy the Dockerfile copies from
# policy/strictdot.toml), gives no --policy: strictdot must read that file and say so.
# Needs root (chroot), unbound, kdig, openssl, setcap. Usage: scripts/scratch-test.sh [BINARY]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/sbin:/sbin"

bin=${1:-$(bash scripts/build-static.sh)}
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "scratch-test: $bin is dynamically linked" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "scratch-test: needs root for chroot" >&2
    exit 1
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

low_port() { # a port below 1024 free for TCP and UDP on 127.0.0.1
    python3 -c 'import socket
for p in range(999, 899, -1):
    t = socket.socket(); u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", p)); u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()'
}

free_port() {
    python3 -c 'import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()'
}

# Asks the strictdot on 127.0.0.1:$1 for www.example A until the answer (192.0.2.1) comes,
# at most 100 times 0.1 s apart; leaves the last reply in $answer, fails if none had it.
await_answer() {
    answer=""
    for _ in $(seq 1 100); do
        answer=$(kdig @127.0.0.1 -p "$1" +time=1 +retry=0 www.example A 2>/dev/null || true)
        if grep -q "NOERROR" <<<"$answer" && grep -q "192.0.2.1" <<<"$answer"; then
            return 0
        fi
        sleep 0.1
    done
    grep -q "192.0.2.1" <<<"$answer"
}

# A local DoT upstream with a self-signed leaf certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=upstream.test -addext subjectAltName=DNS:upstream.test \
    -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
up_port=$(free_port)
cat >"$work/unbound.conf" <<CONF
server:
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: "$work/unbound.log"
  do-daemonize: no
  num-threads: 1
  interface: 127.0.0.1@$up_port
  tls-port: $up_port
  tls-service-key: "$work/key.pem"
  tls-service-pem: "$work/cert.pem"
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "example." static
  local-data: "www.example. 300 IN A 192.0.2.1"
  local-zone: "." refuse
remote-control:
  control-enable: no
CONF
unbound -d -c "$work/unbound.conf" >/dev/null 2>&1 &
pids+=($!)

pin=$("$bin" pin --cert "$work/cert.pem" | awk '/pin-sha256:/ {print $2; exit}')
port=$(low_port)

# The root: the binary and a policy, nothing else. The binary carries the file capability
# the Dockerfile sets.
root="$work/root"
mkdir -p "$root"
cp "$bin" "$root/strictdot"
setcap cap_net_bind_service=+p "$root/strictdot"
cat >"$root/policy.toml" <<POLICY
[listen]
addresses = ["127.0.0.1:$port"]
[[upstream]]
name = "local"
address = "127.0.0.1:$up_port"
pins = [{ sha256 = "$pin", comment = "scratch test" }]
# Validation stays on; the upstream's unsigned local zone is a negative trust anchor.
[dnssec]
insecure_zones = ["example"]
POLICY
echo "scratch-test: root holds: $(cd "$root" && ls -A | tr '\n' ' ')"
[[ $(ls -A "$root" | wc -l) -eq 2 ]]

chmod 755 "$root" "$root/strictdot"
chmod 644 "$root/policy.toml"
chroot --userspec=65532:65532 "$root" /strictdot --policy /policy.toml --log-level info \
    2>"$work/strictdot.log" &
sd=$!
pids+=($sd)

if ! await_answer "$port"; then
    echo "scratch-test: no answer through the chrooted strictdot" >&2
    cat "$work/strictdot.log" "$work/unbound.log" >&2 || true
    exit 1
fi
echo "scratch-test: answered in an empty root: $(grep -m1 'A	192.0.2.1' <<<"$answer" | tr -s '\t' ' ')"
# As user 65532 on port $port (< 1024), and holding no capability now.
status_of=$(cat "/proc/$sd/status")
if ! grep -qE '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status_of"; then
    echo "scratch-test: not running as 65532: $(grep '^Uid:' <<<"$status_of")" >&2
    exit 1
fi
# Every thread: capability sets are per thread.
threads=0
for task in /proc/"$sd"/task/*/status; do
    threads=$((threads + 1))
    task_status=$(cat "$task")
    for set in CapInh CapPrm CapEff CapAmb; do
        if ! grep -qE "^$set:\s+0+$" <<<"$task_status"; then
            echo "scratch-test: $task still holds capabilities: $(grep "^$set:" <<<"$task_status")" >&2
            exit 1
        fi
    done
done
echo "scratch-test: $threads threads, none holding a capability"
echo "scratch-test: user 65532 bound port $port with the file capability, then held none"

kill -TERM "$sd"
status=0
for _ in $(seq 1 100); do
    if ! kill -0 "$sd" 2>/dev/null; then break; fi
    sleep 0.1
done
wait "$sd" || status=$?
if [[ $status -ne 0 ]]; then
    echo "scratch-test: exit status $status after SIGTERM" >&2
    exit 1
fi
echo "scratch-test: exited 0 on SIGTERM"

# The image's default policy: no --policy, so /etc/strictdot/strictdot.toml is read (and
# logged); flags override its upstreams and listen address, as the image's CMD and the
# README's `docker run` lines do.
root2="$work/root2"
mkdir -p "$root2/etc/strictdot"
cp "$root/strictdot" "$root2/strictdot"
setcap cap_net_bind_service=+p "$root2/strictdot"
cp policy/strictdot.toml "$root2/etc/strictdot/strictdot.toml"
chmod 755 "$root2" "$root2/etc" "$root2/etc/strictdot" "$root2/strictdot"
chmod 644 "$root2/etc/strictdot/strictdot.toml"
port2=$(low_port)
chroot --userspec=65532:65532 "$root2" /strictdot --listen "127.0.0.1:$port2" \
    --upstream "127.0.0.1:$up_port" --pin-sha256 "$pin" --insecure-zone example \
    2>"$work/strictdot2.log" &
sd2=$!
pids+=($sd2)
if ! await_answer "$port2"; then
    echo "scratch-test: no answer from the run with the default policy" >&2
    cat "$work/strictdot2.log" >&2 || true
    exit 1
fi
if ! grep -qE 'no --policy given: reading the default policy file.*policy="?/etc/strictdot/strictdot.toml' "$work/strictdot2.log"; then
    echo "scratch-test: no log line saying the default policy /etc/strictdot/strictdot.toml was read:" >&2
    cat "$work/strictdot2.log" >&2
    exit 1
fi
echo "scratch-test: default policy read and logged: $(grep -m1 'default policy file' "$work/strictdot2.log" | sed 's/^[^ ]* *//')"
kill -TERM "$sd2"
status=0
wait "$sd2" || status=$?
if [[ $status -ne 0 ]]; then
    echo "scratch-test: exit status $status after SIGTERM (default policy run)" >&2
    exit 1
fi
echo "scratch-test: passed"
