//! State shared by every task of one server: config, metrics, the room directory (names,
//! matchmaking, resume tokens) and the connection limiter.
//!
//! The directory's lock is taken only when a client joins, a seat ends or a room closes, never
//! on a tick, so rooms share no lock in their loops.

use crate::config::ServerConfig;
use crate::game::{GameFactory, Games};
use crate::metrics::Metrics;
use crate::ratelimit::PerAddressRate;
use crate::room::{self, Reservation, RoomCommand, RoomShared};
use crate::threads::RoomThreads;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tickwire_shared::{ResumeToken, RoomName, RoomRequest};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{debug, error};

/// A way to reach a room.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    /// Its command channel.
    pub commands: mpsc::Sender<RoomCommand>,
    /// Its counters.
    pub shared: Arc<RoomShared>,
}

/// Why no room could be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FindRoomError {
    /// Creating one more room would pass [`ServerConfig::max_rooms`]; the client should retry
    /// later (close 1013).
    #[error("the server has reached its room limit")]
    TooManyRooms,
    /// A spectator's join would open a room while [`ServerContext::audience_room_limit`]
    /// rooms hold spectators and no players; the client should watch a room where a match
    /// is on, or retry later (close 1013).
    #[error(
        "the server holds as many rooms without players as it takes; watch one with a match on"
    )]
    TooManyAudienceRooms,
    /// [`ServerConfig::max_spectators_total`] spectators are watching already; players still
    /// join (close 1013).
    #[error("the server holds as many spectators as it takes")]
    TooManySpectators,
    /// The [`crate::game::GameFactory`] panicked making the room's game (a bug in it): no
    /// room was opened, and the join is refused (close 1011). Logged with the room's name.
    #[error("the room's game could not start")]
    GameFailed,
    /// The node drains ([`ServerContext::start_draining`]): it opens no room, which the drain
    /// would cut off; the client should retry (close 1013, without a `Kick`), and is placed
    /// on another node of the fleet.
    #[error("this server is restarting and opens no room; try again")]
    Draining,
}

/// Why an upgrade was refused before a WebSocket existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// [`ServerConfig::max_connections`] sessions are open (HTTP 503).
    #[error("server is at its connection limit")]
    ServerFull,
    /// [`ServerConfig::max_connections_per_ip`] sessions are open from this address, or four
    /// times as many from its IPv6 /48 ([`ADDRESSES_PER_IPV6_SITE`]) (HTTP 429).
    #[error("too many connections from this address")]
    TooManyFromAddress,
}

/// A row of `GET /rooms`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomInfo {
    /// Room name.
    pub id: String,
    /// Ship-owning seats (players and controllers, including seats waiting for resume).
    pub players: u32,
    /// Controllers among them.
    pub controllers: u32,
    /// Spectators.
    pub spectators: u32,
    /// Ship-owning seat limit.
    pub capacity: u16,
    /// Current tick.
    pub tick: u32,
    /// Attached clients by transport: WebSocket, HTTP stream, long polling.
    pub transports: crate::transport::TransportsInfo,
}

#[derive(Debug, Default)]
struct Directory {
    rooms: BTreeMap<RoomName, RoomHandle>,
    tokens: HashMap<ResumeToken, RoomName>,
    rooms_created: u64,
}

/// Why [`ServerContext::admit_tcp`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpRefusal {
    /// Its address (or IPv6 /48) holds as many connections as it may.
    TooMany,
    /// Its address (or IPv6 /48) opened as many connections in the last second as it may.
    TooFast,
}

/// The least rate of new connections an address is allowed, a second (see
/// [`ServerContext::new_connections_per_second`]). A TLS handshake costs the server a few
/// hundred microseconds of CPU, so an address held to this spends a few percent of a core on
/// them at most.
pub const NEW_CONNECTIONS_FLOOR: u32 = 100;

/// The burst of new connections an address may open at once, in seconds of its rate.
pub const NEW_CONNECTION_BURST_SECONDS: u32 = 2;

/// TCP connections an address may hold beyond its WebSocket sessions.
pub const HTTP_CONNECTIONS_PER_IP: u32 = 16;

/// How many addresses' worth of sessions and TCP connections one IPv6 /48 may hold. A /48 is
/// one site (what a provider hands one customer, one campus), and a site picks its /64s from
/// 65,536: counted only by /64, one site could fill the server from its own prefix. Four
/// addresses' worth still seats a LAN party or a classroom behind one prefix at the default
/// cap (256 sessions); a load test from one site raises `--max-connections-per-ip`.
pub const ADDRESSES_PER_IPV6_SITE: u32 = 4;

#[derive(Debug, Default)]
struct Connections {
    total: u32,
    /// Sessions.
    sessions: PerAddress,
    /// Open TCP connections, upgraded or not (see [`ServerContext::admit_tcp`]).
    tcp: PerAddress,
    /// New TCP connections (see [`ServerContext::admit_tcp`]).
    opened: PerAddressAndSite,
    /// Seats waiting for a resume, by the address that dropped them (see
    /// [`ServerContext::hold_seat`]).
    held: PerAddress,
    /// New players' and controllers' seats (see [`ServerContext::take_seat_join`]).
    seat_joins: PerAddressAndSite,
    /// Wrong admin tokens (see [`ServerContext::may_try_admin_token`]).
    wrong_admin_tokens: PerAddressAndSite,
}

