//! [`Deframer`]: buffers received bytes until a whole frame is present, hands only whole,
//! validated frames to embedded-websocket's codec, and reassembles fragmented messages.
//!
//! embedded-websocket 0.9.5 mishandles frames split across reads (a close split after its
//! header reads as a complete close; a fragment split mid-payload stalls it forever; a split
//! header is an error). Here a frame reaches it only when every byte is buffered, so how the
//! network splits the stream cannot matter.

use super::frame::{Opcode, parse_header};
use crate::error::FrameError;
use embedded_websocket::WebSocketClient;
use rand_core::RngCore;

/// Largest control frame payload (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// What [`Deframer::next`] found. The payload is read with [`Deframer::payload`] until the next
/// call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Received {
    /// A complete binary message (all its fragments) of `len` bytes.
    Binary {
        /// Message length.
        len: usize,
    },
    /// A complete text message of `len` bytes (not checked for UTF-8: tickwire ignores text).
    Text {
        /// Message length.
        len: usize,
    },
    /// A ping; answer with a pong of the same payload.
    Ping {
        /// Payload length.
        len: usize,
    },
    /// A pong.
    Pong {
        /// Payload length.
        len: usize,
    },
    /// A close frame; `code` is `None` when it had no payload (status 1005). The payload is
    /// the UTF-8 reason.
    Close {
        /// The status code.
        code: Option<u16>,
        /// Reason length.
        len: usize,
    },
}

/// The receive side of a WebSocket over caller buffers: `rx` holds raw bytes (at least the
/// largest frame, header included), `msg` the message being reassembled.
pub struct Deframer<'b> {
    rx: &'b mut [u8],
    start: usize,
    end: usize,
    msg: &'b mut [u8],
    msg_len: usize,
    open: Option<Opcode>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    last: Option<Received>,
}

impl<'b> Deframer<'b> {
    /// An empty deframer over `rx` and `msg`.
    pub fn new(rx: &'b mut [u8], msg: &'b mut [u8]) -> Self {
        Deframer {
            rx,
            start: 0,
            end: 0,
            msg,
            msg_len: 0,
            open: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            last: None,
        }
    }

    /// Forgets all state, for a new connection.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.msg_len = 0;
        self.open = None;
        self.last = None;
    }

    /// Bytes received and not consumed yet (the handshake reads its response here).
    pub fn buffered(&self) -> &[u8] {
        &self.rx[self.start..self.end]
    }

    /// Drops `n` buffered bytes (the HTTP response head).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into (moves buffered bytes to the front first). Empty only when the
    /// buffer is full, which [`Deframer::next`] prevents by rejecting frames that cannot fit.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.rx.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.rx[self.end..]
    }

    /// Marks `n` bytes of [`Deframer::spare`] as received.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.rx.len());
    }

    /// Copies as much of `bytes` as fits; returns how much (tests and non-async callers).
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let spare = self.spare();
        let n = spare.len().min(bytes.len());
        spare[..n].copy_from_slice(&bytes[..n]);
        self.commit(n);
        n
    }

    /// The payload of the last [`Received`] (empty when there is none).
    pub fn payload(&self) -> &[u8] {
        match self.last {
            Some(Received::Binary { len } | Received::Text { len }) => &self.msg[..len],
            Some(Received::Ping { len } | Received::Pong { len }) => &self.control[..len],
            Some(Received::Close { len, .. }) => &self.control[2..2 + len],
            None => &[],
        }
    }

    /// The next complete message or control frame, `Ok(None)` when more bytes are needed.
    /// Non-final fragments are absorbed; control frames between them come out in order.
    /// An error leaves the stream unusable: close the connection.
    pub fn next<R: RngCore>(
        &mut self,
        codec: &mut WebSocketClient<R>,
    ) -> Result<Option<Received>, FrameError> {
        self.last = None;
        loop {
            let buffered = &self.rx[self.start..self.end];
            let Some(header) = parse_header(buffered)? else { return Ok(None) };
            let frame_len = header.frame_len();
            if frame_len > self.rx.len() as u64 {
                return Err(FrameError::FrameTooLarge { len: frame_len, max: self.rx.len() });
            }
            let data = !header.opcode.is_control();
            match (header.opcode, self.open) {
                (Opcode::Continuation, None) => return Err(FrameError::UnexpectedContinuation),
                (Opcode::Text | Opcode::Binary, Some(_)) => {
                    return Err(FrameError::InterleavedMessage);
                }
                _ => {}
            }
            let message_len = self.msg_len as u64 + header.payload_len;
            if data && message_len > self.msg.len() as u64 {
                return Err(FrameError::MessageTooLarge { len: message_len, max: self.msg.len() });
            }
            if (buffered.len() as u64) < frame_len {
                return Ok(None);
            }
            // Whole and valid: the codec decodes it (unmasking nothing, as the server masks
            // nothing) and tracks the close handshake.
            let (frame_len, payload_len) = (frame_len as usize, header.payload_len as usize);
            let frame = &self.rx[self.start..self.start + frame_len];
            if header.opcode == Opcode::Close {
                // Checked here: the codec reports a malformed close as a valid one.
                close(&frame[header.header_len..])?;
            }
            let to = if data {
                &mut self.msg[self.msg_len..self.msg_len + payload_len]
            } else {
                &mut self.control[..payload_len]
            };
            let read = codec.read(frame, to).map_err(|_| FrameError::Codec)?;
            if read.len_from != frame_len || read.len_to != payload_len {
                return Err(FrameError::Codec);
            }
            self.consume(frame_len);
            let received = match header.opcode {
                Opcode::Ping => Received::Ping { len: payload_len },
                Opcode::Pong => Received::Pong { len: payload_len },
                Opcode::Close => close(&self.control[..payload_len])?,
                Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                    if header.opcode != Opcode::Continuation {
                        self.open = Some(header.opcode);
                    }
                    self.msg_len += payload_len;
                    if !header.fin {
                        continue;
                    }
                    let len = core::mem::take(&mut self.msg_len);
                    match self.open.take() {
                        Some(Opcode::Text) => Received::Text { len },
                        _ => Received::Binary { len },
                    }
                }
            };
            self.last = Some(received);
            return Ok(Some(received));
        }
    }
}

