//! Command-line definitions (clap derive). Every proxy flag can also be set from an
//! environment variable `STRICTDOT_…`; repeatable flags take comma-separated lists there.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::acl::Cidr;
use crate::pin::Pin;
use crate::upstream::tls::TlsMinVersion;
use crate::upstream_spec::UpstreamSpec;

/// strictdot: plain DNS in, strictly authenticated DNS-over-TLS out.
#[derive(Debug, Parser)]
#[command(name = "strictdot", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A subcommand; without one, strictdot runs the forwarder.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Forwarder options.
    #[command(flatten)]
    pub proxy: ProxyArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the SPKI SHA-256 pin of every certificate a server presents (or of a PEM file).
    Pin(PinArgs),
    /// Exit 0 if a running strictdot's --metrics endpoint reports ready (for HEALTHCHECK).
    Healthcheck(HealthArgs),
    /// Validate a policy file and print how each upstream will be authenticated.
    Check(CheckArgs),
}

/// Options of the forwarder.
#[derive(Clone, Debug, Args)]
pub struct ProxyArgs {
    /// TOML policy file (see policy/README.md); flags and environment variables override it.
    #[arg(long = "policy", value_name = "FILE", env = "STRICTDOT_POLICY")]
    pub policy: Option<PathBuf>,

