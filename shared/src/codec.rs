//! The bincode configuration and the functions that put messages on the wire.
//!
//! Configuration: bincode 2 `standard()`: **little endian, variable-length integers**
//! (unsigned: one byte below 251, else a marker byte 251/252/253 and 2/4/8 bytes; signed values
//! zigzag-mapped first), enum tags and lengths as varint `u32`/`u64`, `Option` as a `0`/`1`
//! byte, `bool` as one byte, fixed arrays without a length. The snapshot header is hand-coded
//! (one byte for both ages and the round flag, LEB128 tick and last input) and its body is a
//! bit stream read by [`crate::delta`].
//! `PROTOCOL.md` shows every message byte by byte.
//!
//! Decoders check every length against its limit before they copy or allocate, reject
//! trailing bytes, and return [`DecodeError`], never panic.

use crate::messages::*;
use bincode::de::Decoder;
use bincode::enc::{Encoder, write::Writer};
use bincode::error::{DecodeError as BincodeDecodeError, EncodeError as BincodeEncodeError};
use bincode::{Decode, Encode};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// The exact bincode configuration of the protocol (see the module docs).
pub type WireConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_SERVER_MESSAGE_SIZE>,
>;

/// The configuration value.
pub const CONFIG: WireConfig = bincode::config::standard().with_limit::<MAX_SERVER_MESSAGE_SIZE>();

pub(crate) const ERR_STRING_TOO_LONG: &str = "string longer than its limit";
pub(crate) const ERR_INVALID_UTF8: &str = "string is not valid UTF-8";
const ERR_INVALID_SNAPSHOT_HEADER: &str = "snapshot header is inconsistent";

/// Why bytes did not decode into a message. Whoever reads the message must treat the sender
/// as broken: a server closes that one connection (1002, or 1007 for [`Self::InvalidUtf8`],
/// 1009 for [`Self::TooLarge`]); a client drops the connection and reconnects.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes ended before the message did.
    #[error("message is truncated")]
    Truncated,
    /// An enum tag that this protocol version does not define.
    #[error("unknown {type_name} tag {tag}")]
    UnknownTag {
        /// The Rust type whose tag was read.
        type_name: &'static str,
        /// The tag found.
        tag: u32,
    },
    /// A varint that is malformed or does not fit its field.
    #[error("integer is malformed or out of range")]
    InvalidInteger,
    /// A `bool` byte other than 0 or 1.
    #[error("boolean byte {0} is neither 0 nor 1")]
    InvalidBool(u8),
    /// A string (name, room, chat) longer than its limit.
    #[error("string is longer than its limit")]
    StringTooLong,
    /// A string that is not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A snapshot header whose ages point before tick 0 or at a reference without a baseline,
    /// that writes an age after an escape although it fits its field, or a full snapshot
    /// without its round state.
    #[error("snapshot header is inconsistent")]
    InvalidSnapshotHeader,
    /// Bytes left over after a complete message.
    #[error("{extra} bytes after the end of the message")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The message is longer than any message of its direction may be.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl From<BincodeDecodeError> for DecodeError {
    fn from(e: BincodeDecodeError) -> Self {
        match e {
            BincodeDecodeError::UnexpectedEnd { .. } => DecodeError::Truncated,
            BincodeDecodeError::UnexpectedVariant { type_name, found, .. } => {
                DecodeError::UnknownTag { type_name, tag: found }
            }
            BincodeDecodeError::InvalidBooleanValue(b) => DecodeError::InvalidBool(b),
            BincodeDecodeError::Utf8 { .. } => DecodeError::InvalidUtf8,
            BincodeDecodeError::LimitExceeded => DecodeError::TooLarge {
                len: MAX_SERVER_MESSAGE_SIZE + 1,
                max: MAX_SERVER_MESSAGE_SIZE,
            },
            BincodeDecodeError::Other(ERR_STRING_TOO_LONG) => DecodeError::StringTooLong,
            BincodeDecodeError::Other(ERR_INVALID_UTF8) => DecodeError::InvalidUtf8,
            BincodeDecodeError::Other(ERR_INVALID_SNAPSHOT_HEADER) => {
                DecodeError::InvalidSnapshotHeader
            }
            _ => DecodeError::InvalidInteger,
        }
    }
}

