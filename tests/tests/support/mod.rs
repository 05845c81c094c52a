//! Shared pieces of the end-to-end tests: a real server on 127.0.0.1 port 0 and a real
//! WebSocket client that rebuilds the world from deltas the way a game client does.

#![allow(dead_code)] // each test binary uses a different subset

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tickwire_server::ServerConfig;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::delta::{World, WorldHistory};
use tickwire_shared::{
    Ack, Buttons, ClientMessage, ControllerFeedback, Event, EventKind, Hello, Input, InputSeq,
    Kick, KickReason, Name, PROTOCOL_VERSION, PlayerId, ResumeToken, Role, RoomName, RoomRequest,
    SUBPROTOCOL, ServerMessage, Snapshot, Tick, Welcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected thing may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A config for tests: fixed seed, quick timeouts, generous per-IP limits.
pub fn test_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    config.max_connections_per_ip = 1000;
    config.shutdown_timeout = Duration::from_secs(3);
    config
}

/// Finds the Debian package `package`'s program `binary` (in /usr/bin, /usr/sbin or
/// /usr/local/bin), installing the package when possible (as root, with apt-get); otherwise
/// fails saying what `who` needs and how to install it. Tests run in parallel: one installs,
/// the others wait for it.
pub fn debian_binary(binary: &str, package: &str, who: &str) -> std::path::PathBuf {
    use std::process::{Command, Stdio};
    let find = || {
        ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
            .iter()
            .map(|dir| std::path::Path::new(dir).join(binary))
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return path;
    }
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = find() {
        return path;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // A fresh machine may have no package lists yet: update once if the first try fails.
    let install = ["install", "-y", "-qq", "--no-install-recommends", package];
    let installed = apt(&install) || (apt(&["update", "-qq"]) && apt(&install));
    match find() {
        Some(path) if installed => path,
        _ => panic!(
            "{who} need {binary}: install Debian's `{package}` package \
             (apt-get install {package}); .ci/run does"
        ),
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener's address, for a server started with one.
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        TestServer::start_on(listener, config).await
    }

    /// The server on a listener of the test's own (e.g. a dual-stack `[::]`); `addr` is the
    /// listener's.
    pub async fn start_on(listener: TcpListener, config: ServerConfig) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tickwire_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer { addr, admin: None, stop: Some(stop), task }
    }

    /// The server whose rooms run what `games` makes (a library user's own game).
    pub async fn start_with_games(
        config: ServerConfig,
        games: impl tickwire_server::game::GameFactory,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tickwire_server::Server::new(config).games(games).run(listener, async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run);
        TestServer { addr, admin: None, stop: Some(stop), task }
    }

    /// The server with an admin listener of its own on another port 0 (`--admin-bind`).
    pub async fn start_with_admin(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let (addr, admin_addr) = (listener.local_addr().unwrap(), admin.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tickwire_server::run_with_admin(listener, admin, config, async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run);
        TestServer { addr, admin: Some(admin_addr), stop: Some(stop), task }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        self.stopped().await;
    }

    /// Signals shutdown (SIGTERM), without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `run` to return (after [`TestServer::signal_stop`]).
    pub async fn stopped(&mut self) {
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("run returns").unwrap();
    }

    /// Aborts the task running the server, as a library user dropping `run` would.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// A raw HTTP/1.1 GET; returns status, headers text and body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        http_request(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
        )
        .await
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let (_, _, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| is_sample_of(l, name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Whether the exposition line `line` is a sample of the series `name`: that metric (not
/// one whose name goes on: `tickwire_rooms` is not `tickwire_rooms_stuck`), or, for a `name`
/// with an opening brace or ending in a space, the lines that begin so.
pub fn is_sample_of(line: &str, name: &str) -> bool {
    let Some(rest) = line.strip_prefix(name) else { return false };
    name.contains('{') || name.ends_with(' ') || rest.starts_with([' ', '{'])
}

/// Sends `request` as is and reads the whole response.
pub async fn http_request(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read to the end, except after a 101 whose head is complete: that connection stays open.
    let mut response = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
            let head_done = response.windows(4).any(|w| w == b"\r\n\r\n");
            if head_done && response.starts_with(b"HTTP/1.1 101") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A WebSocket upgrade of `/ws{query}` offering `tickwire.v1`, with the header lines `extra`
/// (each ending in `\r\n`).
pub fn upgrade_request(query: &str, extra: &str) -> String {
    format!(
        "GET /ws{query} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: tickwire.v1\r\n{extra}\r\n"
    )
}

/// `GET path` with the header lines `extra` (each ending in `\r\n`), on a new connection.
pub async fn get_with(addr: SocketAddr, path: &str, extra: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    http_request(addr, &request).await
}

pub fn hello(role: Role, name: &str) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        role,
        name: Name::truncated(name),
        room: RoomRequest::Any,
        resume: None,
    }
}

pub fn hello_in(role: Role, name: &str, room: &str) -> Hello {
    Hello { room: RoomRequest::Named(RoomName::truncated(room)), ..hello(role, name) }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket offering `tickwire.v1`.
pub async fn open(url: &str) -> Ws {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (ws, response) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("connect in time")
        .expect("upgrade accepted");
    assert_eq!(response.headers()["sec-websocket-protocol"], SUBPROTOCOL);
    ws
}

/// Opens a WebSocket offering `tickwire.v1` to the server at `addr` from the local address
/// `from` (any of 127.0.0.0/8 reaches loopback), as a client of another address would.
pub async fn open_from(addr: SocketAddr, from: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from.parse().unwrap(), 0)).unwrap();
    open_on(socket, addr).await
}

/// Connects `socket` to `addr` and upgrades it to a WebSocket offering `tickwire.v1`.
async fn open_on(socket: tokio::net::TcpSocket, addr: SocketAddr) -> Ws {
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade accepted");
    ws
}

/// Opens a WebSocket whose socket receive buffer is tiny, so a client that stops reading
/// backs up into the server quickly.
pub async fn open_small_buffer(addr: SocketAddr) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    open_on(socket, addr).await
}

/// How a connection ended, from the client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
    pub kick: Option<Kick>,
}

