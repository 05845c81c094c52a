//! Prediction without a network: the server's own arena stepped tick by tick, its snapshots
//! and the client's inputs carried by a simulated link of whole ticks each way.

use super::*;
use tickwire_server::game::arena::{Arena, ArenaConfig};
use tickwire_server::game::{Game, PlayerInput};
use tickwire_shared::quant::{dequantize_axis_input, dequantize_position};
use tickwire_shared::{
    Buttons, EntityId, Input, PlayerId, QVec2, ResumeToken, Role, RoomName, RoundState, WorldBounds,
};

const TICK: Duration = Duration::from_nanos(1_000_000_000 / 30);
const FRAME: Duration = Duration::from_nanos(1_000_000_000 / 60);

fn welcome(entity: EntityId) -> Welcome {
    Welcome {
        player_id: PlayerId(1),
        role: Role::Player,
        room: RoomName::truncated("arena-1"),
        tick_rate: 30,
        world: WorldBounds { width: 1600, height: 1000 },
        view_radius: 700,
        entity: Some(entity),
        resume_token: ResumeToken([1; 16]),
        resumed: false,
    }
}

fn input(seq: u32, x: i8, y: i8, boost: bool) -> Input {
    let buttons = Buttons(if boost { Buttons::BOOST } else { 0 });
    Input { seq: InputSeq(seq), x, y, buttons }
}

/// A stick that sweeps round slowly, with boost in bursts and a run into a wall.
fn scripted(seq: u32) -> Input {
    let angle = seq as f32 * 0.05;
    let (x, y) = if (100..160).contains(&seq) { (127, 0) } else { (0, 0) };
    let (x, y) = if (x, y) == (0, 0) {
        ((angle.cos() * 127.0) as i8, (angle.sin() * 127.0) as i8)
    } else {
        (x, y)
    };
    input(seq, x, y, seq % 50 < 15)
}

fn ship_at(x: f32, y: f32, vel: QVec2) -> EntityState {
    EntityState {
        id: EntityId(1),
        kind: 0,
        pos: QVec2 { x: (x * 16.0) as i16, y: (y * 16.0) as i16 },
        vel,
        heading: 0,
        flags: 1,
        value: 0,
    }
}

fn world(tick: u32, phase: RoundPhase, ship: EntityState) -> World {
    World::from_unsorted(Tick(tick), RoundState { round: 1, phase, seconds_left: 60 }, vec![ship])
}

/// Over a link of `up` ticks one way and `down` the other, the ship the client draws is where
/// the server puts it once every input sent has been applied (to within the velocity the wire
/// rounds, 1 unit/s over the replayed ticks), while the snapshot alone is far behind; and
/// nothing is corrected, because nothing but the inputs moves it.
#[test]
fn over_a_delayed_link_the_prediction_lands_where_the_server_puts_the_ship() {
    for (up, down) in [(1u32, 1u32), (3, 3), (6, 2)] {
        let mut arena = Arena::new(ArenaConfig::default(), 7);
        let entity = arena.add_player(PlayerId(1));
        let ticks = 400;
        // The server: at tick n it applies the input sent `up` ticks before, then steps.
        let mut worlds = vec![None];
        let mut applied = vec![InputSeq(0)];
        let mut events = Vec::new();
        for n in 1..=ticks + up {
            let seq = n.checked_sub(up).filter(|&seq| seq >= 1);
            if let Some(seq) = seq {
                let sent = scripted(seq);
                arena.set_input(
                    PlayerId(1),
                    PlayerInput {
                        x: dequantize_axis_input(sent.x),
                        y: dequantize_axis_input(sent.y),
                        buttons: sent.buttons,
                    },
                );
            }
            arena.step(TICK.as_secs_f32(), &mut events);
            let mut entities = Vec::new();
            arena.entities(&mut entities);
            worlds.push(Some(World::from_unsorted(Tick(n), arena.round(), entities)));
            applied.push(seq.map_or(InputSeq(0), InputSeq));
        }
        // The client: at tick m it sends input m, having received the world of tick m - down.
        let welcome = welcome(entity);
        let start = Instant::now();
        let mut prediction = Prediction::default();
        let mut sent = Vec::new();
        let (mut worst_error, mut worst_correction, mut behind) = (0.0f32, 0.0f32, 0);
        for m in 1..=ticks {
            let now = start + TICK * m;
            sent.push(SentInput { input: scripted(m), sent_at: now });
            if m <= down {
                continue; // no world yet
            }
            let seen = worlds[(m - down) as usize].as_ref().unwrap();
            let parts = PredictionParts {
                welcome: &welcome,
                world: seen,
                applied: applied[(m - down) as usize],
                applied_tick: None,
                sent: &sent,
            };
            let drawn =
                prediction.predict_parts(parts, now, TICK).expect("the ship is in the world");
            let server_then = worlds[(m + up) as usize].as_ref().unwrap().get(entity).unwrap();
            let truth = dequantize_position(server_then.pos);
            worst_error = worst_error.max(drawn.motion.pos.distance(truth));
            worst_correction = worst_correction.max(drawn.correction.length());
            let stale = dequantize_position(seen.get(entity).unwrap().pos);
            behind += usize::from(stale.distance(truth) > 5.0);
            assert_eq!(drawn.replayed as u32, m - applied[(m - down) as usize].0);
        }
        // Per replayed tick: the wire's velocity off by up to 1 unit/s per axis, and a position
        // step (1/16 unit) rounded the other way.
        let bound = (up + down) as f32 * (1.5 / 30.0 + 1.0 / 16.0);
        assert!(worst_error <= bound, "up {up} down {down}: {worst_error} units off");
        assert!(worst_correction <= bound, "up {up} down {down}: {worst_correction}");
        assert!(behind > 300, "up {up} down {down}: the snapshot alone lagged {behind} times");
    }
}

