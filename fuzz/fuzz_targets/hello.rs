//! The server's first-message path, as `connection.rs` runs it on any first binary message:
//! `peek_hello_version`, then `decode_client`, then `validate_hello`, `apply_grant` (what a
//! join token allows) and `clean_name`.
//!
//! Invariants:
//! - a message whose version `peek_hello_version` reads decodes to a `Hello` of that version
//!   or fails: never another message (the server's `unreachable!`);
//! - `validate_hello` accepts exactly matchmaking (`Any`) and room names of 1 to 16 ASCII
//!   letters, digits, `-`, `_` and `.`, and says why it refuses;
//! - `apply_grant` refuses exactly a `Hello` asking for another room or role than the token
//!   pins, saying why, and leaves it unchanged; otherwise it only puts the token's name in;
//! - `clean_name` keeps the name's characters in order but for those it hides (control
//!   characters, direction marks, invisible ones: each a character that alone cleans to
//!   nothing) and the whitespace it trims: no control character, no leading or trailing
//!   whitespace, never longer, and cleaning twice changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_server::auth::JoinGrant;
use tickwire_server::connection::{apply_grant, clean_name, clean_name_text, validate_hello};
use tickwire_shared::codec::{decode_client, peek_hello_version};
use tickwire_shared::{ClientMessage, Name, Role, RoomName, RoomRequest};

/// Grants of join tokens: nothing pinned, a room, a role, both.
fn grants() -> [JoinGrant; 4] {
    let name = Name::try_from_str("from token").expect("short");
    let room = Some(RoomName::truncated("lobby"));
    [
        JoinGrant { name, room: None, role: None, by_previous_key: false },
        JoinGrant { name, room, role: None, by_previous_key: false },
        JoinGrant { name, room: None, role: Some(Role::Player), by_previous_key: false },
        JoinGrant { name, room, role: Some(Role::Controller), by_previous_key: false },
    ]
}

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

    for grant in grants() {
        let mut granted = hello;
        let room_ok = grant.room.is_none_or(|room| hello.room == RoomRequest::Named(room));
        let role_ok = grant.role.is_none_or(|role| hello.role == role);
        match apply_grant(&mut granted, &grant) {
            Ok(()) => {
                assert!(room_ok && role_ok, "{grant:?} let {hello:?} in");
                let expected = tickwire_shared::Hello { name: grant.name, ..hello };
                assert_eq!(granted, expected, "only the name is the token's");
            }
            Err(why) => {
                assert!(!(room_ok && role_ok), "{grant:?} refused {hello:?}: {why}");
                assert!(!why.is_empty());
                assert_eq!(granted, hello, "a refused Hello is left as it was");
            }
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
    let hidden = |c: &char| c.is_whitespace() || clean_name_text(&c.to_string()).is_empty();
    let removable = name.chars().filter(hidden).count();
    assert!(dropped <= removable, "{name:?} lost printable characters: {clean:?}");
    if !name.chars().any(|c| hidden(&c)) {
        assert_eq!(clean, name, "a clean name is kept as it is");
    }
    let twice = clean_name(&tickwire_shared::Name::try_from_str(clean).expect("fits"));
    assert_eq!(twice.as_str(), clean, "cleaning is idempotent");
});