    /// Address to serve DNS-over-TLS to clients on (repeatable; needs --tls-cert, --tls-key).
    #[arg(
        long = "listen-tls",
        value_name = "ADDR:PORT",
        env = "STRICTDOT_LISTEN_TLS",
        value_delimiter = ','
    )]
    pub listen_tls: Vec<SocketAddr>,

    /// Certificate chain (PEM) for --listen-tls.
    #[arg(long = "tls-cert", value_name = "PEM", env = "STRICTDOT_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) for --listen-tls.
    #[arg(long = "tls-key", value_name = "PEM", env = "STRICTDOT_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// When started as root: switch to this numeric user (UID or UID:GID) after binding.
    #[arg(long = "user", value_name = "UID[:GID]", env = "STRICTDOT_USER")]
    pub user: Option<String>,

    /// Address to serve plain DNS on, UDP and TCP (repeatable).
    #[arg(
        short = 'l',
        long = "listen",
        value_name = "ADDR:PORT",
        env = "STRICTDOT_LISTEN",
        value_delimiter = ',',
        default_value = "127.0.0.1:53"
    )]
    pub listen: Vec<SocketAddr>,

    /// Upstream DoT resolver as IP[:PORT][#AUTH_NAME], IPv6 in brackets; port 853 by
    /// default (repeatable). Default: 1.1.1.1 and 1.0.0.1, name cloudflare-dns.com.
    #[arg(
        short = 'u',
        long = "upstream",
        value_name = "IP[:PORT][#NAME]",
        env = "STRICTDOT_UPSTREAM",
        value_delimiter = ','
    )]
    pub upstream: Vec<UpstreamSpec>,

    /// SPKI SHA-256 pin (RFC 7469, base64) for the command-line upstreams (repeatable;
    /// give a backup pin too). With #NAME, both the name and a pin must hold.
    #[arg(
        long = "pin-sha256",
        value_name = "BASE64",
        env = "STRICTDOT_PIN_SHA256",
        value_delimiter = ','
    )]
    pub pin_sha256: Vec<Pin>,

    /// Extra trusted CA certificates (PEM), added to the compiled-in web PKI roots.
    #[arg(long = "ca-file", value_name = "PEM", env = "STRICTDOT_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Lowest TLS version to accept from upstreams.
    #[arg(
        long = "tls-min-version",
        value_enum,
        env = "STRICTDOT_TLS_MIN_VERSION",
        default_value = "1.2"
    )]
    pub tls_min_version: TlsMinVersion,

    /// End-to-end budget per query (e.g. 4s, 1500ms); after it the client gets SERVFAIL.
    #[arg(long = "timeout", value_name = "DURATION", env = "STRICTDOT_TIMEOUT",
          default_value = "4s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How to choose among healthy upstreams: latency (lowest smoothed RTT, with
    /// occasional exploration), round-robin, or failover (first healthy in order).
    #[arg(
        long = "strategy",
        value_enum,
        env = "STRICTDOT_STRATEGY",
        default_value = "latency"
    )]
    pub strategy: crate::upstream::pool::Strategy,

    /// Maximum concurrent TCP client connections.
    #[arg(
        long = "max-tcp-clients",
        value_name = "N",
        env = "STRICTDOT_MAX_TCP_CLIENTS",
        default_value_t = 1024
    )]
    pub max_tcp_clients: usize,

    /// Close an idle client TCP connection after this long.
    #[arg(long = "tcp-idle-timeout", value_name = "DURATION",
          env = "STRICTDOT_TCP_IDLE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub tcp_idle_timeout: Duration,

    /// Close an idle upstream connection after this long.
    #[arg(long = "upstream-idle-timeout", value_name = "DURATION",
          env = "STRICTDOT_UPSTREAM_IDLE_TIMEOUT", default_value = "30s",
          value_parser = parse_duration)]
    pub upstream_idle_timeout: Duration,

    /// Authenticated connections per upstream at most.
    #[arg(
        long = "max-upstream-connections",
        value_name = "N",
        env = "STRICTDOT_MAX_UPSTREAM_CONNECTIONS",
        default_value_t = 4
    )]
    pub max_upstream_connections: usize,

    /// Queries in flight per upstream connection at most.
    #[arg(
        long = "max-in-flight",
        value_name = "N",
        env = "STRICTDOT_MAX_IN_FLIGHT",
        default_value_t = 128
    )]
    pub max_in_flight: usize,

    /// Client prefix allowed to query (repeatable). Default: loopback, RFC 1918, RFC 4193
    /// unique local and link-local ranges; others get REFUSED.
    #[arg(
        long = "allow",
        value_name = "CIDR",
        env = "STRICTDOT_ALLOW",
        value_delimiter = ','
    )]
    pub allow: Vec<Cidr>,

    /// Sustained queries per second per client prefix (0: no rate limiting).
    #[arg(long = "rate-limit", value_name = "QPS", env = "STRICTDOT_RATE_LIMIT",
          default_value_t = crate::config::DEFAULT_RATE_QPS)]
    pub rate_limit: u32,

    /// Queries a client prefix may send in a burst above the sustained rate.
    #[arg(long = "rate-burst", value_name = "N", env = "STRICTDOT_RATE_BURST",
          default_value_t = crate::config::DEFAULT_RATE_BURST)]
    pub rate_burst: u32,

    /// Prefix length that groups IPv4 clients for rate limiting.
    #[arg(
        long = "rate-limit-ipv4-prefix",
        value_name = "LEN",
        env = "STRICTDOT_RATE_LIMIT_IPV4_PREFIX",
        default_value_t = 32
    )]
    pub rate_limit_ipv4_prefix: u8,

    /// Prefix length that groups IPv6 clients for rate limiting.
    #[arg(
        long = "rate-limit-ipv6-prefix",
        value_name = "LEN",
        env = "STRICTDOT_RATE_LIMIT_IPV6_PREFIX",
        default_value_t = 64
    )]
    pub rate_limit_ipv6_prefix: u8,

    /// Over the rate limit, answer every Nth UDP query with an empty TC=1 answer so a real
    /// client retries over TCP (0: drop them all).
    #[arg(
        long = "slip",
        value_name = "N",
        env = "STRICTDOT_SLIP",
        default_value_t = 2
    )]
    pub slip: u32,

    /// Client prefixes the rate limiter tracks at most.
    #[arg(
        long = "rate-limit-max-clients",
        value_name = "N",
        env = "STRICTDOT_RATE_LIMIT_MAX_CLIENTS",
        default_value_t = 100_000
    )]
    pub rate_limit_max_clients: usize,

    /// Maximum concurrent TCP connections from one client address.
    #[arg(
        long = "max-tcp-per-client",
        value_name = "N",
        env = "STRICTDOT_MAX_TCP_PER_CLIENT",
        default_value_t = 64
    )]
    pub max_tcp_per_client: usize,

    /// Close a client TCP connection whose started message does not complete in this time.
    #[arg(long = "tcp-read-timeout", value_name = "DURATION",
          env = "STRICTDOT_TCP_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub tcp_read_timeout: Duration,

    /// Queries in flight at once on one client TCP connection (reading pauses beyond).
    #[arg(
        long = "max-tcp-queries-per-connection",
        value_name = "N",
        env = "STRICTDOT_MAX_TCP_QUERIES_PER_CONNECTION",
        default_value_t = 64
    )]
    pub max_tcp_queries_per_connection: usize,

    /// Queries waiting for an upstream at once, all clients together; beyond it, SERVFAIL.
    #[arg(
        long = "max-pending",
        value_name = "N",
        env = "STRICTDOT_MAX_PENDING",
        default_value_t = 8192
    )]
    pub max_pending: usize,

    /// Answer cache capacity in entries (0: no cache).
    #[arg(long = "cache-size", value_name = "N", env = "STRICTDOT_CACHE_SIZE",
          default_value_t = crate::config::DEFAULT_CACHE_ENTRIES)]
    pub cache_size: usize,

    /// Answer cache capacity in bytes of stored answers.
    #[arg(long = "cache-max-bytes", value_name = "BYTES", env = "STRICTDOT_CACHE_MAX_BYTES",
          default_value_t = crate::config::DEFAULT_CACHE_BYTES)]
    pub cache_max_bytes: usize,

    /// Raise cached TTLs below this many seconds to it.
    #[arg(
        long = "cache-min-ttl",
        value_name = "SECONDS",
        env = "STRICTDOT_CACHE_MIN_TTL",
        default_value_t = 0
    )]
    pub cache_min_ttl: u32,

    /// Lower cached TTLs above this many seconds to it.
    #[arg(
        long = "cache-max-ttl",
        value_name = "SECONDS",
        env = "STRICTDOT_CACHE_MAX_TTL",
        default_value_t = 86_400
    )]
    pub cache_max_ttl: u32,

    /// When every upstream fails, answer from expired cache entries (TTL 30, RFC 8767)
    /// up to a day past their expiry.
    #[arg(long = "serve-stale", env = "STRICTDOT_SERVE_STALE")]
    pub serve_stale: bool,

    /// Forward clients' EDNS Client Subnet options upstream (stripped by default, as they
    /// reveal the client's network: RFC 7871 §7.1.2).
    #[arg(long = "keep-ecs", env = "STRICTDOT_KEEP_ECS")]
    pub keep_ecs: bool,

    /// Log every query (client address, name, type) at info level. Off by default.
    #[arg(long = "log-queries", env = "STRICTDOT_LOG_QUERIES")]
    pub log_queries: bool,

    /// Serve Prometheus /metrics, /health (liveness) and /ready (readiness) over HTTP here.
    #[arg(long = "metrics", value_name = "ADDR:PORT", env = "STRICTDOT_METRICS")]
    pub metrics: Option<SocketAddr>,

    /// Log format.
    #[arg(
        long = "log-format",
        value_enum,
        env = "STRICTDOT_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Log verbosity.
    #[arg(
        long = "log-level",
        value_enum,
        env = "STRICTDOT_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: LogLevel,
}

