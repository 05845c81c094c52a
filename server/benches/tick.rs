//! Cost of one room tick (simulate, interest query, delta, encode, hand frames to clients),
//! measured without sockets by driving a `Room` directly. Every simulated client acks the
//! newest snapshot it took, as a healthy client would, so frames are deltas.
//!
//! `arena_step` is the world step alone (inputs, motion, walls, ship collisions, pickups) of
//! a room of N ships steering at random, the part that grows with ships, not clients.
//!
//! `cargo bench -p tickwire-server --bench tick`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;
use tickwire_server::ServerConfig;
use tickwire_server::context::ServerContext;
use tickwire_server::game::Game;
use tickwire_server::game::PlayerInput;
use tickwire_server::game::arena::{Arena, ArenaConfig};
use tickwire_server::outbox::ClientLink;
use tickwire_server::room::{JoinRequest, Room, RoomCommand, RoomShared};
use tickwire_shared::codec::decode_control;
use tickwire_shared::{Buttons, ControlMessage, Input, InputSeq, Name, Role, RoomName};
use tokio::time::Instant;

struct Bench {
    room: Room<Arena>,
    links: Vec<Arc<ClientLink>>,
    seq: u32,
}

fn room_with(players: usize, spectators: usize) -> Bench {
    let mut config = ServerConfig::default();
    config.seed = Some(1);
    config.room_capacity = players as u16;
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let ctx = ServerContext::new(config, rx);
    let shared = Arc::new(RoomShared::new(RoomName::truncated("bench"), players as u16));
    let mut room = Room::new(shared, ctx, Arena::new(ArenaConfig::default(), 1));
    let mut links = Vec::new();
    let now = Instant::now();
    for i in 0..players + spectators {
        let link = Arc::new(ClientLink::new());
        // The answer is awaited, as a connection awaits it: a join nobody waits for is dropped.
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let role = if i < players { Role::Player } else { Role::Spectator };
        let request = JoinRequest {
            role,
            name: Name::truncated("bot"),
            resume: None,
            link: link.clone(),
            client: std::net::Ipv4Addr::LOCALHOST.into(),
            reservation: None,
        };
        room.handle(RoomCommand::Join { request, reply }, now);
        assert!(matches!(answer.try_recv(), Ok(Ok(_))), "client {i} was not seated");
        links.push(link);
    }
    Bench { room, links, seq: 0 }
}

impl Bench {
    /// One tick, then every client takes its frame, acks it and sends an input.
    fn tick(&mut self) {
        self.seq += 1;
        self.room.tick(Instant::now());
        for (i, link) in self.links.iter().enumerate() {
            let batch = link.take_batch();
            if let Some(frame) = batch.snapshot
                && let Some(payload) = tickwire_server::frame::payloads(&frame).next()
                && let Ok(ControlMessage::Snapshot(header)) = decode_control(payload)
            {
                link.record_ack(header.tick);
            }
            let angle = (self.seq as f32 * 0.05) + i as f32;
            link.record_input(Input {
                seq: InputSeq(self.seq),
                x: (angle.cos() * 127.0) as i8,
                y: (angle.sin() * 127.0) as i8,
                buttons: Buttons(self.seq.is_multiple_of(7) as u8),
            });
        }
    }
}

fn ticks(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_tick");
    group.measurement_time(Duration::from_secs(4));
    for (players, spectators) in [(8, 0), (32, 0), (32, 32), (128, 0)] {
        let mut bench = room_with(players, spectators);
        // Warm up past the full snapshots so steady-state deltas are measured.
        for _ in 0..60 {
            bench.tick();
        }
        let clients = (players + spectators) as u64;
        group.throughput(Throughput::Elements(clients));
        group.bench_function(
            BenchmarkId::new("players+spectators", format!("{players}+{spectators}")),
            |b| b.iter(|| bench.tick()),
        );
    }
    group.finish();
}

fn arena_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("arena_step");
    group.measurement_time(Duration::from_secs(4));
    for ships in [32u16, 128, 256, 512, 1000] {
        let mut arena = Arena::new(ArenaConfig::default(), 1);
        for p in 1..=ships {
            arena.add_player(tickwire_shared::PlayerId(p));
        }
        let mut events = Vec::new();
        let mut step = 0u32;
        let mut advance = |arena: &mut Arena| {
            step += 1;
            for p in 1..=ships {
                let a = (step as f32 * 0.05 + f32::from(p)).sin() * 3.0;
                let buttons = Buttons(u8::from((step / 40 + u32::from(p)).is_multiple_of(3)));
                let input = PlayerInput { x: a.cos(), y: a.sin(), buttons };
                arena.set_input(tickwire_shared::PlayerId(p), input);
            }
            events.clear();
            arena.step(1.0 / 30.0, &mut events);
        };
        // Past spawn invulnerability, into a field of ships bumping each other.
        for _ in 0..150 {
            advance(&mut arena);
        }
        group.throughput(Throughput::Elements(u64::from(ships)));
        group.bench_function(BenchmarkId::new("ships", ships), |b| b.iter(|| advance(&mut arena)));
    }
    group.finish();
}

criterion_group!(benches, ticks, arena_steps);
criterion_main!(benches);
