//! The one validated [`Config`]: built from the command line, checked completely before
//! anything binds, with each tunable's bounds in one table. Out-of-range settings are
//! refused, never clamped.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use std::num::NonZeroU32;

use crate::acl::Acl;
use crate::cache::CacheSettings;
use crate::cli::ProxyArgs;
use crate::dns::edns::Privacy;
use crate::limiter::RateSettings;
use crate::listen::tcp::TcpLimits;
use crate::upstream::conn::ConnLimits;
use crate::upstream::pool::{PoolSettings, Strategy, UpstreamConfig};
use crate::upstream::tls::{read_pem_certs, TlsMinVersion};
use crate::upstream::verify::AuthMode;
use crate::upstream_spec::UpstreamSpec;

/// The built-in upstreams: Cloudflare's resolvers, authenticated by name against the
/// compiled-in web PKI roots.
pub const DEFAULT_UPSTREAMS: [&str; 2] = [
    "1.1.1.1:853#cloudflare-dns.com",
    "1.0.0.1:853#cloudflare-dns.com",
];

/// Default sustained queries per second per client prefix: generous for one host's stub
/// resolvers, far below what a flood sends.
pub const DEFAULT_RATE_QPS: u32 = 1000;
/// Default burst per client prefix.
pub const DEFAULT_RATE_BURST: u32 = 2000;

/// Default cache capacity in entries.
pub const DEFAULT_CACHE_ENTRIES: usize = 100_000;
/// Default cache capacity in bytes of stored answers.
pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;
/// How long past expiry an entry may still be served with `--serve-stale` (RFC 8767 §5
/// suggests one to three days).
pub const STALE_WINDOW: Duration = Duration::from_secs(86_400);

/// A configuration problem; strictdot refuses to start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// RFC 8310 strict profile: every upstream needs a name or a pin.
    #[error("upstream {0} has neither an authentication name (#NAME) nor --pin-sha256; the strict profile refuses to run unauthenticated")]
    NoAuthentication(String),
    /// A CA file could not be used.
    #[error("CA file {0}: {1}")]
    CaFile(String, String),
    /// A setting outside its allowed range.
    #[error("--{name} {value} is out of range ({range})")]
    OutOfRange {
        /// The flag.
        name: &'static str,
        /// The given value.
        value: String,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// No listen address.
    #[error("no --listen address given")]
    NoListener,
}

/// Everything the server needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses to serve on (UDP and TCP each).
    pub listen: Vec<SocketAddr>,
    /// Upstreams, each with its authentication mode.
    pub upstreams: Vec<UpstreamConfig>,
    /// CA certificates trusted besides the web PKI roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// End-to-end budget per query.
    pub timeout: Duration,
    /// Upstream pool settings.
    pub pool: PoolSettings,
    /// TCP listener limits.
    pub tcp: TcpLimits,
    /// Queries waiting for an upstream at once, all clients together; beyond it, SERVFAIL.
    pub max_pending: usize,
    /// How long shutdown waits for queries in flight.
    pub grace: Duration,
    /// EDNS rewrite of upstream queries: padding, ECS.
    pub privacy: Privacy,
    /// Who may query.
    pub acl: Acl,
    /// Per-client rate limit (`None`: off).
    pub rate_limit: Option<RateSettings>,
    /// Log each query (client, name, type).
    pub log_queries: bool,
    /// The answer cache (`None`: off).
    pub cache: Option<CacheSettings>,
    /// Where to serve /metrics, /health and /ready (`None`: nowhere).
    pub metrics: Option<SocketAddr>,
    /// Connect to every upstream at start (readiness, no handshake on the first queries).
    pub warm_up: bool,
}

/// Bounds of a numeric setting, kept with its reason.
struct Bound {
    name: &'static str,
    min: u64,
    max: u64,
    range: &'static str,
}

/// The table of tunables and their bounds.
const TIMEOUT_MS: Bound = Bound {
    name: "timeout",
    min: 100,
    max: 60_000,
    range: "100ms to 60s: long enough for a handshake, shorter than any client waits",
};
const TCP_CLIENTS: Bound = Bound {
    name: "max-tcp-clients",
    min: 1,
    max: 1_000_000,
    range: "1 to 1000000",
};
const TCP_IDLE_MS: Bound = Bound {
    name: "tcp-idle-timeout",
    min: 100,
    max: 600_000,
    range: "100ms to 10m (RFC 7766 §6.2.3 suggests seconds)",
};
const UPSTREAM_IDLE_MS: Bound = Bound {
    name: "upstream-idle-timeout",
    min: 100,
    max: 3_600_000,
    range: "100ms to 1h",
};
const UPSTREAM_CONNS: Bound = Bound {
    name: "max-upstream-connections",
    min: 1,
    max: 64,
    range: "1 to 64 (RFC 7766 §6.2.2 asks clients to keep few)",
};
const IN_FLIGHT: Bound = Bound {
    name: "max-in-flight",
    min: 1,
    max: 4096,
    range: "1 to 4096 (the 16-bit ID space is shared per connection)",
};

