//! The answer cache: bounded in entries and bytes, keyed by what changes the answer,
//! TTL arithmetic per RFC 1035 §3.2.1 / RFC 2308 (negative answers) / RFC 8767 (stale),
//! with identical concurrent misses coalesced into one upstream query.
//!
//! Entries hold the answer as the first client saw it; a hit rewrites ID, question case and
//! TTLs in a copy. Locks are held only to clone out or insert, never across an `.await`.
//! Time is tokio's, so tests drive expiry with paused time.
//!
//! - `key.rs`: what identifies an answer ([`CacheKey`]) and its hash;
//! - `store.rs`: one shard's bounded store (table, blocks, FIFO eviction);
//! - `flight.rs`: single flight, one upstream query per key at a time (each shard's
//!   `Inflight`);
//! - `ttl.rs`: what may be cached and for how long, and the TTLs a client sees;
//! - `settings.rs`: [`CacheSettings`] and the shard count, a leaf the others share;
//! - `fixtures.rs` (tests only): the queries and answers every part's tests use.

#[cfg(test)]
mod fixtures;
mod flight;
mod key;
mod settings;
mod store;
mod ttl;

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::dns::edns::own_subnet_echo;
use crate::dns::query::ValidQuery;
use crate::dns::Rcode;

pub use flight::{Flight, Leader, Shared};
pub use key::CacheKey;
pub use settings::CacheSettings;
pub use ttl::{cacheable, client_view, STALE_TTL};

use flight::Inflight;
use settings::SHARDS;
use store::{entry_bytes, Stamp, Store};
use ttl::set_ttls;

/// What a lookup found.
pub enum Lookup {
    /// A live entry: the answer, and whether the caller should refresh it in the background.
    Fresh(Vec<u8>, bool),
    /// Only an expired entry kept for serve-stale: the answer it gives if every upstream
    /// fails (RFC 8767: TTL 30).
    Stale(Vec<u8>),
    /// Nothing.
    Miss,
}

/// One shard: its stored answers and the upstream queries under way for its keys.
struct Shard {
    store: Mutex<Store>,
    inflight: Arc<Inflight>,
}

