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
use tickwire_bots::cli::{Args, check, raise_open_files_limit, read_files};
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
    let json_path = args.json.clone().filter(|path| path.as_os_str() != "-");
    let json_path = json_path.as_deref();
    if let Some(path) = json_path {
        empty_earlier_report(path);
    }
    if let Err(e) = check(&args) {
        e.exit();
    }
    let args = read_files(args).unwrap_or_else(|e| e.exit());
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
        // Not eprintln!, which panics when standard error is a pipe the same Ctrl-C closed
        // (`2>&1 | tee log`): the run would never be told to stop.
        move || {
            let _ = print_to(
                &mut std::io::stderr(),
                "\ninterrupted: the bots are leaving (Ctrl-C or SIGTERM again to quit at once)\n",
            );
            first.cancel();
        },
        move || {
            let _ = print_to(
                &mut std::io::stderr(),
                "\ninterrupted again: quitting without a report\n",
            );
            std::process::exit(last.exit_code.load(Ordering::SeqCst));
        },
    ));
    let report = runtime.block_on(run(args, interrupted.cancelled_owned()));
    let written = write_report(&report, json_to_stdout, json_file);
    // Held until the verdict is printed: a report that cannot be written still says what
    // failed. Standard error may be gone too; nothing is left to tell then.
    let mut verdict = String::new();
    for warning in &report.warnings {
        verdict += &format!("warning: {warning}\n");
    }
    for hint in &report.hints {
        verdict += &format!("hint: {hint}\n");
    }
    for check in report.checks.iter().filter(|c| !c.ok) {
        verdict += &format!("check failed: {}: {}\n", check.name, check.detail);
    }
    let _ = print_to(&mut std::io::stderr(), &verdict);
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
        Some(stream) => JsonFile { file: stream, own: false, stream: true },
        None => JsonFile { own: file.metadata()?.is_file(), file, stream: false },
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
    /// Standard output's or error's own file (a descriptor of the stream): written after
    /// the table.
    stream: bool,
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

/// Writes the report: the JSON to the `--json` file (opened before the run) first, then the
/// table to standard output (standard error with `--json -`, whose JSON goes to standard
/// output alone, for a pipe into jq). The file first: Ctrl-C on `tickwire-bots ... | tee
/// log` reaches tee too, and the table then has nobody to read it, which must not cost the
/// JSON. The table is written to whoever still reads ([`print_to`]). A `--json` file that is
/// standard output's own (`--json /dev/stdout`) comes after the table, as it would on a
/// terminal.
fn write_report(
    report: &Report,
    json_to_stdout: bool,
    file: Option<JsonFile>,
) -> anyhow::Result<()> {
    let json = (json_to_stdout || file.is_some())
        .then(|| serde_json::to_string_pretty(report).map(|text| text + "\n"))
        .transpose()?;
    let (first, after_table) = match file {
        Some(file) if file.stream => (None, Some(file)),
        file => (file, None),
    };
    let to_file = |file: Option<JsonFile>| match (file, &json) {
        (Some(file), Some(json)) => write_json_file(file, json),
        _ => Ok(()),
    };
    let written = to_file(first);
    let table = report.table();
    let printed = if json_to_stdout {
        print_to(&mut std::io::stderr(), &table)
            .and_then(|()| print_to(&mut std::io::stdout(), json.as_deref().unwrap_or_default()))
    } else {
        print_to(&mut std::io::stdout(), &table)
    };
    written?;
    printed.context("cannot write the report to standard output")?;
    to_file(after_table)
}

/// Writes `text` to `out` (standard output or error) and flushes it. A reader that is gone
/// is no error: `| tee log` or `| head`, which the same Ctrl-C ended, or a reader that
/// closed early. Nobody reads, and the JSON file and the exit code still say what the run
/// found; print! would panic (exit 101) instead. Any other failure (a full disk) is one.
fn print_to(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes the JSON report to the `--json` file.
fn write_json_file(JsonFile { mut file, own, .. }: JsonFile, json: &str) -> anyhow::Result<()> {
    // Only the report's own file holds an earlier report.
    if own {
        file.set_len(0)?;
    }
    file.write_all(json.as_bytes())?;
    file.flush()?;
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

    /// A writer whose reader is gone, or whose disk is full.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(self.0.into())
        }
    }

    #[test]
    fn a_report_nobody_reads_any_more_is_no_error_and_a_full_disk_is() {
        assert!(print_to(&mut Failing(std::io::ErrorKind::BrokenPipe), "table\n").is_ok());
        let full = print_to(&mut Failing(std::io::ErrorKind::StorageFull), "table\n");
        assert_eq!(full.unwrap_err().kind(), std::io::ErrorKind::StorageFull);
        let mut out = Vec::new();
        print_to(&mut out, "table\n").unwrap();
        assert_eq!(out, b"table\n");
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
