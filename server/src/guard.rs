//! [`FrameGuard`]: a watch on the bytes a client sends, below tungstenite, that fails a
//! connection at the first bad byte rather than at the end of a message.
//!
//! tungstenite validates a text message's UTF-8 frame by frame, once each whole frame has
//! arrived; a peer can stream a megabyte of a frame whose first bytes are already invalid. The
//! guard follows the frame headers in the byte stream, unmasks text payload as it arrives and
//! validates it incrementally (RFC 6455 8.1: fail the connection as soon as invalid UTF-8 is
//! seen, the "fail fast" Autobahn cases 6.4.x check). On the game endpoint, where text is never
//! accepted, it fails at the first text frame's header. It reports either as an I/O error of
//! kind `InvalidData` wrapping a [`Violation`]; the connection maps it to its close code.
//!
//! It only reads: bytes pass to tungstenite unchanged, and framing errors are left for
//! tungstenite to report. [`FrameGuard::disarm`] turns it into a plain pass-through (for
//! draining a connection that is being closed).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the guard refuses, carried inside the `io::Error` it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A text frame on an endpoint that takes binary messages only (close 1003).
    #[error("a text frame: this endpoint speaks binary messages only")]
    TextFrame,
    /// Text payload that is not UTF-8, seen at the first bad byte (close 1007).
    #[error("text frame is not UTF-8")]
    InvalidUtf8,
}

impl Violation {
    /// The violation inside an error the guard returned, if it is one.
    pub fn of(error: &io::Error) -> Option<Violation> {
        error.get_ref()?.downcast_ref::<Violation>().copied()
    }
}

/// Which text the guard lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPolicy {
    /// Text frames are refused at their header (the game endpoint).
    Refuse,
    /// Text frames must be UTF-8, checked byte by byte as they arrive (the echo endpoint).
    Validate,
}

/// Where the scan of the client's byte stream is.
#[derive(Debug, Clone, Copy)]
enum Scan {
    /// Reading a frame header: `have` of the `need` bytes so far (`need` grows once the
    /// length and mask bits are known).
    Header { bytes: [u8; 14], have: usize, need: usize },
    /// Inside a frame's payload.
    Payload { remaining: u64, mask: [u8; 4], offset: usize, text: bool },
}

const NEW_HEADER: Scan = Scan::Header { bytes: [0; 14], have: 0, need: 2 };

/// Incremental UTF-8 validation across chunks: up to 3 bytes of a sequence the chunk cut.
#[derive(Debug, Clone, Copy, Default)]
struct Utf8 {
    pending: [u8; 4],
    len: usize,
}

impl Utf8 {
    /// Takes the next bytes of a text message; false at the first invalid one.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        // Complete a sequence the previous chunk cut, a byte at a time (at most 3).
        while self.len > 0 {
            let Some((&first, rest)) = bytes.split_first() else { return true };
            self.pending[self.len] = first;
            self.len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.len]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_some() => return false,
                Err(_) if self.len == 4 => return false,
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => true,
            Err(e) if e.error_len().is_some() => false,
            Err(e) => {
                // A sequence cut by the end of this chunk: keep its bytes for the next one.
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.len = tail.len();
                true
            }
        }
    }

    /// True when no sequence is left unfinished (a message may end here).
    fn complete(&self) -> bool {
        self.len == 0
    }
}

/// An `AsyncRead + AsyncWrite` that watches the client's frames on their way to tungstenite.
#[derive(Debug)]
pub struct FrameGuard<S> {
    inner: S,
    policy: TextPolicy,
    scan: Scan,
    /// The data message being received is text (its continuation frames are text too).
    in_text: bool,
    /// The current data frame ends its message.
    fin: bool,
    utf8: Utf8,
    armed: bool,
}

impl<S> FrameGuard<S> {
    /// A guard over `inner` applying `policy`.
    pub fn new(inner: S, policy: TextPolicy) -> Self {
        FrameGuard {
            inner,
            policy,
            scan: NEW_HEADER,
            in_text: false,
            fin: false,
            utf8: Utf8::default(),
            armed: true,
        }
    }

