//! Client messages as the server reads them: `decode_client` on any bytes (one WebSocket
//! message), and `peek_hello_version`, which the server asks before it.
//!
//! Invariants:
//! - a decoded message encodes into [`MAX_CLIENT_MESSAGE_SIZE`] bytes, no more bytes than it
//!   arrived in (senders write the shortest varints; the decoder also takes longer ones), and
//!   that encoding decodes to the same message;
//! - every strict prefix of that encoding is `Truncated`; one byte more is
//!   `TrailingBytes { extra: 1 }`;
//! - `TrailingBytes { extra }` means the bytes without their last `extra` decode;
//!   `TooLarge` comes exactly for inputs over the limit;
//! - `peek_hello_version` gives the version of every decoded `Hello` and `None` for every other
//!   decoded message, and whenever it gives a version, `decode_client` gives a `Hello` or an
//!   error (the server relies on it: `unreachable!` in `connection.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_shared::codec::{decode_client, encode_client, peek_hello_version};
use tickwire_shared::{ClientMessage, DecodeError, MAX_CLIENT_MESSAGE_SIZE};

fuzz_target!(|bytes: &[u8]| {
    let decoded = decode_client(bytes);
    let peeked = peek_hello_version(bytes);
    match decoded {
        Ok(msg) => {
            let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
            let len = encode_client(&msg, &mut buf).expect("a decoded message encodes");
            let encoded = &buf[..len];
            assert!(len <= bytes.len(), "re-encoding grew {} to {len} bytes", bytes.len());
            assert_eq!(decode_client(encoded), Ok(msg), "re-encoded bytes decode the same");
            for cut in 0..len {
                assert_eq!(decode_client(&encoded[..cut]), Err(DecodeError::Truncated));
            }
            let mut longer = encoded.to_vec();
            longer.push(0);
            assert_eq!(decode_client(&longer), Err(DecodeError::TrailingBytes { extra: 1 }));
            let version = match msg {
                ClientMessage::Hello(hello) => Some(hello.version),
                _ => None,
            };
            assert_eq!(peeked, version, "peek_hello_version disagrees with decode_client");
        }
        Err(DecodeError::TrailingBytes { extra }) => {
            assert!(extra > 0 && extra < bytes.len());
            assert!(decode_client(&bytes[..bytes.len() - extra]).is_ok());
        }
        Err(DecodeError::TooLarge { len, max }) => {
            assert_eq!((len, max), (bytes.len(), MAX_CLIENT_MESSAGE_SIZE));
        }
        Err(_) => {}
    }
    if bytes.len() > MAX_CLIENT_MESSAGE_SIZE {
        assert!(matches!(decoded, Err(DecodeError::TooLarge { .. })), "{decoded:?}");
    }
    if peeked.is_some() {
        assert!(matches!(decoded, Ok(ClientMessage::Hello(_)) | Err(_)), "{decoded:?}");
    }
});
