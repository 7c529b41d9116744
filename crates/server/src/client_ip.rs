//! Who the client is, by address: the TCP peer, or, when the peer is a reverse proxy the
//! operator trusts (`--trusted-proxies`), the address that proxy saw, from
//! `X-Forwarded-For`. Sign-in rate limits and the audit log use it: behind a proxy, every
//! client would otherwise share the proxy's address (and its rate limit).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// A network, `address/prefix` (a bare address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|&p| p <= bits),
            None => Some(bits),
        }
        .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?;
        Ok(Network { address, prefix })
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix) == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), 128, self.prefix) == masked(ip.into(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(width - prefix);
    if host_bits >= 128 {
        0
    } else {
        bits >> host_bits
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and networks; empty for none.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client's address: the peer, unless the peer is trusted; then the right-most
    /// address of `X-Forwarded-For` that is not itself a trusted proxy (entries to its left
    /// were written by the client and prove nothing).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        forwarded.reverse();
        for entry in forwarded {
            match entry.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip,
                // A garbled hop: nothing to its left can be believed either.
                Err(_) => break,
            }
        }
        peer
    }
}

/// The client's address, as `resolve` found it; `None` when the server does not know the
/// peer (tests that call the router directly).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Middleware: puts the `ClientIp` of every request in its extensions, and makes it known to
/// the audit entries the request's workflows write (`wasmhub_registry::with_client_ip`).
pub async fn resolve(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let client = peer.map(|peer| trusted.client(peer, request.headers()));
    request.extensions_mut().insert(ClientIp(client));
    wasmhub_registry::with_client_ip(client, next.run(request)).await
}

/// The client's address of a request that went through `resolve`.
pub fn of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ClientIp>().and_then(|client| client.0)
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(of(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain_what_they_should() {
        let net: Network = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped addresses count as IPv4");
        assert!("0.0.0.0/0".parse::<Network>().unwrap().contains(ip("192.0.2.1")));
        assert!("fd00::/8".parse::<Network>().unwrap().contains(ip("fd12::1")));
        assert!("127.0.0.1".parse::<Network>().unwrap().contains(ip("127.0.0.1")));
        assert!(!"127.0.0.1".parse::<Network>().unwrap().contains(ip("127.0.0.2")));
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_up_to_the_first_untrusted_hop() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.5".parse().unwrap();
        let proxy = ip("10.0.0.2");
        assert_eq!(trusted.client(ip("203.0.113.9"), &headers(&["198.51.100.1"])), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(trusted.client(proxy, &headers(&[])), proxy, "no header");
        assert_eq!(trusted.client(proxy, &headers(&["198.51.100.1"])), ip("198.51.100.1"));
        // The client wrote the first entry itself; the proxies appended the rest.
        let chain = headers(&["1.2.3.4, 198.51.100.1", "192.168.1.5"]);
        assert_eq!(trusted.client(proxy, &chain), ip("198.51.100.1"));
        assert_eq!(trusted.client(proxy, &headers(&["1.2.3.4, garbage, 10.0.0.7"])), proxy, "garbled hop");
        assert!(TrustedProxies::default().0.is_empty());
        assert!("".parse::<TrustedProxies>().unwrap().0.is_empty());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,40}") {
            let _ = text.parse::<Network>();
            let _ = text.parse::<TrustedProxies>();
        }

        #[test]
        fn a_network_contains_its_own_address_whatever_the_prefix(a in any::<u32>(), prefix in 0u8..=32) {
            let net = Network { address: IpAddr::V4(a.into()), prefix };
            prop_assert!(net.contains(IpAddr::V4(a.into())));
        }

        #[test]
        fn an_untrusted_peer_is_always_the_client(peer in any::<u32>(), header in "[0-9a-f.:, ]{0,60}") {
            let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
            let peer = IpAddr::V4(peer.into());
            prop_assume!(!trusted.trusts(peer));
            let mut headers = HeaderMap::new();
            if let Ok(value) = header.parse() {
                headers.insert("x-forwarded-for", value);
            }
            prop_assert_eq!(trusted.client(peer, &headers), peer);
        }
    }
}
