//! Reading one setting's text into its value, with the range check and the error message
//! taken from the setting's row: every message names where the value came from (the flag,
//! the variable or the policy key), the accepted form or range, and an example.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::table::{Kind, Setting};
use super::ConfigError;
use crate::acl::Cidr;
use crate::pin::{Pin, PinError};
use crate::upstream_spec::UpstreamSpec;

/// Where a value came from, lowest precedence first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// The table's default.
    Default,
    /// The policy file.
    Policy,
    /// An environment variable.
    Env,
    /// The command line.
    Flag,
    /// Set in code, through the `ConfigBuilder`.
    Code,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Default => "default",
            Origin::Policy => "policy",
            Origin::Env => "environment",
            Origin::Flag => "flag",
            Origin::Code => "code",
        })
    }
}

/// One value as written, with its setting and origin.
#[derive(Clone, Debug)]
pub struct Given {
    /// The setting.
    pub setting: &'static Setting,
    /// Where it came from.
    pub origin: Origin,
    /// The text.
    pub text: String,
}

/// A setting's values and the layer they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The setting.
    pub setting: &'static Setting,
    /// The layer.
    pub origin: Origin,
    /// The values as written (empty: unset).
    pub values: Vec<String>,
}

impl Given {
    /// The error for this value: `problem`, then what the setting accepts and an example.
    pub fn error(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError::Setting {
            at: written(self.setting, self.origin, &self.text),
            problem: problem.into(),
            expected: expected(self.setting),
            example: written(self.setting, self.origin, self.setting.example),
        }
    }

    /// A whole number within the row's bounds.
    pub fn count(&self) -> Result<u64, ConfigError> {
        let value: u64 = self
            .text
            .trim()
            .parse()
            .map_err(|_| self.error("not a whole number"))?;
        if !count_in_range(self.setting, value) {
            return Err(self.error("out of range"));
        }
        Ok(value)
    }

    /// A duration within the row's bounds.
    pub fn duration(&self) -> Result<Duration, ConfigError> {
        let d = duration_text(&self.text).map_err(|p| self.error(p))?;
        if !duration_in_range(self.setting, d) {
            return Err(self.error("out of range"));
        }
        Ok(d)
    }

    /// On or off.
    pub fn switch(&self) -> Result<bool, ConfigError> {
        match self.text.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.error("not true or false")),
        }
    }

    /// One of the row's words.
    pub fn choice(&self) -> Result<&'static str, ConfigError> {
        let Kind::Choice(words) = self.setting.kind else {
            return Err(self.error("not a choice"));
        };
        words
            .iter()
            .copied()
            .find(|w| *w == self.text.trim())
            .ok_or_else(|| self.error("not one of the accepted values"))
    }

    /// `IP:PORT`.
    pub fn address(&self) -> Result<SocketAddr, ConfigError> {
        let s = self.text.trim();
        s.parse().map_err(|_| {
            let why = if s.parse::<u16>().is_ok() {
                "invalid address: a port alone is not enough"
            } else if s.parse::<std::net::IpAddr>().is_ok() {
                "invalid address: the port is missing"
            } else if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
                "invalid address: host names are not accepted"
            } else {
                "invalid address"
            };
            self.error(why)
        })
    }

    /// `IP[:PORT][#NAME]`.
    pub fn upstream(&self) -> Result<UpstreamSpec, ConfigError> {
        self.text.parse().map_err(|e| self.error(format!("{e}")))
    }

    /// An SPKI SHA-256 pin.
    pub fn pin(&self) -> Result<Pin, ConfigError> {
        let s = self.text.trim();
        s.parse::<Pin>().map_err(|e| {
            let padded = format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
            let problem = match e {
                PinError::NotBase64
                    if !s.len().is_multiple_of(4) && padded.parse::<Pin>().is_ok() =>
                {
                    "the '=' padding at its end is missing".to_owned()
                }
                e => e.to_string(),
            };
            self.error(problem)
        })
    }

    /// A client prefix.
    pub fn prefix(&self) -> Result<Cidr, ConfigError> {
        self.text
            .parse()
            .map_err(|_| self.error("not an address prefix"))
    }

    /// A domain name, made absolute.
    pub fn domain(&self) -> Result<crate::dnssec::canonical::Name, ConfigError> {
        let text = self.text.trim();
        let absolute = if text.ends_with('.') {
            text.to_owned()
        } else {
            format!("{text}.")
        };
        crate::dnssec::canonical::Name::from_text(&absolute)
            .filter(|_| !text.is_empty())
            .ok_or_else(|| self.error("not a domain name"))
    }

    /// `UID` or `UID:GID`, numeric (a `FROM scratch` image has no user database).
    pub fn user(&self) -> Result<(u32, Option<u32>), ConfigError> {
        let s = self.text.trim();
        let bad = || self.error("not UID or UID:GID (numbers)");
        match s.split_once(':') {
            Some((u, g)) => Ok((
                u.parse().map_err(|_| bad())?,
                Some(g.parse().map_err(|_| bad())?),
            )),
            None => Ok((s.parse().map_err(|_| bad())?, None)),
        }
    }
}

