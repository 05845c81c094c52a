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

/// The low `n` bits set (`n <= 32`).
fn mask(n: u32) -> u64 {
    (1u64 << n) - 1
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, at: 0 }
    }

    /// Bits not read yet.
    fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.at
    }

    /// The next (at least 57) bits, the next bit lowest; zero past the end.
    fn window(&self) -> u64 {
        let start = (self.at / 8).min(self.bytes.len());
        let rest = &self.bytes[start..];
        let mut word = [0u8; 8];
        let take = rest.len().min(8);
        word[..take].copy_from_slice(&rest[..take]);
        u64::from_le_bytes(word) >> (self.at % 8)
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, BitsError> {
        Ok(self.bits(1)? == 1)
    }

    /// `u(n)`, `n <= 32`.
    pub fn bits(&mut self, n: u32) -> Result<u32, BitsError> {
        debug_assert!(n <= 32);
        if self.remaining() < n as usize {
            return Err(BitsError::Truncated);
        }
        let value = self.window() & mask(n);
        self.at += n as usize;
        Ok(value as u32)
    }

    /// `eg(k)`, `k < 32`; a value above `u32::MAX` is [`BitsError::Overlong`].
    pub fn eg(&mut self, k: u32) -> Result<u32, BitsError> {
        // More zeros than this make the code too long, whatever follows them.
        let too_many = MAX_EG_BITS + 1 - k;
        let available = self.remaining().min(57) as u32;
        let zeros = self.window().trailing_zeros().min(available);
        if zeros >= too_many {
            return Err(BitsError::Overlong);
        }
        if zeros == available {
            return Err(BitsError::Truncated); // the stream ends before the code's one bit
        }
        self.at += zeros as usize + 1;
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
        self.remaining() < 8 && self.window() == 0
    }
}

/// Writes a bit stream into a byte vector; [`BitWriter::finish`] writes the last byte.
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet written, the next one lowest.
    pending: u64,
    /// How many (below 32 between calls).
    count: u32,
}

#[cfg(feature = "alloc")]
impl<'a> BitWriter<'a> {
    /// A writer appending to `out` from a byte boundary.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, pending: 0, count: 0 }
    }

    /// Appends the low `n` bits of `value` (`n <= 33`, higher bits of `value` zero). Whole
    /// 32-bit words are written as they fill, so `count` stays below 32 between calls.
    #[inline]
    fn put(&mut self, value: u64, n: u32) {
        self.pending |= value << self.count;
        self.count += n;
        while self.count >= 32 {
            self.out.extend_from_slice(&(self.pending as u32).to_le_bytes());
            self.pending >>= 32;
            self.count -= 32;
        }
    }

    /// One bit.
    pub fn bit(&mut self, bit: bool) {
        self.put(u64::from(bit), 1);
    }

    /// `u(n)`: the low `n` bits of `value`, low bit first.
    pub fn bits(&mut self, value: u32, n: u32) {
        self.put(u64::from(value) & mask(n), n);
    }

    /// `eg(k)` of `value`.
    #[inline]
    pub fn eg(&mut self, value: u32, k: u32) {
        let w = u64::from(value) + (1u64 << k);
        let top = 63 - w.leading_zeros(); // bits after the leading one: z + k
        let zeros = top - k;
        // The leading one and the `top` bits below it, low bit first, after the zeros.
        let tail = 1 | (w - (1u64 << top)) << 1;
        let len = zeros + top + 1;
        if len <= 33 {
            self.put(tail << zeros, len); // one write for the small values that dominate
        } else {
            self.put(0, zeros);
            self.put(tail, top + 1);
        }
    }

    /// `se(k)` of `value`.
    #[inline]
    pub fn se(&mut self, value: i32, k: u32) {
        self.eg(zigzag(value), k);
    }

    /// Writes the last, partial byte (zero padded). Dropping the writer without it loses up
    /// to 7 bits.
    pub fn finish(self) {
        let bytes = self.count.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.pending.to_le_bytes()[..bytes]);
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
        w.finish();
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
        let mut w = BitWriter::new(&mut out);
        w.eg(u32::MAX, 0);
        w.finish();
        assert_eq!(BitReader::new(&out).eg(0), Ok(u32::MAX));
        // 32 zeros then a one is u32::MAX at most; 33 zeros are too many for order 0.
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 1, 0, 0, 0, 0]).eg(0), Ok(u32::MAX));
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 2, 0, 0, 0, 0]).eg(0), Err(BitsError::Overlong));
        // A run of zeros that the stream ends inside is truncation, not overlong.
        assert_eq!(BitReader::new(&[0, 0]).eg(0), Err(BitsError::Truncated));
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
            w.finish();
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
