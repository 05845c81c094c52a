//! `bench-watch`: watches a game server over a measurement window, for the game bench. It
//! waits until the server's player gauge reaches `--players` (tickwire's `/metrics`) or a
//! `--wait-file` appears (the load generator writes it when its ramp is over), lets
//! `--warmup` pass (from the file's write, so that the load generator's window of the same
//! warm-up and length is this one), then reads the server's CPU and memory from `/proc` and its tick-time
//! histogram, late ticks and bytes from `/metrics` at both ends of `--duration`. One JSON
//! row ([`ServerWindow`]) goes to `--json`.

use anyhow::{Context, bail};
use clap::Parser;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tickwire_bench::cli;
use tickwire_bench::game::{ServerWindow, TickTimes};
use tickwire_bench::metrics::Scrape;
use tickwire_bench::procfs::ProcessSample;
use tickwire_bench::stats::Usage;

/// Watches a game server's CPU, memory and tick times over a window.
#[derive(Debug, Parser)]
#[command(name = "bench-watch", version, about)]
struct Args {
    /// PID of the server.
    #[arg(long)]
    pid: u32,

    /// The server's metrics, `http://IP:PORT/metrics` (tickwire); without it only CPU and
    /// memory are read.
    #[arg(long, value_parser = parse_metrics_url)]
    metrics: Option<MetricsUrl>,

    /// Players of the run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    players: u32,

    /// Wait until the server counts this many players in rooms (needs --metrics).
    #[arg(long, requires = "metrics")]
    wait_players: bool,

    /// Wait until this file exists (the load generator writes it once every player joined or
    /// failed, as `tickwire-bots --ready-file` and `bench/colyseus/driver.js --ready-file` do).
    #[arg(long, value_name = "PATH", conflicts_with = "wait_players")]
    wait_file: Option<PathBuf>,

    /// Longest wait for the players (or the file).
    #[arg(long, default_value = "120s", value_parser = cli::duration)]
    wait_timeout: Duration,

    /// Time between the wait and the window; with --wait-file, from the file's modification
    /// time.
    #[arg(long, default_value = "2s", value_parser = cli::duration)]
    warmup: Duration,

    /// Length of the window.
    #[arg(long, default_value = "10s", value_parser = cli::duration)]
    duration: Duration,

    /// Room ticks (or patches) per second, for CPU per player-tick.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    tick_rate: u32,

    /// Name of the run in the row.
    #[arg(long, default_value = "tickwire")]
    label: String,

    /// Run number.
    #[arg(long, default_value_t = 1)]
    run: u32,

    /// Which measurement of `--label` in its run this is (1, or 2 when the run measures it
    /// again): `bench-table` pairs the rows of one run by it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,

    /// Writes the row as JSON to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct MetricsUrl {
    addr: SocketAddr,
    path: String,
}

fn parse_metrics_url(text: &str) -> Result<MetricsUrl, String> {
    let rest =
        text.strip_prefix("http://").ok_or_else(|| format!("`{text}`: only http:// URLs"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, "metrics"));
    let addr =
        host.parse().map_err(|_| format!("`{host}` is not IP:PORT (e.g. 127.0.0.1:18090)"))?;
    Ok(MetricsUrl { addr, path: format!("/{path}") })
}

/// GETs the exposition (HTTP/1.1, `Connection: close`).
fn scrape(url: &MetricsUrl) -> anyhow::Result<Scrape> {
    let mut stream = TcpStream::connect_timeout(&url.addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", url.path, url.addr)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let len = match head.parse(&response)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => bail!("truncated response from {}", url.addr),
    };
    if head.code != Some(200) {
        bail!("GET {} answered {:?}", url.path, head.code);
    }
    Ok(Scrape::parse(&String::from_utf8_lossy(&response[len..])))
}

/// The players in rooms, as a server labels them: `player` now, `Player` before the labels
/// went lower case (a `BASE_SERVER` built from an older commit).
fn players(scrape: &Scrape) -> Option<f64> {
    ["tickwire_clients{role=\"player\"}", "tickwire_clients{role=\"Player\"}"]
        .iter()
        .find_map(|series| scrape.value(series))
}

