//! What the swarm measures in its window ([`WindowStats`], fed with times as arguments) and
//! the row it prints for one run ([`FanoutRow`], JSON), which `bench-table` reads back.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Three points of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// Of a histogram of microseconds; `None` when it is empty.
    pub fn of_micros(histogram: &Histogram<u64>) -> Option<Percentiles> {
        (!histogram.is_empty()).then(|| Percentiles {
            p50: histogram.value_at_quantile(0.50) as f64 / 1000.0,
            p99: histogram.value_at_quantile(0.99) as f64 / 1000.0,
            max: histogram.max() as f64 / 1000.0,
        })
    }
}

/// Frames per second per client, over the clients that were open for the whole window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FpsSummary {
    /// Mean over those clients.
    pub mean: f64,
    /// The slowest 1% bound: 99% of clients got at least this.
    pub p1: f64,
    /// The slowest client.
    pub min: f64,
}

impl FpsSummary {
    /// Of each client's frame count over a window of `window_s` seconds; `None` without
    /// clients.
    pub fn of(frames: &[u64], window_s: f64) -> Option<FpsSummary> {
        if frames.is_empty() || window_s <= 0.0 {
            return None;
        }
        let mut sorted = frames.to_vec();
        sorted.sort_unstable();
        let fps = |n: u64| n as f64 / window_s;
        let p1_index = (sorted.len() - 1) / 100;
        Some(FpsSummary {
            mean: fps(sorted.iter().sum::<u64>()) / sorted.len() as f64,
            p1: fps(sorted[p1_index]),
            min: fps(sorted[0]),
        })
    }
}

/// Ticks whose first arrival is remembered, to measure how long after it the other clients
/// got the same tick. A fan-out of thousands of clients spans a few ticks at most; an
/// arrival of a tick no longer remembered is not counted.
const REMEMBERED_TICKS: usize = 64;

/// The distributions of a window. Times are microseconds on any monotonic clock, passed in.
#[derive(Debug, Clone)]
pub struct WindowStats {
    /// Time between consecutive frames of one client.
    pub interarrival_us: Histogram<u64>,
    /// Time from the first client's arrival of a tick to each client's arrival of it: how
    /// long the server's fan-out (plus the swarm's own reading) took.
    pub spread_us: Histogram<u64>,
    /// Frames read by all clients in the window.
    pub frames: u64,
    /// Their payload bytes.
    pub payload_bytes: u64,
    /// Messages that were not frames (events, welcome) in the window.
    pub other_messages: u64,
    first_arrival: [(u32, u64); REMEMBERED_TICKS],
    newest_tick: Option<u32>,
}

impl Default for WindowStats {
    fn default() -> Self {
        // Up to 100 s with 3 significant digits.
        let histogram = || Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds");
        WindowStats {
            interarrival_us: histogram(),
            spread_us: histogram(),
            frames: 0,
            payload_bytes: 0,
            other_messages: 0,
            first_arrival: [(u32::MAX, 0); REMEMBERED_TICKS],
            newest_tick: None,
        }
    }
}

impl WindowStats {
    /// A frame of `len` payload bytes and tick `tick` arrived at `now_us`; the same client's
    /// previous frame arrived at `previous_us` (`None`: this is its first in the window).
    pub fn frame(&mut self, now_us: u64, tick: u32, len: u64, previous_us: Option<u64>) {
        self.frames += 1;
        self.payload_bytes += len;
        if let Some(previous) = previous_us {
            self.interarrival_us.saturating_record(now_us.saturating_sub(previous).max(1));
        }
        let newest = *self.newest_tick.get_or_insert(tick);
        if newest.wrapping_sub(tick) as i32 >= REMEMBERED_TICKS as i32 {
            return; // older than anything remembered
        }
        if (tick.wrapping_sub(newest) as i32) > 0 {
            self.newest_tick = Some(tick);
        }
        let slot = &mut self.first_arrival[tick as usize % REMEMBERED_TICKS];
        if slot.0 == tick {
            self.spread_us.saturating_record(now_us.saturating_sub(slot.1).max(1));
        } else {
            *slot = (tick, now_us);
            self.spread_us.saturating_record(1);
        }
    }
}

/// CPU and memory of a process over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time over the window, percent of one core.
    pub cpu_percent: f64,
    /// Time its threads were runnable but waited for a CPU, percent of the window.
    pub wait_percent: f64,
    /// Resident memory at the end of the window, KiB.
    pub rss_kib: u64,
}

/// The server's side of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServerCost {
    /// CPU and memory over the window.
    pub usage: Usage,
    /// Server CPU time per frame the swarm received in the window, microseconds.
    pub us_per_frame: Option<f64>,
    /// (RSS at the end of the window - RSS before the first connection) / connections open
    /// at the end, KiB.
    pub rss_per_conn_kib: Option<f64>,
}

