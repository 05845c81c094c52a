//! `tickwire-bots`: parses flags, builds the runtime, runs, prints the report.

use anyhow::Context;
use clap::{CommandFactory, Parser};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tickwire_bots::cli::{Args, check, raise_open_files_limit};
use tickwire_bots::report::Report;
use tickwire_bots::run::{on_interrupts, run};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<ExitCode> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = match Args::try_parse_from(&argv) {
        Ok(args) => args,
        Err(e) => {
            // A refused command line runs nothing, so an earlier report at its --json path
            // would pass for this run's: emptied first (--help and --version refuse nothing).
            if e.use_stderr()
                && let Some(path) = json_path_in(&argv)
            {
                empty_earlier_report(&path);
            }
            e.exit();
        }
    };
    raise_open_files_limit();
    let json_path = args.json.as_deref().filter(|path| path.as_os_str() != "-");
    if let Some(path) = json_path {
        empty_earlier_report(path);
    }
    if let Err(e) = check(&args) {
        e.exit();
    }
    // Opened now, so a path that cannot be written is refused before a run of minutes, not
    // after it (yet after the other checks: a flag typed wrong is named first).
    let json_file = json_path.map(|path| match open_json(path) {
        Ok(file) => file,
        Err(e) => Args::command()
            .error(
                clap::error::ErrorKind::Io,
                format!("--json {}: cannot write the report there: {e}", path.display()),
            )
            .exit(),
    });
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
    let last = signals.clone();
    runtime.spawn(on_interrupts(
        move || {
            let signals = signals.clone();
            async move { signals.notify.notified().await }
        },
        move || {
            eprintln!(
                "\ninterrupted: the bots are leaving (Ctrl-C or SIGTERM again to quit at once)"
            );
            first.cancel();
        },
        move || {
            eprintln!("\ninterrupted again: quitting without a report");
            std::process::exit(last.exit_code.load(Ordering::SeqCst));
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
    for hint in &report.hints {
        eprintln!("hint: {hint}");
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

/// The interrupts so far: a notification for each, and the exit code that the last one
/// would end the process with.
struct Interrupts {
    notify: Notify,
    /// 128 + the signal's number, as a shell reports a process it ended: 130 after Ctrl-C
    /// (SIGINT), 143 after SIGTERM.
    exit_code: AtomicI32,
}

/// Ctrl-C and, on Unix, SIGTERM, each a notification: a process manager, `timeout` or `kill`
/// stops a run with SIGTERM, and a run so stopped must still leave and report, as after
/// Ctrl-C. Needs the runtime entered. Where a handler cannot be installed its signal keeps
/// its default action, ending the process: no interrupt to report, and none to invent.
fn interrupts() -> Arc<Interrupts> {
    let notify = Arc::new(Interrupts { notify: Notify::new(), exit_code: AtomicI32::new(130) });
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
                let exit_code = tokio::select! {
                    Some(()) = recv(&mut int) => 130,
                    Some(()) = recv(&mut term) => 143,
                    else => return,
                };
                to.exit_code.store(exit_code, Ordering::SeqCst);
                // Kept until the watcher waits for it: a signal is never lost in between.
                to.notify.notify_one();
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            to.notify.notify_one();
        }
    });
    notify
}

/// Empties a report an earlier run left at the `--json` path, before the command line is
/// checked: a command line then refused runs nothing, and the earlier report, kept, would
/// pass for this run's. Only an existing regular file that is not standard output's or
/// error's, as [`open_json`] decides; nothing is created, and a path it cannot open is left
/// for [`open_json`] to name.
fn empty_earlier_report(path: &Path) {
    // Looked at before it is opened: opening a FIFO to write waits for a reader.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return;
    }
    if let Ok(file) = OpenOptions::new().write(true).open(path)
        && matches!(std_stream_of(&file), Ok(None))
    {
        let _ = file.set_len(0);
    }
}

