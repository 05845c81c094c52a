//! The final report: what the run measured ([`Report`], serialized as JSON), its table, and
//! the checks that decide the exit code.

use crate::bot::{WORLD_ENTITY_OUT_OF_BOUNDS, WORLD_OWN_SHIP_MISSING};
use crate::cli::{Args, BotRole, InputRate, RoomChoice};
use crate::stats::{FpsSummary, Percentiles};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    pub run: RunInfo,
    /// What became of the bots.
    pub bots: BotsInfo,
    /// From starting TCP to `Welcome`.
    pub connect_ms: Option<Percentiles>,
    /// Snapshots delivered in the window.
    pub frames: FramesInfo,
    /// From sending an input to the first snapshot whose `last_input` reached it (players).
    /// An input that never went out (a newer one replaced it) or that the client forgot
    /// counts from when the bot queued it; one still unacknowledged when the window closed
    /// counts its wait so far ([`InputsInfo::still_waiting`]). Every input of the window is
    /// a sample: none goes unmeasured.
    pub input_to_ack_ms: Option<Percentiles>,
    /// Inputs sent and acknowledged over the bots' whole sessions (players).
    pub inputs: Option<InputsInfo>,
    /// Time between consecutive snapshots of a bot.
    pub interarrival_ms: Option<Percentiles>,
    /// Distance of each inter-arrival from the tick period.
    pub jitter_ms: Option<Percentiles>,
    /// Ping round trips answered in the window; a ping still unanswered when the window
    /// closed counts its wait so far, from when it was due ([`Report::pings_still_waiting`]),
    /// once that is longer than a tick.
    pub rtt_ms: Option<Percentiles>,
    /// Samples of [`Report::rtt_ms`] that are pings unanswered at the window's end: their
    /// wait up to it. One per bot at most (the client has one ping out at a time); each is a
    /// server that stopped answering near the end, whose wait would otherwise show nowhere.
    pub pings_still_waiting: u64,
    /// Socket bytes per joined bot per second in the window (upgrade and WebSocket frame
    /// headers included, TCP/IP headers not), over the time each bot was joined in it (a bot
    /// that dropped halfway counts half); `None` when no window opened, or no bot was joined
    /// in it.
    pub bytes_per_bot_per_s: Option<Bytes>,
    /// Decode, apply and consistency errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Close codes received from the server, by code (the answers to the bots' own leaves
    /// included).
    pub close_codes: BTreeMap<String, u64>,
    /// CPU and memory of the bots process (and of the server, with `--server-pid`).
    pub resources: Resources,
    /// The checks behind the exit code.
    pub checks: Vec<Check>,
    /// What makes the figures doubtful without failing the run: above all a bots process
    /// that was itself the bottleneck (see [`Resources::bots_cpu_available_percent`]).
    pub warnings: Vec<String>,
    /// What to change when bots were refused: the server flag behind each refusal reason
    /// seen (HTTP 429, 503, `kick-Full`, `kick-Removed`).
    pub hints: Vec<String>,
    /// True when every check passed.
    pub passed: bool,
}

/// What was run.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// Server URL, its join token and password shown as `redacted`
    /// ([`RunInfo::redacted_url`]).
    pub url: String,
    /// Bot role.
    pub role: BotRole,
    /// Bots asked for.
    pub bots: u32,
    /// `any` or the room name.
    pub room: String,
    /// Behaviour seed.
    pub seed: u64,
    /// Bots started per second.
    pub ramp_per_s: f64,
    /// How long the ramp took, until every bot had joined or failed.
    pub ramp_s: f64,
    /// The warm-up asked for between the ramp and the window (`--warmup`), seconds.
    pub warmup_s: f64,
    /// The measurement window as it ran (shorter than asked after Ctrl-C, or once no bot was
    /// left); `None` when it never opened (Ctrl-C during the ramp or warm-up, no bot could
    /// start, or none was left), and with it every figure measured over it.
    pub window_s: Option<f64>,
    /// When players sent inputs (`tick`: one per snapshot; or a rate per second).
    pub input_rate: InputRate,
    /// Whether bots acknowledged snapshots (false with `--no-ack`: full snapshots).
    pub acks: bool,
    /// Runtime worker threads (1: current-thread).
    pub threads: u16,
    /// Whether the bots were read through one io_uring thread (`--io-uring`) rather than a
    /// tokio task each.
    pub io_uring: bool,
    /// Source addresses used.
    pub source_ips: usize,
    /// The room tick rate the server announced.
    pub tick_rate: u32,
    /// Ctrl-C (or SIGTERM) ended the run before its window did: the "window complete" check
    /// fails, so a run cut short never passes on a few seconds of samples.
    pub interrupted: bool,
    /// The phase the interrupt came in; `None` when the run was not interrupted.
    pub interrupted_in: Option<Phase>,
    /// The phase in which every bot had failed to join or dropped (none reconnects), which
    /// ended the run there: no window, or one cut short at that point (the "window complete"
    /// check fails). `None` while some bot was left.
    pub no_bot_left_in: Option<Phase>,
}

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Bots starting, until each joined or failed.
    Ramp,
    /// `--warmup`, between the ramp and the window.
    Warmup,
    /// The measurement window.
    Window,
}

impl RunInfo {
    /// `url` as a report shows it: the value of a query parameter that carries a credential
    /// (`token`, `access_token`: a name that ends in `token`, in any case) and the password
    /// of a user in it replaced by `redacted`. A report is a CI artifact, and a join token in
    /// it would let anyone who reads it join until it expires.
    pub fn redacted_url(url: &str) -> String {
        let (url, fragment) = url.split_once('#').map_or((url, None), |(u, f)| (u, Some(f)));
        let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let mut shown = match base.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
                let authority = match authority.rsplit_once('@') {
                    Some((user, host)) if user.contains(':') => {
                        let name = user.split(':').next().unwrap_or_default();
                        format!("{name}:redacted@{host}")
                    }
                    _ => authority.to_string(),
                };
                format!("{scheme}://{authority}{path}")
            }
            None => base.to_string(),
        };
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.to_ascii_lowercase().ends_with("token") => {
                        format!("{key}=redacted")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            shown = format!("{shown}?{}", pairs.join("&"));
        }
        if let Some(fragment) = fragment {
            shown = format!("{shown}#{fragment}");
        }
        shown
    }

    /// `any` or the room's name.
    pub fn room_label(room: &RoomChoice) -> String {
        match room {
            RoomChoice::Any => "any".into(),
            RoomChoice::Named(name) => name.clone(),
        }
    }
}

/// What became of the bots.
#[derive(Debug, Clone, Serialize)]
pub struct BotsInfo {
    /// Started a connection.
    pub started: u64,
    /// Got a `Welcome`.
    pub joined: u64,
    /// Never joined, and why (`http-429`, `kick-Full`, `dns`, `connect-refused`, `tls`,
    /// `timeout-connect` ...).
    pub failures: BTreeMap<String, u64>,
    /// The first message of each reason of [`BotsInfo::failures`] (e.g. `upgrade refused:
    /// HTTP 429: ...`, `cannot connect: failed to lookup address information: ...`).
    pub failure_examples: BTreeMap<String, String>,
    /// Joined, then lost their connection before the end, and why.
    pub drops: BTreeMap<String, u64>,
    /// The first message of each reason of [`BotsInfo::drops`].
    pub drop_examples: BTreeMap<String, String>,
    /// Joined before the window opened and still joined when it closed.
    pub stayed: u64,
    /// Left at the end and got the server's answering close frame, or not (a leave the run
    /// stopped waiting for is unanswered).
    pub leaves_answered: u64,
    /// See [`BotsInfo::leaves_answered`].
    pub leaves_unanswered: u64,
    /// Panics of the bots' tasks and of the io_uring thread, by message: each is a bug of
    /// the bots, and the bots it took down measured nothing after it.
    pub panics: BTreeMap<String, u64>,
}

