//! The binary as an operator runs it: what it logs (refusals, who is behind a proxy, colours,
//! a bad `RUST_LOG`), what it prints at start, and how it answers a second signal.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single expected thing may take before a test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// The binary, its stdout's banner and its stderr kept as they come; killed when dropped.
struct Process {
    child: Child,
    addr: SocketAddr,
    banner: String,
    stderr: Arc<Mutex<String>>,
}

impl Process {
    /// Starts the binary on port 0 with `flags` and the environment `env`, and reads its
    /// banner (up to the `rooms:` line).
    fn start(flags: &[&str], env: &[(&str, &str)]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
            .args(["--bind", "127.0.0.1:0", "--seed", "7"])
            .args(flags)
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let stderr = keep_stderr(&mut child);
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        while !banner.contains("  rooms:") {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("the server stopped: {banner}\n{}", stderr.lock().unwrap());
            }
            banner.push_str(&line);
        }
        // Keep reading whatever else it prints, so its stdout never fills or breaks.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let first = banner.lines().next().unwrap_or("");
        let addr = first.rsplit(' ').next().and_then(|a| a.parse().ok());
        let addr = addr.unwrap_or_else(|| panic!("no address in {banner:?}"));
        Process { child, addr, banner, stderr }
    }

    /// Its stderr so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until its stderr holds `text`; all of it then.
    async fn logged(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stderr = self.stderr();
            if stderr.contains(text) {
                return stderr;
            }
            assert!(Instant::now() < deadline, "{text:?} not logged:\n{stderr}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        assert!(status.expect("kill runs").success());
    }
}

