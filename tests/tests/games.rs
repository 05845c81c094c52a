//! A game of a library user's own (`Server::games`) on a real server: each room runs what the
//! factory made for its name, and that game's world, inputs and scores reach real clients.

mod support;

use glam::Vec2;
use std::sync::{Arc, Mutex};
use support::*;
use tickwire_server::game::{Game, GameEvent, PlayerInput};
use tickwire_shared::quant::{dequantize_position, quantize_position, quantize_velocity};
use tickwire_shared::{
    ControllerFeedback, EntityId, EntityState, EventKind, PlayerId, Rgb, Role, RoomName,
    RoundPhase, RoundState, WorldBounds,
};

/// Its own entity kind, which no arena client knows.
const KIND_DOT: u8 = 7;
/// The room's beacon: its `value` is the seed the factory was given.
const BEACON: EntityId = EntityId(9_000);

/// A game with nothing of the arena in it: each player is a dot on a line that stands where
/// its stick points (x 100 to 300), scoring a point per tick with the stick held right.
struct Dots {
    bounds: WorldBounds,
    seed: u64,
    /// (player, stick x, score), sorted by player.
    dots: Vec<(PlayerId, f32, u16)>,
    /// Set by a test: the next step blocks its thread this long (a game's bug), once.
    stall: Option<Arc<Mutex<Option<std::time::Duration>>>>,
}

impl Dots {
    fn new(bounds: WorldBounds, seed: u64) -> Dots {
        Dots { bounds, seed, dots: Vec::new(), stall: None }
    }

    fn at(stick: f32) -> Vec2 {
        Vec2::new(200.0 + 100.0 * stick, 50.0)
    }
}

impl Game for Dots {
    fn bounds(&self) -> WorldBounds {
        self.bounds
    }

    fn add_player(&mut self, player: PlayerId) -> EntityId {
        if let Err(i) = self.dots.binary_search_by_key(&player.0, |d| d.0.0) {
            self.dots.insert(i, (player, 0.0, 0));
        }
        EntityId(u32::from(player.0))
    }

    fn remove_player(&mut self, player: PlayerId) {
        self.dots.retain(|d| d.0 != player);
    }

    fn set_input(&mut self, player: PlayerId, input: PlayerInput) {
        if let Some(dot) = self.dots.iter_mut().find(|d| d.0 == player) {
            dot.1 = input.x.clamp(-1.0, 1.0);
        }
    }

    fn step(&mut self, _dt: f32, events: &mut Vec<GameEvent>) {
        if let Some(stall) = self.stall.as_ref().and_then(|stall| stall.lock().unwrap().take()) {
            std::thread::sleep(stall);
        }
        for (player, stick, score) in &mut self.dots {
            if *stick > 0.9 {
                *score += 1;
                events.push(GameEvent::Scored { player: *player, score: *score });
            }
        }
    }

    fn entities(&self, out: &mut Vec<EntityState>) {
        let entity = |id, kind, pos, value| EntityState {
            id,
            kind,
            pos: quantize_position(pos),
            vel: quantize_velocity(Vec2::ZERO),
            heading: 0,
            flags: 0,
            value,
        };
        for &(player, stick, score) in &self.dots {
            out.push(entity(EntityId(u32::from(player.0)), KIND_DOT, Dots::at(stick), score));
        }
        out.push(entity(BEACON, KIND_DOT + 1, Vec2::new(10.0, 10.0), self.seed as u16));
    }

    fn round(&self) -> RoundState {
        RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 0 }
    }

    fn focus(&self, player: PlayerId) -> Option<Vec2> {
        self.dots.iter().find(|d| d.0 == player).map(|d| Dots::at(d.1))
    }

    fn score(&self, player: PlayerId) -> Option<u16> {
        self.dots.iter().find(|d| d.0 == player).map(|d| d.2)
    }

    fn always_visible(&self, entity: &EntityState) -> bool {
        entity.id == BEACON
    }

    fn feedback(&self, player: PlayerId) -> Option<ControllerFeedback> {
        let score = self.score(player)?;
        Some(ControllerFeedback { colour: Rgb([1, 2, 3]), score, alive: true, rumble: 0 })
    }
}

