//! One DNS-over-TLS connection to an upstream: a cloneable handle ([`Conn`]) and two driver
//! tasks (reader and writer) that own the TLS stream.
//!
//! Queries are pipelined (RFC 7766 §6.2.1.1): each gets a connection-unique message ID and
//! an entry in the in-flight map; replies are matched by ID **and** question, in any order.
//! A reply with an unknown ID, one that fails the reply check, a reset or garbage closes
//! the connection and fails every waiter with one cloneable error, so their callers can
//! retry elsewhere. A query unanswered past its deadline retires the connection: it takes
//! no new queries and closes once the rest are answered. A [`Conn`] exists only after a
//! completed handshake that the [`StrictVerifier`](super::verify::StrictVerifier) accepted.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dns::answer::{check_reply, ReplyInfo};
use crate::dns::edns::keepalive_timeout;
use crate::dns::query::ValidQuery;
use crate::dns::reader::MAX_NAME_LEN;
use crate::dns::{message_id, set_message_id};
use crate::framing::{push_frame, FrameBuf};
use crate::metrics::Metrics;

/// What the outbox and the writer's buffer keep between bursts.
const OUTBOX_CAPACITY: usize = 4096;

/// Abandoned IDs (late or never-coming answers) a connection may carry before it is retired.
const MAX_ABANDONED: usize = 256;

/// Why a query on a connection got no answer. Cloneable: one value fails every waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// The peer closed the connection or the socket failed.
    #[error("connection closed")]
    Closed,
    /// The peer sent something that is not a valid answer to an in-flight query.
    #[error("protocol violation by the upstream")]
    Protocol,
    /// No answer before the deadline.
    #[error("no answer before the deadline")]
    Timeout,
}

/// Why a connection could not be established.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("TCP connect failed: {0}")]
    Tcp(std::io::Error),
    /// The TLS handshake or authentication failed.
    #[error("{reason}: {detail}")]
    Tls {
        /// A short stable reason (see [`failure_reason`](super::verify::failure_reason)).
        reason: &'static str,
        /// Its class, for metrics.
        kind: super::verify::FailureKind,
        /// The full error.
        detail: String,
    },
    /// The connect or handshake did not finish in time.
    #[error("connect or TLS handshake timed out")]
    Timeout,
}

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// Queries in flight at once on one connection.
    pub max_in_flight: usize,
    /// Close the connection after this long with nothing in flight.
    pub idle_timeout: Duration,
}

struct Waiter {
    tx: oneshot::Sender<Result<(Vec<u8>, ReplyInfo), ConnError>>,
    qname: QName,
    qtype: u16,
    qclass: u16,
}

/// The question name a reply must repeat, kept inline (a name is at most 255 octets on the
/// wire), so a query in flight needs no allocation for it.
struct QName {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

impl QName {
    /// `None` for a name longer than a DNS name can be (the validator never lets one by).
    fn new(name: &[u8]) -> Option<QName> {
        let len = u8::try_from(name.len()).ok()?;
        let mut bytes = [0u8; MAX_NAME_LEN];
        bytes.get_mut(..name.len())?.copy_from_slice(name);
        Some(QName { len, bytes })
    }

