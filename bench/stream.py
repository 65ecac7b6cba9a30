#!/usr/bin/env python3
"""A DNS client that sends its queries in batches: each of --clients processes keeps one
connection (TCP, or DNS-over-TLS with --tls) and, in a closed loop, writes --batch queries
at once (one write; over TLS, one record) and reads their --batch answers. Reports answers
per second and the response codes. Standard library only.

    python3 bench/stream.py HOST PORT --seconds 5 --clients 4 --batch 50 [--tls] --names FILE

dnsperf -m dot writes one TLS record per query, so over DoT every query is a record for
the server to read, decrypt and copy out, and dnsperf's own CPU per query doubles on the
cores it shares with the proxy. This client writes the same queries over TCP and over DoT
in the same batches, so the two transports differ only by TLS. The server's certificate is
not verified: this measures the server's cost, not the client's. Prints one JSON object.
"""

import argparse
import json
import multiprocessing
import socket
import ssl
import struct
import time


def query(qid, name):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(msg)) + msg


def batches(names, batch, first):
    """Every name once per lap, cut into writes of `batch` framed queries."""
    frames = [query((first + i) & 0xFFFF, n) for i, n in enumerate(names)]
    frames = frames * max(1, -(-batch // len(frames)))  # at least one whole batch
    return [b"".join(frames[i:i + batch]) for i in range(0, len(frames) - batch + 1, batch)]


def client(args, idx, out):
    names = [line.split()[0] for line in open(args.names) if line.strip()]
    writes = batches(names, args.batch, idx * 7919)
    raw = socket.create_connection((args.host, args.port), timeout=5)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = raw
    if args.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(raw, server_hostname=args.sni)
    answers = noerror = 0
    buf = bytearray()
    end = time.monotonic() + args.seconds
    w = 0
    while time.monotonic() < end:
        s.sendall(writes[w])
        w = (w + 1) % len(writes)
        want = args.batch
        while want:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            buf += chunk
            pos = 0
            while want and len(buf) - pos >= 2:
                n = (buf[pos] << 8) | buf[pos + 1]
                if len(buf) - pos - 2 < n:
                    break
                if buf[pos + 5] & 0x0F == 0:  # RCODE of the header (after the length)
                    noerror += 1
                pos += 2 + n
                want -= 1
                answers += 1
            del buf[:pos]
    out.put((answers, noerror))
    s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--sni", default="bench.test")
    p.add_argument("--names", required=True, help="dnsperf data file: NAME TYPE per line")
    args = p.parse_args()
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(args, i, out))
             for i in range(args.clients)]
    start = time.monotonic()
    for pr in procs:
        pr.start()
    results = [out.get(timeout=args.seconds + 30) for _ in procs]
    for pr in procs:
        pr.join()
    elapsed = time.monotonic() - start
    answers = sum(a for a, _ in results)
    noerror = sum(n for _, n in results)
    print(json.dumps({
        "answers": answers, "noerror": noerror, "seconds": round(elapsed, 3),
        "qps": round(answers / elapsed, 1), "clients": args.clients, "batch": args.batch,
        "tls": args.tls,
    }))


if __name__ == "__main__":
    main()
