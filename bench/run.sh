#!/usr/bin/env bash
# strictdot benchmark: strictdot against stubby, Unbound, dnsdist and Knot Resolver as
# plain-DNS-to-DoT forwarders, all in front of the same local Unbound DoT upstream.
# See bench/README.md for what is measured and how to read the results.
#
# This script does NOT build strictdot. Build first, then run, both under the shared lock:
#
#   flock /tmp/strictdot-cargo.lock cargo build --release
#   flock /tmp/strictdot-cargo.lock bash bench/run.sh
#
# Environment (all optional):
#   BENCH_DURATION=10        seconds per dnsperf run
#   BENCH_ROUNDS=3           rounds; every figure reported is the median over the rounds
#   BENCH_CLIENTS=4          dnsperf -c (sockets / TCP / TLS connections)
#   BENCH_OUTSTANDING=200    dnsperf -q (queries in flight, all clients together)
#   BENCH_LATENCY_QPS=1000   dnsperf -Q for the fixed-rate latency workload
#   BENCH_TIMEOUT=2          dnsperf -t (seconds before an unanswered query counts as lost)
#   BENCH_HIT_NAMES=100      distinct names in the cache-hit workload
#   BENCH_MISS_NAMES=        unique names per cache-miss run (default max(1M, 200k*duration))
#   BENCH_PROXIES="strictdot stubby unbound dnsdist kresd"   peers to run, in this order
#   BENCH_OUT=bench/results  where RESULTS.md, results.json and chart.svg go
#   BENCH_SKIP_INSTALL=1     do not apt-get install missing tools
#   BENCH_KEEP_TMP=1         keep the temporary directory (configs, logs) afterwards
#   BENCH_STRICTDOT_BIN=...  binary to test (default target/release/strictdot)
#   BENCH_STRICTDOT_BIN_B=... a second strictdot binary, run as the proxy "strictdot_b" (add
#                            it to BENCH_PROXIES) for an interleaved A/B of two builds; the two
#                            trade places every other round, so give an even BENCH_ROUNDS
#   BENCH_WORKLOADS="hit-udp hit-tcp hit-tls latency-hit miss-udp miss-tcp miss-tls latency"
#                            workloads per proxy, run in this order (also: latency-tcp
#                            latency-tls, churn-tls, churn-tls-resume); the DoT ones are
#                            skipped for stubby (no DoT frontend)
#   BENCH_REFERENCES="upstream plain"   reference sessions (the ceiling, the plain Unbound)
#   BENCH_QPS=               a fixed rate (dnsperf -Q) for the hit/miss workloads too
#   BENCH_PROFILE_DIR=       profile strictdot in every measured run: `perf record -g` and
#                            `perf stat -e 'syscalls:sys_enter_*'` files go to this directory
#   BENCH_PROFILE_FREQ=499   perf record -F (samples per second)
#   BENCH_PROFILE_SYSCALLS=1 0: no syscall counting (it costs the proxy CPU), perf record only
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-4}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
LAT_QPS=${BENCH_LATENCY_QPS:-1000}
HIT_NAMES=${BENCH_HIT_NAMES:-100}
MISS_NAMES=${BENCH_MISS_NAMES:-$((DURATION * 200000 > 1000000 ? DURATION * 200000 : 1000000))}
PROXIES=${BENCH_PROXIES:-"strictdot stubby unbound dnsdist kresd"}
OUT_DIR=${BENCH_OUT:-$BENCH_DIR/results}
STRICTDOT=${BENCH_STRICTDOT_BIN:-$ROOT/target/release/strictdot}
STRICTDOT_B=${BENCH_STRICTDOT_BIN_B:-}
ALL_WORKLOADS="hit-udp hit-tcp hit-tls latency-hit miss-udp miss-tcp miss-tls latency latency-tcp latency-tls churn-tls churn-tls-resume stream-tcp stream-tls"
WORKLOADS=${BENCH_WORKLOADS:-"hit-udp hit-tcp hit-tls latency-hit miss-udp miss-tcp miss-tls latency"}
REFERENCES=${BENCH_REFERENCES:-"upstream plain"}
for w in $WORKLOADS; do
    [[ " $ALL_WORKLOADS " == *" $w "* ]] || { echo "unknown workload '$w' (choose from $ALL_WORKLOADS)" >&2; exit 1; }
done
# strictdot reads STRICTDOT_* variables; none from the caller's environment may leak in.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^STRICTDOT_' || true)
# dnsperf -t: a query unanswered after this many seconds counts as lost. dnsperf 2.10 keeps
# running (and spinning) for about this long after -l runs out, so it is kept short.
DNSPERF_TIMEOUT=${BENCH_TIMEOUT:-2}

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

for v in DURATION ROUNDS CLIENTS OUTSTANDING LAT_QPS HIT_NAMES MISS_NAMES DNSPERF_TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

# ---------------------------------------------------------------------------------------
# 0. The strictdot binary (built beforehand, see above).
# ---------------------------------------------------------------------------------------
if [[ ! -x $STRICTDOT ]]; then
    die "$STRICTDOT is missing. Build it first (from $ROOT):
    flock /tmp/strictdot-cargo.lock cargo build --release
