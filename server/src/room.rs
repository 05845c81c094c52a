//! One room: a task that owns its game and runs the fixed-rate tick loop.
//!
//! The loop never awaits a socket. Each tick it takes every client's newest input from its
//! [`ClientLink`], steps the game, and hands each client one frame: a snapshot delta-encoded
//! against the newest tick that client acked (players see only what is near their ship,
//! spectators the whole room, with identical frames shared), or `ControllerFeedback` for
//! controllers. Slow clients skip frames in their latest-wins slot and are closed only after
//! [`ServerConfig::slow_client_timeout`] without progress.

use crate::config::ServerConfig;
use crate::context::ServerContext;
use crate::game::{Game, GameEvent, PlayerInput};
use crate::interest::InterestGrid;
use crate::outbox::{CONTROL_QUEUE_CAP, ClientLink, CloseRequest};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tickwire_shared::EncodeError;
use tickwire_shared::codec::encode_server_into;
use tickwire_shared::delta::{Baseline, World, delta};
use tickwire_shared::quant::dequantize_axis_input;
use tickwire_shared::{
    ChatText, ControllerFeedback, EntityId, EntityState, Event, EventKind, InputSeq, Kick,
    KickReason, KickText, Name, PlayerId, ResumeToken, Role, RoomName, ServerMessage, Snapshot,
    Tick, Welcome,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, error, info, info_span, warn};

/// Snapshots remembered per client: an ack older than this many ticks gets a full snapshot.
pub const HISTORY_TICKS: usize = 32;

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
        reply: oneshot::Sender<Result<Joined, JoinRefused>>,
    },
    /// A chat line (already rate-limited and validated by the connection).
    Chat {
        /// Sender.
        player: PlayerId,
        /// Text.
        text: ChatText,
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
}

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
}

/// A seat held for a joiner between matchmaking and the room's answer, so that joins that
/// arrive together spread over rooms instead of all picking the same one and being refused.
/// Released when dropped (after the answer, or if the connection ends first).
#[derive(Debug)]
pub struct Reservation(Arc<RoomShared>);

impl Reservation {
    /// Holds a seat in `room` until dropped.
    pub fn new(room: Arc<RoomShared>) -> Self {
        room.reserved.fetch_add(1, Ordering::Relaxed);
        Reservation(room)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.0.reserved.fetch_sub(1, Ordering::Relaxed);
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
        }
    }

    /// Ship-owning seats in use.
    pub fn players(&self) -> u32 {
        self.players.load(Ordering::Relaxed)
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

    fn put(&mut self, world: Arc<World>, baseline: Option<Tick>) {
        if self.sent.is_empty() {
            self.sent.resize(HISTORY_TICKS, None);
        }
        let slot = world.tick.0 as usize % HISTORY_TICKS;
        self.sent[slot] = Some(Sent { world, baseline });
    }

    fn clear(&mut self) {
        self.sent.clear();
    }
}

/// The ticks of a baseline and its reference: spectators whose keys match get the same frame.
type BaselineKey = (Tick, Option<Tick>);

/// A [`Baseline`] borrowing from what [`History::baseline`] returned.
fn as_baseline(held: &Option<(Arc<World>, Option<Arc<World>>)>) -> Option<Baseline<'_>> {
    held.as_ref().map(|(world, reference)| Baseline { world, reference: reference.as_deref() })
}

#[derive(Debug)]
struct Seat {
    role: Role,
    name: Name,
    token: ResumeToken,
    entity: Option<EntityId>,
    link: Option<Arc<ClientLink>>,
    /// Set while the connection is gone and the seat waits for a resume.
    dropped_at: Option<Instant>,
    last_input: InputSeq,
    history: History,
    last_feedback: Option<(ControllerFeedback, Instant)>,
}

/// Most `Joined` events in the roster a newcomer receives.
pub const ROSTER_MAX: usize = CONTROL_QUEUE_CAP / 2;

