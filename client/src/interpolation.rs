//! [`Interpolation`]: other entities drawn a little in the past, between the two received
//! worlds around that moment, so they move smoothly at any frame rate, as far behind as the
//! network's jitter needs.
//!
//! Snapshots arrive at the tick rate (30 a second by default) but not evenly: drawn as they
//! come, other ships stutter. This buffer keeps the last worlds and answers "what does the
//! world look like at render time", a delay behind the newest tick expected to have arrived.
//! Unless fixed, the delay adapts to the jitter: as many ticks as 9 in 10 worlds of the last
//! 3 s came late by, plus one, from 2 on a steady link to 8; it grows by a tenth of a tick per
//! world and shrinks by a fiftieth, so time runs a little slower or faster for a moment and
//! nothing jumps. At ±60 ms of jitter it settles near 4 ticks (130 ms at 30 Hz). Worlds held
//! up by a stalled link and let through together are not replayed: they do not move the
//! clock, and count as no jitter.
//!
//! A link that stalls for longer than the delay leaves the render time past the newest world.
//! Entities then move on by their velocity for up to
//! [`extrapolation`](InterpolationConfig::extrapolation) (250 ms), and hold after that. When
//! the worlds come again more than a tick overdue, what they say and what was drawn differ (a
//! ship turned meanwhile, or the stall outlasted the extrapolation): the difference is taken
//! up over [`settle`](InterpolationConfig::settle) (200 ms) rather than jumped, so a stall
//! shows as a ship a little off course for a moment, not as a freeze and a teleport. A
//! difference of more than 200 units (a respawn, or a ship that went far while held) is
//! jumped, whole. The difference is judged once the burst a stall lets through is in (its
//! worlds reach the render time, or 250 ms passed: a slow link spreads a burst of many worlds
//! over tens of ms); meanwhile the stall's drawing goes on.
//!
//! It is the JavaScript SDK's `InterpolationBuffer` (`client-web/sdk/src/interpolation.js`),
//! the same algorithm and constants, so a native game and a browser game draw the same.
//!
//! Sans-IO: the caller passes arrival times and the render time, so it is deterministic and
//! tested without a network or a clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tickwire_client::protocol::delta::World;
//! use tickwire_client::protocol::{EntityId, EntityState, QVec2, RoundPhase, RoundState, Tick};
//! use tickwire_client::{Interpolation, InterpolationConfig, InterpolationDelay};
//!
//! let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 };
//! let ship = |x: i16| EntityState {
//!     id: EntityId(3), kind: 0, pos: QVec2 { x, y: 0 }, vel: QVec2 { x: 0, y: 0 },
//!     heading: 0, flags: 1, value: 0,
//! };
//! let mut config = InterpolationConfig::default();
//! config.delay = InterpolationDelay::Fixed(2.0); // adaptive by default
//! let mut buffer = Interpolation::new(10, config); // the room's `Welcome::tick_rate`
//! let start = Instant::now();
//! // Ticks 0 to 5 arrive every 100 ms; the ship moves 10 units a tick (160 in 1/16 units).
//! for tick in 0..=5 {
//!     let world = World { tick: Tick(tick), round, entities: vec![ship(tick as i16 * 160)] };
//!     buffer.push(&world, start + Duration::from_millis(100 * u64::from(tick)));
//! }
//! // 550 ms in, tick 5.5 is due: two ticks behind it is halfway between ticks 3 and 4.
//! let drawn = buffer.sample(start + Duration::from_millis(550));
//! assert!((drawn.tick - 3.5).abs() < 1e-6);
//! assert_eq!(drawn.entities[0].pos.x, 35.0); // world units
//! ```
//!
//! With the tokio [`Client`](crate::Client), [`Client::interpolate`](crate::Client::interpolate)
//! keeps one fed with every world at its arrival (and starts it over on a fresh join):
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tickwire_client::{Client, Config, Identity, InterpolationConfig};
//! let identity = Identity::player("ada")?;
//! let mut client = Client::connect("ws://127.0.0.1:8080/ws", identity, Config::default()).await?;
//! client.interpolate(InterpolationConfig::default());
//! // ... each frame, between `next_event` calls:
//! let drawn = client.interpolation().expect("turned on").sample(std::time::Instant::now());
//! for ship in &drawn.entities { /* draw at ship.pos, turned by ship.heading */ }
//! # Ok(()) }
//! ```
//! A render loop on a thread of its own (see the crate's page) keeps its own: push each
//! snapshot's world with the `Instant` it came, on the same clock as the frames' `now`.

use glam::Vec2;
use std::collections::VecDeque;
use std::f32::consts::{PI, TAU};
use std::time::{Duration, Instant};
use tickwire_shared::delta::World;
use tickwire_shared::quant;
use tickwire_shared::{EntityId, EntityState, Tick};

