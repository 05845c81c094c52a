//! Fixed-point quantization: the server simulates in `f32` and sends integers.
//!
//! Quantizing bounds the bytes per entity and makes "did it change?" exact, which the delta
//! encoder relies on. Error bounds (for values inside the representable range; outside it the
//! value is clamped to the nearest representable one):
//! - positions: step 1/[`POSITION_SCALE`] world units, error at most half a step (1/32 unit)
//!   per axis, range -2048 to 2047.9375 units (`i16` / 16);
//! - velocities: step 1/[`VELOCITY_SCALE`] (2) units per second, error at most 1 unit/s,
//!   range -65536 to 65534 units/s (`i16` * 2). Finer would buy little: at 30 Hz 1 unit/s
//!   moves an entity 1/30 unit in a tick, half a position step, a ship's top speed is hundreds
//!   of units a second, and every finer step costs snapshot bits on every moving entity whose
//!   thrust changes (protocol 5 went from 1 to 2 units/s: BENCHMARKS.md, "Protocol 5");
//! - headings: 256 steps per turn, error at most π/256 rad.

use crate::messages::QVec2;
use core::f32::consts::TAU;
use glam::Vec2;

/// Position quantization steps per world unit.
pub const POSITION_SCALE: f32 = 16.0;
/// Velocity quantization steps per (world unit per second).
pub const VELOCITY_SCALE: f32 = 0.5;
/// Largest position error per axis after [`quantize_position`], for in-range values.
pub const POSITION_MAX_ERROR: f32 = 0.5 / POSITION_SCALE;
/// Largest velocity error per axis after [`quantize_velocity`], for in-range values.
pub const VELOCITY_MAX_ERROR: f32 = 0.5 / VELOCITY_SCALE;
/// Largest heading error after [`quantize_heading`], in radians.
pub const HEADING_MAX_ERROR: f32 = TAU / 512.0;

fn quantize_axis(v: f32, scale: f32) -> i16 {
    let scaled = libm_round(v * scale);
    if scaled.is_nan() { 0 } else { scaled.clamp(i16::MIN as f32, i16::MAX as f32) as i16 }
}

// `f32::round` needs std; glam's `nostd-libm` pulls libm, but this is all we need of it.
fn libm_round(v: f32) -> f32 {
    let t = v as i64 as f32; // truncates toward zero; |v * scale| far beyond i16 clamps anyway
    let frac = v - t;
    if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// World position to wire form (1/16 unit steps).
pub fn quantize_position(p: Vec2) -> QVec2 {
    QVec2 { x: quantize_axis(p.x, POSITION_SCALE), y: quantize_axis(p.y, POSITION_SCALE) }
}

/// Wire position back to world units.
pub fn dequantize_position(q: QVec2) -> Vec2 {
    Vec2::new(q.x as f32 / POSITION_SCALE, q.y as f32 / POSITION_SCALE)
}

/// Velocity to wire form (2 units per second steps).
pub fn quantize_velocity(v: Vec2) -> QVec2 {
    QVec2 { x: quantize_axis(v.x, VELOCITY_SCALE), y: quantize_axis(v.y, VELOCITY_SCALE) }
}

/// Wire velocity back to units per second.
pub fn dequantize_velocity(q: QVec2) -> Vec2 {
    Vec2::new(q.x as f32 / VELOCITY_SCALE, q.y as f32 / VELOCITY_SCALE)
}

/// Heading in radians (any value; wrapped) to 1/256 of a turn.
pub fn quantize_heading(radians: f32) -> u8 {
    if !radians.is_finite() {
        return 0;
    }
    let turns = radians / TAU;
    let frac = turns - (turns as i64 as f32); // in (-1, 1)
    let steps = libm_round(frac * 256.0) as i32;
    steps.rem_euclid(256) as u8
}

/// Wire heading back to radians in `[0, 2π)`.
pub fn dequantize_heading(q: u8) -> f32 {
    q as f32 * TAU / 256.0
}

/// An input axis in `[-1, 1]` to the wire's `i8` (-127..=127).
pub fn quantize_axis_input(v: f32) -> i8 {
    if v.is_nan() {
        return 0;
    }
    libm_round(v.clamp(-1.0, 1.0) * 127.0) as i8
}

/// A wire axis back to `[-1, 1]`; -128 is treated as -127 so the range is symmetric.
pub fn dequantize_axis_input(q: i8) -> f32 {
    (q.max(-127)) as f32 / 127.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn angle_distance(a: f32, b: f32) -> f32 {
        let d = (a - b).rem_euclid(TAU);
        d.min(TAU - d)
    }

    proptest! {
        #[test]
        fn position_error_within_bound(x in -2047.0f32..2047.0, y in -2047.0f32..2047.0) {
            let back = dequantize_position(quantize_position(Vec2::new(x, y)));
            prop_assert!((back.x - x).abs() <= POSITION_MAX_ERROR + 1e-4, "x {x} -> {}", back.x);
            prop_assert!((back.y - y).abs() <= POSITION_MAX_ERROR + 1e-4, "y {y} -> {}", back.y);
        }

        #[test]
        fn velocity_error_within_bound(x in -4095.0f32..4095.0, y in -4095.0f32..4095.0) {
            let back = dequantize_velocity(quantize_velocity(Vec2::new(x, y)));
            prop_assert!((back.x - x).abs() <= VELOCITY_MAX_ERROR + 1e-3);
            prop_assert!((back.y - y).abs() <= VELOCITY_MAX_ERROR + 1e-3);
        }

        #[test]
        fn heading_error_within_bound(a in -100.0f32..100.0) {
            let back = dequantize_heading(quantize_heading(a));
            prop_assert!(angle_distance(a, back) <= HEADING_MAX_ERROR + 1e-4, "{a} -> {back}");
        }

        #[test]
        fn quantization_is_idempotent(x in -2047.0f32..2047.0, y in -2047.0f32..2047.0) {
            let q = quantize_position(Vec2::new(x, y));
            prop_assert_eq!(quantize_position(dequantize_position(q)), q);
        }
    }

    #[test]
    fn out_of_range_and_nan_clamp_instead_of_wrapping() {
        assert_eq!(quantize_position(Vec2::new(1e9, -1e9)), QVec2 { x: i16::MAX, y: i16::MIN });
        assert_eq!(quantize_position(Vec2::new(f32::NAN, 0.0)), QVec2 { x: 0, y: 0 });
        assert_eq!(quantize_heading(f32::INFINITY), 0);
        assert_eq!(quantize_axis_input(5.0), 127);
        assert_eq!(quantize_axis_input(-5.0), -127);
        assert_eq!(dequantize_axis_input(-128), -1.0);
    }
}
