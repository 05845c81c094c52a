//! End-to-end tests of the closing handshake (RFC 6455 section 7) on `/ws`: every close a
//! client starts is echoed with its code before the server closes TCP, with many clients at
//! once, with frames in flight and with reliable events queued; a close the server starts waits
//! a bounded time for the client's answer.

mod support;

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::{Chat, ChatText, ClientMessage, KickReason, Role, ServerMessage};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long a strict client waits for the answer to its close before it gives up and reports
/// 1006 (Python `websockets` defaults to 10 s; the measurement used 3 s).
const CLIENT_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a strict client saw after sending its close frame.
#[derive(Debug)]
enum CloseSeen {
    /// The server's close frame arrived with this code, then the server closed TCP.
    Echoed { code: u16, after: Duration },
    /// The connection ended or failed without a close frame (what a browser reports as 1006),
    /// and how.
    Abnormal(#[allow(dead_code)] String),
    /// Nothing came back within [`CLIENT_CLOSE_TIMEOUT`].
    Hung,
}

/// Sends a close with `code` and reads until the server's close frame and the end of the TCP
/// connection, as a strict client does: frames still in flight are read and discarded.
async fn close_and_wait(ws: &mut Ws, code: u16) -> CloseSeen {
    let started = Instant::now();
    let frame = CloseFrame { code: CloseCode::from(code), reason: "bye".into() };
    if let Err(e) = ws.close(Some(frame)).await {
        return CloseSeen::Abnormal(format!("sending the close failed: {e}"));
    }
    let answered = tokio::time::timeout(CLIENT_CLOSE_TIMEOUT, async {
        let echoed = loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
                Some(Ok(Message::Close(None))) => break 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return CloseSeen::Abnormal(e.to_string()),
                None => return CloseSeen::Abnormal("ended without a close frame".into()),
            }
        };
        let after = started.elapsed();
        // After the echo the server must close the TCP connection (RFC 6455 7.1.1).
        match ws.next().await {
            None | Some(Err(WsError::ConnectionClosed)) => {
                CloseSeen::Echoed { code: echoed, after }
            }
            other => CloseSeen::Abnormal(format!("after the echo: {other:?}")),
        }
    })
    .await;
    answered.unwrap_or(CloseSeen::Hung)
}

/// Joins `count` clients (alternately players and spectators, through matchmaking), lets each
/// read `frames_before` frames, then closes all of them at the same moment with 1000.
/// `stall` keeps every client from reading for that long before it closes, so frames pile up
/// in flight. Asserts that every close was echoed with 1000, counted, and freed its seat.
async fn crowd_closes(count: usize, frames_before: usize, stall: Duration) {
    let mut config = test_config();
    config.max_spectators = count as u16;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let barrier = Arc::new(Barrier::new(count));
    let mut clients = Vec::new();
    for i in 0..count {
        let (url, barrier) = (url.clone(), barrier.clone());
        clients.push(tokio::spawn(async move {
            let role = if i % 2 == 0 { Role::Player } else { Role::Spectator };
            let mut client = Client::join(&url, hello(role, &format!("c{i}"))).await;
            for _ in 0..frames_before {
                client.recv().await.expect("a frame before closing");
            }
            barrier.wait().await;
            tokio::time::sleep(stall).await;
            close_and_wait(&mut client.ws, 1000).await
        }));
    }
    let mut seen = Vec::new();
    for client in clients {
        seen.push(client.await.unwrap());
    }
    assert_all_echoed_1000(&seen);
    // Every one of them left properly: no seat is kept for a resume.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, _, rooms) = server.get("/rooms").await;
        let rooms: serde_json::Value = serde_json::from_str(&rooms).unwrap();
        let seated: u64 = rooms
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["players"].as_u64().unwrap() + r["spectators"].as_u64().unwrap())
            .sum();
        if seated == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{seated} seats still taken after every client left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counted = server.metric("tickwire_closes_total{code=\"1000\",initiator=\"client\"}").await;
    assert_eq!(counted, count as f64, "every echo is counted once in the close metrics");
    server.shutdown().await;
}

