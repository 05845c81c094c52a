//! Every message of the protocol (version [`crate::PROTOCOL_VERSION`]), its ids and its limits.
//!
//! Field order is wire order: bincode writes fields in declaration order and enum variants as
//! their index, so **reordering anything here is a protocol change** (the golden vectors in
//! `shared/testdata` fail when it happens by accident).

use crate::bounded::BoundedStr;
use bincode::{Decode, Encode};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Longest display name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 24;
/// Longest room name, in UTF-8 bytes.
pub const MAX_ROOM_NAME_LEN: usize = 16;

/// Whether a server accepts `name` as a room to join: 1 to [`MAX_ROOM_NAME_LEN`] ASCII
/// letters, digits, `-`, `_` or `.` (it appears in URLs, logs and metrics). A `const fn`, so
/// firmware can check its build-time room when it compiles.
pub const fn is_valid_room_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_ROOM_NAME_LEN {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.') {
            return false;
        }
        i += 1;
    }
    true
}
/// Longest chat line, in UTF-8 bytes.
pub const MAX_CHAT_LEN: usize = 200;
/// Longest human-readable text in a `Kick`.
pub const MAX_KICK_MESSAGE_LEN: usize = 96;
/// Largest encoded client-to-server message. Every client message fits (a full `Chat` is 202
/// bytes), so a server sets its WebSocket frame and message limits to this and closes with 1009
/// above it.
pub const MAX_CLIENT_MESSAGE_SIZE: usize = 256;
/// Largest encoded server message other than `Snapshot`: the buffer size a no-alloc client needs
/// to receive `Welcome`, `Event`, `ControllerFeedback`, `Pong` and `Kick`.
pub const MAX_CONTROL_MESSAGE_SIZE: usize = 256;
/// Most entities in the world a `Snapshot` describes (and so most spawns in one).
pub const MAX_SNAPSHOT_ENTITIES: usize = 1024;
/// Largest encoded server message, which only a `Snapshot` comes near. The largest the encoder
/// writes is 36,627 bytes (about 37 KB): 1024 baseline entities that each jump across every
/// field's range against an extrapolation pointing the other way, about 36 bytes each. Spawns
/// cost less: 88 fixed bits plus the `eg(0)` codes of the id gap and the value, at most 186
/// bits (23.25 bytes, for a first id past 2^31 and a value past 2^15), and 1024 of them at
/// most about 21 KB, since their gaps share the 32-bit id space. The header adds at most 21
/// bytes with the tag. `shared/tests/no_alloc.rs` checks the largest fits.
pub const MAX_SERVER_MESSAGE_SIZE: usize = 64 * 1024;

/// A simulation step number. Starts at 0 when a room opens; +1 per tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tick(pub u32);

/// A client's input sequence number, +1 per `Input` it sends; the server echoes the newest
/// one it applied in every `Snapshot` so the client can reconcile its prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct InputSeq(pub u32);

/// A player within its room (players, spectators and controllers all get one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PlayerId(pub u16);

/// An entity within its room's world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EntityId(pub u32);

/// 128 random bits from the server's CSPRNG that let a dropped client take its seat back.
/// On the wire: 16 raw bytes, no length prefix.
///
/// A bearer secret: whoever holds it takes the seat within the server's grace. Its `Debug`
/// (a `Welcome` or a `Hello` logged with `{:?}`) shows its first two bytes only, enough to
/// tell tokens apart in a log and not to take a seat with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct ResumeToken(pub [u8; 16]);

impl core::fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ResumeToken({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A display name (at most [`MAX_NAME_LEN`] bytes).
pub type Name = BoundedStr<MAX_NAME_LEN>;
/// A room name (at most [`MAX_ROOM_NAME_LEN`] bytes).
pub type RoomName = BoundedStr<MAX_ROOM_NAME_LEN>;
/// A chat line (at most [`MAX_CHAT_LEN`] bytes).
pub type ChatText = BoundedStr<MAX_CHAT_LEN>;
/// Text of a `Kick` (at most [`MAX_KICK_MESSAGE_LEN`] bytes).
pub type KickText = BoundedStr<MAX_KICK_MESSAGE_LEN>;

/// What a client is in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum Role {
    /// Steers a ship and receives the world within its view radius.
    Player,
    /// Has no ship and receives the whole room.
    Spectator,
    /// A microcontroller gamepad: steers a ship, receives only `ControllerFeedback`.
    Controller,
}

impl Role {
    /// Roles that own a ship and send inputs.
    pub fn plays(self) -> bool {
        matches!(self, Role::Player | Role::Controller)
    }
}

/// Which room a `Hello` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum RoomRequest {
    /// Matchmaking: the fullest open room, or a new one.
    Any,
    /// This room, created if it does not exist yet.
    Named(RoomName),
}

