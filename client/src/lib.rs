//! # tickwire-client: play on a tickwire server from Rust
//!
//! The client for native Rust games, tools and load-test bots. You do not need to have read
//! `PROTOCOL.md` to use it; this page says what you need.
//!
//! ## How a tickwire game works, from the client's side
//! - The **server is authoritative**: it simulates the world in a fixed-rate tick loop
//!   (30 ticks per second by default). Your client only sends **inputs** (stick and buttons)
//!   and draws what the server says.
//! - Every tick the server sends a **snapshot** of the world as your client may see it
//!   (players: what is within their view radius; spectators: the whole room), encoded as a
//!   delta against the last snapshot your client acknowledged. This crate rebuilds the world
//!   ([`Client::world`]) and acknowledges the snapshots for you, so deltas stay small.
//! - Each input carries a sequence number ([`InputSeq`](tickwire_shared::InputSeq)); each
//!   snapshot says the newest input the server had applied
//!   ([`SnapshotInfo::last_input`]), which is what a predicting client reconciles against.
//!   [`Event::InputAcked`] gives the latency a player feels.
//! - **Rooms**: join a named room or let matchmaking pick one ([`Identity::in_room`]). The
//!   server sends [`Event::Room`] for joins, departures, scores, round ends and chat.
//! - **Drops and resume**: when the connection drops, the client reconnects with jittered
//!   backoff and presents the resume token of its `Welcome`; within the server's grace
//!   (10 s by default) it gets the same seat, ship and score back (`welcome.resumed`).
//! - **Endings are typed**: an HTTP refusal (429, 502, 503), a `Kick` with its reason, a close
//!   code, a timeout. [`Disconnect::retry`] says whether retrying can help, and the
//!   [`Reconnect`] policy says how often (by default: forever once joined, 5 more attempts
//!   for a first join); [`Event::Disconnected`] tells the application.
//! - **Leaving** ([`Client::leave`]) closes with a close frame and waits for the server's
//!   answer: the seat is freed at once and other players see you leave.
//!
//! ## Reading the world
//! An entity's fields are the wire's integers, exact on both sides: position in 1/16 world
//! units, velocity in 2 units/s steps, heading in 1/256 turns. Turn them into world units with
//! [`protocol::quant`](tickwire_shared::quant), not by hand (a velocity step is not 1 unit/s):
//! ```
//! use tickwire_client::protocol::{EntityId, EntityState, QVec2, quant};
//! let ship = EntityState {
//!     id: EntityId(3), kind: 0, pos: QVec2 { x: 1600, y: -8 }, vel: QVec2 { x: 150, y: -21 },
//!     heading: 64, flags: 1, value: 0,
//! };
//! let (pos, vel) = (quant::dequantize_position(ship.pos), quant::dequantize_velocity(ship.vel));
//! assert_eq!((pos.x, pos.y), (100.0, -0.5)); // world units
//! assert_eq!((vel.x, vel.y), (300.0, -42.0)); // units per second
//! assert_eq!(quant::dequantize_heading(ship.heading), std::f32::consts::FRAC_PI_2); // radians
//! ```
//!
//! ## Quick start
//! ```no_run
//! use tickwire_client::{Client, Config, Controls, Event, Identity};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut client =
//!     Client::connect("ws://127.0.0.1:8080/ws", Identity::player("ada")?, Config::default())
//!         .await?;
//! while let Some(event) = client.next_event().await {
//!     match event {
//!         Event::Snapshot(info) => {
//!             let world = client.world().expect("a snapshot was applied");
//!             println!("tick {}: {} entities", info.tick.0, world.entities.len());
//!             client.send_input(Controls { x: 0.5, y: -1.0, boost: true, action: false })?;
//!         }
//!         Event::Room(event) => println!("{event:?}"),
//!         Event::Disconnected { reason, retry_in } => println!("{reason}; retry in {retry_in:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//! `cargo run -p tickwire-client --example spectate -- ws://127.0.0.1:8080/ws` prints a live
//! summary of a room.
//!
//! ## TLS
//! `wss://` URLs are spoken with rustls (ring, TLS 1.2 and 1.3), checking the server's
//! certificate against Mozilla's roots compiled into the binary. For a private CA or a
//! self-signed development certificate, trust it explicitly:
//! ```no_run
//! # fn run(ca_der: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tickwire_client::{Client, Config, Endpoint, Identity, rustls, tls_config};
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(rustls::pki_types::CertificateDer::from(ca_der))?;
//! let endpoint = Endpoint::parse("wss://game.example:8443/ws")?
//!     .with_tls_config(Arc::new(tls_config(roots)));
//! let client = Client::with_endpoint(Arc::new(endpoint), Identity::player("ada")?, Config::default(), 7);
//! # Ok(()) }
//! ```
//! A certificate that is not trusted ends the session with
//! [`LinkError::Tls`], which is not retried.
//!
//! ## Two layers
//! [`Session`] is the protocol, sans-IO in the style of quinn-proto: no socket, no clock;
//! time is an argument (`handle_*` feed it, `poll_*` ask it), so it is deterministic and
//! tested without a network, and can be driven by any event loop. [`Client`] drives a
//! session over tokio and tokio-tungstenite.
//!
//! # Layout
//! - [`session`]: [`Session`], [`State`], [`Identity`], [`Controls`], [`Event`], [`Stats`].
//! - [`client`]: [`Client`], the tokio driver; [`Endpoint`] (the parsed URL); [`upgrade`], a
//!   connection upgraded and handed over as its socket, for a [`Session`] driven by IO of your
//!   own (the load-test bots' io_uring engine).
//! - [`config`]: [`Config`] (every timing knob with its default) and [`Reconnect`].
//! - [`error`]: [`Disconnect`] (why a connection ended, and whether to retry), close codes,
//!   and the application's errors.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod config;
pub mod error;
pub mod session;

pub use client::{Client, ConnectError, Endpoint, Upgraded, UrlError, tls_config, upgrade};
pub use config::{Config, Reconnect};
pub use error::{
    Disconnect, IdentityError, Kicked, LinkError, Refusal, Retry, SendError, close_code,
};
pub use session::{
    CloseAction, Controls, End, Event, Identity, Session, SnapshotInfo, State, Stats,
};
/// The rustls version this crate speaks, for [`tls_config`] and [`Endpoint::with_tls_config`].
pub use tokio_rustls::rustls;

/// The protocol crate, re-exported so applications use the same version.
pub use tickwire_shared as protocol;
