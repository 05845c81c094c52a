//! Server-to-client WebSocket frames, built once and written as the same bytes to everyone.
//!
//! RFC 6455 masks only what a client sends; a server's frame is its header and payload as
//! they are, so a frame many clients receive (a spectators' snapshot, the events of a tick) is
//! the same bytes for all of them. The room builds those bytes once with a [`FrameBuilder`]
//! and hands every writer a reference-counted [`Bytes`]; a writer puts everything one client
//! gets in a tick on the socket with one vectored write (uWebSockets and Node `ws` do the same
//! for a broadcast). tungstenite still reads the client's frames; nothing here parses.
//!
//! Every frame is final and unfragmented: tickwire's messages are at most 64 KiB
//! (`MAX_SERVER_MESSAGE_SIZE`), and the echo endpoint does not use this module.

use bytes::{BufMut, Bytes, BytesMut};
use tickwire_shared::ServerMessage;
use tickwire_shared::codec::encode_server_into;

/// FIN bit and opcode of a final binary frame.
const BINARY: u8 = 0x82;
/// FIN bit and opcode of a close frame.
const CLOSE: u8 = 0x88;

/// A WebSocket ping with no payload: the server's heartbeat.
pub const PING: &[u8] = &[0x89, 0x00];

/// A close frame without a code: the answer to a client's close that had none (its code
/// reads as 1005 there, which is never sent in a frame: RFC 6455 7.4.1).
pub const CLOSE_WITHOUT_CODE: &[u8] = &[CLOSE, 0x00];

/// Longest close reason: a control frame carries at most 125 bytes, two of them the code.
pub const MAX_CLOSE_REASON: usize = 123;

/// Writes the header of an unmasked, final frame with `first` (FIN and opcode) carrying
/// `len` payload bytes: 2, 4 or 10 bytes (RFC 6455 5.2: 7-bit, 16-bit or 64-bit length).
fn put_header(out: &mut BytesMut, first: u8, len: usize) {
    out.put_u8(first);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xffff => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
}

/// A binary frame carrying `payload`.
pub fn binary(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    put_header(&mut out, BINARY, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// A close frame with `code` and `reason` (cut to [`MAX_CLOSE_REASON`] bytes on a character
/// boundary).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let mut out = BytesMut::with_capacity(4 + reason.len());
    put_header(&mut out, CLOSE, 2 + reason.len());
    out.put_u16(code);
    out.put_slice(reason);
    out.freeze()
}

/// The smallest allocation [`FrameBuilder`] frames into: ten to forty frames of 100 to 400
/// bytes. A frame that outlives the others of its chunk (a slow client's last snapshot) keeps
/// the whole chunk alive, so it stays below what a spectator costs otherwise (about 8 KiB).
pub const FRAME_CHUNK: usize = 4 * 1024;

/// Frames several messages back to back into one buffer, which [`FrameBuilder::finish`]
/// turns into one [`Bytes`] that any number of writers can share.
///
/// The builder keeps its scratch space between uses, and writes frames into chunks of at
/// least [`FRAME_CHUNK`] bytes: `finish` hands out the written part of the current chunk, and
/// the next frames go into the rest of it. A room that frames a snapshot per player per tick
/// then makes one allocation per chunk instead of two per frame (the
/// buffer, and the header `Bytes` shares it by). Once every writer has dropped the frames of a
/// chunk, `BytesMut` reclaims it instead of asking for a new one.
#[derive(Debug, Default)]
pub struct FrameBuilder {
    out: BytesMut,
    payload: Vec<u8>,
}

impl FrameBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `msg` as one binary frame. `false` (nothing appended) when it cannot be encoded:
    /// only a snapshot above the protocol's entity limit can fail, and the caller logs it.
    pub fn push(&mut self, msg: &ServerMessage) -> bool {
        self.payload.clear();
        if encode_server_into(msg, &mut self.payload).is_err() {
            return false;
        }
        self.push_payload_of_scratch();
        true
    }

    /// Appends a binary frame of `payload`, already encoded.
    pub fn push_encoded(&mut self, payload: &[u8]) {
        let needed = payload.len() + 10;
        if self.out.capacity() - self.out.len() < needed {
            self.out.reserve(needed.max(FRAME_CHUNK));
        }
        put_header(&mut self.out, BINARY, payload.len());
        self.out.put_slice(payload);
    }

    fn push_payload_of_scratch(&mut self) {
        let payload = std::mem::take(&mut self.payload);
        self.push_encoded(&payload);
        self.payload = payload;
    }

    /// True when nothing was pushed since the last [`FrameBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The frames pushed so far, as one shareable buffer; the builder starts over.
    pub fn finish(&mut self) -> Bytes {
        self.out.split().freeze()
    }
}

