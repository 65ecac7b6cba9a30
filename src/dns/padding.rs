//! EDNS(0) Padding of answers on the encrypted client leg (RFC 7830, RFC 8467).
//!
//! Over DNS-over-TLS the size of an answer still shows through the encryption and, with the
//! size of the question, gives the name away. RFC 8467 §4.1 has a responder pad its answers
//! to a multiple of 468 octets when, and only when, the query carried a Padding option.
//! Plain UDP and TCP answers are never padded: padding protects nothing in cleartext.

use super::opt::{find_opt, insert_option};
use super::reader::Reader;
use super::MAX_MESSAGE_LEN;

/// EDNS option code of Padding (RFC 7830 §3).
pub const OPT_PADDING: u16 = 12;
/// RFC 8467 §4.1: responses are padded to a multiple of 468 octets.
pub const RESPONSE_BLOCK: usize = 468;

/// Whether a client message of the plain query shape (one question, then at most one
/// record, an OPT, ending the message) carries a Padding option; if so, its DO bit. Cheap:
/// the question is walked, not copied, and nothing else is parsed.
pub fn requested(msg: &[u8]) -> Option<bool> {
    let glance = super::header::Glance::of(msg)?;
    let mut r = Reader::new(glance.options()?);
    while let (Ok(code), Ok(len)) = (r.u16(), r.u16()) {
        if code == OPT_PADDING {
            return Some(glance.dnssec_ok());
        }
        r.take(usize::from(len)).ok()?;
    }
    None
}

/// Pads `answer` to a multiple of [`RESPONSE_BLOCK`] octets with a Padding option in its
/// OPT record, adding an empty OPT record (with `dnssec_ok` as its DO bit) first if it has
/// none: the query had one, so the answer may too (RFC 6891 §7). Padding goes last, after
/// every other option. Does nothing to an answer it cannot walk, or where the padded
/// answer would not fit a 2-octet length. Returns whether it padded.
pub fn pad(answer: &mut Vec<u8>, dnssec_ok: bool) -> bool {
    let with_option = answer.len() + 4 + usize::from(find_opt(answer).is_none()) * 11;
    let fill = (RESPONSE_BLOCK - with_option % RESPONSE_BLOCK) % RESPONSE_BLOCK;
    if with_option + fill > MAX_MESSAGE_LEN {
        return false;
    }
    insert_option(answer, OPT_PADDING, &vec![0u8; fill], dnssec_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query whose OPT record carries exactly `options` (raw option bytes).
    fn query(options: &[u8]) -> Vec<u8> {
        let mut m = crate::dns::builder::QueryBuilder::new("www.example", 1)
            .id(0x1234)
            .edns(1232)
            .build();
        let at = m.len() - 2;
        m[at..].copy_from_slice(&(options.len() as u16).to_be_bytes());
        m.extend(options);
        m
    }

    #[test]
    fn requested_only_with_a_padding_option() {
        assert_eq!(requested(&query(&[0, 12, 0, 3, 0, 0, 0])), Some(false));
        let cookie_then_padding = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 12, 0, 0];
        assert_eq!(requested(&query(&cookie_then_padding)), Some(false));
        assert!(requested(&query(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])).is_none());
        assert!(requested(&query(&[])).is_none());
        let mut plain = query(&[]);
        plain.truncate(plain.len() - 11);
        plain[11] = 0;
        assert!(requested(&plain).is_none());
    }

    #[test]
    fn pads_to_the_block_and_stays_walkable() {
        // An answer: the query with QR set and one A record before the OPT.
        let mut a = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        a.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        a.extend([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        a.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert!(pad(&mut a, false));
        assert_eq!(a.len() % RESPONSE_BLOCK, 0);
        let (rdlen_at, end) = find_opt(&a).unwrap();
        assert_eq!(end, a.len());
        let rdlen = usize::from(u16::from_be_bytes([a[rdlen_at], a[rdlen_at + 1]]));
        assert_eq!(&a[end - rdlen..end - rdlen + 2], &[0, 12]);
        // Without an OPT record, one is added, then padded.
        let mut bare = a[..45].to_vec();
        bare[11] = 0;
        assert!(pad(&mut bare, true));
        assert_eq!(bare.len() % RESPONSE_BLOCK, 0);
        assert_eq!(bare[11], 1);
        assert_eq!(find_opt(&bare).map(|(_, end)| end), Some(bare.len()));
    }
}
