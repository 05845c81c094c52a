//! Medians of runs and the Markdown tables of BENCHMARKS.md, from the JSON rows the swarm
//! and `bench-table game-row` write. A ratio is taken within each run (servers of one run
//! number ran side by side, minutes apart at most) and the median of those ratios is shown.

use crate::game::GameRow;
use crate::stats::FanoutRow;
use std::fmt::Write;

/// The median of the values that are there (`None` when none is).
pub fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().flatten().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// Per-run values of a count, e.g. `0, 0, 12`.
fn runs_of(values: impl IntoIterator<Item = u64>) -> String {
    values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

/// Labels in first-seen order, `subject` first.
fn labels<'a>(labels: impl IntoIterator<Item = &'a str>, subject: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for label in labels {
        if !seen.iter().any(|s| s == label) {
            seen.push(label.to_string());
        }
    }
    seen.sort_by_key(|l| l != subject);
    seen
}

/// The swarm's CPU per frame it read, in microseconds.
fn client_us_per_frame(row: &FanoutRow) -> Option<f64> {
    (row.frames > 0).then(|| row.swarm.cpu_percent / 100.0 * row.window_s * 1e6 / row.frames as f64)
}

/// The fan-out tables: one row per server and client count (medians over runs), then the
/// ratios of `subject`'s server CPU per frame to every other server's, and of its server and
/// swarm CPU per frame together.
pub fn fanout(rows: &[FanoutRow], subject: &str) -> String {
    let mut out = String::new();
    let mut counts: Vec<u32> = rows.iter().map(|r| r.clients).collect();
    counts.sort_unstable();
    counts.dedup();
    let servers = labels(rows.iter().map(|r| r.label.as_str()), subject);
    out.push_str(
        "| clients | server | runs | joined | closed by server (per run) | fps per client mean (min) \
         | inter-arrival p50 / p99 ms | fan-out spread p99 ms | payload B | server CPU | server us per frame \
         | server KiB per conn | swarm CPU | swarm us per frame |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &counts {
        for server in &servers {
            let runs: Vec<&FanoutRow> =
                rows.iter().filter(|r| r.clients == n && &r.label == server).collect();
            if runs.is_empty() {
                continue;
            }
            let m = |f: &dyn Fn(&FanoutRow) -> Option<f64>| median(runs.iter().map(|r| f(r)));
            let _ = writeln!(
                out,
                "| {n} | {server} | {} | {} | {} | {} ({}) | {} / {} | {} | {} | {}% | {} | {} | {}% | {} |",
                runs.len(),
                show(m(&|r| Some(r.joined as f64)), 0),
                runs_of(runs.iter().map(|r| r.closed_by_server.values().sum::<u64>())),
                show(m(&|r| r.fps.map(|f| f.mean)), 2),
                show(m(&|r| r.fps.map(|f| f.min)), 2),
                show(m(&|r| r.interarrival_ms.map(|p| p.p50)), 1),
                show(m(&|r| r.interarrival_ms.map(|p| p.p99)), 1),
                show(m(&|r| r.spread_ms.map(|p| p.p99)), 1),
                show(m(&|r| r.payload_bytes), 0),
                show(m(&|r| r.server.map(|s| s.usage.cpu_percent)), 0),
                show(m(&|r| r.server.and_then(|s| s.us_per_frame)), 2),
                show(m(&|r| r.server.and_then(|s| s.rss_per_conn_kib)), 1),
                show(m(&|r| Some(r.swarm.cpu_percent)), 0),
                // What a client costs on this machine: the raw client the bots are measured
                // against (BENCHMARKS.md, "Bots per core").
                show(m(&|r| client_us_per_frame(r)), 2),
            );
        }
    }
    let others: Vec<&String> = servers.iter().filter(|s| *s != subject).collect();
    if others.is_empty() {
        return out;
    }
    let server_us = |r: &FanoutRow| r.server.and_then(|s| s.us_per_frame);
    let _ = write!(
        out,
        "\nServer CPU per delivered frame, {subject} / other (median of per-run ratios, their \
         range in brackets):\n\n"
    );
    ratio_table(&mut out, rows, subject, &others, &counts, &server_us);
    // On loopback the kernel bills a frame's TCP work, the client's acknowledgement of it
    // included, to whichever core runs it, and that differs between servers (BENCHMARKS.md,
    // "Where loopback bills the acknowledgements"): the two cores together are the whole cost.
    let _ = write!(
        out,
        "\nServer and swarm CPU per delivered frame together, {subject} / other (median of per-run \
         ratios, their range in brackets):\n\n"
    );
    let both_us = |r: &FanoutRow| Some(server_us(r)? + client_us_per_frame(r)?);
    ratio_table(&mut out, rows, subject, &others, &counts, &both_us);
    let pairs = counts.iter().flat_map(|&n| others.iter().map(move |o| (subject, o.as_str(), n)));
    out.push_str(&skipped_note(rows, pairs, "clients"));
    out
}

