//! A whole run: the ramp, the warm-up, the measurement window, the leave, and the
//! [`Report`]; with live progress on stderr and the CPU and memory read from `/proc`.

use crate::bot::{Shared, run_bot};
use crate::cli::{Args, BotRole};
use crate::report::{
    BotsInfo, Bytes, FramesInfo, InputsInfo, Phase, Report, Resources, RunInfo, ServerGone,
    Thresholds,
};
use crate::stats::{Counters, fps_summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::task::{JoinError, JoinSet};

/// Time every bot has to join once started: the client's connect plus join timeouts.
const JOIN_PATIENCE: Duration = Duration::from_secs(16);
/// Time every bot has to leave once stopped: the client's close timeout, plus slack.
const LEAVE_PATIENCE: Duration = Duration::from_secs(5);

/// Runs the bots `args` describes and returns the report (checks evaluated). `interrupt`
/// resolving (Ctrl-C) ends the ramp or the window early.
pub async fn run(args: Args, interrupt: impl Future<Output = ()>) -> Report {
    run_with(args, interrupt, Engine::start).await
}

/// [`run`], with the engine from `start_engine` (tests make it fail).
async fn run_with(
    args: Args,
    interrupt: impl Future<Output = ()>,
    start_engine: impl FnOnce(&Arc<Shared>) -> io::Result<Engine>,
) -> Report {
    tokio::pin!(interrupt);
    let thresholds = Thresholds::of(&args);
    let shared = Arc::new(Shared::new(args));
    let args = &shared.args;
    let rss_before = proc_stat::rss_kib(None);
    let progress = Progress::start(shared.clone());
    let server_watch = args.server_pid.map(|pid| tokio::spawn(watch_server(shared.clone(), pid)));

    // Ramp: start bots at the asked rate, then wait until each joined or failed.
    let ramp_start = Instant::now();
    let mut bots = JoinSet::new();
    let mut cut: Option<(Cut, Phase)> = None;
    let mut engine = match start_engine(&shared) {
        Ok(engine) => Some(engine),
        // The command line checked that a ring can be set up; this one could not (out of
        // locked memory?): no bot can run, so there is no ramp or window to wait through.
        Err(e) => {
            let bots = u64::from(args.bots);
            *shared.recorder().failures.entry(format!("io-uring-setup: {e}")).or_default() += bots;
            Counters::add(&shared.counters.started, bots);
            Counters::add(&shared.counters.failed, bots);
            None
        }
    };
    if let Some(engine) = &mut engine {
        for index in 0..args.bots {
            let at = ramp_start + Duration::from_secs_f64(f64::from(index) / args.ramp);
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = &mut interrupt => { cut = Some((Cut::Interrupted, Phase::Ramp)); break; }
            }
            engine.spawn(&mut bots, &shared, index);
        }
        engine.ramp_over();
        let settle_until = Instant::now() + JOIN_PATIENCE;
        while cut.is_none() && Instant::now() < settle_until {
            let c = &shared.counters;
            if still_joining(c) == 0 && Counters::get(&c.started) == u64::from(args.bots) {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = &mut interrupt => cut = Some((Cut::Interrupted, Phase::Ramp)),
            }
        }
        // Every bot failed to join (a server that is down, a wrong URL) or joined and dropped
        // already: no warm-up or window to wait through for nobody.
        if cut.is_none() && bots_alive(&shared.counters) == 0 {
            cut = Some((Cut::NoBotLeft, Phase::Ramp));
        }
    }
    let ramp_s = ramp_start.elapsed().as_secs_f64();

    // The window, unless the ramp was cut short: figures over a window of microseconds would
    // be noise divided by almost nothing.
    let at_start = if engine.is_some() && cut.is_none() {
        let stop = stopped(&mut interrupt, &shared);
        tokio::pin!(stop);
        match open_window(&shared, &mut stop).await {
            Ok(opened) => Some(opened),
            Err(why) => {
                cut = Some((why, Phase::Warmup));
                None
            }
        }
    } else {
        None
    };
    if at_start.is_some() {
        let stop = stopped(&mut interrupt, &shared);
        tokio::pin!(stop);
        tokio::select! {
            () = tokio::time::sleep(args.duration) => {}
            why = &mut stop => cut = Some((why, Phase::Window)),
        }
    }
    let at_end = Snapshot::take(&shared);
    let _ = shared.window_end.set(Instant::now());
    if let Some(watch) = server_watch {
        watch.abort();
    }
    // The watcher looks every WATCH_SERVER: a process gone since is seen here.
    if at_end.server_gone {
        let _ = shared.server_gone.set(at_end.at);
    }

    // Everyone leaves with a close frame; stragglers are dropped after the patience.
    shared.stop.cancel();
    let mut panics = BTreeMap::new();
    let _ = tokio::time::timeout(LEAVE_PATIENCE, async {
        while let Some(ended) = bots.join_next().await {
            count_panic(&mut panics, ended);
        }
    })
    .await;
    bots.abort_all();
    // Aborted at an await, these end at once; one that panicked before says so here.
    while let Some(ended) = bots.join_next().await {
        count_panic(&mut panics, ended);
    }
    if let Some(engine) = engine
        && let Some(panic) = engine.finish(LEAVE_PATIENCE).await
    {
        *panics.entry(format!("the io_uring thread: {panic}")).or_default() += 1;
    }
    progress.finish();
    shared.recorder().panics.append(&mut panics);

    let phases = Phases { ramp_start, ramp_end: ramp_start + Duration::from_secs_f64(ramp_s) };
    let mut report = build(&shared, ramp_s, rss_before, at_start.as_ref(), &at_end, &phases);
    report.run.interrupted = matches!(cut, Some((Cut::Interrupted, _)));
    report.run.interrupted_in = cut.filter(|(why, _)| *why == Cut::Interrupted).map(|(_, p)| p);
    report.run.no_bot_left_in = cut.filter(|(why, _)| *why == Cut::NoBotLeft).map(|(_, p)| p);
    report.evaluate(thresholds);
    report
}

/// What ended a phase of the run before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// Every bot had failed to join or dropped: nobody was left to measure anything.
    NoBotLeft,
}

