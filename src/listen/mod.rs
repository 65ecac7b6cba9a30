//! Client-facing listeners: plain DNS over UDP and TCP, and DNS-over-TLS.

pub mod tcp;
pub mod tls;
pub mod udp;
