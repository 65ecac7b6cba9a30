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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::HashTable;
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
/// bits that change the answer: DO, CD, AD, RD, and whether the client sent EDNS. Carries
/// its hash (keyed per process, so clients cannot aim at one bucket), computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    hash: u64,
    name: Box<[u8]>,
    qtype: u16,
    qclass: u16,
    bits: u8,
}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The per-process hash key of the cache.
fn seed() -> &'static RandomState {
    static SEED: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    SEED.get_or_init(RandomState::new)
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
        let name = query.qname().to_ascii_lowercase().into_boxed_slice();
        let (qtype, qclass) = (query.qtype(), query.qclass());
        let hash = seed().hash_one((&name, qtype, qclass, bits));
        CacheKey {
            hash,
            name,
            qtype,
            qclass,
            bits,
        }
    }

    fn shard(&self) -> usize {
        // The high bits: the table uses the low ones.
        (self.hash >> 56) as usize % SHARDS
    }
}

/// One stored answer. Its bytes live in the shard's blocks (see [`Store`]): the key's name,
/// then the message, then a 6-octet record per TTL field to rewrite on hits (the field's
/// offset in the message, 2 octets, and its stored clamped value, 4 octets).
struct Entry {
    hash: u64,
    /// When it was stored: milliseconds since the cache's epoch.
    stored_ms: u64,
    /// Where its bytes are: block number, offset in the block, length.
    block: u32,
    offset: u32,
    len: u32,
    /// Lifetime in seconds (at least 1).
    lifetime: u32,
    msg_len: u16,
    qtype: u16,
    qclass: u16,
    name_len: u8,
    bits: u8,
    prefetching: bool,
}

/// The bytes an entry stores, in the layout [`Entry`] describes.
fn entry_bytes(key: &CacheKey, msg: &[u8], ttls: &[(u32, u32)]) -> Option<Vec<u8>> {
    u16::try_from(msg.len()).ok()?;
    u8::try_from(key.name.len()).ok()?;
    let mut data = Vec::with_capacity(key.name.len() + msg.len() + ttls.len() * 6);
    data.extend_from_slice(&key.name);
    data.extend_from_slice(msg);
    for &(at, ttl) in ttls {
        data.extend_from_slice(&u16::try_from(at).ok()?.to_be_bytes());
        data.extend_from_slice(&ttl.to_be_bytes());
    }
    Some(data)
}

impl Entry {
    fn is(&self, key: &CacheKey, data: &[u8]) -> bool {
        self.hash == key.hash
            && self.qtype == key.qtype
            && self.qclass == key.qclass
            && self.bits == key.bits
            && data.get(..usize::from(self.name_len)) == Some(&key.name[..])
    }

    fn lifetime_ms(&self) -> u64 {
        u64::from(self.lifetime) * 1000
    }

    fn expires_ms(&self) -> u64 {
        self.stored_ms + self.lifetime_ms()
    }