    fn get(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

struct InFlight {
    map: HashMap<u16, Waiter>,
    next_id: u16,
    last_activity: Instant,
    /// IDs of queries whose callers gave up; a late reply to one is discarded, and the ID
    /// is not reused until that reply has come.
    abandoned: HashSet<u16>,
    /// When the last valid reply arrived: a connection that answered since a query was
    /// sent is alive, even if that one query is slow.
    last_reply: Instant,
    /// Framed queries not yet handed to the TLS stream. Queries append here under the same
    /// lock that gives them their ID; the writer takes the whole buffer at once, so
    /// queries that arrive together leave in one TLS record and one write, and no query
    /// needs a buffer of its own.
    outbox: Vec<u8>,
}

struct Shared {
    in_flight: Mutex<InFlight>,
    /// Cancelled when the connection is dead: the driver tasks stop and waiters fail.
    closed: CancellationToken,
    /// Set when a query went unanswered past its deadline: no new queries.
    retired: AtomicBool,
    /// One permit per query in flight: the bound of [`ConnLimits::max_in_flight`].
    permits: Arc<Semaphore>,
    /// The idle timeout in force (ms): ours, or less if the server announced less
    /// (RFC 7828 §3.3.2).
    idle_ms: AtomicU64,
    /// Wakes the writer when the outbox stops being empty.
    outbox_ready: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        // A poisoned lock only means another task panicked while holding it; the map is
        // still consistent (every operation on it is a single insert or remove).
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead and fails every waiter with `err`.
    fn close(&self, err: ConnError) {
        self.closed.cancel();
        let waiters: Vec<Waiter> = self.lock().map.drain().map(|(_, w)| w).collect();
        for w in waiters {
            let _ = w.tx.send(Err(err));
        }
    }
}

/// A handle to one authenticated upstream connection. Cheap to clone.
#[derive(Clone)]
pub struct Conn {
    shared: Arc<Shared>,
    /// The end-entity certificate the upstream presented (for the verifier's record).
    end_entity: Option<Arc<CertificateDer<'static>>>,
}

/// Opens a TCP connection to `addr` and completes the TLS handshake (authentication happens
/// inside it, by the verifier in `tls`), before `deadline`.
pub async fn handshake(
    addr: SocketAddr,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    deadline: Instant,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    let handshake = async {
        let tcp = tcp_connect(addr).await.map_err(ConnectError::Tcp)?;
        TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| tls_error(&e))
    };
    tokio::time::timeout_at(deadline, handshake)
        .await
        .map_err(|_| ConnectError::Timeout)?
}

/// A reserved in-flight slot on a connection.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Where and how to open one upstream connection.
pub struct Dial<'a> {
    /// The upstream's address.
    pub addr: SocketAddr,
    /// The name sent as SNI and checked by the verifier (or the IP address).
    pub server_name: &'a ServerName<'static>,
    /// The client configuration carrying the upstream's verifier.
    pub tls: &'a Arc<ClientConfig>,
    /// Limits of the connection.
    pub limits: ConnLimits,
}

/// What a connection's driver tasks run under.
pub struct Driver<'a> {
    /// Where the driver tasks run, so shutdown waits for them.
    pub tracker: &'a TaskTracker,
    /// Cancelled when the pool's generation stops.
    pub shutdown: &'a CancellationToken,
    /// The counters (handshakes, resumptions).
    pub metrics: &'a Arc<Metrics>,
}