/// A row of one run of one server (or mode), for pairing it with the rows that ran beside it.
trait Measured {
    fn label(&self) -> &str;
    /// Clients or players.
    fn count(&self) -> u32;
    fn run(&self) -> u32;
    fn repeat(&self) -> u32;
}

impl Measured for FanoutRow {
    fn label(&self) -> &str {
        &self.label
    }
    fn count(&self) -> u32 {
        self.clients
    }
    fn run(&self) -> u32 {
        self.run
    }
    fn repeat(&self) -> u32 {
        self.repeat
    }
}

impl Measured for GameRow {
    fn label(&self) -> &str {
        &self.server.label
    }
    fn count(&self) -> u32 {
        self.server.players
    }
    fn run(&self) -> u32 {
        self.server.run
    }
    fn repeat(&self) -> u32 {
        self.server.repeat
    }
}

/// The rows of `subject` and `other` at count `n` that ran side by side: same run and same
/// repeat, since a run may measure a label twice (`MODES="acked acked-base acked
/// acked-base"`), and its first `acked` ran beside its first `acked-base`, minutes from the
/// second pair. By that key, not by their place in the file, so that a measurement with no
/// row (a failed swarm) leaves its pair out instead of shifting the later ones. A key with
/// two rows of a label (two invocations appended to one file, or rows from before `repeat`)
/// pairs nothing: which of them ran beside the other's is not known. Such keys are returned
/// too, for [`skipped_note`] to say so.
fn side_by_side<'a, R: Measured>(
    rows: &'a [R],
    subject: &str,
    other: &str,
    n: u32,
) -> (Vec<(&'a R, &'a R)>, Vec<Skipped>) {
    let key = |r: &R| (r.run(), r.repeat());
    let mut keys: Vec<(u32, u32)> =
        rows.iter().filter(|r| r.label() == subject && r.count() == n).map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    let at = |label: &str, at: (u32, u32)| -> Vec<&'a R> {
        rows.iter().filter(|r| r.label() == label && r.count() == n && key(r) == at).collect()
    };
    let (mut pairs, mut skipped) = (Vec::new(), Vec::new());
    for (run, repeat) in keys {
        match (at(subject, (run, repeat)).as_slice(), at(other, (run, repeat)).as_slice()) {
            (_, []) => {}
            (&[s], &[o]) => pairs.push((s, o)),
            (s, o) => skipped.push(Skipped {
                pair: format!("{subject} / {other}"),
                n,
                run,
                repeat,
                rows: [(subject, s.len()), (other, o.len())]
                    .into_iter()
                    .filter(|(_, rows)| *rows > 1)
                    .map(|(label, rows)| format!("{rows} rows of {label}"))
                    .collect::<Vec<_>>()
                    .join(" and "),
            }),
        }
    }
    (pairs, skipped)
}

/// A pair of rows [`side_by_side`] left out: run `run`, repeat `repeat` at count `n` holds
/// `rows` (two or more of a label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Skipped {
    pair: String,
    n: u32,
    run: u32,
    repeat: u32,
    rows: String,
}

