//! Client-facing listeners: plain DNS over UDP and TCP.

pub mod tcp;
pub mod udp;
