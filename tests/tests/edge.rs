//! The server at its HTTP edge, end to end on 127.0.0.1 port 0 (in this process): how a
//! connection that vanishes is counted, the rate of new connections of a client behind a
//! trusted proxy, the listeners through a shutdown, and the metrics of a fresh server.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use support::{PATIENCE, TestServer, get_with, http_request, test_config, upgrade_request};
use tickwire_shared::codec::{decode_server, encode_client_to_vec};
use tickwire_shared::{
    ClientMessage, Hello, Name, PROTOCOL_VERSION, Role, RoomRequest, SUBPROTOCOL, ServerMessage,
};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// An upgrade of `/ws` with `headers`; status, head, body.
async fn upgrade(addr: SocketAddr, headers: &str) -> (u16, String, String) {
    http_request(addr, &upgrade_request("", headers)).await
}

/// The value of one series on `/metrics` (`name{labels}` exactly), 0 when absent.
async fn metric(addr: SocketAddr, series: &str) -> f64 {
    let (_, _, body) = get_with(addr, "/metrics", "").await;
    let prefix = format!("{series} ");
    body.lines().find_map(|l| l.strip_prefix(&prefix)?.parse().ok()).unwrap_or(0.0)
}

/// Waits until `series` reads `value`, or fails after [`PATIENCE`].
async fn metric_reaches(addr: SocketAddr, series: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = metric(addr, series).await;
        if now == value {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series} is {now}, not {value}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket of `/ws` offering `tickwire.v1`, nothing sent on it yet.
async fn upgraded(addr: SocketAddr) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let upgrade = tokio_tungstenite::client_async(request, stream);
    let (ws, _) = tokio::time::timeout(PATIENCE, upgrade).await.unwrap().expect("upgraded");
    ws
}

/// A spectator seated in a room: its `Welcome` read, nothing read after it.
async fn spectator(addr: SocketAddr) -> Ws {
    let mut ws = upgraded(addr).await;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Spectator,
        name: Name::truncated("watcher"),
        room: RoomRequest::Any,
        resume: None,
    };
    ws.send(Message::Binary(encode_client_to_vec(&ClientMessage::Hello(hello)).into()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
        if let Some(Ok(Message::Binary(bytes))) = message
            && matches!(decode_server(&bytes), Ok(ServerMessage::Welcome(_)))
        {
            return ws;
        }
    }
}

