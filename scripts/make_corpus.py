#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

The committed corpus is exactly this script's output: it empties each target's directory
(dot files such as .gitkeep aside) and writes the same files, byte for byte, every run.
Inputs the fuzzer finds on its own are not kept here; a crash goes to
fuzz/regressions/<target>/ (see fuzz/README.md), which this script never touches.

Input formats (fuzz/props.rs documents them with the properties):
  query          a DNS message from a client
  edns_rewrite   one flag byte (0x01 keep ECS; 0x02 ask for TCP keepalive; bits 2-3 padding
                 block: none, 128, 468, 1 + high nibble), then a query
  reply          one control byte (0x01 ask the reply's own question, else www.example A IN;
                 0x02 client sent OPT; 0x04 with DO; 0x08 client name in swapped case),
                 then an upstream reply
  rdata          one type byte (index into NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX,
                 A, 0xFF00), the RDATA offset after the 12-octet header (u16), RDLENGTH (u16),
                 then a DNS message holding that RDATA
  framing        one seed byte (low 2 bits: how the stream is cut), then a TCP byte stream
  upstream_spec  UTF-8 text: IP[:PORT][#NAME]
  pin            UTF-8 text: a base64 SPKI SHA-256 pin
  dnssec         one flag byte (0x01 fetches answered in order, else by question; 0x02 validate
                 the question in the case sent), the validation time (u32), then segments of a
                 u16 length and that many octets: trust-anchor text, the answer, the responses
                 the validator's fetches may get

Usage: python3 scripts/make_corpus.py   (stdlib only; run from anywhere)
"""

import base64
import hashlib
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# Types, classes, option codes.
A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, OPT, TSIG, IXFR, AXFR, ANY = (
    1, 2, 5, 6, 12, 15, 16, 28, 41, 250, 251, 252, 255)
MD, MF, MB, MG, MR, MINFO = 3, 4, 7, 8, 9, 14
PRIVATE = 0xFF00  # a private-use type (RFC 6895 §3.1): RDATA never interpreted
# The `rdata` target's type byte indexes this list (fuzz/props.rs RDATA_TYPES).
RDATA_TYPES = [NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR, MINFO, MX, A, PRIVATE]
IN, CH = 1, 3
ECS, COOKIE, KEEPALIVE, PADDING, NSID, EDE = 8, 10, 11, 12, 3, 15
RD, RA, AA, TC, AD, CD, QR = 0x0100, 0x0080, 0x0400, 0x0200, 0x0020, 0x0010, 0x8000


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def name(text):
    """Wire form of a dotted name (no escapes); '.' or '' is the root."""
    out = b""
    for label in text.strip(".").split("."):
        if label:
            raw = label.encode()
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def labels(*parts):
    """Wire form of raw labels (bytes), for labels a dotted string cannot spell."""
    return b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"


def header(ident, flags, qd=1, an=0, ns=0, ar=0):
    return u16(ident) + u16(flags) + u16(qd) + u16(an) + u16(ns) + u16(ar)


def question(qname, qtype=A, qclass=IN):
    return qname + u16(qtype) + u16(qclass)


def option(code, data=b""):
    return u16(code) + u16(len(data)) + data


def opt(udp=1232, do=False, version=0, ext_rcode=0, options=b"", owner=b"\x00"):
    flags = 0x8000 if do else 0
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return owner + u16(OPT) + u16(udp) + u32(ttl) + u16(len(options)) + options


def rr(owner, rtype, rdata, ttl=300, rclass=IN):
    return owner + u16(rtype) + u16(rclass) + u32(ttl) + u16(len(rdata)) + rdata


def query(qname, qtype=A, ident=0x1234, flags=RD, edns=None, qclass=IN, extra=b"", ar=None):
    """A client query; `edns` is an opt() record or None; `extra` more additional records."""
    additional = (edns or b"") + extra
    count = ar if ar is not None else (1 if edns else 0) + (1 if extra else 0)
    return header(ident, flags, ar=count) + question(qname, qtype, qclass) + additional


def ecs4(prefix, addr):
    octets = bytes(addr)[: (prefix + 7) // 8]
    return option(ECS, u16(1) + bytes([prefix, 0]) + octets)


def ecs6(prefix, addr):
    octets = bytes(addr)[: (prefix + 7) // 8]
    return option(ECS, u16(2) + bytes([prefix, 0]) + octets)


def ptr(offset):
    """A compression pointer to `offset` (RFC 1035 §4.1.4)."""
    return u16(0xC000 | offset)


WWW = name("www.example")
WWW_COM = name("www.example.com")
PTR_Q = b"\xc0\x0c"  # compression pointer to the question name


def long_name(total):
    """A name of exactly `total` octets in wire form (labels of up to 63)."""
    parts, left = [], total - 1
    while left > 0:
        size = min(63, left - 1)
        if size <= 0:
            size, parts[-1] = 1, parts[-1][:-1]
        parts.append(b"a" * size)
        left -= size + 1
    wire = labels(*parts)
    assert len(wire) == total, (len(wire), total)
    return wire


def queries():
    q = {}
    q["plain-a"] = query(WWW)
    q["plain-aaaa-com"] = query(WWW_COM, AAAA, ident=0xBEEF)
    q["no-rd"] = query(WWW, flags=0)
    q["ad-cd-bits"] = query(WWW, flags=RD | AD | CD)
    q["mixed-case"] = query(name("WwW.ExAmPlE.CoM"), ident=7)
    q["root-ns"] = query(name("."), NS)
    q["any"] = query(name("example.org"), ANY)
    q["chaos-version-bind"] = query(name("version.bind"), TXT, qclass=CH)
    q["ptr"] = query(name("1.2.0.192.in-addr.arpa"), PTR)
    q["odd-label-bytes"] = query(labels(b"a.b", b"\x00\xff", b" ", b"example"))
    q["label-63"] = query(labels(b"x" * 63, b"example"))
    q["label-64-bad-type"] = query(labels(b"x" * 64, b"example"))
    q["name-255"] = query(long_name(255))
    q["name-256"] = query(long_name(256))
    q["edns-1232"] = query(WWW, edns=opt(1232))
    q["edns-do-4096"] = query(WWW_COM, AAAA, edns=opt(4096, do=True))
    q["edns-udp-100"] = query(WWW, edns=opt(100))
    q["edns-udp-65535"] = query(WWW, edns=opt(65535, do=True))
    q["edns-other-flags"] = query(WWW, edns=opt(1232)[:-6] + b"\x00\x00\x7f\xff\x00\x00")
    q["edns-ecs4"] = query(WWW, edns=opt(1232, options=ecs4(24, [192, 0, 2, 0])))
    q["edns-ecs6"] = query(WWW, edns=opt(1232, options=ecs6(56, [0x20, 1, 0xd, 0xb8, 1, 2, 3])))
    q["edns-ecs-bad-family"] = query(WWW, edns=opt(1232, options=option(ECS, b"\x00\x03\x08\x00\x01")))
    q["edns-ecs-empty"] = query(WWW, edns=opt(1232, options=option(ECS)))
    q["edns-cookie-client"] = query(WWW, edns=opt(1232, options=option(COOKIE, bytes(range(8)))))
    q["edns-cookie-server"] = query(WWW, edns=opt(1232, options=option(COOKIE, bytes(range(24)))))
    q["edns-keepalive"] = query(WWW, edns=opt(1232, options=option(KEEPALIVE)))
    q["edns-padding-0"] = query(WWW, edns=opt(1232, options=option(PADDING)))
    q["edns-padding-100"] = query(WWW, edns=opt(1232, options=option(PADDING, bytes(100))))
    q["edns-nsid"] = query(WWW, edns=opt(1232, options=option(NSID)))
    q["edns-all-options"] = query(WWW_COM, AAAA, edns=opt(
        1232, do=True,
        options=ecs4(24, [198, 51, 100, 0]) + option(COOKIE, b"\x11" * 8) + option(NSID)
        + option(KEEPALIVE) + option(65001, b"opaque") + option(PADDING, bytes(9))))
    q["edns-big-option"] = query(WWW, edns=opt(1232, options=option(65002, bytes(range(256)) * 2)))
    q["edns-truncated-option"] = query(WWW, edns=opt(1232, options=u16(COOKIE) + u16(8) + b"\x01\x02"))
    q["edns-version-1"] = query(WWW, edns=opt(1232, version=1))
    q["edns-version-1-do"] = query(WWW, edns=opt(1232, do=True, version=1))
    q["edns-two-opt"] = query(WWW, edns=opt(1232), extra=opt(512), ar=2)
    q["edns-owner-not-root"] = query(WWW, edns=opt(1232, owner=PTR_Q))
    q["edns-ext-rcode-set"] = query(WWW, edns=opt(1232, ext_rcode=1))
    q["additional-tsig-like"] = query(WWW, edns=opt(1232), extra=rr(PTR_Q, TSIG, b"\x00" * 16, 0, 255), ar=2)
    q["additional-pointer-chain"] = query(
        WWW, extra=rr(b"\x04mail\xc0\x10", A, b"\xc0\x00\x02\x01") + rr(b"\xc0\x1d", A, b"\x01\x02\x03\x04"), ar=2)
    q["additional-forward-pointer"] = query(WWW, extra=rr(b"\xc0\x40", A, b"\x01\x02\x03\x04"))
    q["additional-self-pointer"] = query(WWW, extra=rr(b"\xc0\x1d", A, b"\x01\x02\x03\x04"))
    q["additional-pointer-to-header"] = query(WWW, extra=rr(b"\xc0\x04", A, b"\x01\x02\x03\x04"))
    # The one tolerated divergence from hickory (fuzz/props.rs, hickory_parse). The
    # question "a" A IN ends at 19; the additional record's owner at 19 points to 18, the
    # class's low octet 0x01: a 1-octet label that covers the pointer's first octet, then a
    # label of 0x12 (the pointer's second octet) running through the RDATA to a root label.
    q["additional-overlapping-label"] = query(
        name("a"), extra=rr(b"\xc0\x12", A, bytes(9), 0))
    q["pointer-in-question"] = header(0x1234, RD) + PTR_Q + u16(A) + u16(IN)
    q["axfr"] = query(name("example"), AXFR, flags=0)
    q["ixfr-edns"] = query(name("example"), IXFR, flags=0, edns=opt(1232, do=True))
    q["trailing-byte"] = query(WWW) + b"\x00"
    q["truncated-question"] = query(WWW)[:-3]
    q["header-only-qd0"] = header(0x1234, RD, qd=0)
    q["qdcount-2"] = header(0x1234, RD, qd=2) + question(WWW) + question(WWW_COM)
    q["ancount-1"] = header(0x1234, RD, an=1) + question(WWW) + rr(PTR_Q, A, b"\xc0\x00\x02\x01")
    q["nscount-1-edns"] = header(0x1234, RD, ns=1, ar=1) + question(WWW) + rr(PTR_Q, NS, PTR_Q) + opt(1232, do=True)
    q["response-dropped"] = query(WWW, flags=QR | RD)
    q["runt-11"] = query(WWW)[:11]
    q["empty"] = b""
    for opcode, label in [(1, "iquery"), (2, "status"), (4, "notify"), (5, "update"), (15, "opcode-15")]:
        q["notimp-" + label] = query(WWW, flags=(opcode << 11) | RD)
    q["notimp-notify-edns-do"] = query(name("example"), SOA, flags=4 << 11 | AA, edns=opt(1232, do=True))
    q["notimp-update-records"] = (
        header(0x1234, 5 << 11, qd=1, an=0, ns=1, ar=1) + question(name("example"), SOA)
        + rr(name("new.example"), A, b"\xc0\x00\x02\x07") + opt(1232))
    q["notimp-no-question"] = header(0x1234, 5 << 11, qd=0)
    return q


def reply_msg(qname, qtype=A, flags=QR | RD | RA, an=b"", ns=b"", ar=b"", counts=None, ident=0x4242):
    """A reply to one question with the given records; `counts` is (an, ns, ar)."""
    an_n, ns_n, ar_n = counts
    return header(ident, flags, 1, an_n, ns_n, ar_n) + question(qname, qtype) + an + ns + ar


def replies():
    r = {}
    a1 = rr(PTR_Q, A, b"\xc0\x00\x02\x01", 60)
    r["www-a"] = (0x00, reply_msg(WWW, an=a1, counts=(1, 0, 0)))
    r["www-a-upper"] = (0x00, reply_msg(name("WWW.EXAMPLE"), an=a1, counts=(1, 0, 0)))
    r["www-a-client-swapped-case"] = (0x08, reply_msg(WWW, an=a1, counts=(1, 0, 0)))
    r["www-a-edns"] = (0x02, reply_msg(WWW, an=a1, ar=opt(1232), counts=(1, 0, 1)))
    r["www-a-edns-do"] = (0x06, reply_msg(WWW, an=a1, ar=opt(1232, do=True), counts=(1, 0, 1)))
    # www.example.com: CNAME -> cdn.example.net, two A records for it, an NS record for
    # example.com in authority, glue A/AAAA for ns1.example.com, and a padded OPT. Offsets:
    # question name at 12 ("example.com" at 16), CNAME RDATA name at 45.
    cname = rr(PTR_Q, CNAME, b"\x03cdn\x07example\x03net\x00", 300)
    a_cdn = rr(b"\xc0\x2d", A, b"\xc6\x33\x64\x01", 20) + rr(b"\xc0\x2d", A, b"\xc6\x33\x64\x02", 20)
    ns_rec = rr(b"\xc0\x10", NS, b"\x03ns1\xc0\x10", 86400)
    glue_at = 12 + 17 + 4 + len(cname) + len(a_cdn) + 2 + 10  # ns1.example.com in NS RDATA
    glue = rr(ptr(glue_at), A, b"\xcb\x00\x71\x35") + rr(ptr(glue_at), AAAA, bytes(15) + b"\x35")
    full = reply_msg(WWW_COM, an=cname + a_cdn, ns=ns_rec, ar=glue + opt(1232, options=option(PADDING, bytes(40))),
                     counts=(3, 1, 3))
    r["cname-chain-glue-padding"] = (0x03, full)
    r["cname-chain-glue-padding-noopt-client"] = (0x01, full)
    r["cname-chain-glue-padding-swapped"] = (0x0B, full)
    def soa(zone_at):
        z = ptr(zone_at)
        return rr(z, SOA, b"\x02ns" + z + b"\x0ahostmaster" + z + u32(2024010101) + u32(7200)
                  + u32(3600) + u32(1209600) + u32(300), 300)
    r["nxdomain-soa"] = (0x01, reply_msg(name("nope.example"), flags=QR | RD | RA | 3, ns=soa(17),
                                         counts=(0, 1, 0)))
    r["nodata-soa-edns"] = (0x03, reply_msg(WWW, AAAA, ns=soa(16), ar=opt(1232, do=True), counts=(0, 1, 1)))
    opts = option(PADDING, bytes(30)) + option(COOKIE, bytes(range(24))) + ecs4(24, [192, 0, 2, 0])
    r["opt-padding-cookie-ecs"] = (0x03, reply_msg(WWW, an=a1, ar=opt(1232, options=opts), counts=(1, 0, 1)))
    r["opt-padding-cookie-ecs-client-no-opt"] = (0x01, reply_msg(WWW, an=a1, ar=opt(1232, options=opts),
                                                                 counts=(1, 0, 1)))
    r["opt-not-last"] = (0x03, reply_msg(WWW, an=a1, ar=opt(1232, options=option(PADDING, bytes(8))) + a1,
                                         counts=(1, 0, 2)))
    r["tc-empty"] = (0x00, reply_msg(WWW, flags=QR | RD | RA | TC, counts=(0, 0, 0)))
    r["servfail-ede"] = (0x03, reply_msg(WWW, flags=QR | RD | RA | 2,
                                         ar=opt(1232, options=option(EDE, u16(22) + b"no reachable")),
                                         counts=(0, 0, 1)))
    r["badvers"] = (0x03, reply_msg(WWW, flags=QR | RD | RA, ar=opt(1232, ext_rcode=1), counts=(0, 0, 1)))
    mx = rr(PTR_Q, MX, u16(10) + b"\x04mail" + PTR_Q) + rr(PTR_Q, MX, u16(20) + b"\x05mail2" + PTR_Q)
    r["mx-compressed-rdata"] = (0x01, reply_msg(name("example"), MX, an=mx, counts=(2, 0, 0)))
    # Pointer to pointer: the second record's owner points at the first's owner (a pointer).
    r["pointer-chain"] = (0x00, reply_msg(WWW, an=a1 + rr(b"\xc0\x1d", A, b"\xc0\x00\x02\x02"), counts=(2, 0, 0)))
    r["pointer-forward"] = (0x00, reply_msg(WWW, an=rr(b"\xc0\x30", A, b"\x01\x02\x03\x04"), counts=(1, 0, 0)))
    r["pointer-self"] = (0x00, reply_msg(WWW, an=rr(b"\xc0\x1d", A, b"\x01\x02\x03\x04"), counts=(1, 0, 0)))
    r["pointer-loop"] = (0x00, reply_msg(WWW, an=rr(b"\x01x\xc0\x1d", A, b"\x01\x02\x03\x04"), counts=(1, 0, 0)))
    r["question-compressed"] = (0x00, header(1, QR | RA, 1, 0, 0, 0) + PTR_Q + u16(A) + u16(IN))
    r["qdcount-0"] = (0x00, header(1, QR | RA | 1, 0, 0, 0, 0))
    r["qdcount-2"] = (0x00, header(1, QR | RA, 2, 0, 0, 0) + question(WWW) + question(WWW))
    r["not-a-response"] = (0x00, reply_msg(WWW, flags=RD, an=a1, counts=(1, 0, 0)))
    r["opcode-notify"] = (0x00, reply_msg(WWW, flags=QR | (4 << 11), counts=(0, 0, 0)))
    r["question-mismatch"] = (0x00, reply_msg(name("www.example.net"), an=a1, counts=(1, 0, 0)))
    r["type-mismatch"] = (0x00, reply_msg(WWW, AAAA, counts=(0, 0, 0)))
    r["trailing-bytes"] = (0x00, reply_msg(WWW, an=a1, counts=(1, 0, 0)) + b"\x00\x00")
    r["two-opt"] = (0x03, reply_msg(WWW, ar=opt(1232) + opt(1232), counts=(0, 0, 2)))
    r["opt-owner-not-root"] = (0x03, reply_msg(WWW, ar=opt(1232, owner=PTR_Q), counts=(0, 0, 1)))
    r["opt-in-answer"] = (0x00, reply_msg(WWW, an=opt(1232, owner=PTR_Q), counts=(1, 0, 0)))
    r["opt-bad-options"] = (0x03, reply_msg(WWW, ar=opt(1232, options=u16(PADDING) + u16(9) + bytes(3)),
                                            counts=(0, 0, 1)))
    r["short-rdata-a"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, A, b"\x01\x02\x03"), counts=(1, 0, 0)))
    many = b"".join(rr(PTR_Q, A, bytes([192, 0, 2, i])) for i in range(100))
    r["many-a-1600"] = (0x03, reply_msg(WWW, an=many, ar=opt(4096), counts=(100, 0, 1)))
    r["name-255-question"] = (0x01, reply_msg(long_name(255), counts=(0, 0, 0)))
    # Tolerated divergence from hickory (see the query seed of the same name): the owner at
    # 29 points to 28, the class's low octet, whose label covers the pointer.
    r["overlapping-label"] = (0x00, reply_msg(WWW, an=rr(ptr(28), A, bytes(19), 1), counts=(1, 0, 0)))
    r["truncated-record"] = (0x00, reply_msg(WWW, an=a1, counts=(1, 0, 0))[:-2])
    # Names inside RDATA (RFC 3597 §4 types). Question www.example A IN: "example" at 16,
    # the first answer's owner at 29, its RDATA at 41.
    r["cname-rdata-forward-pointer"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, CNAME, ptr(43)) + rr(name("cdn.example"),
                                                          A, b"\xc0\x00\x02\x01"), counts=(2, 0, 0)))
    r["cname-rdata-pointer-into-header"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, CNAME, b"\x03cdn" + ptr(4)),
                                                            counts=(1, 0, 0)))
    r["ns-rdata-longer-than-name"] = (0x03, reply_msg(WWW, ns=rr(ptr(16), NS, b"\x03ns1" + ptr(16) + b"\x00"),
                                                      ar=opt(1232), counts=(0, 1, 1)))
    r["mx-rdata-no-exchange"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, MX, u16(10)), counts=(1, 0, 0)))
    soa_fields = u32(1) + u32(7200) + u32(3600) + u32(1209600) + u32(300)
    r["soa-rdata-one-short"] = (0x00, reply_msg(WWW, ns=rr(ptr(16), SOA, b"\x02ns" + ptr(16) + b"\x00"
                                                          + soa_fields[:-1]), counts=(0, 1, 0)))
    # RNAME points at MNAME's pointer (at 44): a chain inside the RDATA.
    r["soa-rdata-pointer-chain"] = (0x03, reply_msg(WWW, ns=rr(ptr(16), SOA, b"\x02ns" + ptr(16) + b"\x0ahostmaster"
                                                              + ptr(44) + soa_fields), ar=opt(1232),
                                                    counts=(0, 1, 1)))
    arpa = name("1.2.0.192.in-addr.arpa")
    mail = rr(ptr(12), MINFO, b"\x05admin" + ptr(12) + b"\x06errors" + ptr(12))
    for t in (MB, MG, MR, MD, MF):
        mail += rr(ptr(12), t, b"\x04mbox" + ptr(12))
    r["ptr-minfo-obsolete-types"] = (0x01, reply_msg(arpa, PTR, an=rr(ptr(12), PTR, name("host.example")) + mail,
                                                     counts=(7, 0, 0)))
    r["rdata-name-255"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, CNAME, long_name(255)), counts=(1, 0, 0)))
    r["rdata-name-256"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, CNAME, long_name(256)), counts=(1, 0, 0)))
    # Tolerated divergence (see the `rdata` seed of the same name): a pointer chain whose
    # second stretch runs into the first, before the pointer. Opaque record's RDATA at 41.
    x = 41
    r["rdata-overlap-divergence"] = (0x00, reply_msg(WWW, an=rr(PTR_Q, PRIVATE, bytes([2, 0x61, 1, 0, 0xC0, x]))
                                                     + rr(PTR_Q, CNAME, b"\x01z" + ptr(x + 2)), counts=(2, 0, 0)))
    r["runt"] = (0x00, b"\x42\x42\x81")
    return r


def rdata_seeds():
    """Inputs for the `rdata` target: a message of a reply header, the question
    www.example A IN, then `before` (records, or any octets), then one record of `rtype`
    with `rdata` (RDLENGTH `rdlen`, else its length), then `after`."""
    def seed(rtype, rdata, before=b"", after=b"", rdlen=None):
        owner = PTR_Q
        msg = header(0x4242, QR | RD | RA, 1, 1, 0, 0) + question(WWW) + before
        start = len(msg) + len(owner) + 10
        length = len(rdata) if rdlen is None else rdlen
        msg += owner + u16(rtype) + u16(IN) + u32(300) + u16(length) + rdata + after
        return bytes([RDATA_TYPES.index(rtype)]) + u16(start - 12) + u16(length) + msg

    # Offsets: "www.example" at 12, "example" at 16, the question ends at 29; with nothing
    # before, the record's RDATA starts at 41.
    soa_fields = u32(2024010101) + u32(7200) + u32(3600) + u32(1209600) + u32(300)
    a_rec = rr(PTR_Q, A, b"\xc0\x00\x02\x01")  # owner at 29, a pointer
    s = {}
    s["cname-plain"] = seed(CNAME, name("cdn.example.net"))
    s["cname-compressed"] = seed(CNAME, b"\x03cdn" + ptr(16))
    s["ns-pointer-to-pointer"] = seed(NS, b"\x03ns1" + ptr(29), before=a_rec)
    s["ptr-plain"] = seed(PTR, name("host.example"))
    s["mx-compressed"] = seed(MX, u16(10) + b"\x04mail" + ptr(16))
    s["soa-compressed"] = seed(SOA, b"\x02ns" + ptr(16) + b"\x0ahostmaster" + ptr(16) + soa_fields)
    # RNAME points at MNAME's pointer (at 44).
    s["soa-pointer-chain-in-rdata"] = seed(SOA, b"\x02ns" + ptr(16) + b"\x0ahostmaster" + ptr(44) + soa_fields)
    s["soa-root-names"] = seed(SOA, b"\x00\x00" + soa_fields)
    s["minfo"] = seed(MINFO, b"\x05admin" + ptr(16) + b"\x06errors" + ptr(16))
    for t, label in ((MD, "md"), (MF, "mf"), (MB, "mb"), (MG, "mg"), (MR, "mr")):
        s[f"{label}-compressed"] = seed(t, b"\x04mbox" + ptr(12))
    s["name-255"] = seed(CNAME, long_name(255))
    s["a-opaque"] = seed(A, ptr(0x3FFF) + b"\xff\xff")
    s["private-type-opaque"] = seed(PRIVATE, b"\x80\xc0\x00anything")
    s["name-next-to-next-record"] = seed(NS, b"\x03ns1" + ptr(16), after=a_rec)
    # Refused.
    s["cname-forward-pointer"] = seed(CNAME, ptr(43), after=name("cdn.example") + u16(A))
    s["cname-pointer-into-header"] = seed(CNAME, b"\x03cdn" + ptr(4))
    s["cname-pointer-to-id"] = seed(CNAME, ptr(0))
    s["ns-pointer-self"] = seed(NS, ptr(41))
    s["ns-pointer-to-own-start"] = seed(NS, b"\x01a" + ptr(41))
    s["ptr-pointer-past-end"] = seed(PTR, ptr(0x3FFF))
    s["ptr-pointer-cut-by-rdlength"] = seed(PTR, ptr(16), rdlen=1)
    s["cname-runs-past-rdlength"] = seed(CNAME, name("cdn.example"), rdlen=5)
    s["cname-octet-left-over"] = seed(CNAME, b"\x03cdn" + ptr(16) + b"\x00")
    s["mx-no-exchange"] = seed(MX, u16(10))
    s["mx-one-octet"] = seed(MX, b"\x00")
    s["soa-one-short"] = seed(SOA, b"\x00\x00" + soa_fields[:-1])
    s["soa-one-long"] = seed(SOA, b"\x00\x00" + soa_fields + b"\x00")
    s["minfo-one-name"] = seed(MINFO, b"\x05admin" + ptr(16))
    s["ptr-empty"] = seed(PTR, b"")
    s["name-256"] = seed(CNAME, long_name(256))
    s["label-64"] = seed(CNAME, bytes([64]) + b"a" * 64 + b"\x00")
    s["label-type-extended"] = seed(CNAME, b"\x41\x00")
    s["label-type-reserved"] = seed(NS, b"\x80\x00")
    # Reached through a pointer, a label that runs forward over that pointer: `before` is
    # a length octet of 20 at 29, so the label would take 30..49, the RDATA (at 42) included.
    s["label-runs-over-pointer"] = seed(CNAME, ptr(29), before=bytes([20]), after=b"x" * 8 + b"\x00")
    # Tolerated divergence from hickory (`LabelOverlapsWithOther`): the RDATA points at 31,
    # whose stretch (label, then a pointer at 33 back to 29) leads to a stretch from 29 that
    # runs on into 31..33 and ends with the root at 32, before the pointer at 33.
    overlap = bytes([2, 0x61, 1, 0, 0xC0, 29])
    s["overlap-divergence"] = seed(CNAME, b"\x01z" + ptr(31), before=overlap)
    return s


def rewrites(qs):
    """(flag, query) pairs for edns_rewrite: valid queries under several privacy settings."""
    picks = ["plain-a", "mixed-case", "name-255", "edns-1232", "edns-do-4096", "edns-udp-100",
             "edns-ecs4", "edns-ecs6", "edns-ecs-bad-family", "edns-cookie-server", "edns-keepalive",
             "edns-padding-100", "edns-all-options", "edns-big-option", "additional-tsig-like",
             "additional-pointer-chain", "chaos-version-bind", "edns-other-flags"]
    # The first is strictdot's default (pad to 128, ask for keepalive, strip ECS).
    flags = [(0x06, "pad128-keepalive"), (0x04, "pad128"), (0x05, "pad128-keep-ecs"), (0x00, "nopad"),
             (0x01, "nopad-keep-ecs"), (0x02, "nopad-keepalive"), (0x08, "pad468"), (0x0C, "pad1"),
             (0xFE, "pad16-keepalive"), (0x7F, "pad8-keep-ecs-keepalive")]
    out = {}
    others = len(flags) - 1
    for i, pick in enumerate(picks):
        # Every query with the default, plus two other settings chosen round-robin.
        for flag, label in [flags[0], flags[1 + (2 * i) % others], flags[1 + (2 * i + 1) % others]]:
            out[f"{pick}-{label}"] = bytes([flag]) + qs[pick]
    # Options that almost fill a message: padding must give way at 65535 octets.
    big = option(65003, bytes(65535 - 12 - 17 - 4 - 11 - 4 - 40))
    out["near-64k-pad128-keepalive"] = b"\x06" + query(WWW, edns=opt(1232, options=big))
    return out


def frame(msg):
    return u16(len(msg)) + msg


def framings(qs):
    a, b, c = qs["plain-a"], qs["edns-all-options"], qs["name-255"]
    streams = {
        "one": frame(a),
        "three": frame(a) + frame(b) + frame(c),
        "three-then-partial": frame(a) + frame(b) + frame(c)[:40],
        "prefix-only": u16(300),
        "one-byte": b"\x01",
        "zero-length-first": u16(0) + frame(a),
        "zero-length-middle": frame(a) + u16(0) + frame(b),
        "max-length-prefix-short-body": u16(65535) + bytes(100),
        "tiny-frames": b"".join(frame(bytes([i])) for i in range(40)),
        "long-frame": frame(bytes(range(256)) * 6) + frame(a),
    }
    out = {}
    for sname, stream in streams.items():
        for seed, mode in [(0x00, "whole"), (0x01, "bytewise"), (0x06, "small"), (0x2B, "large")]:
            if sname in ("one-byte", "prefix-only") and mode != "whole":
                continue
            out[f"{sname}-{mode}"] = bytes([seed]) + stream
    return out


SPECS = [
    "9.9.9.9", "9.9.9.9:853", "9.9.9.9:8853#dns.quad9.net", "[2620:fe::fe]:853#dns.quad9.net",
    "[2620:fe::fe]", "2620:fe::fe", "::1", "[::1]:53", "127.0.0.1:853#localhost",
    "1.1.1.1#cloudflare-dns.com", "1.1.1.1#Cloudflare-DNS.com.", " 1.1.1.1:853 ",
    "[::ffff:192.0.2.1]:853#ipv4-mapped.example", "[fe80::1%2]:853", "1.1.1.1:65535", "1.1.1.1:1",
    "1.1.1.1#_dns.resolver.arpa", "1.1.1.1#xn--bcher-kva.example", "1.1.1.1#" + "a" * 63 + ".example",
    "1.1.1.1#" + ".".join(["b" * 63] * 4),
    # Refused forms.
    "dns.google", "dns.google:853", "1.1.1.1:0", "1.1.1.1:65536", "1.1.1.1:", "1.1.1.1:+853",
    "[::1", "[::1]853", "[1.1.1.1]:853", "1.1.1.1#", "1.1.1.1##", "1.1.1.1#a#b", "1.1.1.1#1.2.3.4",
    "1.1.1.1#bad name", "1.1.1.1#a..b", "1.1.1.1#foo..", "1.1.1.1#" + "c" * 64 + ".example", "",
    "#dns.quad9.net", "1.1.1.1:853:853", "01.1.1.1", "1.1.1.1#-lead.example", "1.1.1.1#\u00e9.example",
]


def pins():
    out = {}
    digest = hashlib.sha256(b"strictdot corpus spki").digest()
    good = base64.b64encode(digest).decode()
    zeros = base64.b64encode(bytes(32)).decode()
    out["valid"] = good
    out["valid-zeros"] = zeros
    out["valid-sha256-prefix"] = "sha256/" + good
    out["valid-pin-sha256-quoted"] = 'pin-sha256="' + good + '"'
    out["valid-whitespace"] = "  " + good + "\n"
    out["valid-quoted"] = '"' + good + '"'
    # Refused forms.
    out["short"] = "AAAA"
    out["empty"] = ""
    out["prefix-only"] = "sha256/"
    out["not-base64"] = "not base64!"
    out["no-padding"] = good.rstrip("=")
    out["url-safe-alphabet"] = base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()
    out["33-bytes"] = base64.b64encode(digest + b"\x00").decode()
    out["31-bytes"] = base64.b64encode(digest[:31]).decode()
    # 32 bytes leave 2 unused bits in the last character: set them (non-canonical).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(good[42]) | 1]
    out["non-canonical-trailing-bits"] = good[:42] + last + "="
    out["double-prefix"] = "pin-sha256=sha256/" + good
    out["inner-space"] = good[:20] + " " + good[20:]
    return out


# ---------------------------------------------------------------------------------------
# dnssec: signed answers, signed here. Ed25519 (RFC 8032 §5.1) is deterministic, so the
# same keys (derived from fixed strings) give the same signatures on every run.
# ---------------------------------------------------------------------------------------

ED_P = 2**255 - 19
ED_Q = 2**252 + 27742317777372353535851937790883648493
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def _ed_add(a, b):
    """Adds two points in extended coordinates (RFC 8032 §5.1.4)."""
    x = (a[1] - a[0]) * (b[1] - b[0]) % ED_P
    y = (a[1] + a[0]) * (b[1] + b[0]) % ED_P
    c = 2 * a[3] * b[3] * ED_D % ED_P
    d = 2 * a[2] * b[2] % ED_P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % ED_P, g * h % ED_P, f * g % ED_P, e * h % ED_P)


def _ed_mul(k, point):
    out = (0, 1, 1, 0)
    while k:
        if k & 1:
            out = _ed_add(out, point)
        point = _ed_add(point, point)
        k >>= 1
    return out


def _ed_base():
    y = 4 * pow(5, ED_P - 2, ED_P) % ED_P
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, ED_P - 2, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * ED_SQRT_M1 % ED_P
    if x & 1:
        x = ED_P - x
    return (x, y, 1, x * y % ED_P)


ED_B = _ed_base()


def _ed_encode(point):
    zinv = pow(point[2], ED_P - 2, ED_P)
    x, y = point[0] * zinv % ED_P, point[1] * zinv % ED_P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _ed_expand(secret):
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, h[32:]


def ed_public(secret):
    return _ed_encode(_ed_mul(_ed_expand(secret)[0], ED_B))


def ed_sign(secret, msg):
    a, prefix = _ed_expand(secret)
    public = _ed_encode(_ed_mul(a, ED_B))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % ED_Q
    big_r = _ed_encode(_ed_mul(r, ED_B))
    k = int.from_bytes(hashlib.sha512(big_r + public + msg).digest(), "little") % ED_Q
    return big_r + ((r + k * a) % ED_Q).to_bytes(32, "little")


DS_T, RRSIG_T, NSEC_T, DNSKEY_T, NSEC3_T, NSEC3PARAM_T = 43, 46, 47, 48, 50, 51
SIG_INCEPTION = 1767225600  # 2026-01-01
SIG_EXPIRATION = 2082758400  # 2036-01-01
SEC_NOW = 1796083200  # 2026-12-01, inside the window
ZONE_TTL = 3600


def key_tag(rdata):
    acc = sum(b << 8 if i % 2 == 0 else b for i, b in enumerate(rdata))
    return (acc + (acc >> 16 & 0xFFFF)) & 0xFFFF


def wire_labels(wire):
    out, pos = [], 0
    while wire[pos]:
        out.append(wire[pos + 1:pos + 1 + wire[pos]])
        pos += 1 + wire[pos]
    return out


def canonical_key(wire):
    return [label.lower() for label in reversed(wire_labels(wire))]


def type_bitmap(rtypes):
    windows = {}
    for t in sorted(set(rtypes)):
        bits = windows.setdefault(t >> 8, bytearray(32))
        bits[(t & 0xFF) // 8] |= 0x80 >> (t % 8)
    out = b""
    for window, bits in sorted(windows.items()):
        bits = bytes(bits).rstrip(b"\x00")
        out += bytes([window, len(bits)]) + bits
    return out


def b32hex(data):
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    bits = int.from_bytes(data, "big")
    n = len(data) * 8 // 5
    return "".join(alphabet[bits >> (5 * (n - 1 - i)) & 31] for i in range(n))


def nsec3_hash(owner, salt=b"", iterations=0):
    h = hashlib.sha1(owner.lower() + salt).digest()
    for _ in range(iterations):
        h = hashlib.sha1(h + salt).digest()
    return h


class SignedZone:
    """A small zone signed with one Ed25519 key (flags 257, a combined KSK/ZSK)."""

    def __init__(self, origin, records, denial):
        self.origin = name(origin)
        self.secret = hashlib.sha256(b"strictdot fuzz seed key " + self.origin).digest()
        self.dnskey = u16(257) + bytes([3, 15]) + ed_public(self.secret)
        self.tag = key_tag(self.dnskey)
        ns1 = name("ns1." + origin)
        soa = ns1 + name("hostmaster." + origin) + u32(1) + u32(7200) + u32(900) + u32(1209600) + u32(300)
        self.sets = {}
        for owner, rtype, rdata in [
            (self.origin, SOA, soa), (self.origin, NS, ns1), (self.origin, DNSKEY_T, self.dnskey),
            (ns1, A, bytes([192, 0, 2, 53])),
        ] + [(name(o), t, d) for o, t, d in records]:
            self.sets.setdefault((owner, rtype), []).append(rdata)
        owners = sorted({o for o, _ in self.sets}, key=canonical_key)
        if denial == "nsec":
            for i, owner in enumerate(owners):
                nxt = owners[(i + 1) % len(owners)]
                types = [t for o, t in self.sets if o == owner] + [RRSIG_T, NSEC_T]
                self.sets[(owner, NSEC_T)] = [nxt + type_bitmap(types)]
        else:
            self.sets[(self.origin, NSEC3PARAM_T)] = [bytes([1, 0]) + u16(0) + b"\x00"]
            hashed = sorted((nsec3_hash(o), o) for o in owners)
            for i, (h, owner) in enumerate(hashed):
                nxt = hashed[(i + 1) % len(hashed)][0]
                types = [t for o, t in self.sets if o == owner] + [RRSIG_T]
                rdata = bytes([1, 0]) + u16(0) + b"\x00" + bytes([len(nxt)]) + nxt + type_bitmap(types)
                self.sets[(bytes([32]) + b32hex(h).encode() + self.origin, NSEC3_T)] = [rdata]

    def ds(self):
        return hashlib.sha256(self.origin + self.dnskey).hexdigest().upper()

    def anchor_ds(self):
        text = name_text(self.origin)
        return f"{text} 3600 IN DS {self.tag} 15 2 {self.ds()}\n".encode()

    def anchor_dnskey(self):
        key = base64.b64encode(self.dnskey[4:]).decode()
        return f"{name_text(self.origin)} IN DNSKEY 257 3 15 {key}\n".encode()

    def rrsig(self, owner, rtype, rdatas, as_owner=None, expiration=SIG_EXPIRATION):
        """The RRSIG RDATA over the RRset (RFC 4034 §3.1.8.1); `owner` is the name signed."""
        labels = len([label for label in wire_labels(owner) if label != b"*"])
        prefix = (u16(rtype) + bytes([15, labels]) + u32(ZONE_TTL) + u32(expiration)
                  + u32(SIG_INCEPTION) + u16(self.tag) + self.origin)
        data = prefix
        for rdata in sorted(set(rdatas)):
            data += owner.lower() + u16(rtype) + u16(IN) + u32(ZONE_TTL) + u16(len(rdata)) + rdata
        return prefix + ed_sign(self.secret, data)

    def rrset(self, owner, rtype, as_owner=None, expiration=SIG_EXPIRATION):
        """The records of an RRset and its RRSIG, owned by `as_owner` (a wildcard's expansion)."""
        owner = name(owner) if isinstance(owner, str) else owner
        rdatas = self.sets[(owner, rtype)]
        shown = as_owner or owner
        out = [rr(shown, rtype, d, ZONE_TTL) for d in rdatas]
        out.append(rr(shown, RRSIG_T, self.rrsig(owner, rtype, rdatas, expiration=expiration), ZONE_TTL))
        return out

    def all_of(self, rtype):
        return [r for (o, t) in sorted(self.sets) if t == rtype for r in self.rrset(o, t)]


def name_text(wire):
    return ".".join(label.decode() for label in wire_labels(wire)) + "."


def sec_response(qname, qtype, answer=(), authority=(), rcode=0, qname_wire=None):
    q = question(qname_wire or name(qname), qtype)
    return (header(0x5353, QR | RD | RA | rcode, 1, len(answer), len(authority))
            + q + b"".join(answer) + b"".join(authority))


def segment(data):
    return u16(len(data)) + data


def sec_seed(flags, anchor, answer, *responses, now=SEC_NOW):
    return bytes([flags]) + u32(now) + b"".join(segment(s) for s in (anchor, answer) + responses)


def dnssec_seeds():
    """Signed answers with the DNSKEY response the validator fetches, secure, insecure and
    bogus; and the RDATA parsers' inputs alone."""
    z = SignedZone("example", [
        ("www.example", A, bytes([192, 0, 2, 1])),
        ("www.example", TXT, b"\x05hello"),
        ("*.wild.example", A, bytes([192, 0, 2, 2])),
        ("alias.example", CNAME, name("www.example")),
    ], "nsec")
    n3 = SignedZone("n3.example", [("www.n3.example", A, bytes([192, 0, 2, 3]))], "nsec3")
    keys = sec_response("example", DNSKEY_T, z.rrset("example", DNSKEY_T))
    keys3 = sec_response("n3.example", DNSKEY_T, n3.rrset("n3.example", DNSKEY_T))
    soa = z.rrset("example", SOA)
    www = sec_response("www.example", A, z.rrset("www.example", A))
    out = {
        "secure-a": sec_seed(0, z.anchor_ds(), www, keys),
        "secure-a-dnskey-anchor": sec_seed(0, z.anchor_dnskey(), www, keys),
        "secure-a-fetch-in-order": sec_seed(1, z.anchor_ds(), www, keys),
        "secure-txt": sec_seed(0, z.anchor_ds(), sec_response("www.example", TXT, z.rrset("www.example", TXT)), keys),
        "secure-dnskey": sec_seed(0, z.anchor_ds(), keys, keys),
        "secure-cname": sec_seed(0, z.anchor_ds(), sec_response(
            "alias.example", A, z.rrset("alias.example", CNAME) + z.rrset("www.example", A)), keys),
        "secure-wildcard": sec_seed(0, z.anchor_ds(), sec_response(
            "x.wild.example", A, z.rrset("*.wild.example", A, as_owner=name("x.wild.example")),
            z.rrset("*.wild.example", NSEC_T)), keys),
        "secure-nxdomain-nsec": sec_seed(0, z.anchor_ds(), sec_response(
            "nx.example", A, (), soa + z.rrset("ns1.example", NSEC_T) + z.rrset("example", NSEC_T), 3), keys),
        "secure-nodata-nsec": sec_seed(0, z.anchor_ds(), sec_response(
            "www.example", AAAA, (), soa + z.rrset("www.example", NSEC_T)), keys),
        "secure-nxdomain-nsec3": sec_seed(0, n3.anchor_dnskey(), sec_response(
            "nx.n3.example", A, (), n3.rrset("n3.example", SOA) + n3.all_of(NSEC3_T), 3), keys3),
        "secure-nodata-nsec3": sec_seed(0, n3.anchor_ds(), sec_response(
            "www.n3.example", AAAA, (), n3.rrset("n3.example", SOA) + n3.all_of(NSEC3_T)), keys3),
        "secure-a-nsec3-zone": sec_seed(0, n3.anchor_ds(), sec_response(
            "www.n3.example", A, n3.rrset("www.n3.example", A)), keys3),
        "secure-mixed-case": sec_seed(2, z.anchor_ds(), sec_response(
            "www.example", A, z.rrset("www.example", A, as_owner=name("WwW.ExAmple")),
            qname_wire=name("WwW.ExAmple")), keys),
        "secure-compressed": sec_seed(0, z.anchor_ds(), sec_response(
            "www.example", A, z.rrset("www.example", A, as_owner=PTR_Q)), keys),
        "insecure-no-anchor-above": sec_seed(0, n3.anchor_ds(), www, keys),
        "indeterminate-root-anchor-no-root-keys": sec_seed(0, b"", www, keys),
        "bogus-tampered": sec_seed(0, z.anchor_ds(), www.replace(bytes([192, 0, 2, 1]), bytes([192, 0, 2, 66])), keys),
        "bogus-expired": sec_seed(0, z.anchor_ds(), www, keys, now=SIG_EXPIRATION + 86400 * 30),
        "bogus-not-yet-valid": sec_seed(0, z.anchor_ds(), www, keys, now=SIG_INCEPTION - 86400 * 30),
        "bogus-no-rrsig": sec_seed(0, z.anchor_ds(), sec_response(
            "www.example", A, z.rrset("www.example", A)[:1]), keys,
            sec_response("www.example", DS_T, (), soa + z.rrset("www.example", NSEC_T))),
        "bogus-wildcard-without-proof": sec_seed(0, z.anchor_ds(), sec_response(
            "x.wild.example", A, z.rrset("*.wild.example", A, as_owner=name("x.wild.example"))), keys),
        "bogus-nxdomain-without-proof": sec_seed(0, z.anchor_ds(), sec_response("nx.example", A, (), soa, 3), keys,
            sec_response("nx.example", DS_T, (), soa + z.rrset("ns1.example", NSEC_T) + z.rrset("example", NSEC_T), 3)),
        "indeterminate-nxdomain-without-proof-or-chain": sec_seed(
            0, z.anchor_ds(), sec_response("nx.example", A, (), soa, 3), keys),
        "indeterminate-no-keys": sec_seed(0, z.anchor_ds(), www),
        "bogus-wrong-anchor": sec_seed(0, n3.anchor_ds().replace(b"n3.example.", b"example."), www, keys),
    }
    # The RDATA parsers alone (each segment goes through every parser).
    sig = z.rrsig(name("www.example"), A, z.sets[(name("www.example"), A)])
    for label, rdata in [
        ("rrsig", sig), ("dnskey", z.dnskey), ("ds", u16(z.tag) + bytes([15, 2]) + bytes.fromhex(z.ds())),
        ("nsec", z.sets[(name("www.example"), NSEC_T)][0]), ("nsec3", [d for (o, t), v in sorted(n3.sets.items()) if t == NSEC3_T for d in v][0]),
        ("bitmap-high-window", name("a") + bytes([0, 1, 0x40, 0xFF, 32]) + bytes(31) + b"\x01"),
        ("bitmap-windows-out-of-order", name("a") + bytes([1, 1, 0x40, 0, 1, 0x40])),
        ("bitmap-empty-window", name("a") + bytes([0, 0])),
        ("rrsig-no-signature", sig[:18] + z.origin),
        ("rrsig-compressed-signer", sig[:18] + b"\xc0\x0c" + sig[-64:]),
        ("nsec3-zero-hash", bytes([1, 0, 0, 0, 0, 0])),
    ]:
        out[f"rdata-{label}"] = sec_seed(0, b"", b"", rdata)
    return out


def write(target, files):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    for entry in os.listdir(directory):
        if not entry.startswith("."):
            os.remove(os.path.join(directory, entry))
    for fname, data in sorted(files.items()):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(directory, fname), "wb") as f:
            f.write(data)
    return len(files)


def main():
    qs = queries()
    counts = {
        "query": write("query", qs),
        "edns_rewrite": write("edns_rewrite", rewrites(qs)),
        "reply": write("reply", {k: bytes([ctl]) + msg for k, (ctl, msg) in replies().items()}),
        "rdata": write("rdata", rdata_seeds()),
        "framing": write("framing", framings(qs)),
        "upstream_spec": write("upstream_spec", {f"spec-{i:02}": s for i, s in enumerate(SPECS)}),
        "pin": write("pin", pins()),
        "dnssec": write("dnssec", dnssec_seeds()),
    }
    for target, n in counts.items():
        print(f"fuzz/corpus/{target}: {n} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
