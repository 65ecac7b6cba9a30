//! The properties the fuzz targets check, one `check_*` function per target. Each takes the
//! raw fuzz input and panics when strictdot breaks a property; it never panics otherwise.
//!
//! This file is compiled twice: as a module of every fuzz target (`fuzz/fuzz_targets/*.rs`)
//! and as a module of the stable corpus-replay test (`tests/fuzz_corpus.rs`). So it uses
//! nothing from libFuzzer, only `strictdot`, `hickory_proto` and `std`.
//!
//! The oracles, besides "no panic":
//! - an independent, lenient walk of the wire format ([`layout`]) that must agree with
//!   strictdot on every offset it reports (question end, OPT record span);
//! - hickory-proto as a second DNS parser: whatever strictdot accepts, hickory must parse
//!   and read the same way (ID, question, counts, EDNS). For whole messages hickory reads a
//!   copy in which record types are renamed to a private-use type and ECS options to an
//!   unassigned code ([`sanitize`]), keeping every length and offset: RDATA is then opaque
//!   to both parsers. The RDATA strictdot does read (names in the RFC 3597 §4 types) is
//!   compared in place instead ([`check_rdata_at`]), with hickory and with a reference
//!   reading ([`ref_rdata`]);
//! - round trips: an accepted query re-validates identically, and re-encoded by hickory
//!   validates with the same question; rewritten messages pass strictdot's own checks.
//!
//! One divergence from hickory is tolerated and documented at [`hickory_parse`].

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};
use hickory_proto::ProtoErrorKind;
use strictdot::dns::answer::{self, ReplyInfo};
use strictdot::dns::edns::{
    answer_for_client, keepalive_timeout, options_iter, upstream_query, Privacy, OPT_COOKIE,
    OPT_ECS, OPT_PADDING, OPT_TCP_KEEPALIVE, QUERY_BLOCK,
};
use strictdot::dns::query::{validate, DropReason, Rejection, ValidQuery};
use strictdot::dns::rdata::{self, Rdata};
use strictdot::dns::reader::{NameSpan, Reader, Record};
use strictdot::dns::strip::strip_dnssec;
use strictdot::dns::Rcode;
use strictdot::dnssec::canonical::{canonical_rdata, signed_data, Name};
use strictdot::dnssec::records::{
    key_tag, Dnskey, Ds, Message as SecMessage, Nsec, Nsec3, Rrsig, TypeBitmap,
};
use strictdot::dnssec::{
    Bogus, Fetch, NegativeAnchors, Report, Settings, TrustAnchors, Validator, Verdict,
};
use strictdot::framing::{push_frame, FrameBuf, FrameError};
use strictdot::pin::Pin;
use strictdot::upstream_spec::UpstreamSpec;

const HEADER_LEN: usize = 12;
const TYPE_OPT: u16 = 41;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;
const QR: u16 = 0x8000;
const OPCODE_MASK: u16 = 0x7800;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const CD: u16 = 0x0010;
const AA: u16 = 0x0400;
/// A private-use RR type (RFC 6895 §3.1) that hickory reads as opaque RDATA.
const OPAQUE_TYPE: u16 = 0xFF00;
/// An unassigned EDNS option code (RFC 6891 §9, experimental range) hickory keeps opaque.
const OPAQUE_OPTION: u16 = 65001;
/// The question used by the `reply` target when the control byte does not ask for the
/// reply's own: www.example. A IN.
const FIXED_QUESTION: &[u8] = b"\x03www\x07example\x00\x00\x01\x00\x01";

// ---------------------------------------------------------------------------------------
// An independent walk of the wire format.
// ---------------------------------------------------------------------------------------

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *m.get(at)?,
        *m.get(at.checked_add(1)?)?,
    ]))
}

fn hex(m: &[u8]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect()
}

/// Skips the name at `pos` without following pointers: labels up to the root or a pointer.
fn skip_name(m: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *m.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => pos += 1 + usize::from(len),
            0xC0 => {
                m.get(pos + 1)?;
                return Some(pos + 2);
            }
            _ => return None,
        }
    }
}

/// Whether the name at `pos` is the root: a zero octet, possibly reached through
/// (backward) compression pointers.
fn is_root(m: &[u8], mut pos: usize) -> bool {
    loop {
        match (m.get(pos), m.get(pos + 1)) {
            (Some(0), _) => return true,
            (Some(&hi), Some(&lo)) if hi & 0xC0 == 0xC0 => {
                let target = usize::from(u16::from_be_bytes([hi & 0x3F, lo]));
                if target >= pos {
                    return false;
                }
                pos = target;
            }
            _ => return false,
        }
    }
}

/// The name at `pos` in uncompressed wire form, following (backward) pointers; `None` if it
/// is not a well-formed name of at most 255 octets.
fn decode_name(m: &[u8], mut pos: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let len = *m.get(pos)?;
        match len & 0xC0 {
            0x00 => {
                let label = m.get(pos..pos + 1 + usize::from(len))?;
                out.extend_from_slice(label);
                if out.len() > 255 {
                    return None;
                }
                if len == 0 {
                    return Some(out);
                }
                pos += label.len();
            }
            0xC0 => {
                let target = usize::from(u16::from_be_bytes([len & 0x3F, *m.get(pos + 1)?]));
                if target >= pos {
                    return None;
                }
                pos = target;
            }
            _ => return None,
        }
    }
}

/// Every name of every record, decoded: the owner, then the names in its RDATA (for the
/// types whose RDATA strictdot reads; `None` for RDATA the reference refuses).
fn record_names(m: &[u8]) -> Vec<Option<Vec<u8>>> {
    let Some(lay) = layout(m) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &lay.records {
        out.push(decode_name(m, r.start));
        match ref_rdata(m, r.rtype, r.rdata_start, r.rdata_end) {
            Some(Ok(rdata)) => out.extend(rdata.names.into_iter().map(|n| Some(n.wire))),
            Some(Err(_)) => out.push(None),
            None => {}
        }
    }
    out
}

/// The labels of an uncompressed wire-form name (root excluded); `None` on a pointer, a
/// bad label type, or bytes after the root.
fn labels(name: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let len = usize::from(*name.get(pos)?);
        if len == 0 {
            return (pos + 1 == name.len()).then_some(out);
        }
        if len > 63 {
            return None;
        }
        out.push(name.get(pos + 1..pos + 1 + len)?);
        pos += 1 + len;
    }
}

/// Which section a record is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Answer,
    Authority,
    Additional,
}

/// One record as [`layout`] found it.
#[derive(Clone, Copy, Debug)]
struct Rec {
    section: Section,
    start: usize,
    type_at: usize,
    rtype: u16,
    rdata_start: usize,
    rdata_end: usize,
}

/// Where everything sits in a message.
#[derive(Debug)]
struct Layout {
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
    question_end: usize,
    records: Vec<Rec>,
    end: usize,
}

impl Layout {
    fn opt_records(&self) -> impl Iterator<Item = &Rec> {
        self.records
            .iter()
            .filter(|r| r.section == Section::Additional && r.rtype == TYPE_OPT)
    }
}

/// Walks header, questions and records by their lengths alone (names are skipped, not
/// followed). Does not require the walk to end at the end of the message.
fn layout(m: &[u8]) -> Option<Layout> {
    let qdcount = u16_at(m, 4)?;
    let ancount = u16_at(m, 6)?;
    let nscount = u16_at(m, 8)?;
    let arcount = u16_at(m, 10)?;
    let mut pos = HEADER_LEN;
    for _ in 0..qdcount {
        pos = skip_name(m, pos)? + 4;
        if pos > m.len() {
            return None;
        }
    }
    let question_end = pos;
    let mut records = Vec::new();
    let sections = [
        (Section::Answer, ancount),
        (Section::Authority, nscount),
        (Section::Additional, arcount),
    ];
    for (section, count) in sections {
        for _ in 0..count {
            let start = pos;
            let type_at = skip_name(m, pos)?;
            let rtype = u16_at(m, type_at)?;
            let rdlen = usize::from(u16_at(m, type_at + 8)?);
            let rdata_start = type_at + 10;
            let rdata_end = rdata_start + rdlen;
            if rdata_end > m.len() {
                return None;
            }
            records.push(Rec {
                section,
                start,
                type_at,
                rtype,
                rdata_start,
                rdata_end,
            });
            pos = rdata_end;
        }
    }
    Some(Layout {
        qdcount,
        ancount,
        nscount,
        arcount,
        question_end,
        records,
        end: pos,
    })
}

/// The options of OPT RDATA as (code, whole option bytes); `None` unless they fill it.
fn options(rdata: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < rdata.len() {
        let code = u16_at(rdata, pos)?;
        let len = usize::from(u16_at(rdata, pos + 2)?);
        let end = pos + 4 + len;
        out.push((code, rdata.get(pos..end)?));
        pos = end;
    }
    Some(out)
}

/// The options of the one OPT record of a message that strictdot accepted.
fn opt_options<'a>(m: &'a [u8], lay: &Layout) -> Option<Vec<(u16, &'a [u8])>> {
    let rec = lay.opt_records().next()?;
    let opts = options(&m[rec.rdata_start..rec.rdata_end]);
    Some(opts.unwrap_or_else(|| panic!("accepted OPT RDATA is not whole options: {}", hex(m))))
}

/// Which octets of `m` the owner names of its records read as label lengths or pointers,
/// following pointers (backwards only, as in any message strictdot accepted).
fn name_structure(m: &[u8], lay: &Layout) -> Vec<bool> {
    let mut fixed = vec![false; m.len()];
    for rec in &lay.records {
        let mut pos = rec.start;
        while let Some(&len) = m.get(pos) {
            fixed[pos] = true;
            match len & 0xC0 {
                0x00 if len == 0 => break,
                0x00 => pos += 1 + usize::from(len),
                0xC0 => {
                    let Some(&low) = m.get(pos + 1) else { break };
                    fixed[pos + 1] = true;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    if target >= pos {
                        break;
                    }
                    pos = target;
                }
                _ => break,
            }
        }
    }
    fixed
}

/// Renames the 2-octet code at `at` to one hickory does not interpret, changing only
/// octets no name reads as structure: `hi` replaces the high octet when it is free, else
/// `lo` the low one. Returns false if both octets are structure (left as they are).
fn rename(out: &mut [u8], fixed: &[bool], at: usize, hi: u8, lo: u8) -> bool {
    if !fixed[at] {
        out[at] = hi;
        if !fixed[at + 1] {
            out[at + 1] = lo;
        }
        true
    } else if !fixed[at + 1] {
        out[at + 1] = lo;
        true
    } else {
        false
    }
}

/// A copy of `m` whose RDATA hickory reads as opaque, with every length and offset kept:
/// every record but an OPT in the additional section gets an uninterpreted type (private
/// use 0xFF00, or 0x..F0 / 0xFE.. when part of the type field is read by a name), and ECS
/// options an unassigned code. Also says whether something could not be renamed (its
/// octets are read by a name too), in which case hickory may fail on RDATA that strictdot
/// rightly ignores.
fn sanitize(m: &[u8], lay: &Layout) -> (Vec<u8>, bool) {
    let fixed = name_structure(m, lay);
    let mut out = m.to_vec();
    let mut complete = true;
    for rec in &lay.records {
        if rec.section == Section::Additional && rec.rtype == TYPE_OPT {
            let mut pos = rec.rdata_start;
            while pos + 4 <= rec.rdata_end {
                let code = u16_at(m, pos).unwrap_or_default();
                let len = usize::from(u16_at(m, pos + 2).unwrap_or_default());
                if code == OPT_ECS {
                    let [hi, lo] = OPAQUE_OPTION.to_be_bytes();
                    complete &= rename(&mut out, &fixed, pos, hi, lo);
                }
                pos += 4 + len;
            }
        } else {
            let [hi, lo] = OPAQUE_TYPE.to_be_bytes();
            // 0xFF19 is hickory's ANAME; 0x..F0 is unassigned for every high octet.
            let hi = if out[rec.type_at + 1] == 0x19 && fixed[rec.type_at + 1] {
                0xFE
            } else {
                hi
            };
            let lo = if fixed[rec.type_at] { 0xF0 } else { lo };
            complete &= rename(&mut out, &fixed, rec.type_at, hi, lo);
        }
    }
    (out, complete)
}

