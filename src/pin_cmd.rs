//! `strictdot pin`: prints, for every certificate a server presents (or a PEM file holds),
//! its subject, issuer, validity and SPKI SHA-256 pin, so nobody has to assemble openssl
//! pipelines to get a pin right.
//!
//! Reading a live chain needs a TLS handshake that is not authenticated, so it happens
//! here, with a verifier that records the chain and then *always fails* the handshake:
//! no DNS is ever sent over it, and nothing in the forwarder can use it.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::cli::PinArgs;
use crate::config::read_pem_certs;
use crate::pin;
use crate::upstream_spec::UpstreamSpec;

/// Runs the subcommand; exit code 0 on success, 1 if the chain could not be read.
pub fn main(args: &PinArgs) -> ExitCode {
    let result = match (&args.cert, &args.server) {
        (Some(path), _) => read_pem_certs(path)
            .map(|certs| report(&certs, &format!("certificates in {}", path.display())))
            .map_err(|e| e.to_string()),
        (None, Some(server)) => {
            fetch_chain(server, args.tls_name.as_deref(), args.timeout).map(|(certs, sni)| {
                let mut head = format!("chain presented by {}", server.addr);
                if let Some(sni) = sni {
                    let _ = write!(head, " (SNI {sni})");
                }
                report(&certs, &head)
            })
        }
        (None, None) => Err("give a server (IP[:PORT][#NAME]) or --cert FILE".to_owned()),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("strictdot pin: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Formats one block per certificate, end entity first.
pub fn report(certs: &[CertificateDer<'_>], heading: &str) -> String {
    let mut out = format!(
        "# {heading}\n# Pins are SHA-256 of each certificate's SubjectPublicKeyInfo (RFC 7469), base64.\n"
    );
    for (i, der) in certs.iter().enumerate() {
        let role = if i == 0 {
            "end-entity / first"
        } else {
            "chain"
        };
        let _ = writeln!(out, "[{i}] {role}");
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let _ = writeln!(out, "  subject:    {}", cert.subject());
                let _ = writeln!(out, "  issuer:     {}", cert.issuer());
                let v = cert.validity();
                let _ = writeln!(out, "  valid:      {} .. {}", v.not_before, v.not_after);
            }
            Err(_) => {
                let _ = writeln!(out, "  (not a parseable X.509 certificate)");
            }
        }
        match pin::of_certificate(der) {
            Some(p) => {
                let _ = writeln!(out, "  pin-sha256: {p}");
            }
            None => {
                let _ = writeln!(out, "  pin-sha256: (key not readable)");
            }
        }
    }
    out.push_str(
        "# Use: --pin-sha256 <pin> for the key you trust, plus a backup pin for its successor.\n",
    );
    out
}

/// Reads the chain a server presents. The handshake is aborted right after the
/// certificates arrive; the connection is never used.
fn fetch_chain(
    server: &UpstreamSpec,
    tls_name: Option<&str>,
    timeout: Duration,
) -> Result<(Vec<CertificateDer<'static>>, Option<String>), String> {
    let sni = match (tls_name, &server.auth_name) {
        (Some(n), _) => Some(n.to_owned()),
        (None, Some(n)) => Some(n.as_ref().to_owned()),
        (None, None) => None,
    };
    let server_name = match &sni {
        Some(n) => {
            ServerName::try_from(n.clone()).map_err(|_| format!("'{n}' is not a valid TLS name"))?
        }
        None => ServerName::IpAddress(server.addr.ip().into()),
    };
    let recorder = Arc::new(ChainRecorder::default());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| e.to_string())?
    .dangerous()
    .with_custom_certificate_verifier(recorder.clone())
    .with_no_client_auth();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let addr = server.addr;
    let outcome = runtime.block_on(async move {
        tokio::time::timeout(timeout, async move {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            // The recorder fails the handshake on purpose once it has the chain.
            let _ = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(server_name, tcp)
                .await;
            Ok::<(), String>(())
        })
        .await
        .map_err(|_| format!("no certificate from {addr} within {timeout:?}"))?
    });
    outcome?;
    let chain = recorder
        .chain
        .lock()
        .map_err(|_| "internal error".to_owned())?
        .clone();
    if chain.is_empty() {
        return Err(format!(
            "{addr} sent no certificate (is it a TLS server? TLS 1.2 or 1.3 only)"
        ));
    }
    Ok((chain, sni))
}

/// Records the presented chain and rejects the server, every time.
#[derive(Debug, Default)]
struct ChainRecorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for ChainRecorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            chain.push(end_entity.clone().into_owned());
            chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        Err(rustls::Error::General(
            "chain recorded by `strictdot pin`; this connection is never authenticated".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not authenticated".into()))
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not authenticated".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
