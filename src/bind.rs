//! Every socket strictdot serves on, bound before anything else happens: plain DNS (UDP and
//! TCP on each address), DNS-over-TLS and the operations endpoint. Binding is synchronous
//! and needs no runtime, so the binary binds first, then gives up its privileges while it
//! is still one thread, and only then starts the runtime (`caps` and `setuid` act per
//! thread: a worker started earlier would keep them).

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

/// The accept backlog of every listening socket (tokio's default).
const BACKLOG: i32 = 1024;

/// Bound sockets, not yet registered with a runtime.
#[derive(Debug, Default)]
pub struct Bound {
    /// UDP sockets.
    pub udp: Vec<std::net::UdpSocket>,
    /// TCP listeners for plain DNS.
    pub tcp: Vec<std::net::TcpListener>,
    /// DNS-over-TLS listeners.
    pub tls: Vec<std::net::TcpListener>,
    /// The operations endpoint, if any.
    pub metrics: Option<std::net::TcpListener>,
    /// The sockets came from the service manager (socket activation): they outlive this
    /// process, and what is queued on them at shutdown is left for the next instance.
    pub inherited: bool,
}

/// What to bind.
#[derive(Clone, Copy, Debug)]
pub struct Addresses<'a> {
    /// Plain DNS, UDP and TCP on each.
    pub dns: &'a [SocketAddr],
    /// DNS-over-TLS.
    pub tls: &'a [SocketAddr],
    /// The operations endpoint.
    pub metrics: Option<SocketAddr>,
    /// UDP sockets per fixed-port address (SO_REUSEPORT spreads datagrams over them).
    pub udp_sockets: usize,
}

/// A bind failure, naming what could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what} {addr}: {source}")]
pub struct BindError {
    /// Which listener (`--listen`, `--listen-tls`, `--metrics`).
    pub what: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// The system's reason.
    pub source: std::io::Error,
}

impl Bound {
    /// Binds every address in `addrs`. For port 0, TCP takes the port UDP was given, so
    /// each address serves both transports on one port (trying a few ports if the first
    /// one is taken for TCP).
    pub fn bind(addrs: Addresses<'_>) -> Result<Bound, BindError> {
        let mut out = Bound::default();
        for addr in addrs.dns {
            let err = |source| BindError {
                what: "--listen",
                addr: *addr,
                source,
            };
            let mut tries = 0;
            let (udp, tcp) = loop {
                let udp = udp_socket(*addr).map_err(err)?;
                let bound = udp.local_addr().map_err(err)?;
                match tcp_listener(bound) {
                    Ok(tcp) => break (udp, tcp),
                    Err(e) if addr.port() == 0 && tries < 16 => {
                        tries += 1;
                        tracing::debug!(error = %e, "port taken for TCP; trying another");
                    }
                    Err(e) => return Err(err(e)),
                }
            };
            out.udp.push(udp);
            if addr.port() != 0 {
                for _ in 1..addrs.udp_sockets.max(1) {
                    out.udp.push(udp_socket(*addr).map_err(err)?);
                }
            }
            out.tcp.push(tcp);
        }
        for addr in addrs.tls {
            out.tls
                .push(tcp_listener(*addr).map_err(|source| BindError {
                    what: "--listen-tls",
                    addr: *addr,
                    source,
                })?);
        }
        if let Some(addr) = addrs.metrics {
            out.metrics = Some(tcp_listener(addr).map_err(|source| BindError {
                what: "--metrics",
                addr,
                source,
            })?);
        }
        Ok(out)
    }

    /// Registers every socket with the current tokio runtime.
    pub fn register(self) -> std::io::Result<Listeners> {
        Ok(Listeners {
            udp: self
                .udp
                .into_iter()
                .map(UdpSocket::from_std)
                .collect::<Result<_, _>>()?,
            tcp: self
                .tcp
                .into_iter()
                .map(TcpListener::from_std)
                .collect::<Result<_, _>>()?,
            tls: self
                .tls
                .into_iter()
                .map(TcpListener::from_std)
                .collect::<Result<_, _>>()?,
            metrics: self.metrics.map(TcpListener::from_std).transpose()?,
            inherited: self.inherited,
        })
    }
}

/// Bound sockets to serve on, registered with the runtime.
#[derive(Debug, Default)]
pub struct Listeners {
    /// UDP sockets.
    pub udp: Vec<UdpSocket>,
    /// TCP listeners.
    pub tcp: Vec<TcpListener>,
    /// The operations endpoint (`--metrics`), if any.
    pub metrics: Option<TcpListener>,
    /// DNS-over-TLS listeners for clients.
    pub tls: Vec<TcpListener>,
    /// Inherited from the service manager ([`Bound::inherited`]).
    pub inherited: bool,
}

impl Listeners {
    /// Binds UDP and TCP on each address, one UDP socket per core on fixed ports (for
    /// tests and embedders that already run a runtime).
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Listeners> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::bind_with(addrs, workers).await
    }

    /// [`Listeners::bind`] with `udp_sockets` UDP sockets per address.
    pub async fn bind_with(addrs: &[SocketAddr], udp_sockets: usize) -> std::io::Result<Listeners> {
        let bound = Bound::bind(Addresses {
            dns: addrs,
            tls: &[],
            metrics: None,
            udp_sockets,
        })
        .map_err(|e| e.source)?;
        bound.register()
    }
}

/// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT and a receive buffer
/// large enough to ride out bursts.
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // SO_REUSEPORT only on a fixed port: for port 0 the kernel could hand out a port some
    // other SO_REUSEPORT socket of this user already holds.
    #[cfg(unix)]
    socket.set_reuse_port(addr.port() != 0)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking listening TCP socket on `addr` (SO_REUSEADDR, as tokio and std set it),
/// with SO_REUSEPORT on a fixed port so that a new instance can listen beside this one
/// during a restart (the kernel then spreads new connections over both).
fn tcp_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    // As for UDP: never on port 0, where the kernel could pick a port another
    // SO_REUSEPORT listener of this user already holds.
    #[cfg(unix)]
    socket.set_reuse_port(addr.port() != 0)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
