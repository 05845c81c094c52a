//! Cluster mode (`--redis-url`): server processes share a room directory in Redis, so a
//! client reaching any node plays in any room of the fleet.
//!
//! # How a join is placed
//! A node that reads a `Hello` asks the directory ([`directory::Directory::join`], one Lua
//! script) where it goes: a named room is found or opened (its name is claimed by exactly one
//! node), `Any` picks the fullest open room of the fleet; either way a seat is promised to the
//! joiner in the same atomic step, so concurrent joins through different nodes never pick a
//! room past its capacity. When the room is hosted here the client joins it as in a single
//! server; when it is hosted elsewhere this node proxies the connection to that node
//! ([`proxy`]): the client keeps the one URL it knows (a microcontroller's baked-in address
//! included) and the protocol is unchanged. README ("Running a fleet") has the measurements
//! behind proxying rather than redirecting.
//!
//! A resume token is found on the node holding its seat, by token, so a dropped client may
//! come back through any node and takes the same ship back.
//!
//! # Registration
//! A background task ([`run`]) renews the node's registration every third of `--node-ttl`
//! (node, rooms and tokens expire together when a node dies), writes room counts when they
//! change (and every room's tick, for `/rooms`, with each renewal), and writes everything
//! again whenever the directory forgot the node (a Redis restart, a lapse). Nothing it keeps
//! grows with anything but the node's own rooms, seats and joins in flight.
//!
//! # Redis away
//! Rooms never wait for Redis: running matches go on. What needs the directory (a join whose
//! room is not here, a resume whose seat is not here) is refused with 1013 and a reason until
//! it answers again; joins of rooms and seats hosted here still work.
//!
//! # Draining
//! [`Cluster::start_draining`]: the node takes no new rooms and no matchmaking, `/healthz`
//! answers 503, and `run` lets its matches go on for `--drain-timeout` (see
//! [`crate::server::run`]). Then it leaves the directory ([`Cluster::leave`]) before its
//! clients get the 1001 that sends them to other nodes.
//!
//! # Layout
//! - [`directory`]: the Redis calls and their Lua scripts (`lua/`).
//! - [`proxy`]: the connection to the node that hosts a client's room, and the relay.
//! - [`selfcheck`]: whether the node's `--node-url` reaches the node itself.

pub mod directory;
pub mod proxy;
pub mod selfcheck;

use crate::config::ServerConfig;
use crate::connection::{self, Admitted, ReadEnd};
use crate::context::{ServerContext, resume_fits};
use crate::outbox::{ClientLink, CloseRequest};
use crate::transport::Transport;
use directory::{
    Directory, DirectoryError, FleetNode, FleetRoom, JoinLimits, Registration, RoomCounts, Wanted,
};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tickwire_shared::{Hello, KickReason, ResumeToken, Role, RoomName, RoomRequest};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// Header a node sends on a proxied upgrade: the fleet's secret.
pub const HOP_HEADER: &str = "x-tickwire-hop";
/// Header carrying the client's address on a proxied upgrade.
pub const CLIENT_HEADER: &str = "x-tickwire-client";
/// Header carrying the id of the seat the directory promised the joiner.
pub const PROMISE_HEADER: &str = "x-tickwire-promise";
/// Header naming the transport the client reached the proxying node over (`stream`, `poll`),
/// so the hosting node counts the client where it belongs; absent for a WebSocket. A node
/// that does not know it ignores it (and counts a WebSocket), and a hop without it is read as
/// one, so nodes of the versions before and after it proxy to each other unchanged.
pub const TRANSPORT_HEADER: &str = "x-tickwire-transport";
/// Header naming the node a hop is meant for (its `--node-id`): a node that is not that one
/// refuses it (`Cluster::admit`, [`MISDIRECTED`]) rather than open the room itself, where a
/// `--node-url` reaches the wrong server (a balancer's or Service's address, a reused pod IP).
/// Only checked when present: nodes of the releases before it send none, and a fleet being
/// upgraded node by node keeps relaying between old and new nodes as before.
pub const NODE_HEADER: &str = "x-tickwire-node";
/// Header carrying the relaying node's join-token fingerprints, comma separated, one for each
/// key it accepts ([`Cluster::join_fingerprints`]): a node that accepts none of those keys
/// (or checks tokens with another audience or issuer) refuses the hop (403), as the node a
/// client reaches is the one that checks its token, so one node without `--join-secret` (a
/// missing variable in one pod) would let anyone into every node's rooms. A key in common is
/// enough: nodes on either side of a key rotation relay to each other. Only checked when
/// present, as [`NODE_HEADER`].
pub const JOIN_HEADER: &str = "x-tickwire-join";
/// What a node answers a hop from a node with other join-token settings.
pub const JOIN_MISMATCH: &str = "this node checks join tokens otherwise than the node relaying \
     the client: --join-secret (or --join-public-key), --join-audience and --join-issuer must \
     be the same on every node";
/// The close code by which a node refuses a WebSocket hop meant for another node
/// ([`NODE_HEADER`]), with [`MISDIRECTED_REASON`] and its own id as the reason. Between nodes
/// only: the relaying node tells its client 1013 without a `Kick` (HTTP's 421 Misdirected
/// Request, as a close after the upgrade).
pub const MISDIRECTED: u16 = 4021;
/// What the reason of a [`MISDIRECTED`] close says before the refusing node's id.
pub const MISDIRECTED_REASON: &str = "misdirected hop; this node is ";

/// How long a seat promised to a joiner is held if it never arrives (it arrives within the
/// join timeouts, a few seconds, or not at all).
const PROMISE_HOLD: Duration = Duration::from_secs(15);
/// How often room counts are compared with what the directory was last told.
const COUNTS_PERIOD: Duration = Duration::from_millis(250);
/// Promise ids waiting to be written (taken up or given back) at most: past it the oldest
/// simply lapse in Redis after [`PROMISE_HOLD`].
const MAX_PENDING_PROMISES: usize = 4096;
/// Attempts to place an `Any` join whose chosen room turned out full (its counts in the
/// directory lagged behind, e.g. a room that closed and opened again), or whose node could not
/// be reached (it is suspect from then on, and avoided: [`Cluster::suspect`]).
const PLACEMENT_ATTEMPTS: usize = 3;
/// How long `GET /rooms` and `GET /nodes` answer from one reading of the fleet. A reading is
/// a script Redis runs over every room of the fleet, holding up joins and heartbeats
/// meanwhile, and every lobby polls `/rooms` (each browser every 2 s), so a node reads at most
/// once a second whatever its lobbies ask.
const LISTING_MAX_AGE: Duration = Duration::from_secs(1);
/// How often a node that never registered repeats why (the same error).
const UNREGISTERED_LOG_EVERY: Duration = Duration::from_secs(60);

/// A proxied upgrade, as the receiving node verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The client's own address, as the proxying node saw it.
    pub client: Option<IpAddr>,
    /// The seat promise the joiner carries, taken up when it is seated here.
    pub promise: Option<String>,
    /// The transport the client reached the proxying node over.
    pub transport: Transport,
    /// The node the hop is meant for ([`NODE_HEADER`]), when the proxying node named one.
    pub node: Option<String>,
    /// The proxying node's join-token fingerprints ([`JOIN_HEADER`]), when it sent them.
    pub join: Option<String>,
}

/// Directory writes waiting for the sync task.
#[derive(Debug, Default)]
struct Pending {
    /// Rooms whose counts should be written now (opened, or promises taken up).
    rooms: HashSet<RoomName>,
    /// Rooms this node closed.
    closed: HashSet<RoomName>,
    /// Promise ids taken up, by room (written with the room's counts).
    taken: HashMap<RoomName, Vec<String>>,
    /// Promise ids given back.
    released: Vec<(RoomName, String)>,
    tokens_added: HashMap<ResumeToken, RoomName>,
    tokens_removed: HashSet<ResumeToken>,
    /// Write everything again (the directory forgot us, or a write failed).
    everything: bool,
}

impl Pending {
    fn promises(&self) -> usize {
        self.released.len() + self.taken.values().map(Vec::len).sum::<usize>()
    }
}

/// This node's membership of a fleet.
#[derive(Debug)]
pub struct Cluster {
    /// This node's name.
    pub node: String,
    /// The tag its HTTP fallback sessions' ids carry ([`crate::fallback::session::node_tag`]).
    pub(crate) fallback_tag: crate::fallback::session::NodeTag,
    /// How the other nodes reach this one.
    pub node_url: String,
    directory: Directory,
    ttl: Duration,
    draining: AtomicBool,
    /// Heartbeat at once (draining started).
    announce: AtomicBool,
    /// `tickwire_directory_up`: 1 while the directory answers.
    pub directory_up: prometheus_client::metrics::gauge::Gauge,
    /// The directory answered the last call.
    up: AtomicBool,
    /// This node's candidate for the fleet secret (kept when the fleet has none).
    own_secret: String,
    /// The fleet's secret as last read.
    secret: Mutex<Option<String>>,
    /// The keys this node checks join tokens with, when it does: their prints go with every
    /// relay ([`JOIN_HEADER`]), as the last SIGHUP left them.
    join: Option<Arc<crate::auth::JoinKeys>>,
    /// Addresses of the fleet's nodes (exempt from the per-address TCP cap: a node proxies
    /// many clients).
    peers: Mutex<HashSet<IpAddr>>,
    pending: Mutex<Pending>,
    wake: Notify,
    /// A heartbeat has registered this node before (see [`settle_period`]).
    registered_once: AtomicBool,
    /// What the last "cannot register" error said, and when (see [`heartbeat_once`]).
    unregistered_log: Mutex<Option<(String, Instant)>>,
    /// Whether this process holds the node's id in the directory (see [`Hold`]).
    hold: Mutex<Hold>,
    /// The last reading of the fleet's rooms and nodes, and when it was taken (see
    /// [`Cluster::listing`]).
    listing: tokio::sync::Mutex<Option<(Instant, Listing)>>,
    /// The fleet's nodes as the last good reading found them, and when: fallback requests are
    /// passed on by them without waiting for Redis ([`Cluster::fallback_node`]).
    nodes: Mutex<(Option<Instant>, Vec<FleetNode>)>,
    /// The last reading of the fleet failed: logged once when it starts failing, not with
    /// every `/rooms` or `/nodes` request (public routes) answered from it.
    listing_failed: AtomicBool,
    /// Stops the registration task ([`run`]) for good: the node is leaving the directory,
    /// and a heartbeat after that would list it again.
    stop: CancellationToken,
    /// Nodes this one could not reach lately, and until when they are avoided (see
    /// [`Cluster::suspect`]); at most [`Cluster::fleet_size`] of them.
    suspects: Mutex<HashMap<String, Instant>>,
    /// How many live nodes the last heartbeat found (this one included).
    fleet_size: AtomicUsize,
    /// `tickwire_join_key_strangers`: live nodes that share no join key with this one.
    pub join_strangers: prometheus_client::metrics::gauge::Gauge,
    /// `tickwire_join_key_differing`: live nodes whose join keys are not exactly this one's.
    pub join_differing: prometheus_client::metrics::gauge::Gauge,
    /// Those nodes, by id and prints, as last logged (see [`judge_join_keys`]).
    join_strangers_seen: Mutex<Vec<(String, String)>>,
    /// When a relay refused for its join checks was last logged (see
    /// [`Cluster::relay_refusal_log_due`]).
    relay_refusal_logged: Mutex<Option<Instant>>,
}

