//! The upstream pool: picks an upstream, finds or opens an authenticated connection with a
//! free in-flight slot, fails over, and keeps per-upstream health with a short jittered
//! exponential backoff, so a failed upstream is skipped until it recovers, without a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::conn::{Conn, ConnError, ConnLimits, ConnectError, Dial, Driver, Slot};
use super::expiry::{ExpiryWatch, PinNote};
use super::tls::{client_config, TlsMinVersion};
use super::verify::{AuthMode, FailureKind, LastVerified, StrictVerifier, TrustAnchors, Verified};
use crate::dns::answer::ReplyInfo;
use crate::dns::query::ValidQuery;
use crate::metrics::{Histogram, Metrics};
use crate::upstream_spec::UpstreamSpec;

/// At most this many tries (connections or upstreams) for one client query.
const MAX_ATTEMPTS: usize = 3;
/// While an upstream keeps failing, log about it at most this often.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// One configured upstream: where it is and how it is authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// A name for logs and metrics (the address, unless a policy names it).
    pub name: String,
    /// Address and authentication name.
    pub spec: UpstreamSpec,
    /// How the upstream is authenticated (never "not at all").
    pub mode: AuthMode,
    /// CA certificates trusted for this upstream only, besides the shared ones.
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// The pins of `mode` with what the policy says about them (comment, expiry date), in
    /// the same order; for `check`, logs and metrics only.
    pub pin_notes: Vec<PinNote>,
}

impl UpstreamConfig {
    /// An upstream named after its address, with no CA certificates of its own, its pins
    /// without comment or expiry date.
    pub fn new(spec: UpstreamSpec, mode: AuthMode) -> UpstreamConfig {
        UpstreamConfig {
            name: spec.to_string(),
            pin_notes: mode.pins().iter().copied().map(PinNote::bare).collect(),
            spec,
            mode,
            extra_roots: Vec::new(),
        }
    }
}

/// One upstream ready to connect: its label, address, the name it is verified against
/// (also sent as SNI), and its TLS client configuration with the [`StrictVerifier`]
/// over its trust anchors. The configuration builds one per upstream, once.
///
/// [`StrictVerifier`]: super::verify::StrictVerifier
#[derive(Clone, Debug)]
pub struct Endpoint {
    label: String,
    addr: SocketAddr,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    /// The record of the verifier inside `tls`: what its latest accepted handshake
    /// established (matched pins, expiry dates).
    verified: Arc<LastVerified>,
    /// The configured pins with their comments and expiry dates.
    pins: Vec<PinNote>,
}

impl Endpoint {
    /// The endpoint of `upstream`, trusting `roots`, speaking `min_version` or later.
    pub fn new(
        upstream: &UpstreamConfig,
        roots: TrustAnchors,
        min_version: TlsMinVersion,
    ) -> Endpoint {
        let verifier = Arc::new(StrictVerifier::new(upstream.mode.clone(), roots));
        Endpoint {
            label: upstream.name.clone(),
            addr: upstream.spec.addr,
            server_name: match upstream.mode.name() {
                Some(name) => ServerName::DnsName(name.clone()),
                None => ServerName::IpAddress(upstream.spec.addr.ip().into()),
            },
            verified: verifier.last_verified(),
            tls: client_config(verifier, min_version),
            pins: upstream.pin_notes.clone(),
        }
    }

    /// The upstream's name (its address unless a policy names it).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured pins with their comments and expiry dates.
    pub fn pins(&self) -> &[PinNote] {
        &self.pins
    }

    /// Connects and completes one handshake with the upstream's own TLS configuration and
    /// verifier (the server's), sends no query, and closes. On success, returns what the
    /// verifier established (`None` only if its record was overwritten meanwhile).
    pub async fn authenticate(&self, deadline: Instant) -> Result<Option<Verified>, ConnectError> {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = super::conn::handshake(
            self.addr,
            self.server_name.clone(),
            self.tls.clone(),
            deadline,
        )
        .await?;
        let verified = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|ee| self.verified.of(ee));
        // close_notify; the verdict is in either way.
        let _ = tokio::time::timeout_at(deadline, stream.shutdown()).await;
        Ok(verified)
    }
}