#[tokio::test]
async fn each_room_runs_the_game_its_factory_made_for_its_name() {
    let made: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let factory = {
        let made = made.clone();
        move |room: RoomName, seed: u64| -> Box<dyn Game> {
            made.lock().unwrap().push((room.as_str().to_string(), seed));
            // The name picks the game's size: one server, rooms of different games.
            let width = if room.as_str().starts_with("wide") { 1200 } else { 400 };
            Box::new(Dots::new(WorldBounds { width, height: 100 }, seed))
        }
    };
    let mut config = test_config();
    config.seed = Some(40);
    let server = TestServer::start_with_games(config, factory).await;

    let mut ada = Client::join(&server.ws_url(), hello_in(Role::Player, "ada", "dots")).await;
    assert_eq!(ada.welcome.world, WorldBounds { width: 400, height: 100 });
    let own = ada.welcome.entity.expect("a player gets the game's entity");
    assert_eq!(own, EntityId(u32::from(ada.welcome.player_id.0)));
    let world = ada.next_world().await;
    let beacon = world.entities.iter().find(|e| e.id == BEACON).expect("the game's beacon");
    // Room 1 of a server seeded 40 (`--seed`: room N gets seed + N).
    assert_eq!((beacon.kind, beacon.value), (KIND_DOT + 1, 41));

    // Its inputs reach this game: full right puts the dot at x 300, and scores.
    ada.input(127, 0, 0).await;
    let at_right = loop {
        let world = ada.next_world().await;
        let dot = world.entities.iter().find(|e| e.id == own).copied().expect("ada's dot");
        if dot.value > 0 {
            break dot;
        }
    };
    assert_eq!(at_right.kind, KIND_DOT);
    assert_eq!(dequantize_position(at_right.pos), Vec2::new(300.0, 50.0));
    let scored = ada.wait_event(|e| matches!(e, EventKind::Scored { .. })).await;
    assert_eq!(
        scored.kind,
        EventKind::Scored { player: ada.welcome.player_id, score: 1 },
        "the game's Scored events reach its clients"
    );

    // A newcomer to the same room gets no new game, and its roster carries ada's score.
    let mut bob = Client::join(&server.ws_url(), hello_in(Role::Spectator, "bob", "dots")).await;
    let joined = bob
        .wait_event(
            |e| matches!(e, EventKind::Joined { player, .. } if *player == ada.welcome.player_id),
        )
        .await;
    let EventKind::Joined { score, .. } = joined.kind else { unreachable!() };
    assert!(score > 0, "the roster takes the game's score, got {score}");

    // Another name, another game from the same factory.
    let wide = Client::join(&server.ws_url(), hello_in(Role::Spectator, "cy", "wide-1")).await;
    assert_eq!(wide.welcome.world, WorldBounds { width: 1200, height: 100 });
    assert_eq!(
        *made.lock().unwrap(),
        vec![("dots".to_string(), 41), ("wide-1".to_string(), 42)],
        "one game per room, made with its name and seed"
    );

    // A controller of the same game gets the game's feedback.
    let mut pad = Client::join(&server.ws_url(), hello_in(Role::Controller, "pad", "dots")).await;
    let feedback = loop {
        if let Some(f) = pad.feedback.last() {
            break *f;
        }
        if pad.recv().await.is_none() {
            panic!("the controller was closed");
        }
    };
    assert_eq!(feedback.colour, Rgb([1, 2, 3]));
    server.shutdown().await;
}

