//! Golden vectors of the prediction rules (PROTOCOL.md 6.2): `shared/testdata/predictions.json`.
//!
//! The snapshot vectors of `vectors.json` show every code of 6.4, but their ships keep their
//! velocity, so they pass a client whatever it makes of velocity extrapolation, of the velocity
//! ramp in the position prediction and of `div`'s rounding. These cases pin each of those: a
//! client that rounds halves with `Math.round` (or floors, or truncates), predicts positions
//! with `2k v` or `k (v + b)`, turns the long way round, or extrapolates an entity its
//! reference does not hold as if it had been at rest, rebuilds another world from at least one
//! of them. They also show the codes `10` (motion only), `1110` with groups 2 (heading only)
//! and `1110` with groups 4 and fields 1 (a kind change), and a header with both ages escaped
//! (head `7f`), a tick past 2^28 (5 LEB128 bytes) and a last input past 2^21 (4).
//!
//! The file is exactly what [`cases`] builds, encoded by this crate's encoder: each case gives
//! its worlds, `tick_rate`, `last_input` and the whole `Snapshot` message as `hex`. After a
//! deliberate change, regenerate it with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-shared --test prediction_vectors` and review the
//! diff. The JavaScript SDK's tests (client-web/sdk/test/snapshots.test.js) read the same file.
#![cfg(feature = "alloc")]

use std::fmt::Write as _;
use std::path::PathBuf;
use tickwire_shared::codec::{decode_control, decode_controller, decode_server, encode_server};
use tickwire_shared::delta::{Baseline, World, apply, delta};
use tickwire_shared::*;

/// One case: the worlds a snapshot is encoded against, the world it describes, and (in the
/// file) its bytes.
struct Case {
    name: &'static str,
    /// What the case pins, for whoever reads the file.
    about: &'static str,
    tick_rate: u8,
    last_input: u32,
    baseline: Option<World>,
    reference: Option<World>,
    world: World,
    /// The wrong readings of 6.2 that must rebuild another world from this case.
    bites: &'static [Rules],
}

fn entity(
    id: u32,
    kind: u8,
    pos: (i16, i16),
    vel: (i16, i16),
    heading: u8,
    flags: u8,
    value: u16,
) -> EntityState {
    EntityState {
        id: EntityId(id),
        kind,
        pos: QVec2 { x: pos.0, y: pos.1 },
        vel: QVec2 { x: vel.0, y: vel.1 },
        heading,
        flags,
        value,
    }
}

/// A ship: kind 0, alive.
fn ship(id: u32, pos: (i16, i16), vel: (i16, i16), heading: u8) -> EntityState {
    entity(id, 0, pos, vel, heading, 1, 0)
}

fn world(tick: u32, entities: Vec<EntityState>) -> World {
    let round = RoundState { round: 2, phase: RoundPhase::Playing, seconds_left: 40 };
    let world = World::from_unsorted(Tick(tick), round, entities.clone());
    assert_eq!(world.entities.len(), entities.len(), "tick {tick}: ids must be unique");
    world
}

