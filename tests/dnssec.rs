//! The DNSSEC validator against zones signed at test time with ldnsutils (see
//! tests/dnssec_zones/mod.rs), served by an in-memory resolver that answers like an
//! upstream asked with DO=1 and CD=1. Each case asserts the verdict and, for bogus ones,
//! the reason; each work cap has its crafted zone, checked both at the default setting and
//! with the cap raised (so the cap, not something else, makes the difference).

#[path = "dnssec_zones/mod.rs"]
mod dnssec_zones;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use dnssec_zones::resolver::{decode, encode, Resolver};
use dnssec_zones::wire::name_wire;
use dnssec_zones::{cases, heavy_name, Expect, ZoneSet};
use strictdot::dnssec::budget::EXHAUSTED;
use strictdot::dnssec::canonical::Name;
use strictdot::dnssec::{
    Bogus, Fetch, NegativeAnchors, Report, Settings, TrustAnchors, Validator, Verdict,
};

struct Fixture {
    set: ZoneSet,
    resolver: Resolver,
    /// The private root's KSK as a DS anchor, and as a DNSKEY anchor (both read with
    /// `TrustAnchors::from_file`).
    by_ds: TrustAnchors,
    by_key: TrustAnchors,
    /// The signed `example.` zone file.
    tld_text: String,
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as u32
}

/// The zones, built once per test binary and held in memory; the directory is removed.
/// Fails (never skips) without ldnsutils.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("strictdot-dnssec-{}-{}", std::process::id(), now()));
        let built = dnssec_zones::build(&dir, now()).and_then(|set| {
            let resolver = Resolver::load(&set)?;
            Ok((set, resolver))
        });
        let (set, resolver) = built.unwrap_or_else(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("building the signed test zones failed: {e}")
        });
        let by_ds = TrustAnchors::from_file(&set.anchor_ds).expect("DS anchor file");
        let by_key = TrustAnchors::from_file(&set.anchor_dnskey).expect("DNSKEY anchor file");
        let tld = set
            .zones
            .iter()
            .find(|z| z.origin == "example.")
            .expect("TLD");
        let tld_text = std::fs::read_to_string(&tld.file).expect("TLD zone file");
        let _ = std::fs::remove_dir_all(&dir);
        Fixture {
            set,
            resolver,
            by_ds,
            by_key,
            tld_text,
        }
    })
}

fn anchors() -> TrustAnchors {
    fixture().by_ds.clone()
}

fn validator(settings: Settings) -> Validator {
    Validator::new(anchors(), NegativeAnchors::default(), settings)
}

fn wire(name: &str) -> Vec<u8> {
    name_wire(name).expect("name")
}

/// Validates the resolver's own answer to `qname`/`qtype`.
async fn check(v: &Validator, qname: &str, qtype: u16) -> Report {
    let f = fixture();
    let answer = f.resolver.resolve(&wire(qname), qtype);
    v.validate_report(&f.resolver, &wire(qname), qtype, &answer, f.set.now)
        .await
}

async fn verdict(qname: &str, qtype: u16) -> Verdict {
    check(&validator(Settings::default()), qname, qtype)
        .await
        .verdict
}

/// Validates a given answer message.
async fn check_answer(v: &Validator, qname: &str, qtype: u16, answer: &[u8]) -> Verdict {
    let f = fixture();
    v.validate(&f.resolver, &wire(qname), qtype, answer, f.set.now)
        .await
}

const A: u16 = 1;
const AAAA: u16 = 28;
const RRSIG: u16 = 46;
const NSEC: u16 = 47;
const NSEC3: u16 = 50;