then run:
    flock /tmp/strictdot-cargo.lock bash bench/run.sh"
fi
if [[ -d $ROOT/src ]] && [[ -n $(find "$ROOT/src" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$STRICTDOT" -print -quit 2>/dev/null) ]]; then
    log "WARNING: sources are newer than $STRICTDOT; the binary may be stale"
fi

# ---------------------------------------------------------------------------------------
# 1. Tools: install what is missing (Debian packages).
# ---------------------------------------------------------------------------------------
declare -A PKG_OF=([unbound]=unbound [dnsperf]=dnsperf [stubby]=stubby [dnsdist]=dnsdist
    [kresd]=knot-resolver [gcc]=gcc [openssl]=openssl [python3]=python3)
missing=()
for tool in unbound dnsperf stubby dnsdist kresd gcc openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${PKG_OF[$tool]}")
done
[[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
if ((${#missing[@]} > 0)); then
    [[ ${BENCH_SKIP_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]} (BENCH_SKIP_INSTALL=1)"
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get; install them yourself"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo; cannot install ${missing[*]}"
        sudo=(sudo)
    fi
    declare -A was_running=()
    for d in unbound dnsdist stubby kresd; do
        pgrep -x "$d" >/dev/null 2>&1 && was_running[$d]=1
    done
    log "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    # A package install may start the distribution's service; stop the ones it started so
    # they neither hold port 53 nor take CPU during the runs.
    declare -A SVC_OF=([unbound]=unbound [dnsdist]=dnsdist [stubby]=stubby [kresd]=kresd@1)
    for d in unbound dnsdist stubby kresd; do
        if [[ -z ${was_running[$d]:-} ]] && pgrep -x "$d" >/dev/null 2>&1; then
            log "stopping the $d service that the package install started"
            if [[ -d /run/systemd/system ]]; then
                "${sudo[@]}" systemctl stop "${SVC_OF[$d]}" || true
            else
                "${sudo[@]}" service "${SVC_OF[$d]}" stop || true
            fi
        fi
    done
fi

# ---------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped on exit.
# ---------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/strictdot-bench.XXXXXX)
declare -A PIDS=()

stop_proc() { # stop_proc NAME: SIGTERM, up to 15 s, then SIGKILL
    local name=$1 pid=${PIDS[$1]:-} i
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) did not stop after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$name]"
}

cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    for name in "${!PIDS[@]}"; do
        stop_proc "$name"
    done
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_proc() { # start_proc NAME LOGFILE CMD...: runs CMD in the background (no shell in between)
    local name=$1 logf=$2
    shift 2
    "$@" >"$logf" 2>&1 &
    PIDS[$name]=$!
}

alive() { [[ -n ${PIDS[$1]:-} ]] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime(+cutime+cstime) of a process, all its threads included
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo 0
        return
    }
    s=${s##*) }
    local -a fields
    read -ra fields <<<"$s"
    echo $((fields[11] + fields[12] + fields[13] + fields[14]))
}
machine_busy_ticks() { # busy ticks of all CPUs together, from /proc/stat
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
ticks_to_s() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.3f", t / h }'; }
vmhwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

PY="python3 $BENCH_DIR/benchlib.py"
RAW=$WORK/raw.jsonl
: >"$RAW"
json_line() { # json_line k=v ...: one JSON object; values that parse as JSON keep their type
    python3 -c '
import json, sys
def conv(v):
    try:
        return json.loads(v)
    except ValueError:
        return v
print(json.dumps({k: conv(v) for k, v in (a.split("=", 1) for a in sys.argv[1:])}))' "$@"
}

START_EPOCH=$(date +%s)
n_proxies=$(wc -w <<<"$PROXIES")
n_work=$(wc -w <<<"$WORKLOADS")
est=$(((ROUNDS * (n_proxies * (n_work * (DURATION + 2) + 8) + 6 * (DURATION + 1))) / 60 + 1))
log "work directory $WORK; ${DURATION}s per run, $ROUNDS rounds, proxies: $PROXIES; expect about $est min"

# ---------------------------------------------------------------------------------------
# 2. Certificates: a small CA and a leaf for bench.test (CA:FALSE, SAN DNS:bench.test).
# ---------------------------------------------------------------------------------------
. "$BENCH_DIR/lib.sh"
make_certs
log "certificates: CA $CA, leaf for bench.test (CA:FALSE)"

# ---------------------------------------------------------------------------------------
# nodelay.so: TCP_NODELAY on sockets that Unbound accepts (see bench/nodelay.c).
# ---------------------------------------------------------------------------------------
NODELAY=$WORK/nodelay.so
gcc -O2 -Wall -shared -fPIC -o "$NODELAY" "$BENCH_DIR/nodelay.c" -ldl || die "could not build nodelay.so"

read -r UP_PORT PLAIN_PORT P_STRICTDOT P_STUBBY P_UNBOUND P_DNSDIST P_KRESD P_STRICTDOT_B \
    T_STRICTDOT T_UNBOUND T_DNSDIST T_KRESD T_STRICTDOT_B <<<"$($PY freeports 13)"
declare -A PORT_OF=([strictdot]=$P_STRICTDOT [strictdot_b]=$P_STRICTDOT_B [stubby]=$P_STUBBY [unbound]=$P_UNBOUND
    [dnsdist]=$P_DNSDIST [kresd]=$P_KRESD [upstream]=$UP_PORT [plain]=$PLAIN_PORT)
# The DoT frontend of each proxy that has one (stubby has none), for the *-tls workloads.
# Each presents the benchmark's leaf certificate; dnsperf -m dot does not verify it.
declare -A TLS_PORT_OF=([strictdot]=$T_STRICTDOT [strictdot_b]=$T_STRICTDOT_B [unbound]=$T_UNBOUND
    [dnsdist]=$T_DNSDIST [kresd]=$T_KRESD)

unbound_common() { # unbound_common DIR NAME
    cat <<EOF
server:
    do-daemonize: no
    chroot: ""
    username: ""
    pidfile: ""
    directory: "$1"
    use-syslog: no
    logfile: "$1/$2.log"
    log-time-ascii: yes
    verbosity: 1
    so-reuseport: yes
    access-control: 127.0.0.0/8 allow
EOF
}

# ---------------------------------------------------------------------------------------
# 3. The upstream: Unbound as a DoT server, answering every *.bench name from local data.
#    And a plain (no TLS) Unbound with the same zone as the UDP reference.
# ---------------------------------------------------------------------------------------
# TCP connections the upstream Unbound has accepted so far (nodelay.so logs each one).
upstream_accepts() { grep -c 'TCP_NODELAY on fd' "$WORK/upstream/stderr.log" 2>/dev/null || true; }

start_upstream() {
    local d=$WORK/upstream
    mkdir -p "$d"
    {
        unbound_common "$d" unbound
        cat <<EOF
$(unbound_dot_upstream "$UP_PORT")
    local-zone: "." refuse
    local-zone: "bench." redirect
    local-data: "bench. 300 IN A 192.0.2.1"
remote-control:
    control-enable: no
EOF
    } >"$d/unbound.conf"
    unbound-checkconf "$d/unbound.conf" >/dev/null || die "upstream unbound.conf is invalid"
    start_proc upstream "$d/stderr.log" env LD_PRELOAD="$NODELAY" NODELAY_VERBOSE=1 \
        unbound -d -c "$d/unbound.conf"
    $PY probe 127.0.0.1 "$UP_PORT" ready.bench --mode tls --ca-file "$CA" --tls-name bench.test \
        --want NOERROR --wait 20 >/dev/null ||
        die "upstream Unbound (DoT) did not answer; see $(cat "$d/unbound.log" "$d/stderr.log" 2>/dev/null | tail -5)"
    grep -q 'TCP_NODELAY on fd .*: ok' "$d/stderr.log" ||
        die "nodelay.so did not set TCP_NODELAY in the upstream Unbound"
    log "upstream Unbound (DoT) on 127.0.0.1:$UP_PORT, pid ${PIDS[upstream]}; TCP_NODELAY shim active"
}

start_plain() {
    local d=$WORK/plain
    mkdir -p "$d"
    {
        unbound_common "$d" unbound
        cat <<EOF
    interface: 127.0.0.1@$PLAIN_PORT
    num-threads: 1
    incoming-num-tcp: 1000
    local-zone: "." refuse
    local-zone: "bench." redirect
    local-data: "bench. 300 IN A 192.0.2.1"
remote-control:
    control-enable: no
EOF
    } >"$d/unbound.conf"
    unbound-checkconf "$d/unbound.conf" >/dev/null || die "plain unbound.conf is invalid"
    start_proc plain "$d/stderr.log" env LD_PRELOAD="$NODELAY" unbound -d -c "$d/unbound.conf"
    $PY probe 127.0.0.1 "$PLAIN_PORT" ready.bench --want NOERROR --wait 20 >/dev/null ||
        die "plain Unbound did not answer"
    log "plain Unbound (UDP/TCP, no TLS) on 127.0.0.1:$PLAIN_PORT, pid ${PIDS[plain]}"
}

# ---------------------------------------------------------------------------------------
# 4. The proxies. Each start_* writes its config and starts it; PROXY_PID is the process
#    whose CPU time and VmHWM are reported.
# ---------------------------------------------------------------------------------------
# DNSSEC validation stays on (the default); the bench zone is an unsigned name that the
# root does not know, so it is named a negative trust anchor, as an operator names a private
# zone (README, DNSSEC). Through the environment, so a build older than the setting (an A/B)
# takes the same command line. env execs the binary: the PID is strictdot's.
start_strictdot() {
    local d=$WORK/strictdot
    mkdir -p "$d"
    # --log-level info: the shutdown "traffic" line is logged at info. At info strictdot
    # logs nothing per query (start-up and upstream state changes only).
    start_proc strictdot "$d/strictdot.log" env STRICTDOT_INSECURE_ZONE=bench "$STRICTDOT" \
        --listen "127.0.0.1:$P_STRICTDOT" \
        --listen-tls "127.0.0.1:$T_STRICTDOT" --tls-cert "$LEAF" --tls-key "$LEAF_KEY" \
        --upstream "127.0.0.1:$UP_PORT#bench.test" --ca-file "$CA" \
        --tls-handshake-rate 0 --rate-limit 0 --log-level info
}

# The second build of an A/B (BENCH_STRICTDOT_BIN_B), with exactly the same flags.
start_strictdot_b() {
    local d=$WORK/strictdot_b
    mkdir -p "$d"
    [[ -x $STRICTDOT_B ]] || die "strictdot_b needs BENCH_STRICTDOT_BIN_B (an executable)"
    start_proc strictdot_b "$d/strictdot.log" env STRICTDOT_INSECURE_ZONE=bench "$STRICTDOT_B" \
        --listen "127.0.0.1:$P_STRICTDOT_B" \
        --listen-tls "127.0.0.1:$T_STRICTDOT_B" --tls-cert "$LEAF" --tls-key "$LEAF_KEY" \
        --upstream "127.0.0.1:$UP_PORT#bench.test" --ca-file "$CA" \
        --tls-handshake-rate 0 --rate-limit 0 --log-level info
}

start_stubby() {
    local d=$WORK/stubby
    mkdir -p "$d/appdata"
    cat >"$d/stubby.yml" <<EOF
resolution_type: GETDNS_RESOLUTION_STUB
dns_transport_list:
  - GETDNS_TRANSPORT_TLS
tls_authentication: GETDNS_AUTHENTICATION_REQUIRED
tls_query_padding_blocksize: 128
edns_client_subnet_private: 1
round_robin_upstreams: 0
idle_timeout: 120000
tls_ca_file: "$CA"
appdata_dir: "$d/appdata"
listen_addresses:
  - 127.0.0.1@$P_STUBBY
upstream_recursive_servers:
  - address_data: 127.0.0.1
    tls_port: $UP_PORT
    tls_auth_name: "bench.test"
EOF
    start_proc stubby "$d/stubby.log" stubby -C "$d/stubby.yml" -v 4
}

start_unbound() {
    local d=$WORK/unbound-fwd
    mkdir -p "$d"
    {
        unbound_common "$d" unbound
        cat <<EOF
    interface: 127.0.0.1@$P_UNBOUND
    interface: 127.0.0.1@$T_UNBOUND
    tls-port: $T_UNBOUND
    tls-service-key: "$LEAF_KEY"
    tls-service-pem: "$LEAF"
    num-threads: 2
    incoming-num-tcp: 1000
    num-queries-per-thread: 4096
    outgoing-num-tcp: 64
    max-reuse-tcp-queries: 1000000
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    tls-cert-bundle: "$CA"
forward-zone:
    name: "."
    forward-tls-upstream: yes
    forward-addr: 127.0.0.1@$UP_PORT#bench.test
remote-control:
    control-enable: no
EOF
    } >"$d/unbound.conf"
    unbound-checkconf "$d/unbound.conf" >/dev/null || die "forwarder unbound.conf is invalid"
    start_proc unbound "$d/stderr.log" env LD_PRELOAD="$NODELAY" unbound -d -c "$d/unbound.conf"
}

start_dnsdist() {
    local d=$WORK/dnsdist
    mkdir -p "$d"
    cat >"$d/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setACL({"127.0.0.0/8"})
addLocal("127.0.0.1:$P_DNSDIST", { reusePort = true, maxInFlight = 128 })
addTLSLocal("127.0.0.1:$T_DNSDIST", "$LEAF", "$LEAF_KEY", { provider = "openssl", reusePort = true, maxInFlight = 128 })
newServer({ address = "127.0.0.1:$UP_PORT", name = "upstream", tls = "openssl",
            subjectName = "bench.test", validateCertificates = true, caStore = "$CA",
            checkName = "bench.", checkType = "A", checkInterval = 1, maxInFlight = 128 })
pc = newPacketCache(100000, { maxTTL = 86400, minTTL = 0 })
getPool(""):setCache(pc)
EOF
    start_proc dnsdist "$d/dnsdist.log" dnsdist --supervised --disable-syslog -C "$d/dnsdist.conf"
}

start_kresd() {
    local d=$WORK/kresd
    mkdir -p "$d/cache"
    cat >"$d/config.lua" <<EOF
net.listen('127.0.0.1', $P_KRESD, { kind = 'dns' })
net.listen('127.0.0.1', $T_KRESD, { kind = 'tls' })
net.tls('$LEAF', '$LEAF_KEY')
cache.open(100 * MB, 'lmdb://$d/cache')
-- the upstream serves only bench.; nothing to validate against the root trust anchor
trust_anchors.remove('.')
$(kresd_forward_lua "$UP_PORT" "$CA")
EOF
    start_proc kresd "$d/kresd.log" kresd -n -c "$d/config.lua" "$d"
}

proxy_log() {
    case $1 in
    strictdot) echo "$WORK/strictdot/strictdot.log" ;;
    strictdot_b) echo "$WORK/strictdot_b/strictdot.log" ;;
    stubby) echo "$WORK/stubby/stubby.log" ;;
    unbound) echo "$WORK/unbound-fwd/unbound.log $WORK/unbound-fwd/stderr.log" ;;
    dnsdist) echo "$WORK/dnsdist/dnsdist.log" ;;
    kresd) echo "$WORK/kresd/kresd.log" ;;
    esac
}

# ---------------------------------------------------------------------------------------
# 5. Workloads (dnsperf).
# ---------------------------------------------------------------------------------------
HIT_FILE=$WORK/hit.txt
awk -v n="$HIT_NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "hit%d.bench A\n", i }' >"$HIT_FILE"

gen_names() { # gen_names FILE PREFIX COUNT: unique names PREFIX<i>.bench
    awk -v p="$2" -v n="$3" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d.bench A\n", p, i }' >"$1"
}

# start_profile TARGET WORKLOAD ROUND PID SECONDS: with BENCH_PROFILE_DIR set and a strictdot
# target, profiles PID for SECONDS in the background (perf record, and perf stat of the
# syscalls unless BENCH_PROFILE_SYSCALLS=0); the caller's array `prof` gets their PIDs.
start_profile() {
    [[ -n ${BENCH_PROFILE_DIR:-} && $1 == strictdot* ]] || return 0
    mkdir -p "$BENCH_PROFILE_DIR"
    local pbase=$BENCH_PROFILE_DIR/$1-$2-r$3
    command perf record -g -F "${BENCH_PROFILE_FREQ:-499}" -p "$4" -o "$pbase.data" -- sleep "$5" >/dev/null 2>&1 &
    prof+=($!)
    if [[ ${BENCH_PROFILE_SYSCALLS:-1} != 0 ]]; then
        command perf stat -e 'syscalls:sys_enter_*' -p "$4" -o "$pbase.syscalls" -- sleep "$5" >/dev/null 2>&1 &
        prof+=($!)
    fi
}

# perf TARGET WORKLOAD ROUND PORT MODE DATAFILE CPU_PID [extra dnsperf args...]
perf() {
    local target=$1 workload=$2 round=$3 port=$4 mode=$5 data=$6 cpu_pid=$7
    shift 7
    local out=$WORK/perf-$target-$workload-$round.out latency=() c0 c1 u0 u1 lines
    local secs=${PERF_SECONDS:-$DURATION}
    [[ $workload == latency* ]] && latency=(--latency)
    lines=$(wc -l <"$data")
    local m0 m1 dp_cpu TIMEFORMAT='%U %S'
    c0=$(cpu_ticks "$cpu_pid")
    u0=$(cpu_ticks "${PIDS[upstream]}")
    m0=$(machine_busy_ticks)
    local fixed=() prof=()
    if [[ -n ${BENCH_QPS:-} && $workload != latency* ]]; then
        fixed=(-Q "$BENCH_QPS")
    fi
    if [[ $workload != warmup && $workload != hit-warm ]]; then
        start_profile "$target" "$workload" "$round" "$cpu_pid" "$secs"
    fi
    { time dnsperf -m "$mode" -s 127.0.0.1 -p "$port" -d "$data" -c "$CLIENTS" -q "$OUTSTANDING" \
        -l "$secs" -t "$DNSPERF_TIMEOUT" "${fixed[@]}" "$@" >"$out" 2>&1 || true; } 2>"$out.time"
    local pp
    for pp in "${prof[@]}"; do wait "$pp" || true; done
    prof=()
    m1=$(machine_busy_ticks)
    c1=$(cpu_ticks "$cpu_pid")
    u1=$(cpu_ticks "${PIDS[upstream]}")
    dp_cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$out.time" 2>/dev/null || echo 0)
    local rec
    rec=$($PY dnsperf "$out" "${latency[@]}" --append "$RAW" \
        --meta kind=run --meta "target=$target" --meta "workload=$workload" \
        --meta "round=$round" --meta "mode=$mode" --meta "datafile_lines=$lines" \
        --meta "duration_s=$secs" \
        --meta "cpu_s=$(ticks_to_s $((c1 - c0)))" \
        --meta "upstream_cpu_s=$(ticks_to_s $((u1 - u0)))" \
        --meta "dnsperf_cpu_s=$dp_cpu" \
        --meta "machine_busy_s=$(ticks_to_s $((m1 - m0)))" \
        --meta "dnsperf_args=\"$*\"") || {
        log "  $target $workload: could not parse dnsperf output: $(tail -3 "$out")"
        return 0
    }
    [[ $workload == warmup || $workload == hit-warm ]] && return 0
    python3 - "$rec" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])
lat = ""
if r.get("p50_ms") is not None:
    lat = " p50 %.3f ms p99 %.3f ms" % (r["p50_ms"], r["p99_ms"])
print("    %-9s %-9s qps %9.0f  avg %.3f ms  lost %.2f%%  cpu %.2f s  rcodes %s%s" % (
    r["target"], r["workload"], r.get("qps", 0), r.get("avg_latency_ms", 0), r.get("loss_pct", 100),
    float(r["cpu_s"]), r.get("rcodes"), lat))
if r.get("sent", 0) >= r["datafile_lines"] and r["workload"].startswith("miss"):
    print("    WARNING: dnsperf reached the end of its %d-name file" % r["datafile_lines"])
EOF
    rm -f "$out" "$out.time"
}