/// `snapshot_extrapolated_lagged`: a client acking every other tick. Tick 203 against 202
/// (`k = 1`), extrapolating from 200 (`j = 2`), so every extrapolated change is halved and
/// an odd one lands on a half.
fn lagged() -> Case {
    let reference = world(
        200,
        vec![
            ship(2, (1000, 2000), (10, -4), 60),
            ship(4, (-2990, 490), (0, 0), 100),
            ship(6, (500, 500), (0, 0), 27),
            entity(9, 1, (8000, 8000), (0, 0), 0, 1, 1),
        ],
    );
    let baseline = world(
        202,
        vec![
            ship(2, (1011, 1994), (7, -1), 57),
            ship(4, (-3008, 512), (-5, 8), 100),
            ship(6, (500, 500), (0, 0), 20),
            entity(9, 1, (8000, 8000), (0, 0), 0, 1, 1),
            // Not in the reference (it joined at 201): predicted without extrapolation.
            entity(11, 0, (4000, -4000), (3, -3), 192, 3, 9),
        ],
    );
    let next = world(
        203,
        vec![
            // Velocity changed by (-3, +3) over 2 ticks: (7, -1) + (div(-3, 2), div(3, 2))
            // = (7 - 2, -1 + 2); turned -3: 57 + div(-3, 2) = 55; moved by div(2 * 16 v, 30)
            // = (5, 1). Exactly the prediction: one bit (`Math.round` gives vx 6 and heading
            // 56, flooring vy 0).
            ship(2, (1016, 1995), (5, 1), 55),
            // Predicted (-5 + div(-5, 2), 8 + div(8, 2)) = (-8, 12), now (-9, 12); moved by
            // (div(-288, 30), div(384, 30)) = (-10, 13), then one step further right and two
            // up: code `10`, velocity errors -1 and 0, position errors +1 and -2.
            ship(4, (-3017, 523), (-9, 12), 100),
            // At rest, turning: predicted 20 + div(-7, 2) = 16, now 12: heading only.
            ship(6, (500, 500), (0, 0), 12),
            // The pickup became kind 2: the other fields' kind alone.
            entity(9, 2, (8000, 8000), (0, 0), 0, 1, 1),
            // Flying on at (3, -3): moved by div(2 * 16 * 3, 30) = 3 steps an axis.
            entity(11, 0, (4003, -4003), (3, -3), 192, 3, 9),
        ],
    );
    Case {
        name: "snapshot_extrapolated_lagged",
        about: "k = 1, j = 2 at 30 Hz: velocity and heading extrapolation landing on halves of \
                both signs (div rounds half away from zero), an entity the reference lacks, \
                the codes 10 (motion only), 1110 with groups 2 (heading only) and 1110 with \
                groups 4 and fields 1 (a kind change)",
        tick_rate: 30,
        last_input: 77,
        baseline: Some(baseline),
        reference: Some(reference),
        world: next,
        bites: &[HALF_UP, FLOOR, TOWARD_ZERO, K_TIMES_SUM, MISSING_REFERENCE_AT_REST],
    }
}

/// `snapshot_half_steps`: at 64 Hz a velocity step moves 32 / 64 of a position step a tick,
/// so positions land on halves; two ticks (`k = 2`) without a reference, with velocities
/// that changed, so the ramp `(k + 1) v + (k - 1) b.vel` matters.
fn half_steps() -> Case {
    let baseline = world(
        40,
        vec![
            ship(1, (100, 200), (-4, 20), 0),
            ship(2, (-100, -200), (1, 0), 64),
            ship(3, (0, 0), (-3, 5), 128),
        ],
    );
    let next = world(
        42,
        vec![
            // x: (3 * -6 + 1 * -4) * 16 / 64 = -5.5, so -6 (`Math.round`: -5);
            // y: (3 * 40 + 20) * 16 / 64 = 35 (2k v: 40, k (v + b): 30).
            ship(1, (94, 235), (-6, 40), 0),
            // x: (3 * 3 + 1) * 16 / 64 = 2.5, so 3 (flooring: 2).
            ship(2, (-97, -200), (3, 0), 64),
            // Steady: 2 ticks of (-3, 5) are (-3, 5) position steps; one bit.
            ship(3, (-3, 5), (-3, 5), 128),
        ],
    );
    Case {
        name: "snapshot_half_steps",
        about: "k = 2 at 64 Hz, no reference: positions on halves of both signs, velocities \
                that changed (the ramp (k + 1) v + (k - 1) b.vel), velocity errors against \
                b.vel",
        tick_rate: 64,
        last_input: 12,
        baseline: Some(baseline),
        reference: None,
        world: next,
        bites: &[HALF_UP, FLOOR, TOWARD_ZERO, TWICE_K_V, K_TIMES_SUM],
    }
}

/// A tick past 2^28: 5 LEB128 bytes.
const LATE_TICK: u32 = 300_000_000;

