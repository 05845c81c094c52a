//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! One [`Metrics`] is shared by every task (`Arc`); each metric is an atomic, so recording
//! never takes a lock on the tick path.

use crate::connection::close_code;
use crate::inputs::InputReport;
use crate::proxy::Peer;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tickwire_shared::{KickReason, Role};

/// Every reason [`Metrics::refused`] counts, present at 0 from the start.
pub const REFUSAL_REASONS: [&str; 26] = [
    "accept_failed",
    "http_full",
    "tcp_per_ip",
    "tcp_rate",
    "plain_http",
    "admin_full",
    "head_too_large",
    "not_upgrade",
    "cross_protocol",
    "ws_version",
    "ws_key",
    "origin",
    "subprotocol",
    "hop",
    "shutting_down",
    "auth",
    "server_full",
    "per_ip",
    "held_per_ip",
    "join_rate",
    "unknown_session",
    "post_rate",
    "post_too_large",
    "bad_record",
    "admin_auth",
    "admin_guess_rate",
];

/// The closes present at 0 from the start: every code the server sends of its own, the
/// goodbyes clients send most, and connections lost without a closing handshake.
const KNOWN_CLOSES: [(u16, Initiator); 13] = [
    (close_code::NORMAL, Initiator::Server),
    (close_code::GOING_AWAY, Initiator::Server),
    (close_code::PROTOCOL, Initiator::Server),
    (close_code::UNSUPPORTED, Initiator::Server),
    (close_code::INVALID_DATA, Initiator::Server),
    (close_code::POLICY, Initiator::Server),
    (close_code::TOO_BIG, Initiator::Server),
    (close_code::INTERNAL, Initiator::Server),
    (close_code::TRY_AGAIN_LATER, Initiator::Server),
    (crate::cluster::MISDIRECTED, Initiator::Server),
    (close_code::NORMAL, Initiator::Client),
    (close_code::GOING_AWAY, Initiator::Client),
    (close_code::ABNORMAL, Initiator::Client),
];

/// How often a refusal is logged above debug at most (see [`Metrics::refused`]): often enough
/// that an operator sees a wrong secret or a clock skew within seconds, seldom enough that a
/// peer refused in a loop writes a few lines a minute.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Which refusals are logged at info, sans IO (the caller passes the time): the first after a
/// quiet [`REFUSAL_LOG_INTERVAL`], and then none until the interval has passed, those being
/// counted by reason for the next line to report.
#[derive(Debug, Default)]
pub struct RefusalLog {
    state: Mutex<RefusalLogState>,
}

#[derive(Debug, Default)]
struct RefusalLogState {
    /// When the last line was written above debug.
    last_line: Option<Instant>,
    /// Refusals logged only at debug since, by reason.
    since: BTreeMap<&'static str, u64>,
}

/// Refusals logged only at debug since the last line above debug, by reason: `auth=3 origin=1`,
/// or `none`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuietRefusals(pub BTreeMap<&'static str, u64>);

impl std::fmt::Display for QuietRefusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, (reason, count)) in self.0.iter().enumerate() {
            let space = if i == 0 { "" } else { " " };
            write!(f, "{space}{reason}={count}")?;
        }
        Ok(())
    }
}

impl RefusalLog {
    /// Notes a refusal for `reason` at `now`: `Some` with the refusals kept quiet since the
    /// last line when this one is to be logged above debug, `None` when it is kept quiet.
    pub fn note(&self, reason: &'static str, now: Instant) -> Option<QuietRefusals> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let due = state
            .last_line
            .is_none_or(|last| now.saturating_duration_since(last) >= REFUSAL_LOG_INTERVAL);
        if !due {
            *state.since.entry(reason).or_default() += 1;
            return None;
        }
        state.last_line = Some(now);
        Some(QuietRefusals(std::mem::take(&mut state.since)))
    }
}

/// Label value for a client's role: `player`, `spectator` or `controller`, as the seats API,
/// `mint-token --role` and the bots spell it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RoleLabel {
    Player,
    Spectator,
    Controller,
}

impl RoleLabel {
    /// The label value.
    pub const fn name(self) -> &'static str {
        match self {
            RoleLabel::Player => "player",
            RoleLabel::Spectator => "spectator",
            RoleLabel::Controller => "controller",
        }
    }
}

impl EncodeLabelValue for RoleLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.name(), encoder)
    }
}

impl From<Role> for RoleLabel {
    fn from(role: Role) -> Self {
        match role {
            Role::Player => RoleLabel::Player,
            Role::Spectator => RoleLabel::Spectator,
            Role::Controller => RoleLabel::Controller,
        }
    }
}

/// `role` label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// The role.
    pub role: RoleLabel,
}

/// Who started a closing handshake: label value `client` or `server`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Initiator {
    /// The client sent the first close frame; the server's is the echo.
    Client,
    /// The server sent the first close frame (a kick, a refusal, shutdown).
    Server,
}

impl Initiator {
    /// The label value.
    pub const fn name(self) -> &'static str {
        match self {
            Initiator::Client => "client",
            Initiator::Server => "server",
        }
    }
}

impl EncodeLabelValue for Initiator {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.name(), encoder)
    }
}

/// `reason` label set of a kick ([`Metrics::server_closed`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KickLabels {
    /// The `KickReason`, in snake case ([`kick_label`]).
    pub reason: &'static str,
}

/// The `reason` label of a `KickReason`: its name in snake case.
pub const fn kick_label(reason: KickReason) -> &'static str {
    match reason {
        KickReason::VersionMismatch { .. } => "version_mismatch",
        KickReason::BadHello => "bad_hello",
        KickReason::MalformedMessage => "malformed_message",
        KickReason::Full => "full",
        KickReason::ResumeRejected => "resume_rejected",
        KickReason::RateLimited => "rate_limited",
        KickReason::Idle => "idle",
        KickReason::TooSlow => "too_slow",
        KickReason::Replaced => "replaced",
        KickReason::ShuttingDown => "shutting_down",
        KickReason::Removed => "removed",
    }
}

