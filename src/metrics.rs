//! Process-wide counters: atomics, updated on the hot path without locks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::transport::Transport;
use crate::upstream::verify::FailureKind;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every counter strictdot keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages received from clients (valid or not), by [`Transport::index`].
    pub queries: [Counter; 3],
    /// Messages that passed the header check, the allow list and the rate limiter and so
    /// were validated in full: a refused or limited client never costs a full parse.
    pub validated: Counter,
    /// Messages dropped without an answer (runts, responses).
    pub dropped: Counter,
    /// Messages answered with FORMERR, NOTIMP or BADVERS by the validator.
    pub rejected: Counter,
    /// Queries answered from an upstream.
    pub answered: Counter,
    /// Queries answered SERVFAIL because no upstream answered in time.
    pub servfail: Counter,
    /// UDP answers replaced by a TC=1 answer because they were too large.
    pub truncated: Counter,
    /// Queries answered from the cache.
    pub cache_hits: Counter,
    /// Queries not in the cache (or only stale there).
    pub cache_misses: Counter,
    /// Misses that waited for an identical query already under way.
    pub cache_coalesced: Counter,
    /// Answers served stale because every upstream failed (RFC 8767).
    pub cache_stale: Counter,
    /// Background refreshes of popular entries near expiry.
    pub cache_prefetches: Counter,
    /// Completed upstream TLS handshakes.
    pub handshakes: Counter,
    /// Of those, handshakes that resumed an earlier session.
    pub resumptions: Counter,
    /// Upstream handshakes that failed authentication or TLS negotiation.
    pub auth_failures: Counter,
    /// The same, by [`FailureKind`] (in [`FailureKind::ALL`] order).
    pub auth_failures_by_kind: [Counter; 6],
    /// Answers sent, by [`Transport::index`] and response code class.
    pub responses: [[Counter; RCODES.len()]; 3],
    /// Upstream connection attempts that failed below TLS (refused, unreachable, timeout).
    pub connect_failures: Counter,
    /// Queries retried on another connection or upstream.
    pub retries: Counter,
    /// Times a TCP client was refused because of the connection cap.
    pub tcp_conn_limit_hits: Counter,
    /// Times a query was answered SERVFAIL at once because too many were pending.
    pub pending_limit_hits: Counter,
    /// Times a TCP client was refused because of the per-client connection cap.
    pub tcp_client_limit_hits: Counter,
    /// TCP connections closed for idling or for a frame that did not complete in time.
    pub tcp_timeouts: Counter,
    /// Times a client TCP connection reached its in-flight cap and reading paused.
    pub tcp_in_flight_limit_hits: Counter,
    /// Times every connection to an upstream was full and no more could be opened.
    pub upstream_busy: Counter,
    /// Client TLS connections refused by the per-prefix handshake rate limit.
    pub tls_handshake_limit_hits: Counter,
    /// Completed client TLS handshakes.
    pub tls_client_handshakes: Counter,
    /// Of those, the ones that resumed an earlier session.
    pub tls_client_resumptions: Counter,
    /// Client TLS handshakes that failed or timed out.
    pub tls_client_handshake_failures: Counter,
    /// Messages from clients outside the access list.
    pub acl_refused: Counter,
    /// Messages over the per-client rate limit.
    pub rate_limited: Counter,
    /// Forwarded answers by DNSSEC outcome (in [`DNSSEC_OUTCOMES`] order).
    pub dnssec_outcomes: [Counter; DNSSEC_OUTCOMES.len()],
    /// Time spent validating one answer, chain queries included.
    pub dnssec_time: Histogram,
    /// DS and DNSKEY queries the validator sent (cache hits included).
    pub dnssec_chain_queries: Counter,
    /// Time from a client message's receipt to its answer, by [`Transport::index`].
    pub request_duration: [Histogram; 3],
}

/// DNSSEC outcome labels: the four of RFC 4035 §4.3, and `unchecked` for a client that set
/// CD (RFC 4035 §3.2.2).
pub const DNSSEC_OUTCOMES: [&str; 5] =
    ["secure", "insecure", "bogus", "indeterminate", "unchecked"];

/// Response-code labels counted separately; the last collects the rest.
pub const RCODES: [&str; 7] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other",
];

/// A latency histogram with fixed buckets (seconds), lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [Counter; BUCKETS.len()],
    count: Counter,
    sum_us: Counter,
}

