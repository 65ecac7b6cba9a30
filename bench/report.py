#!/usr/bin/env python3
"""Turns the raw records of bench/run.sh into results.json, RESULTS.md and chart.svg.

    python3 bench/report.py --raw RAW.jsonl --meta META.json --out bench/results

Also usable on its own to re-render from an existing results.json:

    python3 bench/report.py --from-json bench/results/results.json --out bench/results

Standard library only.
"""

import argparse
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402  (bench/chart.py)

PROXIES = ["strictdot", "strictdot_b", "stubby", "unbound", "dnsdist", "kresd"]
LABEL = {
    "strictdot": "strictdot",
    "strictdot_b": "strictdot (B build)",
    "stubby": "stubby",
    "unbound": "Unbound (forwarder)",
    "dnsdist": "dnsdist",
    "kresd": "Knot Resolver (kresd)",
    "upstream": "upstream direct, dnsperf -m dot",
    "plain": "plain Unbound, no TLS",
}
WORKLOADS = [
    ("miss-udp", "(a) Cache miss over UDP", "unique names, never repeated"),
    ("miss-tcp", "(b) Cache miss over TCP", "unique names, client TCP (pipelined)"),
    ("hit-udp", "(c) Cache hit over UDP", "a small repeated name set, warmed first"),
    ("hit-tcp", "(d) Cache hit over TCP", "a small repeated name set, warmed first"),
    ("miss-tls", "(i) Cache miss over DoT", "unique names, the client speaks DNS-over-TLS to "
     "the proxy (dnsperf -m dot)"),
    ("hit-tls", "(j) Cache hit over DoT", "the small repeated name set, the client speaks "
     "DNS-over-TLS to the proxy (dnsperf -m dot)"),
]
# Fixed-rate latency workloads: (workload, title, what dnsperf sends).
LATENCIES = [
    ("latency-tcp", "(k) Latency at a fixed %d QPS over TCP", "cache-miss names over client TCP"),
    ("latency-tls", "(l) Latency at a fixed %d QPS over DoT", "cache-miss names over client DoT"),
]
# Which reference a workload's QPS is divided by: (target, workload) of the reference.
REFERENCE = {
    "miss-udp": ("upstream", "miss-dot"),
    "miss-tcp": ("upstream", "miss-dot"),
    "hit-udp": ("plain", "hit-udp"),
    "hit-tcp": ("plain", "hit-tcp"),
    "miss-tls": ("upstream", "miss-dot"),
    "hit-tls": ("plain", "hit-tcp"),
}
# Known causes, shown only when the symptom is seen in the numbers.
EXPLAIN = {
    "kresd": "Knot Resolver 5.6 keeps one connection per upstream address and pipelines at "
             "most 100 queries on it (MAX_PIPELINED, a compile-time constant in "
             "daemon/worker.c); with more queries in flight the excess is answered SERVFAIL "
             "at once (in a check with 90 in flight, every answer was NOERROR). QPS in the "
             "tables counts NOERROR answers only.",
}
METRICS = ["qps", "good_qps", "avg_latency_ms", "loss_pct", "bad_rcode_pct", "cpu_s",
           "answers_per_cpu_s", "all_answers_per_cpu_s", "upstream_cpu_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms"]


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def enrich(run):
    """Derived figures of one dnsperf run."""
    completed = run.get("completed", 0) or 0
    rcodes = run.get("rcodes") or {}
    noerror = rcodes.get("NOERROR", 0)
    qps = run.get("qps") or 0.0
    run["good_qps"] = qps * noerror / completed if completed else 0.0
    run["bad_rcode_pct"] = 100.0 * (completed - noerror) / completed if completed else None
    cpu = float(run.get("cpu_s") or 0)
    # Like QPS, only NOERROR answers count: a SERVFAIL given at once costs next to nothing.
    run["answers_per_cpu_s"] = noerror / cpu if cpu > 0 and rcodes else None
    run["all_answers_per_cpu_s"] = completed / cpu if cpu > 0 else None
    # CPU used by anything else on the machine during the run: all busy time minus the
    # proxy, the upstream and dnsperf (for the reference targets cpu_s is the upstream's
    # or the plain Unbound's own time, counted once).
    if "machine_busy_s" in run and "dnsperf_cpu_s" in run:
        ours = float(run["dnsperf_cpu_s"]) + cpu
        if run["target"] != "upstream":
            ours += float(run.get("upstream_cpu_s") or 0)
        run["foreign_cpu_s"] = max(0.0, float(run["machine_busy_s"]) - ours)
    return run


