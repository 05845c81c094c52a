//! The HTTP/1.1 upgrade: the request we write and an incremental check of the response,
//! which may arrive split at any byte.

use super::sha1;
use crate::error::HandshakeError;
use tickwire_shared::SUBPROTOCOL;

/// Length of a base64 `Sec-WebSocket-Key` (16 random bytes).
pub const KEY_LEN: usize = 24;
/// Length of a base64 `Sec-WebSocket-Accept` (a SHA-1 digest).
pub const ACCEPT_LEN: usize = 28;

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Base64 (standard alphabet, padded) of `input` into `out`; returns the length written.
/// `out` must hold `4 * ceil(len / 3)` bytes.
fn base64(input: &[u8], out: &mut [u8]) -> usize {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut len = 0;
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, s) in sextets.iter().enumerate() {
            out[len] = if i <= chunk.len() { ALPHABET[*s as usize] } else { b'=' };
            len += 1;
        }
    }
    len
}

/// The `Sec-WebSocket-Key` for 16 random bytes.
pub fn key_from_nonce(nonce: &[u8; 16]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    base64(nonce, &mut key);
    key
}

/// The `Sec-WebSocket-Accept` a server must answer to `key` (RFC 6455 section 4.2.2).
pub fn accept_for(key: &[u8; KEY_LEN]) -> [u8; ACCEPT_LEN] {
    let digest = sha1::digest(&[key, GUID]);
    let mut accept = [0u8; ACCEPT_LEN];
    base64(&digest, &mut accept);
    accept
}

// The request's fixed pieces, shared by `write_request` and `request_len`.
const GET: &[u8] = b"GET ";
const DEFAULT_PATH: &[u8] = b"/ws";
const BEFORE_HOST: &[u8] = b" HTTP/1.1\r\nHost: ";
const BEFORE_KEY: &[u8] =
    b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
      Sec-WebSocket-Key: ";
const BEFORE_PROTOCOL: &[u8] = b"\r\nSec-WebSocket-Protocol: ";
const END: &[u8] = b"\r\n\r\n";

/// Whether `path` is only a query, which goes on [`DEFAULT_PATH`].
const fn query_only(path: &str) -> bool {
    matches!(path.as_bytes().first(), Some(b'?'))
}

/// Writes the upgrade request for `GET path` on `host` (with port when not 80) into `out`. A
/// path that is only a query (`?token=...`, from `ws://host?token=...`) goes on `/ws`, the
/// default path, as a request line needs a path.
pub fn write_request(
    host: &str,
    path: &str,
    key: &[u8; KEY_LEN],
    out: &mut [u8],
) -> Result<usize, HandshakeError> {
    let default_path: &[u8] = if query_only(path) { DEFAULT_PATH } else { b"" };
    let parts: [&[u8]; 10] = [
        GET,
        default_path,
        path.as_bytes(),
        BEFORE_HOST,
        host.as_bytes(),
        BEFORE_KEY,
        key,
        BEFORE_PROTOCOL,
        SUBPROTOCOL.as_bytes(),
        END,
    ];
    let mut len = 0;
    for part in parts {
        let dst = out.get_mut(len..len + part.len()).ok_or(HandshakeError::RequestTooLarge)?;
        dst.copy_from_slice(part);
        len += part.len();
    }
    Ok(len)
}

/// The length of the request [`write_request`] writes for `host` and `path`: what the send
/// buffer must hold at least. A `const fn`, so that firmware sizes its buffer from its
/// configured URL at compile time (a join token in the URL makes the request hundreds of
/// bytes); evaluated there, it costs no flash.
pub const fn request_len(host: &str, path: &str) -> usize {
    let default_path = if query_only(path) { DEFAULT_PATH.len() } else { 0 };
    GET.len()
        + default_path
        + path.len()
        + BEFORE_HOST.len()
        + host.len()
        + BEFORE_KEY.len()
        + KEY_LEN
        + BEFORE_PROTOCOL.len()
        + SUBPROTOCOL.len()
        + END.len()
}