/// Resolves when `interrupt` does, or when no bot is left ([`bots_alive`]).
async fn stopped(interrupt: &mut (impl Future<Output = ()> + Unpin), shared: &Shared) -> Cut {
    tokio::select! {
        // An interrupt is the report's first word: Ctrl-C in a script stops the server too,
        // and its bots then drop at the same moment.
        biased;
        () = interrupt => Cut::Interrupted,
        () = no_bot_left(shared) => Cut::NoBotLeft,
    }
}

/// Bots joined now or still joining. Bots never reconnect (refusals and drops are reported,
/// not retried), so once this reaches 0 it stays there.
fn bots_alive(c: &Counters) -> u64 {
    Counters::get(&c.connected) + still_joining(c)
}

/// Bots started that have not yet joined, failed or dropped.
fn still_joining(c: &Counters) -> u64 {
    let settled =
        Counters::get(&c.connected) + Counters::get(&c.failed) + Counters::get(&c.dropped);
    Counters::get(&c.started).saturating_sub(settled)
}

/// Resolves once no bot is alive. A look every 20 ms, as the ramp's: what it costs a window
/// of figures is at most that much time with nobody in it.
async fn no_bot_left(shared: &Shared) {
    while bots_alive(&shared.counters) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How often the `--server-pid` process is looked for.
const WATCH_SERVER: Duration = Duration::from_millis(100);

/// Notes in [`Shared::server_gone`] when the `--server-pid` process exits: its CPU and memory
/// then read as nothing, and the report says why, and from when.
async fn watch_server(shared: Arc<Shared>, pid: u32) {
    let mut every = tokio::time::interval(WATCH_SERVER);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        if !proc_stat::alive(pid) {
            let _ = shared.server_gone.set(Instant::now());
            return;
        }
    }
}

/// When the phases before the window began and ended.
struct Phases {
    ramp_start: Instant,
    ramp_end: Instant,
}

/// Counts a bot task that panicked, by its message (a task aborted after the leave
/// patience is no panic).
fn count_panic(panics: &mut BTreeMap<String, u64>, ended: Result<(), JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        let message = panic_message(e.into_panic());
        *panics.entry(format!("a bot task: {message}")).or_default() += 1;
    }
}

/// What a panic said (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "a panic without a message".into(),
        },
    }
}

/// Once the ramp is over: writes `--ready-file`, lets `--warmup` pass and opens the window,
/// returning what it starts from; what `stop` resolved to when it came first (no window
/// then, and the ready file is taken back: a watcher that has not seen it yet would wait
/// through a window that never runs).
async fn open_window<T>(
    shared: &Shared,
    stop: &mut (impl Future<Output = T> + Unpin),
) -> Result<Snapshot, T> {
    let args = &shared.args;
    if let Some(path) = &args.ready_file {
        let joined = shared.recorder().connect.len();
        // The run is still worth its report without it; the watcher then says it waited.
        if let Err(e) = std::fs::write(path, format!("{joined}\n")) {
            let path = path.display();
            say(format_args!("tickwire-bots: --ready-file {path}: cannot write it: {e}"));
        }
    }
    if !args.warmup.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(args.warmup) => {}
            why = &mut *stop => {
                if let Some(path) = &args.ready_file
                    && let Err(e) = std::fs::remove_file(path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    let path = path.display();
                    say(format_args!("tickwire-bots: --ready-file {path}: cannot remove it: {e}"));
                }
                return Err(why);
            }
        }
    }
    let _ = shared.window_start.set(Instant::now());
    Ok(Snapshot::take(shared))
}

/// A line on standard error, where eprintln! would panic: Ctrl-C on `tickwire-bots 2>&1 |
/// tee log` ends tee too, and a run that panics then loses its report.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(io::stderr(), "{line}");
}

/// Ctrl-C for the binary: the first `signal` calls `first` (which ends the run's ramp or
/// window; every bot then leaves, which can take seconds against a stuck server), a second
/// one calls `second`, for whoever cannot wait for that.
pub async fn on_interrupts<F: Future<Output = ()>>(
    mut signal: impl FnMut() -> F,
    first: impl FnOnce(),
    second: impl FnOnce(),
) {
    signal().await;
    first();
    signal().await;
    second();
}

/// One bot's task, spawned on the runtime.
type BotTask = fn(Arc<Shared>, u32) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// What drives the bots: a tokio task each, or (`--io-uring`) the ring thread, to which a
/// task per bot hands its connection once upgraded.
enum Engine {
    /// Each bot runs as `bot` (`run_bot`, or a stand-in in tests).
    Tasks(BotTask),
    /// `to_ring` is dropped when the ramp is over: the thread ends once every task's clone
    /// is gone too and the last bot has left.
    #[cfg(target_os = "linux")]
    Ring {
        engine: crate::uring::Engine,
        to_ring: Option<std::sync::mpsc::Sender<crate::uring::Connected>>,
    },
}

impl Engine {
    fn start(shared: &Arc<Shared>) -> io::Result<Engine> {
        if !shared.args.io_uring {
            return Ok(Engine::Tasks(|shared, index| Box::pin(run_bot(shared, index))));
        }
        #[cfg(target_os = "linux")]
        {
            let (engine, to_ring) = crate::uring::Engine::start(shared.clone())?;
            Ok(Engine::Ring { engine, to_ring: Some(to_ring) })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Engine::Tasks(|shared, index| Box::pin(run_bot(shared, index))))
    }

    fn spawn(&mut self, bots: &mut JoinSet<()>, shared: &Arc<Shared>, index: u32) {
        match self {
            Engine::Tasks(bot) => {
                bots.spawn(bot(shared.clone(), index));
            }
            #[cfg(target_os = "linux")]
            Engine::Ring { to_ring, .. } => {
                if let Some(to_ring) = to_ring {
                    Counters::add(&shared.counters.started, 1);
                    bots.spawn(crate::uring::connect(shared.clone(), index, to_ring.clone()));
                }
            }
        }
    }

    /// No more bots will start.
    fn ramp_over(&mut self) {
        #[cfg(target_os = "linux")]
        if let Engine::Ring { to_ring, .. } = self {
            *to_ring = None;
        }
    }