# churn TARGET WORKLOAD ROUND PORT CPU_PID [--resume]: short-lived DoT clients (bench/churn.py),
# one query per TLS connection, for DURATION seconds; one JSON record of kind "churn".
churn() {
    local target=$1 workload=$2 round=$3 port=$4 cpu_pid=$5 c0 c1 rec
    shift 5
    c0=$(cpu_ticks "$cpu_pid")
    rec=$(python3 "$BENCH_DIR/churn.py" 127.0.0.1 "$port" --seconds "$DURATION" \
        --threads "$CLIENTS" --names "$HIT_FILE" "$@") || {
        log "  $target $workload: churn.py failed"
        return 0
    }
    c1=$(cpu_ticks "$cpu_pid")
    rec=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(kind="churn", target=sys.argv[2], workload=sys.argv[3], round=int(sys.argv[4]), cpu_s=float(sys.argv[5])); print(json.dumps(r))' \
        "$rec" "$target" "$workload" "$round" "$(ticks_to_s $((c1 - c0)))")
    echo "$rec" >>"$RAW"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("    %-9s %-16s %6.0f handshakes/s  resumed %5.1f%%  errors %d  cpu %.2f s" % (r["target"], r["workload"], r["handshakes_per_s"], 100*r["resumed_share"], r["errors"], r["cpu_s"]))' "$rec" >&2
}

