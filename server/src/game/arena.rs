//! The arena: twin-stick ships race for pickups in a walled box, in timed rounds.
//!
//! Coordinates are world units, x right and y down (screen convention), so a heading of 0
//! points right and headings grow clockwise on screen. Entities on the wire:
//! - ships: id `EntityId(player.0)`, kind 0, `value` = score;
//! - pickups: ids `100_000 + slot` (a slot keeps its id across respawns), kind 1,
//!   `value` = worth; a collected pickup is absent until it respawns.
//!
//! Flags: bit 0 alive, bit 1 boosting (BOOST held while Playing), bit 2 invulnerable (just
//! (re)spawned: passes through other ships).
//!
//! Rounds: Playing for `round_secs`, then `RoundOver` and a frozen Intermission; the next round
//! resets scores, respawns every ship at a random free spot and reshuffles the pickups.
//!
//! Motion on the wire's grid: ships move by their velocity as the wire carries it (2 unit/s
//! steps), in whole position steps (1/16 unit), and turn in whole heading steps (1/256
//! turn), so a ship flying or turning steadily lands exactly where a client predicts it from
//! the snapshots before (PROTOCOL.md 6.2) and costs a bit or two per snapshot instead of a
//! correction. The velocity itself stays exact, so nothing about the feel changes: the path
//! differs from the exact one by less than a position step per tick.
//!
//! Determinism: all randomness comes from one `StdRng` seeded in [`Arena::new`], ships live in
//! a `Vec` sorted by player id and pickups in slot order, and no clock is read, so the same
//! seed and call sequence always give the same world.

use super::{Game, GameEvent, PlayerInput};
use glam::Vec2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f32::consts::TAU;
// How ships move, as predicting clients step them too (one definition, in the protocol crate).
pub use tickwire_shared::motion::MotionRules;
use tickwire_shared::motion::{ShipMotion, sanitize_stick};
use tickwire_shared::quant::{
    dequantize_position, quantize_heading, quantize_position, quantize_velocity,
};
use tickwire_shared::{
    Buttons, ControllerFeedback, EntityId, EntityState, PlayerId, Rgb, RoundPhase, RoundState,
    WorldBounds,
};

// Entity kinds, flags and ids, as clients read them (one definition, in the protocol crate).
pub use tickwire_shared::arena::{
    FLAG_ALIVE, FLAG_BOOSTING, FLAG_INVULNERABLE, KIND_PICKUP, KIND_SHIP, PICKUP_ID_BASE,
};

/// Ship colours, indexed by `player.0 % 10`. The browser client mirrors this table:
/// `#ff6b6b #4dabf7 #51cf66 #fcc419 #cc5de8 #ff922b #22b8cf #f06595 #94d82d #845ef7`.
pub const PALETTE: [Rgb; 10] = [
    Rgb([0xff, 0x6b, 0x6b]), // coral
    Rgb([0x4d, 0xab, 0xf7]), // sky blue
    Rgb([0x51, 0xcf, 0x66]), // green
    Rgb([0xfc, 0xc4, 0x19]), // yellow
    Rgb([0xcc, 0x5d, 0xe8]), // violet
    Rgb([0xff, 0x92, 0x2b]), // orange
    Rgb([0x22, 0xb8, 0xcf]), // cyan
    Rgb([0xf0, 0x65, 0x95]), // pink
    Rgb([0x94, 0xd8, 0x2d]), // lime
    Rgb([0x84, 0x5e, 0xf7]), // indigo
];

/// A player's ship colour: `PALETTE[player.0 % PALETTE.len()]`.
pub fn player_colour(player: PlayerId) -> Rgb {
    PALETTE[usize::from(player.0) % PALETTE.len()]
}

/// `pos` on the wire's position grid (1/16 unit).
fn on_grid(pos: Vec2) -> Vec2 {
    dequantize_position(quantize_position(pos))
}

/// A step longer than this is simulated as this long: the longest tick the configuration
/// allows (`--tick-rate 1`). The room steps by exactly one tick period, which is what clients
/// predict motion and count the round's time by, so anything shorter would slow the game
/// and move ships off the path they predict.
const MAX_DT: f32 = 1.0;
/// How long after an impact the controller rumbles, seconds of game time.
const RUMBLE_SECS: f64 = 0.2;
/// Attempts at a random spot clear of other ships before taking the last one anyway.
const SPAWN_ATTEMPTS: usize = 32;
/// A phase this close to its end is over: `n` steps of `1/n` s must end a 1 s phase even
/// though `1/n` as an f32 may be a hair short (0.1 ms is far below any tick length).
const PHASE_EPSILON: f64 = 1e-4;

/// Tuning of the arena. Out-of-range values are corrected by [`Arena::new`] rather than
/// trusted (the world is clamped to 64..=2047 units per side, the wire's position range).
#[derive(Debug, Clone, PartialEq)]
pub struct ArenaConfig {
    /// World width, units (default 1600). Wider spreads players out: fewer fights, more flying.
    pub width: u16,
    /// World height, units (default 1000).
    pub height: u16,
    /// How ships move: radius, thrust, boost, speed caps, drag, turn rate, wall bounce
    /// (defaults in [`MotionRules`]). One definition, in the protocol crate, because clients
    /// predicting their ship step it with the same code.
    pub motion: MotionRules,
    /// Share of closing speed kept in ship-ship hits, 0-1 (default 0.9: elastic-ish bumps).
    pub ship_restitution: f32,
    /// Closing speed below which a hit emits no `Impact`, units/s (default 120). Lower makes
    /// controllers buzz on every graze.
    pub impact_min_speed: f32,
    /// Closing speed mapped to impact strength 255, units/s (default 700).
    pub impact_full_speed: f32,
    /// Seconds of invulnerability after (re)spawning (default 1.5): time to get clear of a
    /// crowded spawn.
    pub spawn_invulnerable_secs: f32,
    /// Pickups on the field (default 12). More means more scoring and less contest per pickup.
    pub pickup_count: u16,
    /// Pickup radius, units (default 12).
    pub pickup_radius: f32,
    /// Chance a (re)spawned pickup is worth 3 instead of 1, 0-1 (default 0.15).
    pub rare_pickup_chance: f32,
    /// Seconds before a collected pickup reappears elsewhere (default 3).
    pub pickup_respawn_secs: f32,
    /// Length of the Playing phase, seconds (default 120).
    pub round_secs: f32,
    /// Length of the Intermission phase, seconds (default 8).
    pub intermission_secs: f32,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        Self {
            width: 1600,
            height: 1000,
            motion: MotionRules::default(),
            ship_restitution: 0.9,
            impact_min_speed: 120.0,
            impact_full_speed: 700.0,
            spawn_invulnerable_secs: 1.5,
            pickup_count: 12,
            pickup_radius: 12.0,
            rare_pickup_chance: 0.15,
            pickup_respawn_secs: 3.0,
            round_secs: 120.0,
            intermission_secs: 8.0,
        }
    }
}

