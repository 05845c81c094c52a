//! Once-a-second samples of the server's metrics for the dashboard (`GET /stats`).
//!
//! A sampler task reads the metrics every [`SAMPLE_PERIOD`] and turns the cumulative counters
//! into rates over that second, and the tick-time histogram into the p50/p99 of the ticks of
//! that second. It keeps the newest [`HISTORY_LEN`] samples, so a dashboard opened late still
//! draws the last ten minutes, and dashboards poll `?since=<seq>` for only the new ones.
//!
//! `/stats` answers anyone, so one reply carries at most [`MAX_SAMPLES_PER_REPLY`] samples:
//! the whole history in one answer was about 3,000 times the size of the request asking for
//! it, copied under the sampler's lock and serialised anew for each asker. A dashboard opened
//! late pages through the history with `since` while the reply says there is `more`.
//!
//! The metrics are read through their Prometheus text exposition (the only reading API the
//! `prometheus-client` histogram offers), parsed by [`parse_exposition`], so `/stats` always
//! agrees with `/metrics`.

use crate::context::ServerContext;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::time::MissedTickBehavior;

/// Time between samples.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// Samples kept: ten minutes at one a second (about 200 bytes each).
pub const HISTORY_LEN: usize = 600;
/// Samples one `/stats` reply carries at most: a minute's, under 64 KiB of JSON at their
/// largest, less than the chart library the dashboard page loads (see the module's
/// documentation).
pub const MAX_SAMPLES_PER_REPLY: usize = 60;

/// One series of the exposition: metric name, labels in order, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Full name, e.g. `tickwire_closes_total`.
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Series {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses a Prometheus/OpenMetrics text exposition; comment lines and lines that do not parse
/// are skipped.
pub fn parse_exposition(text: &str) -> Vec<Series> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Series> {
    let line = line.trim();
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        }
        rest = &body[end? + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Series { name, labels, value })
}

/// The cumulative values one sample is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scrape {
    counters: BTreeMap<&'static str, f64>,
    /// Tick-duration buckets: (upper bound in seconds, cumulative count), ascending.
    tick_buckets: Vec<(f64, f64)>,
    /// Round-trip buckets of the clients that steer a ship (players and controllers, every
    /// transport summed), as `tick_buckets`.
    round_trip_buckets: Vec<(f64, f64)>,
    clients: Clients,
    rooms: f64,
    closes: BTreeMap<u16, f64>,
}

const COUNTERS: [(&str, &str); 6] = [
    ("ticks", "tickwire_tick_duration_seconds_count"),
    ("late_ticks", "tickwire_late_ticks_total"),
    ("frames", "tickwire_frames_sent_total"),
    ("bytes", "tickwire_bytes_sent_total"),
    ("frames_skipped", "tickwire_frames_skipped_total"),
    ("resumes", "tickwire_resumes_total"),
];

impl Scrape {
    fn from_series(series: &[Series]) -> Scrape {
        let mut scrape = Scrape::default();
        for s in series {
            if let Some((key, _)) = COUNTERS.iter().find(|(_, name)| *name == s.name) {
                scrape.counters.insert(key, s.value);
            }
            match s.name.as_str() {
                "tickwire_tick_duration_seconds_bucket" => {
                    if let Some(le) = bucket_bound(s) {
                        scrape.tick_buckets.push((le, s.value));
                    }
                }
                // A spectator's wait to ack is its own choice (it acks once a second or so);
                // the ships' round trips are what the game feels.
                "tickwire_round_trip_seconds_bucket"
                    if matches!(s.label("role"), Some("player" | "controller")) =>
                {
                    if let Some(le) = bucket_bound(s) {
                        match scrape.round_trip_buckets.iter_mut().find(|(b, _)| *b == le) {
                            Some((_, n)) => *n += s.value,
                            None => scrape.round_trip_buckets.push((le, s.value)),
                        }
                    }
                }
                // Every role's together: the ships' ticks, by whether their input had come.
                "tickwire_input_ticks_total" => {
                    let key = match s.label("outcome") {
                        Some("own") => "input_own",
                        Some("late") => "input_late",
                        _ => continue,
                    };
                    *scrape.counters.entry(key).or_default() += s.value;
                }
                "tickwire_clients" => match s.label("role") {
                    Some("player") => scrape.clients.players = s.value as u64,
                    Some("spectator") => scrape.clients.spectators = s.value as u64,
                    Some("controller") => scrape.clients.controllers = s.value as u64,
                    _ => {}
                },
                "tickwire_rooms" => scrape.rooms = s.value,
                // The series present at 0 from the start are no closes: the dashboard's table
                // lists the codes that happened.
                "tickwire_closes_total" if s.value > 0.0 => {
                    if let Some(code) = s.label("code").and_then(|c| c.parse().ok()) {
                        *scrape.closes.entry(code).or_default() += s.value;
                    }
                }
                _ => {}
            }
        }
        scrape.tick_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        scrape.round_trip_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        scrape
    }

