//! `strictdot check`: validates the configuration the server would run with (the same
//! flags, environment and `--policy`) and prints it in words; with `--live`, also connects
//! to every upstream with the server's own TLS configuration and verifier (the sealed
//! [`Config`]'s endpoints: no second verifier exists) and reports, per upstream, whether it
//! authenticated and why not, which configured pin matched and where on the path, whether a
//! backup pin remains, and when the certificates and the pins expire.
//!
//! Exit status: 0 when every upstream authenticates and nothing expires within
//! `--warn-days`; 1 when an upstream fails or something expires within that window; 2 for
//! a configuration or usage error. Fit for cron, CI, or a Kubernetes init container.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{CheckArgs, CheckFormat};
use crate::config::{Config, Layer, Sources};
use crate::upstream::conn::ConnectError;
use crate::upstream::expiry::{days_left, now_secs, utc_time};
use crate::upstream::pool::{Endpoint, UpstreamConfig};
use crate::upstream::verify::Verified;

/// Runs the subcommand with the environment's settings layer.
pub fn main(args: &CheckArgs, env: &Layer) -> ExitCode {
    let loaded = Sources::read(args.proxy.flags.clone(), env.clone())
        .and_then(|sources| Ok((sources.load()?, sources.policy_path())));
    let (config, policy) = match loaded {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strictdot check: error: {e}");
            return ExitCode::from(2);
        }
    };
    let head = match &policy {
        Some(path) => format!("policy {}: valid", path.display()),
        None => "configuration: valid".to_owned(),
    };
    if !args.live {
        println!("{head}");
        print!("{}", config.describe());
        return ExitCode::SUCCESS;
    }
    let report = match live(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strictdot check: error: {e}");
            return ExitCode::from(1);
        }
    };
    match args.format {
        CheckFormat::Text => print!("{head}\n{}", report.text()),
        CheckFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("strictdot check: error: {e}");
                return ExitCode::from(1);
            }
        },
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What `check --live` found (also its JSON form).
#[derive(Debug, Serialize)]
pub struct Report {
    /// Every upstream authenticated and nothing expires within `warn_days`.
    pub ok: bool,
    /// The warning window, in days (`--warn-days`).
    pub warn_days: i64,
    /// When the check ran (RFC 3339, UTC).
    pub checked_at: String,
    /// One entry per configured upstream, in order.
    pub upstreams: Vec<UpstreamReport>,
    /// The configuration's own warnings (pins near expiry, a single pin...).
    pub warnings: Vec<String>,
}

/// One upstream's findings.
#[derive(Debug, Serialize)]
pub struct UpstreamReport {
    /// Its name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// How it is authenticated, in words.
    pub auth: String,
    /// Whether the handshake completed and the verifier accepted it.
    pub authenticated: bool,
    /// Why not, if not.
    pub failure: Option<Failure>,
    /// The configured pins on the accepted path, with where each sits.
    pub matched_pins: Vec<MatchedPin>,
    /// Whether a configured pin exists that is not the one (or ones) in use.
    pub backup_pin: bool,
    /// Every configured pin, with its own expiry date and whether it matched.
    pub pins: Vec<PinReport>,
    /// The end-entity certificate's expiry (after an accepted handshake).
    pub end_entity: Option<Expiry>,
    /// The earliest expiry on the validated path (after an accepted handshake).
    pub chain: Option<Expiry>,
    /// What makes the check fail (exit 1).
    pub problems: Vec<String>,
    /// What deserves attention without failing the check.
    pub warnings: Vec<String>,
}

/// Why an upstream did not authenticate.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// The class, as in `strictdot_auth_failures_total{reason=…}` (name, pin, expiry,
    /// version, untrusted, other), or `connect` / `timeout` below TLS.
    pub class: &'static str,
    /// The short reason, as in the log and the Extended DNS Error.
    pub reason: String,
    /// The full error.
    pub detail: String,
}

/// A configured pin found on the accepted path.
#[derive(Debug, Serialize)]
pub struct MatchedPin {
    /// The pin (base64).
    pub pin: String,
    /// Its policy comment.
    pub comment: Option<String>,
    /// `end-entity`, `intermediate` or `anchor`.
    pub position: &'static str,
}

