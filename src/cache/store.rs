//! One shard's bounded store: entries in a hash table, their bytes in fixed-size blocks,
//! evicted oldest first (FIFO).

use std::collections::VecDeque;

use hashbrown::HashTable;

use crate::dns::query::ValidQuery;

use super::key::CacheKey;
use super::ttl::{push_ttl_records, serve, ttl_records_len};

/// Bytes of one block of entry data (smaller if the shard's byte budget is smaller).
pub(super) const BLOCK: usize = 64 * 1024;

/// One stored answer. Its bytes live in the shard's blocks (see [`Store`]): the key's name
/// (and ECS), then the message, then a 6-octet record per TTL field to rewrite on hits (the field's
/// offset in the message, 2 octets, and its stored clamped value, 4 octets).
pub(super) struct Entry {
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
    /// Octets of the key's name (and ECS) before the message.
    key_len: u16,
    bits: u8,
    /// A refresh of this entry has been started.
    pub(super) prefetching: bool,
}

/// When and for how long a new entry is stored, and how long its message is.
pub(super) struct Stamp {
    /// Milliseconds since the cache's epoch.
    pub stored_ms: u64,
    /// Lifetime in seconds.
    pub lifetime: u32,
    /// Length of the message in the entry's bytes.
    pub msg_len: u16,
}

/// The bytes an entry stores, in the layout [`Entry`] describes.
pub(super) fn entry_bytes(key: &CacheKey, msg: &[u8], ttls: &[(u32, u32)]) -> Option<Vec<u8>> {
    u16::try_from(msg.len()).ok()?;
    u16::try_from(key.name_and_subnet.len()).ok()?;
    let key_len = key.name_and_subnet.len();
    let mut data = Vec::with_capacity(key_len + msg.len() + ttl_records_len(ttls));
    data.extend_from_slice(&key.name_and_subnet);
    data.extend_from_slice(msg);
    push_ttl_records(&mut data, ttls)?;
    Some(data)
}

impl Entry {
    fn is(&self, key: &CacheKey, data: &[u8]) -> bool {
        self.hash == key.hash
            && self.qtype == key.qtype
            && self.qclass == key.qclass
            && self.bits == key.bits
            && data.get(..usize::from(self.key_len)) == Some(&key.name_and_subnet[..])
    }

    pub(super) fn lifetime_ms(&self) -> u64 {
        u64::from(self.lifetime) * 1000
    }

    pub(super) fn expires_ms(&self) -> u64 {
        self.stored_ms + self.lifetime_ms()
    }

    /// The answer for `query` from the entry's bytes `data`: its ID and question bytes,
    /// TTLs reduced by the time spent in the cache (or set to `ttl_override`).
    pub(super) fn answer_for(
        &self,
        data: &[u8],
        query: &ValidQuery,
        now_ms: u64,
        ttl_override: Option<u32>,
    ) -> Vec<u8> {
        let msg_start = usize::from(self.key_len);
        let msg_end = msg_start + usize::from(self.msg_len);
        let elapsed =
            u32::try_from(now_ms.saturating_sub(self.stored_ms) / 1000).unwrap_or(u32::MAX);
        serve(
            &data[msg_start..msg_end],
            &data[msg_end..],
            elapsed,
            ttl_override,
            query,
        )
    }
}

/// One shard's entries. Their bytes are appended, in insertion order, to fixed-size blocks,
/// and a block is freed whole once every entry in it is gone: with FIFO eviction the
/// oldest block empties first. So the cache's memory is its blocks and its table, without
/// a heap allocation per entry, and churn cannot fragment the heap.
pub(super) struct Store {
    pub(super) table: HashTable<Entry>,
    /// (hash, block, offset) of entries in insertion order: eviction takes the oldest (FIFO)
    /// in O(1). A slot whose entry has since left (replaced or evicted) is skipped, and
    /// the queue is compacted when such slots pile up.
    order: VecDeque<(u64, u32, u32)>,
    /// Blocks oldest first; `blocks[i]` is block number `first_block + i`.
    pub(super) blocks: VecDeque<Block>,
    pub(super) first_block: u32,
    /// Capacity of all blocks together: the bytes this shard holds.
    pub(super) bytes: usize,
    /// The last freed block, emptied, kept for the next one: blocks come and go all the
    /// time under churn, and a freed block handed back to the allocator would be taken
    /// apart by small short-lived allocations, so the next block would grow the heap.
    spare: Option<Vec<u8>>,
    /// Entries this shard holds at most.
    max_entries: usize,
    /// Bytes of blocks this shard holds at most.
    max_bytes: usize,
}

