//! What reaches the upstream, byte for byte: EDNS padding (RFC 7830/8467), ECS stripping
//! (RFC 7871), hop-by-hop options removed; and the OPT record undone in the answer.

use std::time::Duration;

use strictdot::pin::Pin;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(3);

/// www.example A with OPT (size 4096, DO) holding ECS, COOKIE, NSID and a client padding.
fn rich_query() -> Vec<u8> {
    let mut m = vec![0x11, 0x11, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
    let options: Vec<u8> = [
        &[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2][..], // ECS 192.0.2.0/24
        &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8],    // COOKIE (client cookie)
        &[0, 3, 0, 0],                             // NSID request
        &[0, 12, 0, 3, 0, 0, 0],                   // client padding
    ]
    .concat();
    m.extend([0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0]);
    m.extend((options.len() as u16).to_be_bytes());
    m.extend(options);
    m
}

/// Header (from flags on), question, then an OPT with `options`, strictdot's empty
/// edns-tcp-keepalive (RFC 7828) and padding to 128.
fn expected_upstream(udp: u16, dnssec_ok: bool, options: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend(b"\x03www\x07example\x00\x00\x01\x00\x01");
    m.extend([0, 0, 41]);
    m.extend(udp.to_be_bytes());
    m.extend([0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    let options = [options, &[0, 11, 0, 0]].concat();
    let options = &options[..];
    let unpadded = 2 + m.len() + 2 + options.len() + 4;
    let pad = (128 - unpadded % 128) % 128;
    m.extend(((options.len() + 4 + pad) as u16).to_be_bytes());
    m.extend(options);
    m.extend([0, 12]);
    m.extend((pad as u16).to_be_bytes());
    m.extend(vec![0u8; pad]);
    m
}

async fn first_upstream_message(keep_ecs: bool, query: &[u8]) -> Vec<u8> {
    let root = ca("Test Root");
    let server = leaf("dot.test", &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let c = config(vec![upstream(up.addr, Some("dot.test"), vec![])], &[&root]).keep_ecs(keep_ecs);
    let proxy = start_proxy(c).await;
    let reply = udp_exchange(proxy.addr, query, WAIT).await.expect("answer");
    assert_eq!(parse(&reply).id(), u16::from_be_bytes([query[0], query[1]]));
    let msgs = up.seen.messages.lock().unwrap();
    assert_eq!(msgs.len(), 1);
    msgs[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_query_padded_and_ecs_stripped_byte_for_byte() {
    let sent = first_upstream_message(false, &rich_query()).await;
    assert_eq!(sent.len(), 128);
    // Only NSID survives; COOKIE, ECS and the client's padding are gone.
    assert_eq!(
        &sent[2..],
        &expected_upstream(4096, true, &[0, 3, 0, 0])[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_ecs_forwards_the_subnet() {
    let sent = first_upstream_message(true, &rich_query()).await;
    let opts = [&[0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2][..], &[0, 3, 0, 0]].concat();
    assert_eq!(&sent[2..], &expected_upstream(4096, true, &opts)[..]);
    assert_eq!(sent.len() % 128, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_without_edns_gets_padded_opt_upstream() {
    let q = query(0x2222, "www.example", 1, None);
    let sent = first_upstream_message(false, &q).await;
    assert_eq!(&sent[2..], &expected_upstream(1232, false, &[])[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_opt_removed_and_padding_stripped_in_answers() {
    let server = self_signed("p.test");
    let up = UpstreamOptions::new(&server, &[])
        .behavior(Behavior::AnswerWithPaddedOpt)
        .start()
        .await;
    let pins: Vec<Pin> = vec![server.pin()];
    let proxy = start_proxy(config(vec![upstream(up.addr, None, pins)], &[])).await;
    // No OPT from the client: none in the answer.
    let reply = udp_exchange(proxy.addr, &query(1, "www.example", 1, None), WAIT)
        .await
        .unwrap();
    assert_eq!(&reply[10..12], &[0, 0], "ARCOUNT");
    let m = parse(&reply);
    assert!(m.extensions().is_none());
    assert_eq!(a_records(&m).len(), 1);
    // OPT from the client: OPT in the answer, without the padding.
    let reply = udp_exchange(proxy.addr, &query(2, "www.example", 1, Some(1232)), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    let edns = m.extensions().as_ref().expect("OPT kept");
    assert!(edns.options().as_ref().is_empty(), "{edns:?}");
    // The last record is an OPT with RDLENGTH 0.
    assert_eq!(&reply[reply.len() - 2..], &[0, 0]);
}
