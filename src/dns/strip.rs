//! The answer for a client that did not ask for DNSSEC records (DO=0), when strictdot asked
//! the upstream for them on its behalf (to validate): RRSIG, NSEC and NSEC3 records leave
//! every section unless they are the type the client asked for (RFC 4035 §3.2.1).
//!
//! Records before the first one removed keep their bytes and offsets, so any compression
//! pointer into them stays true; every record after it is written with its names
//! uncompressed (a pointer could aim into a removed record), except an owner equal to the
//! question's name, which points at the question.

use super::rdata::{holds_names, Rdata};
use super::reader::{Reader, Record, Records};
use super::HEADER_LEN;

/// RRSIG (RFC 4034 §3).
const RRSIG: u16 = 46;
/// NSEC (RFC 4034 §4).
const NSEC: u16 = 47;
/// NSEC3 (RFC 5155 §3).
const NSEC3: u16 = 50;

/// Whether a record of `rtype` goes only to clients that set DO, for a query of `qtype`.
fn dnssec_only(rtype: u16, qtype: u16) -> bool {
    matches!(rtype, RRSIG | NSEC | NSEC3) && rtype != qtype
}

/// `msg` (a checked upstream answer) without the records a DO=0 client must not get, or
/// `None` when it holds none (or cannot be read, which a checked answer never is).
pub fn strip_dnssec(msg: &[u8], qtype: u16) -> Option<Vec<u8>> {
    let records = Records::new(msg).ok()?;
    let qname = records.question();
    let question_end = records.question_end();
    let mut sections: [Vec<Record>; 3] = Default::default();
    let mut first_removed = None;
    for found in records {
        let (section, rec) = found.ok()?;
        if dnssec_only(rec.rtype, qtype) {
            first_removed.get_or_insert(rec.name.start);
        } else {
            sections[section.index()].push(rec);
        }
    }
    let first_removed = first_removed?;
    // The question's name, uncompressed, to point owners equal to it at offset 12.
    let qname_wire = qname.and_then(|n| expand(msg, n.start));
    let mut out = Vec::with_capacity(msg.len());
    out.extend_from_slice(&msg[..question_end]);
    for (i, section) in sections.iter().enumerate() {
        let at = 6 + 2 * i;
        out[at..at + 2].copy_from_slice(&(section.len() as u16).to_be_bytes());
        for rec in section {
            if rec.rdata_end <= first_removed {
                out.extend_from_slice(&msg[rec.name.start..rec.rdata_end]);
            } else {
                write_expanded(&mut out, msg, rec, qname_wire.as_deref())?;
            }
        }
    }
    Some(out)
}

/// Writes `rec` with its names uncompressed (the owner pointing at the question when it
/// is the question's name, byte for byte).
fn write_expanded(out: &mut Vec<u8>, msg: &[u8], rec: &Record, qname: Option<&[u8]>) -> Option<()> {
    let owner = expand(msg, rec.name.start)?;
    if qname == Some(owner.as_slice()) && HEADER_LEN < msg.len() {
        out.extend([0xC0, HEADER_LEN as u8]);
    } else {
        out.extend_from_slice(&owner);
    }
    // TYPE, CLASS, TTL: the ten octets before RDLENGTH end at rdata_start - 2.
    out.extend_from_slice(&msg[rec.name.end..rec.rdata_start - 2]);
    let rdlen_at = out.len();
    out.extend([0, 0]);
    if holds_names(rec.rtype) {
        let rdata = Rdata::parse(msg, rec).ok()?;
        let mut pos = rec.rdata_start;
        for name in rdata.names() {
            out.extend_from_slice(&msg[pos..name.start]);
            out.extend_from_slice(&expand(msg, name.start)?);
            pos = name.end;
        }
        out.extend_from_slice(&msg[pos..rec.rdata_end]);
    } else {
        out.extend_from_slice(&msg[rec.rdata_start..rec.rdata_end]);
    }
    let rdlen = u16::try_from(out.len() - rdlen_at - 2).ok()?;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    Some(())
}

