//! The validator: the answer judged from the question down: CNAME and DNAME links across
//! zones, each RRset's signatures, wildcard expansions and their proofs, NXDOMAIN and
//! NODATA (RFC 4035 §5.3-§5.4), each zone's keys from the chain ([`super::chain`]).

use std::sync::{Arc, Mutex};

use super::anchors::{NegativeAnchors, TrustAnchors};
use super::budget::Work;
use super::cache::ChainCache;
use super::canonical::Name;
use super::chain::{Fail, Run, Step, Zone};
use super::denial::{prove, Claim, Denied};
use super::records::{types, Dnskey, Message, Rrset, Rrsig, CLASS_IN, NOERROR, NXDOMAIN};
use super::verified::Verified;
use super::verify::verify_rrset;
use super::{Bogus, Fetch, Settings, Verdict};
use crate::dns::reader::Reader;

/// A DNSSEC validator: trust anchors, negative trust anchors, settings, and the chain
/// cache shared by every validation.
pub struct Validator {
    /// Where trust starts.
    anchors: TrustAnchors,
    /// Where it is switched off (RFC 7646).
    negative: NegativeAnchors,
    /// Caps, skew, cache size.
    settings: Settings,
    /// The chain cache, shared by every validation; held only to copy out or insert,
    /// never across an await.
    cache: Mutex<ChainCache>,
    /// Signatures ring accepted, shared by every validation; bounded, locked per set.
    verified: Verified,
}

/// A verdict with the work it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Signature checks done (those the memo answered included).
    pub signatures: u32,
    /// Signature checks the memo of verified signatures answered without ring.
    pub memo_hits: u32,
    /// Hash computations done.
    pub hashes: u32,
    /// Chain queries made (DS, DNSKEY).
    pub fetches: u32,
}

/// Whether a part of the answer is secure or legitimately insecure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    Secure,
    Insecure,
}

/// Who signed a part of the answer, as far as the chain can tell.
enum Signer {
    /// A secure zone, with its validated keys.
    Zone { apex: Name, keys: Arc<Vec<Dnskey>> },
    /// No signer, or one in an insecure zone: the part's security, settled unsigned.
    None(Security),
}

impl Security {
    fn and(self, other: Security) -> Security {
        if self == Security::Secure && other == Security::Secure {
            Security::Secure
        } else {
            Security::Insecure
        }
    }
}

