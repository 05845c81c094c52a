//! One room: a task that owns its game and runs the fixed-rate tick loop, on one of the
//! server's room threads ([`crate::threads`]).
//!
//! The loop never awaits a socket. Each tick it takes every client's newest input from its
//! [`ClientLink`], steps the game, and hands each client its frames with one wake-up: the
//! tick's events and a snapshot delta-encoded against the newest tick that client acked
//! (players see only what is near their ship, spectators the whole room), or
//! `ControllerFeedback` for controllers. Slow clients skip frames in their latest-wins slot
//! and are closed only after [`ServerConfig::slow_client_timeout`] without write progress.
//!
//! # Crowds
//! Nothing a room sends grows as clients squared. Events (joins and leaves of players,
//! scores, chat) are collected during a tick and framed once into one buffer that every
//! client gets the same bytes of; spectators are not announced one by one but counted by one
//! `Event::Audience` in any tick the count changed; the room relays chat at its own bounded
//! rate. Spectators who acked the same tick get the same snapshot bytes, encoded and framed
//! once.

use crate::config::ServerConfig;
use crate::context::ServerContext;
use crate::frame::FrameBuilder;
use crate::game::{Game, GameEvent, PlayerInput};
use crate::interest::InterestGrid;
use crate::outbox::{ClientLink, CloseRequest, DirectSend, Offered};
use crate::ratelimit::{PerAddressRate, TokenBucket};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tickwire_shared::EncodeError;
use tickwire_shared::delta::{Baseline, World, delta};
use tickwire_shared::quant::dequantize_axis_input;
use tickwire_shared::{
    ChatText, ControllerFeedback, EntityId, EntityState, Event, EventKind, InputSeq, Kick,
    KickReason, KickText, MAX_SNAPSHOT_ENTITIES, Name, PlayerId, QVec2, ResumeToken, Role,
    RoomName, ServerMessage, Snapshot, Tick, Welcome,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, error, info, info_span, warn};

/// Snapshots remembered per client: an ack older than this many ticks is no baseline (a
/// full snapshot, unless the snapshot the socket took serves: [`ACK_LAG_MAX_TICKS`]).
pub const HISTORY_TICKS: usize = 32;

/// How far (ticks) a client's newest ack may trail the newest snapshot its socket took while
/// the room still encodes against that snapshot (`acks_keep_up`); past it the client gets
/// full snapshots. It is the time a client that could not apply a snapshot waits for a full
/// one (2.1 s at 30 Hz), and the slack for a spectator's sparse acks: tickwire's spectators ack
/// every 30 ticks, so this leaves 34 ticks (1.1 s at 30 Hz) for the round trip. Independent of
/// [`HISTORY_TICKS`]: the baseline is then the snapshot taken, never the ack.
pub const ACK_LAG_MAX_TICKS: u32 = 64;

/// Controllers get `ControllerFeedback` at least this often even when nothing changed, so a
/// firmware that missed one (or just reconnected) converges.
const FEEDBACK_REFRESH: Duration = Duration::from_secs(1);

/// Commands a room accepts from connections. The channel is bounded; see
/// [`ROOM_COMMAND_CAPACITY`].
#[derive(Debug)]
pub enum RoomCommand {
    /// Seat a client (or resume one); the answer comes on `reply`.
    Join {
        /// What the client asked for.
        request: JoinRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<JoinAnswer>,
    },
    /// A chat line (already rate-limited and validated by the connection).
    Chat {
        /// Sender.
        player: PlayerId,
        /// Text.
        text: ChatText,
    },
    /// Lists the room's seats, for an operator (`GET /rooms/{room}/seats`).
    Seats {
        /// Where the list goes.
        reply: oneshot::Sender<Vec<SeatInfo>>,
    },
    /// An operator removes the seats `who` names: each attached client gets
    /// `Kick { Removed }` with `message` and close 1008, and its seat goes at once; a resume
    /// of its token is refused alike for a while ([`crate::moderation::Bans::note_removed`]).
    Remove {
        /// Whom.
        who: Removal,
        /// The `Kick`'s text, the operator's reason included.
        message: KickText,
        /// Also ban each seat's address (and, with join tokens, its name) for this long, with
        /// this reason, before its client is told (which the `Kick` then says instead of
        /// `message`): a client cannot slip back in between.
        ban: Option<(Duration, String)>,
        /// The seats removed (none when nobody matched) and the bans made.
        reply: oneshot::Sender<Removed>,
    },
    /// An operator mutes a seat's chat until `until` (or lets it speak again: `None`). Its
    /// lines are dropped, unseen by anyone, and it stays muted through a resume.
    Mute {
        /// Whose.
        player: PlayerId,
        /// When it may speak again; `None` lifts the mute now.
        until: Option<Instant>,
        /// The seat as it now is, and whether it was muted before; `None` when there is no
        /// such seat.
        reply: oneshot::Sender<Option<(SeatInfo, bool)>>,
    },
    /// The connection behind `link` ended.
    Leave {
        /// Whose.
        player: PlayerId,
        /// The link that ended; ignored when the seat has since been resumed by another.
        link: Arc<ClientLink>,
        /// Whether the seat is kept for resume.
        how: Departure,
    },
}

/// Commands waiting per room. Joins and leaves are rare and chat is rate-limited per client, so
/// this only fills when a room is badly overloaded; senders then wait (joins time out).
pub const ROOM_COMMAND_CAPACITY: usize = 256;

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// The client closed properly: its seat goes now.
    Left,
    /// It dropped (no close, timeout, too slow): the seat waits for a resume.
    Dropped,
}

/// A client asking for a seat.
#[derive(Debug)]
pub struct JoinRequest {
    /// Role asked for.
    pub role: Role,
    /// Display name (already trimmed, never empty).
    pub name: Name,
    /// Token from an earlier `Welcome`.
    pub resume: Option<ResumeToken>,
    /// The connection's link.
    pub link: Arc<ClientLink>,
    /// The client's address (the one a trusted proxy or a fleet node forwarding it named),
    /// which an operator sees and may ban.
    pub client: IpAddr,
    /// The place matchmaking promised this joiner ([`ServerContext::find_room`]), given back
    /// as the room takes the join: once it counted the seat, or refused it. (Held until the
    /// connection read the answer, a seat counted twice on a busy server, where the
    /// connection's thread runs behind the room's, made later joiners find the room full and
    /// spread over more rooms than needed.)
    pub reservation: Option<Reservation>,
}

/// Whose seats [`RoomCommand::Remove`] removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// One seat.
    Player(PlayerId),
    /// Every seat whose client a ban of this address (an IPv6 /64, or a network) covers.
    Address(crate::moderation::AddressKey),
    /// Every seat of this name (compared as [`crate::moderation::name_key`] does).
    Name(String),
    /// Every seat a ban of the node's table covers now, each client told of the ban that covers
    /// it (the command's `message` is not used): a fleet's bans new to the node, applied to a
    /// room in one pass however many they are.
    Banned,
}

/// What [`RoomCommand::Remove`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Removed {
    /// The seats removed.
    pub seats: Vec<SeatInfo>,
    /// The bans made (its `ban`).
    pub bans: Vec<crate::moderation::BanInfo>,
}

/// A seat as an operator sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeatInfo {
    /// The room it is in.
    pub room: String,
    /// The seat's id (`PlayerId`), which `POST /rooms/{room}/kick` takes.
    pub player: u16,
    /// Display name.
    pub name: String,
    /// `player`, `spectator` or `controller`.
    pub role: &'static str,
    /// The game's score for a ship's seat; none for a spectator.
    pub score: Option<u16>,
    /// The client's address, as the server judged it (behind a trusted proxy, the client the
    /// proxy named; in a fleet, the client the forwarding node named).
    pub address: IpAddr,
    /// Whether a connection holds the seat now (false: dropped, held for a resume).
    pub connected: bool,
    /// The client's round trip as the server last measured it (sampled once a second from its
    /// acks, [`crate::latency`]), milliseconds to a tenth; none while away, before the
    /// connection's first sample, or for a client relayed by another node of a fleet (which
    /// measures it: this node hears the relay's acks).
    pub round_trip_ms: Option<f64>,
    /// The share of the ship's ticks that ran without its input (late: the game played its
    /// last input again), percent to a tenth, through its last window of ticks that had
    /// inputs (about a second, [`crate::inputs::InputReport`]); none for a spectator, before
    /// the first window, while away, or for a client not sending at the ticks' pace.
    pub late_inputs_pct: Option<f64>,
    /// How long its inputs waited in the server's jitter buffer past their first possible
    /// tick through that window, on average, milliseconds to a tenth: the input delay the
    /// buffer adds to absorb the network's jitter (0 while inputs land well inside their ticks;
    /// a client whose cadence sends them at the ticks' boundaries can keep part of a tick even
    /// on a steady link).
    pub input_buffer_ms: Option<f64>,
    /// Seconds left of an operator's mute of its chat, rounded up; none when not muted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_secs: Option<u64>,
}

/// A seat granted.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The seat's id.
    pub player: PlayerId,
    /// Role granted.
    pub role: Role,
    /// The room's shared counters (for `Pong` ticks).
    pub room: Arc<RoomShared>,
    /// The seat is one the `Hello`'s resume token named, not a fresh one: a joiner that went
    /// away before learning it leaves it for the token's next resume, where a fresh seat,
    /// whose token nobody has, goes at once.
    pub resumed: bool,
}

/// Why a seat was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// No seat left for this role; the client may retry later or pick another room (1013).
    #[error("room is full")]
    Full,
    /// The resume token belongs to a seat of another role (1008).
    #[error("resume token belongs to a seat of another role")]
    RoleMismatch,
    /// The room is closing; the caller asks the directory again.
    #[error("room is closing")]
    Closing,
    /// The client's address took new seats faster than it may
    /// ([`ServerContext::take_seat_join`]); it may retry in a few seconds (1013).
    #[error("too many new seats from this address; try again in a few seconds")]
    TooFast,
}

/// The room's answer to a join.
pub type JoinAnswer = Result<Joined, JoinRefused>;

/// Counters of a room that other tasks read without asking it.
#[derive(Debug)]
pub struct RoomShared {
    /// Room name.
    pub name: RoomName,
    /// Ship-owning seats (players and controllers), attached or waiting for resume.
    pub players: AtomicU32,
    /// Spectators.
    pub spectators: AtomicU32,
    /// Controllers (also counted in `players`).
    pub controllers: AtomicU32,
    /// Current tick.
    pub tick: AtomicU32,
    /// Ship-owning seat limit.
    pub capacity: u16,
    /// Players and controllers that matchmaking sent here whose join the room has not
    /// answered yet (see [`Reservation`]).
    pub reserved: AtomicU32,
    /// Spectators sent here whose join the room has not answered yet.
    pub reserved_spectators: AtomicU32,
    /// Taken out of the directory while empty and idle, to make way for a new room at the
    /// room limit: the room's task ends at its next tick.
    pub evicted: AtomicBool,
    /// Attached clients by transport (counted by their connections, not by the room).
    pub transports: crate::transport::TransportCounts,
    /// Whether the room's thread is in one of its ticks or commands, since when.
    pub busy: Busy,
    /// When it built each of its recent ticks: its clients' round trips are measured against
    /// them ([`crate::latency`]).
    pub tick_times: crate::latency::TickTimes,
}

/// When a room began the tick or command it is in, for [`watch_stuck_rooms`]: the room's own
/// thread is blocked then, so another thread must notice.
#[derive(Debug, Default)]
pub struct Busy {
    /// Milliseconds from [`anchor`] to the start of the work, plus one; 0 while idle.
    since: AtomicU64,
    /// The watchdog logged this spell of work as stuck: its end is logged too.
    stuck: AtomicBool,
}

/// Where the rooms' times kept in atomics count from ([`Busy`]'s milliseconds, the
/// microseconds of [`crate::latency::TickTimes`]): the first use in this process.
pub(crate) fn anchor() -> Instant {
    static ANCHOR: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

impl Busy {
    fn enter(&self, now: Instant) {
        let since = now.saturating_duration_since(anchor()).as_millis() as u64 + 1;
        self.since.store(since, Ordering::Relaxed);
    }

    /// Ends the spell of work; true when the watchdog had logged it as stuck.
    fn leave(&self) -> bool {
        self.since.store(0, Ordering::Relaxed);
        self.stuck.swap(false, Ordering::Relaxed)
    }

    /// How long the room has been in its current tick or command at `now`; zero while idle.
    pub fn busy_for(&self, now: Instant) -> Duration {
        match self.since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => now.saturating_duration_since(anchor() + Duration::from_millis(since - 1)),
        }
    }
}

/// How long a tick or command may take before the room counts as stuck: far past any tick
/// period (`--tick-rate` 1 is a second's), and short enough that an operator hears of it
/// while the other rooms of its thread still have their players.
pub const STUCK_AFTER: Duration = Duration::from_secs(2);

/// Watches the rooms for one stuck in a tick or command (a game's step that blocks, loops or
/// is far too slow): its thread runs nothing else meanwhile, so every room on it stops too,
/// and a tick that never ends is never counted late. Logs each stuck spell once, with the
/// room, and keeps `tickwire_rooms_stuck`; the room logs the spell's end.
pub async fn watch_stuck_rooms(ctx: Arc<ServerContext>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = every.tick() => {}
        }
        let now = Instant::now();
        let mut stuck = 0;
        for room in ctx.room_states() {
            let busy_for = room.busy.busy_for(now);
            if busy_for < STUCK_AFTER {
                continue;
            }
            stuck += 1;
            if !room.busy.stuck.swap(true, Ordering::Relaxed) {
                warn!(
                    room = %room.name.as_str(),
                    busy_for_ms = busy_for.as_millis() as u64,
                    "a room has been in one tick or command for seconds: its game is stuck or \
                     far too slow, and every room on its thread (--room-threads) waits behind it"
                );
            }
        }
        ctx.metrics.rooms_stuck.set(stuck);
    }
}

/// A seat held for a joiner between matchmaking and the room taking its join, so that joins
/// that arrive together spread over rooms instead of all picking the same one and being
/// refused (a thousand spectators joining `Any` at once fill one room to its cap, then the
/// next). It travels in the [`JoinRequest`] and is released when dropped: once the room has
/// counted the seat or refused the join, or with a join command never taken.
#[derive(Debug)]
pub struct Reservation {
    room: Arc<RoomShared>,
    spectator: bool,
}

impl Reservation {
    /// Holds a player's (or controller's) seat in `room` until dropped.
    pub fn new(room: Arc<RoomShared>) -> Self {
        room.reserved.fetch_add(1, Ordering::Relaxed);
        Reservation { room, spectator: false }
    }

    /// Holds a spectator's place in `room` until dropped.
    pub fn spectator(room: Arc<RoomShared>) -> Self {
        room.reserved_spectators.fetch_add(1, Ordering::Relaxed);
        Reservation { room, spectator: true }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let count =
            if self.spectator { &self.room.reserved_spectators } else { &self.room.reserved };
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RoomShared {
    /// A room with nobody in it.
    pub fn new(name: RoomName, capacity: u16) -> Self {
        RoomShared {
            name,
            players: AtomicU32::new(0),
            spectators: AtomicU32::new(0),
            controllers: AtomicU32::new(0),
            tick: AtomicU32::new(0),
            capacity,
            reserved: AtomicU32::new(0),
            reserved_spectators: AtomicU32::new(0),
            evicted: AtomicBool::new(false),
            transports: Default::default(),
            busy: Busy::default(),
            tick_times: Default::default(),
        }
    }

    /// No seat (not even one kept for a resume) and nobody on the way in.
    pub fn is_idle(&self) -> bool {
        [&self.players, &self.spectators, &self.reserved, &self.reserved_spectators]
            .iter()
            .all(|count| count.load(Ordering::Relaxed) == 0)
    }

    /// Ship-owning seats in use.
    pub fn players(&self) -> u32 {
        self.players.load(Ordering::Relaxed)
    }

    /// Spectators (seated or on the way in) and no players, seated or on the way in: an
    /// audience waiting for a match, or one that outlasted it.
    pub fn is_audience_only(&self) -> bool {
        self.players() == 0
            && self.reserved.load(Ordering::Relaxed) == 0
            && (self.spectators.load(Ordering::Relaxed) > 0
                || self.reserved_spectators.load(Ordering::Relaxed) > 0)
    }

    /// True when a new player or controller fits (the room's own admission check).
    pub fn has_player_room(&self) -> bool {
        self.players() < u32::from(self.capacity)
    }

    /// True when matchmaking may send one more player or controller here: a free seat that
    /// no earlier joiner has been promised.
    pub fn has_unreserved_player_room(&self) -> bool {
        self.players() + self.reserved.load(Ordering::Relaxed) < u32::from(self.capacity)
    }

    /// Spectators in the room.
    pub fn spectators(&self) -> u32 {
        self.spectators.load(Ordering::Relaxed)
    }

    /// True when matchmaking may send one more spectator here (of at most `max`).
    pub fn has_unreserved_spectator_room(&self, max: u32) -> bool {
        self.spectators() + self.reserved_spectators.load(Ordering::Relaxed) < max
    }
}

/// A world sent to one client and the baseline it was encoded against.
#[derive(Debug, Clone)]
struct Sent {
    world: Arc<World>,
    baseline: Option<Tick>,
}

/// The last [`HISTORY_TICKS`] worlds sent to one client, by tick.
#[derive(Debug, Default)]
struct History {
    sent: Vec<Option<Sent>>,
}

impl History {
    fn get(&self, tick: Tick) -> Option<&Sent> {
        let slot = self.sent.get(tick.0 as usize % HISTORY_TICKS)?.as_ref()?;
        (slot.world.tick == tick).then_some(slot)
    }

    /// What to encode against for a client that acked `acked`: that world, and the world it
    /// was itself encoded against while it is still held (the client holds it too: it rebuilt
    /// the acked world from it), so motion can be extrapolated from the two.
    fn baseline(&self, acked: Option<Tick>) -> Option<(Arc<World>, Option<Arc<World>>)> {
        let sent = self.get(acked?)?;
        let reference = sent.baseline.and_then(|t| self.get(t)).map(|r| r.world.clone());
        Some((sent.world.clone(), reference))
    }

    /// Keeps `world`, and returns the world it replaced ([`HISTORY_TICKS`] older), if any.
    fn put(&mut self, world: Arc<World>, baseline: Option<Tick>) -> Option<Arc<World>> {
        if self.sent.is_empty() {
            self.sent.resize(HISTORY_TICKS, None);
        }
        let slot = world.tick.0 as usize % HISTORY_TICKS;
        self.sent[slot].replace(Sent { world, baseline }).map(|sent| sent.world)
    }

    fn clear(&mut self) {
        self.sent.clear();
    }
}

/// The ticks of a baseline and its reference: spectators whose keys match get the same frame.
type BaselineKey = (Tick, Option<Tick>);

/// Worlds a room keeps to build the next ones in: each player's world of a tick is a copy of
/// what it sees, and the one it replaces in the player's history (32 ticks older) is usually
/// held by nobody else by then. Reusing it saves an allocation and a free per player per tick.
#[derive(Debug, Default)]
struct SpareWorlds {
    worlds: Vec<Arc<World>>,
}

impl SpareWorlds {
    /// Spares kept: a player's put hands back a world just before the next player needs one.
    const CAP: usize = 4;

    /// A world of `tick` holding `entities`, in a spare one when there is one of a fitting size.
    fn world(
        &mut self,
        tick: Tick,
        round: tickwire_shared::RoundState,
        entities: &[EntityState],
    ) -> Arc<World> {
        while let Some(mut spare) = self.worlds.pop() {
            // Not one much larger than needed: a player's history keeps it for 32 ticks.
            let Some(world) = Arc::get_mut(&mut spare)
                .filter(|w| w.entities.capacity() <= 2 * entities.len() + 32)
            else {
                continue;
            };
            world.tick = tick;
            world.round = round;
            world.entities.clear();
            world.entities.extend_from_slice(entities);
            return spare;
        }
        Arc::new(World { tick, round, entities: entities.to_vec() })
    }

    /// Keeps `world` for reuse when nobody else holds it.
    fn put(&mut self, world: Option<Arc<World>>) {
        if let Some(world) = world
            && self.worlds.len() < Self::CAP
            && Arc::strong_count(&world) == 1
        {
            self.worlds.push(world);
        }
    }
}

/// Finds the seats of players asked for in ascending runs (the deferred clients: two runs, see
/// [`Room::deferred`]) in one pass over the seats per run, not a map lookup per client.
struct SeatCursor<'s> {
    seats: &'s BTreeMap<PlayerId, Seat>,
    at: std::iter::Peekable<std::collections::btree_map::Iter<'s, PlayerId, Seat>>,
    /// Seats `at` has passed in this run: the place in the seat order of the next one.
    passed: usize,
    last: Option<PlayerId>,
}

impl<'s> SeatCursor<'s> {
    fn new(seats: &'s BTreeMap<PlayerId, Seat>) -> Self {
        SeatCursor { seats, at: seats.iter().peekable(), passed: 0, last: None }
    }

    /// `player`'s seat and its place in the seat order; `None` when it has gone (the tick may
    /// close a slow client's seat after deferring it).
    fn seat(&mut self, player: PlayerId) -> Option<(usize, &'s Seat)> {
        if self.last.is_some_and(|last| player < last) {
            // The next run starts.
            self.at = self.seats.iter().peekable();
            self.passed = 0;
        }
        self.last = Some(player);
        while self.at.next_if(|(at, _)| **at < player).is_some() {
            self.passed += 1;
        }
        let (_, seat) = self.at.next_if(|(at, _)| **at == player)?;
        self.passed += 1;
        Some((self.passed - 1, seat))
    }
}

/// A [`Baseline`] borrowing from what [`History::baseline`] returned.
fn as_baseline(held: &Option<(Arc<World>, Option<Arc<World>>)>) -> Option<Baseline<'_>> {
    held.as_ref().map(|(world, reference)| Baseline { world, reference: reference.as_deref() })
}

#[derive(Debug)]
struct Seat {
    role: Role,
    name: Name,
    /// The address of the connection that joined or last resumed it.
    client: IpAddr,
    token: ResumeToken,
    entity: Option<EntityId>,
    link: Option<Arc<ClientLink>>,
    /// Set while the connection is gone and the seat waits for a resume.
    waiting: Option<Waiting>,
    last_input: InputSeq,
    history: History,
    last_feedback: Option<(ControllerFeedback, Instant)>,
    /// Until when an operator muted its chat.
    muted_until: Option<Instant>,
}