    /// The answer for `query` from the entry's bytes `data`: its ID and question bytes,
    /// TTLs reduced by the time spent in the cache (or set to `ttl_override`).
    fn answer_for(
        &self,
        data: &[u8],
        query: &ValidQuery,
        now_ms: u64,
        ttl_override: Option<u32>,
    ) -> Vec<u8> {
        let msg_start = usize::from(self.name_len);
        let msg_end = msg_start + usize::from(self.msg_len);
        let mut out = data[msg_start..msg_end].to_vec();
        let elapsed =
            u32::try_from(now_ms.saturating_sub(self.stored_ms) / 1000).unwrap_or(u32::MAX);
        for rec in data[msg_end..].chunks_exact(6) {
            let at = usize::from(u16::from_be_bytes([rec[0], rec[1]]));
            let ttl = u32::from_be_bytes([rec[2], rec[3], rec[4], rec[5]]);
            let value = ttl_override.unwrap_or(ttl.saturating_sub(elapsed));
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
    /// Only an expired entry kept for serve-stale: the answer it gives if every upstream
    /// fails (RFC 8767: TTL 30).
    Stale(Vec<u8>),
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
    /// Publishes the outcome to the followers: the answer (as the leader's client got
    /// it), or `None` if there was none. Copies the answer only if somebody follows.
    pub fn finish(mut self, answer: Option<&[u8]>) {
        self.finished = true;
        // Once the key has left the in-flight map nobody new can follow, and the map's own
        // receiver is gone: whoever still holds a receiver is a follower.
        self.cache
            .shard(&self.key)
            .lock_inflight()
            .remove(&self.key);
        if self.tx.receiver_count() == 0 {
            return;
        }
        let outcome = match answer {
            Some(a) => Shared::Done(Arc::from(a)),
            None => Shared::Failed,
        };
        let _ = self.tx.send(outcome);
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

/// Bytes of one block of entry data (smaller if the shard's byte budget is smaller).
const BLOCK: usize = 64 * 1024;

/// One shard's entries. Their bytes are appended, in insertion order, to fixed-size blocks,
/// and a block is freed whole once every entry in it is gone: with FIFO eviction the
/// oldest block empties first. So the cache's memory is its blocks and its table, without
/// a heap allocation per entry, and churn cannot fragment the heap.
struct Store {
    table: HashTable<Entry>,
    /// (hash, block, offset) of entries in insertion order: eviction takes the oldest (FIFO)
    /// in O(1). A slot whose entry has since left (replaced or evicted) is skipped, and
    /// the queue is compacted when such slots pile up.
    order: VecDeque<(u64, u32, u32)>,
    /// Blocks oldest first; `blocks[i]` is block number `first_block + i`.
    blocks: VecDeque<Block>,
    first_block: u32,
    /// Capacity of all blocks together: the bytes this shard holds.
    bytes: usize,
    /// The last freed block, emptied, kept for the next one: blocks come and go all the
    /// time under churn, and a freed block handed back to the allocator would be taken
    /// apart by small short-lived allocations, so the next block would grow the heap.
    spare: Option<Vec<u8>>,
}

/// The bytes of `e` in `blocks`, whose first block is number `first`.
fn entry_data<'a>(blocks: &'a VecDeque<Block>, first: u32, e: &Entry) -> &'a [u8] {
    let block = &blocks[e.block.wrapping_sub(first) as usize];
    &block.data[e.offset as usize..(e.offset + e.len) as usize]
}

struct Block {
    data: Vec<u8>,
    /// Entries in the table whose bytes are in this block.
    live: usize,
}

impl Store {
    fn new(entries: usize) -> Store {
        Store {
            table: HashTable::with_capacity(entries),
            order: VecDeque::with_capacity(entries),
            blocks: VecDeque::new(),
            first_block: 0,
            bytes: 0,
            spare: None,
        }
    }

    fn find(&self, key: &CacheKey) -> Option<&Entry> {
        let (blocks, first) = (&self.blocks, self.first_block);
        self.table
            .find(key.hash, |e| e.is(key, entry_data(blocks, first, e)))
    }

    /// Takes an entry out of the table; its bytes go when its block empties.
    fn forget(&mut self, hash: u64, matches: impl Fn(&Entry) -> bool) -> bool {
        let Ok(slot) = self.table.find_entry(hash, |e| matches(e)) else {
            return false;
        };
        let (old, _) = slot.remove();
        let i = old.block.wrapping_sub(self.first_block) as usize;
        self.blocks[i].live -= 1;
        while self.blocks.front().is_some_and(|b| b.live == 0) {
            if let Some(mut b) = self.blocks.pop_front() {
                self.bytes -= b.data.capacity();
                self.first_block = self.first_block.wrapping_add(1);
                if self.spare.is_none() && b.data.capacity() <= BLOCK {
                    b.data.clear();
                    self.spare = Some(b.data);
                }
            }
        }
        true
    }

    fn remove(&mut self, key: &CacheKey) {
        let Some(e) = self.find(key) else { return };
        let (block, offset) = (e.block, e.offset);
        self.forget(key.hash, |e| e.block == block && e.offset == offset);
    }

    /// Evicts the oldest entry still stored (FIFO). Returns false if nothing is left.
    fn evict_one(&mut self) -> bool {
        while let Some((hash, block, offset)) = self.order.pop_front() {
            // A slot whose entry was since replaced is stale: nothing matches it.
            if self.forget(hash, |e| e.block == block && e.offset == offset) {
                return true;
            }
        }
        false
    }

    /// Room for `len` bytes at the end of the newest block, opening a block (and evicting
    /// the oldest entries to stay within `max_bytes`) if needed: (block, offset).
    fn room(&mut self, len: usize, block_size: usize, max_bytes: usize) -> Option<(u32, u32)> {
        if let Some(last) = self.blocks.back() {
            if last.data.capacity() - last.data.len() >= len {
                let number = self.first_block.wrapping_add(self.blocks.len() as u32 - 1);
                return Some((number, u32::try_from(last.data.len()).ok()?));
            }
        }
        let size = len.max(block_size);
        while self.bytes + size > max_bytes {
            if !self.evict_one() {
                return None;
            }
        }
        let data = match self.spare.take() {
            Some(v) if v.capacity() >= size => v,
            other => {
                self.spare = other;
                Vec::with_capacity(size)
            }
        };
        self.bytes += data.capacity();
        self.blocks.push_back(Block { data, live: 0 });
        let number = self.first_block.wrapping_add(self.blocks.len() as u32 - 1);
        Some((number, 0))
    }
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
        let shards = (0..SHARDS)
            .map(|_| Shard {
                store: Mutex::new(Store::new(per_shard)),
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
        let Store {
            table,
            blocks,
            first_block,
            ..
        } = &mut *store;
        let first = *first_block;
        let Ok(mut slot) = table.find_entry(key.hash, |e| e.is(key, entry_data(blocks, first, e)))
        else {
            return Lookup::Miss;
        };
        let entry = slot.get_mut();
        let data = entry_data(blocks, first, entry);
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
        // The client gets the TTLs the cache will serve; `msg` already has its ID and case.
        let mut answer = msg;
        for &(at, ttl) in &ttls {
            let at = at as usize;
            if let Some(field) = answer.get_mut(at..at + 4) {
                field.copy_from_slice(&ttl.to_be_bytes());
            }
        }
        client_view(&mut answer, query);
        let now_ms = self.ms(now);
        let Some(bytes) = entry_bytes(&key, &answer, &ttls) else {
            return answer;
        };
        let max_entries = (self.settings.max_entries / SHARDS).max(1);
        let max_bytes = (self.settings.max_bytes / SHARDS).max(1);
        let block_size = BLOCK.min(max_bytes);
        if bytes.len() > max_bytes {
            return answer;
        }
        let Ok(len) = u32::try_from(bytes.len()) else {
            return answer;
        };
        let mut store = self.shard(&key).lock_store();
        store.remove(&key);
        while store.table.len() >= max_entries {
            if !store.evict_one() {
                break;
            }
        }
        let Some((block, offset)) = store.room(bytes.len(), block_size, max_bytes) else {
            return answer;
        };
        let first = store.first_block;
        let b = &mut store.blocks[block.wrapping_sub(first) as usize];
        b.data.extend_from_slice(&bytes);
        b.live += 1;
        let entry = Entry {
            hash: key.hash,
            stored_ms: now_ms,
            block,
            offset,
            len,
            lifetime,
            msg_len: answer.len() as u16,
            qtype: key.qtype,
            qclass: key.qclass,
            name_len: key.name.len() as u8,
            bits: key.bits,
            prefetching: false,
        };
        store.order.push_back((key.hash, block, offset));
        store.table.insert_unique(key.hash, entry, |e| e.hash);
        if store.order.len() > 2 * store.table.len() + 64 {
            let Store { table, order, .. } = &mut *store;
            order.retain(|&(hash, block, offset)| {
                table
                    .find(hash, |e| {
                        e.hash == hash && e.block == block && e.offset == offset
                    })
                    .is_some()
            });
        }
        answer
    }
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
        let Lookup::Stale(stale) = cache.lookup(&key, &q2, Instant::now()) else {
            panic!("not stale")
        };
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

    #[test]
    fn replacing_an_entry_keeps_one_and_serves_the_new() {
        let cache = Cache::new(settings());
        let q = query(b"\x01r\x00", 1);
        let now = Instant::now();
        cache.insert(CacheKey::of(&q), answer(&q, 0, 300, 1), &q, now);
        cache.insert(CacheKey::of(&q), answer(&q, 0, 100, 1), &q, now);
        assert_eq!(cache.len(), 1);
        let Lookup::Fresh(hit, _) = cache.lookup(&CacheKey::of(&q), &q, now) else {
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
            cache.insert(CacheKey::of(&q), answer(&q, 0, 300, 1), &q, now);
        }
        for shard in cache.shards.iter() {
            assert!(shard.lock_store().bytes <= 400);
        }
        assert!(cache.len() < 400 && !cache.is_empty());
        let last = query(names[399].as_bytes(), 1);
        assert!(matches!(
            cache.lookup(&CacheKey::of(&last), &last, now),
            Lookup::Fresh(..)
        ));
        let first = query(names[0].as_bytes(), 1);
        assert!(matches!(
            cache.lookup(&CacheKey::of(&first), &first, now),
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
            cache.insert(CacheKey::of(&q), answer(&q, 0, 300, 1), &q, now);
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
        let Lookup::Fresh(hit, _) = cache.lookup(&CacheKey::of(&q), &q, now) else {
            panic!("the newest entry is served")
        };
        assert_eq!(&hit[..2], &[0, 7]);
        assert_eq!(ttl_of_first_answer(&hit, &q), 300);
    }

    #[test]
    fn a_leader_without_followers_copies_nothing_and_frees_the_key() {
        let cache = Arc::new(Cache::new(settings()));
        let key = CacheKey::of(&query(b"\x01a\x00", 1));
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
        let key = CacheKey::of(&q);
        let Flight::Leader(leader) = cache.join(&key) else {
            panic!("first is leader")
        };
        let Flight::Follower(mut rx) = cache.join(&key) else {
            panic!("second follows")
        };
        leader.finish(Some(&b"answer"[..]));
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