/// Something the client could not predict (a shove) is blended away over about 100 ms from
/// where the ship was drawn; a new round's respawn snaps.
#[test]
fn a_correction_blends_away_and_a_respawn_snaps() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let still = QVec2::default();
    let mut sent = vec![SentInput { input: input(10, 0, 0, false), sent_at: start }];
    let mut prediction = Prediction::default();
    let at = |p: &mut Prediction, world: &World, applied: u32, sent: &[SentInput], dt| {
        let parts = PredictionParts {
            welcome: &welcome,
            world,
            applied: InputSeq(applied),
            applied_tick: None,
            sent,
        };
        p.predict_parts(parts, start + dt, FRAME).unwrap()
    };
    let first = at(
        &mut prediction,
        &world(10, RoundPhase::Playing, ship_at(500.0, 300.0, still)),
        10,
        &sent,
        TICK,
    );
    assert_eq!(first.motion.pos, Vec2::new(500.0, 300.0));
    assert_eq!(first.correction, Vec2::ZERO);
    sent.push(SentInput { input: input(11, 0, 0, false), sent_at: start + TICK });
    // The server moved the ship 30 units: drawn a little way from where it was, not there.
    let shoved = world(11, RoundPhase::Playing, ship_at(530.0, 300.0, still));
    let second = at(&mut prediction, &shoved, 11, &sent, TICK * 2);
    assert!(second.motion.pos.x > 500.0 && second.motion.pos.x < 510.0, "{}", second.motion.pos);
    assert_eq!(second.corrected, Some(Vec2::new(-30.0, 0.0)), "what the snapshot corrected");
    assert_eq!(first.corrected, None, "nothing to compare the first with");
    let mut drawn = second;
    for frame in 1..=6 {
        drawn = at(&mut prediction, &shoved, 11, &sent, TICK * 2 + FRAME * frame);
    }
    assert!(drawn.correction.length() < 7.5, "after 100 ms: {}", drawn.correction);
    assert!(drawn.motion.pos.x > second.motion.pos.x);
    for frame in 7..=18 {
        drawn = at(&mut prediction, &shoved, 11, &sent, TICK * 2 + FRAME * frame);
    }
    assert!(drawn.correction.length() < 0.6, "after 300 ms: {}", drawn.correction);
    // A new round's respawn across the arena snaps.
    let mut respawned = world(12, RoundPhase::Playing, ship_at(1200.0, 800.0, still));
    respawned.round.round += 1;
    let snapped = at(&mut prediction, &respawned, 11, &sent, TICK * 3);
    assert_eq!(snapped.motion.pos, Vec2::new(1200.0, 800.0));
    let jumped = snapped.corrected.expect("a snap is a correction too").length();
    assert!(jumped > 800.0, "{jumped}");
    assert_eq!(snapped.correction, Vec2::ZERO);
}

/// In the intermission ships are frozen: no input is replayed onto the server's state.
#[test]
fn in_the_intermission_the_ship_is_where_the_server_froze_it() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let sent: Vec<SentInput> = (1..=5)
        .map(|seq| SentInput { input: input(seq, 127, 0, true), sent_at: start + TICK * seq })
        .collect();
    let frozen = world(40, RoundPhase::Intermission, ship_at(800.0, 500.0, QVec2 { x: 100, y: 0 }));
    let parts = PredictionParts {
        welcome: &welcome,
        world: &frozen,
        applied: InputSeq(0),
        applied_tick: None,
        sent: &sent,
    };
    let drawn = Prediction::default().predict_parts(parts, start + TICK * 6, FRAME).unwrap();
    assert_eq!(drawn.motion.pos, Vec2::new(800.0, 500.0));
    let playing = world(40, RoundPhase::Playing, frozen.entities[0]);
    let parts = PredictionParts {
        welcome: &welcome,
        world: &playing,
        applied: InputSeq(0),
        applied_tick: None,
        sent: &sent,
    };
    let flying = Prediction::default().predict_parts(parts, start + TICK * 6, FRAME).unwrap();
    assert!(flying.motion.pos.x > 850.0, "the same inputs while playing: {}", flying.motion.pos);
}

