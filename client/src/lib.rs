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
//! - Inputs go **one a tick**, as the server applies them: call [`Client::send_input`] every
//!   frame or when the controls change, and the session sends the newest controls each tick
//!   (again when nothing changed, and a press shorter than a tick still goes).
//! - Each input carries a sequence number ([`InputSeq`](tickwire_shared::InputSeq)); each
//!   snapshot says the newest input the server had applied
//!   ([`SnapshotInfo::last_input`]), which is what a predicting client reconciles against.
//!   [`Event::InputAcked`] gives the latency a player feels.
//! - **Rooms**: join a named room or let matchmaking pick one ([`Identity::in_room`]). The
//!   server sends [`Event::Room`] for joins, departures, scores, round ends and chat. With
//!   the first tick after a `Welcome` it sends the room's roster (who is already there, with
//!   their scores), which comes as [`Event::Roster`]: catch-up to fill tables from, not news
//!   to announce. After a resume only what changed while away comes that way (who joined, a
//!   `Scored` with each known player's score now, and a made-up `Left` for who left), so "bob
//!   joined" is not printed again. [`Session::roster`] and [`Session::audience`] keep
//!   the room's players and spectator count from these events.
//! - **Drops and resume**: when the connection drops, the client reconnects with jittered
//!   backoff and presents the resume token of its `Welcome`; within the server's grace
//!   (10 s by default) it gets the same seat, ship and score back (`welcome.resumed`).
//!   Otherwise (the grace passed, or the server restarted) it joins afresh:
//!   [`Event::Joined`] with `resumed: false`, perhaps another ship, and after a restart ticks
//!   that start again from 1, so a game drops whatever it keeps by tick or by entity there.
//!   A spectator is never resumed (the server ends its seat at the drop): its reconnects all
//!   say `resumed: false`, and back in the same room its view and the room's ticks simply go
//!   on ([`Client::interpolate`] keeps its buffer then). Chat lines the server had not
//!   confirmed when the link dropped are sent again after a resume ([`Session::send_chat`]).
//!   When the server says it goes away (`Kick { ShuttingDown }`: a restart, a deploy), the
//!   retries keep to the first delay for [`Reconnect::restart_window`] (10 s), so the
//!   client is back within about 250 ms of the server.
//! - **Endings are typed**: an HTTP refusal (429, 502, 503), a `Kick` with its reason, a close
//!   code, a timeout. [`Disconnect::retry`] says whether retrying can help, and the
//!   [`Reconnect`] policy says how often (by default: forever once joined, 5 more attempts
//!   for a first join); [`Event::Disconnected`] tells the application. Some endings are final
//!   whatever the policy ([`Retry::Never`]), among them an operator's `Removed` kick (removed
//!   from the room, or banned for a while), and a first join refused by a full room
//!   ([`Disconnect::retry_for`]): the session ends ([`End::GaveUp`]), and
//!   [`Session::last_disconnect`] keeps why; a kick's message is for the person playing.
//! - **Leaving** ([`Client::leave`]) closes with a close frame and waits for the server's
//!   answer: the seat is freed at once and other players see you leave. A [`Client`] dropped
//!   while connected (inside a tokio runtime) closes the same way from a task of its own, so
//!   a forgotten `leave` does not hold a seat for the resume grace; see [`Client`].
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
//!         Event::Roster(_) => {} // already in the room: see `client.session().roster()`
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
//! With `ca_der` read from a PEM file:
//! `rustls::pki_types::CertificateDer::from_pem_file("cert.pem")?` (with
//! `rustls::pki_types::pem::PemObject` in scope). A certificate that is not trusted ends the
//! session with [`LinkError::Tls`], which is not retried.
//!
//! A self-signed development certificate must say it is not a CA: rustls refuses a CA
//! certificate as the server's own (`CaUsedAsEndEntity`), and plain `openssl req -x509` makes
//! one. This one works, for `wss://localhost:8443/ws` and `wss://127.0.0.1:8443/ws`:
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
//!   -keyout key.pem -out cert.pem -subj /CN=localhost \
//!   -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
//!   -addext "basicConstraints=critical,CA:FALSE"
//! tickwire-server --bind 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
//! ```
//! and the client trusts `cert.pem`. (`mkcert localhost 127.0.0.1` works too: trust its
//! `rootCA.pem`, in the directory `mkcert -CAROOT` prints.)
//!
//! ## Join tokens
//! A server started with `--join-secret` (or `--join-public-key`) refuses an upgrade without
//! a join token that a game backend minted: HTTP 401, [`Disconnect::Refused`], which is not
//! retried. Send it as `Authorization: Bearer` ([`Endpoint::with_bearer`]), which keeps it out
//! of the URL that proxies log (SECURITY.md), or in the URL, which the server reads too:
//! `wss://game.example/ws?token=<jwt>`. Every reconnect presents the same endpoint, so a token
//! that expires while the session lives (past the server's 30 s leeway) ends the session at
//! its next reconnect: 401 "the join token has expired", then [`Event::Ended`]. Mint tokens
//! that outlive a match and its reconnects (`exp`), or hand the client an endpoint with a fresh
//! token ([`Client::set_endpoint`]) when [`Event::Disconnected`] says a reconnect is coming
//! (`retry_in` is `Some`): the next attempt starts only in the next call to
//! [`Client::next_event`], so the one after the event presents the new token and resumes
//! the seat. A session that ended so needs a new [`Client`] with a fresh token, and joins
//! afresh (its seat is not resumed).
//!
//! ## A synchronous game loop (winit, macroquad)
//! A render loop that must not wait drives the client from a tokio task on a runtime of its
//! own, and trades with it over channels: events (and the world of each snapshot) one way,
//! bounded, taken without waiting each frame; the controls the other way, the newest only.
//! The task awaits room in the event channel, so a render loop that stalls holds back the
//! client's reading, not its memory. The render loop draws the other entities from an
//! [`Interpolation`] it feeds with each world and the instant the task got it, and predicts
//! the own ship from the client's [`prediction_feed`](Client::prediction_feed), which the
//! task keeps current.
//! ```no_run
//! use std::time::Instant;
//! use tickwire_client::protocol::{Role, delta::World};
//! use tickwire_client::{
//!     Client, Config, Controls, Event, Identity, Interpolation, InterpolationConfig,
//!     PredictedShip, Prediction, Sample,
//! };
//! # fn read_gamepad() -> Controls { Controls::NEUTRAL }
//! # fn draw(_: &Sample<'_>, _: Option<PredictedShip>) {}
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = tokio::runtime::Runtime::new()?;
//! let (events, mut events_rx) =
//!     tokio::sync::mpsc::channel::<(Event, Option<(World, Instant)>)>(64);
//! let (controls, mut controls_rx) = tokio::sync::watch::channel(Controls::NEUTRAL);
//! let mut client = Client::new("ws://127.0.0.1:8080/ws", Identity::player("ada")?, Config::default())?;
//! let feed = client.prediction_feed();
//! runtime.spawn(async move {
//!     loop {
//!         tokio::select! {
//!             event = client.next_event() => {
//!                 let Some(event) = event else { break };
//!                 let world = match event {
//!                     Event::Snapshot(_) => client.world().cloned().map(|w| (w, Instant::now())),
//!                     _ => None,
//!                 };
//!                 if events.send((event, world)).await.is_err() {
//!                     break; // the render loop is gone
//!                 }
//!             }
//!             changed = controls_rx.changed() => {
//!                 if changed.is_err() {
//!                     break;
//!                 }
//!                 let newest = *controls_rx.borrow_and_update();
//!                 let _ = client.send_input(newest); // refused while not joined
//!             }
//!         }
//!     }
//!     client.leave().await;
//! });
//! // The render loop: never waits on the network.
//! let (mut prediction, mut last_frame) = (Prediction::default(), Instant::now());
//! let mut interpolation = Interpolation::new(30, InterpolationConfig::default());
//! loop {
//!     while let Ok((event, snapshot)) = events_rx.try_recv() {
//!         match event {
//!             Event::Snapshot(_) => {
//!                 if let Some((world, arrived)) = snapshot {
//!                     interpolation.push(&world, arrived);
//!                 }
//!             }
//!             Event::Joined(welcome) => {
//!                 // Every connection numbers its inputs afresh, on another link.
//!                 prediction.reset();
//!                 // A new seat: perhaps another ship, rate and ticks. A spectator is never
//!                 // resumed, and its view goes on (`push` notices a restart's ticks).
//!                 if !welcome.resumed
//!                     && (welcome.role != Role::Spectator || welcome.tick_rate != interpolation.tick_rate())
//!                 {
//!                     interpolation = Interpolation::new(welcome.tick_rate, InterpolationConfig::default());
//!                 }
//!             }
//!             Event::Ended(_) => return Ok(()),
//!             _ => {}
//!         }
//!     }
//!     controls.send_replace(read_gamepad()); // every frame: the client paces inputs
//!     let now = Instant::now();
//!     let ship = feed.borrow().parts().and_then(|parts| {
//!         prediction.predict_parts(parts, now, now - last_frame)
//!     });
//!     last_frame = now;
//!     draw(&interpolation.sample(now), ship);
//! }
//! # }
//! ```
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
//! - [`interpolation`]: [`Interpolation`], other entities drawn smoothly a little in the past
//!   with a delay that adapts to the jitter (the JavaScript SDK's `InterpolationBuffer`), sans-IO;
//!   [`Client::interpolate`] keeps one fed.
//! - [`error`]: [`Disconnect`] (why a connection ended, and whether to retry), close codes,
//!   and the application's errors.
//! - [`prediction`]: [`Prediction`], the own ship drawn where the inputs not yet applied will
//!   put it, by the server's own movement rule, corrections blended away.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod client;
pub mod config;
pub mod error;
pub mod interpolation;
pub mod prediction;
pub mod session;

