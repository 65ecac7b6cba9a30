//! DNSSEC validation in the pipeline (RFC 4035 §3.2, §4.3; RFC 6840 §5.7; RFC 8914): a
//! proxy trusting a private root (signed at test time with ldnsutils, see
//! tests/dnssec_zones) forwards to an in-process DoT upstream that answers from those zones
//! as a non-validating resolver asked with CD=1 does. Every case of the zone set gets its
//! rcode, AD bit and Extended DNS Error from the proxy; the DO, AD and CD bits of the client
//! decide what it gets; bogus answers are never cached; the chain queries go through the
//! same authenticated, padded upstream; `--dnssec off` and `--insecure-zone` switch it off.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strictdot::cache::CacheSettings;
use strictdot::config::ConfigBuilder;
use strictdot::dns::builder::QueryBuilder;
use strictdot::dns::reader::Reader;
use strictdot::dnssec::canonical::Name;
use strictdot::dnssec::{NegativeAnchors, Trust, TrustAnchors};

use crate::dnssec_zones::resolver::Resolver;
use crate::dnssec_zones::{self, cases, Expect};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(4);
const RRSIG: u16 = 46;
const NSEC: u16 = 47;
const NSEC3: u16 = 50;

struct Zones {
    resolver: Resolver,
    /// The private root's KSK, read from the zone set's DS anchor file.
    anchors: TrustAnchors,
}

/// The signed zones, built once for this test binary (fails, never skips, without
/// ldnsutils); the directory is removed once loaded.
fn zones() -> &'static Zones {
    static ZONES: OnceLock<Zones> = OnceLock::new();
    ZONES.get_or_init(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let dir: PathBuf =
            std::env::temp_dir().join(format!("strictdot-validation-{}-{now}", std::process::id()));
        let built = dnssec_zones::build(&dir, now).and_then(|set| {
            let resolver = Resolver::load(&set)?;
            let anchors = TrustAnchors::from_file(&set.anchor_ds).map_err(|e| e.to_string())?;
            Ok(Zones { resolver, anchors })
        });
        let zones = built.unwrap_or_else(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("building the signed test zones failed: {e}")
        });
        // Everything is in memory now.
        let _ = std::fs::remove_dir_all(&dir);
        zones
    })
}

/// The upstream's answer to the query `q`: the zones' response with `q`'s ID and an OPT
/// record with DO, as a resolver asked with DO=1 and CD=1 answers.
fn from_zones(q: &[u8]) -> Vec<u8> {
    let valid = strictdot::dns::query::validate(q).expect("a valid query");
    let mut r = zones().resolver.resolve(valid.qname(), valid.qtype());
    r[..2].copy_from_slice(&q[..2]);
    r[2] = (r[2] & !0x01) | (q[2] & 0x01); // RD as asked
    r[3] = (r[3] & !0x10) | (q[3] & 0x10); // CD as asked
    r[10..12].copy_from_slice(&[0, 1]);
    r.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
    r
}

fn trust(negative: &[&str]) -> Trust {
    let mut n = NegativeAnchors::none();
    for name in negative {
        n.add(Name::from_text(name).unwrap());
    }
    Trust {
        anchors: zones().anchors.clone(),
        negative: n,
    }
}

fn with_cache(c: ConfigBuilder) -> ConfigBuilder {
    c.cache(Some(CacheSettings {
        max_entries: 10_000,
        max_bytes: 1 << 24,
        min_ttl: 0,
        max_ttl: 3600,
        servfail_ttl: 0,
        serve_stale: None,
        prefetch: false,
    }))
}

/// A proxy validating from the private root, its upstream serving the zones.
async fn validating(negative: &[&str], cache: bool) -> (FakeUpstream, Proxy) {
    zones();
    let root = ca("Validation Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::Respond(from_zones))
        .start()
        .await;
    let mut c = config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root])
        .timeout(Duration::from_secs(3))
        .dnssec(Some(trust(negative)));
    if cache {
        c = with_cache(c);
    }
    let proxy = start_proxy(c).await;
    (up, proxy)
}

/// What a reply says: its rcode, AD and CD bits, the types in its answer and authority
/// sections, and its Extended DNS Error INFO-CODE if any.
#[derive(Debug)]
struct Reply {
    rcode: u8,
    ad: bool,
    cd: bool,
    types: Vec<u16>,
    ede: Option<u16>,
}

