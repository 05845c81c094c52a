//! # tickwire-bots: load-test a tickwire server with real clients
//!
//! One process drives thousands of bots. Each is a real [`tickwire_client::Client`] (with
//! `--io-uring`, the same [`tickwire_client::Session`] driven from one io_uring thread): it
//! joins, plays with a seeded behaviour (wander, chase pickups and ships, boost), acknowledges
//! snapshots, and checks that the world it rebuilds stays consistent. The report says what
//! players feel: connect time, frames delivered against expected, frames skipped,
//! input-to-ack latency, inter-arrival jitter, bytes per bot, errors and close codes by kind,
//! and the bots' own CPU and memory. Refusals are reported by reason, never retried.
//!
//! The binary is `tickwire-bots` (`--help` lists every flag); [`run::run`] is the same run as
//! a library call, for tests.
//!
//! # Layout
//! - [`cli`]: the command line and its checks.
//! - [`run`]: ramp, window, leave, report; live progress; `/proc` readings.
//! - [`bot`]: one bot's task and what it records.
//! - [`behaviour`]: how a bot steers.
//! - [`stats`]: counters, histograms, per-bot fps.
//! - [`report`]: the report, its table, its JSON and its checks.
//! - [`ring`] (Linux): many sockets read through one io_uring, no task or system call per
//!   frame.
//! - `uring` (Linux, private): `--io-uring`, every bot's session driven from one thread
//!   through [`ring`].
// `unsafe` only in `ring` and `cli::raise_open_files_limit`, each block with its proof.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod behaviour;
pub mod bot;
pub mod cli;
pub mod report;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub mod ring;
pub mod run;
pub mod stats;
#[cfg(target_os = "linux")]
mod uring;
