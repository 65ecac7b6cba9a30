//! The privacy rewrite of EDNS on the way to the upstream, and its undoing on the way back.
//!
//! Upstream queries carry exactly one OPT record that strictdot writes itself:
//! - padded with the Padding option (RFC 7830) to a multiple of 128 octets, the block
//!   length RFC 8467 §4.1 recommends for queries, so sizes reveal little about names;
//! - without the client's EDNS Client Subnet option (RFC 7871 §7.1.2: a forwarder may strip
//!   it; it would reveal the client's network to the upstream) unless told to keep it;
//! - without hop-by-hop options that mean nothing on the next hop or would identify the
//!   client to the upstream: COOKIE (RFC 7873), TCP keepalive (RFC 7828) and the client's
//!   own padding (never trusted, always replaced);
//! - with the client's DO bit and other options.
//!
//! Additional records other than OPT (TSIG, SIG(0)) are not forwarded: they sign the
//! client's message ID, which strictdot replaces, so they could never verify upstream.
//! When the client sent no OPT, the one strictdot added is removed from the answer again;
//! padding is removed from every answer (it has no use on the cleartext client leg).
//!
//! When ECS is kept, the upstream's echo of it is checked before an answer may be shared
//! (RFC 7871 §7.3, [`own_subnet_echo`]): a client only ever sees its own ECS option.

use super::answer::ReplyInfo;
use super::query::{read_question, Header, ValidQuery};
use super::reader::Reader;
use super::{HEADER_LEN, TYPE_OPT};

/// EDNS option code of Client Subnet (RFC 7871).
pub const OPT_ECS: u16 = 8;
/// EDNS option code of COOKIE (RFC 7873).
pub const OPT_COOKIE: u16 = 10;
/// EDNS option code of edns-tcp-keepalive (RFC 7828).
pub const OPT_TCP_KEEPALIVE: u16 = 11;
/// EDNS option code of Padding (RFC 7830).
pub const OPT_PADDING: u16 = 12;
/// RFC 8467 §4.1: pad queries to a multiple of 128 octets.
pub const QUERY_BLOCK: usize = 128;
/// The UDP payload size put in an OPT record strictdot adds for a client that sent none.
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;

/// What the rewrite does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privacy {
    /// Pad upstream queries to a multiple of this many octets (0: no padding).
    pub pad_block: usize,
    /// Forward the client's ECS option instead of stripping it.
    pub keep_ecs: bool,
    /// Ask the upstream for its idle timeout with an empty edns-tcp-keepalive option
    /// (RFC 7828 §3.2.1).
    pub tcp_keepalive: bool,
    /// Ask for the DNSSEC records and for answers unchecked by the upstream (DO=1, CD=1 on
    /// every query, RFC 4035 §3.2.1-§3.2.2), so strictdot can validate them itself; the
    /// client's own DO and CD then decide only what it gets back.
    pub dnssec: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            pad_block: QUERY_BLOCK,
            keep_ecs: false,
            tcp_keepalive: true,
            dnssec: false,
        }
    }
}

/// The message to send upstream for `query`: the client's header and question, and the
/// OPT record described in the module documentation (none only if the client sent none and
/// padding is off). The ID is rewritten later, per connection.
pub fn upstream_query(query: &ValidQuery, privacy: &Privacy) -> Vec<u8> {
    let msg = query.bytes();
    let head_and_question = &msg[..HEADER_LEN + query.question().len()];
    let mut out = Vec::with_capacity(head_and_question.len() + 11 + QUERY_BLOCK);
    out.extend_from_slice(head_and_question);
    let client = query.edns();
    if privacy.dnssec {
        out[3] |= 0x10; // CD
    }
    if client.is_none() && privacy.pad_block == 0 && !privacy.tcp_keepalive && !privacy.dnssec {
        set_arcount(&mut out, 0);
        return out;
    }
    set_arcount(&mut out, 1);
    let (udp_size, dnssec_ok) = match client {
        Some(e) => (e.udp_size, e.dnssec_ok || privacy.dnssec),
        None => (DEFAULT_UDP_PAYLOAD, privacy.dnssec),
    };
    out.push(0); // root owner
    out.extend(TYPE_OPT.to_be_bytes());
    out.extend(udp_size.to_be_bytes());
    out.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    let rdlen_at = out.len();
    out.extend([0, 0]);
    if let Some(e) = client {
        let options = msg.get(e.options_start..e.record_end).unwrap_or_default();
        for (code, option) in options_iter(options) {
            let strip = match code {
                OPT_ECS => !privacy.keep_ecs,
                OPT_COOKIE | OPT_TCP_KEEPALIVE | OPT_PADDING => true,
                _ => false,
            };
            if !strip {
                out.extend_from_slice(option);
            }
        }
    }
    if privacy.tcp_keepalive {
        out.extend(OPT_TCP_KEEPALIVE.to_be_bytes());
        out.extend([0, 0]);
    }
    if privacy.pad_block > 0 {
        let unpadded = out.len() + 4;
        let pad = (privacy.pad_block - unpadded % privacy.pad_block) % privacy.pad_block;
        if unpadded + pad <= super::MAX_MESSAGE_LEN {
            out.extend(OPT_PADDING.to_be_bytes());
            out.extend((pad as u16).to_be_bytes());
            out.resize(out.len() + pad, 0);
        }
    }
    let rdlen = (out.len() - rdlen_at - 2) as u16;
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    out
}

