//! The server's first-message path, as `connection.rs` runs it on any first binary message:
//! `peek_hello_version`, then `decode_client`, then `validate_hello` and `clean_name`.
//!
//! Invariants:
//! - a message whose version `peek_hello_version` reads decodes to a `Hello` of that version
//!   or fails: never another message (the server's `unreachable!`);
//! - `validate_hello` accepts exactly matchmaking (`Any`) and room names of 1 to 16 ASCII
//!   letters, digits, `-`, `_` and `.`, and says why it refuses;
//! - `clean_name` keeps the name's characters in order but for control characters and the
//!   whitespace it trims: no control character, no leading or trailing whitespace, never
//!   longer, and cleaning twice changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_server::connection::{clean_name, validate_hello};
use tickwire_shared::codec::{decode_client, peek_hello_version};
use tickwire_shared::{ClientMessage, RoomRequest};

/// `small` is `big` with some characters left out.
fn is_subsequence(small: &str, big: &str) -> bool {
    let mut big = big.chars();
    small.chars().all(|c| big.any(|b| b == c))
}

fuzz_target!(|bytes: &[u8]| {
    let Some(version) = peek_hello_version(bytes) else { return };
    let hello = match decode_client(bytes) {
        Ok(ClientMessage::Hello(hello)) => hello,
        Ok(other) => panic!("peek_hello_version saw a Hello, decode_client read {other:?}"),
        Err(_) => return,
    };
    assert_eq!(hello.version, version);

    let valid_room = match &hello.room {
        RoomRequest::Any => true,
        RoomRequest::Named(name) => {
            (1..=16).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        }
    };
    match validate_hello(&hello) {
        Ok(()) => assert!(valid_room, "accepted {:?}", hello.room),
        Err(why) => {
            assert!(!valid_room, "refused {:?}: {why}", hello.room);
            assert!(!why.is_empty());
        }
    }

    let name = hello.name.as_str();
    let clean = clean_name(&hello.name);
    let clean = clean.as_str();
    assert!(!clean.chars().any(char::is_control), "{clean:?}");
    assert_eq!(clean, clean.trim(), "trimmed");
    assert!(clean.len() <= name.len());
    assert!(is_subsequence(clean, name), "{clean:?} from {name:?}");
    let dropped = name.chars().count() - clean.chars().count();
    let removable = name.chars().filter(|c| c.is_control() || c.is_whitespace()).count();
    assert!(dropped <= removable, "{name:?} lost printable characters: {clean:?}");
    if !name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        assert_eq!(clean, name, "a clean name is kept as it is");
    }
    let twice = clean_name(&tickwire_shared::Name::try_from_str(clean).expect("fits"));
    assert_eq!(twice.as_str(), clean, "cleaning is idempotent");
});
