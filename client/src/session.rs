//! [`Session`]: the sans-IO tickwire client. It opens no socket and reads no clock: the driver
//! hands it the time and what arrived, and asks it what to send, what to tell the application,
//! how to end a connection, and when to wake up.

use crate::config::Config;
use crate::error::{Disconnect, IdentityError, Kicked, LinkError, Retry, SendError, close_code};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::delta::{ApplyError, World, WorldHistory};
use tickwire_shared::quant::quantize_axis_input;
use tickwire_shared::{
    Ack, Buttons, Chat, ChatText, ClientMessage, ControllerFeedback, Event as RoomEvent, EventKind,
    Hello, Input, InputSeq, Kick, Name, PROTOCOL_VERSION, Ping, PlayerId, ResumeToken, Role,
    RoomName, RoomRequest, ServerMessage, Snapshot, Tick, Welcome, is_valid_room_name,
};
use tracing::{debug, info, warn};

mod phase;
use phase::InputPhase;

/// The longest a server's `Retry-After` holds the next attempt back. tickwire asks for
/// seconds; a longer one (a proxy's, or garbled: `u64::MAX` seconds would overflow the clock)
/// would leave the client waiting for good.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(5 * 60);

/// The most `Joined` events a roster carries (PROTOCOL.md 7.1 step 3): a roster that names
/// this many may have left players out.
pub const ROSTER_MAX: usize = 128;

/// A wait that stands for "never" where an instant is needed (tokio's far future).
const FOREVER: Duration = Duration::from_secs(86_400 * 365 * 30);

/// When a timer of `after` started at `from` expires: `None` for never, which is what
/// `Duration::ZERO` means for every timeout and interval of [`Config`], and what a duration
/// too large for the clock (`Duration::MAX`) means too, instead of overflowing `Instant`.
pub(crate) fn deadline(from: Instant, after: Duration) -> Option<Instant> {
    if after.is_zero() { None } else { from.checked_add(after) }
}

/// Whether a timer of `after` started at `from` has expired at `now` (see [`deadline`]).
fn expired(now: Instant, from: Instant, after: Duration) -> bool {
    deadline(from, after).is_some_and(|at| now >= at)
}

/// Where a session is in its connect, join, drop, reconnect cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not connected, nothing attempted yet: the next [`Session::poll_connect`] starts.
    Idle,
    /// The driver is opening TCP and upgrading to WebSocket.
    Connecting,
    /// The WebSocket is open and `Hello` is sent (or about to be); waiting for `Welcome`.
    Handshaking,
    /// `Welcome` arrived: snapshots, events and inputs flow.
    Joined,
    /// The application left: our close frame is sent (or about to be), the server's answer
    /// is awaited.
    Closing,
    /// The last connection ended or failed; the next attempt is due at `until`.
    Backoff {
        /// When [`Session::poll_connect`] starts the next attempt.
        until: Instant,
    },
    /// Over: the application left, or the reconnect policy gave up. Final.
    Ended,
}

impl State {
    /// True once `Welcome` arrived and until the connection ends.
    pub fn is_joined(&self) -> bool {
        matches!(self, State::Joined)
    }

    /// True while a WebSocket is open (handshaking, joined or closing): the driver keeps its
    /// connection exactly while this holds.
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Handshaking | State::Joined | State::Closing)
    }

    /// True once the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(self, State::Ended)
    }
}

/// Who this client is: the fields of its `Hello` other than the version and resume token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// `Player` steers a ship and sees the world around it; `Spectator` sees the whole room;
    /// `Controller` steers a ship and receives only `ControllerFeedback` (a gamepad).
    pub role: Role,
    /// Display name, at most 24 bytes of UTF-8.
    pub name: Name,
    /// `RoomRequest::Any` for matchmaking, or a named room (created if it does not exist).
    /// Once a `Welcome` arrived, the session's later `Hello`s name the room it joined.
    pub room: RoomRequest,
}

impl Identity {
    /// `name` in any room, as `role`.
    pub fn new(role: Role, name: &str) -> Result<Identity, IdentityError> {
        let name = Name::try_from_str(name).map_err(|_| IdentityError::Name)?;
        Ok(Identity { role, name, room: RoomRequest::Any })
    }

    /// A player named `name`, in any room.
    pub fn player(name: &str) -> Result<Identity, IdentityError> {
        Identity::new(Role::Player, name)
    }

    /// A spectator named `name`, in any room.
    pub fn spectator(name: &str) -> Result<Identity, IdentityError> {
        Identity::new(Role::Spectator, name)
    }

    /// The same identity joining the room `room` (1 to 16 of `A-Z a-z 0-9 - _ .`).
    pub fn in_room(self, room: &str) -> Result<Identity, IdentityError> {
        if !is_valid_room_name(room) {
            return Err(IdentityError::Room);
        }
        let room = RoomName::try_from_str(room).map_err(|_| IdentityError::Room)?;
        Ok(Identity { room: RoomRequest::Named(room), ..self })
    }
}

/// One sample of a player's controls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Controls {
    /// Steering x in `[-1, 1]`: right is positive. Clamped.
    pub x: f32,
    /// Steering y in `[-1, 1]`: down is positive, as on screen. Clamped.
    pub y: f32,
    /// Boost held: stronger thrust, at the cost of handling.
    pub boost: bool,
    /// The second button (arena ignores it).
    pub action: bool,
}

impl Controls {
    /// Centred stick, nothing held.
    pub const NEUTRAL: Controls = Controls { x: 0.0, y: 0.0, boost: false, action: false };

    fn to_input(self, seq: InputSeq) -> Input {
        let mut buttons = 0;
        if self.boost {
            buttons |= Buttons::BOOST;
        }
        if self.action {
            buttons |= Buttons::ACTION;
        }
        Input {
            seq,
            x: quantize_axis_input(self.x),
            y: quantize_axis_input(self.y),
            buttons: Buttons(buttons),
        }
    }
}

/// What a snapshot was, once it is applied ([`Session::world`] holds the world it rebuilt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The tick it describes.
    pub tick: Tick,
    /// The tick it was delta-encoded against (`None`: a full snapshot).
    pub baseline: Option<Tick>,
    /// The newest of this client's inputs the server had applied: reconcile a prediction
    /// from here. The server counts only this connection's inputs: a new connection's
    /// snapshots say 0 until it applies one of them. Input numbers keep growing across
    /// connections, so from then on this is past every input of the connections before.
    pub last_input: InputSeq,
    /// Ticks between the previous snapshot of this connection and this one that never
    /// arrived (the server sends only the newest frame to a client that reads slowly).
    pub skipped: u32,
    /// Its size on the wire (WebSocket payload), in bytes.
    pub bytes: usize,
}

/// An input as it went to the server, for a client that predicts its own ship from the inputs
/// the server has not applied yet ([`Session::sent_inputs`], [`crate::Prediction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentInput {
    /// The input on the wire: its number, quantized stick and buttons.
    pub input: Input,
    /// When it went out.
    pub sent_at: Instant,
}

/// Inputs [`Session::sent_inputs`] keeps at least: 8.5 s at 30 Hz, more than a prediction
/// replays (past that many unapplied inputs the uplink has stalled and a prediction snaps).
pub const SENT_INPUTS_KEPT: usize = 256;

/// A player or controller of the room, as [`Session::roster`] knows it (spectators are only
/// counted: [`Session::audience`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RosterEntry {
    /// Their name.
    pub name: Name,
    /// `Role::Player` or `Role::Controller`.
    pub role: Role,
}

/// The roster under way after a `Welcome`, until the `Audience` that ends it (or the first
/// event or snapshot that is not part of it).
#[derive(Debug, Clone, Default)]
struct RosterCatchUp {
    /// Whether the `Welcome` was a resume: the roster is compared with the one kept.
    resumed: bool,
    /// The players this roster named so far.
    named: BTreeSet<PlayerId>,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The application left ([`Session::leave`]). `answer` is the code of the server's
    /// answering close frame (it echoes ours, 1000), `None` when it did not answer within
    /// [`Config::close_timeout`] or nothing was connected.
    Left {
        /// The code the server answered with.
        answer: Option<u16>,
    },
    /// A connection ended in a way that is not retried, or the reconnect policy ran out of
    /// attempts; the [`Event::Disconnected`] before this one says why, and
    /// [`Session::last_disconnect`] keeps that reason (an operator's kick and its message, a
    /// full room, an untrusted certificate, an HTTP refusal ...) for the game to tell the
    /// player.
    GaveUp,
}