/// Without `--seed`, each room's game gets a seed of its own, not the last room's plus one: a
/// player who learns one room's (a shuffled deck's) must not know the next room's.
#[tokio::test]
async fn without_a_seed_each_room_draws_its_own() {
    let made: Arc<Mutex<Vec<u64>>> = Arc::default();
    let factory = {
        let made = made.clone();
        move |_room: RoomName, seed: u64| {
            made.lock().unwrap().push(seed);
            Dots::new(WorldBounds { width: 400, height: 100 }, seed)
        }
    };
    let mut config = test_config();
    config.seed = None;
    let server = TestServer::start_with_games(config, factory).await;
    let mut watching = Vec::new();
    for room in ["one", "two", "three", "four"] {
        watching.push(Client::join(&server.ws_url(), hello_in(Role::Spectator, "eve", room)).await);
    }
    let seeds = made.lock().unwrap().clone();
    assert_eq!(seeds.len(), 4, "a game per room");
    let steps: Vec<u64> = seeds.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    // Random draws repeat a step of 1 three times once in 2^192.
    assert_ne!(steps, [1, 1, 1], "seeds in a row: {seeds:?}");
    assert!(seeds.iter().all(|&s| s != 0), "{seeds:?}");
    server.shutdown().await;
}

/// The arena's flags (`--world-size`, `--round-time`, `--intermission`, `--pickups`) reach
/// the arena a plain server runs: its world, its pickups and the length of its rounds.
#[tokio::test]
async fn the_arena_flags_shape_the_arena_every_room_runs() {
    let mut config = test_config();
    config.world_size = WorldBounds { width: 800, height: 600 };
    config.round_time = std::time::Duration::from_secs(2);
    config.intermission = std::time::Duration::from_secs(1);
    config.pickups = 0;
    let server = TestServer::start(config).await;
    let mut ada = Client::join(&server.ws_url(), hello(Role::Player, "ada")).await;
    assert_eq!(ada.welcome.world, WorldBounds { width: 800, height: 600 });
    let world = ada.next_world().await;
    assert_eq!(world.round.phase, RoundPhase::Playing);
    assert!(world.round.seconds_left <= 2, "a round of 2 s: {:?}", world.round);
    let kinds: Vec<u8> = world.entities.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [tickwire_shared::arena::KIND_SHIP], "ada's ship and no pickup");
    // The round ends after 2 s, and the next starts 1 s later.
    let over = ada.wait_event(|e| matches!(e, EventKind::RoundOver { .. })).await;
    assert!(matches!(over.kind, EventKind::RoundOver { round: 1, .. }), "{over:?}");
    let intermission_at = over.tick.0;
    let next = loop {
        let world = ada.next_world().await;
        if world.round.round == 2 {
            break world;
        }
    };
    assert_eq!(next.round.phase, RoundPhase::Playing);
    // 30 ticks a second: the intermission took about 30 of them.
    let ticks = next.tick.0 - intermission_at;
    assert!((25..=35).contains(&ticks), "intermission of {ticks} ticks");
    server.shutdown().await;
}

/// A room that matchmaking opens (a `Hello` for any room) runs the factory's game too, and a
/// factory that panics refuses that join with 1011, opens no room, and leaves the rest of the
/// server playing.
#[tokio::test]
async fn matchmade_rooms_run_the_factory_s_game_and_a_factory_that_panics_refuses_the_join() {
    let factory = |room: RoomName, seed: u64| {
        assert!(room.as_str() != "broken", "a bug in the factory");
        Dots::new(WorldBounds { width: 300, height: 200 }, seed)
    };
    let server = TestServer::start_with_games(test_config(), factory).await;

    let mut ada = Client::join(&server.ws_url(), hello(Role::Player, "ada")).await;
    assert_eq!(ada.welcome.room.as_str(), "arena-1", "matchmaking names the rooms it opens");
    assert_eq!(ada.welcome.world, WorldBounds { width: 300, height: 200 });
    let world = ada.next_world().await;
    assert!(world.entities.iter().any(|e| e.id == BEACON), "the factory's game");

    for _ in 0..2 {
        let mut ws = open(&server.ws_url()).await;
        let broken = hello_in(Role::Player, "bo", "broken");
        send_raw(&mut ws, &tickwire_shared::ClientMessage::Hello(broken)).await;
        let closed = closed_with(&mut ws, None).await;
        assert_eq!(closed.code, 1011, "{closed:?}");
        assert_eq!(closed.reason, "the room's game could not start");
        assert!(closed.kick.is_none(), "no Kick: a refusal no KickReason names");
    }
    let (_, _, rooms) = server.get("/rooms").await;
    assert!(!rooms.contains("broken"), "no room was opened: {rooms}");
    // The room that works plays on.
    let tick = ada.next_world().await.tick;
    assert!(ada.next_world().await.tick > tick);
    server.shutdown().await;
}

