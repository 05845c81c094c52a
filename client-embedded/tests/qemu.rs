//! The controller firmware image — not a host build of the client — plays against the real
//! tickwire server: `boards/qemu-mps2-an386` runs on QEMU's emulated Arm MPS2 AN386
//! (Cortex-M4F) with its LAN9118 Ethernet (our `embassy-net-lan9118` driver) on QEMU's
//! user-mode network.
//!
//! ```text
//! cargo test -p tickwire-client-embedded --features qemu-test --test qemu
//! ```
//!
//! Kept out of `cargo test --workspace` (feature `qemu-test`), like the TAP test: it needs
//! root, `qemu-system-arm` (Debian package `qemu-system-arm`, which `.ci/run` installs) and the
//! `thumbv7em-none-eabihf` target. It fails, never skips, when one is missing.
//!
//! Layout: the firmware is built with its default server URL, `ws://10.0.2.2:8080/ws` (the
//! same image `boards/build.sh` builds and measures). In QEMU's user network 10.0.2.2 is the
//! host's loopback, so the test runs in a network namespace of its own (root), where
//! 127.0.0.1:8080 collides with nothing: a cutting proxy listens there and forwards to the
//! tickwire server (in-process, `tickwire_server::run`, on 127.0.0.1 port 0). QEMU runs in
//! the same namespace, its UART on a pipe, its monitor on a Unix socket.
//!
//! What it checks, each step bounded by [`PATIENCE`] and the whole by a watchdog:
//! 1. the board comes up (its watchdog armed, DHCP), joins as a controller: the UART says which
//!    ship, `GET /rooms` shows the seat, a spectator rebuilding the world (`WorldHistory`) finds
//!    the ship;
//! 2. the scripted stick steers it: the spectator sees it point east, south, west and north
//!    in the script's order, and move;
//! 3. feedback reaches the firmware: ship colour and score lines on the UART;
//! 4. the network drops: the link goes down (monitor `set_link net0 off`, which the driver
//!    reports from the PHY's interrupt) and the proxy cuts the connection; 3 s later the link
//!    comes back, and the firmware reconnects and resumes the same ship (`Welcome.resumed` in
//!    the client's log line and the board's, the same entity, still one seat, the server's
//!    `tickwire_resumes` counter at 1), which the spectator sees moving again. The attempt
//!    that got back in had started during the outage and waited for DHCP (the board's
//!    `OnlineConnector`), rather than failing at once and backing off ever longer;
//! 5. nothing stalled on QEMU's RX FIFO quirk (it drops a frame that does not fit, silently):
//!    the driver's FIFO high-water mark, logged on the UART, stayed more than two full frames
//!    below the FIFO's size, so no frame can have been dropped; no RX errors; no panic, no
//!    watchdog reset;
//! 6. an operator removes the controller (`POST /rooms/{room}/kick` with a reason): the client's
//!    `kicked: Removed (...)` line carries the server's words, reason and all, as the boards'
//!    READMEs tell their owners to look for.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::netns::{self, fail};
use support::{PATIENCE, Proxy, Spectator, http_get};
use tickwire_server::ServerConfig;
use tickwire_shared::EntityId;

/// The board crate, from this crate's folder.
const BOARD: &str = "boards/qemu-mps2-an386";
/// The target directory all boards share (`boards/build.sh`, which CI runs first), from this
/// crate's folder, and the image in it.
const BOARDS_TARGET: &str = "boards/target";
const IMAGE: &str = "thumbv7em-none-eabihf/release/tickwire-qemu-mps2-an386";
/// Where the firmware's default `TICKWIRE_SERVER` (`ws://10.0.2.2:8080/ws`) lands.
const PROXY_ADDR: &str = "127.0.0.1:8080";
/// The emulation and every check, once the image is built.
const WATCHDOG: Duration = Duration::from_secs(120);
/// How long the link stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// The server's resume grace (`ServerConfig::default().resume_grace`), which [`OUTAGE`] and
/// the reconnect after it must stay inside for the seat to be resumed.
const RESUME_GRACE: Duration = Duration::from_secs(10);
/// The driver's RX FIFO (`embassy_net_lan9118::RX_FIFO_BYTES`, `RX_FIFO_FRAMES`) and the
/// highest peak that proves no frame was dropped (`RX_FIFO_SAFE_PEAK_BYTES`: two full frames
/// below the size, one the driver may have just taken out, one arriving; frames likewise).
const RX_FIFO_BYTES: u32 = 10_560;
const RX_FIFO_SAFE_PEAK_BYTES: u32 = RX_FIFO_BYTES - 2 * 1_536;
const RX_FIFO_SAFE_PEAK_FRAMES: u32 = 176 - 2;

