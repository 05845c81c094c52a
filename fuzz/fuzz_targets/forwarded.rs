//! Whom a request comes from behind proxies: `client_ip` on the headers of a modelled
//! deployment. A client reaches the server through one to four proxies; each appends the
//! address it saw to the header the deployment uses, `--proxy-header` (its own line, or joined
//! to the last one as nginx does, in every form RFC 7239 and common proxies write); before them
//! the client wrote whatever forwarding headers it liked, of both kinds, any bytes a header
//! value may hold.
//!
//! Invariants:
//! - the answer is the rightmost address of the true path that is not a trusted proxy, walking
//!   from the TCP peer: the peer itself when it is not trusted, else the address the nearest
//!   untrusted hop was seen from; nothing the client wrote changes it (when the client's own
//!   address is trusted the server cannot tell it from a proxy, and the answer is not checked);
//! - IPv4-mapped IPv6 addresses are answered as IPv4, however the socket or a proxy wrote them.
#![no_main]

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};
use tickwire_fuzz::inputs::ForwardedInput;
use tickwire_server::proxy::{ProxyHeader, TrustedProxy, client_ip};

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fuzz_target!(|input: ForwardedInput| {
    let trusted: Vec<TrustedProxy> = input
        .trusted
        .iter()
        .map(|&(ip, prefix)| {
            let width = if ip.is_ipv4() { 32 } else { 128 };
            TrustedProxy(IpNet::new(ip, prefix % (width + 1)).expect("a valid prefix"))
        })
        .collect();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.0.contains(ip));

    let peer_ip = input.proxies.last().expect("at least one proxy").0;
    let socket_ip = match peer_ip {
        IpAddr::V4(v4) if input.deployment & 2 != 0 => IpAddr::V6(v4.to_ipv6_mapped()),
        ip => ip,
    };
    let peer = SocketAddr::new(socket_ip, 40000);
    let headers = input.headers();
    let header =
        if input.uses_forwarded() { ProxyHeader::Forwarded } else { ProxyHeader::XForwardedFor };
    let answer = client_ip(peer, &headers, &trusted, header);

    // The true path, client first, the TCP peer last; walked from the peer.
    let path: Vec<IpAddr> = std::iter::once(input.client)
        .chain(input.proxies.iter().map(|p| p.0))
        .map(canonical)
        .collect();
    let expected = path.iter().rev().find(|ip| !is_trusted(ip));
    if let Some(&expected) = expected {
        assert_eq!(answer, expected, "path {path:?} (client first), headers {headers:?}");
    }
    if let IpAddr::V6(v6) = answer {
        assert!(v6.to_ipv4_mapped().is_none(), "answered IPv4-mapped {v6}");
    }
});
