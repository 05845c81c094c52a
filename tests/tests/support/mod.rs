//! Shared pieces of the end-to-end tests: a real server on 127.0.0.1 port 0 and a real
//! WebSocket client that rebuilds the world from deltas the way a game client does.

#![allow(dead_code)] // each test binary uses a different subset

use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tickwire_server::ServerConfig;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::delta::{World, apply};
use tickwire_shared::{
    Ack, Buttons, ClientMessage, ControllerFeedback, Event, EventKind, Hello, Input, InputSeq,
    Kick, Name, PROTOCOL_VERSION, ResumeToken, Role, RoomName, RoomRequest, SUBPROTOCOL,
    ServerMessage, Snapshot, Tick, Welcome,
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

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tickwire_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer { addr, stop: Some(stop), task }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("run returns").unwrap();
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
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
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

/// Opens a WebSocket whose socket receive buffer is tiny, so a client that stops reading
/// backs up into the server quickly.
pub async fn open_small_buffer(addr: SocketAddr) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade accepted");
    ws
}

/// How a connection ended, from the client's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub reason: String,
    pub kick: Option<Kick>,
}

/// A game client: rebuilds worlds from snapshots and acks them (unless told not to).
pub struct Client {
    pub ws: Ws,
    pub welcome: Welcome,
    /// Rebuilt worlds by tick (the newest few).
    pub worlds: BTreeMap<u32, World>,
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
            worlds: BTreeMap::new(),
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
                ServerMessage::Snapshot(snap) => {
                    let baseline = snap.header.baseline.map(|t| {
                        self.worlds
                            .get(&t.0)
                            .unwrap_or_else(|| panic!("baseline {t:?} was received"))
                    });
                    let world = apply(baseline, snap).expect("snapshot applies to its baseline");
                    let tick = world.tick;
                    self.worlds.insert(tick.0, world);
                    while self.worlds.len() > 64 {
                        self.worlds.pop_first();
                    }
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
                    return self.worlds[&snap.header.tick.0].clone();
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
        self.worlds.values().next_back()
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
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return Closed { code: code.into(), reason: reason.to_string(), kick };
            }
            Some(Ok(Message::Close(None))) => {
                return Closed { code: 1005, reason: String::new(), kick };
            }
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
