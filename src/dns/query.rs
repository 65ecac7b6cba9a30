//! Client bytes -> [`ValidQuery`] (its only constructor) or a [`Rejection`].
//!
//! The checks run cheapest first, and each has a named outcome (SECURITY.md has the table):
//! a runt or a response (QR=1) is dropped, so strictdot never reflects; an opcode other
//! than QUERY gets NOTIMP; anything malformed gets FORMERR; an EDNS version other than 0
//! gets BADVERS (RFC 6891 §6.1.3).

use super::reader::{NameSpan, Reader};
use super::synth::{self, EdnsReply};
use super::{Rcode, WireError, HEADER_LEN, MIN_UDP_PAYLOAD, TYPE_OPT};

pub use super::header::{flags, DropReason, Header};

/// The largest UDP answer strictdot sends, whatever a client advertises. Larger answers are
/// truncated so the client retries over TCP (RFC 6891 §6.2.5 lets a responder cap it).
pub const MAX_UDP_ANSWER: u16 = 4096;

/// What a client's OPT record said (RFC 6891 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// Requester's UDP payload size, as sent.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO bit (RFC 3225).
    pub dnssec_ok: bool,
    /// Offset of the OPT record in the query.
    pub record_start: usize,
    /// Offset just past the OPT record.
    pub record_end: usize,
    /// Offset of the OPT RDATA (the options).
    pub options_start: usize,
}

/// A query that passed every check. Only [`validate`] makes one, so holding a `ValidQuery`
/// proves the bytes were checked.
#[derive(Clone, Debug)]
pub struct ValidQuery {
    bytes: Vec<u8>,
    question_end: usize,
    qname_end: usize,
    qtype: u16,
    qclass: u16,
    edns: Option<Edns>,
}

/// Why a message was not forwarded, and what (if anything) goes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing goes back: there is no safe reply to form.
    Drop(DropReason),
    /// A synthesized error answer goes back.
    Reply {
        /// The response code in the answer.
        rcode: Rcode,
        /// What was wrong.
        reason: &'static str,
        /// The full answer message.
        answer: Vec<u8>,
    },
}

impl ValidQuery {
    /// The whole query as the client sent it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The client's message ID.
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }

    /// The header flags word.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }

    /// The question section as the client wrote it (name, type, class).
    pub fn question(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..self.question_end]
    }

    /// The question name, uncompressed wire form, in the client's case.
    pub fn qname(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..self.qname_end]
    }

    /// QTYPE.
    pub fn qtype(&self) -> u16 {
        self.qtype
    }

    /// QCLASS.
    pub fn qclass(&self) -> u16 {
        self.qclass
    }

    /// The client's EDNS parameters, if it sent an OPT record.
    pub fn edns(&self) -> Option<&Edns> {
        self.edns.as_ref()
    }

    /// The largest answer this client can take over UDP: 512 without EDNS, else its
    /// advertised size (never below 512, RFC 6891 §6.2.5), capped at [`MAX_UDP_ANSWER`].
    pub fn udp_limit(&self) -> usize {
        let size = match &self.edns {
            None => MIN_UDP_PAYLOAD,
            Some(e) => e.udp_size.clamp(MIN_UDP_PAYLOAD, MAX_UDP_ANSWER),
        };
        usize::from(size)
    }

    /// How an error answer to this query carries EDNS.
    pub fn edns_reply(&self) -> Option<EdnsReply> {
        self.edns.map(|e| EdnsReply {
            dnssec_ok: e.dnssec_ok,
        })
    }

    /// A synthesized answer with `rcode` (SERVFAIL, REFUSED, ...) to this query.
    pub fn error_answer(&self, rcode: Rcode) -> Vec<u8> {
        synth::error_answer(
            self.id(),
            self.flags(),
            Some(self.question()),
            rcode,
            self.edns_reply(),
        )
    }
}

