//! TTL rules: which answers may be cached and for how long (RFC 1035 §3.2.1, RFC 2308 for
//! negative answers), clamping to the configured bounds, the TTLs a client sees as the
//! entry ages (or the stale TTL of RFC 8767), and the client's view of a shared answer.

use crate::dns::query::{flags, read_question, Header, ValidQuery};
use crate::dns::reader::Reader;
use crate::dns::{HEADER_LEN, TYPE_OPT};

use super::settings::CacheSettings;

/// Resource record type SOA.
const TYPE_SOA: u16 = 6;
/// TTL given to stale answers (RFC 8767 §4 recommends 30 seconds).
pub const STALE_TTL: u32 = 30;
/// Octets of one stored TTL record: the field's offset in the message (2) and its stored
/// clamped value (4).
const TTL_RECORD: usize = 6;

/// A TTL as received: RFC 2181 §8 makes it a 31-bit number, and a value with the most
/// significant bit set counts as 0.
fn received(ttl: u32) -> u32 {
    if ttl >= 1 << 31 {
        0
    } else {
        ttl
    }
}

/// Whether an answer may be cached, and for how long: the clamped lifetime (seconds) and
/// the TTL fields to rewrite on hits. TC answers, TTL 0, rcodes other than NOERROR,
/// NXDOMAIN and SERVFAIL, and negative answers without an SOA are not cached. Every TTL
/// read (records of all sections, the SOA's MINIMUM) goes through [`received`].
pub fn cacheable(msg: &[u8], s: &CacheSettings) -> Option<(u32, Vec<(u32, u32)>)> {
    let mut r = Reader::new(msg);
    let header = Header::read(&mut r).ok()?;
    if header.flags & flags::TC != 0 || header.qdcount != 1 {
        return None;
    }
    read_question(&mut r).ok()?;
    let rcode = header.flags & flags::RCODE_MASK;
    if rcode == 2 {
        return (s.servfail_ttl > 0).then(|| (s.servfail_ttl, Vec::new()));
    }
    if rcode != 0 && rcode != 3 {
        return None;
    }
    let clamp = |t: u32| t.clamp(s.min_ttl, s.max_ttl.max(s.min_ttl));
    let mut ttls = Vec::new();
    let mut min_ttl = u32::MAX;
    let mut negative_ttl = None;
    let sections = [header.ancount, header.nscount, header.arcount];
    for (section, count) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let rec = r.record().ok()?;
            if rec.rtype == TYPE_OPT {
                continue;
            }
            let ttl = received(rec.ttl);
            if section == 1 && rec.rtype == TYPE_SOA {
                // RFC 2308 §5: the negative TTL is the smaller of the SOA's TTL and MINIMUM.
                let minimum = msg
                    .get(rec.rdata_end.checked_sub(4)?..rec.rdata_end)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))?;
                negative_ttl = Some(ttl.min(received(minimum)));
            }
            if section < 2 {
                min_ttl = min_ttl.min(ttl);
            }
            ttls.push((u32::try_from(rec.ttl_at).ok()?, clamp(ttl)));
        }
    }
    let negative = rcode == 3 || header.ancount == 0;
    let lifetime = if negative { negative_ttl? } else { min_ttl };
    if lifetime == 0 || lifetime == u32::MAX {
        return None;
    }
    if negative {
        // Serve the SOA with the negative TTL, so clients cache it no longer than we do.
        let negative_ttl = clamp(lifetime);
        for t in ttls.iter_mut() {
            t.1 = t.1.min(negative_ttl);
        }
    }
    Some((clamp(lifetime), ttls))
}

/// Writes the TTLs `ttls` (offset, value), as [`cacheable`] returns them, into `msg`.
pub(super) fn set_ttls(msg: &mut [u8], ttls: &[(u32, u32)]) {
    for &(at, ttl) in ttls {
        let at = at as usize;
        if let Some(field) = msg.get_mut(at..at + 4) {
            field.copy_from_slice(&ttl.to_be_bytes());
        }
    }
}

/// Appends `ttls` to `data` as stored TTL records ([`TTL_RECORD`] octets each); `None` if
/// an offset does not fit.
pub(super) fn push_ttl_records(data: &mut Vec<u8>, ttls: &[(u32, u32)]) -> Option<()> {
    for &(at, ttl) in ttls {
        data.extend_from_slice(&u16::try_from(at).ok()?.to_be_bytes());
        data.extend_from_slice(&ttl.to_be_bytes());
    }
    Some(())
}

/// Octets the stored TTL records of `ttls` take.
pub(super) fn ttl_records_len(ttls: &[(u32, u32)]) -> usize {
    ttls.len() * TTL_RECORD
}