/// How a query's upstream is chosen among the healthy ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Lowest smoothed round-trip time, exploring another upstream now and then so the
    /// figures stay current.
    #[default]
    Latency,
    /// Each in turn.
    RoundRobin,
    /// The first healthy one in the order given.
    Failover,
}

/// Out of 100 queries, how many the latency strategy sends to a random healthy upstream.
const EXPLORE_PERCENT: u32 = 3;
/// How often the prober looks for failed upstreams whose backoff has run out.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Pool settings.
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// Authenticated connections per upstream at most.
    pub max_conns: usize,
    /// Limits of each connection.
    pub conn: ConnLimits,
    /// Longest time a TCP connect plus TLS handshake may take.
    pub connect_timeout: Duration,
    /// First backoff after a failed connection; doubles per failure.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Lowest TLS version.
    pub tls_min_version: TlsMinVersion,
    /// How upstreams are chosen.
    pub strategy: Strategy,
    /// Warn (once, on the first authenticated handshake) when an upstream's only matching
    /// pin is an end-entity key whose certificate expires sooner than this.
    pub expiry_warning: Duration,
}

/// The class of an upstream's latest failure, told to clients in Extended DNS Errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The handshake failed authentication or TLS negotiation, of this kind.
    Auth(FailureKind),
    /// No connection below TLS (refused, unreachable, timed out).
    Connect,
}

/// Why the pool gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every upstream is failing (in backoff) or full.
    #[error("no upstream available")]
    Unavailable,
    /// The budget ran out.
    #[error("no answer within the query budget")]
    Timeout,
}

struct Health {
    /// What the latest failure was, while the upstream is failing.
    last: Option<UpstreamFailure>,
    failures: u32,
    down_until: Option<Instant>,
    last_log: Option<Instant>,
    suppressed: u32,
}

struct Upstream {
    label: String,
    /// `label` escaped for a Prometheus label value.
    metric_label: String,
    addr: SocketAddr,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    conns: Mutex<Vec<Conn>>,
    /// Held while a handshake is under way: one handshake at a time per upstream, and
    /// queries that arrive meanwhile wait for it instead of starting their own.
    connecting: tokio::sync::Mutex<()>,
    health: Mutex<Health>,
    /// Smoothed round-trip time of answered queries, in microseconds (0: not measured).
    srtt_us: AtomicU64,
    /// Round-trip times of answered queries.
    latency: Histogram,
    /// Whether an authenticated handshake ever completed.
    ever_connected: AtomicBool,
    /// Whether a background probe is under way.
    probing: AtomicBool,
    /// Certificate and pin expiry, from the verifier's record of each handshake.
    expiry: ExpiryWatch,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum AcquireError {
    /// Could not connect or authenticate; the upstream is now in backoff.
    Failed,
    /// Every connection is full and no more may be opened.
    Busy,
    /// The budget ran out while waiting.
    Timeout,
}

/// All upstreams.
pub struct Pool {
    upstreams: Vec<Upstream>,
    /// Round-robin position.
    next: AtomicUsize,
    settings: PoolSettings,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
}

impl Pool {
    /// Builds the pool over endpoints the configuration built; connections open on demand.
    pub fn new(
        endpoints: &[Endpoint],
        settings: PoolSettings,
        tracker: TaskTracker,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Pool {
        let upstreams = endpoints
            .iter()
            .map(|e| Upstream {
                label: e.label.clone(),
                metric_label: crate::prom::escape_label_value(&e.label),
                addr: e.addr,
                server_name: e.server_name.clone(),
                tls: e.tls.clone(),
                conns: Mutex::new(Vec::new()),
                connecting: tokio::sync::Mutex::new(()),
                health: Mutex::new(Health {
                    last: None,
                    failures: 0,
                    down_until: None,
                    last_log: None,
                    suppressed: 0,
                }),
                srtt_us: AtomicU64::new(0),
                latency: Histogram::default(),
                ever_connected: AtomicBool::new(false),
                probing: AtomicBool::new(false),
                expiry: ExpiryWatch::new(
                    &e.label,
                    e.verified.clone(),
                    &e.pins,
                    settings.expiry_warning,
                ),
            })
            .collect();
        Pool {
            upstreams,
            next: AtomicUsize::new(0),
            settings,
            tracker,
            shutdown,
            metrics,
        }
    }

    /// Forwards `query` and returns the checked reply (still with the upstream's ID).
    /// `wire` is the message to send for `query` (see [`crate::dns::edns`]).
    pub async fn resolve(
        &self,
        query: &ValidQuery,
        wire: &[u8],
        deadline: Instant,
    ) -> Result<(Vec<u8>, ReplyInfo), PoolError> {
        let mut avoid: Vec<usize> = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                self.metrics.retries.inc();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(PoolError::Timeout);
            }
            let Some(idx) = self.pick(&avoid, now) else {
                return Err(PoolError::Unavailable);
            };
            let up = &self.upstreams[idx];
            let (conn, slot) = match self.acquire(up, deadline).await {
                Ok(pair) => pair,
                Err(AcquireError::Timeout) => return Err(PoolError::Timeout),
                Err(AcquireError::Busy) => {
                    self.metrics.upstream_busy.inc();
                    avoid.push(idx);
                    continue;
                }
                Err(AcquireError::Failed) => {
                    avoid.push(idx);
                    continue;
                }
            };
            // Keep part of the budget for another try unless this is the last one. Measured
            // from now, after any wait for a connection, so that wait is not charged to it.
            let now = Instant::now();
            let attempt_deadline = if attempt + 1 == MAX_ATTEMPTS || now >= deadline {
                deadline
            } else {
                now + (deadline - now) / 2
            };
            let sent = now;
            match conn.query(slot, query, wire, attempt_deadline).await {
                Ok(reply) => {
                    let rtt = sent.elapsed();
                    up.observe_rtt(rtt);
                    up.latency.observe(rtt);
                    return Ok(reply);
                }
                Err(ConnError::Timeout) => {
                    tracing::debug!(upstream = %up.label, "query unanswered in time");
                    // A slow upstream looks slow to the latency strategy from now on.
                    up.observe_rtt(sent.elapsed().saturating_mul(2));
                    avoid.push(idx);
                }
                Err(ConnError::Closed | ConnError::Protocol) => {
                    // Retry on a fresh connection, same upstream allowed.
                }
            }
        }
        Err(PoolError::Timeout)
    }

