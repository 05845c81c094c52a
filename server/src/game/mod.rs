//! The game behind a small trait: the networking layer knows nothing of its rules.
//!
//! A room owns one `Game`, calls [`Game::step`] once per tick with a fixed `dt`, and reads the
//! quantized world back with [`Game::entities`]. Everything is deterministic given the seed
//! passed to the constructor and the sequence of calls, so games are unit-tested without sockets.

pub mod arena;

use glam::Vec2;
use tickwire_shared::{
    Buttons, ControllerFeedback, EntityId, EntityState, PlayerId, RoundState, WorldBounds,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// `player`'s ship hit something hard enough to feel (drives controller rumble).
    Impact {
        /// Who.
        player: PlayerId,
        /// 0-255.
        strength: u8,
    },
}

/// A game a room can run.
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

    /// `player`'s score this round (`None` without a ship): a newcomer's roster carries it, so
    /// its scoreboard does not wait for every ship to come into view.
    fn score(&self, player: PlayerId) -> Option<u16>;

    /// What `player`'s controller should show; `rumble` is the strength of the latest impact
    /// within the last ~200 ms.
    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback>;
}
