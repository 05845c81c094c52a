//! # tickwire-tests
//!
//! Holds the workspace's cross-crate tests (no library code):
//! - `tests/golden.rs`: the golden vectors in `shared/testdata` and the hex examples in
//!   `PROTOCOL.md` agree with the codec, byte for byte;
//! - `tests/server.rs`: end-to-end tests against a real server on 127.0.0.1 port 0;
//! - `tests/support/`: the test server and a game client that rebuilds worlds from deltas.
