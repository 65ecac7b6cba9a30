//! Plain DNS to a local server, for the zones a policy marks `unencrypted = true`
//! (`cluster.local` to the cluster DNS). Only loopback and private addresses are allowed
//! (checked by the configuration). UDP first with a random ID from a random port, TCP when the
//! answer is truncated; answers pass the same check as DoT answers.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::dns::answer::{check_reply, ReplyInfo};
use crate::dns::query::{flags, ValidQuery};
use crate::dns::set_message_id;
use crate::framing::push_frame;

/// A local zone forwarded in cleartext (built and checked by the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The zone as text (`cluster.local.`).
    pub name: String,
    /// The zone in wire form, lower case.
    pub wire: Vec<u8>,
    /// The local servers, tried in order.
    pub servers: Vec<SocketAddr>,
}

/// Asks `servers` in turn, within `deadline`.
pub async fn exchange(
    servers: &[SocketAddr],
    query: &ValidQuery,
    deadline: Instant,
) -> Option<(Vec<u8>, ReplyInfo)> {
    for (i, server) in servers.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Share what is left among the servers not yet tried.
        let left = (servers.len() - i) as u32;
        let until = now + (deadline - now) / left;
        let mut msg = query.bytes().to_vec();
        let id = fastrand::u16(..);
        set_message_id(&mut msg, id);
        let attempt = async {
            let reply = udp(*server, &msg, id, query).await?;
            if reply.1.flags & flags::TC == 0 {
                return Some(reply);
            }
            tcp(*server, &msg, id, query).await
        };
        if let Ok(Some(reply)) = tokio::time::timeout_at(until, attempt).await {
            return Some(reply);
        }
    }
    None
}

async fn udp(
    server: SocketAddr,
    msg: &[u8],
    id: u16,
    q: &ValidQuery,
) -> Option<(Vec<u8>, ReplyInfo)> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await.ok()?;
    sock.connect(server).await.ok()?;
    sock.send(msg).await.ok()?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).await.ok()?;
        let reply = buf.get(..n)?;
        if crate::dns::message_id(reply) != Some(id) {
            continue; // not ours: keep waiting (the deadline bounds this)
        }
        if let Ok(info) = check_reply(reply, q.qname(), q.qtype(), q.qclass()) {
            return Some((reply.to_vec(), info));
        }
    }
}

async fn tcp(
    server: SocketAddr,
    msg: &[u8],
    id: u16,
    q: &ValidQuery,
) -> Option<(Vec<u8>, ReplyInfo)> {
    let mut s = TcpStream::connect(server).await.ok()?;
    let _ = s.set_nodelay(true);
    let mut frame = Vec::with_capacity(msg.len() + 2);
    if !push_frame(&mut frame, msg) {
        return None;
    }
    s.write_all(&frame).await.ok()?;
    let len = s.read_u16().await.ok()?;
    let mut reply = vec![0u8; usize::from(len)];
    s.read_exact(&mut reply).await.ok()?;
    if crate::dns::message_id(&reply) != Some(id) {
        return None;
    }
    let info = check_reply(&reply, q.qname(), q.qtype(), q.qclass()).ok()?;
    Some((reply, info))
}

/// Whether `qname` (wire form, validated) is `zone` or below it.
pub fn in_zone(qname: &[u8], zone: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        let rest = match qname.get(at..) {
            Some(r) => r,
            None => return false,
        };
        if crate::dns::reader::names_equal(rest, zone) {
            return true;
        }
        match rest.first() {
            Some(&len) if len > 0 => at += 1 + usize::from(len),
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_membership() {
        let zone = b"\x07cluster\x05local\x00";
        assert!(in_zone(b"\x07cluster\x05local\x00", zone));
        assert!(in_zone(b"\x03svc\x07Cluster\x05LOCAL\x00", zone));
        assert!(!in_zone(b"\x0bxcluster\x05local\x00"[..].as_ref(), zone));
        assert!(!in_zone(b"\x05local\x00", zone));
        assert!(in_zone(b"\x03any\x00", b"\x00"));
    }
}
