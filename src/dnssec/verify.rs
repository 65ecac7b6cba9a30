//! Signatures and digests: which algorithms are supported, RRSIG checks and verification
//! with ring (RFC 4035 §5.3), DS digests (RFC 4034 §5.1.4), validity windows (RFC 4034
//! §3.1.5) with a skew allowance.
//!
//! Supported signing algorithms: 8 RSASHA256, 10 RSASHA512 (RFC 5702), 13 ECDSAP256SHA256,
//! 14 ECDSAP384SHA384 (RFC 6605), 15 ED25519 (RFC 8080). The SHA-1 algorithms 5 and 7 are
//! treated as unsupported (draft-ietf-dnsop-must-not-sha1: SHA-1 signatures are forgeable
//! with chosen-prefix collisions), as are 16 ED448 (not in ring) and everything else: a zone
//! signed only with them is insecure, not bogus (RFC 4035 §5.2, RFC 6840 §5.2).
//!
//! DS digests: 2 SHA-256, 4 SHA-384, and 1 SHA-1, which RFC 8624 §3.3 still requires
//! validators to accept (a DS digest needs a second preimage, which SHA-1 still resists),
//! ignored whenever the same DS RRset offers a stronger supported digest (RFC 4509 §3), so
//! a SHA-1 DS cannot be used to downgrade.

use ring::digest;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::budget::Work;
use super::canonical::{signed_data, Name};
use super::records::{types, Dnskey, Ds, Rrset, Rrsig};
use super::verified::Verified;
use super::Bogus;
use crate::dns::reader::Reader;

/// Whether a DNSKEY/RRSIG algorithm is supported.
pub fn algorithm_supported(algorithm: u8) -> bool {
    matches!(algorithm, 8 | 10 | 13 | 14 | 15)
}

/// Whether a DS digest type is supported.
pub fn digest_supported(digest_type: u8) -> bool {
    matches!(digest_type, 1 | 2 | 4)
}

/// The DS records of a set that can be used: supported algorithm and digest, with SHA-1
/// dropped when a stronger digest is present (RFC 4509 §3). Empty means the delegation is
/// to be treated as insecure (RFC 4035 §5.2).
pub fn usable_ds(ds: &[Ds]) -> Vec<&Ds> {
    let mut usable: Vec<&Ds> = ds
        .iter()
        .filter(|d| algorithm_supported(d.algorithm) && digest_supported(d.digest_type))
        .collect();
    if usable.iter().any(|d| d.digest_type != 1) {
        usable.retain(|d| d.digest_type != 1);
    }
    usable
}

/// The DS digest of a DNSKEY: digest(owner | RDATA) (RFC 4034 §5.1.4).
pub fn ds_digest(digest_type: u8, owner: &Name, dnskey_rdata: &[u8]) -> Option<Vec<u8>> {
    let alg = match digest_type {
        1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        2 => &digest::SHA256,
        4 => &digest::SHA384,
        _ => return None,
    };
    let mut ctx = digest::Context::new(alg);
    ctx.update(owner.as_wire());
    ctx.update(dnskey_rdata);
    Some(ctx.finish().as_ref().to_vec())
}

/// Whether `ds` names `key` at `owner`; the digest is charged to the budget.
pub fn ds_matches(ds: &Ds, owner: &Name, key: &Dnskey, work: &mut Work<'_>) -> Result<bool, Bogus> {
    if ds.key_tag != key.tag || ds.algorithm != key.algorithm || key.protocol != 3 {
        return Ok(false);
    }
    work.hashes(1)?;
    Ok(ds_digest(ds.digest_type, owner, &key.rdata).is_some_and(|d| d == ds.digest))
}

/// Splits an RSA public key in RFC 3110 §2 form into (exponent, modulus), without the
/// leading zero octets ring refuses.
fn rsa_components(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut r = Reader::new(key);
    let first = r.u8().ok()?;
    let exp_len = if first == 0 {
        usize::from(r.u16().ok()?)
    } else {
        usize::from(first)
    };
    let e = r.take(exp_len).ok()?;
    let n = r.take(r.remaining()).ok()?;
    Some((trim_zeros(e), trim_zeros(n)))
}

fn trim_zeros(mut s: &[u8]) -> &[u8] {
    while let Some((&0, rest)) = s.split_first() {
        s = rest;
    }
    s
}