/// The room task's state. Generic over the game so tests can plug in another one.
pub struct Room<G: Game> {
    shared: Arc<RoomShared>,
    ctx: Arc<ServerContext>,
    game: G,
    seats: BTreeMap<PlayerId, Seat>,
    next_player: u16,
    tick: Tick,
    grid: InterestGrid,
    /// Every entity of this tick, sorted by id (reused between ticks).
    entities: Vec<EntityState>,
    game_events: Vec<GameEvent>,
    encode_buf: Vec<u8>,
    empty_since: Option<Instant>,
    /// The last tick took longer than a period (and was counted late for it), so the next
    /// one starting late is the same incident, not another.
    last_tick_overran: bool,
    /// The time passed to the current `handle` or `tick` call.
    now: Instant,
}

impl<G: Game> Room<G> {
    /// A room around `game`.
    pub fn new(shared: Arc<RoomShared>, ctx: Arc<ServerContext>, game: G) -> Self {
        let grid = InterestGrid::new(ctx.config.view_radius);
        Room {
            shared,
            ctx,
            game,
            seats: BTreeMap::new(),
            next_player: 1,
            tick: Tick(0),
            grid,
            entities: Vec::new(),
            game_events: Vec::new(),
            encode_buf: Vec::with_capacity(4096),
            empty_since: None,
            last_tick_overran: false,
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
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => break,
                    due = ticker.tick() => {
                        let now = Instant::now();
                        if now - due > period && !self.last_tick_overran {
                            self.ctx.metrics.late_ticks.inc();
                        }
                        self.tick(now);
                        if self.should_close(now, &commands) {
                            break;
                        }
                    }
                    Some(command) = commands.recv() => self.handle(command, Instant::now()),
                }
            }
            // Refuse whatever is still queued so no joiner waits for a reply that never comes.
            commands.close();
            while let Ok(command) = commands.try_recv() {
                if let RoomCommand::Join { reply, .. } = command {
                    let _ = reply.send(Err(JoinRefused::Closing));
                }
            }
            for seat in self.seats.values() {
                self.ctx.forget_token(&seat.token);
            }
            self.ctx.metrics.rooms.dec();
            info!("room closed");
        }
        .instrument(span)
        .await
    }

    fn should_close(&mut self, now: Instant, commands: &mpsc::Receiver<RoomCommand>) -> bool {
        if !self.seats.is_empty() {
            self.empty_since = None;
            return false;
        }
        let since = *self.empty_since.get_or_insert(now);
        now - since >= self.config().room_idle_grace
            && self.ctx.close_room_if(&self.shared.name, || commands.is_empty())
    }

    /// Applies one command. [`Room::run`] calls this for each command received; tests and
    /// benchmarks drive a room directly with it and [`Room::tick`], without a runtime.
    pub fn handle(&mut self, command: RoomCommand, now: Instant) {
        self.now = now;
        match command {
            RoomCommand::Join { request, reply } => {
                let result = self.join(request);
                let _ = reply.send(result);
            }
            RoomCommand::Chat { player, text } => {
                if let Some(seat) = self.seats.get(&player) {
                    let name = seat.name;
                    self.broadcast(EventKind::Chat { from: player, name, text });
                }
            }
            RoomCommand::Leave { player, link, how } => self.leave(player, &link, how, now),
        }
    }

    fn encode(&mut self, msg: &ServerMessage) -> Bytes {
        encode_frame(&mut self.encode_buf, msg);
        Bytes::copy_from_slice(&self.encode_buf)
    }

    fn join(&mut self, request: JoinRequest) -> Result<Joined, JoinRefused> {
        if let Some(token) = request.resume
            && let Some((&player, seat)) = self.seats.iter_mut().find(|(_, s)| s.token == token)
        {
            if seat.role != request.role {
                return Err(JoinRefused::RoleMismatch);
            }
            if let Some(old) = seat.link.replace(request.link.clone()) {
                old.close(CloseRequest {
                    code: 1008,
                    reason: "seat resumed by another connection".into(),
                    kick: Some(Kick {
                        reason: KickReason::Replaced,
                        message: KickText::truncated("seat resumed by another connection"),
                    }),
                });
            }
            seat.dropped_at = None;
            seat.history.clear();
            seat.last_feedback = None;
            // The new connection numbers its inputs afresh.
            seat.last_input = InputSeq(0);
            let (role, entity) = (seat.role, seat.entity);
            self.ctx.metrics.resumes.inc();
            info!(player = player.0, "seat resumed");
            self.welcome(player, role, entity, token, true, &request.link);
            self.send_roster(player, &request.link);
            return Ok(Joined { player, role, room: self.shared.clone() });
        }

        let fits = match request.role {
            Role::Spectator => {
                self.shared.spectators.load(Ordering::Relaxed)
                    < u32::from(self.config().max_spectators)
            }
            Role::Player | Role::Controller => self.shared.has_player_room(),
        };
        if !fits {
            return Err(JoinRefused::Full);
        }
        let player = self.allocate_player_id().ok_or(JoinRefused::Full)?;
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

        // Tell the newcomer who is already here, then tell everyone about the newcomer.
        self.seats.insert(
            player,
            Seat {
                role: request.role,
                name,
                token,
                entity,
                link: Some(request.link.clone()),
                dropped_at: None,
                last_input: InputSeq(0),
                history: History::default(),
                last_feedback: None,
            },
        );
        self.welcome(player, request.role, entity, token, false, &request.link);
        self.send_roster(player, &request.link);
        self.broadcast(EventKind::Joined { player, name, role: request.role });
        info!(player = player.0, role = ?request.role, %name, "joined");
        Ok(Joined { player, role: request.role, room: self.shared.clone() })
    }

    fn welcome(
        &mut self,
        player: PlayerId,
        role: Role,
        entity: Option<EntityId>,
        token: ResumeToken,
        resumed: bool,
        link: &ClientLink,
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
        let frame = self.encode(&ServerMessage::Welcome(welcome));
        // A fresh link's queue is empty, so this cannot overflow.
        let _ = link.push_control(frame);
    }

    /// Tells a (re)joining client who else is here, so it can name them.
    fn send_roster(&mut self, newcomer: PlayerId, link: &ClientLink) {
        if self.seats.get(&newcomer).is_some_and(|s| s.role == Role::Controller) {
            return;
        }
        let roster: Vec<Event> = self
            .seats
            .iter()
            .filter(|(other, _)| **other != newcomer)
            // Half the newcomer's reliable queue at most, so the roster of a very large room
            // cannot overflow it (which would close the newcomer as too slow) and the events
            // that follow still fit; a client names any further seat when it sees one.
            .take(ROSTER_MAX)
            .map(|(&other, seat)| Event {
                tick: self.tick,
                kind: EventKind::Joined { player: other, name: seat.name, role: seat.role },
            })
            .collect();
        for event in roster {
            let frame = self.encode(&ServerMessage::Event(event));
            // Cannot overflow: a fresh link's queue holds only the Welcome before this.
            let _ = link.push_control(frame);
        }
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
            Departure::Dropped if seat.role.plays() => {
                seat.dropped_at = Some(now);
                // A dropped ship coasts with no thrust rather than holding the last input.
                self.game.set_input(player, PlayerInput::default());
                debug!(player = player.0, "dropped; seat kept for resume");
            }
            _ => self.remove_seat(player),
        }
    }

    fn remove_seat(&mut self, player: PlayerId) {
        let Some(seat) = self.seats.remove(&player) else { return };
        if seat.entity.is_some() {
            self.game.remove_player(player);
        }
        match seat.role {
            Role::Spectator => self.shared.spectators.fetch_sub(1, Ordering::Relaxed),
            Role::Controller => {
                self.shared.controllers.fetch_sub(1, Ordering::Relaxed);
                self.shared.players.fetch_sub(1, Ordering::Relaxed)
            }
            Role::Player => self.shared.players.fetch_sub(1, Ordering::Relaxed),
        };
        self.ctx.metrics.clients_of(seat.role).dec();
        self.ctx.forget_token(&seat.token);
        info!(player = player.0, "left");
        self.broadcast(EventKind::Left { player });
    }

    /// Sends an event to every attached player and spectator.
    fn broadcast(&mut self, kind: EventKind) {
        let frame = self.encode(&ServerMessage::Event(Event { tick: self.tick, kind }));
        let mut overflowed = Vec::new();
        for (&player, seat) in &self.seats {
            if seat.role == Role::Controller {
                continue;
            }
            if let Some(link) = &seat.link
                && link.push_control(frame.clone()).is_err()
            {
                overflowed.push(player);
            }
        }
        let now = self.now;
        for player in overflowed {
            self.kick_slow(player, "client is not reading its messages", now);
        }
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
            seat.dropped_at = Some(now);
            self.game.set_input(player, PlayerInput::default());
        } else {
            self.remove_seat(player);
        }
    }

    /// One simulation step and one frame per client, as of `now`.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        let started = std::time::Instant::now();

        for (&player, seat) in self.seats.iter_mut() {
            let Some(link) = &seat.link else { continue };
            if !seat.role.plays() {
                continue;
            }
            if let Some(input) = link.take_input(seat.last_input) {
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
        self.tick = Tick(self.tick.0.wrapping_add(1));
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
                GameEvent::Impact { player, .. } => rumble_players.push(player),
            }
        }
        self.game_events = events;

        // Before the world is read, so this tick's snapshots and its Left events agree.
        self.expire_dropped_seats(now);
        self.entities.clear();
        self.game.entities(&mut self.entities);
        self.entities.sort_unstable_by_key(|e| e.id.0);
        self.grid.rebuild(&self.entities);
        self.send_frames(now, &rumble_players);

        let elapsed = started.elapsed();
        self.ctx.metrics.tick_duration.observe(elapsed.as_secs_f64());
        self.last_tick_overran = elapsed > self.config().tick_period();
        if self.last_tick_overran {
            self.ctx.metrics.late_ticks.inc();
        }
    }

    fn send_frames(&mut self, now: Instant, rumble_players: &[PlayerId]) {
        let round = self.game.round();
        let tick = self.tick;
        let view_radius = self.config().view_radius;
        let slow_limit = self.config().slow_client_timeout;
        let mut whole_world: Option<Arc<World>> = None;
        // Spectators acking the same tick (whose worlds were sent against the same baseline)
        // get byte-identical frames: encode each once.
        let mut spectator_frames: Vec<(Option<BaselineKey>, Bytes)> = Vec::new();
        let tick_rate = self.config().tick_rate;
        let mut slow = Vec::new();
        let mut skipped = 0u64;
        let mut buf = std::mem::take(&mut self.encode_buf);

        for (&player, seat) in self.seats.iter_mut() {
            let Some(link) = seat.link.clone() else { continue };
            if link.stalled_for(now) > slow_limit {
                slow.push(player);
                continue;
            }
            let frame = match seat.role {
                Role::Controller => {
                    let Some(mut feedback) = self.game.feedback(player) else { continue };
                    if rumble_players.contains(&player) && feedback.rumble == 0 {
                        feedback.rumble = 128;
                    }
                    let due = seat
                        .last_feedback
                        .is_none_or(|(last, at)| last != feedback || now - at >= FEEDBACK_REFRESH);
                    if !due {
                        continue;
                    }
                    seat.last_feedback = Some((feedback, now));
                    if !encode_frame(&mut buf, &ServerMessage::ControllerFeedback(feedback)) {
                        continue;
                    }
                    if link.push_control(Bytes::copy_from_slice(&buf)).is_err() {
                        slow.push(player);
                    }
                    continue;
                }
                Role::Spectator => {
                    let world = whole_world
                        .get_or_insert_with(|| {
                            Arc::new(World { tick, round, entities: self.entities.clone() })
                        })
                        .clone();
                    let held = seat.history.baseline(link.acked());
                    let baseline = as_baseline(&held);
                    let key = baseline.map(|b| (b.world.tick, b.reference.map(|r| r.tick)));
                    let frame = match spectator_frames.iter().find(|(k, _)| *k == key) {
                        Some((_, frame)) => frame.clone(),
                        None => {
                            let snap = delta(baseline, &world, InputSeq(0), tick_rate);
                            if !encode_snapshot(&mut buf, snap) {
                                continue;
                            }
                            let frame = Bytes::copy_from_slice(&buf);
                            spectator_frames.push((key, frame.clone()));
                            frame
                        }
                    };
                    seat.history.put(world, key.map(|(baseline, _)| baseline));
                    frame
                }
                Role::Player => {
                    let focus = seat.entity.and_then(|_| self.game.focus(player));
                    let visible = match focus {
                        Some(centre) if view_radius > 0 => {
                            let mut visible = Vec::new();
                            let centre = tickwire_shared::quant::quantize_position(centre);
                            self.grid.query(&self.entities, centre, view_radius, &mut visible);
                            visible
                        }
                        _ => self.entities.clone(),
                    };
                    let world = Arc::new(World { tick, round, entities: visible });
                    let held = seat.history.baseline(link.acked());
                    let baseline = as_baseline(&held);
                    let snap = delta(baseline, &world, seat.last_input, tick_rate);
                    if !encode_snapshot(&mut buf, snap) {
                        continue;
                    }
                    seat.history.put(world, baseline.map(|b| b.world.tick));
                    Bytes::copy_from_slice(&buf)
                }
            };
            if link.offer_snapshot(frame, now) {
                skipped += 1;
            }
        }
        self.encode_buf = buf;
        self.ctx.metrics.frames_skipped.inc_by(skipped);
        for player in slow {
            self.kick_slow(player, "client made no progress reading its frames", now);
        }
    }

    fn expire_dropped_seats(&mut self, now: Instant) {
        let grace = self.config().resume_grace;
        let expired: Vec<PlayerId> = self
            .seats
            .iter()
            .filter(|(_, s)| s.dropped_at.is_some_and(|at| now - at >= grace))
            .map(|(&p, _)| p)
            .collect();
        for player in expired {
            debug!(player = player.0, "resume grace over");
            self.remove_seat(player);
        }
    }
}