/// `action` label set of an operator's action ([`Metrics::moderation_action`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// `remove`, `remove_and_ban`, `mute`, `unmute`, `ban` or `lift`.
    pub action: &'static str,
}

/// The `action` values of `tickwire_moderation_actions_total`.
pub const MODERATION_ACTIONS: [&str; 6] =
    ["remove", "remove_and_ban", "mute", "unmute", "ban", "lift"];

/// `code` and `initiator` label set of a close.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    /// The close code of the server's close frame. A client's own private code (3000 to 4999,
    /// other than the protocol's 4002) is counted as 3000 or 4000 (see [`Metrics::closed`]).
    /// 1006, never sent, counts a connection lost without a closing handshake (initiator
    /// `Client`: see [`Metrics::connection_lost`]).
    pub code: u16,
    /// Who closed first.
    pub initiator: Initiator,
}

/// `transport` label set: `ws`, `stream` or `poll` ([`crate::transport::Transport::name`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    /// The transport's name.
    pub transport: &'static str,
}

/// `role` and `transport` label set of a client's round trip ([`Metrics::round_trip`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoundTripLabels {
    /// The client's role.
    pub role: RoleLabel,
    /// `ws`, `stream` or `poll`.
    pub transport: &'static str,
}

/// `role` and `outcome` label set of a ship's ticks ([`Metrics::input_window`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InputTickLabels {
    /// `player` or `controller`.
    pub role: RoleLabel,
    /// `own` (the tick applied the input the client sent for it) or `late` (none had come:
    /// the tick played the client's last input again).
    pub outcome: &'static str,
}

/// Makes the histograms of a family whose bounds are known at run time only.
#[derive(Debug, Clone)]
pub struct Buckets(std::sync::Arc<[f64]>);

impl Buckets {
    /// Bounds at these multiples of `period` ([`period_multiples`]).
    fn periods(period: Duration, multiples: &[f64]) -> Self {
        Buckets(period_multiples(period, multiples).collect())
    }
}

/// Seconds at these multiples of `period` (at least 1 ms), in whole microseconds, so the `le`
/// labels read as the period does (0.033333 at 30 Hz).
fn period_multiples(period: Duration, multiples: &[f64]) -> impl Iterator<Item = f64> + '_ {
    let period = period.as_secs_f64().max(1e-3);
    multiples.iter().map(move |k| (k * period * 1e6).round() / 1e6)
}

impl prometheus_client::metrics::family::MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A histogram family whose histograms share their buckets.
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// `reason` label set (why an upgrade was refused).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Short reason.
    pub reason: &'static str,
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Clients in rooms, by role.
    pub clients: Family<RoleLabels, Gauge>,
    /// Clients seated in rooms, by transport (WebSocket or an HTTP fallback).
    pub transport_clients: Family<TransportLabels, Gauge>,
    /// Open rooms.
    pub rooms: Gauge,
    /// Rooms in use: open rooms but the empty ones waiting out `--room-idle-grace`, which make
    /// way for new rooms, so only these count against `--max-rooms`. Set as `/metrics` is
    /// read ([`crate::context::ServerContext::rooms_in_use`]).
    pub rooms_in_use: Gauge,
    /// Rooms in one tick or command for longer than [`crate::room::STUCK_AFTER`]: a game
    /// stuck or far too slow, which every room on its thread waits behind.
    pub rooms_stuck: Gauge,
    /// Open sessions, WebSocket or HTTP fallback, seated or not: what `--max-connections` and
    /// `--max-connections-per-ip` cap (both transports are admitted alike).
    pub sessions: Gauge,
    /// Resume tokens the directory holds (seats attached or waiting for a resume).
    pub resume_tokens: Gauge,
    /// Time spent in one room tick (simulate, encode, hand frames to clients, and write those
    /// of idle clients to their sockets itself, up to half a tick), seconds.
    pub tick_duration: Histogram,
    /// Clients' round trips ([`crate::latency`]): the age of the newest tick a client acked
    /// when its ack arrived, sampled at most once a second per client, by role and transport.
    pub round_trips: HistogramFamily<RoundTripLabels>,
    /// Ships' ticks by whether their input had come ([`crate::inputs::InputReport`]), counted
    /// a window (about a second) at a time, for clients that send at the ticks' pace only.
    pub input_ticks: Family<InputTickLabels, Counter>,
    /// Inputs folded into a later one without a tick of their own, by role.
    pub inputs_folded: Family<RoleLabels, Counter>,
    /// The ticks a client's inputs waited in the server's input queue past their first
    /// possible tick, seconds: the input delay the jitter buffer adds, a client's mean over
    /// each window (about a second), by role.
    pub input_buffer: Family<RoleLabels, Histogram, Buckets>,
    /// Ticks that started later than one tick period after they were due, or took longer than
    /// one period; an overrun that also delays the next tick counts once.
    pub late_ticks: Counter,
    /// Ticks a late room skipped to keep its schedule (a stall of 300 ms at 30 Hz: 8): one late
    /// tick can stand for many lost.
    pub ticks_skipped: Counter,
    /// 1 while the node drains (a node of a fleet that was told to stop): an alert tells a
    /// drain from a stuck node by it.
    pub draining: Gauge,
    /// Frames written to clients: a snapshot, or a tick's reliable messages (sent together),
    /// or one other message (welcome, pong, kick).
    pub frames_sent: Counter,
    /// Bytes written to clients' sockets, WebSocket headers included.
    pub bytes_sent: Counter,
    /// Bytes read from clients: WebSocket frames, headers included, and the HTTP fallback's
    /// POST bodies (not request heads, nor pages and assets).
    pub bytes_received: Counter,
    /// Write calls on clients' sockets: everything one client gets in a tick goes out in one.
    pub socket_writes: Counter,
    /// `--io-uring`: batches of rooms' direct writes submitted through a ring (each carries up
    /// to 128 clients' frames; 0 without the flag, or where the kernel refused a ring).
    pub uring_batches: Counter,
    /// Chat lines a room did not relay because the room's own chat rate was exceeded.
    pub chat_dropped: Counter,
    /// Chat lines a room did not relay because an operator muted their sender.
    pub chat_muted: Counter,
    /// Snapshots replaced before a slow client's socket took them.
    pub frames_skipped: Counter,
    /// Close frames the server sent (its own or its echo of the client's), by code and by who
    /// closed first; and, as 1006 from the client, connections that ended without a closing
    /// handshake, for which no frame could be sent.
    pub closes: Family<CloseLabels, Counter>,
    /// The server's closes that came with a `Kick`, by its reason (what close 1008 alone does
    /// not tell: idle, too slow, rate limited, replaced, removed ...).
    pub kicks: Family<KickLabels, Counter>,
    /// Operators' actions (`--admin-token`), by action.
    pub moderation_actions: Family<ActionLabels, Counter>,
    /// Seats taken back with a resume token.
    pub resumes: Counter,
    /// Seats given to new joiners, by role (resumes apart): the join rate, which the clients
    /// gauge alone does not tell from churn.
    pub joins: Family<RoleLabels, Counter>,
    /// Seats an operator removed (a kick, or a ban that covered a seated client).
    pub clients_removed: Counter,
    /// `Hello`s refused because an operator's ban covers the client's address or name.
    pub joins_banned: Counter,
    /// Join tokens taken that only the previous key (`--join-previous-secret` or
    /// `--join-previous-public-key`) verifies: while it counts, the key being rotated out is
    /// still in use.
    pub join_tokens_previous_key: Counter,
    /// How many join keys are in force: 2 while a key rotates (the previous one too), 1
    /// otherwise, 0 without join tokens. Not their prints: `/metrics` may be public, and a
    /// print of a short secret could be guessed from offline (the log shows them).
    pub join_keys: Gauge,
    /// 1 while the last SIGHUP could not read the join keys (a file missing, a current key
    /// emptied, not a key): the keys in force are older than the files, until a SIGHUP reads
    /// them all. The log says why.
    pub join_key_reload_failed: Gauge,
    /// Connections and requests refused, by reason (see [`Metrics::refused`]).
    pub refused: Family<ReasonLabels, Counter>,
    /// Clients this node relays to the node hosting their room (cluster mode).
    pub proxied_sessions: Gauge,
    /// Checks of this node's own `--node-url`, by who answered there (cluster mode; anything
    /// but `self` means the fleet cannot reach this node's rooms).
    pub node_url_checks: Family<ReachedLabels, Counter>,
    /// HTTP fallback requests this node passed on to the node holding their session (cluster
    /// mode).
    pub fallback_forwarded: Counter,
    /// What [`Metrics::refused`] logs, at most a line per [`REFUSAL_LOG_INTERVAL`] above debug.
    refusal_log: RefusalLog,
}

