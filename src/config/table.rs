//! The table of settings: one row per setting, with its flag, environment variable, policy
//! key, default, bounds, unit and help. The command line (`cli.rs`), the merge of the layers
//! (`merge.rs`), the range checks and their messages (`parse.rs`), `strictdot check` and the
//! README's flag table (`describe.rs`) are all read from here, so a default or a bound is
//! written once.
//!
//! The row's name is its long flag (`timeout` is `--timeout`). Structured policy sections
//! (`[[upstream]]` with per-upstream pins and CA files, `[[zone]]`) have no flag and are
//! read in `merge.rs`.

use std::time::Duration;

/// What a setting's value looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number from `min` to `max` (in the row's unit).
    Count {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// A duration (`4s`, `1500ms`, `2m`, `1h`, or a number of seconds) from `min` to `max`.
    Duration {
        /// Shortest accepted duration.
        min: Duration,
        /// Longest accepted duration.
        max: Duration,
    },
    /// On or off: a flag without a value (`true`/`false` in a policy, truthy/falsey in the
    /// environment).
    Switch,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// A socket address, `IP:PORT` (IPv6 in brackets).
    Address,
    /// An upstream, `IP[:PORT][#NAME]` (IPv6 in brackets).
    Upstream,
    /// An SPKI SHA-256 pin, base64.
    Pin,
    /// A client prefix, `ADDR[/LEN]`.
    Prefix,
    /// A numeric user, `UID[:GID]`.
    User,
    /// A file.
    File,
    /// A domain name (`corp.example`), absolute or not.
    Domain,
}

/// Where a default comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// No value unless one is given.
    Unset,
    /// This value, written as on the command line (lists separated by commas).
    Value(&'static str),
    /// A built-in value described in words (it lives beside the code that owns it).
    Builtin(&'static str),
}

/// One setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The long flag without dashes, also the setting's name in messages.
    pub name: &'static str,
    /// A one-letter flag, if any.
    pub short: Option<char>,
    /// The environment variable (repeatable settings take comma-separated lists there).
    pub env: &'static str,
    /// The policy key (`section.key`), if the policy file can set it.
    pub policy: Option<&'static str>,
    /// The value's form and bounds.
    pub kind: Kind,
    /// Repeatable: a list of values.
    pub list: bool,
    /// The default.
    pub default: DefaultValue,
    /// Unit of a count, in words ("entries"); durations carry their own.
    pub unit: &'static str,
    /// What 0 means, for counts where it turns something off.
    pub zero: Option<&'static str>,
    /// Why the bounds are what they are (an RFC, a resource), if worth saying.
    pub why: &'static str,
    /// The value's placeholder in help (`N`, `DURATION`, `ADDR:PORT`).
    pub value_name: &'static str,
    /// An example value, used in error messages.
    pub example: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// A running server takes a change of it only by restarting (not on SIGHUP).
    pub restart: bool,
}

/// The fields most rows share.
const ROW: Setting = Setting {
    name: "",
    short: None,
    env: "",
    policy: None,
    kind: Kind::Switch,
    list: false,
    default: DefaultValue::Unset,
    unit: "",
    zero: None,
    why: "",
    value_name: "N",
    example: "",
    help: "",
    restart: false,
};

/// A whole number from `min` to `max`.
const fn count(min: u64, max: u64) -> Kind {
    Kind::Count { min, max }
}

/// A duration from `min_ms` to `max_ms` milliseconds.
const fn duration(min_ms: u64, max_ms: u64) -> Kind {
    Kind::Duration {
        min: Duration::from_millis(min_ms),
        max: Duration::from_millis(max_ms),
    }
}

/// The rows, laid out as a table: one setting per block, its short fields first.
#[rustfmt::skip]
mod rows {
    use super::DefaultValue::{Builtin, Value};
    use super::{count, duration, Kind, Setting, ROW};