/// Encodes a snapshot into `buf`; false (logged) when it could not be, and nothing is sent.
fn encode_snapshot(buf: &mut Vec<u8>, snapshot: Result<Snapshot, EncodeError>) -> bool {
    match snapshot {
        Ok(snapshot) => encode_frame(buf, &ServerMessage::Snapshot(snapshot)),
        Err(e) => {
            // Only a world above the protocol's entity limit fails; the room's own state caused
            // it, so log it rather than disturb the client.
            warn!(error = %e, "could not encode a snapshot");
            false
        }
    }
}

/// Encodes `msg` into `buf`; false (logged) when it could not be.
fn encode_frame(buf: &mut Vec<u8>, msg: &ServerMessage) -> bool {
    buf.clear();
    match encode_server_into(msg, buf) {
        Ok(()) => true,
        Err(e) => {
            warn!(error = %e, "could not encode a frame");
            false
        }
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
        for seat in self.seats.values() {
            if let Some(link) = &seat.link {
                link.close(CloseRequest {
                    code: 1011,
                    reason: "internal error: the room stopped".into(),
                    kick: None,
                });
            }
            self.ctx.forget_token(&seat.token);
        }
        self.ctx.remove_room(&self.shared.name);
    }
}

/// Spawns a room task running `game` and returns its handle.
pub fn spawn<G: Game>(
    ctx: &Arc<ServerContext>,
    name: RoomName,
    game: G,
) -> (mpsc::Sender<RoomCommand>, Arc<RoomShared>) {
    let shared = Arc::new(RoomShared::new(name, ctx.config.room_capacity));
    let (tx, rx) = mpsc::channel(ROOM_COMMAND_CAPACITY);
    let room = Room::new(shared.clone(), ctx.clone(), game);
    ctx.metrics.rooms.inc();
    ctx.tasks.spawn(room.run(rx, ctx.shutdown.clone()));
    (tx, shared)
}