/// `mover` steers back and forth while `watcher` (auto-ack off) rebuilds `snapshots` worlds,
/// acking a full one at once and then every 30 ticks, as tickwire's spectators do.
pub async fn watch_acking_as_spectators_do(
    mover: &mut Client,
    watcher: &mut Client,
    snapshots: usize,
) {
    watcher.auto_ack = false;
    let mut last_acked: Option<u32> = None;
    for i in 0..snapshots {
        mover.input(if i % 16 < 8 { 127 } else { -127 }, 40, 0).await;
        mover.next_world().await;
        let world = watcher.next_world().await;
        let full = watcher.snapshots.last().is_some_and(|s| s.header.baseline.is_none());
        if full || last_acked.is_none_or(|last| world.tick.0 - last >= 30) {
            watcher.send(&ClientMessage::Ack(Ack { tick: world.tick })).await;
            last_acked = Some(world.tick.0);
        }
    }
}

/// Reads `ws` for at least `window` and until it saw `at_least` pings (tungstenite answers
/// each with a pong), sending nothing else; returns the pings seen. Panics if the connection
/// closes or fails meanwhile, or the pings do not come within [`PATIENCE`].
pub async fn answer_pings(ws: &mut Ws, window: Duration, at_least: usize) -> usize {
    let started = std::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < window || pings < at_least {
        assert!(started.elapsed() < PATIENCE, "{pings} pings in {:?}", started.elapsed());
        let next = tokio::time::timeout(PATIENCE, ws.next()).await.expect("frames");
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => {
                panic!("closed although it answered every ping: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("connection failed: {e}"),
            None => panic!("connection ended"),
        }
    }
    pings
}

/// A game client: rebuilds worlds from snapshots and acks them (unless told not to).
pub struct Client {
    pub ws: Ws,
    pub welcome: Welcome,
    /// What rebuilds snapshots (it keeps only the worlds later snapshots can name).
    pub worlds: WorldHistory,
    /// Every world rebuilt, by tick (the newest 64), for tests to compare.
    pub rebuilt: std::collections::BTreeMap<u32, World>,
    pub events: Vec<Event>,
    pub feedback: Vec<ControllerFeedback>,
    pub snapshots: Vec<Snapshot>,
    pub auto_ack: bool,
    pub next_seq: u32,
    pub last_kick: Option<Kick>,
}

impl Client {
    pub async fn join(url: &str, hello: Hello) -> Client {
        Client::join_over(open(url).await, hello).await
    }

    pub async fn join_over(mut ws: Ws, hello: Hello) -> Client {
        send_raw(&mut ws, &ClientMessage::Hello(hello)).await;
        let mut client = Client {
            ws,
            welcome: placeholder_welcome(),
            worlds: WorldHistory::new(30),
            rebuilt: std::collections::BTreeMap::new(),
            events: Vec::new(),
            feedback: Vec::new(),
            snapshots: Vec::new(),
            auto_ack: true,
            next_seq: 1,
            last_kick: None,
        };
        match client.recv().await {
            Some(ServerMessage::Welcome(welcome)) => client.welcome = welcome,
            other => panic!("expected Welcome, got {other:?}"),
        }
        client
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        send_raw(&mut self.ws, msg).await;
    }

    /// Sends `msg`; false when the connection is already gone (a client flooding the server
    /// can find its socket reset under its feet once the server closed it and went away).
    pub async fn try_send(&mut self, msg: &ClientMessage) -> bool {
        self.ws.send(Message::Binary(encode_client_to_vec(msg).into())).await.is_ok()
    }

    pub async fn input(&mut self, x: i8, y: i8, buttons: u8) -> InputSeq {
        let seq = InputSeq(self.next_seq);
        self.next_seq += 1;
        self.send(&ClientMessage::Input(Input { seq, x, y, buttons: Buttons(buttons) })).await;
        seq
    }

    /// The next server message (applying snapshots), `None` once the connection closed.
    pub async fn recv(&mut self) -> Option<ServerMessage> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("server sent something in time")?;
            let bytes = match message {
                Ok(Message::Binary(bytes)) => bytes,
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            };
            let msg = decode_server(&bytes).expect("server messages decode");
            match &msg {
                ServerMessage::Welcome(welcome) => {
                    self.worlds = WorldHistory::new(welcome.tick_rate);
                }
                ServerMessage::Snapshot(snap) => {
                    let tick = match self.worlds.apply(snap) {
                        Ok(world) => {
                            self.rebuilt.insert(world.tick.0, world.clone());
                            while self.rebuilt.len() > 64 {
                                self.rebuilt.pop_first();
                            }
                            world.tick
                        }
                        Err(e) => panic!("snapshot {:?} does not apply: {e}", snap.header),
                    };
                    self.snapshots.push(snap.clone());
                    if self.auto_ack {
                        send_raw(&mut self.ws, &ClientMessage::Ack(Ack { tick })).await;
                    }
                }
                ServerMessage::Event(e) => self.events.push(*e),
                ServerMessage::ControllerFeedback(f) => self.feedback.push(*f),
                ServerMessage::Kick(k) => self.last_kick = Some(*k),
                _ => {}
            }
            return Some(msg);
        }
    }

    /// Reads until the next snapshot and returns the world it rebuilt.
    pub async fn next_world(&mut self) -> World {
        loop {
            match self.recv().await {
                Some(ServerMessage::Snapshot(snap)) => {
                    return self.worlds.get(snap.header.tick).expect("just rebuilt").clone();
                }
                Some(_) => {}
                None => panic!("connection closed while waiting for a snapshot"),
            }
        }
    }

    /// Reads until an event matching `pred` arrives.
    pub async fn wait_event(&mut self, pred: impl Fn(&EventKind) -> bool) -> Event {
        if let Some(e) = self.events.iter().find(|e| pred(&e.kind)) {
            return *e;
        }
        loop {
            match self.recv().await {
                Some(ServerMessage::Event(e)) if pred(&e.kind) => return e,
                Some(_) => {}
                None => panic!("connection closed while waiting for an event"),
            }
        }
    }

    pub fn latest(&self) -> Option<&World> {
        self.worlds.latest()
    }

    /// Reads until the server closes; returns the close frame and any `Kick` before it.
    pub async fn closed(mut self) -> Closed {
        let kick = self.last_kick;
        closed_with(&mut self.ws, kick).await
    }

    /// Drops the TCP connection without a close frame (an abrupt disconnect).
    pub fn drop_abruptly(self) {
        drop(self.ws);
    }
}

