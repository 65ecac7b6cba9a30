//! Process-wide counters: atomics, updated on the hot path without locks.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Queries received over UDP (valid or not).
    pub udp_queries: Counter,
    /// Queries received over TCP (valid or not).
    pub tcp_queries: Counter,
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
    /// Messages from clients outside the access list.
    pub acl_refused: Counter,
    /// Messages over the per-client rate limit.
    pub rate_limited: Counter,
}

impl Metrics {
    /// Traffic and connection figures, as `name=value` pairs, for the log.
    pub fn traffic_summary(&self) -> String {
        let answered = self.answered.get() + self.cache_hits.get();
        let handshakes = self.handshakes.get();
        let per_100k = if answered > 0 {
            handshakes as f64 * 100_000.0 / answered as f64
        } else {
            0.0
        };
        format!(
            "udp_queries={} tcp_queries={} upstream_answers={} cache_hits={} servfail={} \
             truncated={} handshakes={} resumptions={} handshakes_per_100k_answers={:.1} \
             auth_failures={} connect_failures={} retries={}",
            self.udp_queries.get(),
            self.tcp_queries.get(),
            self.answered.get(),
            self.cache_hits.get(),
            self.servfail.get(),
            self.truncated.get(),
            handshakes,
            self.resumptions.get(),
            per_100k,
            self.auth_failures.get(),
            self.connect_failures.get(),
            self.retries.get(),
        )
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
