//! TLS session resumption for DNS-over-TLS clients: a client that comes back resumes its
//! session (no certificate, no key exchange with signature), also after many other
//! clients came and went, because the server keeps no per-session state for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use rustls::pki_types::ServerName;
use rustls::HandshakeKind;
use strictdot::config::ConfigBuilder;
use strictdot::metrics::Metrics;
use strictdot::{Listeners, Reloader, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// A client TLS configuration trusting `root`, with rustls' default in-memory store of
/// sessions (so a second connection with the same configuration offers a ticket).
fn client_config(
    root: &Issued,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.der()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Connects, sends one message strictdot answers itself (NOTIFY: NOTIMP, no upstream
/// needed), reads the answer (which also takes in the session tickets the server sent
/// after the handshake), closes, and says how the handshake went.
async fn one_exchange(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> HandshakeKind {
    let connector = tokio_rustls::TlsConnector::from(config);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("dns.strictdot.test").unwrap();
    let mut s = tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let kind = s.get_ref().1.handshake_kind().expect("handshake done");
    let mut notify = query(7, "www.example", 1, None);
    notify[2] = 0x20; // opcode 4 (NOTIFY)
    let mut framed = (notify.len() as u16).to_be_bytes().to_vec();
    framed.extend(&notify);
    s.write_all(&framed).await.unwrap();
    let read = async {
        let len = s.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        s.read_exact(&mut buf).await.unwrap();
        buf
    };
    let reply = tokio::time::timeout(WAIT, read)
        .await
        .expect("answer in time");
    assert_eq!(parse(&reply).response_code(), ResponseCode::NotImp);
    let _ = s.shutdown().await;
    kind
}

/// The protocol versions each resumption test runs with, one at a time: TLS 1.3, TLS 1.2.
const EACH_VERSION: [&[&rustls::SupportedProtocolVersion]; 2] =
    [&[&rustls::version::TLS13], &[&rustls::version::TLS12]];

/// A client's first visit: a new configuration trusting `root` that speaks `versions`
/// makes a full handshake; the configuration (now holding the session) for its return.
async fn first_visit(
    addr: SocketAddr,
    root: &Issued,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let returning = client_config(root, versions);
    assert_eq!(
        one_exchange(addr, returning.clone()).await,
        HandshakeKind::Full,
        "first visit"
    );
    returning
}

/// The client of [`first_visit`] comes back (`visit` says when) and resumes its session.
async fn assert_resumes(
    addr: SocketAddr,
    returning: Arc<rustls::ClientConfig>,
    visit: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) {
    assert_eq!(
        one_exchange(addr, returning).await,
        HandshakeKind::Resumed,
        "{visit} ({versions:?})"
    );
}

/// The configuration of a strictdot with one TLS listener for `dns.strictdot.test`
/// (certificate `cert`).
fn tls_config(cert: &Issued) -> ConfigBuilder {
    // No handshake rate limit: all 500-odd clients come from 127.0.0.1 within a second.
    config(vec![upstream(dead_addr(), Some("dot.test"), vec![])], &[])
        .tls_handshake_rate(0)
        .tls_listener(
            vec![],
            vec![cert.der()],
            cert.key.serialize_pem().into_bytes(),
        )
}

/// strictdot with one TLS listener for `dns.strictdot.test` (certificate from `root`).
async fn start_tls(root: &Issued) -> (SocketAddr, Arc<Metrics>, CancellationToken) {
    let (addr, metrics, _, token) = start_tls_reloadable(&leaf("dns.strictdot.test", root)).await;
    (addr, metrics, token)
}

/// As [`start_tls`], with certificate `cert`, and a handle that reloads its configuration.
async fn start_tls_reloadable(
    cert: &Issued,
) -> (SocketAddr, Arc<Metrics>, Reloader, CancellationToken) {
    let config = tls_config(cert).build().expect("config accepted");
    let mut listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tls.local_addr().unwrap();
    listeners.tls.push(tls);
    let token = CancellationToken::new();
    let server = Server::new(config);
    let metrics = server.metrics();
    let reloader = server.reloader();
    tokio::spawn(server.run(listeners, token.clone()));
    (addr, metrics, reloader, token)
}

/// More clients than a stateful session store of rustls' default size (256 sessions: one
/// per TLS 1.2 handshake, two per TLS 1.3 handshake) could remember come between a
/// client's two connections; it still resumes, over TLS 1.3 and over TLS 1.2.
#[tokio::test]
async fn returning_client_resumes_after_many_others() {
    let root = ca("Listener CA");
    let (addr, metrics, token) = start_tls(&root).await;
    for versions in EACH_VERSION {
        let returning = first_visit(addr, &root, versions).await;
        for _ in 0..260 {
            // A new configuration each time: no session to offer, a full handshake.
            let kind = one_exchange(addr, client_config(&root, versions)).await;
            assert_eq!(kind, HandshakeKind::Full);
        }
        assert_resumes(
            addr,
            returning,
            "second visit of the first client",
            versions,
        )
        .await;
    }
    // The server counted them: two resumed of 2 * 262 handshakes.
    assert_eq!(metrics.tls_client_resumptions.get(), 2);
    assert_eq!(metrics.tls_client_handshakes.get(), 2 * 262);
    token.cancel();
}

/// A configuration reload (SIGHUP) builds every TLS setting again, but the key that seals
/// session tickets is the running listener's: a client that got its ticket before the
/// reload still resumes after it (a reload must not turn every returning client into a
/// full handshake at once), over TLS 1.3 and over TLS 1.2.
#[tokio::test]
async fn client_resumes_across_a_reload() {
    let root = ca("Listener CA");
    let cert = leaf("dns.strictdot.test", &root);
    let (addr, metrics, reloader, token) = start_tls_reloadable(&cert).await;
    for versions in EACH_VERSION {
        let returning = first_visit(addr, &root, versions).await;
        // The same files, read and built again, as a SIGHUP does.
        reloader.reload(&tls_config(&cert).build().expect("config accepted"));
        assert_resumes(addr, returning, "visit after the reload", versions).await;
    }
    assert_eq!(metrics.tls_client_resumptions.get(), 2);
    token.cancel();
}
