//! RFC 1035 §4.2.2 / RFC 7766 §8 stream framing: each message is preceded by its length
//! as a 2-octet big-endian integer. [`FrameBuf`] accumulates bytes as they arrive, in any
//! split, and hands out whole messages; it never holds more than one frame plus one read.

/// Why a stream is no longer usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A length prefix of zero: no DNS message is empty.
    #[error("zero-length frame")]
    Empty,
}

/// A receive buffer that yields complete length-prefixed frames.
#[derive(Debug, Default)]
pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
}

impl FrameBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The vector to read into (append at its end): pass it to `read_buf`.
    pub fn spare(&mut self) -> &mut Vec<u8> {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= 4096) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < 2048 {
            self.buf.reserve(4096);
        }
        &mut self.buf
    }

    /// Whether part of a frame has arrived but not all of it.
    pub fn has_partial(&self) -> bool {
        self.buf.len() > self.start
    }

    /// Whether a complete frame (or a bad length prefix) is waiting to be taken.
    pub fn has_frame(&self) -> bool {
        match self.buf.get(self.start..) {
            Some([hi, lo, rest @ ..]) => {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                len == 0 || rest.len() >= len
            }
            _ => false,
        }
    }

    /// The next complete frame's message, if one has fully arrived.
    pub fn next_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        let pending = self.buf.get(self.start..)?;
        let len = match pending {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => return None,
        };
        if len == 0 {
            return Some(Err(FrameError::Empty));
        }
        let body_start = self.start + 2;
        let body_end = body_start + len;
        if self.buf.len() < body_end {
            // Make room for the whole frame once, now that its length is known.
            self.buf.reserve(body_end - self.buf.len());
            return None;
        }
        self.start = body_end;
        self.buf.get(body_start..body_end).map(Ok)
    }
}

/// Prefixes `msg` with its 2-octet length, appending to `out`. Messages longer than
/// 65535 octets cannot be framed and are refused.
pub fn push_frame(out: &mut Vec<u8>, msg: &[u8]) -> bool {
    let Ok(len) = u16::try_from(msg.len()) else {
        return false;
    };
    out.extend(len.to_be_bytes());
    out.extend(msg);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_across_any_split() {
        let mut stream = Vec::new();
        push_frame(&mut stream, b"hello");
        push_frame(&mut stream, &[7u8; 300]);
        push_frame(&mut stream, b"x");
        for split in 1..stream.len() {
            let mut fb = FrameBuf::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            for chunk in stream.chunks(split) {
                fb.spare().extend_from_slice(chunk);
                while let Some(f) = fb.next_frame() {
                    got.push(f.unwrap().to_vec());
                }
            }
            assert_eq!(got.len(), 3, "split {split}");
            assert_eq!(got[0], b"hello");
            assert_eq!(got[1], vec![7u8; 300]);
            assert!(!fb.has_partial());
        }
    }

    #[test]
    fn has_frame_only_when_one_is_complete() {
        let mut fb = FrameBuf::new();
        assert!(!fb.has_frame());
        fb.spare().extend_from_slice(&[0, 3, b'a', b'b']);
        assert!(!fb.has_frame());
        fb.spare().extend_from_slice(b"c");
        assert!(fb.has_frame());
        assert_eq!(fb.next_frame(), Some(Ok(&b"abc"[..])));
        assert!(!fb.has_frame());
        fb.spare().extend_from_slice(&[0, 0]);
        assert!(fb.has_frame(), "a zero length is taken too (as an error)");
    }

    #[test]
    fn zero_length_is_an_error() {
        let mut fb = FrameBuf::new();
        fb.spare().extend_from_slice(&[0, 0, 1]);
        assert_eq!(fb.next_frame(), Some(Err(FrameError::Empty)));
    }

    #[test]
    fn oversize_refused() {
        assert!(!push_frame(&mut Vec::new(), &vec![0; 65536]));
    }
}
