//! The controller's WebSocket receive side: any byte stream from the server through the
//! client-embedded `Deframer` (and embedded-websocket's codec under it), with any receive and
//! message buffer sizes, read whole, split at arbitrary points and one byte at a time.
//!
//! Invariants:
//! - how reads split the stream never matters: the same messages, control frames and payloads,
//!   then the same error (or none);
//! - the deframer never stalls: while bytes are left, it takes some or reports an error;
//! - what it reports is what RFC 6455 says the stream holds, as an independent reading of the
//!   stream (`expected` below) finds it: whole messages reassembled from their fragments with
//!   control frames between them passed on in order, close codes and reasons checked, every
//!   rule breach and size limit refused from the first bytes that show it, nothing read after
//!   a close.
#![no_main]

use embedded_websocket::{WebSocketClient, WebSocketState};
use libfuzzer_sys::fuzz_target;
use tickwire_client_embedded::FrameError;
use tickwire_client_embedded::ws::{Deframer, Received};
use tickwire_fuzz::TestRng;
use tickwire_fuzz::inputs::DeframerInput;

/// What came out: messages and control frames with their payloads, then how it ended
/// (`None`: waiting for more bytes).
type Outcome = (Vec<(Received, Vec<u8>)>, Option<FrameError>);

/// Feeds `chunks` in order, each as far as the receive buffer takes it, draining after each.
fn run<'a>(input: &DeframerInput, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let (mut rx, mut msg) = (vec![0u8; input.rx_len], vec![0u8; input.msg_len]);
    let mut deframer = Deframer::new(&mut rx, &mut msg);
    let mut codec = WebSocketClient::new_client(TestRng(1));
    codec.state = WebSocketState::Open;
    let mut got = Vec::new();
    for mut chunk in chunks {
        loop {
            let taken = deframer.feed(chunk);
            chunk = &chunk[taken..];
            loop {
                match deframer.next(&mut codec) {
                    Ok(Some(received)) => got.push((received, deframer.payload().to_vec())),
                    Ok(None) => break,
                    Err(e) => return (got, Some(e)),
                }
            }
            if chunk.is_empty() {
                break;
            }
            assert!(taken > 0, "stalled: the receive buffer is full and no frame is whole");
        }
    }
    (got, None)
}

/// The stream as RFC 6455 and the deframer's documented limits read it, frame by frame.
fn expected(stream: &[u8], rx_len: usize, msg_len: usize) -> Outcome {
    let mut got = Vec::new();
    let mut at = 0;
    let mut open: Option<u8> = None;
    let mut message = Vec::new();
    let mut closed = false;
    loop {
        let rest = &stream[at..];
        let fail = |got, e| (got, Some(e));
        let [b0, b1, ..] = *rest else { return (got, None) };
        let (fin, opcode, short) = (b0 & 0x80 != 0, b0 & 0x0f, usize::from(b1 & 0x7f));
        if b0 & 0x70 != 0 {
            return fail(got, FrameError::ReservedBits);
        }
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
            return fail(got, FrameError::UnknownOpcode(opcode));
        }
        if b1 & 0x80 != 0 {
            return fail(got, FrameError::Masked);
        }
        let control = opcode >= 8;
        if control && !fin {
            return fail(got, FrameError::FragmentedControl);
        }
        if control && short > 125 {
            return fail(got, FrameError::ControlTooLong);
        }
        let (header_len, payload_len) = match short {
            126 if rest.len() >= 4 => (4, u64::from(u16::from_be_bytes([rest[2], rest[3]]))),
            127 if rest.len() >= 10 => {
                let len = u64::from_be_bytes(rest[2..10].try_into().unwrap());
                if len >> 63 != 0 {
                    return fail(got, FrameError::InvalidLength); // its top bit must be 0
                }
                (10, len)
            }
            126 | 127 => return (got, None),
            n => (2, n as u64),
        };
        let frame_len = header_len + payload_len;
        if frame_len > rx_len as u64 {
            return fail(got, FrameError::FrameTooLarge { len: frame_len, max: rx_len });
        }
        match (opcode, open) {
            (0, None) => return fail(got, FrameError::UnexpectedContinuation),
            (1 | 2, Some(_)) => return fail(got, FrameError::InterleavedMessage),
            _ => {}
        }
        let message_len = message.len() as u64 + payload_len;
        if !control && message_len > msg_len as u64 {
            return fail(got, FrameError::MessageTooLarge { len: message_len, max: msg_len });
        }
        if (rest.len() as u64) < frame_len {
            return (got, None);
        }
        let payload = &rest[header_len as usize..frame_len as usize];
        let close = match payload {
            _ if opcode != 8 => None,
            [] => Some(Received::Close { code: None, len: 0 }),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                    return fail(got, FrameError::BadClose);
                }
                if std::str::from_utf8(reason).is_err() {
                    return fail(got, FrameError::BadCloseReason); // RFC 6455 section 8.1
                }
                Some(Received::Close { code: Some(code), len: reason.len() })
            }
            [_] => return fail(got, FrameError::BadClose),
        };
        if closed {
            return fail(got, FrameError::Codec); // the codec reads nothing after a close
        }
        at += frame_len as usize;
        match (opcode, close) {
            (8, Some(close)) => {
                closed = true;
                got.push((close, payload.get(2..).unwrap_or_default().to_vec()));
            }
            (9, _) => got.push((Received::Ping { len: payload.len() }, payload.to_vec())),
            (10, _) => got.push((Received::Pong { len: payload.len() }, payload.to_vec())),
            _ => {
                if opcode != 0 {
                    open = Some(opcode);
                }
                message.extend_from_slice(payload);
                if fin {
                    let len = message.len();
                    let received = match open.take() {
                        Some(1) => Received::Text { len },
                        _ => Received::Binary { len },
                    };
                    got.push((received, std::mem::take(&mut message)));
                }
            }
        }
    }
}

/// Panics at the first difference between two outcomes, naming it.
fn assert_same(got: &Outcome, want: &Outcome, what: &str) {
    for (i, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
        assert_eq!(g, w, "{what}: item {i} differs");
    }
    assert_eq!(got.0.len(), want.0.len(), "{what}: {:?} vs {:?}", got.0.last(), want.0.last());
    assert_eq!(got.1, want.1, "{what}: how the stream ended");
}

fuzz_target!(|input: DeframerInput| {
    let stream = &input.stream[..];
    let whole = run(&input, [stream]);
    assert_same(&whole, &expected(stream, input.rx_len, input.msg_len), "deframer vs RFC 6455");

    let mut cuts: Vec<usize> =
        input.cuts.iter().map(|&c| usize::from(c) % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    let pieces =
        [0].into_iter().chain(cuts.iter().copied()).zip(cuts.iter().copied().chain([stream.len()]));
    let split = run(&input, pieces.map(|(from, to)| &stream[from..to]));
    assert_same(&split, &whole, &format!("split at {cuts:?}"));

    if stream.len() <= 2048 {
        assert_same(&run(&input, stream.chunks(1)), &whole, "one byte at a time");
    }
});
