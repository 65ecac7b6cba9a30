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

use super::answer::ReplyInfo;
use super::query::ValidQuery;
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
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            pad_block: QUERY_BLOCK,
            keep_ecs: false,
            tcp_keepalive: true,
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
    if client.is_none() && privacy.pad_block == 0 && !privacy.tcp_keepalive {
        set_arcount(&mut out, 0);
        return out;
    }
    set_arcount(&mut out, 1);
    let (udp_size, dnssec_ok) = match client {
        Some(e) => (e.udp_size, e.dnssec_ok),
        None => (DEFAULT_UDP_PAYLOAD, false),
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
            },
        );
        assert_eq!(opt_codes(&up), vec![OPT_ECS, 3]);
        let again = validate(&up).unwrap();
        assert!(again.edns().unwrap().dnssec_ok);
        assert_eq!(again.question(), q.question());
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
            },
        );
        assert_eq!(plain, m);
    }
}