/// Something for the application, from [`Session::poll_event`].
///
/// Its `Debug` shows a `Joined`'s resume token as `..`: it takes the seat over during the
/// grace, and events are logged with `{:?}`.
#[derive(Clone, PartialEq)]
pub enum Event {
    /// A connection attempt starts; `attempt` is 1 for the first connection, and after that 1
    /// plus the disconnects since the last connection that lasted: attempts that failed,
    /// connections that ended within [`Reconnect::stable_after`](crate::Reconnect::stable_after)
    /// of their `Welcome`, and the end of the one that lasted (so the first reconnect after a
    /// long session is attempt 2, and waits the first backoff step). Those of a restart window
    /// are not counted ([`Reconnect::restart_window`](crate::Reconnect::restart_window)): the
    /// attempts while a restarted server is down are all attempt 1.
    Connecting {
        /// 1 for the first.
        attempt: u32,
    },
    /// The server welcomed us: a fresh join, or a resume (`welcome.resumed`) with the same
    /// ship and score. Inputs go on numbering from where the last connection stopped;
    /// later connections name `welcome.room` in their `Hello`.
    ///
    /// `resumed: false` after an earlier `Joined` is a new seat: the old one's grace passed,
    /// or the server restarted, and then the room's ticks start again from 1. A player's game
    /// resets there whatever it keeps by entity (predicted inputs, the ship's id:
    /// `welcome.entity` may differ) and, unless the room and its ticks go on, by tick
    /// (interpolation buffers); [`Session::world`] is `None` until the new connection's first
    /// snapshot. A spectator is never resumed (PROTOCOL.md 7.3: the server ends its seat when
    /// it drops), so each of its reconnects says `resumed: false`; back in the same room
    /// (`welcome.room`) with no restart between, it watches the same world and its ticks go on
    /// (a restarted server's start again from 1, which [`crate::Interpolation::push`] notices
    /// by itself).
    Joined(Welcome),
    /// A snapshot was applied: the world at `info.tick` is rebuilt and kept, a baseline the
    /// server may encode against. [`Session::world`] is the newest world rebuilt, which is
    /// `info.tick` unless this snapshot is older than one applied before (never expected
    /// from a tickwire server). The tick is queued for acknowledgement: a player's or a
    /// controller's goes out with the next [`Session::poll_transmit`]; a spectator acks only
    /// every [`Config::spectator_ack_every`] ticks (and a full snapshot at once), acking the
    /// newest tick rebuilt; with [`Config::ack_snapshots`] off nothing is acknowledged.
    Snapshot(SnapshotInfo),
    /// A snapshot could not be applied (its baseline is no longer kept, or it is
    /// inconsistent). Nothing was acknowledged for it; the server falls back to a baseline we
    /// hold, or to a full snapshot. Not an error of ours, but a sign of trouble if frequent.
    SnapshotRejected {
        /// The snapshot's tick.
        tick: Tick,
        /// Why.
        error: ApplyError,
    },
    /// The server applied input `seq`: `latency` is the time from sending it to receiving the
    /// first snapshot whose `last_input` reached it (what a player feels).
    InputAcked {
        /// The input.
        seq: InputSeq,
        /// Sent to acknowledged.
        latency: Duration,
    },
    /// Something happened in the room: a join, a departure, a score, a round end, a chat line.
    /// News: a game announces these ("bob joined"). The roster after a `Welcome` comes as
    /// [`Event::Roster`] instead.
    Room(RoomEvent),
    /// Catch-up, not news: what the room was like when this client (re)joined. With the first
    /// tick after a `Welcome`, ahead of its events and snapshot, the server sends players and
    /// spectators (not controllers) the room's roster (PROTOCOL.md 7.1 step 3): a `Joined` for
    /// each player and controller there (at most [`ROSTER_MAX`], the best scorers in a bigger
    /// room), with their score as of that tick, then the `Audience` that ends it. A game fills
    /// its tables (names, scoreboard) from these and announces only [`Event::Room`]. A ship
    /// that joined since the tick before is not in the roster: its `Joined` follows among the
    /// tick's events, as `Event::Room`.
    ///
    /// After a resume (`welcome.resumed`) the session keeps its [`roster`](Session::roster)
    /// and passes on only what changed while it was away: a `Joined` for each player it did
    /// not know (or whose name or role changed), a `Scored` with their score now for each it
    /// knew (scores move while a client is away; the roster of a resumed seat names the seat
    /// itself too, so a new session given its resume token learns its own name and score),
    /// and, when the roster is over, a made-up
    /// `Left` for each player it knew that the new roster did not name (their own `Left` went
    /// to the connection that dropped). A roster of [`ROSTER_MAX`] names may have left players
    /// out, and then nobody is taken for gone. Players it knew are not announced again, and a
    /// later `Left` for a player a complete roster never named (already announced gone, or one
    /// that left as this client joined) is dropped. A fresh join (`resumed: false`) starts
    /// with an empty roster: everything in its roster is catch-up, nobody is gone.
    Roster(RoomEvent),
    /// Controller feedback (only `Role::Controller`, which gets no snapshots). Not every tick:
    /// the server sends it when something in it changes, and at least once a second
    /// otherwise (the same values again), so a controller keeps the last one and shows it
    /// until the next.
    Feedback(ControllerFeedback),
    /// The answer to our `Ping`.
    Pong {
        /// Round trip time.
        rtt: Duration,
        /// The room's tick when the server answered.
        server_tick: Tick,
    },
    /// The connection ended or could not be opened.
    Disconnected {
        /// Why.
        reason: Disconnect,
        /// When the next attempt starts; `None` when there is none ([`Event::Ended`] follows).
        retry_in: Option<Duration>,
    },
    /// The session is over. The last event.
    Ended(End),
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Connecting { attempt } => {
                f.debug_struct("Connecting").field("attempt", attempt).finish()
            }
            Event::Joined(welcome) => f.debug_tuple("Joined").field(&Redacted(welcome)).finish(),
            Event::Snapshot(info) => f.debug_tuple("Snapshot").field(info).finish(),
            Event::SnapshotRejected { tick, error } => f
                .debug_struct("SnapshotRejected")
                .field("tick", tick)
                .field("error", error)
                .finish(),
            Event::InputAcked { seq, latency } => {
                f.debug_struct("InputAcked").field("seq", seq).field("latency", latency).finish()
            }
            Event::Room(event) => f.debug_tuple("Room").field(event).finish(),
            Event::Roster(event) => f.debug_tuple("Roster").field(event).finish(),
            Event::Feedback(feedback) => f.debug_tuple("Feedback").field(feedback).finish(),
            Event::Pong { rtt, server_tick } => {
                f.debug_struct("Pong").field("rtt", rtt).field("server_tick", server_tick).finish()
            }
            Event::Disconnected { reason, retry_in } => f
                .debug_struct("Disconnected")
                .field("reason", reason)
                .field("retry_in", retry_in)
                .finish(),
            Event::Ended(end) => f.debug_tuple("Ended").field(end).finish(),
        }
    }
}

/// A `Welcome` for `Debug`, its resume token left out.
struct Redacted<'a>(&'a Welcome);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Welcome {
            player_id,
            role,
            room,
            tick_rate,
            world,
            view_radius,
            entity,
            resume_token: _,
            resumed,
        } = self.0;
        f.debug_struct("Welcome")
            .field("player_id", player_id)
            .field("role", role)
            .field("room", room)
            .field("tick_rate", tick_rate)
            .field("world", world)
            .field("view_radius", view_radius)
            .field("entity", entity)
            .field("resume_token", &format_args!(".."))
            .field("resumed", resumed)
            .finish()
    }
}

