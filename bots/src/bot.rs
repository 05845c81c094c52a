//! One bot: a real [`Client`] that joins, plays with its [`Behaviour`], acknowledges
//! snapshots (the client does), checks the world it rebuilds, and records what it measured.

use crate::behaviour::Behaviour;
use crate::cli::{Args, BotRole, InputRate, RoomChoice, WorldChecks};
use crate::stats::{Counters, Recorder, WindowFrames};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tickwire_client::{
    Client, Config, Controls, Disconnect, End, Event, Identity, LinkError, Reconnect, SnapshotInfo,
    Stats,
};
use tickwire_shared::delta::World;
use tickwire_shared::quant::POSITION_SCALE;
use tickwire_shared::{InputSeq, Tick, Welcome};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The error counted for a world with an entity outside the `Welcome`'s playfield
/// (`--world-checks arena`).
pub(crate) const WORLD_ENTITY_OUT_OF_BOUNDS: &str = "world-entity-out-of-bounds";
/// The error counted for a player's world without its own ship (`--world-checks arena`).
pub(crate) const WORLD_OWN_SHIP_MISSING: &str = "world-own-ship-missing";

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
    /// When the `--server-pid` process was first seen gone (exited, or a zombie).
    pub server_gone: OnceLock<Instant>,
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
            server_gone: OnceLock::new(),
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
    /// Queues an input (only called while joined); its sequence number, `None` if refused.
    fn send_input(&mut self, controls: Controls) -> Option<InputSeq>;
    /// Bytes read and written on the wire so far.
    fn wire_bytes(&self) -> (u64, u64);
}

impl Link for Client {
    fn world(&self) -> Option<&World> {
        Client::world(self)
    }

    fn send_input(&mut self, controls: Controls) -> Option<InputSeq> {
        Client::send_input(self, controls).ok()
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
    /// When a joined bot lost its connection.
    dropped_at: Option<Instant>,
    /// Joined now.
    joined: bool,
    /// Ever joined, dropped or not.
    ever_joined: bool,
    last_frame: Option<Instant>,
    /// The last snapshot received in the window: where the gap open at its end starts (frames
    /// that arrive after the end, before this bot gets to its close, do not shorten it).
    last_window_frame: Option<Instant>,
    frames_in_window: u64,
    /// The ticks of the first and the last snapshot received in the window.
    window_ticks: Option<(Tick, Tick)>,
    /// When the ping that no pong answered yet was due: the session sends one at a time, its
    /// interval after the one before went out and once that one is answered (earlier when
    /// inputs await a confirmation). `None` while not joined.
    ping_due: Option<Instant>,
    /// The inputs this bot queued that no acknowledgement reached yet, oldest first, with
    /// when: each becomes one input-to-ack sample, whether the session measures it or not.
    inputs: VecDeque<(InputSeq, Instant)>,
    /// Most entries of [`Bot::inputs`]: the session's own memory of inputs in flight; 0 for
    /// roles whose inputs no snapshot acknowledges (nothing to measure).
    inputs_cap: usize,
    /// [`Bot::close_window`] ran: this bot's window is over.
    window_closed: bool,
    /// The session's counters already added to the recorder.
    stats_recorded: Stats,
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
                    if !bot.on_event(Instant::now(), event, &mut client) {
                        break;
                    }
                    if inputs.is_none() && bot.joined {
                        inputs = bot.input_clock(index);
                    }
                }
                None => break,
            },
            _ = async { inputs.as_mut()?.tick().await; Some(()) }, if bot.joined && inputs.is_some() => {
                bot.send_input(Instant::now(), &mut client);
            }
        }
    }
    // Before the leave: a leave the run's patience cuts short must not take the bot's window
    // with it.
    bot.close_window(Instant::now(), *client.session().stats(), &client);
    if bot.joined {
        // Bounded by the client's close timeout.
        let end = client.leave().await;
        bot.record_leave(end);
    }
    bot.record_end(*client.session().stats(), &client);
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
    // `--input-rate HZ` sends that many, up to the server's own limit; `tick` is the
    // session's own pacing, one a tick of the room.
    if let InputRate::Hz(hz) = args.input_rate {
        config.input_rate_per_sec = Some(u32::from(hz));
    }
    // The session measures an input's latency only while it remembers the input: past its
    // memory the oldest are forgotten unmeasured, and a stall looks no longer than the memory
    // (the default 64 inputs are 0.53 s at 120 Hz). Ten seconds of the most it sends (by
    // default one a tick, of a room at up to 120 Hz) covers any stall a window should pass.
    // Players only: nothing acknowledges a controller's inputs, so a larger memory would only
    // fill up.
    if args.role == BotRole::Player {
        config.inputs_in_flight =
            config.inputs_in_flight.max(config.input_rate_per_sec.unwrap_or(120) as usize * 10);
    }
    config
}

