//! What reaches the upstream, byte for byte: EDNS padding (RFC 7830/8467), ECS stripping
//! (RFC 7871), hop-by-hop options removed; and the OPT record undone in the answer. With
//! ECS kept, no client sees another's subnet or tailored answer (RFC 7871 §7.3).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::opt::EdnsOption;
use strictdot::pin::Pin;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// www.example A with OPT (size 4096, DO) holding ECS, COOKIE, NSID and a client padding.
fn rich_query() -> Vec<u8> {
    let mut m = vec![0x11, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
    let options: Vec<u8> = [
        &[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2][..], // ECS 192.0.2.0/24
        &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8],    // COOKIE (client cookie)
        &[0, 3, 0, 0],                             // NSID request
        &[0, 12, 0, 3, 0, 0, 0],                   // client padding
    ]
    .concat();
    m.extend([0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0]);
    m.extend((options.len() as u16).to_be_bytes());
    m.extend(options);
    m
}

/// Header (from flags on), question, then an OPT with `options`, strictdot's empty
/// edns-tcp-keepalive (RFC 7828) and padding to 128.
fn expected_upstream(udp: u16, dnssec_ok: bool, options: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
    m.extend([0, 0, 41]);
    m.extend(udp.to_be_bytes());
    m.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    let options = [options, &[0, 11, 0, 0]].concat();
    let options = &options[..];
    let unpadded = 2 + m.len() + 2 + options.len() + 4;
    let pad = (128 - unpadded % 128) % 128;
    m.extend(((options.len() + 4 + pad) as u16).to_be_bytes());
    m.extend(options);
    m.extend([0, 12]);
    m.extend((pad as u16).to_be_bytes());
    m.extend(vec![0u8; pad]);
    m
}

