//! The records a validator reads: a response message grouped into RRsets with their
//! RRSIGs, and views of the DNSSEC RDATA (RRSIG, DNSKEY, DS, NSEC, NSEC3; RFC 4034 §2-§5,
//! RFC 5155 §3). Everything is parsed through [`Reader`]; RDATA is kept in canonical form
//! (RFC 4034 §6.2) so it can be signed over, compared and sorted as it is.

use std::collections::HashMap;

use super::canonical::{canonical_rdata, Name};
use crate::dns::header::Header;
use crate::dns::query::read_question;
use crate::dns::reader::Reader;
use crate::dns::{WireError, TYPE_OPT};

/// Record types the validator names.
pub mod types {
    /// NS.
    pub const NS: u16 = 2;
    /// CNAME.
    pub const CNAME: u16 = 5;
    /// SOA.
    pub const SOA: u16 = 6;
    /// DNAME (RFC 6672).
    pub const DNAME: u16 = 39;
    /// DS.
    pub const DS: u16 = 43;
    /// RRSIG.
    pub const RRSIG: u16 = 46;
    /// NSEC.
    pub const NSEC: u16 = 47;
    /// DNSKEY.
    pub const DNSKEY: u16 = 48;
    /// NSEC3 (RFC 5155).
    pub const NSEC3: u16 = 50;
    /// NSEC3PARAM (RFC 5155).
    pub const NSEC3PARAM: u16 = 51;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;

/// A parsed RRSIG (RFC 4034 §3.1).
#[derive(Clone, Debug)]
pub struct Rrsig {
    /// Type Covered.
    pub type_covered: u16,
    /// Algorithm.
    pub algorithm: u8,
    /// Labels of the original owner, root and a leading `*` not counted.
    pub labels: u8,
    /// Original TTL.
    pub original_ttl: u32,
    /// Signature Expiration (serial-number time, RFC 4034 §3.1.5).
    pub expiration: u32,
    /// Signature Inception.
    pub inception: u32,
    /// Key Tag.
    pub key_tag: u16,
    /// Signer's Name, canonical.
    pub signer: Name,
    /// The signature octets.
    pub signature: Vec<u8>,
    /// The RDATA without the signature, in canonical form: the head of the signed data.
    pub signed_prefix: Vec<u8>,
}

impl Rrsig {
    /// Parses canonical RRSIG RDATA (no compression), which it must fill exactly.
    pub fn parse(rdata: &[u8]) -> Result<Rrsig, WireError> {
        let mut r = Reader::new(rdata);
        let type_covered = r.u16()?;
        let algorithm = r.u8()?;
        let labels = r.u8()?;
        let original_ttl = r.u32()?;
        let expiration = r.u32()?;
        let inception = r.u32()?;
        let key_tag = r.u16()?;
        let signer = Name::read(&mut r, false)?;
        let signed_prefix = rdata.get(..r.pos()).ok_or(WireError::Truncated)?.to_vec();
        let signature = r.take(r.remaining())?.to_vec();
        if signature.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok(Rrsig {
            type_covered,
            algorithm,
            labels,
            original_ttl,
            expiration,
            inception,
            key_tag,
            signer,
            signature,
            signed_prefix,
        })
    }
}

/// A parsed DNSKEY (RFC 4034 §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dnskey {
    /// Flags.
    pub flags: u16,
    /// Protocol (must be 3).
    pub protocol: u8,
    /// Algorithm.
    pub algorithm: u8,
    /// The public key, in the algorithm's DNS format.
    pub public_key: Vec<u8>,
    /// The whole RDATA (what DS digests and key tags are computed over).
    pub rdata: Vec<u8>,
    /// Key tag (RFC 4034 Appendix B).
    pub tag: u16,
}

impl Dnskey {
    /// Zone Key flag (RFC 4034 §2.1.1).
    pub const ZONE: u16 = 0x0100;
    /// REVOKE flag (RFC 5011 §3).
    pub const REVOKE: u16 = 0x0080;
    /// Secure Entry Point flag (RFC 4034 §2.1.1), informational only (RFC 4035 §5.2).
    pub const SEP: u16 = 0x0001;

