#!/usr/bin/env python3
"""Peak memory of strictdot holding many idle client connections.

    python3 bench/idle_rss.py [--bin target/release/strictdot] [--tcp 10000] [--tls 1000]

Starts strictdot (a throwaway CA and certificate from `openssl`; the upstream is a closed
port, which nothing here needs), opens --tcp plain TCP connections and then --tls
DNS-over-TLS connections, each of which sends one NOTIFY (answered NOTIMP by strictdot
itself, so every connection has been read from and written to once) and then stays idle.
Prints VmRSS after start, after the TCP connections and after the TLS ones, the peak
(VmHWM), and the bytes per connection, as one JSON object. Standard library only; needs
a file-descriptor limit above --tcp + --tls + 100 (it raises its own soft limit).
"""

import argparse
import json
import os
import resource
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402  (bench/benchlib.py)


def status_kb(pid, field):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def notify(qid):
    q = struct.pack(">HHHHHH", qid, 0x2000, 1, 0, 0, 0) + b"\x04idle\x05bench\x00" + struct.pack(">HH", 6, 1)
    return struct.pack(">H", len(q)) + q


def read_frame(s):
    buf = b""
    while len(buf) < 2:
        buf += s.recv(2 - len(buf))
    (n,) = struct.unpack(">H", buf)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return body


def certs(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + "/key.pem",
                    "-out", d + "/cert.pem", "-days", "2", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test"],
                   check=True, capture_output=True)
    return d + "/cert.pem", d + "/key.pem"


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--bin", default=os.path.join(root, "target/release/strictdot"))
    ap.add_argument("--tcp", type=int, default=10000)
    ap.add_argument("--tls", type=int, default=1000)
    args = ap.parse_args()
    need = args.tcp + args.tls + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    d = tempfile.mkdtemp(prefix="strictdot-idle-")
    cert, key = certs(d)
    port, tport, dead = benchlib.freeports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRICTDOT_")}
    cap = str(args.tcp + args.tls + 10)
    proc = subprocess.Popen(
        [args.bin, "--listen", "127.0.0.1:%d" % port, "--listen-tls", "127.0.0.1:%d" % tport,
         "--tls-cert", cert, "--tls-key", key, "--upstream", "127.0.0.1:%d#bench.test" % dead,
         "--ca-file", cert, "--rate-limit", "0", "--tls-handshake-rate", "0",
         "--max-tcp-clients", cap, "--max-tcp-per-client", cap, "--tcp-idle-timeout", "600s",
         "--log-level", "warn"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(d + "/strictdot.log", "w"))
    socks = []
    try:
        # ready: the TCP listener answers a NOTIFY
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.sendall(notify(1))
                read_frame(s)
                s.close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        res = {"binary": args.bin, "tcp": args.tcp, "tls": args.tls,
               "rss_start_kb": status_kb(proc.pid, "VmRSS")}
        for i in range(args.tcp):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(notify(i & 0xFFFF))
            read_frame(s)
            socks.append(s)
        time.sleep(1)
        res["rss_tcp_kb"] = status_kb(proc.pid, "VmRSS")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for i in range(args.tls):
            raw = socket.create_connection(("127.0.0.1", tport), timeout=5)
            s = ctx.wrap_socket(raw, server_hostname="bench.test")
            s.sendall(notify(i & 0xFFFF))
            read_frame(s)
            socks.append(s)
        time.sleep(1)
        res["rss_tls_kb"] = status_kb(proc.pid, "VmRSS")
        res["vmhwm_kb"] = status_kb(proc.pid, "VmHWM")
        res["alive"] = proc.poll() is None
        if args.tcp:
            res["bytes_per_tcp_conn"] = round(1024 * (res["rss_tcp_kb"] - res["rss_start_kb"]) / args.tcp)
        if args.tls:
            res["bytes_per_tls_conn"] = round(1024 * (res["rss_tls_kb"] - res["rss_tcp_kb"]) / args.tls)
        print(json.dumps(res))
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
