//! The configuration: one table of settings, one merge of the layers that set them, one
//! validated [`Config`].
//!
//! ```text
//! table.rs     one row per setting: flag, variable, policy key, default, bounds, unit, help
//! parse.rs     one value's text -> its value, checked against its row, with the row's message;
//!              a value with its origin (Given, Found)
//! sealed.rs    the sealed Config (no public constructor or field); restart_needed
//! builder.rs   the ConfigBuilder: every value checked, TLS configurations and zones built
//! sections.rs  the policy's [[upstream]] (pins and their expiry, CA files) and [[zone]]
//! merge.rs     the layers (default < policy file < environment < flag) -> a ConfigBuilder;
//!              Config::builder (the table's defaults)
//! describe.rs  the configuration in words (`strictdot check`) and the README's flag table
//! ```
//!
//! Each file imports only files listed above it (and this module's errors), so there is no
//! cycle; `tests/module_graph.rs` checks that, and that no runtime module imports this one.
//! Out-of-range settings are refused, never clamped.

mod builder;
mod describe;
pub mod merge;
pub mod parse;
mod sealed;
mod sections;
pub mod table;

use std::time::Duration;

pub use builder::ConfigBuilder;
pub use describe::flag_table;
pub use merge::{Environment, Layer, ProcessEnvironment, Sources};
pub use parse::{Found, Origin};
pub use sealed::{Config, TlsListener};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// How long past expiry an entry may still be served with `--serve-stale` (RFC 8767 §5
/// suggests one to three days).
pub const STALE_WINDOW: Duration = Duration::from_secs(86_400);

/// Reads every certificate of a PEM file. An unreadable file, one that is not PEM, or
/// one without a single certificate is an error.
pub fn read_pem_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| ConfigError::CaFile(shown.clone(), e.to_string()))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let cert = item.map_err(|e| ConfigError::CaFile(shown.clone(), format!("bad PEM: {e}")))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(ConfigError::CaFile(
            shown,
            "no PEM certificate in it".to_owned(),
        ));
    }
    Ok(certs)
}

/// Log formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Log verbosity levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A configuration problem; strictdot refuses to start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting's value does not parse or is out of range.
    #[error("{at}: {problem}; expected {expected}, e.g. {example}")]
    Setting {
        /// The value as written, where it was written (`--timeout 0`).
        at: String,
        /// What is wrong with it.
        problem: String,
        /// What the setting accepts.
        expected: String,
        /// An example, written the same way.
        example: String,
    },
    /// A setting that needs a value has none (the table gives every such setting a default).
    #[error("--{0} has no value")]
    Missing(&'static str),
    /// An environment variable is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// A lower bound above its upper bound.
    #[error("--{min} must be at most --{max}")]
    MinAboveMax {
        /// The lower bound's setting.
        min: &'static str,
        /// The upper bound's setting.
        max: &'static str,
    },
    /// RFC 8310 strict profile: every upstream needs a name or a pin.
    #[error("upstream {0} has neither an authentication name (#NAME) nor --pin-sha256; the strict profile refuses to run unauthenticated")]
    NoAuthentication(String),
    /// Every pin of a policy upstream has expired: dropping them would weaken its
    /// authentication, so strictdot refuses to start (or to reload).
    #[error("upstream {upstream}: every pin has expired ({pins}); strictdot will not weaken its authentication. To fix: {fix}")]
    PinsExpired {
        /// The upstream (name and address).
        upstream: String,
        /// The pins and their dates.
        pins: String,
        /// What to do.
        fix: &'static str,
    },
    /// A setting that would be ignored: an error, not a silence.
    #[error("{at} would be ignored: {why}")]
    Ignored {
        /// The setting as written.
        at: String,
        /// Why it does not apply, and what to do.
        why: &'static str,
    },
    /// A policy file that names no upstream, with none given by flag or variable.
    #[error("{0} names no [[upstream]] and no --upstream is given; strictdot does not fall back to its built-in upstreams when a policy is used (an empty or truncated file would send every query where nobody chose)")]
    PolicyWithoutUpstream(String),
    /// No upstream at all.
    #[error("no upstream given")]
    NoUpstream,
    /// The trust anchor file could not be used.
    #[error("trust anchor file {0}: {1}")]
    TrustAnchorFile(String, String),
    /// A CA file could not be used.
    #[error("CA file {0}: {1}")]
    CaFile(String, String),
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