#[tokio::test]
async fn every_case_gets_its_verdict() {
    let mut wrong = Vec::new();
    for case in cases() {
        let got = verdict(&case.qname, case.qtype).await;
        let as_expect = match got {
            Verdict::Secure => Some(Expect::Secure),
            Verdict::Insecure => Some(Expect::Insecure),
            Verdict::Bogus(b) => Some(Expect::Bogus(b.info_code())),
            Verdict::Indeterminate => None,
        };
        if as_expect != Some(case.expect) {
            wrong.push(format!(
                "{} ({} type {}): expected {:?}, got {:?}",
                case.label, case.qname, case.qtype, case.expect, got
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn broken_zones_are_bogus_for_the_right_reason() {
    for (qname, want) in [
        ("www.expired.example.", Bogus::SignatureExpired),
        ("www.future.example.", Bogus::SignatureNotYetValid),
        ("www.badds.example.", Bogus::DnskeyMissing),
        ("www.baddigest.example.", Bogus::DnskeyMissing),
        (
            "www.dsgone.example.",
            Bogus::Other("denial shows the type exists"),
        ),
        (
            "www.tampered.example.",
            Bogus::Other("signature verification failed"),
        ),
        ("www.nosig.example.", Bogus::RrsigsMissing),
        ("nosuch.nonsec.example.", Bogus::NsecMissing),
    ] {
        assert_eq!(verdict(qname, A).await, Verdict::Bogus(want), "{qname}");
    }
}

/// The answer for `qname` with the authority records `drop` picks removed.
fn stripped(qname: &str, qtype: u16, drop: impl Fn(&dnssec_zones::wire::Rr) -> bool) -> Vec<u8> {
    let f = fixture();
    let (q, t, rcode, answer, mut authority) = decode(&f.resolver.resolve(&wire(qname), qtype));
    let before = authority.len();
    authority.retain(|r| !drop(r));
    assert!(authority.len() < before, "nothing stripped for {qname}");
    encode(&q, t, rcode, &answer, &authority)
}

fn covered(r: &dnssec_zones::wire::Rr) -> u16 {
    u16::from_be_bytes([r.rdata[0], r.rdata[1]])
}

#[tokio::test]
async fn stripped_denial_proofs_are_nsec_missing() {
    let v = validator(Settings::default());
    let is_proof = |r: &dnssec_zones::wire::Rr| {
        r.rtype == NSEC
            || r.rtype == NSEC3
            || (r.rtype == RRSIG && matches!(covered(r), NSEC | NSEC3))
    };
    for (qname, qtype) in [
        ("nosuch.example.", A),
        ("www.example.", AAAA),
        ("nosuch.n3.example.", A),
        ("www.n3.example.", AAAA),
        ("anything.wild.example.", A),
        ("x.w.n3.example.", A),
    ] {
        let answer = stripped(qname, qtype, is_proof);
        assert_eq!(
            check_answer(&v, qname, qtype, &answer).await,
            Verdict::Bogus(Bogus::NsecMissing),
            "{qname}"
        );
    }
    // Only the NSEC that denies the wildcard removed: the NXDOMAIN proof is incomplete.
    let apex = wire("example.");
    let answer = stripped("nosuch.example.", A, |r| {
        (r.rtype == NSEC || (r.rtype == RRSIG && covered(r) == NSEC)) && r.owner == apex
    });
    assert_eq!(
        check_answer(&v, "nosuch.example.", A, &answer).await,
        Verdict::Bogus(Bogus::NsecMissing)
    );
}

#[tokio::test]
async fn tampering_in_transit() {
    let f = fixture();
    let v = validator(Settings::default());
    let (q, t, rcode, mut answer, authority) =
        decode(&f.resolver.resolve(&wire("www.example."), A));
    for r in answer.iter_mut().filter(|r| r.rtype == A) {
        r.rdata = vec![203, 0, 113, 7];
    }
    let forged = encode(&q, t, rcode, &answer, &authority);
    assert_eq!(
        check_answer(&v, "www.example.", A, &forged).await,
        Verdict::Bogus(Bogus::Other("signature verification failed"))
    );
    answer.retain(|r| r.rtype != RRSIG);
    let unsigned = encode(&q, t, rcode, &answer, &authority);
    assert_eq!(
        check_answer(&v, "www.example.", A, &unsigned).await,
        Verdict::Bogus(Bogus::RrsigsMissing)
    );
    // An NXDOMAIN turned into NODATA keeps NSECs that prove something else.
    let (q, t, _, answer, authority) = decode(&f.resolver.resolve(&wire("nosuch.example."), A));
    let nodata = encode(&q, t, 0, &answer, &authority);
    assert_eq!(
        check_answer(&v, "nosuch.example.", A, &nodata).await,
        Verdict::Bogus(Bogus::NsecMissing)
    );
    // A reply to another question.
    let other = f.resolver.resolve(&wire("alias.example."), A);
    assert_eq!(
        check_answer(&v, "www.example.", A, &other).await,
        Verdict::Bogus(Bogus::Other("answer does not match the question"))
    );
}

/// A forged NXDOMAIN for a name in a signed child, made of the parent's NSEC at the
/// delegation (which covers every name below it in canonical order): an ancestor
/// delegation's NSEC proves nothing below it (RFC 6840 §4.1).
#[tokio::test]
async fn parent_nsec_cannot_deny_names_in_a_child() {
    let f = fixture();
    let v = validator(Settings::default());
    // rsa0.example. sorts between rsa.example. and rsa512.example.: its NXDOMAIN carries
    // the NSEC at the rsa.example. delegation.
    let (_, _, rcode, _, authority) = decode(&f.resolver.resolve(&wire("rsa0.example."), A));
    assert_eq!(rcode, 3);
    assert!(authority
        .iter()
        .any(|r| r.rtype == NSEC && r.owner == wire("rsa.example.")));
    assert_eq!(
        check_answer(
            &v,
            "rsa0.example.",
            A,
            &f.resolver.resolve(&wire("rsa0.example."), A)
        )
        .await,
        Verdict::Secure
    );
    let forged = encode(&wire("www.rsa.example."), A, 3, &[], &authority);
    assert_eq!(
        check_answer(&v, "www.rsa.example.", A, &forged).await,
        Verdict::Bogus(Bogus::NsecMissing)
    );
}

/// The CNAME a server synthesizes from a DNAME is unsigned; one pointing elsewhere than
/// the DNAME says is bogus (RFC 6672 §5.3.3).
#[tokio::test]
async fn synthesized_cname_must_follow_the_dname() {
    let f = fixture();
    let v = validator(Settings::default());
    let (q, t, rcode, mut answer, authority) =
        decode(&f.resolver.resolve(&wire("www.dname.example."), A));
    let synthesized = answer
        .iter_mut()
        .find(|r| r.rtype == 5 && r.owner == wire("www.dname.example."))
        .expect("synthesized CNAME");
    synthesized.rdata = wire("www.example.");
    let forged = encode(&q, t, rcode, &answer, &authority);
    assert_eq!(
        check_answer(&v, "www.dname.example.", A, &forged).await,
        Verdict::Bogus(Bogus::Other("CNAME does not match the DNAME"))
    );
}

#[tokio::test]
async fn keytrap_keys_per_tag_cap() {
    let report = check(&validator(Settings::default()), "www.keytrap.example.", A).await;
    assert_eq!(
        report.verdict,
        Verdict::Bogus(Bogus::Other("key limit per key tag reached"))
    );
    let roomy = Settings {
        max_keys_per_tag: 16,
        ..Settings::default()
    };
    let report = check(&validator(roomy), "www.keytrap.example.", A).await;
    assert_eq!(report.verdict, Verdict::Secure);
    assert!(
        report.signatures >= 9,
        "eight colliding keys were tried first"
    );
}

#[tokio::test]
async fn keytrap_signatures_per_rrset_cap() {
    let report = check(&validator(Settings::default()), "www.sigs.example.", A).await;
    assert_eq!(
        report.verdict,
        Verdict::Bogus(Bogus::Other("signature limit per RRset reached"))
    );
    let roomy = Settings {
        max_sigs_per_rrset: 16,
        ..Settings::default()
    };
    assert_eq!(
        check(&validator(roomy), "www.sigs.example.", A)
            .await
            .verdict,
        Verdict::Secure
    );
}

#[tokio::test]
async fn total_signature_budget() {
    let report = check(&validator(Settings::default()), "c1.chain.example.", A).await;
    assert_eq!(report.verdict, Verdict::Bogus(EXHAUSTED));
    assert_eq!(report.signatures, Settings::default().max_signature_checks);
    let roomy = Settings {
        max_signature_checks: 200,
        ..Settings::default()
    };
    let report = check(&validator(roomy), "c1.chain.example.", A).await;
    assert_eq!(report.verdict, Verdict::Secure);
    assert!(report.signatures > 64, "{}", report.signatures);
}

/// The memo of verified signatures: a wildcard's signed data is rebuilt with the wildcard
/// owner (RFC 4035 §5.3.2), so a second expansion needs no new verification of its RRset,
/// yet after a cached success a tampered record or signature is still bogus.
#[tokio::test]
async fn memo_of_verified_signatures_decides_nothing() {
    let f = fixture();
    let v = validator(Settings::default());
    for (first, second) in [
        ("x.w.n3.example.", "other.w.n3.example."),
        ("anything.wild.example.", "else.wild.example."),
    ] {
        let cold = check(&v, first, A).await;
        assert_eq!(cold.verdict, Verdict::Secure, "{first}");
        let again = check(&v, first, A).await;
        assert_eq!(again.verdict, Verdict::Secure, "{first}");
        assert_eq!(again.memo_hits, again.signatures, "{first}: all memo hits");
        let other = check(&v, second, A).await;
        assert_eq!(other.verdict, Verdict::Secure, "{second}");
        assert!(
            other.memo_hits >= 1,
            "{second}: the wildcard RRset's check is a hit"
        );
        // After those successes: one record of the expansion changed, then the
        // signature over it.
        let (q, t, rcode, answer, authority) = decode(&f.resolver.resolve(&wire(second), A));
        let mut tampered = answer.clone();
        tampered
            .iter_mut()
            .find(|r| r.rtype == A)
            .expect("the A record")
            .rdata = vec![192, 0, 2, 66];
        assert_eq!(
            check_answer(&v, second, A, &encode(&q, t, rcode, &tampered, &authority)).await,
            Verdict::Bogus(Bogus::Other("signature verification failed")),
            "{second}: tampered record"
        );
        let mut forged = answer.clone();
        let sig = forged
            .iter_mut()
            .find(|r| r.rtype == RRSIG)
            .expect("the A RRset's RRSIG");
        *sig.rdata.last_mut().expect("signature octets") ^= 1;
        assert_eq!(
            check_answer(&v, second, A, &encode(&q, t, rcode, &forged, &authority)).await,
            Verdict::Bogus(Bogus::Other("signature verification failed")),
            "{second}: tampered signature"
        );
        assert_eq!(
            check_answer(&v, second, A, &encode(&q, t, rcode, &answer, &authority)).await,
            Verdict::Secure
        );
    }
}

/// A memo hit is charged like a verification: with a budget one check short of what the
/// crafted chain needs (its keys already cached), validating it again and again, with more
/// of its signatures remembered each time, never gets it past the budget.
#[tokio::test]
async fn memo_hits_count_against_the_budget() {
    // What it needs, counted without a memo.
    let roomy = validator(Settings {
        max_signature_checks: 200,
        verified_capacity: 0,
        ..Settings::default()
    });
    check(&roomy, "c1.chain.example.", A).await;
    let needed = check(&roomy, "c1.chain.example.", A).await.signatures;
    assert!(needed > 64, "{needed}");
    let short = Settings {
        max_signature_checks: needed - 1,
        ..Settings::default()
    };
    let v = validator(short);
    for round in 0..4 {
        let report = check(&v, "c1.chain.example.", A).await;
        assert_eq!(report.verdict, Verdict::Bogus(EXHAUSTED), "round {round}");
        assert_eq!(report.signatures, needed - 1, "round {round}");
        if round > 0 {
            assert!(report.memo_hits > 0, "round {round}: the memo was used");
        }
    }
    let v = validator(Settings::default());
    for _ in 0..2 {
        assert_eq!(
            check(&v, "www.keytrap.example.", A).await.verdict,
            Verdict::Bogus(Bogus::Other("key limit per key tag reached"))
        );
        assert_eq!(
            check(&v, "www.sigs.example.", A).await.verdict,
            Verdict::Bogus(Bogus::Other("signature limit per RRset reached"))
        );
    }
}

#[tokio::test]
async fn nsec3_hash_budget() {
    let report = check(&validator(Settings::default()), &heavy_name(), A).await;
    assert_eq!(report.verdict, Verdict::Bogus(EXHAUSTED));
    let roomy = Settings {
        max_hash_ops: 10_000,
        ..Settings::default()
    };
    let report = check(&validator(roomy), &heavy_name(), A).await;
    assert_eq!(report.verdict, Verdict::Secure);
    assert!(report.hashes > 2_500, "{}", report.hashes);
    let short = check(&validator(Settings::default()), "nosuch.heavy.example.", A).await;
    assert_eq!(short.verdict, Verdict::Secure);
}

#[tokio::test]
async fn nsec3_iteration_cap() {
    let report = check(&validator(Settings::default()), "nosuch.iter.example.", A).await;
    assert_eq!(report.verdict, Verdict::Insecure);
    let lifted = Settings {
        max_nsec3_iterations: 300,
        ..Settings::default()
    };
    assert_eq!(
        check(&validator(lifted), "nosuch.iter.example.", A)
            .await
            .verdict,
        Verdict::Secure
    );
}

#[tokio::test]
async fn fetch_budget() {
    let tight = Settings {
        max_fetches: 3,
        ..Settings::default()
    };
    assert_eq!(
        check(&validator(tight), "www.rsa.example.", A)
            .await
            .verdict,
        Verdict::Bogus(EXHAUSTED)
    );
    assert_eq!(verdict("www.rsa.example.", A).await, Verdict::Secure);
}

#[tokio::test]
async fn chain_is_cached_and_expires() {
    let v = validator(Settings::default());
    let first = check(&v, "www.rsa.example.", A).await;
    assert_eq!(first.verdict, Verdict::Secure);
    assert_eq!(
        first.fetches, 5,
        "root DNSKEY, DS and DNSKEY of example. and rsa.example."
    );
    let again = check(&v, "www.rsa.example.", A).await;
    assert_eq!(again.verdict, Verdict::Secure);
    assert_eq!(again.fetches, 0);
    // NODATA in the same zone: the keys are known, the walk to the owner is not needed.
    let nodata = check(&v, "www.rsa.example.", AAAA).await;
    assert_eq!((nodata.verdict, nodata.fetches), (Verdict::Secure, 0));
    // Two days later every entry (at most a day old by max_cache_ttl) has expired.
    let f = fixture();
    let later = f.set.now + 2 * 86_400;
    let answer = f.resolver.resolve(&wire("www.rsa.example."), A);
    let report = v
        .validate_report(&f.resolver, &wire("www.rsa.example."), A, &answer, later)
        .await;
    assert_eq!((report.verdict, report.fetches), (Verdict::Secure, 5));
}

#[tokio::test]
async fn chain_cache_is_bounded() {
    let small = Settings {
        cache_capacity: 3,
        ..Settings::default()
    };
    let v = validator(small);
    for name in [
        "www.rsa.example.",
        "www.ed.example.",
        "www.n3.example.",
        "www.p384.example.",
    ] {
        assert_eq!(check(&v, name, A).await.verdict, Verdict::Secure, "{name}");
        assert!(v.cache_len() <= 3, "{}", v.cache_len());
    }
}

#[tokio::test]
async fn bogus_zone_is_remembered_briefly() {
    let v = validator(Settings::default());
    let first = check(&v, "www.badds.example.", A).await;
    assert_eq!(first.verdict, Verdict::Bogus(Bogus::DnskeyMissing));
    let again = check(&v, "www.badds.example.", A).await;
    assert_eq!(again.verdict, Verdict::Bogus(Bogus::DnskeyMissing));
    assert_eq!(again.fetches, 0, "the bogus delegation is cached");
}

#[tokio::test]
async fn negative_trust_anchors() {
    let f = fixture();
    let v = validator(Settings::default());
    // A special-use name: insecure without a single fetch, whatever the answer.
    let answer = encode(&wire("www.example.test."), A, 3, &[], &[]);
    let report = v
        .validate_report(
            &f.resolver,
            &wire("www.example.test."),
            A,
            &answer,
            f.set.now,
        )
        .await;
    assert_eq!((report.verdict, report.fetches), (Verdict::Insecure, 0));
    // Configured ones: signed and bogus zones alike become insecure.
    let mut nta = NegativeAnchors::default();
    nta.add(Name::from_text("rsa.example.").unwrap());
    nta.add(Name::from_text("expired.example.").unwrap());
    let v = Validator::new(anchors(), nta, Settings::default());
    assert_eq!(
        check(&v, "www.rsa.example.", A).await.verdict,
        Verdict::Insecure
    );
    assert_eq!(
        check(&v, "www.expired.example.", A).await.verdict,
        Verdict::Insecure
    );
    assert_eq!(
        check(&v, "www.ed.example.", A).await.verdict,
        Verdict::Secure
    );
    // A CNAME whose target sits under one: insecure as a whole.
    let mut nta = NegativeAnchors::default();
    nta.add(Name::from_text("n3.example.").unwrap());
    let v = Validator::new(anchors(), nta, Settings::default());
    assert_eq!(
        check(&v, "cname.example.", A).await.verdict,
        Verdict::Insecure
    );
}

#[tokio::test]
async fn trust_anchor_forms_and_mismatches() {
    let f = fixture();
    let v = Validator::new(
        f.by_key.clone(),
        NegativeAnchors::default(),
        Settings::default(),
    );
    assert_eq!(check(&v, "www.example.", A).await.verdict, Verdict::Secure);
    // The real root's KSKs do not sign this private root.
    let v = Validator::new(
        TrustAnchors::root(),
        NegativeAnchors::default(),
        Settings::default(),
    );
    assert_eq!(
        check(&v, "www.example.", A).await.verdict,
        Verdict::Bogus(Bogus::DnskeyMissing)
    );
    // No anchor above the name: nothing can make it secure.
    let elsewhere = TrustAnchors::parse("other. DS 1 13 2 00ff").unwrap();
    let v = Validator::new(elsewhere, NegativeAnchors::default(), Settings::default());
    assert_eq!(
        check(&v, "www.example.", A).await.verdict,
        Verdict::Insecure
    );
    // An anchor deeper than the root, for an island: the walk starts there.
    let n3_ds = f
        .tld_text
        .lines()
        .filter(|l| l.starts_with("n3.example.") && l.split_whitespace().nth(3) == Some("DS"))
        .collect::<Vec<_>>()
        .join("\n");
    let island = TrustAnchors::parse(&n3_ds).unwrap();
    let v = Validator::new(island, NegativeAnchors::default(), Settings::default());
    let report = check(&v, "www.n3.example.", A).await;
    assert_eq!((report.verdict, report.fetches), (Verdict::Secure, 1));
}

/// A fetcher that never gets an answer.
struct Unreachable;

impl Fetch for Unreachable {
    fn fetch(&self, _: &[u8], _: u16) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send {
        std::future::ready(None)
    }
}

#[tokio::test]
async fn unreachable_chain_or_upstream_error_is_indeterminate() {
    let f = fixture();
    let v = validator(Settings::default());
    let answer = f.resolver.resolve(&wire("www.example."), A);
    assert_eq!(
        v.validate(&Unreachable, &wire("www.example."), A, &answer, f.set.now)
            .await,
        Verdict::Indeterminate
    );
    let servfail = encode(&wire("www.example."), A, 2, &[], &[]);
    assert_eq!(
        check_answer(&v, "www.example.", A, &servfail).await,
        Verdict::Indeterminate
    );
}

#[tokio::test]
async fn malformed_input_is_bogus_not_a_panic() {
    let f = fixture();
    let v = validator(Settings::default());
    let good = f.resolver.resolve(&wire("www.example."), A);
    for cut in 0..good.len() {
        let verdict = check_answer(&v, "www.example.", A, &good[..cut]).await;
        assert!(matches!(verdict, Verdict::Bogus(_)), "{cut}: {verdict:?}");
    }
    // Every single-octet corruption: never secure, never a panic... unless the octet is
    // one nothing reads (TTLs and the header's ID and flags are not signed).
    let mut secure_after_flip = 0;
    for at in 12..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x55;
        if check_answer(&v, "www.example.", A, &bad).await == Verdict::Secure {
            secure_after_flip += 1;
        }
    }
    assert!(
        secure_after_flip <= 16,
        "{secure_after_flip} corrupted octets still validated"
    );
}

/// The lead spawns validations on a multi-threaded runtime: the future must be `Send`,
/// and the validator shareable.
#[test]
fn validation_future_is_send_and_validator_sync() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Sync + Send>() {}
    sync::<Validator>();
    let v = Validator::new(
        TrustAnchors::root(),
        NegativeAnchors::default(),
        Settings::default(),
    );
    let fetch = Unreachable;
    let future = v.validate(&fetch, b"\x00", A, &[], 0);
    send(&future);
}

/// Chain responses corrupted at random (octets flipped, or cut short): whatever the
/// verdict, no panic. Deterministic: fixed seeds.
struct Corrupting<'a> {
    inner: &'a Resolver,
    rng: std::sync::Mutex<fastrand::Rng>,
}

impl Fetch for Corrupting<'_> {
    fn fetch(
        &self,
        name: &[u8],
        qtype: u16,
    ) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send {
        let mut reply = self.inner.resolve(name, qtype);
        let mut rng = self.rng.lock().unwrap();
        if rng.bool() {
            let cut = rng.usize(..reply.len());
            reply.truncate(cut);
        } else {
            for _ in 0..rng.usize(1..5) {
                let at = rng.usize(..reply.len());
                reply[at] ^= rng.u8(1..);
            }
        }
        std::future::ready(Some(reply))
    }
}

#[tokio::test]
async fn corrupted_chain_responses_never_panic() {
    let f = fixture();
    for seed in 0..8u64 {
        let fetch = Corrupting {
            inner: &f.resolver,
            rng: std::sync::Mutex::new(fastrand::Rng::with_seed(seed)),
        };
        for case in cases() {
            let v = validator(Settings::default());
            let answer = f.resolver.resolve(&wire(&case.qname), case.qtype);
            let _ = v
                .validate(&fetch, &wire(&case.qname), case.qtype, &answer, f.set.now)
                .await;
        }
    }
}
