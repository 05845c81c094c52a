//! `bench-table`: the Markdown tables of BENCHMARKS.md from the rows of the bench scripts,
//! and the two small queries the scripts need between runs.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use tickwire_bench::game::{GameRow, LoadSummary, ServerWindow};
use tickwire_bench::stats::FanoutRow;
use tickwire_bench::table;

/// Tables of medians and ratios from bench rows (JSON lines).
#[derive(Debug, Parser)]
#[command(name = "bench-table", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The fan-out table of `bench-swarm --json` rows.
    Fanout {
        /// The rows (one JSON object per line).
        rows: PathBuf,
        /// The server compared against the others.
        #[arg(long, default_value = "tickwire")]
        subject: String,
    },
    /// The game table of `bench-table game-row` rows.
    Game {
        /// The rows (one JSON object per line).
        rows: PathBuf,
        /// A run that ratios are taken against (repeat for several tables).
        #[arg(long, default_values = ["tickwire-full", "colyseus"])]
        baseline: Vec<String>,
    },
    /// Prints one game row (JSON) from `bench-watch --json` and the load generator's report.
    GameRow {
        /// `bench-watch --json` output.
        #[arg(long)]
        watch: PathBuf,
        /// `tickwire-bots --json` report (or the Colyseus driver's).
        #[arg(long)]
        load: PathBuf,
    },
    /// Prints the mean frame payload of one swarm run, rounded to whole bytes (the size the
    /// reference servers then broadcast).
    Payload {
        /// The rows (one JSON object per line).
        rows: PathBuf,
        /// Server label.
        #[arg(long, default_value = "tickwire")]
        label: String,
        /// Client count.
        #[arg(long)]
        clients: u32,
        /// Run number.
        #[arg(long)]
        run: u32,
    },
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Fanout { rows, subject } => {
            print!("{}", table::fanout(&read_rows::<FanoutRow>(&rows)?, &subject));
        }
        Command::Game { rows, baseline } => {
            let baselines: Vec<&str> = baseline.iter().map(String::as_str).collect();
            print!("{}", table::game(&read_rows::<GameRow>(&rows)?, &baselines));
        }
        Command::GameRow { watch, load } => {
            let server: ServerWindow = serde_json::from_value(read_json(&watch)?)
                .with_context(|| format!("--watch {}", watch.display()))?;
            let load = LoadSummary::from_report(&read_json(&load)?)
                .map_err(|e| anyhow::anyhow!("--load {}: {e}", load.display()))?;
            println!("{}", serde_json::to_string(&GameRow { server, load })?);
        }
        Command::Payload { rows, label, clients, run } => {
            let rows = read_rows::<FanoutRow>(&rows)?;
            let row =
                rows.iter().find(|r| r.label == label && r.clients == clients && r.run == run);
            match row.and_then(|r| r.payload_bytes) {
                Some(bytes) => println!("{}", bytes.round().max(4.0) as u64),
                None => bail!("no frames of {label} with {clients} clients in run {run}"),
            }
        }
    }
    Ok(())
}
