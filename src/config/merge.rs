//! The layers of settings and their one merge: default < policy file < environment < flag.
//! Each setting of the table is looked up in that order; the first layer that has it gives
//! the value, parsed and checked by its row. The structured policy sections (`[[upstream]]`
//! and `[[zone]]`) are read in `sections.rs`.

use std::ffi::OsString;
use std::path::PathBuf;

use super::parse::{Found, Given, Origin};
use super::table::{self, DefaultValue, Kind, Setting, SETTINGS};
use super::{sections, Config, ConfigBuilder, ConfigError, LogFormat, LogLevel, STALE_WINDOW};
use crate::acl::Acl;
use crate::cache::CacheSettings;
use crate::dnssec::{NegativeAnchors, Trust, TrustAnchors};
use crate::limiter::RateSettings;
use crate::policy::Policy;
use crate::upstream::pool::{Strategy, UpstreamConfig};
use crate::upstream::tls::TlsMinVersion;
use crate::upstream::verify::AuthMode;

/// Where environment variables are read from; tests give a list instead of touching the
/// process environment.
pub trait Environment {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<OsString>;
}

/// The process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<OsString> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into())
    }
}

/// The values one layer gives (the command line, or the environment), as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer {
    values: Vec<(&'static Setting, Vec<String>)>,
}

impl Layer {
    /// Sets `setting` to `values` (one for a single-valued setting, `"true"` for a switch).
    pub fn set(&mut self, setting: &'static Setting, values: Vec<String>) {
        self.values.retain(|(s, _)| s.name != setting.name);
        self.values.push((setting, values));
    }

    /// The values given for `setting`.
    pub fn get(&self, setting: &Setting) -> Option<&[String]> {
        self.values
            .iter()
            .find(|(s, _)| s.name == setting.name)
            .map(|(_, v)| v.as_slice())
    }

    /// The `STRICTDOT_…` variables of every setting. An empty variable counts as unset;
    /// lists are comma-separated; a switch is off for `0`, `false`, `no`, `off`, `n`, `f`
    /// (any case) and on for any other value.
    pub fn from_env(env: &dyn Environment) -> Result<Layer, ConfigError> {
        let mut layer = Layer::default();
        for s in SETTINGS {
            let Some(raw) = env.var(s.env) else {
                continue;
            };
            let Some(text) = raw.to_str() else {
                return Err(ConfigError::NotUtf8(s.env));
            };
            if text.is_empty() {
                continue;
            }
            let values = match s.kind {
                Kind::Switch => {
                    let off = ["0", "false", "no", "off", "n", "f"]
                        .iter()
                        .any(|f| text.trim().eq_ignore_ascii_case(f));
                    vec![(!off).to_string()]
                }
                _ if s.list => text.split(',').map(|v| v.trim().to_owned()).collect(),
                _ => vec![text.to_owned()],
            };
            layer.set(s, values);
        }
        Ok(layer)
    }
}

impl Config {
    /// A builder holding the defaults of the settings table (the built-in upstreams, no
    /// extra CA, nothing read from disk).
    pub fn builder() -> ConfigBuilder {
        Sources::default()
            .builder()
            .expect("the settings table's defaults are valid (tested)")
    }
}

/// Every layer of settings, ready to merge.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    flags: Layer,
    env: Layer,
    policy: Option<Policy>,
    /// On reload, the running TLS listener, kept if its files cannot be read again.
    running_tls: Option<super::sealed::TlsListener>,
}

impl Sources {
    /// The layers as given.
    pub fn new(flags: Layer, env: Layer, policy: Option<Policy>) -> Sources {
        Sources {
            flags,
            env,
            policy,
            running_tls: None,
        }
    }

    /// For a reload: keep `running`'s TLS listener if its certificate or key cannot be read
    /// again (the process may no longer be allowed to).
    pub fn reloading(mut self, running: &Config) -> Sources {
        self.running_tls = running.listen_tls().cloned();
        self
    }

    /// The layers, with the policy file that `--policy` (or `STRICTDOT_POLICY`) names read
    /// from disk.
    pub fn read(flags: Layer, env: Layer) -> Result<Sources, ConfigError> {
        let mut sources = Sources::new(flags, env, None);
        if let Some(path) = sources.policy_path() {
            sources.policy = Some(crate::policy::load(&path)?);
        }
        Ok(sources)
    }

    /// The policy file named by the flags or the environment.
    pub fn policy_path(&self) -> Option<PathBuf> {
        self.find(&table::POLICY).values.first().map(PathBuf::from)
    }