/// When the round ends, the ship freezes where the server stopped it: the prediction, which
/// had flown it on ahead, blends back there from where it was drawn, not from behind.
#[test]
fn at_the_end_of_a_round_the_ship_blends_back_from_where_it_was_drawn() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let flying = QVec2 { x: 210, y: 0 }; // 420 units/s
    let sent: Vec<SentInput> = (1..=14)
        .map(|seq| SentInput { input: input(seq, 127, 0, false), sent_at: start + TICK * seq })
        .collect();
    let mut prediction = Prediction::default();
    let now = start + TICK * 14;
    fn at<'a>(
        welcome: &'a Welcome,
        world: &'a World,
        applied: u32,
        sent: &'a [SentInput],
    ) -> PredictionParts<'a> {
        PredictionParts { welcome, world, applied: InputSeq(applied), applied_tick: None, sent }
    }
    let playing = world(20, RoundPhase::Playing, ship_at(500.0, 400.0, flying));
    let drawn = prediction.predict_parts(at(&welcome, &playing, 10, &sent), now, FRAME).unwrap();
    assert!(drawn.motion.pos.x > 550.0, "four inputs ahead: {}", drawn.motion.pos);
    // The next tick ends the round: frozen one tick on, at 514.
    let frozen = world(21, RoundPhase::Intermission, ship_at(514.0, 400.0, flying));
    let next =
        prediction.predict_parts(at(&welcome, &frozen, 11, &sent), now + FRAME, FRAME).unwrap();
    let step = next.motion.pos.x - drawn.motion.pos.x;
    assert!(step.abs() < 15.0, "from {} to {}", drawn.motion.pos.x, next.motion.pos.x);
    assert!(next.correction.x > 0.0, "blending back from ahead: {}", next.correction);
    let mut settled = next;
    for frame in 2..30 {
        settled = prediction
            .predict_parts(at(&welcome, &frozen, 11, &sent), now + FRAME * frame, FRAME)
            .unwrap();
        assert!(
            settled.motion.pos.x >= 514.0,
            "never behind where it froze: {}",
            settled.motion.pos
        );
    }
    assert!((settled.motion.pos.x - 514.0).abs() < 0.1, "{}", settled.motion.pos);
}

/// A new connection whose first inputs did not follow the last applied one (those between
/// were lost with the old one), a new seat (ticks from 1) and a stalled uplink (more unapplied
/// inputs than are replayed) each snap rather than blend a correction that means nothing; no
/// ship, no prediction.
#[test]
fn a_new_connection_a_new_seat_or_a_stall_snap_and_a_missing_ship_predicts_nothing() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let still = QVec2::default();
    let mut prediction = Prediction::default();
    let sent: Vec<SentInput> = (1..=20)
        .map(|seq| SentInput { input: input(seq, 0, 0, false), sent_at: start + TICK * seq })
        .collect();
    let mut at = |world: &World, applied: u32, sent: &[SentInput]| {
        let parts = PredictionParts {
            welcome: &welcome,
            world,
            applied: InputSeq(applied),
            applied_tick: None,
            sent,
        };
        prediction.predict_parts(parts, start + TICK * 21, FRAME)
    };
    at(&world(50, RoundPhase::Playing, ship_at(400.0, 400.0, still)), 18, &sent).unwrap();
    // A new connection: nothing of it applied yet, 19 and 20 lost, the ship moved 60 units.
    let reconnected = [SentInput { input: input(21, 0, 0, false), sent_at: start + TICK * 21 }];
    let drawn =
        at(&world(51, RoundPhase::Playing, ship_at(460.0, 400.0, still)), 0, &reconnected).unwrap();
    assert_eq!((drawn.motion.pos.x, drawn.correction), (460.0, Vec2::ZERO));
    // A new seat: ticks start over.
    let drawn =
        at(&world(2, RoundPhase::Playing, ship_at(500.0, 400.0, still)), 0, &reconnected).unwrap();
    assert_eq!((drawn.motion.pos.x, drawn.correction), (500.0, Vec2::ZERO));
    // A stalled uplink: 300 inputs unapplied, 256 replayed; the next snapshot snaps, though
    // it moved the ship only 20 units (the inputs steer nowhere).
    let stalled: Vec<SentInput> = (22..322)
        .map(|seq| SentInput { input: input(seq, 0, 0, false), sent_at: start + TICK * seq })
        .collect();
    let drawn =
        at(&world(3, RoundPhase::Playing, ship_at(500.0, 400.0, still)), 21, &stalled).unwrap();
    assert_eq!(drawn.replayed, 256);
    let drawn =
        at(&world(4, RoundPhase::Playing, ship_at(520.0, 400.0, still)), 22, &stalled).unwrap();
    assert_eq!(drawn.correction, Vec2::ZERO);
    let gone = World::from_unsorted(
        Tick(5),
        RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 1 },
        vec![],
    );
    assert!(at(&gone, 22, &stalled).is_none());
}

