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
pub mod policy;
pub mod shutdown;
pub mod upstream;
pub mod upstream_spec;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::forward::{Forwarder, Switch};
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
    /// DNS-over-TLS listeners for clients.
    pub tls: Vec<TcpListener>,
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

/// Everything built from one configuration that a reload replaces: the forwarder with its
/// pool, cache and limiter, and the tasks that serve them.
struct Generation {
    forwarder: Arc<Forwarder>,
    /// Stops this generation's background tasks and upstream connections.
    stop: CancellationToken,
}

impl Generation {
    /// Builds a generation; `cache` is reused when the cache settings did not change.
    fn build(
        config: &Config,
        metrics: &Arc<Metrics>,
        tasks: &TaskTracker,
        cache: Option<Arc<cache::Cache>>,
    ) -> Generation {
        let stop = CancellationToken::new();
        let pool = Arc::new(Pool::new(
            config.endpoints(),
            config.pool(),
            tasks.clone(),
            stop.clone(),
            metrics.clone(),
        ));
        let limiter = config
            .rate_limit()
            .map(|settings| Arc::new(limiter::Limiter::new(settings)));
        let policy = forward::ClientPolicy {
            acl: config.acl().clone(),
            zones: config.zones().to_vec(),
            limiter: limiter.clone(),
            log_queries: config.log_queries(),
        };
        let cache = match (cache, config.cache()) {
            (Some(c), Some(s)) if *c.settings() == s => Some(c),
            (_, settings) => settings.map(|s| Arc::new(cache::Cache::new(s))),
        };
        let forwarder = Arc::new(Forwarder::new(
            pool.clone(),
            cache,
            policy,
            config.privacy(),
            config.timeout(),
            metrics.clone(),
        ));
        tasks.spawn(pool.clone().probe_failed(stop.clone()));
        if config.warm_up() {
            tasks.spawn(pool.warm_up());
        }
        if let Some(limiter) = limiter {
            // Keyed limiter state stays bounded (governor's retain_recent on a timer).
            let stop = stop.clone();
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => limiter.housekeeping(),
                    }
                }
            });
        }
        Generation { forwarder, stop }
    }
}

/// A configured server, ready to run on bound sockets.
pub struct Server {
    config: Config,
    switch: Arc<Switch>,
    generation: Arc<std::sync::Mutex<Generation>>,
    metrics: Arc<Metrics>,
    upstream_tasks: TaskTracker,
}

/// Reloads a running server's configuration (SIGHUP).
#[derive(Clone)]
pub struct Reloader {
    switch: Arc<Switch>,
    generation: Arc<std::sync::Mutex<Generation>>,
    metrics: Arc<Metrics>,
    upstream_tasks: TaskTracker,
    grace: std::time::Duration,
}

impl Reloader {
    /// Puts `config` in force without dropping listeners or queries in flight: a new
    /// forwarder (upstreams, pins, zones, limits, cache settings) takes new queries at
    /// once; the old one finishes what it has and its upstream connections close after
    /// the grace period. Listener addresses and TCP caps need a restart
    /// ([`Config::restart_needed`] names them).
    pub fn reload(&self, config: &Config) {
        let cache = self.switch.get().cache().cloned();
        let next = Generation::build(config, &self.metrics, &self.upstream_tasks, cache);
        self.switch.replace(next.forwarder.clone());
        let old = std::mem::replace(
            &mut *self.generation.lock().unwrap_or_else(|p| p.into_inner()),
            next,
        );
        let grace = self.grace;
        self.upstream_tasks.spawn(async move {
            tokio::time::sleep(grace).await;
            old.stop.cancel();
        });
        for w in config.warnings() {
            tracing::warn!("{w}");
        }
        tracing::info!(
            upstreams = config.upstreams().len(),
            "configuration reloaded"
        );
    }
}

