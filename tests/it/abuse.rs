//! Hostile clients: every limit and rejection with its exact client-visible outcome, and a
//! normal client from another address still answered promptly while the abuse goes on.

use std::num::NonZeroU32;
use std::time::Duration;
use tokio::time::Instant;

use hickory_proto::op::ResponseCode;
use strictdot::acl::Acl;
use strictdot::config::ConfigBuilder;
use strictdot::limiter::RateSettings;
use tokio::io::AsyncWriteExt;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

async fn proxy_with(
    edit: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> (Issued, FakeUpstream, Proxy) {
    let (root, up, c) = named_upstream(Behavior::Answer).await;
    let proxy = start_proxy(edit(c)).await;
    (root, up, proxy)
}

/// A normal client at 127.0.0.9 gets its answer promptly. Like a real stub it resends
/// after 200 ms (a flood on the same socket may fill the kernel's receive buffer).
async fn bystander_served(proxy: &Proxy) {
    let start = Instant::now();
    let q = query(77, "ok.example", 1, None);
    let mut reply = None;
    for _ in 0..5 {
        reply = udp_exchange_from("127.0.0.9", proxy.addr, &q, Duration::from_millis(200)).await;
        if reply.is_some() {
            break;
        }
    }
    let reply = reply.expect("bystander answered");
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
}

fn limited(qps: u32, burst: u32, slip: u32) -> RateSettings {
    RateSettings {
        qps: NonZeroU32::new(qps).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
        v4_prefix: 32,
        v6_prefix: 64,
        slip,
        max_keys: 1000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flood_rate_limited_with_slip_bystander_served() {
    let (_r, up, proxy) = proxy_with(|c| c.rate_limit(Some(limited(20, 20, 2)))).await;
    let sock = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    // Count what comes back while the flood goes out, so no answer is lost in our own
    // receive buffer.
    let receiver = {
        let sock = sock.clone();
        tokio::spawn(async move {
            let (mut answered, mut slipped) = (0usize, 0usize);
            let mut buf = vec![0u8; 65535];
            while let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(700), sock.recv_from(&mut buf)).await
            {
                let m = parse(&buf[..n]);
                if m.truncated() {
                    assert!(m.answers().is_empty());
                    slipped += 1;
                } else {
                    assert_eq!(m.response_code(), ResponseCode::NoError);
                    answered += 1;
                }
            }
            (answered, slipped)
        })
    };
    const FLOOD: usize = 1000;
    for i in 0..FLOOD {
        let q = query(i as u16, &format!("f{i}.example"), 1, None);
        sock.send_to(&q, proxy.addr).await.unwrap();
        if i % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    bystander_served(&proxy).await;
    let (answered, slipped) = receiver.await.unwrap();
    let limited = proxy.metrics.rate_limited.get() as usize;
    // The burst (20) and what the rate refills meanwhile are answered; the rest is
    // limited, every second one as an empty TC=1 answer.
    assert!((15..=45).contains(&answered), "answered {answered}");
    assert!(limited >= 300, "limited {limited}");
    assert!(
        slipped >= limited / 4 && slipped <= limited / 2 + 1,
        "slipped {slipped} of {limited}"
    );
    assert!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst) <= 46);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slip_zero_drops_everything_over_the_limit() {
    let (_r, _up, proxy) = proxy_with(|c| c.rate_limit(Some(limited(1, 1, 0)))).await;
    let q = query(1, "www.example", 1, None);
    assert!(udp_exchange(proxy.addr, &q, WAIT).await.is_some());
    assert!(udp_exchange(proxy.addr, &q, Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_over_the_limit_refused() {
    let (_r, _up, proxy) = proxy_with(|c| c.rate_limit(Some(limited(1, 1, 2)))).await;
    let q = query(1, "www.example", 1, None);
    let first = tcp_exchange(proxy.addr, &q, WAIT).await.unwrap();
    assert_eq!(parse(&first).response_code(), ResponseCode::NoError);
    let second = tcp_exchange(proxy.addr, &q, WAIT).await.unwrap();
    assert_eq!(parse(&second).response_code(), ResponseCode::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_the_allow_list_refused() {
    let (_r, up, proxy) =
        proxy_with(|c| c.acl(Acl::new(vec!["127.0.0.9/32".parse().unwrap()]))).await;
    let q = query(5, "www.example", 1, None);
    let reply = udp_exchange_from("127.0.0.1", proxy.addr, &q, WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::Refused);
    // Over TCP a stranger is closed at accept and holds no connection slot (the issue's
    // security finding 2): no answer, a closed connection.
    let mut s = tcp_connect_from("127.0.0.1", proxy.addr).await.unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(&q);
    let _ = tokio::io::AsyncWriteExt::write_all(&mut s, &framed).await;
    let read = tokio::time::timeout(WAIT, read_frame(&mut s)).await;
    assert!(matches!(read, Ok(None)), "closed without an answer");
    // Garbage from a stranger gets nothing at all.
    let mut bad = q.clone();
    bad.push(0);
    assert!(
        udp_exchange_from("127.0.0.1", proxy.addr, &bad, Duration::from_millis(300))
            .await
            .is_none()
    );
    assert_eq!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
    bystander_served(&proxy).await;
    assert!(proxy.metrics.acl_refused.get() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_allow_list_is_loopback_and_private() {
    let acl = Acl::default();
    assert!(acl.allows("127.0.0.1".parse().unwrap()));
    assert!(acl.allows("10.2.3.4".parse().unwrap()));
    assert!(!acl.allows("8.8.8.8".parse().unwrap()));
    assert!(!acl.allows("2001:db8::1".parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_stalled_tcp_connections_do_not_lock_out_others() {
    let (_r, _up, proxy) = proxy_with(|c| {
        c.max_tcp_per_client(50)
            .tcp_idle_timeout(Duration::from_secs(30))
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..1000 {
        match tcp_connect_from("127.0.0.1", proxy.addr).await {
            Ok(s) => held.push(s),
            Err(e) => panic!("connect: {e}"),
        }
    }
    // A stalled client can hold at most its per-client share.
    let deadline = Instant::now() + WAIT;
    while proxy.metrics.tcp_client_limit_hits.get() < 950 {
        assert!(
            Instant::now() < deadline,
            "hits {}",
            proxy.metrics.tcp_client_limit_hits.get()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Another client is served over TCP and UDP at once.
    let start = Instant::now();
    let reply = tcp_exchange_from(
        "127.0.0.9",
        proxy.addr,
        &query(3, "ok.example", 1, None),
        WAIT,
    )
    .await
    .expect("TCP bystander answered");
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
    assert!(start.elapsed() < Duration::from_millis(500));
    bystander_served(&proxy).await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_then_stall_cut_off_and_idle_closed() {
    let (_r, _up, proxy) = proxy_with(|c| {
        c.tcp_read_timeout(Duration::from_millis(300))
            .tcp_idle_timeout(Duration::from_millis(600))
    })
    .await;
    let mut one = tcp_connect_from("127.0.0.1", proxy.addr).await.unwrap();
    one.write_all(&[0]).await.unwrap();
    let mut idle = tcp_connect_from("127.0.0.1", proxy.addr).await.unwrap();
    let start = Instant::now();
    assert!(tokio::time::timeout(WAIT, read_frame(&mut one))
        .await
        .unwrap()
        .is_none());
    let cut = start.elapsed();
    assert!(cut < Duration::from_millis(550), "{cut:?}");
    assert!(tokio::time::timeout(WAIT, read_frame(&mut idle))
        .await
        .unwrap()
        .is_none());
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert!(proxy.metrics.tcp_timeouts.get() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frame_announced_then_stalled_is_cut_off() {
    let (_r, _up, proxy) = proxy_with(|c| c.tcp_read_timeout(Duration::from_millis(300))).await;
    let mut s = tcp_connect_from("127.0.0.1", proxy.addr).await.unwrap();
    // 65535 announced, 1000 sent.
    let mut frame = vec![0xFF, 0xFF];
    frame.extend(vec![0u8; 1000]);
    s.write_all(&frame).await.unwrap();
    assert!(tokio::time::timeout(WAIT, read_frame(&mut s))
        .await
        .unwrap()
        .is_none());
    bystander_served(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_and_reflection_attempts_get_nothing() {
    let (_r, up, proxy) = proxy_with(|c| c).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..500 {
        let len = rng.usize(0..600);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if junk.len() > 2 {
            junk[2] |= 0x80; // QR=1: a response, so never answered
        }
        sock.send_to(&junk, proxy.addr).await.unwrap();
    }
    let mut buf = vec![0u8; 65535];
    let got = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await;
    assert!(got.is_err(), "strictdot answered a response or a runt");
    assert_eq!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Random bytes with QR=0 get at most a FORMERR/NOTIMP, never a forwarded query that
    // fails to parse upstream.
    for _ in 0..500 {
        let len = rng.usize(12..300);
        let mut junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        junk[2] &= 0x7F;
        sock.send_to(&junk, proxy.addr).await.unwrap();
    }
    bystander_served(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_cap_answers_servfail_at_once() {
    let (_root, up, c) = named_upstream(Behavior::Stall).await;
    let c = c.max_pending(1);
    let proxy = start_proxy(c).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&query(1, "a.example", 1, None), proxy.addr)
        .await
        .unwrap();
    // Wait until that one is with the upstream.
    let deadline = Instant::now() + WAIT;
    while up.seen.queries.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let start = Instant::now();
    let reply = tcp_exchange(proxy.addr, &query(2, "b.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::ServFail);
    assert!(start.elapsed() < Duration::from_millis(300));
    assert!(proxy.metrics.pending_limit_hits.get() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_upstream_truncated_frame_servfail_within_budget() {
    let (_root, _up, c) = named_upstream(Behavior::TruncatedFrame).await;
    let proxy = start_proxy(c).await;
    let start = Instant::now();
    assert_servfail(&proxy, "www.example").await;
    assert!(start.elapsed() < Duration::from_millis(1900));
}
