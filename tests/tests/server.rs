//! End-to-end tests: the real server on 127.0.0.1 port 0, real WebSocket clients.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::quant::dequantize_position;
use tickwire_shared::{
    Ack, Buttons, Chat, ChatText, ClientMessage, EntityId, EventKind, Input, InputSeq, KickReason,
    Ping, Role, ServerMessage,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn join_and_receive_snapshots_at_the_tick_rate() {
    let config = test_config();
    let period = config.tick_period();
    let server = TestServer::start(config).await;
    // Before the join that opens the room: its ticker starts after this.
    let before_the_room = Instant::now();
    let mut player = Client::join(&server.ws_url(), hello(Role::Player, "ada")).await;
    assert_eq!(player.welcome.tick_rate, 30);
    assert!(!player.welcome.resumed);
    assert_eq!(player.welcome.entity, Some(EntityId(u32::from(player.welcome.player_id.0))));

    let first = player.next_world().await;
    let mut last = first.tick.0;
    for _ in 0..45 {
        let world = player.next_world().await;
        assert!(world.tick.0 > last, "ticks only move forward");
        last = world.tick.0;
    }
    // Never faster than the tick rate: the room's tick n runs no sooner than n - 1 periods
    // after its ticker started (missed ticks are skipped, never made up in a burst), so by
    // the time tick `last` arrived that long has passed. A one-sided bound that a slow or
    // loaded machine only widens; how slow the ticks may get is for the benchmarks.
    let waited = before_the_room.elapsed();
    assert!(waited >= period * (last - 1), "tick {last} arrived {waited:?} after the join");
    // The first snapshot is full; acked, it is followed by deltas. (A full one may come again
    // later: after a stall of this machine long enough that the client's acks fell behind.)
    assert_eq!(player.snapshots[0].header.baseline, None);
    let deltas = player.snapshots.iter().skip(1).filter(|s| s.header.baseline.is_some()).count();
    assert!(deltas > 0, "no deltas in {} snapshots", player.snapshots.len());
    // The player's own ship is in its world.
    let ship = player.welcome.entity.unwrap();
    assert!(player.latest().unwrap().get(ship).is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn inputs_move_the_ship_and_are_echoed_as_processed() {
    let server = TestServer::start(test_config()).await;
    let mut player = Client::join(&server.ws_url(), hello_in(Role::Player, "mover", "move")).await;
    let ship = player.welcome.entity.unwrap();
    let start = player.next_world().await.get(ship).unwrap().pos;
    let mut last_seq = tickwire_shared::InputSeq(0);
    for _ in 0..20 {
        // Thrust left or right, whichever has more room.
        let x = if start.x > 800 * 16 { -127 } else { 127 };
        last_seq = player.input(x, 0, 0).await;
        player.next_world().await;
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let world = player.next_world().await;
        let snap = player.snapshots.last().unwrap();
        if snap.header.last_input == last_seq {
            let now = world.get(ship).unwrap().pos;
            let moved = dequantize_position(now) - dequantize_position(start);
            assert!(moved.x.abs() > 20.0, "ship moved {moved:?}");
            assert!(moved.x.abs() > moved.y.abs(), "ship moved mostly along x: {moved:?}");
            break;
        }
        assert!(Instant::now() < deadline, "last input never echoed");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn inputs_a_stalled_uplink_held_back_arriving_together_are_not_a_flood() {
    // Three seconds of a game's inputs at 100 a second, as they arrive when a stall of the
    // client's uplink ends: the player plays on, and the newest of them is applied.
    let server = TestServer::start(test_config()).await;
    let mut player = Client::join(&server.ws_url(), hello_in(Role::Player, "wifi", "stall")).await;
    player.next_world().await;
    let mut burst = Vec::new();
    for seq in 1..=300 {
        let input = Input { seq: InputSeq(seq), x: 1, y: 1, buttons: Buttons(0) };
        burst.push(Message::Binary(encode_client_to_vec(&ClientMessage::Input(input)).into()));
    }
    for message in burst {
        player.ws.feed(message).await.unwrap();
    }
    player.ws.flush().await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        player.next_world().await;
        if player.snapshots.last().unwrap().header.last_input == InputSeq(300) {
            break;
        }
        assert!(Instant::now() < deadline, "the newest input was never applied");
    }
    assert_eq!(player.last_kick, None);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_rebuilt_from_deltas_equals_full_snapshots_of_the_same_tick() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut mover = Client::join(&url, hello_in(Role::Player, "mover", "same")).await;
    let mut acking = Client::join(&url, hello_in(Role::Spectator, "delta", "same")).await;
    let mut full = Client::join(&url, hello_in(Role::Spectator, "full", "same")).await;
    full.auto_ack = false;
    for i in 0..60 {
        mover.input(if i % 20 < 10 { 127 } else { -127 }, 60, (i % 3 == 0) as u8).await;
        mover.next_world().await;
        acking.next_world().await;
        full.next_world().await;
    }
    assert!(full.snapshots.iter().all(|s| s.header.baseline.is_none()));
    assert!(acking.snapshots.iter().filter(|s| s.header.baseline.is_some()).count() > 50);
    let extrapolated = acking.snapshots.iter().filter(|s| s.header.reference.is_some()).count();
    assert!(extrapolated > 40, "{extrapolated} snapshots extrapolated from a reference");
    let mut compared = 0;
    for (tick, world) in &acking.rebuilt {
        if let Some(reference) = full.rebuilt.get(tick) {
            assert_eq!(world, reference, "tick {tick}");
            compared += 1;
        }
    }
    assert!(compared > 20, "compared {compared} ticks");
    // Deltas are smaller than full snapshots of the same world.
    let delta_bytes: usize = acking.snapshots.iter().skip(5).map(|s| s.body.len()).sum();
    let full_bytes: usize = full.snapshots.iter().skip(5).map(|s| s.body.len()).sum();
    assert!(delta_bytes * 3 < full_bytes, "delta bodies {delta_bytes} B vs full {full_bytes} B");
    server.shutdown().await;
}

/// PROTOCOL.md 6.1: on a WebSocket the client holds itself, what the server's socket took
/// is what the client will hold, so a spectator acking every 30 ticks (as tickwire's clients
/// do) still gets each snapshot as a delta against the one it received just before,
/// never against one it did not receive.
#[tokio::test]
async fn a_spectator_acking_rarely_gets_deltas_against_the_snapshot_before() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut mover = Client::join(&url, hello_in(Role::Player, "mover", "rare")).await;
    let mut eve = Client::join(&url, hello_in(Role::Spectator, "eve", "rare")).await;
    watch_acking_as_spectators_do(&mut mover, &mut eve, 48).await;
    let snapshots = &eve.snapshots;
    assert_eq!(snapshots[0].header.baseline, None, "nothing acked yet: a full snapshot");
    let mut against_the_one_before = 0;
    for pair in snapshots.windows(2) {
        // A full snapshot is allowed (a machine stalled past the ring); any delta must be
        // against the snapshot received just before it, which the client holds.
        if let Some(baseline) = pair[1].header.baseline {
            assert_eq!(baseline, pair[0].header.tick, "snapshot {:?}", pair[1].header.tick);
            against_the_one_before += 1;
        }
    }
    assert!(against_the_one_before > 40, "{against_the_one_before} of 47 deltas");
    server.shutdown().await;
}

#[tokio::test]
async fn interest_management_hides_far_entities_from_players_only() {
    let mut config = test_config();
    config.view_radius = 150;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut player = Client::join(&url, hello_in(Role::Player, "near", "view")).await;
    let mut spectator = Client::join(&url, hello_in(Role::Spectator, "all", "view")).await;
    let ship = player.welcome.entity.unwrap();
    let mine = player.next_world().await;
    let everything = spectator.next_world().await;
    let centre = dequantize_position(mine.get(ship).unwrap().pos);
    assert!(everything.entities.len() > mine.entities.len(), "the spectator sees more");
    for e in &mine.entities {
        let d = dequantize_position(e.pos).distance(centre);
        assert!(d <= 150.5, "entity {:?} at distance {d}", e.id);
    }
    let hidden = everything
        .entities
        .iter()
        .filter(|e| dequantize_position(e.pos).distance(centre) > 151.0)
        .count();
    assert!(hidden > 0);
    server.shutdown().await;
}

/// Steers toward the nearest pickup until the score rises.
async fn score_a_point(player: &mut Client) -> u16 {
    let ship = player.welcome.entity.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let world = player.next_world().await;
        let me = world.get(ship).unwrap();
        if me.value > 0 {
            return me.value;
        }
        let here = dequantize_position(me.pos);
        let target = world
            .entities
            .iter()
            .filter(|e| e.kind == 1)
            .map(|e| dequantize_position(e.pos))
            .min_by(|a, b| a.distance(here).total_cmp(&b.distance(here)));
        let dir = target.map_or(glam::Vec2::ZERO, |t| (t - here).normalize_or_zero());
        player.input((dir.x * 127.0) as i8, (dir.y * 127.0) as i8, 0).await;
        assert!(Instant::now() < deadline, "never reached a pickup");
    }
}

#[tokio::test]
async fn resume_after_an_abrupt_disconnect_keeps_ship_and_score() {
    let mut config = test_config();
    config.view_radius = 0; // see the whole field to find pickups
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut player = Client::join(&url, hello_in(Role::Player, "phoenix", "resume")).await;
    let score = score_a_point(&mut player).await;
    assert!(score > 0);
    let (id, ship, token) =
        (player.welcome.player_id, player.welcome.entity.unwrap(), player.welcome.resume_token);
    player.drop_abruptly();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = hello_in(Role::Player, "phoenix", "resume");
    again.resume = Some(token);
    let mut resumed = Client::join(&url, again).await;
    assert!(resumed.welcome.resumed);
    assert_eq!(resumed.welcome.player_id, id);
    assert_eq!(resumed.welcome.entity, Some(ship));
    let world = resumed.next_world().await;
    assert_eq!(resumed.snapshots[0].header.baseline, None, "a resumed client starts from full");
    assert!(world.get(ship).unwrap().value >= score, "score kept");
    assert!(server.metric("tickwire_resumes_total").await >= 1.0);
    // A resume is not a join: one seat given, taken back once.
    assert_eq!(server.metric("tickwire_joins_total{role=\"player\"}").await, 1.0);

    // A token from nowhere is not an error: it joins fresh.
    let mut stranger = hello_in(Role::Player, "stranger", "resume");
    stranger.resume = Some(tickwire_shared::ResumeToken([9; 16]));
    let fresh = Client::join(&url, stranger).await;
    assert!(!fresh.welcome.resumed);
    assert_ne!(fresh.welcome.player_id, id);
    server.shutdown().await;
}

/// A newcomer's roster names each player with the score so far, so its scoreboard is whole
/// before it sees their ships (a server's first round lasts 120 s, past this test).
#[tokio::test]
async fn a_newcomers_roster_carries_every_players_score_so_far() {
    let mut config = test_config();
    config.view_radius = 0; // see the whole field to find pickups
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut player = Client::join(&url, hello_in(Role::Player, "scorer", "scores")).await;
    let score = score_a_point(&mut player).await;
    let id = player.welcome.player_id;
    for role in [Role::Spectator, Role::Player] {
        let mut newcomer = Client::join(&url, hello_in(role, "late", "scores")).await;
        let joined = newcomer
            .wait_event(|e| matches!(e, EventKind::Joined { player, .. } if *player == id))
            .await;
        let EventKind::Joined { score: told, .. } = joined.kind else { unreachable!() };
        assert!(told >= score, "a {role:?} is told {told}, the scorer has {score}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_seat_expires_after_the_grace_period() {
    let grace = Duration::from_secs(1);
    let mut config = test_config();
    config.resume_grace = grace;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut watcher = Client::join(&url, hello_in(Role::Spectator, "watch", "expire")).await;
    let player = Client::join(&url, hello_in(Role::Player, "gone", "expire")).await;
    let id = player.welcome.player_id;
    let dropped = Instant::now();
    player.drop_abruptly();
    let left =
        watcher.wait_event(|e| matches!(e, EventKind::Left { player } if *player == id)).await;
    // The seat waited out the grace: the server learns of the drop after it happened, keeps
    // the seat a grace from then, and the Left goes out after that, so its arrival is at
    // least a grace after the drop however slow this machine is. (Counting ticks instead
    // would not do: the room skips the ticks a stall of its thread misses, so a loaded
    // machine runs fewer than a grace's worth.) A seat removed at the drop leaves at once.
    let waited = dropped.elapsed();
    assert!(waited >= grace, "left {waited:?} after the drop, within the {grace:?} grace");
    let mut world = watcher.next_world().await;
    while world.tick < left.tick {
        world = watcher.next_world().await;
    }
    assert!(world.get(EntityId(u32::from(id.0))).is_none(), "ship removed");
    server.shutdown().await;
}

// Multi-threaded: the clients' tasks and the server's connections do not wait on one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_skips_frames_and_is_dropped_without_slowing_others() {
    let mut config = test_config();
    config.socket_send_buffer = 4096;
    config.slow_client_timeout = Duration::from_millis(1500);
    config.tick_rate = 60;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    // The stalled client never acks, so it is sent full snapshots; it reads nothing.
    let mut stalled = Client::join_over(
        open_small_buffer(server.addr).await,
        hello_in(Role::Spectator, "stalled", "slow"),
    )
    .await;
    stalled.auto_ack = false;
    let mut healthy = Client::join(&url, hello_in(Role::Spectator, "healthy", "slow")).await;
    for _ in 0..8 {
        Client::join(&url, hello_in(Role::Player, "filler", "slow")).await.drop_abruptly();
    }

    // The healthy client keeps receiving, every message within PATIENCE, all through the
    // stall, until the room tells it the audience is down to itself: the stalled spectator
    // was closed for making no progress (its seat goes at once). Its Welcome counted both.
    let kicked = healthy.wait_event(|e| matches!(e, EventKind::Audience { spectators: 1 })).await;
    // ...and on after it.
    healthy.snapshots_past(kicked.tick, 30).await;

    // Reading again, the stalled client finds its backlog cut short by a 1008 close.
    stalled.closed().await.assert_is(1008, Some(KickReason::TooSlow), "no progress");
    // Counted by its kick's reason, which close 1008 alone does not tell.
    assert_eq!(server.metric("tickwire_kicks_total{reason=\"too_slow\"}").await, 1.0);
    let closes = server.metric("tickwire_closes_total{code=\"1008\",initiator=\"server\"}").await;
    assert_eq!(closes, 1.0);
    // Meanwhile the room replaced the frame the stalled client had not taken, rather than
    // waiting for its socket, and counted it. (How many depends on how many ticks a loaded
    // machine ran during the 1.5 s; the room's own tests count them exactly.)
    let skipped = server.metric("tickwire_frames_skipped_total").await;
    assert!(skipped > 0.0, "no frame counted as skipped");
    server.shutdown().await;
}

/// A client that never reads again cannot take its close frame either; the close is the
/// server's all the same, counted (by code and by its kick's reason) for operators' alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_again_is_counted_as_closed_too_slow() {
    let mut config = test_config();
    config.socket_send_buffer = 4096;
    config.slow_client_timeout = Duration::from_millis(500);
    config.close_timeout = Duration::from_millis(300);
    let server = TestServer::start(config).await;
    let mut stalled = Client::join_over(
        open_small_buffer(server.addr).await,
        hello_in(Role::Spectator, "stalled", "never"),
    )
    .await;
    stalled.auto_ack = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.metric("tickwire_kicks_total{reason=\"too_slow\"}").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "the slow client's kick was counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let closes = server.metric("tickwire_closes_total{code=\"1008\",initiator=\"server\"}").await;
    assert_eq!(closes, 1.0, "and its close, though no close frame could reach it");
    assert_eq!(server.metric("tickwire_clients{role=\"spectator\"}").await, 0.0);
    drop(stalled);
    server.shutdown().await;
}

/// With the kernel's send buffer left to autotune (the default, which on loopback starts at
/// megabytes), a client that reads nothing is closed all the same: its writes stop making
/// progress once `--socket-unsent-limit` bytes wait unsent, not once the buffer is full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_with_the_default_socket_buffers() {
    let mut config = test_config();
    assert_eq!(config.socket_send_buffer, 0, "the kernel's own, autotuned");
    assert_eq!(config.socket_unsent_limit, 16 * 1024);
    config.slow_client_timeout = Duration::from_millis(500);
    config.close_timeout = Duration::from_millis(300);
    config.tick_rate = 60;
    config.room_capacity = 40;
    let server = TestServer::start(config).await;
    // Ships make its snapshots some 30 KB a second, so the limit fills within a second; the
    // seats of those dropped stay for their resume grace, which outlasts the test.
    for _ in 0..40 {
        let filler = Client::join(&server.ws_url(), hello_in(Role::Player, "filler", "deaf")).await;
        filler.drop_abruptly();
    }
    let mut stalled = Client::join_over(
        open_small_buffer(server.addr).await,
        hello_in(Role::Spectator, "stalled", "deaf"),
    )
    .await;
    stalled.auto_ack = false;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.metric("tickwire_kicks_total{reason=\"too_slow\"}").await < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "a client reading nothing still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.metric("tickwire_clients{role=\"spectator\"}").await, 0.0);
    drop(stalled);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_whose_pongs_pile_up_is_too_slow_and_keeps_its_seat() {
    let mut config = test_config();
    config.socket_send_buffer = 4096;
    // Only the pongs decide here, not the time without write progress.
    config.slow_client_timeout = Duration::from_secs(60);
    let server = TestServer::start(config).await;
    let mut deaf =
        Client::join_over(open_small_buffer(server.addr).await, hello(Role::Player, "deaf")).await;
    let (id, token) = (deaf.welcome.player_id, deaf.welcome.resume_token);
    // Snapshots fill the socket's buffers while it reads nothing; then it asks for round trips
    // whose answers cannot leave.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for nonce in 0..5_000 {
        if !deaf.try_send(&ClientMessage::Ping(Ping { nonce })).await {
            break;
        }
    }
    deaf.closed().await.assert_is(1008, Some(KickReason::TooSlow), "not reading");
    // Too slow keeps the seat for a resume, as the room's own slow-client rule does.
    let mut again = hello(Role::Player, "deaf");
    again.resume = Some(token);
    let back = Client::join(&server.ws_url(), again).await;
    assert!(back.welcome.resumed, "the seat was given up");
    assert_eq!(back.welcome.player_id, id);
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_refusals_are_http_statuses_with_messages() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://play.example".into()];
    let server = TestServer::start(config).await;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let upgrade = |extra: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{extra}\r\n"
        )
    };
    let (status, _, body) = http_request(server.addr, &upgrade("")).await;
    assert_eq!(status, 400);
    assert!(body.contains("tickwire.v1"), "{body}");

    let (status, _, body) = http_request(
        server.addr,
        &upgrade("Sec-WebSocket-Protocol: tickwire.v1\r\nOrigin: https://evil.example\r\n"),
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("evil.example"));

    let (status, head, _) = http_request(
        server.addr,
        &upgrade("Sec-WebSocket-Protocol: tickwire.v1\r\nOrigin: https://play.example\r\n"),
    )
    .await;
    assert_eq!(status, 101, "{head}");

    // Upgrade without Connection: upgrade is a cross-protocol attempt.
    let half = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: tickwire.v1\r\nConnection: close\r\n\r\n"
    );
    let (status, _, body) = http_request(server.addr, &half).await;
    assert_eq!(status, 400);
    assert!(body.contains("cross-protocol"), "{body}");

    let (status, head, _) =
        http_request(server.addr, "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 426);
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"));

    let wrong_version =
        upgrade("Sec-WebSocket-Protocol: tickwire.v1\r\n").replace("Version: 13", "Version: 8");
    let (status, _, _) = http_request(server.addr, &wrong_version).await;
    assert_eq!(status, 426);
    server.shutdown().await;
}