    /// Waits (at most `patience`) for the ring thread's bots to leave; what the thread's
    /// panic said, if it panicked.
    async fn finish(self, patience: Duration) -> Option<String> {
        #[cfg(target_os = "linux")]
        if let Engine::Ring { engine, .. } = self {
            return engine.finish(patience).await;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (self, patience);
        None
    }
}

/// Counters and resources at one instant.
struct Snapshot {
    at: Instant,
    bytes_in: u64,
    bytes_out: u64,
    connected: u64,
    cpu_s: Option<f64>,
    server_cpu_s: Option<f64>,
    waits: Option<proc_stat::ThreadWaits>,
    server_waits: Option<proc_stat::ThreadWaits>,
    rss_kib: Option<u64>,
    server_rss_kib: Option<u64>,
    /// The `--server-pid` process has exited.
    server_gone: bool,
}

impl Snapshot {
    fn take(shared: &Shared) -> Snapshot {
        let c = &shared.counters;
        let server = shared.args.server_pid;
        Snapshot {
            at: Instant::now(),
            bytes_in: Counters::get(&c.bytes_in),
            bytes_out: Counters::get(&c.bytes_out),
            connected: Counters::get(&c.connected),
            cpu_s: proc_stat::cpu_seconds(None),
            server_cpu_s: server.and_then(|pid| proc_stat::cpu_seconds(Some(pid))),
            waits: proc_stat::runqueue_waits(None),
            server_waits: server.and_then(|pid| proc_stat::runqueue_waits(Some(pid))),
            rss_kib: proc_stat::rss_kib(None),
            server_rss_kib: server.and_then(|pid| proc_stat::rss_kib(Some(pid))),
            server_gone: server.is_some_and(|pid| !proc_stat::alive(pid)),
        }
    }
}

/// Least CPU time over a window that its figures are given for: ten of the 10 ms steps in
/// which `/proc` counts it. Below it the reading's own step is more than a tenth of it (a
/// bots process that used 5 ms reads 0 or 10 ms), and a CPU per frame from it would be a
/// figure of the clock's resolution, not of the bots.
pub const CPU_MIN_S: f64 = 0.1;

/// The report of a run whose window opened at `start` (`None`: it never opened) and closed
/// at `end`.
fn build(
    shared: &Shared,
    ramp_s: f64,
    rss_before: Option<u64>,
    start: Option<&Snapshot>,
    end: &Snapshot,
    phases: &Phases,
) -> Report {
    let args = &shared.args;
    let recorder = shared.recorder();
    let c = &shared.counters;
    let window = start.map(|start| end.at - start.at);
    let secs = window.map(|w| w.as_secs_f64());
    let tick_rate = shared.tick_rate.load(Ordering::Relaxed);
    // Counted by each bot, as its window's frames and its time in the window are: the two
    // sides of the delivered share over one interval (a global count read at the window's
    // two instants would take in a frame a bot read on another thread just before the
    // window opened).
    let received = start.map_or(0, |_| recorder.window_frames_received);
    // The bots present, not those asked for: bots refused at the ramp are "every bot joined"'s
    // to report, and counted here they would halve a perfect delivery.
    // One frame per tick each bot was joined in the window (bots that dropped or joined
    // during it for the time they were there: a server killed at a window's end delivered a
    // whole window's frames to bots no longer there at its end), and per tick its frames
    // spanned beyond that: received frames are what the bots read between the window's two
    // instants, and are held to the ticks they came from, never more than one a tick
    // ([`WindowFrames::seconds`]).
    let expected = start.filter(|_| args.role.gets_snapshots() && tick_rate > 0).map(|_| {
        (f64::from(tick_rate) * recorder.window_bot_seconds + recorder.window_ticks_beyond).round()
            as u64
    });
    let joined = recorder.connect.len();
    // Over the window only: each reading at its start and its end, none without a window.
    let over_window = |get: fn(&Snapshot) -> Option<f64>| {
        start.zip(secs).and_then(|(start, secs)| Some((get(end)? - get(start)?, secs)))
    };
    // CPU seconds over the window, and in percent of one core once there is enough of them
    // to tell (`CPU_MIN_S`).
    let cpu_s = |get: fn(&Snapshot) -> Option<f64>| over_window(get).map(|(used, _)| used.max(0.0));
    let percent = |get: fn(&Snapshot) -> Option<f64>| {
        over_window(get)
            .filter(|(used, _)| *used >= CPU_MIN_S)
            .map(|(used, secs)| used / secs.max(1e-9) * 100.0)
    };
    // The most held-back thread's share of the window, not the threads' sum: eight bots
    // threads taking turns on one core summed to 700%. At most 100: the two readings are not
    // taken at the window's very instants.
    let wait_percent = |get: fn(&Snapshot) -> Option<&proc_stat::ThreadWaits>| {
        start.zip(secs).and_then(|(start, secs)| {
            let waited = proc_stat::longest_wait_between(get(start)?, get(end)?);
            Some((waited / secs.max(1e-9) * 100.0).min(100.0))
        })
    };
    // Controllers get feedback on change, not a frame per tick: no cost per frame to scale.
    let bots_cpu_us_per_frame = over_window(|s| s.cpu_s)
        .filter(|(used, _)| args.role.gets_snapshots() && received > 0 && *used >= CPU_MIN_S)
        .map(|(cpu_s, _)| cpu_s * 1e6 / received as f64);
    // Only a process gone by the window's end: one that exits during the leave took nothing
    // from the figures.
    let server_gone = args
        .server_pid
        .zip(shared.server_gone.get().filter(|at| **at <= end.at))
        .map(|(pid, &at)| {
            let (phase, since) = match start {
                Some(start) if at >= start.at => (Phase::Window, start.at),
                _ if at >= phases.ramp_end && !args.warmup.is_zero() => {
                    (Phase::Warmup, phases.ramp_end)
                }
                _ => (Phase::Ramp, phases.ramp_start),
            };
            ServerGone { pid, phase, after_s: (at - since).as_secs_f64() }
        });
    Report {
        run: RunInfo {
            url: RunInfo::redacted_url(&args.url.uri().to_string()),
            role: args.role,
            bots: args.bots,
            room: RunInfo::room_label(&args.room),
            seed: args.seed,
            ramp_per_s: args.ramp,
            ramp_s,
            warmup_s: args.warmup.as_secs_f64(),
            window_s: secs,
            input_rate: args.input_rate,
            acks: !args.no_ack,
            threads: args.threads,
            io_uring: args.io_uring,
            source_ips: args.source_ips.as_ref().map_or(0, |ips| ips.0.len()),
            tick_rate,
            interrupted: false,
            interrupted_in: None,
            no_bot_left_in: None,
        },
        bots: BotsInfo {
            started: Counters::get(&c.started),
            joined,
            failures: recorder.failures.clone(),
            failure_examples: recorder.failure_examples.clone(),
            drops: recorder.drops.clone(),
            drop_examples: recorder.drop_examples.clone(),
            stayed: recorder.window_frames.len() as u64,
            leaves_answered: recorder.leaves_answered,
            leaves_unanswered: recorder.leaves.saturating_sub(recorder.leaves_answered),
            panics: recorder.panics.clone(),
        },
        connect_ms: recorder.connect.summary(),
        frames: FramesInfo {
            received,
            expected,
            delivered_ratio: expected.filter(|e| *e > 0).map(|e| received as f64 / e as f64),
            frames_skipped: recorder.frames_skipped,
            // Controllers get feedback on change, not a frame per tick: no rate to judge.
            per_bot_fps: window
                .filter(|_| args.role.gets_snapshots())
                .and_then(|window| fps_summary(&recorder.window_frames, window, tick_rate)),
        },
        input_to_ack_ms: recorder.input_to_ack.summary(),
        inputs: (args.role == BotRole::Player).then(|| InputsInfo {
            sent: recorder.inputs_sent,
            acked: recorder.inputs_acked,
            unacked: recorder.inputs_sent.saturating_sub(recorder.inputs_acked),
            still_waiting: recorder.inputs_still_waiting,
        }),
        interarrival_ms: recorder.interarrival.summary(),
        jitter_ms: recorder.jitter.summary(),
        rtt_ms: recorder.rtt.summary(),
        pings_still_waiting: recorder.pings_still_waiting,
        bytes_per_bot_per_s: start
            .and_then(|start| bytes_per_bot_second(start, end, recorder.window_bot_seconds)),
        errors: recorder.errors.clone(),
        close_codes: recorder.close_codes.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        resources: Resources {
            bots_rss_before_kib: rss_before,
            bots_rss_after_kib: end.rss_kib,
            rss_per_bot_kib: rss_before
                .zip(end.rss_kib)
                .filter(|_| end.connected > 0)
                .map(|(before, after)| after.saturating_sub(before) as f64 / end.connected as f64),
            bots_cpu_s: cpu_s(|s| s.cpu_s),
            bots_cpu_percent: percent(|s| s.cpu_s),
            // With --io-uring one thread reads every bot: it can use one core, whatever
            // the runtime's threads (which only open connections) could.
            bots_cpu_available_percent: cpu_available_percent(if args.io_uring {
                1
            } else {
                args.threads
            }),
            bots_cpu_us_per_frame,
            bots_per_core: bots_cpu_us_per_frame
                .filter(|us| *us > 0.0 && tick_rate > 0)
                .map(|us| (1e6 / (us * f64::from(tick_rate))) as u64),
            server_cpu_s: cpu_s(|s| s.server_cpu_s),
            server_cpu_percent: percent(|s| s.server_cpu_s),
            server_cpu_available_percent: args
                .server_pid
                .and_then(|pid| proc_stat::cpus_allowed(Some(pid)))
                .map(|cpus| 100.0 * cpus as f64),
            bots_wait_percent: wait_percent(|s| s.waits.as_ref()),
            server_wait_percent: wait_percent(|s| s.server_waits.as_ref()),
            server_rss_kib: end.server_rss_kib,
            server_gone,
        },
        checks: Vec::new(),
        warnings: Vec::new(),
        hints: Vec::new(),
        passed: false,
    }
}

/// Bytes per bot per second between the window's two readings, over `bot_seconds`: the time
/// each bot was joined in the window, summed ([`Recorder::window_bot_seconds`]). Exact, not
/// the bots connected at the window's two edges averaged: bots that dropped early in it
/// (a server killed) would be counted as there for half of it, and the bytes of the few that
/// stayed spread over them. `None` when no bot was joined in the window: no bot to divide by.
///
/// [`Recorder::window_bot_seconds`]: crate::stats::Recorder::window_bot_seconds
fn bytes_per_bot_second(start: &Snapshot, end: &Snapshot, bot_seconds: f64) -> Option<Bytes> {
    (bot_seconds > 0.0).then(|| Bytes {
        received: end.bytes_in.saturating_sub(start.bytes_in) as f64 / bot_seconds,
        sent: end.bytes_out.saturating_sub(start.bytes_out) as f64 / bot_seconds,
    })
}

/// 100 per runtime worker thread, at most 100 per core this process may run on.
fn cpu_available_percent(threads: u16) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    100.0 * threads.max(1).min(u16::try_from(cores).unwrap_or(u16::MAX)) as f64
}

