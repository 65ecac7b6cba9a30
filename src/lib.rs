//! strictdot: a DNS-to-DNS-over-TLS forwarder under the RFC 8310 strict privacy profile.
//!
//! One query takes one path: **listener -> validate -> upstream pool -> response**.
//!
//! ```text
//! listen/udp.rs, listen/tcp.rs   plain DNS from clients (RFC 1035, RFC 7766 framing)
//!   -> forward.rs                the pipeline: validate, resolve, shape the answer
//!     -> dns/query.rs            bytes -> ValidQuery or a Rejection (drop/FORMERR/NOTIMP/BADVERS)
//!     -> upstream/pool.rs        pick an upstream, find or open a connection, fail over
//!       -> upstream/conn.rs      one pipelined DoT connection (handle + driver tasks)
//!         -> upstream/verify.rs  every authentication decision (name, pins, both)
//!     -> dns/answer.rs           check the reply, restore ID and question, truncate for UDP
//! ```
//!
//! [`run`] takes already-bound sockets and a cancellation token, so tests bind port 0 on
//! loopback and drive a real server in-process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod cache;
pub mod cli;
pub mod config;
pub mod dns;
pub mod forward;
pub mod framing;
pub mod http;
pub mod limiter;
pub mod listen;
pub mod metrics;
pub mod pin;
pub mod pin_cmd;
pub mod shutdown;
pub mod upstream;
pub mod upstream_spec;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::forward::Forwarder;
use crate::metrics::Metrics;
use crate::upstream::pool::Pool;

/// Bound sockets to serve on.
#[derive(Debug, Default)]
pub struct Listeners {
    /// UDP sockets.
    pub udp: Vec<UdpSocket>,
    /// TCP listeners.
    pub tcp: Vec<TcpListener>,
    /// The operations endpoint (`--metrics`), if any.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds UDP and TCP on each address. For port 0, TCP takes the port UDP was given,
    /// so each address serves both transports on one port (trying a few ports if the
    /// first one is taken for TCP). Each fixed-port address gets one UDP socket per core,
    /// bound with SO_REUSEPORT, so the kernel spreads datagrams over the workers.
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Listeners> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::bind_with(addrs, workers).await
    }

    /// [`Listeners::bind`] with `udp_sockets` UDP sockets per address.
    pub async fn bind_with(addrs: &[SocketAddr], udp_sockets: usize) -> std::io::Result<Listeners> {
        let mut out = Listeners::default();
        for addr in addrs {
            let mut tries = 0;
            let (udp, tcp) = loop {
                let udp = udp_socket(*addr)?;
                let bound = udp.local_addr()?;
                match TcpListener::bind(bound).await {
                    Ok(tcp) => break (udp, tcp),
                    Err(e) if addr.port() == 0 && tries < 16 => {
                        tries += 1;
                        tracing::debug!(error = %e, "port taken for TCP; trying another");
                    }
                    Err(e) => return Err(e),
                }
            };
            out.udp.push(udp);
            if addr.port() != 0 {
                for _ in 1..udp_sockets.max(1) {
                    out.udp.push(udp_socket(*addr)?);
                }
            }
            out.tcp.push(tcp);
        }
        Ok(out)
    }
}

/// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT and a receive buffer
/// large enough to ride out bursts.
fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // SO_REUSEPORT only on a fixed port: for port 0 the kernel could hand out a port some
    // other SO_REUSEPORT socket of this user already holds.
    #[cfg(unix)]
    socket.set_reuse_port(addr.port() != 0)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A configured server, ready to run on bound sockets.
pub struct Server {
    pool: Arc<Pool>,
    cache: Option<Arc<cache::Cache>>,
    config: Config,
    forwarder: Arc<Forwarder>,
    limiter: Option<Arc<limiter::Limiter>>,
    metrics: Arc<Metrics>,
    upstream_tasks: TaskTracker,
    upstream_stop: CancellationToken,
}

