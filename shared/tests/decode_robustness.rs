//! Decoders never panic, never allocate where they promise not to, and say what was wrong:
//! random bytes, every truncation and single-byte mutation of arbitrary valid messages, and
//! one hand-made bad input per error.
//!
//! Passes with and without the `alloc` feature (`decode_server` and snapshots only with it).

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tickwire_shared::codec::{
    decode_client, decode_control, decode_controller, encode_client, encode_control,
    peek_hello_version,
};
use tickwire_shared::*;

// ---- an allocator that counts what each thread asks for --------------------------------------

struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; it only adds a counter, in a
// const-initialised thread-local that itself never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|n| n.set(n.get() + layout.size()));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result and the bytes this thread allocated meanwhile.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

/// The zero-allocation assertions below mean something: the counter sees allocations.
#[test]
fn the_allocation_counter_counts() {
    let (v, n) = allocated_by(|| vec![0u8; 100]);
    assert!(n >= 100 && v.len() == 100);
}

// ---- arbitrary valid messages ----------------------------------------------------------------

fn bounded<const N: usize>() -> impl Strategy<Value = BoundedStr<N>> {
    // Any Unicode, often longer than N: `truncated` cuts it at a character boundary.
    prop_oneof![".{0,40}", "[a-z0-9\u{e9}\u{20ac}\u{1F680}]{0,80}"]
        .prop_map(|s: String| BoundedStr::truncated(&s))
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Player), Just(Role::Spectator), Just(Role::Controller)]
}

fn tick() -> impl Strategy<Value = Tick> {
    // Small values and values on both sides of every varint width.
    prop_oneof![0u32..300, 65_000u32..70_000, any::<u32>()].prop_map(Tick)
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let hello = (
        any::<u16>(),
        role(),
        bounded(),
        prop_oneof![Just(RoomRequest::Any), bounded().prop_map(RoomRequest::Named)],
        proptest::option::of(any::<[u8; 16]>().prop_map(ResumeToken)),
    )
        .prop_map(|(version, role, name, room, resume)| {
            ClientMessage::Hello(Hello { version, role, name, room, resume })
        });
    let input = (tick(), any::<i8>(), any::<i8>(), any::<u8>()).prop_map(|(seq, x, y, b)| {
        ClientMessage::Input(Input { seq: InputSeq(seq.0), x, y, buttons: Buttons(b) })
    });
    prop_oneof![
        hello,
        input,
        tick().prop_map(|tick| ClientMessage::Ack(Ack { tick })),
        bounded().prop_map(|text| ClientMessage::Chat(Chat { text })),
        any::<u32>().prop_map(|nonce| ClientMessage::Ping(Ping { nonce })),
    ]
}

/// Every header the encoder can write: a baseline 1-255 ticks back (or none), a reference
/// 1-255 ticks behind it (or none), the round when it is sent (always in a full snapshot).
fn header() -> impl Strategy<Value = SnapshotHeader> {
    let round = (any::<u16>(), any::<bool>(), any::<u16>()).prop_map(
        |(round, intermission, seconds_left)| RoundState {
            round,
            phase: if intermission { RoundPhase::Intermission } else { RoundPhase::Playing },
            seconds_left,
        },
    );
    (
        600u32..,
        proptest::option::of((1u32..=255, proptest::option::of(1u32..=255))),
        tick(),
        proptest::option::of(round.clone()),
        round,
    )
        .prop_map(|(tick, ages, last, round, full_round)| {
            let baseline = ages.map(|(age, _)| Tick(tick - age));
            let reference = ages.and_then(|(age, r)| Some(Tick(tick - age - r?)));
            SnapshotHeader {
                tick: Tick(tick),
                baseline,
                reference,
                last_input: InputSeq(last.0),
                round: if baseline.is_none() { Some(round.unwrap_or(full_round)) } else { round },
            }
        })
}

