//! The game behind a small trait: the networking layer knows nothing of its rules.
//!
//! A room owns one `Game`, calls [`Game::step`] once per tick with a fixed `dt`, and reads the
//! quantized world back with [`Game::entities`]. Everything is deterministic given the seed
//! passed to the constructor and the sequence of calls, so games are unit-tested without sockets.
//!
//! The server runs the [`arena`] unless told otherwise: a [`GameFactory`] given to
//! [`crate::command::main`] (the whole `tickwire-server` command) or to
//! [`crate::server::Server::games`] makes the game of every room it opens, so a game of your
//! own gets the whole server (rooms, resume, deltas, interest, spectators, controllers, the
//! fleet) without a line of networking. `server/examples/hill.rs` is one.

pub mod arena;

use arena::{Arena, ArenaConfig};
use glam::Vec2;
use std::fmt;
use std::sync::Arc;
use tickwire_shared::{
    Buttons, ControllerFeedback, EntityId, EntityState, PlayerId, RoomName, RoundState, WorldBounds,
};

/// One player's controls as the game sees them (already dequantized).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlayerInput {
    /// Steering x in `[-1, 1]`, right positive.
    pub x: f32,
    /// Steering y in `[-1, 1]`, down positive.
    pub y: f32,
    /// Held buttons.
    pub buttons: Buttons,
}

/// Something that happened during a step, which the room turns into protocol events.
///
/// Non-exhaustive: the protocol may carry more kinds of event in a later version, and a game
/// that matches on these (to filter or rewrite another game's, as `examples/hill.rs` does)
/// keeps a catch-all arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GameEvent {
    /// `player`'s score is now `score`.
    Scored {
        /// Who.
        player: PlayerId,
        /// New score.
        score: u16,
    },
    /// A round ended; scores reset when the next one starts.
    RoundOver {
        /// The round that ended.
        round: u16,
        /// Top scorer, if anyone scored.
        winner: Option<PlayerId>,
        /// Top score.
        score: u16,
    },
    /// `player`'s ship hit something hard enough to feel: the player's controller rumbles
    /// with that tick's feedback, at least at the tick's hardest impact's `strength` (more if
    /// [`Game::feedback`] says more).
    Impact {
        /// Who.
        player: PlayerId,
        /// 1-255 (0 rumbles only as much as the feedback says).
        strength: u8,
    },
}

/// A game a room can run.
///
/// The room calls it from one thread. Each tick, in this order:
/// 1. [`Game::set_input`] for each player with an input for this tick. A client sends one
///    input per tick, and the room hands them over one per tick, oldest first, as the client
///    predicted them, though the network delivered two in one tick and none in the next. An
///    input more than a tick late is folded into the next (its steering dropped, its buttons
///    kept: a tap always lands, and is released on the following tick); a client sending
///    faster than the tick rate gets its newest each tick ([`crate::inputs`] says more);
/// 2. [`Game::step`];
/// 3. [`Game::remove_player`] for the dropped seats whose `--resume-grace` ended;
/// 4. [`Game::entities`], [`Game::round`], then per client [`Game::focus`] (players only) and
///    [`Game::feedback`] (controllers only).
///
/// Between ticks, as clients come and go: [`Game::add_player`] (players and controllers),
/// [`Game::bounds`] for the `Welcome`, [`Game::score`] for rosters, [`Game::remove_player`]
/// for one that left, and a neutral [`Game::set_input`] for one whose connection dropped (its
/// ship waits out the grace without steering). Keep a step to a small part of the tick
/// (`tickwire_tick_duration_seconds` shows it; a late tick is counted in
/// `tickwire_late_ticks_total`), and read no clock: time is `dt`, one period a tick whatever
/// the tick took, so a game too slow for its rate plays in slow motion. Rooms share threads
/// (`--room-threads`): a step that blocks (a lock, a file, a loop) stops every room of its
/// thread, and one in a tick or call for 2 s or more is logged as stuck and counted in
/// `tickwire_rooms_stuck` while it is.
///
/// What the wire can carry, which a game must keep to:
/// - positions within `0..=2047` units on each axis (the [`Game::bounds`] a client is told;
///   a room whose bounds are larger logs a warning as it opens, as positions past 2047.9
///   reach clients clamped), at 1/16 unit; velocities at 2 unit/s; a heading at 1/256 turn. The `tickwire_shared::quant`
///   functions convert. Moving on that grid, as the arena does, keeps deltas small;
/// - an entity's `kind`, `flags` and `value` mean what the game says (PROTOCOL.md names the
///   arena's). The browser game draws the arena's kinds; other clients draw what they know;
/// - ids unique within a tick (a repeated id is dropped) and stable while the entity lives:
///   a client interpolates an id across snapshots;
/// - at most [`tickwire_shared::MAX_SNAPSHOT_ENTITIES`] entities in what one client sees;
///   past it a player is sent the 1,024 nearest its focus, and a spectator (or a player
///   without a focus) the first 1,024 by id, the rest left out (the room logs it every 10 s).
///
/// What a client sees: a player, the entities within `--view-radius` of its [`Game::focus`]
/// and those [`Game::always_visible`] says every player sees (everything when the focus is
/// `None` or the radius 0); a spectator, everything.
///
/// A game that panics takes its room down and nothing else: its clients are closed with 1011
/// and their seats forgotten, and a client that rejoins by name gets a new room.
pub trait Game: Send + 'static {
    /// The playfield.
    fn bounds(&self) -> WorldBounds;

    /// Gives `player` a ship and returns its entity. Called for players and controllers,
    /// never for spectators. Adding a player that already has a ship returns the same entity.
    fn add_player(&mut self, player: PlayerId) -> EntityId;

    /// Removes `player`'s ship (its seat expired or it left for good).
    fn remove_player(&mut self, player: PlayerId);

    /// The controls `player` holds from now until the next call.
    fn set_input(&mut self, player: PlayerId, input: PlayerInput);

    /// Advances the world by `dt` seconds (the room's fixed tick length), appending what
    /// happened to `events`.
    fn step(&mut self, dt: f32, events: &mut Vec<GameEvent>);

    /// Appends every entity, quantized, to `out` (in any order).
    fn entities(&self, out: &mut Vec<EntityState>);

    /// Room-wide round state.
    fn round(&self) -> RoundState;

    /// Where `player`'s view is centred (its ship), for interest management.
    fn focus(&self, player: PlayerId) -> Option<Vec2>;

    /// Whether every player sees `entity` wherever it is, past `--view-radius` (a goal, a
    /// flag to capture, a scoreboard post): it is sent with what is near each player, and
    /// kept first when a view past the protocol's 1,024 entities is cut. Asked once a tick per
    /// entity, after [`Game::entities`]. Default: none is.
    fn always_visible(&self, entity: &EntityState) -> bool {
        let _ = entity;
        false
    }

    /// `player`'s score this round (`None` without a ship): a newcomer's roster carries it, so
    /// its scoreboard does not wait for every ship to come into view.
    fn score(&self, player: PlayerId) -> Option<u16>;

    /// What `player`'s controller should show; `rumble` is the strength of the latest impact
    /// within the last ~200 ms.
    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback>;
}

