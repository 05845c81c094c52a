//! The server's WebSocket upgrade checks: any request head, parsed by httparse as hyper does,
//! through `check_upgrade`, on servers with and without an Origin allowlist, shutting down or
//! not, for `/ws` (subprotocol `tickwire.v1` required) and `/echo` (none).
//!
//! Invariants:
//! - every request gets the answer RFC 6455 section 4.2.1 and PROTOCOL.md section 1 give, in
//!   their order (computed below from httparse's headers, not the server's `HeaderMap`):
//!   400 for anything but an HTTP/1.1 GET, 426 with `Upgrade: websocket` when neither upgrade
//!   header is there, 400 when only one is, 426 with `Sec-WebSocket-Version: 13` for another
//!   version, 400 for a missing, malformed or repeated key, 400 for a body (any
//!   `Transfer-Encoding`, a `Content-Length` other than 0), 403 for an Origin outside the
//!   allowlist or, with an allowlist, no Origin and `Sec-Fetch-Site: cross-site` or
//!   `same-site` (SECURITY.md),
//!   400 without the subprotocol, 503 with `Retry-After: 1` while shutting down;
//! - every refusal closes the connection and says why in a line of text;
//! - an accepted upgrade's `Sec-WebSocket-Accept` is the one the controller client computes
//!   (client-embedded's own SHA-1 and base64): the two sides agree.
#![no_main]

use futures_util::FutureExt;
use http::{HeaderName, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};
use tickwire_client_embedded::ws::handshake::{KEY_LEN, accept_for};
use tickwire_fuzz::inputs::HeadInput;
use tickwire_fuzz::{header_text, hyper_request};
use tickwire_server::ServerConfig;
use tickwire_server::context::ServerContext;
use tickwire_server::http::check_upgrade;
use tickwire_shared::SUBPROTOCOL;

const ALLOWED_ORIGINS: [&str; 2] = ["https://play.example.com", "http://localhost:8080"];

/// Servers by `HeadInput::server` bits 0 (allowlist) and 1 (shutting down).
static SERVERS: LazyLock<Vec<Arc<ServerContext>>> = LazyLock::new(|| {
    (0..4)
        .map(|bits| {
            let mut config = ServerConfig::default();
            if bits & 1 != 0 {
                config.allowed_origins = ALLOWED_ORIGINS.map(String::from).to_vec();
            }
            config.seed = Some(1);
            let (_, shutdown) = tokio::sync::watch::channel(bits & 2 != 0);
            ServerContext::new(config, shutdown)
        })
        .collect()
});

/// The values of header `name`, in order, as text (values that are not text are skipped).
fn values<'h>(headers: &'h [httparse::Header<'h>], name: &'h str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| header_text(h.value))
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    values(headers, name).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The first value of `name` (the one a server reads), if it is text.
fn first<'h>(headers: &'h [httparse::Header<'h>], name: &'h str) -> Option<&'h str> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| header_text(h.value))
}

