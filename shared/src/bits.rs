//! The bit stream of a snapshot body: fixed-width fields and Exp-Golomb codes, least
//! significant bit first.
//!
//! Bit `i` of the stream is bit `i % 8` of byte `i / 8`. A `u(n)` field is written low bit
//! first. `eg(k)`, Exp-Golomb of order `k`, writes an unsigned `v` as: `z` zero bits, a one
//! bit, then `u(z + k)` holding `w - 2^(z+k)`, where `w = v + 2^k` and `z + k + 1` is the bit
//! length of `w`. Small values are short: `eg(0)` spends 1 bit on 0 and 3 on 1 and 2. `se(k)`
//! is `eg(k)` of the zigzag mapping (0, -1, 1, -2, 2 ... to 0, 1, 2, 3, 4 ...). `PROTOCOL.md`
//! section 6 shows the codes bit by bit.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// Longest `z + k` a decoder accepts: every value it carries fits 32 bits.
pub const MAX_EG_BITS: u32 = 32;

/// Why a bit stream did not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitsError {
    /// The stream ended inside a field.
    Truncated,
    /// An Exp-Golomb code longer than [`MAX_EG_BITS`].
    Overlong,
}

/// Reads a bit stream from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bits read so far.
    at: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, at: 0 }
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, BitsError> {
        let byte = self.bytes.get(self.at / 8).ok_or(BitsError::Truncated)?;
        let bit = byte >> (self.at % 8) & 1 == 1;
        self.at += 1;
        Ok(bit)
    }

    /// `u(n)`, `n <= 32`.
    pub fn bits(&mut self, n: u32) -> Result<u32, BitsError> {
        debug_assert!(n <= 32);
        let mut value = 0u64;
        for i in 0..n {
            value |= u64::from(self.bit()?) << i;
        }
        Ok(value as u32)
    }

    /// `eg(k)`, `k < 32`; a value above `u32::MAX` is [`BitsError::Overlong`].
    pub fn eg(&mut self, k: u32) -> Result<u32, BitsError> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros + k > MAX_EG_BITS {
                return Err(BitsError::Overlong);
            }
        }
        let n = zeros + k;
        let w = (1u64 << n) + u64::from(self.bits(n)?);
        u32::try_from(w - (1u64 << k)).map_err(|_| BitsError::Overlong)
    }

    /// `se(k)`: a signed value, zigzag-mapped.
    pub fn se(&mut self, k: u32) -> Result<i32, BitsError> {
        let z = self.eg(k)?;
        Ok((z >> 1) as i32 ^ -((z & 1) as i32))
    }

    /// True when only zero padding bits are left in the last byte and no byte follows it.
    pub fn at_end(&self) -> bool {
        let used = self.at.div_ceil(8);
        used == self.bytes.len() && self.at % 8 != 0 && self.bytes[used - 1] >> (self.at % 8) == 0
            || self.at == self.bytes.len() * 8
    }
}

/// Writes a bit stream into a byte vector.
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits used in the last byte of `out` (0: start a new byte).
    used: u32,
}

#[cfg(feature = "alloc")]
impl<'a> BitWriter<'a> {
    /// A writer appending to `out` from a byte boundary.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, used: 0 }
    }

    /// One bit.
    pub fn bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.out.push(0);
        }
        if bit {
            if let Some(last) = self.out.last_mut() {
                *last |= 1 << self.used;
            }
        }
        self.used = (self.used + 1) % 8;
    }

    /// `u(n)`: the low `n` bits of `value`, low bit first.
    pub fn bits(&mut self, value: u32, n: u32) {
        for i in 0..n {
            self.bit(value >> i & 1 == 1);
        }
    }

    /// `eg(k)` of `value`.
    pub fn eg(&mut self, value: u32, k: u32) {
        let w = u64::from(value) + (1u64 << k);
        let n = 63 - w.leading_zeros(); // bits after the leading one
        for _ in k..n {
            self.bit(false);
        }
        self.bit(true);
        let low = w - (1u64 << n);
        for i in 0..n {
            self.bit(low >> i & 1 == 1);
        }
    }

    /// `se(k)` of `value`.
    pub fn se(&mut self, value: i32, k: u32) {
        self.eg(zigzag(value), k);
    }
}

/// 0, -1, 1, -2, 2 ... to 0, 1, 2, 3, 4 ...
pub fn zigzag(value: i32) -> u32 {
    (value << 1 ^ value >> 31) as u32
}

/// Bits `eg(k)` spends on `value`.
pub fn eg_len(value: u32, k: u32) -> u32 {
    let w = u64::from(value) + (1u64 << k);
    2 * (64 - w.leading_zeros()) - 1 - k
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn codes_have_the_documented_bits() {
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        w.eg(0, 0); // 1
        w.eg(1, 0); // 0 1 0
        w.eg(2, 0); // 0 1 1
        w.se(-1, 1); // zigzag 1, w = 3: 1, then u(1) = 1
        assert_eq!(out, vec![0b1110_0101, 0b1]);
        assert_eq!(eg_len(0, 0), 1);
        assert_eq!(eg_len(2, 0), 3);
        assert_eq!(eg_len(7, 0), 7);
        assert_eq!(eg_len(1, 1), 2);
    }

    #[test]
    fn the_end_is_zero_padding_only() {
        let mut r = BitReader::new(&[0b0000_0101]);
        assert_eq!(r.bits(3), Ok(5));
        assert!(r.at_end());
        let mut r = BitReader::new(&[0b1000_0101]);
        assert_eq!(r.bits(3), Ok(5));
        assert!(!r.at_end(), "a set padding bit");
        let mut r = BitReader::new(&[0b0000_0101, 0]);
        assert_eq!(r.bits(3), Ok(5));
        assert!(!r.at_end(), "a whole byte more");
        assert!(BitReader::new(&[]).at_end());
        assert_eq!(BitReader::new(&[]).bit(), Err(BitsError::Truncated));
    }

    #[test]
    fn overlong_codes_are_refused_not_overflowed() {
        // 40 zero bits then a one: longer than any u32.
        let bytes = [0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(BitReader::new(&bytes).eg(0), Err(BitsError::Overlong));
        let mut out = Vec::new();
        BitWriter::new(&mut out).eg(u32::MAX, 0);
        assert_eq!(BitReader::new(&out).eg(0), Ok(u32::MAX));
    }

    proptest! {
        #[test]
        fn every_code_reads_back(values in proptest::collection::vec((any::<u32>(), any::<i32>(), 0u32..8, 0u32..=32), 0..40)) {
            let mut out = Vec::new();
            let mut w = BitWriter::new(&mut out);
            let mut bits = 0;
            for &(u, s, k, n) in &values {
                w.eg(u, k);
                w.se(s, k);
                w.bits(u, n);
                bits += eg_len(u, k) + eg_len(zigzag(s), k) + n;
            }
            prop_assert_eq!(out.len(), (bits as usize).div_ceil(8));
            let mut r = BitReader::new(&out);
            for &(u, s, k, n) in &values {
                prop_assert_eq!(r.eg(k), Ok(u));
                prop_assert_eq!(r.se(k), Ok(s));
                let mask = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
                prop_assert_eq!(r.bits(n), Ok(u & mask));
            }
            prop_assert!(r.at_end());
        }
    }
}
