//! Behind a proxy or load balancer: whom a request really comes from.
//!
//! Every client behind a proxy shares the proxy's address, so per-address caps would lock them
//! all out together and logs would name the proxy. Only requests whose TCP peer is one of
//! `--trusted-proxies` have their forwarding header believed; anyone else could write any
//! address there. The client is the rightmost address in the chain that is not itself a
//! trusted proxy (the leftmost entries are whatever the client claimed).
//!
//! Only the one header the proxies write (`--proxy-header`: `X-Forwarded-For` by default, or
//! RFC 7239 `Forwarded`) is read. A proxy passes the other one through as the client wrote it,
//! so believing it would let any client name any address (nginx's
//! `$proxy_add_x_forwarded_for` leaves a client's `Forwarded: for=6.6.6.6` untouched; found by
//! the `forwarded` fuzz target). Values are split into hops as bytes, so bytes a client wrote
//! that are not text cost only the hops they are in, never the proxy's hop appended after them.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A `--trusted-proxies` entry: a CIDR range (`10.0.0.0/8`) or one address (`192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        IpNet::from_str(text)
            .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
            .map(TrustedProxy)
            .map_err(|_| format!("`{text}` is not an address or a CIDR range (e.g. 10.0.0.0/8)"))
    }
}

impl TrustedProxy {
    /// Whether the entry holds every address of its family (`0.0.0.0/0`, `::/0`): every
    /// client is then believed about its own address, and can claim any.
    pub fn trusts_everyone(&self) -> bool {
        self.0.prefix_len() == 0
    }
}

/// Who a request or a connection is from, as the caps and the logs see it: the client, and the
/// TCP peer that named it when that is another machine (a trusted proxy, or a node of the fleet
/// relaying the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client: the TCP peer itself, or the address a proxy named, with port 0 (a proxy
    /// does not say the client's port).
    pub client: SocketAddr,
    /// The TCP peer that named the client, if it is not the client.
    pub proxy: Option<SocketAddr>,
}

impl Peer {
    /// A client connected directly.
    pub fn direct(addr: SocketAddr) -> Self {
        Peer { client: addr, proxy: None }
    }

    /// The client `client` as named by the TCP peer `tcp`: direct when they are the same.
    pub fn named_by(tcp: SocketAddr, client: SocketAddr) -> Self {
        Peer { client, proxy: (client != tcp).then_some(tcp) }
    }

    /// The client's address.
    pub fn ip(&self) -> IpAddr {
        self.client.ip()
    }

    /// The client as a log shows it: its address and port, or, named by a proxy, its address
    /// alone (a `:0` would read as a port it used).
    pub fn client_shown(&self) -> ClientShown {
        ClientShown(*self)
    }
}

/// The client, and behind a proxy the proxy: `203.0.113.9 via 10.0.0.2:41234`.
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.proxy {
            None => write!(f, "{}", self.client),
            Some(proxy) => write!(f, "{} via {proxy}", self.client.ip()),
        }
    }
}

/// [`Peer::client_shown`].
#[derive(Debug, Clone, Copy)]
pub struct ClientShown(Peer);

impl std::fmt::Display for ClientShown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.proxy {
            None => write!(f, "{}", self.0.client),
            Some(_) => write!(f, "{}", self.0.client.ip()),
        }
    }
}

