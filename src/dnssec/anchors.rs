//! Trust anchors: the root KSKs compiled in, anchors read from a zone-file-format file of
//! DS or DNSKEY records (`--trust-anchor-file`), and negative trust anchors (RFC 7646).

use std::path::Path;

use base64::Engine;

use super::canonical::Name;
use super::records::{Dnskey, Ds};

/// The root zone KSKs as DS records (IANA root-anchors.xml; also Debian's dns-root-data
/// `root.ds`): KSK-2017 (20326) and KSK-2024 (38696), so the rollover between them needs
/// no new build.
const ROOT_DS: [(u16, u8, u8, &str); 2] = [
    (
        20326,
        8,
        2,
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ),
    (
        38696,
        8,
        2,
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    ),
];

/// Zones under which everything is insecure by default: the special-use names that never
/// reach the public root (RFC 6761 §6.2-§6.4, RFC 6762 `local`, RFC 8375 `home.arpa`,
/// RFC 7686 `onion`).
pub const SPECIAL_USE: [&str; 6] = [
    "test.",
    "localhost.",
    "invalid.",
    "local.",
    "home.arpa.",
    "onion.",
];

/// The trusted DS and DNSKEY records of one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The zone.
    pub name: Name,
    /// DS records: a DNSKEY they match is trusted.
    pub ds: Vec<Ds>,
    /// DNSKEY records trusted as they are.
    pub keys: Vec<Dnskey>,
}

/// The trust anchors in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
}

