//! The TOML policy file: its schema, and parsing only (validation into a `Config` happens
//! in `config/merge.rs`, which imports this module, not the reverse). Unknown keys are refused,
//! and every error names its line and column.
//!
//! ```toml
//! strategy = "latency"             # latency | round-robin | failover
//! tls_min_version = "1.2"          # "1.2" | "1.3"
//!
//! [listen]
//! addresses = ["127.0.0.1:53"]
//! metrics = "127.0.0.1:9153"
//! allow = ["127.0.0.0/8", "10.0.0.0/8"]
//!
//! [[upstream]]
//! name = "quad9"
//! address = "9.9.9.9:853"
//! auth_name = "dns.quad9.net"
//! ca_file = "/etc/strictdot/private-ca.pem"    # optional, added to the web PKI roots
//! pins = [{ sha256 = "base64…", comment = "current key", expires = "2027-06-30" }]
//!
//! [[zone]]                          # plain DNS to a local server, for a local zone only
//! name = "cluster.local"
//! forward = ["10.96.0.10:53"]
//! unencrypted = true                # required: says out loud this hop is cleartext
//!
//! [limits]                          # same names as the command-line flags
//! timeout = "4s"
//! rate_limit = 1000
//!
//! [cache]
//! size = 100000
//! serve_stale = true
//!
//! [privacy]
//! keep_ecs = false
//! log_queries = false
//!
//! [dnssec]
//! mode = "validate"
//! insecure_zones = ["corp.example"]
//! ```

use serde::Deserialize;

/// A whole policy file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Upstream selection strategy.
    pub strategy: Option<String>,
    /// Lowest TLS version to the upstreams.
    pub tls_min_version: Option<String>,
    /// Listening sockets and client access.
    pub listen: Option<ListenPolicy>,
    /// Upstreams, in order.
    #[serde(default, rename = "upstream")]
    pub upstreams: Vec<UpstreamPolicy>,
    /// Local zones forwarded in cleartext to local servers.
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZonePolicy>,
    /// Limits and timeouts.
    pub limits: Option<LimitsPolicy>,
    /// The answer cache.
    pub cache: Option<CachePolicy>,
    /// Privacy settings.
    pub privacy: Option<PrivacyPolicy>,
    /// DNSSEC validation.
    pub dnssec: Option<DnssecPolicy>,
    /// The same document as a TOML table, so settings are read by the key the settings
    /// table names (`limits.timeout`) without spelling each key again.
    #[serde(skip)]
    raw: toml::Table,
}

impl Policy {
    /// The value of a `section.key` (or top-level `key`) as text: a string as written, a
    /// number or boolean printed, an array element by element; `None` when absent.
    pub fn value(&self, key: &str) -> Option<Vec<String>> {
        let mut parts = key.split('.');
        let mut value = self.raw.get(parts.next()?)?;
        for part in parts {
            value = value.as_table()?.get(part)?;
        }
        fn text(v: &toml::Value) -> Option<String> {
            match v {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(i) => Some(i.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            }
        }
        match value {
            toml::Value::Array(items) => items.iter().map(text).collect(),
            v => text(v).map(|t| vec![t]),
        }
    }
}

/// `[listen]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ListenPolicy {
    /// Plain DNS listen addresses (UDP and TCP).
    pub addresses: Option<Vec<String>>,
    /// DNS-over-TLS listen addresses for clients.
    pub tls: Option<Vec<String>>,
    /// Certificate chain (PEM) for the TLS listeners.
    pub tls_cert: Option<String>,
    /// Private key (PEM) for the TLS listeners.
    pub tls_key: Option<String>,
    /// The operations endpoint.
    pub metrics: Option<String>,
    /// Client prefixes allowed to query.
    pub allow: Option<Vec<String>>,
    /// Numeric user (and optional group, `UID[:GID]`) to switch to after binding.
    pub user: Option<String>,
}

/// One `[[upstream]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPolicy {
    /// A name for logs and `strictdot check`.
    pub name: String,
    /// `IP[:PORT]`, IPv6 always in brackets (`[2620:fe::fe]:853`).
    pub address: String,
    /// The authentication domain name.
    pub auth_name: Option<String>,
    /// SPKI pins.
    #[serde(default)]
    pub pins: Vec<PinPolicy>,
    /// Extra CA certificates (PEM) trusted for this upstream only.
    pub ca_file: Option<String>,
}

/// One pin of an upstream.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PinPolicy {
    /// Base64 SHA-256 of the SubjectPublicKeyInfo (RFC 7469).
    pub sha256: String,
    /// What the key is (free text).
    pub comment: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`) the pin is used; after it, it is ignored.
    pub expires: Option<String>,
}

/// One `[[zone]]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZonePolicy {
    /// The zone (`cluster.local`); its names and all below it.
    pub name: String,
    /// Plain DNS servers (`IP[:PORT]`, port 53 by default); loopback or private only.
    pub forward: Vec<String>,
    /// Must be `true`: the hop to these servers is not encrypted.
    #[serde(default)]
    pub unencrypted: bool,
    /// Free text.
    pub comment: Option<String>,
}