#[cfg(test)]
mod tests {
    //! The room driven directly, without sockets or a runtime: time is an argument.
    use super::*;
    use crate::game::arena::{Arena, ArenaConfig};
    use tickwire_shared::codec::decode_server;
    use tickwire_shared::delta::WorldHistory;
    use tickwire_shared::{RoundState, WorldBounds};

    fn room(configure: impl FnOnce(&mut ServerConfig)) -> Room<Arena> {
        let mut config = ServerConfig { seed: Some(3), ..ServerConfig::default() };
        configure(&mut config);
        let (_tx, rx) = watch::channel(false);
        let ctx = ServerContext::new(config, rx);
        let shared = Arc::new(RoomShared::new(RoomName::truncated("t"), ctx.config.room_capacity));
        Room::new(shared, ctx, Arena::new(ArenaConfig::default(), 3))
    }

    fn join(
        room: &mut Room<Arena>,
        role: Role,
        resume: Option<ResumeToken>,
        now: Instant,
    ) -> (Arc<ClientLink>, Result<Joined, JoinRefused>) {
        let link = Arc::new(ClientLink::new());
        let (reply, mut answer) = oneshot::channel();
        let request = JoinRequest { role, name: Name::new(), resume, link: link.clone() };
        room.handle(RoomCommand::Join { request, reply }, now);
        (link, answer.try_recv().expect("a join is answered at once"))
    }