/// hickory's reading of a message strictdot accepted (through [`sanitize`]).
///
/// Tolerated divergence: after following a compression pointer, hickory refuses a name
/// whose labels run on into the octets where the pointing name began
/// (`LabelOverlapsWithOther`); strictdot only requires each pointer to point strictly
/// before the previous one, which already guarantees termination. Such names return
/// `None` here instead of failing the property, as does any hickory error when
/// [`sanitize`] could not make all RDATA opaque.
fn hickory_parse(m: &[u8], lay: &Layout) -> Option<Message> {
    let (clean, complete) = sanitize(m, lay);
    match Message::from_vec(&clean) {
        Ok(msg) => Some(msg),
        Err(e) if matches!(e.kind(), ProtoErrorKind::LabelOverlapsWithOther { .. }) => None,
        Err(_) if !complete => None,
        Err(e) => panic!(
            "strictdot accepted a message hickory rejects ({e}): {}",
            hex(m)
        ),
    }
}

/// Whether hickory's name has exactly these labels (`case_sensitive`) or the same labels
/// up to ASCII case.
fn same_name(name: &hickory_proto::rr::Name, wire: &[u8], case_sensitive: bool) -> bool {
    let Some(want) = labels(wire) else {
        return false;
    };
    let got: Vec<&[u8]> = name.iter().collect();
    got.len() == want.len()
        && got.iter().zip(&want).all(|(a, b)| {
            if case_sensitive {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        })
}

/// hickory's view of the question and counts must match the wire.
fn check_hickory_header(msg: &Message, m: &[u8], lay: &Layout) {
    assert_eq!(Some(msg.id()), u16_at(m, 0), "hickory ID: {}", hex(m));
    let qr = m[2] & 0x80 != 0;
    let want_type = if qr {
        MessageType::Response
    } else {
        MessageType::Query
    };
    assert_eq!(msg.message_type(), want_type, "hickory QR: {}", hex(m));
    assert_eq!(
        u8::from(msg.op_code()),
        (m[2] >> 3) & 0x0F,
        "hickory opcode: {}",
        hex(m)
    );
    assert_eq!(msg.queries().len(), usize::from(lay.qdcount));
    assert_eq!(msg.answers().len(), usize::from(lay.ancount));
    assert_eq!(msg.name_servers().len(), usize::from(lay.nscount));
    let opt = usize::from(msg.extensions().is_some());
    assert_eq!(
        msg.additionals().len() + opt,
        usize::from(lay.arcount),
        "hickory additional count: {}",
        hex(m)
    );
    assert_eq!(opt, lay.opt_records().count(), "hickory EDNS: {}", hex(m));
}

/// hickory's EDNS must say what the OPT record of `m` says.
fn check_hickory_edns(msg: &Message, m: &[u8], lay: &Layout) {
    let (Some(edns), Some(rec)) = (msg.extensions(), lay.opt_records().next()) else {
        return;
    };
    let class = u16_at(m, rec.type_at + 2).unwrap_or_default();
    assert_eq!(edns.max_payload(), class.max(512), "EDNS size: {}", hex(m));
    assert_eq!(
        edns.version(),
        m[rec.type_at + 5],
        "EDNS version: {}",
        hex(m)
    );
    assert_eq!(
        edns.flags().dnssec_ok,
        m[rec.type_at + 6] & 0x80 != 0,
        "EDNS DO: {}",
        hex(m)
    );
    // ECS codes were renamed by `sanitize` (to a code that depends on the octets names read).
    let ours: Vec<Option<u16>> = opt_options(m, lay)
        .unwrap_or_default()
        .iter()
        .map(|(c, _)| (*c != OPT_ECS).then_some(*c))
        .collect();
    let theirs: Vec<u16> = edns
        .options()
        .as_ref()
        .iter()
        .map(|(c, _)| u16::from(*c))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "EDNS options: {}", hex(m));
    for (a, b) in ours.iter().zip(&theirs) {
        assert!(a.is_none_or(|a| a == *b), "EDNS options: {}", hex(m));
    }
}

// ---------------------------------------------------------------------------------------
// Target `query`: dns::query::validate.
// ---------------------------------------------------------------------------------------

/// `validate` on arbitrary bytes: an accepted query is exactly the input, agrees with an
/// independent walk and with hickory, re-validates identically and survives hickory
/// re-encoding; a rejection is either a justified drop or an error answer that is itself
/// a well-formed reply to the echoed question.
pub fn check_query(data: &[u8]) {
    match validate(data) {
        Ok(q) => check_valid_query(data, &q),
        Err(Rejection::Drop(DropReason::Runt)) => {
            assert!(data.len() < HEADER_LEN, "not a runt: {}", hex(data))
        }
        Err(Rejection::Drop(DropReason::Response)) => {
            assert!(
                data.len() >= HEADER_LEN && data[2] & 0x80 != 0,
                "{}",
                hex(data)
            )
        }
        Err(Rejection::Reply {
            rcode,
            reason,
            answer,
        }) => check_rejection(data, rcode, reason, &answer),
    }
}

fn check_valid_query(data: &[u8], q: &ValidQuery) {
    let ctx = || hex(data);
    assert_eq!(q.bytes(), data, "bytes() is not the input");
    assert!(data.len() >= HEADER_LEN);
    assert_eq!(data[2] & 0x80, 0, "accepted a response: {}", ctx());
    assert_eq!(data[2] & 0x78, 0, "accepted opcode != QUERY: {}", ctx());
    let lay = layout(data).unwrap_or_else(|| panic!("accepted, but not walkable: {}", ctx()));
    assert_eq!(
        lay.end,
        data.len(),
        "accepted with trailing bytes: {}",
        ctx()
    );
    assert_eq!(
        (lay.qdcount, lay.ancount, lay.nscount),
        (1, 0, 0),
        "{}",
        ctx()
    );
    assert_eq!(q.id(), u16_at(data, 0).unwrap_or_default());
    assert_eq!(q.flags(), u16_at(data, 2).unwrap_or_default());
    assert_eq!(q.question(), &data[HEADER_LEN..lay.question_end]);
    let qname_end = lay.question_end - 4;
    assert_eq!(q.qname(), &data[HEADER_LEN..qname_end]);
    assert!(labels(q.qname()).is_some(), "compressed qname: {}", ctx());
    assert!(q.qname().len() <= 255, "qname over 255: {}", ctx());
    assert_eq!(Some(q.qtype()), u16_at(data, qname_end));
    assert_eq!(Some(q.qclass()), u16_at(data, qname_end + 2));
    assert!(
        q.qtype() != TYPE_AXFR && q.qtype() != TYPE_IXFR,
        "{}",
        ctx()
    );

    // EDNS: exactly the one root-owned OPT record the walk found.
    let opts: Vec<&Rec> = lay.opt_records().collect();
    assert_eq!(opts.len(), usize::from(q.edns().is_some()), "{}", ctx());
    if let (Some(e), Some(rec)) = (q.edns(), opts.first()) {
        assert_eq!(e.record_start, rec.start);
        assert_eq!(e.options_start, rec.rdata_start);
        assert_eq!(e.record_end, rec.rdata_end);
        assert!(
            is_root(data, rec.start),
            "OPT not owned by the root: {}",
            ctx()
        );
        assert_eq!(Some(e.udp_size), u16_at(data, rec.type_at + 2));
        assert_eq!(e.version, 0, "accepted EDNS version != 0: {}", ctx());
        assert_eq!(e.version, data[rec.type_at + 5]);
        assert_eq!(e.dnssec_ok, data[rec.type_at + 6] & 0x80 != 0);
        assert!(opt_options(data, &lay).is_some());
        let all = &data[e.options_start..e.record_end];
        let walked: usize = options_iter(all).map(|(_, o)| o.len()).sum();
        assert_eq!(walked, all.len(), "options_iter stopped early: {}", ctx());
        assert_eq!(q.udp_limit(), usize::from(e.udp_size.clamp(512, 4096)));
    } else {
        assert_eq!(q.udp_limit(), 512);
    }

    // Re-validation is identical.
    let again = validate(q.bytes()).unwrap_or_else(|_| panic!("re-validation: {}", ctx()));
    assert_eq!(again.question(), q.question());
    assert_eq!(again.edns(), q.edns());

    // hickory reads the same query.
    if let Some(msg) = hickory_parse(data, &lay) {
        check_hickory_header(&msg, data, &lay);
        check_hickory_edns(&msg, data, &lay);
        let hq = &msg.queries()[0];
        assert!(same_name(hq.name(), q.qname(), true), "qname: {}", ctx());
        assert_eq!(u16::from(hq.query_type()), q.qtype(), "qtype: {}", ctx());
        assert_eq!(u16::from(hq.query_class()), q.qclass(), "qclass: {}", ctx());
        // Re-encoded by hickory, it is still a valid query for the same question.
        let bytes = msg
            .to_vec()
            .unwrap_or_else(|e| panic!("hickory re-encode ({e}): {}", ctx()));
        let re = validate(&bytes)
            .unwrap_or_else(|r| panic!("hickory re-encoding refused ({r:?}): {}", ctx()));
        assert_eq!(
            re.question(),
            q.question(),
            "re-encoded question: {}",
            ctx()
        );
        assert_eq!(re.edns().is_some(), q.edns().is_some());
        assert_eq!(
            re.edns().map(|e| e.dnssec_ok),
            q.edns().map(|e| e.dnssec_ok)
        );
    }

    // Every answer strictdot synthesizes for it passes the reply check.
    for rcode in [
        Rcode::ServFail,
        Rcode::Refused,
        Rcode::FormErr,
        Rcode::NoError,
    ] {
        let a = q.error_answer(rcode);
        check_synthesized(&a, q, rcode.code());
    }
    let tc = answer::truncated_answer(QR | RD | RA, q);
    let info = check_synthesized(&tc, q, 0);
    assert_ne!(info.flags & TC, 0, "truncated answer without TC");
    assert!(
        tc.len() <= q.udp_limit(),
        "truncated answer too big for UDP"
    );
}

