#!/usr/bin/env bash
# DNSSEC benchmark: unique names in a signed wildcard zone, so that every answer needs a
# signature check, through validating forwarders (strictdot, Unbound, Knot Resolver) that all
# trust the same anchor and forward over DoT to one local non-validating Unbound upstream.
# See bench/README.md, section "DNSSEC workload". Run from the repository root, under the
# shared lock:  flock -o /tmp/strictdot-cargo.lock bash bench/dnssec.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-4}
OUTSTANDING=${BENCH_OUTSTANDING:-100}
DNSPERF_TIMEOUT=${BENCH_TIMEOUT:-2}
LATENCY_QPS=${BENCH_LATENCY_QPS:-1000}
PROXIES=${BENCH_PROXIES:-strictdot unbound kresd}
OUT=${BENCH_OUT:-$ROOT/bench/results/dnssec}
STRICTDOT=${BENCH_STRICTDOT_BIN:-$ROOT/target/release/strictdot}
# An A/B of two builds: BENCH_STRICTDOT_BIN_B runs as the proxy "strictdot_b" (added to the
# proxies when set); the two trade places every other round (give an even BENCH_ROUNDS for
# a balanced A/B).
BIN_B=${BENCH_STRICTDOT_BIN_B:-}
PROFILE=${BENCH_PROFILE:-0}
MISS_NAMES=$((DURATION * 100000 > 500000 ? DURATION * 100000 : 500000))
export PATH=$PATH:/usr/sbin:/sbin
unset "${!STRICTDOT_@}"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
[[ -x $STRICTDOT ]] || die "$STRICTDOT missing: flock -o /tmp/strictdot-cargo.lock cargo build --release"
if [[ -n $BIN_B ]]; then
    [[ -x $BIN_B ]] || die "BENCH_STRICTDOT_BIN_B=$BIN_B is not an executable"
    [[ " $PROXIES " == *" strictdot_b "* ]] || PROXIES=${PROXIES/strictdot/strictdot strictdot_b}
fi
for t in unbound kdig dnsperf ldns-keygen ldns-signzone openssl python3; do
    command -v "$t" >/dev/null || die "missing $t"
done

WORK=$(mktemp -d /tmp/strictdot-dnssec.XXXXXX)
declare -A PIDS=()
stop_proc() {
    local pid=${PIDS[$1]:-} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$1]"
}
cleanup() {
    local n
    for n in "${!PIDS[@]}"; do stop_proc "$n"; done
    [[ ${BENCH_KEEP_TMP:-0} == 1 ]] && log "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start_proc() {
    local name=$1 logf=$2
    shift 2
    "$@" >"$logf" 2>&1 &
    PIDS[$name]=$!
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process, all its threads
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo 0
        return
    }
    s=${s##*) }
    local -a f
    read -ra f <<<"$s"
    echo $((f[11] + f[12]))
}
PY="python3 $BENCH_DIR/benchlib.py"
RAW=$WORK/raw.jsonl
: >"$RAW"

# --- certificates (bench/lib.sh, as in run.sh): a CA and a leaf for bench.test ----------
. "$BENCH_DIR/lib.sh"
make_certs

# --- the signed zone: bench. with *.bench. A 192.0.2.1, ECDSAP256SHA256, NSEC3 -----------
# NSEC3 (0 extra iterations, no salt), not NSEC: Unbound 1.17's auth-zone serves an NSEC
# wildcard expansion with the wildcard's NSEC renamed to the query name, which strictdot
# rightly rejects (see tests/it/validation_unbound.rs, UPSTREAM_LIMITS).
z=$WORK/zone
mkdir -p "$z"
cat >"$z/bench.zone" <<'EOF'
$TTL 300
bench.          IN SOA  ns.bench. hostmaster.bench. 1 3600 600 86400 300
bench.          IN NS   ns.bench.
ns.bench.       IN A    192.0.2.53
*.bench.        IN A    192.0.2.1
EOF
(cd "$z" && ldns-keygen -a ECDSAP256SHA256 -k bench >key.name)
KEY=$z/$(cat "$z/key.name")
ldns-signzone -n -t 0 -f "$z/bench.signed" "$z/bench.zone" "$KEY"
ANCHOR=$z/anchor.ds
cp "$KEY.ds" "$ANCHOR"
log "zone bench. signed (NSEC3, ECDSAP256SHA256), trust anchor: $(tr -s '\t ' ' ' <"$ANCHOR")"

read -r UP_PORT P_STRICTDOT P_UNBOUND P_KRESD P_STRICTDOT_B <<<"$($PY freeports 5)"
declare -A PORT_OF=([strictdot]=$P_STRICTDOT [strictdot_b]=$P_STRICTDOT_B [unbound]=$P_UNBOUND [kresd]=$P_KRESD)

