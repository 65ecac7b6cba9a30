//! The UDP datagram loop: I/O only. One set of receive slots per socket; each datagram goes
//! through the pipeline ([`Forwarder::handle`](crate::forward::Forwarder::handle)), and the
//! queries it forwards are driven by the loop itself.
//!
//! One task per socket receives every datagram that is waiting (not one wake-up per
//! datagram; on Linux up to 16 per `recvmmsg` system call), and keeps its forwarded
//! queries in a set that it polls alongside the socket: no task is spawned per query, and
//! an answer is sent from the thread that received the query. With one socket per core
//! (SO_REUSEPORT), that is one such loop per core.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::forward::{Forwarding, Outcome, Switch, Transport};

/// Datagrams taken from the socket per wake-up before the loop sends answers again.
const RECV_BATCH: usize = 64;
/// Answers sent in one system call at most.
const SEND_BATCH: usize = 32;

/// How long a socket that has left its SO_REUSEPORT group keeps reading before its last
/// pass: a datagram whose socket lookup ran just before the group changed can still be
/// queued just after (the lookup and the enqueue are one softirq pass, microseconds; this
/// leaves a wide margin).
const LEAVE_SETTLE: Duration = Duration::from_millis(100);

/// What a UDP socket does with its queue at shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// The socket is ours alone: leave the SO_REUSEPORT group first (so that the kernel
    /// sends new datagrams to the other sockets of the group, a new instance's), then
    /// answer every datagram already queued, then close.
    Handover,
    /// The socket outlives this process (socket activation): answer what is queued now and
    /// leave the rest on it for the next instance.
    Keep,
}

/// Serves one UDP socket until `shutdown` is cancelled, then drains it as `drain` says and
/// finishes (and answers) the queries already under way.
pub async fn serve(
    socket: Arc<UdpSocket>,
    switch: Arc<Switch>,
    shutdown: CancellationToken,
    drain: Drain,
) {
    let mut receiver = Receiver::new();
    // FuturesUnordered wakes its own task (a yield) whenever one call has polled every
    // future it holds; with one query in flight, as at low rates, that is every query, and
    // tokio answers a yield by waking another worker thread (a futex wake and a context
    // switch, about 20 us on a small VM). A member that never completes keeps that from
    // happening; the queries in flight are the others.
    let mut in_flight = FuturesUnordered::new();
    in_flight.push(Either::Right(std::future::pending()));
    let mut answers: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(SEND_BATCH);
    let mut receiving = true;
    // Set at shutdown: when the last pass over the queue starts.
    let mut last_pass: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    // Where each received datagram's outcome goes: an answer to send, a query to drive.
    macro_rules! handler {
        () => {
            |outcome: Outcome, peer: SocketAddr| match outcome {
                Outcome::Drop => {}
                Outcome::Answer(answer) => answers.push((answer, peer)),
                Outcome::Forward(f) => in_flight.push(Either::Left(answered(f, peer))),
            }
        };
    }
    loop {
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if in_flight.len() > 1 => {
                // Every other answer that is ready too leaves in the same system call.
                answers.push(done);
                std::future::poll_fn(|cx| {
                    while answers.len() < SEND_BATCH {
                        match in_flight.poll_next_unpin(cx) {
                            Poll::Ready(Some(done)) => answers.push(done),
                            Poll::Ready(None) | Poll::Pending => break,
                        }
                    }
                    Poll::Ready(())
                })
                .await;
                send_all(&socket, &answers).await;
                answers.clear();
            }
            _ = shutdown.cancelled(), if last_pass.is_none() => {
                let settle = match drain {
                    Drain::Handover => match leave_group(&socket) {
                        Ok(()) => LEAVE_SETTLE,
                        Err(e) => {
                            tracing::warn!(error = %e, "UDP socket could not leave its SO_REUSEPORT group");
                            Duration::ZERO
                        }
                    },
                    Drain::Keep => Duration::ZERO,
                };
                last_pass = Some(Instant::now() + settle);
            }
            _ = tokio::time::sleep_until(last_pass.unwrap_or(far)), if receiving && last_pass.is_some() => {
                // The last pass: everything queued now, then no more reading.
                receiving = false;
                loop {
                    match take(&mut receiver, &socket, &switch, &mut handler!()) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => continue,
                    }
                    if answers.len() >= SEND_BATCH {
                        send_all(&socket, &answers).await;
                        answers.clear();
                    }
                }
                if !answers.is_empty() {
                    send_all(&socket, &answers).await;
                    answers.clear();
                }
            }
            ready = socket.readable(), if receiving => {
                if ready.is_err() {
                    continue;
                }
                // Answers known at once (cache hits, refusals) leave together after the
                // batch, in as few system calls as the ones from upstreams.
                let mut taken = 0;
                while taken < RECV_BATCH {
                    match take(&mut receiver, &socket, &switch, &mut handler!()) {
                        Ok(n) => taken += n.max(1),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // ICMP errors from earlier sends surface here on some systems.
                        Err(_) => taken += 1,
                    }
                    if answers.len() >= SEND_BATCH {
                        send_all(&socket, &answers).await;
                        answers.clear();
                    }
                }
                if !answers.is_empty() {
                    send_all(&socket, &answers).await;
                    answers.clear();
                }
            }
            else => break,
        }
    }
}

/// The answer to a forwarded query, with where it goes.
async fn answered(f: Forwarding, peer: SocketAddr) -> (Vec<u8>, SocketAddr) {
    (f.answer().await, peer)
}