/// Log formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log verbosity levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings (upstream failures).
    Warn,
    /// Start-up, upstream state changes.
    Info,
    /// Per-query outcomes (no names unless asked).
    Debug,
    /// Everything.
    Trace,
}

/// Options of `strictdot pin`.
#[derive(Debug, Args)]
pub struct PinArgs {
    /// Server to read the chain from: IP[:PORT][#NAME] (port 853 by default).
    #[arg(
        value_name = "IP[:PORT][#NAME]",
        required_unless_present = "cert",
        conflicts_with = "cert"
    )]
    pub server: Option<UpstreamSpec>,

    /// Name to send as SNI (same as #NAME).
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_name: Option<String>,

    /// Read certificates from this PEM file instead of a server.
    #[arg(long = "cert", value_name = "PEM")]
    pub cert: Option<PathBuf>,

    /// Give up on the server after this long.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "5s",
          value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Options of `strictdot check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The policy file to check.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: PathBuf,
}

/// Options of `strictdot healthcheck`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The --metrics address of the running strictdot.
    #[arg(
        long = "metrics",
        value_name = "ADDR:PORT",
        env = "STRICTDOT_METRICS",
        default_value = "127.0.0.1:9153"
    )]
    pub metrics: SocketAddr,

    /// Check liveness (/health) instead of readiness (/ready).
    #[arg(long = "live")]
    pub live: bool,

    /// Give up after this long.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "3s",
          value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Parses `4s`, `1500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (examples: 4s, 1500ms, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!(
            "'{s}' is out of range (more than 0, at most a day)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("4s").unwrap(), Duration::from_secs(4));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        for bad in ["", "0", "-1s", "5h", "x", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
