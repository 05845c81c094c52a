//! How another ship looks through a downlink stall: a ship is drawn at 60 frames a second by
//! an [`Interpolation`] while its worlds stop coming for 100 ms to 1 s and then arrive all at
//! once (TCP holds them meanwhile), with the defaults (250 ms of extrapolation, 200 ms of
//! settling) and as this crate drew before them (a tick of extrapolation, then a hold and a
//! jump). Deterministic and sans-IO: no server, no clock.
//!
//! ```sh
//! cargo run -p tickwire-client --example stall
//! ```
//! Per row: the longest way the ship moved between two frames (it moves 5 units a frame on
//! the straight course, 3.3 on the circle), the longest it stood still, and the most it was
//! drawn off its true course from the stall on.

use glam::Vec2;
use std::time::{Duration, Instant};
use tickwire_client::protocol::delta::World;
use tickwire_client::protocol::{EntityId, EntityState, RoundPhase, RoundState, Tick, quant};
use tickwire_client::{Interpolation, InterpolationConfig};

const TICK_RATE: u8 = 30;
const PERIOD_MS: f64 = 1000.0 / TICK_RATE as f64;
const FRAME_MS: f64 = 1000.0 / 60.0;
/// When the stall starts, ms: the adaptive delay has settled by then.
const STALL_FROM: f64 = 2000.0;
/// How long after it is made a world arrives, ms.
const LATENCY: f64 = 20.0;

/// Where a ship is at a time in seconds: position, velocity (units) and heading (radians).
type Path = fn(f64) -> (Vec2, Vec2, f32);

/// 300 units a second along x.
fn straight(t: f64) -> (Vec2, Vec2, f32) {
    (Vec2::new(-1000.0 + 300.0 * t as f32, 0.0), Vec2::new(300.0, 0.0), 0.0)
}

/// 200 units a second round a circle of 200 units: a ship turning as hard as a player steers.
fn circling(t: f64) -> (Vec2, Vec2, f32) {
    let (sin, cos) = (t as f32).sin_cos();
    let heading = t as f32 + std::f32::consts::FRAC_PI_2;
    (Vec2::new(200.0 * cos, 200.0 * sin), Vec2::new(-200.0 * sin, 200.0 * cos), heading)
}

/// The largest step between frames, the longest stand in ms, the most off course.
fn draw(config: InterpolationConfig, stall_ms: f64, path: Path) -> (f32, f64, f32) {
    let stall_to = STALL_FROM + stall_ms;
    let arrival = |made: f64| {
        if (STALL_FROM..stall_to).contains(&made) { stall_to + LATENCY } else { made + LATENCY }
    };
    let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 };
    let start = Instant::now();
    let at = |ms: f64| start + Duration::from_secs_f64(ms / 1000.0);
    let mut buffer = Interpolation::new(TICK_RATE, config);
    let (mut next, mut frame) = (0u32, 0.0);
    let (mut largest, mut stood, mut longest, mut off) = (0.0f32, 0.0, 0.0f64, 0.0f32);
    let mut before: Option<Vec2> = None;
    while frame < stall_to + 1000.0 {
        while arrival(f64::from(next) * PERIOD_MS) <= frame {
            let (pos, vel, heading) = path(f64::from(next) * PERIOD_MS / 1000.0);
            let ship = EntityState {
                id: EntityId(1),
                kind: 0,
                pos: quant::quantize_position(pos),
                vel: quant::quantize_velocity(vel),
                heading: quant::quantize_heading(heading),
                flags: 1,
                value: 0,
            };
            let world = World { tick: Tick(next), round, entities: vec![ship] };
            buffer.push(&world, at(arrival(f64::from(next) * PERIOD_MS)));
            next += 1;
        }
        let sample = buffer.sample(at(frame));
        if let Some(ship) = sample.entities.first().filter(|_| sample.tick > 0.0) {
            if let Some(before) = before {
                let step = ship.pos.distance(before);
                largest = largest.max(step);
                stood = if step < 0.1 { stood + FRAME_MS } else { 0.0 };
                longest = longest.max(stood);
            }
            before = Some(ship.pos);
            if frame >= STALL_FROM {
                let (truth, _, _) = path(sample.tick * PERIOD_MS / 1000.0);
                off = off.max(ship.pos.distance(truth));
            }
        }
        frame += FRAME_MS;
    }
    (largest, longest, off)
}

fn main() {
    let before = {
        let mut config = InterpolationConfig::default();
        config.extrapolation = Duration::from_secs_f64(PERIOD_MS / 1000.0);
        config.settle = Duration::ZERO;
        config
    };
    println!("| course | stall | drawn as | largest step | longest stand | most off course |");
    println!("|---|---|---|---|---|---|");
    for (course, path) in [("straight", straight as Path), ("circling", circling as Path)] {
        for stall_ms in [100.0, 200.0, 400.0, 600.0, 1000.0] {
            for (name, config) in
                [("a tick, then hold", before), ("default", InterpolationConfig::default())]
            {
                let (largest, longest, off) = draw(config, stall_ms, path);
                println!(
                    "| {course} | {stall_ms} ms | {name} | {largest:.1} units | {longest:.0} ms | {off:.1} units |"
                );
            }
        }
    }
}
