//! The server's small parsers of request heads: any request head, parsed by httparse as hyper
//! does, through what the server reads of it outside the upgrade checks: the HTTP fallback's
//! `Tickwire-Session` (`SessionId::parse`), `Tickwire-Poll` and `Tickwire-Seq`
//! (`fallback::number`), a query's parameters (`http::query_param`, which reads `?token=`),
//! the web client's `Accept-Encoding` and `If-None-Match` (`web::accepts_gzip`,
//! `web::not_modified`), and the `Host` an invite is drawn from (`lan::invite`,
//! `is_valid_host`, `is_loopback_host`), on servers with and without `--public-url`, TLS, and
//! bound to loopback or to all interfaces. (`Cluster::verify_hop` is not here: it reads
//! nothing but a secret compare until Redis has handed the node the fleet's secret.)
//!
//! Invariants (models read httparse's headers, not the server's `HeaderMap`):
//! - a session id is accepted exactly when it is 32 hex digits (either case, spaces around),
//!   and its `Display` is those digits in lower case, which parse back to the same id;
//! - a number header is accepted exactly when it is ASCII decimal digits (spaces around) of a
//!   value that fits a u64, as that value; otherwise 400; absent, `None`;
//! - a query parameter is the first `name=` pair's value, `+` as a space and `%XX` decoded
//!   (a `%` without two hex digits after it kept as it is), `None` when that is not UTF-8;
//! - `accepts_gzip` is false without the header, true for a bare `gzip`, true only when an
//!   item names `gzip` or `*`, and where the header is RFC 9110's well-formed list with one
//!   `gzip` and one `*` at most, what section 12.5.3 says;
//! - `not_modified` is false without a readable `If-None-Match`, true when the list names the
//!   ETag, weak or strong, or `*`, and true only when the header holds one of them;
//! - an invite is refused exactly for a room name off the rule, or (without `--public-url`)
//!   a `Host` that is not text or not a host and port; a valid `Host` is an authority the
//!   `http` crate reads back as written, at most 255 bytes; the link is the Host's when that is
//!   not loopback, never longer than 300 bytes, so it always fits a QR code (never a 500; a
//!   QR code of 300 bytes is `lan.rs`'s unit test: drawing one here is too slow);
//! - `is_loopback_host` agrees with `std` on IP literals, and takes `localhost`.
#![no_main]

use http::{HeaderValue, StatusCode, Uri};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use tickwire_fuzz::inputs::HeadInput;
use tickwire_fuzz::{header_text, hyper_request};
use tickwire_server::ServerConfig;
use tickwire_server::context::ServerContext;
use tickwire_server::fallback::session::SessionId;
use tickwire_server::fallback::{POLL_HEADER, SEQ_HEADER, SESSION_HEADER, number};
use tickwire_server::http::query_param;
use tickwire_server::lan::{InviteQuery, MAX_INVITE_HOST, invite, is_loopback_host, is_valid_host};
use tickwire_server::web::{accepts_gzip, not_modified};
use tickwire_shared::is_valid_room_name;

const PUBLIC_URL: &str = "https://play.example.com";

/// ETags of the web client's assets: a release's, its gzipped copy's, a `--web-root`'s.
const ETAGS: [&str; 4] = [
    "\"0123abcd4567-89abcdef01234567\"",
    "\"0123abcd4567-89abcdef01234567-gz\"",
    "\"dev-0011223344556677\"",
    "\"x\"",
];

/// Servers by `HeadInput::server` bits 0 (`--public-url`), 1 (TLS) and 2 (loopback).
static SERVERS: LazyLock<Vec<Arc<ServerContext>>> = LazyLock::new(|| {
    (0..8)
        .map(|bits| {
            let mut config = ServerConfig::default();
            if bits & 1 != 0 {
                config.public_url = Some(PUBLIC_URL.into());
            }
            if bits & 2 != 0 {
                config.tls_cert = Some("cert.pem".into());
                config.tls_key = Some("key.pem".into());
            }
            let ip = if bits & 4 != 0 { "127.0.0.1" } else { "0.0.0.0" };
            config.bind = format!("{ip}:8080").parse().expect("an address");
            config.seed = Some(1);
            let (_, shutdown) = tokio::sync::watch::channel(false);
            ServerContext::new(config, shutdown)
        })
        .collect()
});

