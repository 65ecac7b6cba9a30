//! The answer cache: bounded in entries and bytes, keyed by what changes the answer,
//! TTL arithmetic per RFC 1035 §3.2.1 / RFC 2308 (negative answers) / RFC 8767 (stale),
//! with identical concurrent misses coalesced into one upstream query.
//!
//! Entries hold the answer as the first client saw it; a hit rewrites ID, question case and
//! TTLs in a copy. Locks are held only to clone out or insert, never across an `.await`.
//! Time is tokio's, so tests drive expiry with paused time.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::dns::query::{flags, read_question, Header, ValidQuery};
use crate::dns::reader::Reader;
use crate::dns::{HEADER_LEN, TYPE_OPT};

/// Resource record type SOA.
const TYPE_SOA: u16 = 6;
/// Cache shards: each a mutex over a map, so two cores rarely wait on each other.
const SHARDS: usize = 16;
/// TTL given to stale answers (RFC 8767 §4 recommends 30 seconds).
pub const STALE_TTL: u32 = 30;

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

/// What identifies a cached answer: the name (case-folded), type and class, and the query
/// bits that change the answer: DO, CD, AD, RD, and whether the client sent EDNS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    name: Box<[u8]>,
    qtype: u16,
    qclass: u16,
    bits: u8,
}

impl CacheKey {
    /// The key of `query`.
    pub fn of(query: &ValidQuery) -> CacheKey {
        let f = query.flags();
        let mut bits = 0u8;
        if query.edns().is_some_and(|e| e.dnssec_ok) {
            bits |= 1;
        }
        if f & flags::CD != 0 {
            bits |= 2;
        }
        if f & flags::AD != 0 {
            bits |= 4;
        }
        if f & flags::RD != 0 {
            bits |= 8;
        }
        if query.edns().is_some() {
            bits |= 16;
        }
        CacheKey {
            name: query.qname().to_ascii_lowercase().into_boxed_slice(),
            qtype: query.qtype(),
            qclass: query.qclass(),
            bits,
        }
    }
}

/// One stored answer.
pub struct Entry {
    msg: Box<[u8]>,
    /// Offsets of the TTL fields to rewrite, with their stored (clamped) values.
    ttls: Box<[(u32, u32)]>,
    stored: Instant,
    expires: Instant,
    lifetime: Duration,
    prefetching: AtomicBool,
}

impl Entry {
    fn size(&self) -> usize {
        self.msg.len() + self.ttls.len() * 8 + 96
    }

    /// The answer for `query`: its ID and question bytes, TTLs reduced by the time spent in
    /// the cache (or set to `ttl_override`).
    fn answer_for(&self, query: &ValidQuery, now: Instant, ttl_override: Option<u32>) -> Vec<u8> {
        let mut out = self.msg.to_vec();
        let elapsed =
            u32::try_from(now.saturating_duration_since(self.stored).as_secs()).unwrap_or(u32::MAX);
        for &(at, ttl) in self.ttls.iter() {
            let value = ttl_override.unwrap_or(ttl.saturating_sub(elapsed));
            let at = at as usize;
            if let Some(field) = out.get_mut(at..at + 4) {
                field.copy_from_slice(&value.to_be_bytes());
            }
        }
        client_view(&mut out, query);
        out
    }
}

/// Gives a stored or shared answer the ID and question bytes of `query` (same key, so the
/// question has the same length).
pub fn client_view(msg: &mut [u8], query: &ValidQuery) {
    crate::dns::set_message_id(msg, query.id());
    let q = query.question();
    if let Some(dst) = msg.get_mut(HEADER_LEN..HEADER_LEN + q.len()) {
        dst.copy_from_slice(q);
    }
}

/// What a lookup found.
pub enum Lookup {
    /// A live entry: the answer, and whether the caller should refresh it in the background.
    Fresh(Vec<u8>, bool),
    /// Only an expired entry kept for serve-stale.
    Stale(Arc<Entry>),
    /// Nothing.
    Miss,
}

/// The outcome of a shared upstream query.
#[derive(Clone, Debug)]
pub enum Shared {
    /// Still under way.
    Pending,
    /// The answer, as the leader's client got it.
    Done(Arc<[u8]>),
    /// The leader got no answer.
    Failed,
}

