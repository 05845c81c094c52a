//! `bench-swarm`: thousands of raw WebSocket spectators on one thread, for the fan-out bench.
//!
//! Each client opens TCP from one of `--source-ips`, does the upgrade by hand, and (against
//! tickwire) joins one room as a spectator with the shared crate's `Hello`, then reads
//! everything, answers pings and acks the newest snapshot after each read, as a real
//! spectator does. It counts frames per client, inter-arrival times, how long after the first
//! client each client got a tick (the fan-out spread), and every close the server sent. The
//! server's CPU and memory are read from `/proc` over the window only. One JSON row per run
//! goes to `--json` (appended), a summary line to stdout.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tickwire_bench::cli;
use tickwire_bench::handshake::{MAX_HEAD, read_response, upgrade_request};
use tickwire_bench::procfs::{ProcessSample, ProcessUsage};
use tickwire_bench::spectator::{Mode, Received, Spectator};
use tickwire_bench::stats::{FanoutRow, FpsSummary, Percentiles, ServerCost, Usage, WindowStats};
use tickwire_shared::{RoomName, SUBPROTOCOL, is_valid_room_name};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, timeout};

/// Raw WebSocket spectator swarm: N clients of one server, one row of fan-out figures.
///
/// Against tickwire (`--server tickwire`) every client joins `--room` as a spectator and acks
/// snapshots; against a reference broadcaster (`--server raw`) every binary message is a
/// frame whose first 4 bytes are its tick. Clients start evenly over `--connect-over`; the
/// window of `--duration` opens `--warmup` after the last one joined.
#[derive(Debug, Parser)]
#[command(name = "bench-swarm", version, about, long_about)]
struct Args {
    /// The server's WebSocket, `ws://IP:PORT/PATH`.
    #[arg(long, default_value = "ws://127.0.0.1:18100/ws", value_parser = parse_url)]
    url: Url,

    /// What the server speaks.
    #[arg(long, value_enum, default_value_t = ServerKind::Tickwire)]
    server: ServerKind,

    /// Clients to open.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    clients: u32,

    /// Room every tickwire spectator joins.
    #[arg(long, default_value = "bench", value_parser = parse_room)]
    room: RoomName,

    /// Never ack snapshots (tickwire then sends full snapshots).
    #[arg(long, conflicts_with = "ack_every")]
    no_ack: bool,

    /// Ack the newest snapshot once it is this many ticks past the last ack, the first at
    /// once (1: after every read that brought one, as tickwire's players do; tickwire's
    /// spectators ack every 30).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    ack_every: u32,

    /// Local addresses to connect from, client N from address N modulo their count: a range
    /// `127.0.0.2-127.0.0.254` or a list.
    #[arg(long, default_value = "127.0.0.2-127.0.0.254", value_parser = cli::source_ips)]
    source_ips: cli::SourceIps,

    /// Clients start evenly spread over this time (a join storm when short).
    #[arg(long, default_value = "1s", value_parser = cli::duration)]
    connect_over: Duration,

    /// Time for one client to connect, upgrade and (tickwire) get its `Welcome`.
    #[arg(long, default_value = "10s", value_parser = cli::duration)]
    connect_timeout: Duration,

    /// Settling time between the last join and the window.
    #[arg(long, default_value = "3s", value_parser = cli::duration)]
    warmup: Duration,

    /// Length of the measurement window.
    #[arg(long, default_value = "10s", value_parser = cli::duration)]
    duration: Duration,

    /// How long each client waits for the server's answer to its close at the end.
    #[arg(long, default_value = "1s", value_parser = cli::duration)]
    close_wait: Duration,

    /// PID of the server, to charge it CPU and memory over the window (same machine).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// Name of the server in the row (default: the `--server` kind).
    #[arg(long)]
    label: Option<String>,

    /// Run number written in the row.
    #[arg(long, default_value_t = 1)]
    run: u32,

    /// Which measurement of `--label` in its run this is (1, or 2 when the run measures it
    /// again): `bench-table` pairs the rows of one run by it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,

    /// Appends the row as one JSON line to this file (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,

    /// Once joined, read every client through one io_uring (Linux): a multishot receive per
    /// socket into shared buffers, no task, `epoll_wait` or system call per frame; acks and
    /// pongs are still one `send()` each. What a client without a tokio task per connection
    /// costs.
    #[arg(long)]
    io_uring: bool,

    /// With `--io-uring`: the longest a received frame waits for 63 others before the swarm
    /// reads the batch (Linux 6.12 and later). Longer batches cost less per frame and delay
    /// the reading of a frame (and its measured arrival) by up to this much.
    #[arg(long, default_value = "250us", value_parser = cli::duration, requires = "io_uring")]
    ring_batch: Duration,

