//! The session without sockets: a scripted server, simulated time.

use super::*;
use crate::config::Reconnect;
use crate::error::{Kicked, Refusal};
use tickwire_shared::codec::{decode_client, encode_server};
use tickwire_shared::delta::{Baseline, delta};
use tickwire_shared::{
    EntityId, EntityState, EventKind, KickReason, KickText, PlayerId, Pong, QVec2, RoundPhase,
    RoundState, WorldBounds,
};

const TOKEN: ResumeToken = ResumeToken([7; 16]);

/// A session and its simulated clock.
struct Harness {
    session: Session,
    now: Instant,
    /// Sent with a join's ping, and events with its pong, not yet read by the test.
    unread_sent: Vec<ClientMessage>,
    unread_events: Vec<Event>,
}

impl Harness {
    fn new(identity: Identity, config: Config) -> Harness {
        let now = Instant::now();
        Harness {
            session: Session::new(config, identity, now, 1),
            now,
            unread_sent: Vec::new(),
            unread_events: Vec::new(),
        }
    }

    fn player() -> Harness {
        Harness::new(Identity::player("ada").unwrap(), Config::default())
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.session.handle_timeout(self.now);
    }

    fn recv(&mut self, msg: ServerMessage) {
        let bytes = encode_server(&msg).unwrap();
        self.session.handle_message(self.now, &bytes);
    }

    /// Everything the session sends now, decoded.
    fn sent(&mut self) -> Vec<ClientMessage> {
        let mut sent = std::mem::take(&mut self.unread_sent);
        sent.extend(
            std::iter::from_fn(|| self.session.poll_transmit(self.now))
                .map(|bytes| decode_client(&bytes).expect("client messages decode")),
        );
        sent
    }

    fn events(&mut self) -> Vec<Event> {
        let mut events = std::mem::take(&mut self.unread_events);
        events.extend(std::iter::from_fn(|| self.session.poll_event()));
        events
    }

    /// Connects, checks the Hello, and joins with `welcome`.
    fn join(&mut self, welcome: Welcome) -> Hello {
        assert!(self.session.poll_connect(self.now));
        self.session.handle_connected(self.now);
        let sent = self.sent();
        let [ClientMessage::Hello(hello)] = sent[..] else {
            panic!("expected one Hello: {sent:?}")
        };
        self.recv(ServerMessage::Welcome(welcome));
        assert!(self.session.state().is_joined());
        self.answer_the_joins_ping();
        hello
    }

    /// The first ping goes with the join: answered at once, as a server on loopback does, out
    /// of the way of what the test reads (the other messages and events stay to be read).
    fn answer_the_joins_ping(&mut self) {
        let sent = self.sent();
        let (pings, others): (Vec<_>, Vec<_>) =
            sent.into_iter().partition(|m| matches!(m, ClientMessage::Ping(_)));
        let [ClientMessage::Ping(Ping { nonce })] = pings[..] else {
            panic!("one ping with the join: {pings:?}")
        };
        self.unread_sent = others;
        let events = self.events();
        self.recv(ServerMessage::Pong(Pong { nonce, server_tick: Tick(0) }));
        let pongs = self.events();
        assert!(matches!(pongs[..], [Event::Pong { .. }]), "{pongs:?}");
        self.unread_events = events;
    }
}

fn welcome(role: Role) -> Welcome {
    Welcome {
        player_id: PlayerId(3),
        role,
        room: RoomName::truncated("arena-1"),
        tick_rate: 30,
        world: WorldBounds { width: 1600, height: 1000 },
        view_radius: 700,
        entity: role.plays().then_some(EntityId(3)),
        resume_token: TOKEN,
        resumed: false,
    }
}

fn world(tick: u32, x: i16) -> World {
    let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 };
    let ship = EntityState {
        id: EntityId(3),
        kind: 0,
        pos: QVec2 { x, y: 100 },
        vel: QVec2::default(),
        heading: 0,
        flags: 1,
        value: 0,
    };
    World::from_unsorted(Tick(tick), round, vec![ship])
}

fn snapshot(baseline: Option<&World>, next: &World, last_input: u32) -> ServerMessage {
    let baseline = baseline.map(Baseline::new);
    ServerMessage::Snapshot(delta(baseline, next, InputSeq(last_input), 30).expect("encodes"))
}

fn kick(reason: KickReason) -> ServerMessage {
    ServerMessage::Kick(Kick { reason, message: KickText::truncated("go away") })
}

fn disconnected(events: &[Event]) -> (Disconnect, Option<Duration>) {
    events
        .iter()
        .find_map(|e| match e {
            Event::Disconnected { reason, retry_in } => Some((reason.clone(), *retry_in)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Disconnected in {events:?}"))
}

#[test]
fn joins_with_a_hello_and_reports_the_welcome() {
    let mut h = Harness::new(
        Identity::spectator("watcher").unwrap().in_room("lobby-2").unwrap(),
        Config::default(),
    );
    assert_eq!(h.session.state(), State::Idle);
    assert_eq!(h.session.poll_timeout(), Some(h.now), "an idle session connects at once");
    let hello = h.join(welcome(Role::Spectator));
    assert_eq!(hello.version, PROTOCOL_VERSION);
    assert_eq!(hello.role, Role::Spectator);
    assert_eq!(hello.name.as_str(), "watcher");
    assert_eq!(hello.room, RoomRequest::Named(RoomName::truncated("lobby-2")));
    assert_eq!(hello.resume, None);
    let events = h.events();
    assert!(matches!(events[0], Event::Connecting { attempt: 1 }));
    assert!(matches!(events[1], Event::Joined(w) if w.player_id == PlayerId(3)));
    assert_eq!(h.session.resume_token(), Some(TOKEN));
    assert_eq!(h.session.stats().joins, 1);
}

#[test]
fn identities_refuse_what_the_server_would_refuse() {
    assert_eq!(Identity::player(&"x".repeat(25)), Err(IdentityError::Name));
    assert_eq!(Identity::player("ok").unwrap().in_room("my room"), Err(IdentityError::Room));
    assert_eq!(Identity::player("ok").unwrap().in_room(""), Err(IdentityError::Room));
    assert!(Identity::player("ok").unwrap().in_room("lobby-2.a_b").is_ok());
}

#[test]
fn snapshots_rebuild_the_world_and_each_rebuilt_tick_is_acked() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    let (w10, w11, w14) = (world(10, 160), world(11, 176), world(14, 200));
    h.recv(snapshot(None, &w10, 0));
    assert_eq!(h.session.world(), Some(&w10));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(10) })]);
    h.recv(snapshot(Some(&w10), &w11, 0));
    // Ticks 12 and 13 never arrive (the server skipped them for us); 14 is against 11.
    h.recv(snapshot(Some(&w11), &w14, 0));
    assert_eq!(h.session.world(), Some(&w14));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(14) })], "acks coalesce");
    let infos: Vec<SnapshotInfo> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Snapshot(info) => Some(info),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 3);
    assert_eq!((infos[0].baseline, infos[0].skipped), (None, 0));
    assert_eq!((infos[2].tick, infos[2].baseline, infos[2].skipped), (Tick(14), Some(Tick(11)), 2));
    assert!(infos.iter().all(|i| i.bytes > 3));
    assert_eq!(h.session.stats().ticks_skipped, 2);
    assert_eq!(h.session.stats().snapshots, 3);
}

#[test]
fn a_spectator_acks_its_first_full_snapshot_then_every_30_ticks() {
    let mut h = Harness::new(Identity::spectator("eve").unwrap(), Config::default());
    h.join(welcome(Role::Spectator));
    let worlds: Vec<World> = (10..=45).map(|t| world(t, 160 + 4 * (t as i16 - 10))).collect();
    // The first snapshot is full: acked at once, so deltas start.
    h.recv(snapshot(None, &worlds[0], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(10) })]);
    // Then deltas, each against the one before it (what the server's socket took): nothing
    // until tick 40, 30 ticks past the ack, which acks the newest.
    for pair in worlds[..30].windows(2) {
        h.recv(snapshot(Some(&pair[0]), &pair[1], 0));
        assert_eq!(h.sent(), vec![], "tick {:?}: not yet", pair[1].tick);
    }
    h.recv(snapshot(Some(&worlds[29]), &worlds[30], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(40) })]);
    assert_eq!(h.session.world(), Some(&worlds[30]), "every snapshot was rebuilt");
    // `spectator_ack_every: 1` acks every snapshot, as players always do.
    let config = Config { spectator_ack_every: 1, ..Config::default() };
    let mut h = Harness::new(Identity::spectator("eve").unwrap(), config);
    h.join(welcome(Role::Spectator));
    h.recv(snapshot(None, &worlds[0], 0));
    h.recv(snapshot(Some(&worlds[0]), &worlds[1], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(11) })]);
}

#[test]
fn a_spectator_skipping_frames_acks_by_ticks_not_by_snapshots() {
    let config = Config { spectator_ack_every: 8, ..Config::default() };
    let mut h = Harness::new(Identity::spectator("eve").unwrap(), config);
    h.join(welcome(Role::Spectator));
    let worlds: Vec<World> = (10..=30).map(|t| world(t, 160 + 4 * (t as i16 - 10))).collect();
    h.recv(snapshot(None, &worlds[0], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(10) })]);
    // Every other tick arrives (a slow reader skips the rest): the ack is due at tick 18,
    // the fourth snapshot, not the eighth (tick 26).
    for (before, next) in [(0, 2), (2, 4), (4, 6)] {
        h.recv(snapshot(Some(&worlds[before]), &worlds[next], 0));
        assert_eq!(h.sent(), vec![], "tick {:?}: not yet", worlds[next].tick);
    }
    h.recv(snapshot(Some(&worlds[6]), &worlds[8], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(18) })]);
    // A full snapshot (the server gave up on the baselines) is acked at once.
    h.recv(snapshot(None, &worlds[9], 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(19) })]);
}

#[test]
fn without_acks_snapshots_still_rebuild_the_world_and_nothing_is_acked() {
    let config = Config { ack_snapshots: false, ..Config::default() };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.recv(snapshot(None, &world(10, 160), 0));
    h.recv(snapshot(None, &world(11, 176), 0));
    assert_eq!(h.session.world(), Some(&world(11, 176)));
    assert_eq!(h.sent(), vec![], "no ack, so the server keeps sending full snapshots");
    assert_eq!(h.session.stats().snapshots, 2);
}