#[cfg(test)]
mod tests;

/// The adaptive delay's least, in ticks: a steady link draws this far behind.
pub const MIN_DELAY_TICKS: f64 = 2.0;
/// The adaptive delay's most, in ticks (267 ms at 30 Hz): past it, a late world leaves the
/// render time past the newest world (extrapolated, then held) for a moment.
pub const MAX_DELAY_TICKS: f64 = 8.0;
/// Arrival bases the clock follows the earliest of (two seconds at 30 Hz).
const BASES_KEPT: usize = 60;
/// Worlds in a row that, all late enough to be drawn past and arriving at the tick rate, show
/// the server's schedule moved.
const STEP_WORLDS: usize = 8;
/// Worlds whose lateness the adaptive delay reads (three seconds at 30 Hz).
const LATENESS_KEPT: usize = 90;
/// The share of worlds the adaptive delay waits for, whatever their lateness: 9 in 10.
const LATENESS_QUANTILE: f64 = 0.9;
/// Lateness past which a world was held up (a stalled link), not jittered, in ms: left out of
/// the delay.
const HELD_UP_MS: f64 = 300.0;
/// How fast the adaptive delay grows and shrinks, in ticks per world: time runs 10% slower for
/// a moment as it grows, 2% faster as it shrinks, so neither shows.
const DELAY_GROWTH: f64 = 0.1;
/// See [`DELAY_GROWTH`].
const DELAY_SHRINK: f64 = 0.02;
/// A clock this far from where the arrivals say, in ms, is snapped there rather than eased:
/// the server restarted, or this is the first world.
const SNAP_MS: f64 = 500.0;
/// The share of the distance to where the arrivals say that the clock moves per world: gentle,
/// so jitter never shows as a jump.
const FOLLOW: f64 = 0.1;
/// A move between two worlds longer than this, in world units, is a respawn: drawn as a jump
/// halfway, not a sweep across the map. A difference to settle after a stall longer than this
/// is jumped too.
const RESPAWN_DISTANCE: f32 = 200.0;

/// How far behind the newest world to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InterpolationDelay {
    /// Follows the jitter, from [`MIN_DELAY_TICKS`] to [`MAX_DELAY_TICKS`] (starting at the
    /// least): smooth on a bad link, as little behind as a good one allows.
    Adaptive,
    /// This many ticks, whatever the link does. Less than 2 draws past the newest world
    /// (holding or extrapolating) at any jitter; 2 does so in most frames at ±60 ms.
    Fixed(f64),
}

/// How an [`Interpolation`] draws. Start from `InterpolationConfig::default()` and change
/// fields; the struct is `#[non_exhaustive]` so new knobs are not breaking.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct InterpolationConfig {
    /// How far behind to draw. Default [`InterpolationDelay::Adaptive`]. A fixed delay is
    /// predictable (a replay, a test) but either draws further behind than a good link needs
    /// or past the newest world on a bad one.
    pub delay: InterpolationDelay,
    /// Worlds kept, at least 1. Default 32 (a second at 30 Hz), well over the 8-tick delay's
    /// most; a world arriving this many ticks or fewer behind the newest is a late one and
    /// dropped, one further behind is a restarted server's and starts the buffer over. Each
    /// world kept holds its entities (20 bytes each).
    pub capacity: usize,
    /// How long past the newest world, when none comes in time (a stalled downlink), entities
    /// move on by their velocity before they hold. Default 250 ms (Source's default
    /// `cl_extrapolate_amount`), at most 1 s (more is taken as 1 s): a ship on a straight
    /// course crosses a stall that long seamlessly, one that turned meanwhile is drawn off
    /// course, the more so the longer the stall. Zero holds at once: nothing drawn is ever a
    /// guess, and every stall freezes.
    pub extrapolation: Duration,
    /// How long the difference between what was drawn and what the worlds say, when they come
    /// again more than a tick overdue, is taken up over (quickly at first, then easing).
    /// Default 200 ms, at most 1 s (more is taken as 1 s): long enough not to read as a jump,
    /// short enough that a ship is soon where the server has it. Zero jumps there at once.
    /// While the burst after a stall is still coming (at most 250 ms), each frame interpolates
    /// the entities twice.
    pub settle: Duration,
}

impl Default for InterpolationConfig {
    fn default() -> Self {
        InterpolationConfig {
            delay: InterpolationDelay::Adaptive,
            capacity: 32,
            extrapolation: DEFAULT_EXTRAPOLATION,
            settle: DEFAULT_SETTLE,
        }
    }
}