    /// `--policy`.
    pub const POLICY: Setting = Setting {
        name: "policy", env: "STRICTDOT_POLICY", kind: Kind::File, value_name: "FILE",
        example: "/etc/strictdot/policy.toml",
        help: "TOML policy file (policy/README.md); flags and environment variables override it. SIGHUP reloads it.",
        ..ROW
    };

    /// `--listen`.
    pub const LISTEN: Setting = Setting {
        name: "listen", short: Some('l'), env: "STRICTDOT_LISTEN", policy: Some("listen.addresses"),
        kind: Kind::Address, list: true, default: Value("127.0.0.1:53"), value_name: "ADDR:PORT",
        example: "127.0.0.1:5359", restart: true,
        help: "Address to serve plain DNS on, UDP and TCP on the same port. Repeatable.",
        ..ROW
    };

    /// `--upstream`.
    pub const UPSTREAM: Setting = Setting {
        name: "upstream", short: Some('u'), env: "STRICTDOT_UPSTREAM", policy: Some("[[upstream]]"),
        kind: Kind::Upstream, list: true,
        default: Value("1.1.1.1:853#cloudflare-dns.com,1.0.0.1:853#cloudflare-dns.com"),
        value_name: "IP[:PORT][#NAME]", example: "9.9.9.9:853#dns.quad9.net",
        help: "Upstream DoT resolver. The port defaults to 853. Put IPv6 addresses in brackets. `#NAME` is the authentication name. Repeatable.",
        ..ROW
    };

    /// `--pin-sha256`.
    pub const PIN_SHA256: Setting = Setting {
        name: "pin-sha256", env: "STRICTDOT_PIN_SHA256", policy: Some("[[upstream]] pins"), kind: Kind::Pin,
        list: true, value_name: "BASE64", example: "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=",
        help: "SPKI SHA-256 pin (RFC 7469) for the command-line upstreams. Repeatable. Combined with `#NAME`, both the name and a pin must hold.",
        ..ROW
    };

    /// `--ca-file`.
    pub const CA_FILE: Setting = Setting {
        name: "ca-file", env: "STRICTDOT_CA_FILE", kind: Kind::File, value_name: "PEM",
        example: "/etc/strictdot/ca.pem",
        help: "Extra trusted CA certificates, added to the compiled-in webpki roots.",
        ..ROW
    };

    /// `--tls-min-version`.
    pub const TLS_MIN_VERSION: Setting = Setting {
        name: "tls-min-version", env: "STRICTDOT_TLS_MIN_VERSION", policy: Some("tls_min_version"),
        kind: Kind::Choice(&["1.2", "1.3"]), default: Value("1.2"), value_name: "VERSION", example: "1.3",
        help: "Lowest TLS version accepted from upstreams.",
        ..ROW
    };

    /// `--warn-days`.
    pub const WARN_DAYS: Setting = Setting {
        name: "warn-days", env: "STRICTDOT_WARN_DAYS", kind: count(1, 3650), default: Value("30"),
        unit: "days", value_name: "DAYS", example: "30",
        help: "Warn this many days before an upstream certificate or a pin expires: `strictdot check --live` exits 1, and the server logs pins that expire (at start and reload) and an only matching pin that is an end-entity key (on the first handshake).",
        ..ROW
    };

    /// `--strategy`.
    pub const STRATEGY: Setting = Setting {
        name: "strategy", env: "STRICTDOT_STRATEGY", policy: Some("strategy"),
        kind: Kind::Choice(&["latency", "round-robin", "failover"]), default: Value("latency"),
        value_name: "STRATEGY", example: "failover",
        help: "Upstream choice: `latency` (lowest smoothed RTT, 3% exploration), `round-robin`, `failover` (first healthy). Failed upstreams are probed in the background.",
        ..ROW
    };

    /// `--timeout`.
    pub const TIMEOUT: Setting = Setting {
        name: "timeout", env: "STRICTDOT_TIMEOUT", policy: Some("limits.timeout"), kind: duration(100, 60_000),
        default: Value("4s"), value_name: "DURATION", example: "4s",
        why: "long enough for a handshake, shorter than any client waits",
        help: "End-to-end budget per query. After it runs out, the client gets SERVFAIL. Half of it bounds each connect and handshake.",
        ..ROW
    };

