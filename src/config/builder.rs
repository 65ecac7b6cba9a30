//! The [`ConfigBuilder`]: the one way to a [`Config`]. The command line, the environment
//! and the policy file reach it through `merge.rs`; tests and other code set it directly.
//! Either way [`ConfigBuilder::build`] checks every value against the settings table and
//! builds the trust anchors, each upstream's TLS client configuration, the TLS listeners'
//! server configuration and the zones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::parse::{check_count, check_duration, Found, Origin};
use super::sealed::{Config, TlsListener, Values};
use super::table::{self, Setting as Row};
use super::ConfigError;
use crate::acl::Acl;
use crate::cache::CacheSettings;
use crate::dns::edns::Privacy;
use crate::dnssec::canonical::Name;
use crate::dnssec::{NegativeAnchors, Trust};
use crate::limiter::RateSettings;
use crate::listen::tcp::TcpLimits;
use crate::upstream::conn::ConnLimits;
use crate::upstream::plain::ZoneConfig;
use crate::upstream::pool::{Endpoint, PoolSettings, Strategy, UpstreamConfig};
use crate::upstream::tls::{trust_anchors, TlsMinVersion};

/// Builds a [`Config`]; [`Config::builder`] starts from the table's defaults.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    config: Values,
    /// Zones as given: name and servers.
    zones: Vec<(String, Vec<SocketAddr>)>,
    /// The TLS listeners as given: addresses, certificate chain, key (PEM).
    tls: Option<(Vec<SocketAddr>, Vec<CertificateDer<'static>>, Vec<u8>)>,
    /// The running process's TLS listener, kept as built (a reload after privileges were
    /// dropped cannot read a key file readable by root only; the listener needs a restart
    /// to change anyway).
    tls_kept: Option<TlsListener>,
}

impl ConfigBuilder {
    /// A builder with every field still to be set (by `merge.rs`).
    pub(super) fn blank() -> ConfigBuilder {
        let pool = PoolSettings {
            max_conns: 0,
            conn: ConnLimits {
                max_in_flight: 0,
                idle_timeout: Duration::ZERO,
            },
            connect_timeout: Duration::ZERO,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            tls_min_version: TlsMinVersion::Tls12,
            strategy: Strategy::Latency,
            expiry_warning: Duration::ZERO,
        };
        let tcp = TcpLimits {
            max_clients: 0,
            max_per_client: 0,
            max_in_flight: 0,
            idle_timeout: Duration::ZERO,
            read_timeout: Duration::ZERO,
            write_timeout: Duration::from_secs(5),
        };
        ConfigBuilder {
            config: Values {
                listen: Vec::new(),
                upstreams: Vec::new(),
                extra_roots: Vec::new(),
                timeout: Duration::ZERO,
                pool,
                tcp,
                max_pending: 0,
                threads: 0,
                grace: Duration::from_secs(5),
                privacy: Privacy::default(),
                acl: Acl::default(),
                rate_limit: None,
                log_queries: false,
                cache: None,
                metrics: None,
                ready_file: None,
                warm_up: true,
                tls_handshake_rate: 0,
                user: None,
                warnings: Vec::new(),
                effective: Vec::new(),
                dnssec: None,
            },
            zones: Vec::new(),
            tls: None,
            tls_kept: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => |$c:ident, $v:ident| $set:expr;)*) => {
        impl ConfigBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, $v: $ty) -> ConfigBuilder {
                    let $c = &mut self.config;
                    $set;
                    self
                }
            )*
        }
    };
}