/// A key is 16 bytes in base64: 22 symbols of the alphabet and `==`.
fn valid_key(key: &str) -> bool {
    let (symbols, padding) = key.split_at(key.len().min(22));
    symbols.len() == 22
        && padding == "=="
        && symbols.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// A refusal: its status, and the header that must come with it.
type Refusal = (StatusCode, Option<(HeaderName, &'static str)>);

/// The answer the request must get.
fn expected(
    method: &str,
    version: u8,
    headers: &[httparse::Header<'_>],
    allowlist: bool,
    shutting_down: bool,
    subprotocol: Option<&str>,
) -> Result<(), Refusal> {
    let upgrade = has_token(headers, "upgrade", "websocket");
    let connection = has_token(headers, "connection", "upgrade");
    if method != "GET" || version != 1 {
        return Err((StatusCode::BAD_REQUEST, None));
    }
    match (upgrade, connection) {
        (true, true) => {}
        (false, false) => {
            return Err((StatusCode::UPGRADE_REQUIRED, Some((header::UPGRADE, "websocket"))));
        }
        _ => return Err((StatusCode::BAD_REQUEST, None)),
    }
    if first(headers, "sec-websocket-version") != Some("13") {
        let version = (header::SEC_WEBSOCKET_VERSION, "13");
        return Err((StatusCode::UPGRADE_REQUIRED, Some(version)));
    }
    // One valid key; a second one, valid or not, is refused.
    let keys = headers.iter().filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"));
    if !first(headers, "sec-websocket-key").is_some_and(valid_key) || keys.count() > 1 {
        return Err((StatusCode::BAD_REQUEST, None));
    }
    // No body: any `Transfer-Encoding`, or a first `Content-Length` other than exactly `0`.
    let chunked = headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    let length = headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length"));
    if chunked || length.is_some_and(|h| h.value != b"0") {
        return Err((StatusCode::BAD_REQUEST, None));
    }
    if allowlist {
        if headers.iter().any(|h| h.name.eq_ignore_ascii_case("origin")) {
            // The first Origin, any case; one that is not text is no allowed origin.
            let origin = first(headers, "origin").unwrap_or("");
            if !ALLOWED_ORIGINS.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                return Err((StatusCode::FORBIDDEN, None));
            }
        } else {
            // No Origin: a browser's request from another site, as its first `Sec-Fetch-Site`
            // says in any case, is refused; absent, `same-origin`, `none`, anything else or a
            // value that is not text passes (a non-browser client).
            let site = first(headers, "sec-fetch-site").unwrap_or("");
            if ["cross-site", "same-site"].iter().any(|s| s.eq_ignore_ascii_case(site)) {
                return Err((StatusCode::FORBIDDEN, None));
            }
        }
    }
    if let Some(protocol) = subprotocol
        && !has_token(headers, "sec-websocket-protocol", protocol)
    {
        return Err((StatusCode::BAD_REQUEST, None));
    }
    if shutting_down {
        // Soon: its clients were just told to come back, and whoever serves next may take them.
        return Err((StatusCode::SERVICE_UNAVAILABLE, Some((header::RETRY_AFTER, "1"))));
    }
    Ok(())
}

fuzz_target!(|input: HeadInput| {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = parsed.parse(&input.head) else { return };
    let (Some(method), Some(_), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return;
    };
    let Some(request) = hyper_request(&parsed) else { return };

    let server = &SERVERS[usize::from(input.server & 3)];
    let subprotocol = (input.server & 4 == 0).then_some(SUBPROTOCOL);
    let result = check_upgrade(&request, server, subprotocol);
    let want = expected(
        method,
        version,
        parsed.headers,
        input.server & 1 != 0,
        input.server & 2 != 0,
        subprotocol,
    );
    match (result, want) {
        (Ok(accept), Ok(())) => {
            let key = first(parsed.headers, "sec-websocket-key").expect("checked");
            let key: &[u8; KEY_LEN] = key.as_bytes().try_into().expect("24 bytes");
            assert_eq!(accept.as_bytes(), accept_for(key), "server and client accept keys");
        }
        (Err(response), Err((status, with))) => {
            assert_eq!(response.status(), status, "{response:?}");
            let headers = response.headers();
            assert_eq!(headers.get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
            if let Some((name, value)) = with {
                assert_eq!(headers.get(&name).map(|v| v.as_bytes()), Some(value.as_bytes()));
            }
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .now_or_never()
                .expect("a refusal's body is ready at once")
                .expect("a refusal's body is short");
            let body = std::str::from_utf8(&body).expect("the reason is text");
            assert!(
                body.len() > 1 && body.ends_with('\n') && body.lines().count() == 1,
                "{body:?}"
            );
        }
        (result, want) => {
            panic!("check_upgrade: {:?}, expected {want:?}", result.map_err(|r| r.status()))
        }
    }
});
