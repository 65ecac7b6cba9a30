//! Authenticated denial of existence: NXDOMAIN, NODATA and wildcard proofs by NSEC
//! (RFC 4035 §5.4, RFC 6840 §4) and by NSEC3 (RFC 5155 §8), including opt-out.
//!
//! The functions here see only NSEC/NSEC3 records whose signatures the caller has already
//! verified with the zone's keys; they decide what those records prove. Every NSEC3 hash is
//! charged to the validation's budget before it is computed, and a zone whose NSEC3
//! iterations exceed the cap is insecure before any hashing (RFC 9276 §3.2).

use std::cmp::Ordering;

use ring::digest;

use super::budget::Work;
use super::canonical::Name;
use super::records::{base32hex_decode, types, Nsec, Nsec3};
use super::Bogus;

/// What is being denied.
#[derive(Clone, Copy, Debug)]
pub enum Claim<'a> {
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no RRset of this type (NODATA).
    NoData(u16),
    /// A positive answer was expanded from the wildcard below this closest encloser: no
    /// closer name may exist (RFC 4035 §5.3.4, RFC 5155 §8.8).
    Wildcard(&'a Name),
}

/// What a denial established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// The claim holds, securely. For NODATA of DS: the name is no delegation point.
    Proven,
    /// NODATA of DS at a delegation point: a proven unsigned delegation (RFC 4035 §5.2).
    InsecureDelegation,
    /// The claim cannot be proven secure, and that is legitimate: an NSEC3 opt-out span
    /// (RFC 5155 §6), too many NSEC3 iterations (RFC 9276), an unknown NSEC3 hash.
    Insecure,
}

/// Verified denial records of one zone.
#[derive(Clone, Debug, Default)]
pub struct Proofs {
    /// NSEC records: (owner, RDATA).
    pub nsecs: Vec<(Name, Nsec)>,
    /// NSEC3 records: (owner, RDATA).
    pub nsec3s: Vec<(Name, Nsec3)>,
}

/// Checks `claim` about `qname` against the verified records of `zone`. NSEC is used if
/// present, NSEC3 otherwise; with neither, the proof is missing.
pub fn prove(
    zone: &Name,
    proofs: &Proofs,
    qname: &Name,
    claim: Claim<'_>,
    work: &mut Work<'_>,
) -> Result<Denied, Bogus> {
    if !qname.is_subdomain_of(zone) {
        return Err(Bogus::NsecMissing);
    }
    if !proofs.nsecs.is_empty() {
        let set = NsecSet {
            zone,
            records: &proofs.nsecs,
        };
        return set.prove(qname, claim);
    }
    if proofs.nsec3s.is_empty() {
        return Err(Bogus::NsecMissing);
    }
    match Nsec3Set::new(zone, &proofs.nsec3s, work)? {
        Some(set) => set.prove(qname, claim, work),
        None => Ok(Denied::Insecure),
    }
}

/// The NSEC bitmap rules for a matching record (RFC 4035 §5.4, RFC 6840 §4.1-§4.3): the
/// type and CNAME are absent; for DS the record must come from the parent side, and for
/// anything else not from the parent side of a delegation.
fn nodata_at(
    zone: &Name,
    qname: &Name,
    has: impl Fn(u16) -> bool,
    qtype: u16,
) -> Result<Denied, Bogus> {
    if has(qtype) || has(types::CNAME) {
        return Err(Bogus::Other("denial shows the type exists"));
    }
    let delegation = has(types::NS) && !has(types::SOA);
    if qtype == types::DS {
        if qname == zone && !zone.is_root() {
            return Err(Bogus::Other("DS denied by the child zone"));
        }
        return Ok(if delegation {
            Denied::InsecureDelegation
        } else {
            Denied::Proven
        });
    }
    if delegation {
        return Err(Bogus::Other("denial from the parent side of a delegation"));
    }
    Ok(Denied::Proven)
}

struct NsecSet<'a> {
    zone: &'a Name,
    records: &'a [(Name, Nsec)],
}

