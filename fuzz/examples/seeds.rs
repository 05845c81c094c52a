//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-*`, from the
//! golden vectors (`shared/testdata`) and from the requests, responses and URLs the clients
//! and the server really exchange. Each structured seed is read back as its target reads it
//! before it is written.
//!
//! Run after a protocol change re-blesses the golden vectors, then minimize the corpora:
//! `cargo +nightly run --example seeds` (from `fuzz/`), then `cargo fuzz cmin <target>`.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use tickwire_client_embedded::ws::handshake::{KEY_LEN, accept_for, key_from_nonce, write_request};
use tickwire_fuzz::inputs::{
    ApplyInput, DeframerInput, ForwardedInput, GuardInput, GuardPiece, HeadInput, RecordPiece,
    RecordsInput, ResponseInput, RoundtripInput, TokenInput,
};
use tickwire_fuzz::worlds::write_bulk;
use tickwire_fuzz::{Seed, check_seed, server_frame};
use tickwire_shared::delta::World;
use tickwire_shared::{RoundPhase, RoundState, Tick};

/// One entry of `vectors.json`.
#[derive(Deserialize)]
struct Vector {
    name: String,
    direction: String,
}

/// One case of `snapshots.json`.
#[derive(Deserialize)]
struct SnapshotCase {
    vector: String,
    tick_rate: u8,
    last_input: u32,
    baseline: Option<World>,
    reference: Option<World>,
    world: World,
}

const RFC_KEY: &[u8; KEY_LEN] = b"dGhlIHNhbXBsZSBub25jZQ==";

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        self.write_file(target, &format!("seed-{name}"), bytes);
    }

    /// The input of a crash the fuzzer found, fixed since: kept so that every run tries it.
    fn write_regression(&self, target: &str, name: &str, bytes: &[u8]) {
        self.write_file(target, &format!("regression-{name}"), bytes);
    }

    fn write_file(&self, target: &str, file: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(file), bytes).expect("seed written");
    }
}

/// A masked client frame, as a [`GuardPiece`] (the writer masks the payload).
fn client_frame(first: u8, payload: &[u8]) -> GuardPiece {
    GuardPiece::Frame { first, form: 0, mask: [0x37, 0xfa, 0x21, 0x3d], payload: payload.to_vec() }
}