    /// Parses DNSKEY RDATA, which it must fill exactly (the key is everything after the
    /// four fixed octets and must not be empty).
    pub fn parse(rdata: &[u8]) -> Result<Dnskey, WireError> {
        let mut r = Reader::new(rdata);
        let flags = r.u16()?;
        let protocol = r.u8()?;
        let algorithm = r.u8()?;
        let public_key = r.take(r.remaining())?.to_vec();
        if public_key.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok(Dnskey {
            flags,
            protocol,
            algorithm,
            public_key,
            rdata: rdata.to_vec(),
            tag: key_tag(rdata),
        })
    }

    /// Whether this key may verify zone data: Zone Key set, not revoked (RFC 5011 §2.1),
    /// protocol 3 (RFC 4034 §2.1.2).
    pub fn usable(&self) -> bool {
        self.flags & Self::ZONE != 0 && self.flags & Self::REVOKE == 0 && self.protocol == 3
    }
}

/// The key tag of DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1's special form is not
/// needed, RSA/MD5 being unsupported).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        acc += if i % 2 == 0 {
            u64::from(b) << 8
        } else {
            u64::from(b)
        };
    }
    acc += (acc >> 16) & 0xFFFF;
    (acc & 0xFFFF) as u16
}

/// A parsed DS (RFC 4034 §5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ds {
    /// Key Tag of the DNSKEY it names.
    pub key_tag: u16,
    /// Algorithm of that DNSKEY.
    pub algorithm: u8,
    /// Digest Type.
    pub digest_type: u8,
    /// Digest.
    pub digest: Vec<u8>,
}

impl Ds {
    /// Parses DS RDATA, which it must fill exactly (the digest must not be empty).
    pub fn parse(rdata: &[u8]) -> Result<Ds, WireError> {
        let mut r = Reader::new(rdata);
        let key_tag = r.u16()?;
        let algorithm = r.u8()?;
        let digest_type = r.u8()?;
        let digest = r.take(r.remaining())?.to_vec();
        if digest.is_empty() {
            return Err(WireError::Truncated);
        }
        Ok(Ds {
            key_tag,
            algorithm,
            digest_type,
            digest,
        })
    }
}

/// A type bitmap (RFC 4034 §4.1.2), checked on construction: windows in increasing
/// order, each 1 to 32 octets long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeBitmap(Vec<u8>);

impl TypeBitmap {
    /// Checks and keeps the bitmap octets.
    pub fn parse(octets: &[u8]) -> Result<TypeBitmap, WireError> {
        let mut r = Reader::new(octets);
        let mut last: Option<u8> = None;
        while !r.is_empty() {
            let window = r.u8()?;
            let len = r.u8()?;
            if last.is_some_and(|l| window <= l) || len == 0 || len > 32 {
                return Err(WireError::BadCount);
            }
            r.take(usize::from(len))?;
            last = Some(window);
        }
        Ok(TypeBitmap(octets.to_vec()))
    }

    /// Whether `rtype` is present.
    pub fn contains(&self, rtype: u16) -> bool {
        let [window, low] = rtype.to_be_bytes();
        let mut r = Reader::new(&self.0);
        while let (Ok(w), Ok(len)) = (r.u8(), r.u8()) {
            let Ok(bits) = r.take(usize::from(len)) else {
                return false;
            };
            if w == window {
                return bits
                    .get(usize::from(low / 8))
                    .is_some_and(|b| b & (0x80 >> (low % 8)) != 0);
            }
        }
        false
    }
}

/// A parsed NSEC (RFC 4034 §4.1).
#[derive(Clone, Debug)]
pub struct Nsec {
    /// Next Domain Name, lowered for comparison (the signed RDATA keeps its case).
    pub next: Name,
    /// The types at the owner.
    pub types: TypeBitmap,
}

impl Nsec {
    /// Parses NSEC RDATA (the next name is never compressed, RFC 4034 §4.1.1).
    pub fn parse(rdata: &[u8]) -> Result<Nsec, WireError> {
        let mut r = Reader::new(rdata);
        let next = Name::read(&mut r, false)?;
        let types = TypeBitmap::parse(r.take(r.remaining())?)?;
        Ok(Nsec { next, types })
    }
}