/// Snapshots delivered in the window.
#[derive(Debug, Clone, Serialize)]
pub struct FramesInfo {
    /// Snapshots received by all bots in the window (controllers: feedback messages).
    pub received: u64,
    /// tick rate x window x bots present in the window (each bot for the time it was joined
    /// in it: a bot that dropped halfway counts half), for roles that get a snapshot every
    /// tick; plus, for each bot that stayed and whose snapshots in the window spanned
    /// more ticks than that (the window's edges took in a tick's burst at each end, or
    /// snapshots that waited in its socket were read in it), those ticks: the frames counted
    /// are held to the ticks they came from, so received never exceeds expected. Not the bots
    /// asked for: bots refused at the ramp would read as frames the server failed to deliver.
    pub expected: Option<u64>,
    /// received / expected: at most 1.
    pub delivered_ratio: Option<f64>,
    /// Snapshots the bots never got, in the window: gaps in the tick numbers of each bot's
    /// consecutive snapshots, summed. The server replaces a snapshot that a slow client has
    /// not taken yet with the next one, and counts it in `tickwire_frames_skipped_total`.
    /// Not the server's `tickwire_ticks_skipped_total`: a tick the server did not run (a
    /// stalled or overloaded server) has no number, so leaves no gap here; it shows as a
    /// [`FramesInfo::delivered_ratio`] below 1 and in the inter-arrival times. Was
    /// `ticks_skipped` in reports before, which it never was.
    pub frames_skipped: u64,
    /// Snapshots per second per bot, over the bots that stayed the whole window: each bot's
    /// snapshots over the window, or over the ticks they span when those are more (so at most
    /// the tick rate).
    pub per_bot_fps: Option<FpsSummary>,
}

/// Inputs sent and acknowledged over the bots' whole sessions, ramp, warm-up and leave
/// included (players): unlike the window's figures, what the clients' own bookkeeping counted
/// from the join to the end (what was in flight at the leave is only seen there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InputsInfo {
    /// Inputs the bots sent, over their whole sessions (ramp and leave included).
    pub sent: u64,
    /// Of those, acknowledged by a snapshot.
    pub acked: u64,
    /// `sent - acked`: in flight when a bot left or dropped, or never acknowledged.
    pub unacked: u64,
    /// Input-to-ack samples (of the window, unlike the counts above) of inputs still
    /// unacknowledged when the window closed (or waiting longer than a client remembers
    /// inputs): their wait so far, so at least what they count. Many of them, or long ones,
    /// mean a stall the window ended in.
    pub still_waiting: u64,
}

/// Bytes per bot per second.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bytes {
    /// Received.
    #[serde(rename = "in")]
    pub received: f64,
    /// Sent.
    #[serde(rename = "out")]
    pub sent: f64,
}

/// CPU and memory.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// Resident memory of the bots process before the first bot started, in KiB.
    pub bots_rss_before_kib: Option<u64>,
    /// ... and at the end of the window.
    pub bots_rss_after_kib: Option<u64>,
    /// (after - before) / bots joined at the end of the window, in KiB.
    pub rss_per_bot_kib: Option<f64>,
    /// CPU time of the bots process over the window, in seconds (`/proc` counts it in 10 ms
    /// steps).
    pub bots_cpu_s: Option<f64>,
    /// [`Resources::bots_cpu_s`] in percent of one core over the window; `None` below
    /// [`crate::run::CPU_MIN_S`] (too little to measure: the table says so), as are the
    /// figures derived from it.
    pub bots_cpu_percent: Option<f64>,
    /// What the bots process could use: 100 per runtime worker thread (`--threads`), at
    /// most 100 per core it may run on (affinity and cgroup quota included). Using 80% of it
    /// or more ([`Report::SATURATED`]), the bots add delays of their own to what they
    /// report: the run measures the bots as well as the server.
    pub bots_cpu_available_percent: f64,
    /// Bots CPU per snapshot received in the window, in microseconds (players and
    /// spectators): what each frame a bot reads costs its machine, acks and inputs included.
    pub bots_cpu_us_per_frame: Option<f64>,
    /// How many bots of this role one core could drive at the server's tick rate, from
    /// [`Resources::bots_cpu_us_per_frame`]: for sizing a fleet of bots machines. On
    /// loopback the bots also pay the server's TCP receive path, so a separate bots machine
    /// drives more.
    pub bots_per_core: Option<u64>,
    /// How long the bots' most held-back thread waited for a CPU while runnable, over the
    /// window, in percent of the window (at most 100: one thread waits at most the whole
    /// window; threads are not summed, so more of them never read as more than all of it).
    /// Above a few percent the bots were held back: by other processes on the machine, or by
    /// their own threads when `--threads` is more than the cores they may run on.
    pub bots_wait_percent: Option<f64>,
    /// The same for the server's threads (`--server-pid`). Above a few percent its latency
    /// and delivery figures measure the machine's scheduling as much as the server: other
    /// processes on its cores (the bots among them), or more busy server threads than cores
    /// (a `tickwire-server`'s network threads wait for its room threads by design,
    /// `--room-priority`).
    pub server_wait_percent: Option<f64>,
    /// The server's CPU time over the window, in seconds (`--server-pid`).
    pub server_cpu_s: Option<f64>,
    /// [`Resources::server_cpu_s`] in percent of one core; `None` below
    /// [`crate::run::CPU_MIN_S`], or when the process was gone by the window's end.
    pub server_cpu_percent: Option<f64>,
    /// 100 per core the server may run on (its affinity; a cgroup quota is not seen). Using
    /// 90% of it or more ([`Report::SERVER_SATURATED`]), the server was at capacity: what
    /// the bots missed is its limit.
    pub server_cpu_available_percent: Option<f64>,
    /// The server's resident memory at the end of the window, in KiB (`--server-pid`).
    pub server_rss_kib: Option<u64>,
    /// The `--server-pid` process exited (or became a zombie) before the window's end, and
    /// when the bots first saw it gone: its CPU, memory and waits are then not reported.
    pub server_gone: Option<ServerGone>,
}

/// When the `--server-pid` process was seen gone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerGone {
    /// The process.
    pub pid: u32,
    /// The phase it was first seen gone in.
    pub phase: Phase,
    /// Seconds into that phase (looked for every 100 ms, and at the window's end).
    pub after_s: f64,
}

impl ServerGone {
    /// When, in words: `3.1 s into the window`.
    pub fn when(&self) -> String {
        let phase = match self.phase {
            Phase::Ramp => "the ramp",
            Phase::Warmup => "the warm-up",
            Phase::Window => "the window",
        };
        format!("{:.1} s into {phase}", self.after_s)
    }
}

/// One pass/fail check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The measured value against its limit, in words.
    pub detail: String,
}

impl Check {
    fn new(name: &str, ok: bool, detail: String) -> Check {
        Check { name: name.to_string(), ok, detail }
    }
}

/// The thresholds of the command line. The default holds none (a test's choice); the
/// command line's own defaults are [`Thresholds::of`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// `--max-p99-ms`.
    pub max_p99_ms: Option<f64>,
    /// `--min-fps`.
    pub min_fps: Option<f64>,
    /// `--min-delivered`, in percent; `None` for 0 (off).
    pub min_delivered_percent: Option<f64>,
}

impl Thresholds {
    /// The thresholds `args` asks for, its defaults included.
    pub fn of(args: &Args) -> Thresholds {
        Thresholds {
            max_p99_ms: args.max_p99_ms,
            min_fps: args.min_fps,
            min_delivered_percent: Some(args.min_delivered).filter(|p| *p > 0.0),
        }
    }
}

impl Report {
    /// The p99 that `--max-p99-ms` limits for this role, and its name.
    pub fn p99_for_role(&self) -> (&'static str, Option<f64>) {
        match self.run.role {
            BotRole::Player => ("input-to-ack p99", self.input_to_ack_ms.map(|p| p.p99)),
            BotRole::Spectator => {
                ("snapshot inter-arrival p99", self.interarrival_ms.map(|p| p.p99))
            }
            BotRole::Controller => ("ping round trip p99", self.rtt_ms.map(|p| p.p99)),
        }
    }