def summarize(runs, sessions, traffic):
    summary = {}
    groups = {}
    for r in runs:
        groups.setdefault((r["target"], r["workload"]), []).append(r)
    for (target, workload), rs in groups.items():
        s = {m: median([r.get(m) for r in rs]) for m in METRICS}
        s["rounds"] = len(rs)
        qs = [r.get("good_qps") for r in rs if r.get("good_qps") is not None]
        s["good_qps_min"] = min(qs) if qs else None
        s["good_qps_max"] = max(qs) if qs else None
        s["rcodes_total"] = {}
        for r in rs:
            for k, v in (r.get("rcodes") or {}).items():
                s["rcodes_total"][k] = s["rcodes_total"].get(k, 0) + v
        s["names_repeated"] = any(
            workload.startswith("miss") and r.get("sent", 0) >= r.get("datafile_lines", 1 << 60)
            for r in rs)
        summary.setdefault(workload, {})[target] = s
    ceiling = summary.get("miss-dot", {}).get("upstream")
    for workload, ref in REFERENCE.items():
        ref_s = summary.get(ref[1], {}).get(ref[0])
        for target, s in summary.get(workload, {}).items():
            if ref_s and ref_s.get("good_qps"):
                s["ratio_to_reference"] = s["good_qps"] / ref_s["good_qps"]
                s["reference"] = "%s %s" % ref
            if ceiling and ceiling.get("good_qps"):
                s["ratio_to_ceiling"] = s["good_qps"] / ceiling["good_qps"]
    per_proxy = {}
    for p in PROXIES:
        ss = [s for s in sessions if s["target"] == p]
        if not ss:
            continue
        ok = [s for s in ss if s.get("ok") is True]
        entry = {"sessions": len(ss), "sessions_ok": len(ok)}
        if ok:
            entry["vmhwm_kb_max"] = max(s.get("vmhwm_kb", 0) for s in ok)
            entry["vmhwm_kb_median"] = median([s.get("vmhwm_kb") for s in ok])
            entry["upstream_connections_median"] = median(
                [s.get("upstream_connections") for s in ok])
            per100k = []
            for s in ok:
                ans = s.get("answers")
                if ans:
                    per100k.append(s.get("upstream_connections", 0) * 100000.0 / ans)
            entry["upstream_connections_per_100k_answers"] = median(per100k)
            entry["session_cpu_s_median"] = median([s.get("session_cpu_s") for s in ok])
        failed = [s for s in ss if s.get("ok") is not True]
        if failed:
            entry["failures"] = [s.get("reason", "?") for s in failed]
        per_proxy[p] = entry
    tr = [t for t in traffic if t.get("target") == "strictdot"]
    if tr:
        hs = [t.get("handshakes") for t in tr]
        per = [t.get("handshakes_per_100k_answers") for t in tr]
        per_proxy.setdefault("strictdot", {})["strictdot_log_handshakes_median"] = median(hs)
        per_proxy["strictdot"]["strictdot_log_handshakes_per_100k_median"] = median(per)
        per_proxy["strictdot"]["strictdot_log_resumptions_median"] = median(
            [t.get("resumptions") for t in tr])
    return summary, per_proxy


def parse_traffic(t):
    """Picks the name=value counters out of strictdot's shutdown "traffic" log line."""
    for k, v in re.findall(r"([a-z0-9_]+)=([0-9]+(?:\.[0-9]+)?)\b", t.get("line", "")):
        t[k] = float(v) if "." in v else int(v)
    return t


def fmt(v, nd=0, unit=""):
    if v is None:
        return "n/a"
    if nd == 0:
        return "{:,.0f}{}".format(v, unit)
    return "{:,.{}f}{}".format(v, nd, unit)


