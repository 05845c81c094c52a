//! Behind a proxy or load balancer: whom a request really comes from.
//!
//! Every client behind a proxy shares the proxy's address, so per-address caps would lock them
//! all out together and logs would name the proxy. Only requests whose TCP peer is one of
//! `--trusted-proxies` have their `Forwarded` (RFC 7239) or `X-Forwarded-For` header believed;
//! anyone else could write any address there. The client is the rightmost address in the chain
//! that is not itself a trusted proxy (the leftmost entries are whatever the client claimed).

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

/// The address a request is from, after believing what trusted proxies say.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.0.contains(ip));
    let peer_ip = canonical(peer.ip());
    if !is_trusted(&peer_ip) {
        return peer_ip;
    }
    let chain = match forwarded_for(headers) {
        Some(chain) => chain,
        None => x_forwarded_for(headers),
    };
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
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` addresses of every `Forwarded` element, in order; `None` entries for values that
/// are not addresses (`unknown`, obfuscated identifiers). `None` when there is no such header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut chain = Vec::new();
    let mut present = false;
    for value in headers.get_all("forwarded") {
        present = true;
        let Ok(value) = value.to_str() else { return Some(vec![None]) };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            });
            if let Some(node) = node {
                chain.push(parse_node(node));
            }
        }
    }
    present.then_some(chain)
}

/// The addresses of `X-Forwarded-For`, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(list) => list.split(',').map(|hop| parse_node(hop.trim())).collect(),
            Err(_) => vec![None],
        })
        .collect()
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

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_ip(peer("198.51.100.4"), &h, &trusted(&["10.0.0.0/8"])),
            ip("198.51.100.4")
        );
        assert_eq!(client_ip(peer("198.51.100.4"), &h, &[]), ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/8", "192.0.2.7"]);
        // The client claimed 1.2.3.4; the outer proxy saw it come from 203.0.113.9.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(client_ip(peer("192.0.2.7"), &h, &t), ip("203.0.113.9"));
        // Split over two headers, the same chain.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9"),
            ("x-forwarded-for", "10.1.2.3"),
        ]);
        assert_eq!(client_ip(peer("10.9.9.9"), &h, &t), ip("203.0.113.9"));
        // Only proxies in the chain: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(client_ip(peer("10.9.9.9"), &h, &t), ip("10.0.0.1"));
        // No header: the proxy itself.
        assert_eq!(client_ip(peer("10.9.9.9"), &HeaderMap::new(), &t), ip("10.9.9.9"));
    }

    #[test]
    fn forwarded_wins_and_its_forms_parse() {
        let t = trusted(&["127.0.0.1"]);
        let h = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(client_ip(peer("127.0.0.1"), &h, &t), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "For=198.51.100.17:8080")]);
        assert_eq!(client_ip(peer("127.0.0.1"), &h, &t), ip("198.51.100.17"));
        // An obfuscated node stops the walk at the proxy that wrote it.
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(client_ip(peer("127.0.0.1"), &h, &t), ip("127.0.0.1"));
        // Garbage in X-Forwarded-For likewise.
        let h = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(client_ip(peer("127.0.0.1"), &h, &t), ip("127.0.0.1"));
    }

    #[test]
    fn mapped_ipv4_is_plain_ipv4_and_entries_parse() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(client_ip(peer("::ffff:10.0.0.1"), &h, &t), ip("203.0.113.9"));
        assert!("10.0.0.0/8".parse::<TrustedProxy>().is_ok());
        assert!("2001:db8::/32".parse::<TrustedProxy>().is_ok());
        assert!("192.0.2.7".parse::<TrustedProxy>().is_ok());
        let e = "10.0.0.0/33".parse::<TrustedProxy>().unwrap_err();
        assert!(e.contains("CIDR"), "{e}");
    }
}
