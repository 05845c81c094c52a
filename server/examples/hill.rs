//! King of the hill: a game of your own on the tickwire server, in one file.
//!
//! ```text
//! cargo run --release -p tickwire-server --example hill     # then open http://127.0.0.1:8080/
//! ```
//!
//! Takes the flags of `tickwire-server` (`--help`). Every player sees the hill wherever it
//! moves ([`Game::always_visible`]), and the ships within `--view-radius`. One golden orb, the
//! hill, sits on the field; a ship alone within `HILL_RADIUS` of it scores a point for every
//! second it holds it, two or more ships on it score nothing, and the hill moves every
//! `--hill-move-secs` (15 by default): a flag of the game's own, beside the server's
//! ([`tickwire_server::command::main_with_flags`]), listed by `--help` under "Game options".
//!
//! The game flies on the arena: `Hill` (below) owns an [`Arena`] without pickups for the ships'
//! motion, bumps, walls and rounds, and adds its own scoring. So the browser game plays it as
//! it is (its prediction replays the arena's motion, and it draws the hill as a rare pickup),
//! and so do the Rust client, the bots and a controller. A game with other kinds of entities
//! needs a client that draws them; the JavaScript SDK and the Rust client hand any entity over
//! as it came.
//!
//! What the server gives the game for free: rooms and matchmaking, resume after a dropped
//! connection, acked-delta snapshots, interest management, spectators, controllers, the
//! metrics, the HTTP fallback and the fleet. What the game owes the server is the
//! [`Game`] trait; [`tickwire_server::command::main`] runs the `tickwire-server` command
//! around it, flags and all (`tickwire_server::Server` serves it from a program of your own).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tickwire_server::game::arena::{Arena, ArenaConfig, KIND_PICKUP, KIND_SHIP};
use tickwire_server::game::{Game, GameEvent, PlayerInput};
// The server's own glam and protocol crate: a game needs no dependency of its own on them.
use std::process::ExitCode;
use tickwire_server::glam::Vec2;
use tickwire_server::shared::arena::FLAG_ALIVE;
use tickwire_server::shared::quant::{quantize_position, quantize_velocity};
use tickwire_server::shared::{
    ControllerFeedback, EntityId, EntityState, PlayerId, RoomName, RoundPhase, RoundState,
    WorldBounds,
};

/// How close to the hill's centre a ship holds it, units.
const HILL_RADIUS: f32 = 90.0;
/// The hill's entity id, clear of the ships' (a ship's id is its player's).
const HILL_ID: EntityId = EntityId(200_000);
/// The hill's `value`: 3 is what the browser game draws as a rare, golden pickup.
const HILL_VALUE: u16 = 3;

/// One player's standing on the hill.
#[derive(Debug, Clone, Copy)]
struct Holder {
    player: PlayerId,
    score: u16,
    /// Seconds held towards the next point: reset when the player loses the hill.
    held: f32,
}

/// King of the hill on the arena's ships.
struct Hill {
    arena: Arena,
    rng: StdRng,
    hill: Vec2,
    /// Seconds the hill stays in one place (`--hill-move-secs`).
    move_secs: f32,
    moves_in: f32,
    /// The arena's round these scores belong to: a new round clears them.
    round: u16,
    /// Sorted by player id, like the arena's ships, so a step is deterministic.
    holders: Vec<Holder>,
}

impl Hill {
    /// King of the hill on an arena of `config`, without its pickups, the hill moving every
    /// `move_secs`.
    fn new(config: ArenaConfig, move_secs: f32, seed: u64) -> Hill {
        let arena = Arena::new(ArenaConfig { pickup_count: 0, ..config }, seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x4849_4c4c);
        let round = arena.round().round;
        let hill = Self::random_spot(&mut rng, arena.bounds());
        Hill { arena, rng, hill, move_secs, moves_in: move_secs, round, holders: Vec::new() }
    }