    /// `--max-tcp-clients`.
    pub const MAX_TCP_CLIENTS: Setting = Setting {
        name: "max-tcp-clients", env: "STRICTDOT_MAX_TCP_CLIENTS", policy: Some("limits.max_tcp_clients"),
        kind: count(1, 1_000_000), default: Value("1024"), unit: "connections", example: "1024", restart: true,
        help: "Concurrent client TCP connections. Connections above the limit are closed at once.",
        ..ROW
    };

    /// `--tcp-idle-timeout`.
    pub const TCP_IDLE_TIMEOUT: Setting = Setting {
        name: "tcp-idle-timeout", env: "STRICTDOT_TCP_IDLE_TIMEOUT", policy: Some("limits.tcp_idle_timeout"),
        kind: duration(100, 600_000), default: Value("10s"), value_name: "DURATION", example: "10s",
        restart: true,
        why: "RFC 7766 §6.2.3 suggests seconds",
        help: "Closes an idle client TCP connection after this long.",
        ..ROW
    };

    /// `--upstream-idle-timeout`.
    pub const UPSTREAM_IDLE_TIMEOUT: Setting = Setting {
        name: "upstream-idle-timeout", env: "STRICTDOT_UPSTREAM_IDLE_TIMEOUT",
        policy: Some("limits.upstream_idle_timeout"), kind: duration(100, 3_600_000), default: Value("30s"),
        value_name: "DURATION", example: "30s",
        help: "Closes an idle upstream connection after this long.",
        ..ROW
    };

    /// `--max-upstream-connections`.
    pub const MAX_UPSTREAM_CONNECTIONS: Setting = Setting {
        name: "max-upstream-connections", env: "STRICTDOT_MAX_UPSTREAM_CONNECTIONS",
        policy: Some("limits.max_upstream_connections"), kind: count(1, 64), default: Value("4"),
        unit: "connections", example: "4",
        why: "RFC 7766 §6.2.2 asks clients to keep few",
        help: "Authenticated connections per upstream, at most.",
        ..ROW
    };

    /// `--max-in-flight`.
    pub const MAX_IN_FLIGHT: Setting = Setting {
        name: "max-in-flight", env: "STRICTDOT_MAX_IN_FLIGHT", policy: Some("limits.max_in_flight"),
        kind: count(1, 4096), default: Value("128"), unit: "queries", example: "128",
        why: "the 16-bit ID space is shared per connection",
        help: "Queries in flight per upstream connection, at most.",
        ..ROW
    };

    /// `--allow`.
    pub const ALLOW: Setting = Setting {
        name: "allow", env: "STRICTDOT_ALLOW", policy: Some("listen.allow"), kind: Kind::Prefix, list: true,
        default: Builtin("loopback, RFC 1918, RFC 4193, link-local"), value_name: "CIDR", example: "10.0.0.0/8",
        help: "Client prefixes allowed to query. Repeatable; replaces the default list. Others get REFUSED (malformed messages from them get nothing).",
        ..ROW
    };

    /// `--rate-limit`.
    pub const RATE_LIMIT: Setting = Setting {
        name: "rate-limit", env: "STRICTDOT_RATE_LIMIT", policy: Some("limits.rate_limit"),
        kind: count(0, 10_000_000), default: Value("1000"), unit: "queries per second", zero: Some("off"),
        value_name: "QPS", example: "1000",
        help: "Sustained queries per second per client prefix; `0` turns rate limiting off.",
        ..ROW
    };

    /// `--rate-burst`.
    pub const RATE_BURST: Setting = Setting {
        name: "rate-burst", env: "STRICTDOT_RATE_BURST", policy: Some("limits.rate_burst"),
        kind: count(1, 10_000_000), default: Value("2000"), unit: "queries", example: "2000",
        help: "Queries a client prefix may send in a burst.",
        ..ROW
    };