/// Drops the connection with a reset (SO_LINGER 0) rather than a FIN.
fn reset(ws: Ws) {
    let stream = ws.into_inner();
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// A client that goes away without a closing handshake, reset or closed, seated or not, is
/// counted as what it is (1006 from the client), not as a 1000 the server sent into a dead
/// socket.
#[tokio::test]
async fn a_client_that_vanishes_counts_as_1006_from_the_client_not_as_a_server_close() {
    let server = TestServer::start(test_config()).await;
    let addr = server.addr;
    drop(upgraded(addr).await);
    reset(upgraded(addr).await);
    drop(spectator(addr).await);
    reset(spectator(addr).await);
    let abnormal = "tickwire_closes_total{code=\"1006\",initiator=\"client\"}";
    metric_reaches(addr, abnormal, 4.0).await;
    let (_, _, metrics) = get_with(addr, "/metrics", "").await;
    let sent: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tickwire_closes_total{") && !l.ends_with(" 0"))
        .filter(|l| !l.starts_with(abnormal))
        .collect();
    assert!(sent.is_empty(), "no close frame was sent: {sent:?}");
    let seats = "tickwire_clients{role=\"spectator\"}";
    metric_reaches(addr, seats, 0.0).await;
    server.shutdown().await;
}

/// A trusted proxy is exempt from the per-address TCP rate, the clients it names are not:
/// each upgrade (and new HTTP fallback session) counts as a new connection of its client, and
/// past the rate it is refused with 429 and `Retry-After: 1`. Plain requests through the proxy
/// (a page and its assets) are not counted, and other clients keep their own rate.
#[tokio::test]
async fn a_client_behind_a_trusted_proxy_opens_connections_at_an_address_s_rate() {
    let mut config = test_config();
    config.max_connections_per_ip = 2;
    config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let server = TestServer::start(config).await;
    let addr = server.addr;
    let client = "X-Forwarded-For: 203.0.113.9\r\n";
    // Upgrades that hold no session (refused for their key), as fast as one connection after
    // another goes: the burst (200) and what refills meanwhile, then 429.
    let attempt = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickwire.v1\r\n{client}\r\n"
    );
    let mut refused = None;
    for _ in 0..5_000 {
        let (status, head, body) = http_request(addr, &attempt).await;
        if status == 429 {
            refused = Some((head, body));
            break;
        }
        assert_eq!(status, 400, "{head}\n{body}");
    }
    let (head, body) = refused.expect("the client's upgrades were never limited");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1\r\n"), "{head}");
    assert!(body.contains("too many new connections from your address"), "{body}");
    assert!(metric(addr, "tickwire_refused_total{reason=\"tcp_rate\"}").await >= 1.0);
    // Its plain requests are not new connections.
    for _ in 0..300 {
        assert_eq!(get_with(addr, "/healthz", client).await.0, 200);
    }
    // Another client behind the same proxy has its own rate.
    let (status, head, _) = upgrade(addr, "X-Forwarded-For: 198.51.100.7\r\n").await;
    assert_eq!(status, 101, "{head}");
    server.shutdown().await;
}

/// While the server closes its clients (a stopped spectator holds the close for up to
/// `--close-timeout`), both listeners stay open: readiness says 503, liveness 200, the lobby
/// and the metrics answer, and a new upgrade is refused with 503. Once the clients are
/// closed the ports close.
#[tokio::test]
async fn the_listeners_answer_while_the_server_closes_its_clients() {
    let mut config = test_config();
    config.close_timeout = Duration::from_secs(60);
    config.shutdown_timeout = Duration::from_secs(120);
    let mut server = TestServer::start_with_admin(config).await;
    let (addr, admin) = (server.addr, server.admin.expect("an admin listener"));
    // Seated, then not reading: it will not answer the server's 1001 until told to.
    let mut stopped = spectator(addr).await;
    server.signal_stop();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, _, body) = get_with(addr, "/healthz", "").await;
        if status == 503 {
            assert_eq!(body, "shutting down\n");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz still {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get_with(addr, "/livez", "").await.0, 200);
    assert_eq!(get_with(addr, "/rooms", "").await.0, 200);
    let (status, head, body) = upgrade(addr, "").await;
    assert_eq!((status, body.as_str()), (503, "server shutting down\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 1\r\n"), "come back soon: {head}");
    assert_eq!(get_with(admin, "/healthz", "").await.0, 503);
    assert_eq!(get_with(admin, "/livez", "").await.0, 200);
    let (status, _, metrics) = get_with(admin, "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("tickwire_refused_total{reason=\"shutting_down\"} 1"), "{metrics}");
    // The spectator reads its 1001 and answers it; the server is done.
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stopped.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the close came");
    assert_eq!(closed, Some(1001));
    while let Ok(Some(_)) = tokio::time::timeout(PATIENCE, stopped.next()).await {}
    server.stopped().await;
    assert!(TcpStream::connect(addr).await.is_err(), "the public port closed at exit");
    assert!(TcpStream::connect(admin).await.is_err(), "the admin port closed at exit");
}

/// Another method than GET on `/ws` is 405 with `Allow: GET`, and counted with the other
/// requests there that are no upgrade.
#[tokio::test]
async fn a_post_to_the_websocket_endpoint_is_405_and_counted() {
    let server = TestServer::start(test_config()).await;
    let addr = server.addr;
    let (status, head, body) = http_request(
        addr,
        "POST /ws HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("\r\nallow: get"), "{head}");
    assert_eq!(metric(addr, "tickwire_refused_total{reason=\"not_upgrade\"}").await, 1.0);
    server.shutdown().await;
}

/// A fresh server already has the series graphs and alerts read, at 0.
#[tokio::test]
async fn a_fresh_server_has_its_clients_refusals_and_closes_at_zero() {
    let server = TestServer::start(test_config()).await;
    let (_, _, metrics) = get_with(server.addr, "/metrics", "").await;
    for series in [
        "tickwire_clients{role=\"player\"} 0",
        "tickwire_clients{role=\"spectator\"} 0",
        "tickwire_clients{role=\"controller\"} 0",
        "tickwire_refused_total{reason=\"auth\"} 0",
        "tickwire_refused_total{reason=\"tcp_rate\"} 0",
        "tickwire_closes_total{code=\"1001\",initiator=\"server\"} 0",
        "tickwire_closes_total{code=\"1008\",initiator=\"server\"} 0",
        "tickwire_closes_total{code=\"1006\",initiator=\"client\"} 0",
    ] {
        assert!(metrics.contains(&format!("{series}\n")), "{series} in\n{metrics}");
    }
    server.shutdown().await;
}

/// A library user who aborts the task running `run_with_admin` (rather than resolving its
/// shutdown) gets both ports back: the admin listener is not left serving on its own.
#[tokio::test]
async fn aborting_the_server_closes_its_admin_listener_too() {
    let server = TestServer::start_with_admin(test_config()).await;
    let admin = server.admin.unwrap();
    assert_eq!(get_with(admin, "/livez", "").await.0, 200);
    server.abort();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while TcpStream::connect(admin).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the admin port still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