fn count_in_range(setting: &Setting, value: u64) -> bool {
    match setting.kind {
        Kind::Count { min, max } => (min..=max).contains(&value),
        _ => true,
    }
}

fn duration_in_range(setting: &Setting, value: Duration) -> bool {
    match setting.kind {
        Kind::Duration { min, max } => (min..=max).contains(&value),
        _ => true,
    }
}

/// Refuses a count outside the row's bounds (values set in code).
pub fn check_count(
    setting: &'static Setting,
    origin: Origin,
    value: u64,
) -> Result<(), ConfigError> {
    if count_in_range(setting, value) {
        return Ok(());
    }
    Err(Given {
        setting,
        origin,
        text: value.to_string(),
    }
    .error("out of range"))
}

/// Refuses a duration outside the row's bounds (values set in code).
pub fn check_duration(
    setting: &'static Setting,
    origin: Origin,
    value: Duration,
) -> Result<(), ConfigError> {
    if duration_in_range(setting, value) {
        return Ok(());
    }
    Err(Given {
        setting,
        origin,
        text: show_duration(value),
    }
    .error("out of range"))
}

/// Parses `4s`, `1500ms`, `2m`, `1h`, or a bare number of seconds (fractions allowed).
pub fn duration_text(s: &str) -> Result<Duration, &'static str> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num.parse().map_err(|_| "not a duration")?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err("not a duration (the units are ms, s, m and h)"),
    };
    // A year is beyond every bound; larger numbers only risk overflow.
    if !secs.is_finite() || secs > 31_536_000.0 {
        return Err("far too long");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration in the largest unit that shows it exactly (`1h`, `90s`, `1500ms`).
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 || !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s >= 120 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// What a setting accepts, in words.
pub fn expected(s: &Setting) -> String {
    let why = if s.why.is_empty() {
        String::new()
    } else {
        format!(" ({})", s.why)
    };
    match s.kind {
        Kind::Count { .. } => format!("a whole number from {}{why}", range(s)),
        Kind::Duration { .. } => {
            format!("a duration from {}{why}, in ms, s, m or h", range(s))
        }
        Kind::Switch => "true or false".to_owned(),
        Kind::Choice(words) => format!("one of {}", words.join(", ")),
        Kind::Address => "IP:PORT, IPv6 in brackets ([::1]:5359), not a host name".to_owned(),
        Kind::Upstream => {
            "IP[:PORT][#NAME], IPv6 in brackets ([2620:fe::fe]:853#dns.quad9.net)".to_owned()
        }
        Kind::Pin => "the base64 SPKI SHA-256 of a key, 44 characters ending in '=', as `strictdot pin IP:853#NAME` prints it".to_owned(),
        Kind::Prefix => "ADDR[/LEN], such as 10.0.0.0/8 or fd00::/8".to_owned(),
        Kind::User => "a numeric UID or UID:GID".to_owned(),
        Kind::File => "a file".to_owned(),
        Kind::Domain => "a domain name such as corp.example".to_owned(),
    }
}

/// The bounds of a count or duration in words (`0 (off) to 100 queries`, `100ms to 60s`).
pub fn range(s: &Setting) -> String {
    match s.kind {
        Kind::Count { min, max } => {
            let zero = match (min, s.zero) {
                (0, Some(z)) => format!(" ({z})"),
                _ => String::new(),
            };
            let unit = if s.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", s.unit)
            };
            format!("{min}{zero} to {max}{unit}")
        }
        Kind::Duration { min, max } => {
            format!("{} to {}", show_duration(min), show_duration(max))
        }
        _ => String::new(),
    }
}