/// Why a message did not encode. Only [`Self::BufferTooSmall`] can happen with the sizes
/// documented in [`crate::messages`]: the caller's buffer is smaller than the limit it should be.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small for this message.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The message holds more entities than [`MAX_SNAPSHOT_ENTITIES`]: the sender must split
    /// its world or raise its interest filtering.
    #[error("snapshot lists more than {MAX_SNAPSHOT_ENTITIES} entities")]
    TooManyEntities,
    /// A snapshot header that cannot be written: a baseline not 1 to 255 ticks before the
    /// tick, a reference not 1 to 255 ticks before the baseline (or without one), or a full
    /// snapshot without its round state. A bug in the encoder's caller.
    #[error("snapshot header is inconsistent")]
    InvalidSnapshotHeader,
    /// A world given to the snapshot encoder whose entities are not sorted by id with unique
    /// ids (`World::from_unsorted` builds one that is). A bug in the encoder's caller.
    #[error("world entities are not sorted by unique id")]
    UnsortedEntities,
}

impl From<BincodeEncodeError> for EncodeError {
    fn from(e: BincodeEncodeError) -> Self {
        match e {
            BincodeEncodeError::Other(ERR_INVALID_SNAPSHOT_HEADER) => {
                EncodeError::InvalidSnapshotHeader
            }
            _ => EncodeError::BufferTooSmall,
        }
    }
}

// ---- hand-coded wire types -------------------------------------------------------------

// The snapshot header's first byte (PROTOCOL.md 2.4): both ages and the round flag, so the
// header of a player's usual delta is that byte and two short numbers.
/// Bits 0-3: the baseline age 1 to 14, 0 for none (a full snapshot), or [`AGE_FOLLOWS`].
const BASELINE_AGE_MASK: u8 = 0x0f;
/// Bits 4-6: the reference age 1 to 6, 0 for none, or [`REFERENCE_FOLLOWS`].
const REFERENCE_AGE_SHIFT: u32 = 4;
const REFERENCE_AGE_MASK: u8 = 0x07;
/// Bit 7: the round state follows.
const HAS_ROUND: u8 = 0x80;
/// A baseline age field of 15: the age (15 to 255) follows as a byte.
const AGE_FOLLOWS: u8 = 15;
/// A reference age field of 7: the age (7 to 255) follows as a byte.
const REFERENCE_FOLLOWS: u8 = 7;

/// `later - earlier` as an age byte, 1 to 255.
fn age(later: Tick, earlier: Tick) -> Option<u8> {
    later.0.checked_sub(earlier.0).and_then(|a| u8::try_from(a).ok()).filter(|&a| a > 0)
}

impl SnapshotHeader {
    /// The baseline's age (ticks before this one) and the reference's (ticks before the
    /// baseline), each 1 to 255 as the head byte carries them; `None` for a header the wire
    /// cannot carry (an age out of range, a reference without a baseline).
    pub fn ages(&self) -> Option<(Option<u8>, Option<u8>)> {
        match (self.baseline, self.reference) {
            (None, None) => Some((None, None)),
            (Some(baseline), None) => Some((Some(age(self.tick, baseline)?), None)),
            (Some(baseline), Some(reference)) => {
                Some((Some(age(self.tick, baseline)?), Some(age(baseline, reference)?)))
            }
            (None, Some(_)) => None,
        }
    }
}

/// An age in a field of the head byte that holds `escape - 1` at most: the field's value, and
/// the byte that follows when it does not fit.
fn age_field(age: Option<u8>, escape: u8) -> (u8, Option<u8>) {
    match age {
        None => (0, None),
        Some(a) if a < escape => (a, None),
        Some(a) => (escape, Some(a)),
    }
}

