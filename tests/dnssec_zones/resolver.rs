//! An in-memory stand-in for an upstream recursive resolver asked with DO=1 and CD=1: it
//! holds every zone of a [`super::ZoneSet`] and answers as their authoritative servers
//! would, chasing CNAME and DNAME links across zones: the answer RRsets with their
//! RRSIGs, and in the authority section the SOA and the NSEC/NSEC3 records (with RRSIGs)
//! that prove a denial or a wildcard expansion. It never validates anything.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use super::wire::{
    base32hex_encode, canonical_cmp, from_labels, is_subdomain, labels, parent, parse_zone, Rr,
};

const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const DNAME: u16 = 39;
const DS: u16 = 43;
const RRSIG: u16 = 46;
const NSEC: u16 = 47;
const NSEC3: u16 = 50;
const NSEC3PARAM: u16 = 51;

/// One loaded zone.
pub struct Zone {
    pub origin: Vec<u8>,
    /// Every record but NSEC3 (and the RRSIGs over NSEC3).
    records: Vec<Rr>,
    /// NSEC3 records and their RRSIGs, by owner hash.
    nsec3: Vec<(Vec<u8>, Rr)>,
    nsec3_sigs: Vec<Rr>,
    /// (salt, iterations) from NSEC3PARAM.
    param: Option<(Vec<u8>, u16)>,
}

fn covered_type(sig: &Rr) -> u16 {
    u16::from_be_bytes([sig.rdata[0], sig.rdata[1]])
}

/// NSEC3 hash (RFC 5155 §5).
pub fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> Vec<u8> {
    let sha1 = |parts: &[&[u8]]| {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        for p in parts {
            ctx.update(p);
        }
        ctx.finish().as_ref().to_vec()
    };
    let mut h = sha1(&[name, salt]);
    for _ in 0..iterations {
        h = sha1(&[&h, salt]);
    }
    h
}

impl Zone {
    fn new(origin: Vec<u8>, rrs: Vec<Rr>) -> Zone {
        let mut records = Vec::new();
        let mut nsec3 = Vec::new();
        let mut nsec3_sigs = Vec::new();
        let mut param = None;
        for rr in rrs {
            if rr.rtype == NSEC3 {
                let hash = super::wire::base32hex(
                    std::str::from_utf8(&labels(&rr.owner)[0]).unwrap_or_default(),
                )
                .unwrap_or_default();
                nsec3.push((hash, rr));
            } else if rr.rtype == RRSIG && covered_type(&rr) == NSEC3 {
                nsec3_sigs.push(rr);
            } else {
                if rr.rtype == NSEC3PARAM && rr.owner == origin {
                    let salt_len = usize::from(rr.rdata[4]);
                    let iterations = u16::from_be_bytes([rr.rdata[2], rr.rdata[3]]);
                    param = Some((rr.rdata[5..5 + salt_len].to_vec(), iterations));
                }
                records.push(rr);
            }
        }
        Zone {
            origin,
            records,
            nsec3,
            nsec3_sigs,
            param,
        }
    }

    /// The RRset and its RRSIGs.
    fn rrset(&self, owner: &[u8], rtype: u16) -> Vec<Rr> {
        let mut set: Vec<Rr> = self
            .records
            .iter()
            .filter(|r| r.owner == owner && r.rtype == rtype)
            .cloned()
            .collect();
        if set.is_empty() {
            return set;
        }
        set.extend(
            self.records
                .iter()
                .filter(|r| r.owner == owner && r.rtype == RRSIG && covered_type(r) == rtype)
                .cloned(),
        );
        set
    }

    fn has(&self, owner: &[u8], rtype: u16) -> bool {
        self.records
            .iter()
            .any(|r| r.owner == owner && r.rtype == rtype)
    }

    /// Whether the name exists: records at it, or below it (an empty non-terminal).
    fn exists(&self, name: &[u8]) -> bool {
        self.records.iter().any(|r| is_subdomain(&r.owner, name))
    }