/// What a player sees over a simulated link: the server's own [`InputQueue`] and arena, inputs
/// and worlds delivered at the ticks `up` and `down` give (a stall holds them back, then
/// delivers them at once), the client predicting each tick with the newest world it has.
/// Returns the corrections each new snapshot made, by length (what it moved the ship beyond
/// the correction still being blended away).
///
/// [`InputQueue`]: tickwire_server::inputs::InputQueue
fn corrections_over(ticks: u32, up: impl Fn(u32) -> u32, down: impl Fn(u32) -> u32) -> Vec<f32> {
    use tickwire_server::inputs::InputQueue;
    let mut arena = Arena::new(ArenaConfig::default(), 7);
    let entity = arena.add_player(PlayerId(1));
    let mut queue = InputQueue::default();
    let welcome = welcome(entity);
    let start = Instant::now();
    let mut prediction = Prediction::default();
    let mut sent = Vec::new();
    // Each world with the input applied in it and the tick it reaches the client.
    let mut worlds: Vec<(World, InputSeq, u32)> = Vec::new();
    let (mut received, mut applied) = (0, InputSeq(0));
    let (mut events, mut corrections, mut blending) = (Vec::new(), Vec::new(), Vec2::ZERO);
    // As the session keeps them: the newest input applied, and the first tick that showed it.
    let mut shown: (InputSeq, Option<Tick>) = (InputSeq(0), None);
    for n in 1..=ticks {
        let now = start + TICK * n;
        sent.push(SentInput { input: scripted(n), sent_at: now });
        while received < n && up(received + 1) <= n {
            received += 1;
            queue.receive(scripted(received));
        }
        if let Some(taken) = queue.take() {
            let (x, y) = (dequantize_axis_input(taken.x), dequantize_axis_input(taken.y));
            arena.set_input(PlayerId(1), PlayerInput { x, y, buttons: taken.buttons });
            applied = taken.seq;
        }
        arena.step(TICK.as_secs_f32(), &mut events);
        let mut entities = Vec::new();
        arena.entities(&mut entities);
        worlds.push((World::from_unsorted(Tick(n), arena.round(), entities), applied, down(n)));
        // Each world that reached the client in this tick (a stalled downlink delivers many
        // at once) is drawn from in turn, or the newest before them again.
        let mut seen: Vec<_> = worlds.iter().filter(|w| w.2 == n).collect();
        if seen.is_empty() {
            seen.extend(worlds.iter().rev().find(|w| w.2 < n));
        }
        for (k, (world, applied, _)) in seen.into_iter().enumerate() {
            if *applied > shown.0 {
                shown = (*applied, Some(world.tick));
            }
            let (applied, applied_tick) = shown;
            let parts =
                PredictionParts { welcome: &welcome, world, applied, applied_tick, sent: &sent };
            let frame = if k == 0 { TICK } else { Duration::ZERO };
            let drawn = prediction.predict_parts(parts, now, frame).expect("the ship is there");
            if let Some(corrected) = drawn.corrected {
                corrections.push((corrected - blending).length());
            }
            blending = drawn.correction;
        }
    }
    corrections
}

/// Through a stalled uplink the server runs the ship on the last input it has, and folds the
/// inputs that come late: each snapshot of the stall agrees with the prediction, and the
/// stall costs a few corrections as it starts (the ship no longer follows the stick), one or
/// two as it ends, and one when the server drops the tick of lag it kept (a second later):
/// 5 to 7 over 5 units, the largest 27 to 59. Replaying the late inputs as if the server would
/// still run them drew the ship a stall ahead and corrected it at every snapshot: 10 to 64
/// corrections over 5 units, the largest 180 to 535.
#[test]
fn a_stalled_uplink_is_predicted_as_the_server_runs_it() {
    // What a stall of `ticks` holds back arrives in `parts` ticks in a row as it ends (TCP
    // segments on either side of a tick).
    let held = |from: u32, ticks: u32, parts: u32| {
        move |t: u32| {
            let held_back = t.checked_sub(from).filter(|&i| i < ticks);
            held_back.map_or(t + 2, |i| from + ticks + 2 + i * parts / ticks)
        }
    };
    for (stall, parts) in [(9, 1), (30, 1), (60, 1), (30, 2), (60, 3)] {
        let corrections = corrections_over(400, held(200, stall, parts), |t| t + 2);
        let largest = corrections.iter().copied().fold(0.0, f32::max);
        let total: f32 = corrections.iter().sum();
        let over_5 = corrections.iter().filter(|&&c| c > 5.0).count();
        let stall = format!("a stall of {stall} ticks arriving in {parts} parts");
        assert!(largest < 80.0, "{stall}: corrected {largest} units");
        assert!(over_5 <= 8, "{stall}: {over_5} corrections over 5 units");
        assert!(total < 300.0, "{stall}: {total} units corrected in all");
    }
    // Nothing is left out where the server had every input in time: a steady link, jitter of
    // two ticks. (A stalled downlink, whose snapshots come late and all at once: see
    // `a_stall_of_the_downlink_alone_costs_one_eased_correction`.)
    type Link = Box<dyn Fn(u32) -> u32>;
    let links: [(Link, Link); 2] = [
        (Box::new(|t| t + 2), Box::new(|t| t + 2)),
        (Box::new(|t| t + 2 + t * 7 % 3), Box::new(|t| t + 2 + t * 5 % 2)),
    ];
    for (up, down) in links {
        let corrections = corrections_over(400, up, down);
        let largest = corrections.iter().copied().fold(0.0, f32::max);
        assert!(largest < 15.0, "{largest} units corrected");
    }
    // An uplink whose delay grows by 200 ms at once looks like a stall while nothing arrives,
    // and the server then applies every input late rather than folding them: the ship held
    // through the gap is corrected as the inputs come, in two snapshots, by less than a snap
    // (54 and 45 units). Past the first, inputs late against a lag floor from before the step
    // are not left out as folded (that drew the ship 22 to 30 units off for a second), as the
    // server folds none.
    let corrections = corrections_over(400, |t| if t < 200 { t + 1 } else { t + 7 }, |t| t + 1);
    let largest = corrections.iter().copied().fold(0.0, f32::max);
    let over_5 = corrections.iter().filter(|&&c| c > 5.0).count();
    assert!(largest < 120.0 && over_5 <= 5, "{over_5} over 5 units, the largest {largest}");
}