/// Reads an age from its head field: the field itself, or the byte after an escape, which
/// must not fit the field (one encoding per header).
fn read_age<C, D: Decoder<Context = C>>(
    field: u8,
    escape: u8,
    decoder: &mut D,
) -> Result<Option<u8>, BincodeDecodeError> {
    match field {
        0 => Ok(None),
        f if f < escape => Ok(Some(f)),
        _ => match u8::decode(decoder)? {
            a if a >= escape => Ok(Some(a)),
            _ => Err(BincodeDecodeError::Other(ERR_INVALID_SNAPSHOT_HEADER)),
        },
    }
}

/// Writes `v` as LEB128: seven bits a byte, lowest first, the top bit set on all but the last
/// (1 byte below 2^7, 2 below 2^14, 3 below 2^21 ...). Ticks and input sequences use it
/// because they climb: at 30 Hz they pass 65,535 after 36 minutes, where the bincode varint
/// (2.2) takes 5 bytes, and this one takes 3 for 19 hours.
fn write_leb128<E: Encoder>(mut v: u32, encoder: &mut E) -> Result<(), BincodeEncodeError> {
    let mut bytes = [0u8; 5];
    let mut len = 0;
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            bytes[len] = low;
            len += 1;
            break;
        }
        bytes[len] = low | 0x80;
        len += 1;
    }
    encoder.writer().write(&bytes[..len])
}

/// One byte of a snapshot header. Not inlined: the header reads up to 13 bytes one at a
/// time, and each inlined read would repeat its bounds check and error (a controller's flash).
#[inline(never)]
fn header_byte<C, D: Decoder<Context = C>>(decoder: &mut D) -> Result<u8, BincodeDecodeError> {
    u8::decode(decoder)
}

/// Reads a LEB128 `u32` in its shortest form: a last byte of 0 after others, or bits past 32,
/// are [`DecodeError::InvalidInteger`].
fn read_leb128<C, D: Decoder<Context = C>>(decoder: &mut D) -> Result<u32, BincodeDecodeError> {
    let mut v = 0u32;
    for i in 0..5 {
        let byte = header_byte(decoder)?;
        v |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if (byte == 0 && i > 0) || (i == 4 && byte > 0x0f) {
                break;
            }
            return Ok(v);
        }
    }
    Err(BincodeDecodeError::Other("LEB128 integer not in its shortest form or past 32 bits"))
}

impl Encode for SnapshotHeader {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), BincodeEncodeError> {
        let invalid = || BincodeEncodeError::Other(ERR_INVALID_SNAPSHOT_HEADER);
        let (baseline_age, reference_age) = self.ages().ok_or_else(invalid)?;
        // A full snapshot carries the round: there is no baseline to take it from.
        if self.baseline.is_none() && self.round.is_none() {
            return Err(invalid());
        }
        let (baseline_field, baseline_byte) = age_field(baseline_age, AGE_FOLLOWS);
        let (reference_field, reference_byte) = age_field(reference_age, REFERENCE_FOLLOWS);
        let head = baseline_field
            | reference_field << REFERENCE_AGE_SHIFT
            | if self.round.is_some() { HAS_ROUND } else { 0 };
        encoder.writer().write(&[head])?;
        for byte in [baseline_byte, reference_byte].into_iter().flatten() {
            encoder.writer().write(&[byte])?;
        }
        write_leb128(self.tick.0, encoder)?;
        write_leb128(self.last_input.0, encoder)?;
        if let Some(round) = self.round {
            round.encode(encoder)?;
        }
        Ok(())
    }
}

