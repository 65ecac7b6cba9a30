//! The TCP accept loop and per-connection handling (RFC 7766): many queries per
//! connection, pipelined, answered as they complete (possibly out of order), 2-octet length
//! framing up to 65535 with no smaller fixed buffer, an idle timeout, a read timeout for a
//! frame that has started to arrive, and a cap on connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::forward::{Prepared, Switch, Transport};
use crate::framing::{push_frame, FrameBuf};
use crate::metrics::Metrics;

/// Limits of the TCP listener.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Concurrent client connections, across all TCP listeners.
    pub max_clients: usize,
    /// Concurrent connections from one client address.
    pub max_per_client: usize,
    /// Queries in flight at once on one client connection; reading pauses at the cap.
    pub max_in_flight: usize,
    /// Close a connection with nothing in flight and nothing arriving for this long
    /// (RFC 7766 §6.2.3).
    pub idle_timeout: Duration,
    /// Close a connection whose started frame does not complete within this time.
    pub read_timeout: Duration,
    /// Close a connection that does not take our answers within this time.
    pub write_timeout: Duration,
}

/// Connection counts per client address, shared by all TCP listeners.
#[derive(Default)]
pub struct PerClient {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounts itself when dropped.
pub(crate) struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    pub(crate) fn try_add(table: &Arc<PerClient>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut counts = table.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Shared TCP state: caps that span listeners.
pub struct TcpShared {
    /// One permit per open client connection (the global cap).
    pub clients: Arc<Semaphore>,
    /// Connections per client address (the per-client cap).
    pub per_client: Arc<PerClient>,
    /// One permit per query waiting for an upstream, shared with UDP.
    pub pending: Arc<Semaphore>,
}

/// Serves one TCP listener until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
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
        let Some(caps) = admit(&shared, client, limits.max_per_client, &metrics) else {
            continue;
        };
        let conn = Connection {
            client,
            pending: shared.pending.clone(),
            switch: switch.clone(),
            limits,
            metrics: metrics.clone(),
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(conn.run(stream, caps));
    }
}

/// Accepts the next connection; `None` once `shutdown` is cancelled. Failures (out of file
/// descriptors and the like) pause briefly instead of spinning.
pub(crate) async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = listener.accept() => match r {
                Ok(pair) => return Some(pair),
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Admits a connection from `client` under the global and per-client caps, counting a
/// refusal; the returned permits are held for the connection's life.
pub(crate) fn admit(
    shared: &TcpShared,
    client: IpAddr,
    max_per_client: usize,
    metrics: &Metrics,
) -> Option<(tokio::sync::OwnedSemaphorePermit, ClientSlot)> {
    let Ok(permit) = shared.clients.clone().try_acquire_owned() else {
        metrics.tcp_conn_limit_hits.inc();
        return None;
    };
    let Some(slot) = PerClient::try_add(&shared.per_client, client, max_per_client) else {
        metrics.tcp_client_limit_hits.inc();
        return None;
    };
    Some((permit, slot))
}

/// One client connection's context.
pub(crate) struct Connection {
    pub(crate) client: IpAddr,
    pub(crate) pending: Arc<Semaphore>,
    pub(crate) switch: Arc<Switch>,
    pub(crate) limits: TcpLimits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
}

impl Connection {
    /// Serves one client stream (plain TCP or TLS) until it closes, idles out or stalls.
    /// `_caps` are the connection's permits, released when it ends.
    pub(crate) async fn run<S, C>(self, stream: S, _caps: C)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
        C: Send,
    {
        let (mut reader, writer) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel::<Vec<u8>>(self.limits.max_in_flight.max(1));
        let writer = self.tracker.spawn(write_answers(
            writer,
            rx,
            self.limits.write_timeout,
            self.metrics.clone(),
        ));
        let in_flight = Arc::new(Semaphore::new(self.limits.max_in_flight));
        let mut frames = FrameBuf::new();
        let mut frame_started: Option<Instant> = None;
        'conn: loop {
            while let Some(frame) = frames.next_frame() {
                frame_started = None;
                let Ok(msg) = frame else { break 'conn };
                self.metrics.tcp_queries.inc();
                let forwarder = self.switch.get();
                match forwarder.prepare(msg, self.client, Transport::Tcp) {
                    Prepared::Drop => {}
                    Prepared::Answer(answer) => {
                        if tx.send(answer).await.is_err() {
                            break 'conn;
                        }
                    }
                    Prepared::Forward(query) => {
                        let permit = match in_flight.clone().try_acquire_owned() {
                            Ok(p) => p,
                            Err(_) => {
                                // At the per-connection cap: stop reading until one is
                                // answered (backpressure, nothing queued).
                                self.metrics.tcp_in_flight_limit_hits.inc();
                                tokio::select! {
                                    _ = self.shutdown.cancelled() => break 'conn,
                                    p = in_flight.clone().acquire_owned() => match p {
                                        Ok(p) => p,
                                        Err(_) => break 'conn,
                                    },
                                }
                            }
                        };
                        let Ok(pending) = self.pending.clone().try_acquire_owned() else {
                            // Too many queries waiting for upstreams: answer now.
                            self.metrics.pending_limit_hits.inc();
                            let answer = query.error_answer(crate::dns::Rcode::ServFail);
                            if tx.send(answer).await.is_err() {
                                break 'conn;
                            }
                            continue;
                        };
                        let tx = tx.clone();
                        self.tracker.spawn(async move {
                            let answer = forwarder.answer(query, Transport::Tcp).await;
                            let _ = tx.send(answer).await;
                            drop((permit, pending));
                        });
                    }
                }
            }
            // A started frame must complete within the read timeout counted from its first
            // byte, however slowly the bytes trickle in (no slowloris); otherwise the
            // connection may sit idle for the idle timeout.
            let until = if frames.has_partial() {
                *frame_started.get_or_insert_with(Instant::now) + self.limits.read_timeout
            } else {
                frame_started = None;
                Instant::now() + self.limits.idle_timeout
            };
            let read = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tx.closed() => break,
                r = tokio::time::timeout_at(until, reader.read_buf(frames.spare())) => r,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    let busy = in_flight.available_permits() < self.limits.max_in_flight;
                    if busy && !frames.has_partial() {
                        // Queries still in flight: not idle (RFC 7766 §6.2.3).
                        continue;
                    }
                    self.metrics.tcp_timeouts.inc();
                    break;
                }
            }
        }
        // Answers to queries already taken are still written; then the writer closes.
        drop(tx);
        let _ = writer.await;
    }
}

async fn write_answers<W: tokio::io::AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    write_timeout: Duration,
    metrics: Arc<Metrics>,
) {
    let mut buf = Vec::with_capacity(4096);
    while let Some(answer) = rx.recv().await {
        buf.clear();
        metrics.count_response(true, &answer);
        push_frame(&mut buf, &answer);
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(more) => {
                    metrics.count_response(true, &more);
                    push_frame(&mut buf, &more);
                }
                Err(_) => break,
            }
        }
        match tokio::time::timeout(write_timeout, writer.write_all(&buf)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = tokio::time::timeout(write_timeout, writer.shutdown()).await;
}