/// Whether the setting's policy value is a TOML string (quoted) rather than a number or a
/// boolean.
fn quoted(s: &Setting) -> bool {
    !matches!(s.kind, Kind::Count { .. } | Kind::Switch)
}

/// `text` written the way `origin` writes it: `--timeout 4s`, `STRICTDOT_TIMEOUT=4s`,
/// `policy limits.timeout = "4s"`.
pub fn written(s: &Setting, origin: Origin, text: &str) -> String {
    match origin {
        Origin::Env => format!("{}={text}", s.env),
        Origin::Policy => match s.policy {
            Some(key) => {
                let v = if quoted(s) {
                    format!("{text:?}")
                } else {
                    text.to_owned()
                };
                let v = if s.list { format!("[{v}]") } else { v };
                format!("policy {key} = {v}")
            }
            None => format!("--{} {text}", s.name),
        },
        Origin::Default | Origin::Flag | Origin::Code => match s.kind {
            Kind::Switch => format!("--{}", s.name),
            _ => format!("--{} {text}", s.name),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{
        DefaultValue, PIN_SHA256, RATE_LIMIT, SETTINGS, TIMEOUT, UPSTREAM_IDLE_TIMEOUT,
    };
    use super::*;

    /// Parses `text` as the setting's kind.
    fn check_example(s: &'static Setting, text: &str) {
        let g = Given {
            setting: s,
            origin: Origin::Default,
            text: text.to_owned(),
        };
        let ok = match s.kind {
            Kind::Count { .. } => g.count().is_ok(),
            Kind::Duration { .. } => g.duration().is_ok(),
            Kind::Switch => g.switch().is_ok(),
            Kind::Choice(_) => g.choice().is_ok(),
            Kind::Address => g.address().is_ok(),
            Kind::Upstream => g.upstream().is_ok(),
            Kind::Pin => g.pin().is_ok(),
            Kind::Prefix => g.prefix().is_ok(),
            Kind::User => g.user().is_ok(),
            Kind::File => !text.is_empty(),
            Kind::Domain => g.domain().is_ok(),
        };
        assert!(ok, "{}: {text:?} does not parse", s.name);
    }

    /// Every row's default and example parse as its kind (the bounds are checked in
    /// `table.rs`).
    #[test]
    fn every_default_and_example_parses() {
        for s in SETTINGS {
            let default = match s.default {
                DefaultValue::Value(v) => Some(v),
                _ => None,
            };
            for value in default.into_iter().chain([s.example]) {
                for v in value.split(',') {
                    check_example(s, v);
                }
            }
        }
    }

    fn given(setting: &'static Setting, origin: Origin, text: &str) -> Given {
        Given {
            setting,
            origin,
            text: text.to_owned(),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text("4s"), Ok(Duration::from_secs(4)));
        assert_eq!(duration_text("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration_text("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration_text("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration_text("3"), Ok(Duration::from_secs(3)));
        for bad in ["", "-1s", "5d", "x", "1e999s", "99999999999h"] {
            assert!(duration_text(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn messages_name_the_source_the_range_and_an_example() {
        let e = given(&TIMEOUT, Origin::Flag, "0").duration().unwrap_err();
        assert_eq!(
            e.to_string(),
            "--timeout 0: out of range; expected a duration from 100ms to 60s (long enough \
             for a handshake, shorter than any client waits), in ms, s, m or h, e.g. --timeout 4s"
        );
        let e = given(&RATE_LIMIT, Origin::Policy, "20000000")
            .count()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("policy limits.rate_limit = 20000000: out of range"),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("e.g. policy limits.rate_limit = 1000"),
            "{e}"
        );
        let e = given(&UPSTREAM_IDLE_TIMEOUT, Origin::Env, "2h")
            .duration()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("STRICTDOT_UPSTREAM_IDLE_TIMEOUT=2h:"),
            "{e}"
        );
        assert!(given(&UPSTREAM_IDLE_TIMEOUT, Origin::Env, "1h")
            .duration()
            .is_ok());
        let e = given(
            &PIN_SHA256,
            Origin::Flag,
            "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM",
        )
        .pin()
        .unwrap_err();
        assert!(e.to_string().contains("'=' padding"), "{e}");
    }
}