impl Server {
    /// Builds the server from a checked configuration (which already holds the trust
    /// anchors and TLS configurations): the pool, cache and limiter. Upstream connections
    /// open when it runs (warm-up) or on demand.
    pub fn new(config: Config) -> Server {
        let metrics = Arc::new(Metrics::default());
        let upstream_tasks = TaskTracker::new();
        let generation = Generation::build(&config, &metrics, &upstream_tasks, None);
        Server {
            switch: Arc::new(Switch::new(generation.forwarder.clone())),
            generation: Arc::new(std::sync::Mutex::new(generation)),
            config,
            metrics,
            upstream_tasks,
        }
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// A handle that reloads the configuration while the server runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            switch: self.switch.clone(),
            generation: self.generation.clone(),
            metrics: self.metrics.clone(),
            upstream_tasks: self.upstream_tasks.clone(),
            grace: self.config.grace(),
        }
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets queries in flight
    /// finish within the grace period, and closes the upstream connections.
    pub async fn run(self, listeners: Listeners, shutdown: CancellationToken) {
        let client_tasks = TaskTracker::new();
        for w in self.config.warnings() {
            tracing::warn!("{w}");
        }
        if let Some(listener) = listeners.metrics {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics, /health and /ready over HTTP");
            }
            let ops = Arc::new(http::Ops {
                metrics: self.metrics.clone(),
                switch: self.switch.clone(),
            });
            client_tasks.spawn(http::serve(
                listener,
                ops,
                client_tasks.clone(),
                shutdown.clone(),
            ));
        }
        let pending = Arc::new(Semaphore::new(self.config.max_pending()));
        let tcp_shared = Arc::new(listen::tcp::TcpShared {
            clients: Arc::new(Semaphore::new(self.config.tcp().max_clients)),
            per_client: Arc::default(),
            pending: pending.clone(),
        });
        for socket in listeners.udp {
            if let Ok(addr) = socket.local_addr() {
                tracing::info!(%addr, "serving DNS over UDP");
            }
            client_tasks.spawn(listen::udp::serve(
                Arc::new(socket),
                self.switch.clone(),
                pending.clone(),
                self.metrics.clone(),
                shutdown.clone(),
            ));
        }
        for listener in listeners.tcp {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving DNS over TCP");
            }
            client_tasks.spawn(listen::tcp::serve(
                listener,
                self.switch.clone(),
                tcp_shared.clone(),
                self.config.tcp(),
                self.metrics.clone(),
                client_tasks.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(t) = self.config.listen_tls() {
            let acceptor = tokio_rustls::TlsAcceptor::from(t.server_config());
            let handshakes = listen::tls::handshake_limiter(self.config.tls_handshake_rate());
            for listener in listeners.tls {
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(%addr, "serving DNS over TLS");
                }
                client_tasks.spawn(listen::tls::serve(
                    listener,
                    acceptor.clone(),
                    handshakes.clone(),
                    self.switch.clone(),
                    tcp_shared.clone(),
                    self.config.tcp(),
                    self.metrics.clone(),
                    client_tasks.clone(),
                    shutdown.clone(),
                ));
            }
        }
        // Limits that were hit are reported in the log once a minute (only when a counter
        // moved), and at shutdown; /metrics has them all the time.
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
        if tokio::time::timeout(self.config.grace(), client_tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; abandoning queries still in flight");
        }
        self.generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stop
            .cancel();
        self.upstream_tasks.close();
        let _ = tokio::time::timeout(self.config.grace(), self.upstream_tasks.wait()).await;
        let summary = self.metrics.limit_summary();
        if !summary.is_empty() {
            tracing::info!(counters = %summary, "limits hit");
        }
        tracing::info!(counters = %self.metrics.traffic_summary(), "traffic");
    }
}

/// Builds a server from `config` and serves `listeners` until `shutdown` is cancelled.
pub async fn run(listeners: Listeners, config: Config, shutdown: CancellationToken) {
    Server::new(config).run(listeners, shutdown).await;
}