/// Checks a client's message and, if it is a well-formed standard query, returns it.
///
/// Checks, in order: header present (else drop), QR=0 (else drop), opcode QUERY (else
/// NOTIMP), QDCOUNT=1 with an uncompressed, well-formed question and ANCOUNT=NSCOUNT=0
/// (else FORMERR), additional records well-formed with at most one OPT, root-owned
/// (else FORMERR), EDNS version 0 (else BADVERS), and no bytes after the last record.
pub fn validate(msg: &[u8]) -> Result<ValidQuery, Rejection> {
    let mut r = Reader::new(msg);
    let header = Header::read(&mut r).map_err(|_| Rejection::Drop(DropReason::Runt))?;
    if header.flags & flags::QR != 0 {
        return Err(Rejection::Drop(DropReason::Response));
    }
    // Read the question first so that even NOTIMP and FORMERR answers can echo it.
    let question = if header.qdcount == 1 {
        read_question(&mut r).ok()
    } else {
        None
    };
    let reject =
        |rcode: Rcode, reason: &'static str, q: Option<&Question>, edns| Rejection::Reply {
            rcode,
            reason,
            answer: synth::error_answer(
                header.id,
                header.flags,
                q.and_then(|q| msg.get(HEADER_LEN..q.end)),
                rcode,
                edns,
            ),
        };
    if header.opcode() != 0 {
        let edns = edns_best_effort(msg, &header);
        return Err(reject(
            Rcode::NotImp,
            "opcode not QUERY",
            question.as_ref(),
            edns,
        ));
    }
    let Some(q) = question else {
        let why = if header.qdcount == 1 {
            "malformed question"
        } else {
            "QDCOUNT is not 1"
        };
        return Err(reject(Rcode::FormErr, why, None, None));
    };
    if header.ancount != 0 || header.nscount != 0 {
        let edns = edns_best_effort(msg, &header);
        return Err(reject(
            Rcode::FormErr,
            "answer or authority records in a query",
            Some(&q),
            edns,
        ));
    }
    let edns = match read_additional(&mut r, header.arcount) {
        Ok(edns) => edns,
        Err(_) => {
            return Err(reject(
                Rcode::FormErr,
                "malformed additional section",
                Some(&q),
                None,
            ))
        }
    };
    if let Some(e) = &edns {
        if e.version != 0 {
            let reply = EdnsReply {
                dnssec_ok: e.dnssec_ok,
            };
            return Err(reject(
                Rcode::BadVers,
                "unsupported EDNS version",
                Some(&q),
                Some(reply),
            ));
        }
    }
    if q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR {
        // Zone transfers are multi-message streams (RFC 5936): not something to forward.
        return Err(reject(
            Rcode::Refused,
            "zone transfer",
            Some(&q),
            edns.map(|e| EdnsReply {
                dnssec_ok: e.dnssec_ok,
            }),
        ));
    }
    Ok(ValidQuery {
        bytes: msg.to_vec(),
        question_end: q.end,
        qname_end: q.name.end,
        qtype: q.qtype,
        qclass: q.qclass,
        edns,
    })
}

/// QTYPE IXFR (RFC 1995).
pub const TYPE_IXFR: u16 = 251;
/// QTYPE AXFR (RFC 5936).
pub const TYPE_AXFR: u16 = 252;

/// The EDNS parameters of a message that is being rejected for other reasons, if its
/// records can still be walked, so the rejection carries OPT as RFC 6891 §7 asks.
fn edns_best_effort(msg: &[u8], header: &Header) -> Option<EdnsReply> {
    let mut r = Reader::at(msg, HEADER_LEN)?;
    for _ in 0..header.qdcount {
        read_question(&mut r).ok()?;
    }
    for _ in 0..(u32::from(header.ancount) + u32::from(header.nscount)) {
        r.record().ok()?;
    }
    let edns = read_additional(&mut r, header.arcount).ok()??;
    Some(EdnsReply {
        dnssec_ok: edns.dnssec_ok,
    })
}

/// A parsed question entry.
#[derive(Clone, Copy, Debug)]
pub struct Question {
    /// The name's span (never compressed in a query).
    pub name: NameSpan,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Offset just past QCLASS.
    pub end: usize,
}

/// Reads the single question of a message positioned just after the header.
pub fn read_question(r: &mut Reader<'_>) -> Result<Question, WireError> {
    let name = r.name(false)?;
    let qtype = r.u16()?;
    let qclass = r.u16()?;
    Ok(Question {
        name,
        qtype,
        qclass,
        end: r.pos(),
    })
}

/// Walks `count` additional records to the end of the message, returning the OPT record's
/// contents if there is exactly one. More than one OPT, or one not owned by the root, is
/// an error (RFC 6891 §6.1.1); so is anything after the last record.
fn read_additional(r: &mut Reader<'_>, count: u16) -> Result<Option<Edns>, WireError> {
    let mut edns = None;
    for _ in 0..count {
        let start = r.pos();
        let rec = r.record()?;
        if rec.rtype == TYPE_OPT {
            if edns.is_some() || rec.name.wire_len != 1 {
                return Err(WireError::BadOpt);
            }
            check_options(r.message(), rec.rdata_start, rec.rdata_end)?;
            edns = Some(Edns {
                udp_size: rec.class,
                version: (rec.ttl >> 16) as u8,
                dnssec_ok: rec.ttl & 0x8000 != 0,
                record_start: start,
                record_end: rec.rdata_end,
                options_start: rec.rdata_start,
            });
        }
    }
    r.finish()?;
    Ok(edns)
}