impl Shard {
    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The cache.
pub struct Cache {
    shards: Box<[Shard]>,
    settings: CacheSettings,
    /// Entries keep their times as milliseconds since this instant.
    epoch: Instant,
}

impl Cache {
    /// An empty cache.
    pub fn new(settings: CacheSettings) -> Cache {
        // Sized for a full cache up front (within reason): a table that grows doubles,
        // and for a moment holds the old and the new copy, which sets the peak RSS.
        let per_shard = (settings.max_entries / SHARDS + 1).min(1 << 16);
        let max_entries = (settings.max_entries / SHARDS).max(1);
        let max_bytes = (settings.max_bytes / SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| Shard {
                store: Mutex::new(Store::new(per_shard, max_entries, max_bytes)),
                inflight: Arc::default(),
            })
            .collect();
        Cache {
            shards,
            settings,
            epoch: Instant::now(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &CacheKey) -> &Shard {
        &self.shards[key.shard()]
    }

    /// Entries stored now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock_store().table.len()).sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `query` up at `now`.
    pub fn lookup(&self, key: &CacheKey, query: &ValidQuery, now: Instant) -> Lookup {
        let mut store = self.shard(key).lock_store();
        let Some((entry, data)) = store.get_mut(key) else {
            return Lookup::Miss;
        };
        let now_ms = self.ms(now);
        let expires_ms = entry.expires_ms();
        if now_ms < expires_ms {
            let remaining_ms = expires_ms - now_ms;
            let lifetime_ms = entry.lifetime_ms();
            // Refresh when less than a tenth of the lifetime is left, once per entry.
            let prefetch = self.settings.prefetch
                && lifetime_ms >= 10_000
                && remaining_ms * 10 < lifetime_ms
                && !std::mem::replace(&mut entry.prefetching, true);
            return Lookup::Fresh(entry.answer_for(data, query, now_ms, None), prefetch);
        }
        match self.settings.serve_stale {
            Some(window) if now_ms < expires_ms.saturating_add(window.as_millis() as u64) => {
                Lookup::Stale(entry.answer_for(data, query, now_ms, Some(STALE_TTL)))
            }
            _ => Lookup::Miss,
        }
    }

    /// Leads or follows the upstream query for `key`.
    pub fn join(self: &Arc<Self>, key: &CacheKey) -> Flight {
        self.shard(key).inflight.join(key)
    }

    /// Stores `msg` (an answer for `query`) if it may be cached, and returns the answer the
    /// client should get: with the TTLs as the cache will serve them (clamped to
    /// `--cache-min-ttl`/`--cache-max-ttl`, negative answers at their negative TTL).
    ///
    /// When the client's ECS was forwarded, the answer's ECS option first becomes the
    /// client's own ([`own_subnet_echo`]); an answer whose ECS belongs to another subnet is
    /// dropped (RFC 7871 §7.3) and the client gets SERVFAIL, never cached. Either way the
    /// answer returned is fit for every client with this key: they sent the same ECS.
    pub fn insert(
        &self,
        key: CacheKey,
        mut msg: Vec<u8>,
        query: &ValidQuery,
        now: Instant,
    ) -> Vec<u8> {
        if key.forwards_subnet() && own_subnet_echo(&mut msg, query).is_err() {
            tracing::debug!("answer dropped: its ECS is not the client's (RFC 7871 §7.3)");
            return query.error_answer(Rcode::ServFail);
        }
        let Some((lifetime, ttls)) = cacheable(&msg, &self.settings) else {
            return msg;
        };
        // The client gets the TTLs the cache will serve; `msg` already has its ID and case.
        let mut answer = msg;
        set_ttls(&mut answer, &ttls);
        client_view(&mut answer, query);
        let Some(bytes) = entry_bytes(&key, &answer, &ttls) else {
            return answer;
        };
        let stamp = Stamp {
            stored_ms: self.ms(now),
            lifetime,
            msg_len: answer.len() as u16,
        };
        self.shard(&key).lock_store().put(&key, &bytes, stamp);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ttl_of_first_answer;
    use super::fixtures::{answer, answer_with_ecs, query, query_with_ecs, settings};
    use super::store::BLOCK;
    use super::*;
    use crate::dns::ede::Cause;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn hit_rewrites_id_case_and_ttl_then_expires() {
        let cache = Arc::new(Cache::new(settings()));
        let q = query(b"\x03www\x07example\x00", 1);
        let key = CacheKey::of(&q, false);
        cache.insert(key.clone(), answer(&q, 0, 300, 1), &q, Instant::now());
        assert_eq!(cache.len(), 1);
        tokio::time::advance(Duration::from_secs(100)).await;
        let q2 = query(b"\x03WWW\x07Example\x00", 2);
        assert_eq!(CacheKey::of(&q2, false), key);
        let Lookup::Fresh(hit, prefetch) = cache.lookup(&key, &q2, Instant::now()) else {
            panic!("miss")
        };
        assert!(!prefetch);
        assert_eq!(&hit[..2], &[0, 2]);
        assert_eq!(&hit[12..12 + q2.question().len()], q2.question());
        assert_eq!(ttl_of_first_answer(&hit, &q2), 200);
        tokio::time::advance(Duration::from_secs(175)).await;
        let Lookup::Fresh(_, prefetch) = cache.lookup(&key, &q2, Instant::now()) else {
            panic!("miss")
        };
        assert!(prefetch, "inside the last tenth");
        tokio::time::advance(Duration::from_secs(30)).await;
        let Lookup::Stale(stale) = cache.lookup(&key, &q2, Instant::now()) else {
            panic!("not stale")
        };
        assert_eq!(ttl_of_first_answer(&stale, &q2), STALE_TTL);
    }

    #[test]
    fn a_forwarded_subnet_is_echoed_as_the_clients_own_or_the_answer_dropped() {
        let cache = Cache::new(settings());
        let now = Instant::now();
        let mine = [0, 1, 24, 0, 198, 51, 100];
        let q = query_with_ecs(b"\x01e\x00", 1, &mine);
        let key = CacheKey::of(&q, true);
        // RFC 7871 §7.3: an echo of another subnet drops the whole answer.
        let foreign = answer_with_ecs(&q, 300, &[0, 1, 24, 24, 203, 0, 113]);
        let got = cache.insert(key.clone(), foreign, &q, now);
        assert_eq!(got[3] & 0x0F, 2, "SERVFAIL");
        assert!(cache.is_empty());
        // The client's own, with a scope: cached for that subnet, served as sent.
        let own = answer_with_ecs(&q, 300, &[0, 1, 24, 24, 198, 51, 100]);
        let got = cache.insert(key.clone(), own.clone(), &q, now);
        assert_eq!(got, own);
        let q2 = query_with_ecs(b"\x01e\x00", 2, &mine);
        let Lookup::Fresh(hit, _) = cache.lookup(&CacheKey::of(&q2, true), &q2, now) else {
            panic!("miss")
        };
        assert_eq!(&hit[2..], &own[2..]);
        // Not forwarded: the echo is not looked at (behaviour without --keep-ecs).
        let plain = CacheKey::of(&q, false);
        let foreign = answer_with_ecs(&q, 300, &[0, 1, 24, 24, 203, 0, 113]);
        assert_eq!(cache.insert(plain, foreign.clone(), &q, now), foreign);
    }

    // Single flight (flight.rs) through a whole cache.

    #[test]
    fn a_leader_without_followers_copies_nothing_and_frees_the_key() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1), false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        leader.finish(Some(&b"answer"[..]));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn concurrent_misses_coalesce() {
        let cache = Arc::new(Cache::new(settings()));
        let q = query(b"\x01a\x00", 1);
        let key = CacheKey::of(&q, false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(rx) = cache.join(&key) else {
            panic!("second follows")
        };
        leader.finish(Some(&b"answer"[..]));
        assert!(matches!(rx.await.unwrap(), Shared::Done(a) if &a[..] == b"answer"));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
    }

    #[tokio::test]
    async fn followers_learn_why_the_leader_failed() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1), false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(rx) = cache.join(&key) else {
            panic!("second follows")
        };
        let bogus = Cause::Bogus {
            info_code: 7,
            reason: "signature expired",
        };
        leader.fail(bogus);
        assert!(matches!(rx.await.unwrap(), Shared::Failed(Some(c)) if c == bogus));
    }

    #[tokio::test]
    async fn every_follower_hears_and_a_dropped_leader_fails_them() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1), false);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let followers: Vec<_> = (0..3)
            .map(|_| match cache.join(&key) {
                Flight::Follower(rx) => rx,
                Flight::Leader(_) => panic!("the key is under way"),
            })
            .collect();
        let mut followers = followers.into_iter();
        // One follower gives up (its budget ran out): the others still hear.
        drop(followers.next());
        leader.finish(Some(&b"answer"[..]));
        for rx in followers {
            assert!(matches!(rx.await.unwrap(), Shared::Done(a) if &a[..] == b"answer"));
        }