/// Verifies `sig` over `data` with a DNSKEY public key of `algorithm`. Unsupported
/// algorithms and malformed keys fail.
pub fn verify_signature(algorithm: u8, key: &[u8], data: &[u8], sig: &[u8]) -> bool {
    match algorithm {
        8 | 10 => {
            let Some((e, n)) = rsa_components(key) else {
                return false;
            };
            let params = if algorithm == 8 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, data, sig)
                .is_ok()
        }
        13 | 14 => {
            // RFC 6605 §4: the key is x | y; ring wants the uncompressed SEC1 point.
            let (alg, len) = if algorithm == 13 {
                (&signature::ECDSA_P256_SHA256_FIXED, 64)
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED, 96)
            };
            if key.len() != len {
                return false;
            }
            let mut point = Vec::with_capacity(len + 1);
            point.push(4);
            point.extend(key);
            UnparsedPublicKey::new(alg, point).verify(data, sig).is_ok()
        }
        15 => {
            key.len() == 32
                && UnparsedPublicKey::new(&signature::ED25519, key)
                    .verify(data, sig)
                    .is_ok()
        }
        _ => false,
    }
}

/// One signature check of `sig` over `data` with `key`, charged to the budget whether the
/// memo of verified signatures answers it or ring does; a success ring finds is
/// remembered. Every policy check on the signature and the key comes before this.
fn check_signature(
    key: &Dnskey,
    sig: &Rrsig,
    data: &[u8],
    work: &mut Work<'_>,
) -> Result<bool, Bogus> {
    work.signature()?;
    let Some(memo) = work.memo() else {
        return Ok(verify_signature(
            key.algorithm,
            &key.public_key,
            data,
            &sig.signature,
        ));
    };
    let digest = Verified::digest(key.algorithm, &key.public_key, &sig.signature, data);
    if memo.contains(&digest) {
        work.memo_hit();
        return Ok(true);
    }
    let good = verify_signature(key.algorithm, &key.public_key, data, &sig.signature);
    if good {
        memo.insert(digest);
    }
    Ok(good)
}

/// Where `now` falls against a signature's validity window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Inside it.
    Valid,
    /// After the expiration.
    Expired,
    /// Before the inception.
    NotYetValid,
}

/// `a < b` in serial-number arithmetic (RFC 1982 §3.2), as RFC 4034 §3.1.5 requires for
/// the 32-bit signature times.
fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

/// The validity of `sig` at `now`, allowing `skew` seconds either side for clocks that
/// disagree (RFC 4035 §5.3.1 uses the validator's notion of the current time).
pub fn window(sig: &Rrsig, now: u32, skew: u32) -> Window {
    if serial_lt(now.wrapping_add(skew), sig.inception) {
        Window::NotYetValid
    } else if serial_lt(sig.expiration, now.wrapping_sub(skew))
        || serial_lt(sig.expiration, sig.inception)
    {
        Window::Expired
    } else {
        Window::Valid
    }
}

/// What a verified RRset carries forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// How long the validated RRset may be trusted: its TTL capped by the signature's
    /// original TTL and by the time left before the signature expires (RFC 4035 §5.3.3).
    pub ttl: u32,
    /// For a wildcard expansion (RRSIG labels below the owner's, RFC 4035 §5.3.4): the
    /// wildcard's parent, the closest encloser the denial proof must start from.
    pub expanded_from: Option<Name>,
}

/// Why signatures failed, remembered to name the verdict.
#[derive(Default)]
struct Failures {
    crypto: bool,
    expired: bool,
    future: bool,
    no_key: bool,
    key_cap: bool,
}