def kib_to_mib(kb):
    return None if kb is None else kb / 1024.0


def render_md(res):
    meta = res["meta"]
    m = meta["machine"]
    p = meta["params"]
    summary = res["summary"]
    per_proxy = res["per_proxy"]
    out = []
    w = out.append
    w("# strictdot benchmark results")
    w("")
    w("Generated by `bench/run.sh` on %s. Machine: %s cores (`nproc`), %s, %s GiB RAM, "
      "Linux %s, %s. Wall time of the run: %s."
      % (meta["date_utc"], m["nproc"], m["cpu_model"], m["mem_gib"], m["kernel"], m["os"],
         fmt_duration(res.get("wall_s"))))
    w("")
    w("Every figure is the **median of %d rounds**; the order of the proxies is rotated each "
      "round. dnsperf runs %d s per workload with `-c %d -q %d` (%d queries in flight) and a "
      "%d s timeout. Everything (dnsperf, the proxy, the upstream Unbound) shares the same "
      "%s cores, so these are relative figures for this machine, not capacity figures."
      % (p["rounds"], p["duration_s"], p["clients"], p["outstanding"], p["outstanding"],
         p["dnsperf_timeout_s"], m["nproc"]))
    w("")
    w("**QPS** counts NOERROR answers per second (dnsperf's rate times the NOERROR share); "
      "**bad rcode** is the share of answers that were not NOERROR (SERVFAIL etc.). "
      "**vs ceiling (f)** divides QPS by the QPS of dnsperf speaking DoT straight to the "
      "upstream Unbound (cache-miss names); for cache hits, **vs plain (g)** divides it by "
      "the QPS of the plain Unbound without TLS, over the same transport. **CPU s** is the "
      "proxy's user+system CPU time during the %d s run (all threads, from `/proc/PID/stat`); "
      "**answers/CPU-s** is the NOERROR answers dnsperf received divided by it (where a "
      "proxy also gave other answers, the Notes give the figure counting every answer)."
      % p["duration_s"])
    w("")
    w("## Versions")
    w("")
    w("| Program | Version |")
    w("|---|---|")
    for k, v in meta["versions"].items():
        w("| %s | %s |" % (k, v.replace("|", "\\|")))
    w("")
    for wl, title, desc in WORKLOADS:
        if wl not in summary:
            continue  # not selected (BENCH_WORKLOADS)
        ref_t, ref_w = REFERENCE[wl]
        ref_name = {"upstream": "ceiling (f): dnsperf -m dot straight at the upstream",
                    "plain": "(g): dnsperf -m %s at a plain Unbound without TLS"
                    % ("udp" if wl.endswith("udp") else "tcp")}[ref_t]
        w("## %s" % title)
        w("")
        w("%s; reference: %s." % (desc[0].upper() + desc[1:], ref_name))
        w("")
        hit = ref_t == "plain"
        w("| Proxy | QPS | QPS range | vs ceiling (f) |%s Avg latency (ms) | Lost %% "
          "| Bad rcode %% | CPU s | Answers/CPU-s |" % (" vs plain (g) |" if hit else ""))
        w("|---|--:|--:|--:|%s--:|--:|--:|--:|--:|" % ("--:|" if hit else ""))
        rows = []
        ref = summary.get(ref_w, {}).get(ref_t)
        if ref:
            rows.append(("*%s*" % LABEL[ref_t], ref, ""))
        for px in p["proxies"]:
            s = summary.get(wl, {}).get(px)
            flag = " ⚠ end of name file" if s and s.get("names_repeated") else ""
            rows.append((LABEL.get(px, px), s, flag))
        for name, s, flag in rows:
            if not s:
                w("| %s | n/a |%s" % (name, " |" * (9 if hit else 8)))
                continue
            if s is ref:
                vs_ceiling = fmt(s.get("ratio_to_ceiling"), 2) if hit else "*1.00*"
                vs_plain = " *1.00* |" if hit else ""
            else:
                vs_ceiling = fmt(s.get("ratio_to_ceiling"), 2)
                vs_plain = " %s |" % fmt(s.get("ratio_to_reference"), 2) if hit else ""
            w("| %s | %s%s | %s–%s | %s |%s %s | %s | %s | %s | %s |" % (
                name, fmt(s["good_qps"]), flag, fmt(s["good_qps_min"]),
                fmt(s["good_qps_max"]), vs_ceiling, vs_plain,
                fmt(s["avg_latency_ms"], 3), fmt(s["loss_pct"], 2),
                fmt(s["bad_rcode_pct"], 2), fmt(s["cpu_s"], 2),
                fmt(s["answers_per_cpu_s"])))
        w("")
    render_transport_ratios(summary, p, w)
    render_churn(res.get("churn_summary") or {}, p, w)
    for wl, title, desc in LATENCIES:
        render_latency(summary, p, w, wl, title % p["latency_qps"], desc)
    w("## (e) Latency at a fixed %d QPS over UDP" % p["latency_qps"])
    w("")
    w("`dnsperf -Q %d -v` with cache-miss names; percentiles over the per-query latencies "
      "that `-v` prints (answered queries only). References: the plain Unbound over UDP "
      "(no proxy, no TLS) and dnsperf speaking DoT straight to the upstream."
      % p["latency_qps"])
    w("")
    w("| Target | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | Avg (ms) | Lost % "
      "| Bad rcode % | CPU s | Answers/CPU-s |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    lat = summary.get("latency", {})
    for t in ["plain", "upstream"] + list(p["proxies"]):
        s = lat.get(t)
        name = LABEL.get(t, t)
        if t in ("plain", "upstream"):
            name = "*%s*" % name
        if not s:
            w("| %s | n/a | | | | | | | | |" % name)
            continue
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt(s["p50_ms"], 3), fmt(s["p90_ms"], 3), fmt(s["p99_ms"], 3),
            fmt(s["p999_ms"], 3), fmt(s["avg_latency_ms"], 3), fmt(s["loss_pct"], 2),
            fmt(s["bad_rcode_pct"], 2), fmt(s["cpu_s"], 2), fmt(s["answers_per_cpu_s"])))
    w("")
    w("## (h) Latency of a cache hit at a fixed %d QPS over UDP" % p["latency_qps"])
    w("")
    w("`dnsperf -Q %d -v` over the cache-hit name set, after the hit runs warmed it. The "
      "reference is the plain Unbound answering the same names from its local data; "
      "stubby has no cache, so its figure is a forwarding one." % p["latency_qps"])
    w("")
    w("| Target | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | Avg (ms) | Lost % "
      "| p50 vs plain (ms) |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|")
    lat_hit = summary.get("latency-hit", {})
    plain_p50 = (lat_hit.get("plain") or {}).get("p50_ms")
    for t in ["plain"] + list(p["proxies"]):
        s = lat_hit.get(t)
        name = "*%s*" % LABEL.get(t, t) if t == "plain" else LABEL.get(t, t)
        if not s:
            w("| %s | n/a | | | | | | |" % name)
            continue
        diff = None
        if t != "plain" and plain_p50 is not None and s.get("p50_ms") is not None:
            diff = s["p50_ms"] - plain_p50
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, fmt(s["p50_ms"], 3), fmt(s["p90_ms"], 3), fmt(s["p99_ms"], 3),
            fmt(s["p999_ms"], 3), fmt(s["avg_latency_ms"], 3), fmt(s["loss_pct"], 2),
            ("%+.3f" % diff) if diff is not None else ""))
    w("")
    w("## Memory and upstream connections")
    w("")
    w("Peak RSS is `VmHWM` from `/proc/PID/status` after the last workload of a round "
      "(after hundreds of thousands of unique names went through the cache); the table "
      "shows the largest over the rounds. Upstream "
      "connections are the TCP connections the upstream Unbound accepted while the proxy's "
      "round ran (counted by the `nodelay.so` shim), so every TLS handshake, full or "
      "resumed, is one; per 100k answers divides by all answers the proxy gave in that "
      "round (warm-up included).")
    w("")
    w("| Proxy | Rounds OK | Peak RSS (MiB) | Upstream connections / round | per 100k answers "
      "| Proxy CPU s / round |")
    w("|---|--:|--:|--:|--:|--:|")
    for px in p["proxies"]:
        e = per_proxy.get(px)
        if not e:
            w("| %s | n/a | | | | |" % LABEL.get(px, px))
            continue
        w("| %s | %d/%d | %s | %s | %s | %s |" % (
            LABEL.get(px, px), e["sessions_ok"], e["sessions"],
            fmt(kib_to_mib(e.get("vmhwm_kb_max")), 1), fmt(e.get("upstream_connections_median")),
            fmt(e.get("upstream_connections_per_100k_answers"), 2),
            fmt(e.get("session_cpu_s_median"), 1)))
    w("")
    sd = per_proxy.get("strictdot", {})
    if "strictdot_log_handshakes_median" in sd:
        w("strictdot's own shutdown line (`traffic`, logged on SIGTERM after each round): "
          "median **%s handshakes** (%s of them resumptions), **%s handshakes per 100k "
          "answers**." % (fmt(sd["strictdot_log_handshakes_median"]),
                         fmt(sd.get("strictdot_log_resumptions_median")),
                         fmt(sd["strictdot_log_handshakes_per_100k_median"], 2)))
        w("")
    notes = []
    for px in p["proxies"]:
        e = per_proxy.get(px, {})
        if not e or e.get("sessions_ok", 0) == 0:
            reasons = "; ".join(sorted(set(e.get("failures", ["not run"])))) if e else "not run"
            notes.append("- **%s: n/a.** %s" % (LABEL.get(px, px), reasons))
        elif e.get("failures"):
            notes.append("- %s failed to start in %d round(s): %s" % (
                LABEL.get(px, px), len(e["failures"]), "; ".join(sorted(set(e["failures"])))))
    for px in p["proxies"]:
        bad = []
        for wl, title, _ in WORKLOADS + [(l[0], l[0], "") for l in LATENCIES] + [("latency", "(e) latency", ""),
                                         ("latency-hit", "(h) hit latency", "")]:
            s = summary.get(wl, {}).get(px)
            if s and (s.get("bad_rcode_pct") or 0) >= 0.5:
                every = s.get("all_answers_per_cpu_s")
                bad.append("%s %.1f%% (%s%s)" % (title, s["bad_rcode_pct"], ", ".join(
                    "%s %d" % kv for kv in sorted(s["rcodes_total"].items())),
                    "; %s answers/CPU-s counting every answer, %s counting NOERROR only" % (
                        fmt(every), fmt(s.get("answers_per_cpu_s"))) if every else ""))
            if s and (s.get("loss_pct") or 0) >= 1:
                notes.append("- %s, %s: %.1f%% of the queries were lost." % (
                    LABEL.get(px, px), title, s["loss_pct"]))
        if bad:
            notes.append("- %s: answers that were not NOERROR in %s.%s" % (
                LABEL.get(px, px), "; ".join(bad), (" " + EXPLAIN[px]) if px in EXPLAIN else ""))
    if "stubby" in p["proxies"]:
        notes.append("- stubby has no answer cache, so its cache-hit figures are forwarding "
                     "figures (every query goes upstream).")
    for wl, _, _ in WORKLOADS + [("latency", "", ""), ("latency-hit", "", "")]:
        for px, s in summary.get(wl, {}).items():
            if s.get("names_repeated"):
                notes.append("- %s %s: dnsperf reached the end of its name file, so the run "
                             "stopped early (no name was repeated)." % (px, wl))
    if notes:
        w("## Notes")
        w("")
        out.extend(notes)
        w("")
    fc = [r["foreign_cpu_s"] for r in res["runs"] if "foreign_cpu_s" in r
          and r["workload"] not in ("warmup", "hit-warm")]
    if fc:
        w("Machine noise: during a measured run, processes other than dnsperf, the proxy and "
          "the upstream used a median of %.2f CPU-s (max %.2f CPU-s; one run is %d s on %s "
          "cores), measured as the machine's busy time from `/proc/stat` minus those three."
          % (statistics.median(fc), max(fc), p["duration_s"], m["nproc"]))
        noisy = [r for r in res["runs"] if r.get("foreign_cpu_s", 0) > 1.0
                 and r["workload"] not in ("warmup", "hit-warm")]
        if noisy:
            w("Runs with more than 1 CPU-s of such foreign load: " + ", ".join(
                "round %s %s %s (%.1f CPU-s)" % (r["round"], r["target"], r["workload"],
                                                 r["foreign_cpu_s"]) for r in noisy) + ".")
        w("")
    w("Raw per-run numbers: [results.json](results.json). Chart: [chart.svg](chart.svg). "
      "How the peers are configured: [bench/README.md](../README.md).")
    w("")
    return "\n".join(out)


