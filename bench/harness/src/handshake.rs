//! The WebSocket opening handshake (RFC 6455 section 4) done by hand on both sides: the
//! swarm writes the upgrade request and reads the `101` itself, and the write() floor server
//! answers it, so neither pays for a WebSocket library it does not use. Heads are parsed by
//! `httparse`; the key and its accept value come from tungstenite.

use thiserror::Error;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Longest request or response head either side reads before giving up on the peer.
pub const MAX_HEAD: usize = 8 * 1024;

/// Headers read at most; a real upgrade has about ten.
const MAX_HEADERS: usize = 32;

/// A handshake that cannot go on. Each names what the peer sent, for the report's
/// refusals-by-reason table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// Not an HTTP/1.1 head.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// No blank line within [`MAX_HEAD`] bytes.
    #[error("HTTP head longer than {MAX_HEAD} bytes")]
    TooLong,
    /// The server answered with another status than `101` (e.g. 429, 503).
    #[error("HTTP {status} {reason}")]
    Refused {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A `101` whose `Sec-WebSocket-Accept` does not match the key.
    #[error("101 with a wrong Sec-WebSocket-Accept")]
    WrongAccept,
    /// The client's request is not a WebSocket upgrade the server takes; the status and
    /// message to answer it with.
    #[error("{status}: {message}")]
    BadRequest {
        /// 400, 404 or 426.
        status: u16,
        /// Plain-text body.
        message: &'static str,
    },
}

/// A head read whole: its value and how many bytes it took (what follows is WebSocket data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<T> {
    /// The parsed head.
    pub value: T,
    /// Length of the head, blank line included.
    pub len: usize,
}

fn header<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The client's upgrade request for `path` on `host`, offering `subprotocol` if any.
pub fn upgrade_request(host: &str, path: &str, key: &str, subprotocol: Option<&str>) -> String {
    let protocol =
        subprotocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
    )
}

/// Reads the server's answer to [`upgrade_request`] sent with `key`: `Ok(None)` until the
/// head is whole, then the head's length if it is a valid `101`.
pub fn read_response(bytes: &[u8], key: &str) -> Result<Option<Head<()>>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => {
            return Err(HandshakeError::TooLong);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    if status != 101 {
        let reason = response.reason.unwrap_or("").to_string();
        return Err(HandshakeError::Refused { status, reason });
    }
    if header(response.headers, "Sec-WebSocket-Accept") != Some(&derive_accept_key(key.as_bytes()))
    {
        return Err(HandshakeError::WrongAccept);
    }
    Ok(Some(Head { value: (), len }))
}

/// What a server needs of a valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// `Sec-WebSocket-Key`, to answer with its accept value.
    pub key: String,
}

/// Reads a client's upgrade request for `path`: `Ok(None)` until the head is whole, a
/// [`HandshakeError::BadRequest`] (with the status to answer) when it is not an upgrade of
/// `path`.
pub fn read_request(
    bytes: &[u8],
    path: &str,
) -> Result<Option<Head<UpgradeRequest>>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => {
            return Err(HandshakeError::TooLong);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    let bad = |status, message| Err(HandshakeError::BadRequest { status, message });
    if request.method != Some("GET") || request.version != Some(1) {
        return bad(400, "a WebSocket upgrade is an HTTP/1.1 GET");
    }
    if request.path.map(|p| p.split('?').next() == Some(path)) != Some(true) {
        return bad(404, "no such path: WebSocket upgrades go to /ws");
    }
    if !has_token(request.headers, "Upgrade", "websocket")
        || !has_token(request.headers, "Connection", "upgrade")
    {
        return bad(426, "Upgrade: websocket and Connection: Upgrade required");
    }
    if header(request.headers, "Sec-WebSocket-Version") != Some("13") {
        return bad(426, "Sec-WebSocket-Version: 13 required");
    }
    match header(request.headers, "Sec-WebSocket-Key") {
        Some(key) if !key.is_empty() => {
            Ok(Some(Head { value: UpgradeRequest { key: key.to_string() }, len }))
        }
        _ => bad(400, "Sec-WebSocket-Key missing"),
    }
}

/// The `101 Switching Protocols` answer to a request with `key`.
pub fn accept_response(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// A plain-text refusal that closes the connection.
pub fn refusal(status: u16, message: &str) -> String {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        426 => "Upgrade Required",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{message}\n",
        message.len() + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 section 1.3's key and accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn request_and_response_round_trip() {
        let request = upgrade_request("127.0.0.1:8080", "/ws", KEY, Some("tickwire.v1"));
        assert!(request.contains("Sec-WebSocket-Protocol: tickwire.v1\r\n"));
        let head = read_request(request.as_bytes(), "/ws").unwrap().unwrap();
        assert_eq!(head, Head { value: UpgradeRequest { key: KEY.into() }, len: request.len() });

        let mut response = accept_response(KEY).into_bytes();
        assert!(String::from_utf8_lossy(&response).contains(ACCEPT));
        let head_len = response.len();
        response.extend_from_slice(&[0x82, 0x00]);
        assert_eq!(read_response(&response, KEY), Ok(Some(Head { value: (), len: head_len })));
        assert_eq!(read_response(&response[..head_len - 1], KEY), Ok(None));
    }

    #[test]
    fn refusals_and_wrong_accept() {
        let refused = refusal(426, "Sec-WebSocket-Version: 13 required");
        assert_eq!(
            read_response(refused.as_bytes(), KEY),
            Err(HandshakeError::Refused { status: 426, reason: "Upgrade Required".into() })
        );
        let wrong = accept_response("another key");
        assert_eq!(read_response(wrong.as_bytes(), KEY), Err(HandshakeError::WrongAccept));
        let mut endless = b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: ".to_vec();
        endless.resize(MAX_HEAD, b'a');
        assert_eq!(read_response(&endless, KEY), Err(HandshakeError::TooLong));
        assert!(matches!(read_response(b"xyz\r\n\r\n", KEY), Err(HandshakeError::Malformed(_))));
    }

    #[test]
    fn server_refuses_what_is_not_an_upgrade_of_its_path() {
        let status = |request: &str| match read_request(request.as_bytes(), "/ws") {
            Err(HandshakeError::BadRequest { status, .. }) => status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(&upgrade_request("h", "/other", KEY, None)), 404);
        assert_eq!(status("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n"), 426);
        assert_eq!(status(&upgrade_request("h", "/ws", KEY, None).replace("GET", "POST")), 400);
        let no_key = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                      Sec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(status(no_key), 400);
        assert_eq!(read_request(b"GET /ws HTTP/1.1\r\nHost:", "/ws"), Ok(None));
    }
}
