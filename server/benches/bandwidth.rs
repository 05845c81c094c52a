//! Snapshot bandwidth on a recorded match: what each client receives per second with full
//! snapshots, with protocol 1's deltas and with protocol 2's, the cost to encode and to rebuild
//! one client's snapshot, and what permessage-deflate would add on top.
//!
//! `cargo bench -p tickwire-server --bench bandwidth` (the tables print first, then criterion
//! times the codec).
//!
//! The trace is deterministic: a seeded arena and scripted players (see `common`: steering at
//! random, or chasing as `tickwire-bots` do), 20 s of play at 30 Hz after 2 s of warm-up, in
//! rooms of 8, 16 and 32 players with a quarter as many spectators, every client acking every
//! snapshot it takes. Every snapshot is rebuilt by a
//! client-side `WorldHistory` as it arrives, so the numbers are of frames that decode.
//!
//! Protocol 1 no longer exists in the code; its sizes are computed from its layout
//! (PROTOCOL.md version 1: a varint id, a mask byte and whole fields for every changed entity,
//! every removed id) on the same worlds. Its velocities had 1/8 unit/s steps, which changed on
//! more ticks than the 2 unit/s steps here, so its numbers are if anything low.

mod common;

use common::{Match, Steering, ws_header};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, FlushCompress};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tickwire_shared::codec::{decode_server, encode_server, encode_server_into};
use tickwire_shared::delta::{Baseline, World, apply, delta};
use tickwire_shared::{EntityState, InputSeq, Role, ServerMessage, Snapshot};

const TICK_RATE: u64 = 30;
const WARMUP_TICKS: u64 = 60;
const TICKS: u64 = 600;

fn varint(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Bytes of a protocol 1 snapshot of `next` against `base`: header, changed or spawned
/// entities with the changed fields, removed ids.
fn v1_len(base: Option<&World>, next: &World, last_input: u32) -> usize {
    let header = 1
        + varint(u64::from(next.tick.0))
        + base.map_or(1, |b| 1 + varint(u64::from(b.tick.0)))
        + varint(u64::from(last_input))
        + varint(u64::from(next.round.round))
        + 1
        + varint(u64::from(next.round.seconds_left));
    let empty = World { tick: next.tick, round: next.round, entities: Vec::new() };
    let base = base.unwrap_or(&empty);
    let entry = |old: Option<&EntityState>, e: &EntityState| -> usize {
        let changed = |f: &dyn Fn(&EntityState) -> bool| old.is_none_or(f);
        let mut fields = 0;
        fields += if changed(&|o| o.kind != e.kind) { 1 } else { 0 };
        fields += if changed(&|o| o.pos != e.pos) { 4 } else { 0 };
        fields += if changed(&|o| o.vel != e.vel) { 4 } else { 0 };
        fields += if changed(&|o| o.heading != e.heading) { 1 } else { 0 };
        fields += if changed(&|o| o.flags != e.flags) { 1 } else { 0 };
        fields += if changed(&|o| o.value != e.value) { varint(u64::from(e.value)) } else { 0 };
        if fields == 0 { 0 } else { varint(u64::from(e.id.0)) + 1 + fields }
    };
    let entries: Vec<usize> =
        next.entities.iter().map(|e| entry(base.get(e.id), e)).filter(|&n| n > 0).collect();
    let removed: Vec<usize> = base
        .entities
        .iter()
        .filter(|e| next.get(e.id).is_none())
        .map(|e| varint(u64::from(e.id.0)))
        .collect();
    header
        + varint(entries.len() as u64)
        + entries.iter().sum::<usize>()
        + varint(removed.len() as u64)
        + removed.iter().sum::<usize>()
}

/// Bytes received per role, summed over a run (WebSocket headers included).
#[derive(Default, Clone, Copy)]
struct Totals {
    snapshots: u64,
    v1_full: u64,
    v1_delta: u64,
    v2_full: u64,
    v2: u64,
}

/// A snapshot a player received, with the worlds it was encoded against: the codec workload.
struct Sample {
    baseline: Option<World>,
    reference: Option<World>,
    world: World,
    last_input: InputSeq,
    bytes: Vec<u8>,
}

impl Sample {
    fn baseline(&self) -> Option<Baseline<'_>> {
        self.baseline.as_ref().map(|world| Baseline { world, reference: self.reference.as_ref() })
    }
}