/// A link for [`fly`], times in ms. What would arrive in a stall's window arrives at its end,
/// over `parts` ticks (TCP segments on either side of a tick); both windows together are a
/// network that stalls both ways, as a phone's radio does.
#[derive(Debug, Clone, Copy)]
struct Flight {
    /// The server's ticks a second (default 30), as often as the client sends an input.
    tick_rate: u8,
    rtt: f64,
    up_stall: (f64, f64),
    down_stall: (f64, f64),
    parts: u32,
    /// Added to the `k`th snapshot's way down, ms: jitter.
    jitter: fn(u32) -> f64,
    end: f64,
}

impl Flight {
    const NONE: (f64, f64) = (f64::INFINITY, f64::INFINITY);

    fn steady(rtt: f64, end: f64) -> Flight {
        Flight {
            tick_rate: 30,
            rtt,
            up_stall: Flight::NONE,
            down_stall: Flight::NONE,
            parts: 1,
            jitter: |_| 0.0,
            end,
        }
    }

    /// When something due at `due` arrives through `stall`.
    fn arrival(&self, due: f64, stall: (f64, f64)) -> f64 {
        let (from, to) = stall;
        if due < from || due >= to {
            return due;
        }
        let part = ((due - from) / (to - from) * f64::from(self.parts)).floor();
        to + part * 1000.0 / f64::from(self.tick_rate)
    }
}

/// A frame [`fly`] drew: when (ms), where, and what a new snapshot corrected there (units,
/// beyond the correction still being blended away).
#[derive(Debug, Clone, Copy)]
struct Drawn {
    at: f64,
    pos: Vec2,
    jump: f32,
    /// Whether the prediction took the link for silent both ways.
    silent: bool,
}

/// The stick round a circle at 3 rad/s, at `t` ms: a player steering through a stall.
fn circling(t: f64) -> (i8, i8) {
    let (sin, cos) = (t * 0.003).sin_cos();
    ((127.0 * cos).round() as i8, (127.0 * sin).round() as i8)
}