/// Joining a query for a key: lead it, or follow the one under way.
pub enum Flight {
    /// Nobody is asking yet: resolve, then call [`Leader::finish`].
    Leader(Leader),
    /// Somebody is: wait for their outcome.
    Follower(watch::Receiver<Shared>),
}

/// The one query under way for a key. Dropping it unfinished fails the followers.
pub struct Leader {
    cache: Arc<Cache>,
    key: CacheKey,
    tx: watch::Sender<Shared>,
    finished: bool,
}

impl Leader {
    /// Publishes the outcome to the followers.
    pub fn finish(mut self, outcome: Shared) {
        self.finished = true;
        let _ = self.tx.send(outcome);
        self.cache
            .shard(&self.key)
            .lock_inflight()
            .remove(&self.key);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.send(Shared::Failed);
            self.cache
                .shard(&self.key)
                .lock_inflight()
                .remove(&self.key);
        }
    }
}

struct Store {
    map: HashMap<CacheKey, Arc<Entry>>,
    /// Keys in insertion order: eviction takes the oldest (FIFO), in O(1). A key may
    /// appear here after it left the map (replaced or evicted); such stale slots are
    /// skipped, and the queue is compacted when they pile up.
    order: VecDeque<(CacheKey, Instant)>,
    bytes: usize,
}

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
    hasher: RandomState,
    settings: CacheSettings,
}

