//! Upstream side: authenticated DNS-over-TLS connections and the pool that uses them.

pub mod conn;
pub mod expiry;
pub mod plain;
pub mod pool;
pub mod tls;
pub mod verify;
