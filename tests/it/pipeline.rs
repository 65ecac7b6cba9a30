//! The pipeline's order, seen from outside: the cheap stages run before full validation,
//! the pending cap does not stand in front of the cache, every transport alike, and the
//! stream listeners check the allow list and the per-prefix cap at accept.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use rustls::pki_types::ServerName;
use strictdot::acl::Acl;
use strictdot::config::ConfigBuilder;
use strictdot::limiter::RateSettings;
use strictdot::{Listeners, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// A running strictdot with a DNS-over-TLS listener too.
struct Running {
    addr: SocketAddr,
    tls: SocketAddr,
    metrics: Arc<strictdot::metrics::Metrics>,
    token: CancellationToken,
    listener_root: Issued,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn start(config: ConfigBuilder) -> Running {
    let listener_root = ca("Listener CA");
    let cert = leaf("dns.strictdot.test", &listener_root);
    let config = config
        .tls_listener(
            vec![],
            vec![cert.der()],
            cert.key.serialize_pem().into_bytes(),
        )
        .build()
        .expect("config accepted");
    let mut listeners = Listeners::bind(&["127.0.0.1:0".parse().unwrap()])
        .await
        .unwrap();
    let addr = listeners.udp[0].local_addr().unwrap();
    let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_addr = tls.local_addr().unwrap();
    listeners.tls.push(tls);
    let server = Server::new(config);
    let metrics = server.metrics();
    let token = CancellationToken::new();
    tokio::spawn(server.run(listeners, token.clone()));
    Running {
        addr,
        tls: tls_addr,
        metrics,
        token,
        listener_root,
    }
}

/// One query over DNS-over-TLS, trusting `root` for `dns.strictdot.test`.
async fn tls_exchange(addr: SocketAddr, root: &Issued, msg: &[u8]) -> Option<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.der()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("dns.strictdot.test").unwrap();
    let mut s = connector.connect(name, tcp).await.ok()?;
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend(msg);
    s.write_all(&framed).await.ok()?;
    let read = async {
        let len = s.read_u16().await.ok()?;
        let mut buf = vec![0u8; usize::from(len)];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    tokio::time::timeout(WAIT, read).await.ok()?
}

/// A cache hit is answered over UDP, TCP and TLS alike while every pending slot is taken
/// (the cache stage comes before admission); a miss meanwhile gets SERVFAIL at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_answered_on_every_transport_while_pending_cap_is_exhausted() {
    let (_root, _up, c) = named_upstream(Behavior::Answer).await;
    // A local zone whose server reads queries and never answers: a query for it holds
    // the only pending slot for the whole budget.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let c = c
        .cache(Some(cache_settings(false)))
        .max_pending(1)
        .timeout(Duration::from_secs(10))
        .zone("stall.test", vec![silent.local_addr().unwrap()]);
    let proxy = start(c).await;
    let warm = query(1, "www.example", 1, None);
    let first = udp_exchange(proxy.addr, &warm, WAIT).await.unwrap();
    assert_eq!(parse(&first).response_code(), ResponseCode::NoError);

    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&query(2, "x.stall.test", 1, None), proxy.addr)
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    tokio::time::timeout(WAIT, silent.recv_from(&mut buf))
        .await
        .expect("the local zone's server got the query")
        .unwrap();

    let hit = |id| query(id, "www.example", 1, None);
    let by_udp = udp_exchange(proxy.addr, &hit(3), WAIT).await.unwrap();
    let by_tcp = tcp_exchange(proxy.addr, &hit(4), WAIT).await.unwrap();
    let by_tls = tls_exchange(proxy.tls, &proxy.listener_root, &hit(5))
        .await
        .unwrap();
    for (transport, reply) in [("udp", by_udp), ("tcp", by_tcp), ("tls", by_tls)] {
        let m = parse(&reply);
        assert_eq!(m.response_code(), ResponseCode::NoError, "{transport}");
        assert_eq!(a_records(&m).len(), 1, "{transport}");
    }
    assert_eq!(proxy.metrics.cache_hits.get(), 3);
    // The cap is really exhausted: a miss is refused at admission.
    let miss = tcp_exchange(proxy.addr, &query(6, "other.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&miss).response_code(), ResponseCode::ServFail);
    assert!(proxy.metrics.pending_limit_hits.get() >= 1);
    // Each transport counted as itself (the warm-up, the stalled query, one hit).
    use strictdot::forward::Transport;
    assert_eq!(proxy.metrics.queries(Transport::Udp), 3);
    assert_eq!(proxy.metrics.queries(Transport::Tcp), 2);
    assert_eq!(proxy.metrics.queries(Transport::Tls), 1);
}

/// A client outside the allow list, or over its rate limit, never costs a full parse:
/// its messages (well-formed or not) are answered or dropped before validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_limited_clients_are_not_validated() {
    let (_root, _up, c) = named_upstream(Behavior::Answer).await;
    let c = c
        .acl(Acl::new(vec!["127.0.0.9/32".parse().unwrap()]))
        .rate_limit(Some(RateSettings {
            qps: 1.try_into().unwrap(),
            burst: 1.try_into().unwrap(),
            v4_prefix: 32,
            v6_prefix: 64,
            slip: 0,
            max_keys: 1000,
        }));
    let proxy = start(c).await;
    let good = query(1, "www.example", 1, None);
    let mut malformed = good.clone();
    malformed.push(0);
    // A stranger: REFUSED to the plain shape, nothing to the malformed one.
    let reply = udp_exchange_from("127.0.0.1", proxy.addr, &good, WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::Refused);
    assert!(udp_exchange_from(
        "127.0.0.1",
        proxy.addr,
        &malformed,
        Duration::from_millis(300)
    )
    .await
    .is_none());
    assert_eq!(proxy.metrics.validated.get(), 0);
    assert_eq!(proxy.metrics.acl_refused.get(), 2);
    // An allowed client: its first query is validated, the next ones are over the limit
    // (burst 1) and dropped unparsed, malformed or not.
    let reply = udp_exchange_from("127.0.0.9", proxy.addr, &good, WAIT)
        .await
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
    assert_eq!(proxy.metrics.validated.get(), 1);
    let sock = UdpSocket::bind("127.0.0.9:0").await.unwrap();
    for _ in 0..5 {
        sock.send_to(&malformed, proxy.addr).await.unwrap();
        sock.send_to(&good, proxy.addr).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while proxy.metrics.rate_limited.get() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "limited in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(proxy.metrics.validated.get(), 1);
}

/// Strangers are closed at accept and hold no connection slot; the per-client cap counts
/// a whole prefix (the rate limiter's) as one client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_listeners_check_allow_list_and_prefix_cap_at_accept() {
    let (_root, _up, c) = named_upstream(Behavior::Answer).await;
    let c = c
        .acl(Acl::new(vec!["127.0.1.0/24".parse().unwrap()]))
        .max_tcp_clients(2)
        .max_tcp_per_client(1)
        .tcp_idle_timeout(Duration::from_secs(30))
        .rate_limit(Some(RateSettings {
            qps: 1000.try_into().unwrap(),
            burst: 1000.try_into().unwrap(),
            v4_prefix: 24,
            v6_prefix: 56,
            slip: 0,
            max_keys: 1000,
        }));
    let proxy = start(c).await;
    // Strangers: closed at once, over TCP and TLS, whatever they would send.
    let mut strangers = Vec::new();
    for target in [proxy.addr, proxy.tls, proxy.addr, proxy.tls] {
        let mut s = tcp_connect_from("127.0.0.1", target).await.unwrap();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(WAIT, s.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "stranger's connection closed at accept"
        );
        strangers.push(s);
    }
    assert_eq!(proxy.metrics.acl_refused.get(), 4);
    // An allowed client is served.
    let q = query(1, "www.example", 1, None);
    let mut held = tcp_connect_from("127.0.1.1", proxy.addr).await.unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(&q);
    held.write_all(&framed).await.unwrap();
    let reply = tokio::time::timeout(WAIT, read_frame(&mut held))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
    // A second address in the same /24 is the same client: over its cap of one.
    let mut same_prefix = tcp_connect_from("127.0.1.2", proxy.addr).await.unwrap();
    same_prefix.write_all(&framed).await.unwrap();
    let got = tokio::time::timeout(WAIT, read_frame(&mut same_prefix)).await;
    assert!(matches!(got, Ok(None)), "same-prefix connection refused");
    assert_eq!(proxy.metrics.tcp_client_limit_hits.get(), 1);
    drop(strangers);
}

/// A query with an OPT record carrying an 8-octet Padding option (RFC 7830).
fn padded_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = query(id, name, 1, Some(1232));
    let at = q.len() - 2;
    q[at..].copy_from_slice(&12u16.to_be_bytes());
    q.extend([0, 12, 0, 8]);
    q.extend([0u8; 8]);
    q
}

