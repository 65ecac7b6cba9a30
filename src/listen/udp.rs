//! The UDP datagram loop: one receive buffer per socket, cheap checks inline, and a task
//! per forwarded query, bounded by the pending-query semaphore.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dns::Rcode;
use crate::forward::{Prepared, Switch, Transport};
use crate::metrics::Metrics;

/// Serves one UDP socket until `shutdown` is cancelled.
pub async fn serve(
    socket: Arc<UdpSocket>,
    switch: Arc<Switch>,
    pending: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    // The largest UDP payload; anything longer was cut by the kernel and fails validation.
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                // ICMP errors from earlier sends surface here on some systems; keep serving.
                Err(_) => continue,
            },
        };
        metrics.udp_queries.inc();
        let Some(msg) = buf.get(..len) else { continue };
        let forwarder = switch.get();
        match forwarder.prepare(msg, peer.ip(), Transport::Udp) {
            Prepared::Drop => {}
            Prepared::Answer(answer) => {
                metrics.count_response(false, &answer);
                send(&socket, &answer, peer).await
            }
            Prepared::Forward(query) => {
                let Ok(permit) = pending.clone().try_acquire_owned() else {
                    // Too many queries waiting for upstreams: answer now, queue nothing.
                    metrics.pending_limit_hits.inc();
                    let answer = query.error_answer(Rcode::ServFail);
                    metrics.count_response(false, &answer);
                    send(&socket, &answer, peer).await;
                    continue;
                };
                let socket = socket.clone();
                let metrics = metrics.clone();
                tracker.spawn(async move {
                    let answer = forwarder.answer(query, Transport::Udp).await;
                    metrics.count_response(false, &answer);
                    send(&socket, &answer, peer).await;
                    drop(permit);
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, answer: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(answer, peer).await {
        tracing::debug!(error = %e, "UDP send failed");
    }
}