/// Makes the game of each room the server opens: the hook for games of your own.
///
/// Called once per room, when its first client arrives, with the room's name (as the client
/// asked for it, or `arena-N` for a room matchmaking opened) and a seed. With `--seed S`, the
/// Nth room this process opens gets `S + N`, so a run whose rooms open in the same order is
/// repeatable; without it, the seeds are random. It is called under the room directory's
/// lock, which every join takes: build the game and return, and leave slow work (loading a
/// map from disk, a network call) to before the server starts. A factory that panics refuses
/// that join (close 1011) and opens no room; the server goes on.
///
/// The name lets one server host several games, by prefix for instance; then clients name
/// their room, because matchmaking (a `Hello` for any room) fills whichever room has a free
/// seat, whatever it runs, and names the rooms it opens `arena-N`. In a fleet, every node
/// must make the same game for the same name: a client whose node drains or fails rejoins its
/// room, by name, on another node.
///
/// Any `Fn(RoomName, u64) -> G` that is `Send + Sync`, where `G` is a [`Game`] (a
/// `Box<dyn Game>` is one), is one: `|_room: RoomName, seed: u64| MyGame::new(seed)`.
pub trait GameFactory: Send + Sync + 'static {
    /// The game for a new room named `room`, seeded with `seed`.
    fn new_game(&self, room: RoomName, seed: u64) -> Box<dyn Game>;
}

impl<F, G> GameFactory for F
where
    F: Fn(RoomName, u64) -> G + Send + Sync + 'static,
    G: Game,
{
    fn new_game(&self, room: RoomName, seed: u64) -> Box<dyn Game> {
        Box::new(self(room, seed))
    }
}

/// The server's [`GameFactory`], shared by everything that opens rooms.
#[derive(Clone)]
pub struct Games(Arc<dyn GameFactory>);

impl Games {
    /// Rooms run what `factory` makes.
    pub fn new(factory: impl GameFactory) -> Self {
        Games(Arc::new(factory))
    }

    /// An [`Arena`] of `config` in every room: what a server runs unless given a game of its
    /// own (with the flags' [`crate::ServerConfig::arena`]).
    pub fn arena(config: ArenaConfig) -> Self {
        Games::new(move |_room: RoomName, seed: u64| Arena::new(config.clone(), seed))
    }
}

impl GameFactory for Games {
    fn new_game(&self, room: RoomName, seed: u64) -> Box<dyn Game> {
        self.0.new_game(room, seed)
    }
}

impl fmt::Debug for Games {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Games(..)")
    }
}

/// A boxed game is a game: rooms run whatever a [`GameFactory`] made.
impl Game for Box<dyn Game> {
    fn bounds(&self) -> WorldBounds {
        (**self).bounds()
    }

    fn add_player(&mut self, player: PlayerId) -> EntityId {
        (**self).add_player(player)
    }

    fn remove_player(&mut self, player: PlayerId) {
        (**self).remove_player(player)
    }

    fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
        (**self).set_input(player, input)
    }

    fn step(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        (**self).step(dt, events)
    }

    fn entities(&self, out: &mut Vec<EntityState>) {
        (**self).entities(out)
    }

    fn round(&self) -> RoundState {
        (**self).round()
    }

    fn focus(&self, player: PlayerId) -> Option<Vec2> {
        (**self).focus(player)
    }

    fn score(&self, player: PlayerId) -> Option<u16> {
        (**self).score(player)
    }

    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
        (**self).feedback(player)
    }

    fn always_visible(&self, entity: &EntityState) -> bool {
        (**self).always_visible(entity)
    }
}
