#!/usr/bin/env python3
"""Small helpers for bench/run.sh (Python 3 standard library only).

Subcommands:
  freeports N                      print N loopback ports free for both UDP and TCP
  probe HOST PORT NAME [options]   send one A query until an answer arrives (bounded);
                                   prints the RCODE name and exits 0, or exits 1
  dnsperf OUTPUT [--latency] [--meta k=v ...] [--append FILE]
                                   parse a dnsperf output file into one JSON record
                                   (with --latency: per-query latencies from -v lines,
                                   p50/p90/p99/p999 in milliseconds)
"""

import argparse
import json
import re
import socket
import ssl
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def freeports(n):
    """Return n distinct ports that are free on 127.0.0.1 for both TCP and UDP."""
    ports = []
    held = []
    for _ in range(200):
        if len(ports) == n:
            break
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            u.close()
            continue
        held += [t, u]
        ports.append(port)
    for s in held:
        s.close()
    if len(ports) != n:
        sys.exit("freeports: could not find enough free ports")
    return ports


def build_query(name, qid):
    out = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00" + struct.pack("!HH", 1, 1)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def probe_once(host, port, name, mode, timeout, ca_file, tls_name):
    qid = int(time.monotonic() * 1000) & 0xFFFF
    q = build_query(name, qid)
    if mode == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(q, (host, port))
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    return data
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if mode == "tls":
            ctx = ssl.create_default_context(cafile=ca_file)
            sock = ctx.wrap_socket(sock, server_hostname=tls_name)
        sock.sendall(struct.pack("!H", len(q)) + q)
        (length,) = struct.unpack("!H", recv_exact(sock, 2))
        return recv_exact(sock, length)
    finally:
        sock.close()


def probe(args):
    deadline = time.monotonic() + args.wait
    last_err = "no attempt"
    while time.monotonic() < deadline:
        try:
            data = probe_once(args.host, args.port, args.name, args.mode, 1.0,
                              args.ca_file, args.tls_name)
            flags = struct.unpack("!H", data[2:4])[0]
            ancount = struct.unpack("!H", data[6:8])[0]
            rcode = RCODES.get(flags & 0xF, str(flags & 0xF))
            if args.want and rcode != args.want:
                last_err = "rcode " + rcode
            else:
                print(rcode if not args.verbose else "%s answers=%d" % (rcode, ancount))
                return 0
        except (OSError, ssl.SSLError) as e:
            last_err = str(e) or e.__class__.__name__
        time.sleep(0.2)
    print("probe %s:%d %s over %s failed for %.0f s: %s"
          % (args.host, args.port, args.name, args.mode, args.wait, last_err), file=sys.stderr)
    return 1


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def parse_dnsperf(path, latency):
    rec = {}
    lats = []
    num = r"([0-9.]+)"
    pats = {
        "sent": r"Queries sent:\s+(\d+)",
        "completed": r"Queries completed:\s+(\d+)",
        "lost": r"Queries lost:\s+(\d+)",
        "run_time_s": r"Run time \(s\):\s+" + num,
        "qps": r"Queries per second:\s+" + num,
        "avg_latency_s": r"Average Latency \(s\):\s+" + num,
        "latency_stddev_s": r"Latency StdDev \(s\):\s+" + num,
    }
    with open(path, encoding="utf-8", errors="replace") as f:
        text_lines = []
        for line in f:
            if latency and line.startswith("> "):
                parts = line.split()
                # "> NOERROR name A 0.000123"
                if len(parts) >= 5:
                    try:
                        lats.append(float(parts[-1]) * 1000.0)
                    except ValueError:
                        pass
                continue
            text_lines.append(line)
    text = "".join(text_lines)
    for key, pat in pats.items():
        m = re.search(pat, text)
        if m:
            rec[key] = float(m.group(1)) if "." in m.group(1) or key.endswith("_s") or key == "qps" \
                else int(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    rcodes = {}
    if m:
        for code, count in re.findall(r"([A-Z0-9]+) (\d+) \(", m.group(1)):
            rcodes[code] = int(count)
    rec["rcodes"] = rcodes
    if "sent" in rec and rec["sent"]:
        rec["loss_pct"] = 100.0 * rec.get("lost", 0) / rec["sent"]
    if "avg_latency_s" in rec:
        rec["avg_latency_ms"] = rec["avg_latency_s"] * 1000.0
    if latency:
        lats.sort()
        rec["latency_samples"] = len(lats)
        for p in (50, 90, 99, 99.9):
            v = percentile(lats, p)
            rec["p%s_ms" % str(p).replace(".", "")] = v
    if "qps" not in rec:
        rec["error"] = "could not parse dnsperf output"
    return rec


def dnsperf(args):
    rec = {}
    for kv in args.meta or []:
        k, _, v = kv.partition("=")
        try:
            v = json.loads(v)
        except ValueError:
            pass
        rec[k] = v
    rec.update(parse_dnsperf(args.output, args.latency))
    line = json.dumps(rec, sort_keys=True)
    if args.append:
        with open(args.append, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    print(line)
    return 0 if "error" not in rec else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeports")
    p.add_argument("n", type=int)
    p = sub.add_parser("probe")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("name")
    p.add_argument("--mode", choices=["udp", "tcp", "tls"], default="udp")
    p.add_argument("--wait", type=float, default=20.0, help="give up after this many seconds")
    p.add_argument("--want", help="keep probing until this RCODE (e.g. NOERROR)")
    p.add_argument("--ca-file")
    p.add_argument("--tls-name")
    p.add_argument("--verbose", action="store_true")
    p = sub.add_parser("dnsperf")
    p.add_argument("output")
    p.add_argument("--latency", action="store_true")
    p.add_argument("--meta", action="append")
    p.add_argument("--append")
    args = ap.parse_args()
    if args.cmd == "freeports":
        print(" ".join(str(x) for x in freeports(args.n)))
        return 0
    if args.cmd == "probe":
        return probe(args)
    return dnsperf(args)


if __name__ == "__main__":
    sys.exit(main())
