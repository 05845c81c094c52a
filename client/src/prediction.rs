//! Client-side prediction of the player's own ship, sans-IO.
//!
//! A snapshot shows the ship where the server had it when it applied
//! [`SnapshotInfo::last_input`](crate::SnapshotInfo::last_input): half a round trip and more
//! behind the stick. [`Prediction`] draws it where it will be once the server has applied
//! every input sent since, by replaying those inputs ([`Session::unapplied_inputs`]) on the
//! snapshot's state with the server's own movement rule ([`tickwire_shared::motion`]), then
//! flying on for the time since the newest input went out, so motion is smooth between ticks.
//! Being the same code, the two agree to a fraction of a unit when nothing else happens: the
//! snapshot carries the velocity to 2 units/s, where the server keeps it exact.
//!
//! When something only the server knows moves the ship (a collision), the next snapshot
//! disagrees with what was predicted: the difference (the **correction**) is blended away over
//! about 100 ms instead of snapping, a large one no faster than
//! [`PredictionConfig::max_ease_speed`] (2,000 units/s), so it slides over a few frames. A
//! respawn snaps (a new round, or a round starting after the intermission): the ship is drawn
//! at its new spot at once, not flown across the arena. So does a snapshot the prediction
//! cannot compare with the last (the first on a new connection, resumed or not, or one more
//! than [`PredictionConfig::max_replayed`] inputs later).
//!
//! A stalled uplink is predicted as the server runs it. When a snapshot's applied input has
//! not changed for more ticks than the server waits for a late one, the server has been
//! running the ship on its last input and will fold the late inputs when they come: the
//! prediction leaves them out and replays the last applied input instead, so the ship stops
//! following the stick for as long as the server gets none of it. A stall then costs a few
//! corrections as it starts and as it ends (under 60 units after a stall of 2 s), where
//! replaying the late inputs corrected the ship at every snapshot of the stall, by up to 535
//! units. (An uplink whose delay grows by more than a tick or two at once looks the same
//! until its inputs come, late but not folded: a correction or two of about 50 units.) How
//! long the server ran the ship on one input is the ticks since the first snapshot that showed
//! it applied ([`Session::last_input_acked_tick`]): after a stall its snapshots come at once,
//! and a game that draws only the newest would not see it otherwise.
//!
//! A link that stalls both ways (a phone's radio, a network switch) sends no snapshot that
//! shows the server running the ship on its last input. After 250 ms without a new snapshot
//! the link is taken for silent: the inputs sent since it went quiet are replayed with the
//! stick of the last one the server had, as the server runs them once they come folded, and
//! the ship flies on deaf to the stick until a snapshot shows the stall or comes on time
//! again; the switch into silence eases from where the previous frame drew the ship.
//! Replaying the stick instead drew the ship a whole stall away from where the server ran it,
//! and the stall's snapshots threw it back by hundreds of units, then forth: with the server's
//! own arena and input queue over a simulated link (150 ms round trip, 60 frames a second),
//! one-frame steps of 211 to 1,241 units after stalls of 1 to 3 s, now under 15. A stall of
//! the downlink alone, whose inputs the server did apply, costs one eased correction when it
//! ends (steps of up to 38 units, where replaying the stick cost nothing).
//!
//! This is the arena's rule. A game of your own predicts with its own rule, as this module
//! does, from [`Session::unapplied_inputs`], [`Session::last_input_acked`] and
//! [`Session::last_input_acked_tick`].
//!
//! Call it every frame, snapshots or not: through a stalled link none come, and the frames in
//! between are where it tells.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::{Duration, Instant};
//! use tickwire_client::{Client, Config, Controls, Event, Identity, Prediction};
//!
//! let identity = Identity::player("ada")?;
//! let mut client = Client::connect("ws://127.0.0.1:8080/ws", identity, Config::default()).await?;
//! let mut prediction = Prediction::default();
//! let mut frames = tokio::time::interval(Duration::from_micros(16_667));
//! let mut last_frame = Instant::now();
//! loop {
//!     tokio::select! {
//!         event = client.next_event() => match event {
//!             // Every connection, resumed or not, numbers its inputs afresh on another link.
//!             Some(Event::Joined(_)) => prediction.reset(),
//!             Some(Event::Ended(_)) | None => break,
//!             Some(_) => {}
//!         },
//!         _ = frames.tick() => {
//!             // Each frame: set the stick, then draw the own ship where the prediction puts it.
//!             client.send_input(Controls { x: 1.0, y: 0.0, boost: false, action: false })?;
//!             let now = Instant::now();
//!             if let Some(ship) = prediction.predict(client.session(), now, now - last_frame) {
//!                 println!("draw my ship at {} heading {}", ship.motion.pos, ship.motion.heading);
//!             }
//!             last_frame = now;
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::session::{SentInput, Session};
use glam::Vec2;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tickwire_shared::delta::World;
use tickwire_shared::motion::{MotionRules, ShipMotion, boosting, stick_of, walls};
use tickwire_shared::{EntityState, Input, InputSeq, RoundPhase, Tick, Welcome, WorldBounds};