/// Shapes the OPT record of a checked upstream answer for the client: removed when the
/// client sent none (strictdot added it), else stripped of the hop-by-hop Padding and
/// edns-tcp-keepalive options. Only an OPT record that ends the message is touched, so no
/// compression pointer can be displaced.
pub fn answer_for_client(reply: &mut Vec<u8>, info: &ReplyInfo, client_had_opt: bool) {
    let Some(opt) = info.opt else { return };
    if opt.end != reply.len() {
        return;
    }
    if !client_had_opt {
        reply.truncate(opt.start);
        let arcount = u16::from_be_bytes([reply[10], reply[11]]).saturating_sub(1);
        set_arcount(reply, arcount);
        return;
    }
    let Some(options) = reply.get(opt.rdata_start..opt.end) else {
        return;
    };
    let hop = |code: u16| code == OPT_PADDING || code == OPT_TCP_KEEPALIVE;
    if !options_iter(options).any(|(code, _)| hop(code)) {
        return;
    }
    let kept: Vec<u8> = options_iter(options)
        .filter(|(code, _)| !hop(*code))
        .flat_map(|(_, bytes)| bytes.iter().copied())
        .collect();
    reply.truncate(opt.rdata_start);
    reply.extend_from_slice(&kept);
    let rdlen = kept.len() as u16;
    if let Some(field) = reply.get_mut(opt.rdata_start - 2..opt.rdata_start) {
        field.copy_from_slice(&rdlen.to_be_bytes());
    }
}

/// The idle timeout an upstream announced in an edns-tcp-keepalive option (RFC 7828 §3.1,
/// units of 100 ms), if the answer carries one.
pub fn keepalive_timeout(reply: &[u8], info: &ReplyInfo) -> Option<std::time::Duration> {
    let opt = info.opt?;
    let options = reply.get(opt.rdata_start..opt.end)?;
    options_iter(options).find_map(|(code, bytes)| match (code, bytes) {
        (OPT_TCP_KEEPALIVE, [_, _, 0, 2, hi, lo]) => Some(std::time::Duration::from_millis(
            u64::from(u16::from_be_bytes([*hi, *lo])) * 100,
        )),
        _ => None,
    })
}

/// The client's ECS options (RFC 7871 §6), each whole (code, length and data), in the order
/// sent. RFC 7871 allows one; nothing here assumes the client obeyed.
pub fn client_subnets(query: &ValidQuery) -> impl Iterator<Item = &[u8]> {
    let options = query
        .edns()
        .and_then(|e| query.bytes().get(e.options_start..e.record_end))
        .unwrap_or_default();
    options_iter(options)
        .filter(|(code, _)| *code == OPT_ECS)
        .map(|(_, option)| option)
}

/// An answer whose ECS option no ECS of the query explains: RFC 7871 §7.3 says the full
/// response MUST be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForeignSubnet;

/// What an ECS option in an answer is, held against the client's own.
enum Echo {
    /// The client's own option, SCOPE PREFIX-LENGTH aside.
    Own,
    /// The same FAMILY, SOURCE PREFIX-LENGTH and first SOURCE PREFIX-LENGTH bits of
    /// ADDRESS, in another form (a longer ADDRESS, say): becomes the client's own with
    /// this SCOPE PREFIX-LENGTH.
    Rewrite(u8),
    /// The client sent no ECS: the answer must carry none (RFC 7871 §7.2.1).
    Strip,
}

/// Offset of SCOPE PREFIX-LENGTH in a whole ECS option (code 2, length 2, FAMILY 2,
/// SOURCE PREFIX-LENGTH 1).
const SCOPE_AT: usize = 7;