    /// `--rate-limit-ipv4-prefix`.
    pub const RATE_LIMIT_IPV4_PREFIX: Setting = Setting {
        name: "rate-limit-ipv4-prefix", env: "STRICTDOT_RATE_LIMIT_IPV4_PREFIX",
        policy: Some("limits.rate_limit_ipv4_prefix"), kind: count(8, 32), default: Value("32"), unit: "bits",
        value_name: "LEN", example: "24",
        help: "IPv4 clients sharing this prefix share one bucket.",
        ..ROW
    };

    /// `--rate-limit-ipv6-prefix`.
    pub const RATE_LIMIT_IPV6_PREFIX: Setting = Setting {
        name: "rate-limit-ipv6-prefix", env: "STRICTDOT_RATE_LIMIT_IPV6_PREFIX",
        policy: Some("limits.rate_limit_ipv6_prefix"), kind: count(16, 128), default: Value("64"), unit: "bits",
        value_name: "LEN", example: "56",
        help: "IPv6 clients sharing this prefix share one bucket.",
        ..ROW
    };

    /// `--slip`.
    pub const SLIP: Setting = Setting {
        name: "slip", env: "STRICTDOT_SLIP", policy: Some("limits.slip"), kind: count(0, 100),
        default: Value("2"), zero: Some("drop all"), example: "2",
        help: "Over the limit, every Nth UDP query gets an empty TC=1 answer (so a real client falls back to TCP); the others are dropped. `0` drops all. Over TCP the answer is REFUSED.",
        ..ROW
    };

    /// `--rate-limit-max-clients`.
    pub const RATE_LIMIT_MAX_CLIENTS: Setting = Setting {
        name: "rate-limit-max-clients", env: "STRICTDOT_RATE_LIMIT_MAX_CLIENTS",
        policy: Some("limits.rate_limit_max_clients"), kind: count(1, 100_000_000), default: Value("100000"),
        unit: "prefixes", example: "100000",
        help: "Client prefixes with a bucket of their own at most; beyond it, new prefixes share one overflow bucket until idle ones are dropped (every 5 s). Established clients are never reset.",
        ..ROW
    };

    /// `--max-tcp-per-client`.
    pub const MAX_TCP_PER_CLIENT: Setting = Setting {
        name: "max-tcp-per-client", env: "STRICTDOT_MAX_TCP_PER_CLIENT",
        policy: Some("limits.max_tcp_per_client"), kind: count(1, 1_000_000), default: Value("64"),
        unit: "connections", example: "64", restart: true,
        help: "Concurrent TCP connections from one client address.",
        ..ROW
    };

    /// `--tcp-read-timeout`.
    pub const TCP_READ_TIMEOUT: Setting = Setting {
        name: "tcp-read-timeout", env: "STRICTDOT_TCP_READ_TIMEOUT", policy: Some("limits.tcp_read_timeout"),
        kind: duration(100, 120_000), default: Value("5s"), value_name: "DURATION", example: "5s", restart: true,
        help: "A started message must complete within this time from its first byte (no slowloris). Distinct from the idle timeout.",
        ..ROW
    };

    /// `--max-tcp-queries-per-connection`.
    pub const MAX_TCP_QUERIES_PER_CONNECTION: Setting = Setting {
        name: "max-tcp-queries-per-connection", env: "STRICTDOT_MAX_TCP_QUERIES_PER_CONNECTION",
        policy: Some("limits.max_tcp_queries_per_connection"), kind: count(1, 65_535), default: Value("64"),
        unit: "queries", example: "64", restart: true,
        help: "Queries in flight on one client TCP connection; reading pauses at the cap.",
        ..ROW
    };

    /// `--max-pending`.
    pub const MAX_PENDING: Setting = Setting {
        name: "max-pending", env: "STRICTDOT_MAX_PENDING", policy: Some("limits.max_pending"),
        kind: count(1, 10_000_000), default: Value("8192"), unit: "queries", example: "8192", restart: true,
        help: "Queries waiting for an upstream, all clients together; beyond it, SERVFAIL at once (no unbounded queue).",
        ..ROW
    };

