//! Golden vectors: `shared/testdata/<name>.bin` and `vectors.json` pin the wire format.
//!
//! Every vector is rebuilt from its JSON value alone and must encode to exactly its bytes, and
//! its bytes must decode back to that value, so a format change is always deliberate: after
//! one, regenerate with `TICKWIRE_BLESS=1 cargo test -p tickwire-tests --test golden` and
//! review the diff. The no-alloc paths a controller uses (`encode_client` into a fixed buffer,
//! `decode_control`, `encode_control`, `peek_hello_version`) are checked against the same bytes,
//! and so is every ```` ```hex name=<vector> ```` example in `PROTOCOL.md`.
//! The browser client, firmware tests and outside tools read the same files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Once;
use tickwire_shared::codec::{
    decode_client, decode_control, decode_controller, decode_server, encode_client, encode_control,
    encode_server, peek_hello_version,
};
use tickwire_shared::delta::{World, apply, delta};
use tickwire_shared::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Direction {
    ClientToServer,
    ServerToClient,
}

/// One entry of `vectors.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    direction: Direction,
    /// The message type: the variant name of `ClientMessage` / `ServerMessage`.
    message: String,
    /// Lowercase hex of the bytes.
    hex: String,
    /// The message as serde JSON (externally tagged), as the `serde` feature derives it.
    value: serde_json::Value,
}

/// A message of either direction.
#[derive(Debug, Clone, PartialEq)]
enum Msg {
    Client(ClientMessage),
    Server(ServerMessage),
}

/// Vectors that must exist whatever else is added.
const REQUIRED: &[&str] = &[
    "hello_player",
    "hello_spectator",
    "hello_controller",
    "hello_resume",
    "input",
    "ack",
    "chat",
    "ping",
    "welcome",
    "snapshot_full",
    "snapshot_delta",
    "event_chat",
    "controller_feedback",
    "pong",
    "kick",
];

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn name(s: &str) -> Name {
    Name::try_from_str(s).unwrap()
}

fn room(s: &str) -> RoomName {
    RoomName::try_from_str(s).unwrap()
}

fn token() -> ResumeToken {
    ResumeToken([
        0x3f, 0x9a, 0x01, 0xc4, 0x5e, 0x77, 0xd2, 0x10, 0x8b, 0x46, 0xee, 0x2a, 0x93, 0x05, 0x6c,
        0xf1,
    ])
}

fn ship(id: u32, x: i16, y: i16, value: u16) -> EntityState {
    EntityState {
        id: EntityId(id),
        kind: 0,
        pos: QVec2 { x, y },
        vel: QVec2 { x: -96, y: 40 },
        heading: 64,
        flags: 0b011,
        value,
    }
}

fn pickup(id: u32, x: i16, y: i16, value: u16) -> EntityState {
    EntityState {
        id: EntityId(id),
        kind: 1,
        pos: QVec2 { x, y },
        vel: QVec2::default(),
        heading: 0,
        flags: 1,
        value,
    }
}

fn round() -> RoundState {
    RoundState { round: 3, phase: RoundPhase::Playing, seconds_left: 87 }
}

/// The world `snapshot_full` describes (tick 100), and the one `snapshot_delta` describes
/// against it (tick 103): ship 3 moved and turned, ship 7 scored, pickup 100000 was taken,
/// ship 9 joined.
fn worlds() -> (World, World) {
    let t100 = World::from_unsorted(
        Tick(100),
        round(),
        vec![
            ship(3, 4000, 12000, 2),
            ship(7, -16, 300, 5),
            pickup(100_000, 8000, 8000, 1),
            pickup(100_001, 25000, 1600, 3),
        ],
    );
    let mut moved = ship(3, 4012, 11995, 2);
    moved.heading = 70;
    let t103 = World::from_unsorted(
        Tick(103),
        round(),
        vec![moved, ship(7, -16, 300, 6), ship(9, 100, 200, 0), pickup(100_001, 25000, 1600, 3)],
    );
    (t100, t103)
}