/// How [`Prediction`] predicts and smooths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionConfig {
    /// The server's movement tuning (default: the arena's defaults, which `tickwire-server`
    /// runs; the world's size comes from the `Welcome`). A server run with other settings
    /// needs them here, or every tick of motion is a correction.
    pub rules: MotionRules,
    /// How fast a correction is blended away, per second (default 15: 78% of it within
    /// 100 ms). Higher hides less of it; lower lets the drawn ship lag the real one longer.
    pub smoothing_per_sec: f32,
    /// How fast a correction is blended away at most, world units per second (default 2000:
    /// three times a boosting ship's top speed, 33 units a frame at 60 Hz; a correction under
    /// this over `smoothing_per_sec`, 133 units, blends at that rate alone). A large correction
    /// (after a link that stalled both ways, where which inputs the server had when it went
    /// quiet is a guess) slides over a few frames instead of jumping, and one that the next
    /// snapshot takes back adds up with it rather than throwing the ship back and forth. Lower
    /// hides a large correction better but draws the ship off longer (about its length over
    /// this, in seconds); `f32::INFINITY`, or a value not above 0, blends any correction at
    /// `smoothing_per_sec`. Only a respawn and a snapshot the prediction cannot compare with
    /// the last snap (see the [module docs](self)).
    pub max_ease_speed: f32,
    /// Inputs replayed at most (default 256, [`SENT_INPUTS_KEPT`](crate::SENT_INPUTS_KEPT):
    /// every input the session keeps, more than it sends unconfirmed,
    /// [`Config::max_inputs_unconfirmed`](crate::Config::max_inputs_unconfirmed)). Past it
    /// no snapshot has come for seconds and the ship is held where the replay of the first
    /// ones puts it. Each costs a motion step per frame.
    pub max_replayed: usize,
}

impl Default for PredictionConfig {
    fn default() -> Self {
        PredictionConfig {
            rules: MotionRules::default(),
            smoothing_per_sec: 15.0,
            max_ease_speed: 2000.0,
            max_replayed: crate::SENT_INPUTS_KEPT,
        }
    }
}

/// The own ship, as [`Prediction::predict`] puts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictedShip {
    /// Where to draw the ship: the prediction, plus what is left of the correction.
    pub motion: ShipMotion,
    /// The part of the correction not yet blended away, world units (already in `motion`).
    pub correction: Vec2,
    /// Inputs replayed on the server's state for this prediction.
    pub replayed: usize,
    /// On the first prediction after a new snapshot: how far that snapshot moved the ship
    /// from where it was drawn, world units, before any blending (a respawn's snap included);
    /// `None` on other frames, and when the snapshot cannot be compared (the first, a new
    /// connection or seat, more than `max_replayed` inputs since the last). What a game logs
    /// or shows as the quality of its prediction. (The ease into a silent link's prediction,
    /// see the [module docs](self), is not a snapshot's: it shows in `correction` only.)
    pub corrected: Option<Vec2>,
}

/// What the previous prediction started from, to tell how far the next snapshot moved it.
#[derive(Debug, Clone)]
struct Basis {
    server: EntityState,
    tick: Tick,
    applied: InputSeq,
    /// How it replayed a stalled uplink's inputs, if the server was running without them.
    stall: Option<Stall>,
    /// Whether its round was in play: where it put the ship is what was drawn, replayed or
    /// frozen, even when the new world's phase differs (a round ending mid-flight).
    playing: bool,
    /// Its round's number: a new one respawned the ship.
    round: u16,
}