    /// Why upstreams are failing, for the client's Extended DNS Error: an authentication
    /// failure of any failing upstream first (the operator's likely fix), else a
    /// connection failure; `None` while none is failing.
    pub fn failure(&self) -> Option<UpstreamFailure> {
        let failures = self.upstreams.iter().filter_map(|u| u.failure());
        failures.max_by_key(|f| matches!(f, UpstreamFailure::Auth(_)))
    }

    /// An upstream for the next try: among the healthy ones not in `avoid` (or, if none,
    /// any healthy one), by the configured strategy. Failed upstreams are left to the
    /// background prober, so client queries never pay for probing them.
    fn pick(&self, avoid: &[usize], _now: Instant) -> Option<usize> {
        let healthy: Vec<usize> = (0..self.upstreams.len())
            .filter(|&i| locked(&self.upstreams[i].health).down_until.is_none())
            .collect();
        let fresh: Vec<usize> = healthy
            .iter()
            .copied()
            .filter(|i| !avoid.contains(i))
            .collect();
        let candidates = if fresh.is_empty() { healthy } else { fresh };
        match (candidates.len(), self.settings.strategy) {
            (0, _) => None,
            (1, _) | (_, Strategy::Failover) => candidates.first().copied(),
            (n, Strategy::RoundRobin) => {
                Some(candidates[self.next.fetch_add(1, Ordering::Relaxed) % n])
            }
            (n, Strategy::Latency) => {
                if fastrand::u32(0..100) < EXPLORE_PERCENT {
                    return Some(candidates[fastrand::usize(0..n)]);
                }
                // Unmeasured upstreams (0) come first, so each gets measured.
                candidates
                    .iter()
                    .copied()
                    .min_by_key(|&i| self.upstreams[i].srtt_us.load(Ordering::Relaxed))
            }
        }
    }

    /// Ready to serve: some upstream completed an authenticated handshake and is not in
    /// failure now.
    pub fn is_ready(&self) -> bool {
        self.upstreams
            .iter()
            .any(|u| u.ever_connected.load(Ordering::Relaxed) && !u.is_down())
    }