/// What a player sees of the own ship, as the browser game's tests fly it
/// (client-web/test/unit/predict.test.js `fly`): the server's own arena and input queue stepped
/// every tick, its snapshots and the client's inputs (one a tick, the stick `steer` sets) each
/// taking half the round trip, through the stalls of `flight`; the client keeps the newest
/// world, the applied input and its tick as the session does, and predicts at 60 frames a
/// second from the newest world only. Returns the frames, and the prediction.
fn fly(flight: Flight, steer: fn(f64) -> (i8, i8)) -> (Vec<Drawn>, Prediction) {
    use std::collections::BTreeMap;
    use tickwire_server::inputs::InputQueue;
    enum Happening {
        Tick(u32),
        Snapshot(Box<World>, InputSeq),
        Send(u32),
        Arrive(Input),
        Frame,
    }
    let tick_ms = 1000.0 / f64::from(flight.tick_rate);
    let frame_ms = 1000.0 / 60.0;
    let one_way = flight.rtt / 2.0;
    let (send_phase, frame_phase) = (3.0, 1.0);
    let mut arena = Arena::new(ArenaConfig::default(), 7);
    let entity = arena.add_player(PlayerId(1));
    let welcome = Welcome { tick_rate: flight.tick_rate, ..welcome(entity) };
    let mut queue = InputQueue::default();
    // By time (ns), then what counts first at the same instant (arrivals, the server's tick,
    // the frame), then as scheduled.
    let mut happenings: BTreeMap<(u64, u8, usize), Happening> = BTreeMap::new();
    let mut count = 0;
    let mut at = |happenings: &mut BTreeMap<_, _>, t: f64, rank: u8, what: Happening| {
        count += 1;
        happenings.insert(((t * 1e6) as u64, rank, count), what);
    };
    for k in 1..((flight.end / tick_ms) as u32) {
        at(&mut happenings, f64::from(k) * tick_ms, 1, Happening::Tick(k));
    }
    for seq in 1..(((flight.end - send_phase) / tick_ms) as u32) {
        at(&mut happenings, send_phase + f64::from(seq - 1) * tick_ms, 0, Happening::Send(seq));
    }
    let mut t = frame_phase;
    while t < flight.end {
        at(&mut happenings, t, 2, Happening::Frame);
        t += frame_ms;
    }
    let start = Instant::now();
    let instant = |ms: f64| start + Duration::from_secs_f64(ms / 1000.0);
    let (mut game_events, mut applied) = (Vec::new(), InputSeq(0));
    // The client.
    let mut prediction = Prediction::default();
    let (mut newest, mut shown) = (None::<World>, (InputSeq(0), None::<Tick>));
    let mut sent: Vec<SentInput> = Vec::new();
    let (mut frames, mut blending) = (Vec::new(), Vec2::ZERO);
    while let Some(((t, _, _), what)) = happenings.pop_first() {
        let t = t as f64 / 1e6;
        match what {
            Happening::Tick(k) => {
                if let Some(taken) = queue.take() {
                    let (x, y) = (dequantize_axis_input(taken.x), dequantize_axis_input(taken.y));
                    arena.set_input(PlayerId(1), PlayerInput { x, y, buttons: taken.buttons });
                    applied = taken.seq;
                }
                arena.step((tick_ms / 1000.0) as f32, &mut game_events);
                let mut entities = Vec::new();
                arena.entities(&mut entities);
                let world = World::from_unsorted(Tick(k), arena.round(), entities);
                let due = t + one_way + (flight.jitter)(k);
                let arrives = flight.arrival(due, flight.down_stall);
                at(&mut happenings, arrives, 0, Happening::Snapshot(Box::new(world), applied));
            }
            Happening::Snapshot(world, last_input) => {
                if newest.as_ref().is_some_and(|newest| newest.tick >= world.tick) {
                    continue; // an old tick arrived late
                }
                if last_input > shown.0 {
                    shown = (last_input, Some(world.tick));
                }
                newest = Some(*world);
            }
            Happening::Send(seq) => {
                let (x, y) = steer(t);
                let input = Input { seq: InputSeq(seq), x, y, buttons: Buttons(0) };
                sent.push(SentInput { input, sent_at: instant(t) });
                let arrives = flight.arrival(t + one_way, flight.up_stall);
                at(&mut happenings, arrives, 0, Happening::Arrive(input));
            }
            Happening::Arrive(input) => queue.receive(input),
            Happening::Frame => {
                let Some(world) = &newest else { continue };
                let (applied, applied_tick) = shown;
                let parts = PredictionParts {
                    welcome: &welcome,
                    world,
                    applied,
                    applied_tick,
                    sent: &sent,
                };
                let frame = Duration::from_secs_f64(frame_ms / 1000.0);
                let drawn = prediction.predict_parts(parts, instant(t), frame).expect("the ship");
                let jump = drawn.corrected.map_or(0.0, |corrected| (corrected - blending).length());
                blending = drawn.correction;
                let silent = prediction.silence.is_some();
                frames.push(Drawn { at: t, pos: drawn.motion.pos, jump, silent });
            }
        }
    }
    (frames, prediction)
}

/// A 600-unit shove (what a stall both ways may leave), then `frames` frames: the correction
/// left after each.
fn shoved(config: PredictionConfig, frames: u32) -> Vec<Vec2> {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let still = QVec2::default();
    let mut sent = vec![SentInput { input: input(10, 0, 0, false), sent_at: start }];
    let mut prediction = Prediction::new(config);
    let mut at = |world: &World, sent: &[SentInput], applied: u32, dt: Duration| {
        let parts = PredictionParts {
            welcome: &welcome,
            world,
            applied: InputSeq(applied),
            applied_tick: None,
            sent,
        };
        prediction.predict_parts(parts, start + dt, FRAME).unwrap().correction
    };
    at(&world(10, RoundPhase::Playing, ship_at(500.0, 300.0, still)), &sent, 10, TICK);
    sent.push(SentInput { input: input(11, 0, 0, false), sent_at: start + TICK });
    let far = world(11, RoundPhase::Playing, ship_at(1100.0, 300.0, still));
    (0..=frames).map(|frame| at(&far, &sent, 11, TICK * 2 + FRAME * frame)).collect()
}

/// `max_ease_speed` at 0 kept a correction for good, and below 0 grew it without bound (from
/// 30 units to 132 in a second at -100): a value not above 0, or NaN, caps nothing, as
/// `f32::INFINITY` does.
#[test]
fn a_max_ease_speed_not_above_0_caps_nothing() {
    let base = PredictionConfig::default();
    let capped = shoved(base, 30);
    let uncapped = shoved(PredictionConfig { max_ease_speed: f32::INFINITY, ..base }, 30);
    assert!(capped[1].length() > 500.0, "2,000 units/s eases 33 a frame: {}", capped[1]);
    assert!(uncapped[1].length() < 400.0, "{}", uncapped[1]);
    for max_ease_speed in [0.0, -100.0, f32::NAN] {
        let left = shoved(PredictionConfig { max_ease_speed, ..base }, 30);
        assert_eq!(left, uncapped, "{max_ease_speed}");
    }
}

