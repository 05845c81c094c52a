//! The HTTP fallback's POST bodies (`POST /fallback/send`): any body, built from records and
//! raw bytes, through the server's strict record reader (`server/src/fallback/records.rs`).
//!
//! Invariants:
//! - what it reads is what an independent reading of the body (`expected` below: RFC 6455's
//!   base framing, unmasked and unfragmented, with the limits the module documents) finds:
//!   the same messages, heartbeats and close (code and UTF-8 reason, cut to 123 bytes on a
//!   character boundary) in order, nothing after a close, and the first bad record refused
//!   with the close code a WebSocket would get (1002, 1003 for text, 1007 for a close reason
//!   that is not UTF-8, 1009 for a message above 256 bytes);
//! - a refusal's HTTP status, as `send_answer` (fallback/mod.rs) makes it, is 413 exactly when
//!   the code is 1009, else 400; its reason is one line that fits a close frame;
//! - the records accepted are a prefix of the body: reading just that prefix gives them again,
//!   with no refusal.
#![no_main]

use axum::body::Bytes;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;
use tickwire_fuzz::inputs::RecordsInput;
use tickwire_server::frame::MAX_CLOSE_REASON;
use tickwire_server::fuzzing::{BadRecord, parse_records};
use tickwire_shared::MAX_CLIENT_MESSAGE_SIZE;
use tungstenite::Message;

/// A record as read: a message's payload, a heartbeat, or a close (its code and reason).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Message(Vec<u8>),
    Heartbeat,
    Close(Option<(u16, String)>),
}

fn from_server(message: &Message) -> Record {
    match message {
        Message::Binary(payload) => Record::Message(payload.to_vec()),
        Message::Pong(payload) => {
            assert!(payload.is_empty(), "a heartbeat carries nothing on");
            Record::Heartbeat
        }
        Message::Close(frame) => {
            Record::Close(frame.as_ref().map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
        }
        other => panic!("the reader made a {other:?} of a POST body"),
    }
}

/// The body read record by record, RFC 6455 section 5.2 with the fallback's rules: the
/// records read, where they end, and the close code of the first bad one.
fn expected(body: &[u8]) -> (Vec<Record>, usize, Option<u16>) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < body.len() {
        match record(&body[at..]) {
            Ok((record, len)) => {
                at += len;
                let closing = matches!(record, Record::Close(_));
                records.push(record);
                if closing {
                    break;
                }
            }
            Err(code) => return (records, at, Some(code)),
        }
    }
    (records, at, None)
}

/// The record `rest` starts with and its length, or the close code it gets. A record is
/// judged once its header (first two bytes and extended length) is whole.
fn record(rest: &[u8]) -> Result<(Record, usize), u16> {
    const PROTOCOL: u16 = 1002;
    let [b0, b1, ..] = *rest else { return Err(PROTOCOL) };
    let (fin, rsv, opcode) = (b0 >> 7, (b0 >> 4) & 7, b0 & 0x0f);
    let (masked, short) = (b1 >> 7, b1 & 0x7f);
    if rsv != 0 || masked != 0 || fin == 0 || opcode == 0 {
        // Reserved bits, a mask, a fragment or a continuation.
        return Err(PROTOCOL);
    }
    let (len, header): (u128, usize) = match short {
        126 => match rest.get(2..4) {
            Some(l) => (u128::from(l[0]) << 8 | u128::from(l[1]), 4),
            None => return Err(PROTOCOL),
        },
        127 => match rest.get(2..10) {
            Some(l) => (l.iter().fold(0u128, |n, &b| n << 8 | u128::from(b)), 10),
            None => return Err(PROTOCOL),
        },
        n => (u128::from(n), 2),
    };
    match opcode {
        0x1 => return Err(1003),
        0x2 if len > MAX_CLIENT_MESSAGE_SIZE as u128 => return Err(1009),
        0x8 | 0x9 if len > 125 => return Err(PROTOCOL),
        0x2 | 0x8 | 0x9 => {}
        _ => return Err(PROTOCOL),
    }
    let end = header + len as usize;
    let payload = rest.get(header..end).ok_or(PROTOCOL)?;
    let record = match (opcode, payload) {
        (0x2, _) => Record::Message(payload.to_vec()),
        (0x9, _) => Record::Heartbeat,
        (_, []) => Record::Close(None),
        (_, [_]) => return Err(PROTOCOL),
        (_, [high, low, reason @ ..]) => {
            let reason = std::str::from_utf8(reason).map_err(|_| 1007u16)?;
            // Cut to the close reason's limit, whole characters only.
            let mut cut = String::new();
            for c in reason.chars() {
                if cut.len() + c.len_utf8() > MAX_CLOSE_REASON {
                    break;
                }
                cut.push(c);
            }
            Record::Close(Some((u16::from_be_bytes([*high, *low]), cut)))
        }
    };
    Ok((record, end))
}

fn check_refusal(bad: &BadRecord) {
    assert!(matches!(bad.code, 1002 | 1003 | 1007 | 1009), "{bad:?}");
    // `send_answer` answers `StatusCode::from_u16(bad.status)`, 400 if that fails.
    let status = StatusCode::from_u16(bad.status).unwrap_or(StatusCode::BAD_REQUEST);
    let too_big = bad.code == 1009;
    assert_eq!(status == StatusCode::PAYLOAD_TOO_LARGE, too_big, "{bad:?}");
    assert_eq!(status == StatusCode::BAD_REQUEST, !too_big, "{bad:?}");
    assert!(
        !bad.reason.is_empty()
            && !bad.reason.contains('\n')
            && bad.reason.len() <= MAX_CLOSE_REASON,
        "{bad:?}"
    );
}

fuzz_target!(|input: RecordsInput| {
    let body = Bytes::from(input.body());
    let (messages, bad) = parse_records(&body);
    let read: Vec<Record> = messages.iter().map(from_server).collect();
    let (want, end, want_code) = expected(&body);
    assert_eq!(read, want, "records read");
    assert_eq!(bad.as_ref().map(|b| b.code), want_code, "refusal: {bad:?}");
    if let Some(bad) = &bad {
        check_refusal(bad);
    }
    // The records accepted stand alone: the body's prefix that holds them reads the same.
    if bad.is_some() || end < body.len() {
        let (again, none) = parse_records(&body.slice(..end));
        assert_eq!(none, None, "a prefix of whole records");
        assert_eq!(again.iter().map(from_server).collect::<Vec<_>>(), want, "the prefix");
    }
});