unbound_common() { # DIR
    printf '%s\n' "server:" "    do-daemonize: no" '    chroot: ""' '    username: ""' '    pidfile: ""' \
        "    directory: \"$1\"" "    use-syslog: no" "    logfile: \"$1/unbound.log\"" "    verbosity: 1" \
        "    access-control: 127.0.0.0/8 allow" "    interface-automatic: no"
}

# --- the upstream: non-validating Unbound, the zone as an auth-zone, DoT only ------------
u=$WORK/upstream
mkdir -p "$u"
{
    unbound_common "$u"
    cat <<EOF
$(unbound_dot_upstream "$UP_PORT")
    module-config: "iterator"
    outgoing-interface: 127.0.0.1
    qname-minimisation: no
    msg-cache-size: 1m
    rrset-cache-size: 1m
auth-zone:
    name: "bench."
    zonefile: "$z/bench.signed"
    for-downstream: no
    for-upstream: yes
    fallback-enabled: no
remote-control:
    control-enable: no
EOF
} >"$u/unbound.conf"
unbound-checkconf "$u/unbound.conf" >/dev/null || die "upstream unbound.conf invalid"
# nodelay.so (bench/nodelay.c): TCP_NODELAY on the connections Unbound accepts, as in run.sh.
gcc -O2 -Wall -shared -fPIC -o "$WORK/nodelay.so" "$BENCH_DIR/nodelay.c" -ldl || die "could not build nodelay.so"
start_proc upstream "$u/stderr.log" env LD_PRELOAD="$WORK/nodelay.so" unbound -d -c "$u/unbound.conf"
$PY probe 127.0.0.1 "$UP_PORT" ready.bench --mode tls --ca-file "$CA" --tls-name bench.test \
    --want NOERROR --wait 20 >/dev/null || die "upstream did not answer: $(tail -5 "$u/unbound.log")"
log "upstream Unbound (auth-zone bench., DoT) on 127.0.0.1:$UP_PORT"

# --- the validating proxies ---------------------------------------------------------------
start_strictdot_as() { # NAME BINARY PORT
    mkdir -p "$WORK/$1"
    start_proc "$1" "$WORK/$1/strictdot.log" "$2" \
        --listen "127.0.0.1:$3" --upstream "127.0.0.1:$UP_PORT#bench.test" \
        --ca-file "$CA" --trust-anchor-file "$ANCHOR" --rate-limit 0 --log-level info
}
start_strictdot() { start_strictdot_as strictdot "$STRICTDOT" "$P_STRICTDOT"; }
start_strictdot_b() { start_strictdot_as strictdot_b "$BIN_B" "$P_STRICTDOT_B"; }
start_unbound() {
    local d=$WORK/unbound-fwd
    mkdir -p "$d"
    {
        unbound_common "$d"
        cat <<EOF
    interface: 127.0.0.1@$P_UNBOUND
    num-threads: 2
    incoming-num-tcp: 1000
    num-queries-per-thread: 4096
    outgoing-num-tcp: 64
    max-reuse-tcp-queries: 1000000
    do-not-query-localhost: no
    module-config: "validator iterator"
    trust-anchor-file: "$ANCHOR"
    trust-anchor-signaling: no
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
    unbound-checkconf "$d/unbound.conf" >/dev/null || die "forwarder unbound.conf invalid"
    start_proc unbound "$d/stderr.log" unbound -d -c "$d/unbound.conf"
}
start_kresd() {
    local d=$WORK/kresd
    mkdir -p "$d/cache"
    cat >"$d/config.lua" <<EOF
net.listen('127.0.0.1', $P_KRESD, { kind = 'dns' })
cache.open(100 * MB, 'lmdb://$d/cache')
trust_anchors.remove('.')
trust_anchors.add_file('$ANCHOR', true)
$(kresd_forward_lua "$UP_PORT" "$CA")
EOF
    start_proc kresd "$d/kresd.log" kresd -n -c "$d/config.lua" "$d"
}
proxy_log() {
    case $1 in
    strictdot | strictdot_b) echo "$WORK/$1/strictdot.log" ;;
    unbound) echo "$WORK/unbound-fwd/unbound.log" ;;
    kresd) echo "$WORK/kresd/kresd.log" ;;
    esac
}

# ad_check PROXY: a DO query for a fresh name must come back NOERROR with AD set.
ad_check() {
    local out
    out=$(kdig @127.0.0.1 -p "${PORT_OF[$1]}" +dnssec +timeout=3 +retry=1 "adcheck-$RANDOM.bench" A 2>&1) || true
    if grep -q 'status: NOERROR' <<<"$out" && grep -Eq 'Flags:.* ad( |;|$)' <<<"$out"; then
        return 0
    fi
    log "$1 does not validate: $(grep -E 'status|Flags|EDE' <<<"$out" | tr '\n' ' ')"
    return 1
}