#[test]
fn a_snapshot_against_an_unknown_baseline_is_rejected_and_not_acked() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.recv(snapshot(None, &world(10, 0), 0));
    h.sent();
    h.events();
    h.recv(snapshot(Some(&world(9, 0)), &world(11, 5), 0));
    let events = h.events();
    assert!(
        matches!(
            events[..],
            [Event::SnapshotRejected {
                tick: Tick(11),
                error: ApplyError::MissingBaseline(Tick(9))
            }]
        ),
        "{events:?}"
    );
    assert_eq!(h.sent(), vec![], "nothing new is acked");
    assert_eq!(h.session.world(), Some(&world(10, 0)), "the last good world stays");
    assert_eq!(h.session.stats().snapshots_rejected, 1);
    // The server falls back to a full snapshot, which applies.
    h.recv(snapshot(None, &world(12, 7), 0));
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(12) })]);
}

#[test]
fn inputs_are_numbered_sent_once_and_timed_until_a_snapshot_acknowledges_them() {
    let mut h = Harness::player();
    assert_eq!(h.session.send_input(Controls::NEUTRAL), Err(SendError::NotJoined));
    h.join(welcome(Role::Player));
    h.events();
    let right = Controls { x: 1.0, y: -0.5, boost: true, action: false };
    assert_eq!(h.session.send_input(Controls::NEUTRAL), Ok(InputSeq(1)));
    assert_eq!(h.session.send_input(right), Ok(InputSeq(2)), "replaces the unsent input");
    let sent = h.sent();
    assert_eq!(
        sent,
        vec![ClientMessage::Input(Input {
            seq: InputSeq(2),
            x: 127,
            y: -64,
            buttons: Buttons(Buttons::BOOST)
        })]
    );
    h.advance(34); // one a tick
    assert_eq!(h.session.send_input(Controls::NEUTRAL), Ok(InputSeq(3)));
    h.sent();
    h.advance(6);
    // The server applied input 2 before this tick: 40 ms after it was sent.
    h.recv(snapshot(None, &world(5, 0), 2));
    h.advance(15);
    h.recv(snapshot(Some(&world(5, 0)), &world(6, 0), 3));
    let acked: Vec<(InputSeq, Duration)> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::InputAcked { seq, latency } => Some((seq, latency)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked,
        vec![(InputSeq(2), Duration::from_millis(40)), (InputSeq(3), Duration::from_millis(21))]
    );
    assert_eq!(h.session.last_input_acked(), InputSeq(3));
    assert_eq!((h.session.stats().inputs_sent, h.session.stats().inputs_acked), (2, 2));
}

#[test]
fn sent_inputs_are_kept_for_prediction_with_those_unapplied_until_a_new_connections_welcome() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    let start = h.now;
    for seq in 1..=3 {
        let boost = seq == 2;
        h.session.send_input(Controls { x: 1.0, y: 0.0, boost, action: false }).unwrap();
        h.sent();
        h.advance(34);
    }
    // One replaced before it went out is not among them: it was never sent.
    h.session.send_input(Controls::NEUTRAL).unwrap();
    let seqs = |inputs: &[SentInput]| inputs.iter().map(|s| s.input.seq.0).collect::<Vec<_>>();
    assert_eq!(seqs(h.session.sent_inputs()), [1, 2, 3]);
    assert_eq!(h.session.sent_inputs()[1].sent_at, start + Duration::from_millis(34));
    assert_eq!(h.session.sent_inputs()[1].input.buttons, Buttons(Buttons::BOOST));
    assert_eq!(seqs(h.session.unapplied_inputs()), [1, 2, 3]);
    h.recv(snapshot(None, &world(5, 0), 2));
    assert_eq!(seqs(h.session.unapplied_inputs()), [3]);
    assert_eq!(seqs(h.session.sent_inputs()), [1, 2, 3], "applied ones stay, to replay from");
    h.session.handle_lost(h.now, LinkError::Eof);
    assert_eq!(seqs(h.session.sent_inputs()), [1, 2, 3], "kept while reconnecting");
    assert_eq!(seqs(h.session.unapplied_inputs()), [3]);
    h.advance(10_000);
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    h.recv(ServerMessage::Welcome(Welcome { resumed: true, ..welcome(Role::Player) }));
    assert!(h.session.sent_inputs().is_empty(), "the new connection starts afresh");
    assert_eq!(h.session.last_input_acked(), InputSeq(0));
}

/// After a stall the snapshots it held back are handled together and a game draws only the
/// newest: how long the server ran the ship on one input is in the ones between, and the
/// session keeps the tick of the first that showed it applied.
#[test]
fn the_tick_that_first_showed_the_newest_applied_input_is_kept_until_a_new_connection() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    assert_eq!(h.session.last_input_acked_tick(), None);
    for _ in 1..=3 {
        h.session.send_input(Controls { x: 1.0, y: 0.0, boost: false, action: false }).unwrap();
        h.sent();
        h.advance(34);
    }
    let mut before = None;
    for (tick, last_input) in [(10, 2), (11, 3), (12, 3), (13, 3), (14, 3)] {
        let next = world(tick, 0);
        h.recv(snapshot(before.as_ref(), &next, last_input));
        before = Some(next);
    }
    assert_eq!(h.session.last_input_acked(), InputSeq(3));
    assert_eq!(h.session.last_input_acked_tick(), Some(Tick(11)), "not the newest, 14");
    h.session.handle_lost(h.now, LinkError::Eof);
    assert_eq!(h.session.last_input_acked_tick(), Some(Tick(11)), "kept while reconnecting");
    h.advance(10_000);
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    h.recv(ServerMessage::Welcome(Welcome { resumed: true, ..welcome(Role::Player) }));
    assert_eq!(h.session.last_input_acked_tick(), None, "a new connection counts afresh");
}

/// The applied input goes with the world that shows it: a snapshot that could not be applied
/// (its baseline unknown) moved it past the world kept, and a prediction made on that world
/// left an input out and drew the ship 15 units back, un-eased.
#[test]
fn a_snapshot_that_cannot_be_applied_moves_neither_the_applied_input_nor_its_tick() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    for _ in 1..=4 {
        h.session.send_input(Controls { x: 1.0, y: 0.0, boost: true, action: false }).unwrap();
        h.sent();
        h.advance(34);
    }
    h.recv(snapshot(None, &world(10, 1600), 1));
    h.recv(snapshot(Some(&world(9, 0)), &world(11, 1700), 4));
    let events = h.events();
    assert!(events.iter().any(|e| matches!(e, Event::SnapshotRejected { .. })), "{events:?}");
    assert_eq!(h.session.world().map(|world| world.tick), Some(Tick(10)));
    assert_eq!(h.session.last_input_acked(), InputSeq(1), "as the world kept shows it");
    assert_eq!(h.session.last_input_acked_tick(), Some(Tick(10)));
    assert_eq!(h.session.unapplied_inputs().len(), 3);
    // The server had them all the same: acked, and confirmed.
    let acked = events.iter().filter(|e| matches!(e, Event::InputAcked { .. })).count();
    assert_eq!(acked, 4, "{events:?}");
    h.recv(snapshot(Some(&world(10, 1600)), &world(12, 1800), 4));
    assert_eq!(h.session.last_input_acked(), InputSeq(4));
    assert_eq!(h.session.last_input_acked_tick(), Some(Tick(12)));
}

#[test]
fn sent_inputs_keep_at_least_the_newest_kept_and_never_grow_past_twice_that() {
    let mut h = Harness::new(
        Identity::player("ada").unwrap(),
        Config {
            input_rate_per_sec: Some(1000),
            max_inputs_unconfirmed: 10_000,
            ..Config::default()
        },
    );
    h.join(welcome(Role::Player));
    for _ in 0..5 * SENT_INPUTS_KEPT {
        h.session.send_input(Controls::NEUTRAL).unwrap();
        h.sent();
        h.advance(2);
        let kept = h.session.sent_inputs().len();
        assert!(kept <= 2 * SENT_INPUTS_KEPT, "{kept}");
    }
    let sent = h.session.sent_inputs();
    assert!(sent.len() >= SENT_INPUTS_KEPT);
    assert_eq!(sent.last().unwrap().input.seq.0 as usize, 5 * SENT_INPUTS_KEPT);
    assert!(sent.windows(2).all(|w| w[1].input.seq.0 == w[0].input.seq.0 + 1));
}

#[test]
fn inputs_sent_every_frame_go_one_a_tick_the_newest_each_time() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    let start = h.now;
    let mut sent = Vec::new();
    let mut newest_sent = 0;
    // A game at 240 frames a second for three seconds, an input every frame; a server that
    // applies the newest each tick (every 8 frames) and says so in its snapshot.
    for frame in 0..720u32 {
        h.now = start + Duration::from_micros(u64::from(frame) * 1_000_000 / 240);
        if frame % 8 == 0 {
            h.recv(snapshot(None, &world(frame / 8 + 1, 0), newest_sent));
        }
        let seq = h.session.send_input(Controls::NEUTRAL).unwrap();
        for message in h.sent() {
            if let ClientMessage::Input(input) = message {
                assert_eq!(input.seq, seq, "each input sent is the newest");
                sent.push(h.now);
                newest_sent = seq.0;
            }
        }
        // The session says when the held input may go.
        if h.session.input_pending.is_some() {
            let at = h.session.poll_timeout().unwrap();
            assert!(at > h.now && at <= h.now + Duration::from_millis(34), "{:?}", at - h.now);
        }
    }
    // One a tick: never more than a server at 30 a second would take with a burst of 2,
    // let alone its default of 120 and 360.
    let (rate, burst) = (30.0, 2.0);
    let mut tokens: f64 = burst;
    let mut last = start;
    for &at in &sent {
        tokens = (tokens + (at - last).as_secs_f64() * rate).min(burst);
        last = at;
        assert!(tokens >= 1.0, "the server would kick at {:?}", at - start);
        tokens -= 1.0;
    }
    assert!((89..=91).contains(&sent.len()), "{} inputs in 3 s", sent.len());
}

#[test]
fn a_game_slower_than_the_room_still_sends_one_input_a_tick_its_newest_controls_again() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.sent();
    let start = h.now;
    let right = Controls { x: 1.0, ..Controls::NEUTRAL };
    let (mut sent, mut from_game) = (Vec::new(), 0);
    // A game at 20 frames a second for three seconds; the driver wakes when the session says.
    let mut next_frame = start;
    while h.now < start + Duration::from_secs(3) {
        if h.now >= next_frame {
            h.session.send_input(right).unwrap();
            from_game += 1;
            next_frame += Duration::from_millis(50);
        }
        for message in h.sent() {
            if let ClientMessage::Input(input) = message {
                sent.push((h.now, input));
            }
        }
        let wake = h.session.poll_timeout().map_or(next_frame, |at| at.min(next_frame));
        h.now = wake.max(h.now + Duration::from_micros(100));
        h.session.handle_timeout(h.now);
        if sent.len() % 6 == 5 {
            let newest = sent.last().unwrap().1.seq.0;
            h.recv(snapshot(None, &world(sent.len() as u32, 0), newest));
        }
    }
    assert_eq!(from_game, 60);
    assert!((89..=91).contains(&sent.len()), "{} inputs in 3 s", sent.len());
    assert!(sent.iter().all(|(_, input)| input.x == 127), "the newest controls each time");
    assert!(sent.windows(2).all(|w| w[1].1.seq > w[0].1.seq), "each a new number");
    let gaps: Vec<Duration> = sent.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|&gap| gap <= Duration::from_millis(35)), "{gaps:?}");
}

