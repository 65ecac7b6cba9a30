//! Extended DNS Errors (RFC 8914): every answer strictdot makes itself says why, to a client
//! that sent EDNS; the upstream's own EDE options reach the client, from the cache too.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use strictdot::acl::Acl;
use strictdot::cache::CacheSettings;
use strictdot::config::ConfigBuilder;
use strictdot::limiter::RateSettings;
use tokio::net::UdpSocket;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(4);

/// The INFO-CODE and EXTRA-TEXT of the reply's Extended DNS Error, read by hickory.
fn ede_of(reply: &[u8]) -> Option<(u16, String)> {
    let m = parse(reply);
    let edns = m.extensions().as_ref()?;
    match edns.option(EdnsCode::from(15))? {
        EdnsOption::Unknown(15, data) if data.len() >= 2 => Some((
            u16::from_be_bytes([data[0], data[1]]),
            String::from_utf8_lossy(&data[2..]).into_owned(),
        )),
        _ => None,
    }
}

fn edns_query(id: u16, name: &str) -> Vec<u8> {
    query(id, name, 1, Some(1232))
}

async fn ask_udp(proxy: &Proxy, id: u16, name: &str) -> Vec<u8> {
    udp_exchange(proxy.addr, &edns_query(id, name), WAIT)
        .await
        .expect("an answer")
}

/// Asserts a SERVFAIL carrying `code` with `text` in its EXTRA-TEXT, and never the name.
fn assert_ede(reply: &[u8], rcode: ResponseCode, code: u16, text: &str) {
    assert_eq!(parse(reply).response_code(), rcode);
    let (got, extra) = ede_of(reply).expect("an Extended DNS Error");
    assert_eq!(got, code, "{extra}");
    assert!(extra.contains(text), "{extra:?} lacks {text:?}");
    assert!(!extra.contains("example"), "the name leaked into {extra:?}");
}