fn read(reply: &[u8]) -> Reply {
    let mut r = Reader::new(reply);
    r.take(12).unwrap();
    let count = |at: usize| u16::from_be_bytes([reply[at], reply[at + 1]]);
    for _ in 0..count(4) {
        r.name(true).unwrap();
        r.take(4).unwrap();
    }
    let mut types = Vec::new();
    let mut ede = None;
    for i in 0..count(6) + count(8) + count(10) {
        let rec = r.record().expect("a well-formed record");
        if i < count(6) + count(8) {
            types.push(rec.rtype);
        } else if rec.rtype == 41 {
            let mut o = Reader::at(reply, rec.rdata_start).unwrap();
            while o.pos() < rec.rdata_end {
                let code = o.u16().unwrap();
                let len = usize::from(o.u16().unwrap());
                let data = o.take(len).unwrap();
                if code == 15 {
                    ede = Some(u16::from_be_bytes([data[0], data[1]]));
                }
            }
        }
    }
    r.finish().expect("nothing after the records");
    Reply {
        rcode: reply[3] & 0x0F,
        ad: reply[3] & 0x20 != 0,
        cd: reply[3] & 0x10 != 0,
        types,
        ede,
    }
}

/// A query with EDNS; `flags` ORed into the header (AD 0x0020, CD 0x0010), DO if `dnssec_ok`.
fn ask(name: &str, qtype: u16, dnssec_ok: bool, flags: u16) -> Vec<u8> {
    let name = name.trim_end_matches('.');
    let name = if name.is_empty() { "." } else { name };
    let q = QueryBuilder::new(name, qtype)
        .id(0x5151)
        .flags(0x0100 | flags)
        .edns(1232);
    if dnssec_ok {
        q.dnssec_ok().build()
    } else {
        q.build()
    }
}

