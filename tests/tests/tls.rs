//! `wss://` and `https://`: the server with a certificate made in the test (rcgen), a client
//! that trusts only that certificate, a plain-HTTP request answered with a 400 that says to use
//! TLS, and a certificate rotated by a real SIGHUP while a match goes on. Its own test binary:
//! the SIGHUP reaches every server in the process.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::{ClientMessage, Role, SUBPROTOCOL, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::Resumption;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A certificate for `localhost` and its key, written as PEM into `dir`; the certificate's PEM.
fn make_pair(dir: &Path) -> (PathBuf, PathBuf, String) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let pem = pair.cert.pem();
    // Written beside, then renamed: a reload never sees a half-written file.
    std::fs::write(dir.join("next.crt"), &pem).unwrap();
    std::fs::write(dir.join("next.key"), pair.signing_key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("next.key"), &key).unwrap();
    std::fs::rename(dir.join("next.crt"), &cert).unwrap();
    (cert, key, pem)
}

/// A TLS connector that trusts only `pem`.
fn trusting(pem: &str) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A resumed session skips the certificate: every handshake here must check it.
    config.resumption = Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

async fn tls(
    server: &TestServer,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.addr).await?;
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// Joins over `wss://` as a spectator of `room`.
async fn join_wss(
    server: &TestServer,
    connector: &TlsConnector,
    room: &str,
) -> WebSocketStream<TlsStream<TcpStream>> {
    let stream = tls(server, connector).await.expect("TLS handshake");
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await.expect("upgrade");
    let hello = ClientMessage::Hello(hello_in(Role::Spectator, "tls", room));
    ws.send(Message::Binary(encode_client_to_vec(&hello).into())).await.unwrap();
    ws
}

/// Reads until `count` snapshots arrived.
async fn snapshots(ws: &mut WebSocketStream<TlsStream<TcpStream>>, count: usize) {
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("in time") {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ServerMessage::Snapshot(_)) = decode_server(&bytes) {
                    seen += 1;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_and_https_serve_and_a_sighup_rotates_the_certificate_mid_match() {
    let dir = std::env::temp_dir().join(format!("tickwire-tls-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, first) = make_pair(&dir);
    let mut config = test_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    let server = TestServer::start(config).await;
    let old = trusting(&first);

    // A match over wss://.
    let mut watcher = join_wss(&server, &old, "secure").await;
    snapshots(&mut watcher, 3).await;

    // https:// answers too.
    let mut https = tls(&server, &old).await.unwrap();
    https
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    https.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Plain HTTP on the TLS port gets told.
    let (status, _, body) = server.get("/healthz").await;
    assert_eq!(status, 400);
    assert!(body.contains("speaks TLS"), "{body}");
    let mut https = tls(&server, &old).await.unwrap();
    https
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut metrics = String::new();
    https.read_to_string(&mut metrics).await.unwrap();
    assert!(metrics.contains("tickwire_refused_total{reason=\"plain_http\"} 1"), "{metrics}");

    // Rotate: a new pair in the same files, then SIGHUP.
    let (_, _, second) = make_pair(&dir);
    let new = trusting(&second);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tls(&server, &new).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the new certificate was not served");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // New connections get the new certificate; one trusting only the old one is refused.
    assert!(tls(&server, &old).await.is_err(), "the old certificate is no longer served");
    let mut joiner = join_wss(&server, &new, "secure").await;
    snapshots(&mut joiner, 3).await;
    // The match that started under the old certificate goes on.
    snapshots(&mut watcher, 30).await;
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// GET `path` over `https://`: the whole response.
async fn https_get(server: &TestServer, connector: &TlsConnector, path: &str) -> String {
    let mut https = tls(server, connector).await.expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    https.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    https.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_cap_a_tls_client_reads_its_429_and_refusals_are_bounded() {
    let dir = std::env::temp_dir().join(format!("tickwire-tls-cap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, pem) = make_pair(&dir);
    let mut config = test_config();
    config.tls_cert = Some(cert);
    config.tls_key = Some(key);
    config.max_connections_per_ip = 1;
    config.handshake_timeout = Duration::from_secs(20);
    let server = TestServer::start(config).await;
    let connector = trusting(&pem);

    // Connected and closed without a byte (a load balancer's TCP check): not plain HTTP.
    for _ in 0..3 {
        drop(TcpStream::connect(server.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.get("/healthz").await.0, 400, "plain HTTP is told to use TLS");
    let metrics = https_get(&server, &connector, "/metrics").await;
    assert!(metrics.contains("tickwire_refused_total{reason=\"plain_http\"} 1\n"), "{metrics}");

    // The address's places, held by idle connections.
    let limit = 2 + tickwire_server::context::HTTP_CONNECTIONS_PER_IP as usize;
    let mut idle = Vec::new();
    for _ in 0..limit {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Over the cap, a TLS client gets its 429 inside TLS, not plain text it cannot read.
    let response = https_get(&server, &connector, "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 429 "), "{response}");
    assert!(response.contains("too many connections from your address"), "{response}");

    // Refusals that wait for a handshake that never comes hold their sockets; past the bound,
    // a connection over the cap is closed at once instead of held too.
    let mut held = Vec::new();
    for _ in 0..tickwire_server::server::REFUSALS_IN_FLIGHT {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut dropped = TcpStream::connect(server.addr).await.unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), dropped.read_to_end(&mut answer));
    assert!(closed.await.is_ok(), "past the bound, an over-cap connection is held too");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    drop((held, idle));
    server.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