/// First client message. Its first field is the protocol version so that a server can read
/// it (see [`crate::codec::peek_hello_version`]) before decoding the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Hello {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub version: u16,
    /// What this client is.
    pub role: Role,
    /// Shown to others; the server may trim whitespace and pick a default for "".
    pub name: Name,
    /// Room to join.
    pub room: RoomRequest,
    /// A token from an earlier `Welcome`, to take back a dropped seat.
    pub resume: Option<ResumeToken>,
}

/// Button bits of an `Input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Buttons(pub u8);

impl Buttons {
    /// Boost: stronger thrust while held, at the cost of handling.
    pub const BOOST: u8 = 0x01;
    /// A second action button; arena ignores it, other games may use it.
    pub const ACTION: u8 = 0x02;

    /// True when every bit of `mask` is held.
    pub fn held(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// One sample of a client's controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Input {
    /// +1 per input sent; the server applies the newest and ignores older and repeated ones.
    pub seq: InputSeq,
    /// Steering x in -127..=127 (right is positive); see [`crate::quant::quantize_axis_input`].
    pub x: i8,
    /// Steering y in -127..=127 (down is positive, as on screen).
    pub y: i8,
    /// [`Buttons`] bits.
    pub buttons: Buttons,
}

/// "I have received the snapshot of this tick": the server deltas against it from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Ack {
    /// Newest snapshot tick the client holds in full.
    pub tick: Tick,
}

/// A chat line to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Chat {
    /// UTF-8 text, at most [`MAX_CHAT_LEN`] bytes.
    pub text: ChatText,
}

/// Round-trip probe; the server answers `Pong` with the same nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Ping {
    /// Any value; echoed back.
    pub nonce: u32,
}

/// Everything a client sends. Tags: Hello 0, Input 1, Ack 2, Chat 3, Ping 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum ClientMessage {
    /// Tag 0: the first message, exactly once.
    Hello(Hello),
    /// Tag 1.
    Input(Input),
    /// Tag 2.
    Ack(Ack),
    /// Tag 3.
    Chat(Chat),
    /// Tag 4.
    Ping(Ping),
}

/// The playfield: x in `[0, width)`, y in `[0, height)`, world units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct WorldBounds {
    /// Width in world units.
    pub width: u16,
    /// Height in world units.
    pub height: u16,
}

/// The answer to a good `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Welcome {
    /// This client's id in the room.
    pub player_id: PlayerId,
    /// The role granted.
    pub role: Role,
    /// The room joined.
    pub room: RoomName,
    /// Snapshots per second.
    pub tick_rate: u8,
    /// The playfield.
    pub world: WorldBounds,
    /// Players see entities within this distance of their ship (0: everything).
    pub view_radius: u16,
    /// The ship this client steers, if its role plays.
    pub entity: Option<EntityId>,
    /// Present this in a later `Hello` to resume this seat after a drop.
    pub resume_token: ResumeToken,
    /// True when this `Welcome` answers a successful resume.
    pub resumed: bool,
}

/// A 2D vector in fixed point; see [`crate::quant`] for the scales. On the wire only inside a
/// snapshot body: whole as two `u(16)` in a spawn, or as residuals against a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct QVec2 {
    /// x in steps.
    pub x: i16,
    /// y in steps.
    pub y: i16,
}

/// What stage a round is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum RoundPhase {
    /// Ships fly and score.
    Playing,
    /// The scoreboard is shown; scores reset when the next round starts.
    Intermission,
}

/// Room-wide round state: in every full snapshot, and in a delta whenever it differs from the
/// baseline's (about once a second, as `seconds_left` counts down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct RoundState {
    /// 1 for the first round.
    pub round: u16,
    /// Stage of the round.
    pub phase: RoundPhase,
    /// Whole seconds left in this phase.
    pub seconds_left: u16,
}