/// `snapshot_escaped_ages`: a room that has run for 29 days at 120 Hz, against a baseline 15
/// ticks back (the smallest escaped baseline age), extrapolating from 10 ticks before that
/// (an escaped reference age): head `7f`, both age bytes, a 5-byte tick, a 4-byte last input.
fn escaped_ages() -> Case {
    let (t, b, r) = (LATE_TICK, LATE_TICK - 15, LATE_TICK - 25);
    let reference = world(
        r,
        vec![
            ship(1, (5100, -5060), (-5, 5), 200),
            entity(5, 1, (700, 700), (0, 0), 0, 1, 2),
            ship(7, (-900, 900), (0, 0), 1),
            ship(8, (900, -900), (0, 0), 250),
        ],
    );
    let baseline = world(
        b,
        vec![
            ship(1, (5000, -5000), (-10, 6), 210),
            entity(5, 1, (700, 700), (0, 0), 0, 1, 2),
            ship(6, (1, 1), (0, 0), 0),
            ship(7, (-900, 900), (0, 0), 254),
            ship(8, (900, -900), (0, 0), 253),
        ],
    );
    let next = world(
        t,
        vec![
            // Velocity changes of -5 and +1 over 10 ticks, continued for 15: div(-75, 10) = -8
            // and div(15, 10) = 2, so (-18, 8); turned 10, continued: 210 + 15. Moved by
            // div((16 * -18 + 14 * -10) * 16, 120) = -57 (2k v: -72, k (v + b): -56) and
            // div((16 * 8 + 14 * 6) * 16, 120) = 28.
            ship(1, (4943, -4972), (-18, 8), 225),
            entity(5, 1, (700, 700), (0, 0), 0, 1, 2),
            // Ship 6 is removed; ship 7 turned from 1 to 254, -3 the short way round (253 the
            // long one): 254 + div(-45, 10) = 249. Ship 8 turned +3: 253 + div(45, 10) wraps
            // to 2.
            ship(7, (-900, 900), (0, 0), 249),
            ship(8, (900, -900), (0, 0), 2),
            // A spawn with an id past 2^31.
            entity(4_000_000_000, 1, (-32768, 32767), (0, 0), 0, 1, 65535),
        ],
    );
    Case {
        name: "snapshot_escaped_ages",
        about: "head 7f: baseline age 15 and reference age 10 both escaped, a tick past 2^28 \
                (5 LEB128 bytes) and a last input past 2^21 (4); k = 15, j = 10 at 120 Hz: \
                extrapolation on halves, headings across 0 both ways (a turn from 1 to 254, a \
                prediction from 253 to 2), a removal, a spawn with a 32-bit id",
        tick_rate: 120,
        last_input: 3_000_000,
        baseline: Some(baseline),
        reference: Some(reference),
        world: next,
        bites: &[HALF_UP, FLOOR, TOWARD_ZERO, TWICE_K_V, K_TIMES_SUM, LONG_TURN],
    }
}

fn cases() -> Vec<Case> {
    vec![lagged(), half_steps(), escaped_ages()]
}

impl Case {
    fn base(&self) -> Option<Baseline<'_>> {
        self.baseline.as_ref().map(|world| Baseline { world, reference: self.reference.as_ref() })
    }

    fn bytes(&self) -> Vec<u8> {
        let snapshot = delta(self.base(), &self.world, InputSeq(self.last_input), self.tick_rate)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name));
        encode_server(&ServerMessage::Snapshot(snapshot)).unwrap()
    }
}