/// An answer strictdot made for `q` passes `check_reply`, carries `q`'s ID and question,
/// has an OPT record iff `q` had one (echoing DO) and the given response code.
fn check_synthesized(a: &[u8], q: &ValidQuery, code: u16) -> ReplyInfo {
    let info = answer::check_reply(a, q.qname(), q.qtype(), q.qclass())
        .unwrap_or_else(|e| panic!("synthesized answer fails check_reply ({e}): {}", hex(a)));
    assert_eq!(&a[..2], &q.id().to_be_bytes());
    assert_eq!(&a[HEADER_LEN..info.question_end], q.question());
    assert_eq!(info.flags & 0x000F, code & 0x000F);
    assert_eq!(info.opt.is_some(), q.edns().is_some());
    if let (Some(opt), Some(e)) = (info.opt, q.edns()) {
        assert_eq!(a[opt.start + 5], (code >> 4) as u8, "extended RCODE");
        assert_eq!(a[opt.start + 7] & 0x80 != 0, e.dnssec_ok, "DO not echoed");
    }
    let lay = layout(a).unwrap_or_else(|| panic!("synthesized, not walkable: {}", hex(a)));
    if let Some(msg) = hickory_parse(a, &lay) {
        check_hickory_header(&msg, a, &lay);
        assert_eq!(u16::from(msg.response_code()), code);
    }
    info
}

/// A rejection with an answer: only for a header-sized, QR=0 message; the response code
/// fits the fault; the answer echoes ID, opcode, RD, CD and the question (if it could be
/// read), passes `check_reply` (with the opcode cleared, as that check is for standard
/// queries) and parses in hickory with the same response code.
fn check_rejection(data: &[u8], rcode: Rcode, reason: &str, a: &[u8]) {
    let ctx = || format!("{reason}: query {} answer {}", hex(data), hex(a));
    assert!(data.len() >= HEADER_LEN && data[2] & 0x80 == 0, "{}", ctx());
    let qflags = u16_at(data, 2).unwrap_or_default();
    let opcode = (qflags & OPCODE_MASK) >> 11;
    assert_eq!(
        opcode != 0,
        rcode == Rcode::NotImp,
        "NOTIMP iff opcode: {}",
        ctx()
    );
    assert!(
        matches!(
            rcode,
            Rcode::NotImp | Rcode::FormErr | Rcode::BadVers | Rcode::Refused
        ),
        "unexpected rcode {rcode:?}: {}",
        ctx()
    );
    let code = rcode.code();
    let aflags = u16_at(a, 2).unwrap_or_else(|| panic!("answer without header: {}", ctx()));
    assert_eq!(&a[..2], &data[..2], "ID not echoed: {}", ctx());
    assert_ne!(aflags & QR, 0, "{}", ctx());
    assert_ne!(aflags & RA, 0, "{}", ctx());
    assert_eq!(aflags & (AA | TC), 0, "{}", ctx());
    assert_eq!(
        aflags & (OPCODE_MASK | RD | CD),
        qflags & (OPCODE_MASK | RD | CD)
    );
    assert_eq!(aflags & 0x000F, code & 0x000F, "{}", ctx());
    let lay = layout(a).unwrap_or_else(|| panic!("answer not walkable: {}", ctx()));
    assert_eq!(lay.end, a.len(), "{}", ctx());
    assert!(
        lay.qdcount <= 1 && lay.ancount == 0 && lay.nscount == 0,
        "{}",
        ctx()
    );
    assert!(lay.arcount <= 1, "{}", ctx());
    if let Some(opt) = lay.opt_records().next() {
        assert_eq!(a[opt.start], 0);
        assert_eq!(
            a[opt.type_at + 4],
            (code >> 4) as u8,
            "extended RCODE: {}",
            ctx()
        );
        assert_eq!(opt.rdata_start, opt.rdata_end, "options in an error answer");
    }
    if rcode == Rcode::BadVers {
        assert_eq!(lay.arcount, 1, "BADVERS without OPT: {}", ctx());
    }
    if lay.qdcount == 1 {
        let qend = lay.question_end;
        assert_eq!(
            data.get(HEADER_LEN..qend),
            Some(&a[HEADER_LEN..qend]),
            "question not echoed: {}",
            ctx()
        );
        let qname = &a[HEADER_LEN..qend - 4];
        let qtype = u16_at(a, qend - 4).unwrap_or_default();
        let qclass = u16_at(a, qend - 2).unwrap_or_default();
        if rcode == Rcode::Refused {
            assert!(qtype == TYPE_AXFR || qtype == TYPE_IXFR, "{}", ctx());
        }
        let mut standard = a.to_vec();
        standard[2] &= !((OPCODE_MASK >> 8) as u8);
        let info = answer::check_reply(&standard, qname, qtype, qclass)
            .unwrap_or_else(|e| panic!("error answer fails check_reply ({e}): {}", ctx()));
        assert_eq!(info.opt.is_some(), lay.arcount == 1);
    } else {
        assert_eq!(
            rcode,
            if opcode != 0 {
                Rcode::NotImp
            } else {
                Rcode::FormErr
            }
        );
    }
    let msg = Message::from_vec(a).unwrap_or_else(|e| panic!("hickory ({e}): {}", ctx()));
    check_hickory_header(&msg, a, &lay);
    assert_eq!(u16::from(msg.response_code()), code, "{}", ctx());
}

// ---------------------------------------------------------------------------------------
// Target `reply`: dns::answer::check_reply, restore_client_view, edns::answer_for_client.
// ---------------------------------------------------------------------------------------

/// Input: one control byte, then an upstream reply. Control bits: 0x01 ask the reply's own
/// question (else www.example. A IN); 0x02 the client query had OPT; 0x04 with DO; 0x08 the
/// client wrote the name in swapped ASCII case.
///
/// An accepted reply agrees with the independent walk and with hickory; after
/// `restore_client_view` and `answer_for_client` it still passes `check_reply` for the
/// client's question, with only the ID, the question's case and the OPT record changed as
/// documented; the truncated answer for it fits the client's UDP limit.
pub fn check_reply(data: &[u8]) {
    let Some((&ctl, reply)) = data.split_first() else {
        return;
    };
    let own = (ctl & 0x01 != 0)
        .then(|| skip_name(reply, HEADER_LEN))
        .flatten();
    let mut question: Vec<u8> = match own {
        Some(end) if end + 4 <= reply.len() && labels(&reply[HEADER_LEN..end]).is_some() => {
            reply[HEADER_LEN..end + 4].to_vec()
        }
        _ => FIXED_QUESTION.to_vec(),
    };
    let name_len = question.len() - 4;
    if ctl & 0x08 != 0 {
        for b in &mut question[..name_len] {
            if b.is_ascii_alphabetic() {
                *b ^= 0x20;
            }
        }
    }
    let qname = &question[..name_len];
    let qtype = u16_at(&question, name_len).unwrap_or_default();
    let qclass = u16_at(&question, name_len + 2).unwrap_or_default();
    let Ok(info) = answer::check_reply(reply, qname, qtype, qclass) else {
        return;
    };
    check_accepted_reply(reply, qname, qtype, qclass, &info);
    check_strip(reply, qname, qtype, qclass);

    let mut query = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(&question);
    if ctl & 0x02 != 0 {
        query[11] = 1;
        let dnssec_ok = if ctl & 0x04 != 0 { 0x80 } else { 0 };
        query.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, dnssec_ok, 0, 0, 0]);
    }
    if let Ok(q) = validate(&query) {
        check_client_view(reply, &info, &q);
    }
}

fn check_accepted_reply(reply: &[u8], qname: &[u8], qtype: u16, qclass: u16, info: &ReplyInfo) {
    let ctx = || hex(reply);
    let lay = layout(reply).unwrap_or_else(|| panic!("accepted, not walkable: {}", ctx()));
    assert_eq!(
        lay.end,
        reply.len(),
        "accepted with trailing bytes: {}",
        ctx()
    );
    assert_eq!(lay.qdcount, 1);
    assert_eq!(Some(info.flags), u16_at(reply, 2));
    assert_ne!(info.flags & QR, 0, "accepted a query as reply: {}", ctx());
    assert_eq!(
        info.flags & OPCODE_MASK,
        0,
        "accepted opcode != QUERY: {}",
        ctx()
    );
    assert_eq!(info.question_end, lay.question_end);
    let name = &reply[HEADER_LEN..lay.question_end - 4];
    assert!(
        name.eq_ignore_ascii_case(qname),
        "question mismatch: {}",
        ctx()
    );
    assert_eq!(u16_at(reply, lay.question_end - 4), Some(qtype));
    assert_eq!(u16_at(reply, lay.question_end - 2), Some(qclass));
    // Every record's RDATA passed `Rdata::parse`, and agrees with the reference and hickory.
    for rec in &lay.records {
        assert!(
            check_rdata_at(reply, rec.rtype, rec.rdata_start, rec.rdata_end),
            "accepted with RDATA that Rdata::parse refuses: {}",
            ctx()
        );
    }
    let opts: Vec<&Rec> = lay.opt_records().collect();
    assert!(opts.len() <= 1, "two OPT records accepted: {}", ctx());
    assert!(
        lay.records
            .iter()
            .all(|r| r.section == Section::Additional || r.rtype != TYPE_OPT),
        "OPT outside the additional section: {}",
        ctx()
    );
    match (info.opt, opts.first()) {
        (None, None) => {}
        (Some(span), Some(rec)) => {
            assert_eq!(
                (span.start, span.rdata_start, span.end),
                (rec.start, rec.rdata_start, rec.rdata_end)
            );
            assert!(
                is_root(reply, rec.start),
                "OPT not owned by the root: {}",
                ctx()
            );
            assert!(opt_options(reply, &lay).is_some());
        }
        (a, b) => panic!("OPT span {a:?} vs walk {b:?}: {}", ctx()),
    }
    // The upstream's idle timeout: the first keepalive option with a 2-octet value.
    let announced = opt_options(reply, &lay).and_then(|opts| {
        opts.iter().find_map(|(code, o)| match (*code, *o) {
            (OPT_TCP_KEEPALIVE, [_, _, 0, 2, hi, lo]) => Some(Duration::from_millis(
                u64::from(u16::from_be_bytes([*hi, *lo])) * 100,
            )),
            _ => None,
        })
    });
    assert_eq!(keepalive_timeout(reply, info), announced, "{}", ctx());
    if let Some(msg) = hickory_parse(reply, &lay) {
        check_hickory_header(&msg, reply, &lay);
        check_hickory_edns(&msg, reply, &lay);
        let hq = &msg.queries()[0];
        assert!(
            same_name(hq.name(), qname, false),
            "hickory qname: {}",
            ctx()
        );
        assert_eq!(u16::from(hq.query_type()), qtype);
        assert_eq!(u16::from(hq.query_class()), qclass);
    }
}

