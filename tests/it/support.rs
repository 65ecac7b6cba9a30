//! Test harness: certificates made per test with rcgen, an in-process DoT upstream with
//! scriptable misbehaviour, strictdot itself in-process on 127.0.0.1:0, and DNS clients.

#![allow(dead_code)]

mod process;
pub use process::*;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::Message;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use strictdot::cache::CacheSettings;
use strictdot::config::{Config, ConfigBuilder};
pub use strictdot::dns::builder::QueryBuilder;
use strictdot::pin::Pin;
use strictdot::upstream::pool::UpstreamConfig;
use strictdot::upstream::verify::AuthMode;
use strictdot::upstream_spec::UpstreamSpec;
use strictdot::{Listeners, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// ---------------------------------------------------------------- certificates

/// A certificate with its key.
pub struct Issued {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Issued {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
    pub fn pin(&self) -> Pin {
        Pin::of_spki(&rcgen::PublicKeyData::subject_public_key_info(&self.key))
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.serialize_der()).into()
    }
    pub fn pem(&self) -> String {
        self.cert.pem()
    }
    fn issuer(&self) -> rcgen::Issuer<'_, &KeyPair> {
        rcgen::Issuer::from_ca_cert_der(self.cert.der(), &self.key).expect("issuer")
    }
}

fn params(cn: &str, names: &[&str], ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(30);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    p
}

/// A self-signed CA.
pub fn ca(cn: &str) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, &[], true).self_signed(&key).unwrap();
    Issued { cert, key }
}

/// A self-signed CA valid from `from` to `to` days from now (negative: in the past).
pub fn dated_ca(cn: &str, from: i64, to: i64) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut p = params(cn, &[], true);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(from);
    p.not_after = now + time::Duration::days(to);
    let cert = p.self_signed(&key).unwrap();
    Issued { cert, key }
}

/// A self-signed CA that expired yesterday.
pub fn expired_ca(cn: &str) -> Issued {
    dated_ca(cn, -30, -1)
}

/// An intermediate CA signed by `issuer`.
pub fn intermediate(cn: &str, issuer: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = params(cn, &[], true)
        .signed_by(&key, &issuer.issuer())
        .unwrap();
    Issued { cert, key }
}

/// A server certificate for `name` signed by `issuer`.
pub fn leaf(name: &str, issuer: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = params(name, &[name], false)
        .signed_by(&key, &issuer.issuer())
        .unwrap();
    Issued { cert, key }
}

/// A server certificate for `name` that expired yesterday, signed by `issuer`.
pub fn expired_leaf(name: &str, issuer: &Issued) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut p = params(name, &[name], false);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(30);
    p.not_after = now - time::Duration::days(1);
    let cert = p.signed_by(&key, &issuer.issuer()).unwrap();
    Issued { cert, key }
}

/// A server certificate for `name` signed by `issuer` that expires `left` from now.
pub fn leaf_expiring_in(name: &str, issuer: &Issued, left: time::Duration) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut p = params(name, &[name], false);
    p.not_after = time::OffsetDateTime::now_utc() + left;
    let cert = p.signed_by(&key, &issuer.issuer()).unwrap();
    Issued { cert, key }
}

/// notAfter of a certificate, seconds since the epoch.
pub fn not_after(c: &Issued) -> i64 {
    let der = c.der();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    cert.validity().not_after.timestamp()
}

/// A self-signed server certificate for `name`.
pub fn self_signed(name: &str) -> Issued {
    let key = KeyPair::generate().unwrap();
    let cert = params(name, &[name], false).self_signed(&key).unwrap();
    Issued { cert, key }
}

// ---------------------------------------------------------------- fake upstream

