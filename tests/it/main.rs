//! One integration binary; a module per area. Everything runs on 127.0.0.1.

mod abuse;
mod auth;
mod cache;
mod cli;
mod client;
// The signed zones of tests/dnssec.rs, for the validation tests.
#[path = "../dnssec_zones/mod.rs"]
mod dnssec_zones;
mod ede;
mod image;
mod ops;
mod pins;
mod pipeline;
mod policy;
mod privacy;
mod reload;
mod restart;
mod resumption;
mod support;
mod unbound;
mod upstream;
mod validation;
mod validation_unbound;
