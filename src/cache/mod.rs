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
//! - `flight.rs`: single flight, one upstream query per key at a time;
//! - `ttl.rs`: what may be cached and for how long, and the TTLs a client sees.

mod flight;
mod key;
mod store;
mod ttl;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::dns::edns::own_subnet_echo;
use crate::dns::query::ValidQuery;
use crate::dns::Rcode;

pub use flight::{Flight, Leader, Shared};
pub use key::CacheKey;
pub use ttl::{cacheable, client_view, STALE_TTL};

use store::{entry_bytes, Stamp, Store};
use ttl::set_ttls;

/// Cache shards: each a mutex over a map, so two cores rarely wait on each other.
const SHARDS: usize = 16;

/// Cache settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Entries at most (all shards together).
    pub max_entries: usize,
    /// Bytes of stored answers at most.
    pub max_bytes: usize,
    /// TTLs below this are raised to it (seconds).
    pub min_ttl: u32,
    /// TTLs above this are lowered to it (seconds).
    pub max_ttl: u32,
    /// How long an upstream SERVFAIL is remembered (seconds; 0: never).
    pub servfail_ttl: u32,
    /// Keep expired entries this long to answer when every upstream fails (RFC 8767).
    pub serve_stale: Option<Duration>,
    /// Refresh entries still asked for near their expiry.
    pub prefetch: bool,
}

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
    inflight: Mutex<HashMap<CacheKey, watch::Receiver<Shared>>>,
}

impl Shard {
    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn lock_inflight(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<CacheKey, watch::Receiver<Shared>>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
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
                inflight: Mutex::new(HashMap::new()),
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

/// Queries and answers the unit tests of every part share.
#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::dns::builder::QueryBuilder;
    use crate::dns::query::validate;

    pub fn settings() -> CacheSettings {
        CacheSettings {
            max_entries: 1000,
            max_bytes: 1 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            servfail_ttl: 2,
            serve_stale: Some(Duration::from_secs(3600)),
            prefetch: true,
        }
    }

    /// The dotted text of a wire-form name, for the shared query builder.
    fn text(name: &[u8]) -> String {
        crate::dns::name_to_text(name)
    }

    pub fn query(name: &[u8], id: u16) -> ValidQuery {
        validate(&QueryBuilder::new(&text(name), 1).id(id).build()).unwrap()
    }

    /// A query for `name` with an OPT carrying the ECS option `ecs` (its data).
    pub fn query_with_ecs(name: &[u8], id: u16, ecs: &[u8]) -> ValidQuery {
        let q = QueryBuilder::new(&text(name), 1).id(id).option(8, ecs);
        validate(&q.build()).unwrap()
    }

    /// `answer(q, 0, ttl, 1)` with an OPT echoing the ECS option `ecs` (its data).
    pub fn answer_with_ecs(q: &ValidQuery, ttl: u32, ecs: &[u8]) -> Vec<u8> {
        let mut m = answer(q, 0, ttl, 1);
        m[11] = 1;
        m.extend([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
        m.extend((ecs.len() as u16 + 4).to_be_bytes());
        m.extend([0, 8]);
        m.extend((ecs.len() as u16).to_be_bytes());
        m.extend(ecs);
        m
    }

    pub fn answer(q: &ValidQuery, rcode: u8, ttl: u32, count: u16) -> Vec<u8> {
        let mut m = q.bytes()[..12].to_vec();
        m[2] |= 0x80;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&count.to_be_bytes());
        m.extend(q.question());
        for _ in 0..count {
            m.extend([0xC0, 0x0C, 0, 1, 0, 1]);
            m.extend(ttl.to_be_bytes());
            m.extend([0, 4, 192, 0, 2, 1]);
        }
        m
    }

    pub fn nxdomain(q: &ValidQuery, soa_ttl: u32, minimum: u32) -> Vec<u8> {
        let mut m = answer(q, 3, 0, 0);
        m[9] = 1; // NSCOUNT
        m.extend([0xC0, 0x0C, 0, 6, 0, 1]);
        m.extend(soa_ttl.to_be_bytes());
        let mut rdata = vec![0, 0]; // mname, rname: root
        rdata.extend([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
        rdata.extend(minimum.to_be_bytes());
        m.extend((rdata.len() as u16).to_be_bytes());
        m.extend(rdata);
        m
    }

    pub fn ttl_of_first_answer(msg: &[u8], q: &ValidQuery) -> u32 {
        let at = 12 + q.question().len() + 6;
        u32::from_be_bytes(msg[at..at + 4].try_into().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::ttl_of_first_answer;
    use super::fixtures::{answer, answer_with_ecs, query, query_with_ecs, settings};
    use super::*;
    use std::sync::Arc;

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
}