fn with_cache(c: ConfigBuilder, max_ttl: u32, serve_stale: Option<Duration>) -> ConfigBuilder {
    c.cache(Some(CacheSettings {
        max_entries: 1000,
        max_bytes: 1 << 20,
        min_ttl: 0,
        max_ttl,
        servfail_ttl: 0,
        serve_stale,
        prefetch: false,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_authentication_failure_says_which_check_failed() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let other = self_signed("other.test");
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(config(
        vec![upstream(up.addr, None, vec![other.pin()])],
        &[&root],
    ))
    .await;
    let reply = ask_udp(&proxy, 1, "www.example").await;
    assert_ede(
        &reply,
        ResponseCode::ServFail,
        22,
        "upstream authentication failed: SPKI pin mismatch",
    );
    // A client without EDNS gets the plain SERVFAIL (RFC 8914 §3).
    let reply = udp_exchange(proxy.addr, &query(2, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::ServFail);
    assert!(parse(&reply).extensions().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_and_untrusted_chain_named_too() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(config(
        vec![upstream(up.addr, Some("wrong.test"), vec![])],
        &[&root],
    ))
    .await;
    let reply = ask_udp(&proxy, 1, "www.example").await;
    assert_ede(&reply, ResponseCode::ServFail, 22, "not valid for the name");
    let stranger = ca("Unknown Root");
    let server = leaf("dot.test", &stranger);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(config(
        vec![upstream(up.addr, Some("dot.test"), vec![])],
        &[&root],
    ))
    .await;
    let reply = ask_udp(&proxy, 1, "www.example").await;
    assert_ede(&reply, ResponseCode::ServFail, 22, "chain not trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_timeout_and_connection_failure() {
    let (_r, _up, proxy) = name_authenticated(Behavior::Stall).await;
    let reply = ask_udp(&proxy, 1, "www.example").await;
    assert_ede(
        &reply,
        ResponseCode::ServFail,
        22,
        "no upstream answered in time",
    );
    let root = ca("Test Root");
    let proxy = start_proxy(config(
        vec![upstream(dead_addr(), Some("dot.test"), vec![])],
        &[&root],
    ))
    .await;
    let reply = ask_udp(&proxy, 1, "www.example").await;
    assert_ede(
        &reply,
        ResponseCode::ServFail,
        23,
        "upstream connection failed",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_cap_says_busy() {
    let (_root, up, c) = named_upstream(Behavior::Stall).await;
    let c = c.max_pending(1);
    let proxy = start_proxy(c).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&edns_query(1, "a.example"), proxy.addr)
        .await
        .unwrap();
    let arrived = up.seen.query_arrived.notified();
    if up.seen.queries.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::timeout(WAIT, arrived).await.expect("held");
    }
    let reply = ask_udp(&proxy, 2, "b.example").await;
    assert_ede(
        &reply,
        ResponseCode::ServFail,
        0,
        "too many queries pending",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_answers_marked_stale() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let nx = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::NxDomain)
        .start()
        .await;
    for (up, rcode, code) in [
        (up, ResponseCode::NoError, 3),
        (nx, ResponseCode::NXDomain, 19),
    ] {
        let c = config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root]);
        let c = with_cache(c, 1, Some(Duration::from_secs(3600)));
        let proxy = start_proxy(c).await;
        let first = ask_udp(&proxy, 1, "www.example").await;
        assert_eq!(parse(&first).response_code(), rcode);
        assert!(ede_of(&first).is_none(), "a fresh answer has no EDE");
        up.shutdown().await;
        // Let the one-second entry expire (this waits for time to pass, not an event).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let reply = ask_udp(&proxy, 2, "www.example").await;
        assert_ede(&reply, rcode, code, "stale");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_list_and_rate_limit_say_so() {
    let (_root, _up, c) = named_upstream(Behavior::Answer).await;
    let c = c
        .acl(Acl::new(vec!["127.0.0.9/32".parse().unwrap()]))
        .rate_limit(Some(RateSettings {
            qps: 1.try_into().unwrap(),
            burst: 1.try_into().unwrap(),
            v4_prefix: 32,
            v6_prefix: 64,
            slip: 1,
            max_keys: 100,
        }));
    let proxy = start_proxy(c).await;
    let reply = udp_exchange_from("127.0.0.1", proxy.addr, &edns_query(1, "www.example"), WAIT)
        .await
        .unwrap();
    assert_ede(&reply, ResponseCode::Refused, 18, "allow list");
    // Over the limit over TCP: REFUSED; over UDP with slip 1: TC=1; both say why.
    let _ = tcp_exchange_from("127.0.0.9", proxy.addr, &edns_query(2, "www.example"), WAIT).await;
    let reply = tcp_exchange_from("127.0.0.9", proxy.addr, &edns_query(3, "www.example"), WAIT)
        .await
        .unwrap();
    assert_ede(&reply, ResponseCode::Refused, 0, "rate limit");
    let reply = udp_exchange_from("127.0.0.9", proxy.addr, &edns_query(4, "www.example"), WAIT)
        .await
        .unwrap();
    assert!(parse(&reply).truncated());
    assert_ede(&reply, ResponseCode::NoError, 0, "rate limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_zone_server_failure() {
    let root = ca("Test Root");
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let c = config(
        vec![upstream(dead_addr(), Some("dot.test"), vec![])],
        &[&root],
    )
    .zone("corp.test", vec![silent.local_addr().unwrap()]);
    let proxy = start_proxy(c).await;
    let reply = ask_udp(&proxy, 1, "db.corp.test").await;
    assert_ede(&reply, ResponseCode::ServFail, 23, "local zone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_ede_reaches_the_client_from_the_cache_too() {
    let (_root, _up, c) = named_upstream(Behavior::AnswerWithEde).await;
    let c = with_cache(c, 300, None);
    let proxy = start_proxy(c).await;
    for id in [1, 2] {
        let reply = ask_udp(&proxy, id, "www.example").await;
        assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
        assert_eq!(ede_of(&reply), Some((6, "signed".to_owned())), "query {id}");
    }
    assert_eq!(proxy.metrics.cache_hits.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_say_why() {
    let (_r, _up, proxy) = name_authenticated(Behavior::Answer).await;
    let mut notify = edns_query(1, "www.example");
    notify[2] = 0x20; // opcode 4 (NOTIFY)
    let reply = udp_exchange(proxy.addr, &notify, WAIT).await.unwrap();
    assert_ede(&reply, ResponseCode::NotImp, 21, "opcode");
    let axfr = query(2, "www.example", 252, Some(1232));
    let reply = udp_exchange(proxy.addr, &axfr, WAIT).await.unwrap();
    assert_ede(&reply, ResponseCode::Refused, 21, "zone transfer");
}