/// A close frame (and the `Kick` before it, if any) as a [`Closed`].
fn closed_by(frame: Option<CloseFrame>, kick: Option<Kick>) -> Closed {
    match frame {
        Some(CloseFrame { code, reason }) => {
            Closed { code: code.into(), reason: reason.to_string(), kick }
        }
        None => Closed { code: 1005, reason: String::new(), kick },
    }
}

/// Reads `ws` until its close frame.
pub async fn closed_with(ws: &mut Ws, mut kick: Option<Kick>) -> Closed {
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.next()).await.expect("close arrives in time");
        match next {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Kick(k)) = decode_server(&bytes) {
                    kick = Some(k);
                }
            }
            Some(Ok(Message::Close(frame))) => return closed_by(frame, kick),
            Some(Ok(_)) => {}
            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | None => {
                panic!("connection ended without a close frame")
            }
            Some(Err(e)) => panic!("connection failed without a close frame: {e}"),
        }
    }
}

pub async fn send_raw(ws: &mut Ws, msg: &ClientMessage) {
    ws.send(Message::Binary(encode_client_to_vec(msg).into())).await.expect("send");
}

fn placeholder_welcome() -> Welcome {
    Welcome {
        player_id: tickwire_shared::PlayerId(0),
        role: Role::Spectator,
        room: RoomName::new(),
        tick_rate: 0,
        world: tickwire_shared::WorldBounds { width: 0, height: 0 },
        view_radius: 0,
        entity: None,
        resume_token: ResumeToken([0; 16]),
        resumed: false,
    }
}