# stream TARGET WORKLOAD ROUND PORT CPU_PID [--tls]: cache hits from bench/stream.py, which
# writes its queries in batches (one write, over DoT one TLS record, per BENCH_STREAM_BATCH
# queries) on CLIENTS connections; one JSON record of kind "stream".
stream() {
    local target=$1 workload=$2 round=$3 port=$4 cpu_pid=$5 c0 c1 rec prof=() pp
    shift 5
    c0=$(cpu_ticks "$cpu_pid")
    start_profile "$target" "$workload" "$round" "$cpu_pid" "$DURATION"
    rec=$(python3 "$BENCH_DIR/stream.py" 127.0.0.1 "$port" --seconds "$DURATION" \
        --clients "$CLIENTS" --batch "${BENCH_STREAM_BATCH:-50}" --names "$HIT_FILE" "$@") || {
        log "  $target $workload: stream.py failed"
        return 0
    }
    for pp in "${prof[@]}"; do wait "$pp" || true; done
    c1=$(cpu_ticks "$cpu_pid")
    rec=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(kind="stream", target=sys.argv[2], workload=sys.argv[3], round=int(sys.argv[4]), cpu_s=float(sys.argv[5])); print(json.dumps(r))' \
        "$rec" "$target" "$workload" "$round" "$(ticks_to_s $((c1 - c0)))")
    echo "$rec" >>"$RAW"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("    %-9s %-10s qps %9.0f  noerror %5.1f%%  cpu %.2f s  answers/CPU-s %.0f" % (r["target"], r["workload"], r["qps"], 100*r["noerror"]/max(1,r["answers"]), r["cpu_s"], r["noerror"]/max(0.001,r["cpu_s"])))' "$rec" >&2
}