const TCP_PER_CLIENT: Bound = Bound {
    name: "max-tcp-per-client",
    min: 1,
    max: 1_000_000,
    range: "1 to 1000000",
};
const TCP_READ_MS: Bound = Bound {
    name: "tcp-read-timeout",
    min: 100,
    max: 120_000,
    range: "100ms to 2m",
};
const TCP_IN_FLIGHT: Bound = Bound {
    name: "max-tcp-queries-per-connection",
    min: 1,
    max: 65_535,
    range: "1 to 65535",
};
const PENDING: Bound = Bound {
    name: "max-pending",
    min: 1,
    max: 10_000_000,
    range: "1 to 10000000",
};
const RATE: Bound = Bound {
    name: "rate-limit",
    min: 0,
    max: 10_000_000,
    range: "0 (off) to 10000000 queries per second",
};
const BURST: Bound = Bound {
    name: "rate-burst",
    min: 1,
    max: 10_000_000,
    range: "1 to 10000000",
};
const V4_PREFIX: Bound = Bound {
    name: "rate-limit-ipv4-prefix",
    min: 8,
    max: 32,
    range: "8 to 32",
};
const V6_PREFIX: Bound = Bound {
    name: "rate-limit-ipv6-prefix",
    min: 16,
    max: 128,
    range: "16 to 128",
};
const SLIP: Bound = Bound {
    name: "slip",
    min: 0,
    max: 100,
    range: "0 (drop all) to 100",
};
const RATE_KEYS: Bound = Bound {
    name: "rate-limit-max-clients",
    min: 1,
    max: 100_000_000,
    range: "1 to 100000000",
};

const CACHE_ENTRIES: Bound = Bound {
    name: "cache-size",
    min: 0,
    max: 100_000_000,
    range: "0 (off) to 100000000 entries",
};
const CACHE_BYTES: Bound = Bound {
    name: "cache-max-bytes",
    min: 4096,
    max: 1 << 40,
    range: "4096 bytes to 1 TiB",
};
const CACHE_TTL: Bound = Bound {
    name: "cache-min-ttl / --cache-max-ttl",
    min: 0,
    max: 604_800,
    range: "0 to 604800 seconds (a week)",
};

fn check(b: &Bound, value: u64) -> Result<(), ConfigError> {
    if (b.min..=b.max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name: b.name,
            value: value.to_string(),
            range: b.range,
        })
    }
}

fn check_ms(b: &Bound, d: Duration) -> Result<(), ConfigError> {
    check(b, u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).map_err(|e| match e {
        ConfigError::OutOfRange { name, range, .. } => ConfigError::OutOfRange {
            name,
            value: format!("{d:?}"),
            range,
        },
        other => other,
    })
}

impl Config {
    /// A configuration with the defaults for everything but the upstreams.
    pub fn new(upstreams: Vec<UpstreamConfig>) -> Config {
        let timeout = Duration::from_secs(4);
        Config {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            upstreams,
            extra_roots: Vec::new(),
            timeout,
            pool: PoolSettings {
                max_conns: 4,
                conn: ConnLimits {
                    max_in_flight: 128,
                    idle_timeout: Duration::from_secs(30),
                },
                connect_timeout: timeout / 2,
                backoff_base: Duration::from_millis(250),
                backoff_max: Duration::from_secs(5),
                tls_min_version: TlsMinVersion::Tls12,
                strategy: Strategy::default(),
            },
            tcp: TcpLimits {
                max_clients: 1024,
                max_per_client: 64,
                max_in_flight: 64,
                idle_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(5),
                write_timeout: Duration::from_secs(5),
            },
            max_pending: 8192,
            grace: Duration::from_secs(5),
            privacy: Privacy::default(),
            acl: Acl::default(),
            rate_limit: Some(RateSettings {
                qps: NonZeroU32::new(DEFAULT_RATE_QPS).expect("non-zero"),
                burst: NonZeroU32::new(DEFAULT_RATE_BURST).expect("non-zero"),
                v4_prefix: 32,
                v6_prefix: 64,
                slip: 2,
                max_keys: 100_000,
            }),
            log_queries: false,
            cache: Some(CacheSettings {
                max_entries: DEFAULT_CACHE_ENTRIES,
                max_bytes: DEFAULT_CACHE_BYTES,
                min_ttl: 0,
                max_ttl: 86_400,
                servfail_ttl: 2,
                serve_stale: None,
                prefetch: true,
            }),
            metrics: None,
            warm_up: true,
        }
    }

