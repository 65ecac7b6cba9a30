//! Per-client rate limiting (governor), keyed by address prefix so that one host cannot
//! dodge it by rotating addresses within its prefix (IPv4 /32 and IPv6 /64 by default).
//!
//! Keyed state is bounded: housekeeping drops keys that are back to a fresh state, and if a
//! (spoofed-source) flood still leaves more keys than the cap, the table starts afresh.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::acl::{canonical, mask};

/// Rate-limit settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSettings {
    /// Sustained queries per second per prefix.
    pub qps: NonZeroU32,
    /// Queries allowed in a burst.
    pub burst: NonZeroU32,
    /// Prefix length grouping IPv4 clients.
    pub v4_prefix: u8,
    /// Prefix length grouping IPv6 clients.
    pub v6_prefix: u8,
    /// Over the limit, answer every `slip`-th UDP query with TC=1 (0: drop them all).
    pub slip: u32,
    /// Most prefixes tracked at once.
    pub max_keys: usize,
}

/// The outcome for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit.
    Allow,
    /// Over the limit: drop (UDP) or refuse (TCP).
    Limited,
    /// Over the limit, but this one gets a TC=1 answer (UDP only).
    Slip,
}

type Inner<C> =
    RateLimiter<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The per-prefix limiter.
pub struct Limiter<C: Clock = DefaultClock> {
    settings: RateSettings,
    clock: C,
    inner: RwLock<Arc<Inner<C>>>,
    limited: AtomicU64,
    resets: AtomicU64,
}

impl Limiter<DefaultClock> {
    /// A limiter on the real clock.
    pub fn new(settings: RateSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiter<C> {
    /// A limiter on `clock` (tests use governor's fake clock).
    pub fn with_clock(settings: RateSettings, clock: C) -> Self {
        let inner = Arc::new(Self::fresh(&settings, &clock));
        Limiter {
            settings,
            clock,
            inner: RwLock::new(inner),
            limited: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }

    fn fresh(settings: &RateSettings, clock: &C) -> Inner<C> {
        let quota = Quota::per_second(settings.qps).allow_burst(settings.burst);
        RateLimiter::dashmap_with_clock(quota, clock.clone())
    }

    fn current(&self) -> Arc<Inner<C>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key of a client: its address cut to the configured prefix.
    pub fn key(&self, ip: IpAddr) -> IpAddr {
        let ip = canonical(ip);
        let len = if ip.is_ipv4() {
            self.settings.v4_prefix
        } else {
            self.settings.v6_prefix
        };
        mask(ip, len)
    }

    /// Counts one message from `ip`.
    pub fn check(&self, ip: IpAddr, udp: bool) -> Verdict {
        if self.current().check_key(&self.key(ip)).is_ok() {
            return Verdict::Allow;
        }
        let n = self.limited.fetch_add(1, Ordering::Relaxed) + 1;
        let slip = u64::from(self.settings.slip);
        if udp && slip > 0 && n % slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Limited
        }
    }

    /// Drops keys back at a fresh state; starts afresh if the table is still over the cap.
    /// Run it on a timer.
    pub fn housekeeping(&self) {
        let inner = self.current();
        inner.retain_recent();
        inner.shrink_to_fit();
        if inner.len() > self.settings.max_keys {
            *self.inner.write().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(Self::fresh(&self.settings, &self.clock));
            self.resets.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                max_keys = self.settings.max_keys,
                "rate-limit table over its cap (spoofed-source flood?); started afresh"
            );
        }
    }

    /// Prefixes tracked now.
    pub fn tracked(&self) -> usize {
        self.current().len()
    }

    /// Times the table was started afresh because of the cap.
    pub fn resets(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::time::Duration;

    fn settings(slip: u32) -> RateSettings {
        RateSettings {
            qps: NonZeroU32::new(10).unwrap(),
            burst: NonZeroU32::new(5).unwrap(),
            v4_prefix: 24,
            v6_prefix: 64,
            slip,
            max_keys: 3,
        }
    }

    #[test]
    fn burst_then_limited_then_refilled() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(0), clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(l.check(ip, true), Verdict::Allow);
        }
        assert_eq!(l.check(ip, true), Verdict::Limited);
        // Same /24: same bucket.
        assert_eq!(
            l.check("192.0.2.200".parse().unwrap(), true),
            Verdict::Limited
        );
        // Another prefix is unaffected.
        assert_eq!(
            l.check("198.51.100.1".parse().unwrap(), true),
            Verdict::Allow
        );
        clock.advance(Duration::from_millis(100));
        assert_eq!(l.check(ip, true), Verdict::Allow);
        assert_eq!(l.check(ip, true), Verdict::Limited);
    }

    #[test]
    fn slip_every_nth_udp_only() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(2), clock);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..5 {
            l.check(ip, true);
        }
        let v: Vec<Verdict> = (0..4).map(|_| l.check(ip, true)).collect();
        assert_eq!(
            v,
            [
                Verdict::Limited,
                Verdict::Slip,
                Verdict::Limited,
                Verdict::Slip
            ]
        );
        assert_eq!(l.check(ip, false), Verdict::Limited);
        // Rotating within the /64 does not help.
        assert_ne!(
            l.check("2001:db8::ffff".parse().unwrap(), false),
            Verdict::Allow
        );
    }

    #[test]
    fn key_table_bounded() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(0), clock);
        for i in 0..10u8 {
            l.check(IpAddr::from([10, i, 0, 1]), true);
        }
        assert_eq!(l.tracked(), 10);
        l.housekeeping();
        assert_eq!(l.tracked(), 0);
        assert_eq!(l.resets(), 1);
    }
}
