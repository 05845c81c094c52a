//! Every message a controller sends or receives round-trips through fixed stack buffers with
//! no allocator, and the largest possible of each fits the buffer size `messages.rs` documents.
//!
//! Run as `cargo test -p tickwire-shared --no-default-features` (CI does), which builds the
//! crate without `alloc`: only the no-alloc API exists then, so this file cannot use anything
//! else by accident. It passes with default features too, where one more test checks the
//! (allocating) largest `Snapshot` against `MAX_SERVER_MESSAGE_SIZE`.

use tickwire_shared::codec::{decode_client, decode_control, encode_client, encode_control};
use tickwire_shared::*;

/// A string of exactly `N` bytes made of multi-byte characters (4-byte ones, then one shorter
/// character for the remainder): the longest a bound allows and the worst case for the UTF-8
/// check. Built on the stack.
fn longest<const N: usize>() -> BoundedStr<N> {
    let mut buf = [0u8; 256];
    assert!(N <= buf.len());
    let mut len = 0;
    for _ in 0..N / 4 {
        len += '\u{1F680}'.encode_utf8(&mut buf[len..]).len();
    }
    let rest = match N % 4 {
        1 => Some('a'),
        2 => Some('\u{e9}'),
        3 => Some('\u{20ac}'),
        _ => None,
    };
    if let Some(c) = rest {
        len += c.encode_utf8(&mut buf[len..]).len();
    }
    let s = BoundedStr::try_from_str(core::str::from_utf8(&buf[..len]).unwrap()).unwrap();
    assert_eq!(s.len(), N, "filled to the limit");
    s
}

const TOKEN: ResumeToken = ResumeToken([0xa5; 16]);
const ROLES: [Role; 3] = [Role::Player, Role::Spectator, Role::Controller];

fn client_round_trip(msg: ClientMessage) -> usize {
    let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
    let len = encode_client(&msg, &mut buf).expect("fits MAX_CLIENT_MESSAGE_SIZE");
    assert_eq!(decode_client(&buf[..len]), Ok(msg));
    len
}

fn control_round_trip(msg: ControlMessage) -> usize {
    let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
    let len = encode_control(&msg, &mut buf).expect("fits MAX_CONTROL_MESSAGE_SIZE");
    assert_eq!(decode_control(&buf[..len]), Ok(msg));
    len
}

fn hello(role: Role, resume: Option<ResumeToken>, room: RoomRequest) -> ClientMessage {
    ClientMessage::Hello(Hello { version: PROTOCOL_VERSION, role, name: longest(), room, resume })
}

/// The largest client message of each kind, with its exact encoded size.
fn largest_client_messages() -> [(ClientMessage, usize); 5] {
    [
        // tag 1 + version 3 (u16::MAX) + role 1 + name 1+24 + room 1+1+16 + resume 1+16
        (
            ClientMessage::Hello(Hello {
                version: u16::MAX,
                role: Role::Controller,
                name: longest(),
                room: RoomRequest::Named(longest()),
                resume: Some(TOKEN),
            }),
            65,
        ),
        // tag 1 + seq 5 + x 1 + y 1 + buttons 1
        (
            ClientMessage::Input(Input {
                seq: InputSeq(u32::MAX),
                x: i8::MIN,
                y: i8::MAX,
                buttons: Buttons(0xff),
            }),
            9,
        ),
        (ClientMessage::Ack(Ack { tick: Tick(u32::MAX) }), 6),
        // tag 1 + length 1 (200 < 251) + 200 bytes: the largest client message
        (ClientMessage::Chat(Chat { text: longest() }), 202),
        (ClientMessage::Ping(Ping { nonce: u32::MAX }), 6),
    ]
}