    /// The deepest delegation (NS below the apex) at or above `name`.
    fn delegation_above(&self, name: &[u8]) -> Option<Vec<u8>> {
        let mut cur = name.to_vec();
        while cur != self.origin {
            if self.has(&cur, NS) {
                return Some(cur);
            }
            cur = parent(&cur)?;
        }
        None
    }

    fn soa(&self) -> Vec<Rr> {
        self.rrset(&self.origin, SOA)
    }

    // ---- NSEC ----

    fn nsec_at(&self, name: &[u8]) -> Vec<Rr> {
        self.rrset(name, NSEC)
    }

    fn nsec_covering(&self, name: &[u8]) -> Vec<Rr> {
        for r in self.records.iter().filter(|r| r.rtype == NSEC) {
            let next = &r.rdata[..name_len(&r.rdata)];
            let after_owner = canonical_cmp(&r.owner, name).is_lt();
            let covers = if canonical_cmp(&r.owner, next).is_lt() {
                after_owner && canonical_cmp(name, next).is_lt()
            } else {
                after_owner
            };
            if covers {
                return self.rrset(&r.owner, NSEC);
            }
        }
        Vec::new()
    }

    // ---- NSEC3 ----

    fn hash(&self, name: &[u8]) -> Option<Vec<u8>> {
        self.param
            .as_ref()
            .map(|(salt, it)| nsec3_hash(name, salt, *it))
    }

    fn nsec3_with_sigs(&self, rr: &Rr) -> Vec<Rr> {
        let mut out = vec![rr.clone()];
        out.extend(
            self.nsec3_sigs
                .iter()
                .filter(|s| s.owner == rr.owner)
                .cloned(),
        );
        out
    }

    fn nsec3_match(&self, name: &[u8]) -> Vec<Rr> {
        let Some(h) = self.hash(name) else {
            return Vec::new();
        };
        self.nsec3
            .iter()
            .find(|(owner, _)| *owner == h)
            .map(|(_, rr)| self.nsec3_with_sigs(rr))
            .unwrap_or_default()
    }

    fn nsec3_cover(&self, name: &[u8]) -> Vec<Rr> {
        let Some(h) = self.hash(name) else {
            return Vec::new();
        };
        for (owner, rr) in &self.nsec3 {
            let salt_len = usize::from(rr.rdata[4]);
            let hash_len = usize::from(rr.rdata[5 + salt_len]);
            let next = &rr.rdata[6 + salt_len..6 + salt_len + hash_len];
            let covers = if owner.as_slice() < next {
                owner.as_slice() < h.as_slice() && h.as_slice() < next
            } else {
                owner.as_slice() < h.as_slice() || h.as_slice() < next
            };
            if covers {
                return self.nsec3_with_sigs(rr);
            }
        }
        Vec::new()
    }

    /// The closest provable encloser: the longest ancestor with a matching NSEC3.
    fn nsec3_encloser(&self, name: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut child = name.to_vec();
        let mut cur = parent(name).unwrap_or_default();
        while cur != self.origin && self.nsec3_match(&cur).is_empty() {
            child = cur.clone();
            cur = parent(&cur).unwrap_or_default();
        }
        (cur, child)
    }

    fn denial_nodata(&self, name: &[u8]) -> Vec<Rr> {
        if self.param.is_some() {
            let m = self.nsec3_match(name);
            if !m.is_empty() {
                return m;
            }
            // Opt-out: no NSEC3 for the name; closest encloser proof.
            let (ce, nc) = self.nsec3_encloser(name);
            let mut out = self.nsec3_match(&ce);
            out.extend(self.nsec3_cover(&nc));
            return out;
        }
        let at = self.nsec_at(name);
        if !at.is_empty() {
            return at;
        }
        self.nsec_covering(name)
    }

