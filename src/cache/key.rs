//! What identifies a cached answer, and its hash.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::dns::query::{flags, ValidQuery};

use super::SHARDS;

/// What identifies a cached answer: the name (case-folded), type and class, and the query
/// bits that change the answer: DO, CD, AD, RD, and whether the client sent EDNS. Carries
/// its hash (keyed per process, so clients cannot aim at one bucket), computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    pub(super) hash: u64,
    pub(super) name: Box<[u8]>,
    pub(super) qtype: u16,
    pub(super) qclass: u16,
    pub(super) bits: u8,
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

    /// The shard holding this key.
    pub(super) fn shard(&self) -> usize {
        // The high bits: the table uses the low ones.
        (self.hash >> 56) as usize % SHARDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::fixtures::query;
    use crate::dns::query::validate;

    #[test]
    fn keys_distinguish_bits() {
        let a = query(b"\x01a\x00", 1);
        let mut m = a.bytes().to_vec();
        m[3] |= 0x10; // CD
        let b = validate(&m).unwrap();
        assert_ne!(CacheKey::of(&a), CacheKey::of(&b));
    }
}