/// A seat whose connection is gone, waiting for a resume.
#[derive(Debug)]
struct Waiting {
    /// Since when: the grace runs from here.
    since: Instant,
    /// Its place among the seats its address has waiting ([`ServerContext::hold_seat`]),
    /// given back when the seat is resumed or ends.
    _place: crate::context::HeldSeat,
}

impl Seat {
    /// Since when the seat waits for a resume, if it does.
    fn dropped_at(&self) -> Option<Instant> {
        self.waiting.as_ref().map(|w| w.since)
    }
}

/// Most `Joined` events in the roster a newcomer receives (players and controllers only; a
/// room holds at most 1,000 of them, `--room-capacity`).
pub const ROSTER_MAX: usize = 128;

/// The room task's state. Generic over the game so tests can plug in another one.
pub struct Room<G: Game> {
    shared: Arc<RoomShared>,
    ctx: Arc<ServerContext>,
    game: G,
    seats: BTreeMap<PlayerId, Seat>,
    /// The seat each resume token holds: a resume finds its seat without scanning a crowd.
    seat_of_token: HashMap<ResumeToken, PlayerId>,
    /// The seats of players and controllers, a few dozen among thousands of spectators: the
    /// roster each newcomer gets, without scanning the crowd.
    ships: BTreeSet<PlayerId>,
    next_player: u16,
    tick: Tick,
    grid: InterestGrid,
    /// Every entity of this tick, sorted by id (reused between ticks).
    entities: Vec<EntityState>,
    game_events: Vec<GameEvent>,
    /// Frames one tick's shared bytes: the events, each distinct spectator snapshot.
    frames: FrameBuilder,
    /// Events since the last tick's frames went out; every player and spectator gets them
    /// together with the next tick.
    pending_events: Vec<EventKind>,
    /// Players and spectators welcomed since the last tick: each gets its roster with the next
    /// tick, as that tick's step left the room (see [`Room::send_rosters`]).
    rosters_due: Vec<(PlayerId, Arc<ClientLink>)>,
    /// The spectator count last sent as `Event::Audience`.
    audience_announced: Option<u32>,
    /// The room's own chat rate (`--room-chat-rate`), all senders together.
    chat_budget: TokenBucket,
    /// Each address's share of it ([`chat_share`]): many sockets of one address, each within
    /// its own `--chat-rate`, would otherwise take the whole room's and drown the others.
    chat_by_address: PerAddressRate,
    empty_since: Option<Instant>,
    /// The last tick took longer than a period (and was counted late for it), so the next
    /// one starting late is the same incident, not another.
    last_tick_overran: bool,
    /// When snapshots that could not be encoded were last logged (see [`Unencodable`]).
    unencodable_logged: Option<Instant>,
    /// The room closed its clients, as it reached [`LAST_TICK`] or its match ended on a
    /// draining node: [`Room::run`] ends it.
    spent: bool,
    /// The round's phase after the last step: a draining node's match ends when the next
    /// round would start.
    last_phase: tickwire_shared::RoundPhase,
    /// Counted in the rooms gauge ([`spawn`]): counted out once, when its task ends however
    /// it ends ([`Room::count_out`]).
    counted: bool,
    /// Clients the room may write to itself per tick (see `send_frames`), learned from the
    /// ticks before.
    direct_quota: usize,
    /// Where in the seat order this tick's turns start: at the first client the last tick
    /// did not write itself but left to its writer task (past the quota, or, with `--io-uring`,
    /// still deferred when the next tick was due), so those go first this time and every
    /// client takes its turn at the front. While the room writes everyone, it stays put, and
    /// each client is written at the same point of every tick: its frames arrive a period
    /// apart. (Moved on by the quota every tick instead, a client written first in one tick
    /// was written last in the next: 5,000 spectators' inter-arrival p99 was 57 ms at 30 Hz.)
    direct_start: usize,
    /// `--io-uring`: the clients a tick left past its budget of direct writes (with their
    /// snapshot frames), for [`Room::send_deferred`] to write through the ring in batches
    /// after the tick, yielding between them. In the order of their turns: from the tick's
    /// first direct turn to the last seat, then from the first seat (two ascending runs), so
    /// that whoever is left at the deadline is whoever's turn is furthest, and goes first the
    /// next tick ([`Room::direct_start`]); in seat order, the last seats were left every time
    /// and skipped frames the rest did not. By player, not by place in the seat order: the
    /// tick may still close a slow client's seat after it was deferred.
    deferred: Vec<(PlayerId, Option<(Tick, Bytes)>)>,
    /// The events frame of the tick that left `deferred`.
    deferred_events: Option<Bytes>,
    /// Players' worlds to reuse (see [`SpareWorlds`]).
    spare_worlds: SpareWorlds,
    /// Where each seat's memory lives, in seat order, gathered by the tick's input loop (which
    /// visits every seat anyway) for `send_frames` to prefetch a few clients ahead (see
    /// [`SeatMemory`]).
    seat_memory: Vec<SeatMemory>,
    /// The time passed to the current `handle` or `tick` call.
    now: Instant,
}

/// The addresses of what `send_frames` reads of a client, for a prefetch.
///
/// Why: in a crowd every client's seat, history and link are cache misses each tick (a
/// profile at 5,000 spectators put most of the room's own CPU on them), and the loop that
/// visits them does little else, so the core mostly waits. Asked for a few clients ahead, the
/// lines arrive while it works on the ones before. Addresses only: a seat that left since
/// they were gathered (or moved in the map) wastes one prefetch, nothing else.
#[derive(Debug, Clone, Copy)]
struct SeatMemory {
    seat: usize,
    link: usize,
    history: usize,
}

