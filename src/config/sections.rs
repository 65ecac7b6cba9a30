//! The policy's structured sections, which have no flag: each `[[upstream]]` with its
//! name, pins (and their expiry: an expired pin never weakens an upstream) and CA file,
//! and each `[[zone]]` forwarded in cleartext to a local server.

use std::net::SocketAddr;
use std::path::Path;

use super::parse::{Given, Origin};
use super::{table, ConfigBuilder, ConfigError};
use crate::pin::Pin;
use crate::policy::{UpstreamPolicy, ZonePolicy};
use crate::upstream::expiry::PinNote;
use crate::upstream::pool::UpstreamConfig;
use crate::upstream::verify::AuthMode;
use crate::upstream_spec::UpstreamSpec;

/// A policy value at `key`, parsed; its error names the key.
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

/// The policy's `[[upstream]]` entries, with their pins (expired ones dropped) and CA files;
/// and warnings about pins that expire within `warn_days`.
pub(super) fn upstreams(
    entries: &[UpstreamPolicy],
    warn_days: i64,
) -> Result<(Vec<UpstreamConfig>, Vec<String>), ConfigError> {
    let now = crate::upstream::expiry::now_secs();
    let today = now.div_euclid(86_400);
    let mut warnings = Vec::new();
    let mut ups = Vec::new();
    for (i, u) in entries.iter().enumerate() {
        let key = format!("upstream[{i}] ({})", u.name);
        let mut text = u.address.clone();
        if let Some(n) = &u.auth_name {
            text = format!("{text}#{n}");
        }
        let spec: UpstreamSpec = policy_value(&key, &text, |s| s.parse::<UpstreamSpec>())?;
        let mut pins = Vec::new();
        let mut notes = Vec::new();
        let mut expired = Vec::new();
        for pin in &u.pins {
            let value: Pin = policy_value(&key, &pin.sha256, |s| {
                Given {
                    setting: &table::PIN_SHA256,
                    origin: Origin::Policy,
                    text: s.to_owned(),
                }
                .pin()
                .map_err(|e| match e {
                    ConfigError::Setting { problem, .. } => problem,
                    e => e.to_string(),
                })
            })?;
            let label = pin.comment.clone().unwrap_or_else(|| value.to_string());
            let mut expires_at = None;
            if let Some(exp) = &pin.expires {
                let day = policy_value(&key, exp, parse_date)?;
                if day < today {
                    expired.push(format!("'{label}' expired on {exp}"));
                    continue;
                }
                // Used through its last day: it stops at the next midnight (UTC).
                let end = (day + 1) * 86_400;
                expires_at = Some(end);
                if end - now < warn_days * 86_400 {
                    warnings.push(format!(
                        "upstream {}: pin '{label}' expires on {exp}; add its successor",
                        u.name
                    ));
                }
            }
            pins.push(value);
            notes.push(PinNote {
                pin: value,
                comment: pin.comment.clone(),
                expires: pin.expires.as_ref().map(|e| e.trim().to_owned()),
                expires_at,
            });
        }
        // An expired pin may go only while another pin still holds: dropping the last one
        // would turn name-and-pins into name only (or pins only into nothing).
        if !expired.is_empty() && pins.is_empty() {
            return Err(ConfigError::PinsExpired {
                upstream: format!("{} ({spec})", u.name),
                pins: expired.join(", "),
                fix: match &spec.auth_name {
                    Some(_) => "add the current pin (`strictdot pin` prints it) with a new `expires`, or remove `pins` to authenticate by the name alone",
                    None => "add the current pin (`strictdot pin` prints it) with a new `expires`",
                },
            });
        }
        for e in &expired {
            warnings.push(format!(
                "upstream {}: pin {e}; it is not used (another pin remains)",
                u.name
            ));
        }
        let mode = AuthMode::new(spec.auth_name.clone(), pins)
            .ok_or_else(|| ConfigError::NoAuthentication(format!("{} ({spec})", u.name)))?;
        let mut up = UpstreamConfig::new(spec, mode);
        up.name = u.name.clone();
        up.pin_notes = notes;
        if let Some(ca) = &u.ca_file {
            up.extra_roots = super::read_pem_certs(Path::new(ca))?;
        }
        ups.push(up);
    }
    Ok((ups, warnings))
}

/// Adds a policy `[[zone]]` to the builder.
pub(super) fn zone(b: ConfigBuilder, z: &ZonePolicy) -> Result<ConfigBuilder, ConfigError> {
    if !z.unencrypted {
        return Err(ConfigError::ZoneNotMarked(z.name.clone()));
    }
    let key = format!("zone {}", z.name);
    let mut servers = Vec::new();
    for a in &z.forward {
        servers.push(policy_value(&key, a, |s| {
            s.parse::<SocketAddr>().or_else(|_| {
                s.parse::<std::net::IpAddr>()
                    .map(|ip| SocketAddr::new(ip, 53))
            })
        })?);
    }
    // Checked now, so a bad zone is the message even when more is wrong.
    super::builder::zone_config(&z.name, servers.clone())?;
    Ok(b.zone(&z.name, servers))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<i64, String> {
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
}