# Cache-miss name files are generated per (round, target, workload) so that no name is
# ever sent twice, not even across rounds or proxies.
miss_file() { # miss_file ROUND TARGET TAG COUNT -> prints path
    local f=$WORK/names-$1-$2-$3.txt
    gen_names "$f" "r$1-$2-$3-" "$4"
    echo "$f"
}

run_proxy_session() { # run_proxy_session PROXY ROUND
    local p=$1 r=$2 port=${PORT_OF[$1]} f pid hwm c_start conn_start conn_end
    log "round $r: $p on 127.0.0.1:$port"
    conn_start=$(upstream_accepts)
    "start_$p"
    if ! $PY probe 127.0.0.1 "$port" "ready-r$r.$p.bench" --want NOERROR --wait 30 >"$WORK/probe.out" 2>&1; then
        local reason logs
        read -ra logs <<<"$(proxy_log "$p")"
        reason="no NOERROR answer within 30 s ($(tail -1 "$WORK/probe.out")); log: $(tail -q -n 3 "${logs[@]}" 2>/dev/null | tail -3 | tr '\n"' ' _' | cut -c1-300)"
        alive "$p" || reason="process exited; $reason"
        log "  $p did not come up: $reason"
        json_line kind=session "target=$p" "round=$r" ok=false "reason=$reason" >>"$RAW"
        stop_proc "$p"
        return 0
    fi
    pid=${PIDS[$p]}
    c_start=$(cpu_ticks "$pid")
    # Warm-up (1 s, not in the tables): opens upstream connections, primes allocators.
    f=$(miss_file "$r" "$p" w 200000)
    PERF_SECONDS=1 perf "$p" warmup "$r" "$port" udp "$f" "$pid" -n 1
    rm -f "$f"

    # Cache-hit first: warm the cache with the small name set (sent twice), then loop over
    # it. The hit runs come before the miss runs because dnsdist's packet cache does not
    # evict entries while they are fresh: once millions of unique names have filled it,
    # the hit names would never get in and dnsdist's "cache hit" would be forwarding.
    PERF_SECONDS=5 perf "$p" hit-warm "$r" "$port" udp "$HIT_FILE" "$pid" -n 2
    local w tport=${TLS_PORT_OF[$p]:-}
    for w in $WORKLOADS; do
        if [[ $w == *-tls* && -z $tport ]]; then
            continue # no DoT frontend (stubby)
        fi
        case $w in
        hit-udp) perf "$p" hit-udp "$r" "$port" udp "$HIT_FILE" "$pid" ;;
        hit-tcp) perf "$p" hit-tcp "$r" "$port" tcp "$HIT_FILE" "$pid" ;;
        hit-tls) perf "$p" hit-tls "$r" "$tport" dot "$HIT_FILE" "$pid" ;;
        churn-tls) churn "$p" "$w" "$r" "$tport" "$pid" ;;
        churn-tls-resume) churn "$p" "$w" "$r" "$tport" "$pid" --resume ;;
        stream-tcp) stream "$p" "$w" "$r" "$port" "$pid" ;;
        stream-tls) stream "$p" "$w" "$r" "$tport" "$pid" --tls ;;
        # Latency of a cache hit at the fixed rate (the name set is in the cache by now).
        latency-hit) perf "$p" latency-hit "$r" "$port" udp "$HIT_FILE" "$pid" -Q "$LAT_QPS" -v ;;
        # Cache-miss: unique names, new for each run.
        miss-udp | miss-tcp | miss-tls)
            f=$(miss_file "$r" "$p" "$w" "$MISS_NAMES")
            case $w in
            miss-udp) perf "$p" "$w" "$r" "$port" udp "$f" "$pid" -n 1 ;;
            miss-tcp) perf "$p" "$w" "$r" "$port" tcp "$f" "$pid" -n 1 ;;
            miss-tls) perf "$p" "$w" "$r" "$tport" dot "$f" "$pid" -n 1 ;;
            esac
            rm -f "$f"
            ;;
        latency | latency-tcp | latency-tls)
            f=$(miss_file "$r" "$p" "$w" $((LAT_QPS * DURATION + 10000)))
            case $w in
            latency) perf "$p" "$w" "$r" "$port" udp "$f" "$pid" -n 1 -Q "$LAT_QPS" -v ;;
            latency-tcp) perf "$p" "$w" "$r" "$port" tcp "$f" "$pid" -n 1 -Q "$LAT_QPS" -v ;;
            latency-tls) perf "$p" "$w" "$r" "$tport" dot "$f" "$pid" -n 1 -Q "$LAT_QPS" -v ;;
            esac
            rm -f "$f"
            ;;
        esac
    done

    hwm=$(vmhwm_kb "$pid")
    local cpu_total
    cpu_total=$(ticks_to_s $(($(cpu_ticks "$pid") - c_start)))
    local still=true
    alive "$p" || still=false
    stop_proc "$p"
    conn_end=$(upstream_accepts)
    json_line kind=session "target=$p" "round=$r" ok=true "vmhwm_kb=$hwm" \
        "session_cpu_s=$cpu_total" "alive_at_end=$still" \
        "upstream_connections=$((conn_end - conn_start))" >>"$RAW"
    if [[ $p == strictdot ]]; then
        local line
        line=$(grep -a 'traffic' "$WORK/strictdot/strictdot.log" | tail -1 || true)
        if [[ -n $line ]]; then
            json_line kind=traffic "target=$p" "round=$r" "line=$(printf '%s' "$line" | tr -d '"')" >>"$RAW"
            log "  strictdot: $(printf '%s' "$line" | grep -o 'handshakes=[0-9]* .*handshakes_per_100k_answers=[0-9.]*')"
        else
            log "  strictdot: no traffic line in its log"
        fi
        # keep the round's log for the record
        mv "$WORK/strictdot/strictdot.log" "$WORK/strictdot/strictdot-r$r.log"
    fi
    log "  $p: VmHWM ${hwm} kB, CPU ${cpu_total} s, $((conn_end - conn_start)) upstream connections over the round"
}

