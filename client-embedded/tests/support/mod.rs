//! The pieces of the end-to-end tests: a real tickwire server on 127.0.0.1 port 0, the
//! embedded client on tokio, a cutting and a byte-by-byte proxy, and a spectator.

#![allow(dead_code)]

pub mod netns;

use embedded_io_adapters::tokio_1::FromTokio;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickwire_client_embedded::{
    App, Buffers, Client, Config, Connector, Disconnect, Endpoint, Event, Identity, Joined, Left,
    Pad,
};
use tickwire_server::ServerConfig;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::delta::WorldHistory;
use tickwire_shared::{
    Ack, ClientMessage, EntityId, EntityState, Hello, Name, PROTOCOL_VERSION, Role, RoomName,
    RoomRequest, SUBPROTOCOL, ServerMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long any single expected thing may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The body of `GET path` on the server.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// Starts a tickwire server; it stops when the test's runtime ends.
pub async fn start_server() -> SocketAddr {
    start_server_with(|_| {}).await
}

/// [`start_server`] with the test's changes to the default configuration.
pub async fn start_server_with(change: impl FnOnce(&mut ServerConfig)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    config.max_connections_per_ip = 1000;
    change(&mut config);
    tokio::spawn(tickwire_server::run(listener, config, std::future::pending::<()>()));
    addr
}

/// A server on `addr` (port 0 for any) that stops, closing its clients with
/// `Kick { ShuttingDown }` and 1001, when the sender is used or dropped; the task ends then.
pub async fn start_stoppable_server(
    addr: SocketAddr,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    config.max_connections_per_ip = 1000;
    config.shutdown_timeout = Duration::from_secs(3);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tickwire_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Opens a `FromTokio<TcpStream>` to a fixed address, counting reads and bytes read, and
/// returning at most the third field's number of bytes a read (`usize::MAX`: whatever TCP has).
pub struct TokioConnector(pub SocketAddr, pub ReadStats, pub usize);

/// Reads and bytes the client's transports returned, over all connections.
#[derive(Clone, Default)]
pub struct ReadStats {
    pub reads: Arc<AtomicUsize>,
    pub bytes: Arc<AtomicUsize>,
}

/// `FromTokio<TcpStream>` that counts its reads and returns at most `.2` bytes a read.
pub struct Counted(FromTokio<TcpStream>, ReadStats, usize);

impl embedded_io_async::ErrorType for Counted {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for Counted {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        // Still cancel-safe: a read cut short by the client's deadline has taken no bytes.
        let len = buf.len().min(self.2);
        let n = self.0.read(&mut buf[..len]).await?;
        self.1.reads.fetch_add(1, Ordering::Relaxed);
        self.1.bytes.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

impl embedded_io_async::Write for Counted {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.0.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), std::io::Error> {
        self.0.flush().await
    }
}

impl Connector for TokioConnector {
    type Transport<'a> = Counted;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<Counted, std::io::Error> {
        let stream = TcpStream::connect(self.0).await?;
        stream.set_nodelay(true)?;
        Ok(Counted(FromTokio::new(stream), self.1.clone(), self.2))
    }
}

/// What a test sees of its client: every event, and the stick it pushes.
#[derive(Clone, Default)]
pub struct Probe {
    pub events: Arc<Mutex<Vec<Event>>>,
    pub pad: Arc<Mutex<Pad>>,
    pub reads: ReadStats,
    /// Set to make the client leave.
    pub leave: Arc<AtomicBool>,
    /// What `Client::run` returned, once it did.
    pub left: Arc<Mutex<Option<Left>>>,
}

impl App for Probe {
    fn input(&mut self) -> Pad {
        *self.pad.lock().unwrap()
    }

    fn event(&mut self, event: &Event) {
        self.events.lock().unwrap().push(*event);
    }

    fn wants_to_leave(&mut self) -> bool {
        self.leave.load(Ordering::Relaxed)
    }
}

impl Probe {
    /// Every `Disconnected` so far: why, and the delay the session chose.
    pub fn disconnects(&self) -> Vec<(Disconnect, u32)> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e {
                Event::Disconnected { reason, retry_in_ms } => Some((*reason, *retry_in_ms)),
                _ => None,
            })
            .collect()
    }

    pub fn joins(&self) -> Vec<Joined> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .filter_map(|e| if let Event::Joined(j) = e { Some(*j) } else { None })
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.lock().unwrap().iter().filter(|e| pred(e)).count()
    }

    /// Waits until `pred` holds for the events so far.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Event]) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !pred(&self.events.lock().unwrap()) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A client running on its own thread (its future borrows through `Connector`'s GAT, so it is
/// driven by a current-thread runtime rather than spawned). Stops when dropped or aborted.
pub struct ClientTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ClientTask {
    pub fn abort(mut self) {
        self.stop.take();
    }
}

