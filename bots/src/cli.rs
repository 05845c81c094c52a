//! The command line ([`Args`], clap) and [`check`], which refuses flag combinations that make
//! no sense.
//! A bad value is refused by clap with a message naming the flag, and exit code 2.

use clap::{Parser, ValueEnum};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tickwire_client::{Endpoint, UrlError};
use tickwire_shared::{Role, is_valid_room_name};

/// Load-test a tickwire server with real clients, and report what players feel.
///
/// Every bot joins, plays (or watches) with a seeded behaviour, acknowledges snapshots and
/// checks that the world it rebuilds stays consistent. Bots start at the --ramp rate; once all
/// have joined (or failed), --warmup passes and the measurement window of --duration starts;
/// then every bot leaves with a close frame and the report is printed (and written as JSON with
/// --json).
///
/// Exit code: 0 when every bot joined and stayed the window, each of them (players and
/// spectators) got snapshots in it and together at least --min-delivered (90%) of the frames
/// expected, every leave was answered, nothing panicked or was inconsistent, the window ran
/// to its end and the thresholds held; 1 when a check failed
/// (each is listed on stderr), an interrupted run included; 2 for a bad command line.
///
/// When every bot has failed to join or dropped (a server that is down or died), the run ends
/// there with its report, which says so: nobody is left to measure the rest of the window.
///
/// Ctrl-C or SIGTERM ends the ramp, warm-up or window early: the bots leave and the report
/// is written (the --json file first) and printed to whoever still reads, marked
/// interrupted; a second one quits at once without a report
/// (exit 130 after Ctrl-C, 143 after SIGTERM). A --json file is emptied before anything
/// else, even for a command line that is then refused, so an earlier report never passes for
/// this run's.
///
/// Warnings (on stderr and in the report) never change the exit code: the bots used 80% or
/// more of the CPU they can use, or a thread of theirs waited for a CPU 10% of the window or
/// more, so part of the delays they report are their own; or, with --server-pid, the server
/// used 90% or more of the cores it may run on, or a thread of its waited for a CPU 10% of
/// the window or more (its latency then measures the machine's scheduling).
#[derive(Debug, Clone, Parser)]
#[command(name = "tickwire-bots", version, about, long_about)]
pub struct Args {
    /// The server's game WebSocket: `ws://` or `wss://` (certificate checked against
    /// Mozilla's roots, or --ca-cert's). A join token may ride in it (`?token=...`; the
    /// report shows `token=redacted`), though `ps` and shell history then show it:
    /// --token-file keeps it out.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws", value_parser = parse_url)]
    pub url: Arc<Endpoint>,

    /// PEM file of one or more certificates that a `wss://` --url's certificate is checked
    /// against, instead of Mozilla's roots: a staging server's private CA, or a self-signed
    /// certificate itself (one that says CA:FALSE, as the client's docs show how to make).
    /// Read at start: a file without a certificate is refused.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// File holding a join token, for a server with --join-secret or --join-public-key (which
    /// refuses bots without one: `http-401`). Every bot sends it as `Authorization: Bearer`,
    /// out of the URL, of `ps` and of the report; spaces and a line end around it are
    /// ignored. Every bot sends the same token: each joins under its name (`sub`) and, when
    /// it pins them, its room and role, so mint it for the bots' --room and --role, to
    /// outlive the run (`tickwire-server mint-token --ttl`).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Bots to run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub bots: u32,

    /// Length of the measurement window, after the ramp (e.g. 60s, 2m, 500ms).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Time between the end of the ramp (every bot joined or failed) and the measurement
    /// window. The first seconds after a join are not steady play: full snapshots until the
    /// first acks, rooms still filling, the server's caches warming; a warm-up keeps them out
    /// of every figure measured over the window, at the cost of that much more run time (a
    /// bot that drops during it still counts as dropped, and did not stay the window). 0
    /// opens the window as the ramp ends.
    #[arg(long, default_value = "0s", value_parser = parse_warmup)]
    pub warmup: Duration,

    /// Writes this file (the number of bots that joined) when the ramp is over, before the
    /// warm-up: a watcher of the server that waits for it and then lets the same --warmup and
    /// --duration pass measures the bots' own window (`bench-watch --wait-file`, as
    /// `bench/game.sh` runs it). Refused if it exists already: a watcher would take it for
    /// this run's.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,

    /// Bots started per second, as `N/s` or `N` (e.g. 200/s).
    #[arg(long, default_value = "100/s", value_parser = parse_rate)]
    pub ramp: f64,

