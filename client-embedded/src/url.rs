//! [`ServerUrl`]: the `ws://host[:port][/path]` a firmware is built to join.
//!
//! [`ServerUrl::parse`] is a `const fn` so a board can check its URL at compile time,
//! from an environment variable, and fail the build rather than the first connection:
//!
//! ```
//! use tickwire_client_embedded::ServerUrl;
//! const SERVER: ServerUrl<'static> = match ServerUrl::parse("ws://192.168.1.20:8080/ws") {
//!     Ok(url) => url,
//!     Err(e) => panic!("{}", e.as_str()), // the build fails saying what is wrong
//! };
//! assert_eq!(SERVER.ipv4(), Some([192, 168, 1, 20]));
//! assert_eq!(SERVER.endpoint().host, "192.168.1.20:8080");
//! ```
//!
//! `wss://` is refused: TLS on a microcontroller costs more flash and RAM than the whole
//! client, so a controller talks plain WebSocket on the LAN (or through a TLS-terminating
//! proxy that forwards `ws://`).

use crate::client::Endpoint;

/// Why a server URL was refused. Whoever configures the firmware fixes the URL.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// The URL starts with `wss://`: TLS is not supported on the controller.
    TlsUnsupported,
    /// The URL does not start with `ws://`.
    NotWebSocket,
    /// Nothing between `ws://` and the port or path.
    EmptyHost,
    /// The host holds a character that cannot appear in a host name or IPv4 address
    /// (IPv6 literals, user info and spaces are not supported), or its last label is all
    /// digits without it being an IPv4 address (`1.2.3`, `256.1.1.1`: a mistyped address).
    BadHost,
    /// The port is empty, not a number, 0 or above 65535.
    BadPort,
    /// The path holds a space, control character or `#`, which cannot go on a request line.
    BadPath,
}

impl UrlError {
    /// What is wrong, in words for whoever set the URL: a `const fn`, so a board that checks
    /// its URL when it compiles fails the build saying it (`panic!("{}", e.as_str())`).
    pub const fn as_str(self) -> &'static str {
        match self {
            UrlError::TlsUnsupported => {
                "the server URL: wss:// is not supported; use ws:// (TLS does not fit a controller)"
            }
            UrlError::NotWebSocket => "the server URL must start with ws://",
            UrlError::EmptyHost => "the server URL has no host",
            UrlError::BadHost => {
                "the server URL's host must be an IPv4 address, or letters, digits, '-' and '.' \
                 not ending in digits"
            }
            UrlError::BadPort => "the server URL's port must be a number from 1 to 65535",
            UrlError::BadPath => {
                "the server URL's path may not hold spaces, control characters or '#'"
            }
        }
    }
}

impl core::fmt::Display for UrlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for UrlError {}

/// A parsed `ws://host[:port][/path]`: port 80 and path `/ws` when left out.
///
/// It borrows the string it was parsed from (usually a `&'static str` from `env!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerUrl<'a> {
    authority: &'a str,
    host: &'a str,
    port: u16,
    path: &'a str,
}

impl<'a> ServerUrl<'a> {
    /// Parses `ws://host[:port][/path]`. A `const fn`: use it in a `const` to check a
    /// build-time URL when the firmware compiles.
    pub const fn parse(url: &'a str) -> Result<Self, UrlError> {
        let bytes = url.as_bytes();
        if starts_with(bytes, b"wss://") {
            return Err(UrlError::TlsUnsupported);
        }
        if !starts_with(bytes, b"ws://") {
            return Err(UrlError::NotWebSocket);
        }
        let (_, rest) = url.split_at(5);
        let rest_bytes = rest.as_bytes();
        // The authority ends at the first '/' (the path), '?' (a query on the default path)
        // or the end.
        let mut end = 0;
        while end < rest_bytes.len() && rest_bytes[end] != b'/' && rest_bytes[end] != b'?' {
            end += 1;
        }
        let (authority, path) = rest.split_at(end);
        let path = if path.is_empty() { "/ws" } else { path };
        if !valid_path(path.as_bytes()) {
            return Err(UrlError::BadPath);
        }

        let auth = authority.as_bytes();
        let mut colon = auth.len();
        let mut i = 0;
        while i < auth.len() {
            if auth[i] == b':' {
                colon = i;
                break;
            }
            i += 1;
        }
        let (host, port_part) = authority.split_at(colon);
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        if !valid_host(host.as_bytes()) {
            return Err(UrlError::BadHost);
        }
        let port = if port_part.is_empty() {
            80
        } else {
            match parse_port(port_part.as_bytes()) {
                Some(port) => port,
                None => return Err(UrlError::BadPort),
            }
        };
        Ok(ServerUrl { authority, host, port, path })
    }