/// Runs the embedded client against `addr` (a server or a proxy) on its own thread.
pub fn spawn_client(addr: SocketAddr, room: &str, config: Config) -> (Probe, ClientTask) {
    spawn_client_at(addr, "/ws", room, config)
}

/// [`spawn_client`] upgrading on `path` (which may carry a query, e.g. `?token=`).
pub fn spawn_client_at(
    addr: SocketAddr,
    path: &str,
    room: &str,
    config: Config,
) -> (Probe, ClientTask) {
    spawn(addr, path, room, config, usize::MAX)
}

/// [`spawn_client`] whose transport hands the client one byte a read, every read: however
/// TCP coalesces the bytes, each frame header and payload arrives split across reads.
pub fn spawn_client_reading_one_byte(
    addr: SocketAddr,
    room: &str,
    config: Config,
) -> (Probe, ClientTask) {
    spawn(addr, "/ws", room, config, 1)
}

fn spawn(
    addr: SocketAddr,
    path: &str,
    room: &str,
    config: Config,
    max_read: usize,
) -> (Probe, ClientTask) {
    let probe = Probe::default();
    let mut app = probe.clone();
    let reads = probe.reads.clone();
    let identity = Identity::controller("embedded", Some(room)).unwrap();
    let host: &'static str = Box::leak(addr.to_string().into_boxed_str());
    let buffers = Buffers::new(
        Box::leak(Box::new([0u8; 512])),
        Box::leak(Box::new([0u8; 384])),
        Box::leak(Box::new([0u8; 256])),
    )
    .unwrap();
    let path: &'static str = Box::leak(path.to_string().into_boxed_str());
    let endpoint = Endpoint { host, path };
    let rng = rand_core::OsRng;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let connector = TokioConnector(addr, reads, max_read);
            let mut client =
                Client::new(connector, rng, config, identity, endpoint, buffers).unwrap();
            tokio::select! {
                left = client.run(&mut app) => *app.left.lock().unwrap() = Some(left),
                _ = stopped => {}
            }
        });
    });
    (probe, ClientTask { stop: Some(stop) })
}

/// A TCP proxy in front of the server that can cut every connection it carries, and can
/// deliver the server's bytes one byte per TCP write with a pause after each (so the client's
/// reads often wait mid-frame; how the bytes reach its reads is up to the kernel's timing).
pub struct Proxy {
    pub addr: SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    pub accepted: Arc<Mutex<usize>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, one_byte: bool) -> Proxy {
        Proxy::start_at("127.0.0.1:0".parse().unwrap(), upstream, one_byte).await
    }

    /// A proxy listening on `listen` (which may name port 0).
    pub async fn start_at(listen: SocketAddr, upstream: SocketAddr, one_byte: bool) -> Proxy {
        let listener = TcpListener::bind(listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted: Arc<Mutex<usize>> = Arc::default();
        let (links2, accepted2) = (links.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                *accepted2.lock().unwrap() += 1;
                let link = tokio::spawn(forward(client, upstream, one_byte));
                links2.lock().unwrap().push(link);
            }
        });
        Proxy { addr, links, accepted }
    }

    /// Drops every connection at once, without any WebSocket close: an abnormal drop.
    pub fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

async fn forward(client: TcpStream, upstream: SocketAddr, one_byte: bool) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_rx, &mut server_tx).await;
    };
    let down = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = match server_rx.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !one_byte {
                if client_tx.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                continue;
            }
            for byte in &buf[..n] {
                if client_tx.write_all(std::slice::from_ref(byte)).await.is_err()
                    || client_tx.flush().await.is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// A spectator in `room` that rebuilds the world from snapshots.
pub struct Spectator {
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    worlds: WorldHistory,
}

impl Spectator {
    pub async fn join(addr: SocketAddr, room: &str) -> Spectator {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            role: Role::Spectator,
            name: Name::truncated("watcher"),
            room: RoomRequest::Named(RoomName::truncated(room)),
            resume: None,
        });
        ws.send(Message::Binary(encode_client_to_vec(&hello).into())).await.unwrap();
        Spectator { ws, worlds: WorldHistory::new(30) }
    }

    /// The entity's state in the next snapshot that contains it.
    pub async fn next_state_of(&mut self, entity: EntityId) -> EntityState {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("snapshot in time")
                .expect("open")
                .expect("no error");
            let Message::Binary(bytes) = message else { continue };
            let snap = match decode_server(&bytes) {
                Ok(ServerMessage::Welcome(w)) => {
                    self.worlds = WorldHistory::new(w.tick_rate);
                    continue;
                }
                Ok(ServerMessage::Snapshot(snap)) => snap,
                _ => continue,
            };
            let world = self.worlds.apply(&snap).expect("snapshot applies");
            let tick = world.tick;
            let state = world.get(entity).copied();
            let ack = ClientMessage::Ack(Ack { tick });
            self.ws.send(Message::Binary(encode_client_to_vec(&ack).into())).await.unwrap();
            if let Some(state) = state {
                return state;
            }
        }
    }
}
