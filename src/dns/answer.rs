//! Answers: synthesized error answers (SERVFAIL, REFUSED, FORMERR, NOTIMP, BADVERS), the
//! check every upstream reply passes before it reaches a client, and the rewrite that gives
//! the client back its own ID and question.

use super::header::{flags, Header};
use super::query::{read_question, ValidQuery};
use super::rdata;
use super::reader::{names_equal, Reader};
use super::{WireError, HEADER_LEN, TYPE_OPT};

use super::synth::push_opt;
pub use super::synth::{error_answer, EdnsReply, ADVERTISED_UDP_PAYLOAD};

/// What the reply check learned about an upstream answer.
#[derive(Clone, Copy, Debug)]
pub struct ReplyInfo {
    /// The header flags word.
    pub flags: u16,
    /// Offset just past the question.
    pub question_end: usize,
    /// The OPT record, if the reply has one.
    pub opt: Option<OptSpan>,
}

/// Where an OPT record sits in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptSpan {
    /// Offset of the record's first octet (its owner name).
    pub start: usize,
    /// Offset of its RDATA (the options).
    pub rdata_start: usize,
    /// Offset just past the record.
    pub end: usize,
}

/// Checks an upstream reply against the question that was asked: a response (QR=1) to a
/// standard query, exactly one question equal to ours (name compared case-insensitively,
/// RFC 4343), and every record of every section well-formed up to the last byte, including
/// the names inside the RDATA of the types that may compress them (RFC 3597 §4, see
/// [`rdata::check`]). A reply that fails is never passed to a client.
///
/// Allocates nothing; beyond the walk of the owner names and fixed fields, it costs one
/// more name walk per name held in NS, CNAME, SOA, PTR, MX (and the obsolete MD, MF, MB,
/// MG, MR, MINFO) RDATA.
pub fn check_reply(
    reply: &[u8],
    qname: &[u8],
    qtype: u16,
    qclass: u16,
) -> Result<ReplyInfo, WireError> {
    let mut r = Reader::new(reply);
    let header = Header::read(&mut r)?;
    if header.flags & flags::QR == 0 || header.opcode() != 0 {
        return Err(WireError::NotAResponse);
    }
    if header.qdcount != 1 {
        return Err(WireError::BadCount);
    }
    let q = read_question(&mut r)?;
    let name = reply
        .get(q.name.start..q.name.end)
        .ok_or(WireError::Truncated)?;
    if !names_equal(name, qname) || q.qtype != qtype || q.qclass != qclass {
        return Err(WireError::QuestionMismatch);
    }
    let records = u32::from(header.ancount) + u32::from(header.nscount);
    for _ in 0..records {
        let rec = r.record()?;
        // OPT belongs in the additional section only (RFC 6891 §6.1.1).
        if rec.rtype == TYPE_OPT {
            return Err(WireError::BadOpt);
        }
        rdata::check(reply, &rec)?;
    }
    let mut opt = None;
    for _ in 0..header.arcount {
        let start = r.pos();
        let rec = r.record()?;
        rdata::check(reply, &rec)?;
        if rec.rtype == TYPE_OPT {
            if opt.is_some() || rec.name.wire_len != 1 {
                return Err(WireError::BadOpt);
            }
            super::query::check_options(reply, rec.rdata_start, rec.rdata_end)?;
            opt = Some(OptSpan {
                start,
                rdata_start: rec.rdata_start,
                end: rec.rdata_end,
            });
        }
    }
    r.finish()?;
    Ok(ReplyInfo {
        opt,
        flags: header.flags,
        question_end: q.end,
    })
}

/// Gives a checked reply back the client's ID and question bytes (the upstream may have
/// changed the name's case). `info` must come from [`check_reply`] on `reply` for `query`'s
/// question, so the two questions have the same length.
pub fn restore_client_view(reply: &mut [u8], info: &ReplyInfo, query: &ValidQuery) {
    super::set_message_id(reply, query.id());
    if let Some(q) = reply.get_mut(HEADER_LEN..info.question_end) {
        if q.len() == query.question().len() {
            q.copy_from_slice(query.question());
        }
    }
}

