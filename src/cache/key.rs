//! What identifies a cached answer, and its hash.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::dns::edns::client_subnets;
use crate::dns::query::{flags, ValidQuery};

use super::settings::SHARDS;

/// What identifies a cached answer: the name (case-folded), type and class, and the query
/// bits that change the answer: DO, CD, AD, RD, and whether the client sent EDNS; and,
/// when the client's ECS is forwarded, that ECS. Carries its hash (keyed per process, so
/// clients cannot aim at one bucket), computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    pub(super) hash: u64,
    /// The case-folded QNAME, then, when ECS is forwarded, the client's ECS options whole,
    /// as sent and as the upstream gets them: FAMILY, SOURCE PREFIX-LENGTH, SCOPE
    /// PREFIX-LENGTH (0 in a query) and ADDRESS, which RFC 7871 §6 truncates to SOURCE
    /// PREFIX-LENGTH bits. An option not so truncated keys apart from the truncated one:
    /// the upstream saw other bytes (and may have answered FORMERR).
    pub(super) name_and_subnet: Box<[u8]>,
    pub(super) qtype: u16,
    pub(super) qclass: u16,
    pub(super) bits: u8,
}

/// Key bit: the client's ECS is forwarded (`--keep-ecs`), so the key holds it and the
/// upstream's echo of it is checked before the answer is shared.
const FORWARDS_SUBNET: u8 = 32;

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
    /// The key of `query`; `keep_ecs`: its ECS option is forwarded to the upstream.
    ///
    /// With ECS forwarded, queries whose ECS differs in any octet get different keys, so
    /// they are never coalesced and never served each other's entries: an answer, whatever
    /// its SCOPE PREFIX-LENGTH, is shared only by clients that sent the very same FAMILY,
    /// SOURCE PREFIX-LENGTH and ADDRESS, which is to say the same question to the upstream
    /// (RFC 7871 §7.3.1 allows that much sharing for any scope).
    pub fn of(query: &ValidQuery, keep_ecs: bool) -> CacheKey {
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
        let qname = query.qname();
        let subnet_len: usize = if keep_ecs {
            bits |= FORWARDS_SUBNET;
            client_subnets(query).map(<[u8]>::len).sum()
        } else {
            0
        };
        // One allocation, sized exactly, so the boxed slice reuses it.
        let mut name = Vec::with_capacity(qname.len() + subnet_len);
        name.extend_from_slice(qname);
        name.make_ascii_lowercase();
        if subnet_len > 0 {
            for option in client_subnets(query) {
                name.extend_from_slice(option);
            }
        }
        let name_and_subnet = name.into_boxed_slice();
        let (qtype, qclass) = (query.qtype(), query.qclass());
        let hash = seed().hash_one((&name_and_subnet, qtype, qclass, bits));
        CacheKey {
            hash,
            name_and_subnet,
            qtype,
            qclass,
            bits,
        }
    }

    /// Whether the client's ECS is forwarded with the query (see [`CacheKey::of`]).
    pub(super) fn forwards_subnet(&self) -> bool {
        self.bits & FORWARDS_SUBNET != 0
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
    use crate::cache::fixtures::{query, query_with_ecs};
    use crate::dns::query::validate;

    #[test]
    fn keys_distinguish_bits() {
        let a = query(b"\x01a\x00", 1);
        let mut m = a.bytes().to_vec();
        m[3] |= 0x10; // CD
        let b = validate(&m).unwrap();
        assert_ne!(CacheKey::of(&a, false), CacheKey::of(&b, false));
    }

    #[test]
    fn keys_hold_the_clients_subnet_when_it_is_forwarded() {
        let a = query_with_ecs(b"\x01a\x00", 1, &[0, 1, 24, 0, 198, 51, 100]);
        let a_again = query_with_ecs(b"\x01A\x00", 2, &[0, 1, 24, 0, 198, 51, 100]);
        let b = query_with_ecs(b"\x01a\x00", 3, &[0, 1, 24, 0, 203, 0, 113]);
        let b_shorter = query_with_ecs(b"\x01a\x00", 4, &[0, 1, 16, 0, 198, 51]);
        // Not forwarded: the upstream never sees it, so it changes nothing.
        assert_eq!(CacheKey::of(&a, false), CacheKey::of(&b, false));
        assert!(!CacheKey::of(&a, false).forwards_subnet());
        // Forwarded: one key per subnet, the same for the same subnet.
        let key = CacheKey::of(&a, true);
        assert!(key.forwards_subnet());
        assert_eq!(key, CacheKey::of(&a_again, true));
        assert_ne!(key, CacheKey::of(&b, true));
        assert_ne!(key, CacheKey::of(&b_shorter, true));
        assert_ne!(key, CacheKey::of(&a, false));
        assert_eq!(&key.name_and_subnet[..3], b"\x01a\x00");
    }
}
