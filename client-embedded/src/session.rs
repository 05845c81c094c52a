//! [`Session`]: the sans-IO tickwire client. It opens no socket and reads no clock: the
//! driver hands it the time (`now`, milliseconds from any fixed origin) and what arrived, and
//! asks it what to send, what to tell the application, and when to wake up.

use crate::config::Config;
use crate::error::Disconnect;
use tickwire_shared::codec::{decode_controller, encode_client};
use tickwire_shared::{
    Ack, Buttons, ClientMessage, ControllerFeedback, ControllerMessage, EntityId, Hello, Input,
    InputSeq, Kick, KickReason, MAX_NAME_LEN, Name, PROTOCOL_VERSION, Ping, PlayerId, ResumeToken,
    Role, RoomName, RoomRequest, SkippedEvent, SnapshotTick, Tick, is_valid_room_name,
};

/// Where a session is in its connect, join, drop, reconnect cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionState {
    /// Not connected and not waiting: the next [`Session::poll_connect`] starts an attempt.
    /// The state of a new session.
    Disconnected,
    /// The driver is opening the transport and upgrading to WebSocket.
    Connecting,
    /// The WebSocket is open and `Hello` is sent (or about to be); waiting for `Welcome`.
    Handshaking,
    /// `Welcome` arrived: inputs flow, feedback arrives.
    Joined,
    /// The last connection ended or failed; the next attempt is due at `until_ms`.
    Backoff {
        /// When [`Session::poll_connect`] starts the next attempt.
        until_ms: u64,
    },
    /// The application left ([`Session::leave`]): the seat is given up and nothing
    /// reconnects. Final.
    Left,
}

impl SessionState {
    /// True once `Welcome` arrived and until the connection ends.
    pub fn is_joined(&self) -> bool {
        matches!(self, SessionState::Joined)
    }

    /// True while a WebSocket is open (handshaking or joined): the driver keeps the
    /// connection exactly while this holds.
    pub fn is_connected(&self) -> bool {
        matches!(self, SessionState::Handshaking | SessionState::Joined)
    }

    /// True while waiting to reconnect.
    pub fn is_backing_off(&self) -> bool {
        matches!(self, SessionState::Backoff { .. })
    }

    /// True once the application left: the session is over.
    pub fn has_left(&self) -> bool {
        matches!(self, SessionState::Left)
    }
}

/// One sample of the controls, read from the application at each input send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pad {
    /// Steering x, -127 (left) to 127 (right); -128 is sent as -127.
    pub x: i8,
    /// Steering y, -127 (up) to 127 (down); -128 is sent as -127.
    pub y: i8,
    /// Button bits: [`Buttons::BOOST`], [`Buttons::ACTION`].
    pub buttons: u8,
}

impl Pad {
    /// Centred stick, nothing pressed.
    pub const NEUTRAL: Pad = Pad { x: 0, y: 0, buttons: 0 };
}

/// Who this client is: the fields of its `Hello` other than the version and resume token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// `Role::Controller` for a gamepad (receives only feedback). `Role::Player` also works but
    /// receives snapshots, which need buffers sized for them.
    pub role: Role,
    /// Display name (at most 24 bytes).
    pub name: Name,
    /// The room to join, or `RoomRequest::Any` for matchmaking.
    pub room: RoomRequest,
}

/// Why [`Identity::check`] or [`Identity::controller`] refused a name or room;
/// [`IdentityError::as_str`] says it in words (for a compile-time `panic!`, or a message).
///
/// Who reacts: whoever chose the name and room, before anything connects. Firmware that
/// takes them from build-time settings checks them when it compiles; a host tool that takes
/// them from its user reports the error to that user. Connecting anyway would not help: the
/// server refuses such a `Hello` (`Kick { BadHello }`, close 1002) on every attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdentityError {
    /// The display name is empty or longer than `MAX_NAME_LEN` (24) bytes.
    Name,
    /// The room is not 1 to 16 letters, digits, `-`, `_` or `.` (the server would refuse the
    /// `Hello` with close 1002).
    Room,
}

impl core::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for IdentityError {}

impl IdentityError {
    /// What is wrong, in words for the person who chose the name and room.
    pub const fn as_str(self) -> &'static str {
        match self {
            IdentityError::Name => "the name must hold 1 to 24 bytes",
            IdentityError::Room => {
                "the room must hold 1 to 16 letters, digits, '-', '_' or '.' (or none, for any room)"
            }
        }
    }
}

impl Identity {
    /// Checks a display name and a room (empty: any room) as the server will, so firmware
    /// can refuse bad build-time settings when it compiles rather than be kicked at run time:
    ///
    /// ```
    /// use tickwire_client_embedded::Identity;
    /// const _: () = match Identity::check("pico-1", "lobby") {
    ///     Ok(()) => {}
    ///     Err(e) => panic!("{}", e.as_str()),
    /// };
    /// assert!(Identity::check("pico", "my room").is_err());
    /// ```
    pub const fn check(name: &str, room: &str) -> Result<(), IdentityError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(IdentityError::Name);
        }
        if !room.is_empty() && !is_valid_room_name(room) {
            return Err(IdentityError::Room);
        }
        Ok(())
    }

    /// A controller named `name` joining `room`, or any room for `None` or `Some("")` (as
    /// for [`check`](Self::check), so that a build-time setting left empty passes straight
    /// through), checked as `check` does. Nothing is truncated: a room cut to 16 bytes would
    /// be another room, and one the server refuses would be retried forever, so both are
    /// errors here.
    ///
    /// ```
    /// use tickwire_client_embedded::{Identity, IdentityError};
    /// assert!(Identity::controller("pico", Some("lobby")).is_ok());
    /// assert_eq!(Identity::controller("pico", Some("")), Identity::controller("pico", None));
    /// let too_long = Identity::controller("pico", Some("tournament-final-1"));
    /// assert_eq!(too_long, Err(IdentityError::Room));
    /// ```
    pub fn controller(name: &str, room: Option<&str>) -> Result<Identity, IdentityError> {
        let room = room.unwrap_or("");
        Identity::check(name, room)?;
        let room = match room {
            "" => RoomRequest::Any,
            // Fits, as checked: `truncated` cuts nothing.
            room => RoomRequest::Named(RoomName::truncated(room)),
        };
        Ok(Identity { role: Role::Controller, name: Name::truncated(name), room })
    }
}

/// What `Welcome` said, as the application needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Joined {
    /// This client's id in the room (the same after a resume).
    pub player_id: PlayerId,
    /// The ship it steers.
    pub entity: Option<EntityId>,
    /// True when the server resumed the seat of the previous connection.
    pub resumed: bool,
    /// The room joined.
    pub room: RoomName,
    /// The room's ticks per second.
    pub tick_rate: u8,
}

