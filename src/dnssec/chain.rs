//! The chain of trust and the validator: from the closest trust anchor down to the zone
//! that signed an answer, one DS query per label (RFC 4035 §5: a validated DS RRset
//! authenticates the child's DNSKEY RRset, a proven absence of DS makes the child
//! insecure), then the answer itself: CNAME and DNAME links across zones, wildcard
//! expansions, NXDOMAIN and NODATA.
//!
//! Validated DNSKEY sets and delegation facts are cached in the [`Validator`], bounded,
//! each entry living no longer than its TTL, its signatures, or the entries above it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::anchors::{Anchor, NegativeAnchors, TrustAnchors};
use super::budget::{Work, EXHAUSTED};
use super::canonical::Name;
use super::denial::{prove, Claim, Denied, Proofs};
use super::records::{types, Dnskey, Ds, Message, Nsec, Nsec3, Rrset, CLASS_IN, NOERROR, NXDOMAIN};
use super::verify::{algorithm_supported, ds_matches, usable_ds, verify_rrset};
use super::{Bogus, Fetch, Settings, Verdict};
use crate::dns::reader::Reader;

/// What the chain knows about one name.
#[derive(Clone, Debug)]
enum Node {
    /// A secure zone apex with its validated DNSKEY RRset.
    Keys(Arc<Vec<Dnskey>>),
    /// Inside the zone above: no delegation here.
    NotACut,
    /// At or under a proven insecure delegation.
    Insecure,
    /// Proven not to exist (nor anything below it).
    Nonexistent,
    /// The zone's chain is bogus.
    Bogus(Bogus),
}

struct Entry {
    node: Node,
    /// Unix seconds after which the entry is stale.
    expires: u32,
}

/// The chain cache: bounded, entries dropped when stale.
struct ChainCache {
    map: HashMap<Name, Entry>,
    capacity: usize,
}

impl ChainCache {
    fn get(&self, name: &Name, now: u32) -> Option<(Node, u32)> {
        self.map
            .get(name)
            .filter(|e| now < e.expires)
            .map(|e| (e.node.clone(), e.expires))
    }

    fn put(&mut self, name: Name, node: Node, expires: u32, now: u32) {
        if self.capacity == 0 || expires <= now {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&name) {
            self.map.retain(|_, e| now < e.expires);
            if self.map.len() >= self.capacity {
                // Still full of live entries: drop an eighth, arbitrary ones.
                let victims: Vec<Name> = self
                    .map
                    .keys()
                    .take(self.capacity.div_ceil(8))
                    .cloned()
                    .collect();
                for v in victims {
                    self.map.remove(&v);
                }
            }
        }
        self.map.insert(name, Entry { node, expires });
    }
}

/// A DNSSEC validator: trust anchors, negative trust anchors, settings, and the chain
/// cache shared by every validation.
pub struct Validator {
    anchors: TrustAnchors,
    negative: NegativeAnchors,
    settings: Settings,
    cache: Mutex<ChainCache>,
}

/// A verdict with the work it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Signature verifications done.
    pub signatures: u32,
    /// Hash computations done.
    pub hashes: u32,
    /// Chain queries made (DS, DNSKEY).
    pub fetches: u32,
}

/// Why a step could not conclude.
enum Fail {
    Bogus(Bogus),
    Indeterminate,
}

impl From<Bogus> for Fail {
    fn from(b: Bogus) -> Fail {
        Fail::Bogus(b)
    }
}

type Step<T> = Result<T, Fail>;

/// Whether a part of the answer is secure or legitimately insecure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    Secure,
    Insecure,
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

/// The zone a name lives in, as far as the chain goes.
enum Zone {
    Secure { apex: Name, keys: Arc<Vec<Dnskey>> },
    Insecure,
}