/// Predicts the own ship from the server's newest state of it and the inputs it has not
/// applied yet, and blends away the corrections. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Prediction {
    config: PredictionConfig,
    basis: Option<Basis>,
    correction: Vec2,
    /// What the snapshots that came so far say of the link's delays.
    link: LinkTiming,
    /// The newest applied input, and the first tick a snapshot showed it in.
    applied_since: Option<(InputSeq, Tick)>,
    /// How much later than on time the newest snapshot came.
    late_by: Duration,
    /// When a frame first saw the newest snapshot.
    heard_at: Option<Instant>,
    /// When the previous frame was drawn.
    frame_at: Option<Instant>,
    /// How the previous frame ran the inputs sent while the link was silent, if it was.
    silence: Option<Silence>,
    /// After a silence, the newest input sent as it ended: until the server has applied it,
    /// it is catching up with what the silence held back.
    catch_up_to: Option<InputSeq>,
}

impl Prediction {
    /// A prediction with these settings.
    pub fn new(config: PredictionConfig) -> Prediction {
        Prediction { config, ..Prediction::default() }
    }

    /// Its settings.
    pub fn config(&self) -> &PredictionConfig {
        &self.config
    }

    /// Forgets the past: call it on every [`Event::Joined`](crate::Event::Joined), resumed or
    /// not. A new seat may be another ship with ticks from 1; a resumed one numbers its inputs
    /// afresh on another link, whose delays and stalls are not the last one's (kept, a slower
    /// new path read as a stall: off by up to 424 units for seconds).
    pub fn reset(&mut self) {
        *self = Prediction::new(self.config);
    }

    /// The own ship to draw at `now`, `frame` after the previous call (what blends the
    /// correction away); `None` for a spectator, before the first snapshot, or while the ship
    /// is not in the world. Call it once a frame.
    pub fn predict(
        &mut self,
        session: &Session,
        now: Instant,
        frame: Duration,
    ) -> Option<PredictedShip> {
        let parts = PredictionParts {
            welcome: session.welcome()?,
            world: session.world()?,
            applied: session.last_input_acked(),
            applied_tick: session.last_input_acked_tick(),
            sent: session.sent_inputs(),
        };
        self.predict_parts(parts, now, frame)
    }