    fn counter(&self, key: &str) -> f64 {
        self.counters.get(key).copied().unwrap_or(0.0)
    }
}

/// A histogram bucket's upper bound, its `le` label.
fn bucket_bound(series: &Series) -> Option<f64> {
    match series.label("le")? {
        "+Inf" => Some(f64::INFINITY),
        le => le.parse().ok(),
    }
}

/// Clients in rooms, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Clients {
    /// Players.
    pub players: u64,
    /// Spectators.
    pub spectators: u64,
    /// Controllers.
    pub controllers: u64,
}

/// What the server did during one second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Sequence number, +1 per sample since start.
    pub seq: u64,
    /// Wall-clock time of the sample, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Clients in rooms now.
    pub clients: Clients,
    /// Rooms open now.
    pub rooms: u64,
    /// Room ticks run in the second, all rooms together.
    pub ticks_per_s: f64,
    /// Median tick duration of that second, milliseconds (estimated from histogram buckets);
    /// `None` when no room ticked.
    pub tick_p50_ms: Option<f64>,
    /// 99th percentile tick duration of that second, milliseconds.
    pub tick_p99_ms: Option<f64>,
    /// Median round trip of the players and controllers sampled that second (each at most
    /// once: `tickwire_round_trip_seconds`), milliseconds, estimated from the histogram's
    /// buckets; `None` when none was sampled.
    pub round_trip_p50_ms: Option<f64>,
    /// 95th percentile of the same.
    pub round_trip_p95_ms: Option<f64>,
    /// The share of the ships' ticks counted that second that ran without their client's
    /// input (`tickwire_input_ticks_total`: counted a window of 32 ticks at a time, for
    /// clients sending at the ticks' pace), percent; `None` when none was counted.
    pub late_inputs_pct: Option<f64>,
    /// Late ticks per second.
    pub late_ticks_per_s: f64,
    /// Bytes sent to clients per second, WebSocket frame headers included.
    pub bytes_out_per_s: f64,
    /// Frames sent to clients per second (one tick's events to a client are one frame).
    pub frames_out_per_s: f64,
    /// Snapshots skipped for slow clients per second.
    pub frames_skipped_per_s: f64,
    /// Seats resumed per second.
    pub resumes_per_s: f64,
    /// Close frames sent per second, all codes.
    pub closes_per_s: f64,
    /// Close frames sent since the server started, by close code.
    pub closes_total: BTreeMap<u16, u64>,
}

/// The `q` quantile of the observations between two cumulative histograms, interpolated
/// linearly inside the bucket it falls in (as Prometheus' `histogram_quantile` does).
pub fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let counts: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| {
            let old = before.iter().find(|(b, _)| *b == le).map_or(0.0, |&(_, n)| n);
            (le, (n - old).max(0.0))
        })
        .collect();
    let total = counts.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, cumulative) in &counts {
        if cumulative >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let in_bucket = cumulative - lower.1;
            let share = if in_bucket > 0.0 { (rank - lower.1) / in_bucket } else { 1.0 };
            return Some(lower.0 + (le - lower.0) * share);
        }
        lower = (le, cumulative);
    }
    Some(lower.0)
}

