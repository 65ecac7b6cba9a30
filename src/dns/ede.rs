//! Extended DNS Errors (RFC 8914): every answer strictdot makes itself says why, when the
//! client sent EDNS. One enum of causes with an exhaustive mapping to INFO-CODE and a short,
//! fixed EXTRA-TEXT: never the query name, never anything about another client.

use super::opt::insert_option;
use crate::upstream::verify::FailureKind;

/// EDNS option code of Extended DNS Error (RFC 8914 §2).
pub const OPT_EDE: u16 = 15;

/// Why strictdot answered as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Every upstream tried failed authentication, of this class.
    UpstreamAuth(FailureKind),
    /// No upstream answered within the query's budget.
    UpstreamTimeout,
    /// No upstream connection could be made (below TLS: refused, unreachable, timeout).
    UpstreamUnreachable,
    /// Every upstream is failing or full.
    NoUpstream,
    /// A local zone's server did not answer.
    LocalZoneFailed,
    /// The upstream's answer echoed another client subnet (ECS forwarded, RFC 7871 §7.3).
    ForeignSubnet,
    /// Too many queries already wait for upstreams (`--max-pending`).
    Busy,
    /// Every upstream failed; an expired answer was served (RFC 8767).
    Stale,
    /// The same, for a negative (NXDOMAIN) answer.
    StaleNxDomain,
    /// The client is outside the allow list.
    Prohibited,
    /// The client is over its rate limit.
    RateLimited,
    /// The query is malformed (FORMERR), with the validator's reason.
    Malformed(&'static str),
    /// Something the forwarder does not do (another opcode, a zone transfer).
    NotSupported(&'static str),
    /// DNSSEC validation found the answer bogus: the validator's INFO-CODE (6 to 12) and
    /// its fixed reason.
    Bogus {
        /// 6 DNSSEC Bogus, 7 Signature Expired, 8 Signature Not Yet Valid, 9 DNSKEY
        /// Missing, 10 RRSIGs Missing, 12 NSEC Missing.
        info_code: u16,
        /// Name-free words.
        reason: &'static str,
    },
    /// DNSSEC validation reached no verdict: a DS or DNSKEY record set it needed could not
    /// be had from the upstreams in time.
    DnssecIndeterminate,
}

impl Cause {
    /// The INFO-CODE (RFC 8914 §4).
    pub fn info_code(self) -> u16 {
        match self {
            Cause::UpstreamAuth(_) | Cause::UpstreamTimeout | Cause::NoUpstream => 22,
            Cause::UpstreamUnreachable | Cause::LocalZoneFailed => 23,
            Cause::Busy | Cause::RateLimited | Cause::Malformed(_) | Cause::ForeignSubnet => 0,
            Cause::Stale => 3,
            Cause::StaleNxDomain => 19,
            Cause::Prohibited => 18,
            Cause::NotSupported(_) => 21,
            Cause::Bogus { info_code, .. } => info_code,
            Cause::DnssecIndeterminate => 22,
        }
    }

    /// The EXTRA-TEXT: fixed words, for the operator reading a client's output.
    pub fn extra_text(self) -> &'static str {
        match self {
            Cause::UpstreamAuth(kind) => match kind {
                FailureKind::Name => {
                    "upstream authentication failed: certificate not valid for the name"
                }
                FailureKind::Pin => "upstream authentication failed: SPKI pin mismatch",
                FailureKind::Expiry => {
                    "upstream authentication failed: certificate expired or not yet valid"
                }
                FailureKind::Version => {
                    "upstream authentication failed: TLS version or cipher suites refused"
                }
                FailureKind::Untrusted => {
                    "upstream authentication failed: certificate chain not trusted"
                }
                FailureKind::Other => "upstream authentication failed: TLS handshake failed",
            },
            Cause::UpstreamTimeout => "no upstream answered in time",
            Cause::UpstreamUnreachable => "upstream connection failed",
            Cause::NoUpstream => "no upstream available",
            Cause::LocalZoneFailed => "local zone server did not answer",
            Cause::Busy => "too many queries pending",
            Cause::ForeignSubnet => "upstream answer tailored to another client subnet",
            Cause::Stale | Cause::StaleNxDomain => "upstreams failed; serving a stale answer",
            Cause::Prohibited => "client not in the allow list",
            Cause::RateLimited => "client over its rate limit",
            Cause::Malformed(reason) | Cause::NotSupported(reason) => reason,
            Cause::Bogus { reason, .. } => reason,
            Cause::DnssecIndeterminate => "DNSSEC chain records could not be fetched",
        }
    }
}

/// Adds an Extended DNS Error for `cause` to `answer` if the client sent EDNS
/// (`client_do` is its DO bit, `None` without EDNS): RFC 8914 §3 sends the option only to
/// a client that can read it. Returns whether it was added.
pub fn attach(answer: &mut Vec<u8>, cause: Cause, client_do: Option<bool>) -> bool {
    let Some(dnssec_ok) = client_do else {
        return false;
    };
    let text = cause.extra_text().as_bytes();
    let mut data = Vec::with_capacity(2 + text.len());
    data.extend(cause.info_code().to_be_bytes());
    data.extend(text);
    insert_option(answer, OPT_EDE, &data, dnssec_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::opt::find_opt;

    #[test]
    fn attached_only_for_edns_clients_and_readable_back() {
        let mut a = vec![0x12, 0x34, 0x81, 0x82, 0, 1, 0, 0, 0, 0, 0, 0];
        a.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let mut without = a.clone();
        assert!(!attach(&mut without, Cause::Busy, None));
        assert_eq!(without, a);
        assert!(attach(
            &mut a,
            Cause::UpstreamAuth(FailureKind::Pin),
            Some(false)
        ));
        let (rdlen_at, end) = find_opt(&a).unwrap();
        let rdata = &a[rdlen_at + 2..end];
        assert_eq!(&rdata[..2], &OPT_EDE.to_be_bytes());
        assert_eq!(&rdata[4..6], &22u16.to_be_bytes());
        assert_eq!(
            std::str::from_utf8(&rdata[6..]).unwrap(),
            "upstream authentication failed: SPKI pin mismatch"
        );
    }

    #[test]
    fn codes_follow_rfc_8914() {
        assert_eq!(Cause::Stale.info_code(), 3);
        assert_eq!(Cause::StaleNxDomain.info_code(), 19);
        assert_eq!(Cause::Prohibited.info_code(), 18);
        assert_eq!(Cause::UpstreamTimeout.info_code(), 22);
        assert_eq!(Cause::UpstreamUnreachable.info_code(), 23);
        assert_eq!(Cause::NotSupported("x").info_code(), 21);
    }
}
