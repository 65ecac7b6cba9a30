//! The client transports, a leaf that the pipeline, the listeners and the metrics share.

/// The transport a client message came over; it decides how large an answer may be, how
/// a refusal looks, and under which label the message is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers above the client's limit become TC=1 answers.
    Udp,
    /// TCP (RFC 7766): any answer up to 65535 octets.
    Tcp,
    /// DNS-over-TLS (RFC 7858): as TCP, and answers are padded (RFC 8467).
    Tls,
}

impl Transport {
    /// Every transport, in the order of [`Transport::index`].
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

    /// A dense index, for per-transport counters.
    pub fn index(self) -> usize {
        match self {
            Transport::Udp => 0,
            Transport::Tcp => 1,
            Transport::Tls => 2,
        }
    }

    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// A stream transport (TCP or TLS): no size limit below 65535, no TC=1 slip.
    pub fn is_stream(self) -> bool {
        self != Transport::Udp
    }
}