/// How many clients ahead `send_frames` prefetches: far enough for a line to arrive from the
/// last-level cache while the clients before it are handled, near enough that the lines are
/// still in the core's cache when their turn comes (a batch's sends pass through the kernel
/// in between).
const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to bring the `len` bytes at `address` into its cache (x86_64; elsewhere it
/// does nothing).
fn prefetch(address: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in ((address & !63)..address.saturating_add(len)).step_by(64) {
        // SAFETY: SSE is part of the x86_64 baseline, so the instruction exists on every CPU
        // this runs on; a prefetch is a hint that never faults and reads nothing the program
        // sees, so any address, stale or invalid, is sound.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (address, len);
}

/// Chat lines a second one address's clients may have a room relay, all together (with bursts
/// of twice as many): a quarter of `--room-chat-rate` (at least one), so it takes four
/// addresses (IPv6: /64 networks) to fill a room's chat.
fn chat_share(room_chat_rate: u32) -> u32 {
    (room_chat_rate / 4).max(1)
}

impl<G: Game> Room<G> {
    /// A room around `game`.
    pub fn new(shared: Arc<RoomShared>, ctx: Arc<ServerContext>, game: G) -> Self {
        let grid = InterestGrid::new(ctx.config.view_radius);
        let chat_rate = ctx.config.room_chat_rate;
        let chat_budget = TokenBucket::new(chat_rate, chat_rate.saturating_mul(2), Instant::now());
        Room {
            shared,
            ctx,
            game,
            seats: BTreeMap::new(),
            seat_of_token: HashMap::new(),
            ships: BTreeSet::new(),
            next_player: 1,
            tick: Tick(0),
            grid,
            entities: Vec::new(),
            game_events: Vec::new(),
            frames: FrameBuilder::new(),
            pending_events: Vec::new(),
            rosters_due: Vec::new(),
            audience_announced: Some(0),
            chat_budget,
            chat_by_address: PerAddressRate::default(),
            empty_since: None,
            last_tick_overran: false,
            unencodable_logged: None,
            spent: false,
            last_phase: tickwire_shared::RoundPhase::Playing,
            counted: false,
            direct_quota: usize::MAX,
            direct_start: 0,
            deferred: Vec::new(),
            deferred_events: None,
            spare_worlds: SpareWorlds::default(),
            seat_memory: Vec::new(),
            now: Instant::now(),
        }
    }

    fn config(&self) -> &ServerConfig {
        &self.ctx.config
    }

    /// Runs the tick loop until shutdown or until the room has been empty for
    /// [`ServerConfig::room_idle_grace`] and the directory agrees to close it.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<RoomCommand>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let span = info_span!("room", room = %self.shared.name);
        async move {
            let period = self.config().tick_period();
            let mut ticker = tokio::time::interval(period);
            // A late tick is measured and counted, then the schedule moves on instead of
            // bursting several ticks back to back.
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            self.empty_since = Some(Instant::now());
            info!(tick_rate = self.config().tick_rate, "room open");
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => {
                        shutting_down = true;
                        break;
                    }
                    due = ticker.tick() => {
                        let now = Instant::now();
                        let late = now - due;
                        if late > period && !self.last_tick_overran {
                            self.ctx.metrics.late_ticks.inc();
                        }
                        // The schedule skips the ticks that fell due meanwhile (whole periods).
                        let skipped = late.as_nanos() / period.as_nanos().max(1);
                        if skipped > 0 {
                            self.ctx.metrics.ticks_skipped.inc_by(skipped as u64);
                        }
                        self.shared.busy.enter(now);
                        self.tick(now);
                        self.done_working();
                        if self.spent {
                            break;
                        }
                        // Ends when the next tick is due, or at a shutdown.
                        self.send_deferred(due + period, &shutdown).await;
                        // A crowd's deferred writes can fill the period, and then the ticker
                        // is ready again at once and would win every turn of this loop.
                        self.shared.busy.enter(Instant::now());
                        self.handle_queued(&mut commands);
                        self.done_working();
                        if self.should_close(now, &commands) {
                            break;
                        }
                    }
                    Some(command) = commands.recv() => {
                        let now = Instant::now();
                        self.shared.busy.enter(now);
                        self.handle(command, now);
                        self.done_working();
                    }
                }
            }
            // Refuse whatever is still queued so no joiner waits for a reply that never comes.
            commands.close();
            while let Ok(command) = commands.try_recv() {
                if let RoomCommand::Join { reply, .. } = command {
                    let _ = reply.send(Err(JoinRefused::Closing));
                }
            }
            // At a shutdown the connections' Leaves go to a room that is gone: count their
            // seats out here. (A room that closed idle has none.)
            for seat in self.take_seats().into_values() {
                self.release(&seat);
                self.ctx.metrics.clients_of(seat.role).dec();
            }
            if shutting_down {
                // No joiner should find it meanwhile and try it again and again.
                self.ctx.close_room_if(&self.shared, || true);
            }
            self.count_out();
            info!("room closed");
        }
        .instrument(span)
        .await
    }

    /// Ends a spell of work ([`Busy`]), saying so if the watchdog had called it stuck.
    fn done_working(&self) {
        if self.shared.busy.leave() {
            info!("the room is ticking again after being stuck");
        }
    }

    /// Handles the commands already queued (at most a channel's worth), so that joins, leaves
    /// and chat sent while the room wrote its crowd are answered before its next tick.
    fn handle_queued(&mut self, commands: &mut mpsc::Receiver<RoomCommand>) {
        // Bounded: the readers, on the network threads, keep sending meanwhile.
        for _ in 0..commands.max_capacity() {
            let Ok(command) = commands.try_recv() else { break };
            self.handle(command, Instant::now());
        }
    }

    /// Gives back what a seat holds outside the room: its token and a spectator's place.
    fn release(&self, seat: &Seat) {
        self.ctx.forget_token(&seat.token);
        if seat.role == Role::Spectator {
            self.ctx.release_spectator_place();
        }
    }

    fn should_close(&mut self, now: Instant, commands: &mpsc::Receiver<RoomCommand>) -> bool {
        if self.shared.evicted.load(Ordering::Relaxed) {
            // Out of the directory already; nobody was on the way in.
            return self.seats.is_empty();
        }
        if !self.seats.is_empty() {
            self.empty_since = None;
            return false;
        }
        let since = *self.empty_since.get_or_insert(now);
        now - since >= self.config().room_idle_grace
            && self.ctx.close_room_if(&self.shared, || commands.is_empty())
    }

    /// Applies one command. [`Room::run`] calls this for each command received; tests and
    /// benchmarks drive a room directly with it and [`Room::tick`], without a runtime.
    pub fn handle(&mut self, command: RoomCommand, now: Instant) {
        self.now = now;
        match command {
            RoomCommand::Join { request, reply } => {
                // The connection stopped waiting for the answer (the room was slow to get to
                // it): it will never learn the seat, nor send the Leave that ends it.
                if reply.is_closed() {
                    return;
                }
                self.answer_join(request, |answer| reply.send(answer), now);
            }
            RoomCommand::Chat { player, text } => {
                if let Some(seat) = self.seats.get(&player) {
                    if seat.muted_until.is_some_and(|until| until > now) {
                        // Shown to its sender alone, as everyone's lines are shown to them: a
                        // muted player is not told, and does not go elsewhere to speak.
                        if let Some(link) = &seat.link {
                            let tick = Tick(self.tick.0.wrapping_add(1));
                            let kind = EventKind::Chat { from: player, name: seat.name, text };
                            self.frames.push(&ServerMessage::Event(Event { tick, kind }));
                            // With the next tick's frames, ahead of its snapshot; a full queue
                            // loses the echo, never the room's frames.
                            let _ = link.push_control_unwoken(self.frames.finish());
                        }
                        self.ctx.metrics.chat_muted.inc();
                        return;
                    }
                    let name = seat.name;
                    let share = chat_share(self.ctx.config.room_chat_rate);
                    let address = crate::context::address_key(seat.client);
                    if self.chat_by_address.try_take(address, share, share * 2, now)
                        && self.chat_budget.try_take(now)
                    {
                        self.broadcast(EventKind::Chat { from: player, name, text });
                    } else {
                        self.ctx.metrics.chat_dropped.inc();
                    }
                }
            }
            RoomCommand::Seats { reply } => {
                let _ = reply
                    .send(self.seats.iter().map(|(&p, seat)| self.seat_info(p, seat)).collect());
            }
            RoomCommand::Mute { player, until, reply } => {
                let was_muted = match self.seats.get_mut(&player) {
                    Some(seat) => {
                        let was = seat.muted_until.is_some_and(|end| end > now);
                        seat.muted_until = until;
                        Some(was)
                    }
                    None => None,
                };
                let seat = |was| (self.seat_info(player, &self.seats[&player]), was);
                let _ = reply.send(was_muted.map(seat));
            }
            RoomCommand::Remove { who, message, ban, reply } => {
                let _ = reply.send(self.remove(&who, message, ban.as_ref(), now));
            }
            RoomCommand::Leave { player, link, how } => self.leave(player, &link, how, now),
        }
    }

    fn seat_info(&self, player: PlayerId, seat: &Seat) -> SeatInfo {
        let inputs = seat.link.as_ref().and_then(|link| link.input_report());
        SeatInfo {
            room: self.shared.name.to_string(),
            player: player.0,
            name: seat.name.to_string(),
            role: match seat.role {
                Role::Player => "player",
                Role::Spectator => "spectator",
                Role::Controller => "controller",
            },
            score: seat.role.plays().then(|| self.game.score(player)).flatten(),
            address: seat.client,
            connected: seat.link.is_some(),
            round_trip_ms: seat
                .link
                .as_ref()
                .and_then(|link| link.round_trip())
                .map(|trip| (trip.as_secs_f64() * 10_000.0).round() / 10.0),
            late_inputs_pct: inputs
                .and_then(|report| report.late_share())
                .map(|share| (share * 1000.0).round() / 10.0),
            input_buffer_ms: inputs.and_then(|report| report.mean_wait_ticks()).map(|ticks| {
                (ticks * self.config().tick_period().as_secs_f64() * 10_000.0).round() / 10.0
            }),
            muted_secs: seat.muted_until.and_then(|until| {
                let left = until.checked_duration_since(self.now).filter(|d| !d.is_zero())?;
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }),
        }
    }

    /// Removes the seats `who` names: a client attached is told why and closed (1008), and
    /// every seat goes now, its token with it, so neither a resume nor the connection's own
    /// `Leave` brings it back.
    fn remove(
        &mut self,
        who: &Removal,
        message: KickText,
        ban: Option<&(Duration, String)>,
        now: Instant,
    ) -> Removed {
        // Each seat removed, with what its client is told.
        let told = |seat: &Seat| match who {
            Removal::Player(_) => None,
            Removal::Address(key) => key.covers(seat.client).then_some(message),
            Removal::Name(name) => {
                (crate::moderation::name_key(&seat.name) == *name).then_some(message)
            }
            Removal::Banned => self
                .ctx
                .bans
                .check(seat.client, &seat.name, now)
                .map(|ban| crate::moderation::ban_message(&ban)),
        };
        let removed: Vec<(PlayerId, KickText)> = match who {
            Removal::Player(id) => {
                self.seats.contains_key(id).then_some((*id, message)).into_iter().collect()
            }
            _ => self.seats.iter().filter_map(|(p, seat)| Some((*p, told(seat)?))).collect(),
        };
        let mut done = Removed { seats: Vec::with_capacity(removed.len()), bans: Vec::new() };
        for (player, message) in removed {
            let Some(seat) = self.seats.get(&player) else { continue };
            done.seats.push(self.seat_info(player, seat));
            // A resume of the token, from wherever, is told of the removal; a join the ban
            // covers, of the ban as it then stands.
            self.ctx.bans.note_removed(seat.token, message, now);
            let mut message = message;
            if let Some((length, reason)) = ban {
                use crate::moderation::{AddressKey, BanTarget, ban_message, name_key};
                let mut targets = Vec::new();
                // A trusted proxy's address stands for everyone behind it (the operator is
                // refused it up front; this covers a resume from it meanwhile).
                if !self.ctx.is_trusted_proxy(seat.client) {
                    targets.push(BanTarget::Address(AddressKey::of(seat.client)));
                }
                // Without join tokens a player names itself: its name vouches for nothing.
                if self.ctx.join.get().is_some() {
                    targets.push(BanTarget::Name(name_key(&seat.name)));
                }
                let first = done.bans.len();
                for target in targets {
                    // A full table bans nobody more; the removal stands.
                    // A longer ban of the same target stands, and is the one the client is told.
                    let keep = crate::moderation::Existing::KeepLonger;
                    if let Ok(info) = self.ctx.bans.ban(target, *length, reason, now, keep) {
                        done.bans.push(info);
                    }
                }
                if let Some(info) = done.bans.get(first) {
                    message = ban_message(info);
                }
            }
            if let Some(link) = &seat.link {
                link.close(CloseRequest {
                    code: 1008,
                    reason: message.to_string(),
                    kick: Some(Kick { reason: KickReason::Removed, message }),
                });
            }
            debug!(player = player.0, name = %seat.name, client = %seat.client, "removed by an operator");
            self.ctx.metrics.clients_removed.inc();
            self.remove_seat(player, "removed by an operator");
        }
        done
    }

    /// Seats (or refuses) `request`'s client and hands the answer to `send`, which fails when
    /// the joiner stopped waiting meanwhile (it then gets the answer back).
    fn answer_join(
        &mut self,
        request: JoinRequest,
        send: impl FnOnce(JoinAnswer) -> Result<(), JoinAnswer>,
        now: Instant,
    ) {
        let (link, client) = (request.link.clone(), request.client);
        let mut replaced = None;
        let joined = self.join(request, &mut replaced, now);
        let resumed = joined.as_ref().ok().filter(|joined| joined.resumed).map(|j| j.player);
        let joined_role = joined.as_ref().ok().map(|joined| joined.role);
        match send(joined) {
            Ok(()) => {
                if let Some(player) = resumed {
                    self.ctx.metrics.resumes.inc();
                    info!(player = player.0, %client, "seat resumed");
                } else if let Some(role) = joined_role {
                    self.ctx.metrics.joined(role);
                }
                // Only now, with the resume delivered: had its joiner gone, the connection it
                // replaces would have been kicked for nothing.
                if let Some(old) = replaced {
                    old.close(CloseRequest {
                        code: 1008,
                        reason: "seat resumed by another connection".into(),
                        kick: Some(Kick {
                            reason: KickReason::Replaced,
                            message: KickText::truncated("seat resumed by another connection"),
                        }),
                    });
                }
            }
            // It stopped waiting just now. A resume that replaced a connection gives the seat
            // back to it, untouched but for a fresh history (its next snapshot is full); any
            // other resumed seat waits for its owner's next resume again, as after a drop; a
            // new seat, whose token nobody has, goes.
            Err(Ok(joined)) => match replaced {
                Some(old) => {
                    if let Some(seat) = self.seats.get_mut(&joined.player) {
                        seat.link = Some(old);
                    }
                }
                None => {
                    let how = if joined.resumed { Departure::Dropped } else { Departure::Left };
                    self.leave(joined.player, &link, how, now);
                }
            },
            Err(Err(_)) => {}
        }
    }

    /// Seats `request`'s client. A resume of a seat that still had a connection leaves that
    /// connection in `replaced`, for the caller to kick once the joiner has the answer, or to
    /// give the seat back to should the joiner be gone.
    fn join(
        &mut self,
        request: JoinRequest,
        replaced: &mut Option<Arc<ClientLink>>,
        now: Instant,
    ) -> Result<Joined, JoinRefused> {
        if let Some(token) = request.resume
            && let Some(&player) = self.seat_of_token.get(&token)
            && let Some(seat) = self.seats.get_mut(&player)
        {
            if seat.role != request.role {
                return Err(JoinRefused::RoleMismatch);
            }
            *replaced = seat.link.replace(request.link.clone());
            seat.client = request.client;
            seat.waiting = None;
            seat.history.clear();
            seat.last_feedback = None;
            // The new connection numbers its inputs afresh.
            seat.last_input = InputSeq(0);
            let (role, entity) = (seat.role, seat.entity);
            self.welcome(player, role, entity, token, true, &request.link);
            return Ok(Joined { player, role, room: self.shared.clone(), resumed: true });
        }

        let fits = match request.role {
            // The server-wide place is taken last, once nothing else can refuse the join.
            Role::Spectator => self.shared.spectators() < u32::from(self.config().max_spectators),
            Role::Player | Role::Controller => self.shared.has_player_room(),
        };
        if !fits {
            return Err(JoinRefused::Full);
        }
        if request.role.plays() && !self.ctx.take_seat_join(request.client, now) {
            return Err(JoinRefused::TooFast);
        }
        let player = self.allocate_player_id().ok_or(JoinRefused::Full)?;
        if request.role == Role::Spectator && !self.ctx.take_spectator_place() {
            return Err(JoinRefused::Full);
        }
        let name = if request.name.is_empty() {
            Name::truncated(&format!("Player {}", player.0))
        } else {
            request.name
        };
        let token = ResumeToken(rand::random());
        let entity = request.role.plays().then(|| self.game.add_player(player));
        match request.role {
            Role::Spectator => self.shared.spectators.fetch_add(1, Ordering::Relaxed),
            Role::Controller => {
                self.shared.controllers.fetch_add(1, Ordering::Relaxed);
                self.shared.players.fetch_add(1, Ordering::Relaxed)
            }
            Role::Player => self.shared.players.fetch_add(1, Ordering::Relaxed),
        };
        self.ctx.metrics.clients_of(request.role).inc();
        self.ctx.register_token(token, &self.shared.name);

        // The newcomer hears who is already here with the next tick (its roster); everyone
        // hears of a new player or controller with that tick too, and of a new spectator as
        // a count.
        self.seat_of_token.insert(token, player);
        if request.role.plays() {
            self.ships.insert(player);
        }
        self.seats.insert(
            player,
            Seat {
                role: request.role,
                name,
                client: request.client,
                token,
                entity,
                link: Some(request.link.clone()),
                waiting: None,
                last_input: InputSeq(0),
                history: History::default(),
                last_feedback: None,
                muted_until: None,
            },
        );
        self.welcome(player, request.role, entity, token, false, &request.link);
        if request.role.plays() {
            let score = self.game.score(player).unwrap_or(0);
            self.broadcast(EventKind::Joined { player, name, role: request.role, score });
        }
        if request.role.plays() {
            info!(player = player.0, role = ?request.role, %name, client = %request.client, "joined");
        } else {
            debug!(player = player.0, %name, client = %request.client, "spectator joined");
        }
        Ok(Joined { player, role: request.role, room: self.shared.clone(), resumed: false })
    }

    /// Sends `Welcome`, and has the roster of a player or spectator sent with the next tick.
    fn welcome(
        &mut self,
        player: PlayerId,
        role: Role,
        entity: Option<EntityId>,
        token: ResumeToken,
        resumed: bool,
        link: &Arc<ClientLink>,
    ) {
        let welcome = Welcome {
            player_id: player,
            role,
            room: self.shared.name,
            tick_rate: self.config().tick_rate,
            world: self.game.bounds(),
            view_radius: self.config().view_radius,
            entity,
            resume_token: token,
            resumed,
        };
        self.frames.push(&ServerMessage::Welcome(welcome));
        // A fresh link's queue is empty (and a resumed seat's link is new), so this fits.
        let _ = link.push_control(self.frames.finish());
        if role != Role::Controller {
            self.rosters_due.push((player, link.clone()));
        }
    }

    /// Sends each client welcomed since the last tick its roster: who else plays here, with
    /// their scores, and how many watch. Built after this tick's step, so the scores are
    /// those of the newcomer's first snapshot (a round that starts in this step has zeroed
    /// them), and stamped with its tick; it goes out ahead of the tick's events and snapshot,
    /// in the same write or wake-up as they do (the tick offers every player and spectator a
    /// snapshot).
    fn send_rosters(&mut self, now: Instant) {
        if self.rosters_due.is_empty() {
            return;
        }
        let tick = self.tick;
        // A ship that joined since the last tick is left out: its own `Joined`, pending, comes
        // right after with this tick's events, and a roster naming it too would announce it
        // twice.
        let mut announced: Vec<PlayerId> = self
            .pending_events
            .iter()
            .filter_map(|kind| match kind {
                EventKind::Joined { player, .. } => Some(*player),
                _ => None,
            })
            .collect();
        announced.sort_unstable();
        let spectators = self.shared.spectators();
        // The roster of everyone who is not a resumed ship is the same bytes: framed once for
        // a join storm, as a tick's events are. A resumed ship's names it too, beside the
        // others (a client resuming from a page reload learns its own name and score there).
        let mut common: Option<Bytes> = None;
        let mut rosters_due = std::mem::take(&mut self.rosters_due);
        let mut overflowed = Vec::new();
        for (player, link) in rosters_due.drain(..) {
            // Gone since, or resumed on another connection (which has its own roster due), or
            // back on an older one that never left it (which has its roster).
            let current = self.seats.get(&player).and_then(|seat| seat.link.as_ref());
            if !current.is_some_and(|current| Arc::ptr_eq(current, &link)) {
                continue;
            }
            let resumed = self.ships.contains(&player) && announced.binary_search(&player).is_err();
            let roster = match (&common, resumed) {
                (_, true) => self.roster(tick, spectators, &announced, Some(player)),
                (Some(common), false) => common.clone(),
                (None, false) => {
                    common.insert(self.roster(tick, spectators, &announced, None)).clone()
                }
            };
            if link.push_control_unwoken(roster).is_err() {
                overflowed.push(player);
            }
        }
        self.rosters_due = rosters_due;
        for player in overflowed {
            self.kick_slow(player, "client is not reading its messages", now);
        }
    }

    /// The roster as of this tick: a `Joined` for each player and controller but those
    /// `announced` (sorted), then the `Audience`. At most ROSTER_MAX of the others: a room past
    /// it names its best scorers, the top of a scoreboard (a client names any further ship when
    /// its `Joined` comes, or shows a placeholder). A resumed ship's (`own`) names it besides,
    /// outside the count: a client tells a roster that may have left players out by the
    /// others it names.
    fn roster(
        &mut self,
        tick: Tick,
        spectators: u32,
        announced: &[PlayerId],
        own: Option<PlayerId>,
    ) -> Bytes {
        let mut named: Vec<(PlayerId, u16)> = self
            .ships
            .iter()
            .copied()
            .filter(|&other| Some(other) != own && announced.binary_search(&other).is_err())
            .map(|other| (other, self.game.score(other).unwrap_or(0)))
            .collect();
        if named.len() > ROSTER_MAX {
            // Best first; among equal scores (all 0 as a round starts) the longest seated.
            named.select_nth_unstable_by(ROSTER_MAX - 1, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            named.truncate(ROSTER_MAX);
        }
        named.extend(own.map(|own| (own, self.game.score(own).unwrap_or(0))));
        named.sort_unstable_by_key(|&(player, _)| player);
        for (other, score) in named {
            let Some(seat) = self.seats.get(&other) else { continue };
            let (name, role) = (seat.name, seat.role);
            let kind = EventKind::Joined { player: other, name, role, score };
            self.frames.push(&ServerMessage::Event(Event { tick, kind }));
        }
        let kind = EventKind::Audience { spectators };
        self.frames.push(&ServerMessage::Event(Event { tick, kind }));
        self.frames.finish()
    }

    fn allocate_player_id(&mut self) -> Option<PlayerId> {
        for _ in 0..=u16::MAX {
            let candidate = PlayerId(self.next_player);
            self.next_player = self.next_player.checked_add(1).unwrap_or(1);
            if candidate.0 != 0 && !self.seats.contains_key(&candidate) {
                return Some(candidate);
            }
        }
        None
    }

    fn leave(&mut self, player: PlayerId, link: &Arc<ClientLink>, how: Departure, now: Instant) {
        let Some(seat) = self.seats.get_mut(&player) else { return };
        if !seat.link.as_ref().is_some_and(|current| Arc::ptr_eq(current, link)) {
            return; // a stale connection of a seat that was resumed since
        }
        seat.link = None;
        match how {
            Departure::Dropped if seat.role.plays() => self.hold(player, now),
            Departure::Dropped => self.remove_seat(player, "dropped"),
            Departure::Left => self.remove_seat(player, "closed"),
        }
    }

    /// Keeps the seat of a player whose connection is gone for a resume, if its address may
    /// have one more waiting ([`ServerContext::hold_seat`]); else the seat ends now.
    fn hold(&mut self, player: PlayerId, now: Instant) {
        let Some(seat) = self.seats.get_mut(&player) else { return };
        let Some(held) = self.ctx.hold_seat(seat.client) else {
            self.ctx.metrics.refused("held_per_ip");
            self.remove_seat(player, "dropped, and its address holds as many seats as it may");
            return;
        };
        seat.waiting = Some(Waiting { since: now, _place: held });
        // A dropped ship coasts with no thrust rather than holding the last input.
        self.game.set_input(player, PlayerInput::default());
        debug!(player = player.0, client = %seat.client, "dropped; seat kept for resume");
    }

    /// Empties the room of its seats, and their indexes with them.
    fn take_seats(&mut self) -> BTreeMap<PlayerId, Seat> {
        self.seat_of_token.clear();
        self.ships.clear();
        std::mem::take(&mut self.seats)
    }

    /// Ends `player`'s seat; `why` is for the log.
    fn remove_seat(&mut self, player: PlayerId, why: &'static str) {
        let Some(seat) = self.seats.remove(&player) else { return };
        self.seat_of_token.remove(&seat.token);
        self.ships.remove(&player);
        match seat.role {
            Role::Spectator => self.shared.spectators.fetch_sub(1, Ordering::Relaxed),
            Role::Controller => {
                self.shared.controllers.fetch_sub(1, Ordering::Relaxed);
                self.shared.players.fetch_sub(1, Ordering::Relaxed)
            }
            Role::Player => self.shared.players.fetch_sub(1, Ordering::Relaxed),
        };
        self.ctx.metrics.clients_of(seat.role).dec();
        self.release(&seat);
        // After the seat is counted out and its token forgotten: a game that panics here
        // leaves the crash cleanup (`Drop`) only the seats still in the map.
        if seat.entity.is_some() {
            self.game.remove_player(player);
        }
        if seat.role.plays() {
            info!(player = player.0, client = %seat.client, why, "left");
            self.broadcast(EventKind::Left { player });
        } else {
            // A crowd comes and goes by the thousand: one line each would flood the log.
            debug!(player = player.0, client = %seat.client, why, "spectator left");
        }
    }

    /// Queues an event for every attached player and spectator; it goes out with the next
    /// tick's frames, together with the tick's other events, and carries that tick: one a
    /// client message caused between ticks belongs with the snapshot it comes before (the
    /// first to show its effect), not the one already sent (PROTOCOL.md section 5).
    fn broadcast(&mut self, kind: EventKind) {
        self.pending_events.push(kind);
    }

    /// The events since the last tick (and the audience, if it changed) as one shared buffer
    /// of frames, or `None` when nothing happened.
    fn take_events_frame(&mut self) -> Option<Bytes> {
        let spectators = self.shared.spectators();
        if self.audience_announced != Some(spectators) {
            self.audience_announced = Some(spectators);
            self.broadcast(EventKind::Audience { spectators });
        }
        if self.pending_events.is_empty() {
            return None;
        }
        let tick = self.tick;
        for kind in self.pending_events.drain(..) {
            self.frames.push(&ServerMessage::Event(Event { tick, kind }));
        }
        (!self.frames.is_empty()).then(|| self.frames.finish())
    }

    fn kick_slow(&mut self, player: PlayerId, why: &str, now: Instant) {
        let Some(seat) = self.seats.get_mut(&player) else { return };
        if let Some(link) = seat.link.take() {
            debug!(player = player.0, why, "closing slow client");
            link.close(CloseRequest {
                code: 1008,
                reason: why.into(),
                kick: Some(Kick { reason: KickReason::TooSlow, message: KickText::truncated(why) }),
            });
        }
        if seat.role.plays() {
            self.hold(player, now);
        } else {
            self.remove_seat(player, "too slow");
        }
    }

    /// One simulation step and one frame per client, as of `now`.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.tick.0 == LAST_TICK {
            if !self.spent {
                info!("the room's tick counter is spent; its clients join a new room");
                self.close_everyone(CloseRequest {
                    code: 1001,
                    reason: "the room ran its last tick: join it again".into(),
                    kick: Some(Kick {
                        reason: KickReason::ShuttingDown,
                        message: KickText::truncated("the room ran its last tick"),
                    }),
                });
                self.spent = true;
            }
            return;
        }
        let started = std::time::Instant::now();

        self.seat_memory.clear();
        let period = self.config().tick_period();
        for (&player, seat) in self.seats.iter_mut() {
            self.seat_memory.push(SeatMemory {
                seat: std::ptr::from_ref::<Seat>(seat) as usize,
                link: seat.link.as_ref().map_or(0, |link| Arc::as_ptr(link) as usize),
                history: seat.history.sent.as_ptr() as usize,
            });
            let Some(link) = &seat.link else { continue };
            if !seat.role.plays() {
                continue;
            }
            let (input, report) = link.take_input();
            if let Some(report) = report {
                self.ctx.metrics.input_window(seat.role, &report, period);
            }
            if let Some(input) = input {
                seat.last_input = input.seq;
                self.game.set_input(
                    player,
                    PlayerInput {
                        x: dequantize_axis_input(input.x),
                        y: dequantize_axis_input(input.y),
                        buttons: input.buttons,
                    },
                );
            }
        }

        self.game_events.clear();
        let dt = self.config().tick_period().as_secs_f32();
        self.game.step(dt, &mut self.game_events);
        let phase = self.game.round().phase;
        let was = std::mem::replace(&mut self.last_phase, phase);
        if self.ctx.is_draining()
            && was == tickwire_shared::RoundPhase::Intermission
            && phase == tickwire_shared::RoundPhase::Playing
        {
            // The round was played out and its scoreboard shown: a draining node starts no
            // other, which its drain would cut off. Everyone joins again, and the room opens
            // anew on another node (PROTOCOL.md 7.5).
            info!("the match is over and this node drains: its clients join it again elsewhere");
            let why = "the match is over and its server is restarting: join again";
            self.close_everyone(CloseRequest {
                code: 1001,
                reason: why.into(),
                kick: Some(Kick {
                    reason: KickReason::ShuttingDown,
                    message: KickText::truncated(why),
                }),
            });
            self.spent = true;
            return;
        }
        self.tick = Tick(self.tick.0.wrapping_add(1));
        // Its time first: a connection that reads the tick finds when it was built.
        self.shared.tick_times.record(self.tick, now);
        self.shared.tick.store(self.tick.0, Ordering::Relaxed);

        let mut rumble_players = Vec::new();
        let events = std::mem::take(&mut self.game_events);
        for event in &events {
            match *event {
                GameEvent::Scored { player, score } => {
                    self.broadcast(EventKind::Scored { player, score })
                }
                GameEvent::RoundOver { round, winner, score } => {
                    self.broadcast(EventKind::RoundOver { round, winner, score })
                }
                GameEvent::Impact { player, strength } => rumble_players.push((player, strength)),
            }
        }
        self.game_events = events;
        // Looked up once per controller below: the hardest impact of the tick for each player,
        // sorted, so a packed room's many impacts cost a binary search each, not a scan.
        rumble_players.sort_unstable_by_key(|&(p, strength): &(PlayerId, u8)| {
            (p.0, std::cmp::Reverse(strength))
        });
        rumble_players.dedup_by_key(|(p, _)| p.0);

        // Before the world is read, so this tick's snapshots and its Left events agree.
        self.expire_dropped_seats(now);
        self.entities.clear();
        self.game.entities(&mut self.entities);
        self.entities.sort_unstable_by_key(|e| e.id.0);
        // A game that reports an id twice (a bug in it) must not make snapshots no client can
        // apply, for as long as it does: one of them is the entity.
        self.entities.dedup_by_key(|e| e.id.0);
        let game = &self.game;
        self.grid.rebuild(&self.entities, |entity| game.always_visible(entity));
        self.send_rosters(now);
        self.send_frames(now, &rumble_players);

        let elapsed = started.elapsed();
        self.ctx.metrics.tick_duration.observe(elapsed.as_secs_f64());
        self.last_tick_overran = elapsed > self.config().tick_period();
        if self.last_tick_overran {
            self.ctx.metrics.late_ticks.inc();
        }
    }

    fn send_frames(&mut self, now: Instant, rumble_players: &[(PlayerId, u8)]) {
        let round = self.game.round();
        let tick = self.tick;
        let view_radius = self.config().view_radius;
        let slow_limit = self.config().slow_client_timeout;
        let tick_rate = self.config().tick_rate;
        // The room writes an idle client's frames to its socket itself (see `outbox`) for up to
        // half a tick; past that, the writer tasks take the rest, which the network runtime's
        // workers can run in parallel on other cores, and the tick stays on time. (Measured on
        // one core at 3,000 spectators, half a tick cost 0.93x the CPU per frame of a quarter.)
        // Whoever the budget leaves to a writer is written first the next tick (`direct_start`),
        // so a crowd too big for the budget shares it fairly: the writers run later and, on a
        // saturated core, skip more frames.
        let direct_budget = self.config().tick_period() / 2;
        // A tick's deferred clients are written before the next tick; any left (a caller that
        // ticks without `send_deferred`) go to their writers first, ahead of this tick's frames,
        // and have this tick's first turns.
        self.hand_deferred_to_writers(now);
        let seated = self.seats.len().max(1);
        let direct_start = self.direct_start % seated;
        let direct_quota = self.direct_quota;
        let mut direct = true;
        // Clients whose turn it was to be written directly (written, or left to their writer
        // because it still had frames).
        let mut direct_turns = 0u64;
        let mut sent = DirectTotals::default();
        // `--io-uring`: direct writes wait here and go to the kernel a batch at a time.
        let mut batch: Option<Vec<DirectSend<'_>>> =
            self.config().io_uring.then(|| Vec::with_capacity(crate::uring::BATCH_SENDS));
        let events = self.take_events_frame();
        let defer = batch.is_some();
        let mut deferred = std::mem::take(&mut self.deferred);
        let mut whole_world: Option<Arc<World>> = None;
        // Spectators with the same baseline and reference (all those whose sockets took the
        // last tick's frame, in a crowd that keeps up) get byte-identical frames: encode and
        // frame each once.
        let mut spectator_frames: Vec<(Option<BaselineKey>, Bytes)> = Vec::new();
        let mut frames = std::mem::take(&mut self.frames);
        let mut nearby = Vec::new();
        // What a client is sent of a view past the protocol's entities (`within_limit`).
        let mut crowd = Vec::new();
        let mut unencodable = Unencodable::default();
        // Deferred clients seated before this tick's first direct turn: their run goes last.
        let mut deferred_before_start = 0;

        let seat_memory = std::mem::take(&mut self.seat_memory);
        // In each history: the baseline's slot (usually last tick's world) and this tick's.
        let history_slot = std::mem::size_of::<Option<Sent>>();
        let history_offset = tick.0.wrapping_sub(1) as usize % HISTORY_TICKS * history_slot;
        for (index, (&player, seat)) in self.seats.iter_mut().enumerate() {
            if let Some(ahead) = seat_memory.get(index + PREFETCH_AHEAD) {
                prefetch(ahead.seat, std::mem::size_of::<Seat>());
                // What the link's offer reads (its fields are laid out for it).
                prefetch(ahead.link, ClientLink::HOT_BYTES);
                prefetch(ahead.history + history_offset, 2 * history_slot);
            }
            // Borrowed, not cloned: an `Arc` count touched per client per tick is a cache miss
            // on every link of a crowd.
            let Some(link) = seat.link.as_ref() else { continue };
            let snapshot = match seat.role {
                Role::Controller => {
                    if link.stalled_for(now) > slow_limit {
                        sent.slow.push(player);
                        continue;
                    }
                    let Some(mut feedback) = self.game.feedback(player) else { continue };
                    // An impact this tick rumbles at its strength, at least, whatever the
                    // game's feedback says of the last ~200 ms.
                    if let Ok(i) = rumble_players.binary_search_by_key(&player.0, |p| p.0.0) {
                        feedback.rumble = feedback.rumble.max(rumble_players[i].1);
                    }
                    let due = seat
                        .last_feedback
                        .is_none_or(|(last, at)| last != feedback || now - at >= FEEDBACK_REFRESH);
                    if !due {
                        continue;
                    }
                    seat.last_feedback = Some((feedback, now));
                    if frames.push(&ServerMessage::ControllerFeedback(feedback))
                        && link.push_control(frames.finish()).is_err()
                    {
                        sent.overflowed.push(player);
                    }
                    continue;
                }
                Role::Spectator => {
                    let world = whole_world
                        .get_or_insert_with(|| {
                            let always = |e: &EntityState| self.game.always_visible(e);
                            let entities = within_limit(&self.entities, None, always, &mut crowd);
                            if entities.len() < self.entities.len() {
                                unencodable.cut += 1;
                            }
                            Arc::new(World { tick, round, entities: entities.to_vec() })
                        })
                        .clone();
                    let held = seat.history.baseline(baseline_tick(link));
                    let baseline = as_baseline(&held);
                    let key = baseline.map(|b| (b.world.tick, b.reference.map(|r| r.tick)));
                    let frame = match spectator_frames.iter().find(|(k, _)| *k == key) {
                        Some((_, frame)) => Some(frame.clone()),
                        None => {
                            let snap = delta(baseline, &world, InputSeq(0), tick_rate);
                            let frame = frame_snapshot(&mut frames, snap, &mut unencodable);
                            if let Some(frame) = &frame {
                                spectator_frames.push((key, frame.clone()));
                            }
                            frame
                        }
                    };
                    if frame.is_some() {
                        seat.history.put(world, key.map(|(baseline, _)| baseline));
                    }
                    frame
                }
                Role::Player => {
                    let focus = seat.entity.and_then(|_| self.game.focus(player));
                    let centre = focus.map(tickwire_shared::quant::quantize_position);
                    let visible = match centre {
                        Some(centre) if view_radius > 0 => {
                            // Gathered in a buffer of the tick, then copied into the world at
                            // its size: one allocation at most, not one per doubling.
                            nearby.clear();
                            self.grid.query(&self.entities, centre, view_radius, &mut nearby);
                            nearby.as_slice()
                        }
                        _ => self.entities.as_slice(),
                    };
                    let seen = visible.len();
                    let always = |e: &EntityState| self.game.always_visible(e);
                    let visible = within_limit(visible, centre, always, &mut crowd);
                    if visible.len() < seen {
                        unencodable.cut += 1;
                    }
                    let world = self.spare_worlds.world(tick, round, visible);
                    let held = seat.history.baseline(baseline_tick(link));
                    let baseline = as_baseline(&held);
                    let snap = delta(baseline, &world, seat.last_input, tick_rate);
                    let frame = frame_snapshot(&mut frames, snap, &mut unencodable);
                    if frame.is_some() {
                        let replaced = seat.history.put(world, baseline.map(|b| b.world.tick));
                        drop(held);
                        self.spare_worlds.put(replaced);
                    }
                    frame
                }
            };
            // One lock, and one write or one wake-up, per client per tick, whatever it gets.
            // The clock read every 32 seats, not per client.
            if direct && index % 32 == 31 && now.elapsed() > direct_budget {
                direct = false;
            }
            let turn = (index + seated - direct_start) % seated;
            let snapshot = snapshot.map(|frame| (tick, frame));
            let offered = if direct && turn < direct_quota {
                direct_turns += 1;
                match batch.as_mut() {
                    Some(sends) => {
                        let offered =
                            sent.offer_batched(player, link, events.clone(), snapshot, now, sends);
                        if sends.len() >= crate::uring::BATCH_SENDS {
                            sent.send_batch(sends, now, slow_limit);
                        }
                        offered
                    }
                    None => link.offer(events.clone(), snapshot, now),
                }
            } else if defer {
                // Written after the tick, through the ring, by `send_deferred`.
                deferred.push((player, snapshot));
                if index < direct_start {
                    deferred_before_start += 1;
                }
                continue;
            } else {
                link.offer_later(events.clone(), snapshot, now)
            };
            sent.offered(player, &offered, slow_limit);
        }
        if let Some(sends) = batch.as_mut() {
            sent.send_batch(sends, now, slow_limit);
        }
        // Empty now. Its sends borrow the seats' links until it is dropped (one dropped
        // unsettled, by a panic above, settles its link: `DirectSend`'s `Drop`), so it goes
        // before the room is borrowed again.
        drop(batch);
        self.log_unencodable(unencodable, now);
        if !deferred.is_empty() {
            self.deferred_events = events;
        }
        // In the order of turns (see `Room::deferred`).
        deferred.rotate_left(deferred_before_start);
        self.deferred = deferred;
        self.frames = frames;
        self.seat_memory = seat_memory;
        self.direct_quota = next_direct_quota(
            direct_quota,
            direct_turns,
            seated,
            now.elapsed(),
            direct_budget,
            !direct,
        );
        // With `--io-uring` the deferred clients are still to be written: whoever of them is
        // left at the deadline moves the start (`send_deferred`).
        if !defer {
            self.direct_start = (direct_start + direct_quota.min(seated)) % seated;
        }
        self.settle_sends(sent, now);
    }

    /// Publishes what a round of sends put on sockets, and closes the clients it found not
    /// reading.
    fn settle_sends(&mut self, sent: DirectTotals, now: Instant) {
        let metrics = &self.ctx.metrics;
        metrics.frames_skipped.inc_by(sent.skipped);
        metrics.socket_writes.inc_by(sent.writes);
        metrics.bytes_sent.inc_by(sent.bytes);
        metrics.frames_sent.inc_by(sent.frames);
        metrics.uring_batches.inc_by(sent.uring_batches);
        for player in sent.slow {
            self.kick_slow(player, "client made no progress reading its frames", now);
        }
        for player in sent.overflowed {
            self.kick_slow(player, "client is not reading its messages", now);
        }
    }

    /// `--io-uring`: writes the clients the last tick left past its budget of direct writes
    /// ([`Room::deferred`]) through the ring, a batch at a time, yielding before each batch so
    /// that the other rooms of its thread tick on time; whoever is left at `deadline` (the next
    /// tick's), or when `shutdown` changes, goes to their writer task. The connections'
    /// readers (a crowd's acks) run meanwhile on the network threads, in the CPU the kernel
    /// leaves them ([`crate::threads`]), or, with `--room-threads 0`, in these yields.
    ///
    /// Why the whole period and not less: on a core the crowd saturates, the clients handed
    /// to their writers early are written in the rest of the period all the same, at twice
    /// the cost each; writing them through the ring until the next tick is due took 0.91x the
    /// CPU per frame of stopping at three quarters (BENCHMARKS.md, "The crowd's whole period").
    ///
    /// Why after the tick rather than to the writer tasks at once: a writer costs a wake-up,
    /// a task switch and a `writev` per client, a batch one system call per 128 clients;
    /// and rather than in the tick itself: the other rooms of its thread would wait behind it
    /// (and with `--room-threads 0` the readers too, and the acks and frames with them:
    /// BENCHMARKS.md, "io_uring in the server").
    async fn send_deferred(&mut self, deadline: Instant, shutdown: &watch::Receiver<bool>) {
        if self.deferred.is_empty() {
            return;
        }
        let slow_limit = self.config().slow_client_timeout;
        let mut deferred = std::mem::take(&mut self.deferred);
        let events = self.deferred_events.take();
        let mut sent = DirectTotals::default();
        {
            let mut pending = deferred.drain(..);
            let mut seats = SeatCursor::new(&self.seats);
            // In this block: its sends borrow the seats' links until it is dropped (see
            // `DirectSend`'s `Drop`), before the room is borrowed again.
            let mut sends = Vec::with_capacity(crate::uring::BATCH_SENDS);
            let mut late = false;
            let mut first_left = None;
            loop {
                if !late {
                    tokio::task::yield_now().await;
                    late = Instant::now() >= deadline || shutdown.has_changed().unwrap_or(true);
                }
                let now = Instant::now();
                let mut served = 0;
                for (player, snapshot) in pending.by_ref() {
                    let Some((place, seat)) = seats.seat(player) else { continue };
                    let Some(link) = seat.link.as_ref() else { continue };
                    let offered = if late {
                        first_left.get_or_insert(place);
                        link.offer_later(events.clone(), snapshot, now)
                    } else {
                        sent.offer_batched(player, link, events.clone(), snapshot, now, &mut sends)
                    };
                    sent.offered(player, &offered, slow_limit);
                    served += 1;
                    if served == crate::uring::BATCH_SENDS && !late {
                        break;
                    }
                }
                sent.send_batch(&mut sends, now, slow_limit);
                // Late: the loop above handed every client left to its writer.
                if late || served < crate::uring::BATCH_SENDS {
                    break;
                }
            }
            if let Some(place) = first_left {
                self.direct_start = place;
            }
        }
        // The vector's capacity serves the next tick.
        self.deferred = deferred;
        self.settle_sends(sent, Instant::now());
    }

    /// Hands whatever [`Room::send_deferred`] did not write to the clients' writer tasks.
    fn hand_deferred_to_writers(&mut self, now: Instant) {
        if self.deferred.is_empty() {
            return;
        }
        let events = self.deferred_events.take();
        let mut seats = SeatCursor::new(&self.seats);
        let mut first_left = None;
        let mut overflowed = Vec::new();
        for (player, snapshot) in self.deferred.drain(..) {
            let Some((place, seat)) = seats.seat(player) else { continue };
            if let Some(link) = seat.link.as_ref() {
                first_left.get_or_insert(place);
                // A stall is found again by the next tick's offer. An overflow is not: the
                // events frame it refused is gone, and the writer may empty the queue first.
                if link.offer_later(events.clone(), snapshot, now).overflow {
                    overflowed.push(player);
                }
            }
        }
        // They go first next time (see `Room::direct_start`).
        if let Some(place) = first_left {
            self.direct_start = place;
        }
        for player in overflowed {
            self.kick_slow(player, "client is not reading its messages", now);
        }
    }

    fn expire_dropped_seats(&mut self, now: Instant) {
        let grace = self.config().resume_grace;
        let expired: Vec<PlayerId> = self
            .seats
            .iter()
            .filter(|(_, s)| s.dropped_at().is_some_and(|at| now - at >= grace))
            .map(|(&p, _)| p)
            .collect();
        for player in expired {
            self.remove_seat(player, "its resume grace ran out");
        }
    }
}

