//! The sealed [`Config`]: a checked configuration that carries everything that could fail
//! to build (the trust anchors and each upstream's TLS client configuration, the client
//! TLS server configuration, the zones). It has no public constructor and no public
//! field; the only way to one is `ConfigBuilder::build` (`builder.rs`, which imports this
//! module, not the reverse), so whatever holds a `Config` holds one that was checked, and
//! starting a server from it cannot fail for a configuration reason. Also here: which
//! changed settings a reload cannot apply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::CertificateDer;

use super::parse::Found;
use super::table;
use crate::acl::Acl;
use crate::cache::CacheSettings;
use crate::dns::edns::Privacy;
use crate::dnssec::Trust;
use crate::limiter::RateSettings;
use crate::listen::tcp::TcpLimits;
use crate::upstream::plain::ZoneConfig;
use crate::upstream::pool::{Endpoint, PoolSettings, UpstreamConfig};

/// The values a builder collects; `build` checks them all.
#[derive(Clone, Debug)]
pub(super) struct Values {
    /// Addresses to serve on (UDP and TCP each).
    pub(super) listen: Vec<SocketAddr>,
    /// Upstreams, each with its authentication mode.
    pub(super) upstreams: Vec<UpstreamConfig>,
    /// CA certificates trusted for every upstream besides the web PKI roots.
    pub(super) extra_roots: Vec<CertificateDer<'static>>,
    /// End-to-end budget per query.
    pub(super) timeout: Duration,
    /// Upstream pool settings.
    pub(super) pool: PoolSettings,
    /// TCP listener limits.
    pub(super) tcp: TcpLimits,
    /// Queries waiting for an upstream at once, all clients together; beyond it, SERVFAIL.
    pub(super) max_pending: usize,
    /// Worker threads and UDP sockets per address (0: one per core).
    pub(super) threads: usize,
    /// How long shutdown waits for queries in flight.
    pub(super) grace: Duration,
    /// EDNS rewrite of upstream queries: padding, ECS.
    pub(super) privacy: Privacy,
    /// Who may query.
    pub(super) acl: Acl,
    /// Per-client rate limit (`None`: off).
    pub(super) rate_limit: Option<RateSettings>,
    /// Log each query (client, name, type).
    pub(super) log_queries: bool,
    /// The answer cache (`None`: off).
    pub(super) cache: Option<CacheSettings>,
    /// Where to serve /metrics, /health and /ready (`None`: nowhere).
    pub(super) metrics: Option<SocketAddr>,
    /// A file that exists while this instance is ready (`None`: none).
    pub(super) ready_file: Option<std::path::PathBuf>,
    /// Connect to every upstream at start (readiness, no handshake on the first queries).
    pub(super) warm_up: bool,
    /// TLS handshakes per second per client prefix on the TLS listeners (0: no limit).
    pub(super) tls_handshake_rate: u32,
    /// Numeric user and group to switch to after binding, when started as root.
    pub(super) user: Option<(u32, Option<u32>)>,
    /// Things worth a warning (pins near expiry...), logged at start and on reload.
    pub(super) warnings: Vec<String>,
    /// Every setting of the table, its value and where it came from (for `check`).
    pub(super) effective: Vec<Found>,
    /// DNSSEC validation (`None`: `--dnssec off`): the trust anchors and the negative
    /// trust anchors given (`build` adds the special-use names and the local zones).
    pub(super) dnssec: Option<Trust>,
}

/// Everything the server needs, checked and built.
///
/// Only `ConfigBuilder::build` makes one:
///
/// ```compile_fail
/// // No public constructor, no public field.
/// let config = strictdot::config::Config { values: todo!(), endpoints: vec![] };
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(super) values: Values,
    /// Each upstream with its TLS client configuration, in the order of `values.upstreams`.
    pub(super) endpoints: Vec<Endpoint>,
    /// Local zones forwarded in cleartext to local servers.
    pub(super) zones: Vec<ZoneConfig>,
    /// DNS-over-TLS listeners for clients.
    pub(super) listen_tls: Option<TlsListener>,
    /// DNSSEC validation in force (`None`: off), with every negative trust anchor.
    pub(super) dnssec: Option<Trust>,
}

/// DNS-over-TLS listeners for clients, with their built server configuration.
#[derive(Clone, Debug)]
pub struct TlsListener {
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) server_config: Arc<ServerConfig>,
    /// The certificate chain served (for `check`, and to see a change on reload).
    pub(super) chain: Vec<CertificateDer<'static>>,
    /// SHA-256 of the key file, to see a change on reload without keeping the key twice.
    pub(super) key_digest: [u8; 32],
}

impl TlsListener {
    /// The addresses to listen on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The rustls server configuration (TLS 1.2 and 1.3, the certificate and key).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.server_config.clone()
    }
}

impl Config {
    /// Addresses to serve plain DNS on (UDP and TCP each).
    pub fn listen(&self) -> &[SocketAddr] {
        &self.values.listen
    }

    /// The upstreams, each with its authentication mode.
    pub fn upstreams(&self) -> &[UpstreamConfig] {
        &self.values.upstreams
    }

    /// The CA certificates trusted for every upstream besides the web PKI roots.
    pub fn extra_roots(&self) -> &[CertificateDer<'static>] {
        &self.values.extra_roots
    }

    /// Each upstream's endpoint (address, name, built TLS client configuration).
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// End-to-end budget per query.
    pub fn timeout(&self) -> Duration {
        self.values.timeout
    }