/// A trust anchor file line that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("trust anchor line {line}: {reason}")]
pub struct AnchorError {
    /// 1-based line number (the first line of a multi-line record).
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why a trust anchor file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AnchorFileError {
    /// The file could not be read.
    #[error("cannot read trust anchor file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is wrong.
    #[error(transparent)]
    Parse(#[from] AnchorError),
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .bytes()
        .map(|c| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    Some(
        digits
            .chunks_exact(2)
            .map(|pair| match pair {
                [high, low] => high << 4 | low,
                _ => 0,
            })
            .collect(),
    )
}

impl TrustAnchors {
    /// The root KSKs compiled in.
    pub fn root() -> TrustAnchors {
        let ds = ROOT_DS
            .iter()
            .filter_map(|&(key_tag, algorithm, digest_type, digest)| {
                Some(Ds {
                    key_tag,
                    algorithm,
                    digest_type,
                    digest: hex_decode(digest)?,
                })
            })
            .collect();
        TrustAnchors {
            anchors: vec![Anchor {
                name: Name::root(),
                ds,
                keys: Vec::new(),
            }],
        }
    }

    /// Reads a trust anchor file (see [`TrustAnchors::parse`]).
    pub fn from_file(path: &Path) -> Result<TrustAnchors, AnchorFileError> {
        Ok(Self::parse(&std::fs::read_to_string(path)?)?)
    }

    /// Parses zone-file-format text holding DS and DNSKEY records (RFC 1035 §5.1):
    /// `owner [TTL] [IN] DS|DNSKEY rdata`, comments after `;`, records continued over
    /// lines inside parentheses, a line starting with blanks reusing the previous owner,
    /// `$TTL` ignored. Owners must be absolute. DNSKEYs must be zone keys and not revoked.
    /// Any other record type or directive is an error naming its line.
    pub fn parse(text: &str) -> Result<TrustAnchors, AnchorError> {
        let mut anchors: Vec<Anchor> = Vec::new();
        let mut owner: Option<Name> = None;
        for (line, record) in logical_lines(text)? {
            let err = |reason| AnchorError { line, reason };
            let mut tokens = record.split_whitespace().peekable();
            let Some(&first) = tokens.peek() else {
                continue;
            };
            if first.starts_with('$') {
                if first.eq_ignore_ascii_case("$TTL") {
                    continue;
                }
                return Err(err("unsupported directive"));
            }
            if !record.starts_with([' ', '\t']) {
                tokens.next();
                owner = Some(Name::from_text(first).ok_or(err("owner is not an absolute name"))?);
            }
            let name = owner.clone().ok_or(err("no owner name"))?;
            // Optional TTL and class, in either order (RFC 1035 §5.1).
            let mut rtype = None;
            for token in tokens.by_ref() {
                if token.bytes().all(|b| b.is_ascii_digit()) || token.eq_ignore_ascii_case("IN") {
                    continue;
                }
                rtype = Some(token);
                break;
            }
            let rtype = rtype.ok_or(err("no record type"))?;
            let fields: Vec<&str> = tokens.collect();
            let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            let rest = || fields.get(3..).map(|r| r.concat()).unwrap_or_default();
            let at = match anchors.iter().position(|a| a.name == name) {
                Some(at) => at,
                None => {
                    anchors.push(Anchor {
                        name,
                        ds: Vec::new(),
                        keys: Vec::new(),
                    });
                    anchors.len() - 1
                }
            };
            let anchor = anchors.get_mut(at).ok_or(err("internal"))?;
            if rtype.eq_ignore_ascii_case("DS") {
                let (Some(tag), Some(alg), Some(dt)) = (num(0), num(1), num(2)) else {
                    return Err(err("DS needs key tag, algorithm, digest type, digest"));
                };
                let (Ok(key_tag), Ok(algorithm), Ok(digest_type)) =
                    (u16::try_from(tag), u8::try_from(alg), u8::try_from(dt))
                else {
                    return Err(err("DS field out of range"));
                };
                let digest = hex_decode(&rest()).ok_or(err("DS digest is not hex"))?;
                anchor.ds.push(Ds {
                    key_tag,
                    algorithm,
                    digest_type,
                    digest,
                });
            } else if rtype.eq_ignore_ascii_case("DNSKEY") {
                let (Some(flags), Some(proto), Some(alg)) = (num(0), num(1), num(2)) else {
                    return Err(err("DNSKEY needs flags, protocol, algorithm, key"));
                };
                let (Ok(flags), Ok(protocol), Ok(algorithm)) =
                    (u16::try_from(flags), u8::try_from(proto), u8::try_from(alg))
                else {
                    return Err(err("DNSKEY field out of range"));
                };
                let key = base64::engine::general_purpose::STANDARD
                    .decode(rest())
                    .map_err(|_| err("DNSKEY key is not base64"))?;
                let mut rdata = flags.to_be_bytes().to_vec();
                rdata.extend([protocol, algorithm]);
                rdata.extend(key);
                let key = Dnskey::parse(&rdata).map_err(|_| err("DNSKEY key is empty"))?;
                if !key.usable() {
                    return Err(err("DNSKEY is not a usable zone key (flags or protocol)"));
                }
                anchor.keys.push(key);
            } else {
                return Err(err("only DS and DNSKEY records can be trust anchors"));
            }
        }
        if anchors.is_empty() {
            return Err(AnchorError {
                line: 0,
                reason: "no trust anchors",
            });
        }
        Ok(TrustAnchors { anchors })
    }

    /// The anchor closest above `name` (the deepest anchor that is `name` or an ancestor).
    pub fn closest(&self, name: &Name) -> Option<&Anchor> {
        self.anchors
            .iter()
            .filter(|a| name.is_subdomain_of(&a.name))
            .max_by_key(|a| a.name.label_count())
    }

    /// Every anchor.
    pub fn iter(&self) -> impl Iterator<Item = &Anchor> {
        self.anchors.iter()
    }
}

/// Splits zone-file text into records: comments removed, parenthesised continuations
/// joined; each with the number of the line it starts on. A line's leading blanks are
/// kept (they mean "same owner").
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, AnchorError> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or_default();
        let mut cleaned = String::with_capacity(line.len());
        for c in line.chars() {
            match c {
                '(' => {
                    depth += 1;
                    cleaned.push(' ');
                }
                ')' => {
                    depth = depth.checked_sub(1).ok_or(AnchorError {
                        line: i + 1,
                        reason: "unbalanced parenthesis",
                    })?;
                    cleaned.push(' ');
                }
                c => cleaned.push(c),
            }
        }
        match current.as_mut() {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(&cleaned);
            }
            None => current = Some((i + 1, cleaned)),
        }
        if depth == 0 {
            if let Some((n, text)) = current.take() {
                if !text.trim().is_empty() {
                    out.push((n, text));
                }
            }
        }
    }
    if depth != 0 {
        return Err(AnchorError {
            line: current.map(|(n, _)| n).unwrap_or_default(),
            reason: "unbalanced parenthesis",
        });
    }
    Ok(out)
}

/// Negative trust anchors (RFC 7646): names at and under which answers are insecure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegativeAnchors {
    names: Vec<Name>,
}

impl Default for NegativeAnchors {
    /// The special-use names ([`SPECIAL_USE`]).
    fn default() -> NegativeAnchors {
        NegativeAnchors {
            names: SPECIAL_USE
                .iter()
                .filter_map(|t| Name::from_text(t))
                .collect(),
        }
    }
}

impl NegativeAnchors {
    /// None at all.
    pub fn none() -> NegativeAnchors {
        NegativeAnchors { names: Vec::new() }
    }

    /// Adds a name (`--insecure-zone`).
    pub fn add(&mut self, name: Name) {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }

    /// The names, in the order added.
    pub fn names(&self) -> impl Iterator<Item = &Name> {
        self.names.iter()
    }

