//! Certificate and pin expiry, per upstream: what the verifier recorded about the latest
//! authenticated handshake (which configured pins matched, where on the path, and when the
//! certificates expire), the one-time warning when the only matching pin is an end-entity
//! key that may change with its certificate soon, and the Prometheus gauges that an alert
//! can fire on weeks ahead (`deploy/prometheus/strictdot-alerts.yml`).
//!
//! Nothing here takes part in authentication: the verifier has decided before any of this
//! is read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::verify::{LastVerified, Verified};
use crate::pin::Pin;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// What a policy says about one of an upstream's pins besides its value. Authentication
/// uses the pins of the upstream's mode; these notes only describe them (`check`, logs,
/// metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinNote {
    /// The pin.
    pub pin: Pin,
    /// What the key is, as the policy's `comment` says.
    pub comment: Option<String>,
    /// The last day the pin is used (`YYYY-MM-DD`, UTC), as the policy's `expires` says.
    pub expires: Option<String>,
    /// The end of that day (the next midnight, UTC), seconds since the epoch.
    pub expires_at: Option<i64>,
}

impl PinNote {
    /// A pin with nothing said about it (a `--pin-sha256` pin).
    pub fn bare(pin: Pin) -> PinNote {
        PinNote {
            pin,
            comment: None,
            expires: None,
            expires_at: None,
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whole days from `now` until `at` (negative once past), both seconds since the epoch.
pub fn days_left(at: i64, now: i64) -> i64 {
    at.saturating_sub(now).div_euclid(DAY)
}

/// `secs` since the epoch as an RFC 3339 UTC time, `2027-06-30T12:00:00Z`.
pub fn utc_time(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(DAY), secs.rem_euclid(DAY));
    // Civil from days (H. Hinnant's algorithm), the inverse of config's parse_date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// One upstream's expiry facts, kept by the pool for its metrics and its warning.
pub struct ExpiryWatch {
    /// The upstream's name, for the log.
    label: String,
    /// The same, escaped for a Prometheus label value.
    metric_label: String,
    /// The verifier's record of its latest accepted verification.
    verified: Arc<LastVerified>,
    /// The configured pins, each with its pin escaped for a label value.
    pins: Vec<(PinNote, String)>,
    /// What the latest authenticated handshake established.
    last: Mutex<Option<Verified>>,
    /// Whether the first handshake's expiry check ran (it logs at most once).
    checked: AtomicBool,
    /// Warn when the only matching pin's certificate expires sooner than this.
    warn_within: Duration,
}

impl ExpiryWatch {
    /// The watch of one upstream.
    pub fn new(
        label: &str,
        verified: Arc<LastVerified>,
        pins: &[PinNote],
        warn_within: Duration,
    ) -> ExpiryWatch {
        ExpiryWatch {
            label: label.to_owned(),
            metric_label: crate::prom::escape_label_value(label),
            verified,
            pins: pins
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        crate::prom::escape_label_value(&n.pin.to_string()),
                    )
                })
                .collect(),
            last: Mutex::new(None),
            checked: AtomicBool::new(false),
            warn_within,
        }
    }

    /// Takes note of an authenticated handshake whose server presented `end_entity`. On the
    /// first, warns (once) when the only matching pin is the end-entity key and that
    /// certificate expires within the warning window: the key may change with it.
    pub fn observe(&self, end_entity: Option<&CertificateDer<'_>>) {
        let Some(v) = end_entity.and_then(|ee| self.verified.of(ee)) else {
            return;
        };
        if !self.checked.swap(true, Ordering::AcqRel) {
            self.warn_if_rotation_is_near(&v, now_secs());
        }
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    fn warn_if_rotation_is_near(&self, v: &Verified, now: i64) {
        let Some(expiry) = v.end_entity_expiry else {
            return;
        };
        let window = i64::try_from(self.warn_within.as_secs()).unwrap_or(i64::MAX);
        if v.only_end_entity_matched() && expiry.saturating_sub(now) < window {
            tracing::warn!(
                upstream = %self.label,
                expires = %utc_time(expiry),
                days_left = days_left(expiry, now),
                "the only pin that matched is the end-entity key of a certificate that expires soon; \
                 the key may change with the certificate and the upstream would then fail: \
                 pin the issuing CA's key too (`strictdot pin` marks CA keys)"
            );
        }
    }

    /// Appends the expiry gauges of `watches` in Prometheus text format, each family once.
    pub fn render<'a>(watches: impl Iterator<Item = &'a ExpiryWatch> + Clone, out: &mut String) {
        use std::fmt::Write as _;
        let last = |w: &ExpiryWatch| w.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_cert_expiry_timestamp_seconds When the end-entity certificate of the last authenticated handshake expires (notAfter).\n# TYPE strictdot_upstream_cert_expiry_timestamp_seconds gauge"
        );
        for w in watches.clone() {
            if let Some(at) = last(w).and_then(|v| v.end_entity_expiry) {
                let _ = writeln!(
                    out,
                    "strictdot_upstream_cert_expiry_timestamp_seconds{{upstream=\"{}\"}} {at}",
                    w.metric_label
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_chain_expiry_timestamp_seconds When the first certificate on the path validated in the last authenticated handshake expires (a --ca-file or ca_file anchor included; compiled-in roots carry no date).\n# TYPE strictdot_upstream_chain_expiry_timestamp_seconds gauge"
        );
        for w in watches.clone() {
            if let Some(at) = last(w).and_then(|v| v.chain_expiry) {
                let _ = writeln!(
                    out,
                    "strictdot_upstream_chain_expiry_timestamp_seconds{{upstream=\"{}\"}} {at}",
                    w.metric_label
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_pin_expiry_timestamp_seconds When a configured pin stops being used (the end of its `expires` day).\n# TYPE strictdot_upstream_pin_expiry_timestamp_seconds gauge"
        );
        for w in watches.clone() {
            for (note, pin) in &w.pins {
                if let Some(at) = note.expires_at {
                    let _ = writeln!(
                        out,
                        "strictdot_upstream_pin_expiry_timestamp_seconds{{upstream=\"{}\",pin=\"{pin}\"}} {at}",
                        w.metric_label
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_upstream_pin_matched Whether the configured pin was on the path of the last authenticated handshake (1) or not (0).\n# TYPE strictdot_upstream_pin_matched gauge"
        );
        for w in watches {
            let matched = last(w).map(|v| v.matched).unwrap_or_default();
            for (note, pin) in &w.pins {
                let on = matched.iter().any(|(p, _)| *p == note.pin);
                let _ = writeln!(
                    out,
                    "strictdot_upstream_pin_matched{{upstream=\"{}\",pin=\"{pin}\"}} {}",
                    w.metric_label,
                    u8::from(on)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_days() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_782_820_799), "2026-06-30T11:59:59Z");
        assert_eq!(utc_time(-1), "1969-12-31T23:59:59Z");
        assert_eq!(days_left(10 * DAY + 5, 0), 10);
        assert_eq!(days_left(10 * DAY - 1, 0), 9);
        assert_eq!(days_left(0, 1), -1);
    }
}
