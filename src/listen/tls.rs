//! DNS-over-TLS for clients (RFC 7858 server side): TLS 1.2/1.3 only, then exactly the
//! TCP pipeline (RFC 7766 framing, pipelining, limits). TLS handshakes are the expensive
//! part, so each client prefix gets a handshake rate limit, and a handshake must finish
//! within the read timeout.

use std::num::NonZeroU32;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::tcp::{accept, admit, Connection, TcpLimits, TcpShared};
use crate::config::ConfigError;
use crate::forward::Switch;
use crate::limiter::{Limiter, RateSettings, Verdict};
use crate::metrics::Metrics;

/// The rustls server configuration for the TLS listeners.
pub fn server_config(
    chain: &[CertificateDer<'static>],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ConfigError::TlsListener(format!("no usable private key: {e}")))?;
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ConfigError::TlsListener(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain.to_vec(), key)
            .map_err(|e| ConfigError::TlsListener(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

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
