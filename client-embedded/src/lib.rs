//! # tickwire-client-embedded: a tickwire controller on a microcontroller
//!
//! A `no_std`, allocation-free client that joins a tickwire server as a `Role::Controller`
//! (a gamepad): it upgrades to WebSocket (`tickwire.v1`), sends `Hello`, streams `Input`s at a
//! fixed rate, hands `ControllerFeedback` (colour, score, alive, rumble) to the application,
//! pings, detects silence, and reconnects forever with jittered exponential backoff, resuming
//! its ship with the token of the last `Welcome`.
//!
//! It runs over any [`embedded_io_async::Read`] + [`Write`] transport (embassy-net TCP on a
//! board, tokio on a host) and keeps all state in fixed, caller-provided [`Buffers`].
//!
//! [`embedded_io_async::Read`]: https://docs.rs/embedded-io-async/0.7/embedded_io_async/trait.Read.html
//! [`Write`]: https://docs.rs/embedded-io-async/0.7/embedded_io_async/trait.Write.html
//!
//! # Layout
//! - [`config`]: [`Config`], every timing knob with its default.
//! - [`session`]: [`Session`], the sans-IO core: time and bytes in, messages, events and
//!   timers out.
//! - [`ws`]: the WebSocket client (upgrade, whole-frame buffering over embedded-websocket's
//!   codec, fragments, pings, closing handshake).
//! - [`transport`]: the [`Connector`] trait, and an embassy-net adapter (feature
//!   `embassy-net`; host names resolved with feature `dns`).
//! - [`url`]: [`ServerUrl`], the `ws://host[:port][/path]` to join, parsed in a `const`.
//! - [`pad`]: [`pad::Axis`], joystick calibration from raw ADC counts.
//! - [`client`]: [`Client::run`], the async driver, and the [`App`] trait.
//! - [`error`]: error enums; each variant says who reacts and how.
//! - [`protocol`]: the tickwire-shared crate the client speaks, for the types its events
//!   carry: [`ControllerFeedback`](protocol::ControllerFeedback), [`Kick`](protocol::Kick)
//!   and its [`KickReason`](protocol::KickReason) (whose
//!   [`is_refusal`](protocol::KickReason::is_refusal) tells a controller turned away, e.g. by
//!   a full room or an operator's removal or ban, from an ordinary disconnect),
//!   [`Buttons`](protocol::Buttons), [`PlayerId`](protocol::PlayerId).
//!
//!
//! # Features
//! - `defmt`: log through `defmt`. `log`: log through the `log` facade. Both off by default;
//!   enabling both is a compile error.
//! - `embassy-net`: `transport::embassy_net::TcpConnector` over embassy-net's `TcpSocket`,
//!   optionally waiting for an IP address before each attempt (`waiting_for_address`).
//! - `dns`: `TcpConnector::for_url` resolves host names through embassy-net's DNS.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod fmt;

pub mod client;
pub mod config;
pub mod error;
pub mod pad;
pub mod session;
pub mod transport;
pub mod url;
pub mod ws;

pub use client::{App, Client, Endpoint, Left};
pub use config::Config;
pub use error::{BufferTooSmall, Disconnect, FrameError, HandshakeError};
pub use session::{
    CloseAction, Event, Identity, IdentityError, Joined, Pad, Session, SessionState,
};
pub use transport::Connector;
pub use url::{ServerUrl, UrlError};
pub use ws::Buffers;

/// The protocol crate, re-exported so firmware uses the same version.
#[doc(inline)]
pub use tickwire_shared as protocol;

#[cfg(test)]
mod testutil;