run_reference_session() { # run_reference_session upstream|plain ROUND
    local t=$1 r=$2 f
    if [[ $t == upstream ]]; then
        log "round $r: ceiling, dnsperf -m dot straight at the upstream Unbound"
        f=$(miss_file "$r" up md "$MISS_NAMES")
        perf upstream miss-dot "$r" "$UP_PORT" dot "$f" "${PIDS[upstream]}" -n 1
        rm -f "$f"
        f=$(miss_file "$r" up l $((LAT_QPS * DURATION + 10000)))
        perf upstream latency "$r" "$UP_PORT" dot "$f" "${PIDS[upstream]}" -n 1 -Q "$LAT_QPS" -v
        rm -f "$f"
    else
        log "round $r: reference, dnsperf -m udp/tcp at the plain Unbound"
        perf plain hit-udp "$r" "$PLAIN_PORT" udp "$HIT_FILE" "${PIDS[plain]}"
        perf plain hit-tcp "$r" "$PLAIN_PORT" tcp "$HIT_FILE" "${PIDS[plain]}"
        perf plain latency-hit "$r" "$PLAIN_PORT" udp "$HIT_FILE" "${PIDS[plain]}" -Q "$LAT_QPS" -v
        f=$(miss_file "$r" plain l $((LAT_QPS * DURATION + 10000)))
        perf plain latency "$r" "$PLAIN_PORT" udp "$f" "${PIDS[plain]}" -n 1 -Q "$LAT_QPS" -v
        rm -f "$f"
    fi
}