/// The tick a client's next snapshot is encoded against (PROTOCOL.md 6.1): the newest one its
/// socket took, on a link that delivers in order, while the client keeps acking (its newest
/// ack less than [`ACK_LAG_MAX_TICKS`] behind); else the newest one it acked.
///
/// A client that fails to apply a snapshot acks nothing more, so its ack falls behind and it
/// gets a full snapshot (its ack is then older than the ring of [`HISTORY_TICKS`]) once the
/// ack is [`ACK_LAG_MAX_TICKS`] behind: the same recovery as on a link where only acks count,
/// a second later. A slow reader's acks fall behind the same way, and it gets full snapshots.
fn baseline_tick(link: &ClientLink) -> Option<Tick> {
    let acked = link.acked();
    match (acked, link.taken()) {
        (Some(acked), Some(taken)) if taken.0 > acked.0 => {
            acks_keep_up(acked, taken).then_some(taken)
        }
        _ => acked,
    }
}

/// True while a client whose newest ack is `acked` may get snapshots against `taken`, the
/// newest its socket took: the ack is less than [`ACK_LAG_MAX_TICKS`] behind it. The rule of
/// [`baseline_tick`], and of a fleet's relay acking on its client's behalf.
pub(crate) fn acks_keep_up(acked: Tick, taken: Tick) -> bool {
    taken.0.saturating_sub(acked.0) < ACK_LAG_MAX_TICKS
}

/// What a tick's direct writes put on sockets, for the metrics.
#[derive(Debug, Default)]
struct DirectTotals {
    /// Writes that put bytes on a socket.
    writes: u64,
    bytes: u64,
    /// Frames written whole.
    frames: u64,
    /// Batches submitted through io_uring.
    uring_batches: u64,
    /// Snapshots that replaced one the writer had not taken.
    skipped: u64,
    /// Clients to close: owed bytes without progress for the slow-client timeout.
    slow: Vec<PlayerId>,
    /// Clients to close: their reliable queue is full.
    overflowed: Vec<PlayerId>,
    /// The clients of the batched sends not yet submitted, in their order: each is judged
    /// when its send completes, not by the stall before it.
    in_flight: Vec<PlayerId>,
    /// Reused by every batch of the tick.
    results: Vec<std::io::Result<usize>>,
}

impl DirectTotals {
    /// Counts what `player`'s offer of the tick did, and notes the client for closing when
    /// it has stalled for longer than `slow_limit` or its reliable queue overflowed.
    fn offered(&mut self, player: PlayerId, offered: &Offered, slow_limit: Duration) {
        self.count(offered);
        if offered.stalled_for > slow_limit {
            self.slow.push(player);
        } else if offered.overflow {
            self.overflowed.push(player);
        }
        self.skipped += u64::from(offered.skipped);
    }

    /// [`ClientLink::offer_batched`] for `player`, who is judged by [`Self::send_batch`] when
    /// its frames went into `sends`.
    fn offer_batched<'a>(
        &mut self,
        player: PlayerId,
        link: &'a ClientLink,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
        sends: &mut Vec<DirectSend<'a>>,
    ) -> Offered {
        let before = sends.len();
        let offered = link.offer_batched(events, snapshot, now, sends);
        if sends.len() > before {
            self.in_flight.push(player);
        }
        offered
    }

    fn count(&mut self, offered: &Offered) {
        self.writes += u64::from(offered.wrote > 0);
        self.bytes += offered.wrote as u64;
        self.frames += offered.frames_written;
    }

    /// Writes the batched sends with one submission, settles each link with its result and
    /// judges it: a send that made progress restarted its clock, one that did not leaves it
    /// stalled, closed past `slow_limit` (a completion keeps the tick's reliable frames, so
    /// it never overflows).
    fn send_batch(&mut self, sends: &mut Vec<DirectSend<'_>>, now: Instant, slow_limit: Duration) {
        if sends.is_empty() {
            return;
        }
        debug_assert_eq!(sends.len(), self.in_flight.len());
        self.uring_batches += crate::uring::send_batch(sends, &mut self.results) as u64;
        let mut results = std::mem::take(&mut self.results);
        let mut players = std::mem::take(&mut self.in_flight);
        for ((send, result), player) in
            sends.drain(..).zip(results.drain(..)).zip(players.drain(..))
        {
            let offered = ClientLink::complete_direct(send, result, now);
            self.offered(player, &offered, slow_limit);
        }
        self.results = results;
        self.in_flight = players;
    }
}

/// Next tick's quota of clients the room writes to itself: what fit in the budget this tick
/// (`turns` scaled by how far over the budget the tick went), or more when the tick stayed within
/// it and not everyone of `seated` had a turn. `cut`: the budget ran out during the tick.
fn next_direct_quota(
    quota: usize,
    turns: u64,
    seated: usize,
    elapsed: Duration,
    budget: Duration,
    cut: bool,
) -> usize {
    if cut || elapsed > budget {
        let fit = turns as f64 * budget.as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON);
        (fit as usize).max(1)
    } else if quota < seated {
        quota + quota / 4 + 32
    } else {
        quota
    }
}

/// How often a room logs snapshots it could not encode, at most.
const UNENCODABLE_LOG_EVERY: Duration = Duration::from_secs(10);

/// A tick's snapshots cut to the protocol's limit, or that could not be encoded even so: the
/// room's own state (a game that lists more than 1024 entities in a client's view) caused it,
/// so it is logged rather than the clients disturbed, and once per room every
/// [`UNENCODABLE_LOG_EVERY`], not once per client per tick.
#[derive(Debug, Default)]
struct Unencodable {
    /// Views cut to [`MAX_SNAPSHOT_ENTITIES`] this tick (spectators share one).
    cut: u32,
    /// Clients that got no snapshot this tick for it.
    clients: u32,
    /// The first failure's reason.
    why: Option<String>,
}

/// What a client is sent of `visible` (sorted by id, as the room keeps its entities), at most
/// [`MAX_SNAPSHOT_ENTITIES`]: all of it when it fits; past that, those `always` says everyone
/// sees ([`Game::always_visible`]), then the entities nearest `centre` (the player's ship: its
/// own, and what it is about to meet), or without one (a spectator) the first by id, so that a
/// game past the protocol's limit shows its clients most of the world rather than nothing.
/// Nearest by distance then id, so the same ones tick after tick.
fn within_limit<'a>(
    visible: &'a [EntityState],
    centre: Option<QVec2>,
    always: impl Fn(&EntityState) -> bool,
    crowd: &'a mut Vec<EntityState>,
) -> &'a [EntityState] {
    if visible.len() <= MAX_SNAPSHOT_ENTITIES {
        return visible;
    }
    crowd.clear();
    crowd.extend_from_slice(visible);
    let kept_first = |e: &EntityState| {
        let distance = centre.map_or(0, |centre| {
            let (dx, dy) = (
                i64::from(e.pos.x) - i64::from(centre.x),
                i64::from(e.pos.y) - i64::from(centre.y),
            );
            dx * dx + dy * dy
        });
        (!always(e), distance, e.id.0)
    };
    crowd.select_nth_unstable_by_key(MAX_SNAPSHOT_ENTITIES - 1, kept_first);
    crowd.truncate(MAX_SNAPSHOT_ENTITIES);
    crowd.sort_unstable_by_key(|e| e.id.0);
    crowd
}

/// Frames a snapshot by itself (one buffer, shareable); `None` (counted in `unencodable`)
/// when it could not be encoded.
fn frame_snapshot(
    frames: &mut FrameBuilder,
    snapshot: Result<Snapshot, EncodeError>,
    unencodable: &mut Unencodable,
) -> Option<Bytes> {
    let why = match snapshot {
        Ok(snapshot) => {
            if frames.push(&ServerMessage::Snapshot(snapshot)) {
                return Some(frames.finish());
            }
            "it exceeds the message size limit".to_string()
        }
        Err(e) => e.to_string(),
    };
    unencodable.clients += 1;
    unencodable.why.get_or_insert(why);
    None
}

impl<G: Game> Room<G> {
    /// Closes every client with `close`, ends their seats (resume tokens forgotten) and takes
    /// the room out of the server and the directory, so the next join of its name opens a new
    /// one.
    fn close_everyone(&mut self, close: CloseRequest) {
        for seat in self.take_seats().into_values() {
            if let Some(link) = &seat.link {
                link.close(close.clone());
            }
            self.release(&seat);
            // Their connections' Leave goes to a room that is gone: count them out here.
            self.ctx.metrics.clients_of(seat.role).dec();
        }
        self.ctx.close_room_if(&self.shared, || true);
    }

    fn count_out(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.ctx.metrics.rooms.dec();
        }
    }
}

impl<G: Game> Room<G> {
    /// Logs this tick's snapshots that could not be encoded, unless logged within
    /// [`UNENCODABLE_LOG_EVERY`].
    fn log_unencodable(&mut self, unencodable: Unencodable, now: Instant) {
        if unencodable.cut == 0 && unencodable.why.is_none() {
            return;
        }
        if self.unencodable_logged.is_some_and(|at| now - at < UNENCODABLE_LOG_EVERY) {
            return;
        }
        self.unencodable_logged = Some(now);
        if unencodable.cut > 0 {
            warn!(
                views = unencodable.cut,
                "the game's world is past the protocol's limit of 1024 entities in a client's \
                 view: players get the 1024 nearest their ship, spectators (and players without \
                 a focus) the first 1024 by id; \
                 logged at most every 10 s"
            );
        }
        let Some(why) = unencodable.why else { return };
        warn!(
            clients = unencodable.clients,
            error = %why,
            "could not encode this tick's snapshots for some clients, who get none: the game's \
             world is past the protocol's limits (at most 1024 entities in a client's view); \
             logged at most every 10 s"
        );
    }
}

impl<G: Game> Drop for Room<G> {
    /// A room whose task panics (a bug in the game, most likely) must not leave its clients
    /// connected to nothing: each is closed with 1011, its resume token forgotten, and the
    /// room taken out of the directory so matchmaking stops choosing it. The rest of the
    /// server goes on (tokio contains the panic to this task).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        error!("room crashed; closing its clients with 1011");
        self.close_everyone(CloseRequest {
            code: 1011,
            reason: "internal error: the room stopped".into(),
            kick: None,
        });
        self.count_out();
    }
}

/// The last tick a room runs. A tick is a u32 on the wire and a delta's baseline comes before
/// its tick, so past this every client's snapshots would stop: the room closes its clients
/// instead (`Kick { ShuttingDown }`, 1001), and they join a new room of the same name. That
/// is 414 days at `--tick-rate 120`, 4.5 years at 30.
const LAST_TICK: u32 = u32::MAX;

/// Spawns a room task running `game` and returns its handle.
pub fn spawn<G: Game>(
    ctx: &Arc<ServerContext>,
    name: RoomName,
    game: G,
) -> (mpsc::Sender<RoomCommand>, Arc<RoomShared>) {
    let shared = Arc::new(RoomShared::new(name, ctx.config.room_capacity));
    let (tx, rx) = mpsc::channel(ROOM_COMMAND_CAPACITY);
    let mut room = Room::new(shared.clone(), ctx.clone(), game);
    let bounds = room.game.bounds();
    if !playfield_fits_the_wire(bounds) {
        // Not refused: the game may keep its entities where the wire reaches. Said once, as a
        // position past it reaches every client clamped, without a word.
        warn!(
            room = %name.as_str(),
            width = bounds.width,
            height = bounds.height,
            "the game's playfield is larger than positions on the wire reach (0 to 2047.9 \
             units an axis): entities past that reach clients clamped to its edge"
        );
    }
    ctx.metrics.rooms.inc();
    room.counted = true;
    ctx.room_threads.spawn(ctx.tasks.track_future(room.run(rx, ctx.shutdown.clone())));
    (tx, shared)
}

/// Whether every position of a playfield of `bounds` reaches clients as it is: a quantized
/// position is an `i16` of 1/16 units, so an axis ends at 2047.9375.
fn playfield_fits_the_wire(bounds: tickwire_shared::WorldBounds) -> bool {
    let reach = f32::from(i16::MAX) / tickwire_shared::quant::POSITION_SCALE;
    f32::from(bounds.width.max(bounds.height)) <= reach.ceil()
}

#[cfg(test)]
mod tests {
    //! The room driven directly, without sockets or a runtime: time is an argument.
    use super::*;
    /// The address test clients join from.
    const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    use crate::game::arena::{Arena, ArenaConfig};
    use tickwire_shared::codec::decode_server;
    use tickwire_shared::delta::WorldHistory;
    use tickwire_shared::{RoundState, WorldBounds};

    #[test]
    fn a_playfield_past_what_positions_reach_on_the_wire_is_told() {
        let fits = |width, height| playfield_fits_the_wire(WorldBounds { width, height });
        assert!(fits(2048, 2048), "the arena's largest");
        assert!(fits(800, 600));
        assert!(!fits(4000, 800), "x past 2047.9 would be clamped");
        assert!(!fits(800, 2049));
        // The wire's reach, as the codec quantizes it.
        let edge = tickwire_shared::quant::quantize_position(glam::Vec2::new(2047.9375, 0.0));
        assert_eq!(edge.x, i16::MAX);
    }

    #[test]
    fn the_direct_write_quota_shrinks_to_what_fits_and_grows_back() {
        let ms = Duration::from_millis;
        let budget = ms(16);
        // 4,000 turns took 32 ms: half of them fit.
        assert_eq!(next_direct_quota(usize::MAX, 4000, 5000, ms(32), budget, true), 2000);
        // Within the budget, not everyone had a turn: a quarter more (and at least 32).
        assert_eq!(next_direct_quota(2000, 2000, 5000, ms(10), budget, false), 2532);
        assert_eq!(next_direct_quota(0, 0, 10, ms(1), budget, false), 32);
        // Everyone fits: unchanged.
        assert_eq!(next_direct_quota(usize::MAX, 100, 100, ms(1), budget, false), usize::MAX);
        // Never below one, whatever the tick cost.
        assert_eq!(next_direct_quota(10, 0, 5000, ms(100), budget, true), 1);
    }

    #[test]
    fn a_players_world_reuses_the_one_its_history_let_go_when_nobody_else_holds_it() {
        let round =
            RoundState { round: 1, phase: tickwire_shared::RoundPhase::Playing, seconds_left: 9 };
        let entity = |id| EntityState {
            id: EntityId(id),
            kind: 0,
            pos: Default::default(),
            vel: Default::default(),
            heading: 0,
            flags: 1,
            value: 0,
        };
        let mut spares = SpareWorlds::default();
        let first = spares.world(Tick(1), round, &[entity(1), entity(2)]);
        let address = Arc::as_ptr(&first);
        spares.put(Some(first));
        let reused = spares.world(Tick(2), round, &[entity(3)]);
        assert_eq!(Arc::as_ptr(&reused), address, "the spare was reused");
        assert_eq!((reused.tick, &reused.entities[..]), (Tick(2), &[entity(3)][..]));

        // Held elsewhere (another client's baseline): not kept.
        let shared = reused.clone();
        spares.put(Some(reused));
        assert!(spares.worlds.is_empty());
        drop(shared);
        // Much larger than needed: not reused, a fresh world instead.
        let large = spares.world(Tick(3), round, &[entity(1); 200]);
        spares.put(Some(large));
        let small = spares.world(Tick(4), round, &[entity(1)]);
        assert!(small.entities.capacity() < 200);
        assert!(spares.worlds.is_empty(), "the large one was let go");
        // At most `CAP` kept.
        for tick in 0..10 {
            spares.put(Some(Arc::new(World { tick: Tick(tick), round, entities: Vec::new() })));
        }
        assert_eq!(spares.worlds.len(), SpareWorlds::CAP);
    }

