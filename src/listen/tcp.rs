//! The TCP accept loop and per-connection I/O (RFC 7766): many queries per connection,
//! pipelined, answered as they complete (possibly out of order), 2-octet length framing up
//! to 65535 with no smaller fixed buffer, an idle timeout, a read timeout for a frame that
//! has started to arrive, and caps on connections (all, and per client prefix). Clients
//! outside the allow list are closed at accept and hold no slot. Each message goes through
//! the pipeline ([`Forwarder::handle`](crate::forward::Forwarder::handle)).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::acl::mask;
use crate::forward::{Outcome, Switch, Transport};
use crate::framing::{push_frame, FrameBuf};
use crate::metrics::Metrics;

/// At shutdown, a connection closes once no query has arrived for this long...
const CLOSING_QUIET: Duration = Duration::from_millis(200);
/// ...or this long after shutdown began, whichever comes first.
const CLOSING_LIMIT: Duration = Duration::from_secs(2);
/// How long a closing connection waits for the client's own close after sending its FIN.
const CLOSING_LINGER: Duration = Duration::from_secs(1);

/// Limits of the TCP listener.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Concurrent client connections, across all TCP listeners.
    pub max_clients: usize,
    /// Concurrent connections from one client prefix ([`TcpShared::client_prefixes`]).
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

/// Connection counts per client prefix, shared by all TCP and TLS listeners.
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
    /// Connections per client prefix (the per-client cap).
    pub per_client: Arc<PerClient>,
    /// The prefix lengths (IPv4, IPv6) that group client addresses for the per-client
    /// cap: the rate limiter's, so one IPv6 /64 is one client to both.
    pub client_prefixes: (u8, u8),
}

/// What every connection of a stream listener (TCP or TLS) shares.
#[derive(Clone)]
pub struct StreamContext {
    /// The pipeline in force.
    pub switch: Arc<Switch>,
    /// Caps that span listeners.
    pub shared: Arc<TcpShared>,
    /// Limits of one connection.
    pub limits: TcpLimits,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Where connection tasks run, so shutdown waits for them.
    pub tracker: TaskTracker,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// At shutdown, accept the connections already in the accept queue before closing the
    /// listener (false for inherited listeners, whose queue waits for the next instance).
    pub drain_accept_queue: bool,
}

/// Serves one TCP listener until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, ctx: StreamContext) {
    loop {
        let Some((stream, peer)) = accept(&listener, &ctx).await else {
            break;
        };
        let Some((client, caps)) = admit(&ctx, peer.ip()) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection::new(&ctx, client, Transport::Tcp);
        ctx.tracker.spawn(conn.run(stream, caps));
    }
}