const ZERO: Duration = Duration::ZERO;

/// The inputs one client sent in [`play_over_a_link`]: when each left and where in the
/// server's tick it arrived (milliseconds after the tick began).
struct LinkRun {
    sends: Vec<Instant>,
    phases: Vec<f64>,
}

/// A player joined over a link of `up` and `down` (each snapshot `down` late plus
/// `snapshot_jitter` of its tick) to a server ticking at 30 Hz from `t0`, for `seconds`; the
/// driver wakes exactly when the session asks, and the game queues controls from `game_from`
/// after the `Welcome`, which is sent as tick 3 runs.
fn play_over_a_link(
    config: Config,
    (up, down): (Duration, Duration),
    snapshot_jitter: impl Fn(u32) -> Duration,
    game_from: Duration,
    seconds: u64,
) -> LinkRun {
    let period = Duration::from_nanos(33_333_333);
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    let t0 = h.now;
    let tick_at = |k: u32| t0 + period * k;
    h.now = tick_at(3) - up - down;
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    h.now = tick_at(3) + down;
    h.recv(ServerMessage::Welcome(welcome(Role::Player)));
    let game_from = h.now + game_from;
    let end = h.now + Duration::from_secs(seconds);
    let (mut run, mut arrivals) = (LinkRun { sends: Vec::new(), phases: Vec::new() }, Vec::new());
    let mut pongs: Vec<(Instant, u32)> = Vec::new();
    let mut next_tick = 4;
    while h.now < end {
        // A game that queues its controls at every wake-up (with the default pacing, the
        // held controls would go again anyway).
        if h.now >= game_from {
            h.session.send_input(Controls { x: 1.0, ..Controls::NEUTRAL }).unwrap();
        }
        for message in h.sent() {
            match message {
                ClientMessage::Input(input) => {
                    let arrival = h.now + up;
                    run.sends.push(h.now);
                    let into_tick = (arrival - t0).as_secs_f64() % period.as_secs_f64();
                    run.phases.push(into_tick * 1000.0);
                    arrivals.push((arrival, input.seq.0));
                }
                ClientMessage::Ping(Ping { nonce }) => pongs.push((h.now + up + down, nonce)),
                _ => {}
            }
        }
        let snapshot_at = tick_at(next_tick) + down + snapshot_jitter(next_tick);
        let pong_at = pongs.first().map(|&(at, _)| at);
        let mut wake = h.session.poll_timeout().unwrap();
        if h.now < game_from {
            wake = wake.min(game_from);
        }
        let at = [Some(snapshot_at), pong_at, Some(wake)].into_iter().flatten().min().unwrap();
        h.now = at.max(h.now);
        if pong_at == Some(at) {
            let (_, nonce) = pongs.remove(0);
            h.recv(ServerMessage::Pong(Pong { nonce, server_tick: Tick(next_tick) }));
        } else if at == snapshot_at {
            let applied = arrivals.iter().filter(|&&(arrival, _)| arrival <= tick_at(next_tick));
            let last_input = applied.map(|&(_, seq)| seq).max().unwrap_or(0);
            h.recv(snapshot(None, &world(next_tick, 0), last_input));
            next_tick += 1;
        } else {
            h.session.handle_timeout(h.now);
        }
        h.events();
    }
    run
}

/// Mid-tick, 16.7 ms into a 33.3 ms tick, leaves room for jitter either way; an input at the
/// tick's start does not: a millisecond late, and the tick runs without it.
#[test]
fn inputs_that_land_at_the_ticks_start_move_to_mid_tick_a_millisecond_a_tick() {
    let (up, down) = (Duration::from_millis(15), Duration::from_millis(20));
    // The round trip (35 ms) is a tick and 1.7 ms: the first input lands 1.7 ms into a tick.
    let run = play_over_a_link(Config::default(), (up, down), |_| Duration::ZERO, ZERO, 3);
    assert!((run.phases[0] - 1.67).abs() < 0.1, "{:?}", &run.phases[..3]);
    // Settled within a second: every input from then lands within a millisecond of mid-tick.
    let settled = run.sends.iter().position(|&at| at - run.sends[0] > Duration::from_secs(1));
    for &phase in &run.phases[settled.unwrap()..] {
        assert!((phase - 16.67).abs() < 1.0, "{phase} ms into the tick: {:?}", run.phases);
    }
    // On the way, no input doubled or skipped: a period apart, give or take a millisecond.
    for pair in run.sends.windows(2) {
        let gap = (pair[1] - pair[0]).as_secs_f64() * 1000.0;
        assert!((32.33..=34.34).contains(&gap), "{gap} ms between inputs");
    }
    assert!((89..=91).contains(&run.sends.len()), "{} inputs in 3 s", run.sends.len());
}

/// Snapshots and pongs delayed by the network's jitter are late, never early: the floor of
/// their arrivals finds the ticks, and the inputs still settle mid-tick.
#[test]
fn jittered_snapshots_do_not_move_the_inputs_from_mid_tick() {
    let (up, down) = (Duration::from_millis(15), Duration::from_millis(20));
    let mut rng = SmallRng::seed_from_u64(7);
    let jitter: Vec<Duration> =
        (0..200).map(|_| Duration::from_micros(rng.random_range(0..15_000))).collect();
    let run =
        play_over_a_link(Config::default(), (up, down), |k| jitter[k as usize % 200], ZERO, 4);
    let settled = run.sends.iter().position(|&at| at - run.sends[0] > Duration::from_secs(2));
    for &phase in &run.phases[settled.unwrap()..] {
        assert!((phase - 16.67).abs() < 1.5, "{phase} ms into the tick: {:?}", run.phases);
    }
}

/// A game that sends its first input a second after the join (its round had not begun) starts
/// a cadence: the input goes at once, and the next at the middle of the tick after its own,
/// not a burst's second input at once, in the same tick.
#[test]
fn a_cadence_that_starts_late_goes_to_mid_tick_from_its_second_input() {
    let (up, down) = (Duration::from_millis(15), Duration::from_millis(20));
    let run = play_over_a_link(
        Config::default(),
        (up, down),
        |_| Duration::ZERO,
        Duration::from_millis(1003),
        2,
    );
    let first_gap = (run.sends[1] - run.sends[0]).as_secs_f64() * 1000.0;
    assert!((16.6..=50.0).contains(&first_gap), "{first_gap} ms between the first two");
    for &phase in &run.phases[1..] {
        assert!((phase - 16.67).abs() < 0.5, "{phase} ms into the tick: {:?}", run.phases);
    }
    for pair in run.sends[1..].windows(2) {
        let gap = (pair[1] - pair[0]).as_secs_f64() * 1000.0;
        assert!((32.33..=34.34).contains(&gap), "{gap} ms between inputs");
    }
}

/// A game that sets its own input rate has no tick to keep to: its cadence is its own.
#[test]
fn inputs_at_a_rate_of_the_games_own_are_not_moved() {
    let config = Config { input_rate_per_sec: Some(30), input_burst: 1, ..Config::default() };
    let (up, down) = (Duration::from_millis(15), Duration::from_millis(20));
    let run = play_over_a_link(config, (up, down), |_| Duration::ZERO, ZERO, 2);
    assert!(run.phases.len() > 50);
    for &phase in &run.phases {
        assert!(!(2.5..=32.8).contains(&phase), "{phase} ms into the tick");
    }
}

#[test]
fn a_load_test_sends_at_the_rate_it_sets_after_its_burst() {
    let config = Config { input_rate_per_sec: Some(100), ..Config::default() };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.sent();
    let start = h.now;
    let mut sent = 0;
    for frame in 0..720u32 {
        h.now = start + Duration::from_micros(u64::from(frame) * 1_000_000 / 240);
        h.session.send_input(Controls::NEUTRAL).unwrap();
        sent += h.sent().iter().filter(|m| matches!(m, ClientMessage::Input(_))).count();
        if frame % 8 == 0 {
            let seq = h.session.next_input_seq().0 - 1;
            h.recv(snapshot(None, &world(frame / 8 + 1, 0), seq));
        }
    }
    // The burst of 50, then 100 a second for the rest of the three seconds.
    assert!((340..=360).contains(&sent), "{sent} inputs in 3 s");
}

#[test]
fn a_press_shorter_than_a_tick_is_sent_and_let_go_a_tick_later() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    let boost = Controls { boost: true, ..Controls::NEUTRAL };
    h.session.send_input(Controls::NEUTRAL).unwrap();
    assert_eq!(h.sent().len(), 1, "the first goes at once");
    // Three frames within the tick: a press and its release, both before the next input.
    for controls in [Controls::NEUTRAL, boost, Controls::NEUTRAL] {
        h.advance(8);
        h.session.send_input(controls).unwrap();
        assert!(h.sent().is_empty(), "one a tick");
    }
    h.advance(10);
    let pressed = h.sent();
    let [ClientMessage::Input(pressed)] = pressed[..] else { panic!("{pressed:?}") };
    assert_eq!(pressed.buttons, Buttons(Buttons::BOOST), "the press is held in the tick's input");
    // The game sends nothing more (it sends on change): the release goes on its own.
    h.advance(34);
    let released = h.sent();
    let [ClientMessage::Input(released)] = released[..] else { panic!("{released:?}") };
    assert_eq!(released.buttons, Buttons(0), "and let go in the next");
}

#[test]
fn a_driver_whose_socket_is_full_waits_for_silence_not_for_sends_that_are_due() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.sent();
    let joined = h.now;
    // Inputs every millisecond past the burst, and a ping due: due sends the socket cannot
    // take now would wake a driver at once, again and again.
    for _ in 0..60 {
        h.now += Duration::from_millis(1);
        h.session.send_input(Controls::NEUTRAL).unwrap();
    }
    h.advance(u64::try_from(Config::default().ping_interval.as_millis()).unwrap());
    assert!(h.session.poll_timeout().unwrap() <= h.now + Duration::from_millis(10));
    let silence = joined + Config::default().silence_timeout;
    assert_eq!(h.session.poll_timeout_unwritable(), Some(silence));
    assert!(silence > h.now + Duration::from_secs(1));
}