/// What the ratios above it left out for duplicate rows, one line per pair (`noun`:
/// "clients" or "players"), or nothing when no pair was: without it a ratio would show `-`,
/// or a median of fewer runs, with nothing saying why.
fn skipped_note<'a, R: Measured>(
    rows: &[R],
    pairs: impl IntoIterator<Item = (&'a str, &'a str, u32)>,
    noun: &str,
) -> String {
    let mut skipped: Vec<Skipped> =
        pairs.into_iter().flat_map(|(s, o, n)| side_by_side(rows, s, o, n).1).collect();
    skipped.sort();
    skipped.dedup();
    if skipped.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n{} pair(s) of rows left out of the ratios: a run and repeat holding two rows of a \
         server (or mode) cannot say which of them ran beside the other; rows of two \
         invocations appended to one file (OUT reused)? Give each invocation's rows as a file \
         of its own.\n\n",
        skipped.len()
    );
    for s in &skipped {
        let _ = writeln!(
            out,
            "- {}, {} {noun}, run {} repeat {}: {}",
            s.pair, s.n, s.run, s.repeat, s.rows
        );
    }
    out
}

/// The ratios, one per pair [`side_by_side`] finds, of `subject`'s `cost` over `other`'s
/// (pairs without both costs left out).
fn ratios<R: Measured>(
    rows: &[R],
    subject: &str,
    other: &str,
    n: u32,
    cost: &dyn Fn(&R) -> Option<f64>,
) -> Vec<f64> {
    side_by_side(rows, subject, other, n)
        .0
        .into_iter()
        .filter_map(|(s, o)| Some(cost(s)? / cost(o)?))
        .filter(|r| r.is_finite())
        .collect()
}

/// The median of the per-run `ratios`, and beside it their range when there are several:
/// `0.90 (0.80 to 0.97)`. The range says how far the runs agree, which the median alone
/// hides, and BENCHMARKS.md quotes it.
fn ratio_cell(ratios: &[f64]) -> String {
    let median = show(median(ratios.iter().copied().map(Some)), 2);
    let min = ratios.iter().copied().reduce(f64::min);
    let max = ratios.iter().copied().reduce(f64::max);
    match (min, max) {
        (Some(min), Some(max)) if ratios.len() > 1 => format!("{median} ({min:.2} to {max:.2})"),
        _ => median,
    }
}

