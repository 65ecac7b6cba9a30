//! strictdot: a DNS-to-DNS-over-TLS forwarder under the RFC 8310 strict privacy profile.
//!
//! One query takes one path, whatever its transport: **listener -> pipeline -> upstream
//! pool -> answer**. [`forward::Forwarder::handle`] owns the stages and their order.
//!
//! ```text
//! main.rs                   thin: parse, build Config, bind, drop privileges, start runtime, run
//! bind.rs                   every socket bound before the runtime starts
//! privileges.rs             user switch and capabilities, while still one thread
//! server.rs                 Server: listener tasks, reload generations, drain at shutdown
//! config/{table,parse,merge,sections,builder,sealed,describe}.rs   one row per setting;
//!                           default < policy < environment < flag; the sealed Config
//! cli.rs, policy.rs         clap from the table; the policy file's TOML schema
//! listen/{udp,tcp,tls}.rs   client I/O only (RFC 1035, RFC 7766 framing, RFC 7858)
//!   -> forward.rs           the pipeline: header sanity, allow list (acl.rs), rate limiter
//!                           (limiter.rs), validation, cache, pending admission, upstream
//!     -> dns/header.rs      header, flags (dns/flags.rs), the sanity stage, answers for
//!                           turned-away clients
//!     -> dns/query.rs       bytes -> ValidQuery or a Rejection (drop/FORMERR/NOTIMP/BADVERS)
//!     -> cache/{key,store,flight,ttl}.rs   answers by key, bounded store, coalesced
//!                           misses, TTL rules, serve-stale
//!     -> dns/{ede,opt,padding}.rs   Extended DNS Errors, OPT options, RFC 8467 padding
//!     -> upstream/pool.rs   pick an upstream, find or open a connection, fail over
//!       -> upstream/conn.rs one pipelined DoT connection (handle + driver tasks)
//!       -> upstream/verify.rs  every authentication decision (name, pins, both)
//!     -> upstream/plain.rs  local zones the policy sends to local servers in cleartext
//!     -> dns/answer.rs      check the reply, restore ID and question, truncate for UDP
//! transport.rs, metrics.rs, prom.rs, http.rs, shutdown.rs, notify.rs   shared leaves:
//!                           transports, counters, label escaping, the operations
//!                           endpoint, signals, the service manager's notifications
//! ```
//!
//! [`run`] takes already-bound sockets and a cancellation token, so tests bind port 0 on
//! loopback and drive a real server in-process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
pub mod bind;
pub mod cache;
pub mod check_cmd;
pub mod cli;
pub mod config;
pub mod dns;
pub mod dnssec;
pub mod forward;
pub mod framing;
pub mod http;
pub mod limiter;
pub mod listen;
pub mod metrics;
pub mod notify;
pub mod pin;
pub mod pin_cmd;
pub mod policy;
pub mod privileges;
pub mod prom;
pub mod ready;
pub mod server;
pub mod shutdown;
pub mod transport;
pub mod upstream;
pub mod upstream_spec;

pub use bind::Listeners;
pub use server::{run, Reloader, Server};
