//! Joining from a phone: the machine's LAN address, invite links and their QR codes.
//!
//! A browser on the server's own machine opens `http://127.0.0.1:8080/`, a link a phone cannot
//! follow. So invite links are built from, in order: `--public-url` if set; the `Host` the
//! browser used if it is not a loopback name; otherwise this machine's LAN address (the first
//! private IPv4 of an interface that is up) with the port the browser used. `GET /invite`
//! answers the link as JSON and `GET /invite.svg` as a QR code (crate `qrcode`). Without
//! `--public-url`, a request whose `Host` is not a host and port ([`is_valid_host`]) gets 400:
//! it is no link anyone can follow, and drawn into a QR code a long one made a large image (a
//! 2 KB header, some 300 KB of SVG), or none at all.

use crate::context::ServerContext;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tickwire_shared::is_valid_room_name;

/// This machine's addresses other devices on the network can reach: IPv4 addresses of
/// non-loopback interfaces, private ranges (home and office networks) first.
pub fn lan_addresses() -> Vec<Ipv4Addr> {
    let mut found: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && !i.is_link_local())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .collect();
    found.sort_by_key(|ip| (!ip.is_private(), *ip));
    found.dedup();
    found
}

/// Whether other machines reach `ip` only over a private network: loopback, link-local, the
/// private IPv4 ranges (RFC 1918) and IPv6 unique local addresses (fc00::/7). Anything else,
/// a public address or a carrier's shared range included, may be reached over the internet.
pub fn is_private_network(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_network(IpAddr::V4(v4)),
            None => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        },
    }
}

/// The address phones should use for a server bound to `bind`, if there is one: the bound
/// address itself when it is a specific non-loopback one, else the first LAN address when
/// bound to all interfaces; `None` for a loopback-only server.
pub fn lan_base_url(bind: SocketAddr) -> Option<String> {
    let ip = match bind.ip() {
        ip if ip.is_loopback() => return None,
        ip if ip.is_unspecified() => IpAddr::V4(*lan_addresses().first()?),
        ip => ip,
    };
    Some(format!("http://{}/", SocketAddr::new(ip, bind.port())))
}

/// Longest `Host` an invite is drawn from, in bytes: an IPv6 address in brackets with a port
/// is at most 55, a DNS name 253, and a name of 248 or more with a port is refused. No real
/// host is near that, and the bound keeps every invite link within 300 bytes (a QR code that
/// always renders).
pub const MAX_INVITE_HOST: usize = 255;

/// Whether an HTTP `Host` is a host and an optional port (RFC 3986's `host [ ":" port ]`, as
/// browsers send it), at most [`MAX_INVITE_HOST`] bytes: a DNS name (labels of 1 to 63 letters,
/// digits, `-` and `_`, at most 253 bytes, an optional final `.`), which takes in IPv4
/// addresses, or an IPv6 address in brackets; then, optionally, `:` and a port of 1 to 5 digits
/// from 1 to 65535. Only such a `Host` is drawn into an invite.
pub fn is_valid_host(host: &str) -> bool {
    if host.len() > MAX_INVITE_HOST {
        return false;
    }
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, "")) => (v6.parse::<Ipv6Addr>().is_ok(), None),
            Some((v6, after)) => (v6.parse::<Ipv6Addr>().is_ok(), Some(after.strip_prefix(':'))),
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (is_dns_name(name), Some(Some(port))),
            None => (is_dns_name(host), None),
        },
    };
    let port_ok = match port {
        None => true,
        Some(None) => false,
        Some(Some(digits)) => {
            (1..=5).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok_and(|p| p != 0)
        }
    };
    name_ok && port_ok
}