    /// Fills [`Report::checks`] and [`Report::passed`]: every bot joined and stayed, got
    /// snapshots and had its leave answered, nothing panicked or was inconsistent, and the
    /// thresholds held.
    pub fn evaluate(&mut self, thresholds: Thresholds) {
        let mut checks = Vec::new();
        let b = &self.bots;
        let failed: u64 = b.failures.values().sum();
        checks.push(Check::new(
            "every bot joined",
            failed == 0 && b.joined == u64::from(self.run.bots),
            format!("{} of {} joined, {failed} failed", b.joined, self.run.bots),
        ));
        let dropped: u64 = b.drops.values().sum();
        checks.push(Check::new("no bot dropped", dropped == 0, format!("{dropped} dropped")));
        // Fails for a drop too, which "no bot dropped" also names: what it says is that every
        // bot that joined was there for the whole window, and with bots dropped it was not.
        let missing = b.joined.saturating_sub(b.stayed + dropped);
        checks.push(match self.run.window_s {
            Some(_) => Check::new(
                "every bot stayed",
                b.stayed == b.joined,
                format!(
                    "{} of {} joined stayed the window, {dropped} dropped{}",
                    b.stayed,
                    b.joined,
                    if missing > 0 {
                        format!(
                            ", {missing} did neither (joined after the window opened, or lost \
                             to a panic)"
                        )
                    } else {
                        String::new()
                    }
                ),
            ),
            None => Check::new("every bot stayed", false, "no window opened".into()),
        });
        let no_bot_left = self.run.no_bot_left_in;
        checks.push(Check::new(
            "window complete",
            !self.run.interrupted && no_bot_left.is_none() && self.run.window_s.is_some(),
            match (self.run.interrupted, self.run.window_s) {
                (true, Some(s)) => format!("interrupted after {s:.1} s"),
                (true, None) => match self.run.interrupted_in {
                    Some(Phase::Warmup) => "interrupted during the warm-up: no window opened",
                    Some(Phase::Ramp) => "interrupted during the ramp: no window opened",
                    _ => "interrupted before the window opened",
                }
                .into(),
                (false, Some(s)) if no_bot_left.is_some() => format!(
                    "ended after {s:.1} s: no bot was left to measure the rest; every bot had \
                     failed to join or dropped"
                ),
                (false, None) => match no_bot_left {
                    Some(Phase::Ramp) if b.joined == 0 => {
                        "no window opened: every bot failed to join".into()
                    }
                    Some(Phase::Ramp) => {
                        "no window opened: every bot failed to join or dropped in the ramp".into()
                    }
                    Some(_) => "no window opened: every bot had dropped during the warm-up".into(),
                    None => "no window opened: no bot could start".into(),
                },
                (false, Some(s)) => format!("{s:.1} s"),
            },
        ));
        // Zero snapshots in a whole window is no slow server but one that does not serve
        // that bot (a room that never ticks, a broadcast that skips it): failed whatever the
        // thresholds. How many frames all of them may miss is --min-delivered's to say, the
        // slowest bot's rate --min-fps's.
        if self.run.role.gets_snapshots() {
            checks.push(match self.frames.per_bot_fps {
                Some(fps) => Check::new(
                    "every bot got snapshots",
                    fps.min > 0.0,
                    if fps.min > 0.0 {
                        format!(
                            "each of the {} bots that stayed got some, the slowest {:.2} fps",
                            fps.bots, fps.min
                        )
                    } else {
                        format!(
                            "at least one of the {} bots that stayed got none in the window",
                            fps.bots
                        )
                    },
                ),
                None => Check::new(
                    "every bot got snapshots",
                    false,
                    "no bot stayed a window to receive any".into(),
                ),
            });
            // The share over every bot, not each one's: a default that a whole run of players
            // getting two frames in three fails, where "every bot got snapshots" passes it.
            if let Some(limit) = thresholds.min_delivered_percent {
                let f = &self.frames;
                checks.push(match f.expected.zip(f.delivered_ratio) {
                    Some((expected, ratio)) => Check::new(
                        "frames delivered of expected",
                        ratio * 100.0 >= limit,
                        format!(
                            "{:.1}%, {} of {expected} expected, limit {limit}% (--min-delivered)",
                            ratio * 100.0,
                            f.received
                        ),
                    ),
                    None => Check::new(
                        "frames delivered of expected",
                        false,
                        format!(
                            "no frames expected (no window, or no bot in it), limit {limit}% \
                             (--min-delivered)"
                        ),
                    ),
                });
            }
        }
        // An unanswered leave is a server that stopped reading, or a close it got wrong.
        checks.push(Check::new(
            "every leave answered",
            b.leaves_unanswered == 0,
            format!(
                "{} of {} leaves answered with a close frame",
                b.leaves_answered,
                b.leaves_answered + b.leaves_unanswered
            ),
        ));
        let panics: u64 = b.panics.values().sum();
        checks.push(Check::new(
            "nothing panicked",
            panics == 0,
            if panics == 0 { "no panic".into() } else { tally(&b.panics) },
        ));
        let errors: u64 = self.errors.values().sum();
        checks.push(Check::new(
            "worlds consistent",
            errors == 0,
            format!("{errors} decode, apply or consistency errors"),
        ));
        if let Some(limit) = thresholds.max_p99_ms {
            let (name, value) = self.p99_for_role();
            // Inputs still waiting are among the samples at their wait so far: a stall the
            // window ended in fails the check rather than going unmeasured.
            let waiting = match (self.run.role, self.inputs) {
                (BotRole::Player, Some(inputs)) if inputs.still_waiting > 0 => format!(
                    "; {} inputs unacknowledged at the close counted at their wait so far",
                    inputs.still_waiting
                ),
                (BotRole::Controller, _) if self.pings_still_waiting > 0 => format!(
                    "; {} pings unanswered at the close counted at their wait so far",
                    self.pings_still_waiting
                ),
                _ => String::new(),
            };
            let check = match value {
                Some(v) => {
                    Check::new(name, v <= limit, format!("{v:.1} ms, limit {limit} ms{waiting}"))
                }
                None => Check::new(name, false, format!("no samples, limit {limit} ms")),
            };
            checks.push(check);
        }
        // The slowest bot, not the mean: a mean of 29.7 fps holds a bot at 0 fps among 99 at
        // 30, and the flag is a floor every player should get.
        if let Some(limit) = thresholds.min_fps {
            let check = match self.frames.per_bot_fps {
                Some(f) => Check::new(
                    "delivered fps",
                    f.min >= limit,
                    format!(
                        "slowest bot {:.2}, limit {limit} (mean {:.2}, p1 {:.2})",
                        f.min, f.mean, f.p1
                    ),
                ),
                None => Check::new("delivered fps", false, format!("no bot stayed, limit {limit}")),
            };
            checks.push(check);
        }
        self.passed = checks.iter().all(|c| c.ok);
        self.checks = checks;
        self.warnings = self.doubts();
        self.hints = self.hints_for_refusals();
    }

