//! Golden vectors of the arena's motion step (PROTOCOL.md 10): `shared/testdata/motion.json`.
//!
//! Each case gives the settings a client knows or assumes (the `Welcome`'s tick rate and world,
//! the tick period the server steps with, the `MotionRules`), the own ship as a snapshot shows
//! it (the wire's `pos`, `vel` and `heading`), and a sequence of inputs; after each input, one
//! step of `ShipMotion::step` (shared/src/motion.rs), the very code the server runs, gives the
//! wire's values of the ship and its exact f32 velocity. A port of the step (the browser game's
//! `stepShip`, client-web/test/unit/motion-vectors.test.js; a third party's) replays every case
//! and must land on every wire value exactly.
//!
//! The file is exactly what [`cases`] builds with the motion code of this build; after a
//! deliberate change to either, regenerate it with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-tests --test motion_vectors` and review the diff.
//! No step of a vector sits near a rounding boundary of the step (a heading or a velocity a
//! hair from a half step), where a port in f64 or with another math library may round the
//! other way (PROTOCOL.md 10, "Precision"): a case that would is changed, not the check. The
//! first case is the table of PROTOCOL.md 10, "Checking a port", which is checked against it.

use glam::Vec2;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::fmt::Write as _;
use std::path::PathBuf;
use tickwire_server::ServerConfig;
use tickwire_shared::motion::{DEAD_ZONE, MotionRules, ShipMotion, boosting, stick_of};
use tickwire_shared::quant::{quantize_heading, quantize_position, quantize_velocity};
use tickwire_shared::{Buttons, EntityId, EntityState, Input, InputSeq, QVec2, WorldBounds};

/// An input as a vector gives it: the wire's axes (-128 reads as -127) and buttons.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stick {
    x: i8,
    y: i8,
    buttons: u8,
}

/// `MotionRules`, field for field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    ship_radius: f32,
    thrust: f32,
    boost_multiplier: f32,
    max_speed: f32,
    boost_max_speed: f32,
    drag: f32,
    turn_rate: f32,
    wall_restitution: f32,
}

impl From<MotionRules> for Rules {
    fn from(r: MotionRules) -> Rules {
        Rules {
            ship_radius: r.ship_radius,
            thrust: r.thrust,
            boost_multiplier: r.boost_multiplier,
            max_speed: r.max_speed,
            boost_max_speed: r.boost_max_speed,
            drag: r.drag,
            turn_rate: r.turn_rate,
            wall_restitution: r.wall_restitution,
        }
    }
}

impl From<Rules> for MotionRules {
    fn from(r: Rules) -> MotionRules {
        MotionRules {
            ship_radius: r.ship_radius,
            thrust: r.thrust,
            boost_multiplier: r.boost_multiplier,
            max_speed: r.max_speed,
            boost_max_speed: r.boost_max_speed,
            drag: r.drag,
            turn_rate: r.turn_rate,
            wall_restitution: r.wall_restitution,
        }
    }
}

/// A ship as the wire carries it (PROTOCOL.md 3.2): position in 1/16 units, velocity in
/// 2 units/s, heading in 1/256 turns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    pos: QVec2,
    vel: QVec2,
    heading: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Velocity {
    x: f32,
    y: f32,
}

/// One step: the input applied, then the ship after it (the wire's values, and the exact
/// velocity the next step starts from).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    input: Stick,
    vel: QVec2,
    pos: QVec2,
    heading: u8,
    velocity: Velocity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    about: String,
    tick_rate: u8,
    /// The tick period the server steps with: `1 / tick_rate` s to the nanosecond, as f32.
    dt: f32,
    world: WorldBounds,
    rules: Rules,
    start: Wire,
    steps: Vec<Step>,
}

// ---- the cases -------------------------------------------------------------------------------

/// What a case is made of; its steps are computed.
struct Spec {
    name: &'static str,
    about: &'static str,
    tick_rate: u8,
    world: (u16, u16),
    /// Position (1/16 units), velocity (2 units/s), heading (1/256 turns), as on the wire.
    start: ((i16, i16), (i16, i16), u8),
    inputs: Vec<(i8, i8, u8)>,
}