#[test]
fn spectators_cannot_send_inputs() {
    let mut h = Harness::new(Identity::spectator("eye").unwrap(), Config::default());
    h.join(welcome(Role::Spectator));
    assert_eq!(h.session.send_input(Controls::NEUTRAL), Err(SendError::Spectator));
}

#[test]
fn chat_is_paced_to_the_server_rate_and_bounded() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    assert_eq!(h.session.send_chat("   "), Err(SendError::ChatEmpty));
    assert_eq!(h.session.send_chat(&"x".repeat(201)), Err(SendError::ChatTooLong));
    for i in 0..7 {
        h.session.send_chat(&format!("line {i}")).unwrap();
    }
    let chats = |sent: Vec<ClientMessage>| {
        sent.iter().filter(|m| matches!(m, ClientMessage::Chat(_))).count()
    };
    let start = h.now;
    let burst = h.sent();
    // One line fewer than the server's burst of 5, as a margin.
    assert_eq!(chats(burst.clone()), 4, "the burst goes at once");
    assert!(matches!(&burst[0], ClientMessage::Chat(c) if c.text.as_str() == "line 0"));
    // Then a line must wait for the server to confirm those: they may still be on the way.
    let Some(ClientMessage::Ping(Ping { nonce })) = burst.last() else { panic!("{burst:?}") };
    assert!(h.session.poll_timeout().unwrap() > start + Duration::from_secs(1));
    h.advance(20);
    h.recv(ServerMessage::Pong(Pong { nonce: *nonce, server_tick: Tick(1) }));
    // They may have reached the server just before it answered: its bucket refills from then.
    assert_eq!(h.session.poll_timeout(), Some(start + Duration::from_millis(520)));
    h.advance(499);
    assert_eq!(chats(h.sent()), 0);
    h.advance(1);
    assert_eq!(chats(h.sent()), 1, "then 2 per second");
    // Two lines still wait; the queue holds 16.
    for i in 0..14 {
        h.session.send_chat(&format!("more {i}")).unwrap_or_else(|e| panic!("{i}: {e}"));
    }
    assert_eq!(h.session.send_chat("one too many"), Err(SendError::ChatQueueFull));
}

#[test]
fn pings_measure_the_round_trip() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    // The first ping went with the join (the test's server answered at once): a round trip
    // is known from the start.
    assert_eq!(h.session.rtt(), Some(Duration::ZERO));
    assert_eq!(h.sent(), vec![]);
    assert_eq!(h.session.poll_timeout(), Some(h.now + Duration::from_secs(5)));
    h.advance(5000);
    let sent = h.sent();
    let [ClientMessage::Ping(Ping { nonce })] = sent[..] else { panic!("{sent:?}") };
    h.advance(23);
    h.recv(ServerMessage::Pong(Pong { nonce: nonce.wrapping_add(1), server_tick: Tick(1) }));
    assert_eq!(h.session.rtt(), Some(Duration::ZERO), "a pong of another ping is ignored");
    h.recv(ServerMessage::Pong(Pong { nonce, server_tick: Tick(150) }));
    assert_eq!(h.session.rtt(), Some(Duration::from_millis(23)));
    assert_eq!(
        h.events(),
        vec![Event::Pong { rtt: Duration::from_millis(23), server_tick: Tick(150) }]
    );
}

#[test]
fn a_round_trip_longer_than_the_ping_interval_is_measured() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.advance(5000);
    let sent = h.sent();
    let [ClientMessage::Ping(Ping { nonce })] = sent[..] else { panic!("{sent:?}") };
    // The answer is slow: no second ping replaces the first (its round trip would be lost),
    // and the driver is not woken for one.
    h.advance(6000);
    assert_eq!(h.sent(), vec![]);
    assert!(h.session.poll_timeout().is_some_and(|at| at > h.now), "woken for nothing");
    h.recv(ServerMessage::Pong(Pong { nonce, server_tick: Tick(330) }));
    assert_eq!(h.session.rtt(), Some(Duration::from_secs(6)));
    // The interval has passed: the next goes at once.
    let sent = h.sent();
    assert!(matches!(sent[..], [ClientMessage::Ping(_)]), "{sent:?}");
}

#[test]
fn room_events_and_feedback_reach_the_application() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    // The roster (empty here) ends with its Audience: what follows is news.
    h.recv(ServerMessage::Event(RoomEvent {
        tick: Tick(4),
        kind: EventKind::Audience { spectators: 0 },
    }));
    h.events();
    let joined = RoomEvent {
        tick: Tick(4),
        kind: EventKind::Joined {
            player: PlayerId(9),
            name: Name::truncated("bob"),
            role: Role::Player,
            score: 0,
        },
    };
    h.recv(ServerMessage::Event(joined));
    assert_eq!(h.events(), vec![Event::Room(joined)]);
}

#[test]
fn a_kick_and_its_close_frame_end_the_connection_with_the_kick_as_reason() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.recv(kick(KickReason::TooSlow));
    assert!(h.session.state().is_joined(), "the close frame follows the Kick");
    h.session.handle_close_frame(h.now, Some(1008), "too slow");
    let (reason, retry_in) = disconnected(&h.events());
    assert_eq!(
        reason,
        Disconnect::Kicked(Kicked {
            reason: KickReason::TooSlow,
            message: "go away".into(),
            close_code: Some(1008)
        })
    );
    assert!(retry_in.is_some(), "a slow client may come back");
    assert_eq!(h.session.poll_close(), Some(CloseAction::Finish));
    assert!(matches!(h.session.state(), State::Backoff { .. }));
}

#[test]
fn a_version_mismatch_is_final() {
    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    h.recv(kick(KickReason::VersionMismatch { server: 2 }));
    h.session.handle_close_frame(h.now, Some(1002), "version");
    let events = h.events();
    let (reason, retry_in) = disconnected(&events);
    assert_eq!(reason.close_code(), Some(1002));
    assert_eq!(retry_in, None);
    assert_eq!(events.last(), Some(&Event::Ended(End::GaveUp)));
    assert!(h.session.state().is_ended());
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn a_rate_limit_kick_ends_the_session_even_once_joined() {
    // The server ended the seat; the pacing that went past its limit would again.
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.recv(kick(KickReason::RateLimited));
    h.session.handle_close_frame(h.now, Some(1008), "more than 120 inputs per second");
    let events = h.events();
    let (reason, retry_in) = disconnected(&events);
    assert_eq!(reason.label(), "kick-RateLimited");
    assert_eq!(retry_in, None);
    assert_eq!(events.last(), Some(&Event::Ended(End::GaveUp)));
    assert!(h.session.state().is_ended());
}

#[test]
fn an_operators_removal_ends_the_session_with_its_message() {
    // The seat is gone, and a ban would refuse every attempt alike: the client does not
    // rejoin on its own, and the message (which says why) reaches the application.
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    let message = KickText::truncated("removed by the operator: spamming the chat");
    h.recv(ServerMessage::Kick(Kick { reason: KickReason::Removed, message }));
    assert!(h.session.state().is_joined(), "the close frame follows the Kick");
    h.session.handle_close_frame(h.now, Some(1008), "removed");
    let events = h.events();
    assert_eq!(
        events,
        vec![
            Event::Disconnected {
                reason: Disconnect::Kicked(Kicked {
                    reason: KickReason::Removed,
                    message: "removed by the operator: spamming the chat".into(),
                    close_code: Some(1008),
                }),
                retry_in: None,
            },
            Event::Ended(End::GaveUp),
        ]
    );
    assert_eq!(h.session.poll_close(), Some(CloseAction::Finish), "the closing handshake ends");
    assert!(h.session.state().is_ended());
    assert_eq!(h.session.end(), Some(End::GaveUp));
    let Some(Disconnect::Kicked(kicked)) = h.session.last_disconnect() else {
        panic!("the ending keeps its reason: {:?}", h.session.last_disconnect());
    };
    assert_eq!(kicked.message, "removed by the operator: spamming the chat", "for the player");
    assert_eq!(h.session.poll_timeout(), None, "no reconnect is scheduled");
    assert!(!h.session.poll_connect(h.now + Duration::from_secs(3600)));
}

#[test]
fn a_dropped_connection_backs_off_then_resumes_with_the_token() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.session.send_input(Controls::NEUTRAL).unwrap();
    h.sent();
    h.events();
    h.session.handle_lost(h.now, LinkError::Eof);
    assert_eq!(
        h.session.poll_close(),
        Some(CloseAction::Abort),
        "no close frame: the seat is kept"
    );
    let (reason, retry_in) = disconnected(&h.events());
    assert_eq!(reason, Disconnect::Lost(LinkError::Eof));
    let delay = retry_in.expect("retried");
    assert!(
        delay >= Duration::from_millis(187) && delay <= Duration::from_millis(313),
        "{delay:?}"
    );
    assert_eq!(h.session.poll_timeout(), Some(h.now + delay));
    assert!(!h.session.poll_connect(h.now + delay - Duration::from_millis(1)));
    h.now += delay;
    let hello = h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    assert_eq!(hello.resume, Some(TOKEN));
    // The held controls went again with the join (2): numbers count on.
    assert!(matches!(h.sent()[..], [ClientMessage::Input(Input { seq: InputSeq(2), .. })]));
    assert_eq!(h.session.send_input(Controls::NEUTRAL), Ok(InputSeq(3)), "numbers count on");
    assert!(
        matches!(h.events()[..], [Event::Connecting { attempt: 2 }, Event::Joined(w)] if w.resumed)
    );
}

#[test]
fn consecutive_failures_double_the_delay_and_max_attempts_gives_up() {
    let config = Config {
        reconnect: Reconnect { max_attempts: Some(2), jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert!(h.session.poll_connect(h.now));
        h.session.handle_connect_failed(h.now, Disconnect::ConnectTimeout);
        let (_, retry_in) = disconnected(&h.events());
        delays.push(retry_in);
        h.now += retry_in.unwrap_or_default();
    }
    assert_eq!(
        delays,
        vec![Some(Duration::from_millis(250)), Some(Duration::from_millis(500)), None]
    );
    assert!(h.session.state().is_ended());
    assert_eq!(h.session.end(), Some(End::GaveUp), "kept for a later leave() to report");
}

/// Fails `n` connection attempts in a row as a closed port does, returning the events.
fn refuse_connects(h: &mut Harness, n: usize) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..n {
        assert!(h.session.poll_connect(h.now), "an attempt is due");
        let refused = LinkError::connect(&std::io::ErrorKind::ConnectionRefused.into());
        h.session.handle_connect_failed(h.now, Disconnect::Lost(refused));
        let more = h.events();
        let (_, retry_in) = disconnected(&more);
        events.extend(more);
        h.now += retry_in.unwrap_or_default();
    }
    events
}