    /// The logging settings (from flags, environment and defaults only: logging starts
    /// before the policy is read).
    pub fn logging(&self) -> Result<(LogLevel, LogFormat), ConfigError> {
        let level = match self.one(&table::LOG_LEVEL, Given::choice)? {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => LogLevel::Info,
        };
        let format = match self.one(&table::LOG_FORMAT, Given::choice)? {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };
        Ok((level, format))
    }

    /// Merges, checks and builds the configuration.
    pub fn load(&self) -> Result<Config, ConfigError> {
        self.builder()?.build()
    }

    /// Where `setting`'s value comes from: the first layer that has it, flag first.
    pub fn find(&self, s: &'static Setting) -> Found {
        let found = |origin, values: &[String]| Found {
            setting: s,
            origin,
            values: values.to_vec(),
        };
        if let Some(v) = self.flags.get(s) {
            return found(Origin::Flag, v);
        }
        if let Some(v) = self.env.get(s) {
            return found(Origin::Env, v);
        }
        let from_policy = match (&self.policy, s.policy) {
            (Some(p), Some(key)) => p.value(key),
            _ => None,
        };
        if let Some(v) = from_policy {
            return found(Origin::Policy, &v);
        }
        let values: Vec<String> = match s.default {
            DefaultValue::Value(v) if s.list => v.split(',').map(str::to_owned).collect(),
            DefaultValue::Value(v) => vec![v.to_owned()],
            DefaultValue::Unset | DefaultValue::Builtin(_) => Vec::new(),
        };
        found(Origin::Default, &values)
    }

    /// Every value of `setting`, parsed.
    fn list<T>(
        &self,
        s: &'static Setting,
        parse: impl Fn(&Given) -> Result<T, ConfigError>,
    ) -> Result<Vec<T>, ConfigError> {
        let found = self.find(s);
        found
            .values
            .iter()
            .map(|text| {
                parse(&Given {
                    setting: s,
                    origin: found.origin,
                    text: text.clone(),
                })
            })
            .collect()
    }

    /// The value of a single-valued setting, if it has one.
    fn opt<T>(
        &self,
        s: &'static Setting,
        parse: impl Fn(&Given) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        Ok(self.list(s, parse)?.pop())
    }

    /// The value of a single-valued setting with a default.
    fn one<T>(
        &self,
        s: &'static Setting,
        parse: impl Fn(&Given) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        self.opt(s, parse)?.ok_or(ConfigError::Missing(s.name))
    }

    /// A count, in the type that holds it.
    fn count<T: TryFrom<u64>>(&self, s: &'static Setting) -> Result<T, ConfigError> {
        self.one(s, |g| {
            T::try_from(g.count()?).map_err(|_| g.error("out of range"))
        })
    }