/// Checks the server's response head in `buf` (the bytes received so far).
///
/// `Ok(None)`: the head is not complete yet, read more. `Ok(Some(len))`: a valid upgrade whose
/// head is `len` bytes; bytes after it are already WebSocket frames. Errors are final.
pub fn parse_response(
    buf: &[u8],
    accept: &[u8; ACCEPT_LEN],
) -> Result<Option<usize>, HandshakeError> {
    // Refuse early what cannot be an HTTP response, instead of waiting for a blank line.
    let prefix = &b"HTTP/1."[..buf.len().min(7)];
    if !buf.starts_with(prefix) {
        return Err(HandshakeError::Malformed);
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    // Parsed as bytes, not `str`: UTF-8 validation, the substring searcher and Unicode
    // trimming cost ~2 KB of flash on a Cortex-M, and HTTP heads are ASCII anyway.
    let mut lines = buf[..end].split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or(HandshakeError::Malformed)?;
    let mut words = status_line.splitn(3, |&b| b == b' ');
    let version = words.next().unwrap_or(b"");
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Err(HandshakeError::Malformed);
    }
    let status = match words.next() {
        Some(&[a @ b'0'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9']) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(HandshakeError::Malformed),
    };
    if status != 101 {
        return Err(HandshakeError::Status(status));
    }
    let (mut upgrade, mut connection, mut accepted, mut protocol) = (false, false, false, false);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':').ok_or(HandshakeError::Malformed)?;
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade = value.eq_ignore_ascii_case(b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection = value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-accept") {
            accepted = value == accept;
            if !accepted {
                return Err(HandshakeError::BadAccept);
            }
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            protocol = value == SUBPROTOCOL.as_bytes();
        }
    }
    if !upgrade || !connection {
        return Err(HandshakeError::NotWebSocket);
    }
    if !accepted {
        return Err(HandshakeError::BadAccept);
    }
    if !protocol {
        return Err(HandshakeError::Subprotocol);
    }
    Ok(Some(end + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6455 section 1.3.
    const RFC_KEY: &[u8; KEY_LEN] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const RFC_ACCEPT: &[u8; ACCEPT_LEN] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(extra: &str) -> std::string::String {
        std::format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
             sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
        )
    }

    extern crate std;

    #[test]
    fn accept_matches_the_rfc_example() {
        assert_eq!(&accept_for(RFC_KEY), RFC_ACCEPT);
        assert_eq!(&key_from_nonce(b"the sample nonce"), RFC_KEY);
    }

    #[test]
    fn base64_pads() {
        for (input, expected) in [(&b"a"[..], &b"YQ=="[..]), (b"ab", b"YWI="), (b"abc", b"YWJj")] {
            let mut out = [0u8; 8];
            let len = base64(input, &mut out);
            assert_eq!(&out[..len], expected);
        }
    }

    #[test]
    fn request_offers_the_subprotocol() {
        let mut out = [0u8; 256];
        let len = write_request("example.com:8080", "/ws", RFC_KEY, &mut out).unwrap();
        let text = core::str::from_utf8(&out[..len]).unwrap();
        assert!(text.starts_with("GET /ws HTTP/1.1\r\nHost: example.com:8080\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Protocol: tickwire.v1\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert_eq!(
            write_request("example.com", "/ws", RFC_KEY, &mut out[..40]),
            Err(HandshakeError::RequestTooLarge)
        );
    }

    #[test]
    fn request_len_is_what_write_request_writes() {
        let long_token =
            "?token=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjb250cm9sbGVyLTAwMSJ9.c2lnbmF0dXJl";
        let cases = [
            ("example.com:8080", "/ws"),
            ("h", "?token=abc"),
            ("h", "/play?token=abc"),
            ("192.168.1.20:8080", long_token),
            ("a-rather-long-host-name.example.org:65535", "/ws?token=x"),
        ];
        let mut out = [0u8; 512];
        for (host, path) in cases {
            let len = write_request(host, path, RFC_KEY, &mut out).unwrap();
            assert_eq!(request_len(host, path), len, "{host} {path}");
            let one_short = write_request(host, path, RFC_KEY, &mut out[..len - 1]);
            assert_eq!(one_short, Err(HandshakeError::RequestTooLarge));
        }
        // The fixed part, as the docs of `Buffers` and the README give it: 175 bytes plus
        // host and path.
        assert_eq!(request_len("h", "/ws") - "h/ws".len(), 175);
    }

    #[test]
    fn a_query_alone_goes_on_the_default_path() {
        let mut out = [0u8; 256];
        let len = write_request("h", "?token=abc", RFC_KEY, &mut out).unwrap();
        assert!(out[..len].starts_with(b"GET /ws?token=abc HTTP/1.1\r\nHost: h\r\n"));
        let len = write_request("h", "/play?token=abc", RFC_KEY, &mut out).unwrap();
        assert!(out[..len].starts_with(b"GET /play?token=abc HTTP/1.1\r\n"));
    }

    #[test]
    fn response_split_at_every_byte_is_incomplete_until_its_end() {
        let full = response("Sec-WebSocket-Protocol: tickwire.v1\r\ndate: today\r\n");
        let bytes = full.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(parse_response(&bytes[..cut], RFC_ACCEPT), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse_response(bytes, RFC_ACCEPT), Ok(Some(bytes.len())));
        // Frame bytes right behind the head are not part of it.
        let mut more = std::vec::Vec::from(bytes);
        more.extend_from_slice(&[0x89, 0x00]);
        assert_eq!(parse_response(&more, RFC_ACCEPT), Ok(Some(bytes.len())));
    }

    #[test]
    fn bad_responses_are_refused() {
        let refuse = |text: &str| parse_response(text.as_bytes(), RFC_ACCEPT).unwrap_err();
        assert_eq!(refuse("HTTP/1.1 400 Bad Request\r\n\r\n"), HandshakeError::Status(400));
        assert_eq!(refuse("SSH-2.0-OpenSSH"), HandshakeError::Malformed);
        assert_eq!(refuse(&response("")), HandshakeError::Subprotocol);
        assert_eq!(
            refuse(&response("Sec-WebSocket-Protocol: tickwire.v2\r\n")),
            HandshakeError::Subprotocol
        );
        let wrong_accept = response("Sec-WebSocket-Protocol: tickwire.v1\r\n")
            .replace("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(refuse(&wrong_accept), HandshakeError::BadAccept);
        let no_upgrade = response("Sec-WebSocket-Protocol: tickwire.v1\r\n")
            .replace("upgrade: websocket\r\n", "");
        assert_eq!(refuse(&no_upgrade), HandshakeError::NotWebSocket);
    }
}
