//! The fleet's room directory in Redis: typed calls over the Lua scripts in `lua/`, each
//! bounded by [`ServerConfig::redis_timeout`](crate::ServerConfig::redis_timeout).
//!
//! Every decision that several nodes could race on (a room name, a seat promised to a joiner)
//! is one script, so Redis runs it atomically. Expiry uses Redis's clock (`TIME`), so nodes'
//! clocks need not agree. The connection is a `redis::aio::ConnectionManager`: one multiplexed
//! connection that reconnects by itself (with a bounded, jittered backoff) after Redis went
//! away; while it is away every call fails within the timeout and the caller decides what
//! still works without the directory.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use std::time::Duration;
use tickwire_shared::{ResumeToken, RoomName};

/// Why a directory call failed. The caller treats every variant but
/// [`DirectoryError::NodeIdTaken`] the same way (the directory is unavailable for this
/// request) and logs it.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No answer within `--redis-timeout`.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A script answered something this version does not expect (another tickwire version
    /// sharing the Redis?).
    #[error("unexpected answer from the directory: {0}")]
    Unexpected(&'static str),
    /// A heartbeat found this node's id registered by another process (`heartbeat.lua`): a
    /// previous run of this node that died less than a TTL ago, or another live server with
    /// the same `--node-id`. `last_beat`: that process's last renewal (Redis's clock, ms); a
    /// live one renews it.
    #[error("another process is registered under this node id (last renewed at {last_beat})")]
    NodeIdTaken {
        /// When the other process last renewed the registration.
        last_beat: String,
    },
}

macro_rules! script {
    ($file:literal) => {
        Script::new(concat!(include_str!("lua/common.lua"), include_str!(concat!("lua/", $file))))
    };
}

/// The scripts, loaded once (the `redis` crate sends `EVALSHA` and falls back to `EVAL` when
/// a restarted Redis lost them).
struct Scripts {
    join: Script,
    release: Script,
    heartbeat: Script,
    sync_room: Script,
    reconcile: Script,
    close_room: Script,
    find_token: Script,
    list: Script,
    deregister: Script,
}

/// A handle on the directory. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Directory {
    conn: ConnectionManager,
    scripts: std::sync::Arc<Scripts>,
    node: String,
    /// This process's own id (random): a registration of `node` under another one is another
    /// process's (see [`DirectoryError::NodeIdTaken`]).
    instance: String,
    timeout: Duration,
    /// The protocol this node's clients speak and its release, written with its registration:
    /// during an upgrade across a protocol version, joins through this node go only to rooms
    /// of nodes that speak it (`join.lua`), and `/nodes` shows which node runs what.
    protocol: u16,
    release: String,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("node", &self.node).finish_non_exhaustive()
    }
}

/// What a join asks the directory for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// This room, opened if it does not exist yet.
    Named(RoomName),
    /// Matchmaking.
    Any,
}

/// A join's place: the room, the node that hosts it, and the promise id of its seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The room.
    pub room: RoomName,
    /// The node hosting it.
    pub node: String,
    /// How nodes reach that node (`ws://.../ws`).
    pub node_url: String,
    /// True when this call opened the room (in the directory; its host opens it for real
    /// when the joiner arrives).
    pub created: bool,
}

/// The limits a join is placed under.
#[derive(Debug, Clone, Copy)]
pub struct JoinLimits {
    /// Whether this node may host one more room (not draining, below `--max-rooms`).
    pub may_host: bool,
    /// This node drains: matchmaking places no one in its rooms.
    pub draining: bool,
    /// This node holds as many rooms with spectators and no players as it takes
    /// ([`crate::context::ServerContext::audience_room_limit`]): a spectator's join opens no
    /// room here, though a player's still may.
    pub audience_full: bool,
    /// Seats for ships per room.
    pub capacity: u16,
    /// Spectators per room.
    pub max_spectators: u16,
    /// How long a promised seat is held for a joiner that never arrives.
    pub promise: Duration,
}