/// Live progress on stderr: a bar on a terminal, a line every 5 s otherwise.
struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: ProgressBar,
}

impl Progress {
    fn start(shared: Arc<Shared>) -> Progress {
        let bar = ProgressBar::with_draw_target(
            Some(u64::from(shared.args.bots)),
            ProgressDrawTarget::stderr(),
        );
        // The template is a constant that indicatif parses.
        let style =
            ProgressStyle::with_template("{elapsed:>4} [{bar:24}] {pos}/{len} joined {msg}")
                .expect("valid template")
                .progress_chars("=> ");
        bar.set_style(style);
        if shared.args.quiet {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            return Progress { task: None, bar };
        }
        let lines = bar.is_hidden(); // stderr is not a terminal: print plain lines instead
        let period = if lines { Duration::from_secs(5) } else { Duration::from_secs(1) };
        let task_bar = bar.clone();
        let task = tokio::spawn(async move {
            let c = &shared.counters;
            let mut last = (Instant::now(), 0u64, 0u64, 0u64);
            let mut ticker = tokio::time::interval_at((Instant::now() + period).into(), period);
            loop {
                ticker.tick().await;
                let now = Instant::now();
                let (frames, bytes_in, bytes_out) = (
                    Counters::get(&c.frames),
                    Counters::get(&c.bytes_in),
                    Counters::get(&c.bytes_out),
                );
                let dt = (now - last.0).as_secs_f64().max(1e-3);
                let phase = if shared.window_end.get().is_some() {
                    "leaving".to_string()
                } else if let Some(start) = shared.window_start.get() {
                    format!(
                        "window {:.0}/{:.0}s",
                        (now - *start).as_secs_f64(),
                        shared.args.duration.as_secs_f64()
                    )
                } else {
                    "ramp".to_string()
                };
                let msg = format!(
                    "| failed {} dropped {} | {:.0} frames/s | in {} out {} | errors {} | {phase}",
                    Counters::get(&c.failed),
                    Counters::get(&c.dropped),
                    (frames - last.1) as f64 / dt,
                    rate(bytes_in - last.2, dt),
                    rate(bytes_out - last.3, dt),
                    Counters::get(&c.errors),
                );
                let connected = Counters::get(&c.connected);
                if lines {
                    say(format_args!("{connected}/{} joined {msg}", shared.args.bots));
                } else {
                    task_bar.set_position(connected);
                    task_bar.set_message(msg);
                }
                last = (now, frames, bytes_in, bytes_out);
            }
        });
        Progress { task: Some(task), bar }
    }

    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        self.bar.finish_and_clear();
    }
}

