//! `BoundedStr<N>`: an owned, fixed-capacity UTF-8 string for names, room names and chat.
//!
//! It lives inline (no allocator), and its wire form is the same as bincode's `&str`
//! (varint length, then the bytes), so the decoder checks the length against `N` *before*
//! it copies anything: an oversized or invalid string is an error, never an allocation.

use bincode::de::{BorrowDecoder, Decoder, read::Reader};
use bincode::enc::Encoder;
use bincode::error::{DecodeError as BincodeDecodeError, EncodeError as BincodeEncodeError};
use bincode::{BorrowDecode, Decode, Encode};
use core::fmt;

/// A UTF-8 string of at most `N` bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoundedStr<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

/// Why a `&str` did not fit a [`BoundedStr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("string of {len} bytes exceeds the limit of {max}")]
pub struct TooLong {
    /// Length of the rejected string in bytes.
    pub len: usize,
    /// The capacity `N`.
    pub max: usize,
}

impl<const N: usize> BoundedStr<N> {
    /// Capacity in bytes.
    pub const MAX: usize = N;

    /// The empty string.
    pub const fn new() -> Self {
        assert!(N <= u16::MAX as usize, "BoundedStr capacity must fit u16");
        Self { len: 0, bytes: [0; N] }
    }

    /// Copies `s`, or says how long it was when it does not fit.
    pub fn try_from_str(s: &str) -> Result<Self, TooLong> {
        if s.len() > N {
            return Err(TooLong { len: s.len(), max: N });
        }
        let mut out = Self::new();
        out.bytes[..s.len()].copy_from_slice(s.as_bytes());
        out.len = s.len() as u16;
        Ok(out)
    }

    /// Copies the longest prefix of `s` that fits and ends on a character boundary.
    pub fn truncated(s: &str) -> Self {
        let mut end = s.len().min(N);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Self::try_from_str(&s[..end]).unwrap_or_default()
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Every constructor copies from a `&str` or validates UTF-8 on decode, at a char
        // boundary, so this never fails; fall back to "" rather than panic regardless.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for "".
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for BoundedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PartialOrd for BoundedStr<N> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> Ord for BoundedStr<N> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl<const N: usize> fmt::Debug for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for BoundedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> core::ops::Deref for BoundedStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> TryFrom<&str> for BoundedStr<N> {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Self, TooLong> {
        Self::try_from_str(s)
    }
}

impl<const N: usize> Encode for BoundedStr<N> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), BincodeEncodeError> {
        self.as_str().encode(encoder)
    }
}

impl<const N: usize, C> Decode<C> for BoundedStr<N> {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, BincodeDecodeError> {
        let len = u64::decode(decoder)?;
        if len > N as u64 {
            return Err(BincodeDecodeError::Other(crate::codec::ERR_STRING_TOO_LONG));
        }
        let len = len as usize;
        let mut out = Self::new();
        decoder.claim_bytes_read(len)?;
        decoder.reader().read(&mut out.bytes[..len])?;
        if core::str::from_utf8(&out.bytes[..len]).is_err() {
            return Err(BincodeDecodeError::Other(crate::codec::ERR_INVALID_UTF8));
        }
        out.len = len as u16;
        Ok(out)
    }
}

impl<'de, const N: usize, C> BorrowDecode<'de, C> for BoundedStr<N> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, BincodeDecodeError> {
        Self::decode(decoder)
    }
}

#[cfg(feature = "serde")]
impl<const N: usize> serde::Serialize for BoundedStr<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl<'de, const N: usize> serde::Deserialize<'de> for BoundedStr<N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<const M: usize>;
        impl<const M: usize> serde::de::Visitor<'_> for Visitor<M> {
            type Value = BoundedStr<M>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string of at most {M} bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                BoundedStr::try_from_str(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_respects_char_boundaries() {
        let s: BoundedStr<4> = BoundedStr::truncated("ab\u{e9}\u{e9}");
        assert_eq!(s.as_str(), "ab\u{e9}");
        assert_eq!(BoundedStr::<4>::try_from_str("abcde"), Err(TooLong { len: 5, max: 4 }));
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for BoundedStr<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}