    /// Upstream pool settings.
    pub fn pool(&self) -> PoolSettings {
        self.values.pool
    }

    /// TCP listener limits.
    pub fn tcp(&self) -> TcpLimits {
        self.values.tcp
    }

    /// Queries waiting for an upstream at once, all clients together.
    pub fn max_pending(&self) -> usize {
        self.values.max_pending
    }

    /// Worker threads of the runtime, also the UDP sockets bound per listen address: the
    /// `--threads` given, or one per core this process may use.
    pub fn threads(&self) -> usize {
        match self.values.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// How long shutdown (and a reload's old upstream connections) wait for queries in flight.
    pub fn grace(&self) -> Duration {
        self.values.grace
    }

    /// EDNS rewrite of upstream queries.
    pub fn privacy(&self) -> Privacy {
        Privacy {
            dnssec: self.dnssec.is_some(),
            ..self.values.privacy
        }
    }

    /// Who may query.
    pub fn acl(&self) -> &Acl {
        &self.values.acl
    }

    /// Per-client rate limit (`None`: off).
    pub fn rate_limit(&self) -> Option<RateSettings> {
        self.values.rate_limit
    }

    /// Whether each query is logged.
    pub fn log_queries(&self) -> bool {
        self.values.log_queries
    }

    /// The answer cache (`None`: off).
    pub fn cache(&self) -> Option<CacheSettings> {
        self.values.cache
    }

    /// Where to serve /metrics, /health and /ready.
    pub fn metrics(&self) -> Option<SocketAddr> {
        self.values.metrics
    }

    /// The file that exists while this instance is ready (`--ready-file`).
    pub fn ready_file(&self) -> Option<&std::path::Path> {
        self.values.ready_file.as_deref()
    }

    /// Whether to connect to every upstream at start.
    pub fn warm_up(&self) -> bool {
        self.values.warm_up
    }

    /// Local zones forwarded in cleartext to local servers.
    pub fn zones(&self) -> &[ZoneConfig] {
        &self.zones
    }

    /// DNS-over-TLS listeners for clients.
    pub fn listen_tls(&self) -> Option<&TlsListener> {
        self.listen_tls.as_ref()
    }

    /// TLS handshakes per second per client prefix on the TLS listeners (0: no limit).
    pub fn tls_handshake_rate(&self) -> u32 {
        self.values.tls_handshake_rate
    }

    /// Numeric user and group to switch to after binding, when started as root.
    pub fn user(&self) -> Option<(u32, Option<u32>)> {
        self.values.user
    }

    /// DNSSEC validation: the trust anchors and every negative trust anchor (the given
    /// ones, the local zones, the special-use names); `None` when off.
    pub fn dnssec(&self) -> Option<&Trust> {
        self.dnssec.as_ref()
    }

    /// Things worth a warning, to log at start and on reload.
    pub fn warnings(&self) -> &[String] {
        &self.values.warnings
    }

    /// The settings that differ in `next` but that a running server takes only by
    /// restarting (sockets, caps sized at start, the user): names of the table's rows
    /// marked `restart`. A reload puts the rest of `next` in force and warns about these.
    pub fn restart_needed(&self, next: &Config) -> Vec<&'static str> {
        use table::*;
        let (a, b) = (&self.values, &next.values);
        let (ta, tb) = (&self.listen_tls, &next.listen_tls);
        let tls_addrs = |t: &Option<TlsListener>| t.as_ref().map(|t| t.addrs.clone());
        let chain = |t: &Option<TlsListener>| t.as_ref().map(|t| t.chain.clone());
        let key = |t: &Option<TlsListener>| t.as_ref().map(|t| t.key_digest);
        let changes = [
            (&LISTEN, a.listen != b.listen),
            (&LISTEN_TLS, tls_addrs(ta) != tls_addrs(tb)),
            (&TLS_CERT, chain(ta) != chain(tb)),
            (&TLS_KEY, key(ta) != key(tb)),
            (
                &TLS_HANDSHAKE_RATE,
                a.tls_handshake_rate != b.tls_handshake_rate,
            ),
            (&MAX_TCP_CLIENTS, a.tcp.max_clients != b.tcp.max_clients),
            (
                &MAX_TCP_PER_CLIENT,
                a.tcp.max_per_client != b.tcp.max_per_client,
            ),
            (
                &MAX_TCP_QUERIES_PER_CONNECTION,
                a.tcp.max_in_flight != b.tcp.max_in_flight,
            ),
            (&TCP_IDLE_TIMEOUT, a.tcp.idle_timeout != b.tcp.idle_timeout),
            (&TCP_READ_TIMEOUT, a.tcp.read_timeout != b.tcp.read_timeout),
            (&MAX_PENDING, a.max_pending != b.max_pending),
            (&THREADS, a.threads != b.threads),
            (&METRICS, a.metrics != b.metrics),
            (&READY_FILE, a.ready_file != b.ready_file),
            (&USER, a.user != b.user),
        ];
        changes
            .into_iter()
            .filter(|(_, changed)| *changed)
            .map(|(s, _)| s.name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_build() {
        let c = Config::builder().build().unwrap();
        assert_eq!(c.listen(), ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(c.upstreams().len(), 2);
        assert_eq!(c.endpoints().len(), 2);
        assert_eq!(c.timeout(), Duration::from_secs(4));
        assert_eq!(c.pool().connect_timeout, Duration::from_secs(2));
    }
}