fn rate(bytes: u64, secs: f64) -> String {
    let per_s = bytes as f64 / secs;
    if per_s >= 1e6 {
        format!("{:.1} MB/s", per_s / 1e6)
    } else {
        format!("{:.0} kB/s", per_s / 1e3)
    }
}

/// CPU time and resident memory of a process, from `/proc` (Linux). `None` elsewhere, or
/// when the process is gone.
pub mod proc_stat {
    use std::collections::HashMap;

    /// Clock ticks per second of `utime`/`stime`: Linux's `USER_HZ`, fixed at 100 in its
    /// user ABI on every architecture it runs tickwire on.
    const USER_HZ: f64 = 100.0;

    fn path(pid: Option<u32>, file: &str) -> String {
        match pid {
            Some(pid) => format!("/proc/{pid}/{file}"),
            None => format!("/proc/self/{file}"),
        }
    }

    /// Resident set size in KiB (`VmRSS`).
    pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
        let status = std::fs::read_to_string(path(pid, "status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Nanoseconds each thread of a process waited for a CPU while runnable, by thread id.
    pub type ThreadWaits = HashMap<u32, u64>;

    /// Time each thread of the process waited for a CPU while runnable so far (`schedstat`):
    /// on a shared machine, how much other processes held the load generator (or the server)
    /// back. [`longest_wait_between`] turns two readings into the wait in between.
    pub fn runqueue_waits(pid: Option<u32>) -> Option<ThreadWaits> {
        let mut waits = ThreadWaits::new();
        for task in std::fs::read_dir(path(pid, "task")).ok()?.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
                continue;
            };
            // A thread that exits between the listing and the read is gone, not an error (the
            // test harness's own threads come and go while it reads itself).
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            waits.insert(tid, stat.split_whitespace().nth(1)?.parse::<u64>().ok()?);
        }
        Some(waits)
    }

    /// Seconds the thread that waited most waited between two readings of
    /// [`runqueue_waits`]. The longest, not the sum: summed, threads that take turns on a
    /// core read as more waiting than the time between the readings. Thread by thread: a
    /// thread that exits in between took the wait it had before the first reading with it.
    /// Threads born in between waited only in between, so all of their wait counts; a
    /// thread id the kernel gave again to a newer thread reads lower, and counts nothing.
    pub fn longest_wait_between(start: &ThreadWaits, end: &ThreadWaits) -> f64 {
        let longest = end
            .iter()
            .map(|(tid, at_end)| at_end.saturating_sub(start.get(tid).copied().unwrap_or(0)))
            .max()
            .unwrap_or(0);
        longest as f64 / 1e9
    }

    /// How many CPUs the process may run on (`Cpus_allowed_list`, its affinity: `taskset`).
    pub fn cpus_allowed(pid: Option<u32>) -> Option<usize> {
        let status = std::fs::read_to_string(path(pid, "status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
        parse_cpu_list(line.split_whitespace().nth(1)?)
    }

    /// The number of CPUs in a kernel CPU list such as `0-3,6,8-9`.
    pub(crate) fn parse_cpu_list(list: &str) -> Option<usize> {
        let mut count = 0;
        for part in list.split(',') {
            count += match part.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (from.parse::<usize>().ok()?, to.parse::<usize>().ok()?);
                    to.checked_sub(from)? + 1
                }
                None => part.parse::<usize>().map(|_| 1).ok()?,
            };
        }
        Some(count)
    }