/// A rate per address and, for IPv6, per /48 at [`ADDRESSES_PER_IPV6_SITE`] times the rate and
/// the burst: a site that rotates through its 65,536 /64s gets four addresses' worth, not a
/// fresh burst each.
#[derive(Debug, Default)]
struct PerAddressAndSite {
    by_address: PerAddressRate,
    by_site: PerAddressRate,
}

impl PerAddressAndSite {
    /// Takes a token of `keys`' address (`rate` a second after `burst`) and of its /48.
    fn try_take(&mut self, keys: AddressKeys, rate: f64, burst: u32, now: Instant) -> bool {
        let site_rate = rate * f64::from(ADDRESSES_PER_IPV6_SITE);
        let site_burst = burst.saturating_mul(ADDRESSES_PER_IPV6_SITE);
        self.by_address.try_take_at(keys.address, rate, burst, now)
            && keys
                .site
                .is_none_or(|site| self.by_site.try_take_at(site, site_rate, site_burst, now))
    }

    /// Whether `keys`' address and its /48 have a token left, without taking one.
    fn has_token(&self, keys: AddressKeys, now: Instant) -> bool {
        self.by_address.has_token(keys.address, now)
            && keys.site.is_none_or(|site| self.by_site.has_token(site, now))
    }
}

/// Wrong admin tokens an address may send back to back before it must wait a second for each
/// further try: an operator's typos, not a guessing loop.
pub const WRONG_ADMIN_TOKENS_BURST: u32 = 10;

/// Who a client is for the per-address caps: its address (an IPv6 one's /64), and for IPv6
/// the /48 it belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressKeys {
    address: IpAddr,
    site: Option<IpAddr>,
}

impl AddressKeys {
    pub(crate) fn of(ip: IpAddr) -> Self {
        AddressKeys { address: address_key(ip), site: ipv6_prefix(ip, 48) }
    }
}

/// Places taken per address and per IPv6 /48 ([`ADDRESSES_PER_IPV6_SITE`]), addresses with
/// none left forgotten.
#[derive(Debug, Default)]
pub(crate) struct PerAddress {
    by_address: HashMap<IpAddr, u32>,
    by_site: HashMap<IpAddr, u32>,
}

impl PerAddress {
    /// Whether `keys` have no place left: `limit` taken by the address, or four times as many
    /// by its /48.
    fn is_full(&self, keys: AddressKeys, limit: u32) -> bool {
        let site_limit = limit.saturating_mul(ADDRESSES_PER_IPV6_SITE);
        let full = |counts: &HashMap<IpAddr, u32>, key, limit| {
            counts.get(&key).is_some_and(|&n: &u32| n >= limit)
        };
        full(&self.by_address, keys.address, limit)
            || keys.site.is_some_and(|site| full(&self.by_site, site, site_limit))
    }

    /// Takes a place for `keys`, at most `limit` an address: false when it or its /48 is full.
    pub(crate) fn take(&mut self, keys: AddressKeys, limit: u32) -> bool {
        if self.is_full(keys, limit) {
            return false;
        }
        *self.by_address.entry(keys.address).or_default() += 1;
        if let Some(site) = keys.site {
            *self.by_site.entry(site).or_default() += 1;
        }
        true
    }

    /// Gives back a place [`PerAddress::take`] took.
    pub(crate) fn give_back(&mut self, keys: AddressKeys) {
        fn release(counts: &mut HashMap<IpAddr, u32>, key: IpAddr) {
            if let Some(n) = counts.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&key);
                }
            }
        }
        release(&mut self.by_address, keys.address);
        if let Some(site) = keys.site {
            release(&mut self.by_site, site);
        }
    }
}

/// Everything the server's tasks share.
#[derive(Debug)]
pub struct ServerContext {
    /// Configuration.
    pub config: ServerConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// Every spawned task (rooms, connections) so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// The threads the rooms run on (`--room-threads`).
    pub room_threads: RoomThreads,
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Set when a node of a fleet starts draining: its rooms end their matches with their
    /// rounds ([`ServerContext::start_draining`]).
    draining: std::sync::atomic::AtomicBool,
    /// The keys join tokens are checked with, when they are required; set once by
    /// [`crate::server::run`], and their keys replaced at each SIGHUP that reads them.
    pub join: std::sync::OnceLock<Arc<crate::auth::JoinKeys>>,
    /// This node's fleet, in cluster mode (`--redis-url`); set once by [`crate::server::run`].
    pub fleet: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// The operators' bans, which every `Hello` is checked against ([`crate::moderation`]).
    pub bans: crate::moderation::Bans,
    /// What the operators did on this node, newest last (`GET /moderation/log`), and in a
    /// fleet those the fleet's log has not taken yet.
    pub actions: crate::moderation::ActionLog,
    /// The operators moderation answers (their tokens), as SIGHUP last read them.
    pub operators: crate::moderation::Operators,
    directory: Mutex<Directory>,
    connections: Mutex<Connections>,
    /// Spectators seated in all rooms (see [`ServerContext::take_spectator_place`]).
    spectators: AtomicU32,
    /// `--seed`: room N gets `seed + N`. Without it each room draws its own: a player who
    /// learns one room's seed (a game's shuffled deck) must not learn the next room's.
    seed: Option<u64>,
    games: Games,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few map operations that leave the maps consistent even
    // if interrupted, so a poisoned lock is still safe to use.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServerContext {
    /// A context for a server that stops when `shutdown` becomes true, its rooms running the
    /// arena of `config` ([`ServerConfig::arena`]).
    pub fn new(config: ServerConfig, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let games = Games::arena(config.arena());
        Self::with_games(config, shutdown, None, games)
    }

