//! The fixed DNS header (RFC 1035 §4.1.1), its flag bits, and the first, cheapest look at a
//! client's message: the stages of the pipeline that run before full validation (header
//! sanity, allow list, rate limiter) read only what is here, and copy nothing.

use super::reader::Reader;
use super::synth::{error_answer, EdnsReply};
use super::{Rcode, WireError, HEADER_LEN, TYPE_OPT};

pub use super::flags;

/// The fixed header, read from untrusted bytes.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// Message ID.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    /// Question count.
    pub qdcount: u16,
    /// Answer count.
    pub ancount: u16,
    /// Authority count.
    pub nscount: u16,
    /// Additional count.
    pub arcount: u16,
}

impl Header {
    /// Reads the 12-octet header.
    pub fn read(r: &mut Reader<'_>) -> Result<Header, WireError> {
        Ok(Header {
            id: r.u16()?,
            flags: r.u16()?,
            qdcount: r.u16()?,
            ancount: r.u16()?,
            nscount: r.u16()?,
            arcount: r.u16()?,
        })
    }

    /// The 4-bit opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags & flags::OPCODE_MASK) >> 11) as u8
    }
}

/// Why a message is dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than a DNS header: no ID to answer to.
    Runt,
    /// QR=1: a response sent to us; answering would make us a reflector.
    Response,
}

/// The first stage of the pipeline: a message too short to have a header, or one that is
/// itself a response (QR=1), is dropped before anything else looks at it (no reflection).
pub fn sanity(msg: &[u8]) -> Result<(), DropReason> {
    if msg.len() < HEADER_LEN {
        return Err(DropReason::Runt);
    }
    let flags = msg.get(2).copied().unwrap_or_default();
    if u16::from(flags) << 8 & flags::QR != 0 {
        return Err(DropReason::Response);
    }
    Ok(())
}

/// A glance at a message of the plain query shape, taken without copying it: one
/// uncompressed question, no answer or authority records, and at most one additional
/// record, a root-owned OPT, ending the message. Enough to answer a client that the allow
/// list or the rate limiter turns away (REFUSED, or an empty TC=1 answer) without ever
/// validating its message in full. Any other shape gets no answer at all.
#[derive(Clone, Copy, Debug)]
pub struct Glance<'a> {
    msg: &'a [u8],
    header: Header,
    question_end: usize,
    edns: Option<EdnsReply>,
    /// Where the OPT record's options sit, if there is one.
    options: Option<(usize, usize)>,
}

impl<'a> Glance<'a> {
    /// Glances at `msg`; `None` unless it has the plain query shape.
    pub fn of(msg: &'a [u8]) -> Option<Glance<'a>> {
        let mut r = Reader::new(msg);
        let header = Header::read(&mut r).ok()?;
        if header.qdcount != 1 || header.ancount != 0 || header.nscount != 0 {
            return None;
        }
        if header.arcount > 1 || header.flags & flags::QR != 0 {
            return None;
        }
        r.name(false).ok()?;
        r.take(4).ok()?;
        let question_end = r.pos();
        let (edns, options) = if header.arcount == 1 {
            if r.u8().ok()? != 0 || r.u16().ok()? != TYPE_OPT {
                return None;
            }
            let _size = r.u16().ok()?;
            let ttl = r.u32().ok()?;
            let len = r.u16().ok()?;
            let start = r.pos();
            r.take(usize::from(len)).ok()?;
            let edns = EdnsReply {
                dnssec_ok: ttl & 0x8000 != 0,
            };
            (Some(edns), Some((start, r.pos())))
        } else {
            (None, None)
        };
        r.finish().ok()?;
        Some(Glance {
            msg,
            header,
            question_end,
            edns,
            options,
        })
    }

    /// The DO bit of the OPT record (false without one).
    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|e| e.dnssec_ok)
    }

    /// The DO bit of the OPT record, or `None` if the message has none.
    pub fn client_do(&self) -> Option<bool> {
        self.edns.map(|e| e.dnssec_ok)
    }

    /// The options (RDATA) of the OPT record, if the message has one.
    pub fn options(&self) -> Option<&'a [u8]> {
        let (start, end) = self.options?;
        self.msg.get(start..end)
    }

    /// The question section (name, type, class).
    pub fn question(&self) -> &'a [u8] {
        self.msg
            .get(HEADER_LEN..self.question_end)
            .unwrap_or_default()
    }

    /// An answer with `rcode`, the question, and an OPT record if the message had one.
    pub fn answer(&self, rcode: Rcode) -> Vec<u8> {
        error_answer(
            self.header.id,
            self.header.flags,
            Some(self.question()),
            rcode,
            self.edns,
        )
    }

    /// An empty answer with TC=1: a real client behind a busy address retries over TCP, a
    /// spoofed victim receives no amplification.
    pub fn truncated(&self) -> Vec<u8> {
        let mut out = self.answer(Rcode::NoError);
        if let Some(b) = out.get_mut(2) {
            *b |= (flags::TC >> 8) as u8;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(edns: bool) -> Vec<u8> {
        let q = crate::dns::builder::QueryBuilder::new("www.example", 1).id(0x1234);
        if edns { q.dnssec_ok() } else { q }.build()
    }

    #[test]
    fn sanity_drops_runts_and_responses() {
        assert_eq!(sanity(&[0; 11]), Err(DropReason::Runt));
        assert_eq!(sanity(&[0; 3]), Err(DropReason::Runt));
        let mut r = plain(false);
        r[2] |= 0x80;
        assert_eq!(sanity(&r), Err(DropReason::Response));
        assert_eq!(sanity(&plain(false)), Ok(()));
    }

    #[test]
    fn glance_answers_plain_queries_only() {
        let (bare, with_edns) = (plain(false), plain(true));
        let g = Glance::of(&bare).unwrap();
        let refused = g.answer(Rcode::Refused);
        assert_eq!(&refused[..2], &[0x12, 0x34]);
        assert_eq!(refused[3] & 0x0F, 5);
        assert_eq!(&refused[12..], &plain(false)[12..]);
        let with_opt = Glance::of(&with_edns).unwrap();
        let tc = with_opt.truncated();
        assert_ne!(tc[2] & 0x02, 0, "TC set");
        assert_eq!(tc[11], 1, "OPT echoed");
        // A trailing octet, a compressed question, two questions: no glance.
        let mut trailing = plain(true);
        trailing.push(0);
        assert!(Glance::of(&trailing).is_none());
        let mut compressed = plain(false);
        compressed.truncate(12);
        compressed.extend([0xC0, 0x0C, 0, 1, 0, 1]);
        assert!(Glance::of(&compressed).is_none());
        let mut two = plain(false);
        two[5] = 2;
        assert!(Glance::of(&two).is_none());
    }
}