gen_names() { python3 -c 'import sys
p = sys.argv[2]
with open(sys.argv[1], "w") as f:
    f.writelines("%s%d.bench A\n" % (p, i) for i in range(int(sys.argv[3])))' "$@"; }

# run_one PROXY WORKLOAD ROUND
run_one() {
    local p=$1 w=$2 r=$3 pid=${PIDS[$1]} data=$WORK/names-$1-$2-$3.txt out=$WORK/dp-$1-$2-$3.out
    local extra=() lat=() c0 c1 u0 u1 prof=
    gen_names "$data" "r$r-$p-$w-" "$MISS_NAMES"
    if [[ $w == latency ]]; then extra=(-Q "$LATENCY_QPS" -v); lat=(--latency); fi
    if [[ $PROFILE == 1 && $p == strictdot && $w == miss-udp && $r == 1 ]]; then
        mkdir -p "$OUT"
        perf record -g -F 999 -p "$pid" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
        prof=$!
    fi
    c0=$(cpu_ticks "$pid")
    u0=$(cpu_ticks "${PIDS[upstream]}")
    dnsperf -m udp -s 127.0.0.1 -p "${PORT_OF[$p]}" -d "$data" -c "$CLIENTS" -q "$OUTSTANDING" -D \
        -l "$DURATION" -t "$DNSPERF_TIMEOUT" -n 1 "${extra[@]}" >"$out" 2>&1 || true
    c1=$(cpu_ticks "$pid")
    u1=$(cpu_ticks "${PIDS[upstream]}")
    [[ -n $prof ]] && wait "$prof" || true
    $PY dnsperf "$out" "${lat[@]}" --append "$RAW" --meta "target=$p" --meta "workload=$w" \
        --meta "round=$r" --meta "cpu_s=$(awk -v t=$((c1 - c0)) -v h="$CLK_TCK" 'BEGIN { printf "%.3f", t / h }')" \
        --meta "upstream_cpu_s=$(awk -v t=$((u1 - u0)) -v h="$CLK_TCK" 'BEGIN { printf "%.3f", t / h }')" |
        python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
print("    %-9s %-8s r%s qps %8.0f cpu %.2f s upstream cpu %.2f s rcodes %s p50 %s p99 %s" % (r["target"],
      r["workload"], r["round"], r.get("qps", 0), r["cpu_s"], r["upstream_cpu_s"], r.get("rcodes"),
      r.get("p50_ms"), r.get("p99_ms")))' >&2
    rm -f "$data"
}

log "proxies: $PROXIES; ${DURATION}s per run, $ROUNDS rounds, dnsperf -c $CLIENTS -q $OUTSTANDING -D"
declare -A OK=()
for r in $(seq 1 "$ROUNDS"); do
    order=()
    for p in $PROXIES; do
        # An A/B: strictdot and strictdot_b trade places every other round.
        if [[ -n $BIN_B ]] && ((r % 2 == 0)); then
            case $p in
            strictdot) p=strictdot_b ;;
            strictdot_b) p=strictdot ;;
            esac
        fi
        order+=("$p")
    done
    log "round $r: ${order[*]}"
    for p in "${order[@]}"; do
        "start_$p"
        if ! $PY probe 127.0.0.1 "${PORT_OF[$p]}" warm.bench --want NOERROR --wait 30 >/dev/null ||
            ! ad_check "$p"; then
            log "$p: not answering with AD; skipped. Log: $(tail -3 "$(proxy_log "$p")" 2>/dev/null)"
            stop_proc "$p"
            continue
        fi
        OK[$p]=1
        log "round $r: $p validates (AD=1)"
        run_one "$p" miss-udp "$r"
        run_one "$p" latency "$r"
        [[ $p == strictdot && $r == 1 && ${BENCH_KEEP_TMP:-0} == 1 ]] && cp "$(proxy_log "$p")" "$WORK/strictdot-r1.log"
        stop_proc "$p"
    done
done

mkdir -p "$OUT"
cp "$RAW" "$OUT/results.jsonl"
python3 - "$RAW" "$OUT/RESULTS.md" "$DURATION" "$ROUNDS" "$OUTSTANDING" "$LATENCY_QPS" "$PROXIES" <<'EOF'
import json, statistics, sys, time
raw, out, dur, rounds, outst, lqps, proxies = sys.argv[1:]
recs = [json.loads(l) for l in open(raw)]
def med(p, w, f):
    vals = [r[f] for r in recs if r["target"] == p and r["workload"] == w and r.get(f) is not None]
    return statistics.median(vals) if vals else None
def noerr_qps(r):
    rc = r.get("rcodes", {}); tot = sum(rc.values()) or 1
    return r.get("qps", 0) * rc.get("NOERROR", 0) / tot