/// What one room's run collected.
struct Run {
    /// Byte totals per role.
    totals: HashMap<Role, Totals>,
    /// Up to `keep` player snapshots with their worlds.
    samples: Vec<Sample>,
    /// Each player's messages, in order.
    streams: Vec<Vec<Vec<u8>>>,
}

/// The run of one room, keeping up to `keep` player samples.
fn run(players: usize, spectators: usize, ack_lag: u64, steering: Steering, keep: usize) -> Run {
    let mut game = Match::steered(players, spectators, 7, ack_lag, steering);
    let mut totals: HashMap<Role, Totals> = HashMap::new();
    let mut samples = Vec::new();
    // Each player's message stream, for the deflate measurement.
    let mut streams: Vec<Vec<Vec<u8>>> = vec![Vec::new(); players];
    for t in 0..WARMUP_TICKS + TICKS {
        let mut taken = Vec::new();
        game.tick(|frame| taken.push(frame));
        for frame in taken {
            let Some(bytes) = frame.snapshot else { continue };
            let Ok(ServerMessage::Snapshot(snapshot)) = decode_server(&bytes) else {
                panic!("the room sent a frame that is not a snapshot");
            };
            // The client rebuilt it as it took it (`Match::tick`); its baseline and reference
            // are still in its history.
            let history = &game.clients[frame.client].history;
            let baseline = snapshot.header.baseline.and_then(|b| history.get(b)).cloned();
            let reference = snapshot.header.reference.and_then(|r| history.get(r)).cloned();
            let world = history.get(snapshot.header.tick).cloned().expect("rebuilt");
            if t < WARMUP_TICKS {
                continue;
            }
            let role = game.clients[frame.client].role;
            let last = snapshot.header.last_input;
            let full = encode_server(&ServerMessage::Snapshot(
                delta(None, &world, last, TICK_RATE as u8).expect("encodes"),
            ))
            .expect("encodes");
            let v1_full = v1_len(None, &world, last.0);
            let v1_delta = v1_len(baseline.as_ref(), &world, last.0);
            let totals = totals.entry(role).or_default();
            totals.snapshots += 1;
            totals.v2 += (bytes.len() + ws_header(bytes.len())) as u64;
            totals.v2_full += (full.len() + ws_header(full.len())) as u64;
            totals.v1_full += (v1_full + ws_header(v1_full)) as u64;
            totals.v1_delta += (v1_delta + ws_header(v1_delta)) as u64;
            if role == Role::Player {
                streams[frame.client].push(bytes.to_vec());
                if samples.len() < keep && t % 7 == 0 {
                    samples.push(Sample {
                        baseline,
                        reference,
                        world,
                        last_input: last,
                        bytes: bytes.to_vec(),
                    });
                }
            }
        }
    }
    Run { totals, samples, streams }
}

fn per_second(bytes: u64, snapshots: u64) -> f64 {
    bytes as f64 / snapshots as f64 * TICK_RATE as f64
}