/// How the fake upstream treats queries.
#[derive(Clone, Copy, Debug)]
pub enum Behavior {
    /// Answer with what this function makes of the query (its ID included).
    Respond(fn(&[u8]) -> Vec<u8>),
    /// Answer each query at once with an A record derived from the name.
    Answer,
    /// Read queries, never answer.
    Stall,
    /// Answer with the ID off by one.
    WrongId,
    /// Answer with a different question name.
    WrongQuestion,
    /// Send bytes that are not a DNS message.
    Garbage,
    /// Collect this many queries, then answer them in reverse order.
    ReverseBatch(usize),
    /// Answer with enough A records to exceed 512 octets.
    Big,
    /// Answer, then close the connection.
    AnswerThenClose,
    /// Answer with an OPT record carrying a Padding option (as RFC 8467 servers do).
    AnswerWithPaddedOpt,
    /// Send a frame header announcing more bytes than follow, then stall.
    TruncatedFrame,
    /// Answer after this many milliseconds (queries on one connection answered in turn).
    SlowAnswer(u64),
    /// Answer with an OPT record carrying edns-tcp-keepalive with this timeout (100 ms units).
    AnswerWithKeepalive(u16),
    /// Answer NXDOMAIN with an SOA (TTL 3600, MINIMUM 60) in the authority section.
    NxDomain,
    /// Answer with an OPT record carrying an Extended DNS Error (INFO-CODE 6, "signed").
    AnswerWithEde,
    /// Answer as `Answer` does, with this TTL on the A record.
    AnswerWithTtl(u32),
    /// After `delay_ms`, answer tailored to the query's ECS (RFC 7871), as a CDN does:
    /// see [`tailored_answer`].
    EchoEcs { scope: u8, delay_ms: u64 },
    /// Answer with the right ID and question, the last record cut short by one octet.
    Malformed,
    /// Answer with a CNAME whose RDATA is a compression pointer forwards, to the owner of
    /// the A record after it.
    CnameForwardPointer,
}

/// What the fake upstream saw.
#[derive(Default)]
pub struct Seen {
    /// TCP connections accepted.
    pub tcp_accepts: AtomicUsize,
    /// TLS handshakes completed.
    pub handshakes: AtomicUsize,
    /// DNS queries read (over completed handshakes).
    pub queries: AtomicUsize,
    /// Raw query messages, in arrival order.
    pub messages: Mutex<Vec<Vec<u8>>>,
    /// Signalled on each query.
    pub query_arrived: Notify,
}

/// A DoT server on 127.0.0.1 serving a given chain.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl FakeUpstream {
    /// Stops the server and waits until its listener and every connection are closed.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub struct UpstreamOptions {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub tls12_only: bool,
    pub behavior: Behavior,
    pub bind: SocketAddr,
}

impl UpstreamOptions {
    pub fn new(leaf: &Issued, rest: &[&Issued]) -> Self {
        let mut chain = vec![leaf.der()];
        chain.extend(rest.iter().map(|c| c.der()));
        UpstreamOptions {
            chain,
            key: leaf.key_der(),
            tls12_only: false,
            behavior: Behavior::Answer,
            bind: "127.0.0.1:0".parse().unwrap(),
        }
    }
    pub fn behavior(mut self, b: Behavior) -> Self {
        self.behavior = b;
        self
    }
    pub fn tls12_only(mut self) -> Self {
        self.tls12_only = true;
        self
    }
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    pub async fn start(self) -> FakeUpstream {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(self.bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let stop = CancellationToken::new();
        let behavior = self.behavior;
        let tasks = TaskTracker::new();
        {
            let seen = seen.clone();
            let stop = stop.clone();
            let inner = tasks.clone();
            tasks.spawn(async move {
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                    };
                    seen.tcp_accepts.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    let seen = seen.clone();
                    let stop = stop.clone();
                    inner.spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        seen.handshakes.fetch_add(1, Ordering::SeqCst);
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = serve_conn(tls, behavior, seen) => {}
                        }
                    });
                }
            });
        }
        FakeUpstream {
            addr,
            seen,
            stop,
            tasks,
        }
    }
}