#[track_caller]
fn assert_all_echoed_1000(seen: &[CloseSeen]) {
    let bad: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !matches!(s, CloseSeen::Echoed { code: 1000, .. }))
        .collect();
    let mut latencies: Vec<Duration> = seen
        .iter()
        .filter_map(|s| match s {
            CloseSeen::Echoed { after, .. } => Some(*after),
            _ => None,
        })
        .collect();
    latencies.sort();
    let slowest = latencies.last().copied().unwrap_or_default();
    assert!(
        bad.is_empty(),
        "{} of {} closes were not echoed with 1000 (slowest echo {slowest:?}): {:?}",
        bad.len(),
        seen.len(),
        &bad[..bad.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_without_a_close_frame_is_told_why() {
    let server = TestServer::start(test_config()).await;
    let mut raw = RawWs::connect(server.addr).await;
    raw.join(hello(Role::Player, "fin")).await;
    // TCP's FIN, no close frame: the server still reads as far as it can write.
    raw.shutdown_write().await;
    let (code, reason) = raw.close_frame().await.expect("a close frame");
    assert_eq!((code, reason.as_str()), (1000, "the connection ended without a closing handshake"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_closing_at_once_each_get_their_close_echoed() {
    crowd_closes(200, 2, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_are_echoed_behind_the_frames_still_in_flight() {
    // Nobody reads for 300 ms (9 ticks), so snapshots and events wait in the sockets when the
    // closes go out; each echo must come after them, whole.
    crowd_closes(60, 2, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_close_sent_while_reliable_events_are_queued_is_echoed() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut chatty = Client::join(&url, hello_in(Role::Player, "chatty", "events")).await;
    let mut listeners = Vec::new();
    for i in 0..20 {
        listeners
            .push(Client::join(&url, hello_in(Role::Spectator, &format!("l{i}"), "events")).await);
    }
    // A burst of chat lines (within the burst allowance) becomes reliable events to everyone.
    for n in 0..5 {
        let text = ChatText::truncated(&format!("line {n}"));
        chatty.send(&ClientMessage::Chat(Chat { text })).await;
    }
    let closes = listeners
        .into_iter()
        .map(|mut l| tokio::spawn(async move { close_and_wait(&mut l.ws, 1000).await }));
    let mut seen = Vec::new();
    for close in closes.collect::<Vec<_>>() {
        seen.push(close.await.unwrap());
    }
    assert_all_echoed_1000(&seen);
    // The player who stayed still plays.
    chatty.next_world().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_close_frees_the_seat_at_once_and_its_token_no_longer_resumes() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut watcher = Client::join(&url, hello_in(Role::Spectator, "watcher", "bye")).await;
    let mut leaver = Client::join(&url, hello_in(Role::Player, "leaver", "bye")).await;
    leaver.next_world().await;
    let (player, token, ship) =
        (leaver.welcome.player_id, leaver.welcome.resume_token, leaver.welcome.entity);
    let seen = close_and_wait(&mut leaver.ws, 1000).await;
    assert!(matches!(seen, CloseSeen::Echoed { code: 1000, .. }), "{seen:?}");

    // The room says so at once (well before the 10 s resume grace), to the others too.
    watcher.wait_left(player).await;
    let (_, _, rooms) = server.get("/rooms").await;
    let rooms: serde_json::Value = serde_json::from_str(&rooms).unwrap();
    assert_eq!(rooms[0]["players"], 0, "{rooms}");

    // The old token takes nothing back: a Hello with it gets a new seat and a new ship.
    let mut again = hello_in(Role::Player, "leaver", "bye");
    again.resume = Some(token);
    let back = Client::join(&url, again).await;
    assert!(!back.welcome.resumed);
    assert_ne!(back.welcome.entity, ship);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_closing_for_a_fault_keeps_its_seat_and_resumes_it() {
    // 1002: a client that could not decode a message. 4002: the same from a browser, whose
    // WebSocket API may not send 1002. 1011: a client that failed. Each comes back with its
    // token and finds its ship, as after a dropped connection; nobody sees it leave.
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let room = "fault";
    let mut watcher = Client::join(&url, hello_in(Role::Spectator, "watcher", room)).await;
    for code in [1002, 4002, 1011] {
        let mut faulty = Client::join(&url, hello_in(Role::Player, "faulty", room)).await;
        faulty.next_world().await;
        let (player, token, ship) =
            (faulty.welcome.player_id, faulty.welcome.resume_token, faulty.welcome.entity);
        let seen = close_and_wait(&mut faulty.ws, code).await;
        assert!(
            matches!(seen, CloseSeen::Echoed { code: echoed, .. } if echoed == code),
            "{seen:?}"
        );

        let mut again = hello_in(Role::Player, "faulty", room);
        again.resume = Some(token);
        let mut back = Client::join(&url, again).await;
        assert!(back.welcome.resumed, "close {code}: the seat was not kept");
        assert_eq!((back.welcome.player_id, back.welcome.entity), (player, ship));
        back.next_world().await;
        // Its goodbye ends the seat at once; the watcher saw no other leave before it.
        let seen = close_and_wait(&mut back.ws, 1000).await;
        assert!(matches!(seen, CloseSeen::Echoed { code: 1000, .. }), "{seen:?}");
        let left = watcher.wait_left(player).await;
        assert!(left.tick.0 >= back.snapshots[0].header.tick.0, "close {code}: it left first");
        watcher.events.clear();
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_close_before_hello_is_echoed_too() {
    let server = TestServer::start(test_config()).await;
    let mut ws = open(&server.ws_url()).await;
    let seen = close_and_wait(&mut ws, 1000).await;
    assert!(matches!(seen, CloseSeen::Echoed { code: 1000, .. }), "{seen:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_close_with_another_code_is_echoed_with_that_code() {
    let server = TestServer::start(test_config()).await;
    let mut client = Client::join(&server.ws_url(), hello(Role::Player, "away")).await;
    client.next_world().await;
    let seen = close_and_wait(&mut client.ws, 1001).await;
    assert!(matches!(seen, CloseSeen::Echoed { code: 1001, .. }), "{seen:?}");
    // 1001 is a proper goodbye as well: the seat is gone, not kept for a resume.
    let deadline = Instant::now() + PATIENCE;
    while server.metric("tickwire_clients{role=\"player\"}").await > 0.0 {
        assert!(Instant::now() < deadline, "the seat was kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_close_waits_for_the_clients_answer_then_closes_tcp() {
    // A client that answers: the server closes TCP right after the answer. Its close timeout is
    // a minute, so a server that waited it out instead fails the read below (PATIENCE).
    let mut config = test_config();
    config.close_timeout = Duration::from_secs(60);
    let server = TestServer::start(config).await;
    let mut raw = RawWs::connect(server.addr).await;
    raw.send(&ClientMessage::Hello(hello(Role::Spectator, "input"))).await;
    // Spectators may not send input: 1008 from the server.
    raw.send(&ClientMessage::Input(tickwire_shared::Input {
        seq: tickwire_shared::InputSeq(1),
        x: 0,
        y: 0,
        buttons: tickwire_shared::Buttons(0),
    }))
    .await;
    let code = loop {
        match raw.next_frame().await {
            Some(RawFrame::Close(code, _)) => break code,
            Some(_) => continue,
            None => panic!("no close frame from the server"),
        }
    };
    assert_eq!(code, 1008);
    // Data the client sent after the server's close is read and discarded, not answered with
    // a reset.
    raw.send_binary(&[0x02, 0x00, 0x00, 0x00, 0x00]).await;
    raw.send_close(1008).await;
    // (`next_frame` panics if nothing, not even the end, comes within PATIENCE.)
    assert_eq!(raw.next_frame().await, None, "the server closes TCP cleanly (FIN, not reset)");
    server.shutdown().await;

    // A client that never answers: the server gives up after its close timeout. Its timer
    // starts once its close frame is written, after the bad message arrived: the client's
    // clock, started before it sent that message, has run at least as long when TCP closes.
    let close_timeout = Duration::from_secs(3);
    let mut config = test_config();
    config.close_timeout = close_timeout;
    let server = TestServer::start(config).await;
    let mut silent = RawWs::connect(server.addr).await;
    let started = Instant::now();
    silent.send_binary(b"not a hello").await;
    let code = loop {
        match silent.next_frame().await {
            Some(RawFrame::Close(code, _)) => break code,
            Some(_) => continue,
            None => panic!("no close frame from the server"),
        }
    };
    assert_eq!(code, 1002);
    assert_eq!(silent.next_frame().await, None, "TCP closed after the close timeout");
    let waited = started.elapsed();
    assert!(waited >= close_timeout, "it waited for an answer first: only {waited:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_kicked_client_sees_its_close_code_and_a_clean_end() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut client = Client::join(&url, hello(Role::Spectator, "kicked")).await;
    client
        .send(&ClientMessage::Input(tickwire_shared::Input {
            seq: tickwire_shared::InputSeq(1),
            x: 0,
            y: 0,
            buttons: tickwire_shared::Buttons(0),
        }))
        .await;
    // tungstenite answers the server's close and then expects the server to close TCP: an end
    // without a clean TCP close would surface as an error here.
    let closed = closed_with(&mut client.ws, None).await;
    closed.assert_is(1008, Some(KickReason::MalformedMessage), "spectators do not send input");
    let end = tokio::time::timeout(PATIENCE, client.ws.next()).await.expect("TCP closes");
    assert!(matches!(end, None | Some(Err(WsError::ConnectionClosed))), "{end:?}");
    server.shutdown().await;
}

/// A client whose close crosses the server's: it floods chat and closes in one write, so the
/// server kicks it and then reads its close before the writer has sent the kick. The client
/// gets the Kick and the server's close, once: no echo of its own close, nothing after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_that_crosses_a_kick_gets_the_kick_and_one_close_only() {
    let server = TestServer::start(test_config()).await;
    for round in 0..5 {
        let mut raw = RawWs::connect(server.addr).await;
        raw.join(hello(Role::Player, "spam")).await;
        let mut burst = Vec::new();
        for i in 0..12 {
            let chat = encode_client_to_vec(&ClientMessage::Chat(Chat {
                text: ChatText::truncated(&format!("spam {i}")),
            }));
            burst.extend(masked_frame(0x82, chat.len() as u64, &chat));
        }
        burst.extend(masked_frame(0x88, 2, &1000u16.to_be_bytes()));
        raw.write_raw(&burst).await.unwrap();
        let (mut kicked, mut closes, mut after_close) = (None, Vec::new(), 0);
        while let Some(frame) = raw.next_frame().await {
            match frame {
                RawFrame::Close(code, _) => closes.push(code),
                _ if !closes.is_empty() => after_close += 1,
                RawFrame::Binary(bytes) => {
                    if let Ok(ServerMessage::Kick(kick)) = decode_server(&bytes) {
                        kicked = Some(kick.reason);
                    }
                }
                _ => {}
            }
        }
        assert_eq!(closes, [1008], "round {round}: one close, the server's");
        assert_eq!(kicked, Some(KickReason::RateLimited), "round {round}");
        assert_eq!(after_close, 0, "round {round}: nothing after the close");
    }
    server.shutdown().await;
}
