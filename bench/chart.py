#!/usr/bin/env python3
"""SVG bar chart of the benchmark results (standard library only).

    python3 bench/chart.py bench/results/results.json > bench/results/chart.svg

Top panel: QPS (NOERROR answers per second) per proxy per workload, with the reference
of each workload drawn as a dashed line (the direct-DoT ceiling for cache misses, the
plain Unbound for cache hits). Bottom panel: p50 and p99 latency at a fixed rate.
"""

import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = {
    "strictdot": "#1f6fb4",
    "stubby": "#f28e2b",
    "unbound": "#59a14f",
    "dnsdist": "#af7aa1",
    "kresd": "#9c755f",
    "plain": "#9a9a9a",
    "upstream": "#6b6b6b",
}
LABEL = {
    "strictdot": "strictdot",
    "stubby": "stubby",
    "unbound": "Unbound (fwd)",
    "dnsdist": "dnsdist",
    "kresd": "kresd",
    "plain": "plain Unbound (no TLS)",
    "upstream": "direct DoT to upstream",
}
GROUPS = [
    ("miss-udp", "cache miss, UDP", ("upstream", "miss-dot"), "ceiling: direct DoT"),
    ("miss-tcp", "cache miss, TCP", ("upstream", "miss-dot"), "ceiling: direct DoT"),
    ("hit-udp", "cache hit, UDP", ("plain", "hit-udp"), "plain Unbound, UDP"),
    ("hit-tcp", "cache hit, TCP", ("plain", "hit-tcp"), "plain Unbound, TCP"),
]


def nice_axis(v, ticks=5):
    """(top, step): a round step giving about `ticks` intervals, and the top >= v."""
    if v <= 0:
        return 1.0, 0.2
    raw = v / ticks
    exp = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= raw:
            step = m * exp
            break
    return math.ceil(v / step - 1e-9) * step, step


def tick_label(v, step):
    if step >= 1:
        return short(v)
    decimals = max(0, -int(math.floor(math.log10(step))) + (1 if step * 10 ** -math.floor(math.log10(step)) == 2.5 else 0))
    return "%.*f" % (decimals, v)


