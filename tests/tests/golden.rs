//! Golden vectors: `shared/testdata/<name>.bin` and `vectors.json` pin the wire format.
//!
//! Every vector is rebuilt from its JSON value and must match its bytes exactly, so a format
//! change is always deliberate: after one, regenerate with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-tests --test golden` and review the diff.
//! The browser client, firmware tests and outside tools read the same files.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use tickwire_shared::codec::{
    decode_client, decode_control, decode_server, encode_client_to_vec, encode_server,
};
use tickwire_shared::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Direction {
    ClientToServer,
    ServerToClient,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Vector {
    name: String,
    direction: Direction,
    message: String,
    hex: String,
    value: serde_json::Value,
}

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

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn name(s: &str) -> Name {
    Name::try_from_str(s).unwrap()
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

/// The canonical vectors, built in code: blessing writes these; checking compares the files
/// against both these and the codec.
fn canonical() -> Vec<(&'static str, Result<ClientMessage, ServerMessage>)> {
    let hello = |role, n: &str| Hello {
        version: PROTOCOL_VERSION,
        role,
        name: name(n),
        room: RoomRequest::Any,
        resume: None,
    };
    vec![
        ("hello_player", Ok(ClientMessage::Hello(hello(Role::Player, "ada")))),
        ("hello_spectator", Ok(ClientMessage::Hello(hello(Role::Spectator, "watcher")))),
        ("hello_controller", Ok(ClientMessage::Hello(hello(Role::Controller, "pico-1")))),
        (
            "hello_resume",
            Ok(ClientMessage::Hello(Hello {
                room: RoomRequest::Named(RoomName::try_from_str("lobby-2").unwrap()),
                resume: Some(token()),
                ..hello(Role::Player, "ada")
            })),
        ),
        (
            "input",
            Ok(ClientMessage::Input(Input {
                seq: InputSeq(42),
                x: -127,
                y: 64,
                buttons: Buttons(Buttons::BOOST),
            })),
        ),
        (
            "input_large_seq",
            Ok(ClientMessage::Input(Input {
                seq: InputSeq(70_000),
                x: 0,
                y: -1,
                buttons: Buttons(0),
            })),
        ),
        ("ack", Ok(ClientMessage::Ack(Ack { tick: Tick(1234) }))),
        (
            "chat",
            Ok(ClientMessage::Chat(Chat {
                text: ChatText::try_from_str("gg \u{e9}quipe \u{1F680}").unwrap(),
            })),
        ),
        ("ping", Ok(ClientMessage::Ping(Ping { nonce: 0xdead_beef }))),
        (
            "welcome",
            Err(ServerMessage::Welcome(Welcome {
                player_id: PlayerId(7),
                role: Role::Player,
                room: RoomName::try_from_str("arena-1").unwrap(),
                tick_rate: 30,
                world: WorldBounds { width: 1600, height: 1000 },
                view_radius: 700,
                entity: Some(EntityId(7)),
                resume_token: token(),
                resumed: false,
            })),
        ),
        (
            "snapshot_full",
            Err(ServerMessage::Snapshot(Snapshot {
                header: SnapshotHeader {
                    tick: Tick(100),
                    baseline: None,
                    last_input: InputSeq(41),
                    round: round(),
                },
                entities: vec![
                    EntityDelta::spawn(&ship(3, 4000, 12000, 2)),
                    EntityDelta::spawn(&ship(7, -16, 300, 5)),
                    EntityDelta::spawn(&pickup(100_000, 8000, 8000, 1)),
                    EntityDelta::spawn(&pickup(100_001, 25000, 1600, 3)),
                ],
                removed: vec![],
            })),
        ),
        (
            "snapshot_delta",
            Err(ServerMessage::Snapshot(Snapshot {
                header: SnapshotHeader {
                    tick: Tick(103),
                    baseline: Some(Tick(100)),
                    last_input: InputSeq(44),
                    round: round(),
                },
                entities: vec![
                    EntityDelta {
                        id: EntityId(3),
                        pos: Some(QVec2 { x: 4012, y: 11995 }),
                        heading: Some(70),
                        ..EntityDelta::default()
                    },
                    EntityDelta { id: EntityId(7), value: Some(6), ..EntityDelta::default() },
                    EntityDelta::spawn(&ship(9, 100, 200, 0)),
                ],
                removed: vec![EntityId(100_000)],
            })),
        ),
        (
            "snapshot_large_tick",
            Err(ServerMessage::Snapshot(Snapshot {
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
            Err(ServerMessage::Event(Event {
                tick: Tick(5),
                kind: EventKind::Joined {
                    player: PlayerId(2),
                    name: name("bob"),
                    role: Role::Controller,
                },
            })),
        ),
        (
            "event_chat",
            Err(ServerMessage::Event(Event {
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
            Err(ServerMessage::Event(Event {
                tick: Tick(3600),
                kind: EventKind::RoundOver { round: 3, winner: Some(PlayerId(7)), score: 12 },
            })),
        ),
        (
            "controller_feedback",
            Err(ServerMessage::ControllerFeedback(ControllerFeedback {
                colour: Rgb([0x4d, 0xab, 0xf7]),
                score: 300,
                alive: true,
                rumble: 200,
            })),
        ),
        ("pong", Err(ServerMessage::Pong(Pong { nonce: 0xdead_beef, server_tick: Tick(1300) }))),
        (
            "kick",
            Err(ServerMessage::Kick(Kick {
                reason: KickReason::VersionMismatch { server: 1 },
                message: KickText::try_from_str("this server speaks protocol 1, the client 2")
                    .unwrap(),
            })),
        ),
    ]
}

fn message_type(msg: &Result<ClientMessage, ServerMessage>) -> String {
    let value = match msg {
        Ok(m) => serde_json::to_value(m).unwrap(),
        Err(m) => serde_json::to_value(m).unwrap(),
    };
    value.as_object().and_then(|o| o.keys().next().cloned()).unwrap()
}

fn encode(msg: &Result<ClientMessage, ServerMessage>) -> Vec<u8> {
    match msg {
        Ok(m) => encode_client_to_vec(m),
        Err(m) => encode_server(m).unwrap(),
    }
}

fn to_vector(name: &str, msg: &Result<ClientMessage, ServerMessage>) -> Vector {
    let (direction, value) = match msg {
        Ok(m) => (Direction::ClientToServer, serde_json::to_value(m).unwrap()),
        Err(m) => (Direction::ServerToClient, serde_json::to_value(m).unwrap()),
    };
    Vector {
        name: name.into(),
        direction,
        message: message_type(msg),
        hex: hex(&encode(msg)),
        value,
    }
}

fn read_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(testdata().join("vectors.json"))
        .expect("shared/testdata/vectors.json exists (bless with TICKWIRE_BLESS=1)");
    serde_json::from_str(&text).expect("vectors.json parses")
}

#[test]
fn golden_vectors_match_the_codec_byte_for_byte() {
    let canonical = canonical();
    if std::env::var_os("TICKWIRE_BLESS").is_some() {
        let dir = testdata();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "bin") {
                std::fs::remove_file(path).unwrap();
            }
        }
        let vectors: Vec<Vector> = canonical.iter().map(|(n, m)| to_vector(n, m)).collect();
        for (name, msg) in &canonical {
            std::fs::write(dir.join(format!("{name}.bin")), encode(msg)).unwrap();
        }
        let json = serde_json::to_string_pretty(&vectors).unwrap() + "\n";
        std::fs::write(dir.join("vectors.json"), json).unwrap();
    }

    let vectors = read_vectors();
    for v in &vectors {
        let file = std::fs::read(testdata().join(format!("{}.bin", v.name)))
            .unwrap_or_else(|e| panic!("{}.bin: {e}", v.name));
        assert_eq!(hex(&file), v.hex, "{}: .bin and hex disagree", v.name);
        // Rebuild from the JSON value alone, and decode the bytes back.
        let rebuilt = match v.direction {
            Direction::ClientToServer => {
                let msg: ClientMessage = serde_json::from_value(v.value.clone())
                    .unwrap_or_else(|e| panic!("{}: value: {e}", v.name));
                assert_eq!(decode_client(&file), Ok(msg), "{}: decode", v.name);
                encode_client_to_vec(&msg)
            }
            Direction::ServerToClient => {
                let msg: ServerMessage = serde_json::from_value(v.value.clone())
                    .unwrap_or_else(|e| panic!("{}: value: {e}", v.name));
                assert_eq!(decode_server(&file).as_ref(), Ok(&msg), "{}: decode", v.name);
                check_no_alloc_view(&v.name, &file, &msg);
                encode_server(&msg).unwrap()
            }
        };
        assert_eq!(hex(&rebuilt), v.hex, "{}: encoding the JSON value changed the bytes", v.name);
        let expected_type = serde_json::to_value(&v.value).unwrap();
        assert_eq!(expected_type.as_object().unwrap().keys().next(), Some(&v.message));
    }

    // The files, the JSON and the code list the same vectors.
    let listed: BTreeSet<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".bin").map(str::to_owned)
        })
        .collect();
    assert_eq!(listed, on_disk.iter().map(String::as_str).collect(), "every .bin is listed");
    for required in REQUIRED {
        assert!(listed.contains(required), "vector {required} is missing");
    }
    let expected: Vec<Vector> = canonical.iter().map(|(n, m)| to_vector(n, m)).collect();
    assert_eq!(
        vectors, expected,
        "vectors.json differs from the canonical list; bless if deliberate"
    );
}

/// A controller decodes server messages without an allocator: everything but a snapshot comes
/// out identical, and a snapshot as its header.
fn check_no_alloc_view(name: &str, bytes: &[u8], msg: &ServerMessage) {
    let view = decode_control(bytes).unwrap_or_else(|e| panic!("{name}: decode_control: {e}"));
    let expected = match msg {
        ServerMessage::Welcome(m) => ControlMessage::Welcome(*m),
        ServerMessage::Snapshot(s) => ControlMessage::Snapshot(s.header),
        ServerMessage::Event(m) => ControlMessage::Event(*m),
        ServerMessage::ControllerFeedback(m) => ControlMessage::ControllerFeedback(*m),
        ServerMessage::Pong(m) => ControlMessage::Pong(*m),
        ServerMessage::Kick(m) => ControlMessage::Kick(*m),
    };
    assert_eq!(view, expected, "{name}: decode_control");
}

/// Every ```hex name=<vector>``` block in PROTOCOL.md shows that vector's exact bytes
/// (comments after `#` on each line are annotations).
#[test]
fn protocol_md_examples_are_the_golden_bytes() {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../PROTOCOL.md"))
            .expect("PROTOCOL.md exists");
    let vectors = read_vectors();
    let mut checked = 0;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("```hex name=") else { continue };
        let mut bytes = Vec::new();
        for body in lines.by_ref() {
            if body.trim() == "```" {
                break;
            }
            let data = body.split('#').next().unwrap_or("");
            bytes.extend(unhex(data));
        }
        let vector = vectors
            .iter()
            .find(|v| v.name == name.trim())
            .unwrap_or_else(|| panic!("PROTOCOL.md shows unknown vector {name}"));
        assert_eq!(hex(&bytes), vector.hex, "PROTOCOL.md example {name}");
        checked += 1;
    }
    assert!(checked >= 6, "PROTOCOL.md shows {checked} checked examples");
}
