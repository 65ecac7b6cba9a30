//! Header flag bits (RFC 1035 §4.1.1): a leaf, so the header glance (`header.rs`) and the
//! answers strictdot makes (`synth.rs`) share them without importing each other.

/// Query/response.
pub const QR: u16 = 0x8000;
/// Authoritative answer.
pub const AA: u16 = 0x0400;
/// Truncated.
pub const TC: u16 = 0x0200;
/// Recursion desired.
pub const RD: u16 = 0x0100;
/// Recursion available.
pub const RA: u16 = 0x0080;
/// Authentic data (RFC 4035 §3.2.3).
pub const AD: u16 = 0x0020;
/// Checking disabled (RFC 4035 §3.2.2).
pub const CD: u16 = 0x0010;
/// Mask of the 4-bit opcode.
pub const OPCODE_MASK: u16 = 0x7800;
/// Mask of the 4-bit response code.
pub const RCODE_MASK: u16 = 0x000F;