/// A parsed NSEC3 (RFC 5155 §3.2).
#[derive(Clone, Debug)]
pub struct Nsec3 {
    /// Hash Algorithm (1 = SHA-1).
    pub hash_algorithm: u8,
    /// Flags (bit 0: Opt-Out).
    pub flags: u8,
    /// Additional hash iterations.
    pub iterations: u16,
    /// Salt.
    pub salt: Vec<u8>,
    /// Next Hashed Owner Name, binary.
    pub next_hashed: Vec<u8>,
    /// The types at the original owner.
    pub types: TypeBitmap,
}

impl Nsec3 {
    /// The Opt-Out flag (RFC 5155 §3.1.2.1).
    pub const OPT_OUT: u8 = 0x01;

    /// Parses NSEC3 RDATA, which it must fill exactly.
    pub fn parse(rdata: &[u8]) -> Result<Nsec3, WireError> {
        let mut r = Reader::new(rdata);
        let hash_algorithm = r.u8()?;
        let flags = r.u8()?;
        let iterations = r.u16()?;
        let salt_len = r.u8()?;
        let salt = r.take(usize::from(salt_len))?.to_vec();
        let hash_len = r.u8()?;
        if hash_len == 0 {
            return Err(WireError::Truncated);
        }
        let next_hashed = r.take(usize::from(hash_len))?.to_vec();
        let types = TypeBitmap::parse(r.take(r.remaining())?)?;
        Ok(Nsec3 {
            hash_algorithm,
            flags,
            iterations,
            salt,
            next_hashed,
            types,
        })
    }

    /// Whether Opt-Out is set.
    pub fn opt_out(&self) -> bool {
        self.flags & Self::OPT_OUT != 0
    }
}

/// An RRset of a response, with the RRSIGs that cover it.
#[derive(Clone, Debug)]
pub struct Rrset {
    /// Owner name, canonical.
    pub owner: Name,
    /// TYPE.
    pub rtype: u16,
    /// CLASS.
    pub class: u16,
    /// The lowest TTL of its records.
    pub ttl: u32,
    /// Canonical RDATA, sorted and without duplicates (RFC 4034 §6.3).
    pub rdatas: Vec<Vec<u8>>,
    /// The RRSIGs with this owner, class and Type Covered, in the order received.
    pub sigs: Vec<Rrsig>,
}

/// A response as the validator reads it.
#[derive(Clone, Debug)]
pub struct Message {
    /// The 4-bit RCODE.
    pub rcode: u8,
    /// Question name, canonical.
    pub qname: Name,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// Answer section RRsets (RRSIGs folded in).
    pub answer: Vec<Rrset>,
    /// Authority section RRsets (RRSIGs folded in).
    pub authority: Vec<Rrset>,
}

/// RCODE NOERROR.
pub const NOERROR: u8 = 0;
/// RCODE NXDOMAIN.
pub const NXDOMAIN: u8 = 3;

impl Message {
    /// Parses a response: one question, then the answer and authority sections grouped
    /// into RRsets. The additional section is walked for well-formedness and otherwise
    /// ignored (glue and OPT are not validated data). RRSIGs that do not parse, or that
    /// cover nothing present, are dropped.
    pub fn parse(msg: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader::new(msg);
        let header = Header::read(&mut r)?;
        if header.qdcount != 1 {
            return Err(WireError::BadCount);
        }
        let q = read_question(&mut r)?;
        let qname = Name::read(
            &mut Reader::at(msg, q.name.start).ok_or(WireError::Truncated)?,
            false,
        )?;
        let answer = read_section(&mut r, header.ancount)?;
        let authority = read_section(&mut r, header.nscount)?;
        for _ in 0..header.arcount {
            r.record()?;
        }
        r.finish()?;
        Ok(Message {
            rcode: (header.flags & 0x000F) as u8,
            qname,
            qtype: q.qtype,
            qclass: q.qclass,
            answer,
            authority,
        })
    }