/// A DNS name as [`is_valid_host`] takes it.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether an HTTP `Host` (name or address, with or without port) is this machine only.
/// Public (hidden) for the `http_headers` fuzz target.
#[doc(hidden)]
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// The base URL (ending in `/`) an invite link should start with; see the module docs.
/// `scheme` is `https` when the server itself serves TLS, else `http`.
pub fn invite_base(
    public_url: Option<&str>,
    host: Option<&str>,
    bind: SocketAddr,
    scheme: &str,
) -> String {
    if let Some(url) = public_url {
        return format!("{}/", url.trim_end_matches('/'));
    }
    match host {
        Some(host) if !is_loopback_host(host) => format!("{scheme}://{host}/"),
        host => {
            let port = host
                .and_then(|h| h.rsplit_once(':'))
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(bind.port());
            match lan_addresses().first() {
                Some(ip) if !bind.ip().is_loopback() => format!("{scheme}://{ip}:{port}/"),
                _ => format!("{scheme}://{}/", host.unwrap_or("127.0.0.1")),
            }
        }
    }
}

/// Query of `/invite` and `/invite.svg`.
#[derive(Debug, Deserialize)]
pub struct InviteQuery {
    /// The room to link to; the lobby when absent.
    pub room: Option<String>,
    /// `1` to link to spectating.
    pub spectate: Option<String>,
}

/// The `/invite` answer.
#[derive(Debug, Serialize)]
pub struct Invite {
    /// The link.
    pub url: String,
    /// False when the link only works on this machine (the server is bound to loopback, or
    /// no LAN address was found).
    pub reachable_from_lan: bool,
}

/// The invite for a request; `Err` is the message of a 400. Public (hidden) for the
/// `http_headers` fuzz target.
#[doc(hidden)]
pub fn invite(
    ctx: &ServerContext,
    headers: &HeaderMap,
    query: &InviteQuery,
) -> Result<Invite, &'static str> {
    // `Some(None)`: a Host that is not a host and port.
    let host = headers.get(header::HOST).map(|h| h.to_str().ok().filter(|h| is_valid_host(h)));
    if ctx.config.public_url.is_none() && host == Some(None) {
        return Err("the Host header must be a host name or address and an optional port, at \
                    most 255 bytes, for an invite link\n");
    }
    let host = host.flatten();
    let scheme = if ctx.config.tls_cert.is_some() { "https" } else { "http" };
    let base = invite_base(ctx.config.public_url.as_deref(), host, ctx.config.bind, scheme);
    let mut url = base;
    if let Some(room) = &query.room {
        if !is_valid_room_name(room) {
            return Err("room must be 1 to 16 characters of A-Z a-z 0-9 - _ .\n");
        }
        url.push_str("?room=");
        url.push_str(room);
        if query.spectate.as_deref() == Some("1") {
            url.push_str("&spectate=1");
        }
    }
    let reachable_from_lan = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|host| !is_loopback_host(host));
    Ok(Invite { url, reachable_from_lan })
}

/// `GET /invite?room=NAME[&spectate=1]`: the link a phone should open, as JSON.
pub async fn invite_json(
    State(ctx): State<Arc<ServerContext>>,
    headers: HeaderMap,
    Query(query): Query<InviteQuery>,
) -> Response {
    match invite(&ctx, &headers, &query) {
        Ok(invite) => ([(header::CACHE_CONTROL, "no-cache")], Json(invite)).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, message).into_response(),
    }
}

/// The QR code of `text` as an SVG document (dark modules on white, with the quiet zone a
/// scanner needs), or `None` if the text is too long for a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .dark_color(svg::Color("#0b1020"))
            .light_color(svg::Color("#ffffff"))
            .min_dimensions(200, 200)
            .build(),
    )
}