async fn serve_conn<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    behavior: Behavior,
    seen: Arc<Seen>,
) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    loop {
        let Ok(len) = s.read_u16().await else { return };
        let mut q = vec![0u8; usize::from(len)];
        if s.read_exact(&mut q).await.is_err() {
            return;
        }
        seen.queries.fetch_add(1, Ordering::SeqCst);
        seen.messages.lock().unwrap().push(q.clone());
        seen.query_arrived.notify_waiters();
        let replies: Vec<Vec<u8>> = match behavior {
            Behavior::Stall => continue,
            Behavior::Respond(respond) => vec![respond(&q)],
            Behavior::Answer | Behavior::AnswerThenClose => vec![answer_for(&q, 1)],
            Behavior::Big => vec![answer_for(&q, 40)],
            Behavior::WrongId => {
                let mut r = answer_for(&q, 1);
                r[1] = r[1].wrapping_add(1);
                vec![r]
            }
            Behavior::WrongQuestion => {
                let mut r = answer_for(&q, 1);
                // Change the first letter of the first label.
                r[13] = if r[13] == b'z' { b'y' } else { b'z' };
                vec![r]
            }
            Behavior::Garbage => vec![b"this is not dns at all".to_vec()],
            Behavior::AnswerWithPaddedOpt => {
                let mut r = answer_for(&q, 1);
                r[10..12].copy_from_slice(&[0, 1]);
                r.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 12, 0, 12, 0, 8]);
                r.extend([0u8; 8]);
                vec![r]
            }
            Behavior::AnswerWithKeepalive(units) => {
                let mut r = answer_for(&q, 1);
                r[10..12].copy_from_slice(&[0, 1]);
                r.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 6, 0, 11, 0, 2]);
                r.extend(units.to_be_bytes());
                vec![r]
            }
            Behavior::AnswerWithEde => {
                let mut r = answer_for(&q, 1);
                r[10..12].copy_from_slice(&[0, 1]);
                r.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 12, 0, 15, 0, 8, 0, 6]);
                r.extend(b"signed");
                vec![r]
            }
            Behavior::AnswerWithTtl(ttl) => {
                let mut r = answer_for(&q, 1);
                // The record ends with TTL, RDLENGTH and 4 octets of RDATA.
                let at = r.len() - 10;
                r[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
                vec![r]
            }
            Behavior::EchoEcs { scope, delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                vec![tailored_answer(&q, scope)]
            }
            Behavior::SlowAnswer(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                vec![answer_for(&q, 1)]
            }
            Behavior::NxDomain => {
                let mut r = answer_for(&q, 0);
                r[3] = 0x83; // RA, NXDOMAIN
                r[8..10].copy_from_slice(&[0, 1]); // NSCOUNT
                r.extend([0xC0, 0x0C, 0, 6, 0, 1, 0, 0, 0x0E, 0x10]);
                let rdata = [
                    0u8, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 60,
                ];
                r.extend((rdata.len() as u16).to_be_bytes());
                r.extend(rdata);
                vec![r]
            }
            Behavior::Malformed => {
                let mut r = answer_for(&q, 1);
                r.pop();
                vec![r]
            }
            Behavior::CnameForwardPointer => {
                let mut r = answer_for(&q, 0);
                r[6..8].copy_from_slice(&[0, 2]);
                let target = 0xC000 | (r.len() + 14) as u16;
                r.extend([0xC0, 0x0C, 0, 5, 0, 1, 0, 0, 1, 0x2C, 0, 2]);
                r.extend(target.to_be_bytes());
                r.extend(b"\x03cdn\x07example\x00\x00\x01\x00\x01\x00\x00\x01\x2C\x00\x04");
                r.extend([192, 0, 2, 1]);
                vec![r]
            }
            Behavior::TruncatedFrame => {
                let _ = s.write_all(&[0, 100, 1, 2, 3, 4, 5]).await;
                let _ = s.flush().await;
                continue;
            }
            Behavior::ReverseBatch(n) => {
                batch.push(answer_for(&q, 1));
                if batch.len() < n {
                    continue;
                }
                let mut out = std::mem::take(&mut batch);
                out.reverse();
                out
            }
        };
        let mut buf = Vec::new();
        for r in replies {
            buf.extend((r.len() as u16).to_be_bytes());
            buf.extend(r);
        }
        if s.write_all(&buf).await.is_err() || s.flush().await.is_err() {
            return;
        }
        if matches!(behavior, Behavior::AnswerThenClose) {
            let _ = s.shutdown().await;
            return;
        }
    }
}

/// The last octet of the A record answering `name`: the number in the first label
/// (`q17.example` -> 17), or 1.
pub fn octet_for(first_label: &[u8]) -> u8 {
    let digits: String = first_label
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse::<u8>().unwrap_or(1)
}

