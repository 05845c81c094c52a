//! A client of the HTTP fallback (PROTOCOL.md 1.1) for the end-to-end tests: a session over a
//! streamed response or long polls, POSTs on a second connection, worlds rebuilt from the
//! records as a game client does. Included by the tests that need it (`#[path]`), so the
//! others do not build it.

#![allow(dead_code)] // each test binary uses a different subset

use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::delta::WorldHistory;
use tickwire_shared::{
    Ack, Buttons, ClientMessage, EventKind, Hello, Input, InputSeq, Kick, ServerMessage, Tick,
    Welcome,
};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) const SESSION: &str = "tickwire-session";

/// One HTTP/1.1 connection from `from` (another loopback address, or 127.0.0.1).
pub(crate) async fn http(addr: SocketAddr, from: IpAddr) -> SendRequest<Full<Bytes>> {
    try_http(addr, from).await.expect("connect")
}

/// [`http`], or the error when the server cannot be reached (it may have stopped).
pub(crate) async fn try_http(
    addr: SocketAddr,
    from: IpAddr,
) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

pub(crate) fn request(
    method: &str,
    path: &str,
    session: Option<&str>,
    body: Vec<u8>,
) -> hyper::Request<Full<Bytes>> {
    let mut builder = hyper::Request::builder().method(method).uri(path).header("host", "test");
    if let Some(session) = session {
        builder = builder.header(SESSION, session);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// A record as a client sends it (PROTOCOL.md 1.1): the first byte, the length, the payload.
pub(crate) fn record(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    if payload.len() < 126 {
        out.push(payload.len() as u8);
    } else {
        out.push(126);
        out.extend((payload.len() as u16).to_be_bytes());
    }
    out.extend(payload);
    out
}

pub(crate) fn message_record(msg: &ClientMessage) -> Vec<u8> {
    record(0x82, &encode_client_to_vec(msg))
}

pub(crate) fn close_record(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason.as_bytes());
    record(0x88, &payload)
}

/// What arrived downstream.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a test's records, held briefly
pub(crate) enum Down {
    Message(ServerMessage),
    Close(u16, String),
    /// A close record without a code (read as 1005 by `Fallback::closed`).
    CloseWithoutCode,
    Heartbeat,
}

/// Reads records out of a byte stream that arrives in pieces.
#[derive(Default)]
pub(crate) struct Records(Vec<u8>);

impl Records {
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<Down>) {
        self.0.extend_from_slice(bytes);
        loop {
            let b = &self.0;
            if b.len() < 2 {
                return;
            }
            assert_eq!(b[1] & 0x80, 0, "server records are not masked");
            let (len, start) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
                126 => return,
                127 if b.len() >= 10 => {
                    (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 10)
                }
                127 => return,
                n => (usize::from(n), 2),
            };
            if b.len() < start + len {
                return;
            }
            let payload = &b[start..start + len];
            out.push(match b[0] {
                0x82 => Down::Message(decode_server(payload).expect("server messages decode")),
                0x88 if payload.is_empty() => Down::CloseWithoutCode,
                0x88 => Down::Close(
                    u16::from_be_bytes([payload[0], payload[1]]),
                    String::from_utf8(payload[2..].to_vec()).unwrap(),
                ),
                0x89 => Down::Heartbeat,
                other => panic!("unknown record 0x{other:x}"),
            });
            self.0.drain(..start + len);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Stream,
    Poll,
}

/// A fallback client: the session's downstream arrives on `down` (read by a task), the
/// client POSTs on a second connection, and rebuilds worlds as a game client does.
pub(crate) struct Fallback {
    pub(crate) addr: SocketAddr,
    pub(crate) from: IpAddr,
    pub(crate) session: String,
    pub(crate) down: mpsc::UnboundedReceiver<Down>,
    pub(crate) reader: JoinHandle<()>,
    pub(crate) posts: SendRequest<Full<Bytes>>,
    /// The server closed `posts` after its last answer.
    pub(crate) posts_closed: bool,
    pub(crate) worlds: WorldHistory,
    pub(crate) welcome: Option<Welcome>,
    pub(crate) kick: Option<Kick>,
    pub(crate) next_seq: u32,
    pub(crate) events: Vec<EventKind>,
    /// The tick of the last snapshot acked: a backlog is acked by its newest snapshot and
    /// every [`ACK_EVERY`] ticks, not one POST a snapshot.
    pub(crate) last_acked: Option<Tick>,
}

/// How many ticks of a backlog of snapshots go without an ack. A game client acks the newest
/// snapshot it drew; acking each of a backlog of a hundred (a test that did not read for a few
/// seconds) came near the session's burst of POSTs, and a slow machine tipped the next into 429.
const ACK_EVERY: u32 = 10;

impl Fallback {
    pub(crate) async fn open(addr: SocketAddr, mode: Mode) -> Fallback {
        Fallback::open_from(addr, mode, "127.0.0.1".parse().unwrap()).await
    }

    pub(crate) async fn open_from(addr: SocketAddr, mode: Mode, from: IpAddr) -> Fallback {
        let path = match mode {
            Mode::Stream => "/fallback/stream",
            Mode::Poll => "/fallback/poll",
        };
        let mut conn = http(addr, from).await;
        let response =
            tokio::time::timeout(PATIENCE, conn.send_request(request("GET", path, None, vec![])))
                .await
                .unwrap_or_else(|_| panic!("the server answered no GET {path} within {PATIENCE:?}"))
                .unwrap();
        assert_eq!(response.status(), 200, "{path} opens a session");
        assert_eq!(response.headers()["content-type"], "application/vnd.tickwire.records");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let session = response.headers()[SESSION].to_str().unwrap().to_string();
        assert_eq!(session.len(), 32);
        let (tx, down) = mpsc::unbounded_channel();
        let reader = match mode {
            Mode::Stream => tokio::spawn(read_stream(response.into_body(), tx)),
            Mode::Poll => {
                let first = response.into_body().collect().await.unwrap().to_bytes();
                let mut records = Records::default();
                let mut out = Vec::new();
                records.push(&first, &mut out);
                assert_eq!(out, [Down::Heartbeat], "a new poll session answers a heartbeat");
                tokio::spawn(poll_loop(conn, session.clone(), records, tx))
            }
        };
        let posts = http(addr, from).await;
        Fallback {
            addr,
            from,
            session,
            down,
            reader,
            posts,
            posts_closed: false,
            worlds: WorldHistory::new(30),
            welcome: None,
            kick: None,
            next_seq: 1,
            events: Vec::new(),
            last_acked: None,
        }
    }

    /// POSTs `body` to the session; returns the status and the body text.
    pub(crate) async fn post(&mut self, body: Vec<u8>) -> (u16, String) {
        self.try_post(body).await.expect("the server takes the POST's connection")
    }

    /// [`Fallback::post`], or `None` when the server cannot be reached any more (it stopped).
    /// A POST the server does not answer within [`PATIENCE`] fails the test, naming it, where
    /// it would otherwise wait for as long as the test runs.
    pub(crate) async fn try_post(&mut self, body: Vec<u8>) -> Option<(u16, String)> {
        let what = format!("{} bytes", body.len());
        tokio::time::timeout(PATIENCE, self.post_unbounded(body))
            .await
            .unwrap_or_else(|_| panic!("the server answered no POST of {what} within {PATIENCE:?}"))
    }

    async fn post_unbounded(&mut self, body: Vec<u8>) -> Option<(u16, String)> {
        let req = request("POST", "/fallback/send", Some(&self.session), body.clone());
        // Reconnected when needed, not as soon as the server closes a connection: a client
        // answering the last snapshots of a server that is stopping must not need a new one.
        if self.posts_closed || self.posts.ready().await.is_err() {
            self.posts = try_http(self.addr, self.from).await.ok()?;
            self.posts_closed = false;
        }
        let response = match self.posts.send_request(req).await {
            Ok(response) => response,
            Err(_) => {
                // The connection closed under the request (a refusal before it closed it, or
                // the server's idle timeout as it was sent): the same POST on a new one. An
                // empty one here was a heartbeat, and the POST's records were lost.
                self.posts = try_http(self.addr, self.from).await.ok()?;
                let req = request("POST", "/fallback/send", Some(&self.session), body);
                self.posts.send_request(req).await.expect("a fresh connection")
            }
        };
        let status = response.status().as_u16();
        self.posts_closed = response.headers().get("connection").is_some_and(|v| v == "close");
        let text = response.into_body().collect().await.unwrap().to_bytes();
        Some((status, String::from_utf8_lossy(&text).into_owned()))
    }

    pub(crate) async fn send(&mut self, msg: &ClientMessage) {
        let (status, text) = self.post(message_record(msg)).await;
        assert_eq!(status, 204, "{text}");
    }

    pub(crate) async fn join(addr: SocketAddr, mode: Mode, hello: Hello) -> Fallback {
        let mut client = Fallback::open(addr, mode).await;
        client.send(&ClientMessage::Hello(hello)).await;
        match client.next().await {
            Down::Message(ServerMessage::Welcome(welcome)) => client.welcome = Some(welcome),
            other => panic!("expected Welcome, got {other:?}"),
        }
        client
    }

    /// The next record that is not a heartbeat (acking snapshots as a game client does).
    pub(crate) async fn next(&mut self) -> Down {
        loop {
            let down = tokio::time::timeout(PATIENCE, self.down.recv())
                .await
                .expect("the server sent something in time")
                .expect("the session's downstream ended without a close record");
            match &down {
                Down::Heartbeat => continue,
                Down::Message(ServerMessage::Snapshot(snap)) => {
                    let tick = self.worlds.apply(snap).expect("snapshots apply").tick;
                    let behind = self.last_acked.is_none_or(|last| tick.0 >= last.0 + ACK_EVERY);
                    if self.down.is_empty() || behind {
                        self.last_acked = Some(tick);
                        // Not checked: a snapshot that came just before a close is acked to a
                        // session that may be gone by then (404), or to a server that stopped
                        // listening, as a real client's would be.
                        let ack = message_record(&ClientMessage::Ack(Ack { tick }));
                        let _ = self.try_post(ack).await;
                    }
                }
                Down::Message(ServerMessage::Welcome(w)) => {
                    self.worlds = WorldHistory::new(w.tick_rate);
                    self.last_acked = None;
                }
                Down::Message(ServerMessage::Kick(k)) => self.kick = Some(*k),
                Down::Message(ServerMessage::Event(e)) => self.events.push(e.kind),
                _ => {}
            }
            return down;
        }
    }

    /// Reads until the close record: its code, reason and the kick before it.
    pub(crate) async fn closed(&mut self) -> (u16, String, Option<Kick>) {
        loop {
            match self.next().await {
                Down::Close(code, reason) => return (code, reason, self.kick),
                Down::CloseWithoutCode => return (1005, String::new(), self.kick),
                _ => {}
            }
        }
    }

    pub(crate) async fn input(&mut self, x: i8) -> InputSeq {
        let seq = InputSeq(self.next_seq);
        self.next_seq += 1;
        self.send(&ClientMessage::Input(Input { seq, x, y: 0, buttons: Buttons(0) })).await;
        seq
    }

    /// Sends inputs until a snapshot says one was applied.
    pub(crate) async fn play_until_applied(&mut self) -> InputSeq {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let seq = self.input(100).await;
            loop {
                if let Down::Message(ServerMessage::Snapshot(snap)) = self.next().await {
                    if snap.header.last_input.0 >= 1 {
                        return snap.header.last_input;
                    }
                    break;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "input {seq:?} never applied");
        }
    }
}

pub(crate) async fn read_stream(mut body: Incoming, tx: mpsc::UnboundedSender<Down>) {
    let mut records = Records::default();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            let mut out = Vec::new();
            records.push(data, &mut out);
            for down in out {
                let _ = tx.send(down);
            }
        }
    }
}

pub(crate) async fn poll_loop(
    mut conn: SendRequest<Full<Bytes>>,
    session: String,
    mut records: Records,
    tx: mpsc::UnboundedSender<Down>,
) {
    loop {
        let req = request("GET", "/fallback/poll", Some(&session), vec![]);
        if conn.ready().await.is_err() {
            return;
        }
        let response = match conn.send_request(req).await {
            Ok(response) => response,
            Err(e) => {
                eprintln!("poll failed: {e}");
                return;
            }
        };
        if response.status() != 200 {
            eprintln!("poll answered {}", response.status());
            return;
        }
        let Ok(body) = response.into_body().collect().await else { return };
        let mut out = Vec::new();
        records.push(&body.to_bytes(), &mut out);
        let closed = out.iter().any(|d| matches!(d, Down::Close(..)));
        for down in out {
            let _ = tx.send(down);
        }
        if closed {
            return;
        }
    }
}
