//! Zone files as ldns-signzone writes them (one record per line, absolute names) turned
//! into wire-format records, and the small name helpers the in-memory resolver needs.
//! Written apart from strictdot's own parser so the tests do not check it against itself.

use std::cmp::Ordering;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine;

/// One resource record in wire form; the owner lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("DNAME", 39),
    ("DS", 43),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("ZONEMD", 63),
];

/// The number of a type mnemonic (or `TYPEnnn`).
pub fn type_code(text: &str) -> Option<u16> {
    let upper = text.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE") {
        return n.parse().ok();
    }
    TYPES.iter().find(|(t, _)| *t == upper).map(|&(_, c)| c)
}

/// Presentation name (absolute) to wire form, lower-cased. `\DDD` and `\X` escapes.
pub fn name_wire(text: &str) -> Result<Vec<u8>, String> {
    if text == "." {
        return Ok(vec![0]);
    }
    let body = text
        .strip_suffix('.')
        .ok_or_else(|| format!("relative name {text}"))?;
    let mut out = Vec::new();
    let mut label = Vec::new();
    let mut chars = body.bytes();
    loop {
        let c = chars.next();
        match c {
            None | Some(b'.') => {
                if label.is_empty() || label.len() > 63 {
                    return Err(format!("bad label in {text}"));
                }
                out.push(label.len() as u8);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                label.clear();
                if c.is_none() {
                    break;
                }
            }
            Some(b'\\') => {
                let c = chars.next().ok_or("dangling escape")?;
                if c.is_ascii_digit() {
                    let d2 = chars.next().ok_or("escape")?;
                    let d3 = chars.next().ok_or("escape")?;
                    let v: String = [c, d2, d3].iter().map(|&b| char::from(b)).collect();
                    label.push(v.parse::<u8>().map_err(|e| e.to_string())?);
                } else {
                    label.push(c);
                }
            }
            Some(c) => label.push(c),
        }
    }
    out.push(0);
    Ok(out)
}

/// The labels of a wire name, left to right.
pub fn labels(name: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = name;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            break;
        }
        let (label, more) = tail.split_at(usize::from(len));
        out.push(label.to_vec());
        rest = more;
    }
    out
}

/// A wire name from labels.
pub fn from_labels(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.push(l.len() as u8);
        out.extend(l);
    }
    out.push(0);
    out
}

/// Whether `name` is `zone` or below it.
pub fn is_subdomain(name: &[u8], zone: &[u8]) -> bool {
    let (n, z) = (labels(name), labels(zone));
    n.len() >= z.len() && n[n.len() - z.len()..] == z[..]
}

/// The parent of a name (the root's parent is `None`).
pub fn parent(name: &[u8]) -> Option<Vec<u8>> {
    let l = labels(name);
    (!l.is_empty()).then(|| from_labels(&l[1..]))
}

/// RFC 4034 §6.1 canonical order (names already lower case).
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (la, lb) = (labels(a), labels(b));
    for (x, y) in la.iter().rev().zip(lb.iter().rev()) {
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    la.len().cmp(&lb.len())
}

/// Presentation text of a wire name (for messages).
pub fn name_text(name: &[u8]) -> String {
    let l = labels(name);
    if l.is_empty() {
        return ".".into();
    }
    l.iter()
        .map(|x| String::from_utf8_lossy(x).into_owned() + ".")
        .collect()
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("bad hex {text}"))
        })
        .collect()
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())
}

