//! RDATA of the record types whose RDATA holds domain names, read through the same
//! bounds-checked cursor as the rest of a message.
//!
//! RFC 3597 §4: the RDATA of the RFC 1035 types NS, MD, MF, CNAME, SOA, MB, MG, MR, PTR,
//! MINFO and MX may hold compressed names, and a receiver must decompress them. A name in
//! there is read with the rules of an owner name ([`Reader::name`]: labels of at most 63
//! octets, at most 255 octets in all, pointers strictly backwards and never into the
//! header), and its fields must fill RDLENGTH exactly: a name may not run on past its
//! RDATA, nor leave octets over. A pointer may still lead anywhere earlier in the message.
//!
//! Every other type is [`Rdata::Opaque`] here. The DNSSEC validator will add variants for
//! RRSIG, DNSKEY, DS, NSEC and NSEC3; the names in those are never compressed (RFC 4034
//! §3.1.7, §4.1.1; RFC 5155 §3.2), so they will be read with `Reader::name(false)`.
//!
//! Two readers share one set of rules: [`check`], on the hot path (every record of every
//! upstream reply), reads the fields from a layout table and builds nothing; [`Rdata::parse`]
//! returns a typed view for the code that needs the values. Neither allocates: a view holds
//! offsets ([`NameSpan`]) and numbers. They reach the same verdict (the unit tests here and
//! the `rdata` fuzz target check it).

use super::reader::{NameSpan, Reader, Record};
use super::WireError;

/// Record types whose RDATA this module reads (RFC 1035 §3.2.2).
pub mod rtype {
    /// An authoritative name server.
    pub const NS: u16 = 2;
    /// A mail destination (obsolete).
    pub const MD: u16 = 3;
    /// A mail forwarder (obsolete).
    pub const MF: u16 = 4;
    /// The canonical name for an alias.
    pub const CNAME: u16 = 5;
    /// The start of a zone of authority.
    pub const SOA: u16 = 6;
    /// A mailbox domain name (experimental).
    pub const MB: u16 = 7;
    /// A mail group member (experimental).
    pub const MG: u16 = 8;
    /// A mail rename domain name (experimental).
    pub const MR: u16 = 9;
    /// A domain name pointer.
    pub const PTR: u16 = 12;
    /// Mailbox or mail list information (experimental).
    pub const MINFO: u16 = 14;
    /// Mail exchange.
    pub const MX: u16 = 15;
}

/// The RDATA of one record, as far as strictdot reads it. Names are where they sit in the
/// message; [`NameSpan::wire_len`] is their uncompressed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rdata<'a> {
    /// NS, MD, MF, CNAME, MB, MG, MR or PTR: one name (RFC 1035 §3.3).
    Name(NameSpan),
    /// MINFO (RFC 1035 §3.3.7).
    Minfo {
        /// The mailbox responsible for the list.
        rmailbx: NameSpan,
        /// The mailbox that receives errors.
        emailbx: NameSpan,
    },
    /// MX (RFC 1035 §3.3.9).
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// The mail exchange host.
        exchange: NameSpan,
    },
    /// SOA (RFC 1035 §3.3.13).
    Soa(Soa),
    /// Any other type: RDLENGTH octets, not interpreted here.
    Opaque(&'a [u8]),
}

/// The fields of an SOA record (RFC 1035 §3.3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Soa {
    /// The primary name server of the zone.
    pub mname: NameSpan,
    /// The mailbox of the person responsible for the zone.
    pub rname: NameSpan,
    /// The zone's version.
    pub serial: u32,
    /// Seconds between refreshes by secondaries.
    pub refresh: u32,
    /// Seconds before a failed refresh is retried.
    pub retry: u32,
    /// Seconds after which a secondary stops answering without a refresh.
    pub expire: u32,
    /// The TTL of negative answers (RFC 2308 §4, with the SOA record's own TTL).
    pub minimum: u32,
}

/// How the RDATA of a type that holds names is laid out (RFC 1035 §3.3): fixed octets, the
/// names, fixed octets. The reply check needs no more than this.
#[derive(Clone, Copy)]
struct Layout {
    /// Octets before the first name (MX: PREFERENCE).
    before: usize,
    /// How many names follow.
    names: usize,
    /// Octets after the last name (SOA: SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM).
    after: usize,
}

