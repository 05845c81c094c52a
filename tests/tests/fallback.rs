//! The HTTP fallback end to end, on a real server: a session over a streamed response and one
//! over long polls join, play, chat with WebSocket clients, are counted per transport, close
//! with the closing handshake, and resume after a dropped stream; and the hostile cases (an
//! unknown or stolen session, an oversized POST, a malformed record, a POST flood, a second
//! poll, a stream nobody reads, a foreign Origin) each get a clear refusal while WebSocket
//! players in the same room keep getting every tick. A session answers its client's whole
//! IPv6 /64, refuses POSTs with 410 as soon as it stops reading them, and its refusals are
//! readable by a page of an allowed origin. Numbered polls and POSTs may be sent again: a
//! repeated poll gets the same bytes (its close record too), a repeated POST is delivered once;
//! every answer is `no-store`, and a session needs its join token only to open.

#[path = "support/fallback_client.rs"]
mod fallback_client;
mod support;

use fallback_client::*;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tickwire_server::ServerConfig;
use tickwire_shared::{
    Chat, ChatText, ClientMessage, EventKind, KickReason, Ping, Role, ServerMessage,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

/// WebSocket players in room `room` that keep playing and record the newest tick each saw.
struct Bystanders {
    tasks: Vec<JoinHandle<()>>,
    ticks: Arc<Mutex<Vec<u32>>>,
}

impl Bystanders {
    async fn start(url: &str, room: &str, count: usize) -> Bystanders {
        let ticks = Arc::new(Mutex::new(vec![0; count]));
        let mut tasks = Vec::new();
        for i in 0..count {
            let mut client =
                Client::join(url, hello_in(Role::Player, &format!("ws{i}"), room)).await;
            let ticks = ticks.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    client.input(50, 0, 0).await;
                    let tick = client.next_world().await.tick.0;
                    ticks.lock().unwrap()[i] = tick;
                }
            }));
        }
        Bystanders { tasks, ticks }
    }

    /// Every bystander saw at least `ticks` more ticks since `before`.
    async fn kept_playing(&self, before: &[u32], ticks: u32) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = self.ticks.lock().unwrap().clone();
            if now.iter().zip(before).all(|(n, b)| *n >= b + ticks) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "bystanders stalled: {before:?} -> {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn ticks(&self) -> Vec<u32> {
        self.ticks.lock().unwrap().clone()
    }
}

