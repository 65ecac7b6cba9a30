#!/usr/bin/env python3
"""Short-lived DNS-over-TLS clients: each connection does a TLS handshake, sends one query,
reads its answer and closes. Reports handshakes per second and the share the server
resumed. Standard library only (Python's ssl module, OpenSSL underneath).

    python3 bench/churn.py HOST PORT --seconds 5 --threads 4 [--resume] [--names FILE]

With --resume every thread offers the session ticket of its previous connection (TLS 1.3
tickets arrive after the handshake, so the ticket is taken after the answer is read);
without it every handshake is a full one. The server's certificate is not verified: this
measures the server's cost, not the client's. Prints one JSON object.
"""

import argparse
import json
import socket
import ssl
import struct
import threading
import time


def query(qid, name):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", 1, 1)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def worker(args, ctx, names, stop, out, idx):
    session = None
    done = resumed = errors = 0
    i = idx
    while not stop.is_set():
        try:
            with socket.create_connection((args.host, args.port), timeout=2) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with ctx.wrap_socket(raw, server_hostname=args.sni,
                                     session=session if args.resume else None) as s:
                    q = query(i & 0xFFFF, names[i % len(names)])
                    i += args.threads
                    s.sendall(struct.pack(">H", len(q)) + q)
                    (n,) = struct.unpack(">H", read_exact(s, 2))
                    read_exact(s, n)
                    done += 1
                    if s.session_reused:
                        resumed += 1
                    if args.resume:
                        session = s.session
        except (OSError, ssl.SSLError, ConnectionError):
            errors += 1
    out[idx] = (done, resumed, errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--sni", default="bench.test")
    ap.add_argument("--names", help="file of 'NAME TYPE' lines (dnsperf format); default hit0.bench")
    args = ap.parse_args()
    names = ["hit0.bench"]
    if args.names:
        names = [l.split()[0] for l in open(args.names) if l.strip()]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    stop = threading.Event()
    out = [None] * args.threads
    threads = [threading.Thread(target=worker, args=(args, ctx, names, stop, out, k))
               for k in range(args.threads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    done = sum(o[0] for o in out)
    resumed = sum(o[1] for o in out)
    errors = sum(o[2] for o in out)
    print(json.dumps({
        "handshakes": done, "resumed": resumed, "errors": errors, "seconds": round(elapsed, 3),
        "handshakes_per_s": done / elapsed if elapsed else 0.0,
        "resumed_share": resumed / done if done else 0.0, "resume_offered": args.resume,
    }))


if __name__ == "__main__":
    main()