def render_transport_ratios(summary, p, w):
    """strictdot against the best peer per workload, and each proxy's DoT against its TCP."""
    peers = [px for px in p["proxies"] if not px.startswith("strictdot")]
    rows = []
    for wl, title, _ in WORKLOADS:
        sd = summary.get(wl, {}).get("strictdot")
        if not sd:
            continue
        cands = [(px, summary[wl][px]) for px in peers if summary.get(wl, {}).get(px)]
        best_q = max(cands, key=lambda c: c[1].get("good_qps") or 0, default=None)
        best_c = max(cands, key=lambda c: c[1].get("answers_per_cpu_s") or 0, default=None)
        def ratio(a, b):
            return a / b if a and b else None
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            title, fmt(sd.get("good_qps")),
            "%s (%s)" % (fmt(best_q[1].get("good_qps")), LABEL[best_q[0]]) if best_q else "n/a",
            fmt(ratio(sd.get("good_qps"), best_q[1].get("good_qps") if best_q else None), 2),
            fmt(sd.get("answers_per_cpu_s")),
            "%s (%s)" % (fmt(best_c[1].get("answers_per_cpu_s")), LABEL[best_c[0]]) if best_c else "n/a",
            fmt(ratio(sd.get("answers_per_cpu_s"),
                      best_c[1].get("answers_per_cpu_s") if best_c else None), 2)))
    if rows:
        w("## strictdot against the best peer")
        w("")
        w("Per workload, the peer with the highest median QPS and the one with the most "
          "answers per CPU-second (not necessarily the same peer).")
        w("")
        w("| Workload | strictdot QPS | best peer QPS | ratio | strictdot answers/CPU-s "
          "| best peer answers/CPU-s | ratio |")
        w("|---|--:|--:|--:|--:|--:|--:|")
        for r in rows:
            w(r)
        w("")
    rows = []
    for px in p["proxies"]:
        for kind in ("hit", "miss"):
            t = summary.get(kind + "-tls", {}).get(px)
            c = summary.get(kind + "-tcp", {}).get(px)
            if not t or not c:
                continue
            q = t["good_qps"] / c["good_qps"] if c.get("good_qps") else None
            e = (t["answers_per_cpu_s"] / c["answers_per_cpu_s"]
                 if t.get("answers_per_cpu_s") and c.get("answers_per_cpu_s") else None)
            rows.append("| %s | cache %s | %s | %s | %s | %s |" % (
                LABEL.get(px, px), kind, fmt(t["good_qps"]), fmt(c["good_qps"]), fmt(q, 2),
                fmt(e, 2)))
    if rows:
        w("## DoT against plain TCP, same proxy")
        w("")
        w("| Proxy | Workload | QPS over DoT | QPS over TCP | DoT/TCP QPS | DoT/TCP answers/CPU-s |")
        w("|---|---|--:|--:|--:|--:|")
        for r in rows:
            w(r)
        w("")