    /// A spot a whole hill fits in, away from the walls (the middle of a field too small).
    fn random_spot(rng: &mut StdRng, bounds: WorldBounds) -> Vec2 {
        let margin = HILL_RADIUS + 20.0;
        let mut along = |side: u16| {
            let side = f32::from(side);
            if side > 2.0 * margin { rng.random_range(margin..side - margin) } else { side / 2.0 }
        };
        Vec2::new(along(bounds.width), along(bounds.height))
    }

    fn holder(&self, player: PlayerId) -> Option<&Holder> {
        let i = self.holders.binary_search_by_key(&player.0, |h| h.player.0).ok()?;
        Some(&self.holders[i])
    }

    /// Scores the ship alone on the hill, after `dt` seconds more of holding it.
    fn hold(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        let mut on_hill = self.holders.iter().enumerate().filter(|(_, h)| {
            self.arena.focus(h.player).is_some_and(|pos| pos.distance(self.hill) <= HILL_RADIUS)
        });
        let king = match (on_hill.next(), on_hill.next()) {
            (Some((i, _)), None) => Some(i),
            // Nobody, or contested: nobody scores.
            _ => None,
        };
        for (i, holder) in self.holders.iter_mut().enumerate() {
            if Some(i) != king {
                holder.held = 0.0;
                continue;
            }
            holder.held += dt;
            while holder.held >= 1.0 {
                holder.held -= 1.0;
                holder.score = holder.score.saturating_add(1);
                events.push(GameEvent::Scored { player: holder.player, score: holder.score });
            }
        }
    }

    /// The round's winner by this game's scores (the first player seated of those tied).
    fn leader(&self) -> (Option<PlayerId>, u16) {
        let best = self.holders.iter().filter(|h| h.score > 0).fold(None, |best, h| match best {
            Some((_, score)) if score >= h.score => best,
            _ => Some((h.player, h.score)),
        });
        match best {
            Some((player, score)) => (Some(player), score),
            None => (None, 0),
        }
    }
}

impl Game for Hill {
    fn bounds(&self) -> WorldBounds {
        self.arena.bounds()
    }

    fn add_player(&mut self, player: PlayerId) -> EntityId {
        if let Err(i) = self.holders.binary_search_by_key(&player.0, |h| h.player.0) {
            self.holders.insert(i, Holder { player, score: 0, held: 0.0 });
        }
        self.arena.add_player(player)
    }

    fn remove_player(&mut self, player: PlayerId) {
        if let Ok(i) = self.holders.binary_search_by_key(&player.0, |h| h.player.0) {
            self.holders.remove(i);
        }
        self.arena.remove_player(player);
    }

    fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
        self.arena.set_input(player, input);
    }

    fn step(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        if !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let playing = self.arena.round().phase == RoundPhase::Playing;
        let mut arena_events = Vec::new();
        self.arena.step(dt, &mut arena_events);
        if playing {
            self.hold(dt, events);
            self.moves_in -= dt;
            if self.moves_in <= 0.0 {
                self.hill = Self::random_spot(&mut self.rng, self.arena.bounds());
                self.moves_in = self.move_secs;
            }
        }
        for event in arena_events {
            match event {
                // The arena's scores are for pickups, and it has none.
                GameEvent::Scored { .. } => {}
                GameEvent::RoundOver { round, .. } => {
                    let (winner, score) = self.leader();
                    events.push(GameEvent::RoundOver { round, winner, score });
                }
                // Impacts, and whatever a later protocol adds, as the arena reported them.
                other => events.push(other),
            }
        }
        let round = self.arena.round().round;
        if round != self.round {
            self.round = round;
            for holder in &mut self.holders {
                *holder = Holder { score: 0, held: 0.0, ..*holder };
            }
            self.hill = Self::random_spot(&mut self.rng, self.arena.bounds());
            self.moves_in = self.move_secs;
        }
    }

    fn entities(&self, out: &mut Vec<EntityState>) {
        let ships = out.len();
        self.arena.entities(out);
        for ship in out[ships..].iter_mut().filter(|e| e.kind == KIND_SHIP) {
            let player = PlayerId(ship.id.0 as u16);
            ship.value = self.holder(player).map_or(0, |h| h.score);
        }
        out.push(EntityState {
            id: HILL_ID,
            kind: KIND_PICKUP,
            pos: quantize_position(self.hill),
            vel: quantize_velocity(Vec2::ZERO),
            heading: 0,
            flags: FLAG_ALIVE,
            value: HILL_VALUE,
        });
    }

    fn round(&self) -> RoundState {
        self.arena.round()
    }

    fn focus(&self, player: PlayerId) -> Option<Vec2> {
        self.arena.focus(player)
    }

    /// The hill, wherever it is: what every player flies to.
    fn always_visible(&self, entity: &EntityState) -> bool {
        entity.id == HILL_ID
    }

    fn score(&self, player: PlayerId) -> Option<u16> {
        self.holder(player).map(|h| h.score)
    }

    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
        let feedback = self.arena.feedback(player)?;
        Some(ControllerFeedback { score: self.holder(player)?.score, ..feedback })
    }
}