/// The fleet's rooms and nodes as one reading found them, or why the directory did not answer.
type Listing = Arc<Result<(Vec<FleetRoom>, Vec<FleetNode>), String>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves the state consistent (set and map edits).
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The room a `Hello` names, if it names one.
fn named_room(request: &RoomRequest) -> Option<RoomName> {
    match request {
        RoomRequest::Named(room) => Some(*room),
        RoomRequest::Any => None,
    }
}

/// A random id: 128 bits as hex.
fn random_id() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

/// This machine's name, when it has a usable one (a pod's name in Kubernetes).
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    crate::config::parse_node_id(name.trim()).ok()
}

/// The host of a `ws://host:port/path` URL, as an address when it is one.
fn url_ip(url: &str) -> Option<IpAddr> {
    node_authority(url)?.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok()
}

/// The `host:port` of a node's `ws://host[:port]/path` URL, port 80 when it names none, as
/// for any `ws://` URL: `--node-url` may leave it out, and a socket cannot.
fn node_authority(url: &str) -> Option<String> {
    let authority =
        url.strip_prefix("ws://")?.split('/').next().filter(|authority| !authority.is_empty())?;
    Some(match crate::config::authority_port(authority) {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    })
}

/// The `http://host:port` of a node's `ws://host:port/path` URL: the same listener serves
/// its plain HTTP routes.
fn http_base(url: &str) -> Option<String> {
    node_authority(url).map(|authority| format!("http://{authority}"))
}

/// Whether this process holds its node's id in the directory: a second process given the same
/// `--node-id` must not write over the first's registration, rooms and seats, nor place joins
/// in the first's rooms as its own.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hold {
    /// No heartbeat answered yet (Redis away since the start).
    Unknown,
    /// The last heartbeat that answered registered this process.
    Held,
    /// Another process holds the id; its last renewal as first seen. A previous run of this
    /// node that died renews nothing and lapses within its TTL: then this process takes the
    /// id. One that renews is alive: [`Hold::Duplicate`].
    Taken(String),
    /// Another live process holds the id: this one stays out of the fleet for good.
    Duplicate,
}

/// This node's name: `--node-id`, else the host name, else a random one.
fn node_id(config: &ServerConfig) -> String {
    config
        .node_id
        .clone()
        .or_else(host_name)
        .unwrap_or_else(|| format!("node-{}", &random_id()[..8]))
}

/// How often [`check_node_id`] reads the registration it waits on.
const HOLDER_POLL: Duration = Duration::from_millis(100);