/// The largest controller-bound server message of each kind, with its exact encoded size.
fn largest_control_messages() -> [(ControlMessage, usize); 11] {
    let tick = Tick(u32::MAX);
    let player = PlayerId(u16::MAX);
    let event = |kind| ControlMessage::Event(Event { tick, kind });
    [
        // tag 1 + player 3 + role 1 + room 1+16 + rate 1 + world 3+3 + radius 3 + entity 1+5
        // + token 16 + resumed 1
        (
            ControlMessage::Welcome(Welcome {
                player_id: player,
                role: Role::Controller,
                room: longest(),
                tick_rate: u8::MAX,
                world: WorldBounds { width: u16::MAX, height: u16::MAX },
                view_radius: u16::MAX,
                entity: Some(EntityId(u32::MAX)),
                resume_token: TOKEN,
                resumed: true,
            }),
            55,
        ),
        // tag 1 + tick 5 + ages and flags 1+1+1 + last_input 5 + round 3+1+3 (and no body)
        (
            ControlMessage::Snapshot(SnapshotHeader {
                tick,
                baseline: Some(Tick(tick.0 - 255)),
                reference: Some(Tick(tick.0 - 510)),
                last_input: InputSeq(u32::MAX),
                round: Some(RoundState {
                    round: u16::MAX,
                    phase: RoundPhase::Intermission,
                    seconds_left: u16::MAX,
                }),
            }),
            21,
        ),
        // tag 1 + tick 5 + kind 1 + fields
        (
            event(EventKind::Joined {
                player,
                name: longest(),
                role: Role::Spectator,
                score: u16::MAX,
            }),
            39,
        ),
        (event(EventKind::Left { player }), 10),
        (event(EventKind::Scored { player, score: u16::MAX }), 13),
        (
            event(EventKind::RoundOver { round: u16::MAX, winner: Some(player), score: u16::MAX }),
            17,
        ),
        // tag 1 + tick 5 + kind 1 + from 3 + name 1+24 + text 1+200: the largest control message
        (event(EventKind::Chat { from: player, name: longest(), text: longest() }), 236),
        (event(EventKind::Audience { spectators: u32::MAX }), 12),
        (
            ControlMessage::ControllerFeedback(ControllerFeedback {
                colour: Rgb([0xff; 3]),
                score: u16::MAX,
                alive: true,
                rumble: u8::MAX,
            }),
            9,
        ),
        (ControlMessage::Pong(Pong { nonce: u32::MAX, server_tick: tick }), 11),
        // tag 1 + reason 1+3 + message 1+96
        (
            ControlMessage::Kick(Kick {
                reason: KickReason::VersionMismatch { server: u16::MAX },
                message: longest(),
            }),
            102,
        ),
    ]
}

#[test]
fn every_client_message_round_trips_in_a_fixed_buffer() {
    for role in ROLES {
        for resume in [None, Some(TOKEN)] {
            for room in [
                RoomRequest::Any,
                RoomRequest::Named(RoomName::try_from_str("lobby-2").unwrap()),
                RoomRequest::Named(longest()),
            ] {
                client_round_trip(hello(role, resume, room));
            }
        }
        let empty = Hello {
            version: 0,
            role,
            name: Name::new(),
            room: RoomRequest::Named(RoomName::new()),
            resume: None,
        };
        client_round_trip(ClientMessage::Hello(empty));
    }
    for seq in [0, 250, 251, 65_535, 65_536, u32::MAX] {
        for (x, y) in [(0, 0), (-127, 127), (i8::MIN, i8::MAX)] {
            client_round_trip(ClientMessage::Input(Input {
                seq: InputSeq(seq),
                x,
                y,
                buttons: Buttons(Buttons::BOOST | Buttons::ACTION),
            }));
        }
        client_round_trip(ClientMessage::Ack(Ack { tick: Tick(seq) }));
        client_round_trip(ClientMessage::Ping(Ping { nonce: seq }));
    }
    for text in ["", "gg", "gg \u{e9}quipe \u{1F680}"] {
        client_round_trip(ClientMessage::Chat(Chat {
            text: ChatText::try_from_str(text).unwrap(),
        }));
    }
    for (msg, _) in largest_client_messages() {
        client_round_trip(msg);
    }
}