/// An answer to `q` with `count` A records 192.0.2.N, its question lower-cased (so tests
/// can see that strictdot restores the client's case). Additional records are dropped.
pub fn answer_for(q: &[u8], count: u16) -> Vec<u8> {
    let valid = strictdot::dns::query::validate(q).expect("fake upstream got a valid query");
    let mut question = valid.question().to_vec();
    question.make_ascii_lowercase();
    let first_len = usize::from(question[0]);
    let octet = octet_for(&question[1..1 + first_len]);
    let mut r = q[..12].to_vec();
    r[2] |= 0x80; // QR
    r[3] = 0x80; // RA, NOERROR
    r[6..8].copy_from_slice(&count.to_be_bytes());
    r[8..12].copy_from_slice(&[0, 0, 0, 0]);
    r.extend(&question);
    for i in 0..count {
        r.extend([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 0x2C, 0, 4, 192, 0, 2]);
        r.push(octet.wrapping_add(i as u8));
    }
    r
}

/// An answer to `q` tailored to its ECS option, if it has one: the A record's last octet is
/// the last octet of the ECS address, and the option comes back in an OPT record with
/// SCOPE PREFIX-LENGTH `scope`. Without ECS, the answer of [`answer_for`].
pub fn tailored_answer(q: &[u8], scope: u8) -> Vec<u8> {
    let valid = strictdot::dns::query::validate(q).expect("fake upstream got a valid query");
    let ecs = valid.edns().and_then(|e| {
        strictdot::dns::edns::options_iter(&q[e.options_start..e.record_end])
            .find(|(code, _)| *code == 8)
            .map(|(_, option)| option.to_vec())
    });
    let mut r = answer_for(q, 1);
    if let Some(mut ecs) = ecs {
        let last = r.len() - 1;
        r[last] = *ecs.last().unwrap();
        ecs[7] = scope;
        r[10..12].copy_from_slice(&[0, 1]);
        r.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
        r.extend((ecs.len() as u16).to_be_bytes());
        r.extend(ecs);
    }
    r
}

// ---------------------------------------------------------------- strictdot in-process

/// strictdot running in-process on 127.0.0.1 (UDP and TCP on one port).
pub struct Proxy {
    pub addr: SocketAddr,
    pub metrics: Arc<strictdot::metrics::Metrics>,
    token: CancellationToken,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// One upstream entry.
pub fn upstream(addr: SocketAddr, name: Option<&str>, pins: Vec<Pin>) -> UpstreamConfig {
    let text = match name {
        Some(n) => format!("{addr}#{n}"),
        None => addr.to_string(),
    };
    let spec: UpstreamSpec = text.parse().unwrap();
    let mode = AuthMode::new(spec.auth_name.clone(), pins).expect("authenticated");
    UpstreamConfig::new(spec, mode)
}

/// A test configuration: short budget, given upstreams, extra CA certificates; tests set
/// more on the builder, and `start_proxy` builds (checks) it.
pub fn config(upstreams: Vec<UpstreamConfig>, cas: &[&Issued]) -> ConfigBuilder {
    Config::builder()
        .upstreams(upstreams)
        .extra_roots(cas.iter().map(|c| c.der()).collect())
        // Half of it, 750 ms, bounds each connect and handshake.
        .timeout(Duration::from_millis(1500))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .grace(Duration::from_millis(500))
        // Most tests look at what reaches the upstream; the cache tests turn it on.
        .cache(None)
        // The fake upstreams sign nothing; the validation tests build signed zones.
        .dnssec(None)
}

/// A test CA, an upstream serving a certificate for `dot.test` from it and behaving as
/// `behavior`, and a test configuration authenticating that upstream by name (tests set more
/// on the builder).
pub async fn named_upstream(behavior: Behavior) -> (Issued, FakeUpstream, ConfigBuilder) {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[])
        .behavior(behavior)
        .start()
        .await;
    let c = config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root]);
    (root, up, c)
}

/// The same, with strictdot started on that configuration.
pub async fn name_authenticated(behavior: Behavior) -> (Issued, FakeUpstream, Proxy) {
    let (root, up, c) = named_upstream(behavior).await;
    (root, up, start_proxy(c).await)
}

/// Cache settings for tests: 1000 entries, 1 MiB, TTLs kept as they are up to a day,
/// SERVFAIL cached 2 s, no serve-stale; prefetch as given.
pub fn cache_settings(prefetch: bool) -> CacheSettings {
    CacheSettings {
        max_entries: 1000,
        max_bytes: 1 << 20,
        min_ttl: 0,
        max_ttl: 86_400,
        servfail_ttl: 2,
        serve_stale: None,
        prefetch,
    }
}