impl<C> Decode<C> for SnapshotHeader {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, BincodeDecodeError> {
        let invalid = || BincodeDecodeError::Other(ERR_INVALID_SNAPSHOT_HEADER);
        let head = u8::decode(decoder)?;
        let baseline_age = read_age(head & BASELINE_AGE_MASK, AGE_FOLLOWS, decoder)?;
        let reference_field = (head >> REFERENCE_AGE_SHIFT) & REFERENCE_AGE_MASK;
        let reference_age = read_age(reference_field, REFERENCE_FOLLOWS, decoder)?;
        let tick = Tick(read_leb128(decoder)?);
        let last_input = InputSeq(read_leb128(decoder)?);
        let before = |t: Tick, age: u8| t.0.checked_sub(u32::from(age)).map(Tick);
        let baseline = match baseline_age {
            None => None,
            Some(age) => Some(before(tick, age).ok_or_else(invalid)?),
        };
        let reference = match (baseline, reference_age) {
            (_, None) => None,
            (Some(baseline), Some(age)) => Some(before(baseline, age).ok_or_else(invalid)?),
            (None, Some(_)) => return Err(invalid()),
        };
        let round = if head & HAS_ROUND != 0 { Some(RoundState::decode(decoder)?) } else { None };
        if baseline.is_none() && round.is_none() {
            return Err(invalid());
        }
        Ok(SnapshotHeader { tick, baseline, reference, last_input, round })
    }
}
bincode::impl_borrow_decode!(SnapshotHeader);

/// Writes raw bytes (a snapshot body) through an encoder.
#[cfg(feature = "alloc")]
fn write_raw<E: Encoder>(bytes: &[u8], encoder: &mut E) -> Result<(), BincodeEncodeError> {
    encoder.writer().write(bytes)
}

#[cfg(feature = "alloc")]
impl Encode for Snapshot {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), BincodeEncodeError> {
        self.header.encode(encoder)?;
        write_raw(&self.body, encoder)
    }
}

// Server messages are tagged by hand so that `ServerMessage` and `ControlMessage` share tags.

fn encode_tagged<E: Encoder, T: Encode>(
    tag: u32,
    body: &T,
    encoder: &mut E,
) -> Result<(), BincodeEncodeError> {
    tag.encode(encoder)?;
    body.encode(encoder)
}

#[cfg(feature = "alloc")]
impl Encode for ServerMessage {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), BincodeEncodeError> {
        match self {
            ServerMessage::Welcome(m) => encode_tagged(server_tag::WELCOME, m, encoder),
            ServerMessage::Snapshot(m) => encode_tagged(server_tag::SNAPSHOT, m, encoder),
            ServerMessage::Event(m) => encode_tagged(server_tag::EVENT, m, encoder),
            ServerMessage::ControllerFeedback(m) => {
                encode_tagged(server_tag::CONTROLLER_FEEDBACK, m, encoder)
            }
            ServerMessage::Pong(m) => encode_tagged(server_tag::PONG, m, encoder),
            ServerMessage::Kick(m) => encode_tagged(server_tag::KICK, m, encoder),
        }
    }
}

#[cfg(feature = "alloc")]
impl<C> Decode<C> for ServerMessage {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, BincodeDecodeError> {
        Ok(match u32::decode(decoder)? {
            server_tag::WELCOME => ServerMessage::Welcome(Decode::decode(decoder)?),
            // The body is the rest of the message: `decode_server` splits it off.
            server_tag::SNAPSHOT => ServerMessage::Snapshot(Snapshot {
                header: Decode::decode(decoder)?,
                body: Vec::new(),
            }),
            server_tag::EVENT => ServerMessage::Event(Decode::decode(decoder)?),
            server_tag::CONTROLLER_FEEDBACK => {
                ServerMessage::ControllerFeedback(Decode::decode(decoder)?)
            }
            server_tag::PONG => ServerMessage::Pong(Decode::decode(decoder)?),
            server_tag::KICK => ServerMessage::Kick(Decode::decode(decoder)?),
            found => return Err(unknown_server_tag::<ServerMessage>(found)),
        })
    }
}

fn unknown_server_tag<T>(found: u32) -> BincodeDecodeError {
    BincodeDecodeError::UnexpectedVariant {
        type_name: core::any::type_name::<T>(),
        allowed: &bincode::error::AllowedEnumVariants::Range { min: 0, max: 5 },
        found,
    }
}