/// `GET /invite.svg?room=NAME[&spectate=1]`: the link as a QR code.
pub async fn invite_svg(
    State(ctx): State<Arc<ServerContext>>,
    headers: HeaderMap,
    Query(query): Query<InviteQuery>,
) -> Response {
    let invite = match invite(&ctx, &headers, &query) {
        Ok(invite) => invite,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    match qr_svg(&invite.url) {
        Some(svg) => {
            let mut response = svg.into_response();
            let out = response.headers_mut();
            out.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
            out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the link is too long for a QR code\n")
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "0.0.0.0:80",
            "a.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["192.168.1.20:8080", "play.example.com", "[fe80::1]:80", "10.0.0.2"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn only_hosts_and_ports_are_valid_hosts() {
        let longest = format!(
            "{}.{}.{}.{}:8080",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(58)
        );
        assert_eq!(longest.len(), MAX_INVITE_HOST);
        for host in [
            "localhost",
            "192.168.1.20:8080",
            "Game-Box.local",
            "my_pc.lan.:80",
            "[::1]",
            "[fd00::5]:65535",
            "xn--bcher-kva.example",
            longest.as_str(),
        ] {
            assert!(is_valid_host(host), "{host}");
        }
        let too_long = format!("a{longest}");
        for host in [
            "",
            ":80",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "host:080080",
            "host:80:80",
            "a..b",
            ".a",
            "user@host",
            "evil.example/phish?x=",
            "a b",
            "b\u{fc}cher.example",
            "[fd00::5",
            "[fd00::5]x",
            "[fd00::5]:",
            "[not-v6]:80",
            "fd00::5",
            too_long.as_str(),
        ] {
            assert!(!is_valid_host(host), "{host}");
        }
    }

    #[test]
    fn invite_base_prefers_public_url_then_a_real_host() {
        let bind: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(
            invite_base(Some("https://play.example.com/"), Some("localhost"), bind, "http"),
            "https://play.example.com/"
        );
        assert_eq!(
            invite_base(None, Some("192.168.1.20:8080"), bind, "http"),
            "http://192.168.1.20:8080/"
        );
        let loopback: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            invite_base(None, Some("127.0.0.1:9000"), loopback, "http"),
            "http://127.0.0.1:9000/"
        );
        // Bound to all interfaces and opened on loopback: the LAN address when there is one.
        let base = invite_base(None, Some("127.0.0.1:8080"), bind, "http");
        match lan_addresses().first() {
            Some(ip) => assert_eq!(base, format!("http://{ip}:8080/")),
            None => assert_eq!(base, "http://127.0.0.1:8080/"),
        }
    }

    #[test]
    fn lan_addresses_are_never_loopback() {
        assert!(lan_addresses().iter().all(|ip| !ip.is_loopback() && !ip.is_unspecified()));
        assert_eq!(lan_base_url("127.0.0.1:8080".parse().unwrap()), None);
        assert_eq!(
            lan_base_url("10.1.2.3:8080".parse().unwrap()).as_deref(),
            Some("http://10.1.2.3:8080/")
        );
    }

    #[test]
    fn private_networks_are_told_from_public_addresses() {
        for ip in [
            "10.0.0.5",
            "172.16.1.1",
            "192.168.1.20",
            "127.0.0.1",
            "169.254.3.4",
            "fd00::5",
            "fe80::1",
            "::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(is_private_network(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "203.0.113.7",
            "8.8.8.8",
            "100.64.0.1",
            "172.32.0.1",
            "2001:db8::1",
            "::ffff:203.0.113.7",
        ] {
            assert!(!is_private_network(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn qr_codes_render_as_svg() {
        let svg = qr_svg("http://192.168.1.20:8080/?room=arena-1").expect("fits");
        assert!(svg.contains("<svg") && svg.contains("<path"));
        assert!(qr_svg(&"x".repeat(4000)).is_none(), "too long for any QR version");
        // The longest invite a client's Host can make (`https://`, a Host of the longest
        // accepted, `/?room=` and 16 bytes, `&spectate=1`) fits: /invite.svg never answers 500
        // for it. The `http_headers` fuzz target holds links to 300 bytes.
        const { assert!(8 + MAX_INVITE_HOST + 1 + 22 + 11 <= 300) };
        assert!(qr_svg(&"x".repeat(300)).is_some(), "300 bytes fit a QR code");
    }
}