/// The answer a UDP client gets when the real one is larger than it can receive: the
/// header with TC=1 and the question, no records, and an OPT record if the client sent one
/// (RFC 6891 §7, RFC 2181 §9): the client retries over TCP.
pub fn truncated_answer(reply_flags: u16, query: &ValidQuery) -> Vec<u8> {
    let edns = query.edns_reply();
    let question = query.question();
    let mut out = Vec::with_capacity(HEADER_LEN + question.len() + 11);
    out.extend(query.id().to_be_bytes());
    out.extend((reply_flags | flags::TC).to_be_bytes());
    out.extend([0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    out.extend(question);
    if let Some(e) = edns {
        push_opt(&mut out, 0, e.dnssec_ok);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::query::validate;
    use crate::dns::Rcode;

    fn query() -> ValidQuery {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(b"\x03WwW\x07example\x00\x00\x01\x00\x01");
        validate(&m).unwrap()
    }

    fn reply(id: u16, name: &[u8]) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
        m.extend(name);
        m.extend([0, 1, 0, 1]);
        m.extend([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m
    }

    #[test]
    fn reply_checked_and_restored() {
        let q = query();
        let mut rep = reply(999, b"\x03www\x07EXAMPLE\x00");
        let info = check_reply(&rep, q.qname(), 1, 1).unwrap();
        restore_client_view(&mut rep, &info, &q);
        assert_eq!(&rep[..2], &[0x12, 0x34]);
        assert_eq!(&rep[12..info.question_end], q.question());
    }

    #[test]
    fn reply_rejections() {
        let q = query();
        let other = reply(1, b"\x03xyz\x07example\x00");
        assert_eq!(
            check_reply(&other, q.qname(), 1, 1).unwrap_err(),
            WireError::QuestionMismatch
        );
        let mut rep = reply(1, b"\x03www\x07example\x00");
        assert_eq!(
            check_reply(&rep, q.qname(), 28, 1).unwrap_err(),
            WireError::QuestionMismatch
        );
        rep.push(0);
        assert_eq!(
            check_reply(&rep, q.qname(), 1, 1).unwrap_err(),
            WireError::TrailingBytes
        );
        let mut notresp = reply(1, b"\x03www\x07example\x00");
        notresp[2] &= 0x7F;
        assert_eq!(
            check_reply(&notresp, q.qname(), 1, 1).unwrap_err(),
            WireError::NotAResponse
        );
        let short = reply(1, b"\x03www\x07example\x00");
        assert!(check_reply(&short[..short.len() - 1], q.qname(), 1, 1).is_err());
    }

    #[test]
    fn opt_outside_additional_rejected() {
        let q = query();
        let mut rep = reply(1, b"\x03www\x07example\x00");
        // Turn the answer record into an OPT record.
        let at = rep.len() - 14;
        rep[at..at + 2].copy_from_slice(&[0, 41]);
        assert_eq!(
            check_reply(&rep, q.qname(), 1, 1).unwrap_err(),
            WireError::BadOpt
        );
    }

    /// A reply to www.example A with a CNAME record (RDATA given) in the answer section,
    /// or in the authority or additional section when `section` is 1 or 2.
    fn reply_with_cname(rdata: &[u8], section: usize) -> Vec<u8> {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        m[7 + 2 * section] = 1;
        m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        m.extend([0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 0, 60]);
        m.extend((rdata.len() as u16).to_be_bytes());
        m.extend(rdata);
        m
    }

    #[test]
    fn rdata_names_checked_in_every_section() {
        let q = query();
        for section in 0..3 {
            // cdn.example, compressed back to the question's "example".
            let good = reply_with_cname(b"\x03cdn\xC0\x10", section);
            assert!(check_reply(&good, q.qname(), 1, 1).is_ok());
            // A pointer forwards, past the end of the message.
            let forward = reply_with_cname(b"\x03cdn\xC0\x30", section);
            assert_eq!(
                check_reply(&forward, q.qname(), 1, 1).unwrap_err(),
                WireError::BadPointer
            );
            // A name shorter than RDLENGTH.
            let long = reply_with_cname(b"\x03cdn\xC0\x10\x00", section);
            assert_eq!(
                check_reply(&long, q.qname(), 1, 1).unwrap_err(),
                WireError::BadRdataLength
            );
        }
    }

    #[test]
    fn error_and_truncated_answers_parse_back() {
        let q = query();
        let servfail = q.error_answer(Rcode::ServFail);
        let info = check_reply(&servfail, q.qname(), 1, 1).unwrap();
        assert_eq!(info.flags & 0x000F, 2);
        assert_ne!(info.flags & flags::RA, 0);
        let tc = truncated_answer(0x8180, &q);
        let info = check_reply(&tc, q.qname(), 1, 1).unwrap();
        assert_ne!(info.flags & flags::TC, 0);
    }
}
