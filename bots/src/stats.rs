//! What the bots measure: live counters ([`Counters`], atomics read by the progress line) and
//! the recorder of distributions and tallies ([`Recorder`], HdrHistogram), shared by every bot.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Running totals every bot adds to and the progress line reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bots whose connection attempt started.
    pub started: AtomicU64,
    /// Bots joined right now.
    pub connected: AtomicU64,
    /// Bots that never joined.
    pub failed: AtomicU64,
    /// Joined bots whose connection ended before the end of the run.
    pub dropped: AtomicU64,
    /// Snapshots (controllers: feedback messages) received.
    pub frames: AtomicU64,
    /// Socket bytes received and sent (upgrade and frame headers included).
    pub bytes_in: AtomicU64,
    /// See [`Counters::bytes_in`].
    pub bytes_out: AtomicU64,
    /// Decode, apply and consistency errors.
    pub errors: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Largest value a histogram keeps, in microseconds (a minute); larger values count as it.
const HISTOGRAM_MAX_US: u64 = 60_000_000;

/// A latency histogram in microseconds, 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        // Bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
        Latency(Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("valid bounds"))
    }
}

impl Latency {
    /// Records one sample.
    pub fn record(&mut self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX).clamp(1, HISTOGRAM_MAX_US);
        self.0.saturating_record(us);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its percentiles in milliseconds, `None` when empty.
    pub fn summary(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            samples: self.0.len(),
            mean: self.0.mean() / 1000.0,
            p50: ms(self.0.value_at_quantile(0.50)),
            p90: ms(self.0.value_at_quantile(0.90)),
            p99: ms(self.0.value_at_quantile(0.99)),
            max: ms(self.0.max()),
        })
    }
}

/// A distribution in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples behind it.
    pub samples: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

/// Distributions and tallies of a run, behind one lock (each bot records a few samples per
/// tick, so the lock is uncontended on one core and cheap on several).
#[derive(Debug, Default)]
pub struct Recorder {
    /// From starting TCP to `Welcome`.
    pub connect: Latency,
    /// From sending an input to the first snapshot whose `last_input` reached it; inputs
    /// never acknowledged on their own count their wait (see
    /// [`crate::report::Report::input_to_ack_ms`]).
    pub input_to_ack: Latency,
    /// Between consecutive snapshots of a bot.
    pub interarrival: Latency,
    /// `|inter-arrival - tick period|`.
    pub jitter: Latency,
    /// Ping round trips.
    pub rtt: Latency,
    /// Bots that never joined, by reason.
    pub failures: BTreeMap<String, u64>,
    /// Panics of bot tasks and of the io_uring thread, by message.
    pub panics: BTreeMap<String, u64>,
    /// Joined bots whose connection ended early, by reason.
    pub drops: BTreeMap<String, u64>,
    /// Decode, apply and consistency errors, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Close codes received from the server (our leave's answer included).
    pub close_codes: BTreeMap<u16, u64>,
    /// Frames each bot received in the window, for bots joined for all of it.
    pub window_frames: Vec<u64>,
    /// Ticks skipped between consecutive snapshots, in the window.
    pub ticks_skipped: u64,
    /// Leaves begun by joined bots at the stop (those the run stopped waiting for included).
    pub leaves: u64,
    /// Of [`Recorder::leaves`], those the server answered with its close frame.
    pub leaves_answered: u64,
    /// Inputs the bots' sessions sent, over their whole sessions.
    pub inputs_sent: u64,
    /// Of [`Recorder::inputs_sent`], those the server acknowledged while the session still
    /// remembered them.
    pub inputs_acked: u64,
    /// Samples of [`Recorder::input_to_ack`] that are inputs still unacknowledged when they
    /// were recorded (at the window's close, or past the bot's memory of inputs): their
    /// wait so far.
    pub inputs_still_waiting: u64,
}