impl Cache {
    /// An empty cache.
    pub fn new(settings: CacheSettings) -> Cache {
        let shards = (0..SHARDS)
            .map(|_| Shard {
                store: Mutex::new(Store {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    bytes: 0,
                }),
                inflight: Mutex::new(HashMap::new()),
            })
            .collect();
        Cache {
            shards,
            hasher: RandomState::new(),
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    fn shard(&self, key: &CacheKey) -> &Shard {
        let h = self.hasher.hash_one(key) as usize;
        &self.shards[h % SHARDS]
    }

    /// Entries stored now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock_store().map.len()).sum()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Looks `query` up at `now`.
    pub fn lookup(&self, key: &CacheKey, query: &ValidQuery, now: Instant) -> Lookup {
        let entry = {
            let store = self.shard(key).lock_store();
            match store.map.get(key) {
                Some(e) => e.clone(),
                None => return Lookup::Miss,
            }
        };
        if now < entry.expires {
            let remaining = entry.expires - now;
            // Refresh when less than a tenth of the lifetime is left, once per entry.
            let prefetch = self.settings.prefetch
                && entry.lifetime >= Duration::from_secs(10)
                && remaining * 10 < entry.lifetime
                && !entry.prefetching.swap(true, Ordering::Relaxed);
            return Lookup::Fresh(entry.answer_for(query, now, None), prefetch);
        }
        match self.settings.serve_stale {
            Some(window) if now < entry.expires + window => Lookup::Stale(entry),
            _ => Lookup::Miss,
        }
    }

    /// The answer a stale entry gives (RFC 8767: TTL 30).
    pub fn stale_answer(entry: &Entry, query: &ValidQuery, now: Instant) -> Vec<u8> {
        entry.answer_for(query, now, Some(STALE_TTL))
    }

    /// Leads or follows the upstream query for `key`.
    pub fn join(self: &Arc<Self>, key: &CacheKey) -> Flight {
        let mut inflight = self.shard(key).lock_inflight();
        if let Some(rx) = inflight.get(key) {
            return Flight::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(Shared::Pending);
        inflight.insert(key.clone(), rx);
        Flight::Leader(Leader {
            cache: self.clone(),
            key: key.clone(),
            tx,
            finished: false,
        })
    }

    /// Stores `msg` (an answer for `query`) if it may be cached, and returns the answer the
    /// client should get: with the TTLs as the cache will serve them (clamped to
    /// `--cache-min-ttl`/`--cache-max-ttl`, negative answers at their negative TTL).
    pub fn insert(&self, key: CacheKey, msg: Vec<u8>, query: &ValidQuery, now: Instant) -> Vec<u8> {
        let Some((lifetime, ttls)) = cacheable(&msg, &self.settings) else {
            return msg;
        };
        let lifetime = Duration::from_secs(u64::from(lifetime));
        let entry = Arc::new(Entry {
            msg: msg.into_boxed_slice(),
            ttls: ttls.into_boxed_slice(),
            stored: now,
            expires: now + lifetime,
            lifetime,
            prefetching: AtomicBool::new(false),
        });
        let answer = entry.answer_for(query, now, None);
        let size = entry.size();
        let max_entries = (self.settings.max_entries / SHARDS).max(1);
        let max_bytes = (self.settings.max_bytes / SHARDS).max(1);
        if size > max_bytes {
            return answer;
        }
        let mut store = self.shard(&key).lock_store();
        if let Some(old) = store.map.remove(&key) {
            store.bytes -= old.size();
        }
        while store.map.len() >= max_entries || store.bytes + size > max_bytes {
            if !evict_one(&mut store) {
                break;
            }
        }
        store.bytes += size;
        store.order.push_back((key.clone(), now));
        store.map.insert(key, entry);
        if store.order.len() > 2 * store.map.len() + 64 {
            let Store { map, order, .. } = &mut *store;
            order.retain(|(k, at)| map.get(k).is_some_and(|e| e.stored == *at));
        }
        answer
    }
}

/// Evicts the oldest entry still stored (FIFO). Returns false if nothing is left.
fn evict_one(store: &mut Store) -> bool {
    while let Some((k, at)) = store.order.pop_front() {
        // A slot whose entry was since replaced (a newer `stored`) is stale: skip it.
        if store.map.get(&k).is_some_and(|e| e.stored == at) {
            if let Some(old) = store.map.remove(&k) {
                store.bytes -= old.size();
            }
            return true;
        }
    }
    false
}

/// Whether an answer may be cached, and for how long: the clamped lifetime (seconds) and
/// the TTL fields to rewrite on hits. TC answers, TTL 0, rcodes other than NOERROR,
/// NXDOMAIN and SERVFAIL, and negative answers without an SOA are not cached.
pub fn cacheable(msg: &[u8], s: &CacheSettings) -> Option<(u32, Vec<(u32, u32)>)> {
    let mut r = Reader::new(msg);
    let header = Header::read(&mut r).ok()?;
    if header.flags & flags::TC != 0 || header.qdcount != 1 {
        return None;
    }
    read_question(&mut r).ok()?;
    let rcode = header.flags & flags::RCODE_MASK;
    if rcode == 2 {
        return (s.servfail_ttl > 0).then(|| (s.servfail_ttl, Vec::new()));
    }
    if rcode != 0 && rcode != 3 {
        return None;
    }
    let clamp = |t: u32| t.clamp(s.min_ttl, s.max_ttl.max(s.min_ttl));
    let mut ttls = Vec::new();
    let mut min_ttl = u32::MAX;
    let mut negative_ttl = None;
    let sections = [header.ancount, header.nscount, header.arcount];
    for (section, count) in sections.into_iter().enumerate() {
        for _ in 0..count {
            let rec = r.record().ok()?;
            if rec.rtype == TYPE_OPT {
                continue;
            }
            if section == 1 && rec.rtype == TYPE_SOA {
                // RFC 2308 §5: the negative TTL is the smaller of the SOA's TTL and MINIMUM.
                let minimum = msg
                    .get(rec.rdata_end.checked_sub(4)?..rec.rdata_end)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))?;
                negative_ttl = Some(rec.ttl.min(minimum));
            }
            if section < 2 {
                min_ttl = min_ttl.min(rec.ttl);
            }
            ttls.push((u32::try_from(rec.ttl_at).ok()?, clamp(rec.ttl)));
        }
    }
    let negative = rcode == 3 || header.ancount == 0;
    let lifetime = if negative { negative_ttl? } else { min_ttl };
    if lifetime == 0 || lifetime == u32::MAX {
        return None;
    }
    if negative {
        // Serve the SOA with the negative TTL, so clients cache it no longer than we do.
        let negative_ttl = clamp(lifetime);
        for t in ttls.iter_mut() {
            t.1 = t.1.min(negative_ttl);
        }
    }
    Some((clamp(lifetime), ttls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::query::validate;

    fn settings() -> CacheSettings {
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

    fn query(name: &[u8], id: u16) -> ValidQuery {
        let mut m = id.to_be_bytes().to_vec();
        m.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        m.extend(name);
        m.extend([0, 1, 0, 1]);
        validate(&m).unwrap()
    }

    fn answer(q: &ValidQuery, rcode: u8, ttl: u32, count: u16) -> Vec<u8> {
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

    fn nxdomain(q: &ValidQuery, soa_ttl: u32, minimum: u32) -> Vec<u8> {
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

    fn ttl_of_first_answer(msg: &[u8], q: &ValidQuery) -> u32 {
        let at = 12 + q.question().len() + 6;
        u32::from_be_bytes(msg[at..at + 4].try_into().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn hit_rewrites_id_case_and_ttl_then_expires() {
        let cache = Arc::new(Cache::new(settings()));
        let q = query(b"\x03www\x07example\x00", 1);
        let key = CacheKey::of(&q);
        cache.insert(key.clone(), answer(&q, 0, 300, 1), &q, Instant::now());
        assert_eq!(cache.len(), 1);
        tokio::time::advance(Duration::from_secs(100)).await;
        let q2 = query(b"\x03WWW\x07Example\x00", 2);
        assert_eq!(CacheKey::of(&q2), key);
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
        let Lookup::Stale(entry) = cache.lookup(&key, &q2, Instant::now()) else {
            panic!("not stale")
        };
        let stale = Cache::stale_answer(&entry, &q2, Instant::now());
        assert_eq!(ttl_of_first_answer(&stale, &q2), STALE_TTL);
    }

    #[test]
    fn what_is_not_cached() {
        let s = settings();
        let q = query(b"\x03www\x07example\x00", 1);
        assert!(cacheable(&answer(&q, 0, 0, 1), &s).is_none(), "TTL 0");
        let mut tc = answer(&q, 0, 300, 1);
        tc[2] |= 0x02;
        assert!(cacheable(&tc, &s).is_none(), "truncated");
        assert!(cacheable(&answer(&q, 5, 300, 1), &s).is_none(), "REFUSED");
        assert_eq!(
            cacheable(&answer(&q, 2, 300, 0), &s).unwrap().0,
            2,
            "SERVFAIL briefly"
        );
        assert!(
            cacheable(&answer(&q, 0, 300, 0), &s).is_none(),
            "NODATA without SOA"
        );
        assert_eq!(cacheable(&nxdomain(&q, 3600, 60), &s).unwrap().0, 60);
        assert_eq!(cacheable(&nxdomain(&q, 30, 600), &s).unwrap().0, 30);
        let clamped = CacheSettings {
            min_ttl: 50,
            max_ttl: 100,
            ..s
        };
        assert_eq!(cacheable(&answer(&q, 0, 10, 1), &clamped).unwrap().0, 50);
        assert_eq!(cacheable(&answer(&q, 0, 1000, 1), &clamped).unwrap().0, 100);
    }

    #[test]
    fn keys_distinguish_bits() {
        let a = query(b"\x01a\x00", 1);
        let mut m = a.bytes().to_vec();
        m[3] |= 0x10; // CD
        let b = validate(&m).unwrap();
        assert_ne!(CacheKey::of(&a), CacheKey::of(&b));
    }

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
            cache.insert(CacheKey::of(&q), answer(&q, 0, 300, 1), &q, now);
        }
        assert!(cache.len() <= SHARDS * 2);
    }

    #[tokio::test]
    async fn concurrent_misses_coalesce() {
        let cache = Arc::new(Cache::new(settings()));
        let q = query(b"\x01a\x00", 1);
        let key = CacheKey::of(&q);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(mut rx) = cache.join(&key) else {
            panic!("second follows")
        };
        leader.finish(Shared::Done(Arc::from(&b"answer"[..])));
        rx.changed().await.unwrap();
        assert!(matches!(&*rx.borrow(), Shared::Done(a) if &a[..] == b"answer"));
        assert!(matches!(cache.join(&key), Flight::Leader(_)));
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
            cache.insert(CacheKey::of(&q), a, &q, now);
        }
        eprintln!("entries {} rss delta {} kB", cache.len(), rss_kb() - before);
    }
}