    fn closest_existing(&self, name: &[u8]) -> Vec<u8> {
        let mut cur = parent(name).unwrap_or_default();
        while cur != self.origin && !self.exists(&cur) {
            cur = parent(&cur).unwrap_or_default();
        }
        cur
    }

    fn wildcard_of(ce: &[u8]) -> Vec<u8> {
        let mut l = vec![b"*".to_vec()];
        l.extend(labels(ce));
        from_labels(&l)
    }

    fn child_toward(name: &[u8], ce: &[u8]) -> Vec<u8> {
        let l = labels(name);
        let keep = labels(ce).len() + 1;
        from_labels(&l[l.len() - keep..])
    }

    fn denial_nxdomain(&self, name: &[u8]) -> Vec<Rr> {
        let ce = self.closest_existing(name);
        let wc = Self::wildcard_of(&ce);
        if self.param.is_some() {
            let (ce, nc) = self.nsec3_encloser(name);
            let mut out = self.nsec3_match(&ce);
            out.extend(self.nsec3_cover(&nc));
            out.extend(self.nsec3_cover(&Self::wildcard_of(&ce)));
            return out;
        }
        let mut out = self.nsec_covering(name);
        out.extend(self.nsec_covering(&wc));
        out
    }

    fn denial_wildcard_answer(&self, name: &[u8], ce: &[u8]) -> Vec<Rr> {
        if self.param.is_some() {
            return self.nsec3_cover(&Self::child_toward(name, ce));
        }
        self.nsec_covering(name)
    }

    fn denial_wildcard_nodata(&self, name: &[u8], ce: &[u8]) -> Vec<Rr> {
        let wc = Self::wildcard_of(ce);
        if self.param.is_some() {
            let mut out = self.nsec3_match(ce);
            out.extend(self.nsec3_cover(&Self::child_toward(name, ce)));
            out.extend(self.nsec3_match(&wc));
            return out;
        }
        let mut out = self.nsec_covering(name);
        out.extend(self.nsec_at(&wc));
        out
    }

    fn lookup(&self, name: &[u8], qtype: u16) -> Outcome {
        let soa = self.soa();
        let with_soa = |mut proof: Vec<Rr>| {
            let mut out = soa.clone();
            out.append(&mut proof);
            out
        };
        // The parent side of a delegation answers DS.
        if let Some(cut) = self.delegation_above(name) {
            if cut == name && qtype == DS {
                let ds = self.rrset(name, DS);
                if !ds.is_empty() {
                    return Outcome::Answer(ds, Vec::new());
                }
                return Outcome::NoData(with_soa(self.denial_nodata(name)));
            }
            // Below a cut whose zone is not loaded: nothing to say.
            return Outcome::NoData(soa);
        }
        if self.records.iter().any(|r| r.owner == name) {
            let set = self.rrset(name, qtype);
            if !set.is_empty() {
                return Outcome::Answer(set, Vec::new());
            }
            let cname = self.rrset(name, CNAME);
            if !cname.is_empty() && qtype != CNAME {
                let target = cname_target(&cname);
                return Outcome::Alias(cname, Vec::new(), target);
            }
            return Outcome::NoData(with_soa(self.denial_nodata(name)));
        }
        if self.exists(name) {
            return Outcome::NoData(with_soa(self.denial_nodata(name)));
        }
        // A DNAME above the name.
        let mut cur = parent(name).unwrap_or_default();
        while is_subdomain(&cur, &self.origin) {
            let dname = self.rrset(&cur, DNAME);
            if !dname.is_empty() {
                let target = cname_target(&dname);
                let l = labels(name);
                let keep = l.len() - labels(&cur).len();
                let mut new_labels = l[..keep].to_vec();
                new_labels.extend(labels(&target));
                let new = from_labels(&new_labels);
                let mut rrs = dname.clone();
                rrs.push(Rr {
                    owner: name.to_vec(),
                    rtype: CNAME,
                    class: 1,
                    ttl: dname[0].ttl,
                    rdata: new.clone(),
                });
                // Asked for CNAME, the synthesized CNAME is the answer.
                if qtype == CNAME {
                    return Outcome::Answer(rrs, Vec::new());
                }
                return Outcome::Alias(rrs, Vec::new(), new);
            }
            if cur == self.origin {
                break;
            }
            cur = parent(&cur).unwrap_or_default();
        }
        // A wildcard at the closest encloser (RFC 4592).
        let ce = self.closest_existing(name);
        let wc = Self::wildcard_of(&ce);
        if self.records.iter().any(|r| r.owner == wc) {
            let rename = |set: Vec<Rr>| -> Vec<Rr> {
                set.into_iter()
                    .map(|mut r| {
                        r.owner = name.to_vec();
                        r
                    })
                    .collect()
            };
            let proof = self.denial_wildcard_answer(name, &ce);
            let set = self.rrset(&wc, qtype);
            if !set.is_empty() {
                return Outcome::Answer(rename(set), proof);
            }
            let cname = self.rrset(&wc, CNAME);
            if !cname.is_empty() {
                let target = cname_target(&cname);
                return Outcome::Alias(rename(cname), proof, target);
            }
            return Outcome::NoData(with_soa(self.denial_wildcard_nodata(name, &ce)));
        }
        Outcome::NxDomain(with_soa(self.denial_nxdomain(name)))
    }
}

