//! Moderation end to end: an operator with `--admin-token` lists a room's seats, removes a
//! client (`Kick { Removed }`, close 1008, no resume) and bans addresses and names; the bans
//! refuse `Hello`s until they end or are lifted. Clients join from several loopback addresses
//! (127.0.0.2, 127.0.0.3, ...), as clients of different machines would.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;
use tickwire_server::config::Secret;
use tickwire_shared::{ClientMessage, EventKind, KickReason, Role};

const TOKEN: &str = "an-operator-token-of-32-bytes-ok";

/// `method path` on `addr` with `Authorization: Bearer token` (unless `None`) and a JSON body
/// (unless empty) labelled as `curl -d` labels it, a form (the README's commands); status,
/// headers and body.
async fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{auth}{content}\r\n{body}"
    );
    http_request(addr, &request).await
}

/// A counter of the server's `/metrics` on `addr`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, _, body) = get_with(addr, "/metrics", "").await;
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The seats of `room` as the admin API lists them, and the answer's body (for messages).
async fn seats_of(op: SocketAddr, room: &str) -> (String, Vec<serde_json::Value>) {
    let (status, _, body) =
        admin(op, "GET", &format!("/rooms/{room}/seats"), Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let seats = json(&body)["seats"].as_array().expect("a list of seats").clone();
    (body, seats)
}

/// The seat of `player` among `seats`.
fn seat_of(seats: &[serde_json::Value], player: tickwire_shared::PlayerId) -> serde_json::Value {
    seats.iter().find(|s| s["player"] == player.0).expect("the seat is listed").clone()
}

/// The value of `series` (its name and labels, as the server renders them) in `metrics`.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn join_from(server: &TestServer, from: &str, role: Role, name: &str) -> Client {
    Client::join_over(open_from(server.addr, from).await, hello_in(role, name, "duel")).await
}

async fn refused_from(server: &TestServer, from: &str, name: &str) -> Closed {
    let ws = open_from(server.addr, from).await;
    try_join(ws, hello_in(Role::Player, name, "duel")).await.expect_err("refused")
}