impl Server {
    /// Builds the server: trust anchors, TLS configurations, the pool. Nothing connects
    /// until the first query.
    pub fn new(config: Config) -> Result<Server, ConfigError> {
        let roots = upstream::tls::trust_anchors(&config.extra_roots)?;
        let metrics = Arc::new(Metrics::default());
        let upstream_tasks = TaskTracker::new();
        let upstream_stop = CancellationToken::new();
        let pool = Arc::new(Pool::new(
            &config.upstreams,
            roots,
            config.pool,
            upstream_tasks.clone(),
            upstream_stop.clone(),
            metrics.clone(),
        ));
        let limiter = config
            .rate_limit
            .map(|settings| Arc::new(limiter::Limiter::new(settings)));
        let policy = forward::ClientPolicy {
            acl: config.acl.clone(),
            limiter: limiter.clone(),
            log_queries: config.log_queries,
        };
        let cache = config.cache.map(|s| Arc::new(cache::Cache::new(s)));
        let forwarder = Arc::new(Forwarder::new(
            pool.clone(),
            cache.clone(),
            policy,
            config.privacy,
            config.timeout,
            metrics.clone(),
        ));
        Ok(Server {
            pool,
            cache,
            config,
            forwarder,
            limiter,
            metrics,
            upstream_tasks,
            upstream_stop,
        })
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets queries in flight
    /// finish within the grace period, and closes the upstream connections.
    pub async fn run(self, listeners: Listeners, shutdown: CancellationToken) {
        let client_tasks = TaskTracker::new();
        self.upstream_tasks
            .spawn(self.pool.clone().probe_failed(self.upstream_stop.clone()));
        if self.config.warm_up {
            self.upstream_tasks.spawn(self.pool.clone().warm_up());
        }
        if let Some(listener) = listeners.metrics {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics, /health and /ready over HTTP");
            }
            let cache = self.cache.clone();
            let ops = Arc::new(http::Ops {
                metrics: self.metrics.clone(),
                pool: self.pool.clone(),
                extra: Box::new(move |out: &mut String| {
                    if let Some(cache) = &cache {
                        use std::fmt::Write as _;
                        let _ = writeln!(
                            out,
                            "# HELP strictdot_cache_entries Answers in the cache.\n# TYPE strictdot_cache_entries gauge\nstrictdot_cache_entries {}",
                            cache.len()
                        );
                    }
                }),
            });
            client_tasks.spawn(http::serve(
                listener,
                ops,
                client_tasks.clone(),
                shutdown.clone(),
            ));
        }
        let pending = Arc::new(Semaphore::new(self.config.max_pending));
        let tcp_shared = Arc::new(listen::tcp::TcpShared {
            clients: Arc::new(Semaphore::new(self.config.tcp.max_clients)),
            per_client: Arc::default(),
            pending: pending.clone(),
        });
        if let Some(limiter) = self.limiter.clone() {
            // Keyed limiter state stays bounded (governor's retain_recent on a timer).
            let stop = shutdown.clone();
            client_tasks.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => limiter.housekeeping(),
                    }
                }
            });
        }
        for socket in listeners.udp {
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(%addr, "serving DNS over UDP");
            }
            client_tasks.spawn(listen::udp::serve(
                Arc::new(socket),
                self.forwarder.clone(),
                pending.clone(),
                self.metrics.clone(),
                client_tasks.clone(),
                shutdown.clone(),
            ));
        }
        for listener in listeners.tcp {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving DNS over TCP");
            }
            client_tasks.spawn(listen::tcp::serve(
                listener,
                self.forwarder.clone(),
                tcp_shared.clone(),
                self.config.tcp,
                self.metrics.clone(),
                client_tasks.clone(),
                shutdown.clone(),
            ));
        }
        // Until the metrics endpoint exists, limits that were hit are reported in the log
        // once a minute (only when a counter moved), and at shutdown.
        let mut report = tokio::time::interval(std::time::Duration::from_secs(60));
        report.tick().await;
        let mut last = String::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = report.tick() => {
                    let now = self.metrics.limit_summary();
                    if now != last && !now.is_empty() {
                        tracing::info!(counters = %now, "limits hit so far");
                    }
                    last = now;
                }
            }
        }
        client_tasks.close();
        if tokio::time::timeout(self.config.grace, client_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; abandoning queries still in flight");
        }
        self.upstream_stop.cancel();
        self.upstream_tasks.close();
        let _ = tokio::time::timeout(self.config.grace, self.upstream_tasks.wait()).await;
        let summary = self.metrics.limit_summary();
        if !summary.is_empty() {
            tracing::info!(counters = %summary, "limits hit");
        }
        tracing::info!(counters = %self.metrics.traffic_summary(), "traffic");
    }
}

/// Builds a server from `config` and serves `listeners` until `shutdown` is cancelled.
pub async fn run(
    listeners: Listeners,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ConfigError> {
    Server::new(config)?.run(listeners, shutdown).await;
    Ok(())
}