    /// After each send (an ack, a pong), take the socket out of TCP's delayed-ACK ping-pong
    /// mode (`TCP_QUICKACK`, Linux; one `setsockopt` per send), so that it acknowledges the
    /// server's frames when it reads them, as a client that never sends does. A client that
    /// sends soon after a read (each tickwire spectator's ack) is put in that mode by its
    /// kernel, which then delays its ACKs: on loopback they are sent, and processed by the
    /// server's socket, on the server's core during its next send, while the never-sending
    /// clients of the floor and Node `ws` acknowledge on the swarm's core. With this flag
    /// every server's ACKs are processed on the swarm's core (on a real network each server
    /// processes its own): BENCHMARKS.md, "Which rule bills tickwire".
    #[arg(long)]
    ack_at_read: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerKind {
    /// A tickwire server: Hello as a spectator, acks.
    Tickwire,
    /// A reference broadcaster (bench-floor, bench-tungstenite, the Node ws server).
    Raw,
}

#[derive(Debug, Clone)]
struct Url {
    addr: SocketAddr,
    host: String,
    path: String,
}

fn parse_url(text: &str) -> Result<Url, String> {
    let rest = text
        .strip_prefix("ws://")
        .ok_or_else(|| format!("`{text}`: only ws:// URLs (loopback benchmarks, no TLS)"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = host
        .parse::<SocketAddr>()
        .map_err(|_| format!("`{host}` is not IP:PORT (e.g. 127.0.0.1:18100)"))?;
    Ok(Url { addr, host: host.to_string(), path: format!("/{path}") })
}

fn parse_room(text: &str) -> Result<RoomName, String> {
    if is_valid_room_name(text) {
        Ok(RoomName::truncated(text))
    } else {
        Err(format!("`{text}` is not 1 to 16 letters, digits, '-', '_' or '.'"))
    }
}

/// What every client task shares (one thread: `Rc`, `Cell`, `RefCell`).
struct Shared {
    args: Args,
    start: Instant,
    /// Set when the window opens, in microseconds since `start`.
    window_start_us: Cell<Option<u64>>,
    measuring: Cell<bool>,
    stats: RefCell<WindowStats>,
    /// Clients that joined or failed.
    settled: Cell<u32>,
    joined: Cell<u64>,
    failures: RefCell<BTreeMap<String, u64>>,
    closed_by_server: RefCell<BTreeMap<String, u64>>,
    kicks: RefCell<BTreeMap<String, u64>>,
    errors: RefCell<BTreeMap<String, u64>>,
    closes_answered: Cell<u64>,
    /// One read buffer for every client: reads happen one at a time on this thread.
    read_buffer: RefCell<Box<[u8]>>,
    stop: watch::Receiver<bool>,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn count(map: &RefCell<BTreeMap<String, u64>>, key: impl Into<String>) {
        *map.borrow_mut().entry(key.into()).or_default() += 1;
    }

    /// Counts what a client received at `now_us`.
    fn record(
        &self,
        received: Received,
        now_us: u64,
        outcome: &mut Outcome,
        last_frame_us: &mut Option<u64>,
    ) {
        let measuring = self.measuring.get();
        match received {
            Received::Frame { tick, len } => {
                if measuring {
                    let window_start = self.window_start_us.get().unwrap_or(u64::MAX);
                    let previous = last_frame_us.filter(|p| *p >= window_start);
                    self.stats.borrow_mut().frame(now_us, tick, len, previous);
                    outcome.frames_in_window += 1;
                }
                *last_frame_us = Some(now_us);
            }
            Received::Other { .. } | Received::Welcome if measuring => {
                self.stats.borrow_mut().other_messages += 1;
            }
            Received::Kick(reason) => Shared::count(&self.kicks, variant(&reason)),
            _ => {}
        }
    }
}

/// What one client's task reports when it ends.
#[derive(Debug, Default)]
struct Outcome {
    joined_us: Option<u64>,
    /// When the server ended it (not the swarm).
    ended_us: Option<u64>,
    frames_in_window: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Err(message) = cli::check_sockets_fit("--clients", u64::from(args.clients)) {
        use clap::CommandFactory;
        Args::command().error(clap::error::ErrorKind::ValueValidation, message).exit();
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (stop_tx, stop) = watch::channel(false);
    let server_before = args
        .server_pid
        .map(|pid| ProcessSample::read(Some(pid)))
        .transpose()
        .context("--server-pid")?;
    let shared = Rc::new(Shared {
        start: Instant::now(),
        window_start_us: Cell::new(None),
        measuring: Cell::new(false),
        stats: RefCell::new(WindowStats::default()),
        settled: Cell::new(0),
        joined: Cell::new(0),
        failures: RefCell::default(),
        closed_by_server: RefCell::default(),
        kicks: RefCell::default(),
        errors: RefCell::default(),
        closes_answered: Cell::new(0),
        read_buffer: RefCell::new(vec![0; 64 * 1024].into_boxed_slice()),
        stop,
        args,
    });
    let args = &shared.args;
    let clients = args.clients;
    let progress = |text: String| {
        if !args.quiet {
            eprintln!("bench-swarm: {text}");
        }
    };
    progress(format!("{clients} clients over {:?} to {}", args.connect_over, args.url.host));

    let mut handles: Vec<_> =
        (0..clients).map(|i| tokio::task::spawn_local(client(shared.clone(), i))).collect();

    // Every client joins or fails within its connect timeout after its start.
    let settle_deadline =
        shared.start + args.connect_over + args.connect_timeout + Duration::from_secs(1);
    while shared.settled.get() < clients && Instant::now() < settle_deadline {
        sleep(Duration::from_millis(20)).await;
    }
    let connect_s = shared.start.elapsed().as_secs_f64();
    progress(format!(
        "{} joined, {} failed in {connect_s:.2} s; warm-up {:?}",
        shared.joined.get(),
        shared.failures.borrow().values().sum::<u64>(),
        args.warmup
    ));
    // With --io-uring every task ends once joined, handing its connection over.
    let mut ring = None;
    if args.io_uring {
        let mut parked = Vec::new();
        let mut outcomes = Vec::new();
        for handle in handles.drain(..) {
            match handle.await {
                Ok(Ended::Parked(connection)) => parked.push(*connection),
                Ok(Ended::Done(outcome)) => outcomes.push(outcome),
                Err(_) => {}
            }
        }
        ring = Some(ringed::Ringed::new(parked, outcomes, args.ack_at_read).context("--io-uring")?);
    }
    wait(&shared, &mut ring, args.warmup).await?;

    let server_start = args.server_pid.map(|pid| ProcessSample::read(Some(pid))).transpose()?;
    let swarm_start = ProcessSample::read(None)?;
    let window_opened = Instant::now();
    shared.window_start_us.set(Some(shared.now_us()));
    shared.measuring.set(true);
    wait(&shared, &mut ring, args.duration).await?;
    shared.measuring.set(false);
    let window_end_us = shared.now_us();
    let window_s = window_opened.elapsed().as_secs_f64();
    let server_end = args.server_pid.map(|pid| ProcessSample::read(Some(pid))).transpose()?;
    let swarm_end = ProcessSample::read(None)?;
    progress(format!("window of {window_s:.2} s closed; leaving"));

    // Everyone leaves; each client bounds its own wait for the server's answer.
    stop_tx.send_replace(true);
    let window_start_us = shared.window_start_us.get().unwrap_or(0);
    let mut window_frames = Vec::new();
    let mut open_at_end = 0u64;
    let mut outcomes = Vec::new();
    if let Some(ring) = ring.take() {
        for ended in ring.finish().context("--io-uring")? {
            match ended {
                Ended::Parked(connection) => handles
                    .push(tokio::task::spawn_local(leave_parked(shared.clone(), *connection))),
                Ended::Done(outcome) => outcomes.push(outcome),
            }
        }
    }
    for handle in handles {
        match handle.await {
            Ok(Ended::Done(outcome)) => outcomes.push(outcome),
            Ok(Ended::Parked(_)) | Err(_) => {}
        }
    }
    for outcome in outcomes {
        let open =
            outcome.joined_us.is_some() && outcome.ended_us.is_none_or(|e| e >= window_end_us);
        open_at_end += u64::from(open);
        if open && outcome.joined_us.is_some_and(|j| j <= window_start_us) {
            window_frames.push(outcome.frames_in_window);
        }
    }

    let stats = shared.stats.borrow();
    let usage = |u: ProcessUsage| Usage {
        cpu_percent: 100.0 * u.cpu_seconds / window_s,
        wait_percent: 100.0 * u.wait_seconds / window_s,
        rss_kib: u.rss_kib,
    };
    let server = match (server_before, server_start, server_end) {
        (Some(before), Some(start), Some(end)) => {
            let used = end.since(&start);
            Some(ServerCost {
                usage: usage(used),
                us_per_frame: (stats.frames > 0)
                    .then(|| 1e6 * used.cpu_seconds / stats.frames as f64),
                rss_per_conn_kib: (open_at_end > 0).then(|| {
                    end.rss_kib.saturating_sub(before.rss_kib) as f64 / open_at_end as f64
                }),
            })
        }
        _ => None,
    };
    let row = FanoutRow {
        label: args.label.clone().unwrap_or_else(|| match args.server {
            ServerKind::Tickwire => "tickwire".into(),
            ServerKind::Raw => "raw".into(),
        }),
        run: args.run,
        repeat: args.repeat,
        clients,
        window_s,
        connect_s,
        joined: shared.joined.get(),
        failures: shared.failures.borrow().clone(),
        closed_by_server: shared.closed_by_server.borrow().clone(),
        kicks: shared.kicks.borrow().clone(),
        stayed: window_frames.len() as u64,
        frames: stats.frames,
        payload_bytes: (stats.frames > 0).then(|| stats.payload_bytes as f64 / stats.frames as f64),
        other_messages: stats.other_messages,
        fps: FpsSummary::of(&window_frames, window_s),
        interarrival_ms: Percentiles::of_micros(&stats.interarrival_us),
        spread_ms: Percentiles::of_micros(&stats.spread_us),
        errors: shared.errors.borrow().clone(),
        server,
        swarm: usage(swarm_end.since(&swarm_start)),
        closes_answered: shared.closes_answered.get(),
    };
    println!("{}", summary(&row));
    if let Some(path) = &args.json {
        let line = serde_json::to_string(&row)? + "\n";
        if path.as_os_str() == "-" {
            print!("{line}");
        } else {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .with_context(|| format!("--json {}", path.display()))?;
        }
    }
    Ok(())
}

/// One human line per run.
fn summary(row: &FanoutRow) -> String {
    let fps = row.fps.map_or("-".into(), |f| format!("{:.2} (min {:.2})", f.mean, f.min));
    let gap = row.interarrival_ms.map_or("-".into(), |p| format!("{:.1}/{:.1}", p.p50, p.p99));
    let spread = row.spread_ms.map_or("-".into(), |p| format!("{:.1}/{:.1}", p.p50, p.p99));
    let server = row.server.map_or("-".into(), |s| {
        format!(
            "CPU {:.0}% (waited {:.0}%), {:.2} us/frame, {:.1} KiB/conn",
            s.usage.cpu_percent,
            s.usage.wait_percent,
            s.us_per_frame.unwrap_or(f64::NAN),
            s.rss_per_conn_kib.unwrap_or(f64::NAN)
        )
    });
    format!(
        "{} run {} N={}: joined {} stayed {} failed {:?} closed {:?} | fps {fps} | gap p50/p99 {gap} ms | \
         spread p50/p99 {spread} ms | {:.0} B/frame | server {server} | swarm CPU {:.0}% (waited {:.0}%)",
        row.label,
        row.run,
        row.clients,
        row.joined,
        row.stayed,
        row.failures,
        row.closed_by_server,
        row.payload_bytes.unwrap_or(0.0),
        row.swarm.cpu_percent,
        row.swarm.wait_percent,
    )
}

/// The variant name of a debug-printed enum (`VersionMismatch { server: 3 }` →
/// `VersionMismatch`).
fn variant(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.split(['(', ' ', '{']).next().unwrap_or_default().to_string()
}

/// Opens TCP from `source`, upgrades, and returns the stream and the bytes that followed the
/// `101` head. `Err` is the failure's label.
async fn connect(args: &Args, source: Ipv4Addr) -> Result<(TcpStream, Vec<u8>), String> {
    let io = |stage: &str, e: std::io::Error| match e.kind() {
        ErrorKind::ConnectionRefused => format!("{stage}-refused"),
        ErrorKind::ConnectionReset => format!("{stage}-reset"),
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable => format!("{stage}-no-local-port"),
        ErrorKind::UnexpectedEof => format!("{stage}-eof"),
        kind => format!("{stage}-{}", variant(&kind).to_lowercase()),
    };
    let socket = TcpSocket::new_v4().map_err(|e| io("socket", e))?;
    socket.bind(SocketAddr::new(source.into(), 0)).map_err(|e| io("bind", e))?;
    let mut stream = socket.connect(args.url.addr).await.map_err(|e| io("connect", e))?;
    stream.set_nodelay(true).map_err(|e| io("connect", e))?;
    let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
    let subprotocol = (args.server == ServerKind::Tickwire).then_some(SUBPROTOCOL);
    let request = upgrade_request(&args.url.host, &args.url.path, &key, subprotocol);
    stream.write_all(request.as_bytes()).await.map_err(|e| io("upgrade", e))?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        stream.readable().await.map_err(|e| io("upgrade", e))?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err("upgrade-eof".into()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(io("upgrade", e)),
        }
        match read_response(&head, &key) {
            Ok(None) if head.len() < MAX_HEAD => {}
            Ok(None) => return Err("upgrade-head-too-long".into()),
            Ok(Some(parsed)) => return Ok((stream, head.split_off(parsed.len))),
            Err(tickwire_bench::handshake::HandshakeError::Refused { status, .. }) => {
                return Err(format!("http-{status}"));
            }
            Err(_) => return Err("upgrade-bad-response".into()),
        }
    }
}

/// How a connection's read loop ended.
enum End {
    /// The swarm is done: leave.
    Stop,
    /// The server closed (code) or the stream broke (label).
    Server(String),
}

/// One spectator, from its start time to its close.
async fn client(shared: Rc<Shared>, index: u32) -> Ended {
    let args = &shared.args;
    let mut outcome = Outcome::default();
    let offset = args.connect_over.mul_f64(f64::from(index) / f64::from(args.clients));
    sleep_until((shared.start + offset).into()).await;
    let source = args.source_ips.for_index(index);
    let mode = match args.server {
        ServerKind::Tickwire => Mode::Tickwire {
            room: args.room,
            ack_every: if args.no_ack { 0 } else { args.ack_every },
        },
        ServerKind::Raw => Mode::Raw,
    };
    let mut spectator = Spectator::new(mode, index.wrapping_mul(2_654_435_761));
    let mut out = Vec::with_capacity(64);

    let joined = timeout(args.connect_timeout, async {
        let (mut stream, early) = connect(args, source).await?;
        spectator.start(&format!("swarm-{index}"), &mut out);
        write(&mut stream, &mut out).await.map_err(|_| "hello-write".to_string())?;
        if args.server == ServerKind::Raw {
            // Nothing to wait for; the bytes after the head are frames.
            let mut frames = Vec::new();
            let _ = spectator.handle(&early, &mut out, |r| frames.push(r));
            return Ok((stream, frames));
        }
        // Read until the Welcome (or a refusal); keep what came with it.
        let mut early_frames = Vec::new();
        let mut pending = early;
        loop {
            let mut welcomed = false;
            let mut refusal = None;
            spectator
                .handle(&pending, &mut out, |r| match r {
                    Received::Welcome => welcomed = true,
                    Received::Kick(reason) if !welcomed => {
                        refusal.get_or_insert(format!("kick-{}", variant(&reason)));
                    }
                    Received::Close { code } if !welcomed => {
                        refusal.get_or_insert(format!("close-{}", code.unwrap_or(1005)));
                    }
                    other if welcomed => early_frames.push(other),
                    _ => {}
                })
                .map_err(|e| e.label().to_string())?;
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
            write(&mut stream, &mut out).await.map_err(|_| "ack-write".to_string())?;
            if welcomed {
                return Ok((stream, early_frames));
            }
            pending =
                read_some(&mut stream).await.map_err(|e| e.unwrap_or_else(|| "join-eof".into()))?;
        }
    })
    .await
    .unwrap_or_else(|_| Err("join-timeout".into()));

    let (mut stream, early_frames) = match joined {
        Ok(joined) => joined,
        Err(reason) => {
            Shared::count(&shared.failures, reason);
            shared.settled.set(shared.settled.get() + 1);
            return Ended::Done(outcome);
        }
    };
    shared.joined.set(shared.joined.get() + 1);
    shared.settled.set(shared.settled.get() + 1);
    outcome.joined_us = Some(shared.now_us());
    let mut last_frame_us: Option<u64> = None;
    for received in early_frames {
        shared.record(received, shared.now_us(), &mut outcome, &mut last_frame_us);
    }
    if args.io_uring {
        return match stream.into_std() {
            Ok(stream) => {
                Ended::Parked(Box::new(Parked { stream, spectator, out, outcome, last_frame_us }))
            }
            Err(_) => {
                outcome.ended_us = Some(shared.now_us());
                Shared::count(&shared.closed_by_server, "reset");
                Ended::Done(outcome)
            }
        };
    }

    let mut stop = shared.stop.clone();
    let end = loop {
        if spectator.is_closed() {
            break End::Server("closed".into());
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break End::Stop,
            ready = stream.readable() => {
                if ready.is_err() {
                    break End::Server("reset".into());
                }
            }
        }
        let now_us = shared.now_us();
        let mut close_code = None;
        let read = {
            let mut buffer = shared.read_buffer.borrow_mut();
            match stream.try_read(&mut buffer) {
                Ok(0) => Err("eof".to_string()),
                Ok(n) => spectator
                    .handle(&buffer[..n], &mut out, |r| {
                        if let Received::Close { code } = r {
                            close_code = Some(code.unwrap_or(1005));
                        }
                        shared.record(r, now_us, &mut outcome, &mut last_frame_us);
                    })
                    .map_err(|e| {
                        Shared::count(&shared.errors, e.label());
                        e.label().to_string()
                    }),
                Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => Err("reset".into()),
                Err(e) => Err(format!("read-{}", variant(&e.kind()).to_lowercase())),
            }
        };
        if let Err(reason) = read {
            break End::Server(reason);
        }
        let sent = !out.is_empty();
        if write(&mut stream, &mut out).await.is_err() {
            break End::Server(close_code.map_or("write-failed".into(), |c| format!("close-{c}")));
        }
        if sent && args.ack_at_read && leave_pingpong(&stream).is_err() {
            break End::Server("quickack-failed".into());
        }
        if let Some(code) = close_code {
            break End::Server(format!("close-{code}"));
        }
    };

    match end {
        End::Server(reason) => {
            outcome.ended_us = Some(shared.now_us());
            Shared::count(&shared.closed_by_server, reason);
        }
        End::Stop => leave(&shared, &mut stream, &mut spectator, &mut out).await,
    }
    Ended::Done(outcome)
}

/// Sends the client's close and waits (bounded) for the server's answer, counting it.
async fn leave(
    shared: &Shared,
    stream: &mut TcpStream,
    spectator: &mut Spectator,
    out: &mut Vec<u8>,
) {
    spectator.close(out);
    if write(stream, out).await.is_ok() {
        let answered = timeout(shared.args.close_wait, async {
            loop {
                match read_some(stream).await {
                    Ok(bytes) => {
                        let mut closed = false;
                        let _ = spectator.handle(&bytes, &mut Vec::new(), |r| {
                            closed |= matches!(r, Received::Close { .. });
                        });
                        if closed {
                            return true;
                        }
                    }
                    Err(_) => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        shared.closes_answered.set(shared.closes_answered.get() + u64::from(answered));
    }
}

/// How a client task ended.
enum Ended {
    /// Its connection is over (or never joined).
    Done(Outcome),
    /// Joined, and handed over to the ring (`--io-uring`).
    Parked(Box<Parked>),
}

/// A joined connection read outside tokio (`--io-uring`).
struct Parked {
    stream: std::net::TcpStream,
    spectator: Spectator,
    /// Bytes still to send (acks, pongs).
    out: Vec<u8>,
    outcome: Outcome,
    last_frame_us: Option<u64>,
}

/// Leaves a connection the ring read, as a task does at the end.
async fn leave_parked(shared: Rc<Shared>, connection: Parked) -> Ended {
    let Parked { stream, mut spectator, mut out, outcome, .. } = connection;
    if let Ok(mut stream) = TcpStream::from_std(stream) {
        leave(&shared, &mut stream, &mut spectator, &mut out).await;
    }
    Ended::Done(outcome)
}

/// The connections of `--io-uring`, read through one [`tickwire_bots::ring::RingReader`].
#[cfg(target_os = "linux")]
mod ringed {
    use super::{Ended, Outcome, Parked, Received, Shared, variant};
    use std::io::{self, ErrorKind, Write};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};
    use tickwire_bots::ring::{RingEvent, RingReader};

    /// Buffers the kernel receives into, shared by every connection: enough for a tick of
    /// 5,000 clients between two polls at 2 KiB each (16 MiB).
    const BUFFERS: u16 = 8192;
    const BUFFER_LEN: usize = 2048;
    /// A poll returns once this many receives completed (or `--ring-batch` after the
    /// first): one wake-up per batch instead of one per frame.
    const WAKE_AFTER: usize = 64;

    pub(super) struct Ringed {
        reader: RingReader,
        /// By token; `None` once the server ended it.
        open: Vec<Option<Parked>>,
        ended: Vec<Outcome>,
    }

    impl Ringed {
        pub(super) fn new(
            parked: Vec<Parked>,
            ended: Vec<Outcome>,
            ack_at_read: bool,
        ) -> io::Result<Ringed> {
            let mut reader = RingReader::new(parked.len(), BUFFERS, BUFFER_LEN)?;
            for (token, connection) in parked.iter().enumerate() {
                reader.add(token, connection.stream.as_raw_fd());
            }
            let mut ringed = Ringed { reader, open: parked.into_iter().map(Some).collect(), ended };
            // What a task had left to send (an ack after the Welcome) goes now.
            for token in 0..ringed.open.len() {
                ringed.flush(token, ack_at_read);
            }
            Ok(ringed)
        }

        /// Reads every connection for `period`.
        pub(super) fn run_for(&mut self, shared: &Shared, period: Duration) -> io::Result<()> {
            let until = Instant::now() + period;
            let mut ending: Vec<(usize, String)> = Vec::new();
            let mut to_send: Vec<usize> = Vec::new();
            loop {
                let now = Instant::now();
                if now >= until {
                    return Ok(());
                }
                let wait = (until - now).min(Duration::from_millis(10));
                let want = self.open.len().clamp(1, WAKE_AFTER);
                let open = &mut self.open;
                self.reader.poll(want, shared.args.ring_batch, wait, |token, event| {
                    let Some(connection) = open.get_mut(token).and_then(Option::as_mut) else {
                        return;
                    };
                    let bytes = match event {
                        RingEvent::Data(bytes) => bytes,
                        RingEvent::Eof => return ending.push((token, "eof".into())),
                        RingEvent::Error(ErrorKind::ConnectionReset) => {
                            return ending.push((token, "reset".into()));
                        }
                        RingEvent::Error(kind) => {
                            let label = format!("read-{}", variant(&kind).to_lowercase());
                            return ending.push((token, label));
                        }
                    };
                    let now_us = shared.now_us();
                    let mut close_code = None;
                    let Parked { spectator, out, outcome, last_frame_us, .. } = connection;
                    let handled = spectator.handle(bytes, out, |received| {
                        if let Received::Close { code } = received {
                            close_code = Some(code.unwrap_or(1005));
                        }
                        shared.record(received, now_us, outcome, last_frame_us);
                    });
                    if let Err(e) = handled {
                        Shared::count(&shared.errors, e.label());
                        return ending.push((token, e.label().to_string()));
                    }
                    if let Some(code) = close_code {
                        ending.push((token, format!("close-{code}")));
                    } else if !out.is_empty() {
                        to_send.push(token);
                    }
                })?;
                for token in to_send.drain(..) {
                    if let Some(failed) = self.flush(token, shared.args.ack_at_read) {
                        ending.push((token, failed));
                    }
                }
                for (token, reason) in ending.drain(..) {
                    self.end(shared, token, reason);
                }
            }
        }

        /// Writes `token`'s pending bytes without blocking; what the socket does not take
        /// waits for the next poll. `Some(reason)` when the socket failed.
        fn flush(&mut self, token: usize, ack_at_read: bool) -> Option<String> {
            let connection = self.open.get_mut(token)?.as_mut()?;
            let sent = !connection.out.is_empty();
            while !connection.out.is_empty() {
                match (&connection.stream).write(&connection.out) {
                    Ok(n) => drop(connection.out.drain(..n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                    Err(_) => return Some("write-failed".into()),
                }
            }
            if sent && ack_at_read && super::leave_pingpong(&connection.stream).is_err() {
                return Some("quickack-failed".into());
            }
            None
        }

        /// The server ended `token`'s connection.
        fn end(&mut self, shared: &Shared, token: usize, reason: String) {
            if let Some(mut connection) = self.open.get_mut(token).and_then(Option::take) {
                // The close echo, if the server closed: best effort, as the tasks do.
                let _ = (&connection.stream).write(&connection.out);
                self.reader.remove(token);
                connection.outcome.ended_us = Some(shared.now_us());
                Shared::count(&shared.closed_by_server, reason);
                self.ended.push(connection.outcome);
            }
        }

        /// Stops reading and returns every connection: the open ones to leave, the ended
        /// ones' outcomes.
        pub(super) fn finish(mut self) -> io::Result<Vec<Ended>> {
            self.reader.cancel_all()?;
            let mut all: Vec<Ended> = self.ended.drain(..).map(Ended::Done).collect();
            all.extend(self.open.drain(..).flatten().map(|c| Ended::Parked(Box::new(c))));
            Ok(all)
        }
    }
}

/// `--io-uring` elsewhere: refused when the run starts.
#[cfg(not(target_os = "linux"))]
mod ringed {
    use super::{Ended, Outcome, Parked, Shared};
    use std::io;
    use std::time::Duration;

    pub(super) enum Ringed {}

    impl Ringed {
        pub(super) fn new(_: Vec<Parked>, _: Vec<Outcome>, _: bool) -> io::Result<Ringed> {
            Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is Linux only"))
        }

        pub(super) fn run_for(&mut self, _: &Shared, _: Duration) -> io::Result<()> {
            match *self {}
        }

        pub(super) fn finish(self) -> io::Result<Vec<Ended>> {
            match self {}
        }
    }
}

/// Waits `period`: reading through the ring when there is one, or letting the tasks read.
async fn wait(
    shared: &Shared,
    ring: &mut Option<ringed::Ringed>,
    period: Duration,
) -> anyhow::Result<()> {
    match ring {
        Some(ring) => ring.run_for(shared, period).context("--io-uring"),
        None => {
            sleep(period).await;
            Ok(())
        }
    }
}

/// Reads what is there (at least one byte); `Err(None)` at end of stream, `Err(Some(label))`
/// on an error.
async fn read_some(stream: &mut TcpStream) -> Result<Vec<u8>, Option<String>> {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        stream.readable().await.map_err(|_| Some("reset".to_string()))?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err(None),
            Ok(n) => {
                chunk.truncate(n);
                return Ok(chunk);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(_) => return Err(Some("reset".into())),
        }
    }
}

/// `--ack-at-read`: takes the socket out of TCP's delayed-ACK ping-pong mode (which a send
/// soon after a read puts it in), so that it acknowledges what it reads when it reads it, until
/// it sends again.
#[cfg(target_os = "linux")]
fn leave_pingpong(socket: &impl std::os::fd::AsFd) -> std::io::Result<()> {
    socket2::SockRef::from(socket).set_tcp_quickack(true)
}

/// `--ack-at-read` elsewhere: `TCP_QUICKACK` is Linux's.
#[cfg(not(target_os = "linux"))]
fn leave_pingpong<S>(_: &S) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "TCP_QUICKACK is Linux only"))
}

/// Writes and empties `out` (nothing when it is empty).
async fn write(stream: &mut TcpStream, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let result = stream.write_all(out).await;
    out.clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, String> {
        let mut full = vec!["bench-swarm"];
        full.extend_from_slice(argv);
        Args::try_parse_from(full).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_flags_are_refused_naming_the_flag() {
        assert!(parse(&["--clients", "0"]).unwrap_err().contains("--clients"));
        assert!(parse(&["--repeat", "0"]).unwrap_err().contains("--repeat"));
        assert!(parse(&["--url", "http://127.0.0.1/ws"]).unwrap_err().contains("--url"));
        assert!(parse(&["--url", "ws://localhost:80/ws"]).unwrap_err().contains("IP:PORT"));
        assert!(parse(&["--room", "a room"]).unwrap_err().contains("--room"));
        assert!(parse(&["--duration", "0s"]).unwrap_err().contains("--duration"));
        assert!(parse(&["--source-ips", "127.0.0.1-x"]).unwrap_err().contains("--source-ips"));
        assert!(parse(&["--server", "nginx"]).unwrap_err().contains("--server"));
        assert!(parse(&["--ring-batch", "1ms"]).unwrap_err().contains("--io-uring"));
        assert!(
            parse(&["--io-uring", "--ring-batch", "soon"]).unwrap_err().contains("--ring-batch")
        );
    }

    #[test]
    fn defaults_and_url_parts() {
        let args = parse(&["--url", "ws://127.0.0.1:9000/game"]).unwrap();
        assert_eq!(args.url.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!((args.url.host.as_str(), args.url.path.as_str()), ("127.0.0.1:9000", "/game"));
        assert_eq!(args.source_ips.0.len(), 253);
        assert_eq!(args.server, ServerKind::Tickwire);
        assert_eq!(parse_url("ws://127.0.0.1:1").unwrap().path, "/");
        assert!(!args.ack_at_read);
        assert!(parse(&["--ack-at-read"]).unwrap().ack_at_read);
    }

    /// What `--ack-at-read` relies on: a client that answers soon after each read is put in
    /// ping-pong mode by its kernel (its ACKs then wait, to ride on its next send: on loopback,
    /// into the server's next send), and `TCP_QUICKACK` takes it out. Linux reports the mode
    /// as `TCP_QUICKACK`'s value: 0 in ping-pong mode.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_client_that_answers_reads_is_taken_out_of_pingpong_mode() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let quickack = |socket: &std::net::TcpStream| socket2::SockRef::from(socket).tcp_quickack();
        assert!(quickack(&client).unwrap(), "a fresh connection is not in ping-pong mode");
        let mut frame = [0u8; 80];
        // A few exchanges: some kernels want more than one reply before they call it ping-pong.
        for _ in 0..5 {
            server.write_all(&frame).unwrap();
            client.read_exact(&mut frame).unwrap();
            client.write_all(b"ack").unwrap();
            server.read_exact(&mut [0u8; 3]).unwrap();
        }
        assert!(!quickack(&client).unwrap(), "replies right after reads: ping-pong mode");
        leave_pingpong(&client).unwrap();
        assert!(quickack(&client).unwrap(), "out of ping-pong mode until the next reply");
    }
}