/// The layout of `rtype`'s RDATA, if it holds names that may be compressed (RFC 3597 §4).
#[inline]
fn layout(rtype: u16) -> Option<Layout> {
    use rtype::*;
    let (before, names, after) = match rtype {
        NS | MD | MF | CNAME | MB | MG | MR | PTR => (0, 1, 0),
        MINFO => (0, 2, 0),
        MX => (2, 1, 0),
        SOA => (0, 2, 20),
        _ => return None,
    };
    Some(Layout {
        before,
        names,
        after,
    })
}

/// Whether the RDATA of `rtype` holds names that may be compressed (RFC 3597 §4), so that
/// [`check`] and [`Rdata::parse`] read it.
pub fn holds_names(rtype: u16) -> bool {
    layout(rtype).is_some()
}

/// The check every record of an upstream reply passes: for the types that hold names, the
/// same reading as [`Rdata::parse`] without building the view (same verdict, same error);
/// other types cost one comparison. Allocates nothing.
#[inline]
pub fn check(msg: &[u8], rec: &Record) -> Result<(), WireError> {
    match layout(rec.rtype) {
        None => Ok(()),
        // Offsets, not the record: the caller's `Record` then never needs to be in memory.
        Some(layout) => check_fields(msg, rec.rdata_start, rec.rdata_end, layout),
    }
}

/// [`check`] for a type that holds names, its RDATA at `start..end`.
fn check_fields(msg: &[u8], start: usize, end: usize, layout: Layout) -> Result<(), WireError> {
    let mut r = cursor(msg, start, end)?;
    let fields = |r: &mut Reader<'_>| -> Result<(), WireError> {
        r.take(layout.before)?;
        for _ in 0..layout.names {
            r.name(true)?;
        }
        r.take(layout.after)?;
        Ok(())
    };
    let read = fields(&mut r);
    whole(&r, read)
}

/// A cursor at RDATA `start..end` that sees the message only up to the end of that RDATA:
/// a field that runs on past it ends the message for the cursor. Pointers only go
/// backwards, so every octet a pointer can reach is still in view.
fn cursor(msg: &[u8], start: usize, end: usize) -> Result<Reader<'_>, WireError> {
    let upto = msg.get(..end).ok_or(WireError::Truncated)?;
    Reader::at(upto, start).ok_or(WireError::Truncated)
}

/// The outcome of reading every field with `r`: within the RDATA's bounds, running out of
/// octets means RDLENGTH is too short, and octets left over that it is too long.
fn whole<T>(r: &Reader<'_>, read: Result<T, WireError>) -> Result<T, WireError> {
    let value = match read {
        Ok(value) => value,
        Err(WireError::Truncated) => return Err(WireError::BadRdataLength),
        Err(e) => return Err(e),
    };
    r.finish().map_err(|_| WireError::BadRdataLength)?;
    Ok(value)
}

impl<'a> Rdata<'a> {
    /// Reads the RDATA of `rec`, a record of `msg` that [`Reader::record`] returned.
    ///
    /// For the types above, every field is read and together they must take exactly the
    /// record's RDLENGTH octets ([`WireError::BadRdataLength`] otherwise); names follow the
    /// owner-name rules (so a bad pointer is [`WireError::BadPointer`]). Other types are
    /// returned whole as [`Rdata::Opaque`].
    pub fn parse(msg: &'a [u8], rec: &Record) -> Result<Rdata<'a>, WireError> {
        use rtype::*;
        let mut r = cursor(msg, rec.rdata_start, rec.rdata_end)?;
        let fields = |r: &mut Reader<'a>| -> Result<Rdata<'a>, WireError> {
            Ok(match rec.rtype {
                NS | MD | MF | CNAME | MB | MG | MR | PTR => Rdata::Name(r.name(true)?),
                MINFO => Rdata::Minfo {
                    rmailbx: r.name(true)?,
                    emailbx: r.name(true)?,
                },
                MX => Rdata::Mx {
                    preference: r.u16()?,
                    exchange: r.name(true)?,
                },
                SOA => Rdata::Soa(Soa {
                    mname: r.name(true)?,
                    rname: r.name(true)?,
                    serial: r.u32()?,
                    refresh: r.u32()?,
                    retry: r.u32()?,
                    expire: r.u32()?,
                    minimum: r.u32()?,
                }),
                _ => Rdata::Opaque(r.take(r.remaining())?),
            })
        };
        let read = fields(&mut r);
        whole(&r, read)
    }

    /// Every name in this RDATA, in wire order (none for [`Rdata::Opaque`]).
    pub fn names(&self) -> impl Iterator<Item = NameSpan> {
        let (first, second) = match *self {
            Rdata::Name(n) => (Some(n), None),
            Rdata::Minfo { rmailbx, emailbx } => (Some(rmailbx), Some(emailbx)),
            Rdata::Mx { exchange, .. } => (Some(exchange), None),
            Rdata::Soa(soa) => (Some(soa.mname), Some(soa.rname)),
            Rdata::Opaque(_) => (None, None),
        };
        first.into_iter().chain(second)
    }
}

#[cfg(test)]
mod tests {
    use super::rtype::*;
    use super::*;
    use crate::dns::HEADER_LEN;