/// Accepts the next connection; `None` once `shutdown` is cancelled and (when the context
/// drains its accept queue) no connection the kernel has completed is left in the queue.
/// Failures (out of file descriptors and the like) pause briefly instead of spinning.
pub(crate) async fn accept(
    listener: &TcpListener,
    ctx: &StreamContext,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    loop {
        if ctx.shutdown.is_cancelled() {
            if !ctx.drain_accept_queue {
                return None;
            }
            // Connections the kernel already completed wait in the accept queue; closing
            // the listener would reset them (unless net.ipv4.tcp_migrate_req moves them to
            // another listener of the group). Take them, without waiting for more.
            return match std::future::poll_fn(|cx| Poll::Ready(listener.poll_accept(cx))).await {
                Poll::Ready(Ok(pair)) => Some(pair),
                Poll::Ready(Err(_)) | Poll::Pending => None,
            };
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => continue,
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

/// Admits a connection from `ip`: the allow list first (a stranger is closed at once and
/// holds nothing), then the global and per-client-prefix caps, counting each refusal. The
/// returned permits are held for the connection's life.
pub(crate) fn admit(
    ctx: &StreamContext,
    ip: IpAddr,
) -> Option<(IpAddr, (tokio::sync::OwnedSemaphorePermit, ClientSlot))> {
    let client = crate::acl::canonical(ip);
    if !ctx.switch.get().admits(client) {
        return None;
    }
    let Ok(permit) = ctx.shared.clients.clone().try_acquire_owned() else {
        ctx.metrics.tcp_conn_limit_hits.inc();
        return None;
    };
    let (v4, v6) = ctx.shared.client_prefixes;
    let prefix = mask(client, if client.is_ipv4() { v4 } else { v6 });
    let Some(slot) = PerClient::try_add(&ctx.shared.per_client, prefix, ctx.limits.max_per_client)
    else {
        ctx.metrics.tcp_client_limit_hits.inc();
        return None;
    };
    Some((client, (permit, slot)))
}

/// One client connection's context.
pub(crate) struct Connection {
    client: IpAddr,
    transport: Transport,
    switch: Arc<Switch>,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Connection {
    /// A connection from `client` over `transport` (TCP or TLS).
    pub(crate) fn new(ctx: &StreamContext, client: IpAddr, transport: Transport) -> Connection {
        Connection {
            client,
            transport,
            switch: ctx.switch.clone(),
            limits: ctx.limits,
            metrics: ctx.metrics.clone(),
            tracker: ctx.tracker.clone(),
            shutdown: ctx.shutdown.clone(),
        }
    }

    /// Serves one client stream (plain TCP or TLS) until it closes, idles out or stalls.
    /// `_caps` are the connection's permits, released when it ends.
    pub(crate) async fn run<S, C>(self, stream: S, _caps: C)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
        C: Send,
    {
        let (mut reader, writer) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel::<Vec<u8>>(self.limits.max_in_flight.max(1));
        let writer = self
            .tracker
            .spawn(write_answers(writer, rx, self.limits.write_timeout));
        let in_flight = Arc::new(Semaphore::new(self.limits.max_in_flight));
        let mut frames = FrameBuf::new();
        let mut frame_started: Option<Instant> = None;
        // Set at shutdown to the latest time this connection still reads: until then it
        // answers what arrives, and closes once quiet for `CLOSING_QUIET`.
        let mut closing: Option<Instant> = None;
        'conn: loop {
            while let Some(frame) = frames.next_frame() {
                frame_started = None;
                let Ok(msg) = frame else { break 'conn };
                // At the per-connection cap, reading pauses until one is answered
                // (backpressure, nothing queued).
                let permit = match in_flight.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
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
                match self.switch.get().handle(msg, self.client, self.transport) {
                    Outcome::Drop => {}
                    Outcome::Answer(answer) => {
                        if tx.send(answer).await.is_err() {
                            break 'conn;
                        }
                    }
                    Outcome::Forward(forwarding) => {
                        let tx = tx.clone();
                        self.tracker.spawn(async move {
                            let answer = forwarding.answer().await;
                            let _ = tx.send(answer).await;
                            drop(permit);
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
            let until = match closing {
                Some(last) => until.min(Instant::now() + CLOSING_QUIET).min(last),
                None => until,
            };
            let read = tokio::select! {
                _ = self.shutdown.cancelled(), if closing.is_none() => {
                    closing = Some(Instant::now() + CLOSING_LIMIT);
                    continue;
                }
                _ = tx.closed() => break,
                r = tokio::time::timeout_at(until, reader.read_buf(frames.spare())) => r,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                // Shutting down and quiet: close between queries (RFC 7766 §6.2.3 lets the
                // server close; a client retries what it had not sent yet elsewhere).
                Err(_) if closing.is_some() => break,
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
        if closing.is_some() {
            // Our FIN is out. Whatever the client still sends is read and dropped until it
            // closes too: closing with unread data would send a reset, which can destroy
            // answers the client has not read yet. The client sees a clean end of stream
            // and asks again on a new connection (to the next instance, in a restart).
            let mut sink = [0u8; 512];
            let _ = tokio::time::timeout(CLOSING_LINGER, async {
                while let Ok(n) = reader.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    }
}

async fn write_answers<W: tokio::io::AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    write_timeout: Duration,
) {
    let mut buf = Vec::with_capacity(4096);
    while let Some(answer) = rx.recv().await {
        buf.clear();
        push_frame(&mut buf, &answer);
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(more) => {
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
