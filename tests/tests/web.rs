//! The web client's routes on a real server: the game and dashboard pages, versioned assets
//! with their caching and compression, `--web-root`, `/stats`, and the invite QR code.

mod support;

use support::{TestServer, get_with, http_request, test_config};

/// A GET with extra header lines (each ending in `\r\n`).
async fn get(server: &TestServer, path: &str, headers: &str) -> (u16, String, String) {
    get_with(server.addr, path, headers).await
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The asset URL prefix the page uses, e.g. `/assets/0123abcd4567/`.
fn asset_prefix(page: &str) -> String {
    let start = page.find("/assets/").expect("the page names its assets");
    let end = start + page[start + 8..].find('/').expect("versioned") + 9;
    page[start..end].to_string()
}

#[tokio::test]
async fn the_game_page_is_served_and_revalidated() {
    let server = TestServer::start(test_config()).await;
    let (status, head, body) = get(&server, "/", "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    assert!(
        header(&head, "content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'self'"))
    );
    assert!(body.contains("tickwire arena"));
    assert!(!body.contains("/@assets/"), "placeholders are rewritten");
    let prefix = asset_prefix(&body);
    assert!(body.contains(&format!("{prefix}js/app.js")));

    let etag = header(&head, "etag").expect("an ETag").to_string();
    let (status, head, body) = get(&server, "/", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(status, 304);
    assert!(body.is_empty());
    assert_eq!(header(&head, "etag"), Some(etag.as_str()));

    let (status, _, body) = get(&server, "/dashboard", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("tickwire dashboard"));
    let (status, _, body) =
        http_request(server.addr, "HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(body.is_empty(), "HEAD has no body");
    server.shutdown().await;
}

#[tokio::test]
async fn assets_are_immutable_typed_and_gzipped_when_accepted() {
    let server = TestServer::start(test_config()).await;
    let (_, _, page) = get(&server, "/", "").await;
    let prefix = asset_prefix(&page);

    let (status, head, plain) = get(&server, &format!("{prefix}sdk/src/messages.js"), "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(header(&head, "cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(header(&head, "content-encoding"), None);
    assert!(plain.contains("export function decodeServerMessage"));

    let (status, head, _) =
        get(&server, &format!("{prefix}sdk/src/messages.js"), "Accept-Encoding: gzip, br\r\n")
            .await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    assert_eq!(header(&head, "vary"), Some("Accept-Encoding"));
    let packed: usize =
        header(&head, "content-length").and_then(|n| n.parse().ok()).expect("length");
    assert!(packed * 2 < plain.len(), "gzip {packed} bytes vs {} plain", plain.len());
    // Each representation has its own strong tag, and a revalidation matches only its own: a
    // cache holding the gzip bytes cannot hand them to a client that does not accept gzip.
    let gzip_tag = header(&head, "etag").expect("an ETag").to_string();
    let (_, head, _) = get(&server, &format!("{prefix}sdk/src/messages.js"), "").await;
    let plain_tag = header(&head, "etag").expect("an ETag").to_string();
    assert_ne!(gzip_tag, plain_tag);
    let path = format!("{prefix}sdk/src/messages.js");
    let (status, _, _) = get(&server, &path, &format!("If-None-Match: {gzip_tag}\r\n")).await;
    assert_eq!(status, 200, "the gzip tag revalidated the identity representation");
    let revalidate = format!("If-None-Match: {gzip_tag}\r\nAccept-Encoding: gzip\r\n");
    let (status, head, _) = get(&server, &path, &revalidate).await;
    assert_eq!(status, 304);
    assert_eq!(header(&head, "etag"), Some(gzip_tag.as_str()));

    let (_, head, _) = get(&server, &format!("{prefix}css/game.css"), "").await;
    assert_eq!(header(&head, "content-type"), Some("text/css; charset=utf-8"));
    let (_, head, _) = get(&server, &format!("{prefix}favicon.svg"), "").await;
    assert_eq!(header(&head, "content-type"), Some("image/svg+xml"));

    // A page from before an upgrade names an old version: today's file, not cached for good.
    let (status, head, _) = get(&server, "/assets/0000oldbuild/js/app.js", "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));

    for path in [
        "package.json",
        "sdk/package.json",
        "sdk/test/codec.test.js",
        "node_modules/x.js",
        "js/missing.js",
    ] {
        let (status, _, body) = get(&server, &format!("{prefix}{path}"), "").await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("not part of the web client"), "{path}: {body}");
    }
    server.shutdown().await;
}

/// A game's page on another origin imports the SDK from the server: `/sdk/index.js` sends it
/// to this build's copy, and both answers let any origin read them (a module script from
/// another origin is fetched with CORS, each redirect included). The game's own files stay
/// same-origin.
#[tokio::test]
async fn the_sdk_is_importable_from_another_origin_at_a_stable_url() {
    let server = TestServer::start(test_config()).await;
    let (_, _, page) = get(&server, "/", "").await;
    let prefix = asset_prefix(&page);
    let origin = "Origin: https://my-game.example\r\n";
    let (status, head, _) = get(&server, "/sdk/index.js", origin).await;
    assert_eq!(status, 302);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"), "a new build is found");
    let location = header(&head, "location").expect("a Location");
    assert_eq!(location, format!("..{prefix}sdk/index.js"), "relative, for a path prefix");
    // Where it leads, as a browser resolves it against /sdk/index.js.
    let entry = &location[2..];
    let (status, head, body) = get(&server, entry, origin).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("*"));
    assert!(body.contains("export * from './src/client.js'"), "{body}");
    let (status, head, _) = get(&server, &format!("{prefix}sdk/src/client.js"), origin).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("*"), "its imports too");
    let (_, head, _) = get(&server, &format!("{prefix}js/app.js"), origin).await;
    assert_eq!(header(&head, "access-control-allow-origin"), None, "the game's own files");
    server.shutdown().await;
}

#[tokio::test]
async fn web_root_serves_from_disk_uncached() {
    let root = std::env::temp_dir().join(format!("tickwire-web-root-{}", std::process::id()));
    std::fs::create_dir_all(root.join("js")).unwrap();
    std::fs::write(root.join("index.html"), "<script src=\"/@assets/js/app.js\"></script>dev page")
        .unwrap();
    std::fs::write(root.join("js/app.js"), "console.log('v1');").unwrap();
    let mut config = test_config();
    config.web_root = Some(root.clone());
    let server = TestServer::start(config).await;
    let (status, head, body) = get(&server, "/", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("/assets/dev/js/app.js") && body.contains("dev page"));
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    let (_, head, body) = get(&server, "/assets/dev/js/app.js", "").await;
    assert_eq!(body, "console.log('v1');");
    assert_eq!(header(&head, "cache-control"), Some("no-cache"));
    std::fs::write(root.join("js/app.js"), "console.log('v2');").unwrap();
    let (_, _, body) = get(&server, "/assets/dev/js/app.js", "").await;
    assert_eq!(body, "console.log('v2');", "an edit shows on the next request");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(root);
}

/// A game's own page from `--web-root`: it imports the SDK the server speaks with (from the
/// binary, the directory having none), and serves its images, sounds and levels from
/// `media/`, any depth.
#[tokio::test]
async fn a_games_own_page_gets_the_sdk_and_its_media() {
    let root = std::env::temp_dir().join(format!("tickwire-game-page-{}", std::process::id()));
    std::fs::create_dir_all(root.join("media/levels")).unwrap();
    std::fs::write(root.join("index.html"), "<script type=module src=\"/@assets/js/game.js\">")
        .unwrap();
    std::fs::write(root.join("media/ship.png"), b"\x89PNG").unwrap();
    std::fs::write(root.join("media/levels/one.json"), "{\"walls\":[]}").unwrap();
    std::fs::write(root.join("media/notes.exe"), "MZ").unwrap();
    let mut config = test_config();
    config.web_root = Some(root.clone());
    let server = TestServer::start(config).await;
    let (status, head, _) = get(&server, "/sdk/index.js", "").await;
    assert_eq!(status, 302);
    let (status, _, body) = get(&server, &header(&head, "location").unwrap()[2..], "").await;
    assert_eq!(status, 200, "the SDK from the binary");
    assert!(body.contains("export * from './src/client.js'"), "{body}");
    let (status, _, _) = get(&server, "/assets/dev/sdk/src/client.js", "").await;
    assert_eq!(status, 200, "and its imports");
    let (status, head, _) = get(&server, "/assets/dev/media/ship.png", "").await;
    assert_eq!((status, header(&head, "content-type")), (200, Some("image/png")));
    let (status, head, body) = get(&server, "/assets/dev/media/levels/one.json", "").await;
    assert_eq!((status, header(&head, "content-type")), (200, Some("application/json")));
    assert_eq!(body, "{\"walls\":[]}");
    let (status, _, _) = get(&server, "/assets/dev/media/notes.exe", "").await;
    assert_eq!(status, 404, "a type no page uses");
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn stats_sample_every_second_and_filter_by_seq() {
    let server = TestServer::start(test_config()).await;
    let mut samples = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (status, head, body) = get(&server, "/stats", "").await;
        assert_eq!(status, 200);
        assert_eq!(header(&head, "content-type"), Some("application/json"));
        let reply: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(reply["period_ms"], 1000);
        assert_eq!(reply["tick_rate"], 30);
        assert_eq!(reply["more"], false, "a minute's samples fit one reply");
        samples = reply["samples"].as_array().cloned().unwrap_or_default();
        if samples.len() >= 2 {
            break;
        }
    }
    assert!(samples.len() >= 2, "two samples within five seconds");
    let first = &samples[0];
    for key in [
        "clients",
        "rooms",
        "tick_p50_ms",
        "tick_p99_ms",
        "round_trip_p50_ms",
        "round_trip_p95_ms",
        "late_ticks_per_s",
        "bytes_out_per_s",
        "frames_skipped_per_s",
        "closes_total",
    ] {
        assert!(first.get(key).is_some(), "sample has {key}");
    }
    let seq = first["seq"].as_u64().unwrap();
    let (_, _, body) = get(&server, &format!("/stats?since={seq}"), "").await;
    let newer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let newer_seqs: Vec<u64> =
        newer["samples"].as_array().unwrap().iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert!(newer_seqs.iter().all(|&s| s > seq), "only samples after {seq}: {newer_seqs:?}");
    // The second sample was there before this request: the filtered reply starts with it.
    let second = samples[1]["seq"].as_u64().unwrap();
    assert_eq!(newer_seqs.first(), Some(&second), "samples after {seq}: {newer_seqs:?}");
    let (status, _, _) = get(&server, "/stats?since=banana", "").await;
    assert_eq!(status, 400);
    // Each process says when it began sampling, so a dashboard left open across a restart
    // (whose sequence numbers start again) knows to start over.
    let started = newer["started_unix_ms"].as_u64().expect("started_unix_ms");
    assert_eq!(started, reply_started(&server).await, "the same process, the same value");
    let other = TestServer::start(test_config()).await;
    assert_ne!(reply_started(&other).await, 0);
    server.shutdown().await;
    other.shutdown().await;
}

async fn reply_started(server: &TestServer) -> u64 {
    let (_, _, body) = get(server, "/stats", "").await;
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    reply["started_unix_ms"].as_u64().unwrap()
}

#[tokio::test]
async fn invites_are_links_and_qr_codes_and_bad_rooms_are_refused() {
    let mut config = test_config();
    config.public_url = Some("https://play.example.com".into());
    let server = TestServer::start(config).await;
    let (status, _, body) = get(&server, "/invite?room=arena-1&spectate=1", "").await;
    assert_eq!(status, 200);
    let invite: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(invite["url"], "https://play.example.com/?room=arena-1&spectate=1");
    assert_eq!(invite["reachable_from_lan"], true);
    let (status, head, body) = get(&server, "/invite.svg?room=arena-1", "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("image/svg+xml"));
    assert!(body.contains("<svg") && body.contains("<path"));
    let (status, _, body) = get(&server, "/invite.svg?room=no%20spaces", "").await;
    assert_eq!(status, 400);
    assert!(body.contains("1 to 16 characters"));
    server.shutdown().await;
}

/// A GET of `path` with `host` as its Host header.
async fn get_with_host(server: &TestServer, path: &str, host: &str) -> (u16, String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    http_request(server.addr, &request).await
}

#[tokio::test]
async fn invites_draw_only_a_host_that_is_a_host() {
    // No --public-url: the invite is drawn from the Host the browser used.
    let server = TestServer::start(test_config()).await;
    for (host, url) in [
        ("192.168.1.20:8080", "http://192.168.1.20:8080/?room=arena-1"),
        ("Game-Box.local", "http://Game-Box.local/?room=arena-1"),
        ("[fd00::5]:8080", "http://[fd00::5]:8080/?room=arena-1"),
    ] {
        let (status, _, body) = get_with_host(&server, "/invite?room=arena-1", host).await;
        assert_eq!(status, 200, "{host}: {body}");
        let invite: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(invite["url"], url);
        let (status, head, body) = get_with_host(&server, "/invite.svg?room=arena-1", host).await;
        assert_eq!(status, 200, "{host}");
        assert_eq!(header(&head, "content-type"), Some("image/svg+xml"));
        assert!(body.contains("<svg"));
    }
    // A Host that is no host[:port] is not drawn into a link, however long: a 2,300-byte one
    // made a version-40 QR code (about 300 KB of SVG for a 2.4 KB request), a 3,000-byte one
    // is too long for any QR code and got a 500; a short one would be a link elsewhere.
    let label = "a".repeat(59);
    let long = |len: usize| {
        let mut host = String::new();
        while host.len() < len {
            host.push_str(&label);
            host.push('.');
        }
        host.truncate(len);
        host
    };
    let (long_2300, long_3000) = (long(2300), long(3000));
    for host in [
        long_2300.as_str(),
        long_3000.as_str(),
        "evil.example/phish?x=",
        "a\"b",
        "host:80:80",
        "host:port",
        "[not-v6]:80",
        "user@host",
    ] {
        for path in ["/invite.svg?room=arena-1", "/invite"] {
            let (status, _, body) = get_with_host(&server, path, host).await;
            assert_eq!(status, 400, "{path} with a Host of {} bytes: {body:.200}", host.len());
            assert!(body.len() < 200 && body.contains("Host"), "{body:.200}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn responses_a_client_never_reads_do_not_hold_its_addresss_places_for_good() {
    use tokio::io::AsyncWriteExt;
    let mut config = test_config();
    config.max_connections_per_ip = 1;
    // Small socket buffers, so the 145 KB chart library cannot all leave; a stall is dropped
    // after the slow-client timeout and the closing handshake, plus a second: 5 s here, so the
    // first 429 below comes long before any stall is dropped (the server accepts connections in
    // the order they came, so it takes the check's after all of the stalled ones).
    config.socket_send_buffer = 4096;
    config.slow_client_timeout = std::time::Duration::from_secs(2);
    config.close_timeout = std::time::Duration::from_secs(2);
    let stall_limit = config.slow_client_timeout + config.close_timeout + support::PATIENCE;
    let server = TestServer::start(config).await;
    let (_, _, page) = get(&server, "/", "").await;
    let chart = format!("{}vendor/uplot/uPlot.esm.js", asset_prefix(&page));
    let (status, _, body) = get(&server, &chart, "Accept-Encoding: identity\r\n").await;
    assert_eq!(status, 200);
    assert!(body.len() > 100_000, "a response larger than the sockets hold: {} bytes", body.len());

    // Every place of the address holds a request for it, and none reads a byte of the answer.
    let places = 2 + tickwire_server::context::HTTP_CONNECTIONS_PER_IP as usize;
    let mut stalled = Vec::new();
    for _ in 0..places {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(server.addr).await.unwrap();
        let request =
            format!("GET {chart} HTTP/1.1\r\nHost: test\r\nAccept-Encoding: identity\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    assert_eq!(get(&server, "/healthz", "").await.0, 429, "the places are held");
    // The server gives up on the stalled responses, and the address is served again.
    let deadline = tokio::time::Instant::now() + stall_limit;
    loop {
        let (status, _, _) = get(&server, "/healthz", "").await;
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(stalled);
    server.shutdown().await;
}