/// The canonical vectors, built in code: blessing writes these; checking compares the files
/// against both these and the codec.
fn canonical() -> Vec<(&'static str, Msg)> {
    use Msg::{Client as C, Server as S};
    let hello = |role, n: &str| Hello {
        version: PROTOCOL_VERSION,
        role,
        name: name(n),
        room: RoomRequest::Any,
        resume: None,
    };
    let welcome = Welcome {
        player_id: PlayerId(7),
        role: Role::Player,
        room: room("arena-1"),
        tick_rate: 30,
        world: WorldBounds { width: 1600, height: 1000 },
        view_radius: 700,
        entity: Some(EntityId(7)),
        resume_token: token(),
        resumed: false,
    };
    let (t100, t103) = worlds();
    vec![
        ("hello_player", C(ClientMessage::Hello(hello(Role::Player, "ada")))),
        ("hello_spectator", C(ClientMessage::Hello(hello(Role::Spectator, "watcher")))),
        ("hello_controller", C(ClientMessage::Hello(hello(Role::Controller, "pico-1")))),
        (
            "hello_resume",
            C(ClientMessage::Hello(Hello {
                room: RoomRequest::Named(room("lobby-2")),
                resume: Some(token()),
                ..hello(Role::Player, "ada")
            })),
        ),
        (
            "input",
            C(ClientMessage::Input(Input {
                seq: InputSeq(42),
                x: -127,
                y: 64,
                buttons: Buttons(Buttons::BOOST),
            })),
        ),
        (
            "input_large_seq",
            C(ClientMessage::Input(Input {
                seq: InputSeq(70_000),
                x: 0,
                y: -1,
                buttons: Buttons(0),
            })),
        ),
        ("ack", C(ClientMessage::Ack(Ack { tick: Tick(1234) }))),
        (
            "chat",
            C(ClientMessage::Chat(Chat {
                text: ChatText::try_from_str("gg \u{e9}quipe \u{1F680}").unwrap(),
            })),
        ),
        ("ping", C(ClientMessage::Ping(Ping { nonce: 0xdead_beef }))),
        ("welcome", S(ServerMessage::Welcome(welcome))),
        (
            "welcome_controller_resumed",
            S(ServerMessage::Welcome(Welcome {
                player_id: PlayerId(2),
                role: Role::Controller,
                room: room("lobby-2"),
                entity: Some(EntityId(2)),
                resumed: true,
                ..welcome
            })),
        ),
        ("snapshot_full", S(ServerMessage::Snapshot(delta(None, &t100, InputSeq(41))))),
        ("snapshot_delta", S(ServerMessage::Snapshot(delta(Some(&t100), &t103, InputSeq(44))))),
        (
            "snapshot_large_tick",
            S(ServerMessage::Snapshot(Snapshot {
                header: SnapshotHeader {
                    tick: Tick(70_000),
                    baseline: Some(Tick(69_998)),
                    last_input: InputSeq(300),
                    round: RoundState {
                        round: 12,
                        phase: RoundPhase::Intermission,
                        seconds_left: 8,
                    },
                },
                entities: vec![],
                removed: vec![],
            })),
        ),
        (
            "event_joined",
            S(ServerMessage::Event(Event {
                tick: Tick(5),
                kind: EventKind::Joined {
                    player: PlayerId(2),
                    name: name("bob"),
                    role: Role::Controller,
                },
            })),
        ),
        (
            "event_left",
            S(ServerMessage::Event(Event {
                tick: Tick(900),
                kind: EventKind::Left { player: PlayerId(2) },
            })),
        ),
        (
            "event_scored",
            S(ServerMessage::Event(Event {
                tick: Tick(1200),
                kind: EventKind::Scored { player: PlayerId(7), score: 12 },
            })),
        ),
        (
            "event_chat",
            S(ServerMessage::Event(Event {
                tick: Tick(250),
                kind: EventKind::Chat {
                    from: PlayerId(7),
                    name: name("ada"),
                    text: ChatText::try_from_str("nice shot!").unwrap(),
                },
            })),
        ),
        (
            "event_round_over",
            S(ServerMessage::Event(Event {
                tick: Tick(3600),
                kind: EventKind::RoundOver { round: 3, winner: Some(PlayerId(7)), score: 12 },
            })),
        ),
        (
            "controller_feedback",
            S(ServerMessage::ControllerFeedback(ControllerFeedback {
                colour: Rgb([0x4d, 0xab, 0xf7]),
                score: 300,
                alive: true,
                rumble: 200,
            })),
        ),
        ("pong", S(ServerMessage::Pong(Pong { nonce: 0xdead_beef, server_tick: Tick(1300) }))),
        (
            "kick",
            S(ServerMessage::Kick(Kick {
                reason: KickReason::VersionMismatch { server: 1 },
                message: KickText::try_from_str("this server speaks protocol 1, the client 2")
                    .unwrap(),
            })),
        ),
        (
            "kick_rate_limited",
            S(ServerMessage::Kick(Kick {
                reason: KickReason::RateLimited,
                message: KickText::try_from_str("more than 2 chat lines per second").unwrap(),
            })),
        ),
    ]
}