/// The game's own flags, parsed beside the server's.
#[derive(clap::Args)]
struct HillFlags {
    /// Seconds the hill stays in one place before it moves elsewhere, 1 to 600. Shorter keeps
    /// every ship flying; longer lets a good player dig in.
    #[arg(long, env = "HILL_MOVE_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u16).range(1..=600))]
    hill_move_secs: u16,
}

fn main() -> ExitCode {
    // The `tickwire-server` command (flags, logging, checks, banner, signals) around our game.
    tickwire_server::command::main_with_flags(|config, flags: HillFlags| {
        // The arena's flags (`--world-size`, `--round-time`, `--intermission`) shape the
        // hill's field and rounds too; `--pickups` is ignored, the hill is the only thing to take.
        let arena = config.arena();
        let move_secs = f32::from(flags.hill_move_secs);
        move |_room: RoomName, seed: u64| Hill::new(arena.clone(), move_secs, seed)
    })
}

#[cfg(test)]
mod tests {
    //! The game driven directly: no server, no sockets, time as an argument.
    use super::*;

    const DT: f32 = 1.0 / 30.0;

    /// Points `player`'s stick at the hill: full far away, gentle near, so that the ship
    /// stays inside the radius rather than overshoot.
    fn steer_to_hill(game: &mut Hill, player: PlayerId) {
        let stick = ((game.hill - game.focus(player).unwrap()) / 60.0).clamp_length_max(1.0);
        game.set_input(player, PlayerInput { x: stick.x, y: stick.y, ..Default::default() });
    }

    /// Whether `player`'s ship is within the hill's radius.
    fn on_hill(game: &Hill, player: PlayerId) -> bool {
        game.focus(player).unwrap().distance(game.hill) <= HILL_RADIUS
    }

    /// Steers `player`'s ship onto the hill and keeps it there, for up to `secs`.
    fn fly_to_hill(game: &mut Hill, player: PlayerId, secs: f32, events: &mut Vec<GameEvent>) {
        for _ in 0..(secs / DT) as usize {
            steer_to_hill(game, player);
            game.step(DT, events);
        }
    }

    #[test]
    fn a_ship_alone_on_the_hill_scores_a_point_a_second() {
        let mut game = Hill::new(ArenaConfig::default(), 15.0, 7);
        let player = PlayerId(1);
        game.add_player(player);
        let mut events = Vec::new();
        fly_to_hill(&mut game, player, 12.0, &mut events);
        let score = game.score(player).unwrap();
        // Flying there takes a few seconds of the twelve; holding it, a point a second.
        assert!((5..=12).contains(&score), "score {score} after 12 s");
        let scored: Vec<u16> = events
            .iter()
            .filter_map(|e| match *e {
                GameEvent::Scored { player: p, score } if p == player => Some(score),
                _ => None,
            })
            .collect();
        assert_eq!(scored, (1..=score).collect::<Vec<_>>(), "one event per point, in order");
        let mut entities = Vec::new();
        game.entities(&mut entities);
        let ship = entities.iter().find(|e| e.kind == KIND_SHIP).unwrap();
        assert_eq!(ship.value, score, "the ship carries the hill score");
        let hill = entities.iter().find(|e| e.id == HILL_ID && e.kind == KIND_PICKUP).unwrap();
        assert!(game.always_visible(hill), "every player sees the hill, wherever it is");
        assert!(!game.always_visible(ship), "ships only within the view radius");
    }

