//! Decoders never panic and say what was wrong: random bytes, truncations, mutations, and
//! each hand-made bad input.

use proptest::prelude::*;
use tickwire_shared::codec::{
    decode_client, decode_control, encode_client, encode_control, peek_hello_version,
};
use tickwire_shared::*;

fn hello() -> ClientMessage {
    ClientMessage::Hello(Hello {
        version: PROTOCOL_VERSION,
        role: Role::Controller,
        name: Name::try_from_str("pico \u{e9}").unwrap(),
        room: RoomRequest::Named(RoomName::try_from_str("lobby").unwrap()),
        resume: Some(ResumeToken([7; 16])),
    })
}

fn encoded_client(msg: &ClientMessage) -> Vec<u8> {
    let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
    let len = encode_client(msg, &mut buf).unwrap();
    buf[..len].to_vec()
}

fn samples() -> Vec<Vec<u8>> {
    let mut out = vec![
        encoded_client(&hello()),
        encoded_client(&ClientMessage::Input(Input {
            seq: InputSeq(70_000),
            x: -5,
            y: 9,
            buttons: Buttons(1),
        })),
        encoded_client(&ClientMessage::Chat(Chat {
            text: ChatText::try_from_str("h\u{e9}llo").unwrap(),
        })),
    ];
    let mut buf = [0u8; MAX_CONTROL_MESSAGE_SIZE];
    let welcome = ControlMessage::Welcome(Welcome {
        player_id: PlayerId(3),
        role: Role::Controller,
        room: RoomName::try_from_str("arena-1").unwrap(),
        tick_rate: 30,
        world: WorldBounds { width: 1600, height: 1000 },
        view_radius: 700,
        entity: Some(EntityId(3)),
        resume_token: ResumeToken([1; 16]),
        resumed: false,
    });
    let len = encode_control(&welcome, &mut buf).unwrap();
    out.push(buf[..len].to_vec());
    out
}

#[cfg(feature = "alloc")]
fn decode_server_any(bytes: &[u8]) {
    let _ = tickwire_shared::codec::decode_server(bytes);
}
#[cfg(not(feature = "alloc"))]
fn decode_server_any(_: &[u8]) {}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_client(&bytes);
        let _ = decode_control(&bytes);
        let _ = peek_hello_version(&bytes);
        decode_server_any(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0usize..4, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = samples()[which].clone();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = decode_client(&bytes);
        let _ = decode_control(&bytes);
        decode_server_any(&bytes);
    }
}

#[test]
fn every_truncation_is_an_error() {
    for bytes in samples() {
        for cut in 0..bytes.len() {
            assert!(
                decode_client(&bytes[..cut]).is_err() || decode_control(&bytes[..cut]).is_err()
            );
        }
    }
    let input = encoded_client(&ClientMessage::Input(Input {
        seq: InputSeq(70_000),
        x: 1,
        y: 1,
        buttons: Buttons(0),
    }));
    for cut in 0..input.len() {
        assert_eq!(decode_client(&input[..cut]), Err(DecodeError::Truncated), "cut at {cut}");
    }
}

#[test]
fn each_bad_input_has_its_error() {
    // Chat (tag 3) of 201 bytes: longer than MAX_CHAT_LEN.
    let mut long = vec![3, 201];
    long.extend(std::iter::repeat_n(b'a', 201));
    assert_eq!(decode_client(&long), Err(DecodeError::StringTooLong));
    // A name longer than 24 bytes.
    let mut hello = vec![0, 1, 0, 25];
    hello.extend(std::iter::repeat_n(b'n', 25));
    hello.extend([0, 0]);
    assert_eq!(decode_client(&hello), Err(DecodeError::StringTooLong));
    // Invalid UTF-8.
    assert_eq!(decode_client(&[3, 2, 0xc3, 0x28]), Err(DecodeError::InvalidUtf8));
    // Trailing bytes after a Ping.
    assert_eq!(decode_client(&[4, 5, 9]), Err(DecodeError::TrailingBytes { extra: 1 }));
    // Unknown tags.
    assert!(matches!(decode_client(&[9]), Err(DecodeError::UnknownTag { tag: 9, .. })));
    assert!(matches!(decode_control(&[6]), Err(DecodeError::UnknownTag { tag: 6, .. })));
    // A bool that is neither 0 nor 1 (ControllerFeedback.alive).
    assert_eq!(decode_control(&[3, 1, 2, 3, 0, 2, 0]), Err(DecodeError::InvalidBool(2)));
    // Too large.
    let huge = vec![0u8; MAX_CLIENT_MESSAGE_SIZE + 1];
    assert!(matches!(decode_client(&huge), Err(DecodeError::TooLarge { .. })));
}

#[cfg(feature = "alloc")]
#[test]
fn snapshot_lists_are_bounded_before_allocation() {
    use tickwire_shared::codec::decode_server;
    // Snapshot header, then an entity count of 2^40 (marker 253 + u64).
    let mut bytes = vec![1, 1, 0, 0, 1, 0, 5];
    bytes.push(253);
    bytes.extend((1u64 << 40).to_le_bytes());
    assert_eq!(decode_server(&bytes), Err(DecodeError::TooManyEntities));
    // One entity whose mask has a reserved bit.
    let reserved = [1, 1, 0, 0, 1, 0, 5, 1, 3, 0x40];
    assert_eq!(decode_server(&reserved), Err(DecodeError::InvalidMask));
}

#[test]
fn hello_version_is_read_before_the_rest() {
    let bytes = encoded_client(&hello());
    assert_eq!(peek_hello_version(&bytes), Some(PROTOCOL_VERSION));
    // A future version whose remainder this version cannot decode is still identified.
    let future = [0, 2, 0xff, 0xff, 0xff];
    assert_eq!(peek_hello_version(&future), Some(2));
    assert!(decode_client(&future).is_err());
    // Version 300 (varint 251 + u16).
    assert_eq!(peek_hello_version(&[0, 251, 0x2c, 0x01]), Some(300));
    // Not a Hello.
    assert_eq!(peek_hello_version(&[4, 1]), None);
    assert_eq!(peek_hello_version(&[]), None);
}