impl Conn {
    /// Connects, completes the TLS handshake (authentication happens inside it), and starts
    /// the driver tasks. Fails if `deadline` passes first.
    pub async fn connect(
        dial: Dial<'_>,
        deadline: Instant,
        driver: Driver<'_>,
    ) -> Result<Conn, ConnectError> {
        let Dial {
            addr,
            server_name,
            tls,
            limits,
        } = dial;
        let Driver {
            tracker,
            shutdown,
            metrics,
        } = driver;
        let stream = handshake(addr, server_name.clone(), tls.clone(), deadline).await?;
        let end_entity = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| Arc::new(c.clone().into_owned()));
        metrics.handshakes.inc();
        if stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
            metrics.resumptions.inc();
        }
        let shared = Arc::new(Shared {
            in_flight: Mutex::new(InFlight {
                map: HashMap::new(),
                next_id: fastrand::u16(..),
                last_activity: Instant::now(),
                last_reply: Instant::now(),
                abandoned: HashSet::new(),
                outbox: Vec::with_capacity(OUTBOX_CAPACITY),
            }),
            closed: shutdown.child_token(),
            retired: AtomicBool::new(false),
            permits: Arc::new(Semaphore::new(limits.max_in_flight)),
            idle_ms: AtomicU64::new(
                u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX),
            ),
            outbox_ready: Notify::new(),
        });
        let (reader, writer) = tokio::io::split(stream);
        tracker.spawn(write_loop(writer, shared.clone()));
        tracker.spawn(read_loop(reader, shared.clone()));
        Ok(Conn { shared, end_entity })
    }

    /// The end-entity certificate the upstream presented.
    pub fn end_entity(&self) -> Option<&CertificateDer<'static>> {
        self.end_entity.as_deref()
    }

    /// Whether the connection still takes new queries.
    pub fn is_usable(&self) -> bool {
        !self.shared.closed.is_cancelled() && !self.shared.retired.load(Ordering::Acquire)
    }

    /// Queries in flight now, given the per-connection cap.
    pub fn in_flight(&self, max: usize) -> usize {
        max.saturating_sub(self.shared.permits.available_permits())
    }

    /// Whether the connection is gone for good.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Reserves an in-flight slot, or `None` if the connection is full or not usable.
    pub fn try_reserve(&self) -> Option<Slot> {
        if !self.is_usable() {
            return None;
        }
        let permit = self.shared.permits.clone().try_acquire_owned().ok()?;
        Some(Slot { _permit: permit })
    }

    /// Sends `query` with a connection-unique ID and waits for the matching reply until
    /// `deadline`. On a timeout the connection is retired.
    /// `wire` is the message to send (the privacy-rewritten form of `query`).
    pub async fn query(
        &self,
        _slot: Slot,
        query: &ValidQuery,
        wire: &[u8],
        deadline: Instant,
    ) -> Result<(Vec<u8>, ReplyInfo), ConnError> {
        let qname = QName::new(query.qname()).ok_or(ConnError::Protocol)?;
        let (tx, rx) = oneshot::channel();
        let sent_at = Instant::now();
        let (id, wake_writer) = {
            let mut inf = self.shared.lock();
            if self.shared.closed.is_cancelled() {
                return Err(ConnError::Closed);
            }
            let mut id = inf.next_id;
            while inf.map.contains_key(&id) || inf.abandoned.contains(&id) {
                id = id.wrapping_add(1);
            }
            let was_empty = inf.outbox.is_empty();
            let start = inf.outbox.len();
            if !push_frame(&mut inf.outbox, wire) {
                return Err(ConnError::Protocol);
            }
            // The message starts after the 2-octet length.
            set_message_id(&mut inf.outbox[start + 2..], id);
            inf.next_id = id.wrapping_add(1);
            inf.last_activity = sent_at;
            inf.map.insert(
                id,
                Waiter {
                    tx,
                    qname,
                    qtype: query.qtype(),
                    qclass: query.qclass(),
                },
            );
            (id, was_empty)
        };
        if wake_writer {
            self.shared.outbox_ready.notify_one();
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ConnError::Closed),
            Err(_) => {
                // RFC 7766 §6.2.1.1 lets a server answer out of order and slowly; but if
                // nothing at all has come back since this query went out, the peer may be
                // gone (half-dead connection): send nothing more on it.
                let silent = self.shared.lock().last_reply <= sent_at;
                if silent {
                    self.shared.retired.store(true, Ordering::Release);
                }
                self.abandon(id);
                Err(ConnError::Timeout)
            }
        }
    }

    fn abandon(&self, id: u16) {
        let empty = {
            let mut inf = self.shared.lock();
            if inf.map.remove(&id).is_some() {
                inf.abandoned.insert(id);
                if inf.abandoned.len() > MAX_ABANDONED {
                    // Too many answers never came: stop using this connection.
                    self.shared.retired.store(true, Ordering::Release);
                }
            }
            inf.map.is_empty()
        };
        if empty && self.shared.retired.load(Ordering::Acquire) {
            self.shared.close(ConnError::Closed);
        }
    }
}

/// After this long with sent data unacknowledged, the kernel drops the connection
/// (TCP_USER_TIMEOUT), so a peer that went silent is noticed in seconds, not minutes.
const USER_TIMEOUT: Duration = Duration::from_secs(6);
/// Keepalive probes on idle upstream connections: first after this long idle...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// ...then this often, this many times.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_PROBES: u32 = 3;

/// A TCP connection to an upstream with TCP_NODELAY (every query goes out at once, in one
/// segment with its length prefix), TCP keepalive and TCP_USER_TIMEOUT set.
async fn tcp_connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_nodelay(true)?;
    let sock = socket2::SockRef::from(&socket);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    sock.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sock.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    socket.connect(addr).await
}

fn tls_error(e: &std::io::Error) -> ConnectError {
    let detail = e.to_string();
    let inner = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let reason = inner
        .map(super::verify::failure_reason)
        .unwrap_or("TLS handshake failed");
    let kind = inner
        .map(super::verify::failure_kind)
        .unwrap_or(super::verify::FailureKind::Other);
    ConnectError::Tls {
        reason,
        kind,
        detail,
    }
}