    /// A context whose rooms run what `games` makes, for a node of `fleet` in cluster mode
    /// (its metrics then say which node they are).
    pub fn with_games(
        config: ServerConfig,
        shutdown: watch::Receiver<bool>,
        fleet: Option<Arc<crate::cluster::Cluster>>,
        games: Games,
    ) -> Arc<Self> {
        let mut metrics = Metrics::for_tick_period(config.tick_period());
        metrics.register_limits(&config);
        if let Some(fleet) = &fleet {
            metrics.register_node(
                &fleet.node,
                fleet.directory_up.clone(),
                (fleet.join_differing.clone(), fleet.join_strangers.clone()),
            );
        }
        let ctx = Self::build(config, shutdown, metrics, games);
        if let Some(fleet) = fleet {
            let _ = ctx.fleet.set(fleet);
        }
        ctx
    }

    fn build(
        config: ServerConfig,
        shutdown: watch::Receiver<bool>,
        metrics: Metrics,
        games: Games,
    ) -> Arc<Self> {
        let seed = config.seed;
        let operators = crate::moderation::Operators::of(&config);
        let (room_threads, refused) = RoomThreads::start(usize::from(config.room_threads));
        if let Some(e) = refused {
            error!(
                error = %e,
                started = room_threads.len(),
                "cannot start every room thread (--room-threads); rooms share those started, or the network runtime"
            );
        }
        Arc::new(ServerContext {
            config,
            metrics,
            tasks: TaskTracker::new(),
            room_threads,
            shutdown,
            draining: std::sync::atomic::AtomicBool::new(false),
            join: std::sync::OnceLock::new(),
            fleet: std::sync::OnceLock::new(),
            bans: crate::moderation::Bans::default(),
            actions: crate::moderation::ActionLog::default(),
            operators,
            directory: Mutex::default(),
            connections: Mutex::default(),
            spectators: AtomicU32::new(0),
            seed,
            games,
        })
    }

    /// The room a `Hello` should go to, created if needed. A resume token that names a live
    /// room wins over the request. The joiner gets a [`Reservation`], which goes to the room
    /// with its join ([`crate::room::JoinRequest::reservation`]).
    pub fn find_room(
        self: &Arc<Self>,
        request: &RoomRequest,
        resume: Option<&ResumeToken>,
        spectating: bool,
    ) -> Result<(RoomHandle, Reservation), FindRoomError> {
        let mut dir = lock(&self.directory);
        // A token resumes a seat in the room asked for (any, for `Any`): a join token that pins
        // a room must not be walked out of it by a resume token for a seat elsewhere. A token
        // for another room counts as unknown: the client joins the room it named afresh.
        // It holds a place too: its seat may expire before the join arrives, and an empty room
        // nobody is on the way into may make way for a new one at the room limit.
        if let Some(name) = resume.and_then(|t| dir.tokens.get(t))
            && resume_fits(request, name)
            && let Some(room) = dir.rooms.get(name)
        {
            let room = room.clone();
            let reservation = reserve(&room, spectating);
            return Ok((room, reservation));
        }
        if spectating && self.spectators_admitted() >= self.config.max_spectators_total {
            return Err(FindRoomError::TooManySpectators);
        }
        let room = match request {
            RoomRequest::Named(name) => match dir.rooms.get(name) {
                Some(room) => room.clone(),
                None => self.create_room(&mut dir, *name, spectating)?,
            },
            RoomRequest::Any => {
                // Fill the fullest room that has space, so players meet each other; spectators
                // go where the most players are, among rooms that still take spectators.
                let max_spectators = u32::from(self.config.max_spectators);
                let best = dir
                    .rooms
                    .values()
                    .filter(|r| {
                        if spectating {
                            r.shared.has_unreserved_spectator_room(max_spectators)
                        } else {
                            r.shared.has_unreserved_player_room()
                        }
                    })
                    .max_by_key(|r| {
                        let promised = r.shared.reserved.load(Ordering::Relaxed);
                        (r.shared.players() + promised, std::cmp::Reverse(r.shared.name))
                    });
                match best {
                    Some(room) => room.clone(),
                    None => {
                        let name = loop {
                            let name =
                                RoomName::truncated(&format!("arena-{}", dir.rooms_created + 1));
                            if !dir.rooms.contains_key(&name) {
                                break name;
                            }
                            dir.rooms_created += 1;
                        };
                        self.create_room(&mut dir, name, spectating)?
                    }
                }
            }
        };
        // Reserved under the directory lock, so the next joiner already sees it. A named room
        // is not chosen by counts, but holding the place keeps its counts honest for `Any`.
        let reservation = reserve(&room, spectating);
        Ok((room, reservation))
    }