/// Something for the application, from [`Session::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// A connection attempt starts; `attempt` is 1 plus the consecutive failed attempts before
    /// it (a connection that ended within [`Config::stable_after_ms`] of its `Welcome` is one;
    /// those of a restart window, [`Config::restart_window_ms`], are not counted).
    Connecting {
        /// 1-based attempt number.
        attempt: u32,
    },
    /// The server welcomed us (a fresh join or a resume).
    Joined(Joined),
    /// New controller feedback: colour, score, alive, rumble.
    Feedback(ControllerFeedback),
    /// The server is closing the connection and said why; a
    /// [`Event::Disconnected`] follows, and the client reconnects. When
    /// [`KickReason::is_refusal`] is true (a full room, another protocol version, a `Hello` it
    /// refused, an operator's removal or ban) the server turned the controller away and the
    /// next attempts may well fail alike until the room frees up, the firmware changes or the
    /// ban ends: worth showing apart from an ordinary disconnect (the boards' "turned away" LED
    /// pattern), and the message says why. Otherwise (a restart's `ShuttingDown`, `Idle`,
    /// `Replaced`, ...) the reconnect usually just works.
    Kicked(Kick),
    /// The connection ended or could not be opened; the next attempt starts in `retry_in_ms`.
    Disconnected {
        /// Why.
        reason: Disconnect,
        /// Delay before the next attempt, jitter included.
        retry_in_ms: u32,
    },
}

/// How the driver must end the connection after the session left a connected state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseAction {
    /// Drop the transport without a close frame. The server then keeps the seat for
    /// its resume grace: used when the link is dead or stalled (silence, timeouts).
    Abort,
    /// Send a close frame with this status, wait for the echo, then drop the transport.
    /// Used when the application leaves (1000, which gives the seat up on the server), after
    /// a kick (the server is closing anyway) and when the server broke the protocol (1002,
    /// which keeps the seat for the resume that follows: PROTOCOL.md 7.1 step 8).
    Close {
        /// Close status code.
        code: u16,
    },
}

const EVENT_QUEUE: usize = 4;

/// The sans-IO tickwire client session.
///
/// # Call order (one loop of a driver)
/// 1. [`handle_timeout(now)`](Self::handle_timeout), then drain
///    [`poll_event`](Self::poll_event) into the application.
/// 2. Not connected: when [`poll_connect(now)`](Self::poll_connect) is true, open the transport
///    and the WebSocket, then call [`handle_connected`](Self::handle_connected) or, on failure,
///    [`handle_disconnected`](Self::handle_disconnected). Otherwise sleep until
///    [`poll_timeout`](Self::poll_timeout).
/// 3. Connected: send every [`poll_transmit`](Self::poll_transmit) payload as one binary
///    message; wait for a message until [`poll_timeout`](Self::poll_timeout); pass it to
///    [`handle_message`](Self::handle_message) (any other frame, e.g. a WebSocket ping, to
///    [`handle_heard`](Self::handle_heard)); report transport failures with
///    [`handle_disconnected`](Self::handle_disconnected). When [`poll_close`](Self::poll_close)
///    returns an action, end the connection that way.
///
/// Sequence numbers keep increasing across reconnects: the server judges each connection's
/// afresh (PROTOCOL.md 7.3), so a count that goes on is as good as one that restarts at 1.
#[derive(Debug, Clone)]
pub struct Session {
    config: Config,
    identity: Identity,
    state: SessionState,
    token: Option<ResumeToken>,
    joined: Option<Joined>,
    /// Consecutive failed attempts (a connection that ended within
    /// [`Config::stable_after_ms`] of its `Welcome` is one); drives the backoff exponent.
    failures: u32,
    /// The end of the restart window the server's last going away opened (0: none), in which
    /// failed attempts are not counted in `failures` ([`Config::restart_window_ms`]).
    restart_until_ms: u64,
    /// When the current connection's `Welcome` arrived.
    welcomed_ms: Option<u64>,
    entered_ms: u64,
    last_heard_ms: u64,
    hello_pending: bool,
    ack_pending: Option<Tick>,
    next_seq: u32,
    input_epoch_ms: u64,
    inputs_in_epoch: u64,
    next_ping_ms: u64,
    ping_nonce: u32,
    ping_outstanding: Option<(u32, u64)>,
    rtt_ms: Option<u32>,
    close: Option<CloseAction>,
    events: [Option<Event>; EVENT_QUEUE],
    events_head: usize,
    events_len: usize,
    rng: u64,
}

impl Session {
    /// A disconnected session. `seed` should come from the platform RNG: it only spreads
    /// reconnect times (jitter), so it needs no cryptographic quality.
    pub fn new(config: Config, identity: Identity, seed: u64) -> Session {
        Session {
            config,
            identity,
            state: SessionState::Disconnected,
            token: None,
            joined: None,
            failures: 0,
            restart_until_ms: 0,
            welcomed_ms: None,
            entered_ms: 0,
            last_heard_ms: 0,
            hello_pending: false,
            ack_pending: None,
            next_seq: 1,
            input_epoch_ms: 0,
            inputs_in_epoch: 0,
            next_ping_ms: 0,
            ping_nonce: 0,
            ping_outstanding: None,
            rtt_ms: None,
            close: None,
            events: [None; EVENT_QUEUE],
            events_head: 0,
            events_len: 0,
            rng: seed,
        }
    }

