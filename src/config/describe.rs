//! Configuration in words: what `strictdot check` prints (each upstream's authentication,
//! zones, listeners, limits, and every setting with where its value came from), and the
//! README's table of settings, both read from the settings table.

use super::parse::{range, Origin};
use super::table::{DefaultValue, Kind, SETTINGS};
use super::Config;
use crate::upstream::pool::Strategy;
use crate::upstream::tls::TlsMinVersion;
use crate::upstream::verify::AuthMode;

impl Config {
    /// The effective configuration in words: how each upstream is authenticated, zones,
    /// listeners, limits, warnings. `strictdot check` prints it.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let tls = match self.values.pool.tls_min_version {
            TlsMinVersion::Tls12 => "TLS 1.2 or 1.3",
            TlsMinVersion::Tls13 => "TLS 1.3 only",
        };
        // As the flag spells it.
        let strategy = match self.values.pool.strategy {
            Strategy::Latency => "latency",
            Strategy::RoundRobin => "round-robin",
            Strategy::Failover => "failover",
        };
        let _ = writeln!(out, "upstreams ({strategy} strategy, {tls}, no fallback):");
        for u in &self.values.upstreams {
            let roots = if u.extra_roots.is_empty() && self.values.extra_roots.is_empty() {
                "web PKI roots".to_owned()
            } else {
                format!(
                    "web PKI roots + {} extra CA certificate(s)",
                    u.extra_roots.len() + self.values.extra_roots.len()
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
        let listen: Vec<String> = self.values.listen.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(out, "listen (UDP+TCP): {}", listen.join(", "));
        if let Some(t) = &self.listen_tls {
            let addrs: Vec<String> = t.addrs().iter().map(|a| a.to_string()).collect();
            let _ = writeln!(
                out,
                "listen (DNS over TLS): {} ({} certificate(s) in chain, {} handshakes/s per client prefix)",
                addrs.join(", "),
                t.chain.len(),
                self.values.tls_handshake_rate
            );
        }
        if let Some(m) = self.values.metrics {
            let _ = writeln!(out, "metrics: http://{m}/metrics (/health, /ready)");
        }
        let allow: Vec<String> = self
            .values
            .acl
            .prefixes()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let _ = writeln!(out, "clients allowed: {}", allow.join(", "));
        match &self.values.rate_limit {
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
            self.values.timeout,
            self.values.tcp.max_clients,
            self.values.tcp.max_per_client,
            self.values.tcp.idle_timeout,
            self.values.tcp.read_timeout,
            self.values.max_pending
        );
        match &self.values.cache {
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
            if self.values.privacy.keep_ecs {
                "FORWARDED"
            } else {
                "stripped"
            },
            if self.values.log_queries { "ON" } else { "off" }
        );
        if let Some((uid, gid)) = self.values.user {
            let _ = writeln!(
                out,
                "runs as uid {uid}{} (started as root, it switches after binding); capabilities dropped after binding",
                gid.map(|g| format!(" gid {g}")).unwrap_or_default()
            );
        }
        out.push_str(&self.settings_in_words());
        for w in &self.values.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }

    /// Every setting of the table with its value and where the value came from (empty for
    /// a configuration built in code).
    fn settings_in_words(&self) -> String {
        use std::fmt::Write as _;
        if self.values.effective.is_empty() {
            return String::new();
        }
        let mut out =
            "settings (value, where it comes from; * takes a restart to change, not a reload):\n"
                .to_owned();
        for found in &self.values.effective {
            let s = found.setting;
            // The upstreams and their pins are described above, one by one.
            if s.policy.is_some_and(|k| k.starts_with("[[")) {
                continue;
            }
            let value = match (s.kind, found.values.as_slice(), s.default) {
                (Kind::Switch, [v], _) => if v == "true" { "on" } else { "off" }.to_owned(),
                (_, [], DefaultValue::Builtin(text)) => text.to_owned(),
                (_, [], _) => "none".to_owned(),
                (_, values, _) => values.join(","),
            };
            let from = match (found.origin, s.policy) {
                (Origin::Policy, Some(key)) => format!("policy {key}"),
                (Origin::Env, _) => s.env.to_owned(),
                (origin, _) => origin.to_string(),
            };
            let restart = if s.restart { " *" } else { "" };
            let _ = writeln!(out, "  --{:<32} {value} ({from}){restart}", s.name);
        }
        out
    }
}

/// The README's table of settings, generated from the settings table (a test keeps the
/// README's copy equal to it).
pub fn flag_table() -> String {
    let mut out = "| Flag | Environment variable | Policy key | Default | Range | Meaning |\n\
                   |---|---|---|---|---|---|\n"
        .to_owned();
    for s in SETTINGS {
        let value = match s.kind {
            Kind::Switch => String::new(),
            Kind::Choice(words) => format!(" {}", words.join("\\|")),
            _ => format!(" {}", s.value_name),
        };
        let flag = match s.short {
            Some(c) => format!("`-{c}`, `--{}{value}`", s.name),
            None => format!("`--{}{value}`", s.name),
        };
        let key = s.policy.map_or(String::new(), |k| format!("`{k}`"));
        let default = match (s.default, s.kind) {
            (DefaultValue::Value("false"), Kind::Switch) => "off".to_owned(),
            (DefaultValue::Value(v), _) => v
                .split(',')
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
            (DefaultValue::Builtin(text), _) => text.to_owned(),
            (DefaultValue::Unset, Kind::Switch) => "off".to_owned(),
            (DefaultValue::Unset, _) => "none".to_owned(),
        };
        out.push_str(&format!(
            "| {flag} | `{}` | {key} | {default} | {} | {} |\n",
            s.env,
            range(s),
            s.help
        ));
    }
    out.push_str("| `-h`, `--help` / `-V`, `--version` | | | | | Help and version. |\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str =
        "<!-- settings table: generated from src/config/table.rs; a test keeps it equal -->\n";
    const END: &str = "<!-- end of settings table -->";

    #[test]
    fn readme_table_matches_the_settings_table() {
        let readme = include_str!("../../README.md");
        let start = readme.find(BEGIN).expect("README marks the settings table") + BEGIN.len();
        let len = readme[start..].find(END).expect("end marker");
        let expected = flag_table();
        assert!(
            readme[start..start + len] == expected,
            "README.md's settings table is out of date; replace it with:\n{expected}"
        );
    }

    #[test]
    fn policy_readme_names_every_policy_key() {
        let doc = include_str!("../../policy/README.md");
        for s in SETTINGS {
            if let Some(key) = s.policy.filter(|k| !k.starts_with("[[")) {
                let leaf = key.rsplit('.').next().unwrap_or(key);
                assert!(
                    doc.contains(&format!("`{leaf}`")),
                    "policy/README.md lacks {key}"
                );
            }
        }
    }
}