        // A leader dropped before it finished (its client's task was cancelled) fails its
        // followers at once and frees the key.
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("the key was freed")
        };
        let Flight::Follower(rx) = cache.join(&key) else {
            panic!("second follows")
        };
        drop(leader);
        assert!(matches!(rx.await.unwrap(), Shared::Failed(None)));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
    }

    // One shard's bounded store (store.rs) through a whole cache.

    #[test]
    fn bounded_in_entries() {
        let cache = Cache::new(CacheSettings {
            max_entries: SHARDS * 2,
            ..settings()
        });
        let now = Instant::now();
        for i in 0..500u32 {
            let name = format!("\x04n{:03}\x00", i % 1000);
            let q = query(name.as_bytes(), 1);
            cache.insert(CacheKey::of(&q, false), answer(&q, 0, 300, 1), &q, now);
        }
        assert!(cache.len() <= SHARDS * 2);
    }

    #[test]
    fn replacing_an_entry_keeps_one_and_serves_the_new() {
        let cache = Cache::new(settings());
        let q = query(b"\x01r\x00", 1);
        let now = Instant::now();
        cache.insert(CacheKey::of(&q, false), answer(&q, 0, 300, 1), &q, now);
        cache.insert(CacheKey::of(&q, false), answer(&q, 0, 100, 1), &q, now);
        assert_eq!(cache.len(), 1);
        let Lookup::Fresh(hit, _) = cache.lookup(&CacheKey::of(&q, false), &q, now) else {
            panic!("miss")
        };
        assert_eq!(ttl_of_first_answer(&hit, &q), 100);
        let bytes: usize = cache.shards.iter().map(|s| s.lock_store().bytes).sum();
        assert_eq!(bytes, BLOCK, "one block holds both versions");
    }

    #[test]
    fn bounded_in_bytes_and_oldest_go_first() {
        let cache = Cache::new(CacheSettings {
            max_bytes: SHARDS * 400,
            ..settings()
        });
        let now = Instant::now();
        let names: Vec<String> = (0..400u32).map(|i| format!("\x05n{i:04}\x00")).collect();
        for name in &names {
            let q = query(name.as_bytes(), 1);
            cache.insert(CacheKey::of(&q, false), answer(&q, 0, 300, 1), &q, now);
        }
        for shard in cache.shards.iter() {
            assert!(shard.lock_store().bytes <= 400);
        }
        assert!(cache.len() < 400 && !cache.is_empty());
        let last = query(names[399].as_bytes(), 1);
        assert!(matches!(
            cache.lookup(&CacheKey::of(&last, false), &last, now),
            Lookup::Fresh(..)
        ));
        let first = query(names[0].as_bytes(), 1);
        assert!(matches!(
            cache.lookup(&CacheKey::of(&first, false), &first, now),
            Lookup::Miss
        ));
    }

    #[test]
    fn churn_frees_whole_blocks_and_keeps_bytes_bounded() {
        let cache = Cache::new(CacheSettings {
            max_entries: SHARDS * 50,
            max_bytes: SHARDS * 4 * BLOCK,
            ..settings()
        });
        let now = Instant::now();
        for i in 0..20_000u32 {
            let name = format!("\x06c{i:05}\x00");
            let q = query(name.as_bytes(), 1);
            cache.insert(CacheKey::of(&q, false), answer(&q, 0, 300, 1), &q, now);
        }
        for shard in cache.shards.iter() {
            let store = shard.lock_store();
            assert!(store.table.len() <= 50);
            // 50 entries of ~60 octets fit in one block; the one being filled may be new.
            assert!(store.blocks.len() <= 2, "{} blocks", store.blocks.len());
            assert_eq!(
                store.bytes,
                store
                    .blocks
                    .iter()
                    .map(|b| b.data.capacity())
                    .sum::<usize>()
            );
            let live: usize = store.blocks.iter().map(|b| b.live).sum();
            assert_eq!(live, store.table.len());
        }
        let q = query(b"\x06c19999\x00", 7);
        let Lookup::Fresh(hit, _) = cache.lookup(&CacheKey::of(&q, false), &q, now) else {
            panic!("the newest entry is served")
        };
        assert_eq!(&hit[..2], &[0, 7]);
        assert_eq!(ttl_of_first_answer(&hit, &q), 300);
    }
}

#[cfg(test)]
mod mem_probe {
    use super::*;
    use crate::dns::query::validate;

    fn rss_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    #[test]
    #[ignore]
    fn memory_per_entry() {
        let cache = Cache::new(CacheSettings {
            max_entries: 100_000,
            max_bytes: 32 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            servfail_ttl: 2,
            serve_stale: None,
            prefetch: true,
        });
        let before = rss_kb();
        let now = Instant::now();
        for i in 0..100_000u32 {
            let name = format!("n{i}");
            let mut m = vec![0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, name.len() as u8];
            m.extend(name.as_bytes());
            m.extend(b"\x05bench\x00\x00\x01\x00\x01");
            let q = validate(&m).unwrap();
            let mut a = m.clone();
            a[2] |= 0x80;
            a[7] = 1;
            a.extend([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 0x2C, 0, 4, 192, 0, 2, 1]);
            cache.insert(CacheKey::of(&q, false), a, &q, now);
        }
        eprintln!("entries {} rss delta {} kB", cache.len(), rss_kb() - before);
    }
}