    /// Opens room `name` for a joiner (a spectator when `spectating`).
    fn create_room(
        self: &Arc<Self>,
        dir: &mut Directory,
        name: RoomName,
        spectating: bool,
    ) -> Result<RoomHandle, FindRoomError> {
        if self.is_draining() {
            return Err(FindRoomError::Draining);
        }
        // A spectator's join costs nothing per tick and keeps its room in use for as long as
        // it stays: without this, a few addresses' spectators naming rooms of their own could
        // hold every room, and no new match could start. In a fleet the directory holds each
        // node to it (`join.lua`, from the counts of the nodes' heartbeats) before it names
        // the host: a node refusing here a room the directory placed on it would leave the
        // directory naming a room that runs nowhere.
        if spectating
            && self.cluster().is_none()
            && audience_only_rooms(dir) >= self.audience_room_limit()
        {
            return Err(FindRoomError::TooManyAudienceRooms);
        }
        if dir.rooms.len() >= self.config.max_rooms as usize && !self.evict_idle_room(dir) {
            return Err(FindRoomError::TooManyRooms);
        }
        dir.rooms_created += 1;
        let seed = self.seed.map_or_else(rand::random, |seed| seed.wrapping_add(dir.rooms_created));
        // A factory's panic must not unwind through the directory, whose lock every join takes.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.games.new_game(name, seed)
        }));
        let Ok(game) = made else {
            tracing::error!(room = %name.as_str(), "the game factory panicked opening a room");
            return Err(FindRoomError::GameFailed);
        };
        let (commands, shared) = room::spawn(self, name, game);
        let handle = RoomHandle { commands, shared };
        dir.rooms.insert(name, handle.clone());
        if let Some(cluster) = self.cluster() {
            cluster.room_opened(name);
        }
        Ok(handle)
    }

    /// Lists a room named `name` that reads its commands from the receiver returned (a room
    /// that never answers while the test holds it unread).
    #[cfg(test)]
    pub(crate) fn insert_unanswering_room(&self, name: RoomName) -> mpsc::Receiver<RoomCommand> {
        let (commands, unread) = mpsc::channel(1);
        let shared = Arc::new(RoomShared::new(name, self.config.room_capacity));
        lock(&self.directory).rooms.insert(name, RoomHandle { commands, shared });
        unread
    }

    /// Drops `room` from the directory if `still_idle` holds while the directory is locked
    /// (so no joiner can find it in between). Returns whether it is out of the directory. Only
    /// that room: one evicted at the room limit may have left its name to a new room.
    pub fn close_room_if(&self, room: &Arc<RoomShared>, still_idle: impl FnOnce() -> bool) -> bool {
        let mut dir = lock(&self.directory);
        let name = room.name;
        if !dir.rooms.get(&name).is_some_and(|r| Arc::ptr_eq(&r.shared, room)) {
            return true;
        }
        if still_idle() {
            dir.rooms.remove(&name);
            if let Some(cluster) = self.cluster() {
                cluster.room_closed(name);
            }
            true
        } else {
            false
        }
    }

    /// Takes an empty room out of the directory to make way for a new one at the room limit:
    /// a room lingers empty for `--room-idle-grace` only as a courtesy to a quick rejoin, and
    /// rooms opened and left at once must not keep everyone else's new rooms out. The room
    /// ends at its next tick ([`RoomShared::evicted`]). False when every room is in use.
    fn evict_idle_room(&self, dir: &mut Directory) -> bool {
        // An empty room that nobody is on the way into: no seat, no joiner holding a place
        // (a resume too: its seat may expire before its join arrives), no command queued.
        let idle = dir
            .rooms
            .values()
            .filter(|r| r.shared.is_idle() && r.commands.capacity() == r.commands.max_capacity())
            .map(|r| r.shared.name)
            .min();
        let Some(name) = idle else { return false };
        if let Some(room) = dir.rooms.remove(&name) {
            room.shared.evicted.store(true, Ordering::Relaxed);
            debug!(room = %name, "empty room closed early to make way for a new one");
            if let Some(cluster) = self.cluster() {
                cluster.room_closed(name);
            }
        }
        true
    }

    /// Rooms a spectator's join may open while they hold spectators and no players: a
    /// quarter of `--max-rooms` (at least one). The rest are kept for matches.
    pub fn audience_room_limit(&self) -> usize {
        (self.config.max_rooms as usize / 4).max(1)
    }

    /// Rooms open here that hold spectators and no players: what
    /// [`ServerContext::audience_room_limit`] is held to.
    pub fn audience_only_rooms(&self) -> usize {
        audience_only_rooms(&lock(&self.directory))
    }

    /// Rooms open here that are in use (not empty and idle): what the room limit is held to,
    /// as [`ServerContext::find_room`] makes way for a new room by closing an idle one.
    pub fn rooms_in_use(&self) -> usize {
        lock(&self.directory).rooms.values().filter(|r| !r.shared.is_idle()).count()
    }

    /// Remembers which room a resume token belongs to.
    pub fn register_token(&self, token: ResumeToken, room: &RoomName) {
        let mut dir = lock(&self.directory);
        dir.tokens.insert(token, *room);
        self.metrics.resume_tokens.set(dir.tokens.len() as i64);
        if let Some(cluster) = self.cluster() {
            cluster.token_added(token, *room);
        }
    }

    /// Forgets a token whose seat ended.
    pub fn forget_token(&self, token: &ResumeToken) {
        let mut dir = lock(&self.directory);
        if dir.tokens.remove(token).is_some()
            && let Some(cluster) = self.cluster()
        {
            cluster.token_removed(*token);
        }
        self.metrics.resume_tokens.set(dir.tokens.len() as i64);
    }

    /// The node drains: a room whose round ends closes then, telling its clients to join again
    /// (they find the room anew on another node), rather than start a round the drain would
    /// cut off (README, "Draining").
    pub fn start_draining(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Relaxed);
        self.metrics.draining.set(1);
        // The fleet hears of it: no more rooms or matchmaking placed here.
        if let Some(cluster) = self.cluster() {
            cluster.start_draining();
        }
    }

    /// Whether the node drains.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This node's fleet, in cluster mode.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.fleet.get()
    }

    /// The room of a resume token held here.
    pub fn token_room(&self, token: &ResumeToken) -> Option<RoomName> {
        lock(&self.directory).tokens.get(token).copied()
    }

    /// Every resume token held here, with its room.
    pub fn tokens(&self) -> Vec<(ResumeToken, RoomName)> {
        lock(&self.directory).tokens.iter().map(|(t, r)| (*t, *r)).collect()
    }

    /// Whether a room of this name is open here.
    pub fn has_room(&self, name: &RoomName) -> bool {
        lock(&self.directory).rooms.contains_key(name)
    }

    /// The way to room `name` of this server, if it is open.
    pub fn room_handle(&self, name: &RoomName) -> Option<RoomHandle> {
        lock(&self.directory).rooms.get(name).cloned()
    }

    /// The open rooms' shared state.
    pub fn room_states(&self) -> Vec<Arc<RoomShared>> {
        lock(&self.directory).rooms.values().map(|r| r.shared.clone()).collect()
    }

    /// The names of the open rooms.
    pub fn room_names(&self) -> Vec<RoomName> {
        lock(&self.directory).rooms.keys().copied().collect()
    }

    /// The rooms, for `GET /rooms`.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        lock(&self.directory)
            .rooms
            .values()
            .map(|r| RoomInfo {
                id: r.shared.name.to_string(),
                players: r.shared.players(),
                controllers: r.shared.controllers.load(Ordering::Relaxed),
                spectators: r.shared.spectators.load(Ordering::Relaxed),
                capacity: r.shared.capacity,
                tick: r.shared.tick.load(Ordering::Relaxed),
                transports: r.shared.transports.info(),
            })
            .collect()
    }

    /// Counts a WebSocket session from `ip` against the limits; the permit gives it back.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, AdmitError> {
        let keys = AddressKeys::of(ip);
        let mut conns = lock(&self.connections);
        self.admissible(&conns, keys)?;
        let taken = conns.sessions.take(keys, self.config.max_connections_per_ip);
        debug_assert!(taken, "the address had a place a moment ago, under the same lock");
        conns.total += 1;
        self.metrics.sessions.set(i64::from(conns.total));
        Ok(ConnectionPermit { ctx: self.clone(), keys })
    }

    /// What [`ServerContext::admit`] would answer `ip` now, taking nothing: for a page asking
    /// why its WebSocket did not open (`GET /ws` without an upgrade).
    pub fn would_admit(&self, ip: IpAddr) -> Result<(), AdmitError> {
        self.admissible(&lock(&self.connections), AddressKeys::of(ip))
    }

    /// Whether a session of `keys` fits the server's cap and its address's.
    fn admissible(&self, conns: &Connections, keys: AddressKeys) -> Result<(), AdmitError> {
        if conns.total >= self.config.max_connections {
            return Err(AdmitError::ServerFull);
        }
        if conns.sessions.is_full(keys, self.config.max_connections_per_ip) {
            return Err(AdmitError::TooManyFromAddress);
        }
        Ok(())
    }

    /// Counts a player's seat that lost its connection against the seats its address has
    /// waiting for a resume: as many as it may hold sessions (`--max-connections-per-ip`, its
    /// IPv6 /48 four times that). Past that, `None`: the seat ends at once. A seat held for a
    /// resume outlives its connection, so without this cap one address that joins and drops in
    /// a loop, one connection at a time, fills rooms, and the room limit, with seats nobody
    /// will take back. A classroom behind one address whose Wi-Fi drops keeps every seat.
    pub fn hold_seat(self: &Arc<Self>, ip: IpAddr) -> Option<HeldSeat> {
        let keys = AddressKeys::of(ip);
        let taken = lock(&self.connections).held.take(keys, self.config.max_connections_per_ip);
        taken.then(|| HeldSeat { ctx: self.clone(), keys })
    }

    /// Whether `ip` may have its admin token checked: false once it has sent
    /// [`WRONG_ADMIN_TOKENS_BURST`] wrong ones, until it earns another at one a second
    /// ([`ServerContext::wrong_admin_token`]); an IPv6 client's /48 four times that, so a site
    /// rotating through its /64s gains little. A 32-byte token is out of reach of guessing
    /// anyway; a short one (which the server warns about) is not at thousands a second.
    pub fn may_try_admin_token(&self, ip: IpAddr, now: Instant) -> bool {
        lock(&self.connections).wrong_admin_tokens.has_token(AddressKeys::of(ip), now)
    }

    /// Charges a wrong admin token (or none) to `ip` ([`ServerContext::may_try_admin_token`]).
    pub fn wrong_admin_token(&self, ip: IpAddr, now: Instant) {
        let mut conns = lock(&self.connections);
        let keys = AddressKeys::of(ip);
        let _ = conns.wrong_admin_tokens.try_take(keys, 1.0, WRONG_ADMIN_TOKENS_BURST, now);
    }

    /// Charges a new player's or controller's seat to its address: a burst of twice
    /// `--max-connections-per-ip` (a classroom behind one address joins at once, and again
    /// after a server restart; a load test runs twice), then as many a minute as the cap (64
    /// by default: about one a second); an IPv6 client's /48 four times that. False when over.
    /// Every new seat is announced to its whole room (`Event::Joined`, and `Left` when it
    /// goes, each a line in the browser game's chat and in the log), so an address joining and
    /// leaving in a loop would fill every player's chat with names of its choosing, past the
    /// chat limits. Resumes and spectators (counted, not announced) are not charged.
    pub fn take_seat_join(&self, ip: IpAddr, now: Instant) -> bool {
        let cap = self.config.max_connections_per_ip;
        let rate = f64::from(cap) / 60.0;
        let burst = cap.saturating_mul(2);
        lock(&self.connections).seat_joins.try_take(AddressKeys::of(ip), rate, burst, now)
    }

    /// Admits one accepted TCP connection from `ip`. Refused when that address already holds
    /// [`Self::tcp_limit_per_ip`] of them (one address must not be able to fill the server's
    /// connection slots), or opened as many in the last second (a connection that ends at
    /// once holds no slot, but on a TLS port each costs a handshake: without a rate, one
    /// address could spend a core on them).
    pub fn admit_tcp(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<TcpPermit, TcpRefusal> {
        let keys = AddressKeys::of(ip);
        let limit = self.tcp_limit_per_ip();
        let mut conns = lock(&self.connections);
        if !self.take_new_connection(&mut conns, keys, now) {
            return Err(TcpRefusal::TooFast);
        }
        if !conns.tcp.take(keys, limit) {
            return Err(TcpRefusal::TooMany);
        }
        Ok(TcpPermit { ctx: self.clone(), keys })
    }

    /// Charges a new connection of `ip`, a client a trusted proxy names, to the rate its
    /// address may open them at ([`Self::new_connections_per_second`]): the proxy's own TCP
    /// connections are exempt from [`Self::admit_tcp`], so without this a client behind it
    /// could open WebSockets and HTTP fallback sessions as fast as the proxy passes them on.
    /// `false` when over the rate.
    pub fn admit_forwarded(&self, ip: IpAddr, now: Instant) -> bool {
        let mut conns = lock(&self.connections);
        self.take_new_connection(&mut conns, AddressKeys::of(ip), now)
    }

    /// Takes one of the address's (and its IPv6 /48's) new connections for the second.
    fn take_new_connection(
        &self,
        conns: &mut Connections,
        keys: AddressKeys,
        now: Instant,
    ) -> bool {
        let rate = self.new_connections_per_second();
        let burst = rate.saturating_mul(NEW_CONNECTION_BURST_SECONDS);
        conns.opened.try_take(keys, f64::from(rate), burst, now)
    }

    /// Whether `ip` (canonical) is one of `--trusted-proxies`: its connections carry many
    /// clients, each capped by the address the proxy names.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.config.trusted_proxies.iter().any(|t| t.0.contains(&ip))
    }

    /// New TCP connections one address may open a second ([`ServerContext::admit_tcp`]),
    /// after a burst of [`NEW_CONNECTION_BURST_SECONDS`] times as many: as many as it may
    /// hold ([`Self::tcp_limit_per_ip`]), and at least [`NEW_CONNECTIONS_FLOOR`]. So a load
    /// test that raises `--max-connections-per-ip` is not slowed, and a classroom behind one
    /// address loading the page at once (six connections a browser) fits in the burst.
    pub fn new_connections_per_second(&self) -> u32 {
        self.tcp_limit_per_ip().max(NEW_CONNECTIONS_FLOOR)
    }

    /// TCP connections one address may hold: two per session (an HTTP fallback session holds
    /// its stream or poll and its POSTs; a WebSocket, one) plus [`HTTP_CONNECTIONS_PER_IP`] for
    /// plain requests (`/rooms`, `/metrics`, upgrades).
    pub fn tcp_limit_per_ip(&self) -> u32 {
        self.config.max_connections_per_ip.saturating_mul(2).saturating_add(HTTP_CONNECTIONS_PER_IP)
    }

    /// Spectators seated in all rooms together.
    pub fn spectators_admitted(&self) -> u32 {
        self.spectators.load(Ordering::Relaxed)
    }

    /// Takes one of the server's [`ServerConfig::max_spectators_total`] places (a room, for a
    /// spectator it seats); false when none is left. Rooms race for places, so this is one
    /// atomic step rather than a read and a later write.
    pub fn take_spectator_place(&self) -> bool {
        let max = self.config.max_spectators_total;
        // A compare-exchange loop, not `fetch_update`: Rust 1.95 renamed that `try_update`
        // (and later releases deprecate the old name), which the workspace's rust-version lacks.
        let mut seated = self.spectators.load(Ordering::Relaxed);
        while seated < max {
            match self.spectators.compare_exchange_weak(
                seated,
                seated + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => seated = now,
            }
        }
        false
    }

    /// Gives back a place taken with [`ServerContext::take_spectator_place`].
    pub fn release_spectator_place(&self) {
        self.spectators.fetch_sub(1, Ordering::Relaxed);
    }

    /// True once shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// One admitted WebSocket session; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionPermit {
    ctx: Arc<ServerContext>,
    keys: AddressKeys,
}