async fn first_upstream_message(keep_ecs: bool, query: &[u8]) -> Vec<u8> {
    let (_root, up, c) = named_upstream(Behavior::Answer).await;
    let c = c.keep_ecs(keep_ecs);
    let proxy = start_proxy(c).await;
    let reply = udp_exchange(proxy.addr, query, WAIT).await.expect("answer");
    assert_eq!(parse(&reply).id(), u16::from_be_bytes([query[0], query[1]]));
    let msgs = up.seen.messages.lock().unwrap();
    assert_eq!(msgs.len(), 1);
    msgs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_query_padded_and_ecs_stripped_byte_for_byte() {
    let sent = first_upstream_message(false, &rich_query()).await;
    assert_eq!(sent.len(), 128);
    // Only NSID survives; COOKIE, ECS and the client's padding are gone.
    assert_eq!(
        &sent[2..],
        &expected_upstream(4096, true, &[0, 3, 0, 0])[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_ecs_forwards_the_subnet() {
    let sent = first_upstream_message(true, &rich_query()).await;
    let opts = [&[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2][..], &[0, 3, 0, 0]].concat();
    assert_eq!(&sent[2..], &expected_upstream(4096, true, &opts)[..]);
    assert_eq!(sent.len() % 128, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_without_edns_gets_padded_opt_upstream() {
    let q = query(0x2222, "www.example", 1, None);
    let sent = first_upstream_message(false, &q).await;
    assert_eq!(&sent[2..], &expected_upstream(1232, false, &[])[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_opt_removed_and_padding_stripped_in_answers() {
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::AnswerWithPaddedOpt)
        .start()
        .await;
    let pins: Vec<Pin> = vec![server.pin()];
    let proxy = start_proxy(config(vec![upstream(up.addr, None, pins)], &[])).await;
    // No OPT from the client: none in the answer.
    let reply = udp_exchange(proxy.addr, &query(1, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(&reply[10..12], &[0, 0], "ARCOUNT");
    let m = parse(&reply);
    assert!(m.extensions().is_none());
    assert_eq!(a_records(&m).len(), 1);
    // OPT from the client: OPT in the answer, without the padding.
    let reply = udp_exchange(proxy.addr, &query(2, "www.example", 1, Some(1232)), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    let edns = m.extensions().as_ref().expect("OPT kept");
    assert!(edns.options().as_ref().is_empty(), "{edns:?}");
    // The last record is an OPT with RDLENGTH 0.
    assert_eq!(&reply[reply.len() - 2..], &[0, 0]);
}

/// A query for `name` A whose OPT carries ECS for `subnet`/24 (RFC 7871 §6: the address
/// truncated to 3 octets).
fn ecs_query(id: u16, name: &str, subnet: [u8; 3]) -> Vec<u8> {
    let mut m = query(id, name, 1, Some(1232));
    let ecs = [&[0, 8, 0, 7, 0, 1, 24, 0][..], &subnet].concat();
    let rdlen_at = m.len() - 2;
    m[rdlen_at..].copy_from_slice(&(ecs.len() as u16).to_be_bytes());
    m.extend(ecs);
    m
}

/// Every ECS option in `reply` as (address, source prefix, scope prefix), read by hickory.
fn subnets_in(reply: &[u8]) -> Vec<(IpAddr, u8, u8)> {
    let m = parse(reply);
    let Some(edns) = m.extensions() else {
        return Vec::new();
    };
    edns.options()
        .as_ref()
        .iter()
        .map(|(_, option)| match option {
            EdnsOption::Subnet(s) => (s.addr(), s.source_prefix(), s.scope_prefix()),
            other => panic!("only ECS expected, got {other:?}"),
        })
        .collect()
}

/// strictdot with the cache on, `--keep-ecs` as given, in front of an upstream that
/// tailors answers to the ECS it receives and echoes it with SCOPE PREFIX-LENGTH 24.
async fn ecs_proxy(keep_ecs: bool, delay_ms: u64) -> (Issued, FakeUpstream, Proxy) {
    let (root, up, c) = named_upstream(Behavior::EchoEcs {
        scope: 24,
        delay_ms,
    })
    .await;
    let c = c.keep_ecs(keep_ecs).cache(Some(cache_settings(true)));
    let proxy = start_proxy(c).await;
    (root, up, proxy)
}

const A_NET: [u8; 3] = [198, 51, 100];
const B_NET: [u8; 3] = [203, 0, 113];

/// Asserts `reply` is the answer tailored to `net` and carries `net`/24 as its only ECS,
/// with the upstream's scope.
fn assert_own(reply: &[u8], net: [u8; 3], who: &str) {
    let m = parse(reply);
    assert_eq!(m.response_code(), ResponseCode::NoError, "{who}");
    assert_eq!(
        a_records(&m),
        vec![Ipv4Addr::new(192, 0, 2, net[2])],
        "{who}"
    );
    let address = IpAddr::V4(Ipv4Addr::new(net[0], net[1], net[2], 0));
    assert_eq!(subnets_in(reply), vec![(address, 24, 24)], "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_ecs_answers_are_cached_per_subnet_never_across() {
    let (_r, up, proxy) = ecs_proxy(true, 0).await;
    let a = udp_exchange_from(
        "127.0.0.2",
        proxy.addr,
        &ecs_query(1, "www.example", A_NET),
        WAIT,
    )
    .await
    .unwrap();
    assert_own(&a, A_NET, "first client");
    // Another client, another subnet, the same question: not A's cached answer.
    let b = udp_exchange_from(
        "127.0.0.3",
        proxy.addr,
        &ecs_query(2, "www.example", B_NET),
        WAIT,
    )
    .await
    .unwrap();
    assert_own(&b, B_NET, "second client");
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 2);
    // Each subnet's entry serves that subnet, with the asker's own ECS.
    let a2 = udp_exchange_from(
        "127.0.0.4",
        proxy.addr,
        &ecs_query(3, "WWW.example", A_NET),
        WAIT,
    )
    .await
    .unwrap();
    assert_own(&a2, A_NET, "a third client in the first subnet");
    let b2 = udp_exchange_from(
        "127.0.0.5",
        proxy.addr,
        &ecs_query(4, "www.example", B_NET),
        WAIT,
    )
    .await
    .unwrap();
    assert_own(&b2, B_NET, "a fourth client in the second subnet");
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.metrics.cache_hits.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_ecs_queries_of_different_subnets_are_not_coalesced() {
    let (_r, up, proxy) = ecs_proxy(true, 300).await;
    let addr = proxy.addr;
    let arrived = up.seen.query_arrived.notified();
    let first = tokio::spawn(async move {
        udp_exchange_from(
            "127.0.0.2",
            addr,
            &ecs_query(1, "same.example", A_NET),
            WAIT,
        )
        .await
    });
    // The first query is at the upstream (and held there 300 ms) when the second is sent.
    tokio::time::timeout(WAIT, arrived).await.unwrap();
    let b = udp_exchange_from(
        "127.0.0.3",
        addr,
        &ecs_query(2, "same.example", B_NET),
        WAIT,
    )
    .await
    .unwrap();
    let a = first.await.unwrap().unwrap();
    assert_own(&a, A_NET, "first client");
    assert_own(&b, B_NET, "second client");
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.metrics.cache_coalesced.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_not_kept_by_default_answers_are_shared_without_ecs() {
    // Default: the upstream never sees a subnet, so one answer fits every client.
    let (_r, up, proxy) = ecs_proxy(false, 0).await;
    for (id, net) in [(1, A_NET), (2, B_NET)] {
        let reply = udp_exchange(proxy.addr, &ecs_query(id, "www.example", net), WAIT)
            .await
            .unwrap();
        let m = parse(&reply);
        assert_eq!(a_records(&m), vec![Ipv4Addr::new(192, 0, 2, 1)]);
        assert!(subnets_in(&reply).is_empty());
    }
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
    assert_eq!(proxy.metrics.cache_hits.get(), 1);
    let msgs = up.seen.messages.lock().unwrap();
    let q = strictdot::dns::query::validate(&msgs[0]).unwrap();
    assert_eq!(strictdot::dns::edns::client_subnets(&q).count(), 0);
}
