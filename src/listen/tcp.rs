//! The TCP accept loop and per-connection handling (RFC 7766): many queries per
//! connection, pipelined, answered as they complete (possibly out of order), 2-octet length
//! framing up to 65535 with no smaller fixed buffer, an idle timeout, a read timeout for a
//! frame that has started to arrive, and a cap on connections.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::forward::{Forwarder, Prepared, Transport};
use crate::framing::{push_frame, FrameBuf};
use crate::metrics::Metrics;

/// Limits of the TCP listener.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Concurrent client connections, across all TCP listeners.
    pub max_clients: usize,
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

/// Serves one TCP listener until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    forwarder: Arc<Forwarder>,
    clients: Arc<Semaphore>,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = clients.clone().try_acquire_owned() else {
            metrics.tcp_conn_limit_hits.inc();
            drop(stream);
            continue;
        };
        let conn = Connection {
            forwarder: forwarder.clone(),
            limits,
            metrics: metrics.clone(),
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
        };
        tracker.spawn(conn.run(stream, permit));
    }
}

struct Connection {
    forwarder: Arc<Forwarder>,
    limits: TcpLimits,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, _permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let (mut reader, writer) = stream.into_split();
        let (tx, rx) = mpsc::channel::<Vec<u8>>(self.limits.max_in_flight.max(1));
        let writer = self
            .tracker
            .spawn(write_answers(writer, rx, self.limits.write_timeout));
        let in_flight = Arc::new(Semaphore::new(self.limits.max_in_flight));
        let mut frames = FrameBuf::new();
        let mut frame_started: Option<Instant> = None;
        'conn: loop {
            while let Some(frame) = frames.next_frame() {
                frame_started = None;
                let Ok(msg) = frame else { break 'conn };
                self.metrics.tcp_queries.inc();
                match self.forwarder.prepare(msg) {
                    Prepared::Drop => {}
                    Prepared::Answer(answer) => {
                        if tx.send(answer).await.is_err() {
                            break 'conn;
                        }
                    }
                    Prepared::Forward(query) => {
                        let permit = tokio::select! {
                            _ = self.shutdown.cancelled() => break 'conn,
                            p = in_flight.clone().acquire_owned() => match p {
                                Ok(p) => p,
                                Err(_) => break 'conn,
                            },
                        };
                        let tx = tx.clone();
                        let forwarder = self.forwarder.clone();
                        self.tracker.spawn(async move {
                            let answer = forwarder.answer(query, Transport::Tcp).await;
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
                    break;
                }
            }
        }
        // Answers to queries already taken are still written; then the writer closes.
        drop(tx);
        let _ = writer.await;
    }
}

async fn write_answers(
    mut writer: OwnedWriteHalf,
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