/// One entity's complete, quantized state. The delta logic compares these exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct EntityState {
    /// Identity within the room.
    pub id: EntityId,
    /// Game-defined kind (arena: 0 ship, 1 pickup).
    pub kind: u8,
    /// Position, 1/16 unit steps.
    pub pos: QVec2,
    /// Velocity, 2 unit/s steps ([`crate::quant::VELOCITY_SCALE`]).
    pub vel: QVec2,
    /// Heading, 1/256 turn steps.
    pub heading: u8,
    /// Game-defined bits (arena: 1 alive, 2 boosting, 4 invulnerable).
    pub flags: u8,
    /// Game-defined number (arena: a ship's score, a pickup's worth).
    pub value: u16,
}

/// The header of a `Snapshot`, which a no-alloc client can read (to `Ack` it) without
/// decoding the body behind it.
///
/// On the wire (`PROTOCOL.md` section 2.4, since protocol 4): a head byte packing the
/// baseline's age (0 for none), the reference's age and whether `round` follows; an age byte
/// for either age too large for the head; `tick` and `last_input` as LEB128; then `round`
/// only when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct SnapshotHeader {
    /// The tick this snapshot describes.
    pub tick: Tick,
    /// The acked tick it is delta-encoded against (at most 255 ticks before `tick`), or
    /// `None` for a full snapshot.
    pub baseline: Option<Tick>,
    /// The world the baseline was itself rebuilt against, when the encoder extrapolates motion
    /// from the two (at most 255 ticks before `baseline`); only with a baseline.
    pub reference: Option<Tick>,
    /// Newest input sequence of this client that the server applied (0 before any).
    pub last_input: InputSeq,
    /// Room-wide round state; `None` when it equals the baseline's (never in a full snapshot).
    pub round: Option<RoundState>,
}

/// The world as one client may see it at one tick, delta-encoded against its acked baseline.
/// Wire order: the [`SnapshotHeader`], then `body` to the end of the message: a bit stream
/// that only [`crate::delta::apply`] reads, given the baseline (and reference) worlds the
/// header names (`PROTOCOL.md` section 6).
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Snapshot {
    /// Tick, baseline, reference, last input, round.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub header: SnapshotHeader,
    /// The entity bit stream, padded with zero bits to a whole byte.
    #[cfg_attr(feature = "serde", serde(with = "hex_bytes"))]
    pub body: Vec<u8>,
}

/// `Snapshot::body` as a lowercase hex string in JSON (golden vectors, tools).
#[cfg(all(feature = "alloc", feature = "serde"))]
mod hex_bytes {
    use alloc::string::String;
    use alloc::vec::Vec;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let hex: String = bytes
            .iter()
            .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
            .map(char::from)
            .collect();
        s.serialize_str(&hex)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let hex = String::deserialize(d)?;
        if hex.len() % 2 != 0 {
            return Err(D::Error::custom("odd number of hex digits"));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(D::Error::custom))
            .collect()
    }
}

/// What happened in the room, for feeds and scoreboards.
// Chat carries its text inline (no allocator on controllers), so that variant is large by
// design; boxing it would need `alloc`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum EventKind {
    /// A player or controller joined (spectators are counted by [`EventKind::Audience`]
    /// instead, so a crowd joining costs every client one small event per tick, not one per
    /// spectator).
    Joined {
        /// Who.
        player: PlayerId,
        /// Their name.
        name: Name,
        /// Their role.
        role: Role,
        /// Their score this round: 0 for one joining now, what they have so far in a roster
        /// (PROTOCOL.md 7.1), so a newcomer's scoreboard is whole before it sees their ships.
        score: u16,
    },
    /// A player or controller left, or its seat expired.
    Left {
        /// Who.
        player: PlayerId,
    },
    /// A player scored.
    Scored {
        /// Who.
        player: PlayerId,
        /// Their new score.
        score: u16,
    },
    /// A round ended.
    RoundOver {
        /// The round that ended.
        round: u16,
        /// The top scorer, if anyone scored.
        winner: Option<PlayerId>,
        /// The top score.
        score: u16,
    },
    /// A chat line.
    Chat {
        /// Who said it.
        from: PlayerId,
        /// Their name at the time.
        name: Name,
        /// What they said.
        text: ChatText,
    },
    /// How many spectators watch the room: sent after the roster, and in any tick the number
    /// changed (at most once per tick however many came and went).
    Audience {
        /// Spectators in the room now.
        spectators: u32,
    },
}

