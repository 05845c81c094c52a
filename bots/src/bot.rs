//! One bot: a real [`Client`] that joins, plays with its [`Behaviour`], acknowledges
//! snapshots (the client does), checks the world it rebuilds, and records what it measured.

use crate::behaviour::Behaviour;
use crate::cli::{Args, BotRole, InputRate, RoomChoice};
use crate::stats::{Counters, Recorder};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tickwire_client::{
    Client, Config, Controls, Disconnect, End, Event, Identity, Reconnect, SnapshotInfo, Stats,
};
use tickwire_shared::Welcome;
use tickwire_shared::delta::World;
use tickwire_shared::quant::POSITION_SCALE;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// What every bot shares: the plan, the counters, the recorder, the window and the stop signal.
#[derive(Debug)]
pub struct Shared {
    /// The command line.
    pub args: Args,
    /// Live totals.
    pub counters: Counters,
    /// Distributions and tallies.
    pub recorder: Mutex<Recorder>,
    /// When the measurement window opened, and closed.
    pub window_start: OnceLock<Instant>,
    /// See [`Shared::window_start`].
    pub window_end: OnceLock<Instant>,
    /// The room tick rate, from the first `Welcome` (0 until then).
    pub tick_rate: AtomicU32,
    /// Cancelled when the window closes (or on Ctrl-C): every bot leaves.
    pub stop: CancellationToken,
}

impl Shared {
    /// Shared state for a run of `args`.
    pub fn new(args: Args) -> Shared {
        Shared {
            args,
            counters: Counters::default(),
            recorder: Mutex::new(Recorder::default()),
            window_start: OnceLock::new(),
            window_end: OnceLock::new(),
            tick_rate: AtomicU32::new(0),
            stop: CancellationToken::new(),
        }
    }

    /// True while the measurement window is open.
    pub fn measuring(&self) -> bool {
        self.window_start.get().is_some() && self.window_end.get().is_none()
    }