def summarize_churn(churns):
    """Medians over rounds of the short-lived-client runs, per (workload, target)."""
    out = {}
    groups = {}
    for c in churns:
        groups.setdefault((c["workload"], c["target"]), []).append(c)
    for (wl, t), cs in groups.items():
        cpu_ms = [1000.0 * c["cpu_s"] / c["handshakes"] for c in cs if c.get("handshakes")]
        out.setdefault(wl, {})[t] = {
            "rounds": len(cs),
            "handshakes_per_s": median([c.get("handshakes_per_s") for c in cs]),
            "resumed_share": median([c.get("resumed_share") for c in cs]),
            "errors": sum(c.get("errors", 0) for c in cs),
            "cpu_s": median([c.get("cpu_s") for c in cs]),
            "cpu_ms_per_handshake": median(cpu_ms),
        }
    return out


def render_churn(cs, p, w):
    if not cs:
        return
    w("## Short-lived DoT clients")
    w("")
    w("[churn.py](../churn.py) with %d threads for %d s: each connection is a TLS handshake, "
      "one cache-hit query and its answer, then close. `churn-tls`: the client never offers "
      "a session (every handshake full); `churn-tls-resume`: each thread offers the ticket "
      "of its previous connection. **CPU ms / handshake** is the proxy's CPU time divided "
      "by the connections completed." % (p["clients"], p["duration_s"]))
    w("")
    w("| Workload | Proxy | Handshakes/s | Resumed | Errors | CPU s | CPU ms / handshake |")
    w("|---|---|--:|--:|--:|--:|--:|")
    for wl in ("churn-tls", "churn-tls-resume"):
        for px in p["proxies"]:
            s = cs.get(wl, {}).get(px)
            if not s:
                continue
            w("| %s | %s | %s | %s | %d | %s | %s |" % (
                wl, LABEL.get(px, px), fmt(s["handshakes_per_s"]),
                fmt(100 * (s["resumed_share"] or 0), 1, "%"), s["errors"], fmt(s["cpu_s"], 2),
                fmt(s["cpu_ms_per_handshake"], 3)))
    w("")