    /// [`predict`](Self::predict) from the parts of a session it reads, for a render loop
    /// that gets them from a task driving the [`Client`](crate::Client) rather than holding
    /// the session.
    pub fn predict_parts(
        &mut self,
        parts: PredictionParts<'_>,
        now: Instant,
        frame: Duration,
    ) -> Option<PredictedShip> {
        let PredictionParts { welcome, world, applied, applied_tick, sent } = parts;
        let server = *world.get(welcome.entity?)?;
        let replay = Replay {
            rules: self.config.rules,
            world: welcome.world,
            dt: 1.0 / f32::from(welcome.tick_rate.max(1)),
            playing: world.round.phase == RoundPhase::Playing,
            newest: sent.last(),
            max_replayed: self.config.max_replayed,
            now,
        };
        let tick = world.tick;
        let unapplied = &sent[sent.partition_point(|s| s.input.seq <= applied)..];
        let applied_input =
            sent.binary_search_by_key(&applied, |s| s.input.seq).ok().map(|i| &sent[i]);
        // A snapshot no frame drew from yet.
        let fresh = !matches!(&self.basis, Some(basis) if basis.tick == tick);
        let stall = match &self.basis {
            // The stall of this snapshot was judged when it came.
            Some(basis) if basis.tick == tick => basis.stall,
            previous => {
                let since = match self.applied_since {
                    Some((seq, since)) if seq == applied && since <= tick => since,
                    _ => {
                        if let Some(input) = applied_input {
                            self.link.applied(now.saturating_duration_since(input.sent_at));
                        }
                        // As the session saw it: when a stall's snapshots came at once and
                        // only the newest is drawn from, the first a frame saw hides how long
                        // the server ran the ship on this input.
                        applied_tick.filter(|&first| first <= tick).unwrap_or(tick)
                    }
                };
                self.applied_since = Some((applied, since));
                let late_by = self.link.snapshot(tick, replay.dt, now);
                self.late_by = late_by;
                // Or the link was silent (see `Silence`): what the stall held back comes over
                // several ticks, an input arriving alone applied and the rest folded, until
                // the server has all it held.
                if self.catch_up_to.is_some_and(|seq| applied >= seq) {
                    self.catch_up_to = None;
                }
                let catching_up = self.silence.is_some() || self.catch_up_to.is_some();
                // The server is catching up with what a stall held back: the last snapshot
                // showed it running on its last input, or this one more inputs applied than
                // ticks passed (folded), or the link was silent. Only then are inputs later
                // than the lag floor taken for folded: a round trip that grew makes them late
                // too, and the server applies every one, on a later schedule.
                let folding = previous.as_ref().is_some_and(|previous| {
                    let index = |seq: InputSeq| sent.partition_point(|s| s.input.seq <= seq);
                    let inputs = index(applied).saturating_sub(index(previous.applied));
                    let starved = previous.stall.is_some_and(|stall| stall.repeated.is_some());
                    tick > previous.tick
                        && (starved || catching_up || inputs > (tick.0 - previous.tick.0) as usize)
                });
                let starved = Starved {
                    ticks: tick.0 - since.0,
                    due: now.checked_sub(late_by).filter(|_| folding).and_then(|fresh| {
                        // Later than the lag floor by the allowance, a tick of the server's
                        // phase and one of jitter.
                        let margin = replay.dt * (SERVER_LATE_ALLOWANCE + 2) as f32;
                        fresh.checked_sub(self.link.lag_floor()? + Duration::from_secs_f32(margin))
                    }),
                };
                Stall::of(starved, applied_input, unapplied)
            }
        };
        if fresh {
            self.heard_at = Some(now);
        }
        let newest = Newest { tick, applied, applied_input, unapplied, stall };
        let silence = self.judge_silence(fresh, &newest, replay.dt, now);
        let ship = replay.run(&server, unapplied.iter(), stall, silence);
        let mut corrected = None;
        match &self.basis {
            Some(basis) if basis.tick == tick => {
                if silence != self.silence {
                    // The link fell silent: the ship the previous frame drew flew the stick,
                    // and eases to where the server runs it.
                    let was = replay.run(&server, unapplied.iter(), stall, self.silence);
                    self.correction += was.pos - ship.pos;
                }
            }
            Some(basis) => {
                // Where the previous basis puts the ship now, with every input sent since it:
                // the difference is what this snapshot corrected.
                let last = replay.newest.map_or(basis.applied, |sent| sent.input.seq);
                let since_basis = &sent[sent.partition_point(|s| s.input.seq <= basis.applied)..];
                // Every input sent after the basis's is known if the basis's own is (numbers
                // skip the inputs a frame replaced before they went out), or if none of this
                // connection's was applied yet: otherwise some went with an older connection.
                let whole = basis.applied == InputSeq(0)
                    || sent.binary_search_by_key(&basis.applied, |s| s.input.seq).is_ok();
                let replayable = tick > basis.tick
                    && last >= basis.applied
                    && whole
                    && since_basis.len() <= self.config.max_replayed;
                // A new round put the ship at a new spot: drawn there at once, not flown
                // across the arena. Any other correction is eased, however large (a stall both
                // ways, what the server did with what it held back): snapped, the ship jumped
                // hundreds of units, and back again when the next snapshot took part of it back.
                let respawned =
                    world.round.round != basis.round || (replay.playing && !basis.playing);
                self.correction = if replayable {
                    // Not so across a new connection or seat, or past `max_replayed`: a snap.
                    // With the basis's phase (a round that ended since froze the ship, but
                    // what was drawn had flown on), through the silence the previous frame
                    // judged, if any, as it drew the ship.
                    let then = Replay { playing: basis.playing, ..replay };
                    let before =
                        then.run(&basis.server, since_basis.iter(), basis.stall, self.silence);
                    let jump = before.pos + self.correction - ship.pos;
                    corrected = Some(jump);
                    if respawned { Vec2::ZERO } else { jump }
                } else {
                    Vec2::ZERO
                };
            }
            None => self.correction = Vec2::ZERO,
        }
        self.silence = silence;
        self.frame_at = Some(now);
        self.basis = Some(Basis {
            server,
            tick,
            applied,
            stall,
            playing: replay.playing,
            round: world.round.round,
        });
        // About 100 ms for a small correction; a large one at `max_ease_speed`, a slide over
        // a few frames.
        let dt = frame.as_secs_f32();
        let left = self.correction.length();
        let smoothed = left * (1.0 - (-dt * self.config.smoothing_per_sec).exp());
        let max_speed = self.config.max_ease_speed;
        // Not above 0 (or NaN) caps nothing: 0 would keep a correction for good, and a
        // negative cap would grow it.
        let eased = if max_speed > 0.0 { smoothed.min(max_speed * dt) } else { smoothed };
        self.correction *= if left > 0.0 { 1.0 - eased / left } else { 0.0 };
        let mut motion = ship;
        motion.pos += self.correction;
        Some(PredictedShip {
            motion,
            correction: self.correction,
            replayed: (unapplied.len().saturating_sub(stall.map_or(0, |stall| stall.passed_by)))
                .min(self.config.max_replayed),
            corrected,
        })
    }

