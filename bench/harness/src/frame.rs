//! WebSocket frames (RFC 6455 section 5), as a load generator needs them: [`FrameReader`]
//! turns a byte stream into whole frames without buffering their payloads, and
//! [`write_frame`] writes one frame.
//!
//! The reader keeps a fixed, small state per connection (a frame head, the first
//! [`PREFIX_CAPACITY`] bytes of the current message, and the payload of the current control
//! frame): thousands of connections can share one read buffer, and a peer cannot make it
//! buffer anything by sending large messages.

use thiserror::Error;

/// Largest payload of a control frame (close, ping, pong), RFC 6455 section 5.5.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Bytes of each data message kept for the caller to peek at (a tickwire snapshot's header,
/// for its tick, needs at most 11); the rest of the payload is counted and dropped.
pub const PREFIX_CAPACITY: usize = 64;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of an unfinished text or binary message.
    Continuation,
    /// A UTF-8 message (or its first fragment).
    Text,
    /// A binary message (or its first fragment).
    Binary,
    /// The closing handshake.
    Close,
    /// A heartbeat the peer must answer with a pong.
    Ping,
    /// The answer to a ping (or an unsolicited heartbeat).
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// True for close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// Who wrote the frames a [`FrameReader`] reads: RFC 6455 has clients mask every frame and
/// servers mask none, and a reader refuses the other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Frames from a server: never masked.
    Server,
    /// Frames from a client: always masked.
    Client,
}

