//! RFC 6455 frame headers as the server sends them (unmasked), parsed and validated before
//! a frame's payload is awaited.

use crate::error::FrameError;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Opcode {
    /// 0: the next fragment of an open message.
    Continuation,
    /// 1: a UTF-8 message (tickwire sends none).
    Text,
    /// 2: a binary message: one tickwire message.
    Binary,
    /// 8: close.
    Close,
    /// 9: ping, answered with a pong of the same payload.
    Ping,
    /// 10: pong.
    Pong,
}

impl Opcode {
    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// Final fragment of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// Bytes of the header (2, 4 or 10: server frames carry no mask).
    pub header_len: usize,
    /// Bytes of payload announced.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Header plus payload.
    pub fn frame_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }
}

/// Parses the header at the start of `buf`: `Ok(None)` until enough bytes are there, an error
/// as soon as the bytes present break a rule (no need to wait for the payload to reject it).
pub fn parse_header(buf: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = match b0 & 0x0f {
        0 => Opcode::Continuation,
        1 => Opcode::Text,
        2 => Opcode::Binary,
        8 => Opcode::Close,
        9 => Opcode::Ping,
        10 => Opcode::Pong,
        other => return Err(FrameError::UnknownOpcode(other)),
    };
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 != 0 {
        return Err(FrameError::Masked);
    }
    let short = b1 & 0x7f;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::FragmentedControl);
        }
        if short > 125 {
            return Err(FrameError::ControlTooLong);
        }
    }
    let (header_len, payload_len) = match short {
        126 => match buf.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut len = [0u8; 8];
                len.copy_from_slice(b);
                // RFC 6455 5.2: the most significant bit must be 0. Refused, not masked: the
                // codec reads all 64 bits, and would end the frame elsewhere.
                match u64::from_be_bytes(len) {
                    len if len >> 63 != 0 => return Err(FrameError::InvalidLength),
                    len => (10, len),
                }
            }
            None => return Ok(None),
        },
        n => (2, u64::from(n)),
    };
    Ok(Some(FrameHeader { fin, opcode, header_len, payload_len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_in_all_three_encodings() {
        let h = parse_header(&[0x82, 5]).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.header_len, h.payload_len), (true, Opcode::Binary, 2, 5));
        assert_eq!(parse_header(&[0x82, 126, 1]), Ok(None));
        let h = parse_header(&[0x02, 126, 1, 0]).unwrap().unwrap();
        assert_eq!((h.fin, h.header_len, h.payload_len), (false, 4, 256));
        assert_eq!(parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0]), Ok(None));
        let h = parse_header(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap().unwrap();
        assert_eq!((h.header_len, h.payload_len), (10, 65536));
        assert_eq!(parse_header(&[0x82]), Ok(None));
    }

    #[test]
    fn rule_breaking_headers_are_rejected_from_their_first_bytes() {
        assert_eq!(parse_header(&[0xc2, 0]), Err(FrameError::ReservedBits));
        assert_eq!(parse_header(&[0x83, 0]), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(parse_header(&[0x82, 0x80]), Err(FrameError::Masked));
        assert_eq!(parse_header(&[0x09, 0]), Err(FrameError::FragmentedControl));
        assert_eq!(parse_header(&[0x89, 126]), Err(FrameError::ControlTooLong));
    }

    /// Found by the `ws_deframer` fuzz target: a 64-bit length with its top bit set was masked
    /// to 63 bits here while embedded-websocket's codec read all 64 (on a 64-bit host), so the
    /// codec took the next frames for the rest of this one's payload.
    #[test]
    fn a_64_bit_length_with_its_top_bit_set_is_refused() {
        let mut header = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(parse_header(&header), Err(FrameError::InvalidLength));
        header[2] = 0x7f; // the largest valid length is announced, for the size check to refuse
        let h = parse_header(&header).unwrap().unwrap();
        assert_eq!(h.payload_len, 0x7f00_0000_0000_0100);
    }
}