fn print_bandwidth() -> Vec<Sample> {
    println!("\nSnapshot bytes per client per second at 30 Hz (WebSocket headers included),");
    println!("{TICKS} ticks after {WARMUP_TICKS} of warm-up, every client acking every snapshot:");
    println!();
    println!(
        "| room | players steer | ack lag | role | full v1 | deltas v1 | full v2 | deltas v2 | v2 / v1 deltas | v2 / full v1 | v2 / full v2 |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut kept = Vec::new();
    let random = Steering::Random;
    let chase = Steering::Chase;
    for (players, spectators, lag, steering) in [
        (8, 2, 0, random),
        (16, 4, 0, random),
        (32, 8, 0, random),
        (32, 8, 2, random),
        (32, 8, 0, chase),
        (32, 8, 2, chase),
    ] {
        let Run { totals, samples, .. } = run(players, spectators, lag, steering, 400);
        if players == 32 && lag == 0 && steering == random {
            kept = samples;
        }
        for role in [Role::Player, Role::Spectator] {
            let t = totals[&role];
            let rate = |b| per_second(b, t.snapshots);
            println!(
                "| {players}+{spectators} | {steering:?} | {lag} | {role:?} | {:.0} | {:.0} | {:.0} | **{:.0}** | {:.2} | {:.2} | {:.2} |",
                rate(t.v1_full),
                rate(t.v1_delta),
                rate(t.v2_full),
                rate(t.v2),
                t.v2 as f64 / t.v1_delta as f64,
                t.v2 as f64 / t.v1_full as f64,
                t.v2 as f64 / t.v2_full as f64,
            );
        }
    }
    println!("\n(ack lag: ticks between receiving a snapshot and acking it; 0 is loopback, 2 is");
    println!("about 70-100 ms of round trip at 30 Hz.)");
    kept
}

/// permessage-deflate (RFC 7692) on each player's stream of the 32-player room: raw deflate,
/// a sync flush per message and its 4-byte tail removed, as the extension sends it; with the
/// compressor's window kept across messages (context takeover) and reset for each.
fn print_deflate() {
    let streams = run(32, 8, 0, Steering::Random, 0).streams;
    let messages: u64 = streams.iter().map(|s| s.len() as u64).sum();
    let raw: u64 = streams.iter().flatten().map(|m| (m.len() + ws_header(m.len())) as u64).sum();
    println!(
        "\npermessage-deflate on the 32-player room's snapshot streams ({messages} messages, players):"
    );
    println!();
    println!(
        "| compression | bytes per player per second | of uncompressed | CPU per message (median of 3) | state per connection |"
    );
    println!("|---|---:|---:|---:|---|");
    println!("| none | {:.0} | 1.00 | 0 | none |", per_second(raw, messages));
    for takeover in [false, true] {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..3 {
            total = 0u64;
            let mut elapsed = Duration::ZERO;
            let mut out = Vec::with_capacity(256);
            for stream in &streams {
                let mut deflate = Compress::new(Compression::default(), false);
                for message in stream {
                    out.clear();
                    let started = Instant::now();
                    if !takeover {
                        deflate.reset();
                    }
                    deflate.compress_vec(message, &mut out, FlushCompress::Sync).expect("deflate");
                    elapsed += started.elapsed();
                    // The extension strips the sync flush's empty stored block.
                    let len = out.len().saturating_sub(4);
                    total += (len + ws_header(len)) as u64;
                }
            }
            times.push(elapsed.as_secs_f64() * 1e6 / messages as f64);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| deflate, {} | {:.0} | {:.2} | {:.2} us | {} |",
            if takeover { "context takeover" } else { "no context takeover" },
            per_second(total, messages),
            total as f64 / raw as f64,
            times[1],
            if takeover {
                "a 32 KiB window and the compressor's state (~300 KB with zlib's defaults)"
            } else {
                "a compressor (reset per message)"
            },
        );
    }
}

fn codec(c: &mut Criterion) {
    let samples = print_bandwidth();
    print_deflate();
    let deltas: Vec<&Sample> = samples.iter().filter(|s| s.baseline.is_some()).collect();
    let mut group = c.benchmark_group("snapshot_codec_32_players");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(deltas.len() as u64));
    let mut buf = Vec::with_capacity(4096);
    group.bench_function(BenchmarkId::new("encode", "delta+bincode"), |b| {
        b.iter(|| {
            for s in &deltas {
                let snapshot: Snapshot =
                    delta(s.baseline(), &s.world, s.last_input, TICK_RATE as u8).unwrap();
                buf.clear();
                encode_server_into(&ServerMessage::Snapshot(snapshot), &mut buf).unwrap();
            }
        })
    });
    group.bench_function(BenchmarkId::new("decode", "bincode+apply"), |b| {
        b.iter(|| {
            for s in &deltas {
                let Ok(ServerMessage::Snapshot(snapshot)) = decode_server(&s.bytes) else {
                    unreachable!()
                };
                let world = apply(s.baseline(), &snapshot, TICK_RATE as u8).unwrap();
                assert_eq!(world.tick, s.world.tick);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