    /// The silence the link is in at `now`, if any (see [`Silence`]): the one the previous
    /// frame judged, until a snapshot ends it, or a new one when no snapshot has come for
    /// [`SILENT`]. `fresh`: the newest snapshot came since the previous frame.
    fn judge_silence(
        &mut self,
        fresh: bool,
        newest: &Newest<'_>,
        period: f32,
        now: Instant,
    ) -> Option<Silence> {
        let Newest { tick, applied, applied_input, unapplied, stall } = *newest;
        if let Some(silence) = self.silence {
            if !fresh {
                return Some(silence);
            }
            // The server went without inputs (the stall says how long), or the link is back:
            // it catches up with the inputs sent until now.
            if stall.is_some_and(|stall| stall.repeated.is_some()) || self.late_by <= silent(period)
            {
                self.catch_up_to = unapplied.last().map(|sent| sent.input.seq);
                return None;
            }
            // A snapshot the stall held back, from before the server went without: it had
            // these inputs too, and ran the newest on.
            let Some(last) = applied_input.filter(|_| applied >= silence.from) else {
                return Some(silence);
            };
            return unapplied
                .first()
                .map(|next| Silence { from: next.input.seq, stick: last.input });
        }
        // Not on the first frame after the render loop was held (a slow frame, a window
        // dragged): the snapshots that came meanwhile are drawn from by the next.
        let steady =
            self.frame_at.is_some_and(|then| now.saturating_duration_since(then) <= SILENT / 2);
        let heard_at = self.heard_at?;
        if now.saturating_duration_since(heard_at) <= silent(period) || !steady {
            return None;
        }
        // The newest snapshot left the server about half the least round trip before it would
        // have come on time (jitter delays it further; that round trip includes the server's
        // wait for a tick, half a tick on average), and the link went quiet before the next one
        // left, half a tick later on average: inputs sent from then on were stalled with it.
        let left = self.link.on_time(tick, period).unwrap_or(heard_at).min(heard_at);
        let half_lag = self.link.lag_floor().unwrap_or_default() / 2;
        let quiet = left.checked_sub(half_lag).unwrap_or(left) + Duration::from_secs_f32(period);
        let at = unapplied.iter().position(|sent| sent.sent_at >= quiet)?;
        // What the server ran last: a stall it was starving in already, the last input sent
        // before it went quiet, or the applied one.
        let last = stall.and_then(|stall| stall.repeated).or_else(|| match at.checked_sub(1) {
            Some(before) => Some(unapplied[before].input),
            None => applied_input.map(|sent| sent.input),
        })?;
        Some(Silence { from: unapplied[at].input.seq, stick: last })
    }
}

/// What the newest snapshot says, as [`Prediction::judge_silence`] reads it.
#[derive(Clone, Copy)]
struct Newest<'a> {
    tick: Tick,
    /// The newest input applied.
    applied: InputSeq,
    /// That input as it was sent, if it is known.
    applied_input: Option<&'a SentInput>,
    /// The inputs sent after it.
    unapplied: &'a [SentInput],
    /// The stall judged when it came.
    stall: Option<Stall>,
}