# ---------------------------------------------------------------------------------------
# Versions and machine.
# ---------------------------------------------------------------------------------------
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
git_dirty=""
[[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && git_dirty="+uncommitted changes"
python3 - "$WORK/meta.json" <<EOF
import json, os, platform, subprocess, sys
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:
        return "?"
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
mem_kb = 0
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal:"):
        mem_kb = int(line.split()[1])
meta = {
    "date_utc": sh("date -u +%Y-%m-%dT%H:%M:%SZ"),
    "machine": {"nproc": os.cpu_count(), "cpu_model": cpu, "mem_gib": round(mem_kb / 1048576, 1),
                "kernel": platform.release(), "os": sh(". /etc/os-release && echo \$PRETTY_NAME")},
    "versions": {
        "strictdot": sh("'$STRICTDOT' --version") + " (git $git_rev$git_dirty, binary built " +
                     sh("date -u -r '$STRICTDOT' +%Y-%m-%dT%H:%MZ") + ")",
        "unbound": sh("unbound -V | head -1").replace("Version ", "") + " (Debian $(pkgver unbound))",
        "stubby": sh("stubby -V") + " / getdns (Debian stubby $(pkgver stubby), libgetdns10 $(pkgver libgetdns10))",
        "dnsdist": sh("dnsdist --version | head -1") + " (Debian $(pkgver dnsdist))",
        "kresd": sh("kresd --version") + " (Debian $(pkgver knot-resolver))",
        "dnsperf": sh("dnsperf -h 2>&1 | grep -i '^Version'") + " (Debian $(pkgver dnsperf))",
        "openssl": sh("openssl version"),
        "python3": sh("python3 --version"),
        "gcc": sh("gcc --version | head -1"),
    },
    "params": {"duration_s": $DURATION, "rounds": $ROUNDS, "clients": $CLIENTS,
               "workloads": "$WORKLOADS".split(), "references": "$REFERENCES".split(),
               "outstanding": $OUTSTANDING, "latency_qps": $LAT_QPS, "hit_names": $HIT_NAMES,
               "miss_names_per_run": $MISS_NAMES, "dnsperf_timeout_s": $DNSPERF_TIMEOUT,
               "proxies": "$PROXIES".split()},
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF

# ---------------------------------------------------------------------------------------
# Run: rounds, with the order of the targets rotated each round.
# ---------------------------------------------------------------------------------------
start_upstream
start_plain

read -ra PLIST <<<"$PROXIES"
read -ra RLIST <<<"$REFERENCES"
TARGETS=("${RLIST[@]}" "${PLIST[@]}")
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#TARGETS[@]}
    order=()
    for ((i = 0; i < n; i++)); do order+=("${TARGETS[$(((i + r - 1) % n))]}"); done
    # An A/B: strictdot runs before strictdot_b in odd rounds and after it in even ones.
    # The rotation alone runs strictdot first, right after the plain Unbound's run, in most
    # rounds (and with the two builds alone, it alternates and a swap would undo it), so any
    # effect of the place would count against one build (bench/results/ab/hit-udp-summary.md).
    ia=-1 ib=-1
    for ((i = 0; i < n; i++)); do
        case ${order[i]} in
        strictdot) ia=$i ;;
        strictdot_b) ib=$i ;;
        esac
    done
    if ((ia >= 0 && ib >= 0)) && (((ia < ib) != (r % 2 == 1))); then
        order[ia]=strictdot_b
        order[ib]=strictdot
    fi
    log "=== round $r/$ROUNDS: ${order[*]}"
    for t in "${order[@]}"; do
        alive upstream || die "the upstream Unbound died; see $WORK/upstream/unbound.log"
        case $t in
        upstream | plain) run_reference_session "$t" "$r" ;;
        strictdot | strictdot_b | stubby | unbound | dnsdist | kresd) run_proxy_session "$t" "$r" ;;
        *) die "unknown proxy '$t' (choose from strictdot strictdot_b stubby unbound dnsdist kresd)" ;;
        esac
    done
done

END_EPOCH=$(date +%s)
json_line kind=timing "wall_s=$((END_EPOCH - START_EPOCH))" >>"$RAW"
stop_proc plain
stop_proc upstream

# ---------------------------------------------------------------------------------------
# 6/7. Report.
# ---------------------------------------------------------------------------------------
mkdir -p "$OUT_DIR"
python3 "$BENCH_DIR/report.py" --raw "$RAW" --meta "$WORK/meta.json" --out "$OUT_DIR"
log "done in $((END_EPOCH - START_EPOCH)) s; results in $OUT_DIR (RESULTS.md, results.json, chart.svg)"