    /// A message of a dummy header, `before`, then one record owned by the root with
    /// `rdata` (RDLENGTH given, or the real length), then `after`; and that record.
    fn message(
        before: &[u8],
        rtype: u16,
        rdlen: Option<u16>,
        rdata: &[u8],
        after: &[u8],
    ) -> Vec<u8> {
        let mut m = vec![0u8; HEADER_LEN];
        m.extend(before);
        m.push(0);
        m.extend(rtype.to_be_bytes());
        m.extend([0, 1, 0, 0, 0, 60]);
        let len = rdlen.unwrap_or(rdata.len() as u16);
        m.extend(len.to_be_bytes());
        m.extend(rdata);
        m.extend(after);
        m
    }

    /// `Rdata::parse` on the record after `before_len` octets, asserting that [`check`]
    /// reaches the same verdict.
    fn parse(m: &[u8], before_len: usize) -> Result<Rdata<'_>, WireError> {
        let mut r = Reader::at(m, HEADER_LEN + before_len).unwrap();
        let rec = r.record()?;
        let view = Rdata::parse(m, &rec);
        assert_eq!(check(m, &rec), view.map(|_| ()), "check and parse disagree");
        view
    }

    /// `example.` at offset 12, for names to point back to.
    const EXAMPLE: &[u8] = b"\x07example\x00";
    const PTR_EXAMPLE: [u8; 2] = [0xC0, 0x0C];

    #[test]
    fn cname_plain_and_compressed() {
        let m = message(b"", CNAME, None, b"\x03www\x07example\x00", b"");
        let Rdata::Name(n) = parse(&m, 0).unwrap() else {
            panic!()
        };
        assert_eq!((n.wire_len, n.compressed), (13, false));
        let m = message(EXAMPLE, CNAME, None, b"\x03www\xC0\x0C", b"");
        let Rdata::Name(n) = parse(&m, EXAMPLE.len()).unwrap() else {
            panic!()
        };
        assert_eq!((n.wire_len, n.compressed), (13, true));
        assert_eq!(n.end, m.len());
    }

    #[test]
    fn good_compressed_mx() {
        let mut rdata = 10u16.to_be_bytes().to_vec();
        rdata.extend(b"\x04mail");
        rdata.extend(PTR_EXAMPLE);
        let m = message(EXAMPLE, MX, None, &rdata, b"");
        let rd = parse(&m, EXAMPLE.len()).unwrap();
        let Rdata::Mx {
            preference,
            exchange,
        } = rd
        else {
            panic!("{rd:?}")
        };
        assert_eq!(preference, 10);
        assert_eq!(exchange.wire_len, 14);
        assert_eq!(rd.names().count(), 1);
    }