fn check_client_view(reply: &[u8], info: &ReplyInfo, q: &ValidQuery) {
    let ctx = || hex(reply);
    let mut view = reply.to_vec();
    answer::restore_client_view(&mut view, info, q);
    assert_eq!(view.len(), reply.len());
    assert_eq!(&view[..2], &q.id().to_be_bytes());
    assert_eq!(&view[2..HEADER_LEN], &reply[2..HEADER_LEN]);
    assert_eq!(&view[HEADER_LEN..info.question_end], q.question());
    assert_eq!(&view[info.question_end..], &reply[info.question_end..]);
    let restored = answer::check_reply(&view, q.qname(), q.qtype(), q.qclass())
        .unwrap_or_else(|e| panic!("restored reply fails ({e}): {}", ctx()));
    // Every record keeps its owner and the names in its RDATA (up to the case the question
    // lent them): a name compressed into octets that were rewritten would now mean
    // something else.
    let names = record_names(reply);
    let restored_names = record_names(&view);
    assert_eq!(names.len(), restored_names.len());
    for (a, b) in names.iter().zip(&restored_names) {
        let same = match (a, b) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        assert!(
            same,
            "record name changed by restore_client_view: {}",
            ctx()
        );
    }
    assert_eq!(restored.flags, info.flags);
    assert_eq!(restored.question_end, info.question_end);
    assert_eq!(restored.opt, info.opt);

    let had_opt = q.edns().is_some();
    let before = view.clone();
    answer_for_client(&mut view, &restored, had_opt);
    let shaped = answer::check_reply(&view, q.qname(), q.qtype(), q.qclass())
        .unwrap_or_else(|e| panic!("answer_for_client output fails ({e}): {}", ctx()));
    let shaped_names = record_names(&view);
    assert_eq!(
        shaped_names.as_slice(),
        &restored_names[..shaped_names.len()],
        "record name changed by answer_for_client: {}",
        ctx()
    );
    match info.opt {
        Some(opt) if opt.end == before.len() && !had_opt => {
            assert_eq!(view.len(), opt.start, "OPT not removed: {}", ctx());
            assert_eq!(&view[..10], &before[..10]);
            assert_eq!(
                u16_at(&view, 10).map(|n| n + 1),
                u16_at(&before, 10),
                "ARCOUNT: {}",
                ctx()
            );
            assert_eq!(&view[HEADER_LEN..], &before[HEADER_LEN..opt.start]);
            assert!(shaped.opt.is_none());
        }
        Some(opt) if opt.end == before.len() => {
            let kept = shaped.opt.unwrap_or_else(|| panic!("OPT lost: {}", ctx()));
            assert_eq!((kept.start, kept.rdata_start), (opt.start, opt.rdata_start));
            assert_eq!(&view[..opt.rdata_start - 2], &before[..opt.rdata_start - 2]);
            let was = options(&before[opt.rdata_start..opt.end]).unwrap_or_default();
            let now = options(&view[kept.rdata_start..kept.end]).unwrap_or_default();
            let want: Vec<_> = was
                .into_iter()
                .filter(|(c, _)| *c != OPT_PADDING && *c != OPT_TCP_KEEPALIVE)
                .collect();
            assert_eq!(
                now,
                want,
                "options after removing hop-by-hop ones: {}",
                ctx()
            );
        }
        _ => assert_eq!(view, before, "changed without a final OPT: {}", ctx()),
    }
    let lay = layout(&view).unwrap_or_else(|| panic!("shaped, not walkable: {}", ctx()));
    if let Some(msg) = hickory_parse(&view, &lay) {
        check_hickory_header(&msg, &view, &lay);
    }

    let tc = answer::truncated_answer(info.flags, q);
    let tinfo = answer::check_reply(&tc, q.qname(), q.qtype(), q.qclass())
        .unwrap_or_else(|e| panic!("truncated answer fails ({e}): {}", ctx()));
    assert_eq!(tinfo.flags, info.flags | TC);
    assert_eq!(&tc[..2], &q.id().to_be_bytes());
    assert_eq!(&tc[HEADER_LEN..tinfo.question_end], q.question());
    assert_eq!(tinfo.opt.is_some(), had_opt);
    assert_eq!(u16_at(&tc, 6), Some(0));
    assert_eq!(u16_at(&tc, 8), Some(0));
    assert!(
        tc.len() <= q.udp_limit(),
        "truncated answer over the UDP limit"
    );
}

// ---------------------------------------------------------------------------------------
// Target `rdata` (and every record of a reply the `reply` target accepts):
// dns::rdata::Rdata::parse.
// ---------------------------------------------------------------------------------------

/// The record types whose RDATA holds names that may be compressed (RFC 3597 §4), by number.
const NS: u16 = 2;
const MD: u16 = 3;
const MF: u16 = 4;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const MB: u16 = 7;
const MG: u16 = 8;
const MR: u16 = 9;
const PTR: u16 = 12;
const MINFO: u16 = 14;
const MX: u16 = 15;

/// The types the `rdata` target's type byte chooses from: the eleven above, then two that
/// must stay opaque (A, and a private-use type).
const RDATA_TYPES: [u16; 13] = [
    NS,
    MD,
    MF,
    CNAME,
    SOA,
    MB,
    MG,
    MR,
    PTR,
    MINFO,
    MX,
    1,
    OPAQUE_TYPE,
];

/// One field of RDATA, for the layout table of [`ref_layout`].
#[derive(Clone, Copy)]
enum Field {
    Name,
    U16,
    U32,
}

/// RFC 1035 §3.3: the fields of each type's RDATA, in order; `None` for a type whose RDATA
/// strictdot does not interpret.
fn ref_layout(rtype: u16) -> Option<&'static [Field]> {
    use Field::*;
    match rtype {
        NS | MD | MF | CNAME | MB | MG | MR | PTR => Some(&[Name]),
        MINFO => Some(&[Name, Name]),
        MX => Some(&[U16, Name]),
        SOA => Some(&[Name, Name, U32, U32, U32, U32, U32]),
        _ => None,
    }
}

/// Why the reference refused RDATA: a compression pointer into the header (which
/// strictdot refuses and hickory does not), or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefError {
    HeaderPointer,
    Other,
}

/// A name the reference read: where it starts, where it ends at its position, and its
/// uncompressed wire form.
#[derive(Debug)]
struct RefName {
    start: usize,
    end: usize,
    wire: Vec<u8>,
    compressed: bool,
}

/// The reference reading of the name at `start`, whose octets at its own position may not
/// pass `end` (the end of its RDATA). The rules, as the module documentation of
/// `dns/reader.rs` states them: labels of at most 63 octets (label types 01 and 10
/// refused), at most 255 octets uncompressed, root included; a pointer targets neither the
/// header nor anything at or after the start of the stretch it ends (so it points strictly
/// backwards, each before the last); the stretch a pointer leads to may not read its own
/// pointer's octets or anything after them.
fn ref_name(m: &[u8], start: usize, end: usize) -> Result<RefName, RefError> {
    let mut wire = Vec::new();
    let mut pos = start;
    let mut bound = end;
    let mut stretch_start = start;
    let mut after_pointer = None;
    loop {
        if pos >= bound {
            return Err(RefError::Other);
        }
        let len = m[pos];
        match len >> 6 {
            0 => {
                let label_end = pos + 1 + usize::from(len);
                if label_end > bound {
                    return Err(RefError::Other);
                }
                wire.extend_from_slice(&m[pos..label_end]);
                if wire.len() > 255 {
                    return Err(RefError::Other);
                }
                if len == 0 {
                    return Ok(RefName {
                        start,
                        end: after_pointer.unwrap_or(label_end),
                        wire,
                        compressed: after_pointer.is_some(),
                    });
                }
                pos = label_end;
            }
            3 => {
                // The second octet is read from the message as far as the RDATA goes.
                if pos + 1 >= end {
                    return Err(RefError::Other);
                }
                let target = (usize::from(len & 0x3F) << 8) | usize::from(m[pos + 1]);
                if target < HEADER_LEN {
                    return Err(RefError::HeaderPointer);
                }
                if target >= stretch_start {
                    return Err(RefError::Other);
                }
                after_pointer.get_or_insert(pos + 2);
                stretch_start = target;
                bound = pos;
                pos = target;
            }
            _ => return Err(RefError::Other),
        }
    }
}

/// RDATA as the reference read it: its names and numbers, in wire order.
#[derive(Debug)]
struct RefRdata {
    names: Vec<RefName>,
    numbers: Vec<u32>,
}

/// The reference reading of RDATA, the fields taking exactly `start..end`; `None` for a
/// type that is not interpreted.
fn ref_rdata(m: &[u8], rtype: u16, start: usize, end: usize) -> Option<Result<RefRdata, RefError>> {
    let layout = ref_layout(rtype)?;
    let read = || {
        let mut names = Vec::new();
        let mut numbers = Vec::new();
        let mut pos = start;
        for field in layout {
            let width = match field {
                Field::Name => {
                    let name = ref_name(m, pos, end)?;
                    pos = name.end;
                    names.push(name);
                    continue;
                }
                Field::U16 => 2,
                Field::U32 => 4,
            };
            let bytes = m.get(pos..pos + width).filter(|_| pos + width <= end);
            let bytes = bytes.ok_or(RefError::Other)?;
            numbers.push(bytes.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)));
            pos += width;
        }
        if pos == end {
            Ok(RefRdata { names, numbers })
        } else {
            Err(RefError::Other)
        }
    };
    Some(read())
}

/// Input: a type byte ([`RDATA_TYPES`], modulo), the RDATA offset after the header (u16,
/// modulo what the message allows), RDLENGTH (u16, likewise), then a DNS message whose
/// bytes at that offset are taken as the RDATA of a record of that type.
///
/// `Rdata::parse` agrees with [`check_rdata_at`]'s oracles.
pub fn check_rdata(data: &[u8]) {
    let (Some(&sel), Some(at), Some(len)) = (data.first(), u16_at(data, 1), u16_at(data, 3)) else {
        return;
    };
    let m = &data[5..];
    if m.len() < HEADER_LEN {
        return;
    }
    let start = HEADER_LEN + usize::from(at) % (m.len() - HEADER_LEN + 1);
    let end = start + usize::from(len) % (m.len() - start + 1);
    let rtype = RDATA_TYPES[usize::from(sel) % RDATA_TYPES.len()];
    check_rdata_at(m, rtype, start, end);
}