impl Validator {
    /// A validator with an empty cache.
    pub fn new(anchors: TrustAnchors, negative: NegativeAnchors, settings: Settings) -> Validator {
        let capacity = settings.cache_capacity;
        Validator {
            anchors,
            negative,
            settings,
            cache: Mutex::new(ChainCache {
                map: HashMap::new(),
                capacity,
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Entries in the chain cache.
    pub fn cache_len(&self) -> usize {
        self.lock().map.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChainCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
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
            v: self,
            fetch,
            work: Work::new(&self.settings, now),
        };
        let verdict = run.validate(qname, qtype, answer).await;
        Report {
            verdict,
            signatures: run.work.signatures_used(),
            hashes: run.work.hashes_used(),
            fetches: run.work.fetches_used(),
        }
    }
}

/// One validation: the validator, the fetcher, and the work allowance.
struct Run<'v, F> {
    v: &'v Validator,
    fetch: &'v F,
    work: Work<'v>,
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

/// Whether a query type names no single RRset that can be validated.
fn unvalidatable(qtype: u16) -> bool {
    qtype == types::RRSIG || qtype == crate::dns::TYPE_OPT || (128..=255).contains(&qtype)
}

impl<F: Fetch> Run<'_, F> {
    async fn validate(&mut self, qname: &[u8], qtype: u16, answer: &[u8]) -> Verdict {
        let Ok(qname) = Name::from_wire(qname) else {
            return Verdict::Bogus(Bogus::Other("malformed question"));
        };
        if self.v.negative.covers(&qname) || unvalidatable(qtype) {
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
        for _ in 0..=self.v.settings.max_chain {
            if let Some(set) = msg.answer_rrset(&name, qtype) {
                if msg.rcode != NOERROR {
                    return Err(Bogus::Other("NXDOMAIN with an answer").into());
                }
                return Ok(security.and(self.positive(msg, set).await?));
            }
            // A DNAME above the name redirects it (RFC 6672 §3.2); the CNAME the server
            // synthesized is unsigned and must agree.
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
                }
                name = next;
                continue;
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
        let signer = set
            .sigs
            .iter()
            .map(|s| &s.signer)
            .find(|s| home.is_subdomain_of(s))
            .cloned();
        let Some(signer) = signer else {
            return self.unsigned(&home, Bogus::RrsigsMissing).await;
        };
        let (apex, keys) = match self.zone_of(&signer, true).await? {
            Zone::Insecure => {
                return self
                    .insecure_signer(&signer, &home, Bogus::RrsigsMissing)
                    .await
            }
            Zone::Secure { apex, keys } => (apex, keys),
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
        let signer = msg
            .authority
            .iter()
            .filter(|s| s.rtype == types::NSEC || s.rtype == types::NSEC3)
            .flat_map(|s| s.sigs.iter())
            .map(|s| &s.signer)
            .filter(|s| name.is_subdomain_of(s))
            .max_by_key(|s| s.label_count())
            .cloned();
        let Some(signer) = signer else {
            return self.unsigned(&home, Bogus::NsecMissing).await;
        };
        let (apex, keys) = match self.zone_of(&signer, true).await? {
            Zone::Insecure => {
                return self
                    .insecure_signer(&signer, &home, Bogus::NsecMissing)
                    .await
            }
            Zone::Secure { apex, keys } => (apex, keys),
        };
        let proofs = self.proofs(msg, &apex, &keys)?;
        match prove(&apex, &proofs, name, claim, &mut self.work)? {
            Denied::Proven | Denied::InsecureDelegation => Ok(Security::Secure),
            Denied::Insecure => Ok(Security::Insecure),
        }
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
        let depth = |n: &Name| self.v.anchors.closest(n).map(|a| a.name.label_count());
        if depth(home) > depth(signer) {
            return self.unsigned(home, missing).await;
        }
        Ok(Security::Insecure)
    }

    /// Verifies the NSEC and NSEC3 RRsets of the authority section that `apex` signed.
    fn proofs(&mut self, msg: &Message, apex: &Name, keys: &[Dnskey]) -> Result<Proofs, Bogus> {
        let mut proofs = Proofs::default();
        for set in &msg.authority {
            if !(set.rtype == types::NSEC || set.rtype == types::NSEC3)
                || !set.owner.is_subdomain_of(apex)
                || !set.sigs.iter().any(|s| &s.signer == apex)
            {
                continue;
            }
            verify_rrset(set, apex, keys, &mut self.work)?;
            for rdata in &set.rdatas {
                if set.rtype == types::NSEC {
                    if let Ok(nsec) = Nsec::parse(rdata) {
                        proofs.nsecs.push((set.owner.clone(), nsec));
                    }
                } else if let Ok(nsec3) = Nsec3::parse(rdata) {
                    proofs.nsec3s.push((set.owner.clone(), nsec3));
                }
            }
        }
        Ok(proofs)
    }

    /// One chain query: counted, and only a NOERROR or NXDOMAIN answer to exactly this
    /// question counts as an answer.
    async fn query(&mut self, name: &Name, qtype: u16) -> Step<Message> {
        self.work.fetch()?;
        let fetch = self.fetch;
        let Some(bytes) = fetch.fetch(name.as_wire(), qtype).await else {
            return Err(Fail::Indeterminate);
        };
        let Ok(msg) = Message::parse(&bytes) else {
            return Err(Fail::Indeterminate);
        };
        if &msg.qname != name
            || msg.qtype != qtype
            || (msg.rcode != NOERROR && msg.rcode != NXDOMAIN)
        {
            return Err(Fail::Indeterminate);
        }
        Ok(msg)
    }

    fn cached(&self, name: &Name) -> Option<(Node, u32)> {
        self.v.lock().get(name, self.work.now)
    }

    /// Remembers what `step` found at `name` (bogus results briefly, never a blown budget
    /// or a failed fetch), and passes it on.
    fn remember(&self, name: &Name, step: Step<(Node, u32)>, ceiling: u32) -> Step<(Node, u32)> {
        let now = self.work.now;
        let s = &self.v.settings;
        match &step {
            Ok((node, ttl)) => {
                let expires = now.saturating_add((*ttl).min(s.max_cache_ttl)).min(ceiling);
                self.v.lock().put(name.clone(), node.clone(), expires, now);
                return Ok((node.clone(), expires));
            }
            Err(Fail::Bogus(b)) if *b != EXHAUSTED => {
                let expires = now.saturating_add(s.bogus_ttl).min(ceiling);
                self.v
                    .lock()
                    .put(name.clone(), Node::Bogus(*b), expires, now);
            }
            Err(_) => {}
        }
        step
    }

    /// The zone `target` lives in, walking down from the closest trust anchor. With
    /// `apex`, `target` must itself be a secure zone's apex (it signed something).
    async fn zone_of(&mut self, target: &Name, apex: bool) -> Step<Zone> {
        if self.v.negative.covers(target) {
            return Ok(Zone::Insecure);
        }
        let v = self.v;
        let Some(anchor) = v.anchors.closest(target) else {
            // No anchor above the name: nothing can make it secure.
            return Ok(Zone::Insecure);
        };
        let (mut node, mut ceiling) = match self.cached(&anchor.name) {
            Some(hit) => hit,
            None => {
                let found = self.anchor_keys(anchor).await;
                self.remember(&anchor.name, found, u32::MAX)?
            }
        };
        let mut zone = anchor.name.clone();
        let mut keys = match node {
            Node::Keys(keys) => keys,
            Node::Bogus(b) => return Err(b.into()),
            Node::Insecure | Node::NotACut | Node::Nonexistent => return Ok(Zone::Insecure),
        };
        for depth in anchor.name.label_count() + 1..=target.label_count() {
            let Some(name) = target.suffix(depth) else {
                break;
            };
            (node, ceiling) = match self.cached(&name) {
                Some((node, expires)) => (node, expires.min(ceiling)),
                None => {
                    let found = self.find_cut(&zone, &keys, &name).await;
                    self.remember(&name, found, ceiling)?
                }
            };
            match node {
                Node::Keys(child) => {
                    zone = name;
                    keys = child;
                }
                Node::NotACut => {}
                Node::Insecure => return Ok(Zone::Insecure),
                Node::Nonexistent => break,
                Node::Bogus(b) => return Err(b.into()),
            }
        }
        if apex && &zone != target {
            return Err(Bogus::Other("RRSIG signer is not a zone apex").into());
        }
        Ok(Zone::Secure { apex: zone, keys })
    }

    /// The validated DNSKEY set of a trust anchor's zone.
    async fn anchor_keys(&mut self, anchor: &Anchor) -> Step<(Node, u32)> {
        let trusted: Vec<&Dnskey> = anchor
            .keys
            .iter()
            .filter(|k| algorithm_supported(k.algorithm) && k.usable())
            .collect();
        if usable_ds(&anchor.ds).is_empty() && trusted.is_empty() {
            return Ok((Node::Insecure, u32::MAX));
        }
        self.zone_keys(&anchor.name, &anchor.ds, &trusted).await
    }

    /// Fetches the DNSKEY RRset of `zone` and validates it (RFC 4035 §5.2): a key must
    /// match a usable DS (or be a trusted key) and sign the RRset.
    async fn zone_keys(
        &mut self,
        zone: &Name,
        ds: &[Ds],
        trusted: &[&Dnskey],
    ) -> Step<(Node, u32)> {
        let ds = usable_ds(ds);
        let msg = self.query(zone, types::DNSKEY).await?;
        let set = msg
            .answer_rrset(zone, types::DNSKEY)
            .ok_or(Bogus::DnskeyMissing)?;
        let keys: Vec<Dnskey> = set
            .rdatas
            .iter()
            .filter_map(|r| Dnskey::parse(r).ok())
            .collect();
        // Keys named by a DS (or trusted as they are). KeyTrap: each DS is tried against
        // at most `max_keys_per_tag` keys with its tag and algorithm.
        let mut entry: Vec<Dnskey> = keys
            .iter()
            .filter(|k| k.usable() && trusted.iter().any(|t| t.rdata == k.rdata))
            .cloned()
            .collect();
        for d in &ds {
            let candidates = keys
                .iter()
                .filter(|k| k.usable() && k.tag == d.key_tag && k.algorithm == d.algorithm)
                .take(self.v.settings.max_keys_per_tag);
            for key in candidates {
                if !entry.contains(key) && ds_matches(d, zone, key, &mut self.work)? {
                    entry.push(key.clone());
                }
            }
        }
        if entry.is_empty() {
            return Err(Bogus::DnskeyMissing.into());
        }
        let checked = verify_rrset(set, zone, &entry, &mut self.work)?;
        Ok((Node::Keys(Arc::new(keys)), checked.ttl))
    }

    /// Asks for the DS RRset of `name`, a child of the secure zone `zone`, and learns
    /// whether `name` is a secure delegation (its keys), an insecure one, no delegation,
    /// or nonexistent.
    async fn find_cut(&mut self, zone: &Name, keys: &[Dnskey], name: &Name) -> Step<(Node, u32)> {
        let msg = self.query(name, types::DS).await?;
        if msg.rcode == NXDOMAIN {
            let proofs = self.proofs(&msg, zone, keys)?;
            let node = match prove(zone, &proofs, name, Claim::NxDomain, &mut self.work)? {
                Denied::Proven => Node::Nonexistent,
                Denied::Insecure | Denied::InsecureDelegation => Node::Insecure,
            };
            return Ok((node, min_ttl(&msg)));
        }
        if let Some(set) = msg.answer_rrset(name, types::DS) {
            let checked = verify_rrset(set, zone, keys, &mut self.work)?;
            let ds: Vec<Ds> = set
                .rdatas
                .iter()
                .filter_map(|r| Ds::parse(r).ok())
                .collect();
            if usable_ds(&ds).is_empty() {
                // RFC 4035 §5.2, RFC 6840 §5.2: no supported algorithm or digest.
                return Ok((Node::Insecure, checked.ttl));
            }
            let (node, ttl) = self.zone_keys(name, &ds, &[]).await?;
            return Ok((node, ttl.min(checked.ttl)));
        }
        if let Some(cname) = msg.answer_rrset(name, types::CNAME) {
            // A CNAME cannot sit at a delegation.
            let checked = verify_rrset(cname, zone, keys, &mut self.work)?;
            return Ok((Node::NotACut, checked.ttl));
        }
        let proofs = self.proofs(&msg, zone, keys)?;
        let node = match prove(
            zone,
            &proofs,
            name,
            Claim::NoData(types::DS),
            &mut self.work,
        )? {
            Denied::Proven => Node::NotACut,
            Denied::InsecureDelegation | Denied::Insecure => Node::Insecure,
        };
        Ok((node, min_ttl(&msg)))
    }
}

/// The lowest TTL of the authority section (the denial's lifetime); a minute if empty.
fn min_ttl(msg: &Message) -> u32 {
    msg.authority.iter().map(|s| s.ttl).min().unwrap_or(60)
}
