//! The server's watch on what a client sends, below tungstenite: any byte stream through
//! `FrameGuard` (the game endpoint's policy, text refused, and the echo's, text checked as
//! UTF-8), read one byte at a time, in one read, and as the fuzzer splits it.
//!
//! Invariants:
//! - the guard only reads: every byte it lets through is the client's, in order;
//! - it refuses what RFC 6455 and PROTOCOL.md say, at the first byte that shows it, as an
//!   independent reading of the stream (`expected` below) finds it: on `/ws` a text frame once
//!   its header is whole (close 1003), on `/echo` text that is not UTF-8 at the first byte
//!   that no continuation can make valid, or at the end of a message that cuts a character
//!   (close 1007), across fragments and control frames between them;
//! - however reads split the stream, the read that fails is the one holding that byte, and
//!   every byte before that read passed;
//! - once it has refused, it passes the rest through unread (the connection is closing);
//! - it never refuses binary messages, control frames or valid text, and after a framing
//!   error it leaves to tungstenite (a reserved opcode, a continuation with no message, a new
//!   message inside another) it may answer either way, but never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tickwire_fuzz::inputs::GuardInput;
use tickwire_server::guard::{FrameGuard, TextPolicy, Violation};
use tokio::io::{AsyncRead, ReadBuf};

/// The client's side of the TCP connection: the stream, delivered in the pieces the
/// transport split it into (never more than the reader asks for).
struct Transport {
    stream: Vec<u8>,
    /// Where each piece ends.
    ends: Vec<usize>,
    at: usize,
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let at = self.at;
        let end = self.ends.iter().copied().find(|&end| end > at).unwrap_or(self.stream.len());
        let take = (end - at).min(buf.remaining());
        buf.put_slice(&self.stream[at..at + take]);
        self.at += take;
        Poll::Ready(Ok(()))
    }
}

/// What the guard must do with a stream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expected {
    /// Pass everything.
    Clean,
    /// Refuse at the byte at this offset.
    Refuse { at: usize, violation: Violation },
    /// A framing error starts at this offset (tungstenite's to refuse): anything from here.
    FramingError { at: usize },
}

/// The stream as RFC 6455 reads it, frame by frame, and what the guard must refuse in it.
fn expected(stream: &[u8], policy: TextPolicy) -> Expected {
    let mut at = 0;
    // The data message being received: `Some(true)` text, `Some(false)` binary.
    let mut open: Option<bool> = None;
    // The text message so far (unmasked) and how much of it is known to be valid UTF-8.
    let mut text = Vec::new();
    let mut valid = 0;
    loop {
        let rest = &stream[at..];
        let [b0, b1, ..] = *rest else { return Expected::Clean };
        let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0f, b1 & 0x80 != 0);
        let extended = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + extended + if masked { 4 } else { 0 };
        if rest.len() < header_len {
            return Expected::Clean;
        }
        let len = match extended {
            2 => u64::from(u16::from_be_bytes([rest[2], rest[3]])),
            8 => u64::from_be_bytes(rest[2..10].try_into().unwrap()),
            _ => u64::from(b1 & 0x7f),
        };
        let mask: [u8; 4] = match masked {
            true => rest[2 + extended..header_len].try_into().unwrap(),
            false => [0; 4],
        };
        let is_text = match (opcode, open) {
            (3..=7 | 11..=15, _) | (0, None) | (1 | 2, Some(_)) => {
                return Expected::FramingError { at };
            }
            (0, Some(text)) => text,
            (1, None) => true,
            _ => false,
        };
        let header_end = at + header_len;
        if opcode == 1 {
            if policy == TextPolicy::Refuse {
                return Expected::Refuse { at: header_end - 1, violation: Violation::TextFrame };
            }
            text.clear();
            valid = 0;
        }
        if opcode < 8 {
            open = Some(is_text);
        }
        let available = (stream.len() - header_end) as u64;
        let here = len.min(available) as usize;
        if is_text {
            for i in 0..here {
                text.push(stream[header_end + i] ^ mask[i % 4]);
                match std::str::from_utf8(&text[valid..]) {
                    Ok(_) => valid = text.len(),
                    Err(e) if e.error_len().is_some() => {
                        let at = header_end + i;
                        return Expected::Refuse { at, violation: Violation::InvalidUtf8 };
                    }
                    Err(e) => valid += e.valid_up_to(),
                }
            }
        }
        if len > available {
            return Expected::Clean; // the stream ends inside this frame
        }
        at = header_end + here;
        if opcode < 8 && fin {
            if is_text && valid != text.len() {
                // A character cut by the end of the message, seen at the frame's last byte.
                return Expected::Refuse { at: at - 1, violation: Violation::InvalidUtf8 };
            }
            open = None;
        }
    }
}