    /// For each refusal reason seen, the server flag behind it: the count and the server's
    /// message say what happened, not what to change.
    fn hints_for_refusals(&self) -> Vec<String> {
        let seen = |reason: &str| {
            self.bots.failures.contains_key(reason) || self.bots.drops.contains_key(reason)
        };
        let mut hints = Vec::new();
        // rustls's name for a certificate no trusted root signed.
        let untrusted = |examples: &BTreeMap<String, String>| {
            examples.get("tls").is_some_and(|m| m.contains("UnknownIssuer"))
        };
        if untrusted(&self.bots.failure_examples) || untrusted(&self.bots.drop_examples) {
            hints.push(
                "tls: no root the bots trust signed the server's certificate (Mozilla's, or \
                 --ca-cert's): for a staging or self-signed certificate, pass the PEM of the CA \
                 that signed it (or of the certificate itself) with --ca-cert PATH"
                    .into(),
            );
        }
        // A 200 to an upgrade is a page: the URL's path serves HTTP, not the game.
        if seen("http-200") {
            hints.push(
                "http-200: no WebSocket at this path, an HTTP page answered: the game's \
                 WebSocket is /ws, as in --url ws://HOST:PORT/ws"
                    .into(),
            );
        }
        if seen("http-401") {
            hints.push(
                "http-401: the server admits only holders of a join token (--join-secret or \
                 --join-public-key): mint one for the bots' --room and --role \
                 (tickwire-server mint-token) and pass it with --token-file PATH"
                    .into(),
            );
        }
        if seen("http-429") {
            let from = match self.run.source_ips {
                0 | 1 => "every bot here connects from one address".to_string(),
                n => format!("the bots here connect from {n} addresses"),
            };
            hints.push(format!(
                "http-429: the server caps sessions per client address (--max-connections-per-ip, \
                 64 by default) and {from}: raise the server's --max-connections-per-ip, or \
                 spread the bots with --source-ips (e.g. 127.0.0.2-127.0.0.254 for a server on \
                 loopback)"
            ));
        }
        // A 1013 is passing; this one is the address's rate of new seats.
        let too_fast = |examples: &std::collections::BTreeMap<String, String>| {
            examples.get("close-1013").is_some_and(|m| m.contains("too many new seats"))
        };
        if too_fast(&self.bots.failure_examples) || too_fast(&self.bots.drop_examples) {
            hints.push(
                "close-1013: the server takes new players' seats from one address at a burst of \
                 twice its --max-connections-per-ip, then that many a minute (a second run \
                 right after the first finds the burst spent): raise the server's \
                 --max-connections-per-ip, or spread the bots with --source-ips"
                    .into(),
            );
        }
        if seen("http-503") {
            hints.push(
                "http-503: the server is full (--max-connections, 10,000 by default) or shutting \
                 down: raise its --max-connections, and its open-files limit to twice that"
                    .into(),
            );
        }
        if seen("kick-Full") {
            hints.push(
                "kick-Full: a room or the server's spectators are full: players by \
                 --room-capacity (a named --room) or --max-rooms, spectators by --max-spectators \
                 (a named --room) or --max-spectators-total (2,000 per core by default)"
                    .into(),
            );
        }
        if seen("kick-RateLimited") {
            hints.push(
                "kick-RateLimited: the server closes a client that sends inputs faster than its \
                 --input-rate (120 a second by default, after a burst of --input-burst) or chats \
                 past --chat-rate: lower the bots' --input-rate, or raise the server's"
                    .into(),
            );
        }
        if seen("connect-no-local-address") {
            hints.push(
                "connect-no-local-address: a --source-ips address this machine does not have \
                 (`ip addr` lists those it has; all of 127.0.0.0/8 is loopback on Linux), or no \
                 local port left for it: spread the bots over more addresses"
                    .into(),
            );
        }
        // The arena's rules, which a game of one's own may not keep.
        if self.errors.contains_key(WORLD_ENTITY_OUT_OF_BOUNDS)
            || self.errors.contains_key(WORLD_OWN_SHIP_MISSING)
        {
            hints.push(format!(
                "{WORLD_ENTITY_OUT_OF_BOUNDS} / {WORLD_OWN_SHIP_MISSING}: the arena keeps every \
                 entity inside the playfield and every player's ship in its world; against a \
                 game of your own that does not, --world-checks protocol holds the worlds to \
                 what the protocol promises alone"
            ));
        }
        if seen("kick-Removed") {
            hints.push(
                "kick-Removed: an operator removed bots from their room, or banned their \
                 address or name for a while (the message says which, for how long and why); \
                 a ban of an address refuses every bot that connects from it: the server's \
                 admin routes (with its --admin-token) list the bans (GET /bans) and lift one \
                 (DELETE /bans?address=...)"
                    .into(),
            );
        }
        hints
    }

    /// Share of the bots' available CPU from which their own delays show in what they
    /// report: a frame that arrives in the server's burst of a tick waits for every bot
    /// ahead of it, and the busier the runtime the longer (Locust warns at 90% of a worker's
    /// CPU; the latencies here are a few milliseconds, so earlier).
    pub const SATURATED: f64 = 0.8;
    /// Share of its available CPU from which the server is taken to be at capacity.
    pub const SERVER_SATURATED: f64 = 0.9;
    /// Share of the window a thread of the bots or of the server may wait for a CPU before
    /// its delays are taken to be the machine's: at 30 ticks/s a thread that waits a tenth of
    /// the time is late by milliseconds a tick, the size of what the report measures.
    pub const CROWDED: f64 = 0.1;

    /// Warnings about the load generator itself, and the server process gone.
    fn doubts(&self) -> Vec<String> {
        let res = &self.resources;
        let mut warnings = Vec::new();
        if let Some(gone) = res.server_gone {
            warnings.push(format!(
                "the server process (--server-pid {}) was gone {}: its CPU and memory are not \
                 reported",
                gone.pid,
                gone.when()
            ));
        }
        if let Some(cpu) = res.bots_cpu_percent
            && cpu >= Self::SATURATED * res.bots_cpu_available_percent
        {
            warnings.push(format!(
                "the bots used {cpu:.0}% CPU of the {:.0}% they can use ({} thread(s)): part of \
                 the latency, late and skipped frames may be theirs, not the server's; run \
                 fewer bots per process, or more processes or --threads on free cores",
                res.bots_cpu_available_percent, self.run.threads,
            ));
        }
        if let Some(wait) = res.bots_wait_percent
            && wait >= Self::CROWDED * 100.0
        {
            // With --io-uring one thread reads every bot, whatever --threads.
            let cores = res.bots_cpu_available_percent / 100.0;
            let by = if !self.run.io_uring && f64::from(self.run.threads) > cores {
                format!(
                    "their own {} threads share {cores:.0} core(s) (run no more --threads than \
                     cores), or other processes on this machine held them back",
                    self.run.threads
                )
            } else {
                "other processes on this machine held them back".into()
            };
            warnings.push(format!(
                "a thread of the bots waited for a CPU {wait:.0}% of the window: {by}; part of \
                 the delays they report are their own"
            ));
        }
        if let Some(wait) = res.server_wait_percent
            && wait >= Self::CROWDED * 100.0
        {
            warnings.push(format!(
                "a thread of the server waited for a CPU {wait:.0}% of the window: its latency \
                 and delivery figures measure this machine's scheduling as much as the server \
                 (other processes on its cores, the bots among them, or more busy server threads \
                 than cores); give it cores of its own (taskset)"
            ));
        }
        if let Some((cpu, available)) = res.server_cpu_percent.zip(res.server_cpu_available_percent)
            && cpu >= Self::SERVER_SATURATED * available
        {
            warnings.push(format!(
                "the server used {cpu:.0}% CPU of the {available:.0}% it can use: it was at \
                 capacity, and late or skipped frames are its limit"
            ));
        }
        warnings
    }