setters! {
    /// `--listen`: addresses to serve plain DNS on.
    listen: Vec<SocketAddr> => |c, v| c.listen = v;
    /// The upstreams, each with its authentication.
    upstreams: Vec<UpstreamConfig> => |c, v| c.upstreams = v;
    /// `--dnssec`, `--trust-anchor-file`, `--insecure-zone`: validate from these trust
    /// anchors (`None`: `--dnssec off`).
    dnssec: Option<Trust> => |c, v| c.dnssec = v;
    /// `--ca-file`: CA certificates trusted for every upstream besides the web PKI roots.
    extra_roots: Vec<CertificateDer<'static>> => |c, v| c.extra_roots = v;
    /// `--timeout`: the budget per query; half of it bounds each connect and handshake.
    timeout: Duration => |c, v| { c.timeout = v; c.pool.connect_timeout = v / 2 };
    /// `--tls-min-version`.
    tls_min_version: TlsMinVersion => |c, v| c.pool.tls_min_version = v;
    /// `--strategy`.
    strategy: Strategy => |c, v| c.pool.strategy = v;
    /// `--warn-days`: how long before an expiry strictdot warns.
    warn_days: u32 => |c, v| c.pool.expiry_warning = Duration::from_secs(u64::from(v) * 86_400);
    /// `--max-upstream-connections`.
    max_upstream_connections: usize => |c, v| c.pool.max_conns = v;
    /// `--max-in-flight`.
    max_in_flight: usize => |c, v| c.pool.conn.max_in_flight = v;
    /// `--upstream-idle-timeout`.
    upstream_idle_timeout: Duration => |c, v| c.pool.conn.idle_timeout = v;
    /// `--max-tcp-clients`.
    max_tcp_clients: usize => |c, v| c.tcp.max_clients = v;
    /// `--max-tcp-per-client`.
    max_tcp_per_client: usize => |c, v| c.tcp.max_per_client = v;
    /// `--max-tcp-queries-per-connection`.
    max_tcp_queries_per_connection: usize => |c, v| c.tcp.max_in_flight = v;
    /// `--tcp-idle-timeout`.
    tcp_idle_timeout: Duration => |c, v| c.tcp.idle_timeout = v;
    /// `--tcp-read-timeout`.
    tcp_read_timeout: Duration => |c, v| c.tcp.read_timeout = v;
    /// `--max-pending`.
    max_pending: usize => |c, v| c.max_pending = v;
    /// `--threads` (0: one per core).
    threads: usize => |c, v| c.threads = v;
    /// `--keep-ecs`.
    keep_ecs: bool => |c, v| c.privacy.keep_ecs = v;
    /// `--log-queries`.
    log_queries: bool => |c, v| c.log_queries = v;
    /// `--metrics`.
    metrics: Option<SocketAddr> => |c, v| c.metrics = v;
    /// `--ready-file`.
    ready_file: Option<std::path::PathBuf> => |c, v| c.ready_file = v;
    /// `--user`.
    user: Option<(u32, Option<u32>)> => |c, v| c.user = v;
    /// `--tls-handshake-rate`.
    tls_handshake_rate: u32 => |c, v| c.tls_handshake_rate = v;
    /// `--allow`: who may query.
    acl: Acl => |c, v| c.acl = v;
    /// The rate limit (`None`: off).
    rate_limit: Option<RateSettings> => |c, v| c.rate_limit = v;
    /// The answer cache (`None`: off).
    cache: Option<CacheSettings> => |c, v| c.cache = v;
    /// How long shutdown waits for queries in flight.
    grace: Duration => |c, v| c.grace = v;
    /// Connect to every upstream at start.
    warm_up: bool => |c, v| c.warm_up = v;
    /// A warning to log at start.
    warning: String => |c, v| c.warnings.push(v);
}

impl ConfigBuilder {
    /// Every setting's value and origin, for `strictdot check` (set by `merge.rs`).
    pub(super) fn effective(mut self, found: Vec<Found>) -> ConfigBuilder {
        self.config.effective = found;
        self
    }

    /// The first and the longest backoff after a failed upstream connection.
    pub fn backoff(mut self, base: Duration, max: Duration) -> ConfigBuilder {
        self.config.pool.backoff_base = base;
        self.config.pool.backoff_max = max;
        self
    }

    /// DNS-over-TLS listeners for clients with their certificate chain and key (PEM).
    pub fn tls_listener(
        mut self,
        addrs: Vec<SocketAddr>,
        chain: Vec<CertificateDer<'static>>,
        key_pem: Vec<u8>,
    ) -> ConfigBuilder {
        self.tls = Some((addrs, chain, key_pem));
        self
    }

    /// Keeps the running TLS listener `listener` as it was built, certificate and key
    /// included, instead of reading its files again.
    pub fn keep_tls_listener(mut self, listener: TlsListener) -> ConfigBuilder {
        self.tls = None;
        self.tls_kept = Some(listener);
        self
    }

    /// A zone (`cluster.local`) forwarded in plain DNS to `servers`, which must be
    /// loopback or private addresses.
    pub fn zone(mut self, name: &str, servers: Vec<SocketAddr>) -> ConfigBuilder {
        self.zones.push((name.to_owned(), servers));
        self
    }