/// One row per client count: the median over runs of `subject`'s `cost` divided by each
/// other's in the same run.
fn ratio_table(
    out: &mut String,
    rows: &[FanoutRow],
    subject: &str,
    others: &[&String],
    counts: &[u32],
    cost: &dyn Fn(&FanoutRow) -> Option<f64>,
) {
    let _ = write!(out, "| clients |");
    for other in others {
        let _ = write!(out, " {subject} / {other} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(others.len()));
    out.push('\n');
    for &n in counts {
        let _ = write!(out, "| {n} |");
        for other in others {
            let _ = write!(out, " {} |", ratio_cell(&ratios(rows, subject, other, n, cost)));
        }
        out.push('\n');
    }
}

/// Bytes a player received per frame.
fn bytes_per_frame(row: &GameRow) -> Option<f64> {
    Some(row.load.bytes_in_per_s / row.load.fps_mean?)
}

/// The game tables: one row per label and player count (medians over runs), then for each
/// of `baselines` present, every other label's bytes per player and CPU per player-tick
/// against the baseline's: the median of the ratios within each run, as for fan-out, since
/// the machine's speed drifts between runs and a ratio of medians would mix runs.
pub fn game(rows: &[GameRow], baselines: &[&str]) -> String {
    let baseline = baselines.first().copied().unwrap_or_default();
    let mut out = String::new();
    let mut counts: Vec<u32> = rows.iter().map(|r| r.server.players).collect();
    counts.sort_unstable();
    counts.dedup();
    let modes = labels(rows.iter().map(|r| r.server.label.as_str()), baseline);
    out.push_str(
        "| players | run as | runs | joined | dropped (per run) | fps mean (p1) \
         | input-to-ack p99 ms | tick mean / p99 ms | late ticks (per run) | server CPU \
         | server us per player-tick | server us per frame | B per player per s in | B per frame \
         | load CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &counts {
        for mode in &modes {
            let runs: Vec<&GameRow> =
                rows.iter().filter(|r| r.server.players == n && &r.server.label == mode).collect();
            if runs.is_empty() {
                continue;
            }
            let m = |f: &dyn Fn(&GameRow) -> Option<f64>| median(runs.iter().map(|r| f(r)));
            let bytes = m(&|r| Some(r.load.bytes_in_per_s));
            let cpu = m(&|r| Some(r.server.us_per_player_tick));
            let bytes_per_frame = m(&|r| bytes_per_frame(r));
            let cpu_per_frame = m(&|r| r.us_per_delivered_frame());
            let tick_ms = match m(&|r| r.server.ticks.map(|t| t.mean_ms)) {
                Some(mean) => format!(
                    "{mean:.2} / <= {}",
                    show(m(&|r| r.server.ticks.map(|t| t.p99_le_ms)), 1)
                ),
                None => "-".into(),
            };
            let late = if runs.iter().any(|r| r.server.ticks.is_some()) {
                runs_of(runs.iter().map(|r| r.server.ticks.map_or(0, |t| t.late as u64)))
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "| {n} | {mode} | {} | {} | {} | {} ({}) | {} | {tick_ms} | {late} | {}% | {} | {} | {} | {} | {}% |",
                runs.len(),
                show(m(&|r| Some(r.load.joined)), 0),
                runs_of(runs.iter().map(|r| r.load.dropped as u64)),
                show(m(&|r| r.load.fps_mean), 2),
                show(m(&|r| r.load.fps_p1), 2),
                // The players' latency, which a saturated server shows before fps does
                // (the Colyseus driver measures none: `-`).
                show(m(&|r| r.load.input_to_ack_p99_ms), 1),
                show(m(&|r| Some(r.server.usage.cpu_percent)), 0),
                show(cpu, 2),
                show(cpu_per_frame, 2),
                show(bytes, 0),
                show(bytes_per_frame, 1),
                show(m(&|r| r.load.load_cpu_percent), 0),
            );
        }
    }
    let mut compared = Vec::new();
    for baseline in baselines {
        let others: Vec<&String> = modes.iter().filter(|m| m != baseline).collect();
        if others.is_empty() || !modes.iter().any(|m| m == baseline) {
            continue;
        }
        let _ = write!(
            out,
            "\nAgainst {baseline} (median of per-run ratios, their range in brackets; per frame \
             is what a saturated server that skips frames still compares by):\n\n| players | run as \
             | bytes per player per s | server CPU per player-tick | bytes per frame \
             | server CPU per frame |\n|---|---|---|---|---|---|\n"
        );
        let ran = |label: &str, n: u32| {
            rows.iter().any(|r| r.server.label == label && r.server.players == n)
        };
        for &n in &counts {
            if !ran(baseline, n) {
                continue;
            }
            for other in others.iter().filter(|other| ran(other, n)) {
                compared.push((other.as_str(), *baseline, n));
                let ratio = |cost: &dyn Fn(&GameRow) -> Option<f64>| {
                    ratio_cell(&ratios(rows, other, baseline, n, cost))
                };
                let _ = writeln!(
                    out,
                    "| {n} | {other} / {baseline} | {} | {} | {} | {} |",
                    ratio(&|r| Some(r.load.bytes_in_per_s)),
                    ratio(&|r| Some(r.server.us_per_player_tick)),
                    ratio(&bytes_per_frame),
                    ratio(&GameRow::us_per_delivered_frame),
                );
            }
        }
    }
    out.push_str(&skipped_note(rows, compared, "players"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{LoadSummary, ServerWindow, TickTimes};
    use crate::stats::{FpsSummary, ServerCost, Usage};
    use std::collections::BTreeMap;

    #[test]
    fn medians_skip_missing_values() {
        assert_eq!(median([Some(3.0), None, Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median([Some(4.0), Some(1.0)]), Some(2.5));
        assert_eq!(median([None, Some(f64::NAN)]), None);
    }

    fn fanout_row(label: &str, run: u32, clients: u32, us_per_frame: f64) -> FanoutRow {
        let usage = Usage { cpu_percent: 50.0, wait_percent: 0.0, rss_kib: 1000 };
        FanoutRow {
            label: label.into(),
            run,
            repeat: 1,
            clients,
            window_s: 10.0,
            connect_s: 1.0,
            joined: u64::from(clients),
            failures: BTreeMap::new(),
            closed_by_server: BTreeMap::from([("close-1008".to_string(), u64::from(run))]),
            kicks: BTreeMap::new(),
            stayed: u64::from(clients),
            frames: 300 * u64::from(clients),
            payload_bytes: Some(100.0),
            other_messages: 0,
            fps: FpsSummary::of(&[300], 10.0),
            interarrival_ms: None,
            spread_ms: None,
            errors: BTreeMap::new(),
            server: Some(ServerCost {
                usage,
                us_per_frame: Some(us_per_frame),
                rss_per_conn_kib: Some(8.0),
            }),
            swarm: usage,
            closes_answered: 0,
        }
    }

    #[test]
    fn fanout_ratios_are_taken_within_runs() {
        // Run 2 ran on a machine twice as slow for both servers: its ratio is unchanged.
        let rows = [
            fanout_row("floor", 1, 1000, 2.0),
            fanout_row("tickwire", 1, 1000, 3.0),
            fanout_row("floor", 2, 1000, 4.0),
            fanout_row("tickwire", 2, 1000, 6.0),
            fanout_row("floor", 3, 1000, 2.0),
            fanout_row("tickwire", 3, 1000, 4.0),
        ];
        let table = fanout(&rows, "tickwire");
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[2].starts_with("| 1000 | tickwire | 3 | 1000 | 1, 2, 3 | 30.00 (30.00) |"),
            "{table}"
        );
        assert!(lines[2].contains("| 4.00 |"), "median of 3, 6, 4: {table}");
        // The swarm: 50% of 10 s over 300,000 frames.
        assert!(lines[2].ends_with("| 50% | 16.67 |"), "{table}");
        assert!(lines[3].starts_with("| 1000 | floor |"));
        assert!(table.contains("| clients | tickwire / floor |"));
        let (server, both) = table.split_once("Server and swarm").expect("both ratio tables");
        assert!(server.contains("| 1000 | 1.50 (1.50 to 2.00) |"), "ratios 1.5, 1.5, 2.0: {table}");
        // With the swarm's 16.67 us a frame: 19.67 / 18.67, 22.67 / 20.67, 20.67 / 18.67.
        assert!(
            both.contains("| 1000 | 1.10 (1.05 to 1.11) |"),
            "ratios 1.05, 1.10, 1.11: {table}"
        );
    }

    fn game_row(label: &str, run: u32, bytes_in: f64, us: f64) -> GameRow {
        GameRow {
            server: ServerWindow {
                label: String::from(label),
                run,
                repeat: 1,
                players: 500,
                window_s: 10.0,
                tick_rate: 30,
                usage: Usage { cpu_percent: 30.0, wait_percent: 0.0, rss_kib: 1 },
                us_per_player_tick: us,
                ticks: Some(TickTimes {
                    count: 4800.0,
                    mean_ms: 0.1,
                    p50_le_ms: 0.1,
                    p99_le_ms: 0.4,
                    max_le_ms: 0.8,
                    late: 0.0,
                    sent_bytes_per_player_s: bytes_in - 100.0,
                }),
                players_in_rooms: Some((500.0, 500.0)),
            },
            load: LoadSummary {
                joined: 500.0,
                dropped: 0.0,
                failed: 0.0,
                fps_mean: Some(29.9),
                fps_p1: Some(29.5),
                bytes_in_per_s: bytes_in,
                bytes_out_per_s: 300.0,
                input_to_ack_p99_ms: Some(30.0),
                load_cpu_percent: Some(40.0),
            },
        }
    }

    #[test]
    fn game_rows_and_ratios_against_the_baseline() {
        let rows = [
            game_row("tickwire-full", 1, 7000.0, 20.0),
            game_row("tickwire-acked", 1, 1400.0, 10.0),
            game_row("tickwire-full", 2, 7200.0, 22.0),
            game_row("tickwire-acked", 2, 1440.0, 11.0),
        ];
        let table = game(&rows, &["tickwire-full", "colyseus"]);
        // CPU per frame: 30% of a second over 500 players x 29.9 fps = 20.07 us.
        assert!(
            table.contains(
                "| 500 | tickwire-full | 2 | 500 | 0, 0 | 29.90 (29.50) | 30.0 | 0.10 / <= 0.4 \
                 | 0, 0 | 30% | 21.00 | 20.07 | 7100 | 237.5 | 40% |"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "| 500 | tickwire-acked / tickwire-full | 0.20 (0.20 to 0.20) | 0.50 (0.50 to 0.50) \
                 | 0.20 (0.20 to 0.20) | 1.00 (1.00 to 1.00) |"
            ),
            "{table}"
        );
        assert!(!table.contains("Against colyseus"), "no Colyseus rows, no table: {table}");
    }

    #[test]
    fn game_ratios_are_the_median_of_ratios_within_runs() {
        // Run 2 ran on a machine twice as slow as run 1; run 3 slower still for the baseline.
        let rows = [
            game_row("tickwire-full", 1, 7000.0, 20.0),
            game_row("tickwire-acked", 1, 1400.0, 10.0),
            game_row("tickwire-full", 2, 7000.0, 40.0),
            game_row("tickwire-acked", 2, 1400.0, 22.0),
            game_row("tickwire-full", 3, 7000.0, 30.0),
            game_row("tickwire-acked", 3, 1400.0, 27.0),
        ];
        let table = game(&rows, &["tickwire-full"]);
        // Ratios 0.5, 0.55, 0.9: their median, not 22 / 30 = 0.73 of the medians.
        assert!(
            table.contains(
                "| 500 | tickwire-acked / tickwire-full | 0.20 (0.20 to 0.20) | 0.55 (0.50 to 0.90) \
                 | 0.20 (0.20 to 0.20) | 1.00 (1.00 to 1.00) |"
            ),
            "{table}"
        );
        assert!(table.contains("median of per-run ratios"), "{table}");
    }

    fn repeated(mut row: GameRow, repeat: u32) -> GameRow {
        row.server.repeat = repeat;
        row
    }

    #[test]
    fn a_label_measured_twice_in_a_run_pairs_with_its_neighbour() {
        // MODES="acked acked-base acked acked-base": each acked against the base beside it.
        let rows = [
            repeated(game_row("tickwire-acked", 1, 1400.0, 10.0), 1),
            repeated(game_row("tickwire-acked-base", 1, 1400.0, 20.0), 1),
            repeated(game_row("tickwire-acked", 1, 1400.0, 30.0), 2),
            repeated(game_row("tickwire-acked-base", 1, 1400.0, 30.0), 2),
        ];
        let table = game(&rows, &["tickwire-acked-base"]);
        // 10 / 20 and 30 / 30; pairing both with the first base would give 0.5 and 1.5.
        assert!(
            table.contains(
                "| 500 | tickwire-acked / tickwire-acked-base | 1.00 (1.00 to 1.00) \
                 | 0.75 (0.50 to 1.00) | 1.00 (1.00 to 1.00) | 1.00 (1.00 to 1.00) |"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_missing_row_leaves_its_pair_out_without_shifting_the_others() {
        // The first acked-base of the run wrote no row (its bots failed).
        let rows = [
            repeated(game_row("tickwire-acked", 1, 1400.0, 10.0), 1),
            repeated(game_row("tickwire-acked", 1, 1400.0, 30.0), 2),
            repeated(game_row("tickwire-acked-base", 1, 1400.0, 30.0), 2),
        ];
        let table = game(&rows, &["tickwire-acked-base"]);
        // 30 / 30 alone; by place in the file the first acked (10) would pair with the
        // second base: 0.33.
        assert!(
            table.contains(
                "| 500 | tickwire-acked / tickwire-acked-base | 1.00 | 1.00 | 1.00 | 1.00 |"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_run_and_repeat_with_two_rows_of_a_label_pairs_nothing() {
        // Run 1 twice under one repeat (two invocations appended to one file): which floor
        // ran beside the tickwire is not known. Run 2 still pairs.
        let rows = [
            fanout_row("floor", 1, 1000, 100.0),
            fanout_row("floor", 1, 1000, 2.0),
            fanout_row("tickwire", 1, 1000, 3.0),
            fanout_row("floor", 2, 1000, 2.0),
            fanout_row("tickwire", 2, 1000, 4.0),
        ];
        let table = fanout(&rows, "tickwire");
        assert!(
            table.contains("| clients | tickwire / floor |\n|---|---|\n| 1000 | 2.00 |"),
            "{table}"
        );
        // Said once, though both ratio tables left it out.
        assert!(table.contains("\n1 pair(s) of rows left out of the ratios"), "{table}");
        assert!(
            table
                .ends_with("\n- tickwire / floor, 1000 clients, run 1 repeat 1: 2 rows of floor\n"),
            "{table}"
        );
    }

    #[test]
    fn every_pair_left_out_for_duplicate_rows_is_named() {
        // The whole file appended twice (OUT reused): every ratio is gone, each pair named.
        let once = [
            repeated(game_row("tickwire-full", 1, 7000.0, 20.0), 1),
            repeated(game_row("tickwire-acked", 1, 1400.0, 10.0), 1),
            repeated(game_row("tickwire-full", 2, 7000.0, 20.0), 1),
            repeated(game_row("tickwire-acked", 2, 1400.0, 10.0), 1),
        ];
        let rows: Vec<GameRow> = once.iter().chain(&once).cloned().collect();
        let table = game(&rows, &["tickwire-full"]);
        assert!(
            table.contains("| 500 | tickwire-acked / tickwire-full | - | - | - | - |"),
            "{table}"
        );
        assert!(table.contains("\n2 pair(s) of rows left out of the ratios"), "{table}");
        for run in [1, 2] {
            let line = format!(
                "- tickwire-acked / tickwire-full, 500 players, run {run} repeat 1: 2 rows of \
                 tickwire-acked and 2 rows of tickwire-full\n"
            );
            assert!(table.contains(&line), "{line}{table}");
        }
        // Without duplicates, no note.
        assert!(!game(&once, &["tickwire-full"]).contains("left out"));
    }

    #[test]
    fn the_per_run_range_of_a_ratio_is_printed_beside_its_median() {
        // BENCHMARKS.md quotes ranges such as "0.90 (0.80 to 0.97)": the table prints them.
        assert_eq!(ratio_cell(&[0.97, 0.8, 0.9]), "0.90 (0.80 to 0.97)");
        assert_eq!(ratio_cell(&[1.5]), "1.50", "one run has no range");
        assert_eq!(ratio_cell(&[]), "-");
        let rows = [
            fanout_row("floor", 1, 1000, 2.0),
            fanout_row("tickwire", 1, 1000, 1.6),
            fanout_row("floor", 2, 1000, 2.0),
            fanout_row("tickwire", 2, 1000, 1.94),
            fanout_row("floor", 3, 1000, 2.0),
            fanout_row("tickwire", 3, 1000, 1.8),
        ];
        let table = fanout(&rows, "tickwire");
        assert!(table.contains("| 1000 | 0.90 (0.80 to 0.97) |"), "{table}");
        assert!(table.contains("(median of per-run ratios, their range in brackets)"), "{table}");
    }

    #[test]
    fn the_game_table_prints_the_players_input_to_ack_p99() {
        let mut rows = [
            game_row("tickwire-acked", 1, 1400.0, 10.0),
            game_row("tickwire-acked", 2, 1400.0, 10.0),
            game_row("tickwire-acked", 3, 1400.0, 10.0),
            game_row("colyseus", 1, 1400.0, 10.0),
        ];
        for (row, p99) in rows.iter_mut().zip([Some(46.0), Some(165.0), Some(50.0), None]) {
            row.load.input_to_ack_p99_ms = p99;
        }
        let table = game(&rows, &["colyseus"]);
        assert!(table.contains("| fps mean (p1) | input-to-ack p99 ms |"), "{table}");
        assert!(
            table.contains("| tickwire-acked | 3 | 500 | 0, 0, 0 | 29.90 (29.50) | 50.0 |"),
            "{table}"
        );
        assert!(table.contains("| colyseus | 1 | 500 | 0 | 29.90 (29.50) | - |"), "{table}");
    }

    #[test]
    fn servers_of_different_runs_give_no_ratio() {
        let rows = [fanout_row("floor", 1001, 1000, 2.0), fanout_row("tickwire", 2001, 1000, 3.0)];
        let table = fanout(&rows, "tickwire");
        assert!(
            table.contains("| clients | tickwire / floor |\n|---|---|\n| 1000 | - |"),
            "{table}"
        );
    }
}
