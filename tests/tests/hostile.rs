//! Hostile input, each with its answer, while other clients play: an oversized request head,
//! a message above the limit, a reserved close code, a flood of messages, a text frame on the
//! game endpoint and invalid UTF-8 inside a fragmented text message on the echo; pings before
//! the `Hello`, malformed `Hello`s, a forged fleet hop on a single server and, on the HTTP
//! fallback, POST bodies that stall, drip or are longer than their Content-Length, and
//! cross-site requests without an Origin; and joins dropped in a loop from one address (the
//! seats it leaves waiting for a resume are capped). Every one gets its status or its close
//! frame (never a reset that destroys it), and the bystanders keep receiving snapshots
//! throughout. (A malformed record and an oversized POST are in `fallback.rs`, with their
//! bystanders.)

#[path = "support/fallback_client.rs"]
mod fallback_client;
mod support;

use fallback_client::{Fallback, Mode, SESSION, http, message_record, request};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use tickwire_server::ServerConfig;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::{
    Buttons, Chat, ChatText, ClientMessage, EventKind, Input, InputSeq, KickReason, Role,
    ServerMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Clients that keep the server busy and record the newest tick they rebuilt.
struct Load {
    tasks: Vec<JoinHandle<()>>,
    ticks: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Load {
    /// A player steering in circles and `spectators` watching, in room "load".
    async fn start(url: &str, spectators: usize) -> Load {
        let ticks = std::sync::Arc::new(std::sync::Mutex::new(vec![0; spectators + 1]));
        let mut tasks = Vec::new();
        for i in 0..=spectators {
            let role = if i == 0 { Role::Player } else { Role::Spectator };
            let mut client = Client::join(url, hello_in(role, &format!("load{i}"), "load")).await;
            let ticks = ticks.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u32;
                loop {
                    n += 1;
                    if role == Role::Player {
                        client.input((n % 255) as i8, 60, 0).await;
                    }
                    let tick = client.next_world().await.tick.0;
                    ticks.lock().unwrap()[i] = tick;
                }
            }));
        }
        Load { tasks, ticks }
    }

    fn ticks(&self) -> Vec<u32> {
        self.ticks.lock().unwrap().clone()
    }

    /// Every load client rebuilt snapshots at least `ticks` ticks past `before`.
    async fn kept_playing(&self, before: &[u32], ticks: u32) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = self.ticks();
            if now.iter().zip(before).all(|(n, b)| *n >= b + ticks) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "load stalled: {before:?} -> {now:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn loaded_server() -> (TestServer, Load) {
    loaded_server_with(|_| {}).await
}

/// [`loaded_server`] with `change` made to its config.
async fn loaded_server_with(change: impl FnOnce(&mut ServerConfig)) -> (TestServer, Load) {
    let mut config = test_config();
    config.echo = true;
    config.max_spectators = 200;
    change(&mut config);
    let server = TestServer::start(config).await;
    let load = Load::start(&server.ws_url(), 40).await;
    (server, load)
}

