//! The DNS wire format, as far as a forwarder needs it: a bounds-checked reader, the
//! client-query validator, and the construction and checking of answers.
//!
//! Nothing in this module panics on any input: every read goes through the bounds-checked
//! [`reader::Reader`].

pub mod answer;
pub mod builder;
pub mod ede;
pub mod edns;
pub mod flags;
pub mod header;
pub mod opt;
pub mod padding;
pub mod query;
pub mod rdata;
pub mod reader;
pub mod strip;
pub mod synth;

pub use reader::name_to_text;

/// Length of the fixed DNS header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// Resource record type OPT (RFC 6891 §6.1.1).
pub const TYPE_OPT: u16 = 41;
/// Largest DNS message a 2-octet length prefix can frame (RFC 1035 §4.2.2).
pub const MAX_MESSAGE_LEN: usize = 65535;
/// The classic UDP payload limit without EDNS (RFC 1035 §2.3.4).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// Response codes strictdot uses (RFC 1035 §4.1.1, RFC 6891 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// 0: no error.
    NoError,
    /// 1: the query was malformed.
    FormErr,
    /// 2: the server could not answer (upstream failure).
    ServFail,
    /// 4: the opcode is not supported.
    NotImp,
    /// 5: refused by policy.
    Refused,
    /// 16: unsupported EDNS version; needs an OPT record (extended RCODE 1).
    BadVers,
}

impl Rcode {
    /// The full 12-bit code.
    pub fn code(self) -> u16 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::BadVers => 16,
        }
    }
}

/// Why bytes failed to parse as DNS. Small and `Copy`: it travels on the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ended inside a field.
    #[error("message truncated")]
    Truncated,
    /// Bytes followed the last record the header announced.
    #[error("trailing bytes after the last record")]
    TrailingBytes,
    /// A name longer than 255 octets.
    #[error("name longer than 255 octets")]
    NameTooLong,
    /// A label type other than a normal label or a pointer (RFC 6891 §5 retired the rest).
    #[error("unsupported label type")]
    BadLabelType,
    /// A compression pointer that does not point strictly backwards.
    #[error("bad compression pointer")]
    BadPointer,
    /// A compression pointer where none may be (the question of a query).
    #[error("compression pointer not allowed here")]
    PointerNotAllowed,
    /// A section count that this kind of message may not have.
    #[error("unexpected section count")]
    BadCount,
    /// An OPT record that breaks RFC 6891 §6.1.1 (not root-owned, or more than one).
    #[error("malformed OPT record")]
    BadOpt,
    /// A reply whose question is not the one asked.
    #[error("question does not match")]
    QuestionMismatch,
    /// A reply whose header says it is not an answer to a standard query.
    #[error("not a response to a standard query")]
    NotAResponse,
    /// RDATA whose fields do not take exactly RDLENGTH octets (RFC 1035 §3.2.1).
    #[error("RDATA length does not match its fields")]
    BadRdataLength,
}

/// Reads the message ID, if the message is at least two bytes long.
pub fn message_id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// Overwrites the message ID. Does nothing on a message shorter than two bytes.
pub fn set_message_id(msg: &mut [u8], id: u16) {
    if let Some(head) = msg.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
}
