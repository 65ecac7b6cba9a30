//! The TTLs of a validated answer (RFC 4035 §5.3.3): no record may outlive the signatures
//! that vouched for it, so a secure answer is cached and served at most until the earliest
//! of its signatures' original TTLs and expirations.

use crate::dns::reader::Records;
use crate::dns::TYPE_OPT;

/// RRSIG (RFC 4034 §3).
const RRSIG: u16 = 46;

/// The earliest end among the RRSIGs of `msg` at Unix time `now`, in seconds from now:
/// each RRSIG's Original TTL, and the time left to its Signature Expiration (serial number
/// arithmetic, RFC 4034 §3.1.5); `None` if `msg` holds no RRSIG (or cannot be read).
pub fn signature_bound(msg: &[u8], now: u32) -> Option<u32> {
    let mut bound: Option<u32> = None;
    for (rtype, _, rdata) in records(msg)? {
        if rtype != RRSIG || rdata.len() < 18 {
            continue;
        }
        let original = u32::from_be_bytes([rdata[4], rdata[5], rdata[6], rdata[7]]);
        let expiration = u32::from_be_bytes([rdata[8], rdata[9], rdata[10], rdata[11]]);
        let left = u32::try_from(expiration.wrapping_sub(now) as i32).unwrap_or(0);
        let end = original.min(left);
        bound = Some(bound.map_or(end, |b| b.min(end)));
    }
    bound
}

/// Lowers every TTL in `msg` (OPT aside) above `bound` to it.
pub fn cap_ttls(msg: &mut [u8], bound: u32) {
    let Some(found) = records(msg) else { return };
    let at: Vec<usize> = found
        .into_iter()
        .filter(|(rtype, _, _)| *rtype != TYPE_OPT)
        .map(|(_, ttl_at, _)| ttl_at)
        .collect();
    for ttl_at in at {
        if let Some(field) = msg.get_mut(ttl_at..ttl_at + 4) {
            let ttl = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
            if ttl > bound {
                field.copy_from_slice(&bound.to_be_bytes());
            }
        }
    }
}

/// Every record of `msg`: type, offset of its TTL, RDATA.
fn records(msg: &[u8]) -> Option<Vec<(u16, usize, &[u8])>> {
    Records::new(msg)
        .ok()?
        .map(|found| {
            let (_, rec) = found.ok()?;
            Some((
                rec.rtype,
                rec.ttl_at,
                msg.get(rec.rdata_start..rec.rdata_end)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a.example. A` answered with an A record of TTL 3600 and its RRSIG (Original TTL
    /// `original`, expiring at `expiration`, RRSIG TTL 3600), then an OPT record.
    fn answer(original: u32, expiration: u32) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0xA0, 0, 1, 0, 2, 0, 0, 0, 1];
        m.extend(b"\x01a\x07example\x00\x00\x01\x00\x01");
        m.extend([0xC0, 12, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 192, 0, 2, 1]);
        let mut rrsig = vec![0, 1, 13, 2];
        rrsig.extend(original.to_be_bytes());
        rrsig.extend(expiration.to_be_bytes());
        rrsig.extend(1_000u32.to_be_bytes()); // inception
        rrsig.extend([0x12, 0x34]); // key tag
        rrsig.extend(b"\x07example\x00");
        rrsig.extend([0xAA; 8]); // signature
        m.extend([0xC0, 12, 0, 46, 0, 1, 0, 0, 0x0E, 0x10]);
        m.extend((rrsig.len() as u16).to_be_bytes());
        m.extend(rrsig);
        m.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        m
    }

    fn ttls(msg: &[u8]) -> Vec<u32> {
        records(msg)
            .unwrap()
            .into_iter()
            .map(|(_, at, _)| u32::from_be_bytes(msg[at..at + 4].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn no_record_outlives_its_signature() {
        let now = 1_000_000;
        // Expiring in 600 s: every TTL (OPT aside) comes down to 600.
        let mut m = answer(3600, now + 600);
        let bound = signature_bound(&m, now);
        assert_eq!(bound, Some(600));
        cap_ttls(&mut m, 600);
        let t = ttls(&m);
        assert_eq!(&t[..2], &[600, 600]);
        assert_eq!(t[2], 0x8000, "OPT's flags untouched");
        // The Original TTL binds when it is the smaller.
        assert_eq!(signature_bound(&answer(300, now + 86_400), now), Some(300));
        // Already expired (within the validator's skew): zero, never a wrap to years.
        assert_eq!(signature_bound(&answer(3600, now - 5), now), Some(0));
        // Across the 2^32 wrap (RFC 4034 §3.1.5 serial arithmetic).
        assert_eq!(
            signature_bound(&answer(3600, 100), u32::MAX - 99),
            Some(200)
        );
    }

    #[test]
    fn unsigned_or_unreadable_answers_have_no_bound() {
        let m = answer(3600, 2_000_000);
        let unsigned = {
            let mut u = m[..12 + 15 + 16].to_vec();
            u[7] = 1;
            u[11] = 0;
            u
        };
        assert_eq!(signature_bound(&unsigned, 1_000_000), None);
        for cut in 0..m.len() {
            let _ = signature_bound(&m[..cut], 1_000_000);
            let mut c = m[..cut].to_vec();
            cap_ttls(&mut c, 1);
        }
    }
}
