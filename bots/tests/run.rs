//! Short runs of tickwire-bots against the real server on 127.0.0.1 port 0: every bot joins,
//! nothing is inconsistent, the report is filled and plausible; refusals are reported by
//! reason; `--source-ips` spreads connections over local addresses.

#[path = "../../client/tests/support/mod.rs"]
mod support;

use clap::Parser;
use support::{TestServer, server_config};
use tickwire_bots::cli::Args;
use tickwire_bots::report::Report;
use tickwire_server::glam::Vec2;
use tickwire_server::shared::quant::{quantize_position, quantize_velocity};
use tickwire_server::shared::{
    ControllerFeedback, EntityId, EntityState, PlayerId, RoundPhase, RoundState, WorldBounds,
};

async fn run_bots(server: &TestServer, flags: &[&str]) -> Report {
    let url = server.url();
    let mut argv = vec!["tickwire-bots", "--url", &url, "--quiet", "--ramp", "50/s"];
    argv.extend_from_slice(flags);
    let args = Args::try_parse_from(argv).expect("valid flags");
    tickwire_bots::run::run(args, std::future::pending()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_players_join_play_and_report_what_they_felt() {
    let server = TestServer::start(server_config()).await;
    let report = run_bots(
        &server,
        &["--bots", "6", "--role", "player", "--room", "bots-e2e", "--duration", "2s"],
    )
    .await;
    let table = report.table();
    assert!(report.passed, "{table}");
    assert_eq!((report.bots.started, report.bots.joined, report.bots.stayed), (6, 6, 6), "{table}");
    assert!(report.bots.failures.is_empty() && report.bots.drops.is_empty(), "{table}");
    assert!(report.errors.is_empty(), "{table}");
    assert_eq!(report.run.tick_rate, 30);
    assert_eq!(report.bots.leaves_answered, 6, "every leave answered with a close frame");
    assert_eq!(report.close_codes.get("1000"), Some(&6), "{table}");

    let connect = report.connect_ms.expect("connect times");
    assert_eq!(connect.samples, 6);
    assert!(connect.p50 > 0.0 && connect.max < 10_000.0, "{connect:?}");

    let expected = report.frames.expected.expect("players get a snapshot per tick");
    let window = report.run.window_s.expect("the window opened");
    assert!(window >= 2.0, "the window ran its course: {window}");
    // The window's ticks, and those by which a bot's snapshots spanned more.
    assert!(expected >= (30.0 * window * 6.0).round() as u64, "{table}");
    // Plausible, not fast: a busy CI machine may deliver fewer frames, but the figures must
    // agree with each other.
    let ratio = report.frames.delivered_ratio.unwrap();
    assert!(ratio > 0.1 && ratio <= 1.0, "at most one snapshot per tick: {table}");
    let fps = report.frames.per_bot_fps.expect("bots stayed the window");
    assert_eq!(fps.bots, 6);
    assert!((fps.mean / 30.0 - ratio).abs() < 0.1, "fps agrees with the delivered share: {table}");
    assert!(fps.min <= fps.p50 && fps.mean <= 30.0 + 1e-9, "at most the tick rate: {table}");

    let ack = report.input_to_ack_ms.expect("inputs acknowledged");
    assert!(
        ack.samples as f64 > 0.5 * report.frames.received as f64,
        "an input per snapshot: {table}"
    );
    assert!(ack.p50 > 0.0 && ack.p50 <= ack.p99 && ack.p99 <= ack.max, "{ack:?}");
    // Gaps between snapshots were measured. How far apart they come is the machine's timing;
    // at most one a tick is what the delivered share and the fps above check.
    let gaps = report.interarrival_ms.expect("inter-arrival times");
    assert!(gaps.samples > 0 && gaps.p50 <= gaps.p99 && gaps.p99 <= gaps.max, "{gaps:?}");
    assert!(report.jitter_ms.is_some() && report.rtt_ms.is_some(), "{table}");
    let bytes = report.bytes_per_bot_per_s.expect("the window opened");
    let per_frame = bytes.received / (fps.mean.max(1.0));
    // Its WebSocket and snapshot headers alone are 8 bytes; protocol 2 sends a moving ship in
    // a few bits more.
    assert!(per_frame > 8.0, "a snapshot of a 6-ship room is more than its headers: {table}");
    assert!(bytes.sent > 8.0 * fps.mean, "an ack and an input per snapshot: {table}");
    assert!(report.resources.rss_per_bot_kib.is_some(), "{table}");
    // One thread (the default): the bots could use at most one core.
    assert_eq!(report.resources.bots_cpu_available_percent, 100.0, "{table}");
    // Six bots for 2 s may use less CPU than /proc can tell: then no figure, and none made of
    // it, and the table says so.
    let res = &report.resources;
    let cpu_s = res.bots_cpu_s.expect("CPU read over the window");
    if cpu_s < tickwire_bots::run::CPU_MIN_S {
        assert_eq!((res.bots_cpu_percent, res.bots_cpu_us_per_frame), (None, None), "{table}");
        assert!(table.contains("too little to measure"), "{table}");
    } else {
        // The process is the test's (its server included): only plausible, not the bots'
        // cost. Bots per core again, from other figures of the report: the CPU share over the
        // window and the frames the bots that stayed counted, at the room's 30 ticks/s.
        let us = res.bots_cpu_us_per_frame.expect("CPU per snapshot");
        let per_core = res.bots_per_core.expect("bots per core");
        assert!(us > 0.0, "{table}");
        let cpu_share = res.bots_cpu_percent.expect("CPU over the window") / 100.0;
        let frames_per_s = fps.mean * fps.bots as f64;
        let from_cpu_share = frames_per_s / 30.0 / cpu_share;
        assert!(
            (per_core as f64 / from_cpu_share - 1.0).abs() < 0.1,
            "{per_core} bots per core, {from_cpu_share:.0} from the CPU share: {table}"
        );
    }

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["bots"]["joined"], 6);
    assert_eq!(json["passed"], true);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectators_watch_and_thresholds_decide_the_verdict() {
    let server = TestServer::start(server_config()).await;
    let report = run_bots(
        &server,
        &["--bots", "3", "--role", "spectator", "--duration", "1s", "--min-fps", "1000"],
    )
    .await;
    let table = report.table();
    assert_eq!(report.bots.joined, 3, "{table}");
    assert!(report.input_to_ack_ms.is_none(), "spectators send no inputs");
    assert!(report.interarrival_ms.is_some(), "{table}");
    assert!(!report.passed, "nobody gets 1000 fps: {table}");
    let failed: Vec<&str> =
        report.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["delivered fps"], "{table}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_acks_bots_still_rebuild_every_world_and_send_no_acks() {
    let server = TestServer::start(server_config()).await;
    let report =
        run_bots(&server, &["--bots", "2", "--role", "spectator", "--duration", "1s", "--no-ack"])
            .await;
    let table = report.table();
    assert!(report.passed, "{table}");
    assert!(!report.run.acks, "{table}");
    assert!(report.errors.is_empty(), "full snapshots rebuild without errors: {table}");
    let fps = report.frames.per_bot_fps.expect("bots stayed the window").mean;
    assert!(fps > 1.0, "{table}");
    // An ack is a 12-byte masked frame per snapshot; without them only pings and pongs go out
    // (about 14 B/s), whatever the frame rate a loaded machine delivers.
    let sent = report.bytes_per_bot_per_s.expect("the window opened").sent;
    assert!(sent < 6.0 * fps + 20.0, "{sent} B/s sent at {fps} fps: acks went out: {table}");
    server.shutdown().await;
}

/// A game of one's own that keeps neither of the arena's rules the bots check by default:
/// its players are out of the world (eliminated, say), and a marker stands past the
/// playfield's edge. Everything it sends is sound protocol.
struct Outfield;

impl tickwire_server::game::Game for Outfield {
    fn bounds(&self) -> WorldBounds {
        WorldBounds { width: 400, height: 300 }
    }

    fn add_player(&mut self, player: PlayerId) -> EntityId {
        EntityId(u32::from(player.0))
    }

    fn remove_player(&mut self, _player: PlayerId) {}

    fn set_input(&mut self, _player: PlayerId, _input: tickwire_server::game::PlayerInput) {}

    fn step(&mut self, _dt: f32, _events: &mut Vec<tickwire_server::game::GameEvent>) {}

    fn entities(&self, out: &mut Vec<EntityState>) {
        out.push(EntityState {
            id: EntityId(50_000),
            kind: 9,
            pos: quantize_position(Vec2::new(600.0, 100.0)),
            vel: quantize_velocity(Vec2::ZERO),
            heading: 0,
            flags: 0,
            value: 0,
        });
    }

    fn round(&self) -> RoundState {
        RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 0 }
    }

    fn focus(&self, _player: PlayerId) -> Option<Vec2> {
        None
    }

    fn score(&self, _player: PlayerId) -> Option<u16> {
        Some(0)
    }

    fn feedback(&self, _player: PlayerId) -> Option<ControllerFeedback> {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_of_ones_own_is_held_to_the_protocol_alone_when_asked() {
    let server = TestServer::start_with_games(server_config(), |_room, _seed| Outfield).await;
    let flags = ["--bots", "2", "--room", "outfield", "--duration", "1s"];

    // By default, the arena's rules: both broken, the run fails and says what to do.
    let report = run_bots(&server, &flags).await;
    let table = report.table();
    assert!(!report.passed, "{table}");
    let failed: Vec<&str> =
        report.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["worlds consistent"], "{table}");
    let kinds: Vec<&str> = report.errors.keys().map(String::as_str).collect();
    assert_eq!(kinds, ["world-entity-out-of-bounds"], "checked first: {table}");
    assert!(report.hints.iter().any(|h| h.contains("--world-checks protocol")), "{table}");

    // Held to the protocol alone, the same game passes: every world decoded and applied.
    let protocol = [&flags[..], &["--world-checks", "protocol"]].concat();
    let report = run_bots(&server, &protocol).await;
    let table = report.table();
    assert!(report.passed, "{table}");
    assert!(report.errors.is_empty() && report.hints.is_empty(), "{table}");
    assert!(report.frames.received > 0, "{table}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_reported_by_reason_and_not_retried() {
    let mut config = server_config();
    config.max_connections_per_ip = 2;
    let server = TestServer::start(config).await;
    let report =
        run_bots(&server, &["--bots", "4", "--role", "controller", "--duration", "1s"]).await;
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    assert_eq!(report.bots.failures.get("http-429"), Some(&2), "{table}");
    assert!(!report.passed);
    assert!(report.frames.expected.is_none(), "controllers get no snapshots");
    // What the server said, and which of its flags to raise.
    let example = &report.bots.failure_examples["http-429"];
    assert!(example.starts_with("upgrade refused: HTTP 429"), "{table}");
    assert!(table.contains(&format!("http-429 x2: {example}")), "{table}");
    assert!(report.hints.iter().any(|h| h.contains("--max-connections-per-ip")), "{table}");
    server.shutdown().await;
}

/// Frames expected are those of the bots present in the window, not of the bots asked for:
/// two of four refused, the two that joined are not held to four bots' frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_expected_count_the_bots_present_not_the_bots_asked_for() {
    let mut config = server_config();
    config.max_connections_per_ip = 2;
    let server = TestServer::start(config).await;
    let report =
        run_bots(&server, &["--bots", "4", "--role", "spectator", "--duration", "1s"]).await;
    let table = report.table();
    assert_eq!((report.bots.joined, report.bots.stayed), (2, 2), "{table}");
    let window = report.run.window_s.expect("the window opened");
    let expected = report.frames.expected.expect("spectators get a snapshot per tick");
    assert!(expected >= (30.0 * window * 2.0).round() as u64, "{table}");
    // However many frames a loaded machine delivers, the share agrees with the bots' fps.
    let ratio = report.frames.delivered_ratio.expect("a ratio");
    let fps = report.frames.per_bot_fps.expect("bots stayed the window");
    assert!((fps.mean / 30.0 - ratio).abs() < 0.1, "fps agrees with the delivered share: {table}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ips_spread_connections_over_local_addresses() {
    let mut config = server_config();
    config.max_connections_per_ip = 1;
    let server = TestServer::start(config).await;
    let report = run_bots(
        &server,
        &[
            "--bots",
            "3",
            "--role",
            "spectator",
            "--duration",
            "500ms",
            "--source-ips",
            "127.0.0.2-127.0.0.4",
        ],
    )
    .await;
    let table = report.table();
    assert_eq!(report.bots.joined, 3, "one session per address is enough: {table}");
    assert_eq!(report.run.source_ips, 3);
    assert!(report.passed, "{table}");
    server.shutdown().await;
}

/// `--io-uring`: the same bots driven from one thread through one io_uring report the same.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_io_uring_players_play_spectators_watch_and_everyone_leaves_cleanly() {
    let server = TestServer::start(server_config()).await;
    let report = run_bots(
        &server,
        &["--bots", "5", "--role", "player", "--room", "ring", "--duration", "2s", "--io-uring"],
    )
    .await;
    let table = report.table();
    assert!(report.passed, "{table}");
    assert!(report.run.io_uring && table.contains("io_uring thread"), "{table}");
    assert_eq!((report.bots.started, report.bots.joined, report.bots.stayed), (5, 5, 5), "{table}");
    assert!(report.errors.is_empty(), "every snapshot decoded and applied: {table}");
    assert_eq!(report.bots.leaves_answered, 5, "every leave answered: {table}");
    assert_eq!(report.close_codes.get("1000"), Some(&5), "{table}");
    let fps = report.frames.per_bot_fps.expect("bots stayed the window");
    assert!(fps.mean > 1.0 && fps.p50 <= 31.0, "{table}");
    let ack = report.input_to_ack_ms.expect("inputs sent and acknowledged");
    assert!(ack.samples as f64 > 0.5 * report.frames.received as f64, "{table}");
    assert!(report.rtt_ms.is_some(), "pings answered: {table}");
    let bytes = report.bytes_per_bot_per_s.expect("the window opened");
    assert!(bytes.sent > 8.0 * fps.mean, "an ack and an input per snapshot: {table}");
    assert!(bytes.received > 8.0 * fps.mean, "{table}");

    let report = run_bots(
        &server,
        &["--bots", "4", "--role", "spectator", "--room", "ring", "--duration", "1s", "--io-uring"],
    )
    .await;
    let table = report.table();
    assert!(report.passed, "{table}");
    assert_eq!(report.bots.stayed, 4, "{table}");
    assert!(report.input_to_ack_ms.is_none(), "spectators send no inputs: {table}");
    assert!(report.interarrival_ms.is_some_and(|gaps| gaps.p50 >= 20.0), "{table}");
    server.shutdown().await;
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_io_uring_refusals_and_a_server_going_away_are_reported() {
    let mut config = server_config();
    config.max_connections_per_ip = 2;
    let server = TestServer::start(config).await;
    let report = run_bots(
        &server,
        &["--bots", "4", "--role", "spectator", "--duration", "500ms", "--io-uring"],
    )
    .await;
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    assert_eq!(report.bots.failures.get("http-429"), Some(&2), "{table}");
    assert!(!report.passed);

    // The server shuts down under the bots: each is told (1001) and counted as dropped.
    let url = server.url();
    let bots = tokio::spawn(async move {
        let argv = [
            "tickwire-bots",
            "--url",
            &url,
            "--quiet",
            "--bots",
            "2",
            "--role",
            "spectator",
            "--duration",
            "3s",
            "--io-uring",
        ];
        tickwire_bots::run::run(Args::try_parse_from(argv).unwrap(), std::future::pending()).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.shutdown().await;
    let report = bots.await.unwrap();
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    assert_eq!(report.bots.drops.values().sum::<u64>(), 2, "{table}");
    assert_eq!(report.close_codes.get("1001"), Some(&2), "{table}");
}

/// A server that goes away in the window leaves nobody to measure the rest of it: the run
/// ends there, and says why, rather than waiting out the window with no bot.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_nobody_is_left_in_ends_there_and_does_not_pass() {
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    let dir = scratch_dir();
    let ready = dir.join("ready");
    let flags = ["--bots", "2", "--role", "spectator", "--duration", "60s", "--ready-file"];
    let argv = ["tickwire-bots", "--url", &url, "--quiet", "--ramp", "50/s"];
    let args =
        Args::try_parse_from(argv.iter().chain(&flags).chain(&[ready.to_str().unwrap()])).unwrap();
    let bots = tokio::spawn(tickwire_bots::run::run(args, std::future::pending()));
    while !ready.exists() {
        assert!(!bots.is_finished(), "the run ended before its window");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.shutdown().await;
    let report = bots.await.unwrap();
    let table = report.table();
    assert_eq!(report.bots.drops.values().sum::<u64>(), 2, "{table}");
    assert_eq!(report.run.no_bot_left_in, Some(tickwire_bots::report::Phase::Window), "{table}");
    assert!(report.run.window_s.is_some_and(|s| s < 60.0), "ended with its last bot: {table}");
    let complete = report.checks.iter().find(|c| c.name == "window complete").expect(&table);
    assert!(!complete.ok && complete.detail.contains("no bot was left"), "{table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `--server-pid` process that exits in the window is named, with when, rather than its
/// figures silently missing. Killed and not waited for, it is a zombie, as a script's server
/// is until the script reaps it.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_pid_that_exits_is_reported_gone_with_when() {
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    let dir = scratch_dir();
    let ready = dir.join("ready");
    let mut stand_in = KillOnDrop(Some(
        std::process::Command::new("sleep").arg("600").spawn().expect("sleep runs"),
    ));
    let pid = stand_in.0.as_ref().unwrap().id().to_string();
    let flags = ["--bots", "1", "--role", "spectator", "--duration", "2s", "--server-pid", &pid];
    let argv = ["tickwire-bots", "--url", &url, "--quiet", "--ramp", "50/s", "--ready-file"];
    let args =
        Args::try_parse_from(argv.iter().chain(&[ready.to_str().unwrap()]).chain(&flags)).unwrap();
    let bots = tokio::spawn(tickwire_bots::run::run(args, std::future::pending()));
    while !ready.exists() {
        assert!(!bots.is_finished(), "the run ended before its window");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    let report = bots.await.unwrap();
    let table = report.table();
    let gone = report.resources.server_gone.expect(&table);
    assert_eq!(gone.phase, tickwire_bots::report::Phase::Window, "{table}");
    assert!(table.contains(&format!("server (pid {pid}) gone")), "{table}");
    assert!(report.warnings.iter().any(|w| w.contains("was gone")), "{table}");
    assert_eq!(report.resources.server_cpu_percent, None, "{table}");
    stand_in.0.take().unwrap().wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    server.shutdown().await;
}

/// A refused command line runs nothing: a report an earlier run left at its `--json` path
/// is emptied, not left to pass for this one.
#[cfg(unix)]
#[test]
fn a_refused_command_line_leaves_no_earlier_report_behind() {
    let dir = scratch_dir();
    let json = dir.join("stale.json");
    for refused in [
        // Refused by the bots' own checks: no such process.
        &["--server-pid", "4000000000"][..],
        // Refused by clap, before it got to the path.
        &["--bots", "0"],
    ] {
        std::fs::write(&json, "{\"passed\":true}\n").unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
            .args(["--url", "ws://127.0.0.1:1/ws", "--quiet"])
            .args(refused)
            .args(["--json", json.to_str().unwrap()])
            .output()
            .expect("tickwire-bots runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{refused:?}: {stderr}");
        assert_eq!(std::fs::read_to_string(&json).unwrap(), "", "{refused:?}: {stderr}");
    }
    // Nothing there before: nothing made.
    std::fs::remove_file(&json).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        .args(["--server-pid", "4000000000", "--json", json.to_str().unwrap()])
        .output()
        .expect("tickwire-bots runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(!json.exists(), "a refused command line writes no report file");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--json -` is for a pipe into jq: standard output holds the JSON report and nothing else
/// (the table goes to standard error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_to_standard_output_is_the_report_alone() {
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
            .args(["--url", &url, "--quiet", "--bots", "2", "--role", "spectator"])
            .args(["--room", "bots-json", "--duration", "1s", "--json", "-"])
            .output()
            .expect("tickwire-bots runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON alone ({e}): {stdout}"));
    assert_eq!(report["bots"]["joined"], 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("bots"), "the table on stderr");
    server.shutdown().await;
}

/// Ctrl-C in the middle of the window ends the run at once, and it does not pass on the few
/// seconds it measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_in_its_window_fails_window_complete() {
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    let argv = ["tickwire-bots", "--url", &url, "--quiet", "--ramp", "50/s", "--bots", "2"];
    let args = Args::try_parse_from(argv.iter().chain(&["--duration", "60s"])).unwrap();
    let started = std::time::Instant::now();
    let interrupt = tokio::time::sleep(std::time::Duration::from_secs(2));
    let report = tickwire_bots::run::run(args, interrupt).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "it stopped at once");
    let table = report.table();
    assert!(report.run.interrupted, "{table}");
    assert!(!report.passed, "{table}");
    let failed: Vec<&str> =
        report.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["window complete"], "{table}");
    server.shutdown().await;
}

/// Ctrl-C during the ramp: no window opens, so nothing is divided by the microseconds
/// between its two readings; the report says there was no window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_in_its_ramp_reports_no_window_figures() {
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    // A bot every 2 s: the interrupt comes after the first joined, long before the last.
    let argv = ["tickwire-bots", "--url", &url, "--quiet", "--ramp", "0.5/s", "--bots", "3"];
    let args = Args::try_parse_from(argv.iter().chain(&["--role", "spectator"])).unwrap();
    let interrupt = tokio::time::sleep(std::time::Duration::from_millis(1500));
    let report = tickwire_bots::run::run(args, interrupt).await;
    let table = report.table();
    assert!(report.run.interrupted, "{table}");
    assert_eq!(report.bots.started, 1, "{table}");
    assert_eq!(report.run.window_s, None, "{table}");
    assert!(report.bytes_per_bot_per_s.is_none(), "{table}");
    let res = &report.resources;
    assert_eq!((res.bots_cpu_percent, res.bots_wait_percent), (None, None), "{table}");
    assert!(report.frames.expected.is_none() && report.frames.per_bot_fps.is_none(), "{table}");
    assert!(table.contains("no measurement window"), "{table}");
    assert!(!report.passed, "{table}");
    server.shutdown().await;
}

/// A `--json` path that cannot be written is refused before the run (exit 2, naming the
/// flag), not found out after minutes of it.
#[test]
fn a_json_path_that_cannot_be_written_is_refused_before_the_run() {
    let started = std::time::Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        // Nothing listens on port 1: were the run to start, its bot would fail at once.
        .args(["--url", "ws://127.0.0.1:1/ws", "--quiet", "--bots", "1", "--duration", "5s"])
        .args(["--json", "/nonexistent-tickwire-dir/report.json"])
        .output()
        .expect("tickwire-bots runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a bad command line: {stderr}");
    assert!(stderr.contains("--json /nonexistent-tickwire-dir/report.json"), "{stderr}");
    assert!(output.stdout.is_empty(), "no run, no table");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused at once");
}

/// A report that cannot be written (a full disk: /dev/full) still prints the failed checks
/// before the error.
#[cfg(target_os = "linux")]
#[test]
fn failed_checks_are_printed_even_when_the_report_cannot_be_written() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        .args(["--url", "ws://127.0.0.1:1/ws", "--quiet", "--bots", "1", "--duration", "100ms"])
        .args(["--json", "/dev/full"])
        .output()
        .expect("tickwire-bots runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let check = stderr.find("check failed: every bot joined").expect(&stderr);
    let error = stderr.find("--json /dev/full").expect(&stderr);
    assert!(check < error, "the verdict, then the write error: {stderr}");
}

/// A shell's soft open-files limit (1,024 is common) does not cap the bots: they raise it to
/// the hard limit before judging `--bots` against it.
#[cfg(target_os = "linux")]
#[test]
fn the_soft_open_files_limit_is_raised_before_bots_are_counted_against_it() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(hard >= 1000, "this test needs a hard open-files limit of 1,000 or more: {hard}");
    // 500 bots under a soft limit of 100; the --json path that cannot be written then stops the
    // run before it starts, so the exit says which check came first.
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -Sn 100 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_tickwire-bots")])
        .args(["--url", "ws://127.0.0.1:1/ws", "--quiet", "--bots", "500", "--duration", "1s"])
        .args(["--json", "/nonexistent-tickwire-dir/report.json"])
        .output()
        .expect("tickwire-bots runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("ulimit -n"), "the soft limit was not raised: {stderr}");
    assert!(stderr.contains("--json /nonexistent-tickwire-dir/report.json"), "{stderr}");
}

/// SIGTERM (a process manager, `timeout`, `kill`) ends the run as Ctrl-C does: the bots leave,
/// the report is printed and written, and says it was interrupted. A report from an earlier
/// run is gone from the start: a run that ends without one cannot pass for it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_run_with_its_report_and_no_stale_one_survives() {
    use std::time::{Duration, Instant};
    let server = TestServer::start(server_config()).await;
    let url = server.url();
    let dir = scratch_dir();
    let (json, ready) = (dir.join("report.json"), dir.join("ready"));
    std::fs::write(&json, "{\"passed\":true}\n").unwrap();
    let bots = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        .args(["--url", &url, "--quiet", "--bots", "2", "--role", "spectator"])
        .args(["--room", "bots-term", "--duration", "60s", "--json", json.to_str().unwrap()])
        .args(["--ready-file", ready.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tickwire-bots runs");
    let mut bots = KillOnDrop(Some(bots));
    // A bound, not a timing: the ramp of two bots takes milliseconds.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the bots never joined");
        let exited = bots.0.as_mut().unwrap().try_wait().unwrap();
        assert!(exited.is_none(), "tickwire-bots exited before the window: {exited:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "", "the earlier report is gone");
    let bots = bots.0.take().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &bots.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || bots.wait_with_output()).await.unwrap();
    let output = output.expect("tickwire-bots ends");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "an interrupted run fails: {stderr}");
    assert!(stdout.contains("check: window complete") && stdout.contains("FAIL"), "{stdout}");
    let text = std::fs::read_to_string(&json).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a report ({e}): {text}"));
    assert_eq!(report["run"]["interrupted"], true, "{text}");
    assert_eq!(report["passed"], false, "{text}");
    assert_eq!(report["bots"]["joined"], 2, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
    server.shutdown().await;
}

/// `--json /dev/stdout` with standard output appended to a log (`>> run.log`): /dev/stdout
/// reopens that log, a regular file, which must be neither emptied nor written over from its
/// start; the report follows the table, after what the log held.
#[cfg(target_os = "linux")]
#[test]
fn json_to_dev_stdout_appended_to_a_log_keeps_the_log() {
    let dir = scratch_dir();
    let log = dir.join("run.log");
    std::fs::write(&log, "an earlier line\n").unwrap();
    let appended = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        // Nothing listens on port 1: the bot fails at once and the run ends.
        .args(["--url", "ws://127.0.0.1:1/ws", "--quiet", "--bots", "1", "--duration", "100ms"])
        .args(["--json", "/dev/stdout"])
        .stdout(appended)
        .output()
        .expect("tickwire-bots runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "the bot could not join: {stderr}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("an earlier line\n"), "the log was cut: {text:?}");
    let table = text.find("check: every bot joined").unwrap_or_else(|| panic!("{text}"));
    let json = text.find("\n{\n").unwrap_or_else(|| panic!("no report: {text}"));
    assert!(table < json, "the table, then the report: {text}");
    let report: serde_json::Value = serde_json::from_str(&text[json..])
        .unwrap_or_else(|e| panic!("the report is not whole ({e}): {text}"));
    assert_eq!(report["passed"], false, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A child process that a failed assertion does not leave running.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A fresh directory from mktemp(1).
#[cfg(unix)]
fn scratch_dir() -> std::path::PathBuf {
    let output = std::process::Command::new("mktemp").arg("-d").output().expect("mktemp runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Ctrl-C on `tickwire-bots ... --json out.json | tee log` ends tee too: standard output is
/// then a pipe nobody reads. The JSON is still written whole, the run ends with its verdict
/// (exit 1 here: the bot could not join), not a panic on the table (exit 101).
#[cfg(unix)]
#[test]
fn a_table_nobody_reads_costs_neither_the_json_nor_the_verdict() {
    let dir = scratch_dir();
    let json = dir.join("report.json");
    // Closed before the bots start: every write to it fails with EPIPE.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        // Nothing listens on port 1: the bot fails at once and the run ends.
        .args(["--url", "ws://127.0.0.1:1/ws", "--quiet", "--bots", "1", "--duration", "100ms"])
        .args(["--json", json.to_str().unwrap()])
        .stdout(writer)
        .output()
        .expect("tickwire-bots runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("check failed: every bot joined"), "{stderr}");
    let text = std::fs::read_to_string(&json).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a report ({e}): {text}"));
    assert_eq!(report["passed"], false, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A staging server's certificate, signed by a private CA: with that CA's PEM as --ca-cert
/// the bots join over `wss://`; without it they fail as `tls`, with a hint that names the
/// flag. A file that is no certificate is refused naming the flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_wss_the_bots_trust_the_ca_that_ca_cert_names() {
    let dir = scratch_dir();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (cert_path, key_path, ca_path) =
        (dir.join("server.crt"), dir.join("server.key"), dir.join("ca.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let mut config = server_config();
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path.clone());
    let server = TestServer::start(config).await;
    let url = format!("wss://127.0.0.1:{}/ws", server.addr.port());
    let bots = |ca_cert: Option<&std::path::Path>| {
        let mut argv = vec!["tickwire-bots", "--url", &url, "--quiet", "--bots", "2"];
        argv.extend(["--role", "spectator", "--room", "bots-wss", "--duration", "1s"]);
        if let Some(path) = ca_cert {
            argv.extend(["--ca-cert", path.to_str().unwrap()]);
        }
        let args = Args::try_parse_from(argv).expect("valid flags");
        tickwire_bots::cli::check(&args).map(|()| tickwire_bots::cli::read_files(args))
    };

    let args = bots(Some(&ca_path)).unwrap().expect("the CA is read");
    let report = tickwire_bots::run::run(args, std::future::pending()).await;
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    assert!(report.passed, "{table}");

    let args = bots(None).unwrap().unwrap();
    let report = tickwire_bots::run::run(args, std::future::pending()).await;
    let table = report.table();
    assert_eq!(report.bots.failures.get("tls"), Some(&2), "{table}");
    assert!(report.hints.iter().any(|h| h.contains("--ca-cert PATH")), "{table}");

    // A key is no certificate; a file that is not there is not read.
    for path in [key_path, dir.join("missing.pem")] {
        let message = bots(Some(&path)).unwrap().unwrap_err().to_string();
        assert!(message.contains(&format!("--ca-cert {}", path.display())), "{message}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    server.shutdown().await;
}

/// Against a server that admits only holders of a join token: without one every bot is
/// refused (`http-401`, with a hint naming --token-file); with --token-file every bot sends
/// it as `Authorization: Bearer` and joins; in --url's query it works too, and the report
/// shows it redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_token_from_token_file_admits_the_bots_and_stays_out_of_the_report() {
    use tickwire_server::auth::{JoinClaims, MintKey, mint};
    let secret = "a-secret-for-the-bots-join-tokens";
    let mut config = server_config();
    config.join_secret = Some(secret.parse().unwrap());
    let server = TestServer::start(config).await;
    let claims = JoinClaims {
        sub: "loadtest".into(),
        exp: tickwire_server::auth::unix_now() + 600,
        nbf: None,
        room: Some("bots-token".into()),
        role: Some("spectator".into()),
    };
    let token = mint(&claims, &MintKey::Secret(secret.into())).unwrap();
    let dir = scratch_dir();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let run = |url: String, token_file: Option<&std::path::Path>| {
        let mut argv = vec!["tickwire-bots".to_string(), "--url".into(), url, "--quiet".into()];
        argv.extend(["--bots", "2", "--role", "spectator", "--room", "bots-token"].map(Into::into));
        argv.extend(["--duration", "1s"].map(Into::into));
        if let Some(path) = token_file {
            argv.extend(["--token-file".into(), path.display().to_string()]);
        }
        let args = Args::try_parse_from(argv).expect("valid flags");
        tickwire_bots::cli::check(&args).expect("accepted");
        let args = tickwire_bots::cli::read_files(args).expect("the token is read");
        tickwire_bots::run::run(args, std::future::pending())
    };

    let report = run(server.url(), None).await;
    let table = report.table();
    assert_eq!(report.bots.failures.get("http-401"), Some(&2), "{table}");
    assert!(report.hints.iter().any(|h| h.contains("--token-file PATH")), "{table}");

    let report = run(server.url(), Some(&token_file)).await;
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    assert!(report.passed, "{table}");

    let report = run(format!("{}?token={token}", server.url()), None).await;
    let table = report.table();
    assert_eq!(report.bots.joined, 2, "{table}");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&token), "the token is in the report: {json}");
    assert!(report.run.url.ends_with("/ws?token=redacted"), "{}", report.run.url);

    // An empty file, one that is not there, and a token both ways are refused naming the flag.
    let empty = dir.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    for path in [empty, dir.join("missing")] {
        let argv = ["tickwire-bots", "--token-file", path.to_str().unwrap()];
        let args = Args::try_parse_from(argv).unwrap();
        let message = tickwire_bots::cli::read_files(args).unwrap_err().to_string();
        assert!(message.contains(&format!("--token-file {}", path.display())), "{message}");
    }
    let url = format!("{}?token={token}", server.url());
    let argv = ["tickwire-bots", "--url", &url, "--token-file", token_file.to_str().unwrap()];
    let message =
        tickwire_bots::cli::check(&Args::try_parse_from(argv).unwrap()).unwrap_err().to_string();
    assert!(message.contains("--token-file and a token in --url"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
    server.shutdown().await;
}
