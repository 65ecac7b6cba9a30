//! Upstream connections: reuse, pipelining with out-of-order answers, matching by ID and
//! question, hostile replies, stalls, restarts and failover.

use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

use crate::support::*;

const NAME: &str = "dot.test";

struct Setup {
    _root: Issued,
    up: FakeUpstream,
    proxy: Proxy,
}

async fn setup(behavior: Behavior) -> Setup {
    let (root, up, proxy) = name_authenticated(behavior).await;
    Setup {
        _root: root,
        up,
        proxy,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reused_across_queries() {
    let s = setup(Behavior::Answer).await;
    for i in 0..20 {
        assert_answers(&s.proxy, &format!("q{i}.example")).await;
    }
    assert_eq!(s.up.seen.handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(s.up.seen.queries.load(Ordering::SeqCst), 20);
    assert_eq!(s.proxy.metrics.handshakes.get(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_answered_out_of_order() {
    const N: usize = 10;
    let s = setup(Behavior::ReverseBatch(N)).await;
    let mut tasks = Vec::new();
    for i in 1..=N {
        let addr = s.proxy.addr;
        tasks.push(tokio::spawn(async move {
            let id = 1000 + i as u16;
            let reply = udp_exchange(
                addr,
                &query(id, &format!("q{i}.example"), 1, None),
                Duration::from_secs(3),
            )
            .await
            .expect("answer");
            let m = parse(&reply);
            assert_eq!(m.id(), id);
            assert_eq!(
                a_records(&m),
                vec![std::net::Ipv4Addr::new(192, 0, 2, i as u8)]
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // One handshake: the first query opens the connection, the others wait for it.
    assert_eq!(s.up.seen.handshakes.load(Ordering::SeqCst), 1);
    // The IDs on the wire are connection-unique.
    let msgs = s.up.seen.messages.lock().unwrap();
    let mut ids: Vec<u16> = msgs
        .iter()
        .map(|m| u16::from_be_bytes([m[0], m[1]]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), msgs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_id_reply_dropped() {
    let s = setup(Behavior::WrongId).await;
    assert_servfail(&s.proxy, "www.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_question_reply_dropped() {
    let s = setup(Behavior::WrongQuestion).await;
    assert_servfail(&s.proxy, "www.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_reply_dropped() {
    let s = setup(Behavior::Garbage).await;
    assert_servfail(&s.proxy, "www.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upstream_servfail_within_budget() {
    let s = setup(Behavior::Stall).await;
    let start = Instant::now();
    assert_servfail(&s.proxy, "www.example").await;
    let took = start.elapsed();
    // The budget is 1.5 s in tests; SERVFAIL must come by then (plus scheduling slack).
    assert!(took <= Duration::from_millis(1900), "took {took:?}");
    assert!(s.up.seen.queries.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_upstream_dead_second_serves() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(config(
        vec![
            upstream(dead_addr(), Some(NAME), vec![]),
            upstream(up.addr, Some(NAME), vec![]),
        ],
        &[&root],
    ))
    .await;
    let start = Instant::now();
    assert_answers(&proxy, "www.example").await;
    assert!(start.elapsed() < Duration::from_secs(1));
    // The dead one is now in backoff: the next query goes straight to the second.
    assert_answers(&proxy, "www.example").await;
    assert!(proxy.metrics.connect_failures.get() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_first_upstream_second_serves() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let stalled = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::Stall)
        .start()
        .await;
    let good = UpstreamOptions::new(&server, &[]).start().await;
    let proxy = start_proxy(config(
        vec![
            upstream(stalled.addr, Some(NAME), vec![]),
            upstream(good.addr, Some(NAME), vec![]),
        ],
        &[&root],
    ))
    .await;
    assert_answers(&proxy, "www.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restart_recovers() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let addr = up.addr;
    let proxy = start_proxy(config(vec![upstream(addr, Some(NAME), vec![])], &[&root])).await;
    assert_answers(&proxy, "www.example").await;
    up.shutdown().await;
    // Down: SERVFAIL, quickly.
    assert_servfail(&proxy, "www.example").await;
    let up = UpstreamOptions::new(&server, &[]).bind(addr).start().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = udp_exchange(
            proxy.addr,
            &query(7, "www.example", 1, None),
            Duration::from_secs(3),
        )
        .await
        .expect("an answer");
        if parse(&reply).response_code() == hickory_proto::op::ResponseCode::NoError {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the upstream restarted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up.seen.queries.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_server_close_resumes_session() {
    let s = setup(Behavior::AnswerThenClose).await;
    assert_answers(&s.proxy, "www.example").await;
    // The server closed the connection after answering; the next query reconnects and
    // resumes the TLS session.
    // Each answer closes the connection, so every query reconnects; a handshake that
    // started before the first session ticket arrived (warm-up) cannot resume, so wait for
    // a resumption among the reconnections rather than count on the second handshake.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.proxy.metrics.resumptions.get() < 1 {
        assert_answers(&s.proxy, "www.example").await;
        assert!(
            Instant::now() < deadline,
            "no TLS session resumption after {} handshakes",
            s.proxy.metrics.handshakes.get()
        );
    }
    assert!(s.proxy.metrics.handshakes.get() >= 2, "no reconnect");
}

async fn two_upstreams(
    a: Behavior,
    b: Behavior,
    strategy: strictdot::upstream::pool::Strategy,
) -> (Issued, FakeUpstream, FakeUpstream, Proxy) {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let ua = UpstreamOptions::new(&server, &[]).behavior(a).start().await;
    let ub = UpstreamOptions::new(&server, &[]).behavior(b).start().await;
    let c = config(
        vec![
            upstream(ua.addr, Some(NAME), vec![]),
            upstream(ub.addr, Some(NAME), vec![]),
        ],
        &[&root],
    )
    .strategy(strategy);
    let proxy = start_proxy(c).await;
    (root, ua, ub, proxy)
}

fn seen(u: &FakeUpstream) -> usize {
    u.seen.queries.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_queries() {
    use strictdot::upstream::pool::Strategy;
    let (_r, a, b, proxy) =
        two_upstreams(Behavior::Answer, Behavior::Answer, Strategy::RoundRobin).await;
    for i in 0..10 {
        assert_answers(&proxy, &format!("rr{i}.example")).await;
    }
    assert_eq!(seen(&a) + seen(&b), 10);
    assert!(
        seen(&a) >= 4 && seen(&b) >= 4,
        "{} / {}",
        seen(&a),
        seen(&b)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_uses_the_first_healthy() {
    use strictdot::upstream::pool::Strategy;
    let (_r, a, b, proxy) =
        two_upstreams(Behavior::Answer, Behavior::Answer, Strategy::Failover).await;
    for i in 0..10 {
        assert_answers(&proxy, &format!("fo{i}.example")).await;
    }
    assert_eq!((seen(&a), seen(&b)), (10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_prefers_the_faster_upstream() {
    use strictdot::upstream::pool::Strategy;
    let (_r, slow, fast, proxy) = two_upstreams(
        Behavior::SlowAnswer(150),
        Behavior::Answer,
        Strategy::Latency,
    )
    .await;
    for i in 0..30 {
        assert_answers(&proxy, &format!("lat{i}.example")).await;
    }
    assert!(
        seen(&fast) >= 24,
        "fast {} slow {}",
        seen(&fast),
        seen(&slow)
    );
    assert!(seen(&slow) >= 1, "the slow one was measured at least once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upstream_probed_back_in_the_background() {
    use strictdot::upstream::pool::Strategy;
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let first_addr = dead_addr();
    let second = UpstreamOptions::new(&server, &[]).start().await;
    let c = config(
        vec![
            upstream(first_addr, Some(NAME), vec![]),
            upstream(second.addr, Some(NAME), vec![]),
        ],
        &[&root],
    )
    .strategy(Strategy::Failover);
    let proxy = start_proxy(c).await;
    assert_answers(&proxy, "www.example").await;
    assert_eq!(seen(&second), 1);
    // The first comes up; no client query is sent, yet the prober connects to it.
    let first = UpstreamOptions::new(&server, &[])
        .bind(first_addr)
        .start()
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.seen.handshakes.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no background probe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Healthy again: failover sends the next query to it.
    assert_answers(&proxy, "www.example").await;
    assert_eq!(seen(&first), 1);
    assert_eq!(seen(&second), 1);
}

/// RFC 7828: the server's announced idle timeout bounds how long an idle connection is
/// kept; the option never reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keepalive_timeout_honoured() {
    // 6 x 100 ms announced: strictdot closes after at most 100 ms idle (600 - 500 margin).
    let s = setup(Behavior::AnswerWithKeepalive(6)).await;
    let reply = udp_exchange(
        s.proxy.addr,
        &query(1, "www.example", 1, Some(1232)),
        Duration::from_secs(3),
    )
    .await
    .unwrap();
    let m = parse(&reply);
    let edns = m.extensions().as_ref().expect("OPT");
    assert!(
        edns.options().as_ref().is_empty(),
        "keepalive option leaked: {edns:?}"
    );
    // Wait out the announced idle time (time passing, not a readiness signal).
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_answers(&s.proxy, "www.example").await;
    assert_eq!(
        s.proxy.metrics.handshakes.get(),
        2,
        "idle connection not closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keepalive_zero_closes_after_answer() {
    let s = setup(Behavior::AnswerWithKeepalive(0)).await;
    assert_answers(&s.proxy, "a.example").await;
    assert_answers(&s.proxy, "b.example").await;
    assert_eq!(s.proxy.metrics.handshakes.get(), 2);
}

/// The rcode and ANCOUNT of a raw reply, read without a parser (hickory would refuse the
/// malformed messages these tests are about, hiding what strictdot passed on).
fn rcode_and_answers(reply: &[u8]) -> (u8, u16) {
    assert!(reply.len() >= 12, "runt reply");
    (reply[3] & 0x0F, u16::from_be_bytes([reply[6], reply[7]]))
}

/// Asserts the client gets SERVFAIL without records, and that every malformed reply closed
/// the connection it came on: each query the upstream saw arrived on a connection of its
/// own (one more may be the warm-up connection racing the first query).
async fn assert_malformed_refused_and_closed(s: &Setup) {
    let reply = udp_exchange(
        s.proxy.addr,
        &query(0x4545, "www.example", 1, None),
        Duration::from_secs(3),
    )
    .await
    .expect("an answer");
    assert_eq!(
        rcode_and_answers(&reply),
        (2, 0),
        "not SERVFAIL: {reply:02x?}"
    );
    let queries = s.up.seen.queries.load(Ordering::SeqCst);
    let handshakes = s.up.seen.handshakes.load(Ordering::SeqCst);
    assert!(
        queries >= 2,
        "no retry after a malformed reply ({queries} queries)"
    );
    assert!(
        handshakes >= queries,
        "connection kept after a malformed reply: {queries} queries on {handshakes} connections"
    );
}

/// A reply under the right ID and question but malformed (a record cut short) fails the
/// query over and closes the connection (SECURITY.md: garbage closes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reply_closes_connection() {
    let s = setup(Behavior::Malformed).await;
    assert_malformed_refused_and_closed(&s).await;
}

/// A CNAME whose RDATA compresses its name with a pointer forwards (RFC 3597 §4 types are
/// checked like owner names) never reaches the client, and the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_pointer_in_cname_rdata_refused() {
    let s = setup(Behavior::CnameForwardPointer).await;
    assert_malformed_refused_and_closed(&s).await;
}
