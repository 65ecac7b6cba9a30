//! Building queries: the one query builder that unit tests, integration tests and the
//! tools (`strictdot check --live`) share, so a test's query is written one way only.

use super::{HEADER_LEN, TYPE_OPT};

/// A DNS query under construction: one question, optionally an OPT record with options.
///
/// ```
/// use strictdot::dns::builder::QueryBuilder;
/// let q = QueryBuilder::new("www.example", 1).id(7).edns(1232).dnssec_ok().build();
/// assert_eq!(&q[..2], &[0, 7]);
/// ```
#[derive(Clone, Debug)]
pub struct QueryBuilder {
    id: u16,
    flags: u16,
    name: Vec<u8>,
    qtype: u16,
    qclass: u16,
    edns: Option<Opt>,
}

#[derive(Clone, Debug)]
struct Opt {
    udp_size: u16,
    version: u8,
    dnssec_ok: bool,
    options: Vec<u8>,
}

impl QueryBuilder {
    /// A standard query (RD set) for `name` (dotted, trailing dot optional; `.` is the root)
    /// of type `qtype`, class IN, ID 0, without EDNS. Labels longer than 63 octets are cut:
    /// the builder makes well-formed names only (write bytes by hand to test malformed ones).
    pub fn new(name: &str, qtype: u16) -> QueryBuilder {
        let mut wire = Vec::with_capacity(name.len() + 2);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            let label = &label.as_bytes()[..label.len().min(63)];
            wire.push(label.len() as u8);
            wire.extend(label);
        }
        wire.push(0);
        QueryBuilder {
            id: 0,
            flags: 0x0100,
            name: wire,
            qtype,
            qclass: 1,
            edns: None,
        }
    }

    /// The message ID.
    pub fn id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    /// The whole flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub fn flags(mut self, flags: u16) -> Self {
        self.flags = flags;
        self
    }

    /// The opcode (4 bits).
    pub fn opcode(mut self, opcode: u8) -> Self {
        self.flags = (self.flags & !0x7800) | (u16::from(opcode & 0x0F) << 11);
        self
    }

    /// QCLASS.
    pub fn qclass(mut self, qclass: u16) -> Self {
        self.qclass = qclass;
        self
    }

    /// An OPT record advertising `udp_size` (EDNS version 0, no options yet).
    pub fn edns(mut self, udp_size: u16) -> Self {
        self.edns = Some(Opt {
            udp_size,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        });
        self
    }

    /// The EDNS version (adds an OPT record advertising 1232 if there is none).
    pub fn edns_version(mut self, version: u8) -> Self {
        self.opt().version = version;
        self
    }

    /// The DO bit (adds an OPT record advertising 1232 if there is none).
    pub fn dnssec_ok(mut self) -> Self {
        self.opt().dnssec_ok = true;
        self
    }

    /// An EDNS option `code` with `data` (adds an OPT record if there is none).
    pub fn option(mut self, code: u16, data: &[u8]) -> Self {
        let opt = self.opt();
        opt.options.extend(code.to_be_bytes());
        opt.options.extend((data.len() as u16).to_be_bytes());
        opt.options.extend(data);
        self
    }

    fn opt(&mut self) -> &mut Opt {
        self.edns.get_or_insert_with(|| Opt {
            udp_size: 1232,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        })
    }

    /// The query's wire form.
    pub fn build(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(HEADER_LEN + self.name.len() + 4 + 11);
        m.extend(self.id.to_be_bytes());
        m.extend(self.flags.to_be_bytes());
        m.extend([0, 1, 0, 0, 0, 0, 0, u8::from(self.edns.is_some())]);
        m.extend(&self.name);
        m.extend(self.qtype.to_be_bytes());
        m.extend(self.qclass.to_be_bytes());
        if let Some(opt) = &self.edns {
            m.push(0);
            m.extend(TYPE_OPT.to_be_bytes());
            m.extend(opt.udp_size.to_be_bytes());
            m.extend([0, opt.version, if opt.dnssec_ok { 0x80 } else { 0 }, 0]);
            m.extend((opt.options.len() as u16).to_be_bytes());
            m.extend(&opt.options);
        }
        m
    }
}
