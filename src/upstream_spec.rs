//! Parses an upstream given as `IP[:PORT][#AUTH_NAME]`, IPv6 always in brackets, as in URLs
//! (`[2620:fe::fe]:853#dns.quad9.net`): without them `2620:fe::fe:853` is both an address
//! and an address with a port, so it is refused with both readings spelled out. The port
//! defaults to 853 (RFC 7858 §3.1).
//! Upstreams are addresses, never names to look up: strictdot needs no bootstrap resolver
//! and so never sends a query in cleartext to find its upstreams.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use rustls_pki_types::{DnsName, ServerName};

/// The DNS-over-TLS port (RFC 7858 §3.1).
pub const DOT_PORT: u16 = 853;

/// One upstream's address and (optional) authentication domain name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamSpec {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The name the certificate must be valid for (RFC 8310 §8, ADN); also sent as SNI.
    pub auth_name: Option<DnsName<'static>>,
}

/// Why an upstream string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The address part is not an IP address (host names are not accepted).
    #[error("'{0}' is not an IP address (host names are not accepted)")]
    BadAddress(String),
    /// An IPv6 address without brackets: ambiguous with a port, so refused.
    #[error("'{given}' is an IPv6 address without brackets; write {hint}: IPv6 addresses always go in brackets")]
    Ipv6WithoutBrackets {
        /// What was given.
        given: String,
        /// The bracketed forms it may have meant.
        hint: String,
    },
    /// The port is not a number in 1..=65535.
    #[error("'{0}' is not a port number (1-65535)")]
    BadPort(String),
    /// The authentication name is not a valid DNS name.
    #[error("'{0}' is not a valid authentication domain name")]
    BadName(String),
}

impl FromStr for UpstreamSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let s = s.trim();
        let (addr_part, name_part) = match s.split_once('#') {
            Some((a, n)) => (a, Some(n)),
            None => (s, None),
        };
        let addr = parse_addr(addr_part)?;
        let auth_name = match name_part {
            None => None,
            Some(n) => Some(parse_name(n)?),
        };
        Ok(UpstreamSpec { addr, auth_name })
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, SpecError> {
    let bad = || SpecError::BadAddress(s.to_owned());
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?.into();
        let port = match after {
            "" => DOT_PORT,
            p => parse_port(p.strip_prefix(':').ok_or_else(bad)?)?,
        };
        return Ok(SocketAddr::new(ip, port));
    }
    if let Ok(ip) = s.parse::<std::net::Ipv4Addr>() {
        return Ok(SocketAddr::new(ip.into(), DOT_PORT));
    }
    if let Some(hint) = bracketed(s) {
        return Err(SpecError::Ipv6WithoutBrackets {
            given: s.to_owned(),
            hint,
        });
    }
    let (ip, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?.into();
    Ok(SocketAddr::new(ip, parse_port(port)?))
}

/// For an IPv6 address written without brackets, the bracketed forms it may mean: with
/// its last group as a port, and as a whole address on port 853.
fn bracketed(s: &str) -> Option<String> {
    let as_port = s.rsplit_once(':').and_then(|(ip, port)| {
        ip.parse::<std::net::Ipv6Addr>().ok()?;
        let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
        Some(format!("[{ip}]:{port}"))
    });
    let whole = s
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|_| format!("[{s}] (port {DOT_PORT})"));
    match (as_port, whole) {
        (Some(p), Some(w)) => Some(format!("{p} or {w}")),
        (p, w) => p.or(w),
    }
}

fn parse_port(s: &str) -> Result<u16, SpecError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(SpecError::BadPort(s.to_owned())),
    }
}

fn parse_name(s: &str) -> Result<DnsName<'static>, SpecError> {
    let bad = || SpecError::BadName(s.to_owned());
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if trimmed.is_empty() || trimmed.parse::<IpAddr>().is_ok() {
        return Err(bad());
    }
    match ServerName::try_from(trimmed.to_ascii_lowercase()) {
        Ok(ServerName::DnsName(name)) => Ok(name),
        _ => Err(bad()),
    }
}

impl fmt::Display for UpstreamSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(name) = &self.auth_name {
            write!(f, "#{}", name.as_ref())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> UpstreamSpec {
        s.parse().unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(spec("9.9.9.9").addr, "9.9.9.9:853".parse().unwrap());
        assert_eq!(spec("9.9.9.9:8853").addr.port(), 8853);
        let s = spec("9.9.9.9:853#dns.quad9.net");
        assert_eq!(s.auth_name.unwrap().as_ref(), "dns.quad9.net");
        let s = spec("[2620:fe::fe]:853#dns.quad9.net");
        assert_eq!(s.addr, "[2620:fe::fe]:853".parse().unwrap());
        assert_eq!(spec("[::1]").addr.port(), 853);
        assert_eq!(
            spec("1.1.1.1#Cloudflare-DNS.com.")
                .auth_name
                .unwrap()
                .as_ref(),
            "cloudflare-dns.com"
        );
        assert_eq!(spec("1.1.1.1#x").to_string(), "1.1.1.1:853#x");
    }

    #[test]
    fn rejects() {
        for bad in [
            "dns.google",
            "1.1.1.1:0",
            "1.1.1.1:99999",
            "1.1.1.1:",
            "[::1",
            "[::1]853",
            "1.1.1.1#",
            "1.1.1.1#1.2.3.4",
            "1.1.1.1#bad name",
            "",
            "::1",
            "2620:fe::fe",
            "2620:fe::fe:853#dns.quad9.net",
        ] {
            assert!(bad.parse::<UpstreamSpec>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ipv6_without_brackets_gets_both_readings() {
        let e = "2620:fe::fe:853#dns.quad9.net"
            .parse::<UpstreamSpec>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("write [2620:fe::fe]:853 or [2620:fe::fe:853] (port 853)"),
            "{e}"
        );
        let e = "2620:fe::fe"
            .parse::<UpstreamSpec>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[2620:fe::fe] (port 853)"), "{e}");
    }
}