#[test]
fn the_largest_client_messages_fit_max_client_message_size() {
    let mut largest = 0;
    for (msg, expected) in largest_client_messages() {
        let len = client_round_trip(msg);
        assert_eq!(len, expected, "{msg:?}");
        assert!(len <= MAX_CLIENT_MESSAGE_SIZE);
        largest = largest.max(len);
    }
    // A full Chat is the largest client message; the limit leaves room above it.
    assert_eq!(largest, 202);
}

#[test]
fn every_controller_bound_server_message_round_trips_in_a_fixed_buffer() {
    for role in ROLES {
        for (entity, resumed) in [(None, false), (Some(EntityId(7)), true)] {
            control_round_trip(ControlMessage::Welcome(Welcome {
                player_id: PlayerId(7),
                role,
                room: RoomName::try_from_str("arena-1").unwrap(),
                tick_rate: 30,
                world: WorldBounds { width: 1600, height: 1000 },
                view_radius: 0,
                entity,
                resume_token: TOKEN,
                resumed,
            }));
        }
    }
    let tick = Tick(70_000);
    let short = Name::try_from_str("ada").unwrap();
    for role in ROLES {
        let kind = EventKind::Joined { player: PlayerId(1), name: short, role, score: 7 };
        control_round_trip(ControlMessage::Event(Event { tick, kind }));
    }
    for kind in [
        EventKind::Left { player: PlayerId(1) },
        EventKind::Scored { player: PlayerId(1), score: 0 },
        EventKind::RoundOver { round: 1, winner: None, score: 0 },
        EventKind::RoundOver { round: 2, winner: Some(PlayerId(3)), score: 12 },
        EventKind::Chat { from: PlayerId(1), name: short, text: ChatText::new() },
        EventKind::Audience { spectators: 0 },
        EventKind::Audience { spectators: 5_000 },
    ] {
        control_round_trip(ControlMessage::Event(Event { tick, kind }));
    }
    for alive in [false, true] {
        control_round_trip(ControlMessage::ControllerFeedback(ControllerFeedback {
            colour: Rgb([0x4d, 0xab, 0xf7]),
            score: 0,
            alive,
            rumble: 0,
        }));
    }
    control_round_trip(ControlMessage::Pong(Pong { nonce: 0, server_tick: Tick(0) }));
    for reason in KickReason::ALL {
        control_round_trip(ControlMessage::Kick(Kick { reason, message: KickText::new() }));
        control_round_trip(ControlMessage::Kick(Kick { reason, message: longest() }));
    }
    let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 60 };
    for (baseline, reference, round) in [
        (None, None, Some(round)),
        (Some(Tick(69_999)), None, None),
        (Some(Tick(69_999)), Some(Tick(69_998)), Some(round)),
        (Some(Tick(tick.0 - 255)), Some(Tick(tick.0 - 510)), None),
    ] {
        let header = SnapshotHeader {
            tick: Tick(70_000),
            baseline,
            reference,
            last_input: InputSeq(0),
            round,
        };
        control_round_trip(ControlMessage::Snapshot(SnapshotHeader { tick, ..header }));
    }
    for (msg, _) in largest_control_messages() {
        control_round_trip(msg);
    }
}

#[test]
fn the_largest_control_messages_fit_max_control_message_size() {
    let mut largest = 0;
    for (msg, expected) in largest_control_messages() {
        let len = control_round_trip(msg);
        assert_eq!(len, expected, "{msg:?}");
        assert!(len <= MAX_CONTROL_MESSAGE_SIZE);
        largest = largest.max(len);
    }
    // A full chat event is the largest message a no-alloc client receives.
    assert_eq!(largest, 236);
}

