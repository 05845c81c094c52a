//! [`Client`]: the async driver. It runs a [`Session`] over a [`Connector`] with embassy-time
//! timers, reconnects forever, and never panics on network errors.

use crate::config::Config;
use crate::error::{BufferTooSmall, Disconnect};
use crate::session::{CloseAction, Event, Identity, Pad, Session};
use crate::transport::Connector;
use crate::ws::handshake::request_len;
use crate::ws::{Buffers, Incoming, WsConnection};
use embassy_time::{Duration, Instant, Timer, with_deadline, with_timeout};
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

    /// Asked once per turn of the driver's loop: true leaves the room for good. Joined, that
    /// is at least at every input send; waiting to reconnect, at least every 100 ms; and as
    /// soon as a connection attempt ends (an attempt is not cut short: it lasts at most
    /// [`Config::connect_timeout_ms`], plus up to [`Config::close_timeout_ms`] to release the
    /// transport of a failed upgrade). The driver closes with 1000, which frees the seat on
    /// the server at once (a dropped connection would keep the ship waiting for a resume),
    /// waits for the server's answer, and [`Client::run`] returns. The default never leaves.
    fn wants_to_leave(&mut self) -> bool {
        false
    }
}

/// Longest sleep between two [`App::wants_to_leave`] questions while the driver waits to
/// reconnect: a backoff lasts up to [`Config::backoff_max_ms`] (10 s by default), too long
/// for a person who asked to leave to wait.
const LEAVE_POLL_MS: u64 = 100;

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
/// let identity = Identity::controller("pico", Some("lobby"))?;
/// let mut client = Client::new(connector, rng, Config::DEFAULT, identity,
///     SERVER.endpoint(), buffers)?;
/// let left = client.run(&mut my_app).await; // returns once `my_app` asks to leave
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
    ///
    /// Fails when `buffers.tx` cannot hold the upgrade request to `endpoint` (a long
    /// `?token=<jwt>` in the path): that attempt could never succeed, however often it was
    /// retried. Size `tx` with [`Buffers::tx_len_for`] the URL and this never happens; with
    /// the URL and the buffer in `const`s and `static`s the check folds away at compile time.
    pub fn new(
        connector: C,
        mut rng: R,
        config: Config,
        identity: Identity,
        endpoint: Endpoint<'b>,
        buffers: Buffers<'b>,
    ) -> Result<Self, BufferTooSmall> {
        let request = request_len(endpoint.host, endpoint.path);
        if buffers.tx.len() < request {
            return Err(BufferTooSmall { which: "tx", len: buffers.tx.len(), min: request });
        }
        let session = Session::new(config, identity, rng.next_u64());
        Ok(Client { connector, rng, session, endpoint, buffers })
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
                let at = self.session.poll_timeout().unwrap_or(u64::MAX);
                Timer::at(Instant::from_millis(at.min(now + LEAVE_POLL_MS))).await;
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
        // One limit for the TCP connect and the upgrade together.
        let deadline = Instant::now() + millis(config.connect_timeout_ms);
        let mut transport = match with_deadline(deadline, connector.connect()).await {
            Ok(Ok(transport)) => transport,
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => {
                        warn!("connect failed: {}", crate::fmt::Dbg(&e));
                        Disconnect::Connect
                    }
                    _ => Disconnect::ConnectTimeout,
                };
                session.handle_disconnected(now_ms(), reason);
                return false;
            }
        };
        let (host, path) = (endpoint.host, endpoint.path);
        let opened = with_deadline(
            deadline,
            WsConnection::open(&mut transport, &mut *rng, host, path, buffers, write_timeout),
        )
        .await;
        // How to release the transport, and whether a closing handshake completed. Every
        // transport the connector opened is released, a failed upgrade's too: on embassy-net
        // a dropped socket sends nothing (no FIN, no RST), and the server would hold the
        // half-open connection until its own handshake timeout.
        let (graceful, answered) = match opened {
            Ok(Ok(mut conn)) => {
                debug!("WebSocket open");
                session.handle_connected(now_ms());
                let mut scratch = [0u8; MAX_CLIENT_MESSAGE_SIZE];
                loop {
                    if app.wants_to_leave() {
                        session.leave(now_ms());
                    }
                    deliver(session, app);
                    if let Some(action) = session.poll_close() {
                        break match action {
                            CloseAction::Close { code } => {
                                (true, conn.close(code, close_timeout).await)
                            }
                            CloseAction::Abort => (false, false),
                        };
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
                        Ok(Some(Incoming::Binary(bytes))) => {
                            session.handle_message(now_ms(), bytes)
                        }
                        Ok(Some(Incoming::Other)) => session.handle_heard(now_ms()),
                        Ok(None) => {}
                        Err(reason) => session.handle_disconnected(now_ms(), reason),
                    }
                    session.handle_timeout(now_ms());
                }
            }
            failed => {
                let reason = match failed {
                    Ok(Err(reason)) => reason,
                    _ => Disconnect::ConnectTimeout,
                };
                session.handle_disconnected(now_ms(), reason);
                (false, false)
            }
        };
        let _ = with_timeout(close_timeout, C::release(&mut transport, graceful)).await;
        answered
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

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::error::HandshakeError;
    use crate::testutil::{Script, TestRng, server_frame};
    use core::convert::Infallible;
    use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::vec::Vec;

    /// The transport of a connection that never opens.
    enum Unopened {}

    impl ErrorType for Unopened {
        type Error = Infallible;
    }

    impl Read for Unopened {
        async fn read(&mut self, _: &mut [u8]) -> Result<usize, Infallible> {
            match *self {}
        }
    }

    impl Write for Unopened {
        async fn write(&mut self, _: &[u8]) -> Result<usize, Infallible> {
            match *self {}
        }

        async fn flush(&mut self) -> Result<(), Infallible> {
            match *self {}
        }
    }

    /// A server that refuses every attempt at once; `leave_on_attempt` asks to leave from
    /// inside the attempt, as a person might while the client connects.
    struct Refusing {
        attempts: u32,
        leave_on_attempt: bool,
        leave: Rc<Cell<bool>>,
    }

    impl Connector for Refusing {
        type Transport<'a> = Unopened;
        type Error = ErrorKind;

        async fn connect(&mut self) -> Result<Unopened, ErrorKind> {
            self.attempts += 1;
            if self.leave_on_attempt {
                self.leave.set(true);
            }
            Err(ErrorKind::ConnectionRefused)
        }
    }

    /// Counts the driver's questions; with `leave_when_refused`, asks to leave once told of
    /// the first failure, i.e. while the backoff after it runs.
    struct Leaver {
        leave: Rc<Cell<bool>>,
        leave_when_refused: bool,
        asked: u32,
    }

    impl App for Leaver {
        fn input(&mut self) -> Pad {
            Pad::NEUTRAL
        }

        fn event(&mut self, event: &Event) {
            if self.leave_when_refused && matches!(event, Event::Disconnected { .. }) {
                self.leave.set(true);
            }
        }

        fn wants_to_leave(&mut self) -> bool {
            self.asked += 1;
            self.leave.get()
        }
    }

    /// Runs a client against [`Refusing`] with an hour of backoff after each failure; returns
    /// how it left, the attempts made and the questions asked.
    async fn leave_against_a_refusing_server(while_connecting: bool) -> (Left, u32, u32) {
        let mut config = Config::DEFAULT;
        config.backoff_initial_ms = 3_600_000;
        config.backoff_max_ms = 3_600_000;
        config.backoff_jitter_percent = 0;
        let leave = Rc::new(Cell::new(false));
        let connector =
            Refusing { attempts: 0, leave_on_attempt: while_connecting, leave: leave.clone() };
        let mut app = Leaver { leave, leave_when_refused: !while_connecting, asked: 0 };
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let buffers = Buffers::new(&mut rx, &mut tx, &mut msg).unwrap();
        let identity = Identity::controller("pico", None).unwrap();
        let endpoint = Endpoint { host: "h", path: "/ws" };
        let mut client =
            Client::new(connector, TestRng(1), config, identity, endpoint, buffers).unwrap();
        // Not a measure of anything: only turns sleeping out the hour into a failure.
        let hang_guard = std::time::Duration::from_secs(30);
        let left = tokio::time::timeout(hang_guard, client.run(&mut app))
            .await
            .expect("run slept out the backoff instead of asking whether to leave");
        assert!(client.session().state().has_left());
        (left, client.connector.attempts, app.asked)
    }

    #[tokio::test]
    async fn leaving_during_a_backoff_ends_run_at_the_next_poll_step() {
        let (left, attempts, asked) = leave_against_a_refusing_server(false).await;
        assert_eq!(left, Left { answered: false });
        assert_eq!(attempts, 1);
        // Before the attempt; after it, just before the failure (and the wish to leave) is
        // delivered; then after one sleep of at most `LEAVE_POLL_MS`, not the hour.
        assert_eq!(asked, 3);
    }

    #[tokio::test]
    async fn leaving_during_a_connection_attempt_ends_run_when_it_returns() {
        let (left, attempts, asked) = leave_against_a_refusing_server(true).await;
        assert_eq!(left, Left { answered: false });
        assert_eq!(attempts, 1);
        // Before the attempt, and right after it: no sleep in between.
        assert_eq!(asked, 2);
    }

    #[test]
    fn a_send_buffer_too_small_for_the_upgrade_request_is_refused_up_front() {
        // A join token in the URL: the request no buffer of `RECOMMENDED_TX` bytes can hold,
        // so every attempt would fail alike and be retried forever.
        let path = std::format!("/ws?token={}", "t".repeat(210));
        let endpoint = Endpoint { host: "192.168.1.20:8080", path: &path };
        let request = request_len(endpoint.host, endpoint.path);
        assert!(request > Buffers::RECOMMENDED_TX);
        let identity = Identity::controller("pico", None).unwrap();
        let new = |tx: &mut [u8]| {
            let (mut rx, mut msg) = ([0u8; 512], [0u8; 256]);
            let buffers = Buffers::new(&mut rx, tx, &mut msg).unwrap();
            let refusing = Refusing { attempts: 0, leave_on_attempt: false, leave: Rc::default() };
            Client::new(refusing, TestRng(1), Config::DEFAULT, identity, endpoint, buffers)
                .map(|_| ())
        };
        let too_small = BufferTooSmall { which: "tx", len: Buffers::RECOMMENDED_TX, min: request };
        assert_eq!(new(&mut [0u8; Buffers::RECOMMENDED_TX]), Err(too_small));
        assert_eq!(new(&mut std::vec![0u8; request]), Ok(()), "exactly the request fits");
    }

    /// Hands out one scripted server for every attempt; its `release`s are recorded in
    /// [`Script::released`].
    struct Scripted {
        script: Script,
        attempts: u32,
    }

    impl Connector for Scripted {
        type Transport<'a> = &'a mut Script;
        type Error = Infallible;

        async fn connect(&mut self) -> Result<&mut Script, Infallible> {
            self.attempts += 1;
            Ok(&mut self.script)
        }

        async fn release<'a>(script: &mut &'a mut Script, graceful: bool)
        where
            Self: 'a,
        {
            script.released.push(graceful);
        }
    }

    /// Records why connections ended; asks to leave from its `leave_at`-th question on.
    struct Recorder {
        leave_at: u32,
        asked: u32,
        reasons: Vec<Disconnect>,
    }

    impl App for Recorder {
        fn input(&mut self) -> Pad {
            Pad::NEUTRAL
        }

        fn event(&mut self, event: &Event) {
            if let Event::Disconnected { reason, .. } = event {
                self.reasons.push(*reason);
            }
        }

        fn wants_to_leave(&mut self) -> bool {
            self.asked += 1;
            self.asked >= self.leave_at
        }
    }

    /// Runs a client against `script` with short timeouts (connect 200 ms, write 50 ms, close
    /// 200 ms) and an hour of backoff; returns how it left, the disconnect reasons, the
    /// attempts made and the script's `release`s.
    async fn run_against(script: Script, leave_at: u32) -> (Left, Vec<Disconnect>, u32, Vec<bool>) {
        let mut config = Config::DEFAULT;
        config.connect_timeout_ms = 200;
        config.write_timeout_ms = 50;
        config.close_timeout_ms = 200;
        config.backoff_initial_ms = 3_600_000;
        config.backoff_max_ms = 3_600_000;
        config.backoff_jitter_percent = 0;
        let mut app = Recorder { leave_at, asked: 0, reasons: Vec::new() };
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let buffers = Buffers::new(&mut rx, &mut tx, &mut msg).unwrap();
        let identity = Identity::controller("pico", None).unwrap();
        let endpoint = Endpoint { host: "h", path: "/ws" };
        let connector = Scripted { script, attempts: 0 };
        let mut client =
            Client::new(connector, TestRng(1), config, identity, endpoint, buffers).unwrap();
        let hang_guard = std::time::Duration::from_secs(30);
        let left = tokio::time::timeout(hang_guard, client.run(&mut app)).await.expect("run hung");
        let Scripted { script, attempts } = client.connector;
        (left, app.reasons, attempts, script.released)
    }

    #[tokio::test]
    async fn a_refused_upgrade_releases_the_transport() {
        let mut script = Script::new(Vec::new(), usize::MAX, usize::MAX);
        script.response = Some(b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec());
        // Questions: before the attempt, right after it, then in the backoff: leave there.
        let (left, reasons, attempts, released) = run_against(script, 3).await;
        assert_eq!(reasons, [Disconnect::Handshake(HandshakeError::Status(503))]);
        assert_eq!((left, attempts), (Left { answered: false }, 1));
        assert_eq!(released, [false], "aborted, not just dropped");
    }

    #[tokio::test]
    async fn an_upgrade_that_times_out_releases_the_transport() {
        let mut script = Script::new(Vec::new(), usize::MAX, usize::MAX);
        script.response = Some(Vec::new()); // connects, then never answers the upgrade
        let (left, reasons, attempts, released) = run_against(script, 3).await;
        assert_eq!(reasons, [Disconnect::ConnectTimeout]);
        assert_eq!((left, attempts), (Left { answered: false }, 1));
        assert_eq!(released, [false], "aborted, not just dropped");
    }

    #[tokio::test]
    async fn leaving_after_the_server_closed_is_answered_only_if_the_echo_went_out() {
        for stalled in [false, true] {
            let mut script =
                Script::new(server_frame(true, 8, &1001u16.to_be_bytes()), usize::MAX, usize::MAX);
            if stalled {
                script.writes_until_stall = 2; // the upgrade request and `Hello`, not the echo
            }
            // Questions: before the attempt, once open, then right after the server's close
            // was handled: leave there, before the driver ends the connection.
            let (left, reasons, attempts, released) = run_against(script, 3).await;
            assert_eq!(reasons, [Disconnect::Closed { code: 1001 }], "stalled: {stalled}");
            assert_eq!(attempts, 1);
            assert_eq!(left, Left { answered: !stalled }, "stalled: {stalled}");
            assert_eq!(released, [true], "stalled: {stalled}");
        }
    }
}