    /// Stops watching: every byte passes through unexamined from now on.
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// The stream underneath.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Follows `bytes`, the next bytes the client sent.
    fn observe(&mut self, mut bytes: &[u8]) -> Result<(), Violation> {
        while !bytes.is_empty() {
            match &mut self.scan {
                Scan::Header { bytes: header, have, need } => {
                    let take = (*need - *have).min(bytes.len());
                    header[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 2 {
                        let extra = match header[1] & 0x7f {
                            126 => 2,
                            127 => 8,
                            _ => 0,
                        };
                        let mask = if header[1] & 0x80 != 0 { 4 } else { 0 };
                        *need = 2 + extra + mask;
                    }
                    if *have == *need {
                        let header = *header;
                        let need = *need;
                        self.start_frame(&header[..need])?;
                    }
                }
                Scan::Payload { remaining, mask, offset, text } => {
                    let take = (*remaining).min(bytes.len() as u64) as usize;
                    if *text {
                        let mut chunk = [0u8; 256];
                        for part in bytes[..take].chunks(chunk.len()) {
                            for (i, byte) in part.iter().enumerate() {
                                chunk[i] = byte ^ mask[(*offset + i) % 4];
                            }
                            *offset += part.len();
                            if !self.utf8.feed(&chunk[..part.len()]) {
                                return Err(Violation::InvalidUtf8);
                            }
                        }
                    }
                    *remaining -= take as u64;
                    bytes = &bytes[take..];
                    if *remaining == 0 {
                        self.end_frame()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header arrived.
    fn start_frame(&mut self, header: &[u8]) -> Result<(), Violation> {
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0f;
        let (len, rest) = match header[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([header[2], header[3]])), &header[4..]),
            127 => {
                (u64::from_be_bytes(header[2..10].try_into().unwrap_or([0xff; 8])), &header[10..])
            }
            n => (u64::from(n), &header[2..]),
        };
        let mask: [u8; 4] = rest.try_into().unwrap_or([0; 4]);
        let text = match opcode {
            0x1 => {
                if self.policy == TextPolicy::Refuse {
                    return Err(Violation::TextFrame);
                }
                self.in_text = true;
                self.utf8 = Utf8::default();
                true
            }
            0x0 => self.in_text,
            0x2 => {
                self.in_text = false;
                false
            }
            // Control frames sit between fragments without ending the message.
            _ => false,
        };
        if opcode < 0x8 {
            self.fin = fin;
        }
        self.scan = Scan::Payload { remaining: len, mask, offset: 0, text };
        if len == 0 { self.end_frame() } else { Ok(()) }
    }

    /// A frame's payload is over.
    fn end_frame(&mut self) -> Result<(), Violation> {
        if let Scan::Payload { text: true, .. } = self.scan
            && self.fin
        {
            self.in_text = false;
            if !self.utf8.complete() {
                return Err(Violation::InvalidUtf8);
            }
        }
        self.scan = NEW_HEADER;
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !this.armed || !matches!(polled, Poll::Ready(Ok(()))) {
            return polled;
        }
        let observed = this.observe(&buf.filled()[before..]);
        if let Err(violation) = observed {
            this.disarm();
            buf.set_filled(before);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, violation)));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        out.extend(mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Feeds `stream` in pieces of `step` bytes; the offset of the first refused piece.
    fn run(policy: TextPolicy, stream: &[u8], step: usize) -> Result<(), (usize, Violation)> {
        let mut guard = FrameGuard::new((), policy);
        for (i, piece) in stream.chunks(step).enumerate() {
            guard.observe(piece).map_err(|v| (i * step, v))?;
        }
        Ok(())
    }

    #[test]
    fn valid_text_split_anywhere_passes_and_binary_is_not_examined() {
        let text = "tickwire ✓ 😀 ümlaut".repeat(40);
        let bytes = text.as_bytes();
        let mut stream = frame(false, 0x1, &bytes[..301]);
        stream.extend(frame(true, 0x9, b"ping")); // a control frame between fragments
        stream.extend(frame(false, 0x0, &bytes[301..302]));
        stream.extend(frame(true, 0x0, &bytes[302..]));
        stream.extend(frame(true, 0x2, &[0xff, 0xfe, 0x00]));
        stream.extend(frame(true, 0x1, &[]));
        for step in [1, 2, 3, 7, 64, 1000, stream.len()] {
            assert_eq!(run(TextPolicy::Validate, &stream, step), Ok(()), "step {step}");
        }
    }

    #[test]
    fn invalid_utf8_is_refused_at_the_first_bad_byte() {
        // The second fragment's third payload byte starts an invalid sequence; a megabyte
        // follows that never needs to arrive.
        let mut stream = frame(false, 0x1, "héllo".as_bytes());
        let mut bad = b"ok".to_vec();
        bad.push(0xc0);
        bad.push(0xaf);
        bad.extend(vec![b'x'; 1 << 20]);
        let second = frame(false, 0x0, &bad);
        let at = stream.len() + 14 + 2; // 0xc0 (never valid), behind a 14-byte header and "ok"
        stream.extend(second);
        assert_eq!(run(TextPolicy::Validate, &stream, 1), Err((at, Violation::InvalidUtf8)));
        // A sequence cut by the end of the message is invalid too.
        let cut = frame(true, 0x1, &"é".as_bytes()[..1]);
        assert_eq!(
            run(TextPolicy::Validate, &cut, 1).map_err(|e| e.1),
            Err(Violation::InvalidUtf8)
        );
    }

    #[test]
    fn the_game_endpoint_refuses_text_at_the_header() {
        let mut stream = frame(true, 0x2, &[1, 2, 3]);
        let at = stream.len();
        stream.extend(frame(false, 0x1, &vec![b'a'; 70_000]));
        // Refused once its 14-byte header is in, before any of its 70,000 bytes.
        assert_eq!(run(TextPolicy::Refuse, &stream, 1), Err((at + 13, Violation::TextFrame)));
    }

    #[test]
    fn a_violation_travels_inside_an_io_error() {
        let e = io::Error::new(io::ErrorKind::InvalidData, Violation::InvalidUtf8);
        assert_eq!(Violation::of(&e), Some(Violation::InvalidUtf8));
        assert_eq!(Violation::of(&io::Error::other("no")), None);
    }
}