pub use client::{Client, ConnectError, Endpoint, Upgraded, UrlError, tls_config, upgrade};
pub use config::{Config, Reconnect};
pub use error::{
    Disconnect, IdentityError, Kicked, LinkError, Refusal, Retry, SendError, close_code,
};
pub use interpolation::{
    DEFAULT_EXTRAPOLATION, DEFAULT_SETTLE, Interpolation, InterpolationConfig, InterpolationDelay,
    RenderEntity, Sample,
};
pub use prediction::{
    PredictedShip, Prediction, PredictionConfig, PredictionParts, PredictionState,
};
pub use session::{
    CloseAction, Controls, End, Event, Identity, ROSTER_MAX, RosterEntry, SENT_INPUTS_KEPT,
    SentInput, Session, SnapshotInfo, State, Stats,
};
/// The rustls version this crate speaks, for [`tls_config`] and [`Endpoint::with_tls_config`].
pub use tokio_rustls::rustls;

/// The vector crate of the client's positions and velocities ([`RenderEntity::pos`],
/// [`PredictedShip::motion`], [`protocol::quant`]), re-exported so a game draws them without a
/// `glam` of its own at a version that may differ (and so not be the same `Vec2`).
pub use glam;
/// The protocol crate, re-exported so applications use the same version.
pub use tickwire_shared as protocol;
