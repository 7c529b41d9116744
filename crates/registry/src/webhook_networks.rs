//! Which addresses webhook deliveries may reach. A webhook's URL is chosen by an
//! administrator, but the request goes out from the registry's own host: without a limit, a
//! URL naming `127.0.0.1`, the host's other services, or a cloud's metadata endpoint
//! (`169.254.169.254`) makes the registry a proxy into places its users cannot reach.
//!
//! The check is on the addresses a name resolves to, in the resolver the HTTP client connects
//! through, so a name cannot pass the check and then resolve elsewhere for the connection.
//! A URL whose host is an address literal skips resolution and is checked before sending.
//! (With an HTTP proxy configured in the environment, the proxy reaches the receiver, and
//! decides.)

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

/// The addresses deliveries may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookNetworks {
    /// Publicly routable addresses only.
    Public,
    /// Also private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), where an
    /// on-premises registry's CI systems usually listen. Never this host itself (loopback),
    /// link-local addresses (cloud metadata endpoints) or unspecified, multicast and
    /// broadcast addresses.
    #[default]
    Private,
    /// Anything, this host included (development and tests).
    Any,
}

impl FromStr for WebhookNetworks {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "public" => Ok(WebhookNetworks::Public),
            "private" => Ok(WebhookNetworks::Private),
            "any" => Ok(WebhookNetworks::Any),
            _ => Err(format!("{text:?}: expected public, private or any")),
        }
    }
}

/// What kind of address an IP is, as far as deliveries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Public,
    Private,
    /// Loopback, link-local, unspecified, multicast, broadcast, reserved.
    Local,
}

fn reach(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => reach_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // ::ffff:127.0.0.1 reaches 127.0.0.1.
            Some(v4) => reach_v4(v4),
            None => reach_v6(v6),
        },
    }
}

fn reach_v4(ip: Ipv4Addr) -> Reach {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Reach::Local;
    }
    // 0.0.0.0/8 ("this network") and 240.0.0.0/4 (reserved).
    if a == 0 || a >= 240 {
        return Reach::Local;
    }
    // RFC 1918, and 100.64.0.0/10 (carrier-grade NAT, also used inside clusters).
    if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        return Reach::Private;
    }
    Reach::Public
}

fn reach_v6(ip: Ipv6Addr) -> Reach {
    let first = ip.segments()[0];
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || (first & 0xffc0) == 0xfe80 {
        return Reach::Local;
    }
    // fc00::/7, unique local addresses.
    if (first & 0xfe00) == 0xfc00 {
        return Reach::Private;
    }
    Reach::Public
}

impl WebhookNetworks {
    /// Whether a delivery may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        matches!(
            (self, reach(ip)),
            (WebhookNetworks::Any, _) | (_, Reach::Public) | (WebhookNetworks::Private, Reach::Private)
        )
    }

    /// The refusal for `ip`, naming the setting that would allow it.
    pub fn refusal(self, ip: IpAddr) -> String {
        let kind = match reach(ip) {
            Reach::Local => "this host, a link-local or a reserved address",
            Reach::Private | Reach::Public => "a private network",
        };
        format!(
            "{ip} is {kind}, which webhooks may not reach with --webhook-networks {} \
             (WASMHUB_WEBHOOK_NETWORKS; `private` or `any` widen it)",
            self.as_str()
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookNetworks::Public => "public",
            WebhookNetworks::Private => "private",
            WebhookNetworks::Any => "any",
        }
    }

    /// Checks a URL whose host is an address literal (those are not resolved); `Ok` for names.
    pub fn check_literal(self, url: &url::Url) -> Result<(), String> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        if self.allows(ip) {
            Ok(())
        } else {
            Err(self.refusal(ip))
        }
    }

    /// The resolver the delivery client connects through: the system's, keeping only the
    /// addresses these networks allow.
    pub(crate) fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(self))
    }
}

pub(crate) struct GuardedResolver(WebhookNetworks);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let networks = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|addr| networks.allows(addr.ip()));
            match (allowed.is_empty(), refused.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs),
                (true, Some(addr)) => Err(format!("{host} resolves to {}", networks.refusal(addr.ip())).into()),
                (true, None) => Err(format!("{host} resolves to no address").into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn this_host_and_link_local_addresses_are_refused_unless_any() {
        for local in [
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!WebhookNetworks::Private.allows(ip(local)), "{local}");
            assert!(!WebhookNetworks::Public.allows(ip(local)), "{local}");
            assert!(WebhookNetworks::Any.allows(ip(local)), "{local}");
        }
    }

    #[test]
    fn private_networks_are_reached_only_when_private_or_any() {
        for private in [
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "fd00::1",
            "fc12::3",
            "::ffff:10.1.2.3",
        ] {
            assert!(WebhookNetworks::Private.allows(ip(private)), "{private}");
            assert!(!WebhookNetworks::Public.allows(ip(private)), "{private}");
            assert!(WebhookNetworks::Any.allows(ip(private)), "{private}");
        }
    }

    #[test]
    fn public_addresses_are_always_reached() {
        for public in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2001:db8::1", "2606:4700::1111"] {
            for networks in [WebhookNetworks::Public, WebhookNetworks::Private, WebhookNetworks::Any] {
                assert!(networks.allows(ip(public)), "{public} with {networks:?}");
            }
        }
    }

    #[test]
    fn address_literals_are_checked_and_names_left_to_the_resolver() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        let refused = WebhookNetworks::Private.check_literal(&url("http://127.0.0.1:8080/hook")).unwrap_err();
        assert!(refused.contains("127.0.0.1") && refused.contains("WASMHUB_WEBHOOK_NETWORKS"), "{refused}");
        assert!(WebhookNetworks::Private.check_literal(&url("http://[::1]/hook")).is_err());
        assert!(WebhookNetworks::Private.check_literal(&url("http://10.0.0.7/hook")).is_ok());
        assert!(WebhookNetworks::Private.check_literal(&url("http://localhost/hook")).is_ok());
        assert!(WebhookNetworks::Any.check_literal(&url("http://127.0.0.1/hook")).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_this_host_are_refused_by_the_resolver() {
        use reqwest::dns::Resolve;
        let resolve = |networks: WebhookNetworks| {
            let name = reqwest::dns::Name::from_str("localhost").unwrap();
            networks.resolver().resolve(name)
        };
        let refused = resolve(WebhookNetworks::Private).await.err().expect("localhost is refused").to_string();
        assert!(refused.starts_with("localhost resolves to") && refused.contains("this host"), "{refused}");
        let allowed: Vec<SocketAddr> = resolve(WebhookNetworks::Any).await.expect("localhost resolves").collect();
        assert!(allowed.iter().all(|addr| addr.ip().is_loopback()) && !allowed.is_empty(), "{allowed:?}");
    }
}