/// The tick period the server steps a room of `tick_rate` with (server/src/room.rs).
fn dt(tick_rate: u8) -> f32 {
    let mut config = ServerConfig::default();
    config.tick_rate = tick_rate;
    config.tick_period().as_secs_f32()
}

/// The rules the `tickwire-server` command runs: always the defaults (PROTOCOL.md 10).
fn command_rules() -> MotionRules {
    let rules = ServerConfig::default().arena().motion;
    assert_eq!(rules, MotionRules::default(), "the command runs the default rules");
    rules
}

/// The inputs of PROTOCOL.md 10's table: from rest, thrust right; BOOST on a diagonal stick;
/// a turn back the short way; no stick; a stick inside the dead zone.
const TABLE_INPUTS: [(i8, i8, u8); 7] =
    [(127, 0, 0), (127, 0, 0), (90, 90, 1), (90, 90, 1), (0, -127, 0), (0, 0, 0), (-4, 3, 0)];

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "protocol_table",
            about: "PROTOCOL.md 10, Checking a port: from rest, thrust right; BOOST on a diagonal \
                    stick, turning 14 steps a tick, the most at 30 Hz; a turn back the short way; \
                    no stick; a stick inside the dead zone, which thrusts but does not turn",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((12800, 8000), (0, 0), 0),
            inputs: TABLE_INPUTS.to_vec(),
        },
        Spec {
            name: "protocol_table_at_60_hz",
            about: "the inputs of protocol_table at 60 Hz in a world of 800 x 600: half the \
                    thrust and drag a tick, turning 7 steps a tick at most",
            tick_rate: 60,
            world: (800, 600),
            start: ((6400, 4800), (0, 0), 0),
            inputs: TABLE_INPUTS.to_vec(),
        },
        Spec {
            name: "walls_low",
            about: "30 Hz: flying up and left into the walls at x = 20 and y = 20, the left one \
                    a tick before the top one: clamped to the radius, the velocity into the wall \
                    reversed at 0.6; then away from them, steering left, then down",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((480, 560), (-120, -80), 160),
            inputs: vec![
                (-127, -60, 0),
                (-127, -60, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (0, 127, 0),
                (0, 127, 0),
            ],
        },
        Spec {
            name: "pushing_into_a_wall",
            about: "30 Hz: a ship at rest against the wall at x = 20 pushed into it: a \
                    velocity too slow to move it (under 1 unit/s, 0 on the wire) leaves it at the \
                    wall, neither clamped nor bounced, its velocity still into the wall; each \
                    tick that moves it past the wall clamps and bounces it; then let go",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((320, 8000), (0, 0), 128),
            inputs: vec![
                (-3, 0, 0),
                (-3, 0, 0),
                (-3, 0, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (-127, 0, 0),
                (0, 0, 0),
                (0, 0, 0),
            ],
        },
        Spec {
            name: "walls_high_at_60_hz",
            about: "60 Hz, a world of 800 x 600: boosting into the corner at (780, 580) with a \
                    corner stick, the right wall first, then the bottom one; then away",
            tick_rate: 60,
            world: (800, 600),
            start: ((12160, 9088), (140, 70), 20),
            inputs: vec![
                (127, 127, 1),
                (127, 127, 1),
                (127, 127, 1),
                (127, 127, 1),
                (127, 127, 1),
                (127, 127, 1),
                (127, 127, 0),
                (-100, -127, 0),
                (-100, -127, 0),
            ],
        },
        Spec {
            name: "boost_released",
            about: "30 Hz: boosting at the boost cap (680 units/s), then BOOST let go with the \
                    stick held: the speed above the cap of 420 decays toward it (exp(-6 dt) a \
                    tick) rather than dropping to it; then no stick: drag alone",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((4800, 8000), (330, -20), 0),
            inputs: vec![
                (127, -10, 1),
                (127, -10, 1),
                (127, 0, 0),
                (127, 0, 0),
                (127, 0, 0),
                (127, 0, 0),
                (127, 0, 0),
                (127, 0, 0),
                (0, 0, 0),
                (0, 0, 0),
            ],
        },
        Spec {
            name: "turn_across_pi",
            about: "30 Hz: headings either side of pi (128) turning to sticks whose atan2 lies \
                    across the -pi/pi seam: the short way, up through 128 and back down",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((12800, 8000), (0, 0), 120),
            inputs: vec![(-127, -28, 0), (-127, -28, 0), (-127, 28, 0), (-127, 28, 0)],
        },
        Spec {
            name: "turn_across_zero",
            about: "30 Hz: a heading of 250 turning to a stick just below right (6.4 steps), up \
                    across 0 without a clamp; then to one above right, down across 0 again",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((12800, 8000), (10, 0), 250),
            inputs: vec![(127, 20, 0), (127, -40, 0), (127, -40, 0)],
        },
        Spec {
            name: "dead_zone",
            about: "30 Hz: sticks of length 0.039, 0.0498 and 0.047, inside the dead zone of \
                    0.05, thrust but do not turn; 0.0504 and 0.055, just outside, turn",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((12800, 8000), (40, -30), 64),
            inputs: vec![(-4, 3, 0), (-6, -2, 0), (6, 0, 0), (0, 0, 0), (-5, -4, 0), (7, 0, 0)],
        },
        Spec {
            name: "corner_sticks",
            about: "30 Hz: sticks longer than 1 (a corner of the square, -128 read as -127) \
                    scaled to length 1, boosting and not",
            tick_rate: 30,
            world: (1600, 1000),
            start: ((12800, 8000), (0, 0), 0),
            inputs: vec![
                (127, 127, 0),
                (127, 127, 0),
                (-128, 127, 0),
                (-128, -128, 1),
                (-128, -128, 1),
                (100, -127, 0),
            ],
        },
    ]
}

