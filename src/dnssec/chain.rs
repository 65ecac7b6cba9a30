//! The chain of trust: from the closest trust anchor down to a zone, one DS query per
//! label (RFC 4035 §5): a validated DS RRset authenticates the child's DNSKEY RRset, a
//! proven absence of DS makes the child insecure, a DS set with no supported algorithm or
//! digest too (RFC 4035 §5.2, RFC 6840 §5.2). What the walk learns goes into the
//! validator's cache, each entry living no longer than its TTL, its signatures, or the
//! entries above it.

use std::sync::{Arc, Mutex, MutexGuard};

use super::anchors::{Anchor, NegativeAnchors, TrustAnchors};
use super::budget::{Work, EXHAUSTED};
use super::cache::{ChainCache, Node};
use super::canonical::Name;
use super::denial::{prove, Claim, Denied, Proofs};
use super::records::{types, Dnskey, Ds, Message, Nsec, Nsec3, NOERROR, NXDOMAIN};
use super::verify::{algorithm_supported, ds_matches, usable_ds, verify_rrset};
use super::{Bogus, Fetch};

/// Why a step could not conclude.
pub(super) enum Fail {
    Bogus(Bogus),
    Indeterminate,
}

impl From<Bogus> for Fail {
    fn from(b: Bogus) -> Fail {
        Fail::Bogus(b)
    }
}

pub(super) type Step<T> = Result<T, Fail>;

/// The zone a name lives in, as far as the chain goes.
pub(super) enum Zone {
    /// Inside the secure zone `apex`, whose validated keys these are.
    Secure { apex: Name, keys: Arc<Vec<Dnskey>> },
    /// At or under an insecure delegation, a negative trust anchor, or no anchor at all.
    Insecure,
}

/// One validation: the validator's anchors and cache, the fetcher, and the work
/// allowance (which carries the settings and the clock).
pub(super) struct Run<'v, F> {
    /// Where trust starts.
    pub(super) anchors: &'v TrustAnchors,
    /// Where it is switched off.
    pub(super) negative: &'v NegativeAnchors,
    /// The validator's chain cache.
    pub(super) cache: &'v Mutex<ChainCache>,
    /// Where chain queries go.
    pub(super) fetch: &'v F,
    /// What is left of this validation's allowance.
    pub(super) work: Work<'v>,
}

impl<F: Fetch> Run<'_, F> {
    /// Verifies the NSEC and NSEC3 RRsets of the authority section that `apex` signed.
    pub(super) fn proofs(
        &mut self,
        msg: &Message,
        apex: &Name,
        keys: &[Dnskey],
    ) -> Result<Proofs, Bogus> {
        let mut proofs = Proofs::default();
        for set in &msg.authority {
            if !(set.rtype == types::NSEC || set.rtype == types::NSEC3)
                || !set.owner.is_subdomain_of(apex)
                || !set.sigs.iter().any(|s| &s.signer == apex)
            {
                continue;
            }
            let checked = verify_rrset(set, apex, keys, &mut self.work)?;
            // An NSEC expanded from a wildcard (RRSIG labels below the owner's; some
            // servers answer so) says what it was signed as: the wildcard's NSEC, so it
            // counts at the wildcard's name. An expanded NSEC3 means nothing: skipped.
            let owner = match checked.expanded_from {
                None => set.owner.clone(),
                Some(parent) if set.rtype == types::NSEC => match parent.prepend(b"*") {
                    Some(wildcard) => wildcard,
                    None => continue,
                },
                Some(_) => continue,
            };
            for rdata in &set.rdatas {
                if set.rtype == types::NSEC {
                    if let Ok(nsec) = Nsec::parse(rdata) {
                        proofs.nsecs.push((owner.clone(), nsec));
                    }
                } else if let Ok(nsec3) = Nsec3::parse(rdata) {
                    proofs.nsec3s.push((owner.clone(), nsec3));
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

    /// The chain cache, locked (never across an await).
    fn cache(&self) -> MutexGuard<'_, ChainCache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, name: &Name) -> Option<(Node, u32)> {
        self.cache().get(name, self.work.now)
    }

    /// Remembers what `step` found at `name` (bogus results briefly, never a blown budget
    /// or a failed fetch), and passes it on.
    fn remember(&self, name: &Name, step: Step<(Node, u32)>, ceiling: u32) -> Step<(Node, u32)> {
        let now = self.work.now;
        let s = self.work.settings;
        match &step {
            Ok((node, ttl)) => {
                let expires = now.saturating_add((*ttl).min(s.max_cache_ttl)).min(ceiling);
                self.cache().put(name.clone(), node.clone(), expires, now);
                return Ok((node.clone(), expires));
            }
            Err(Fail::Bogus(b)) if *b != EXHAUSTED => {
                let expires = now.saturating_add(s.bogus_ttl).min(ceiling);
                self.cache()
                    .put(name.clone(), Node::Bogus(*b), expires, now);
            }
            Err(_) => {}
        }
        step
    }

    /// The zone `target` lives in, walking down from the closest trust anchor. With
    /// `apex`, `target` must itself be a secure zone's apex (it signed something).
    pub(super) async fn zone_of(&mut self, target: &Name, apex: bool) -> Step<Zone> {
        if self.negative.covers(target) {
            return Ok(Zone::Insecure);
        }
        let anchors = self.anchors;
        let Some(anchor) = anchors.closest(target) else {
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
                .take(self.work.settings.max_keys_per_tag);
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