// ---- readings of PROTOCOL.md 6.2, right and wrong ------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    /// `div` as 6.2 states it.
    HalfAwayFromZero,
    /// JavaScript's `Math.round(a / d)`: halves toward +infinity.
    HalfUp,
    Floor,
    /// Integer division in C, Rust, Java.
    TowardZero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ramp {
    /// `(k + 1) v + (k - 1) b.vel`, as 6.2 states it.
    Exact,
    /// `2 k v`: the new velocity over every tick.
    TwiceKV,
    /// `k (v + b.vel)`: the mean velocity over every tick, counted at both ends.
    KTimesSum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rules {
    rounding: Rounding,
    ramp: Ramp,
    /// Headings turn the short way round (`turn`); false: `b.heading - r.heading` as integers.
    shortest_turn: bool,
    /// An entity the reference lacks is extrapolated as if the reference held it at rest,
    /// heading 0 (6.2: it is not extrapolated).
    missing_reference_at_rest: bool,
}

const PROTOCOL: Rules = Rules {
    rounding: Rounding::HalfAwayFromZero,
    ramp: Ramp::Exact,
    shortest_turn: true,
    missing_reference_at_rest: false,
};
const HALF_UP: Rules = Rules { rounding: Rounding::HalfUp, ..PROTOCOL };
const FLOOR: Rules = Rules { rounding: Rounding::Floor, ..PROTOCOL };
const TOWARD_ZERO: Rules = Rules { rounding: Rounding::TowardZero, ..PROTOCOL };
const TWICE_K_V: Rules = Rules { ramp: Ramp::TwiceKV, ..PROTOCOL };
const K_TIMES_SUM: Rules = Rules { ramp: Ramp::KTimesSum, ..PROTOCOL };
const LONG_TURN: Rules = Rules { shortest_turn: false, ..PROTOCOL };
const MISSING_REFERENCE_AT_REST: Rules = Rules { missing_reference_at_rest: true, ..PROTOCOL };

fn div(a: i64, d: i64, rounding: Rounding) -> i64 {
    match rounding {
        Rounding::HalfAwayFromZero => a.signum() * ((2 * a.abs() + d) / (2 * d)),
        Rounding::HalfUp => (2 * a + d).div_euclid(2 * d),
        Rounding::Floor => a.div_euclid(d),
        Rounding::TowardZero => a / d,
    }
}

/// What `rules` predict of `base`: velocity, heading, and the position with velocity `vel`.
fn predict(
    rules: Rules,
    base: &EntityState,
    reference: Option<(&World, &World)>,
    (k, tick_rate): (i64, i64),
    vel: QVec2,
) -> ([i64; 2], u8, [i64; 2]) {
    let axes = |q: QVec2| [i64::from(q.x), i64::from(q.y)];
    let (b_vel, b_pos) = (axes(base.vel), axes(base.pos));
    let mut predicted_vel = b_vel;
    let mut heading = base.heading;
    if let Some((baseline, reference)) = reference {
        let j = i64::from(baseline.tick.0 - reference.tick.0);
        let at_rest = EntityState { vel: QVec2::default(), heading: 0, ..*base };
        let old = match reference.get(base.id) {
            Some(old) => Some(*old),
            None => rules.missing_reference_at_rest.then_some(at_rest),
        };
        if let Some(old) = old {
            let r_vel = axes(old.vel);
            for axis in 0..2 {
                predicted_vel[axis] += div((b_vel[axis] - r_vel[axis]) * k, j, rules.rounding);
            }
            let turned = if rules.shortest_turn {
                i64::from(base.heading.wrapping_sub(old.heading) as i8)
            } else {
                i64::from(base.heading) - i64::from(old.heading)
            };
            let h = i64::from(base.heading) + div(turned * k, j, rules.rounding);
            heading = h.rem_euclid(256) as u8;
        }
    }
    let v = axes(vel);
    let pos = std::array::from_fn(|axis| {
        let steps = match rules.ramp {
            Ramp::Exact => (k + 1) * v[axis] + (k - 1) * b_vel[axis],
            Ramp::TwiceKV => 2 * k * v[axis],
            Ramp::KTimesSum => k * (v[axis] + b_vel[axis]),
        };
        b_pos[axis] + div(steps * 16, tick_rate, rules.rounding)
    });
    (predicted_vel, heading, pos)
}

/// Whether a client following `rules` rebuilds another world from `case`: some entity it
/// predicts otherwise (the corrections on the wire are relative to the prediction, so any
/// difference in it is a difference in the world).
fn rebuilds_another_world(case: &Case, rules: Rules) -> bool {
    let Some(baseline) = &case.baseline else { return false };
    let k = i64::from(case.world.tick.0 - baseline.tick.0);
    let reference = case.reference.as_ref().map(|r| (baseline, r));
    baseline.entities.iter().filter_map(|b| case.world.get(b.id).map(|n| (b, n))).any(|(b, n)| {
        let at = (k, i64::from(case.tick_rate));
        predict(rules, b, reference, at, n.vel) != predict(PROTOCOL, b, reference, at, n.vel)
    })
}

// ---- the file --------------------------------------------------------------------------------

/// A JSON value, written as `serde_json::to_string_pretty` does (the format of the other files
/// of `shared/testdata`), without the dependency.
enum Json {
    Null,
    Int(i64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
}

impl Json {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.push_str(&"  ".repeat(n));
        match self {
            Json::Null => out.push_str("null"),
            Json::Int(n) => write!(out, "{n}").unwrap(),
            Json::Str(s) => {
                assert!(
                    s.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
                        && !s.contains(['"', '\\'])
                );
                write!(out, "\"{s}\"").unwrap();
            }
            Json::List(items) if items.is_empty() => out.push_str("[]"),
            Json::List(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    item.write(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Object(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    pad(out, indent + 1);
                    write!(out, "\"{key}\": ").unwrap();
                    value.write(out, indent + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn qvec_json(q: QVec2) -> Json {
    Json::Object(vec![("x", Json::Int(q.x.into())), ("y", Json::Int(q.y.into()))])
}

/// A world as the crate's `serde` feature writes it (as in `snapshots.json`).
fn world_json(w: &World) -> Json {
    let phase = match w.round.phase {
        RoundPhase::Playing => "Playing",
        RoundPhase::Intermission => "Intermission",
    };
    let entities = w.entities.iter().map(|e| {
        Json::Object(vec![
            ("id", Json::Int(e.id.0.into())),
            ("kind", Json::Int(e.kind.into())),
            ("pos", qvec_json(e.pos)),
            ("vel", qvec_json(e.vel)),
            ("heading", Json::Int(e.heading.into())),
            ("flags", Json::Int(e.flags.into())),
            ("value", Json::Int(e.value.into())),
        ])
    });
    Json::Object(vec![
        ("tick", Json::Int(w.tick.0.into())),
        (
            "round",
            Json::Object(vec![
                ("round", Json::Int(w.round.round.into())),
                ("phase", Json::Str(phase.into())),
                ("seconds_left", Json::Int(w.round.seconds_left.into())),
            ]),
        ),
        ("entities", Json::List(entities.collect())),
    ])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_text(cases: &[Case]) -> String {
    let optional = |w: &Option<World>| w.as_ref().map_or(Json::Null, world_json);
    let list = cases.iter().map(|c| {
        Json::Object(vec![
            ("name", Json::Str(c.name.into())),
            ("about", Json::Str(c.about.split_whitespace().collect::<Vec<_>>().join(" "))),
            ("hex", Json::Str(hex(&c.bytes()))),
            ("tick_rate", Json::Int(c.tick_rate.into())),
            ("last_input", Json::Int(c.last_input.into())),
            ("baseline", optional(&c.baseline)),
            ("reference", optional(&c.reference)),
            ("world", world_json(&c.world)),
        ])
    });
    let mut out = String::new();
    Json::List(list.collect()).write(&mut out, 0);
    out + "\n"
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/predictions.json")
}

fn bless_requested() -> bool {
    std::env::var("TICKWIRE_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The hex of each case as the file holds it, in order.
fn hex_in_file(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("\"hex\": \""))
        .map(|rest| {
            let digits = rest.trim_end_matches(',').trim_end_matches('"');
            (0..digits.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

// ---- the tests -------------------------------------------------------------------------------

/// The file is exactly what the code builds (bless with `TICKWIRE_BLESS=1` after a deliberate
/// change), and every case's bytes apply to its worlds to give its world back.
#[test]
fn predictions_json_is_the_encoder_s_output_and_applies_back() {
    let cases = cases();
    let expected = file_text(&cases);
    if bless_requested() {
        std::fs::write(path(), &expected).unwrap();
    }
    let text = std::fs::read_to_string(path())
        .expect("shared/testdata/predictions.json exists (bless with TICKWIRE_BLESS=1)");
    assert!(text == expected, "predictions.json differs from the code; bless if deliberate");

    let bytes = hex_in_file(&text);
    assert_eq!(bytes.len(), cases.len());
    for (case, bytes) in cases.iter().zip(bytes) {
        let n = case.name;
        assert!(bytes.len() <= MAX_SERVER_MESSAGE_SIZE, "{n}");
        let Ok(ServerMessage::Snapshot(snapshot)) = decode_server(&bytes) else {
            panic!("{n}: not a snapshot");
        };
        assert_eq!(apply(case.base(), &snapshot, case.tick_rate), Ok(case.world.clone()), "{n}");
        let header = snapshot.header;
        assert_eq!(header.tick, case.world.tick, "{n}");
        assert_eq!(header.baseline, case.baseline.as_ref().map(|w| w.tick), "{n}");
        assert_eq!(header.reference, case.reference.as_ref().map(|w| w.tick), "{n}");
        assert_eq!(header.last_input, InputSeq(case.last_input), "{n}");
        // The no-alloc reads a client acks with, and a controller's.
        assert_eq!(decode_control(&bytes), Ok(ControlMessage::Snapshot(header)), "{n}");
        let tick = ControllerMessage::Snapshot(SnapshotTick(header.tick));
        assert_eq!(decode_controller(&bytes), Ok(tick), "{n}");
        // Without the reference it names, the snapshot is refused, not guessed.
        if let (Some(b), Some(_)) = (&case.baseline, &case.reference) {
            assert!(apply(Some(Baseline::new(b)), &snapshot, case.tick_rate).is_err(), "{n}");
        }
    }
}

/// The model above reads 6.2 as the crate does: a body that says "as predicted" (code `0`)
/// for every entity of the case's baseline rebuilds, through the crate's own `apply`, the
/// world the model predicts with the protocol's rules. Without this, a mistake the model shared
/// with a wrong reading would make that reading look caught.
fn model_agrees_with_the_crate(case: &Case) {
    let Some(baseline) = &case.baseline else { return };
    let k = i64::from(case.world.tick.0 - baseline.tick.0);
    let at = (k, i64::from(case.tick_rate));
    let reference = case.reference.as_ref().map(|r| (baseline, r));
    // Every entity `0`, then no spawns (`eg(0)`, a single 1 bit).
    let mut body = Vec::new();
    let mut w = tickwire_shared::bits::BitWriter::new(&mut body);
    for _ in &baseline.entities {
        w.bits(0, 1);
    }
    w.eg(0, 0);
    w.finish();
    let header = SnapshotHeader {
        tick: case.world.tick,
        baseline: Some(baseline.tick),
        reference: case.reference.as_ref().map(|r| r.tick),
        last_input: InputSeq(0),
        round: None,
    };
    let base = match &case.reference {
        Some(reference) => Baseline::with_reference(baseline, reference),
        None => Baseline::new(baseline),
    };
    let rebuilt = apply(Some(base), &Snapshot { header, body }, case.tick_rate).unwrap();
    for b in &baseline.entities {
        let (vel, heading, _) = predict(PROTOCOL, b, reference, at, b.vel);
        let vel_q = QVec2 { x: vel[0] as i16, y: vel[1] as i16 };
        let (_, _, pos) = predict(PROTOCOL, b, reference, at, vel_q);
        let got = rebuilt.get(b.id).unwrap();
        let got_pos = [i64::from(got.pos.x), i64::from(got.pos.y)];
        let got_vel = [i64::from(got.vel.x), i64::from(got.vel.y)];
        assert_eq!(
            (got_vel, got.heading, got_pos),
            (vel, heading, pos),
            "{}: entity {:?} as the crate predicts it, and as the model does",
            case.name,
            b.id
        );
    }
}

/// Each case rebuilds another world for the wrong readings of 6.2 it is there to catch, and
/// every wrong reading is caught by some case.
#[test]
fn each_wrong_reading_of_the_prediction_rules_rebuilds_another_world() {
    let cases = cases();
    for case in &cases {
        for &rules in case.bites {
            assert!(rebuilds_another_world(case, rules), "{}: {rules:?} is not caught", case.name);
        }
        model_agrees_with_the_crate(case);
    }
    for rules in [HALF_UP, FLOOR, TOWARD_ZERO, TWICE_K_V, K_TIMES_SUM, LONG_TURN] {
        assert!(cases.iter().any(|c| rebuilds_another_world(c, rules)), "{rules:?}");
    }
    assert!(cases.iter().any(|c| rebuilds_another_world(c, MISSING_REFERENCE_AT_REST)));
}

/// Every bit, least significant of each byte first.
fn bits(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| (0..8).map(move |i| if b >> i & 1 == 1 { '1' } else { '0' }))
        .collect()
}

fn body(case: &Case) -> Vec<u8> {
    let snapshot = delta(case.base(), &case.world, InputSeq(case.last_input), case.tick_rate);
    snapshot.unwrap().body
}

/// `case`'s body is exactly `codes` (bits, spaces between fields for the reader), then zero
/// padding to the end of its last byte.
fn assert_whole_body(case: &Case, codes: &[&str]) {
    let expected: String = codes.concat().split_whitespace().collect();
    let got = bits(&body(case));
    assert_eq!(got.len(), expected.len().div_ceil(8) * 8, "{}: body length", case.name);
    assert_eq!(&got[..expected.len()], expected, "{}", case.name);
    assert!(got[expected.len()..].bytes().all(|b| b == b'0'), "{}: padding", case.name);
}

/// The codes the cases are there to show, bit for bit (PROTOCOL.md 6.3 and 6.4).
#[test]
fn the_cases_show_the_codes_they_are_named_for() {
    let [lagged, half, escaped] = <[Case; 3]>::try_from(cases()).ok().unwrap();

    let lagged_codes = [
        "0",                     // ship 2: exactly the extrapolation
        "10 11 10 1 011 00100",  // ship 4: motion; vx -1, vy 0; position +1, -2
        "1110 010 001100",       // ship 6: heading only, -4
        "1110 001 100 01000000", // pickup 9: other fields, kind 2
        "0",                     // ship 11: as predicted without a reference
        "1",                     // no spawns
    ];
    assert_whole_body(&lagged, &lagged_codes);

    let half_codes = [
        "10 0110 0000101010 0", // ship 1: motion; vx -2, vy +20; where its velocity puts it
        "10 0101 10 0",         // ship 2: motion; vx +2, vy 0; likewise
        "0",                    // ship 3: steady
        "1",                    // no spawns
    ];
    assert_whole_body(&half, &half_codes);

    // Ships 1, 7, 8 and pickup 5 as predicted, ship 6 removed, one spawn.
    let expected = "0 0 1111 0 0 010".split_whitespace().collect::<String>();
    assert_eq!(&bits(&body(&escaped))[..expected.len()], expected, "snapshot_escaped_ages");
    // Tag 1; head 7f: baseline age escaped (15), reference age escaped (10), no round; the
    // tick 300000000 in 5 LEB128 bytes, the last input 3000000 in 4.
    let header = "01 7f 0f 0a 80c6868f01 c08db701".split_whitespace().collect::<String>();
    assert_eq!(hex(&escaped.bytes()[..header.len() / 2]), header);
}