/// A whole frame, as [`FrameReader::next`] reports it. Borrowed bytes live in the reader
/// until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The last frame of a text or binary message arrived.
    Message {
        /// [`Opcode::Text`] or [`Opcode::Binary`] (the opcode of the message's first frame).
        opcode: Opcode,
        /// Payload length of the whole message (all its fragments).
        len: u64,
        /// Its first bytes (up to [`PREFIX_CAPACITY`]), unmasked.
        prefix: &'a [u8],
    },
    /// A ping, with its payload (to echo in the pong).
    Ping(&'a [u8]),
    /// A pong, with its payload.
    Pong(&'a [u8]),
    /// A close frame: its status code (`None` when the payload was empty) and reason bytes
    /// (UTF-8 by the RFC; shown lossily, since they come from the peer).
    Close {
        /// The close code, e.g. 1000 (normal) or 1008 (policy).
        code: Option<u16>,
        /// The reason, possibly empty.
        reason: &'a [u8],
    },
}

/// A stream that breaks RFC 6455. The connection is unusable afterwards: the caller counts
/// it as a protocol error of the peer and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// RSV1-3 set: no extension was negotiated, so they must be zero.
    #[error("reserved bits {0:#x} set without a negotiated extension")]
    ReservedBits(u8),
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A server masked a frame, or a client did not mask one.
    #[error("a frame from the {0:?} is {1}masked")]
    Masking(Writer, &'static str),
    /// A 16- or 64-bit length that the shorter form could have held.
    #[error("length {0} not written in its shortest form")]
    NonMinimalLength(u64),
    /// A 64-bit length with its most significant bit set.
    #[error("64-bit length with the most significant bit set")]
    LengthTooLarge,
    /// A control frame over 125 bytes.
    #[error("control frame of {0} bytes (at most 125)")]
    ControlTooLong(u64),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A continuation frame with no message to continue.
    #[error("continuation frame outside a message")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished.
    #[error("new data frame inside an unfinished message")]
    UnfinishedMessage,
    /// A close frame with a one-byte payload (a code takes two).
    #[error("close frame with a one-byte payload")]
    TruncatedCloseCode,
}

/// The frame whose payload is being read.
#[derive(Debug, Clone, Copy)]
struct PayloadInProgress {
    opcode: Opcode,
    fin: bool,
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes already read (the masking key's phase).
    offset: u64,
}

/// What a finished frame amounts to, before its bytes are lent out.
#[derive(Debug, Clone, Copy)]
enum Finished {
    Message { opcode: Opcode, len: u64 },
    Control(Opcode),
}

/// A streaming frame parser with fixed-size state.
///
/// Feed it whatever bytes arrived with [`FrameReader::next`], as often as it returns a frame;
/// "not enough bytes yet" is `Ok(None)`, not an error.
#[derive(Debug, Clone)]
pub struct FrameReader {
    writer: Writer,
    head: [u8; 14],
    head_len: usize,
    payload: Option<PayloadInProgress>,
    /// Opcode and length so far of an unfinished data message.
    message: Option<(Opcode, u64)>,
    prefix: [u8; PREFIX_CAPACITY],
    prefix_len: usize,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
}

impl FrameReader {
    /// A reader of frames written by `writer`.
    pub fn new(writer: Writer) -> FrameReader {
        FrameReader {
            writer,
            head: [0; 14],
            head_len: 0,
            payload: None,
            message: None,
            prefix: [0; PREFIX_CAPACITY],
            prefix_len: 0,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
        }
    }

    /// Consumes bytes from the front of `input` until a frame is whole (returned) or `input`
    /// is empty (`Ok(None)`). Call again with the rest of `input` after each frame.
    pub fn next<'s>(&'s mut self, input: &mut &[u8]) -> Result<Option<Frame<'s>>, FrameError> {
        loop {
            let Some(mut payload) = self.payload else {
                if !self.fill_head(input) {
                    return Ok(None);
                }
                self.payload = Some(self.start_frame()?);
                continue;
            };
            if payload.remaining > 0 {
                if input.is_empty() {
                    return Ok(None);
                }
                let take = payload.remaining.min(input.len() as u64) as usize;
                let (chunk, rest) = input.split_at(take);
                self.keep(&payload, chunk);
                payload.remaining -= take as u64;
                payload.offset += take as u64;
                *input = rest;
                self.payload = Some(payload);
                if payload.remaining > 0 {
                    return Ok(None);
                }
            }
            self.payload = None;
            if let Some(finished) = self.finish(&payload)? {
                return Ok(Some(self.lend(finished)));
            }
        }
    }

    /// Bytes of the current frame's head still missing, given those already read.
    fn head_needed(&self) -> usize {
        if self.head_len < 2 {
            return 2;
        }
        let extended = match self.head[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + extended + mask
    }

    /// Moves head bytes from `input`; true once the head is whole.
    fn fill_head(&mut self, input: &mut &[u8]) -> bool {
        loop {
            let needed = self.head_needed();
            if self.head_len == needed {
                return true;
            }
            if input.is_empty() {
                return false;
            }
            let take = (needed - self.head_len).min(input.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&input[..take]);
            self.head_len += take;
            *input = &input[take..];
        }
    }

    fn start_frame(&mut self) -> Result<PayloadInProgress, FrameError> {
        let head = self.head;
        self.head_len = 0;
        let fin = head[0] & 0x80 != 0;
        let reserved = head[0] & 0x70;
        if reserved != 0 {
            return Err(FrameError::ReservedBits(reserved));
        }
        let opcode =
            Opcode::from_bits(head[0] & 0x0F).ok_or(FrameError::ReservedOpcode(head[0] & 0x0F))?;
        let masked = head[1] & 0x80 != 0;
        match (self.writer, masked) {
            (Writer::Server, true) => return Err(FrameError::Masking(Writer::Server, "")),
            (Writer::Client, false) => return Err(FrameError::Masking(Writer::Client, "not ")),
            _ => {}
        }
        let (len, key_at) = match head[1] & 0x7F {
            126 => {
                let len = u64::from(u16::from_be_bytes([head[2], head[3]]));
                if len < 126 {
                    return Err(FrameError::NonMinimalLength(len));
                }
                (len, 4)
            }
            127 => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(&head[2..10]);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(FrameError::LengthTooLarge);
                }
                if len <= u64::from(u16::MAX) {
                    return Err(FrameError::NonMinimalLength(len));
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask =
            masked.then(|| [head[key_at], head[key_at + 1], head[key_at + 2], head[key_at + 3]]);
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::FragmentedControl);
            }
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(FrameError::ControlTooLong(len));
            }
            self.control_len = 0;
        } else if opcode == Opcode::Continuation {
            if self.message.is_none() {
                return Err(FrameError::UnexpectedContinuation);
            }
        } else {
            if self.message.is_some() {
                return Err(FrameError::UnfinishedMessage);
            }
            self.message = Some((opcode, 0));
            self.prefix_len = 0;
        }
        Ok(PayloadInProgress { opcode, fin, remaining: len, mask, offset: 0 })
    }

    /// Keeps what the caller may look at of a payload chunk: all of a control frame, the
    /// first bytes of a message.
    fn keep(&mut self, payload: &PayloadInProgress, chunk: &[u8]) {
        let (store, stored): (&mut [u8], &mut usize) = if payload.opcode.is_control() {
            (&mut self.control, &mut self.control_len)
        } else {
            if let Some((_, len)) = &mut self.message {
                *len += chunk.len() as u64;
            }
            (&mut self.prefix, &mut self.prefix_len)
        };
        let take = (store.len() - *stored).min(chunk.len());
        let target = &mut store[*stored..*stored + take];
        target.copy_from_slice(&chunk[..take]);
        if let Some(key) = payload.mask {
            for (i, byte) in target.iter_mut().enumerate() {
                *byte ^= key[((payload.offset as usize) + i) % 4];
            }
        }
        *stored += take;
    }

    fn finish(&mut self, payload: &PayloadInProgress) -> Result<Option<Finished>, FrameError> {
        if payload.opcode.is_control() {
            if payload.opcode == Opcode::Close && self.control_len == 1 {
                return Err(FrameError::TruncatedCloseCode);
            }
            return Ok(Some(Finished::Control(payload.opcode)));
        }
        if !payload.fin {
            return Ok(None);
        }
        Ok(self.message.take().map(|(opcode, len)| Finished::Message { opcode, len }))
    }

    fn lend(&self, finished: Finished) -> Frame<'_> {
        let control = &self.control[..self.control_len];
        match finished {
            Finished::Message { opcode, len } => {
                Frame::Message { opcode, len, prefix: &self.prefix[..self.prefix_len] }
            }
            Finished::Control(Opcode::Ping) => Frame::Ping(control),
            Finished::Control(Opcode::Pong) => Frame::Pong(control),
            Finished::Control(_) => match control {
                [high, low, reason @ ..] => {
                    Frame::Close { code: Some(u16::from_be_bytes([*high, *low])), reason }
                }
                _ => Frame::Close { code: None, reason: &[] },
            },
        }
    }
}