/// One room's counts, as its node writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomCounts {
    /// Ship seats (players and controllers).
    pub players: u32,
    /// Spectators.
    pub spectators: u32,
    /// Controllers.
    pub controllers: u32,
    /// Seat limit.
    pub capacity: u16,
    /// Spectator limit.
    pub max_spectators: u16,
    /// The room's tick.
    pub tick: u32,
}

impl RoomCounts {
    /// Whether `other` has the same counts and limits, the tick left out: it changes with every
    /// tick, and only `/rooms` shows it (written with each heartbeat, see `cluster::run`).
    pub fn same_seats(&self, other: &RoomCounts) -> bool {
        RoomCounts { tick: other.tick, ..*self } == *other
    }
}

/// What a node tells the directory at each heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// How nodes reach this one (`ws://.../ws`).
    pub url: &'a str,
    /// How long the registration, and every room and token of this node, lives without
    /// another heartbeat.
    pub ttl: Duration,
    /// This node drains: matchmaking skips its rooms and it opens none.
    pub draining: bool,
    /// Rooms this node hosts now.
    pub rooms: usize,
    /// `--max-rooms`.
    pub max_rooms: u32,
    /// Rooms this node hosts that hold spectators and no players.
    pub audience_rooms: usize,
    /// How many such rooms it takes: the directory opens a room for a spectator only on a
    /// node below it ([`crate::context::ServerContext::audience_room_limit`]).
    pub audience_room_limit: usize,
    /// This node's candidate for the fleet's secret, kept only when the fleet has none yet
    /// and the node knows none ([`Registration::known_secret`] is offered first).
    pub secret_candidate: &'a str,
    /// The fleet's secret as this node last read it (`None` before its first heartbeat). The
    /// secret never expires, so finding it gone or another means Redis lost its data.
    pub known_secret: Option<&'a str>,
    /// When the directory turns out to have forgotten this node (a Redis restart, a lapsed
    /// registration), it opens no new room for this long, set in the same step that lists it
    /// again; zero for a node registering the first time. After a Redis restart (see
    /// `known_secret`) the whole fleet opens none for this long, a node that never ran
    /// before included: any room missing from the directory may be a running match of a node
    /// that has not written it back yet.
    pub settle: Duration,
    /// The prints of the join keys this node checks tokens with, comma separated (`none`
    /// without tokens): written in its record for the other nodes to compare and `/nodes` to
    /// show.
    pub join: &'a str,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// False when the directory had forgotten this node (first start, a Redis restart, a
    /// registration that lapsed): everything must be written again.
    pub was_registered: bool,
    /// The secret nodes prove themselves with on proxied connections.
    pub secret: String,
    /// URLs of every live node.
    pub peers: Vec<String>,
    /// Every other live node's id and the prints of its join keys ([`Registration::join`];
    /// empty for a node of a release before them).
    pub peer_joins: Vec<(String, String)>,
}

/// A room of the fleet, for `/rooms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRoom {
    /// Room name.
    pub name: String,
    /// Its node.
    pub node: String,
    /// Ship seats.
    pub players: u32,
    /// Spectators.
    pub spectators: u32,
    /// Controllers.
    pub controllers: u32,
    /// Seat limit.
    pub capacity: u16,
    /// Tick when last written.
    pub tick: u32,
}