    /// Builds and validates the configuration from the command line.
    pub fn from_cli(args: &ProxyArgs) -> Result<Config, ConfigError> {
        check_ms(&TIMEOUT_MS, args.timeout)?;
        check(&TCP_CLIENTS, args.max_tcp_clients as u64)?;
        check_ms(&TCP_IDLE_MS, args.tcp_idle_timeout)?;
        check_ms(&UPSTREAM_IDLE_MS, args.upstream_idle_timeout)?;
        check(&UPSTREAM_CONNS, args.max_upstream_connections as u64)?;
        check(&IN_FLIGHT, args.max_in_flight as u64)?;
        check(&TCP_PER_CLIENT, args.max_tcp_per_client as u64)?;
        check_ms(&TCP_READ_MS, args.tcp_read_timeout)?;
        check(&TCP_IN_FLIGHT, args.max_tcp_queries_per_connection as u64)?;
        check(&PENDING, args.max_pending as u64)?;
        check(&RATE, u64::from(args.rate_limit))?;
        check(&BURST, u64::from(args.rate_burst))?;
        check(&V4_PREFIX, u64::from(args.rate_limit_ipv4_prefix))?;
        check(&V6_PREFIX, u64::from(args.rate_limit_ipv6_prefix))?;
        check(&SLIP, u64::from(args.slip))?;
        check(&RATE_KEYS, args.rate_limit_max_clients as u64)?;
        check(&CACHE_ENTRIES, args.cache_size as u64)?;
        check(&CACHE_BYTES, args.cache_max_bytes as u64)?;
        check(&CACHE_TTL, u64::from(args.cache_min_ttl))?;
        check(&CACHE_TTL, u64::from(args.cache_max_ttl))?;
        if args.cache_min_ttl > args.cache_max_ttl {
            return Err(ConfigError::OutOfRange {
                name: "cache-min-ttl",
                value: args.cache_min_ttl.to_string(),
                range: "at most --cache-max-ttl",
            });
        }
        if args.listen.is_empty() {
            return Err(ConfigError::NoListener);
        }
        let specs: Vec<UpstreamSpec> = if args.upstream.is_empty() {
            DEFAULT_UPSTREAMS
                .iter()
                .map(|s| s.parse().expect("built-in upstreams parse"))
                .collect()
        } else {
            args.upstream.clone()
        };
        let upstreams = specs
            .into_iter()
            .map(|spec| {
                let mode = AuthMode::new(spec.auth_name.clone(), args.pin_sha256.clone())
                    .ok_or_else(|| ConfigError::NoAuthentication(spec.to_string()))?;
                Ok(UpstreamConfig { spec, mode })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let extra_roots = match &args.ca_file {
            Some(path) => read_pem_certs(path)?,
            None => Vec::new(),
        };
        // Refuse CA certificates webpki cannot use now, not at the first handshake.
        crate::upstream::tls::trust_anchors(&extra_roots)?;
        let mut config = Config::new(upstreams);
        config.listen = args.listen.clone();
        config.extra_roots = extra_roots;
        config.timeout = args.timeout;
        config.pool.connect_timeout = args.timeout / 2;
        config.pool.max_conns = args.max_upstream_connections;
        config.pool.conn.max_in_flight = args.max_in_flight;
        config.pool.conn.idle_timeout = args.upstream_idle_timeout;
        config.pool.tls_min_version = args.tls_min_version;
        config.pool.strategy = args.strategy;
        config.tcp.max_clients = args.max_tcp_clients;
        config.tcp.idle_timeout = args.tcp_idle_timeout;
        config.privacy.keep_ecs = args.keep_ecs;
        config.tcp.max_per_client = args.max_tcp_per_client;
        config.tcp.read_timeout = args.tcp_read_timeout;
        config.tcp.max_in_flight = args.max_tcp_queries_per_connection;
        config.max_pending = args.max_pending;
        config.log_queries = args.log_queries;
        config.metrics = args.metrics;
        config.cache = (args.cache_size > 0).then(|| CacheSettings {
            max_entries: args.cache_size,
            max_bytes: args.cache_max_bytes,
            min_ttl: args.cache_min_ttl,
            max_ttl: args.cache_max_ttl,
            servfail_ttl: 2,
            serve_stale: args.serve_stale.then_some(STALE_WINDOW),
            prefetch: true,
        });
        if !args.allow.is_empty() {
            config.acl = Acl::new(args.allow.clone());
        }
        config.rate_limit = match (
            NonZeroU32::new(args.rate_limit),
            NonZeroU32::new(args.rate_burst),
        ) {
            (Some(qps), Some(burst)) => Some(RateSettings {
                qps,
                burst,
                v4_prefix: args.rate_limit_ipv4_prefix,
                v6_prefix: args.rate_limit_ipv6_prefix,
                slip: args.slip,
                max_keys: args.rate_limit_max_clients,
            }),
            _ => None,
        };
        Ok(config)
    }
}