impl Drop for Bystanders {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn rooms(server: &TestServer) -> serde_json::Value {
    let (status, _, body) = server.get("/rooms").await;
    assert_eq!(status, 200);
    serde_json::from_str(&body).unwrap()
}

async fn play_a_match_over(mode: Mode) {
    let server = TestServer::start(test_config()).await;
    let room = if mode == Mode::Stream { "fb-stream" } else { "fb-poll" };
    let name = if mode == Mode::Stream { "stream" } else { "poll" };
    let mut watcher = Client::join(&server.ws_url(), hello_in(Role::Spectator, "ws", room)).await;
    let mut player = Fallback::join(server.addr, mode, hello_in(Role::Player, "http", room)).await;
    let welcome = player.welcome.unwrap();
    assert_eq!(welcome.room.as_str(), room);
    assert!(welcome.entity.is_some(), "a player over the fallback gets a ship");

    // Inputs are applied and acknowledged; snapshots become deltas because acks arrive.
    let applied = player.play_until_applied().await;
    assert!(applied.0 >= 1);
    let delta = loop {
        if let Down::Message(ServerMessage::Snapshot(snap)) = player.next().await
            && snap.header.baseline.is_some()
        {
            break snap;
        }
    };
    assert!(delta.header.baseline.is_some());

    // The WebSocket watcher sees the fallback player's ship and chat; the fallback player gets
    // the WebSocket watcher's audience count.
    let ship = welcome.entity.unwrap();
    let mut seen = false;
    for _ in 0..60 {
        let world = watcher.next_world().await;
        if world.entities.iter().any(|e| e.id == ship) {
            seen = true;
            break;
        }
    }
    assert!(seen, "the spectator sees the fallback player's ship");
    player.send(&ClientMessage::Chat(Chat { text: ChatText::truncated("hello over http") })).await;
    let chat = watcher.wait_event(|k| matches!(k, EventKind::Chat { .. })).await;
    let EventKind::Chat { from, text, .. } = chat.kind else { unreachable!() };
    assert_eq!(from, welcome.player_id);
    assert_eq!(text.as_str(), "hello over http");

    // Counted per transport, in /rooms and the metrics.
    let listed = rooms(&server).await;
    let row = listed.as_array().unwrap().iter().find(|r| r["id"] == room).unwrap().clone();
    assert_eq!(row["transports"][name], 1, "{row}");
    assert_eq!(row["transports"]["ws"], 1, "{row}");
    let gauge = format!("tickwire_transport_clients{{transport=\"{name}\"}}");
    assert_eq!(server.metric(&gauge).await, 1.0);

    // Leaving: a close record, answered with the same code; the seat ends at once.
    let (status, _) = player.post(close_record(1000, "bye")).await;
    assert_eq!(status, 204);
    let (code, _, _) = player.closed().await;
    assert_eq!(code, 1000, "the server echoes the client's close code");
    watcher.wait_left(welcome.player_id).await;
    assert_eq!(server.metric(&gauge).await, 0.0);
    assert_eq!(
        server.metric("tickwire_closes_total{code=\"1000\",initiator=\"client\"}").await,
        1.0
    );
    // The session is gone: its id finds nothing.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, text) = player.post(vec![]).await;
        if status == 404 {
            assert!(text.contains("unknown or expired session"), "{text}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the session lingers: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_plays_over_the_http_stream() {
    play_a_match_over(Mode::Stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_plays_over_long_polling() {
    play_a_match_over(Mode::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_record_without_a_code_is_answered_with_one_without_a_code() {
    let server = TestServer::start(test_config()).await;
    let mut player =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Player, "p", "fb-nocode")).await;
    assert_eq!(player.post(record(0x88, &[])).await.0, 204);
    // As over WebSocket: 1005 is what such a close reads as, never a code sent (PROTOCOL.md 7.2).
    loop {
        match player.next().await {
            Down::CloseWithoutCode => break,
            Down::Close(code, reason) => panic!("answered with a code: {code} {reason:?}"),
            _ => {}
        }
    }
    server.shutdown().await;
}

/// Sends `head` and `body` on a raw connection from 127.0.0.1, then drops it (`hang_up`) or
/// reads the status line of the answer.
async fn raw_post(server: &TestServer, head: String, body: &[u8], hang_up: bool) -> Option<String> {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    if hang_up {
        return None;
    }
    let mut answer = vec![0; 512];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer)).await.unwrap().unwrap();
    Some(String::from_utf8_lossy(&answer[..n]).lines().next().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_breaks_off_leaves_the_session_and_an_unannounced_oversized_one_closes_it() {
    let server = TestServer::start(test_config()).await;
    let mut player =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "p", "fb-cut")).await;
    player.play_until_applied().await;
    // The network drops while a POST's body is on its way: a tenth of it arrived.
    let head = format!(
        "POST /fallback/send HTTP/1.1\r\nHost: t\r\n{SESSION}: {}\r\nContent-Length: 100\r\n\r\n",
        player.session
    );
    raw_post(&server, head, &[0x82; 10], true).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Not a refusal of the client: the session plays on.
    player.play_until_applied().await;

    // A body that breaks off on a connection that stays up (its chunked framing cut short,
    // and garbled after the cut) is answered: 408, as one that came too slowly, since nothing
    // of it was taken, its number neither. (A 400 said the number was spent: the SDK's next
    // POST got 409, and its socket failed.)
    let line = message_record(&ClientMessage::Chat(Chat { text: ChatText::truncated("whole") }));
    let head = format!(
        "POST /fallback/send HTTP/1.1\r\nHost: t\r\n{SESSION}: {}\r\ntickwire-seq: 1\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        player.session
    );
    let mut body = b"4\r\n".to_vec();
    body.extend(&line[..4]);
    body.extend(b"\r\nzz\r\n");
    let status = raw_post(&server, head, &body, false).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    // Sent again whole, with the same number: delivered, once; the next number follows it.
    let seq = |n: &str, body: Vec<u8>| {
        let req = request("POST", "/fallback/send", Some(&player.session), body);
        numbered(req, "tickwire-seq", n)
    };
    assert_eq!(exchange(&server, seq("1", line.clone())).await.0, 204);
    assert_eq!(exchange(&server, seq("2", vec![])).await.0, 204);
    let id = player.welcome.as_ref().unwrap().player_id;
    loop {
        if let Down::Message(ServerMessage::Event(e)) = player.next().await
            && matches!(&e.kind, EventKind::Chat { from, text, .. }
                if *from == id && text.as_str() == "whole")
        {
            break;
        }
    }

    // A chunked body past the limit, its size announced nowhere: 413, and the session closes
    // with 1009 as for an announced one. (Numbered, as this session's POSTs now are.)
    let head = format!(
        "POST /fallback/send HTTP/1.1\r\nHost: t\r\n{SESSION}: {}\r\ntickwire-seq: 3\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        player.session
    );
    let mut body = format!("{:x}\r\n", 9000).into_bytes();
    body.extend([0x82; 9000]);
    body.extend(b"\r\n0\r\n\r\n");
    let status = raw_post(&server, head, &body, false).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert_eq!(player.closed().await.0, 1009);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_keeps_the_seat_and_a_new_session_resumes_it() {
    let server = TestServer::start(test_config()).await;
    let mut watcher =
        Client::join(&server.ws_url(), hello_in(Role::Spectator, "w", "fb-resume")).await;
    let mut first =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "p", "fb-resume")).await;
    let welcome = first.welcome.unwrap();
    first.play_until_applied().await;
    // The stream's connection dies (no close record either way).
    first.reader.abort();
    drop(first);
    // The seat waits: a new session with the resume token takes it back, ship and all.
    let mut hello = hello_in(Role::Player, "p", "fb-resume");
    hello.resume = Some(welcome.resume_token);
    let mut second = Fallback::join(server.addr, Mode::Poll, hello).await;
    let resumed = second.welcome.unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.player_id, welcome.player_id);
    assert_eq!(resumed.entity, welcome.entity);
    second.play_until_applied().await;
    // The watcher reads the room past a tick that came after the resume: a `Left` sent when
    // the stream died, or when the old session was cleaned up, would be in what it read.
    let resumed_at = second.worlds.latest().expect("a world after the resume").tick;
    watcher.snapshots_past(resumed_at, 10).await;
    let player = welcome.player_id;
    assert!(
        watcher
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Joined { player: p, .. } if p == player)),
        "the watcher read the room's events: {:?}",
        watcher.events
    );
    assert!(
        !watcher.events.iter().any(|e| e.kind == EventKind::Left { player }),
        "the room never saw the ship leave: {:?}",
        watcher.events
    );
    server.shutdown().await;
}

