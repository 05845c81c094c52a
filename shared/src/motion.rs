//! The arena's movement rule for one ship (feature `std`): the very code the server steps its
//! ships with, so that a client predicting its own ship from the inputs the server has not
//! applied yet lands where the server will (to within what the wire's rounding of the
//! velocity it starts from moves it, a fraction of a unit), unless something only the server
//! knows happened (a collision, an input lost or folded, a respawn).
//!
//! Needs `std` for `f32::exp` and `f32::atan2`: `core` has neither, and `libm`'s results may
//! differ from the platform's in the last bit, which is the difference this module exists to
//! avoid. A controller, which predicts nothing, never turns it on.
//!
//! Motion is on the wire's grid: a ship moves by its velocity as the wire carries it (2 unit/s
//! steps) in whole position steps (1/16 unit) and turns in whole heading steps (1/256 turn),
//! so a ship flying or turning steadily lands exactly where the snapshots before predict it
//! (PROTOCOL.md 6.2). The velocity itself stays exact.

use crate::messages::{EntityState, Input};
use crate::quant::{
    POSITION_SCALE, VELOCITY_SCALE, dequantize_axis_input, dequantize_heading, dequantize_position,
    dequantize_velocity, quantize_heading, quantize_velocity,
};
use crate::{Buttons, WorldBounds};
use core::f32::consts::{PI, TAU};
use glam::Vec2;

/// Sticks no longer than this do not turn the ship (stick noise would jitter its heading);
/// they still thrust, in proportion to their length.
pub const DEAD_ZONE: f32 = 0.05;
/// How fast speed above the cap (boost released, a shove) decays toward it, per second.
pub const OVERSPEED_DECAY: f32 = 6.0;
/// The wire's heading step, radians (1/256 turn).
const HEADING_STEP: f32 = TAU / 256.0;

/// How ships move: the server's `ArenaConfig::motion`, whose defaults these are. A client
/// predicting a server run with other settings passes those, or every tick of motion is a
/// correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionRules {
    /// Ship radius, units (default 20): how close to a wall a ship's centre comes, and (on the
    /// server) how close ships collide and collect. Bigger ships collide and collect more
    /// easily.
    pub ship_radius: f32,
    /// Thrust at full stick, units/s² (default 900). Higher feels snappier but less floaty.
    pub thrust: f32,
    /// Thrust multiplier while BOOST is held (default 1.8). Higher makes boost decisive.
    pub boost_multiplier: f32,
    /// Speed cap without boost, units/s (default 420). Higher is more chaotic, harder to aim.
    pub max_speed: f32,
    /// Speed cap while boosting, units/s (default 680); above it after release decays
    /// smoothly ([`OVERSPEED_DECAY`]).
    pub boost_max_speed: f32,
    /// Exponential drag, 1/s (default 1.2: speed halves in about 0.6 s without thrust).
    /// Higher stops ships sooner: precise, but less momentum play.
    pub drag: f32,
    /// Heading turn rate, rad/s (default 10). Cosmetic-ish: thrust follows the stick directly.
    pub turn_rate: f32,
    /// Share of normal speed kept after hitting a wall, 0-1 (default 0.6). Lower punishes
    /// wall hits more.
    pub wall_restitution: f32,
}

impl Default for MotionRules {
    fn default() -> Self {
        MotionRules {
            ship_radius: 20.0,
            thrust: 900.0,
            boost_multiplier: 1.8,
            max_speed: 420.0,
            boost_max_speed: 680.0,
            drag: 1.2,
            turn_rate: 10.0,
            wall_restitution: 0.6,
        }
    }
}

/// The stick as the server reads an input: each axis dequantized, the vector at most 1 long.
pub fn stick_of(input: &Input) -> Vec2 {
    sanitize_stick(Vec2::new(dequantize_axis_input(input.x), dequantize_axis_input(input.y)))
}