impl ArenaConfig {
    /// Replaces non-finite or out-of-range values so the simulation can rely on them
    /// (finite, non-negative, ranges non-empty) and never panic.
    fn sanitized(mut self) -> Self {
        let d = Self::default();
        let fix = |v: f32, default: f32, lo: f32, hi: f32| {
            if v.is_finite() { v.max(lo).min(hi) } else { default }
        };
        self.width = self.width.clamp(64, 2047);
        self.height = self.height.clamp(64, 2047);
        let quarter = f32::from(self.width.min(self.height)) / 4.0;
        self.motion.ship_radius = fix(self.motion.ship_radius, d.motion.ship_radius, 1.0, quarter);
        self.pickup_radius = fix(self.pickup_radius, d.pickup_radius, 1.0, quarter);
        self.motion.thrust = fix(self.motion.thrust, d.motion.thrust, 0.0, 1e5);
        self.motion.boost_multiplier =
            fix(self.motion.boost_multiplier, d.motion.boost_multiplier, 0.0, 100.0);
        self.motion.max_speed = fix(self.motion.max_speed, d.motion.max_speed, 0.0, 4000.0);
        self.motion.boost_max_speed =
            fix(self.motion.boost_max_speed, d.motion.boost_max_speed, 0.0, 4000.0);
        self.motion.drag = fix(self.motion.drag, d.motion.drag, 0.0, 100.0);
        self.motion.turn_rate = fix(self.motion.turn_rate, d.motion.turn_rate, 0.0, 1000.0);
        self.motion.wall_restitution =
            fix(self.motion.wall_restitution, d.motion.wall_restitution, 0.0, 1.0);
        self.ship_restitution = fix(self.ship_restitution, d.ship_restitution, 0.0, 1.0);
        self.impact_min_speed = fix(self.impact_min_speed, d.impact_min_speed, 0.0, 1e5);
        self.impact_full_speed = fix(self.impact_full_speed, d.impact_full_speed, 1.0, 1e5);
        self.spawn_invulnerable_secs = fix(self.spawn_invulnerable_secs, 0.0, 0.0, 1e6);
        // Leaves room for the ships within a snapshot's 1024-entity cap.
        self.pickup_count = self.pickup_count.min(512);
        self.rare_pickup_chance = fix(self.rare_pickup_chance, 0.0, 0.0, 1.0);
        self.pickup_respawn_secs = fix(self.pickup_respawn_secs, d.pickup_respawn_secs, 0.0, 1e6);
        self.round_secs = fix(self.round_secs, d.round_secs, 1.0, 1e6);
        self.intermission_secs = fix(self.intermission_secs, d.intermission_secs, 0.0, 1e6);
        self
    }

    /// Impact strength for a hit at `closing_speed`, if hard enough to feel.
    fn impact_strength(&self, closing_speed: f32) -> Option<u8> {
        (closing_speed >= self.impact_min_speed)
            .then(|| (closing_speed / self.impact_full_speed * 255.0).clamp(1.0, 255.0) as u8)
    }
}

#[derive(Debug, Clone)]
struct Ship {
    player: PlayerId,
    pos: Vec2,
    vel: Vec2,
    heading: f32,
    /// Sanitized: finite, each axis in [-1, 1], length at most 1.
    input: PlayerInput,
    score: u16,
    invulnerable: f32,
    /// (game time, strength) of the latest impact.
    last_impact: Option<(f64, u8)>,
}

impl Ship {
    fn boosting(&self) -> bool {
        self.input.buttons.held(Buttons::BOOST)
    }

    fn hit(&mut self, time: f64, strength: u8, events: &mut Vec<GameEvent>) {
        // Within one step keep the strongest hit rather than the last one processed.
        let strength = match self.last_impact {
            Some((t, s)) if t == time => s.max(strength),
            _ => strength,
        };
        self.last_impact = Some((time, strength));
        events.push(GameEvent::Impact { player: self.player, strength });
    }
}

#[derive(Debug, Clone)]
struct Pickup {
    pos: Vec2,
    value: u16,
    /// `Some(seconds)` while collected and waiting to reappear.
    respawn_in: Option<f32>,
}

/// The arena game; see the module docs.
#[derive(Debug, Clone)]
pub struct Arena {
    config: ArenaConfig,
    rng: StdRng,
    /// Sorted by player id, so every loop over ships is in a deterministic order.
    ships: Vec<Ship>,
    pickups: Vec<Pickup>,
    round: u16,
    phase: RoundPhase,
    /// Seconds left in the phase; f64 so thousands of fixed steps sum without drift.
    phase_left: f64,
    /// Game time in seconds; f64 so rumble timing stays exact in long-lived rooms.
    time: f64,
    /// Scratch of [`Arena::collide_ships`], kept so a step allocates nothing.
    broadphase: Broadphase,
}