impl NsecSet<'_> {
    /// Whether the NSEC at `owner` covers `name`: owner < name < next in canonical order,
    /// the last NSEC of the zone (next = apex) covering everything after its owner.
    fn covers(&self, owner: &Name, nsec: &Nsec, name: &Name) -> bool {
        if owner.canonical_cmp(name) != Ordering::Less {
            return false;
        }
        if owner.canonical_cmp(&nsec.next) == Ordering::Less {
            name.canonical_cmp(&nsec.next) == Ordering::Less
        } else {
            name.is_subdomain_of(self.zone)
        }
    }

    /// An NSEC at a delegation point (NS without SOA) or at a DNAME says nothing about
    /// the names below its owner (RFC 6840 §4.1).
    fn shadows(owner: &Name, nsec: &Nsec, name: &Name) -> bool {
        name.is_below(owner)
            && ((nsec.types.contains(types::NS) && !nsec.types.contains(types::SOA))
                || nsec.types.contains(types::DNAME))
    }

    /// A usable NSEC proving `name` does not exist.
    fn covering(&self, name: &Name) -> Option<&(Name, Nsec)> {
        self.records
            .iter()
            .find(|(o, n)| self.covers(o, n, name) && !Self::shadows(o, n, name))
    }

    /// The closest encloser a covering NSEC implies (RFC 4035 §5.4): the longer of the
    /// names `name` shares with the owner and with the next name.
    fn encloser(owner: &Name, nsec: &Nsec, name: &Name) -> Name {
        let a = name.common_ancestor(owner);
        let b = name.common_ancestor(&nsec.next);
        if a.label_count() >= b.label_count() {
            a
        } else {
            b
        }
    }

    fn prove(&self, qname: &Name, claim: Claim<'_>) -> Result<Denied, Bogus> {
        match claim {
            Claim::NxDomain => {
                let (owner, nsec) = self.covering(qname).ok_or(Bogus::NsecMissing)?;
                let ce = Self::encloser(owner, nsec, qname);
                // No wildcard at the closest encloser could have answered instead.
                if let Some(wildcard) = ce.wildcard() {
                    self.covering(&wildcard).ok_or(Bogus::NsecMissing)?;
                }
                Ok(Denied::Proven)
            }
            Claim::NoData(qtype) => {
                if let Some((_, nsec)) = self.records.iter().find(|(o, _)| o == qname) {
                    return nodata_at(self.zone, qname, |t| nsec.types.contains(t), qtype);
                }
                // An empty non-terminal: covered, with a next name below it.
                if self
                    .records
                    .iter()
                    .any(|(o, n)| self.covers(o, n, qname) && n.next.is_below(qname))
                {
                    return Ok(Denied::Proven);
                }
                // Wildcard NODATA (RFC 4035 §3.1.3.4): the name is covered and the
                // wildcard at its closest encloser lacks the type.
                if let Some((owner, nsec)) = self.covering(qname) {
                    let ce = Self::encloser(owner, nsec, qname);
                    if let Some(wildcard) = ce.wildcard() {
                        if let Some((_, w)) = self.records.iter().find(|(o, _)| *o == wildcard) {
                            return nodata_at(self.zone, &wildcard, |t| w.types.contains(t), qtype);
                        }
                    }
                }
                Err(Bogus::NsecMissing)
            }
            Claim::Wildcard(ce) => {
                // The expanded name is covered, and nothing closer than the wildcard's
                // parent exists: the covering NSEC's encloser is that parent.
                let proven = self.records.iter().any(|(o, n)| {
                    self.covers(o, n, qname)
                        && !Self::shadows(o, n, qname)
                        && Self::encloser(o, n, qname) == *ce
                });
                if proven {
                    Ok(Denied::Proven)
                } else {
                    Err(Bogus::NsecMissing)
                }
            }
        }
    }
}

/// The NSEC3 hash of a name (RFC 5155 §5): SHA-1 over name | salt, then `iterations`
/// more times over digest | salt. Not charged to any budget: callers do that first.
pub fn nsec3_hash(name: &Name, salt: &[u8], iterations: u16) -> [u8; 20] {
    let once = |parts: &[&[u8]]| {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        for part in parts {
            ctx.update(part);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    };
    let mut h = once(&[name.as_wire(), salt]);
    for _ in 0..iterations {
        h = once(&[&h, salt]);
    }
    h
}

/// One usable NSEC3 record: its owner hash decoded.
struct Nsec3Entry<'a> {
    hash: Vec<u8>,
    rec: &'a Nsec3,
}