/// NaN and infinities count as 0; each axis is clamped to [-1, 1] and the vector to length 1.
pub fn sanitize_stick(stick: Vec2) -> Vec2 {
    let axis = |v: f32| if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 };
    Vec2::new(axis(stick.x), axis(stick.y)).clamp_length_max(1.0)
}

/// Whether an input holds BOOST.
pub fn boosting(input: &Input) -> bool {
    input.buttons.held(Buttons::BOOST)
}

/// A ship's motion state: where it is, how fast it goes, where it points.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ShipMotion {
    /// Position, world units (x right, y down), on the wire's position grid.
    pub pos: Vec2,
    /// Velocity, units/s.
    pub vel: Vec2,
    /// Heading, radians in `[0, 2π)`, on the wire's heading grid.
    pub heading: f32,
}

impl ShipMotion {
    /// A ship as a snapshot carries it (its velocity to the wire's 2 unit/s step).
    pub fn from_entity(entity: &EntityState) -> ShipMotion {
        ShipMotion {
            pos: dequantize_position(entity.pos),
            vel: dequantize_velocity(entity.vel),
            heading: dequantize_heading(entity.heading),
        }
    }

    /// Moves the ship by one step of `dt` seconds under `stick` (sanitized: finite, at most 1
    /// long, see [`sanitize_stick`]) and `boost`, within the walls of `world`. Returns the
    /// speed at which it hit a wall in this step (0 if it hit none), which the server turns
    /// into an impact.
    pub fn step(
        &mut self,
        stick: Vec2,
        boost: bool,
        dt: f32,
        rules: &MotionRules,
        world: WorldBounds,
    ) -> f32 {
        let (lo, hi) = walls(rules, world);
        if stick.length() > DEAD_ZONE {
            let target = stick.y.atan2(stick.x);
            let diff = (target - self.heading + PI).rem_euclid(TAU) - PI;
            let max_turn = grid_turn(rules.turn_rate * dt);
            let turn = diff.clamp(-max_turn, max_turn);
            self.heading = heading_on_grid(self.heading + turn);
        }
        // Thrust follows the stick directly (twin-stick feel); the heading only shows it.
        let speed_before = self.vel.length();
        let thrust = if boost { rules.thrust * rules.boost_multiplier } else { rules.thrust };
        self.vel += stick * thrust * dt;
        self.vel *= (-rules.drag * dt).exp(); // exponential: the same feel at any tick rate
        let cap = if boost { rules.boost_max_speed } else { rules.max_speed };
        // Thrust never pushes past the cap, but speed already above it (boost released, a
        // shove) bleeds off smoothly instead of snapping down in one tick.
        let limit = if speed_before > cap {
            cap + (speed_before - cap) * (-OVERSPEED_DECAY * dt).exp()
        } else {
            cap
        };
        self.vel = self.vel.clamp_length_max(limit);
        self.pos += grid_step(self.vel, dt);
        let mut worst = 0.0f32;
        for axis in 0..2 {
            if self.pos[axis] < lo[axis] {
                self.pos[axis] = lo[axis];
                if self.vel[axis] < 0.0 {
                    worst = worst.max(-self.vel[axis]);
                    self.vel[axis] *= -rules.wall_restitution;
                }
            } else if self.pos[axis] > hi[axis] {
                self.pos[axis] = hi[axis];
                if self.vel[axis] > 0.0 {
                    worst = worst.max(self.vel[axis]);
                    self.vel[axis] *= -rules.wall_restitution;
                }
            }
        }
        if !(self.pos.is_finite() && self.vel.is_finite()) {
            // Unreachable with sanitized sticks; recover rather than poison the world.
            self.pos = (lo + hi) / 2.0;
            self.vel = Vec2::ZERO;
        }
        worst
    }
}

/// The least and the most a ship's centre can be at in `world`.
pub fn walls(rules: &MotionRules, world: WorldBounds) -> (Vec2, Vec2) {
    let size = Vec2::new(f32::from(world.width), f32::from(world.height));
    (Vec2::splat(rules.ship_radius), size - rules.ship_radius)
}

