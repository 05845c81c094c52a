//! End to end: the embedded client (on tokio, over `FromTokio<TcpStream>`) against the real
//! tickwire server on 127.0.0.1 port 0.

mod support;

use std::time::Duration;
use support::*;
use tickwire_client_embedded::{Config, Disconnect, Event, Pad};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_joins_gets_feedback_and_its_inputs_steer_the_ship() {
    let addr = start_server().await;
    let (probe, task) = spawn_client(addr, "e2e-steer", Config::DEFAULT);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    let joined = probe.joins()[0];
    assert!(!joined.resumed);
    let entity = joined.entity.expect("a controller owns a ship");
    probe.wait_for("feedback", |e| e.iter().any(|e| matches!(e, Event::Feedback(_)))).await;

    let mut spectator = Spectator::join(addr, "e2e-steer").await;
    let before = spectator.next_state_of(entity).await;
    *probe.pad.lock().unwrap() = Pad { x: 127, y: 0, buttons: 0 };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = spectator.next_state_of(entity).await;
        if now.vel.x > 5 && now.pos.x != before.pos.x {
            break; // flying right at > 5 units/s
        }
        assert!(tokio::time::Instant::now() < deadline, "ship never moved right: {now:?}");
    }
    *probe.pad.lock().unwrap() = Pad { x: -127, y: 0, buttons: 0 };
    loop {
        let now = spectator.next_state_of(entity).await;
        if now.vel.x < -5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ship never turned left: {now:?}");
    }
    assert_eq!(probe.count(|e| matches!(e, Event::Disconnected { .. })), 0);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reconnects_and_resumes_the_same_ship() {
    let addr = start_server().await;
    let proxy = Proxy::start(addr, false).await;
    let (probe, task) = spawn_client(proxy.addr, "e2e-resume", Config::DEFAULT);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    let first = probe.joins()[0];

    for cut in 1..=2 {
        // Let a feedback through first so the connection is in full flow.
        let seen = probe.count(|e| matches!(e, Event::Feedback(_)));
        probe
            .wait_for("feedback", |e| {
                e.iter().filter(|e| matches!(e, Event::Feedback(_))).count() > seen
            })
            .await;
        proxy.cut();
        probe
            .wait_for("resume", |e| {
                e.iter().filter(|e| matches!(e, Event::Joined(_))).count() > cut
            })
            .await;
        let again = probe.joins()[cut];
        assert!(again.resumed, "Welcome.resumed after cut {cut}");
        assert_eq!(again.player_id, first.player_id);
        assert_eq!(again.entity, first.entity);
    }
    let events = probe.events.lock().unwrap().clone();
    let drops: Vec<(Disconnect, u32)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Disconnected { reason, retry_in_ms } => Some((*reason, *retry_in_ms)),
            _ => None,
        })
        .collect();
    // The first retry is ~250 ms; the second connection lasted under `stable_after_ms` (5 s),
    // so it counts as a failed attempt and the delay doubles.
    assert!(drops.first().is_some_and(|&(_, ms)| ms <= 313), "{drops:?}");
    assert!(drops.get(1).is_some_and(|&(_, ms)| (375..=625).contains(&ms)), "{drops:?}");
    let reasons: Vec<Disconnect> = drops.iter().map(|&(reason, _)| reason).collect();
    assert_eq!(reasons.len(), 2, "{events:?}");
    assert!(
        reasons.iter().all(|r| matches!(r, Disconnect::Eof | Disconnect::Io(_))),
        "{reasons:?}"
    );
    assert_eq!(proxy.accepted(), 3);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_closes_with_1000_the_server_answers_and_the_seat_is_freed_at_once() {
    let addr = start_server().await;
    let (probe, _task) = spawn_client(addr, "e2e-leave", Config::DEFAULT);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    let joined = probe.joins()[0];
    let mut spectator = Spectator::join(addr, "e2e-leave").await;
    spectator.next_state_of(joined.entity.unwrap()).await;

    probe.leave.store(true, std::sync::atomic::Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let left = loop {
        if let Some(left) = *probe.left.lock().unwrap() {
            break left;
        }
        assert!(tokio::time::Instant::now() < deadline, "run did not return after leaving");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(left.answered, "the server answered the close frame");
    // The server counted the echo of a client-initiated 1000, and the seat is gone at once,
    // not kept for the 10 s resume grace.
    let metrics = http_get(addr, "/metrics").await;
    assert!(
        metrics.contains("tickwire_closes_total{code=\"1000\",initiator=\"client\"} 1"),
        "{metrics}"
    );
    let rooms: serde_json::Value = serde_json::from_str(&http_get(addr, "/rooms").await).unwrap();
    assert_eq!(rooms[0]["controllers"], 0, "{rooms}");
    assert_eq!(rooms[0]["players"], 0, "{rooms}");
    // It does not come back.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(probe.joins().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_writes_one_byte_at_a_time_still_works() {
    // The server pings a client silent for its heartbeat interval; this controller sends
    // nothing (no inputs, no pings) but its pongs, so it is closed as idle after 3 s unless
    // it answers the server's pings through the slow path.
    let addr = start_server_with(|c| {
        c.heartbeat_interval = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(3);
    })
    .await;
    // The proxy writes the server's bytes one at a time with a pause, so the client's reads
    // often wait mid-frame; its transport returns one byte a read whatever TCP coalesced, so
    // every frame reaches the client split into single bytes, every run.
    let proxy = Proxy::start(addr, true).await;
    let mut quiet = Config::DEFAULT;
    quiet.input_rate_hz = 0;
    quiet.ping_interval_ms = 0;
    let (probe, task) = spawn_client_reading_one_byte(proxy.addr, "e2e-bytes", quiet);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    probe
        .wait_for("three feedbacks", |e| {
            e.iter().filter(|e| matches!(e, Event::Feedback(_))).count() >= 3
        })
        .await;
    // Twice the idle timeout: still connected, so the pongs went out.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(probe.count(|e| matches!(e, Event::Disconnected { .. })), 0);
    assert_eq!(probe.joins().len(), 1);
    let reads = probe.reads.reads.load(std::sync::atomic::Ordering::Relaxed);
    let bytes = probe.reads.bytes.load(std::sync::atomic::Ordering::Relaxed);
    // Every read returns one byte by construction (`spawn_client_reading_one_byte`), so every
    // frame above arrived split; the counts are only reported (the client still reads as
    // they are loaded).
    println!("one byte a read: {bytes} bytes in {reads} reads");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_carries_its_join_token_in_the_url_built_into_its_firmware() {
    let addr = start_server_with(|c| c.join_secret = Some("s3cret".parse().unwrap())).await;
    // What a backend mints once for a device: long-lived, pinned to the controller role.
    let claims = tickwire_server::auth::JoinClaims {
        sub: "pico-7".into(),
        exp: tickwire_server::auth::unix_now() + 365 * 24 * 3600,
        nbf: None,
        room: Some("table-1".into()),
        role: Some("controller".into()),
    };
    let secret = tickwire_server::auth::MintKey::Secret("s3cret".into());
    let token = tickwire_server::auth::mint(&claims, &secret).unwrap();
    // As TICKWIRE_SERVER=ws://host:port?token=... gives it: a query alone, on the default path.
    let url = format!("ws://{addr}?token={token}");
    let parsed = tickwire_client_embedded::ServerUrl::parse(&url).unwrap();
    let (probe, task) = spawn_client_at(addr, parsed.path(), "table-1", Config::DEFAULT);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    assert!(probe.joins()[0].entity.is_some(), "the controller got its ship");
    task.abort();

    // Without the token the upgrade is refused with 401, and the firmware says so.
    let (probe, task) = spawn_client(addr, "table-1", Config::DEFAULT);
    probe
        .wait_for("a 401", |e| {
            e.iter().any(|e| {
                matches!(
                    e,
                    Event::Disconnected {
                        reason: Disconnect::Handshake(
                            tickwire_client_embedded::HandshakeError::Status(401)
                        ),
                        ..
                    }
                )
            })
        })
        .await;
    assert!(probe.joins().is_empty());
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_retried_with_backoff() {
    // A port with nothing listening: every attempt fails, delays grow.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (probe, task) = spawn_client(addr, "nowhere", Config::DEFAULT);
    probe
        .wait_for("four failures", |e| {
            e.iter().filter(|e| matches!(e, Event::Disconnected { .. })).count() >= 4
        })
        .await;
    let delays: Vec<u32> = probe
        .disconnects()
        .into_iter()
        .filter_map(|(reason, delay)| (reason == Disconnect::Connect).then_some(delay))
        .collect();
    // Refused connects are `Connect`; had they come out as another reason (e.g. a timeout), the
    // loop below would check nothing.
    assert!(delays.len() >= 4, "four refused connects, got {delays:?}");
    for (i, delay) in delays.iter().take(4).enumerate() {
        let base = 250u32 << i;
        assert!((base * 3 / 4..=base * 5 / 4).contains(delay), "attempt {i}: {delay} ms");
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_retried_at_the_first_delay_and_joined_again() {
    let (addr, stop, server) = start_stoppable_server("127.0.0.1:0".parse().unwrap()).await;
    let (probe, task) = spawn_client(addr, "e2e-restart", Config::DEFAULT);
    probe.wait_for("Welcome", |e| e.iter().any(|e| matches!(e, Event::Joined(_)))).await;
    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, server).await.expect("the server stops").unwrap();
    // Down until four attempts were refused: each waits the first delay (250 ms, jitter of
    // 25%), where the backoff would have doubled to 500 ms, 1 s, 2 s.
    let refused = |e: &Event| matches!(e, Event::Disconnected { reason: Disconnect::Connect, .. });
    probe.wait_for("four refused attempts", |e| e.iter().filter(|e| refused(e)).count() >= 4).await;
    let delays: Vec<u32> = probe.disconnects().into_iter().map(|(_, delay)| delay).collect();
    assert!(delays.len() >= 5, "the kick's and four refused: {delays:?}");
    assert!(delays.iter().all(|&delay| (187..=312).contains(&delay)), "{delays:?}");
    assert!(
        probe.events.lock().unwrap().iter().any(|e| matches!(
            e,
            Event::Kicked(kick) if kick.reason == tickwire_shared::KickReason::ShuttingDown
        )),
        "the server said it goes away"
    );

    // Back on the same address: the controller joins again (afresh: the new process holds no
    // seat).
    let (_, _stop, _server) = start_stoppable_server(addr).await;
    let joined = |e: &Event| matches!(e, Event::Joined(_));
    probe.wait_for("a second Welcome", |e| e.iter().filter(|e| joined(e)).count() >= 2).await;
    assert!(!probe.joins()[1].resumed, "a new process holds no seat");
    task.abort();
}

#[test]
fn memory_footprint_of_the_client_on_the_host() {
    // Sizes on x86_64 (pointers are 8 bytes; on a Cortex-M they are 4): a guard against the
    // state growing unnoticed. Buffers are the caller's and not included.
    use tickwire_client_embedded::{Buffers, Client, Identity, Session};
    let session = Session::new(Config::DEFAULT, Identity::controller("pico", None).unwrap(), 1);
    let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
    let buffers = Buffers::new(&mut rx, &mut tx, &mut msg).unwrap();
    let endpoint = tickwire_client_embedded::Endpoint { host: "h", path: "/ws" };
    let addr = "127.0.0.1:9".parse().unwrap();
    let mut client = Client::new(
        TokioConnector(addr, ReadStats::default(), usize::MAX),
        rand_core::OsRng,
        Config::DEFAULT,
        Identity::controller("pico", None).unwrap(),
        endpoint,
        buffers,
    )
    .unwrap();
    let mut app = Probe::default();
    let run = client.run(&mut app);
    let (session_size, run_size) = (size_of_val(&session), size_of_val(&run));
    println!("Session: {session_size} bytes; Client::run future: {run_size} bytes");
    assert!(session_size <= 1024, "Session is {session_size} bytes");
    assert!(run_size <= 4096, "Client::run future is {run_size} bytes");
}