    /// The builder with every layer merged in, the upstreams, CA files and zones read.
    pub fn builder(&self) -> Result<ConfigBuilder, ConfigError> {
        use table::*;
        let mut b = ConfigBuilder::blank()
            .listen(self.list(&LISTEN, Given::address)?)
            .timeout(self.one(&TIMEOUT, Given::duration)?)
            .tls_min_version(match self.one(&TLS_MIN_VERSION, Given::choice)? {
                "1.3" => TlsMinVersion::Tls13,
                _ => TlsMinVersion::Tls12,
            })
            .strategy(match self.one(&STRATEGY, Given::choice)? {
                "round-robin" => Strategy::RoundRobin,
                "failover" => Strategy::Failover,
                _ => Strategy::Latency,
            })
            .warn_days(self.count(&WARN_DAYS)?)
            .max_upstream_connections(self.count(&MAX_UPSTREAM_CONNECTIONS)?)
            .max_in_flight(self.count(&MAX_IN_FLIGHT)?)
            .upstream_idle_timeout(self.one(&UPSTREAM_IDLE_TIMEOUT, Given::duration)?)
            .max_tcp_clients(self.count(&MAX_TCP_CLIENTS)?)
            .max_tcp_per_client(self.count(&MAX_TCP_PER_CLIENT)?)
            .max_tcp_queries_per_connection(self.count(&MAX_TCP_QUERIES_PER_CONNECTION)?)
            .tcp_idle_timeout(self.one(&TCP_IDLE_TIMEOUT, Given::duration)?)
            .tcp_read_timeout(self.one(&TCP_READ_TIMEOUT, Given::duration)?)
            .max_pending(self.count(&MAX_PENDING)?)
            .threads(self.count(&THREADS)?)
            .keep_ecs(self.one(&KEEP_ECS, Given::switch)?)
            .log_queries(self.one(&LOG_QUERIES, Given::switch)?)
            .metrics(self.opt(&METRICS, Given::address)?)
            .ready_file(self.opt(&READY_FILE, |g| Ok(PathBuf::from(&g.text)))?)
            .user(self.opt(&USER, Given::user)?)
            .tls_handshake_rate(self.count(&TLS_HANDSHAKE_RATE)?)
            .rate_limit(self.rate_limit()?)
            .cache(self.cache()?)
            .effective(SETTINGS.iter().map(|s| self.find(s)).collect());
        let allow = self.list(&ALLOW, Given::prefix)?;
        if !allow.is_empty() {
            b = b.acl(Acl::new(allow));
        }
        b = b.dnssec(self.dnssec()?);
        if let Some(path) = self.opt(&CA_FILE, |g| Ok(PathBuf::from(&g.text)))? {
            b = b.extra_roots(super::read_pem_certs(&path)?);
        }
        let listen_tls = self.list(&LISTEN_TLS, Given::address)?;
        if !listen_tls.is_empty() {
            let cert = self.opt(&TLS_CERT, |g| Ok(PathBuf::from(&g.text)))?;
            let key = self.opt(&TLS_KEY, |g| Ok(PathBuf::from(&g.text)))?;
            let (Some(cert), Some(key)) = (cert, key) else {
                return Err(ConfigError::TlsListener(
                    "--listen-tls needs --tls-cert and --tls-key".to_owned(),
                ));
            };
            let read = super::read_pem_certs(&cert)
                .map_err(|e| ConfigError::TlsListener(e.to_string()))
                .and_then(|chain| {
                    let key_pem = std::fs::read(&key).map_err(|e| {
                        ConfigError::TlsListener(format!("key {}: {e}", key.display()))
                    })?;
                    Ok((chain, key_pem))
                });
            b = match (read, &self.running_tls) {
                (Ok((chain, key_pem)), _) => b.tls_listener(listen_tls, chain, key_pem),
                // A reload that cannot read the files (a key readable by root only, after
                // the switch to --user): the running listener stays as it is, which is
                // what a reload does to it in any case (it needs a restart to change).
                (Err(e), Some(running)) => {
                    tracing::info!(error = %e, "TLS listener kept as started (its files are read at start only)");
                    b.keep_tls_listener(running.clone())
                }
                (Err(e), None) => return Err(e),
            };
        }
        for z in self.policy.iter().flat_map(|p| &p.zones) {
            b = sections::zone(b, z)?;
        }
        let (upstreams, warnings) = self.upstreams()?;
        b = b.upstreams(upstreams);
        for w in warnings {
            b = b.warning(w);
        }
        Ok(b)
    }

    fn rate_limit(&self) -> Result<Option<RateSettings>, ConfigError> {
        use table::*;
        let qps: u32 = self.count(&RATE_LIMIT)?;
        let burst: u32 = self.count(&RATE_BURST)?;
        let settings = |qps, burst| -> Result<RateSettings, ConfigError> {
            Ok(RateSettings {
                qps,
                burst,
                v4_prefix: self.count(&RATE_LIMIT_IPV4_PREFIX)?,
                v6_prefix: self.count(&RATE_LIMIT_IPV6_PREFIX)?,
                slip: self.count(&SLIP)?,
                max_keys: self.count(&RATE_LIMIT_MAX_CLIENTS)?,
            })
        };
        match (
            std::num::NonZeroU32::new(qps),
            std::num::NonZeroU32::new(burst),
        ) {
            (Some(qps), Some(burst)) => settings(qps, burst).map(Some),
            _ => {
                // Off, but the other values are still checked.
                let one = std::num::NonZeroU32::MIN;
                settings(one, one).map(|_| None)
            }
        }
    }

    /// DNSSEC validation: `None` when `--dnssec off` (then a trust anchor file or an
    /// insecure zone given would be ignored: refused).
    fn dnssec(&self) -> Result<Option<Trust>, ConfigError> {
        use table::*;
        let file = self.opt(&TRUST_ANCHOR_FILE, |g| Ok(PathBuf::from(&g.text)))?;
        let insecure = self.list(&INSECURE_ZONE, Given::domain)?;
        if self.one(&DNSSEC, Given::choice)? == "off" {
            for s in [&TRUST_ANCHOR_FILE, &INSECURE_ZONE] {
                let found = self.find(s);
                if let Some(v) = found.values.first() {
                    return Err(ConfigError::Ignored {
                        at: super::parse::written(s, found.origin, v),
                        why: "DNSSEC validation is off (--dnssec off)",
                    });
                }
            }
            return Ok(None);
        }
        let anchors = match file {
            Some(path) => TrustAnchors::from_file(&path).map_err(|e| {
                ConfigError::TrustAnchorFile(path.display().to_string(), e.to_string())
            })?,
            None => TrustAnchors::root(),
        };
        let mut negative = NegativeAnchors::none();
        for name in insecure {
            negative.add(name);
        }
        Ok(Some(Trust { anchors, negative }))
    }