/// An event and the tick of the snapshot it comes before, the first to show its effect
/// (PROTOCOL.md section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Event {
    /// That snapshot's tick.
    pub tick: Tick,
    /// What happened.
    pub kind: EventKind,
}

/// Colour as 8-bit red, green, blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rgb(pub [u8; 3]);

/// What a controller shows its player: sent on change and at a low rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ControllerFeedback {
    /// The ship's colour, for an RGB LED.
    pub colour: Rgb,
    /// Current score.
    pub score: u16,
    /// False while the ship is waiting to respawn.
    pub alive: bool,
    /// Rumble strength 0-255 for the next ~200 ms (0: none), e.g. after a collision.
    pub rumble: u8,
}

/// The answer to a `Ping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Pong {
    /// The ping's nonce.
    pub nonce: u32,
    /// The room's tick when it answered.
    pub server_tick: Tick,
}

/// Why the server is about to close a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KickReason {
    /// The client speaks another protocol version (close 1002).
    VersionMismatch {
        /// The version this server speaks.
        server: u16,
    },
    /// The first message was not a valid `Hello`, or a second `Hello` came (close 1002).
    BadHello,
    /// The message could not be decoded (close 1002 or 1007).
    MalformedMessage,
    /// The room or every room is full (close 1013: try again later).
    Full,
    /// The resume token is unknown or its seat expired (close 1008).
    ResumeRejected,
    /// Too many inputs or chat lines per second (close 1008).
    RateLimited,
    /// Nothing heard for too long (close 1008 or 1011).
    Idle,
    /// The client did not read its frames for too long (close 1008).
    TooSlow,
    /// This seat was resumed by another connection (close 1008).
    Replaced,
    /// The server is going down (close 1001).
    ShuttingDown,
    /// An operator removed this client from its room, or refuses its address or name for a
    /// while (a ban); the message says which and why (close 1008). The seat is gone: no
    /// resume, and a client does not rejoin on its own (protocol 7).
    Removed,
}

impl KickReason {
    /// Every reason, `VersionMismatch` naming this crate's version: for tables and tests that
    /// must cover them all.
    pub const ALL: [KickReason; 11] = [
        KickReason::VersionMismatch { server: crate::PROTOCOL_VERSION },
        KickReason::BadHello,
        KickReason::MalformedMessage,
        KickReason::Full,
        KickReason::ResumeRejected,
        KickReason::RateLimited,
        KickReason::Idle,
        KickReason::TooSlow,
        KickReason::Replaced,
        KickReason::ShuttingDown,
        KickReason::Removed,
    ];

    /// Whether the server turned the client away instead of ending a session that was going
    /// well: a full room (or server), another protocol version, a `Hello` it does not accept
    /// (PROTOCOL.md 7.1 step 2), or an operator's removal or ban. Trying again unchanged keeps failing until the room frees
    /// up or the client (or server) changes, so a client may show it differently from an
    /// ordinary disconnect (e.g. a controller's status LED).
    ///
    /// Every variant is named, so a new one must be classified here.
    pub const fn is_refusal(&self) -> bool {
        match self {
            KickReason::VersionMismatch { .. }
            | KickReason::BadHello
            | KickReason::Full
            | KickReason::Removed => true,
            // An undecodable message, a resume the server no longer holds (the next attempt
            // joins afresh), limits, silence, a newer connection to the seat, a shutdown.
            KickReason::MalformedMessage
            | KickReason::ResumeRejected
            | KickReason::RateLimited
            | KickReason::Idle
            | KickReason::TooSlow
            | KickReason::Replaced
            | KickReason::ShuttingDown => false,
        }
    }
}

/// Sent just before the server closes a connection, saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Kick {
    /// Machine-readable reason.
    pub reason: KickReason,
    /// Human-readable detail.
    pub message: KickText,
}

/// Everything a server sends. Tags: Welcome 0, Snapshot 1, Event 2, ControllerFeedback 3,
/// Pong 4, Kick 5.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum ServerMessage {
    /// Tag 0.
    Welcome(Welcome),
    /// Tag 1.
    Snapshot(Snapshot),
    /// Tag 2.
    Event(Event),
    /// Tag 3.
    ControllerFeedback(ControllerFeedback),
    /// Tag 4.
    Pong(Pong),
    /// Tag 5.
    Kick(Kick),
}