fn control_message() -> impl Strategy<Value = ControlMessage> {
    let player = any::<u16>().prop_map(PlayerId);
    let welcome = (
        (player.clone(), role(), bounded(), any::<u8>(), any::<(u16, u16, u16)>()),
        (proptest::option::of(tick()), any::<[u8; 16]>(), any::<bool>()),
    )
        .prop_map(
            |((player_id, role, room, tick_rate, (w, h, r)), (entity, token, resumed))| {
                ControlMessage::Welcome(Welcome {
                    player_id,
                    role,
                    room,
                    tick_rate,
                    world: WorldBounds { width: w, height: h },
                    view_radius: r,
                    entity: entity.map(|t| EntityId(t.0)),
                    resume_token: ResumeToken(token),
                    resumed,
                })
            },
        );
    let kind = prop_oneof![
        (player.clone(), bounded(), role(), any::<u16>()).prop_map(
            |(player, name, role, score)| EventKind::Joined { player, name, role, score }
        ),
        player.clone().prop_map(|player| EventKind::Left { player }),
        (player.clone(), any::<u16>())
            .prop_map(|(player, score)| EventKind::Scored { player, score }),
        (any::<u16>(), proptest::option::of(player.clone()), any::<u16>())
            .prop_map(|(round, winner, score)| EventKind::RoundOver { round, winner, score }),
        (player, bounded(), bounded()).prop_map(|(from, name, text)| EventKind::Chat {
            from,
            name,
            text
        }),
        any::<u32>().prop_map(|spectators| EventKind::Audience { spectators }),
    ];
    let reason = prop_oneof![
        any::<u16>().prop_map(|server| KickReason::VersionMismatch { server }),
        Just(KickReason::BadHello),
        Just(KickReason::MalformedMessage),
        Just(KickReason::Full),
        Just(KickReason::ResumeRejected),
        Just(KickReason::RateLimited),
        Just(KickReason::Idle),
        Just(KickReason::TooSlow),
        Just(KickReason::Replaced),
        Just(KickReason::ShuttingDown),
    ];
    prop_oneof![
        welcome,
        header().prop_map(ControlMessage::Snapshot),
        (tick(), kind).prop_map(|(tick, kind)| ControlMessage::Event(Event { tick, kind })),
        (any::<[u8; 3]>(), any::<u16>(), any::<bool>(), any::<u8>()).prop_map(
            |(c, score, alive, rumble)| ControlMessage::ControllerFeedback(ControllerFeedback {
                colour: Rgb(c),
                score,
                alive,
                rumble,
            })
        ),
        (any::<u32>(), tick())
            .prop_map(|(nonce, server_tick)| ControlMessage::Pong(Pong { nonce, server_tick })),
        (reason, bounded())
            .prop_map(|(reason, message)| ControlMessage::Kick(Kick { reason, message })),
    ]
}

fn encoded_client(msg: &ClientMessage) -> Vec<u8> {
    let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
    let len = encode_client(msg, &mut buf).unwrap();
    buf[..len].to_vec()
}

fn encoded_control(msg: &ControlMessage) -> Vec<u8> {
    let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
    let len = encode_control(msg, &mut buf).unwrap();
    buf[..len].to_vec()
}

/// Runs every decoder on `bytes`. The no-alloc decoders must not allocate, whatever the bytes.
fn decode_everything(bytes: &[u8]) {
    let (_, n) = allocated_by(|| decode_client(bytes));
    assert_eq!(n, 0, "decode_client allocated");
    let (control, n) = allocated_by(|| decode_control(bytes));
    assert_eq!(n, 0, "decode_control allocated");
    let (controller, n) = allocated_by(|| decode_controller(bytes));
    assert_eq!(n, 0, "decode_controller allocated");
    // `decode_controller` is `decode_control` with events (tag 2, one varint byte) unread.
    if bytes.first() == Some(&2) && bytes.len() <= MAX_SERVER_MESSAGE_SIZE {
        let skipped = ControllerMessage::Event(SkippedEvent);
        assert_eq!(controller, Ok(skipped), "an event is skipped whatever its body");
    } else if bytes.first() == Some(&1) && controller.is_ok() {
        // Of a snapshot a controller reads only the tick: the rest of the header may be
        // anything, but where the whole header decodes the two readings agree.
        assert!(matches!(controller, Ok(ControllerMessage::Snapshot(_))), "{controller:?}");
        if let Ok(control) = control {
            assert_eq!(controller, Ok(ControllerMessage::from(control)), "decode_controller");
        }
    } else if bytes.first() == Some(&1) && control == Err(DecodeError::InvalidSnapshotHeader) {
        // A controller passes over the age bytes unchecked (its flash is tight), so where
        // `decode_control` refuses them, it may fail on the tick after them instead.
        let on_the_tick =
            matches!(controller, Err(DecodeError::Truncated | DecodeError::InvalidInteger));
        assert!(on_the_tick, "{controller:?}");
    } else {
        assert_eq!(controller, control.map(ControllerMessage::from), "decode_controller");
    }
    let (_, n) = allocated_by(|| peek_hello_version(bytes));
    assert_eq!(n, 0, "peek_hello_version allocated");
    #[cfg(feature = "alloc")]
    if let Ok(ServerMessage::Snapshot(s)) = codec::decode_server(bytes) {
        // Whatever the body, rebuilding it against nothing (or a small world) is bounded.
        let world = tickwire_shared::delta::World {
            tick: s.header.baseline.unwrap_or(Tick(0)),
            round: RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 1 },
            entities: Vec::new(),
        };
        let baseline = s.header.baseline.map(|_| tickwire_shared::delta::Baseline::new(&world));
        if let Ok(rebuilt) = tickwire_shared::delta::apply(baseline, &s, 30) {
            assert!(rebuilt.entities.len() <= MAX_SNAPSHOT_ENTITIES);
        }
    }
}