fn name_len(wire: &[u8]) -> usize {
    let mut at = 0;
    while wire[at] != 0 {
        at += 1 + usize::from(wire[at]);
    }
    at + 1
}

fn cname_target(set: &[Rr]) -> Vec<u8> {
    let r = set.iter().find(|r| r.rtype != RRSIG).expect("a record");
    r.rdata[..name_len(&r.rdata)].to_ascii_lowercase()
}

enum Outcome {
    /// Answer records, and authority records (wildcard proofs).
    Answer(Vec<Rr>, Vec<Rr>),
    /// CNAME or DNAME (+ synthesized CNAME) records, authority records, the new name.
    Alias(Vec<Rr>, Vec<Rr>, Vec<u8>),
    NoData(Vec<Rr>),
    NxDomain(Vec<Rr>),
}

/// Every zone, answering as a CD=1 recursive resolver would.
pub struct Resolver {
    zones: Vec<Zone>,
    /// Queries answered.
    pub queries: AtomicUsize,
}

impl Resolver {
    /// Loads every zone of the set.
    pub fn load(set: &super::ZoneSet) -> Result<Resolver, String> {
        let mut zones = Vec::new();
        for z in &set.zones {
            let text = std::fs::read_to_string(&z.file).map_err(|e| format!("{e}"))?;
            let rrs = parse_zone(&text).map_err(|e| format!("{}: {e}", z.file.display()))?;
            zones.push(Zone::new(super::wire::name_wire(&z.origin)?, rrs));
        }
        Ok(Resolver {
            zones,
            queries: AtomicUsize::new(0),
        })
    }