/// Checks that OPT RDATA is a sequence of whole {code, length, data} options (RFC 6891 §6.1.2).
pub fn check_options(msg: &[u8], start: usize, end: usize) -> Result<(), WireError> {
    let rdata = msg.get(start..end).ok_or(WireError::Truncated)?;
    let mut r = Reader::new(rdata);
    while !r.is_empty() {
        let _code = r.u16().map_err(|_| WireError::BadOpt)?;
        let len = r.u16().map_err(|_| WireError::BadOpt)?;
        r.take(usize::from(len)).map_err(|_| WireError::BadOpt)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for www.example. A IN, optionally with an OPT record.
    pub(crate) fn query(id: u16, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
        let q = crate::dns::builder::QueryBuilder::new("www.example", 1).id(id);
        match edns {
            Some((size, version, true)) => q.edns(size).edns_version(version).dnssec_ok(),
            Some((size, version, false)) => q.edns(size).edns_version(version),
            None => q,
        }
        .build()
    }

    fn rcode_of(rej: Rejection) -> Rcode {
        match rej {
            Rejection::Reply { rcode, .. } => rcode,
            Rejection::Drop(d) => panic!("dropped: {d:?}"),
        }
    }

    #[test]
    fn accepts_plain_and_edns_queries() {
        let q = validate(&query(7, None)).unwrap();
        assert_eq!(q.id(), 7);
        assert_eq!(q.qname(), b"\x03www\x07example\x00");
        assert_eq!((q.qtype(), q.qclass()), (1, 1));
        assert_eq!(q.udp_limit(), 512);
        let q = validate(&query(8, Some((1232, 0, true)))).unwrap();
        let e = q.edns().unwrap();
        assert!(e.dnssec_ok);
        assert_eq!(q.udp_limit(), 1232);
        let q = validate(&query(8, Some((100, 0, false)))).unwrap();
        assert_eq!(q.udp_limit(), 512);
        let q = validate(&query(8, Some((65000, 0, false)))).unwrap();
        assert_eq!(q.udp_limit(), 4096);
    }

    #[test]
    fn drops_runts_and_responses() {
        assert_eq!(
            validate(&[0; 11]).unwrap_err(),
            Rejection::Drop(DropReason::Runt)
        );
        let mut m = query(1, None);
        m[2] |= 0x80;
        assert_eq!(
            validate(&m).unwrap_err(),
            Rejection::Drop(DropReason::Response)
        );
    }

    #[test]
    fn notimp_for_other_opcodes() {
        let mut m = query(1, None);
        m[2] |= 0x28; // opcode 5 (UPDATE)
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::NotImp);
    }

    #[test]
    fn formerr_cases() {
        let mut m = query(1, None);
        m[5] = 2; // QDCOUNT 2
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::FormErr);
        let mut m = query(1, None);
        m.push(0); // trailing byte
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::FormErr);
        let mut m = query(1, None);
        m[7] = 1; // ANCOUNT 1 with no record
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::FormErr);
        // Two OPT records.
        let mut m = query(1, Some((1232, 0, false)));
        m[11] = 2;
        m.extend(&query(1, Some((1232, 0, false)))[33..]);
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::FormErr);
        // Pointer in the question.
        let mut m = query(1, None);
        m.truncate(12);
        m.extend(b"\xC0\x0C\x00\x01\x00\x01");
        assert_eq!(rcode_of(validate(&m).unwrap_err()), Rcode::FormErr);
    }

    #[test]
    fn notimp_and_refused_carry_opt_when_the_query_had_one() {
        let mut m = query(1, Some((1232, 0, false)));
        m[2] |= 0x28;
        let Rejection::Reply { rcode, answer, .. } = validate(&m).unwrap_err() else {
            panic!("dropped")
        };
        assert_eq!(rcode, Rcode::NotImp);
        assert_eq!(answer[11], 1, "ARCOUNT: OPT present");
        let mut m = query(1, Some((1232, 0, false)));
        m[12 + 13 + 1] = 252; // QTYPE AXFR
        let Rejection::Reply { rcode, answer, .. } = validate(&m).unwrap_err() else {
            panic!("dropped")
        };
        assert_eq!(rcode, Rcode::Refused);
        assert_eq!(answer[11], 1);
    }

    #[test]
    fn badvers_answer_has_opt_with_extended_rcode() {
        let m = query(9, Some((1232, 1, false)));
        let Rejection::Reply { rcode, answer, .. } = validate(&m).unwrap_err() else {
            panic!("dropped")
        };
        assert_eq!(rcode, Rcode::BadVers);
        // Header rcode 0, ARCOUNT 1, OPT TTL high byte = 1 (16 >> 4).
        assert_eq!(answer[3] & 0x0F, 0);
        assert_eq!(answer[11], 1);
        let opt_ttl_at = answer.len() - 6;
        assert_eq!(answer[opt_ttl_at], 1);
    }

    #[test]
    fn built_queries_validate() {
        let plain = crate::dns::builder::QueryBuilder::new("www.example", 1)
            .id(9)
            .build();
        let q = validate(&plain).unwrap();
        assert_eq!(
            (q.id(), q.qtype(), q.qname()),
            (9, 1, &b"\x03www\x07example\x00"[..])
        );
        assert!(q.edns().is_none());
        let rich = crate::dns::builder::QueryBuilder::new("www.example.", 28)
            .dnssec_ok()
            .option(12, &[0; 4])
            .build();
        let q = validate(&rich).unwrap();
        assert!(q.edns().is_some_and(|e| e.dnssec_ok && e.udp_size == 1232));
        let root = crate::dns::builder::QueryBuilder::new(".", 2).build();
        assert_eq!(validate(&root).unwrap().qname(), b"\x00");
    }
}