/// A server message as a no-alloc client reads it: the same tags as [`ServerMessage`], with a
/// snapshot reduced to the start of its header (`S`) and the event body as `E`. Two readings
/// exist:
/// - [`ControlMessage`] (`E = Event`, `S = SnapshotHeader`, from `decode_control`) decodes
///   events and whole snapshot headers;
/// - [`ControllerMessage`] (`E = SkippedEvent`, `S = SnapshotTick`, from `decode_controller`) recognises
///   an event by its tag and leaves its body unread, and reads of a snapshot only its tick (what
///   an `Ack` needs): a controller shows no feed and no world, and leaving that decoding out
///   saves it about 2.5 KB of flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub enum ServerView<E, S = SnapshotHeader> {
    /// Tag 0.
    Welcome(Welcome),
    /// Tag 1: only the header (or its tick) is decoded; the body is left unread.
    Snapshot(S),
    /// Tag 2.
    Event(E),
    /// Tag 3.
    ControllerFeedback(ControllerFeedback),
    /// Tag 4.
    Pong(Pong),
    /// Tag 5.
    Kick(Kick),
}

/// A server message with events decoded (`decode_control`, `encode_control`).
pub type ControlMessage = ServerView<Event>;

/// A server message as a controller reads it (`decode_controller`): events skipped unread, a
/// snapshot reduced to its tick.
pub type ControllerMessage = ServerView<SkippedEvent, SnapshotTick>;

/// A snapshot as a controller reads it (see [`ControllerMessage`]): the header's tick, its
/// ages passed over and the rest left unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct SnapshotTick(pub Tick);

/// An `Event` recognised by its tag and left unread (see [`ControllerMessage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct SkippedEvent;

impl From<ControlMessage> for ControllerMessage {
    /// What a controller would read of `msg`.
    fn from(msg: ControlMessage) -> Self {
        match msg {
            ServerView::Welcome(m) => ServerView::Welcome(m),
            ServerView::Snapshot(m) => ServerView::Snapshot(SnapshotTick(m.tick)),
            ServerView::Event(_) => ServerView::Event(SkippedEvent),
            ServerView::ControllerFeedback(m) => ServerView::ControllerFeedback(m),
            ServerView::Pong(m) => ServerView::Pong(m),
            ServerView::Kick(m) => ServerView::Kick(m),
        }
    }
}

/// Wire tags of server messages.
pub mod server_tag {
    /// `Welcome`.
    pub const WELCOME: u32 = 0;
    /// `Snapshot`.
    pub const SNAPSHOT: u32 = 1;
    /// `Event`.
    pub const EVENT: u32 = 2;
    /// `ControllerFeedback`.
    pub const CONTROLLER_FEEDBACK: u32 = 3;
    /// `Pong`.
    pub const PONG: u32 = 4;
    /// `Kick`.
    pub const KICK: u32 = 5;
}

#[cfg(test)]
mod tests {
    use super::KickReason;

    #[test]
    fn refusals_are_full_version_mismatch_bad_hello_and_removed() {
        let cases = [
            (KickReason::VersionMismatch { server: 0 }, true),
            (KickReason::BadHello, true),
            (KickReason::Full, true),
            (KickReason::MalformedMessage, false),
            (KickReason::ResumeRejected, false),
            (KickReason::RateLimited, false),
            (KickReason::Idle, false),
            (KickReason::TooSlow, false),
            (KickReason::Replaced, false),
            (KickReason::ShuttingDown, false),
            (KickReason::Removed, true),
        ];
        for (reason, refusal) in cases {
            assert_eq!(reason.is_refusal(), refusal, "{reason:?}");
        }
    }

    /// Logging a `Welcome` with `{:?}` must not hand the seat to whoever reads the log.
    #[test]
    #[cfg(feature = "alloc")]
    fn a_resume_token_shows_in_debug_only_as_far_as_tells_it_apart() {
        use super::ResumeToken;
        let token = ResumeToken([0x3f, 0xa2, 0xbe, 0xef, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xcd]);
        let shown = alloc::format!("{token:?}");
        assert_eq!(shown, "ResumeToken(3fa2…)");
        assert!(!shown.contains("190") && !shown.contains("cd"), "{shown}");
    }
}