impl Encode for ControlMessage {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), BincodeEncodeError> {
        match self {
            ControlMessage::Welcome(m) => encode_tagged(server_tag::WELCOME, m, encoder),
            // The header alone, as the no-alloc decoder reads a snapshot (its body skipped):
            // for round trips of that view. No client can apply it: even an empty world's
            // body is a byte (PROTOCOL.md 6.4), so snapshots are encoded from `Snapshot`.
            ControlMessage::Snapshot(header) => {
                encode_tagged(server_tag::SNAPSHOT, header, encoder)
            }
            ControlMessage::Event(m) => encode_tagged(server_tag::EVENT, m, encoder),
            ControlMessage::ControllerFeedback(m) => {
                encode_tagged(server_tag::CONTROLLER_FEEDBACK, m, encoder)
            }
            ControlMessage::Pong(m) => encode_tagged(server_tag::PONG, m, encoder),
            ControlMessage::Kick(m) => encode_tagged(server_tag::KICK, m, encoder),
        }
    }
}

impl<C, E: Decode<C>, S: Decode<C>> Decode<C> for ServerView<E, S> {
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, BincodeDecodeError> {
        Ok(match u32::decode(decoder)? {
            server_tag::WELCOME => ServerView::Welcome(Decode::decode(decoder)?),
            server_tag::SNAPSHOT => ServerView::Snapshot(S::decode(decoder)?),
            server_tag::EVENT => ServerView::Event(E::decode(decoder)?),
            server_tag::CONTROLLER_FEEDBACK => {
                ServerView::ControllerFeedback(Decode::decode(decoder)?)
            }
            server_tag::PONG => ServerView::Pong(Decode::decode(decoder)?),
            server_tag::KICK => ServerView::Kick(Decode::decode(decoder)?),
            // One name for both readings: the tag space is the same.
            found => return Err(unknown_server_tag::<ControlMessage>(found)),
        })
    }
}

impl<C> Decode<C> for SnapshotTick {
    /// Reads the header up to its tick: the head byte, the age bytes it announces (passed
    /// over unchecked: a controller needs the tick alone, and its flash is tight), the tick.
    fn decode<D: Decoder<Context = C>>(decoder: &mut D) -> Result<Self, BincodeDecodeError> {
        let head = header_byte(decoder)?;
        let age_bytes = u8::from(head & BASELINE_AGE_MASK == AGE_FOLLOWS)
            + u8::from((head >> REFERENCE_AGE_SHIFT) & REFERENCE_AGE_MASK == REFERENCE_FOLLOWS);
        for _ in 0..age_bytes {
            header_byte(decoder)?;
        }
        Ok(SnapshotTick(Tick(read_leb128(decoder)?)))
    }
}

impl<C> Decode<C> for SkippedEvent {
    /// Reads nothing: the event's body is left in the buffer.
    fn decode<D: Decoder<Context = C>>(_: &mut D) -> Result<Self, BincodeDecodeError> {
        Ok(SkippedEvent)
    }
}

// ---- entry points ------------------------------------------------------------------------

/// A [`Writer`] into a caller's slice that remembers how much it wrote.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer for SliceWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BincodeEncodeError> {
        let end = self.len + bytes.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(BincodeEncodeError::UnexpectedEnd)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

fn encode_into_slice<T: Encode>(msg: &T, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let mut writer = SliceWriter { buf, len: 0 };
    bincode::encode_into_writer(msg, &mut writer, CONFIG)?;
    Ok(writer.len)
}

fn decode_exact<T: Decode<()>>(bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { len: bytes.len(), max });
    }
    let (msg, used) = bincode::decode_from_slice(bytes, CONFIG)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes { extra: bytes.len() - used });
    }
    Ok(msg)
}

/// Encodes a client message into `buf` (at least [`MAX_CLIENT_MESSAGE_SIZE`] bytes always
/// suffice) and returns the length written.
pub fn encode_client(msg: &ClientMessage, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_into_slice(msg, buf)
}

/// Decodes one whole client message (one WebSocket binary message).
pub fn decode_client(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
    decode_exact(bytes, MAX_CLIENT_MESSAGE_SIZE)
}

/// Reads the protocol version of a `Hello` without decoding the rest, so that a client of
/// another version is refused by its version rather than by whatever its bytes decode into.
/// `None` when the bytes do not start with the `Hello` tag and a version.
pub fn peek_hello_version(bytes: &[u8]) -> Option<u16> {
    #[derive(Decode)]
    struct Prefix {
        tag: u32,
        version: u16,
    }
    let (prefix, _): (Prefix, usize) = bincode::decode_from_slice(bytes, CONFIG).ok()?;
    (prefix.tag == 0).then_some(prefix.version)
}

