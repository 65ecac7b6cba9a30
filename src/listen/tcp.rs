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

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    shutdown: CancellationToken,
    /// At shutdown, how long without a query ends reading: `CLOSING_QUIET`, or nothing
    /// when the listener outlives the process (socket activation): the next instance starts
    /// only once this one has exited, so what arrives later is better left to it.
    closing_quiet: Duration,
}

/// Framed answers waiting to be written, above which reading pauses (backpressure).
const OUT_HIGH: usize = 64 * 1024;

impl Connection {
    /// A connection from `client` over `transport` (TCP or TLS).
    pub(crate) fn new(ctx: &StreamContext, client: IpAddr, transport: Transport) -> Connection {
        Connection {
            client,
            transport,
            switch: ctx.switch.clone(),
            limits: ctx.limits,
            metrics: ctx.metrics.clone(),
            shutdown: ctx.shutdown.clone(),
            closing_quiet: if ctx.drain_accept_queue {
                CLOSING_QUIET
            } else {
                Duration::ZERO
            },
        }
    }

    /// Serves one client stream (plain TCP or TLS) until it closes, idles out or stalls.
    /// `_caps` are the connection's permits, released when it ends.
    ///
    /// One task does everything: it reads as much as has arrived, takes every complete
    /// frame (a cache hit is framed into the output at once, a forwarded query joins the
    /// connection's set of pending answers, at most `max_in_flight`), collects the answers
    /// that are ready, and writes all framed output in one write. No task, channel or
    /// permit per query. Timers are armed lazily: a deadline that moved on is noticed
    /// when the old one fires, so a busy connection does not reset a timer per read.
    pub(crate) async fn run<S, C>(self, stream: S, _caps: C)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
        C: Send,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let cap = self.limits.max_in_flight.max(1);
        let mut pending = FuturesUnordered::new();
        let mut frames = FrameBuf::new();
        // Framed answers not yet handed to the stream.
        let mut out: Vec<u8> = Vec::new();
        // Handed to the stream but perhaps still buffered in it (TLS records).
        let mut unflushed = false;
        // Still taking queries: false once the client closed or erred, a frame was bad,
        // the connection idled out, or shutdown began. Answers already owed are still
        // written.
        let mut reading = true;
        let mut last_read = Instant::now();
        let mut frame_started: Option<Instant> = None;
        // Set at shutdown to the latest time this connection still reads: until then it
        // answers what arrives, and stops reading once quiet for `CLOSING_QUIET`.
        let mut closing: Option<Instant> = None;
        let read_timer = tokio::time::sleep_until(last_read + self.limits.idle_timeout);
        tokio::pin!(read_timer);
        let mut write_since: Option<Instant> = None;
        let write_timer = tokio::time::sleep_until(last_read + self.limits.write_timeout);
        tokio::pin!(write_timer);
        // Shutdown is watched through a token of this connection's own, created once: the
        // select below polls it on every pass, and a future made anew from the shared token
        // each time would register with (and lock) the token every connection shares.
        let shutdown = self.shutdown.child_token();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        // Whether the last pass read: then `last_read` is the time now, close enough to
        // start the write timeout from without reading the clock again.
        let mut just_read = false;
        loop {
            while reading && pending.len() < cap {
                let Some(frame) = frames.next_frame() else {
                    break;
                };
                frame_started = None;
                let Ok(msg) = frame else {
                    reading = false;
                    break;
                };
                // Received with the read that brought it (one clock read per read).
                match self
                    .switch
                    .get()
                    .handle(msg, self.client, self.transport, last_read)
                {
                    Outcome::Drop => {}
                    Outcome::Answer(answer) => {
                        push_frame(&mut out, &answer);
                    }
                    Outcome::Forward(forwarding) => pending.push(forwarding.answer()),
                }
            }
            // At the per-connection cap, reading pauses until one is answered
            // (backpressure, nothing queued).
            let at_cap = pending.len() >= cap;
            if reading && at_cap && frames.has_frame() {
                self.metrics.tcp_in_flight_limit_hits.inc();
            }
            if !reading && pending.is_empty() && out.is_empty() && !unflushed {
                break;
            }
            if frames.has_partial() {
                if frame_started.is_none() {
                    frame_started = Some(last_read);
                    let deadline = last_read + self.limits.read_timeout;
                    if read_timer.deadline() > deadline {
                        read_timer.as_mut().reset(deadline);
                    }
                }
            } else {
                frame_started = None;
            }
            let want_read = reading && !at_cap && out.len() < OUT_HIGH;
            let owe_write = !out.is_empty() || unflushed;
            if owe_write && write_since.is_none() {
                write_since = Some(if just_read { last_read } else { Instant::now() });
            }
            just_read = false;
            tokio::select! {
                biased;
                _ = &mut cancelled, if reading && closing.is_none() => {
                    let now = Instant::now();
                    closing = Some(now + CLOSING_LIMIT);
                    read_timer.as_mut().reset(now + self.closing_quiet);
                }
                Some(answer) = pending.next(), if !pending.is_empty() => {
                    push_frame(&mut out, &answer);
                }
                r = reader.read_buf(frames.spare()), if want_read => match r {
                    Ok(0) | Err(_) => reading = false,
                    Ok(_) => {
                        last_read = Instant::now();
                        just_read = true;
                    }
                },
                // Frames out first; once all are taken, a flush (a TLS stream may still
                // hold the last record).
                r = async {
                    if out.is_empty() {
                        writer.flush().await.map(|()| None)
                    } else {
                        writer.write(&out).await.map(Some)
                    }
                }, if owe_write => match r {
                    Ok(Some(0)) | Err(_) => return,
                    Ok(Some(n)) => {
                        out.drain(..n);
                        write_since = None;
                        // All handed over: flush now if that needs no wait (a TLS stream
                        // has sent its records during the write), saving a pass.
                        unflushed = !out.is_empty()
                            || match writer.flush().now_or_never() {
                                Some(Ok(())) => false,
                                Some(Err(_)) => return,
                                None => true,
                            };
                    }
                    Ok(None) => {
                        unflushed = false;
                        write_since = None;
                    }
                },
                () = &mut read_timer, if want_read => {
                    // A started frame must complete within the read timeout counted from
                    // its first byte, however slowly the rest trickles in (no slowloris);
                    // otherwise the connection may sit idle for the idle timeout.
                    let deadline = match frame_started {
                        Some(t) => t + self.limits.read_timeout,
                        None => last_read + self.limits.idle_timeout,
                    };
                    // Shutting down: quiet for CLOSING_QUIET, or CLOSING_LIMIT reached,
                    // ends reading between queries (RFC 7766 §6.2.3 lets the server close;
                    // the client asks again elsewhere, the next instance in a restart).
                    let deadline = match closing {
                        Some(limit) => deadline.min(last_read + self.closing_quiet).min(limit),
                        None => deadline,
                    };
                    let now = Instant::now();
                    if deadline > now {
                        read_timer.as_mut().reset(deadline);
                    } else if closing.is_some() {
                        reading = false;
                    } else if !pending.is_empty() && frame_started.is_none() {
                        // Queries still in flight: not idle (RFC 7766 §6.2.3).
                        last_read = now;
                        read_timer.as_mut().reset(now + self.limits.idle_timeout);
                    } else {
                        self.metrics.tcp_timeouts.inc();
                        reading = false;
                    }
                }
                () = &mut write_timer, if owe_write => {
                    // The client must take our answers within the write timeout.
                    match write_since {
                        Some(t) if t + self.limits.write_timeout <= Instant::now() => return,
                        Some(t) => write_timer.as_mut().reset(t + self.limits.write_timeout),
                        None => {}
                    }
                }
            }
        }
        let _ = tokio::time::timeout(self.limits.write_timeout, writer.shutdown()).await;
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
