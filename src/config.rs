//! The one validated [`Config`]: built from the command line, checked completely before
//! anything binds, with each tunable's bounds in one table. Out-of-range settings are
//! refused, never clamped.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use std::num::NonZeroU32;

use crate::acl::Acl;
use crate::cache::CacheSettings;
use crate::cli::{parse_duration, ProxyArgs};
use crate::dns::edns::Privacy;
use crate::limiter::RateSettings;
use crate::listen::tcp::TcpLimits;
use crate::policy::Policy;
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

/// Default TLS handshakes per second per client prefix on the TLS listeners.
pub const DEFAULT_TLS_HANDSHAKE_RATE: u32 = 20;

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
    /// The policy file could not be read or parsed.
    #[error("{0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// A policy value does not parse.
    #[error("policy: {key}: {message}")]
    PolicyValue {
        /// Where in the policy.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A zone forwards to a server that is not on this host or a private network.
    #[error("zone {zone}: {addr} is not a loopback or private address; cleartext forwarding is only allowed to local servers")]
    ZoneNotLocal {
        /// The zone.
        zone: String,
        /// The address.
        addr: String,
    },
    /// A zone lacks `unencrypted = true`.
    #[error("zone {0}: forwarding is plain DNS; say so with `unencrypted = true`")]
    ZoneNotMarked(String),
    /// TLS listener settings are incomplete or unusable.
    #[error("TLS listener: {0}")]
    TlsListener(String),
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
    /// Local zones forwarded in cleartext to local servers.
    pub zones: Vec<ZoneConfig>,
    /// DNS-over-TLS listeners for clients, with their certificate and key.
    pub listen_tls: Option<TlsListenConfig>,
    /// TLS handshakes per second per client prefix on the TLS listeners.
    pub tls_handshake_rate: u32,
    /// Numeric user and group to switch to after binding, when started as root.
    pub user: Option<(u32, Option<u32>)>,
    /// Things worth a warning (pins near or past expiry...), logged at start.
    pub warnings: Vec<String>,
}

/// A local zone forwarded in cleartext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone as text (`cluster.local.`).
    pub name: String,
    /// The zone in wire form, lower case.
    pub wire: Vec<u8>,
    /// The local servers, tried in order.
    pub servers: Vec<SocketAddr>,
}