/// The player count stopped growing for this long: the load generator's ramp is over
/// (some players may have been refused; the window starts anyway and the rows say so).
const RAMP_OVER: Duration = Duration::from_secs(3);

/// Waits until `--players` are in rooms, or their count stopped growing for [`RAMP_OVER`].
fn wait_for_players(url: &MetricsUrl, args: &Args) -> anyhow::Result<()> {
    let deadline = Instant::now() + args.wait_timeout;
    let (mut seen, mut grew) = (0.0, Instant::now());
    loop {
        let players = players(&scrape(url).context("--metrics")?).unwrap_or(0.0);
        if players >= f64::from(args.players) {
            return Ok(());
        }
        if players > seen {
            (seen, grew) = (players, Instant::now());
        } else if players > 0.0 && grew.elapsed() >= RAMP_OVER {
            eprintln!(
                "bench-watch: only {players} of --players {} joined; measuring them",
                args.players
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{players} of --players {} in rooms after {:?}", args.players, args.wait_timeout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
const TICKS: &str = "tickwire_tick_duration_seconds";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ProcessSample::read(Some(args.pid)).context("--pid")?;
    if let (Some(url), true) = (&args.metrics, args.wait_players) {
        wait_for_players(url, &args)?;
    }
    let mut warmup = args.warmup;
    if let Some(path) = &args.wait_file {
        let deadline = Instant::now() + args.wait_timeout;
        while !path.exists() {
            if Instant::now() >= deadline {
                bail!(
                    "--wait-file {} did not appear within {:?}",
                    path.display(),
                    args.wait_timeout
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The load generator wrote the file, then started its own warm-up of the same length:
        // counted from that write, not from when this poll saw it, the two windows open
        // together.
        let written = path.metadata().and_then(|m| m.modified()).ok();
        let since = written.and_then(|at| at.elapsed().ok()).unwrap_or_default();
        warmup = warmup_left(args.warmup, since);
    }
    std::thread::sleep(warmup);

    let metrics_start = args.metrics.as_ref().map(scrape).transpose()?;
    let start = ProcessSample::read(Some(args.pid))?;
    let opened = Instant::now();
    std::thread::sleep(args.duration);
    let end = ProcessSample::read(Some(args.pid))?;
    let window_s = opened.elapsed().as_secs_f64();
    let metrics_end = args.metrics.as_ref().map(scrape).transpose()?;

    let used = end.since(&start);
    let players_in_rooms = metrics_start
        .as_ref()
        .zip(metrics_end.as_ref())
        .map(|(a, b)| (players(a).unwrap_or(0.0), players(b).unwrap_or(0.0)));
    let players = players_measured(players_in_rooms, args.players);
    let player_ticks = players * f64::from(args.tick_rate) * window_s;
    let ticks = match (&metrics_start, &metrics_end) {
        (Some(before), Some(after)) => {
            let histogram = after
                .histogram(TICKS)
                .zip(before.histogram(TICKS))
                .map(|(a, b)| a.since(&b))
                .context("no tick histogram in --metrics")?;
            let counter = |name: &str| after.total(name) - before.total(name);
            let ms = |q: f64| histogram.quantile_bound(q).unwrap_or(f64::NAN) * 1000.0;
            Some(TickTimes {
                count: histogram.count,
                mean_ms: histogram.mean().unwrap_or(f64::NAN) * 1000.0,
                p50_le_ms: ms(0.5),
                p99_le_ms: ms(0.99),
                max_le_ms: ms(1.0),
                late: counter("tickwire_late_ticks_total"),
                sent_bytes_per_player_s: counter("tickwire_bytes_sent_total") / players / window_s,
            })
        }
        _ => None,
    };
    let row = ServerWindow {
        label: args.label.clone(),
        run: args.run,
        repeat: args.repeat,
        players: args.players,
        window_s,
        tick_rate: args.tick_rate,
        usage: Usage {
            cpu_percent: 100.0 * used.cpu_seconds / window_s,
            wait_percent: 100.0 * used.wait_seconds / window_s,
            rss_kib: used.rss_kib,
        },
        us_per_player_tick: 1e6 * used.cpu_seconds / player_ticks,
        ticks,
        players_in_rooms,
    };
    let line = serde_json::to_string(&row)?;
    eprintln!(
        "bench-watch: {} run {}: CPU {:.0}%, {:.2} us per player-tick, tick p99 <= {} ms, late {}",
        row.label,
        row.run,
        row.usage.cpu_percent,
        row.us_per_player_tick,
        row.ticks.map_or("-".into(), |t| format!("{}", t.p99_le_ms)),
        row.ticks.map_or("-".into(), |t| format!("{}", t.late)),
    );
    match &args.json {
        Some(path) if path.as_os_str() != "-" => std::fs::write(path, line + "\n")
            .with_context(|| format!("--json {}", path.display()))?,
        _ => println!("{line}"),
    }
    Ok(())
}

/// What is left of a warm-up of `warmup` that started `since` ago.
fn warmup_left(warmup: Duration, since: Duration) -> Duration {
    warmup.saturating_sub(since)
}

/// The players a window's figures are per: those the server counted as the window opened
/// (`in_rooms`, at the start and the end), when it says (some may have been refused or
/// dropped), else `asked`. Not the end's count: a load whose window is this one starts leaving
/// as it ends, and the last reading races those leaves (a run read 1,818 of 2,000 players
/// there, all of whom had played the whole window).
fn players_measured(in_rooms: Option<(f64, f64)>, asked: u32) -> f64 {
    in_rooms.map(|(start, _)| start).filter(|p| *p > 0.0).unwrap_or(f64::from(asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_players_are_counted_as_the_window_opens_not_as_the_load_leaves() {
        assert_eq!(players_measured(Some((2000.0, 1818.0)), 2000), 2000.0);
        assert_eq!(players_measured(Some((1990.0, 1990.0)), 2000), 1990.0, "the server's count");
        assert_eq!(players_measured(Some((0.0, 0.0)), 500), 500.0, "no gauge: as asked");
        assert_eq!(players_measured(None, 500), 500.0);
    }

    #[test]
    fn players_are_read_from_a_server_of_either_label_spelling() {
        let now = Scrape::parse("tickwire_clients{role=\"player\"} 32\n# EOF\n");
        let before = Scrape::parse("tickwire_clients{role=\"Player\"} 31\n# EOF\n");
        assert_eq!((players(&now), players(&before)), (Some(32.0), Some(31.0)));
        assert_eq!(players(&Scrape::parse("# EOF\n")), None);
    }

    #[test]
    fn the_warmup_counts_from_when_the_file_was_written() {
        let s = Duration::from_millis;
        assert_eq!(warmup_left(s(3000), s(40)), s(2960));
        assert_eq!(warmup_left(s(3000), s(5000)), Duration::ZERO, "seen late: open at once");
        assert_eq!(warmup_left(s(3000), Duration::ZERO), s(3000));
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        let err = |argv: &[&str]| {
            let mut full = vec!["bench-watch"];
            full.extend_from_slice(argv);
            Args::try_parse_from(full).unwrap_err().to_string()
        };
        assert!(err(&["--players", "10"]).contains("--pid"));
        assert!(err(&["--pid", "1", "--players", "0"]).contains("--players"));
        assert!(err(&["--pid", "1", "--players", "5", "--repeat", "0"]).contains("--repeat"));
        assert!(err(&["--pid", "1", "--players", "5", "--wait-players"]).contains("--metrics"));
        assert!(
            err(&["--pid", "1", "--players", "5", "--metrics", "ws://x"]).contains("--metrics")
        );
        let url = parse_metrics_url("http://127.0.0.1:18090").unwrap();
        assert_eq!(url.path, "/metrics");
    }
}