/// Receives the datagrams waiting on `socket` (one system call) and hands each one's
/// outcome to `handle`; returns how many, or `WouldBlock`.
fn take(
    receiver: &mut Receiver,
    socket: &UdpSocket,
    switch: &Switch,
    handle: &mut impl FnMut(Outcome, SocketAddr),
) -> std::io::Result<usize> {
    let count = receiver.receive(socket)?;
    let now = Instant::now();
    for (msg, peer) in receiver.datagrams(count) {
        handle(
            switch.get().handle(msg, peer.ip(), Transport::Udp, now),
            peer,
        );
    }
    Ok(count)
}

/// Takes `socket` out of the kernel's choice for new datagrams while it can still be read:
/// a UDP socket connected to a peer is skipped when SO_REUSEPORT picks a socket for a
/// datagram from anyone else (Linux 5.x and later), and what is already queued on it stays
/// readable. It is connected to its own address, which sends it nothing; replies still go
/// out with explicit destinations. With no other socket left in the group, new datagrams
/// get ICMP port unreachable, which clients see as a refusal at once.
fn leave_group(socket: &UdpSocket) -> std::io::Result<()> {
    let local = socket.local_addr()?;
    let to = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, local.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, local.port()))
        }
        _ => local,
    };
    socket2::SockRef::from(socket).connect(&to.into())
}

/// The largest UDP payload; one receive slot holds any datagram whole.
const SLOT_LEN: usize = 65536;

/// Receive buffers for one socket: on Linux, `RECV_SLOTS` slots filled by one `recvmmsg`.
///
/// The slots are one allocation large enough to be mapped on demand, so only the pages the
/// kernel writes (the first of each slot, for ordinary queries) take memory.
struct Receiver {
    slots: Vec<u8>,
    meta: Vec<(usize, Option<SocketAddr>)>,
}

#[cfg(target_os = "linux")]
const RECV_SLOTS: usize = 16;
#[cfg(not(target_os = "linux"))]
const RECV_SLOTS: usize = 1;

impl Receiver {
    fn new() -> Receiver {
        Receiver {
            slots: vec![0u8; RECV_SLOTS * SLOT_LEN],
            meta: Vec::with_capacity(RECV_SLOTS),
        }
    }

    /// Receives the datagrams that are waiting, as many as there are slots; returns how
    /// many, or `WouldBlock` when there are none.
    #[cfg(target_os = "linux")]
    fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        let Receiver { slots, meta } = self;
        meta.clear();
        socket.try_io(tokio::io::Interest::READABLE, || {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = slots
                .chunks_mut(SLOT_LEN)
                .map(|slot| [IoSliceMut::new(slot)])
                .collect();
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(RECV_SLOTS, None);
            let results = recvmmsg(
                socket.as_raw_fd(),
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )?;
            for msg in results {
                // A sender that is not an IP address cannot happen on an IP socket; such
                // a datagram would be skipped (no one to answer).
                let peer = msg.address.and_then(|a| {
                    a.as_sockaddr_in()
                        .map(|v4| SocketAddr::V4((*v4).into()))
                        .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
                });
                meta.push((msg.bytes, peer));
            }
            Ok(meta.len())
        })
    }

    /// Receives one datagram, or `WouldBlock`.
    #[cfg(not(target_os = "linux"))]
    fn receive(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        self.meta.clear();
        let (len, peer) = socket.try_recv_from(&mut self.slots)?;
        self.meta.push((len, Some(peer)));
        Ok(1)
    }

    /// The first `n` datagrams of the last `receive`, each with its sender.
    fn datagrams(&self, n: usize) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.meta
            .iter()
            .take(n)
            .zip(self.slots.chunks(SLOT_LEN))
            .filter_map(|(&(len, peer), slot)| Some((&slot[..len.min(slot.len())], peer?)))
    }
}

async fn send(socket: &UdpSocket, answer: &[u8], peer: SocketAddr) {
    // The socket is almost always writable: try at once, wait only if it is not.
    let sent = match socket.try_send_to(answer, peer) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => socket.send_to(answer, peer).await,
        other => other,
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "UDP send failed");
    }
}

/// Sends every answer in `answers`; on Linux in as few `sendmmsg` calls as the socket takes.
#[cfg(target_os = "linux")]
async fn send_all(socket: &UdpSocket, answers: &[(Vec<u8>, SocketAddr)]) {
    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    if let [(answer, peer)] = answers {
        return send(socket, answer, *peer).await;
    }
    let mut done = 0;
    while done < answers.len() {
        let rest = &answers[done..];
        let sent = socket.try_io(tokio::io::Interest::WRITABLE, || {
            let iovs: Vec<[IoSlice<'_>; 1]> = rest.iter().map(|(a, _)| [IoSlice::new(a)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> = rest
                .iter()
                .map(|(_, p)| Some(SockaddrStorage::from(*p)))
                .collect();
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(rest.len(), None);
            let sent = sendmmsg(
                socket.as_raw_fd(),
                &mut headers,
                &iovs,
                &addrs,
                [],
                MsgFlags::empty(),
            )?;
            Ok(sent.count())
        });
        match sent {
            Ok(n) => done += n.max(1),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // The first remaining answer could not be sent (its peer is unreachable,
                // say); the others may still go.
                tracing::debug!(error = %e, "UDP send failed");
                done += 1;
            }
        }
    }
}

/// Sends every answer in `answers`, one system call each.
#[cfg(not(target_os = "linux"))]
async fn send_all(socket: &UdpSocket, answers: &[(Vec<u8>, SocketAddr)]) {
    for (answer, peer) in answers {
        send(socket, answer, *peer).await;
    }
}
