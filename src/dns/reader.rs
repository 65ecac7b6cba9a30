//! A bounds-checked cursor over untrusted bytes, and the DNS name rules that go with it.
//!
//! Every read returns `Option`/`Result`; nothing here indexes by a computed offset or
//! subtracts to guard a bound, so no input can make it panic. The DNS limits live beside
//! the cursor (RFC 1035 §2.3.4 and §4.1.4): a label is at most 63 octets, a name at most
//! 255 octets on the wire, and a compression pointer must point strictly backwards, so
//! following pointers always terminates.

use super::{WireError, HEADER_LEN};

/// A cursor over a whole DNS message. Positions are absolute offsets into the message,
/// so compression pointers can be followed from anywhere.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

/// Where a name sat in the message and how long its uncompressed form is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameSpan {
    /// Offset of the first octet of the name in the message.
    pub start: usize,
    /// Offset just past the name's last octet *at this position* (after a pointer, if any).
    pub end: usize,
    /// Length of the name in uncompressed wire form, root label included (1..=255).
    pub wire_len: usize,
    /// Whether the name used a compression pointer.
    pub compressed: bool,
}

/// The longest name on the wire, RFC 1035 §2.3.4.
pub const MAX_NAME_LEN: usize = 255;
/// The longest label, RFC 1035 §2.3.4.
pub const MAX_LABEL_LEN: usize = 63;

impl<'a> Reader<'a> {
    /// A cursor at the start of `msg`.
    pub fn new(msg: &'a [u8]) -> Self {
        Reader { msg, pos: 0 }
    }

    /// A cursor at `pos` (which may be the end, but not past it).
    pub fn at(msg: &'a [u8], pos: usize) -> Option<Self> {
        (pos <= msg.len()).then_some(Reader { msg, pos })
    }

    /// The current absolute offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The whole message this cursor reads.
    pub fn message(&self) -> &'a [u8] {
        self.msg
    }

    /// Bytes left after the cursor.
    pub fn remaining(&self) -> usize {
        self.msg.len().saturating_sub(self.pos)
    }

    /// Whether the cursor has reached the end.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let bytes = self.msg.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// Reads one octet.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        let b = *self.msg.get(self.pos).ok_or(WireError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Fails with `TrailingBytes` unless the cursor is at the end.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }

    /// Reads a domain name, checking label and name lengths and label types.
    ///
    /// With `allow_pointers` false (the question section of a query), a compression
    /// pointer is an error. Otherwise each pointer must point strictly before the octet
    /// that holds it, and before every earlier pointer of the same name, so a chain of
    /// pointers always ends.
    pub fn name(&mut self, allow_pointers: bool) -> Result<NameSpan, WireError> {
        let start = self.pos;
        let mut wire_len = 0usize;
        let mut cur = *self;
        let mut end: Option<usize> = None;
        // Pointers must go strictly backwards from here on.
        let mut limit = start;
        // After a jump, the name read there must lie wholly before the pointer that jumped:
        // a label may not run forward over that pointer (or anything after it), so no
        // later rewrite of the message can change a name it already read.
        let mut bound = usize::MAX;
        loop {
            let at = cur.pos;
            if at >= bound {
                return Err(WireError::BadPointer);
            }
            let len = cur.u8()?;
            match len & 0xC0 {
                0x00 => {
                    let len = usize::from(len);
                    wire_len += 1 + len;
                    if wire_len > MAX_NAME_LEN {
                        return Err(WireError::NameTooLong);
                    }
                    if len == 0 {
                        let stop = end.unwrap_or(cur.pos);
                        self.pos = stop;
                        return Ok(NameSpan {
                            start,
                            end: stop,
                            wire_len,
                            compressed: end.is_some(),
                        });
                    }
                    // Checked before the octets are taken, so a label that would run over
                    // the pointer is reported as such even where the message ends first.
                    if cur
                        .pos
                        .checked_add(len)
                        .is_none_or(|label_end| label_end > bound)
                    {
                        return Err(WireError::BadPointer);
                    }
                    cur.take(len)?;
                }
                0xC0 => {
                    if !allow_pointers {
                        return Err(WireError::PointerNotAllowed);
                    }
                    let low = cur.u8()?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    // Never into the header (the ID and counts get rewritten), never
                    // forwards, never onto itself.
                    if target < HEADER_LEN || target >= limit || target >= at {
                        return Err(WireError::BadPointer);
                    }
                    if end.is_none() {
                        end = Some(cur.pos);
                    }
                    limit = target;
                    bound = at;
                    cur = Reader::at(self.msg, target).ok_or(WireError::BadPointer)?;
                }
                _ => return Err(WireError::BadLabelType),
            }
        }
    }
}

