//! Canonical form (RFC 4034 §6): names in lower case and uncompressed, their canonical
//! order, the canonical RDATA of each record type that embeds names, and the octets an
//! RRSIG signs (RFC 4034 §3.1.8.1).
//!
//! Every byte read here comes through [`Reader`]; names are walked with `split_first` and
//! `split_at_checked`, never by computed index.

use std::cmp::Ordering;
use std::fmt;

use crate::dns::reader::{Reader, MAX_LABEL_LEN, MAX_NAME_LEN};
use crate::dns::WireError;

/// A domain name in canonical form: uncompressed wire format, ASCII lower case
/// (RFC 4034 §6.2), at most 255 octets, labels at most 63. Only this module builds one,
/// so every `Name` is well-formed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(Vec<u8>);

/// The labels of a name, left to right, root excluded.
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        if len == 0 {
            return None;
        }
        let (label, rest) = tail.split_at_checked(usize::from(len))?;
        self.rest = rest;
        Some(label)
    }
}

impl Name {
    /// The root name.
    pub fn root() -> Name {
        Name(vec![0])
    }

    /// A name from uncompressed wire form that must be exactly one name (a query name).
    pub fn from_wire(wire: &[u8]) -> Result<Name, WireError> {
        let mut r = Reader::new(wire);
        r.name(false)?;
        r.finish()?;
        // Length octets are at most 63, below b'A', so lowering the whole buffer only
        // touches label octets.
        Ok(Name(wire.to_ascii_lowercase()))
    }

    /// Reads a name at the cursor, following compression pointers when `allow_pointers`
    /// (checked by [`Reader::name`]: strictly backwards, never into the header), and
    /// returns it uncompressed and lowered. The cursor ends just past the name.
    pub fn read(r: &mut Reader<'_>, allow_pointers: bool) -> Result<Name, WireError> {
        let span = r.name(allow_pointers)?;
        let mut out = Vec::with_capacity(span.wire_len);
        let mut cur = Reader::at(r.message(), span.start).ok_or(WireError::Truncated)?;
        // `Reader::name` accepted the whole chain; this walk copies it, and is bounded
        // on its own in case the two ever disagree.
        for _ in 0..2 * MAX_NAME_LEN {
            let len = cur.u8()?;
            match len & 0xC0 {
                0x00 => {
                    out.push(len);
                    if len == 0 {
                        return Ok(Name(out));
                    }
                    let label = cur.take(usize::from(len))?;
                    out.extend(label.iter().map(u8::to_ascii_lowercase));
                    if out.len() > MAX_NAME_LEN {
                        return Err(WireError::NameTooLong);
                    }
                }
                0xC0 => {
                    let low = cur.u8()?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    cur = Reader::at(r.message(), target).ok_or(WireError::BadPointer)?;
                }
                _ => return Err(WireError::BadLabelType),
            }
        }
        Err(WireError::BadPointer)
    }

    /// A name from presentation text (`www.example.`, `.`): absolute only, with `\X` and
    /// `\DDD` escapes (RFC 1035 §5.1). Returns `None` for anything else.
    pub fn from_text(text: &str) -> Option<Name> {
        if text == "." {
            return Some(Name::root());
        }
        let body = text.strip_suffix('.')?;
        let mut out = Vec::with_capacity(text.len() + 1);
        let mut label: Vec<u8> = Vec::new();
        let mut bytes = body.bytes();
        loop {
            let b = bytes.next();
            match b {
                None | Some(b'.') => {
                    if label.is_empty() || label.len() > MAX_LABEL_LEN {
                        return None;
                    }
                    out.push(label.len() as u8);
                    out.extend(label.iter().map(u8::to_ascii_lowercase));
                    label.clear();
                    if b.is_none() {
                        break;
                    }
                }
                Some(b'\\') => {
                    let first = bytes.next()?;
                    if first.is_ascii_digit() {
                        let d2 = bytes.next().filter(u8::is_ascii_digit)?;
                        let d3 = bytes.next().filter(u8::is_ascii_digit)?;
                        let v = u32::from(first - b'0') * 100
                            + u32::from(d2 - b'0') * 10
                            + u32::from(d3 - b'0');
                        label.push(u8::try_from(v).ok()?);
                    } else {
                        label.push(first);
                    }
                }
                Some(c) => label.push(c),
            }
        }
        out.push(0);
        (out.len() <= MAX_NAME_LEN).then_some(Name(out))
    }

