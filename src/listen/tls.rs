//! DNS-over-TLS for clients (RFC 7858 server side): TLS 1.2/1.3 only, then exactly the
//! TCP pipeline (RFC 7766 framing, pipelining, limits). TLS handshakes are the expensive
//! part, so each client prefix gets a handshake rate limit, and a handshake must finish
//! within the read timeout.

use std::num::NonZeroU32;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tcp::{accept, admit, Connection, TcpLimits, TcpShared};
use crate::forward::Switch;
use crate::limiter::{Limiter, RateSettings, Verdict};
use crate::metrics::Metrics;

/// A per-prefix limiter for TLS handshakes (`rate` per second, burst twice that).
pub fn handshake_limiter(rate: u32) -> Option<Arc<Limiter>> {
    let qps = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(rate.saturating_mul(2))?;
    Some(Arc::new(Limiter::new(RateSettings {
        qps,
        burst,
        v4_prefix: 24,
        v6_prefix: 56,
        slip: 0,
        max_keys: 100_000,
    })))
}

/// Serves one TLS listener until `shutdown`.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: Option<Arc<Limiter>>,
    switch: Arc<Switch>,
    shared: Arc<TcpShared>,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let Some((stream, peer)) = accept(&listener, &shutdown).await else {
            break;
        };
        let client = crate::acl::canonical(peer.ip());
        if let Some(l) = &handshakes {
            if l.check(client, false) != Verdict::Allow {
                metrics.tls_handshake_limit_hits.inc();
                continue;
            }
        }
        let Some(caps) = admit(&shared, client, limits.max_per_client, &metrics) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            client,
            pending: shared.pending.clone(),
            switch: switch.clone(),
            limits,
            metrics: metrics.clone(),
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
        };
        let acceptor = acceptor.clone();
        let metrics = metrics.clone();
        tracker.spawn(async move {
            match tokio::time::timeout(limits.read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    metrics.tls_client_handshakes.inc();
                    conn.run(tls, caps).await;
                }
                _ => metrics.tls_client_handshake_failures.inc(),
            }
        });
    }
}
