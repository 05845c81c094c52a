//! # tickwire-shared: the tickwire wire protocol
//!
//! One definition of every message that crosses a tickwire WebSocket, the exact bincode
//! configuration that puts them on the wire, and the sans-IO snapshot logic (quantization, delta
//! against an acknowledged baseline, apply). It opens no socket and reads no clock, so the server,
//! the bots, the browser client's test vectors and a microcontroller firmware all share it.
//!
//! `#![no_std]`. Everything a controller needs (`Hello`, `Input`, `Ack`, `Chat`, `Ping` out;
//! `Welcome`, `Event`, `ControllerFeedback`, `Pong`, `Kick` in) encodes into and decodes out of
//! caller buffers with **no allocator**. The `alloc` feature (default) adds the variable-size
//! [`Snapshot`], [`ServerMessage`] and the [`delta`] module. `PROTOCOL.md` at the repository
//! root specifies every byte.
//!
//! # Layout
//! - [`arena`]: what tickwire's arena game means by an entity's `kind` and `flags`.
//! - [`motion`] (`std`): the arena's movement rule for one ship, which the server steps its
//!   ships with and a client predicts its own with.
//! - [`bounded`]: `BoundedStr<N>`, a fixed-capacity UTF-8 string whose length is checked on decode.
//! - [`messages`]: ids, client-to-server and server-to-client messages, limits.
//! - [`codec`]: the bincode configuration, `encode_*`/`decode_*` functions and their error enums.
//! - [`quant`]: fixed-point quantization of positions, velocities and headings.
//! - [`bits`]: the bit stream of a snapshot body (fixed-width fields, Exp-Golomb codes).
//! - [`delta`] (`alloc`): `World`, `delta(baseline, next)`, `apply(baseline, snapshot)` and
//!   `WorldHistory`, what a client keeps to rebuild snapshots.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

#[cfg(feature = "alloc")]
extern crate alloc;
// Only for `f32::exp` and `f32::atan2` in `motion`, which `core` lacks.
#[cfg(feature = "std")]
extern crate std;

pub mod arena;
pub mod bits;
pub mod bounded;
pub mod codec;
#[cfg(feature = "alloc")]
pub mod delta;
pub mod messages;
#[cfg(feature = "std")]
pub mod motion;
pub mod quant;

pub use bounded::BoundedStr;
pub use codec::{DecodeError, EncodeError};
pub use messages::*;

/// The WebSocket subprotocol a client must offer in `Sec-WebSocket-Protocol`. It names the
/// message family (binary bincode messages, `Hello` first with its version), not the version:
/// it stays `tickwire.v1` so that a client of another [`PROTOCOL_VERSION`] still reaches the
/// `Hello` check and is told `Kick { VersionMismatch }`, rather than failing the upgrade.
pub const SUBPROTOCOL: &str = "tickwire.v1";

/// The protocol version a client states in `Hello`. bincode does not describe itself, so a
/// server compares this number before it decodes anything else of the client's messages, and
/// refuses a mismatch with `Kick { reason: VersionMismatch }` and close 1002.
///
/// Version 2 changed the snapshot body to bit-packed corrections of a prediction
/// (`PROTOCOL.md` section 6) and velocities to 1 unit/s steps. Version 3 counts spectators
/// with `EventKind::Audience` instead of announcing each with `Joined`/`Left`. Version 4 packs
/// the snapshot header: both ages and the round flag in one byte, the tick and the last input
/// as LEB128, so a usual delta's header is 5 bytes instead of 9, and stays 7 after a room has
/// run for hours (bincode's varint takes 5 bytes a number from 65,536 on). Version 5 sends
/// velocities in 2 unit/s steps and lets a moving entity whose position is where its new
/// velocity puts it say so in one bit: 0.19 of a full snapshot where version 4 sent 0.22
/// (BENCHMARKS.md, "Protocol 5"). Version 6 adds the player's score to
/// `EventKind::Joined`, so a newcomer's roster tells it every score, not only the names.
/// Version 7 (this one) adds `KickReason::Removed`: an operator removed the client or banned
/// it, and the client does not rejoin on its own.
pub const PROTOCOL_VERSION: u16 = 7;