    /// A room of `capacity` seats running `game`, with the default configuration.
    /// The rooms' clients all join from [`LOCALHOST`], as many as a test needs, as from one
    /// machine with its per-address caps raised.
    const PER_IP: u32 = 1000;

    fn scripted_room(capacity: u16, game: Scripted) -> Room<Scripted> {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig {
            seed: Some(3),
            max_connections_per_ip: PER_IP,
            ..ServerConfig::default()
        };
        let ctx = ServerContext::new(config, rx);
        Room::new(Arc::new(RoomShared::new(RoomName::truncated("t"), capacity)), ctx, game)
    }

    fn room(configure: impl FnOnce(&mut ServerConfig)) -> Room<Arena> {
        let mut config = ServerConfig {
            seed: Some(3),
            max_connections_per_ip: PER_IP,
            ..ServerConfig::default()
        };
        configure(&mut config);
        let (_tx, rx) = watch::channel(false);
        let ctx = ServerContext::new(config, rx);
        let shared = Arc::new(RoomShared::new(RoomName::truncated("t"), ctx.config.room_capacity));
        Room::new(shared, ctx, Arena::new(ArenaConfig::default(), 3))
    }

    fn join<G: Game>(
        room: &mut Room<G>,
        role: Role,
        resume: Option<ResumeToken>,
        now: Instant,
    ) -> (Arc<ClientLink>, Result<Joined, JoinRefused>) {
        let (link, request) = join_request(role, resume);
        let (reply, mut answer) = oneshot::channel();
        room.handle(RoomCommand::Join { request, reply }, now);
        (link, answer.try_recv().expect("a join is answered at once"))
    }

    /// A request for a seat of `role`, from a new link on this machine.
    fn join_request(role: Role, resume: Option<ResumeToken>) -> (Arc<ClientLink>, JoinRequest) {
        let link = Arc::new(ClientLink::new());
        let request = JoinRequest {
            role,
            name: Name::new(),
            resume,
            link: link.clone(),
            client: LOCALHOST,
            reservation: None,
        };
        (link, request)
    }

    fn messages(link: &ClientLink) -> (Vec<ServerMessage>, Option<CloseRequest>) {
        let batch = link.take_batch();
        let decoded = batch
            .frames()
            .flat_map(|frames| crate::frame::payloads(frames))
            .map(|b| decode_server(b).expect("decodes"))
            .collect();
        (decoded, batch.close)
    }