    /// `--threads`.
    pub const THREADS: Setting = Setting {
        name: "threads", env: "STRICTDOT_THREADS", policy: Some("limits.threads"), kind: count(0, 1024),
        default: Value("0"), unit: "threads", zero: Some("one per core"), example: "2", restart: true,
        why: "0 follows the CPUs the process may use: affinity and a cgroup CPU quota",
        help: "Worker threads, and UDP sockets per listen address (SO_REUSEPORT). 0: one per core the process may use. Fewer than the cores leaves CPU to the services beside it.",
        ..ROW
    };

    /// `--cache-size`.
    pub const CACHE_SIZE: Setting = Setting {
        name: "cache-size", env: "STRICTDOT_CACHE_SIZE", policy: Some("cache.size"), kind: count(0, 100_000_000),
        default: Value("100000"), unit: "entries", zero: Some("off"), example: "100000",
        help: "Answer cache entries; `0` turns the cache off.",
        ..ROW
    };

    /// `--cache-max-bytes`.
    pub const CACHE_MAX_BYTES: Setting = Setting {
        name: "cache-max-bytes", env: "STRICTDOT_CACHE_MAX_BYTES", policy: Some("cache.max_bytes"),
        kind: count(4096, 1 << 40), default: Value("33554432"), unit: "bytes", value_name: "BYTES",
        example: "33554432",
        help: "Answer cache bytes.",
        ..ROW
    };

    /// `--cache-min-ttl`.
    pub const CACHE_MIN_TTL: Setting = Setting {
        name: "cache-min-ttl", env: "STRICTDOT_CACHE_MIN_TTL", policy: Some("cache.min_ttl"),
        kind: count(0, 604_800), default: Value("0"), unit: "seconds", value_name: "SECONDS", example: "60",
        why: "a week",
        help: "Raises cached TTLs below this to it (at most --cache-max-ttl).",
        ..ROW
    };

    /// `--cache-max-ttl`.
    pub const CACHE_MAX_TTL: Setting = Setting {
        name: "cache-max-ttl", env: "STRICTDOT_CACHE_MAX_TTL", policy: Some("cache.max_ttl"),
        kind: count(0, 604_800), default: Value("86400"), unit: "seconds", value_name: "SECONDS", example: "3600",
        why: "a week",
        help: "Lowers cached TTLs above this to it.",
        ..ROW
    };

    /// `--serve-stale`.
    pub const SERVE_STALE: Setting = Setting {
        name: "serve-stale", default: Value("false"), env: "STRICTDOT_SERVE_STALE",
        policy: Some("cache.serve_stale"), example: "true",
        help: "When every upstream fails, answer from expired entries (TTL 30, RFC 8767), up to a day past expiry.",
        ..ROW
    };

    /// `--dnssec`.
    pub const DNSSEC: Setting = Setting {
        name: "dnssec", env: "STRICTDOT_DNSSEC", policy: Some("dnssec.mode"),
        kind: Kind::Choice(&["validate", "off"]), default: Value("validate"), value_name: "MODE",
        example: "off",
        help: "Validate every forwarded answer with DNSSEC (RFC 4033-4035) from the root trust anchors; bogus answers get SERVFAIL with an Extended DNS Error. `off` passes answers on unchecked.",
        ..ROW
    };

    /// `--trust-anchor-file`.
    pub const TRUST_ANCHOR_FILE: Setting = Setting {
        name: "trust-anchor-file", env: "STRICTDOT_TRUST_ANCHOR_FILE",
        policy: Some("dnssec.trust_anchor_file"), kind: Kind::File, value_name: "FILE",
        default: Builtin("the root KSKs 20326 and 38696"), example: "/etc/strictdot/root.key",
        help: "DS or DNSKEY records in zone-file format to validate from instead of the root keys compiled in (a private root, tests).",
        ..ROW
    };