/// The payloads of the unmasked frames in `bytes`, in order (for tests, benchmarks and tools
/// that read the server's own output; the server itself never parses what it built). Stops at
/// the first frame that is masked or cut short.
pub fn payloads(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&[_, second], rest) = bytes.split_first_chunk::<2>()?;
        if second & 0x80 != 0 {
            return None;
        }
        let (len, rest) = match second & 0x7f {
            126 => {
                let (len, rest) = rest.split_first_chunk::<2>()?;
                (usize::from(u16::from_be_bytes(*len)), rest)
            }
            127 => {
                let (len, rest) = rest.split_first_chunk::<8>()?;
                (usize::try_from(u64::from_be_bytes(*len)).ok()?, rest)
            }
            short => (usize::from(short), rest),
        };
        let payload = rest.get(..len)?;
        bytes = &rest[len..];
        Some(payload)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::{Pong, Tick};

    #[test]
    fn headers_use_the_shortest_length_form() {
        let frame = binary(&[7; 125]);
        assert_eq!(&frame[..2], &[0x82, 125]);
        assert_eq!(frame.len(), 127);
        let frame = binary(&[7; 126]);
        assert_eq!(&frame[..4], &[0x82, 126, 0, 126]);
        let frame = binary(&[7; 65_535]);
        assert_eq!(&frame[..4], &[0x82, 126, 0xff, 0xff]);
        let frame = binary(&[7; 65_536]);
        assert_eq!(&frame[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(frame.len(), 65_546);
        assert_eq!(payloads(&frame).map(<[u8]>::len).collect::<Vec<_>>(), [65_536]);
        assert_eq!(binary(&[]).as_ref(), &[0x82, 0]);
    }

    #[test]
    fn close_frames_carry_code_and_a_reason_cut_on_a_character_boundary() {
        assert_eq!(close(1000, "").as_ref(), &[0x88, 2, 0x03, 0xe8]);
        assert_eq!(close(1008, "slow").as_ref(), &[0x88, 6, 0x03, 0xf0, b's', b'l', b'o', b'w']);
        // 61 two-byte characters plus one more byte would split a character at 123.
        let reason = format!("x{}", "é".repeat(80));
        let frame = close(1008, &reason);
        assert!(frame.len() <= 2 + 125);
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
        assert_eq!(frame.len() - 4, 1 + 61 * 2);
    }

    #[test]
    fn consecutive_frames_are_cut_from_one_chunk_while_it_has_room() {
        let mut builder = FrameBuilder::new();
        builder.push_encoded(&[1; 100]);
        let first = builder.finish();
        builder.push_encoded(&[2; 100]);
        let second = builder.finish();
        // The second frame starts where the first ends, in the same allocation.
        assert_eq!(second.as_ptr() as usize, first.as_ptr() as usize + first.len(), "same chunk");
        // A frame larger than a chunk gets an allocation of its size.
        builder.push_encoded(&vec![3; 2 * FRAME_CHUNK]);
        let big = builder.finish();
        assert_eq!(big.len(), 2 * FRAME_CHUNK + 4);
        assert_eq!(payloads(&big).next().unwrap(), vec![3; 2 * FRAME_CHUNK]);
        assert_eq!(payloads(&first).next().unwrap(), [1; 100], "earlier frames are untouched");
    }

    #[test]
    fn a_builder_frames_messages_back_to_back_and_starts_over() {
        let mut builder = FrameBuilder::new();
        assert!(builder.is_empty());
        let pong = ServerMessage::Pong(Pong { nonce: 0xdead_beef, server_tick: Tick(1300) });
        assert!(builder.push(&pong));
        assert!(builder.push(&pong));
        let frames = builder.finish();
        // PROTOCOL.md's `pong` vector: 04 fc efbeadde fb 1405 (9 bytes).
        let one = [0x82, 9, 0x04, 0xfc, 0xef, 0xbe, 0xad, 0xde, 0xfb, 0x14, 0x05];
        assert_eq!(frames.as_ref(), [one, one].concat());
        assert_eq!(payloads(&frames).collect::<Vec<_>>(), [&one[2..], &one[2..]]);
        assert!(builder.is_empty());
        builder.push_encoded(b"ab");
        assert_eq!(builder.finish().as_ref(), &[0x82, 2, b'a', b'b']);
    }
}