/// [`InterpolationConfig::extrapolation`]'s default.
pub const DEFAULT_EXTRAPOLATION: Duration = Duration::from_millis(250);
/// [`InterpolationConfig::settle`]'s default.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(200);
/// The most [`InterpolationConfig::extrapolation`] and [`InterpolationConfig::settle`] take.
const MOST_EXTRAPOLATION_OR_SETTLE: Duration = Duration::from_secs(1);
/// How long after the first world of a stall's burst the rest is waited for, at most, before
/// the easing starts, in ms: a slow link lets a burst of many worlds through over tens of ms,
/// and the difference to ease (or jump) is known only once they are in.
const BURST_MS: f64 = 250.0;

/// An entity ready to draw, in world units and radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderEntity {
    /// Identity within the room.
    pub id: EntityId,
    /// Game-defined kind (arena: 0 ship, 1 pickup).
    pub kind: u8,
    /// Position, world units.
    pub pos: Vec2,
    /// Velocity, world units per second.
    pub vel: Vec2,
    /// Heading in radians, 0 = +x, growing toward +y. Interpolated the short way round, so
    /// it may stray a little outside `[0, 2π)`.
    pub heading: f32,
    /// Game-defined bits (arena: 1 alive, 2 boosting, 4 invulnerable).
    pub flags: u8,
    /// Game-defined number (arena: a ship's score, a pickup's worth).
    pub value: u16,
}

impl From<&EntityState> for RenderEntity {
    fn from(e: &EntityState) -> Self {
        RenderEntity {
            id: e.id,
            kind: e.kind,
            pos: quant::dequantize_position(e.pos),
            vel: quant::dequantize_velocity(e.vel),
            heading: quant::dequantize_heading(e.heading),
            flags: e.flags,
            value: e.value,
        }
    }
}

/// The angle a `t` of the way from `a` to `b`, in radians, the short way round: from 350° to
/// 10° through 0°, not back through 180°.
pub fn lerp_angle(a: f32, b: f32, t: f32) -> f32 {
    let diff = (b - a + PI).rem_euclid(TAU) - PI;
    a + diff * t
}

/// What [`Interpolation::sample`] draws.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Sample<'a> {
    /// The tick drawn, fractional (0 before the first world).
    pub tick: f64,
    /// The world drawn toward (the later of the two around `tick`, or the one held), for
    /// what is not interpolated (the round); `None` before the first world.
    pub world: Option<&'a World>,
    /// The entities of `world`, positions and headings interpolated, in its (id) order. While
    /// the burst after a stall is still coming (at most 250 ms), those of the world the stall
    /// drew: one the burst brings appears once it is in.
    pub entities: Vec<RenderEntity>,
    /// How far the render time is past the newest world, in ms: 0 while it is between two
    /// worlds. Up to [`extrapolation`](InterpolationConfig::extrapolation) entities are moved
    /// on by their velocity; past it they are held, and a game may show that its link stalled.
    pub stale_ms: f64,
}

/// Keeps the last worlds received and answers "what does the world look like at render time".
///
/// Render time runs [`delay_ticks`](Self::delay_ticks) behind the newest tick expected to have
/// arrived, on a clock that follows the earliest arrivals (the least delayed ones), so jitter
/// never runs it past the data. See the [module](self) for how the delay adapts.
#[derive(Debug, Clone)]
pub struct Interpolation {
    config: InterpolationConfig,
    tick_rate: u8,
    period_ms: f64,
    /// The delay drawn at now, in ticks (fractional while it adapts). Kept by `clear`: the
    /// link is the same after a rejoin.
    delay_ticks: f64,
    /// Ticks ascending.
    worlds: VecDeque<World>,
    /// What times are measured from, in ms: the first arrival since the last `clear`. An
    /// `Instant` cannot stand for tick 0's time on a server that has run for years.
    origin: Option<Instant>,
    /// Local time of tick 0 as the clock sees it, ms after `origin`.
    clock_base: Option<f64>,
    /// Recent `arrival - tick * period` of worlds not late, which the clock follows.
    bases: VecDeque<f64>,
    /// The last [`STEP_WORLDS`] worlds' `arrival - tick * period`, late or not.
    recent_bases: VecDeque<f64>,
    /// Their arrival times.
    arrivals: VecDeque<f64>,
    /// How late recent worlds came after the clock expected them, in ms.
    lateness: VecDeque<f64>,
    /// What was drawn when the worlds came again after a stall, eased from over `settle`.
    settling: Option<Settling>,
    /// Whether the render time has been past the newest world since `settling` was taken:
    /// the worlds of its burst still coming are eased from what was drawn when the stall
    /// ended, not from where the first of them moved the drawing.
    stalled: bool,
    /// When the last world came, ms after `origin`: worlds closer together than a tick are one
    /// burst.
    last_push: f64,
}

