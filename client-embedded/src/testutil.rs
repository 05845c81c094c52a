//! Helpers shared by the unit tests: a deterministic RNG, server frames, client frame decoding.

extern crate std;

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