/// How far a ship moves in `dt`: by the velocity the wire carries, rounded to whole position
/// steps, which is the motion a client predicts (PROTOCOL.md 6.2), so a ship flying freely
/// costs no position correction in a snapshot. Ships stay on the position grid; a velocity
/// rounds by at most 1 unit per second (2 unit/s steps), so the path differs from the exact
/// one by less than a step per tick and no motion is lost or stuck.
pub fn grid_step(vel: Vec2, dt: f32) -> Vec2 {
    let wire = quantize_velocity(vel);
    let steps = |v: i16| {
        // f64: 32 v / tick_rate is never within 1/30 of a half step for whole v, far more
        // than the rounding error of the product; `round` is half away from zero as `div`.
        (f64::from(v) * f64::from(POSITION_SCALE / VELOCITY_SCALE) * f64::from(dt)).round() as f32
    };
    Vec2::new(steps(wire.x), steps(wire.y)) / POSITION_SCALE
}

/// `heading` (any angle) on the wire's heading grid, in `[0, 2π)`.
pub fn heading_on_grid(heading: f32) -> f32 {
    dequantize_heading(quantize_heading(heading))
}

/// A ship's largest turn in one step, `turn` radians, in whole heading steps (at least one):
/// a ship turning at full rate turns the same number of steps every tick, which is what a
/// client predicts from the two ticks before (PROTOCOL.md 6.2); 10 rad/s at 30 Hz is 14
/// steps, 3% faster than exact (13.6).
fn grid_turn(turn: f32) -> f32 {
    if turn > 0.0 { (turn / HEADING_STEP).round().max(1.0) * HEADING_STEP } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::quantize_position;

    const WORLD: WorldBounds = WorldBounds { width: 1600, height: 1000 };

    /// A ship flying from rest under full stick right for a second of 30 Hz ticks stays on
    /// the position grid, speeds up to the cap and no further, and turns to face its stick.
    #[test]
    fn full_stick_reaches_the_cap_on_the_grid() {
        let rules = MotionRules::default();
        let mut ship =
            ShipMotion { pos: Vec2::new(400.0, 500.0), vel: Vec2::ZERO, heading: PI / 2.0 };
        for _ in 0..30 {
            let wall = ship.step(Vec2::X, false, 1.0 / 30.0, &rules, WORLD);
            assert_eq!(wall, 0.0);
            assert_eq!(dequantize_position(quantize_position(ship.pos)), ship.pos);
        }
        assert!(ship.vel.x > 300.0 && ship.vel.x <= rules.max_speed, "{}", ship.vel.x);
        assert_eq!(ship.vel.y, 0.0);
        assert_eq!(ship.heading, 0.0);
    }

    /// A wall stops the ship at its radius, sends it back at the restitution's share, and
    /// reports the speed it hit at.
    #[test]
    fn a_wall_bounces_and_reports_the_hit() {
        let rules = MotionRules::default();
        let mut ship =
            ShipMotion { pos: Vec2::new(21.0, 500.0), vel: Vec2::new(-300.0, 0.0), heading: 0.0 };
        let hit = ship.step(Vec2::ZERO, false, 1.0 / 30.0, &rules, WORLD);
        assert_eq!(ship.pos.x, rules.ship_radius);
        assert!(hit > 280.0 && hit < 300.0, "{hit}");
        assert!((ship.vel.x - hit * rules.wall_restitution).abs() < 1e-3, "{}", ship.vel.x);
    }

    /// The stick as the server reads it: dequantized, at most 1 long, non-finite values as 0.
    #[test]
    fn sticks_are_sanitized_as_the_server_reads_them() {
        let input = Input { seq: crate::InputSeq(1), x: 127, y: 127, buttons: Buttons(1) };
        let stick = stick_of(&input);
        assert!((stick.length() - 1.0).abs() < 1e-6, "{stick}");
        assert!(boosting(&input));
        assert_eq!(sanitize_stick(Vec2::new(f32::NAN, 2.0)), Vec2::new(0.0, 1.0));
    }
}