    /// The uncompressed, lowered wire form.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The labels, left to right, root excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.0 }
    }

    /// Number of labels, root excluded (`www.example.` has 2).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.as_slice() == [0]
    }

    /// Whether the leftmost label is `*` (RFC 4592).
    pub fn is_wildcard(&self) -> bool {
        self.labels().next() == Some(b"*".as_slice())
    }

    /// The name with its leftmost `n` labels removed (`None` if it has fewer).
    fn strip_left(&self, n: usize) -> Option<&[u8]> {
        let mut rest = self.0.as_slice();
        for _ in 0..n {
            let (&len, tail) = rest.split_first()?;
            if len == 0 {
                return None;
            }
            rest = tail.get(usize::from(len)..)?;
        }
        Some(rest)
    }

    /// The parent name (`None` for the root).
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        self.strip_left(1).map(|rest| Name(rest.to_vec()))
    }

    /// The ancestor made of the rightmost `keep` labels (`None` if there are fewer).
    pub fn suffix(&self, keep: usize) -> Option<Name> {
        let drop = self.label_count().checked_sub(keep)?;
        self.strip_left(drop).map(|rest| Name(rest.to_vec()))
    }

    /// Whether this name is `zone` or below it.
    pub fn is_subdomain_of(&self, zone: &Name) -> bool {
        self.label_count()
            .checked_sub(zone.label_count())
            .and_then(|drop| self.strip_left(drop))
            .is_some_and(|rest| rest == zone.0.as_slice())
    }

    /// Whether this name is strictly below `zone`.
    pub fn is_below(&self, zone: &Name) -> bool {
        self != zone && self.is_subdomain_of(zone)
    }

    /// `*.` prepended (`None` if the result would be too long).
    pub fn wildcard(&self) -> Option<Name> {
        self.prepend(b"*")
    }

    /// One label prepended (`None` if too long or not a label).
    pub fn prepend(&self, label: &[u8]) -> Option<Name> {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return None;
        }
        let mut out = Vec::with_capacity(self.0.len() + label.len() + 1);
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
        out.extend(&self.0);
        (out.len() <= MAX_NAME_LEN).then_some(Name(out))
    }

    /// The ancestor of `self` one label longer than `ancestor` (the "next closer" name of
    /// RFC 5155 §1.3). `None` unless `self` is strictly below `ancestor`.
    pub fn child_toward(&self, ancestor: &Name) -> Option<Name> {
        if !self.is_below(ancestor) {
            return None;
        }
        self.suffix(ancestor.label_count() + 1)
    }

    /// DNAME substitution (RFC 6672 §2.2): `self` strictly below `owner`, with `owner`
    /// replaced by `target`. `None` if not below or if the result is too long.
    pub fn substitute(&self, owner: &Name, target: &Name) -> Option<Name> {
        if !self.is_below(owner) {
            return None;
        }
        let prefix = self.0.strip_suffix(owner.0.as_slice())?;
        let mut out = Vec::with_capacity(prefix.len() + target.0.len());
        out.extend(prefix);
        out.extend(&target.0);
        (out.len() <= MAX_NAME_LEN).then_some(Name(out))
    }

    /// The longest common ancestor of two names.
    pub fn common_ancestor(&self, other: &Name) -> Name {
        let a: Vec<&[u8]> = self.labels().collect();
        let b: Vec<&[u8]> = other.labels().collect();
        let same = a
            .iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .count();
        self.suffix(same).unwrap_or_else(Name::root)
    }

    /// Canonical order (RFC 4034 §6.1): labels compared right to left as lower-case octet
    /// strings, a missing label sorting first.
    pub fn canonical_cmp(&self, other: &Name) -> Ordering {
        let a: Vec<&[u8]> = self.labels().collect();
        let b: Vec<&[u8]> = other.labels().collect();
        for (x, y) in a.iter().rev().zip(b.iter().rev()) {
            match x.cmp(y) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        a.len().cmp(&b.len())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::dns::name_to_text(&self.0))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::dns::name_to_text(&self.0))
    }
}

/// One field of an RDATA layout.
#[derive(Clone, Copy)]
enum Field {
    /// A domain name: decompressed and lowered.
    Name,
    /// Octets copied as they are.
    Fixed(usize),
    /// A <character-string>: a length octet and that many octets.
    CharString,
    /// Everything to the end of the RDATA.
    Rest,
}

/// The RDATA layout of the types whose names RFC 4034 §6.2 (item 3) lowers, as corrected
/// by RFC 6840 §5.1 (NSEC's next name is *not* lowered, so NSEC is copied as it is).
/// Types not listed here are copied as they are (RFC 3597 §7).
fn layout(rtype: u16) -> Option<&'static [Field]> {
    use Field::*;
    Some(match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        // SOA: MNAME, RNAME, five 32-bit fields
        6 => &[Name, Name, Fixed(20)],
        // MINFO, RP
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX: preference then a name
        15 | 18 | 21 | 36 => &[Fixed(2), Name],
        // PX
        26 => &[Fixed(2), Name, Name],
        // SRV: priority, weight, port, target
        33 => &[Fixed(6), Name],
        // NAPTR: order, preference, flags, services, regexp, replacement
        35 => &[Fixed(4), CharString, CharString, CharString, Name],
        // SIG, RRSIG: 18 fixed octets, signer's name, signature
        24 | 46 => &[Fixed(18), Name, Rest],
        // NXT
        30 => &[Name, Rest],
        _ => return None,
    })
}

