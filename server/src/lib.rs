//! # tickwire-server: the authoritative game server
//!
//! Players, spectators and microcontroller controllers connect over one WebSocket each
//! (`GET /ws`, subprotocol `tickwire.v1`), or, where a network blocks WebSocket, over the HTTP
//! fallback (`/fallback/...`) with the same protocol. Each room is one task running a fixed-rate tick
//! loop over its [`game::Game`]; every tick every client gets one binary frame, delta-encoded
//! against a snapshot it holds (the newest its socket took, while its acks keep up; against
//! its acks on the HTTP fallback). The wire format lives in `tickwire-shared`.
//!
//! # Layout
//! - [`command`]: the `tickwire-server` command as a function (flags, logging, checks,
//!   banner, signals), for the binary and for a game of your own's.
//! - [`server`]: `run(listener, config, shutdown)`: the accept loop and graceful shutdown
//!   (`run_with_admin`: with a listener for the operators' routes; [`Server`]: with a game of
//!   your own).
//! - [`auth`]: signed join tokens (JWT, HS256 or EdDSA).
//! - [`cluster`]: cluster mode (`--redis-url`): the fleet's room directory in Redis, the
//!   proxy to the node hosting a client's room, registration, draining.
//! - [`http`]: routes (`/ws`, `/echo`, `/healthz`, `/metrics`, `/rooms`, `/stats`, the web
//!   client's) and upgrade checks.
//! - [`moderation`]: operators' seat lists, removals and bans (`--admin-token`).
//! - [`web`]: the browser game and dashboard (`client-web/`, embedded or `--web-root`).
//! - [`stats`]: once-a-second metric samples for the dashboard (`/stats`).
//! - [`lan`]: the LAN address, invite links and their QR codes (`/invite`, `/invite.svg`).
//! - [`logging`]: the binary's log filter (`RUST_LOG`) and colours.
//! - [`connection`]: one game WebSocket: `Hello`, the reader, the writer, close codes.
//! - [`fallback`]: the HTTP fallback for clients that cannot open a WebSocket: the same
//!   sessions over a streamed response (or long polls) and POSTs.
//! - [`transport`]: which transport a client uses, counted per room and server-wide.
//! - [`echo`]: the diagnostics echo.
//! - [`guard`]: a watch on the client's frames below tungstenite (text refused or UTF-8
//!   checked at the first bad byte).
//! - [`stall`]: a deadline on an HTTP connection's write progress (a client that stops
//!   reading a response).
//! - [`context`]: shared state: config, metrics, room directory, connection limits.
//! - [`room`]: the room task and its tick loop: inputs, snapshots, resume, slow clients.
//! - [`inputs`]: a player's inputs, queued so that each tick applies the one sent for it.
//! - [`latency`]: each client's round trip, measured from its acks against when the room
//!   built the tick.
//! - [`threads`]: the rooms' own threads, and the network runtime that yields to them.
//! - [`outbox`]: the per-client latest-frame-wins slot and bounded control queue, and the
//!   room's direct writes to an idle client's socket.
//! - [`socket`]: a plain TCP socket shared by the reader, the writer and the room, lock-free.
//! - [`uring`]: `--io-uring`: a room's direct writes as one io_uring submission (Linux).
//! - [`frame`]: server frames built once and shared by every client that gets the same bytes.
//! - [`interest`]: the spatial grid that decides what each player sees.
//! - [`proxy`]: the client's address behind trusted proxies (`X-Forwarded-For` or `Forwarded`).
//! - [`ratelimit`]: token buckets.
//! - [`tls`]: certificates for `https://` and `wss://`, reloadable.
//! - [`game`]: the `Game` trait, the `GameFactory` that makes each room's, and the arena game.
//! - [`config`], [`metrics`].
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod context;
pub mod echo;
pub mod fallback;
pub mod frame;
pub mod game;
pub mod guard;
pub mod http;
pub mod inputs;
pub mod interest;
pub mod lan;
pub mod latency;
pub mod logging;
pub mod metrics;
pub mod moderation;
pub mod outbox;
pub mod proxy;
pub mod ratelimit;
pub mod room;
pub mod server;
pub mod socket;
pub mod stall;
pub mod stats;
pub mod threads;
pub mod tls;
pub mod transport;
pub mod uring;
pub mod web;

#[cfg(test)]
mod testlog;

pub use config::ServerConfig;
// What a game of your own is written in (`game::Game` takes and returns their types), at the
// versions this server was built with: a game crate needs no dependency of its own on them.
pub use glam;
pub use server::{Server, run, run_with_admin};
pub use tickwire_shared as shared;

/// Internals the fuzz targets (`fuzz/`) drive that no public module exposes. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::fallback::records::{BadRecord, parse as parse_records};
}