    /// The answer-section RRset with this owner and type, if any.
    pub fn answer_rrset(&self, owner: &Name, rtype: u16) -> Option<&Rrset> {
        self.answer
            .iter()
            .find(|s| s.rtype == rtype && &s.owner == owner)
    }
}

/// Reads `count` records and groups them into RRsets (owner, type, class), attaching each
/// RRSIG to the RRset it covers.
fn read_section(r: &mut Reader<'_>, count: u16) -> Result<Vec<Rrset>, WireError> {
    let msg = r.message();
    let mut sets: Vec<Rrset> = Vec::new();
    let mut index: HashMap<(Name, u16, u16), usize> = HashMap::new();
    let mut sigs: Vec<(Name, u16, Rrsig)> = Vec::new();
    for _ in 0..count {
        let rec = r.record()?;
        if rec.rtype == TYPE_OPT {
            return Err(WireError::BadOpt);
        }
        let owner = Name::read(
            &mut Reader::at(msg, rec.name.start).ok_or(WireError::Truncated)?,
            true,
        )?;
        let rdata = canonical_rdata(msg, rec.rtype, rec.rdata_start, rec.rdata_end)?;
        if rec.rtype == types::RRSIG {
            if let Ok(sig) = Rrsig::parse(&rdata) {
                sigs.push((owner, rec.class, sig));
            }
            continue;
        }
        let key = (owner, rec.rtype, rec.class);
        match index.get(&key) {
            Some(&at) => {
                if let Some(set) = sets.get_mut(at) {
                    set.ttl = set.ttl.min(rec.ttl);
                    set.rdatas.push(rdata);
                }
            }
            None => {
                index.insert(key.clone(), sets.len());
                sets.push(Rrset {
                    owner: key.0,
                    rtype: rec.rtype,
                    class: rec.class,
                    ttl: rec.ttl,
                    rdatas: vec![rdata],
                    sigs: Vec::new(),
                });
            }
        }
    }
    for (owner, class, sig) in sigs {
        if let Some(set) = index
            .get(&(owner, sig.type_covered, class))
            .and_then(|&at| sets.get_mut(at))
        {
            set.sigs.push(sig);
        }
    }
    for set in &mut sets {
        set.rdatas.sort();
        set.rdatas.dedup();
    }
    Ok(sets)
}

/// Decodes base32hex without padding (RFC 4648 §7), case-insensitively: NSEC3 owner
/// labels (RFC 5155 §3.3). `None` on any other octet or on leftover non-zero bits.
pub fn base32hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(out)
}

