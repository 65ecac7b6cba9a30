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

/// Sockets passed by a service manager (socket activation, as systemd's `sd_listen_fds`):
/// `$LISTEN_FDS` descriptors from 3 on, meant for this process if `$LISTEN_PID` is its
/// id, named by `$LISTEN_FDNAMES` (colon-separated; systemd's `FileDescriptorName=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    /// How many descriptors, from 3 on.
    pub count: usize,
    /// Their names, in order (may be shorter than `count`).
    pub names: Vec<String>,
}

impl Activation {
    /// The activation the variables describe for process `pid`, or `None` when there is
    /// none for this process (no variables, another process's, or no descriptors).
    pub fn from_vars(
        pid: u32,
        listen_pid: Option<&str>,
        listen_fds: Option<&str>,
        listen_fdnames: Option<&str>,
    ) -> Option<Activation> {
        if listen_pid?.trim().parse::<u32>().ok()? != pid {
            return None;
        }
        let count = listen_fds?
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)?;
        let names = listen_fdnames
            .map(|n| n.split(':').map(str::to_owned).collect())
            .unwrap_or_default();
        Some(Activation { count, names })
    }

    /// Reads the variables of this process.
    pub fn from_process() -> Option<Activation> {
        let var = |k| std::env::var(k).ok();
        Activation::from_vars(
            std::process::id(),
            var("LISTEN_PID").as_deref(),
            var("LISTEN_FDS").as_deref(),
            var("LISTEN_FDNAMES").as_deref(),
        )
    }
}

/// What an inherited stream socket is for: its name (`tls`, `metrics`; anything else is
/// plain DNS), or else its address among the configured ones.
fn stream_role(name: Option<&str>, local: Option<SocketAddr>, addrs: &Addresses<'_>) -> Role {
    match name {
        Some("tls") => Role::Tls,
        Some("metrics") => Role::Metrics,
        _ if local.is_some_and(|a| addrs.tls.contains(&a)) => Role::Tls,
        _ if local.is_some() && local == addrs.metrics => Role::Metrics,
        _ => Role::Dns,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Dns,
    Tls,
    Metrics,
}

impl Bound {
    /// Takes the sockets a service manager passed (`activation`): every datagram socket
    /// serves DNS over UDP, and each stream socket serves DNS over TCP, DNS-over-TLS or
    /// the operations endpoint ([`stream_role`]). Inherited sockets replace `--listen`;
    /// a TLS or operations address with no inherited socket is bound as usual. The
    /// sockets outlive this process, so shutdown leaves their queues to the next instance.
    pub fn inherit(activation: &Activation, addrs: Addresses<'_>) -> std::io::Result<Bound> {
        let mut fds = listenfd::ListenFd::from_env();
        let mut out = Bound {
            inherited: true,
            ..Bound::default()
        };
        let bad = |i: usize, what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("inherited descriptor {} (LISTEN_FDS): {what}", i + 3),
            )
        };
        for i in 0..activation.count.min(fds.len()) {
            let name = activation.names.get(i).map(String::as_str);
            if let Ok(Some(udp)) = fds.take_udp_socket(i) {
                udp.set_nonblocking(true)?;
                out.udp.push(udp);
                continue;
            }
            let Ok(Some(tcp)) = fds.take_tcp_listener(i) else {
                return Err(bad(i, "not a UDP socket or a listening TCP socket"));
            };
            tcp.set_nonblocking(true)?;
            match stream_role(name, tcp.local_addr().ok(), &addrs) {
                Role::Dns => out.tcp.push(tcp),
                Role::Tls => out.tls.push(tcp),
                Role::Metrics if out.metrics.is_none() => out.metrics = Some(tcp),
                Role::Metrics => return Err(bad(i, "a second operations endpoint")),
            }
        }
        if out.udp.is_empty() && out.tcp.is_empty() && out.tls.is_empty() {
            return Err(bad(0, "no DNS socket among the inherited ones"));
        }
        let rest = Bound::bind(Addresses {
            dns: &[],
            tls: if out.tls.is_empty() { addrs.tls } else { &[] },
            metrics: addrs.metrics.filter(|_| out.metrics.is_none()),
            udp_sockets: 1,
        })
        .map_err(|e| std::io::Error::new(e.source.kind(), e.to_string()))?;
        out.tls.extend(rest.tls);
        out.metrics = out.metrics.or(rest.metrics);
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_is_for_this_process_only() {
        let a = Activation::from_vars(42, Some("42"), Some("3"), Some("dns:dns:tls"));
        assert_eq!(
            a,
            Some(Activation {
                count: 3,
                names: vec!["dns".into(), "dns".into(), "tls".into()],
            })
        );
        assert_eq!(Activation::from_vars(42, Some("43"), Some("3"), None), None);
        assert_eq!(Activation::from_vars(42, None, Some("3"), None), None);
        assert_eq!(Activation::from_vars(42, Some("42"), Some("0"), None), None);
        assert_eq!(Activation::from_vars(42, Some("42"), Some("x"), None), None);
        let unnamed = Activation::from_vars(42, Some("42"), Some("2"), None).unwrap();
        assert!(unnamed.names.is_empty());
    }

    #[test]
    fn inherited_stream_sockets_are_told_apart_by_name_then_address() {
        let tls: SocketAddr = "127.0.0.1:853".parse().unwrap();
        let ops: SocketAddr = "127.0.0.1:9153".parse().unwrap();
        let dns: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let addrs = Addresses {
            dns: &[],
            tls: &[tls],
            metrics: Some(ops),
            udp_sockets: 1,
        };
        assert_eq!(stream_role(Some("tls"), Some(dns), &addrs), Role::Tls);
        assert_eq!(
            stream_role(Some("metrics"), Some(dns), &addrs),
            Role::Metrics
        );
        assert_eq!(stream_role(None, Some(tls), &addrs), Role::Tls);
        assert_eq!(stream_role(Some("x"), Some(ops), &addrs), Role::Metrics);
        assert_eq!(stream_role(None, Some(dns), &addrs), Role::Dns);
        assert_eq!(stream_role(Some("dns"), None, &addrs), Role::Dns);
    }
}
