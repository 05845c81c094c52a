//! How a bot plays: a seeded mix of wandering, chasing pickups and ships, and boosting, read
//! from the world it rebuilt, so its inputs look like a player's (turns, bursts, collisions).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tickwire_client::Controls;
use tickwire_shared::EntityId;
use tickwire_shared::delta::World;

/// Arena's entity kinds (`server/src/game/arena.rs`).
const KIND_SHIP: u8 = 0;
const KIND_PICKUP: u8 = 1;
/// Beyond this distance (quantized units: 1/16 world unit) a chaser boosts: 300 units.
const BOOST_DISTANCE_Q: f32 = 300.0 * 16.0;

/// What a bot is doing for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Flies a random direction, changing it now and then.
    Wander,
    /// Flies to the nearest pickup it sees.
    ChasePickup,
    /// Flies at the nearest other ship it sees.
    ChaseShip,
}

/// One bot's decisions: deterministic given its seed and what it sees.
#[derive(Debug)]
pub struct Behaviour {
    rng: SmallRng,
    mode: Mode,
    mode_until: Option<Instant>,
    heading: (f32, f32),
    boost_until: Option<Instant>,
}

impl Behaviour {
    /// A behaviour seeded with `seed`.
    pub fn new(seed: u64) -> Behaviour {
        Behaviour {
            rng: SmallRng::seed_from_u64(seed),
            mode: Mode::Wander,
            mode_until: None,
            heading: (1.0, 0.0),
            boost_until: None,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The controls for `now`, given the world this bot sees (none for controllers) and its
    /// own ship.
    pub fn steer(
        &mut self,
        now: Instant,
        world: Option<&World>,
        ship: Option<EntityId>,
    ) -> Controls {
        if self.mode_until.is_none_or(|until| now >= until) {
            self.mode = match self.rng.random_range(0..10) {
                0..=3 => Mode::Wander,
                4..=7 => Mode::ChasePickup,
                _ => Mode::ChaseShip,
            };
            self.mode_until = Some(now + Duration::from_millis(self.rng.random_range(1000..4000)));
            self.new_heading();
        }
        let me = world.zip(ship).and_then(|(w, id)| w.get(id)).map(|e| e.pos);
        let target = match (self.mode, world, me) {
            (Mode::ChasePickup, Some(world), Some(me)) => nearest(world, me, KIND_PICKUP, ship),
            (Mode::ChaseShip, Some(world), Some(me)) => nearest(world, me, KIND_SHIP, ship),
            _ => None,
        };
        let (x, y, far) = match (target, me) {
            (Some(t), Some(me)) => {
                let (dx, dy) = (f32::from(t.x) - f32::from(me.x), f32::from(t.y) - f32::from(me.y));
                let len = (dx * dx + dy * dy).sqrt().max(1.0);
                (dx / len, dy / len, len > BOOST_DISTANCE_Q)
            }
            _ => {
                if self.rng.random_bool(0.02) {
                    self.new_heading();
                }
                (self.heading.0, self.heading.1, false)
            }
        };
        // Chasers boost when far; anyone boosts in short random bursts.
        if self.boost_until.is_none_or(|until| now >= until) && self.rng.random_bool(0.01) {
            self.boost_until = Some(now + Duration::from_millis(self.rng.random_range(200..900)));
        }
        let bursting = self.boost_until.is_some_and(|until| now < until);
        Controls { x, y, boost: far || bursting, action: false }
    }

    fn new_heading(&mut self) {
        let angle = self.rng.random_range(0.0..std::f32::consts::TAU);
        self.heading = (angle.cos(), angle.sin());
    }
}

fn nearest(
    world: &World,
    me: tickwire_shared::QVec2,
    kind: u8,
    not: Option<EntityId>,
) -> Option<tickwire_shared::QVec2> {
    world
        .entities
        .iter()
        .filter(|e| e.kind == kind && Some(e.id) != not)
        .min_by_key(|e| {
            let dx = i64::from(e.pos.x) - i64::from(me.x);
            let dy = i64::from(e.pos.y) - i64::from(me.y);
            dx * dx + dy * dy
        })
        .map(|e| e.pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::{EntityState, QVec2, RoundPhase, RoundState, Tick};

    fn entity(id: u32, kind: u8, x: i16, y: i16) -> EntityState {
        EntityState {
            id: EntityId(id),
            kind,
            pos: QVec2 { x, y },
            vel: QVec2::default(),
            heading: 0,
            flags: 1,
            value: 0,
        }
    }

    fn world() -> World {
        let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 60 };
        World::from_unsorted(
            Tick(1),
            round,
            vec![
                entity(1, KIND_SHIP, 1600, 1600),
                entity(2, KIND_SHIP, 1600, 16_000),
                entity(100_000, KIND_PICKUP, 3200, 1600),
            ],
        )
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let now = Instant::now();
        let (mut a, mut b) = (Behaviour::new(7), Behaviour::new(7));
        let w = world();
        for i in 0..200 {
            let t = now + Duration::from_millis(33 * i);
            assert_eq!(
                a.steer(t, Some(&w), Some(EntityId(1))),
                b.steer(t, Some(&w), Some(EntityId(1)))
            );
        }
        let mut c = Behaviour::new(8);
        let differs = (0..200).any(|i| {
            let t = now + Duration::from_millis(33 * i);
            a.steer(t, Some(&w), Some(EntityId(1))) != c.steer(t, Some(&w), Some(EntityId(1)))
        });
        assert!(differs, "another seed plays differently");
    }

    #[test]
    fn chasers_head_for_their_target_and_boost_when_far() {
        let now = Instant::now();
        let w = world();
        let mut seen = (false, false);
        for seed in 0..50 {
            let mut bot = Behaviour::new(seed);
            let c = bot.steer(now, Some(&w), Some(EntityId(1)));
            match bot.mode() {
                Mode::ChasePickup => {
                    assert!(c.x > 0.99 && c.y.abs() < 0.01, "pickup is to the right: {c:?}");
                    seen.0 = true;
                }
                Mode::ChaseShip => {
                    assert!(c.y > 0.99 && c.boost, "ship 2 is far below: {c:?}");
                    seen.1 = true;
                }
                Mode::Wander => assert!((c.x * c.x + c.y * c.y - 1.0).abs() < 1e-3),
            }
        }
        assert_eq!(seen, (true, true), "50 seeds try every mode");
    }
}