/// Opens the `--json` file and empties it. An earlier report is emptied now, not kept until
/// this one replaces it: a run that ends without a report (a second interrupt, a kill, a
/// crash) would leave it to pass for this run's. Only a regular file of the report's own is
/// cut: a pipe or /dev/full holds no report, and the file behind standard output or error
/// (`--json /dev/stdout` with `>> run.log`) is the caller's log (hence no truncate(true) in
/// the open).
fn open_json(path: &Path) -> std::io::Result<JsonFile> {
    let file = OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
    let json = match std_stream_of(&file)? {
        // Written through the stream's own descriptor: where the stream writes (after the
        // table, appending if it appends), not over the log's start from the offset 0 of a
        // file opened anew.
        Some(stream) => JsonFile { file: stream, own: false },
        None => JsonFile { own: file.metadata()?.is_file(), file },
    };
    if json.own {
        json.file.set_len(0)?;
    }
    Ok(json)
}

/// The `--json` path of a command line clap refused, read as clap reads it (`--json PATH` or
/// `--json=PATH`, before a `--`); `None` for `-` (standard output) or without one.
fn json_path_in(argv: &[OsString]) -> Option<PathBuf> {
    let mut path = None;
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--json" {
            path = args.next().map(PathBuf::from);
        } else if let Some(value) = text.strip_prefix("--json=") {
            path = Some(PathBuf::from(value));
        }
    }
    path.filter(|p| p.as_os_str() != "-")
}

/// The `--json` file, opened before the run.
struct JsonFile {
    file: File,
    /// A regular file that is not standard output's or error's: it holds the report alone,
    /// and is emptied before it is written.
    own: bool,
}

/// A descriptor of standard output or error when `file` is the file behind it (`--json
/// /dev/stdout`, or the very log that standard output goes to): the same device and inode.
#[cfg(unix)]
fn std_stream_of(file: &File) -> std::io::Result<Option<File>> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let opened = file.metadata()?;
    let streams = [
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ];
    // A stream that is closed, or cannot be duplicated, is not the file.
    for stream in streams.into_iter().flatten().map(File::from) {
        if stream.metadata().is_ok_and(|m| (m.dev(), m.ino()) == (opened.dev(), opened.ino())) {
            return Ok(Some(stream));
        }
    }
    Ok(None)
}

#[cfg(not(unix))]
fn std_stream_of(_file: &File) -> std::io::Result<Option<File>> {
    Ok(None)
}

/// Writes the JSON report to standard output or to `file` (the `--json` file, opened before
/// the run).
fn write_json(report: &Report, to_stdout: bool, file: Option<JsonFile>) -> anyhow::Result<()> {
    if !to_stdout && file.is_none() {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(report)?;
    if to_stdout {
        println!("{text}");
    }
    if let Some(JsonFile { mut file, own }) = file {
        // The table first, should the file be standard output's.
        std::io::stdout().flush()?;
        // Only the report's own file holds an earlier report.
        if own {
            file.set_len(0)?;
        }
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_path_of_a_refused_command_line_is_found_as_clap_reads_it() {
        let argv = |args: &[&str]| -> Vec<OsString> {
            std::iter::once("tickwire-bots").chain(args.iter().copied()).map(Into::into).collect()
        };
        let path = |args: &[&str]| json_path_in(&argv(args));
        assert_eq!(path(&["--bots", "0", "--json", "r.json"]), Some("r.json".into()));
        assert_eq!(path(&["--json=r.json", "--server-pid", "x"]), Some("r.json".into()));
        assert_eq!(path(&["--json", "-", "--bots", "0"]), None, "standard output");
        assert_eq!(path(&["--bots", "0"]), None);
        assert_eq!(path(&["--", "--json", "r.json"]), None);
    }

    /// A second interrupt quits with the exit code a shell gives a process that its signal
    /// ended: 143 for SIGTERM, 130 for Ctrl-C.
    #[cfg(unix)]
    #[tokio::test]
    async fn each_interrupt_is_told_by_the_exit_code_of_its_signal() {
        let signals = interrupts();
        for (signal, exit_code) in [("-TERM", 143), ("-INT", 130), ("-TERM", 143)] {
            let sent = std::process::Command::new("kill")
                .args([signal, &std::process::id().to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success());
            // A bound, not a timing: the signal arrives in microseconds.
            tokio::time::timeout(std::time::Duration::from_secs(60), signals.notify.notified())
                .await
                .expect("the signal was caught");
            assert_eq!(signals.exit_code.load(Ordering::SeqCst), exit_code, "{signal}");
        }
    }
}