/// One run of the swarm against one server: what `bench-swarm --json` appends, one JSON
/// object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Which server (`tickwire`, `node-ws`, `floor`, `tungstenite`).
    pub label: String,
    /// Run number (runs of different servers with the same number ran side by side).
    pub run: u32,
    /// Which measurement of `label` in its run this is, from 1: a run that measures a server
    /// twice pairs each with the other servers' measurement of the same repeat. Rows from
    /// before it was written are 1.
    #[serde(default = "first_repeat")]
    pub repeat: u32,
    /// Clients asked for.
    pub clients: u32,
    /// Length of the measurement window, seconds.
    pub window_s: f64,
    /// Seconds from the first connection attempt until every client had joined or failed.
    pub connect_s: f64,
    /// Clients that joined (upgraded; for tickwire, welcomed).
    pub joined: u64,
    /// Clients that never joined, by reason (`http-429`, `refused`, `timeout` ...).
    pub failures: BTreeMap<String, u64>,
    /// Joined clients whose connection the server ended before the swarm did, by close code
    /// (`close-1008`) or `eof` / `reset`.
    pub closed_by_server: BTreeMap<String, u64>,
    /// Kicks read, by reason (tickwire).
    pub kicks: BTreeMap<String, u64>,
    /// Clients joined before the window and open at its end.
    pub stayed: u64,
    /// Frames received by all clients in the window.
    pub frames: u64,
    /// Mean payload bytes per frame.
    pub payload_bytes: Option<f64>,
    /// Messages that were not frames (tickwire events), in the window.
    pub other_messages: u64,
    /// Frames per second per client that stayed.
    pub fps: Option<FpsSummary>,
    /// Time between consecutive frames of a client.
    pub interarrival_ms: Option<Percentiles>,
    /// Time from a tick's first arrival at any client to its arrival at each client.
    pub spread_ms: Option<Percentiles>,
    /// Protocol errors by kind (a connection ends at its first).
    pub errors: BTreeMap<String, u64>,
    /// The server, when its PID was given.
    pub server: Option<ServerCost>,
    /// The swarm itself: above ~70% CPU it, not the server, is the bottleneck.
    pub swarm: Usage,
    /// Clients that got the server's answer to their closing frame at the end.
    pub closes_answered: u64,
}

/// The `repeat` of a row that does not say.
pub fn first_repeat() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_summary_of_per_client_counts() {
        let mut frames = vec![300u64; 199];
        frames.push(150);
        let fps = FpsSummary::of(&frames, 10.0).unwrap();
        assert_eq!(fps.min, 15.0);
        assert_eq!(fps.p1, 30.0, "one slow client in 200 is below the 1% bound");
        assert!((fps.mean - 29.925).abs() < 1e-9);
        assert_eq!(FpsSummary::of(&[], 10.0), None);
        assert_eq!(FpsSummary::of(&[5], 0.0), None);
    }

    #[test]
    fn spread_is_measured_from_the_first_arrival_of_each_tick() {
        let mut stats = WindowStats::default();
        stats.frame(1_000, 7, 100, None);
        stats.frame(1_500, 7, 100, None);
        stats.frame(4_000, 7, 100, Some(0));
        stats.frame(34_000, 8, 50, Some(4_000));
        assert_eq!(stats.frames, 4);
        assert_eq!(stats.payload_bytes, 350);
        assert_eq!(stats.interarrival_us.len(), 2);
        assert_eq!(stats.spread_us.len(), 4);
        assert_eq!(stats.spread_us.max(), stats.spread_us.highest_equivalent(3_000));
        let spread = Percentiles::of_micros(&stats.spread_us).unwrap();
        assert!((spread.p50 - 0.001).abs() < 1e-9, "{spread:?}");

        // A tick far older than the newest is not remembered and not counted.
        stats.frame(40_000, 8 + REMEMBERED_TICKS as u32, 1, None);
        stats.frame(41_000, 8, 1, None);
        assert_eq!(stats.spread_us.len(), 5);
        assert_eq!(stats.frames, 6);
    }

    #[test]
    fn a_row_round_trips_through_json() {
        let row = FanoutRow {
            label: "floor".into(),
            run: 2,
            repeat: 2,
            clients: 1000,
            window_s: 10.0,
            connect_s: 1.5,
            joined: 1000,
            failures: BTreeMap::new(),
            closed_by_server: BTreeMap::from([("close-1008".into(), 3)]),
            kicks: BTreeMap::new(),
            stayed: 997,
            frames: 299_100,
            payload_bytes: Some(230.0),
            other_messages: 0,
            fps: FpsSummary::of(&[300, 300], 10.0),
            interarrival_ms: None,
            spread_ms: None,
            errors: BTreeMap::new(),
            server: None,
            swarm: Usage { cpu_percent: 40.0, wait_percent: 1.0, rss_kib: 9000 },
            closes_answered: 0,
        };
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(serde_json::from_str::<FanoutRow>(&text).unwrap(), row);
        let older = text.replace(r#""repeat":2,"#, "");
        assert_ne!(older, text);
        assert_eq!(serde_json::from_str::<FanoutRow>(&older).unwrap().repeat, 1);
    }
}
