//! Churn soak: the real server binary, and clients that connect, play, drop, resume and leave
//! in a loop. Afterwards the server's sessions, seats, resume tokens and rooms must be back to
//! zero, and its resident memory flat within a stated bound.
//!
//! `cargo test -p tickwire-server --test soak` runs the short version (CI). The long version
//! is the same test with `TICKWIRE_SOAK_SECONDS`, e.g. 30 minutes on a release build:
//! `TICKWIRE_SOAK_SECONDS=1800 cargo test --release -p tickwire-server --test soak -- --nocapture`
//! (`bench/soak.sh` runs it and records the result).

mod common;

use common::{Server, http_get};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::{
    Ack, Buttons, ClientMessage, Hello, Input, InputSeq, Name, PROTOCOL_VERSION, ResumeToken, Role,
    RoomName, RoomRequest, SUBPROTOCOL, ServerMessage,
};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

/// Clients churning at once.
const CLIENTS: usize = 16;
/// Rooms they spread over.
const ROOMS: usize = 4;
/// Resident memory the server may gain between the end of the warm-up and the end of the run:
/// enough for allocator noise, far less than a leaked room, connection or seat per cycle
/// (the short run goes through thousands).
const RSS_GROWTH_LIMIT_KB: u64 = 3 * 1024;

/// How long a dropped seat waits for its resume. The server's default (10 s): a loaded machine
/// can take longer than a second between a drop and the resume's `Hello` (a 500 ms grace made
/// 30-minute runs at load 12 to 16 fail after about 60,000 cycles with a fresh seat).
const RESUME_GRACE: &str = "10s";

type Ws = WebSocketStream<TcpStream>;

async fn open(addr: SocketAddr) -> Ws {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let stream = TcpStream::connect(addr).await.expect("connect");
    tokio_tungstenite::client_async(request, stream).await.expect("upgrade").0
}

async fn send(ws: &mut Ws, msg: &ClientMessage) -> bool {
    ws.send(Message::Binary(encode_client_to_vec(msg).into())).await.is_ok()
}

/// Joins `room`, resuming `token` if given; the token and whether it was a resume.
async fn join(ws: &mut Ws, room: &str, token: Option<ResumeToken>) -> (ResumeToken, bool) {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Player,
        name: Name::truncated("soak"),
        room: RoomRequest::Named(RoomName::truncated(room)),
        resume: token,
    };
    assert!(send(ws, &ClientMessage::Hello(hello)).await);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        match message.expect("an answer in time") {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Welcome(w)) = decode_server(&bytes) {
                    return (w.resume_token, w.resumed);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("no Welcome: {other:?}"),
        }
    }
}

/// Plays a few ticks: inputs out, snapshots acked.
async fn play(ws: &mut Ws, seq: &mut u32, snapshots: usize) {
    let mut seen = 0;
    while seen < snapshots {
        *seq += 1;
        let input = Input { seq: InputSeq(*seq), x: 90, y: -40, buttons: Buttons(0) };
        send(ws, &ClientMessage::Input(input)).await;
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        match message.expect("a frame in time") {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Snapshot(s)) = decode_server(&bytes) {
                    seen += 1;
                    send(ws, &ClientMessage::Ack(Ack { tick: s.header.tick })).await;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended while playing: {other:?}"),
        }
    }
}

/// One client's cycle: join, play, drop abruptly, resume the same seat, play, leave properly.
async fn cycle(addr: SocketAddr, room: &str) {
    let mut seq = 0;
    let mut ws = open(addr).await;
    let (token, resumed) = join(&mut ws, room, None).await;
    assert!(!resumed);
    play(&mut ws, &mut seq, 3).await;
    drop(ws); // no close frame: the seat waits for a resume
    let dropped = Instant::now();
    let mut ws = open(addr).await;
    let (again, resumed) = join(&mut ws, room, Some(token)).await;
    assert!(
        resumed && again == token,
        "the dropped seat is resumed (the resume's Welcome came {:?} after the drop; the seat is \
         held for {RESUME_GRACE})",
        dropped.elapsed()
    );
    play(&mut ws, &mut seq, 3).await;
    let bye = CloseFrame { code: CloseCode::Normal, reason: "soak".into() };
    let _ = ws.close(Some(bye)).await;
    while let Some(Ok(_)) = ws.next().await {}
}

async fn churn(addr: SocketAddr, until: Instant) -> usize {
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let room = format!("soak-{}", i % ROOMS);
        tasks.push(tokio::spawn(async move {
            let mut cycles = 0;
            while Instant::now() < until {
                cycle(addr, &room).await;
                cycles += 1;
            }
            cycles
        }));
    }
    let mut cycles = 0;
    for task in tasks {
        cycles += task.await.expect("a client panicked");
    }
    cycles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_churn_everything_is_back_to_zero_and_memory_is_flat() {
    let seconds: u64 =
        std::env::var("TICKWIRE_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let server = Server::start(&[
        // One address churning as 16 clients: it takes new seats at this many a minute.
        "--max-connections-per-ip",
        "60000",
        "--resume-grace",
        RESUME_GRACE,
        "--room-idle-grace",
        "500ms",
    ]);
    let addr = server.addr;
    // Warm-up: allocator pools, room tasks, buffers reach their working size.
    let warm = churn(addr, Instant::now() + Duration::from_secs(5)).await;
    let baseline = server.rss_kb();
    let started = Instant::now();
    let cycles = churn(addr, started + Duration::from_secs(seconds)).await;
    // Empty rooms close after their 500 ms idle grace.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = server.rss_kb();
    println!(
        "soak: {cycles} cycles ({} connections) in {:.0} s after {warm} warm-up cycles; \
         RSS {baseline} kB after warm-up, {end} kB at the end ({:+} kB)",
        cycles * 2,
        started.elapsed().as_secs_f64(),
        end as i64 - baseline as i64
    );
    assert!(cycles >= CLIENTS, "every client finished at least one cycle");
    for gauge in
        ["tickwire_sessions", "tickwire_resume_tokens", "tickwire_rooms", "tickwire_clients"]
    {
        assert_eq!(server.metric(gauge).await, 0.0, "{gauge} is back to zero");
    }
    assert_eq!(http_get(addr, "/rooms").await.trim(), "[]");
    assert!(
        end <= baseline + RSS_GROWTH_LIMIT_KB,
        "RSS grew {} kB over the run (limit {RSS_GROWTH_LIMIT_KB} kB)",
        end as i64 - baseline as i64
    );
}