/// `child`'s stderr, kept as it comes by a thread of its own.
fn keep_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().expect("stderr");
    let kept = stderr.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = err.read(&mut chunk) {
            kept.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    stderr
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` on a new connection; the status, and the connection (still open after a
/// 101, whose head alone is read).
async fn send(addr: SocketAddr, request: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await;
        if read.expect("an answer").unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head).get(9..12).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), stream)
}

/// An upgrade of `/ws` with `extra` header lines, at `path`.
fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: tickwire.v1\r\n{extra}\r\n"
    )
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A refused client (no token, a bad one, a wrong Origin) is logged with who it is and why,
/// each at debug; at the default level the first one after a quiet while is logged at info.
#[tokio::test]
async fn refused_clients_are_logged_with_who_and_why() {
    let flags = ["--join-secret", SECRET, "--allowed-origins", "https://a.example"];
    let debug = Process::start(&flags, &[("RUST_LOG", "info,tickwire_server=debug")]);
    let refusals = [
        ("/ws", "", 401, "a join token is required"),
        ("/ws", "Origin: https://evil.example\r\n", 403, "origin \"https://evil.example\""),
        ("/ws?token=bad", "", 401, "the join token is malformed"),
    ];
    for (path, extra, status, _) in refusals {
        assert_eq!(send(debug.addr, &upgrade_request(path, extra)).await.0, status, "{path}");
    }
    for (_, _, _, why) in refusals {
        let logged = debug.logged(why).await;
        let line = logged.lines().find(|l| l.contains(why)).unwrap();
        assert!(line.contains("peer=127.0.0.1:"), "{line}");
        assert!(line.contains("reason="), "{line}");
    }
    drop(debug);

    // A fallback session refused is logged alike.
    let fallback = Process::start(&flags, &[("RUST_LOG", "info,tickwire_server=debug")]);
    let request = "GET /fallback/stream?token=bad HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_eq!(send(fallback.addr, request).await.0, 401);
    let logged = fallback.logged("the join token is malformed").await;
    let line = logged.lines().find(|l| l.contains("the join token is malformed")).unwrap();
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    drop(fallback);

    let quiet = Process::start(&flags, &[]);
    assert_eq!(send(quiet.addr, &upgrade_request("/ws", "")).await.0, 401);
    let logged = quiet.logged("a join token is required").await;
    let line = logged.lines().find(|l| l.contains("a join token is required")).unwrap();
    assert!(line.contains("INFO"), "{line}");
}

/// A join token whose header names an unknown `alg` holding a newline, a forged log line and
/// a terminal's clear-screen code: the parser quotes it, and the refusal's line showed it as
/// it was, a line of the server's own to whoever reads the log.
#[tokio::test]
async fn a_refusal_echoing_the_clients_text_writes_one_line_and_no_escape_code() {
    // {"alg": "X\n2026-12-07T05:50:00Z ERROR tickwire_server::server: FORGED\u001b[2J"}, {}
    const FORGED: &str = "eyJhbGciOiAiWFxuMjAyNi0xMi0wN1QwNTo1MDowMFogRVJST1IgdGlja3dpcmVfc2Vy\
                          dmVyOjpzZXJ2ZXI6IEZPUkdFRFx1MDAxYlsySiJ9.e30.x";
    let quiet = Process::start(&["--join-secret", SECRET], &[]);
    let path = format!("/ws?token={FORGED}");
    assert_eq!(send(quiet.addr, &upgrade_request(&path, "")).await.0, 401);
    let logged = quiet.logged("FORGED").await;
    let forged: Vec<&str> = logged.lines().filter(|l| l.contains("FORGED")).collect();
    assert_eq!(forged.len(), 1, "{logged}");
    assert!(forged[0].contains("refused") && forged[0].contains("INFO"), "{}", forged[0]);
    assert!(forged[0].contains(r"X\n2026-12-07T05:50:00Z ERROR"), "{}", forged[0]);
    assert!(!logged.contains('\u{1b}'), "an escape code reached the log: {logged:?}");
}

/// Off a terminal (a file, journald) the log has no colour codes; a `RUST_LOG` directive that
/// does not parse is named on stderr and the rest still apply.
#[tokio::test]
async fn logs_have_no_colours_off_a_terminal_and_a_bad_rust_log_directive_is_named() {
    let server = Process::start(&[], &[("RUST_LOG", "nonsense=[,info")]);
    let stderr = server.logged("tickwire listening").await;
    assert!(stderr.contains("RUST_LOG: ignoring `nonsense=[`"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in a pipe: {stderr:?}");
}

/// `--log-format json`: every line on stderr is a JSON object a log collector takes, the
/// warning about `RUST_LOG` too, with the event's fields and, inside a connection, its peer.
#[tokio::test]
async fn json_logs_are_one_object_a_line_with_fields_and_spans() {
    // A file of operators' tokens others may read: warned about, in JSON too, though it is
    // read as the flags are parsed, before logging starts.
    let tokens = std::env::temp_dir().join(format!("tickwire-tokens-{}", std::process::id()));
    std::fs::write(&tokens, "ada an-operator-token-of-32-bytes-ok\n").unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&tokens, mode).unwrap();
    let tokens_flag = tokens.to_str().unwrap();
    let flags = ["--log-format", "json", "--join-secret", SECRET, "--admin-tokens", tokens_flag];
    let server = Process::start(&flags, &[("RUST_LOG", "nonsense=[,info,tickwire_server=debug")]);
    assert_eq!(send(server.addr, &upgrade_request("/ws", "")).await.0, 401);
    let stderr = server.logged("a join token is required").await;
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let message = |line: &serde_json::Value| line["message"].as_str().unwrap_or("").to_string();
    let ignored = lines.iter().find(|l| message(l).contains("RUST_LOG")).expect("the warning");
    assert_eq!(ignored["directive"], "nonsense=[", "{ignored}");
    let listening = lines.iter().find(|l| message(l) == "tickwire listening").expect("started");
    assert_eq!(listening["level"], "INFO");
    assert!(listening["timestamp"].is_string(), "{listening}");
    let refused = lines.iter().find(|l| stderr_has(l, "a join token is required")).unwrap();
    let peer = refused["peer"].as_str().or_else(|| refused["spans"][0]["peer"].as_str());
    assert!(peer.is_some_and(|p| p.starts_with("127.0.0.1:")), "{refused}");
    let loose = lines.iter().find(|l| message(l).contains("--admin-tokens")).expect("warned");
    assert_eq!(loose["level"], "WARN", "{loose}");
    assert!(message(loose).contains("mode 644"), "{loose}");
    let _ = std::fs::remove_file(&tokens);
}

/// A player's join and leave are logged at info with the address it came from and why it
/// left, so that an operator can tie a name in the log to a client.
#[tokio::test]
async fn a_players_join_and_leave_are_logged_with_its_address_and_why() {
    use tickwire_shared::{ClientMessage, Hello, Name, PROTOCOL_VERSION, Role, RoomRequest};
    let server = Process::start(&["--log-format", "json"], &[]);
    let (status, mut ws) = send(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 101);
    let hello = ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        role: Role::Player,
        name: Name::truncated("ada"),
        room: RoomRequest::Any,
        resume: None,
    });
    let payload = tickwire_shared::codec::encode_client_to_vec(&hello);
    // One masked binary frame (mask 0: the payload as is), then a masked close 1000.
    let mut frames = vec![0x82, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frames.extend(&payload);
    frames.extend([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    ws.write_all(&frames).await.unwrap();
    let stderr = server.logged("\"why\":\"closed\"").await;
    let line = |message: &str| {
        stderr
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .find(|line| line["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {stderr}"))
    };
    let (joined, left) = (line("joined"), line("left"));
    assert_eq!((&joined["name"], &joined["client"]), (&"ada".into(), &"127.0.0.1".into()));
    assert_eq!((&left["player"], &left["client"]), (&joined["player"], &"127.0.0.1".into()));
}

/// Whether a JSON log line mentions `text` in any of its fields.
fn stderr_has(line: &serde_json::Value, text: &str) -> bool {
    line.to_string().contains(text)
}

/// Behind a trusted proxy a connection's log lines name the client it forwarded, without the
/// port it does not know, and the proxy.
#[tokio::test]
async fn behind_a_proxy_log_lines_name_the_client_and_the_proxy() {
    let flags = ["--trusted-proxies", "127.0.0.1"];
    let server = Process::start(&flags, &[("RUST_LOG", "info,tickwire_server=debug")]);
    let request = upgrade_request("/ws", "X-Forwarded-For: 203.0.113.9\r\n");
    let (status, stream) = send(server.addr, &request).await;
    assert_eq!(status, 101);
    drop(stream);
    let stderr = server.logged("connection lost without a closing handshake").await;
    let line = stderr.lines().find(|l| l.contains("connection lost")).unwrap();
    assert!(line.contains("conn{peer=203.0.113.9 proxy=127.0.0.1:"), "{line}");
    assert!(!stderr.contains("203.0.113.9:0"), "{stderr}");
}

/// Trusting every address is allowed (a test bench behind a proxy may want it) but said out
/// loud at start: any client could then claim any address.
#[tokio::test]
async fn trusting_every_address_as_a_proxy_is_warned_about_at_start() {
    let server = Process::start(&["--trusted-proxies", "10.0.0.0/8,::/0"], &[]);
    let stderr = server.logged("trusts every address").await;
    let warning = stderr.lines().find(|l| l.contains("trusts every address"));
    let warning = warning.unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(warning.contains("WARN") && warning.contains("::/0"), "{warning}");
    assert!(!stderr.contains("10.0.0.0/8 trusts"), "{stderr}");
}

/// With `--public-url` the banner sends players there, and shows this machine's address as the
/// local one.
#[tokio::test]
async fn the_banner_shows_the_public_url_and_the_local_address() {
    let server = Process::start(&["--public-url", "https://play.example.com"], &[]);
    let banner = &server.banner;
    assert!(banner.contains("  play:           https://play.example.com/"), "{banner}");
    let local = format!("  local:          http://{}/", server.addr);
    assert!(banner.contains(&local), "{banner}");
    assert!(!banner.contains(&format!("play:           http://{}", server.addr)), "{banner}");
}

/// The first SIGINT or SIGTERM closes the clients, waiting for their answers up to the close
/// timeout; a second one exits at once with that signal's status, saying so.
#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let flags = ["--close-timeout", "60m", "--shutdown-timeout", "120m"];
    let mut server = Process::start(&flags, &[]);
    // Upgraded and silent: it never answers the server's 1001.
    let (status, _stopped) = send(server.addr, &upgrade_request("/ws", "")).await;
    assert_eq!(status, 101);
    server.signal("-INT");
    server.logged("a second signal exits at once").await;
    assert!(server.child.try_wait().unwrap().is_none(), "waits for the client's answer");
    server.signal("-TERM");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after a second signal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(143), "SIGTERM's status");
    let stderr = server.logged("second signal").await;
    assert!(stderr.contains("exiting now"), "{stderr}");
}

/// Debian's `redis-server`, which `.ci/run` installs (as the fleet tests need it), on a free
/// loopback port; killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        let path =
            ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"]
                .into_iter()
                .find(|p| std::path::Path::new(p).is_file())
                .expect(
                    "this test needs redis-server: apt-get install redis-server (.ci/run does)",
                );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(path)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, url: format!("redis://127.0.0.1:{port}/") }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node restarted while its last run's registration has not lapsed waits for it, up to a
/// TTL, before it serves: a `systemctl reload` then is answered in the log rather than
/// ignored, and a stop ends the wait, logged, with SIGTERM's status.
#[tokio::test]
async fn signals_while_a_node_waits_for_its_id_are_answered() {
    let redis = Redis::start();
    let fleet = ["--redis-url", &redis.url, "--node-id", "n1", "--node-ttl", "30s"];
    let mut first = Process::start(&fleet, &[]);
    // Registered, then gone without a word: its registration stands for the TTL.
    first.logged("registered").await;
    let _ = first.child.kill();
    let mut again = Command::new(env!("CARGO_BIN_EXE_tickwire-server"))
        .args(["--bind", "127.0.0.1:0"])
        .args(fleet)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let stderr = keep_stderr(&mut again);
    let logged = |text: &'static str| {
        let stderr = stderr.clone();
        async move {
            let deadline = Instant::now() + PATIENCE;
            loop {
                let now = stderr.lock().unwrap().clone();
                if now.contains(text) {
                    return now;
                }
                assert!(Instant::now() < deadline, "{text:?} not logged:\n{now}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    logged("waiting for it to lapse").await;
    let pid = again.id().to_string();
    let kill = |signal: &str| {
        let status = Command::new("kill").args([signal, &pid]).status();
        assert!(status.expect("kill runs").success());
    };
    kill("-HUP");
    logged("SIGHUP while this node waits for its id to lapse").await;
    assert!(again.try_wait().unwrap().is_none(), "a SIGHUP does not end it");
    kill("-TERM");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = again.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still waiting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(143), "SIGTERM's status");
    logged("stopped while this node waited for its id to lapse").await;
}
