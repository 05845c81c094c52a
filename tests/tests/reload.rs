//! Join keys rotated by a real SIGHUP while a match goes on: keys given as files
//! (`--join-secret-file`, `--join-previous-secret-file`, `--join-public-key`) are read again,
//! a key that cannot be read changes nothing, and the players already in play on. Its own test
//! binary: the SIGHUP reaches every server in the process.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;
use tickwire_server::auth::{JoinClaims, MintKey, mint, unix_now};
use tickwire_shared::{Role, Tick};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A token for `name`, valid for a minute, signed with `key`.
fn token(name: &str, key: &MintKey) -> String {
    let claims =
        JoinClaims { sub: name.into(), exp: unix_now() + 60, nbf: None, room: None, role: None };
    mint(&claims, key).unwrap()
}

fn secret(text: &str) -> MintKey {
    MintKey::Secret(text.into())
}

/// Writes `text` to `path` as a mounted secret changes: beside it, then renamed over it, so
/// that a reload never reads half a file.
fn replace(path: &Path, text: &str) {
    let beside = path.with_extension("next");
    std::fs::write(&beside, text).unwrap();
    std::fs::rename(&beside, path).unwrap();
}

/// The HTTP status an upgrade of `/ws` carrying `token` gets (101 when it is let in).
async fn door(server: &TestServer, token: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = upgrade_request(&format!("?token={token}"), "");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await;
        match read.expect("an answer to the upgrade") {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Sends this process a SIGHUP.
fn hangup() {
    let pid = std::process::id().to_string();
    let kill = std::process::Command::new("kill").args(["-HUP", &pid]).status().expect("kill runs");
    assert!(kill.success());
}

/// Sends this process a SIGHUP, then waits until the token `probe` gets `status` at the door:
/// the reload took.
async fn sighup_until(server: &TestServer, probe: &str, status: u16) {
    hangup();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while door(server, probe).await != status {
        assert!(tokio::time::Instant::now() < deadline, "the reload did not take");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The three steps of SECURITY.md's "Rotating the join key", with files and SIGHUPs in place of
/// restarts, while a player plays on: the new key is taken beside the old one, then alone; an
/// emptied current key (a slip) changes nothing and is counted. The Ed25519 key is then
/// rotated by replacing its PEM file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_keys_in_files_rotate_on_sighup_without_a_restart_while_a_match_goes_on() {
    let dir = std::env::temp_dir().join(format!("tickwire-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (current, previous) = (dir.join("join.secret"), dir.join("join-previous.secret"));
    let (old, new) =
        ("old-secret-of-thirty-two-bytes-or-more", "new-secret-of-thirty-two-bytes-or-more");
    replace(&current, &format!("{old}\n"));
    replace(&previous, "");
    let mut config = test_config();
    config.join_secret_file = Some(current.clone());
    config.join_previous_secret_file = Some(previous.clone());
    let server = TestServer::start(config).await;
    let (old_key, new_key) = (secret(old), secret(new));
    let keys = "tickwire_join_keys ";
    assert_eq!(server.metric(keys).await, 1.0);
    // The keys' prints stay off `/metrics`, which may be public.
    let print = tickwire_server::auth::JoinVerifier::from_secret(old).unwrap().prints()[0].clone();
    assert!(!server.get("/metrics").await.2.contains(&print));

    // A player in, on the old key; the new key is not taken yet.
    let url = format!("{}?token={}", server.ws_url(), token("ada", &old_key));
    let mut ada = Client::join(&url, hello(Role::Player, "ada")).await;
    let mut tick = ada.snapshots_past(Tick(0), 3).await;
    assert_eq!(door(&server, &token("bo", &new_key)).await, 401);

    // Step 1: the new key, the old one kept as the previous one.
    replace(&current, new);
    replace(&previous, &format!("{old}\n"));
    sighup_until(&server, &token("bo", &new_key), 101).await;
    assert_eq!(door(&server, &token("cy", &old_key)).await, 101, "the old key is still taken");
    assert!(server.metric("tickwire_join_tokens_previous_key_total").await >= 1.0);
    assert_eq!(server.metric(keys).await, 2.0);
    tick = ada.snapshots_past(tick, 3).await;

    // Step 3: the previous key dropped by emptying its file.
    replace(&previous, "\n");
    sighup_until(&server, &token("cy", &old_key), 401).await;
    assert_eq!(door(&server, &token("bo", &new_key)).await, 101);
    assert_eq!(server.metric(keys).await, 1.0);

    // Slips: the current key's file emptied, then two secrets pasted into it. Each reload
    // fails, and says so until one reads every file; the key in force stays.
    let failed = "tickwire_join_key_reload_failed";
    for slip in [String::new(), format!("{new}\n{old}\n")] {
        replace(&current, &slip);
        hangup();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while server.metric(failed).await != 1.0 {
            assert!(tokio::time::Instant::now() < deadline, "the failed reload was not shown");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(door(&server, &token("bo", &new_key)).await, 101, "the key in force stays");
        assert_eq!(server.metric(keys).await, 1.0);
        replace(&current, new);
        hangup();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while server.metric(failed).await != 0.0 {
            assert!(tokio::time::Instant::now() < deadline, "the good reload was not shown");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // The player let in by the old key played through it all.
    ada.snapshots_past(tick, 10).await;
    server.shutdown().await;

    // An Ed25519 key rotated alike, its previous public key's file empty until a rotation.
    let pair = |_| rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let (first, second) = (pair(1), pair(2));
    let (public, previous) = (dir.join("join.pub.pem"), dir.join("join-previous.pub.pem"));
    replace(&public, &first.public_key_pem());
    replace(&previous, "");
    let mut config = test_config();
    config.join_public_key = Some(public.clone());
    config.join_previous_public_key = Some(previous.clone());
    let server = TestServer::start(config).await;
    let signed = |pair: &rcgen::KeyPair, name: &str| {
        token(name, &MintKey::Ed25519Pem(pair.serialize_pem().into_bytes()))
    };
    assert_eq!(door(&server, &signed(&first, "ada")).await, 101);
    assert_eq!(door(&server, &signed(&second, "bo")).await, 401);
    replace(&previous, &first.public_key_pem());
    replace(&public, &second.public_key_pem());
    sighup_until(&server, &signed(&second, "bo"), 101).await;
    assert_eq!(door(&server, &signed(&first, "cy")).await, 101, "the previous key is taken");
    replace(&previous, "\n");
    sighup_until(&server, &signed(&first, "cy"), 401).await;
    assert_eq!(door(&server, &signed(&second, "bo")).await, 101);
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