impl Validator {
    /// A validator with an empty cache.
    pub fn new(anchors: TrustAnchors, negative: NegativeAnchors, settings: Settings) -> Validator {
        let capacity = settings.cache_capacity;
        let verified = Verified::new(settings.verified_capacity);
        Validator {
            anchors,
            negative,
            settings,
            cache: Mutex::new(ChainCache::new(capacity)),
            verified,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Entries in the memo of verified signatures.
    pub fn verified_len(&self) -> usize {
        self.verified.len()
    }

    /// Entries in the chain cache.
    pub fn cache_len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Validates `answer`, the upstream's response (asked with DO=1 and CD=1) to `qname`
    /// (wire form) and `qtype`, at Unix time `now`, fetching DS and DNSKEY records through
    /// `fetch` as needed.
    ///
    /// Only the chain from the question to the answer is judged: the CNAME/DNAME links
    /// and the final RRset (or its denial). Other records in the answer section, and the
    /// authority and additional sections apart from the NSEC/NSEC3 proofs, are not
    /// validated. Queries of type RRSIG, ANY and the meta types, classes other than IN,
    /// and names under a negative trust anchor are insecure. An upstream error (an RCODE
    /// other than NOERROR or NXDOMAIN) is indeterminate.
    pub async fn validate<F: Fetch>(
        &self,
        fetch: &F,
        qname: &[u8],
        qtype: u16,
        answer: &[u8],
        now: u32,
    ) -> Verdict {
        self.validate_report(fetch, qname, qtype, answer, now)
            .await
            .verdict
    }

    /// [`Validator::validate`], also reporting the work done.
    pub async fn validate_report<F: Fetch>(
        &self,
        fetch: &F,
        qname: &[u8],
        qtype: u16,
        answer: &[u8],
        now: u32,
    ) -> Report {
        let mut run = Run {
            anchors: &self.anchors,
            negative: &self.negative,
            cache: &self.cache,
            fetch,
            work: Work::new(&self.settings, now).with_memo(&self.verified),
        };
        let verdict = run.validate(qname, qtype, answer).await;
        Report {
            verdict,
            signatures: run.work.signatures_used(),
            memo_hits: run.work.memo_hits(),
            hashes: run.work.hashes_used(),
            fetches: run.work.fetches_used(),
        }
    }
}

/// The target name of a CNAME or DNAME RRset: exactly one record, one name.
fn link_target(set: &Rrset) -> Result<Name, Bogus> {
    let [rdata] = set.rdatas.as_slice() else {
        return Err(Bogus::Other(
            "CNAME or DNAME RRset with more than one record",
        ));
    };
    let mut r = Reader::new(rdata);
    let name = Name::read(&mut r, false).map_err(|_| Bogus::Other("malformed CNAME or DNAME"))?;
    r.finish()
        .map_err(|_| Bogus::Other("malformed CNAME or DNAME"))?;
    Ok(name)
}

/// The deepest zone at or above `name` that one of `sigs` names as its signer.
fn deepest_signer<'a>(sigs: impl Iterator<Item = &'a Rrsig>, name: &Name) -> Option<Name> {
    sigs.map(|s| &s.signer)
        .filter(|s| name.is_subdomain_of(s))
        .max_by_key(|s| s.label_count())
        .cloned()
}

/// Whether a query type names no single RRset that can be validated.
fn unvalidatable(qtype: u16) -> bool {
    qtype == types::RRSIG || qtype == crate::dns::TYPE_OPT || (128..=255).contains(&qtype)
}

impl<F: Fetch> Run<'_, F> {
    async fn validate(&mut self, qname: &[u8], qtype: u16, answer: &[u8]) -> Verdict {
        let Ok(qname) = Name::from_wire(qname) else {
            return Verdict::Bogus(Bogus::Other("malformed question"));
        };
        if self.negative.covers(&qname) || unvalidatable(qtype) {
            return Verdict::Insecure;
        }
        let Ok(msg) = Message::parse(answer) else {
            return Verdict::Bogus(Bogus::Other("malformed answer"));
        };
        if msg.qclass != CLASS_IN {
            return Verdict::Insecure;
        }
        if msg.qname != qname || msg.qtype != qtype {
            return Verdict::Bogus(Bogus::Other("answer does not match the question"));
        }
        if msg.rcode != NOERROR && msg.rcode != NXDOMAIN {
            return Verdict::Indeterminate;
        }
        match self.answer(&msg, qname, qtype).await {
            Ok(Security::Secure) => Verdict::Secure,
            Ok(Security::Insecure) => Verdict::Insecure,
            Err(Fail::Bogus(b)) => Verdict::Bogus(b),
            Err(Fail::Indeterminate) => Verdict::Indeterminate,
        }
    }

    /// Follows the question through CNAME and DNAME links to its answer or its denial.
    async fn answer(&mut self, msg: &Message, qname: Name, qtype: u16) -> Step<Security> {
        let mut security = Security::Secure;
        let mut name = qname;
        for _ in 0..=self.work.settings.max_chain {
            // A DNAME above the name redirects it (RFC 6672 §3.2): nothing below a DNAME
            // owner has data of its own, so it comes first. The CNAME the server
            // synthesized is unsigned and must agree; asked for CNAME, it is the answer.
            let dname = msg
                .answer
                .iter()
                .filter(|s| s.rtype == types::DNAME && name.is_below(&s.owner))
                .max_by_key(|s| s.owner.label_count());
            if let Some(dname) = dname {
                security = security.and(self.positive(msg, dname).await?);
                let target = link_target(dname)?;
                let next = name
                    .substitute(&dname.owner, &target)
                    .ok_or(Bogus::Other("DNAME substitution too long"))?;
                if let Some(cname) = msg.answer_rrset(&name, types::CNAME) {
                    if link_target(cname)? != next {
                        return Err(Bogus::Other("CNAME does not match the DNAME").into());
                    }
                    if qtype == types::CNAME {
                        return Ok(security);
                    }
                }
                name = next;
                continue;
            }
            if let Some(set) = msg.answer_rrset(&name, qtype) {
                if msg.rcode != NOERROR {
                    return Err(Bogus::Other("NXDOMAIN with an answer").into());
                }
                return Ok(security.and(self.positive(msg, set).await?));
            }
            if let Some(cname) = msg.answer_rrset(&name, types::CNAME) {
                security = security.and(self.positive(msg, cname).await?);
                name = link_target(cname)?;
                continue;
            }
            return Ok(security.and(self.negative(msg, &name, qtype).await?));
        }
        Err(Bogus::Other("CNAME or DNAME chain too long").into())
    }