/// How the driver must end the connection the session just left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Drop the transport at once, without a close frame. The server then keeps the seat
    /// for its resume grace: used when the link is dead or stalled.
    Abort,
    /// Send a close frame with `code`, read (and report with
    /// [`Session::handle_close_frame`]) until the server answers and ends the TCP connection,
    /// at most [`Config::close_timeout`]. 1000 gives the seat up on the server; 1002 keeps
    /// it for the resume that follows (PROTOCOL.md 7.1 step 8).
    Close {
        /// Close code: 1000 when leaving, 1002 when the server sent something undecodable.
        code: u16,
        /// Close reason text.
        reason: &'static str,
    },
    /// The server closed first and its close frame was answered by the WebSocket layer:
    /// flush that answer and read until the server ends TCP, at most
    /// [`Config::close_timeout`].
    Finish,
}

/// Counters of one session, across its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connection attempts started.
    pub attempts: u64,
    /// `Welcome`s received (joins and resumes).
    pub joins: u64,
    /// Binary messages received, and their payload bytes.
    pub messages_in: u64,
    /// See [`Stats::messages_in`].
    pub bytes_in: u64,
    /// Binary messages sent, and their payload bytes.
    pub messages_out: u64,
    /// See [`Stats::messages_out`].
    pub bytes_out: u64,
    /// Snapshots received (applied or not).
    pub snapshots: u64,
    /// Snapshots that could not be applied.
    pub snapshots_rejected: u64,
    /// Ticks skipped between consecutive snapshots of a connection.
    pub ticks_skipped: u64,
    /// Snapshots older than one already received (never expected from a tickwire server).
    pub snapshots_stale: u64,
    /// Messages that did not decode.
    pub decode_errors: u64,
    /// Inputs sent, and inputs the server acknowledged within
    /// [`Config::inputs_in_flight`].
    pub inputs_sent: u64,
    /// See [`Stats::inputs_sent`].
    pub inputs_acked: u64,
    /// Events dropped because the driver did not take them (see [`Config::max_events`]).
    pub events_dropped: u64,
}

/// The sans-IO tickwire client session.
///
/// # Call order (one loop of a driver)
/// 1. [`handle_timeout(now)`](Self::handle_timeout); end the connection if
///    [`poll_close`](Self::poll_close) says so; drain [`poll_event`](Self::poll_event).
///    Once [`poll_timeout_unwritable`](Self::poll_timeout_unwritable) has passed, hand it
///    first a frame the socket already holds (step 3, without waiting): after a pause of the
///    driver longer than [`Config::silence_timeout`], the snapshots waiting there prove the
///    link alive, and a `Kick` there says why it ends.
/// 2. Not connected: when [`poll_connect(now)`](Self::poll_connect) is true, open TCP and the
///    WebSocket (subprotocol [`SUBPROTOCOL`](tickwire_shared::SUBPROTOCOL)), then call
///    [`handle_connected`](Self::handle_connected), or
///    [`handle_connect_failed`](Self::handle_connect_failed) with why it failed.
/// 3. Connected: send every [`poll_transmit`](Self::poll_transmit) payload as one binary
///    message; wait for a frame until [`poll_timeout`](Self::poll_timeout); pass a binary
///    message to [`handle_message`](Self::handle_message), a close frame to
///    [`handle_close_frame`](Self::handle_close_frame), any other frame (pings) to
///    [`handle_heard`](Self::handle_heard), a failed or ended transport to
///    [`handle_lost`](Self::handle_lost).
/// 4. After each message, drain [`poll_event`](Self::poll_event) (and send what
///    [`poll_transmit`](Self::poll_transmit) has) before handing it the next one, even when a
///    single read brought many: the event queue keeps the capacity it grows to, so a driver
///    that feeds a busy room's first read (its roster, its recent events) whole before draining
///    pays for that peak for the rest of the session (about 15 KiB per client, measured in the
///    bots).
///
/// The application calls [`send_input`](Self::send_input), [`send_chat`](Self::send_chat)
/// and [`leave`](Self::leave) at any time, and reads [`world`](Self::world).
///
/// Worlds are rebuilt only through [`WorldHistory`], and the newest rebuilt tick is
/// acknowledged (see [`Event::Snapshot`] for when), so the server sends deltas against it.
/// Input sequence numbers start at 1 and keep counting across connections (PROTOCOL.md 7.3
/// lets a client restart at 1 or count on): they only grow, so an application that keeps
/// its inputs by [`InputSeq`] for prediction drops those of an earlier connection once the
/// new connection's [`SnapshotInfo::last_input`] passes them, as it drops any other.
///
/// Its `Debug` leaves out the resume token, which takes the seat over during the grace, and
/// the `Welcome` and events that carry it: logging a session with `{:?}` leaks no credential.
pub struct Session {
    config: Config,
    identity: Identity,
    /// The room the next `Hello` names: the identity's until a `Welcome`, then the room it
    /// named (PROTOCOL.md 7.1 step 8: a client that lost its seat joins a new room of the
    /// same name, not wherever matchmaking places it).
    room: RoomRequest,
    state: State,
    rng: SmallRng,
    token: Option<ResumeToken>,
    welcome: Option<Welcome>,
    history: Option<WorldHistory>,
    /// Newest snapshot tick received on this connection (applied or not).
    newest_tick: Option<Tick>,
    /// Newest world rebuilt (kept while reconnecting, until the next `Welcome`).
    world_tick: Option<Tick>,
    /// Consecutive failed attempts: connections that failed, or ended within
    /// [`Reconnect::stable_after`](crate::Reconnect::stable_after) of their `Welcome`; not
    /// those of a restart window ([`Reconnect::restart_window`](crate::Reconnect::restart_window)).
    failures: u32,
    /// The end of the restart window a server going away opened, if one did.
    restart_until: Option<Instant>,
    /// When the current connection's `Welcome` arrived.
    welcomed_at: Option<Instant>,
    entered: Instant,
    last_heard: Instant,
    hello_pending: bool,
    ack_pending: Option<Tick>,
    /// The tick this connection last acked (a spectator's next ack waits for
    /// [`Config::spectator_ack_every`] ticks past it), and whether a snapshot rebuilt since was
    /// full (nothing to delta against yet: acked at once, whatever the spectator's cadence).
    last_acked: Option<Tick>,
    unacked_full: bool,
    input_pending: Option<Input>,
    /// The controls of the newest [`Session::send_input`], unmerged: with the default pacing
    /// they go out again, as a new input, each tick the game sends none (the server applies
    /// one a tick, and a prediction replays one a tick).
    held: Option<Controls>,
    next_seq: u32,
    last_input_acked: InputSeq,
    /// The tick of the first snapshot that showed `last_input_acked` (see
    /// [`Session::last_input_acked_tick`]).
    last_input_acked_tick: Option<Tick>,
    in_flight: VecDeque<(InputSeq, Instant)>,
    /// The inputs sent on this connection that the server has not confirmed yet, oldest
    /// first, at most [`Config::max_inputs_unconfirmed`].
    inputs_unconfirmed: VecDeque<InputSeq>,
    /// The inputs sent on this connection, applied or not, oldest first: the newest
    /// [`SENT_INPUTS_KEPT`] to twice that (dropped in halves, so a slice is always at hand).
    sent: Vec<SentInput>,
    /// Chat lines accepted by [`Session::send_chat`] and not written yet, oldest first.
    chat: VecDeque<ChatText>,
    /// Chat lines written on this connection that no `Pong` has confirmed yet, oldest first
    /// (as many as [`ChatBudget::unconfirmed`] counts). Written is not delivered: a link
    /// that stalls and drops loses them, so a resume writes them again.
    chat_unconfirmed: VecDeque<ChatText>,
    /// Keeps chat lines within the server's chat limit, however they bunch up on the way.
    chat_budget: ChatBudget,
    /// Paces inputs below the server's input limit.
    input_pace: Pace,
    /// Where the server's ticks fall, so the paced inputs are moved to land mid-tick.
    input_phase: InputPhase,
    /// When the next periodic `Ping` is due; `None`: none is.
    next_ping: Option<Instant>,
    ping_nonce: u32,
    ping_outstanding: Option<PingSent>,
    rtt: Option<Duration>,
    kick: Option<Kick>,
    close: Option<CloseAction>,
    events: VecDeque<Event>,
    /// The room's players and controllers (see [`Session::roster`]), and its spectators.
    roster: BTreeMap<PlayerId, RosterEntry>,
    audience: u32,
    /// The roster under way after a `Welcome`; `None` once it is over (or for a controller).
    roster_catch_up: Option<RosterCatchUp>,
    /// Whether `roster` names every player and controller of the room: the last roster named
    /// fewer than [`ROSTER_MAX`]. A `Left` for a player it does not know is then no news.
    roster_complete: bool,
    /// How the session ended, once it has.
    end: Option<End>,
    /// Why the last connection ended (see [`Session::last_disconnect`]).
    last_disconnect: Option<Disconnect>,
    stats: Stats,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let welcome = self.welcome.as_ref();
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("identity", &self.identity)
            .field("room", &welcome.map(|w| w.room))
            .field("player_id", &welcome.map(|w| w.player_id))
            .field("entity", &welcome.and_then(|w| w.entity))
            .field("resume_token", &self.token.map(|_| format_args!("..")))
            .field("world_tick", &self.world_tick)
            .field("rtt", &self.rtt)
            .field("events_queued", &self.events.len())
            .field("end", &self.end)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// An idle session; `now` is any instant before the first call. `seed` only spreads
    /// reconnect delays (jitter): take it from any RNG.
    pub fn new(config: Config, identity: Identity, now: Instant, seed: u64) -> Session {
        let (chat_budget, input_pace) =
            (ChatBudget::new(&config, now), Pace::inputs(&config, None, now));
        Session {
            config,
            identity,
            room: identity.room,
            state: State::Idle,
            rng: SmallRng::seed_from_u64(seed),
            token: None,
            welcome: None,
            history: None,
            newest_tick: None,
            world_tick: None,
            failures: 0,
            restart_until: None,
            welcomed_at: None,
            entered: now,
            last_heard: now,
            hello_pending: false,
            ack_pending: None,
            last_acked: None,
            unacked_full: false,
            input_pending: None,
            held: None,
            next_seq: 1,
            last_input_acked: InputSeq(0),
            last_input_acked_tick: None,
            in_flight: VecDeque::new(),
            inputs_unconfirmed: VecDeque::new(),
            sent: Vec::new(),
            chat: VecDeque::new(),
            chat_unconfirmed: VecDeque::new(),
            chat_budget,
            input_pace,
            input_phase: InputPhase::new(30),
            next_ping: None,
            ping_nonce: 0,
            ping_outstanding: None,
            rtt: None,
            kick: None,
            close: None,
            events: VecDeque::new(),
            roster: BTreeMap::new(),
            audience: 0,
            roster_catch_up: None,
            roster_complete: false,
            end: None,
            last_disconnect: None,
            stats: Stats::default(),
        }
    }