/// The answer for `query` from a stored message `msg` and its stored TTL records
/// `records`: its ID and question bytes, TTLs reduced by the `elapsed` seconds spent in the
/// cache (or set to `ttl_override`).
pub(super) fn serve(
    msg: &[u8],
    records: &[u8],
    elapsed: u32,
    ttl_override: Option<u32>,
    query: &ValidQuery,
) -> Vec<u8> {
    let mut out = msg.to_vec();
    for rec in records.chunks_exact(TTL_RECORD) {
        let at = usize::from(u16::from_be_bytes([rec[0], rec[1]]));
        let ttl = u32::from_be_bytes([rec[2], rec[3], rec[4], rec[5]]);
        let value = ttl_override.unwrap_or(ttl.saturating_sub(elapsed));
        if let Some(field) = out.get_mut(at..at + 4) {
            field.copy_from_slice(&value.to_be_bytes());
        }
    }
    client_view(&mut out, query);
    out
}

/// Gives a stored or shared answer the ID and question bytes of `query` (same key, so the
/// question has the same length).
pub fn client_view(msg: &mut [u8], query: &ValidQuery) {
    crate::dns::set_message_id(msg, query.id());
    let q = query.question();
    if let Some(dst) = msg.get_mut(HEADER_LEN..HEADER_LEN + q.len()) {
        dst.copy_from_slice(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::fixtures::{answer, nxdomain, query, settings};

    #[test]
    fn what_is_not_cached() {
        let s = settings();
        let q = query(b"\x03www\x07example\x00", 1);
        assert!(cacheable(&answer(&q, 0, 0, 1), &s).is_none(), "TTL 0");
        let mut tc = answer(&q, 0, 300, 1);
        tc[2] |= 0x02;
        assert!(cacheable(&tc, &s).is_none(), "truncated");
        assert!(cacheable(&answer(&q, 5, 300, 1), &s).is_none(), "REFUSED");
        assert_eq!(
            cacheable(&answer(&q, 2, 300, 0), &s).unwrap().0,
            2,
            "SERVFAIL briefly"
        );
        assert!(
            cacheable(&answer(&q, 0, 300, 0), &s).is_none(),
            "NODATA without SOA"
        );
        assert_eq!(cacheable(&nxdomain(&q, 3600, 60), &s).unwrap().0, 60);
        assert_eq!(cacheable(&nxdomain(&q, 30, 600), &s).unwrap().0, 30);
        let clamped = CacheSettings {
            min_ttl: 50,
            max_ttl: 100,
            ..s
        };
        assert_eq!(cacheable(&answer(&q, 0, 10, 1), &clamped).unwrap().0, 50);
        assert_eq!(cacheable(&answer(&q, 0, 1000, 1), &clamped).unwrap().0, 100);
    }

    /// `msg` with one more record, of type `rtype` and TTL `ttl`, in its last section
    /// (`section`: 1 authority, 2 additional), owned by the question name.
    fn with_record(mut msg: Vec<u8>, section: usize, rtype: u16, ttl: u32) -> Vec<u8> {
        let count_at = 6 + 2 * section;
        let count = u16::from_be_bytes([msg[count_at], msg[count_at + 1]]) + 1;
        msg[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
        msg.extend([0xC0, 0x0C]);
        msg.extend(rtype.to_be_bytes());
        msg.extend([0, 1]);
        msg.extend(ttl.to_be_bytes());
        msg.extend([0, 4, 192, 0, 2, 9]);
        msg
    }

    #[test]
    fn ttls_of_2_pow_31_or_more_count_as_zero() {
        // RFC 2181 §8.
        let s = settings();
        let q = query(b"\x03www\x07example\x00", 1);
        for ttl in [0x8000_0000, 0xFFFF_FFFE, u32::MAX] {
            assert!(
                cacheable(&answer(&q, 0, ttl, 1), &s).is_none(),
                "answer {ttl:#x}"
            );
            // An NS record in the authority section of a positive answer.
            let ns = with_record(answer(&q, 0, 300, 1), 1, 2, ttl);
            assert!(cacheable(&ns, &s).is_none(), "authority {ttl:#x}");
            // The SOA's own TTL, and its MINIMUM, in a negative answer.
            assert!(
                cacheable(&nxdomain(&q, ttl, 60), &s).is_none(),
                "SOA TTL {ttl:#x}"
            );
            assert!(
                cacheable(&nxdomain(&q, 3600, ttl), &s).is_none(),
                "MINIMUM {ttl:#x}"
            );
            // An additional record is served with TTL 0 (raised to the minimum), not the
            // maximum.
            let extra = with_record(answer(&q, 0, 300, 1), 2, 1, ttl);
            let (lifetime, ttls) = cacheable(&extra, &s).unwrap();
            assert_eq!((lifetime, ttls[1].1), (300, 0), "additional {ttl:#x}");
            let raised = CacheSettings { min_ttl: 5, ..s };
            assert_eq!(cacheable(&extra, &raised).unwrap().1[1].1, 5);
        }
        // The largest valid TTL is still a TTL (clamped to the maximum).
        let largest = answer(&q, 0, 0x7FFF_FFFF, 1);
        assert_eq!(cacheable(&largest, &s).unwrap().0, s.max_ttl);
    }
}