/// Holds the ECS option `answer` (whole) against the client's own `own` (whole).
fn echo(answer: &[u8], own: Option<&[u8]>) -> Result<Echo, ForeignSubnet> {
    let Some(own) = own else {
        return Ok(Echo::Strip);
    };
    let same_but_scope = |a: &[u8], b: &[u8]| {
        a.len() == b.len()
            && a.len() > SCOPE_AT
            && a[..SCOPE_AT] == b[..SCOPE_AT]
            && a[SCOPE_AT + 1..] == b[SCOPE_AT + 1..]
    };
    if same_but_scope(answer, own) {
        return Ok(Echo::Own);
    }
    let ((family, source, scope, address), (own_family, own_source, _, own_address)) =
        ecs_fields(answer)
            .zip(ecs_fields(own))
            .ok_or(ForeignSubnet)?;
    if family != own_family || source != own_source {
        return Err(ForeignSubnet);
    }
    let bits = usize::from(source);
    let whole = bits / 8;
    let (Some(a), Some(b)) = (address.get(..whole), own_address.get(..whole)) else {
        return Err(ForeignSubnet);
    };
    if a != b {
        return Err(ForeignSubnet);
    }
    if bits % 8 != 0 {
        let mask = 0xFFu8 << (8 - bits % 8);
        match (address.get(whole), own_address.get(whole)) {
            (Some(a), Some(b)) if a & mask == b & mask => {}
            _ => return Err(ForeignSubnet),
        }
    }
    Ok(Echo::Rewrite(scope))
}

/// The fields of a whole ECS option: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH,
/// ADDRESS (RFC 7871 §6).
fn ecs_fields(option: &[u8]) -> Option<(u16, u8, u8, &[u8])> {
    let mut r = Reader::new(option);
    r.take(4).ok()?;
    let family = r.u16().ok()?;
    let source = r.u8().ok()?;
    let scope = r.u8().ok()?;
    let address = r.take(r.remaining()).ok()?;
    Some((family, source, scope, address))
}

/// RFC 7871 §7.3 for an answer to `query` whose ECS was forwarded: every ECS option in
/// `reply` becomes the client's own (its FAMILY, SOURCE PREFIX-LENGTH and ADDRESS, the
/// answer's SCOPE PREFIX-LENGTH), or goes when the client sent none. An option that does
/// not match the client's in FAMILY, SOURCE PREFIX-LENGTH and the first SOURCE
/// PREFIX-LENGTH bits of ADDRESS is an error: the response must be dropped. So is a
/// needed rewrite of an OPT record that does not end the message (moving the records
/// after it could break their compression pointers), and a message that does not parse.
/// An answer whose options are already the client's own (the usual case) is not touched.
pub fn own_subnet_echo(reply: &mut Vec<u8>, query: &ValidQuery) -> Result<(), ForeignSubnet> {
    let Some((rdata_start, end)) = opt_rdata(reply).ok_or(ForeignSubnet)? else {
        return Ok(());
    };
    let own = client_subnets(query).next();
    let options = reply.get(rdata_start..end).ok_or(ForeignSubnet)?;
    let mut touched = false;
    for (code, option) in options_iter(options) {
        if code == OPT_ECS {
            touched |= !matches!(echo(option, own)?, Echo::Own);
        }
    }
    if !touched {
        return Ok(());
    }
    if end != reply.len() {
        return Err(ForeignSubnet);
    }
    let mut rdata = Vec::with_capacity(options.len());
    for (code, option) in options_iter(options) {
        match (code, own) {
            (OPT_ECS, Some(own)) => {
                let scope = match echo(option, Some(own))? {
                    Echo::Rewrite(scope) => Some(scope),
                    Echo::Own | Echo::Strip => option.get(SCOPE_AT).copied(),
                };
                let (Some(head), Some(scope), Some(tail)) =
                    (own.get(..SCOPE_AT), scope, own.get(SCOPE_AT + 1..))
                else {
                    return Err(ForeignSubnet);
                };
                rdata.extend_from_slice(head);
                rdata.push(scope);
                rdata.extend_from_slice(tail);
            }
            (OPT_ECS, None) => {}
            _ => rdata.extend_from_slice(option),
        }
    }
    let rdlen = u16::try_from(rdata.len()).map_err(|_| ForeignSubnet)?;
    reply.truncate(rdata_start);
    reply.extend_from_slice(&rdata);
    let rdlen_at = rdata_start.checked_sub(2).ok_or(ForeignSubnet)?;
    let field = reply.get_mut(rdlen_at..rdata_start).ok_or(ForeignSubnet)?;
    field.copy_from_slice(&rdlen.to_be_bytes());
    Ok(())
}