/// SECURITY.md: every refusal is counted in `tickwire_refused_total{reason}`.
#[tokio::test]
async fn an_upgrade_without_a_key_is_refused_and_counted() {
    let server = TestServer::start(test_config()).await;
    let keyless = "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickwire.v1\r\n\r\n";
    let (status, _, body) = http_request(server.addr, keyless).await;
    assert_eq!(status, 400);
    assert!(body.contains("Sec-WebSocket-Key"), "{body}");
    assert_eq!(server.metric("tickwire_refused_total{reason=\"ws_key\"}").await, 1.0);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_messages_get_their_close_codes_while_others_keep_playing() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut bystander = Client::join(&url, hello_in(Role::Player, "calm", "bad")).await;
    let before = bystander.next_world().await.tick.0;

    // A client of protocol 1 (before the bit-packed snapshots): a Kick saying so, then 1002.
    let mut ws = open(&url).await;
    let mut old = hello_in(Role::Player, "old", "bad");
    old.version = 1;
    send_raw(&mut ws, &ClientMessage::Hello(old)).await;
    let closed = closed_with(&mut ws, None).await;
    assert_eq!(closed.code, 1002);
    let mismatch = KickReason::VersionMismatch { server: tickwire_shared::PROTOCOL_VERSION };
    assert_eq!(closed.kick.map(|k| k.reason), Some(mismatch));
    let said = format!("protocol {}, the client 1", tickwire_shared::PROTOCOL_VERSION);
    assert!(closed.reason.contains(&said), "{}", closed.reason);

    // First message not a Hello.
    let mut ws = open(&url).await;
    send_raw(&mut ws, &ClientMessage::Ping(Ping { nonce: 1 })).await;
    let closed = closed_with(&mut ws, None).await;
    assert_eq!((closed.code, closed.kick.map(|k| k.reason)), (1002, Some(KickReason::BadHello)));

    let mut refused = Vec::new();

    // Garbage after joining.
    let mut garbage = Client::join(&url, hello_in(Role::Player, "g", "bad")).await;
    refused.push(garbage.welcome.player_id);
    garbage.ws.send(Message::Binary(vec![7, 1, 2, 3].into())).await.unwrap();
    let closed = garbage.closed().await;
    assert_eq!(closed.code, 1002);
    assert_eq!(closed.kick.map(|k| k.reason), Some(KickReason::MalformedMessage));

    // Oversized.
    let mut big = Client::join(&url, hello_in(Role::Player, "big", "bad")).await;
    refused.push(big.welcome.player_id);
    big.ws.send(Message::Binary(vec![3; 4000].into())).await.unwrap();
    assert_eq!(big.closed().await.code, 1009);

    // Text frames.
    let mut text = Client::join(&url, hello_in(Role::Player, "txt", "bad")).await;
    refused.push(text.welcome.player_id);
    text.ws.send(Message::Text("hi".into())).await.unwrap();
    assert_eq!(text.closed().await.code, 1003);

    // Invalid UTF-8 in a chat line: tag 3, length 2, then bytes that are not UTF-8.
    let mut utf = Client::join(&url, hello_in(Role::Player, "utf", "bad")).await;
    refused.push(utf.welcome.player_id);
    utf.ws.send(Message::Binary(vec![3, 2, 0xc3, 0x28].into())).await.unwrap();
    assert_eq!(utf.closed().await.code, 1007);

    // Input flood.
    let mut flood = Client::join(&url, hello_in(Role::Player, "flood", "bad")).await;
    refused.push(flood.welcome.player_id);
    for seq in 1..=2000 {
        let input = Input { seq: InputSeq(seq), x: 1, y: 1, buttons: Buttons(0) };
        if !flood.try_send(&ClientMessage::Input(input)).await {
            break; // closed and gone already: the close frame is still there to read
        }
    }
    let closed = flood.closed().await;
    assert_eq!((closed.code, closed.kick.map(|k| k.reason)), (1008, Some(KickReason::RateLimited)));

    // The bystander never noticed.
    let after = bystander.next_world().await.tick.0;
    assert!(after > before);
    // A refused client's seat ends at once (no resume for misbehaving clients).
    for id in refused {
        bystander.wait_event(|e| matches!(e, EventKind::Left { player } if *player == id)).await;
    }
    assert!(
        server.metric("tickwire_closes_total{code=\"1002\",initiator=\"server\"}").await >= 3.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn silence_and_a_missing_hello_are_closed_with_1008() {
    let mut config = test_config();
    // Long enough for this test's own client to open and send its Hello on a loaded machine.
    config.handshake_timeout = Duration::from_secs(2);
    config.idle_timeout = Duration::from_millis(400);
    config.heartbeat_interval = Duration::from_secs(30);
    let server = TestServer::start(config).await;
    let mut mute = open(&server.ws_url()).await;
    assert_eq!(closed_with(&mut mute, None).await.code, 1008);

    let player = Client::join(&server.ws_url(), hello(Role::Player, "quiet")).await;
    let closed = player.closed().await;
    assert_eq!((closed.code, closed.kick.map(|k| k.reason)), (1008, Some(KickReason::Idle)));
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_room_answers_1013() {
    let mut config = test_config();
    config.room_capacity = 1;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let _first = Client::join(&url, hello_in(Role::Player, "one", "tiny")).await;
    let mut ws = open(&url).await;
    send_raw(&mut ws, &ClientMessage::Hello(hello_in(Role::Player, "two", "tiny"))).await;
    let closed = closed_with(&mut ws, None).await;
    assert_eq!((closed.code, closed.kick.map(|k| k.reason)), (1013, Some(KickReason::Full)));
    // Matchmaking puts the next player in a new room instead.
    let other = Client::join(&url, hello(Role::Player, "three")).await;
    assert_ne!(other.welcome.room.as_str(), "tiny");
    server.shutdown().await;
}

#[tokio::test]
async fn matchmaking_fills_the_fullest_open_room() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let _a = Client::join(&url, hello_in(Role::Player, "a", "small")).await;
    let _b = Client::join(&url, hello_in(Role::Player, "b", "big")).await;
    let _c = Client::join(&url, hello_in(Role::Player, "c", "big")).await;
    let d = Client::join(&url, hello(Role::Player, "d")).await;
    assert_eq!(d.welcome.room.as_str(), "big");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_1001_to_everyone() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut a = Client::join(&url, hello(Role::Player, "a")).await;
    let mut b = Client::join(&url, hello(Role::Spectator, "b")).await;
    let c = Client::join(&url, hello(Role::Controller, "c")).await;
    a.next_world().await;
    b.next_world().await;
    let stopping = tokio::spawn(server.shutdown());
    for client in [a, b, c] {
        let closed = client.closed().await;
        assert_eq!(closed.code, 1001);
        assert_eq!(closed.kick.map(|k| k.reason), Some(KickReason::ShuttingDown));
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn chat_reaches_the_room_and_pings_are_answered() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut alice = Client::join(&url, hello_in(Role::Player, "alice", "chat")).await;
    let mut bob = Client::join(&url, hello_in(Role::Spectator, "bob", "chat")).await;
    // Bob learns who was already there.
    bob.wait_event(|e| matches!(e, EventKind::Joined { name, .. } if name.as_str() == "alice"))
        .await;
    alice
        .send(&ClientMessage::Chat(Chat {
            text: ChatText::truncated("  h\u{e9}llo \u{1F680}\u{7} "),
        }))
        .await;
    let event = bob.wait_event(|e| matches!(e, EventKind::Chat { .. })).await;
    match event.kind {
        EventKind::Chat { from, name, text } => {
            assert_eq!(from, alice.welcome.player_id);
            assert_eq!(name.as_str(), "alice");
            assert_eq!(
                text.as_str(),
                "h\u{e9}llo \u{1F680}",
                "trimmed, control characters removed"
            );
        }
        _ => unreachable!(),
    }
    alice.send(&ClientMessage::Ping(Ping { nonce: 4242 })).await;
    loop {
        if let Some(ServerMessage::Pong(pong)) = alice.recv().await {
            assert_eq!(pong.nonce, 4242);
            assert!(pong.server_tick.0 > 0);
            break;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn controllers_get_feedback_and_no_snapshots() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut pad = Client::join(&url, hello_in(Role::Controller, "pad", "ctl")).await;
    assert!(pad.welcome.entity.is_some(), "a controller steers a ship");
    let mut spectator = Client::join(&url, hello_in(Role::Spectator, "eye", "ctl")).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        pad.input(127, 0, 1).await;
        match pad.recv().await {
            Some(ServerMessage::Snapshot(_)) => panic!("controllers receive no snapshots"),
            Some(ServerMessage::Event(_)) => panic!("controllers receive no events"),
            _ => {}
        }
    }
    // Feedback on change and at least once a second, never every tick.
    assert!(pad.feedback.len() >= 2, "{} feedback messages", pad.feedback.len());
    assert!(pad.feedback.len() < 40, "{} feedback messages", pad.feedback.len());
    assert!(pad.feedback.iter().all(|f| f.alive));
    let world = spectator.next_world().await;
    assert!(world.get(pad.welcome.entity.unwrap()).is_some(), "its ship is in the world");
    let rooms = server.get("/rooms").await.2;
    let rooms: serde_json::Value = serde_json::from_str(&rooms).unwrap();
    let ctl = rooms.as_array().unwrap().iter().find(|r| r["id"] == "ctl").unwrap();
    assert_eq!(ctl["controllers"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn http_endpoints_answer() {
    let server = TestServer::start(test_config()).await;
    let _p = Client::join(&server.ws_url(), hello_in(Role::Player, "p", "http")).await;
    let (status, _, body) = server.get("/healthz").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _, body) = server.get("/rooms").await;
    assert_eq!(status, 200);
    let rooms: serde_json::Value = serde_json::from_str(&body).unwrap();
    let room = &rooms.as_array().unwrap()[0];
    assert_eq!(room["id"], "http");
    assert_eq!(room["players"], 1);
    assert_eq!(room["capacity"], 32);
    assert!(room["tick"].as_u64().is_some());
    let (status, head, body) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(head.contains("openmetrics"));
    for metric in [
        "tickwire_clients{role=\"player\"} 1",
        "tickwire_rooms 1",
        "tickwire_tick_duration_seconds_bucket",
        "tickwire_late_ticks_total",
        "tickwire_frames_sent_total",
        "tickwire_bytes_sent_total",
        "tickwire_frames_skipped_total",
        "tickwire_resumes_total",
    ] {
        assert!(body.contains(metric), "missing {metric} in\n{body}");
    }
    // Counted once the room knows its Welcome was handed over, on the room's thread: the
    // client may read it first.
    let deadline = Instant::now() + PATIENCE;
    while server.metric("tickwire_joins_total{role=\"player\"}").await != 1.0 {
        assert!(Instant::now() < deadline, "the join is not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The player's Hello and its acks, at least.
    assert!(server.metric("tickwire_bytes_received_total").await >= 9.0);
    let (status, _, body) = server.get("/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("/ws"));
    let (status, _, body) = server.get("/echo").await;
    assert_eq!(status, 404, "echo is off by default");
    assert!(body.contains("--echo"));
    server.shutdown().await;
}

#[tokio::test]
async fn the_echo_endpoint_echoes_when_enabled() {
    let mut config = test_config();
    config.echo = true;
    let server = TestServer::start(config).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/echo", server.addr)).await.unwrap();
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    ws.send(Message::Text("h\u{e9}".into())).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        if let m @ (Message::Binary(_) | Message::Text(_)) = ws.next().await.unwrap().unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, vec![Message::Binary(vec![1, 2, 3].into()), Message::Text("h\u{e9}".into())]);
    ws.close(None).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn frames_decode_with_the_shared_codec_only() {
    // Every binary message a player receives is one whole protocol message.
    let server = TestServer::start(test_config()).await;
    let mut ws = open(&server.ws_url()).await;
    send_raw(&mut ws, &ClientMessage::Hello(hello(Role::Player, "raw"))).await;
    let mut kinds = Vec::new();
    while kinds.len() < 5 {
        if let Some(Ok(Message::Binary(bytes))) = ws.next().await {
            kinds.push(match decode_server(&bytes).expect("whole message") {
                ServerMessage::Welcome(_) => "welcome",
                ServerMessage::Snapshot(_) => "snapshot",
                ServerMessage::Event(_) => "event",
                _ => "other",
            });
        }
    }
    assert_eq!(kinds[0], "welcome");
    assert!(kinds.contains(&"snapshot"));
    server.shutdown().await;
}

#[tokio::test]
async fn empty_rooms_close_after_the_grace_period() {
    let mut config = test_config();
    config.room_idle_grace = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut player = Client::join(&server.ws_url(), hello_in(Role::Player, "p", "brief")).await;
    player.next_world().await;
    assert!(server.get("/rooms").await.2.contains("brief"));
    player.ws.close(None).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while server.get("/rooms").await.2.contains("brief") {
        assert!(Instant::now() < deadline, "the empty room never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.metric("tickwire_rooms").await, 0.0);
    server.shutdown().await;
}

#[tokio::test]
async fn connection_caps_answer_429_and_503() {
    let mut config = test_config();
    config.max_connections_per_ip = 1;
    let server = TestServer::start(config).await;
    let _first = Client::join(&server.ws_url(), hello(Role::Player, "one")).await;
    let upgrade = &upgrade_request("", "");
    let (status, head, body) = http_request(server.addr, upgrade).await;
    assert_eq!(status, 429);
    assert!(head.to_ascii_lowercase().contains("retry-after"));
    assert!(body.contains("too many connections"));
    assert_eq!(server.metric("tickwire_refused_total{reason=\"per_ip\"}").await, 1.0);
    assert_eq!(server.metric("tickwire_refused_total{reason=\"tcp_per_ip\"}").await, 0.0);
    // A page's plain GET asking why (the browser hid the 429) is told the same, uncounted.
    let plain = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, head, body) = http_request(server.addr, plain).await;
    assert_eq!(status, 429, "{head}");
    assert!(body.contains("too many connections"), "{body}");
    assert_eq!(server.metric("tickwire_refused_total{reason=\"per_ip\"}").await, 1.0);
    server.shutdown().await;

    let mut config = test_config();
    config.max_connections = 1;
    let server = TestServer::start(config).await;
    let first = Client::join(&server.ws_url(), hello(Role::Player, "one")).await;
    let (status, _, body) = http_request(server.addr, upgrade).await;
    assert_eq!(status, 503);
    assert!(body.contains("connection limit"));
    // A page whose WebSocket did not open asks why with a plain GET (the browser hid the
    // 503): it is told the same, and the refusal is counted once, for the upgrade.
    let plain = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (status, head, body) = http_request(server.addr, plain).await;
    assert_eq!(status, 503, "{head}");
    assert!(body.contains("connection limit") && head.to_lowercase().contains("retry-after"));
    assert_eq!(server.metric("tickwire_refused_total{reason=\"server_full\"}").await, 1.0);
    // Still ready: its pages and its HTTP fallback players' requests need it, which a
    // balancer routing around a full server would cut off.
    assert_eq!(server.get("/healthz").await.0, 200);
    drop(first);
    server.shutdown().await;
}

#[tokio::test]
async fn one_address_cannot_fill_the_listener_with_idle_connections() {
    let mut config = test_config();
    config.max_connections_per_ip = 1;
    // Two per session (an HTTP fallback session holds two), plus the plain-HTTP headroom.
    let limit = 2 + tickwire_server::context::HTTP_CONNECTIONS_PER_IP as usize;
    let server = TestServer::start(config).await;
    // Idle TCP connections that never send a request hold the address's places...
    let mut idle = Vec::new();
    for _ in 0..limit {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // ...so the next one is answered 429 at once, before it sends anything.
    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut response))
        .await
        .expect("the refusal comes without a request")
        .expect("readable");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 429 "), "{response}");
    assert!(response.to_ascii_lowercase().contains("retry-after: 5"), "{response}");
    assert!(response.contains("too many connections from your address"), "{response}");
    // Their places free up when they go, and the address is served again.
    drop(idle);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _, _) = server.get("/healthz").await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Told apart from the session cap's `per_ip`: none of these got as far as a request.
    assert!(server.metric("tickwire_refused_total{reason=\"tcp_per_ip\"}").await >= 1.0);
    assert_eq!(server.metric("tickwire_refused_total{reason=\"per_ip\"}").await, 0.0);
    server.shutdown().await;
}

/// Connections that end at once hold no place, so only a rate stops an address opening them
/// in a loop (on a TLS port, each costs a handshake): past it, 429 with `Retry-After: 1`
/// before any request is read, counted apart from the cap on connections held.
#[tokio::test]
async fn an_address_opening_connections_in_a_loop_is_slowed_to_its_rate() {
    let mut config = test_config();
    // 96 connections held at most (2 x 40 + 16), far more than the loop below holds open
    // even on a slow machine, and a rate of 100 a second (the floor).
    config.max_connections_per_ip = 40;
    let server = TestServer::start(config).await;
    let mut refusal = None;
    for _ in 0..100 {
        for _ in 0..50 {
            drop(TcpStream::connect(server.addr).await.unwrap());
        }
        let (status, head, body) = server.get("/healthz").await;
        if status == 429 {
            refusal = Some((head, body));
            break;
        }
        assert_eq!(status, 200, "{head}\n{body}");
    }
    let (head, body) = refusal.expect("5,000 connections in a loop were never slowed");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    assert!(body.contains("too many new connections from your address"), "{body}");
    assert!(body.contains("at most 100 a second"), "the rate it holds to, the floor: {body}");
    // Served again once the rate allows, and counted as the rate's refusal.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let metrics = loop {
        let (status, _, body) = server.get("/metrics").await;
        if status == 200 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let refused = |reason: &str| {
        let line = format!("tickwire_refused_total{{reason=\"{reason}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&line)?.parse::<f64>().ok()).unwrap_or(0.0)
    };
    assert!(refused("tcp_rate") >= 1.0, "{metrics}");
    assert_eq!(refused("tcp_per_ip"), 0.0, "none of them was held: {metrics}");
    server.shutdown().await;
}

#[tokio::test]
async fn chat_over_the_rate_limit_is_closed_with_1008_and_the_room_plays_on() {
    let mut config = test_config();
    config.chat_rate = 2;
    config.chat_burst = 3;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut bystander = Client::join(&url, hello_in(Role::Spectator, "calm", "chatty")).await;
    let mut chatty = Client::join(&url, hello_in(Role::Player, "chatty", "chatty")).await;
    let id = chatty.welcome.player_id;
    for i in 0..10 {
        let text = ChatText::truncated(&format!("line {i}"));
        if !chatty.try_send(&ClientMessage::Chat(Chat { text })).await {
            break; // closed and gone already: the close frame is still there to read
        }
    }
    let closed = chatty.closed().await;
    closed.assert_is(1008, Some(KickReason::RateLimited), "more than 2 chat lines per second");

    // The seat ends at once; the burst got through before the close, the rest did not.
    let left = bystander.wait_left(id).await;
    let lines = bystander
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Chat { from, .. } if from == id))
        .count();
    assert!((3..=4).contains(&lines), "{lines} chat lines delivered with a burst of 3");
    bystander.snapshots_past(left.tick, 5).await;
    server.shutdown().await;
}

#[tokio::test]
async fn chat_lines_too_long_or_not_utf8_get_1002_1009_and_1007_and_the_room_plays_on() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut bystander = Client::join(&url, hello_in(Role::Player, "calm", "long")).await;

    // Exactly at the 200-byte bound: delivered whole.
    let mut fits = Client::join(&url, hello_in(Role::Player, "fits", "long")).await;
    let text = ChatText::truncated(&"a".repeat(200));
    assert_eq!(text.len(), 200);
    fits.send(&ClientMessage::Chat(Chat { text })).await;
    let from_fits = fits.welcome.player_id;
    let event = bystander
        .wait_event(|e| matches!(e, EventKind::Chat { from, .. } if *from == from_fits))
        .await;
    assert!(matches!(event.kind, EventKind::Chat { text, .. } if text.len() == 200));

    let mut refused = Vec::new();
    // 201 bytes of text in a 203-byte message: the string is over its bound, so the message
    // does not decode (StringTooLong): 1002 with a Kick.
    let mut long = Client::join(&url, hello_in(Role::Player, "long", "long")).await;
    refused.push(long.welcome.player_id);
    let mut bytes = vec![3, 201];
    bytes.extend([b'a'; 201]);
    long.ws.send(Message::Binary(bytes.into())).await.unwrap();
    let closed = long.closed().await;
    closed.assert_is(1002, Some(KickReason::MalformedMessage), "string is longer than its limit");

    // 300 bytes of text: the message is above 256 bytes and is refused by the WebSocket layer
    // before it is buffered: 1009, no Kick.
    let mut huge = Client::join(&url, hello_in(Role::Player, "huge", "long")).await;
    refused.push(huge.welcome.player_id);
    let mut bytes = vec![3, 0xfb, 0x2c, 0x01];
    bytes.extend([b'a'; 300]);
    huge.ws.send(Message::Binary(bytes.into())).await.unwrap();
    huge.closed().await.assert_is(1009, None, "exceeds the limit of 256");

    // Not UTF-8 ("ok" then a cut-off two-byte sequence): 1007 with a Kick.
    let mut bad = Client::join(&url, hello_in(Role::Player, "bad", "long")).await;
    refused.push(bad.welcome.player_id);
    bad.ws.send(Message::Binary(vec![3, 4, b'o', b'k', 0xc3, 0x28].into())).await.unwrap();
    let closed = bad.closed().await;
    closed.assert_is(1007, Some(KickReason::MalformedMessage), "not valid UTF-8");

    let mut last_left = tick(0);
    for id in refused {
        last_left = last_left.max(bystander.wait_left(id).await.tick);
    }
    bystander.snapshots_past(last_left, 5).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_second_hello_is_closed_with_1002_and_the_room_plays_on() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut bystander = Client::join(&url, hello_in(Role::Spectator, "calm", "twice")).await;
    let mut twice = Client::join(&url, hello_in(Role::Player, "twice", "twice")).await;
    let id = twice.welcome.player_id;
    twice.next_world().await;
    twice.send(&ClientMessage::Hello(hello_in(Role::Player, "twice", "twice"))).await;
    twice.closed().await.assert_is(1002, Some(KickReason::BadHello), "Hello was already sent");
    let left = bystander.wait_left(id).await;
    bystander.snapshots_past(left.tick, 5).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_spectator_sending_input_is_closed_with_1008_and_the_room_plays_on() {
    let server = TestServer::start(test_config()).await;
    let url = server.ws_url();
    let mut bystander = Client::join(&url, hello_in(Role::Player, "calm", "watch")).await;
    let mut eye = Client::join(&url, hello_in(Role::Spectator, "eye", "watch")).await;
    bystander.wait_event(|e| matches!(e, EventKind::Audience { spectators: 1 })).await;
    eye.next_world().await;
    eye.input(127, 0, 1).await;
    let closed = eye.closed().await;
    closed.assert_is(1008, Some(KickReason::MalformedMessage), "spectators do not send input");
    // Spectators come and go as the audience count, not one by one.
    let left = bystander.wait_event(|e| matches!(e, EventKind::Audience { spectators: 0 })).await;
    bystander.snapshots_past(left.tick, 5).await;
    let rooms: serde_json::Value = serde_json::from_str(&server.get("/rooms").await.2).unwrap();
    assert_eq!(rooms[0]["spectators"], 0, "{rooms}");
    assert_eq!(rooms[0]["players"], 1, "{rooms}");
    server.shutdown().await;
}

#[tokio::test]
async fn rooms_opened_and_left_at_once_do_not_keep_new_rooms_out() {
    // The room limit reached by rooms nobody stayed in (each would linger for the idle grace):
    // a new room still opens, and a room in use is left alone.
    let mut config = test_config();
    config.max_rooms = 2;
    config.room_idle_grace = Duration::from_secs(60);
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut stays = Client::join(&url, hello_in(Role::Player, "stays", "kept")).await;
    for room in ["gone-1", "gone-2", "gone-3"] {
        let mut left = Client::join(&url, hello_in(Role::Player, "left", room)).await;
        left.ws.close(None).await.unwrap();
        while left.ws.next().await.is_some() {}
        let deadline = Instant::now() + PATIENCE;
        loop {
            let rooms: serde_json::Value =
                serde_json::from_str(&server.get("/rooms").await.2).unwrap();
            let seated =
                rooms.as_array().unwrap().iter().any(|r| r["id"] == room && r["players"] != 0);
            if !seated {
                break;
            }
            assert!(Instant::now() < deadline, "{room} kept its seat");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let newcomer = Client::join(&url, hello_in(Role::Player, "new", "fresh")).await;
    assert_eq!(newcomer.welcome.room.as_str(), "fresh");
    stays.next_world().await;
    let rooms: serde_json::Value = serde_json::from_str(&server.get("/rooms").await.2).unwrap();
    let mut names: Vec<_> = rooms.as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    names.sort_by_key(|n| n.to_string());
    assert_eq!(names, ["fresh", "kept"]);
    server.shutdown().await;
}

#[tokio::test]
async fn past_the_room_limit_new_rooms_are_refused_with_1013() {
    let mut config = test_config();
    config.max_rooms = 2;
    config.room_capacity = 1;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let mut watcher = Client::join(&url, hello_in(Role::Spectator, "eye", "one")).await;
    let _a = Client::join(&url, hello_in(Role::Player, "a", "one")).await;
    let _b = Client::join(&url, hello_in(Role::Player, "b", "two")).await;
    let before = watcher.next_world().await.tick;

    // A third named room would pass the limit.
    let mut ws = open(&url).await;
    send_raw(&mut ws, &ClientMessage::Hello(hello_in(Role::Player, "c", "three"))).await;
    closed_with(&mut ws, None).await.assert_is(1013, Some(KickReason::Full), "room limit");

    // So would matchmaking, both rooms being full.
    let mut ws = open(&url).await;
    send_raw(&mut ws, &ClientMessage::Hello(hello(Role::Player, "d"))).await;
    closed_with(&mut ws, None).await.assert_is(1013, Some(KickReason::Full), "room limit");

    // The open rooms are untouched: still two, still ticking, still taking spectators.
    let late = Client::join(&url, hello_in(Role::Spectator, "late", "two")).await;
    assert_eq!(late.welcome.room.as_str(), "two");
    watcher.snapshots_past(before, 5).await;
    let rooms: serde_json::Value = serde_json::from_str(&server.get("/rooms").await.2).unwrap();
    let names: Vec<_> = rooms.as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    assert_eq!(names, ["one", "two"]);
    server.shutdown().await;
}

// Multi-threaded: the answering client's pongs do not wait behind the other tasks' work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_closes_a_silent_client_after_the_idle_timeout() {
    let idle = Duration::from_secs(3);
    let heartbeat = Duration::from_millis(500);
    let mut config = test_config();
    config.heartbeat_interval = heartbeat;
    config.idle_timeout = idle;
    let server = TestServer::start(config).await;

    // A spectator that never acks sends nothing but the pongs tungstenite answers pings with
    // (as browsers do): it sees the pings, and pongs count as life.
    let mut answering =
        Client::join(&server.ws_url(), hello_in(Role::Spectator, "pong", "beat")).await;
    let answering = async move { answer_pings(&mut answering.ws, 2 * idle, 3).await };

    // A client that answers nothing (not even pings) is closed once the idle timeout passes.
    let mut mute = RawWs::connect(server.addr).await;
    let silent = async move {
        // Taken before the Hello goes out: the server cannot hear it any earlier.
        let sent = Instant::now();
        mute.send(&ClientMessage::Hello(hello_in(Role::Player, "mute", "beat"))).await;
        let (mut welcomed, mut pings, mut kick) = (false, 0, None);
        let (code, reason) = loop {
            match mute.next_frame().await.expect("a close frame before the connection ends") {
                RawFrame::Binary(bytes) => match decode_server(&bytes).expect("decodes") {
                    ServerMessage::Welcome(_) => welcomed = true,
                    ServerMessage::Kick(k) => kick = Some(k),
                    _ => {}
                },
                RawFrame::Ping(_) => {
                    pings += 1;
                    // Each ping comes at least an interval after the one before, and none
                    // once the idle timeout has passed: more than fit in it means the server
                    // is not closing (and would otherwise keep this loop alive forever).
                    let most = idle.as_millis() / heartbeat.as_millis();
                    assert!(pings <= most, "{pings} pings and still open");
                }
                RawFrame::Close(code, reason) => break (code, reason),
                other => panic!("unexpected frame {other:?}"),
            }
        };
        (welcomed, pings, Closed { code, reason, kick }, sent.elapsed())
    };

    // Each on its own task, free to run on either worker.
    let (answering, silent) = (tokio::spawn(answering), tokio::spawn(silent));
    let answered_pings = answering.await.unwrap();
    let (welcomed, mute_pings, closed, silent_for) = silent.await.unwrap();
    assert!(answered_pings >= 3, "{answered_pings} pings");
    assert!(welcomed);
    assert!(mute_pings >= 2, "pings before the idle close: {mute_pings}");
    closed.assert_is(1008, Some(KickReason::Idle), "nothing received for 3 s");
    // Causal: the server heard the Hello after it was sent and closes an idle timeout later.
    assert!(silent_for >= idle, "closed after {silent_for:?}, before the idle timeout");
    server.shutdown().await;
}

// Multi-threaded: the acker's task and its connection's reader do not wait on one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_only_clients_it_has_not_heard_from() {
    let heartbeat = Duration::from_secs(1);
    let mut config = test_config();
    config.heartbeat_interval = heartbeat;
    config.idle_timeout = Duration::from_secs(30);
    let server = TestServer::start(config).await;

    // Two spectators that never answer a ping: one acks every snapshot, one sends nothing.
    // Over eight heartbeat intervals only the silent one is pinged (before, both were, every
    // interval).
    let watch = |acks: bool| {
        let addr = server.addr;
        async move {
            let mut ws = RawWs::connect(addr).await;
            let name = if acks { "acker" } else { "quiet" };
            ws.send(&ClientMessage::Hello(hello_in(Role::Spectator, name, "pings"))).await;
            let until = tokio::time::Instant::now() + 8 * heartbeat;
            let (mut pings, mut snapshots) = (0, 0);
            while let Ok(frame) = tokio::time::timeout_at(until, ws.next_frame()).await {
                match frame.expect("open until the window ends") {
                    RawFrame::Ping(_) => pings += 1,
                    RawFrame::Binary(bytes) => {
                        if let ServerMessage::Snapshot(snap) = decode_server(&bytes).unwrap() {
                            snapshots += 1;
                            if acks {
                                ws.send(&ClientMessage::Ack(Ack { tick: snap.header.tick })).await;
                            }
                        }
                    }
                    RawFrame::Close(code, reason) => panic!("{name} closed: {code} {reason}"),
                    _ => {}
                }
            }
            (pings, snapshots)
        }
    };
    // Each on its own task, free to run on either worker.
    let (acker, quiet) = (tokio::spawn(watch(true)), tokio::spawn(watch(false)));
    let (acker_pings, acker_snapshots) = acker.await.unwrap();
    let (quiet_pings, _) = quiet.await.unwrap();
    assert!(acker_snapshots >= 10, "{acker_snapshots} snapshots to ack");
    // Relative, so that neither a late timer (fewer pings for the quiet one) nor a stall of
    // this machine as long as an interval (a ping for the acker, whose acks waited) decides
    // it: pinging both every interval gives them about as many, pinging neither none.
    assert!(
        acker_pings * 3 < quiet_pings,
        "the acking spectator got {acker_pings} pings, the silent one {quiet_pings}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_matchmaking_welcomes_everyone_and_never_overfills_a_room() {
    const N: usize = 40;
    const CAPACITY: usize = 4;
    let mut config = test_config();
    config.room_capacity = CAPACITY as u16;
    let server = TestServer::start(config).await;
    let url = server.ws_url();
    let go = Arc::new(tokio::sync::Barrier::new(N));
    let joins: Vec<_> = (0..N)
        .map(|i| {
            let (url, go) = (url.clone(), go.clone());
            tokio::spawn(async move {
                let ws = open(&url).await;
                go.wait().await; // every socket is open: all the Hellos go out together
                try_join(ws, hello(Role::Player, &format!("p{i}"))).await
            })
        })
        .collect();
    let mut welcomed = Vec::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for join in joins {
        match join.await.unwrap() {
            Ok(seated) => welcomed.push(seated),
            Err(closed) => {
                let kick = closed.kick.map(|k| k.reason);
                let key = format!("{} {kick:?} {:?}", closed.code, closed.reason);
                *refused.entry(key).or_default() += 1;
            }
        }
    }
    let mut per_room: BTreeMap<String, usize> = BTreeMap::new();
    for (welcome, _) in &welcomed {
        *per_room.entry(welcome.room.as_str().to_string()).or_default() += 1;
    }
    assert!(
        refused.is_empty(),
        "{} of {N} clients joining Any were refused instead of seated (close code, kick, \
         reason: count): {refused:?}; the welcomed ones are in {per_room:?}",
        N - welcomed.len()
    );
    for (room, players) in &per_room {
        assert!(*players <= CAPACITY, "room {room} holds {players} players: {per_room:?}");
    }
    let rooms = per_room.len();
    assert!(
        (N.div_ceil(CAPACITY)..=N / CAPACITY + 3).contains(&rooms),
        "{rooms} rooms for {N} players of capacity {CAPACITY}: {per_room:?}"
    );
    // The server's own view agrees.
    let listed: serde_json::Value = serde_json::from_str(&server.get("/rooms").await.2).unwrap();
    let listed = listed.as_array().unwrap();
    assert!(listed.iter().all(|r| r["players"].as_u64().unwrap() <= CAPACITY as u64), "{listed:?}");
    let seated: u64 = listed.iter().map(|r| r["players"].as_u64().unwrap()).sum();
    assert_eq!(seated, N as u64, "{listed:?}");
    drop(welcomed);
    server.shutdown().await;
}

#[tokio::test]
async fn other_methods_on_the_game_endpoint_get_405_saying_which_is_allowed() {
    let server = TestServer::start(test_config()).await;
    let (status, head, body) = http_request(
        server.addr,
        "POST /ws HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{head}");
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
    assert!(body.contains("POST is not allowed on /ws") && body.contains("Allow"), "{body}");
    // Each route's own methods: the fallback's also answer preflights.
    let (status, head, _) = http_request(
        server.addr,
        "DELETE /fallback/poll HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{head}");
    let allow = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("allow:").map(str::to_owned))
        .expect("an Allow header");
    assert!(allow.contains("get") && allow.contains("options"), "{head}");
    server.shutdown().await;
}

/// A client may send its first frames right behind the upgrade request, before the 101 comes
/// back: the server has read them with the request and must hand them to the game connection.
#[tokio::test]
async fn a_hello_sent_with_the_upgrade_request_is_read() {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
    let server = TestServer::start(test_config()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request = upgrade_request("", "").into_bytes();
    let hello = encode_client_to_vec(&ClientMessage::Hello(hello(Role::Player, "eager")));
    assert!(hello.len() < 126, "a short frame");
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    request.extend([0x82, 0x80 | hello.len() as u8]);
    request.extend(mask);
    request.extend(hello.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    // One write: the frame travels in the same segment as the request.
    stream.write_all(&request).await.unwrap();
    // The response head, byte by byte, so nothing after it is consumed here.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut ws =
        tokio_tungstenite::WebSocketStream::from_raw_socket(stream, WsRole::Client, None).await;
    let first = tokio::time::timeout(PATIENCE, ws.next()).await.expect("an answer to the Hello");
    let Some(Ok(Message::Binary(bytes))) = first else { panic!("{first:?}") };
    assert!(matches!(decode_server(&bytes), Ok(ServerMessage::Welcome(_))), "{bytes:?}");
    server.shutdown().await;
}

/// Makes [`sighup_child_server`] run a server (it is otherwise a no-op).
const SIGHUP_CHILD: &str = "TICKWIRE_SIGHUP_CHILD";

/// The line [`sighup_child_server`] prints its address after.
const SIGHUP_CHILD_ADDR: &str = "sighup child listening on ";

/// A child process, killed if the test ends before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A blocking GET of `/healthz`: its status, 0 when it could not be read.
fn healthz_blocking(addr: std::net::SocketAddr) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut response = String::new();
    if stream.write_all(request).is_err() || stream.read_to_string(&mut response).is_err() {
        return 0;
    }
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// SIGHUP ends a process by default. With `--tls-cert` it reloads the certificate; without
/// TLS there is nothing to reload, and a `systemctl reload` (deploy/README.md suggests
/// `ExecReload=/bin/kill -HUP`) or a stray `kill -HUP` must not end it, without a drain or a
/// 1001, either.
/// The server runs in a child process (this test binary again, running this test alone as
/// the child: `sighup_child_server`), so that the signal reaches no other test.
#[test]
fn a_sighup_without_tls_does_not_end_the_server() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    if std::env::var_os(SIGHUP_CHILD).is_some() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        return runtime.block_on(sighup_child_server());
    }
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["a_sighup_without_tls_does_not_end_the_server", "--exact", "--nocapture"])
            .env(SIGHUP_CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the test binary runs"),
    );
    // Read to its end, as the child writes it (a closed pipe would fail the child's output).
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, addr)) = line.split_once(SIGHUP_CHILD_ADDR) {
                let _ = tx.send(addr.trim().parse::<std::net::SocketAddr>().unwrap());
            }
        }
    });
    let addr = rx.recv_timeout(PATIENCE).expect("the child server started");
    assert_eq!(healthz_blocking(addr), 200);
    for _ in 0..2 {
        let pid = child.0.id().to_string();
        let status = Command::new("kill").args(["-HUP", &pid]).status().expect("kill runs");
        assert!(status.success());
        std::thread::sleep(Duration::from_millis(200));
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("SIGHUP ended the server: {status}");
        }
        assert_eq!(healthz_blocking(addr), 200, "serving on after SIGHUP");
    }
    // It still shuts down as told (the helper does when its stdin closes).
    drop(child.0.stdin.take());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child server did not shut down");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

/// [`a_sighup_without_tls_does_not_end_the_server`] in its child process: a server without
/// TLS, its address on stdout, until stdin closes.
async fn sighup_child_server() {
    let server = TestServer::start(test_config()).await;
    // Served once: `run` installed its signal handlers before accepting.
    assert_eq!(server.get("/healthz").await.0, 200);
    println!("{SIGHUP_CHILD_ADDR}{}", server.addr);
    let stdin_closed = tokio::task::spawn_blocking(|| {
        use std::io::Read;
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    stdin_closed.await.unwrap();
    server.shutdown().await;
}

/// Past the server's limit of HTTP connections (`--max-connections` and `--http-headroom`), a
/// new connection is accepted and answered 503 at once, and counted: not left in the kernel's
/// backlog, where it and every connection after it (health checks, the fleet's relays) would
/// hang until a place frees up.
#[tokio::test]
async fn past_the_http_connection_limit_a_connection_gets_503_at_once_and_is_counted() {
    use tokio::io::AsyncWriteExt;
    let mut config = test_config();
    config.max_connections = 1;
    config.http_headroom = 1;
    // The idle connections below keep their places for the whole test.
    config.handshake_timeout = Duration::from_secs(30);
    let server = TestServer::start(config).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    for _ in 0..2 {
        let mut refused = TcpStream::connect(server.addr).await.unwrap();
        refused.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), refused.read_to_end(&mut response))
            .await
            .expect("refused at once, not left waiting")
            .expect("readable");
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(lower.contains("connection: close"), "{response}");
        assert!(lower.contains("retry-after: 5"), "{response}");
        assert!(response.contains("retry later"), "{response}");
    }
    // Once the idle ones go, the server is reached again, and it counted both refusals (and
    // any of the asks below that came before it had seen the idle ones go).
    drop(idle);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut refused_again = 0;
    let metrics = loop {
        let (status, _, body) = server.get("/metrics").await;
        if status == 200 {
            break body;
        }
        refused_again += 1;
        assert!(tokio::time::Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let expected =
        format!("tickwire_refused_total{{reason=\"http_full\"}} {}\n", 2 + refused_again);
    assert!(metrics.contains(&expected), "{expected} in {metrics}");
    assert_eq!(server.metric("tickwire_refused_total{reason=\"tcp_per_ip\"}").await, 0.0);
    server.shutdown().await;
}

/// With an admin listener (`--admin-bind`), the operators' routes answer there while the
/// public port is full (a liveness probe or a scrape is never refused for the clients'
/// traffic), `/metrics` leaves the public port, and the game's routes stay off the admin one.
#[tokio::test]
async fn the_admin_listener_answers_while_the_public_port_is_full() {
    let mut config = test_config();
    config.max_connections = 1;
    config.http_headroom = 1;
    config.handshake_timeout = Duration::from_secs(30);
    let server = TestServer::start_with_admin(config).await;
    let admin = server.admin.expect("an admin listener");
    async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
        http_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
            .await
    }
    let (status, _, body) = get(server.addr, "/metrics").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--admin-bind"), "says where they went: {body}");
    for path in ["/ws", "/fallback/poll", "/invite", "/"] {
        let (status, _, body) = get(admin, path).await;
        assert_eq!(status, 404, "{path} on the admin listener: {body}");
    }
    // No game beside this dashboard, and no --public-url to say where it is: no game links.
    let (status, _, body) = get(admin, "/dashboard").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"<meta name="tickwire-game" content="">"#), "{body}");
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // The public port is full: wait until it says so (it accepts in its own time).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while get(server.addr, "/healthz").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "the public port never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (path, wanted) in
        [("/livez", "alive"), ("/healthz", "ok"), ("/stats", "samples"), ("/rooms", "[")]
    {
        let (status, _, body) = get(admin, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains(wanted), "{path}: {body}");
    }
    let (status, _, metrics) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("tickwire_refused_total{reason=\"http_full\"}"), "{metrics}");
    // Connections held open without a request never keep a probe out: with every place of
    // the admin pool taken by four addresses sending nothing (as many as each may hold), a
    // probe takes the place of the one that has waited longest, which is closed.
    let per_ip = tickwire_server::server::ADMIN_CONNECTIONS_PER_IP;
    let mut held = Vec::new();
    for address in ["127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"] {
        for _ in 0..per_ip {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{address}:0").parse().unwrap()).unwrap();
            held.push(socket.connect(admin).await.unwrap());
        }
    }
    assert_eq!(held.len(), tickwire_server::server::ADMIN_CONNECTIONS, "the pool is full");
    tokio::time::sleep(tickwire_server::server::ADMIN_QUIET_BEFORE_EVICTION * 2).await;
    let (status, _, body) = get(admin, "/livez").await;
    assert_eq!(status, 200, "the probe got a place: {body}");
    let mut first = held.remove(0);
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, first.read(&mut byte)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the quietest connection was closed: {read:?}");
    drop((idle, held));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let admin_refused = loop {
        let (status, _, body) = get(admin, "/metrics").await;
        if status == 200 {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "the places never came back: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(admin_refused.contains("tickwire_refused_total{reason=\"admin_full\"}"));
    // The admin listener goes with the server.
    server.shutdown().await;
    assert!(TcpStream::connect(admin).await.is_err(), "the admin port closed at shutdown");
}

/// With `--allowed-origins`, a request a browser sends from another site without an Origin (a
/// no-cors `<img src=".../fallback/poll">`) opens no HTTP fallback session, which would hold
/// one of the address's places; a non-browser client's, and a same-origin page's, still do.
#[tokio::test]
async fn with_allowed_origins_a_cross_site_request_without_origin_opens_no_fallback_session() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://play.example".into()];
    let server = TestServer::start(config).await;
    let request = |path: &str, site: Option<&str>| {
        let site = site.map_or(String::new(), |site| format!("Sec-Fetch-Site: {site}\r\n"));
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{site}Connection: close\r\n\r\n")
    };
    for (path, site) in [("/fallback/poll", "cross-site"), ("/fallback/stream", "same-site")] {
        let (status, head, body) = http_request(server.addr, &request(path, Some(site))).await;
        assert_eq!(status, 403, "{path} {site}: {head}\n{body}");
        assert!(body.contains("without an Origin"), "{body}");
        assert!(!head.to_ascii_lowercase().contains("tickwire-session"), "{head}");
    }
    assert_eq!(server.metric("tickwire_refused_total{reason=\"origin\"}").await, 2.0);
    for site in [None, Some("same-origin"), Some("none")] {
        let (status, head, _) = http_request(server.addr, &request("/fallback/poll", site)).await;
        assert_eq!(status, 200, "{site:?}: {head}");
        assert!(head.to_ascii_lowercase().contains("tickwire-session"), "{head}");
    }
    assert_eq!(server.metric("tickwire_refused_total{reason=\"origin\"}").await, 2.0);
    server.shutdown().await;
}