for r in recs:
    r["noerror_qps"] = noerr_qps(r)
    done = r.get("completed", 0) * r.get("rcodes", {}).get("NOERROR", 0) / (sum(r.get("rcodes", {}).values()) or 1)
    r["answers_per_cpu_s"] = done / r["cpu_s"] if r.get("cpu_s") else None
rows = []
for p in proxies.split():
    if not any(r["target"] == p for r in recs):
        continue
    rows.append(dict(p=p, qps=med(p, "miss-udp", "noerror_qps"), apc=med(p, "miss-udp", "answers_per_cpu_s"),
                     p50=med(p, "latency", "p50_ms"), p99=med(p, "latency", "p99_ms"),
                     lost=med(p, "miss-udp", "loss_pct"), ucpu=med(p, "miss-udp", "upstream_cpu_s"),
                     rc=[r.get("rcodes") for r in recs if r["target"] == p and r["workload"] == "miss-udp"]))
base = next((x for x in rows if x["p"] == "strictdot"), None)
def ratio(x, k, inv=False):
    if not base or not base[k] or not x[k]:
        return "-"
    return "%.2f" % ((base[k] / x[k]) if inv else (x[k] / base[k]))
with open(out, "w") as f:
    f.write("# DNSSEC benchmark (bench/dnssec.sh)\n\n")
    f.write("Run %s UTC. Signed wildcard zone `bench.` (`*.bench. A 192.0.2.1`, ECDSAP256SHA256, NSEC3 "
            "0 iterations), served by a non-validating Unbound auth-zone over DoT; each proxy validates "
            "with the zone's DS as trust anchor. Unique names `<random>.bench`, dnsperf over UDP with DO "
            "(`-D`), %s s per run, %s rounds, medians. Miss: `-c 4 -q %s`; latency: `-Q %s -v`.\n\n"
            % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), dur, rounds, outst, lqps))
    f.write("| Proxy | QPS (NOERROR) | answers/CPU-s | p50 ms @%s | p99 ms @%s | lost %% | QPS vs strictdot | ans/CPU-s vs strictdot | p50 vs strictdot | p99 vs strictdot |\n" % (lqps, lqps))
    f.write("|---|---|---|---|---|---|---|---|---|---|\n")
    fmt = lambda v, s="%.0f": "-" if v is None else s % v
    for x in rows:
        f.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" % (
            x["p"], fmt(x["qps"]), fmt(x["apc"]), fmt(x["p50"], "%.3f"), fmt(x["p99"], "%.3f"),
            fmt(x["lost"], "%.2f"), ratio(x, "qps"), ratio(x, "apc"), ratio(x, "p50"), ratio(x, "p99")))
    f.write("\nRatios are the peer's figure divided by strictdot's (above 1: the peer has more QPS, more "
            "answers per CPU-second, or higher latency). Rcodes per miss run:\n\n")
    for x in rows:
        f.write("- %s: %s; upstream CPU s per miss run (median) %s\n" % (x["p"], x["rc"], x["ucpu"]))
    if any(x["p"] == "strictdot_b" for x in rows):
        f.write("\nA/B per round (strictdot = this build, strictdot_b = BENCH_STRICTDOT_BIN_B; they trade "
                "places every other round), miss-udp answers/CPU-s and QPS, latency p50/p99 ms:\n\n")
        f.write("| round | build | answers/CPU-s | QPS | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n")
        for r in sorted({x["round"] for x in recs}):
            for p in ("strictdot", "strictdot_b"):
                m = [x for x in recs if x["target"] == p and x["round"] == r and x["workload"] == "miss-udp"]
                l = [x for x in recs if x["target"] == p and x["round"] == r and x["workload"] == "latency"]
                if m:
                    f.write("| %s | %s | %s | %s | %s | %s |\n" % (r, p, fmt(m[0]["answers_per_cpu_s"]),
                            fmt(m[0]["noerror_qps"]), fmt(l[0].get("p50_ms") if l else None, "%.3f"),
                            fmt(l[0].get("p99_ms") if l else None, "%.3f")))
print(open(out).read())
EOF

if [[ $PROFILE == 1 && -f $WORK/perf.data ]]; then
    {
        echo "# strictdot profile, DNSSEC miss workload (bench/dnssec.sh, BENCH_PROFILE=1)"
        echo
        echo "\`perf record -g -F 999\` of strictdot during round 1's miss-udp run."
        echo
        echo "## Self time (top 40)"
        echo
        echo '```'
        perf report -i "$WORK/perf.data" --no-children --stdio --sort symbol -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]-]+$//' | head -40 || true
        echo '```'
        echo
        echo "## Inclusive time (top 40)"
        echo
        echo '```'
        perf report -i "$WORK/perf.data" --children --stdio --sort symbol -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]-]+$//' | head -40 || true
        echo '```'
    } >"$OUT/PROFILE.md"
    log "profile in $OUT/PROFILE.md"
fi