    /// What every bot is.
    #[arg(long, value_enum, default_value_t = BotRole::Player)]
    pub role: BotRole,

    /// `any` for matchmaking, or the name of one room for every bot.
    #[arg(long, default_value = "any", value_parser = parse_room)]
    pub room: RoomChoice,

    /// Seed of the bots' behaviours (bot N uses seed + N) and reconnect jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Writes the report as JSON to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Local addresses to open connections from, bot N from address N modulo their count:
    /// a range `127.0.0.2-127.0.0.60` or a list `127.0.0.2,127.0.0.3`. The server caps
    /// sessions per address (64 by default), per /64 for IPv6: each address once, and IPv6
    /// addresses each in a /64 of their own (one /48 holds four addresses' worth at most:
    /// from one site, raise the server's --max-connections-per-ip). Of the --url host's
    /// family; loopback only for a server on loopback.
    #[arg(long, value_name = "ADDRESSES", value_parser = parse_source_ips)]
    pub source_ips: Option<SourceIps>,

    /// Fail (exit 1) when the p99 latency is above this many milliseconds: input-to-ack for
    /// players, snapshot inter-arrival for spectators, ping round trip for controllers.
    #[arg(long, value_name = "MS", value_parser = parse_positive)]
    pub max_p99_ms: Option<f64>,

    /// Fail (exit 1) when the slowest bot's delivered snapshot rate is below this: the
    /// minimum over the bots that stayed the window, not the mean (which the report gives
    /// too, with the 1st percentile). Players and spectators.
    #[arg(long, value_name = "FPS", value_parser = parse_positive)]
    pub min_fps: Option<f64>,

    /// Fail (exit 1) when the bots got less than this share of the frames expected in the
    /// window, in percent (the report's `frames` line: received against expected, each bot
    /// for the time it was joined in it). Players and spectators; ignored for controllers,
    /// whose feedback comes on change. Default 90: a server that delivers players two frames
    /// in three fails, while a frame lost now and then at a window's edge or to a busy load
    /// machine does not. Lower it on a crowded CI machine, raise it (99) to hold a production
    /// server to a tighter share; 0 turns the check off.
    #[arg(long, value_name = "PERCENT", default_value_t = 90.0, value_parser = parse_percent)]
    pub min_delivered: f64,

    /// When players and controllers send inputs: `tick` sends one right after each snapshot
    /// (in the same write as its ack, as the client's one-a-tick pacing allows on a steady
    /// link), as a client that samples its controls when a new world arrives; a number (1 to
    /// 120) sends that many per second from the bot's own clock, at its own phase, as a
    /// client on its own frame rate. The server applies one input per player a tick: a rate
    /// above the room's tick rate queues inputs there, and input-to-ack then measures that
    /// queue (growing with the excess), not the server's speed. Controllers get no
    /// snapshots: with `tick` they send at the room's tick rate. Spectators send no inputs:
    /// a number is refused with them.
    #[arg(long, default_value = "tick", value_name = "tick|HZ", value_parser = parse_input_rate)]
    pub input_rate: InputRate,

    /// Never acknowledge snapshots, so the server sends every bot full snapshots: the
    /// baseline that delta encoding is measured against (bytes per bot, server CPU). Players
    /// and spectators (controllers get no snapshots).
    #[arg(long)]
    pub no_ack: bool,

    /// What "worlds consistent" holds every rebuilt world to, besides decoding and applying
    /// (always): `arena` (default) also that every entity lies inside the playfield the
    /// `Welcome` told and that a player's own ship is in each of its worlds, as the arena
    /// keeps them; `protocol` only what the protocol itself promises, for a game of your own
    /// whose entities may leave the field, or whose players may be out of the world a while
    /// (an eliminated player).
    #[arg(long, value_enum, default_value_t = WorldChecks::Arena)]
    pub world_checks: WorldChecks,

    /// Interval of the bots' pings (round-trip samples).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Worker threads: 1 runs every bot on one current-thread runtime (measured cheaper
    /// on one core, see BENCHMARKS.md); more uses a multi-threaded runtime.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,