    // ---- what the application reads --------------------------------------------------------

    /// The lifecycle state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Who this client is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The last `Welcome` (kept while reconnecting): room, seat, ship, tick rate, bounds.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The room's players and controllers by id, as the events so far tell (this client's own
    /// seat among them once its own `Joined` came, with the first tick). Kept from
    /// [`Event::Roster`] and [`Event::Room`]: it holds a player when its `Joined` event is
    /// handed out and no longer holds it when its `Left` is, so keep the name yourself if a
    /// departure should name who left. Empty until the roster after a fresh `Welcome`
    /// arrives; kept across a resume (and then brought up to date by its roster). A
    /// controller gets no events, so its roster stays empty.
    pub fn roster(&self) -> &BTreeMap<PlayerId, RosterEntry> {
        &self.roster
    }

    /// How many spectators watch the room, from its last `Audience` event (0 before the
    /// first).
    pub fn audience(&self) -> u32 {
        self.audience
    }

    /// How the session ended (the same as its [`Event::Ended`]); `None` while it lives.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    /// Why the last connection (or attempt) ended: the reason of the last
    /// [`Event::Disconnected`], kept. After [`End::GaveUp`] it is why the session ended, to
    /// show the player (an operator's `Removed` kick carries the message that says why).
    /// `None` before the first disconnect; a leave does not set it.
    pub fn last_disconnect(&self) -> Option<&Disconnect> {
        self.last_disconnect.as_ref()
    }

    /// The newest world rebuilt from snapshots (players: what is within their view radius;
    /// spectators: the whole room). Kept while reconnecting, until the next `Welcome`: a new
    /// connection starts from a full snapshot, so `None` from then until its first one.
    pub fn world(&self) -> Option<&World> {
        self.history.as_ref()?.get(self.world_tick?)
    }

    /// The newest input the server had applied, per the last snapshot.
    pub fn last_input_acked(&self) -> InputSeq {
        self.last_input_acked
    }

    /// The tick of the first snapshot that showed [`last_input_acked`](Self::last_input_acked)
    /// applied; `None` before one did on this connection (each `Welcome` starts afresh). Past
    /// the server's late allowance, the ticks since are ticks the server ran the ship on that
    /// input without a newer one (a stalled uplink): what a prediction needs to know even when
    /// the snapshots of a stall came at once and only the newest world was drawn
    /// ([`PredictionParts::applied_tick`](crate::PredictionParts::applied_tick)).
    pub fn last_input_acked_tick(&self) -> Option<Tick> {
        self.last_input_acked_tick
    }

    /// The sequence number the next [`send_input`](Self::send_input) gets.
    pub fn next_input_seq(&self) -> InputSeq {
        InputSeq(self.next_seq)
    }

    /// The inputs sent on this connection, oldest first, numbers increasing: at least the
    /// newest [`SENT_INPUTS_KEPT`], applied or not
    /// ([`last_input_acked`](Self::last_input_acked) says which were). Kept while the
    /// session reconnects; the next `Welcome` starts afresh.
    pub fn sent_inputs(&self) -> &[SentInput] {
        &self.sent
    }

    /// The inputs sent on this connection that the newest snapshot says the server has not
    /// applied yet, oldest first: what a prediction replays on the server's state.
    pub fn unapplied_inputs(&self) -> &[SentInput] {
        let applied = self.last_input_acked;
        &self.sent[self.sent.partition_point(|sent| sent.input.seq <= applied)..]
    }

    /// Round trip of the last answered `Ping`.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The resume token of the last `Welcome`, presented by the next `Hello`.
    pub fn resume_token(&self) -> Option<ResumeToken> {
        self.token
    }

    /// Counters since the session was made.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ---- what the application does ---------------------------------------------------------

    /// Queues an input; it goes out with the next [`poll_transmit`](Self::poll_transmit),
    /// one a tick of the room ([`Config::input_rate_per_sec`]): call it every frame, or when
    /// the controls change. An input still unsent is replaced, the buttons it held kept (a
    /// press shorter than a tick is sent, its release a tick later); each tick without one,
    /// the newest controls go again as a new input (with the default pacing), so the server
    /// applies one a tick whatever the frame rate. While the server has not
    /// confirmed [`Config::max_inputs_unconfirmed`] inputs (a stalled uplink), the newest
    /// waits for a confirmation instead of piling up.
    /// Returns its sequence number, which snapshots echo in `last_input` once applied.
    pub fn send_input(&mut self, controls: Controls) -> Result<InputSeq, SendError> {
        if !self.state.is_joined() {
            return Err(SendError::NotJoined);
        }
        if !self.identity.role.plays() {
            return Err(SendError::Spectator);
        }
        let seq = self.take_seq();
        let mut input = controls.to_input(seq);
        if let Some(replaced) = self.input_pending {
            input.buttons = Buttons(input.buttons.0 | replaced.buttons.0);
        }
        self.input_pending = Some(input);
        self.held = Some(controls);
        Ok(seq)
    }

    /// Queues a chat line to the room. Lines are paced to the server's chat rate
    /// ([`Config::chat_rate_per_sec`]), so a chatty application is never kicked for it.
    /// Lines still waiting when the connection drops are sent once the seat is resumed, and
    /// so are the lines already written that the server had not confirmed (by the `Pong`
    /// of a `Ping` sent after them, which the session sends for that): a link that stalls
    /// and drops loses what it held. A line that reached the room just before the drop,
    /// its confirmation lost with the link, then arrives twice (rare: the confirmation
    /// takes a round trip). A fresh join (the seat was lost, perhaps in another room) drops
    /// them all, and [`leave`](Self::leave) does.
    pub fn send_chat(&mut self, text: &str) -> Result<(), SendError> {
        if !self.state.is_joined() {
            return Err(SendError::NotJoined);
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(SendError::ChatEmpty);
        }
        let text = ChatText::try_from_str(text).map_err(|_| SendError::ChatTooLong)?;
        if self.chat.len() >= self.config.chat_queue {
            return Err(SendError::ChatQueueFull);
        }
        self.chat.push_back(text);
        Ok(())
    }