async fn write_loop<W: tokio::io::AsyncWrite + Unpin>(mut writer: W, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(OUTBOX_CAPACITY);
    loop {
        tokio::select! {
            _ = shared.closed.cancelled() => break,
            _ = shared.outbox_ready.notified() => {}
        }
        // No yield here to let more queries join: the notifying task finishes its batch
        // before this one runs, and a yield costs an extra trip through the I/O driver and
        // a wake-up of the other worker per query at low rates (about 15 us of latency).
        {
            let mut inf = shared.lock();
            std::mem::swap(&mut inf.outbox, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        let write = async {
            writer.write_all(&batch).await?;
            writer.flush().await
        };
        let ok = tokio::select! {
            _ = shared.closed.cancelled() => false,
            r = write => r.is_ok(),
        };
        if !ok {
            shared.close(ConnError::Closed);
            break;
        }
        batch.clear();
        // A burst can grow a buffer; do not keep a large one for the connection's life.
        batch.shrink_to(OUTBOX_CAPACITY);
    }
    // Send close_notify, best effort and bounded.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(mut reader: R, shared: Arc<Shared>) {
    let mut frames = FrameBuf::new();
    let err = loop {
        let idle_timeout = Duration::from_millis(shared.idle_ms.load(Ordering::Relaxed));
        let idle_at = {
            let inf = shared.lock();
            (inf.map.is_empty()).then_some(inf.last_activity + idle_timeout)
        };
        let idle = async {
            match idle_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            _ = shared.closed.cancelled() => break ConnError::Closed,
            _ = idle => {
                let inf = shared.lock();
                if inf.map.is_empty() && inf.last_activity + idle_timeout <= Instant::now() {
                    break ConnError::Closed;
                }
                continue;
            }
            n = reader.read_buf(frames.spare()) => n,
        };
        match n {
            Ok(0) | Err(_) => break ConnError::Closed,
            Ok(_) => {}
        }
        if let Err(e) = deliver_frames(&mut frames, &shared) {
            break e;
        }
    };
    shared.close(err);
}

/// Hands every complete reply in `frames` to its waiter.
fn deliver_frames(frames: &mut FrameBuf, shared: &Shared) -> Result<(), ConnError> {
    while let Some(frame) = frames.next_frame() {
        let reply = frame.map_err(|_| ConnError::Protocol)?;
        let id = message_id(reply).ok_or(ConnError::Protocol)?;
        let mut inf = shared.lock();
        let Some(waiter) = inf.map.remove(&id) else {
            if inf.abandoned.remove(&id) {
                // A late answer to a query whose caller gave up: the ID was not reused
                // meanwhile, so this is not a confusion.
                continue;
            }
            return Err(ConnError::Protocol);
        };
        let info = match check_reply(reply, waiter.qname.get(), waiter.qtype, waiter.qclass) {
            Ok(info) => info,
            // A reply to another question under this ID, or a malformed one (bad names or
            // RDATA, a question-less error reply): a peer that sends it is broken or
            // hostile, so the connection goes, and every query on it is retried elsewhere.
            // It is marked closed before this query hears of its failure, so the retry
            // cannot land on it again.
            Err(_) => {
                drop(inf);
                shared.close(ConnError::Protocol);
                let _ = waiter.tx.send(Err(ConnError::Protocol));
                return Err(ConnError::Protocol);
            }
        };
        inf.last_activity = Instant::now();
        inf.last_reply = inf.last_activity;
        if let Some(server_idle) = keepalive_timeout(reply, &info) {
            if server_idle.is_zero() {
                // RFC 7828 §3.3.2: the server asks us to close; finish what is in flight.
                shared.retired.store(true, Ordering::Release);
            } else {
                // Close a little before the server would, so it never closes under a query.
                let ours = (server_idle.as_millis() as u64)
                    .saturating_sub(500)
                    .max(100);
                shared.idle_ms.fetch_min(ours, Ordering::Relaxed);
            }
        }
        let done = inf.map.is_empty() && shared.retired.load(Ordering::Acquire);
        drop(inf);
        let _ = waiter.tx.send(Ok((reply.to_vec(), info)));
        if done {
            return Err(ConnError::Closed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qname_is_kept_whole_up_to_the_longest_name() {
        let longest = vec![b'a'; MAX_NAME_LEN];
        assert_eq!(QName::new(&longest).unwrap().get(), &longest[..]);
        assert_eq!(
            QName::new(b"\x03www\x07example\x00").unwrap().get(),
            b"\x03www\x07example\x00"
        );
        assert_eq!(QName::new(b"").unwrap().get(), b"");
        assert!(QName::new(&[b'a'; MAX_NAME_LEN + 1]).is_none());
    }
}