async fn over_tcp(proxy: &Proxy, msg: &[u8]) -> Reply {
    let reply = tcp_exchange(proxy.addr, msg, WAIT)
        .await
        .expect("an answer");
    assert_eq!(&reply[..2], &msg[..2], "the client's ID");
    read(&reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_gets_its_rcode_ad_bit_and_extended_error() {
    let (_up, proxy) = validating(&[], true).await;
    let mut wrong = Vec::new();
    for case in cases() {
        let got = over_tcp(&proxy, &ask(&case.qname, case.qtype, true, 0)).await;
        let ok = match case.expect {
            Expect::Secure => got.ad && (got.rcode == 0 || got.rcode == 3) && got.ede.is_none(),
            Expect::Insecure => !got.ad && (got.rcode == 0 || got.rcode == 3),
            Expect::Bogus(code) => got.rcode == 2 && !got.ad && got.ede == Some(code),
        };
        if !ok {
            wrong.push(format!(
                "{} ({} type {}): expected {:?}, got {got:?}",
                case.label, case.qname, case.qtype, case.expect
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let m = &proxy.metrics;
    assert!(m.dnssec_outcomes[0].get() > 0, "secure counted");
    assert!(m.dnssec_outcomes[1].get() > 0, "insecure counted");
    assert!(m.dnssec_outcomes[2].get() > 0, "bogus counted");
    assert!(m.dnssec_chain_queries.get() > 0, "chain queries counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_and_ad_bits_decide_what_the_client_gets() {
    let (_up, proxy) = validating(&[], true).await;
    // DO=1: the signatures, and AD.
    let with = over_tcp(&proxy, &ask("www.example.", 1, true, 0)).await;
    assert!(with.ad && with.types.contains(&RRSIG), "{with:?}");
    // DO=0, AD=0: no DNSSEC records, no AD (RFC 4035 §3.2.1, RFC 6840 §5.7).
    let plain = over_tcp(&proxy, &ask("www.example.", 1, false, 0)).await;
    assert_eq!(plain.types, [1], "{plain:?}");
    assert!(!plain.ad);
    // DO=0, AD=1: AD for the secure answer, still no DNSSEC records.
    let ad = over_tcp(&proxy, &ask("www.example.", 1, false, 0x0020)).await;
    assert_eq!(ad.types, [1], "{ad:?}");
    assert!(ad.ad);
    // A denial without DO: the NSEC proof and its signatures stay behind.
    let nx = over_tcp(&proxy, &ask("nosuch.example.", 1, false, 0)).await;
    assert_eq!(nx.rcode, 3);
    assert!(
        !nx.types.iter().any(|t| [RRSIG, NSEC, NSEC3].contains(t)),
        "{nx:?}"
    );
    // Asked for explicitly, a DNSSEC type stays.
    let dnskey = over_tcp(&proxy, &ask(".", 48, false, 0)).await;
    assert!(dnskey.types.contains(&48) && !dnskey.types.contains(&RRSIG));
    // The same over UDP.
    let udp = udp_exchange(proxy.addr, &ask("www.example.", 1, false, 0), WAIT)
        .await
        .expect("an answer");
    assert_eq!(read(&udp).types, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_disabled_gets_the_bogus_answer_and_does_not_share_it() {
    let (_up, proxy) = validating(&[], true).await;
    let name = "www.tampered.example.";
    let cd = over_tcp(&proxy, &ask(name, 1, true, 0x0010)).await;
    assert_eq!(cd.rcode, 0, "CD=1: the answer unjudged (RFC 4035 §3.2.2)");
    assert!(cd.cd && !cd.ad, "{cd:?}");
    assert!(cd.types.contains(&1));
    // The CD=1 answer is cached, but apart: a validating client still gets SERVFAIL.
    let checked = over_tcp(&proxy, &ask(name, 1, true, 0)).await;
    assert_eq!((checked.rcode, checked.ede), (2, Some(6)), "{checked:?}");
    assert!(!checked.cd);
    assert!(
        proxy.metrics.dnssec_outcomes[4].get() >= 1,
        "unchecked counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bogus_answers_are_never_cached() {
    let (up, proxy) = validating(&[], true).await;
    let name = "www.expired.example.";
    let asked = |up: &FakeUpstream| {
        up.seen
            .messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| {
                let q = strictdot::dns::query::validate(m).unwrap();
                q.qtype() == 1
                    && q.qname()
                        .eq_ignore_ascii_case(b"\x03www\x07expired\x07example\x00")
            })
            .count()
    };
    for round in 1..=3 {
        let got = over_tcp(&proxy, &ask(name, 1, true, 0)).await;
        assert_eq!((got.rcode, got.ede), (2, Some(7)), "{got:?}");
        assert_eq!(asked(&up), round, "each query went upstream again");
    }
    // A good answer is cached: asked once, answered twice.
    let before = up.seen.queries.load(std::sync::atomic::Ordering::SeqCst);
    over_tcp(&proxy, &ask("www.ed.example.", 1, true, 0)).await;
    let mid = up.seen.queries.load(std::sync::atomic::Ordering::SeqCst);
    assert!(mid > before);
    let again = over_tcp(&proxy, &ask("www.ed.example.", 1, true, 0)).await;
    assert!(again.ad);
    assert_eq!(
        up.seen.queries.load(std::sync::atomic::Ordering::SeqCst),
        mid,
        "the secure answer came from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_queries_go_to_the_authenticated_upstream_padded_and_checking_disabled() {
    let (up, proxy) = validating(&[], false).await;
    let got = over_tcp(&proxy, &ask("www.rsa.example.", 1, false, 0)).await;
    assert_eq!(got.rcode, 0);
    let messages = up.seen.messages.lock().unwrap().clone();
    let mut chain = 0;
    for m in &messages {
        let q = strictdot::dns::query::validate(m).unwrap();
        assert_ne!(q.flags() & 0x0010, 0, "CD=1 on every upstream query");
        assert!(
            q.edns().is_some_and(|e| e.dnssec_ok),
            "DO=1 on every upstream query"
        );
        assert_eq!(m.len() % 128, 0, "padded to 128 octets (RFC 8467)");
        if q.qtype() == 43 || q.qtype() == 48 {
            chain += 1;
        }
    }
    assert!(chain >= 3, "DS and DNSKEY fetched upstream: {chain}");
    // Without the cache, the validator's own chain cache still spares a second walk.
    let n = messages.len();
    over_tcp(&proxy, &ask("www.rsa.example.", 1, false, 0)).await;
    assert_eq!(up.seen.messages.lock().unwrap().len(), n + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_and_negative_trust_anchors_pass_answers_unjudged() {
    // A negative trust anchor: the bogus zone answers, AD clear.
    let (_up, proxy) = validating(&["expired.example."], true).await;
    let nta = over_tcp(&proxy, &ask("www.expired.example.", 1, true, 0)).await;
    assert_eq!(nta.rcode, 0);
    assert!(!nta.ad);
    let other = over_tcp(&proxy, &ask("www.tampered.example.", 1, true, 0)).await;
    assert_eq!(other.rcode, 2, "only the named zone is exempt");
    // Off: the forged answer passes (this is what validation stops).
    let root = ca("Off Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::Respond(from_zones))
        .start()
        .await;
    let proxy = start_proxy(config(
        vec![upstream(up.addr, Some("dot.test"), vec![])],
        &[&root],
    ))
    .await;
    let off = over_tcp(&proxy, &ask("www.tampered.example.", 1, true, 0)).await;
    assert_eq!(off.rcode, 0);
    assert!(!off.ad);
    let m = &up.seen.messages.lock().unwrap()[0];
    assert_eq!(m[3] & 0x10, 0, "off: the client's CD=0 as sent");
}

/// With the root anchors compiled in, an upstream that answers every question (DS and
/// DNSKEY included) with an unsigned A record proves nothing: the answer is not passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_forging_everything_unsigned_gets_servfail() {
    let root = ca("Forger Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(
        config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root]).dnssec(Some(Trust {
            anchors: TrustAnchors::root(),
            negative: NegativeAnchors::none(),
        })),
    )
    .await;
    for (name, dnssec_ok) in [
        ("www.example.", true),
        ("www.example.", false),
        ("com.", true),
    ] {
        let got = over_tcp(&proxy, &ask(name, 1, dnssec_ok, 0)).await;
        assert_eq!(got.rcode, 2, "{name} DO={dnssec_ok}: {got:?}");
        assert!(!got.ad);
    }
}