    /// Leaves for good: a connected session closes with 1000, which gives the seat up on the
    /// server at once (no resume); nothing reconnects. [`Event::Ended`] follows once the
    /// server answered (or [`Config::close_timeout`] passed).
    pub fn leave(&mut self, now: Instant) {
        match self.state {
            State::Handshaking | State::Joined => {
                self.reset_connection();
                self.chat.clear();
                self.kick = None;
                self.close = Some(CloseAction::Close { code: close_code::NORMAL, reason: "bye" });
                self.enter(State::Closing, now);
                info!("leaving");
            }
            State::Closing | State::Ended => {}
            State::Idle | State::Connecting | State::Backoff { .. } => {
                self.enter(State::Ended, now);
                self.push_event(Event::Ended(End::Left { answer: None }));
            }
        }
    }

    // ---- what the driver reports -----------------------------------------------------------

    /// Starts a connection attempt when one is due (`Idle`, or `Backoff` whose time has
    /// come): moves to `Connecting`, queues [`Event::Connecting`], returns true.
    pub fn poll_connect(&mut self, now: Instant) -> bool {
        let due = match self.state {
            State::Idle => true,
            State::Backoff { until } => now >= until,
            _ => false,
        };
        if due {
            self.enter(State::Connecting, now);
            self.stats.attempts += 1;
            self.push_event(Event::Connecting { attempt: self.failures + 1 });
        }
        due
    }

