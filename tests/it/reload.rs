//! Reloads in-process: what a new configuration keeps and what it must not keep.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use strictdot::config::ConfigBuilder;
use strictdot::{Listeners, Reloader, Server};
use tokio_util::sync::CancellationToken;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

async fn start(config: ConfigBuilder) -> (std::net::SocketAddr, Reloader, CancellationToken) {
    let listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let addr = listeners.udp[0].local_addr().unwrap();
    let server = Server::new(config.build().expect("config accepted"));
    let reloader = server.reloader();
    let token = CancellationToken::new();
    tokio::spawn(server.run(listeners, token.clone()));
    (addr, reloader, token)
}

async fn ask(addr: std::net::SocketAddr, id: u16) {
    let reply = udp_exchange(addr, &query(id, "www.example", 1, None), WAIT)
        .await
        .expect("answer");
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
}

/// A reload that changes the upstreams (or how they are authenticated) flushes the cache:
/// no answer fetched from the old upstream is served afterwards. A reload that changes
/// neither keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_flushes_the_cache_when_upstreams_change_and_only_then() {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let first = UpstreamOptions::new(&server, &[]).start().await;
    let second = UpstreamOptions::new(&server, &[]).start().await;
    let with = |up: &FakeUpstream| {
        config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root])
            .cache(Some(cache_settings(false)))
    };
    let built = |c: ConfigBuilder| c.build().expect("config accepted");
    let (addr, reloader, token) = start(with(&first)).await;
    ask(addr, 1).await;
    assert_eq!(first.seen.queries.load(Ordering::SeqCst), 1);
    // The same sources again (a reload that changed nothing they depend on): cached.
    reloader.reload(&built(with(&first)));
    ask(addr, 2).await;
    assert_eq!(
        first.seen.queries.load(Ordering::SeqCst),
        1,
        "kept the cache"
    );
    // Another upstream: the answer is fetched from it, not served from the old cache.
    reloader.reload(&built(with(&second)));
    ask(addr, 3).await;
    assert_eq!(
        second.seen.queries.load(Ordering::SeqCst),
        1,
        "cache flushed"
    );
    // The same upstream re-pinned (name and pin instead of name only): flushed again.
    let pinned = with(&second).upstreams(vec![upstream(
        second.addr,
        Some("dot.test"),
        vec![server.pin()],
    )]);
    reloader.reload(&built(pinned));
    ask(addr, 4).await;
    assert_eq!(
        second.seen.queries.load(Ordering::SeqCst),
        2,
        "flushed on re-pin"
    );
    token.cancel();
}
