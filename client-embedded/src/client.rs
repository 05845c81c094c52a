//! [`Client`]: the async driver. It runs a [`Session`] over a [`Connector`] with embassy-time
//! timers, reconnects forever, and never panics on network errors.

use crate::config::Config;
use crate::error::Disconnect;
use crate::session::{CloseAction, Event, Identity, Pad, Session};
use crate::transport::Connector;
use crate::ws::{Buffers, Incoming, WsConnection};
use embassy_time::{Duration, Instant, Timer, with_timeout};
use rand_core::RngCore;
use tickwire_shared::MAX_CLIENT_MESSAGE_SIZE;

/// The application side of a controller: where inputs come from and where news goes.
///
/// Both methods are called from the driver's task and must return quickly (no waiting):
/// read a sample the hardware already has, set an LED, queue a rumble.
pub trait App {
    /// The current stick and buttons, called at each input send (30 times a second by
    /// default).
    fn input(&mut self) -> Pad;

    /// Status and feedback: [`Event::Joined`], [`Event::Feedback`] (colour, score, alive,
    /// rumble), [`Event::Kicked`], [`Event::Disconnected`], [`Event::Connecting`].
    fn event(&mut self, event: &Event);

    /// Asked once per turn of the driver's loop (at least at every input send): true leaves
    /// the room for good. The driver closes with 1000, which frees the seat on the server at
    /// once (a dropped connection would keep the ship waiting for a resume), waits for the
    /// server's answer, and [`Client::run`] returns. The default never leaves.
    fn wants_to_leave(&mut self) -> bool {
        false
    }
}

/// How a session the application left ended, returned by [`Client::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Left {
    /// True when a connection was open and the server answered its close frame (the closing
    /// handshake completed); false when there was no connection or no answer in time.
    pub answered: bool,
}

/// Where to upgrade: the HTTP `Host` header value and the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// `Host` header, e.g. `"192.168.1.20:8080"`.
    pub host: &'a str,
    /// Request path, `"/ws"` for tickwire-server.
    pub path: &'a str,
}

/// A tickwire controller client: connector, RNG, session and buffers.
///
/// Typical use (the board examples in `boards/` show it whole):
///
/// ```text
/// let mut client = Client::new(connector, rng, Config::DEFAULT,
///     Identity::controller("pico", Some("lobby")), Endpoint { host, path: "/ws" }, buffers);
/// client.run(&mut my_app).await // never returns
/// ```
pub struct Client<'b, C, R> {
    connector: C,
    rng: R,
    session: Session,
    endpoint: Endpoint<'b>,
    buffers: Buffers<'b>,
}

impl<'b, C: Connector, R: RngCore> Client<'b, C, R> {
    /// A client that has not connected yet. `rng` masks frames, makes handshake keys and
    /// seeds the reconnect jitter: use the platform's hardware RNG where there is one.
    pub fn new(
        connector: C,
        mut rng: R,
        config: Config,
        identity: Identity,
        endpoint: Endpoint<'b>,
        buffers: Buffers<'b>,
    ) -> Self {
        let session = Session::new(config, identity, rng.next_u64());
        Client { connector, rng, session, endpoint, buffers }
    }

    /// The session, for its state, resume token and round-trip time.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Connects, joins, sends inputs, delivers feedback; on any failure backs off and
    /// reconnects, resuming the seat. Returns only when the application leaves
    /// ([`App::wants_to_leave`]); dropping the future instead stops abruptly (the server then
    /// keeps the seat for its resume grace).
    pub async fn run<A: App>(&mut self, app: &mut A) -> Left {
        loop {
            let now = now_ms();
            if app.wants_to_leave() {
                self.session.leave(now);
            }
            if self.session.state().has_left() {
                return Left { answered: false };
            }
            self.session.handle_timeout(now);
            deliver(&mut self.session, app);
            if self.session.poll_connect(now) {
                deliver(&mut self.session, app);
                let answered = self.connect_and_serve(app).await;
                if self.session.state().has_left() {
                    return Left { answered };
                }
            } else {
                match self.session.poll_timeout() {
                    Some(at) => Timer::at(Instant::from_millis(at)).await,
                    None => Timer::after_millis(100).await,
                }
            }
        }
    }

    /// One connection: open, serve until the session leaves the connected states, release.
    /// True when it ended with a completed closing handshake.
    async fn connect_and_serve<A: App>(&mut self, app: &mut A) -> bool {
        let Client { connector, rng, session, endpoint, buffers } = self;
        let config = *session.config();
        let write_timeout = millis(config.write_timeout_ms);
        let close_timeout = millis(config.close_timeout_ms);
        let opened = with_timeout(millis(config.connect_timeout_ms), async {
            let transport = match connector.connect().await {
                Ok(transport) => transport,
                Err(e) => {
                    warn!("connect failed: {}", crate::fmt::Dbg(&e));
                    return Err(Disconnect::Connect);
                }
            };
            let (host, path) = (endpoint.host, endpoint.path);
            WsConnection::open(transport, &mut *rng, host, path, buffers, write_timeout).await
        })
        .await;
        let mut conn = match opened {
            Ok(Ok(conn)) => conn,
            Ok(Err(reason)) => {
                session.handle_disconnected(now_ms(), reason);
                return false;
            }
            Err(_) => {
                session.handle_disconnected(now_ms(), Disconnect::ConnectTimeout);
                return false;
            }
        };
        debug!("WebSocket open");
        session.handle_connected(now_ms());
        let mut scratch = [0u8; MAX_CLIENT_MESSAGE_SIZE];
        loop {
            if app.wants_to_leave() {
                session.leave(now_ms());
            }
            deliver(session, app);
            if let Some(action) = session.poll_close() {
                let (graceful, answered) = match action {
                    CloseAction::Close { code } => (true, conn.close(code, close_timeout).await),
                    CloseAction::Abort => (false, false),
                };
                let _ =
                    with_timeout(close_timeout, C::release(conn.transport_mut(), graceful)).await;
                return answered;
            }
            let now = now_ms();
            while let Some(len) = session.poll_transmit(now, &mut scratch, || app.input()) {
                if let Err(reason) = conn.send_binary(&scratch[..len]).await {
                    session.handle_disconnected(now_ms(), reason);
                    break;
                }
            }
            if !session.state().is_connected() {
                continue; // poll_close says how to end it
            }
            let deadline = session.poll_timeout().map(Instant::from_millis);
            match conn.recv(deadline).await {
                Ok(Some(Incoming::Binary(bytes))) => session.handle_message(now_ms(), bytes),
                Ok(Some(Incoming::Other)) => session.handle_heard(now_ms()),
                Ok(None) => {}
                Err(reason) => session.handle_disconnected(now_ms(), reason),
            }
            session.handle_timeout(now_ms());
        }
    }
}

fn deliver<A: App>(session: &mut Session, app: &mut A) {
    while let Some(event) = session.poll_event() {
        app.event(&event);
    }
}

#[inline(never)] // one copy of the tick-to-ms division, not one per call site
fn now_ms() -> u64 {
    Instant::now().as_millis()
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}