/// Checks, before a node starts, that no other live process is registered under its id at
/// `--redis-url` (`Ok` without one). A registration found may be a previous run of this node
/// that died less than its TTL ago: it is watched until it lapses (`Ok`) or is renewed, by a
/// live server with the same id (`Err`, saying which flag to change). `Ok` when Redis does not
/// answer: a node starts without it, and its heartbeat refuses to take a live id all the same
/// (the node then stays out of the fleet, logging why).
pub async fn check_node_id(config: &ServerConfig) -> Result<(), String> {
    let Some(url) = config.redis_url.as_deref() else { return Ok(()) };
    let node = node_id(config);
    let directory = Directory::new(url, &node, config.redis_timeout).map_err(|e| e.to_string())?;
    let (first, ttl) = match directory.holder().await {
        Ok(Some(holder)) => holder,
        Ok(None) => return Ok(()),
        Err(e) => {
            // Said now, at the start, where an operator looks: a wrong password or address.
            warn!(
                %node,
                error = %e,
                "cannot read the room directory at --redis-url: starting anyway; joins are \
                 refused until this node registers"
            );
            return Ok(());
        }
    };
    info!(
        %node,
        ?ttl,
        "this node id is registered: waiting for it to lapse (a previous run of this node) or \
         be renewed (another live server with the same id)"
    );
    let deadline = Instant::now() + ttl + config.redis_timeout;
    while Instant::now() < deadline {
        tokio::time::sleep(HOLDER_POLL).await;
        match directory.holder().await {
            Ok(Some((beat, _))) if beat != first => {
                return Err(format!(
                    "another live server is registered as node `{node}` in the fleet at \
                     --redis-url: give each server its own --node-id (TICKWIRE_NODE_ID; unset, \
                     it is the host name)"
                ));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Why a join was refused for lack of the directory. A passing fault, not a full room: 1013
/// without a `Kick`, which clients retry (a `Kick { Full }` ends a first join in both SDKs).
fn directory_unavailable(why: &str) -> CloseRequest {
    connection::close_only(
        connection::close_code::TRY_AGAIN_LATER,
        format!("room directory unavailable ({why}); try again shortly"),
    )
}

/// The node URL when `--node-url` is unset, from the address the listener got (`bound`) and
/// this machine's LAN addresses (`lan`, private ranges first, as
/// [`crate::lan::lan_addresses`] lists them): the bound address, or the first LAN address when
/// bound to all interfaces (loopback when there is none). With it, whether that address is
/// not on a private network ([`crate::lan::is_private_network`]): the other nodes' relays would
/// then carry the fleet's secret in plain text over what may be the internet.
fn default_node_url(bound: std::net::SocketAddr, lan: &[std::net::Ipv4Addr]) -> (String, bool) {
    let ip = match bound.ip() {
        ip if ip.is_unspecified() => {
            lan.first().map_or(IpAddr::from([127, 0, 0, 1]), |v4| IpAddr::V4(*v4))
        }
        ip => ip,
    };
    let url = format!("ws://{}/ws", std::net::SocketAddr::new(ip, bound.port()));
    (url, !crate::lan::is_private_network(ip))
}

impl Cluster {
    /// This node's membership, from `config` (which has `redis_url`). `bound`: the address
    /// the listener got, for the default node URL; `join`: the keys this node checks join
    /// tokens with, if it does. Fails only on a malformed Redis URL. Called within the tokio
    /// runtime (the Redis connection manager starts on it).
    pub fn new(
        config: &ServerConfig,
        bound: std::net::SocketAddr,
        join: Option<Arc<crate::auth::JoinKeys>>,
    ) -> Result<Arc<Cluster>, DirectoryError> {
        let node = node_id(config);
        let node_url = match &config.node_url {
            Some(url) => url.clone(),
            None => {
                let (url, public) = default_node_url(bound, &crate::lan::lan_addresses());
                if public {
                    warn!(
                        node_url = %url,
                        "--node-url is unset and its default is not a private address: the \
                         fleet's relays to this node would carry its secret (x-tickwire-hop) \
                         and its players' traffic in plain text, maybe over the internet; set \
                         --node-url to an address on the fleet's private network"
                    );
                }
                url
            }
        };
        let url = config.redis_url.as_deref().unwrap_or("redis://127.0.0.1/");
        let directory = Directory::new(url, &node, config.redis_timeout)?;
        Ok(Arc::new(Cluster {
            fallback_tag: crate::fallback::session::node_tag(&node),
            node,
            node_url,
            directory,
            ttl: config.node_ttl,
            draining: AtomicBool::new(false),
            announce: AtomicBool::new(false),
            directory_up: Default::default(),
            up: AtomicBool::new(false),
            own_secret: random_id(),
            secret: Mutex::new(None),
            join,
            peers: Mutex::new(HashSet::new()),
            pending: Mutex::new(Pending { everything: true, ..Pending::default() }),
            wake: Notify::new(),
            registered_once: AtomicBool::new(false),
            unregistered_log: Mutex::new(None),
            hold: Mutex::new(Hold::Unknown),
            listing: tokio::sync::Mutex::new(None),
            nodes: Mutex::new((None, Vec::new())),
            listing_failed: AtomicBool::new(false),
            stop: CancellationToken::new(),
            suspects: Mutex::new(HashMap::new()),
            fleet_size: AtomicUsize::new(1),
            join_strangers: Default::default(),
            join_differing: Default::default(),
            join_strangers_seen: Mutex::new(Vec::new()),
            relay_refusal_logged: Mutex::new(None),
        }))
    }

    /// The fleet's rooms and nodes, read at most [`LISTING_MAX_AGE`] ago. One reading at a
    /// time: requests that arrive during it wait for it and share it, a failure included, so a
    /// directory that is away is asked again only once the age has passed.
    async fn listing(&self) -> Listing {
        let mut cached = self.listing.lock().await;
        if let Some((taken, listing)) = cached.as_ref()
            && taken.elapsed() < LISTING_MAX_AGE
        {
            return listing.clone();
        }
        let listing = match self.directory.list().await {
            // Redis answered with a fleet that lacks this node: its registration lapsed (its
            // heartbeats fail while reads pass, as when Redis is out of memory, and every node
            // lapses alike), or it holds none yet. Not the fleet: an empty list with a 200
            // would tell a lobby or a dashboard that no room plays anywhere.
            Ok((_, nodes)) if !nodes.iter().any(|node| node.id == self.node) => Err(format!(
                "the room directory does not list this node ({}): its registration lapsed or \
                 was never made",
                self.node
            )),
            listed => listed.map_err(|e| e.to_string()),
        };
        let listing = Arc::new(listing);
        match listing.as_ref() {
            Ok((_, nodes)) => {
                *lock(&self.nodes) = (Some(Instant::now()), nodes.clone());
                if self.listing_failed.swap(false, Ordering::Relaxed) {
                    info!("the fleet's rooms and nodes can be read again");
                }
            }
            // The error names Redis's address and state: the operator's log, not the public's.
            Err(e) => {
                // What `tickwire_directory_up` says now, not at the next heartbeat (a third of
                // the TTL away), which sets it again. The gauge only: a listing, the heaviest
                // call, may time out while heartbeats pass, and marking the directory down
                // would have the next one rewrite every room.
                self.directory_up.set(0);
                if !self.listing_failed.swap(true, Ordering::Relaxed) {
                    warn!(
                        error = %e,
                        "cannot read the fleet's rooms and nodes: /rooms lists this node's own, \
                         /nodes answers 503"
                    );
                }
            }
        }
        *cached = Some((Instant::now(), listing.clone()));
        listing
    }

    /// The directory (for tools and tests).
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// True while the node drains: no new rooms, no matchmaking into it, `/healthz` 503.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// True once a heartbeat has registered this node in the directory. Before that it refuses
    /// every join (it is not in the fleet) and must not look ready: a wrong `--redis-url` or
    /// password would otherwise leave a node that a load balancer keeps sending players to.
    /// A node that registered stays ready through a Redis outage, as its matches go on.
    pub fn is_registered(&self) -> bool {
        self.registered_once.load(Ordering::Relaxed)
    }

    /// True while another process holds this node's id (`Hold::Taken`, `Hold::Duplicate`):
    /// the node refuses every join then, and must not look ready for new players.
    pub fn is_locked_out(&self) -> bool {
        matches!(&*lock(&self.hold), Hold::Taken(_) | Hold::Duplicate)
    }

    /// True when this node's last heartbeat reached the directory and no call failed since.
    /// Only a heartbeat marks it up again: a Redis out of memory still runs the scripts whose
    /// writes only delete (a listing) while it refuses every heartbeat, and the directory then
    /// forgets this node; a call answered must not say the directory is back.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Leaves the fleet's matchmaking (the next heartbeat, sent now, says so).
    pub fn start_draining(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            info!(node = %self.node, "draining: no new rooms or matchmaking here");
            self.announce.store(true, Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// Whether a relay refused for its join checks, on either side, is to be logged: at most
    /// one a [`crate::metrics::REFUSAL_LOG_INTERVAL`] (each is counted all the same, and
    /// `tickwire_join_key_strangers` says which nodes).
    pub(crate) fn relay_refusal_log_due(&self) -> bool {
        let mut last = lock(&self.relay_refusal_logged);
        let due = last.is_none_or(|at| at.elapsed() >= crate::metrics::REFUSAL_LOG_INTERVAL);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// The join keys changed (a SIGHUP): the next heartbeat, sent now, writes their prints
    /// for the other nodes and `/nodes`.
    pub fn join_keys_changed(&self) {
        self.announce.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Whether `ip` is a node of the fleet.
    pub fn is_peer(&self, ip: IpAddr) -> bool {
        lock(&self.peers).contains(&ip)
    }

    /// The proxied-upgrade headers, checked: `None` when there are none, `Some(Err)` when
    /// they do not carry the fleet's secret.
    pub fn verify_hop(&self, headers: &axum::http::HeaderMap) -> Option<Result<Hop, ()>> {
        let claimed = headers.get(HOP_HEADER)?.to_str().unwrap_or("");
        let secret = lock(&self.secret).clone();
        let genuine = secret.is_some_and(|s| constant_time_eq(claimed.as_bytes(), s.as_bytes()));
        if !genuine {
            return Some(Err(()));
        }
        let value = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let transport = value(TRANSPORT_HEADER)
            .and_then(|name| Transport::ALL.into_iter().find(|t| t.name() == name))
            .unwrap_or(Transport::WebSocket);
        Some(Ok(Hop {
            client: value(CLIENT_HEADER).and_then(|ip| ip.parse().ok()),
            promise: value(PROMISE_HEADER)
                .filter(|p| p.len() <= 64 && p.bytes().all(|b| b.is_ascii_hexdigit())),
            transport,
            // Anything but a valid id is not this node's: refused as misdirected, so a value
            // that does not parse never passes for no value at all.
            node: headers.get(NODE_HEADER).map(|v| {
                let text = v.to_str().unwrap_or("");
                crate::config::parse_node_id(text).unwrap_or_else(|_| "?".to_string())
            }),
            join: value(JOIN_HEADER),
        }))
    }

    /// How this node checks join tokens now: a fingerprint for each key it takes
    /// ([`crate::auth::JoinVerifier::prints`]), `none` without tokens.
    pub fn join_fingerprints(&self) -> Vec<String> {
        match &self.join {
            Some(keys) => keys.current().prints().to_vec(),
            None => vec!["none".into()],
        }
    }

    /// Whether a hop's client had its join token checked as this node would check it: the
    /// relaying node accepts a key this one accepts, with the same audience and issuer (or,
    /// of a release before the check, did not say).
    pub fn same_join_checks(&self, hop: &Hop) -> bool {
        hop.join.as_ref().is_none_or(|theirs| shares_a_print(theirs, &self.join_fingerprints()))
    }

    /// The headers by which a node of the fleet proves itself to another, says who the
    /// client is and which node (`node`, its id, when known) the hop is for
    /// ([`Cluster::verify_hop`] checks them); `None` before the fleet's secret is known.
    pub(crate) fn hop_headers(
        &self,
        client: IpAddr,
        node: Option<&str>,
    ) -> Option<axum::http::HeaderMap> {
        let secret = axum::http::HeaderValue::from_str(&self.secret()?).ok()?;
        let client = axum::http::HeaderValue::from_str(&client.to_string()).ok()?;
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(HOP_HEADER, secret);
        headers.insert(CLIENT_HEADER, client);
        let join = self.join_fingerprints().join(",");
        headers.insert(JOIN_HEADER, axum::http::HeaderValue::from_str(&join).ok()?);
        if let Some(node) = node {
            headers.insert(NODE_HEADER, axum::http::HeaderValue::from_str(node).ok()?);
        }
        Some(headers)
    }

    /// The id of the live node, other than this one, whose fallback sessions carry `tag`, as
    /// the last reading of the fleet found it (the one [`Cluster::fallback_node`] just used).
    pub(crate) fn fallback_node_id(
        &self,
        tag: crate::fallback::session::NodeTag,
    ) -> Option<String> {
        let known = lock(&self.nodes);
        known
            .1
            .iter()
            .find(|node| {
                node.id != self.node && crate::fallback::session::node_tag(&node.id) == tag
            })
            .map(|node| node.id.clone())
    }

    /// `node` could not be reached (or its URL reaches another server): for one TTL, `Any`
    /// is placed in none of its rooms and no new room opens on it ([`Directory::join_avoiding`]),
    /// while a join of a room it hosts tries it again, an answer clearing it. Without this a node that
    /// died is listed until its registration lapses, its fullest room keeps winning
    /// matchmaking, and every such join fails (after a connect timeout, when the host is
    /// powered off). At most as many as the fleet has nodes: the one that lapses first makes
    /// room.
    pub(crate) fn suspect(&self, node: &str) {
        let now = Instant::now();
        let mut suspects = lock(&self.suspects);
        suspects.retain(|_, until| *until > now);
        let most = self.fleet_size.load(Ordering::Relaxed).max(1);
        while !suspects.contains_key(node) && suspects.len() >= most {
            let first = suspects.iter().min_by_key(|(_, until)| **until).map(|(n, _)| n.clone());
            match first {
                Some(first) => suspects.remove(&first),
                None => break,
            };
        }
        suspects.insert(node.to_string(), now + self.ttl);
    }

    /// Whether `node` is suspect ([`Cluster::suspect`]).
    pub(crate) fn is_suspect(&self, node: &str) -> bool {
        lock(&self.suspects).get(node).is_some_and(|until| *until > Instant::now())
    }

    /// `node` answered: no longer suspect.
    pub(crate) fn reached(&self, node: &str) {
        let mut suspects = lock(&self.suspects);
        if !suspects.is_empty() {
            suspects.remove(node);
        }
    }

    /// The nodes suspect now ([`Cluster::suspect`]).
    fn suspects(&self) -> Vec<String> {
        let now = Instant::now();
        let mut suspects = lock(&self.suspects);
        suspects.retain(|_, until| *until > now);
        suspects.keys().cloned().collect()
    }

    /// `http://host:port` of the live node, other than this one, whose fallback sessions carry
    /// `tag` ([`crate::fallback::session::node_tag`]). From the nodes the last good reading
    /// found, when it is younger than a node's TTL and names the node: a session's every poll
    /// and POST asks, and they must not wait behind a reading of the whole fleet. Otherwise
    /// from a new reading ([`Cluster::listing`]), or, should Redis not answer it, from the last
    /// good one all the same: a node that did not answer would only refuse, as would anyone.
    pub(crate) async fn fallback_node(
        &self,
        tag: crate::fallback::session::NodeTag,
    ) -> Option<String> {
        let find = |nodes: &[FleetNode]| {
            nodes
                .iter()
                .filter(|node| node.id != self.node)
                .find(|node| crate::fallback::session::node_tag(&node.id) == tag)
                .and_then(|node| http_base(&node.url))
        };
        {
            let known = lock(&self.nodes);
            if known.0.is_some_and(|at| at.elapsed() < self.ttl)
                && let Some(url) = find(&known.1)
            {
                return Some(url);
            }
        }
        match self.listing().await.as_ref() {
            Ok((_, nodes)) => find(nodes),
            Err(_) => find(&lock(&self.nodes).1),
        }
    }

    /// The fleet's secret, once read.
    fn secret(&self) -> Option<String> {
        lock(&self.secret).clone()
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    /// A room opened here: write it.
    pub fn room_opened(&self, room: RoomName) {
        let mut pending = self.pending();
        pending.closed.remove(&room);
        pending.rooms.insert(room);
        drop(pending);
        self.wake.notify_one();
    }

    /// A room here closed: drop it from the directory.
    pub fn room_closed(&self, room: RoomName) {
        let mut pending = self.pending();
        pending.rooms.remove(&room);
        pending.closed.insert(room);
        drop(pending);
        self.wake.notify_one();
    }

    /// A seat here has a resume token.
    pub fn token_added(&self, token: ResumeToken, room: RoomName) {
        let mut pending = self.pending();
        pending.tokens_removed.remove(&token);
        pending.tokens_added.insert(token, room);
        drop(pending);
        self.wake.notify_one();
    }

    /// A seat's token no longer resumes anything.
    pub fn token_removed(&self, token: ResumeToken) {
        let mut pending = self.pending();
        if pending.tokens_added.remove(&token).is_none() {
            pending.tokens_removed.insert(token);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// A joiner took up its promised seat in `room` (hosted here).
    fn promise_taken(&self, room: RoomName, promise: String) {
        let mut pending = self.pending();
        if pending.promises() < MAX_PENDING_PROMISES {
            pending.taken.entry(room).or_default().push(promise);
            pending.rooms.insert(room);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// A joiner did not take its promised seat.
    pub(crate) fn promise_released(&self, room: RoomName, promise: String) {
        let mut pending = self.pending();
        if pending.promises() < MAX_PENDING_PROMISES {
            pending.released.push((room, promise));
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Seats a client whose `Hello` was read: here, or through the node hosting its room.
    /// `transport`: how the client reached this node. On refusal the close is already
    /// requested on `link`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn admit(
        self: &Arc<Self>,
        ctx: &Arc<ServerContext>,
        hello: Hello,
        link: &Arc<ClientLink>,
        hop: Option<Hop>,
        client: IpAddr,
        transport: Transport,
    ) -> Result<Admitted, ReadEnd> {
        let refuse = |close: CloseRequest| {
            link.close(close);
            Err(ReadEnd::Refused)
        };
        // Another node proxied this client here: never proxy again.
        if let Some(hop) = hop {
            return self.admit_hop(ctx, hello, link, hop, client).await;
        }
        // Until this process holds its node's id, the directory's rooms and seats under that
        // id are not its own (another process's, or none yet): it places no join.
        if let Some(close) = self.not_in_fleet() {
            return refuse(close);
        }
        if let Some(token) = &hello.resume {
            // A seat here for the room asked for resumes here. A token for a seat in another
            // room counts as unknown: the join is placed through the directory (a named room
            // exists once in the fleet; joined here, it would open a second one).
            if ctx.token_room(token).is_some_and(|room| resume_fits(&hello.room, &room)) {
                return self.join_here(ctx, hello, link, client).await;
            }
            match self.directory.find_token(token).await {
                Ok(Some((node, room, url)))
                    if node != self.node && resume_fits(&hello.room, &room) =>
                {
                    debug!(%node, %room, "resuming through the node that holds the seat");
                    // The seat's room by name, not the client's `Any`: should the seat end
                    // before the Hello gets there, the hosting node must not matchmake it
                    // into a room of its own choosing, outside the directory.
                    let resume = Hello { room: RoomRequest::Named(room), ..hello };
                    return proxy::admit_remote(
                        self, ctx, &resume, link, &url, &node, None, false, client, transport,
                    )
                    .await
                    .map_err(|refusal| refusal.end);
                }
                // Unknown (or expired) tokens join afresh, as on a single server.
                Ok(_) => {}
                Err(e) => {
                    // Logged when the directory becomes unreachable, not per join: any client
                    // may send a token.
                    self.mark_up(false);
                    debug!(error = %e, "cannot look up a resume token");
                    // Not a seat here, so none anywhere in a room hosted here (a named room
                    // exists once in the fleet): the join needs no directory, as without a
                    // token.
                    if let RoomRequest::Named(room) = hello.room
                        && ctx.has_room(&room)
                    {
                        return self.join_here(ctx, hello, link, client).await;
                    }
                    return refuse(directory_unavailable("resume"));
                }
            }
        }
        let spectating = hello.role == Role::Spectator;
        let wanted = match hello.room {
            RoomRequest::Named(room) => Wanted::Named(room),
            RoomRequest::Any => Wanted::Any,
        };
        // How an `Any` join ends should no placement take it: as the last one refused.
        let mut last_refusal = None;
        // Nodes that refused this client's protocol version: placed again, it avoids them.
        let mut other_releases: Vec<String> = Vec::new();
        for _attempt in 0..PLACEMENT_ATTEMPTS {
            let limits = JoinLimits {
                may_host: !self.is_draining() && ctx.rooms_in_use() < ctx.config.max_rooms as usize,
                draining: self.is_draining(),
                audience_full: spectating && ctx.audience_only_rooms() >= ctx.audience_room_limit(),
                capacity: ctx.config.room_capacity,
                max_spectators: ctx.config.max_spectators,
                promise: PROMISE_HOLD,
            };
            let promise = random_id();
            let mut suspects = self.suspects();
            suspects.extend(other_releases.iter().cloned());
            let placing =
                self.directory.join_avoiding(wanted, spectating, limits, &promise, &suspects);
            let placement = match placing.await {
                Ok(placement) => placement,
                // A room hosted here needs no directory to be joined, whatever kept the
                // directory from placing the join: Redis away, or out of memory (which lets
                // the scripts read and refuses the heartbeats' writes, so this node's
                // registration lapses and the directory no longer knows the room), or settling.
                // Only on a failure: a room the directory places on another node is joined
                // there, even if a room of that name plays on here, unlisted.
                Err(e) if matches!(wanted, Wanted::Named(room) if ctx.has_room(&room)) => {
                    if !is_scripts_answer(&e) {
                        self.mark_up(false);
                    }
                    debug!(error = %e, "the directory did not place a join of a room hosted here");
                    return self.join_here(ctx, hello, link, client).await;
                }
                Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_NO_HOST") => {
                    // The script's own refusal: every node is at its room limit or draining.
                    // This node may be one the directory forgot (a Redis restart it has not
                    // noticed, having had nothing to write): a heartbeat now puts it back.
                    self.announce.store(true, Ordering::Relaxed);
                    self.wake.notify_one();
                    return refuse(connection::kick(
                        connection::close_code::TRY_AGAIN_LATER,
                        KickReason::Full,
                        "every server of the fleet is at its room limit",
                    ));
                }
                Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_AUDIENCE") => {
                    // A spectator's join would open a room, and every node that could holds
                    // as many rooms without players as it takes: as on one server.
                    return refuse(connection::kick(
                        connection::close_code::TRY_AGAIN_LATER,
                        KickReason::Full,
                        crate::context::FindRoomError::TooManyAudienceRooms.to_string(),
                    ));
                }
                Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_SETTLING") => {
                    // No node may open a room for a few seconds: the fleet writes its rooms
                    // back after the directory lost them ([`settle_period`]), or this node is
                    // one the directory does not list (yet, or no longer: a heartbeat now puts
                    // it back). Passing, so no `Kick { Full }`: clients retry a plain 1013.
                    self.announce.store(true, Ordering::Relaxed);
                    self.wake.notify_one();
                    return refuse(connection::close_only(
                        connection::close_code::TRY_AGAIN_LATER,
                        "the fleet is writing its rooms back to the room directory; try \
                         again in a few seconds",
                    ));
                }
                Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_UNREACHABLE") => {
                    // Only nodes this one could not reach lately may open another room: as
                    // passing as their being unreachable.
                    return refuse(connection::close_only(
                        connection::close_code::TRY_AGAIN_LATER,
                        "the servers that could open a room are unreachable; try again",
                    ));
                }
                Err(e) => {
                    // Logged when the directory becomes unreachable, not per join.
                    self.mark_up(false);
                    debug!(error = %e, "room directory unavailable");
                    return refuse(directory_unavailable("join"));
                }
            };
            let placed = Hello { room: RoomRequest::Named(placement.room), ..hello };
            if placement.node == self.node {
                let admitted = self.join_here(ctx, placed, link, client).await;
                match &admitted {
                    Ok(_) => self.promise_taken(placement.room, promise),
                    Err(_) => self.promise_released(placement.room, promise),
                }
                return admitted;
            }
            let remote = proxy::admit_remote(
                self,
                ctx,
                &placed,
                link,
                &placement.node_url,
                &placement.node,
                Some(&promise),
                wanted == Wanted::Any,
                client,
                transport,
            )
            .await;
            match remote {
                Ok(admitted) => return Ok(admitted),
                Err(refusal) => {
                    self.promise_released(placement.room, promise);
                    // Untold only for `Any` (the room full, or its node unreachable): placed
                    // again, elsewhere.
                    let Some(close) = refusal.untold else { return Err(refusal.end) };
                    debug!(room = %placement.room, node = %placement.node, "placing again");
                    if refusal.other_release {
                        other_releases.push(placement.node.clone());
                    }
                    last_refusal = Some(close);
                }
            }
        }
        // Placed each time in a room that filled meanwhile, or on a node that failed: passing.
        refuse(last_refusal.unwrap_or_else(|| {
            connection::close_only(
                connection::close_code::TRY_AGAIN_LATER,
                "no room could take the join; try again",
            )
        }))
    }

    /// Seats a client another node proxied here. With a promise, the directory placed it in a
    /// room of this node (the `Hello` names it). Without one it resumes a seat the directory
    /// lists here; should that seat be gone by now, it is refused (try again, and the join is
    /// placed through the directory) rather than joined afresh here: a fresh seat would take
    /// no promise (filling a seat promised to another joiner), and `Any`, sent by nodes before
    /// they named the seat's room, would matchmake among this node's rooms alone, or open one
    /// whose name the directory never gave this node.
    async fn admit_hop(
        &self,
        ctx: &Arc<ServerContext>,
        mut hello: Hello,
        link: &Arc<ClientLink>,
        hop: Hop,
        client: IpAddr,
    ) -> Result<Admitted, ReadEnd> {
        if let Some(meant) = hop.node.as_deref()
            && meant != self.node
        {
            // The proxying node's `--node-url` for `meant` reaches this one. Seated here, the
            // join would open the room a second time, outside the directory: refused before
            // anything is joined, and the proxying node says so in its log.
            debug!(%meant, "refused a hop meant for another node");
            link.close(connection::close_only(
                MISDIRECTED,
                format!("{MISDIRECTED_REASON}{}", self.node),
            ));
            return Err(ReadEnd::Refused);
        }
        if let Some(promise) = hop.promise {
            let room = named_room(&hello.room);
            let admitted = self.join_here(ctx, hello, link, client).await;
            if let (Ok(_), Some(room)) = (&admitted, room) {
                self.promise_taken(room, promise);
            }
            return admitted;
        }
        let seat = hello.resume.as_ref().and_then(|token| ctx.token_room(token));
        match seat.filter(|room| resume_fits(&hello.room, room)) {
            Some(room) => {
                hello.room = RoomRequest::Named(room);
                self.join_here(ctx, hello, link, client).await
            }
            None => {
                debug!("a resume proxied here for a seat that is gone");
                link.close(connection::kick(
                    connection::close_code::TRY_AGAIN_LATER,
                    KickReason::Full,
                    "the seat to resume is gone; try again",
                ));
                Err(ReadEnd::Refused)
            }
        }
    }

    /// Joins a room of this node, as a single server does.
    async fn join_here(
        &self,
        ctx: &Arc<ServerContext>,
        hello: Hello,
        link: &Arc<ClientLink>,
        client: IpAddr,
    ) -> Result<Admitted, ReadEnd> {
        let room = named_room(&hello.room);
        let joined = connection::join(hello, link, ctx, client).await;
        if joined.is_none()
            && let Some(room) = room
            && !ctx.has_room(&room)
        {
            // The directory placed a new room here, and it could not open (this node reached
            // its room limit meanwhile): without this, its entry would be renewed with every
            // heartbeat and listed, and joined, for good.
            self.room_closed(room);
        }
        joined.map(|(joined, handle)| Admitted::Local(joined, handle)).ok_or(ReadEnd::Refused)
    }

    /// Resolves once the node leaves the fleet for good ([`Cluster::leave`]).
    pub(crate) async fn left(&self) {
        self.stop.cancelled().await
    }

    /// Whether this process holds its node's id in the directory.
    fn holds_id(&self) -> bool {
        *lock(&self.hold) == Hold::Held
    }

    /// How a join is refused while this process does not hold its node's id; `None` once it
    /// does. 1013 without a `Kick`: the client tries again (a load balancer may send it to
    /// another node).
    fn not_in_fleet(&self) -> Option<CloseRequest> {
        let text = match &*lock(&self.hold) {
            Hold::Held => return None,
            Hold::Unknown => return Some(directory_unavailable("this server is not registered")),
            Hold::Taken(_) => {
                "this server is not in the fleet yet (its node id is still registered to \
                 another process); try again"
            }
            Hold::Duplicate => {
                "this server is not in the fleet: another live server has its node id; try \
                 another server"
            }
        };
        Some(connection::close_only(connection::close_code::TRY_AGAIN_LATER, text))
    }

    fn mark_up(&self, up: bool) {
        self.directory_up.set(i64::from(up));
        let was = self.up.swap(up, Ordering::Relaxed);
        if was != up {
            if up {
                info!(node = %self.node, "room directory reachable");
            } else {
                warn!(node = %self.node, "room directory unreachable; running matches go on");
                self.pending().everything = true;
            }
        }
    }

    /// Removes this node, its rooms and its seats' tokens from the directory at the end of its
    /// drain, once `registration` (the task [`run`] runs in) has stopped: a heartbeat after
    /// this would list the node again. Called before the node closes its clients with 1001:
    /// they come back through other nodes at once, and the directory must not send them back
    /// here, where nobody answers any more (resumed through another node, a seat of this node
    /// is then unknown, and the client joins afresh, as after the node died). Bounded by the
    /// Redis timeout; a node that cannot say goodbye lapses after `--node-ttl`.
    pub async fn leave(&self, registration: Option<tokio::task::JoinHandle<()>>) {
        self.stop.cancel();
        if let Some(registration) = registration {
            let _ = registration.await;
        }
        if matches!(*lock(&self.hold), Hold::Taken(_) | Hold::Duplicate) {
            return; // the registration is another process's (`deregister.lua` checks it too)
        }
        if !self.is_registered() {
            return; // never in the fleet: nothing to leave
        }
        match self.directory.deregister().await {
            Ok(()) => info!(node = %self.node, "left the fleet"),
            Err(e) => {
                warn!(error = %e, "could not leave the fleet; it forgets this node after --node-ttl")
            }
        }
    }
}

/// A row of `GET /rooms` in cluster mode: the fleet's rooms, each with its node.
#[derive(Debug, Clone, serde::Serialize)]
struct FleetRoomInfo {
    id: String,
    node: String,
    players: u32,
    controllers: u32,
    spectators: u32,
    capacity: u16,
    tick: u32,
}

/// `GET /rooms` in cluster mode: every room of the fleet with its node. While the directory
/// is away, this node's own rooms, with `x-tickwire-directory: unavailable`.
pub async fn rooms_json(ctx: &ServerContext, cluster: &Cluster) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut rows: Vec<FleetRoomInfo> = match cluster.listing().await.as_ref() {
        Ok((rooms, _)) => rooms
            .iter()
            .map(|r| FleetRoomInfo {
                id: r.name.clone(),
                node: r.node.clone(),
                players: r.players,
                controllers: r.controllers,
                spectators: r.spectators,
                capacity: r.capacity,
                tick: r.tick,
            })
            .collect(),
        Err(e) => {
            debug!(error = %e, "room list from this node only");
            let own = ctx.rooms().into_iter().map(|r| FleetRoomInfo {
                id: r.id,
                node: cluster.node.clone(),
                players: r.players,
                controllers: r.controllers,
                spectators: r.spectators,
                capacity: r.capacity,
                tick: r.tick,
            });
            let rows: Vec<_> = own.collect();
            return ([("x-tickwire-directory", "unavailable")], axum::Json(rows)).into_response();
        }
    };
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    axum::Json(rows).into_response()
}

/// A row of `GET /nodes`.
#[derive(Debug, Clone, serde::Serialize)]
struct NodeInfo {
    #[serde(flatten)]
    node: directory::FleetNode,
    /// The node that answered.
    local: bool,
    /// Its join keys next to the answering node's ([`JoinKeysAlike`]); absent for a node of
    /// a release before the prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    join_keys: Option<JoinKeysAlike>,
}

/// How a node's join keys compare with the answering node's, as `/nodes` shows them: never
/// the prints themselves, on a public route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum JoinKeysAlike {
    /// Exactly the same keys, audience and issuer: a rotation's step is done on both.
    Same,
    /// A key in common, not all (as while a key rotates): they relay to each other.
    KeyInCommon,
    /// No key in common: relays between them are refused (players get 1013).
    NoKeyInCommon,
}

impl JoinKeysAlike {
    /// `theirs` (prints, comma separated) next to `ours`.
    fn of(theirs: &str, ours: &[String]) -> JoinKeysAlike {
        if theirs == ours.join(",") {
            JoinKeysAlike::Same
        } else if shares_a_print(theirs, ours) {
            JoinKeysAlike::KeyInCommon
        } else {
            JoinKeysAlike::NoKeyInCommon
        }
    }
}

/// `GET /nodes` in cluster mode: the fleet's live nodes.
pub async fn nodes_json(cluster: &Cluster) -> axum::response::Response {
    use axum::response::IntoResponse;
    match cluster.listing().await.as_ref() {
        Ok((_, nodes)) => {
            let ours = cluster.join_fingerprints();
            let mut rows: Vec<NodeInfo> = nodes
                .iter()
                .map(|node| NodeInfo {
                    local: node.id == cluster.node,
                    join_keys: node
                        .join_keys
                        .as_deref()
                        .map(|theirs| JoinKeysAlike::of(theirs, &ours)),
                    node: node.clone(),
                })
                .collect();
            rows.sort_by(|a, b| a.node.id.cmp(&b.node.id));
            axum::Json(rows).into_response()
        }
        Err(e) => {
            // A public route: the failure is logged once, by the reading ([`Cluster::listing`]).
            debug!(error = %e, "GET /nodes: the room directory is unavailable");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "room directory unavailable\n")
                .into_response()
        }
    }
}

/// Whether `given` is `secret`, in time that depends only on `given`'s length: not on where
/// they differ, nor on the secret's length (a comparison that stopped at a length mismatch
/// would tell a guesser how long the secret is).
pub(crate) fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return given.is_empty();
    }
    let differs =
        given.iter().enumerate().fold(u8::from(given.len() != secret.len()), |acc, (i, x)| {
            acc | (x ^ secret[i % secret.len()])
        });
    differs == 0
}

/// The counts of every room hosted here, by name.
fn local_counts(ctx: &ServerContext) -> HashMap<RoomName, RoomCounts> {
    ctx.rooms()
        .into_iter()
        .map(|info| {
            let counts = RoomCounts {
                players: info.players,
                spectators: info.spectators,
                controllers: info.controllers,
                capacity: info.capacity,
                max_spectators: ctx.config.max_spectators,
                tick: info.tick,
            };
            (RoomName::truncated(&info.id), counts)
        })
        .collect()
}

/// What the registration task keeps between its steps.
struct Registrar {
    /// What the directory was last told of each room.
    written: HashMap<RoomName, RoomCounts>,
    /// Rooms whose name another node holds (see [`Conflicts`]).
    conflicts: Conflicts,
    last_beat: Option<Instant>,
    last_reconcile: Instant,
}

/// The registration task: heartbeats, room counts, tokens, promises; until shutdown, or until
/// the node leaves the directory ([`Cluster::leave`]).
pub async fn run(cluster: Arc<Cluster>, ctx: Arc<ServerContext>) {
    let beat_every = cluster.ttl / 3;
    let mut beat = tokio::time::interval(beat_every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counts = tokio::time::interval(COUNTS_PERIOD.min(beat_every));
    counts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = Registrar {
        written: HashMap::new(),
        conflicts: Conflicts::default(),
        last_beat: None,
        last_reconcile: Instant::now(),
    };
    info!(node = %cluster.node, url = %cluster.node_url, "joining the fleet");
    loop {
        let heartbeat = tokio::select! {
            _ = connection::shutdown_signal(&ctx) => return,
            () = cluster.stop.cancelled() => return,
            _ = beat.tick() => true,
            _ = counts.tick() => false,
            _ = cluster.wake.notified() => false,
        };
        // Cut short when the node leaves: what it would write the deregistration removes, and
        // the node must not wait for a directory that is slow to answer.
        tokio::select! {
            () = cluster.stop.cancelled() => return,
            () = step(&cluster, &ctx, heartbeat, &mut state) => {}
        }
    }
}

/// One round of the registration task: a heartbeat when due, then what is pending.
async fn step(cluster: &Cluster, ctx: &ServerContext, heartbeat: bool, state: &mut Registrar) {
    // After the directory was unreachable or forgot this node, the heartbeat goes first:
    // rooms written back under a node the directory does not list as alive would be
    // taken for a dead node's, and reopened elsewhere.
    let rewrite = !cluster.is_up() || cluster.pending().everything || !cluster.holds_id();
    let mut announce = cluster.announce.swap(false, Ordering::Relaxed);
    if announce && state.last_beat.is_some_and(|at| at.elapsed() < COUNTS_PERIOD) {
        // Asked again right after a beat (a storm of joins the fleet has no room for):
        // the next counts tick sends it.
        cluster.announce.store(true, Ordering::Relaxed);
        announce = false;
    }
    if heartbeat || announce || rewrite {
        heartbeat_once(cluster, ctx).await;
        state.last_beat = Some(Instant::now());
        if !cluster.holds_id() {
            // Another process holds the node's id (or nothing answered yet): its rooms,
            // tokens and promises are not this process's to write, nor to reconcile away.
            return;
        }
        if rewrite && !cluster.is_up() {
            // Still not listed as alive: the rooms wait for the next heartbeat.
            return;
        }
    }
    // Each heartbeat writes every room's tick too (`/rooms` shows it); in between only counts
    // that changed are written, not a room whose tick alone moved.
    if let Err(e) = flush(cluster, ctx, state, heartbeat).await {
        cluster.mark_up(false);
        debug!(error = %e, "directory write failed; writing everything again when it answers");
        cluster.pending().everything = true;
    } else if state.last_reconcile.elapsed() >= cluster.ttl {
        // Rooms another node opened here for a joiner that never arrived (this node was
        // unreachable from it: a wrong `--node-url`, a partition) are listed under this
        // node, and its heartbeat renews them: empty rooms in every lobby, for good.
        state.last_reconcile = Instant::now();
        let hosted: Vec<RoomName> = local_counts(ctx).into_keys().collect();
        match cluster.directory.reconcile(&hosted, PROMISE_HOLD).await {
            Ok(0) => {}
            Ok(dropped) => info!(dropped, "dropped rooms opened here whose joiners never came"),
            Err(e) => debug!(error = %e, "directory reconcile failed"),
        }
    }
}

/// Rooms of this node whose name another live node holds in the directory: they play on,
/// unlisted. Their counts are written on every change and with every heartbeat, and refused
/// each time, so the conflict is reported when it starts, and again only once it ended and
/// came back.
#[derive(Debug, Default)]
struct Conflicts(HashSet<RoomName>);

impl Conflicts {
    /// Notes one write of `written`, of which the directory refused `refused`. Returns the
    /// rooms newly in conflict.
    fn written(&mut self, written: &[RoomName], refused: &[RoomName]) -> Vec<RoomName> {
        for room in written {
            if !refused.contains(room) {
                self.0.remove(room);
            }
        }
        refused.iter().filter(|room| self.0.insert(**room)).copied().collect()
    }

    /// Forgets rooms no longer hosted here.
    fn retain(&mut self, hosted: &HashMap<RoomName, RoomCounts>) {
        self.0.retain(|room| hosted.contains_key(room));
    }
}

/// How long a node the directory forgot (a Redis restart with an empty store) opens no new
/// room once it is listed again: one heartbeat period, within which every node of the fleet
/// has written its rooms back. Until then a room missing from the directory may be a running
/// match of a node not yet back, and opening it here would run it twice; a join for it is
/// refused with 1013 (try again) for those few seconds instead. The directory keeps the
/// period (`heartbeat.lua`, `join.lua`), so no node can choose this one as a host meanwhile.
/// When Redis lost its data, the period holds for the whole fleet, so a node that starts for
/// the first time meanwhile opens no room either.
fn settle_period(ttl: Duration) -> Duration {
    ttl / 3 + COUNTS_PERIOD
}

async fn heartbeat_once(cluster: &Cluster, ctx: &ServerContext) {
    // A node registering for the first time has no rooms the directory could have lost.
    let settle = if cluster.registered_once.load(Ordering::Relaxed) {
        settle_period(cluster.ttl)
    } else {
        Duration::ZERO
    };
    let known_secret = cluster.secret();
    let join = cluster.join_fingerprints().join(",");
    let registration = Registration {
        url: &cluster.node_url,
        ttl: cluster.ttl,
        draining: cluster.is_draining(),
        rooms: ctx.rooms_in_use(),
        max_rooms: ctx.config.max_rooms,
        audience_rooms: ctx.audience_only_rooms(),
        audience_room_limit: ctx.audience_room_limit(),
        secret_candidate: &cluster.own_secret,
        known_secret: known_secret.as_deref(),
        settle,
        join: &join,
    };
    let beat = cluster.directory.heartbeat(&registration).await;
    match beat {
        Ok(beat) => {
            cluster.mark_up(true);
            cluster.registered_once.store(true, Ordering::Relaxed);
            *lock(&cluster.hold) = Hold::Held;
            if !beat.was_registered {
                info!(node = %cluster.node, "registered in the room directory");
                cluster.pending().everything = true;
                if !settle.is_zero() {
                    warn!(
                        node = %cluster.node,
                        ?settle,
                        "the room directory had forgotten this node (a Redis restart?): \
                         no new rooms here while the fleet writes its rooms back"
                    );
                }
            }
            *lock(&cluster.secret) = Some(beat.secret);
            *lock(&cluster.peers) = beat.peers.iter().filter_map(|u| url_ip(u)).collect();
            cluster.fleet_size.store(beat.peers.len(), Ordering::Relaxed);
            judge_join_keys(cluster, &beat.peer_joins);
        }
        Err(DirectoryError::NodeIdTaken { last_beat }) => id_taken(cluster, last_beat),
        Err(e) => {
            if cluster.is_up() {
                warn!(error = %e, "room directory heartbeat failed");
            } else if !cluster.is_registered() {
                // Never in the fleet: nothing else would ever say why (a wrong password, a
                // mistyped address), while every join is refused. Each change of cause, and
                // then once a minute.
                let text = e.to_string();
                let mut last = lock(&cluster.unregistered_log);
                if last.as_ref().is_none_or(|(said, at)| {
                    *said != text || at.elapsed() >= UNREGISTERED_LOG_EVERY
                }) {
                    error!(
                        node = %cluster.node,
                        error = %text,
                        "cannot register in the room directory at --redis-url: this node refuses \
                         every join, and /healthz answers 503, until it can"
                    );
                    *last = Some((text, Instant::now()));
                }
            }
            cluster.mark_up(false);
        }
    }
}

/// Whether `e` is an answer of the directory's own scripts (`TICKWIRE_...`: no host, settling
/// ...), which the directory gives when it works, rather than a failure to reach it.
fn is_scripts_answer(e: &DirectoryError) -> bool {
    matches!(e, DirectoryError::Redis(e) if e.code().is_some_and(|code| code.starts_with("TICKWIRE_")))
}

/// Whether `theirs` (a node's join-key prints, comma separated) has one of `ours`: the two
/// nodes take a key in common, so each takes the tokens the other let in.
fn shares_a_print(theirs: &str, ours: &[String]) -> bool {
    theirs.split(',').any(|print| ours.iter().any(|mine| mine == print))
}

/// The live nodes, of `peers` (id and prints, [`directory::Beat::peer_joins`]), that share no
/// join key with a node whose prints are `ours`: relays between them are refused both ways
/// ([`Cluster::same_join_checks`]). A node of a release before the prints is not judged, as
/// its relays are not. Sorted by id.
fn join_strangers(ours: &[String], peers: &[(String, String)]) -> Vec<(String, String)> {
    let mut strangers: Vec<(String, String)> = peers
        .iter()
        .filter(|(_, theirs)| !theirs.is_empty() && !shares_a_print(theirs, ours))
        .cloned()
        .collect();
    strangers.sort();
    strangers
}

/// How many of `peers` check join tokens otherwise than a node whose prints are `ours`: with
/// other keys, or, when this node checks tokens, saying nothing of theirs (a node of a release
/// before the prints, as one rolled back to it: it may take no token at all, and admit anyone
/// to the rooms it hosts).
fn join_differing(ours: &[String], peers: &[(String, String)]) -> usize {
    let joined = ours.join(",");
    let checks_tokens = ours.iter().any(|print| print != "none");
    peers
        .iter()
        .filter(|(_, join)| if join.is_empty() { checks_tokens } else { *join != joined })
        .count()
}

/// After a heartbeat: counts the live nodes whose join keys are not exactly this one's
/// (`tickwire_join_key_differing`: a rotation's step is done on every node when it is 0
/// everywhere), and those that share no key with this one (`tickwire_join_key_strangers`),
/// and says so when they change, before any player meets the refused relay (a 1013). Only
/// said: a node kept out of readiness for it would hold up a rolling update that turns tokens
/// on or off, where new and old nodes differ for a while.
fn judge_join_keys(cluster: &Cluster, peers: &[(String, String)]) {
    let ours = cluster.join_fingerprints();
    let joined = ours.join(",");
    let differing = join_differing(&ours, peers);
    let before = cluster.join_differing.set(differing as i64);
    if (before == 0) != (differing == 0) {
        if differing == 0 {
            info!(keys = %joined, "every live node of the fleet checks join tokens with this node's keys");
        } else {
            info!(
                keys = %joined,
                nodes = differing,
                "nodes of the fleet check join tokens with other keys than this node (as while a \
                 key rotates), or are of a release that does not say, which may check none (a \
                 node rolled back); /nodes shows each node's"
            );
        }
    }
    let strangers = join_strangers(&ours, peers);
    cluster.join_strangers.set(strangers.len() as i64);
    let mut seen = lock(&cluster.join_strangers_seen);
    if *seen == strangers {
        return;
    }
    let theirs: Vec<String> = strangers.iter().map(|(id, join)| format!("{id}:{join}")).collect();
    let theirs = theirs.join(" ");
    let keyless = |join: &str| join == "none";
    if strangers.is_empty() {
        info!("this node shares a join key with every live node of the fleet again");
    } else if ours.iter().all(|print| keyless(print)) {
        error!(
            nodes = %theirs,
            "this node checks no join tokens and other nodes of the fleet do: it admits anyone \
             to the rooms it hosts, and relays between it and them are refused; give it the \
             fleet's key (--join-secret-file, --join-secret or --join-public-key)"
        );
    } else if strangers.iter().all(|(_, join)| keyless(join)) {
        warn!(
            nodes = %theirs,
            "nodes of the fleet check no join tokens: they admit anyone to the rooms they host, \
             and relays between them and this node are refused"
        );
    } else {
        warn!(
            ours = %ours.join(","),
            nodes = %theirs,
            "nodes of the fleet share no join key with this one (or check another audience or \
             issuer): relays between them and this node are refused, and their players get \
             1013; while a key rotates, every node keeps the old key as the previous one"
        );
    }
    *seen = strangers;
}

/// A heartbeat found this node's id registered by another process, last renewed at
/// `last_beat`. Waits for it to lapse (a previous run of this node, dead); once it is seen
/// renewed, it is alive: this process stays out of the fleet, and says why.
fn id_taken(cluster: &Cluster, last_beat: String) {
    let mut hold = lock(&cluster.hold);
    match &*hold {
        Hold::Taken(seen) if *seen == last_beat => {}
        Hold::Taken(_) => {
            *hold = Hold::Duplicate;
            error!(
                node = %cluster.node,
                "another live server is registered as node `{}` in this fleet: give each server \
                 its own --node-id (TICKWIRE_NODE_ID; unset, it is the host name). This one \
                 stays out of the fleet: it registers nothing and refuses every join",
                cluster.node
            );
            // No more heartbeats: the registration task ends.
            cluster.stop.cancel();
        }
        Hold::Duplicate => {}
        Hold::Unknown | Hold::Held => {
            warn!(
                node = %cluster.node,
                "this node id is registered by another process: waiting for it to lapse (a \
                 previous run of this node) before joining the fleet; should it be renewed, \
                 another live server has this --node-id"
            );
            *hold = Hold::Taken(last_beat);
        }
    }
}

/// Writes what is pending (everything, after the directory forgot this node or a write
/// failed) and the counts that changed; with `ticks`, every room (its tick moved).
async fn flush(
    cluster: &Cluster,
    ctx: &ServerContext,
    state: &mut Registrar,
    ticks: bool,
) -> Result<(), DirectoryError> {
    if !cluster.is_up() && cluster.secret().is_none() {
        return Ok(()); // never registered yet: the heartbeat comes first
    }
    let batch = std::mem::take(&mut *cluster.pending());
    let result = write_batch(cluster, ctx, state, &batch, ticks).await;
    if result.is_err() {
        // Promises are written again next time; rooms and tokens are rewritten whole.
        let mut pending = cluster.pending();
        for (room, ids) in batch.taken {
            pending.taken.entry(room).or_default().extend(ids);
        }
        pending.released.extend(batch.released);
        let excess = pending.promises().saturating_sub(MAX_PENDING_PROMISES);
        let cut = excess.min(pending.released.len());
        pending.released.drain(..cut);
    }
    result
}

async fn write_batch(
    cluster: &Cluster,
    ctx: &ServerContext,
    state: &mut Registrar,
    batch: &Pending,
    ticks: bool,
) -> Result<(), DirectoryError> {
    let written = &mut state.written;
    let directory = &cluster.directory;
    let hosted = local_counts(ctx);
    if batch.everything {
        written.clear();
    }
    // Whether Redis was asked anything (see the PING below).
    let mut asked = batch.everything;
    for room in &batch.closed {
        if !hosted.contains_key(room) {
            directory.close_room(room).await?;
            written.remove(room);
            asked = true;
        }
    }
    let mut rooms = Vec::new();
    for (room, counts) in &hosted {
        let taken = batch.taken.get(room).cloned().unwrap_or_default();
        let changed = written.get(room).is_none_or(|was| !was.same_seats(counts));
        if batch.everything || ticks || changed || !taken.is_empty() || batch.rooms.contains(room) {
            rooms.push((*room, *counts, taken));
        }
    }
    // Promises of rooms that closed meanwhile: nothing to take up, give them back.
    let mut released = batch.released.clone();
    for (room, ids) in &batch.taken {
        if !hosted.contains_key(room) {
            released.extend(ids.iter().map(|id| (*room, id.clone())));
        }
    }
    let conflicts = directory.sync_rooms(cluster.ttl, &rooms).await?;
    let synced: Vec<RoomName> = rooms.iter().map(|(room, _, _)| *room).collect();
    for room in state.conflicts.written(&synced, &conflicts) {
        warn!(%room, "another node holds this room's name; the room plays on unlisted");
    }
    state.conflicts.retain(&hosted);
    for (room, counts, _) in &rooms {
        written.insert(*room, *counts);
    }
    written.retain(|room, _| hosted.contains_key(room));
    // One call per room, not per promise: a node that queued thousands (joins refused while
    // the directory was away) must not spend its heartbeat's time on round trips.
    let mut by_room: HashMap<RoomName, Vec<&str>> = HashMap::new();
    for (room, id) in &released {
        by_room.entry(*room).or_default().push(id);
    }
    for (room, ids) in &by_room {
        directory.release(room, ids).await?;
    }
    if batch.everything {
        let tokens = ctx.tokens();
        directory.write_tokens(cluster.ttl, &tokens, &[], true).await?;
        let names: Vec<RoomName> = hosted.keys().copied().collect();
        let dropped = directory.reconcile(&names, PROMISE_HOLD).await?;
        if dropped > 0 {
            debug!(dropped, "dropped rooms the directory listed here that are gone");
        }
        info!(rooms = hosted.len(), tokens = tokens.len(), "directory written");
    } else if !batch.tokens_added.is_empty() || !batch.tokens_removed.is_empty() {
        let added: Vec<_> = batch.tokens_added.iter().map(|(t, r)| (*t, *r)).collect();
        let removed: Vec<_> = batch.tokens_removed.iter().copied().collect();
        directory.write_tokens(cluster.ttl, &added, &removed, false).await?;
        asked = true;
    }
    if !asked && rooms.is_empty() && by_room.is_empty() && !hosted.is_empty() {
        // Nothing changed here. A node hosting rooms must notice a Redis that restarted (its
        // connection fails) now, not at its next heartbeat: its rooms are written back within
        // the fleet's settle period ([`settle_period`]), before another node may open their
        // names. A PING does that for the writes of rooms whose tick alone moved.
        directory.ping().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_name_their_address() {
        assert_eq!(url_ip("ws://10.1.2.3:8080/ws"), Some(IpAddr::from([10, 1, 2, 3])));
        assert_eq!(url_ip("ws://10.1.2.3/ws"), Some(IpAddr::from([10, 1, 2, 3])));
        assert_eq!(url_ip("ws://node-a:8080/ws"), None);
        assert_eq!(url_ip("http://10.1.2.3/"), None);
    }

    /// Unset, `--node-url` is the bound address or the first LAN address; one that is not
    /// private is flagged, for the warning that the fleet's secret would cross it in plain text.
    #[test]
    fn a_default_node_url_off_the_private_networks_is_flagged() {
        let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let private =
            [std::net::Ipv4Addr::new(10, 0, 0, 5), std::net::Ipv4Addr::new(203, 0, 113, 7)];
        assert_eq!(default_node_url(any, &private), ("ws://10.0.0.5:8080/ws".into(), false));
        // A host with only a public address: the default is that one, flagged.
        let public = [std::net::Ipv4Addr::new(203, 0, 113, 7)];
        assert_eq!(default_node_url(any, &public), ("ws://203.0.113.7:8080/ws".into(), true));
        // No LAN address at all: loopback, which reaches no other node but leaks nothing.
        assert_eq!(default_node_url(any, &[]), ("ws://127.0.0.1:8080/ws".into(), false));
        // Bound to one address: that one, whatever the LAN addresses.
        let bound: std::net::SocketAddr = "198.51.100.9:9000".parse().unwrap();
        assert_eq!(default_node_url(bound, &private), ("ws://198.51.100.9:9000/ws".into(), true));
        let bound: std::net::SocketAddr = "192.168.1.20:9000".parse().unwrap();
        assert_eq!(default_node_url(bound, &public), ("ws://192.168.1.20:9000/ws".into(), false));
        let bound: std::net::SocketAddr = "[fd00::5]:9000".parse().unwrap();
        assert_eq!(default_node_url(bound, &public), ("ws://[fd00::5]:9000/ws".into(), false));
        let bound: std::net::SocketAddr = "[2001:db8::5]:9000".parse().unwrap();
        assert_eq!(default_node_url(bound, &[]), ("ws://[2001:db8::5]:9000/ws".into(), true));
    }

    #[test]
    fn a_node_url_without_a_port_is_reached_on_port_80() {
        assert_eq!(node_authority("ws://10.0.0.5/ws").as_deref(), Some("10.0.0.5:80"));
        assert_eq!(node_authority("ws://10.0.0.5:8080/ws").as_deref(), Some("10.0.0.5:8080"));
        assert_eq!(node_authority("ws://node-a/ws").as_deref(), Some("node-a:80"));
        assert_eq!(node_authority("ws://[fd00::5]/ws").as_deref(), Some("[fd00::5]:80"));
        assert_eq!(node_authority("ws://[fd00::5]:9/ws").as_deref(), Some("[fd00::5]:9"));
        // What a socket is opened to: an address with its port.
        let addr: std::net::SocketAddr =
            node_authority("ws://10.0.0.5/ws").unwrap().parse().unwrap();
        assert_eq!(addr, "10.0.0.5:80".parse().unwrap());
        assert_eq!(node_authority("ws:///ws"), None);
        assert_eq!(node_authority("wss://10.0.0.5/ws"), None);
    }

    #[test]
    fn node_urls_serve_http_on_the_same_authority() {
        assert_eq!(http_base("ws://10.1.2.3:8080/ws").as_deref(), Some("http://10.1.2.3:8080"));
        assert_eq!(http_base("ws://[::1]:8080/ws").as_deref(), Some("http://[::1]:8080"));
        assert_eq!(http_base("ws://node-a/ws").as_deref(), Some("http://node-a:80"));
        assert_eq!(http_base("wss://10.1.2.3/ws"), None);
        assert_eq!(http_base("ws:///ws"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        // A guess repeating the secret is still the wrong length.
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"a", b""));
    }

    // A cluster's Redis connection manager starts on the runtime (it connects lazily).
    #[tokio::test]
    async fn a_token_added_then_removed_before_a_write_is_never_written() {
        let config = ServerConfig {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            ..ServerConfig::default()
        };
        let cluster = Cluster::new(&config, "127.0.0.1:9000".parse().unwrap(), None).unwrap();
        let token = ResumeToken([7; 16]);
        cluster.token_added(token, RoomName::truncated("r"));
        cluster.token_removed(token);
        let pending = cluster.pending();
        assert!(pending.tokens_added.is_empty() && pending.tokens_removed.is_empty());
        drop(pending);
        cluster.token_removed(ResumeToken([8; 16]));
        assert_eq!(cluster.pending().tokens_removed.len(), 1);
        assert_eq!(cluster.node_url, "ws://127.0.0.1:9000/ws");
    }

    #[tokio::test]
    async fn hop_headers_need_the_fleet_secret() {
        let config = ServerConfig {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            node_id: Some("a".into()),
            ..ServerConfig::default()
        };
        let cluster = Cluster::new(&config, "127.0.0.1:9000".parse().unwrap(), None).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(cluster.verify_hop(&headers), None, "not a hop");
        headers.insert(HOP_HEADER, "guess".parse().unwrap());
        assert_eq!(cluster.verify_hop(&headers), Some(Err(())), "no secret known yet");
        let nobody = IpAddr::from([192, 0, 2, 7]);
        assert_eq!(cluster.hop_headers(nobody, Some("b")), None, "nothing to prove");
        *lock(&cluster.secret) = Some("s3cret".into());
        assert_eq!(cluster.verify_hop(&headers), Some(Err(())));
        headers.insert(HOP_HEADER, "s3cret".parse().unwrap());
        headers.insert(CLIENT_HEADER, "192.0.2.7".parse().unwrap());
        headers.insert(PROMISE_HEADER, "00ff".parse().unwrap());
        let hop = cluster.verify_hop(&headers).unwrap().unwrap();
        assert_eq!(hop.client, Some(IpAddr::from([192, 0, 2, 7])));
        assert_eq!(hop.promise.as_deref(), Some("00ff"));
        assert_eq!(hop.transport, Transport::WebSocket, "no transport said: a WebSocket");
        headers.insert(TRANSPORT_HEADER, "poll".parse().unwrap());
        assert_eq!(cluster.verify_hop(&headers).unwrap().unwrap().transport, Transport::Poll);
        headers.insert(TRANSPORT_HEADER, "carrier-pigeon".parse().unwrap());
        assert_eq!(cluster.verify_hop(&headers).unwrap().unwrap().transport, Transport::WebSocket);
        assert_eq!(cluster.verify_hop(&headers).unwrap().unwrap().node, None, "a previous release");
        // What a node sends for a forwarded fallback request verifies as such a hop, naming
        // the node it is for.
        let client = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
        let forwarded = cluster.hop_headers(client, Some("a")).expect("the secret is known");
        let hop = cluster.verify_hop(&forwarded).unwrap().unwrap();
        assert_eq!(
            hop,
            Hop {
                client: Some(client),
                promise: None,
                transport: Transport::WebSocket,
                node: Some("a".into()),
                join: Some("none".into()),
            }
        );
        assert!(cluster.same_join_checks(&hop), "a node without join tokens, as this one");
        let secretive = Hop { join: Some("0123456789abcdef".into()), ..hop.clone() };
        assert!(!cluster.same_join_checks(&secretive), "join tokens checked otherwise");
        assert!(cluster.same_join_checks(&Hop { join: None, ..hop }), "a previous release");
        // A node id that does not parse names no node: never this one.
        headers.insert(NODE_HEADER, "a b".parse().unwrap());
        assert_eq!(cluster.verify_hop(&headers).unwrap().unwrap().node.as_deref(), Some("?"));
        let unnamed = cluster.hop_headers(client, None).unwrap();
        assert!(!unnamed.contains_key(NODE_HEADER));
    }

    /// Differing are the nodes that check tokens otherwise: with other keys, or, seen from a
    /// node that checks tokens, a node of a release that does not say (one rolled back).
    #[test]
    fn join_differing_counts_nodes_that_do_not_say_only_when_this_one_checks_tokens() {
        let peer = |id: &str, join: &str| (id.to_string(), join.to_string());
        let fleet = [peer("a", "k1"), peer("b", "k2"), peer("old", ""), peer("open", "none")];
        assert_eq!(join_differing(&["k1".to_string()], &fleet), 3, "b, old and open");
        assert_eq!(join_differing(&["none".to_string()], &fleet), 2, "a and b: old says nothing");
        let rotating = ["k1".to_string(), "k2".to_string()];
        assert_eq!(join_differing(&rotating, &[peer("a", "k1,k2"), peer("old", "")]), 1);
    }

    /// Strangers are the live nodes whose prints share none with this node's: a node on both
    /// keys of a rotation is no one's stranger, a node without tokens is a stranger to nodes
    /// with them (and they to it), and a node of a release before the prints is not judged.
    #[test]
    fn join_strangers_share_no_print_with_this_node() {
        let peers = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(id, join)| (id.to_string(), join.to_string())).collect()
        };
        let fleet =
            peers(&[("d", "new"), ("b", "old"), ("c", "new,old"), ("e", ""), ("f", "none")]);
        let ids = |ours: &[&str]| {
            let ours: Vec<String> = ours.iter().map(|p| p.to_string()).collect();
            join_strangers(&ours, &fleet).into_iter().map(|(id, _)| id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&["new", "old"]), ["f"]);
        assert_eq!(ids(&["new"]), ["b", "f"]);
        assert_eq!(ids(&["old"]), ["d", "f"]);
        assert_eq!(ids(&["none"]), ["b", "c", "d"]);
        let ours = ["new".to_string(), "old".to_string()];
        assert_eq!(JoinKeysAlike::of("new,old", &ours), JoinKeysAlike::Same);
        assert_eq!(JoinKeysAlike::of("old,new", &ours), JoinKeysAlike::KeyInCommon);
        assert_eq!(JoinKeysAlike::of("old", &ours), JoinKeysAlike::KeyInCommon);
        assert_eq!(JoinKeysAlike::of("none", &ours), JoinKeysAlike::NoKeyInCommon);
        assert!(join_strangers(&["none".into()], &peers(&[("b", "none"), ("c", "")])).is_empty());
    }

    /// The prints a node relays with, and judges a relay by, are those of the keys in force:
    /// after a SIGHUP put a new key in force beside the old one, a node still on the old key
    /// alone and one on the new key alone both relay to this one.
    #[tokio::test]
    async fn relays_carry_and_are_judged_by_the_join_keys_in_force() {
        use crate::auth::{JoinKeys, JoinVerifier};
        let config = ServerConfig {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            ..ServerConfig::default()
        };
        let verifier = |secret: &str| JoinVerifier::from_secret(secret).unwrap();
        let print = |secret: &str| verifier(secret).prints()[0].clone();
        let keys = Arc::new(JoinKeys::new(verifier("old")));
        let cluster =
            Cluster::new(&config, "127.0.0.1:9000".parse().unwrap(), Some(keys.clone())).unwrap();
        *lock(&cluster.secret) = Some("s3cret".into());
        let client = IpAddr::from([192, 0, 2, 7]);
        let sent = |cluster: &Cluster| {
            let headers = cluster.hop_headers(client, None).unwrap();
            headers[JOIN_HEADER].to_str().unwrap().to_owned()
        };
        let hop = |join: &str| Hop {
            client: Some(client),
            promise: None,
            transport: Transport::WebSocket,
            node: None,
            join: Some(join.into()),
        };
        assert_eq!(sent(&cluster), print("old"));
        assert!(!cluster.same_join_checks(&hop(&print("new"))));
        keys.replace(verifier("new").or_previous(verifier("old")));
        assert_eq!(sent(&cluster), format!("{},{}", print("new"), print("old")));
        assert!(cluster.same_join_checks(&hop(&print("new"))));
        assert!(cluster.same_join_checks(&hop(&print("old"))));
        keys.replace(verifier("new"));
        assert!(!cluster.same_join_checks(&hop(&print("old"))), "the old key dropped");
        assert_eq!(cluster.join_fingerprints(), [print("new")]);
    }

    #[tokio::test]
    async fn suspect_nodes_are_as_many_as_the_fleet_has_and_lapse_after_a_ttl() {
        // A TTL nothing in this test outlasts, however slow the machine, for the bound; a short
        // one below for the lapse, which is waited for.
        let config = |ttl| ServerConfig {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            node_id: Some("a".into()),
            node_ttl: ttl,
            ..ServerConfig::default()
        };
        let start =
            |ttl| Cluster::new(&config(ttl), "127.0.0.1:9000".parse().unwrap(), None).unwrap();
        let cluster = start(Duration::from_secs(600));
        cluster.fleet_size.store(2, Ordering::Relaxed);
        cluster.suspect("b");
        cluster.suspect("c");
        cluster.suspect("c");
        assert!(cluster.is_suspect("b") && cluster.is_suspect("c"), "one entry per node");
        cluster.suspect("d");
        assert!(!cluster.is_suspect("b"), "the oldest made room");
        let mut suspects = cluster.suspects();
        suspects.sort();
        assert_eq!(suspects, ["c", "d"]);
        cluster.reached("d");
        assert_eq!(cluster.suspects(), ["c"]);
        // It lapses one TTL after it was set: waited for, not timed.
        let cluster = start(Duration::from_millis(200));
        cluster.fleet_size.store(2, Ordering::Relaxed);
        cluster.suspect("c");
        let patience = Instant::now() + Duration::from_secs(10);
        while cluster.is_suspect("c") {
            assert!(Instant::now() < patience, "a suspect lapses");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(cluster.suspects().is_empty());
        assert!(lock(&cluster.suspects).is_empty(), "lapsed entries are dropped");
    }

    #[test]
    fn a_room_in_conflict_is_reported_when_the_conflict_starts() {
        let mut conflicts = Conflicts::default();
        let [one, two] = [RoomName::truncated("one"), RoomName::truncated("two")];
        assert_eq!(conflicts.written(&[one, two], &[one]), [one]);
        // Its counts change with every tick, and are refused every time: reported once.
        for _ in 0..8 {
            assert!(conflicts.written(&[one, two], &[one]).is_empty());
        }
        assert!(conflicts.written(&[two], &[]).is_empty(), "not written: still in conflict");
        // The other node lets the name go, then a node takes it again: reported again.
        assert!(conflicts.written(&[one], &[]).is_empty());
        assert_eq!(conflicts.written(&[one], &[one]), [one]);
        // A room closed here is forgotten: opened again and refused, it is reported.
        conflicts.retain(&HashMap::new());
        assert_eq!(conflicts.written(&[one], &[one]), [one]);
    }

    // `GET /nodes` is public: while Redis is away, a peer asking it in a loop must not write
    // the node's log.
    #[tokio::test]
    async fn asking_for_the_fleet_s_nodes_while_redis_is_away_logs_one_warning() {
        let (warnings, _log) = crate::testlog::count_warnings();
        let config = ServerConfig {
            redis_url: Some("redis://127.0.0.1:1/".into()),
            redis_timeout: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let cluster = Cluster::new(&config, "127.0.0.1:9000".parse().unwrap(), None).unwrap();
        let ask = async || {
            for _ in 0..3 {
                let answer = nodes_json(&cluster).await;
                assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
            }
            // Past the reading's age: the next request reads (and fails) again.
            *cluster.listing.lock().await = None;
        };
        ask().await;
        ask().await;
        assert_eq!(warnings.load(Ordering::Relaxed), 1);
        // A good reading meanwhile (as `listing` notes it), then failing again: logged again.
        cluster.listing_failed.store(false, Ordering::Relaxed);
        ask().await;
        assert_eq!(warnings.load(Ordering::Relaxed), 2);
    }
}
