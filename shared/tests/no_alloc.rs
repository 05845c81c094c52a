//! Every message a controller sends or receives round-trips through fixed stack buffers with
//! no allocator. Run as `cargo test -p tickwire-shared --no-default-features` (CI does), which
//! builds the crate without `alloc`; it passes with default features too.

use tickwire_shared::codec::{decode_client, decode_control, encode_client, encode_control};
use tickwire_shared::*;

/// 100 three-byte characters: longer than every bound, cut at a character boundary.
const EUROS: &str =
    "\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}\u{20ac}";

/// The longest string of `N` bytes of multi-byte characters: the worst case for UTF-8 checks.
fn longest<const N: usize>() -> BoundedStr<N> {
    let mut text = BoundedStr::<300>::new();
    for _ in 0..10 {
        let mut joined = [0u8; 300];
        let (a, b) = (text.as_str().as_bytes(), EUROS.as_bytes());
        joined[..a.len()].copy_from_slice(a);
        joined[a.len()..a.len() + b.len()].copy_from_slice(b);
        text =
            BoundedStr::try_from_str(core::str::from_utf8(&joined[..a.len() + b.len()]).unwrap())
                .unwrap();
    }
    let s = BoundedStr::<N>::truncated(text.as_str());
    assert!(s.len() + 3 > N, "filled to the limit");
    s
}

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

const TOKEN: ResumeToken = ResumeToken([0xa5; 16]);

#[test]
fn every_client_message_round_trips_in_a_fixed_buffer() {
    for role in [Role::Player, Role::Spectator, Role::Controller] {
        for resume in [None, Some(TOKEN)] {
            for room in [RoomRequest::Any, RoomRequest::Named(longest())] {
                let len = client_round_trip(ClientMessage::Hello(Hello {
                    version: PROTOCOL_VERSION,
                    role,
                    name: longest(),
                    room,
                    resume,
                }));
                assert!(len <= MAX_CLIENT_MESSAGE_SIZE);
            }
        }
    }
    client_round_trip(ClientMessage::Input(Input {
        seq: InputSeq(u32::MAX),
        x: -128,
        y: 127,
        buttons: Buttons(0xff),
    }));
    client_round_trip(ClientMessage::Ack(Ack { tick: Tick(u32::MAX) }));
    client_round_trip(ClientMessage::Ping(Ping { nonce: u32::MAX }));
    let chat = client_round_trip(ClientMessage::Chat(Chat { text: longest() }));
    assert!(chat <= MAX_CLIENT_MESSAGE_SIZE, "the longest chat is {chat} bytes");
}

#[test]
fn every_controller_bound_server_message_round_trips_in_a_fixed_buffer() {
    control_round_trip(ControlMessage::Welcome(Welcome {
        player_id: PlayerId(u16::MAX),
        role: Role::Controller,
        room: longest(),
        tick_rate: 120,
        world: WorldBounds { width: u16::MAX, height: u16::MAX },
        view_radius: u16::MAX,
        entity: Some(EntityId(u32::MAX)),
        resume_token: TOKEN,
        resumed: true,
    }));
    let tick = Tick(u32::MAX);
    for kind in [
        EventKind::Joined { player: PlayerId(u16::MAX), name: longest(), role: Role::Player },
        EventKind::Left { player: PlayerId(1) },
        EventKind::Scored { player: PlayerId(1), score: u16::MAX },
        EventKind::RoundOver { round: u16::MAX, winner: Some(PlayerId(u16::MAX)), score: 9 },
        EventKind::RoundOver { round: 1, winner: None, score: 0 },
        EventKind::Chat { from: PlayerId(u16::MAX), name: longest(), text: longest() },
    ] {
        let len = control_round_trip(ControlMessage::Event(Event { tick, kind }));
        assert!(len <= MAX_CONTROL_MESSAGE_SIZE);
    }
    control_round_trip(ControlMessage::ControllerFeedback(ControllerFeedback {
        colour: Rgb([1, 2, 3]),
        score: u16::MAX,
        alive: false,
        rumble: 255,
    }));
    control_round_trip(ControlMessage::Pong(Pong { nonce: u32::MAX, server_tick: tick }));
    control_round_trip(ControlMessage::Kick(Kick {
        reason: KickReason::VersionMismatch { server: u16::MAX },
        message: longest(),
    }));
    control_round_trip(ControlMessage::Snapshot(SnapshotHeader {
        tick,
        baseline: Some(Tick(u32::MAX - 1)),
        last_input: InputSeq(u32::MAX),
        round: RoundState { round: u16::MAX, phase: RoundPhase::Intermission, seconds_left: 9 },
    }));
}

#[test]
fn a_buffer_too_small_is_an_error_not_a_panic() {
    let msg = ClientMessage::Chat(Chat { text: longest() });
    let mut small = [0u8; 16];
    assert_eq!(encode_client(&msg, &mut small), Err(EncodeError::BufferTooSmall));
    let feedback = ControlMessage::ControllerFeedback(ControllerFeedback {
        colour: Rgb([0; 3]),
        score: 0,
        alive: true,
        rumble: 0,
    });
    let mut tiny = [0u8; 2];
    assert_eq!(encode_control(&feedback, &mut tiny), Err(EncodeError::BufferTooSmall));
}