/// A node of the fleet, for `/nodes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FleetNode {
    /// Node name.
    pub id: String,
    /// How the other nodes reach it. Not shown in `/nodes`: it is an address on the fleet's
    /// private network (SECURITY.md), and clients never use it.
    #[serde(skip)]
    pub url: String,
    /// Whether it is draining.
    pub draining: bool,
    /// Rooms it hosts that are in use (its empty ones may make way for new rooms, so they
    /// do not count toward its `--max-rooms`).
    pub rooms: u32,
    /// The prints of the join keys it checks tokens with (`none` without tokens; `None` for a
    /// node of a release before them): nodes relay to each other when theirs share one. Not
    /// shown in `/nodes`, a public route: a print is a hash of the key, which a weak secret
    /// could be guessed from offline ([`crate::cluster::nodes_json`] shows a comparison).
    #[serde(skip)]
    pub join_keys: Option<String>,
    /// The protocol version its clients speak (`None` for a node of a release before it was
    /// written): nodes of two versions run side by side while a fleet upgrades.
    pub protocol: Option<u16>,
    /// Its release (the server crate's version; `None` before it was written).
    pub release: Option<String>,
}

/// The fleet's bans (moderation): a hash of a ban's target to `UNTIL_UNIX_MS REASON`, which
/// every node reads every [`crate::moderation::FLEET_BAN_SYNC`].
const BANS_KEY: &str = "tickwire:bans";

/// A field of [`BANS_KEY`] that a node's reading of the fleet's bans writes, with every ban it
/// holds, when it finds it missing: without it, the hash is one a Redis that lost its data
/// started again (empty, or with only the bans made since), not the fleet's list. Only the
/// readings write it, never a new ban, which would make such a hash look whole. Its value ends
/// never, so a node of an older version, which reads it as a ban of nothing, keeps it.
const BANS_KEPT_FIELD: &str = "kept";
const BANS_KEPT_VALUE: &str = "18446744073709551615 the fleet's bans are kept here";

/// The fleet's moderation log: a sorted set of operators' actions, each one JSON record
/// scored by when it was done, the newest kept ([`Directory::log_actions`]). By time, not by
/// arrival: a node writing back its old actions after a Redis that lost them pushes out the
/// oldest of the fleet, not the others' newest; and a record written twice is one.
const ACTIONS_KEY: &str = "tickwire:moderation-actions";

/// The nodes whose actions [`ACTIONS_KEY`] holds: a node missing from it after a Redis that
/// lost its data writes its own back.
const ACTIONS_NODES_KEY: &str = "tickwire:moderation-actions:nodes";