/// A request with `count` headers of `size` bytes each.
fn fat_request(count: usize, size: usize) -> String {
    let pads: String = (0..count).map(|i| format!("X-Pad-{i}: {}\r\n", "a".repeat(size))).collect();
    upgrade_request("", &pads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_the_limit_get_431() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    // 20 KB of headers: over the 16 KiB limit, answered with a message.
    let (status, head, body) = http_request(server.addr, &fat_request(5, 4000)).await;
    assert_eq!(status, 431, "{head}");
    assert!(body.contains("exceeds the limit of 16384"), "{body}");
    // 160 KB (the issue's attack): past twice the limit hyper refuses before a request exists.
    let (status, head, _) = http_request(server.addr, &fat_request(40, 4000)).await;
    assert_eq!(status, 431, "{head}");
    // Just under the limit is served.
    let (status, head, _) = http_request(server.addr, &fat_request(3, 4000)).await;
    assert_eq!(status, 101, "{head}");
    load.kept_playing(&before, 30).await;
    assert!(server.metric("tickwire_refused_total{reason=\"head_too_large\"}").await >= 1.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_message_gets_1009_and_the_close_survives_the_bytes_behind_it() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    for round in 0..3 {
        let mut raw = RawWs::connect(server.addr).await;
        raw.send(&ClientMessage::Hello(hello(Role::Player, &format!("big{round}")))).await;
        let big = vec![0x42u8; 1 << 20];
        // The server refuses at the frame's header; the rest still arrives and is discarded.
        raw.write_raw(&masked_frame(0x82, big.len() as u64, &big)).await.expect("written");
        let (code, reason) = raw.close_frame().await.expect("a close frame, not a reset");
        assert_eq!(code, 1009, "{reason}");
        assert!(reason.contains("exceeds the limit of 256"), "{reason}");
    }
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_close_code_gets_1002() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    for code in [1005u16, 1006, 1015, 999] {
        let mut raw = RawWs::connect(server.addr).await;
        raw.send(&ClientMessage::Hello(hello(Role::Spectator, "closer"))).await;
        raw.send_close(code).await;
        let (answer, _) = raw.close_frame().await.expect("a close frame");
        assert_eq!(answer, 1002, "close code {code} may not be sent");
    }
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_5000_messages_gets_its_close_frame() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect(server.addr).await;
    raw.send(&ClientMessage::Hello(hello(Role::Player, "flood"))).await;
    let mut burst = Vec::new();
    for seq in 1..=5000 {
        let input = Input { seq: InputSeq(seq), x: 1, y: 1, buttons: Buttons(0) };
        let bytes = encode_client_to_vec(&ClientMessage::Input(input));
        burst.extend(masked_frame(0x82, bytes.len() as u64, &bytes));
    }
    raw.write_raw(&burst).await.expect("the burst is read off, not reset");
    let (code, reason) = raw.close_frame().await.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("inputs per second"), "{reason}");
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_on_the_game_endpoint_is_refused_at_its_header() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect(server.addr).await;
    raw.send(&ClientMessage::Hello(hello(Role::Player, "texter"))).await;
    // A text frame announcing 100 KB, of which only the first 10 bytes are sent.
    raw.write_raw(&masked_frame(0x81, 100_000, b"0123456789")).await.unwrap();
    let (code, reason) = raw.close_frame().await.expect("a close frame before the payload");
    assert_eq!(code, 1003, "{reason}");
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_fragmented_text_message_fails_at_the_bad_byte() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect_to(server.addr, "/echo", None).await;
    // A valid first fragment, then a second one announcing 1 MB whose third byte is invalid:
    // only its first 20 bytes are sent, and the close must come anyway.
    raw.write_raw(&masked_frame(0x01, 5, "héll".as_bytes())).await.unwrap();
    let mut bad = b"ok".to_vec();
    bad.extend([0xc0, 0xaf]);
    bad.extend([b'x'; 16]);
    raw.write_raw(&masked_frame(0x80, 1 << 20, &bad)).await.unwrap();
    let (code, reason) = raw.close_frame().await.expect("a close frame before the payload");
    assert_eq!(code, 1007, "{reason}");
    // Valid text still echoes.
    let mut good = RawWs::connect_to(server.addr, "/echo", None).await;
    good.write_raw(&masked_frame(0x01, 3, "éa".as_bytes())).await.unwrap();
    good.write_raw(&masked_frame(0x80, 3, "✓".as_bytes())).await.unwrap();
    assert_eq!(good.next_frame().await, Some(RawFrame::Text("éa✓".as_bytes().to_vec())));
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

/// A close frame whose reason is not UTF-8 is answered 1007 saying so, on the game's endpoint
/// and on the echo endpoint alike.
#[tokio::test]
async fn a_close_reason_not_utf8_is_answered_1007_naming_it() {
    let mut config = test_config();
    config.echo = true;
    let server = TestServer::start(config).await;
    for path in ["/ws", "/echo"] {
        let subprotocol = (path == "/ws").then_some(tickwire_shared::SUBPROTOCOL);
        let mut raw = RawWs::connect_to(server.addr, path, subprotocol).await;
        raw.send_frame(0x88, &[0x03, 0xe8, 0xff, 0xfe]).await;
        let (code, reason) = raw.close_frame().await.expect("a close frame");
        assert_eq!((code, reason.as_str()), (1007, "the close reason is not UTF-8"), "{path}");
    }
    server.shutdown().await;
}

/// The handshake timeout of the tests below that wait it out (5 s by default): the time a
/// POST's body has to arrive, and a new WebSocket its `Hello`.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// Sends `head`, then `body` at once or, with `drip`, a byte at a time at that pace, on a
/// connection of its own from 127.0.0.1, and never anything more (nor closes its side);
/// returns everything the server sent until it closed the connection.
async fn raw_http(addr: SocketAddr, head: String, body: Vec<u8>, drip: Option<Duration>) -> String {
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        match drip {
            None => {
                let _ = write.write_all(&body).await;
            }
            Some(pace) => {
                for byte in body {
                    if write.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(pace).await;
                }
            }
        }
        // A client that stalls: its side stays open, without a FIN.
        std::future::pending::<()>().await;
        drop(write);
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, read.read_to_end(&mut answer)).await;
    writer.abort();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "the server neither answered nor closed in time: {answer:?}");
    answer
}