/// Decodes a close payload: nothing, or a valid status code and a UTF-8 reason (RFC 6455
/// sections 5.5.1 and 8.1).
fn close(payload: &[u8]) -> Result<Received, FrameError> {
    match payload {
        [] => Ok(Received::Close { code: None, len: 0 }),
        [_] => Err(FrameError::BadClose),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(FrameError::BadClose);
            }
            if core::str::from_utf8(reason).is_err() {
                return Err(FrameError::BadCloseReason);
            }
            Ok(Received::Close { code: Some(code), len: reason.len() })
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{TestRng, server_frame};
    use embedded_websocket::WebSocketState;
    use std::vec::Vec;

    type Got = (Received, Vec<u8>);

    fn codec() -> WebSocketClient<TestRng> {
        let mut codec = WebSocketClient::new_client(TestRng(1));
        codec.state = WebSocketState::Open;
        codec
    }

    /// Feeds `chunks` one after the other, draining after each; returns everything received.
    fn run(chunks: &[&[u8]], rx_len: usize, msg_len: usize) -> Result<Vec<Got>, FrameError> {
        let (mut rx, mut msg) = (std::vec![0u8; rx_len], std::vec![0u8; msg_len]);
        let mut deframer = Deframer::new(&mut rx, &mut msg);
        let mut codec = codec();
        let mut got = Vec::new();
        for chunk in chunks {
            let mut chunk = *chunk;
            while !chunk.is_empty() {
                let n = deframer.feed(chunk);
                chunk = &chunk[n..];
                while let Some(r) = deframer.next(&mut codec)? {
                    got.push((r, deframer.payload().to_vec()));
                }
                assert!(n > 0 || !chunk.is_empty(), "no progress");
            }
        }
        Ok(got)
    }

    /// A stream exercising every frame kind: short and 16-bit lengths, a fragmented message
    /// with a ping between fragments, pong, text, and a close with a reason.
    fn stream() -> (Vec<u8>, Vec<Got>) {
        let big: Vec<u8> = (0..200u8).collect();
        let frames = [
            server_frame(true, 2, b"hello"),
            server_frame(false, 2, b"ab"),
            server_frame(true, 9, b"p1"),
            server_frame(false, 0, b"cd"),
            server_frame(true, 0, b"ef"),
            server_frame(true, 10, b""),
            server_frame(true, 1, b"text"),
            server_frame(true, 2, &big),
            server_frame(true, 8, b"\x03\xe8bye"),
        ];
        let expected = std::vec![
            (Received::Binary { len: 5 }, b"hello".to_vec()),
            (Received::Ping { len: 2 }, b"p1".to_vec()),
            (Received::Binary { len: 6 }, b"abcdef".to_vec()),
            (Received::Pong { len: 0 }, Vec::new()),
            (Received::Text { len: 4 }, b"text".to_vec()),
            (Received::Binary { len: 200 }, big.clone()),
            (Received::Close { code: Some(1000), len: 3 }, b"bye".to_vec()),
        ];
        (frames.concat(), expected)
    }

    #[test]
    fn a_stream_split_at_every_byte_offset_reads_the_same() {
        let (bytes, expected) = stream();
        assert_eq!(run(&[&bytes], 270, 256).unwrap(), expected);
        for cut in 0..=bytes.len() {
            let got = run(&[&bytes[..cut], &bytes[cut..]], 270, 256).unwrap();
            assert_eq!(got, expected, "split at {cut}");
        }
    }

    #[test]
    fn a_stream_fed_one_byte_at_a_time_reads_the_same() {
        let (bytes, expected) = stream();
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&chunks, 270, 256).unwrap(), expected);
    }

    #[test]
    fn a_stream_split_at_every_pair_of_offsets_reads_the_same() {
        let (bytes, expected) = stream();
        for a in (0..bytes.len()).step_by(3) {
            for b in (a..=bytes.len()).step_by(7) {
                let got = run(&[&bytes[..a], &bytes[a..b], &bytes[b..]], 270, 256).unwrap();
                assert_eq!(got, expected, "split at {a} and {b}");
            }
        }
    }

    #[test]
    fn a_close_split_after_its_header_waits_for_its_status() {
        // embedded-websocket alone reports this as a complete close with status 1011.
        let (mut rx, mut msg) = ([0u8; 270], [0u8; 256]);
        let mut deframer = Deframer::new(&mut rx, &mut msg);
        let mut codec = codec();
        deframer.feed(&[0x88, 2]);
        assert_eq!(deframer.next(&mut codec), Ok(None));
        deframer.feed(&[0x03]);
        assert_eq!(deframer.next(&mut codec), Ok(None));
        deframer.feed(&[0xe9]);
        assert_eq!(
            deframer.next(&mut codec),
            Ok(Some(Received::Close { code: Some(1001), len: 0 }))
        );
    }

    #[test]
    fn a_close_without_status_has_no_code() {
        let got = run(&[&server_frame(true, 8, b"")], 270, 256).unwrap();
        assert_eq!(got, std::vec![(Received::Close { code: None, len: 0 }, Vec::new())]);
    }

    #[test]
    fn a_fragment_split_mid_payload_does_not_stall() {
        // embedded-websocket alone returns 0/0 forever after this split.
        let bytes = [server_frame(false, 2, b"abcdef"), server_frame(true, 0, b"gh")].concat();
        for cut in 0..bytes.len() {
            let got = run(&[&bytes[..cut], &bytes[cut..]], 270, 256).unwrap();
            assert_eq!(got, std::vec![(Received::Binary { len: 8 }, b"abcdefgh".to_vec())]);
        }
    }

    #[test]
    fn oversized_frames_and_messages_are_rejected_from_the_header() {
        // 300 bytes do not fit a 256-byte message buffer: refused before the payload arrives.
        let header = &server_frame(true, 2, &[0u8; 300])[..4];
        assert_eq!(
            run(&[header], 512, 256),
            Err(FrameError::MessageTooLarge { len: 300, max: 256 })
        );
        // A frame larger than the receive buffer cannot be held whole.
        let header = &server_frame(true, 2, &[0u8; 100])[..2];
        assert_eq!(run(&[header], 64, 256), Err(FrameError::FrameTooLarge { len: 102, max: 64 }));
        // Fragments that add up to too much.
        let parts = [server_frame(false, 2, &[1u8; 200]), server_frame(true, 0, &[2u8; 57])];
        assert_eq!(
            run(&[&parts.concat()], 270, 256),
            Err(FrameError::MessageTooLarge { len: 257, max: 256 })
        );
        // Exactly the buffer sizes still work.
        let exact = server_frame(true, 2, &[7u8; 256]);
        assert_eq!(run(&[&exact], 260, 256).unwrap()[0].0, Received::Binary { len: 256 });
    }

    #[test]
    fn a_small_receive_buffer_carries_a_long_stream() {
        let frames: Vec<Vec<u8>> = (0..50u8).map(|i| server_frame(true, 2, &[i; 10])).collect();
        let bytes = frames.concat();
        let got = run(&[&bytes], 16, 16).unwrap();
        assert_eq!(got.len(), 50);
        assert!(got.iter().enumerate().all(|(i, (_, p))| p == &[i as u8; 10]));
    }

    #[test]
    fn protocol_violations_are_errors() {
        let cont = server_frame(true, 0, b"x");
        assert_eq!(run(&[&cont], 270, 256), Err(FrameError::UnexpectedContinuation));
        let interleaved = [server_frame(false, 2, b"a"), server_frame(true, 2, b"b")].concat();
        assert_eq!(run(&[&interleaved], 270, 256), Err(FrameError::InterleavedMessage));
        let reserved_code = server_frame(true, 8, &1005u16.to_be_bytes());
        assert_eq!(run(&[&reserved_code], 270, 256), Err(FrameError::BadClose));
        assert_eq!(run(&[&server_frame(true, 8, b"x")], 270, 256), Err(FrameError::BadClose));
        // A close reason that is not UTF-8 fails the connection (RFC 6455 section 8.1): a
        // lone continuation byte, an overlong encoding, a surrogate, a sequence cut short.
        for reason in [&b"\x80"[..], b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xe2\x82"] {
            let close = server_frame(true, 8, &[&1000u16.to_be_bytes()[..], reason].concat());
            assert_eq!(run(&[&close], 270, 256), Err(FrameError::BadCloseReason), "{reason:?}");
        }
        assert_eq!(run(&[&[0x82, 0x81]], 270, 256), Err(FrameError::Masked));
        // A 64-bit length with its top bit set: 5 bytes to this deframer once masked, 2^63 + 5
        // to the codec, which then read the next frame as this one's payload (found by the
        // `ws_deframer` fuzz target).
        let top_bit = [&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 5][..], b"hello"].concat();
        let stream = [top_bit, server_frame(true, 2, b"next")].concat();
        assert_eq!(run(&[&stream], 270, 256), Err(FrameError::InvalidLength));
    }
}