    fn messages(link: &ClientLink) -> (Vec<ServerMessage>, Option<CloseRequest>) {
        let batch = link.take_batch();
        let decoded = batch
            .control
            .iter()
            .chain(batch.snapshot.iter())
            .map(|b| decode_server(b).expect("decodes"))
            .collect();
        (decoded, batch.close)
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

    /// The arena, except that its world step panics: a bug in a plugged-in game.
    struct Crashing(Arena);

    impl Game for Crashing {
        fn bounds(&self) -> WorldBounds {
            self.0.bounds()
        }
        fn add_player(&mut self, player: PlayerId) -> EntityId {
            self.0.add_player(player)
        }
        fn remove_player(&mut self, player: PlayerId) {
            self.0.remove_player(player)
        }
        fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
            self.0.set_input(player, input)
        }
        fn step(&mut self, _dt: f32, _events: &mut Vec<GameEvent>) {
            panic!("a bug in the game");
        }
        fn entities(&self, out: &mut Vec<EntityState>) {
            self.0.entities(out)
        }
        fn round(&self) -> RoundState {
            self.0.round()
        }
        fn focus(&self, player: PlayerId) -> Option<glam::Vec2> {
            self.0.focus(player)
        }
        fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
            self.0.feedback(player)
        }
    }

    #[test]
    fn a_room_that_panics_closes_its_clients_with_1011() {
        let (_tx, rx) = watch::channel(false);
        let ctx = ServerContext::new(ServerConfig { seed: Some(3), ..ServerConfig::default() }, rx);
        let shared = Arc::new(RoomShared::new(RoomName::truncated("t"), 4));
        let mut room = Room::new(shared, ctx, Crashing(Arena::new(ArenaConfig::default(), 3)));
        let t0 = Instant::now();
        let (link, joined) = {
            let link = Arc::new(ClientLink::new());
            let (reply, mut answer) = oneshot::channel();
            let request = JoinRequest {
                role: Role::Player,
                name: Name::new(),
                resume: None,
                link: link.clone(),
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
    fn resume_reattaches_the_seat_and_replaces_the_old_connection() {
        let mut room = room(|_| {});
        let t0 = Instant::now();
        let (old, joined) = join(&mut room, Role::Player, None, t0);
        let player = joined.unwrap().player;
        let token = welcome(&messages(&old).0).resume_token;
        let (new, again) = join(&mut room, Role::Player, Some(token), t0);
        assert_eq!(again.unwrap().player, player);
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
    fn inputs_apply_newest_first_and_echo_their_sequence() {
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
    }
}