fn chat(text: &str) -> Vec<u8> {
    message_record(&ClientMessage::Chat(Chat { text: ChatText::truncated(text) }))
}

/// A raw `POST /fallback/send` head for `session` announcing `length` body bytes.
fn post_head(session: &str, length: usize) -> String {
    format!(
        "POST /fallback/send HTTP/1.1\r\nHost: t\r\n{SESSION}: {session}\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// The texts of the chat lines `client` saw.
fn chat_lines(client: &Fallback) -> Vec<String> {
    let lines = client.events.iter().filter_map(|e| match e {
        EventKind::Chat { text, .. } => Some(text.as_str().to_owned()),
        _ => None,
    });
    lines.collect()
}

/// Reads `client`'s downstream until the chat line `text`, for at most [`PATIENCE`]: the
/// snapshots of every tick would keep a wait for a lost line going for good.
async fn read_until_chat(client: &mut Fallback, text: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !chat_lines(client).iter().any(|line| line == text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no chat line {text:?} within {PATIENCE:?}"
        );
        client.next().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_body_that_stalls_or_drips_gets_408_and_nothing_of_it_is_taken() {
    let (server, load) = loaded_server_with(|config| config.handshake_timeout = HANDSHAKE).await;
    let mut player =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "slow", "load")).await;
    let before = load.ticks();
    // A Content-Length of 100 and a whole chat line of its body sent, then nothing: the
    // client stalls.
    let stalled = chat("stalled");
    let head = post_head(&player.session, 100);
    let lying = tokio::spawn(raw_http(server.addr, head, stalled, None));
    // A body dripped a byte every 200 ms: every byte comes in time, the whole body does not.
    let mut dripped = Vec::new();
    while dripped.len() < 4 * HANDSHAKE.as_millis() as usize / 200 {
        dripped.extend(chat("dripped"));
    }
    let head = post_head(&player.session, dripped.len());
    let drip = Some(Duration::from_millis(200));
    let dripping = tokio::spawn(raw_http(server.addr, head, dripped, drip));
    // The room ticks on meanwhile.
    load.kept_playing(&before, 30).await;
    for (what, answer) in [("stalled", lying.await.unwrap()), ("dripped", dripping.await.unwrap())]
    {
        assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
        assert!(answer.contains("did not arrive in time"), "{what}: {answer}");
    }
    // Nothing of either was taken, and the session plays on: a line sent whole after them is
    // the first the room hears from it.
    player.send(&ClientMessage::Chat(Chat { text: ChatText::truncated("whole") })).await;
    read_until_chat(&mut player, "whole").await;
    assert_eq!(chat_lines(&player), ["whole"]);
    player.play_until_applied().await;
    assert!(server.metric("tickwire_sessions").await >= 1.0);
    load.kept_playing(&load.ticks(), 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_shorter_than_the_body_ends_the_body_there() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    // The Content-Length ends the body inside its second record, which is cut short there: a
    // malformed record (400, close 1002). The bytes past it are no request of their own (the
    // refusal closes the connection).
    let mut cut =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "cut", "load")).await;
    let (first, second) = (chat("first"), chat("second"));
    let mut body = first.clone();
    body.extend(&second);
    let head = post_head(&cut.session, first.len() + 3);
    let answer = raw_http(server.addr, head, body, None).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("cut short"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "one answer: {answer}");
    let (code, reason, _) = cut.closed().await;
    assert_eq!(code, 1002, "{reason}");
    assert!(reason.contains("cut short"), "{reason}");

    // It ends at a record's end: those records are delivered, and what follows on the
    // connection (a whole record) is read as the next request, refused, and not delivered.
    let mut whole =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "whole", "load")).await;
    let mut body = chat("counted");
    body.extend(chat("smuggled"));
    let head = post_head(&whole.session, chat("counted").len());
    let answer = raw_http(server.addr, head, body, None).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert!(answer.contains("HTTP/1.1 400"), "the bytes after the body, refused: {answer}");
    read_until_chat(&mut whole, "counted").await;
    whole.play_until_applied().await;
    assert!(!chat_lines(&whole).contains(&"smuggled".to_string()), "{:?}", chat_lines(&whole));
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

