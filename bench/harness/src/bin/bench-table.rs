//! `bench-table`: the Markdown tables of BENCHMARKS.md from the rows of the bench scripts,
//! and the two small queries the scripts need between runs.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
        /// The rows (one JSON object per line), of one or more runs of the script; ratios
        /// pair only runs of one file.
        #[arg(required = true)]
        rows: Vec<PathBuf>,
        /// The server compared against the others (the left side of each ratio).
        #[arg(long, default_value = "tickwire")]
        subject: String,
    },
    /// The game table of `bench-table game-row` rows.
    Game {
        /// The rows (one JSON object per line), of one or more runs of the script; ratios
        /// pair only runs of one file.
        #[arg(required = true)]
        rows: Vec<PathBuf>,
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

/// A file's text; a missing one says so by name (a bench script's run whose swarm failed
/// writes no rows, and the script's own message about it came before).
fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("{}: no such file", path.display()),
        _ => anyhow::anyhow!("{}: cannot read: {e}", path.display()),
    })
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text = read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

/// Run numbers of a file's rows are shifted by this times the file's place (from 1) when
/// several files are read: run 1 of two invocations of a script ran hours apart, not side by
/// side, and must not be paired.
const RUNS_PER_FILE: u32 = 1000;

/// The rows of every file, each row's run number (through `run`) made unique to its file
/// when there are several: run 2 of the second file becomes 2002.
fn read_files<T: serde::de::DeserializeOwned>(
    paths: &[PathBuf],
    run: impl Fn(&mut T) -> &mut u32,
) -> anyhow::Result<Vec<T>> {
    let mut all = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let mut rows = read_rows::<T>(path)?;
        if paths.len() > 1 {
            let file = u32::try_from(index + 1).ok().filter(|f| *f < u32::MAX / RUNS_PER_FILE);
            for row in &mut rows {
                let number = run(row);
                match file {
                    Some(file) if *number < RUNS_PER_FILE => *number += file * RUNS_PER_FILE,
                    _ => bail!(
                        "{}: run {} with {} row files: runs of several files are kept apart \
                         only up to run {} of at most {} files; pass the file alone",
                        path.display(),
                        number,
                        paths.len(),
                        RUNS_PER_FILE - 1,
                        u32::MAX / RUNS_PER_FILE - 1,
                    ),
                }
            }
        }
        all.extend(rows);
    }
    Ok(all)
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Errors as one line on stderr, exit code 1: the scripts print them between their own lines,
/// where anyhow's `Error: ...` and `Caused by:` block read as a crash.
fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-table: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Fanout { rows, subject } => {
            let rows = read_files(&rows, |r: &mut FanoutRow| &mut r.run)?;
            print!("{}", table::fanout(&rows, &subject));
        }
        Command::Game { rows, baseline } => {
            let baselines: Vec<&str> = baseline.iter().map(String::as_str).collect();
            let rows = read_files(&rows, |r: &mut GameRow| &mut r.server.run)?;
            print!("{}", table::game(&rows, &baselines));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row_file(name: &str, lines: &[serde_json::Value]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("bench-table-{}-{name}", std::process::id()));
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn several_row_files_are_read_with_their_runs_kept_apart() {
        // The documented `bench-table fanout target/bench/fanout-*/rows.jsonl`.
        let args = Args::try_parse_from(["bench-table", "fanout", "a.jsonl", "b.jsonl"]).unwrap();
        assert!(matches!(&args.command, Command::Fanout { rows, .. } if rows.len() == 2));
        let err = Args::try_parse_from(["bench-table", "fanout"]).unwrap_err().to_string();
        assert!(err.contains("<ROWS>"), "{err}");

        let runs = |values: &[u32]| -> Vec<serde_json::Value> {
            values.iter().map(|r| serde_json::json!({ "run": r })).collect()
        };
        let first = row_file("first", &runs(&[1, 2]));
        let second = row_file("second", &runs(&[1]));
        #[derive(serde::Deserialize)]
        struct Run {
            run: u32,
        }
        let read = |paths: &[PathBuf]| {
            read_files(paths, |r: &mut Run| &mut r.run)
                .map(|rows| rows.iter().map(|r| r.run).collect::<Vec<_>>())
        };
        assert_eq!(
            read(std::slice::from_ref(&first)).unwrap(),
            [1, 2],
            "one file: runs as they are"
        );
        assert_eq!(read(&[first.clone(), second.clone()]).unwrap(), [1001, 1002, 2001]);
        let big = row_file("big", &runs(&[1000]));
        let err = read(&[first.clone(), big.clone()]).unwrap_err().to_string();
        assert!(err.contains("run 1000") && err.contains("pass the file alone"), "{err}");
        for path in [first, second, big] {
            let _ = std::fs::remove_file(path);
        }
    }
}