    /// The lifecycle state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The resume token of the last `Welcome`, sent in the next `Hello`.
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.token
    }

    /// What the last `Welcome` said (kept while reconnecting).
    pub fn joined(&self) -> Option<&Joined> {
        self.joined.as_ref()
    }

    /// Round trip of the last answered `Ping`, in milliseconds.
    pub fn rtt_ms(&self) -> Option<u32> {
        self.rtt_ms
    }

    /// The sequence number the next `Input` will carry.
    pub fn next_input_seq(&self) -> u32 {
        self.next_seq
    }

    // ---- input -----------------------------------------------------------------------------

    /// Starts a connection attempt when one is due (state `Disconnected`, or `Backoff` whose
    /// time has come): moves to `Connecting`, queues [`Event::Connecting`], returns true.
    pub fn poll_connect(&mut self, now: u64) -> bool {
        let due = match self.state {
            SessionState::Disconnected => true,
            SessionState::Backoff { until_ms } => now >= until_ms,
            _ => false,
        };
        if due {
            self.enter(SessionState::Connecting, now);
            self.close = None;
            self.push_event(Event::Connecting { attempt: self.failures.saturating_add(1) });
        }
        due
    }

    /// Leaves for good: a connected session closes with 1000, which frees the seat on the
    /// server at once (no resume), and no new connection is attempted. The driver ends the
    /// connection as [`poll_close`](Self::poll_close) says, then stops.
    pub fn leave(&mut self, now: u64) {
        if self.state.is_connected() {
            self.close = Some(CloseAction::Close { code: 1000 });
        }
        self.enter(SessionState::Left, now);
        self.hello_pending = false;
        self.ack_pending = None;
        info!("leaving");
    }

    /// The WebSocket is open: queues `Hello` (with the resume token, if any) and waits for
    /// `Welcome`. Ignored unless `Connecting`.
    pub fn handle_connected(&mut self, now: u64) {
        if self.state != SessionState::Connecting {
            return;
        }
        self.enter(SessionState::Handshaking, now);
        self.last_heard_ms = now;
        self.hello_pending = true;
        self.ack_pending = None;
        self.ping_outstanding = None;
    }

    /// Any frame arrived (also WebSocket pings and pongs): the link is alive.
    pub fn handle_heard(&mut self, now: u64) {
        self.last_heard_ms = self.last_heard_ms.max(now);
    }

    /// One whole binary message from the server. Decodes it and updates the state; a message
    /// that does not decode ends the connection with close 1002.
    // Out of line: inlined into the driver's `run` state machine it costs 1.9 KB more flash
    // on a Cortex-M0+ (measured with `size/report.sh`).
    #[inline(never)]
    pub fn handle_message(&mut self, now: u64, bytes: &[u8]) {
        if !self.state.is_connected() {
            return;
        }
        self.handle_heard(now);
        // Events (joins, chat, scores) are for screens: skipped unread, which keeps their
        // decoding out of the firmware.
        let msg = match decode_controller(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                warn!("undecodable server message: {}", crate::fmt::Dbg(&e));
                self.disconnect(now, Disconnect::Decode(e), CloseAction::Close { code: 1002 });
                return;
            }
        };
        match msg {
            ControllerMessage::Welcome(welcome) if self.state == SessionState::Handshaking => {
                let joined = Joined {
                    player_id: welcome.player_id,
                    entity: welcome.entity,
                    resumed: welcome.resumed,
                    room: welcome.room,
                    tick_rate: welcome.tick_rate,
                };
                info!(
                    "joined room {} as player {} (resumed: {})",
                    welcome.room.as_str(),
                    welcome.player_id.0,
                    welcome.resumed
                );
                self.token = Some(welcome.resume_token);
                self.joined = Some(joined);
                // The backoff resets when this connection ends, if it lasted.
                self.welcomed_ms = Some(now);
                // A server that welcomes is back: what ends this connection is any drop.
                self.restart_until_ms = 0;
                self.enter(SessionState::Joined, now);
                self.input_epoch_ms = now;
                self.inputs_in_epoch = 0;
                self.next_ping_ms = now.saturating_add(u64::from(self.config.ping_interval_ms));
                self.push_event(Event::Joined(joined));
            }
            ControllerMessage::Welcome(_) => debug!("ignoring a second Welcome"),
            ControllerMessage::ControllerFeedback(feedback) => {
                if self.state.is_joined() {
                    self.push_event(Event::Feedback(feedback));
                }
            }
            ControllerMessage::Pong(pong) => {
                if let Some((nonce, sent)) = self.ping_outstanding
                    && nonce == pong.nonce
                {
                    self.ping_outstanding = None;
                    self.rtt_ms = Some(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
                }
            }
            ControllerMessage::Kick(kick) => {
                // The server's words say what the reason cannot (how long a ban lasts, why a
                // moderator acted): the serial log is all a board's owner reads.
                warn!("kicked: {} ({})", crate::fmt::Dbg(&kick.reason), kick.message.as_str());
                // Any other reason is a live server's answer: a restart window ends.
                if !matches!(kick.reason, KickReason::ShuttingDown) {
                    self.restart_until_ms = 0;
                }
                match kick.reason {
                    // The seat is gone: join afresh next time.
                    KickReason::ResumeRejected => self.token = None,
                    // Retrying quickly cannot help; poll at the cap.
                    KickReason::VersionMismatch { .. } => self.failures = self.failures.max(32),
                    // An operator's removal or ban: the seat is gone, and coming straight
                    // back would defy it (or be refused again): join afresh, at the cap.
                    KickReason::Removed => {
                        self.token = None;
                        self.failures = self.failures.max(32);
                    }
                    _ => {}
                }
                self.push_event(Event::Kicked(kick));
                self.disconnect(
                    now,
                    Disconnect::Kicked(kick.reason),
                    CloseAction::Close { code: 1000 },
                );
            }
            ControllerMessage::Snapshot(SnapshotTick(tick)) => {
                // Players and spectators get these (never a controller); acking lets the
                // server send deltas.
                if self.state.is_joined() {
                    self.ack_pending = Some(tick);
                }
            }
            ControllerMessage::Event(SkippedEvent) => {}
        }
    }

    /// The connection ended or the attempt failed (transport error, close frame, upgrade
    /// refused). Moves to `Backoff` and queues [`Event::Disconnected`]. Ignored when already
    /// disconnected (e.g. the driver reports the end of a connection the session dropped).
    /// [`poll_close`](Self::poll_close) then says `Close` after a close frame from the server
    /// (the closing handshake is already done: nothing more is sent), `Abort` otherwise.
    pub fn handle_disconnected(&mut self, now: u64, reason: Disconnect) {
        if matches!(self.state, SessionState::Connecting) || self.state.is_connected() {
            // After the server's close frame the handshake is complete (the driver echoed
            // it): end the transport gracefully. Any other end is abrupt.
            let close = match reason {
                Disconnect::Closed { code } => CloseAction::Close { code },
                _ => CloseAction::Abort,
            };
            self.disconnect(now, reason, close);
        }
    }

    /// Checks the timers: join timeout while handshaking, silence while connected.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.state == SessionState::Handshaking
            && now >= self.entered_ms.saturating_add(u64::from(self.config.join_timeout_ms))
        {
            self.disconnect(now, Disconnect::JoinTimeout, CloseAction::Abort);
        } else if self.state.is_connected()
            && now >= self.last_heard_ms.saturating_add(u64::from(self.config.silence_timeout_ms))
        {
            self.disconnect(now, Disconnect::Silence, CloseAction::Abort);
        }
    }

    // ---- output ----------------------------------------------------------------------------

    /// The next message to send, encoded into `buf` (at least
    /// [`MAX_CLIENT_MESSAGE_SIZE`](tickwire_shared::MAX_CLIENT_MESSAGE_SIZE) bytes; a smaller
    /// one may fail to hold a `Hello`, which then times out). Returns its length; `None` when
    /// nothing is due. `input` is called only when an `Input` is due. Call until `None`.
    pub fn poll_transmit(
        &mut self,
        now: u64,
        buf: &mut [u8],
        input: impl FnOnce() -> Pad,
    ) -> Option<usize> {
        if !self.state.is_connected() {
            return None;
        }
        let msg = if self.hello_pending {
            self.hello_pending = false;
            ClientMessage::Hello(Hello {
                version: PROTOCOL_VERSION,
                role: self.identity.role,
                name: self.identity.name,
                room: self.identity.room,
                resume: self.token,
            })
        } else if !self.state.is_joined() {
            return None;
        } else if let Some(tick) = self.ack_pending.take() {
            ClientMessage::Ack(Ack { tick })
        } else if self.config.ping_interval_ms > 0 && now >= self.next_ping_ms {
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            self.ping_outstanding = Some((self.ping_nonce, now));
            self.next_ping_ms = now.saturating_add(u64::from(self.config.ping_interval_ms));
            ClientMessage::Ping(Ping { nonce: self.ping_nonce })
        } else if let Some(due) = self.next_input_ms()
            && now >= due
        {
            let period = 1000 / u64::from(self.config.input_rate_hz).max(1);
            if now - due >= period.max(1) {
                // Stalled for more than a period (slow write, busy app): resume the cadence
                // from now instead of sending a burst of catch-up inputs.
                self.input_epoch_ms = now;
                self.inputs_in_epoch = 0;
            }
            self.inputs_in_epoch += 1;
            let pad = input();
            let seq = InputSeq(self.next_seq);
            self.next_seq = self.next_seq.wrapping_add(1).max(1);
            ClientMessage::Input(Input {
                seq,
                x: pad.x.max(-127),
                y: pad.y.max(-127),
                buttons: Buttons(pad.buttons),
            })
        } else {
            return None;
        };
        match encode_client(&msg, buf) {
            Ok(len) => Some(len),
            Err(e) => {
                error!("message does not fit the encode buffer: {}", crate::fmt::Dbg(&e));
                None
            }
        }
    }

    /// The next event for the application, oldest first. The queue holds 4; when the driver
    /// does not drain it, the oldest events are dropped.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events_len == 0 {
            return None;
        }
        let event = self.events[self.events_head].take();
        self.events_head = (self.events_head + 1) % EVENT_QUEUE;
        self.events_len -= 1;
        event
    }

    /// How to end the current connection, once, after the session decided to drop it.
    pub fn poll_close(&mut self) -> Option<CloseAction> {
        self.close.take()
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout),
    /// [`poll_transmit`](Self::poll_transmit) or [`poll_connect`](Self::poll_connect) has
    /// something to do; `None` while `Connecting` (the driver's own timeout applies). A time
    /// in the past means "now".
    pub fn poll_timeout(&self) -> Option<u64> {
        let silence = self.last_heard_ms.saturating_add(u64::from(self.config.silence_timeout_ms));
        match self.state {
            SessionState::Disconnected => Some(0),
            SessionState::Connecting | SessionState::Left => None,
            SessionState::Backoff { until_ms } => Some(until_ms),
            SessionState::Handshaking => {
                let join = self.entered_ms.saturating_add(u64::from(self.config.join_timeout_ms));
                Some(silence.min(join))
            }
            SessionState::Joined => {
                let mut at = silence;
                if self.config.ping_interval_ms > 0 {
                    at = at.min(self.next_ping_ms);
                }
                if let Some(input) = self.next_input_ms() {
                    at = at.min(input);
                }
                if self.ack_pending.is_some() {
                    at = 0;
                }
                Some(at)
            }
        }
    }

    // ---- internals -------------------------------------------------------------------------

    /// When the next input is due; never for a spectator, which the server kicks for one.
    fn next_input_ms(&self) -> Option<u64> {
        let hz = u64::from(self.config.input_rate_hz);
        (hz > 0 && self.identity.role != Role::Spectator)
            .then(|| self.input_epoch_ms.saturating_add(self.inputs_in_epoch * 1000 / hz))
    }

    fn enter(&mut self, state: SessionState, now: u64) {
        self.state = state;
        self.entered_ms = now;
    }

    fn disconnect(&mut self, now: u64, reason: Disconnect, close: CloseAction) {
        let was_connected = self.state.is_connected();
        let stable_after = u64::from(self.config.stable_after_ms);
        let stable =
            self.welcomed_ms.take().is_some_and(|at| now.saturating_sub(at) >= stable_after);
        if reason.is_restart() {
            self.restart_until_ms = now.saturating_add(u64::from(self.config.restart_window_ms));
        }
        // The server said it goes away: it (or the node a balancer sends to next) may be back
        // any moment, so retries keep to the first delay rather than doubling past it, and
        // are not counted. A connection that lasted was a success, not a failed attempt: the
        // count starts again from 0, so the next attempt is attempt 1 and waits the initial
        // delay, as after a first failure.
        let restarting = now < self.restart_until_ms;
        if stable {
            self.failures = 0;
        } else if !restarting {
            self.failures = self.failures.saturating_add(1);
        }
        let delay = self.backoff_delay(if restarting { 0 } else { self.failures });
        self.enter(SessionState::Backoff { until_ms: now.saturating_add(u64::from(delay)) }, now);
        self.hello_pending = false;
        self.ack_pending = None;
        self.ping_outstanding = None;
        self.close = was_connected.then_some(close);
        info!("disconnected ({}); retrying in {} ms", crate::fmt::Dbg(&reason), delay);
        self.push_event(Event::Disconnected { reason, retry_in_ms: delay });
    }

    /// `backoff_initial_ms * 2^(failures - 1)` (the initial delay for 0 or 1 failures), capped
    /// at `backoff_max_ms`, then spread by ±`backoff_jitter_percent` and capped again.
    fn backoff_delay(&mut self, failures: u32) -> u32 {
        let max = u64::from(self.config.backoff_max_ms);
        let base = u64::from(self.config.backoff_initial_ms)
            .checked_shl(failures.saturating_sub(1).min(32))
            .unwrap_or(max)
            .min(max);
        let span = base * u64::from(self.config.backoff_jitter_percent.min(100)) / 100;
        let jittered = base - span + self.next_random() % (2 * span + 1);
        jittered.min(max) as u32
    }

    /// SplitMix64: tiny, and plenty for spreading reconnects.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn push_event(&mut self, event: Event) {
        if self.events_len == EVENT_QUEUE {
            // Full: drop the oldest.
            self.events_head = (self.events_head + 1) % EVENT_QUEUE;
            self.events_len -= 1;
        }
        let tail = (self.events_head + self.events_len) % EVENT_QUEUE;
        self.events[tail] = Some(event);
        self.events_len += 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;
    use tickwire_shared::codec::{decode_client, encode_control};
    use tickwire_shared::{ControlMessage, KickText, Pong, Rgb, Welcome, WorldBounds};

    const TOKEN: ResumeToken = ResumeToken([7; 16]);

    fn session() -> Session {
        Session::new(Config::DEFAULT, Identity::controller("pico", Some("lobby")).unwrap(), 42)
    }

    fn welcome(resumed: bool) -> Vec<u8> {
        control(ControlMessage::Welcome(Welcome {
            player_id: PlayerId(3),
            role: Role::Controller,
            room: RoomName::truncated("lobby"),
            tick_rate: 30,
            world: WorldBounds { width: 2000, height: 2000 },
            view_radius: 0,
            entity: Some(EntityId(11)),
            resume_token: TOKEN,
            resumed,
        }))
    }

    fn control(msg: ControlMessage) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let len = encode_control(&msg, &mut buf).unwrap();
        buf[..len].to_vec()
    }

    fn transmit(s: &mut Session, now: u64) -> Option<ClientMessage> {
        let mut buf = [0u8; 256];
        let len = s.poll_transmit(now, &mut buf, || Pad { x: 5, y: -128, buttons: 1 })?;
        Some(decode_client(&buf[..len]).unwrap())
    }

    fn events(s: &mut Session) -> Vec<Event> {
        core::iter::from_fn(|| s.poll_event()).collect()
    }

    /// Connects at `now` and joins 10 ms later; returns the Hello sent.
    fn join(s: &mut Session, now: u64, resumed: bool) -> Hello {
        assert!(s.poll_connect(now));
        s.handle_connected(now);
        let Some(ClientMessage::Hello(hello)) = transmit(s, now) else { panic!("Hello first") };
        s.handle_message(now + 10, &welcome(resumed));
        hello
    }

    #[test]
    fn join_sends_hello_and_welcome_joins() {
        let mut s = session();
        assert_eq!(s.state(), SessionState::Disconnected);
        assert_eq!(s.poll_timeout(), Some(0), "a new session connects at once");
        assert!(s.poll_connect(0));
        assert_eq!(s.state(), SessionState::Connecting);
        assert!(!s.poll_connect(0), "one attempt at a time");
        s.handle_connected(5);
        assert_eq!(s.state(), SessionState::Handshaking);
        let Some(ClientMessage::Hello(hello)) = transmit(&mut s, 5) else { panic!() };
        assert_eq!(hello.version, PROTOCOL_VERSION);
        assert_eq!(hello.role, Role::Controller);
        assert_eq!(hello.name.as_str(), "pico");
        assert_eq!(hello.room, RoomRequest::Named(RoomName::truncated("lobby")));
        assert_eq!(hello.resume, None);
        assert_eq!(transmit(&mut s, 5), None, "no input before Welcome");

        s.handle_message(20, &welcome(false));
        assert!(s.state().is_joined());
        assert_eq!(s.resume_token(), Some(TOKEN));
        let joined = Joined {
            player_id: PlayerId(3),
            entity: Some(EntityId(11)),
            resumed: false,
            room: RoomName::truncated("lobby"),
            tick_rate: 30,
        };
        assert_eq!(events(&mut s), [Event::Connecting { attempt: 1 }, Event::Joined(joined)]);
    }

    #[test]
    fn inputs_go_out_at_30_hz_with_increasing_sequence_numbers() {
        let mut s = session();
        join(&mut s, 1000, false);
        let mut sent = Vec::new();
        for now in 1010..2010 {
            while let Some(msg) = transmit(&mut s, now) {
                if let ClientMessage::Input(input) = msg {
                    sent.push((now, input));
                }
            }
        }
        assert_eq!(sent.len(), 30, "one second at 30 Hz");
        for (i, (_, input)) in sent.iter().enumerate() {
            assert_eq!(input.seq, InputSeq(i as u32 + 1));
            assert_eq!((input.x, input.y, input.buttons), (5, -127, Buttons(1)), "-128 clamps");
        }
        for pair in sent.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!((33..=34).contains(&gap), "gap {gap} ms");
        }
        // poll_timeout names the next input.
        let next = s.poll_timeout().unwrap();
        assert!(next > 2009 && next <= 2010 + 34, "next wake-up {next}");
    }

    #[test]
    fn a_stall_sends_one_input_not_a_burst() {
        let mut s = session();
        join(&mut s, 0, false);
        assert!(matches!(transmit(&mut s, 10), Some(ClientMessage::Input(_))));
        // Nothing for 500 ms (a slow write): one input, then the cadence restarts.
        assert!(matches!(transmit(&mut s, 510), Some(ClientMessage::Input(_))));
        assert_eq!(transmit(&mut s, 510), None);
        assert_eq!(transmit(&mut s, 530), None);
        assert!(matches!(transmit(&mut s, 543), Some(ClientMessage::Input(_))));
    }

    #[test]
    fn a_spectator_never_sends_input() {
        // The server kicks a spectator for an input: sending one would be a reconnect loop.
        let identity =
            Identity { role: Role::Spectator, ..Identity::controller("eye", None).unwrap() };
        let mut s = Session::new(Config::DEFAULT, identity, 42);
        join(&mut s, 0, false);
        let wake = s.poll_timeout().expect("a ping is due some time");
        assert!(wake >= 1000, "woken at {wake} ms for an input it will not send");
        for now in (10..3000).step_by(10) {
            if let Some(msg) = transmit(&mut s, now) {
                assert!(!matches!(msg, ClientMessage::Input(_)), "an input at {now} ms");
            }
        }
        assert!(s.state().is_joined());
    }

    #[test]
    fn players_and_spectators_ack_the_snapshots_they_get() {
        // `snapshot_full` of the golden vectors (PROTOCOL.md 2.4): a full snapshot of tick 100.
        let snapshot: Vec<u8> = (0..4)
            .map(|i| u8::from_str_radix(&"01806429"[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        for role in [Role::Player, Role::Spectator] {
            let identity = Identity { role, ..Identity::controller("eye", None).unwrap() };
            let mut s = Session::new(Config::DEFAULT, identity, 42);
            join(&mut s, 0, false);
            s.handle_message(20, &snapshot);
            let sent: Vec<_> = core::iter::from_fn(|| transmit(&mut s, 20)).collect();
            assert!(
                sent.contains(&ClientMessage::Ack(Ack { tick: Tick(100) })),
                "{role:?}: {sent:?}"
            );
        }
    }

    #[test]
    fn feedback_reaches_the_application() {
        let mut s = session();
        join(&mut s, 0, false);
        events(&mut s);
        let feedback =
            ControllerFeedback { colour: Rgb([255, 0, 64]), score: 12, alive: true, rumble: 128 };
        s.handle_message(50, &control(ControlMessage::ControllerFeedback(feedback)));
        assert_eq!(events(&mut s), [Event::Feedback(feedback)]);
    }

    #[test]
    fn a_kick_surfaces_its_reason_and_closes() {
        let mut s = session();
        join(&mut s, 0, false);
        events(&mut s);
        let kick = Kick { reason: KickReason::Full, message: KickText::truncated("room is full") };
        s.handle_message(100, &control(ControlMessage::Kick(kick)));
        let retry = match events(&mut s).as_slice() {
            [Event::Kicked(k), Event::Disconnected { reason, retry_in_ms }] => {
                assert_eq!(k, &kick);
                assert_eq!(reason, &Disconnect::Kicked(KickReason::Full));
                *retry_in_ms
            }
            other => panic!("unexpected events {other:?}"),
        };
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1000 }));
        assert_eq!(s.poll_close(), None, "once");
        assert_eq!(s.state(), SessionState::Backoff { until_ms: 100 + u64::from(retry) });
        assert_eq!(s.resume_token(), Some(TOKEN), "a kick other than ResumeRejected keeps it");
    }

    #[test]
    fn an_operators_removal_is_a_refusal_that_carries_its_message() {
        let mut s = session();
        join(&mut s, 0, false);
        events(&mut s);
        let message = KickText::truncated("banned for 10 minutes: spamming the chat");
        let kick = Kick { reason: KickReason::Removed, message };
        s.handle_message(100, &control(ControlMessage::Kick(kick)));
        match events(&mut s).as_slice() {
            [Event::Kicked(k), Event::Disconnected { reason, retry_in_ms }] => {
                assert_eq!(k, &kick);
                assert!(k.reason.is_refusal(), "the boards show their turned-away pattern");
                assert_eq!(k.message.as_str(), "banned for 10 minutes: spamming the chat");
                assert_eq!(reason, &Disconnect::Kicked(KickReason::Removed));
                // Not straight back: at the backoff's cap, less its jitter at most.
                let cap = Config::DEFAULT.backoff_max_ms;
                let jitter = Config::DEFAULT.backoff_jitter_percent;
                assert!(*retry_in_ms >= cap / 100 * u32::from(100 - jitter), "{retry_in_ms}");
            }
            other => panic!("unexpected events {other:?}"),
        }
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1000 }));
        assert_eq!(s.resume_token(), None, "the seat is gone: the next attempt joins afresh");
        let state = s.state();
        assert!(matches!(state, SessionState::Backoff { .. }), "tries again later: {state:?}");
    }

    #[test]
    fn a_rejected_resume_forgets_the_token() {
        let mut s = session();
        join(&mut s, 0, false);
        let kick = Kick { reason: KickReason::ResumeRejected, message: KickText::new() };
        s.handle_message(100, &control(ControlMessage::Kick(kick)));
        assert_eq!(s.resume_token(), None);
    }

    #[test]
    fn pings_go_out_every_interval_and_pongs_measure_the_round_trip() {
        let mut s = session();
        join(&mut s, 0, false);
        let drain = |s: &mut Session, now| {
            core::iter::from_fn(|| transmit(s, now))
                .filter(|m| matches!(m, ClientMessage::Ping(_)))
                .collect::<Vec<_>>()
        };
        assert!(drain(&mut s, 4_999).is_empty());
        let pings = drain(&mut s, 5_010);
        let [ClientMessage::Ping(ping)] = pings.as_slice() else { panic!("{pings:?}") };
        let pong = Pong { nonce: ping.nonce, server_tick: Tick(1) };
        s.handle_message(5_052, &control(ControlMessage::Pong(pong)));
        assert_eq!(s.rtt_ms(), Some(42));
        assert!(drain(&mut s, 10_000).is_empty());
        assert_eq!(drain(&mut s, 10_010).len(), 1);
    }

    #[test]
    fn silence_drops_the_connection_without_a_close_frame() {
        let mut s = session();
        join(&mut s, 0, false);
        events(&mut s);
        s.handle_timeout(14_000);
        assert!(s.state().is_joined());
        s.handle_heard(14_000); // a WebSocket ping
        s.handle_timeout(28_999);
        assert!(s.state().is_joined());
        assert_eq!(s.poll_timeout(), Some(29_000).min(s.poll_timeout()));
        s.handle_timeout(29_000);
        assert!(s.state().is_backing_off());
        assert_eq!(s.poll_close(), Some(CloseAction::Abort), "keep the seat for a resume");
        assert!(matches!(
            events(&mut s).as_slice(),
            [Event::Disconnected { reason: Disconnect::Silence, .. }]
        ));
    }

    #[test]
    fn no_welcome_in_time_is_a_join_timeout() {
        let mut s = session();
        assert!(s.poll_connect(0));
        s.handle_connected(100);
        transmit(&mut s, 100);
        assert_eq!(s.poll_timeout(), Some(5_100));
        s.handle_timeout(5_099);
        assert_eq!(s.state(), SessionState::Handshaking);
        s.handle_timeout(5_100);
        assert!(s.state().is_backing_off());
        assert_eq!(s.poll_close(), Some(CloseAction::Abort));
    }

    #[test]
    fn a_close_from_the_server_ends_gracefully() {
        let mut s = session();
        join(&mut s, 0, false);
        s.handle_disconnected(10, Disconnect::Closed { code: 1001 });
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1001 }));
    }

    #[test]
    fn leaving_closes_with_1000_and_never_reconnects() {
        let mut s = session();
        join(&mut s, 0, false);
        s.leave(10);
        assert!(s.state().has_left());
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1000 }));
        let mut buf = [0u8; 256];
        assert_eq!(s.poll_transmit(20, &mut buf, || Pad::NEUTRAL), None, "nothing more is sent");
        assert!(!s.poll_connect(1_000_000), "no reconnect, however long we wait");
        assert_eq!(s.poll_timeout(), None);
        // A report of the connection's end that arrives late changes nothing.
        s.handle_disconnected(30, Disconnect::Eof);
        assert!(s.state().has_left());
        assert_eq!(s.poll_close(), None);

        // Leaving while backing off just stops: there is no connection to close.
        let mut s = session();
        join(&mut s, 0, false);
        s.handle_disconnected(10, Disconnect::Eof);
        let _ = s.poll_close();
        s.leave(20);
        assert_eq!(s.poll_close(), None);
        assert!(!s.poll_connect(1_000_000));
    }

    #[test]
    fn backoff_doubles_to_the_cap_within_the_jitter_bounds() {
        let config = Config::DEFAULT;
        let mut spread = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut s = Session::new(config, Identity::controller("pico", None).unwrap(), seed);
            let mut now = 0;
            for failure in 0..12u32 {
                assert!(s.poll_connect(now), "attempt due at {now}");
                let attempt = failure + 1;
                assert_eq!(s.poll_event(), Some(Event::Connecting { attempt }));
                s.handle_disconnected(now, Disconnect::Connect);
                let Some(Event::Disconnected { retry_in_ms, .. }) = s.poll_event() else {
                    panic!()
                };
                let base = (250u32 << failure).min(10_000);
                let (low, high) = (base * 3 / 4, (base * 5 / 4).min(10_000));
                assert!(
                    (low..=high).contains(&retry_in_ms),
                    "failure {failure}: {retry_in_ms} outside {low}..={high}"
                );
                assert_eq!(
                    s.state(),
                    SessionState::Backoff { until_ms: now + u64::from(retry_in_ms) }
                );
                assert!(!s.poll_connect(now + u64::from(retry_in_ms) - 1));
                now += u64::from(retry_in_ms);
                if failure == 0 {
                    spread.insert(retry_in_ms);
                }
            }
        }
        assert!(spread.len() > 50, "jitter spreads the first retry: {} values", spread.len());
    }

    #[test]
    fn reconnect_resumes_with_the_token_and_keeps_counting_inputs() {
        let mut s = session();
        assert_eq!(join(&mut s, 0, false).resume, None);
        let mut last_seq = 0;
        for now in 10..200 {
            while let Some(msg) = transmit(&mut s, now) {
                if let ClientMessage::Input(i) = msg {
                    last_seq = i.seq.0;
                }
            }
        }
        s.handle_disconnected(200, Disconnect::Eof);
        assert_eq!(s.poll_close(), Some(CloseAction::Abort));
        let SessionState::Backoff { until_ms } = s.state() else { panic!() };
        assert!((200 + 187..=200 + 313).contains(&until_ms), "first retry ~250 ms");
        assert_eq!(transmit(&mut s, until_ms), None, "nothing to send while disconnected");
        let hello = join(&mut s, until_ms, true);
        assert_eq!(hello.resume, Some(TOKEN));
        assert!(matches!(
            events(&mut s).last(),
            Some(Event::Joined(Joined { resumed: true, player_id: PlayerId(3), .. }))
        ));
        let first = core::iter::from_fn(|| transmit(&mut s, until_ms + 20))
            .find_map(|m| match m {
                ClientMessage::Input(i) => Some(i.seq.0),
                _ => None,
            })
            .unwrap();
        assert_eq!(first, last_seq + 1);
        // A connection that lasted 5 s after its Welcome (at `until_ms + 10`) resets the backoff.
        s.handle_disconnected(until_ms + 5_010, Disconnect::Eof);
        let SessionState::Backoff { until_ms: again } = s.state() else { panic!() };
        assert!(again - (until_ms + 5_010) <= 313);
    }

    #[test]
    fn the_first_attempt_after_a_connection_that_lasted_is_attempt_1() {
        let mut s = session();
        // Two failed attempts first, so that a count that was not reset would show.
        for now in [0, 1_000] {
            assert!(s.poll_connect(now));
            s.handle_disconnected(now, Disconnect::Connect);
        }
        let SessionState::Backoff { until_ms } = s.state() else { panic!() };
        events(&mut s);
        join(&mut s, until_ms, false);
        // Lasted `stable_after_ms` after its Welcome (at `until_ms + 10`): a success.
        s.handle_disconnected(until_ms + 5_010, Disconnect::Eof);
        let SessionState::Backoff { until_ms: retry } = s.state() else { panic!() };
        assert!(retry - (until_ms + 5_010) <= 313, "the initial delay, jitter included");
        events(&mut s);
        assert!(s.poll_connect(retry));
        assert_eq!(events(&mut s), [Event::Connecting { attempt: 1 }]);
        // That attempt fails: the next is attempt 2, as after a first failure.
        s.handle_disconnected(retry, Disconnect::Connect);
        let SessionState::Backoff { until_ms: again } = s.state() else { panic!() };
        events(&mut s);
        assert!(s.poll_connect(again));
        assert_eq!(events(&mut s), [Event::Connecting { attempt: 2 }]);
    }

    #[test]
    fn a_connection_that_ends_right_after_its_welcome_does_not_reset_the_backoff() {
        let mut s = session();
        let mut now = 0;
        let mut delays = Vec::new();
        // A server that welcomes and then fails at once, every time.
        for _ in 0..6 {
            join(&mut s, now, now > 0);
            s.handle_disconnected(now + 50, Disconnect::Eof);
            let SessionState::Backoff { until_ms } = s.state() else { panic!() };
            delays.push(until_ms - (now + 50));
            now = until_ms;
        }
        // Doubling from 250 ms (within the jitter of 25%) up to the cap.
        for (failure, delay) in delays.iter().enumerate() {
            let base = (250u64 << failure).min(10_000);
            assert!(
                (base * 3 / 4..=(base * 5 / 4).min(10_000)).contains(delay),
                "failure {failure}: {delay} ms"
            );
        }
    }

    /// Fails `n` attempts of `s` from `now` (a server that is down); returns each delay and
    /// the time the next attempt is due.
    fn refused_attempts(s: &mut Session, mut now: u64, n: usize) -> (Vec<u32>, u64) {
        let mut delays = Vec::new();
        for _ in 0..n {
            assert!(s.poll_connect(now), "attempt due at {now}");
            s.handle_disconnected(now, Disconnect::Connect);
            let SessionState::Backoff { until_ms } = s.state() else { panic!() };
            delays.push((until_ms - now) as u32);
            now = until_ms;
        }
        events(s);
        (delays, now)
    }

    #[test]
    fn a_server_going_away_is_retried_at_the_first_delay_through_its_restart_window() {
        let config = Config { backoff_jitter_percent: 0, ..Config::DEFAULT };
        let kicked = |kick: bool, code: u16| {
            let mut s = Session::new(config, Identity::controller("pico", None).unwrap(), 7);
            join(&mut s, 0, false);
            if kick {
                let message = KickText::truncated("server shutting down");
                let bytes = control(ControlMessage::Kick(Kick {
                    reason: KickReason::ShuttingDown,
                    message,
                }));
                s.handle_message(60_000, &bytes);
            } else {
                s.handle_disconnected(60_000, Disconnect::Closed { code });
            }
            let SessionState::Backoff { until_ms } = s.state() else { panic!() };
            assert_eq!(until_ms, 60_250, "the first delay");
            events(&mut s);
            (s, until_ms)
        };
        let (mut s, now) = kicked(true, 1001);
        // The server is down for 10 s: every retry waits 250 ms again (39 fit the window).
        let (delays, now) = refused_attempts(&mut s, now, 39);
        assert_eq!(delays, [250; 39]);
        // Past the window the delay doubles from the first one.
        let (delays, _) = refused_attempts(&mut s, now, 4);
        assert_eq!(delays, [250, 500, 1000, 2000]);

        // A close 1001 or 1012 without a kick opens the window too; other codes do not (after
        // a connection that lasted, the first failed attempt waits the first delay too).
        for (code, expected) in [(1001, [250, 250]), (1012, [250, 250]), (1011, [250, 500])] {
            let (mut s, now) = kicked(false, code);
            assert_eq!(refused_attempts(&mut s, now, 2).0, expected, "close {code}");
        }

        // A Welcome ends the window: a server back from its restart that then fails at once is
        // polled ever more slowly again, within 10 s of the kick.
        let (mut s, now) = kicked(true, 1001);
        let (_, mut now) = refused_attempts(&mut s, now, 3);
        let mut delays = Vec::new();
        for _ in 0..3 {
            join(&mut s, now, false);
            s.handle_disconnected(now + 50, Disconnect::Eof);
            let SessionState::Backoff { until_ms } = s.state() else { panic!() };
            delays.push(until_ms - (now + 50));
            now = until_ms;
        }
        assert_eq!(delays, [250, 500, 1000]);

        // A kick for another reason is a live server's answer: the window ends there too.
        let (mut s, now) = kicked(false, 1012);
        assert!(s.poll_connect(now));
        s.handle_connected(now);
        let full = KickText::truncated("room is full");
        s.handle_message(
            now,
            &control(ControlMessage::Kick(Kick { reason: KickReason::Full, message: full })),
        );
        let SessionState::Backoff { until_ms } = s.state() else { panic!() };
        assert_eq!(until_ms - now, 250, "the first counted failure");
        assert_eq!(refused_attempts(&mut s, until_ms, 2).0, [500, 1000]);

        // With a window of 0 the backoff doubles as after any drop.
        let config = Config { restart_window_ms: 0, ..config };
        let mut s = Session::new(config, Identity::controller("pico", None).unwrap(), 7);
        join(&mut s, 0, false);
        s.handle_disconnected(60_000, Disconnect::Closed { code: 1001 });
        events(&mut s);
        assert_eq!(refused_attempts(&mut s, 60_250, 3).0, [250, 500, 1000]);
    }

    #[test]
    fn an_undecodable_message_closes_with_a_protocol_error() {
        let mut s = session();
        join(&mut s, 0, false);
        s.handle_message(10, &[0xff, 0xff]);
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1002 }));
        assert!(s.state().is_backing_off());
        // 1002 keeps the seat on the server (PROTOCOL.md 7.1 step 8): the next Hello resumes it.
        assert_eq!(s.resume_token(), Some(TOKEN));
    }

    #[test]
    fn identity_check_matches_the_server_rules() {
        assert_eq!(Identity::check("pico", ""), Ok(()));
        assert_eq!(Identity::check("pico", "lobby-2_b.x"), Ok(()));
        assert_eq!(Identity::check(&"n".repeat(24), &"r".repeat(16)), Ok(()));
        assert_eq!(Identity::check("", "lobby"), Err(IdentityError::Name));
        assert_eq!(Identity::check(&"n".repeat(25), ""), Err(IdentityError::Name));
        assert_eq!(Identity::check("pico", &"r".repeat(17)), Err(IdentityError::Room));
        for bad in ["my room", "caf\u{e9}", "a/b", "x?"] {
            assert_eq!(Identity::check("pico", bad), Err(IdentityError::Room), "{bad:?}");
        }
    }

    #[test]
    fn a_controller_identity_is_refused_rather_than_cut_or_kicked() {
        let room = |identity: Identity| identity.room;
        let lobby = Identity::controller("pico", Some("lobby")).map(room);
        assert_eq!(lobby, Ok(RoomRequest::Named(RoomName::truncated("lobby"))));
        assert_eq!(Identity::controller("pico", None).map(room), Ok(RoomRequest::Any));
        // An empty room is any room, as for `check` (a build-time setting left empty).
        assert_eq!(Identity::controller("pico", Some("")).map(room), Ok(RoomRequest::Any));
        let longest = Identity::controller("pico", Some(&"r".repeat(16))).map(room);
        assert_eq!(longest, Ok(RoomRequest::Named(RoomName::truncated(&"r".repeat(16)))));
        // 17 bytes: cut to 16 it would be another room ("tournament-final").
        let cut = Identity::controller("pico", Some("tournament-final-1"));
        assert_eq!(cut, Err(IdentityError::Room));
        // The server kicks these with BadHello on every attempt.
        for bad in ["my room", "caf\u{e9}", "a/b"] {
            let refused = Identity::controller("pico", Some(bad));
            assert_eq!(refused, Err(IdentityError::Room), "{bad:?}");
        }
        assert_eq!(Identity::controller("", None), Err(IdentityError::Name));
        let long_name = "n".repeat(25);
        assert_eq!(Identity::controller(&long_name, None), Err(IdentityError::Name));
        let name = Identity::controller(&"n".repeat(24), None).map(|i| i.name);
        assert_eq!(name, Ok(Name::truncated(&"n".repeat(24))));
    }

    #[test]
    fn room_events_are_skipped_but_count_as_heard() {
        let mut s = session();
        join(&mut s, 0, false);
        events(&mut s);
        let chat = tickwire_shared::Event {
            tick: Tick(9),
            kind: tickwire_shared::EventKind::Chat {
                from: PlayerId(4),
                name: Name::truncated("ana"),
                text: tickwire_shared::ChatText::truncated("hello"),
            },
        };
        let silence = u64::from(Config::DEFAULT.silence_timeout_ms);
        s.handle_message(silence - 1, &control(ControlMessage::Event(chat)));
        assert!(s.state().is_joined());
        assert_eq!(s.poll_close(), None);
        assert_eq!(events(&mut s), []);
        // Heard at silence - 1, so not silent at silence + 10.
        s.handle_timeout(silence + 10);
        assert!(s.state().is_joined());
        // A truncated event is skipped unread too (its body is never decoded)...
        s.handle_message(silence + 20, &[2]);
        assert!(s.state().is_joined());
        // ...but an unknown tag is still a protocol error.
        s.handle_message(silence + 30, &[9]);
        assert_eq!(s.poll_close(), Some(CloseAction::Close { code: 1002 }));
    }

    #[test]
    fn the_event_queue_keeps_the_newest() {
        let mut s = session();
        join(&mut s, 0, false);
        for score in 0..10 {
            let f = ControllerFeedback { colour: Rgb([0; 3]), score, alive: true, rumble: 0 };
            s.handle_message(10, &control(ControlMessage::ControllerFeedback(f)));
        }
        let scores: Vec<u16> = events(&mut s)
            .iter()
            .map(|e| match e {
                Event::Feedback(f) => f.score,
                _ => 999,
            })
            .collect();
        assert_eq!(scores, [6, 7, 8, 9]);
    }
}