    /// Whether process `pid` runs: its `/proc` entry is there and it is no zombie (a child
    /// that exited and that its parent has not waited for yet, as a script's server killed
    /// under it is until the script reaps it). True where there is no `/proc` to ask.
    pub fn alive(pid: u32) -> bool {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return true;
        }
        std::fs::read_to_string(path(Some(pid), "stat"))
            .ok()
            .and_then(|stat| parse_state(&stat))
            .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
    }

    /// The state letter of a `/proc/PID/stat` line (field 3, after the command's last `)`).
    pub(crate) fn parse_state(stat: &str) -> Option<char> {
        stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
    }

    /// User plus system CPU time, in seconds.
    pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
        parse_cpu(&std::fs::read_to_string(path(pid, "stat")).ok()?)
    }

    /// `utime + stime` of a `/proc/PID/stat` line; the command name (field 2) may hold
    /// spaces and parentheses, so fields are counted after its last `)`.
    pub(crate) fn parse_cpu(stat: &str) -> Option<f64> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((utime + stime) as f64 / USER_HZ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Recorder, WindowFrames};
    use clap::Parser;
    use std::sync::atomic::AtomicU32;

    /// A reading at `at` of nothing: no bot, byte, CPU or memory figure.
    fn blank(at: Instant) -> Snapshot {
        Snapshot {
            at,
            bytes_in: 0,
            bytes_out: 0,
            connected: 0,
            cpu_s: None,
            server_cpu_s: None,
            waits: None,
            server_waits: None,
            rss_kib: None,
            server_rss_kib: None,
            server_gone: false,
        }
    }

    #[tokio::test]
    async fn a_ring_that_fails_at_run_time_ends_the_run_at_once_with_its_error() {
        let argv = ["tickwire-bots", "--quiet", "--bots", "5", "--ramp", "0.1/s"];
        let args = Args::try_parse_from(argv.iter().chain(&["--duration", "100s"])).unwrap();
        let failing = |_: &Arc<Shared>| Err(io::Error::other("out of locked memory"));
        // 40 s of ramp and 100 s of window, were they waited through.
        let report = tokio::time::timeout(
            Duration::from_secs(10),
            run_with(args, std::future::pending(), failing),
        )
        .await
        .expect("reported at once");
        let table = report.table();
        assert_eq!(report.bots.failures.get("io-uring-setup: out of locked memory"), Some(&5));
        assert!(table.contains("io-uring-setup: out of locked memory x5"), "{table}");
        assert_eq!(report.run.window_s, None, "{table}");
        assert!(!report.run.interrupted && !report.passed, "{table}");
    }

    #[tokio::test]
    async fn a_bot_task_that_panics_fails_the_run_naming_the_panic() {
        // Nothing listens on port 1: both bots fail to join at once, and one then panics.
        let argv = ["tickwire-bots", "--quiet", "--url", "ws://127.0.0.1:1/ws", "--bots", "2"];
        let args = Args::try_parse_from(argv.iter().chain(&["--duration", "100ms"])).unwrap();
        let engine = |_: &Arc<Shared>| {
            Ok(Engine::Tasks(|shared, index| {
                Box::pin(async move {
                    run_bot(shared, index).await;
                    assert!(index != 1, "bot {index} broke");
                })
            }))
        };
        let report = run_with(args, std::future::pending(), engine).await;
        let table = report.table();
        let expected = BTreeMap::from([("a bot task: bot 1 broke".to_string(), 1)]);
        assert_eq!(report.bots.panics, expected, "{table}");
        let check = report.checks.iter().find(|c| c.name == "nothing panicked").expect(&table);
        assert!(!check.ok && check.detail.contains("bot 1 broke"), "{table}");
        assert!(table.contains("panicked"), "{table}");
    }

    #[tokio::test]
    async fn a_second_interrupt_aborts_without_waiting_for_the_leave() {
        let signals = Arc::new(tokio::sync::Notify::new());
        let calls = Arc::new(AtomicU32::new(0));
        let signal = {
            let signals = signals.clone();
            move || {
                let signals = signals.clone();
                async move { signals.notified().await }
            }
        };
        let (first, second) = (calls.clone(), calls.clone());
        let watcher = tokio::spawn(on_interrupts(
            signal,
            move || first.store(1, Ordering::SeqCst),
            move || second.store(2, Ordering::SeqCst),
        ));
        signals.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the first ends the run, cleanly");
        signals.notify_one();
        tokio::time::timeout(Duration::from_secs(5), watcher).await.unwrap().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the second aborts");
    }

    #[test]
    fn proc_stat_reads_cpu_and_memory() {
        let line = "4242 (tick wire) bots) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0";
        assert_eq!(proc_stat::parse_cpu(line), Some(3.25));
        assert_eq!(proc_stat::parse_cpu_list("0"), Some(1));
        assert_eq!(proc_stat::parse_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(proc_stat::parse_cpu_list("3-1"), None);
        assert_eq!(proc_stat::parse_cpu_list("x"), None);
        assert!(proc_stat::cpus_allowed(None).is_some_and(|n| n >= 1));
        assert!(proc_stat::rss_kib(None).is_some_and(|kib| kib > 0));
        assert!(proc_stat::cpu_seconds(None).is_some());
        assert!(proc_stat::runqueue_waits(None).is_some_and(|waits| !waits.is_empty()));
    }

    #[test]
    fn the_wait_over_a_window_is_the_longest_thread_by_thread() {
        use proc_stat::{ThreadWaits, longest_wait_between};
        let waits = |threads: &[(u32, u64)]| threads.iter().copied().collect();
        let start = waits(&[(1, 5_000_000_000), (2, 1_000_000_000), (3, 400_000_000)]);
        // Thread 1 (which had waited 5 s before the window) exited during it; 2 waited 0.5 s
        // more, 3 none, and thread 4 was born and waited 0.25 s.
        let end = waits(&[(2, 1_500_000_000), (3, 400_000_000), (4, 250_000_000)]);
        assert!((longest_wait_between(&start, &end) - 0.5).abs() < 1e-9);
        let born = waits(&[(2, 1_000_000_000), (4, 250_000_000)]);
        assert!((longest_wait_between(&start, &born) - 0.25).abs() < 1e-9, "born in between");
        // A reused thread id reads lower than the thread it replaced: nothing, not negative.
        let reused = waits(&[(2, 1_000_000_000), (3, 100_000_000)]);
        assert_eq!(longest_wait_between(&start, &reused), 0.0);
        assert_eq!(longest_wait_between(&start, &start), 0.0);
        assert_eq!(longest_wait_between(&start, &ThreadWaits::new()), 0.0);
    }

    #[test]
    fn eight_threads_taking_turns_on_one_core_wait_at_most_the_window() {
        // A window of 1 s in which each of 8 threads waited 0.9 s: summed, 720%.
        let argv = ["tickwire-bots", "--quiet", "--threads", "8"];
        let shared = Shared::new(Args::try_parse_from(argv).unwrap());
        let at = Instant::now();
        let reading = |at, waits: proc_stat::ThreadWaits| Snapshot {
            connected: 1,
            waits: Some(waits.clone()),
            server_waits: Some(waits),
            ..blank(at)
        };
        let start = reading(at, (1..=8).map(|tid| (tid, 0)).collect());
        let end =
            reading(at + Duration::from_secs(1), (1..=8).map(|tid| (tid, 900_000_000)).collect());
        let phases = Phases { ramp_start: at, ramp_end: at };
        let res = build(&shared, 0.0, None, Some(&start), &end, &phases).resources;
        assert!((res.bots_wait_percent.unwrap() - 90.0).abs() < 1e-6, "{res:?}");
        assert!((res.server_wait_percent.unwrap() - 90.0).abs() < 1e-6, "{res:?}");
        // A reading a little past the window's end never reads more than all of it.
        let late = reading(at + Duration::from_secs(1), [(1, 1_100_000_000)].into());
        let res = build(&shared, 0.0, None, Some(&start), &late, &phases).resources;
        assert_eq!(res.bots_wait_percent, Some(100.0));
    }

    fn ready_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("tickwire-bots-{name}-{}", std::process::id()))
    }

    #[tokio::test]
    async fn the_window_opens_after_the_warmup_and_the_ready_file_before_it() {
        let ready = ready_path("ready");
        let _ = std::fs::remove_file(&ready);
        let argv = ["tickwire-bots", "--quiet", "--warmup", "300ms", "--ready-file"];
        let args = Args::try_parse_from(argv.iter().chain(&[ready.to_str().unwrap()])).unwrap();
        let shared = Shared::new(args);
        let ramp_over = Instant::now();
        let opened = open_window(&shared, &mut std::future::pending::<()>()).await;
        assert!(opened.is_ok());
        let start = *shared.window_start.get().expect("the window opened");
        assert!(start - ramp_over >= Duration::from_millis(300), "{:?}", start - ramp_over);
        // Written at the ramp's end, so a watcher's warm-up counts from the same instant.
        let written = std::fs::metadata(&ready).and_then(|m| m.modified()).expect("written");
        let written_ago = written.elapsed().unwrap_or_default();
        assert!(written_ago >= Duration::from_millis(300), "{written_ago:?}");
        assert_eq!(std::fs::read_to_string(&ready).unwrap(), "0\n", "no bot joined");
        std::fs::remove_file(&ready).unwrap();
    }

    #[tokio::test]
    async fn an_interrupt_during_the_warmup_opens_no_window() {
        let argv = ["tickwire-bots", "--quiet", "--warmup", "60s"];
        let shared = Shared::new(Args::try_parse_from(argv).unwrap());
        let interrupt = tokio::time::sleep(Duration::from_millis(50));
        tokio::pin!(interrupt);
        let opened =
            tokio::time::timeout(Duration::from_secs(10), open_window(&shared, &mut interrupt))
                .await
                .expect("the interrupt ends the warm-up");
        assert!(opened.is_err() && shared.window_start.get().is_none());
    }

    /// Bots that join at once (without a server) and stay until the stop.
    fn idle_bots(_: &Arc<Shared>) -> io::Result<Engine> {
        Ok(Engine::Tasks(|shared, _| {
            Box::pin(async move {
                Counters::add(&shared.counters.started, 1);
                Counters::add(&shared.counters.connected, 1);
                shared.stop.cancelled().await;
            })
        }))
    }

    #[tokio::test]
    async fn an_interrupt_in_the_warmup_is_reported_as_such_and_takes_the_ready_file_back() {
        let ready = ready_path("warmup-interrupted");
        let _ = std::fs::remove_file(&ready);
        let argv = ["tickwire-bots", "--quiet", "--bots", "1"];
        let flags = ["--warmup", "60s", "--ready-file", ready.to_str().unwrap()];
        let args = Args::try_parse_from(argv.iter().chain(&flags)).unwrap();
        // Ctrl-C once the ramp is over, that is in the warm-up.
        let interrupt = async {
            while !ready.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let report =
            tokio::time::timeout(Duration::from_secs(30), run_with(args, interrupt, idle_bots))
                .await
                .expect("the interrupt ends the warm-up");
        let table = report.table();
        assert!(report.run.interrupted && report.run.window_s.is_none(), "{table}");
        assert!(table.contains("interrupted during the warm-up"), "{table}");
        assert!(!table.contains("during the ramp"), "{table}");
        assert!(!ready.exists(), "no window opened: a watcher must not wait for one");
    }

    #[tokio::test]
    async fn a_join_token_in_the_url_is_not_in_the_report() {
        let url = "wss://game.example/ws?token=eyJhbGciOi.eyJzdWIiOiJib3Qi.c2ln";
        let argv = ["tickwire-bots", "--quiet", "--bots", "1", "--duration", "100ms", "--url", url];
        let report =
            run_with(Args::try_parse_from(argv).unwrap(), std::future::pending(), idle_bots).await;
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("eyJ"), "{json}");
        assert_eq!(report.run.url, "wss://game.example/ws?token=redacted");
        assert!(!report.table().contains("eyJ"), "{}", report.table());
    }

    #[tokio::test]
    async fn a_run_waits_out_the_warmup_between_its_ramp_and_its_window() {
        let argv = ["tickwire-bots", "--quiet", "--bots", "1"];
        let timing = ["--warmup", "400ms", "--duration", "100ms"];
        let args = Args::try_parse_from(argv.iter().chain(&timing)).unwrap();
        let started = Instant::now();
        let report = run_with(args, std::future::pending(), idle_bots).await;
        let table = report.table();
        assert!(started.elapsed() >= Duration::from_millis(500), "{table}");
        assert_eq!(report.run.warmup_s, 0.4, "{table}");
        let window = report.run.window_s.expect("a window");
        assert!((0.1..0.4).contains(&window), "the warm-up is not in the window: {table}");
        assert!(table.contains("and a 0.4 s warm-up"), "{table}");
        assert!(!report.run.interrupted, "{table}");
    }

    #[tokio::test]
    async fn a_run_whose_bots_all_failed_ends_at_once_without_a_window() {
        // Nothing listens on port 1: every bot fails to join, and nobody is left to measure
        // a window of 5 s.
        let argv = ["tickwire-bots", "--quiet", "--url", "ws://127.0.0.1:1/ws", "--bots", "3"];
        let args = Args::try_parse_from(argv.iter().chain(&["--duration", "5s"])).unwrap();
        let report = run(args, std::future::pending()).await;
        let table = report.table();
        assert_eq!(report.run.window_s, None, "{table}");
        assert_eq!(report.run.no_bot_left_in, Some(Phase::Ramp), "{table}");
        assert!(!report.run.interrupted, "{table}");
        assert_eq!(report.bots.failures.get("connect-refused"), Some(&3), "{table}");
        let complete = report.checks.iter().find(|c| c.name == "window complete").expect(&table);
        assert!(!complete.ok, "{table}");
        assert_eq!(complete.detail, "no window opened: every bot failed to join", "{table}");
        assert!(table.contains("cannot connect"), "an example of the failure: {table}");
    }

    #[tokio::test]
    async fn a_window_whose_bots_all_dropped_ends_there() {
        // Two bots that join, then drop 300 ms into a window of a minute.
        let engine = |_: &Arc<Shared>| {
            Ok(Engine::Tasks(|shared, _| {
                Box::pin(async move {
                    let c = &shared.counters;
                    Counters::add(&c.started, 1);
                    Counters::add(&c.connected, 1);
                    while shared.window_start.get().is_none() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    c.connected.fetch_sub(1, Ordering::Relaxed);
                    Counters::add(&c.dropped, 1);
                    Recorder::count(&mut shared.recorder().drops, "lost-eof");
                })
            }))
        };
        let argv = ["tickwire-bots", "--quiet", "--bots", "2", "--duration", "60s"];
        let report =
            run_with(Args::try_parse_from(argv).unwrap(), std::future::pending(), engine).await;
        let table = report.table();
        assert_eq!(report.run.no_bot_left_in, Some(Phase::Window), "{table}");
        let window = report.run.window_s.expect("the window opened");
        assert!(window < 60.0, "the window ended with its last bot: {table}");
        let complete = report.checks.iter().find(|c| c.name == "window complete").expect(&table);
        assert!(!complete.ok && complete.detail.contains("no bot was left"), "{table}");
    }

    /// A window of 1 s from its two readings, `used_s` of CPU apart, 310 frames received, 10
    /// bots joined at its start and `end_connected` at its end, all 10 there until its end,
    /// each reading 3,000 bytes and writing 400.
    fn built(used_s: f64, window_frames: Vec<WindowFrames>, end_connected: u64) -> Report {
        let argv = ["tickwire-bots", "--quiet", "--role", "spectator", "--bots", "10"];
        let shared = Shared::new(Args::try_parse_from(argv).unwrap());
        shared.tick_rate.store(30, Ordering::Relaxed);
        let mut recorder = shared.recorder();
        recorder.window_ticks_beyond =
            window_frames.iter().map(|b| (b.ticks as f64 - 30.0).max(0.0)).sum();
        recorder.window_frames = window_frames;
        recorder.window_frames_received = 310;
        recorder.window_bot_seconds = 10.0;
        drop(recorder);
        let at = Instant::now();
        let reading = |at, cpu_s, connected, (bytes_in, bytes_out)| Snapshot {
            bytes_in,
            bytes_out,
            connected,
            cpu_s: Some(cpu_s),
            ..blank(at)
        };
        let start = reading(at, 2.0, 10, (0, 0));
        // 3,000 bytes in and 400 out per bot per second.
        let end =
            reading(at + Duration::from_secs(1), 2.0 + used_s, end_connected, (30_000, 4_000));
        let phases = Phases { ramp_start: at, ramp_end: at };
        let mut report = build(&shared, 0.0, None, Some(&start), &end, &phases);
        report.evaluate(Thresholds::default());
        report
    }

    #[test]
    fn cpu_below_what_proc_can_tell_is_no_figure() {
        // 5 spectators for 2 s used less than /proc's 10 ms step.
        let report = built(0.0, vec![], 10);
        let res = &report.resources;
        assert_eq!(res.bots_cpu_s, Some(0.0));
        assert_eq!((res.bots_cpu_percent, res.bots_cpu_us_per_frame), (None, None));
        assert_eq!(res.bots_per_core, None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["resources"]["bots_cpu_us_per_frame"], serde_json::Value::Null);
        assert!(report.table().contains("too little to measure"), "{}", report.table());
        // Enough CPU to tell: the figures are there.
        let report = built(0.5, vec![], 10);
        assert_eq!(report.resources.bots_cpu_percent, Some(50.0));
        assert!(report.resources.bots_cpu_us_per_frame.is_some_and(|us| us > 0.0));
    }

    #[test]
    fn received_frames_are_held_to_the_ticks_they_came_from() {
        // 10 bots in a window of 1 s at 30 Hz: 310 frames read, each bot's 31 spanning 31
        // ticks (a burst at each edge of the window).
        let bots = vec![WindowFrames { frames: 31, ticks: 31 }; 10];
        let report = built(0.5, bots, 10);
        let frames = &report.frames;
        assert_eq!((frames.received, frames.expected), (310, Some(310)), "{}", report.table());
        assert_eq!(frames.delivered_ratio, Some(1.0));
        let fps = frames.per_bot_fps.expect("bots stayed");
        assert!((fps.mean - 30.0).abs() < 1e-9 && (fps.min - 30.0).abs() < 1e-9, "{fps:?}");
        // Every bot dropped as the window ended (the server killed): they were there for all
        // of it, not for half.
        let report = built(0.5, vec![], 0);
        assert_eq!(report.frames.expected, Some(300), "{}", report.table());
    }

    #[test]
    fn bytes_per_bot_are_over_the_time_each_bot_was_there_not_the_edges_averaged() {
        let report = built(0.5, vec![], 10);
        let bytes = report.bytes_per_bot_per_s.expect("a window with bots in it");
        assert_eq!((bytes.received, bytes.sent), (3000.0, 400.0));
        // Every bot dropped as the window closed: they were there for all of it, and read no
        // more than before (averaging the edges, 5 bots, doubled it).
        let report = built(0.5, vec![], 0);
        let bytes = report.bytes_per_bot_per_s.expect("a window with bots in it");
        assert_eq!((bytes.received, bytes.sent), (3000.0, 400.0), "{}", report.table());
        // Nobody was joined in the window: no bot to divide by.
        let at = Instant::now();
        let reading = |bytes_in| Snapshot { bytes_in, ..blank(at) };
        assert!(bytes_per_bot_second(&reading(0), &reading(500), 0.0).is_none());
        let half = bytes_per_bot_second(&reading(0), &reading(500), 0.5).unwrap();
        assert_eq!(half.received, 1000.0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_is_alive_until_it_exits_or_is_a_zombie() {
        let line = |state: &str| format!("4242 (tickwire-server) {state} 1 2 3 4 5 6 7 8 9");
        assert_eq!(proc_stat::parse_state(&line("S")), Some('S'));
        assert_eq!(proc_stat::parse_state(&line("Z")), Some('Z'));
        assert!(proc_stat::alive(std::process::id()));
        // A child that exited and was not waited for yet is a zombie, and gone.
        let mut child = std::process::Command::new("true").spawn().expect("true runs");
        let pid = child.id();
        while proc_stat::parse_state(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
            != Some('Z')
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!proc_stat::alive(pid));
        child.wait().unwrap();
        assert!(!proc_stat::alive(pid), "reaped: no /proc entry");
    }
}