/// PROTOCOL.md 1 (403) and SECURITY.md: `x-tickwire-hop` is refused only in a fleet; on a
/// single server the fleet's headers mean nothing, so they neither refuse the request nor
/// change whom it speaks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_fleet_hop_means_nothing_on_a_single_server() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let forged = [("x-tickwire-hop", "guessed"), ("x-tickwire-client", "192.0.2.1")];
    // An upgrade: served as any other.
    let mut upgrade = server.ws_url().into_client_request().unwrap();
    upgrade.headers_mut().insert("sec-websocket-protocol", "tickwire.v1".parse().unwrap());
    for (name, value) in forged {
        upgrade.headers_mut().insert(name, value.parse().unwrap());
    }
    let (ws, response) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(upgrade))
        .await
        .expect("an answer in time")
        .expect("upgraded, not refused");
    assert_eq!(response.status(), 101);
    let mut forger = Client::join_over(ws, hello_in(Role::Player, "forger", "load")).await;
    forger.next_world().await;

    // A fallback session opened with them is its TCP peer's (127.0.0.1), not 192.0.2.1's.
    let localhost = "127.0.0.1".parse().unwrap();
    let mut open = request("GET", "/fallback/poll", None, vec![]);
    for (name, value) in forged {
        open.headers_mut().insert(name, value.parse().unwrap());
    }
    let response = http(server.addr, localhost).await.send_request(open).await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()[SESSION].to_str().unwrap().to_string();
    let hello = message_record(&ClientMessage::Hello(hello_in(Role::Spectator, "s", "load")));
    let post = request("POST", "/fallback/send", Some(&session), hello);
    let response = http(server.addr, localhost).await.send_request(post).await.unwrap();
    assert_eq!(response.status(), 204, "the session answers its peer's address");
    // Another address naming the session's in a forged hop: the 404 of any other address.
    let mut steal = request("POST", "/fallback/send", Some(&session), vec![]);
    let headers = steal.headers_mut();
    headers.insert("x-tickwire-hop", "guessed".parse().unwrap());
    headers.insert("x-tickwire-client", "127.0.0.1".parse().unwrap());
    let thief = "127.0.0.2".parse().unwrap();
    let response = http(server.addr, thief).await.send_request(steal).await.unwrap();
    let status = response.status();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&text));
    assert_eq!(server.metric("tickwire_refused_total{reason=\"hop\"}").await, 0.0);
    forger.next_world().await;
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

/// The refusal itself is `server.rs`'s; here it is made while the server is loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_allowed_origins_cross_site_requests_without_origin_get_403_and_players_play_on() {
    let allowed = |config: &mut ServerConfig| {
        config.allowed_origins = vec!["https://play.example".into()];
    };
    let (server, load) = loaded_server_with(allowed).await;
    let before = load.ticks();
    let upgrade = &upgrade_request("", "Sec-Fetch-Site: cross-site\r\n");
    let poll = "GET /fallback/poll HTTP/1.1\r\nHost: t\r\nSec-Fetch-Site: cross-site\r\n\r\n";
    let stream = "GET /fallback/stream HTTP/1.1\r\nHost: t\r\nSec-Fetch-Site: same-site\r\n\r\n";
    for request in [upgrade, poll, stream] {
        let (status, head, body) = http_request(server.addr, request).await;
        assert_eq!(status, 403, "{request}{head}");
        assert!(body.contains("without an Origin"), "{body}");
        assert!(!head.to_ascii_lowercase().contains("tickwire-session"), "{head}");
    }
    assert_eq!(server.metric("tickwire_refused_total{reason=\"origin\"}").await, 3.0);
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_before_the_hello_are_answered_and_do_not_put_its_deadline_off() {
    let (server, load) = loaded_server_with(|config| config.handshake_timeout = HANDSHAKE).await;
    let before = load.ticks();
    // Pings, each answered with its payload, then the Hello: welcomed.
    let mut early = RawWs::connect(server.addr).await;
    for n in 0..5u8 {
        early.send_frame(0x89, &[b'p', n]).await;
        assert_eq!(early.next_frame().await, Some(RawFrame::Pong(vec![b'p', n])));
    }
    early.join(hello_in(Role::Spectator, "early", "load")).await;

    // Pings every 200 ms and never a Hello: each is answered, and the handshake timeout still
    // closes the connection (1008, no Kick). Were it put off by each ping, no close would
    // come.
    let mut pinger = RawWs::connect(server.addr).await;
    let mut pongs = 0;
    let (code, reason) = loop {
        pinger.send_frame(0x89, b"still here").await;
        match pinger.next_frame().await.expect("a close frame before the connection ends") {
            RawFrame::Pong(payload) => {
                assert_eq!(payload, b"still here");
                pongs += 1;
                // A bound on the loop (50 pings take 10 s and more), not a timing: the close
                // comes once HANDSHAKE (2 s) has passed.
                assert!(pongs < 50, "{pongs} pings answered and no close");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            RawFrame::Close(code, reason) => break (code, reason),
            other => panic!("only pongs and a close before a Hello, got {other:?}"),
        }
    };
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("no Hello within the handshake timeout"), "{reason}");
    assert!(pongs >= 1);
    load.kept_playing(&before, 30).await;
    // The early one was welcomed and is sent snapshots like the rest.
    loop {
        if let RawFrame::Binary(bytes) = early.next_frame().await.expect("open")
            && matches!(decode_server(&bytes), Ok(ServerMessage::Snapshot(_)))
        {
            break;
        }
    }
    server.shutdown().await;
}