/// What a collision between two ships needs of the arena, read once per step: a pair reads
/// it from here instead of from the arena it mutates (which the compiler cannot hoist).
struct Contact<'a> {
    config: &'a ArenaConfig,
    radius: f32,
    lo: Vec2,
    hi: Vec2,
    time: f64,
}

impl<'a> Contact<'a> {
    fn of(config: &'a ArenaConfig, time: f64) -> Contact<'a> {
        let radius = config.motion.ship_radius;
        let size = Vec2::new(f32::from(config.width), f32::from(config.height));
        Contact { config, radius, lo: Vec2::splat(radius), hi: size - radius, time }
    }

    /// Ships `i` and `j` (`i < j`), if they overlap. Inlined into the pair loops: a call per
    /// pair cost a tenth of a small room's step.
    #[inline(always)]
    fn resolve(&self, ships: &mut [Ship], i: usize, j: usize, events: &mut Vec<GameEvent>) {
        let r = self.radius;
        let (head, tail) = ships.split_at_mut(j);
        let (a, b) = (&mut head[i], &mut tail[0]);
        if a.invulnerable > 0.0 || b.invulnerable > 0.0 {
            return;
        }
        let offset = b.pos - a.pos;
        let dist = offset.length();
        if dist >= 2.0 * r {
            return;
        }
        // Exactly stacked ships get a fixed normal so the outcome stays deterministic.
        let normal = if dist > 1e-4 { offset / dist } else { Vec2::X };
        let push = normal * (2.0 * r - dist) / 2.0;
        a.pos = (a.pos - push).clamp(self.lo, self.hi);
        b.pos = (b.pos + push).clamp(self.lo, self.hi);
        let closing = (a.vel - b.vel).dot(normal);
        if closing <= 0.0 {
            return; // already separating: only the overlap needed fixing
        }
        // Equal masses: each takes half the impulse.
        let impulse = normal * closing * (1.0 + self.config.ship_restitution) / 2.0;
        a.vel -= impulse;
        b.vel += impulse;
        if let Some(strength) = self.config.impact_strength(closing) {
            a.hit(self.time, strength, events);
            b.hit(self.time, strength, events);
        }
    }
}

/// Candidate pairs for ship collisions from a uniform grid of cells one ship diameter wide:
/// ships in cells that do not touch are at least a diameter apart, so a step checks the ships
/// near each other rather than every pair (a room of 1,000 ships has 499,500 pairs).
#[derive(Debug, Clone, Default)]
struct Broadphase {
    /// (cell, ship index), sorted.
    cells: Vec<(u64, u32)>,
    /// (higher index, lower index), sorted: the order of the pairwise loop it replaces.
    pairs: Vec<(u32, u32)>,
}

impl Broadphase {
    fn cell_of(pos: Vec2, size: f32) -> (i32, i32) {
        ((pos.x / size).floor() as i32, (pos.y / size).floor() as i32)
    }

    fn key((x, y): (i32, i32)) -> u64 {
        (u64::from(x as u32) << 32) | u64::from(y as u32)
    }

    /// Below this many ships every pair is checked: sorting cells costs more than it saves
    /// (BENCHMARKS.md, "Ship collisions in a crowded room": 3 to 4% slower at 512 ships, a
    /// fifth faster at 1,000).
    const FEWEST: usize = 600;

    /// Fills `pairs` with every pair of `ships` (those `collides` keeps) within a cell of each
    /// other.
    fn find(&mut self, ships: &[Ship], size: f32, collides: impl Fn(&Ship) -> bool) {
        self.cells.clear();
        self.pairs.clear();
        for (i, ship) in ships.iter().enumerate() {
            if collides(ship) {
                self.cells.push((Self::key(Self::cell_of(ship.pos, size)), i as u32));
            }
        }
        self.cells.sort_unstable();
        for &(_, i) in &self.cells {
            let (x, y) = Self::cell_of(ships[i as usize].pos, size);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let key = Self::key((x.wrapping_add(dx), y.wrapping_add(dy)));
                    let from = self.cells.partition_point(|&(k, _)| k < key);
                    for &(k, j) in &self.cells[from..] {
                        if k != key {
                            break;
                        }
                        if j > i {
                            self.pairs.push((j, i));
                        }
                    }
                }
            }
        }
        self.pairs.sort_unstable();
    }
}

impl Arena {
    /// A fresh arena in round 1, Playing, with its pickups placed from `seed`.
    pub fn new(config: ArenaConfig, seed: u64) -> Arena {
        let config = config.sanitized();
        let mut arena = Arena {
            rng: StdRng::seed_from_u64(seed),
            ships: Vec::new(),
            pickups: Vec::new(),
            round: 1,
            phase: RoundPhase::Playing,
            phase_left: f64::from(config.round_secs),
            time: 0.0,
            broadphase: Broadphase::default(),
            config,
        };
        arena.shuffle_pickups();
        arena
    }

    /// The configuration in use (after correction of out-of-range values).
    pub fn config(&self) -> &ArenaConfig {
        &self.config
    }

    fn ship_index(&self, player: PlayerId) -> Result<usize, usize> {
        self.ships.binary_search_by_key(&player, |s| s.player)
    }

    /// A uniformly random point at least `margin` from every wall.
    fn random_point(&mut self, margin: f32) -> Vec2 {
        let (w, h) = (f32::from(self.config.width), f32::from(self.config.height));
        let mut axis = |hi: f32| {
            let (lo, hi) = (margin, hi - margin);
            if lo < hi { self.rng.random_range(lo..hi) } else { (lo + hi) / 2.0 }
        };
        Vec2::new(axis(w), axis(h))
    }