impl Bot {
    /// A bot started at `started` whose behaviour is seeded with `seed`.
    pub(crate) fn new(shared: Arc<Shared>, started: Instant, seed: u64) -> Bot {
        Bot {
            started,
            welcome: None,
            joined_at: None,
            dropped_at: None,
            joined: false,
            ever_joined: false,
            last_frame: None,
            last_window_frame: None,
            frames_in_window: 0,
            window_ticks: None,
            ping_due: None,
            inputs: VecDeque::new(),
            inputs_cap: match shared.args.role {
                BotRole::Player => client_config(&shared.args).inputs_in_flight.max(1),
                BotRole::Controller | BotRole::Spectator => 0,
            },
            window_closed: false,
            stats_recorded: Stats::default(),
            bytes_seen: (0, 0),
            behaviour: Behaviour::new(seed),
            shared,
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
    fn send_input(&mut self, now: Instant, link: &mut impl Link) {
        let ship = self.welcome.and_then(|w| w.entity);
        let controls = self.behaviour.steer(now, link.world(), ship);
        if let Some(seq) = link.send_input(controls) {
            self.input_queued(now, seq);
        }
    }

    /// True while this bot's input-to-ack samples count: within the window, as frames and
    /// inter-arrival times are (what waits at its end is counted by [`Bot::close_window`]).
    fn measuring_inputs(&self) -> bool {
        self.shared.measuring() && !self.window_closed
    }

    /// Remembers input `seq`, queued at `now`, until an acknowledgement reaches it.
    fn input_queued(&mut self, now: Instant, seq: InputSeq) {
        if self.inputs_cap == 0 {
            return;
        }
        if self.inputs.len() >= self.inputs_cap
            && let Some((_, queued)) = self.inputs.pop_front()
            && self.measuring_inputs()
        {
            // Waiting for longer than the session remembers inputs: counted at its wait so
            // far, which is already past any limit worth setting.
            let mut recorder = self.shared.recorder();
            recorder.input_to_ack.record(now - queued);
            recorder.inputs_still_waiting += 1;
        }
        self.inputs.push_back((seq, now));
    }

    /// Input `seq` acknowledged at `now`, `latency` after the session sent it. Inputs before
    /// it that had no acknowledgement of their own (replaced by a newer one before they went
    /// out, or forgotten by the session) were reached by this one: their sample is their wait
    /// since they were queued.
    fn input_acked(&mut self, now: Instant, seq: InputSeq, latency: Duration) {
        let window = self.shared.window_start.get().is_some() && !self.window_closed;
        let end = self.shared.window_end.get().copied();
        let mut recorder = window.then(|| self.shared.recorder());
        let mut held = false;
        while let Some(&(queued_seq, queued)) = self.inputs.front()
            && queued_seq <= seq
        {
            self.inputs.pop_front();
            let acked = queued_seq == seq;
            held |= acked;
            let Some(recorder) = recorder.as_mut() else { continue };
            match end {
                // Replaced or forgotten: reached by this acknowledgement.
                None if !acked => recorder.input_to_ack.record(now - queued),
                None => {}
                // Acknowledged after the window's end, this bot not yet at its close: an
                // input of the window waited at least to its end, and is counted so, as the
                // close counts those still waiting (the longest waits of a stall that spans
                // the end would otherwise be lost).
                Some(end) if queued < end => {
                    recorder.input_to_ack.record(end.min(now).saturating_duration_since(queued));
                    recorder.inputs_still_waiting += 1;
                }
                Some(_) => {}
            }
        }
        // Only an input this bot still held: one it let go of was counted then, at its wait
        // so far (see `input_queued`), and must not be counted twice.
        if let Some(recorder) = recorder.as_mut().filter(|_| held && end.is_none()) {
            recorder.input_to_ack.record(latency);
        }
    }

    /// Handles one event, taken at `now`; false when the session is over.
    pub(crate) fn on_event(&mut self, now: Instant, event: Event, client: &mut impl Link) -> bool {
        let measuring = self.shared.measuring();
        match event {
            Event::Joined(welcome) => {
                self.shared.recorder().connect.record(now - self.started);
                self.welcome = Some(welcome);
                self.joined = true;
                self.ever_joined = true;
                self.joined_at = Some(now);
                self.ping_due = Some(now + self.shared.args.ping_interval);
                self.shared.tick_rate.store(u32::from(welcome.tick_rate), Ordering::Relaxed);
                Counters::add(&self.shared.counters.connected, 1);
            }
            Event::Snapshot(info) => {
                self.on_snapshot(now, measuring, info, client);
                if self.shared.args.input_rate == InputRate::Tick
                    && self.shared.args.role == BotRole::Player
                {
                    self.send_input(now, client);
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
            Event::InputAcked { seq, latency } => self.input_acked(now, seq, latency),
            Event::Pong { rtt, .. } => self.pong(now, rtt),
            Event::Disconnected { reason, .. } => {
                if self.joined {
                    self.dropped_at = Some(now);
                }
                self.on_disconnected(&reason);
            }
            Event::Ended(_) => return false,
            Event::Connecting { .. } | Event::Room(_) | Event::Roster(_) => {}
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
            self.last_window_frame = Some(now);
            // The lowest and the highest: a server that restarted under a resume numbers its
            // ticks from 1 again, and the span must not wrap around to billions.
            self.window_ticks = Some(match self.window_ticks {
                None => (info.tick, info.tick),
                Some((first, last)) => (first.min(info.tick), last.max(info.tick)),
            });
            let period = self.tick_period();
            let mut recorder = self.shared.recorder();
            // A gap in the tick numbers is a snapshot the server replaced before this bot read it;
            // a tick the server never ran has no number, and leaves no gap.
            recorder.frames_skipped += u64::from(info.skipped);
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

    /// The answer to a ping, `rtt` after it went out, taken at `now`. A pong that comes after
    /// the window's end, this bot not yet at its close, counts its wait up to the end, as an
    /// input acknowledged then does: its ping waited at least that long in the window, and the
    /// close, which counts the ping still waiting, would no longer see it.
    fn pong(&mut self, now: Instant, rtt: Duration) {
        let sent = now.checked_sub(rtt).unwrap_or(now);
        self.ping_due = Some(now.max(sent + self.shared.args.ping_interval));
        if self.window_closed || self.shared.window_start.get().is_none() {
            return;
        }
        match self.shared.window_end.get() {
            None => self.shared.recorder().rtt.record(rtt),
            // Only a wait longer than a tick, as at the close: a ping sent just before the end
            // and answered just after it is a healthy one.
            Some(&end) if sent < end && end - sent > self.tick_period() => {
                let mut recorder = self.shared.recorder();
                recorder.rtt.record(end - sent);
                recorder.pings_still_waiting += 1;
            }
            Some(&end) if sent < end => self.shared.recorder().rtt.record(rtt),
            Some(_) => {}
        }
    }

    /// The room's tick period, from the Welcome (30 ticks/s before it).
    fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.welcome.map_or(30, |w| w.tick_rate.max(1))))
    }

    /// Checks the rebuilt world against what the server promises: a world after every
    /// snapshot and, as the arena keeps them (`--world-checks arena`), every entity inside
    /// the playfield and a player's own ship in its view.
    fn inconsistency(&self, client: &impl Link) -> Option<&'static str> {
        let welcome = self.welcome?;
        let Some(world) = client.world() else {
            return Some("world-missing");
        };
        if self.shared.args.world_checks == WorldChecks::Protocol {
            return None;
        }
        let scale = POSITION_SCALE as i32;
        let (w, h) =
            (i32::from(welcome.world.width) * scale, i32::from(welcome.world.height) * scale);
        let outside = world.entities.iter().any(|e| {
            let (x, y) = (i32::from(e.pos.x), i32::from(e.pos.y));
            !(0..=w).contains(&x) || !(0..=h).contains(&y)
        });
        if outside {
            return Some(WORLD_ENTITY_OUT_OF_BOUNDS);
        }
        if welcome.role == tickwire_shared::Role::Player
            && let Some(ship) = welcome.entity
            && world.get(ship).is_none()
        {
            return Some(WORLD_OWN_SHIP_MISSING);
        }
        None
    }

    fn on_disconnected(&mut self, reason: &Disconnect) {
        // The session forgets the ping it waited for with the connection.
        self.ping_due = None;
        let label = reason_label(reason);
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
            Recorder::example(&mut recorder.drop_examples, &label, reason.to_string());
            Recorder::count(&mut recorder.drops, label);
            Counters::add(&self.shared.counters.dropped, 1);
            self.shared.counters.connected.fetch_sub(1, Ordering::Relaxed);
        } else if !self.ever_joined {
            Recorder::example(&mut recorder.failure_examples, &label, reason.to_string());
            Recorder::count(&mut recorder.failures, label);
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

    /// Records what the window says of this bot, once, at the stop (before a joined bot
    /// leaves) or at its end if that came first: its frames if it stayed, its inputs still
    /// unacknowledged (each an input-to-ack sample of its wait so far: a stall at the end of
    /// the window is not hidden by the leave), and a leave begun, unanswered until
    /// [`Bot::record_leave`] says otherwise. Recorded here, a bot whose leave the run stops
    /// waiting for still counts.
    pub(crate) fn close_window(&mut self, now: Instant, stats: Stats, link: &impl Link) {
        if self.window_closed {
            return;
        }
        let stayed = self.stayed();
        self.window_closed = true;
        {
            let mut recorder = self.shared.recorder();
            let ticks = self
                .window_ticks
                .map_or(0, |(first, last)| u64::from(last.0.saturating_sub(first.0)) + 1);
            if stayed {
                recorder.window_frames.push(WindowFrames { frames: self.frames_in_window, ticks });
            }
            if let Some(&start) = self.shared.window_start.get() {
                // Waits up to the window's end: this bot may get here a while after it, and
                // inputs queued meanwhile are not the window's.
                let end = self.shared.window_end.get().map_or(now, |&end| end.min(now));
                // The time this bot was there to receive frames, and the ticks its frames
                // spanned beyond it: what its frames are expected against.
                if let Some(joined_at) = self.joined_at {
                    let left = self.dropped_at.map_or(end, |at| at.min(end));
                    let present = left.saturating_duration_since(joined_at.max(start));
                    let due = present.as_secs_f64() / self.tick_period().as_secs_f64();
                    recorder.window_bot_seconds += present.as_secs_f64();
                    recorder.window_frames_received += self.frames_in_window;
                    recorder.window_ticks_beyond += (ticks as f64 - due).max(0.0);
                }
                // The gap still open at the window's end is an inter-arrival time of at least
                // that much: a stall the window ends in would otherwise leave no sample at
                // all. Only once it is longer than a tick: a shorter one says nothing (the
                // next snapshot was not due yet), and would read as jitter it is not.
                if self.joined
                    && self.shared.args.role.gets_snapshots()
                    && let Some(since) = self.last_window_frame.or(self.joined_at)
                {
                    let open = end.saturating_duration_since(since.max(start));
                    let period = self.tick_period();
                    if open > period {
                        recorder.record_interarrival(open, period);
                    }
                }
                for (_, queued) in self.inputs.drain(..) {
                    if queued < end {
                        recorder.input_to_ack.record(end - queued);
                        recorder.inputs_still_waiting += 1;
                    }
                }
                // A ping the window ends waiting for is a round trip of at least its wait so
                // far: a server that stops answering near the end would otherwise leave no
                // sample of it at all, and the round trips before would pass for the window.
                // Counted from when it was due, and once that is longer than a tick: the io_uring
                // engine sends a due ping with its next write, up to a tick later.
                if self.joined
                    && let Some(due) = self.ping_due.filter(|due| *due < end)
                    && end - due > self.tick_period()
                {
                    recorder.rtt.record(end - due);
                    recorder.pings_still_waiting += 1;
                }
            }
            if self.joined {
                recorder.leaves += 1;
            }
        }
        self.inputs.clear();
        self.record_stats(stats);
        self.flush_bytes(link);
    }

    /// Records how the leave of a joined bot ended: answered by the server, or not (as
    /// [`Bot::close_window`] counted it).
    pub(crate) fn record_leave(&mut self, end: End) {
        if let End::Left { answer: Some(code) } = end {
            let mut recorder = self.shared.recorder();
            recorder.leaves_answered += 1;
            *recorder.close_codes.entry(code).or_default() += 1;
        }
        if std::mem::replace(&mut self.joined, false) {
            self.shared.counters.connected.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Records what only the end of a bot can say.
    pub(crate) fn record_end(&mut self, stats: Stats, link: &impl Link) {
        self.close_window(Instant::now(), stats, link);
        self.record_stats(stats);
        self.flush_bytes(link);
    }

    /// Adds what the session counted since the last call.
    fn record_stats(&mut self, stats: Stats) {
        let before = std::mem::replace(&mut self.stats_recorded, stats);
        let mut recorder = self.shared.recorder();
        recorder.inputs_sent += stats.inputs_sent.saturating_sub(before.inputs_sent);
        recorder.inputs_acked += stats.inputs_acked.saturating_sub(before.inputs_acked);
        for (kind, n) in [
            ("snapshot-stale", stats.snapshots_stale.saturating_sub(before.snapshots_stale)),
            ("client-events-dropped", stats.events_dropped.saturating_sub(before.events_dropped)),
        ] {
            if n > 0 {
                *recorder.errors.entry(kind.to_string()).or_default() += n;
                Counters::add(&self.shared.counters.errors, n);
            }
        }
    }
}

/// The short name a failure or drop is counted under: the client's
/// [`Disconnect::label`], except for TCP connects, whose label the client builds from the
/// error's kind alone, where the bots name the cause an operator fixes (`dns` rather than
/// `connect-Uncategorized`, `connect-refused` rather than `connect-ConnectionRefused`).
pub(crate) fn reason_label(reason: &Disconnect) -> String {
    use std::io::ErrorKind;
    let Disconnect::Lost(LinkError::Connect { kind, message }) = reason else {
        return reason.label();
    };
    // std's resolver error: its kind is Uncategorized, which std does not let us match.
    if message.starts_with("failed to lookup address information") {
        return "dns".into();
    }
    match kind {
        ErrorKind::ConnectionRefused => "connect-refused".into(),
        ErrorKind::TimedOut => "connect-timed-out".into(),
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "connect-unreachable".into(),
        // A --source-ips address this host does not have, or no local port left for it.
        ErrorKind::AddrNotAvailable => "connect-no-local-address".into(),
        ErrorKind::PermissionDenied => "connect-permission-denied".into(),
        kind => format!("connect-{kind:?}"),
    }
}

/// The variant name of an error enum (`MissingBaseline(Tick(3))` → `MissingBaseline`).
fn variant(error: &impl std::fmt::Debug) -> String {
    let text = format!("{error:?}");
    text.split(['(', ' ', '{']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::BTreeMap;
    use tickwire_client::Session;
    use tickwire_shared::codec::encode_server;
    use tickwire_shared::delta::{ApplyError, delta};
    use tickwire_shared::{
        EntityId, EntityState, PlayerId, QVec2, ResumeToken, RoomName, RoundPhase, RoundState,
        ServerMessage, Tick, WorldBounds,
    };

    /// A bot's view of a session driven by the test, on the test's clock.
    struct SessionLink<'a>(&'a mut Session);

    impl Link for SessionLink<'_> {
        fn world(&self) -> Option<&World> {
            self.0.world()
        }

        fn send_input(&mut self, controls: Controls) -> Option<InputSeq> {
            self.0.send_input(controls).ok()
        }

        fn wire_bytes(&self) -> (u64, u64) {
            (0, 0)
        }
    }

    /// A player's Welcome (player and ship 3), for the bots' tests.
    pub(crate) fn player_welcome() -> Welcome {
        Welcome {
            player_id: PlayerId(3),
            role: tickwire_shared::Role::Player,
            room: RoomName::truncated("stall"),
            tick_rate: 30,
            world: WorldBounds { width: 1600, height: 1000 },
            view_radius: 700,
            entity: Some(EntityId(3)),
            resume_token: ResumeToken([7; 16]),
            resumed: false,
        }
    }

    /// A full snapshot of tick `tick` (the bot's ship alone) acknowledging `last_input`.
    fn snapshot(tick: u32, last_input: InputSeq) -> Vec<u8> {
        let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 };
        let ship = EntityState {
            id: EntityId(3),
            kind: 0,
            pos: QVec2 { x: 100, y: 100 },
            vel: QVec2::default(),
            heading: 0,
            flags: 1,
            value: 0,
        };
        let world = World::from_unsorted(Tick(tick), round, vec![ship]);
        encode_server(&ServerMessage::Snapshot(delta(None, &world, last_input, 30).unwrap()))
            .unwrap()
    }

    /// A player bot of `--input-rate HZ`, joined at `at` on a session driven by the test,
    /// its window open from `at`.
    fn joined_player(hz: u16, at: Instant) -> (Arc<Shared>, Session, Bot) {
        joined(&["--input-rate", &hz.to_string()], player_welcome(), at)
    }

    /// A bot of the command line `flags`, welcomed with `welcome` at `at` on a session driven
    /// by the test, its window open from `at`.
    fn joined(flags: &[&str], welcome: Welcome, at: Instant) -> (Arc<Shared>, Session, Bot) {
        let argv = [&["tickwire-bots"], flags].concat();
        let shared = Arc::new(Shared::new(Args::try_parse_from(argv).unwrap()));
        let args = &shared.args;
        let mut session = Session::new(client_config(args), identity(args, 0), at, 1);
        let mut bot = Bot::new(shared.clone(), at, 1);
        assert!(session.poll_connect(at));
        session.handle_connected(at);
        while session.poll_transmit(at).is_some() {}
        let welcome = encode_server(&ServerMessage::Welcome(welcome)).unwrap();
        session.handle_message(at, &welcome);
        deliver(&mut session, &mut bot, at);
        assert!(bot.is_joined());
        shared.window_start.set(at).unwrap();
        (shared, session, bot)
    }

    /// Hands the bot the session's events, at `now`.
    fn deliver(session: &mut Session, bot: &mut Bot, now: Instant) {
        while let Some(event) = session.poll_event() {
            assert!(bot.on_event(now, event, &mut SessionLink(session)));
        }
    }

    /// A test clock that starts in the past, so that the bot's own readings of the clock
    /// come after it.
    fn past(secs: u64) -> Instant {
        Instant::now().checked_sub(Duration::from_secs(secs)).expect("the clock runs")
    }

    #[test]
    fn a_room_stall_at_120_hz_is_measured_whole_not_cut_at_the_clients_memory() {
        let start = past(5);
        let (shared, mut session, mut bot) = joined_player(120, start);
        // The room stalls for a second: 120 inputs go out, no snapshot comes back.
        for i in 0..120u64 {
            let now = start + Duration::from_micros(i * 1_000_000 / 120);
            bot.send_input(now, &mut SessionLink(&mut session));
            while session.poll_transmit(now).is_some() {}
        }
        assert_eq!(session.stats().inputs_sent, 120, "paced at what --input-rate asks");
        // Then a snapshot reaches the newest.
        let end = start + Duration::from_secs(1);
        session.handle_message(end, &snapshot(1, InputSeq(120)));
        deliver(&mut session, &mut bot, end);
        assert_eq!(session.stats().inputs_acked, 120, "the client remembered every input");
        let ack = shared.recorder().input_to_ack.summary().expect("samples");
        assert_eq!(ack.samples, 120, "every input measured: {ack:?}");
        assert!(ack.max >= 990.0 && ack.p99 >= 980.0, "the whole stall shows: {ack:?}");
    }

    #[test]
    fn inputs_the_window_closes_on_count_at_their_wait_so_far() {
        let start = past(5);
        let (shared, mut session, mut bot) = joined_player(60, start);
        // The room stalls from the middle of the window to its end.
        for i in 0..30u64 {
            let now = start + Duration::from_micros(i * 1_000_000 / 60);
            bot.send_input(now, &mut SessionLink(&mut session));
            while session.poll_transmit(now).is_some() {}
        }
        let close = start + Duration::from_millis(1500);
        let stats = *session.stats();
        bot.close_window(close, stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let ack = recorder.input_to_ack.summary().expect("samples");
        assert_eq!((ack.samples, recorder.inputs_still_waiting), (30, 30), "{ack:?}");
        assert!(ack.max >= 1490.0 && ack.p50 >= 1000.0, "their wait so far: {ack:?}");
        assert_eq!((recorder.inputs_sent, recorder.inputs_acked), (30, 0));
    }

    #[test]
    fn an_input_let_go_of_then_acknowledged_is_one_sample() {
        let start = past(5);
        let (shared, mut session, mut bot) = joined_player(60, start);
        // The bot remembers fewer inputs than the session (a stall longer than its memory):
        // the ones it lets go of are counted then, and their acks later add nothing.
        bot.inputs_cap = 10;
        for i in 0..30u64 {
            let now = start + Duration::from_micros(i * 1_000_000 / 60);
            bot.send_input(now, &mut SessionLink(&mut session));
            while session.poll_transmit(now).is_some() {}
        }
        let end = start + Duration::from_secs(1);
        session.handle_message(end, &snapshot(1, InputSeq(30)));
        deliver(&mut session, &mut bot, end);
        let recorder = shared.recorder();
        let ack = recorder.input_to_ack.summary().expect("samples");
        assert_eq!((ack.samples, recorder.inputs_still_waiting), (30, 20), "{ack:?}");
    }

    #[test]
    fn inputs_after_the_windows_end_are_not_the_windows() {
        let start = past(5);
        let (shared, mut session, mut bot) = joined_player(60, start);
        let send = |bot: &mut Bot, session: &mut Session, i: u64| {
            let now = start + Duration::from_micros(i * 1_000_000 / 60);
            bot.send_input(now, &mut SessionLink(session));
            while session.poll_transmit(now).is_some() {}
        };
        for i in 0..10 {
            send(&mut bot, &mut session, i);
        }
        // The window ends at 0.5 s; this bot gets to its close a while later, acking and
        // queuing inputs meanwhile.
        let end = start + Duration::from_millis(500);
        shared.window_end.set(end).unwrap();
        for i in 30..40 {
            send(&mut bot, &mut session, i);
        }
        let late = start + Duration::from_millis(700);
        session.handle_message(late, &snapshot(1, InputSeq(5)));
        deliver(&mut session, &mut bot, late);
        bot.close_window(
            start + Duration::from_secs(1),
            *session.stats(),
            &SessionLink(&mut session),
        );
        let recorder = shared.recorder();
        let ack = recorder.input_to_ack.summary().expect("samples");
        // Inputs 1 to 10, all waiting at the end of the window (1 to 5 acknowledged after
        // it, 6 to 10 at the close), and nothing queued after it.
        assert_eq!((ack.samples, recorder.inputs_still_waiting), (10, 10), "{ack:?}");
        assert!(ack.max <= 501.0, "waits are counted up to the window's end: {ack:?}");
    }

    #[test]
    fn a_stall_that_reaches_the_windows_end_shows_in_the_inter_arrival_times() {
        let start = past(5);
        let welcome =
            Welcome { role: tickwire_shared::Role::Spectator, entity: None, ..player_welcome() };
        let (shared, mut session, mut bot) = joined(&["--role", "spectator"], welcome, start);
        // A snapshot every 33 ms for a second, then nothing until the window ends at 3 s.
        for tick in 1..=30u32 {
            let at = start + Duration::from_millis(33 * u64::from(tick));
            session.handle_message(at, &snapshot(tick, InputSeq(0)));
            deliver(&mut session, &mut bot, at);
        }
        let end = start + Duration::from_secs(3);
        shared.window_end.set(end).unwrap();
        // The stall ends just after the window, before this bot gets to its close.
        let late = end + Duration::from_millis(50);
        session.handle_message(late, &snapshot(31, InputSeq(0)));
        deliver(&mut session, &mut bot, late);
        let stats = *session.stats();
        bot.close_window(end + Duration::from_millis(200), stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let gaps = recorder.interarrival.summary().expect("samples");
        assert!(gaps.max >= 1990.0, "the open gap up to the window's end counts: {gaps:?}");
        let jitter = recorder.jitter.summary().expect("samples");
        assert!(jitter.max >= 1950.0, "{jitter:?}");
        assert_eq!(recorder.errors, BTreeMap::new());
    }

    #[test]
    fn a_healthy_bot_adds_no_partial_gap_at_the_windows_end() {
        let start = past(5);
        let welcome =
            Welcome { role: tickwire_shared::Role::Spectator, entity: None, ..player_welcome() };
        let (shared, mut session, mut bot) = joined(&["--role", "spectator"], welcome, start);
        for tick in 1..=30u32 {
            let at = start + Duration::from_millis(33 * u64::from(tick));
            session.handle_message(at, &snapshot(tick, InputSeq(0)));
            deliver(&mut session, &mut bot, at);
        }
        // The window ends 5 ms after the last snapshot: the next one was not due yet.
        let end = start + Duration::from_millis(33 * 30 + 5);
        shared.window_end.set(end).unwrap();
        let stats = *session.stats();
        bot.close_window(end, stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let jitter = recorder.jitter.summary().expect("samples");
        assert_eq!(jitter.samples, 29, "consecutive snapshots only: {jitter:?}");
        assert!(jitter.max < 5.0, "{jitter:?}");
    }

    /// A server that welcomes its bots and then sends nothing, nor answers their leave, fails
    /// a run with no threshold given.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_server_that_sends_no_snapshots_fails_the_default_checks() {
        let url = deaf_server().await;
        let argv = ["tickwire-bots", "--quiet", "--url", &url, "--bots", "1"];
        let args =
            Args::try_parse_from(argv.iter().chain(&["--role", "spectator", "--duration", "1s"]))
                .unwrap();
        let report = crate::run::run(args, std::future::pending()).await;
        let table = report.table();
        assert_eq!((report.bots.joined, report.bots.stayed), (1, 1), "{table}");
        assert!(!report.passed, "{table}");
        let failed: Vec<&str> =
            report.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect();
        assert_eq!(
            failed,
            ["every bot got snapshots", "frames delivered of expected", "every leave answered"],
            "{table}"
        );
    }

    /// A controller's Welcome (player and ship 3).
    fn controller_welcome() -> Welcome {
        Welcome { role: tickwire_shared::Role::Controller, ..player_welcome() }
    }

    /// The session's pings due at `at`, sent; their nonces.
    fn send_pings(session: &mut Session, at: Instant) -> Vec<u32> {
        std::iter::from_fn(|| session.poll_transmit(at))
            .filter_map(|bytes| match tickwire_shared::codec::decode_client(&bytes).unwrap() {
                tickwire_shared::ClientMessage::Ping(ping) => Some(ping.nonce),
                _ => None,
            })
            .collect()
    }

    fn pong(nonce: u32) -> Vec<u8> {
        encode_server(&ServerMessage::Pong(tickwire_shared::Pong { nonce, server_tick: Tick(1) }))
            .unwrap()
    }

    #[test]
    fn a_ping_the_window_closes_on_counts_at_its_wait_so_far() {
        let start = past(10);
        let (shared, mut session, mut bot) =
            joined(&["--role", "controller"], controller_welcome(), start);
        // Answered at once at 1 s; the server then freezes, and the ping of 2 s is never
        // answered in the window, which ends at 5 s.
        let at = start + Duration::from_secs(1);
        assert_eq!(send_pings(&mut session, at), [1]);
        let answered = at + Duration::from_micros(100);
        session.handle_message(answered, &pong(1));
        deliver(&mut session, &mut bot, answered);
        let at = start + Duration::from_secs(2);
        assert_eq!(send_pings(&mut session, at), [2]);
        let end = start + Duration::from_secs(5);
        shared.window_end.set(end).unwrap();
        let stats = *session.stats();
        bot.close_window(end + Duration::from_millis(10), stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let rtt = recorder.rtt.summary().expect("samples");
        assert_eq!((rtt.samples, recorder.pings_still_waiting), (2, 1), "{rtt:?}");
        assert!(rtt.max >= 2990.0 && rtt.max <= 3001.0, "waited from 2 s to 5 s: {rtt:?}");
    }

    #[test]
    fn a_pong_after_the_windows_end_counts_up_to_the_end_and_a_healthy_bot_adds_nothing() {
        let start = past(10);
        let (shared, mut session, mut bot) =
            joined(&["--role", "controller"], controller_welcome(), start);
        let at = start + Duration::from_secs(1);
        assert_eq!(send_pings(&mut session, at), [1]);
        // The window ends 200 ms into the wait, and the answer comes 300 ms later, before
        // this bot gets to its close.
        let end = at + Duration::from_millis(200);
        shared.window_end.set(end).unwrap();
        let late = end + Duration::from_millis(300);
        session.handle_message(late, &pong(1));
        deliver(&mut session, &mut bot, late);
        let stats = *session.stats();
        bot.close_window(late, stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let rtt = recorder.rtt.summary().expect("a sample");
        assert_eq!((rtt.samples, recorder.pings_still_waiting), (1, 1), "{rtt:?}");
        assert!((199.0..=201.0).contains(&rtt.max), "its wait up to the end: {rtt:?}");
        drop(recorder);

        // Sent 5 ms before the end and answered 5 ms after it: a healthy ping, its own rtt.
        let (shared, mut session, mut bot) =
            joined(&["--role", "controller"], controller_welcome(), start);
        assert_eq!(send_pings(&mut session, at), [1]);
        let end = at + Duration::from_millis(5);
        shared.window_end.set(end).unwrap();
        let answered = end + Duration::from_millis(5);
        session.handle_message(answered, &pong(1));
        deliver(&mut session, &mut bot, answered);
        let stats = *session.stats();
        bot.close_window(answered, stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let rtt = recorder.rtt.summary().expect("a sample");
        assert_eq!((rtt.samples, recorder.pings_still_waiting), (1, 0), "{rtt:?}");
        assert!((9.0..=11.0).contains(&rtt.max), "its own round trip: {rtt:?}");
        drop(recorder);

        // The next ping was due 5 ms before the window's end: not overdue yet.
        let (shared, mut session, mut bot) =
            joined(&["--role", "controller"], controller_welcome(), start);
        let end = start + Duration::from_millis(1005);
        shared.window_end.set(end).unwrap();
        let stats = *session.stats();
        bot.close_window(end, stats, &SessionLink(&mut session));
        assert!(shared.recorder().rtt.is_empty());
    }

    #[test]
    fn a_bot_records_the_ticks_its_window_frames_span() {
        let start = past(5);
        let welcome =
            Welcome { role: tickwire_shared::Role::Spectator, entity: None, ..player_welcome() };
        let (shared, mut session, mut bot) = joined(&["--role", "spectator"], welcome, start);
        // Ticks 7 to 37, one every 1/30 s from the window's start to its end at 1 s: 31 frames
        // in a window of 30 ticks, none skipped.
        for tick in 7..=37u32 {
            let at = start + Duration::from_micros(u64::from(tick - 7) * 1_000_000 / 30);
            session.handle_message(at, &snapshot(tick, InputSeq(0)));
            deliver(&mut session, &mut bot, at);
        }
        let end = start + Duration::from_secs(1) + Duration::from_micros(1);
        shared.window_end.set(end).unwrap();
        let stats = *session.stats();
        bot.close_window(end, stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        assert_eq!(recorder.window_frames, [WindowFrames { frames: 31, ticks: 31 }]);
        assert_eq!(recorder.frames_skipped, 0);
    }

    #[test]
    fn a_gap_in_the_tick_numbers_counts_the_frames_the_bot_never_got() {
        let start = past(5);
        let welcome =
            Welcome { role: tickwire_shared::Role::Spectator, entity: None, ..player_welcome() };
        let (shared, mut session, mut bot) = joined(&["--role", "spectator"], welcome, start);
        // Ticks 7, 8, then 11: the snapshots of ticks 9 and 10 were replaced before it read
        // them.
        for (i, tick) in [7u32, 8, 11].into_iter().enumerate() {
            let at = start + Duration::from_millis(i as u64 * 33);
            session.handle_message(at, &snapshot(tick, InputSeq(0)));
            deliver(&mut session, &mut bot, at);
        }
        assert_eq!(shared.recorder().frames_skipped, 2);
    }

    #[test]
    fn a_bot_that_drops_in_the_window_was_present_until_then() {
        let start = past(5);
        let welcome =
            Welcome { role: tickwire_shared::Role::Spectator, entity: None, ..player_welcome() };
        let (shared, mut session, mut bot) = joined(&["--role", "spectator"], welcome, start);
        let drop = start + Duration::from_millis(400);
        session.handle_lost(drop, LinkError::Eof);
        while let Some(event) = session.poll_event() {
            bot.on_event(drop, event, &mut SessionLink(&mut session));
        }
        shared.window_end.set(start + Duration::from_secs(1)).unwrap();
        let stats = *session.stats();
        bot.close_window(start + Duration::from_secs(2), stats, &SessionLink(&mut session));
        let recorder = shared.recorder();
        let present = recorder.window_bot_seconds;
        assert!((present - 0.4).abs() < 1e-9, "{present}");
        assert_eq!(recorder.drops.get("lost-eof"), Some(&1));
    }

    #[test]
    fn connect_failures_are_named_by_what_to_fix_with_an_example() {
        let connect = |e: std::io::Error| Disconnect::Lost(LinkError::connect(&e));
        // std's resolver error, whose kind (Uncategorized) the client's label shows.
        let dns = connect(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(reason_label(&dns), "dns");
        let refused = connect(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(reason_label(&refused), "connect-refused");
        let unreachable = connect(std::io::ErrorKind::HostUnreachable.into());
        assert_eq!(reason_label(&unreachable), "connect-unreachable");
        let tls = Disconnect::Lost(LinkError::Tls("received corrupt message".into()));
        assert_eq!(reason_label(&tls), "tls", "the client's own label");

        // Each reason keeps its first message.
        let args = Args::try_parse_from(["tickwire-bots", "--role", "spectator"]).unwrap();
        let shared = Arc::new(Shared::new(args));
        for reason in [&dns, &tls, &dns] {
            Bot::new(shared.clone(), Instant::now(), 1).on_disconnected(reason);
        }
        let recorder = shared.recorder();
        assert_eq!(recorder.failures, BTreeMap::from([("dns".into(), 2), ("tls".into(), 1)]));
        assert_eq!(
            recorder.failure_examples["dns"],
            "cannot connect: failed to lookup address information: Name or service not known"
        );
        assert_eq!(
            recorder.failure_examples["tls"],
            "TLS handshake failed: received corrupt message"
        );
    }

    #[test]
    fn error_kinds_are_variant_names() {
        assert_eq!(variant(&ApplyError::MissingBaseline(Tick(3))), "MissingBaseline");
        assert_eq!(variant(&ApplyError::TrailingBits), "TrailingBits");
        assert_eq!(
            variant(&tickwire_shared::DecodeError::TrailingBytes { extra: 2 }),
            "TrailingBytes"
        );
    }

    /// A server that upgrades one connection, welcomes it and then never reads again: the
    /// bot's leave is never answered.
    #[cfg(target_os = "linux")]
    async fn deaf_server() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut buf = [0; 1024];
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the request head ended early");
                head.extend_from_slice(&buf[..n]);
            }
            let head = String::from_utf8_lossy(&head);
            let key = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim())
                })
                .expect("a WebSocket key");
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
                derive_accept_key(key.as_bytes()),
                tickwire_shared::SUBPROTOCOL,
            );
            stream.write_all(response.as_bytes()).await.unwrap();
            let welcome = Welcome {
                role: tickwire_shared::Role::Spectator,
                entity: None,
                ..player_welcome()
            };
            let payload = encode_server(&ServerMessage::Welcome(welcome)).unwrap();
            let mut frame = vec![0x82, u8::try_from(payload.len()).unwrap()];
            frame.extend_from_slice(&payload);
            stream.write_all(&frame).await.unwrap();
            std::future::pending::<()>().await;
            drop(stream);
        });
        url
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_bot_whose_leave_is_cut_short_still_stayed_and_left_unanswered() {
        let url = deaf_server().await;
        let argv = ["tickwire-bots", "--url", &url, "--role", "spectator"];
        let shared = Arc::new(Shared::new(Args::try_parse_from(argv).unwrap()));
        let task = tokio::spawn(run_bot(shared.clone(), 0));
        tokio::time::timeout(Duration::from_secs(10), async {
            while Counters::get(&shared.counters.connected) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the bot joined");
        shared.window_start.set(Instant::now()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        shared.window_end.set(Instant::now()).unwrap();
        shared.stop.cancel();
        // The bot waits for an answer (the client's close timeout is 2 s) when the run's
        // patience runs out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!task.is_finished(), "still waiting for the answer");
        task.abort();
        let _ = task.await;
        let recorder = shared.recorder();
        assert_eq!(recorder.window_frames, [WindowFrames::default()], "it stayed the window");
        assert_eq!((recorder.leaves, recorder.leaves_answered), (1, 0), "one leave, unanswered");
    }

    #[test]
    fn input_rate_hz_is_never_paced_below_what_it_asks() {
        let config = |rate: &str| {
            let args = Args::try_parse_from(["tickwire-bots", "--input-rate", rate]).unwrap();
            client_config(&args).input_rate_per_sec
        };
        assert_eq!(config("tick"), None, "the client's default: one a tick of the room");
        assert_eq!(config("60"), Some(60));
        assert_eq!(config("120"), Some(120), "what the flag asks, up to the server's own limit");
    }
}