/// The name at `start` in uncompressed wire form, read with the message reader's rules.
fn expand(msg: &[u8], start: usize) -> Option<Vec<u8>> {
    let mut check = Reader::at(msg, start)?;
    let span = check.name(true).ok()?;
    let mut out = Vec::with_capacity(span.wire_len);
    let mut pos = start;
    // The reader has checked the name: pointers go backwards, so this ends.
    loop {
        let len = *msg.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                out.push(0);
                return Some(out);
            }
            0x00 => {
                let label = msg.get(pos..pos + 1 + usize::from(len))?;
                out.extend_from_slice(label);
                pos += label.len();
            }
            _ => {
                pos = usize::from(u16::from_be_bytes([len & 0x3F, *msg.get(pos + 1)?]));
            }
        }
        if out.len() > span.wire_len {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `a.example. A` with, in the answer, an A record whose owner points at
    /// the question, then its RRSIG; in the authority an NSEC owned by `b.example.`
    /// (written in full), then an NS record whose owner points into the NSEC's owner and
    /// whose target is `ns.b.example.` compressed against it too.
    fn signed_answer() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 2, 0, 0];
        m.extend(b"\x01a\x07example\x00\x00\x01\x00\x01"); // question at 12
                                                           // A
        m.extend([0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        // RRSIG (opaque for this test)
        m.extend([0xC0, 12, 0, 46, 0, 1, 0, 0, 0, 60, 0, 3, 1, 2, 3]);
        // NSEC owned by b.example. in full
        let nsec_owner = m.len();
        m.extend(b"\x01b\x07example\x00");
        m.extend([0, 47, 0, 1, 0, 0, 0, 60, 0, 2, 0, 0]);
        // NS owned by b.example. (pointer into the NSEC), target ns + pointer
        m.extend([0xC0, nsec_owner as u8, 0, 2, 0, 1, 0, 0, 0, 60, 0, 5]);
        m.extend([2, b'n', b's', 0xC0, nsec_owner as u8]);
        m
    }

    fn names_of(msg: &[u8]) -> Vec<(u16, Vec<u8>, Vec<u8>)> {
        let mut r = Reader::new(msg);
        r.take(HEADER_LEN).unwrap();
        r.name(false).unwrap();
        r.take(4).unwrap();
        let total: u16 = [6, 8, 10]
            .iter()
            .map(|&at| u16::from_be_bytes([msg[at], msg[at + 1]]))
            .sum();
        let mut out = Vec::new();
        for _ in 0..total {
            let rec = r.record().unwrap();
            let owner = expand(msg, rec.name.start).unwrap();
            let rdata = if holds_names(rec.rtype) {
                let rd = Rdata::parse(msg, &rec).unwrap();
                rd.names()
                    .map(|n| expand(msg, n.start).unwrap())
                    .next()
                    .unwrap_or_default()
            } else {
                msg[rec.rdata_start..rec.rdata_end].to_vec()
            };
            out.push((rec.rtype, owner, rdata));
        }
        r.finish().unwrap();
        out
    }

    #[test]
    fn removes_rrsig_and_nsec_and_keeps_every_other_name_true() {
        let msg = signed_answer();
        let out = strip_dnssec(&msg, 1).expect("something to strip");
        assert_eq!(&out[6..12], &[0, 1, 0, 1, 0, 0]);
        let records = names_of(&out);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, 1);
        assert_eq!(records[0].1, b"\x01a\x07example\x00");
        assert_eq!(records[1].0, 2);
        assert_eq!(records[1].1, b"\x01b\x07example\x00");
        assert_eq!(records[1].2, b"\x02ns\x01b\x07example\x00");
    }

    #[test]
    fn records_asked_for_stay_and_clean_answers_are_untouched() {
        let msg = signed_answer();
        // Asking for NSEC: the NSEC stays, the RRSIG goes.
        let out = strip_dnssec(&msg, 47).unwrap();
        let types: Vec<u16> = names_of(&out).iter().map(|r| r.0).collect();
        assert_eq!(types, [1, 47, 2]);
        // Nothing to strip: None, the caller keeps the bytes it has.
        let mut plain = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        plain.extend(b"\x01a\x07example\x00\x00\x01\x00\x01");
        plain.extend([0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert_eq!(strip_dnssec(&plain, 1), None);
    }

    #[test]
    fn unreadable_input_is_none_not_a_panic() {
        let msg = signed_answer();
        for cut in 0..msg.len() {
            let _ = strip_dnssec(&msg[..cut], 1);
        }
        let mut bad = msg.clone();
        bad[7] = 9; // more answers than there are
        assert_eq!(strip_dnssec(&bad, 1), None);
    }
}