fn wire(ship: &ShipMotion) -> Wire {
    Wire {
        pos: quantize_position(ship.pos),
        vel: quantize_velocity(ship.vel),
        heading: quantize_heading(ship.heading),
    }
}

/// The own ship as a snapshot shows it (PROTOCOL.md 10: where a prediction starts).
fn ship_of(start: Wire) -> ShipMotion {
    ShipMotion::from_entity(&EntityState {
        id: EntityId(1),
        kind: 0,
        pos: start.pos,
        vel: start.vel,
        heading: start.heading,
        flags: 1,
        value: 0,
    })
}

fn input_of(stick: Stick) -> Input {
    Input { seq: InputSeq(1), x: stick.x, y: stick.y, buttons: Buttons(stick.buttons) }
}

/// One step as the server's arena takes it: the input read as the server reads it.
fn step(ship: &mut ShipMotion, stick: Stick, dt: f32, rules: &MotionRules, world: WorldBounds) {
    let input = input_of(stick);
    ship.step(stick_of(&input), boosting(&input), dt, rules, world);
}

/// Replays `inputs` from `start`.
fn run(
    start: Wire,
    inputs: impl IntoIterator<Item = Stick>,
    dt: f32,
    rules: &MotionRules,
    world: WorldBounds,
) -> Vec<Step> {
    let mut ship = ship_of(start);
    inputs
        .into_iter()
        .map(|input| {
            step(&mut ship, input, dt, rules, world);
            let Wire { pos, vel, heading } = wire(&ship);
            Step { input, vel, pos, heading, velocity: Velocity { x: ship.vel.x, y: ship.vel.y } }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let rules = command_rules();
    specs()
        .into_iter()
        .map(|s| {
            let world = WorldBounds { width: s.world.0, height: s.world.1 };
            let ((px, py), (vx, vy), heading) = s.start;
            let start = Wire { pos: QVec2 { x: px, y: py }, vel: QVec2 { x: vx, y: vy }, heading };
            let inputs = s.inputs.iter().map(|&(x, y, buttons)| Stick { x, y, buttons });
            let dt = dt(s.tick_rate);
            Case {
                name: s.name.into(),
                about: s.about.split_whitespace().collect::<Vec<_>>().join(" "),
                tick_rate: s.tick_rate,
                dt,
                world,
                rules: rules.into(),
                start,
                steps: run(start, inputs, dt, &rules, world),
            }
        })
        .collect()
}

// ---- the file --------------------------------------------------------------------------------

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/motion.json")
}

fn bless_requested() -> bool {
    std::env::var("TICKWIRE_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap()
}

/// The file: a list of cases, a line a field and a line a step, each value compact JSON
/// (floats as serde_json writes an f32: the shortest decimal that reads back as it).
fn file_text(cases: &[Case]) -> String {
    let mut out = String::from("[\n");
    for (i, c) in cases.iter().enumerate() {
        out.push_str("  {\n");
        for (key, value) in [
            ("name", json(&c.name)),
            ("about", json(&c.about)),
            ("tick_rate", json(&c.tick_rate)),
            ("dt", json(&c.dt)),
            ("world", json(&c.world)),
            ("rules", json(&c.rules)),
            ("start", json(&c.start)),
        ] {
            writeln!(out, "    \"{key}\": {value},").unwrap();
        }
        out.push_str("    \"steps\": [\n");
        for (j, s) in c.steps.iter().enumerate() {
            let comma = if j + 1 < c.steps.len() { "," } else { "" };
            writeln!(out, "      {}{comma}", json(s)).unwrap();
        }
        out.push_str("    ]\n");
        out.push_str(if i + 1 < cases.len() { "  },\n" } else { "  }\n" });
    }
    out.push_str("]\n");
    out
}

fn read_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(path())
        .expect("shared/testdata/motion.json exists (bless with TICKWIRE_BLESS=1)");
    serde_json::from_str(&text).expect("motion.json parses")
}

// ---- the tests -------------------------------------------------------------------------------

/// The file is exactly what `ShipMotion::step` computes for the cases (bless with
/// `TICKWIRE_BLESS=1` after a deliberate change), and replaying each case from the file alone,
/// with its own settings, gives its steps back bit for bit.
#[test]
fn motion_json_is_what_motion_rs_computes() {
    let cases = cases();
    let expected = file_text(&cases);
    if bless_requested() {
        std::fs::write(path(), &expected).unwrap();
    }
    let text = std::fs::read_to_string(path())
        .expect("shared/testdata/motion.json exists (bless with TICKWIRE_BLESS=1)");
    if let Some((at, (file, code))) =
        text.lines().zip(expected.lines()).enumerate().find(|(_, (a, b))| a != b)
    {
        panic!(
            "motion.json differs from what shared/src/motion.rs computes; bless if deliberate. \
             Line {}:\n  file: {file}\n  code: {code}",
            at + 1
        );
    }
    assert!(text == expected, "motion.json's length differs from the code's; bless if deliberate");
    let read = read_cases();
    assert_eq!(read, cases, "motion.json reads back as written");
    for case in &read {
        let rules = MotionRules::from(case.rules);
        assert_eq!(case.dt, dt(case.tick_rate), "{}: the server's tick period", case.name);
        let inputs = case.steps.iter().map(|s| s.input);
        let replayed = run(case.start, inputs, case.dt, &rules, case.world);
        assert_eq!(replayed, case.steps, "{}: replayed from the file", case.name);
    }
}

/// `ship`'s velocity after a step, before the walls act on it (what step 5 moves by): steps 1
/// to 4 do not depend on the position, so it is the velocity of the same ship stepped in the
/// middle of a world far larger than a tick's flight.
fn before_walls(ship: ShipMotion, stick: Vec2, boost: bool, dt: f32, rules: &MotionRules) -> Vec2 {
    let mut free = ShipMotion { pos: Vec2::splat(1000.0), ..ship };
    free.step(stick, boost, dt, rules, WorldBounds { width: 2000, height: 2000 });
    free.vel
}

/// How far `v` is from the nearest half (`k + 0.5`), in its own units.
fn from_half(v: f64) -> f64 {
    ((v - v.floor()) - 0.5).abs()
}

/// Least distance, in heading steps, of a heading the step rounds to the grid from a half step.
const HEADING_MARGIN: f64 = 0.01;
/// Least distance, in the wire's velocity steps (2 units/s), of a velocity the step moves by
/// from a half step: 0.01 units/s, a hundred times what f32 and f64 ports differ by after a
/// dozen steps at these speeds.
const VELOCITY_MARGIN: f64 = 0.005;

/// No step of any case rounds a value within a hair of a half step (PROTOCOL.md 10,
/// "Precision"): a port in f64 (the browser game's) or with another math library may round it
/// the other way, and the vectors would fail a correct port. Checked on the f64 reading of each
/// step's rounded or compared values: the turn's limit in steps, the dead zone, a half turn
/// (which way round), the stick's angle where a turn reaches it, each velocity axis the move
/// rounds ([`before_walls`]), and the move itself.
#[test]
fn no_step_sits_on_a_rounding_boundary() {
    let h = TAU / 256.0;
    for case in cases() {
        let rules = MotionRules::from(case.rules);
        let dt = f64::from(case.dt);
        let max_turn = (f64::from(rules.turn_rate) * dt / h).round().max(1.0);
        assert!(from_half(f64::from(rules.turn_rate) * dt / h) > HEADING_MARGIN, "{}", case.name);
        let mut ship = ship_of(case.start);
        for (at, s) in case.steps.iter().enumerate() {
            let what = format!("{} step {}", case.name, at + 1);
            let input = input_of(s.input);
            let stick = stick_of(&input);
            let (sx, sy) = (f64::from(stick.x), f64::from(stick.y));
            let length = sx.hypot(sy);
            assert!((length - f64::from(DEAD_ZONE)).abs() > 1e-4, "{what}: the dead zone");
            if length > f64::from(DEAD_ZONE) {
                let target = sy.atan2(sx) / h;
                let heading = f64::from(ship.heading) / h;
                let diff = (target - heading + 128.0).rem_euclid(256.0) - 128.0;
                assert!(128.0 - diff.abs() > HEADING_MARGIN, "{what}: a half turn either way");
                // A turn past the limit is the limit, whole steps: only one short of it rounds.
                if diff.abs() < max_turn {
                    assert!(from_half(target) > HEADING_MARGIN, "{what}: heading {target}");
                }
            }
            let free = before_walls(ship, stick, boosting(&input), case.dt, &rules);
            for v in [free.x, free.y] {
                let v = f64::from(v) / 2.0;
                assert!(from_half(v) > VELOCITY_MARGIN, "{what}: velocity {} on a half", 2.0 * v);
                let w = v.abs().round().copysign(v);
                assert!(from_half(w * 32.0 * dt) > VELOCITY_MARGIN, "{what}: a move of {w}");
            }
            step(&mut ship, s.input, case.dt, &rules, case.world);
        }
    }
}

/// The cases show what they are there for, so that an edit of them cannot drop it unseen:
/// both tick rates, a bounce off each of the four walls at the restitution, speed above the cap
/// decaying after BOOST is let go, a turn the short way across the atan2 seam at pi, sticks
/// inside the dead zone that thrust without turning and sticks just outside it that turn, and
/// sticks longer than 1.
#[test]
fn the_cases_show_what_they_are_for() {
    let cases = cases();
    assert_eq!(cases[0].name, "protocol_table");
    for rate in [30, 60] {
        assert!(cases.iter().any(|c| c.tick_rate == rate), "a case at {rate} Hz");
    }
    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        let rules = MotionRules::from(case.rules);
        let (lo, hi) = tickwire_shared::motion::walls(&rules, case.world);
        let mut ship = ship_of(case.start);
        for s in &case.steps {
            let input = input_of(s.input);
            let stick = stick_of(&input);
            let before = ship;
            let free = before_walls(ship, stick, boosting(&input), case.dt, &rules);
            step(&mut ship, s.input, case.dt, &rules, case.world);
            for axis in 0..2 {
                let bounced =
                    free[axis] * -rules.wall_restitution == ship.vel[axis] && free[axis] != 0.0;
                if bounced && ship.pos[axis] == lo[axis] {
                    seen.insert(["left wall", "top wall"][axis]);
                }
                if bounced && ship.pos[axis] == hi[axis] {
                    seen.insert(["right wall", "bottom wall"][axis]);
                }
            }
            let speed = ship.vel.length();
            if !boosting(&input)
                && before.vel.length() > rules.max_speed
                && speed > rules.max_speed + 1.0
            {
                seen.insert("overspeed decaying");
            }
            let turned = ship.heading - before.heading;
            let target = stick.y.atan2(stick.x);
            let naive = target - before.heading; // the long way round when across the seam
            if turned != 0.0 && naive.signum() != turned.signum() && target.abs() > 2.0 {
                seen.insert("short turn across pi");
            }
            let raw = (i32::from(s.input.x).pow(2) + i32::from(s.input.y).pow(2)) as f32;
            let raw_length = raw.sqrt() / 127.0;
            if raw_length > 0.0 && stick.length() <= DEAD_ZONE {
                assert_eq!(ship.heading, before.heading, "{}: inside the dead zone", case.name);
                if ship.vel != before_walls(before, Vec2::ZERO, false, case.dt, &rules) {
                    seen.insert("dead zone thrusts");
                }
            }
            if stick.length() > DEAD_ZONE && stick.length() < 0.06 && turned != 0.0 {
                seen.insert("just outside the dead zone turns");
            }
            if raw_length > 1.0 {
                assert!((stick.length() - 1.0).abs() < 1e-6, "{}", case.name);
                seen.insert("stick longer than 1");
            }
            if s.input.x == -128 || s.input.y == -128 {
                seen.insert("-128 read as -127");
            }
        }
    }
    for what in [
        "left wall",
        "top wall",
        "right wall",
        "bottom wall",
        "overspeed decaying",
        "short turn across pi",
        "dead zone thrusts",
        "just outside the dead zone turns",
        "stick longer than 1",
        "-128 read as -127",
    ] {
        assert!(seen.contains(what), "no case shows: {what}");
    }
}