/// `[limits]`: the command-line limits, same names with `_`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsPolicy {
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--rate-limit`.
    pub rate_limit: Option<u32>,
    /// `--rate-burst`.
    pub rate_burst: Option<u32>,
    /// `--rate-limit-ipv4-prefix`.
    pub rate_limit_ipv4_prefix: Option<u8>,
    /// `--rate-limit-ipv6-prefix`.
    pub rate_limit_ipv6_prefix: Option<u8>,
    /// `--slip`.
    pub slip: Option<u32>,
    /// `--rate-limit-max-clients`.
    pub rate_limit_max_clients: Option<usize>,
    /// `--max-tcp-clients`.
    pub max_tcp_clients: Option<usize>,
    /// `--max-tcp-per-client`.
    pub max_tcp_per_client: Option<usize>,
    /// `--max-tcp-queries-per-connection`.
    pub max_tcp_queries_per_connection: Option<usize>,
    /// `--tcp-idle-timeout`.
    pub tcp_idle_timeout: Option<String>,
    /// `--tcp-read-timeout`.
    pub tcp_read_timeout: Option<String>,
    /// `--max-pending`.
    pub max_pending: Option<usize>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--max-upstream-connections`.
    pub max_upstream_connections: Option<usize>,
    /// `--max-in-flight`.
    pub max_in_flight: Option<usize>,
    /// `--upstream-idle-timeout`.
    pub upstream_idle_timeout: Option<String>,
    /// TLS handshakes per second per client prefix on the TLS listeners.
    pub tls_handshake_rate: Option<u32>,
}

/// `[cache]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CachePolicy {
    /// `--cache-size`.
    pub size: Option<usize>,
    /// `--cache-max-bytes`.
    pub max_bytes: Option<usize>,
    /// `--cache-min-ttl`.
    pub min_ttl: Option<u32>,
    /// `--cache-max-ttl`.
    pub max_ttl: Option<u32>,
    /// `--serve-stale`.
    pub serve_stale: Option<bool>,
}

/// `[privacy]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyPolicy {
    /// `--keep-ecs`.
    pub keep_ecs: Option<bool>,
    /// `--log-queries`.
    pub log_queries: Option<bool>,
}

/// `[dnssec]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DnssecPolicy {
    /// `--dnssec`: `validate` or `off`.
    pub mode: Option<String>,
    /// `--trust-anchor-file`.
    pub trust_anchor_file: Option<String>,
    /// `--insecure-zone`, each a negative trust anchor.
    pub insecure_zones: Option<Vec<String>>,
}

/// Why a policy file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy {path}: {error}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        error: String,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("policy {path}, line {line}, column {column}: {message}")]
    Syntax {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parses policy text; `path` names it in errors.
pub fn parse(text: &str, path: &str) -> Result<Policy, PolicyError> {
    let syntax = |e: toml::de::Error| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((0, 0));
        PolicyError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    };
    let mut policy: Policy = toml::from_str(text).map_err(syntax)?;
    policy.raw = toml::from_str(text).map_err(syntax)?;
    Ok(policy)
}

/// Reads and parses a policy file.
pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
        path: shown.clone(),
        error: e.to_string(),
    })?;
    parse(&text, &shown)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let doc = include_str!("policy.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! "))
            .skip_while(|l| !l.starts_with("```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .collect::<Vec<_>>()
            .join("\n");
        let p = parse(&doc, "doc").unwrap();
        assert_eq!(p.upstreams.len(), 1);
        assert_eq!(
            p.upstreams[0].pins[0].expires.as_deref(),
            Some("2027-06-30")
        );
        assert_eq!(p.zones[0].name, "cluster.local");
        assert_eq!(p.value("limits.timeout"), Some(vec!["4s".to_owned()]));
        assert_eq!(p.value("limits.rate_limit"), Some(vec!["1000".to_owned()]));
        assert_eq!(p.value("cache.serve_stale"), Some(vec!["true".to_owned()]));
        assert_eq!(
            p.value("listen.allow"),
            Some(vec!["127.0.0.0/8".to_owned(), "10.0.0.0/8".to_owned()])
        );
        assert_eq!(p.value("limits.slip"), None);
        assert_eq!(p.value("upstream"), None);
    }

    #[test]
    fn unknown_keys_refused_with_line() {
        let err = parse(
            "strategy = \"latency\"\n[limits]\ntimout = \"4s\"\n",
            "p.toml",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("timout"), "{text}");
    }
}