    /// The report as a table for a terminal.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
        let r = &self.run;
        row(
            "run",
            format!(
                "{} {}s, room {}, {}, {} after a {:.1} s ramp ({}/s){}, seed {}, {} thread(s){}, {} source address(es)",
                r.bots,
                role_name(r.role),
                r.room,
                // 0 until a Welcome announced it: no bot joined.
                if r.tick_rate == 0 {
                    "tick rate unknown (no bot joined)".to_string()
                } else {
                    format!("{} ticks/s", r.tick_rate)
                },
                match (r.window_s, r.no_bot_left_in, r.interrupted) {
                    (None, Some(_), _) => "no measurement window (no bot left)".into(),
                    (None, None, true) => "no measurement window (interrupted)".into(),
                    (None, None, false) => "no measurement window".into(),
                    (Some(s), Some(_), _) => format!("{s:.1} s window (cut short: no bot left)"),
                    (Some(s), None, true) => format!("{s:.1} s window (cut short: interrupted)"),
                    (Some(s), None, false) => format!("{s:.1} s window"),
                },
                r.ramp_s,
                r.ramp_per_s,
                if r.interrupted_in == Some(Phase::Warmup) {
                    format!(" and a {:.1} s warm-up cut short", r.warmup_s)
                } else if r.warmup_s > 0.0 {
                    format!(" and a {:.1} s warm-up", r.warmup_s)
                } else {
                    String::new()
                },
                r.seed,
                r.threads,
                if r.io_uring { " and an io_uring thread" } else { "" },
                r.source_ips.max(1),
            ),
        );
        let b = &self.bots;
        row(
            "bots",
            format!(
                "started {}, joined {}, failed {}, dropped {}, stayed the window {}, leaves answered {}/{}",
                b.started,
                b.joined,
                b.failures.values().sum::<u64>(),
                b.drops.values().sum::<u64>(),
                b.stayed,
                b.leaves_answered,
                b.leaves_answered + b.leaves_unanswered,
            ),
        );
        for (name, counts, examples) in [
            ("failed by reason", &b.failures, &b.failure_examples),
            ("dropped by reason", &b.drops, &b.drop_examples),
        ] {
            for (i, (reason, n)) in counts.iter().enumerate() {
                let example =
                    examples.get(reason).map_or(String::new(), |text| format!(": {text}"));
                row(if i == 0 { name } else { "" }, format!("{reason} x{n}{example}"));
            }
        }
        for hint in &self.hints {
            row("hint", hint.clone());
        }
        if !b.panics.is_empty() {
            row("panicked", tally(&b.panics));
        }
        row("connect (ms)", percentiles(self.connect_ms));
        let f = &self.frames;
        let expected = match (f.expected, f.delivered_ratio) {
            (Some(e), Some(ratio)) => format!(" of {e} expected ({:.2}%)", ratio * 100.0),
            _ => String::new(),
        };
        if r.role.gets_snapshots() {
            row(
                "frames",
                format!(
                    "{}{expected}, {} frames skipped (replaced by the server before a bot read \
                     them)",
                    f.received, f.frames_skipped
                ),
            );
        } else {
            // A controller's feedback comes on change and at least once a second: a count,
            // not frames against ticks.
            row("feedback", format!("{} messages in the window", f.received));
        }
        if let Some(fps) = f.per_bot_fps {
            row(
                "fps per bot",
                format!(
                    "mean {:.2}, p50 {:.2}, p1 {:.2}, min {:.2} ({} bots)",
                    fps.mean, fps.p50, fps.p1, fps.min, fps.bots
                ),
            );
        }
        let mut input_to_ack = percentiles(self.input_to_ack_ms);
        if let Some(inputs) = self.inputs.filter(|i| i.still_waiting > 0) {
            let _ = write!(
                input_to_ack,
                "; {} unacknowledged at the window's close counted at their wait so far",
                inputs.still_waiting
            );
        }
        row("input-to-ack (ms)", input_to_ack);
        if let Some(inputs) = self.inputs {
            row(
                "inputs (whole sessions)",
                format!(
                    "sent {}, acked {}, unacked {} (from join to leave: ramp, warm-up and leave \
                     included, unlike the window's figures)",
                    inputs.sent, inputs.acked, inputs.unacked
                ),
            );
        }
        row("inter-arrival (ms)", percentiles(self.interarrival_ms));
        row("jitter (ms)", percentiles(self.jitter_ms));
        let mut rtt = percentiles(self.rtt_ms);
        if self.pings_still_waiting > 0 {
            let _ = write!(
                rtt,
                "; {} unanswered at the window's close counted at their wait so far",
                self.pings_still_waiting
            );
        }
        row("ping rtt (ms)", rtt);
        row(
            "bytes/bot/s",
            match (self.bytes_per_bot_per_s, r.window_s) {
                (Some(b), _) => format!("in {:.0}, out {:.0}", b.received, b.sent),
                (None, Some(_)) => "- (no bot joined in the window)".into(),
                (None, None) => "- (no window)".into(),
            },
        );
        row("errors", if self.errors.is_empty() { "none".into() } else { tally(&self.errors) });
        row(
            "close codes",
            if self.close_codes.is_empty() { "none".into() } else { tally(&self.close_codes) },
        );
        let res = &self.resources;
        let kib =
            |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}%"));
        // A reading under CPU_MIN_S is no 0%: too little for /proc's 10 ms steps to tell.
        let cpu = |percent: Option<f64>, seconds: Option<f64>, of: String| match (percent, seconds)
        {
            (None, Some(s)) => format!(
                "too little to measure ({:.0} ms over the window; /proc counts 10 ms steps)",
                s * 1000.0
            ),
            (percent, _) => format!("{}{of}", pct(percent)),
        };
        let mut resources = format!(
            "bots RSS {} -> {} ({} per bot), bots CPU {} (a thread waited for a CPU {})",
            kib(res.bots_rss_before_kib),
            kib(res.bots_rss_after_kib),
            res.rss_per_bot_kib.map_or("-".into(), |v| format!("{v:.1} KiB")),
            cpu(
                res.bots_cpu_percent,
                res.bots_cpu_s,
                format!(" of {:.0}%", res.bots_cpu_available_percent)
            ),
            pct(res.bots_wait_percent),
        );
        if let Some(us) = res.bots_cpu_us_per_frame {
            let _ = write!(resources, ", {us:.2} us per frame");
        }
        if let Some(n) = res.bots_per_core {
            let _ = write!(resources, " (about {n} bots per core)");
        }
        if let Some(gone) = res.server_gone {
            let _ = write!(resources, "; server (pid {}) gone {}", gone.pid, gone.when());
        } else if res.server_cpu_percent.is_some() || res.server_cpu_s.is_some() {
            let of =
                res.server_cpu_available_percent.map_or(String::new(), |a| format!(" of {a:.0}%"));
            let _ = write!(
                resources,
                "; server CPU {} (a thread waited for a CPU {}), RSS {}",
                cpu(res.server_cpu_percent, res.server_cpu_s, of),
                pct(res.server_wait_percent),
                kib(res.server_rss_kib)
            );
        }
        row("resources", resources);
        for warning in &self.warnings {
            row("warning", warning.clone());
        }
        for check in &self.checks {
            let verdict = if check.ok { "pass" } else { "FAIL" };
            row(&format!("check: {}", check.name), format!("{verdict} ({})", check.detail));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        out
    }
}

fn role_name(role: BotRole) -> &'static str {
    match role {
        BotRole::Player => "player",
        BotRole::Spectator => "spectator",
        BotRole::Controller => "controller",
    }
}

fn percentiles(p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1} ({} samples)",
            p.p50, p.p90, p.p99, p.max, p.samples
        ),
        None => "-".into(),
    }
}