    /// Linux: drive every bot from one thread that reads all sockets through one io_uring
    /// (a multishot receive per socket into shared buffers) instead of a tokio task per bot.
    /// The same sessions, checks and report, with fewer system calls and wake-ups per
    /// snapshot: spectators cost about 0.7 times the CPU per snapshot, so one core drives
    /// about 1.4 times as many; players (an input sent per snapshot) about the same
    /// (BENCHMARKS.md, "Bots on io_uring"). A snapshot waits up to
    /// 250 us in the kernel for others to be read with it, which the measured arrival times
    /// include. `ws://` only; players and spectators with `--input-rate tick`; `--threads`
    /// then only sizes the runtime that opens the connections. Refused where the kernel (or
    /// a container's seccomp profile) forbids io_uring.
    #[arg(long)]
    pub io_uring: bool,

    /// PID of the server process, to report its CPU and memory over the window (same
    /// machine only).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// No live progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// The role every bot plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BotRole {
    /// Steers a ship (wander, chase, boost), acks snapshots of its view.
    Player,
    /// Watches a whole room, acks snapshots.
    Spectator,
    /// A gamepad: steers a ship, receives only controller feedback.
    Controller,
}

impl BotRole {
    /// The protocol role.
    pub fn role(self) -> Role {
        match self {
            BotRole::Player => Role::Player,
            BotRole::Spectator => Role::Spectator,
            BotRole::Controller => Role::Controller,
        }
    }

    /// True when this role receives a snapshot every tick.
    pub fn gets_snapshots(self) -> bool {
        !matches!(self, BotRole::Controller)
    }
}

/// `--world-checks`: what a rebuilt world is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorldChecks {
    /// The protocol's promises and the arena's: entities inside the playfield, a player's
    /// own ship in its every world.
    Arena,
    /// The protocol's alone: every snapshot decodes and applies to a baseline it holds.
    Protocol,
}

/// `--input-rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRate {
    /// One input per snapshot received.
    Tick,
    /// This many inputs per second.
    Hz(u16),
}

fn parse_input_rate(text: &str) -> Result<InputRate, String> {
    if text.trim().eq_ignore_ascii_case("tick") {
        return Ok(InputRate::Tick);
    }
    match text.trim().parse::<u16>() {
        Ok(hz) if (1..=120).contains(&hz) => Ok(InputRate::Hz(hz)),
        _ => Err(format!("`{text}` is neither `tick` nor a rate from 1 to 120 per second")),
    }
}

/// `--room`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomChoice {
    /// Matchmaking.
    Any,
    /// One named room.
    Named(String),
}

/// `--source-ips`: the local addresses to spread connections over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIps(pub Vec<IpAddr>);

impl SourceIps {
    /// The address of bot `index`.
    pub fn for_bot(&self, index: u32) -> Option<IpAddr> {
        (!self.0.is_empty()).then(|| self.0[index as usize % self.0.len()])
    }
}

fn parse_url(text: &str) -> Result<Arc<Endpoint>, String> {
    Endpoint::parse(text).map(Arc::new).map_err(|e: UrlError| e.to_string())
}

/// Longest duration a flag takes: past it a typo (`300000000000y`) would overflow the clock.
const DURATION_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration (examples: 60s, 2m, 500ms): {e}"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    if d > DURATION_MAX {
        return Err(format!("`{text}` is longer than 30 days"));
    }
    Ok(d)
}

/// A duration that may be zero (`0s`, `0`: none), at most [`DURATION_MAX`].
fn parse_warmup(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Ok(d),
        _ => parse_duration(text),
    }
}

/// `200/s` or `200`: bots started per second, at least 0.01 (one every 100 s; slower is a
/// typo, and `1e-20` would overflow the clock).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.01 => Ok(rate),
        _ => Err(format!("`{text}` is not a rate of at least 0.01/s such as 200/s")),
    }
}

fn parse_room(text: &str) -> Result<RoomChoice, String> {
    if text.eq_ignore_ascii_case("any") {
        Ok(RoomChoice::Any)
    } else if is_valid_room_name(text) {
        Ok(RoomChoice::Named(text.to_string()))
    } else {
        Err(format!("`{text}` is neither `any` nor 1 to 16 letters, digits, '-', '_' or '.'"))
    }
}

/// A share in percent, 0 to 100.
fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.trim().parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a percentage from 0 to 100")),
    }
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// Most source addresses accepted (a /16): more is a typo.
const MAX_SOURCE_IPS: u32 = 65_536;