/// A closest encloser proof (RFC 5155 §8.3).
struct EncloserProof {
    ce: Name,
    opt_out: bool,
}

struct Nsec3Set<'a> {
    zone: &'a Name,
    entries: Vec<Nsec3Entry<'a>>,
    salt: &'a [u8],
    iterations: u16,
    /// Hashes already computed in this proof.
    memo: Vec<(Name, [u8; 20])>,
}

impl<'a> Nsec3Set<'a> {
    /// Keeps the records that can be used: SHA-1, flags 0 or 1 (RFC 5155 §8.2), owner one
    /// label below the zone, the same parameters as the first such record. `Ok(None)` when
    /// the records cannot give a secure answer and the zone may legitimately be so: only
    /// unknown hash algorithms (treated like an unknown signing algorithm, RFC 5155 §8.1
    /// and RFC 4035 §5.2), or iterations above the cap (RFC 9276 §3.2), decided before
    /// any hashing. No usable record at all is a missing proof.
    fn new(
        zone: &'a Name,
        records: &'a [(Name, Nsec3)],
        work: &Work<'_>,
    ) -> Result<Option<Self>, Bogus> {
        let mut entries: Vec<Nsec3Entry<'a>> = Vec::new();
        let mut params: Option<(&[u8], u16)> = None;
        let mut unknown_hash = false;
        for (owner, rec) in records {
            if rec.hash_algorithm != 1 {
                unknown_hash = true;
                continue;
            }
            if rec.flags & !Nsec3::OPT_OUT != 0 {
                continue;
            }
            if owner.parent().as_ref() != Some(zone) || rec.next_hashed.len() != 20 {
                continue;
            }
            let Some(hash) = owner
                .labels()
                .next()
                .and_then(base32hex_decode)
                .filter(|h| h.len() == 20)
            else {
                continue;
            };
            let (salt, iterations) = *params.get_or_insert((&rec.salt, rec.iterations));
            if rec.salt != salt || rec.iterations != iterations {
                continue;
            }
            entries.push(Nsec3Entry { hash, rec });
        }
        let Some((salt, iterations)) = params else {
            return if unknown_hash {
                Ok(None)
            } else {
                Err(Bogus::NsecMissing)
            };
        };
        if iterations > work.settings.max_nsec3_iterations {
            return Ok(None);
        }
        Ok(Some(Nsec3Set {
            zone,
            entries,
            salt,
            iterations,
            memo: Vec::new(),
        }))
    }

    fn hash(&mut self, name: &Name, work: &mut Work<'_>) -> Result<[u8; 20], Bogus> {
        if let Some((_, h)) = self.memo.iter().find(|(n, _)| n == name) {
            return Ok(*h);
        }
        work.hashes(u32::from(self.iterations) + 1)?;
        let h = nsec3_hash(name, self.salt, self.iterations);
        self.memo.push((name.clone(), h));
        Ok(h)
    }

