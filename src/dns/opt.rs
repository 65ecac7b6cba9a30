//! Adding options to the OPT record of an answer strictdot sends (EDNS(0), RFC 6891):
//! Extended DNS Errors (RFC 8914) and Padding (RFC 7830) both go there.

use super::reader::Reader;
use super::{HEADER_LEN, MAX_MESSAGE_LEN, TYPE_OPT};

/// Appends the option `code` with `data` to the OPT record of `msg`, adding an empty OPT
/// record (with `dnssec_ok` as its DO bit, counted in ARCOUNT) first if `msg` has none.
/// Returns false, leaving `msg` as it was, if `msg` cannot be walked or would outgrow a
/// DNS message or the OPT record.
pub fn insert_option(msg: &mut Vec<u8>, code: u16, data: &[u8], dnssec_ok: bool) -> bool {
    let Ok(data_len) = u16::try_from(data.len()) else {
        return false;
    };
    let added = 4 + data.len();
    let (rdlen_at, rdata_end) = match find_opt(msg) {
        Some(found) => found,
        None => {
            if msg.len() + 11 + added > MAX_MESSAGE_LEN || !add_opt(msg, dnssec_ok) {
                return false;
            }
            match find_opt(msg) {
                Some(found) => found,
                None => return false,
            }
        }
    };
    let Some(rdlen) = msg
        .get(rdlen_at..rdlen_at + 2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return false;
    };
    let Ok(grown) = u16::try_from(rdlen + added) else {
        return false;
    };
    if msg.len() + added > MAX_MESSAGE_LEN {
        return false;
    }
    let mut option = Vec::with_capacity(added);
    option.extend(code.to_be_bytes());
    option.extend(data_len.to_be_bytes());
    option.extend(data);
    msg.splice(rdata_end..rdata_end, option);
    msg[rdlen_at..rdlen_at + 2].copy_from_slice(&grown.to_be_bytes());
    true
}

/// The DO bit of the OPT record of `msg`, or `None` if it has none.
pub fn dnssec_ok(msg: &[u8]) -> Option<bool> {
    let (rdlen_at, _) = find_opt(msg)?;
    // The TTL field (extended RCODE, version, flags) sits just before RDLENGTH.
    msg.get(rdlen_at - 2).map(|b| b & 0x80 != 0)
}

/// Appends an empty OPT record and counts it in ARCOUNT.
fn add_opt(msg: &mut Vec<u8>, dnssec_ok: bool) -> bool {
    let Some(count) = msg.get(10..12).map(|b| u16::from_be_bytes([b[0], b[1]])) else {
        return false;
    };
    let Some(count) = count.checked_add(1) else {
        return false;
    };
    msg[10..12].copy_from_slice(&count.to_be_bytes());
    msg.push(0);
    msg.extend(TYPE_OPT.to_be_bytes());
    msg.extend(super::synth::ADVERTISED_UDP_PAYLOAD.to_be_bytes());
    msg.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    true
}

/// Where the OPT record's RDLENGTH field sits and where its RDATA ends.
pub fn find_opt(msg: &[u8]) -> Option<(usize, usize)> {
    let mut r = Reader::at(msg, HEADER_LEN)?;
    let count = |at: usize| {
        msg.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    for _ in 0..qd {
        r.name(true).ok()?;
        r.take(4).ok()?;
    }
    for _ in 0..(u32::from(an) + u32::from(ns)) {
        r.record().ok()?;
    }
    for _ in 0..ar {
        let rec = r.record().ok()?;
        if rec.rtype == TYPE_OPT {
            return Some((rec.rdata_start - 2, rec.rdata_end));
        }
    }
    None
}