/// `reached` label set: who answered at a node's own `--node-url` (cluster mode).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReachedLabels {
    /// `self`, `other_node`, `not_a_node` or `unreachable`.
    pub reached: &'static str,
}

/// The `reached` values of `tickwire_node_url_checks_total`.
pub const REACHED: [&str; 4] = ["self", "other_node", "not_a_node", "unreachable"];

/// Labels of `tickwire_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The server crate's version.
    pub version: &'static str,
    /// `tickwire_shared::PROTOCOL_VERSION`.
    pub protocol: String,
}

/// `node` label set (cluster mode).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// The node's name (`--node-id`).
    pub node: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The tick-duration buckets (seconds) for ticks of `period`: doubling from 50 us up to half
/// the period, then bounds at 1/2, 3/4, 1, 1.5, 2, 4, 8, 16 and 32 periods (the tail says how
/// bad a stall was: a p99 past the last bound reads as that bound). The bounds follow
/// `--tick-rate`: nodes of a fleet summed in one `histogram_quantile` must share it. A bucket ending at the period
/// itself lets `histogram_quantile` and the dashboard tell a tick within its budget from one
/// over it; with only doubling bounds the period fell inside a bucket (25.6-51.2 ms at 30 Hz),
/// and a p99 estimated inside it read as over budget when no tick was.
pub fn tick_buckets(period: Duration) -> Vec<f64> {
    let period = period.as_secs_f64().max(1e-3);
    let mut buckets: Vec<f64> = std::iter::successors(Some(0.000_05), |b| Some(b * 2.0))
        .take_while(|b| *b < period / 2.0)
        .collect();
    let periods = [0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0, 32.0];
    buckets.extend(period_multiples(Duration::from_secs_f64(period), &periods));
    buckets
}

impl Metrics {
    /// Registers every metric under the `tickwire_` prefix, for rooms ticking at 30 Hz.
    pub fn new() -> Self {
        Self::for_tick_period(Duration::from_secs(1) / 30)
    }