/// The header trusted proxies write the client's address into (`--proxy-header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, ...` (nginx, HAProxy `option forwardfor`, Envoy,
    /// Traefik, cloud load balancers).
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1, ...` (HAProxy `option forwarded`, nginx
    /// with a `Forwarded` map).
    #[value(name = "forwarded")]
    Forwarded,
}

impl ProxyHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        }
    }
}

/// The address a request is from, after believing what trusted proxies wrote in `header`.
pub fn client_ip(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted: &[TrustedProxy],
    header: ProxyHeader,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.0.contains(ip));
    let peer_ip = canonical(peer.ip());
    if !is_trusted(&peer_ip) {
        return peer_ip;
    }
    let chain = hops(headers, header);
    // From the proxy nearest to us outwards: the first address that is not a trusted proxy is
    // the client. Anything unparsable ends the walk (a proxy that cannot be read is not
    // followed past).
    let mut client = peer_ip;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as plain IPv4, so caps and CIDR ranges
/// see one address however the socket reports it.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops of every `header` line, in order: `None` for one that is not an address
/// (`unknown`, an obfuscated identifier, bytes that are not text). A `Forwarded` element
/// without `for=` names no hop.
fn hops(headers: &HeaderMap, header: ProxyHeader) -> Vec<Option<IpAddr>> {
    let mut chain = Vec::new();
    for value in headers.get_all(header.name()) {
        for element in value.as_bytes().split(|&b| b == b',') {
            let node = match header {
                ProxyHeader::XForwardedFor => Some(element),
                ProxyHeader::Forwarded => element.split(|&b| b == b';').find_map(|pair| {
                    let at = pair.iter().position(|&b| b == b'=')?;
                    let (key, value) = (pair[..at].trim_ascii(), &pair[at + 1..]);
                    key.eq_ignore_ascii_case(b"for").then_some(value)
                }),
            };
            if let Some(node) = node {
                chain.push(std::str::from_utf8(node).ok().and_then(parse_node));
            }
        }
    }
    chain
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1` as an address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(canonical(ip));
    }
    if let Ok(addr) = SocketAddr::from_str(node) {
        return Some(canonical(addr.ip()));
    }
    let bracketed = node.strip_prefix('[')?.split(']').next()?;
    IpAddr::from_str(bracketed).ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(peer: SocketAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
        client_ip(peer, headers, trusted, ProxyHeader::XForwardedFor)
    }

    fn forwarded(peer: SocketAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
        client_ip(peer, headers, trusted, ProxyHeader::Forwarded)
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(xff(peer("198.51.100.4"), &h, &trusted(&["10.0.0.0/8"])), ip("198.51.100.4"));
        assert_eq!(xff(peer("198.51.100.4"), &h, &[]), ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/8", "192.0.2.7"]);
        // The client claimed 1.2.3.4; the outer proxy saw it come from 203.0.113.9.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(xff(peer("192.0.2.7"), &h, &t), ip("203.0.113.9"));
        // Split over two headers, the same chain.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9"),
            ("x-forwarded-for", "10.1.2.3"),
        ]);
        assert_eq!(xff(peer("10.9.9.9"), &h, &t), ip("203.0.113.9"));
        // Only proxies in the chain: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(xff(peer("10.9.9.9"), &h, &t), ip("10.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(xff(peer("10.9.9.9"), &HeaderMap::new(), &t), ip("10.9.9.9"));
    }

    #[test]
    fn forwarded_forms_parse() {
        let t = trusted(&["127.0.0.1"]);
        let h = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "For=198.51.100.17:8080")]);
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("198.51.100.17"));
        // An element without `for=` names no hop.
        let h = headers(&[("forwarded", "for=198.51.100.17, proto=https;by=10.0.0.1")]);
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("198.51.100.17"));
        // An obfuscated node stops the walk at the proxy that wrote it.
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("127.0.0.1"));
        // Garbage in X-Forwarded-For likewise.
        let h = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(xff(peer("127.0.0.1"), &h, &t), ip("127.0.0.1"));
    }

    /// Found by the `forwarded` fuzz target: behind nginx with the documented
    /// `$proxy_add_x_forwarded_for`, a `Forwarded` header the client wrote itself reached us
    /// untouched and was believed over the proxy's `X-Forwarded-For`: any client could claim
    /// any address. Only the header the proxies write is read.
    #[test]
    fn the_header_the_proxies_do_not_write_is_not_believed() {
        let t = trusted(&["127.0.0.1"]);
        let h =
            headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9"), ("forwarded", "for=6.6.6.6")]);
        assert_eq!(xff(peer("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        // And the other way round, behind a proxy that writes `Forwarded`.
        let h = headers(&[
            ("forwarded", "for=6.6.6.6, for=203.0.113.9"),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert_eq!(ProxyHeader::default(), ProxyHeader::XForwardedFor);
    }

    /// Bytes that are not text in what the client wrote made the whole header line unreadable
    /// (a bad `Forwarded` line, every line), the proxy's hop appended to it included, and the
    /// client was taken for the proxy: its address hidden from logs, its sessions counted
    /// against the proxy's caps. The `forwarded` fuzz target's deployment model checks it.
    #[test]
    fn a_client_s_bytes_do_not_hide_the_proxy_s_hop() {
        let t = trusted(&["127.0.0.1"]);
        let line = |bytes: &[u8]| {
            let mut map = HeaderMap::new();
            let value = HeaderValue::from_bytes(bytes).unwrap();
            map.append("x-forwarded-for", value.clone());
            map.append("forwarded", value);
            map
        };
        let h = line(b"\xff\xfe, 203.0.113.9");
        assert_eq!(xff(peer("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        let h = line(b"for=\xff\xfe, for=203.0.113.9");
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("203.0.113.9"));
        // A line of its own from the client, then the proxy's.
        let mut h = line(b"for=\"\xff\"");
        h.append("forwarded", HeaderValue::from_static("for=203.0.113.9"));
        assert_eq!(forwarded(peer("127.0.0.1"), &h, &t), ip("203.0.113.9"));
    }

    #[test]
    fn a_client_behind_a_proxy_is_shown_without_a_port_and_the_proxy_with_one() {
        let proxy: SocketAddr = "127.0.0.1:45678".parse().unwrap();
        let named = Peer::named_by(proxy, "203.0.113.9:0".parse().unwrap());
        assert_eq!(named.client_shown().to_string(), "203.0.113.9");
        assert_eq!(named.proxy, Some(proxy));
        assert_eq!(named.to_string(), "203.0.113.9 via 127.0.0.1:45678");
        let direct = Peer::named_by(proxy, proxy);
        assert_eq!(direct, Peer::direct(proxy));
        assert_eq!(direct.client_shown().to_string(), "127.0.0.1:45678");
        let v6 = Peer::named_by(proxy, "[2001:db8::9]:0".parse().unwrap());
        assert_eq!(v6.client_shown().to_string(), "2001:db8::9");
    }

    #[test]
    fn only_a_whole_address_family_trusts_everyone() {
        for everyone in ["0.0.0.0/0", "::/0"] {
            assert!(everyone.parse::<TrustedProxy>().unwrap().trusts_everyone(), "{everyone}");
        }
        for some in ["10.0.0.0/8", "127.0.0.1", "::1", "0.0.0.0/1"] {
            assert!(!some.parse::<TrustedProxy>().unwrap().trusts_everyone(), "{some}");
        }
    }

    #[test]
    fn mapped_ipv4_is_plain_ipv4_and_entries_parse() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(xff(peer("::ffff:10.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert!("10.0.0.0/8".parse::<TrustedProxy>().is_ok());
        assert!("2001:db8::/32".parse::<TrustedProxy>().is_ok());
        assert!("192.0.2.7".parse::<TrustedProxy>().is_ok());
        let e = "10.0.0.0/33".parse::<TrustedProxy>().unwrap_err();
        assert!(e.contains("CIDR"), "{e}");
    }
}