#[test]
fn a_first_join_that_never_connects_gives_up_after_max_initial_attempts() {
    let mut h = Harness::player();
    assert_eq!(Config::default().reconnect.max_initial_attempts, Some(5));
    let events = refuse_connects(&mut h, 5);
    assert!(matches!(h.session.state(), State::Backoff { .. }), "five failures are retried");
    let events = [events, refuse_connects(&mut h, 1)].concat();
    let refused =
        Disconnect::Lost(LinkError::connect(&std::io::ErrorKind::ConnectionRefused.into()));
    assert_eq!(
        events[events.len() - 2..],
        [Event::Disconnected { reason: refused, retry_in: None }, Event::Ended(End::GaveUp)],
        "the sixth failed connect is the last"
    );
    assert!(h.session.state().is_ended());
    assert_eq!(h.session.stats().attempts, 6);
    assert_eq!(h.session.poll_timeout(), None);

    // `max_attempts`, if lower, applies before the first Welcome too; `None` for both waits
    // for a server forever.
    let mut config = Config::default();
    config.reconnect.max_attempts = Some(2);
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    refuse_connects(&mut h, 3);
    assert!(h.session.state().is_ended());
    let mut config = Config::default();
    config.reconnect.max_initial_attempts = None;
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    refuse_connects(&mut h, 30);
    assert!(matches!(h.session.state(), State::Backoff { .. }));
}

#[test]
fn once_welcomed_a_session_keeps_reconnecting_past_max_initial_attempts() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.session.handle_lost(h.now, LinkError::Eof);
    let delay = disconnected(&h.events()).1.expect("retried");
    h.now += delay;
    // The server is gone: every reconnect is refused, and the seat is still worth trying for.
    refuse_connects(&mut h, 20);
    assert!(matches!(h.session.state(), State::Backoff { .. }), "max_attempts: None");
}

#[test]
fn a_full_room_ends_a_first_join_but_not_a_resume() {
    let full = |h: &mut Harness| {
        h.recv(kick(KickReason::Full));
        h.session.handle_close_frame(h.now, Some(1013), "room is full");
        disconnected(&h.events())
    };
    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    let (reason, retry_in) = full(&mut h);
    assert!(matches!(reason, Disconnect::Kicked(Kicked { reason: KickReason::Full, .. })));
    assert_eq!(retry_in, None, "nothing to get back: the player is told the room is full");
    assert!(h.session.state().is_ended());
    assert_eq!(h.session.end(), Some(End::GaveUp));

    // With a seat to resume, `Full` is retried: a fleet answers it while its room directory
    // is unreachable.
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.session.handle_lost(h.now, LinkError::Eof);
    let delay = disconnected(&h.events()).1.expect("retried");
    h.now += delay;
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    assert!(matches!(h.sent()[..], [ClientMessage::Hello(Hello { resume: Some(TOKEN), .. })]));
    assert!(full(&mut h).1.is_some(), "retried");
}

#[test]
fn after_a_welcome_later_hellos_name_the_room_it_named() {
    let mut h = Harness::player();
    let hello = h.join(welcome(Role::Player));
    assert_eq!(hello.room, RoomRequest::Any, "quick play");
    h.session.handle_lost(h.now, LinkError::Eof);
    let delay = disconnected(&h.events()).1.expect("retried");
    h.now += delay;
    // The seat's room: a resume finds the seat there, and a client whose seat (or room) is
    // gone joins a new room of that name, not wherever matchmaking places it.
    let arena_1 = RoomRequest::Named(RoomName::truncated("arena-1"));
    let hello = h.join(Welcome { room: RoomName::truncated("arena-7"), ..welcome(Role::Player) });
    assert_eq!((hello.room, hello.resume), (arena_1, Some(TOKEN)));
    // Each Welcome's room, should a server seat the client in another one.
    h.session.handle_close_frame(h.now, Some(1011), "internal error");
    let delay = disconnected(&h.events()).1.expect("retried");
    h.now += delay;
    let hello = h.join(welcome(Role::Player));
    assert_eq!(hello.room, RoomRequest::Named(RoomName::truncated("arena-7")));
    assert_eq!(h.session.identity().room, RoomRequest::Any, "the identity is the application's");
}

#[test]
fn input_numbers_keep_growing_across_connections() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    for _ in 0..3 {
        h.session.send_input(Controls::NEUTRAL).unwrap();
        h.sent();
        h.advance(20);
    }
    h.recv(snapshot(None, &world(5, 0), 3));
    h.session.handle_lost(h.now, LinkError::Eof);
    let delay = disconnected(&h.events()).1.expect("retried");
    h.now += delay;
    h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    h.events();
    // The held controls go again with the join, numbered on from the last connection's.
    assert!(matches!(h.sent()[..], [ClientMessage::Input(Input { seq: InputSeq(4), .. })]));
    assert_eq!(h.session.next_input_seq(), InputSeq(5));
    // The server judges the new connection afresh: its first snapshot says 0 (nothing of
    // this connection applied), then the new number, past every input an application kept
    // from the connection before.
    h.recv(snapshot(None, &world(9, 0), 0));
    h.recv(snapshot(Some(&world(9, 0)), &world(10, 0), 4));
    let last_inputs: Vec<InputSeq> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Snapshot(info) => Some(info.last_input),
            _ => None,
        })
        .collect();
    assert_eq!(last_inputs, [InputSeq(0), InputSeq(4)]);
    assert_eq!(h.session.last_input_acked(), InputSeq(4));
}

/// Joins `h` up to `n` times with a server that closes 50 ms after each `Welcome` (1011);
/// returns each delay the session chose, `None` once it gave up.
fn crashing_joins(h: &mut Harness, n: usize) -> Vec<Option<Duration>> {
    let mut delays = Vec::new();
    for _ in 0..n {
        h.join(welcome(Role::Player));
        h.events();
        h.now += Duration::from_millis(50);
        h.session.handle_close_frame(h.now, Some(1011), "internal error");
        let (_, retry_in) = disconnected(&h.events());
        delays.push(retry_in);
        let Some(delay) = retry_in else { break };
        h.now += delay;
    }
    delays
}