fn sample(seq: u64, before: &Scrape, after: &Scrape, elapsed: Duration, unix_ms: u64) -> Sample {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = |key: &str| (after.counter(key) - before.counter(key)).max(0.0) / secs;
    let ms = |q| quantile(&before.tick_buckets, &after.tick_buckets, q).map(|s| s * 1000.0);
    let trip_ms =
        |q| quantile(&before.round_trip_buckets, &after.round_trip_buckets, q).map(|s| s * 1000.0);
    let delta = |key: &str| (after.counter(key) - before.counter(key)).max(0.0);
    let input_ticks = delta("input_own") + delta("input_late");
    let closes_now: f64 = after.closes.values().sum();
    let closes_then: f64 = before.closes.values().sum();
    Sample {
        seq,
        unix_ms,
        clients: after.clients,
        rooms: after.rooms.max(0.0) as u64,
        ticks_per_s: rate("ticks"),
        tick_p50_ms: ms(0.5),
        tick_p99_ms: ms(0.99),
        round_trip_p50_ms: trip_ms(0.5),
        round_trip_p95_ms: trip_ms(0.95),
        late_inputs_pct: (input_ticks > 0.0).then(|| delta("input_late") / input_ticks * 100.0),
        late_ticks_per_s: rate("late_ticks"),
        bytes_out_per_s: rate("bytes"),
        frames_out_per_s: rate("frames"),
        frames_skipped_per_s: rate("frames_skipped"),
        resumes_per_s: rate("resumes"),
        closes_per_s: (closes_now - closes_then).max(0.0) / secs,
        closes_total: after.closes.iter().map(|(&code, &n)| (code, n as u64)).collect(),
    }
}

/// The newest samples, shared by the sampler and `/stats`.
#[derive(Debug, Default)]
pub struct StatsHistory {
    samples: Mutex<VecDeque<Sample>>,
    tick_rate: u8,
    started_unix_ms: u64,
}

/// The `/stats` answer.
#[derive(Debug, Serialize)]
pub struct StatsReply {
    /// Milliseconds between samples.
    pub period_ms: u64,
    /// The server's tick rate (per room), for scale.
    pub tick_rate: u8,
    /// When this server process began sampling (Unix milliseconds). Sequence numbers start
    /// again from 1 in each process: a client that sees this change drops what it holds and
    /// asks again without `since` (a `since` of the old process would find nothing newer for
    /// as long as the old one had run).
    pub started_unix_ms: u64,
    /// Samples newer than the `since` asked for, oldest first, at most
    /// [`MAX_SAMPLES_PER_REPLY`].
    pub samples: Vec<Sample>,
    /// Newer samples were left out: ask again with `since` the last `seq` of these.
    pub more: bool,
}