/// `Rdata::parse` on the record of type `rtype` whose RDATA is `start..end` of `m`
/// (`end <= m.len()`), which `rdata::check` (the reply check's lean reading) must agree
/// with exactly, against two oracles:
/// - the reference reading ([`ref_rdata`]): strictdot accepts exactly when it does, with
///   the same names (start, end at their position, uncompressed length) and numbers; every
///   accepted name decompresses (following pointers by [`decode_name`]) to a valid name of
///   at most 255 octets; other types are opaque and whole;
/// - hickory-proto reading the same RDATA in place (NS, CNAME, SOA, PTR, MX): whatever
///   strictdot accepts, hickory reads with the same names, byte for byte, and numbers
///   (the tolerated divergence of [`hickory_parse`] aside); whatever hickory accepts,
///   strictdot accepts too unless a pointer leads into the header.
///
/// Returns whether strictdot accepted it.
fn check_rdata_at(m: &[u8], rtype: u16, start: usize, end: usize) -> bool {
    let ctx = || format!("type {rtype} RDATA {start}..{end} of {}", hex(m));
    let rec = Record {
        name: NameSpan {
            start,
            end: start,
            wire_len: 1,
            compressed: false,
        },
        rtype,
        class: 1,
        ttl_at: start,
        ttl: 0,
        rdata_start: start,
        rdata_end: end,
    };
    let ours = Rdata::parse(m, &rec);
    assert_eq!(
        rdata::check(m, &rec),
        ours.map(|_| ()),
        "rdata::check and Rdata::parse disagree: {}",
        ctx()
    );
    let Some(reference) = ref_rdata(m, rtype, start, end) else {
        assert_eq!(ours, Ok(Rdata::Opaque(&m[start..end])), "{}", ctx());
        return true;
    };
    match (&reference, &ours) {
        (Ok(RefRdata { names, numbers }), Ok(got)) => {
            let spans: Vec<NameSpan> = got.names().collect();
            assert_eq!(spans.len(), names.len(), "names: {}", ctx());
            for (span, want) in spans.iter().zip(names) {
                assert_eq!((span.start, span.end), (want.start, want.end), "{}", ctx());
                assert_eq!(span.wire_len, want.wire.len(), "{}", ctx());
                assert_eq!(span.compressed, want.compressed, "{}", ctx());
                let decoded = decode_name(m, span.start)
                    .unwrap_or_else(|| panic!("accepted name does not decode: {}", ctx()));
                assert_eq!(decoded, want.wire, "{}", ctx());
                assert!(labels(&decoded).is_some() && decoded.len() <= 255);
            }
            let got_numbers: Vec<u32> = match *got {
                Rdata::Mx { preference, .. } => vec![u32::from(preference)],
                Rdata::Soa(s) => vec![s.serial, s.refresh, s.retry, s.expire, s.minimum],
                _ => Vec::new(),
            };
            assert_eq!(&got_numbers, numbers, "{}", ctx());
        }
        (Err(_), Err(_)) => {}
        (want, got) => panic!("reference {want:?}, strictdot {got:?}: {}", ctx()),
    }
    // hickory, name by name: it reads every name strictdot accepted to the same labels,
    // ending at the same octet, but for the divergence tolerated at [`hickory_parse`]
    // (which hickory's `RData::read` reports as a length mismatch, hence this step).
    let mut overlap = false;
    if let (Ok(RefRdata { names, .. }), Ok(_)) = (&reference, &ours) {
        for name in names {
            match hickory_name(m, name.start) {
                Some(Ok((theirs, their_end))) => {
                    assert!(
                        same_name(&theirs, &name.wire, true),
                        "hickory reads {theirs}: {}",
                        ctx()
                    );
                    assert_eq!(their_end, name.end, "hickory name end: {}", ctx());
                }
                Some(Err(e))
                    if matches!(e.kind(), ProtoErrorKind::LabelOverlapsWithOther { .. }) =>
                {
                    overlap = true
                }
                Some(Err(e)) => {
                    panic!("strictdot accepted a name hickory rejects ({e}): {}", ctx())
                }
                None => {}
            }
        }
    }
    let Some(theirs) = hickory_rdata(m, rtype, start, end) else {
        return ours.is_ok();
    };
    match (&reference, theirs) {
        (Ok(RefRdata { names, numbers }), Ok(rdata)) => {
            let (their_names, their_numbers): (Vec<&hickory_proto::rr::Name>, Vec<u32>) =
                match &rdata {
                    RData::NS(n) => (vec![&n.0], vec![]),
                    RData::CNAME(n) => (vec![&n.0], vec![]),
                    RData::PTR(n) => (vec![&n.0], vec![]),
                    RData::MX(mx) => (vec![mx.exchange()], vec![u32::from(mx.preference())]),
                    RData::SOA(soa) => (
                        vec![soa.mname(), soa.rname()],
                        vec![
                            soa.serial(),
                            soa.refresh() as u32,
                            soa.retry() as u32,
                            soa.expire() as u32,
                            soa.minimum(),
                        ],
                    ),
                    other => panic!("hickory read {other:?}: {}", ctx()),
                };
            assert_eq!(their_names.len(), names.len(), "{}", ctx());
            for (theirs, ours) in their_names.iter().zip(names) {
                assert!(
                    same_name(theirs, &ours.wire, true),
                    "hickory reads {theirs}: {}",
                    ctx()
                );
            }
            assert_eq!(&their_numbers, numbers, "{}", ctx());
        }
        (Ok(_), Err(e)) => assert!(
            overlap,
            "strictdot accepted RDATA hickory rejects ({e}): {}",
            ctx()
        ),
        (Err(why), Ok(_)) => assert_eq!(
            *why,
            RefError::HeaderPointer,
            "hickory accepts RDATA strictdot rejects ({ours:?}): {}",
            ctx()
        ),
        (Err(_), Err(_)) => {}
    }
    ours.is_ok()
}

/// hickory's reading of the name at `start` of `m`, and the offset just past it there;
/// `None` past the offsets hickory can address.
fn hickory_name(
    m: &[u8],
    start: usize,
) -> Option<Result<(hickory_proto::rr::Name, usize), hickory_proto::ProtoError>> {
    let mut decoder = BinDecoder::new(m).clone(u16::try_from(start).ok()?);
    Some(hickory_proto::rr::Name::read(&mut decoder).map(|name| (name, decoder.index())))
}

/// hickory's reading of the RDATA at `start..end` of `m`, for the types it interprets of
/// those strictdot does; `None` for the others.
fn hickory_rdata(
    m: &[u8],
    rtype: u16,
    start: usize,
    end: usize,
) -> Option<Result<RData, hickory_proto::ProtoError>> {
    if !matches!(rtype, NS | CNAME | SOA | PTR | MX) {
        return None;
    }
    let at = u16::try_from(start).ok()?;
    let len = u16::try_from(end - start).ok()?;
    let mut decoder = BinDecoder::new(m).clone(at);
    Some(RData::read(
        &mut decoder,
        RecordType::from(rtype),
        Restrict::new(len),
    ))
}

// ---------------------------------------------------------------------------------------
// Target `edns_rewrite`: dns::edns::upstream_query.
// ---------------------------------------------------------------------------------------

/// The privacy settings a flag byte selects: 0x01 keep ECS; 0x02 ask for TCP keepalive;
/// bits 2-3 the padding block (0 none, 1 [`QUERY_BLOCK`], 2 468 as for responses, 3 a small
/// block of 1..=16 from the high nibble).
fn privacy_of(flag: u8) -> Privacy {
    let pad_block = match (flag >> 2) & 3 {
        0 => 0,
        1 => QUERY_BLOCK,
        2 => 468,
        _ => 1 + usize::from(flag >> 4),
    };
    Privacy {
        pad_block,
        keep_ecs: flag & 0x01 != 0,
        tcp_keepalive: flag & 0x02 != 0,
        dnssec: false,
    }
}

/// Input: a flag byte ([`privacy_of`]), then a client query. The upstream form of an
/// accepted query validates, keeps header and question, carries the DO bit and exactly
/// the client's options minus COOKIE, keepalive, padding and (unless kept) ECS, then an
/// empty keepalive option if asked for, then one padding option that makes the length a
/// multiple of the block when that fits in 65535 octets; rewriting it again changes
/// nothing; hickory reads input and output the same outside the additional section.
pub fn check_edns_rewrite(data: &[u8]) {
    let Some((&flag, msg)) = data.split_first() else {
        return;
    };
    let Ok(q) = validate(msg) else {
        return;
    };
    let privacy = privacy_of(flag);
    let out = upstream_query(&q, &privacy);
    let ctx = || format!("flag {flag:#04x} query {} upstream {}", hex(msg), hex(&out));
    assert!(out.len() <= 65535, "{}", ctx());
    let up = validate(&out).unwrap_or_else(|r| panic!("upstream query refused {r:?}: {}", ctx()));
    assert_eq!(&out[..10], &msg[..10], "header changed: {}", ctx());
    assert_eq!(up.question(), q.question(), "{}", ctx());
    let want_opt = q.edns().is_some() || privacy.pad_block > 0 || privacy.tcp_keepalive;
    assert_eq!(up.edns().is_some(), want_opt, "OPT presence: {}", ctx());
    assert_eq!(
        u16_at(&out, 10),
        Some(u16::from(want_opt)),
        "ARCOUNT: {}",
        ctx()
    );
    let client_opts: Vec<(u16, &[u8])> = match q.edns() {
        Some(e) => options_iter(&msg[e.options_start..e.record_end]).collect(),
        None => Vec::new(),
    };
    if let Some(e) = up.edns() {
        assert_eq!(
            e.dnssec_ok,
            q.edns().is_some_and(|c| c.dnssec_ok),
            "DO: {}",
            ctx()
        );
        assert_eq!(
            e.udp_size,
            q.edns().map_or(1232, |c| c.udp_size),
            "{}",
            ctx()
        );
        assert_eq!(out[e.record_start + 5], 0, "extended RCODE: {}", ctx());
        let sent: Vec<(u16, &[u8])> = options_iter(&out[e.options_start..e.record_end]).collect();
        let mut want: Vec<(u16, &[u8])> = client_opts
            .iter()
            .copied()
            .filter(|(c, _)| match *c {
                OPT_ECS => privacy.keep_ecs,
                OPT_COOKIE | OPT_TCP_KEEPALIVE | OPT_PADDING => false,
                _ => true,
            })
            .collect();
        if privacy.tcp_keepalive {
            want.push((OPT_TCP_KEEPALIVE, &[0, 11, 0, 0]));
        }
        let unpadded: Vec<(u16, &[u8])> = sent
            .iter()
            .copied()
            .filter(|(c, _)| *c != OPT_PADDING)
            .collect();
        assert_eq!(unpadded, want, "forwarded options: {}", ctx());
        let pads: Vec<&[u8]> = sent
            .iter()
            .filter(|(c, _)| *c == OPT_PADDING)
            .map(|(_, o)| &o[4..])
            .collect();
        if privacy.pad_block == 0 {
            assert!(pads.is_empty(), "padding while off: {}", ctx());
        } else if let [pad] = pads.as_slice() {
            assert_eq!(
                out.len() % privacy.pad_block,
                0,
                "not padded to block: {}",
                ctx()
            );
            assert!(
                pad.len() < privacy.pad_block,
                "padding not minimal: {}",
                ctx()
            );
            assert!(pad.iter().all(|b| *b == 0), "padding not zero: {}", ctx());
        } else {
            assert!(pads.is_empty(), "padding options {}: {}", pads.len(), ctx());
            let unpadded_len = out.len() + 4;
            let padded = unpadded_len.div_ceil(privacy.pad_block) * privacy.pad_block;
            assert!(padded > 65535, "padding left out: {}", ctx());
        }
    } else {
        assert_eq!(
            out.len(),
            HEADER_LEN + q.question().len(),
            "records besides the question: {}",
            ctx()
        );
    }
    assert_eq!(
        upstream_query(&up, &privacy),
        out,
        "rewrite not idempotent: {}",
        ctx()
    );

    let lay_in = layout(msg).unwrap_or_else(|| panic!("query not walkable: {}", ctx()));
    let lay_out = layout(&out).unwrap_or_else(|| panic!("upstream not walkable: {}", ctx()));
    let (Some(hin), Some(hout)) = (hickory_parse(msg, &lay_in), hickory_parse(&out, &lay_out))
    else {
        return;
    };
    check_hickory_header(&hout, &out, &lay_out);
    check_hickory_edns(&hout, &out, &lay_out);
    assert_eq!(hin.id(), hout.id());
    assert_eq!(hin.message_type(), hout.message_type());
    assert_eq!(hin.op_code(), hout.op_code());
    let bits = |m: &Message| {
        (
            m.authoritative(),
            m.truncated(),
            m.recursion_desired(),
            m.recursion_available(),
            m.authentic_data(),
            m.checking_disabled(),
        )
    };
    assert_eq!(bits(&hin), bits(&hout), "header flags: {}", ctx());
    assert_eq!(hin.queries(), hout.queries(), "{}", ctx());
    assert!(
        same_name(hout.queries()[0].name(), q.qname(), true),
        "{}",
        ctx()
    );
    assert_eq!(hin.answers(), hout.answers());
    assert_eq!(hin.name_servers(), hout.name_servers());
    assert!(hout.additionals().is_empty(), "{}", ctx());
    assert_eq!(out[3] & 0x0F, msg[3] & 0x0F);
}

// ---------------------------------------------------------------------------------------
// Target `framing`: framing::FrameBuf and push_frame.
// ---------------------------------------------------------------------------------------

