//! DNSSEC validation (RFC 4033, 4034, 4035, 5155, 6840): the verdict on an upstream answer
//! obtained with DO=1 and CD=1, reached from the trust anchors down.
//!
//! ```text
//! canonical.rs  names in canonical form and order, canonical RDATA, the signed octets
//! records.rs    the response grouped into RRsets; RRSIG/DNSKEY/DS/NSEC/NSEC3 views
//! ```
//!
//! Every untrusted byte goes through [`crate::dns::reader::Reader`].

pub mod canonical;
pub mod records;

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