    /// Registers every metric under the `tickwire_` prefix, the tick duration's buckets
    /// placed around `tick_period` (see [`tick_buckets`]).
    pub fn for_tick_period(tick_period: Duration) -> Self {
        let mut registry = Registry::with_prefix("tickwire");
        let clients = Family::<RoleLabels, Gauge>::default();
        let transport_clients = Family::<TransportLabels, Gauge>::default();
        let rooms = Gauge::default();
        let rooms_in_use = Gauge::default();
        let rooms_stuck = Gauge::default();
        let sessions = Gauge::default();
        let resume_tokens = Gauge::default();
        let tick_duration = Histogram::new(tick_buckets(tick_period));
        let late_ticks = Counter::default();
        let round_trips: HistogramFamily<RoundTripLabels> =
            Family::new_with_constructor(|| Histogram::new(crate::latency::ROUND_TRIP_BUCKETS));
        let input_ticks = Family::<InputTickLabels, Counter>::default();
        let inputs_folded = Family::<RoleLabels, Counter>::default();
        // In tick periods, as the queue holds inputs: half a tick tells a buffer that is
        // sometimes used from one that always is; a fleet's nodes share `--tick-rate`.
        let input_buffer = Family::new_with_constructor(Buckets::periods(
            tick_period,
            &[0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0],
        ));
        let draining = Gauge::default();
        // The release and the protocol its clients speak: which node runs what while a fleet
        // upgrades (a protocol bump turns away the clients of the other until they update).
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                protocol: tickwire_shared::PROTOCOL_VERSION.to_string(),
            })
            .set(1);
        registry.register("build_info", "The release this node runs (version) and the protocol version its clients speak (protocol)", build);
        registry.register(
            "draining",
            "1 while this node drains: its matches play their round out, new ones open elsewhere",
            draining.clone(),
        );
        let ticks_skipped = Counter::default();
        let kicks = Family::<KickLabels, Counter>::default();
        let moderation_actions = Family::<ActionLabels, Counter>::default();
        let frames_sent = Counter::default();
        let bytes_sent = Counter::default();
        let bytes_received = Counter::default();
        let socket_writes = Counter::default();
        let uring_batches = Counter::default();
        let chat_dropped = Counter::default();
        let chat_muted = Counter::default();
        let frames_skipped = Counter::default();
        let closes = Family::<CloseLabels, Counter>::default();
        let resumes = Counter::default();
        let joins = Family::<RoleLabels, Counter>::default();
        let clients_removed = Counter::default();
        let joins_banned = Counter::default();
        let join_tokens_previous_key = Counter::default();
        let join_keys = Gauge::default();
        let join_key_reload_failed = Gauge::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let proxied_sessions = Gauge::default();
        let fallback_forwarded = Counter::default();
        registry.register(
            "clients",
            "Clients in rooms, by role, seats held for a resume (--resume-grace) included",
            clients.clone(),
        );
        registry.register(
            "transport_clients",
            "Clients seated in rooms, by transport (ws, stream, poll)",
            transport_clients.clone(),
        );
        registry.register("rooms", "Open rooms", rooms.clone());
        registry.register(
            "rooms_in_use",
            "Rooms in use: open rooms but the empty ones waiting to close, which make way for new ones (what --max-rooms counts)",
            rooms_in_use.clone(),
        );
        // When this process started (Unix seconds): a node that restarts again and again shows
        // in how often it changes, where `up` would miss a restart between two scrapes.
        let started = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        // The first server's start stands for the process's (a program may run several).
        static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
        started.set(*STARTED.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64())
        }));
        registry.register(
            "process_start_time_seconds",
            "When this server process started, in seconds since the Unix epoch",
            started,
        );
        registry.register(
            "rooms_stuck",
            "Rooms in one tick or command for 2 s or more: a game stuck or far too slow, which every room on its thread waits behind",
            rooms_stuck.clone(),
        );
        registry.register(
            "sessions",
            "Open sessions, WebSocket or HTTP fallback (tickwire_transport_clients splits the seated ones by transport)",
            sessions.clone(),
        );
        registry.register("resume_tokens", "Resume tokens held", resume_tokens.clone());
        registry.register(
            "tick_duration_seconds",
            "Time spent in one room tick, including the frames it writes to idle clients' sockets itself",
            tick_duration.clone(),
        );
        registry.register(
            "round_trip_seconds",
            "Clients' round trips as the server sees them: the age of the newest snapshot a client acked when its ack arrived (the server's queues, the network both ways, the client's wait to ack), sampled at most once a second per client, by role and transport",
            round_trips.clone(),
        );
        registry.register(
            "input_ticks",
            "Ticks of players and controllers sending at the ticks' pace, by whether the client's input for the tick had come (own) or not (late: the tick played its last input again, and the client's prediction is corrected)",
            input_ticks.clone(),
        );
        registry.register(
            "inputs_folded",
            "Inputs folded into a later one without a tick of their own (late ones caught up with, ones that waited for nothing, clients sending faster than the ticks), by role",
            inputs_folded.clone(),
        );
        registry.register(
            "input_buffer_seconds",
            "How long inputs waited in the server's jitter buffer past their first possible tick (the input delay it adds), a client's mean over each window of 32 ticks, by role",
            input_buffer.clone(),
        );
        registry.register("late_ticks", "Ticks that started or ran late", late_ticks.clone());
        registry.register(
            "ticks_skipped",
            "Ticks a late room skipped to keep its schedule (a stall of several periods counts each)",
            ticks_skipped.clone(),
        );
        registry.register(
            "frames_sent",
            "Frames written to clients (a tick's events count as one)",
            frames_sent.clone(),
        );
        registry.register(
            "bytes_sent",
            "Bytes written to clients, WebSocket headers included",
            bytes_sent.clone(),
        );
        registry.register(
            "bytes_received",
            "Bytes read from clients: WebSocket frames, headers included, and HTTP fallback POST bodies",
            bytes_received.clone(),
        );
        registry.register(
            "socket_writes",
            "Write calls on clients' sockets",
            socket_writes.clone(),
        );
        registry.register(
            "uring_batches",
            "Batches of direct writes submitted through io_uring (--io-uring)",
            uring_batches.clone(),
        );
        registry.register(
            "chat_dropped",
            "Chat lines not relayed: the room's chat rate was exceeded",
            chat_dropped.clone(),
        );
        registry.register(
            "chat_muted",
            "Chat lines not relayed: an operator muted their sender",
            chat_muted.clone(),
        );
        registry.register(
            "frames_skipped",
            "Snapshots replaced before a slow client took them",
            frames_skipped.clone(),
        );
        registry.register(
            "closes",
            "Close frames sent (the server's own or its echo of the client's), by code and initiator; code 1006 from the Client: connections lost without a closing handshake, no frame sent",
            closes.clone(),
        );
        registry.register(
            "kicks",
            "The server's closes that came with a Kick, by its reason (snake case: too_slow, idle, rate_limited, removed ...)",
            kicks.clone(),
        );
        registry.register(
            "moderation_actions",
            "Operators' actions: remove, remove_and_ban, mute, unmute, ban, lift",
            moderation_actions.clone(),
        );
        registry.register("resumes", "Seats resumed with a token", resumes.clone());
        registry.register("joins", "Seats given to new joiners, by role", joins.clone());
        registry.register(
            "clients_removed",
            "Seats an operator removed (a kick, or a ban covering a seated client)",
            clients_removed.clone(),
        );
        registry.register(
            "joins_banned",
            "Hellos refused by an operator's ban of the client's address or name",
            joins_banned.clone(),
        );
        registry.register(
            "join_tokens_previous_key",
            "Join tokens taken that only the previous key verifies (the key being rotated out is in use while it counts)",
            join_tokens_previous_key.clone(),
        );
        registry.register(
            "join_keys",
            "Join keys in force, as the last start or SIGHUP read them: 2 while a key rotates, 1 otherwise, 0 without join tokens",
            join_keys.clone(),
        );
        registry.register(
            "join_key_reload_failed",
            "1 while the last SIGHUP could not read the join keys: the keys in force are older than the files (the log says why)",
            join_key_reload_failed.clone(),
        );
        registry.register(
            "refused",
            "Connections and requests refused (TCP cap, upgrades, sessions, HTTP fallback), by reason (SECURITY.md lists the reasons)",
            refused.clone(),
        );
        registry.register(
            "proxied_sessions",
            "Clients relayed to the node hosting their room (cluster mode)",
            proxied_sessions.clone(),
        );
        registry.register(
            "fallback_forwarded",
            "HTTP fallback requests passed on to the node holding their session (cluster mode)",
            fallback_forwarded.clone(),
        );
        // Present from the start, at 0, so that a fresh server already has the series that
        // dashboards graph and alerts compare (`rate()` of a series that appears with its first
        // event misses that event, and an absent series never fires).
        for transport in crate::transport::Transport::ALL {
            let _ =
                transport_clients.get_or_create(&TransportLabels { transport: transport.name() });
        }
        for role in [RoleLabel::Player, RoleLabel::Spectator, RoleLabel::Controller] {
            let _ = clients.get_or_create(&RoleLabels { role });
            let _ = joins.get_or_create(&RoleLabels { role });
            for transport in crate::transport::Transport::ALL {
                let transport = transport.name();
                let _ = round_trips.get_or_create(&RoundTripLabels { role, transport });
            }
        }
        for role in [RoleLabel::Player, RoleLabel::Controller] {
            for outcome in ["own", "late"] {
                let _ = input_ticks.get_or_create(&InputTickLabels { role, outcome });
            }
            let _ = inputs_folded.get_or_create(&RoleLabels { role });
            let _ = input_buffer.get_or_create(&RoleLabels { role });
        }
        for reason in REFUSAL_REASONS {
            let _ = refused.get_or_create(&ReasonLabels { reason });
        }
        for (code, initiator) in KNOWN_CLOSES {
            let _ = closes.get_or_create(&CloseLabels { code, initiator });
        }
        for reason in KickReason::ALL {
            let _ = kicks.get_or_create(&KickLabels { reason: kick_label(reason) });
        }
        for action in MODERATION_ACTIONS {
            let _ = moderation_actions.get_or_create(&ActionLabels { action });
        }
        Metrics {
            registry,
            clients,
            transport_clients,
            rooms,
            rooms_in_use,
            rooms_stuck,
            sessions,
            resume_tokens,
            tick_duration,
            round_trips,
            input_ticks,
            inputs_folded,
            input_buffer,
            late_ticks,
            draining,
            ticks_skipped,
            frames_sent,
            bytes_sent,
            bytes_received,
            socket_writes,
            uring_batches,
            chat_dropped,
            chat_muted,
            frames_skipped,
            closes,
            kicks,
            moderation_actions,
            resumes,
            joins,
            clients_removed,
            joins_banned,
            join_tokens_previous_key,
            join_keys,
            join_key_reload_failed,
            refused,
            proxied_sessions,
            node_url_checks: Family::default(),
            fallback_forwarded,
            refusal_log: RefusalLog::default(),
        }
    }

    /// Cluster mode: says which node these metrics are (`tickwire_node_info{node} 1`), whether
    /// its room directory answers (`tickwire_directory_up`), and who answers at its
    /// `--node-url` (`tickwire_node_url_checks_total`), and how many live nodes check join
    /// tokens with other keys (`tickwire_join_key_differing`) or share no key with it
    /// (`tickwire_join_key_strangers`).
    pub fn register_node(&mut self, node: &str, directory_up: Gauge, join_keys: (Gauge, Gauge)) {
        let (join_differing, join_strangers) = join_keys;
        let info = Family::<NodeLabels, Gauge>::default();
        info.get_or_create(&NodeLabels { node: node.to_string() }).set(1);
        self.registry.register("node_info", "The node these metrics are from", info);
        self.registry.register(
            "directory_up",
            "1 while the fleet's room directory (Redis) answers, else 0",
            directory_up,
        );
        self.registry.register(
            "join_key_strangers",
            "Live nodes of the fleet that share no join key (or audience, or issuer) with this one, as the last heartbeat found them: relays between them are refused; 0 in a fleet set up alike",
            join_strangers,
        );
        self.registry.register(
            "join_key_differing",
            "Live nodes of the fleet whose join keys (or audience, or issuer) are not exactly this node's, as the last heartbeat found them: 0 on every node once a rotation's step is done everywhere",
            join_differing,
        );
        for reached in REACHED {
            let _ = self.node_url_checks.get_or_create(&ReachedLabels { reached });
        }
        self.registry.register(
            "node_url_checks",
            "Checks of who answers at this node's --node-url, by reached: self, other_node, \
             not_a_node or unreachable",
            self.node_url_checks.clone(),
        );
    }

    /// Shows how many join keys are in force (`tickwire_join_keys`), of their `prints`.
    pub fn set_join_keys(&self, prints: &[String]) {
        self.join_keys.set(prints.len() as i64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a close frame sent with `code` in a handshake `initiator` started.
    pub fn closed(&self, code: u16, initiator: Initiator) {
        let code = code_label(code);
        self.closes.get_or_create(&CloseLabels { code, initiator }).inc();
    }

    /// Counts the server's own close with `code`, and its `Kick`'s reason if it had one: sent,
    /// or decided for a client that stopped reading and could take no close frame.
    pub fn server_closed(&self, code: u16, kick: Option<KickReason>) {
        self.closed(code, Initiator::Server);
        if let Some(reason) = kick {
            self.kicks.get_or_create(&KickLabels { reason: kick_label(reason) }).inc();
        }
    }

    /// Observes a client's round trip ([`crate::latency::RoundTrips`]).
    pub fn round_trip(&self, role: Role, transport: crate::transport::Transport, trip: Duration) {
        let labels = RoundTripLabels { role: role.into(), transport: transport.name() };
        self.round_trips.get_or_create(&labels).observe(trip.as_secs_f64());
    }

    /// Counts a ship's window of inputs ([`crate::inputs::InputReport`]), its ticks `period`
    /// long: its ticks (when the client kept the ticks' pace), its folded inputs, and its
    /// inputs' mean wait.
    pub fn input_window(&self, role: Role, report: &InputReport, period: Duration) {
        let role = role.into();
        if report.kept_pace() {
            let late = u64::from(report.missed);
            let own = u64::from(report.ticks).saturating_sub(late);
            for (outcome, ticks) in [("own", own), ("late", late)] {
                self.input_ticks.get_or_create(&InputTickLabels { role, outcome }).inc_by(ticks);
            }
        }
        if report.folded > 0 {
            self.inputs_folded.get_or_create(&RoleLabels { role }).inc_by(report.folded.into());
        }
        if let Some(wait) = report.mean_wait_ticks() {
            let wait = wait * period.as_secs_f64();
            self.input_buffer.get_or_create(&RoleLabels { role }).observe(wait);
        }
    }

    /// Counts an operator's `action` (one of [`MODERATION_ACTIONS`]).
    pub fn moderation_action(&self, action: &'static str) {
        self.moderation_actions.get_or_create(&ActionLabels { action }).inc();
    }

    /// Sets the limits alerts compare against, as gauges: `tickwire_tick_rate_hz`,
    /// `tickwire_max_connections`, `tickwire_max_rooms` and `tickwire_max_server_spectators`.
    pub fn register_limits(&mut self, config: &crate::ServerConfig) {
        let limits = [
            (
                "tick_rate_hz",
                "Ticks a second each room runs (--tick-rate)",
                u32::from(config.tick_rate),
            ),
            (
                "max_connections",
                "Sessions the server takes (--max-connections)",
                config.max_connections,
            ),
            ("max_rooms", "Rooms in use at once (--max-rooms)", config.max_rooms),
            (
                "max_server_spectators",
                "Spectators server-wide (--max-spectators-total)",
                config.max_spectators_total,
            ),
        ];
        for (name, help, value) in limits {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::from(value));
            self.registry.register(name, help, gauge);
        }
    }

    /// Counts a connection that ended without a closing handshake (the peer reset it, or
    /// closed TCP without a close frame): 1006 from the client, as browsers and other servers
    /// report it. No close frame was sent for it, so none is counted as one.
    pub fn connection_lost(&self) {
        self.closed(crate::connection::close_code::ABNORMAL, Initiator::Client);
    }

    /// The clients gauge of `transport`.
    pub fn transport_clients_of(&self, transport: crate::transport::Transport) -> Gauge {
        let labels = TransportLabels { transport: transport.name() };
        self.transport_clients.get_or_create(&labels).clone()
    }

    /// Counts a refusal for `reason`. The reasons, so that an operator can tell a misbehaving
    /// proxy or client from a full server:
    ///
    /// - before a request: `accept_failed` (a failed `accept()` call, usually out of file
    ///   descriptors), `http_full` (the server holds as many HTTP connections as it takes),
    ///   `tcp_per_ip` (an address, or an IPv6 /48, holds too many TCP connections),
    ///   `tcp_rate` (an address, or an IPv6 /48, opened too many in the last second),
    ///   `plain_http` (plain HTTP on the TLS port), `admin_full` (the admin port,
    ///   `--admin-bind`, serves as many connections as it takes);
    /// - any request: `head_too_large`;
    /// - a WebSocket upgrade: `not_upgrade` (not an HTTP/1.1 GET, or no upgrade headers at
    ///   all: a page visit, or a proxy that strips them), `cross_protocol` (only one of
    ///   `Upgrade` and `Connection`), `ws_version`, `ws_key`, `origin` (an Origin not allowed,
    ///   or none from a browser on another site), `subprotocol`, `hop` (a forged fleet hop),
    ///   `shutting_down`;
    /// - a session of either transport: `auth`, `server_full`, `per_ip` (the address's, or
    ///   its IPv6 /48's, session cap);
    /// - a dropped player's seat not kept for a resume: `held_per_ip` (its address has as many
    ///   waiting as it may hold sessions; the seat ended at once);
    /// - a `Hello` for a new player's or controller's seat over its address's rate:
    ///   `join_rate` (close 1013);
    /// - the HTTP fallback: `unknown_session`, `post_rate`, `post_too_large`, `bad_record`,
    ///   and `hop` as for an upgrade;
    /// - moderation (`--admin-token`): `admin_auth` (no token, or a wrong one: 401),
    ///   `admin_guess_rate` (too many wrong ones from the address: 429).
    ///
    /// Through a trusted proxy, `tcp_rate` also counts upgrades and HTTP fallback sessions
    /// over the rate of the client the proxy names.
    ///
    /// Each refusal is logged at debug, and at info at most once per [`REFUSAL_LOG_INTERVAL`]
    /// with how many of each reason were logged only at debug since: a peer that sends
    /// refusals in a loop cannot flood the log. [`Metrics::refused_from`] says who and why.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
        self.log_refusal(reason, None, None);
    }

    /// [`Metrics::refused`], logging the client it refused (when known) and why: the message
    /// the client was given (a join token's error, the Origin refused).
    pub fn refused_from(
        &self,
        reason: &'static str,
        peer: Option<&Peer>,
        detail: &dyn std::fmt::Display,
    ) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
        self.log_refusal(reason, peer, Some(detail));
    }

    fn log_refusal(
        &self,
        reason: &'static str,
        peer: Option<&Peer>,
        detail: Option<&dyn std::fmt::Display>,
    ) {
        let client = peer.map(|p| tracing::field::display(p.client_shown()));
        let proxy = peer.and_then(|p| p.proxy).map(tracing::field::display);
        // The message the client got often echoes its own text (a token's contents).
        let detail =
            detail.map(|detail| tracing::field::display(crate::logging::Untrusted(detail)));
        match self.refusal_log.note(reason, std::time::Instant::now()) {
            None => tracing::debug!(reason, peer = client, proxy, detail, "refused"),
            Some(since) => tracing::info!(
                reason,
                peer = client,
                proxy,
                detail,
                logged_at_debug_since = %since,
                "refused (one such line every {} s at most; each at debug, all in \
                 tickwire_refused_total)",
                REFUSAL_LOG_INTERVAL.as_secs()
            ),
        }
    }

    /// The clients gauge of `role`.
    pub fn clients_of(&self, role: Role) -> Gauge {
        self.clients.get_or_create(&RoleLabels { role: role.into() }).clone()
    }

    /// Counts a seat given to a new joiner of `role`.
    pub fn joined(&self, role: Role) {
        self.joins.get_or_create(&RoleLabels { role: role.into() }).inc();
    }
}