fn empty(tick: Tick, round: RoundState) -> World {
    World { tick, round, entities: vec![] }
}

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let testdata = fuzz.join("../shared/testdata");
    let corpus = Corpus { root: fuzz.join("corpus") };
    let read = |name: &str| std::fs::read(testdata.join(name)).expect("golden vector");

    // Messages, each to the targets that read its direction.
    let vectors: Vec<Vector> = serde_json::from_slice(&read("vectors.json")).expect("vectors.json");
    let mut server_messages = Vec::new();
    let mut client_messages = Vec::new();
    for v in &vectors {
        let bytes = read(&format!("{}.bin", v.name));
        match v.direction.as_str() {
            "client_to_server" => {
                corpus.write("client_message", &v.name, &bytes);
                corpus.write("hello", &v.name, &bytes);
                client_messages.push(bytes);
            }
            _ => {
                corpus.write("server_message", &v.name, &bytes);
                server_messages.push(bytes);
            }
        }
    }

    // Snapshots: applied to the worlds they name, and those worlds encoded again.
    let cases: Vec<SnapshotCase> =
        serde_json::from_slice(&read("snapshots.json")).expect("snapshots.json");
    for case in &cases {
        let untimed = |w: &Option<World>| {
            w.clone().map_or(empty(Tick(0), case.world.round), |w| World { tick: Tick(0), ..w })
        };
        let apply = ApplyInput {
            tick_rate: case.tick_rate,
            given: 0,
            baseline: untimed(&case.baseline),
            reference: untimed(&case.reference),
            message: read(&format!("{}.bin", case.vector)),
        };
        let seed = apply.write();
        check_seed(&seed, &apply);
        corpus.write("snapshot_apply", &case.vector, &seed);

        let tick = case.world.tick;
        let baseline = case.baseline.clone().unwrap_or(empty(tick, case.world.round));
        let reference = case.reference.clone().unwrap_or(empty(baseline.tick, case.world.round));
        let roundtrip = RoundtripInput {
            tick_rate: case.tick_rate,
            last_input: case.last_input,
            baseline_age: (tick.0 - baseline.tick.0) as u16,
            reference_age: (baseline.tick.0 - reference.tick.0) as u16,
            reference,
            baseline,
            next: case.world.clone(),
        };
        let seed = roundtrip.write();
        check_seed(&seed, &roundtrip);
        corpus.write("snapshot_roundtrip", &case.vector, &seed);
    }
    // The largest worlds: 1024 entities (and 1032, one too many), game-like and extreme.
    let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 60 };
    for (name, count, style) in
        [("bulk_1024", 1024, 0), ("bulk_1024_extreme", 1024, 3), ("bulk_1032", 1032, 0)]
    {
        let mut seed = Seed::new();
        seed.u8(30).u32(1).u32(1000).u16(1).u16(1);
        for state in 1..=3 {
            write_bulk(&mut seed, &round, count, state, style);
        }
        corpus.write("snapshot_roundtrip", name, &seed.0);
    }

    // The deframer: every server message as a binary frame, with control frames and a
    // fragmented message between them, then a close; with the controller's minimum buffers
    // and with room for anything.
    let mut stream = Vec::new();
    for (i, message) in server_messages.iter().enumerate() {
        stream.extend(server_frame(true, 2, message));
        match i % 4 {
            0 => stream.extend(server_frame(true, 9, b"ping")),
            1 => stream.extend(server_frame(true, 10, b"")),
            2 => {
                let (a, b) = message.split_at(message.len() / 2);
                stream.extend(server_frame(false, 2, a));
                stream.extend(server_frame(true, 9, b"between"));
                stream.extend(server_frame(true, 0, b));
            }
            _ => stream.extend(server_frame(true, 1, b"text")),
        }
    }
    stream.extend(server_frame(true, 8, b"\x03\xe8bye"));
    for (name, rx_len, msg_len) in [("min_buffers", 266, 256), ("large_buffers", 1024, 1024)] {
        let input = DeframerInput {
            rx_len,
            msg_len,
            cuts: vec![1, 7, 40, 41, 300],
            stream: stream.clone(),
        };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("ws_deframer", name, &seed);
    }

    // Upgrade responses, as the server writes them (for RFC 6455's example key), and refusals.
    let accept = std::str::from_utf8(&accept_for(RFC_KEY)).unwrap().to_owned();
    let upgrade = |extra: &str| {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-accept: {accept}\r\n{extra}date: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n"
        )
    };
    let responses = [
        ("accepted", [upgrade("sec-websocket-protocol: tickwire.v1\r\n").as_bytes(), &[0x82, 1, 7]].concat()),
        ("no_subprotocol", upgrade("").into_bytes()),
        ("refused", b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 5\r\ncontent-length: 12\r\n\r\nserver full\n".to_vec()),
        ("not_http", b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
    ];
    for (name, response) in responses {
        let input = ResponseInput { cuts: vec![5, 20, 90], response };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("ws_handshake_response", name, &seed);
    }

    // URLs a firmware is built with.
    let urls = [
        "ws://192.168.1.20:8080/ws",
        "ws://game.local",
        "WS://Game.local:9000",
        "ws://h:1/play/ws?room=lobby",
        "ws://h?x=1",
        "ws://10.0.0.1:65535/ws",
        "wss://play.example.com/ws",
        "ws://[::1]:80/ws",
        "ws://192.168.1.20:8080?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwYWQifQ.c2ln",
    ];
    for (i, url) in urls.iter().enumerate() {
        corpus.write("server_url", &format!("{i}"), url.as_bytes());
    }

    // Upgrade requests: the controller's own (byte for byte), a browser's, and refusals.
    let mut controller = [0u8; 512];
    let key = key_from_nonce(b"sixteen nonce bt");
    let len = write_request("192.168.1.20:8080", "/ws", &key, &mut controller).unwrap();
    // A controller with a join token in its build-time URL, `ws://host?token=...`.
    let mut with_token = [0u8; 512];
    let token_len =
        write_request("192.168.1.20:8080", "?token=a.b.c", &key, &mut with_token).unwrap();
    let browser = "GET /ws HTTP/1.1\r\nHost: play.example.com\r\nConnection: keep-alive, Upgrade\r\n\
                   Pragma: no-cache\r\nUpgrade: websocket\r\nOrigin: https://play.example.com\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
                   Sec-WebSocket-Protocol: tickwire.v1\r\n\r\n";
    // With an allowlist and no Origin: a browser's request from another site (403) and from
    // the page's own origin (accepted), as Sec-Fetch-Site says.
    let fetched = |site: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: play.example.com\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-Fetch-Site: {site}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: tickwire.v1\r\n\r\n"
        )
    };
    let (cross_site, same_origin) = (fetched("cross-site"), fetched("same-origin"));
    let requests: [(&str, u8, &[u8]); 8] = [
        ("controller", 0, &controller[..len]),
        ("controller_token", 0, &with_token[..token_len]),
        ("browser_allowlist", 1, browser.as_bytes()),
        ("browser_shutting_down", 2, browser.as_bytes()),
        ("echo", 4, b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ("plain_get", 0, b"GET /rooms HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
        ("no_origin_cross_site", 1, cross_site.as_bytes()),
        ("no_origin_same_origin", 1, same_origin.as_bytes()),
    ];
    for (name, server, head) in requests {
        let input = HeadInput { server, head: head.to_vec() };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("upgrade_request", name, &seed);
    }
    // The regression input of the 64-bit length with its top bit set (the codec read the next
    // frame as this one's payload; client-embedded's frame.rs and deframer.rs tests).
    let top_bit = [&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 5][..], b"hello"].concat();
    let input = DeframerInput {
        rx_len: 266,
        msg_len: 256,
        cuts: vec![],
        stream: [top_bit, server_frame(true, 2, b"next")].concat(),
    };
    let seed = input.write();
    check_seed(&seed, &input);
    corpus.write_regression("ws_deframer", "64_bit_length_top_bit", &seed);

    // What clients send the server, below tungstenite: the game's binary messages with
    // control frames between them, text on the game endpoint, and text on the echo endpoint
    // split inside characters, invalid, and cut at its end.
    let mut game: Vec<GuardPiece> = Vec::new();
    for (i, message) in client_messages.iter().enumerate() {
        game.push(client_frame(0x82, message));
        if i % 3 == 0 {
            game.push(client_frame(0x89, b"ping"));
        }
    }
    let text = "tickwire \u{2713} \u{1f600} \u{fc}mlaut".as_bytes();
    let (a, rest) = text.split_at(10); // inside the check mark
    let (b, c) = rest.split_at(6); // inside the emoji
    let fragments = vec![
        client_frame(0x01, a),
        client_frame(0x8a, b""),
        client_frame(0x00, b),
        client_frame(0x80, c),
        client_frame(0x82, &client_messages[0]),
    ];
    let invalid =
        vec![client_frame(0x01, "h\u{e9}llo ".as_bytes()), client_frame(0x80, b"ok\xc0\xafafter")];
    let cut = vec![client_frame(0x81, &"\u{e9}".as_bytes()[..1])];
    let close = client_frame(0x88, b"\x03\xe8bye");
    let guard_seeds = [
        ("game", 0, [game.clone(), vec![close.clone()]].concat()),
        ("game_text", 0, [game[..2].to_vec(), vec![client_frame(0x81, b"text")]].concat()),
        ("echo_fragments", 1, [fragments, vec![close]].concat()),
        ("echo_invalid", 1, invalid),
        ("echo_cut_character", 1, cut),
    ];
    for (name, policy, pieces) in guard_seeds {
        let input = GuardInput { policy, read_len: 4096, cuts: vec![3, 9, 40], pieces };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("frame_guard", name, &seed);
    }

    // Deployments behind proxies, with what clients claim before them.
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    let forwarded_seeds = [
        // nginx, `$proxy_add_x_forwarded_for`; the client wrote both headers itself.
        (
            "nginx",
            0,
            vec![(ip("127.0.0.1"), 32)],
            ip("203.0.113.9"),
            vec![(ip("127.0.0.1"), 1)],
            vec![(0, b"1.2.3.4".to_vec()), (1, b"for=6.6.6.6".to_vec())],
        ),
        // Two proxies writing RFC 7239, an IPv6 client.
        (
            "forwarded_chain",
            1,
            vec![(ip("10.0.0.0"), 8)],
            ip("2001:db8:cafe::17"),
            vec![(ip("10.1.2.3"), 4), (ip("10.0.0.1"), 6)],
            vec![(1, b"for=_hidden;proto=http".to_vec()), (0, b"9.9.9.9".to_vec())],
        ),
        // The socket reports the proxy IPv4-mapped; the client is mapped too.
        (
            "mapped",
            2,
            vec![(ip("10.0.0.0"), 8), (ip("2001:db8::"), 32)],
            ip("::ffff:198.51.100.7"),
            vec![(ip("2001:db8::1"), 2), (ip("10.0.0.1"), 0)],
            vec![],
        ),
        // A proxy in the middle that is not trusted: it is the client as far as we know.
        (
            "untrusted_middle",
            0,
            vec![(ip("192.0.2.7"), 32)],
            ip("198.51.100.1"),
            vec![(ip("203.0.113.50"), 0), (ip("192.0.2.7"), 1)],
            vec![(0, b"unknown, ::1".to_vec())],
        ),
    ];
    for (name, deployment, trusted, client, proxies, sent) in forwarded_seeds {
        let input = ForwardedInput { deployment, trusted, client, proxies, sent };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("forwarded", name, &seed);
    }

    // Join tokens: minted right, expired, early, signed otherwise, edited, carried each way.
    let token = |key: u8, exp: i32, nbf: Option<i32>, edit: (u16, u8, u8), carry: u8| TokenInput {
        key,
        sub: "ada".into(),
        room: Some("lobby".into()),
        role: Some("player".into()),
        exp,
        nbf,
        edit,
        carry,
    };
    let none = (0, 0, 0);
    let token_seeds = [
        ("hs256_query", token(0, 600, None, none, 16)),
        ("eddsa_bearer", token(1, 600, Some(-10), none, 1)),
        ("expired", token(0, -3600, None, none, 0)),
        ("not_yet_valid", token(1, 7200, Some(3600), none, 2)),
        ("other_key", token(2, 600, None, none, 0)),
        ("algorithm_confusion", token(5, 600, None, none, 1)),
        ("unsigned", token(7, 600, None, none, 0)),
        ("edited_signature", token(1, 600, None, (200, b'A', 1), 0)),
        ("empty_query_then_bearer", token(0, 600, None, none, 3)),
        ("bearer_upper_case", token(0, 600, None, none, 9)),
        (
            "malformed_claims",
            TokenInput {
                sub: " \t ".into(),
                room: Some("no spaces".into()),
                role: Some("admin".into()),
                ..token(0, 600, None, none, 0)
            },
        ),
        (
            "not_a_token",
            TokenInput {
                sub: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEiLCJleHAiOjl9.c2ln".into(),
                ..token(0x80, 0, None, none, 0)
            },
        ),
    ];
    for (name, input) in token_seeds {
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("join_token", name, &seed);
    }

    // HTTP fallback POST bodies as the web client's SDK sends them: every client message as a
    // record, heartbeats, a close; a numbered POST's body; and refusals.
    let mut game: Vec<RecordPiece> = client_messages
        .iter()
        .map(|m| RecordPiece::Record { first: 0x82, form: 0, payload: m.clone() })
        .collect();
    game.insert(1, RecordPiece::Record { first: 0x89, form: 0, payload: vec![] });
    let close = |code: u16, reason: &str| RecordPiece::Record {
        first: 0x88,
        form: 0,
        payload: [&code.to_be_bytes()[..], reason.as_bytes()].concat(),
    };
    let largest = RecordPiece::Record { first: 0x82, form: 0, payload: vec![0x04; 256] };
    let records_seeds = [
        ("game", [game.clone(), vec![close(1000, "bye")]].concat()),
        ("heartbeat", vec![RecordPiece::Record { first: 0x89, form: 0, payload: vec![] }]),
        ("close_without_code", vec![RecordPiece::Record { first: 0x88, form: 0, payload: vec![] }]),
        (
            "largest_then_too_big",
            vec![largest, RecordPiece::Record { first: 0x82, form: 1, payload: vec![0; 257] }],
        ),
        (
            "long_forms",
            vec![
                RecordPiece::Record { first: 0x82, form: 1, payload: client_messages[0].clone() },
                RecordPiece::Record { first: 0x82, form: 2, payload: client_messages[0].clone() },
                RecordPiece::Record { first: 0x82, form: 10, payload: vec![1] },
            ],
        ),
        (
            "text",
            vec![
                game[0].clone(),
                RecordPiece::Record { first: 0x81, form: 0, payload: b"hi".to_vec() },
            ],
        ),
        (
            "masked",
            vec![RecordPiece::Record { first: 0x82, form: 4, payload: client_messages[0].clone() }],
        ),
        (
            "close_reason_not_utf8",
            vec![
                game[0].clone(),
                RecordPiece::Record { first: 0x88, form: 0, payload: vec![3, 0xe8, 0xc3, 0x28] },
            ],
        ),
        ("close_reason_long", vec![close(4000, &"\u{e9}".repeat(70))]),
        ("cut", vec![game[0].clone(), RecordPiece::Raw(vec![0x82, 126, 1])]),
    ];
    for (name, pieces) in records_seeds {
        let input = RecordsInput { pieces };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("fallback_records", name, &seed);
    }

    // Request heads whose headers the server's small parsers read: the fallback's polls and
    // POSTs, the web client's asset requests, invites, and a controller's token.
    let session = "0123456789abcdef0123456789ABCDEF";
    let heads: [(&str, u8, String); 10] = [
        ("poll", 0, format!("GET /fallback/poll HTTP/1.1\r\nHost: 192.168.1.20:8080\r\nTickwire-Session: {session}\r\nTickwire-Poll: 17\r\nOrigin: http://192.168.1.20:8080\r\nSec-Fetch-Site: same-origin\r\n\r\n")),
        ("send", 0, format!("POST /fallback/send HTTP/1.1\r\nHost: play.example.com\r\nContent-Type: application/vnd.tickwire.records\r\nContent-Length: 4\r\nTickwire-Session:  {session} \r\nTickwire-Seq: 18446744073709551615\r\n\r\n")),
        ("seq_too_big", 0, format!("POST /fallback/send HTTP/1.1\r\nHost: h\r\nTickwire-Session: {session}\r\nTickwire-Seq: 18446744073709551616\r\nTickwire-Poll: +1\r\n\r\n")),
        ("asset", 0x10, "GET /assets/0123abcd4567/js/app.js HTTP/1.1\r\nHost: localhost:8080\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nIf-None-Match: W/\"0123abcd4567-89abcdef01234567-gz\", \"other\"\r\n\r\n".into()),
        ("asset_gzip_refused", 0, "GET /assets/0123abcd4567/js/app.js HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip;q=0, identity;q=1.000, br;q=0.5\r\nIf-None-Match: *\r\n\r\n".into()),
        ("invite_lan", 0, "GET /invite.svg?room=arena-1&spectate=1 HTTP/1.1\r\nHost: [fd00::5]:8080\r\n\r\n".into()),
        ("invite_loopback", 0x06, "GET /invite?room=lobby HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n".into()),
        ("invite_bad_host", 0, format!("GET /invite.svg HTTP/1.1\r\nHost: {}\r\n\r\n", "a".repeat(300))),
        ("invite_longest_host", 0x02, format!("GET /invite.svg?room=0123456789abcdef&spectate=1 HTTP/1.1\r\nHost: {}.{}.{}.{}:65535\r\n\r\n", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(55))),
        ("token", 0, "GET /ws?room=x&token=a.b%2Ec+d%4&token=second HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n".into()),
    ];
    for (name, server, head) in heads {
        let input = HeadInput { server, head: head.into_bytes() };
        let seed = input.write();
        check_seed(&seed, &input);
        corpus.write("http_headers", name, &seed);
    }

    println!("seeds written under {}", corpus.root.display());
}