/// The fixed fields of one resource record, and where its parts sit in the message.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The owner name.
    pub name: NameSpan,
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the requester's UDP payload size).
    pub class: u16,
    /// Offset of the TTL field (for OPT: extended RCODE, version and flags).
    pub ttl_at: usize,
    /// TTL (for OPT: extended RCODE, version and flags).
    pub ttl: u32,
    /// Offset of the first RDATA octet.
    pub rdata_start: usize,
    /// Offset just past the RDATA.
    pub rdata_end: usize,
}

impl<'a> Reader<'a> {
    /// Reads one resource record (RFC 1035 §4.1.3): owner name (pointers allowed), the
    /// fixed fields, and RDATA of exactly RDLENGTH octets. RDATA content is not parsed.
    pub fn record(&mut self) -> Result<Record, WireError> {
        let name = self.name(true)?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl_at = self.pos;
        let ttl = self.u32()?;
        let rdlen = usize::from(self.u16()?);
        let rdata_start = self.pos;
        self.take(rdlen)?;
        Ok(Record {
            name,
            rtype,
            class,
            ttl_at,
            ttl,
            rdata_start,
            rdata_end: self.pos,
        })
    }
}

/// The sections of a message that hold resource records (RFC 1035 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// ANCOUNT records.
    Answer,
    /// NSCOUNT records.
    Authority,
    /// ARCOUNT records (OPT among them).
    Additional,
}

impl Section {
    /// The three, in message order.
    pub const ALL: [Section; 3] = [Section::Answer, Section::Authority, Section::Additional];

    /// 0, 1 or 2, in message order.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Every resource record of a message after its question, with its section, as the
/// header counts them. Yields an error (and then nothing) at the first record that
/// cannot be read; does not check for bytes after the last record.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    /// The cursor, at the next record.
    r: Reader<'a>,
    /// Records left in each section.
    left: [u16; 3],
    /// The first question's name, if there is a question.
    question: Option<NameSpan>,
    /// Offset just past the question section.
    question_end: usize,
}

impl<'a> Records<'a> {
    /// Reads `msg`'s header and question section (names may be compressed); the records
    /// follow.
    pub fn new(msg: &'a [u8]) -> Result<Records<'a>, WireError> {
        let mut r = Reader::new(msg);
        let header = r.take(HEADER_LEN)?;
        let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
        let mut question = None;
        for _ in 0..count(4) {
            let name = r.name(true)?;
            question.get_or_insert(name);
            r.take(4)?;
        }
        Ok(Records {
            question_end: r.pos(),
            left: [count(6), count(8), count(10)],
            question,
            r,
        })
    }

    /// The first question's name, if there is a question.
    pub fn question(&self) -> Option<NameSpan> {
        self.question
    }

    /// Offset just past the question section: where the first record starts.
    pub fn question_end(&self) -> usize {
        self.question_end
    }
}

impl Iterator for Records<'_> {
    type Item = Result<(Section, Record), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let section = Section::ALL
            .into_iter()
            .find(|s| self.left[s.index()] > 0)?;
        self.left[section.index()] -= 1;
        match self.r.record() {
            Ok(rec) => Some(Ok((section, rec))),
            Err(e) => {
                self.left = [0; 3];
                Some(Err(e))
            }
        }
    }
}

