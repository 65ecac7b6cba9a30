//! DNSSEC validation (RFC 4033, 4034, 4035, 5155, 6840): the verdict on an upstream answer
//! obtained with DO=1 and CD=1, reached from the trust anchors down.
//!
//! ```text
//! canonical.rs  names in canonical form and order, canonical RDATA, the signed octets
//! records.rs    the response grouped into RRsets; RRSIG/DNSKEY/DS/NSEC/NSEC3 views
//! verify.rs     algorithms, DS digests, validity windows, RRSIG verification (ring)
//! denial.rs     NXDOMAIN, NODATA and wildcard proofs by NSEC and NSEC3 (opt-out)
//! anchors.rs    root KSKs compiled in, --trust-anchor-file, negative trust anchors
//! validator.rs  the Validator: the answer's CNAME/DNAME links, RRsets, wildcards, denials
//! chain.rs      the chain of DS/DNSKEY from the closest trust anchor down to a zone
//! cache.rs      what the chain learned, bounded, with TTLs
//! budget.rs     the work one validation may do (KeyTrap, NSEC3 hashing)
//! verified.rs   the memo of signatures ring already accepted (bounded, by digest)
//! ttl.rs        a secure answer's TTLs capped by its signatures (RFC 4035 §5.3.3)
//! ```
//!
//! Every untrusted byte goes through [`crate::dns::reader::Reader`].

pub mod anchors;
pub mod budget;
mod cache;
pub mod canonical;
mod chain;
pub mod denial;
pub mod records;
pub mod ttl;
pub mod validator;
pub mod verified;
pub mod verify;

use std::future::Future;

pub use anchors::{AnchorError, AnchorFileError, NegativeAnchors, TrustAnchors};

/// Where validation starts and where it is switched off: the trust anchors and the
/// negative trust anchors, as the configuration gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// The trust anchors (the root KSKs compiled in, or `--trust-anchor-file`).
    pub anchors: TrustAnchors,
    /// Names whose answers are not validated (`--insecure-zone`, the local zones, the
    /// special-use names).
    pub negative: NegativeAnchors,
}
pub use validator::{Report, Validator};

/// How the validator gets the DS and DNSKEY records it needs.
///
/// `fetch` returns the whole DNS response to the query `name`/`qtype`/IN, as an upstream
/// recursive resolver answers it when asked with DO=1 and CD=1 (answer section with its
/// RRSIGs, authority section with the SOA and NSEC/NSEC3 proofs and their RRSIGs), or
/// `None` if no answer could be had. `name` is in uncompressed wire form, lower case.
pub trait Fetch {
    /// Asks `name`/`qtype`.
    fn fetch(&self, name: &[u8], qtype: u16) -> impl Future<Output = Option<Vec<u8>>> + Send;
}

/// The validator's tunables: clock skew, the caps against hostile zones, the chain cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Seconds a signature is still accepted before its inception or after its
    /// expiration, for clocks that disagree.
    pub skew: u32,
    /// Signatures per RRset that may reach the cryptography (KeyTrap, CVE-2023-50387).
    pub max_sigs_per_rrset: usize,
    /// Keys tried per signature among those sharing its key tag and algorithm (KeyTrap).
    pub max_keys_per_tag: usize,
    /// NSEC3 iterations above which a denial is treated as insecure, before any hashing
    /// (RFC 9276 §3.2; CVE-2023-50868).
    pub max_nsec3_iterations: u16,
    /// Signature verifications per validation.
    pub max_signature_checks: u32,
    /// Hash computations per validation (NSEC3 SHA-1 rounds and DS digests).
    pub max_hash_ops: u32,
    /// DS and DNSKEY queries per validation.
    pub max_fetches: u32,
    /// CNAME and DNAME links followed in one answer.
    pub max_chain: usize,
    /// Entries in the chain cache (validated DNSKEY sets, delegation facts).
    pub cache_capacity: usize,
    /// Entries in the memo of verified signatures ([`verified::Verified`]); 0 turns it
    /// off. The default 4,096 takes about 144 KiB, fixed at start.
    pub verified_capacity: usize,
    /// Longest time a chain-cache entry is kept, whatever its TTL (seconds).
    pub max_cache_ttl: u32,
    /// How long a zone found bogus is remembered, so a broken zone is not
    /// re-validated on every query (RFC 4035 §4.7) (seconds).
    pub bogus_ttl: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            skew: 300,
            max_sigs_per_rrset: 8,
            max_keys_per_tag: 4,
            max_nsec3_iterations: 100,
            max_signature_checks: 64,
            max_hash_ops: 2_500,
            max_fetches: 32,
            max_chain: 12,
            cache_capacity: 4_096,
            verified_capacity: 4_096,
            max_cache_ttl: 86_400,
            bogus_ttl: 60,
        }
    }
}

/// What validation concluded about an answer (RFC 4035 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every RRset on the way from the question to the answer, and every denial, is
    /// signed and chains to a trust anchor: the answer may carry AD.
    Secure,
    /// A proven unsigned delegation (or an unsupported algorithm or digest, an NSEC3
    /// opt-out span, too many NSEC3 iterations, a negative trust anchor, or no trust anchor
    /// above the name) leaves the answer unauthenticated: answer it, AD clear.
    Insecure,
    /// The answer should be signed and is not, or its proof fails: SERVFAIL with
    /// [`Bogus::info_code`] as the Extended DNS Error.
    Bogus(Bogus),
    /// No verdict: a record the chain needs could not be fetched (the upstream failed or
    /// answered the chain query with an error). SERVFAIL, not cached.
    Indeterminate,
}

/// Why an answer is bogus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bogus {
    /// Every candidate signature has expired.
    SignatureExpired,
    /// Every candidate signature is not yet valid.
    SignatureNotYetValid,
    /// A DS exists but no DNSKEY matches it, or no DNSKEY matches a signature.
    DnskeyMissing,
    /// An RRset that must be signed came without a usable RRSIG.
    RrsigsMissing,
    /// A negative answer (or wildcard expansion) without the NSEC/NSEC3 proof it needs.
    NsecMissing,
    /// Anything else, with a fixed reason (never a name).
    Other(&'static str),
}

impl Bogus {
    /// The Extended DNS Error INFO-CODE (RFC 8914 §4).
    pub fn info_code(&self) -> u16 {
        match self {
            Bogus::Other(_) => 6,
            Bogus::SignatureExpired => 7,
            Bogus::SignatureNotYetValid => 8,
            Bogus::DnskeyMissing => 9,
            Bogus::RrsigsMissing => 10,
            Bogus::NsecMissing => 12,
        }
    }

    /// A fixed, name-free text for EXTRA-TEXT and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Bogus::SignatureExpired => "signature expired",
            Bogus::SignatureNotYetValid => "signature not yet valid",
            Bogus::DnskeyMissing => "no DNSKEY matches the DS or the signature",
            Bogus::RrsigsMissing => "RRSIG missing",
            Bogus::NsecMissing => "NSEC/NSEC3 proof missing",
            Bogus::Other(reason) => reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_codes_follow_rfc_8914() {
        assert_eq!(Bogus::Other("x").info_code(), 6);
        assert_eq!(Bogus::SignatureExpired.info_code(), 7);
        assert_eq!(Bogus::SignatureNotYetValid.info_code(), 8);
        assert_eq!(Bogus::DnskeyMissing.info_code(), 9);
        assert_eq!(Bogus::RrsigsMissing.info_code(), 10);
        assert_eq!(Bogus::NsecMissing.info_code(), 12);
    }
}