pub fn tick(t: u32) -> Tick {
    Tick(t)
}

impl Closed {
    /// Asserts the close code, the `Kick` reason (`None`: no `Kick` was sent) and that both the
    /// close reason and the `Kick`'s message say `why`.
    #[track_caller]
    pub fn assert_is(&self, code: u16, kick: Option<KickReason>, why: &str) {
        assert_eq!(self.code, code, "close code of {self:?}");
        assert_eq!(self.kick.map(|k| k.reason), kick, "kick of {self:?}");
        assert!(self.reason.contains(why), "close reason {:?} should say {why:?}", self.reason);
        if let Some(k) = &self.kick {
            let message = k.message.as_str();
            assert!(message.contains(why), "kick message {message:?} should say {why:?}");
        }
    }
}

impl Client {
    /// Reads until the event that `player` left arrives.
    pub async fn wait_left(&mut self, player: PlayerId) -> Event {
        self.wait_event(|e| matches!(e, EventKind::Left { player: p } if *p == player)).await
    }

    /// Reads snapshots until one is at least `ticks` ticks past `after` (the room kept ticking
    /// and this client kept receiving); returns its tick.
    pub async fn snapshots_past(&mut self, after: Tick, ticks: u32) -> Tick {
        loop {
            let tick = self.next_world().await.tick;
            if tick.0 >= after.0 + ticks {
                return tick;
            }
        }
    }
}

/// Sends `hello` on `ws` and reads the answer: the `Welcome` (and the socket, still open), or
/// how the server refused.
pub async fn try_join(mut ws: Ws, hello: Hello) -> Result<(Welcome, Ws), Closed> {
    send_raw(&mut ws, &ClientMessage::Hello(hello)).await;
    loop {
        let next = tokio::time::timeout(PATIENCE, ws.next()).await.expect("an answer in time");
        match next {
            Some(Ok(Message::Binary(bytes))) => match decode_server(&bytes) {
                Ok(ServerMessage::Welcome(welcome)) => return Ok((welcome, ws)),
                Ok(ServerMessage::Kick(kick)) => return Err(closed_with(&mut ws, Some(kick)).await),
                other => panic!("expected Welcome or Kick, got {other:?}"),
            },
            Some(Ok(Message::Close(frame))) => return Err(closed_by(frame, None)),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("connection failed before Welcome: {e}"),
            None => panic!("connection ended before Welcome"),
        }
    }
}

