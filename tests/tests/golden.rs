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
use tickwire_shared::delta::{Baseline, World, WorldHistory, apply, delta};
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
    "snapshot_extrapolated",
    "event_chat",
    "event_audience",
    "controller_feedback",
    "pong",
    "kick",
    "kick_removed",
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
        vel: QVec2 { x: -48, y: 20 }, // (-96, 40) units/s
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

/// The room's tick rate in every snapshot vector.
const TICK_RATE: u8 = 30;

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

/// The world `snapshot_extrapolated` describes (tick 104) against tick 103, extrapolating from
/// tick 100: ship 7 is exactly where it is predicted (one bit), ship 3 turned further and sped
/// up a little more than predicted, ship 9 boosts (flags) and the pickup stays.
fn extrapolated_world() -> World {
    let (_, t103) = worlds();
    let mut ship3 = *t103.get(EntityId(3)).unwrap();
    ship3.pos = QVec2 { x: 3958, y: 12017 }; // where its new velocity puts it
    ship3.vel = QVec2 { x: -51, y: 21 };
    ship3.heading = 73;
    let mut ship7 = *t103.get(EntityId(7)).unwrap();
    // The prediction: velocity unchanged, moved by 2 x (-48, 20) x 16 / 30 steps.
    ship7.pos = QVec2 { x: -16 - 51, y: 300 + 21 };
    let mut ship9 = *t103.get(EntityId(9)).unwrap();
    ship9.flags |= 0b100;
    ship9.pos = QVec2 { x: 49, y: 221 };
    World::from_unsorted(
        Tick(104),
        round(),
        vec![ship3, ship7, ship9, *t103.get(EntityId(100_001)).unwrap()],
    )
}

/// One snapshot vector: what it is encoded against and the world it describes. The bytes are
/// the message vector of the same name in `vectors.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotCase {
    /// The vector in `vectors.json` holding the encoded message.
    vector: String,
    tick_rate: u8,
    last_input: u32,
    baseline: Option<World>,
    reference: Option<World>,
    world: World,
}

/// The snapshot vectors as cases: a full snapshot, a delta with a removal, a spawn and
/// changes, a delta extrapolated from a reference, and a tick past 65535 with a new round.
fn snapshot_cases() -> Vec<SnapshotCase> {
    let (t100, t103) = worlds();
    let empty = |tick, round| World { tick: Tick(tick), round, entities: vec![] };
    let intermission = RoundState { round: 12, phase: RoundPhase::Intermission, seconds_left: 8 };
    let case = |vector: &str,
                last_input,
                baseline: Option<&World>,
                reference: Option<&World>,
                world: &World| SnapshotCase {
        vector: vector.into(),
        tick_rate: TICK_RATE,
        last_input,
        baseline: baseline.cloned(),
        reference: reference.cloned(),
        world: world.clone(),
    };
    vec![
        case("snapshot_full", 41, None, None, &t100),
        case("snapshot_delta", 44, Some(&t100), None, &t103),
        case("snapshot_extrapolated", 45, Some(&t103), Some(&t100), &extrapolated_world()),
        case(
            "snapshot_large_tick",
            300,
            Some(&empty(69_998, round())),
            None,
            &empty(70_000, intermission),
        ),
    ]
}

