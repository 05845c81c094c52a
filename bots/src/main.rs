//! `tickwire-bots`: parses flags, builds the runtime, runs, prints the report.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tickwire_bots::cli::{Args, check, raise_open_files_limit};
use tickwire_bots::report::Report;
use tickwire_bots::run::{on_interrupts, run};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    raise_open_files_limit();
    if let Err(e) = check(&args) {
        e.exit();
    }
    // Opened now, so a path that cannot be written is refused before a run of minutes, not
    // after it. An earlier report is emptied now, not kept until this one replaces it: a run
    // that ends without a report (a second interrupt, a kill, a crash) would leave it to pass
    // for this run's. Only a regular file is cut: a pipe, /dev/stdout or /dev/full holds no
    // report, and cutting what stands behind /dev/stdout would cut the caller's log (hence
    // no truncate(true) in the open).
    let json_file = match args.json.as_deref().filter(|path| path.as_os_str() != "-") {
        Some(path) => {
            let opened = OpenOptions::new().write(true).create(true).truncate(false).open(path);
            let emptied = opened.and_then(|file| {
                if file.metadata()?.is_file() {
                    file.set_len(0)?;
                }
                Ok(file)
            });
            match emptied {
                Ok(file) => Some(file),
                Err(e) => Args::command()
                    .error(
                        clap::error::ErrorKind::Io,
                        format!("--json {}: cannot write the report there: {e}", path.display()),
                    )
                    .exit(),
            }
        }
        None => None,
    };
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
    let json_to_stdout = args.json.as_ref().is_some_and(|path| path.as_os_str() == "-");
    let json_path = args.json.clone();
    let interrupted = CancellationToken::new();
    let first = interrupted.clone();
    // Installed before the run starts: a signal that came before its handler would still end
    // the process.
    let signals = {
        let _runtime = runtime.enter();
        interrupts()
    };
    runtime.spawn(on_interrupts(
        move || {
            let signals = signals.clone();
            async move { signals.notified().await }
        },
        move || {
            eprintln!(
                "\ninterrupted: the bots are leaving (Ctrl-C or SIGTERM again to quit at once)"
            );
            first.cancel();
        },
        || {
            eprintln!("\ninterrupted again: quitting without a report");
            std::process::exit(130);
        },
    ));
    let report = runtime.block_on(run(args, interrupted.cancelled_owned()));

    // `--json -` puts the JSON alone on stdout, for a pipe into jq: the table goes to stderr.
    if json_to_stdout {
        eprint!("{}", report.table());
    } else {
        print!("{}", report.table());
    }
    // Held until the verdict is printed: a report that cannot be written still says what
    // failed.
    let written = write_json(&report, json_to_stdout, json_file).and_then(|()| {
        std::io::stdout().flush().context("cannot write the report to standard output")
    });
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    for check in report.checks.iter().filter(|c| !c.ok) {
        eprintln!("check failed: {}: {}", check.name, check.detail);
    }
    written.with_context(|| match &json_path {
        Some(path) => format!("the report was not written (--json {})", path.display()),
        None => "the report was not written".into(),
    })?;
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Ctrl-C and, on Unix, SIGTERM, each a notification: a process manager, `timeout` or `kill`
/// stops a run with SIGTERM, and a run so stopped must still leave and report, as after
/// Ctrl-C. Needs the runtime entered. Where a handler cannot be installed its signal keeps
/// its default action, ending the process: no interrupt to report, and none to invent.
fn interrupts() -> Arc<Notify> {
    let notify = Arc::new(Notify::new());
    let to = notify.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn recv(signal: &mut Option<Signal>) -> Option<()> {
            signal.as_mut()?.recv().await
        }
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = recv(&mut int) => {}
                    Some(()) = recv(&mut term) => {}
                    else => return,
                }
                // Kept until the watcher waits for it: a signal is never lost in between.
                to.notify_one();
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            to.notify_one();
        }
    });
    notify
}

/// Writes the JSON report to standard output or to `file` (the `--json` file, opened before
/// the run).
fn write_json(report: &Report, to_stdout: bool, file: Option<File>) -> anyhow::Result<()> {
    if !to_stdout && file.is_none() {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(report)?;
    if to_stdout {
        println!("{text}");
    }
    if let Some(mut file) = file {
        // Only a regular file holds an earlier report (a pipe or /dev/stdout cannot be cut).
        if file.metadata()?.is_file() {
            file.set_len(0)?;
        }
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.flush()?;
    }
    Ok(())
}