/// Encodes a server message without allocating (at least [`MAX_CONTROL_MESSAGE_SIZE`] bytes
/// always suffice). Used by servers on the control path and by tests on small targets.
pub fn encode_control(msg: &ControlMessage, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_into_slice(msg, buf)
}

/// Decodes one whole server message without allocating; a `Snapshot` yields its header only.
pub fn decode_control(bytes: &[u8]) -> Result<ControlMessage, DecodeError> {
    decode_view(bytes, false)
}

/// `skips_events`: `E` leaves an event's body unread, so bytes after the tag are expected.
fn decode_view<E: Decode<()>, S: Decode<()>>(
    bytes: &[u8],
    skips_events: bool,
) -> Result<ServerView<E, S>, DecodeError> {
    if bytes.len() > MAX_SERVER_MESSAGE_SIZE {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_SERVER_MESSAGE_SIZE });
    }
    let (msg, used): (ServerView<E, S>, usize) = bincode::decode_from_slice(bytes, CONFIG)?;
    // A snapshot's body is deliberately left unread, and so is a skipped event's body;
    // everything else must fit exactly.
    let partial = match msg {
        ServerView::Snapshot(_) => true,
        ServerView::Event(_) => skips_events,
        _ => false,
    };
    if !partial && used != bytes.len() {
        return Err(DecodeError::TrailingBytes { extra: bytes.len() - used });
    }
    Ok(msg)
}

/// What a controller reads: [`decode_control`], except that an `Event` (a feed for screens:
/// joins, chat, scores, which the server does not send to controllers anyway) is recognised
/// by its tag and skipped unread (`ServerView::Event(SkippedEvent)`), and a snapshot yields only
/// its tick, which keeps name, chat and header decoding out of a controller's flash.
/// Everything else decodes as in [`decode_control`].
pub fn decode_controller(bytes: &[u8]) -> Result<ControllerMessage, DecodeError> {
    decode_view(bytes, true)
}

#[cfg(feature = "alloc")]
struct VecWriter<'a>(&'a mut Vec<u8>);

#[cfg(feature = "alloc")]
impl Writer for VecWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), BincodeEncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Appends a server message to `out` (reuse one buffer to avoid an allocation per frame).
#[cfg(feature = "alloc")]
pub fn encode_server_into(msg: &ServerMessage, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = bincode::encode_into_writer(msg, VecWriter(out), CONFIG);
    if result.is_err() {
        out.truncate(start);
    }
    Ok(result?)
}

/// Encodes a server message into a new buffer.
#[cfg(feature = "alloc")]
pub fn encode_server(msg: &ServerMessage) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_server_into(msg, &mut out)?;
    Ok(out)
}

/// Decodes one whole server message. A snapshot's body is taken as it is (everything after
/// its header); [`crate::delta::apply`] reads it against the worlds the header names.
#[cfg(feature = "alloc")]
pub fn decode_server(bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
    if bytes.len() > MAX_SERVER_MESSAGE_SIZE {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_SERVER_MESSAGE_SIZE });
    }
    let (mut msg, used): (ServerMessage, usize) = bincode::decode_from_slice(bytes, CONFIG)?;
    match &mut msg {
        ServerMessage::Snapshot(snapshot) => snapshot.body = bytes[used..].to_vec(),
        _ if used != bytes.len() => {
            return Err(DecodeError::TrailingBytes { extra: bytes.len() - used });
        }
        _ => {}
    }
    Ok(msg)
}

/// Encodes a client message into a new buffer (for std clients: bots, tests).
#[cfg(feature = "alloc")]
pub fn encode_client_to_vec(msg: &ClientMessage) -> Vec<u8> {
    let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
    // Every client message fits MAX_CLIENT_MESSAGE_SIZE by construction (bounded strings).
    let len = encode_client(msg, &mut buf).unwrap_or(0);
    buf[..len].to_vec()
}