def short(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return "%.1fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3) if v < 1e4 else "%.0fk" % (v / 1e3)
    return "%.0f" % v


def text(x, y, s, size=12, anchor="start", weight="normal", fill="#222", extra=""):
    """A text element with a thin white halo, so labels stay legible over lines."""
    return ('<text x="%.1f" y="%.1f" font-size="%s" text-anchor="%s" font-weight="%s" '
            'fill="%s" stroke="white" stroke-width="3" paint-order="stroke" '
            'stroke-linejoin="round"%s>%s</text>'
            % (x, y, size, anchor, weight, fill, extra, escape(s)))


def render(res):
    meta = res["meta"]
    m = meta["machine"]
    p = meta["params"]
    summary = res["summary"]
    proxies = p["proxies"]
    W, H = 1000, 880
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
           % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    o = out.append
    o(text(W / 2, 28, "strictdot vs. other DNS-to-DoT forwarders: queries per second "
           "(NOERROR answers/s)", 17, "middle", "bold"))
    o(text(W / 2, 48, "%s · %s × %s · %s GiB · median of %d rounds × %d s · dnsperf -c %d -q %d"
           % (meta["date_utc"][:10], m["nproc"], m["cpu_model"], m["mem_gib"], p["rounds"],
              p["duration_s"], p["clients"], p["outstanding"]), 11.5, "middle", fill="#555"))

    # ---- panel 1: QPS ---------------------------------------------------------------
    x0, y0, pw, ph = 80, 80, 890, 400
    vals = []
    for wl, _, ref, _ in GROUPS:
        for px in proxies:
            s = summary.get(wl, {}).get(px)
            if s and s.get("good_qps") is not None:
                vals.append(s["good_qps"])
        r = summary.get(ref[1], {}).get(ref[0])
        if r and r.get("good_qps"):
            vals.append(r["good_qps"])
    ymax, step = nice_axis(max(vals) * 1.06 if vals else 1)
    o('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>'
      % (x0, y0, pw, ph))
    for i in range(int(round(ymax / step)) + 1):
        v = step * i
        y = y0 + ph - ph * v / ymax
        o('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (x0, x0 + pw, y, y))
        o(text(x0 - 6, y + 4, tick_label(v, step), 11, "end", fill="#555"))
    o(text(22, y0 + ph / 2, "QPS", 12, "middle", extra=' transform="rotate(-90 22 %.1f)"'
           % (y0 + ph / 2)))
    gw = pw / len(GROUPS)
    bw = min(34, (gw - 30) / max(1, len(proxies)))
    starred = {}
    for gi, (wl, title, ref, ref_label) in enumerate(GROUPS):
        gx = x0 + gi * gw
        bx0 = gx + (gw - bw * len(proxies)) / 2
        for pi, px in enumerate(proxies):
            s = summary.get(wl, {}).get(px)
            x = bx0 + pi * bw
            if not s or s.get("good_qps") is None:
                o(text(x + bw / 2, y0 + ph - 6, "n/a", 10, "middle", fill="#999"))
                continue
            v = s["good_qps"]
            h = ph * v / ymax
            star = ""
            if (s.get("bad_rcode_pct") or 0) >= 1:
                star = "*"
                starred.setdefault(px, []).append((title, s["bad_rcode_pct"]))
            o('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: '
              '%.0f QPS</title></rect>' % (x + 2, y0 + ph - h, bw - 4, h,
                                           COLORS.get(px, "#888"), px, wl, v))
            o(text(x + bw / 2, y0 + ph - h - 4, short(v) + star, 9.5, "middle", fill="#333"))
        r = summary.get(ref[1], {}).get(ref[0])
        if r and r.get("good_qps"):
            y = y0 + ph - ph * r["good_qps"] / ymax
            o('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#d62728" '
              'stroke-width="2" stroke-dasharray="6 4"/>' % (gx + 8, gx + gw - 8, y, y))
            o(text(gx + gw / 2, y0 + ph + 33, "- - %s %s" % (ref_label, short(r["good_qps"])),
                   10.5, "middle", fill="#d62728"))
        o(text(gx + gw / 2, y0 + ph + 18, title, 12.5, "middle", "bold"))
    # legend
    lx, ly = x0, y0 + ph + 58
    for px in proxies:
        o('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
          % (lx, ly - 10, COLORS.get(px, "#888")))
        o(text(lx + 16, ly, LABEL.get(px, px), 11.5))
        lx += 28 + 7.2 * len(LABEL.get(px, px))
    o('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#d62728" stroke-width="2" '
      'stroke-dasharray="6 4"/>' % (lx, lx + 24, ly - 4, ly - 4))
    o(text(lx + 30, ly, "reference (ceiling)", 11.5))
    if starred:
        notes = "; ".join("%s: %s" % (LABEL.get(px, px), ", ".join(
            "%.0f%% in %s" % (pct, t) for t, pct in items)) for px, items in starred.items())
        o(text(x0, ly + 18, "* NOERROR answers only; the rest were SERVFAIL (%s)" % notes,
               10.5, fill="#555"))

    # ---- panel 2: latency -------------------------------------------------------------
    lat = summary.get("latency", {})
    targets = ["plain", "upstream"] + list(proxies)
    x0, y0, pw, ph = 80, 620, 890, 190
    o(text(W / 2, y0 - 22, "Latency at a fixed %d QPS over UDP, cache-miss names "
           "(p50 solid, p99 light), ms" % p["latency_qps"], 14, "middle", "bold"))
    lv = [s.get("p99_ms") for s in lat.values() if s.get("p99_ms") is not None]
    lmax, lstep = nice_axis(max(lv) * 1.1 if lv else 1, 4)
    o('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>'
      % (x0, y0, pw, ph))
    for i in range(int(round(lmax / lstep)) + 1):
        v = lstep * i
        y = y0 + ph - ph * v / lmax
        o('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (x0, x0 + pw, y, y))
        o(text(x0 - 6, y + 4, tick_label(v, lstep), 11, "end", fill="#555"))
    o(text(22, y0 + ph / 2, "ms", 12, "middle", extra=' transform="rotate(-90 22 %.1f)"'
           % (y0 + ph / 2)))
    gw = pw / len(targets)
    bw = min(30, (gw - 20) / 2)
    for ti, t in enumerate(targets):
        gx = x0 + ti * gw
        s = lat.get(t)
        name = LABEL.get(t, t)
        o(text(gx + gw / 2, y0 + ph + 16, name, 10.5, "middle",
               "bold" if t == "strictdot" else "normal"))
        if not s or s.get("p50_ms") is None:
            o(text(gx + gw / 2, y0 + ph - 6, "n/a", 10, "middle", fill="#999"))
            continue
        color = COLORS.get(t, "#888")
        for k, (key, opacity) in enumerate((("p50_ms", 1.0), ("p99_ms", 0.45))):
            v = s[key]
            h = ph * v / lmax
            x = gx + gw / 2 - bw + k * bw
            o('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" '
              'fill-opacity="%.2f"><title>%s %s: %.3f ms</title></rect>'
              % (x + 2, y0 + ph - h, bw - 4, h, color, opacity, t, key, v))
            o(text(x + bw / 2, y0 + ph - h - 4, "%.2f" % v, 9, "middle", fill="#333"))
    o(text(W - 10, H - 10, "bench/run.sh · numbers: bench/results/RESULTS.md", 10, "end",
           fill="#888"))
    o("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        sys.stdout.write(render(json.load(f)))


if __name__ == "__main__":
    main()