    /// The host name or IPv4 address, without the port.
    pub const fn host(&self) -> &'a str {
        self.host
    }

    /// The TCP port (80 when the URL has none).
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The request path (and query), `/ws` when the URL has none; a query alone (`?token=...`)
    /// is sent on `/ws`.
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// `host[:port]` as written: the HTTP `Host` header value.
    pub const fn authority(&self) -> &'a str {
        self.authority
    }

    /// The host as an IPv4 address when it is a dotted quad; `None` for a name to resolve.
    pub const fn ipv4(&self) -> Option<[u8; 4]> {
        parse_ipv4(self.host.as_bytes())
    }

    /// The length of this URL's upgrade request: the least send buffer
    /// ([`Buffers`](crate::Buffers)`::tx`) that connects to it. A `const fn`: firmware with its
    /// URL in a `const` sizes its buffer at compile time, at no cost in flash.
    pub const fn upgrade_request_len(&self) -> usize {
        crate::ws::handshake::request_len(self.authority, self.path)
    }

    /// Where [`Client`](crate::Client) upgrades: this URL's `Host` header and path.
    pub const fn endpoint(&self) -> Endpoint<'a> {
        Endpoint { host: self.authority, path: self.path }
    }
}

const fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    if bytes.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if bytes[i].to_ascii_lowercase() != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Letters, digits, '-' and '.'; and a last label of digits only in a dotted quad alone. A
/// name cannot end in one (RFC 1123 2.1, RFC 3986 3.2.2), and `1.2.3` or `256.1.1.1` is a
/// mistyped address, which a resolver would look up as a name or read in some legacy form
/// (`1.2.3` as 1.2.0.3 to `inet_aton`), not refuse.
const fn valid_host(host: &[u8]) -> bool {
    let mut numeric_label = true;
    let mut i = 0;
    while i < host.len() {
        let c = host[i];
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
            return false;
        }
        numeric_label = if c == b'.' { true } else { numeric_label && c.is_ascii_digit() };
        i += 1;
    }
    // A trailing '.' (a fully qualified name) leaves an empty last label: look at the one
    // before it.
    if let [rest @ .., b'.'] = host
        && !rest.is_empty()
    {
        let mut j = rest.len();
        numeric_label = true;
        while j > 0 && rest[j - 1] != b'.' {
            numeric_label = numeric_label && rest[j - 1].is_ascii_digit();
            j -= 1;
        }
    }
    !numeric_label || parse_ipv4(host).is_some()
}

const fn valid_path(path: &[u8]) -> bool {
    let mut i = 0;
    while i < path.len() {
        let c = path[i];
        if c <= b' ' || c == 0x7f || c == b'#' {
            return false;
        }
        i += 1;
    }
    true
}

const fn parse_port(digits: &[u8]) -> Option<u16> {
    // `digits` starts with the ':'.
    if digits.len() < 2 || digits.len() > 6 {
        return None;
    }
    let mut value: u32 = 0;
    let mut i = 1;
    while i < digits.len() {
        let c = digits[i];
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + (c - b'0') as u32;
        i += 1;
    }
    if value == 0 || value > 65535 { None } else { Some(value as u16) }
}

