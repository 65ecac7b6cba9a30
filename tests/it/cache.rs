//! The cache seen from outside: hits, coalesced misses, negative caching, serve-stale,
//! TTLs out of range.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use strictdot::cache::CacheSettings;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

async fn cached_proxy(
    behavior: Behavior,
    settings: CacheSettings,
) -> (Issued, FakeUpstream, Proxy) {
    let (root, up, c) = named_upstream(behavior).await;
    let c = c.cache(Some(settings));
    let proxy = start_proxy(c).await;
    (root, up, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_query_answered_from_cache_with_client_id_and_case() {
    let (_r, up, proxy) = cached_proxy(Behavior::Answer, cache_settings(true)).await;
    let first = udp_exchange(proxy.addr, &query(1, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    let q2 = query(2, "WWW.example", 1, None);
    let second = udp_exchange(proxy.addr, &q2, WAIT).await.unwrap();
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
    assert_eq!(&second[..2], &[0, 2]);
    assert_eq!(&second[12..q2.len()], &q2[12..]);
    assert_eq!(a_records(&parse(&first)), a_records(&parse(&second)));
    let ttl = parse(&second).answers()[0].ttl();
    assert!((298..=300).contains(&ttl), "{ttl}");
    assert_eq!(proxy.metrics.cache_hits.get(), 1);
    // DO bit set: a different key, so a fresh upstream query.
    let mut with_do = query(3, "www.example", 1, Some(1232));
    let flags_at = with_do.len() - 4;
    with_do[flags_at] = 0x80;
    udp_exchange(proxy.addr, &with_do, WAIT).await.unwrap();
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_misses_coalesced() {
    let (_r, up, proxy) = cached_proxy(Behavior::SlowAnswer(300), cache_settings(true)).await;
    let mut tasks = Vec::new();
    for i in 0..10u16 {
        let addr = proxy.addr;
        tasks.push(tokio::spawn(async move {
            let reply = udp_exchange(addr, &query(100 + i, "same.example", 1, None), WAIT)
                .await
                .expect("answer");
            let m = parse(&reply);
            assert_eq!(m.id(), 100 + i);
            assert_eq!(m.response_code(), ResponseCode::NoError);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
    assert!(proxy.metrics.cache_coalesced.get() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_cached_from_soa_minimum() {
    let (_r, up, proxy) = cached_proxy(Behavior::NxDomain, cache_settings(true)).await;
    for id in 1..=3 {
        let reply = udp_exchange(proxy.addr, &query(id, "nope.example", 1, None), WAIT)
            .await
            .unwrap();
        let m = parse(&reply);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        // The SOA is served with the negative TTL (min of its TTL 3600 and MINIMUM 60).
        assert!(m.name_servers()[0].ttl() <= 60);
    }
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_when_every_upstream_fails() {
    let settings = CacheSettings {
        max_ttl: 1,
        serve_stale: Some(Duration::from_secs(3600)),
        ..cache_settings(true)
    };
    let (_r, up, proxy) = cached_proxy(Behavior::Answer, settings).await;
    let first = udp_exchange(proxy.addr, &query(1, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&first).answers()[0].ttl(), 1);
    up.shutdown().await;
    // Let the one-second entry expire (this waits for time to pass, not for an event).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = udp_exchange(proxy.addr, &query(2, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers()[0].ttl(), 30);
    assert_eq!(proxy.metrics.cache_stale.get(), 1);
    // Without serve-stale the same situation is SERVFAIL: a name never cached.
    assert_servfail(&proxy, "other.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_of_2_pow_31_counts_as_zero_and_is_not_cached() {
    // RFC 2181 §8: a TTL with the top bit set counts as 0, so the answer is not cached
    // (it would otherwise be kept for the maximum TTL, a day).
    let (_r, up, proxy) =
        cached_proxy(Behavior::AnswerWithTtl(0x8000_0000), cache_settings(true)).await;
    for id in 1..=2 {
        let reply = udp_exchange(proxy.addr, &query(id, "www.example", 1, None), WAIT)
            .await
            .unwrap();
        let m = parse(&reply);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(a_records(&m).len(), 1);
    }
    assert_eq!(up.seen.queries.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.metrics.cache_hits.get(), 0);
}