#[test]
fn only_a_connection_that_lasted_resets_the_backoff() {
    let config = Config {
        reconnect: Reconnect { max_attempts: Some(3), jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    // A server that welcomes and then fails at once, every time.
    let delays = crashing_joins(&mut h, 5);
    assert_eq!(
        delays,
        [250, 500, 1000]
            .map(|ms| Some(Duration::from_millis(ms)))
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>(),
        "the delays grow, and the session gives up"
    );
    assert!(h.session.state().is_ended());

    // A connection that lasted resets it: the next delay is the first one again.
    let config = Config {
        reconnect: Reconnect { jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.session.handle_lost(h.now, LinkError::Eof);
    let (_, retry_in) = disconnected(&h.events());
    h.now += retry_in.unwrap();
    h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    h.events();
    h.now += Duration::from_secs(5);
    h.session.handle_lost(h.now, LinkError::Eof);
    assert_eq!(disconnected(&h.events()).1, Some(Duration::from_millis(250)));
    h.now += Duration::from_millis(250);
    assert!(h.session.poll_connect(h.now));
    assert_eq!(h.events(), [Event::Connecting { attempt: 2 }]);
}

/// Fails every connection attempt from now on (a server that is down) `n` times, and returns
/// each delay the session chose.
fn refused_attempts(h: &mut Harness, n: usize) -> Vec<Option<Duration>> {
    let mut delays = Vec::new();
    for _ in 0..n {
        assert!(h.session.poll_connect(h.now), "an attempt is due at the end of its delay");
        let refused =
            LinkError::connect(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        h.session.handle_connect_failed(h.now, Disconnect::Lost(refused));
        let (_, retry_in) = disconnected(&h.events());
        delays.push(retry_in);
        let Some(delay) = retry_in else { break };
        h.now += delay;
    }
    delays
}

fn ms(delays: &[u64]) -> Vec<Option<Duration>> {
    delays.iter().map(|&ms| Some(Duration::from_millis(ms))).collect()
}

#[test]
fn a_server_going_away_is_retried_at_the_first_delay_through_its_restart_window() {
    let config = Config {
        reconnect: Reconnect { max_attempts: Some(3), jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.now += Duration::from_secs(60);
    h.recv(kick(KickReason::ShuttingDown));
    h.session.handle_close_frame(h.now, Some(1001), "server shutting down");
    let (reason, retry_in) = disconnected(&h.events());
    assert!(reason.is_restart(), "{reason:?}");
    assert_eq!(retry_in, Some(Duration::from_millis(250)));
    h.now += Duration::from_millis(250);
    // While the server is down, 10 s of refused attempts: none doubles the delay, and none
    // counts towards `max_attempts` (3), which would have ended the session at the fourth.
    let delays = refused_attempts(&mut h, 39);
    assert_eq!(delays, ms(&[250; 39]));
    assert!(!h.session.state().is_ended());
    // Past the window the backoff grows from the first delay again, and the limit counts.
    let delays = refused_attempts(&mut h, 5);
    assert_eq!(delays, [ms(&[250, 500, 1000]), vec![None]].concat());
    assert!(h.session.state().is_ended(), "out of attempts after the window");
    // Every attempt was made: the join, 39 in the window, 4 after it.
    assert_eq!(h.session.stats().attempts, 1 + 39 + 4);
}

#[test]
fn a_restart_window_opens_for_1001_and_1012_after_a_welcome_and_ends_with_one_or_a_kick() {
    let config = Config {
        reconnect: Reconnect { jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    for (code, restart) in [(1001, true), (1012, true), (1011, false), (1013, false)] {
        let mut h = Harness::new(Identity::player("ada").unwrap(), config.clone());
        h.join(welcome(Role::Player));
        h.now += Duration::from_secs(60);
        h.session.handle_close_frame(h.now, Some(code), "bye");
        let (reason, _) = disconnected(&h.events());
        assert_eq!(reason.is_restart(), restart, "close {code}");
        h.now += Duration::from_millis(250);
        let expected: &[u64] = if restart { &[250, 250, 250] } else { &[500, 1000, 2000] };
        assert_eq!(refused_attempts(&mut h, 3), ms(expected), "close {code}");
    }

    // A Welcome ends the window: a server back from its restart that then fails at once is
    // retried ever more slowly and given up on, its restart's attempts still uncounted.
    let crashing = Config {
        reconnect: Reconnect { max_attempts: Some(2), jitter_percent: 0, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), crashing);
    h.join(welcome(Role::Player));
    h.now += Duration::from_secs(60);
    h.recv(kick(KickReason::ShuttingDown));
    h.session.handle_close_frame(h.now, Some(1001), "server shutting down");
    h.events();
    h.now += Duration::from_millis(250);
    assert_eq!(refused_attempts(&mut h, 3), ms(&[250, 250, 250]));
    let delays = crashing_joins(&mut h, 4);
    assert_eq!(delays, [ms(&[250, 500]), vec![None]].concat(), "within 10 s of the kick");
    assert!(h.session.state().is_ended());

    // A kick for another reason is a live server's answer: the window ends there too.
    let mut h = Harness::new(Identity::player("ada").unwrap(), config.clone());
    h.join(welcome(Role::Player));
    h.now += Duration::from_secs(60);
    h.session.handle_close_frame(h.now, Some(1012), "service restart");
    h.events();
    h.now += Duration::from_millis(250);
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.sent();
    h.recv(kick(KickReason::Full));
    h.session.handle_close_frame(h.now, Some(1013), "room is full");
    let (reason, retry_in) = disconnected(&h.events());
    assert!(matches!(reason, Disconnect::Kicked(Kicked { reason: KickReason::Full, .. })));
    assert_eq!(retry_in, Some(Duration::from_millis(250)), "the first counted failure");
    h.now += Duration::from_millis(250);
    assert_eq!(refused_attempts(&mut h, 2), ms(&[500, 1000]));

    // Before a first Welcome a 1001 opens no window: the first join's short limit stands.
    let first = Config {
        reconnect: Reconnect {
            jitter_percent: 0,
            max_initial_attempts: Some(2),
            ..Reconnect::default()
        },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), first);
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.session.handle_close_frame(h.now, Some(1001), "going away");
    let (_, retry_in) = disconnected(&h.events());
    assert_eq!(retry_in, Some(Duration::from_millis(250)));
    h.now += Duration::from_millis(250);
    assert_eq!(refused_attempts(&mut h, 2), [ms(&[500]), vec![None]].concat());

    // The attempts of a window are numbered as one: attempt 1 while the server is down.
    let mut h = Harness::new(Identity::player("ada").unwrap(), config.clone());
    h.join(welcome(Role::Player));
    h.events();
    h.now += Duration::from_secs(60);
    h.session.handle_close_frame(h.now, Some(1001), "bye");
    h.events();
    for _ in 0..3 {
        h.now += Duration::from_millis(250);
        assert!(h.session.poll_connect(h.now));
        assert_eq!(h.events(), [Event::Connecting { attempt: 1 }]);
        let refused =
            LinkError::connect(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        h.session.handle_connect_failed(h.now, Disconnect::Lost(refused));
        h.events();
    }

    // `max_attempts: Some(0)` never reconnects, a restart included.
    let never = Config {
        reconnect: Reconnect { max_attempts: Some(0), ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), never);
    h.join(welcome(Role::Player));
    h.recv(kick(KickReason::ShuttingDown));
    h.session.handle_close_frame(h.now, Some(1001), "server shutting down");
    assert_eq!(disconnected(&h.events()).1, None);
    assert!(h.session.state().is_ended());

    // `restart_window: ZERO` backs off as after any drop.
    let config = Config {
        reconnect: Reconnect {
            jitter_percent: 0,
            restart_window: Duration::ZERO,
            ..Reconnect::default()
        },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.now += Duration::from_secs(60);
    h.session.handle_close_frame(h.now, Some(1001), "bye");
    h.events();
    h.now += Duration::from_millis(250);
    assert_eq!(refused_attempts(&mut h, 3), ms(&[500, 1000, 2000]));
}

#[test]
fn refusals_respect_retry_after_and_configuration_errors_are_final() {
    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    let busy = Refusal {
        status: 429,
        message: "too many".into(),
        retry_after: Some(Duration::from_secs(5)),
    };
    h.session.handle_connect_failed(h.now, Disconnect::Refused(busy));
    let (_, retry_in) = disconnected(&h.events());
    assert_eq!(retry_in, Some(Duration::from_secs(5)));

    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    let bad = Refusal { status: 400, message: "no subprotocol".into(), retry_after: None };
    h.session.handle_connect_failed(h.now, Disconnect::Refused(bad));
    assert_eq!(disconnected(&h.events()).1, None);
    assert!(h.session.state().is_ended());
}

#[test]
fn a_retry_after_past_reason_waits_at_most_retry_after_max() {
    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    let busy = Refusal { status: 503, message: "busy".into(), retry_after: Some(Duration::MAX) };
    h.session.handle_connect_failed(h.now, Disconnect::Refused(busy));
    let (_, retry_in) = disconnected(&h.events());
    assert_eq!(retry_in, Some(RETRY_AFTER_MAX));
    assert_eq!(h.session.poll_timeout(), Some(h.now + RETRY_AFTER_MAX));
}

#[test]
fn never_reconnect_reports_the_first_ending_and_stops() {
    let config = Config { reconnect: Reconnect::NEVER, ..Config::default() };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.events();
    h.session.handle_lost(h.now, LinkError::Io(std::io::ErrorKind::ConnectionReset));
    let events = h.events();
    assert_eq!(disconnected(&events).1, None);
    assert_eq!(events.last(), Some(&Event::Ended(End::GaveUp)));
}

#[test]
fn resume_rejected_forgets_the_token() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.recv(kick(KickReason::ResumeRejected));
    h.session.handle_close_frame(h.now, Some(1008), "");
    assert_eq!(h.session.resume_token(), None);
}

#[test]
fn silence_and_a_missing_welcome_time_out() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.advance(14_000);
    h.session.handle_heard(h.now); // a WebSocket ping
    h.advance(14_999);
    assert!(h.session.state().is_joined());
    h.advance(1);
    assert_eq!(disconnected(&h.events()).0, Disconnect::Silence);
    assert_eq!(h.session.poll_close(), Some(CloseAction::Abort));

    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    h.session.handle_connected(h.now);
    h.advance(5_000);
    assert_eq!(disconnected(&h.events()).0, Disconnect::JoinTimeout);

    let mut h = Harness::player();
    assert!(h.session.poll_connect(h.now));
    h.advance(10_000);
    assert_eq!(disconnected(&h.events()).0, Disconnect::ConnectTimeout);
}

#[test]
fn an_undecodable_message_closes_with_1002_and_resumes_the_seat() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.session.handle_message(h.now, &[0xff, 0x01]);
    let (reason, retry_in) = disconnected(&h.events());
    assert!(matches!(reason, Disconnect::Decode(_)));
    assert_eq!(
        h.session.poll_close(),
        Some(CloseAction::Close { code: 1002, reason: "undecodable" })
    );
    assert_eq!(h.session.stats().decode_errors, 1);
    // 1002 keeps the seat on the server (PROTOCOL.md 7.1 step 8): the client comes back for it.
    h.now += retry_in.expect("retried");
    let hello = h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    assert_eq!(hello.resume, Some(TOKEN));
}

#[test]
fn leaving_closes_with_1000_and_ends_when_the_server_answers() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.session.leave(h.now);
    assert_eq!(h.session.poll_close(), Some(CloseAction::Close { code: 1000, reason: "bye" }));
    assert_eq!(h.session.state(), State::Closing);
    h.recv(snapshot(None, &world(3, 0), 0));
    assert_eq!(h.sent(), vec![], "nothing but the close goes out after leaving");
    h.session.handle_close_frame(h.now, Some(1000), "");
    assert_eq!(h.events(), vec![Event::Ended(End::Left { answer: Some(1000) })]);
    assert!(!h.session.poll_connect(h.now + Duration::from_secs(60)), "nothing reconnects");

    // No answer within the close timeout: given up, and the socket dropped.
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    h.session.leave(h.now);
    h.session.poll_close();
    h.advance(2_000);
    assert_eq!(h.events(), vec![Event::Ended(End::Left { answer: None })]);
    assert_eq!(h.session.poll_close(), Some(CloseAction::Abort));
}

#[test]
fn the_event_queue_is_bounded() {
    let config = Config { max_events: 3, ..Config::default() };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    h.join(welcome(Role::Player));
    h.events();
    for tick in 0..5 {
        h.recv(ServerMessage::Event(RoomEvent {
            tick: Tick(tick),
            kind: EventKind::Scored { player: PlayerId(2), score: 1 },
        }));
    }
    let events = h.events();
    assert_eq!(events.len(), 3);
    assert!(matches!(events[0], Event::Room(RoomEvent { tick: Tick(2), .. })), "oldest dropped");
    assert_eq!(h.session.stats().events_dropped, 2);
}

/// A token bucket as the tickwire server keeps one per connection (server/src/ratelimit.rs).
struct ServerBucket {
    rate: f64,
    tokens: f64,
    burst: f64,
    last: Instant,
}

impl ServerBucket {
    fn new(rate: u32, burst: u32, now: Instant) -> ServerBucket {
        let burst = f64::from(burst);
        ServerBucket { rate: f64::from(rate), tokens: burst, burst, last: now }
    }

    fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let ok = self.tokens >= 1.0;
        if ok {
            self.tokens -= 1.0;
        }
        ok
    }
}

/// A session joined to a simulated tickwire server with its default limits, over a link whose
/// uplink stalls: what the session sends reaches the server `ONE_WAY` later, or all at once
/// when the stall ends. The server reads in order, answers pings, and sends a snapshot every
/// tick whose `last_input` is the newest input it took.
struct Link {
    h: Harness,
    stall: (Instant, Instant),
    uplink: VecDeque<(Instant, ClientMessage)>,
    downlink: VecDeque<(Instant, ServerMessage)>,
    inputs: ServerBucket,
    chats: ServerBucket,
    last_input: u32,
    tick: u32,
    next_tick: Instant,
    /// What the server took, and why it kicked (if it did).
    inputs_taken: usize,
    chats_taken: usize,
    kicked: Option<String>,
}

const ONE_WAY: Duration = Duration::from_millis(20);

impl Link {
    fn new(mut h: Harness, role: Role, stall_from_ms: u64, stall_ms: u64) -> Link {
        let now = h.now;
        h.join(welcome(role));
        h.events();
        let from = now + Duration::from_millis(stall_from_ms);
        Link {
            h,
            stall: (from, from + Duration::from_millis(stall_ms)),
            uplink: VecDeque::new(),
            downlink: VecDeque::new(),
            inputs: ServerBucket::new(120, 360, now),
            chats: ServerBucket::new(2, 5, now),
            last_input: 0,
            tick: 0,
            next_tick: now,
            inputs_taken: 0,
            chats_taken: 0,
            kicked: None,
        }
    }

    /// Moves time on by `ms`, a millisecond at a time, calling `app` every millisecond.
    fn run(&mut self, ms: u64, mut app: impl FnMut(&mut Session, u64)) {
        for step in 0..ms {
            self.h.now += Duration::from_millis(1);
            let now = self.h.now;
            while self.downlink.front().is_some_and(|(at, _)| *at <= now) {
                let (_, msg) = self.downlink.pop_front().unwrap();
                self.h.recv(msg);
            }
            self.h.session.handle_timeout(now);
            app(&mut self.h.session, step);
            let last = self.uplink.back().map_or(now, |(at, _)| *at);
            for msg in self.h.sent() {
                let mut at = now + ONE_WAY;
                if at >= self.stall.0 && at < self.stall.1 {
                    at = self.stall.1;
                }
                self.uplink.push_back((at.max(last), msg));
            }
            while self.uplink.front().is_some_and(|(at, _)| *at <= now) {
                let (_, msg) = self.uplink.pop_front().unwrap();
                self.server_reads(now, msg);
            }
            if now >= self.next_tick {
                self.tick += 1;
                self.next_tick += Duration::from_micros(33_333);
                let snap = snapshot(None, &world(self.tick, 0), self.last_input);
                if self.h.session.identity().role != Role::Controller {
                    self.downlink.push_back((now + ONE_WAY, snap));
                }
            }
        }
    }

    fn server_reads(&mut self, now: Instant, msg: ClientMessage) {
        match msg {
            ClientMessage::Input(input) => {
                if !self.inputs.try_take(now) {
                    self.kicked.get_or_insert(format!("inputs, after {}", self.inputs_taken));
                }
                self.inputs_taken += 1;
                self.last_input = input.seq.0;
            }
            ClientMessage::Chat(_) => {
                if !self.chats.try_take(now) {
                    self.kicked.get_or_insert(format!("chat, after {}", self.chats_taken));
                }
                self.chats_taken += 1;
            }
            ClientMessage::Ping(Ping { nonce }) => {
                let pong = Pong { nonce, server_tick: Tick(self.tick) };
                self.downlink.push_back((now + ONE_WAY, ServerMessage::Pong(pong)));
            }
            _ => {}
        }
    }
}

#[test]
fn inputs_held_up_by_a_stalled_uplink_arrive_within_the_servers_burst() {
    // A game at 100 frames a second, an input every frame; the uplink stalls for 4 s.
    let mut link = Link::new(Harness::player(), Role::Player, 1_000, 4_000);
    let mut newest = InputSeq(0);
    link.run(8_000, |session, ms| {
        if ms % 10 == 0 {
            newest = session.send_input(Controls::NEUTRAL).unwrap();
        }
    });
    assert_eq!(link.kicked, None, "{} inputs reached the server", link.inputs_taken);
    // One a tick throughout: 8 s at 30 Hz.
    assert!(link.h.session.stats().inputs_sent >= 235, "{:?}", link.h.session.stats());
    // Once the stall is over, the newest input goes out again.
    assert!(link.last_input + 5 >= newest.0, "{} of {}", link.last_input, newest.0);
    assert!(link.h.session.state().is_joined());
}

#[test]
fn a_controller_gets_its_inputs_confirmed_by_pongs() {
    // No snapshots: only the pongs of pings sent after its inputs confirm them, and on a
    // healthy link they come before the inputs ever wait for them.
    let mut link = Link::new(
        Harness::new(Identity::new(Role::Controller, "pad").unwrap(), Config::default()),
        Role::Controller,
        0,
        0,
    );
    let mut newest = InputSeq(0);
    link.run(8_000, |session, ms| {
        if ms % 10 == 0 {
            newest = session.send_input(Controls::NEUTRAL).unwrap();
        }
    });
    assert_eq!(link.kicked, None, "{} inputs reached the server", link.inputs_taken);
    let sent = link.h.session.stats().inputs_sent;
    assert!((239..=241).contains(&sent), "one a tick for 8 s, none waited: {sent}");
    assert!(link.last_input + 5 >= newest.0, "{} of {}", link.last_input, newest.0);
}

#[test]
fn chat_held_up_by_a_stalled_uplink_arrives_within_the_servers_burst() {
    // A player who types a line every 400 ms (faster than the 2 a second it may send), into
    // an uplink that stalls for 3 s.
    let mut link = Link::new(Harness::player(), Role::Player, 300, 3_000);
    let mut typed = 0;
    link.run(12_000, |session, ms| {
        if ms % 400 == 0 && typed < 16 && session.send_chat("hello").is_ok() {
            typed += 1;
        }
    });
    assert_eq!(link.kicked, None);
    assert_eq!((typed, link.chats_taken), (16, 16), "every line typed reached the room");
}

#[test]
fn a_resume_sends_the_chat_lines_still_queued_and_a_fresh_join_drops_them() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    for i in 0..6 {
        h.session.send_chat(&format!("line {i}")).unwrap();
    }
    h.sent();
    h.session.handle_lost(h.now, LinkError::Eof);
    let (_, retry_in) = disconnected(&h.events());
    h.now += retry_in.unwrap();
    h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    let lines: Vec<String> = h
        .sent()
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Chat(c) => Some(c.text.as_str().to_string()),
            _ => None,
        })
        .collect();
    // Written before the drop but never confirmed, so perhaps lost with the link: they go
    // again, first, in order (the burst's worth; the rest follow as tokens come).
    assert_eq!(lines, ["line 0", "line 1", "line 2", "line 3"], "accepted, so sent again");

    h.session.send_chat("for the old seat").unwrap();
    h.session.handle_lost(h.now, LinkError::Eof);
    let (_, retry_in) = disconnected(&h.events());
    h.now += retry_in.unwrap();
    h.join(welcome(Role::Player));
    assert!(!h.sent().iter().any(|m| matches!(m, ClientMessage::Chat(_))), "a fresh seat");
}

#[test]
fn the_debug_of_a_session_and_of_its_joined_event_hides_the_resume_token() {
    let mut h = Harness::player();
    h.join(Welcome { resume_token: ResumeToken([0xab; 16]), ..welcome(Role::Player) });
    let shown = format!("{:?}", h.session);
    assert!(!shown.contains("ResumeToken") && !shown.contains("171, 171"), "{shown}");
    assert!(shown.contains("resume_token: Some(..)"), "{shown}");
    let joined = h.events().into_iter().find(|e| matches!(e, Event::Joined(_))).unwrap();
    let shown = format!("{joined:?}");
    assert!(!shown.contains("ResumeToken") && !shown.contains("171, 171"), "{shown}");
    assert!(shown.contains("resume_token: ..") && shown.contains("player_id"), "{shown}");
}

#[test]
fn a_zero_timeout_is_off_and_duration_max_does_not_overflow() {
    let config = Config {
        silence_timeout: Duration::ZERO,
        join_timeout: Duration::ZERO,
        connect_timeout: Duration::ZERO,
        ping_interval: Duration::ZERO,
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    assert!(h.session.poll_connect(h.now));
    h.advance(3_600_000);
    assert_eq!(h.session.state(), State::Connecting, "no connect timeout");
    assert_eq!(h.session.poll_timeout(), None, "nothing timed");
    h.session.handle_connected(h.now);
    h.sent();
    h.advance(3_600_000);
    assert_eq!(h.session.state(), State::Handshaking, "no join timeout, no silence");
    h.recv(ServerMessage::Welcome(welcome(Role::Player)));
    h.advance(3_600_000);
    assert!(h.session.state().is_joined());
    assert_eq!(h.sent(), vec![], "no periodic ping");

    let config = Config {
        silence_timeout: Duration::MAX,
        join_timeout: Duration::MAX,
        connect_timeout: Duration::MAX,
        close_timeout: Duration::MAX,
        ping_interval: Duration::MAX,
        reconnect: Reconnect { initial_delay: Duration::MAX, ..Reconnect::default() },
        ..Config::default()
    };
    let mut h = Harness::new(Identity::player("ada").unwrap(), config);
    assert!(h.session.poll_connect(h.now));
    assert_eq!(h.session.poll_timeout(), None);
    h.session.handle_connected(h.now);
    assert_eq!(h.session.poll_timeout(), None);
    h.sent();
    h.recv(ServerMessage::Welcome(welcome(Role::Player)));
    assert_eq!(h.session.poll_timeout(), None);
    assert_eq!(h.session.poll_timeout_unwritable(), None);
    h.advance(3_600_000);
    assert!(h.session.state().is_joined());
    h.session.handle_lost(h.now, LinkError::Eof);
    assert!(matches!(h.session.state(), State::Backoff { until } if until > h.now));
    assert!(h.session.poll_timeout().is_some());
}

#[test]
fn after_an_older_snapshot_the_world_stays_the_newest() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.recv(snapshot(None, &world(12, 7), 0));
    h.recv(snapshot(None, &world(11, 3), 0));
    let ticks: Vec<Tick> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Snapshot(info) => Some(info.tick),
            _ => None,
        })
        .collect();
    assert_eq!(ticks, [Tick(12), Tick(11)]);
    assert_eq!(h.session.world(), Some(&world(12, 7)), "as Event::Snapshot says");
    assert_eq!(h.sent(), vec![ClientMessage::Ack(Ack { tick: Tick(12) })], "the newest is acked");
}