/// What a whole stream holds: its complete frames, whether a zero-length prefix stopped
/// it, and how many octets are left over after the last complete frame.
fn reference_frames(stream: &[u8]) -> (Vec<&[u8]>, bool, usize) {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        if rest.len() < 2 {
            return (frames, false, rest.len());
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if len == 0 {
            return (frames, true, rest.len());
        }
        if rest.len() < 2 + len {
            return (frames, false, rest.len());
        }
        frames.push(&rest[2..2 + len]);
        pos += 2 + len;
    }
}

/// Input: a seed byte choosing how the stream is cut (low two bits: all at once, one octet
/// at a time, chunks of 1..=8, chunks of 1..=1024, lengths from an xorshift generator
/// seeded by the byte), then the stream. Fed in those chunks, `FrameBuf` yields exactly the
/// frames of a whole-stream parse, stops with an error at a zero-length frame (and stays
/// stopped), reports a partial frame exactly when octets are pending, and `push_frame`
/// rebuilds the consumed stream.
pub fn check_framing(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let (want, want_err, leftover) = reference_frames(stream);
    let mut rng = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let mut next_len = || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        match seed & 3 {
            0 => usize::MAX,
            1 => 1,
            2 => 1 + (rng % 8) as usize,
            _ => 1 + (rng % 1024) as usize,
        }
    };
    let mut fb = FrameBuf::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut consumed = 0;
    let mut fed = 0;
    let mut err = false;
    'feed: while fed < stream.len() {
        let n = next_len().min(stream.len() - fed);
        fb.spare().extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        loop {
            match fb.next_frame() {
                None => break,
                Some(Ok(frame)) => {
                    consumed += 2 + frame.len();
                    got.push(frame.to_vec());
                }
                Some(Err(FrameError::Empty)) => {
                    err = true;
                    break 'feed;
                }
            }
        }
        assert_eq!(
            fb.has_partial(),
            fed > consumed,
            "has_partial: {}",
            hex(data)
        );
    }
    assert_eq!(got, want, "frames differ: {}", hex(data));
    assert_eq!(err, want_err, "zero-length frame: {}", hex(data));
    if err {
        assert_eq!(fb.next_frame(), Some(Err(FrameError::Empty)), "not sticky");
        assert!(fb.has_partial());
    } else {
        assert_eq!(stream.len() - consumed, leftover);
        assert_eq!(fb.has_partial(), leftover > 0, "{}", hex(data));
        assert_eq!(fb.next_frame().map(|r| r.is_ok()), None);
    }
    let mut rebuilt = Vec::new();
    for frame in &got {
        assert!(push_frame(&mut rebuilt, frame));
    }
    assert_eq!(
        rebuilt.as_slice(),
        &stream[..consumed],
        "push_frame: {}",
        hex(data)
    );
}

// ---------------------------------------------------------------------------------------
// Targets `upstream_spec` and `pin`: FromStr/Display round trips.
// ---------------------------------------------------------------------------------------

/// An accepted upstream spec prints as `ADDR:PORT[#name]` that parses back to the same
/// value and prints the same; its port is not 0, its address is what std prints and
/// parses, and its name is lower case, not an IP address.
pub fn check_upstream_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match text.parse::<UpstreamSpec>() {
        Ok(spec) => spec,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let shown = spec.to_string();
    let again: UpstreamSpec = shown
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} -> {shown:?} does not parse back: {e}"));
    assert_eq!(again, spec, "{text:?} -> {shown:?}");
    assert_eq!(again.to_string(), shown, "{text:?}");
    assert_ne!(spec.addr.port(), 0, "{text:?}");
    assert_eq!(
        spec.addr.to_string().parse::<SocketAddr>().ok(),
        Some(spec.addr)
    );
    if let Some(name) = &spec.auth_name {
        let name: &str = name.as_ref();
        assert!(!name.is_empty(), "{text:?}");
        assert_eq!(name, name.to_ascii_lowercase(), "{text:?}");
        assert!(name.parse::<IpAddr>().is_err(), "{text:?}");
        assert!(!name.contains(['#', ' ']), "{text:?}");
    }
}

/// An accepted pin prints as 44 characters of canonical base64 that appear verbatim in the
/// input and parse back to the same pin (also with the `sha256/` prefix); the pin of any
/// bytes round-trips too.
pub fn check_pin(data: &[u8]) {
    let computed = Pin::of_spki(data);
    assert_eq!(computed.to_string().parse::<Pin>(), Ok(computed));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pin = match text.parse::<Pin>() {
        Ok(pin) => pin,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let shown = pin.to_string();
    assert_eq!(shown.len(), 44, "{text:?}");
    assert!(text.contains(&shown), "{text:?} accepted as {shown:?}");
    assert_eq!(shown.parse::<Pin>(), Ok(pin), "{text:?}");
    assert_eq!(format!("sha256/{shown}").parse::<Pin>(), Ok(pin));
}

// ---------------------------------------------------------------------------------------
// dnssec: the validator's RDATA parsers, its message grouping, canonical form and names,
// and the whole Validator.
// ---------------------------------------------------------------------------------------

/// The record types whose RDATA is one name (RFC 4034 §6.2 item 3, as `canonical.rs`
/// lowers them): NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME.
const ONE_NAME_TYPES: [u16; 9] = [2, 3, 4, 5, 7, 8, 9, 12, 39];
/// Types whose canonical RDATA is the RDATA as received: A, TXT, AAAA, DS, NSEC (RFC 6840
/// §5.1), DNSKEY, NSEC3, NSEC3PARAM and a private-use type.
const OPAQUE_TYPES: [u16; 9] = [1, 16, 28, 43, 47, 48, 50, 51, OPAQUE_TYPE];
/// Names compared pairwise (the transitivity check is cubic in this).
const MAX_NAMES: usize = 10;

/// Splits the input into segments: each a u16 length and that many octets, the last one
/// taking whatever is left when its length runs past the end.
fn segments(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len));
        let (seg, after) = tail.split_at_checked(len).unwrap_or((tail, &[]));
        out.push(seg);
        rest = after;
    }
    out
}

