//! The records of the HTTP fallback: RFC 6455's base framing, unmasked and unfragmented.
//!
//! Downstream, a session's stream or polls carry exactly the bytes a WebSocket client would
//! get (the room's frames, built once for everyone, [`crate::frame`]): the fallback adds no
//! encoding of its own. Upstream, a POST carries the client's messages framed the same way,
//! without the mask a WebSocket client must add (it guards against proxy cache poisoning on a
//! raw socket, which an HTTP body is not). This module reads those, strictly:
//!
//! | first byte | record | payload |
//! |---|---|---|
//! | `0x82` | one protocol message | the message, at most 256 bytes |
//! | `0x88` | close | empty, or a close code (u16 big endian) and a UTF-8 reason |
//! | `0x89` | heartbeat | empty (nothing but life) |
//!
//! The second byte is the length (0-125), or 126 and a u16, or 127 and a u64, big endian;
//! the mask bit is 0. Anything else closes the session as the same fault on a WebSocket would
//! (1002, 1003 for text, 1009 for too big, 1007 for a close reason that is not UTF-8).

use crate::connection::close_code;
use crate::frame::MAX_CLOSE_REASON;
use crate::outbox::CloseRequest;
use bytes::Bytes;
use tickwire_shared::MAX_CLIENT_MESSAGE_SIZE;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Why a POST body is refused, with the close the session gets and the HTTP status the POST
/// gets. Public (hidden) for the `fallback_records` fuzz target.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The session's close code.
    pub code: u16,
    /// Why, for the close and the POST's answer.
    pub reason: String,
    /// 413 for a record too big, else 400.
    pub status: u16,
}

impl BadRecord {
    /// The session's close (no `Kick`: the fault is below the protocol, as a WebSocket framing
    /// error is).
    pub(crate) fn close(&self) -> CloseRequest {
        CloseRequest { code: self.code, reason: self.reason.clone(), kick: None }
    }
}

fn bad(code: u16, reason: impl Into<String>) -> BadRecord {
    let status = if code == close_code::TOO_BIG { 413 } else { 400 };
    BadRecord { code, reason: reason.into(), status }
}

/// The client's messages in `body`, in order: binary records as `Message::Binary`, a close
/// record as `Message::Close` (anything after it is ignored), heartbeats as `Message::Pong`
/// (life, nothing to do). On a bad record: the good ones before it, and why. Public (hidden)
/// for the `fallback_records` fuzz target.
#[doc(hidden)]
pub fn parse(body: &Bytes) -> (Vec<Message>, Option<BadRecord>) {
    let mut messages = Vec::new();
    let mut at = 0;
    while at < body.len() {
        match next(body, at) {
            Ok((message, end)) => {
                at = end;
                let closing = matches!(message, Message::Close(_));
                messages.push(message);
                if closing {
                    break;
                }
            }
            Err(bad) => return (messages, Some(bad)),
        }
    }
    (messages, None)
}

/// The record at `at`, and where the next one starts.
fn next(body: &Bytes, at: usize) -> Result<(Message, usize), BadRecord> {
    let cut = || bad(close_code::PROTOCOL, "a record is cut short at the end of the POST body");
    let head = body.get(at..at + 2).ok_or_else(cut)?;
    let (first, second) = (head[0], head[1]);
    if first & 0x70 != 0 {
        return Err(bad(close_code::PROTOCOL, "reserved bits are set in a record"));
    }
    if second & 0x80 != 0 {
        return Err(bad(close_code::PROTOCOL, "records are not masked on the HTTP fallback"));
    }
    if first & 0x80 == 0 || first & 0x0f == 0 {
        return Err(bad(close_code::PROTOCOL, "records are not fragmented on the HTTP fallback"));
    }
    let (len, start) = match second & 0x7f {
        126 => {
            let len = body.get(at + 2..at + 4).ok_or_else(cut)?;
            (u64::from(u16::from_be_bytes([len[0], len[1]])), at + 4)
        }
        127 => {
            let len = body.get(at + 2..at + 10).ok_or_else(cut)?;
            (u64::from_be_bytes(len.try_into().unwrap_or_default()), at + 10)
        }
        short => (u64::from(short), at + 2),
    };
    let opcode = first & 0x0f;
    match opcode {
        0x2 | 0x8 | 0x9 => {}
        0x1 => return Err(bad(close_code::UNSUPPORTED, "tickwire speaks binary messages only")),
        other => {
            return Err(bad(close_code::PROTOCOL, format!("unknown record type 0x{other:x}")));
        }
    }
    if opcode == 0x2 && len > MAX_CLIENT_MESSAGE_SIZE as u64 {
        return Err(bad(
            close_code::TOO_BIG,
            format!("message of {len} bytes exceeds the limit of {MAX_CLIENT_MESSAGE_SIZE}"),
        ));
    }
    if opcode != 0x2 && len > 125 {
        return Err(bad(close_code::PROTOCOL, "a close or heartbeat record above 125 bytes"));
    }
    // At most 256 bytes by now, so this cannot overflow.
    let end = start + len as usize;
    let payload = body.get(start..end).ok_or_else(cut)?;
    let message = match opcode {
        0x2 => Message::Binary(body.slice(start..end)),
        0x8 => Message::Close(close_frame(payload)?),
        _ => Message::Pong(Bytes::new()),
    };
    Ok((message, end))
}