impl StatsHistory {
    fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == HISTORY_LEN {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The `/stats` answer: the oldest [`MAX_SAMPLES_PER_REPLY`] samples with `seq > since`.
    pub fn reply(&self, since: Option<u64>) -> StatsReply {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // Sequence numbers ascend, so the lock is held for a search and one reply's copies.
        let first = since.map_or(0, |since| samples.partition_point(|s| s.seq <= since));
        let end = samples.len().min(first + MAX_SAMPLES_PER_REPLY);
        StatsReply {
            period_ms: SAMPLE_PERIOD.as_millis() as u64,
            tick_rate: self.tick_rate,
            started_unix_ms: self.started_unix_ms,
            samples: samples.range(first..end).cloned().collect(),
            more: end < samples.len(),
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Starts the sampler on the server's task tracker; it stops when the server shuts down.
pub fn start(ctx: &Arc<ServerContext>) -> Arc<StatsHistory> {
    let history = Arc::new(StatsHistory {
        tick_rate: ctx.config.tick_rate,
        started_unix_ms: unix_ms(),
        ..StatsHistory::default()
    });
    let task_history = history.clone();
    let task_ctx = ctx.clone();
    ctx.tasks.spawn(async move {
        let mut interval = tokio::time::interval(SAMPLE_PERIOD);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut previous: Option<(Instant, Scrape)> = None;
        let mut seq = 0;
        loop {
            tokio::select! {
                _ = crate::connection::shutdown_signal(&task_ctx) => break,
                _ = interval.tick() => {}
            }
            let now = Instant::now();
            let scrape = Scrape::from_series(&parse_exposition(&task_ctx.metrics.render()));
            if let Some((then, before)) = &previous {
                seq += 1;
                task_history.push(sample(seq, before, &scrape, now - *then, unix_ms()));
            }
            previous = Some((now, scrape));
        }
    });
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Initiator, Metrics};
    use tickwire_shared::Role;

    #[test]
    fn lines_with_labels_escapes_and_infinities_parse() {
        let series = parse_exposition(
            "# HELP x y\nplain 3\nwith{a=\"1\",b=\"q\\\"uote\"} 2.5\nbucket{le=\"+Inf\"} 7\nhist_bucket{le=\"5e-5\"} 1\nbroken{a=1} 2\n",
        );
        assert_eq!(series.len(), 4);
        assert_eq!(series[0], Series { name: "plain".into(), labels: vec![], value: 3.0 });
        assert_eq!(
            series[1].labels,
            vec![("a".into(), "1".into()), ("b".into(), "q\"uote".into())]
        );
        assert_eq!(series[3].label("le"), Some("5e-5"));
    }

    #[test]
    fn quantiles_interpolate_within_the_window() {
        let before = [(1.0, 10.0), (2.0, 10.0), (4.0, 10.0), (f64::INFINITY, 10.0)];
        // In the window: 50 observations in (1, 2], 50 in (2, 4].
        let after = [(1.0, 10.0), (2.0, 60.0), (4.0, 110.0), (f64::INFINITY, 110.0)];
        assert_eq!(quantile(&before, &after, 0.5), Some(2.0));
        assert_eq!(quantile(&before, &after, 0.25), Some(1.5));
        assert_eq!(quantile(&before, &after, 0.99), Some(2.0 + 2.0 * 0.98));
        assert_eq!(quantile(&after, &after, 0.5), None, "no ticks in the window");
        let overflow = [(1.0, 0.0), (f64::INFINITY, 5.0)];
        assert_eq!(quantile(&[], &overflow, 0.5), Some(1.0), "+Inf reports the last bound");
    }

    #[test]
    fn a_sample_is_the_difference_of_two_scrapes_of_real_metrics() {
        let metrics = Metrics::new();
        let scrape = |m: &Metrics| Scrape::from_series(&parse_exposition(&m.render()));
        let before = scrape(&metrics);
        metrics.clients_of(Role::Player).inc_by(3);
        metrics.clients_of(Role::Spectator).inc();
        metrics.rooms.set(2);
        metrics.bytes_sent.inc_by(4000);
        metrics.frames_sent.inc_by(60);
        metrics.late_ticks.inc();
        metrics.closed(1000, Initiator::Client);
        metrics.closed(1008, Initiator::Server);
        metrics.closed(1008, Initiator::Client);
        for _ in 0..99 {
            metrics.tick_duration.observe(0.000_3);
        }
        metrics.tick_duration.observe(0.02);
        let after = scrape(&metrics);
        let s = sample(1, &before, &after, Duration::from_secs(2), 0);
        assert_eq!(s.clients, Clients { players: 3, spectators: 1, controllers: 0 });
        assert_eq!(s.rooms, 2);
        assert_eq!(s.bytes_out_per_s, 2000.0);
        assert_eq!(s.frames_out_per_s, 30.0);
        assert_eq!(s.late_ticks_per_s, 0.5);
        assert_eq!(s.ticks_per_s, 50.0);
        assert_eq!(s.closes_per_s, 1.5);
        assert_eq!(s.closes_total, BTreeMap::from([(1000, 1), (1008, 2)]));
        let p50 = s.tick_p50_ms.expect("ticks ran");
        assert!((0.2..=0.4).contains(&p50), "p50 {p50} ms");
        let p99 = s.tick_p99_ms.expect("ticks ran");
        assert!(p99 <= 0.4 + 1e-9, "99 of 100 ticks were 0.3 ms: p99 {p99} ms");
        assert_eq!((s.round_trip_p50_ms, s.round_trip_p95_ms), (None, None), "none sampled");
    }

    #[test]
    fn the_round_trips_sampled_are_the_ships_of_every_transport_not_the_spectators() {
        use crate::transport::Transport;
        let metrics = Metrics::new();
        let scrape = |m: &Metrics| Scrape::from_series(&parse_exposition(&m.render()));
        let trip = Duration::from_millis;
        // Sampled before: not this second's.
        metrics.round_trip(Role::Player, Transport::WebSocket, trip(900));
        let before = scrape(&metrics);
        for _ in 0..18 {
            metrics.round_trip(Role::Player, Transport::WebSocket, trip(40));
        }
        metrics.round_trip(Role::Controller, Transport::WebSocket, trip(45));
        metrics.round_trip(Role::Player, Transport::Poll, trip(400));
        for _ in 0..50 {
            metrics.round_trip(Role::Spectator, Transport::WebSocket, trip(2000));
        }
        let s = sample(1, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        // 19 of 20 in the 35-50 ms bucket, one in 250-500 ms.
        let p50 = s.round_trip_p50_ms.expect("ships were sampled");
        assert!((35.0..=50.0).contains(&p50), "p50 {p50} ms");
        let p95 = s.round_trip_p95_ms.expect("ships were sampled");
        assert!((35.0..=50.0).contains(&p95), "19 of 20 under 50 ms: p95 {p95} ms");
        metrics.round_trip(Role::Player, Transport::Stream, trip(300));
        let s = sample(2, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        let p95 = s.round_trip_p95_ms.expect("ships were sampled");
        assert!((250.0..=500.0).contains(&p95), "2 of 21 past 250 ms: p95 {p95} ms");
        // A LAN: a controller on the same Wi-Fi reads under a millisecond.
        let before = scrape(&metrics);
        metrics.round_trip(Role::Controller, Transport::WebSocket, Duration::from_micros(230));
        let s = sample(3, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        let p50 = s.round_trip_p50_ms.expect("sampled");
        assert!(p50 <= 1.0, "a 0.23 ms round trip reads {p50} ms");
    }

    #[test]
    fn the_late_inputs_are_the_share_of_every_ships_ticks_counted_that_second() {
        use crate::inputs::InputReport;
        let metrics = Metrics::new();
        let scrape = |m: &Metrics| Scrape::from_series(&parse_exposition(&m.render()));
        let period = Duration::from_secs(1) / 30;
        let window = |arrivals, missed| InputReport {
            ticks: 32,
            arrivals,
            missed,
            applied: 32 - missed,
            waited: 0,
            folded: 0,
        };
        // Counted before: not this second's.
        metrics.input_window(Role::Player, &window(32, 30), period);
        let before = scrape(&metrics);
        let s = sample(1, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        assert_eq!(s.late_inputs_pct, None, "no window ended that second");
        metrics.input_window(Role::Player, &window(32, 0), period);
        metrics.input_window(Role::Player, &window(32, 4), period);
        metrics.input_window(Role::Controller, &window(31, 4), period);
        // A client sending every other tick misses half the ticks by design: not counted.
        metrics.input_window(Role::Player, &window(16, 16), period);
        let s = sample(2, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        assert_eq!(s.late_inputs_pct, Some(8.0 / 96.0 * 100.0));
    }

    #[test]
    fn a_second_without_a_late_tick_reads_within_the_budget() {
        // 29 ticks of 1 ms and one of 26 ms at 30 Hz: none over its 33.3 ms. The p99 falls
        // in the bucket of the slow one, which must end at the period.
        let metrics = Metrics::for_tick_period(Duration::from_secs(1) / 30);
        let scrape = |m: &Metrics| Scrape::from_series(&parse_exposition(&m.render()));
        let before = scrape(&metrics);
        for _ in 0..29 {
            metrics.tick_duration.observe(0.001);
        }
        metrics.tick_duration.observe(0.026);
        let s = sample(1, &before, &scrape(&metrics), Duration::from_secs(1), 0);
        let p99 = s.tick_p99_ms.expect("ticks ran");
        assert!(p99 <= 1000.0 / 30.0, "p99 {p99} ms reads as over the budget");
    }

    /// A sample as large as they come: every close-code label a client can make the server
    /// echo or the server sends itself, counts in the billions, rates without round numbers.
    fn heavy_sample(seq: u64) -> Sample {
        let codes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
        let closes_total =
            codes.into_iter().chain([3000, 4000, 4002]).map(|c| (c, 9_876_543_210)).collect();
        let rate = 123_456.789_012_345_67;
        Sample {
            seq,
            unix_ms: 1_900_000_000_000 + seq * 1000,
            clients: Clients { players: 20_000, spectators: 100_000, controllers: 20_000 },
            rooms: 4096,
            ticks_per_s: rate,
            tick_p50_ms: Some(1.234_567_890_123_4),
            tick_p99_ms: Some(33.333_333_333_333_336),
            round_trip_p50_ms: Some(123.456_789_012_345_67),
            round_trip_p95_ms: Some(2_345.678_901_234_567),
            late_inputs_pct: Some(12.345_678_901_234_567),
            late_ticks_per_s: rate,
            bytes_out_per_s: 987_654_321.123_456_7,
            frames_out_per_s: rate,
            frames_skipped_per_s: rate,
            resumes_per_s: rate,
            closes_per_s: rate,
            closes_total,
        }
    }

    /// `/stats` answers anyone: a request of about 80 bytes must not get the whole history
    /// (300 KB and more) back, however long the server has run.
    #[test]
    fn one_reply_is_bounded_and_pages_through_the_history() {
        const BOUND: usize = 64 * 1024;
        let history = StatsHistory::default();
        let total = HISTORY_LEN as u64 + 5;
        for seq in 1..=total {
            history.push(heavy_sample(seq));
        }
        let first = history.reply(None);
        let size = serde_json::to_vec(&first).unwrap().len();
        assert!(size <= BOUND, "a reply of {size} bytes");
        assert_eq!(first.samples[0].seq, 6, "the oldest kept comes first");
        assert!(first.more);
        // Paging with `since` reaches every sample once, in order.
        let mut seen: Vec<u64> = first.samples.iter().map(|s| s.seq).collect();
        let mut more = first.more;
        while more {
            let page = history.reply(seen.last().copied());
            assert!(serde_json::to_vec(&page).unwrap().len() <= BOUND);
            seen.extend(page.samples.iter().map(|s| s.seq));
            more = page.more;
        }
        assert_eq!(seen, (6..=total).collect::<Vec<_>>());
        let caught_up = history.reply(Some(total));
        assert!(caught_up.samples.is_empty() && !caught_up.more);
    }

    #[test]
    fn history_is_bounded_and_filtered_by_seq() {
        let history = StatsHistory::default();
        let blank = sample(0, &Scrape::default(), &Scrape::default(), SAMPLE_PERIOD, 0);
        for seq in 1..=(HISTORY_LEN as u64 + 5) {
            history.push(Sample { seq, ..blank.clone() });
        }
        assert_eq!(history.samples.lock().unwrap().len(), HISTORY_LEN);
        let newest = history.reply(Some(HISTORY_LEN as u64 + 3));
        let newest: Vec<u64> = newest.samples.iter().map(|s| s.seq).collect();
        assert_eq!(newest, vec![HISTORY_LEN as u64 + 4, HISTORY_LEN as u64 + 5]);
        // A `since` older than the history, or from the future, finds the oldest or nothing.
        assert_eq!(history.reply(Some(2)).samples[0].seq, 6);
        assert!(history.reply(Some(u64::MAX)).samples.is_empty());
    }
}