/// One accepted TCP connection; dropping it frees its place in its address's count.
#[derive(Debug)]
pub struct TcpPermit {
    ctx: Arc<ServerContext>,
    keys: AddressKeys,
}

/// A seat waiting for a resume ([`ServerContext::hold_seat`]); dropping it (the seat resumed
/// or ended) gives its address's place back.
#[derive(Debug)]
pub struct HeldSeat {
    ctx: Arc<ServerContext>,
    keys: AddressKeys,
}

impl Drop for HeldSeat {
    fn drop(&mut self) {
        lock(&self.ctx.connections).held.give_back(self.keys);
    }
}

/// Rooms of `dir` holding spectators and no players ([`RoomShared::is_audience_only`]).
fn audience_only_rooms(dir: &Directory) -> usize {
    dir.rooms.values().filter(|r| r.shared.is_audience_only()).count()
}

/// A place in `room` for one joiner, taken under the directory lock.
fn reserve(room: &RoomHandle, spectating: bool) -> Reservation {
    if spectating {
        Reservation::spectator(room.shared.clone())
    } else {
        Reservation::new(room.shared.clone())
    }
}

/// Whether a resume token for a seat in `seat_room` may resume it for a `Hello` asking for
/// `request`: in the room named, or anywhere for `Any`.
pub fn resume_fits(request: &RoomRequest, seat_room: &RoomName) -> bool {
    match request {
        RoomRequest::Named(name) => name == seat_room,
        RoomRequest::Any => true,
    }
}