impl Recorder {
    /// Records one snapshot arrival `since_previous` after the last one, at `tick_period`.
    pub fn record_interarrival(&mut self, since_previous: Duration, tick_period: Duration) {
        self.interarrival.record(since_previous);
        self.jitter.record(since_previous.abs_diff(tick_period));
    }

    /// Counts one `kind` in `tally`.
    pub fn count(tally: &mut BTreeMap<String, u64>, kind: impl Into<String>) {
        *tally.entry(kind.into()).or_default() += 1;
    }
}

/// Delivered snapshots per second per bot, over the bots joined for the whole window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FpsSummary {
    /// Bots behind it.
    pub bots: usize,
    /// Total frames over total bot-seconds.
    pub mean: f64,
    /// The slowest bot.
    pub min: f64,
    /// The 1st percentile bot (99% of bots got at least this).
    pub p1: f64,
    /// The median bot.
    pub p50: f64,
}

/// Summarises frames per bot over a window of `window` (`None` without bots or time).
pub fn fps_summary(frames_per_bot: &[u64], window: Duration) -> Option<FpsSummary> {
    let secs = window.as_secs_f64();
    if frames_per_bot.is_empty() || secs <= 0.0 {
        return None;
    }
    let mut sorted = frames_per_bot.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / secs
    };
    let total: u64 = sorted.iter().sum();
    Some(FpsSummary {
        bots: sorted.len(),
        mean: total as f64 / sorted.len() as f64 / secs,
        min: sorted[0] as f64 / secs,
        p1: at(0.01),
        p50: at(0.50),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut h = Latency::default();
        assert_eq!(h.summary(), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p = h.summary().unwrap();
        assert_eq!(p.samples, 100);
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(close(p.p50, 50.0), "{p:?}");
        assert!(close(p.p90, 90.0), "{p:?}");
        assert!(close(p.p99, 99.0), "{p:?}");
        assert!(close(p.max, 100.0), "{p:?}");
        assert!(close(p.mean, 50.5), "{p:?}");
    }

    #[test]
    fn out_of_range_samples_saturate_instead_of_vanishing() {
        let mut h = Latency::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(3600));
        let p = h.summary().unwrap();
        assert_eq!(p.samples, 2);
        assert!(p.max >= 59_900.0, "clamped to a minute: {p:?}");
    }

    #[test]
    fn jitter_is_the_distance_from_the_tick_period() {
        let mut r = Recorder::default();
        let period = Duration::from_micros(33_333);
        r.record_interarrival(Duration::from_micros(33_333), period);
        r.record_interarrival(Duration::from_micros(43_333), period);
        r.record_interarrival(Duration::from_micros(23_333), period);
        let jitter = r.jitter.summary().unwrap();
        assert!((jitter.max - 10.0).abs() < 0.01, "{jitter:?}");
        assert!(jitter.p50 > 9.9, "two of three are 10 ms off: {jitter:?}");
        assert_eq!(r.interarrival.len(), 3);
    }

    #[test]
    fn fps_summary_takes_the_slow_tail_into_account() {
        let mut frames = vec![300u64; 99];
        frames.push(150);
        let s = fps_summary(&frames, Duration::from_secs(10)).unwrap();
        assert_eq!(s.bots, 100);
        assert_eq!(s.min, 15.0);
        assert_eq!(s.p1, 15.0);
        assert_eq!(s.p50, 30.0);
        assert!((s.mean - 29.85).abs() < 1e-9);
        assert_eq!(fps_summary(&[], Duration::from_secs(1)), None);
        assert_eq!(fps_summary(&[1], Duration::ZERO), None);
    }

    #[test]
    fn tallies_count_by_kind() {
        let mut r = Recorder::default();
        Recorder::count(&mut r.errors, "apply-MissingBaseline");
        Recorder::count(&mut r.errors, "apply-MissingBaseline");
        Recorder::count(&mut r.errors, "world-out-of-bounds");
        assert_eq!(r.errors["apply-MissingBaseline"], 2);
        assert_eq!(r.errors.len(), 2);
    }
}