/// A client message through the no-alloc path: a fixed buffer of the documented size.
fn encode_client_fixed(msg: &ClientMessage) -> Vec<u8> {
    let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
    let len = encode_client(msg, &mut buf).expect("every client message fits");
    buf[..len].to_vec()
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Client(m) => encode_client_fixed(m),
            Msg::Server(m) => encode_server(m).unwrap(),
        }
    }

    fn direction(&self) -> Direction {
        match self {
            Msg::Client(_) => Direction::ClientToServer,
            Msg::Server(_) => Direction::ServerToClient,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Msg::Client(m) => serde_json::to_value(m).unwrap(),
            Msg::Server(m) => serde_json::to_value(m).unwrap(),
        }
    }

    fn from_json(direction: Direction, value: &serde_json::Value) -> serde_json::Result<Msg> {
        Ok(match direction {
            Direction::ClientToServer => Msg::Client(serde_json::from_value(value.clone())?),
            Direction::ServerToClient => Msg::Server(serde_json::from_value(value.clone())?),
        })
    }

    fn decode(direction: Direction, bytes: &[u8]) -> Result<Msg, DecodeError> {
        Ok(match direction {
            Direction::ClientToServer => Msg::Client(decode_client(bytes)?),
            Direction::ServerToClient => Msg::Server(decode_server(bytes)?),
        })
    }
}

/// The variant name of an externally tagged enum value: `{"Hello": {...}}` is "Hello".
fn variant(value: &serde_json::Value) -> &str {
    match value {
        serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().unwrap(),
        serde_json::Value::String(unit) => unit,
        other => panic!("not an externally tagged enum value: {other}"),
    }
}

fn to_vector(name: &str, msg: &Msg) -> Vector {
    let value = msg.to_json();
    Vector {
        name: name.into(),
        direction: msg.direction(),
        message: variant(&value).to_owned(),
        hex: hex(&msg.encode()),
        value,
    }
}

fn bless_requested() -> bool {
    std::env::var("TICKWIRE_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// With `TICKWIRE_BLESS=1`, rewrites `shared/testdata` from [`canonical`] once per test run,
/// before any test reads it.
fn testdata_ready() {
    static BLESS: Once = Once::new();
    BLESS.call_once(|| {
        if !bless_requested() {
            return;
        }
        let dir = testdata();
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "bin") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let canonical = canonical();
        for (name, msg) in &canonical {
            std::fs::write(dir.join(format!("{name}.bin")), msg.encode()).unwrap();
        }
        let vectors: Vec<Vector> = canonical.iter().map(|(n, m)| to_vector(n, m)).collect();
        let json = serde_json::to_string_pretty(&vectors).unwrap() + "\n";
        std::fs::write(dir.join("vectors.json"), json).unwrap();
    });
}

fn read_vectors() -> Vec<Vector> {
    testdata_ready();
    let text = std::fs::read_to_string(testdata().join("vectors.json"))
        .expect("shared/testdata/vectors.json exists (bless with TICKWIRE_BLESS=1)");
    serde_json::from_str(&text).expect("vectors.json parses")
}

fn read_bin(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join(format!("{name}.bin")))
        .unwrap_or_else(|e| panic!("shared/testdata/{name}.bin: {e}"))
}