/// A game whose step blocks its thread (a bug: a loop, a lock, a sleep) stops every room on
/// that thread, and a tick that never ends is never counted late: the server says which room
/// is stuck, in the log and in `tickwire_rooms_stuck`, while it is.
#[tokio::test]
async fn a_room_stuck_in_its_games_step_is_reported_while_it_is() {
    let stall = Arc::new(Mutex::new(None));
    let stuck_game = stall.clone();
    let factory = move |room: RoomName, seed: u64| {
        let mut dots = Dots::new(WorldBounds { width: 300, height: 200 }, seed);
        if room.as_str() == "stuck" {
            dots.stall = Some(stuck_game.clone());
        }
        dots
    };
    let mut config = test_config();
    config.room_threads = 1;
    let server = TestServer::start_with_games(config, factory).await;
    let mut ada = Client::join(&server.ws_url(), hello_in(Role::Player, "ada", "calm")).await;
    let _bob = Client::join(&server.ws_url(), hello_in(Role::Player, "bob", "stuck")).await;
    assert_eq!(server.metric("tickwire_rooms_stuck").await, 0.0);

    *stall.lock().unwrap() = Some(std::time::Duration::from_secs(4));
    let deadline = std::time::Instant::now() + PATIENCE;
    while server.metric("tickwire_rooms_stuck").await != 1.0 {
        assert!(std::time::Instant::now() < deadline, "the stuck room is not reported");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Over: the gauge falls back, and the room that shares its thread ticks again.
    while server.metric("tickwire_rooms_stuck").await != 0.0 {
        assert!(std::time::Instant::now() < deadline, "the stuck room stays reported");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let tick = ada.next_world().await.tick;
    assert!(ada.next_world().await.tick > tick);
    server.shutdown().await;
}

/// A game's beacon that every player must see, wherever it is: sent past the view radius,
/// while the other players' dots out of range are not.
#[tokio::test]
async fn an_entity_the_game_says_everyone_sees_is_sent_past_the_view_radius() {
    let factory = |_: RoomName, seed: u64| Dots::new(WorldBounds { width: 300, height: 200 }, seed);
    let mut config = test_config();
    // Dots stand 100 to 300 along x at y 50; the beacon at (10, 10).
    config.view_radius = 40;
    let server = TestServer::start_with_games(config, factory).await;
    let mut ada = Client::join(&server.ws_url(), hello_in(Role::Player, "ada", "far")).await;
    let mut bob = Client::join(&server.ws_url(), hello_in(Role::Player, "bob", "far")).await;
    let bob_dot = EntityId(u32::from(bob.welcome.player_id.0));
    // ada at x 100, bob at x 300: 200 apart.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        ada.input(-127, 0, 0).await;
        bob.input(127, 0, 0).await;
        let world = ada.next_world().await;
        let _ = bob.next_world().await;
        let own = EntityId(u32::from(ada.welcome.player_id.0));
        let at_x = |id| world.get(id).map(|e| dequantize_position(e.pos).x);
        if at_x(own).is_some_and(|x| x < 110.0) && world.get(bob_dot).is_none() {
            assert!(world.get(BEACON).is_some(), "the beacon, 90 units off: {world:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ada never stood apart: {world:?}");
    }
    server.shutdown().await;
}
