//! Per-client rate limiting (governor's GCRA), keyed by address prefix so that one host
//! cannot dodge it by rotating addresses within its prefix (IPv4 /32 and IPv6 /64 by default).
//!
//! The keyed state is hard-bounded at all times: a prefix gets a bucket of its own only while
//! fewer than `max_keys` are tracked; beyond that, new prefixes share one overflow bucket
//! (limited together) until housekeeping drops buckets that are back at a fresh state.
//! Established prefixes keep their state through any flood of new ones, so a spoofer inside
//! the allowed ranges can exhaust only the overflow bucket, never reset anyone's budget.
//! Each bucket carries its own slip count, so one client's limited queries never decide
//! which of another's get the TC=1 answer.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

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
    /// Over the limit, answer every `slip`-th UDP query of a prefix with TC=1 (0: drop them
    /// all).
    pub slip: u32,
    /// Most prefixes with a bucket of their own at any moment; newer ones share one overflow
    /// bucket until housekeeping makes room.
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

/// Shards of the table: a check locks one of them, housekeeping one at a time.
const SHARDS: usize = 64;
const _: () = assert!(SHARDS.is_power_of_two());

/// The state of one prefix (or of the overflow bucket).
#[derive(Default)]
struct Bucket {
    /// GCRA theoretical arrival time, as governor keeps it.
    gcra: InMemoryState,
    /// Limited UDP queries of this prefix so far (wrapping): every `slip`-th slips.
    limited: AtomicU32,
}

impl Bucket {
    /// The theoretical arrival time (`None`: never measured).
    fn tat(&self) -> Option<Nanos> {
        // A measurement that always refuses reads the state without changing it.
        self.gcra
            .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>)
            .err()
            .flatten()
    }
}

/// One lock's share of the table.
type Shard = RwLock<HashTable<(IpAddr, Bucket)>>;

/// The keyed state: prefix -> bucket, never more than `max_keys` entries.
struct Table {
    /// Keyed hash (random per process): clients choose the keys, so they must not be able to
    /// choose collisions.
    hasher: RandomState,
    /// The buckets, spread over [`SHARDS`] locks by hash.
    shards: Box<[Shard]>,
    /// Entries in `shards` plus slots reserved for an insert under way: a slot is taken
    /// before an insert, so this (and the table) never exceeds `max_keys`.
    keys: AtomicUsize,
    /// The cap on `keys`.
    max_keys: usize,
    /// Shared by every new prefix while the table is full.
    overflow: Bucket,
    /// Checks that went to `overflow`.
    overflowed: AtomicU64,
}

impl Table {
    fn new(max_keys: usize) -> Table {
        Table {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
            keys: AtomicUsize::new(0),
            max_keys,
            overflow: Bucket::default(),
            overflowed: AtomicU64::new(0),
        }
    }

    fn shard(&self, hash: u64) -> &Shard {
        // hashbrown uses the top 7 bits within a table; pick the shard from the ones below.
        &self.shards[((hash << 7) >> (64 - SHARDS.trailing_zeros())) as usize]
    }

    /// Takes a slot for a new key, unless the table is full.
    fn reserve(&self) -> bool {
        self.keys
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_keys).then_some(n + 1)
            })
            .is_ok()
    }

    /// Runs `f` on the bucket of `key`: its own, a new one if there is room, else the
    /// overflow bucket.
    fn measure<R>(&self, key: &IpAddr, f: impl FnOnce(&Bucket) -> R) -> R {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        {
            let table = shard.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, bucket)) = table.find(hash, |(k, _)| k == key) {
                return f(bucket);
            }
        }
        if !self.reserve() {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            return f(&self.overflow);
        }
        let mut table = shard.write().unwrap_or_else(PoisonError::into_inner);
        let entry = table.entry(hash, |(k, _)| k == key, |(k, _)| self.hasher.hash_one(k));
        let (_, bucket) = match entry {
            // Another thread inserted it meanwhile: give the slot back.
            Entry::Occupied(o) => {
                self.keys.fetch_sub(1, Ordering::AcqRel);
                o.into_mut()
            }
            Entry::Vacant(v) => v.insert((*key, Bucket::default())).into_mut(),
        };
        f(bucket)
    }

    /// Runs `f` on the bucket `key` has now, without adding one (overflow if it has none).
    fn existing<R>(&self, key: &IpAddr, f: impl FnOnce(&Bucket) -> R) -> R {
        let hash = self.hasher.hash_one(key);
        let table = self
            .shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match table.find(hash, |(k, _)| k == key) {
            Some((_, bucket)) => f(bucket),
            None => f(&self.overflow),
        }
    }

    /// Entries in the table.
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// The table as governor's keyed state store (shared with [`Limiter`] for the slip count).
struct Store(Arc<Table>);