    /// `--insecure-zone`.
    pub const INSECURE_ZONE: Setting = Setting {
        name: "insecure-zone", env: "STRICTDOT_INSECURE_ZONE", policy: Some("dnssec.insecure_zones"),
        kind: Kind::Domain, list: true, value_name: "NAME", example: "corp.example",
        default: Builtin("the local zones and test, localhost, invalid, local, home.arpa, onion"),
        help: "A negative trust anchor (RFC 7646): answers at and under NAME are not validated (AD clear).",
        ..ROW
    };

    /// `--keep-ecs`.
    pub const KEEP_ECS: Setting = Setting {
        name: "keep-ecs", default: Value("false"), env: "STRICTDOT_KEEP_ECS", policy: Some("privacy.keep_ecs"),
        example: "true",
        help: "Forward clients' EDNS Client Subnet options (stripped by default: RFC 7871 §7.1.2).",
        ..ROW
    };

    /// `--log-queries`.
    pub const LOG_QUERIES: Setting = Setting {
        name: "log-queries", default: Value("false"), env: "STRICTDOT_LOG_QUERIES",
        policy: Some("privacy.log_queries"), example: "true",
        help: "Log each query (client address, name, type) at info level. Without it no query name or client address is logged.",
        ..ROW
    };

    /// `--metrics`.
    pub const METRICS: Setting = Setting {
        name: "metrics", env: "STRICTDOT_METRICS", policy: Some("listen.metrics"), kind: Kind::Address,
        value_name: "ADDR:PORT", example: "127.0.0.1:9153", restart: true,
        help: "Serve `/metrics`, `/health`, `/ready` over HTTP.",
        ..ROW
    };

    /// `--ready-file`.
    pub const READY_FILE: Setting = Setting {
        name: "ready-file", env: "STRICTDOT_READY_FILE", kind: Kind::File, value_name: "FILE",
        example: "/run/strictdot/ready", restart: true,
        help: "Created (atomically) while this instance is ready, as `/ready` reports it; removed when it drains and, if left over, at start. `strictdot healthcheck --ready-file FILE` checks this instance, not whichever one answers a shared `--metrics` port.",
        ..ROW
    };

    /// `--listen-tls`.
    pub const LISTEN_TLS: Setting = Setting {
        name: "listen-tls", env: "STRICTDOT_LISTEN_TLS", policy: Some("listen.tls"), kind: Kind::Address,
        list: true, value_name: "ADDR:PORT", example: "127.0.0.1:853", restart: true,
        help: "Serve DNS-over-TLS to clients (repeatable); needs `--tls-cert` and `--tls-key` (PEM).",
        ..ROW
    };

    /// `--tls-cert`.
    pub const TLS_CERT: Setting = Setting {
        name: "tls-cert", env: "STRICTDOT_TLS_CERT", policy: Some("listen.tls_cert"), kind: Kind::File,
        value_name: "PEM", example: "/etc/strictdot/cert.pem", restart: true,
        help: "Certificate chain (PEM) for `--listen-tls`.",
        ..ROW
    };

    /// `--tls-key`.
    pub const TLS_KEY: Setting = Setting {
        name: "tls-key", env: "STRICTDOT_TLS_KEY", policy: Some("listen.tls_key"), kind: Kind::File,
        value_name: "PEM", example: "/etc/strictdot/key.pem", restart: true,
        help: "Private key (PEM) for `--listen-tls`.",
        ..ROW
    };

    /// `--tls-handshake-rate`.
    pub const TLS_HANDSHAKE_RATE: Setting = Setting {
        name: "tls-handshake-rate", env: "STRICTDOT_TLS_HANDSHAKE_RATE",
        policy: Some("limits.tls_handshake_rate"), kind: count(0, 1_000_000), default: Value("20"),
        unit: "handshakes per second", zero: Some("off"), example: "20", restart: true,
        help: "Client TLS handshakes per second per /24 (IPv6 /56) on the `--listen-tls` listeners.",
        ..ROW
    };