/// A resume token as the directory keys it: 32 hex digits.
pub fn token_key(token: &ResumeToken) -> String {
    token.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn number<T: std::str::FromStr + Default>(value: Option<&Value>) -> T {
    value.and_then(text).and_then(|t| t.parse().ok()).unwrap_or_default()
}

/// Checks a `--redis-url` without connecting (so a binary can refuse a malformed one, naming
/// the flag, before it starts).
pub fn check_url(url: &str) -> Result<(), DirectoryError> {
    redis::Client::open(url).map(|_| ()).map_err(DirectoryError::from)
}

impl Directory {
    /// A directory client for node `node`. Does not connect yet (the first call does), so a
    /// node starts even while Redis is down. Fails only on a malformed URL.
    pub fn new(url: &str, node: &str, timeout: Duration) -> Result<Directory, DirectoryError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // A few quick reconnects inside one call, then the call fails and the next one
            // tries again: never an unbounded wait.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(timeout);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        let scripts = Scripts {
            join: script!("join.lua"),
            release: script!("release.lua"),
            heartbeat: script!("heartbeat.lua"),
            sync_room: script!("sync_room.lua"),
            reconcile: script!("reconcile.lua"),
            close_room: script!("close_room.lua"),
            find_token: script!("find_token.lua"),
            list: script!("list.lua"),
            deregister: script!("deregister.lua"),
        };
        Ok(Directory {
            conn,
            scripts: std::sync::Arc::new(scripts),
            node: node.to_string(),
            instance: super::random_id(),
            timeout,
            protocol: tickwire_shared::PROTOCOL_VERSION,
            release: env!("CARGO_PKG_VERSION").to_string(),
        })
    }

    /// The directory of a node speaking `protocol`, of release `release`, rather than this
    /// build's: the tests' stand-ins for nodes of another release.
    pub fn speaking(mut self, protocol: u16, release: &str) -> Directory {
        self.protocol = protocol;
        self.release = release.to_string();
        self
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The process registered under this node's id, if one is: its last renewal (Redis's
    /// clock, ms, as [`DirectoryError::NodeIdTaken`] names it) and the TTL it renews with. A
    /// registration expires with its TTL, so one that is found was renewed less than a TTL ago.
    pub async fn holder(&self) -> Result<Option<(String, Duration)>, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("tickwire:node:{}", self.node)).arg("instance").arg("beat").arg("ttl");
        let (instance, beat, ttl): (Option<String>, Option<String>, Option<u64>) =
            self.bounded(cmd.query_async(&mut conn)).await?;
        Ok(instance.and(beat).map(|beat| (beat, Duration::from_millis(ttl.unwrap_or(0)))))
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, DirectoryError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(DirectoryError::Timeout(self.timeout)),
        }
    }

    /// Places a join: finds or opens the room, and promises the joiner a seat there under
    /// `promise_id` (taken up by [`Directory::sync_rooms`] once seated, given back by
    /// [`Directory::release`], or lapsing after `limits.promise`).
    pub async fn join(
        &self,
        wanted: Wanted,
        spectating: bool,
        limits: JoinLimits,
        promise_id: &str,
    ) -> Result<Placement, DirectoryError> {
        self.join_avoiding(wanted, spectating, limits, promise_id, &[]).await
    }

    /// [`Directory::join`], avoiding the nodes in `suspects` (ones this node could not reach
    /// lately, see `join.lua`): `Any` is placed in none of their rooms and no new room opens on
    /// one; a named room one of them hosts is still answered with it (it lives there).
    pub async fn join_avoiding(
        &self,
        wanted: Wanted,
        spectating: bool,
        limits: JoinLimits,
        promise_id: &str,
        suspects: &[String],
    ) -> Result<Placement, DirectoryError> {
        let (mode, name) = match wanted {
            Wanted::Named(name) => ("named", name.to_string()),
            Wanted::Any => ("any", String::new()),
        };
        let mut conn = self.conn.clone();
        let mut call = self.scripts.join.prepare_invoke();
        call.arg(&self.node)
            .arg(mode)
            .arg(name)
            .arg(if spectating { "1" } else { "0" })
            .arg(if limits.may_host { "1" } else { "0" })
            .arg(limits.capacity)
            .arg(limits.max_spectators)
            .arg(limits.promise.as_millis() as u64)
            .arg(promise_id)
            .arg(if limits.draining { "1" } else { "0" })
            .arg(if limits.audience_full { "1" } else { "0" })
            .arg(self.protocol);
        for node in suspects {
            call.arg(node);
        }
        let answer: Value = self.bounded(call.invoke_async(&mut conn)).await?;
        let answer = items(&answer).ok_or(DirectoryError::Unexpected("join"))?;
        let room = answer.first().and_then(text).ok_or(DirectoryError::Unexpected("join room"))?;
        if !tickwire_shared::is_valid_room_name(&room) {
            return Err(DirectoryError::Unexpected("join room name"));
        }
        Ok(Placement {
            room: RoomName::truncated(&room),
            node: answer.get(1).and_then(text).ok_or(DirectoryError::Unexpected("join node"))?,
            node_url: answer.get(2).and_then(text).unwrap_or_default(),
            created: number::<u8>(answer.get(3)) == 1,
        })
    }

    /// Gives back seats of `room` promised by [`Directory::join`] that their joiners did not
    /// take, in one call.
    pub async fn release(
        &self,
        room: &RoomName,
        promise_ids: &[&str],
    ) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.release.prepare_invoke();
        call.arg(room.as_str());
        for id in promise_ids {
            call.arg(*id);
        }
        let _: u8 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Renews this node's registration (see [`Registration`] and [`Beat`]).
    pub async fn heartbeat(&self, registration: &Registration<'_>) -> Result<Beat, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.heartbeat.prepare_invoke();
        call.arg(&self.node)
            .arg(registration.url)
            .arg(registration.ttl.as_millis() as u64)
            .arg(if registration.draining { "1" } else { "0" })
            .arg(registration.rooms)
            .arg(registration.max_rooms)
            .arg(registration.known_secret.unwrap_or(registration.secret_candidate))
            .arg(registration.settle.as_millis() as u64)
            .arg(registration.known_secret.unwrap_or(""))
            .arg(&self.instance)
            .arg(registration.join)
            .arg(registration.audience_rooms)
            .arg(registration.audience_room_limit)
            .arg(self.protocol)
            .arg(&self.release);
        let answer: Value = match self.bounded(call.invoke_async(&mut conn)).await {
            Err(DirectoryError::Redis(e)) if e.code() == Some("TICKWIRE_DUPLICATE") => {
                let beat = e.detail().and_then(|detail| detail.split_whitespace().next());
                let last_beat = beat.unwrap_or_default().to_string();
                return Err(DirectoryError::NodeIdTaken { last_beat });
            }
            answer => answer?,
        };
        let answer = items(&answer).ok_or(DirectoryError::Unexpected("heartbeat"))?;
        Ok(Beat {
            was_registered: number::<u8>(answer.first()) == 1,
            secret: answer.get(1).and_then(text).ok_or(DirectoryError::Unexpected("secret"))?,
            peers: answer.get(2).and_then(items).unwrap_or(&[]).iter().filter_map(text).collect(),
            peer_joins: answer
                .get(3)
                .and_then(items)
                .unwrap_or(&[])
                .iter()
                .filter_map(items)
                .map(|row| {
                    let id = row.first().and_then(text).unwrap_or_default();
                    (id, row.get(1).and_then(text).unwrap_or_default())
                })
                .collect(),
        })
    }

    /// Writes the counts of rooms this node hosts and the promises their joiners took up, in
    /// one round trip. Returns the rooms another live node holds the name of.
    pub async fn sync_rooms(
        &self,
        ttl: Duration,
        rooms: &[(RoomName, RoomCounts, Vec<String>)],
    ) -> Result<Vec<RoomName>, DirectoryError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for (name, counts, taken) in rooms {
            let cmd = pipe
                .cmd("EVALSHA")
                .arg(self.scripts.sync_room.get_hash())
                .arg(0)
                .arg(&self.node)
                .arg(ttl.as_millis() as u64)
                .arg(name.as_str())
                .arg(counts.players)
                .arg(counts.spectators)
                .arg(counts.controllers)
                .arg(counts.capacity)
                .arg(counts.max_spectators)
                .arg(counts.tick);
            for id in taken {
                cmd.arg(id);
            }
        }
        // A pipeline of EVALSHA, which does not load the script as `Script::invoke_async` does:
        // loaded here when Redis does not have it (its first use, or a restarted Redis).
        let answers: Vec<u8> = match self.bounded(pipe.query_async(&mut conn)).await {
            Err(DirectoryError::Redis(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let _: String = self.bounded(self.scripts.sync_room.load_async(&mut conn)).await?;
                self.bounded(pipe.query_async(&mut conn)).await?
            }
            answers => answers?,
        };
        Ok(rooms
            .iter()
            .zip(answers)
            .filter(|(_, written)| *written == 0)
            .map(|(room, _)| room.0)
            .collect())
    }

    /// Drops rooms listed under this node that it does not host (`hosted`), once older than
    /// `grace`. Returns how many.
    pub async fn reconcile(
        &self,
        hosted: &[RoomName],
        grace: Duration,
    ) -> Result<u32, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.reconcile.prepare_invoke();
        call.arg(&self.node).arg(grace.as_millis() as u64);
        for room in hosted {
            call.arg(room.as_str());
        }
        self.bounded(call.invoke_async(&mut conn)).await
    }

    /// Drops a room this node closed.
    pub async fn close_room(&self, room: &RoomName) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.close_room.prepare_invoke();
        call.arg(&self.node).arg(room.as_str());
        let _: u8 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Adds and removes this node's resume tokens. `replace_all`: the directory's list is
    /// replaced by `added` in one transaction (after the directory forgot this node).
    pub async fn write_tokens(
        &self,
        ttl: Duration,
        added: &[(ResumeToken, RoomName)],
        removed: &[ResumeToken],
        replace_all: bool,
    ) -> Result<(), DirectoryError> {
        let key = format!("tickwire:node:{}:tokens", self.node);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if replace_all {
            pipe.del(&key).ignore();
        }
        if !removed.is_empty() && !replace_all {
            pipe.hdel(&key, removed.iter().map(token_key).collect::<Vec<_>>()).ignore();
        }
        if !added.is_empty() {
            let fields: Vec<(String, String)> =
                added.iter().map(|(t, room)| (token_key(t), room.to_string())).collect();
            pipe.hset_multiple(&key, &fields).ignore();
        }
        pipe.pexpire(&key, ttl.as_millis() as i64).ignore();
        let mut conn = self.conn.clone();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// The live node holding `token`: (node, room, node URL), `None` also when that node
    /// speaks another protocol than this one (a fleet upgrading across a protocol version: the
    /// client, which speaks this node's, could not take its seat there, and joins afresh).
    pub async fn find_token(
        &self,
        token: &ResumeToken,
    ) -> Result<Option<(String, RoomName, String)>, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.find_token.prepare_invoke();
        call.arg(token_key(token)).arg(self.protocol);
        let answer: Value = self.bounded(call.invoke_async(&mut conn)).await?;
        let Some(answer) = items(&answer) else { return Ok(None) };
        let (Some(node), Some(room)) =
            (answer.first().and_then(text), answer.get(1).and_then(text))
        else {
            return Err(DirectoryError::Unexpected("find_token"));
        };
        Ok(Some((
            node,
            RoomName::truncated(&room),
            answer.get(2).and_then(text).unwrap_or_default(),
        )))
    }

    /// Every live room and node of the fleet.
    pub async fn list(&self) -> Result<(Vec<FleetRoom>, Vec<FleetNode>), DirectoryError> {
        let mut conn = self.conn.clone();
        let answer: Value =
            self.bounded(self.scripts.list.prepare_invoke().invoke_async(&mut conn)).await?;
        let answer = items(&answer).ok_or(DirectoryError::Unexpected("list"))?;
        let rooms = answer
            .first()
            .and_then(items)
            .unwrap_or(&[])
            .iter()
            .filter_map(items)
            .map(|row| FleetRoom {
                name: row.first().and_then(text).unwrap_or_default(),
                node: row.get(1).and_then(text).unwrap_or_default(),
                players: number(row.get(2)),
                spectators: number(row.get(3)),
                controllers: number(row.get(4)),
                capacity: number(row.get(5)),
                tick: number(row.get(6)),
            })
            .collect();
        let nodes = answer
            .get(1)
            .and_then(items)
            .unwrap_or(&[])
            .iter()
            .filter_map(items)
            .map(|row| FleetNode {
                id: row.first().and_then(text).unwrap_or_default(),
                url: row.get(1).and_then(text).unwrap_or_default(),
                draining: number::<u8>(row.get(2)) == 1,
                rooms: number(row.get(3)),
                join_keys: row.get(4).and_then(text).filter(|join| !join.is_empty()),
                protocol: row.get(5).and_then(text).and_then(|p| p.parse().ok()),
                release: row.get(6).and_then(text).filter(|release| !release.is_empty()),
            })
            .collect();
        Ok((rooms, nodes))
    }

    /// Checks that Redis answers (over this node's connection, which reconnects after it
    /// failed: a restarted Redis is noticed by the first call after the restart failing).
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        self.bounded(redis::cmd("PING").query_async::<()>(&mut conn)).await
    }

    /// Writes a ban of the fleet (moderation): `field` names what it bans
    /// ([`crate::moderation::BanTarget::field`]); it lasts until `until_unix_ms`.
    pub async fn put_ban(
        &self,
        field: &str,
        until_unix_ms: u64,
        reason: &str,
    ) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(BANS_KEY).arg(field).arg(format!("{until_unix_ms} {reason}"));
        self.bounded(cmd.query_async::<()>(&mut conn)).await
    }

    /// Writes bans back (field, until in ms since the Unix epoch, reason), with the mark that
    /// the fleet's bans are kept: after Redis lost them, each node writes back those it holds.
    pub async fn restore_bans(&self, bans: &[(String, u64, String)]) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HSET");
        cmd.arg(BANS_KEY).arg(BANS_KEPT_FIELD).arg(BANS_KEPT_VALUE);
        for (field, until_unix_ms, reason) in bans {
            cmd.arg(field).arg(format!("{until_unix_ms} {reason}"));
        }
        self.bounded(cmd.query_async::<()>(&mut conn)).await
    }

    /// Drops bans of the fleet (lifted, or over); how many there were.
    pub async fn drop_bans(&self, fields: &[String]) -> Result<u64, DirectoryError> {
        if fields.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(BANS_KEY).arg(fields);
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// Every ban of the fleet: (field, until in ms since the Unix epoch, reason), and whether
    /// Redis has kept the fleet's bans (an empty list without it: Redis lost them).
    pub async fn bans(&self) -> Result<(Vec<(String, u64, String)>, bool), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(BANS_KEY);
        let fields: Vec<(String, String)> = self.bounded(cmd.query_async(&mut conn)).await?;
        let kept = fields.iter().any(|(field, _)| field == BANS_KEPT_FIELD);
        let bans = fields
            .into_iter()
            .filter(|(field, _)| field != BANS_KEPT_FIELD)
            .map(|(field, value)| {
                let (until, reason) = value.split_once(' ').unwrap_or((&value, ""));
                (field, until.parse().unwrap_or(0), reason.to_owned())
            })
            .collect();
        Ok((bans, kept))
    }

    /// Adds operators' actions (when, in ms since the Unix epoch, and the JSON record) to the
    /// fleet's moderation log, all or none, which then keeps the newest `keep` of the fleet's.
    pub async fn log_actions(
        &self,
        records: &[(u64, String)],
        keep: usize,
    ) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (at_unix_ms, record) in records {
            pipe.cmd("ZADD").arg(ACTIONS_KEY).arg(*at_unix_ms).arg(record).ignore();
        }
        let past_newest = -1 - i64::try_from(keep).unwrap_or(i64::MAX - 1);
        pipe.cmd("ZREMRANGEBYRANK").arg(ACTIONS_KEY).arg(0).arg(past_newest).ignore();
        pipe.cmd("SADD").arg(ACTIONS_NODES_KEY).arg(&self.node).ignore();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// Whether the fleet's moderation log holds this node's actions (false after a Redis that
    /// lost its data).
    pub async fn logged_here(&self) -> Result<bool, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SISMEMBER");
        cmd.arg(ACTIONS_NODES_KEY).arg(&self.node);
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// The newest `count` JSON records of the fleet's moderation log, newest first.
    pub async fn actions(&self, count: usize) -> Result<Vec<String>, DirectoryError> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("ZREVRANGE");
        cmd.arg(ACTIONS_KEY).arg(0).arg(count.saturating_sub(1));
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// Removes this node, its rooms and tokens from the directory (it is leaving); nothing
    /// when another process holds the node's id.
    pub async fn deregister(&self) -> Result<(), DirectoryError> {
        let mut conn = self.conn.clone();
        let mut call = self.scripts.deregister.prepare_invoke();
        call.arg(&self.node).arg(&self.instance);
        let _: u8 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(())
    }
}