    #[test]
    fn good_compressed_soa() {
        // mname ns.example (compressed), rname hostmaster pointing back into mname's
        // suffix, which is itself a pointer: a chain inside the RDATA.
        let rdata_at = HEADER_LEN + EXAMPLE.len() + 11;
        let mut rdata = b"\x02ns".to_vec();
        rdata.extend(PTR_EXAMPLE);
        rdata.extend(b"\x0ahostmaster");
        rdata.extend([0xC0, (rdata_at + 3) as u8]);
        for v in [2024010101u32, 7200, 3600, 1209600, 300] {
            rdata.extend(v.to_be_bytes());
        }
        let m = message(EXAMPLE, SOA, None, &rdata, b"");
        let rd = parse(&m, EXAMPLE.len()).unwrap();
        let Rdata::Soa(soa) = rd else {
            panic!("{rd:?}")
        };
        assert_eq!(soa.mname.wire_len, 12);
        assert_eq!(soa.rname.wire_len, 20);
        assert_eq!(
            (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
            (2024010101, 7200, 3600, 1209600, 300)
        );
        assert_eq!(rd.names().count(), 2);
    }

    #[test]
    fn minfo_two_names() {
        let rdata = b"\x01a\xC0\x0C\x01b\xC0\x0C";
        let m = message(EXAMPLE, MINFO, None, rdata, b"");
        assert!(matches!(parse(&m, EXAMPLE.len()), Ok(Rdata::Minfo { .. })));
        // One name only: too short.
        let m = message(EXAMPLE, MINFO, None, &rdata[..4], b"");
        assert_eq!(parse(&m, EXAMPLE.len()), Err(WireError::BadRdataLength));
    }

    #[test]
    fn forward_pointer_rejected() {
        // The CNAME points at a name after the record.
        let after = b"\x03cdn\x07example\x00";
        let rdata_end = HEADER_LEN + 11 + 2;
        let m = message(b"", CNAME, None, &[0xC0, rdata_end as u8], after);
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        // The same with a label first.
        let m = message(
            b"",
            PTR,
            None,
            &[1, b'x', 0xC0, (rdata_end + 2) as u8],
            after,
        );
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
    }

    #[test]
    fn pointer_loop_rejected() {
        // Two pointers in the NS RDATA pointing at each other.
        let rdata_at = HEADER_LEN + 11;
        let rdata = [0xC0, (rdata_at + 2) as u8, 0xC0, rdata_at as u8];
        let m = message(b"", NS, None, &rdata, b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        // A pointer to itself.
        let m = message(b"", NS, None, &[0xC0, rdata_at as u8], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        // Reached through a pointer, a label that would run forward over that pointer (here
        // also past the RDATA's end).
        let m = message(&[20], CNAME, None, &[0xC0, 12], &[b'x'; 20]);
        assert_eq!(parse(&m, 1), Err(WireError::BadPointer));
        // A pointer back to the start of its own name.
        let m = message(b"", NS, None, &[1, b'a', 0xC0, rdata_at as u8], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
    }

    #[test]
    fn pointer_past_end_rejected() {
        // A pointer beyond the end of the message.
        let m = message(b"", CNAME, None, &[0xC0, 0xFF], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        let m = message(b"", CNAME, None, &[0xFF, 0xFF], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        // A pointer into the header.
        let m = message(b"", CNAME, None, &[0xC0, 0x02], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadPointer));
        // A pointer whose second octet lies past RDLENGTH (in the next record).
        let m = message(EXAMPLE, CNAME, Some(1), &PTR_EXAMPLE, &[0; 11]);
        assert_eq!(parse(&m, EXAMPLE.len()), Err(WireError::BadRdataLength));
    }

    #[test]
    fn rdlength_mismatch_rejected() {
        // A name that runs on past RDLENGTH into what follows.
        let name = b"\x03www\x07example\x00";
        let m = message(b"", CNAME, Some(5), name, b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadRdataLength));
        // Octets left over after the name.
        let mut long = name.to_vec();
        long.push(0);
        let m = message(b"", CNAME, None, &long, b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadRdataLength));
        // MX without room for the exchange, SOA one octet short of MINIMUM.
        let m = message(b"", MX, None, &[0, 10], b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadRdataLength));
        let mut soa = b"\x00\x00".to_vec();
        soa.extend([0u8; 19]);
        let m = message(b"", SOA, None, &soa, b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadRdataLength));
        soa.push(0);
        assert!(matches!(
            parse(&message(b"", SOA, None, &soa, b""), 0),
            Ok(Rdata::Soa(_))
        ));
        // Empty RDATA for a name type.
        let m = message(b"", PTR, None, b"", b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadRdataLength));
    }

    #[test]
    fn name_limits_apply() {
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend([b'a'; 63]);
        }
        long.push(0);
        let m = message(b"", NS, None, &long, b"");
        assert_eq!(parse(&m, 0), Err(WireError::NameTooLong));
        let m = message(b"", NS, None, b"\x80", b"");
        assert_eq!(parse(&m, 0), Err(WireError::BadLabelType));
    }

    #[test]
    fn other_types_opaque() {
        // An A record and an unknown type: not interpreted, whatever they hold.
        let m = message(b"", 1, None, &[0xC0, 0xFF, 1, 2], b"");
        assert_eq!(parse(&m, 0), Ok(Rdata::Opaque(&[0xC0, 0xFF, 1, 2])));
        let m = message(b"", 0xFF00, None, b"", b"");
        assert_eq!(parse(&m, 0), Ok(Rdata::Opaque(&[])));
        assert_eq!(Rdata::Opaque(&[]).names().count(), 0);
    }
}