impl Drop for TcpPermit {
    fn drop(&mut self) {
        lock(&self.ctx.connections).tcp.give_back(self.keys);
    }
}

/// What the per-address caps count by: an IPv4 address (one mapped into IPv6 included), or an
/// IPv6 address's /64. A host is given a /64 to pick its addresses from (SLAAC, privacy
/// addresses), so counting each IPv6 address apart would hand one machine 2^64 quotas.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    ipv6_prefix(ip, 64).unwrap_or_else(|| crate::proxy::canonical(ip))
}

/// The first `bits` of an IPv6 address (`None` for IPv4, one mapped into IPv6 included).
pub(crate) fn ipv6_prefix(ip: IpAddr, bits: u32) -> Option<IpAddr> {
    match crate::proxy::canonical(ip) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::MAX >> bits);
            Some(IpAddr::V6(std::net::Ipv6Addr::from(prefix)))
        }
        IpAddr::V4(_) => None,
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut conns = lock(&self.ctx.connections);
        conns.total = conns.total.saturating_sub(1);
        self.ctx.metrics.sessions.set(i64::from(conns.total));
        conns.sessions.give_back(self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectator_places_taken_at_once_from_many_threads_never_pass_the_cap() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { max_spectators_total: 100, ..ServerConfig::default() };
        let ctx = ServerContext::new(config, rx);
        let taken: u32 = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..50).filter(|_| ctx.take_spectator_place()).count()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap() as u32).sum()
        });
        assert_eq!(taken, 100, "400 tries for 100 places");
        assert_eq!(ctx.spectators_admitted(), 100);
        ctx.release_spectator_place();
        assert!(ctx.take_spectator_place(), "a place given back is taken again");
        assert!(!ctx.take_spectator_place());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_address_for_the_caps() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { max_connections_per_ip: 1, ..ServerConfig::default() };
        let ctx = Arc::new(ServerContext::new(config, rx));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let first = ctx.admit(ip("2001:db8:0:1::1")).unwrap();
        // Another address of the same /64: the same host, over its cap.
        assert!(matches!(
            ctx.admit(ip("2001:db8:0:1:ffff::2")),
            Err(AdmitError::TooManyFromAddress)
        ));
        // Another /64 is another host.
        let other = ctx.admit(ip("2001:db8:0:2::1")).unwrap();
        // IPv4, plain or mapped into IPv6, is counted per address.
        let v4 = ctx.admit(ip("192.0.2.1")).unwrap();
        assert!(matches!(ctx.admit(ip("::ffff:192.0.2.1")), Err(AdmitError::TooManyFromAddress)));
        assert!(ctx.admit(ip("192.0.2.2")).is_ok());
        drop(first);
        assert!(ctx.admit(ip("2001:db8:0:1::3")).is_ok(), "its place is given back");
        // TCP connections count the same way (asked seconds apart: not the rate's refusal).
        let t0 = Instant::now();
        let tcp: Vec<_> = (0..ctx.tcp_limit_per_ip())
            .map(|i| {
                ctx.admit_tcp(ip(&format!("2001:db8:0:3::{:x}", i + 1)), t0).expect("under the cap")
            })
            .collect();
        let later = t0 + std::time::Duration::from_secs(10);
        let refused = ctx.admit_tcp(ip("2001:db8:0:3::ffff"), later);
        assert_eq!(refused.err(), Some(TcpRefusal::TooMany));
        drop(tcp);
        assert!(
            ctx.admit_tcp(ip("2001:db8:0:3::ffff"), t0 + std::time::Duration::from_secs(20))
                .is_ok()
        );
        drop((other, v4));
    }

    #[test]
    fn an_ipv6_slash_48_holds_a_few_addresses_worth_not_65536() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { max_connections_per_ip: 2, ..ServerConfig::default() };
        let ctx = Arc::new(ServerContext::new(config, rx));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let site_cap = 2 * ADDRESSES_PER_IPV6_SITE;
        // Every session from another /64 of one /48: each /64 is under its own cap.
        let mut sessions: Vec<_> = (0..site_cap)
            .map(|i| ctx.admit(ip(&format!("2001:db8:7:{:x}::1", i + 1))).expect("under the cap"))
            .collect();
        assert!(matches!(ctx.admit(ip("2001:db8:7:ff::1")), Err(AdmitError::TooManyFromAddress)));
        // Another site, and IPv4, are not held to it.
        let other_site = ctx.admit(ip("2001:db8:8:1::1")).expect("another /48");
        let v4: Vec<_> = (0..site_cap + 1)
            .map(|i| ctx.admit(ip(&format!("192.0.2.{}", i + 1))).expect("IPv4 by address"))
            .collect();
        // A place given back is the site's again.
        sessions.pop();
        let again = ctx.admit(ip("2001:db8:7:ff::1")).expect("the place given back");
        assert!(ctx.admit(ip("2001:db8:7:fe::1")).is_err(), "and only that one");
        // TCP connections the same, at four times an address's TCP cap.
        let tcp_cap = ctx.tcp_limit_per_ip() * ADDRESSES_PER_IPV6_SITE;
        let t0 = Instant::now();
        let tcp: Vec<_> = (0..tcp_cap)
            .map(|i| {
                let host = i / ctx.tcp_limit_per_ip() + 1;
                let address = ip(&format!("2001:db8:9:{host:x}::{:x}", i + 1));
                ctx.admit_tcp(address, t0).expect("under")
            })
            .collect();
        let later = t0 + std::time::Duration::from_secs(10);
        let refused = ctx.admit_tcp(ip("2001:db8:9:ff::1"), later);
        assert_eq!(refused.err(), Some(TcpRefusal::TooMany));
        drop(tcp);
        assert!(
            ctx.admit_tcp(ip("2001:db8:9:ff::1"), t0 + std::time::Duration::from_secs(20)).is_ok()
        );
        drop((other_site, v4, again, sessions));
    }

    /// Connections that end at once hold no place, so the count alone never stops a peer
    /// that opens them in a loop (on a TLS port, a handshake each): an address opens at most
    /// its rate a second, after a burst; an IPv6 /48, four times that. A raised cap raises it.
    #[test]
    fn an_address_opens_new_connections_at_a_bounded_rate() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { max_connections_per_ip: 2, ..ServerConfig::default() };
        let ctx = Arc::new(ServerContext::new(config, rx));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let rate = ctx.new_connections_per_second();
        assert_eq!(rate, NEW_CONNECTIONS_FLOOR, "a small cap still allows the floor");
        let burst = rate * NEW_CONNECTION_BURST_SECONDS;
        let t0 = Instant::now();
        let open_and_close = |address: &str, now| ctx.admit_tcp(ip(address), now).map(drop);
        for _ in 0..burst {
            assert_eq!(open_and_close("192.0.2.1", t0), Ok(()));
        }
        assert_eq!(open_and_close("192.0.2.1", t0), Err(TcpRefusal::TooFast));
        assert_eq!(open_and_close("192.0.2.2", t0), Ok(()), "another address has its own");
        let tick = std::time::Duration::from_secs(1) / rate;
        assert_eq!(open_and_close("192.0.2.1", t0 + tick * 3 / 2), Ok(()), "refilled at the rate");
        assert_eq!(open_and_close("192.0.2.1", t0 + tick * 3 / 2), Err(TcpRefusal::TooFast));
        // One /48, from a new /64 each time: held to four addresses' worth all the same.
        let site = burst * ADDRESSES_PER_IPV6_SITE;
        for i in 0..site {
            assert_eq!(open_and_close(&format!("2001:db8:5:{:x}::1", i + 1), t0), Ok(()));
        }
        assert_eq!(open_and_close("2001:db8:5:ffff::1", t0), Err(TcpRefusal::TooFast));
        assert_eq!(open_and_close("2001:db8:6:1::1", t0), Ok(()), "another /48");
        let (_tx, rx) = watch::channel(false);
        let load_test = ServerConfig { max_connections_per_ip: 60_000, ..ServerConfig::default() };
        let ctx = ServerContext::new(load_test, rx);
        assert_eq!(ctx.new_connections_per_second(), ctx.tcp_limit_per_ip());
    }

    /// A client a trusted proxy names is held to the rate of a direct one, in the same bucket.
    #[test]
    fn a_forwarded_client_opens_connections_at_an_address_s_rate() {
        let (_tx, rx) = watch::channel(false);
        let config = ServerConfig { max_connections_per_ip: 2, ..ServerConfig::default() };
        let ctx = Arc::new(ServerContext::new(config, rx));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let burst = ctx.new_connections_per_second() * NEW_CONNECTION_BURST_SECONDS;
        let t0 = Instant::now();
        for _ in 0..burst - 1 {
            assert!(ctx.admit_forwarded(ip("203.0.113.9"), t0));
        }
        // Direct and forwarded connections of one address share its bucket.
        assert!(ctx.admit_tcp(ip("203.0.113.9"), t0).is_ok());
        assert!(!ctx.admit_forwarded(ip("203.0.113.9"), t0), "over the rate");
        assert!(ctx.admit_forwarded(ip("203.0.113.10"), t0), "another client");
        assert!(ctx.admit_forwarded(ip("203.0.113.9"), t0 + std::time::Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn a_resume_token_resumes_only_in_the_room_asked_for() {
        let (_tx, rx) = watch::channel(false);
        let ctx = ServerContext::new(ServerConfig::default(), rx);
        let (casual, finals) = (RoomName::truncated("casual"), RoomName::truncated("finals"));
        let token = ResumeToken([9; 16]);
        let found = |request: RoomRequest| {
            let (handle, _) = ctx.find_room(&request, Some(&token), false).ok().unwrap();
            handle.shared.name
        };
        assert_eq!(found(RoomRequest::Named(casual)), casual);
        ctx.register_token(token, &casual);
        // A join token pinned to finals names finals: a seat in casual does not take it there.
        assert_eq!(found(RoomRequest::Named(finals)), finals);
        assert_eq!(found(RoomRequest::Named(casual)), casual);
        assert_eq!(found(RoomRequest::Any), casual, "Any follows the token");
    }
}
