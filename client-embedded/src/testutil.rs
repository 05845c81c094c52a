//! Helpers shared by the unit tests: a deterministic RNG, server frames, client frame decoding,
//! a scripted server.

extern crate std;

use crate::ws::handshake::accept_for;
use core::convert::Infallible;
use embedded_io_async::{ErrorType, Read, Write};
use std::vec::Vec;

/// A deterministic `RngCore` (a counter through SplitMix64).
pub(crate) struct TestRng(pub(crate) u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// An unmasked (server) frame.
pub(crate) fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = std::vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Splits masked client frames: (fin, opcode, unmasked payload) each.
pub(crate) fn client_frames(mut bytes: &[u8]) -> Vec<(bool, u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (fin, opcode) = (bytes[0] & 0x80 != 0, bytes[0] & 0x0f);
        assert!(bytes[1] & 0x80 != 0, "client frames are masked");
        let (len, mut at) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => panic!("no client frame is that large"),
            n => (n as usize, 2),
        };
        let mask = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        at += 4;
        let payload =
            bytes[at..at + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        frames.push((fin, opcode, payload));
        bytes = &bytes[at + len..];
    }
    assert!(bytes.is_empty(), "trailing partial frame");
    frames
}

/// A fake server: answers the upgrade request with a valid response (or `response`) followed
/// by `frames`, delivered in reads of at most `chunk` bytes, never across `cut`; then waits
/// forever (or ends the stream with `eof`). Records what the client writes.
pub(crate) struct Script {
    pub(crate) frames: Vec<u8>,
    /// Instead of the valid 101 response; empty for a server that never answers.
    pub(crate) response: Option<Vec<u8>>,
    pub(crate) input: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) chunk: usize,
    pub(crate) cut: usize,
    pub(crate) eof: bool,
    /// Write calls served (the upgrade request is the first) before every write pends
    /// forever: the client's side of the link stalls.
    pub(crate) writes_until_stall: usize,
    pub(crate) out: Vec<u8>,
    pub(crate) request_len: usize,
    /// `graceful` of each `Connector::release` of this transport, in order (the client
    /// tests' connector records them).
    pub(crate) released: Vec<bool>,
}

impl Script {
    pub(crate) fn new(frames: Vec<u8>, chunk: usize, cut: usize) -> Script {
        Script {
            frames,
            response: None,
            input: Vec::new(),
            pos: 0,
            chunk,
            cut,
            eof: false,
            writes_until_stall: usize::MAX,
            out: Vec::new(),
            request_len: 0,
            released: Vec::new(),
        }
    }

    /// Frames the client wrote after its request: (fin, opcode, payload).
    pub(crate) fn written(&self) -> Vec<(bool, u8, Vec<u8>)> {
        client_frames(&self.out[self.request_len..])
    }
}

impl ErrorType for Script {
    type Error = Infallible;
}

impl Read for Script {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if self.request_len == 0 {
            let request = core::str::from_utf8(&self.out).unwrap();
            self.request_len = request.find("\r\n\r\n").unwrap() + 4;
            let key = request.split("Sec-WebSocket-Key: ").nth(1).unwrap();
            let key: [u8; 24] = key.as_bytes()[..24].try_into().unwrap();
            let accept = accept_for(&key);
            let accept = core::str::from_utf8(&accept).unwrap();
            let default = std::format!(
                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Protocol: tickwire.v1\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            self.input = self.response.clone().unwrap_or(default.into_bytes());
            self.input.extend_from_slice(&self.frames);
        }
        let mut end = (self.pos + self.chunk.min(buf.len())).min(self.input.len());
        if self.pos < self.cut && end > self.cut {
            end = self.cut;
        }
        let n = end - self.pos;
        if n == 0 {
            if self.eof {
                return Ok(0);
            }
            core::future::pending::<()>().await;
        }
        buf[..n].copy_from_slice(&self.input[self.pos..end]);
        self.pos = end;
        Ok(n)
    }
}

impl Write for Script {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        if self.writes_until_stall == 0 {
            core::future::pending::<()>().await;
        }
        self.writes_until_stall -= 1;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