/// What was drawn when the worlds came again after a stall. Until its burst is in, the
/// drawing goes on as the stall drew it (from the worlds before the burst); then the
/// difference between that and where the whole burst puts the entities is added to what is
/// drawn, less and less.
#[derive(Debug, Clone)]
struct Settling {
    /// The entities as drawn then, ids ascending (the rest of an easing before included).
    drawn: Vec<RenderEntity>,
    /// The render tick then.
    tick: f64,
    /// The newest world then: the drawing goes on from the worlds up to it until the burst is
    /// in.
    held: Tick,
    /// When, ms after `origin`.
    taken: f64,
    /// Once the burst is in (the worlds reach the render time, or [`BURST_MS`] passed: then
    /// [`Interpolation::sample`] eases from `taken + BURST_MS` on its own, as this will).
    easing: Option<Easing>,
}

/// The easing of a [`Settling`], from when its burst was in.
#[derive(Debug, Clone)]
struct Easing {
    /// When it started, ms after `origin`.
    from: f64,
    /// Each entity's difference, ids ascending: only those of [`RESPAWN_DISTANCE`] or less
    /// (the others are jumped, whole).
    offsets: Vec<Offset>,
}

/// How far an entity was drawn from where the worlds put it.
#[derive(Debug, Clone, Copy)]
struct Offset {
    id: EntityId,
    pos: Vec2,
    /// Radians, the short way round.
    heading: f32,
}

