//! Server messages as clients read them, the three ways: `decode_server` (std clients),
//! `decode_control` (no allocator: a snapshot yields its header) and `decode_controller` (a
//! controller: events skipped unread, a snapshot yields its tick).
//!
//! Invariants:
//! - `decode_control` is `decode_server` without the snapshot body: the same message or the
//!   same error (an unknown tag may name another type), whatever the bytes;
//! - `decode_controller` is what a controller reads of `decode_control`'s message, and where
//!   it decodes what `decode_control` refuses, that is only an event's or a snapshot
//!   header's unread rest; where it fails, it fails with `decode_control`'s error, except on
//!   a snapshot whose age bytes `decode_control` refuses: a controller passes over them
//!   unchecked (its flash is tight) and may then fail on the tick after them instead;
//! - a decoded message encodes back, no longer than it arrived, to bytes that decode to it;
//!   without a snapshot body it fits [`MAX_CONTROL_MESSAGE_SIZE`] and `encode_control` writes
//!   the same bytes; a snapshot's body is the input's tail, whatever it holds;
//! - every strict prefix of that encoding (of its header, for a snapshot) is `Truncated`;
//! - `TrailingBytes { extra }` means the bytes without their last `extra` decode; `TooLarge`
//!   comes exactly for inputs over [`MAX_SERVER_MESSAGE_SIZE`].
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_shared::codec::{
    decode_control, decode_controller, decode_server, encode_control, encode_server,
};
use tickwire_shared::{
    ControlMessage, ControllerMessage, DecodeError, MAX_CONTROL_MESSAGE_SIZE,
    MAX_SERVER_MESSAGE_SIZE, ServerMessage, ServerView,
};

/// What `decode_control` reads of a message `decode_server` reads.
fn control_of(msg: &ServerMessage) -> ControlMessage {
    match msg {
        ServerMessage::Welcome(m) => ServerView::Welcome(*m),
        ServerMessage::Snapshot(s) => ServerView::Snapshot(s.header),
        ServerMessage::Event(m) => ServerView::Event(*m),
        ServerMessage::ControllerFeedback(m) => ServerView::ControllerFeedback(*m),
        ServerMessage::Pong(m) => ServerView::Pong(*m),
        ServerMessage::Kick(m) => ServerView::Kick(*m),
    }
}

/// The same error, but for the name of the type whose tag was unknown: each decoder names
/// the message type it reads.
fn same_error(a: &DecodeError, b: &DecodeError) -> bool {
    match (a, b) {
        (DecodeError::UnknownTag { tag: x, .. }, DecodeError::UnknownTag { tag: y, .. }) => x == y,
        _ => a == b,
    }
}

fuzz_target!(|bytes: &[u8]| {
    let server = decode_server(bytes);
    let control = decode_control(bytes);
    let controller = decode_controller(bytes);

    match (&server, &control) {
        (Ok(msg), Ok(c)) => assert_eq!(&control_of(msg), c, "decode_control vs decode_server"),
        (Err(e), Err(f)) => {
            assert!(same_error(e, f), "decode_control: {f:?}, decode_server: {e:?}")
        }
        _ => panic!("decode_control: {control:?}, decode_server: {server:?}"),
    }
    match (&control, &controller) {
        (Ok(c), _) => assert_eq!(controller, Ok(ControllerMessage::from(*c)), "controller"),
        // A controller passes over a snapshot's age bytes unchecked, so where `decode_control`
        // refuses them it fails, if at all, on the tick after them.
        (Err(DecodeError::InvalidSnapshotHeader), Err(f)) => assert!(
            matches!(f, DecodeError::Truncated | DecodeError::InvalidInteger),
            "a controller fails on the tick, not with {f:?}"
        ),
        (Err(e), Err(f)) => assert_eq!(e, f, "decode_controller fails otherwise"),
        (Err(_), Ok(ServerView::Event(_) | ServerView::Snapshot(_))) => {}
        (Err(e), Ok(other)) => panic!("decode_controller read {other:?} where control: {e:?}"),
    }

    match &server {
        Ok(msg) => {
            let encoded = encode_server(msg).expect("a decoded message encodes");
            assert!(encoded.len() <= bytes.len(), "re-encoding grew the message");
            assert_eq!(decode_server(&encoded).as_ref(), Ok(msg), "re-encoded bytes decode");
            let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
            let len = encode_control(&control_of(msg), &mut buf)
                .expect("without its body, a message fits MAX_CONTROL_MESSAGE_SIZE");
            let head = &buf[..len];
            match msg {
                ServerMessage::Snapshot(s) => {
                    assert!(bytes.ends_with(&s.body), "the body is the input's tail");
                    assert_eq!([head, &s.body[..]].concat(), encoded, "header, then body");
                }
                _ => assert_eq!(head, &encoded[..], "encode_control writes the same bytes"),
            }
            for cut in 0..head.len() {
                assert_eq!(decode_server(&head[..cut]), Err(DecodeError::Truncated));
                assert_eq!(decode_control(&head[..cut]), Err(DecodeError::Truncated));
            }
        }
        Err(DecodeError::TrailingBytes { extra }) => {
            assert!(*extra > 0 && *extra < bytes.len());
            assert!(decode_server(&bytes[..bytes.len() - extra]).is_ok());
        }
        Err(_) => {}
    }
    let too_large = matches!(server, Err(DecodeError::TooLarge { .. }));
    assert_eq!(too_large, bytes.len() > MAX_SERVER_MESSAGE_SIZE, "{server:?}");
});
