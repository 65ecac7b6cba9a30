//! The rustls client configuration of one upstream: ring provider, TLS 1.3 and 1.2 only
//! (1.3 only with `--tls-min-version 1.3`), our [`StrictVerifier`], the shared session
//! cache for resumption, and the trust anchors (compiled-in webpki roots plus `--ca-file`).
//! The configuration builds these once; nothing here reads files or settings.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;

use super::verify::{StrictVerifier, TrustAnchors};

/// The lowest TLS version strictdot will speak to an upstream (RFC 8310 §9 / RFC 7525).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A CA certificate webpki cannot use as a trust anchor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unusable CA certificate: {0}")]
pub struct AnchorError(webpki::Error);

/// The trust anchors: the compiled-in webpki roots plus each extra CA certificate (whose
/// validity period the verifier enforces).
pub fn trust_anchors(extra: &[CertificateDer<'static>]) -> Result<TrustAnchors, AnchorError> {
    TrustAnchors::new(webpki_roots::TLS_SERVER_ROOTS, extra).map_err(AnchorError)
}

/// The client configuration for one upstream, authenticated by `verifier` (built over its
/// mode and trust anchors, see [`StrictVerifier::new`]).
pub fn client_config(
    verifier: Arc<StrictVerifier>,
    min_version: TlsMinVersion,
) -> Arc<ClientConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            // The ring provider supports both versions; this cannot fail.
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
    // SNI carries the authentication name (RFC 8310 §8.1); none is sent for IP-only upstreams.
    config.enable_sni = true;
    Arc::new(config)
}