/// base32hex (RFC 4648 §7) decoding, no padding.
pub fn base32hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c.to_ascii_lowercase() {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'v' => c - b'a' + 10,
            _ => return Err(format!("bad base32hex {text}")),
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// base32hex encoding, lower case, no padding.
pub fn base32hex_encode(data: &[u8]) -> String {
    let alphabet = b"0123456789abcdefghijklmnopqrstuv";
    let (mut acc, mut bits) = (0u32, 0);
    let mut out = String::new();
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(alphabet[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(alphabet[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A type bitmap (RFC 4034 §4.1.2) from mnemonics.
fn bitmap(tokens: &[&str]) -> Result<Vec<u8>, String> {
    let mut codes: Vec<u16> = tokens
        .iter()
        .map(|t| type_code(t).ok_or_else(|| format!("unknown type {t}")))
        .collect::<Result<_, _>>()?;
    codes.sort();
    codes.dedup();
    let mut out = Vec::new();
    let mut window: Option<(u8, Vec<u8>)> = None;
    for c in codes {
        let [w, low] = c.to_be_bytes();
        if window.as_ref().map(|(x, _)| *x) != Some(w) {
            if let Some((x, bits)) = window.take() {
                out.push(x);
                out.push(bits.len() as u8);
                out.extend(bits);
            }
            window = Some((w, Vec::new()));
        }
        let bits = &mut window.as_mut().unwrap().1;
        let byte = usize::from(low / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> (low % 8);
    }
    if let Some((x, bits)) = window {
        out.push(x);
        out.push(bits.len() as u8);
        out.extend(bits);
    }
    Ok(out)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RRSIG time: `YYYYMMDDHHmmSS` or seconds.
fn sig_time(text: &str) -> Result<u32, String> {
    if text.len() != 14 {
        return text.parse().map_err(|_| format!("bad time {text}"));
    }
    let f = |a: usize, b: usize| -> Result<i64, String> {
        text.get(a..b)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad time {text}"))
    };
    let days = days_from_civil(f(0, 4)?, f(4, 6)?, f(6, 8)?);
    let secs = days * 86_400 + f(8, 10)? * 3600 + f(10, 12)? * 60 + f(12, 14)?;
    Ok(secs as u32)
}

/// Hash algorithm, flags, iterations and salt: how NSEC3 and NSEC3PARAM RDATA begin
/// (RFC 5155 §3.2, §4.2).
fn nsec3_parameters(f: &[&str], out: &mut Vec<u8>) -> Result<(), String> {
    out.push(num(f, 0)?);
    out.push(num(f, 1)?);
    out.extend(num::<u16>(f, 2)?.to_be_bytes());
    let salt = hex(field(f, 3)?)?;
    out.push(salt.len() as u8);
    out.extend(salt);
    Ok(())
}

fn num<T: std::str::FromStr>(f: &[&str], i: usize) -> Result<T, String> {
    f.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("field {i} of {f:?}"))
}

fn field<'a>(f: &[&'a str], i: usize) -> Result<&'a str, String> {
    f.get(i)
        .copied()
        .ok_or_else(|| format!("field {i} of {f:?}"))
}

/// Presentation RDATA to wire RDATA.
pub fn rdata(rtype: u16, f: &[&str], raw: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match rtype {
        1 => out.extend(
            field(f, 0)?
                .parse::<Ipv4Addr>()
                .map_err(|e| e.to_string())?
                .octets(),
        ),
        28 => out.extend(
            field(f, 0)?
                .parse::<Ipv6Addr>()
                .map_err(|e| e.to_string())?
                .octets(),
        ),
        2 | 5 | 12 | 39 => out.extend(name_wire(field(f, 0)?)?),
        15 => {
            out.extend(num::<u16>(f, 0)?.to_be_bytes());
            out.extend(name_wire(field(f, 1)?)?);
        }
        16 => {
            for part in raw.split('"').skip(1).step_by(2) {
                out.push(part.len() as u8);
                out.extend(part.as_bytes());
            }
        }
        6 => {
            out.extend(name_wire(field(f, 0)?)?);
            out.extend(name_wire(field(f, 1)?)?);
            for i in 2..7 {
                out.extend(num::<u32>(f, i)?.to_be_bytes());
            }
        }
        43 => {
            out.extend(num::<u16>(f, 0)?.to_be_bytes());
            out.push(num(f, 1)?);
            out.push(num(f, 2)?);
            out.extend(hex(&f[3..].concat())?);
        }
        48 => {
            out.extend(num::<u16>(f, 0)?.to_be_bytes());
            out.push(num(f, 1)?);
            out.push(num(f, 2)?);
            out.extend(b64(&f[3..].concat())?);
        }
        46 => {
            out.extend(type_code(field(f, 0)?).ok_or("covered type")?.to_be_bytes());
            out.push(num(f, 1)?);
            out.push(num(f, 2)?);
            out.extend(num::<u32>(f, 3)?.to_be_bytes());
            out.extend(sig_time(field(f, 4)?)?.to_be_bytes());
            out.extend(sig_time(field(f, 5)?)?.to_be_bytes());
            out.extend(num::<u16>(f, 6)?.to_be_bytes());
            out.extend(name_wire(field(f, 7)?)?);
            out.extend(b64(&f[8..].concat())?);
        }
        47 => {
            out.extend(name_wire(field(f, 0)?)?);
            out.extend(bitmap(&f[1..])?);
        }
        50 => {
            nsec3_parameters(f, &mut out)?;
            let next = base32hex(field(f, 4)?)?;
            out.push(next.len() as u8);
            out.extend(next);
            out.extend(bitmap(&f[5..])?);
        }
        51 => nsec3_parameters(f, &mut out)?,
        _ if field(f, 0)? == "\\#" => out.extend(hex(&f[2..].concat())?),
        _ => return Err(format!("no presentation parser for type {rtype}")),
    }
    Ok(out)
}

/// Parses a zone file of fully qualified records, one per line (`owner TTL CLASS TYPE
/// RDATA`, as ldns-signzone writes them). Comments and `$` directives are skipped.
pub fn parse_zone(text: &str) -> Result<Vec<Rr>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if line.contains('"') {
            line
        } else {
            line.split(';').next().unwrap_or_default()
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('$') {
            continue;
        }
        let f: Vec<&str> = trimmed.split_whitespace().collect();
        let err = |e: String| format!("line {}: {e}: {line}", i + 1);
        let owner = name_wire(field(&f, 0).map_err(err)?).map_err(err)?;
        let ttl: u32 = num(&f, 1).map_err(err)?;
        if !field(&f, 2).map_err(err)?.eq_ignore_ascii_case("IN") {
            return Err(err("class".into()));
        }
        let rtype = type_code(field(&f, 3).map_err(err)?).ok_or_else(|| err("type".into()))?;
        let raw = trimmed
            .splitn(5, char::is_whitespace)
            .nth(4)
            .unwrap_or_default();
        let rdata = rdata(rtype, &f[4..], raw).map_err(err)?;
        out.push(Rr {
            owner,
            rtype,
            class: 1,
            ttl,
            rdata,
        });
    }
    Ok(out)
}