    /// The events among `msgs`.
    fn events(msgs: &[ServerMessage]) -> Vec<EventKind> {
        msgs.iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) => Some(e.kind),
                _ => None,
            })
            .collect()
    }

    /// The events among `msgs`, each with its tick.
    fn stamped(msgs: &[ServerMessage]) -> Vec<(Tick, EventKind)> {
        msgs.iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) => Some((e.tick, e.kind)),
                _ => None,
            })
            .collect()
    }

    fn welcome(msgs: &[ServerMessage]) -> Welcome {
        match msgs.first() {
            Some(ServerMessage::Welcome(w)) => *w,
            other => panic!("expected Welcome first, got {other:?}"),
        }
    }

    fn snapshot(msgs: &[ServerMessage]) -> tickwire_shared::Snapshot {
        msgs.iter()
            .find_map(|m| match m {
                ServerMessage::Snapshot(s) => Some(s.clone()),
                _ => None,
            })
            .expect("a snapshot")
    }

    /// The arena with a plugged-in game's faults and events, as a test asks.
    struct Scripted {
        arena: Arena,
        /// Its world step panics.
        panics_in_step: bool,
        /// Removing a player panics.
        panics_in_remove: bool,
        /// Its players' focus panics.
        panics_in_focus: bool,
        /// Players reported in an impact (twice) every step, instead of the arena's own; no
        /// rumble of its own.
        bumped: Vec<PlayerId>,
        /// Reports every entity twice.
        doubled: bool,
        /// Entities of its own it adds to the arena's (ids from 500,000, on a grid).
        crowded: u32,
        /// Scores it reports instead of the arena's.
        scores: Vec<(PlayerId, u16)>,
        /// `scores` from its next step on (a round that starts in it zeroes them).
        scores_after_step: Option<Vec<(PlayerId, u16)>>,
    }

    fn scripted() -> Scripted {
        Scripted {
            arena: Arena::new(ArenaConfig::default(), 3),
            panics_in_step: false,
            panics_in_remove: false,
            panics_in_focus: false,
            bumped: Vec::new(),
            doubled: false,
            crowded: 0,
            scores: Vec::new(),
            scores_after_step: None,
        }
    }

    impl Game for Scripted {
        fn bounds(&self) -> WorldBounds {
            self.arena.bounds()
        }
        fn add_player(&mut self, player: PlayerId) -> EntityId {
            self.arena.add_player(player)
        }
        fn remove_player(&mut self, player: PlayerId) {
            assert!(!self.panics_in_remove, "a bug in the game");
            self.arena.remove_player(player)
        }
        fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
            self.arena.set_input(player, input)
        }
        fn step(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
            assert!(!self.panics_in_step, "a bug in the game");
            self.arena.step(dt, events);
            if let Some(scores) = self.scores_after_step.take() {
                self.scores = scores;
            }
            if !self.bumped.is_empty() {
                events.retain(|e| !matches!(e, GameEvent::Impact { .. }));
                for &player in &self.bumped {
                    events.push(GameEvent::Impact { player, strength: 200 });
                    events.push(GameEvent::Impact { player, strength: 90 });
                }
            }
        }
        fn entities(&self, out: &mut Vec<EntityState>) {
            self.arena.entities(out);
            if self.doubled {
                out.extend_from_within(..);
            }
            // A grid of them, 20 units apart, from (100, 100).
            out.extend((0..self.crowded).map(|i| EntityState {
                id: EntityId(500_000 + i),
                kind: 9,
                pos: tickwire_shared::QVec2 {
                    x: (100 + (i % 64) as i16 * 20) * 16,
                    y: (100 + (i / 64) as i16 * 20) * 16,
                },
                vel: tickwire_shared::QVec2 { x: 0, y: 0 },
                heading: 0,
                flags: 0,
                value: 0,
            }));
        }
        fn round(&self) -> RoundState {
            self.arena.round()
        }
        fn focus(&self, player: PlayerId) -> Option<glam::Vec2> {
            assert!(!self.panics_in_focus, "a bug in the game");
            self.arena.focus(player)
        }
        fn score(&self, player: PlayerId) -> Option<u16> {
            let scripted = self.scores.iter().find(|(p, _)| *p == player);
            self.arena.score(player).map(|own| scripted.map_or(own, |&(_, score)| score))
        }
        fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
            let feedback = self.arena.feedback(player)?;
            let own = self.bumped.is_empty();
            Some(if own { feedback } else { ControllerFeedback { rumble: 0, ..feedback } })
        }
    }

    #[test]
    fn a_game_that_reports_an_entity_twice_still_sends_snapshots_clients_apply() {
        let mut room = scripted_room(8, Scripted { doubled: true, ..scripted() });
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let w = welcome(&messages(&link).0);
        let mut history = WorldHistory::new(w.tick_rate);
        for step in 0..3u64 {
            room.tick(t0 + Duration::from_millis(33 * step));
            let snap = snapshot(&messages(&link).0);
            let world = history.apply(&snap).expect("a snapshot the client can apply");
            let own = world.entities.iter().filter(|e| Some(e.id) == w.entity).count();
            assert_eq!(own, 1, "its ship once");
            link.record_ack(snap.header.tick);
        }
        drop(joined);
    }

    /// Past the protocol's 1024 entities in a view, what the game says everyone sees (a far
    /// goal) is kept before the nearest, for players and spectators alike.
    #[test]
    fn a_cut_view_keeps_what_everyone_sees() {
        let entity = |id: u32, x: f32| EntityState {
            id: EntityId(id),
            kind: 1,
            pos: tickwire_shared::quant::quantize_position(glam::Vec2::new(x, 10.0)),
            vel: Default::default(),
            heading: 0,
            flags: 0,
            value: 0,
        };
        // 1,100 near the origin by id, and the goal far off with the highest id.
        let mut visible: Vec<_> = (0..1100).map(|id| entity(id, (id % 100) as f32)).collect();
        visible.push(entity(5000, 2000.0));
        let centre = Some(tickwire_shared::quant::quantize_position(glam::Vec2::ZERO));
        let goal = |e: &EntityState| e.id.0 == 5000;
        for centre in [centre, None] {
            let mut crowd = Vec::new();
            let kept = within_limit(&visible, centre, goal, &mut crowd);
            assert_eq!(kept.len(), MAX_SNAPSHOT_ENTITIES);
            assert!(kept.iter().any(goal), "the goal, {centre:?}");
            assert!(kept.is_sorted_by_key(|e| e.id.0));
            let mut crowd = Vec::new();
            let cut = within_limit(&visible, centre, |_| false, &mut crowd);
            assert!(!cut.iter().any(goal), "without it, the farthest and last goes");
        }
    }

    /// A game whose world is past the protocol's 1024 entities: each client gets the 1024 it
    /// most needs (a player those nearest its ship, its own among them; a spectator the first
    /// by id) rather than nothing, and the log says so once every 10 s, not once per client
    /// per tick.
    #[test]
    fn a_world_past_the_protocol_s_limit_is_cut_to_it_and_logged_once_a_while() {
        let (warnings, _log) = crate::testlog::count_warnings();
        let game = Scripted { crowded: MAX_SNAPSHOT_ENTITIES as u32, ..scripted() };
        // The player sees the whole field (`--view-radius 0`), as `hill` runs: all of it is
        // in its view, not only the part within the radius.
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { seed: Some(3), view_radius: 0, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, rx);
        let mut room = Room::new(Arc::new(RoomShared::new(RoomName::truncated("t"), 8)), ctx, game);
        let t0 = Instant::now();
        let watchers: Vec<_> = (0..3).map(|_| join(&mut room, Role::Spectator, None, t0)).collect();
        let (player, joined) = join(&mut room, Role::Player, None, t0);
        let w = welcome(&messages(&player).0);
        let mut history = WorldHistory::new(w.tick_rate);
        let mut watched: Vec<_> = watchers.iter().map(|_| WorldHistory::new(w.tick_rate)).collect();
        for step in 0..30u64 {
            room.tick(t0 + Duration::from_millis(33 * step));
            for ((link, _), history) in watchers.iter().zip(&mut watched) {
                let snap = snapshot(&messages(link).0);
                let world = history.apply(&snap).expect("a spectator's snapshot applies");
                let first: Vec<u32> =
                    room.entities.iter().take(MAX_SNAPSHOT_ENTITIES).map(|e| e.id.0).collect();
                let sent: Vec<u32> = world.entities.iter().map(|e| e.id.0).collect();
                assert_eq!(sent, first, "the first 1024 of the room's entities, by id");
                link.record_ack(snap.header.tick);
            }
            let snap = snapshot(&messages(&player).0);
            let world = history.apply(&snap).expect("the player's snapshot applies");
            assert_eq!(world.entities.len(), MAX_SNAPSHOT_ENTITIES);
            let ship = world.get(w.entity.unwrap()).expect("its own ship among them").pos;
            // Nothing left out is nearer its ship than what it got.
            let distance = |e: &EntityState| {
                let (dx, dy) = (i64::from(e.pos.x - ship.x), i64::from(e.pos.y - ship.y));
                dx * dx + dy * dy
            };
            let farthest_sent = world.entities.iter().map(distance).max().unwrap();
            let nearest_left = room
                .entities
                .iter()
                .filter(|e| world.get(e.id).is_none())
                .map(distance)
                .min()
                .expect("some left out");
            assert!(farthest_sent <= nearest_left, "{farthest_sent} > {nearest_left}");
            player.record_ack(snap.header.tick);
        }
        assert_eq!(warnings.load(Ordering::Relaxed), 1, "4 clients, 30 ticks: one line");
        room.tick(t0 + Duration::from_secs(11));
        assert_eq!(warnings.load(Ordering::Relaxed), 2, "logged again after 10 s");
        drop(joined);
    }

    #[test]
    fn a_controller_rumbles_for_its_own_impacts_only_at_their_strength() {
        // Impacts of players 5, 2 and 9, out of order and repeated.
        let bumped = vec![PlayerId(5), PlayerId(2), PlayerId(9)];
        let mut room = scripted_room(8, Scripted { bumped, ..scripted() });
        let t0 = Instant::now();
        let controllers: Vec<_> = (0..4)
            .map(|_| {
                let (link, joined) = join(&mut room, Role::Controller, None, t0);
                (link, joined.unwrap().player)
            })
            .collect();
        room.tick(t0);
        for (link, player) in &controllers {
            let feedback = messages(link)
                .0
                .into_iter()
                .find_map(|m| match m {
                    ServerMessage::ControllerFeedback(f) => Some(f),
                    _ => None,
                })
                .expect("feedback");
            // Each hit twice, at 200 then 90: the hardest one's strength.
            let hit = [2, 5, 9].contains(&player.0);
            let rumble = if hit { 200 } else { 0 };
            assert_eq!(feedback.rumble, rumble, "player {}: {feedback:?}", player.0);
        }
    }

    #[test]
    fn a_game_that_panics_as_a_player_leaves_leaves_no_seat_counted() {
        let mut room = scripted_room(4, Scripted { panics_in_remove: true, ..scripted() });
        let ctx = room.ctx.clone();
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let joined = joined.unwrap();
        let token = welcome(&messages(&link).0).resume_token;
        assert_eq!(ctx.token_room(&token), Some(RoomName::truncated("t")));
        let (other, _) = join(&mut room, Role::Player, None, t0);
        let leave = RoomCommand::Leave { player: joined.player, link, how: Departure::Left };
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            room.handle(leave, t0);
        }));
        assert!(crashed.is_err(), "the game's panic unwinds through the room");
        assert_eq!(ctx.metrics.clients_of(Role::Player).get(), 0, "both counted out");
        assert_eq!(ctx.token_room(&token), None, "the leaver's token forgotten");
        assert_eq!(other.take_batch().close.map(|c| c.code), Some(1011));
    }

    #[test]
    fn a_room_that_panics_closes_its_clients_with_1011() {
        let mut room = scripted_room(4, Scripted { panics_in_step: true, ..scripted() });
        let ctx = room.ctx.clone();
        let t0 = Instant::now();
        let (link, joined) = {
            let link = Arc::new(ClientLink::new());
            let (reply, mut answer) = oneshot::channel();
            let request = JoinRequest {
                role: Role::Player,
                name: Name::new(),
                resume: None,
                link: link.clone(),
                client: LOCALHOST,
                reservation: None,
            };
            room.handle(RoomCommand::Join { request, reply }, t0);
            (link, answer.try_recv().expect("answered"))
        };
        assert!(joined.is_ok());
        let _ = messages(&link);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || room.tick(t0)));
        assert!(crashed.is_err(), "the game's panic unwinds through the room");
        let (_, close) = messages(&link);
        let close = close.expect("the client is closed");
        assert_eq!(close.code, 1011);
        assert!(close.reason.contains("internal error"), "{}", close.reason);
        assert_eq!(ctx.metrics.clients_of(Role::Player).get(), 0, "counted out of the gauge");
    }

    /// With `--io-uring`, a tick that panics after a client's frames went into its batch of
    /// sends and before the batch was submitted: the send, never completed, must not leave
    /// that client's link in flight, where its writer takes nothing, not even the room's 1011
    /// (the client would get silence, and its writer and socket would never end).
    #[tokio::test]
    async fn a_room_that_panics_with_a_batched_send_out_still_closes_its_clients_with_1011() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { seed: Some(3), io_uring: true, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, rx);
        let shared = Arc::new(RoomShared::new(RoomName::truncated("t"), 4));
        let mut room = Room::new(shared, ctx, Scripted { panics_in_focus: true, ..scripted() });
        let t0 = Instant::now();
        // Seated first: its frames are in the tick's batch when the player's focus panics.
        let (spectator, client) = spectators_on_sockets(&mut room, 1, t0).await.remove(0);
        let (player, joined) = join(&mut room, Role::Player, None, t0);
        joined.unwrap();
        let roles: Vec<Role> = room.seats.values().map(|seat| seat.role).collect();
        assert_eq!(roles, [Role::Spectator, Role::Player], "the spectator's turn comes first");
        let _ = messages(&player);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || room.tick(t0)));
        assert!(crashed.is_err(), "the game's panic unwinds through the room");
        assert!(received(&client).is_empty(), "the batch was never submitted");
        let (msgs, close) = messages(&spectator);
        let close = close.expect("the spectator is closed, not left in flight");
        assert_eq!(close.code, 1011);
        assert_eq!(snapshot(&msgs).header.tick, Tick(1), "the tick's frames went to its writer");
        assert_eq!(messages(&player).1.map(|c| c.code), Some(1011));
    }

    #[test]
    fn a_room_that_ran_its_last_tick_sends_its_clients_to_a_new_one() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        joined.unwrap();
        let _ = messages(&link);
        room.tick = Tick(LAST_TICK - 1);
        room.tick(t0);
        let (msgs, close) = messages(&link);
        assert_eq!(snapshot(&msgs).header.tick, Tick(LAST_TICK), "the last tick is played");
        assert_eq!(close, None);
        assert!(!room.spent);

        room.tick(t0 + Duration::from_millis(33));
        let (msgs, close) = messages(&link);
        assert!(!msgs.iter().any(|m| matches!(m, ServerMessage::Snapshot(_))), "no tick past it");
        let close = close.expect("closed");
        assert_eq!(close.code, 1001);
        assert_eq!(close.kick.map(|k| k.reason), Some(KickReason::ShuttingDown));
        assert!(room.spent && room.seats.is_empty());
        assert_eq!(room.ctx.metrics.clients_of(Role::Player).get(), 0, "counted out");
    }

    /// A draining node's match plays its round out and shows its scoreboard; when the next
    /// round would start, everyone is told to join again (elsewhere) and the room ends.
    #[test]
    fn a_draining_nodes_room_ends_its_match_when_the_next_round_would_start() {
        let mut room = room(|_| {});
        let config =
            ArenaConfig { round_secs: 1.0, intermission_secs: 0.5, ..ArenaConfig::default() };
        room.game = Arena::new(config, 3);
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        joined.unwrap();
        room.ctx.start_draining();
        assert_eq!(room.ctx.metrics.draining.get(), 1);
        let mut phases = Vec::new();
        let mut tick = 0;
        let close = loop {
            tick += 1;
            assert!(tick < 200, "the match never ended: {phases:?}");
            room.tick(t0 + Duration::from_millis(33 * tick));
            let (msgs, close) = messages(&link);
            if let Some(ServerMessage::Snapshot(s)) = msgs.last() {
                phases.push(s.header.round.map(|r| r.phase));
            }
            if let Some(close) = close {
                break close;
            }
        };
        assert!(
            phases.contains(&Some(tickwire_shared::RoundPhase::Intermission)),
            "the scoreboard was shown first: {phases:?}"
        );
        assert_eq!(close.code, 1001);
        assert_eq!(close.kick.map(|k| k.reason), Some(KickReason::ShuttingDown));
        assert!(close.reason.contains("match is over"), "{}", close.reason);
        assert!(room.spent && room.seats.is_empty());
        // About a round and an intermission: 45 ticks at 30 Hz, not the drain's timeout.
        assert!((40..=50).contains(&tick), "ended at tick {tick}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_room_ends_its_task_and_is_counted_out_once() {
        let mut room = room(|_| {});
        room.ctx.metrics.rooms.inc();
        room.counted = true;
        let ctx = room.ctx.clone();
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        joined.unwrap();
        room.tick = Tick(LAST_TICK - 1);
        let (_commands, rx) = mpsc::channel(8);
        let (_stop, shutdown) = watch::channel(false);
        tokio::time::timeout(Duration::from_secs(5), room.run(rx, shutdown))
            .await
            .expect("the room's task ended");
        assert_eq!(link.take_batch().close.map(|c| c.code), Some(1001));
        assert_eq!(ctx.metrics.rooms.get(), 0);
        assert_eq!(ctx.metrics.clients_of(Role::Player).get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_room_shut_down_counts_its_seats_out() {
        let mut room = room(|_| {});
        room.ctx.metrics.rooms.inc();
        room.counted = true;
        let ctx = room.ctx.clone();
        let t0 = Instant::now();
        for role in [Role::Player, Role::Spectator] {
            join(&mut room, role, None, t0).1.unwrap();
        }
        let (_commands, rx) = mpsc::channel(8);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(room.run(rx, shutdown));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        assert_eq!(ctx.metrics.rooms.get(), 0);
        assert_eq!(ctx.metrics.clients_of(Role::Player).get(), 0);
        assert_eq!(ctx.metrics.clients_of(Role::Spectator).get(), 0);
    }

    /// A draining node opens no room, not even one whose name a late joiner asks for after the
    /// room ended its match there: the joiner is told to try again, and is placed elsewhere.
    #[tokio::test]
    async fn a_draining_node_opens_no_room_but_joins_the_ones_it_has() {
        let (_stop, shutdown) = watch::channel(false);
        let ctx =
            ServerContext::new(ServerConfig { seed: Some(3), ..ServerConfig::default() }, shutdown);
        let named = |name: &str| tickwire_shared::RoomRequest::Named(RoomName::truncated(name));
        let (_running, held) = ctx.find_room(&named("running"), None, false).expect("opened");
        drop(held);
        ctx.start_draining();
        assert!(matches!(
            ctx.find_room(&named("new"), None, false),
            Err(crate::context::FindRoomError::Draining)
        ));
        assert!(matches!(
            ctx.find_room(&tickwire_shared::RoomRequest::Any, None, false),
            Ok((room, _)) if room.shared.name.as_str() == "running"
        ));
        assert!(ctx.find_room(&named("running"), None, false).is_ok(), "its own rooms play on");
    }

    #[tokio::test]
    async fn at_the_room_limit_an_empty_room_makes_way_for_a_new_one() {
        let (_stop, shutdown) = watch::channel(false);
        let config = ServerConfig { seed: Some(3), max_rooms: 2, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, shutdown);
        let named = |name: &str| tickwire_shared::RoomRequest::Named(RoomName::truncated(name));
        // Opened and left at once: empty, nobody on the way in.
        drop(ctx.find_room(&named("a"), None, false).expect("opened"));
        drop(ctx.find_room(&named("b"), None, false).expect("opened"));
        let (_c, held) = ctx.find_room(&named("c"), None, false).expect("a made way");
        assert!(
            !ctx.has_room(&RoomName::truncated("a")) && ctx.has_room(&RoomName::truncated("b"))
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while ctx.metrics.rooms.get() != 2 {
            assert!(Instant::now() < deadline, "the evicted room's task did not end");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A room someone is on the way into is in use: held there, "b" makes way, then none.
        let (_d, held_d) = ctx.find_room(&named("d"), None, false).expect("b made way");
        assert!(matches!(
            ctx.find_room(&named("e"), None, false),
            Err(crate::context::FindRoomError::TooManyRooms)
        ));
        assert_eq!(ctx.rooms_in_use(), 2);
        drop((held, held_d));
        assert_eq!(ctx.rooms_in_use(), 0);
        // The name an evicted room left is free for a new room of its own.
        drop(ctx.find_room(&named("a"), None, false).expect("a again"));
        assert!(ctx.has_room(&RoomName::truncated("a")));
    }

    #[tokio::test]
    async fn spectators_open_rooms_only_while_a_quarter_of_the_limit_holds_no_players() {
        let (_stop, shutdown) = watch::channel(false);
        let config = ServerConfig { seed: Some(3), max_rooms: 8, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, shutdown);
        let named = |name: &str| tickwire_shared::RoomRequest::Named(RoomName::truncated(name));
        let refusal = Err(crate::context::FindRoomError::TooManyAudienceRooms);
        assert_eq!(ctx.audience_room_limit(), 2);
        // Two audiences wait in rooms of their own (their places held, as a seat would be).
        let (_a, _in_a) = ctx.find_room(&named("a"), None, true).expect("a opened");
        let (_b, in_b) = ctx.find_room(&named("b"), None, true).expect("b opened");
        assert_eq!(ctx.find_room(&named("c"), None, true).map(|_| ()), refusal);
        // Matchmaking seats a spectator in a room open already.
        let (any, _) = ctx.find_room(&tickwire_shared::RoomRequest::Any, None, true).expect("any");
        assert!(["a", "b"].contains(&any.shared.name.as_str()));
        // Players still open rooms, and spectators join rooms open already.
        let (_p, _player) = ctx.find_room(&named("p"), None, false).expect("a match opens");
        drop(ctx.find_room(&named("p"), None, true).expect("its audience joins"));
        drop(ctx.find_room(&named("a"), None, true).expect("a waiting audience grows"));
        // A player on the way into "a" makes it a match: another audience may wait.
        let (_to_a, _player_in_a) = ctx.find_room(&named("a"), None, false).expect("joins a");
        let (_c, _in_c) = ctx.find_room(&named("c"), None, true).expect("c opened");
        assert_eq!(ctx.find_room(&named("d"), None, true).map(|_| ()), refusal);
        // An audience that left gives its room's place back.
        drop(in_b);
        drop(ctx.find_room(&named("d"), None, true).expect("d opened"));
    }

    #[tokio::test]
    async fn a_resume_on_its_way_in_keeps_its_room_from_making_way() {
        let (_stop, shutdown) = watch::channel(false);
        let config = ServerConfig { seed: Some(3), max_rooms: 1, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, shutdown);
        let named = |name: &str| tickwire_shared::RoomRequest::Named(RoomName::truncated(name));
        let a = RoomName::truncated("a");
        drop(ctx.find_room(&named("a"), None, false).expect("opened"));
        // A resume found its token, and the seat expired before its join arrived: the room
        // is empty, but someone is on the way in.
        let token = ResumeToken([7; 16]);
        ctx.register_token(token, &a);
        let (_handle, held) = ctx.find_room(&named("a"), Some(&token), false).expect("resumed");
        assert!(matches!(
            ctx.find_room(&named("b"), None, false),
            Err(crate::context::FindRoomError::TooManyRooms)
        ));
        assert!(ctx.has_room(&a));
        drop(held);
        drop(ctx.find_room(&named("b"), None, false).expect("a made way once nobody was coming"));
        assert!(!ctx.has_room(&a));
    }

    #[tokio::test]
    async fn a_room_shut_down_leaves_the_registry_and_the_gauge() {
        let (stop, shutdown) = watch::channel(false);
        let ctx =
            ServerContext::new(ServerConfig { seed: Some(3), ..ServerConfig::default() }, shutdown);
        let name = RoomName::truncated("down");
        let request = tickwire_shared::RoomRequest::Named(name);
        drop(ctx.find_room(&request, None, false).expect("opened"));
        assert!(ctx.has_room(&name));
        assert_eq!(ctx.metrics.rooms.get(), 1);
        stop.send(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ctx.has_room(&name) || ctx.metrics.rooms.get() != 0 {
            assert!(Instant::now() < deadline, "still registered after its task ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[test]
    fn join_welcomes_then_snapshots_become_deltas_once_acked() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let joined = joined.unwrap();
        let (msgs, _) = messages(&link);
        let w = welcome(&msgs);
        assert_eq!(w.player_id, joined.player);
        let mut history = WorldHistory::new(w.tick_rate);
        room.tick(t0);
        let first = snapshot(&messages(&link).0);
        assert_eq!(first.header.baseline, None);
        history.apply(&first).unwrap();
        link.record_ack(first.header.tick);
        room.tick(t0 + Duration::from_millis(33));
        let second = snapshot(&messages(&link).0);
        assert_eq!(second.header.baseline, Some(first.header.tick));
        assert_eq!(second.header.reference, None, "the full snapshot had no baseline");
        history.apply(&second).unwrap();
        link.record_ack(second.header.tick);
        room.tick(t0 + Duration::from_millis(66));
        let third = snapshot(&messages(&link).0);
        assert_eq!(third.header.baseline, Some(second.header.tick));
        assert_eq!(third.header.reference, Some(first.header.tick), "extrapolated");
        assert_eq!(history.apply(&third).map(|w| w.tick), Ok(third.header.tick));
    }

    #[test]
    fn on_an_in_order_link_snapshots_are_against_what_the_socket_took_while_the_client_acks() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let tick_at = |n: u64| t0 + Duration::from_millis(33 * n);
        let (link, _) = join(&mut room, Role::Spectator, None, t0);
        link.set_in_order();
        let mut history = WorldHistory::new(welcome(&messages(&link).0).tick_rate);
        room.tick(tick_at(0));
        let full = snapshot(&messages(&link).0);
        assert_eq!(full.header.baseline, None, "nothing acked yet");
        history.apply(&full).unwrap();
        link.record_ack(full.header.tick);
        // From here on the client does not ack: each snapshot is against the one before it,
        // which the writer took, and extrapolates from the one before that.
        let mut previous = full.header.tick;
        let mut before = None;
        for n in 1..=u64::from(ACK_LAG_MAX_TICKS) {
            room.tick(tick_at(n));
            let next = snapshot(&messages(&link).0);
            assert_eq!(next.header.baseline, Some(previous), "tick {n}");
            assert_eq!(next.header.reference, before, "tick {n}");
            history.apply(&next).unwrap();
            (before, previous) = (Some(previous), next.header.tick);
        }
        // The ack is `ACK_LAG_MAX_TICKS` behind what was taken: the client may have failed to
        // apply one, so it gets a full snapshot.
        let end = u64::from(ACK_LAG_MAX_TICKS);
        room.tick(tick_at(end + 1));
        let full_again = snapshot(&messages(&link).0);
        assert_eq!(full_again.header.baseline, None);
        history.apply(&full_again).unwrap();
        // Acking again resumes deltas against what was taken.
        link.record_ack(full_again.header.tick);
        room.tick(tick_at(end + 2));
        let resumed = snapshot(&messages(&link).0);
        assert_eq!(resumed.header.baseline, Some(full_again.header.tick));
        history.apply(&resumed).unwrap();
        // A snapshot the writer never took (replaced in the slot) is no baseline.
        room.tick(tick_at(end + 3));
        room.tick(tick_at(end + 4));
        let after_skip = snapshot(&messages(&link).0);
        assert_eq!(after_skip.header.baseline, Some(resumed.header.tick), "not the skipped one");
        assert_eq!(history.apply(&after_skip).map(|w| w.tick), Ok(after_skip.header.tick));
    }

    #[test]
    fn the_baseline_is_what_was_taken_while_the_ack_keeps_up() {
        let link = ClientLink::new();
        assert_eq!(baseline_tick(&link), None, "nothing acked, nothing taken");
        link.record_ack(Tick(5));
        assert_eq!(baseline_tick(&link), Some(Tick(5)), "not in order: acks alone count");
        link.set_in_order();
        let take = |tick: u32| {
            link.offer_snapshot(Tick(tick), Bytes::from_static(b"s"), Instant::now());
            let _ = link.take_batch();
        };
        take(20);
        assert_eq!(baseline_tick(&link), Some(Tick(20)));
        link.record_ack(Tick(25));
        assert_eq!(baseline_tick(&link), Some(Tick(25)), "an ack past what was taken wins");
        // Further behind than the ring of worlds: still what was taken, the baseline.
        let past_ring = 25 + HISTORY_TICKS as u32 + 8;
        take(past_ring);
        assert_eq!(baseline_tick(&link), Some(Tick(past_ring)));
        let last = 25 + ACK_LAG_MAX_TICKS - 1;
        take(last);
        assert_eq!(baseline_tick(&link), Some(Tick(last)));
        take(last + 1);
        assert_eq!(baseline_tick(&link), None, "the ack fell too far behind: a full snapshot");
    }

    #[test]
    fn resume_reattaches_the_seat_and_replaces_the_old_connection() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (old, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        let token = welcome(&messages(&old).0).resume_token;
        let (new, again) = join(&mut room, Role::Player, Some(token), t0);
        let again = again.unwrap();
        assert_eq!(again.player, player);
        // What a joiner that gave up before the answer gives back: a seat to keep for the
        // token's next resume, not one to end.
        assert!(again.resumed);
        let w = welcome(&messages(&new).0);
        assert!(w.resumed);
        let (_, close) = messages(&old);
        let close = close.expect("the old connection is closed");
        assert_eq!(close.code, 1008);
        assert_eq!(close.kick.map(|k| k.reason), Some(KickReason::Replaced));
        // A stale leave from the replaced connection does not end the resumed seat.
        room.handle(RoomCommand::Leave { player, link: old, how: Departure::Left }, t0);
        assert_eq!(room.shared.players(), 1);
        let (_, wrong_role) = join(&mut room, Role::Spectator, Some(token), t0);
        assert_eq!(wrong_role.unwrap_err(), JoinRefused::RoleMismatch);
        // A token no seat holds gets a fresh seat, which nobody can resume: given back, it
        // ends rather than coasting as a ghost for the grace.
        let (_, fresh) = join(&mut room, Role::Player, Some(ResumeToken([7; 16])), t0);
        assert!(!fresh.unwrap().resumed);
    }

    /// A seat of `role` named `name`, joined from `client`.
    fn join_from(
        room: &mut Room<Arena>,
        role: Role,
        name: &str,
        client: &str,
        now: Instant,
    ) -> (Arc<ClientLink>, PlayerId) {
        let link = Arc::new(ClientLink::new());
        let (reply, mut answer) = oneshot::channel();
        let request = JoinRequest {
            role,
            name: Name::truncated(name),
            resume: None,
            link: link.clone(),
            client: client.parse().unwrap(),
            reservation: None,
        };
        room.handle(RoomCommand::Join { request, reply }, now);
        let player = answer.try_recv().expect("answered").expect("seated").player;
        (link, player)
    }

    fn seats_of(room: &mut Room<Arena>, now: Instant) -> Vec<SeatInfo> {
        let (reply, mut answer) = oneshot::channel();
        room.handle(RoomCommand::Seats { reply }, now);
        answer.try_recv().expect("answered at once")
    }

    fn remove(room: &mut Room<Arena>, who: Removal, now: Instant) -> Vec<SeatInfo> {
        let (reply, mut answer) = oneshot::channel();
        let message = crate::moderation::removal_message("spam");
        room.handle(RoomCommand::Remove { who, message, ban: None, reply }, now);
        answer.try_recv().expect("answered at once").seats
    }

    #[test]
    fn the_bans_a_node_learns_remove_every_seat_they_cover_in_one_pass_each_told_of_its_ban() {
        use crate::moderation::{AddressKey, BanTarget};
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (ada, ada_id) = join_from(&mut room, Role::Player, "Ada", "203.0.113.9", t0);
        let (bob, bob_id) = join_from(&mut room, Role::Spectator, "bob", "198.51.100.7", t0);
        let (carl, _) = join_from(&mut room, Role::Player, "carl", "198.51.100.8", t0);
        let bans = &room.ctx.bans;
        let minute = Duration::from_secs(60);
        // As the fleet's directory names a network.
        let ada_net = BanTarget::from_field("a:203.0.113.0/24").expect("a network");
        let replace = crate::moderation::Existing::Replace;
        bans.ban(ada_net, minute * 10, "bot farm", t0, replace).unwrap();
        let elsewhere = BanTarget::Address(AddressKey::of("192.0.2.1".parse().unwrap()));
        bans.ban(elsewhere, minute, "someone else", t0, replace).unwrap();
        bans.ban(BanTarget::Name("bob".into()), minute * 120, "cheating", t0, replace).unwrap();
        let message = KickText::new();
        let (reply, mut answer) = oneshot::channel();
        room.handle(RoomCommand::Remove { who: Removal::Banned, message, ban: None, reply }, t0);
        let mut removed: Vec<u16> =
            answer.try_recv().expect("answered").seats.iter().map(|s| s.player).collect();
        removed.sort();
        assert_eq!(removed, [ada_id.0, bob_id.0]);
        let told = |link: &Arc<ClientLink>| messages(link).1.expect("closed").kick.expect("a Kick");
        assert_eq!(told(&ada).message.as_str(), "banned for 10 more minutes: bot farm");
        assert_eq!(told(&bob).message.as_str(), "banned for 2 more hours: cheating");
        assert!(messages(&carl).1.is_none(), "no ban covers carl");
        assert_eq!(seats_of(&mut room, t0).len(), 1);
    }

    #[test]
    fn an_operator_sees_the_seats_and_removes_them_for_good() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (ada, ada_id) = join_from(&mut room, Role::Player, "Ada", "203.0.113.9", t0);
        let token = welcome(&messages(&ada).0).resume_token;
        let (bob, bob_id) = join_from(&mut room, Role::Player, "bob", "2001:db8::7", t0);
        let (fan, fan_id) = join_from(&mut room, Role::Spectator, "fan", "2001:db8::8", t0);
        let (_, carl_id) = join_from(&mut room, Role::Controller, "carl", "198.51.100.1", t0);
        room.tick(t0);
        let _ = messages(&fan);

        let seats = seats_of(&mut room, t0);
        assert_eq!(seats.len(), 4);
        let ada_seat = seats.iter().find(|s| s.player == ada_id.0).unwrap();
        assert_eq!(
            (ada_seat.name.as_str(), ada_seat.role, ada_seat.score, ada_seat.connected),
            ("Ada", "player", Some(0), true)
        );
        assert_eq!(ada_seat.address, "203.0.113.9".parse::<IpAddr>().unwrap());
        let fan_seat = seats.iter().find(|s| s.player == fan_id.0).unwrap();
        assert_eq!((fan_seat.role, fan_seat.score), ("spectator", None));
        // A dropped seat is listed as such.
        room.handle(
            RoomCommand::Leave { player: bob_id, link: bob.clone(), how: Departure::Dropped },
            t0,
        );
        let bob_seat = seats_of(&mut room, t0).into_iter().find(|s| s.player == bob_id.0).unwrap();
        assert!(!bob_seat.connected);

        // One seat: its client is told why and closed; the seat and its token go.
        let removed = remove(&mut room, Removal::Player(ada_id), t0);
        assert_eq!(removed.iter().map(|s| s.player).collect::<Vec<_>>(), [ada_id.0]);
        let (_, close) = messages(&ada);
        let close = close.expect("closed");
        assert_eq!(close.code, 1008);
        let kick = close.kick.expect("with a Kick");
        assert_eq!(kick.reason, KickReason::Removed);
        assert_eq!(kick.message.as_str(), "removed by the operator: spam");
        assert_eq!(room.shared.players(), 2);
        // Its connection's own Leave brings nothing back; its token's resume is refused
        // before it reaches a room (the token is remembered with the message).
        room.handle(RoomCommand::Leave { player: ada_id, link: ada, how: Departure::Dropped }, t0);
        assert_eq!(room.ctx.bans.removed_token(&token, t0), Some(kick.message));
        let (_, resumed) = join(&mut room, Role::Player, Some(token), t0);
        assert!(!resumed.unwrap().resumed, "the token no longer holds a seat");
        // Everyone hears that the player left.
        room.tick(t0);
        assert!(events(&messages(&fan).0).contains(&EventKind::Left { player: ada_id }));
        assert_eq!(remove(&mut room, Removal::Player(ada_id), t0), [], "gone already");

        // By address: an IPv6 /64 covers the spectator and the dropped player.
        let key = crate::moderation::AddressKey::of("2001:db8::1".parse().unwrap());
        let mut removed: Vec<u16> =
            remove(&mut room, Removal::Address(key), t0).iter().map(|s| s.player).collect();
        removed.sort();
        assert_eq!(removed, [bob_id.0, fan_id.0]);
        assert_eq!(room.shared.spectators.load(Ordering::Relaxed), 0);
        // By name, as name_key compares.
        let removed = remove(&mut room, Removal::Name(crate::moderation::name_key("CARL ")), t0);
        assert_eq!(removed.iter().map(|s| s.player).collect::<Vec<_>>(), [carl_id.0]);
        assert_eq!(room.shared.controllers.load(Ordering::Relaxed), 0);
        assert_eq!(room.ctx.metrics.clients_removed.get(), 4);

        // Muted: its lines go nowhere until the mute ends or is lifted.
        let (eve, eve_id) = join_from(&mut room, Role::Player, "eve", "203.0.113.60", t0);
        let (fan2, _) = join_from(&mut room, Role::Spectator, "fan2", "203.0.113.61", t0);
        room.tick(t0);
        let _ = (messages(&eve), messages(&fan2));
        let mute = |room: &mut Room<Arena>, until| {
            let (reply, mut answer) = oneshot::channel();
            room.handle(RoomCommand::Mute { player: eve_id, until, reply }, t0);
            answer.try_recv().unwrap().expect("eve's seat").0
        };
        let chat = |room: &mut Room<Arena>, line: &str, at| {
            let text = ChatText::truncated(line);
            room.handle(RoomCommand::Chat { player: eve_id, text }, at);
            room.tick(at);
            events(&messages(&fan2).0)
                .into_iter()
                .filter(|e| matches!(e, EventKind::Chat { .. }))
                .count()
        };
        // (Within a few seconds: clients that write nothing for 10 s are too slow.)
        assert_eq!(mute(&mut room, Some(t0 + Duration::from_secs(2))).muted_secs, Some(2));
        assert_eq!(chat(&mut room, "spam", t0), 0);
        let own = events(&messages(&eve).0);
        assert!(own.iter().any(|e| matches!(e, EventKind::Chat { .. })), "its sender sees it");
        assert_eq!(room.ctx.metrics.chat_muted.get(), 1);
        assert_eq!(chat(&mut room, "spam again", t0 + Duration::from_secs(2)), 1, "it ran out");
        mute(&mut room, Some(t0 + Duration::from_secs(600)));
        assert_eq!(mute(&mut room, None).muted_secs, None, "lifted");
        assert_eq!(chat(&mut room, "sorry", t0 + Duration::from_millis(2200)), 1);

        // With a ban: made before the client is told, which the Kick then says.
        let (dan, dan_id) = join_from(&mut room, Role::Player, "dan", "203.0.113.50", t0);
        let (reply, mut answer) = oneshot::channel();
        let message = crate::moderation::removal_message("spam");
        let ban = Some((Duration::from_secs(600), "spam".to_owned()));
        room.handle(RoomCommand::Remove { who: Removal::Player(dan_id), message, ban, reply }, t0);
        let done = answer.try_recv().unwrap();
        assert_eq!(done.seats.len(), 1);
        assert_eq!(done.bans.len(), 1, "the address only: no join tokens vouch for the name");
        assert_eq!(done.bans[0].address.as_deref(), Some("203.0.113.50"));
        let kick = messages(&dan).1.and_then(|c| c.kick).unwrap();
        assert_eq!(kick.message.as_str(), "banned for 10 more minutes: spam");
        assert!(room.ctx.bans.check("203.0.113.50".parse().unwrap(), "x", t0).is_some());
    }

    /// Matchmaking's promise of a place ends as the room counts the seat, not when the
    /// connection gets round to reading the answer: on a busy server the connection's thread
    /// runs behind the room's, and a seat counted twice meanwhile sent later joiners to new
    /// rooms.
    #[test]
    fn a_join_gives_its_reserved_place_back_as_the_room_seats_it() {
        let mut room = room(|config| config.room_capacity = 2);
        let t0 = Instant::now();
        // Joins whose answers the connection has not read yet: it runs behind.
        let join_reserved = |room: &mut Room<Arena>| {
            let link = Arc::new(ClientLink::new());
            let (reply, answer) = oneshot::channel();
            let reservation = Some(Reservation::new(room.shared.clone()));
            let request = JoinRequest {
                role: Role::Player,
                name: Name::new(),
                resume: None,
                link,
                client: LOCALHOST,
                reservation,
            };
            room.handle(RoomCommand::Join { request, reply }, t0);
            answer
        };
        let _first = join_reserved(&mut room);
        assert_eq!(room.shared.players(), 1);
        assert!(room.shared.has_unreserved_player_room(), "one seat of two taken, none promised");
        let _second = join_reserved(&mut room);
        assert!(!room.shared.has_unreserved_player_room(), "both seats taken");
        // A refused join gives its place back too.
        let mut third = join_reserved(&mut room);
        assert_eq!(third.try_recv().unwrap().unwrap_err(), JoinRefused::Full);
        assert_eq!(room.shared.reserved.load(Ordering::Relaxed), 0, "no promise outlives its join");
    }

    /// The race a oneshot cannot close: the joiner gives up after the room checked it was
    /// still waiting and before the answer reaches it. A resume must not have kicked the
    /// connection it would replace (whose client may well be playing on it), nor count.
    #[test]
    fn a_resume_whose_joiner_is_gone_by_the_answer_leaves_the_old_connection_its_seat() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (old, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        let token = welcome(&messages(&old).0).resume_token;
        let new = Arc::new(ClientLink::new());
        let request = JoinRequest {
            role: Role::Player,
            name: Name::new(),
            resume: Some(token),
            link: new,
            client: LOCALHOST,
            reservation: None,
        };
        let mut answered = None;
        room.answer_join(
            request,
            |answer| {
                answered = Some(answer.as_ref().map(|j| j.resumed).ok());
                Err(answer)
            },
            t0,
        );
        assert_eq!(answered, Some(Some(true)), "it was a resume");
        assert_eq!(room.ctx.metrics.resumes.get(), 0, "not counted: nobody resumed");
        let (_, close) = messages(&old);
        assert!(close.is_none(), "the old connection is not kicked: {close:?}");
        let seat = &room.seats[&player];
        assert!(seat.link.as_ref().is_some_and(|link| Arc::ptr_eq(link, &old)), "its seat again");
        // It plays on: its next snapshot (full, its history was cleared) comes to it.
        room.tick(t0 + Duration::from_millis(40));
        assert!(messages(&old).0.iter().any(|m| matches!(m, ServerMessage::Snapshot(_))));
        // And a resume whose joiner waits replaces it, counted.
        let (_, again) = join(&mut room, Role::Player, Some(token), t0);
        assert!(again.unwrap().resumed);
        assert_eq!(room.ctx.metrics.resumes.get(), 1);
        assert_eq!(messages(&old).1.map(|c| c.code), Some(1008));
        // One seat given, to a player: a resume is not a join.
        let joins = |role| {
            let labels = crate::metrics::RoleLabels { role };
            room.ctx.metrics.joins.get_or_create(&labels).get()
        };
        assert_eq!(joins(crate::metrics::RoleLabel::Player), 1);
        assert_eq!(joins(crate::metrics::RoleLabel::Spectator), 0);
    }

    #[test]
    fn the_seat_indexes_follow_joins_resumes_and_leaves() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let joined = |room: &mut Room<Arena>, role, resume| {
            let (link, joined) = join(room, role, resume, t0);
            let joined = joined.unwrap();
            // The roster, as the next tick sends it.
            room.send_rosters(t0);
            let msgs = messages(&link).0;
            (link, joined, welcome(&msgs).resume_token, events(&msgs))
        };
        let (a_link, a, a_token, _) = joined(&mut room, Role::Player, None);
        let (_, s, s_token, _) = joined(&mut room, Role::Spectator, None);
        let (_, c, _, _) = joined(&mut room, Role::Controller, None);
        let (_, b, b_token, _) = joined(&mut room, Role::Player, None);
        // A tick, so that the ships are in a roster (not left to their pending `Joined`).
        room.tick(t0);
        // The spectator's token resumes the spectator, not a ship.
        let (_, again, _, roster) = joined(&mut room, Role::Spectator, Some(s_token));
        assert_eq!((again.player, again.resumed), (s.player, true));
        let named: Vec<_> = roster
            .iter()
            .filter_map(|e| match e {
                EventKind::Joined { player, .. } => Some(*player),
                _ => None,
            })
            .collect();
        assert_eq!(named, [a.player, c.player, b.player], "the ships, in seat order");
        room.handle(
            RoomCommand::Leave { player: a.player, link: a_link, how: Departure::Left },
            t0,
        );
        let (_, newcomer, _, roster) = joined(&mut room, Role::Player, Some(a_token));
        assert!(!newcomer.resumed, "a left seat's token resumes nothing");
        assert_ne!(newcomer.player, a.player);
        assert!(
            !roster
                .iter()
                .any(|e| matches!(e, EventKind::Joined { player, .. } if *player == a.player)),
            "the left player is off the roster: {roster:?}"
        );
        let (_, again, _, _) = joined(&mut room, Role::Player, Some(b_token));
        assert_eq!((again.player, again.resumed), (b.player, true));
    }

    #[test]
    fn a_goodbye_from_a_client_that_stopped_reading_still_ends_its_seat() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        let token = welcome(&messages(&link).0).resume_token;
        // Owed bytes it never takes, then its close 1000: the tick before its leave arrives
        // finds it stalled past the slow-client timeout.
        room.tick(t0);
        link.client_closed();
        room.tick(t0 + room.config().slow_client_timeout + Duration::from_secs(1));
        room.handle(RoomCommand::Leave { player, link, how: Departure::Left }, t0);
        assert_eq!(room.shared.players(), 0, "the seat ended with the goodbye");
        assert_eq!(room.ctx.token_room(&token), None, "its token resumes nothing");
    }

    #[test]
    fn a_join_whose_connection_stopped_waiting_takes_no_seat() {
        let mut room = room(|c| c.resume_grace = Duration::from_secs(10));
        let t0 = Instant::now();
        let spectators_before = room.ctx.spectators_admitted();
        // A busy room gets to the joins after their connections gave up (the reply dropped).
        let gave_up = |room: &mut Room<Arena>, role, resume| {
            let (link, request) = join_request(role, resume);
            let (reply, answer) = oneshot::channel();
            drop(answer);
            room.handle(RoomCommand::Join { request, reply }, t0);
            link
        };
        gave_up(&mut room, Role::Player, None);
        gave_up(&mut room, Role::Spectator, None);
        assert_eq!((room.shared.players(), room.shared.spectators()), (0, 0));
        assert_eq!(room.ctx.spectators_admitted(), spectators_before, "no spectator place taken");
        assert!(room.seats.is_empty(), "no ghost seat");

        // A resume that gave up leaves the seat waiting for its owner, not on the dead link.
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        let token = welcome(&messages(&link).0).resume_token;
        room.handle(RoomCommand::Leave { player, link, how: Departure::Dropped }, t0);
        let dead = gave_up(&mut room, Role::Player, Some(token));
        let seat = &room.seats[&player];
        assert!(seat.link.as_ref().is_none_or(|l| !Arc::ptr_eq(l, &dead)));
        assert_eq!(seat.dropped_at(), Some(t0), "still dropped, its grace running");
        let (_, again) = join(&mut room, Role::Player, Some(token), t0);
        assert_eq!(again.unwrap().player, player, "its owner still resumes it");
    }

    #[test]
    fn an_address_keeps_as_many_seats_for_a_resume_as_it_may_hold_sessions() {
        let mut room = room(|c| {
            c.resume_grace = Duration::from_secs(10);
            c.slow_client_timeout = Duration::from_secs(60);
            c.max_connections_per_ip = 2;
        });
        let t0 = Instant::now();
        let refused = |ctx: &ServerContext| {
            let labels = crate::metrics::ReasonLabels { reason: "held_per_ip" };
            ctx.metrics.refused.get_or_create(&labels).get()
        };
        let drop_seat = |room: &mut Room<Arena>, player, link: &Arc<ClientLink>, now| {
            let command =
                RoomCommand::Leave { player, link: link.clone(), how: Departure::Dropped };
            room.handle(command, now);
        };
        let mut seats = Vec::new();
        for second in 0..3 {
            let at = t0 - Duration::from_secs(3 - second);
            let (link, joined) = join(&mut room, Role::Player, None, at);
            let token = welcome(&messages(&link).0).resume_token;
            seats.push((joined.unwrap().player, link, token));
        }
        // Dropped one after another from one address: two wait, the third ends at once (so a
        // loop of joins and drops cannot fill the room with seats nobody takes back).
        drop_seat(&mut room, seats[0].0, &seats[0].1, t0);
        drop_seat(&mut room, seats[1].0, &seats[1].1, t0);
        assert_eq!((room.shared.players(), refused(&room.ctx)), (3, 0));
        drop_seat(&mut room, seats[2].0, &seats[2].1, t0);
        assert_eq!(room.shared.players(), 2, "the third seat ended");
        assert!(!room.seats.contains_key(&seats[2].0));
        assert_eq!(refused(&room.ctx), 1, "counted as refused, reason held_per_ip");
        // A resume takes its seat back and frees its place: the next drop is kept again.
        let (resumed, again) = join(&mut room, Role::Player, Some(seats[0].2), t0);
        assert_eq!(again.unwrap().player, seats[0].0);
        let (fresh_link, fresh) = join(&mut room, Role::Player, None, t0);
        let fresh = fresh.unwrap().player;
        drop_seat(&mut room, fresh, &fresh_link, t0);
        assert_eq!(room.seats[&fresh].dropped_at(), Some(t0), "kept: a place was free again");
        // Seats whose grace ends give their places back too.
        let t1 = t0 + Duration::from_secs(11);
        room.tick(t1);
        assert_eq!(room.shared.players(), 1, "the waiting seats ended");
        drop_seat(&mut room, seats[0].0, &resumed, t1);
        assert_eq!(room.seats[&seats[0].0].dropped_at(), Some(t1), "kept after the others' grace");
        assert_eq!(refused(&room.ctx), 1);
    }

    #[test]
    fn an_address_takes_new_seats_at_a_burst_then_at_its_cap_a_minute_but_resumes_and_watches_freely()
     {
        let mut room = room(|c| {
            c.resume_grace = Duration::from_secs(10);
            c.max_connections_per_ip = 3;
        });
        let t0 = Instant::now();
        let mut tokens = Vec::new();
        // The burst: twice the cap.
        for _ in 0..6 {
            let (link, joined) = join(&mut room, Role::Player, None, t0);
            tokens.push((
                joined.unwrap().player,
                link.clone(),
                welcome(&messages(&link).0).resume_token,
            ));
        }
        // Past it: refused for now (1013, and its Joined never reaches the room).
        let (_, refused) = join(&mut room, Role::Controller, None, t0);
        assert!(matches!(refused, Err(JoinRefused::TooFast)), "{refused:?}");
        assert_eq!(room.shared.players(), 6);
        // Not charged: a spectator (counted, not announced) and a resume.
        assert!(join(&mut room, Role::Spectator, None, t0).1.is_ok());
        let (player, link, token) = tokens[0].clone();
        room.handle(RoomCommand::Leave { player, link, how: Departure::Dropped }, t0);
        assert_eq!(join(&mut room, Role::Player, Some(token), t0).1.unwrap().player, player);
        // Then the cap a minute: three, one every 20 s.
        let t1 = t0 + Duration::from_secs(20);
        assert!(join(&mut room, Role::Player, None, t1).1.is_ok());
        assert!(matches!(join(&mut room, Role::Player, None, t1).1, Err(JoinRefused::TooFast)));
    }

    #[test]
    fn a_dropped_seat_waits_for_the_grace_period_then_goes() {
        let mut room = room(|c| c.resume_grace = Duration::from_secs(10));
        let t0 = Instant::now();
        let (link, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        room.handle(RoomCommand::Leave { player, link, how: Departure::Dropped }, t0);
        room.tick(t0 + Duration::from_secs(9));
        assert_eq!(room.shared.players(), 1, "seat kept within the grace period");
        room.tick(t0 + Duration::from_secs(11));
        assert_eq!(room.shared.players(), 0, "seat gone after it");
    }

    #[test]
    fn a_client_that_takes_no_frames_is_closed_after_the_slow_timeout() {
        let mut room = room(|c| c.slow_client_timeout = Duration::from_secs(2));
        let t0 = Instant::now();
        let (link, _) = join(&mut room, Role::Spectator, None, t0);
        let _ = link.take_batch();
        for i in 0..20 {
            room.tick(t0 + Duration::from_millis(100 * i));
        }
        assert!(!link.is_closing(), "still within the timeout");
        assert_eq!(room.ctx.metrics.frames_skipped.get(), 19, "each new frame replaced the last");
        room.tick(t0 + Duration::from_millis(2200));
        let (_, close) = messages(&link);
        assert_eq!(close.map(|c| c.code), Some(1008));
        assert_eq!(room.shared.spectators.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn capacity_is_enforced_per_role() {
        let mut room = room(|c| {
            c.room_capacity = 1;
            c.max_spectators = 1;
        });
        let t0 = Instant::now();
        assert!(join(&mut room, Role::Controller, None, t0).1.is_ok());
        assert_eq!(join(&mut room, Role::Player, None, t0).1.unwrap_err(), JoinRefused::Full);
        assert!(join(&mut room, Role::Spectator, None, t0).1.is_ok());
        assert_eq!(join(&mut room, Role::Spectator, None, t0).1.unwrap_err(), JoinRefused::Full);
    }

    #[test]
    fn inputs_apply_one_a_tick_in_order_and_echo_their_sequence() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (link, _) = join(&mut room, Role::Player, None, t0);
        let _ = link.take_batch();
        let input = |seq| tickwire_shared::Input {
            seq: InputSeq(seq),
            x: 127,
            y: 0,
            buttons: tickwire_shared::Buttons(0),
        };
        link.record_input(input(3));
        link.record_input(input(2));
        room.tick(t0);
        assert_eq!(snapshot(&messages(&link).0).header.last_input, InputSeq(3));
        link.record_input(input(3));
        room.tick(t0);
        assert_eq!(snapshot(&messages(&link).0).header.last_input, InputSeq(3));
        // Two that came together (network jitter) get a tick each, in order: a client's
        // prediction replays its unapplied inputs one tick each.
        link.record_input(input(4));
        link.record_input(input(5));
        room.tick(t0);
        assert_eq!(snapshot(&messages(&link).0).header.last_input, InputSeq(4));
        room.tick(t0);
        assert_eq!(snapshot(&messages(&link).0).header.last_input, InputSeq(5));
    }

    /// A newcomer's roster tells it every player's score, not only their names: its
    /// scoreboard is whole before the ships come into view. The scores are those of its first
    /// snapshot's tick (a round that starts in that tick's step has zeroed them), and a player
    /// joining now is announced at 0.
    #[test]
    fn a_roster_carries_each_players_score_as_of_the_newcomers_first_snapshot() {
        let mut room = scripted_room(8, scripted());
        let t0 = Instant::now();
        let (a, a_joined) = join(&mut room, Role::Player, None, t0);
        let (_c, c_joined) = join(&mut room, Role::Controller, None, t0);
        room.tick(t0);
        let (a_id, c_id) = (a_joined.unwrap().player, c_joined.unwrap().player);
        room.game.scores = vec![(a_id, 4), (c_id, 11)];
        let _ = messages(&a);
        let split = roster_and_news;

        let (newcomer, joined) = join(&mut room, Role::Player, None, t0);
        let (watcher, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(33));
        let newcomer_id = joined.unwrap().player;
        for link in [&newcomer, &watcher] {
            let (roster, news) = split(link);
            assert_eq!(roster, [(a_id, 4), (c_id, 11)], "the roster");
            assert_eq!(news, [(newcomer_id, 0)], "the new player, announced at 0");
        }

        // The step of a spectator's first tick starts a round: its roster says so.
        room.game.scores_after_step = Some(vec![(a_id, 0), (c_id, 0)]);
        let (late, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(66));
        assert_eq!(split(&late).0, [(a_id, 0), (c_id, 0), (newcomer_id, 0)]);
    }

    /// A resumed seat's roster names it too, with its score: a client resuming from a fresh
    /// start (a page reload with the token it kept) knows nothing of itself but its token.
    /// Besides itself, it names the others a spectator's roster names.
    #[test]
    fn a_resumed_seat_s_roster_names_it_with_its_score() {
        let mut room = scripted_room(8, scripted());
        let t0 = Instant::now();
        let (old, joined) = join(&mut room, Role::Player, None, t0);
        let (other, other_joined) = join(&mut room, Role::Player, None, t0);
        room.tick(t0);
        let (me, them) = (joined.unwrap().player, other_joined.unwrap().player);
        room.game.scores = vec![(me, 5), (them, 2)];
        let token = welcome(&messages(&old).0).resume_token;
        let _ = messages(&other);
        let (new, again) = join(&mut room, Role::Player, Some(token), t0);
        assert!(again.unwrap().resumed);
        let (watcher, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(33));
        let expected = [(me, 5), (them, 2)];
        assert_eq!(roster_and_news(&new).0, expected, "the resumed seat, itself included");
        assert_eq!(roster_and_news(&watcher).0, expected, "the same as a spectator's");
    }

    /// The (player, score) of `Joined` events, sorted.
    type Joins = Vec<(PlayerId, u16)>;

    /// What `link` was sent: its roster (up to its `Audience`) and the news after it, each as
    /// the (player, score) of its `Joined` events, sorted.
    fn roster_and_news(link: &ClientLink) -> (Joins, Joins) {
        let kinds = events(&messages(link).0);
        let end = kinds.iter().position(|k| matches!(k, EventKind::Audience { .. })).unwrap();
        let joins = |kinds: &[EventKind]| -> Joins {
            let mut joins: Vec<_> = kinds
                .iter()
                .filter_map(|kind| match *kind {
                    EventKind::Joined { player, score, .. } => Some((player, score)),
                    _ => None,
                })
                .collect();
            joins.sort();
            joins
        };
        (joins(&kinds[..=end]), joins(&kinds[end + 1..]))
    }

    /// A room past the roster's 128 names names its best scorers: the rows a scoreboard shows
    /// first are never the unnamed ones.
    #[test]
    fn a_roster_past_its_size_names_the_best_scorers() {
        let mut room = scripted_room(200, scripted());
        let t0 = Instant::now();
        let seats: Vec<_> = (0..140).map(|_| join(&mut room, Role::Player, None, t0)).collect();
        let players: Vec<PlayerId> =
            seats.iter().map(|(_, joined)| joined.as_ref().unwrap().player).collect();
        room.tick(t0);
        // The last five to join lead.
        let leaders = &players[135..];
        room.game.scores = leaders.iter().zip(50..).map(|(&p, score)| (p, score)).collect();
        let (watcher, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(33));
        let named: Vec<(PlayerId, u16)> = events(&messages(&watcher).0)
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::Joined { player, score, .. } => Some((player, score)),
                _ => None,
            })
            .collect();
        assert_eq!(named.len(), ROSTER_MAX);
        for (&leader, score) in leaders.iter().zip(50..) {
            assert!(named.contains(&(leader, score)), "{leader:?} at {score} is named");
        }

        // A resumed seat no better than the rest is named in its own roster all the same,
        // beside as many others as anyone's: a client counts the others to tell a roster
        // that may have left players out.
        let token = welcome(&messages(&seats[0].0).0).resume_token;
        let (resumed, again) = join(&mut room, Role::Player, Some(token), t0);
        assert!(again.unwrap().resumed);
        room.tick(t0 + Duration::from_millis(66));
        let (roster, _) = roster_and_news(&resumed);
        assert_eq!(roster.len(), ROSTER_MAX + 1, "the others, and itself");
        assert!(roster.contains(&(players[0], 0)), "itself");
        for (&leader, score) in leaders.iter().zip(50..) {
            assert!(roster.contains(&(leader, score)), "{leader:?} at {score} is named");
        }
    }

    #[test]
    fn spectators_are_counted_not_announced_and_a_join_storm_costs_one_frame_per_tick() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (player, _) = join(&mut room, Role::Player, None, t0);
        room.tick(t0);
        let (msgs, _) = messages(&player);
        assert!(
            matches!(
                events(&msgs)[..],
                [EventKind::Audience { spectators: 0 }, EventKind::Joined { .. }]
            ),
            "roster: nobody else; then its own join: {msgs:?}"
        );

        // 500 spectators join between two ticks.
        let crowd: Vec<_> =
            (0..500).map(|_| join(&mut room, Role::Spectator, None, t0).0).collect();
        room.tick(t0 + Duration::from_millis(33));
        let batch = player.take_batch();
        assert_eq!(batch.control.len(), 1, "one events frame for the whole storm");
        let (msgs, _) = {
            let link = ClientLink::new();
            for frame in batch.frames() {
                let _ = link.push_control(frame.clone());
            }
            messages(&link)
        };
        assert_eq!(events(&msgs), [EventKind::Audience { spectators: 500 }]);
        assert!(matches!(msgs.last(), Some(ServerMessage::Snapshot(_))));

        // Every spectator gets the same bytes: the roster, the events buffer and the snapshot
        // are shared.
        let first = crowd[0].take_batch();
        assert_eq!(first.control.len(), 3, "its welcome, its roster, then the tick's events");
        let roster = {
            let link = ClientLink::new();
            let _ = link.push_control(first.control[1].clone());
            events(&messages(&link).0)
        };
        assert!(
            matches!(
                roster[..],
                [
                    EventKind::Joined { role: Role::Player, .. },
                    EventKind::Audience { spectators: 500 }
                ]
            ),
            "its roster names the player and counts the crowd: {roster:?}"
        );
        let (shared_roster, shared_events, shared_snapshot) = (
            first.control[1].as_ptr(),
            first.control[2].as_ptr(),
            first.snapshot.as_ref().unwrap().as_ptr(),
        );
        for link in &crowd[1..499] {
            let batch = link.take_batch();
            assert_eq!(batch.control.len(), 3);
            assert_eq!(batch.control[1].as_ptr(), shared_roster);
            assert_eq!(batch.control[2].as_ptr(), shared_events);
            assert_eq!(batch.snapshot.unwrap().as_ptr(), shared_snapshot);
        }
        let _ = crowd[499].take_batch();

        // Half the crowd leaves at once: still one frame of events per client per tick.
        for (i, link) in crowd.iter().enumerate().take(250) {
            let who = PlayerId(u16::try_from(i).unwrap() + 2);
            room.handle(
                RoomCommand::Leave { player: who, link: link.clone(), how: Departure::Left },
                t0,
            );
        }
        room.tick(t0 + Duration::from_millis(66));
        let batch = crowd[499].take_batch();
        assert_eq!(batch.control.len(), 1);
        let link = ClientLink::new();
        let _ = link.push_control(batch.control[0].clone());
        assert_eq!(events(&messages(&link).0), [EventKind::Audience { spectators: 250 }]);
        assert!(!crowd[499].is_closing(), "nobody reading is closed");
    }

    #[test]
    fn spectators_share_one_snapshot_buffer_and_players_hear_of_players() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (a, _) = join(&mut room, Role::Spectator, None, t0);
        let (b, _) = join(&mut room, Role::Spectator, None, t0);
        let (p, p_joined) = join(&mut room, Role::Player, None, t0);
        room.tick(t0);
        let (a, b, p) = (a.take_batch(), b.take_batch(), p.take_batch());
        let (sa, sb) = (a.snapshot.unwrap(), b.snapshot.unwrap());
        assert_eq!(sa.as_ptr(), sb.as_ptr(), "one buffer, not a copy per spectator");
        // Welcome, roster, the tick's events: the last two shared, the player's roster too.
        let decoded = |frames: &Bytes| {
            let link = ClientLink::new();
            let _ = link.push_control(frames.clone());
            events(&messages(&link).0)
        };
        assert_eq!(a.control.len(), 3);
        assert_eq!(a.control[1].as_ptr(), b.control[1].as_ptr(), "the roster buffer too");
        assert_eq!(a.control[1].as_ptr(), p.control[1].as_ptr());
        assert_eq!(decoded(&a.control[1]), [EventKind::Audience { spectators: 2 }]);
        assert_eq!(a.control[2].as_ptr(), b.control[2].as_ptr(), "the events buffer too");
        let player = p_joined.unwrap().player;
        assert!(
            matches!(
                decoded(&a.control[2])[..],
                [EventKind::Joined { player: p, .. }, EventKind::Audience { spectators: 2 }]
                    if p == player
            ),
            "spectators hear of the player, and are counted, not named"
        );
    }

    /// An event carries the tick of the snapshot it comes before, the first to show its
    /// effect, whether a client's message caused it between ticks (a join, a chat, a leave) or
    /// the tick itself did; a newcomer's roster carries the tick of its first snapshot.
    #[test]
    fn events_carry_the_tick_of_the_snapshot_they_come_before() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (a_link, a) = join(&mut room, Role::Player, None, t0);
        let a = a.unwrap().player;
        room.tick(t0);
        room.tick(t0 + Duration::from_millis(33));
        let _ = messages(&a_link);
        // Between ticks 2 and 3: b joins, a chats, b leaves, w joins to watch.
        let (b_link, b) = join(&mut room, Role::Player, None, t0);
        let b = b.unwrap().player;
        room.handle(RoomCommand::Chat { player: a, text: ChatText::truncated("hi") }, t0);
        room.handle(RoomCommand::Leave { player: b, link: b_link, how: Departure::Left }, t0);
        let (w_link, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(66));
        let msgs = messages(&a_link).0;
        let snapshot_tick = snapshot(&msgs).header.tick;
        assert_eq!(snapshot_tick, Tick(3));
        let ticks = stamped(&msgs);
        assert_eq!(ticks.len(), 4, "joined, chat, left, the audience: {ticks:?}");
        assert!(ticks.iter().all(|(t, _)| *t == snapshot_tick), "{ticks:?}");
        // w's roster (naming a), then the tick's events.
        let msgs = messages(&w_link).0;
        let ticks = stamped(&msgs);
        assert_eq!(ticks.len(), 6, "a, the audience; joined, chat, left, the audience: {ticks:?}");
        assert!(ticks.iter().all(|(t, _)| *t == snapshot_tick), "{ticks:?}");
        assert_eq!(snapshot(&msgs).header.tick, snapshot_tick);
    }

    /// A newcomer hears of each other ship once: one that joined since the last tick is not in
    /// its roster, as its own `Joined` reaches the newcomer with the next tick.
    #[test]
    fn a_ship_that_joined_since_the_last_tick_is_announced_to_a_newcomer_once() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (_, a) = join(&mut room, Role::Player, None, t0);
        let a = a.unwrap().player;
        room.tick(t0);
        let (_, b) = join(&mut room, Role::Player, None, t0);
        let b = b.unwrap().player;
        let (watcher, _) = join(&mut room, Role::Spectator, None, t0);
        room.tick(t0 + Duration::from_millis(33));
        let joined: Vec<_> = events(&messages(&watcher).0)
            .into_iter()
            .filter_map(|e| match e {
                EventKind::Joined { player, .. } => Some(player),
                _ => None,
            })
            .collect();
        assert_eq!(joined, [a, b], "a from the roster, b with the tick, each once");
    }

    /// The chat lines `link` was sent, by sender.
    fn chats_seen(link: &ClientLink) -> Vec<PlayerId> {
        let seen = events(&messages(link).0).into_iter();
        seen.filter_map(|e| match e {
            EventKind::Chat { from, .. } => Some(from),
            _ => None,
        })
        .collect()
    }

    #[test]
    fn the_room_relays_chat_at_its_own_rate() {
        let mut room = room(|c| c.room_chat_rate = 2);
        let t0 = Instant::now();
        let text = ChatText::truncated("hi");
        // Four addresses, each within its own share (one line a second, two back to back).
        let chatting: Vec<_> = (1..=4)
            .map(|i| join_from(&mut room, Role::Player, "p", &format!("10.0.0.{i}"), t0))
            .collect();
        for &(_, player) in &chatting {
            for _ in 0..3 {
                room.handle(RoomCommand::Chat { player, text }, t0);
            }
        }
        room.tick(t0);
        assert_eq!(chats_seen(&chatting[0].0).len(), 4, "a burst of twice the rate, then dropped");
        assert_eq!(room.ctx.metrics.chat_dropped.get(), 8);
    }

    /// Forty sockets of one address, each within its own `--chat-rate`, took the whole room's
    /// chat, and the players' lines were dropped.
    #[test]
    fn one_address_takes_at_most_a_quarter_of_the_rooms_chat() {
        let mut room = room(|c| c.room_chat_rate = 20);
        let t0 = Instant::now();
        let text = ChatText::truncated("spam");
        let (player_link, player) = join_from(&mut room, Role::Player, "ada", "10.0.0.1", t0);
        let crowd: Vec<_> =
            (0..40).map(|_| join_from(&mut room, Role::Spectator, "s", "192.0.2.7", t0)).collect();
        for &(_, flooder) in &crowd {
            room.handle(RoomCommand::Chat { player: flooder, text }, t0);
            room.handle(RoomCommand::Chat { player: flooder, text }, t0);
        }
        room.handle(RoomCommand::Chat { player, text: ChatText::truncated("gg") }, t0);
        room.tick(t0);
        let seen = chats_seen(&player_link);
        assert_eq!(seen.len(), 11, "ten of the crowd's (5 a second, bursts of 10), then ours");
        assert_eq!(seen.last(), Some(&player));
        assert_eq!(room.ctx.metrics.chat_dropped.get(), 70);
    }

    #[test]
    fn the_server_wide_spectator_cap_holds_across_rooms() {
        let (_tx, rx) = watch::channel(false);
        let config =
            ServerConfig { seed: Some(3), max_spectators_total: 3, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, rx);
        let mut rooms: Vec<_> = ["a", "b"]
            .iter()
            .map(|name| {
                let shared = Arc::new(RoomShared::new(RoomName::truncated(name), 32));
                Room::new(shared, ctx.clone(), Arena::new(ArenaConfig::default(), 3))
            })
            .collect();
        let t0 = Instant::now();
        let mut admitted = Vec::new();
        for i in 0..4 {
            let (link, result) = join(&mut rooms[i % 2], Role::Spectator, None, t0);
            admitted.push((link, result));
        }
        assert!(admitted[..3].iter().all(|(_, r)| r.is_ok()));
        assert_eq!(admitted[3].1.as_ref().unwrap_err(), &JoinRefused::Full);
        assert!(join(&mut rooms[1], Role::Player, None, t0).1.is_ok(), "players still join");
        let (link, joined) = admitted.remove(0);
        let player = joined.unwrap().player;
        rooms[0].handle(RoomCommand::Leave { player, link, how: Departure::Left }, t0);
        assert!(join(&mut rooms[1], Role::Spectator, None, t0).1.is_ok(), "a place came free");
    }

    /// `n` spectators whose links write to real sockets (their welcomes taken), and the
    /// clients' ends of those sockets.
    async fn spectators_on_sockets<G: Game>(
        room: &mut Room<G>,
        n: usize,
        now: Instant,
    ) -> Vec<(Arc<ClientLink>, std::net::TcpStream)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut crowd = Vec::new();
        for _ in 0..n {
            let (link, joined) = join(room, Role::Spectator, None, now);
            joined.unwrap();
            // Its Welcome and roster, taken: the tick's frames are what the test is about.
            room.send_rosters(now);
            let _ = messages(&link);
            link.written(now);
            let client =
                tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let socket = listener.accept().await.unwrap().0;
            link.set_direct(crate::socket::SharedTcp::split(socket).1);
            // Read with plain system calls: what a send put on loopback is there at once.
            crowd.push((link, client.into_std().unwrap()));
        }
        crowd
    }

    /// A room with `--io-uring` and `n` spectators on real sockets, and its start time.
    async fn io_uring_crowd(
        n: usize,
    ) -> (Room<Arena>, Instant, Vec<(Arc<ClientLink>, std::net::TcpStream)>) {
        let mut room = room(|c| c.io_uring = true);
        let t0 = Instant::now();
        let crowd = spectators_on_sockets(&mut room, n, t0).await;
        (room, t0, crowd)
    }

    /// The messages a client's socket holds now (whole frames only).
    fn received(mut client: &std::net::TcpStream) -> Vec<ServerMessage> {
        use std::io::Read;
        let mut bytes = vec![0; 64 * 1024];
        let n = match client.read(&mut bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{e}"),
        };
        crate::frame::payloads(&bytes[..n]).map(|b| decode_server(b).expect("decodes")).collect()
    }

    #[tokio::test]
    async fn with_io_uring_the_clients_past_the_budget_are_written_after_the_tick_in_one_batch() {
        let (_stop, running) = watch::channel(false);
        let (mut room, t0, crowd) = io_uring_crowd(5).await;
        // Two clients fit the budget: the other three wait for `send_deferred`, and their
        // writers are not handed anything.
        room.direct_quota = 2;
        room.tick(t0);
        assert_eq!(room.deferred.len(), 3);
        let waiting: Vec<_> =
            crowd.iter().filter(|(_, client)| received(client).is_empty()).collect();
        assert_eq!(waiting.len(), 3, "only the two direct turns were written in the tick");
        for (link, _) in &waiting {
            assert!(link.take_batch().is_empty(), "nothing went to the writer");
        }
        let batches = room.ctx.metrics.uring_batches.get();
        room.send_deferred(Instant::now() + Duration::from_secs(60), &running).await;
        assert!(room.deferred.is_empty());
        assert_eq!(room.ctx.metrics.uring_batches.get(), batches + 1, "one submission for three");
        for (link, client) in &waiting {
            let msgs = received(client);
            assert_eq!(snapshot(&msgs).header.tick, room.tick, "the tick's snapshot arrived");
            assert!(link.take_batch().is_empty(), "nothing left for the writer");
        }
    }

    #[tokio::test]
    async fn deferred_clients_go_to_their_writers_when_the_deadline_has_passed_or_a_tick_comes() {
        let (_stop, running) = watch::channel(false);
        let (mut room, t0, crowd) = io_uring_crowd(4).await;
        room.direct_quota = 1;
        room.tick(t0);
        room.broadcast(EventKind::Audience { spectators: 9 });
        assert_eq!(room.deferred.len(), 3);
        // Past its deadline: the writers take them, in order.
        room.send_deferred(t0, &running).await;
        assert!(room.deferred.is_empty());
        let handed: Vec<_> =
            crowd.iter().filter(|(link, _)| !link.take_batch().is_empty()).collect();
        assert_eq!(handed.len(), 3, "the three deferred clients' frames are their writers'");
        for (_, client) in &handed {
            assert!(received(client).is_empty(), "and the room wrote none of them itself");
        }

        // A tick that finds clients still deferred (no `send_deferred` ran) hands them to
        // their writers before its own frames, events included.
        room.direct_quota = 1;
        room.tick(t0 + Duration::from_millis(33));
        let first_deferred = room.deferred.clone();
        assert_eq!(first_deferred.len(), 3);
        room.direct_quota = 0;
        room.tick(t0 + Duration::from_millis(66));
        for (player, _) in &first_deferred {
            let link = room.seats[player].link.as_ref().unwrap();
            let (msgs, _) = messages(link);
            assert!(
                events(&msgs).contains(&EventKind::Audience { spectators: 9 }),
                "the deferred tick's events were not lost: {msgs:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_deferred_client_with_no_room_for_the_ticks_events_is_closed_when_handed_over() {
        let (mut room, t0, _crowd) = io_uring_crowd(2).await;
        room.direct_quota = 1;
        room.broadcast(EventKind::Audience { spectators: 9 });
        room.tick(t0);
        assert_eq!(room.deferred.len(), 1);
        let player = room.deferred[0].0;
        let link = room.seats[&player].link.clone().unwrap();
        for _ in 0..crate::outbox::CONTROL_QUEUE_CAP {
            link.push_control(Bytes::from_static(b"pong")).unwrap();
        }
        room.hand_deferred_to_writers(t0);
        assert!(!room.seats.contains_key(&player), "the spectator's seat is gone");
        let close = link.take_batch().close.expect("the client is closed");
        assert_eq!(close.code, 1008);
        assert_eq!(close.kick.map(|k| k.reason), Some(KickReason::TooSlow));
    }

    #[tokio::test]
    async fn a_seat_the_tick_closes_does_not_shift_the_deferred_clients_frames() {
        let (_stop, running) = watch::channel(false);
        let (mut room, t0, crowd) = io_uring_crowd(4).await;
        // The first spectator's socket is full since t0 (it reads nothing): the tick that
        // gives it its direct turn past the slow-client timeout finds its send take nothing,
        // and closes its seat.
        let full = Bytes::from(vec![0u8; 16 << 20]);
        assert!(crowd[0].0.offer(None, Some((Tick(0), full)), t0).wrote > 0);
        let late = t0 + room.config().slow_client_timeout + Duration::from_secs(1);
        room.direct_start = 0;
        room.direct_quota = 1;
        room.tick(late);
        assert!(crowd[0].0.is_closing(), "the stalled spectator was closed");
        assert_eq!(room.deferred.len(), 3);
        room.send_deferred(Instant::now() + Duration::from_secs(60), &running).await;
        for (_, client) in &crowd[1..] {
            let msgs = received(client);
            assert_eq!(snapshot(&msgs).header.tick, room.tick, "each got its own snapshot");
        }
    }

    #[tokio::test]
    async fn deferred_clients_are_served_in_the_order_of_their_turns_and_those_left_go_first() {
        let (_stop, running) = watch::channel(false);
        let (mut room, t0, crowd) = io_uring_crowd(6).await;
        let players: Vec<PlayerId> = room.seats.keys().copied().collect();
        let order = |room: &Room<Arena>| -> Vec<PlayerId> {
            room.deferred.iter().map(|(player, _)| *player).collect()
        };
        let handed =
            || -> Vec<usize> { (0..crowd.len()).filter(|&i| writer_took(&crowd[i].0)).collect() };
        // Seats 2 and 3 have the direct turns: the rest wait from seat 4 on, then from seat 0,
        // so seat 1 (the furthest turn), not seat 5, is the one a deadline would leave.
        room.direct_start = 2;
        room.direct_quota = 2;
        room.tick(t0);
        assert_eq!(order(&room), [players[4], players[5], players[0], players[1]]);
        // Across the two runs, every deferred client gets its own snapshot.
        room.send_deferred(Instant::now() + Duration::from_secs(60), &running).await;
        assert!(room.deferred.is_empty());
        for (index, (link, client)) in crowd.iter().enumerate() {
            let msgs = received(client);
            assert_eq!(snapshot(&msgs).header.tick, room.tick, "seat {index} got the tick");
            assert!(link.take_batch().is_empty(), "seat {index}: nothing for the writer");
        }
        // Everyone was written: the turns stay where they were, so every client is written
        // at the same point of the next tick, a period after this one.
        assert_eq!(room.direct_start, 2);
        room.direct_quota = 2;
        room.tick(t0 + Duration::from_millis(33));
        assert_eq!(order(&room), [players[4], players[5], players[0], players[1]]);

        // Past the deadline, the writers of both runs' clients take their frames, and the
        // first of them (seat 4) has the first turn of the next tick.
        room.send_deferred(t0, &running).await;
        assert_eq!(handed(), [0, 1, 4, 5], "every deferred client's, and only theirs");
        assert_eq!(room.direct_start, 4);
        room.direct_quota = 3;
        room.tick(t0 + Duration::from_millis(66));
        assert_eq!(order(&room), [players[1], players[2], players[3]]);

        // A tick that finds clients still deferred (no `send_deferred` ran) hands them to
        // their writers, and gives the first of them (seat 1) its first turn: its writer has
        // not run since, so the room takes its frames back and writes them with the tick's.
        room.direct_quota = 1;
        room.tick(t0 + Duration::from_millis(99));
        assert_eq!(room.direct_start, 1);
        assert_eq!(order(&room), [players[2], players[3], players[4], players[5], players[0]]);
        assert_eq!(handed(), [2, 3], "the other two of the three are still their writers'");
        let msgs = received(&crowd[1].1);
        assert_eq!(snapshot(&msgs).header.tick, room.tick, "seat 1 got this tick's snapshot");
        assert_eq!(
            msgs.iter().filter(|m| matches!(m, ServerMessage::Snapshot(_))).count(),
            1,
            "and not the one its writer left: {msgs:?}"
        );
    }

    #[tokio::test]
    async fn a_crowd_whose_writers_never_run_gets_every_other_tick_from_the_room() {
        // A core the crowd saturates: every other tick the deadline leaves everyone to their
        // writer tasks, and the writers never run (nothing here takes their frames). (That
        // the room's write leaves them owed nothing, so no stall closes them, is
        // `outbox::tests::the_room_writes_what_an_idle_writer_has_not_taken_ahead_of_the_ticks_frames`.)
        let (_stop, running) = watch::channel(false);
        let (mut room, t0, crowd) = io_uring_crowd(3).await;
        let period = room.config().tick_period();
        for k in 0..20 {
            let now = t0 + period * k;
            room.direct_quota = 0;
            room.tick(now);
            if k % 2 == 0 {
                // A deadline already past (`t0`): everyone goes to their writers.
                room.send_deferred(t0, &running).await;
                continue;
            }
            // The next tick's turns come before the writers ran: the room writes what they
            // hold, and this tick's frames after it.
            room.send_deferred(Instant::now() + Duration::from_secs(60), &running).await;
            for (index, (link, client)) in crowd.iter().enumerate() {
                assert!(!link.is_closing(), "tick {k}: seat {index} was closed");
                let msgs = received(client);
                let snapshots = msgs.iter().filter(|m| matches!(m, ServerMessage::Snapshot(_)));
                assert_eq!(snapshots.count(), 1, "tick {k}: seat {index}: {msgs:?}");
                assert_eq!(snapshot(&msgs).header.tick, room.tick, "tick {k}: seat {index}");
            }
        }
    }

    #[tokio::test]
    async fn without_io_uring_the_clients_past_the_quota_have_the_next_ticks_first_turns() {
        let mut room = room(|c| c.io_uring = false);
        let t0 = Instant::now();
        let crowd = spectators_on_sockets(&mut room, 5, t0).await;
        let written = |crowd: &[(Arc<ClientLink>, std::net::TcpStream)]| -> Vec<usize> {
            (0..crowd.len()).filter(|&i| !received(&crowd[i].1).is_empty()).collect()
        };
        let handed = |crowd: &[(Arc<ClientLink>, std::net::TcpStream)]| -> Vec<usize> {
            (0..crowd.len()).filter(|&i| writer_took(&crowd[i].0)).collect()
        };
        room.direct_start = 1;
        room.direct_quota = 3;
        room.tick(t0);
        assert_eq!(written(&crowd), [1, 2, 3], "the room wrote the quota from the start");
        assert_eq!(handed(&crowd), [0, 4], "and left the rest to their writers");
        assert_eq!(room.direct_start, 4, "who have the first turns next");
        room.direct_quota = 3;
        room.tick(t0 + Duration::from_millis(33));
        assert_eq!(written(&crowd), [0, 1, 4]);
        assert_eq!(handed(&crowd), [2, 3]);
        assert_eq!(room.direct_start, 2);
        // Once the quota covers the room, the turns stay put.
        room.direct_quota = usize::MAX;
        for tick in 2..4 {
            room.tick(t0 + Duration::from_millis(33 * tick));
            assert_eq!(written(&crowd), [0, 1, 2, 3, 4]);
            assert_eq!(room.direct_start, 2);
        }
    }

    /// Whether `link`'s writer task, had it run, would have taken frames; it then finishes
    /// writing them, so the room writes to the socket itself again.
    fn writer_took(link: &ClientLink) -> bool {
        let took = !link.take_batch().is_empty();
        link.written(Instant::now());
        took
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_deferred_writes_at_once() {
        let (mut room, t0, crowd) = io_uring_crowd(4).await;
        room.direct_quota = 1;
        room.tick(t0);
        assert_eq!(room.deferred.len(), 3);
        let (stop, shutdown) = watch::channel(false);
        stop.send(true).unwrap();
        // The deadline is a minute away, but the room is shutting down: nothing is written
        // after the yield, and every deferred client's frames are its writer's.
        room.send_deferred(Instant::now() + Duration::from_secs(60), &shutdown).await;
        assert!(room.deferred.is_empty());
        let handed = crowd.iter().filter(|(link, _)| !link.take_batch().is_empty()).count();
        assert_eq!(handed, 3);
    }

    #[test]
    fn commands_queued_while_the_room_wrote_are_handled_before_the_next_tick() {
        let mut room = room(|_| {});
        let (tx, mut rx) = mpsc::channel(4);
        let mut answers = Vec::new();
        for _ in 0..3 {
            let link = Arc::new(ClientLink::new());
            let (reply, answer) = oneshot::channel();
            let request = JoinRequest {
                role: Role::Player,
                name: Name::new(),
                resume: None,
                link,
                client: LOCALHOST,
                reservation: None,
            };
            tx.try_send(RoomCommand::Join { request, reply }).unwrap();
            answers.push(answer);
        }
        room.handle_queued(&mut rx);
        for mut answer in answers {
            assert!(answer.try_recv().expect("answered").is_ok(), "seated");
        }
        assert_eq!(room.seats.len(), 3);
        assert!(rx.try_recv().is_err(), "nothing left queued");
    }

    /// The tick prefetches addresses gathered before seats may have left: whatever the
    /// address, a prefetch must not fault.
    #[test]
    fn a_prefetch_of_any_address_is_harmless() {
        prefetch(0, 64);
        prefetch(usize::MAX - 8, 256);
        let held = vec![7u8; 300];
        prefetch(held.as_ptr() as usize + 3, 256);
        assert_eq!(held[299], 7, "and it changes nothing");
    }

    /// The addresses the tick prefetches are those of the seats, in the order it visits them.
    #[test]
    fn the_input_loop_gathers_each_seats_memory_in_seat_order() {
        let mut room = room(|_| {});
        let now = Instant::now();
        let (_spectator, joined) = join(&mut room, Role::Spectator, None, now);
        joined.unwrap();
        let (_player, joined) = join(&mut room, Role::Player, None, now);
        joined.unwrap();
        room.tick(now);
        room.tick(now);
        let gathered: Vec<(usize, usize, usize)> =
            room.seat_memory.iter().map(|m| (m.seat, m.link, m.history)).collect();
        let seats: Vec<(usize, usize, usize)> = room
            .seats
            .values()
            .map(|seat| {
                (
                    std::ptr::from_ref(seat) as usize,
                    Arc::as_ptr(seat.link.as_ref().unwrap()) as usize,
                    seat.history.sent.as_ptr() as usize,
                )
            })
            .collect();
        assert_eq!(gathered, seats);
        assert_eq!(gathered.len(), 2);
    }
}
