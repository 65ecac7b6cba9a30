//! The server: the listeners' tasks, the pipeline in force and its reload generations, and
//! the drain at shutdown.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bind::Listeners;
use crate::config::Config;
use crate::dnssec::{self, Validator};
use crate::forward::{self, Forwarder, Switch};
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::upstream::pool::Pool;
use crate::{cache, http, limiter, listen};

/// Sweeps a keyed limiter every few seconds until `stop` is cancelled: prefixes whose
/// bucket has refilled are dropped, making room under its hard cap (the cap itself is
/// enforced inside the limiter at every check).
async fn housekeep(limiter: Arc<limiter::Limiter>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => limiter.housekeeping(),
        }
    }
}

/// Everything built from one configuration that a reload replaces: the forwarder with its
/// pool, cache and limiter, and the tasks that serve them.
struct Generation {
    forwarder: Arc<Forwarder>,
    /// Stops this generation's background tasks and upstream connections.
    stop: CancellationToken,
    /// Where this generation's answers come from; the cache is kept across a reload only
    /// while it stays the same.
    sources: Sources,
}

/// Everything that decides where answers come from and how their sources are
/// authenticated: the upstreams (addresses, names, pins, their own CAs), the shared CAs, the
/// TLS version floor, the local zones and the ECS policy. A cached answer is only as good
/// as these were when it was fetched, so a reload that changes any of them flushes the
/// cache (an answer from a removed or re-pinned upstream must not be served for a day).
#[derive(Clone, Debug, PartialEq)]
struct Sources {
    upstreams: Vec<crate::upstream::pool::UpstreamConfig>,
    extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    tls_min_version: crate::upstream::tls::TlsMinVersion,
    zones: Vec<crate::upstream::plain::ZoneConfig>,
    privacy: crate::dns::edns::Privacy,
    /// Answers judged from other trust anchors (or not judged) are not these answers.
    dnssec: Option<crate::dnssec::Trust>,
}

impl Sources {
    fn of(config: &Config) -> Sources {
        Sources {
            upstreams: config.upstreams().to_vec(),
            extra_roots: config.extra_roots().to_vec(),
            tls_min_version: config.pool().tls_min_version,
            zones: config.zones().to_vec(),
            privacy: config.privacy(),
            dnssec: config.dnssec().cloned(),
        }
    }
}

impl Generation {
    /// Builds a generation; `cache` is reused when it was filled from the same sources
    /// (`None` otherwise) and the cache settings did not change.
    fn build(
        config: &Config,
        metrics: &Arc<Metrics>,
        tasks: &TaskTracker,
        cache: Option<Arc<cache::Cache>>,
        pending: &Arc<Semaphore>,
    ) -> Generation {
        let sources = Sources::of(config);
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
        let forwarder = Arc::new(Forwarder::new(forward::Parts {
            pool: pool.clone(),
            cache,
            clients: policy,
            privacy: config.privacy(),
            timeout: config.timeout(),
            pending: pending.clone(),
            tasks: tasks.clone(),
            metrics: metrics.clone(),
            validator: config.dnssec().map(|trust| {
                Arc::new(Validator::new(
                    trust.anchors.clone(),
                    trust.negative.clone(),
                    dnssec::Settings::default(),
                ))
            }),
        }));
        tasks.spawn(pool.clone().probe_failed(stop.clone()));
        if config.warm_up() {
            tasks.spawn(pool.warm_up());
        }
        if let Some(limiter) = limiter {
            tasks.spawn(housekeep(limiter, stop.clone()));
        }
        Generation {
            forwarder,
            stop,
            sources,
        }
    }
}

/// A configured server, ready to run on bound sockets.
pub struct Server {
    config: Config,
    switch: Arc<Switch>,
    generation: Arc<std::sync::Mutex<Generation>>,
    metrics: Arc<Metrics>,
    upstream_tasks: TaskTracker,
    /// One permit per query waiting for an upstream (`--max-pending`), shared by every
    /// transport and every generation.
    pending: Arc<Semaphore>,
    /// Tells a service manager when the server is ready and when it drains.
    notifier: Notifier,
}

/// Reloads a running server's configuration (SIGHUP).
#[derive(Clone)]
pub struct Reloader {
    switch: Arc<Switch>,
    generation: Arc<std::sync::Mutex<Generation>>,
    metrics: Arc<Metrics>,
    upstream_tasks: TaskTracker,
    pending: Arc<Semaphore>,
    grace: std::time::Duration,
}