/// Compares two uncompressed wire-form names as DNS does: ASCII case-insensitively
/// (RFC 4343 §3). Both must already have been validated by [`Reader::name`].
pub fn names_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// A wire-format name as presentation text for logs (`www.example.`), with non-printable
/// and special octets escaped as `\DDD` (RFC 4343 §2.1). Stops at malformed input.
pub fn name_to_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut r = Reader::new(wire);
    while let Ok(len) = r.u8() {
        if len == 0 || len & 0xC0 != 0 {
            break;
        }
        let Ok(label) = r.take(usize::from(len)) else {
            break;
        };
        for &b in label {
            match b {
                b'.' | b'\\' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                0x21..=0x7E => out.push(char::from(b)),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(msg: &[u8], at: usize, ptrs: bool) -> Result<NameSpan, WireError> {
        Reader::at(msg, at).unwrap().name(ptrs)
    }

    #[test]
    fn plain_name() {
        let msg = b"\x03www\x07example\x00rest";
        let span = name(msg, 0, false).unwrap();
        assert_eq!(span.end, 13);
        assert_eq!(span.wire_len, 13);
        assert!(!span.compressed);
    }

    #[test]
    fn root_name() {
        let span = name(b"\x00", 0, false).unwrap();
        assert_eq!((span.end, span.wire_len), (1, 1));
    }

    /// A 12-octet dummy header followed by `rest`.
    fn msg(rest: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 12];
        m.extend(rest);
        m
    }

    #[test]
    fn pointer_backwards_ok_forwards_or_self_rejected() {
        let m = msg(b"\x07example\x00\x03www\xC0\x0C");
        let span = name(&m, 21, true).unwrap();
        assert_eq!(span.end, 27);
        assert_eq!(span.wire_len, 13);
        assert!(span.compressed);
        assert_eq!(name(&m, 21, false), Err(WireError::PointerNotAllowed));
        // Pointer to itself.
        assert_eq!(
            name(&msg(b"\xC0\x0C"), 12, true),
            Err(WireError::BadPointer)
        );
        // Pointer forwards.
        assert_eq!(
            name(&msg(b"\xC0\x0E\x00"), 12, true),
            Err(WireError::BadPointer)
        );
        // Two pointers that form a loop.
        let looped = msg(b"\x00\xC0\x0F\xC0\x0D");
        assert_eq!(name(&looped, 15, true), Err(WireError::BadPointer));
        // Pointer into the header.
        let m = msg(b"\x00\xC0\x00");
        assert_eq!(name(&m, 13, true), Err(WireError::BadPointer));
        // A label reached through a pointer that runs forward over the pointer.
        let m = msg(b"\x05abc\xC0\x0C\x00");
        assert_eq!(name(&m, 16, true), Err(WireError::BadPointer));
    }

    #[test]
    fn limits() {
        let mut long_label = vec![64u8];
        long_label.extend([b'a'; 64]);
        long_label.push(0);
        assert_eq!(name(&long_label, 0, false), Err(WireError::BadLabelType));
        let mut long_name = Vec::new();
        for _ in 0..5 {
            long_name.push(63);
            long_name.extend([b'a'; 63]);
        }
        long_name.push(0);
        assert_eq!(name(&long_name, 0, false), Err(WireError::NameTooLong));
        assert_eq!(name(b"\x03ww", 0, false), Err(WireError::Truncated));
        assert_eq!(name(b"\x80", 0, false), Err(WireError::BadLabelType));
    }

    #[test]
    fn records_by_section_then_an_error_and_the_end() {
        // One question, then one record in each section; owners point at the question.
        let mut m = vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 1, 0, 1];
        m.extend(b"\x01a\x00\x00\x01\x00\x01");
        for rtype in [1u8, 2, 41] {
            m.extend([0xC0, 12, 0, rtype, 0, 1, 0, 0, 0, 9, 0, 1, rtype]);
        }
        let records = Records::new(&m).unwrap();
        assert_eq!(records.question().map(|q| q.start), Some(12));
        assert_eq!(records.question_end(), 19);
        let found: Vec<(Section, u16, usize)> = records
            .map(|f| f.map(|(s, r)| (s, r.rtype, r.ttl_at)).unwrap())
            .collect();
        assert_eq!(
            found,
            [
                (Section::Answer, 1, 25),
                (Section::Authority, 2, 38),
                (Section::Additional, 41, 51)
            ]
        );
        // Cut inside the last record: two records, one error, then nothing.
        let cut = &m[..m.len() - 1];
        let found: Vec<bool> = Records::new(cut).unwrap().map(|f| f.is_ok()).collect();
        assert_eq!(found, [true, true, false]);
        // A count past the records there are.
        let mut more = m.clone();
        more[7] = 2;
        assert_eq!(
            Records::new(&more).unwrap().filter(|f| f.is_err()).count(),
            1
        );
        assert!(Records::new(&m[..18]).is_err());
        assert!(Records::new(&m[..11]).is_err());
    }

    #[test]
    fn case_insensitive_compare() {
        assert!(names_equal(b"\x03WwW\x00", b"\x03www\x00"));
        assert!(!names_equal(b"\x03wwx\x00", b"\x03www\x00"));
    }
}