/// Encodes base32hex without padding, lower case.
pub fn base32hex_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    #[test]
    fn bitmap_membership_and_checks() {
        // A, MX, RRSIG, NSEC, TYPE1234 (RFC 4034 §4.3 example plus a second window).
        let mut bitmap = vec![0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 27];
        bitmap.extend([0; 26]);
        bitmap.push(0x20);
        let b = TypeBitmap::parse(&bitmap).unwrap();
        for t in [1u16, 15, 46, 47, 1234] {
            assert!(b.contains(t), "{t}");
        }
        for t in [2u16, 5, 16, 43, 48, 1235, 65535] {
            assert!(!b.contains(t), "{t}");
        }
        assert!(TypeBitmap::parse(&[0, 0]).is_err());
        assert!(TypeBitmap::parse(&[0, 33]).is_err());
        assert!(TypeBitmap::parse(&[1, 1, 0xff, 0, 1, 0xff]).is_err());
        assert!(TypeBitmap::parse(&[0, 2, 0xff]).is_err());
        assert!(!TypeBitmap::parse(&[]).unwrap().contains(1));
    }

    #[test]
    fn dnssec_rdata_views() {
        let mut rrsig = vec![0, 1, 13, 2, 0, 0, 0x0e, 0x10];
        rrsig.extend(2_000_000_000u32.to_be_bytes());
        rrsig.extend(1_000_000_000u32.to_be_bytes());
        rrsig.extend(12345u16.to_be_bytes());
        rrsig.extend(b"\x07example\x00");
        let prefix_len = rrsig.len();
        rrsig.extend([0xAA; 64]);
        let sig = Rrsig::parse(&rrsig).unwrap();
        assert_eq!(
            (sig.type_covered, sig.algorithm, sig.labels, sig.key_tag),
            (1, 13, 2, 12345)
        );
        assert_eq!(sig.signer, n("example."));
        assert_eq!(sig.signed_prefix.len(), prefix_len);
        assert_eq!(sig.signature.len(), 64);
        assert!(Rrsig::parse(rrsig.get(..prefix_len).unwrap()).is_err());

        let key = Dnskey::parse(&[1, 1, 3, 13, 9, 9]).unwrap();
        assert_eq!((key.flags, key.protocol, key.algorithm), (257, 3, 13));
        assert!(key.usable());
        assert!(!Dnskey::parse(&[1, 0x81, 3, 13, 9]).unwrap().usable());
        assert!(!Dnskey::parse(&[0, 1, 3, 13, 9]).unwrap().usable());
        assert!(Dnskey::parse(&[1, 1, 3, 13]).is_err());

        let ds = Ds::parse(&[0x30, 0x39, 8, 2, 1, 2, 3]).unwrap();
        assert_eq!((ds.key_tag, ds.algorithm, ds.digest_type), (12345, 8, 2));
        assert!(Ds::parse(&[0x30, 0x39, 8, 2]).is_err());

        let nsec = Nsec::parse(b"\x04HOST\x07example\x00\x00\x01\x40").unwrap();
        assert_eq!(nsec.next, n("host.example."));
        assert!(nsec.types.contains(1));
        assert!(Nsec::parse(b"\x04host\x07example\x00\x00").is_err());

        let nsec3 = Nsec3::parse(&[1, 1, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd, 2, 9, 9]).unwrap();
        assert!(nsec3.opt_out());
        assert_eq!(nsec3.iterations, 12);
        assert_eq!(nsec3.salt, [0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(nsec3.next_hashed, [9, 9]);
        assert!(Nsec3::parse(&[1, 0, 0, 1, 0, 0]).is_err());
        assert!(Nsec3::parse(&[1, 0, 0, 1, 5, 1]).is_err());
    }

    #[test]
    fn base32hex_round_trip() {
        let hash = base32hex_decode(b"0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM").unwrap();
        assert_eq!(hash.len(), 20);
        assert_eq!(base32hex_encode(&hash), "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
        assert!(base32hex_decode(b"w").is_none());
        assert!(base32hex_decode(b"01").is_none());
    }

    /// A response with compressed names, two A records out of order, a duplicate, their
    /// RRSIG, and an RRSIG covering nothing present.
    #[test]
    fn message_grouped_into_canonical_rrsets() {
        let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0];
        m.extend(b"\x03WWW\x07example\x00\x00\x01\x00\x01");
        let a = |last: u8| {
            let mut rr = vec![0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4];
            rr.extend([192, 0, 2, last]);
            rr
        };
        m.extend(a(2));
        m.extend(a(1));
        m.extend(a(2));
        let mut sig = vec![0, 1, 13, 2, 0, 0, 0x0e, 0x10];
        sig.extend([0x77, 0, 0, 0, 0x60, 0, 0, 0, 0x30, 0x39]);
        sig.extend([0xC0, 0x10]); // compressed signer: example.
        sig.extend([1, 2, 3]);
        let mut rr = vec![0xC0, 0x0C, 0, 46, 0, 1, 0, 0, 0, 60, 0, sig.len() as u8];
        rr.extend(&sig);
        m.extend(&rr);
        // Same RRSIG but covering TXT: no TXT RRset, so dropped.
        rr[13] = 16;
        m.extend(&rr);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.qname, n("www.example."));
        assert_eq!(msg.answer.len(), 1);
        let set = msg.answer_rrset(&n("www.example."), 1).unwrap();
        assert_eq!(set.rdatas, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]]);
        assert_eq!(set.sigs.len(), 1);
        assert_eq!(set.sigs[0].signer, n("example."));
        // Trailing garbage and truncation are errors.
        let mut long = m.clone();
        long.push(0);
        assert!(Message::parse(&long).is_err());
        assert!(Message::parse(&m[..m.len() - 1]).is_err());
    }
}