/// What one run through the guard gave: the bytes that passed and, if it refused, the range
/// of the read that failed and why.
struct Run {
    passed: Vec<u8>,
    refused: Option<(usize, usize, Violation)>,
}

/// Reads `stream` through a guard, `read_len` bytes at most per read, the transport splitting
/// it at `ends`; after a refusal, reads the rest and checks that it passes unread.
fn run(stream: &[u8], ends: Vec<usize>, read_len: usize, policy: TextPolicy) -> Run {
    let transport = Transport { stream: stream.to_vec(), ends, at: 0 };
    let mut guard = FrameGuard::new(transport, policy);
    let mut cx = Context::from_waker(Waker::noop());
    let mut storage = vec![0u8; read_len];
    let mut passed = Vec::new();
    let mut refused = None;
    loop {
        let before = guard.get_mut().at;
        let mut buf = ReadBuf::new(&mut storage);
        let Poll::Ready(result) = Pin::new(&mut guard).poll_read(&mut cx, &mut buf) else {
            panic!("the transport is always ready, the guard must be too");
        };
        let after = guard.get_mut().at;
        match result {
            Ok(()) if buf.filled().is_empty() => {
                assert_eq!(after, stream.len(), "a read of nothing before the end");
                break;
            }
            Ok(()) => {
                assert_eq!(buf.filled(), &stream[before..after], "bytes pass unchanged");
                if refused.is_none() {
                    passed.extend_from_slice(buf.filled());
                }
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                let violation = Violation::of(&e).expect("a refusal carries its violation");
                assert!(refused.is_none(), "a second refusal: the guard is disarmed after one");
                assert!(buf.filled().is_empty(), "a refused read passes none of its bytes");
                refused = Some((before, after, violation));
            }
        }
    }
    Run { passed, refused }
}

/// Checks a run against what the stream must get.
fn check(run: &Run, stream: &[u8], want: Expected, what: &str) {
    match (run.refused, want) {
        (None, Expected::Clean) => assert_eq!(run.passed.len(), stream.len(), "{what}"),
        (Some((from, to, got)), Expected::Refuse { at, violation }) => {
            assert_eq!(got, violation, "{what}: refused for another reason");
            assert!(from <= at && at < to, "{what}: refused bytes {from}..{to}, expected at {at}");
            assert_eq!(run.passed.len(), from, "{what}: every byte before the refused read");
        }
        (None, Expected::FramingError { .. }) => {
            assert_eq!(run.passed.len(), stream.len(), "{what}")
        }
        (Some((from, to, _)), Expected::FramingError { at }) => {
            assert!(
                to > at,
                "{what}: refused bytes {from}..{to}, before the framing error at {at}"
            );
            assert_eq!(run.passed.len(), from, "{what}");
        }
        (got, want) => panic!("{what}: guard {got:?}, expected {want:?}"),
    }
}

fuzz_target!(|input: GuardInput| {
    let policy = if input.policy & 1 != 0 { TextPolicy::Validate } else { TextPolicy::Refuse };
    let stream = input.stream();
    let want = expected(&stream, policy);

    let bytewise = run(&stream, vec![], 1, policy);
    check(&bytewise, &stream, want, "one byte per read");
    let whole = run(&stream, vec![], stream.len().max(1), policy);
    check(&whole, &stream, want, "one read");
    let mut ends: Vec<usize> =
        input.cuts.iter().map(|&c| usize::from(c) % (stream.len() + 1)).collect();
    ends.sort_unstable();
    let read_len = usize::from(input.read_len);
    let split = run(&stream, ends.clone(), read_len, policy);
    check(&split, &stream, want, &format!("reads of {read_len} split at {ends:?}"));
});