    /// Opens one connection to each upstream at start, so readiness is known before the
    /// first query and the first queries do not wait for handshakes.
    pub async fn warm_up(self: Arc<Self>) {
        let mut tasks = Vec::new();
        for idx in 0..self.upstreams.len() {
            let pool = self.clone();
            tasks.push(self.tracker.spawn(async move { pool.probe(idx).await }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Appends the per-upstream metrics in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_up Whether the upstream is usable (1) or failed and in backoff (0).\n# TYPE strictdot_upstream_up gauge"
        );
        for u in &self.upstreams {
            let _ = writeln!(
                out,
                "strictdot_upstream_up{{upstream=\"{}\"}} {}",
                u.metric_label,
                u8::from(!u.is_down())
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_connections Open authenticated connections.\n# TYPE strictdot_upstream_connections gauge"
        );
        for u in &self.upstreams {
            let n = locked(&u.conns).iter().filter(|c| !c.is_closed()).count();
            let _ = writeln!(
                out,
                "strictdot_upstream_connections{{upstream=\"{}\"}} {n}",
                u.metric_label
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_in_flight Queries awaiting an answer from the upstream.\n# TYPE strictdot_upstream_in_flight gauge"
        );
        for u in &self.upstreams {
            let n: usize = locked(&u.conns)
                .iter()
                .map(|c| c.in_flight(self.settings.conn.max_in_flight))
                .sum();
            let _ = writeln!(
                out,
                "strictdot_upstream_in_flight{{upstream=\"{}\"}} {n}",
                u.metric_label
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_latency_seconds Round-trip time of answered upstream queries.\n# TYPE strictdot_upstream_latency_seconds histogram"
        );
        for u in &self.upstreams {
            u.latency
                .render(out, "strictdot_upstream_latency_seconds", &u.metric_label);
        }
        ExpiryWatch::render(self.upstreams.iter().map(|u| &u.expiry), out);
    }

    /// Runs until `stop`: every [`PROBE_EVERY`], an upstream whose backoff has run out gets
    /// a connection attempt (a full authenticated handshake). Success makes it healthy and
    /// keeps the connection; failure lengthens its backoff.
    pub async fn probe_failed(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PROBE_EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = Instant::now();
            for idx in 0..self.upstreams.len() {
                let up = &self.upstreams[idx];
                let due = locked(&up.health).down_until.is_some_and(|t| t <= now);
                if due && !up.probing.swap(true, Ordering::AcqRel) {
                    let pool = self.clone();
                    self.tracker.spawn(async move {
                        pool.probe(idx).await;
                        pool.upstreams[idx].probing.store(false, Ordering::Release);
                    });
                }
            }
        }
    }

    async fn probe(&self, idx: usize) {
        let up = &self.upstreams[idx];
        let _guard = up.connecting.lock().await;
        let deadline = Instant::now() + self.settings.connect_timeout;
        if let Ok(conn) = self.connect(up, deadline).await {
            locked(&up.conns).push(conn);
        }
    }

    /// Opens one authenticated connection, recording the outcome in the upstream's health.
    async fn connect(&self, up: &Upstream, deadline: Instant) -> Result<Conn, ()> {
        let dial = Dial {
            addr: up.addr,
            server_name: &up.server_name,
            tls: &up.tls,
            limits: self.settings.conn,
        };
        let driver = Driver {
            tracker: &self.tracker,
            shutdown: &self.shutdown,
            metrics: &self.metrics,
        };
        let result = Conn::connect(dial, deadline, driver).await;
        match result {
            Ok(conn) => {
                up.record_success();
                up.ever_connected.store(true, Ordering::Relaxed);
                up.expiry.observe(conn.end_entity());
                Ok(conn)
            }
            Err(e) => {
                match &e {
                    ConnectError::Tls { kind, .. } => {
                        self.metrics.auth_failures.inc();
                        self.metrics.auth_failure(*kind).inc();
                    }
                    ConnectError::Tcp(_) | ConnectError::Timeout => {
                        self.metrics.connect_failures.inc()
                    }
                }
                up.record_failure(&e, &self.settings);
                Err(())
            }
        }
    }

    async fn acquire(
        &self,
        up: &Upstream,
        deadline: Instant,
    ) -> Result<(Conn, Slot), AcquireError> {
        if let Some(pair) = up.find_slot() {
            return Ok(pair);
        }
        let _guard = tokio::time::timeout_at(deadline, up.connecting.lock())
            .await
            .map_err(|_| AcquireError::Timeout)?;
        if let Some(pair) = up.find_slot() {
            return Ok(pair);
        }
        if up.is_down() {
            return Err(AcquireError::Failed);
        }
        if up.live_conns() >= self.settings.max_conns {
            return Err(AcquireError::Busy);
        }
        let connect_deadline = deadline.min(Instant::now() + self.settings.connect_timeout);
        let conn = self
            .connect(up, connect_deadline)
            .await
            .map_err(|()| AcquireError::Failed)?;
        let slot = conn.try_reserve().ok_or(AcquireError::Busy)?;
        locked(&up.conns).push(conn.clone());
        Ok((conn, slot))
    }
}

impl Upstream {
    /// Folds one round-trip time into the smoothed figure (EWMA, weight 1/8 as in TCP).
    fn observe_rtt(&self, rtt: Duration) {
        let sample = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX).max(1);
        let old = self.srtt_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.srtt_us.store(new.max(1), Ordering::Relaxed);
    }

    fn find_slot(&self) -> Option<(Conn, Slot)> {
        let mut conns = locked(&self.conns);
        conns.retain(|c| !c.is_closed());
        conns
            .iter()
            .find_map(|c| c.try_reserve().map(|slot| (c.clone(), slot)))
    }

    /// Connections still open, retired ones that are draining included: they hold sockets
    /// and upstream resources too, so they count toward the cap.
    fn live_conns(&self) -> usize {
        locked(&self.conns)
            .iter()
            .filter(|c| !c.is_closed())
            .count()
    }

    /// The latest failure's class while the upstream is failing.
    fn failure(&self) -> Option<UpstreamFailure> {
        let h = locked(&self.health);
        h.down_until.and(h.last)
    }

    /// Whether the upstream failed and has not been probed back to health yet.
    fn is_down(&self) -> bool {
        locked(&self.health).down_until.is_some()
    }

    fn record_success(&self) {
        let mut h = locked(&self.health);
        if h.failures > 0 {
            tracing::info!(upstream = %self.label, after_failures = h.failures, "upstream recovered");
        }
        h.failures = 0;
        h.last = None;
        h.down_until = None;
        h.suppressed = 0;
    }

    fn record_failure(&self, e: &ConnectError, settings: &PoolSettings) {
        let now = Instant::now();
        let mut h = locked(&self.health);
        h.last = Some(match e {
            ConnectError::Tls { kind, .. } => UpstreamFailure::Auth(*kind),
            ConnectError::Tcp(_) | ConnectError::Timeout => UpstreamFailure::Connect,
        });
        h.failures = h.failures.saturating_add(1);
        let exp = h.failures.saturating_sub(1).min(16);
        let backoff = settings
            .backoff_base
            .saturating_mul(1u32 << exp)
            .min(settings.backoff_max);
        // Jitter of +-25% so that many instances do not reconnect in step.
        let backoff = backoff.mul_f64(0.75 + fastrand::f64() * 0.5);
        h.down_until = Some(now + backoff);
        let due = h
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY);
        if due {
            let suppressed = h.suppressed;
            h.last_log = Some(now);
            h.suppressed = 0;
            drop(h);
            match e {
                ConnectError::Tls { reason, detail, .. } => tracing::warn!(
                    upstream = %self.label,
                    reason,
                    detail = %detail,
                    retry_in_ms = backoff.as_millis() as u64,
                    similar_failures_not_logged = suppressed,
                    "upstream authentication failed; not used (strict profile, no fallback)"
                ),
                other => tracing::warn!(
                    upstream = %self.label,
                    error = %other,
                    retry_in_ms = backoff.as_millis() as u64,
                    similar_failures_not_logged = suppressed,
                    "upstream connection failed"
                ),
            }
        } else {
            h.suppressed = h.suppressed.saturating_add(1);
        }
    }
}