fn close_frame(payload: &[u8]) -> Result<Option<CloseFrame>, BadRecord> {
    match payload {
        [] => Ok(None),
        [_] => Err(bad(close_code::PROTOCOL, "a close record of one byte")),
        [high, low, reason @ ..] => {
            let reason = std::str::from_utf8(reason)
                .map_err(|_| bad(close_code::INVALID_DATA, "the close reason is not UTF-8"))?;
            let mut end = reason.len().min(MAX_CLOSE_REASON);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            let code = CloseCode::from(u16::from_be_bytes([*high, *low]));
            Ok(Some(CloseFrame { code, reason: reason[..end].to_owned().into() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_bytes(bytes: &[u8]) -> (Vec<Message>, Option<BadRecord>) {
        parse(&Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn messages_close_and_heartbeats_are_read_in_order() {
        // PROTOCOL.md's `ping` vector (04 2a) as a record, a heartbeat, then a close 1000.
        let body = [0x82, 2, 0x04, 0x2a, 0x89, 0, 0x88, 4, 0x03, 0xe8, b'o', b'k', 0x82, 0];
        let (messages, bad) = parse_bytes(&body);
        assert_eq!(bad, None);
        assert_eq!(messages.len(), 3, "nothing is read after the close");
        assert_eq!(messages[0], Message::Binary(Bytes::from_static(&[0x04, 0x2a])));
        assert_eq!(messages[1], Message::Pong(Bytes::new()));
        let Message::Close(Some(frame)) = &messages[2] else { panic!("{:?}", messages[2]) };
        assert_eq!(u16::from(frame.code), 1000);
        assert_eq!(frame.reason.as_str(), "ok");
    }

    #[test]
    fn lengths_take_the_16_bit_form() {
        let mut body = vec![0x82, 126, 0, 200];
        body.extend([7; 200]);
        let (messages, bad) = parse_bytes(&body);
        assert_eq!(bad, None);
        assert!(matches!(&messages[..], [Message::Binary(b)] if b.len() == 200));
    }

    #[test]
    fn faults_close_as_a_websocket_would() {
        let code = |bytes: &[u8]| parse_bytes(bytes).1.map(|b| (b.code, b.status));
        let mut big = vec![0x82, 126, 1, 1];
        big.extend([0; 257]);
        assert_eq!(code(&big), Some((1009, 413)), "above 256 bytes");
        assert_eq!(code(&[0x82, 127, 0xff, 0, 0, 0, 0, 0, 1, 0]), Some((1009, 413)));
        assert_eq!(
            code(&[0x81, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Some((1003, 400))
        );
        assert_eq!(code(&[0x81, 1, b'x']), Some((1003, 400)), "text");
        assert_eq!(code(&[0x82, 0x81, 1, 2, 3, 4, 0]), Some((1002, 400)), "masked");
        assert_eq!(code(&[0x02, 1, 0]), Some((1002, 400)), "fragmented");
        assert_eq!(code(&[0xc2, 1, 0]), Some((1002, 400)), "reserved bits");
        assert_eq!(code(&[0x8a, 0]), Some((1002, 400)), "a pong is not a record");
        assert_eq!(code(&[0x82, 5, 1, 2]), Some((1002, 400)), "cut short");
        assert_eq!(code(&[0x82]), Some((1002, 400)), "cut in the header");
        assert_eq!(code(&[0x88, 1, 3]), Some((1002, 400)), "a one-byte close");
        assert_eq!(code(&[0x88, 3, 3, 0xe8, 0xff]), Some((1007, 400)), "reason not UTF-8");
        // The good records before a bad one still count.
        let (messages, bad) = parse_bytes(&[0x82, 1, 4, 0x81, 0]);
        assert_eq!(messages.len(), 1);
        assert!(bad.is_some());
        assert_eq!(parse_bytes(&[]), (vec![], None));
    }
}