    /// Validates one RRset of the answer section, and the proof for a wildcard expansion.
    async fn positive(&mut self, msg: &Message, set: &Rrset) -> Step<Security> {
        // Where the RRset is authoritative: its owner's zone, or the parent's for DS.
        let home = if set.rtype == types::DS {
            set.owner.parent().unwrap_or_else(Name::root)
        } else {
            set.owner.clone()
        };
        // The deepest plausible signer: a stray RRSIG naming a zone higher up does not
        // hide the real one.
        let signer = deepest_signer(set.sigs.iter(), &home);
        let (apex, keys) = match self.signed_by(signer, &home, Bogus::RrsigsMissing).await? {
            Signer::Zone { apex, keys } => (apex, keys),
            Signer::None(security) => return Ok(security),
        };
        let checked = verify_rrset(set, &apex, &keys, &mut self.work)?;
        let Some(source) = checked.expanded_from else {
            return Ok(Security::Secure);
        };
        if set.rtype == types::DNAME {
            return Err(Bogus::Other("DNAME from a wildcard").into());
        }
        // RFC 4035 §5.3.4: a wildcard answer needs the proof that no closer name exists.
        let proofs = self.proofs(msg, &apex, &keys)?;
        match prove(
            &apex,
            &proofs,
            &set.owner,
            Claim::Wildcard(&source),
            &mut self.work,
        )? {
            Denied::Proven => Ok(Security::Secure),
            Denied::Insecure | Denied::InsecureDelegation => Ok(Security::Insecure),
        }
    }

    /// Validates the denial of `name`/`qtype` carried in the authority section.
    async fn negative(&mut self, msg: &Message, name: &Name, qtype: u16) -> Step<Security> {
        let claim = if msg.rcode == NXDOMAIN {
            Claim::NxDomain
        } else {
            Claim::NoData(qtype)
        };
        let home = if qtype == types::DS && msg.rcode == NOERROR {
            name.parent().unwrap_or_else(Name::root)
        } else {
            name.clone()
        };
        // The deepest zone above the name that signed a proof (a CNAME chain can leave
        // wildcard proofs of zones higher up in the same section).
        let proofs = msg
            .authority
            .iter()
            .filter(|s| s.rtype == types::NSEC || s.rtype == types::NSEC3);
        let signer = deepest_signer(proofs.flat_map(|s| s.sigs.iter()), name);
        let (apex, keys) = match self.signed_by(signer, &home, Bogus::NsecMissing).await? {
            Signer::Zone { apex, keys } => (apex, keys),
            Signer::None(security) => return Ok(security),
        };
        let proofs = self.proofs(msg, &apex, &keys)?;
        match prove(&apex, &proofs, name, claim, &mut self.work)? {
            Denied::Proven | Denied::InsecureDelegation => Ok(Security::Secure),
            Denied::Insecure => Ok(Security::Insecure),
        }
    }

    /// The secure zone whose keys are to check data at `home` claimed signed by `signer`
    /// (the deepest plausible one); or, with no signer or an insecure one, the verdict on
    /// the data as unsigned (`missing` if its zone is secure after all).
    async fn signed_by(
        &mut self,
        signer: Option<Name>,
        home: &Name,
        missing: Bogus,
    ) -> Step<Signer> {
        let Some(signer) = signer else {
            return Ok(Signer::None(self.unsigned(home, missing).await?));
        };
        Ok(match self.zone_of(&signer, true).await? {
            Zone::Secure { apex, keys } => Signer::Zone { apex, keys },
            Zone::Insecure => Signer::None(self.insecure_signer(&signer, home, missing).await?),
        })
    }

    /// Data without signatures (or a denial without proof) is acceptable only where the
    /// chain proves the zone insecure.
    async fn unsigned(&mut self, home: &Name, missing: Bogus) -> Step<Security> {
        match self.zone_of(home, false).await? {
            Zone::Insecure => Ok(Security::Insecure),
            Zone::Secure { .. } => Err(missing.into()),
        }
    }

    /// The signer's zone is insecure. Unless a deeper trust anchor covers the data (an
    /// island of security the signer tries to step around), so is the data.
    async fn insecure_signer(
        &mut self,
        signer: &Name,
        home: &Name,
        missing: Bogus,
    ) -> Step<Security> {
        let depth = |n: &Name| self.anchors.closest(n).map(|a| a.name.label_count());
        if depth(home) > depth(signer) {
            return self.unsigned(home, missing).await;
        }
        Ok(Security::Insecure)
    }
}