def render_latency(summary, p, w, wl, title, desc):
    lat = summary.get(wl, {})
    if not lat:
        return
    w("## " + title)
    w("")
    w("`dnsperf -Q %d -v`, %s; percentiles over the per-query latencies that `-v` prints "
      "(answered queries only)." % (p["latency_qps"], desc))
    w("")
    w("| Target | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | Avg (ms) | Lost % | CPU s |")
    w("|---|--:|--:|--:|--:|--:|--:|--:|")
    for t in p["proxies"]:
        s = lat.get(t)
        if not s:
            continue
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABEL.get(t, t), fmt(s["p50_ms"], 3), fmt(s["p90_ms"], 3), fmt(s["p99_ms"], 3),
            fmt(s["p999_ms"], 3), fmt(s["avg_latency_ms"], 3), fmt(s["loss_pct"], 2),
            fmt(s["cpu_s"], 2)))
    w("")


def fmt_duration(s):
    if s is None:
        return "n/a"
    return "%d min %02d s" % (s // 60, s % 60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--meta")
    ap.add_argument("--from-json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.from_json:
        old = json.load(open(args.from_json))
        meta, wall = old["meta"], old.get("wall_s")
        runs = [enrich(r) for r in old["runs"]]
        sessions, traffic = old["sessions"], old["traffic"]
        churns = old.get("churns", [])
    else:
        meta = json.load(open(args.meta))
        runs, sessions, traffic, wall = [], [], [], None
        churns = []
        for line in open(args.raw):
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            kind = rec.get("kind")
            if kind == "run":
                runs.append(enrich(rec))
            elif kind == "session":
                sessions.append(rec)
            elif kind == "traffic":
                traffic.append(parse_traffic(rec))
            elif kind == "churn":
                churns.append(rec)
            elif kind == "timing":
                wall = rec.get("wall_s")
    measured = [r for r in runs if r["workload"] not in ("warmup", "hit-warm")]
    # answers per proxy session (measured runs + warm-up + cache warm-up)
    for s in sessions:
        s["answers"] = sum(r.get("completed", 0) or 0 for r in runs
                           if r["target"] == s["target"] and r["round"] == s["round"])
    summary, per_proxy = summarize(measured, sessions, traffic)
    res = {"meta": meta, "wall_s": wall, "summary": summary, "per_proxy": per_proxy,
           "runs": runs, "sessions": sessions, "traffic": traffic, "churns": churns,
           "churn_summary": summarize_churn(churns)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
        f.write(render_md(res))
    with open(os.path.join(args.out, "chart.svg"), "w") as f:
        f.write(chart.render(res))
    print("wrote %s/{results.json,RESULTS.md,chart.svg}" % args.out)


if __name__ == "__main__":
    main()