/// A polling client whose page closed leaves no connection to drop and rarely a close record
/// (its one POST in flight holds it back, and the unload cancels it): its ship stayed for the
/// idle timeout, then the grace. With no poll waiting for a few seconds, its seat waits out
/// the grace as a dropped connection's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_that_stops_polling_is_dropped_and_its_seat_waits_for_it() {
    let mut config = test_config();
    // Only the polls' absence can tell: the idle timeout is past the test's patience.
    config.idle_timeout = Duration::from_secs(60);
    // A poll waits at most a heartbeat and a second for something to answer.
    config.heartbeat_interval = Duration::from_secs(1);
    config.resume_grace = Duration::from_secs(1);
    let server = TestServer::start(config).await;
    let mut watcher =
        Client::join(&server.ws_url(), hello_in(Role::Spectator, "w", "fb-gone")).await;
    let mut gone =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Player, "p", "fb-gone")).await;
    let player = gone.welcome.unwrap().player_id;
    gone.play_until_applied().await;
    // The page closes: no more polls, no close record.
    gone.reader.abort();
    drop(gone);
    // The last poll's wait (2 s), the polls' absence (8 s), the grace (1 s), and room to spare.
    let patience = Duration::from_secs(20);
    let left =
        tokio::time::timeout(patience, watcher.wait_event(|e| e == &EventKind::Left { player }));
    left.await.expect("the ship leaves once the polls stop and the grace passes");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_is_the_last_thing_a_fallback_client_receives() {
    let server = TestServer::start(test_config()).await;
    let mut player =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Player, "spam", "fb-kick")).await;
    // Chat above the rate in one POST: the reader kicks as it would a WebSocket client.
    let mut body = Vec::new();
    for i in 0..12 {
        body.extend(message_record(&ClientMessage::Chat(Chat {
            text: ChatText::truncated(&format!("spam {i}")),
        })));
    }
    let (status, _) = player.post(body).await;
    assert_eq!(status, 204);
    let (code, reason, kick) = player.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("chat"), "{reason}");
    assert_eq!(kick.map(|k| k.reason), Some(KickReason::RateLimited));

    // Shutdown reaches a stream session as Kick { ShuttingDown } and 1001.
    let mut streaming =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "s", "fb-kick")).await;
    let stop = tokio::spawn(server.shutdown());
    let (code, _, kick) = streaming.closed().await;
    assert_eq!(code, 1001);
    assert_eq!(kick.map(|k| k.reason), Some(KickReason::ShuttingDown));
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_clear_refusals_and_players_keep_playing() {
    let server = TestServer::start(page_config()).await;
    let bystanders = Bystanders::start(&server.ws_url(), "fb-hostile", 4).await;
    let mut victim =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "v", "fb-hostile")).await;
    let before = bystanders.ticks();

    // An unknown session, and a real one named from another address: the same 404.
    let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let bogus = "0".repeat(32);
    let response =
        conn.send_request(request("POST", "/fallback/send", Some(&bogus), vec![])).await.unwrap();
    assert_eq!(response.status(), 404);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("unknown or expired session"));
    let mut thief = http(server.addr, "127.0.0.2".parse().unwrap()).await;
    let req = request("POST", "/fallback/send", Some(&victim.session), close_record(1000, ""));
    assert_eq!(
        thief.send_request(req).await.unwrap().status(),
        404,
        "a session is bound to its address"
    );
    let mut thief = http(server.addr, "127.0.0.2".parse().unwrap()).await;
    let req = request("GET", "/fallback/poll", Some("not-an-id"), vec![]);
    assert_eq!(thief.send_request(req).await.unwrap().status(), 404);
    let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let req = request("POST", "/fallback/send", None, vec![]);
    assert_eq!(conn.send_request(req).await.unwrap().status(), 400, "no session header");
    // The victim did not notice.
    victim.play_until_applied().await;

    // A foreign Origin cannot open a session, nor poll one it has the id of.
    let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let mut req = request("GET", "/fallback/stream", None, vec![]);
    req.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let response = conn.send_request(req).await.unwrap();
    assert_eq!(response.status(), 403);
    let polled =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Spectator, "pv", "fb-hostile"))
            .await;
    let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let mut req = request("GET", "/fallback/poll", Some(&polled.session), vec![]);
    req.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let response = conn.send_request(req).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("access-control-allow-origin").is_none());
    drop(polled);

    // An oversized POST: 413 with the limit, and the session closes with 1009.
    let mut big =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "big", "fb-hostile"))
            .await;
    let (status, text) = big.post(vec![0x82; 64 * 1024]).await;
    assert_eq!(status, 413);
    assert!(text.contains("exceeds the limit of 8192"), "{text}");
    let (code, reason, _) = big.closed().await;
    assert_eq!((code, reason.as_str()), (1009, text.trim()));

    // A message above 256 bytes inside a small POST: 413, close 1009.
    let mut fat =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Player, "fat", "fb-hostile")).await;
    let (status, text) = fat.post(record(0x82, &[1; 300])).await;
    assert_eq!(status, 413);
    assert!(text.contains("message of 300 bytes exceeds the limit of 256"), "{text}");
    assert_eq!(fat.closed().await.0, 1009);

    // A malformed record: 400, close 1002; a text record: 400, close 1003.
    let mut bad =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "bad", "fb-hostile"))
            .await;
    let (status, text) = bad.post(vec![0x82, 0x85, 1, 2, 3, 4, 5]).await;
    assert_eq!(status, 400);
    assert!(text.contains("not masked"), "{text}");
    assert_eq!(bad.closed().await.0, 1002);
    let mut text_sender =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "t", "fb-hostile")).await;
    assert_eq!(text_sender.post(record(0x81, b"hi")).await.0, 400);
    assert_eq!(text_sender.closed().await.0, 1003);

    // A POST flood: beyond the session's rate, 429 with Retry-After; the session lives on.
    // The session's bucket holds POST_RATE POSTs and refills POST_RATE a second, so however
    // slowly a loaded machine runs the flood, no more than the burst and the refill over the
    // flood's whole time are accepted (the bound loosens with time, it never tightens); and the
    // Hello took one of the burst, so the first POST_RATE - 1 are all accepted.
    const POST_RATE: f64 = 120.0;
    let mut flooder =
        Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "f", "fb-hostile")).await;
    let post_rate_refusals = "tickwire_refused_total{reason=\"post_rate\"}";
    let counted_before = server.metric(post_rate_refusals).await;
    let localhost: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let (mut accepted, mut refused, mut first_refused) = (0u32, 0u32, None);
    let mut last = String::new();
    let started = std::time::Instant::now();
    // Until a hundred refusals, however long it takes; a server that never refuses fails the
    // first assertion below after all of these.
    for sent in 0..2000 {
        // As `Fallback::post` does, with the headers kept: a refusal closes its connection.
        if flooder.posts_closed || flooder.posts.ready().await.is_err() {
            flooder.posts = http(server.addr, localhost).await;
        }
        let post = || request("POST", "/fallback/send", Some(&flooder.session), vec![]);
        let response = match flooder.posts.send_request(post()).await {
            Ok(response) => response,
            Err(_) => {
                // The connection broke under the request (closed as it was sent): a new one.
                flooder.posts = http(server.addr, localhost).await;
                flooder.posts.send_request(post()).await.expect("a POST is answered")
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        flooder.posts_closed = headers.get("connection").is_some_and(|v| v == "close");
        let text = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&text).into_owned();
        match status {
            204 => accepted += 1,
            429 => {
                refused += 1;
                first_refused.get_or_insert(sent);
                let retry = headers.get("retry-after").and_then(|v| v.to_str().ok());
                assert!(
                    retry.and_then(|s| s.parse::<u32>().ok()).is_some_and(|s| s >= 1),
                    "a 429 says when to retry, in seconds: {retry:?}"
                );
                last = text;
            }
            other => panic!("POST {sent}: {other} {text}"),
        }
        if refused == 100 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(refused >= 1, "none of {accepted} POSTs in {elapsed:.2} s refused");
    assert!(last.contains("more than 120 POSTs per second"), "{last}");
    let counted = server.metric(post_rate_refusals).await - counted_before;
    assert_eq!(counted, f64::from(refused), "each 429 counted once, as post_rate");
    assert!(
        first_refused.is_some_and(|n| n >= POST_RATE as u32 - 1),
        "refused within the burst: POST {first_refused:?}"
    );
    let allowed = POST_RATE + POST_RATE * elapsed + 1.0;
    assert!(
        f64::from(accepted) <= allowed,
        "{accepted} POSTs accepted in {elapsed:.2} s, at most {allowed:.0} allowed"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    flooder.play_until_applied().await;

    // A second poll while one waits: 409. The session's own poll loop is stopped, and the
    // test holds the first poll itself: right after a poll took the records, the next one
    // waits for the next tick, and a second poll sent meanwhile must be refused.
    let poller =
        Fallback::join(server.addr, Mode::Poll, hello_in(Role::Spectator, "p", "fb-hostile")).await;
    poller.reader.abort();
    let localhost: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let poll = |session: String| async move {
        let mut conn = http(server.addr, localhost).await;
        let response = conn.send_request(request("GET", "/fallback/poll", Some(&session), vec![]));
        let response = response.await.expect("a poll is answered");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    // The aborted loop's last poll can still be waiting in the server until it sees that
    // connection go: poll until a poll is answered with records, so the ones below are alone.
    let mut settled = false;
    for _ in 0..100 {
        if poll(poller.session.clone()).await.0 == 200 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settled, "the session's polls are answered once its own poll loop is gone");
    let mut conflict = None;
    for _ in 0..50 {
        let first = tokio::spawn(poll(poller.session.clone()));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = poll(poller.session.clone()).await;
        let first = first.await.unwrap();
        // On two connections the polls can reach the server in either order (a loaded
        // machine): whichever came while the other waited is the one refused.
        match (first.0, second.0) {
            (200, 200) => {}
            (200, 409) => conflict = Some(second.1),
            (409, 200) => conflict = Some(first.1),
            statuses => panic!("polls answered {statuses:?}: {first:?} {second:?}"),
        }
        if conflict.is_some() {
            break;
        }
    }
    let conflict = conflict.expect("a second poll while one waits is refused with 409");
    assert!(conflict.contains("a poll is already waiting"), "{conflict}");

    bystanders.kept_playing(&before, 60).await;
    victim.play_until_applied().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_stream_is_closed_and_freed() {
    let mut config = test_config();
    config.slow_client_timeout = Duration::from_secs(1);
    config.socket_send_buffer = 4096;
    config.view_radius = 0;
    let server = TestServer::start(config).await;
    let bystanders = Bystanders::start(&server.ws_url(), "fb-stall", 2).await;
    let before = bystanders.ticks();
    // Opens a stream on a socket with a tiny receive buffer, joins, then reads nothing past the
    // response head.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    stream.write_all(b"GET /fallback/stream HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("tickwire-session: "))
        .expect("a session id")
        .to_string();
    let mut posts = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let hello =
        message_record(&ClientMessage::Hello(hello_in(Role::Spectator, "deaf", "fb-stall")));
    let req = request("POST", "/fallback/send", Some(&session), hello);
    assert_eq!(posts.send_request(req).await.unwrap().status(), 204);
    assert_eq!(server.metric("tickwire_sessions").await, 3.0);
    // It keeps acking (POSTs work) but its stream backs up: the room closes it as too slow,
    // its session ends, and its place is freed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let req = request("POST", "/fallback/send", Some(&session), vec![]);
        let status = posts.send_request(req).await.map(|r| r.status().as_u16()).unwrap_or(0);
        if status == 404 || status == 410 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the deaf session lives on: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        if status != 204 {
            posts = http(server.addr, "127.0.0.1".parse().unwrap()).await;
        }
    }
    assert_eq!(server.metric("tickwire_sessions").await, 2.0);
    assert_eq!(server.metric("tickwire_transport_clients{transport=\"stream\"}").await, 0.0);
    bystanders.kept_playing(&before, 30).await;
    server.shutdown().await;
}

/// Sends `req` on a connection of its own from 127.0.0.1; the status, headers and body.
async fn exchange(
    server: &TestServer,
    req: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> (u16, hyper::HeaderMap, bytes::Bytes) {
    let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
    let response = conn.send_request(req).await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

/// Opens a poll session with `req`, a poll without a session: its id and the first answer.
async fn open_poll_session_with(
    server: &TestServer,
    req: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> (String, bytes::Bytes) {
    let (status, headers, body) = exchange(server, req).await;
    assert_eq!(status, 200);
    (headers[SESSION].to_str().unwrap().to_string(), body)
}

/// Opens a poll session: its id and the first answer.
async fn open_poll_session(server: &TestServer) -> (String, bytes::Bytes) {
    open_poll_session_with(server, request("GET", "/fallback/poll", None, vec![])).await
}

/// The origin of the game's page.
const PAGE: &str = "http://game.example";

/// The test configuration, with `PAGE` an allowed origin.
fn page_config() -> ServerConfig {
    let mut config = test_config();
    config.allowed_origins = vec![PAGE.into()];
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_session_answers_its_client_s_whole_64_and_nothing_else() {
    let mut config = test_config();
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = TestServer::start(config).await;
    // Each request through the proxy at 127.0.0.1, on behalf of the client it names.
    let via_proxy = |method: &str, path: &str, session: Option<&str>, client: &str| {
        let mut req = request(method, path, session, vec![]);
        req.headers_mut().insert("x-forwarded-for", client.parse().unwrap());
        req
    };
    let (session, _) =
        open_poll_session_with(&server, via_proxy("GET", "/fallback/poll", None, "2001:db8::1"))
            .await;
    // The same host's other address (a privacy address, a second connection of a dual-stack
    // browser): its POSTs and polls reach the session, as its caps count it as one client.
    let post = via_proxy("POST", "/fallback/send", Some(&session), "2001:db8::2");
    let (status, _, text) = exchange(&server, post).await;
    assert_eq!(status, 204, "{text:?}");
    let poll = via_proxy("GET", "/fallback/poll", Some(&session), "2001:db8::3");
    assert_eq!(exchange(&server, poll).await.0, 200);
    // Another /64 is another client.
    let post = via_proxy("POST", "/fallback/send", Some(&session), "2001:db8:0:1::1");
    let (status, _, text) = exchange(&server, post).await;
    assert_eq!(status, 404, "{text:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_to_a_closing_session_get_410_while_its_close_record_waits_for_a_poll() {
    let mut config = test_config();
    // How long a close record waits to be taken: the session's last stretch, in which the
    // POSTs below are sent (they take milliseconds).
    config.close_timeout = Duration::from_secs(10);
    let server = TestServer::start(config).await;
    let malformed = vec![0x82, 0x85, 1, 2, 3, 4, 5];
    for (last, status, code) in [(malformed, 400, 1002), (close_record(1000, "bye"), 204, 1000)] {
        // A poll session that nobody polls after its first answer: its close record stays in
        // the session until a poll comes.
        let (session, _) = open_poll_session(&server).await;
        let post = request("POST", "/fallback/send", Some(&session), last);
        assert_eq!(exchange(&server, post).await.0, status, "{code}");
        // Until the session's reader has come to that record a POST is still taken; after it,
        // nothing reads them, and a POST is told at once that the session is closed.
        let mut posts = http(server.addr, "127.0.0.1".parse().unwrap()).await;
        let mut taken = 0;
        let (status, text) = loop {
            let req = request("POST", "/fallback/send", Some(&session), vec![]);
            let response = posts.send_request(req).await.expect("an answer");
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            match status {
                204 => taken += 1,
                // Above the session's POST rate, or its reader not keeping up: not taken.
                429 | 503 => tokio::time::sleep(Duration::from_millis(50)).await,
                _ => break (status, String::from_utf8_lossy(&body).into_owned()),
            }
        };
        assert_eq!(status, 410, "after {taken} POSTs taken ({code}): {text}");
        assert!(text.contains("the session is closed"), "{text}");
        // Refused while the session lives on: its close record is still the next poll's.
        let poll = request("GET", "/fallback/poll", Some(&session), vec![]);
        let (polled, _, body) = exchange(&server, poll).await;
        assert_eq!(polled, 200, "the session ended before its POSTs were refused ({code})");
        let mut down = Vec::new();
        Records::default().push(&body, &mut down);
        assert!(matches!(down.last(), Some(Down::Close(c, _)) if *c == code), "{down:?}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_an_allowed_page_may_read_and_a_preflight_for_opening_a_stream() {
    let mut config = page_config();
    config.join_secret = Some("s3cret".parse().unwrap());
    let server = TestServer::start(config).await;
    let from = |origin: &str, method: &str, path: &str, session: Option<&str>| {
        let mut req = request(method, path, session, vec![]);
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    let bogus = "0".repeat(32);
    // Without CORS headers a browser hides the status from the page: a 401 would read as a
    // network failure, and the SDK could not tell a refusal from a dropped connection.
    let cases = [
        ("GET", "/fallback/stream", None, 401),
        ("GET", "/fallback/poll", None, 401),
        ("GET", "/fallback/poll", Some(bogus.as_str()), 404),
        ("POST", "/fallback/send", Some(bogus.as_str()), 404),
        ("POST", "/fallback/send", None, 400),
    ];
    for (method, path, session, expected) in cases {
        let (status, headers, body) = exchange(&server, from(PAGE, method, path, session)).await;
        let what = format!("{method} {path} {session:?}: {body:?}");
        assert_eq!(status, expected, "{what}");
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("access-control-allow-origin"), Some(PAGE), "{what}");
        let exposed = header("access-control-expose-headers").unwrap_or_default();
        assert!(exposed.contains("retry-after"), "{what}: {exposed:?}");
    }
    // A stream opened with `Authorization: Bearer` is preflighted as a poll is.
    let mut req = from(PAGE, "OPTIONS", "/fallback/stream", None);
    req.headers_mut().insert("access-control-request-method", "GET".parse().unwrap());
    req.headers_mut().insert("access-control-request-headers", "authorization".parse().unwrap());
    let (status, headers, _) = exchange(&server, req).await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], PAGE);
    assert!(headers["access-control-allow-methods"].to_str().unwrap().contains("GET"));
    assert!(headers["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    // A refused Origin reads nothing, not even why.
    for (method, path) in [("OPTIONS", "/fallback/stream"), ("GET", "/fallback/stream")] {
        let (status, headers, _) =
            exchange(&server, from("http://evil.example", method, path, None)).await;
        assert_eq!(status, 403, "{method} {path}");
        assert!(headers.get("access-control-allow-origin").is_none(), "{method} {path}");
    }
    let evil = from("http://evil.example", "POST", "/fallback/send", Some(&bogus));
    let (status, headers, _) = exchange(&server, evil).await;
    assert_eq!(status, 403);
    assert!(headers.get("access-control-allow-origin").is_none());
    server.shutdown().await;
}

/// `req` with the header `name: value` (a poll's or POST's number, an Origin).
fn numbered(
    mut req: hyper::Request<http_body_util::Full<bytes::Bytes>>,
    name: &'static str,
    value: &str,
) -> hyper::Request<http_body_util::Full<bytes::Bytes>> {
    req.headers_mut().insert(name, value.parse().unwrap());
    req
}

/// Poll `n` of `session` (its own connection): status and body.
async fn poll_numbered(server: &TestServer, session: &str, n: &str) -> (u16, bytes::Bytes) {
    let req = numbered(request("GET", "/fallback/poll", Some(session), vec![]), "tickwire-poll", n);
    let (status, _, body) = exchange(server, req).await;
    (status, body)
}

/// Poll `n` of `session` at `addr`, its own connection, in a task of its own: status and body.
fn spawn_poll(addr: SocketAddr, session: String, n: u64) -> JoinHandle<(u16, bytes::Bytes)> {
    tokio::spawn(async move {
        let mut conn = http(addr, "127.0.0.1".parse().unwrap()).await;
        let req = request("GET", "/fallback/poll", Some(&session), vec![]);
        let response = conn.send_request(numbered(req, "tickwire-poll", &n.to_string()));
        let response = response.await.expect("an answer");
        let status = response.status().as_u16();
        (status, response.into_body().collect().await.unwrap().to_bytes())
    })
}

/// A proxy whose connection to the server dies after the server answered retries the GET
/// (Caddy does, by default), or a node forwarding a poll dies after the owner answered and the
/// client polls again: the first answer never arrives. A poll takes its records out of the
/// session, so without numbers the repeat took the next ones, and a tick's reliable frames (the
/// Welcome, events, a Kick) were lost. With `Tickwire-Poll` a repeat gets the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_poll_gets_the_same_records_again_and_none_are_lost() {
    let server = TestServer::start(test_config()).await;
    let (session, first) = open_poll_session(&server).await;
    let mut records = Records::default();
    let mut down = Vec::new();
    records.push(&first, &mut down);
    let hello = message_record(&ClientMessage::Hello(hello_in(Role::Player, "p", "fb-repeat")));
    let (status, _, _) =
        exchange(&server, request("POST", "/fallback/send", Some(&session), hello)).await;
    assert_eq!(status, 204);

    // Every poll is sent twice and only the second answer is read: each first answer is
    // "lost on its way". The records still form one whole stream: the Welcome, then the
    // player's own chat line (an event, sent once).
    let mut n = 0u64;
    let mut last;
    let mut chatted = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        n += 1;
        let (status, lost) = poll_numbered(&server, &session, &n.to_string()).await;
        assert_eq!(status, 200, "poll {n}: {lost:?}");
        let (status, again) = poll_numbered(&server, &session, &n.to_string()).await;
        assert_eq!(status, 200, "poll {n} again: {again:?}");
        assert_eq!(again, lost, "poll {n} repeated: the same bytes");
        records.push(&again, &mut down);
        last = again.clone();
        let welcome = down.iter().find_map(|d| match d {
            Down::Message(ServerMessage::Welcome(w)) => Some(w.player_id),
            _ => None,
        });
        if welcome.is_some() && !chatted {
            let chat = ClientMessage::Chat(Chat { text: ChatText::truncated("once") });
            let post = request("POST", "/fallback/send", Some(&session), message_record(&chat));
            assert_eq!(exchange(&server, post).await.0, 204);
            chatted = true;
        }
        let said = down
            .iter()
            .filter(|d| {
                matches!(d, Down::Message(ServerMessage::Event(e))
                    if matches!(&e.kind, EventKind::Chat { from, text, .. }
                        if Some(*from) == welcome && text.as_str() == "once"))
            })
            .count();
        if said > 0 {
            assert_eq!(said, 1, "the chat line once");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no Welcome and chat line: {down:?}");
    }

    // Neither the last poll's number nor the next: 409, saying which are.
    for wrong in [n + 2, n - 1] {
        let (status, text) = poll_numbered(&server, &session, &wrong.to_string()).await;
        assert_eq!(status, 409, "poll {wrong} after {n}");
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains(&format!("the last poll answered was {n}")), "{text}");
    }
    let (status, text) = poll_numbered(&server, &session, "two").await;
    assert_eq!(status, 400, "{text:?}");
    // Once its polls are numbered, one without a number (a repeat whose number a node older
    // than the numbers dropped, say) is refused: served, it would take the next records and
    // lose the ones its number kept.
    let (status, _, text) =
        exchange(&server, request("GET", "/fallback/poll", Some(&session), vec![])).await;
    assert_eq!(status, 409, "{text:?}");
    assert!(String::from_utf8_lossy(&text).contains("numbers its polls"), "{text:?}");
    let (status, again) = poll_numbered(&server, &session, &n.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(again, last, "the unnumbered poll took nothing: the repeat gets the same bytes");

    // The poll that takes the close record may be lost too: the session stays long enough
    // for its repeat to get it.
    let post = request("POST", "/fallback/send", Some(&session), close_record(1000, "bye"));
    assert_eq!(exchange(&server, numbered(post, "tickwire-seq", "1")).await.0, 204);
    let mut records = Records::default();
    let last = loop {
        n += 1;
        let (status, body) = poll_numbered(&server, &session, &n.to_string()).await;
        assert_eq!(status, 200, "poll {n}");
        let mut out = Vec::new();
        records.push(&body, &mut out);
        if out.iter().any(|d| matches!(d, Down::Close(1000, _))) {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no close record");
    };
    // At once: all six exchanges below must land within the session's 2 s linger.
    let (status, again) = poll_numbered(&server, &session, &n.to_string()).await;
    assert_eq!((status, &again), (200, &last), "the close record, again");
    // While it lingers, a repeat of its last POST is answered as one (204, not delivered);
    // anything new gets 410.
    let post = |seq: &str| {
        numbered(request("POST", "/fallback/send", Some(&session), vec![]), "tickwire-seq", seq)
    };
    assert_eq!(exchange(&server, post("1")).await.0, 204, "the close POST again");
    assert_eq!(exchange(&server, post("2")).await.0, 410, "a new POST");
    assert_eq!(poll_numbered(&server, &session, &(n + 1).to_string()).await.0, 410, "a new poll");
    let (status, again) = poll_numbered(&server, &session, &n.to_string()).await;
    assert_eq!((status, &again), (200, &last), "the close record, still");
    // Then the session is forgotten.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while poll_numbered(&server, &session, &n.to_string()).await.0 != 404 {
        assert!(tokio::time::Instant::now() < deadline, "the ended session lingers on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

/// A proxy whose connection to the server died retries the poll at once, before the server
/// saw that connection go: the first poll of that number still waits in the server. The repeat
/// waits its turn (not 409, as a second poll at once gets) and is answered with what the first
/// took; the poll after it gets the records after those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_of_a_poll_still_waiting_waits_for_it_and_gets_the_same_records() {
    let mut config = test_config();
    // Two ticks a second: a poll that comes right after one took a tick's frames waits most of
    // half a second for the next tick's, time enough for its repeat to come while it waits.
    config.tick_rate = 2;
    let server = TestServer::start(config).await;
    let (session, first) = open_poll_session(&server).await;
    let mut records = Records::default();
    let mut down = Vec::new();
    records.push(&first, &mut down);
    // A player in a room: every tick brings a snapshot of its own tick, so no two polls'
    // records are alike (a session that never joined gets nothing but heartbeats, `89 00`).
    let hello = message_record(&ClientMessage::Hello(hello_in(Role::Player, "p", "fb-waiting")));
    let post = request("POST", "/fallback/send", Some(&session), hello);
    assert_eq!(exchange(&server, post).await.0, 204);
    let ticks = |down: &[Down]| -> Vec<u32> {
        down.iter()
            .filter_map(|d| match d {
                Down::Message(ServerMessage::Snapshot(snap)) => Some(snap.header.tick.0),
                _ => None,
            })
            .collect()
    };
    let mut n = 0u64;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (first, again) = loop {
        assert!(tokio::time::Instant::now() < deadline, "no poll waited: {down:?}");
        n += 1;
        let polled = spawn_poll(server.addr, session.clone(), n);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let welcomed = down.iter().any(|d| matches!(d, Down::Message(ServerMessage::Welcome(_))));
        if polled.is_finished() || !welcomed {
            // Answered already (there were records waiting), or not playing yet: the next.
            let (status, body) = polled.await.unwrap();
            assert_eq!(status, 200, "poll {n}: {body:?}");
            records.push(&body, &mut down);
            continue;
        }
        // Poll n waits for the next tick: its repeat comes meanwhile.
        let (status, again) = poll_numbered(&server, &session, &n.to_string()).await;
        let (first_status, first) = polled.await.unwrap();
        assert_eq!((first_status, status), (200, 200), "poll {n} and its repeat: {again:?}");
        break (first, again);
    };
    assert_eq!(again, first, "the repeat got what the first took, byte for byte");
    let mut taken = Vec::new();
    records.push(&first, &mut taken);
    let taken = ticks(&taken);
    assert!(!taken.is_empty(), "poll {n} took a tick's snapshot: {first:?}");
    // The next poll acknowledges it, and takes the records after it: a later tick.
    let (status, next) = poll_numbered(&server, &session, &(n + 1).to_string()).await;
    assert_eq!(status, 200);
    assert_ne!(next, first, "poll {} got new records", n + 1);
    let mut after = Vec::new();
    records.push(&next, &mut after);
    let after = ticks(&after);
    assert!(
        after.first() > taken.last(),
        "poll {} took later ticks: {after:?} after {taken:?}",
        n + 1
    );
    server.shutdown().await;
}

/// At most one poll waits on a session, and behind it at most one repeat of it: any other
/// poll is refused at once (409), so polls cannot pile up on a session, each waiting its
/// time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_cannot_pile_up_behind_a_waiting_poll_only_its_one_repeat_waits() {
    let mut config = test_config();
    // A session that sent no Hello has nothing for its polls: one waits its whole time (the
    // heartbeat interval and a second, 3 s here).
    config.heartbeat_interval = Duration::from_secs(2);
    let server = TestServer::start(config).await;
    let (session, _) = open_poll_session(&server).await;
    let first = spawn_poll(server.addr, session.clone(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let repeat = spawn_poll(server.addr, session.clone(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!first.is_finished() && !repeat.is_finished(), "poll 1 and its repeat wait");
    // A second repeat, the next number, another number, an unnumbered poll: none waits.
    let unnumbered = request("GET", "/fallback/poll", Some(&session), vec![]);
    for n in ["1", "2", "7"] {
        let (status, text) = poll_numbered(&server, &session, n).await;
        let text = String::from_utf8_lossy(&text);
        assert_eq!(status, 409, "poll {n} while poll 1 and a repeat wait: {text}");
        assert!(text.contains("a poll is already waiting"), "{text}");
    }
    let (status, _, text) = exchange(&server, unnumbered).await;
    assert_eq!(status, 409, "an unnumbered poll: {text:?}");
    // Refused at once: a refusal that waited for poll 1 would come after its answer.
    assert!(!first.is_finished() && !repeat.is_finished(), "still waiting");
    let (first, repeat) = (first.await.unwrap(), repeat.await.unwrap());
    assert_eq!(first.0, 200);
    assert_eq!(repeat, first, "the repeat got what poll 1 got");
    // The queue is free again: poll 2 is answered.
    let (status, _) = poll_numbered(&server, &session, "2").await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

/// The SDK numbers its polls and POSTs, and sends one again that failed in transit, only for a
/// server that says it takes numbers: an older one refuses their headers in a CORS preflight
/// (every poll would fail) and otherwise ignores them (a repeated poll would take the next
/// records, a repeated POST would be delivered twice). The answer that opens a session says
/// so, readable by a page of another origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_that_opens_a_session_says_it_takes_numbered_polls_and_posts() {
    let server = TestServer::start(page_config()).await;
    for path in ["/fallback/poll", "/fallback/stream"] {
        let mut req = request("GET", path, None, vec![]);
        req.headers_mut().insert("origin", PAGE.parse().unwrap());
        let mut conn = http(server.addr, "127.0.0.1".parse().unwrap()).await;
        // Only the head: a stream's answer lasts as long as its session.
        let response = conn.send_request(req).await.expect("an answer");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("tickwire-numbering"), Some("1"), "{path}");
        let exposed = header("access-control-expose-headers").unwrap_or_default();
        for name in ["tickwire-session", "tickwire-numbering", "retry-after"] {
            assert!(exposed.split(", ").any(|n| n == name), "{path}: {name} in {exposed:?}");
        }
    }
    // A preflight lets a page send the numbers.
    let mut req = request("OPTIONS", "/fallback/poll", None, vec![]);
    req.headers_mut().insert("origin", PAGE.parse().unwrap());
    req.headers_mut().insert("access-control-request-method", "GET".parse().unwrap());
    let (status, headers, _) = exchange(&server, req).await;
    assert_eq!(status, 204);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("tickwire-poll") && allowed.contains("tickwire-seq"), "{allowed}");
    server.shutdown().await;
}

/// A proxy in front of the server can answer 502 or 504 after the server took a POST (its
/// connection died before the answer came back), and the client sends it again. Without
/// numbers its chat lines came twice, past the chat burst, and the seat was kicked. With
/// `Tickwire-Seq` a repeat is answered 204 and not delivered; a number out of sequence is
/// refused with 409 and not taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_post_is_delivered_once_and_one_out_of_sequence_is_refused() {
    let server = TestServer::start(test_config()).await;
    let room = "fb-seq";
    let mut watcher = Client::join(&server.ws_url(), hello_in(Role::Spectator, "w", room)).await;
    let player = Fallback::join(server.addr, Mode::Stream, hello_in(Role::Player, "p", room)).await;
    let id = player.welcome.unwrap().player_id;
    let chat = |texts: &[&str]| {
        let mut body = Vec::new();
        for text in texts {
            body.extend(message_record(&ClientMessage::Chat(Chat {
                text: ChatText::truncated(text),
            })));
        }
        body
    };
    let post = |seq: &str, body: Vec<u8>| {
        numbered(
            request("POST", "/fallback/send", Some(&player.session), body),
            "tickwire-seq",
            seq,
        )
    };
    // Three lines, sent three times (the client's answer lost twice): nine would be past the
    // chat burst of five.
    for _ in 0..3 {
        let (status, _, text) = exchange(&server, post("1", chat(&["a", "b", "c"]))).await;
        assert_eq!(status, 204, "{text:?}");
    }
    // A repeat is answered at once, its body not read nor counted against the POST rate: one
    // whose body never arrives whole too (read, it would get 408 after the handshake timeout).
    let head = format!(
        "POST /fallback/send HTTP/1.1\r\nHost: t\r\n{SESSION}: {}\r\ntickwire-seq: 1\r\n\
         Content-Length: 100\r\n\r\n",
        player.session
    );
    let started = tokio::time::Instant::now();
    let status = raw_post(&server, head, &[0x82; 10], false).await.unwrap();
    // Answered without its body: reading it, the server would answer 408 (handshake timeout).
    assert!(status.starts_with("HTTP/1.1 204"), "{status} after {:?}", started.elapsed());
    // Out of sequence: refused, and its records not taken.
    for (seq, expected) in [("3", 409), ("0", 400), ("x", 400)] {
        let (status, _, text) = exchange(&server, post(seq, chat(&["lost"]))).await;
        assert_eq!(status, expected, "POST {seq}: {text:?}");
        if status == 409 {
            let text = String::from_utf8_lossy(&text);
            assert!(text.contains("out of sequence"), "{text}");
            assert!(text.contains("the last POST delivered was 1"), "{text}");
        }
    }
    let (status, _, text) = exchange(&server, post("2", chat(&["d"]))).await;
    assert_eq!(status, 204, "{text:?}");
    // Once its POSTs are numbered, one without a number (a repeat of 2 whose number a node
    // older than the numbers dropped, say) is refused, not delivered a second time.
    let (status, _, text) =
        exchange(&server, request("POST", "/fallback/send", Some(&player.session), chat(&["d"])))
            .await;
    assert_eq!(status, 409, "{text:?}");
    assert!(String::from_utf8_lossy(&text).contains("numbers its POSTs"), "{text:?}");
    let (status, _, text) = exchange(&server, post("3", chat(&["end"]))).await;
    assert_eq!(status, 204, "{text:?}");
    watcher
        .wait_event(|k| matches!(k, EventKind::Chat { from, text, .. } if *from == id && text.as_str() == "end"))
        .await;
    let lines: Vec<String> = watcher
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Chat { from, text, .. } if *from == id => Some(text.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(lines, ["a", "b", "c", "d", "end"], "each line once, nothing out of sequence");
    // Not kicked: its session still takes POSTs (a closed one answers 410).
    let ping = message_record(&ClientMessage::Ping(Ping { nonce: 9 }));
    let (status, _, text) = exchange(&server, post("4", ping)).await;
    assert_eq!(status, 204, "{text:?}");
    assert!(player.kick.is_none(), "{:?}", player.kick);
    server.shutdown().await;
}

/// `/fallback/poll` is one URL for every session, and `Vary` does not name the session header:
/// a cache that stored an answer (a 404 or 410 is cacheable by default) would hand it to other
/// sessions. Every answer of the fallback says `no-store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fallback_answer_is_no_store() {
    let server = TestServer::start(page_config()).await;
    let (session, _) = open_poll_session(&server).await;
    // The stream's answer lasts as long as its session: only its head is read.
    let streaming = Fallback::open(server.addr, Mode::Stream).await;
    let streamed = streaming.session.clone();
    let bogus = "0".repeat(32);
    let poll = || request("GET", "/fallback/poll", Some(&session), vec![]);
    let evil = "http://evil.example";
    let cases = [
        (request("GET", "/fallback/poll", None, vec![]), 200),
        (request("POST", "/fallback/send", Some(&session), vec![]), 204),
        (request("POST", "/fallback/send", Some(&bogus), vec![]), 404),
        (request("GET", "/fallback/poll", Some(&bogus), vec![]), 404),
        (request("POST", "/fallback/send", None, vec![]), 400),
        (numbered(poll(), "tickwire-poll", "x"), 400),
        (numbered(poll(), "tickwire-poll", "9"), 409),
        (request("GET", "/fallback/poll", Some(&streamed), vec![]), 409),
        (request("PUT", "/fallback/poll", None, vec![]), 405),
        (request("GET", "/fallback/send", None, vec![]), 405),
        (numbered(request("GET", "/fallback/stream", None, vec![]), "origin", evil), 403),
        (numbered(request("OPTIONS", "/fallback/poll", None, vec![]), "origin", PAGE), 204),
    ];
    for (req, expected) in cases {
        let what = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
        let (status, headers, body) = exchange(&server, req).await;
        assert_eq!(status, expected, "{what}: {body:?}");
        let cache = headers.get("cache-control").and_then(|v| v.to_str().ok());
        assert_eq!(cache, Some("no-store"), "{what}: {status}");
    }
    server.shutdown().await;
}

/// The SDK sends the join token on the request that opens a session only (a token in every
/// poll's URL is a token in every proxy's access log): the server reads it there alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_with_a_join_token_is_polled_without_it() {
    use tickwire_server::auth::{JoinClaims, MintKey, mint, unix_now};
    let mut config = test_config();
    config.join_secret = Some("s3cret".parse().unwrap());
    let server = TestServer::start(config).await;
    let claims =
        JoinClaims { sub: "ada".into(), exp: unix_now() + 600, nbf: None, room: None, role: None };
    let token = mint(&claims, &MintKey::Secret("s3cret".into())).unwrap();
    let (status, _, _) = exchange(&server, request("GET", "/fallback/poll", None, vec![])).await;
    assert_eq!(status, 401, "no token, no session");
    let open = request("GET", &format!("/fallback/poll?token={token}"), None, vec![]);
    let (session, _) = open_poll_session_with(&server, open).await;
    let hello = message_record(&ClientMessage::Hello(hello_in(Role::Player, "x", "fb-token")));
    let post = request("POST", "/fallback/send", Some(&session), hello);
    assert_eq!(exchange(&server, post).await.0, 204);
    let mut records = Records::default();
    let mut down = Vec::new();
    for n in 1..=20 {
        let (status, body) = poll_numbered(&server, &session, &n.to_string()).await;
        assert_eq!(status, 200, "poll {n} without the token");
        records.push(&body, &mut down);
        if down.iter().any(|d| matches!(d, Down::Message(ServerMessage::Welcome(_)))) {
            return server.shutdown().await;
        }
    }
    panic!("no Welcome: {down:?}");
}
