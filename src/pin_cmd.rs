//! `strictdot pin`: prints, for every certificate a server presents (or a PEM file holds),
//! its subject, issuer, validity and SPKI SHA-256 pin, marking CA keys (basicConstraints
//! CA:TRUE), so nobody has to assemble openssl pipelines to get a pin right; then a policy
//! block ready to paste, pinning a CA key (it survives the server's routine certificate
//! renewals) and a backup.
//!
//! Reading a live chain needs a TLS handshake that is not authenticated, so it happens
//! here, with a verifier that records the chain and then *always fails* the handshake:
//! no DNS is ever sent over it, and nothing in the forwarder can use it.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::cli::PinArgs;
use crate::pin::{self, Pin};
use crate::upstream::verify::{ChainJudge, Verifier};
use crate::upstream_spec::UpstreamSpec;

/// Runs the subcommand; exit code 0 on success, 1 if the chain could not be read.
pub fn main(args: &PinArgs) -> ExitCode {
    let result = match (&args.cert, &args.server) {
        (Some(path), _) => read_cert_file(path).map(|certs| {
            let head = format!("certificates in {}", path.display());
            report(&certs, &head, &Origin::default())
        }),
        (None, Some(server)) => {
            fetch_chain(server, args.tls_name.as_deref(), args.timeout).map(|(certs, sni)| {
                let mut head = format!("chain presented by {}", server.addr);
                if let Some(sni) = &sni {
                    let _ = write!(head, " (SNI {sni})");
                }
                let origin = Origin {
                    address: Some(server.addr),
                    name: sni,
                };
                report(&certs, &head, &origin)
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

/// The certificates of the PEM file at `path` (`--cert`), or what is wrong with it, in
/// words that say what the file is: a certificate file, not a CA file, and a private key is
/// named as such.
fn read_cert_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject as _;
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("certificate file {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file {shown}: bad PEM: {e}"))?;
    if certs.is_empty() {
        let what = if bytes.windows(12).any(|w| w == b"PRIVATE KEY-") {
            "it holds a private key, not a certificate: give the certificate (chain) file"
        } else {
            "no PEM certificate in it"
        };
        return Err(format!("certificate file {shown}: {what}"));
    }
    Ok(certs)
}

/// Where the certificates came from, for the suggested policy block.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The server's address, if read from a server.
    pub address: Option<std::net::SocketAddr>,
    /// The name sent as SNI (`#NAME` or `--tls-name`).
    pub name: Option<String>,
}

/// What the policy block needs of one certificate.
struct Key {
    pin: Pin,
    /// basicConstraints CA:TRUE.
    ca: bool,
    subject: String,
    /// The first DNS name of its subjectAltName.
    dns_name: Option<String>,
}

/// Formats one block per certificate, end entity first, CA keys marked; then a policy block
/// with the suggested pins.
pub fn report(certs: &[CertificateDer<'_>], heading: &str, origin: &Origin) -> String {
    let mut out = format!(
        "# {heading}\n# Pins are SHA-256 of each certificate's SubjectPublicKeyInfo (RFC 7469), base64.\n"
    );
    let mut keys = Vec::new();
    for (i, der) in certs.iter().enumerate() {
        let role = if i == 0 {
            "end-entity / first"
        } else {
            "chain"
        };
        let _ = writeln!(out, "[{i}] {role}");
        let mut ca = false;
        let mut subject = String::new();
        let mut dns_name = None;
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => {
                let _ = writeln!(out, "  subject:    {}", cert.subject());
                let _ = writeln!(out, "  issuer:     {}", cert.issuer());
                let v = cert.validity();
                let _ = writeln!(out, "  valid:      {} .. {}", v.not_before, v.not_after);
                ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
                subject = cert.subject().to_string();
                dns_name = dns_name_of(&cert);
            }
            Err(_) => {
                let _ = writeln!(out, "  (not a parseable X.509 certificate)");
            }
        }
        let mark = if ca {
            "  [CA key: basicConstraints CA:TRUE]"
        } else {
            ""
        };
        match pin::of_certificate(der) {
            Some(p) => {
                let _ = writeln!(out, "  pin-sha256: {p}{mark}");
                keys.push(Key {
                    pin: p,
                    ca,
                    subject,
                    dns_name,
                });
            }
            None => {
                let _ = writeln!(out, "  pin-sha256: (key not readable)");
            }
        }
    }
    out.push_str(&policy_block(&keys, origin));
    out
}

/// The first DNS name of a certificate's subjectAltName.
fn dns_name_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<String> {
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
        _ => None,
    })
}

