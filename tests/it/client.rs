//! The client side: UDP truncation, TCP pipelining, the validator's outcomes as a client
//! sees them, and question-case restoration.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::*;

const NAME: &str = "dot.test";

async fn setup(behavior: Behavior) -> (Issued, FakeUpstream, Proxy) {
    name_authenticated(behavior).await
}

const WAIT: Duration = Duration::from_secs(3);
const SILENCE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answer_truncated_over_udp_whole_over_tcp() {
    let (_r, _u, proxy) = setup(Behavior::Big).await;
    // 40 A records: 12 + 17 + 40 * 16 = 669 octets.
    let reply = udp_exchange(proxy.addr, &query(1, "big.example", 1, None), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    assert!(m.truncated());
    assert!(m.answers().is_empty());
    assert!(reply.len() <= 512);
    assert_eq!(m.queries().len(), 1);
    // With EDNS and room for it, the whole answer comes over UDP, with OPT echoed.
    let reply = udp_exchange(proxy.addr, &query(2, "big.example", 1, Some(1232)), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 40);
    // A truncated answer to an EDNS client carries an OPT record.
    let big = udp_exchange(proxy.addr, &query(3, "big.example", 1, Some(512)), WAIT)
        .await
        .unwrap();
    let m = parse(&big);
    assert!(m.truncated());
    assert!(m.extensions().is_some());
    let reply = tcp_exchange(proxy.addr, &query(4, "big.example", 1, None), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    assert!(!m.truncated());
    assert_eq!(m.answers().len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelined_queries_on_one_connection() {
    let (_r, _u, proxy) = setup(Behavior::Answer).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut out = Vec::new();
    for i in 1..=5u16 {
        let q = query(i, &format!("q{i}.example"), 1, None);
        out.extend((q.len() as u16).to_be_bytes());
        out.extend(q);
    }
    // All five in one write, split at an odd place to exercise framing.
    s.write_all(&out[..7]).await.unwrap();
    s.write_all(&out[7..]).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let reply = tokio::time::timeout(WAIT, read_frame(&mut s))
            .await
            .unwrap()
            .unwrap();
        let m = parse(&reply);
        assert_eq!(a_records(&m)[0].octets()[3] as u16, m.id());
        seen.push(m.id());
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_question_case_restored() {
    let (_r, _u, proxy) = setup(Behavior::Answer).await;
    let q = query(9, "WwW.ExAmPlE", 1, None);
    let reply = udp_exchange(proxy.addr, &q, WAIT).await.unwrap();
    assert_eq!(&reply[12..q.len()], &q[12..]);
    assert_eq!(parse(&reply).response_code(), ResponseCode::NoError);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_never_reflected() {
    let (_r, up, proxy) = setup(Behavior::Answer).await;
    let mut q = query(9, "www.example", 1, None);
    q[2] |= 0x80;
    assert!(udp_exchange(proxy.addr, &q, SILENCE).await.is_none());
    assert!(udp_exchange(proxy.addr, &[1, 2, 3], SILENCE)
        .await
        .is_none());
    assert_eq!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The server is still serving.
    assert_answers(&proxy, "www.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_outcomes() {
    let (_r, up, proxy) = setup(Behavior::Answer).await;
    let rcode = |reply: Vec<u8>| parse(&reply).response_code();
    // Opcode UPDATE -> NOTIMP.
    let mut q = query(1, "www.example", 1, None);
    q[2] |= 0x28;
    assert_eq!(
        rcode(udp_exchange(proxy.addr, &q, WAIT).await.unwrap()),
        ResponseCode::NotImp
    );
    // QDCOUNT 2 -> FORMERR.
    let mut q = query(2, "www.example", 1, None);
    q[5] = 2;
    assert_eq!(
        rcode(udp_exchange(proxy.addr, &q, WAIT).await.unwrap()),
        ResponseCode::FormErr
    );
    // Trailing garbage -> FORMERR, over TCP as well.
    let mut q = query(3, "www.example", 1, None);
    q.extend([0xde, 0xad]);
    assert_eq!(
        rcode(tcp_exchange(proxy.addr, &q, WAIT).await.unwrap()),
        ResponseCode::FormErr
    );
    // EDNS version 1 -> BADVERS (extended RCODE 16).
    let mut q = query(4, "www.example", 1, Some(1232));
    let ver = q.len() - 5;
    q[ver] = 1;
    let reply = udp_exchange(proxy.addr, &q, WAIT).await.unwrap();
    // hickory names 16 BADSIG; for an OPT-carrying answer it is BADVERS (RFC 6891 §9).
    assert_eq!(u16::from(parse(&reply).response_code()), 16);
    assert_eq!(up.seen.queries.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_zero_length_frame_closes_connection() {
    let (_r, _u, proxy) = setup(Behavior::Answer).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0, 0]).await.unwrap();
    let r = tokio::time::timeout(WAIT, read_frame(&mut s))
        .await
        .unwrap();
    assert!(r.is_none(), "connection should be closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_answer_keeps_opt_and_servfail_has_opt() {
    let (_r, _u, proxy) = setup(Behavior::Stall).await;
    let reply = udp_exchange(proxy.addr, &query(5, "www.example", 1, Some(1232)), WAIT)
        .await
        .unwrap();
    let m = parse(&reply);
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    assert!(
        m.extensions().is_some(),
        "RFC 6891 §7: OPT in the answer to an OPT query"
    );
}

/// A frame that trickles in byte by byte must still complete within the read timeout
/// counted from its first byte (no slowloris).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_trickled_frame_cut_off_at_read_timeout() {
    let root = ca("Test Root");
    let server = leaf(NAME, &root);
    let up = UpstreamOptions::new(&server, &[]).start().await;
    let c = config(vec![upstream(up.addr, Some(NAME), vec![])], &[&root])
        .tcp_read_timeout(Duration::from_millis(600));
    let proxy = start_proxy(c).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let q = query(1, "www.example", 1, None);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend(&q);
    let start = tokio::time::Instant::now();
    let mut closed = false;
    for b in framed.iter().take(framed.len() - 1) {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !closed {
        // Whatever got through, the server must have closed by now.
        let r = tokio::time::timeout(WAIT, read_frame(&mut s))
            .await
            .unwrap();
        assert!(r.is_none());
    }
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(start.elapsed() >= Duration::from_millis(500));
}

/// Datagrams that arrive together (taken from the socket in one batch) are each answered
/// to their own sender, with their own ID and answer; a malformed one in between and a
/// large (padded, 6000-octet) query do not disturb the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_arriving_together_are_answered_each_to_its_sender() {
    let (_r, _u, proxy) = setup(Behavior::Answer).await;
    const CLIENTS: u16 = 8;
    const EACH: u16 = 6;
    let mut socks = Vec::new();
    for _ in 0..CLIENTS {
        socks.push(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    // Everything is sent before anything is read, so the proxy finds a queue of datagrams.
    for (c, sock) in (0..CLIENTS).zip(&socks) {
        for i in 0..EACH {
            let n = c * EACH + i + 1;
            let id = 1000 + n;
            sock.send_to(
                &query(id, &format!("q{n}.example"), 1, Some(1232)),
                proxy.addr,
            )
            .await
            .unwrap();
            if i == 2 {
                sock.send_to(&[0xde, 0xad], proxy.addr).await.unwrap();
            }
        }
    }
    // A query padded to 6000 octets (RFC 7830 padding, option 12) is taken whole.
    let mut big = query(77, "q200.example", 1, Some(1232));
    let pad = 6000 - big.len() - 4;
    let rdlen = (pad + 4) as u16;
    let at = big.len() - 2;
    big[at..].copy_from_slice(&rdlen.to_be_bytes());
    big.extend(12u16.to_be_bytes());
    big.extend((pad as u16).to_be_bytes());
    big.resize(6000, 0);
    socks[0].send_to(&big, proxy.addr).await.unwrap();

    let mut buf = vec![0u8; 65535];
    for (c, sock) in (0..CLIENTS).zip(&socks) {
        let expected = EACH + u16::from(c == 0);
        let mut seen = Vec::new();
        for _ in 0..expected {
            let (len, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("client {c}: only {seen:?} answered"))
                .unwrap();
            let m = parse(&buf[..len]);
            let id = m.id();
            let n = if id == 77 { 200 } else { id - 1000 };
            assert!(
                id == 77 && c == 0 || (n > c * EACH && n <= (c + 1) * EACH),
                "client {c} got the answer with ID {id}"
            );
            assert_eq!(m.response_code(), ResponseCode::NoError);
            assert_eq!(
                m.queries()[0].name().to_ascii(),
                format!("q{n}.example."),
                "answer {id} carries its own question"
            );
            assert_eq!(
                a_records(&m),
                vec![std::net::Ipv4Addr::new(192, 0, 2, n as u8)]
            );
            seen.push(id);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), usize::from(expected), "client {c}: {seen:?}");
    }
}