pub async fn start_proxy(config: ConfigBuilder) -> Proxy {
    start_proxy_with(config, false).await.0
}

/// Starts strictdot, with an operations endpoint on 127.0.0.1:0 if `ops` (its address
/// is returned).
pub async fn start_proxy_with(config: ConfigBuilder, ops: bool) -> (Proxy, Option<SocketAddr>) {
    if std::env::var_os("STRICTDOT_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_test_writer()
            .try_init();
    }
    let mut listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let addr = listeners.udp[0].local_addr().unwrap();
    let mut ops_addr = None;
    if ops {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        ops_addr = Some(l.local_addr().unwrap());
        listeners.metrics = Some(l);
    }
    let server = Server::new(config.build().expect("config accepted"));
    let metrics = server.metrics();
    let token = CancellationToken::new();
    tokio::spawn(server.run(listeners, token.clone()));
    (
        Proxy {
            addr,
            metrics,
            token,
        },
        ops_addr,
    )
}

/// A plain HTTP GET: (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

/// Waits (10 s at most) until the operations endpoint at `ops` reports ready.
pub async fn wait_ready(ops: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http_get(ops, "/ready").await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- DNS clients

/// A query for `name` (dotted, no trailing dot) of type `qtype`, with an OPT record
/// advertising `edns` octets if given.
pub fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let q = QueryBuilder::new(name, qtype).id(id);
    match edns {
        Some(size) => q.edns(size).build(),
        None => q.build(),
    }
}

/// Sends `msg` over UDP and waits up to `wait` for one reply.
pub async fn udp_exchange(addr: SocketAddr, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    udp_exchange_from("127.0.0.1", addr, msg, wait).await
}

/// The same from a given loopback source address (127.0.0.0/8 all works on Linux).
pub async fn udp_exchange_from(
    source: &str,
    addr: SocketAddr,
    msg: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind((source, 0)).await.unwrap();
    sock.send_to(msg, addr).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// Sends `msg` over a fresh TCP connection and reads one framed reply.
pub async fn tcp_exchange(addr: SocketAddr, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    tcp_exchange_from("127.0.0.1", addr, msg, wait).await
}

/// A TCP connection to `addr` from the loopback address `source`.
pub async fn tcp_connect_from(source: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(source.parse().unwrap(), 0))?;
    sock.connect(addr).await
}

/// The same as [`tcp_exchange`] from a given loopback source address.
pub async fn tcp_exchange_from(
    source: &str,
    addr: SocketAddr,
    msg: &[u8],
    wait: Duration,
) -> Option<Vec<u8>> {
    let mut s = tcp_connect_from(source, addr).await.unwrap();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend(msg);
    s.write_all(&framed).await.unwrap();
    tokio::time::timeout(wait, read_frame(&mut s)).await.ok()?
}

/// Reads one length-prefixed message.
pub async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let len = s.read_u16().await.ok()?;
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

/// Parses a reply with hickory-proto, the independent oracle.
pub fn parse(reply: &[u8]) -> Message {
    Message::from_vec(reply).expect("strictdot sent a message hickory can parse")
}

/// The A addresses in a reply.
pub fn a_records(m: &Message) -> Vec<std::net::Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            hickory_proto::rr::RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// Asserts a UDP query for `name` through `proxy` gets NOERROR with 192.0.2.x.
pub async fn assert_answers(proxy: &Proxy, name: &str) {
    let reply = udp_exchange(
        proxy.addr,
        &query(0x4242, name, 1, None),
        Duration::from_secs(3),
    )
    .await
    .expect("an answer");
    let m = parse(&reply);
    assert_eq!(m.id(), 0x4242);
    assert_eq!(m.response_code(), hickory_proto::op::ResponseCode::NoError);
    assert_eq!(a_records(&m).len(), 1, "{m:?}");
}

/// Asserts a UDP query through `proxy` gets SERVFAIL with no records.
pub async fn assert_servfail(proxy: &Proxy, name: &str) {
    let reply = udp_exchange(
        proxy.addr,
        &query(0x4343, name, 1, None),
        Duration::from_secs(3),
    )
    .await
    .expect("an answer");
    let m = parse(&reply);
    assert_eq!(m.id(), 0x4343);
    assert_eq!(m.response_code(), hickory_proto::op::ResponseCode::ServFail);
    assert!(m.answers().is_empty());
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