const fn parse_ipv4(host: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut octet = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    let mut i = 0;
    while i <= host.len() {
        if i == host.len() || host[i] == b'.' {
            // Leading zeros are refused: "010" means octal to some resolvers.
            if digits == 0 || octet == 4 || value > 255 {
                return None;
            }
            octets[octet] = value as u8;
            octet += 1;
            value = 0;
            digits = 0;
        } else if host[i].is_ascii_digit() {
            if digits == 1 && value == 0 {
                return None;
            }
            value = value * 10 + (host[i] - b'0') as u32;
            digits += 1;
            if digits > 3 {
                return None;
            }
        } else {
            return None;
        }
        i += 1;
    }
    if octet == 4 { Some(octets) } else { None }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// A board checks its URL when it compiles, and the build fails with the reason: each
    /// refusal says what is wrong, as a `const` (and as `Display` for a run-time check).
    #[test]
    fn each_refusal_says_what_is_wrong_at_compile_time_too() {
        const WHY: &str = match ServerUrl::parse("wss://10.0.2.2:8080/ws") {
            Ok(_) => "",
            Err(e) => e.as_str(),
        };
        assert!(WHY.contains("wss:// is not supported"), "{WHY}");
        for (url, says) in [
            ("http://h/ws", "must start with ws://"),
            ("ws://:80/ws", "no host"),
            ("ws://256.1.1.1/ws", "host"),
            ("ws://h:0/ws", "port"),
            ("ws://h/a b", "path"),
        ] {
            let refused = ServerUrl::parse(url).unwrap_err();
            assert!(refused.as_str().contains(says), "{url}: {}", refused.as_str());
            assert_eq!(std::format!("{refused}"), refused.as_str());
        }
    }

    #[test]
    fn full_url() {
        let url = ServerUrl::parse("ws://192.168.1.20:8080/ws").unwrap();
        assert_eq!(url.host(), "192.168.1.20");
        assert_eq!(url.port(), 8080);
        assert_eq!(url.path(), "/ws");
        assert_eq!(url.authority(), "192.168.1.20:8080");
        assert_eq!(url.ipv4(), Some([192, 168, 1, 20]));
        assert_eq!(url.endpoint(), Endpoint { host: "192.168.1.20:8080", path: "/ws" });
    }

    #[test]
    fn defaults_port_80_and_path_ws() {
        let url = ServerUrl::parse("ws://game.local").unwrap();
        assert_eq!((url.host(), url.port(), url.path()), ("game.local", 80, "/ws"));
        assert_eq!(url.authority(), "game.local");
        assert_eq!(url.ipv4(), None);
        let url = ServerUrl::parse("WS://Game.local:9000").unwrap();
        assert_eq!((url.host(), url.port(), url.path()), ("Game.local", 9000, "/ws"));
    }

    #[test]
    fn keeps_path_and_query() {
        let url = ServerUrl::parse("ws://h:1/play/ws?room=lobby").unwrap();
        assert_eq!(url.path(), "/play/ws?room=lobby");
        let url = ServerUrl::parse("ws://h?x=1").unwrap();
        assert_eq!((url.authority(), url.path()), ("h", "?x=1"));
    }

    #[test]
    fn refusals_name_the_part() {
        let cases = [
            ("wss://h/ws", UrlError::TlsUnsupported),
            ("http://h/ws", UrlError::NotWebSocket),
            ("ws:/h", UrlError::NotWebSocket),
            ("", UrlError::NotWebSocket),
            ("ws://", UrlError::EmptyHost),
            ("ws://:8080/ws", UrlError::EmptyHost),
            ("ws://user@h/ws", UrlError::BadHost),
            ("ws://[::1]:80/ws", UrlError::BadHost),
            // A last label of digits only: a dotted quad or nothing.
            ("ws://1.2.3/ws", UrlError::BadHost),
            ("ws://256.1.1.1/ws", UrlError::BadHost),
            ("ws://1.2.3.4.5:8080/ws", UrlError::BadHost),
            ("ws://01.2.3.4/ws", UrlError::BadHost),
            ("ws://1.2.3.4./ws", UrlError::BadHost),
            ("ws://8080/ws", UrlError::BadHost),
            ("ws://game.42/ws", UrlError::BadHost),
            ("ws://h:/ws", UrlError::BadPort),
            ("ws://h:0/ws", UrlError::BadPort),
            ("ws://h:65536/ws", UrlError::BadPort),
            ("ws://h:80x/ws", UrlError::BadPort),
            ("ws://h:1234567/ws", UrlError::BadPort),
            ("ws://h/a b", UrlError::BadPath),
            ("ws://h/a#frag", UrlError::BadPath),
            ("ws://h/a\r\nX: y", UrlError::BadPath),
        ];
        for (input, want) in cases {
            assert_eq!(ServerUrl::parse(input), Err(want), "{input:?}");
        }
        assert_eq!(ServerUrl::parse("ws://h:65535").unwrap().port(), 65535);
    }

    #[test]
    fn names_may_hold_digits_but_not_end_in_a_numeric_label() {
        for host in ["10.0.0.1", "game.local.", "42.example", "3com.com", "a-1.b2", "x", "h7"] {
            let url = std::format!("ws://{host}:8080/ws");
            assert_eq!(ServerUrl::parse(&url).map(|u| u.host()), Ok(host), "{host}");
        }
    }

    #[test]
    fn ipv4_only_for_dotted_quads() {
        let ip = |host: &str| parse_ipv4(host.as_bytes());
        assert_eq!(ip("10.0.0.1"), Some([10, 0, 0, 1]));
        assert_eq!(ip("255.255.255.255"), Some([255; 4]));
        for not_ip in
            ["1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "01.2.3.4", "a.b.c.d", "1.2.3.4."]
        {
            assert_eq!(ip(not_ip), None, "{not_ip}");
        }
    }

    #[test]
    fn parses_in_const_context() {
        const URL: ServerUrl<'static> = match ServerUrl::parse("ws://10.1.2.3:81/x") {
            Ok(url) => url,
            Err(_) => panic!("bad url"),
        };
        const IP: Option<[u8; 4]> = URL.ipv4();
        assert_eq!(IP, Some([10, 1, 2, 3]));
    }
}