/// DNS-over-TLS listeners.
#[derive(Clone, Debug)]
pub struct TlsListenConfig {
    /// Addresses.
    pub addrs: Vec<SocketAddr>,
    /// Certificate chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// Private key (PEM bytes; parsed when the server is built).
    pub key_pem: Vec<u8>,
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
            zones: Vec::new(),
            listen_tls: None,
            tls_handshake_rate: DEFAULT_TLS_HANDSHAKE_RATE,
            user: None,
            warnings: Vec::new(),
        }
    }

    /// Builds and validates the configuration from the command line alone.
    pub fn from_cli(args: &ProxyArgs) -> Result<Config, ConfigError> {
        Config::from_args(args, None, &|_| true)
    }

    /// Builds and validates the configuration: `policy` fills every setting that the
    /// command line (or environment) did not give explicitly (`explicit(flag_id)`).
    pub fn from_args(
        args: &ProxyArgs,
        policy: Option<&Policy>,
        explicit: &dyn Fn(&str) -> bool,
    ) -> Result<Config, ConfigError> {
        let mut args = args.clone();
        let mut from_policy = PolicyParts::default();
        if let Some(p) = policy {
            from_policy = apply_policy(&mut args, p, explicit)?;
        }
        let args = &args;
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
        let upstreams = match from_policy.upstreams.take() {
            Some(named) if !explicit("upstream") => named,
            _ => specs
                .into_iter()
                .map(|spec| {
                    let mode = AuthMode::new(spec.auth_name.clone(), args.pin_sha256.clone())
                        .ok_or_else(|| ConfigError::NoAuthentication(spec.to_string()))?;
                    Ok(UpstreamConfig::new(spec, mode))
                })
                .collect::<Result<Vec<_>, ConfigError>>()?,
        };
        let extra_roots = match &args.ca_file {
            Some(path) => read_pem_certs(path)?,
            None => Vec::new(),
        };
        // Refuse CA certificates webpki cannot use now, not at the first handshake.
        crate::upstream::tls::trust_anchors(&extra_roots)?;
        let mut config = Config::new(upstreams);
        config.zones = from_policy.zones;
        config.warnings = from_policy.warnings;
        config.tls_handshake_rate = from_policy
            .tls_handshake_rate
            .unwrap_or(DEFAULT_TLS_HANDSHAKE_RATE);
        config.listen_tls = tls_listen_config(args)?;
        config.user = match &args.user {
            Some(u) => Some(parse_user(u)?),
            None => None,
        };
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

/// What a policy contributes beyond command-line values.
#[derive(Default)]
struct PolicyParts {
    upstreams: Option<Vec<UpstreamConfig>>,
    zones: Vec<ZoneConfig>,
    warnings: Vec<String>,
    tls_handshake_rate: Option<u32>,
}

fn policy_value<T, E: std::fmt::Display>(
    key: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    parse(raw).map_err(|e| ConfigError::PolicyValue {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

/// Copies policy values into `args` where the command line was silent, and builds the
/// named upstreams and zones.
fn apply_policy(
    args: &mut ProxyArgs,
    p: &Policy,
    explicit: &dyn Fn(&str) -> bool,
) -> Result<PolicyParts, ConfigError> {
    use clap::ValueEnum;
    macro_rules! fill {
        ($id:literal, $field:ident, $value:expr) => {
            if let Some(v) = $value {
                if !explicit($id) {
                    args.$field = v;
                }
            }
        };
    }
    let duration = |key: &str, raw: &Option<String>| -> Result<Option<Duration>, ConfigError> {
        raw.as_deref()
            .map(|r| policy_value(key, r, parse_duration))
            .transpose()
    };
    if let Some(s) = &p.strategy {
        let v = policy_value("strategy", s, |s| {
            crate::upstream::pool::Strategy::from_str(s, false)
        })?;
        fill!("strategy", strategy, Some(v));
    }
    if let Some(s) = &p.tls_min_version {
        let v = policy_value("tls_min_version", s, |s| TlsMinVersion::from_str(s, false))?;
        fill!("tls_min_version", tls_min_version, Some(v));
    }
    if let Some(l) = &p.listen {
        if let Some(addrs) = &l.addresses {
            let v = addrs
                .iter()
                .map(|a| policy_value("listen.addresses", a, |s| s.parse::<SocketAddr>()))
                .collect::<Result<Vec<_>, _>>()?;
            fill!("listen", listen, Some(v));
        }
        if let Some(addrs) = &l.tls {
            let v = addrs
                .iter()
                .map(|a| policy_value("listen.tls", a, |s| s.parse::<SocketAddr>()))
                .collect::<Result<Vec<_>, _>>()?;
            fill!("listen_tls", listen_tls, Some(v));
        }
        fill!(
            "tls_cert",
            tls_cert,
            l.tls_cert.as_ref().map(|s| Some(s.into()))
        );
        fill!(
            "tls_key",
            tls_key,
            l.tls_key.as_ref().map(|s| Some(s.into()))
        );
        if let Some(m) = &l.metrics {
            let v = policy_value("listen.metrics", m, |s| s.parse::<SocketAddr>())?;
            fill!("metrics", metrics, Some(Some(v)));
        }
        if let Some(allow) = &l.allow {
            let v = allow
                .iter()
                .map(|a| policy_value("listen.allow", a, |s| s.parse::<crate::acl::Cidr>()))
                .collect::<Result<Vec<_>, _>>()?;
            fill!("allow", allow, Some(v));
        }
        fill!("user", user, l.user.clone().map(Some));
    }
    let mut parts = PolicyParts::default();
    if let Some(l) = &p.limits {
        fill!("timeout", timeout, duration("limits.timeout", &l.timeout)?);
        fill!("rate_limit", rate_limit, l.rate_limit);
        fill!("rate_burst", rate_burst, l.rate_burst);
        fill!(
            "rate_limit_ipv4_prefix",
            rate_limit_ipv4_prefix,
            l.rate_limit_ipv4_prefix
        );
        fill!(
            "rate_limit_ipv6_prefix",
            rate_limit_ipv6_prefix,
            l.rate_limit_ipv6_prefix
        );
        fill!("slip", slip, l.slip);
        fill!(
            "rate_limit_max_clients",
            rate_limit_max_clients,
            l.rate_limit_max_clients
        );
        fill!("max_tcp_clients", max_tcp_clients, l.max_tcp_clients);
        fill!(
            "max_tcp_per_client",
            max_tcp_per_client,
            l.max_tcp_per_client
        );
        fill!(
            "max_tcp_queries_per_connection",
            max_tcp_queries_per_connection,
            l.max_tcp_queries_per_connection
        );
        fill!(
            "tcp_idle_timeout",
            tcp_idle_timeout,
            duration("limits.tcp_idle_timeout", &l.tcp_idle_timeout)?
        );
        fill!(
            "tcp_read_timeout",
            tcp_read_timeout,
            duration("limits.tcp_read_timeout", &l.tcp_read_timeout)?
        );
        fill!("max_pending", max_pending, l.max_pending);
        fill!(
            "max_upstream_connections",
            max_upstream_connections,
            l.max_upstream_connections
        );
        fill!("max_in_flight", max_in_flight, l.max_in_flight);
        fill!(
            "upstream_idle_timeout",
            upstream_idle_timeout,
            duration("limits.upstream_idle_timeout", &l.upstream_idle_timeout)?
        );
        parts.tls_handshake_rate = l.tls_handshake_rate;
    }
    if let Some(c) = &p.cache {
        fill!("cache_size", cache_size, c.size);
        fill!("cache_max_bytes", cache_max_bytes, c.max_bytes);
        fill!("cache_min_ttl", cache_min_ttl, c.min_ttl);
        fill!("cache_max_ttl", cache_max_ttl, c.max_ttl);
        fill!("serve_stale", serve_stale, c.serve_stale);
    }
    if let Some(pr) = &p.privacy {
        fill!("keep_ecs", keep_ecs, pr.keep_ecs);
        fill!("log_queries", log_queries, pr.log_queries);
    }
    let today = today_days();
    if !p.upstreams.is_empty() {
        let mut ups = Vec::new();
        for (i, u) in p.upstreams.iter().enumerate() {
            let key = format!("upstream[{i}] ({})", u.name);
            let mut text = u.address.clone();
            if let Some(n) = &u.auth_name {
                text = format!("{text}#{n}");
            }
            let spec: UpstreamSpec = policy_value(&key, &text, |s| s.parse::<UpstreamSpec>())?;
            let mut pins = Vec::new();
            for pin in &u.pins {
                let value: crate::pin::Pin =
                    policy_value(&key, &pin.sha256, |s| s.parse::<crate::pin::Pin>())?;
                let label = pin.comment.clone().unwrap_or_else(|| value.to_string());
                if let Some(exp) = &pin.expires {
                    let day = policy_value(&key, exp, parse_date)?;
                    if day < today {
                        parts.warnings.push(format!(
                            "upstream {}: pin '{label}' expired on {exp}; it is not used",
                            u.name
                        ));
                        continue;
                    }
                    if day - today <= 30 {
                        parts.warnings.push(format!(
                            "upstream {}: pin '{label}' expires on {exp}; add its successor",
                            u.name
                        ));
                    }
                }
                pins.push(value);
            }
            if pins.len() == 1 && spec.auth_name.is_none() {
                parts.warnings.push(format!(
                    "upstream {}: only one pin and no name; add a backup pin so a key rotation is not an outage",
                    u.name
                ));
            }
            let mode = AuthMode::new(spec.auth_name.clone(), pins)
                .ok_or_else(|| ConfigError::NoAuthentication(format!("{} ({spec})", u.name)))?;
            let mut up = UpstreamConfig::new(spec, mode);
            up.name = u.name.clone();
            if let Some(ca) = &u.ca_file {
                up.extra_roots = read_pem_certs(std::path::Path::new(ca))?;
                crate::upstream::tls::trust_anchors(&up.extra_roots)?;
            }
            ups.push(up);
        }
        parts.upstreams = Some(ups);
    }
    for z in &p.zones {
        parts.zones.push(zone_config(z)?);
    }
    Ok(parts)
}

fn zone_config(z: &crate::policy::ZonePolicy) -> Result<ZoneConfig, ConfigError> {
    if !z.unencrypted {
        return Err(ConfigError::ZoneNotMarked(z.name.clone()));
    }
    let key = format!("zone {}", z.name);
    let wire = name_to_wire(&z.name).ok_or_else(|| ConfigError::PolicyValue {
        key: key.clone(),
        message: format!("'{}' is not a domain name", z.name),
    })?;
    if z.forward.is_empty() {
        return Err(ConfigError::PolicyValue {
            key,
            message: "no forward address".to_owned(),
        });
    }
    let mut servers = Vec::new();
    for a in &z.forward {
        let addr = policy_value(&key, a, |s| {
            s.parse::<SocketAddr>().or_else(|_| {
                s.parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            })
        })?;
        if !Acl::default().allows(addr.ip()) {
            return Err(ConfigError::ZoneNotLocal {
                zone: z.name.clone(),
                addr: addr.to_string(),
            });
        }
        servers.push(addr);
    }
    let name = format!("{}.", z.name.trim_end_matches('.').to_ascii_lowercase());
    Ok(ZoneConfig {
        name,
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

fn tls_listen_config(args: &ProxyArgs) -> Result<Option<TlsListenConfig>, ConfigError> {
    if args.listen_tls.is_empty() {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Err(ConfigError::TlsListener(
            "--listen-tls needs --tls-cert and --tls-key".to_owned(),
        ));
    };
    let chain = read_pem_certs(cert).map_err(|e| ConfigError::TlsListener(e.to_string()))?;
    let key_pem = std::fs::read(key)
        .map_err(|e| ConfigError::TlsListener(format!("key {}: {e}", key.display())))?;
    // Parse now so a bad key fails at start, not at the first client.
    crate::listen::tls::server_config(&chain, &key_pem)?;
    Ok(Some(TlsListenConfig {
        addrs: args.listen_tls.clone(),
        chain,
        key_pem,
    }))
}

/// `UID` or `UID:GID`, numeric (a `FROM scratch` image has no user database).
fn parse_user(s: &str) -> Result<(u32, Option<u32>), ConfigError> {
    let bad = || ConfigError::PolicyValue {
        key: "user".to_owned(),
        message: format!("'{s}' is not UID or UID:GID (numbers)"),
    };
    match s.split_once(':') {
        Some((u, g)) => Ok((
            u.parse().map_err(|_| bad())?,
            Some(g.parse().map_err(|_| bad())?),
        )),
        None => Ok((s.parse().map_err(|_| bad())?, None)),
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("'{s}' is not a date (YYYY-MM-DD)");
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let m: i64 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let d: i64 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

fn today_days() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

impl Config {
    /// The effective configuration in words: how each upstream is authenticated, zones,
    /// listeners, limits, warnings. `strictdot check` prints it.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let tls = match self.pool.tls_min_version {
            TlsMinVersion::Tls12 => "TLS 1.2 or 1.3",
            TlsMinVersion::Tls13 => "TLS 1.3 only",
        };
        let _ = writeln!(
            out,
            "upstreams ({:?} strategy, {tls}, no fallback):",
            self.pool.strategy
        );
        for u in &self.upstreams {
            let roots = if u.extra_roots.is_empty() && self.extra_roots.is_empty() {
                "web PKI roots".to_owned()
            } else {
                format!(
                    "web PKI roots + {} extra CA certificate(s)",
                    u.extra_roots.len() + self.extra_roots.len()
                )
            };
            let how = match &u.mode {
                AuthMode::Name(n) => format!("name {} on a chain to the {roots}", n.as_ref()),
                AuthMode::Pins(p) => format!(
                    "SPKI pins only ({} pin(s); the pinned key must sign down to the server certificate)",
                    p.len()
                ),
                AuthMode::NameAndPins(n, p) => format!(
                    "name {} on a chain to the {roots} AND one of {} pin(s) on that chain",
                    n.as_ref(),
                    p.len()
                ),
            };
            let _ = writeln!(out, "  {} at {}: {how}", u.name, u.spec.addr);
            for pin in u.mode.pins() {
                let _ = writeln!(out, "    pin-sha256 {pin}");
            }
        }
        for z in &self.zones {
            let servers: Vec<String> = z.servers.iter().map(|s| s.to_string()).collect();
            let _ = writeln!(
                out,
                "zone {} -> {} (plain DNS, UNENCRYPTED local hop)",
                z.name,
                servers.join(", ")
            );
        }
        let listen: Vec<String> = self.listen.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(out, "listen (UDP+TCP): {}", listen.join(", "));
        if let Some(t) = &self.listen_tls {
            let addrs: Vec<String> = t.addrs.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                out,
                "listen (DNS over TLS): {} ({} certificate(s) in chain, {} handshakes/s per client prefix)",
                addrs.join(", "),
                t.chain.len(),
                self.tls_handshake_rate
            );
        }
        if let Some(m) = self.metrics {
            let _ = writeln!(out, "metrics: http://{m}/metrics (/health, /ready)");
        }
        let allow: Vec<String> = self.acl.prefixes().iter().map(|c| c.to_string()).collect();
        let _ = writeln!(out, "clients allowed: {}", allow.join(", "));
        match &self.rate_limit {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "rate limit: {}/s, burst {}, per /{} (IPv4) and /{} (IPv6), slip {}",
                    r.qps, r.burst, r.v4_prefix, r.v6_prefix, r.slip
                );
            }
            None => {
                let _ = writeln!(out, "rate limit: off");
            }
        }
        let _ = writeln!(
            out,
            "timeout {:?}; TCP: {} connections, {} per client, idle {:?}, read {:?}; {} pending at most",
            self.timeout,
            self.tcp.max_clients,
            self.tcp.max_per_client,
            self.tcp.idle_timeout,
            self.tcp.read_timeout,
            self.max_pending
        );
        match &self.cache {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "cache: {} entries, {} bytes, TTL {}..{} s, serve-stale {}",
                    c.max_entries,
                    c.max_bytes,
                    c.min_ttl,
                    c.max_ttl,
                    if c.serve_stale.is_some() { "on" } else { "off" }
                );
            }
            None => {
                let _ = writeln!(out, "cache: off");
            }
        }
        let _ = writeln!(
            out,
            "privacy: queries padded to 128-octet blocks; client subnet {}; query logging {}",
            if self.privacy.keep_ecs {
                "FORWARDED"
            } else {
                "stripped"
            },
            if self.log_queries { "ON" } else { "off" }
        );
        if let Some((uid, gid)) = self.user {
            let _ = writeln!(
                out,
                "runs as uid {uid}{} (started as root, it switches after binding); capabilities dropped after binding",
                gid.map(|g| format!(" gid {g}")).unwrap_or_default()
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("soon").is_err());
    }

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
    fn users() {
        assert_eq!(parse_user("65532").unwrap(), (65532, None));
        assert_eq!(parse_user("65532:65533").unwrap(), (65532, Some(65533)));
        assert!(parse_user("nobody").is_err());
    }
}