fn room_event(h: &mut Harness, tick: u32, kind: EventKind) {
    h.recv(ServerMessage::Event(RoomEvent { tick: Tick(tick), kind }));
}

fn joined_kind(player: u16, name: &str) -> EventKind {
    scored_joined_kind(player, name, 0)
}

fn scored_joined_kind(player: u16, name: &str, score: u16) -> EventKind {
    EventKind::Joined {
        player: PlayerId(player),
        name: Name::truncated(name),
        role: Role::Player,
        score,
    }
}

/// The room events among `events`, as "Joined 4", with " (roster)" for catch-up.
fn flags(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| {
            let (event, roster) = match e {
                Event::Room(event) => (event, ""),
                Event::Roster(event) => (event, " (roster)"),
                _ => return None,
            };
            Some(match event.kind {
                EventKind::Joined { player, .. } => format!("Joined {}{roster}", player.0),
                EventKind::Left { player } => format!("Left {}{roster}", player.0),
                EventKind::Scored { player, score } => {
                    format!("Scored {}={score}{roster}", player.0)
                }
                EventKind::Audience { .. } => format!("Audience{roster}"),
                kind => format!("{kind:?}{roster}"),
            })
        })
        .collect()
}

/// Drops the connection and joins again, when the backoff allows, with `welcome`.
fn rejoin(h: &mut Harness, welcome: Welcome) {
    h.session.handle_lost(h.now, LinkError::Eof);
    h.now = h.session.poll_timeout().expect("a reconnect is due");
    h.join(welcome);
}