/// A frame as a hand-rolled WebSocket client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    Binary(Vec<u8>),
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    Other(u8, Vec<u8>),
}

/// A minimal WebSocket client over a plain TCP socket that sends only what it is told to: unlike
/// tungstenite it never answers a ping, so it can be truly silent.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Upgrades `GET /ws` offering `tickwire.v1`.
    pub async fn connect(addr: SocketAddr) -> RawWs {
        RawWs::connect_to(addr, "/ws", Some(SUBPROTOCOL)).await
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("the server sent something in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Sends one masked binary frame.
    pub async fn send_binary(&mut self, payload: &[u8]) {
        self.send_frame(0x82, payload).await;
    }

    /// Sends a masked close frame with `code` and no reason.
    pub async fn send_close(&mut self, code: u16) {
        self.send_frame(0x88, &code.to_be_bytes()).await;
    }

    /// Sends one masked frame whose first header byte is `b0` (FIN, opcode).
    pub async fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        let frame = masked_frame(b0, payload.len() as u64, payload);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Ends the TCP stream's sending side (FIN), still reading: a client that leaves without
    /// a close frame.
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.unwrap();
    }

    /// Writes bytes as they are; the error when the connection is gone.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Upgrades `path` offering `subprotocol`, if any.
    pub async fn connect_to(addr: SocketAddr, path: &str, subprotocol: Option<&str>) -> RawWs {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let protocol =
            subprotocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{protocol}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = RawWs { stream, buf: Vec::new() };
        let head_end = loop {
            if let Some(at) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(raw.fill().await, "connection closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&raw.buf[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        raw.buf.drain(..head_end);
        raw
    }

    /// Reads frames until a close frame; its code and reason.
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        loop {
            match self.next_frame().await? {
                RawFrame::Close(code, reason) => return Some((code, reason)),
                _ => continue,
            }
        }
    }

    /// Sends a protocol message.
    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_binary(&encode_client_to_vec(msg)).await;
    }

    /// Sends `hello` and reads until the `Welcome`.
    pub async fn join(&mut self, hello: Hello) {
        self.send(&ClientMessage::Hello(hello)).await;
        loop {
            if let RawFrame::Binary(bytes) = self.next_frame().await.expect("a Welcome")
                && matches!(decode_server(&bytes), Ok(ServerMessage::Welcome(_)))
            {
                return;
            }
        }
    }

    /// The next whole frame (server frames are unmasked and, from this server, unfragmented);
    /// `None` when the TCP connection ends.
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }
}

/// The mask every test frame uses.
const MASK: [u8; 4] = [0x5a, 0xc3, 0x17, 0x88];

/// A masked client frame whose header declares `len` payload bytes and carries `payload` (which
/// may be shorter, to send the rest later with [`masked_payload`]).
pub fn masked_frame(b0: u8, len: u64, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![b0];
    match len {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&n.to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(masked_payload(payload, 0));
    frame
}

/// `payload` masked as bytes `offset..` of a frame's payload.
pub fn masked_payload(payload: &[u8], offset: usize) -> Vec<u8> {
    payload.iter().enumerate().map(|(i, b)| b ^ MASK[(offset + i) % 4]).collect()
}

/// Parses one unmasked frame at the start of `buf`: the frame and the bytes it took.
fn parse_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    assert_eq!(b1 & 0x80, 0, "server frames are not masked");
    let (len, mut at) = match b1 & 0x7f {
        126 => (usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    at += len;
    let frame = match b0 & 0x0f {
        0x1 => RawFrame::Text(payload),
        0x2 => RawFrame::Binary(payload),
        0x8 => {
            let code = payload.get(..2).map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
            let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])).to_string();
            RawFrame::Close(code, reason)
        }
        0x9 => RawFrame::Ping(payload),
        0xa => RawFrame::Pong(payload),
        op => RawFrame::Other(op, payload),
    };
    Some((frame, at))
}