    fn matching(&self, h: &[u8; 20]) -> Option<&'a Nsec3> {
        self.entries
            .iter()
            .find(|e| e.hash.as_slice() == h.as_slice())
            .map(|e| e.rec)
    }

    /// The record whose span strictly contains `h` (the last one wrapping around).
    fn covering(&self, h: &[u8; 20]) -> Option<&'a Nsec3> {
        let h = h.as_slice();
        self.entries
            .iter()
            .find(|e| {
                let owner = e.hash.as_slice();
                let next = e.rec.next_hashed.as_slice();
                if owner < next {
                    owner < h && h < next
                } else {
                    owner < h || h < next
                }
            })
            .map(|e| e.rec)
    }

    /// Closest encloser proof for a name that does not exist (RFC 5155 §8.3): walking up,
    /// the first ancestor whose hash matches is the closest encloser, and the hash of the
    /// next closer name (its child toward `qname`) must be covered.
    fn closest_encloser(
        &mut self,
        qname: &Name,
        work: &mut Work<'_>,
    ) -> Result<EncloserProof, Bogus> {
        let mut child: Option<[u8; 20]> = None;
        let mut cur = qname.clone();
        loop {
            let h = self.hash(&cur, work)?;
            if let Some(m) = self.matching(&h) {
                let Some(next_closer) = child else {
                    return Err(Bogus::Other("denial shows the name exists"));
                };
                if (m.types.contains(types::NS) && !m.types.contains(types::SOA))
                    || m.types.contains(types::DNAME)
                {
                    return Err(Bogus::Other("closest encloser is a delegation or DNAME"));
                }
                let cover = self.covering(&next_closer).ok_or(Bogus::NsecMissing)?;
                return Ok(EncloserProof {
                    ce: cur,
                    opt_out: cover.opt_out(),
                });
            }
            if &cur == self.zone {
                return Err(Bogus::NsecMissing);
            }
            child = Some(h);
            cur = cur.parent().ok_or(Bogus::NsecMissing)?;
        }
    }

    fn prove(
        mut self,
        qname: &Name,
        claim: Claim<'_>,
        work: &mut Work<'_>,
    ) -> Result<Denied, Bogus> {
        match claim {
            Claim::NxDomain => {
                // RFC 5155 §8.4.
                let proof = self.closest_encloser(qname, work)?;
                if let Some(wildcard) = proof.ce.wildcard() {
                    let h = self.hash(&wildcard, work)?;
                    self.covering(&h).ok_or(Bogus::NsecMissing)?;
                }
                // An opt-out span may hide an unsigned delegation: not provable.
                Ok(if proof.opt_out {
                    Denied::Insecure
                } else {
                    Denied::Proven
                })
            }
            Claim::NoData(qtype) => {
                // RFC 5155 §8.5 and §8.6.
                let h = self.hash(qname, work)?;
                if let Some(m) = self.matching(&h) {
                    return nodata_at(self.zone, qname, |t| m.types.contains(t), qtype);
                }
                let proof = self.closest_encloser(qname, work)?;
                if qtype == types::DS && proof.opt_out {
                    return Ok(Denied::Insecure);
                }
                // Wildcard NODATA (§8.7).
                if let Some(wildcard) = proof.ce.wildcard() {
                    let hw = self.hash(&wildcard, work)?;
                    if let Some(w) = self.matching(&hw) {
                        return nodata_at(self.zone, &wildcard, |t| w.types.contains(t), qtype);
                    }
                }
                // An empty non-terminal left out under opt-out.
                if proof.opt_out {
                    return Ok(Denied::Insecure);
                }
                Err(Bogus::NsecMissing)
            }
            Claim::Wildcard(ce) => {
                // RFC 5155 §8.8: the next closer name is covered.
                let next_closer = qname
                    .child_toward(ce)
                    .ok_or(Bogus::Other("bad wildcard expansion"))?;
                let h = self.hash(&next_closer, work)?;
                self.covering(&h).ok_or(Bogus::NsecMissing)?;
                Ok(Denied::Proven)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::records::TypeBitmap;
    use crate::dnssec::Settings;

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    fn bitmap(list: &[u16]) -> TypeBitmap {
        let mut windows: Vec<(u8, Vec<u8>)> = Vec::new();
        let mut sorted = list.to_vec();
        sorted.sort();
        for t in sorted {
            let [w, low] = t.to_be_bytes();
            if windows.last().map(|(lw, _)| *lw) != Some(w) {
                windows.push((w, Vec::new()));
            }
            let bits = &mut windows.last_mut().unwrap().1;
            let byte = usize::from(low / 8);
            if bits.len() <= byte {
                bits.resize(byte + 1, 0);
            }
            bits[byte] |= 0x80 >> (low % 8);
        }
        let mut out = Vec::new();
        for (w, bits) in windows {
            out.push(w);
            out.push(bits.len() as u8);
            out.extend(bits);
        }
        TypeBitmap::parse(&out).unwrap()
    }

    const A: u16 = 1;
    const NS: u16 = 2;
    const SOA: u16 = 6;
    const MX: u16 = 15;
    const AAAA: u16 = 28;
    const DS: u16 = 43;
    const RRSIG: u16 = 46;
    const NSEC: u16 = 47;

    /// An NSEC chain: example. a. ai. b.(delegation, no DS) ns1. w.(ENT) *.w. x.w. xx.
    fn nsec_zone() -> Proofs {
        let chain: &[(&str, &str, &[u16])] = &[
            ("example.", "a.example.", &[NS, SOA, RRSIG, NSEC]),
            ("a.example.", "ai.example.", &[A, RRSIG, NSEC]),
            ("ai.example.", "b.example.", &[A, RRSIG, NSEC]),
            ("b.example.", "ns1.example.", &[NS, RRSIG, NSEC]),
            ("ns1.example.", "*.w.example.", &[A, RRSIG, NSEC]),
            ("*.w.example.", "x.w.example.", &[MX, RRSIG, NSEC]),
            ("x.w.example.", "xx.example.", &[MX, RRSIG, NSEC]),
            ("xx.example.", "example.", &[A, RRSIG, NSEC]),
        ];
        Proofs {
            nsecs: chain
                .iter()
                .map(|(o, next, t)| {
                    (
                        n(o),
                        Nsec {
                            next: n(next),
                            types: bitmap(t),
                        },
                    )
                })
                .collect(),
            nsec3s: Vec::new(),
        }
    }

    fn check(p: &Proofs, qname: &str, claim: Claim<'_>) -> Result<Denied, Bogus> {
        let settings = Settings::default();
        let mut work = Work::new(&settings, 0);
        prove(&n("example."), p, &n(qname), claim, &mut work)
    }

    fn only(p: &Proofs, owners: &[&str]) -> Proofs {
        Proofs {
            nsecs: p
                .nsecs
                .iter()
                .filter(|(o, _)| owners.iter().any(|w| n(w) == *o))
                .cloned()
                .collect(),
            nsec3s: p
                .nsec3s
                .iter()
                .filter(|(o, _)| owners.iter().any(|w| n(w) == *o))
                .cloned()
                .collect(),
        }
    }

    #[test]
    fn nsec_nxdomain() {
        let z = nsec_zone();
        assert_eq!(check(&z, "c.example.", Claim::NxDomain), Ok(Denied::Proven));
        // The covering NSEC alone does not exclude the wildcard *.example.
        assert_eq!(
            check(&only(&z, &["b.example."]), "c.example.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
        assert_eq!(
            check(
                &only(&z, &["b.example.", "example."]),
                "c.example.",
                Claim::NxDomain
            ),
            Ok(Denied::Proven)
        );
        // Below a delegation the parent's NSEC proves nothing (RFC 6840 §4.1).
        assert_eq!(
            check(&z, "foo.b.example.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
        // A name with a wildcard at its closest encloser is not NXDOMAIN.
        assert_eq!(
            check(&z, "q.w.example.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
        // An existing name is never covered; names past the last NSEC wrap to the apex.
        assert_eq!(
            check(&z, "a.example.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
        assert_eq!(
            check(&z, "zz.example.", Claim::NxDomain),
            Ok(Denied::Proven)
        );
        // Out of zone.
        assert_eq!(
            check(&z, "c.example.net.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
    }

    #[test]
    fn nsec_nodata() {
        let z = nsec_zone();
        let shows = Err(Bogus::Other("denial shows the type exists"));
        for (qname, qtype, want) in [
            ("a.example.", MX, Ok(Denied::Proven)),
            ("a.example.", A, shows),
            // Empty non-terminal w.example.: covered by ns1 -> *.w, next below it.
            ("w.example.", A, Ok(Denied::Proven)),
            // Delegation without DS: DS denied means an insecure delegation; other types
            // are the child's business.
            ("b.example.", DS, Ok(Denied::InsecureDelegation)),
            (
                "b.example.",
                A,
                Err(Bogus::Other("denial from the parent side of a delegation")),
            ),
            // A name that is not a delegation: no DS, no cut.
            ("ns1.example.", DS, Ok(Denied::Proven)),
            // DS at the apex denied by the zone itself: wrong side.
            (
                "example.",
                DS,
                Err(Bogus::Other("DS denied by the child zone")),
            ),
            // Wildcard NODATA: z.w.example. does not exist, *.w.example. has no A.
            ("z.w.example.", A, Ok(Denied::Proven)),
            ("z.w.example.", MX, shows),
        ] {
            assert_eq!(
                check(&z, qname, Claim::NoData(qtype)),
                want,
                "{qname} type {qtype}"
            );
        }
        assert_eq!(
            check(
                &only(&z, &["x.w.example."]),
                "z.w.example.",
                Claim::NoData(A)
            ),
            Err(Bogus::NsecMissing)
        );
        assert_eq!(
            check(&Proofs::default(), "a.example.", Claim::NoData(MX)),
            Err(Bogus::NsecMissing)
        );
    }

    #[test]
    fn nsec_wildcard_answer() {
        let z = nsec_zone();
        let ce = n("w.example.");
        assert_eq!(
            check(&z, "z.w.example.", Claim::Wildcard(&ce)),
            Ok(Denied::Proven)
        );
        // A closer encloser than the one claimed exists: x.w.example. below w.
        assert_eq!(
            check(&z, "q.x.w.example.", Claim::Wildcard(&ce)),
            Err(Bogus::NsecMissing)
        );
        let wrong = n("example.");
        assert_eq!(
            check(&z, "z.w.example.", Claim::Wildcard(&wrong)),
            Err(Bogus::NsecMissing)
        );
    }

    /// RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
    #[test]
    fn nsec3_hashes_match_rfc_5155_appendix_a() {
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        for (name, hash) in [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
            ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
            ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
            ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
            ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
            ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
            ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
        ] {
            assert_eq!(
                crate::dnssec::records::base32hex_encode(&nsec3_hash(&n(name), &salt, 12)),
                hash,
                "{name}"
            );
        }
    }

    /// The RFC 5155 Appendix A names as ldns-signzone chains them (no delegation at a.).
    fn nsec3_zone(flags: u8) -> Proofs {
        let chain: &[(&str, &str, &[u16])] = &[
            (
                "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
                "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
                &[NS, SOA, RRSIG, 48, 51],
            ),
            (
                "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
                "2vptu5timamqttgl4luu9kg21e0aor3s",
                &[A, RRSIG],
            ),
            (
                "2vptu5timamqttgl4luu9kg21e0aor3s",
                "35mthgpgcu1qg68fab165klnsnk3dpvl",
                &[MX, RRSIG],
            ),
            (
                "35mthgpgcu1qg68fab165klnsnk3dpvl",
                "b4um86eghhds6nea196smvmlo4ors995",
                &[NS, DS, RRSIG],
            ),
            (
                "b4um86eghhds6nea196smvmlo4ors995",
                "gjeqe526plbf1g8mklp59enfd789njgi",
                &[MX, RRSIG],
            ),
            (
                "gjeqe526plbf1g8mklp59enfd789njgi",
                "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
                &[A, RRSIG],
            ),
            (
                "ji6neoaepv8b5o6k4ev33abha8ht9fgc",
                "k8udemvp1j2f7eg6jebps17vp3n8i58h",
                &[],
            ),
            (
                "k8udemvp1j2f7eg6jebps17vp3n8i58h",
                "q04jkcevqvmu85r014c7dkba38o0ji5r",
                &[],
            ),
            (
                "q04jkcevqvmu85r014c7dkba38o0ji5r",
                "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
                &[A, RRSIG],
            ),
            (
                "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
                "t644ebqk9bibcna874givr6joj62mlhv",
                &[MX, RRSIG],
            ),
            (
                "t644ebqk9bibcna874givr6joj62mlhv",
                "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
                &[A, RRSIG],
            ),
        ];
        Proofs {
            nsecs: Vec::new(),
            nsec3s: chain
                .iter()
                .map(|(owner, next, t)| {
                    (
                        n(&format!("{owner}.example.")),
                        Nsec3 {
                            hash_algorithm: 1,
                            flags,
                            iterations: 12,
                            salt: vec![0xaa, 0xbb, 0xcc, 0xdd],
                            next_hashed: base32hex_decode(next.as_bytes()).unwrap(),
                            types: bitmap(t),
                        },
                    )
                })
                .collect(),
        }
    }

    fn owner(hash: &str) -> String {
        format!("{hash}.example.")
    }

    #[test]
    fn nsec3_nxdomain_nodata_and_wildcards() {
        let z = nsec3_zone(0);
        // B.1: a.c.x.w.example. does not exist; closest encloser x.w.example.
        assert_eq!(
            check(&z, "a.c.x.w.example.", Claim::NxDomain),
            Ok(Denied::Proven)
        );
        // An existing name cannot be NXDOMAIN.
        assert_eq!(
            check(&z, "ns1.example.", Claim::NxDomain),
            Err(Bogus::Other("denial shows the name exists"))
        );
        // B.2: NODATA at ns1.example. for MX; B.2.1: the empty non-terminal y.w.example.
        assert_eq!(
            check(&z, "ns1.example.", Claim::NoData(MX)),
            Ok(Denied::Proven)
        );
        assert_eq!(
            check(&z, "y.w.example.", Claim::NoData(A)),
            Ok(Denied::Proven)
        );
        assert_eq!(
            check(&z, "ns1.example.", Claim::NoData(A)),
            Err(Bogus::Other("denial shows the type exists"))
        );
        // B.4: a wildcard expansion from *.w.example.
        let w = n("w.example.");
        assert_eq!(
            check(&z, "a.z.w.example.", Claim::Wildcard(&w)),
            Ok(Denied::Proven)
        );
        // B.5: wildcard NODATA.
        assert_eq!(
            check(&z, "a.z.w.example.", Claim::NoData(AAAA)),
            Ok(Denied::Proven)
        );
        // a.example. is a delegation with DS: names below it belong to the child.
        assert_eq!(
            check(&z, "b.a.example.", Claim::NxDomain),
            Err(Bogus::Other("closest encloser is a delegation or DNAME"))
        );
        // Proofs missing their parts.
        let ce_only = only(&z, &[&owner("b4um86eghhds6nea196smvmlo4ors995")]);
        assert_eq!(
            check(&ce_only, "a.c.x.w.example.", Claim::NxDomain),
            Err(Bogus::NsecMissing)
        );
        assert_eq!(
            check(&only(&z, &[]), "ns1.example.", Claim::NoData(MX)),
            Err(Bogus::NsecMissing)
        );
    }

    #[test]
    fn nsec3_opt_out_is_insecure() {
        let z = nsec3_zone(Nsec3::OPT_OUT);
        // B.3: c.example. may be an unsigned delegation in an opt-out span.
        assert_eq!(
            check(&z, "c.example.", Claim::NoData(DS)),
            Ok(Denied::Insecure)
        );
        assert_eq!(
            check(&z, "c.example.", Claim::NxDomain),
            Ok(Denied::Insecure)
        );
        // Without opt-out the same DS query has no proof.
        assert_eq!(
            check(&nsec3_zone(0), "c.example.", Claim::NoData(DS)),
            Err(Bogus::NsecMissing)
        );
        // A matching record still proves a delegation has no DS.
        assert_eq!(
            check(&z, "a.example.", Claim::NoData(DS)),
            Err(Bogus::Other("denial shows the type exists"))
        );
        assert_eq!(
            check(&z, "ns1.example.", Claim::NoData(DS)),
            Ok(Denied::Proven)
        );
    }

    #[test]
    fn nsec3_iteration_cap_and_hash_budget() {
        let z = nsec3_zone(0);
        let capped = Settings {
            max_nsec3_iterations: 11,
            ..Settings::default()
        };
        let mut work = Work::new(&capped, 0);
        assert_eq!(
            prove(
                &n("example."),
                &z,
                &n("a.c.x.w.example."),
                Claim::NxDomain,
                &mut work
            ),
            Ok(Denied::Insecure)
        );
        assert_eq!(work.hashes_used(), 0, "no hashing above the cap");
        // B.1 needs 4 hashes of 13 rounds each.
        let settings = Settings::default();
        let mut work = Work::new(&settings, 0);
        prove(
            &n("example."),
            &z,
            &n("a.c.x.w.example."),
            Claim::NxDomain,
            &mut work,
        )
        .unwrap();
        assert_eq!(work.hashes_used(), 4 * 13);
        let tight = Settings {
            max_hash_ops: 4 * 13 - 1,
            ..Settings::default()
        };
        assert_eq!(
            prove(
                &n("example."),
                &z,
                &n("a.c.x.w.example."),
                Claim::NxDomain,
                &mut Work::new(&tight, 0)
            ),
            Err(crate::dnssec::budget::EXHAUSTED)
        );
        // Unknown hash algorithm only: insecure.
        let mut unknown = nsec3_zone(0);
        for (_, r) in &mut unknown.nsec3s {
            r.hash_algorithm = 2;
        }
        assert_eq!(
            check(&unknown, "c.example.", Claim::NxDomain),
            Ok(Denied::Insecure)
        );
    }
}
