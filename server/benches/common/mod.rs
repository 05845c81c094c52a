//! A room driven directly, without sockets, by scripted clients: the benchmarks' workload.
//!
//! Players steer one of two ways ([`Steering`]), an `Input` every tick. Every client acks the
//! snapshots it takes, `ack_lag` ticks later (0: before the next tick, as on loopback), after
//! rebuilding it into its `history` as a real client does.

#![allow(dead_code)] // each benchmark uses a different part

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tickwire_bots::behaviour::Behaviour;
use tickwire_server::ServerConfig;
use tickwire_server::context::ServerContext;
use tickwire_server::frame::payloads;
use tickwire_server::game::arena::{Arena, ArenaConfig};
use tickwire_server::outbox::ClientLink;
use tickwire_server::room::{JoinRequest, Room, RoomCommand, RoomShared};
use tickwire_shared::codec::decode_server;
use tickwire_shared::delta::WorldHistory;
use tickwire_shared::quant::quantize_axis_input;
use tickwire_shared::{
    Buttons, EntityId, Input, InputSeq, Name, Role, RoomName, ServerMessage, Tick,
};
use tokio::time::Instant;

/// How scripted players steer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    /// As the bandwidth issue's measurement did: a new random stick position about every
    /// third of a second, boost now and then.
    Random,
    /// As `tickwire-bots` plays (its [`Behaviour`], seeded per player), from the world each
    /// player rebuilt: for 1 to 4 s at a time wander, chase the nearest pickup or chase the
    /// nearest ship (boosting when it is over 300 units away), and boost in short random
    /// bursts. Ships turn and collide more than with `Random`, so deltas cost more.
    Chase,
}

/// One scripted client.
pub struct Scripted {
    pub link: Arc<ClientLink>,
    pub role: Role,
    /// The entity this player flies (arena ships are `EntityId(player.0)`).
    ship: EntityId,
    stick: (i8, i8, u8),
    behaviour: Behaviour,
    /// The worlds this client rebuilt from the snapshots it took, as a real client does.
    pub history: WorldHistory,
    /// Acks due: (tick at which to send it, acked tick).
    acks: VecDeque<(u64, Tick)>,
}

/// A room and its scripted clients.
pub struct Match {
    pub room: Room<Arena>,
    pub clients: Vec<Scripted>,
    rng: StdRng,
    ticks: u64,
    ack_lag: u64,
    steering: Steering,
    start: Instant,
    period: Duration,
}

/// The frames one client took in one tick.
pub struct Taken {
    pub client: usize,
    pub snapshot: Option<bytes::Bytes>,
}

impl Match {
    /// A room of `players` steering at random and `spectators`, seeded, that acks `ack_lag`
    /// ticks late.
    pub fn new(players: usize, spectators: usize, seed: u64, ack_lag: u64) -> Match {
        Match::steered(players, spectators, seed, ack_lag, Steering::Random)
    }

    /// [`Match::new`] with players steering as `steering` says.
    pub fn steered(
        players: usize,
        spectators: usize,
        seed: u64,
        ack_lag: u64,
        steering: Steering,
    ) -> Match {
        let mut config = ServerConfig::default();
        config.seed = Some(seed);
        config.room_capacity = players.max(1) as u16;
        config.max_spectators = spectators as u16;
        let period = config.tick_period();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(config, rx);
        let shared = Arc::new(RoomShared::new(RoomName::truncated("bench"), players as u16));
        let mut room = Room::new(shared, ctx, Arena::new(ArenaConfig::default(), seed));
        let start = Instant::now();
        let mut clients = Vec::new();
        for i in 0..players + spectators {
            let link = Arc::new(ClientLink::new());
            let (reply, mut joined) = tokio::sync::oneshot::channel();
            let role = if i < players { Role::Player } else { Role::Spectator };
            let request = JoinRequest {
                role,
                name: Name::truncated("bot"),
                resume: None,
                link: link.clone(),
                client: std::net::Ipv4Addr::LOCALHOST.into(),
                reservation: None,
            };
            room.handle(RoomCommand::Join { request, reply }, start);
            let _ = link.take_batch(); // the Welcome and roster
            let player = joined.try_recv().expect("answered").expect("joined").player;
            clients.push(Scripted {
                link,
                role,
                ship: EntityId(u32::from(player.0)),
                stick: (0, 0, 0),
                behaviour: Behaviour::new(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
                history: WorldHistory::new(config_tick_rate(period)),
                acks: VecDeque::new(),
            });
        }
        let rng = StdRng::seed_from_u64(seed);
        Match { room, clients, rng, ticks: 0, ack_lag, steering, start, period }
    }

    /// One tick: the room steps and hands out frames; each client takes its snapshot, acks it
    /// (now or later) and sends its next input. `taken` gets every snapshot frame.
    pub fn tick(&mut self, mut taken: impl FnMut(Taken)) {
        self.ticks += 1;
        // Simulated time, so a loaded machine does not make clients look slow.
        let now = self.start + self.period * self.ticks as u32;
        self.room.tick(now);
        for (i, client) in self.clients.iter_mut().enumerate() {
            let batch = client.link.take_batch();
            // The room hands out whole WebSocket frames; the workload is their payloads.
            let snapshot = batch.snapshot.map(|frame| {
                let payload = payloads(&frame).next().expect("one whole frame");
                frame.slice_ref(payload)
            });
            if let Some(frame) = &snapshot
                && let Ok(ServerMessage::Snapshot(s)) = decode_server(frame)
            {
                client.history.apply(&s).expect("every snapshot rebuilds");
                client.acks.push_back((self.ticks + self.ack_lag, s.header.tick));
            }
            while client.acks.front().is_some_and(|(due, _)| *due <= self.ticks) {
                let (_, tick) = client.acks.pop_front().unwrap_or((0, Tick(0)));
                client.link.record_ack(tick);
            }
            if client.role == Role::Player {
                match self.steering {
                    Steering::Random => {
                        if self.rng.random_bool(0.1) {
                            let boost = if self.rng.random_bool(0.2) { Buttons::BOOST } else { 0 };
                            client.stick = (
                                self.rng.random_range(-127..=127),
                                self.rng.random_range(-127..=127),
                                boost,
                            );
                        }
                    }
                    Steering::Chase => {
                        let world = client.history.latest();
                        let controls =
                            client.behaviour.steer(now.into_std(), world, Some(client.ship));
                        let boost = if controls.boost { Buttons::BOOST } else { 0 };
                        client.stick = (
                            quantize_axis_input(controls.x),
                            quantize_axis_input(controls.y),
                            boost,
                        );
                    }
                }
                let (x, y, buttons) = client.stick;
                client.link.record_input(Input {
                    seq: InputSeq(self.ticks as u32),
                    x,
                    y,
                    buttons: Buttons(buttons),
                });
            }
            taken(Taken { client: i, snapshot });
        }
    }
}

fn config_tick_rate(period: Duration) -> u8 {
    (1.0 / period.as_secs_f64()).round() as u8
}

/// Bytes of the WebSocket frame header of a server message of `len` bytes (unmasked).
pub fn ws_header(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}