impl SnapshotCase {
    fn baseline(&self) -> Option<Baseline<'_>> {
        self.baseline.as_ref().map(|world| Baseline { world, reference: self.reference.as_ref() })
    }

    fn encode(&self) -> Snapshot {
        delta(self.baseline(), &self.world, InputSeq(self.last_input), self.tick_rate)
            .unwrap_or_else(|e| panic!("{}: {e}", self.vector))
    }
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
    let snapshots = snapshot_cases();
    let snapshot = |name: &str| {
        let case = snapshots.iter().find(|c| c.vector == name).expect("a snapshot case");
        S(ServerMessage::Snapshot(case.encode()))
    };
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
        ("snapshot_full", snapshot("snapshot_full")),
        ("snapshot_delta", snapshot("snapshot_delta")),
        ("snapshot_extrapolated", snapshot("snapshot_extrapolated")),
        ("snapshot_large_tick", snapshot("snapshot_large_tick")),
        (
            "event_joined",
            S(ServerMessage::Event(Event {
                tick: Tick(5),
                kind: EventKind::Joined {
                    player: PlayerId(2),
                    name: name("bob"),
                    role: Role::Controller,
                    score: 300,
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
            "event_audience",
            S(ServerMessage::Event(Event {
                tick: Tick(1300),
                kind: EventKind::Audience { spectators: 5000 },
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
                reason: KickReason::VersionMismatch { server: 3 },
                message: KickText::try_from_str("this server speaks protocol 3, the client 2")
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
        (
            "kick_removed",
            S(ServerMessage::Kick(Kick {
                reason: KickReason::Removed,
                message: KickText::try_from_str("removed by the operator: spamming the chat")
                    .unwrap(),
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
        let json = serde_json::to_string_pretty(&snapshot_cases()).unwrap() + "\n";
        std::fs::write(dir.join("snapshots.json"), json).unwrap();
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
                    // `encode_control` writes a snapshot's header with an empty body: a prefix
                    // of the whole snapshot's bytes.
                    ServerMessage::Snapshot(s) => {
                        assert_eq!(&buf[..len], &bytes[..bytes.len() - s.body.len()], "{n}");
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

fn read_snapshot_cases() -> Vec<SnapshotCase> {
    testdata_ready();
    let text = std::fs::read_to_string(testdata().join("snapshots.json"))
        .expect("shared/testdata/snapshots.json exists (bless with TICKWIRE_BLESS=1)");
    serde_json::from_str(&text).expect("snapshots.json parses")
}

fn decode_snapshot(name: &str) -> Snapshot {
    match decode_server(&read_bin(name)).unwrap() {
        ServerMessage::Snapshot(s) => s,
        other => panic!("{name} is not a snapshot: {other:?}"),
    }
}

/// Every case of `snapshots.json`, rebuilt from its JSON alone: encoding its world against its
/// baseline and reference gives exactly the bytes of its vector, and applying those bytes to
/// them gives its world back. Other clients (JavaScript, tools) test their decoders on it.
#[test]
fn snapshot_cases_encode_to_their_vectors_and_apply_back() {
    let cases = read_snapshot_cases();
    assert_eq!(
        cases,
        snapshot_cases(),
        "snapshots.json differs from the code; bless if deliberate"
    );
    for case in &cases {
        let n = &case.vector;
        let bytes = read_bin(n);
        let encoded = encode_server(&ServerMessage::Snapshot(case.encode())).unwrap();
        assert_eq!(hex(&encoded), hex(&bytes), "{n}: encoding the case");
        let snapshot = decode_snapshot(n);
        assert_eq!(
            apply(case.baseline(), &snapshot, case.tick_rate),
            Ok(case.world.clone()),
            "{n}"
        );
        assert_eq!(snapshot.header.baseline, case.baseline.as_ref().map(|w| w.tick), "{n}");
        assert_eq!(snapshot.header.reference, case.reference.as_ref().map(|w| w.tick), "{n}");
        assert_eq!(snapshot.header.last_input, InputSeq(case.last_input), "{n}");
    }
}

/// The snapshot vectors form one client's stream: full (tick 100), delta (103), extrapolated
/// (104), rebuilt one after another by `WorldHistory` as a client does; and they show every
/// kind of entity code.
#[test]
fn snapshot_vectors_form_a_full_delta_extrapolated_sequence() {
    let mut history = WorldHistory::new(TICK_RATE);
    let (t100, t103) = worlds();
    assert_eq!(history.apply(&decode_snapshot("snapshot_full")), Ok(&t100));
    assert_eq!(history.apply(&decode_snapshot("snapshot_delta")), Ok(&t103));
    assert_eq!(history.apply(&decode_snapshot("snapshot_extrapolated")), Ok(&extrapolated_world()));
    assert!(t100.entities.iter().any(|e| e.pos.x < 0 || e.pos.y < 0), "a negative coordinate");
    assert!(t100.entities.iter().any(|e| e.id.0 >= 100_000), "a large id");
    let full = decode_snapshot("snapshot_full");
    assert_eq!(full.header.round, Some(round()));
    let step = decode_snapshot("snapshot_delta");
    assert_eq!(step.header.round, None, "an unchanged round is not sent");
    assert!(t103.get(EntityId(100_000)).is_none() && t100.get(EntityId(100_000)).is_some());
    assert!(t103.get(EntityId(9)).is_some() && t100.get(EntityId(9)).is_none());
    // The extrapolated step spends one bit on ship 7, which is where it was predicted.
    let extrapolated = decode_snapshot("snapshot_extrapolated");
    assert_eq!(extrapolated.body[0] & 1, 1, "ship 3: the first code is not `0`");
    let plain =
        delta(Some(Baseline::new(&t103)), &extrapolated_world(), InputSeq(45), TICK_RATE).unwrap();
    assert!(extrapolated.body.len() <= plain.body.len(), "extrapolating does not cost more");
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

/// The version PROTOCOL.md and SECURITY.md tell a client to send is the one the server speaks:
/// a client written from the documents alone is otherwise refused at its first message.
#[test]
fn the_documents_state_the_protocol_version_spoken() {
    let read = |name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let version = tickwire_shared::PROTOCOL_VERSION;
    let protocol = read("PROTOCOL.md");
    let hello_row = protocol.lines().find(|l| l.starts_with("| `version` | u16 |"));
    let hello_row = hello_row.expect("PROTOCOL.md's Hello table has a `version` row");
    assert!(hello_row.ends_with(&format!("| must be `{version}` |")), "{hello_row}");
    assert!(protocol.contains(&format!("(its own version, {version})")), "PROTOCOL.md 7's refusal");
    let security = read("SECURITY.md");
    let limit_row = format!("| Protocol version in `Hello` | {version} |");
    assert!(security.contains(&limit_row), "SECURITY.md's limits table: {limit_row}");
}

/// The browser game predicts a stalled uplink as the server's input queue runs it: with its
/// allowance for a late input, which the Rust client's prediction holds to as well.
#[test]
fn the_browser_game_predicts_with_the_servers_late_allowance() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../client-web/js/predict.js");
    let predict = std::fs::read_to_string(path).expect("client-web/js/predict.js exists");
    let allowance = tickwire_server::inputs::LATE_ALLOWANCE;
    let line = format!("const SERVER_LATE_ALLOWANCE = {allowance};");
    assert!(predict.contains(&line), "predict.js must say {line}");
}

/// Every reason `tickwire_refused_total` counts has its row in SECURITY.md's table of reasons,
/// where an operator looks up what a graph's new series means.
#[test]
fn security_md_explains_every_refusal_reason() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../SECURITY.md");
    let security = std::fs::read_to_string(path).expect("SECURITY.md exists");
    let rows: Vec<&str> = security.lines().filter(|l| l.starts_with("| `")).collect();
    for reason in tickwire_server::metrics::REFUSAL_REASONS {
        let named = |row: &&str| {
            let first = row.split('|').nth(1).unwrap_or_default();
            first.split(',').any(|name| name.trim() == format!("`{reason}`"))
        };
        assert!(rows.iter().any(named), "SECURITY.md has no row for refusal reason {reason}");
    }
}

#[test]
fn hex_lines_are_parsed_strictly() {
    assert_eq!(parse_hex_line("01 fc70110100   # seq 70000"), Ok(vec![1, 0xfc, 0x70, 0x11, 1, 0]));
    assert_eq!(parse_hex_line("   # only a note"), Ok(vec![]));
    assert!(parse_hex_line("01 tag 0").is_err());
    assert!(parse_hex_line("0a1").is_err());
}