#[tokio::test]
async fn an_operator_removes_players_and_bans_their_address_or_name() {
    let mut config = test_config();
    // As a Kubernetes Secret made `--from-file` gives it: a line end is no part of the token.
    config.admin_token = Some(Secret(format!("{TOKEN}\n")));
    config.trusted_proxies = vec!["127.0.0.9".parse().unwrap()];
    let server = TestServer::start_with_admin(config).await;
    let op = server.admin.unwrap();

    let ada = join_from(&server, "127.0.0.2", Role::Player, "ada").await;
    // Ada again, in another tab, in another room.
    let ws = open_from(server.addr, "127.0.0.2").await;
    let ada_tab = Client::join_over(ws, hello_in(Role::Spectator, "ada", "lounge")).await;
    let mut bob = join_from(&server, "127.0.0.3", Role::Player, "Bob").await;
    let mut fan = join_from(&server, "127.0.0.1", Role::Spectator, "fan").await;
    let ada_id = ada.welcome.player_id;

    // Only on the admin listener, and only with the token.
    let (status, _, body) = get_with(server.addr, "/rooms/duel/seats", "").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("--admin-bind"), "{body}");
    let (status, head, body) = admin(op, "GET", "/rooms/duel/seats", None, "").await;
    assert_eq!(status, 401, "{body}");
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    let (status, _, body) =
        admin(op, "GET", "/rooms/duel/seats", Some("an-operator-token-of-32-bytes-no"), "").await;
    assert_eq!(status, 401);
    assert!(body.contains("wrong admin token"), "{body}");
    let basic = "GET /bans HTTP/1.1\r\nHost: t\r\nAuthorization: Basic b3A6cHc=\r\n\r\n";
    let (status, _, body) = http_request(op, basic).await;
    assert_eq!(status, 401);
    assert!(body.contains("must be `Bearer"), "{body}");
    // The scheme in any case (RFC 9110).
    let lower = format!("GET /bans HTTP/1.1\r\nHost: t\r\nAuthorization: bearer {TOKEN}\r\n\r\n");
    assert_eq!(http_request(op, &lower).await.0, 200);

    let (status, _, body) = admin(op, "GET", "/rooms/duel/seats", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let seats = json(&body);
    let seats = seats["seats"].as_array().unwrap();
    assert_eq!(seats.len(), 3, "{body}");
    let ada_seat = seats.iter().find(|s| s["player"] == ada_id.0).unwrap();
    assert_eq!(ada_seat["name"], "ada");
    assert_eq!(ada_seat["role"], "player");
    assert_eq!(ada_seat["address"], "127.0.0.2");
    assert_eq!(ada_seat["connected"], true);
    assert_eq!(ada_seat["room"], "duel");

    // Muted: Bob's lines reach nobody, until the mute is lifted.
    let bob_id = bob.welcome.player_id;
    let mute = format!(r#"{{"player": {}, "for": "10m", "reason": "slurs"}}"#, bob_id.0);
    let (status, _, body) = admin(op, "POST", "/rooms/duel/mute", Some(TOKEN), &mute).await;
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["muted_secs"].as_u64().unwrap() > 590, "{body}");
    let say = |line: &str| {
        ClientMessage::Chat(tickwire_shared::Chat {
            text: tickwire_shared::ChatText::truncated(line),
        })
    };
    let said = |line: &'static str| move |e: &EventKind| matches!(e, EventKind::Chat { text, .. } if text.as_str() == line);
    bob.send(&say("muted line")).await;
    // Bob sees his own line, as he would unmuted.
    bob.wait_event(said("muted line")).await;
    let muted = async {
        while metric(op, "tickwire_chat_muted_total").await < 1.0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(PATIENCE, muted).await.expect("the muted line is counted");
    fan.send(&say("fan line")).await;
    fan.wait_event(said("fan line")).await;
    assert!(!fan.events.iter().any(|e| said("muted line")(&e.kind)), "the muted line went out");
    let unmute = format!("/rooms/duel/mute?player={}", bob_id.0);
    let (status, _, body) = admin(op, "DELETE", &unmute, Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    assert!(json(&body).get("muted_secs").is_none(), "{body}");
    // Again: nothing to lift, the same answer, and nothing in the log (below).
    let (status, _, body) = admin(op, "DELETE", &unmute, Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    bob.send(&say("back")).await;
    fan.wait_event(said("back")).await;

    // Removed, with a ban of the address: the client is told why; the others see it leave.
    let kick =
        format!(r#"{{"player": {}, "reason": "spamming the chat", "ban": "10m"}}"#, ada_id.0);
    let (status, _, body) = admin(op, "POST", "/rooms/duel/kick", Some(TOKEN), &kick).await;
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    assert_eq!(answer["removed"]["name"], "ada");
    assert_eq!(answer["bans"][0]["address"], "127.0.0.2");
    // The client is told it is banned, for how long and why.
    ada.closed().await.assert_is(
        1008,
        Some(KickReason::Removed),
        "banned for 10 more minutes: spamming the chat",
    );
    bob.wait_left(ada_id).await;
    // The ban covered the other tab too.
    assert_eq!(answer["also_removed"][0]["room"], "lounge", "{body}");
    assert_eq!(answer["unanswered"], serde_json::json!([]));
    ada_tab.closed().await.assert_is(1008, Some(KickReason::Removed), "banned for 10 more");

    // Banned: every Hello from that address is refused, saying for how long and why.
    let refused = refused_from(&server, "127.0.0.2", "ada2").await;
    refused.assert_is(
        1008,
        Some(KickReason::Removed),
        "banned for 10 more minutes: spamming the chat",
    );
    // Without join tokens a name vouches for nothing: only the address was banned.
    let again = join_from(&server, "127.0.0.4", Role::Player, "ada").await;
    drop(again);
    let (status, _, body) = admin(op, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!(status, 200);
    let bans = json(&body);
    assert_eq!(bans["bans"].as_array().unwrap().len(), 1, "{body}");
    assert!(bans["bans"][0]["remaining_secs"].as_u64().unwrap() > 590);

    // Lifted (written as GET /bans shows addresses, or alone): the address joins again.
    let (status, _, body) =
        admin(op, "DELETE", "/bans?address=127.0.0.2/32", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let back = join_from(&server, "127.0.0.2", Role::Player, "ada").await;
    drop(back);
    let (status, _, _) = admin(op, "DELETE", "/bans?address=127.0.0.2", Some(TOKEN), "").await;
    assert_eq!(status, 404, "lifted already");

    // A name ban removes whoever has that name now, on every room of the node.
    let ban = r#"{"name": "bob", "for": "1h", "reason": "cheating"}"#;
    let (status, _, body) = admin(op, "POST", "/bans", Some(TOKEN), ban).await;
    assert_eq!(status, 201, "{body}");
    let answer = json(&body);
    assert_eq!(answer["removed"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(answer["removed"][0]["name"], "Bob");
    let bob_id = bob.welcome.player_id;
    bob.closed().await.assert_is(
        1008,
        Some(KickReason::Removed),
        "banned for 60 more minutes: cheating",
    );
    fan.wait_left(bob_id).await;
    let refused = refused_from(&server, "127.0.0.5", " BOB").await;
    refused.assert_is(1008, Some(KickReason::Removed), "cheating");
    // Another operator's shorter ban does not undo it unawares; on purpose, it does.
    let shorter = r#"{"name": "bob", "for": "5m", "reason": "spam"}"#;
    let (status, _, body) = admin(op, "POST", "/bans", Some(TOKEN), shorter).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("bob is banned already, for 60 more minutes (cheating)"), "{body}");
    let shorter = r#"{"name": "bob", "for": "2h", "reason": "cheating", "replace": true}"#;
    let (status, _, body) = admin(op, "POST", "/bans", Some(TOKEN), shorter).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(json(&body)["ban"]["remaining_secs"], 7200);

    // A seat removed while its client was away: the client's resume is refused alike, not
    // given a fresh seat; without a ban, a new join is welcome.
    let carl = join_from(&server, "127.0.0.6", Role::Player, "carl").await;
    let (carl_id, carl_token) = (carl.welcome.player_id, carl.welcome.resume_token);
    carl.drop_abruptly();
    let seats_path = "/rooms/duel/seats";
    loop {
        let (_, _, body) = admin(op, "GET", seats_path, Some(TOKEN), "").await;
        let seats = json(&body);
        let carl_seat =
            seats["seats"].as_array().unwrap().iter().find(|s| s["player"] == carl_id.0).cloned();
        if carl_seat.is_some_and(|s| s["connected"] == false) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kick = format!(r#"{{"player": {}, "reason": "afk"}}"#, carl_id.0);
    assert_eq!(admin(op, "POST", "/rooms/duel/kick", Some(TOKEN), &kick).await.0, 200);
    let ws = open_from(server.addr, "127.0.0.6").await;
    let resume = tickwire_shared::Hello {
        resume: Some(carl_token),
        ..hello_in(Role::Player, "carl", "duel")
    };
    let refused = try_join(ws, resume).await.expect_err("the resume is refused");
    refused.assert_is(1008, Some(KickReason::Removed), "removed by the operator: afk");
    drop(join_from(&server, "127.0.0.6", Role::Player, "carl").await);

    // A network, written with any address of it: every address in it, and no other.
    let dee = join_from(&server, "127.0.0.11", Role::Player, "dee").await;
    let ban = r#"{"address": "127.0.0.11/31", "for": "1h", "reason": "bot farm"}"#;
    let (status, _, body) = admin(op, "POST", "/bans", Some(TOKEN), ban).await;
    assert_eq!(status, 201, "{body}");
    let answer = json(&body);
    assert_eq!(answer["ban"]["address"], "127.0.0.10/31", "{body}");
    assert_eq!(answer["removed"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(answer["removed"][0]["name"], "dee");
    dee.closed().await.assert_is(1008, Some(KickReason::Removed), "bot farm");
    refused_from(&server, "127.0.0.10", "eve").await.assert_is(
        1008,
        Some(KickReason::Removed),
        "banned for 60 more minutes: bot farm",
    );
    drop(join_from(&server, "127.0.0.12", Role::Player, "eve").await);
    let (status, _, body) = admin(op, "DELETE", "/bans?address=127.0.0.11", Some(TOKEN), "").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("the ban of 127.0.0.10/31 covers it"), "says which to lift: {body}");
    let (status, _, body) =
        admin(op, "DELETE", "/bans?address=127.0.0.10/31", Some(TOKEN), "").await;
    assert_eq!(status, 200, "lifted as GET /bans shows it: {body}");

    // Bad requests are told what is wrong.
    let long_reason = format!(r#"{{"name": "x", "for": "1h", "reason": "{}"}}"#, "x".repeat(65));
    let cases = [
        ("POST", "/rooms/duel/kick", r#"{"player": 999}"#, 404, "no seat 999"),
        ("POST", "/rooms/duel/mute", r#"{"player": 999, "for": "1m"}"#, 404, "no seat 999"),
        ("POST", "/rooms/duel/mute", r#"{"player": 1}"#, 400, "`for` is required"),
        ("DELETE", "/rooms/duel/mute", "", 400, "player"),
        ("DELETE", "/rooms/duel/mute?player=1&for=1h", "", 400, "unknown field `for`"),
        ("POST", "/rooms/nowhere/kick", r#"{"player": 1}"#, 404, "no room nowhere"),
        ("POST", "/rooms/duel/kick", r#"{"reason": "x"}"#, 400, "missing field `player`"),
        ("POST", "/rooms/duel/kick", "player=1", 400, "JSON expected"),
        ("POST", "/rooms/duel/kick", r#"{"player": "3"}"#, 400, "`player`: invalid type: string"),
        ("POST", "/rooms/duel/mute", r#"{"player": 1, "for": 60}"#, 400, "`for`: invalid type"),
        ("POST", "/rooms/duel/kick", r#"{"player": 1} x"#, 400, "JSON expected"),
        ("POST", "/rooms/duel/kick", r#"{"player": 1, "bann": "1h"}"#, 400, "unknown field `bann`"),
        ("POST", "/rooms/duel/kick", r#"{"player": 1, "ban": "forever"}"#, 400, "`ban`"),
        ("POST", "/rooms/du%20el/kick", r#"{"player": 1}"#, 400, "not a room name"),
        (
            "POST",
            "/bans",
            r#"{"address": "127.0.0.9", "name": "x", "for": "1h"}"#,
            400,
            "exactly one",
        ),
        ("POST", "/bans", r#"{"address": "nowhere", "for": "1h"}"#, 400, "`address`"),
        ("POST", "/bans", r#"{"address": "127.0.0.9"}"#, 400, "`for` is required"),
        ("POST", "/bans", r#"{"name": "x", "for": "400d"}"#, 400, "1s to 365d"),
        ("POST", "/bans", r#"{"address": "127.0.0.0/8", "for": "1h"}"#, 400, "at most an IPv4 /16"),
        ("POST", "/bans", r#"{"address": "::1/128", "for": "1h"}"#, 400, "a /64 at least"),
        ("POST", "/bans", r#"{"address": "127.0.0.9", "for": "1h"}"#, 409, "trusted proxy"),
        // A network with the proxy in it.
        ("POST", "/bans", r#"{"address": "127.0.0.0/24", "for": "1h"}"#, 409, "127.0.0.9/32"),
        ("POST", "/bans", long_reason.as_str(), 400, "at most 64 bytes"),
        ("DELETE", "/bans", "", 400, "exactly one"),
    ];
    for (method, path, body, want, says) in cases {
        let (status, _, answer) = admin(op, method, path, Some(TOKEN), body).await;
        assert_eq!(status, want, "{method} {path} {body}: {answer}");
        assert!(answer.contains(says), "{method} {path} {body}: {answer:?} should say {says:?}");
    }
    let (status, _, _) = admin(op, "GET", "/rooms/duel/kick", Some(TOKEN), "").await;
    assert_eq!(status, 405);

    // What the operators did, newest first, with who (by address), what, to whom, and why.
    let (status, _, body) = admin(op, "GET", "/moderation/log?limit=500", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    let log = json(&body);
    let actions = log["actions"].as_array().unwrap();
    let summary: Vec<String> = actions
        .iter()
        .rev()
        .map(|a| format!("{} {}", a["action"].as_str().unwrap(), a["target"].as_str().unwrap()))
        .collect();
    let (bob_seat, ada_seat, carl_seat) = (bob_id.0, ada_id.0, carl_id.0);
    assert_eq!(
        summary,
        [
            format!("mute Bob (seat {bob_seat})"),
            format!("unmute Bob (seat {bob_seat})"),
            format!("remove and ban ada (seat {ada_seat})"),
            "lift 127.0.0.2".into(),
            "ban bob".into(),
            "ban bob".into(),
            format!("remove carl (seat {carl_seat})"),
            "ban 127.0.0.10/31".into(),
            "lift 127.0.0.10/31".into(),
        ]
    );
    assert_eq!(actions.last().unwrap()["reason"], "slurs", "a mute's reason is logged");
    let first = &actions[actions.len() - 3];
    assert_eq!(first["operator"], "admin", "--admin-token's operator");
    assert_eq!(first["from"], "127.0.0.1");
    assert_eq!(first["room"], "duel");
    assert_eq!(first["address"], "127.0.0.2");
    assert_eq!(first["reason"], "spamming the chat");
    assert_eq!(first["secs"], 600);
    assert!(actions.windows(2).all(|w| w[0]["seq"].as_u64() > w[1]["seq"].as_u64()));
    // One server's log is its own, and nothing is missing from it.
    assert_eq!(log["scope"], "node", "{body}");
    assert!(log.get("warning").is_none() && first.get("node").is_none(), "{body}");
    let (_, _, body) = admin(op, "GET", "/moderation/log?limit=1", Some(TOKEN), "").await;
    assert_eq!(json(&body)["actions"].as_array().unwrap().len(), 1);
    let (status, _, _) = admin(op, "GET", "/moderation/log?limit=x", Some(TOKEN), "").await;
    assert_eq!(status, 400);

    // The spectator played on throughout.
    fan.send(&ClientMessage::Chat(tickwire_shared::Chat {
        text: tickwire_shared::ChatText::truncated("still here"),
    }))
    .await;
    fan.wait_event(|e| matches!(e, EventKind::Chat { .. })).await;
    let (_, _, metrics) = get_with(op, "/metrics", "").await;
    assert!(metrics.contains("tickwire_clients_removed_total 5"), "{metrics}");
    assert!(metrics.contains(r#"tickwire_refused_total{reason="admin_auth"} 3"#), "{metrics}");
    assert!(metrics.contains("tickwire_joins_banned_total 3"), "{metrics}");
    server.shutdown().await;
}

/// The server measures each client's round trip from its acks, with no ping of its own: a
/// player that acks every snapshot 200 ms after it came reads at 200 ms or more, in the seat
/// list and in `tickwire_round_trip_seconds`, sampled at most once a second per client; a
/// spectator that acks nothing has no round trip yet.
#[tokio::test]
async fn a_seat_shows_its_round_trip_measured_from_its_acks() {
    use tickwire_shared::{Ack, ServerMessage};
    const ACK_DELAY: Duration = Duration::from_millis(200);
    let mut config = test_config();
    config.admin_token = Some(Secret(TOKEN.into()));
    let server = TestServer::start_with_admin(config).await;
    let op = server.admin.unwrap();
    // Every sample is taken between this and the metrics' read.
    let started = Instant::now();
    let mut slow = join_from(&server, "127.0.0.2", Role::Player, "far").await;
    slow.auto_ack = false;
    let mut near = join_from(&server, "127.0.0.3", Role::Player, "near").await;
    let fan = join_from(&server, "127.0.0.4", Role::Spectator, "fan").await;

    let acking = Instant::now();
    let mut acks = 0;
    while acking.elapsed() < Duration::from_millis(2500) {
        let tick = loop {
            if let Some(ServerMessage::Snapshot(snap)) = slow.recv().await {
                break snap.header.tick;
            }
        };
        tokio::time::sleep(ACK_DELAY).await;
        slow.send(&ClientMessage::Ack(Ack { tick })).await;
        acks += 1;
        // The prompt player reads (and so acks) what came meanwhile.
        while tokio::time::timeout(Duration::ZERO, near.recv()).await.is_ok() {}
    }
    // The last ack on its way in, and read before the seat list is.
    let _ = near.next_world().await;
    let _ = near.next_world().await;
    assert!(acks >= 5, "{acks} acks sent");

    let (body, seats) = seats_of(op, "duel").await;
    let seat = |id: tickwire_shared::PlayerId| seat_of(&seats, id);
    let far_ms = seat(slow.welcome.player_id)["round_trip_ms"].as_f64();
    assert!(far_ms.is_some_and(|ms| ms >= 200.0), "acked 200 ms late: {body}");
    assert!(seat(near.welcome.player_id)["round_trip_ms"].as_f64().is_some(), "{body}");
    assert_eq!(seat(fan.welcome.player_id)["round_trip_ms"], serde_json::Value::Null, "{body}");

    let (_, _, metrics) = get_with(op, "/metrics", "").await;
    let elapsed = started.elapsed().as_secs_f64();
    let sample = |series: &str| sample(&metrics, series);
    let players = r#"role="player",transport="ws""#;
    let count = sample(&format!("tickwire_round_trip_seconds_count{{{players}}}"));
    // Two players, each sampled at most once a second, the first at once.
    assert!(count >= 2.0, "{metrics}");
    assert!(count <= 2.0 * (elapsed.floor() + 1.0), "{count} samples in {elapsed} s");
    // The far player's samples are all past 150 ms; the near one's are the rest.
    let under = sample(&format!("tickwire_round_trip_seconds_bucket{{le=\"0.15\",{players}}}"));
    assert!(under <= count - 2.0, "the far player sampled twice at least: {metrics}");
    let spectators = r#"tickwire_round_trip_seconds_count{role="spectator",transport="ws"}"#;
    assert_eq!(sample(spectators), 0.0, "the spectator acked nothing");
    server.shutdown().await;
}

/// The server's input queue says how each ship's inputs meet the ticks: a player whose
/// inputs come three at a time every third tick has them wait in the jitter buffer (a tick on
/// average), in its seat and in `tickwire_input_buffer_seconds`; when its uplink stalls for
/// six ticks, those ticks run without its input (`tickwire_input_ticks_total`, `late`) and
/// what then comes at once is folded; a spectator has none of it.
#[tokio::test]
async fn a_seat_shows_how_its_inputs_meet_the_ticks() {
    let mut config = test_config();
    config.admin_token = Some(Secret(TOKEN.into()));
    let server = TestServer::start_with_admin(config).await;
    let op = server.admin.unwrap();
    let mut choppy = join_from(&server, "127.0.0.2", Role::Player, "choppy").await;
    let mut steady = join_from(&server, "127.0.0.3", Role::Player, "steady").await;
    let fan = join_from(&server, "127.0.0.4", Role::Spectator, "fan").await;
    // `choppy` sends `sends(n)` inputs after its `n`th snapshot; `steady` one per snapshot.
    async fn play(
        choppy: &mut Client,
        steady: &mut Client,
        ticks: u32,
        sends: impl Fn(u32) -> u32,
    ) {
        for n in 0..ticks {
            choppy.next_world().await;
            for _ in 0..sends(n) {
                choppy.input(1, 0, 0).await;
            }
            while let Ok(Some(message)) = tokio::time::timeout(Duration::ZERO, steady.recv()).await
            {
                if matches!(message, tickwire_shared::ServerMessage::Snapshot(_)) {
                    steady.input(0, 1, 0).await;
                }
            }
        }
    }
    // Two windows of 32 ticks and more, three inputs every third tick.
    play(&mut choppy, &mut steady, 72, |n| if n % 3 == 2 { 3 } else { 0 }).await;

    let (body, seats) = seats_of(op, "duel").await;
    let seat = |id: tickwire_shared::PlayerId| seat_of(&seats, id);
    // Of three inputs, the first waits for nothing, the second a tick, the third two.
    let buffer_ms = seat(choppy.welcome.player_id)["input_buffer_ms"].as_f64();
    assert!(buffer_ms.is_some_and(|ms| ms >= 10.0), "a buffered burst: {body}");
    assert!(seat(choppy.welcome.player_id)["late_inputs_pct"].as_f64().is_some(), "{body}");
    assert!(seat(steady.welcome.player_id)["input_buffer_ms"].as_f64().is_some(), "{body}");
    for field in ["late_inputs_pct", "input_buffer_ms"] {
        assert_eq!(seat(fan.welcome.player_id)[field], serde_json::Value::Null, "{body}");
    }

    // One input a tick through a whole window: the buffer the bursts opened waits for
    // nothing and goes. Then six ticks without a word, and their inputs at once.
    play(&mut choppy, &mut steady, 2 * 32 + 8, |_| 1).await;
    let (_, _, metrics) = get_with(op, "/metrics", "").await;
    let late = r#"tickwire_input_ticks_total{role="player",outcome="late"}"#;
    let folded = r#"tickwire_inputs_folded_total{role="player"}"#;
    let (late_before, folded_before) = (sample(&metrics, late), sample(&metrics, folded));
    play(&mut choppy, &mut steady, 6, |_| 0).await;
    play(&mut choppy, &mut steady, 40, |n| if n == 0 { 7 } else { 1 }).await;
    let (_, _, metrics) = get_with(op, "/metrics", "").await;
    let stalled = sample(&metrics, late) - late_before;
    assert!(stalled >= 4.0, "six ticks without an input: {stalled} late; {metrics}");
    let caught_up = sample(&metrics, folded) - folded_before;
    assert!(caught_up >= 3.0, "the late ones folded: {caught_up}; {metrics}");
    let own = sample(&metrics, r#"tickwire_input_ticks_total{role="player",outcome="own"}"#);
    assert!(own >= 100.0, "{metrics}");
    let windows = sample(&metrics, r#"tickwire_input_buffer_seconds_count{role="player"}"#);
    assert!(windows >= 6.0, "two players, three windows each at least: {metrics}");
    let controllers = r#"tickwire_input_ticks_total{role="controller",outcome="own"}"#;
    assert_eq!(sample(&metrics, controllers), 0.0, "{metrics}");
    server.shutdown().await;
}

/// What the dashboard at `addr` says of moderation beside it: `on`, `off` or nothing.
async fn dashboard_moderation(addr: SocketAddr) -> String {
    let (status, _, page) = get_with(addr, "/dashboard", "").await;
    assert_eq!(status, 200, "{page}");
    let marker = r#"<meta name="tickwire-moderation" content=""#;
    let start = page.find(marker).expect("the marker") + marker.len();
    page[start..start + page[start..].find('"').expect("its end")].to_string()
}

#[tokio::test]
async fn moderation_needs_a_token_and_goes_where_the_metrics_go() {
    // No token: the routes say how to turn moderation on, and so does the dashboard.
    let server = TestServer::start(test_config()).await;
    let (status, _, body) = admin(server.addr, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--admin-token"), "{body}");
    assert_eq!(dashboard_moderation(server.addr).await, "off");
    server.shutdown().await;

    // An admin listener: moderation and its panel are there, and not on the public port.
    let mut config = test_config();
    config.admin_token = Some(Secret(TOKEN.into()));
    let server = TestServer::start_with_admin(config.clone()).await;
    let op = server.admin.unwrap();
    assert_eq!(dashboard_moderation(op).await, "on");
    assert_eq!(dashboard_moderation(server.addr).await, "");
    assert_eq!(admin(op, "GET", "/bans", Some(TOKEN), "").await.0, 200);
    server.shutdown().await;

    // A token and no admin listener: on the public port, as /metrics is.
    let server = TestServer::start(config).await;
    assert_eq!(dashboard_moderation(server.addr).await, "on");
    let (status, _, body) = admin(server.addr, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"bans":[]}"#));
    let (status, _, _) = admin(server.addr, "GET", "/bans", None, "").await;
    assert_eq!(status, 401);
    let player = join_from(&server, "127.0.0.2", Role::Player, "ada").await;
    let path = "/rooms/duel/kick";
    let body = format!(r#"{{"player": {}}}"#, player.welcome.player_id.0);
    let (status, _, answer) = admin(server.addr, "POST", path, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{answer}");
    player.closed().await.assert_is(1008, Some(KickReason::Removed), "removed by the operator");
    server.shutdown().await;

    // A team: each operator's own token, and the log says who did what.
    let mut config = test_config();
    let team = "alice alice-token-of-32-bytes-xxxxxx\nbob bob-token-of-32-bytes-xxxxxxxx\n";
    config.admin_tokens = Some(tickwire_server::moderation::OperatorTokens::parse(team).unwrap());
    let server = TestServer::start(config).await;
    let (alice, bob) = ("alice-token-of-32-bytes-xxxxxx", "bob-token-of-32-bytes-xxxxxxxx");
    let player = join_from(&server, "127.0.0.2", Role::Player, "ada").await;
    let body = format!(r#"{{"player": {}, "reason": "afk"}}"#, player.welcome.player_id.0);
    assert_eq!(admin(server.addr, "POST", path, Some(alice), &body).await.0, 200);
    let ban = r#"{"name": "griefer", "for": "1h"}"#;
    assert_eq!(admin(server.addr, "POST", "/bans", Some(bob), ban).await.0, 201);
    let (status, _, body) = admin(server.addr, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!(status, 401, "no --admin-token here: {body}");
    let (_, _, body) = admin(server.addr, "GET", "/moderation/log", Some(bob), "").await;
    let log = json(&body);
    let who: Vec<(&str, &str)> = log["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["operator"].as_str().unwrap(), a["action"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("bob", "ban"), ("alice", "remove")]);
    server.shutdown().await;
}

/// An address that sends wrong tokens in a loop is slowed to a try a second after ten, and
/// refused before its token is read (a right guess then looks like any other); an operator's
/// typos stay far below that, and another address is not held to it.
/// A moderation request whose body never ends is answered 408 within `--handshake-timeout`,
/// and one past the limit 413 at once: neither holds its connection, one of the few an
/// address keeps on an admin listener.
#[tokio::test]
async fn a_moderation_body_that_never_ends_is_answered_in_time() {
    let mut config = test_config();
    config.admin_token = Some(Secret(TOKEN.into()));
    config.handshake_timeout = std::time::Duration::from_millis(300);
    let server = TestServer::start(config).await;
    let trickled = format!(
        "POST /bans HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
    );
    let (status, _, body) = http_request(server.addr, &trickled).await;
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("--handshake-timeout"), "{body}");
    let big = format!(r#"{{"name": "x", "for": "1h", "reason": "{}"}}"#, "x".repeat(20_000));
    let (status, _, body) = admin(server.addr, "POST", "/bans", Some(TOKEN), &big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("16384 bytes"), "{body}");
    // The token is still checked first: a wrong one is told so, not timed out.
    let wrong = trickled.replace(TOKEN, "a-wrong-token-of-32-bytes-long-x");
    assert_eq!(http_request(server.addr, &wrong).await.0, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn guessing_the_admin_token_is_held_to_a_try_a_second() {
    let mut config = test_config();
    config.admin_token = Some(Secret(TOKEN.into()));
    let server = TestServer::start(config).await;
    for guess in 0..10 {
        let (status, _, body) =
            admin(server.addr, "GET", "/bans", Some(&format!("guess-{guess}")), "").await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, head, body) = admin(server.addr, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!(status, 429, "even the right token waits: {body}");
    assert!(body.contains("too many wrong admin tokens from this address"), "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 2"), "{head}");
    assert_eq!(
        metric(server.addr, "tickwire_refused_total{reason=\"admin_guess_rate\"}").await,
        1.0
    );
    // A second later, one more try.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, body) = admin(server.addr, "GET", "/bans", Some(TOKEN), "").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}
