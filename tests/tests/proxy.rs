//! Behind a proxy: the `--proxy-header` (`X-Forwarded-For` or `Forwarded`) is believed from
//! `--trusted-proxies` only, and then the per-address session cap counts the client it names,
//! not the proxy; the other header, which the proxy passes through as the client wrote it, is
//! never believed.

mod support;

use std::net::SocketAddr;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An upgrade of `/ws` carrying `forwarding` (a header line or ""); the status, and the
/// connection kept open so its session stays counted.
async fn upgrade(addr: SocketAddr, forwarding: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(upgrade_request("", forwarding).as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "the server answered: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head)[9..12].parse().unwrap();
    (status, stream)
}

fn xff(ip: &str) -> String {
    format!("X-Forwarded-For: 1.2.3.4, {ip}\r\n")
}

#[tokio::test]
async fn a_trusted_proxy_s_clients_are_capped_each_by_their_own_address() {
    let mut config = test_config();
    config.max_connections_per_ip = 2;
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let server = TestServer::start(config).await;
    let mut open = Vec::new();
    // Three clients behind the same proxy address: each has its own cap.
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let (status, stream) = upgrade(server.addr, &xff(ip)).await;
        assert_eq!(status, 101, "{ip}");
        open.push(stream);
    }
    // One client's third session is over its cap of 2, whatever it claimed before the proxy.
    for _ in 0..2 {
        let (status, stream) = upgrade(server.addr, &xff("203.0.113.7")).await;
        assert_eq!(status, 101);
        open.push(stream);
    }
    assert_eq!(upgrade(server.addr, &xff("203.0.113.7")).await.0, 429);
    // A `Forwarded` header the client wrote itself (the proxy writes X-Forwarded-For and passes
    // it through) is not believed: the session still counts as 203.0.113.7's, not as
    // 198.51.100.1's, which has room for one more.
    let spoofed = format!("Forwarded: for=198.51.100.1\r\n{}", xff("203.0.113.7"));
    assert_eq!(upgrade(server.addr, &spoofed).await.0, 429);
    server.shutdown().await;
}

/// On a dual-stack listener (`--bind [::]:8080`) an IPv4 proxy's connections arrive as
/// `::ffff:127.0.0.1`: still the trusted `127.0.0.0/8`, exempt from the per-address TCP cap.
#[tokio::test]
async fn a_trusted_ipv4_proxy_on_a_dual_stack_listener_is_exempt_from_the_tcp_cap() {
    let mut config = test_config();
    config.max_connections_per_ip = 1;
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let listener = tokio::net::TcpListener::bind("[::]:0").await.expect("a dual-stack listener");
    let server = TestServer::start_on(listener, config).await;
    let via_ipv4 = SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    // Past the cap of one address (2 x 1 + 16 TCP connections): requests on their way, each
    // holding its connection, as a proxy's many clients do.
    let mut open = Vec::new();
    for _ in 0..24 {
        let mut stream = TcpStream::connect(via_ipv4).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n").await.unwrap();
        open.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = upgrade(via_ipv4, &xff("198.51.100.1")).await;
    assert_eq!(status, 101, "the proxy is not refused for its number of connections");
    server.shutdown().await;
}

#[tokio::test]
async fn a_proxy_writing_forwarded_is_read_with_proxy_header_forwarded() {
    let mut config = test_config();
    config.max_connections_per_ip = 1;
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    config.proxy_header = tickwire_server::proxy::ProxyHeader::Forwarded;
    let server = TestServer::start(config).await;
    let mut open = Vec::new();
    let forwarded = "Forwarded: for=\"203.0.113.7:5555\";proto=https\r\n";
    let (status, stream) = upgrade(server.addr, forwarded).await;
    assert_eq!(status, 101);
    open.push(stream);
    assert_eq!(upgrade(server.addr, forwarded).await.0, 429, "the same client, over its cap");
    // X-Forwarded-For is now the header the client may have written: not believed.
    let spoofed = format!("{}{forwarded}", xff("198.51.100.1"));
    assert_eq!(upgrade(server.addr, &spoofed).await.0, 429);
    let (status, _other) = upgrade(server.addr, "Forwarded: for=\"[2001:db8::9]\"\r\n").await;
    assert_eq!(status, 101, "another client");
    server.shutdown().await;
}

#[tokio::test]
async fn forwarding_headers_from_anyone_else_are_ignored() {
    let mut config = test_config();
    config.max_connections_per_ip = 2;
    let server = TestServer::start(config).await;
    let mut open = Vec::new();
    for ip in ["198.51.100.1", "198.51.100.2"] {
        let (status, stream) = upgrade(server.addr, &xff(ip)).await;
        assert_eq!(status, 101);
        open.push(stream);
    }
    // Claiming a third address does not escape the cap of the real one (127.0.0.1).
    assert_eq!(upgrade(server.addr, &xff("198.51.100.3")).await.0, 429);
    server.shutdown().await;
}
