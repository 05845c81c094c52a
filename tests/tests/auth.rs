//! Signed join tokens: with `--join-secret` (HS256) or `--join-public-key` (EdDSA) an upgrade
//! without a good token gets 401 and a reason; a good one joins under the token's name, in the
//! room and role it pins.

mod support;

use support::*;
use tickwire_server::auth::{JoinClaims, MintKey, mint, unix_now};
use tickwire_shared::{EventKind, KickReason, Role};

fn claims(name: &str, room: Option<&str>, role: Option<&str>, ttl: i64) -> JoinClaims {
    JoinClaims {
        sub: name.into(),
        exp: (unix_now() as i64 + ttl) as u64,
        nbf: None,
        room: room.map(Into::into),
        role: role.map(Into::into),
    }
}

fn hs256(claims: &JoinClaims, secret: &str) -> String {
    mint(claims, &MintKey::Secret(secret.into())).unwrap()
}

/// A fresh Ed25519 key pair, its public key written to a PEM file in a directory of its own
/// (named after `test`), which the caller removes.
fn ed25519_key(test: &str) -> (rcgen::KeyPair, std::path::PathBuf, std::path::PathBuf) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let dir = std::env::temp_dir().join(format!("tickwire-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let public = dir.join("join.pub.pem");
    std::fs::write(&public, pair.public_key_pem()).unwrap();
    (pair, public, dir)
}

async fn secret_server() -> TestServer {
    let mut config = test_config();
    config.join_secret = Some("s3cret".parse().unwrap());
    TestServer::start(config).await
}

#[tokio::test]
async fn missing_forged_and_expired_tokens_get_401_with_the_reason() {
    let server = secret_server().await;
    let cases = [
        (String::new(), "a join token is required"),
        (
            format!("?token={}", hs256(&claims("ada", None, None, 60), "guess")),
            "signature is invalid",
        ),
        (format!("?token={}", hs256(&claims("ada", None, None, -300), "s3cret")), "expired"),
        ("?token=not.a.token".to_string(), "malformed"),
    ];
    for (query, why) in cases {
        let (status, head, body) = http_request(server.addr, &upgrade_request(&query, "")).await;
        assert_eq!(status, 401, "{query}: {head}");
        assert!(body.contains(why), "{query}: {body}");
        assert!(head.to_lowercase().contains("www-authenticate: bearer"), "{head}");
    }
    // A bearer header that is not the server's either.
    let bearer =
        format!("Authorization: Bearer {}\r\n", hs256(&claims("ada", None, None, 60), "nope"));
    assert_eq!(http_request(server.addr, &upgrade_request("", &bearer)).await.0, 401);
    assert!(server.metric("tickwire_refused_total{reason=\"auth\"}").await >= 5.0);
    server.shutdown().await;
}

/// A browser hides an upgrade's 401 from its page; a plain `GET /ws` with the same query and
/// Origin gets it, readable across origins (CORS), without being counted as a refused join. A
/// good token gets the 426 such a request always got; an Origin off the list, a 403 the page
/// may not read.
#[tokio::test]
async fn a_plain_get_of_ws_says_why_the_upgrade_with_its_token_is_refused() {
    let mut config = test_config();
    config.join_secret = Some("s3cret".parse().unwrap());
    config.allowed_origins = vec!["https://play.example".into()];
    let server = TestServer::start(config).await;
    let page = "Origin: https://play.example\r\n";
    let expired = hs256(&claims("ada", None, None, -300), "s3cret");
    let (status, head, body) = get_with(server.addr, &format!("/ws?token={expired}"), page).await;
    assert_eq!(status, 401, "{head}");
    assert!(body.contains("expired"), "{body}");
    let head = head.to_lowercase();
    assert!(head.contains("access-control-allow-origin: https://play.example"), "{head}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    // Marked as the server's own verdict, readable by the page: a proxy's 401 is not.
    assert!(head.contains("tickwire-refusal: join-token"), "{head}");
    let exposed = head.lines().find(|l| l.starts_with("access-control-expose-headers:"));
    assert!(exposed.is_some_and(|l| l.contains("tickwire-refusal")), "{head}");
    let (status, _, body) = get_with(server.addr, "/ws", page).await;
    assert_eq!((status, body.contains("a join token is required")), (401, true), "{body}");
    // A proxy that sets `Connection: upgrade` on every request does not hide it.
    let proxied = format!("{page}Connection: upgrade\r\n");
    let (status, _, body) = get_with(server.addr, &format!("/ws?token={expired}"), &proxied).await;
    assert_eq!((status, body.contains("expired")), (401, true), "{body}");

    let good = hs256(&claims("ada", None, None, 60), "s3cret");
    let (status, head, _) = get_with(server.addr, &format!("/ws?token={good}"), page).await;
    assert_eq!(status, 426, "{head}");
    let head = head.to_lowercase();
    assert!(head.contains("access-control-allow-origin") && !head.contains("tickwire-refusal:"));

    let elsewhere = "Origin: https://evil.example\r\n";
    let (status, head, _) = get_with(server.addr, &format!("/ws?token={expired}"), elsewhere).await;
    assert_eq!(status, 403, "{head}");
    assert!(!head.to_lowercase().contains("access-control-allow-origin"), "{head}");
    assert_eq!(server.metric("tickwire_refused_total{reason=\"auth\"}").await, 0.0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_good_token_joins_under_its_name_and_pins_room_and_role() {
    let server = secret_server().await;
    let base = server.ws_url();
    let token = hs256(&claims("ada", Some("vip"), Some("player"), 60), "s3cret");
    let watcher_token = hs256(&claims("watcher", Some("vip"), None, 60), "s3cret");
    let mut watcher = Client::join(
        &format!("{base}?token={watcher_token}"),
        hello_in(Role::Spectator, "w", "vip"),
    )
    .await;
    // The Hello says "mallory": the token's name wins.
    let ada =
        Client::join(&format!("{base}?token={token}"), hello_in(Role::Player, "mallory", "vip"))
            .await;
    let joined = watcher
        .wait_event(
            |e| matches!(e, EventKind::Joined { player, .. } if *player == ada.welcome.player_id),
        )
        .await;
    let EventKind::Joined { name, .. } = joined.kind else { unreachable!() };
    assert_eq!(name.as_str(), "ada");

    // Another room, or another role, than the token pins: refused with the reason.
    let ws = open(&format!("{base}?token={token}")).await;
    let refused = try_join(ws, hello_in(Role::Player, "ada", "other")).await.unwrap_err();
    refused.assert_is(1008, Some(KickReason::BadHello), "for room vip only");
    let ws = open(&format!("{base}?token={token}")).await;
    let refused = try_join(ws, hello_in(Role::Spectator, "ada", "vip")).await.unwrap_err();
    refused.assert_is(1008, Some(KickReason::BadHello), "joins as a Player only");
    server.shutdown().await;
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_public_key_only() {
    let (pair, public, dir) = ed25519_key("auth");
    let mut config = test_config();
    config.join_public_key = Some(public);
    let server = TestServer::start(config).await;

    let signed = mint(
        &claims("pico", None, Some("controller"), 3600),
        &MintKey::Ed25519Pem(pair.serialize_pem().into_bytes()),
    )
    .unwrap();
    let url = format!("{}?token={signed}", server.ws_url());
    let controller = Client::join(&url, hello(Role::Controller, "x")).await;
    assert_eq!(controller.welcome.role, Role::Controller);
    // An HS256 token, even well formed, is not one the server checks with a public key, and
    // the refusal says so (a backend set up with the other kind of key).
    let hs = hs256(&claims("pico", None, None, 60), "whatever");
    let (status, _, body) =
        http_request(server.addr, &upgrade_request(&format!("?token={hs}"), "")).await;
    assert_eq!(status, 401);
    assert!(body.contains("signed with HS256, and this server checks EdDSA tokens"), "{body}");
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A key rotation: a server given a new key (here an Ed25519 public key, the backend moving
/// off a shared secret) and the old one as `--join-previous-secret` takes tokens signed with
/// either, and still refuses any other.
#[tokio::test]
async fn while_a_new_key_rolls_out_tokens_signed_with_the_previous_one_still_join() {
    let (pair, public, dir) = ed25519_key("rotation");
    let mut config = test_config();
    config.join_public_key = Some(public);
    config.join_previous_secret = Some("s3cret".parse().unwrap());
    let server = TestServer::start(config).await;

    let new = mint(
        &claims("ada", None, None, 60),
        &MintKey::Ed25519Pem(pair.serialize_pem().into_bytes()),
    )
    .unwrap();
    let old = hs256(&claims("bob", None, None, 60), "s3cret");
    let previous = "tickwire_join_tokens_previous_key_total";
    for (token, name, by_previous) in [(new, "ada", 0.0), (old, "bob", 1.0)] {
        let url = format!("{}?token={token}", server.ws_url());
        let client = Client::join(&url, hello_in(Role::Player, "x", "rotation")).await;
        let seated = client.welcome.role == Role::Player;
        assert!(seated, "{name} joined with {:?}", client.welcome.role);
        // What tells an operator the old key is still in use (step 3 waits for it to stop).
        assert_eq!(server.metric(previous).await, by_previous, "after {name}'s join");
    }
    for (token, why) in [
        (hs256(&claims("eve", None, None, 60), "guess"), "signature is invalid"),
        (hs256(&claims("eve", None, None, -300), "s3cret"), "expired"),
    ] {
        let (status, _, body) =
            http_request(server.addr, &upgrade_request(&format!("?token={token}"), "")).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(why), "{body}");
    }
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