    /// Checks every value and builds the trust anchors, the upstreams' TLS client
    /// configurations, the TLS listeners' server configuration and the zones.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut v = self.config;
        check_ranges(&v)?;
        if v.listen.is_empty() {
            return Err(ConfigError::NoListener);
        }
        if v.upstreams.is_empty() {
            return Err(ConfigError::NoUpstream);
        }
        let endpoints = endpoints(&v)?;
        let lone_pins = lone_pin_warnings(&v.upstreams);
        v.warnings.extend(lone_pins);
        let listen_tls = match self.tls {
            Some((addrs, chain, key_pem)) => Some(TlsListener {
                server_config: server_config(&chain, &key_pem)?,
                key_digest: Sha256::digest(&key_pem).into(),
                addrs,
                chain,
            }),
            None => self.tls_kept,
        };
        let zones = self
            .zones
            .into_iter()
            .map(|(name, servers)| zone_config(&name, servers))
            .collect::<Result<Vec<ZoneConfig>, _>>()?;
        let dnssec = v.dnssec.as_ref().map(|given| {
            // The special-use names, the local zones (answered by local servers that
            // the root's chain knows nothing of), then the names given.
            let mut negative = NegativeAnchors::default();
            for zone in &zones {
                if let Ok(name) = Name::from_wire(&zone.wire) {
                    negative.add(name);
                }
            }
            for name in given.negative.names() {
                negative.add(name.clone());
            }
            Trust {
                anchors: given.anchors.clone(),
                negative,
            }
        });
        Ok(Config {
            values: v,
            endpoints,
            zones,
            listen_tls,
            dnssec,
        })
    }
}

/// A warning for each upstream that relies on exactly one pin: when that key changes, the
/// upstream fails until the configuration does (RFC 7469 §4.3 asks for a backup pin).
fn lone_pin_warnings(upstreams: &[UpstreamConfig]) -> Vec<String> {
    upstreams
        .iter()
        .filter_map(|u| match u.mode.pins() {
            [pin] => Some(format!(
                "upstream {}: relies on exactly one pin ({pin}), no backup (RFC 7469 §4.3); when that key changes the upstream fails: add a backup pin (the key it will rotate to, or its issuing CA's: `strictdot pin` marks CA keys)",
                u.name
            )),
            _ => None,
        })
        .collect()
}

/// Each upstream's endpoint: the shared trust anchors (webpki roots and `--ca-file`), or
/// for an upstream with CA certificates of its own, those added.
fn endpoints(v: &Values) -> Result<Vec<Endpoint>, ConfigError> {
    let unusable = |whose: String| {
        move |e: crate::upstream::tls::AnchorError| ConfigError::CaFile(whose, e.to_string())
    };
    let shared = trust_anchors(&v.extra_roots).map_err(unusable("--ca-file".to_owned()))?;
    let mut out = Vec::new();
    for u in &v.upstreams {
        let roots = if u.extra_roots.is_empty() {
            shared.clone()
        } else {
            let all: Vec<_> = v
                .extra_roots
                .iter()
                .chain(&u.extra_roots)
                .cloned()
                .collect();
            trust_anchors(&all).map_err(unusable(format!("of upstream {}", u.name)))?
        };
        out.push(Endpoint::new(u, roots, v.pool.tls_min_version));
    }
    Ok(out)
}