/// What [`Prediction::predict_parts`] reads of a session.
#[derive(Debug, Clone, Copy)]
pub struct PredictionParts<'a> {
    /// The session's `Welcome` ([`Session::welcome`]): the ship's entity, tick rate, world.
    pub welcome: &'a Welcome,
    /// The newest world ([`Session::world`]).
    pub world: &'a World,
    /// The newest input the server had applied in it ([`Session::last_input_acked`]).
    pub applied: InputSeq,
    /// The tick of the first snapshot that showed `applied` ([`Session::last_input_acked_tick`]);
    /// `None` takes the first a prediction drew from, which after a stall whose snapshots
    /// came at once is the newest, and hides how long the server ran the ship on that input.
    pub applied_tick: Option<Tick>,
    /// The inputs sent on this connection, numbers increasing ([`Session::sent_inputs`]).
    pub sent: &'a [SentInput],
}

/// No new snapshot for this long and the link is taken for silent both ways (see [`Silence`]):
/// past the jitter of a poor mobile link (snapshots 150 ms apart), and as long as an
/// [`Interpolation`](crate::Interpolation) extrapolates the other ships by default. At least
/// two ticks ([`silent`]).
const SILENT: Duration = Duration::from_millis(250);

/// How long without a new snapshot is a silence, for ticks `period` seconds apart: [`SILENT`],
/// or two ticks at a tick rate below 8 Hz (`--tick-rate` goes down to 1), whose snapshots come
/// further apart than that on a steady link.
fn silent(period: f32) -> Duration {
    SILENT.max(Duration::from_secs_f32(2.0 * period))
}

/// Ticks the server's input queue runs behind a late input before it folds
/// (`tickwire_server::inputs::LATE_ALLOWANCE`, which a test holds this to): a stall longer than
/// this many ticks plus one is caught up with by folding.
const SERVER_LATE_ALLOWANCE: u32 = 1;

/// A stalled uplink, as the server runs it. The server gives each input the tick it was sent
/// for, or up to [`SERVER_LATE_ALLOWANCE`] ticks later; an input later than that finds its tick
/// gone by, run on the last input the server had, and is folded (all but its buttons dropped)
/// into the next. Replaying those inputs too counted every tick of the stall twice, and drew
/// the ship a whole stall ahead of the server's before snapping it back, at every snapshot.
/// So the prediction leaves them out; and while the server still has none of the inputs
/// (its applied input unchanged since the last snapshot), it runs the rest on the last
/// applied input too, as the server will for as long as the stall lasts: each snapshot of
/// the stall then agrees with it, and a stall costs a few corrections as it starts and as it
/// ends.
///
/// Two signs tell of it: the ticks a snapshot's applied input has stood unchanged (at once,
/// while nothing comes), and, while the server catches up with what a stall held back (the
/// last snapshot showed it starved, or this one more inputs applied than ticks passed: the
/// burst reaching it over several ticks, each part folded as it comes), inputs sent longer ago
/// than any applied input took to be shown applied, judged as of when the snapshot would have
/// come on time (a downlink that stalled delivers snapshots late, with inputs that were not
/// late then). An uplink whose delay grew at once looks like a stall until its inputs come,
/// late but not folded: it costs a correction or two.
#[derive(Debug, Clone, Copy)]
struct Stall {
    /// The oldest unapplied inputs, whose ticks went by: not replayed.
    passed_by: usize,
    /// The last input applied, which the server repeats while it gets none: replayed in place
    /// of the others then.
    repeated: Option<Input>,
}

impl Stall {
    /// The stall, if any, `starved` says of a snapshot with `unapplied` inputs sent since
    /// `applied`; none before the server applied an input of this connection (`None`: its
    /// schedule starts with the first that reaches it).
    fn of(starved: Starved, applied: Option<&SentInput>, unapplied: &[SentInput]) -> Option<Stall> {
        let applied = applied?;
        // Up to LATE_ALLOWANCE + 1 ticks behind, the server applies late inputs a tick each.
        let unchanged = starved.ticks.saturating_sub(SERVER_LATE_ALLOWANCE + 1) as usize;
        let overdue =
            starved.due.map_or(0, |due| unapplied.partition_point(|sent| sent.sent_at < due));
        // The newest is always applied, when it comes.
        let passed_by = unchanged.max(overdue).min(unapplied.len().saturating_sub(1));
        if passed_by == 0 {
            return None;
        }
        let repeated = (starved.ticks > 0).then_some(applied.input);
        Some(Stall { passed_by, repeated })
    }
}