// ---- PROTOCOL.md -----------------------------------------------------------------------------

/// Section 10 of PROTOCOL.md, up to the next section.
fn section_10() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("PROTOCOL.md exists");
    let start = doc.find("\n## 10. ").expect("PROTOCOL.md has a section 10");
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    rest[..end].to_owned()
}

/// A number as PROTOCOL.md writes it: `−` (U+2212) for minus.
fn number(cell: &str) -> f64 {
    let cell = cell.trim().replace('\u{2212}', "-");
    cell.parse().unwrap_or_else(|_| panic!("PROTOCOL.md 10: {cell:?} is not a number"))
}

/// `(a, b)` as two numbers.
fn pair(cell: &str) -> (f64, f64) {
    let inner = cell.trim().strip_prefix('(').and_then(|c| c.strip_suffix(')'));
    let inner = inner.unwrap_or_else(|| panic!("PROTOCOL.md 10: {cell:?} is not a pair"));
    let (a, b) = inner.split_once(',').expect("a pair");
    (number(a), number(b))
}

/// The table of "Checking a port" in PROTOCOL.md 10 is case `protocol_table` of motion.json,
/// row for row: the inputs, the velocity to 3 decimals, the wire's `vel`, `pos` and `heading`;
/// and the sentence above it states the case's settings and start.
#[test]
fn protocol_md_section_10_table_is_the_first_motion_vector() {
    let section = section_10();
    let prose = section.split_whitespace().collect::<Vec<_>>().join(" ");
    let cases = read_cases();
    let case = cases.iter().find(|c| c.name == "protocol_table").expect("case protocol_table");
    let mut lines = section.lines().skip_while(|l| !l.starts_with("| tick | input"));
    let header = lines.next().expect("PROTOCOL.md 10 has the table of Checking a port");
    assert_eq!(
        header,
        "| tick | input `x`, `y`, `buttons` | velocity (units/s) | wire `vel` | wire `pos` | wire `heading` |"
    );
    assert!(lines.next().is_some_and(|l| l.starts_with("|---|")), "the table's rule");
    let rows: Vec<&str> = lines.take_while(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), case.steps.len(), "PROTOCOL.md 10's table: a row per step");
    for (at, (row, s)) in rows.iter().zip(&case.steps).enumerate() {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let [_, tick, input, velocity, vel, pos, heading, _] = cells[..] else {
            panic!("PROTOCOL.md 10's table: {row:?} has not 6 cells");
        };
        let what = format!("PROTOCOL.md 10's table, tick {tick}");
        assert_eq!(number(tick), (at + 1) as f64, "{what}");
        let parts: Vec<&str> = input.split(',').map(str::trim).collect();
        let [x, y, buttons] = parts[..] else { panic!("{what}: input {input:?}") };
        let buttons = u8::from_str_radix(buttons.trim_matches('`'), 16).expect("hex buttons");
        assert_eq!(
            (number(x), number(y), buttons),
            (f64::from(s.input.x), f64::from(s.input.y), s.input.buttons),
            "{what}: input"
        );
        let three = |v: f32| format!("{v:.3}").parse::<f64>().unwrap();
        assert_eq!(pair(velocity), (three(s.velocity.x), three(s.velocity.y)), "{what}: velocity");
        assert_eq!(pair(vel), (f64::from(s.vel.x), f64::from(s.vel.y)), "{what}: wire vel");
        assert_eq!(pair(pos), (f64::from(s.pos.x), f64::from(s.pos.y)), "{what}: wire pos");
        assert_eq!(number(heading), f64::from(s.heading), "{what}: wire heading");
    }
    let start = ship_of(case.start);
    let settings = format!(
        "({} Hz, a world of {} × {}, the defaults; a ship at rest at ({}, {}), heading {};",
        case.tick_rate,
        case.world.width,
        case.world.height,
        start.pos.x,
        start.pos.y,
        start.heading
    );
    assert!(start.vel == Vec2::ZERO && case.rules == command_rules().into(), "at rest, defaults");
    assert!(prose.contains(&settings), "PROTOCOL.md 10 states the table's settings: {settings}");
    assert!(prose.contains("`shared/testdata/motion.json`"), "PROTOCOL.md 10 names the file");
}