impl Interpolation {
    /// An empty buffer for a room ticking `tick_rate` times a second (`Welcome::tick_rate`).
    pub fn new(tick_rate: u8, config: InterpolationConfig) -> Interpolation {
        let delay_ticks = match config.delay {
            InterpolationDelay::Adaptive => MIN_DELAY_TICKS,
            InterpolationDelay::Fixed(ticks) => ticks,
        };
        Interpolation {
            config: InterpolationConfig {
                capacity: config.capacity.max(1),
                extrapolation: config.extrapolation.min(MOST_EXTRAPOLATION_OR_SETTLE),
                settle: config.settle.min(MOST_EXTRAPOLATION_OR_SETTLE),
                ..config
            },
            tick_rate,
            period_ms: 1000.0 / f64::from(tick_rate.max(1)),
            delay_ticks,
            worlds: VecDeque::new(),
            origin: None,
            clock_base: None,
            bases: VecDeque::new(),
            recent_bases: VecDeque::new(),
            arrivals: VecDeque::new(),
            lateness: VecDeque::new(),
            settling: None,
            stalled: false,
            last_push: 0.0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &InterpolationConfig {
        &self.config
    }

    /// The tick rate it was made for.
    pub fn tick_rate(&self) -> u8 {
        self.tick_rate
    }

    /// How far behind the newest tick due it draws, in ticks: fractional while it adapts.
    pub fn delay_ticks(&self) -> f64 {
        self.delay_ticks
    }

    /// The newest world pushed, if any.
    pub fn latest(&self) -> Option<&World> {
        self.worlds.back()
    }

    /// The worlds kept, oldest first.
    pub fn worlds(&self) -> impl ExactSizeIterator<Item = &World> {
        self.worlds.iter()
    }

    /// Takes a world that arrived at `arrived_at`. A world at or behind the newest tick by at
    /// most [`capacity`](InterpolationConfig::capacity) ticks is a late one and dropped; one
    /// further behind is a restarted server's, and starts the buffer over (as
    /// [`clear`](Self::clear)).
    pub fn push(&mut self, world: &World, arrived_at: Instant) {
        if let Some(last) = self.worlds.back()
            && world.tick <= last.tick
        {
            // A tick far behind the newest is no late arrival (a connection delivers in
            // order) but a new world: a server that restarted counts from 0 again. Dropped
            // like a late one, it and every tick after it until the old count is passed would
            // be, and the drawing would freeze: start over from it (the clock snaps to it).
            if u64::from(last.tick.0 - world.tick.0) <= self.config.capacity as u64 {
                return;
            }
            self.clear();
        }
        // A burst whose wait ran out before this world came is eased from then, as `sample`
        // has drawn it since.
        if let Some(origin) = self.origin
            && let Some(settling) = &self.settling
            && let Some(easing) = self.wait_over(settling, millis_since(origin, arrived_at))
            && let Some(settling) = self.settling.as_mut()
        {
            settling.easing = Some(easing);
        }
        let mut settling = self.settling_at(arrived_at);
        let drawn_before = self.render_tick(arrived_at);
        let clock_before = (self.clock_base, self.delay_ticks);
        let newest_before = self.worlds.back().map(|w| w.tick);
        let origin = *self.origin.get_or_insert(arrived_at);
        let received = millis_since(origin, arrived_at);
        self.follow_clock(world.tick, received);
        let drawn_after = self.render_tick(arrived_at);
        // The clock snapped (to a room's moved schedule) while a stall is drawn or eased: what
        // was drawn just before is where the drawing goes on from, not where the render
        // time's step back or on would put it (73 to 109 units away).
        let snapped = (drawn_after - drawn_before).abs() > 1.0
            && (settling.is_some() || self.easing_at(received));
        let drawn = snapped.then(|| {
            let clock_after = (self.clock_base, self.delay_ticks);
            (self.clock_base, self.delay_ticks) = clock_before;
            let drawn = self.sample(arrived_at).entities;
            (self.clock_base, self.delay_ticks) = clock_after;
            drawn
        });
        self.worlds.push_back(world.clone());
        if self.worlds.len() > self.config.capacity {
            self.worlds.pop_front();
        }
        if let Some(settling) = settling.take() {
            self.settling = Some(settling);
            self.stalled = true;
        }
        match (drawn, newest_before, self.settling.as_mut()) {
            // A burst still waited for: its drawing goes on from what was drawn.
            (Some(drawn), _, Some(settling)) if settling.easing.is_none() => {
                settling.drawn = drawn;
                settling.tick = drawn_after;
            }
            // An easing: a new one, from what was drawn.
            (Some(drawn), Some(held), _) => {
                let taken = received - BURST_MS;
                let mut settling = Settling { drawn, tick: drawn_after, held, taken, easing: None };
                let offsets = self.measure(&settling, drawn_after);
                settling.easing = Some(Easing { from: received, offsets });
                self.settling = Some(settling);
            }
            // The clock moved gently: a burst still waited for keeps drawing what it drew.
            (None, _, Some(settling)) if settling.easing.is_none() => {
                settling.tick += drawn_after - drawn_before;
            }
            _ => {}
        }
        self.last_push = received;
        self.start_easing(arrived_at, received);
    }

    /// Moves the clock for a world of `tick` that came `received` ms after `origin`, and the
    /// delay with the lateness it shows.
    fn follow_clock(&mut self, tick: Tick, received: f64) {
        let base = received - f64::from(tick.0) * self.period_ms;
        self.recent_bases.push_back(base);
        self.arrivals.push_back(received);
        if self.recent_bases.len() > STEP_WORLDS {
            self.recent_bases.pop_front();
            self.arrivals.pop_front();
        }
        if let Some(clock_base) = self.clock_base {
            self.note_lateness(base - clock_base);
        }
        // A world later than the delay was held up (jitter, or a link that stalled and let a
        // burst through): when it came says nothing of when the server made it. Followed, a
        // burst of them after a stall of seconds moved the clock late, and the buffer
        // replayed them.
        let late = self
            .clock_base
            .is_some_and(|clock_base| base > clock_base + self.delay_ticks * self.period_ms);
        if !late {
            self.bases.push_back(base);
            if self.bases.len() > BASES_KEPT {
                self.bases.pop_front();
            }
        }
        if self.schedule_moved() {
            // A room that stalled skips the ticks it missed: every tick since comes later by
            // the same amount, for good. The earlier bases describe a schedule that is gone,
            // and following their minimum would draw past the newest world for seconds:
            // follow the recent ones (gently, as ever: a jump would show).
            self.bases.clone_from(&self.recent_bases);
        }
        let target = least(&self.bases);
        self.clock_base = Some(match self.clock_base {
            Some(clock_base) if (target - clock_base).abs() <= SNAP_MS => {
                clock_base + (target - clock_base) * FOLLOW
            }
            _ => target,
        });
        if self.config.delay == InterpolationDelay::Adaptive {
            self.adapt_delay();
        }
    }

    /// What is drawn at `at`, to ease from, when a world arriving then ends a stall: the
    /// render time is past the newest world (what is drawn is a guess, or held, and the world
    /// may put it elsewhere), the world after the newest is more than a tick overdue, and this
    /// stall has nothing to ease from yet.
    /// A world a tick late or less (jitter) is drawn as it says, as before a stall: eased
    /// from, each would start another easing before the last ended, and the easings would add
    /// up to a lag behind where the worlds put the entities.
    fn settling_at(&mut self, at: Instant) -> Option<Settling> {
        let newest = f64::from(self.worlds.back()?.tick.0);
        let now = millis_since(self.origin?, at);
        let tick = self.render_tick(at);
        if tick <= newest {
            self.stalled = false; // caught up: the next stall is another
        }
        // Drawing a guess, and the world after the newest more than a tick late by the clock
        // (drawn 0 or 1 ticks behind, an on-time world comes with the render time a tick past
        // the newest).
        let overdue = tick > newest && tick + self.delay_ticks > newest + 2.0;
        // A world after a gap clearly longer than the worlds' pace (two ticks), though, ends
        // another stall (a world was let through, then the link stalled again): eased from what
        // is drawn now, the rest of the last easing included.
        let apart = now - self.last_push > 2.0 * self.period_ms;
        let easing = self.stalled && !apart && self.easing_at(now);
        if !overdue || easing || self.config.settle.is_zero() {
            return None;
        }
        let taken = match &self.settling {
            // The same burst, its easing over (a long one, draining slowly): eased at once, not
            // waited for again.
            Some(_) if self.stalled && !apart => now - BURST_MS,
            // Still waiting for the burst: the wait ends when it would have.
            Some(settling) if settling.easing.is_none() => settling.taken,
            _ => now,
        };
        let held = self.worlds.back()?.tick;
        Some(Settling { drawn: self.sample(at).entities, tick, held, taken, easing: None })
    }

    /// Whether what was drawn when the last stall ended is still added at `now` (ms after
    /// `origin`): its burst is still coming, or its easing is not over.
    fn easing_at(&self, now: f64) -> bool {
        let settle_ms = self.config.settle.as_secs_f64() * 1000.0;
        self.settling.as_ref().is_some_and(|settling| {
            settling.easing.as_ref().is_none_or(|easing| now - easing.from < settle_ms)
        })
    }

    /// Starts easing what was drawn when the last stall ended, at `at` (`now` ms after
    /// `origin`), once its burst is in: the worlds reach the render time (or, drawn less than
    /// two ticks behind, are no longer overdue). Each entity's difference is measured once,
    /// between the drawing the stall would have gone on with and where the whole burst puts
    /// it: one too long to ease is jumped, whole.
    fn start_easing(&mut self, at: Instant, now: f64) {
        let Some(settling) = self.settling.as_ref().filter(|settling| settling.easing.is_none())
        else {
            return;
        };
        let tick = self.render_tick(at);
        let newest = self.worlds.back().map_or(f64::NEG_INFINITY, |w| f64::from(w.tick.0));
        if newest < tick.min(tick + self.delay_ticks - 2.0) {
            return;
        }
        let offsets = self.measure(settling, tick);
        if let Some(settling) = self.settling.as_mut() {
            settling.easing = Some(Easing { from: now, offsets });
        }
    }

    /// The easing of `settling` from the end of its wait for the burst, measured then, if the
    /// wait is over at `now` (ms after `origin`) and no easing started before.
    fn wait_over(&self, settling: &Settling, now: f64) -> Option<Easing> {
        let from = settling.taken + BURST_MS;
        (settling.easing.is_none() && now >= from)
            .then(|| Easing { from, offsets: self.measure(settling, self.render_tick_at(from)) })
    }

    /// Each entity's difference at render tick `tick` between the drawing the stall of
    /// `settling` would have gone on with and where the worlds put it, ids ascending: only
    /// those of [`RESPAWN_DISTANCE`] or less (the others are jumped, whole).
    fn measure(&self, settling: &Settling, tick: f64) -> Vec<Offset> {
        let held = self.held_drawing(settling, tick);
        let (_, there) = self.interpolate(tick);
        there
            .iter()
            .filter_map(|e| {
                let drawn = by_id(&held, e.id)?;
                let pos = drawn.pos - e.pos;
                let heading = lerp_angle(e.heading, drawn.heading, 1.0) - e.heading;
                (pos.length() <= RESPAWN_DISTANCE).then_some(Offset { id: e.id, pos, heading })
            })
            .collect()
    }

    /// What the stall would draw at render tick `tick`, its burst still not come: what was
    /// drawn when it ended, moved on as the worlds before the burst move it (extrapolated,
    /// held). Should those worlds be gone (a burst longer than the buffer), what was drawn.
    fn held_drawing(&self, settling: &Settling, tick: f64) -> Vec<RenderEntity> {
        let kept = self.worlds.partition_point(|w| w.tick <= settling.held);
        if self.worlds.get(kept.wrapping_sub(1)).is_none_or(|w| w.tick != settling.held) {
            return settling.drawn.clone();
        }
        let (_, then) = self.interpolate_kept(settling.tick, kept);
        let (_, mut now) = self.interpolate_kept(tick, kept);
        now.retain_mut(|e| {
            let (Some(drawn), Some(then)) = (by_id(&settling.drawn, e.id), by_id(&then, e.id))
            else {
                return false;
            };
            e.pos += drawn.pos - then.pos;
            e.heading += lerp_angle(then.heading, drawn.heading, 1.0) - then.heading;
            true
        });
        now
    }

    /// Forgets every world and the clock, keeping the delay: for an
    /// [`Event::Joined`](crate::Event::Joined) with `resumed: false` (a new seat, perhaps in a
    /// new room or on a restarted server, whose ticks are not those drawn so far).
    pub fn clear(&mut self) {
        self.worlds.clear();
        self.origin = None;
        self.clock_base = None;
        self.bases.clear();
        self.recent_bases.clear();
        self.arrivals.clear();
        self.lateness.clear();
        self.settling = None;
        self.stalled = false;
        self.last_push = 0.0;
    }

    /// The tick drawn at `now`, fractional; 0 before the first world.
    pub fn render_tick(&self, now: Instant) -> f64 {
        match self.origin {
            Some(origin) => self.render_tick_at(millis_since(origin, now)),
            None => 0.0,
        }
    }

    /// The tick drawn `now` ms after `origin`.
    fn render_tick_at(&self, now: f64) -> f64 {
        match self.clock_base {
            Some(clock_base) => (now - clock_base) / self.period_ms - self.delay_ticks,
            None => 0.0,
        }
    }

    /// The entities at render time: positions, velocities and headings interpolated between
    /// the worlds around it. An entity only in the later world appears as it is there; one
    /// only in the earlier is gone. Before the oldest world kept (the first worlds of a
    /// connection) that world is held; past the newest, entities move on by their velocity
    /// for up to [`extrapolation`](InterpolationConfig::extrapolation), then hold. After a
    /// stall, what was drawn eases to where the worlds say over
    /// [`settle`](InterpolationConfig::settle).
    pub fn sample(&self, now: Instant) -> Sample<'_> {
        let tick = self.render_tick(now);
        let (world, mut entities) = self.interpolate(tick);
        if let (Some(origin), Some(settling)) = (self.origin, &self.settling) {
            let now = millis_since(origin, now);
            match &settling.easing {
                // The burst still coming: drawn as the stall would go on drawing.
                None if now < settling.taken + BURST_MS => {
                    entities = self.held_drawing(settling, tick);
                }
                // Its wait over and no world since: eased from then, as `push` will.
                None => {
                    if let Some(easing) = self.wait_over(settling, now) {
                        self.ease(&mut entities, &easing, now);
                    }
                }
                Some(easing) => self.ease(&mut entities, easing, now),
            }
        }
        let stale_ms = match self.worlds.back() {
            Some(newest) => ((tick - f64::from(newest.tick.0)) * self.period_ms).max(0.0),
            None => 0.0,
        };
        Sample { tick, world, entities, stale_ms }
    }

    /// Adds to `entities` drawn at `now` (ms after `origin`) what is left of the difference
    /// between what the last stall drew and where the worlds put them.
    fn ease(&self, entities: &mut [RenderEntity], easing: &Easing, now: f64) {
        let settle_ms = self.config.settle.as_secs_f64() * 1000.0;
        let left = 1.0 - ((now - easing.from) / settle_ms).max(0.0);
        if left <= 0.0 {
            return;
        }
        // Quickly at first, easing out.
        let weight = (left * left) as f32;
        for e in entities {
            if let Ok(i) = easing.offsets.binary_search_by_key(&e.id, |offset| offset.id) {
                e.pos += easing.offsets[i].pos * weight;
                e.heading += easing.offsets[i].heading * weight;
            }
        }
    }

    /// The world drawn toward at render tick `tick`, and its entities there as the worlds say
    /// (no settling added).
    fn interpolate(&self, tick: f64) -> (Option<&World>, Vec<RenderEntity>) {
        self.interpolate_kept(tick, self.worlds.len())
    }

    /// [`interpolate`](Self::interpolate) as if only the `kept` oldest worlds had come.
    fn interpolate_kept(&self, tick: f64, kept: usize) -> (Option<&World>, Vec<RenderEntity>) {
        let Some(newest) = kept.checked_sub(1).map(|i| &self.worlds[i]) else {
            return (None, Vec::new());
        };
        let mut i = kept - 1;
        while i > 0 && f64::from(self.worlds[i - 1].tick.0) > tick {
            i -= 1;
        }
        let to = &self.worlds[i];
        let from = i.checked_sub(1).map(|before| &self.worlds[before]);
        let to_tick = f64::from(to.tick.0);
        if from.is_none() && tick < to_tick {
            // Before the oldest world held (the first worlds of a connection, drawn two ticks
            // behind): hold the oldest. The newest here would be ahead of the worlds drawn
            // next, and everything would jump back once the render time reached them.
            return (Some(to), to.entities.iter().map(Into::into).collect());
        }
        let Some(from) = from.filter(|_| tick < f64::from(newest.tick.0)) else {
            let most = self.config.extrapolation.as_secs_f64();
            let past = (tick - f64::from(newest.tick.0)) * self.period_ms / 1000.0;
            let ahead = past.clamp(0.0, most) as f32;
            let entities = newest
                .entities
                .iter()
                .map(|e| {
                    let mut drawn = RenderEntity::from(e);
                    drawn.pos += drawn.vel * ahead;
                    drawn
                })
                .collect();
            return (Some(newest), entities);
        };
        let from_tick = f64::from(from.tick.0);
        let t = ((tick - from_tick) / (to_tick - from_tick)).clamp(0.0, 1.0) as f32;
        let entities = to
            .entities
            .iter()
            .map(|e| {
                let b = RenderEntity::from(e);
                let Some(old) = from.get(e.id) else { return b };
                let a = RenderEntity::from(old);
                if a.pos.distance(b.pos) > RESPAWN_DISTANCE {
                    return if t < 0.5 { a } else { b };
                }
                RenderEntity {
                    pos: a.pos.lerp(b.pos, t),
                    vel: a.vel.lerp(b.vel, t),
                    heading: lerp_angle(a.heading, b.heading, t),
                    ..b
                }
            })
            .collect();
        (Some(to), entities)
    }

    /// Moves the delay a step toward what the recent lateness needs.
    fn adapt_delay(&mut self) {
        if self.lateness.is_empty() {
            return;
        }
        let mut sorted: Vec<f64> = self.lateness.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = ((sorted.len() as f64 * LATENESS_QUANTILE).floor() as usize).min(sorted.len() - 1);
        let wanted = (sorted[at] / self.period_ms + 1.0).clamp(MIN_DELAY_TICKS, MAX_DELAY_TICKS);
        self.delay_ticks += (wanted - self.delay_ticks).clamp(-DELAY_SHRINK, DELAY_GROWTH);
    }

    /// `late_ms`: how late a world came after the clock expected it.
    fn note_lateness(&mut self, late_ms: f64) {
        if late_ms > HELD_UP_MS {
            return;
        }
        self.lateness.push_back(late_ms.max(0.0));
        if self.lateness.len() > LATENESS_KEPT {
            self.lateness.pop_front();
        }
    }

    /// Whether the last worlds all came so long after the clock expects them that each was
    /// already due to be drawn when it arrived (later than the delay the clock keeps in hand),
    /// one by one at the tick rate: the server's tick schedule moved later. Lateness the delay
    /// absorbs is jitter and is left to the gentle following; worlds held up by the network
    /// are late too, but arrive together once it lets them through, and the ones after are on
    /// time again: the clock must not follow those.
    fn schedule_moved(&self) -> bool {
        let Some(clock_base) = self.clock_base else { return false };
        let (Some(first), Some(last)) = (self.arrivals.front(), self.arrivals.back()) else {
            return false;
        };
        if self.recent_bases.len() < STEP_WORLDS {
            return false;
        }
        let drawn_past = clock_base + self.delay_ticks.max(1.0) * self.period_ms;
        // One by one, at the ticks' own pace: spread over most of the time their ticks span
        // (a burst draining at 20 ms a world is not), and most gaps between them near a tick
        // (a world let through early in a stall and seven of the burst after it span as long,
        // but most of their gaps are 0).
        let (Some(first_base), Some(last_base)) =
            (self.recent_bases.front(), self.recent_bases.back())
        else {
            return false;
        };
        let ticks_span = (last - last_base) - (first - first_base);
        let mut gaps: Vec<f64> =
            self.arrivals.iter().zip(self.arrivals.iter().skip(1)).map(|(a, b)| b - a).collect();
        gaps.sort_by(f64::total_cmp);
        let paced = gaps[gaps.len() / 2] >= self.period_ms * 0.5;
        least(&self.recent_bases) > drawn_past && last - first >= ticks_span * 0.8 && paced
    }
}

/// The entity `id` of `entities` (ids ascending).
fn by_id(entities: &[RenderEntity], id: EntityId) -> Option<RenderEntity> {
    entities.binary_search_by_key(&id, |e| e.id).ok().map(|i| entities[i])
}

/// The least of `values` (infinity for none, which `push` never leaves: the first world after
/// a `clear` is never late).
fn least(values: &VecDeque<f64>) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

/// `at` in ms after `origin`, negative before it.
pub(crate) fn millis_since(origin: Instant, at: Instant) -> f64 {
    match at.checked_duration_since(origin) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(origin.duration_since(at).as_secs_f64() * 1000.0),
    }
}