/// Sends `bytes` as the first message of a new WebSocket; how the server refused it.
async fn refused_hello(addr: SocketAddr, bytes: &[u8]) -> Closed {
    let mut raw = RawWs::connect(addr).await;
    raw.send_binary(bytes).await;
    let mut kick = None;
    loop {
        match raw.next_frame().await.expect("a close frame before the connection ends") {
            RawFrame::Binary(bytes) => match decode_server(&bytes) {
                Ok(ServerMessage::Kick(k)) => kick = Some(k),
                other => panic!("only a Kick before the close, got {other:?}"),
            },
            RawFrame::Close(code, reason) => return Closed { code, reason, kick },
            other => panic!("only a Kick and a close, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_hellos_get_bad_hello_and_their_close_codes() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    // 00 07 00 03 "ada" 00 00 (PROTOCOL.md, `hello_player`).
    let good = encode_client_to_vec(&ClientMessage::Hello(hello(Role::Player, "ada")));
    assert_eq!(good, [0, 7, 0, 3, b'a', b'd', b'a', 0, 0]);
    let mut bad_role = good.clone();
    bad_role[2] = 9;
    let mut long_name = good.clone();
    long_name[3] = 100;
    let mut not_utf8 = good.clone();
    not_utf8[4..7].copy_from_slice(&[0xff, 0xfe, 0xfd]);
    let bad_room = encode_client_to_vec(&ClientMessage::Hello(hello_in(Role::Player, "a", "a b")));
    let cases: [(&str, &[u8], u16, &str); 6] = [
        ("only the version", &good[..2], 1002, "undecodable"),
        ("cut short", &good[..6], 1002, "undecodable"),
        ("an unknown role", &bad_role, 1002, "undecodable"),
        ("a name longer than the message", &long_name, 1002, "undecodable"),
        ("a name not UTF-8", &not_utf8, 1007, "undecodable"),
        ("a bad room name", &bad_room, 1002, "room name"),
    ];
    for (what, bytes, code, why) in cases {
        let closed = refused_hello(server.addr, bytes).await;
        assert_eq!(closed.code, code, "{what}: {closed:?}");
        assert_eq!(closed.kick.map(|k| k.reason), Some(KickReason::BadHello), "{what}: {closed:?}");
        assert!(closed.reason.contains(why), "{what}: {closed:?}");
    }
    // The Hello itself, whole, is welcomed.
    let mut raw = RawWs::connect(server.addr).await;
    raw.send_binary(&good).await;
    loop {
        if let RawFrame::Binary(bytes) = raw.next_frame().await.expect("a Welcome")
            && matches!(decode_server(&bytes), Ok(ServerMessage::Welcome(_)))
        {
            break;
        }
    }
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

/// The players in room `room` as `GET /rooms` counts them (seats waiting for a resume too).
async fn players_in(server: &TestServer, room: &str) -> u64 {
    let (_, _, body) = server.get("/rooms").await;
    let rooms: serde_json::Value = serde_json::from_str(&body).expect("GET /rooms answers JSON");
    let listed = rooms.as_array().into_iter().flatten().find(|r| r["id"] == room);
    listed.and_then(|r| r["players"].as_u64()).unwrap_or(0)
}

/// A peer that joins and drops in a loop, one connection at a time, keeps at most as many
/// seats waiting for a resume as its address may hold sessions: it cannot fill a room, or the
/// room limit, with seats nobody will take back, and others still get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_dropping_in_a_loop_keeps_no_more_seats_than_the_address_cap() {
    let mut config = test_config();
    config.max_connections_per_ip = 4;
    config.resume_grace = Duration::from_secs(60);
    let server = TestServer::start(config).await;
    let ghost = |i: usize| {
        let server = &server;
        async move {
            // The server may not have counted the last connection out yet (429 meanwhile).
            let deadline = tokio::time::Instant::now() + PATIENCE;
            let ws = loop {
                let mut request = server.ws_url().into_client_request().unwrap();
                let protocol = tickwire_shared::SUBPROTOCOL.parse().unwrap();
                request.headers_mut().insert("Sec-WebSocket-Protocol", protocol);
                if let Ok((ws, _)) = tokio_tungstenite::connect_async(request).await {
                    break ws;
                }
                assert!(tokio::time::Instant::now() < deadline, "upgrade {i} refused for good");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let joined =
                try_join(ws, hello_in(Role::Player, &format!("ghost{i}"), "haunted")).await;
            // Dropped without a close frame: a lost connection, whose seat may wait for a resume.
            drop(joined.expect("joined"));
        }
    };
    for i in 0..4 {
        ghost(i).await;
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while players_in(&server, "haunted").await != 4
        || server.metric("tickwire_sessions").await > 0.0
    {
        assert!(tokio::time::Instant::now() < deadline, "four seats wait for a resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ghost(4).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.metric("tickwire_refused_total{reason=\"held_per_ip\"}").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the fifth drop was counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(players_in(&server, "haunted").await, 4, "four seats wait, the fifth ended");
    // Another address still gets a seat, and the room says so.
    let ws = open_from(server.addr, "127.0.0.2").await;
    try_join(ws, hello_in(Role::Player, "someone", "haunted")).await.expect("a seat for others");
    assert_eq!(players_in(&server, "haunted").await, 5);
    server.shutdown().await;
}

/// A peer that joins and leaves in a loop gets new seats at most as fast as its address may
/// (a burst of twice `--max-connections-per-ip`, then the cap a minute): past that a first join is
/// told to try again (1013, no `Kick`), so the room's players do not see a `Joined` and a
/// `Left` with a name of its choosing hundreds of times a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_in_a_loop_is_held_to_the_address_s_rate() {
    let mut config = test_config();
    config.max_connections_per_ip = 8;
    let server = TestServer::start(config).await;
    let (_, mut victim) = try_join(open(&server.ws_url()).await, hello_in(Role::Player, "v", "r"))
        .await
        .expect("the victim joins");
    let (mut seated, mut refused) = (0, None);
    for i in 0..24 {
        let ws = open_from(server.addr, "127.0.0.3").await;
        match try_join(ws, hello_in(Role::Player, &format!("BUY GOLD {i}"), "r")).await {
            Ok((_, mut ws)) => {
                seated += 1;
                let _ = ws.close(None).await;
            }
            Err(closed) => {
                refused = Some(closed);
                break;
            }
        }
    }
    assert_eq!(seated, 16, "the burst, then refused");
    let closed = refused.expect("a join refused");
    assert_eq!(closed.code, 1013, "{closed:?}");
    assert!(closed.kick.is_none(), "no Kick: a first join retries");
    assert_eq!(closed.reason, "too many new seats from this address; try again in a few seconds");
    assert_eq!(server.metric("tickwire_refused_total{reason=\"join_rate\"}").await, 1.0);
    // The victim saw sixteen joins, not more, and plays on. Another address joins at once.
    let joined = count_joined(&mut victim, Duration::from_millis(500)).await;
    assert_eq!(joined, 16, "the victim's Joined events");
    let ws = open_from(server.addr, "127.0.0.4").await;
    try_join(ws, hello_in(Role::Player, "friend", "r")).await.expect("another address joins");
    server.shutdown().await;
}

/// `Joined` events of the churning peer's names that `ws` reads within `window`.
async fn count_joined(ws: &mut Ws, window: Duration) -> usize {
    use futures_util::StreamExt;
    let mut joined = 0;
    let until = tokio::time::Instant::now() + window;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, ws.next()).await {
        let tokio_tungstenite::tungstenite::Message::Binary(bytes) = message else { continue };
        if let Ok(ServerMessage::Event(event)) = decode_server(&bytes)
            && matches!(event.kind, EventKind::Joined { name, .. } if name.as_str().starts_with("BUY GOLD"))
        {
            joined += 1;
        }
    }
    joined
}