impl StateStore for Store {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure(key, |bucket| {
            bucket.gcra.measure_and_replace(&NotKeyed::NonKey, f)
        })
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for Store {
    fn retain_recent(&self, drop_below: Nanos) {
        let table = &self.0;
        for shard in table.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|(_, bucket)| {
                let keep = bucket.tat().is_some_and(|tat| tat > drop_below);
                if !keep {
                    table.keys.fetch_sub(1, Ordering::AcqRel);
                }
                keep
            });
        }
    }

    fn shrink_to_fit(&self) {
        let table = &self.0;
        for shard in table.shards.iter() {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .shrink_to_fit(|(k, _)| table.hasher.hash_one(k));
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

type Inner<C> = RateLimiter<IpAddr, Store, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The per-prefix limiter.
pub struct Limiter<C: Clock = DefaultClock> {
    settings: RateSettings,
    inner: Inner<C>,
    /// The same table `inner` measures in, for the per-prefix slip count.
    table: Arc<Table>,
    /// `overflowed` as of the last housekeeping, to warn once per sweep.
    overflowed_seen: AtomicU64,
}

impl Limiter<DefaultClock> {
    /// A limiter on the real clock.
    pub fn new(settings: RateSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock> Limiter<C> {
    /// A limiter on `clock` (tests use governor's fake clock).
    pub fn with_clock(settings: RateSettings, clock: C) -> Self {
        let quota = Quota::per_second(settings.qps).allow_burst(settings.burst);
        let table = Arc::new(Table::new(settings.max_keys));
        Limiter {
            settings,
            inner: RateLimiter::new(quota, Store(table.clone()), clock),
            table,
            overflowed_seen: AtomicU64::new(0),
        }
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

    /// Counts one message from `ip`. Allocates only when a new prefix gets its bucket.
    pub fn check(&self, ip: IpAddr, udp: bool) -> Verdict {
        let key = self.key(ip);
        if self.inner.check_key(&key).is_ok() {
            return Verdict::Allow;
        }
        let slip = self.settings.slip;
        if !udp || slip == 0 {
            return Verdict::Limited;
        }
        // Limited path only: a second look-up, for this prefix's own count.
        let n = self.table.existing(&key, |bucket| {
            bucket
                .limited
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1)
        });
        if n.is_multiple_of(slip) {
            Verdict::Slip
        } else {
            Verdict::Limited
        }
    }

    /// Drops buckets back at a fresh state, making room for new prefixes. Run it on a timer:
    /// until it runs, prefixes beyond `max_keys` share the overflow bucket.
    pub fn housekeeping(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
        let overflowed = self.overflowed();
        let before = self.overflowed_seen.swap(overflowed, Ordering::Relaxed);
        if overflowed > before {
            tracing::warn!(
                max_keys = self.settings.max_keys,
                checks = overflowed - before,
                "rate-limit table full (spoofed-source flood?); new clients shared one bucket"
            );
        }
    }

    /// Prefixes with a bucket of their own now (never more than `max_keys`).
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// Checks that went to the shared overflow bucket because the table was full.
    pub fn overflowed(&self) -> u64 {
        self.table.overflowed.load(Ordering::Relaxed)
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
        let l = Limiter::with_clock(settings(0), clock.clone());
        for i in 0..10u8 {
            l.check(IpAddr::from([10, i, 0, 1]), true);
        }
        // Three own buckets (the cap); seven checks went to the shared overflow bucket.
        assert_eq!(l.tracked(), 3);
        assert_eq!(l.overflowed(), 7);
        // Housekeeping keeps buckets still in use...
        l.housekeeping();
        assert_eq!(l.tracked(), 3);
        // ...and drops those back at a fresh state, making room that new prefixes get.
        clock.advance(Duration::from_secs(1));
        l.housekeeping();
        assert_eq!(l.tracked(), 0);
        for i in 20..23u8 {
            l.check(IpAddr::from([10, i, 0, 1]), true);
        }
        assert_eq!(l.tracked(), 3);
        assert_eq!(l.overflowed(), 7);
    }

    /// Finding 9: with `max_keys` = 3, thirteen prefixes never make the table hold more
    /// than three keys (the overflow bucket is the one extra, outside the table).
    #[test]
    fn key_count_never_exceeds_the_cap() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(0), clock);
        for i in 0..13u8 {
            l.check(IpAddr::from([10, i, 0, 1]), true);
            assert!(
                l.tracked() <= 3,
                "{} keys after {} prefixes",
                l.tracked(),
                i + 1
            );
        }
        assert_eq!(l.tracked(), 3);
    }

    /// Finding 9: a flood of new prefixes (and the sweep after it) leaves an established
    /// client's exhausted bucket exhausted; the newcomers share one overflow bucket.
    #[test]
    fn established_bucket_survives_a_flood_of_new_keys() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(0), clock);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(l.check(a, true), Verdict::Allow);
        }
        assert_eq!(l.check(a, true), Verdict::Limited);
        let mut allowed = 0;
        for i in 0..200u8 {
            if l.check(IpAddr::from([10, i, 0, 1]), true) == Verdict::Allow {
                allowed += 1;
            }
        }
        l.housekeeping();
        assert_eq!(l.check(a, true), Verdict::Limited);
        // Two newcomers got buckets of their own (one query each, allowed); the other 198
        // shared the overflow bucket, whose burst of 5 let five through.
        assert_eq!(allowed, 7, "{allowed} of 200 newcomers allowed");
        assert_eq!(l.overflowed(), 198);
    }

    /// Finding 9: the slip count is per client; A's limited queries do not advance B's.
    #[test]
    fn slip_count_is_per_client() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(settings(2), clock);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(l.check(a, true), Verdict::Allow);
            assert_eq!(l.check(b, true), Verdict::Allow);
        }
        assert_eq!(l.check(a, true), Verdict::Limited);
        assert_eq!(l.check(b, true), Verdict::Limited);
        assert_eq!(l.check(b, true), Verdict::Slip);
        assert_eq!(l.check(a, true), Verdict::Slip);
        assert_eq!(l.check(a, true), Verdict::Limited);
    }

    /// The cap holds when threads add keys at once, and the slot count stays exact, so room
    /// freed by housekeeping is all usable again.
    #[test]
    fn cap_holds_under_concurrent_inserts() {
        let clock = FakeRelativeClock::default();
        let l = Limiter::with_clock(
            RateSettings {
                max_keys: 100,
                ..settings(0)
            },
            clock.clone(),
        );
        std::thread::scope(|s| {
            for t in 0..4u16 {
                let l = &l;
                s.spawn(move || {
                    for i in 0..1000u16 {
                        let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, t, i, 0, 0, 0, 1);
                        l.check(IpAddr::V6(ip), true);
                        assert!(l.tracked() <= 100);
                    }
                });
            }
        });
        assert_eq!(l.tracked(), 100);
        assert_eq!(l.table.keys.load(Ordering::Relaxed), 100);
        clock.advance(Duration::from_secs(1));
        l.housekeeping();
        assert_eq!(l.tracked(), 0);
        assert_eq!(l.table.keys.load(Ordering::Relaxed), 0);
    }
}