/// The `code` label of a close: the code itself, but a private one (3000 to 4999) that the
/// protocol does not name is counted by its thousand. A client chooses the code its close is
/// echoed with, and each distinct label is a series kept for good, here and in every
/// dashboard sample (`/stats`): 2,000 codes would make each of those many times its size.
fn code_label(code: u16) -> u16 {
    match code {
        // The private codes the protocol names (a browser's protocol error; a fleet's
        // misdirected hop, which the server sends itself) keep their own series.
        crate::connection::close_code::BROWSER_PROTOCOL | crate::cluster::MISDIRECTED => code,
        3000..=3999 => 3000,
        4000..=4999 => 4000,
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_ends_at_the_tick_period() {
        for hz in [1u32, 20, 30, 60, 120] {
            let period = Duration::from_secs(1) / hz;
            let buckets = tick_buckets(period);
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{hz} Hz: {buckets:?}");
            let micros = (period.as_secs_f64() * 1e6).round() / 1e6;
            assert!(buckets.contains(&micros), "{hz} Hz: {buckets:?}");
            assert_eq!(buckets[0], 0.000_05, "fine below: a healthy tick takes tens of us");
        }
        let metrics = Metrics::for_tick_period(Duration::from_secs(1) / 30);
        assert!(
            metrics.render().contains("tickwire_tick_duration_seconds_bucket{le=\"0.033333\"}"),
            "{}",
            metrics.render()
        );
    }

    #[test]
    fn private_close_codes_a_client_picks_add_no_series() {
        let metrics = Metrics::new();
        for code in 3000..=4999 {
            metrics.closed(code, Initiator::Client);
        }
        metrics.closed(1000, Initiator::Client);
        metrics.server_closed(1008, Some(KickReason::TooSlow));
        metrics.server_closed(crate::cluster::MISDIRECTED, None);
        let rendered = metrics.render();
        let series: Vec<&str> = rendered
            .lines()
            .filter(|l| l.starts_with("tickwire_closes_total{") && !l.ends_with(" 0"))
            .collect();
        assert_eq!(series.len(), 7, "{series:#?}");
        let count = |code: u16, initiator: &str| {
            let label =
                format!("tickwire_closes_total{{code=\"{code}\",initiator=\"{initiator}\"}} ");
            series.iter().find_map(|l| l.strip_prefix(label.as_str())).map(str::to_string)
        };
        assert_eq!(count(3000, "client").as_deref(), Some("1000"));
        assert_eq!(count(4000, "client").as_deref(), Some("998"), "4002 and 4021 apart");
        assert_eq!(count(4002, "client").as_deref(), Some("1"));
        assert_eq!(count(4021, "client").as_deref(), Some("1"));
        assert_eq!(count(1000, "client").as_deref(), Some("1"));
        assert_eq!(count(1008, "server").as_deref(), Some("1"));
        // The server's own misdirected hop is its own series, not one of a thousand.
        assert_eq!(count(4021, "server").as_deref(), Some("1"));
        // A close with a Kick says which.
        assert!(rendered.contains("tickwire_kicks_total{reason=\"too_slow\"} 1\n"), "{rendered}");
        assert!(rendered.contains("tickwire_kicks_total{reason=\"idle\"} 0\n"), "{rendered}");
    }

    #[test]
    fn kick_labels_are_the_reasons_in_snake_case_and_all_exist_from_the_start() {
        let rendered = Metrics::new().render();
        for reason in KickReason::ALL {
            let label = kick_label(reason);
            let debug = format!("{reason:?}");
            let name = debug.split([' ', '{']).next().unwrap_or_default();
            let snake: String = name
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_uppercase()).then_some('_');
                    sep.into_iter().chain(c.to_lowercase())
                })
                .collect();
            assert_eq!(label, snake);
            assert!(rendered.contains(&format!("tickwire_kicks_total{{reason=\"{label}\"}} 0\n")));
        }
        for action in MODERATION_ACTIONS {
            let series = format!("tickwire_moderation_actions_total{{action=\"{action}\"}} 0\n");
            assert!(rendered.contains(&series), "{series}");
        }
    }

    #[test]
    fn the_limits_alerts_compare_against_are_gauges() {
        let mut metrics = Metrics::new();
        let config = crate::ServerConfig { max_rooms: 17, ..crate::ServerConfig::default() };
        metrics.register_limits(&config);
        let rendered = metrics.render();
        for line in [
            "tickwire_tick_rate_hz 30\n".to_string(),
            "tickwire_max_rooms 17\n".to_string(),
            format!("tickwire_max_connections {}\n", config.max_connections),
            format!("tickwire_max_server_spectators {}\n", config.max_spectators_total),
            format!(
                "tickwire_build_info{{version=\"{}\",protocol=\"{}\"}} 1\n",
                env!("CARGO_PKG_VERSION"),
                tickwire_shared::PROTOCOL_VERSION
            ),
        ] {
            assert!(rendered.contains(&line), "{line}");
        }
    }

    /// A fresh server has the series dashboards graph and alerts compare, at 0.
    #[test]
    fn clients_refusals_and_the_server_s_closes_exist_from_the_start() {
        let rendered = Metrics::new().render();
        for role in ["player", "spectator", "controller"] {
            assert!(
                rendered.contains(&format!("tickwire_clients{{role=\"{role}\"}} 0\n")),
                "{role}"
            );
            assert!(
                rendered.contains(&format!("tickwire_joins_total{{role=\"{role}\"}} 0\n")),
                "{role}"
            );
        }
        for reason in REFUSAL_REASONS {
            let series = format!("tickwire_refused_total{{reason=\"{reason}\"}} 0\n");
            assert!(rendered.contains(&series), "{series}");
        }
        for (code, initiator) in KNOWN_CLOSES {
            let series = format!(
                "tickwire_closes_total{{code=\"{code}\",initiator=\"{}\"}} 0\n",
                initiator.name()
            );
            assert!(rendered.contains(&series), "{series}");
        }
        assert!(rendered.contains("code=\"1006\",initiator=\"client\"} 0"));
    }

    /// A ship's window of inputs: its ticks by outcome (for a client at the ticks' pace
    /// only), its folded inputs, its mean wait in seconds against bounds in tick periods; the
    /// ships' series exist from the start, a spectator has none.
    #[test]
    fn a_window_of_inputs_is_counted_by_outcome_and_its_wait_in_tick_periods() {
        use crate::inputs::InputReport;
        let period = Duration::from_secs(1) / 20;
        let metrics = Metrics::for_tick_period(period);
        let rendered = metrics.render();
        for role in ["player", "controller"] {
            for outcome in ["own", "late"] {
                let series = format!(
                    "tickwire_input_ticks_total{{role=\"{role}\",outcome=\"{outcome}\"}} 0\n"
                );
                assert!(rendered.contains(&series), "{series}");
            }
            assert!(
                rendered.contains(&format!("tickwire_inputs_folded_total{{role=\"{role}\"}} 0\n"))
            );
            let count = format!("tickwire_input_buffer_seconds_count{{role=\"{role}\"}} 0\n");
            assert!(rendered.contains(&count), "{count}");
        }
        assert!(!rendered.contains("tickwire_input_ticks_total{role=\"spectator\""));
        // 3 of 32 ticks late, 2 inputs folded, 29 applied that waited 29 ticks in all (a
        // tick each: 50 ms at 20 Hz).
        let report =
            InputReport { ticks: 32, arrivals: 33, missed: 3, applied: 29, waited: 29, folded: 2 };
        metrics.input_window(Role::Controller, &report, period);
        // Every other tick: off the pace, its ticks are not counted; its wait is.
        let paced_off =
            InputReport { ticks: 32, arrivals: 16, missed: 16, applied: 16, waited: 0, folded: 0 };
        metrics.input_window(Role::Controller, &paced_off, period);
        let rendered = metrics.render();
        for series in [
            "tickwire_input_ticks_total{role=\"controller\",outcome=\"own\"} 29\n",
            "tickwire_input_ticks_total{role=\"controller\",outcome=\"late\"} 3\n",
            "tickwire_inputs_folded_total{role=\"controller\"} 2\n",
            "tickwire_input_buffer_seconds_count{role=\"controller\"} 2\n",
            "tickwire_input_buffer_seconds_sum{role=\"controller\"} 0.05\n",
            // Bounds at a quarter, a half and one period: the tick's wait is in the third.
            "tickwire_input_buffer_seconds_bucket{le=\"0.0125\",role=\"controller\"} 1\n",
            "tickwire_input_buffer_seconds_bucket{le=\"0.025\",role=\"controller\"} 1\n",
            "tickwire_input_buffer_seconds_bucket{le=\"0.05\",role=\"controller\"} 2\n",
            "tickwire_input_ticks_total{role=\"player\",outcome=\"own\"} 0\n",
        ] {
            assert!(rendered.contains(series), "{series} in {rendered}");
        }
    }

    /// A connection lost without a closing handshake is 1006 from the client, never a close
    /// frame the server sent.
    #[test]
    fn a_lost_connection_counts_as_1006_from_the_client() {
        let metrics = Metrics::new();
        metrics.connection_lost();
        let rendered = metrics.render();
        assert!(rendered.contains("tickwire_closes_total{code=\"1006\",initiator=\"client\"} 1\n"));
        assert!(rendered.contains("tickwire_closes_total{code=\"1000\",initiator=\"server\"} 0\n"));
    }

    /// The first refusal after a quiet interval is logged above debug; the others until the
    /// interval has passed are counted for the next such line, by reason.
    #[test]
    fn refusals_are_logged_above_debug_once_an_interval_with_the_rest_counted() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note("auth", t0), Some(QuietRefusals::default()), "the first");
        for _ in 0..1000 {
            assert_eq!(log.note("auth", t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(log.note("origin", t0 + Duration::from_secs(9)), None);
        let next = log.note("tcp_rate", t0 + REFUSAL_LOG_INTERVAL).expect("the interval passed");
        assert_eq!(next.to_string(), "auth=1000 origin=1");
        assert_eq!(log.note("auth", t0 + REFUSAL_LOG_INTERVAL), None, "the next interval began");
        let later = t0 + 5 * REFUSAL_LOG_INTERVAL;
        assert_eq!(log.note("auth", later).map(|q| q.to_string()).as_deref(), Some("auth=1"));
        assert_eq!(QuietRefusals::default().to_string(), "none");
    }
}