    /// A random spot clear of every ship but `except` (falls back to the last try when the
    /// arena is packed; spawn invulnerability sorts that out).
    fn free_spot(&mut self, except: Option<PlayerId>) -> Vec2 {
        let r = self.config.motion.ship_radius;
        let mut spot = Vec2::ZERO;
        for _ in 0..SPAWN_ATTEMPTS {
            spot = self.random_point(r);
            let clear = self
                .ships
                .iter()
                .filter(|s| Some(s.player) != except)
                .all(|s| s.pos.distance(spot) >= 3.0 * r);
            if clear {
                break;
            }
        }
        spot
    }

    fn centre(&self) -> Vec2 {
        Vec2::new(f32::from(self.config.width), f32::from(self.config.height)) / 2.0
    }

    fn respawn_ship(&mut self, index: usize) {
        let pos = self.free_spot(Some(self.ships[index].player));
        let to_centre = self.centre() - pos;
        let ship = &mut self.ships[index];
        ship.pos = pos;
        ship.vel = Vec2::ZERO;
        ship.heading = to_centre.y.atan2(to_centre.x).rem_euclid(TAU);
        ship.invulnerable = self.config.spawn_invulnerable_secs;
    }

    fn place_pickup(&mut self, slot: usize) {
        let pos = self.random_point(self.config.pickup_radius);
        let rare = self.rng.random::<f32>() < self.config.rare_pickup_chance;
        self.pickups[slot] = Pickup { pos, value: if rare { 3 } else { 1 }, respawn_in: None };
    }

    fn shuffle_pickups(&mut self) {
        let blank = Pickup { pos: Vec2::ZERO, value: 1, respawn_in: None };
        self.pickups = vec![blank; usize::from(self.config.pickup_count)];
        for slot in 0..self.pickups.len() {
            self.place_pickup(slot);
        }
    }

    /// Thrust, drag, speed cap, motion and wall bounces for every ship.
    fn move_ships(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        let c = &self.config;
        let world = WorldBounds { width: c.width, height: c.height };
        for i in 0..self.ships.len() {
            let ship = &mut self.ships[i];
            ship.invulnerable = (ship.invulnerable - dt).max(0.0);
            let boosting = ship.boosting();
            let mut motion = ShipMotion { pos: ship.pos, vel: ship.vel, heading: ship.heading };
            let worst =
                motion.step(Vec2::new(ship.input.x, ship.input.y), boosting, dt, &c.motion, world);
            (ship.pos, ship.vel, ship.heading) = (motion.pos, motion.vel, motion.heading);
            if let Some(strength) = c.impact_strength(worst) {
                self.ships[i].hit(self.time, strength, events);
            }
        }
    }

    /// Pushes overlapping ships apart and exchanges momentum along the contact normal, pair by
    /// pair in the order (higher index, lower index).
    fn collide_ships(&mut self, events: &mut Vec<GameEvent>) {
        if self.ships.len() < Broadphase::FEWEST {
            self.collide_every_pair(events);
        } else {
            self.collide_near_pairs(events);
        }
    }

    fn collide_every_pair(&mut self, events: &mut Vec<GameEvent>) {
        let contact = Contact::of(&self.config, self.time);
        for j in 1..self.ships.len() {
            for i in 0..j {
                contact.resolve(&mut self.ships, i, j, events);
            }
        }
    }

    fn collide_near_pairs(&mut self, events: &mut Vec<GameEvent>) {
        let contact = Contact::of(&self.config, self.time);
        let mut broadphase = std::mem::take(&mut self.broadphase);
        broadphase.find(&self.ships, 2.0 * contact.radius, |ship| ship.invulnerable <= 0.0);
        for &(j, i) in &broadphase.pairs {
            contact.resolve(&mut self.ships, i as usize, j as usize, events);
        }
        self.broadphase = broadphase;
    }

    /// Ships (lowest id first, so ties are deterministic) collect the pickups they touch.
    fn collect_pickups(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        let reach = self.config.motion.ship_radius + self.config.pickup_radius;
        for slot in 0..self.pickups.len() {
            match self.pickups[slot].respawn_in {
                Some(left) if left > dt => self.pickups[slot].respawn_in = Some(left - dt),
                Some(_) => self.place_pickup(slot),
                None => {}
            }
            let pickup = &mut self.pickups[slot];
            if pickup.respawn_in.is_some() {
                continue;
            }
            if let Some(ship) = self.ships.iter_mut().find(|s| s.pos.distance(pickup.pos) < reach) {
                ship.score = ship.score.saturating_add(pickup.value);
                pickup.respawn_in = Some(self.config.pickup_respawn_secs);
                events.push(GameEvent::Scored { player: ship.player, score: ship.score });
            }
        }
    }

    fn end_round(&mut self, events: &mut Vec<GameEvent>) {
        // Ships are sorted by id, so keeping only strictly better scores breaks ties by
        // lowest id.
        let best = self.ships.iter().fold(None::<&Ship>, |best, s| match best {
            Some(b) if b.score >= s.score => Some(b),
            _ => Some(s),
        });
        let (winner, score) = match best {
            Some(s) if s.score > 0 => (Some(s.player), s.score),
            _ => (None, 0),
        };
        events.push(GameEvent::RoundOver { round: self.round, winner, score });
        for ship in &mut self.ships {
            ship.vel = Vec2::ZERO; // frozen for the scoreboard
        }
        self.phase = RoundPhase::Intermission;
        self.phase_left = f64::from(self.config.intermission_secs);
    }

    fn start_round(&mut self) {
        self.round = self.round.saturating_add(1);
        self.phase = RoundPhase::Playing;
        self.phase_left = f64::from(self.config.round_secs);
        for i in 0..self.ships.len() {
            self.ships[i].score = 0;
            self.respawn_ship(i);
        }
        self.shuffle_pickups();
    }
}