/// `127.0.0.2-127.0.0.60` (IPv4, inclusive) or `a,b,c` (any addresses).
pub fn parse_source_ips(text: &str) -> Result<SourceIps, String> {
    let text = text.trim();
    if let Some((start, end)) = text.split_once('-') {
        let parse = |s: &str| {
            s.trim().parse::<Ipv4Addr>().map_err(|_| format!("`{s}` is not an IPv4 address"))
        };
        let (start, end) = (u32::from(parse(start)?), u32::from(parse(end)?));
        if start > end {
            return Err(format!("`{text}`: the range ends before it starts"));
        }
        if end - start >= MAX_SOURCE_IPS {
            return Err(format!("`{text}`: more than {MAX_SOURCE_IPS} addresses"));
        }
        return Ok(SourceIps((start..=end).map(|ip| IpAddr::V4(ip.into())).collect()));
    }
    let ips = text
        .split(',')
        .map(|s| s.trim().parse::<IpAddr>().map_err(|_| format!("`{s}` is not an IP address")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SourceIps(ips))
}

/// File descriptors kept free for the runtime, the report and stdio.
const FD_HEADROOM: u64 = 64;

/// Raises the soft limit on open files to the hard one (a shell's soft 1,024 is commonly under a
/// hard 524,288): each bot holds a socket, and a load test wants thousands. [`check`] then
/// judges `--bots` against the raised limit. Quietly does nothing where it cannot.
#[allow(unsafe_code)]
pub fn raise_open_files_limit() {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` through the pointer, a live, aligned local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur < limit.rlim_max
        {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            // SAFETY: setrlimit only reads one `rlimit` through the pointer, a live local. On
            // failure the limit stays as it was, and `check` names it.
            let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        }
    }
}

/// The soft limit on open files (`ulimit -n`), from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `args` with its --url endpoint trusting --ca-cert's certificates and sending
/// --token-file's token, both read now: a file that cannot be used is refused naming its
/// flag (exit 2) before any bot starts, not found out by thousands of failed joins. Call
/// after [`check`].
pub fn read_files(mut args: Args) -> Result<Args, clap::Error> {
    use clap::CommandFactory;
    let invalid = |flag: &str, path: &std::path::Path, why: String| {
        Args::command().error(
            clap::error::ErrorKind::ValueValidation,
            format!("--{flag} {}: {why}", path.display()),
        )
    };
    let mut endpoint = (*args.url).clone();
    if let Some(path) = &args.ca_cert {
        let roots = read_roots(path).map_err(|why| invalid("ca-cert", path, why))?;
        endpoint = endpoint.with_tls_config(Arc::new(tickwire_client::tls_config(roots)));
    }
    if let Some(path) = &args.token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| invalid("token-file", path, e.to_string()))?;
        if token.trim().is_empty() {
            return Err(invalid("token-file", path, "empty: no token in it".into()));
        }
        // Not shown: the token is a credential.
        endpoint =
            endpoint.with_bearer(&token).map_err(|e| invalid("token-file", path, e.to_string()))?;
    }
    args.url = Arc::new(endpoint);
    Ok(args)
}

/// The certificates of a PEM file, as roots to check a server's certificate against.
fn read_roots(path: &std::path::Path) -> Result<tickwire_client::rustls::RootCertStore, String> {
    use tickwire_client::rustls::RootCertStore;
    use tickwire_client::rustls::pki_types::CertificateDer;
    use tickwire_client::rustls::pki_types::pem::{self, PemObject};
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| match e {
        pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    for (n, cert) in certs.enumerate() {
        let cert = cert.map_err(|e| format!("not PEM certificates: {e}"))?;
        roots.add(cert).map_err(|e| format!("certificate {} cannot be trusted: {e}", n + 1))?;
    }
    if roots.is_empty() {
        return Err("no certificate in it (PEM: -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(roots)
}

/// Refuses flag combinations that make no sense, naming the flag (clap's usage error, exit 2).
pub fn check(args: &Args) -> Result<(), clap::Error> {
    use clap::CommandFactory;
    if let Some(limit) = open_files_limit()
        && u64::from(args.bots) + FD_HEADROOM > limit
    {
        return Err(Args::command().error(
            clap::error::ErrorKind::ValueValidation,
            format!(
                "--bots {}: each bot holds a socket, and this process may open {limit} files \
                 (ulimit -n, raised to the hard limit ulimit -Hn); at most {} bots fit",
                args.bots,
                limit.saturating_sub(FD_HEADROOM)
            ),
        ));
    }
    if let Some(ips) = &args.source_ips
        && let Err(why) = check_source_ips(&ips.0, &url_addresses(args))
    {
        return Err(Args::command()
            .error(clap::error::ErrorKind::ValueValidation, format!("--source-ips: {why}")));
    }
    let conflict =
        |why: String| Err(Args::command().error(clap::error::ErrorKind::ArgumentConflict, why));
    if args.ca_cert.is_some() && !args.url.is_tls() {
        return conflict("--ca-cert needs a wss:// --url: ws:// checks no certificate".into());
    }
    // Which of the two the server would take is its business: one, not both.
    if args.token_file.is_some() && args.url.uri().query().is_some_and(has_token) {
        return conflict(
            "--token-file and a token in --url's query: pass the token one way, --token-file"
                .into(),
        );
    }
    // Role conflicts come before --io-uring's: they are wrong whatever the engine.
    if let (BotRole::Spectator, InputRate::Hz(hz)) = (args.role, args.input_rate) {
        return conflict(format!(
            "--input-rate {hz} needs --role player or controller: spectators send no inputs"
        ));
    }
    if args.no_ack && args.role == BotRole::Controller {
        return conflict(
            "--no-ack needs --role player or spectator: controllers receive no snapshots to \
             acknowledge"
                .into(),
        );
    }
    if args.min_fps.is_some() && !args.role.gets_snapshots() {
        return conflict(
            "--min-fps needs --role player or spectator: controllers receive no snapshots".into(),
        );
    }
    if args.io_uring {
        if args.url.is_tls() {
            return conflict("--io-uring drives plain sockets: use a ws:// --url".into());
        }
        if args.role == BotRole::Controller {
            return conflict(
                "--io-uring runs players and spectators: controllers need the default engine"
                    .into(),
            );
        }
        if let InputRate::Hz(hz) = args.input_rate {
            return conflict(format!(
                "--io-uring paces inputs by snapshots (--input-rate tick): --input-rate {hz} \
                 needs the default engine"
            ));
        }
        if let Err(why) = io_uring_available() {
            return conflict(format!("--io-uring: {why}"));
        }
    }
    if let Some(path) = &args.ready_file {
        let invalid =
            |why: String| Err(Args::command().error(clap::error::ErrorKind::ValueValidation, why));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if path.exists() {
            return invalid(format!(
                "--ready-file {}: exists already, and a watcher would take it for this run's \
                 ready signal; remove it first",
                path.display()
            ));
        }
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return invalid(format!(
                "--ready-file {}: no directory {} to write it in",
                path.display(),
                dir.display()
            ));
        }
    }
    if let Some(pid) = args.server_pid
        && std::path::Path::new("/proc/self/stat").exists()
        && !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
    {
        return Err(Args::command().error(
            clap::error::ErrorKind::ValueValidation,
            format!("--server-pid {pid}: no such process on this machine"),
        ));
    }
    if let Some(pid) = args.server_pid
        && let Ok(name) = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        && let Some(wrapper) = wrapper_name(name.trim())
    {
        // Its CPU and memory would be the wrapper's: a few milliseconds and a megabyte, read
        // as a server that idles under the load.
        return Err(Args::command().error(
            clap::error::ErrorKind::ValueValidation,
            format!(
                "--server-pid {pid}: that is `{wrapper}`, which runs the server, not the server \
                 (give the server's own pid: pgrep -n tickwire-server)"
            ),
        ));
    }
    Ok(())
}

/// `name` (a process's `comm`) when it is a shell or launcher that runs a server as its child
/// rather than becoming it (`exec`, `nice`, `taskset` and `env` become it, and pass).
fn wrapper_name(name: &str) -> Option<&str> {
    const WRAPPERS: [&str; 10] =
        ["sh", "bash", "dash", "zsh", "fish", "cargo", "timeout", "sudo", "su", "setsid"];
    WRAPPERS.contains(&name).then_some(name)
}

/// The addresses `--url`'s host stands for: the IP literal, or what the resolver says;
/// empty when it cannot tell (the run then reports the connect failures).
fn url_addresses(args: &Args) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    let uri = args.url.uri();
    let Some(host) = uri.host() else { return Vec::new() };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    let port = uri.port_u16().unwrap_or(if args.url.is_tls() { 443 } else { 80 });
    (host, port).to_socket_addrs().map(|addrs| addrs.map(|a| a.ip()).collect()).unwrap_or_default()
}

/// Refuses source addresses that cannot reach `target` (the `--url` host's addresses; empty
/// when unknown) or that spread nothing.
fn check_source_ips(sources: &[IpAddr], target: &[IpAddr]) -> Result<(), String> {
    let family = |ip: &IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    for source in sources {
        // The client only tries the host's addresses of the source's family.
        let reachable: Vec<&IpAddr> =
            target.iter().filter(|t| t.is_ipv4() == source.is_ipv4()).collect();
        if !target.is_empty() && reachable.is_empty() {
            return Err(format!(
                "{source} is {} but the --url host has only {} addresses ({}): every bot \
                 from it would fail to connect",
                family(source),
                family(&target[0]),
                list(target),
            ));
        }
        // Linux drops packets from a loopback source routed to another host.
        if source.is_loopback()
            && !reachable.is_empty()
            && !reachable.iter().any(|t| t.is_loopback())
        {
            return Err(format!(
                "{source} is a loopback address and the --url host ({}) is not on loopback: \
                 the kernel refuses such connections",
                list(target),
            ));
        }
    }
    // The server caps sessions per IPv6 /64 (what one host is given), not per address.
    let mut seen: HashMap<u64, Ipv6Addr> = HashMap::new();
    // An IPv4 address listed twice spreads nothing either: its bots share its cap.
    let mut seen_v4: HashSet<Ipv4Addr> = HashSet::new();
    for source in sources {
        match source {
            IpAddr::V6(v6) => {
                if let Some(first) = seen.insert((u128::from(*v6) >> 64) as u64, *v6) {
                    return Err(format!(
                        "{first} and {v6} share a /64, and the server counts a /64 as one \
                         client: spreading over them raises no cap; use one address per /64"
                    ));
                }
            }
            IpAddr::V4(v4) => {
                if !seen_v4.insert(*v4) {
                    return Err(format!(
                        "{v4} is listed twice, and the server counts an address as one \
                         client: repeating it raises no cap; list each address once"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether a URL query carries a join token (`token=`).
fn has_token(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("token")))
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Whether this kernel lets the process set up the bots' ring (a small one).
fn io_uring_available() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return crate::ring::RingReader::new(1, 4, 64)
        .map(drop)
        .map_err(|e| format!("io_uring is not available here ({e})"));
    #[cfg(not(target_os = "linux"))]
    Err("io_uring is Linux only".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_parse_with_or_without_the_unit() {
        assert_eq!(parse_rate("200/s"), Ok(200.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn source_ips_parse_as_ranges_or_lists() {
        let range = parse_source_ips("127.0.0.2-127.0.0.60").unwrap();
        assert_eq!(range.0.len(), 59);
        assert_eq!(range.for_bot(0), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(range.for_bot(59), Some("127.0.0.2".parse().unwrap()), "wraps around");
        assert_eq!(range.for_bot(60), Some("127.0.0.3".parse().unwrap()));
        assert_eq!(parse_source_ips("127.0.0.5, 127.0.0.9").unwrap().0.len(), 2);
        assert!(parse_source_ips("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_source_ips("10.0.0.0-10.2.0.0").is_err());
        assert!(parse_source_ips("127.0.0.x").is_err());
    }

    #[test]
    fn source_ips_that_cannot_reach_the_url_or_spread_nothing_are_refused() {
        let check_ips = |url: &str, ips: &str| {
            let argv = ["tickwire-bots", "--url", url, "--source-ips", ips];
            check(&Args::try_parse_from(argv).unwrap()).map_err(|e| e.to_string())
        };
        let refused = |url: &str, ips: &str, why: &str| {
            let message = check_ips(url, ips).expect_err(ips);
            assert!(message.contains("--source-ips") && message.contains(why), "{ips}: {message}");
        };
        let loopback = "ws://127.0.0.1:8080/ws";
        // Every bot from ::1 failed `connect-NotFound` against an IPv4 server.
        refused(loopback, "127.0.0.5, ::1", "::1 is IPv6");
        refused("ws://[::1]:8080/ws", "127.0.0.2", "127.0.0.2 is IPv4");
        refused("ws://10.1.2.3:8080/ws", "127.0.0.2-127.0.0.4", "loopback");
        refused("ws://[2001:db8::1]/ws", "2001:db8:0:5::1, 2001:db8:0:5::2", "share a /64");
        refused(
            "ws://[2001:db8::1]/ws",
            "2001:db8:0:5::1, 2001:db8:0:6::1, 2001:db8:0:5::9",
            "/64",
        );
        for (url, ips) in [
            (loopback, "127.0.0.2-127.0.0.60"),
            ("ws://[::1]:8080/ws", "::1"),
            ("ws://10.1.2.3/ws", "10.1.2.10-10.1.2.12"),
            ("ws://[2001:db8::1]/ws", "2001:db8:0:5::1, 2001:db8:0:6::1"),
            // A non-loopback source may reach a server on loopback.
            (loopback, "10.1.2.10"),
        ] {
            assert_eq!(check_ips(url, ips), Ok(()), "{url} from {ips}");
        }
        // A host that does not resolve: nothing to compare with, the run reports it.
        let ips = parse_source_ips("::1, 127.0.0.2").unwrap();
        assert_eq!(check_source_ips(&ips.0, &[]), Ok(()));
    }

    #[test]
    fn an_ipv4_source_address_listed_twice_is_refused_as_spreading_nothing() {
        let check_ips = |ips: &str| {
            let argv = ["tickwire-bots", "--url", "ws://127.0.0.1:8080/ws", "--source-ips", ips];
            check(&Args::try_parse_from(argv).unwrap()).map_err(|e| e.to_string())
        };
        for ips in ["127.0.0.2,127.0.0.2", "127.0.0.2, 127.0.0.3, 127.0.0.2"] {
            let message = check_ips(ips).expect_err(ips);
            assert!(
                message.contains("--source-ips") && message.contains("127.0.0.2 is listed twice"),
                "{ips}: {message}"
            );
        }
        assert_eq!(check_ips("127.0.0.2, 127.0.0.3"), Ok(()));
    }

    #[test]
    fn flags_a_role_would_ignore_are_refused_naming_them() {
        let err = |argv: &[&str]| {
            let args = Args::try_parse_from([&["tickwire-bots"], argv].concat()).unwrap();
            check(&args).expect_err("refused").to_string()
        };
        assert!(err(&["--role", "spectator", "--input-rate", "30"]).contains("--input-rate 30"));
        assert!(err(&["--role", "controller", "--no-ack"]).contains("--no-ack"));
        // Refused for what the role does, whatever the engine.
        let message = err(&["--io-uring", "--role", "spectator", "--input-rate", "30"]);
        assert!(message.contains("spectators send no inputs"), "{message}");
        assert!(!message.contains("--io-uring"), "{message}");
        let message = err(&["--io-uring", "--role", "controller", "--input-rate", "20"]);
        assert!(message.contains("controllers need the default engine"), "{message}");
        for ok in [
            &["--role", "controller", "--input-rate", "20"][..],
            &["--role", "spectator", "--no-ack"],
            &["--role", "player", "--input-rate", "60", "--no-ack"],
        ] {
            let args = Args::try_parse_from([&["tickwire-bots"], ok].concat()).unwrap();
            assert!(check(&args).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        let err = |argv: &[&str]| {
            let mut full = vec!["tickwire-bots"];
            full.extend_from_slice(argv);
            match Args::try_parse_from(full) {
                Ok(args) => check(&args).expect_err("refused").to_string(),
                Err(e) => e.to_string(),
            }
        };
        assert!(err(&["--ramp", "zero"]).contains("--ramp"));
        assert!(err(&["--ramp", "1e-20"]).contains("--ramp"), "would overflow the clock");
        assert!(err(&["--ping-interval", "300000000000y"]).contains("--ping-interval"));
        assert!(err(&["--server-pid", "4294967295"]).contains("--server-pid"));
        // A shell that runs the server as its child, as `sh -c "tickwire-server ...; true"`.
        #[cfg(target_os = "linux")]
        {
            let mut shell = std::process::Command::new("sh")
                .args(["-c", "sleep 30; true"])
                .spawn()
                .expect("sh runs");
            // `spawn` may return before the child has exec'd (its name still this thread's).
            let comm = format!("/proc/{}/comm", shell.id());
            for _ in 0..500 {
                if std::fs::read_to_string(&comm).is_ok_and(|name| name.trim() == "sh") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let refused = err(&["--server-pid", &shell.id().to_string()]);
            let _ = shell.kill();
            let _ = shell.wait();
            assert!(refused.contains("--server-pid") && refused.contains("`sh`"), "{refused}");
        }
        assert_eq!(wrapper_name("tickwire-server"), None);
        assert_eq!(wrapper_name("bash"), Some("bash"));
        assert!(err(&["--room", "my room"]).contains("--room"));
        assert!(err(&["--url", "http://x/ws"]).contains("--url"));
        assert!(err(&["--duration", "soon"]).contains("--duration"));
        assert!(err(&["--bots", "0"]).contains("--bots"));
        assert!(err(&["--max-p99-ms", "0"]).contains("--max-p99-ms"));
        assert!(err(&["--source-ips", "1.2.3"]).contains("--source-ips"));
        assert!(err(&["--input-rate", "200"]).contains("--input-rate"));
        assert!(err(&["--min-delivered", "101"]).contains("--min-delivered"));
        assert!(err(&["--min-delivered", "most"]).contains("--min-delivered"));
        assert!(err(&["--ca-cert", "ca.pem"]).contains("--ca-cert needs a wss:// --url"));
        assert!(err(&["--role", "controller", "--min-fps", "29"]).contains("--min-fps"));
        for io_uring_conflict in [
            &["--io-uring", "--url", "wss://example.com/ws"][..],
            &["--io-uring", "--role", "controller"],
            &["--io-uring", "--input-rate", "20"],
        ] {
            let message = err(io_uring_conflict);
            assert!(message.contains("--io-uring"), "{io_uring_conflict:?}: {message}");
        }
        #[cfg(target_os = "linux")]
        {
            let args = Args::try_parse_from(["tickwire-bots", "--io-uring", "--role", "spectator"]);
            assert!(check(&args.unwrap()).is_ok(), "this kernel runs io_uring");
        }
        if let Some(limit) = open_files_limit().filter(|l| *l < 100_000) {
            let too_many = (limit + 1).to_string();
            assert!(err(&["--bots", &too_many]).contains("ulimit -n"));
        }
        let ok = Args::try_parse_from([
            "tickwire-bots",
            "--bots",
            "2000",
            "--duration",
            "60s",
            "--ramp",
            "200/s",
            "--role",
            "spectator",
            "--room",
            "lobby",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!((ok.bots, ok.duration, ok.ramp), (2000, Duration::from_secs(60), 200.0));
        assert_eq!(ok.room, RoomChoice::Named("lobby".into()));
        assert_eq!(ok.input_rate, InputRate::Tick);
        assert!(!ok.no_ack, "bots ack by default");
        let full = Args::try_parse_from(["tickwire-bots", "--no-ack"]).unwrap();
        assert!(full.no_ack);
        assert_eq!(parse_input_rate("60"), Ok(InputRate::Hz(60)));
    }

    #[test]
    fn warmup_is_a_duration_that_may_be_zero_and_defaults_to_none() {
        use clap::CommandFactory;
        let parse = |argv: &[&str]| Args::try_parse_from([&["tickwire-bots"], argv].concat());
        assert_eq!(parse(&[]).unwrap().warmup, Duration::ZERO, "the window opens as the ramp ends");
        assert_eq!(parse(&["--warmup", "3s"]).unwrap().warmup, Duration::from_secs(3));
        assert_eq!(parse(&["--warmup", "500ms"]).unwrap().warmup, Duration::from_millis(500));
        assert_eq!(parse(&["--warmup", "0"]).unwrap().warmup, Duration::ZERO);
        assert_eq!(parse(&["--warmup", "0s"]).unwrap().warmup, Duration::ZERO);
        for bad in ["soon", "3 parsecs", "300000000000y"] {
            let message = parse(&["--warmup", bad]).unwrap_err().to_string();
            assert!(message.contains("--warmup"), "{bad}: {message}");
        }
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--warmup") && help.contains("[default: 0s]"), "{help}");
    }

    #[test]
    fn a_ready_file_that_exists_or_has_no_directory_is_refused() {
        let check_file = |path: &std::path::Path| {
            let argv = ["tickwire-bots", "--ready-file", path.to_str().unwrap()];
            check(&Args::try_parse_from(argv).unwrap()).map_err(|e| e.to_string())
        };
        let path = std::env::temp_dir().join(format!("tickwire-bots-ready-{}", std::process::id()));
        assert_eq!(check_file(&path), Ok(()));
        std::fs::write(&path, "0\n").unwrap();
        let message = check_file(&path).unwrap_err();
        assert!(
            message.contains("--ready-file") && message.contains("exists already"),
            "{message}"
        );
        std::fs::remove_file(&path).unwrap();
        let message =
            check_file(std::path::Path::new("/nonexistent-tickwire-dir/ready")).unwrap_err();
        assert!(message.contains("--ready-file") && message.contains("no directory"), "{message}");
        assert_eq!(check_file(std::path::Path::new("ready-in-the-working-directory")), Ok(()));
    }
}
