//! The rustls client configuration of one upstream: ring provider, TLS 1.3 and 1.2 only
//! (1.3 only with `--tls-min-version 1.3`), our [`StrictVerifier`], the shared session
//! cache for resumption, and the trust anchors (compiled-in webpki roots plus `--ca-file`).

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::verify::{AuthMode, StrictVerifier, TrustAnchors};
use crate::config::ConfigError;

/// The lowest TLS version strictdot will speak to an upstream (RFC 8310 §9 / RFC 7525).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[value(name = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[value(name = "1.3")]
    Tls13,
}

/// Reads every certificate of a PEM file. An unreadable file, one that is not PEM, or
/// one without a single certificate is an error.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::CaFile(shown.clone(), e.to_string()))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let cert = item.map_err(|e| ConfigError::CaFile(shown.clone(), format!("bad PEM: {e}")))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(ConfigError::CaFile(
            shown,
            "no PEM certificate in it".to_owned(),
        ));
    }
    Ok(certs)
}

/// The trust anchors: the compiled-in webpki roots plus each extra CA certificate (whose
/// validity period the verifier enforces).
pub fn trust_anchors(extra: &[CertificateDer<'static>]) -> Result<TrustAnchors, ConfigError> {
    TrustAnchors::new(webpki_roots::TLS_SERVER_ROOTS, extra).map_err(|e| {
        ConfigError::CaFile(
            "--ca-file".to_owned(),
            format!("unusable CA certificate: {e}"),
        )
    })
}

/// The client configuration for one upstream authenticated by `mode`.
pub fn client_config(
    mode: AuthMode,
    roots: TrustAnchors,
    min_version: TlsMinVersion,
) -> Arc<ClientConfig> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let verifier = Arc::new(StrictVerifier::new(mode, roots));
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