/// At a few ticks a second a steady link's snapshots come further apart than the 250 ms that
/// otherwise tells a silence: it waits for two ticks. Taken for silent once a tick at 3 Hz and
/// below (784 frames of 3,975), the steady link corrected the ship 180-odd times, by up to 198
/// units.
#[test]
fn at_a_low_tick_rate_a_steady_link_is_no_silence() {
    for tick_rate in [1, 2, 3, 4, 8] {
        let tick_ms = 1000.0 / f64::from(tick_rate);
        let flight = Flight { tick_rate, ..Flight::steady(150.0, 60.0 * tick_ms) };
        let (frames, _) = fly(flight, circling);
        let silent = frames.iter().filter(|frame| frame.silent).count();
        let seen = seen(&frames, 10.0 * tick_ms);
        assert!(silent == 0 && seen.corrections <= 3, "{tick_rate} Hz: {silent} silent, {seen:?}");
    }
}

/// What the eye sees of `frames` from `from` ms on (client-web/test/unit/predict.test.js
/// `seen`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    /// Frames whose ship is more than 2 units off where the two before were flying it (the
    /// curve itself bends it by under a unit a frame).
    visible: usize,
    /// The most a frame is off so.
    worst: f32,
    /// Corrections of over 5 units.
    corrections: usize,
    /// The longest step between two frames.
    step: f32,
}

fn seen(frames: &[Drawn], from: f64) -> Seen {
    let mut seen = Seen { visible: 0, worst: 0.0, corrections: 0, step: 0.0 };
    for three in frames.windows(3) {
        let [a, b, c] = three else { unreachable!() };
        if c.at < from {
            continue;
        }
        let off = c.pos.distance(2.0 * b.pos - a.pos);
        seen.visible += usize::from(off > 2.0);
        seen.worst = seen.worst.max(off);
        seen.corrections += usize::from(c.jump > 5.0);
        seen.step = seen.step.max(c.pos.distance(b.pos));
    }
    seen
}

/// A phone's radio: for a second or more nothing comes either way, so no snapshot shows the
/// server running the ship on its last input; then the stall's snapshots come at once (or over
/// a few ticks), and the server gets the inputs it held back and folds them. The ship flies on
/// as the server runs it, and is eased, never thrown back and forth: at full speed it moves 7
/// units a frame, and no step is over 25 (12 to 15 measured; the browser game's are the
/// same). Replaying the stick through the stall and snapping corrections over 120 units made
/// steps of 211 to 1241 units as it ended, then back. Without the tick that first showed the
/// applied input (`applied_tick`: the stall's snapshots come at once, and a frame draws from
/// the newest only) up to 14 frames were off, by up to 21 units.
#[test]
fn through_a_link_that_stalls_both_ways_the_ship_flies_as_the_server_runs_it_and_is_eased() {
    for stall in [1000.0, 2000.0, 3000.0] {
        for parts in [1, 3] {
            let window = (1000.0, 1000.0 + stall);
            let flight = Flight {
                up_stall: window,
                down_stall: window,
                parts,
                ..Flight::steady(150.0, window.1 + 1500.0)
            };
            let seen = seen(&fly(flight, circling).0, 500.0);
            let what = format!("{stall} ms, {parts} part(s): {seen:?}");
            assert!(seen.step < 25.0 && seen.worst < 25.0 && seen.visible <= 12, "{what}");
        }
    }
}

/// A stall of the downlink alone: the server applied every input, on time, and the prediction,
/// silent after 250 ms, ran the later ones on the last the server was seen to have. The
/// snapshots that come at once then correct it once (twice when they come over three ticks),
/// eased: no step over what a frame's ease and the ship's own motion make (33 and 7 units;
/// 32 to 38 measured). Replaying the stick through it, as before silences were judged, cost
/// nothing here: this is what the silence costs, the price of stalls both ways.
#[test]
fn a_stall_of_the_downlink_alone_costs_one_eased_correction() {
    for stall in [1000.0, 2000.0, 3000.0] {
        for parts in [1, 3] {
            let window = (1000.0, 1000.0 + stall);
            let flight =
                Flight { down_stall: window, parts, ..Flight::steady(150.0, window.1 + 1500.0) };
            let seen = seen(&fly(flight, circling).0, 500.0);
            let what = format!("{stall} ms, {parts} part(s): {seen:?}");
            assert!(seen.corrections <= 2 && seen.step < 40.0, "{what}");
        }
    }
}

/// Snapshots that bunch up but never stop for 250 ms are not a silence: the prediction goes
/// on replaying the stick, as before silences were judged, and corrects nothing.
#[test]
fn jitter_alone_is_no_silence() {
    let flight = Flight {
        // Up to 200 ms late, the snapshots of one tick in six on time: bunches of six.
        jitter: |k| f64::from(5 - k % 6) * 40.0,
        ..Flight::steady(150.0, 4000.0)
    };
    let (frames, prediction) = fly(flight, circling);
    assert_eq!(prediction.silence, None);
    assert!(frames.iter().all(|frame| frame.jump < 5.0), "corrected: {:?}", seen(&frames, 500.0));
}