/// One configured pin.
#[derive(Debug, Serialize)]
pub struct PinReport {
    /// The pin (base64).
    pub pin: String,
    /// Its policy comment.
    pub comment: Option<String>,
    /// Its last day of use (`YYYY-MM-DD`), if the policy dates it.
    pub expires: Option<String>,
    /// Whole days until it stops being used.
    pub days_left: Option<i64>,
    /// Where it matched on the accepted path, if it did.
    pub matched: Option<&'static str>,
}

/// An expiry date.
#[derive(Debug, Serialize)]
pub struct Expiry {
    /// RFC 3339, UTC.
    pub expires: String,
    /// Seconds since the epoch.
    pub timestamp: i64,
    /// Whole days left (negative once past).
    pub days_left: i64,
}

impl Expiry {
    fn at(timestamp: i64, now: i64) -> Expiry {
        Expiry {
            expires: utc_time(timestamp),
            timestamp,
            days_left: days_left(timestamp, now),
        }
    }
}

/// Connects to every upstream at once, within the server's connect-and-handshake budget.
fn live(config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let budget = config.pool().connect_timeout;
    let outcomes = runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + budget;
        futures_util::future::join_all(config.endpoints().iter().map(|e| e.authenticate(deadline)))
            .await
    });
    let now = now_secs();
    let window = i64::try_from(config.pool().expiry_warning.as_secs()).unwrap_or(i64::MAX);
    let upstreams: Vec<UpstreamReport> = config
        .upstreams()
        .iter()
        .zip(config.endpoints())
        .zip(outcomes)
        .map(|((u, e), outcome)| upstream_report(u, e, outcome, now, window))
        .collect();
    Ok(Report {
        ok: upstreams.iter().all(|u| u.problems.is_empty()),
        warn_days: window / 86_400,
        checked_at: utc_time(now),
        upstreams,
        warnings: config.warnings().to_vec(),
    })
}