    fn zone_for(&self, name: &[u8], qtype: u16) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| is_subdomain(name, &z.origin))
            // DS is answered by the parent side.
            .filter(|z| !(qtype == DS && z.origin == name && name != [0]))
            .max_by_key(|z| labels(&z.origin).len())
    }

    /// The full response message to `qname`/`qtype`.
    pub fn resolve(&self, qname: &[u8], qtype: u16) -> Vec<u8> {
        self.queries.fetch_add(1, AtomicOrdering::Relaxed);
        let qname = qname.to_ascii_lowercase();
        let mut answer = Vec::new();
        let mut authority = Vec::new();
        let mut rcode = 0u8;
        let mut name = qname.clone();
        for _ in 0..16 {
            let Some(zone) = self.zone_for(&name, qtype) else {
                rcode = 5;
                break;
            };
            match zone.lookup(&name, qtype) {
                Outcome::Answer(rrs, auth) => {
                    answer.extend(rrs);
                    authority.extend(auth);
                    break;
                }
                Outcome::Alias(rrs, auth, target) => {
                    answer.extend(rrs);
                    authority.extend(auth);
                    name = target;
                }
                Outcome::NoData(auth) => {
                    authority.extend(auth);
                    break;
                }
                Outcome::NxDomain(auth) => {
                    rcode = 3;
                    authority.extend(auth);
                    break;
                }
            }
        }
        dedup(&mut answer);
        dedup(&mut authority);
        encode(&qname, qtype, rcode, &answer, &authority)
    }

    /// The zone with this origin.
    pub fn zone(&self, origin: &[u8]) -> Option<&Zone> {
        self.zones.iter().find(|z| z.origin == origin)
    }

    /// The NSEC3 owner hash of a name in a zone, base32hex (for diagnostics).
    pub fn hash_text(&self, origin: &[u8], name: &[u8]) -> Option<String> {
        self.zone(origin)?.hash(name).map(|h| base32hex_encode(&h))
    }
}

fn dedup(rrs: &mut Vec<Rr>) {
    let mut seen: Vec<Rr> = Vec::new();
    rrs.retain(|r| {
        if seen.contains(r) {
            false
        } else {
            seen.push(r.clone());
            true
        }
    });
}

fn push_rr(out: &mut Vec<u8>, r: &Rr) {
    out.extend(&r.owner);
    out.extend(r.rtype.to_be_bytes());
    out.extend(r.class.to_be_bytes());
    out.extend(r.ttl.to_be_bytes());
    out.extend((r.rdata.len() as u16).to_be_bytes());
    out.extend(&r.rdata);
}

/// A response: QR RD RA CD, the question, the sections, no compression.
pub fn encode(qname: &[u8], qtype: u16, rcode: u8, answer: &[Rr], authority: &[Rr]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x81, 0x90 | rcode, 0, 1];
    out.extend((answer.len() as u16).to_be_bytes());
    out.extend((authority.len() as u16).to_be_bytes());
    out.extend([0, 0]);
    out.extend(qname);
    out.extend(qtype.to_be_bytes());
    out.extend([0, 1]);
    for r in answer.iter().chain(authority) {
        push_rr(&mut out, r);
    }
    out
}

/// Splits a response built by [`encode`] (or any uncompressed one) back into sections,
/// so tests can tamper with it and re-encode.
pub fn decode(msg: &[u8]) -> (Vec<u8>, u16, u8, Vec<Rr>, Vec<Rr>) {
    let count = |at: usize| usize::from(u16::from_be_bytes([msg[at], msg[at + 1]]));
    let (an, ns) = (count(6), count(8));
    let mut at = 12;
    let qlen = name_len(&msg[at..]);
    let qname = msg[at..at + qlen].to_vec();
    at += qlen;
    let qtype = u16::from_be_bytes([msg[at], msg[at + 1]]);
    at += 4;
    let mut read = |n: usize| {
        let mut v = Vec::new();
        for _ in 0..n {
            let olen = name_len(&msg[at..]);
            let owner = msg[at..at + olen].to_vec();
            at += olen;
            let rtype = u16::from_be_bytes([msg[at], msg[at + 1]]);
            let ttl = u32::from_be_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
            let len = usize::from(u16::from_be_bytes([msg[at + 8], msg[at + 9]]));
            let rdata = msg[at + 10..at + 10 + len].to_vec();
            at += 10 + len;
            v.push(Rr {
                owner,
                rtype,
                class: 1,
                ttl,
                rdata,
            });
        }
        v
    };
    let answer = read(an);
    let authority = read(ns);
    (qname, qtype, msg[3] & 0x0F, answer, authority)
}

impl strictdot::dnssec::Fetch for Resolver {
    fn fetch(&self, name: &[u8], qtype: u16) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let reply = self.resolve(name, qtype);
        std::future::ready(Some(reply))
    }
}