/// Reference reading of an uncompressed name at `pos` (no pointers, labels of at most 63
/// octets, at most 255 octets): where it ends.
fn ref_plain_name(m: &[u8], mut pos: usize) -> Option<usize> {
    let mut len_total = 0usize;
    loop {
        let len = usize::from(*m.get(pos)?);
        if len > 63 {
            return None;
        }
        len_total += 1 + len;
        if len_total > 255 {
            return None;
        }
        m.get(pos..pos + 1 + len)?;
        pos += 1 + len;
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Reference reading of a type bitmap (RFC 4034 §4.1.2): the types it holds, or `None`
/// unless windows strictly increase, each 1 to 32 octets, and fill the input exactly.
fn ref_bitmap(m: &[u8]) -> Option<Vec<u16>> {
    let mut types = Vec::new();
    let mut pos = 0;
    let mut last: Option<u8> = None;
    while pos < m.len() {
        let window = *m.get(pos)?;
        let len = usize::from(*m.get(pos + 1)?);
        if last.is_some_and(|l| window <= l) || !(1..=32).contains(&len) {
            return None;
        }
        let bits = m.get(pos + 2..pos + 2 + len)?;
        for (i, b) in bits.iter().enumerate() {
            for bit in 0..8u16 {
                if b & (0x80 >> bit) != 0 {
                    types.push(u16::from(window) << 8 | (i as u16 * 8 + bit));
                }
            }
        }
        last = Some(window);
        pos += 2 + len;
    }
    Some(types)
}

/// `TypeBitmap::parse` accepts exactly what the reference accepts, and `contains` holds for
/// exactly the types the reference found (checked on those and on their neighbours).
fn check_bitmap(m: &[u8]) {
    let parsed = TypeBitmap::parse(m);
    let reference = ref_bitmap(m);
    assert_eq!(parsed.is_ok(), reference.is_some(), "bitmap {}", hex(m));
    let (Ok(bitmap), Some(types)) = (parsed, reference) else {
        return;
    };
    let mut probes = vec![0u16, 1, 46, 47, 48, 50, 255, 256, 65535];
    for &t in &types {
        probes.extend([t.wrapping_sub(1), t, t.wrapping_add(1)]);
    }
    for t in probes {
        assert_eq!(
            bitmap.contains(t),
            types.contains(&t),
            "type {t} in {}",
            hex(m)
        );
    }
}

/// The RDATA parsers of `dnssec::records` on `x` as RDATA: each accepts exactly what a
/// reference reading accepts, reads the same fields, and keeps the octets it claims to.
fn check_dnssec_rdata(x: &[u8]) {
    let be32 = |at: usize| {
        x.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // RRSIG: 18 fixed octets, an uncompressed signer, a non-empty signature.
    let signer_end = x.get(..18).and_then(|_| ref_plain_name(x, 18));
    match Rrsig::parse(x) {
        Ok(sig) => {
            let end = signer_end.expect("RRSIG accepted with a bad signer");
            assert!(end < x.len(), "RRSIG accepted without a signature");
            assert_eq!(u16_at(x, 0), Some(sig.type_covered));
            assert_eq!(x.get(2..4), Some([sig.algorithm, sig.labels].as_slice()));
            assert_eq!(be32(4), Some(sig.original_ttl));
            assert_eq!(be32(8), Some(sig.expiration));
            assert_eq!(be32(12), Some(sig.inception));
            assert_eq!(u16_at(x, 16), Some(sig.key_tag));
            let signer = x.get(18..end).expect("signer");
            assert_eq!(sig.signer.as_wire(), signer.to_ascii_lowercase());
            assert_eq!(sig.signed_prefix, x.get(..end).expect("prefix"));
            assert_eq!(sig.signature, x.get(end..).expect("signature"));
        }
        Err(_) => assert!(
            signer_end.is_none_or(|end| end == x.len()),
            "RRSIG refused: {}",
            hex(x)
        ),
    }
    // DNSKEY and DS: four fixed octets and a non-empty rest.
    match Dnskey::parse(x) {
        Ok(key) => {
            assert!(x.len() > 4);
            assert_eq!(u16_at(x, 0), Some(key.flags));
            assert_eq!(x.get(2..4), Some([key.protocol, key.algorithm].as_slice()));
            assert_eq!(key.public_key, x.get(4..).expect("key"));
            assert_eq!(key.rdata, x);
            // RFC 4034 Appendix B, written out again.
            let mut acc: u64 = 0;
            for (i, &b) in x.iter().enumerate() {
                acc += u64::from(b) << if i % 2 == 0 { 8 } else { 0 };
            }
            let tag = ((acc + ((acc >> 16) & 0xFFFF)) & 0xFFFF) as u16;
            assert_eq!(key.tag, tag);
            assert_eq!(key_tag(x), tag);
            assert_eq!(
                key.usable(),
                key.flags & 0x0100 != 0 && key.flags & 0x0080 == 0 && key.protocol == 3
            );
        }
        Err(_) => assert!(x.len() <= 4, "DNSKEY refused: {}", hex(x)),
    }
    match Ds::parse(x) {
        Ok(ds) => {
            assert_eq!(u16_at(x, 0), Some(ds.key_tag));
            assert_eq!(x.get(2..4), Some([ds.algorithm, ds.digest_type].as_slice()));
            assert_eq!(ds.digest, x.get(4..).expect("digest"));
            assert!(!ds.digest.is_empty());
        }
        Err(_) => assert!(x.len() <= 4, "DS refused: {}", hex(x)),
    }
    // NSEC: an uncompressed next name, then a bitmap.
    let nsec_ref =
        ref_plain_name(x, 0).filter(|&end| ref_bitmap(x.get(end..).unwrap_or_default()).is_some());
    match Nsec::parse(x) {
        Ok(nsec) => {
            let end = nsec_ref.expect("NSEC accepted, reference refuses");
            assert_eq!(
                nsec.next.as_wire(),
                x.get(..end).expect("next").to_ascii_lowercase()
            );
            check_bitmap(x.get(end..).expect("bitmap"));
        }
        Err(_) => assert!(nsec_ref.is_none(), "NSEC refused: {}", hex(x)),
    }
    if let Some(end) = ref_plain_name(x, 0) {
        check_bitmap(x.get(end..).unwrap_or_default());
    }
    // NSEC3: re-encoding an accepted one gives the input back.
    let nsec3_ref = (|| {
        let salt_len = usize::from(*x.get(4)?);
        let hash_at = 5 + salt_len;
        let hash_len = usize::from(*x.get(hash_at)?);
        let types_at = hash_at + 1 + hash_len;
        (hash_len > 0 && types_at <= x.len() && ref_bitmap(x.get(types_at..)?).is_some())
            .then_some(())
    })();
    match Nsec3::parse(x) {
        Ok(n3) => {
            assert!(
                nsec3_ref.is_some(),
                "NSEC3 accepted, reference refuses: {}",
                hex(x)
            );
            let mut again = vec![n3.hash_algorithm, n3.flags];
            again.extend(n3.iterations.to_be_bytes());
            again.push(u8::try_from(n3.salt.len()).expect("salt length"));
            again.extend(&n3.salt);
            again.push(u8::try_from(n3.next_hashed.len()).expect("hash length"));
            again.extend(&n3.next_hashed);
            let types_at = again.len();
            assert_eq!(again, x.get(..types_at).expect("fixed part"));
            check_bitmap(x.get(types_at..).expect("bitmap"));
            assert_eq!(n3.opt_out(), n3.flags & 1 != 0);
        }
        Err(_) => assert!(nsec3_ref.is_none(), "NSEC3 refused: {}", hex(x)),
    }
    if let Ok(name) = Name::from_wire(x) {
        assert_eq!(name.as_wire(), x.to_ascii_lowercase());
        assert_eq!(ref_plain_name(x, 0), Some(x.len()));
        check_names(&[name]);
    } else {
        assert_ne!(
            ref_plain_name(x, 0),
            Some(x.len()),
            "name refused: {}",
            hex(x)
        );
    }
}

/// Properties of canonical names: lower case, well-formed, the text form parses back,
/// parent/prepend round trips; pairwise, `canonical_cmp` is a total order consistent with
/// equality in which an ancestor sorts before its descendants, and `common_ancestor` is
/// symmetric and above both.
fn check_names(names: &[Name]) {
    let names = names.get(..MAX_NAMES.min(names.len())).unwrap_or_default();
    for n in names {
        let wire = n.as_wire();
        assert_eq!(wire, wire.to_ascii_lowercase().as_slice(), "{n:?}");
        assert_eq!(ref_plain_name(wire, 0), Some(wire.len()), "{n:?}");
        assert_eq!(Name::from_wire(wire).as_ref(), Ok(n));
        let labels: Vec<&[u8]> = n.labels().collect();
        assert_eq!(n.label_count(), labels.len());
        assert_eq!(
            wire.len(),
            1 + labels.iter().map(|l| 1 + l.len()).sum::<usize>()
        );
        assert_eq!(n.is_root(), labels.is_empty());
        assert_eq!(n.is_wildcard(), labels.first() == Some(&b"*".as_slice()));
        assert_eq!(
            Name::from_text(&n.to_string()).as_ref(),
            Some(n),
            "text {n}"
        );
        assert_eq!(n.canonical_cmp(n), std::cmp::Ordering::Equal);
        match (n.parent(), labels.first()) {
            (Some(parent), Some(first)) => {
                assert!(n.is_below(&parent) && !parent.is_below(n), "{n:?}");
                assert_eq!(parent.label_count() + 1, labels.len());
                assert_eq!(parent.prepend(first).as_ref(), Some(n));
                assert_eq!(n.canonical_cmp(&parent), std::cmp::Ordering::Greater);
                assert_eq!(n.child_toward(&parent).as_ref(), Some(n));
            }
            (None, None) => assert!(n.is_root()),
            _ => panic!("parent and labels disagree for {n:?}"),
        }
        if let Some(w) = n.wildcard() {
            assert!(w.is_wildcard() && w.parent().as_ref() == Some(n));
        }
    }
    for a in names {
        for b in names {
            let ab = a.canonical_cmp(b);
            assert_eq!(ab, b.canonical_cmp(a).reverse(), "{a:?} {b:?}");
            assert_eq!(ab == std::cmp::Ordering::Equal, a == b, "{a:?} {b:?}");
            if a.is_below(b) {
                assert!(
                    a.is_subdomain_of(b) && ab == std::cmp::Ordering::Greater,
                    "{a:?} {b:?}"
                );
            }
            let common = a.common_ancestor(b);
            assert_eq!(common, b.common_ancestor(a));
            assert!(a.is_subdomain_of(&common) && b.is_subdomain_of(&common));
            for c in names {
                if ab.is_le() && b.canonical_cmp(c).is_le() {
                    assert!(a.canonical_cmp(c).is_le(), "{a:?} <= {b:?} <= {c:?}");
                }
            }
        }
    }
}

/// Canonical RDATA of the record `msg[start..end]`: for the one-name types it is the
/// name decompressed and lowered (as the independent `decode_name` reads it) and fills the
/// RDATA; for opaque types it is the RDATA itself; for RRSIG the fixed part and signature
/// are kept and the signer lowered; and canonical RDATA is its own canonical form.
fn check_canonical(msg: &[u8], rtype: u16, start: usize, end: usize) {
    let raw = msg.get(start..end).expect("rdata within the message");
    let result = canonical_rdata(msg, rtype, start, end);
    if OPAQUE_TYPES.contains(&rtype) {
        assert_eq!(result.as_deref(), Ok(raw), "type {rtype}");
    }
    let Ok(canon) = result else {
        return;
    };
    if ONE_NAME_TYPES.contains(&rtype) {
        let name = decode_name(msg, start).expect("accepted name, reference refuses");
        assert_eq!(canon, name.to_ascii_lowercase(), "type {rtype}");
        assert_eq!(
            skip_name(msg, start),
            Some(end),
            "name does not fill the RDATA"
        );
    }
    if rtype == 46 {
        assert_eq!(canon.get(..18), raw.get(..18));
        let end = ref_plain_name(&canon, 18).expect("canonical signer");
        let signer = decode_name(msg, start + 18).expect("signer");
        assert_eq!(
            canon.get(18..end),
            Some(signer.to_ascii_lowercase().as_slice())
        );
        assert!(raw.ends_with(canon.get(end..).expect("signature")));
    }
    // Canonical RDATA has no pointers and is lower case where it matters: a fixed point.
    let mut again = vec![0u8; HEADER_LEN];
    again.extend(&canon);
    assert_eq!(
        canonical_rdata(&again, rtype, HEADER_LEN, again.len()).as_ref(),
        Ok(&canon),
        "type {rtype} not idempotent"
    );
}

/// `dnssec::records::Message::parse` on `m`: each section is grouped as an independent walk
/// groups it (owner lowered, type, class), with canonical RDATA sorted without duplicates,
/// the lowest TTL, and exactly the parseable RRSIGs covering the set; the signed data of
/// every signature is laid out as RFC 4034 §3.1.8.1 says. Canonical RDATA and names are
/// checked along the way.
fn check_dnssec_message(m: &[u8]) -> Option<SecMessage> {
    let mut records = Vec::new();
    let mut r = Reader::new(m);
    let counts = (|| {
        let counts = [u16_at(m, 4)?, u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?];
        r.take(HEADER_LEN).ok()?;
        for _ in 0..counts[0] {
            r.name(true).ok()?;
            r.take(4).ok()?;
        }
        Some(counts)
    })();
    if let Some(counts) = counts {
        for (section, &count) in counts.iter().enumerate().skip(1) {
            for _ in 0..count {
                let Ok(rec) = r.record() else { break };
                if rec.rtype != TYPE_OPT {
                    check_canonical(m, rec.rtype, rec.rdata_start, rec.rdata_end);
                }
                records.push((section, rec));
            }
        }
    }
    let parsed = SecMessage::parse(m);
    let Ok(msg) = parsed else {
        return None;
    };
    let counts = counts.expect("accepted without a question");
    assert_eq!(counts[0], 1);
    assert_eq!(
        records.len(),
        counts[1..].iter().map(|&c| usize::from(c)).sum::<usize>()
    );
    assert_eq!(u16_at(m, 2).map(|f| (f & 0xF) as u8), Some(msg.rcode));
    let qname = decode_name(m, HEADER_LEN).expect("question name");
    assert_eq!(msg.qname.as_wire(), qname.to_ascii_lowercase());
    let mut names = vec![msg.qname.clone()];
    for (section, sets) in [(1, &msg.answer), (2, &msg.authority)] {
        let owner_of =
            |rec: &Record| decode_name(m, rec.name.start).map(|n| n.to_ascii_lowercase());
        let in_section: Vec<&Record> = records
            .iter()
            .filter(|(s, _)| *s == section)
            .map(|(_, r)| r)
            .collect();
        let plain = in_section.iter().filter(|r| r.rtype != 46).count();
        assert_eq!(
            plain,
            sets.iter().map(|s| s.rdatas.len()).sum::<usize>() + duplicates(m, &in_section)
        );
        for (i, set) in sets.iter().enumerate() {
            assert!(sets
                .iter()
                .skip(i + 1)
                .all(|o| (&o.owner, o.rtype, o.class) != (&set.owner, set.rtype, set.class)));
            assert_ne!(set.rtype, 46);
            assert!(
                set.rdatas.windows(2).all(|w| w[0] < w[1]),
                "RDATA not sorted and unique"
            );
            let members: Vec<&&Record> = in_section
                .iter()
                .filter(|r| {
                    r.rtype == set.rtype
                        && r.class == set.class
                        && owner_of(r).as_deref() == Some(set.owner.as_wire())
                })
                .collect();
            assert!(!members.is_empty());
            assert_eq!(Some(set.ttl), members.iter().map(|r| r.ttl).min());
            for r in &members {
                let c =
                    canonical_rdata(m, r.rtype, r.rdata_start, r.rdata_end).expect("member RDATA");
                assert!(set.rdatas.contains(&c));
            }
            let sigs = in_section
                .iter()
                .filter(|r| {
                    r.rtype == 46
                        && r.class == set.class
                        && owner_of(r).as_deref() == Some(set.owner.as_wire())
                })
                .filter_map(|r| canonical_rdata(m, 46, r.rdata_start, r.rdata_end).ok())
                .filter(|c| Rrsig::parse(c).is_ok_and(|s| s.type_covered == set.rtype))
                .count();
            assert_eq!(
                set.sigs.len(),
                sigs,
                "RRSIGs attached to {:?}/{}",
                set.owner,
                set.rtype
            );
            names.push(set.owner.clone());
            for sig in &set.sigs {
                assert_eq!(sig.type_covered, set.rtype);
                names.push(sig.signer.clone());
                check_signed_data(sig, set);
            }
        }
    }
    check_names(&names);
    Some(msg)
}

/// Records of `section` whose (owner, type, class, canonical RDATA) repeat an earlier one.
fn duplicates(m: &[u8], section: &[&Record]) -> usize {
    let mut seen = Vec::new();
    let mut dups = 0;
    for r in section.iter().filter(|r| r.rtype != 46) {
        let key = (
            decode_name(m, r.name.start).map(|n| n.to_ascii_lowercase()),
            r.rtype,
            r.class,
            canonical_rdata(m, r.rtype, r.rdata_start, r.rdata_end).ok(),
        );
        if seen.contains(&key) {
            dups += 1;
        } else {
            seen.push(key);
        }
    }
    dups
}

/// The signed data of `sig` over `set`: the RRSIG prefix, then one record per RDATA in
/// order, each with the owner, type, class, original TTL and RDLENGTH.
fn check_signed_data(sig: &Rrsig, set: &strictdot::dnssec::records::Rrset) {
    let data = signed_data(
        &sig.signed_prefix,
        &set.owner,
        set.rtype,
        set.class,
        sig.original_ttl,
        &set.rdatas,
    )
    .expect("RDATA from a message fits RDLENGTH");
    let mut rest = data
        .strip_prefix(sig.signed_prefix.as_slice())
        .expect("prefix first");
    for rdata in &set.rdatas {
        let mut head = set.owner.as_wire().to_vec();
        head.extend(set.rtype.to_be_bytes());
        head.extend(set.class.to_be_bytes());
        head.extend(sig.original_ttl.to_be_bytes());
        head.extend(u16::try_from(rdata.len()).expect("rdlength").to_be_bytes());
        head.extend(rdata);
        rest = rest
            .strip_prefix(head.as_slice())
            .expect("record in signed data");
    }
    assert!(rest.is_empty(), "signed data has trailing octets");
}

/// A `Fetch` answering from the input's own segments: the one whose question is the one
/// asked (or, in order, one per call), counting the calls.
struct SliceFetch<'a> {
    responses: &'a [&'a [u8]],
    in_order: bool,
    calls: AtomicU32,
}

impl Fetch for SliceFetch<'_> {
    fn fetch(&self, name: &[u8], qtype: u16) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let n = self.calls.fetch_add(1, AtomicOrdering::Relaxed);
        let asked = Name::from_wire(name).expect("the validator asks a well-formed name");
        assert_eq!(asked.as_wire(), name, "the validator asks in lower case");
        let found = if self.in_order {
            self.responses.get(n as usize)
        } else {
            self.responses.iter().find(|r| {
                decode_name(r, HEADER_LEN).is_some_and(|q| q.eq_ignore_ascii_case(name))
                    && skip_name(r, HEADER_LEN).and_then(|end| u16_at(r, end)) == Some(qtype)
            })
        };
        std::future::ready(found.map(|r| r.to_vec()))
    }
}