fn main() {
    println!("running 1 test (the controller firmware in QEMU mps2-an386, root only)");
    let image = build_firmware();
    check_qemu();
    let started = Instant::now();
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        fail(&format!("watchdog: the test did not finish within {WATCHDOG:?}"));
    });
    // Before any thread that touches the network exists (the watchdog only sleeps).
    netns::enter();

    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(firmware_plays(&image))
    }));
    match outcome {
        Ok(()) => {
            println!(
                "test qemu::firmware_plays_resumes_and_never_stalls ... ok ({:?})",
                started.elapsed()
            );
            println!("1 passed, 0 failed");
            std::process::exit(0);
        }
        Err(_) => {
            println!("test qemu::firmware_plays_resumes_and_never_stalls ... FAILED");
            println!("0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

/// Builds the firmware as `boards/build.sh` does (release, locked, into the board's own
/// `target/`, its default settings), which is a no-op when that already ran.
fn build_firmware() -> PathBuf {
    let board = Path::new(env!("CARGO_MANIFEST_DIR")).join(BOARD);
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(BOARDS_TARGET);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked"])
        .current_dir(&board)
        .env("CARGO_TARGET_DIR", &target_dir)
        // The settings in .cargo/config.toml, whatever this shell says.
        .env("TICKWIRE_SERVER", "ws://10.0.2.2:8080/ws")
        .env("TICKWIRE_NAME", "qemu-mps2")
        .env("TICKWIRE_ROOM", "")
        .env("TICKWIRE_LOG", "info")
        .status()
        .unwrap_or_else(|e| fail(&format!("cannot run cargo to build {BOARD}: {e}")));
    if !status.success() {
        fail(&format!(
            "building {BOARD} failed ({status}); it needs `rustup target add thumbv7em-none-eabihf`"
        ));
    }
    println!("firmware built or up to date in {:?}", started.elapsed());
    target_dir.join(IMAGE)
}

fn check_qemu() {
    match Command::new("qemu-system-arm").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout);
            println!("{}", version.lines().next().unwrap_or("qemu-system-arm"));
        }
        Ok(out) => fail(&format!("qemu-system-arm --version failed: {}", out.status)),
        Err(e) => fail(&format!(
            "qemu-system-arm cannot run ({e}): install the Debian package qemu-system-arm \
             (apt-get install -y qemu-system-arm)"
        )),
    }
}

/// QEMU running the image, its UART lines collected (and echoed with `uart|`).
struct Board {
    qemu: Child,
    uart: Arc<Mutex<Vec<String>>>,
    monitor: PathBuf,
}

impl Board {
    fn boot(image: &Path) -> Board {
        let dir = std::env::temp_dir().join(format!("tickwire-qemu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let monitor = dir.join("monitor.sock");
        let mut command = Command::new("qemu-system-arm");
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe, with integer arguments. It makes the kernel kill QEMU
        // when this test process dies, however it ends (the watchdog exits without unwinding).
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut qemu = command
            .args(["-M", "mps2-an386", "-display", "none", "-serial", "stdio", "-no-reboot"])
            .args(["-nic", "user,id=net0,model=lan9118"])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", monitor.display()))
            .arg("-kernel")
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start qemu-system-arm: {e}")));
        let uart: Arc<Mutex<Vec<String>>> = Arc::default();
        let lines = uart.clone();
        let stdout = qemu.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let line = line.trim_end_matches('\r').to_string();
                println!("uart| {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let mut stderr = qemu.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            for line in text.lines() {
                println!("qemu| {line}");
            }
        });
        Board { qemu, uart, monitor }
    }

    /// Waits for a UART line containing `needle` (after line `from`); returns it and its
    /// index. Fails at once if QEMU exited (a panic resets the board, which ends QEMU).
    async fn wait_line(&mut self, needle: &str, from: usize) -> (String, usize) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some((i, line)) = self.uart.lock().unwrap()[from..]
                .iter()
                .enumerate()
                .find(|(_, line)| line.contains(needle))
            {
                return (line.clone(), from + i);
            }
            if let Ok(Some(status)) = self.qemu.try_wait() {
                panic!("QEMU exited ({status}) while waiting for {needle:?}");
            }
            assert!(tokio::time::Instant::now() < deadline, "no UART line {needle:?} in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lines(&self) -> usize {
        self.uart.lock().unwrap().len()
    }

    /// Runs a QEMU monitor command and waits for the monitor to finish it (its next prompt).
    fn monitor(&self, command: &str) {
        let mut socket = UnixStream::connect(&self.monitor)
            .unwrap_or_else(|e| panic!("QEMU monitor at {}: {e}", self.monitor.display()));
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        // Input sent before the monitor's first prompt is lost.
        read_until_prompts(&mut socket, 1);
        socket.write_all(format!("{command}\n").as_bytes()).unwrap();
        let reply = read_until_prompts(&mut socket, 1);
        println!("monitor: {command}");
        assert!(!reply.contains("Error") && !reply.contains("not found"), "{command}: {reply}");
    }
}

