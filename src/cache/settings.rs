//! The cache's settings and its shard count: a leaf the cache's parts share.

use std::time::Duration;

/// Cache shards: each a mutex over a map, so two cores rarely wait on each other.
pub(super) const SHARDS: usize = 16;

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