/// The first value of header `name` (the one `HeaderMap::get` answers), as bytes.
fn first<'h>(headers: &'h [httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

/// Optional whitespace around a header value's text (`str::trim` on visible ASCII and tabs).
fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

fn check_session(headers: &[httparse::Header<'_>]) {
    let Some(text) = first(headers, SESSION_HEADER).and_then(header_text) else { return };
    let id = SessionId::parse(text);
    let digits = trim_ows(text);
    let hex = digits.len() == 32 && digits.bytes().all(|b| b.is_ascii_hexdigit());
    assert_eq!(id.is_some(), hex, "session id {text:?}");
    if let Some(id) = id {
        let shown = id.to_string();
        assert_eq!(shown, digits.to_ascii_lowercase(), "Display");
        assert_eq!(SessionId::parse(&shown), Some(id), "round trip");
        let tag = u32::from_str_radix(&shown[..8], 16).expect("hex").to_be_bytes();
        assert_eq!(id.tag(), tag, "the node tag is the first 4 bytes");
    }
}

fn check_numbers(headers: &[httparse::Header<'_>], map: &http::HeaderMap) {
    for name in [POLL_HEADER, SEQ_HEADER] {
        let want = first(headers, name).map(|value| {
            let digits = trim_ows(header_text(value).unwrap_or(""));
            let decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            decimal
                .then(|| {
                    digits
                        .bytes()
                        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
                })
                .flatten()
        });
        match (number(map, name).map_err(|r| r.status()), want) {
            (Ok(got), None) => assert_eq!(got, None, "{name} absent"),
            (Ok(got), Some(Some(n))) => assert_eq!(got, Some(n), "{name}"),
            (Err(status), Some(None)) => assert_eq!(status, StatusCode::BAD_REQUEST, "{name}"),
            (got, want) => panic!("{name}: {got:?}, expected {want:?}"),
        }
    }
}

/// `application/x-www-form-urlencoded` decoding, read with patterns rather than indices.
fn decode(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((&b, tail)) = rest.split_first() {
        rest = match (b, tail) {
            (b'%', [h, l, tail @ ..]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let pair = [*h, *l];
                let pair = std::str::from_utf8(&pair).expect("hex digits");
                out.push(u8::from_str_radix(pair, 16).expect("hex digits"));
                tail
            }
            (b'+', _) => {
                out.push(b' ');
                tail
            }
            (b, _) => {
                out.push(b);
                tail
            }
        };
    }
    out
}

fn param(query: &str, name: &str) -> Option<String> {
    let value = query.split('&').find_map(|pair| match pair.find('=') {
        Some(i) => (&pair[..i] == name).then(|| &pair[i + 1..]),
        None => (pair == name).then_some(""),
    })?;
    String::from_utf8(decode(value.as_bytes())).ok()
}

fn check_query(query: &str) {
    for name in ["token", "room", "spectate", ""] {
        let got = query_param(query, name);
        assert_eq!(got, param(query, name), "{name:?} in {query:?}");
    }
}

/// RFC 9110 section 12.5.3 on `Accept-Encoding` lists that are well formed, with `gzip` and
/// `*` at most once each; `None` for the others. A `gzip` item decides; without one, `*`.
fn rfc_gzip(values: &[&str]) -> Option<bool> {
    let (mut gzip, mut any) = (None, None);
    for item in values.iter().flat_map(|v| v.split(',')).map(trim_ows) {
        if item.is_empty() {
            continue;
        }
        let (coding, weight) = match item.split_once(';') {
            Some((coding, weight)) => (trim_ows(coding), Some(trim_ows(weight))),
            None => (item, None),
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if coding.is_empty() || !coding.bytes().all(token) {
            return None;
        }
        let q = match weight {
            None => true,
            Some(weight) => {
                let value = weight.strip_prefix("q=").or_else(|| weight.strip_prefix("Q="))?;
                let zero = value.strip_prefix('0').filter(|rest| {
                    rest.is_empty()
                        || rest
                            .strip_prefix('.')
                            .is_some_and(|d| d.len() <= 3 && d.bytes().all(|b| b.is_ascii_digit()))
                });
                let one = value.strip_prefix('1').filter(|rest| {
                    rest.is_empty()
                        || rest
                            .strip_prefix('.')
                            .is_some_and(|d| d.len() <= 3 && d.bytes().all(|b| b == b'0'))
                });
                match (zero, one) {
                    (Some(digits), _) => digits.bytes().any(|b| (b'1'..=b'9').contains(&b)),
                    (None, Some(_)) => true,
                    (None, None) => return None,
                }
            }
        };
        let slot = if coding.eq_ignore_ascii_case("gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(q);
    }
    Some(gzip.or(any).unwrap_or(false))
}

fn check_gzip(headers: &[httparse::Header<'_>], map: &http::HeaderMap) {
    let got = accepts_gzip(map);
    let values: Vec<&str> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .filter_map(|h| header_text(h.value))
        .collect();
    let codings: Vec<(&str, bool)> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|item| {
            let mut parts = item.split(';');
            (parts.next().unwrap_or("").trim(), parts.next().is_none())
        })
        .collect();
    if got {
        assert!(codings.iter().any(|(c, _)| c.eq_ignore_ascii_case("gzip") || *c == "*"));
    }
    if codings.iter().any(|(c, bare)| c.eq_ignore_ascii_case("gzip") && *bare) {
        assert!(got, "a bare gzip: {values:?}");
    }
    if let Some(rfc) = rfc_gzip(&values) {
        assert_eq!(got, rfc, "RFC 9110 on {values:?}");
    }
}

fn check_etag(headers: &[httparse::Header<'_>], map: &http::HeaderMap, etag: &'static str) {
    let got = not_modified(map, &HeaderValue::from_static(etag));
    let Some(value) = first(headers, "if-none-match").and_then(header_text) else {
        assert!(!got, "no If-None-Match");
        return;
    };
    let named = value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag));
    if named {
        assert!(got, "{value:?} names {etag}");
    }
    if got {
        assert!(value.contains('*') || value.contains(etag), "{value:?} against {etag}");
    }
}

/// The IP address a valid Host names, if it is one.
fn host_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?.parse().ok(),
        None => host.split(':').next()?.parse().ok(),
    }
}

fn check_host(host: &str) {
    let valid = is_valid_host(host);
    let loopback = is_loopback_host(host);
    if !valid {
        return;
    }
    assert!(host.len() <= MAX_INVITE_HOST, "{host:?}");
    assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:[]".contains(&b)), "{host:?}");
    let uri: Uri = format!("http://{host}/").parse().unwrap_or_else(|e| panic!("{host:?}: {e}"));
    assert_eq!(uri.authority().map(|a| a.as_str()), Some(host), "the authority as written");
    if let Some(ip) = host_ip(host) {
        assert_eq!(loopback, ip.is_loopback() || ip.is_unspecified(), "{host:?}");
    }
    let name = host.rsplit_once(':').filter(|_| !host.ends_with(']')).map_or(host, |(n, _)| n);
    if name.eq_ignore_ascii_case("localhost") {
        assert!(loopback, "{host:?}");
    }
}

fn check_invite(
    input: &HeadInput,
    headers: &[httparse::Header<'_>],
    map: &http::HeaderMap,
    query: &str,
) {
    let ctx = &SERVERS[usize::from(input.server & 7)];
    let public = input.server & 1 != 0;
    let tls = input.server & 2 != 0;
    let query =
        InviteQuery { room: query_param(query, "room"), spectate: query_param(query, "spectate") };
    let host = first(headers, "host");
    let host_text = host.and_then(header_text);
    let host_ok = host.is_none() || host_text.is_some_and(is_valid_host);
    let room_ok = query.room.as_deref().is_none_or(is_valid_room_name);
    match invite(ctx, map, &query) {
        Ok(invite) => {
            assert!((public || host_ok) && room_ok, "{invite:?} for {host_text:?}, {query:?}");
            let scheme = if public || tls { "https" } else { "http" };
            assert!(invite.url.starts_with(&format!("{scheme}://")), "{invite:?}");
            assert!(invite.url.len() <= 300, "{invite:?}");
            if let Some(host) = host_text.filter(|h| !public && !is_loopback_host(h)) {
                assert!(invite.url.starts_with(&format!("{scheme}://{host}/")), "{invite:?}");
            }
        }
        Err(message) => {
            assert!(!((public || host_ok) && room_ok), "{message:?} for {host_text:?}, {query:?}");
            assert!(message.ends_with('\n') && message.lines().count() == 1, "{message:?}");
        }
    }
}

fuzz_target!(|input: HeadInput| {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = parsed.parse(&input.head) else { return };
    let Some(path) = parsed.path else { return };
    // The raw request target's query: wider than what `Uri` lets through.
    if let Some((_, query)) = path.split_once('?') {
        check_query(query);
    }
    let Some(request) = hyper_request(&parsed) else { return };
    let map = request.headers();
    let query = request.uri().query().unwrap_or("");
    check_query(query);
    check_session(parsed.headers);
    check_numbers(parsed.headers, map);
    check_gzip(parsed.headers, map);
    check_etag(parsed.headers, map, ETAGS[usize::from((input.server >> 4) & 3)]);
    if let Some(host) = first(parsed.headers, "host").and_then(header_text) {
        check_host(host);
    }
    check_invite(&input, parsed.headers, map, query);
});