/// Reads the monitor's output until `prompts` more `(qemu)` prompts have come.
fn read_until_prompts(socket: &mut UnixStream, prompts: usize) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while text.matches("(qemu)").count() < prompts {
        let n = socket.read(&mut buf).expect("the QEMU monitor answers");
        assert!(n > 0, "the QEMU monitor closed: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        if let Some(dir) = self.monitor.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The ship number in a firmware line "steering ship N (resumed: B)".
fn ship_of(line: &str) -> EntityId {
    let rest = line.split("steering ship ").nth(1).expect("a steering line");
    EntityId(rest.split_whitespace().next().unwrap().parse().expect("a ship number"))
}

/// The room holding the one controller, from `GET /rooms`.
async fn controller_room(server: SocketAddr) -> (String, u64) {
    let rooms: serde_json::Value =
        serde_json::from_str(&http_get(server, "/rooms").await).expect("GET /rooms answers JSON");
    let rooms = rooms.as_array().expect("a list of rooms");
    let with_controller: Vec<_> =
        rooms.iter().filter(|room| room["controllers"].as_u64() == Some(1)).collect();
    assert_eq!(with_controller.len(), 1, "one room holds the controller: {rooms:?}");
    let room = with_controller[0];
    (room["id"].as_str().unwrap().to_string(), room["players"].as_u64().unwrap())
}

/// The script's headings (1/256 turn, clockwise from east, y down): east, south, west,
/// north.
const HEADINGS: [(u8, &str); 4] = [(0, "east"), (64, "south"), (128, "west"), (192, "north")];

/// Waits until the spectator has seen `ship` point east, south, west and north, in the
/// script's order (the arena turns a ship toward its stick; within 1/32 turn), and move.
async fn sees_script(spectator: &mut Spectator, ship: EntityId) {
    let first = spectator.next_state_of(ship).await;
    // A lap and a half of the script at most (8.6 s a lap).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut next = 0;
    while next < HEADINGS.len() {
        let state = spectator.next_state_of(ship).await;
        let (heading, name) = HEADINGS[next];
        if state.heading.wrapping_sub(heading).wrapping_add(8) <= 16 {
            println!("spectator: ship {} points {name}: {state:?}", ship.0);
            next += 1;
        }
        let waiting = HEADINGS[next.min(HEADINGS.len() - 1)].1;
        assert!(tokio::time::Instant::now() < deadline, "the ship never pointed {waiting}");
    }
    let now = spectator.next_state_of(ship).await;
    assert_ne!(now.pos, first.pos, "the ship moved");
}

/// The FIFO peak (bytes, frames) in the driver's next counters line after line `from`:
/// "FIFO peak N of M B, F frames".
async fn fifo_peak(board: &mut Board, from: usize) -> (u32, u32, String) {
    let (line, _) = board.wait_line("eth: rx", from).await;
    let number_after = |label: &str| -> u32 {
        let rest = line.split(label).nth(1).expect(label);
        rest.split([' ', ',']).next().and_then(|n| n.parse().ok()).expect("a number")
    };
    let frames = line.split(" B, ").nth(1).and_then(|rest| rest.split(' ').next());
    let frames = frames.and_then(|n| n.parse().ok()).expect("a frame count");
    (number_after("FIFO peak "), frames, line)
}

async fn firmware_plays(image: &Path) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    config.admin_token = Some(tickwire_server::config::Secret(ADMIN_TOKEN.into()));
    assert_eq!(config.resume_grace, RESUME_GRACE);
    tokio::spawn(tickwire_server::run(listener, config, std::future::pending::<()>()));
    let proxy = Proxy::start_at(PROXY_ADDR.parse().unwrap(), server, false).await;
    println!("server on {server}, proxy on {PROXY_ADDR} (inside the private namespace)");

    let booted = Instant::now();
    let mut board = Board::boot(image);

    // 1. Up, joined, seen.
    board.wait_line("watchdog armed", 0).await;
    board.wait_line("IP address 10.0.2.15", 0).await;
    let (line, at) = board.wait_line("steering ship", 0).await;
    assert!(line.contains("(resumed: false)"), "a fresh join: {line}");
    let ship = ship_of(&line);
    println!("joined {:?} after boot; ship {}", booted.elapsed(), ship.0);
    let (room, players) = controller_room(server).await;
    assert_eq!(players, 1, "one seat in {room}");
    let mut spectator = Spectator::join(server, &room).await;

    // 2. The scripted stick steers the ship.
    sees_script(&mut spectator, ship).await;

    // 3. Feedback on the UART.
    let (line, _) = board.wait_line("ship colour #", at).await;
    assert!(line.contains("alive"), "{line}");

    // 4. The network drops; the firmware comes back to the same ship.
    let before_drop = board.lines();
    board.monitor("set_link net0 off");
    proxy.cut();
    let cut = Instant::now();
    board.wait_line("Ethernet link down", before_drop).await;
    tokio::time::sleep(OUTAGE).await;
    board.monitor("set_link net0 on");
    board.wait_line("Ethernet link up", before_drop).await;
    let (line, resumed_at) = board.wait_line("steering ship", before_drop).await;
    let back_in = cut.elapsed();
    println!("resumed {back_in:?} after the cut ({OUTAGE:?} of it without a link)");
    // The link loss resets the socket at once (smoltcp drops a connection whose address is
    // gone), so the next attempt starts well inside the outage; it must still be the one that
    // got back in, parked until DHCP answered, not a later one after a backoff.
    let (_, online_at) = board.wait_line("IP address 10.0.2.15/24 again", before_drop).await;
    let uart = board.uart.lock().unwrap().clone();
    let attempt = uart[..resumed_at].iter().rposition(|l| l.contains("connecting to "));
    let attempt = attempt.expect("a connection attempt before the resume");
    assert!(attempt < online_at, "the resuming attempt began after DHCP: {}", uart[attempt]);
    assert!(line.contains("(resumed: true)"), "the seat was resumed: {line}");
    // Resumed, so within the server's grace: a seat past it is gone, and the Welcome says
    // `resumed: false` (as would a fresh join). How long it took is for the log above.
    assert_eq!(ship_of(&line), ship, "the same ship");
    // The client's own line ("joined room R as player P (resumed: B)"), which comes just before
    // the board's: both must say so.
    let (joined, _) = board.wait_line(" as player ", before_drop).await;
    assert!(joined.contains("(resumed: true)"), "the client logged a resume: {joined}");
    let (room_after, players) = controller_room(server).await;
    assert_eq!((room_after.as_str(), players), (room.as_str(), 1), "the same single seat");
    let metrics = http_get(server, "/metrics").await;
    assert!(metrics.lines().any(|l| l == "tickwire_resumes_total 1"), "{metrics}");
    assert!(proxy.accepted() >= 2, "a second connection");
    let mut spectator = Spectator::join(server, &room).await;
    let first = spectator.next_state_of(ship).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while spectator.next_state_of(ship).await.pos == first.pos {
        assert!(tokio::time::Instant::now() < deadline, "the resumed ship never moved");
    }
    println!("spectator: ship {} moves again", ship.0);

    // 5. No frame dropped, nothing stalled: the driver's counters after all of that.
    let (peak, peak_frames, line) = fifo_peak(&mut board, resumed_at).await;
    let latency = line.split("wake latency max ").nth(1).unwrap_or("?");
    println!(
        "RX FIFO peak {peak} B of {RX_FIFO_BYTES} B, {peak_frames} frames; \
         interrupt to drain at most {latency}"
    );
    assert!(peak <= RX_FIFO_SAFE_PEAK_BYTES, "a frame may have been dropped: {line}");
    assert!(peak_frames <= RX_FIFO_SAFE_PEAK_FRAMES, "a frame may have been dropped: {line}");
    assert!(line.contains("(0 errors, 0 dropped)"), "{line}");
    let uart = board.uart.lock().unwrap().clone();
    assert!(
        !uart.iter().any(|l| ["PANIC", "HARD FAULT", "WATCHDOG"].iter().any(|w| l.contains(w)))
    );
    assert_eq!(uart.iter().filter(|l| l.contains("steering ship")).count(), 2, "two joins");

    // 6. An operator removes the controller; its log says why, in the server's words.
    let player = joined.split(" as player ").nth(1).and_then(|rest| rest.split(' ').next());
    let player: u64 = player.and_then(|p| p.parse().ok()).expect("the client's player id");
    let before_kick = board.lines();
    let body = format!(r#"{{"player": {player}, "reason": "testing the kick line"}}"#);
    let status = http_post(server, &format!("/rooms/{room}/kick"), &body).await;
    assert_eq!(status, 200, "the kick was taken");
    let (line, _) = board.wait_line("kicked: ", before_kick).await;
    assert!(
        line.contains("kicked: Removed (removed by the operator: testing the kick line)"),
        "the kick's line names the reason and carries the server's words: {line}"
    );
    assert!(board.qemu.try_wait().unwrap().is_none(), "QEMU still running");
    println!("{} UART lines in {:?}", board.lines(), booted.elapsed());
}

/// The operators' token the test's server takes ([`ServerConfig::admin_token`]).
const ADMIN_TOKEN: &str = "qemu-test-operator-token-0123456789abcdef";

/// The status of `POST path` with a JSON body and the operators' token.
async fn http_post(addr: SocketAddr, path: &str, body: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok());
    status.unwrap_or_else(|| panic!("an HTTP status line: {response}"))
}