/// The defaults PROTOCOL.md 10 tells a client to assume are `MotionRules::default()`, and its
/// constants are motion.rs's.
#[test]
fn protocol_md_section_10_states_the_default_rules() {
    let section = section_10();
    let rules = Rules::from(command_rules());
    let value = |name: &str| {
        let prefix = format!("| `{name}` | ");
        let row = section.lines().find(|l| l.starts_with(&prefix));
        let row = row.unwrap_or_else(|| panic!("PROTOCOL.md 10 has no row for {name}"));
        let cell = row[prefix.len()..].split('|').next().unwrap();
        let first = cell.split_whitespace().next().unwrap();
        number(first) as f32
    };
    for (name, default) in [
        ("ship_radius", rules.ship_radius),
        ("thrust", rules.thrust),
        ("boost_multiplier", rules.boost_multiplier),
        ("max_speed", rules.max_speed),
        ("boost_max_speed", rules.boost_max_speed),
        ("drag", rules.drag),
        ("turn_rate", rules.turn_rate),
        ("wall_restitution", rules.wall_restitution),
        ("DEAD_ZONE", DEAD_ZONE),
        ("OVERSPEED_DECAY", tickwire_shared::motion::OVERSPEED_DECAY),
    ] {
        assert_eq!(value(name), default, "PROTOCOL.md 10's default of {name}");
    }
}