/// A ready-to-paste `[[upstream]]` block: the key of the first CA above the end entity (the
/// issuing intermediate, else a root), and as backup the next CA key up, else the
/// end-entity key; with no CA key in the chain, the end-entity key alone and a note.
fn policy_block(keys: &[Key], origin: &Origin) -> String {
    let mut out = String::from(
        "# Suggested policy block. A CA key pin survives the server's routine certificate\n\
         # renewals (they change the server's own key, not its CA's); the second pin is a\n\
         # backup (RFC 7469 §4.3), so that one key change is not an outage. This output is\n\
         # not authenticated: compare the pins with what the operator publishes first.\n",
    );
    let ee = keys.first();
    let mut cas = keys.iter().skip(1).filter(|k| k.ca);
    let mut pins: Vec<(&Key, String)> = Vec::new();
    match (cas.next(), cas.next(), ee) {
        (Some(first), Some(second), _) => {
            pins.push((first, format!("CA key: {}", first.subject)));
            pins.push((second, format!("backup, CA key: {}", second.subject)));
        }
        (Some(first), None, ee) => {
            pins.push((first, format!("CA key: {}", first.subject)));
            if let Some(ee) = ee.filter(|k| !k.ca) {
                pins.push((
                    ee,
                    format!(
                        "backup while the CA key changes, server key (renewals may replace it): {}",
                        ee.subject
                    ),
                ));
            }
        }
        (None, _, Some(ee)) => {
            out.push_str(
                "# No CA key above the server's certificate in this chain: only the server's own\n\
                 # key can be pinned, and it changes when the server renews its certificate with a\n\
                 # new key. Add the pin of the key it will rotate to as soon as the operator\n\
                 # publishes it.\n",
            );
            pins.push((ee, format!("server key: {}", ee.subject)));
        }
        (None, _, None) => return out,
    }
    let name = origin
        .name
        .clone()
        .or_else(|| ee.and_then(|k| k.dns_name.clone()));
    let label = name.clone().unwrap_or_else(|| "upstream".to_owned());
    let _ = writeln!(out, "[[upstream]]\nname = {}", toml_string(&label));
    match origin.address {
        Some(addr) => {
            let _ = writeln!(out, "address = {}", toml_string(&addr.to_string()));
        }
        None => out.push_str("address = \"192.0.2.1:853\"   # the server's address\n"),
    }
    match (&origin.name, name) {
        (Some(n), _) => {
            let _ = writeln!(out, "auth_name = {}", toml_string(n));
        }
        (None, Some(n)) => {
            let _ = writeln!(
                out,
                "# auth_name = {}   # to check the name as well as a pin",
                toml_string(&n)
            );
        }
        (None, None) => {}
    }
    out.push_str("pins = [\n");
    for (key, comment) in pins {
        let _ = writeln!(
            out,
            "  {{ sha256 = \"{}\", comment = {} }},",
            key.pin,
            toml_string(&comment)
        );
    }
    out.push_str("]\n");
    out
}

/// `text` as a TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
    let recorder = Arc::new(Verifier::of(ChainRecorder::default()));
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

impl ChainJudge for ChainRecorder {
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<(), rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            chain.push(end_entity.clone().into_owned());
            chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        }
        Err(rustls::Error::General(
            "chain recorded by `strictdot pin`; this connection is never authenticated".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(
        cn: &str,
        issuer: Option<(&rcgen::Certificate, &rcgen::KeyPair)>,
        ca: bool,
    ) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p =
            rcgen::CertificateParams::new(if ca { vec![] } else { vec![cn.to_owned()] }).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        if ca {
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = match issuer {
            Some((c, k)) => p
                .signed_by(&key, &rcgen::Issuer::from_ca_cert_der(c.der(), k).unwrap())
                .unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        (cert, key)
    }

    fn pin_of(c: &rcgen::Certificate) -> Pin {
        pin::of_certificate(c.der()).unwrap()
    }

    /// The policy block parses as a policy: the issuing CA's key first, the root's as its
    /// backup; names with quotes stay inside their strings.
    #[test]
    fn policy_block_pins_the_ca_keys_and_parses() {
        let root = issued("Root \"Q\" \\ CA", None, true);
        let inter = issued("Intermediate", Some((&root.0, &root.1)), true);
        let leaf = issued("dot.test", Some((&inter.0, &inter.1)), false);
        let chain = [
            leaf.0.der().clone(),
            inter.0.der().clone(),
            root.0.der().clone(),
        ];
        let origin = Origin {
            address: Some("192.0.2.7:853".parse().unwrap()),
            name: Some("dot.test".to_owned()),
        };
        let text = report(&chain, "t", &origin);
        let marked: Vec<&str> = text.lines().filter(|l| l.contains("[CA key")).collect();
        assert_eq!(marked.len(), 2, "{text}");
        assert!(marked[0].contains(&pin_of(&inter.0).to_string()), "{text}");
        let block = &text[text.find("[[upstream]]").unwrap()..];
        let policy =
            crate::policy::parse(block, "block").unwrap_or_else(|e| panic!("{e}\n{block}"));
        let u = &policy.upstreams[0];
        assert_eq!(u.address, "192.0.2.7:853");
        assert_eq!(u.auth_name.as_deref(), Some("dot.test"));
        assert_eq!(u.pins[0].sha256, pin_of(&inter.0).to_string());
        assert_eq!(u.pins[1].sha256, pin_of(&root.0).to_string());
        assert!(
            u.pins[1]
                .comment
                .as_deref()
                .unwrap()
                .contains("Root \"Q\" \\ CA"),
            "{block}"
        );
        // One CA key: the server's key is its backup. None: the server's key alone, said so.
        let text = report(&chain[..2], "t", &Origin::default());
        let block = &text[text.find("[[upstream]]").unwrap()..];
        let policy = crate::policy::parse(block, "block").unwrap();
        let pins: Vec<&str> = policy.upstreams[0]
            .pins
            .iter()
            .map(|p| p.sha256.as_str())
            .collect();
        assert_eq!(
            pins,
            [pin_of(&inter.0).to_string(), pin_of(&leaf.0).to_string()]
        );
        let text = report(&chain[..1], "t", &Origin::default());
        assert!(
            text.contains("No CA key above the server's certificate"),
            "{text}"
        );
    }
}