    /// `--user`.
    pub const USER: Setting = Setting {
        name: "user", env: "STRICTDOT_USER", policy: Some("listen.user"), kind: Kind::User,
        value_name: "UID[:GID]", example: "65532:65532", restart: true,
        help: "When started as root, switch to this numeric user after binding.",
        ..ROW
    };

    /// `--log-format`.
    pub const LOG_FORMAT: Setting = Setting {
        name: "log-format", env: "STRICTDOT_LOG_FORMAT", kind: Kind::Choice(&["text", "json"]),
        default: Value("text"), value_name: "FORMAT", example: "json", restart: true,
        help: "Log line format.",
        ..ROW
    };

    /// `--log-level`.
    pub const LOG_LEVEL: Setting = Setting {
        name: "log-level", env: "STRICTDOT_LOG_LEVEL",
        kind: Kind::Choice(&["error", "warn", "info", "debug", "trace"]), default: Value("info"),
        value_name: "LEVEL", example: "debug", restart: true,
        help: "Log verbosity. Logs go to stderr.",
        ..ROW
    };
}

pub use rows::*;

/// Every setting, in the order of `--help` and the README.
pub const SETTINGS: &[&Setting] = &[
    &LISTEN,
    &UPSTREAM,
    &PIN_SHA256,
    &CA_FILE,
    &TLS_MIN_VERSION,
    &WARN_DAYS,
    &TIMEOUT,
    &MAX_TCP_CLIENTS,
    &TCP_IDLE_TIMEOUT,
    &UPSTREAM_IDLE_TIMEOUT,
    &MAX_UPSTREAM_CONNECTIONS,
    &MAX_IN_FLIGHT,
    &ALLOW,
    &RATE_LIMIT,
    &RATE_BURST,
    &RATE_LIMIT_IPV4_PREFIX,
    &RATE_LIMIT_IPV6_PREFIX,
    &SLIP,
    &RATE_LIMIT_MAX_CLIENTS,
    &MAX_TCP_PER_CLIENT,
    &TCP_READ_TIMEOUT,
    &MAX_TCP_QUERIES_PER_CONNECTION,
    &MAX_PENDING,
    &THREADS,
    &KEEP_ECS,
    &LOG_QUERIES,
    &POLICY,
    &STRATEGY,
    &CACHE_SIZE,
    &CACHE_MAX_BYTES,
    &CACHE_MIN_TTL,
    &CACHE_MAX_TTL,
    &SERVE_STALE,
    &DNSSEC,
    &TRUST_ANCHOR_FILE,
    &INSECURE_ZONE,
    &METRICS,
    &READY_FILE,
    &LISTEN_TLS,
    &TLS_CERT,
    &TLS_KEY,
    &TLS_HANDSHAKE_RATE,
    &USER,
    &LOG_FORMAT,
    &LOG_LEVEL,
];

/// The setting named `name` (its long flag).
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().copied().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_variables_are_unique_and_follow_one_rule() {
        for (i, s) in SETTINGS.iter().enumerate() {
            let env = format!("STRICTDOT_{}", s.name.replace('-', "_").to_uppercase());
            assert_eq!(s.env, env, "{}", s.name);
            assert!(!s.help.is_empty() && !s.example.is_empty(), "{}", s.name);
            assert!(
                SETTINGS[i + 1..].iter().all(|o| o.name != s.name),
                "{} twice",
                s.name
            );
        }
    }

    /// The bounds are in order; that each default and example parses within them is
    /// `parse::tests::every_default_and_example_parses` (the parser imports the table).
    #[test]
    fn bounds_are_in_order() {
        for s in SETTINGS {
            if let Kind::Count { min, max } = s.kind {
                assert!(min <= max, "{}", s.name);
                assert!(s.zero.is_none() || min == 0, "{}", s.name);
            }
            if let Kind::Duration { min, max } = s.kind {
                assert!(min <= max && !min.is_zero(), "{}", s.name);
            }
        }
    }
}
