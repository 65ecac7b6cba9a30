"""Per-round table of an interleaved A/B (strictdot = A, strictdot_b = B) from a bench results.json.

Usage: python3 bench/ab_rounds.py RESULTS_JSON [WORKLOAD]   (WORKLOAD defaults to hit-udp)
"""
import json, statistics, sys
path = sys.argv[1]
wl = sys.argv[2] if len(sys.argv) > 2 else "hit-udp"
d = json.load(open(path))
rows = {}
for r in d["runs"]:
    if r["workload"] != wl or r["target"] not in ("strictdot", "strictdot_b"):
        continue
    noerr = r.get("rcodes", {}).get("NOERROR", 0)
    cpu = float(r["cpu_s"])
    rows.setdefault(int(r["round"]), {})[r["target"]] = (r.get("qps", 0) * noerr / max(1, sum(r.get("rcodes", {}).values())), noerr / cpu, cpu)
print("| round | A QPS | B QPS | A answers/CPU-s | B answers/CPU-s | A/B per CPU-s |")
print("|--:|--:|--:|--:|--:|--:|")
aq, bq, ac, bc, ratio = [], [], [], [], []
for k in sorted(rows):
    a, b = rows[k].get("strictdot"), rows[k].get("strictdot_b")
    if not a or not b:
        continue
    aq.append(a[0]); bq.append(b[0]); ac.append(a[1]); bc.append(b[1]); ratio.append(a[1] / b[1])
    print("| %d | %.0f | %.0f | %.0f | %.0f | %.3f |" % (k, a[0], b[0], a[1], b[1], a[1] / b[1]))
m = statistics.median
print("| **median** | %.0f | %.0f | %.0f | %.0f | %.3f |" % (m(aq), m(bq), m(ac), m(bc), m(ratio)))
print()
print("A wins %d of %d rounds on answers/CPU-s; median of per-round ratios %.3f (%+.1f%%)." % (
    sum(1 for x in ratio if x > 1), len(ratio), m(ratio), (m(ratio) - 1) * 100))