    #[test]
    fn a_contested_hill_scores_nobody() {
        let mut game = Hill::new(ArenaConfig::default(), 15.0, 11);
        let (a, b) = (PlayerId(1), PlayerId(2));
        game.add_player(a);
        game.add_player(b);
        let mut events = Vec::new();
        // Both fly in; once both hold it, nobody's score moves.
        for _ in 0..(10.0 / DT) as usize {
            steer_to_hill(&mut game, a);
            steer_to_hill(&mut game, b);
            game.step(DT, &mut events);
        }
        assert!(on_hill(&game, a) && on_hill(&game, b), "both ships hold the hill");
        let before = (game.score(a), game.score(b));
        for _ in 0..60 {
            game.step(DT, &mut events);
            assert!(on_hill(&game, a) && on_hill(&game, b), "both ships stay on the hill");
        }
        assert_eq!((game.score(a), game.score(b)), before, "contested: no points");
    }

    #[test]
    fn a_round_ends_with_the_hill_winner_and_the_next_starts_from_zero() {
        let mut game = Hill::new(ArenaConfig::default(), 15.0, 3);
        let player = PlayerId(4);
        game.add_player(player);
        let mut events = Vec::new();
        fly_to_hill(&mut game, player, 10.0, &mut events);
        let score = game.score(player).unwrap();
        assert!(score > 0);
        // Run the round out (120 s), idle: the step that ends it names the hill's winner.
        game.set_input(player, PlayerInput::default());
        let over = loop {
            events.clear();
            game.step(DT, &mut events);
            let over = events.iter().find_map(|e| match *e {
                GameEvent::RoundOver { winner, score, .. } => Some((winner, score)),
                _ => None,
            });
            if let Some(over) = over {
                break over;
            }
        };
        assert_eq!(over, (Some(player), game.score(player).unwrap()));
        assert!(over.1 >= score);
        // Then the intermission (8 s); the next round starts from zero.
        for _ in 0..(10.0 / DT) as usize {
            game.step(DT, &mut events);
        }
        assert_eq!(game.round().round, 2);
        assert_eq!(game.round().phase, RoundPhase::Playing);
        assert_eq!(game.score(player), Some(0), "a new round clears the scores");
    }

    /// `--hill-move-secs`: the hill stands that long, then moves, and stands that long again.
    #[test]
    fn the_hill_moves_every_move_secs() {
        let mut game = Hill::new(ArenaConfig::default(), 2.0, 9);
        let mut events = Vec::new();
        let mut moves = Vec::new();
        let mut at = game.hill;
        for step in 1..=(5.0 / DT) as usize {
            game.step(DT, &mut events);
            if game.hill != at {
                moves.push(step as f32 * DT);
                at = game.hill;
            }
        }
        assert_eq!(moves.len(), 2, "at 2 s and 4 s: {moves:?}");
        assert!(
            (moves[0] - 2.0).abs() < 3.0 * DT && (moves[1] - 4.0).abs() < 3.0 * DT,
            "{moves:?}"
        );
    }

    #[test]
    fn a_field_smaller_than_the_hill_puts_it_in_the_middle() {
        let tiny = ArenaConfig { width: 64, height: 200, ..ArenaConfig::default() };
        let game = Hill::new(tiny, 15.0, 5);
        assert_eq!(game.hill, Vec2::new(32.0, 100.0), "no room for a random spot either way");
    }

    #[test]
    fn the_same_seed_and_inputs_make_the_same_game() {
        let run = || {
            let mut game = Hill::new(ArenaConfig::default(), 15.0, 42);
            game.add_player(PlayerId(1));
            let mut events = Vec::new();
            fly_to_hill(&mut game, PlayerId(1), 20.0, &mut events);
            let mut entities = Vec::new();
            game.entities(&mut entities);
            (entities, events)
        };
        assert_eq!(run(), run());
    }
}