/// Runs a future that must never wait: every await in the validator is a [`SliceFetch`],
/// which is always ready.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the validator waited on something other than Fetch"),
    }
}

/// One validation of `answer` with a fresh validator and fetcher.
fn validate_once(
    anchors: &TrustAnchors,
    in_order: bool,
    responses: &[&[u8]],
    question: (&[u8], u16),
    answer: &[u8],
    now: u32,
) -> (Report, u32) {
    let validator = Validator::new(
        anchors.clone(),
        NegativeAnchors::none(),
        Settings::default(),
    );
    let fetch = SliceFetch {
        responses,
        in_order,
        calls: AtomicU32::new(0),
    };
    let report = block_on(validator.validate_report(&fetch, question.0, question.1, answer, now));
    let calls = fetch.calls.load(AtomicOrdering::Relaxed);
    // The same validator again, its chain cache now warm: the same kind of verdict. Only
    // when fetches are answered by question: answered in order, the second run's fetches
    // would get other responses than the first run's to the same questions.
    if in_order {
        return (report, calls);
    }
    let again = block_on(validator.validate(&fetch, question.0, question.1, answer, now));
    assert_eq!(
        std::mem::discriminant(&report.verdict),
        std::mem::discriminant(&again),
        "{:?} then, with the cache warm, {again:?}",
        report.verdict
    );
    (report, calls)
}

/// The `dnssec` target. Input: a flag byte (0x01: the fetcher answers its calls in order
/// rather than by question; 0x02: ask the answer's question in the case it was sent, else
/// lowered), the validation time (u32, Unix seconds), then segments (u16 length + octets):
/// trust-anchor text (zone-file DS/DNSKEY records; the root's anchors if it does not
/// parse), the answer, and the responses the fetcher may give.
///
/// Every segment goes through the RDATA parsers and `Message::parse` ([`check_dnssec_rdata`],
/// [`check_dnssec_message`]). The answer is validated (for its own question, or
/// www.example. A if it has none readable): the verdict is one of the four with a
/// documented EDE code, the work stays within the budget and matches the fetches made, a
/// secure verdict took at least one signature check on a parseable NOERROR/NXDOMAIN answer,
/// and a second validation with a fresh validator reaches the same report.
pub fn check_dnssec(data: &[u8]) {
    dnssec_verdict(data);
}

/// [`check_dnssec`], returning the verdict (`None` for an input too short to hold a flag
/// byte and a time); `tests/fuzz_corpus.rs` holds the seeds to the verdict their names
/// promise.
pub fn dnssec_verdict(data: &[u8]) -> Option<Verdict> {
    let (&flags, rest) = data.split_first()?;
    let (now, rest) = rest.split_first_chunk::<4>()?;
    let now = u32::from_be_bytes(*now);
    let segs = segments(rest);
    for seg in &segs {
        check_dnssec_rdata(seg);
    }
    let parsed: Vec<Option<SecMessage>> = segs.iter().map(|s| check_dnssec_message(s)).collect();
    for seg in &segs {
        // A segment that passes the upstream-reply check for its own question.
        let question = skip_name(seg, HEADER_LEN).and_then(|end| {
            let name = seg.get(HEADER_LEN..end)?;
            Some((name, u16_at(seg, end)?, u16_at(seg, end + 2)?))
        });
        if let Some((name, qtype, qclass)) = question {
            if answer::check_reply(seg, name, qtype, qclass).is_ok() {
                check_strip(seg, name, qtype, qclass);
            }
        }
    }
    let anchors = segs
        .first()
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|text| TrustAnchors::parse(text).ok())
        .unwrap_or_else(TrustAnchors::root);
    let answer = segs.get(1).copied().unwrap_or_default();
    let responses = segs.get(2..).unwrap_or_default();
    let asked = parsed.get(1).and_then(Option::as_ref).map(|msg| {
        let sent = decode_name(answer, HEADER_LEN).expect("question name");
        let name = if flags & 0x02 != 0 {
            sent
        } else {
            msg.qname.as_wire().to_vec()
        };
        (name, msg.qtype)
    });
    let (qname, qtype) = asked.unwrap_or_else(|| (b"\x03www\x07example\x00".to_vec(), 1));
    let in_order = flags & 0x01 != 0;
    let question = (qname.as_slice(), qtype);
    let (report, calls) = validate_once(&anchors, in_order, responses, question, answer, now);
    assert_eq!(
        calls, report.fetches,
        "fetches made and fetches counted differ"
    );
    let settings = Settings::default();
    assert!(report.signatures <= settings.max_signature_checks);
    assert!(report.hashes <= settings.max_hash_ops);
    assert!(report.fetches <= settings.max_fetches);
    match report.verdict {
        Verdict::Secure => {
            let msg = parsed
                .get(1)
                .and_then(Option::as_ref)
                .expect("secure answer that does not parse");
            assert!(
                msg.rcode == 0 || msg.rcode == 3,
                "secure with RCODE {}",
                msg.rcode
            );
            assert!(report.signatures >= 1, "secure without a signature check");
        }
        Verdict::Bogus(why) => {
            assert!([6, 7, 8, 9, 10, 12].contains(&why.info_code()));
            assert!(!why.reason().is_empty());
            assert_eq!(why.info_code() == 6, matches!(why, Bogus::Other(_)));
        }
        Verdict::Insecure | Verdict::Indeterminate => {}
    }
    let (second, _) = validate_once(&anchors, in_order, responses, question, answer, now);
    assert_eq!(report, second, "two fresh validators disagree");
    Some(report.verdict)
}

/// One record as a client reads it: section (1 answer, 2 authority, 3 additional), owner
/// decompressed (case kept), type, class, TTL, and the RDATA with its names decompressed
/// (the RFC 3597 §4 types, read by [`ref_rdata`]) or as it is.
type ReadRecord = (usize, Vec<u8>, u16, u16, u32, Vec<u8>);

/// Every record of a message accepted by `check_reply`, read independently.
fn read_records(m: &[u8]) -> Vec<ReadRecord> {
    let mut r = Reader::new(m);
    r.take(HEADER_LEN).expect("header");
    r.name(true).expect("question name");
    r.take(4).expect("question type and class");
    let mut out = Vec::new();
    for (section, at) in [(1, 6), (2, 8), (3, 10)] {
        for _ in 0..u16_at(m, at).expect("count") {
            let rec = r.record().expect("a checked reply's record");
            let owner = decode_name(m, rec.name.start).expect("owner");
            let raw = m.get(rec.rdata_start..rec.rdata_end).expect("rdata");
            let rdata = match ref_rdata(m, rec.rtype, rec.rdata_start, rec.rdata_end) {
                Some(Ok(read)) => {
                    let mut expanded = Vec::new();
                    let mut pos = rec.rdata_start;
                    for name in &read.names {
                        expanded.extend(m.get(pos..name.start).expect("octets before a name"));
                        expanded.extend(&name.wire);
                        pos = name.end;
                    }
                    expanded.extend(m.get(pos..rec.rdata_end).expect("octets after the names"));
                    expanded
                }
                _ => raw.to_vec(),
            };
            out.push((section, owner, rec.rtype, rec.class, rec.ttl, rdata));
        }
    }
    out
}

/// `dns::strip::strip_dnssec` on a reply `check_reply` accepted for (`qname`, `qtype`,
/// `qclass`): it returns something exactly when the reply holds an RRSIG, NSEC or NSEC3
/// record of another type than the question's; the output passes `check_reply` for the
/// same question, keeps the header (counts aside) and the question byte for byte, and
/// holds, section by section and in order, exactly the other records, with the same
/// decompressed owner, type, class, TTL and decompressed RDATA.
fn check_strip(reply: &[u8], qname: &[u8], qtype: u16, qclass: u16) {
    let dnssec_only = |rtype: u16| matches!(rtype, 46 | 47 | 50) && rtype != qtype;
    let before = read_records(reply);
    let kept: Vec<ReadRecord> = before
        .iter()
        .filter(|r| !dnssec_only(r.2))
        .cloned()
        .collect();
    let stripped = strip_dnssec(reply, qtype);
    let Some(out) = stripped else {
        assert_eq!(
            kept.len(),
            before.len(),
            "DNSSEC records left in {}",
            hex(reply)
        );
        return;
    };
    assert_ne!(
        kept.len(),
        before.len(),
        "stripped with nothing to strip: {}",
        hex(reply)
    );
    if let Err(e) = answer::check_reply(&out, qname, qtype, qclass) {
        panic!(
            "stripped reply refused ({e:?}): {} from {}",
            hex(&out),
            hex(reply)
        );
    }
    let question_end = skip_name(reply, HEADER_LEN).expect("question") + 4;
    assert_eq!(out.get(..6), reply.get(..6), "header changed");
    assert_eq!(
        out.get(HEADER_LEN..question_end),
        reply.get(HEADER_LEN..question_end)
    );
    assert_eq!(
        read_records(&out),
        kept,
        "records changed: {} from {}",
        hex(&out),
        hex(reply)
    );
}
