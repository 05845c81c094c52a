//! # tickwire-tests
//!
//! Holds the workspace's cross-crate and end-to-end tests; there is no library code here.
//! - `tests/golden.rs`: the golden vectors in `shared/testdata` rebuild from their JSON and
//!   match the codec byte for byte (including the no-alloc controller paths), and every
//!   ```` ```hex name=<vector> ```` example in `PROTOCOL.md` is that vector's exact bytes.
//!   Regenerate after a deliberate format change with
//!   `TICKWIRE_BLESS=1 cargo test -p tickwire-tests --test golden`.
//! - `tests/server.rs`: end-to-end tests against a real server on 127.0.0.1 port 0;
//! - `tests/support/`: the test server and a game client that rebuilds worlds from deltas.