/// A link silent both ways (a phone's radio stalled, a network switch): no new snapshot for
/// longer than [`SILENT`], so none shows the server running the ship on its last input, as
/// the snapshots of a stalled uplink do (what a [`Stall`] sees). Replaying the inputs sent
/// meanwhile with their own steering drew the ship where the stick went, a whole stall away
/// from where the server ran it, and the snapshots after the stall threw it back by hundreds
/// of units, then forth as the held-back inputs were folded. So the inputs sent from when the
/// link went quiet on (`from` and later: sent after the newest snapshot left the server, as
/// its timing tells) are replayed with the steering of the last one before (`stick`), as the
/// server will have run them once they come folded. The ship flies on as the server runs it,
/// deaf to the stick, until a snapshot shows the server running without inputs (the [`Stall`]
/// it shows takes over) or comes on time again. The snapshots a stall held back come late and
/// at once, and those from before the server went without show only which inputs it had by
/// then: the silence starts after them. A stall of the downlink alone, whose inputs the server
/// did apply, costs one eased correction when it ends.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Silence {
    /// The first input sent after the link went quiet.
    from: InputSeq,
    /// The input the server ran last before it: replayed in place of the others.
    stick: Input,
}

/// What a snapshot says of the server's inputs, as it comes.
#[derive(Debug, Clone, Copy)]
struct Starved {
    /// Ticks its applied input has stood unchanged.
    ticks: u32,
    /// Inputs sent before this should have been applied by the snapshot's tick, had they
    /// reached the server in time; `None` until the link's delays are known, and unless the
    /// server is catching up with a stall.
    due: Option<Instant>,
}

/// The link's delays, as the snapshots show them: each a least value over the last
/// [`LinkTiming::KEPT`] samples (about a second of snapshots), so jitter and late samples do
/// not move it and a round trip that grew is followed within a second.
#[derive(Debug, Clone, Default)]
struct LinkTiming {
    /// How long after it went out an input was shown applied, seconds: a round trip and the
    /// server's tick phase. Sampled only by snapshots that applied a new input, so a stall
    /// (none applied) leaves it as it was, however long it lasts.
    lags: VecDeque<f64>,
    /// When each snapshot came, less its tick's time, seconds since `epoch`: the least is a
    /// snapshot that came on time.
    arrivals: VecDeque<f64>,
    /// The first snapshot's arrival, which `arrivals` count from.
    epoch: Option<Instant>,
}

impl LinkTiming {
    const KEPT: usize = 32;

    fn push(samples: &mut VecDeque<f64>, sample: f64) {
        if samples.len() == Self::KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    fn least(samples: &VecDeque<f64>) -> Option<f64> {
        samples.iter().copied().reduce(f64::min)
    }

    /// A snapshot showed a new input applied `lag` after it went out.
    fn applied(&mut self, lag: Duration) {
        Self::push(&mut self.lags, lag.as_secs_f64());
    }

    /// The least lag between sending an input and seeing it applied.
    fn lag_floor(&self) -> Option<Duration> {
        Self::least(&self.lags).map(Duration::from_secs_f64)
    }

    /// When the snapshot of `tick` would come on time, with ticks of `period` seconds; `None`
    /// before any came.
    fn on_time(&self, tick: Tick, period: f32) -> Option<Instant> {
        let epoch = self.epoch?;
        let since = f64::from(tick.0) * f64::from(period) + Self::least(&self.arrivals)?;
        if since >= 0.0 {
            epoch.checked_add(Duration::from_secs_f64(since))
        } else {
            epoch.checked_sub(Duration::from_secs_f64(-since))
        }
    }

    /// The snapshot of `tick` came at `now`, with ticks of `period` seconds: how much later
    /// than a snapshot on time.
    fn snapshot(&mut self, tick: Tick, period: f32, now: Instant) -> Duration {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival =
            now.duration_since(epoch).as_secs_f64() - f64::from(tick.0) * f64::from(period);
        Self::push(&mut self.arrivals, arrival);
        Self::least(&self.arrivals)
            .map_or(Duration::ZERO, |on_time| Duration::from_secs_f64((arrival - on_time).max(0.0)))
    }
}

/// Inputs before the applied one a [`PredictionState`] keeps: the previous snapshot's applied
/// input, where a correction is measured from, is among them unless a frame of the render
/// loop came more than a second late.
const STATE_INPUTS_BEFORE: usize = 32;

/// What a prediction reads of a session, owned: for a render loop that does not hold the
/// session (it runs in a task of its own, see the crate docs' synchronous game loop), which
/// gets one from [`Client::prediction_feed`](crate::Client::prediction_feed) each time an
/// input goes out or a snapshot comes in, or makes one with [`PredictionState::of`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictionState {
    welcome: Option<Welcome>,
    /// The newest world, with the own ship only (all a prediction reads of it).
    world: Option<World>,
    applied: InputSeq,
    applied_tick: Option<Tick>,
    /// This connection's inputs from [`STATE_INPUTS_BEFORE`] before the applied one on.
    sent: Vec<SentInput>,
}