fn upstream_report(
    u: &UpstreamConfig,
    endpoint: &Endpoint,
    outcome: Result<Option<Verified>, ConnectError>,
    now: i64,
    window: i64,
) -> UpstreamReport {
    let days = window / 86_400;
    let mut r = UpstreamReport {
        name: u.name.clone(),
        address: u.spec.addr.to_string(),
        auth: u.mode.to_string(),
        authenticated: false,
        failure: None,
        matched_pins: Vec::new(),
        backup_pin: false,
        pins: Vec::new(),
        end_entity: None,
        chain: None,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let verified = match outcome {
        Ok(v) => {
            r.authenticated = true;
            v
        }
        Err(e) => {
            let (class, reason) = match &e {
                ConnectError::Tls { kind, reason, .. } => (kind.label(), *reason),
                ConnectError::Tcp(_) => ("connect", "TCP connect failed"),
                ConnectError::Timeout => ("timeout", "connect or TLS handshake timed out"),
            };
            r.problems.push(format!("not authenticated: {reason}"));
            r.failure = Some(Failure {
                class,
                reason: reason.to_owned(),
                detail: e.to_string(),
            });
            None
        }
    };
    let matched = verified
        .as_ref()
        .map(|v| v.matched.as_slice())
        .unwrap_or(&[]);
    for note in endpoint.pins() {
        let position = matched
            .iter()
            .find(|(p, _)| *p == note.pin)
            .map(|(_, at)| at.label());
        if let Some(position) = position {
            r.matched_pins.push(MatchedPin {
                pin: note.pin.to_string(),
                comment: note.comment.clone(),
                position,
            });
        }
        let left = note.expires_at.map(|at| days_left(at, now));
        if let (Some(at), Some(day)) = (note.expires_at, &note.expires) {
            if at - now < window {
                r.problems.push(format!(
                    "pin {}{} expires on {day}, {} days left (within --warn-days {days})",
                    note.pin,
                    quoted(&note.comment),
                    days_left(at, now)
                ));
            }
        }
        r.pins.push(PinReport {
            pin: note.pin.to_string(),
            comment: note.comment.clone(),
            expires: note.expires.clone(),
            days_left: left,
            matched: position,
        });
    }
    r.backup_pin = r.authenticated && r.pins.iter().any(|p| p.matched.is_none());
    if let Some(v) = &verified {
        for (what, at, slot) in [
            (
                "the end-entity certificate",
                v.end_entity_expiry,
                &mut r.end_entity,
            ),
            (
                "a certificate on the validated chain",
                v.chain_expiry,
                &mut r.chain,
            ),
        ] {
            let Some(at) = at else { continue };
            if at - now < window {
                r.problems.push(format!(
                    "{what} expires {}, {} days left (within --warn-days {days})",
                    utc_time(at),
                    days_left(at, now)
                ));
            }
            *slot = Some(Expiry::at(at, now));
        }
        if v.only_end_entity_matched() {
            r.warnings.push(
                "the only matching pin is the end-entity key: it changes when the server renews its certificate with a new key; pin the issuing CA's key too (`strictdot pin` marks CA keys)"
                    .to_owned(),
            );
        }
    }
    if r.authenticated && !r.pins.is_empty() && !r.backup_pin {
        r.warnings.push(
            "no backup pin: every configured pin is in use; add the pin of a key not in this chain (RFC 7469 §4.3)"
                .to_owned(),
        );
    }
    r
}

/// ` 'comment'`, or nothing.
fn quoted(comment: &Option<String>) -> String {
    comment
        .as_ref()
        .map_or(String::new(), |c| format!(" '{c}'"))
}

impl Report {
    /// The report in words.
    pub fn text(&self) -> String {
        let mut out = format!(
            "live check of {} upstream(s) with the server's verifier at {}, warning {} days ahead:\n",
            self.upstreams.len(),
            self.checked_at,
            self.warn_days
        );
        for u in &self.upstreams {
            let verdict = match &u.failure {
                None => "authenticated".to_owned(),
                Some(f) => format!("NOT AUTHENTICATED: {} [{}]", f.reason, f.class),
            };
            let _ = writeln!(
                out,
                "upstream {} at {} ({}): {verdict}",
                u.name, u.address, u.auth
            );
            if let Some(f) = &u.failure {
                let _ = writeln!(out, "  detail: {}", f.detail);
            }
            for m in &u.matched_pins {
                let _ = writeln!(
                    out,
                    "  matched pin {}{} on the {} certificate",
                    m.pin,
                    quoted(&m.comment),
                    m.position
                );
            }
            if u.authenticated && !u.pins.is_empty() {
                let backups: Vec<String> = u
                    .pins
                    .iter()
                    .filter(|p| p.matched.is_none())
                    .map(|p| format!("{}{}", p.pin, quoted(&p.comment)))
                    .collect();
                let _ = match backups.is_empty() {
                    true => writeln!(out, "  backup pin: none"),
                    false => writeln!(out, "  backup pin: yes, not in use: {}", backups.join(", ")),
                };
            }
            for (what, e) in [
                ("end-entity certificate", &u.end_entity),
                ("chain (earliest on the validated path)", &u.chain),
            ] {
                if let Some(e) = e {
                    let _ = writeln!(
                        out,
                        "  {what} expires {} ({} days left)",
                        e.expires, e.days_left
                    );
                }
            }
            for p in &u.pins {
                let when = match (&p.expires, p.days_left) {
                    (Some(day), Some(left)) => format!("expires on {day} ({left} days left)"),
                    _ => "no expiry date".to_owned(),
                };
                let _ = writeln!(out, "  pin {}{}: {when}", p.pin, quoted(&p.comment));
            }
            for p in &u.problems {
                let _ = writeln!(out, "  PROBLEM: {p}");
            }
            for w in &u.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        let authenticated = self.upstreams.iter().filter(|u| u.authenticated).count();
        let problems: usize = self.upstreams.iter().map(|u| u.problems.len()).sum();
        let _ = writeln!(
            out,
            "result: {authenticated} of {} upstream(s) authenticated, {problems} problem(s): exit {}",
            self.upstreams.len(),
            if self.ok { 0 } else { 1 }
        );
        out
    }
}
