//! One integration binary; a module per area. Everything runs on 127.0.0.1.

mod abuse;
mod auth;
mod cache;
mod cli;
mod client;
mod ede;
mod ops;
mod pipeline;
mod policy;
mod privacy;
mod reload;
mod restart;
mod support;
mod unbound;
mod upstream;