#[test]
fn a_buffer_too_small_is_an_error_not_a_panic() {
    let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
    for (msg, len) in largest_client_messages() {
        for short in 0..len {
            assert_eq!(encode_client(&msg, &mut buf[..short]), Err(EncodeError::BufferTooSmall));
        }
        assert_eq!(encode_client(&msg, &mut buf[..len]), Ok(len));
    }
    for (msg, len) in largest_control_messages() {
        for short in 0..len {
            assert_eq!(encode_control(&msg, &mut buf[..short]), Err(EncodeError::BufferTooSmall));
        }
        assert_eq!(encode_control(&msg, &mut buf[..len]), Ok(len));
    }
}

/// The one allocating bound: the largest snapshot the encoder can write fits
/// `MAX_SERVER_MESSAGE_SIZE`: 1024 entities that each jump across the whole range of every field
/// against an extrapolation that points the other way (the largest of every field at either end
/// of its range), or 1024 spawns with every field and id at its widest. One entity more is
/// refused when encoding.
#[cfg(feature = "alloc")]
#[test]
fn the_largest_snapshot_fits_max_server_message_size() {
    use tickwire_shared::codec::{decode_server, encode_server};
    use tickwire_shared::delta::{Baseline, World, delta};
    let round =
        |r: u16| RoundState { round: r, phase: RoundPhase::Intermission, seconds_left: u16::MAX };
    let world = |tick: u32, ids: std::ops::RangeInclusive<u32>, v: i16, field: u8, r: u16| World {
        tick: Tick(tick),
        round: round(r),
        entities: ids
            .map(|id| EntityState {
                id: EntityId(id),
                kind: field,
                pos: QVec2 { x: v, y: v },
                vel: QVec2 { x: v, y: v },
                heading: field,
                flags: field,
                value: if field == 0 { 0 } else { u16::MAX },
            })
            .collect(),
    };
    let ids = (u32::MAX - MAX_SNAPSHOT_ENTITIES as u32 + 1)..=u32::MAX;
    // Extrapolated over 255 ticks from a reference one tick older: the widest prediction.
    let reference = world(u32::MAX - 256, ids.clone(), i16::MIN, 0, 1);
    let baseline = world(u32::MAX - 255, ids.clone(), i16::MAX, 255, 2);
    let next = world(u32::MAX, ids.clone(), i16::MIN, 0, 3);
    // The largest found by trying every field at either end of its range: velocity turned
    // from the slowest to the fastest, so the prediction runs as far as it can one way while
    // the ship stays at the other end, and every other field changes too.
    let turned = |w: &World, vel: i16, heading: u8, value: u16| World {
        entities: w
            .entities
            .iter()
            .map(|e| EntityState {
                pos: QVec2 { x: i16::MIN, y: i16::MIN },
                vel: QVec2 { x: vel, y: vel },
                heading,
                value,
                ..*e
            })
            .collect(),
        ..w.clone()
    };
    let (worst_reference, worst_baseline, worst_next) = (
        turned(&reference, i16::MIN, 0, 0),
        turned(&baseline, i16::MAX, 0, 0),
        turned(&next, i16::MAX, 128, u16::MAX),
    );
    let mut largest = 0;
    for (base, next) in [
        (Some(Baseline::with_reference(&baseline, &reference)), &next),
        (Some(Baseline::with_reference(&worst_baseline, &worst_reference)), &worst_next),
        (None, &baseline),
    ] {
        let snapshot = delta(base, next, InputSeq(u32::MAX), 1).unwrap();
        let msg = ServerMessage::Snapshot(snapshot);
        let bytes = encode_server(&msg).unwrap();
        assert_eq!(decode_server(&bytes), Ok(msg));
        largest = largest.max(bytes.len());
    }
    assert!(largest <= MAX_SERVER_MESSAGE_SIZE, "{largest} bytes");
    // The turned velocity is the largest: about 36 bytes an entity (PROTOCOL.md says 37 KB).
    assert!(largest > 35 * MAX_SNAPSHOT_ENTITIES, "{largest} bytes");

    let mut too_many = next.clone();
    too_many.entities.insert(0, EntityState { id: EntityId(0), ..next.entities[0] });
    assert_eq!(delta(None, &too_many, InputSeq(0), 30), Err(EncodeError::TooManyEntities));
}