    fn cache(&self) -> Result<Option<CacheSettings>, ConfigError> {
        use table::*;
        let settings = CacheSettings {
            max_entries: self.count(&CACHE_SIZE)?,
            max_bytes: self.count(&CACHE_MAX_BYTES)?,
            min_ttl: self.count(&CACHE_MIN_TTL)?,
            max_ttl: self.count(&CACHE_MAX_TTL)?,
            servfail_ttl: 2,
            serve_stale: self
                .one(&SERVE_STALE, Given::switch)?
                .then_some(STALE_WINDOW),
            prefetch: true,
        };
        if settings.min_ttl > settings.max_ttl {
            return Err(ConfigError::MinAboveMax {
                min: "cache-min-ttl",
                max: "cache-max-ttl",
            });
        }
        Ok((settings.max_entries > 0).then_some(settings))
    }

    /// The upstreams, from the flags or the environment, else the policy's `[[upstream]]`,
    /// else the built-in ones; and the warnings about them.
    fn upstreams(&self) -> Result<(Vec<UpstreamConfig>, Vec<String>), ConfigError> {
        let given = self.find(&table::UPSTREAM);
        // A policy that names no upstream (empty, truncated, or only limits) does not fall
        // back to the built-in upstreams: that would send queries where nobody said.
        if let (Some(p), Origin::Default) = (&self.policy, given.origin) {
            if p.upstreams.is_empty() {
                return Err(ConfigError::PolicyWithoutUpstream(
                    self.policy_path()
                        .map_or("the policy".to_owned(), |p| p.display().to_string()),
                ));
            }
        }
        let policy = self.policy.as_ref().filter(|p| !p.upstreams.is_empty());
        if let (Some(policy), Origin::Default) = (policy, given.origin) {
            // --pin-sha256 pins the command-line upstreams; the policy's take their own pins.
            // A pin that would be ignored is refused, never dropped in silence.
            let pins = self.find(&table::PIN_SHA256);
            if let Some(pin) = pins.values.first() {
                return Err(ConfigError::Ignored {
                    at: super::parse::written(&table::PIN_SHA256, pins.origin, pin),
                    why: "the upstreams come from the policy's [[upstream]] entries, which take their pins from `pins = [...]`; put the pin there, or give the upstreams with --upstream",
                });
            }
            return sections::upstreams(&policy.upstreams, self.count(&table::WARN_DAYS)?);
        }
        let pins = self.list(&table::PIN_SHA256, Given::pin)?;
        let specs = self.list(&table::UPSTREAM, Given::upstream)?;
        let upstreams = specs
            .into_iter()
            .map(|spec| {
                let mode = AuthMode::new(spec.auth_name.clone(), pins.clone())
                    .ok_or_else(|| ConfigError::NoAuthentication(spec.to_string()))?;
                Ok(UpstreamConfig::new(spec, mode))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok((upstreams, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pairs: &[(&'static Setting, &str)]) -> Layer {
        let mut l = Layer::default();
        for (s, v) in pairs {
            l.set(s, vec![(*v).to_owned()]);
        }
        l
    }

    #[test]
    fn flag_over_environment_over_policy_over_default() {
        let policy = crate::policy::parse(
            "[limits]\ntimeout = \"2s\"\nrate_limit = 5\nslip = 3\nmax_pending = 7\n",
            "t",
        )
        .unwrap();
        let env: [(&str, &str); 3] = [
            ("STRICTDOT_TIMEOUT", "3s"),
            ("STRICTDOT_RATE_LIMIT", "6"),
            ("STRICTDOT_KEEP_ECS", "no"),
        ];
        let sources = Sources::new(
            flags(&[(&table::TIMEOUT, "4s")]),
            Layer::from_env(&env).unwrap(),
            Some(policy),
        );
        let origin = |s| sources.find(s).origin;
        assert_eq!(origin(&table::TIMEOUT), Origin::Flag);
        assert_eq!(origin(&table::RATE_LIMIT), Origin::Env);
        assert_eq!(origin(&table::SLIP), Origin::Policy);
        assert_eq!(origin(&table::MAX_TCP_CLIENTS), Origin::Default);
        assert_eq!(sources.find(&table::KEEP_ECS).values, ["false"]);
        assert_eq!(sources.find(&table::SLIP).values, ["3"]);
    }

    #[test]
    fn every_policy_key_of_the_table_is_in_the_schema() {
        for s in SETTINGS {
            let Some(key) = s.policy.filter(|k| !k.starts_with("[[")) else {
                continue;
            };
            let (section, leaf) = key.split_once('.').map_or(("", key), |(a, b)| (a, b));
            let value = match (s.kind, s.list) {
                (Kind::Count { .. }, _) => s.example.to_owned(),
                (Kind::Switch, _) => "true".to_owned(),
                (_, true) => format!("[{:?}]", s.example),
                _ => format!("{:?}", s.example),
            };
            let doc = if section.is_empty() {
                format!("{leaf} = {value}\n")
            } else {
                format!("[{section}]\n{leaf} = {value}\n")
            };
            let policy = crate::policy::parse(&doc, "t").unwrap_or_else(|e| panic!("{doc}: {e}"));
            let sources = Sources::new(Layer::default(), Layer::default(), Some(policy));
            assert_eq!(sources.find(s).origin, Origin::Policy, "{doc}");
        }
    }

    /// Every setting the table marks `restart` (but logging, which a reload never reads)
    /// is reported when it changes, and nothing else is.
    #[test]
    fn restart_needed_names_exactly_the_restart_rows() {
        use super::super::parse::show_duration;
        use super::super::table::{Kind, Setting as Row};
        let dir = std::env::temp_dir().join(format!("strictdot-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let other = rcgen::CertificateParams::new(vec!["b.test".to_owned()])
            .unwrap()
            .self_signed(&other_key)
            .unwrap();
        let files = [
            ("a.pem", cert.pem()),
            ("a.key", key.serialize_pem()),
            ("b.pem", other.pem()),
            ("b.key", other_key.serialize_pem()),
        ];
        for (name, text) in &files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let path = |name: &str| dir.join(name).display().to_string();
        let layer = |pairs: &[(&'static Row, String)]| {
            let mut l = Layer::default();
            for (s, v) in pairs {
                l.set(s, vec![v.clone()]);
            }
            l
        };
        use table::*;
        let first = layer(&[
            (&TLS_CERT, path("a.pem")),
            (&TLS_KEY, path("a.key")),
            (&LISTEN_TLS, "127.0.0.1:853".to_owned()),
        ]);
        let mut changed: Vec<(&'static Row, String)> = vec![
            (&LISTEN, "127.0.0.1:5359".to_owned()),
            (&LISTEN_TLS, "127.0.0.1:8853".to_owned()),
            (&TLS_CERT, path("b.pem")),
            (&TLS_KEY, path("b.key")),
            (&METRICS, "127.0.0.1:9153".to_owned()),
            (&READY_FILE, path("ready")),
            (&USER, "65532".to_owned()),
        ];
        for s in [
            &TLS_HANDSHAKE_RATE,
            &MAX_TCP_CLIENTS,
            &MAX_TCP_PER_CLIENT,
            &MAX_TCP_QUERIES_PER_CONNECTION,
            &TCP_IDLE_TIMEOUT,
            &TCP_READ_TIMEOUT,
            &MAX_PENDING,
            &THREADS,
        ] {
            // The upper bound: never the default.
            let max = match s.kind {
                Kind::Count { max, .. } => max.to_string(),
                Kind::Duration { max, .. } => show_duration(max),
                _ => unreachable!("{} is a count or a duration", s.name),
            };
            changed.push((s, max));
        }
        let load = |l: Layer| Sources::new(l, Layer::default(), None).load().unwrap();
        let a = load(first);
        let b = load(layer(&changed));
        let mut named = a.restart_needed(&b);
        named.sort_unstable();
        let mut rows: Vec<&str> = table::SETTINGS
            .iter()
            .filter(|s| s.restart && !s.name.starts_with("log-"))
            .map(|s| s.name)
            .collect();
        rows.sort_unstable();
        assert_eq!(named, rows);
        assert!(a.restart_needed(&a.clone()).is_empty());
        // What a reload does take is not reported.
        let c = load(layer(&[
            (&TLS_CERT, path("a.pem")),
            (&TLS_KEY, path("a.key")),
            (&LISTEN_TLS, "127.0.0.1:853".to_owned()),
            (&TIMEOUT, "2s".to_owned()),
            (&RATE_LIMIT, "5".to_owned()),
            (&UPSTREAM, "192.0.2.1#x.test".to_owned()),
        ]));
        assert!(a.restart_needed(&c).is_empty());
    }
}
