//! `wss://`: the client against the real server serving TLS with a certificate made in the
//! test (rcgen). Trusting that certificate it joins and plays; with the default roots
//! (Mozilla's), the self-signed certificate is refused as a TLS failure that is not retried.

mod support;

use std::sync::Arc;
use std::time::Duration;
use support::{PATIENCE, TestServer, server_config};
use tickwire_client::rustls::RootCertStore;
use tickwire_client::rustls::pki_types::CertificateDer;
use tickwire_client::{
    Client, Config, Disconnect, End, Endpoint, Event, Identity, LinkError, Retry, tls_config,
};

/// A server for 127.0.0.1 with a fresh self-signed certificate; its DER.
async fn tls_server(name: &str) -> (TestServer, CertificateDer<'static>) {
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let dir =
        std::env::temp_dir().join(format!("tickwire-client-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let mut config = server_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    (TestServer::start(config).await, pair.cert.der().clone())
}

#[tokio::test]
async fn over_wss_a_client_trusting_the_certificate_joins_and_plays() {
    let (server, der) = tls_server("trusted").await;
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let endpoint = Endpoint::parse(&format!("wss://127.0.0.1:{}/ws", server.addr.port()))
        .unwrap()
        .with_tls_config(Arc::new(tls_config(roots)));
    assert!(endpoint.is_tls());
    let identity = Identity::player("sec").unwrap().in_room("wss").unwrap();
    let mut client = Client::with_endpoint(Arc::new(endpoint), identity, Config::default(), 7);
    let snapshots = tokio::time::timeout(PATIENCE, async {
        let mut snapshots = 0;
        while snapshots < 10 {
            match client.next_event().await.expect("the session goes on") {
                Event::Snapshot(_) => snapshots += 1,
                Event::Disconnected { reason, .. } => panic!("disconnected: {reason}"),
                _ => {}
            }
        }
        snapshots
    })
    .await
    .expect("snapshots over TLS in time");
    assert_eq!(snapshots, 10);
    assert!(client.welcome().unwrap().entity.is_some(), "joined as a player with a ship");
    // Bytes are counted on TCP, TLS records included: more than the WebSocket frames carry.
    let (read, written) = client.wire_bytes();
    assert!(read > 1000 && written > 100, "wire bytes {read} in, {written} out");
    assert_eq!(client.leave().await, End::Left { answer: Some(1000) });
    server.shutdown().await;
}

/// The first `Disconnected`'s reason; a join first fails the test, saying `joined`.
async fn refusal(client: &mut Client, joined: &str) -> Disconnect {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match client.next_event().await.expect("a Disconnected before the end") {
                Event::Disconnected { reason, .. } => return reason,
                Event::Joined(_) => panic!("{joined}"),
                _ => {}
            }
        }
    })
    .await
    .expect("refused in time")
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_failure_and_is_not_retried() {
    let (server, _) = tls_server("untrusted").await;
    // The default roots: Mozilla's, which do not sign a self-signed test certificate.
    let url = format!("wss://127.0.0.1:{}/ws", server.addr.port());
    let mut client =
        Client::new(&url, Identity::player("eve").unwrap(), Config::default()).unwrap();
    let reason = refusal(&mut client, "joined through an untrusted certificate").await;
    let Disconnect::Lost(LinkError::Tls(why)) = &reason else {
        panic!("expected a TLS failure, got {reason:?}");
    };
    assert!(why.contains("certificate"), "rustls says why: {why}");
    assert_eq!(reason.retry(), Retry::Never);
    assert_eq!(reason.label(), "tls");
    let ended = tokio::time::timeout(Duration::from_secs(2), client.next_event()).await;
    assert!(
        matches!(ended, Ok(Some(Event::Ended(End::GaveUp)))),
        "the session ends instead of retrying: {ended:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn wss_to_a_server_without_tls_says_to_try_ws() {
    // A plain server answers the ClientHello with HTTP, which rustls calls a corrupt message.
    let server = TestServer::start(server_config()).await;
    let url = format!("wss://127.0.0.1:{}/ws", server.addr.port());
    let mut client =
        Client::new(&url, Identity::player("eve").unwrap(), Config::default()).unwrap();
    let reason = refusal(&mut client, "joined over TLS to a plain server").await;
    let Disconnect::Lost(LinkError::Tls(why)) = &reason else {
        panic!("expected a TLS failure, got {reason:?}");
    };
    assert!(why.contains("does not speak TLS") && why.contains("ws://"), "{why}");
    assert!(!why.contains("InvalidContentType"), "{why}");
    assert_eq!(reason.retry(), Retry::Never);
    server.shutdown().await;
}