/// The rustls server configuration for the TLS listeners.
fn server_config(
    chain: &[CertificateDer<'static>],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, ConfigError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ConfigError::TlsListener(format!("no usable private key: {e}")))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ConfigError::TlsListener(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain.to_vec(), key)
            .map_err(|e| ConfigError::TlsListener(format!("certificate and key: {e}")))?;
    // Returning clients resume (RFC 8446 §2.2, RFC 5077) with stateless tickets, sealed
    // with a random key that rustls replaces every 6 hours (a ticket is accepted for at
    // most 12): the server keeps nothing per session, however many clients come and go.
    // No early data (rustls' default max_early_data_size 0), so nothing can be replayed.
    config.ticketer = rustls::crypto::ring::Ticketer::new()
        .map_err(|e| ConfigError::TlsListener(format!("session tickets: {e}")))?;
    Ok(Arc::new(config))
}

/// Checks every value that has a row in the settings table against its bounds.
fn check_ranges(c: &Values) -> Result<(), ConfigError> {
    use table::*;
    let n = |s: &'static Row, v: u64| check_count(s, Origin::Code, v);
    let d = |s: &'static Row, v: Duration| check_duration(s, Origin::Code, v);
    let size = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    d(&TIMEOUT, c.timeout)?;
    n(&WARN_DAYS, c.pool.expiry_warning.as_secs() / 86_400)?;
    n(&MAX_UPSTREAM_CONNECTIONS, size(c.pool.max_conns))?;
    n(&MAX_IN_FLIGHT, size(c.pool.conn.max_in_flight))?;
    d(&UPSTREAM_IDLE_TIMEOUT, c.pool.conn.idle_timeout)?;
    n(&MAX_TCP_CLIENTS, size(c.tcp.max_clients))?;
    n(&MAX_TCP_PER_CLIENT, size(c.tcp.max_per_client))?;
    n(&MAX_TCP_QUERIES_PER_CONNECTION, size(c.tcp.max_in_flight))?;
    d(&TCP_IDLE_TIMEOUT, c.tcp.idle_timeout)?;
    d(&TCP_READ_TIMEOUT, c.tcp.read_timeout)?;
    n(&MAX_PENDING, size(c.max_pending))?;
    n(&THREADS, size(c.threads))?;
    n(&TLS_HANDSHAKE_RATE, u64::from(c.tls_handshake_rate))?;
    if let Some(r) = &c.rate_limit {
        n(&RATE_LIMIT, u64::from(r.qps.get()))?;
        n(&RATE_BURST, u64::from(r.burst.get()))?;
        n(&RATE_LIMIT_IPV4_PREFIX, u64::from(r.v4_prefix))?;
        n(&RATE_LIMIT_IPV6_PREFIX, u64::from(r.v6_prefix))?;
        n(&SLIP, u64::from(r.slip))?;
        n(&RATE_LIMIT_MAX_CLIENTS, size(r.max_keys))?;
    }
    if let Some(cache) = &c.cache {
        n(&CACHE_SIZE, size(cache.max_entries))?;
        n(&CACHE_MAX_BYTES, size(cache.max_bytes))?;
        n(&CACHE_MIN_TTL, u64::from(cache.min_ttl))?;
        n(&CACHE_MAX_TTL, u64::from(cache.max_ttl))?;
        if cache.min_ttl > cache.max_ttl {
            return Err(ConfigError::MinAboveMax {
                min: CACHE_MIN_TTL.name,
                max: CACHE_MAX_TTL.name,
            });
        }
    }
    Ok(())
}

/// A zone checked: a domain name, and servers on this host or a private network only.
pub(super) fn zone_config(name: &str, servers: Vec<SocketAddr>) -> Result<ZoneConfig, ConfigError> {
    let wire = name_to_wire(name).ok_or_else(|| ConfigError::PolicyValue {
        key: format!("zone {name}"),
        message: format!("'{name}' is not a domain name"),
    })?;
    if servers.is_empty() {
        return Err(ConfigError::PolicyValue {
            key: format!("zone {name}"),
            message: "no forward address".to_owned(),
        });
    }
    if let Some(addr) = servers.iter().find(|a| !Acl::default().allows(a.ip())) {
        return Err(ConfigError::ZoneNotLocal {
            zone: name.to_owned(),
            addr: addr.to_string(),
        });
    }
    Ok(ZoneConfig {
        name: format!("{}.", name.trim_end_matches('.').to_ascii_lowercase()),
        wire,
        servers,
    })
}

/// `cluster.local` -> `\x07cluster\x05local\x00` (lower case), or `None` if it is not a name.
pub fn name_to_wire(name: &str) -> Option<Vec<u8>> {
    let name = name.trim_end_matches('.');
    let mut out = Vec::new();
    if !name.is_empty() {
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return None;
            }
            out.push(label.len() as u8);
            out.extend(label.to_ascii_lowercase().bytes());
        }
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names() {
        assert_eq!(
            name_to_wire("cluster.local").unwrap(),
            b"\x07cluster\x05local\x00"
        );
        assert_eq!(
            name_to_wire("Cluster.Local.").unwrap(),
            b"\x07cluster\x05local\x00"
        );
        assert!(name_to_wire("bad..name").is_none());
        assert!(name_to_wire("sp ace").is_none());
    }

    #[test]
    fn values_set_in_code_are_checked_by_the_table() {
        let e = Config::builder().max_pending(0).build().unwrap_err();
        assert!(
            e.to_string().starts_with("--max-pending 0: out of range"),
            "{e}"
        );
        let e = Config::builder()
            .timeout(Duration::from_secs(61))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("100ms to 60s"), "{e}");
    }
}
