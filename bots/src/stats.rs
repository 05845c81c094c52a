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
    /// The first message of each reason of [`Recorder::failures`].
    pub failure_examples: BTreeMap<String, String>,
    /// Panics of bot tasks and of the io_uring thread, by message.
    pub panics: BTreeMap<String, u64>,
    /// Joined bots whose connection ended early, by reason.
    pub drops: BTreeMap<String, u64>,
    /// The first message of each reason of [`Recorder::drops`].
    pub drop_examples: BTreeMap<String, String>,
    /// Decode, apply and consistency errors, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Close codes received from the server (our leave's answer included).
    pub close_codes: BTreeMap<u16, u64>,
    /// What each bot joined for all of the window received in it.
    pub window_frames: Vec<WindowFrames>,
    /// Snapshots (controllers: feedback messages) every bot received in the window, those
    /// that dropped or did not stay included.
    pub window_frames_received: u64,
    /// The time each bot was joined within the window, summed over the bots, in seconds.
    pub window_bot_seconds: f64,
    /// Ticks by which each bot's snapshots in the window spanned more than its time in it at
    /// the tick rate, summed (see [`WindowFrames::seconds`]).
    pub window_ticks_beyond: f64,
    /// Snapshots the server replaced before the bots read them, in the window: gaps in the
    /// tick numbers of each bot's consecutive snapshots (see [`FramesInfo::frames_skipped`]).
    ///
    /// [`FramesInfo::frames_skipped`]: crate::report::FramesInfo::frames_skipped
    pub frames_skipped: u64,
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
    /// Samples of [`Recorder::rtt`] that are pings still unanswered at the window's close:
    /// their wait so far.
    pub pings_still_waiting: u64,
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

    /// Keeps `message` as the example of `kind` in `examples`, unless it has one: a reason's
    /// count says how often, its message what to fix. On one line, its runs of white space
    /// one space each: an HTTP refusal's message holds the body, an HTML page from a URL that
    /// is no WebSocket, which would take a table's rows over.
    pub fn example(examples: &mut BTreeMap<String, String>, kind: &str, message: String) {
        if !examples.contains_key(kind) {
            let mut message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            if message.len() > EXAMPLE_MAX {
                let mut end = EXAMPLE_MAX;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            examples.insert(kind.to_string(), message);
        }
    }
}

/// The longest example message kept per reason, in bytes.
const EXAMPLE_MAX: usize = 240;

/// What one bot joined for the whole window received in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowFrames {
    /// Snapshots (controllers: feedback messages) received in the window.
    pub frames: u64,
    /// The server ticks from the first of those snapshots to the last, both included; 0
    /// without snapshots (and for controllers, whose feedback names no tick).
    pub ticks: u64,
}

impl WindowFrames {
    /// The seconds of server ticks these frames were delivered over: the window, or the
    /// ticks they span when those are more. A bot counts what it reads between the window's
    /// two instants, and a room delivers a tick's snapshots to its bots in one burst: when
    /// the window's edges fall so that a burst at each end is read inside it, or frames that
    /// waited in the socket at its start are read in it, the bot reads more ticks than the
    /// window holds (31 in a window of 1 s at 30 Hz), which over the window alone would read
    /// as more than one frame per tick.
    pub fn seconds(&self, window_s: f64, tick_rate: u32) -> f64 {
        if tick_rate == 0 {
            return window_s;
        }
        window_s.max(self.ticks as f64 / f64::from(tick_rate))
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

/// Summarises frames per bot over a window of `window` at `tick_rate` (`None` without bots
/// or time): each bot's frames over [`WindowFrames::seconds`].
pub fn fps_summary(bots: &[WindowFrames], window: Duration, tick_rate: u32) -> Option<FpsSummary> {
    let secs = window.as_secs_f64();
    if bots.is_empty() || secs <= 0.0 {
        return None;
    }
    let mut fps: Vec<f64> =
        bots.iter().map(|b| b.frames as f64 / b.seconds(secs, tick_rate)).collect();
    fps.sort_unstable_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = ((q * fps.len() as f64).ceil() as usize).clamp(1, fps.len());
        fps[rank - 1]
    };
    let frames: u64 = bots.iter().map(|b| b.frames).sum();
    let seconds: f64 = bots.iter().map(|b| b.seconds(secs, tick_rate)).sum();
    Some(FpsSummary {
        bots: fps.len(),
        mean: frames as f64 / seconds,
        min: fps[0],
        p1: at(0.01),
        p50: at(0.50),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_kept_on_one_line() {
        let mut examples = BTreeMap::new();
        let page =
            "upgrade refused: HTTP 200: <!doctype html>\n<html>\n  <head>\n\t<title>x</title>";
        Recorder::example(&mut examples, "http-200", page.into());
        assert_eq!(
            examples["http-200"],
            "upgrade refused: HTTP 200: <!doctype html> <html> <head> <title>x</title>"
        );
        Recorder::example(&mut examples, "http-200", "another".into());
        assert!(examples["http-200"].starts_with("upgrade refused"), "the first is kept");
    }

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

    fn window(frames: u64) -> WindowFrames {
        WindowFrames { frames, ticks: frames }
    }

    #[test]
    fn fps_summary_takes_the_slow_tail_into_account() {
        let mut frames = vec![window(300); 99];
        frames.push(WindowFrames { frames: 150, ticks: 300 });
        let s = fps_summary(&frames, Duration::from_secs(10), 30).unwrap();
        assert_eq!(s.bots, 100);
        assert_eq!(s.min, 15.0);
        assert_eq!(s.p1, 15.0);
        assert_eq!(s.p50, 30.0);
        assert!((s.mean - 29.85).abs() < 1e-9);
        assert_eq!(fps_summary(&[], Duration::from_secs(1), 30), None);
        assert_eq!(fps_summary(&[window(1)], Duration::ZERO, 30), None);
    }

    #[test]
    fn a_bot_never_reads_more_than_one_frame_per_tick() {
        // A window of 1 s at 30 Hz whose edges each take in a tick's burst: 31 snapshots, of
        // ticks 1 to 31, were delivered over 31 ticks, not over the window's 30.
        let s = fps_summary(&[window(31), window(30)], Duration::from_secs(1), 30).unwrap();
        let thirty = |fps: f64| (fps - 30.0).abs() < 1e-9;
        assert!(thirty(s.min) && thirty(s.p50) && thirty(s.mean), "{s:?}");
        // Frames the window misses still count against the whole window.
        let slow = WindowFrames { frames: 15, ticks: 29 };
        let s = fps_summary(&[slow], Duration::from_secs(1), 30).unwrap();
        assert_eq!(s.mean, 15.0, "{s:?}");
        // Controllers' feedback names no tick: the window alone.
        let feedback = WindowFrames { frames: 3, ticks: 0 };
        assert_eq!(fps_summary(&[feedback], Duration::from_secs(1), 30).unwrap().mean, 3.0);
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
