//! `tickwire-bots`: parses flags, builds the runtime, runs, prints the report.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use tickwire_bots::cli::{Args, check};

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        e.exit();
    }
    // One current-thread runtime is the cheapest way to drive thousands of mostly idle
    // sockets from one core (BENCHMARKS.md); --threads N spreads them over N workers.
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()
    }
    .context("cannot start the tokio runtime")?;
    let json = args.json.clone();
    let report = runtime.block_on(tickwire_bots::run::run(args, async {
        let _ = tokio::signal::ctrl_c().await;
    }));

    // `--json -` puts the JSON alone on stdout, for a pipe into jq: the table goes to stderr.
    if json.as_ref().is_some_and(|path| path.as_os_str() == "-") {
        eprint!("{}", report.table());
    } else {
        print!("{}", report.table());
    }
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report)?;
        if path.as_os_str() == "-" {
            println!("{text}");
        } else {
            std::fs::write(&path, text + "\n").with_context(|| {
                format!("cannot write the report to {} (--json)", path.display())
            })?;
        }
    }
    std::io::stdout().flush()?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for check in report.checks.iter().filter(|c| !c.ok) {
        eprintln!("check failed: {}: {}", check.name, check.detail);
    }
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