/// Verifies an RRset against the DNSKEYs of `zone` (RFC 4035 §5.3): the first RRSIG that
/// passes the checks of §5.3.1 and verifies with a key of matching tag and algorithm
/// makes it secure. At most `max_sigs_per_rrset` signatures reach the cryptography, with
/// at most `max_keys_per_tag` keys each; every verification is charged to the budget.
pub fn verify_rrset(
    rrset: &Rrset,
    zone: &Name,
    keys: &[Dnskey],
    work: &mut Work<'_>,
) -> Result<Checked, Bogus> {
    let settings = work.settings;
    let owner_labels = rrset.owner.label_count() - usize::from(rrset.owner.is_wildcard());
    let mut failed = Failures::default();
    let mut tried = 0usize;
    for sig in &rrset.sigs {
        // §5.3.1: signed by this zone, the owner inside it; a DS RRset by the parent.
        if &sig.signer != zone
            || !rrset.owner.is_subdomain_of(zone)
            || (rrset.rtype == types::DS && rrset.owner == sig.signer)
            || !algorithm_supported(sig.algorithm)
        {
            continue;
        }
        let sig_labels = usize::from(sig.labels);
        if sig_labels > owner_labels {
            continue;
        }
        match window(sig, work.now, settings.skew) {
            Window::Valid => {}
            Window::Expired => {
                failed.expired = true;
                continue;
            }
            Window::NotYetValid => {
                failed.future = true;
                continue;
            }
        }
        let mut candidates = keys
            .iter()
            .filter(|k| k.tag == sig.key_tag && k.algorithm == sig.algorithm && k.usable())
            .peekable();
        if candidates.peek().is_none() {
            failed.no_key = true;
            continue;
        }
        if tried == settings.max_sigs_per_rrset {
            return Err(Bogus::Other("signature limit per RRset reached"));
        }
        tried += 1;
        let (signed_owner, expanded_from) = if sig_labels < owner_labels {
            let source = rrset
                .owner
                .suffix(sig_labels)
                .ok_or(Bogus::Other("bad RRSIG labels"))?;
            let wildcard = source.wildcard().ok_or(Bogus::Other("bad RRSIG labels"))?;
            (wildcard, Some(source))
        } else {
            (rrset.owner.clone(), None)
        };
        let data = signed_data(
            &sig.signed_prefix,
            &signed_owner,
            rrset.rtype,
            rrset.class,
            sig.original_ttl,
            &rrset.rdatas,
        )
        .ok_or(Bogus::Other("RRset too large"))?;
        for (n, key) in candidates.enumerate() {
            if n == settings.max_keys_per_tag {
                failed.key_cap = true;
                break;
            }
            if check_signature(key, sig, &data, work)? {
                let left = sig.expiration.wrapping_sub(work.now);
                let left = if left < 0x8000_0000 { left } else { 0 };
                return Ok(Checked {
                    ttl: rrset.ttl.min(sig.original_ttl).min(left),
                    expanded_from,
                });
            }
            failed.crypto = true;
        }
    }
    Err(if failed.key_cap {
        Bogus::Other("key limit per key tag reached")
    } else if failed.crypto {
        Bogus::Other("signature verification failed")
    } else if failed.expired {
        Bogus::SignatureExpired
    } else if failed.future {
        Bogus::SignatureNotYetValid
    } else if failed.no_key {
        Bogus::DnskeyMissing
    } else {
        Bogus::RrsigsMissing
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::Settings;
    use base64::Engine;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    fn n(text: &str) -> Name {
        Name::from_text(text).unwrap()
    }

    fn key(flags: u16, alg: u8, public: &str) -> Dnskey {
        let mut rdata = flags.to_be_bytes().to_vec();
        rdata.extend([3, alg]);
        rdata.extend(b64(public));
        Dnskey::parse(&rdata).unwrap()
    }

    /// `www.example. A 192.0.2.1, 192.0.2.2` with an RRSIG (type A, labels 2, TTL 3600,
    /// 2020-01-01 to 2040-01-01, signer example.).
    fn rrset(alg: u8, tag: u16, sig: &str) -> Rrset {
        let mut rdata = vec![0, 1, alg, 2, 0, 0, 0x0e, 0x10];
        rdata.extend(2_208_988_800u32.to_be_bytes());
        rdata.extend(1_577_836_800u32.to_be_bytes());
        rdata.extend(tag.to_be_bytes());
        rdata.extend(b"\x07example\x00");
        rdata.extend(b64(sig));
        Rrset {
            owner: n("www.example."),
            rtype: 1,
            class: 1,
            ttl: 3600,
            rdatas: vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]],
            sigs: vec![Rrsig::parse(&rdata).unwrap()],
        }
    }

    /// Known answers: keys and signatures made with ldns-signzone, one per algorithm.
    fn vectors() -> Vec<(Dnskey, Rrset)> {
        [
            (8, 26324, "AwEAAbmn+dKnT9to1hDRpxQyt92tM7M4i8J3LpxRQz9Xt+lDOgB+Llzyr6Gs+4Czzgzhk7FWkXakiilRTc41kSu/ohrgQSovEreS/A8QBSUZUWnu71mqKtrc3vQIGa4Egw259Q6QDx9lUW4bIGZlgqyyeADcGvqkSLVNLOpdYpfZqnDl",
             "cr6/ei6kjUxVTTSshxorTotLo8gylQ8Ern8R52L/YkKGxR61VyUQsWEhzHUkxGj9Bcg/dKz9Gq7FdYK085F4VFpa27zK6j7DoQHDlObhR15Vkm8M7WxbUzEnCa5DVdfoI0rjt8kh5In67C+v+mI4STOtiz5/lmwQSz1oH/4WBCI="),
            (10, 63534, "AwEAAfMx1trYL4amSE708ATSj+gJwXWD/oRpS6F3Q9DVFUnb2mxKQ6+roLuIMA4Xyh/E6SlQWyA2hOb5g2BFykbwxaCDh7pnacN/d1LhLDgI4coznjXsJOFvKQkA+0UTKZ5Ai9AkRjgzeWzlT3AZvkf6+dRLS7SZOzCVNSgnH9asixPz",
             "ZNodrcINxdHZ/F6QFu477+ERLodumQsL0Rxwr6YHlBzVONY1p/CmNeU/qcfIPp/MuSJJMjKkvMZVtGH3Zo6jXBaVRfE8b+66nT0iBpcQY7armdSKqh9g4cedWn7j5Bcew0jVMBje59q6Brr062dFF7a+f/QDEOVbmp6tzemEZC0="),
            (13, 25064, "A/nPHR1zyCy/pn2s3IKGdgHZXUxmxpQqPvvOie/OvmGhNiL0w53w9AK+r9l2I74odb3f7aGHUS4DVWUKmPVFsw==",
             "BNSprsvaIGuQsrdsWhQ6alP2tMC98BglVglzym1/cavHpwtScceDSVA/uoxjEAcpGc2dvV0juF+YzD9YRxfTpA=="),
            (14, 10049, "wXFL9hyXgMtQzkmYtIc+SFe38y2GGJZL90OkZhWcm9GA8FBpeQkN1LXIHmRnnN1kZe8TMw1SaE171besvkj9IYIrYXf3+5hVII6ddfExs5XluI/l/mL5/M9KQi8j2G2q",
             "V4d3az07vvFXyAB6xrsfXvL7a4IMwGNM1QOsLDeQNfNSw8J9e8pxOXrLeUf4Ks+0jhE9pH1GfwEr1p7v0U0DR9M7w8ttvcsZMDQZ6qHOM4ztqCNFigfMT5TBi63vzVtv"),
            (15, 53924, "ilHx1Y/IVaSFYBFGYrgK9jiSiyRh+MK4Gn8jusqVd3Q=",
             "6Q2q9UGh+ULUvRiaxBtKnxFP9f9Q5QFAhyVGTvY9XwGwYAma5QLv5UIUjWYBWRZYvnj8byuEY0gyDVFo/zVqAg=="),
        ]
        .into_iter()
        .map(|(alg, tag, k, s)| {
            let key = key(257, alg, k);
            assert_eq!(key.tag, tag, "key tag of the algorithm {alg} key");
            (key, rrset(alg, tag, s))
        })
        .collect()
    }

    /// `set` with `n` copies of its signature, each with a flipped bit, before the good one.
    fn after_bad_copies(set: &Rrset, n: u8) -> Rrset {
        let good = set.sigs[0].clone();
        let mut many = set.clone();
        many.sigs = (0..n)
            .map(|i| {
                let mut bad = good.clone();
                bad.signature[0] ^= 1 + i;
                bad
            })
            .collect();
        many.sigs.push(good);
        many
    }

    /// `n` keys that keep `key`'s tag and algorithm (the tag is not computed again) but
    /// each have a flipped bit in the public key, then `key` itself last.
    fn same_tag_keys(key: &Dnskey, n: u8) -> Vec<Dnskey> {
        let mut keys: Vec<Dnskey> = (0..n)
            .map(|i| {
                let mut fake = key.clone();
                fake.public_key[0] ^= 1 + i;
                fake
            })
            .collect();
        keys.push(key.clone());
        keys
    }

    /// 2030-01-01, inside every test signature's window.
    const NOW: u32 = 1_893_456_000;

    #[test]
    fn known_answer_signatures_verify_for_every_algorithm() {
        let settings = Settings::default();
        for (key, set) in vectors() {
            let mut work = Work::new(&settings, NOW);
            let checked = verify_rrset(&set, &n("example."), std::slice::from_ref(&key), &mut work)
                .unwrap_or_else(|e| panic!("algorithm {}: {e:?}", key.algorithm));
            assert_eq!(checked.ttl, 3600);
            assert_eq!(checked.expanded_from, None);
            assert_eq!(work.signatures_used(), 1);
        }
    }

    #[test]
    fn tampered_data_or_wrong_signer_fails() {
        let settings = Settings::default();
        for (key, mut set) in vectors() {
            let mut work = Work::new(&settings, NOW);
            set.rdatas[1] = vec![192, 0, 2, 3];
            assert_eq!(
                verify_rrset(&set, &n("example."), std::slice::from_ref(&key), &mut work),
                Err(Bogus::Other("signature verification failed"))
            );
            set.owner = n("www.example.net.");
            assert_eq!(
                verify_rrset(&set, &n("example."), &[key], &mut work),
                Err(Bogus::RrsigsMissing)
            );
        }
    }

    #[test]
    fn windows_skew_and_serial_arithmetic() {
        let (key, set) = vectors().remove(2);
        let settings = Settings::default();
        let zone = n("example.");
        let at = |now| {
            verify_rrset(
                &set,
                &zone,
                std::slice::from_ref(&key),
                &mut Work::new(&settings, now),
            )
        };
        assert_eq!(at(2_208_988_800 + 301), Err(Bogus::SignatureExpired));
        assert!(at(2_208_988_800 + 299).is_ok());
        assert_eq!(at(1_577_836_800 - 301), Err(Bogus::SignatureNotYetValid));
        assert!(at(1_577_836_800 - 299).is_ok());
        // The TTL is cut to the time left before expiration.
        assert_eq!(at(2_208_988_800 - 100).unwrap().ttl, 100);
        let sig = &set.sigs[0];
        // Serial arithmetic: a window that wraps past 2^32 is still a window.
        let mut wrapped = sig.clone();
        wrapped.inception = u32::MAX - 10;
        wrapped.expiration = 10;
        assert_eq!(window(&wrapped, 0, 0), Window::Valid);
        assert_eq!(window(&wrapped, 20, 0), Window::Expired);
        assert_eq!(window(&wrapped, u32::MAX - 20, 0), Window::NotYetValid);
    }

    #[test]
    fn key_must_match_tag_algorithm_and_flags() {
        let (key, set) = vectors().remove(4);
        let settings = Settings::default();
        let zone = n("example.");
        let mut work = Work::new(&settings, NOW);
        let mut revoked = key.clone();
        revoked.flags |= Dnskey::REVOKE;
        assert_eq!(
            verify_rrset(&set, &zone, &[revoked], &mut work),
            Err(Bogus::DnskeyMissing)
        );
        let mut not_zone = key.clone();
        not_zone.flags &= !Dnskey::ZONE;
        assert_eq!(
            verify_rrset(&set, &zone, &[not_zone], &mut work),
            Err(Bogus::DnskeyMissing)
        );
        assert_eq!(work.signatures_used(), 0);
        assert_eq!(
            verify_rrset(&set, &zone, &[], &mut work),
            Err(Bogus::DnskeyMissing)
        );
    }

    /// A wildcard expansion: the same signature, presented at a name below the wildcard,
    /// verifies as `*.example.` and reports its source.
    #[test]
    fn wildcard_expansion_is_reported() {
        let (key, mut set) = vectors().remove(4);
        // Sign-time owner was www.example. (2 labels); pretend the RRSIG said 1 label and
        // the record was *.example.: verification must use "*.example." as owner, so it
        // fails here, but the labels check must still accept it and name the source.
        set.sigs[0].labels = 1;
        let settings = Settings::default();
        let mut work = Work::new(&settings, NOW);
        assert_eq!(
            verify_rrset(&set, &n("example."), std::slice::from_ref(&key), &mut work),
            Err(Bogus::Other("signature verification failed"))
        );
        // Labels above the owner's count make the signature unusable.
        set.sigs[0].labels = 3;
        assert_eq!(
            verify_rrset(&set, &n("example."), &[key], &mut work),
            Err(Bogus::RrsigsMissing)
        );
    }

    #[test]
    fn caps_on_signatures_and_keys() {
        let (key, set) = vectors().remove(4);
        let zone = n("example.");
        // Nine copies of the signature with a flipped bit, then the good one.
        let many = after_bad_copies(&set, 9);
        let settings = Settings::default();
        assert_eq!(settings.max_sigs_per_rrset, 8);
        let mut work = Work::new(&settings, NOW);
        assert_eq!(
            verify_rrset(&many, &zone, std::slice::from_ref(&key), &mut work),
            Err(Bogus::Other("signature limit per RRset reached"))
        );
        assert_eq!(work.signatures_used(), 8);
        let roomy = Settings {
            max_sigs_per_rrset: 10,
            ..Settings::default()
        };
        assert!(verify_rrset(
            &many,
            &zone,
            std::slice::from_ref(&key),
            &mut Work::new(&roomy, NOW)
        )
        .is_ok());

        // Five keys with the same tag, the real one last.
        let keys = same_tag_keys(&key, 4);
        assert_eq!(settings.max_keys_per_tag, 4);
        let mut work = Work::new(&settings, NOW);
        assert_eq!(
            verify_rrset(&set, &zone, &keys, &mut work),
            Err(Bogus::Other("key limit per key tag reached"))
        );
        assert_eq!(work.signatures_used(), 4);
        let roomy = Settings {
            max_keys_per_tag: 5,
            ..Settings::default()
        };
        assert!(verify_rrset(&set, &zone, &keys, &mut Work::new(&roomy, NOW)).is_ok());

        // The whole budget: two signature checks allowed, three needed.
        let tight = Settings {
            max_signature_checks: 2,
            max_keys_per_tag: 5,
            ..Settings::default()
        };
        assert_eq!(
            verify_rrset(&set, &zone, &keys, &mut Work::new(&tight, NOW)),
            Err(crate::dnssec::budget::EXHAUSTED)
        );
    }

    /// The memo of verified signatures skips only ring: a hit is charged to the budget,
    /// every policy check still runs first, and nothing but the exact key, signature and
    /// signed data that verified before is ever a hit.
    #[test]
    fn memo_skips_only_the_cryptography() {
        let memo = Verified::new(64);
        let settings = Settings::default();
        let zone = n("example.");
        let run = |set: &Rrset, key: &Dnskey, now: u32| {
            let mut work = Work::new(&settings, now).with_memo(&memo);
            let verdict = verify_rrset(set, &zone, std::slice::from_ref(key), &mut work);
            (
                verdict.map(|c| c.ttl),
                work.signatures_used(),
                work.memo_hits(),
            )
        };
        let failed = Err(Bogus::Other("signature verification failed"));
        for (key, set) in vectors() {
            // Ring verifies and the memo learns it; the same check again is a hit, charged.
            assert_eq!(run(&set, &key, NOW), (Ok(3600), 1, 0));
            assert_eq!(run(&set, &key, NOW), (Ok(3600), 1, 1));
            // One record tampered with after the cached success.
            let mut tampered = set.clone();
            tampered.rdatas[1] = vec![192, 0, 2, 3];
            assert_eq!(run(&tampered, &key, NOW), (failed, 1, 0));
            // A record added.
            let mut grown = set.clone();
            grown.rdatas.push(vec![192, 0, 2, 9]);
            assert_eq!(run(&grown, &key, NOW), (failed, 1, 0));
            // The signature tampered with.
            let mut forged = set.clone();
            forged.sigs[0].signature[0] ^= 1;
            assert_eq!(run(&forged, &key, NOW), (failed, 1, 0));
            // The signed RRSIG fields (here the Original TTL) changed.
            let mut stretched = set.clone();
            stretched.sigs[0].original_ttl ^= 1;
            stretched.sigs[0].signed_prefix[7] ^= 1;
            assert_eq!(run(&stretched, &key, NOW), (failed, 1, 0));
            // Another key with the same tag and algorithm.
            let mut other = key.clone();
            other.public_key[1] ^= 1;
            assert_eq!(run(&set, &other, NOW), (failed, 1, 0));
            // The window is checked before the memo: expired is expired.
            assert_eq!(
                run(&set, &key, 2_208_988_800 + 301),
                (Err(Bogus::SignatureExpired), 0, 0)
            );
            // The TTL still follows the clock on a hit.
            assert_eq!(run(&set, &key, 2_208_988_800 - 100), (Ok(100), 1, 1));
            // Still signed by this zone only.
            assert_eq!(
                verify_rrset(
                    &set,
                    &n("example.net."),
                    std::slice::from_ref(&key),
                    &mut Work::new(&settings, NOW).with_memo(&memo)
                ),
                Err(Bogus::RrsigsMissing)
            );
        }
    }

    /// The caps and the budget bite whether or not the memo holds the good signature.
    #[test]
    fn memo_hits_meet_the_caps_and_the_budget() {
        let (key, set) = vectors().remove(2);
        let zone = n("example.");
        let memo = Verified::new(64);
        // Four keys with the real one's tag, the real one last.
        let keys = same_tag_keys(&key, 4);
        let roomy = Settings {
            max_keys_per_tag: 5,
            ..Settings::default()
        };
        let mut work = Work::new(&roomy, NOW).with_memo(&memo);
        assert!(verify_rrset(&set, &zone, &keys, &mut work).is_ok());
        assert_eq!((work.signatures_used(), work.memo_hits()), (5, 0));
        // The good check is now a memo hit, but it is the fifth key of its tag.
        let settings = Settings::default();
        let mut work = Work::new(&settings, NOW).with_memo(&memo);
        assert_eq!(
            verify_rrset(&set, &zone, &keys, &mut work),
            Err(Bogus::Other("key limit per key tag reached"))
        );
        assert_eq!((work.signatures_used(), work.memo_hits()), (4, 0));
        // Five checks needed, four allowed: a hit is one of them.
        let tight = Settings {
            max_signature_checks: 4,
            max_keys_per_tag: 5,
            ..Settings::default()
        };
        assert_eq!(
            verify_rrset(
                &set,
                &zone,
                &keys,
                &mut Work::new(&tight, NOW).with_memo(&memo)
            ),
            Err(crate::dnssec::budget::EXHAUSTED)
        );
        // Nine bad copies of the signature before the good one: past the cap per RRset.
        let many = after_bad_copies(&set, 9);
        assert_eq!(
            verify_rrset(
                &many,
                &zone,
                std::slice::from_ref(&key),
                &mut Work::new(&settings, NOW).with_memo(&memo)
            ),
            Err(Bogus::Other("signature limit per RRset reached"))
        );
    }

    /// The root KSKs (IANA root-anchors, as shipped in Debian's dns-root-data): their key
    /// tags and SHA-256 DS digests.
    #[test]
    fn root_key_tags_and_ds_digests() {
        let k20326 = key(257, 8, "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=");
        let k38696 = key(257, 8, "AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=");
        assert_eq!(k20326.tag, 20326);
        assert_eq!(k38696.tag, 38696);
        let hex = |d: Vec<u8>| d.iter().map(|b| format!("{b:02X}")).collect::<String>();
        assert_eq!(
            hex(ds_digest(2, &Name::root(), &k20326.rdata).unwrap()),
            "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
        );
        assert_eq!(
            hex(ds_digest(2, &Name::root(), &k38696.rdata).unwrap()),
            "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16"
        );
    }

    #[test]
    fn ds_usability_and_sha1_downgrade() {
        let ds = |alg, digest_type| Ds {
            key_tag: 1,
            algorithm: alg,
            digest_type,
            digest: vec![0; 32],
        };
        assert!(usable_ds(&[ds(16, 2), ds(5, 2), ds(8, 3)]).is_empty());
        assert_eq!(usable_ds(&[ds(8, 1)]).len(), 1);
        let mixed = [ds(8, 1), ds(13, 2)];
        let usable = usable_ds(&mixed);
        assert_eq!(usable.len(), 1);
        assert_eq!(usable[0].digest_type, 2);
    }

    #[test]
    fn malformed_keys_never_verify() {
        for (alg, key) in [
            (8u8, &[][..]),
            (8, &[0][..]),
            (8, &[0, 0, 5, 1][..]),
            (8, &[200, 1, 2][..]),
            (13, &[4; 63][..]),
            (14, &[4; 64][..]),
            (15, &[1; 31][..]),
            (5, &[1; 64][..]),
        ] {
            assert!(!verify_signature(alg, key, b"data", &[0; 64]));
        }
    }
}