/// Appends one final frame carrying `payload` to `out`, masked with `mask` (clients must
/// mask, servers must not).
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode.bits());
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, byte)| byte ^ key[i % 4]));
        }
    }
}

/// Appends a close frame with `code` and `reason` (at most 123 bytes are kept).
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str, mask: Option<[u8; 4]>) {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    let reason = &reason.as_bytes()[..reason.len().min(MAX_CONTROL_PAYLOAD - 2)];
    payload[2..2 + reason.len()].copy_from_slice(reason);
    write_frame(out, Opcode::Close, &payload[..2 + reason.len()], mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads every frame of `bytes`, fed `chunk` bytes at a time, as owned values.
    fn read_all(writer: Writer, bytes: &[u8], chunk: usize) -> Result<Vec<Owned>, FrameError> {
        let mut reader = FrameReader::new(writer);
        let mut frames = Vec::new();
        for mut piece in bytes.chunks(chunk) {
            while let Some(frame) = reader.next(&mut piece)? {
                frames.push(Owned::from(frame));
            }
            assert!(piece.is_empty(), "a reader that returns None consumed its input");
        }
        Ok(frames)
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Message(Opcode, u64, Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, Vec<u8>),
    }

    impl From<Frame<'_>> for Owned {
        fn from(frame: Frame<'_>) -> Owned {
            match frame {
                Frame::Message { opcode, len, prefix } => {
                    Owned::Message(opcode, len, prefix.to_vec())
                }
                Frame::Ping(p) => Owned::Ping(p.to_vec()),
                Frame::Pong(p) => Owned::Pong(p.to_vec()),
                Frame::Close { code, reason } => Owned::Close(code, reason.to_vec()),
            }
        }
    }

    fn every_chunking(writer: Writer, bytes: &[u8]) -> Result<Vec<Owned>, FrameError> {
        let whole = read_all(writer, bytes, bytes.len().max(1));
        for chunk in [1, 2, 3, 7] {
            assert_eq!(read_all(writer, bytes, chunk), whole, "fed {chunk} bytes at a time");
        }
        whole
    }

    #[test]
    fn short_binary_frame() {
        let frames = every_chunking(Writer::Server, &[0x82, 0x03, 1, 2, 3]).unwrap();
        assert_eq!(frames, [Owned::Message(Opcode::Binary, 3, vec![1, 2, 3])]);
    }

    #[test]
    fn sixteen_bit_length_keeps_the_prefix_and_counts_the_rest() {
        let payload: Vec<u8> = (0..230u32).map(|i| i as u8).collect();
        let mut bytes = vec![0x82, 0x7E, 0x00, 0xE6];
        bytes.extend_from_slice(&payload);
        let frames = every_chunking(Writer::Server, &bytes).unwrap();
        assert_eq!(
            frames,
            [Owned::Message(Opcode::Binary, 230, payload[..PREFIX_CAPACITY].to_vec())]
        );
    }

    #[test]
    fn sixty_four_bit_length() {
        let mut bytes = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        bytes.extend(std::iter::repeat_n(0xAB, 65_536));
        bytes.extend_from_slice(&[0x82, 0x01, 0x07]);
        let frames = read_all(Writer::Server, &bytes, 1000).unwrap();
        assert_eq!(
            frames,
            [
                Owned::Message(Opcode::Binary, 65_536, vec![0xAB; PREFIX_CAPACITY]),
                Owned::Message(Opcode::Binary, 1, vec![7]),
            ]
        );
    }

    #[test]
    fn lengths_must_be_minimal_and_below_two_to_the_63() {
        assert_eq!(
            read_all(Writer::Server, &[0x82, 0x7E, 0x00, 0x05, 1, 2, 3, 4, 5], 9),
            Err(FrameError::NonMinimalLength(5))
        );
        assert_eq!(
            read_all(Writer::Server, &[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 10),
            Err(FrameError::NonMinimalLength(0xFFFF))
        );
        assert_eq!(
            read_all(Writer::Server, &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], 10),
            Err(FrameError::LengthTooLarge)
        );
    }

    #[test]
    fn ping_pong_and_empty_payloads() {
        let bytes = [0x89, 0x02, b'h', b'i', 0x8A, 0x00, 0x82, 0x00];
        let frames = every_chunking(Writer::Server, &bytes).unwrap();
        assert_eq!(
            frames,
            [
                Owned::Ping(b"hi".to_vec()),
                Owned::Pong(Vec::new()),
                Owned::Message(Opcode::Binary, 0, Vec::new())
            ]
        );
    }

    #[test]
    fn close_with_code_and_reason_and_without_either() {
        // 1008 is 0x03F0; the reason is 34 bytes, so the payload is 36 (0x24).
        let mut bytes = vec![0x88, 0x24, 0x03, 0xF0];
        bytes.extend_from_slice(b"client is not reading its messages");
        let frames = every_chunking(Writer::Server, &bytes).unwrap();
        assert_eq!(
            frames,
            [Owned::Close(Some(1008), b"client is not reading its messages".to_vec())]
        );
        assert_eq!(
            every_chunking(Writer::Server, &[0x88, 0x00]).unwrap(),
            [Owned::Close(None, vec![])]
        );
        assert_eq!(
            read_all(Writer::Server, &[0x88, 0x01, 0x03], 3),
            Err(FrameError::TruncatedCloseCode)
        );
    }

    #[test]
    fn masked_client_frame_from_rfc_6455() {
        // Section 5.7: a single-frame masked text message "Hello".
        let bytes = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58];
        let frames = every_chunking(Writer::Client, &bytes).unwrap();
        assert_eq!(frames, [Owned::Message(Opcode::Text, 5, b"Hello".to_vec())]);
        assert_eq!(
            read_all(Writer::Server, &bytes, 11),
            Err(FrameError::Masking(Writer::Server, ""))
        );
        assert_eq!(
            read_all(Writer::Client, &[0x82, 0x00], 2),
            Err(FrameError::Masking(Writer::Client, "not "))
        );
    }

    #[test]
    fn fragments_make_one_message_with_a_ping_between_them() {
        // Section 5.7: "Hel" then "lo", here with a ping interleaved.
        let bytes = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x89, 0x00, 0x80, 0x02, 0x6C, 0x6F];
        let frames = every_chunking(Writer::Server, &bytes).unwrap();
        assert_eq!(
            frames,
            [Owned::Ping(vec![]), Owned::Message(Opcode::Text, 5, b"Hello".to_vec())]
        );
    }

    #[test]
    fn protocol_violations() {
        let cases: [(&[u8], FrameError); 6] = [
            (&[0xC2, 0x00], FrameError::ReservedBits(0x40)),
            (&[0x83, 0x00], FrameError::ReservedOpcode(0x3)),
            (&[0x89, 0x7E, 0x00, 0x7E], FrameError::ControlTooLong(126)),
            (&[0x09, 0x00], FrameError::FragmentedControl),
            (&[0x80, 0x00], FrameError::UnexpectedContinuation),
            (&[0x02, 0x00, 0x82, 0x00], FrameError::UnfinishedMessage),
        ];
        for (bytes, error) in cases {
            assert_eq!(read_all(Writer::Server, bytes, bytes.len()), Err(error), "{bytes:02x?}");
        }
    }

    #[test]
    fn writes_every_length_form_and_masks() {
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Binary, &[9; 3], None);
        assert_eq!(out, [0x82, 0x03, 9, 9, 9]);

        out.clear();
        write_frame(&mut out, Opcode::Binary, &[0; 230], None);
        assert_eq!(out[..4], [0x82, 0x7E, 0x00, 0xE6]);
        assert_eq!(out.len(), 4 + 230);

        out.clear();
        write_frame(&mut out, Opcode::Binary, &[0; 70_000], None);
        assert_eq!(out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);

        out.clear();
        write_frame(&mut out, Opcode::Text, b"Hello", Some([0x37, 0xFA, 0x21, 0x3D]));
        assert_eq!(out, [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]);

        out.clear();
        write_close(&mut out, 1000, "bye", None);
        assert_eq!(out, [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e']);
        let frames = read_all(Writer::Server, &out, 1).unwrap();
        assert_eq!(frames, [Owned::Close(Some(1000), b"bye".to_vec())]);
    }
}