/// A client message: every strict prefix is `Truncated`, and a byte more is `TrailingBytes`.
fn check_client_framing(bytes: &[u8]) {
    for cut in 0..bytes.len() {
        assert_eq!(decode_client(&bytes[..cut]), Err(DecodeError::Truncated), "cut at {cut}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(decode_client(&longer), Err(DecodeError::TrailingBytes { extra: 1 }));
}

/// A control message: every strict prefix is `Truncated` (a snapshot header encodes with an
/// empty body, so its prefixes cut the header). A byte more is `TrailingBytes`, except behind a
/// snapshot header, where it is body (`decode_control` never reads the body).
fn check_control_framing(msg: &ControlMessage, bytes: &[u8]) {
    for cut in 0..bytes.len() {
        assert_eq!(decode_control(&bytes[..cut]), Err(DecodeError::Truncated), "cut at {cut}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    match msg {
        ControlMessage::Snapshot(_) => assert_eq!(decode_control(&longer).as_ref(), Ok(msg)),
        _ => assert_eq!(decode_control(&longer), Err(DecodeError::TrailingBytes { extra: 1 })),
    }
}

#[cfg(feature = "alloc")]
mod server {
    //! The allocating decoder, on whole snapshots.
    use super::*;
    use tickwire_shared::codec::{decode_server, encode_server};

    fn snapshot() -> impl Strategy<Value = Snapshot> {
        (header(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(header, body)| Snapshot { header, body })
    }

    proptest! {
        #[test]
        fn snapshots_round_trip_and_truncation_inside_the_header_fails(s in snapshot()) {
            let msg = ServerMessage::Snapshot(s.clone());
            let bytes = encode_server(&msg).unwrap();
            prop_assert_eq!(decode_server(&bytes), Ok(msg));
            prop_assert_eq!(decode_control(&bytes), Ok(ControlMessage::Snapshot(s.header)));
            let header_len = bytes.len() - s.body.len();
            for cut in 0..bytes.len() {
                if cut < header_len {
                    prop_assert_eq!(decode_server(&bytes[..cut]), Err(DecodeError::Truncated));
                    prop_assert_eq!(decode_control(&bytes[..cut]), Err(DecodeError::Truncated));
                } else {
                    // The body is the rest of the message: a shorter one is still a snapshot
                    // (its bit stream then fails to apply).
                    let Ok(ServerMessage::Snapshot(cut_short)) = decode_server(&bytes[..cut]) else {
                        panic!("cut at {cut} inside the body");
                    };
                    prop_assert_eq!(cut_short.header, s.header);
                    prop_assert_eq!(&cut_short.body[..], &s.body[..cut - header_len]);
                }
            }
        }

        #[test]
        fn mutated_snapshots_never_panic(s in snapshot(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = encode_server(&ServerMessage::Snapshot(s)).unwrap();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            decode_everything(&bytes);
        }

        #[test]
        fn control_messages_decode_the_same_with_decode_server(msg in control_message()) {
            let bytes = encoded_control(&msg);
            let expected = match msg {
                ControlMessage::Welcome(m) => ServerMessage::Welcome(m),
                ControlMessage::Snapshot(header) => {
                    ServerMessage::Snapshot(Snapshot { header, body: vec![] })
                }
                ControlMessage::Event(m) => ServerMessage::Event(m),
                ControlMessage::ControllerFeedback(m) => ServerMessage::ControllerFeedback(m),
                ControlMessage::Pong(m) => ServerMessage::Pong(m),
                ControlMessage::Kick(m) => ServerMessage::Kick(m),
            };
            prop_assert_eq!(encode_server(&expected).unwrap(), bytes.clone());
            prop_assert_eq!(decode_server(&bytes), Ok(expected));
        }
    }

    /// A full snapshot (head: no ages, round follows) at tick 1, last_input 0, round 1 Playing
    /// 5 s, after the tag; then `body`.
    const FULL_HEADER: [u8; 7] = [1, 0x80, 1, 0, 1, 0, 5];

    fn full_snapshot(body: &[u8]) -> Snapshot {
        let mut bytes = FULL_HEADER.to_vec();
        bytes.extend_from_slice(body);
        match decode_server(&bytes) {
            Ok(ServerMessage::Snapshot(s)) => s,
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn huge_spawn_counts_are_refused_before_anything_is_allocated() {
        use tickwire_shared::delta::{ApplyError, apply};
        // `eg(0)` spawn counts of 2^20 - 1 and 1025, then nothing.
        let mut claims: Vec<Vec<u8>> = Vec::new();
        let mut big = Vec::new();
        let mut w = tickwire_shared::bits::BitWriter::new(&mut big);
        w.eg((1 << 20) - 1, 0);
        w.finish();
        claims.push(big);
        let mut over = Vec::new();
        let mut w = tickwire_shared::bits::BitWriter::new(&mut over);
        w.eg(1025, 0);
        w.finish();
        claims.push(over);
        for body in claims {
            let snapshot = full_snapshot(&body);
            let (result, allocated) = allocated_by(|| apply(None, &snapshot, 30));
            assert_eq!(result, Err(ApplyError::TooManyEntities), "{body:02x?}");
            assert_eq!(allocated, 0, "{body:02x?}");
        }
        // Exactly 1024 passes the count, then the missing spawns are truncation.
        let mut exact = Vec::new();
        let mut w = tickwire_shared::bits::BitWriter::new(&mut exact);
        w.eg(1024, 0);
        w.finish();
        assert_eq!(apply(None, &full_snapshot(&exact), 30), Err(ApplyError::Truncated));
    }

    #[test]
    fn inconsistent_snapshot_headers_are_refused() {
        let invalid = Err(DecodeError::InvalidSnapshotHeader);
        // Head bytes: bits 0-3 baseline age (15: a byte follows), 4-6 reference age (7: a
        // byte follows), 7 round. An escaped age that fits its field has another encoding.
        assert_eq!(decode_server(&[1, 0x0f, 14, 20, 0]), invalid);
        assert_eq!(decode_server(&[1, 0x71, 6, 20, 0]), invalid);
        assert_eq!(decode_server(&[1, 0x71, 0, 20, 0]), invalid, "a reference age of 0");
        // A full snapshot without its round.
        assert_eq!(decode_server(&[1, 0x00, 0, 0]), invalid);
        // A baseline before tick 0.
        assert_eq!(decode_server(&[1, 0x02, 1, 0]), invalid);
        // A reference without a baseline, a reference before tick 0.
        assert_eq!(decode_server(&[1, 0xb0, 9, 0, 1, 0, 5]), invalid);
        assert_eq!(decode_server(&[1, 0x71, 9, 9, 0]), invalid);
        // A controller reads a snapshot's tick alone and passes the ages over unchecked, so
        // `decode_controller` takes these headers (PROTOCOL.md 5 says so).
        for (bytes, tick) in [
            (&[1, 0x0f, 14, 20, 0][..], 20),
            (&[1, 0x00, 0, 0], 0),
            (&[1, 0x02, 1, 0], 1),
            (&[1, 0xb0, 9, 0, 1, 0, 5], 9),
            (&[1, 0x71, 9, 9, 0], 9),
        ] {
            let read = ControllerMessage::Snapshot(SnapshotTick(Tick(tick)));
            assert_eq!(decode_controller(bytes), Ok(read), "{bytes:02x?}");
        }
        // Escaped ages that need the byte are fine: 15 and 7.
        let Ok(ServerMessage::Snapshot(s)) = decode_server(&[1, 0x7f, 15, 7, 30, 0]) else {
            panic!("a valid header with both ages escaped");
        };
        assert_eq!((s.header.baseline, s.header.reference), (Some(Tick(15)), Some(Tick(8))));
        // And the smallest valid delta header: tick 9 against 8 extrapolated from 5.
        let Ok(ServerMessage::Snapshot(s)) = decode_server(&[1, 0x31, 9, 0]) else {
            panic!("a valid header");
        };
        assert_eq!((s.header.baseline, s.header.reference), (Some(Tick(8)), Some(Tick(5))));
        assert_eq!(s.header.round, None);
        // Encoding refuses what decoding would refuse.
        let mut header = s.header;
        header.baseline = Some(Tick(9));
        let snapshot = ServerMessage::Snapshot(Snapshot { header, body: vec![] });
        assert_eq!(encode_server(&snapshot), Err(EncodeError::InvalidSnapshotHeader));
    }

    #[test]
    fn ticks_and_inputs_are_leb128_in_their_shortest_form() {
        let delta = |tick: u32, last_input: u32| SnapshotHeader {
            tick: Tick(tick),
            baseline: Some(Tick(tick - 1)),
            reference: Some(Tick(tick - 2)),
            last_input: InputSeq(last_input),
            round: None,
        };
        let bytes = |h: SnapshotHeader| {
            encode_server(&ServerMessage::Snapshot(Snapshot { header: h, body: vec![] })).unwrap()
        };
        // A player's usual delta: tag, head, tick, last input.
        assert_eq!(bytes(delta(100, 90)), [1, 0x11, 100, 90]);
        assert_eq!(bytes(delta(5_000, 4_990)), [1, 0x11, 0x88, 0x27, 0xfe, 0x26]);
        // 36 minutes into a room at 30 Hz (tick 65,536) and 19 hours (2^21 - 1): 3 bytes.
        assert_eq!(bytes(delta(65_536, 127)), [1, 0x11, 0x80, 0x80, 0x04, 0x7f]);
        assert_eq!(bytes(delta((1 << 21) - 1, 128)), [1, 0x11, 0xff, 0xff, 0x7f, 0x80, 0x01]);
        let max = delta(u32::MAX, u32::MAX);
        let max_bytes = bytes(max);
        assert_eq!(max_bytes[2..7], [0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(
            decode_server(&max_bytes).map(|m| match m {
                ServerMessage::Snapshot(s) => s.header,
                _ => unreachable!(),
            }),
            Ok(max)
        );
        // A longer form than needed, or bits past 32, is not an integer of this protocol.
        for bad in [
            &[1, 0x11, 0x81, 0x00, 0][..],
            &[1, 0x11, 5, 0x80, 0x00],
            &[1, 0x11, 0xff, 0xff, 0xff, 0xff, 0x1f, 0],
            &[1, 0x11, 0xff, 0xff, 0xff, 0xff, 0x8f, 0x01, 0],
        ] {
            assert_eq!(decode_server(bad), Err(DecodeError::InvalidInteger), "{bad:02x?}");
        }
        // A controller reads the tick alone, with the same rule.
        assert_eq!(decode_controller(&[1, 0x11, 0x81, 0x00, 0]), Err(DecodeError::InvalidInteger));
        assert_eq!(
            decode_controller(&[1, 0x7f, 15, 7, 0x88, 0x27, 0xff]),
            Ok(ControllerMessage::Snapshot(SnapshotTick(Tick(5_000))))
        );
    }

    #[test]
    fn server_messages_refuse_their_own_errors() {
        let huge = vec![0u8; MAX_SERVER_MESSAGE_SIZE + 1];
        assert!(matches!(decode_server(&huge), Err(DecodeError::TooLarge { .. })));
        assert!(matches!(decode_server(&[6]), Err(DecodeError::UnknownTag { tag: 6, .. })));
        assert_eq!(decode_server(&FULL_HEADER[..5]), Err(DecodeError::Truncated));
        assert_eq!(
            decode_server(&[4, 1, 2, 0]),
            Err(DecodeError::TrailingBytes { extra: 1 }),
            "a Pong with a byte more"
        );
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    /// Random bytes behind a valid tag reach deeper into each message's decoder.
    #[test]
    fn random_bytes_behind_a_valid_tag_never_panic(
        tag in 0u8..6,
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![tag];
        bytes.extend(rest);
        decode_everything(&bytes);
    }

    #[test]
    fn client_messages_round_trip_and_every_truncation_fails(msg in client_message()) {
        let bytes = encoded_client(&msg);
        prop_assert!(bytes.len() <= MAX_CLIENT_MESSAGE_SIZE);
        prop_assert_eq!(decode_client(&bytes), Ok(msg));
        check_client_framing(&bytes);
    }

    #[test]
    fn control_messages_round_trip_and_every_truncation_fails(msg in control_message()) {
        let bytes = encoded_control(&msg);
        prop_assert!(bytes.len() <= MAX_CONTROL_MESSAGE_SIZE);
        prop_assert_eq!(decode_control(&bytes), Ok(msg));
        check_control_framing(&msg, &bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        client in client_message(),
        control in control_message(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        for mut bytes in [encoded_client(&client), encoded_control(&control)] {
            let i = at.index(bytes.len());
            bytes[i] = byte;
            decode_everything(&bytes);
            bytes.truncate(cut.index(bytes.len() + 1));
            decode_everything(&bytes);
        }
    }

    /// The version is read from any bytes that start like a `Hello`, however the rest looks.
    #[test]
    fn peek_reads_the_version_whatever_follows(
        version in any::<u16>(),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![0];
        bytes.extend(varint_u16(version));
        bytes.extend(rest);
        prop_assert_eq!(peek_hello_version(&bytes), Some(version));
    }

    /// Any other client tag is not a `Hello`.
    #[test]
    fn peek_is_none_for_other_messages(msg in client_message()) {
        let bytes = encoded_client(&msg);
        let expected = match msg {
            ClientMessage::Hello(h) => Some(h.version),
            _ => None,
        };
        prop_assert_eq!(peek_hello_version(&bytes), expected);
    }
}

/// A u16 as the protocol's varint: one byte below 251, else 251 and two bytes little endian.
fn varint_u16(v: u16) -> Vec<u8> {
    match u8::try_from(v) {
        Ok(b) if b < 251 => vec![b],
        _ => [[251].as_slice(), &v.to_le_bytes()].concat(),
    }
}

/// `Hello` bytes with the given name, room and resume parts (version 1, role Player).
fn hello_bytes(name: &[u8], room: &[u8], resume: &[u8]) -> Vec<u8> {
    [&[0, 1, 0][..], name, room, resume].concat()
}

/// A string on the wire: length (< 251) then the bytes.
fn wire_str(bytes: &[u8]) -> Vec<u8> {
    [&[u8::try_from(bytes.len()).unwrap()][..], bytes].concat()
}

#[test]
fn oversized_strings_are_string_too_long() {
    let a = |n: usize| vec![b'a'; n];
    // At the limit: fine. One byte over: StringTooLong.
    assert!(decode_client(&hello_bytes(&wire_str(&a(24)), &[0], &[0])).is_ok());
    assert_eq!(
        decode_client(&hello_bytes(&wire_str(&a(25)), &[0], &[0])),
        Err(DecodeError::StringTooLong),
        "name"
    );
    let room = |n| [&[1][..], &wire_str(&a(n))].concat();
    assert!(decode_client(&hello_bytes(&[0], &room(16), &[0])).is_ok());
    assert_eq!(
        decode_client(&hello_bytes(&[0], &room(17), &[0])),
        Err(DecodeError::StringTooLong),
        "room"
    );
    assert!(decode_client(&[&[3][..], &wire_str(&a(200))].concat()).is_ok());
    assert_eq!(
        decode_client(&[&[3][..], &wire_str(&a(201))].concat()),
        Err(DecodeError::StringTooLong),
        "chat"
    );
    // Kick message (reason BadHello), event name and text, welcome room.
    assert!(decode_control(&[&[5, 1][..], &wire_str(&a(96))].concat()).is_ok());
    assert_eq!(
        decode_control(&[&[5, 1][..], &wire_str(&a(97))].concat()),
        Err(DecodeError::StringTooLong),
        "kick message"
    );
    assert_eq!(
        decode_control(&[&[2, 9, 0, 1][..], &wire_str(&a(25)), &[0]].concat()),
        Err(DecodeError::StringTooLong),
        "joined name"
    );
    assert_eq!(
        decode_control(&[&[2, 9, 4, 1, 0][..], &wire_str(&a(201))].concat()),
        Err(DecodeError::StringTooLong),
        "chat event text"
    );
    assert_eq!(
        decode_control(&[&[0, 1, 0][..], &wire_str(&a(17))].concat()),
        Err(DecodeError::StringTooLong),
        "welcome room"
    );
    // Absurd lengths (2^40, u64::MAX) are refused from the length alone, with no allocation.
    for len in [1u64 << 40, u64::MAX] {
        let bytes = [&[3, 253][..], &len.to_le_bytes()].concat();
        let (result, allocated) = allocated_by(|| decode_client(&bytes));
        assert_eq!(result, Err(DecodeError::StringTooLong));
        assert_eq!(allocated, 0);
    }
}

#[test]
fn invalid_utf8_is_invalid_utf8() {
    let bad: [&[u8]; 7] = [
        &[0xff],                   // never valid
        &[0x80],                   // a lone continuation byte
        &[0xc3, 0x28],             // a lead byte without its continuation
        &[0xc0, 0x80],             // an overlong NUL
        &[0xed, 0xa0, 0x80],       // a UTF-16 surrogate
        &[b'a', 0xe2, 0x82],       // a character cut by the length
        &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];
    for s in bad {
        let text = wire_str(s);
        assert_eq!(decode_client(&[&[3][..], &text].concat()), Err(DecodeError::InvalidUtf8));
        assert_eq!(
            decode_client(&hello_bytes(&text, &[0], &[0])),
            Err(DecodeError::InvalidUtf8),
            "name {s:02x?}"
        );
        assert_eq!(
            decode_client(&hello_bytes(&[0], &[&[1][..], &text].concat(), &[0])),
            Err(DecodeError::InvalidUtf8),
            "room {s:02x?}"
        );
        assert_eq!(
            decode_control(&[&[5, 2][..], &text].concat()),
            Err(DecodeError::InvalidUtf8),
            "kick {s:02x?}"
        );
    }
    // Multi-byte text that is valid decodes.
    let ok = wire_str("\u{e9}\u{20ac}\u{1F680}".as_bytes());
    assert!(decode_client(&[&[3][..], &ok].concat()).is_ok());
}

#[test]
fn trailing_bytes_are_trailing_bytes() {
    assert_eq!(decode_client(&[4, 5, 9]), Err(DecodeError::TrailingBytes { extra: 1 }));
    assert_eq!(decode_client(&[2, 5, 0, 0, 0]), Err(DecodeError::TrailingBytes { extra: 3 }));
    let hello = hello_bytes(&wire_str(b"ada"), &[0], &[0, 0xaa]);
    assert_eq!(decode_client(&hello), Err(DecodeError::TrailingBytes { extra: 1 }));
    // Pong { nonce 5, tick 6 } and one byte more.
    assert_eq!(decode_control(&[4, 5, 6, 0]), Err(DecodeError::TrailingBytes { extra: 1 }));
}

#[test]
fn unknown_tags_are_unknown_tag() {
    let tag_of = |r: Result<ClientMessage, DecodeError>| match r {
        Err(DecodeError::UnknownTag { tag, .. }) => tag,
        other => panic!("expected UnknownTag, got {other:?}"),
    };
    assert_eq!(tag_of(decode_client(&[5])), 5);
    assert_eq!(tag_of(decode_client(&[250])), 250);
    assert_eq!(tag_of(decode_client(&[252, 0, 0, 0, 1])), 1 << 24);
    // Role 3 in a Hello, RoomRequest 2, Option byte 2 (resume).
    assert_eq!(tag_of(decode_client(&[0, 1, 3, 0, 0, 0])), 3);
    assert_eq!(tag_of(decode_client(&[0, 1, 0, 0, 2, 0])), 2);
    assert_eq!(tag_of(decode_client(&[0, 1, 0, 0, 0, 2])), 2);

    let control_tag = |bytes: &[u8]| match decode_control(bytes) {
        Err(DecodeError::UnknownTag { tag, .. }) => tag,
        other => panic!("expected UnknownTag for {bytes:02x?}, got {other:?}"),
    };
    assert_eq!(control_tag(&[6]), 6);
    assert_eq!(control_tag(&[2, 0, 6]), 6, "EventKind");
    assert_eq!(control_tag(&[5, 11, 0]), 11, "KickReason");
    assert_eq!(control_tag(&[1, 0x80, 1, 0, 1, 2, 5]), 2, "RoundPhase");
    assert_eq!(control_tag(&[0, 1, 3]), 3, "Role in Welcome");
}

#[test]
fn other_malformed_fields_have_their_error() {
    // ControllerFeedback.alive must be 0 or 1.
    assert_eq!(decode_control(&[3, 1, 2, 3, 0, 2, 0]), Err(DecodeError::InvalidBool(2)));
    // A varint marker wider than its field (252 on a u16, 253 on a u32), or 254/255.
    assert_eq!(decode_client(&[0, 252, 1, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::InvalidInteger));
    assert_eq!(decode_client(&[2, 253, 1, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::InvalidInteger));
    assert_eq!(decode_client(&[2, 254, 1]), Err(DecodeError::InvalidInteger));
    assert_eq!(decode_client(&[2, 255, 1]), Err(DecodeError::InvalidInteger));
    // A marker no wider than its field is fine: tick 70000 as 252 + u32.
    assert_eq!(
        decode_client(&[2, 252, 0x70, 0x11, 1, 0]),
        Ok(ClientMessage::Ack(Ack { tick: Tick(70_000) }))
    );
    // Larger than any message of its direction.
    let huge = vec![0u8; MAX_CLIENT_MESSAGE_SIZE + 1];
    assert_eq!(
        decode_client(&huge),
        Err(DecodeError::TooLarge {
            len: MAX_CLIENT_MESSAGE_SIZE + 1,
            max: MAX_CLIENT_MESSAGE_SIZE
        })
    );
    let huge = vec![0u8; MAX_SERVER_MESSAGE_SIZE + 1];
    assert!(matches!(decode_control(&huge), Err(DecodeError::TooLarge { .. })));
    // Empty.
    assert_eq!(decode_client(&[]), Err(DecodeError::Truncated));
    assert_eq!(decode_control(&[]), Err(DecodeError::Truncated));
}

#[test]
fn a_snapshot_header_decodes_without_reading_the_body() {
    // decode_control reads a snapshot's header only: whatever follows is not read, let alone
    // allocated.
    let mut bytes = vec![1, 0x80, 1, 0, 1, 0, 5];
    bytes.extend([0xff; 300]);
    let (result, allocated) = allocated_by(|| decode_control(&bytes));
    let header = SnapshotHeader {
        tick: Tick(1),
        baseline: None,
        reference: None,
        last_input: InputSeq(0),
        round: Some(RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 5 }),
    };
    assert_eq!(result, Ok(ControlMessage::Snapshot(header)));
    assert_eq!(allocated, 0);
}

#[test]
fn hello_version_is_read_before_the_rest() {
    let hello = ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        role: Role::Controller,
        name: Name::try_from_str("pico \u{e9}").unwrap(),
        room: RoomRequest::Named(RoomName::try_from_str("lobby").unwrap()),
        resume: Some(ResumeToken([7; 16])),
    });
    let bytes = encoded_client(&hello);
    assert_eq!(peek_hello_version(&bytes), Some(PROTOCOL_VERSION));
    // A Hello prefix whose remainder this version cannot decode still shows its version.
    let future = [0, 2, 0xff, 0xff, 0xff];
    assert_eq!(peek_hello_version(&future), Some(2));
    assert!(decode_client(&future).is_err());
    assert_eq!(peek_hello_version(&[0, 1]), Some(1), "nothing after the version");
    // Version 300 (varint 251 + u16).
    assert_eq!(peek_hello_version(&[0, 251, 0x2c, 0x01, 0xde, 0xad]), Some(300));
    // Not a Hello, or too short to hold a version.
    for not_hello in [&[4, 1][..], &[1, 1, 0, 0, 0], &[2, 0], &[3, 0], &[], &[0], &[0, 251, 1]] {
        assert_eq!(peek_hello_version(not_hello), None, "{not_hello:02x?}");
    }
}