/// The bytes of `e` in `blocks`, whose first block is number `first`.
pub(super) fn entry_data<'a>(blocks: &'a VecDeque<Block>, first: u32, e: &Entry) -> &'a [u8] {
    let block = &blocks[e.block.wrapping_sub(first) as usize];
    &block.data[e.offset as usize..(e.offset + e.len) as usize]
}

pub(super) struct Block {
    pub(super) data: Vec<u8>,
    /// Entries in the table whose bytes are in this block.
    pub(super) live: usize,
}

impl Store {
    /// An empty store for at most `max_entries` entries and `max_bytes` bytes of blocks,
    /// its table sized for `capacity` entries.
    pub(super) fn new(capacity: usize, max_entries: usize, max_bytes: usize) -> Store {
        Store {
            table: HashTable::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            blocks: VecDeque::new(),
            first_block: 0,
            bytes: 0,
            spare: None,
            max_entries,
            max_bytes,
        }
    }

    /// The entry of `key`, if stored, with its bytes.
    pub(super) fn get_mut(&mut self, key: &CacheKey) -> Option<(&mut Entry, &[u8])> {
        let Store {
            table,
            blocks,
            first_block,
            ..
        } = self;
        let first = *first_block;
        let slot = table
            .find_entry(key.hash, |e| e.is(key, entry_data(blocks, first, e)))
            .ok()?;
        let entry = slot.into_mut();
        let data = entry_data(blocks, first, entry);
        Some((entry, data))
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
    fn room(&mut self, len: usize) -> Option<(u32, u32)> {
        if let Some(last) = self.blocks.back() {
            if last.data.capacity() - last.data.len() >= len {
                let number = self.first_block.wrapping_add(self.blocks.len() as u32 - 1);
                return Some((number, u32::try_from(last.data.len()).ok()?));
            }
        }
        let size = len.max(BLOCK.min(self.max_bytes));
        while self.bytes + size > self.max_bytes {
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

    /// Stores `bytes` (from [`entry_bytes`]) as the entry of `key`, replacing any entry it
    /// had and evicting the oldest to stay within bounds. An entry larger than the shard's
    /// byte budget is not stored.
    pub(super) fn put(&mut self, key: &CacheKey, bytes: &[u8], stamp: Stamp) {
        if bytes.len() > self.max_bytes {
            return;
        }
        let Ok(len) = u32::try_from(bytes.len()) else {
            return;
        };
        self.remove(key);
        while self.table.len() >= self.max_entries {
            if !self.evict_one() {
                break;
            }
        }
        let Some((block, offset)) = self.room(bytes.len()) else {
            return;
        };
        let first = self.first_block;
        let b = &mut self.blocks[block.wrapping_sub(first) as usize];
        b.data.extend_from_slice(bytes);
        b.live += 1;
        let entry = Entry {
            hash: key.hash,
            stored_ms: stamp.stored_ms,
            block,
            offset,
            len,
            lifetime: stamp.lifetime,
            msg_len: stamp.msg_len,
            qtype: key.qtype,
            qclass: key.qclass,
            key_len: key.name_and_subnet.len() as u16,
            bits: key.bits,
            prefetching: false,
        };
        self.order.push_back((key.hash, block, offset));
        self.table.insert_unique(key.hash, entry, |e| e.hash);
        if self.order.len() > 2 * self.table.len() + 64 {
            let Store { table, order, .. } = self;
            order.retain(|&(hash, block, offset)| {
                table
                    .find(hash, |e| {
                        e.hash == hash && e.block == block && e.offset == offset
                    })
                    .is_some()
            });
        }
    }
}
