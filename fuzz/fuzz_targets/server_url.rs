//! The controller's server URL: `ServerUrl::parse` on any string (it comes from a build-time
//! environment variable, or from whoever configures a device).
//!
//! Invariants, for every accepted URL:
//! - it is `ws://` (any case) + authority + path, or + authority alone with the default path
//!   `/ws`; the authority is the host, or the host, `:` and the port as written;
//! - the host is non-empty letters, digits, `-` and `.`; the port 1 to 65535 (80 when absent)
//!   and what its digits say; the path has no space, control character or `#`, and starts
//!   with `/` or `?`;
//! - `ipv4()` agrees with the standard library's strict dotted-quad parser;
//! - parsing `ws://` + authority + path again gives the same URL;
//!   and every refused one names a part: `wss://` is `TlsUnsupported`, another scheme
//!   `NotWebSocket`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use tickwire_client_embedded::{ServerUrl, UrlError};

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let scheme = |s: &str| text.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s));
    let url = match ServerUrl::parse(text) {
        Ok(url) => url,
        Err(e) => {
            match e {
                UrlError::TlsUnsupported => assert!(scheme("wss://")),
                UrlError::NotWebSocket => assert!(!scheme("ws://") && !scheme("wss://")),
                _ => assert!(scheme("ws://")),
            }
            return;
        }
    };
    assert!(scheme("ws://"));
    let (host, port, path, authority) = (url.host(), url.port(), url.path(), url.authority());
    let after_scheme = &text[5..];
    assert!(after_scheme == authority || after_scheme == [authority, path].concat());
    if after_scheme == authority {
        assert_eq!(path, "/ws", "the default path");
    }
    assert!(path.starts_with('/') || path.starts_with('?'), "{path:?}");
    assert!(path.bytes().all(|b| b > b' ' && b != 0x7f && b != b'#'), "{path:?}");
    assert!(!host.is_empty());
    assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    match authority.strip_prefix(host) {
        Some("") => assert_eq!(port, 80),
        Some(digits) => {
            let digits = digits.strip_prefix(':').expect("host, then ':' and the port");
            assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(digits.parse::<u16>(), Ok(port));
            assert_ne!(port, 0);
        }
        None => panic!("authority {authority:?} does not start with host {host:?}"),
    }
    let std_ipv4 = host.parse::<Ipv4Addr>().ok().map(|ip| ip.octets());
    assert_eq!(url.ipv4(), std_ipv4, "ipv4() vs std for {host:?}");
    let again = format!("ws://{authority}{path}");
    assert_eq!(
        ServerUrl::parse(&again).map(|u| (u.host(), u.port(), u.path())),
        Ok((host, port, path))
    );
    let endpoint = url.endpoint();
    assert_eq!((endpoint.host, endpoint.path), (authority, path));
});