/// The canonical RDATA (RFC 4034 §6.2) of the record whose RDATA is
/// `msg[start..end]`: names decompressed and lowered for the types that embed them,
/// anything else copied. Every field must lie within the RDATA and fill it exactly.
pub fn canonical_rdata(
    msg: &[u8],
    rtype: u16,
    start: usize,
    end: usize,
) -> Result<Vec<u8>, WireError> {
    let raw = msg.get(start..end).ok_or(WireError::Truncated)?;
    let Some(fields) = layout(rtype) else {
        return Ok(raw.to_vec());
    };
    let mut r = Reader::at(msg, start).ok_or(WireError::Truncated)?;
    let mut out = Vec::with_capacity(raw.len());
    for field in fields {
        match *field {
            Field::Name => out.extend(Name::read(&mut r, true)?.as_wire()),
            Field::Fixed(n) => out.extend(r.take(n)?),
            Field::CharString => {
                let len = r.u8()?;
                out.push(len);
                out.extend(r.take(usize::from(len))?);
            }
            Field::Rest => {
                out.extend(msg.get(r.pos()..end).ok_or(WireError::Truncated)?);
                r = Reader::at(msg, end).ok_or(WireError::Truncated)?;
            }
        }
        if r.pos() > end {
            return Err(WireError::Truncated);
        }
    }
    if r.pos() != end {
        return Err(WireError::TrailingBytes);
    }
    Ok(out)
}

