//! The controller's check of the server's upgrade response: `parse_response` on any bytes,
//! read whole and as the bytes arrive (at arbitrary split points).
//!
//! Invariants:
//! - incremental reading is sound: a prefix is "incomplete" (`Ok(None)`) or already gives the
//!   final answer; an error is final (more bytes never change it); an accepted head is accepted
//!   again, alone or with anything behind it, and every strict prefix of it is incomplete;
//! - an accepted head ends at the first blank line and starts `HTTP/1.x 101`;
//! - where httparse (the parser hyper uses) reads the same head, the two agree: a status other
//!   than 101 is `Status`, and a 101 is accepted exactly when the last `Upgrade` is
//!   `websocket`, the last `Connection` lists `upgrade`, every `Sec-WebSocket-Accept` is the
//!   key's and there is one, and the last `Sec-WebSocket-Protocol` is `tickwire.v1`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_client_embedded::HandshakeError;
use tickwire_client_embedded::ws::handshake::{ACCEPT_LEN, KEY_LEN, accept_for, parse_response};
use tickwire_fuzz::inputs::ResponseInput;
use tickwire_shared::SUBPROTOCOL;

/// RFC 6455 section 1.3's key: seeds carry its accept value.
const KEY: &[u8; KEY_LEN] = b"dGhlIHNhbXBsZSBub25jZQ==";

fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// What the response should get, from httparse's reading of the same head.
fn expected(
    bytes: &[u8],
    end: usize,
    accept: &[u8; ACCEPT_LEN],
) -> Option<Result<Option<usize>, HandshakeError>> {
    if !bytes.starts_with(b"HTTP/1.") {
        return None; // httparse skips blank lines before a response; the client does not
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&bytes[..end]) {
        Ok(httparse::Status::Complete(len)) if len == end => {}
        _ => return None, // httparse refuses or ends the head elsewhere: no opinion
    }
    let status = response.code?;
    if status != 101 {
        return Some(Err(HandshakeError::Status(status)));
    }
    let last = |name: &str| {
        response
            .headers
            .iter()
            .rev()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim_ascii())
    };
    let accepts =
        response.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"));
    let mut accepts = accepts.map(|h| h.value.trim_ascii()).peekable();
    let has_accept = accepts.peek().is_some();
    if accepts.any(|v| v != accept) {
        return Some(Err(HandshakeError::BadAccept));
    }
    let upgrade = last("upgrade").is_some_and(|v| v.eq_ignore_ascii_case(b"websocket"));
    let connection = last("connection").is_some_and(|v| {
        v.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    Some(if !upgrade || !connection {
        Err(HandshakeError::NotWebSocket)
    } else if !has_accept {
        Err(HandshakeError::BadAccept)
    } else if last("sec-websocket-protocol") != Some(SUBPROTOCOL.as_bytes()) {
        Err(HandshakeError::Subprotocol)
    } else {
        Ok(Some(end))
    })
}

fuzz_target!(|input: ResponseInput| {
    let accept = accept_for(KEY);
    let bytes = &input.response[..];
    let result = parse_response(bytes, &accept);

    for &cut in &input.cuts {
        let prefix = &bytes[..usize::from(cut) % (bytes.len() + 1)];
        match parse_response(prefix, &accept) {
            Ok(None) => {}
            early => assert_eq!(early, result, "a prefix answered, then the whole differed"),
        }
    }
    match result {
        Ok(Some(end)) => {
            assert_eq!(head_end(bytes), Some(end), "the head ends at the first blank line");
            assert!(bytes.starts_with(b"HTTP/1.1 101") || bytes.starts_with(b"HTTP/1.0 101"));
            assert_eq!(parse_response(&bytes[..end], &accept), Ok(Some(end)), "the head alone");
            if end <= 1024 {
                for cut in 0..end {
                    assert_eq!(parse_response(&bytes[..cut], &accept), Ok(None), "cut at {cut}");
                }
            }
        }
        Ok(None) => assert_eq!(head_end(bytes), None, "a whole head is answered"),
        Err(e) => {
            let more = [bytes, b"\r\n\r\nHTTP/1.1 101\r\n\r\n"].concat();
            assert_eq!(parse_response(&more, &accept), Err(e), "an error is final");
        }
    }
    if let Some(end) = head_end(bytes)
        && let Some(expected) = expected(bytes, end, &accept)
    {
        assert_eq!(result, expected, "parse_response vs httparse");
    }
});