    /// Whether `name` is at or under a negative trust anchor.
    pub fn covers(&self, name: &Name) -> bool {
        self.names.iter().any(|n| name.is_subdomain_of(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    #[test]
    fn root_anchors_compiled_in() {
        let root = TrustAnchors::root();
        let a = root.closest(&n("www.example.")).unwrap();
        assert!(a.name.is_root());
        let tags: Vec<u16> = a.ds.iter().map(|d| d.key_tag).collect();
        assert_eq!(tags, [20326, 38696]);
        assert!(a
            .ds
            .iter()
            .all(|d| d.digest.len() == 32 && d.algorithm == 8));
    }

    #[test]
    fn parses_ds_and_dnskey_files() {
        let text = "\
; root and a private zone
. 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC6834 57104237C7F8EC8D
example. IN 3600 DNSKEY 257 3 13 (
        A/nPHR1zyCy/pn2s3IKGdgHZXUxmxpQqPvvOie/O
        vmGhNiL0w53w9AK+r9l2I74odb3f7aGHUS4DVWUKmPVFsw== ) ; KSK
\tDS 25064 13 2 00ff
$TTL 300
Sub.Example. DS 1 13 4 abcd
";
        let anchors = TrustAnchors::parse(text).unwrap();
        let root = anchors.closest(&n("net.")).unwrap();
        assert_eq!(root.ds.len(), 1);
        assert_eq!(root.ds[0].digest.len(), 32);
        let ex = anchors.closest(&n("www.example.")).unwrap();
        assert_eq!(ex.name, n("example."));
        assert_eq!(ex.keys.len(), 1);
        assert_eq!(ex.keys[0].tag, 25064);
        assert_eq!(ex.ds.len(), 1, "blank-led line reuses the owner");
        let sub = anchors.closest(&n("a.sub.example.")).unwrap();
        assert_eq!(sub.name, n("sub.example."));
        assert_eq!(sub.ds[0].digest_type, 4);
    }

    #[test]
    fn each_bad_line_is_named() {
        let cases: &[(&str, usize, &str)] = &[
            ("example DS 1 8 2 00", 1, "owner is not an absolute name"),
            (
                "\n\nexample. A 192.0.2.1",
                3,
                "only DS and DNSKEY records can be trust anchors",
            ),
            ("example. DS 1 8 2 0g", 1, "DS digest is not hex"),
            ("example. DS 1 8 2", 1, "DS digest is not hex"),
            ("example. DS 70000 8 2 00", 1, "DS field out of range"),
            (
                "example. DS one 8 2 00",
                1,
                "DS needs key tag, algorithm, digest type, digest",
            ),
            (
                "example. DNSKEY 257 3 13 !!!",
                1,
                "DNSKEY key is not base64",
            ),
            (
                "example. DNSKEY 1 3 13 AAAA",
                1,
                "DNSKEY is not a usable zone key (flags or protocol)",
            ),
            ("example. DNSKEY 257 3 13", 1, "DNSKEY key is empty"),
            (
                "x. DS 1 8 2 00\n example. DS ( 1 8 2 00",
                2,
                "unbalanced parenthesis",
            ),
            ("$ORIGIN example.", 1, "unsupported directive"),
            ("  DS 1 8 2 00", 1, "no owner name"),
            ("example. 300 IN", 1, "no record type"),
            ("; nothing\n", 0, "no trust anchors"),
        ];
        for &(text, line, reason) in cases {
            assert_eq!(
                TrustAnchors::parse(text),
                Err(AnchorError { line, reason }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn closest_anchor_is_the_deepest() {
        let anchors =
            TrustAnchors::parse(". DS 1 8 2 00\nexample. DS 2 8 2 00\na.example. DS 3 8 2 00\n")
                .unwrap();
        assert_eq!(
            anchors.closest(&n("b.example.")).unwrap().name,
            n("example.")
        );
        assert_eq!(
            anchors.closest(&n("x.a.example.")).unwrap().name,
            n("a.example.")
        );
        assert_eq!(anchors.closest(&n("net.")).unwrap().name, n("."));
        let only = TrustAnchors::parse("example. DS 2 8 2 00").unwrap();
        assert!(only.closest(&n("net.")).is_none());
    }

    #[test]
    fn negative_anchors_cover_special_use_names() {
        let nta = NegativeAnchors::default();
        for name in [
            "test.",
            "a.b.test.",
            "localhost.",
            "x.home.arpa.",
            "y.onion.",
            "z.local.",
            "invalid.",
        ] {
            assert!(nta.covers(&n(name)), "{name}");
        }
        for name in ["arpa.", "example.", "testing.", "nottest."] {
            assert!(!nta.covers(&n(name)), "{name}");
        }
        let mut custom = NegativeAnchors::none();
        assert!(!custom.covers(&n("test.")));
        custom.add(n("corp.example."));
        assert!(custom.covers(&n("a.corp.example.")));
        assert!(!custom.covers(&n("example.")));
    }
}
