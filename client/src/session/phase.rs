//! Where in the server's tick this client's inputs land, and how to move them to mid-tick.
//!
//! The server applies one input a tick, the one that arrived before the tick began
//! (`server/src/inputs.rs`). A client whose inputs arrive just at the tick boundary has some
//! land before it and some after with a millisecond of timer jitter: a tick then runs without
//! the client's input (the prediction is corrected), and the server's jitter buffer holds every
//! input a tick longer from then on. Where a client's cadence falls is an accident of when its
//! `Welcome` came, so one join in several straddled the boundary on a perfect link.
//!
//! [`InputPhase`] finds the server's ticks from what the client already has: each snapshot is
//! sent as its tick runs, so its arrival, less the downlink, is its tick; an input sent at `S`
//! arrives at `S` plus the uplink. Landing half a period before the tick that applies it (the
//! most room for jitter either way) means sending at the snapshots' arrival phase, less the
//! round trip (uplink and downlink together, so their split does not matter), plus half a
//! period. Delay only ever adds to an arrival or a round trip, so both are floors: one slow
//! snapshot or `Pong` never moves the target. The session slews its input cadence towards the
//! target by at most [`MAX_SLEW`] an input, so no input is doubled or skipped on the way; a
//! cadence that starts again (after a tick or more without an input) goes there at once.
//! Deterministic and clock-free: time is an argument (PROTOCOL.md 4 says the same for any
//! client).

use crate::interpolation::millis_since;
use std::time::{Duration, Instant};
use tickwire_shared::Tick;

/// The most an input's send time moves against the last one's: a millisecond a tick, so no
/// input is doubled or skipped, and half a tick's correction takes about half a second at
/// 30 Hz.
pub(crate) const MAX_SLEW: Duration = Duration::from_millis(1);

/// Snapshots a floor of their arrivals is taken over (about a second at 30 Hz): the floor
/// used is the lower of the last complete window's and the current one's, so it follows a
/// clock drift or a new network path within two windows.
const ARRIVAL_WINDOW: u32 = 32;

/// Round trips the floor is taken over (the session pings every 5 s by default).
const ROUND_TRIPS_KEPT: usize = 4;

/// The server's tick phase as this connection sees it (reset at each `Welcome`).
#[derive(Debug, Clone)]
pub(crate) struct InputPhase {
    /// The tick period, in seconds.
    period: f64,
    /// The first snapshot of the connection: its arrival and its tick. Arrivals are measured
    /// against the instants its tick and the period say the later ones' ticks came.
    origin: Option<(Instant, Tick)>,
    /// The least offset (seconds after the origin's schedule) of the current window's arrivals.
    window_floor: f64,
    /// Arrivals in the current window.
    window_arrivals: u32,
    /// The last complete window's least offset.
    last_window_floor: Option<f64>,
    /// The last few round trips, newest last.
    round_trips: [Option<Duration>; ROUND_TRIPS_KEPT],
}

impl InputPhase {
    /// A connection's phase at `tick_rate` ticks a second, knowing nothing yet.
    pub(crate) fn new(tick_rate: u8) -> InputPhase {
        InputPhase {
            period: 1.0 / f64::from(tick_rate.max(1)),
            origin: None,
            window_floor: f64::INFINITY,
            window_arrivals: 0,
            last_window_floor: None,
            round_trips: [None; ROUND_TRIPS_KEPT],
        }
    }

    /// The snapshot of `tick` arrived at `now` (applied or not: its arrival is what counts).
    pub(crate) fn snapshot_arrived(&mut self, now: Instant, tick: Tick) {
        let (origin_at, origin_tick) = *self.origin.get_or_insert((now, tick));
        let ticks = f64::from(tick.0) - f64::from(origin_tick.0);
        let offset = seconds_between(origin_at, now) - ticks * self.period;
        self.window_floor = self.window_floor.min(offset);
        self.window_arrivals += 1;
        if self.window_arrivals >= ARRIVAL_WINDOW {
            self.last_window_floor = Some(self.window_floor);
            self.window_floor = f64::INFINITY;
            self.window_arrivals = 0;
        }
    }

    /// A `Pong` measured a round trip of `rtt`.
    pub(crate) fn round_trip(&mut self, rtt: Duration) {
        self.round_trips.rotate_left(1);
        self.round_trips[ROUND_TRIPS_KEPT - 1] = Some(rtt);
    }

    /// How far an input sent at `send` would land from mid-tick, in seconds, in
    /// `[-period / 2, period / 2)`: positive, it lands after mid-tick (send it earlier).
    /// `None` until a snapshot and a round trip were measured.
    pub(crate) fn error(&self, send: Instant) -> Option<f64> {
        let (origin_at, _) = self.origin?;
        let floor = match self.last_window_floor {
            Some(last) => last.min(self.window_floor),
            None if self.window_arrivals > 0 => self.window_floor,
            None => return None,
        };
        let rtt = self.round_trips.iter().flatten().min()?.as_secs_f64();
        let target = floor - rtt + self.period / 2.0;
        let off = seconds_between(origin_at, send) - target;
        Some(off - self.period * (off / self.period + 0.5).floor())
    }

