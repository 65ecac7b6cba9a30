//! DNS-over-TLS for clients (RFC 7858 server side): TLS 1.2/1.3 only, then exactly the
//! TCP pipeline (RFC 7766 framing, pipelining, limits). TLS handshakes are the expensive
//! part, so each client prefix gets a handshake rate limit, and a handshake must finish
//! within the read timeout.

use std::num::NonZeroU32;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::tcp::{accept, admit, Connection, StreamContext};
use crate::limiter::{Limiter, RateSettings, Verdict};
use crate::transport::Transport;

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

/// Serves one TLS listener until `shutdown`: the allow list and the caps at accept, then
/// the per-prefix handshake limit, the handshake within the read timeout, and the same
/// connection handling as TCP, counted as its own transport.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: Option<Arc<Limiter>>,
    ctx: StreamContext,
) {
    loop {
        let Some((stream, peer)) = accept(&listener, &ctx).await else {
            break;
        };
        let Some((client, caps)) = admit(&ctx, peer.ip()) else {
            continue;
        };
        if let Some(l) = &handshakes {
            if l.check(client, false) != Verdict::Allow {
                ctx.metrics.tls_handshake_limit_hits.inc();
                continue;
            }
        }
        let _ = stream.set_nodelay(true);
        let conn = Connection::new(&ctx, client, Transport::Tls);
        let acceptor = acceptor.clone();
        let metrics = ctx.metrics.clone();
        let read_timeout = ctx.limits.read_timeout;
        ctx.tracker.spawn(async move {
            match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    metrics.tls_client_handshakes.inc();
                    if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        metrics.tls_client_resumptions.inc();
                    }
                    conn.run(tls, caps).await;
                }
                _ => metrics.tls_client_handshake_failures.inc(),
            }
        });
    }
}