impl PredictionState {
    /// What `session` says now.
    pub fn of(session: &Session) -> PredictionState {
        let welcome = session.welcome().copied();
        let world = session.world().zip(welcome.and_then(|w| w.entity)).map(|(world, id)| World {
            tick: world.tick,
            round: world.round,
            entities: world.get(id).into_iter().copied().collect(),
        });
        let applied = session.last_input_acked();
        let sent = session.sent_inputs();
        let from =
            sent.partition_point(|s| s.input.seq < applied).saturating_sub(STATE_INPUTS_BEFORE);
        PredictionState {
            welcome,
            world,
            applied,
            applied_tick: session.last_input_acked_tick(),
            sent: sent[from..].to_vec(),
        }
    }

    /// The parts [`Prediction::predict_parts`] takes; `None` before a `Welcome` and a world.
    pub fn parts(&self) -> Option<PredictionParts<'_>> {
        Some(PredictionParts {
            welcome: self.welcome.as_ref()?,
            world: self.world.as_ref()?,
            applied: self.applied,
            applied_tick: self.applied_tick,
            sent: &self.sent,
        })
    }
}

/// How one prediction replays inputs.
#[derive(Clone, Copy)]
struct Replay<'a> {
    rules: MotionRules,
    world: WorldBounds,
    dt: f32,
    playing: bool,
    /// The newest input sent: the ship flies on from when it went out.
    newest: Option<&'a SentInput>,
    max_replayed: usize,
    now: Instant,
}

impl<'a> Replay<'a> {
    /// `server` advanced one tick per input, as the server will step it (through a `stall` and
    /// a `silence`, as [`Stall`] and [`Silence`] say), then flown on for the time since the
    /// newest input went out (at most a tick: the next input is due by then).
    fn run(
        &self,
        server: &EntityState,
        inputs: impl Iterator<Item = &'a SentInput>,
        stall: Option<Stall>,
        silence: Option<Silence>,
    ) -> ShipMotion {
        let mut ship = ShipMotion::from_entity(server);
        if !self.playing {
            return ship; // intermission: ships are frozen
        }
        let passed_by = stall.map_or(0, |stall| stall.passed_by);
        let repeated = stall.and_then(|stall| stall.repeated);
        for sent in inputs.skip(passed_by).take(self.max_replayed) {
            let input = match silence {
                Some(silence) if sent.input.seq >= silence.from => silence.stick,
                _ => repeated.unwrap_or(sent.input),
            };
            ship.step(stick_of(&input), boosting(&input), self.dt, &self.rules, self.world);
        }
        let since = self.newest.map_or(0.0, |sent| {
            self.now.saturating_duration_since(sent.sent_at).as_secs_f32().min(self.dt)
        });
        let (lo, hi) = walls(&self.rules, self.world);
        ship.pos = (ship.pos + ship.vel * since).clamp(lo, hi);
        ship
    }
}

#[cfg(test)]
mod tests;
