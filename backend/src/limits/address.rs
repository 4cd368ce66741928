//! Who is on the other end: the address a limit is counted against, taken
//! from the TCP peer, or from `X-Forwarded-For` when the peer is a reverse
//! proxy the operator said to trust.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use thiserror::Error;

/// The TCP peer of a connection, put in each request's extensions by the
/// server's accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client a request comes from, as limits count it: the peer, or the
/// address a trusted proxy forwarded. In each request's extensions, so
/// socketioxide keeps it with every session's request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// The address as limits count it. IPv4 addresses count one by one; an
    /// IPv6 address counts as its /64 network, since one host is routinely
    /// given a whole /64 and could otherwise pick a new address per request.
    pub fn new(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    IpAddr::V6(Ipv6Addr::from(segments))
                }
            },
            v4 => v4,
        };
        Self(ip)
    }

    /// The address (for IPv6, its /64 network).
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One network whose `X-Forwarded-For` the server believes: an address, or
/// `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

/// `--trusted-proxy` could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("a trusted proxy is an IP address or a network like 10.0.0.0/8, not {0:?}")]
pub struct BadProxy(String);

impl FromStr for TrustedProxy {
    type Err = BadProxy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadProxy(text.to_owned());
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| bad())?,
            None => bits,
        };
        if prefix > bits {
            return Err(bad());
        }
        Ok(Self { network, prefix })
    }
}

impl TrustedProxy {
    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            let keep = u32::from(prefix);
            if keep == 0 {
                0
            } else {
                bits >> (u32::from(width) - keep)
            }
        }
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, as a dual-stack socket reports them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed. Empty by default: then
/// the header is ignored, since any client can send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<TrustedProxy>);

impl TrustedProxies {
    /// These proxies.
    pub fn new(proxies: Vec<TrustedProxy>) -> Self {
        Self(proxies)
    }

    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|proxy| proxy.contains(ip))
    }

    /// The client behind a request from `peer`: the peer itself unless it is
    /// trusted; then the last address in `X-Forwarded-For` that is not a
    /// trusted proxy (each proxy appends the address it got the request
    /// from, so addresses further left were written by the client and prove
    /// nothing).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        if !self.contains(peer) {
            return ClientAddress::new(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map_while(|entry| entry.trim().parse().ok())
            .collect();
        let client = forwarded
            .iter()
            .rev()
            .find(|ip| !self.contains(**ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer);
        ClientAddress::new(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", forwarded.parse().unwrap());
        headers
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|p| p.parse().unwrap()).collect())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let client = proxies(&["10.0.0.1"]).client(ip("203.0.113.9"), &headers("1.2.3.4"));
        assert_eq!(client, ClientAddress::new(ip("203.0.113.9")));
        let client = TrustedProxies::default().client(ip("127.0.0.1"), &headers("1.2.3.4"));
        assert_eq!(client, ClientAddress::new(ip("127.0.0.1")));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_entries_to_the_left_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = trusted.client(ip("10.1.2.3"), &headers("6.6.6.6, 198.51.100.7, 10.9.9.9"));
        assert_eq!(client, ClientAddress::new(ip("198.51.100.7")));
        // Without the header, the proxy itself is the client.
        let client = trusted.client(ip("10.1.2.3"), &HeaderMap::new());
        assert_eq!(client, ClientAddress::new(ip("10.1.2.3")));
        // Garbage ends the list; what was readable to its right counts.
        let client = trusted.client(ip("10.1.2.3"), &headers("junk, 198.51.100.8"));
        assert_eq!(client, ClientAddress::new(ip("10.1.2.3")));
    }

    #[test]
    fn ipv6_clients_count_by_their_64_network_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ClientAddress::new(ip("2001:db8:1:2:aaaa::1")),
            ClientAddress::new(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            ClientAddress::new(ip("2001:db8:1:2::1")),
            ClientAddress::new(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientAddress::new(ip("::ffff:192.0.2.1")),
            ClientAddress::new(ip("192.0.2.1"))
        );
        assert!(proxies(&["192.0.2.0/24"]).contains(ip("::ffff:192.0.2.200")));
    }

    #[test]
    fn proxies_are_read_as_addresses_or_networks() {
        assert!(proxies(&["::1"]).contains(ip("::1")));
        assert!(proxies(&["0.0.0.0/0"]).contains(ip("8.8.8.8")));
        assert!(!proxies(&["127.0.0.1"]).contains(ip("127.0.0.2")));
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
        assert!("proxy.local".parse::<TrustedProxy>().is_err());
    }
}
