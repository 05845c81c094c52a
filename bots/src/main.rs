//! `tickwire-bots`: parses flags, builds the runtime, runs, prints the report.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use tickwire_bots::cli::{Args, check};
use tickwire_bots::run::{on_interrupts, run};
use tokio_util::sync::CancellationToken;

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
    let interrupted = CancellationToken::new();
    let first = interrupted.clone();
    runtime.spawn(on_interrupts(
        // Where no handler could be installed Ctrl-C still ends the process: no interrupt to
        // report, and none to invent.
        || async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
        move || {
            eprintln!("\ninterrupted: the bots are leaving (Ctrl-C again to quit at once)");
            first.cancel();
        },
        || {
            eprintln!("\ninterrupted again: quitting without a report");
            std::process::exit(130);
        },
    ));
    let report = runtime.block_on(run(args, interrupted.cancelled_owned()));

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