/// Every vector, rebuilt from its JSON value alone, encodes to its `.bin` and its `hex`, and
/// its bytes decode back to that value.
#[test]
fn vectors_rebuild_from_json_and_match_their_bytes() {
    for v in read_vectors() {
        let n = &v.name;
        assert!(
            !v.hex.is_empty()
                && v.hex.len() % 2 == 0
                && v.hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{n}: hex must be non-empty lowercase hex digit pairs"
        );
        let file = read_bin(n);
        assert_eq!(hex(&file), v.hex, "{n}: the .bin and the hex disagree");

        let msg = Msg::from_json(v.direction, &v.value)
            .unwrap_or_else(|e| panic!("{n}: value does not deserialize: {e}"));
        assert_eq!(variant(&v.value), v.message, "{n}: `message` names another type");
        assert_eq!(hex(&msg.encode()), v.hex, "{n}: encoding the JSON value changed the bytes");
        assert_eq!(Msg::decode(v.direction, &file), Ok(msg.clone()), "{n}: decoding the bytes");
        assert_eq!(msg.to_json(), v.value, "{n}: value is not in its canonical JSON form");

        let limit = match (&msg, v.direction) {
            (Msg::Server(ServerMessage::Snapshot(_)), _) => MAX_SERVER_MESSAGE_SIZE,
            (_, Direction::ServerToClient) => MAX_CONTROL_MESSAGE_SIZE,
            (_, Direction::ClientToServer) => MAX_CLIENT_MESSAGE_SIZE,
        };
        assert!(file.len() <= limit, "{n}: {} bytes exceed the limit of {limit}", file.len());
    }
}

/// The paths a no-alloc controller uses agree with the vectors: `peek_hello_version` on what
/// it sends; `decode_control` (identical to `decode_server` except that a snapshot yields its
/// header), `decode_controller` (the same, with events skipped) and `encode_control` on what
/// it receives.
#[test]
fn controller_paths_agree_with_the_vectors() {
    for v in read_vectors() {
        let n = &v.name;
        let bytes = read_bin(n);
        match Msg::decode(v.direction, &bytes).unwrap() {
            Msg::Client(m) => {
                let expected =
                    matches!(m, ClientMessage::Hello(h) if h.version == PROTOCOL_VERSION)
                        .then_some(PROTOCOL_VERSION);
                assert_eq!(peek_hello_version(&bytes), expected, "{n}: peek_hello_version");
            }
            Msg::Server(m) => {
                let view = match &m {
                    ServerMessage::Welcome(m) => ControlMessage::Welcome(*m),
                    ServerMessage::Snapshot(s) => ControlMessage::Snapshot(s.header),
                    ServerMessage::Event(m) => ControlMessage::Event(*m),
                    ServerMessage::ControllerFeedback(m) => ControlMessage::ControllerFeedback(*m),
                    ServerMessage::Pong(m) => ControlMessage::Pong(*m),
                    ServerMessage::Kick(m) => ControlMessage::Kick(*m),
                };
                assert_eq!(decode_control(&bytes), Ok(view), "{n}: decode_control");
                let controller = ControllerMessage::from(view);
                assert_eq!(decode_controller(&bytes), Ok(controller), "{n}: decode_controller");

                let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
                let len = encode_control(&view, &mut buf).expect("fits the control buffer");
                match m {
                    // `encode_control` writes a header-only snapshot: the header, then two
                    // empty lists. The header is a prefix of the full snapshot's bytes.
                    ServerMessage::Snapshot(s) => {
                        assert_eq!(&buf[len - 2..len], &[0, 0], "{n}: empty lists");
                        let header = &buf[..len - 2];
                        assert!(bytes.starts_with(header), "{n}: header is not a prefix");
                        let empty = s.entities.is_empty() && s.removed.is_empty();
                        assert_eq!(&buf[..len] == bytes.as_slice(), empty, "{n}");
                    }
                    _ => assert_eq!(hex(&buf[..len]), v.hex, "{n}: encode_control"),
                }
            }
        }
    }
}

/// `shared/testdata` holds exactly the listed `.bin` files, and the required vectors.
#[test]
fn testdata_lists_exactly_its_files_and_the_required_vectors() {
    let vectors = read_vectors();
    let mut listed = BTreeSet::new();
    for v in &vectors {
        assert!(listed.insert(v.name.as_str()), "vector {} is listed twice", v.name);
        assert!(
            !v.name.is_empty()
                && v.name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'),
            "vector name {:?} must be snake_case",
            v.name
        );
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        on_disk.difference(&listed).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        ".bin files that vectors.json does not list"
    );
    assert_eq!(
        listed.difference(&on_disk).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "vectors whose .bin is missing"
    );
    for required in REQUIRED {
        assert!(listed.contains(required), "required vector {required} is missing");
    }
}

/// The files are exactly what the code in this test builds: a change to either is deliberate.
#[test]
fn vectors_json_is_the_canonical_list() {
    let vectors = read_vectors();
    let expected: Vec<Vector> = canonical().iter().map(|(n, m)| to_vector(n, m)).collect();
    let names = |vs: &[Vector]| vs.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&vectors), names(&expected), "vector names; bless if deliberate");
    for (file, code) in vectors.iter().zip(&expected) {
        assert_eq!(
            file, code,
            "{}: vectors.json differs from the code; bless if deliberate",
            code.name
        );
    }
}