/// Upper bounds of the histogram buckets, in seconds.
pub const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].inc();
        }
        self.count.inc();
        self.sum_us.0.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Appends the histogram's series for one `upstream` label.
    pub fn render(&self, out: &mut String, name: &str, upstream: &str) {
        self.render_labelled(out, name, &format!("upstream=\"{upstream}\""));
    }

    /// Appends the histogram's series with `labels` (`a="b"`, or empty for none).
    pub fn render_labelled(&self, out: &mut String, name: &str, labels: &str) {
        let (open, sep) = if labels.is_empty() {
            ("", "")
        } else {
            (labels, ",")
        };
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += c.get();
            let _ = writeln!(
                out,
                "{name}_bucket{{{open}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.get();
        let _ = writeln!(out, "{name}_bucket{{{open}{sep}le=\"+Inf\"}} {count}");
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            braces(labels),
            self.sum_us.get() as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

impl Metrics {
    /// The counter of one authentication failure kind.
    pub fn auth_failure(&self, kind: FailureKind) -> &Counter {
        let i = FailureKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(5);
        &self.auth_failures_by_kind[i]
    }

    /// Counts a message received from a client.
    pub fn count_query(&self, transport: Transport) {
        self.queries[transport.index()].inc();
    }

    /// The messages received over `transport`.
    pub fn queries(&self, transport: Transport) -> u64 {
        self.queries[transport.index()].get()
    }

    /// Counts an answer sent to a client.
    pub fn count_response(&self, transport: Transport, answer: &[u8]) {
        let rcode = answer.get(3).map_or(usize::MAX, |b| usize::from(b & 0x0F));
        let i = match rcode {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => 3,
            4 => 4,
            5 => 5,
            _ => 6,
        };
        self.responses[transport.index()][i].inc();
    }

    /// Records the time from a client message's receipt to its answer.
    pub fn observe_request(&self, transport: Transport, elapsed: Duration) {
        self.request_duration[transport.index()].observe(elapsed);
    }

    /// Every process-wide series in Prometheus text format (version 0.0.4).
    pub fn render(&self, out: &mut String) {
        render_build_info(out);
        render_process(out);
        let _ = writeln!(
            out,
            "# HELP strictdot_request_duration_seconds Time from a client message's receipt to its answer, by transport.\n# TYPE strictdot_request_duration_seconds histogram"
        );
        for t in Transport::ALL {
            self.request_duration[t.index()].render_labelled(
                out,
                "strictdot_request_duration_seconds",
                &format!("transport=\"{}\"", t.label()),
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP strictdot_queries_total Messages received from clients, by transport.\n# TYPE strictdot_queries_total counter"
        );
        for t in Transport::ALL {
            let _ = writeln!(
                out,
                "strictdot_queries_total{{transport=\"{}\"}} {}",
                t.label(),
                self.queries(t)
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_responses_total Answers sent to clients, by transport and response code.\n# TYPE strictdot_responses_total counter"
        );
        for t in Transport::ALL {
            let transport = t.label();
            for (i, rcode) in RCODES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "strictdot_responses_total{{transport=\"{transport}\",rcode=\"{rcode}\"}} {}",
                    self.responses[t.index()][i].get()
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_auth_failures_total Upstream handshakes refused, by reason.\n# TYPE strictdot_auth_failures_total counter"
        );
        for (kind, c) in FailureKind::ALL.iter().zip(&self.auth_failures_by_kind) {
            let _ = writeln!(
                out,
                "strictdot_auth_failures_total{{reason=\"{}\"}} {}",
                kind.label(),
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_cache_total Cache outcomes.\n# TYPE strictdot_cache_total counter"
        );
        for (outcome, c) in [
            ("hit", &self.cache_hits),
            ("miss", &self.cache_misses),
            ("coalesced", &self.cache_coalesced),
            ("stale", &self.cache_stale),
            ("prefetch", &self.cache_prefetches),
        ] {
            let _ = writeln!(
                out,
                "strictdot_cache_total{{outcome=\"{outcome}\"}} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_limit_hits_total Times a limit was hit, by limit.\n# TYPE strictdot_limit_hits_total counter"
        );
        for (limit, c) in [
            ("tcp_connections", &self.tcp_conn_limit_hits),
            ("tcp_connections_per_client", &self.tcp_client_limit_hits),
            (
                "tcp_in_flight_per_connection",
                &self.tcp_in_flight_limit_hits,
            ),
            ("tcp_timeout", &self.tcp_timeouts),
            ("pending", &self.pending_limit_hits),
            ("upstream_busy", &self.upstream_busy),
            ("rate_limit", &self.rate_limited),
            ("acl", &self.acl_refused),
            ("tls_handshake_rate", &self.tls_handshake_limit_hits),
        ] {
            let _ = writeln!(
                out,
                "strictdot_limit_hits_total{{limit=\"{limit}\"}} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_dnssec_answers_total Forwarded answers by DNSSEC validation outcome.\n# TYPE strictdot_dnssec_answers_total counter"
        );
        for (outcome, c) in DNSSEC_OUTCOMES.iter().zip(&self.dnssec_outcomes) {
            let _ = writeln!(
                out,
                "strictdot_dnssec_answers_total{{outcome=\"{outcome}\"}} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP strictdot_dnssec_validation_seconds Time to validate one answer, chain queries included.\n# TYPE strictdot_dnssec_validation_seconds histogram"
        );
        self.dnssec_time
            .render_labelled(out, "strictdot_dnssec_validation_seconds", "");
        counter(
            out,
            "strictdot_dnssec_chain_queries_total",
            "DS and DNSKEY queries made by the validator (answered from the cache or an upstream).",
            self.dnssec_chain_queries.get(),
        );
        counter(
            out,
            "strictdot_dropped_total",
            "Messages dropped unanswered (runts, responses).",
            self.dropped.get(),
        );
        counter(
            out,
            "strictdot_validated_total",
            "Messages validated in full (past the header check, the allow list and the rate limiter).",
            self.validated.get(),
        );
        counter(
            out,
            "strictdot_rejected_total",
            "Messages answered FORMERR, NOTIMP or BADVERS by the validator.",
            self.rejected.get(),
        );
        counter(
            out,
            "strictdot_upstream_answers_total",
            "Queries answered by an upstream.",
            self.answered.get(),
        );
        counter(
            out,
            "strictdot_servfail_total",
            "Queries answered SERVFAIL because no upstream answered in time.",
            self.servfail.get(),
        );
        counter(
            out,
            "strictdot_truncated_total",
            "UDP answers replaced by TC=1 answers.",
            self.truncated.get(),
        );
        counter(
            out,
            "strictdot_tls_handshakes_total",
            "Completed upstream TLS handshakes.",
            self.handshakes.get(),
        );
        counter(
            out,
            "strictdot_tls_resumptions_total",
            "Upstream handshakes that resumed a session.",
            self.resumptions.get(),
        );
        counter(
            out,
            "strictdot_client_tls_handshakes_total",
            "Completed client TLS handshakes (--listen-tls).",
            self.tls_client_handshakes.get(),
        );
        counter(
            out,
            "strictdot_client_tls_resumptions_total",
            "Client TLS handshakes that resumed a session.",
            self.tls_client_resumptions.get(),
        );
        counter(
            out,
            "strictdot_client_tls_handshake_failures_total",
            "Client TLS handshakes that failed or timed out.",
            self.tls_client_handshake_failures.get(),
        );
        counter(
            out,
            "strictdot_upstream_connect_failures_total",
            "Upstream connections that failed below TLS.",
            self.connect_failures.get(),
        );
        counter(
            out,
            "strictdot_retries_total",
            "Queries retried on another connection or upstream.",
            self.retries.get(),
        );
        let answers = self.answered.get();
        let reuse = if self.handshakes.get() > 0 {
            answers as f64 / self.handshakes.get() as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "# HELP strictdot_connection_reuse_ratio Upstream answers per TLS handshake.\n# TYPE strictdot_connection_reuse_ratio gauge\nstrictdot_connection_reuse_ratio {reuse}"
        );
    }

    /// Logs the traffic and connection figures at info level, one field each (a number in
    /// JSON logs, not one string).
    pub fn log_traffic(&self) {
        let answered = self.answered.get() + self.cache_hits.get();
        let handshakes = self.handshakes.get();
        let per_100k = if answered > 0 {
            handshakes as f64 * 100_000.0 / answered as f64
        } else {
            0.0
        };
        tracing::info!(
            udp_queries = self.queries(Transport::Udp),
            tcp_queries = self.queries(Transport::Tcp),
            tls_queries = self.queries(Transport::Tls),
            upstream_answers = self.answered.get(),
            cache_hits = self.cache_hits.get(),
            servfail = self.servfail.get(),
            truncated = self.truncated.get(),
            handshakes,
            resumptions = self.resumptions.get(),
            handshakes_per_100k_answers = (per_100k * 10.0).round() / 10.0,
            auth_failures = self.auth_failures.get(),
            connect_failures = self.connect_failures.get(),
            retries = self.retries.get(),
            client_tls_handshakes = self.tls_client_handshakes.get(),
            client_tls_resumptions = self.tls_client_resumptions.get(),
            "traffic"
        );
    }

    /// Logs the limit counters at info level, one field each, with `message`.
    pub fn log_limits(&self, message: &str) {
        tracing::info!(
            tcp_conn_limit_hits = self.tcp_conn_limit_hits.get(),
            tcp_client_limit_hits = self.tcp_client_limit_hits.get(),
            tcp_in_flight_limit_hits = self.tcp_in_flight_limit_hits.get(),
            tcp_timeouts = self.tcp_timeouts.get(),
            pending_limit_hits = self.pending_limit_hits.get(),
            upstream_busy = self.upstream_busy.get(),
            rate_limited = self.rate_limited.get(),
            acl_refused = self.acl_refused.get(),
            dropped = self.dropped.get(),
            rejected = self.rejected.get(),
            "{message}"
        );
    }

    /// The limit counters that are not zero, as `name=value` pairs, for the log.
    pub fn limit_summary(&self) -> String {
        let pairs = [
            ("tcp_conn_limit_hits", &self.tcp_conn_limit_hits),
            ("tcp_client_limit_hits", &self.tcp_client_limit_hits),
            ("tcp_in_flight_limit_hits", &self.tcp_in_flight_limit_hits),
            ("tcp_timeouts", &self.tcp_timeouts),
            ("pending_limit_hits", &self.pending_limit_hits),
            ("upstream_busy", &self.upstream_busy),
            ("rate_limited", &self.rate_limited),
            ("acl_refused", &self.acl_refused),
            ("dropped", &self.dropped),
            ("rejected", &self.rejected),
        ];
        pairs
            .iter()
            .filter(|(_, c)| c.get() > 0)
            .map(|(n, c)| format!("{n}={}", c.get()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The commit strictdot was built from: `STRICTDOT_GIT_COMMIT` at build time if set, else
/// read from `.git` by `build.rs`, else "unknown".
pub const COMMIT: &str = match option_env!("STRICTDOT_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// `strictdot_build_info`: the version and commit, as labels of a constant 1.
fn render_build_info(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP strictdot_build_info The version and commit strictdot was built from.\n# TYPE strictdot_build_info gauge\nstrictdot_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        crate::prom::escape_label_value(env!("CARGO_PKG_VERSION")),
        crate::prom::escape_label_value(COMMIT),
    );
}

/// Clock ticks per second in `/proc` (`USER_HZ`): 100 on every architecture Linux exposes
/// to user space but Alpha.
const USER_HZ: f64 = 100.0;

/// The process figures Prometheus clients export, read from `/proc/self`.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Start time, seconds since the epoch.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self` (`None` where there is no procfs).
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        ProcessStats::parse(&stat, &status, &boot, open_fds)
    }

    /// Parses `/proc/self/stat`, `/proc/self/status` and `/proc/stat`.
    pub fn parse(stat: &str, status: &str, boot: &str, open_fds: u64) -> Option<ProcessStats> {
        // The command name (field 2) may hold spaces and parentheses: fields follow the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Field 3 (state) is fields[0]; utime is field 14, stime 15, starttime 22.
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let ticks = field(14)? + field(15)?;
        let start_ticks = field(22)?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()?;
        let btime = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<u64>()
            .ok()?;
        Some(ProcessStats {
            cpu_seconds: ticks as f64 / USER_HZ,
            resident_bytes: rss_kb * 1024,
            open_fds,
            start_time_seconds: btime as f64 + start_ticks as f64 / USER_HZ,
        })
    }
}

/// The standard process series (`process_*`), where `/proc` can be read.
fn render_process(out: &mut String) {
    let Some(p) = ProcessStats::read() else {
        return;
    };
    let _ = writeln!(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
        p.cpu_seconds
    );
    let _ = writeln!(
        out,
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
        p.resident_bytes
    );
    let _ = writeln!(
        out,
        "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {}",
        p.open_fds
    );
    let _ = writeln!(
        out,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {}",
        p.start_time_seconds
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_stats_parse_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 12345 1000 200";
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        let boot = "cpu 1 2 3\nbtime 1700000000\nprocesses 9\n";
        let p = ProcessStats::parse(stat, status, boot, 7).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.resident_bytes, 2048 * 1024);
        assert_eq!(p.open_fds, 7);
        assert_eq!(p.start_time_seconds, 1_700_000_000.0 + 123.45);
    }

    /// The commit label is the checkout's commit (`build.rs` reads `.git`; cargo builds
    /// again when HEAD moves), or the one the build was given in `STRICTDOT_GIT_COMMIT`.
    #[test]
    fn build_info_names_the_commit_built() {
        let mut out = String::new();
        render_build_info(&mut out);
        if option_env!("STRICTDOT_GIT_COMMIT_SOURCE") == Some("env") {
            assert!(out.contains(&format!("commit=\"{COMMIT}\"")), "{out}");
            eprintln!("NOTE: the commit was given in STRICTDOT_GIT_COMMIT ({COMMIT}); not compared with git");
            return;
        }
        let expected = match std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
        {
            Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_owned(),
            _ => {
                eprintln!(
                    "WARNING: SKIPPED build_info_names_the_commit_built: not a git checkout \
                     (or no git binary); the label is {COMMIT:?}"
                );
                return;
            }
        };
        assert!(
            out.contains(&format!("commit=\"{expected}\"")),
            "{out} (expected commit {expected})"
        );
    }
}
