//! Answers strictdot makes itself (SERVFAIL, REFUSED, FORMERR, NOTIMP, BADVERS, TC=1):
//! built from a query's header and question, carrying an OPT record exactly when the query
//! had one. A leaf of the DNS module: the validator, the header glance and the reply check
//! all build on it.

use super::{flags, Rcode, HEADER_LEN, TYPE_OPT};

/// The UDP payload size strictdot advertises in the OPT records it writes (the DNS flag day
/// 2020 figure, which avoids IP fragmentation).
pub const ADVERTISED_UDP_PAYLOAD: u16 = 1232;

/// How a synthesized answer carries EDNS: present iff the query had an OPT record
/// (RFC 6891 §7), echoing the DO bit (RFC 3225 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdnsReply {
    /// Echo of the query's DO bit.
    pub dnssec_ok: bool,
}

/// Builds an answer with no records but the question (if given) and an OPT record (if the
/// query had one). The opcode, RD and CD bits are copied from the query; RA is set, as
/// strictdot offers recursion through its upstreams.
pub fn error_answer(
    id: u16,
    query_flags: u16,
    question: Option<&[u8]>,
    rcode: Rcode,
    edns: Option<EdnsReply>,
) -> Vec<u8> {
    let code = rcode.code();
    let flags =
        flags::QR | (query_flags & (flags::OPCODE_MASK | flags::RD | flags::CD)) | flags::RA;
    let question = question.unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER_LEN + question.len() + 11);
    out.extend(id.to_be_bytes());
    out.extend((flags | (code & flags::RCODE_MASK)).to_be_bytes());
    out.extend(u16::from(!question.is_empty()).to_be_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(u16::from(edns.is_some()).to_be_bytes());
    out.extend(question);
    if let Some(e) = edns {
        push_opt(&mut out, (code >> 4) as u8, e.dnssec_ok);
    }
    out
}

/// Appends an empty OPT record (RFC 6891 §6.1.2) with the given extended RCODE bits.
pub(crate) fn push_opt(out: &mut Vec<u8>, extended_rcode: u8, dnssec_ok: bool) {
    out.push(0); // root owner
    out.extend(TYPE_OPT.to_be_bytes());
    out.extend(ADVERTISED_UDP_PAYLOAD.to_be_bytes());
    out.extend([extended_rcode, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    out.extend([0, 0]); // RDLENGTH
}