/// NaN and infinities count as 0; each axis is clamped to [-1, 1] and the vector to length 1.
fn sanitize_input(input: PlayerInput) -> PlayerInput {
    let stick = sanitize_stick(Vec2::new(input.x, input.y));
    PlayerInput { x: stick.x, y: stick.y, buttons: input.buttons }
}

impl Game for Arena {
    fn bounds(&self) -> WorldBounds {
        WorldBounds { width: self.config.width, height: self.config.height }
    }

    fn add_player(&mut self, player: PlayerId) -> EntityId {
        if let Err(index) = self.ship_index(player) {
            let ship = Ship {
                player,
                pos: Vec2::ZERO,
                vel: Vec2::ZERO,
                heading: 0.0,
                input: PlayerInput::default(),
                score: 0,
                invulnerable: 0.0,
                last_impact: None,
            };
            self.ships.insert(index, ship);
            self.respawn_ship(index);
        }
        EntityId(u32::from(player.0))
    }

    fn remove_player(&mut self, player: PlayerId) {
        if let Ok(index) = self.ship_index(player) {
            self.ships.remove(index);
        }
    }

    fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
        if let Ok(index) = self.ship_index(player) {
            self.ships[index].input = sanitize_input(input);
        }
    }

    fn step(&mut self, dt: f32, events: &mut Vec<GameEvent>) {
        // NaN, infinite, zero and negative steps all do nothing.
        if !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let dt = dt.min(MAX_DT);
        self.time += f64::from(dt);
        self.phase_left -= f64::from(dt);
        match self.phase {
            RoundPhase::Playing => {
                self.move_ships(dt, events);
                self.collide_ships(events);
                for ship in &mut self.ships {
                    ship.pos = on_grid(ship.pos);
                }
                self.collect_pickups(dt, events);
                if self.phase_left <= PHASE_EPSILON {
                    self.end_round(events);
                }
            }
            RoundPhase::Intermission => {
                if self.phase_left <= PHASE_EPSILON {
                    self.start_round();
                }
            }
        }
    }

    fn entities(&self, out: &mut Vec<EntityState>) {
        for ship in &self.ships {
            let mut flags = FLAG_ALIVE;
            if ship.boosting() && self.phase == RoundPhase::Playing {
                flags |= FLAG_BOOSTING;
            }
            if ship.invulnerable > 0.0 {
                flags |= FLAG_INVULNERABLE;
            }
            out.push(EntityState {
                id: EntityId(u32::from(ship.player.0)),
                kind: KIND_SHIP,
                pos: quantize_position(ship.pos),
                vel: quantize_velocity(ship.vel),
                heading: quantize_heading(ship.heading),
                flags,
                value: ship.score,
            });
        }
        for (slot, pickup) in self.pickups.iter().enumerate() {
            if pickup.respawn_in.is_none() {
                out.push(EntityState {
                    id: EntityId(PICKUP_ID_BASE + slot as u32),
                    kind: KIND_PICKUP,
                    pos: quantize_position(pickup.pos),
                    vel: quantize_velocity(Vec2::ZERO),
                    heading: 0,
                    flags: FLAG_ALIVE,
                    value: pickup.value,
                });
            }
        }
    }

    fn round(&self) -> RoundState {
        // Rounded up ("0" only once over), with the same tolerance as the phase end; `as`
        // saturates.
        let seconds_left = (self.phase_left - PHASE_EPSILON).max(0.0).ceil() as u16;
        RoundState { round: self.round, phase: self.phase, seconds_left }
    }

    fn focus(&self, player: PlayerId) -> Option<Vec2> {
        self.ship_index(player).ok().map(|i| self.ships[i].pos)
    }

    fn score(&self, player: PlayerId) -> Option<u16> {
        self.ship_index(player).ok().map(|i| self.ships[i].score)
    }

    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
        let ship = &self.ships[self.ship_index(player).ok()?];
        let rumble = match ship.last_impact {
            Some((t, strength)) if self.time - t <= RUMBLE_SECS => strength,
            _ => 0,
        };
        Some(ControllerFeedback {
            colour: player_colour(player),
            score: ship.score,
            alive: true,
            rumble,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f32::consts::PI;

    const DT: f32 = 1.0 / 30.0;

    /// No pickups and no spawn invulnerability, so tests control every interaction.
    fn quiet() -> ArenaConfig {
        ArenaConfig { pickup_count: 0, spawn_invulnerable_secs: 0.0, ..ArenaConfig::default() }
    }

    fn stick(x: f32, y: f32, boost: bool) -> PlayerInput {
        PlayerInput { x, y, buttons: Buttons(if boost { Buttons::BOOST } else { 0 }) }
    }

    fn run(arena: &mut Arena, steps: usize) -> Vec<GameEvent> {
        let mut events = Vec::new();
        for _ in 0..steps {
            arena.step(DT, &mut events);
        }
        events
    }

    fn ship(arena: &mut Arena, player: u16) -> &mut Ship {
        let index = arena.ship_index(PlayerId(player)).expect("ship exists");
        &mut arena.ships[index]
    }

    fn place(arena: &mut Arena, player: u16, pos: Vec2, vel: Vec2) {
        arena.add_player(PlayerId(player));
        let s = ship(arena, player);
        (s.pos, s.vel) = (pos, vel);
    }

    fn entities(arena: &Arena) -> Vec<EntityState> {
        let mut out = Vec::new();
        arena.entities(&mut out);
        out
    }

    fn scripted_run(seed: u64) -> Vec<EntityState> {
        let mut arena = Arena::new(ArenaConfig::default(), seed);
        for p in 1..=4 {
            arena.add_player(PlayerId(p));
        }
        for t in 0..900 {
            for p in 1..=4u16 {
                let a = t as f32 * 0.01 * f32::from(p);
                arena.set_input(
                    PlayerId(p),
                    stick(a.cos(), a.sin(), (t / 50 + p as usize).is_multiple_of(3)),
                );
            }
            arena.step(DT, &mut Vec::new());
        }
        entities(&arena)
    }

    #[test]
    fn same_seed_and_inputs_give_identical_worlds() {
        assert_eq!(scripted_run(7), scripted_run(7));
        assert_ne!(scripted_run(7), scripted_run(8));
    }

    #[test]
    fn thrust_moves_ship_in_input_direction() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(800.0, 500.0), Vec2::ZERO);
        arena.set_input(PlayerId(1), stick(0.0, -1.0, false));
        run(&mut arena, 15);
        let s = ship(&mut arena, 1);
        assert!(s.pos.y < 450.0 && (s.pos.x - 800.0).abs() < 1.0, "{:?}", s.pos);
        assert!((s.heading - 1.5 * PI).abs() < 0.01, "turned to face up: {}", s.heading);
    }

    #[test]
    fn ships_move_in_whole_steps_of_the_velocity_the_wire_carries() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(800.0, 500.0), Vec2::ZERO);
        arena.set_input(PlayerId(1), stick(1.0, 0.0, false));
        run(&mut arena, 1);
        // 900 u/s² for a tick, then drag: 28.82 u/s, 14 on the wire (28 u/s, 2 u/s steps);
        // 14 * 32 / 30 = 14.93 rounds to 15 steps (the browser's prediction test checks the
        // same number).
        let s = ship(&mut arena, 1);
        assert_eq!(s.pos, Vec2::new(800.9375, 500.0));
        assert!((s.vel.x - 28.82).abs() < 0.01, "the velocity stays exact: {}", s.vel.x);
        // Steering in a circle, boosting now and then: every tick moves each axis by
        // div(32 v, 30) steps of the velocity the snapshot carries (PROTOCOL.md 6.2, k = 1).
        let mut before = entities(&arena)[0];
        for t in 1..120 {
            let a = t as f32 * 0.15;
            arena.set_input(PlayerId(1), stick(a.cos(), a.sin(), t % 40 < 10));
            run(&mut arena, 1);
            let now = entities(&arena)[0];
            let div = |v: i16| (f64::from(v) * 32.0 / 30.0).round() as i16;
            let moved = (now.pos.x - before.pos.x, now.pos.y - before.pos.y);
            assert_eq!(moved, (div(now.vel.x), div(now.vel.y)), "tick {t}: {before:?} -> {now:?}");
            let pos = ship(&mut arena, 1).pos * 16.0;
            assert_eq!(pos, pos.round(), "on the position grid");
            before = now;
        }
    }

    #[test]
    fn a_tick_of_a_second_is_simulated_whole() {
        // `--tick-rate 1`: the round's clock and the motion clients predict, div(32 v, 1)
        // steps of the velocity the snapshot carries, are one whole second.
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(400.0, 500.0), Vec2::new(100.0, 0.0));
        let before = entities(&arena)[0];
        let left = arena.phase_left;
        arena.step(1.0, &mut Vec::new());
        assert_eq!(arena.phase_left, left - 1.0);
        let now = entities(&arena)[0];
        assert_eq!(now.pos.x - before.pos.x, now.vel.x * 32, "{before:?} -> {now:?}");
    }

    #[test]
    fn a_ship_turning_at_full_rate_turns_the_same_steps_every_tick() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(800.0, 500.0), Vec2::ZERO);
        ship(&mut arena, 1).heading = 0.0;
        // Half a turn to go (128 steps) at 10 rad/s: 14 steps a tick, then the rest.
        arena.set_input(PlayerId(1), stick(-1.0, 0.05, false));
        let mut headings = vec![0u8];
        for _ in 0..10 {
            run(&mut arena, 1);
            headings.push(entities(&arena)[0].heading);
        }
        let turns: Vec<i16> = headings
            .windows(2)
            .map(|w| (i16::from(w[1]) - i16::from(w[0])).rem_euclid(256))
            .collect();
        assert_eq!(turns[..8], [14; 8], "14 steps each tick: {headings:?}");
        let target = quantize_heading(0.05f32.atan2(-1.0));
        assert_eq!(*headings.last().unwrap_or(&0), target, "stops on the stick: {headings:?}");
    }

    #[test]
    fn boost_is_faster_than_no_boost() {
        let speed_after = |boost: bool| {
            let mut arena = Arena::new(quiet(), 1);
            place(&mut arena, 1, Vec2::new(100.0, 500.0), Vec2::ZERO);
            arena.set_input(PlayerId(1), stick(1.0, 0.0, boost));
            run(&mut arena, 45);
            ship(&mut arena, 1).vel.length()
        };
        let (plain, boosted) = (speed_after(false), speed_after(true));
        assert!((plain - 420.0).abs() < 1.0, "plain speed settles at the cap: {plain}");
        assert!(boosted > plain + 100.0, "boosted {boosted} vs plain {plain}");
    }

    #[test]
    fn wall_bounce_keeps_ships_in_bounds_and_reports_impact() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(1570.0, 500.0), Vec2::new(600.0, 0.0));
        let events = run(&mut arena, 1);
        let s = ship(&mut arena, 1);
        assert!(s.pos.x <= 1600.0 - 20.0 && s.vel.x < 0.0, "{:?} {:?}", s.pos, s.vel);
        assert!(s.vel.x.abs() < 600.0, "lost speed: {:?}", s.vel);
        assert!(
            matches!(events[..], [GameEvent::Impact { player: PlayerId(1), strength }] if strength > 100)
        );
    }

    #[test]
    fn ship_collision_separates_ships() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(500.0, 500.0), Vec2::new(300.0, 0.0));
        place(&mut arena, 2, Vec2::new(550.0, 500.0), Vec2::new(-300.0, 0.0));
        let events = run(&mut arena, 3);
        let (a, b) = (ship(&mut arena, 1).clone(), ship(&mut arena, 2).clone());
        assert!(a.pos.distance(b.pos) >= 40.0 - 1e-3, "{:?} {:?}", a.pos, b.pos);
        assert!(a.vel.x < 0.0 && b.vel.x > 0.0, "bounced: {:?} {:?}", a.vel, b.vel);
        for p in [1, 2] {
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, GameEvent::Impact { player, .. } if player.0 == p))
            );
        }
    }

    #[test]
    fn the_broadphase_pairs_every_overlapping_pair_once_and_few_others() {
        let mut arena = Arena::new(quiet(), 1);
        let mut rng = StdRng::seed_from_u64(9);
        let n: u16 = 700;
        for p in 1..=n {
            let pos = Vec2::new(rng.random_range(20.0..1580.0), rng.random_range(20.0..980.0));
            place(&mut arena, p, pos, Vec2::ZERO);
        }
        for p in (1..=n).step_by(7) {
            ship(&mut arena, p).invulnerable = 1.0;
        }
        let r = arena.config.motion.ship_radius;
        let mut broadphase = Broadphase::default();
        broadphase.find(&arena.ships, 2.0 * r, |ship| ship.invulnerable <= 0.0);
        let pairs = &broadphase.pairs;
        assert!(arena.ships.len() >= Broadphase::FEWEST, "the grid is what is tested");
        assert!(pairs.windows(2).all(|w| w[0] < w[1]), "sorted, none twice");
        let mut overlapping = 0;
        for j in 0..arena.ships.len() {
            for i in 0..j {
                let (a, b) = (&arena.ships[i], &arena.ships[j]);
                let found = pairs.binary_search(&(j as u32, i as u32)).is_ok();
                let solid = a.invulnerable <= 0.0 && b.invulnerable <= 0.0;
                if a.pos.distance(b.pos) < 2.0 * r && solid {
                    assert!(found, "{i} and {j} overlap: {:?} {:?}", a.pos, b.pos);
                    overlapping += 1;
                }
                if found {
                    assert!(solid, "an invulnerable ship paired");
                    assert!(a.pos.distance(b.pos) < 4.0 * r * std::f32::consts::SQRT_2);
                }
            }
        }
        assert!(overlapping > 50, "a crowded field: {overlapping}");
        let all = arena.ships.len() * (arena.ships.len() - 1) / 2;
        assert!(pairs.len() * 20 < all, "{} of {all} pairs checked", pairs.len());
    }

    #[test]
    fn near_pairs_collide_as_every_pair_does() {
        // A lattice of ships 55 apart in rows 45 apart, every other one shifted to overlap its
        // right-hand neighbour and flying at it: 308 collisions, none chained to another.
        let mut arena = Arena::new(quiet(), 1);
        let mut p = 0;
        for row in 0..22 {
            for col in 0..28 {
                p += 1;
                let shift = if col % 2 == 0 { 20.0 } else { 0.0 };
                let pos = Vec2::new(30.0 + col as f32 * 55.0 + shift, 30.0 + row as f32 * 45.0);
                let vel = Vec2::new(if col % 2 == 0 { 200.0 } else { -50.0 }, 10.0);
                place(&mut arena, p, pos, vel);
            }
        }
        assert!(arena.ships.len() >= Broadphase::FEWEST);
        let mut every = arena.clone();
        let (mut near_events, mut every_events) = (Vec::new(), Vec::new());
        arena.collide_near_pairs(&mut near_events);
        every.collide_every_pair(&mut every_events);
        assert_eq!(near_events.len(), 2 * 308, "every pair hit");
        assert_eq!(near_events, every_events);
        for (near, every) in arena.ships.iter().zip(&every.ships) {
            assert_eq!((near.pos, near.vel), (every.pos, every.vel));
        }
    }

    #[test]
    fn invulnerable_ships_pass_through_each_other() {
        let mut arena = Arena::new(ArenaConfig { pickup_count: 0, ..ArenaConfig::default() }, 1);
        place(&mut arena, 1, Vec2::new(500.0, 500.0), Vec2::ZERO);
        place(&mut arena, 2, Vec2::new(510.0, 500.0), Vec2::ZERO);
        assert!(entities(&arena).iter().all(|e| e.flags & FLAG_INVULNERABLE != 0));
        assert!(run(&mut arena, 1).is_empty());
        assert_eq!(ship(&mut arena, 2).pos.x - ship(&mut arena, 1).pos.x, 10.0);
    }

    #[test]
    fn collecting_a_pickup_scores_and_it_respawns() {
        let config = ArenaConfig { pickup_count: 1, rare_pickup_chance: 0.0, ..quiet() };
        let mut arena = Arena::new(config, 3);
        let at = arena.pickups[0].pos;
        place(&mut arena, 1, at, Vec2::ZERO);
        let events = run(&mut arena, 1);
        assert_eq!(events, [GameEvent::Scored { player: PlayerId(1), score: 1 }]);
        let pickup_listed = |a: &Arena| entities(a).iter().any(|e| e.id.0 == PICKUP_ID_BASE);
        assert!(!pickup_listed(&arena));
        place(&mut arena, 1, Vec2::new(-1.0, -1.0), Vec2::ZERO); // park it in a corner
        run(&mut arena, 80); // pickup_respawn_secs = 3
        assert!(!pickup_listed(&arena));
        run(&mut arena, 15);
        let e = entities(&arena).into_iter().find(|e| e.id.0 == PICKUP_ID_BASE).unwrap();
        assert_eq!((e.kind, e.flags, e.value), (KIND_PICKUP, FLAG_ALIVE, 1));
        assert_ne!(e.pos, quantize_position(at), "respawned elsewhere");
        assert_eq!(entities(&arena)[0].value, 1, "ship entity carries the score");
    }

    #[test]
    fn round_over_names_winner_then_next_round_resets() {
        let config = ArenaConfig { round_secs: 2.0, intermission_secs: 1.0, ..quiet() };
        let mut arena = Arena::new(config, 5);
        assert_eq!(
            arena.round(),
            RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 2 }
        );
        for p in [3, 1, 2] {
            arena.add_player(PlayerId(p));
        }
        ship(&mut arena, 2).score = 4;
        ship(&mut arena, 3).score = 4; // tie: the lower id (2) wins
        ship(&mut arena, 1).score = 1;
        arena.set_input(PlayerId(1), stick(1.0, 0.0, true));
        let events = run(&mut arena, 60);
        let over = [GameEvent::RoundOver { round: 1, winner: Some(PlayerId(2)), score: 4 }];
        assert_eq!(events.iter().filter(|e| matches!(e, GameEvent::RoundOver { .. })).count(), 1);
        assert!(events.ends_with(&over), "{events:?}");
        assert_eq!(arena.round().phase, RoundPhase::Intermission);
        assert_eq!(arena.round().seconds_left, 1);
        let frozen = ship(&mut arena, 1).pos;
        run(&mut arena, 15);
        assert_eq!(ship(&mut arena, 1).pos, frozen, "no movement in intermission");
        run(&mut arena, 15);
        assert_eq!(
            arena.round(),
            RoundState { round: 2, phase: RoundPhase::Playing, seconds_left: 2 }
        );
        assert!(arena.ships.iter().all(|s| s.score == 0));
        // Nobody scores in round 2.
        let events = run(&mut arena, 60);
        assert!(events.contains(&GameEvent::RoundOver { round: 2, winner: None, score: 0 }));
    }

    #[test]
    fn rumble_follows_impact_then_decays() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(30.0, 500.0), Vec2::new(-400.0, 0.0));
        let feedback = |a: &Arena| a.feedback(PlayerId(1)).unwrap();
        assert_eq!(feedback(&arena).rumble, 0);
        run(&mut arena, 1);
        let f = feedback(&arena);
        assert!(f.rumble > 0, "{f:?}");
        assert_eq!((f.colour, f.alive), (player_colour(PlayerId(1)), true));
        run(&mut arena, 4);
        assert_eq!(feedback(&arena).rumble, f.rumble, "still within 0.2 s");
        run(&mut arena, 3);
        assert_eq!(feedback(&arena).rumble, 0);
        assert_eq!(arena.feedback(PlayerId(9)), None);
    }

    #[test]
    fn nan_input_is_ignored() {
        let mut arena = Arena::new(quiet(), 1);
        place(&mut arena, 1, Vec2::new(800.0, 500.0), Vec2::ZERO);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            arena.set_input(PlayerId(1), stick(bad, bad, true));
            run(&mut arena, 5);
            arena.step(bad, &mut Vec::new());
            arena.step(-1.0, &mut Vec::new());
        }
        assert_eq!(arena.focus(PlayerId(1)), Some(Vec2::new(800.0, 500.0)));
        arena.set_input(PlayerId(1), stick(1e30, 0.0, false)); // clamped to full stick
        run(&mut arena, 60);
        assert!(ship(&mut arena, 1).vel.length() <= 420.0 + 1e-3);
    }

    #[test]
    fn add_player_is_idempotent_and_spawns_apart() {
        let mut arena = Arena::new(ArenaConfig::default(), 11);
        assert_eq!(arena.add_player(PlayerId(4)), EntityId(4));
        let before = arena.focus(PlayerId(4));
        assert_eq!(arena.add_player(PlayerId(4)), EntityId(4));
        assert_eq!(arena.focus(PlayerId(4)), before);
        for p in 0..20 {
            arena.add_player(PlayerId(p));
        }
        let ships = entities(&arena).into_iter().filter(|e| e.kind == KIND_SHIP).count();
        assert_eq!(ships, 20);
        for (i, a) in arena.ships.iter().enumerate() {
            assert!(arena.ships[i + 1..].iter().all(|b| a.pos.distance(b.pos) >= 40.0));
        }
    }

    #[test]
    fn remove_player_removes_the_ship() {
        let mut arena = Arena::new(quiet(), 1);
        arena.add_player(PlayerId(1));
        arena.add_player(PlayerId(2));
        arena.remove_player(PlayerId(1));
        arena.remove_player(PlayerId(77)); // unknown: no-op
        let ids: Vec<_> = entities(&arena).iter().map(|e| e.id).collect();
        assert_eq!(ids, [EntityId(2)]);
        assert_eq!(arena.focus(PlayerId(1)), None);
    }

    #[test]
    fn palette_has_distinct_colours() {
        let mut colours: Vec<_> = (0..10).map(|p| player_colour(PlayerId(p)).0).collect();
        colours.sort();
        colours.dedup();
        assert_eq!(colours.len(), 10);
        assert_eq!(player_colour(PlayerId(10)), player_colour(PlayerId(0)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_inputs_keep_ships_in_bounds(
            seed in any::<u64>(),
            script in proptest::collection::vec((0u16..6, -1.5f32..1.5, -1.5f32..1.5, any::<bool>()), 1..400),
        ) {
            let mut arena = Arena::new(ArenaConfig { round_secs: 5.0, intermission_secs: 1.0, ..ArenaConfig::default() }, seed);
            let mut events = Vec::new();
            for (p, x, y, boost) in script {
                arena.add_player(PlayerId(p));
                arena.set_input(PlayerId(p), stick(x, y, boost));
                arena.step(DT, &mut events);
                for e in entities(&arena) {
                    let (x, y) = (e.pos.x as f32 / 16.0, e.pos.y as f32 / 16.0);
                    prop_assert!((0.0..1600.0).contains(&x) && (0.0..1000.0).contains(&y), "{e:?}");
                }
                for s in &arena.ships {
                    prop_assert!(s.pos.is_finite() && s.vel.is_finite() && s.heading.is_finite());
                }
            }
        }
    }
}