/// On the client DNS-over-TLS leg, answers to a query that carried Padding are padded to
/// a multiple of 468 octets (RFC 8467 §4.1): upstream answers, cache hits and answers
/// strictdot makes itself. Without Padding in the query, or over plain TCP, never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_answers_padded_when_the_query_was() {
    let (_root, _up, c) = named_upstream(Behavior::Answer).await;
    let c = c.cache(Some(cache_settings(false)));
    let proxy = start(c).await;
    let tls = |q: Vec<u8>| {
        let root = &proxy.listener_root;
        let addr = proxy.tls;
        async move { tls_exchange(addr, root, &q).await.expect("answer over TLS") }
    };
    // A miss (upstream answer), then the same name from the cache.
    for (id, what) in [(1, "upstream answer"), (2, "cache hit")] {
        let reply = tls(padded_query(id, "www.example")).await;
        assert_eq!(reply.len() % 468, 0, "{what}: {} octets", reply.len());
        let m = parse(&reply);
        assert_eq!(m.response_code(), ResponseCode::NoError, "{what}");
        assert_eq!(a_records(&m).len(), 1, "{what}");
    }
    assert_eq!(proxy.metrics.cache_hits.get(), 1);
    // An answer strictdot makes itself (NOTIMP for another opcode): padded too.
    let mut notify = padded_query(3, "www.example");
    notify[2] = 0x20; // opcode 4 (NOTIFY)
    let reply = tls(notify).await;
    assert_eq!(parse(&reply).response_code(), ResponseCode::NotImp);
    assert_eq!(reply.len() % 468, 0, "NOTIMP: {} octets", reply.len());
    // No Padding in the query: no padding in the answer.
    let reply = tls(query(4, "www.example", 1, Some(1232))).await;
    assert!(reply.len() < 468, "unpadded: {} octets", reply.len());
    // Plain TCP: never padded, even when asked.
    let reply = tcp_exchange(proxy.addr, &padded_query(5, "www.example"), WAIT)
        .await
        .unwrap();
    assert!(reply.len() < 468, "TCP unpadded: {} octets", reply.len());
}