fn tally(counts: &BTreeMap<String, u64>) -> String {
    counts.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let p = |p99| Percentiles { samples: 10, mean: 5.0, p50: 5.0, p90: 8.0, p99, max: 20.0 };
        Report {
            run: RunInfo {
                url: "ws://127.0.0.1:8080/ws".into(),
                role: BotRole::Player,
                bots: 4,
                room: "any".into(),
                seed: 1,
                ramp_per_s: 100.0,
                ramp_s: 0.1,
                warmup_s: 0.0,
                window_s: Some(2.0),
                input_rate: InputRate::Tick,
                acks: true,
                threads: 1,
                io_uring: false,
                source_ips: 0,
                tick_rate: 30,
                interrupted: false,
                interrupted_in: None,
                no_bot_left_in: None,
            },
            bots: BotsInfo {
                started: 4,
                joined: 4,
                failures: BTreeMap::new(),
                failure_examples: BTreeMap::new(),
                drops: BTreeMap::new(),
                drop_examples: BTreeMap::new(),
                stayed: 4,
                leaves_answered: 4,
                leaves_unanswered: 0,
                panics: BTreeMap::new(),
            },
            connect_ms: Some(p(3.0)),
            frames: FramesInfo {
                received: 240,
                expected: Some(240),
                delivered_ratio: Some(1.0),
                frames_skipped: 0,
                per_bot_fps: Some(FpsSummary {
                    bots: 4,
                    mean: 30.0,
                    min: 30.0,
                    p1: 30.0,
                    p50: 30.0,
                }),
            },
            input_to_ack_ms: Some(p(40.0)),
            inputs: Some(InputsInfo { sent: 240, acked: 236, unacked: 4, still_waiting: 4 }),
            interarrival_ms: Some(p(60.0)),
            jitter_ms: Some(p(20.0)),
            rtt_ms: Some(p(2.0)),
            pings_still_waiting: 0,
            bytes_per_bot_per_s: Some(Bytes { received: 3000.0, sent: 400.0 }),
            errors: BTreeMap::new(),
            close_codes: BTreeMap::from([("1000".to_string(), 4)]),
            resources: Resources {
                bots_rss_before_kib: Some(4096),
                bots_rss_after_kib: Some(4196),
                rss_per_bot_kib: Some(25.0),
                bots_cpu_s: Some(0.06),
                bots_cpu_percent: Some(3.0),
                bots_cpu_available_percent: 100.0,
                bots_cpu_us_per_frame: Some(125.0),
                bots_per_core: Some(266),
                bots_wait_percent: Some(1.0),
                server_wait_percent: None,
                server_cpu_s: None,
                server_cpu_percent: None,
                server_cpu_available_percent: None,
                server_rss_kib: None,
                server_gone: None,
            },
            checks: Vec::new(),
            warnings: Vec::new(),
            hints: Vec::new(),
            passed: false,
        }
    }

    fn failed(r: &Report) -> Vec<&str> {
        r.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn a_bot_that_stayed_without_a_snapshot_or_a_leave_unanswered_fails_by_default() {
        // One of four bots got nothing in the window: the mean (22.5 fps) hides it.
        let mut r = report();
        r.frames.per_bot_fps =
            Some(FpsSummary { bots: 4, mean: 22.5, min: 0.0, p1: 0.0, p50: 30.0 });
        r.evaluate(Thresholds::default());
        assert!(!r.passed, "{:?}", r.checks);
        assert_eq!(failed(&r), ["every bot got snapshots"], "{:?}", r.checks);
        let mut r = report();
        r.bots.leaves_answered = 3;
        r.bots.leaves_unanswered = 1;
        r.evaluate(Thresholds::default());
        assert!(!r.passed, "{:?}", r.checks);
        assert_eq!(failed(&r), ["every leave answered"], "{:?}", r.checks);
        // Controllers get feedback, not snapshots: nothing to ask of them.
        let mut r = report();
        r.run.role = BotRole::Controller;
        r.frames.per_bot_fps = None;
        r.evaluate(Thresholds::default());
        assert!(r.passed, "{:?}", r.checks);
    }

    #[test]
    fn the_default_verdict_fails_a_run_that_delivered_two_frames_in_three() {
        use clap::Parser;
        let thresholds = |argv: &[&str]| {
            Thresholds::of(&Args::try_parse_from([&["tickwire-bots"], argv].concat()).unwrap())
        };
        assert_eq!(thresholds(&[]).min_delivered_percent, Some(90.0), "on by default");
        // Every bot got frames, two in three of them: "every bot got snapshots" passes it.
        let mut r = report();
        (r.frames.received, r.frames.delivered_ratio) = (158, Some(158.0 / 240.0));
        r.frames.per_bot_fps =
            Some(FpsSummary { bots: 4, mean: 19.75, min: 19.0, p1: 19.0, p50: 20.0 });
        r.evaluate(thresholds(&[]));
        assert_eq!(failed(&r), ["frames delivered of expected"], "{:?}", r.checks);
        let check = r.checks.iter().find(|c| !c.ok).unwrap();
        assert_eq!(check.detail, "65.8%, 158 of 240 expected, limit 90% (--min-delivered)");
        assert!(r.table().contains("check: frames delivered of expected  FAIL"), "{}", r.table());
        r.evaluate(thresholds(&["--min-delivered", "60"]));
        assert!(r.passed, "{:?}", r.checks);
        r.evaluate(thresholds(&["--min-delivered", "0"]));
        assert!(r.passed && !r.checks.iter().any(|c| c.name.starts_with("frames")), "off");
        // No window: nothing delivered against nothing expected is no pass.
        (r.frames.expected, r.frames.delivered_ratio) = (None, None);
        r.evaluate(thresholds(&[]));
        assert!(failed(&r).contains(&"frames delivered of expected"), "{:?}", r.checks);
        // Controllers get feedback on change: no share to hold them to.
        r.run.role = BotRole::Controller;
        r.evaluate(thresholds(&[]));
        assert!(r.passed, "{:?}", r.checks);
    }

    #[test]
    fn a_join_token_in_the_url_stays_out_of_the_report() {
        let shown = |url| RunInfo::redacted_url(url);
        assert_eq!(
            shown("wss://game.example/ws?token=eyJhbGciOi.eyJzdWIi.sig&room=a"),
            "wss://game.example/ws?token=redacted&room=a"
        );
        assert_eq!(
            shown("ws://h:9/ws?room=a&Access_Token=x#f"),
            "ws://h:9/ws?room=a&Access_Token=redacted#f"
        );
        assert_eq!(shown("ws://bot:hunter2@h/ws"), "ws://bot:redacted@h/ws");
        assert_eq!(shown("ws://127.0.0.1:8080/ws"), "ws://127.0.0.1:8080/ws");
        assert_eq!(shown("ws://h/ws?tokens=1&token"), "ws://h/ws?tokens=1&token", "no value");
    }

    #[test]
    fn min_fps_holds_the_slowest_bot_not_the_mean() {
        let mut r = report();
        r.frames.per_bot_fps =
            Some(FpsSummary { bots: 100, mean: 29.7, min: 0.0, p1: 0.0, p50: 30.0 });
        r.evaluate(Thresholds { max_p99_ms: None, min_fps: Some(29.0), ..Default::default() });
        assert!(!r.passed, "{:?}", r.checks);
        let fps = r.checks.iter().find(|c| c.name == "delivered fps").expect("checked");
        assert!(!fps.ok, "{fps:?}");
        assert!(fps.detail.contains("mean 29.70"), "the mean stays in the detail: {fps:?}");
        // A slow bot, not a silent one: only the threshold fails.
        r.frames.per_bot_fps =
            Some(FpsSummary { bots: 100, mean: 29.7, min: 20.0, p1: 20.0, p50: 30.0 });
        r.evaluate(Thresholds { max_p99_ms: None, min_fps: Some(29.0), ..Default::default() });
        assert_eq!(failed(&r), ["delivered fps"], "{:?}", r.checks);
    }

    #[test]
    fn a_joined_bot_that_did_not_stay_fails_the_run_even_without_a_drop() {
        let mut r = report();
        r.run.bots = 6;
        (r.bots.started, r.bots.joined, r.bots.stayed) = (6, 6, 5);
        r.evaluate(Thresholds::default());
        assert!(!r.passed, "{:?}", r.checks);
        assert_eq!(failed(&r), ["every bot stayed"], "{:?}", r.checks);
        // A drop fails both: the bot dropped, and it did not stay.
        r.bots.drops.insert("lost-Eof".into(), 1);
        r.evaluate(Thresholds::default());
        assert_eq!(failed(&r), ["no bot dropped", "every bot stayed"], "{:?}", r.checks);
    }

    #[test]
    fn every_bot_stayed_fails_when_the_bots_dropped() {
        // The server was killed in the window: every bot that joined dropped.
        let mut r = report();
        r.bots.stayed = 0;
        r.bots.drops.insert("lost-eof".into(), 4);
        r.evaluate(Thresholds::default());
        let stayed = r.checks.iter().find(|c| c.name == "every bot stayed").expect("checked");
        assert!(!stayed.ok, "{stayed:?}");
        assert_eq!(stayed.detail, "0 of 4 joined stayed the window, 4 dropped");
    }

    #[test]
    fn a_run_no_bot_was_left_in_fails_window_complete_and_says_so() {
        let mut r = report();
        r.run.no_bot_left_in = Some(Phase::Window);
        r.run.window_s = Some(1.2);
        r.evaluate(Thresholds::default());
        let complete = r.checks.iter().find(|c| c.name == "window complete").expect("checked");
        assert!(!complete.ok, "{complete:?}");
        assert!(complete.detail.contains("ended after 1.2 s: no bot was left"), "{complete:?}");
        assert!(r.table().contains("1.2 s window (cut short: no bot left)"), "{}", r.table());
        // Nobody joined: no window at all, and no tick rate to show.
        let mut r = report();
        (r.bots.joined, r.bots.stayed, r.run.tick_rate) = (0, 0, 0);
        r.bots.failures.insert("connect-refused".into(), 4);
        r.run.window_s = None;
        r.run.no_bot_left_in = Some(Phase::Ramp);
        r.evaluate(Thresholds::default());
        let complete = r.checks.iter().find(|c| c.name == "window complete").expect("checked");
        assert_eq!(
            (complete.ok, complete.detail.as_str()),
            (false, "no window opened: every bot failed to join")
        );
        let table = r.table();
        assert!(table.contains("tick rate unknown") && !table.contains("0 ticks/s"), "{table}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["run"]["no_bot_left_in"], "ramp");
    }

    #[test]
    fn the_inputs_counts_are_labelled_as_whole_sessions() {
        let mut r = report();
        r.evaluate(Thresholds::default());
        let table = r.table();
        let line = |key: &str| {
            table.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{table}"))
        };
        let inputs = line("inputs (whole sessions)");
        assert!(inputs.contains("sent 240, acked 236, unacked 4 (from join to leave"), "{table}");
        // What waited at the window's close is a window figure: with the window's samples.
        assert!(!inputs.contains("unacknowledged at the window's close"), "{table}");
        let ack = line("input-to-ack (ms)");
        assert!(ack.contains("(10 samples); 4 unacknowledged at the window's close"), "{table}");
    }

    #[test]
    fn an_untrusted_certificate_a_page_or_a_missing_token_hints_at_the_flag() {
        let mut r = report();
        (r.bots.joined, r.bots.stayed) = (1, 1);
        for (reason, message) in [
            ("tls", "TLS handshake failed: invalid peer certificate: UnknownIssuer"),
            ("http-200", "upgrade refused: HTTP 200: <!doctype html> <html>"),
            ("http-401", "upgrade refused: HTTP 401: a join token is required"),
        ] {
            r.bots.failures.insert(reason.into(), 1);
            r.bots.failure_examples.insert(reason.into(), message.into());
        }
        r.evaluate(Thresholds::default());
        assert_eq!(r.hints.len(), 3, "{:?}", r.hints);
        assert!(r.hints[0].starts_with("tls:") && r.hints[0].contains("--ca-cert PATH"));
        assert!(r.hints[1].starts_with("http-200: no WebSocket at this path"), "{:?}", r.hints);
        assert!(r.hints[1].contains("/ws"), "{:?}", r.hints);
        assert!(r.hints[2].contains("--token-file PATH"), "{:?}", r.hints);
        // Another TLS failure is no matter of roots.
        let mut r = report();
        r.bots.failures.insert("tls".into(), 1);
        r.bots.failure_examples.insert("tls".into(), "TLS handshake failed: corrupt".into());
        r.evaluate(Thresholds::default());
        assert!(r.hints.is_empty(), "{:?}", r.hints);
    }

    #[test]
    fn refusals_come_with_an_example_message_and_a_hint() {
        let mut r = report();
        (r.bots.joined, r.bots.stayed) = (1, 1);
        r.bots.failures.insert("http-429".into(), 2);
        r.bots.failures.insert("http-503".into(), 1);
        let message = "upgrade refused: HTTP 429: too many sessions from this address";
        r.bots.failure_examples.insert("http-429".into(), message.into());
        r.evaluate(Thresholds::default());
        let table = r.table();
        let failed = table.lines().find(|l| l.starts_with("failed by reason")).expect(&table);
        assert!(failed.ends_with(&format!("http-429 x2: {message}")), "{table}");
        assert!(table.contains("http-503 x1\n"), "{table}");
        assert_eq!(r.hints.len(), 2, "{:?}", r.hints);
        assert!(
            r.hints[0].contains("--max-connections-per-ip") && r.hints[0].contains("--source-ips")
        );
        assert!(r.hints[1].contains("--max-connections,"), "{:?}", r.hints);
        assert!(table.contains("hint") && table.contains("one address"), "{table}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["bots"]["failure_examples"]["http-429"], message);
        assert_eq!(json["bots"]["failures"]["http-429"], 2, "counts stay numbers");
        assert_eq!(json["hints"].as_array().map(Vec::len), Some(2));
        // New seats from one address faster than the server takes them.
        let mut r = report();
        r.bots.failures.insert("close-1013".into(), 58);
        let message =
            "close 1013: too many new seats from this address; try again in a few seconds";
        r.bots.failure_examples.insert("close-1013".into(), message.into());
        r.evaluate(Thresholds::default());
        assert_eq!(r.hints.len(), 1, "{:?}", r.hints);
        assert!(
            r.hints[0].contains("--max-connections-per-ip") && r.hints[0].contains("--source-ips")
        );
        // An operator's removal or ban: named, with its message.
        let mut r = report();
        r.bots.drops.insert("kick-Removed".into(), 3);
        let message = "kicked (Removed): banned for 1h: load test from an unknown address";
        r.bots.drop_examples.insert("kick-Removed".into(), message.into());
        r.evaluate(Thresholds::default());
        let table = r.table();
        assert!(table.contains(&format!("kick-Removed x3: {message}")), "{table}");
        assert_eq!(r.hints.len(), 1, "{:?}", r.hints);
        assert!(
            r.hints[0].starts_with("kick-Removed: an operator") && r.hints[0].contains("/bans")
        );
        // Bots over the server's rate limits, and a source address the machine lacks.
        let mut r = report();
        r.bots.drops.insert("kick-RateLimited".into(), 4);
        r.bots.failures.insert("connect-no-local-address".into(), 9);
        r.evaluate(Thresholds::default());
        assert_eq!(r.hints.len(), 2, "{:?}", r.hints);
        assert!(r.hints[0].starts_with("kick-RateLimited") && r.hints[0].contains("--input-rate"));
        assert!(r.hints[1].contains("--source-ips"), "{:?}", r.hints);
        // No refusal, no hint.
        let mut r = report();
        r.evaluate(Thresholds::default());
        assert!(r.hints.is_empty() && !r.table().contains("hint"));
    }

    #[test]
    fn cpu_too_little_to_measure_is_said_not_shown_as_zero() {
        let mut r = report();
        r.resources.bots_cpu_s = Some(0.0);
        r.resources.bots_cpu_percent = None;
        r.resources.bots_cpu_us_per_frame = None;
        r.resources.bots_per_core = None;
        r.evaluate(Thresholds::default());
        let table = r.table();
        assert!(table.contains("bots CPU too little to measure (0 ms over the window"), "{table}");
        assert!(!table.contains("us per frame") && !table.contains("CPU 0%"), "{table}");
    }

    #[test]
    fn a_server_process_gone_is_named_with_when() {
        let mut r = report();
        r.resources.server_gone =
            Some(ServerGone { pid: 4242, phase: Phase::Window, after_s: 3.1 });
        r.evaluate(Thresholds::default());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("--server-pid 4242) was gone 3.1 s into the window"));
        assert!(
            r.table().contains("server (pid 4242) gone 3.1 s into the window"),
            "{}",
            r.table()
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["resources"]["server_gone"]["phase"], "window");
        assert_eq!(json["resources"]["server_gone"]["after_s"], 3.1);
    }

    #[test]
    fn thresholds_decide_the_verdict_per_role() {
        let mut r = report();
        r.evaluate(Thresholds {
            max_p99_ms: Some(50.0),
            min_fps: Some(29.0),
            ..Default::default()
        });
        assert!(r.passed, "{:?}", r.checks);
        assert_eq!(r.checks.len(), 10);
        r.evaluate(Thresholds { max_p99_ms: Some(30.0), min_fps: None, ..Default::default() });
        assert!(!r.passed, "input-to-ack p99 40 > 30");
        assert_eq!(r.checks.iter().filter(|c| !c.ok).count(), 1);
        r.run.role = BotRole::Spectator;
        r.evaluate(Thresholds { max_p99_ms: Some(50.0), min_fps: None, ..Default::default() });
        assert!(!r.passed, "spectators are held to their inter-arrival p99 (60)");
        r.run.role = BotRole::Controller;
        r.evaluate(Thresholds { max_p99_ms: Some(50.0), min_fps: None, ..Default::default() });
        assert!(r.passed, "controllers to their round trip (2)");
        r.evaluate(Thresholds { max_p99_ms: None, min_fps: Some(31.0), ..Default::default() });
        assert!(!r.passed);
    }

    #[test]
    fn failures_drops_and_errors_fail_the_run_without_thresholds() {
        let mut r = report();
        r.bots.failures.insert("http-429".into(), 1);
        r.bots.joined = 3;
        r.evaluate(Thresholds::default());
        assert!(!r.passed);
        let mut r = report();
        r.errors.insert("apply-MissingBaseline".into(), 2);
        r.evaluate(Thresholds::default());
        assert!(!r.passed);
        let mut r = report();
        r.evaluate(Thresholds::default());
        assert!(r.passed);
    }

    #[test]
    fn the_table_and_the_json_carry_every_figure() {
        let mut r = report();
        r.bots.failures.insert("http-429".into(), 1);
        r.frames.frames_skipped = 3;
        r.evaluate(Thresholds { max_p99_ms: Some(50.0), min_fps: None, ..Default::default() });
        let table = r.table();
        for needle in [
            "4 players",
            "http-429 x1",
            "p99 40.0",
            "mean 30.00",
            "in 3000, out 400",
            "1000 x4",
            "25.0 KiB per bot",
            "3% of 100%",
            "125.00 us per frame (about 266 bots per core)",
            "sent 240, acked 236, unacked 4 (from join to leave",
            "limit 50 ms; 4 inputs unacknowledged at the close counted at their wait so far)",
            "FAIL",
            // Gaps in tick numbers are frames the server replaced, not ticks it skipped.
            "3 frames skipped (replaced by the server before a bot read them)",
        ] {
            assert!(table.contains(needle), "{needle:?} missing from\n{table}");
        }
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["frames"]["expected"], 240);
        assert_eq!(json["frames"]["frames_skipped"], 3);
        assert!(json["frames"].get("ticks_skipped").is_none(), "renamed: it never was ticks");
        assert!(!table.contains("ticks skipped"), "{table}");
        assert_eq!(json["input_to_ack_ms"]["p99"], 40.0);
        assert_eq!(json["inputs"]["unacked"], 4);
        assert_eq!(json["bytes_per_bot_per_s"]["in"], 3000.0);
        assert_eq!(json["run"]["role"], "player");
        assert_eq!(json["passed"], false);
        assert_eq!(json["resources"]["bots_per_core"], 266);
        assert_eq!(json["warnings"], serde_json::json!([]));
    }

    #[test]
    fn a_run_without_a_window_says_so_and_fails() {
        let mut r = report();
        r.run.window_s = None;
        r.run.interrupted = true;
        r.run.interrupted_in = Some(Phase::Ramp);
        r.bytes_per_bot_per_s = None;
        r.resources.bots_cpu_s = None;
        r.resources.bots_cpu_percent = None;
        r.evaluate(Thresholds::default());
        assert!(!r.passed);
        let table = r.table();
        for needle in [
            "no measurement window (interrupted) after a 0.1 s ramp",
            "bytes/bot/s",
            "- (no window)",
            "bots CPU - of 100%",
            "FAIL (interrupted during the ramp: no window opened)",
        ] {
            assert!(table.contains(needle), "{needle:?} missing from\n{table}");
        }
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["run"]["window_s"], serde_json::Value::Null);
        assert_eq!(json["bytes_per_bot_per_s"], serde_json::Value::Null);
        // Not interrupted, yet no window: no bot could start (the ring failed).
        r.run.interrupted = false;
        r.run.interrupted_in = None;
        r.evaluate(Thresholds::default());
        assert!(!r.passed, "{:?}", r.checks);
        assert!(r.table().contains("no window opened: no bot could start"), "{}", r.table());
        // Interrupted in its window: the run line says it was cut short, as the check does.
        (r.run.window_s, r.run.interrupted, r.run.interrupted_in) =
            (Some(1.5), true, Some(Phase::Window));
        r.evaluate(Thresholds::default());
        assert!(r.table().contains("1.5 s window (cut short: interrupted)"), "{}", r.table());
    }

    #[test]
    fn a_saturated_or_crowded_bots_process_is_warned_about_not_failed() {
        let mut r = report();
        r.resources.bots_cpu_percent = Some(79.0);
        r.evaluate(Thresholds::default());
        assert!(r.warnings.is_empty(), "79% of one core is below 80%: {:?}", r.warnings);
        r.resources.bots_cpu_percent = Some(91.0);
        r.evaluate(Thresholds::default());
        assert!(r.passed, "a warning is not a failure");
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("91% CPU of the 100%"), "{}", r.warnings[0]);
        assert!(r.table().contains("warning"), "{}", r.table());
        // With two threads on two cores, 91% is half of what the bots could use.
        r.run.threads = 2;
        r.resources.bots_cpu_available_percent = 200.0;
        r.evaluate(Thresholds::default());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        r.resources.bots_wait_percent = Some(12.0);
        r.evaluate(Thresholds::default());
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("waited for a CPU 12%"), "{}", r.warnings[0]);
        assert!(r.warnings[0].contains("other processes"), "{}", r.warnings[0]);
        // Eight threads pinned to one core: they hold each other back, not only others.
        (r.run.threads, r.resources.bots_cpu_available_percent) = (8, 100.0);
        r.resources.bots_wait_percent = Some(100.0);
        r.evaluate(Thresholds::default());
        assert!(r.warnings.iter().any(|w| w.contains("their own 8 threads share 1 core(s)")));
    }

    #[test]
    fn a_server_that_waited_for_a_cpu_is_warned_about_even_below_its_capacity() {
        // 450 players: the server used 30% of its core, and its threads waited for it.
        let mut r = report();
        r.resources.server_cpu_percent = Some(30.0);
        r.resources.server_cpu_available_percent = Some(100.0);
        r.resources.server_wait_percent = Some(9.0);
        r.evaluate(Thresholds::default());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        r.resources.server_wait_percent = Some(61.0);
        r.evaluate(Thresholds::default());
        assert!(r.passed, "a warning is not a failure");
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        let warning = &r.warnings[0];
        assert!(warning.contains("server waited for a CPU 61% of the window"), "{warning}");
        assert!(warning.contains("measure this machine's scheduling"), "{warning}");
        assert!(r.table().contains("(a thread waited for a CPU 61%)"), "{}", r.table());
    }

    #[test]
    fn a_server_at_capacity_is_named_as_the_limit() {
        let mut r = report();
        r.resources.server_cpu_percent = Some(95.0);
        r.evaluate(Thresholds::default());
        assert!(r.warnings.is_empty(), "without its available CPU, nothing to judge");
        r.resources.server_cpu_available_percent = Some(100.0);
        r.evaluate(Thresholds::default());
        assert_eq!(r.warnings.len(), 1);
        assert!(r.warnings[0].contains("server used 95% CPU of the 100%"), "{}", r.warnings[0]);
        assert!(r.table().contains("server CPU 95% of 100%"), "{}", r.table());
        r.resources.server_cpu_available_percent = Some(200.0);
        r.evaluate(Thresholds::default());
        assert!(r.warnings.is_empty(), "95% of two cores: {:?}", r.warnings);
    }
}