/// The snapshot vectors are what the server's delta encoder produces, and a client rebuilds
/// the worlds from them: `snapshot_delta` applies to the world of `snapshot_full`.
#[test]
fn snapshot_vectors_form_a_consistent_full_then_delta_sequence() {
    let (t100, t103) = worlds();
    let decode = |name: &str| match decode_server(&read_bin(name)).unwrap() {
        ServerMessage::Snapshot(s) => s,
        other => panic!("{name} is not a snapshot: {other:?}"),
    };
    let full = decode("snapshot_full");
    let step = decode("snapshot_delta");
    assert_eq!(full.header.baseline, None);
    assert_eq!(step.header.baseline, Some(full.header.tick));
    let rebuilt = apply(None, &full).unwrap();
    assert_eq!(rebuilt, t100);
    assert_eq!(apply(Some(&rebuilt), &step).unwrap(), t103);
    assert!(
        full.entities.iter().any(|e| e.pos.is_some_and(|p| p.x < 0 || p.y < 0)),
        "snapshot_full shows a negative coordinate"
    );
    assert!(step.entities.iter().any(|e| e.mask() != EntityDelta::ALL), "a partial update");
    assert!(step.entities.iter().any(|e| e.mask() == EntityDelta::ALL), "a spawn");
    assert!(!step.removed.is_empty(), "a removal");
}

/// Parses one line of a ```hex block: hex digit pairs, spaces between bytes, and an optional
/// `# annotation`. Anything else (a stray word, an odd digit) is an error, so an annotation
/// without its `#` cannot smuggle hex letters into the bytes.
fn parse_hex_line(line: &str) -> Result<Vec<u8>, String> {
    let data = line.split_once('#').map_or(line, |(data, _)| data);
    let mut out = Vec::new();
    for group in data.split_whitespace() {
        if group.len() % 2 != 0 || !group.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("{group:?} is not a group of hex byte pairs"));
        }
        for pair in group.as_bytes().chunks(2) {
            out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
    }
    Ok(out)
}

/// Every ```` ```hex name=<vector> ```` block in PROTOCOL.md shows that vector's exact bytes.
#[test]
fn protocol_md_examples_are_the_golden_bytes() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("PROTOCOL.md exists");
    let vectors = read_vectors();
    let mut shown = BTreeSet::new();
    let mut lines = doc.lines().enumerate();
    while let Some((at, line)) = lines.next() {
        let line = line.trim();
        if line.starts_with("```hex") && !line.starts_with("```hex name=") {
            panic!("PROTOCOL.md line {}: a hex block without name=<vector>", at + 1);
        }
        let Some(name) = line.strip_prefix("```hex name=") else { continue };
        let name = name.trim();
        let mut bytes = Vec::new();
        let mut closed = false;
        for (at, body) in lines.by_ref() {
            if body.trim() == "```" {
                closed = true;
                break;
            }
            let parsed = parse_hex_line(body)
                .unwrap_or_else(|e| panic!("PROTOCOL.md line {} ({name}): {e}", at + 1));
            bytes.extend(parsed);
        }
        assert!(closed, "PROTOCOL.md example {name} is not closed");
        let vector = vectors
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("PROTOCOL.md shows unknown vector {name}"));
        assert_eq!(hex(&bytes), vector.hex, "PROTOCOL.md example {name}");
        shown.insert(name.to_owned());
    }
    for must in ["hello_player", "hello_resume", "input", "welcome", "snapshot_full", "kick"] {
        assert!(shown.contains(must), "PROTOCOL.md shows no example of {must}");
    }
    assert!(shown.len() >= 12, "PROTOCOL.md shows only {} checked examples", shown.len());
}

#[test]
fn hex_lines_are_parsed_strictly() {
    assert_eq!(parse_hex_line("01 fc70110100   # seq 70000"), Ok(vec![1, 0xfc, 0x70, 0x11, 1, 0]));
    assert_eq!(parse_hex_line("   # only a note"), Ok(vec![]));
    assert!(parse_hex_line("01 tag 0").is_err());
    assert!(parse_hex_line("0a1").is_err());
}