/// Where the RDATA of the OPT record of `msg` is (start, end), if it has one; `None` if
/// `msg` does not parse.
fn opt_rdata(msg: &[u8]) -> Option<Option<(usize, usize)>> {
    let mut r = Reader::new(msg);
    let header = Header::read(&mut r).ok()?;
    for _ in 0..header.qdcount {
        read_question(&mut r).ok()?;
    }
    let records = u32::from(header.ancount) + u32::from(header.nscount);
    for _ in 0..records {
        r.record().ok()?;
    }
    for _ in 0..header.arcount {
        let rec = r.record().ok()?;
        if rec.rtype == TYPE_OPT {
            return Some(Some((rec.rdata_start, rec.rdata_end)));
        }
    }
    Some(None)
}

/// Iterates over whole options of OPT RDATA as (code, the option's bytes including its
/// code and length); stops at the first incomplete one (the validators reject those).
pub fn options_iter(rdata: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut r = Reader::new(rdata);
    std::iter::from_fn(move || {
        let start = r.pos();
        let code = r.u16().ok()?;
        let len = r.u16().ok()?;
        r.take(usize::from(len)).ok()?;
        Some((code, rdata.get(start..r.pos())?))
    })
}

fn set_arcount(msg: &mut [u8], n: u16) {
    if let Some(field) = msg.get_mut(10..12) {
        field.copy_from_slice(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::query::validate;

    fn query_with_options(options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend(code.to_be_bytes());
            rdata.extend((data.len() as u16).to_be_bytes());
            rdata.extend(*data);
        }
        m.extend([0, 0, 41, 0x10, 0, 0, 0, 0x80, 0]);
        m.extend((rdata.len() as u16).to_be_bytes());
        m.extend(rdata);
        m
    }

    fn opt_codes(msg: &[u8]) -> Vec<u16> {
        let q = validate(msg).unwrap();
        let e = q.edns().unwrap();
        options_iter(&msg[e.options_start..e.record_end])
            .map(|(c, _)| c)
            .collect()
    }

    #[test]
    fn pads_to_block_and_strips_hop_options() {
        let ecs: &[u8] = &[0, 1, 24, 0, 192, 0, 2];
        let q = query_with_options(&[
            (OPT_ECS, ecs),
            (OPT_COOKIE, &[1; 8]),
            (3, &[]),
            (OPT_PADDING, &[0; 5]),
        ]);
        let q = validate(&q).unwrap();
        let up = upstream_query(&q, &Privacy::default());
        assert_eq!(up.len() % QUERY_BLOCK, 0);
        assert_eq!(opt_codes(&up), vec![3, OPT_TCP_KEEPALIVE, OPT_PADDING]);
        let up = upstream_query(
            &q,
            &Privacy {
                pad_block: 0,
                keep_ecs: true,
                tcp_keepalive: false,
                dnssec: false,
            },
        );
        assert_eq!(opt_codes(&up), vec![OPT_ECS, 3]);
        let again = validate(&up).unwrap();
        assert!(again.edns().unwrap().dnssec_ok);
        assert_eq!(again.question(), q.question());
    }

    #[test]
    fn validation_asks_for_dnssec_records_unchecked() {
        let mut m = vec![0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let q = validate(&m).unwrap();
        let bare = Privacy {
            pad_block: 0,
            keep_ecs: false,
            tcp_keepalive: false,
            dnssec: true,
        };
        let up = upstream_query(&q, &bare);
        let again = validate(&up).unwrap();
        assert!(again.edns().expect("an OPT record added").dnssec_ok);
        assert_ne!(again.flags() & super::super::query::flags::CD, 0);
        let off = upstream_query(
            &q,
            &Privacy {
                dnssec: false,
                ..bare
            },
        );
        assert!(validate(&off).unwrap().edns().is_none());
        assert_eq!(
            validate(&off).unwrap().flags() & super::super::query::flags::CD,
            0
        );
    }

    #[test]
    fn adds_opt_when_client_had_none() {
        let mut m = vec![0, 1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let q = validate(&m).unwrap();
        let up = upstream_query(&q, &Privacy::default());
        assert_eq!(up.len(), 128);
        let again = validate(&up).unwrap();
        assert_eq!(again.edns().unwrap().udp_size, DEFAULT_UDP_PAYLOAD);
        let plain = upstream_query(
            &q,
            &Privacy {
                pad_block: 0,
                keep_ecs: false,
                tcp_keepalive: false,
                dnssec: false,
            },
        );
        assert_eq!(plain, m);
    }

    /// A response carrying the OPT of `query_with_options(options)`, the last record.
    fn reply_with_options(options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = query_with_options(options);
        m[2] |= 0x80; // QR
        m
    }

    /// The data of each ECS option in `reply`, and every option code, in order.
    fn ecs_and_codes(reply: &[u8]) -> (Vec<Vec<u8>>, Vec<u16>) {
        let (start, end) = opt_rdata(reply).unwrap().unwrap();
        assert_eq!(end, reply.len(), "RDLENGTH covers the options exactly");
        let options = &reply[start..end];
        let ecs = options_iter(options)
            .filter(|(c, _)| *c == OPT_ECS)
            .map(|(_, o)| o[4..].to_vec())
            .collect();
        (ecs, options_iter(options).map(|(c, _)| c).collect())
    }

    #[test]
    fn subnet_echo_becomes_the_clients_own_or_the_answer_is_dropped() {
        let q = validate(&query_with_options(&[(
            OPT_ECS,
            &[0, 1, 24, 0, 198, 51, 100],
        )]))
        .unwrap();
        assert_eq!(client_subnets(&q).count(), 1);
        // The client's own with a scope: untouched.
        let mut own = reply_with_options(&[(OPT_ECS, &[0, 1, 24, 20, 198, 51, 100]), (3, b"ns")]);
        let before = own.clone();
        own_subnet_echo(&mut own, &q).unwrap();
        assert_eq!(own, before);
        // The same /24 with its address written longer: the client's own, the answer's scope.
        let mut longer =
            reply_with_options(&[(3, b"ns"), (OPT_ECS, &[0, 1, 24, 25, 198, 51, 100, 9])]);
        own_subnet_echo(&mut longer, &q).unwrap();
        let (ecs, codes) = ecs_and_codes(&longer);
        assert_eq!(ecs, vec![vec![0, 1, 24, 25, 198, 51, 100]]);
        assert_eq!(codes, vec![3, OPT_ECS]);
        // Another address, family or source prefix: dropped (RFC 7871 §7.3).
        let foreign: [&[u8]; 5] = [
            &[0, 1, 24, 24, 203, 0, 113],
            &[0, 1, 24, 24, 198, 51, 101],
            &[0, 2, 24, 24, 198, 51, 100],
            &[0, 1, 16, 16, 198, 51],
            &[0, 1],
        ];
        for option in foreign {
            let mut m = reply_with_options(&[(OPT_ECS, option)]);
            assert_eq!(
                own_subnet_echo(&mut m, &q),
                Err(ForeignSubnet),
                "{option:?}"
            );
        }
        // A prefix ending inside an octet: only its bits count.
        let q20 = validate(&query_with_options(&[(
            OPT_ECS,
            &[0, 1, 20, 0, 198, 51, 96],
        )]))
        .unwrap();
        let mut inside = reply_with_options(&[(OPT_ECS, &[0, 1, 20, 20, 198, 51, 0x6F])]);
        own_subnet_echo(&mut inside, &q20).unwrap();
        assert_eq!(
            ecs_and_codes(&inside).0,
            vec![vec![0, 1, 20, 20, 198, 51, 96]]
        );
        let mut outside = reply_with_options(&[(OPT_ECS, &[0, 1, 20, 20, 198, 51, 0x70])]);
        assert_eq!(own_subnet_echo(&mut outside, &q20), Err(ForeignSubnet));
        // The client sent none: the answer carries none (RFC 7871 §7.2.1).
        let plain = validate(&query_with_options(&[(3, &[])])).unwrap();
        let mut unasked =
            reply_with_options(&[(OPT_ECS, &[0, 1, 24, 24, 198, 51, 100]), (3, b"ns")]);
        own_subnet_echo(&mut unasked, &plain).unwrap();
        assert_eq!(ecs_and_codes(&unasked), (vec![], vec![3]));
        // No OPT: nothing to do.
        let mut bare = reply_with_options(&[]);
        bare.truncate(bare.len() - 11);
        bare[11] = 0;
        own_subnet_echo(&mut bare, &q).unwrap();
        // A rewrite would move a record after the OPT: dropped instead.
        let mut not_last = reply_with_options(&[(OPT_ECS, &[0, 1, 24, 24, 198, 51, 100, 9])]);
        not_last[11] = 2;
        not_last.extend([0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        assert_eq!(own_subnet_echo(&mut not_last, &q), Err(ForeignSubnet));
    }
}