    /// How much to move the next input's send time, in seconds (negative: earlier), so
    /// inputs come to land mid-tick, at most [`MAX_SLEW`] either way.
    pub(crate) fn slew(&self, next_send: Instant) -> f64 {
        let most = MAX_SLEW.as_secs_f64();
        self.error(next_send).map_or(0.0, |error| (-error).clamp(-most, most))
    }
}

/// `to - from` in seconds, negative when `to` is earlier.
fn seconds_between(from: Instant, to: Instant) -> f64 {
    millis_since(from, to) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_nanos(33_333_333);

    fn ms(x: f64) -> Duration {
        Duration::from_secs_f64(x / 1000.0)
    }

    /// A phase fed 40 snapshots of a server whose tick k runs at `start + k * PERIOD`, each
    /// arriving `down` later plus `jitter(k)`, and a round trip of `rtt`.
    fn fed(
        start: Instant,
        down: Duration,
        rtt: Duration,
        jitter: impl Fn(u32) -> Duration,
    ) -> InputPhase {
        let mut phase = InputPhase::new(30);
        for k in 1..=40 {
            phase.snapshot_arrived(start + PERIOD * k + down + jitter(k), Tick(k));
        }
        phase.round_trip(rtt);
        phase
    }

    #[test]
    fn nothing_is_said_before_a_snapshot_and_a_round_trip() {
        let start = Instant::now();
        let mut phase = InputPhase::new(30);
        assert_eq!(phase.error(start), None);
        phase.snapshot_arrived(start, Tick(5));
        assert_eq!(phase.error(start), None, "no round trip yet");
        assert_eq!(phase.slew(start), 0.0);
        phase.round_trip(ms(10.0));
        assert!(phase.error(start).is_some());
    }

    #[test]
    fn an_input_that_would_land_mid_tick_is_on_target() {
        let start = Instant::now();
        let (up, down) = (ms(15.0), ms(20.0));
        let phase = fed(start, down, up + down, |_| Duration::ZERO);
        // Sent so as to arrive at tick 50's start plus half a period.
        let send = start + PERIOD * 50 + PERIOD / 2 - up;
        let error = phase.error(send).unwrap();
        assert!(error.abs() < 1e-6, "{error}");
        // A millisecond late is a millisecond of error, a period later the same.
        let late = phase.error(send + ms(1.0) + PERIOD * 3).unwrap();
        assert!((late - 0.001).abs() < 1e-6, "{late}");
    }

    #[test]
    fn an_input_at_the_tick_boundary_is_half_a_period_off_and_slewed_a_millisecond() {
        let start = Instant::now();
        let (up, down) = (ms(15.0), ms(20.0));
        let phase = fed(start, down, up + down, |_| Duration::ZERO);
        let just_after = start + PERIOD * 50 - up + ms(2.0);
        let error = phase.error(just_after).unwrap();
        let half = PERIOD.as_secs_f64() / 2.0;
        assert!((error - (2.0e-3 - half)).abs() < 1e-6, "{error}");
        // It lands early in the tick, well before mid-tick: it goes later, a millisecond.
        assert!((phase.slew(just_after) - 0.001).abs() < 1e-9);
        // Just before the boundary it lands late (after mid-tick): earlier.
        assert!((phase.slew(just_after - ms(4.0)) + 0.001).abs() < 1e-9);
        // Within a millisecond, the whole error.
        let near = start + PERIOD * 50 + PERIOD / 2 - up + ms(0.25);
        assert!((phase.slew(near) + 0.000_25).abs() < 1e-6);
    }

    #[test]
    fn slow_snapshots_and_pongs_do_not_move_the_target() {
        let start = Instant::now();
        let (up, down) = (ms(15.0), ms(20.0));
        // Every snapshot but one in seven is delayed by up to 14 ms; the round trips too.
        let jittered =
            |k: u32| if k.is_multiple_of(7) { Duration::ZERO } else { ms(f64::from(k % 15)) };
        let mut phase = fed(start, down, up + down + ms(9.0), jittered);
        phase.round_trip(up + down);
        phase.round_trip(up + down + ms(30.0));
        let send = start + PERIOD * 60 + PERIOD / 2 - up;
        let error = phase.error(send).unwrap();
        assert!(error.abs() < 1e-6, "{error}");
    }

    #[test]
    fn the_floor_follows_a_path_that_grew_longer_within_two_windows() {
        let start = Instant::now();
        let (up, down) = (ms(15.0), ms(20.0));
        let mut phase = fed(start, down, up + down, |_| Duration::ZERO);
        // From tick 41 the downlink takes 10 ms more, for good; the round trip too.
        for k in 41..=110 {
            phase.snapshot_arrived(start + PERIOD * k + down + ms(10.0), Tick(k));
        }
        for _ in 0..ROUND_TRIPS_KEPT {
            phase.round_trip(up + down + ms(10.0));
        }
        // The server's ticks have not moved, so neither has mid-tick.
        let send = start + PERIOD * 120 + PERIOD / 2 - up;
        let error = phase.error(send).unwrap();
        assert!(error.abs() < 1e-6, "{error}");
    }
}
