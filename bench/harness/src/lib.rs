//! # tickwire-bench: the side-by-side benchmark harness
//!
//! The pieces behind `bench/fanout.sh` and `bench/game.sh` (see BENCHMARKS.md): a raw
//! WebSocket spectator swarm that thousands of connections share one thread and one read
//! buffer in, reference broadcast servers to measure tickwire against, a watcher of the
//! server's `/proc` and `/metrics`, and the tables of medians and ratios.
//!
//! # Layout
//! - [`frame`]: WebSocket frames, read with fixed state per connection and written.
//! - [`handshake`]: the opening handshake by hand, client and server side.
//! - [`spectator`]: one swarm connection, sans-IO (hello, acks, pongs, close echo).
//! - [`stats`]: the swarm's window statistics and its JSON row.
//! - [`procfs`]: CPU time, memory and CPU wait of a process, from `/proc`.
//! - [`metrics`]: the server's OpenMetrics text: samples and histogram windows.
//! - [`game`]: rows of the game bench.
//! - [`table`]: medians, ratios and the Markdown tables.
//! - [`cli`]: value parsers shared by the binaries.
//!
//! Binaries: `bench-swarm`, `bench-floor` (the write() floor), `bench-tungstenite` (a plain
//! tokio-tungstenite broadcast), `bench-watch`, `bench-table`.
#![warn(missing_docs, unreachable_pub)]

pub mod cli;
pub mod frame;
pub mod game;
pub mod handshake;
pub mod metrics;
pub mod procfs;
pub mod spectator;
pub mod stats;
pub mod table;