/// The octets an RRSIG signs (RFC 4034 §3.1.8.1): the RRSIG RDATA without its signature
/// (`rrsig_prefix`, signer's name already canonical), then every record of the RRset in
/// canonical form and order (§6.2, §6.3) with the original TTL. `owner` is the name as
/// signed: for a wildcard expansion, `*.` and the source's labels (RFC 4035 §5.3.2).
/// `rdatas` must already be canonical, sorted and without duplicates.
pub fn signed_data(
    rrsig_prefix: &[u8],
    owner: &Name,
    rtype: u16,
    class: u16,
    original_ttl: u32,
    rdatas: &[Vec<u8>],
) -> Option<Vec<u8>> {
    let per_record = owner.as_wire().len() + 10;
    let total: usize = rdatas.iter().map(|d| per_record + d.len()).sum();
    let mut out = Vec::with_capacity(rrsig_prefix.len() + total);
    out.extend(rrsig_prefix);
    for rdata in rdatas {
        let len = u16::try_from(rdata.len()).ok()?;
        out.extend(owner.as_wire());
        out.extend(rtype.to_be_bytes());
        out.extend(class.to_be_bytes());
        out.extend(original_ttl.to_be_bytes());
        out.extend(len.to_be_bytes());
        out.extend(rdata);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    #[test]
    fn text_and_wire_forms_are_lowered() {
        assert_eq!(n("WwW.Example.").as_wire(), b"\x03www\x07example\x00");
        assert_eq!(n(".").as_wire(), b"\x00");
        assert_eq!(n("a\\.b.c.").as_wire(), b"\x03a.b\x01c\x00");
        assert_eq!(n("\\065.c.").as_wire(), b"\x01a\x01c\x00");
        assert!(Name::from_text("relative").is_none());
        assert!(Name::from_text("a..b.").is_none());
        assert!(Name::from_text("\\256.").is_none());
        let wire = Name::from_wire(b"\x03WWW\x07EXAMPLE\x00").unwrap();
        assert_eq!(wire, n("www.example."));
        assert!(Name::from_wire(b"\x03www\x00junk").is_err());
    }

    #[test]
    fn read_decompresses_and_lowers() {
        let mut msg = vec![0u8; 12];
        msg.extend(b"\x07EXAMPLE\x00\x03Www\xC0\x0C");
        let mut r = Reader::at(&msg, 21).unwrap();
        let name = Name::read(&mut r, true).unwrap();
        assert_eq!(name, n("www.example."));
        assert_eq!(r.pos(), msg.len());
        let mut r = Reader::at(&msg, 21).unwrap();
        assert_eq!(Name::read(&mut r, false), Err(WireError::PointerNotAllowed));
    }

    #[test]
    fn label_arithmetic() {
        let name = n("a.b.example.");
        assert_eq!(name.label_count(), 3);
        assert_eq!(n(".").label_count(), 0);
        assert_eq!(name.parent(), Some(n("b.example.")));
        assert_eq!(n(".").parent(), None);
        assert_eq!(name.suffix(1), Some(n("example.")));
        assert_eq!(name.suffix(0), Some(n(".")));
        assert_eq!(name.suffix(4), None);
        assert!(name.is_subdomain_of(&n("example.")));
        assert!(name.is_subdomain_of(&n(".")));
        assert!(name.is_subdomain_of(&name));
        assert!(!name.is_below(&name));
        assert!(!n("xexample.").is_subdomain_of(&n("example.")));
        // A label that contains what looks like a shorter name on the wire.
        let tricky = Name::from_wire(b"\x04a\x02bc\x00").unwrap();
        assert!(!tricky.is_subdomain_of(&Name::from_wire(b"\x02bc\x00").unwrap()));
        assert_eq!(name.child_toward(&n("example.")), Some(n("b.example.")));
        assert_eq!(name.child_toward(&name), None);
        assert_eq!(n("example.").wildcard(), Some(n("*.example.")));
        assert!(n("*.example.").is_wildcard());
        assert!(!n("a*.example.").is_wildcard());
        assert_eq!(
            name.substitute(&n("example."), &n("other.net.")),
            Some(n("a.b.other.net."))
        );
        assert_eq!(n("example.").substitute(&n("example."), &n("x.")), None);
        assert_eq!(
            n("a.b.example.").common_ancestor(&n("c.b.example.")),
            n("b.example.")
        );
        assert_eq!(n("a.example.").common_ancestor(&n("a.net.")), n("."));
    }

    #[test]
    fn too_long_results_are_refused() {
        let label = "a".repeat(63);
        let long = n(&format!("{label}.{label}.{label}.{}.", "b".repeat(61)));
        assert_eq!(long.as_wire().len(), 255);
        assert!(long.wildcard().is_none());
        assert!(n("x.y.").substitute(&n("y."), &long).is_none());
    }

    /// RFC 4034 §6.1: the example list, in canonical order.
    #[test]
    fn canonical_order_matches_rfc_4034_example() {
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let names: Vec<Name> = ordered.iter().map(|t| n(t)).collect();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                assert_eq!(a.canonical_cmp(b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn canonical_rdata_lowers_and_decompresses_listed_types_only() {
        // A message: header, "example." at 12, then RDATA areas.
        let mut msg = vec![0u8; 12];
        msg.extend(b"\x07EXAMPLE\x00");
        // MX: preference 10, "Mail" + pointer to example.
        let mx_start = msg.len();
        msg.extend(b"\x00\x0a\x04Mail\xC0\x0C");
        let mx_end = msg.len();
        assert_eq!(
            canonical_rdata(&msg, 15, mx_start, mx_end).unwrap(),
            b"\x00\x0a\x04mail\x07example\x00"
        );
        // NSEC: copied as it is (RFC 6840 §5.1), case kept.
        let nsec_start = msg.len();
        msg.extend(b"\x01B\x00\x00\x01\x40");
        let nsec_end = msg.len();
        assert_eq!(
            canonical_rdata(&msg, 47, nsec_start, nsec_end).unwrap(),
            b"\x01B\x00\x00\x01\x40"
        );
        // A CNAME whose name runs past RDLENGTH, or leaves octets over.
        assert_eq!(
            canonical_rdata(&msg, 5, mx_start + 2, mx_end - 1),
            Err(WireError::Truncated)
        );
        assert_eq!(
            canonical_rdata(&msg, 5, mx_start + 2, mx_end + 1),
            Err(WireError::TrailingBytes)
        );
        // SOA with too few fixed octets.
        let soa_start = msg.len();
        msg.extend(b"\x00\x00\x00\x01\x02\x03");
        let soa_end = msg.len();
        assert!(canonical_rdata(&msg, 6, soa_start, soa_end).is_err());
        // Unknown type: opaque.
        assert_eq!(
            canonical_rdata(&msg, 65280, soa_start, soa_end).unwrap(),
            b"\x00\x00\x00\x01\x02\x03"
        );
    }

    #[test]
    fn signed_data_layout() {
        let data = signed_data(
            b"PREFIX",
            &n("a.example."),
            1,
            1,
            3600,
            &[vec![192, 0, 2, 1], vec![192, 0, 2, 2]],
        )
        .unwrap();
        let mut want = b"PREFIX".to_vec();
        for last in [1u8, 2] {
            want.extend(b"\x01a\x07example\x00\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04");
            want.extend([192, 0, 2, last]);
        }
        assert_eq!(data, want);
    }
}