impl Reloader {
    /// Puts `config` in force without dropping listeners or queries in flight: a new
    /// forwarder (upstreams, pins, zones, limits, cache settings) takes new queries at
    /// once; the old one finishes what it has and its upstream connections close after
    /// the grace period. Listener addresses and TCP caps need a restart.
    pub fn reload(&self, config: &Config) {
        let same_sources = self
            .generation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sources
            == Sources::of(config);
        let cache = self.switch.get().cache().cloned();
        if cache.is_some() && !same_sources {
            tracing::info!(
                "upstreams, their authentication or the local zones changed: cache flushed"
            );
        }
        let cache = cache.filter(|_| same_sources);
        let next = Generation::build(
            config,
            &self.metrics,
            &self.upstream_tasks,
            cache,
            &self.pending,
        );
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
    /// Builds the server: trust anchors, TLS configurations, the pool. Upstream
    /// connections open when it runs (warm-up) or on demand.
    pub fn new(config: Config) -> Server {
        let metrics = Arc::new(Metrics::default());
        let upstream_tasks = TaskTracker::new();
        let pending = Arc::new(Semaphore::new(config.max_pending()));
        let generation = Generation::build(&config, &metrics, &upstream_tasks, None, &pending);
        Server {
            switch: Arc::new(Switch::new(generation.forwarder.clone())),
            generation: Arc::new(std::sync::Mutex::new(generation)),
            config,
            metrics,
            upstream_tasks,
            pending,
            notifier: Notifier::default(),
        }
    }

    /// Sends readiness and stopping notifications (and watchdog pings) to a service manager
    /// through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Server {
        self.notifier = notifier;
        self
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
            pending: self.pending.clone(),
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
        let client_prefixes = self
            .config
            .rate_limit()
            .map_or((32, 64), |r| (r.v4_prefix, r.v6_prefix));
        let stream = listen::tcp::StreamContext {
            switch: self.switch.clone(),
            shared: Arc::new(listen::tcp::TcpShared {
                clients: Arc::new(Semaphore::new(self.config.tcp().max_clients)),
                per_client: Arc::default(),
                client_prefixes,
            }),
            limits: self.config.tcp(),
            metrics: self.metrics.clone(),
            tracker: client_tasks.clone(),
            shutdown: shutdown.clone(),
            drain_accept_queue: !listeners.inherited,
        };
        let udp_drain = if listeners.inherited {
            listen::udp::Drain::Keep
        } else {
            listen::udp::Drain::Handover
        };
        // One line per address, however many SO_REUSEPORT sockets serve it.
        let mut udp_addrs: Vec<(std::net::SocketAddr, usize)> = Vec::new();
        for socket in listeners.udp {
            if let Ok(addr) = socket.local_addr() {
                match udp_addrs.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, n)) => *n += 1,
                    None => udp_addrs.push((addr, 1)),
                }
            }
            client_tasks.spawn(listen::udp::serve(
                Arc::new(socket),
                self.switch.clone(),
                shutdown.clone(),
                udp_drain,
            ));
        }
        for (addr, sockets) in udp_addrs {
            tracing::info!(%addr, sockets, "serving DNS over UDP");
        }
        for listener in listeners.tcp {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving DNS over TCP");
            }
            client_tasks.spawn(listen::tcp::serve(listener, stream.clone()));
        }
        if let Some(t) = self.config.listen_tls() {
            let acceptor = tokio_rustls::TlsAcceptor::from(t.server_config());
            let handshakes = listen::tls::handshake_limiter(self.config.tls_handshake_rate());
            if let Some(limiter) = handshakes.clone() {
                client_tasks.spawn(housekeep(limiter, shutdown.clone()));
            }
            for listener in listeners.tls {
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(%addr, "serving DNS over TLS");
                }
                client_tasks.spawn(listen::tls::serve(
                    listener,
                    acceptor.clone(),
                    handshakes.clone(),
                    stream.clone(),
                ));
            }
        }
        self.notifier.ready();
        let ready_file = self.config.ready_file().map(|path| {
            let switch = self.switch.clone();
            tokio::spawn(
                crate::ready::ReadyFile::new(path)
                    .follow(move || switch.get().pool().is_ready(), shutdown.clone()),
            )
        });
        let watchdog = CancellationToken::new();
        tokio::spawn(self.notifier.clone().watchdog_loop(watchdog.clone()));
        let _watchdog = watchdog.drop_guard();
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
                        self.metrics.log_limits("limits hit so far");
                    }
                    last = now;
                }
            }
        }
        // The drain: UDP sockets leave their SO_REUSEPORT groups and answer what is queued,
        // TCP listeners take what is in their accept queues and close, connections answer
        // what they have and close between queries (src/listen/), then the queries in
        // flight finish.
        // Not ready from here on: the ready file goes before the drain starts.
        if let Some(task) = ready_file {
            let _ = task.await;
        }
        self.notifier.stopping();
        tracing::info!("draining");
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
            self.metrics.log_limits("limits hit");
        }
        self.metrics.log_traffic();
    }
}

/// Builds a server from `config` and serves `listeners` until `shutdown` is cancelled.
pub async fn run(listeners: Listeners, config: Config, shutdown: CancellationToken) {
    Server::new(config).run(listeners, shutdown).await;
}
