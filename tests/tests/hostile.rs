//! Hostile input, each with its answer, while other clients play: an oversized request head,
//! a message above the limit, a reserved close code, a flood of messages, a text frame on the
//! game endpoint and invalid UTF-8 inside a fragmented text message on the echo. Every one gets
//! its status or its close frame (never a reset that destroys it), and the bystanders keep
//! receiving snapshots throughout.

mod support;

use std::time::Duration;
use support::*;
use tickwire_shared::codec::encode_client_to_vec;
use tickwire_shared::{Buttons, ClientMessage, Input, InputSeq, Role};
use tokio::task::JoinHandle;

/// Clients that keep the server busy and record the newest tick they rebuilt.
struct Load {
    tasks: Vec<JoinHandle<()>>,
    ticks: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Load {
    /// A player steering in circles and `spectators` watching, in room "load".
    async fn start(url: &str, spectators: usize) -> Load {
        let ticks = std::sync::Arc::new(std::sync::Mutex::new(vec![0; spectators + 1]));
        let mut tasks = Vec::new();
        for i in 0..=spectators {
            let role = if i == 0 { Role::Player } else { Role::Spectator };
            let mut client = Client::join(url, hello_in(role, &format!("load{i}"), "load")).await;
            let ticks = ticks.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u32;
                loop {
                    n += 1;
                    if role == Role::Player {
                        client.input((n % 255) as i8, 60, 0).await;
                    }
                    let tick = client.next_world().await.tick.0;
                    ticks.lock().unwrap()[i] = tick;
                }
            }));
        }
        Load { tasks, ticks }
    }

    fn ticks(&self) -> Vec<u32> {
        self.ticks.lock().unwrap().clone()
    }

    /// Every load client rebuilt snapshots at least `ticks` ticks past `before`.
    async fn kept_playing(&self, before: &[u32], ticks: u32) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = self.ticks();
            if now.iter().zip(before).all(|(n, b)| *n >= b + ticks) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "load stalled: {before:?} -> {now:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn loaded_server() -> (TestServer, Load) {
    let mut config = test_config();
    config.echo = true;
    config.max_spectators = 200;
    let server = TestServer::start(config).await;
    let load = Load::start(&server.ws_url(), 40).await;
    (server, load)
}

/// A request with `count` headers of `size` bytes each.
fn fat_request(count: usize, size: usize) -> String {
    let mut request =
        "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: tickwire.v1\r\n"
            .to_string();
    for i in 0..count {
        request.push_str(&format!("X-Pad-{i}: {}\r\n", "a".repeat(size)));
    }
    request.push_str("\r\n");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_the_limit_get_431() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    // 20 KB of headers: over the 16 KiB limit, answered with a message.
    let (status, head, body) = http_request(server.addr, &fat_request(5, 4000)).await;
    assert_eq!(status, 431, "{head}");
    assert!(body.contains("exceeds the limit of 16384"), "{body}");
    // 160 KB (the attack): past twice the limit hyper refuses before a request exists.
    let (status, head, _) = http_request(server.addr, &fat_request(40, 4000)).await;
    assert_eq!(status, 431, "{head}");
    // Just under the limit is served.
    let (status, head, _) = http_request(server.addr, &fat_request(3, 4000)).await;
    assert_eq!(status, 101, "{head}");
    load.kept_playing(&before, 30).await;
    assert!(server.metric("tickwire_refused_total{reason=\"head_too_large\"}").await >= 1.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_message_gets_1009_and_the_close_survives_the_bytes_behind_it() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    for round in 0..3 {
        let mut raw = RawWs::connect(server.addr).await;
        raw.send(&ClientMessage::Hello(hello(Role::Player, &format!("big{round}")))).await;
        let big = vec![0x42u8; 1 << 20];
        // The server refuses at the frame's header; the rest still arrives and is discarded.
        raw.write_raw(&masked_frame(0x82, big.len() as u64, &big)).await.expect("written");
        let (code, reason) = raw.close_frame().await.expect("a close frame, not a reset");
        assert_eq!(code, 1009, "{reason}");
        assert!(reason.contains("exceeds the limit of 256"), "{reason}");
    }
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_close_code_gets_1002() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    for code in [1005u16, 1006, 1015, 999] {
        let mut raw = RawWs::connect(server.addr).await;
        raw.send(&ClientMessage::Hello(hello(Role::Spectator, "closer"))).await;
        raw.send_close(code).await;
        let (answer, _) = raw.close_frame().await.expect("a close frame");
        assert_eq!(answer, 1002, "close code {code} may not be sent");
    }
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_5000_messages_gets_its_close_frame() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect(server.addr).await;
    raw.send(&ClientMessage::Hello(hello(Role::Player, "flood"))).await;
    let mut burst = Vec::new();
    for seq in 1..=5000 {
        let input = Input { seq: InputSeq(seq), x: 1, y: 1, buttons: Buttons(0) };
        let bytes = encode_client_to_vec(&ClientMessage::Input(input));
        burst.extend(masked_frame(0x82, bytes.len() as u64, &bytes));
    }
    raw.write_raw(&burst).await.expect("the burst is read off, not reset");
    let (code, reason) = raw.close_frame().await.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("inputs per second"), "{reason}");
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_on_the_game_endpoint_is_refused_at_its_header() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect(server.addr).await;
    raw.send(&ClientMessage::Hello(hello(Role::Player, "texter"))).await;
    // A text frame announcing 100 KB, of which only the first 10 bytes are sent.
    raw.write_raw(&masked_frame(0x81, 100_000, b"0123456789")).await.unwrap();
    let (code, reason) = raw.close_frame().await.expect("a close frame before the payload");
    assert_eq!(code, 1003, "{reason}");
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_fragmented_text_message_fails_at_the_bad_byte() {
    let (server, load) = loaded_server().await;
    let before = load.ticks();
    let mut raw = RawWs::connect_to(server.addr, "/echo", None).await;
    // A valid first fragment, then a second one announcing 1 MB whose third byte is invalid:
    // only its first 20 bytes are sent, and the close must come anyway.
    raw.write_raw(&masked_frame(0x01, 5, "héll".as_bytes())).await.unwrap();
    let mut bad = b"ok".to_vec();
    bad.extend([0xc0, 0xaf]);
    bad.extend([b'x'; 16]);
    raw.write_raw(&masked_frame(0x80, 1 << 20, &bad)).await.unwrap();
    let (code, reason) = raw.close_frame().await.expect("a close frame before the payload");
    assert_eq!(code, 1007, "{reason}");
    // Valid text still echoes.
    let mut good = RawWs::connect_to(server.addr, "/echo", None).await;
    good.write_raw(&masked_frame(0x01, 3, "éa".as_bytes())).await.unwrap();
    good.write_raw(&masked_frame(0x80, 3, "✓".as_bytes())).await.unwrap();
    assert_eq!(good.next_frame().await, Some(RawFrame::Text("éa✓".as_bytes().to_vec())));
    load.kept_playing(&before, 30).await;
    server.shutdown().await;
}