fn roster_ids(h: &Harness) -> Vec<u16> {
    h.session.roster().keys().map(|p| p.0).collect()
}

#[test]
fn the_roster_after_a_welcome_is_catch_up_and_a_resume_announces_only_who_came_and_went() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.events();
    // The roster: bob and cy were here; then, with the first tick, ada's own Joined and eve's,
    // who joined in the same tick: news, although before the first snapshot.
    room_event(&mut h, 1, joined_kind(4, "bob"));
    room_event(&mut h, 1, joined_kind(5, "cy"));
    room_event(&mut h, 1, EventKind::Audience { spectators: 2 });
    room_event(&mut h, 1, joined_kind(3, "ada"));
    room_event(&mut h, 1, joined_kind(6, "eve"));
    h.recv(snapshot(None, &world(1, 0), 0));
    room_event(&mut h, 2, joined_kind(7, "fay"));
    assert_eq!(
        flags(&h.events()),
        [
            "Joined 4 (roster)",
            "Joined 5 (roster)",
            "Audience (roster)",
            "Joined 3",
            "Joined 6",
            "Joined 7"
        ]
    );
    assert_eq!(roster_ids(&h), [3, 4, 5, 6, 7]);
    assert_eq!(
        h.session.roster()[&PlayerId(5)],
        RosterEntry { name: Name::truncated("cy"), role: Role::Player }
    );
    assert_eq!(h.session.audience(), 2);

    // The connection drops; meanwhile cy and fay leave, gil joins and bob scores 7. The
    // resume keeps the roster; the new one names bob, eve and gil, with their scores. Those
    // known before are not announced again, but their scores are passed on.
    rejoin(&mut h, Welcome { resumed: true, ..welcome(Role::Player) });
    assert_eq!(roster_ids(&h), [3, 4, 5, 6, 7], "the players known before are kept");
    h.events();
    room_event(&mut h, 90, scored_joined_kind(4, "bob", 7));
    room_event(&mut h, 90, joined_kind(6, "eve"));
    room_event(&mut h, 90, scored_joined_kind(8, "gil", 2));
    room_event(&mut h, 90, EventKind::Audience { spectators: 1 });
    let after = h.events();
    assert_eq!(
        flags(&after),
        [
            "Scored 4=7 (roster)",
            "Scored 6=0 (roster)",
            "Joined 8 (roster)",
            "Left 5 (roster)",
            "Left 7 (roster)",
            "Audience (roster)"
        ]
    );
    assert!(after.contains(&Event::Roster(RoomEvent {
        tick: Tick(90),
        kind: scored_joined_kind(8, "gil", 2)
    })));
    assert!(after.contains(&Event::Roster(RoomEvent {
        tick: Tick(90),
        kind: EventKind::Left { player: PlayerId(5) }
    })));
    assert_eq!(roster_ids(&h), [3, 4, 6, 8], "ada's own seat is not taken for gone");
    assert_eq!(h.session.audience(), 1);
    // fay left just before the resume: her own Left comes with the next tick, announced already.
    room_event(&mut h, 91, EventKind::Left { player: PlayerId(7) });
    assert_eq!(flags(&h.events()), [] as [&str; 0]);

    // A fresh seat starts over: everyone in its roster is catch-up, nobody is gone, and a
    // snapshot ends a roster whose Audience is missing.
    rejoin(&mut h, welcome(Role::Player));
    assert!(h.session.roster().is_empty());
    assert_eq!(h.session.audience(), 0);
    room_event(&mut h, 5, joined_kind(4, "bob"));
    h.recv(snapshot(None, &world(5, 0), 0));
    room_event(&mut h, 6, joined_kind(9, "hal"));
    assert_eq!(flags(&h.events()), ["Joined 4 (roster)", "Joined 9"]);

    // A controller gets no roster: nothing it is sent is catch-up.
    let mut pad = Harness::new(Identity::new(Role::Controller, "pad").unwrap(), Config::default());
    pad.join(welcome(Role::Controller));
    room_event(&mut pad, 1, joined_kind(4, "bob"));
    assert_eq!(flags(&pad.events()), ["Joined 4"]);
}

/// A resumed seat's roster names the seat itself besides the others (a page reload learns
/// its own name and score there): the others alone tell whether it may have left players out.
#[test]
fn a_resumed_roster_names_its_own_seat_outside_the_count_of_others() {
    for (others, bob_gone) in [(ROSTER_MAX - 1, true), (ROSTER_MAX, false)] {
        let mut h = Harness::player();
        h.join(welcome(Role::Player));
        room_event(&mut h, 1, joined_kind(4, "bob"));
        room_event(&mut h, 1, EventKind::Audience { spectators: 0 });
        rejoin(&mut h, Welcome { resumed: true, ..welcome(Role::Player) });
        h.events();
        // Itself (3), and the others but bob, who left while it was away.
        room_event(&mut h, 40, scored_joined_kind(3, "ada", 9));
        for player in 100..100 + others as u16 {
            room_event(&mut h, 40, joined_kind(player, &format!("p{player}")));
        }
        room_event(&mut h, 40, EventKind::Audience { spectators: 0 });
        let flagged = flags(&h.events());
        assert_eq!(flagged.contains(&"Left 4 (roster)".to_string()), bob_gone, "{others}");
        assert_eq!(h.session.roster().contains_key(&PlayerId(4)), !bob_gone);
        assert_eq!(h.session.roster()[&PlayerId(3)].name, Name::truncated("ada"), "itself");
    }
}

#[test]
fn a_left_for_a_player_a_complete_roster_never_named_is_dropped() {
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    // A roster of 128 names: the room may hold players it left out.
    for player in 100..228 {
        room_event(&mut h, 20, joined_kind(player, &format!("p{player}")));
    }
    room_event(&mut h, 20, EventKind::Audience { spectators: 0 });
    room_event(&mut h, 20, joined_kind(4, "bob"));
    room_event(&mut h, 21, EventKind::Left { player: PlayerId(4) });
    // A player the roster never named.
    room_event(&mut h, 22, EventKind::Left { player: PlayerId(9) });
    let lefts: Vec<Event> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Room(RoomEvent { kind: EventKind::Left { .. }, .. })))
        .collect();
    let left = |tick, player| {
        Event::Room(RoomEvent {
            tick: Tick(tick),
            kind: EventKind::Left { player: PlayerId(player) },
        })
    };
    assert_eq!(lefts, [left(21, 4), left(22, 9)]);
    assert_eq!(h.session.roster().len(), 128);
    assert!(!h.session.roster().contains_key(&PlayerId(4)));

    // A resume whose roster names 128 again, bob not among them: he may just be unnamed, so
    // he is not taken for gone, and a Left for a player never named still passes.
    room_event(&mut h, 23, joined_kind(4, "bob"));
    rejoin(&mut h, Welcome { resumed: true, ..welcome(Role::Player) });
    h.events();
    for player in 100..228 {
        room_event(&mut h, 40, joined_kind(player, &format!("p{player}")));
    }
    room_event(&mut h, 40, EventKind::Audience { spectators: 0 });
    let flagged = flags(&h.events());
    let (scores, rest): (Vec<_>, Vec<_>) = flagged.iter().partition(|f| f.starts_with("Scored"));
    assert_eq!(rest, ["Audience (roster)"], "known players are not announced again");
    assert_eq!(scores.len(), 128, "only their scores are passed on");
    assert!(scores.iter().all(|f| f.ends_with("(roster)")), "as catch-up: {scores:?}");
    assert!(h.session.roster().contains_key(&PlayerId(4)));
    room_event(&mut h, 41, EventKind::Left { player: PlayerId(10) });
    assert_eq!(flags(&h.events()), ["Left 10"]);

    // A roster that named everyone: a Left for a player it never named (one that left as this
    // client joined, before the tick that carries its Left) is no news.
    let mut small = Harness::player();
    small.join(welcome(Role::Player));
    room_event(&mut small, 20, EventKind::Audience { spectators: 0 });
    room_event(&mut small, 20, EventKind::Left { player: PlayerId(9) });
    assert_eq!(flags(&small.events()), ["Audience (roster)"]);
}

/// Lines of the chat written into a link that then stalled and dropped: `send_chat` said Ok,
/// so the resumed seat writes again those the server never confirmed, and only those.
#[test]
fn a_chat_line_written_but_unconfirmed_is_sent_again_after_a_resume() {
    let chat_lines = |sent: Vec<ClientMessage>| -> Vec<String> {
        sent.into_iter()
            .filter_map(|m| match m {
                ClientMessage::Chat(c) => Some(c.text.as_str().to_string()),
                _ => None,
            })
            .collect()
    };
    let mut h = Harness::player();
    h.join(welcome(Role::Player));
    h.sent();
    h.session.send_chat("confirmed").unwrap();
    let sent = h.sent();
    assert_eq!(chat_lines(sent.clone()), ["confirmed"]);
    let Some(ClientMessage::Ping(Ping { nonce })) = sent.last().cloned() else {
        panic!("a ping asks the server to confirm the line: {sent:?}");
    };
    h.recv(ServerMessage::Pong(Pong { nonce, server_tick: Tick(1) }));
    h.session.send_chat("stalled").unwrap();
    let sent = h.sent();
    assert_eq!(chat_lines(sent.clone()), ["stalled"], "written: send_chat's work is done");
    assert!(matches!(sent.last(), Some(ClientMessage::Ping(_))), "{sent:?}");

    // The link stalls: no Pong, then the drop.
    h.advance(17_000);
    let (reason, retry_in) = disconnected(&h.events());
    assert_eq!(reason, Disconnect::Silence);
    h.now += retry_in.unwrap();
    h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    assert_eq!(chat_lines(h.sent()), ["stalled"], "the unconfirmed line again, not the other");

    // The resumed connection's Pong (the join's, answered by `join`) confirmed it: a second
    // drop does not send it a third time.
    h.session.handle_lost(h.now, LinkError::Eof);
    let (_, retry_in) = disconnected(&h.events());
    h.now += retry_in.unwrap();
    h.join(Welcome { resumed: true, ..welcome(Role::Player) });
    assert_eq!(chat_lines(h.sent()), Vec::<String>::new());
}
