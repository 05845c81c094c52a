//! WebSocket client over embedded-websocket's codec, driven so that no read split can hurt:
//! the upgrade response and frames are buffered until whole.
//!
//! - [`handshake`]: the upgrade request and an incremental response check.
//! - [`frame`]: frame header parsing and validation.
//! - [`deframer`]: whole-frame buffering, fragment reassembly, the codec's decode.
//! - [`connection`]: [`WsConnection`] over an `embedded_io_async` transport.

pub mod connection;
pub mod deframer;
pub mod frame;
pub mod handshake;
mod sha1;

pub use connection::{Buffers, Incoming, WsConnection};
pub use deframer::{Deframer, Received};