/// Something only the server knows put the ship 400 units on: eased over a few frames, no
/// step over 40 units, there within half a second; a new round's respawn, or a round starting
/// after the intermission, is drawn there at once.
#[test]
fn a_large_correction_is_eased_and_a_respawn_snaps() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let still = QVec2::default();
    for respawn in [None, Some(RoundPhase::Playing), Some(RoundPhase::Intermission)] {
        let mut prediction = Prediction::default();
        let mut at = |world: &World, ms: u64| {
            let parts = PredictionParts {
                welcome: &welcome,
                world,
                applied: InputSeq(0),
                applied_tick: None,
                sent: &[],
            };
            prediction.predict_parts(parts, start + Duration::from_millis(ms), FRAME).unwrap()
        };
        // In the intermission before the round of the respawn, or the same round.
        let phase = respawn.unwrap_or(RoundPhase::Playing);
        at(&world(10, phase, ship_at(400.0, 400.0, still)), 0);
        let mut moved = world(11, RoundPhase::Playing, ship_at(800.0, 400.0, still));
        if respawn == Some(RoundPhase::Playing) {
            moved.round.round += 1;
        }
        let drawn: Vec<f32> = (1..=30).map(|f| at(&moved, f * 16).motion.pos.x).collect();
        if respawn.is_some() {
            assert_eq!(drawn[0], 800.0, "respawned ({respawn:?}): drawn there at once");
        } else {
            let before = std::iter::once(400.0).chain(drawn.iter().copied());
            let steps: Vec<f32> = drawn.iter().zip(before).map(|(x, was)| x - was).collect();
            assert!(steps.iter().all(|d| (0.0..=40.0).contains(d)), "{steps:?}");
            assert!((drawn[29] - 800.0).abs() < 1.0, "there within half a second: {}", drawn[29]);
        }
    }
}

/// Snapshots of a stalled uplink that come at once, a frame drawing from the newest only: the
/// tick that first showed the applied input (the session's) says the server ran the ship on it
/// for 29 ticks, so the inputs whose ticks went by are left out and the last applied one
/// replayed for the others, from the first frame. Without it, the first frame that saw the
/// input applied is all there is, which shows no stall.
#[test]
fn a_stall_whose_snapshots_came_at_once_is_told_by_the_tick_that_first_showed_the_applied_input() {
    let welcome = welcome(EntityId(1));
    let start = Instant::now();
    let sent: Vec<SentInput> = (1..=80)
        .map(|seq| SentInput { input: input(seq, 127, 0, false), sent_at: start + TICK * seq })
        .collect();
    let flying = ship_at(500.0, 500.0, QVec2 { x: 100, y: 0 });
    for (applied_tick, replayed) in [(Some(Tick(101)), 2), (None, 29)] {
        let mut prediction = Prediction::default();
        let mut at = |tick: u32, applied: u32, applied_tick: Option<Tick>, now: u32| {
            let world = world(tick, RoundPhase::Playing, flying);
            let applied = InputSeq(applied);
            let parts = PredictionParts {
                welcome: &welcome,
                world: &world,
                applied,
                applied_tick,
                sent: &sent,
            };
            prediction.predict_parts(parts, start + TICK * now, FRAME).unwrap()
        };
        at(100, 50, Some(Tick(100)), 51);
        // 30 ticks on, input 51 applied since tick 101: 29 inputs unapplied, 27 of them passed by.
        let drawn = at(130, 51, applied_tick, 81);
        assert_eq!(drawn.replayed, replayed, "told the tick {applied_tick:?}");
    }
}

/// The prediction folds as the server does.
#[test]
fn the_server_s_late_allowance_is_the_one_predicted_with() {
    assert_eq!(SERVER_LATE_ALLOWANCE, tickwire_server::inputs::LATE_ALLOWANCE);
}

/// Into a silence the ship eases from where the previous frame drew it, flown on the stick,
/// to where the server runs it on the last input it had: 250 ms into a stall both ways, the
/// stick turning, no step over 12 units (10 measured, 7 a frame at full speed). Drawn at once
/// where the server runs it, the ship jumped 24 units.
#[test]
fn into_a_silence_the_ship_eases_from_where_it_was_drawn() {
    let window = (1000.0, 3000.0);
    let flight = Flight { up_stall: window, down_stall: window, ..Flight::steady(150.0, 2500.0) };
    let (frames, prediction) = fly(flight, circling);
    let silence = prediction.silence.expect("silent still");
    let last = circling(3.0 + f64::from(silence.from.0 - 2) * 1000.0 / 30.0);
    assert_eq!(
        (silence.stick.x, silence.stick.y),
        last,
        "the last input before the link went quiet"
    );
    let seen = seen(&frames, 500.0);
    assert!(seen.step < 12.0 && seen.worst < 10.0, "{seen:?}");
}

/// A short stall both ways whose burst reaches the server over several ticks: each part is
/// applied as it comes and the rest folded, until the server has all the stall held back, and
/// the inputs it folds are left out until then (half a second's stall over 5 or 8 ticks: steps
/// of up to 17 units). Taken for inputs the server would still run once the silence ended, they
/// threw the ship 40 units.
#[test]
fn after_a_silence_the_server_is_caught_up_with_by_folding() {
    for parts in [5, 8] {
        let window = (1000.0, 1500.0);
        let flight = Flight {
            up_stall: window,
            down_stall: window,
            parts,
            ..Flight::steady(60.0, window.1 + 1500.0)
        };
        let seen = seen(&fly(flight, circling).0, 500.0);
        assert!(seen.step < 25.0 && seen.worst < 25.0, "{parts} parts: {seen:?}");
    }
}