    /// The WebSocket is open: queues `Hello` (with the resume token, if any).
    /// Ignored unless `Connecting`.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != State::Connecting {
            return;
        }
        self.enter(State::Handshaking, now);
        self.last_heard = now;
        self.reset_connection();
        self.hello_pending = true;
    }

    /// The attempt failed before the WebSocket opened (TCP refused, HTTP refusal, timeout).
    /// Ignored unless `Connecting`.
    pub fn handle_connect_failed(&mut self, now: Instant, reason: Disconnect) {
        if self.state == State::Connecting {
            self.disconnect(now, reason, None);
        }
    }

    /// Any frame arrived (also WebSocket pings and pongs): the link is alive.
    pub fn handle_heard(&mut self, now: Instant) {
        self.last_heard = self.last_heard.max(now);
    }

    /// One whole binary message from the server. A message that does not decode ends the
    /// connection with close 1002 (PROTOCOL.md 2.5).
    pub fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        if !self.state.is_connected() {
            return;
        }
        self.handle_heard(now);
        self.stats.messages_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        if self.state == State::Closing {
            return; // leaving: only the close handshake matters now
        }
        let msg = match decode_server(bytes) {
            Ok(msg) => msg,
            Err(e) => {
                warn!("undecodable server message: {e}");
                self.stats.decode_errors += 1;
                let close =
                    CloseAction::Close { code: close_code::PROTOCOL, reason: "undecodable" };
                self.disconnect(now, Disconnect::Decode(e), Some(close));
                return;
            }
        };
        let joined = self.state.is_joined();
        match msg {
            ServerMessage::Welcome(welcome) if self.state == State::Handshaking => {
                self.welcome_arrived(now, welcome);
            }
            ServerMessage::Welcome(_) => debug!("ignoring a second Welcome"),
            ServerMessage::Snapshot(snapshot) if joined => {
                self.snapshot_arrived(now, &snapshot, bytes.len());
            }
            ServerMessage::Event(event) if joined => self.event_arrived(event),
            ServerMessage::ControllerFeedback(feedback) if joined => {
                self.push_event(Event::Feedback(feedback));
            }
            ServerMessage::Pong(pong) => {
                if let Some(ping) = self.ping_outstanding
                    && ping.nonce == pong.nonce
                {
                    self.ping_outstanding = None;
                    // The server reads a connection's messages in order, and took what was
                    // sent before the Ping through its rate limits before answering it.
                    self.confirm_inputs(ping.inputs);
                    self.chat_budget.confirm(now, ping.chats);
                    let unconfirmed = self.chat_budget.unconfirmed() as usize;
                    while self.chat_unconfirmed.len() > unconfirmed {
                        self.chat_unconfirmed.pop_front();
                    }
                    let rtt = now.saturating_duration_since(ping.sent);
                    self.rtt = Some(rtt);
                    self.input_phase.round_trip(rtt);
                    self.push_event(Event::Pong { rtt, server_tick: pong.server_tick });
                }
            }
            // The close frame follows at once; the ending is reported with it.
            ServerMessage::Kick(kick) => {
                warn!("kicked: {:?}: {}", kick.reason, kick.message.as_str());
                self.kick = Some(kick);
            }
            ServerMessage::Snapshot(_)
            | ServerMessage::Event(_)
            | ServerMessage::ControllerFeedback(_) => debug!("ignoring a message before Welcome"),
        }
    }

    /// The server's close frame arrived (`code` `None`: it carried none). When the server
    /// closed first, the WebSocket layer answers it; [`poll_close`](Self::poll_close) then
    /// says [`CloseAction::Finish`].
    pub fn handle_close_frame(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        match self.state {
            State::Closing => self.left(now, Some(code.unwrap_or(close_code::NO_STATUS))),
            State::Handshaking | State::Joined => {
                let code = code.unwrap_or(close_code::NO_STATUS);
                let reason = Disconnect::Closed { code, reason: reason.to_string() };
                self.disconnect(now, reason, Some(CloseAction::Finish));
            }
            _ => {}
        }
    }

    /// The transport failed or ended without a close frame (or, while connecting, the attempt
    /// failed that way).
    pub fn handle_lost(&mut self, now: Instant, error: LinkError) {
        match self.state {
            State::Closing => self.left(now, None),
            State::Connecting => self.disconnect(now, Disconnect::Lost(error), None),
            State::Handshaking | State::Joined => {
                self.disconnect(now, Disconnect::Lost(error), Some(CloseAction::Abort));
            }
            _ => {}
        }
    }

    /// Checks the timers: connect and join timeouts, silence, and the closing handshake.
    pub fn handle_timeout(&mut self, now: Instant) {
        let after = |limit| expired(now, self.entered, limit);
        let silent = expired(now, self.last_heard, self.config.silence_timeout);
        match self.state {
            State::Connecting if after(self.config.connect_timeout) => {
                self.disconnect(now, Disconnect::ConnectTimeout, None);
            }
            State::Handshaking if after(self.config.join_timeout) => {
                self.disconnect(now, Disconnect::JoinTimeout, Some(CloseAction::Abort));
            }
            State::Handshaking | State::Joined if silent => {
                self.disconnect(now, Disconnect::Silence, Some(CloseAction::Abort));
            }
            State::Closing if after(self.config.close_timeout) => {
                self.close = Some(CloseAction::Abort);
                self.left(now, None);
            }
            _ => {}
        }
    }

    // ---- what the driver does --------------------------------------------------------------

    /// The next message to send, encoded (one binary WebSocket message); `None` when nothing
    /// is due. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let inputs_capped = self.inputs_capped();
        let msg = if !matches!(self.state, State::Handshaking | State::Joined) {
            return None;
        } else if self.hello_pending {
            self.hello_pending = false;
            ClientMessage::Hello(Hello {
                version: PROTOCOL_VERSION,
                role: self.identity.role,
                name: self.identity.name,
                room: self.room,
                resume: self.token,
            })
        } else if !self.state.is_joined() {
            return None;
        } else if let Some(tick) = self.ack_pending.filter(|&tick| self.ack_due(tick)) {
            self.ack_pending = None;
            self.last_acked = Some(tick);
            self.unacked_full = false;
            ClientMessage::Ack(Ack { tick })
        } else if let Some(input) = self.next_input(now, inputs_capped) {
            if self.in_flight.len() >= self.config.inputs_in_flight {
                self.in_flight.pop_front();
            }
            self.in_flight.push_back((input.seq, now));
            self.inputs_unconfirmed.push_back(input.seq);
            if self.sent.len() >= 2 * SENT_INPUTS_KEPT {
                self.sent.drain(..SENT_INPUTS_KEPT);
            }
            self.sent.push(SentInput { input, sent_at: now });
            self.stats.inputs_sent += 1;
            ClientMessage::Input(input)
        } else if !self.chat.is_empty() && self.chat_budget.take(now) {
            let text = self.chat.pop_front()?;
            self.chat_unconfirmed.push_back(text);
            ClientMessage::Chat(Chat { text })
        } else if self.ping_due(now) || self.confirmation_wanted() {
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            self.ping_outstanding = Some(PingSent {
                nonce: self.ping_nonce,
                sent: now,
                // Everything sent before it is confirmed by its answer.
                inputs: self.inputs_unconfirmed.back().copied().unwrap_or(InputSeq(0)),
                chats: self.chat_budget.sent,
            });
            self.next_ping = deadline(now, self.config.ping_interval);
            ClientMessage::Ping(Ping { nonce: self.ping_nonce })
        } else {
            return None;
        };
        let bytes = encode_client_to_vec(&msg);
        self.stats.messages_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        Some(bytes)
    }

    /// The next event for the application, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// How to end the current connection, once, after the session decided to end it.
    pub fn poll_close(&mut self) -> Option<CloseAction> {
        self.close.take()
    }

    /// [`poll_timeout`](Self::poll_timeout) for a driver whose connection takes no more bytes
    /// for now (its write buffer is full): only the deadlines that need not send anything
    /// (silence, and those of the states other than joined). A due ping, input or chat line
    /// waits for the socket; a driver that woke for them would find nothing it can do and
    /// wake again at once.
    pub fn poll_timeout_unwritable(&self) -> Option<Instant> {
        match self.state {
            State::Joined => deadline(self.last_heard, self.config.silence_timeout),
            _ => self.poll_timeout(),
        }
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout),
    /// [`poll_transmit`](Self::poll_transmit) or [`poll_connect`](Self::poll_connect) has
    /// something to do (messages the application queued are due at once: call
    /// `poll_transmit` before waiting). `None` once ended, and while nothing is timed (the
    /// timeouts that apply are off, see [`Config`]): wait for a message then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silence = deadline(self.last_heard, self.config.silence_timeout);
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match self.state {
            State::Idle => Some(self.entered),
            State::Connecting => deadline(self.entered, self.config.connect_timeout),
            State::Handshaking => {
                earliest(silence, deadline(self.entered, self.config.join_timeout))
            }
            State::Joined => {
                // A ping waits for the answer to the one before (see `ping_due`).
                let ping = self.next_ping.filter(|_| self.ping_outstanding.is_none());
                let mut at = earliest(silence, ping);
                if !self.chat.is_empty() {
                    // None: only a confirmation frees a token, and it comes as a message.
                    at = earliest(at, self.chat_budget.next());
                }
                if self.input_due() && !self.inputs_capped() {
                    at = earliest(at, Some(self.input_pace.next()));
                }
                at
            }
            State::Closing => deadline(self.entered, self.config.close_timeout),
            State::Backoff { until } => Some(until),
            State::Ended => None,
        }
    }

    // ---- internals -------------------------------------------------------------------------

    fn welcome_arrived(&mut self, now: Instant, welcome: Welcome) {
        info!(
            room = welcome.room.as_str(),
            player = welcome.player_id.0,
            resumed = welcome.resumed,
            "joined"
        );
        self.token = Some(welcome.resume_token);
        // Later Hellos name this room: a resume finds its seat there, and a client whose seat
        // is gone joins a new room of the same name (PROTOCOL.md 7.1 step 8).
        self.room = RoomRequest::Named(welcome.room);
        match &mut self.history {
            Some(history) if history.tick_rate() == welcome.tick_rate => history.clear(),
            _ => self.history = Some(WorldHistory::new(welcome.tick_rate)),
        }
        self.world_tick = None;
        self.welcome = Some(welcome);
        // The count resets when this connection ends, if it lasted (`Reconnect::stable_after`).
        self.welcomed_at = Some(now);
        // A server that welcomes is back: what ends this connection is judged as any drop.
        self.restart_until = None;
        self.stats.joins += 1;
        self.enter(State::Joined, now);
        // The first ping goes with the join: a game shows a round trip at once, not after an
        // interval (the server answers pings only once joined).
        self.next_ping = deadline(now, self.config.ping_interval).map(|_| now);
        // The server's buckets are the connection's: full again.
        self.chat_budget = ChatBudget::new(&self.config, now);
        self.input_pace = Pace::inputs(&self.config, Some(welcome.tick_rate), now);
        // Another connection, perhaps to another node: its ticks fall elsewhere.
        self.input_phase = InputPhase::new(welcome.tick_rate);
        // This connection's snapshots count its own inputs, from none.
        self.last_input_acked = InputSeq(0);
        self.last_input_acked_tick = None;
        self.sent.clear();
        if !welcome.resumed {
            // Another seat, perhaps in another room: the lines were written for a
            // conversation it did not see.
            self.chat.clear();
            // A fresh seat starts over; a resumed one compares the roster it knew with the
            // one the server sends now (see `event_arrived`).
            self.roster.clear();
            self.audience = 0;
        }
        // Controllers are sent no events, and so no roster.
        self.roster_catch_up = (welcome.role != Role::Controller)
            .then(|| RosterCatchUp { resumed: welcome.resumed, named: BTreeSet::new() });
        self.roster_complete = false;
        self.push_event(Event::Joined(welcome));
    }

    /// A room event: catch-up while the roster after a `Welcome` lasts, news after it.
    fn event_arrived(&mut self, event: RoomEvent) {
        match (&mut self.roster_catch_up, event.kind) {
            (Some(catch_up), EventKind::Joined { player, name, role, score }) => {
                catch_up.named.insert(player);
                let entry = RosterEntry { name, role };
                if self.roster.insert(player, entry) != Some(entry) {
                    self.push_event(Event::Roster(event));
                } else {
                    // After a resume, a player the session knew is not news, but their score
                    // may have moved while this client was away.
                    let kind = EventKind::Scored { player, score };
                    self.push_event(Event::Roster(RoomEvent { tick: event.tick, kind }));
                }
                return;
            }
            (Some(_), EventKind::Audience { spectators }) => {
                self.end_roster(event.tick);
                self.audience = spectators;
                self.push_event(Event::Roster(event));
                return;
            }
            _ => {}
        }
        // The roster is only `Joined` events and an `Audience`: anything else comes after it.
        self.end_roster(event.tick);
        match event.kind {
            EventKind::Joined { player, name, role, .. } => {
                self.roster.insert(player, RosterEntry { name, role });
            }
            EventKind::Audience { spectators } => self.audience = spectators,
            EventKind::Left { player } => {
                // A player that left between this client's `Welcome` and the next tick is in
                // neither its roster nor its world; after a resume, its `Left` was made up
                // already (`end_roster`).
                let known = self.roster.remove(&player).is_some();
                if !known && self.roster_complete {
                    debug!(
                        player = player.0,
                        "dropping a Left for a player the roster never named"
                    );
                    return;
                }
            }
            _ => {}
        }
        self.push_event(Event::Room(event));
    }

    /// The roster after a `Welcome` is over. After a resume, the players the session knew that
    /// it did not name left meanwhile (their `Left` went to the connection that dropped): each
    /// gets a made-up `Left` now, as [`Event::Roster`]. A roster of [`ROSTER_MAX`] names may
    /// have left out players still there, and then none is taken for gone.
    fn end_roster(&mut self, tick: Tick) {
        let Some(catch_up) = self.roster_catch_up.take() else { return };
        // A resumed seat's roster names it besides the others, outside their count (an older
        // server's leaves it out): what tells a roster that may have left players out is how
        // many others it named.
        let own = self.welcome.map(|w| w.player_id);
        let others = catch_up.named.iter().filter(|&&player| Some(player) != own).count();
        self.roster_complete = others < ROSTER_MAX;
        if !catch_up.resumed || !self.roster_complete {
            return;
        }
        // Its own seat is never made up gone (the session knows itself from its own `Joined`).
        let gone: Vec<PlayerId> = self
            .roster
            .keys()
            .copied()
            .filter(|&player| Some(player) != own && !catch_up.named.contains(&player))
            .collect();
        for player in gone {
            self.roster.remove(&player);
            self.push_event(Event::Roster(RoomEvent { tick, kind: EventKind::Left { player } }));
        }
    }

    fn snapshot_arrived(&mut self, now: Instant, snapshot: &Snapshot, bytes: usize) {
        let header = snapshot.header;
        self.stats.snapshots += 1;
        let skipped = match self.newest_tick {
            Some(prev) if header.tick > prev => header.tick.0 - prev.0 - 1,
            Some(_) => {
                self.stats.snapshots_stale += 1;
                0
            }
            None => 0,
        };
        self.stats.ticks_skipped += u64::from(skipped);
        self.newest_tick = self.newest_tick.max(Some(header.tick));
        self.input_phase.snapshot_arrived(now, header.tick);

        // The server has these inputs, whether or not this snapshot can be applied.
        self.confirm_inputs(header.last_input);
        while let Some(&(seq, sent)) = self.in_flight.front()
            && seq <= header.last_input
        {
            self.in_flight.pop_front();
            self.stats.inputs_acked += 1;
            let latency = now.saturating_duration_since(sent);
            self.push_event(Event::InputAcked { seq, latency });
        }

        // The roster comes before the first snapshot: should its `Audience` be missing, it is over.
        self.end_roster(header.tick);
        let tick_rate = self.welcome.map_or(30, |w| w.tick_rate);
        let history = self.history.get_or_insert_with(|| WorldHistory::new(tick_rate));
        match history.apply(snapshot) {
            Ok(world) => {
                let tick = world.tick;
                // Applied inputs go with the world that shows them: one a snapshot that could
                // not be applied says was applied would be left out of a prediction made on
                // the older world, and the ship drawn an input behind.
                if header.last_input > self.last_input_acked && Some(tick) >= self.world_tick {
                    self.last_input_acked = header.last_input;
                    self.last_input_acked_tick = Some(tick);
                }
                if self.config.ack_snapshots {
                    self.ack_pending = self.ack_pending.max(Some(tick));
                    self.unacked_full |= header.baseline.is_none();
                }
                self.world_tick = self.world_tick.max(Some(tick));
                self.push_event(Event::Snapshot(SnapshotInfo {
                    tick,
                    baseline: header.baseline,
                    last_input: header.last_input,
                    skipped,
                    bytes,
                }));
            }
            Err(error) => {
                debug!(tick = header.tick.0, %error, "snapshot rejected");
                self.stats.snapshots_rejected += 1;
                self.push_event(Event::SnapshotRejected { tick: header.tick, error });
            }
        }
    }

    /// Ends the current connection (or attempt) for `reason`, then backs off or gives up.
    fn disconnect(&mut self, now: Instant, reason: Disconnect, close: Option<CloseAction>) {
        // A Kick names the real reason of the close (or loss) that follows it.
        let reason = match (self.kick.take(), reason) {
            (Some(kick), Disconnect::Closed { code, .. }) => Disconnect::Kicked(Kicked {
                reason: kick.reason,
                message: kick.message.as_str().to_string(),
                close_code: Some(code),
            }),
            (Some(kick), Disconnect::Lost(_) | Disconnect::Silence) => Disconnect::Kicked(Kicked {
                reason: kick.reason,
                message: kick.message.as_str().to_string(),
                close_code: None,
            }),
            (_, reason) => reason,
        };
        info!(%reason, "disconnected");
        // No seat to get back (never welcomed, no token): `Reconnect::max_initial_attempts`
        // applies, and a full room is final, as in the JavaScript SDK.
        let first_join = self.welcome.is_none() && self.token.is_none();
        if close.is_some() {
            self.close = close;
        }
        self.reset_connection();
        if self.welcomed_at.take().is_some_and(|at| {
            now.saturating_duration_since(at) >= self.config.reconnect.stable_after
        }) {
            self.failures = 0;
        }
        // The server said it goes away: it (or the node a balancer sends to next) may be back
        // any moment, so retries keep to the first delay rather than doubling past it, and are
        // not counted. Not for a first join (its limit says when to tell the player the server
        // is not there), and a kick for another reason is a live server's answer: the window
        // ends.
        if reason.is_restart() && !first_join {
            self.restart_until = now.checked_add(self.config.reconnect.restart_window);
        } else if matches!(reason, Disconnect::Kicked(_)) {
            self.restart_until = None;
        }
        let restarting = self.restart_until.is_some_and(|until| now < until);
        if !restarting {
            self.restart_until = None;
            self.failures = self.failures.saturating_add(1);
        }
        let step = if restarting { 1 } else { self.failures };
        let retry = reason.retry_for(first_join);
        if retry == Retry::Fresh {
            self.token = None;
        }
        let policy = &self.config.reconnect;
        let max_attempts = match (first_join, policy.max_attempts, policy.max_initial_attempts) {
            (true, Some(a), Some(b)) => Some(a.min(b)),
            (true, a, b) => a.or(b),
            (false, a, _) => a,
        };
        // `Some(0)` never reconnects, not even through a restart window.
        let out_of_attempts = max_attempts.is_some_and(|max| max == 0 || self.failures > max);
        self.last_disconnect = Some(reason.clone());
        if retry == Retry::Never || out_of_attempts {
            self.enter(State::Ended, now);
            self.push_event(Event::Disconnected { reason, retry_in: None });
            self.push_event(Event::Ended(End::GaveUp));
            return;
        }
        let jitter: f64 = self.rng.random();
        let mut delay = self.config.reconnect.delay(step, jitter);
        if let Some(not_before) = reason.not_before() {
            delay = delay.max(not_before.min(RETRY_AFTER_MAX));
        }
        // A delay too large for the clock (a policy of `Duration::MAX`) waits 30 years.
        let until = now.checked_add(delay).or_else(|| now.checked_add(FOREVER)).unwrap_or(now);
        self.enter(State::Backoff { until }, now);
        self.push_event(Event::Disconnected { reason, retry_in: Some(delay) });
    }

    /// Whether the pending ack of `tick` goes out now: at once for players and controllers,
    /// for a full snapshot, and for the connection's first; for a spectator once `tick` is
    /// [`Config::spectator_ack_every`] ticks past its last ack. Counted in ticks, not
    /// snapshots, so that a spectator skipping frames does not ack later in time.
    fn ack_due(&self, tick: Tick) -> bool {
        self.identity.role != Role::Spectator
            || self.unacked_full
            || self.last_acked.is_none_or(|last| {
                tick.0.saturating_sub(last.0) >= self.config.spectator_ack_every.max(1)
            })
    }

    /// Whether an input is waiting to go: one the game queued, or, with the default pacing,
    /// the held controls again.
    fn input_due(&self) -> bool {
        self.input_pending.is_some()
            || self.config.input_rate_per_sec.is_none() && self.held.is_some()
    }

    /// The input to send now, if one is due and its turn has come: the game's, or the held
    /// controls again under a new number.
    fn next_input(&mut self, now: Instant, inputs_capped: bool) -> Option<Input> {
        if inputs_capped || !self.input_due() {
            return None;
        }
        // A tick or more without an input (the game had none to send yet, the round had not
        // begun): the cadence starts again with this one.
        let restart = self.input_pace.full(now);
        if !self.input_pace.take(now) {
            return None;
        }
        if self.config.input_rate_per_sec.is_none() {
            // One a tick (a rate of the game's own has no tick to keep to). A cadence under
            // way moves towards mid-tick a millisecond an input; one that starts again goes
            // there at once, its next input at the middle of the tick after this one's, no
            // sooner than half a period from it (rather than its burst's second input at
            // once, in the same tick as this one).
            if restart && let Some(error) = self.input_phase.error(now) {
                let period = 1.0 / self.input_pace.rate;
                self.input_pace.next_in(now, period - error);
            } else {
                let slew = self.input_phase.slew(self.input_pace.next());
                self.input_pace.shift(slew);
            }
        }
        match self.input_pending.take() {
            Some(input) => Some(input),
            None => {
                let held = self.held?;
                Some(held.to_input(self.take_seq()))
            }
        }
    }

    /// The next input number (they start at 1 and only grow, skipping 0 if they ever wrap).
    fn take_seq(&mut self) -> InputSeq {
        let seq = InputSeq(self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    /// Whether [`Config::max_inputs_unconfirmed`] inputs await the server's confirmation, so
    /// the next waits.
    fn inputs_capped(&self) -> bool {
        self.inputs_unconfirmed.len() >= self.config.max_inputs_unconfirmed.max(1)
    }

    /// The server took every input up to `seq`.
    fn confirm_inputs(&mut self, seq: InputSeq) {
        while self.inputs_unconfirmed.front().is_some_and(|&sent| sent <= seq) {
            self.inputs_unconfirmed.pop_front();
        }
    }

    /// Whether the periodic `Ping` is due: its interval has passed and the one before was
    /// answered. Sending it over an unanswered one would discard that one's round trip, so
    /// round trips longer than the interval (the ones worth knowing) would never be measured.
    fn ping_due(&self, now: Instant) -> bool {
        self.ping_outstanding.is_none() && self.next_ping.is_some_and(|at| now >= at)
    }

    /// Whether a `Ping` must go now for its `Pong` to confirm what was sent: half of
    /// [`Config::max_inputs_unconfirmed`] inputs await a confirmation (so that it usually
    /// comes before the rest are sent), or chat lines await one: a waiting line needs it for
    /// its token, and a written line is resent after a drop until it is confirmed, so the
    /// sooner the fewer twice. A player's snapshots confirm its inputs too, but a controller
    /// gets none, and nothing else confirms chat. One `Ping` at a time: its `Pong` frees
    /// what it can, and the next asks for the rest.
    fn confirmation_wanted(&self) -> bool {
        if self.ping_outstanding.is_some() {
            return false;
        }
        let half = (self.config.max_inputs_unconfirmed / 2).max(1);
        self.inputs_unconfirmed.len() >= half || self.chat_budget.unconfirmed() > 0
    }

    fn left(&mut self, now: Instant, answer: Option<u16>) {
        self.enter(State::Ended, now);
        self.push_event(Event::Ended(End::Left { answer }));
    }

    /// Forgets everything that belongs to one connection.
    fn reset_connection(&mut self) {
        self.hello_pending = false;
        self.ack_pending = None;
        self.last_acked = None;
        self.unacked_full = false;
        self.input_pending = None;
        self.in_flight.clear();
        self.inputs_unconfirmed.clear();
        // `sent`, `last_input_acked` and its tick stay until the next `Welcome`: a prediction
        // goes on drawing the ship where they put it while the session reconnects.
        // The chat queue stays: `send_chat` accepted those lines, and a resume sends them,
        // the ones written but not confirmed first, in the order they were typed: they may
        // never have reached the server.
        while let Some(line) = self.chat_unconfirmed.pop_back() {
            self.chat.push_front(line);
        }
        self.ping_outstanding = None;
        self.newest_tick = None;
        // `next_seq` counts on: input numbers only grow, across connections too.
    }

    fn enter(&mut self, state: State, now: Instant) {
        self.state = state;
        self.entered = now;
    }

    fn push_event(&mut self, event: Event) {
        if let Event::Ended(end) = event {
            self.end = Some(end);
        }
        if self.events.len() >= self.config.max_events.max(1) {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.events.push_back(event);
    }
}

/// A `Ping` whose `Pong` is awaited, and what it confirms when it comes.
#[derive(Debug, Clone, Copy)]
struct PingSent {
    nonce: u32,
    sent: Instant,
    /// The newest input sent before it.
    inputs: InputSeq,
    /// The chat lines sent before it on this connection.
    chats: u64,
}

/// The server's chat bucket as the worst case can leave it. Lines sent but not yet confirmed
/// (by the `Pong` of a `Ping` sent after them) may still be in a stalled uplink and reach the
/// server together with the next one, at any later time; a confirmed line reached it at the
/// latest when its confirmation came. So the model takes each line's token at its
/// confirmation, and counts the unconfirmed lines as taken now: a line goes only if a token
/// is left after those. A fixed pace would not do: during a stall of a few seconds it lets
/// more lines into the socket than the server's burst, and they arrive back to back.
#[derive(Debug, Clone, Copy)]
struct ChatBudget {
    /// The bucket, with the tokens of confirmed lines taken.
    pace: Pace,
    /// Lines sent on this connection, and of those the ones confirmed.
    sent: u64,
    confirmed: u64,
}

impl ChatBudget {
    fn new(config: &Config, now: Instant) -> ChatBudget {
        ChatBudget { pace: Pace::chat(config, now), sent: 0, confirmed: 0 }
    }

    fn unconfirmed(&self) -> u64 {
        self.sent - self.confirmed
    }

    /// Takes a line's turn if the server has a token for it, however the unconfirmed lines
    /// arrive.
    fn take(&mut self, now: Instant) -> bool {
        self.pace.refill(now);
        // Within a rounding error of a whole token is one (see `Pace::take`).
        let free = self.pace.tokens - self.unconfirmed() as f64;
        if free >= 1.0 - 1e-6 {
            self.sent += 1;
            true
        } else {
            false
        }
    }

    /// The first `upto` lines of this connection are confirmed at `now`.
    fn confirm(&mut self, now: Instant, upto: u64) {
        let upto = upto.min(self.sent);
        if upto > self.confirmed {
            self.pace.refill(now);
            self.pace.tokens -= (upto - self.confirmed) as f64;
            self.confirmed = upto;
        }
    }

    /// When the next line may go if no confirmation comes; `None`: only one frees a token.
    fn next(&self) -> Option<Instant> {
        let needed = self.unconfirmed() as f64 + 1.0;
        if needed > self.pace.burst + 1e-6 {
            return None;
        }
        let missing = (needed - self.pace.tokens).max(0.0);
        Some(self.pace.refilled + Duration::from_secs_f64(missing / self.pace.rate))
    }
}

/// A token bucket that keeps what the session sends within one of the server's limits
/// (PROTOCOL.md 8), sans IO: time is an argument.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Tokens per second.
    rate: f64,
    /// Most tokens held.
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl Pace {
    /// Chat at the configured rate with one token fewer than the server's burst: the
    /// [`ChatBudget`] already allows for lines that bunch up on the way, and the spare token
    /// is a margin for what it cannot see (the two clocks, rounding).
    fn chat(config: &Config, now: Instant) -> Pace {
        let burst = f64::from(config.chat_burst.saturating_sub(1).max(1));
        Pace {
            rate: f64::from(config.chat_rate_per_sec.max(1)),
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// Inputs one a tick at `tick_rate` (30 before a `Welcome` says), two back to back at
    /// most, so that a frame late by less than a tick loses no input and the server gets no
    /// more than one a tick on average; or, with [`Config::input_rate_per_sec`] set, at that
    /// rate after [`Config::input_burst`]. A game that calls [`Session::send_input`] every
    /// frame (144 a second) stays within the server's input limit (120 a second, burst 360, by
    /// default) either way.
    fn inputs(config: &Config, tick_rate: Option<u8>, now: Instant) -> Pace {
        let (rate, burst, tokens) = match config.input_rate_per_sec {
            Some(rate) => {
                let burst = f64::from(config.input_burst.max(1));
                (f64::from(rate.max(1)), burst, burst)
            }
            None => (f64::from(tick_rate.unwrap_or(30).max(1)), 2.0, 1.0),
        };
        Pace { rate, burst, tokens, refilled: now }
    }

    /// Adds the tokens earned since the last refill.
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled = self.refilled.max(now);
    }

    /// Takes a token if one is there at `now`.
    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        // Within a rounding error of a whole token is one: `next` may name an instant a
        // nanosecond short of it, and a driver woken then must find it.
        if self.tokens >= 1.0 - 1e-6 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full at `now`: no token was taken for a period or more.
    fn full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst - 1e-6
    }

    /// Schedules the next token `seconds` after `now`, when one was just taken at `now`.
    fn next_in(&mut self, now: Instant, seconds: f64) {
        self.refill(now);
        self.tokens = 1.0 - seconds * self.rate;
    }

    /// Moves the token schedule by `seconds` (negative: earlier). The tokens may go below
    /// none by a sliver: the next then comes that much later.
    fn shift(&mut self, seconds: f64) {
        self.tokens = (self.tokens - seconds * self.rate).min(self.burst);
    }

    /// When the next token is there.
    fn next(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.refilled + Duration::from_secs_f64(missing / self.rate)
    }
}

#[cfg(test)]
mod tests;