    /// The recorder, locked. A bot that panicked while holding it left whole samples behind
    /// (each update is a single record), so a poisoned lock is still usable.
    pub fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a bot needs of its connection, whichever IO drives it: a [`Client`] (a tokio task
/// per bot) or the io_uring engine (`--io-uring`).
pub(crate) trait Link {
    /// The rebuilt world.
    fn world(&self) -> Option<&World>;
    /// Queues an input (only called while joined).
    fn send_input(&mut self, controls: Controls);
    /// Bytes read and written on the wire so far.
    fn wire_bytes(&self) -> (u64, u64);
}

impl Link for Client {
    fn world(&self) -> Option<&World> {
        Client::world(self)
    }

    fn send_input(&mut self, controls: Controls) {
        // Refused only when not joined, which callers exclude.
        let _ = Client::send_input(self, controls);
    }

    fn wire_bytes(&self) -> (u64, u64) {
        Client::wire_bytes(self)
    }
}

/// One bot's own bookkeeping.
pub(crate) struct Bot {
    shared: Arc<Shared>,
    started: Instant,
    welcome: Option<Welcome>,
    joined_at: Option<Instant>,
    /// Joined now.
    joined: bool,
    /// Ever joined, dropped or not.
    ever_joined: bool,
    last_frame: Option<Instant>,
    frames_in_window: u64,
    /// Socket bytes already added to the counters.
    bytes_seen: (u64, u64),
    behaviour: Behaviour,
}

/// Runs bot `index` until its session ends or `shared.stop` is cancelled; then leaves with a
/// close frame.
pub async fn run_bot(shared: Arc<Shared>, index: u32) {
    let args = &shared.args;
    let seed = args.seed.wrapping_add(u64::from(index));
    let mut client =
        Client::with_endpoint(args.url.clone(), identity(args, index), client_config(args), seed);
    client.set_local_ip(args.source_ips.as_ref().and_then(|ips| ips.for_bot(index)));
    Counters::add(&shared.counters.started, 1);
    let mut bot = Bot::new(shared.clone(), Instant::now(), seed);
    // Inputs from the bot's own clock (`--input-rate HZ`, or controllers, which get no
    // snapshots to pace them), started once joined.
    let mut inputs: Option<Interval> = None;
    // Registered once, not once per event: thousands of bots wait on the same token.
    let stop = shared.stop.clone();
    let stopped = stop.cancelled();
    tokio::pin!(stopped);

    loop {
        tokio::select! {
            biased;
            () = &mut stopped => break,
            event = client.next_event() => match event {
                Some(event) => {
                    if !bot.on_event(event, &mut client) {
                        break;
                    }
                    if inputs.is_none() && bot.joined {
                        inputs = bot.input_clock(index);
                    }
                }
                None => break,
            },
            _ = async { inputs.as_mut()?.tick().await; Some(()) }, if bot.joined && inputs.is_some() => {
                bot.send_input(&mut client);
            }
        }
    }
    let stayed = bot.stayed();
    if bot.joined {
        // Bounded by the client's close timeout.
        let end = client.leave().await;
        bot.record_leave(end);
    }
    bot.record_end(stayed, *client.session().stats(), &client);
}

/// Bot `index`'s identity: its role, its name, its room.
pub(crate) fn identity(args: &Args, index: u32) -> Identity {
    let name = format!("bot-{index}");
    let identity = match Identity::new(args.role.role(), &name) {
        Ok(identity) => identity,
        Err(e) => unreachable!("`{name}` is a valid name: {e}"),
    };
    match &args.room {
        RoomChoice::Any => identity,
        // The room name was checked on the command line.
        RoomChoice::Named(room) => identity.in_room(room).unwrap_or(identity),
    }
}

/// The client settings of every bot.
pub(crate) fn client_config(args: &Args) -> Config {
    let mut config = Config::default();
    // Refusals and drops are reported, never retried: a load test must see them.
    config.reconnect = Reconnect::NEVER;
    config.ping_interval = args.ping_interval;
    config.ack_snapshots = !args.no_ack;
    // `--input-rate HZ` sends that many, up to the server's own limit: the session's pacing,
    // which keeps a game under that limit with a margin, must not send fewer.
    if let InputRate::Hz(hz) = args.input_rate {
        config.input_rate_per_sec = config.input_rate_per_sec.max(u32::from(hz));
    }
    config
}

impl Bot {
    /// A bot started at `started` whose behaviour is seeded with `seed`.
    pub(crate) fn new(shared: Arc<Shared>, started: Instant, seed: u64) -> Bot {
        Bot {
            shared,
            started,
            welcome: None,
            joined_at: None,
            joined: false,
            ever_joined: false,
            last_frame: None,
            frames_in_window: 0,
            bytes_seen: (0, 0),
            behaviour: Behaviour::new(seed),
        }
    }

    /// Joined now.
    pub(crate) fn is_joined(&self) -> bool {
        self.joined
    }

    /// The clock of this bot's inputs, when they are not paced by snapshots: at its own
    /// phase, as players' frames are.
    fn input_clock(&self, index: u32) -> Option<Interval> {
        let args = &self.shared.args;
        let hz = match (args.input_rate, args.role) {
            (_, BotRole::Spectator) => return None,
            (InputRate::Hz(hz), _) => hz,
            (InputRate::Tick, BotRole::Controller) => u16::from(self.welcome?.tick_rate.max(1)),
            (InputRate::Tick, BotRole::Player) => return None,
        };
        let period = Duration::from_secs_f64(1.0 / f64::from(hz));
        let phase = period.mul_f64(f64::from(index % 97) / 97.0);
        let mut clock = tokio::time::interval_at((Instant::now() + phase).into(), period);
        clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
        Some(clock)
    }

    /// Steers from the newest world and queues the input.
    fn send_input(&mut self, link: &mut impl Link) {
        let ship = self.welcome.and_then(|w| w.entity);
        let controls = self.behaviour.steer(Instant::now(), link.world(), ship);
        link.send_input(controls);
    }

    /// Handles one event; false when the session is over.
    pub(crate) fn on_event(&mut self, event: Event, client: &mut impl Link) -> bool {
        let now = Instant::now();
        let measuring = self.shared.measuring();
        match event {
            Event::Joined(welcome) => {
                self.shared.recorder().connect.record(now - self.started);
                self.welcome = Some(welcome);
                self.joined = true;
                self.ever_joined = true;
                self.joined_at = Some(now);
                self.shared.tick_rate.store(u32::from(welcome.tick_rate), Ordering::Relaxed);
                Counters::add(&self.shared.counters.connected, 1);
            }
            Event::Snapshot(info) => {
                self.on_snapshot(now, measuring, info, client);
                if self.shared.args.input_rate == InputRate::Tick
                    && self.shared.args.role == BotRole::Player
                {
                    self.send_input(client);
                }
            }
            Event::Feedback(_) => {
                Counters::add(&self.shared.counters.frames, 1);
                if measuring {
                    self.frames_in_window += 1;
                }
                self.flush_bytes(client);
            }
            Event::SnapshotRejected { error, .. } => {
                self.error(format!("apply-{}", variant(&error)));
            }
            Event::InputAcked { latency, .. } if measuring => {
                self.shared.recorder().input_to_ack.record(latency);
            }
            Event::Pong { rtt, .. } if measuring => self.shared.recorder().rtt.record(rtt),
            Event::Disconnected { reason, .. } => self.on_disconnected(&reason),
            Event::Ended(_) => return false,
            Event::Connecting { .. }
            | Event::InputAcked { .. }
            | Event::Pong { .. }
            | Event::Room(_) => {}
        }
        true
    }

    fn on_snapshot(
        &mut self,
        now: Instant,
        measuring: bool,
        info: SnapshotInfo,
        client: &impl Link,
    ) {
        Counters::add(&self.shared.counters.frames, 1);
        let previous = self.last_frame.replace(now);
        if measuring {
            self.frames_in_window += 1;
            let period = Duration::from_secs_f64(
                1.0 / f64::from(self.welcome.map_or(30, |w| w.tick_rate.max(1))),
            );
            let mut recorder = self.shared.recorder();
            recorder.ticks_skipped += u64::from(info.skipped);
            // Only intervals that lie wholly in the window.
            if let Some(previous) = previous
                && self.shared.window_start.get().is_some_and(|start| previous >= *start)
            {
                recorder.record_interarrival(now - previous, period);
            }
        }
        if let Some(problem) = self.inconsistency(client) {
            self.error(problem);
        }
        self.flush_bytes(client);
    }

    /// Checks the rebuilt world against what the protocol promises: every entity inside the
    /// playfield, and a player's own ship in its view.
    fn inconsistency(&self, client: &impl Link) -> Option<&'static str> {
        let welcome = self.welcome?;
        let Some(world) = client.world() else {
            return Some("world-missing");
        };
        let scale = POSITION_SCALE as i32;
        let (w, h) =
            (i32::from(welcome.world.width) * scale, i32::from(welcome.world.height) * scale);
        let outside = world.entities.iter().any(|e| {
            let (x, y) = (i32::from(e.pos.x), i32::from(e.pos.y));
            !(0..=w).contains(&x) || !(0..=h).contains(&y)
        });
        if outside {
            return Some("world-entity-out-of-bounds");
        }
        if welcome.role == tickwire_shared::Role::Player
            && let Some(ship) = welcome.entity
            && world.get(ship).is_none()
        {
            return Some("world-own-ship-missing");
        }
        None
    }

    fn on_disconnected(&mut self, reason: &Disconnect) {
        let mut recorder = self.shared.recorder();
        if let Some(code) = reason.close_code() {
            *recorder.close_codes.entry(code).or_default() += 1;
        }
        if let Disconnect::Decode(e) = reason {
            Recorder::count(&mut recorder.errors, format!("decode-{}", variant(e)));
            Counters::add(&self.shared.counters.errors, 1);
        }
        if self.joined {
            self.joined = false;
            Recorder::count(&mut recorder.drops, reason.label());
            Counters::add(&self.shared.counters.dropped, 1);
            self.shared.counters.connected.fetch_sub(1, Ordering::Relaxed);
        } else if !self.ever_joined {
            Recorder::count(&mut recorder.failures, reason.label());
            Counters::add(&self.shared.counters.failed, 1);
        }
    }

    fn error(&self, kind: impl Into<String>) {
        Recorder::count(&mut self.shared.recorder().errors, kind);
        Counters::add(&self.shared.counters.errors, 1);
    }

    fn flush_bytes(&mut self, client: &impl Link) {
        let (read, written) = client.wire_bytes();
        Counters::add(&self.shared.counters.bytes_in, read - self.bytes_seen.0);
        Counters::add(&self.shared.counters.bytes_out, written - self.bytes_seen.1);
        self.bytes_seen = (read, written);
    }

    /// Joined since before the window opened, and still joined: the bot's frames count.
    pub(crate) fn stayed(&self) -> bool {
        self.joined
            && self.joined_at.zip(self.shared.window_start.get()).is_some_and(|(at, s)| at <= *s)
    }

    /// Records how the leave of a joined bot ended (answered by the server or not).
    pub(crate) fn record_leave(&mut self, end: End) {
        let mut recorder = self.shared.recorder();
        match end {
            End::Left { answer: Some(code) } => {
                recorder.leaves_answered += 1;
                *recorder.close_codes.entry(code).or_default() += 1;
            }
            _ => recorder.leaves_unanswered += 1,
        }
        if std::mem::replace(&mut self.joined, false) {
            self.shared.counters.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Records what only the end of a bot can say; `stayed` as [`Bot::stayed`] said before
    /// it left.
    pub(crate) fn record_end(&mut self, stayed: bool, stats: Stats, client: &impl Link) {
        self.flush_bytes(client);
        let mut recorder = self.shared.recorder();
        if stayed {
            recorder.window_frames.push(self.frames_in_window);
        }
        for (kind, n) in [
            ("snapshot-stale", stats.snapshots_stale),
            ("client-events-dropped", stats.events_dropped),
        ] {
            if n > 0 {
                *recorder.errors.entry(kind.to_string()).or_default() += n;
                Counters::add(&self.shared.counters.errors, n);
            }
        }
    }
}

/// The variant name of an error enum (`MissingBaseline(Tick(3))` → `MissingBaseline`).
fn variant(error: &impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    text.split(['(', ' ', '{']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::Tick;
    use tickwire_shared::delta::ApplyError;

    #[test]
    fn error_kinds_are_variant_names() {
        assert_eq!(variant(&ApplyError::MissingBaseline(Tick(3))), "MissingBaseline");
        assert_eq!(variant(&ApplyError::TrailingBits), "TrailingBits");
        assert_eq!(
            variant(&tickwire_shared::DecodeError::TrailingBytes { extra: 2 }),
            "TrailingBytes"
        );
    }

    #[test]
    fn input_rate_hz_is_never_paced_below_what_it_asks() {
        use clap::Parser;
        let config = |rate: &str| {
            let args = Args::try_parse_from(["tickwire-bots", "--input-rate", rate]).unwrap();
            client_config(&args).input_rate_per_sec
        };
        assert_eq!(config("tick"), 100, "the client's default, under the server's limit");
        assert_eq!(config("60"), 100);
        assert_eq!(config("120"), 120, "what the flag asks, up to the server's own limit");
    }
}
