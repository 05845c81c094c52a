//! Moderation for operators: who sits in a room, removing a client, and bans.
//!
//! A public game with chat and names needs a way to show someone the door. An operator, with
//! `--admin-token`, can list a room's seats (name, role, score, address), remove a seat (the
//! client gets `Kick { Removed }` with the operator's reason and close 1008; the seat goes at
//! once, so no resume brings it back), and ban an address or a name for a while: a `Hello`
//! from a banned client is answered with `Kick { Removed }` saying for how long and why, and
//! the clients in the repository do not rejoin on their own after one (PROTOCOL.md 5, `Kick`).
//!
//! The routes live where `/metrics` does: on the admin listener (`--admin-bind`), or on the
//! public one when there is none. Every one needs `Authorization: Bearer <--admin-token>`
//! (401 without it; without `--admin-token` they answer 403 saying so):
//!
//! - `GET /rooms/{room}/seats`: the room's seats, as [`SeatInfo`] rows;
//! - `POST /rooms/{room}/kick` `{"player": 3, "reason": "...", "ban": "1h"}`: removes one seat,
//!   and with `ban`, bans its address (and its name, when join tokens vouch for names);
//! - `POST /rooms/{room}/mute` `{"player": 3, "for": "10m"}`: the seat's chat lines reach
//!   nobody but itself for that long (through a resume too; a new seat speaks again);
//!   `DELETE /rooms/{room}/mute?player=3` lifts it;
//! - `GET /moderation/log[?limit=N]`: what the operators did, newest first: on this node, or
//!   in a fleet on every node, from the fleet's log in Redis ([`ActionLog`]);
//! - `GET /bans`, `POST /bans` `{"address" | "name", "for": "1h", "reason"}` (which removes
//!   the clients it covers from every room of this node), `DELETE /bans?address=` or
//!   `?name=`. An address is one IPv4 address or an IPv6 address's /64, or a network written
//!   with its prefix, from an IPv4 /16 or an IPv6 /32 ([`AddressKey`]).
//!
//! A ban refuses every join this node answers (clients who reach one of its rooms through
//! another node included: the forwarding node names them). In a fleet the bans are the
//! fleet's: made or lifted on any node, they are written to its directory in Redis, and every
//! node reads them every [`FLEET_BAN_SYNC`] ([`sync_fleet_bans`]), so they hold on every node
//! and outlive a restart. A single server keeps them until the process ends. At most
//! [`MAX_BANS`] at once.

use crate::context::ServerContext;
use crate::http::{BodyError, ClientAddr, read_body};
use crate::room::{Removal, Removed};
use crate::room::{RoomCommand, SeatInfo};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickwire_shared::{KickText, Name, PlayerId, ResumeToken, RoomName};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Most bans held at once. Bans are entered by operators, not peers, but a script gone wrong
/// must not grow the table without end; past it `POST /bans` answers 507.
pub const MAX_BANS: usize = 10_000;

/// Most of the fleet's bans a node holds when it reads them: twice [`MAX_BANS`]. Each node
/// refuses a new ban past `MAX_BANS` by its own table, but two nodes that add their last ones
/// at once, between readings, take the fleet past it by those few; holding only `MAX_BANS` of
/// them, in whatever order Redis lists them, would silently stop enforcing others that were
/// accepted. The bound is for a fleet's list grown without end (a node of another version).
const MAX_FLEET_BANS: usize = 2 * MAX_BANS;

/// The longest ban: a year. Longer belongs in the game's backend (its join tokens).
pub const MAX_BAN: Duration = Duration::from_secs(365 * 86_400);

/// The longest reason an operator may give, in bytes: what the `Kick` a client gets carries
/// whole behind its longest prefix (`banned for 119 more minutes: `, in 96 bytes).
pub const MAX_REASON_LEN: usize = 64;

/// How many removed seats' resume tokens are remembered ([`Bans::note_removed`]).
pub const MAX_REMOVED_TOKENS: usize = 4096;

/// How long a removed seat's resume token is refused: past any resume grace a client waits
/// out (a resume after its seat's grace gets a fresh seat anyway).
pub const REMOVED_TOKEN_LIFE: Duration = Duration::from_secs(300);

/// The operators of `--admin-tokens`: names and their tokens, as read from its file (read
/// again on SIGHUP: [`Operators::reload`]).
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorTokens {
    /// The file, to read again.
    path: Option<String>,
    operators: Vec<(String, String)>,
    /// What is wrong with the file's mode, to be logged: the file is read as the flags are
    /// parsed, before logging starts, and a warning printed then would not be in the log's
    /// format (`--log-format json`).
    warning: Option<String>,
}

impl std::fmt::Debug for OperatorTokens {
    /// The names alone: the tokens stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.operators.iter().map(|(name, _)| name)).finish()
    }
}

impl OperatorTokens {
    /// Reads `path`: one `NAME TOKEN` per line; `#` comments and blank lines ignored.
    pub fn read(path: &str) -> Result<OperatorTokens, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let mut tokens = OperatorTokens::parse(&text).map_err(|why| format!("{path}: {why}"))?;
        tokens.path = Some(path.to_owned());
        tokens.warning = mode_warning(path);
        Ok(tokens)
    }

    /// What is wrong with the file's mode, if anything: for the caller to log.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The file the operators were read from, if they were.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The file's text as operators, or what is wrong with it (naming the line).
    pub fn parse(text: &str) -> Result<OperatorTokens, String> {
        let mut operators: Vec<(String, String)> = Vec::new();
        for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, token) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let token = token.trim();
            let valid_name = (1..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid_name {
                return Err(format!(
                    "line {number}: {name:?} is not an operator's name (1 to 32 of A-Z a-z 0-9 . _ -)"
                ));
            }
            if token.is_empty() {
                return Err(format!("line {number}: {name} has no token (NAME TOKEN)"));
            }
            if token.contains(char::is_whitespace) {
                return Err(format!(
                    "line {number}: {name}'s token has a space in it (a comment goes on a line \
                     of its own, after #)"
                ));
            }
            if operators.iter().any(|(known, _)| known == name) {
                return Err(format!("line {number}: {name} is named twice"));
            }
            if operators.iter().any(|(_, known)| known == token) {
                return Err(format!("line {number}: {name}'s token is another operator's too"));
            }
            operators.push((name.to_owned(), token.to_owned()));
        }
        if operators.is_empty() {
            return Err("names no operator (one `NAME TOKEN` per line)".into());
        }
        Ok(OperatorTokens { path: None, operators, warning: None })
    }

    /// Each operator's name and token.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.operators.iter().map(|(name, token)| (name.as_str(), token.as_str()))
    }

    /// What is wrong with these operators beside `--admin-token`'s `admin`, if anything: the
    /// log could not tell them apart, or one token would stand for two operators.
    pub fn clash_with(&self, admin_token: Option<&str>) -> Option<String> {
        let admin_token = admin_token?;
        if self.operators.iter().any(|(name, _)| name == "admin") {
            return Some(
                "--admin-tokens names an operator `admin`, as --admin-token's is named: \
                 rename one, so that the moderation log tells them apart"
                    .into(),
            );
        }
        let shared = self.operators.iter().find(|(_, token)| token == admin_token)?;
        Some(format!(
            "--admin-tokens gives {} the token of --admin-token: one token per operator",
            shared.0
        ))
    }
}

/// The operators moderation answers, as the server runs: those of the flags at start, and of
/// the `--admin-tokens` file as SIGHUP reads it again.
#[derive(Debug, Default)]
pub struct Operators {
    live: std::sync::RwLock<Vec<(String, String)>>,
}

impl Operators {
    /// The operators of `config`.
    pub fn of(config: &crate::config::ServerConfig) -> Operators {
        let live = config.operators().map(|(n, t)| (n.to_owned(), t.to_owned())).collect();
        Operators { live: std::sync::RwLock::new(live) }
    }

    /// Whose token `given` is, compared against every operator's in time that does not say
    /// which matched.
    fn find(&self, given: &str) -> Option<String> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let mut found = None;
        for (name, token) in live.iter() {
            if crate::cluster::constant_time_eq(given.as_bytes(), token.as_bytes()) {
                found.get_or_insert(name);
            }
        }
        found.cloned()
    }

    /// The operators' names, for a log line.
    pub fn names(&self) -> Vec<String> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Reads `--admin-tokens` again (SIGHUP): an operator taken out of the file is refused from
    /// now on, one added is let in. Without the flag, nothing to do (`Ok(None)`); a file that no
    /// longer reads, or clashes with `--admin-token`, leaves the operators as they were.
    pub fn reload(
        &self,
        config: &crate::config::ServerConfig,
    ) -> Result<Option<Vec<String>>, String> {
        let Some(path) = config.admin_tokens.as_ref().and_then(OperatorTokens::path) else {
            return Ok(None);
        };
        let team = OperatorTokens::read(path)?;
        if let Some(warning) = team.warning() {
            tracing::warn!("{warning}");
        }
        if let Some(clash) = team.clash_with(config.moderation_token()) {
            return Err(clash);
        }
        let single = config.moderation_token().map(|token| ("admin".to_owned(), token.to_owned()));
        let team = team.operators.into_iter();
        let live: Vec<(String, String)> = single.into_iter().chain(team).collect();
        let names = live.iter().map(|(name, _)| name.clone()).collect();
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = live;
        Ok(Some(names))
    }
}

/// What is wrong with the mode of the file of operators' tokens at `path`, if anything: others
/// than its owner and group may read it, or its group may change it. Group-read is allowed: a
/// Kubernetes Secret mounted for a pod's `fsGroup` is 0440, and nothing else would let a
/// non-root server read it.
fn mode_warning(path: &str) -> Option<String> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if too_open(mode) {
            return Some(format!(
                "--admin-tokens {path} may be read or changed by others than its owner and \
                 group (mode {mode:o}): `chmod 600 {path}` (or 640)"
            ));
        }
    }
    None
}

/// Whether a file of tokens with `mode` may be read by others than its owner and group, or
/// changed by its group.
fn too_open(mode: u32) -> bool {
    mode & 0o027 != 0
}

/// How many operator actions a node remembers ([`ActionLog`]); the oldest go first.
pub const MAX_LOGGED_ACTIONS: usize = 500;

/// How long a room may take to answer an operator before the request answers 503.
const ROOM_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The widest IPv4 network a ban may cover: a /16 is 65,536 addresses, a provider's block; a
/// wider one would refuse a country's share of players by mistake.
pub const WIDEST_V4_BAN: u8 = 16;

/// The widest IPv6 network a ban may cover: a /32 is a provider's whole allocation.
pub const WIDEST_V6_BAN: u8 = 32;

/// What an address ban covers: one IPv4 address, or the IPv6 /64 an address is in (a host
/// picks any address of its /64 at will, so banning one of them would stop nobody), or a wider
/// network an operator names (`203.0.113.0/24`, `2001:db8::/48`), at most an IPv4 /16 or an
/// IPv6 /32. Always a network address with its prefix; IPv4-mapped IPv6 addresses are IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpNet);

impl AddressKey {
    /// The narrowest key that covers `ip`: the address itself, or its IPv6 /64.
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => AddressKey(IpNet::V4(Ipv4Net::from(v4))),
            IpAddr::V6(v6) => AddressKey::within(IpAddr::V6(v6), 64),
        }
    }

    /// The network of `prefix` bits around `ip` (`ip` canonical, `prefix` valid for it).
    fn within(ip: IpAddr, prefix: u8) -> Self {
        let net = IpNet::new(ip, prefix).expect("a prefix checked against the address family");
        AddressKey(net.trunc())
    }

    /// Every key a ban of `ip` could be held under, narrowest first: what a join's check
    /// looks up (17 keys for IPv4, 33 for IPv6, each one hash lookup).
    pub fn covering(ip: IpAddr) -> impl Iterator<Item = AddressKey> {
        let ip = canonical(ip);
        let (narrowest, widest) = match ip {
            IpAddr::V4(_) => (32, WIDEST_V4_BAN),
            IpAddr::V6(_) => (64, WIDEST_V6_BAN),
        };
        (widest..=narrowest).rev().map(move |prefix| AddressKey::within(ip, prefix))
    }

    /// The key's first address.
    pub fn network(&self) -> IpAddr {
        self.0.network()
    }

    /// Whether a ban of this key covers `ip`.
    pub fn covers(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }

    /// Whether this key and `net` share any address: a ban of it would cover part of `net`.
    pub fn overlaps(&self, net: &IpNet) -> bool {
        self.0.contains(&net.network()) || net.contains(&self.0.network())
    }
}

/// `ip`, with an IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl std::fmt::Display for AddressKey {
    /// One IPv4 address alone (`203.0.113.9`), any other with its prefix (`203.0.113.0/24`,
    /// `2001:db8::/64`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpNet::V4(net) if net.prefix_len() == 32 => write!(f, "{}", net.addr()),
            net => write!(f, "{net}"),
        }
    }
}

/// How names compare for bans and removals: cleaned as the server cleans a `Hello`'s name
/// ([`crate::connection::clean_name_text`]), without joiners, variation selectors and a flag's
/// tags (which change how a name shows, not whose it is), and in lower case: `Ada`, `ada ` and
/// `a\u{200d}da` are one name.
pub fn name_key(name: &str) -> String {
    let cleaned = crate::connection::clean_name_text(name);
    let visible = cleaned.chars().filter(|c| {
        !matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0000}'..='\u{E01EF}')
    });
    visible.collect::<String>().to_lowercase()
}

/// What a ban refuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BanTarget {
    /// Clients from this address (or IPv6 /64), or this network.
    Address(AddressKey),
    /// Clients of this name ([`name_key`]). Without join tokens a player picks any name, so
    /// this stops only the careless; with them, the game's backend vouches for names.
    Name(String),
}

#[derive(Debug, Clone)]
struct Ban {
    until: Instant,
    until_unix_ms: u64,
    reason: String,
    /// When this node made it (a fleet's ban learned from the directory: when it was read).
    made: Instant,
    /// Made by this node and not yet in the fleet's directory (a node outside a fleet never
    /// writes one: it has no listing to lift it either).
    unwritten: bool,
}

/// How often a node of a fleet reads the fleet's bans (see [`sync_fleet_bans`]): a ban made on
/// one node refuses joins everywhere within this, and removes the clients it covers.
pub const FLEET_BAN_SYNC: Duration = Duration::from_secs(2);

/// As an operator names it: the address or network, or the name.
impl std::fmt::Display for BanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanTarget::Address(key) => key.fmt(f),
            BanTarget::Name(name) => f.write_str(name),
        }
    }
}

impl BanTarget {
    /// How the fleet's directory names it: `a:` and the address (`a:2001:db8::/64`), or `n:`
    /// and the name.
    pub fn field(&self) -> String {
        match self {
            BanTarget::Address(key) => format!("a:{key}"),
            BanTarget::Name(name) => format!("n:{name}"),
        }
    }

    /// The target a directory's `field` names, if it names one.
    pub fn from_field(field: &str) -> Option<BanTarget> {
        match field.split_once(':')? {
            ("a", address) => address_of(address).ok().map(BanTarget::Address),
            ("n", name) => Some(BanTarget::Name(name.to_owned())),
            _ => None,
        }
    }
}

/// A ban, as `GET /bans` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BanInfo {
    /// The address (or IPv6 /64) banned, if the ban is of an address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The name banned ([`name_key`]), if the ban is of a name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The operator's reason.
    pub reason: String,
    /// When it ends, milliseconds since the Unix epoch.
    pub until_unix_ms: u64,
    /// Seconds left, rounded up.
    pub remaining_secs: u64,
}

impl BanInfo {
    /// What it bans, for a log line: the address or the name.
    pub fn target(&self) -> &str {
        self.address.as_deref().or(self.name.as_deref()).unwrap_or("")
    }

    /// What it bans, as the table keys it.
    pub fn banned(&self) -> Option<BanTarget> {
        match (&self.address, &self.name) {
            (Some(address), _) => address_of(address).ok().map(BanTarget::Address),
            (None, Some(name)) => Some(BanTarget::Name(name.clone())),
            (None, None) => None,
        }
    }
}

impl From<BanTarget> for Removal {
    /// Every seat the ban covers.
    fn from(target: BanTarget) -> Removal {
        match target {
            BanTarget::Address(key) => Removal::Address(key),
            BanTarget::Name(name) => Removal::Name(name),
        }
    }
}

/// The table is full ([`MAX_BANS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_BANS} bans are held already: lift some first")]
pub struct BansFull;

/// What a ban does to a ban of the same target that runs already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Keeps whichever ends later: a kick's ban never shortens an operator's longer one.
    KeepLonger,
    /// Refuses ([`BanRefused::Running`]): one operator does not undo another's ban unawares.
    Refuse,
    /// Replaces it: the operator asked to (`"replace": true`), to shorten it or change why.
    Replace,
}

/// Why a ban was not made. The operator reacts: lifts some, or replaces on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BanRefused {
    /// The table is full.
    #[error(transparent)]
    Full(#[from] BansFull),
    /// A ban of the same target runs already (with [`Existing::Refuse`]).
    #[error(
        "{} is banned already, for {}{}: send \"replace\": true to set this ban instead, or lift \
         that one first",
        .0.target(),
        time_left(.0.remaining_secs),
        if .0.reason.is_empty() { String::new() } else { format!(" ({})", .0.reason) }
    )]
    Running(BanInfo),
}

/// This node's bans, and the resume tokens of seats it removed. Expired ones are dropped as
/// they are met.
#[derive(Debug, Default)]
pub struct Bans {
    table: Mutex<HashMap<BanTarget, Ban>>,
    removed: Mutex<HashMap<ResumeToken, (KickText, Instant)>>,
}

impl Bans {
    fn table(&self) -> MutexGuard<'_, HashMap<BanTarget, Ban>> {
        // Every critical section is one map operation: a poisoned table is still consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bans `target` for `length` from `now`; a ban of the same target that runs already is
    /// kept, refused or replaced as `existing` says.
    pub fn ban(
        &self,
        target: BanTarget,
        length: Duration,
        reason: &str,
        now: Instant,
        existing: Existing,
    ) -> Result<BanInfo, BanRefused> {
        let mut table = self.table();
        if let Some(running) = table.get(&target).filter(|ban| ban.until > now) {
            let running_info = info_of(&target, running, now);
            match existing {
                Existing::Refuse => return Err(BanRefused::Running(running_info)),
                Existing::KeepLonger if running.until >= now + length => return Ok(running_info),
                Existing::KeepLonger | Existing::Replace => {}
            }
        }
        if table.len() >= MAX_BANS && !table.contains_key(&target) {
            table.retain(|_, ban| ban.until > now);
            if table.len() >= MAX_BANS {
                return Err(BansFull.into());
            }
        }
        let until_unix_ms = unix_ms(SystemTime::now() + length);
        let reason = reason.to_owned();
        let ban = Ban { until: now + length, until_unix_ms, reason, made: now, unwritten: true };
        let info = info_of(&target, &ban, now);
        table.insert(target, ban);
        Ok(info)
    }

    /// Takes the fleet's bans as the directory lists them (field, until in Unix ms, reason):
    /// the table becomes that list, but for bans this node made that the directory has not
    /// taken yet (its write follows the ban, or failed while Redis was away, and
    /// [`sync_fleet_bans`] writes it again): a reading must not lift them. Returns the bans new
    /// to this node, whose clients it then removes.
    pub fn merge_fleet(&self, listed: Vec<(BanTarget, u64, String)>, now: Instant) -> Vec<BanInfo> {
        let now_unix_ms = unix_ms(SystemTime::now());
        let mut table = self.table();
        let mut merged: HashMap<BanTarget, Ban> = HashMap::with_capacity(listed.len());
        let mut added = Vec::new();
        if listed.len() > MAX_FLEET_BANS {
            warn!(
                listed = listed.len(),
                held = MAX_FLEET_BANS,
                "the fleet's directory lists more bans than a node holds: some are not enforced \
                 here; lift some (GET /bans)"
            );
        }
        for (target, until_unix_ms, reason) in listed.into_iter().take(MAX_FLEET_BANS) {
            if until_unix_ms <= now_unix_ms {
                continue;
            }
            let ban = match table.remove(&target) {
                // Listed: written, even if the answer to its write was lost.
                Some(known) if known.until_unix_ms == until_unix_ms => {
                    Ban { unwritten: false, ..known }
                }
                _ => {
                    let left = Duration::from_millis(until_unix_ms - now_unix_ms);
                    let ban = Ban {
                        until: now + left,
                        until_unix_ms,
                        reason,
                        made: now,
                        unwritten: false,
                    };
                    added.push(info_of(&target, &ban, now));
                    ban
                }
            };
            merged.insert(target, ban);
        }
        for (target, ban) in table.drain() {
            if ban.until > now && ban.unwritten {
                merged.entry(target).or_insert(ban);
            }
        }
        *table = merged;
        added
    }

    /// The bans running, as the fleet's directory keeps them: (field, until in ms since the
    /// Unix epoch, reason).
    pub fn held(&self, now: Instant) -> Vec<(String, u64, String)> {
        let table = self.table();
        let running = table.iter().filter(|(_, ban)| ban.until > now);
        running
            .map(|(target, ban)| (target.field(), ban.until_unix_ms, ban.reason.clone()))
            .collect()
    }

    /// The running bans this node made at least `settled` ago that the fleet's directory has
    /// not taken yet: (target, until in ms since the Unix epoch, reason). Younger ones are
    /// still being written by the request that made them, which may yet take them back (a
    /// `POST /bans` the directory refused is not made at all).
    pub fn unwritten(&self, now: Instant, settled: Duration) -> Vec<(BanTarget, u64, String)> {
        let table = self.table();
        let waiting = table.iter().filter(|(_, ban)| {
            ban.unwritten && ban.until > now && now.saturating_duration_since(ban.made) >= settled
        });
        waiting
            .map(|(target, ban)| (target.clone(), ban.until_unix_ms, ban.reason.clone()))
            .collect()
    }

    /// The fleet's directory took the ban of `target` that ends at `until_unix_ms`: its listing
    /// decides from here on. False when this node no longer holds that ban (lifted or
    /// replaced while it was being written), and nothing changes.
    pub fn mark_written(&self, target: &BanTarget, until_unix_ms: u64) -> bool {
        match self.table().get_mut(target) {
            Some(ban) if ban.until_unix_ms == until_unix_ms => {
                ban.unwritten = false;
                true
            }
            _ => false,
        }
    }

    /// The running ban of `target`, as the fleet's directory keeps it: (until in ms since the
    /// Unix epoch, reason).
    pub fn running(&self, target: &BanTarget, now: Instant) -> Option<(u64, String)> {
        let table = self.table();
        let ban = table.get(target).filter(|ban| ban.until > now)?;
        Some((ban.until_unix_ms, ban.reason.clone()))
    }

    /// Whether a new ban would find no room ([`MAX_BANS`]) once expired ones are dropped.
    pub fn is_full(&self, now: Instant) -> bool {
        let mut table = self.table();
        if table.len() < MAX_BANS {
            return false;
        }
        table.retain(|_, ban| ban.until > now);
        table.len() >= MAX_BANS
    }

    /// Remembers that an operator removed the seat of `token`, with `message`: a client that
    /// lost its connection before the `Kick` reached it (or never read it) resumes with it,
    /// and is told the same instead of getting a fresh seat ([`REMOVED_TOKEN_LIFE`]).
    pub fn note_removed(&self, token: ResumeToken, message: KickText, now: Instant) {
        let mut removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        if removed.len() >= MAX_REMOVED_TOKENS {
            removed.retain(|_, (_, at)| now.saturating_duration_since(*at) < REMOVED_TOKEN_LIFE);
        }
        // Past the bound, a removal is forgotten sooner: its client's resume gets a fresh
        // seat, which a ban (not a kick) is for.
        if removed.len() < MAX_REMOVED_TOKENS {
            removed.insert(token, (message, now));
        }
    }

    /// The message of the removal of `token`'s seat, if one is remembered.
    pub fn removed_token(&self, token: &ResumeToken, now: Instant) -> Option<KickText> {
        let removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        let (message, at) = removed.get(token)?;
        (now.saturating_duration_since(*at) < REMOVED_TOKEN_LIFE).then_some(*message)
    }

    /// Lifts the ban of `target`; what it was, if there was one still running.
    pub fn lift(&self, target: &BanTarget, now: Instant) -> Option<BanInfo> {
        self.table().remove(target).filter(|ban| ban.until > now).map(|b| info_of(target, &b, now))
    }

    /// The ban that refuses a client from `client` named `name`, if any: of those that cover
    /// it (its address, a network around it, its name), the one that ends last, so that the
    /// client is told the whole time it is refused, not a shorter ban's.
    pub fn check(&self, client: IpAddr, name: &str, now: Instant) -> Option<BanInfo> {
        let mut table = self.table();
        if table.is_empty() {
            return None;
        }
        let addresses = AddressKey::covering(client).map(BanTarget::Address);
        let mut longest: Option<(BanTarget, &Ban)> = None;
        let mut over = Vec::new();
        for target in addresses.chain([BanTarget::Name(name_key(name))]) {
            match table.get(&target) {
                Some(ban) if ban.until <= now => over.push(target),
                Some(ban) if longest.as_ref().is_none_or(|(_, l)| ban.until > l.until) => {
                    longest = Some((target, ban));
                }
                Some(_) | None => {}
            }
        }
        let found = longest.map(|(target, ban)| info_of(&target, ban, now));
        for target in over {
            table.remove(&target);
        }
        found
    }

    /// A running ban of a network around `client` (or of its IPv6 /64), for an operator who
    /// names one of its addresses to lift it.
    pub fn covering_address(&self, client: IpAddr, now: Instant) -> Option<BanInfo> {
        let table = self.table();
        AddressKey::covering(client).map(BanTarget::Address).find_map(|target| {
            let ban = table.get(&target).filter(|ban| ban.until > now)?;
            Some(info_of(&target, ban, now))
        })
    }

    /// Every running ban, soonest to end first.
    pub fn list(&self, now: Instant) -> Vec<BanInfo> {
        let mut table = self.table();
        table.retain(|_, ban| ban.until > now);
        let mut bans: Vec<BanInfo> = table.iter().map(|(t, b)| info_of(t, b, now)).collect();
        bans.sort_by_key(|b| b.until_unix_ms);
        bans
    }
}

fn info_of(target: &BanTarget, ban: &Ban, now: Instant) -> BanInfo {
    let (address, name) = match target {
        BanTarget::Address(key) => (Some(key.to_string()), None),
        BanTarget::Name(name) => (None, Some(name.clone())),
    };
    let left = ban.until.saturating_duration_since(now);
    BanInfo {
        address,
        name,
        reason: ban.reason.clone(),
        until_unix_ms: ban.until_unix_ms,
        remaining_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One operator action, as `GET /moderation/log` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Numbers this node's actions from 1, in order (a page's key for a row, with `node`).
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Who: the operator's name (`admin` for `--admin-token`, or a name of `--admin-tokens`).
    pub operator: String,
    /// The address the request came from.
    pub from: String,
    /// `remove`, `remove and ban`, `mute`, `unmute`, `ban` or `lift`.
    pub action: String,
    /// The room, for an action on a seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// What it was done to: a seat (`Ada (seat 3)`), or what a ban bans.
    pub target: String,
    /// The seat's client address, for an action on a seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The operator's reason, if one was given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// How long a mute or a ban lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secs: Option<u64>,
    /// In a fleet, the node it was done on (`--node-id`): a seat's room is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// In a fleet, its key in the fleet's log (`at_unix_ms-node-seq`): a row's key there, as
    /// a node's `seq` starts again from 1 when it restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What the operators did, for `GET /moderation/log`: this node's last
/// [`MAX_LOGGED_ACTIONS`], in memory (the log lines say the same, for good). In a fleet each
/// node also writes its actions to the fleet's log in Redis ([`ship_actions`]), which every
/// node lists; those the fleet's log has not taken yet (Redis away) wait here, as many, and
/// go with the next action or reading of the fleet's bans.
#[derive(Debug, Default)]
pub struct ActionLog {
    records: Mutex<LoggedActions>,
    /// Held while writing to the fleet's log, so two writers never send an action twice.
    shipping: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct LoggedActions {
    /// The last action's `seq`.
    seq: u64,
    /// The newest, oldest first.
    kept: std::collections::VecDeque<ActionRecord>,
    /// In a fleet, those the fleet's log has not taken yet, oldest first.
    unsent: std::collections::VecDeque<ActionRecord>,
}

impl ActionLog {
    fn lock(&self) -> MutexGuard<'_, LoggedActions> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `record`, numbering it and stamping it with the time now; on a node of a fleet
    /// (`node`, its id), also to those to write to the fleet's log.
    pub fn record(&self, mut record: ActionRecord, node: Option<&str>) {
        let mut records = self.lock();
        records.seq += 1;
        record.seq = records.seq;
        record.at_unix_ms = unix_ms(SystemTime::now());
        record.node = node.map(str::to_owned);
        if node.is_some() {
            if records.unsent.len() == MAX_LOGGED_ACTIONS {
                records.unsent.pop_front();
            }
            records.unsent.push_back(record.clone());
        }
        if records.kept.len() == MAX_LOGGED_ACTIONS {
            records.kept.pop_front();
        }
        records.kept.push_back(record);
    }

    /// The last `limit` actions, newest first.
    pub fn newest(&self, limit: usize) -> Vec<ActionRecord> {
        self.lock().kept.iter().rev().take(limit).cloned().collect()
    }

    /// Those the fleet's log has not taken yet, oldest first.
    pub fn unsent(&self) -> Vec<ActionRecord> {
        self.lock().unsent.iter().cloned().collect()
    }

    /// Every action kept here is to be written again (the fleet's log lost them), in order.
    /// Those waiting are among them: both hold the newest, as many.
    fn resend_all(&self) {
        let mut records = self.lock();
        records.unsent = records.kept.clone();
    }

    /// Whether any action is kept here.
    fn is_empty(&self) -> bool {
        self.lock().kept.is_empty()
    }

    /// The fleet's log took every action up to `seq`.
    fn sent(&self, seq: u64) {
        let mut records = self.lock();
        while records.unsent.front().is_some_and(|r| r.seq <= seq) {
            records.unsent.pop_front();
        }
    }
}

/// Records an operator's action in the node's [`ActionLog`] and counts it
/// (`tickwire_moderation_actions_total{action}`); in a fleet, writes it to the fleet's log
/// too, without holding up the operator's answer.
fn record_action(ctx: &Arc<ServerContext>, record: ActionRecord) {
    let label = record.action.replace(' ', "_");
    if let Some(action) = crate::metrics::MODERATION_ACTIONS.iter().find(|a| **a == label) {
        ctx.metrics.moderation_action(action);
    }
    let Some(cluster) = ctx.cluster() else {
        ctx.actions.record(record, None);
        return;
    };
    ctx.actions.record(record, Some(cluster.directory().node()));
    let ctx = ctx.clone();
    tokio::spawn(async move {
        if let Some(cluster) = ctx.cluster()
            && let Err(e) = ship_actions(&ctx, cluster).await
        {
            warn!(error = %e, "the fleet's moderation log did not take an action; it is tried again");
        }
    });
}

/// Writes this node's actions that the fleet's log has not taken yet, oldest first, in one
/// transaction. The fleet's log keeps the newest [`MAX_LOGGED_ACTIONS`] of the whole fleet.
pub async fn ship_actions(
    ctx: &ServerContext,
    cluster: &crate::cluster::Cluster,
) -> Result<(), crate::cluster::directory::DirectoryError> {
    let _one_writer = ctx.actions.shipping.lock().await;
    ship_unsent(ctx, cluster).await
}

/// [`ship_actions`], its caller holding [`ActionLog::shipping`].
async fn ship_unsent(
    ctx: &ServerContext,
    cluster: &crate::cluster::Cluster,
) -> Result<(), crate::cluster::directory::DirectoryError> {
    // After a Redis that lost its data, this node's actions go again, all it keeps: checked
    // here, before any write, which would make the fleet's log look as if it held them.
    if !ctx.actions.is_empty() && !cluster.directory().logged_here().await? {
        ctx.actions.resend_all();
    }
    let unsent = ctx.actions.unsent();
    let Some(last) = unsent.last().map(|r| r.seq) else { return Ok(()) };
    let records: Vec<(u64, String)> = unsent
        .iter()
        .filter_map(|r| Some((r.at_unix_ms, serde_json::to_string(r).ok()?)))
        .collect();
    cluster.directory().log_actions(&records, MAX_LOGGED_ACTIONS).await?;
    ctx.actions.sent(last);
    Ok(())
}

/// An action on a seat, for the [`ActionLog`] (numbered and stamped as it is recorded).
fn seat_action(
    operator: &Operator,
    action: &str,
    seat: &SeatInfo,
    reason: &str,
    secs: Option<u64>,
) -> ActionRecord {
    let name = if seat.name.is_empty() { "(no name)" } else { seat.name.as_str() };
    ActionRecord {
        seq: 0,
        at_unix_ms: 0,
        operator: operator.name.clone(),
        from: operator.from.clone(),
        action: action.to_owned(),
        room: Some(seat.room.clone()),
        target: format!("{name} (seat {})", seat.player),
        address: Some(seat.address.to_string()),
        reason: reason.to_owned(),
        secs,
        node: None,
        id: None,
    }
}

/// An action on a ban, for the [`ActionLog`] (numbered and stamped as it is recorded).
fn ban_action(
    operator: &Operator,
    action: &str,
    target: &str,
    reason: String,
    length: Option<Duration>,
) -> ActionRecord {
    ActionRecord {
        seq: 0,
        at_unix_ms: 0,
        operator: operator.name.clone(),
        from: operator.from.clone(),
        action: action.to_owned(),
        room: None,
        target: target.to_owned(),
        address: None,
        reason,
        secs: length.map(|l| l.as_secs()),
        node: None,
        id: None,
    }
}

/// The `Kick` text of a removal: `removed by the operator` and the reason, cut to fit.
pub fn removal_message(reason: &str) -> KickText {
    if reason.is_empty() {
        KickText::truncated("removed by the operator")
    } else {
        KickText::truncated(&format!("removed by the operator: {reason}"))
    }
}

/// `secs` left, as a player reads it: `3 more days`, `60 more minutes`.
fn time_left(left: u64) -> String {
    if left >= 2 * 86_400 {
        format!("{} more days", left.div_ceil(86_400))
    } else if left >= 2 * 3_600 {
        format!("{} more hours", left.div_ceil(3_600))
    } else if left >= 120 {
        format!("{} more minutes", left.div_ceil(60))
    } else {
        format!("{left} more seconds")
    }
}

/// The `Kick` text a banned client's `Hello` gets: how long is left, and why.
pub fn ban_message(ban: &BanInfo) -> KickText {
    let time = time_left(ban.remaining_secs);
    if ban.reason.is_empty() {
        KickText::truncated(&format!("banned for {time}"))
    } else {
        KickText::truncated(&format!("banned for {time}: {}", ban.reason))
    }
}

/// A ban's length: a number and a unit, `s`, `m`, `h` or `d` (`90s`, `10m`, `12h`, `7d`; a
/// bare number is seconds), as `mint-token --ttl` reads it, from a second to [`MAX_BAN`].
pub fn parse_ban_length(text: &str) -> Result<Duration, String> {
    crate::command::parse_ttl(text)
        .ok()
        .filter(|&secs| secs <= MAX_BAN.as_secs())
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is not a length: 1s to 365d, e.g. 90s, 10m, 12h, 7d"))
}

/// The moderation routes, for the listener that serves `/metrics`. The token is checked
/// before a request's body is read, for every route here.
pub fn router(ctx: &Arc<ServerContext>) -> Router<Arc<ServerContext>> {
    Router::new()
        .route("/rooms/{room}/seats", get(seats))
        .route("/rooms/{room}/kick", axum::routing::post(kick))
        .route("/rooms/{room}/mute", axum::routing::post(mute).delete(unmute))
        .route("/bans", get(list_bans).post(add_ban).delete(lift_ban))
        .route("/moderation/log", get(action_log))
        // The last layer runs first: the token is checked before the body is waited for.
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), body_in_time))
        .route_layer(axum::middleware::from_fn_with_state(ctx.clone(), require_token))
}

/// The most a moderation request's body may hold: its JSON names a seat or an address, a
/// length and a reason of at most [`MAX_REASON_LEN`] bytes.
const MAX_BODY: usize = 16 * 1024;

/// Reads a moderation request's body within `--handshake-timeout`, as the fallback's POSTs
/// are: one that trickles in (an operator's script stuck mid-request, or a token in the wrong
/// hands) is answered 408 rather than holding its connection, one of the few an address may
/// keep on an admin listener, for good. Past [`MAX_BODY`]: 413.
async fn body_in_time(
    State(ctx): State<Arc<ServerContext>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = ctx.config.handshake_timeout;
    let bytes = match read_body(body, MAX_BODY, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            let message = format!("the request body exceeds the limit of {MAX_BODY} bytes");
            return text(StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
        }
        Err(BodyError::BrokeOff) => {
            return text(StatusCode::BAD_REQUEST, "the request body broke off").into_response();
        }
        Err(BodyError::TimedOut) => {
            let message =
                format!("the request body did not arrive within {limit:?} (--handshake-timeout)");
            return text(StatusCode::REQUEST_TIMEOUT, message).into_response();
        }
    };
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The moderation routes' answer on a public listener when an admin listener serves them.
pub fn elsewhere() -> Router<Arc<ServerContext>> {
    async fn moved() -> (StatusCode, &'static str) {
        (
            StatusCode::NOT_FOUND,
            "not found: moderation is served on the admin listener (--admin-bind)\n",
        )
    }
    Router::new()
        .route("/rooms/{room}/seats", get(moved))
        .route("/rooms/{room}/kick", axum::routing::post(moved))
        .route("/rooms/{room}/mute", axum::routing::post(moved).delete(moved))
        .route("/bans", get(moved).post(moved).delete(moved))
        .route("/moderation/log", get(moved))
}

/// A request refused: its status and what is wrong, as plain text.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal { status, mut message } = self;
        message.push('\n');
        let mut response = (status, message).into_response();
        if status == StatusCode::UNAUTHORIZED {
            let bearer = header::HeaderValue::from_static("Bearer");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, bearer);
        }
        response
    }
}

fn text(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal { status, message: message.into() }
}

/// The operator a request was let on for (`admin`, or a name of `--admin-tokens`), and the
/// address it came from: who did it, for the log.
#[derive(Debug, Clone)]
struct Operator {
    name: String,
    from: String,
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} from {}", self.name, self.from)
    }
}

/// Lets a request on only with `Authorization: Bearer` and an operator's token, naming the
/// operator to its handler. A refused one is counted (`refused{reason="admin_auth"}`) and
/// logged with its client, as other refusals are.
async fn require_token(
    State(ctx): State<Arc<ServerContext>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Refused before the token is read, right or wrong: an address that has sent too many
    // wrong ones learns nothing from its next guess.
    let client = request.extensions().get::<ClientAddr>().map(|ClientAddr(a)| a.ip());
    let now = tokio::time::Instant::now();
    if let Some(client) = client
        && !ctx.may_try_admin_token(client, now)
    {
        let peer = crate::http::peer_of(&request);
        let message = "too many wrong admin tokens from this address: wait a few seconds";
        ctx.metrics.refused_from("admin_guess_rate", peer.as_ref(), &message);
        let mut response = text(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("2"));
        return response;
    }
    match authorize(&ctx, request.headers()) {
        Ok(name) => {
            let from = request
                .extensions()
                .get::<ClientAddr>()
                .map_or_else(|| "unknown".into(), |ClientAddr(a)| a.ip().to_string());
            request.extensions_mut().insert(Operator { name, from });
            next.run(request).await
        }
        Err(refusal) => {
            if refusal.status == StatusCode::UNAUTHORIZED {
                let peer = crate::http::peer_of(&request);
                ctx.metrics.refused_from("admin_auth", peer.as_ref(), &refusal.message);
                if let Some(client) = client {
                    ctx.wrong_admin_token(client, now);
                }
            }
            refusal.into_response()
        }
    }
}

/// Checks `Authorization: Bearer` (the scheme in any case, RFC 9110 11.1) against every
/// operator's token, in time that does not depend on where, or against which, they differ;
/// the operator's name.
fn authorize(ctx: &ServerContext, headers: &HeaderMap) -> Result<String, Refusal> {
    if !ctx.config.moderation_on() {
        return Err(text(
            StatusCode::FORBIDDEN,
            "moderation is off: start the server with --admin-token (TICKWIRE_ADMIN_TOKEN) \
             or --admin-tokens",
        ));
    }
    let refuse = |why: &str| Err(text(StatusCode::UNAUTHORIZED, why));
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return refuse("moderation needs Authorization: Bearer <an operator's token>");
    };
    let value = value.to_str().unwrap_or("").trim();
    let given = match value.split_once(' ') {
        Some((scheme, given)) if scheme.eq_ignore_ascii_case("bearer") => given.trim(),
        _ => return refuse("Authorization must be `Bearer <an operator's token>`"),
    };
    match ctx.operators.find(given) {
        Some(name) => Ok(name),
        None => refuse(
            "wrong admin token: Authorization: Bearer takes an operator's token \
             (--admin-token or a line of --admin-tokens)",
        ),
    }
}

fn room_name(room: &str) -> Result<RoomName, Refusal> {
    RoomName::try_from_str(room)
        .ok()
        .filter(|name| tickwire_shared::is_valid_room_name(name.as_str()))
        .ok_or_else(|| {
            text(
                StatusCode::BAD_REQUEST,
                format!("{room:?} is not a room name (1-16 letters, digits, '-', '_' or '.')"),
            )
        })
}

/// Sends `command` (made around its reply channel) to room `room` of this node and waits for
/// the answer.
async fn ask_room<T>(
    ctx: &ServerContext,
    room: &RoomName,
    command: impl FnOnce(oneshot::Sender<T>) -> RoomCommand,
) -> Result<T, Refusal> {
    let Some(handle) = ctx.room_handle(room) else {
        let elsewhere = if ctx.cluster().is_some() {
            " (in a fleet, ask the node that hosts it: GET /rooms names it)"
        } else {
            ""
        };
        return Err(text(StatusCode::NOT_FOUND, format!("no room {room} on this node{elsewhere}")));
    };
    let (reply, answer) = oneshot::channel();
    let busy = || {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("room {room} did not answer in time (it may still act on the request)"),
        )
    };
    match tokio::time::timeout(ROOM_ANSWER_TIMEOUT, handle.commands.send(command(reply))).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(text(StatusCode::NOT_FOUND, format!("room {room} has closed"))),
        Err(_) => return Err(busy()),
    }
    match tokio::time::timeout(ROOM_ANSWER_TIMEOUT, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(text(StatusCode::NOT_FOUND, format!("room {room} has closed"))),
        Err(_) => Err(busy()),
    }
}

/// What [`remove_everywhere`] did.
#[derive(Debug, Default, Serialize)]
struct Everywhere {
    /// The seats removed, each with its room.
    removed: Vec<SeatInfo>,
    /// Rooms that closed or did not answer in time: they removed nobody, but the ban still
    /// refuses their clients' next joins.
    unanswered: Vec<String>,
}

/// Removes whoever `who` names from every room of this node, all rooms at once (one busy room
/// costs the request its timeout, not each), telling them `message` (for
/// [`Removal::Banned`], each of its ban).
async fn remove_everywhere(ctx: &ServerContext, who: &Removal, message: KickText) -> Everywhere {
    let asks = ctx.room_names().into_iter().map(|room| async move {
        let who = who.clone();
        let removed =
            ask_room(ctx, &room, |reply| RoomCommand::Remove { who, message, ban: None, reply })
                .await;
        (room, removed)
    });
    let mut everywhere = Everywhere::default();
    for (room, removed) in futures_util::future::join_all(asks).await {
        match removed {
            Ok(removed) => everywhere.removed.extend(removed.seats),
            Err(_) => everywhere.unanswered.push(room.to_string()),
        }
    }
    if !everywhere.unanswered.is_empty() {
        warn!(rooms = ?everywhere.unanswered, "rooms did not answer a removal in time");
    }
    everywhere
}

/// A node of a fleet: reads the fleet's bans every [`FLEET_BAN_SYNC`], takes them as its own
/// ([`Bans::merge_fleet`]), removes the clients a ban new to it covers, and drops bans that
/// are over from the directory. Until shutdown, or until the node leaves the fleet.
pub async fn sync_fleet_bans(cluster: Arc<crate::cluster::Cluster>, ctx: Arc<ServerContext>) {
    let mut every = tokio::time::interval(FLEET_BAN_SYNC);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = crate::connection::shutdown_signal(&ctx) => return,
            () = cluster.left() => return,
            _ = every.tick() => {}
        }
        // Actions the fleet's log did not take when they were made go now; all of this node's,
        // when Redis lost the log.
        if let Err(e) = ship_actions(&ctx, &cluster).await {
            debug!(error = %e, "cannot write to the fleet's moderation log");
        }
        // Bans made here that the directory did not take (a kick's ban while Redis was away)
        // go now, before the reading that would otherwise find them missing. Not those the
        // requests that made them are still writing (each write is bounded by the timeout).
        let settled = ctx.config.redis_timeout * 3 + Duration::from_secs(1);
        for (target, until_unix_ms, reason) in ctx.bans.unwritten(Instant::now(), settled) {
            if let Err(e) = write_back(&ctx, &cluster, &target, until_unix_ms, &reason).await {
                debug!(error = %e, "cannot write this node's bans to the fleet's yet");
                break;
            }
        }
        let (listed, kept) = match cluster.directory().bans().await {
            Ok(listed) => listed,
            Err(e) => {
                debug!(error = %e, "cannot read the fleet's bans; this node keeps its own");
                continue;
            }
        };
        if !kept {
            // The hash has no mark of the fleet's readings: a Redis that restarted without its
            // data (empty, or holding only bans made since), or a fleet's first ban. Taken as
            // the fleet's word, it would lift every other ban: this node writes back those it
            // holds, with the mark, and lifts nothing this time: the next reading merges them
            // all (and the bans made since, which it then applies here).
            let held = ctx.bans.held(Instant::now());
            match cluster.directory().restore_bans(&held).await {
                Ok(()) if listed.is_empty() && !held.is_empty() => warn!(
                    bans = held.len(),
                    "the fleet's bans were gone from Redis (a restart?): this node wrote back \
                     those it holds"
                ),
                Ok(()) => {}
                Err(e) => debug!(error = %e, "cannot write the fleet's bans back"),
            }
            continue;
        }
        let now_unix_ms = unix_ms(SystemTime::now());
        let (over, listed): (Vec<_>, Vec<_>) =
            listed.into_iter().partition(|(_, until, _)| *until <= now_unix_ms);
        let over: Vec<String> = over.into_iter().map(|(field, _, _)| field).collect();
        if let Err(e) = cluster.directory().drop_bans(&over).await {
            debug!(error = %e, "cannot drop the fleet's bans that are over");
        }
        let listed = listed
            .into_iter()
            .filter_map(|(field, until, reason)| {
                Some((BanTarget::from_field(&field)?, until, reason))
            })
            .collect();
        let added = ctx.bans.merge_fleet(listed, Instant::now());
        if added.is_empty() {
            continue;
        }
        // One pass of every room for all of them, however many a script banned at once: each
        // seat a ban covers goes, told of its ban.
        let everywhere = remove_everywhere(&ctx, &Removal::Banned, KickText::new()).await;
        if !everywhere.removed.is_empty() {
            let banned: Vec<&str> = added.iter().map(BanInfo::target).collect();
            info!(
                ?banned,
                removed = everywhere.removed.len(),
                "the fleet's bans removed clients here"
            );
        }
    }
}

/// Writes a ban this node made to the fleet's directory, after the request that made it could
/// not ([`sync_fleet_bans`]). An operator may lift or replace it while it is on its way: the
/// directory then gets what the node holds now, the lift included, so a write that lands late
/// does not bring a lifted ban back.
async fn write_back(
    ctx: &ServerContext,
    cluster: &crate::cluster::Cluster,
    target: &BanTarget,
    until_unix_ms: u64,
    reason: &str,
) -> Result<(), crate::cluster::directory::DirectoryError> {
    let field = target.field();
    cluster.directory().put_ban(&field, until_unix_ms, reason).await?;
    if ctx.bans.mark_written(target, until_unix_ms) {
        return Ok(());
    }
    match ctx.bans.running(target, Instant::now()) {
        // Replaced meanwhile: the replacement, unless its own request wrote it already.
        Some((until, reason)) if until != until_unix_ms => {
            cluster.directory().put_ban(&field, until, &reason).await?;
            ctx.bans.mark_written(target, until);
            Ok(())
        }
        Some(_) => Ok(()),
        // Lifted meanwhile.
        None => cluster.directory().drop_bans(&[field]).await.map(|_| ()),
    }
}

/// Writes `bans` to the fleet's directory, on a node of a fleet; what went wrong, if it did.
/// (A kick's bans then hold on this node only, until [`sync_fleet_bans`] writes them.)
async fn write_fleet_bans(ctx: &ServerContext, bans: &[BanInfo]) -> Option<String> {
    let cluster = ctx.cluster()?;
    for ban in bans {
        let Some(target) = ban.banned() else { continue };
        if let Err(e) =
            cluster.directory().put_ban(&target.field(), ban.until_unix_ms, &ban.reason).await
        {
            warn!(error = %e, banned = %ban.target(), "the fleet's directory did not take a ban");
            return Some(format!("the fleet's directory did not take the ban ({e})"));
        }
        ctx.bans.mark_written(&target, ban.until_unix_ms);
    }
    None
}

/// `GET /rooms/{room}/seats`.
#[derive(Debug, Serialize)]
struct SeatsReply {
    room: String,
    seats: Vec<SeatInfo>,
}

async fn seats(
    State(ctx): State<Arc<ServerContext>>,
    Path(room): Path<String>,
) -> Result<Response, Refusal> {
    let room = room_name(&room)?;
    let seats = ask_room(&ctx, &room, |reply| RoomCommand::Seats { reply }).await?;
    Ok(Json(SeatsReply { room: room.to_string(), seats }).into_response())
}

/// The body of `POST /rooms/{room}/kick`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KickRequest {
    /// The seat (`player` of `GET /rooms/{room}/seats`).
    player: u16,
    /// Shown to the client, and kept with a ban.
    #[serde(default)]
    reason: String,
    /// Also bans the client's address (and its name, when join tokens vouch for names) for
    /// this long.
    #[serde(default)]
    ban: Option<String>,
}

/// `POST /rooms/{room}/kick`'s answer.
#[derive(Debug, Serialize)]
struct KickReply {
    removed: SeatInfo,
    bans: Vec<BanInfo>,
    /// With a ban: the client's other seats on this node (another tab, another room), removed
    /// too, and the rooms that did not answer.
    #[serde(flatten)]
    also: Option<Also>,
    /// In a fleet, when its directory did not take the ban: it holds on this node only.
    #[serde(skip_serializing_if = "Option::is_none")]
    fleet_error: Option<String>,
}

/// The other seats a kick's ban covered.
#[derive(Debug, Serialize)]
struct Also {
    also_removed: Vec<SeatInfo>,
    unanswered: Vec<String>,
}

/// A request's JSON body, whatever its `Content-Type` says: `curl -d` labels JSON as a form.
fn body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    let refused = |e: &dyn std::fmt::Display| {
        text(StatusCode::BAD_REQUEST, format!("bad request body (JSON expected): {e}"))
    };
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        // A value of the wrong type is told by its field's name, not only by its column.
        match e.path().to_string() {
            field if field == "." || !e.inner().is_data() => refused(e.inner()),
            field => {
                text(StatusCode::BAD_REQUEST, format!("bad request body: `{field}`: {}", e.inner()))
            }
        }
    })?;
    // Text after the object (`{..} x`) is refused, as `serde_json::from_slice` does.
    json.end().map_err(|e| refused(&e))?;
    Ok(parsed)
}

fn reason_of(reason: &str) -> Result<String, Refusal> {
    let reason = reason.trim();
    if reason.len() > MAX_REASON_LEN || reason.chars().any(char::is_control) {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!(
                "`reason` must be at most {MAX_REASON_LEN} bytes (the player sees it whole), \
                 without control characters"
            ),
        ));
    }
    Ok(reason.to_owned())
}

/// `for`, which says how long `what` lasts.
fn required_length(length: Option<&str>, what: &str) -> Result<Duration, Refusal> {
    let length = length.ok_or_else(|| {
        let why = format!("`for` is required: how long {what} lasts (90s, 10m, 12h, 7d)");
        text(StatusCode::BAD_REQUEST, why)
    })?;
    length_of("for", length)
}

fn length_of(field: &str, length: &str) -> Result<Duration, Refusal> {
    parse_ban_length(length)
        .map_err(|why| text(StatusCode::BAD_REQUEST, format!("`{field}`: {why}")))
}

/// Refuses to ban a trusted proxy's address, which stands for every client behind it (one that
/// reached the server without naming its client, or was named as its own client), or a
/// network with one in it.
fn bannable(ctx: &ServerContext, key: AddressKey) -> Result<(), Refusal> {
    if let Some(proxy) = ctx.config.trusted_proxies.iter().find(|t| key.overlaps(&t.0)) {
        return Err(text(
            StatusCode::CONFLICT,
            format!(
                "{key} covers a trusted proxy's address ({}, --trusted-proxies): a ban would \
                 refuse every client behind it (remove the client without a ban; with join \
                 tokens, ban its name)",
                proxy.0
            ),
        ));
    }
    Ok(())
}

async fn kick(
    State(ctx): State<Arc<ServerContext>>,
    Extension(operator): Extension<Operator>,
    Path(room): Path<String>,
    request: axum::body::Bytes,
) -> Result<Response, Refusal> {
    let room = room_name(&room)?;
    let request: KickRequest = body(&request)?;
    let reason = reason_of(&request.reason)?;
    let ban = request.ban.as_deref().map(|b| length_of("ban", b)).transpose()?;
    if ban.is_some() && ctx.bans.is_full(Instant::now()) {
        return Err(text(StatusCode::INSUFFICIENT_STORAGE, BansFull.to_string()));
    }
    let seat = PlayerId(request.player);
    if ban.is_some() {
        // Asked before the room acts, so that a proxy's address is refused up front.
        let seats = ask_room(&ctx, &room, |reply| RoomCommand::Seats { reply }).await?;
        if let Some(seat) = seats.iter().find(|s| s.player == seat.0) {
            bannable(&ctx, AddressKey::of(seat.address))?;
        }
    }
    let message = removal_message(&reason);
    let who = Removal::Player(seat);
    let ban = ban.map(|length| (length, reason.clone()));
    let Removed { seats, bans } =
        ask_room(&ctx, &room, |reply| RoomCommand::Remove { who, message, ban, reply }).await?;
    let Some(removed) = seats.into_iter().next() else {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!(
                "no seat {} in room {room} (GET /rooms/{room}/seats lists them)",
                request.player
            ),
        ));
    };
    info!(
        by = %operator,
        room = %room,
        player = removed.player,
        name = %removed.name,
        client = %removed.address,
        %reason,
        banned = bans.len(),
        "an operator removed a client"
    );
    let (action, secs) = match bans.first() {
        Some(ban) => ("remove and ban", Some(ban.remaining_secs)),
        None => ("remove", None),
    };
    record_action(&ctx, seat_action(&operator, action, &removed, &reason, secs));
    // The ban covers the client's other seats too: another tab, another room.
    let mut also = None;
    if let Some(first) = bans.first() {
        let message = ban_message(first);
        let mut everywhere = Everywhere::default();
        for ban in &bans {
            let Some(target) = ban.banned() else { continue };
            let more = remove_everywhere(&ctx, &target.into(), message).await;
            everywhere.removed.extend(more.removed);
            everywhere.unanswered.extend(more.unanswered);
        }
        also = Some(Also { also_removed: everywhere.removed, unanswered: everywhere.unanswered });
    }
    let fleet_error = write_fleet_bans(&ctx, &bans).await.map(|why| {
        format!(
            "banned on this node only until the fleet's directory takes it (this node \
                 writes it there as soon as Redis answers): {why}"
        )
    });
    Ok(Json(KickReply { removed, bans, also, fleet_error }).into_response())
}

/// The body of `POST /rooms/{room}/mute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteRequest {
    /// The seat (`player` of `GET /rooms/{room}/seats`).
    player: u16,
    /// How long (as a ban's length).
    #[serde(default, rename = "for")]
    length: Option<String>,
    /// Why, for the moderation log (the player is not told of a mute).
    #[serde(default)]
    reason: String,
}

/// `POST /rooms/{room}/mute`: the seat's chat lines reach nobody but itself for `for` (the
/// player is not told: a muted troll who knows goes elsewhere to speak, or rejoins).
async fn mute(
    State(ctx): State<Arc<ServerContext>>,
    Extension(operator): Extension<Operator>,
    Path(room): Path<String>,
    request: axum::body::Bytes,
) -> Result<Response, Refusal> {
    let room = room_name(&room)?;
    let request: MuteRequest = body(&request)?;
    let length = required_length(request.length.as_deref(), "the mute")?;
    let reason = reason_of(&request.reason)?;
    let until = Some(Instant::now() + length);
    set_mute(&ctx, &operator, &room, request.player, until, &reason).await
}

/// The query of `DELETE /rooms/{room}/mute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmuteRequest {
    player: u16,
}

/// `DELETE /rooms/{room}/mute?player=N`: the seat may speak again.
async fn unmute(
    State(ctx): State<Arc<ServerContext>>,
    Extension(operator): Extension<Operator>,
    Path(room): Path<String>,
    query: Result<Query<UnmuteRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let room = room_name(&room)?;
    let Query(request) = query
        .map_err(|e| text(StatusCode::BAD_REQUEST, format!("bad query: {}", e.body_text())))?;
    set_mute(&ctx, &operator, &room, request.player, None, "").await
}

async fn set_mute(
    ctx: &Arc<ServerContext>,
    operator: &Operator,
    room: &RoomName,
    player: u16,
    until: Option<Instant>,
    reason: &str,
) -> Result<Response, Refusal> {
    let command = |reply| RoomCommand::Mute { player: PlayerId(player), until, reply };
    let Some((seat, was_muted)) = ask_room(ctx, room, command).await? else {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!("no seat {player} in room {room} (GET /rooms/{room}/seats lists them)"),
        ));
    };
    match seat.muted_secs {
        Some(secs) => {
            info!(by = %operator, room = %room, player, name = %seat.name, secs, "an operator muted a seat")
        }
        // Lifting no mute changes nothing, and is not an action to log.
        None if !was_muted => return Ok(Json(seat).into_response()),
        None => {
            info!(by = %operator, room = %room, player, name = %seat.name, "an operator lifted a mute")
        }
    }
    let action = if seat.muted_secs.is_some() { "mute" } else { "unmute" };
    record_action(ctx, seat_action(operator, action, &seat, reason, seat.muted_secs));
    Ok(Json(seat).into_response())
}

/// `GET /bans`'s answer.
#[derive(Debug, Serialize)]
struct BansReply {
    bans: Vec<BanInfo>,
}

async fn list_bans(State(ctx): State<Arc<ServerContext>>) -> Response {
    Json(BansReply { bans: ctx.bans.list(Instant::now()) }).into_response()
}

/// Names one ban: the body of `POST /bans` (with `for` and `reason`), the query of
/// `DELETE /bans`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BanRequest {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "for")]
    length: Option<String>,
    #[serde(default)]
    reason: String,
    /// Replaces a ban of the same target that runs already (else 409): to shorten one, or
    /// change why.
    #[serde(default)]
    replace: bool,
}

/// An address as `GET /bans` shows one (`2001:db8::/64`, `203.0.113.0/24`), or written alone
/// (`203.0.113.9`; an IPv6 address stands for its /64), or any address of a network with its
/// prefix (`203.0.113.9/24` is `203.0.113.0/24`, as `ip route` reads it).
fn address_of(text: &str) -> Result<AddressKey, String> {
    let (ip, prefix) = match text.trim().split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text.trim(), None),
    };
    let ip: IpAddr = ip.parse().map_err(|_| format!("{text:?} is not an IP address"))?;
    let Some(prefix) = prefix else {
        return Ok(AddressKey::of(ip));
    };
    let mapped = canonical(ip) != ip;
    if mapped && prefix.parse::<u8>().is_ok_and(|p| p < 96) {
        return Err(format!(
            "{text:?}: an IPv4-mapped network takes /112 to /128 (an IPv4 /16 to /32); \
             or write it as IPv4"
        ));
    }
    let (narrowest, widest, family) = match canonical(ip) {
        IpAddr::V4(_) => (32, WIDEST_V4_BAN, "IPv4"),
        IpAddr::V6(_) => (64, WIDEST_V6_BAN, "IPv6"),
    };
    let prefix = prefix
        .parse::<u8>()
        .ok()
        // An IPv4-mapped network is written with the IPv6 prefix (`::ffff:203.0.113.0/120`).
        .map(|p| if mapped { p.saturating_sub(96) } else { p })
        .ok_or_else(|| format!("{text:?}: the prefix after `/` must be a number of bits"))?;
    if family == "IPv6" && (65..=128).contains(&prefix) {
        return Err(format!(
            "{text:?}: an IPv6 ban covers a /64 at least (one host picks any address of its \
             /64 at will); write the address alone for its /64"
        ));
    }
    if prefix > narrowest {
        return Err(format!("{text:?}: an {family} prefix is at most /{narrowest}"));
    }
    if prefix < widest {
        return Err(format!(
            "{text:?}: a ban covers at most an {family} /{widest}; a wider network would \
             refuse whole providers' players"
        ));
    }
    Ok(AddressKey::within(canonical(ip), prefix))
}

fn target_of(request: &BanRequest) -> Result<BanTarget, Refusal> {
    match (&request.address, &request.name) {
        (Some(address), None) => address_of(address)
            .map(BanTarget::Address)
            .map_err(|why| text(StatusCode::BAD_REQUEST, format!("`address`: {why}"))),
        (None, Some(name)) => {
            let key = name_key(name);
            if key.is_empty() || Name::try_from_str(&key).is_err() {
                return Err(text(
                    StatusCode::BAD_REQUEST,
                    "`name` must be a name of 1 to 24 bytes",
                ));
            }
            Ok(BanTarget::Name(key))
        }
        _ => Err(text(
            StatusCode::BAD_REQUEST,
            "give exactly one of `address` and `name` (POST /bans takes them in a JSON body, \
             DELETE /bans in the query: /bans?address=203.0.113.9)",
        )),
    }
}

/// `POST /bans`'s answer.
#[derive(Debug, Serialize)]
struct BanReply {
    ban: BanInfo,
    /// The seats of this node the ban covered, now removed, and the rooms that did not answer.
    #[serde(flatten)]
    everywhere: Everywhere,
}

async fn add_ban(
    State(ctx): State<Arc<ServerContext>>,
    Extension(operator): Extension<Operator>,
    request: axum::body::Bytes,
) -> Result<Response, Refusal> {
    let request: BanRequest = body(&request)?;
    let target = target_of(&request)?;
    let length = required_length(request.length.as_deref(), "the ban")?;
    let reason = reason_of(&request.reason)?;
    if let BanTarget::Address(key) = &target {
        bannable(&ctx, *key)?;
    }
    let existing = if request.replace { Existing::Replace } else { Existing::Refuse };
    let ban = ctx.bans.ban(target.clone(), length, &reason, Instant::now(), existing).map_err(
        |e| match e {
            BanRefused::Full(full) => text(StatusCode::INSUFFICIENT_STORAGE, full.to_string()),
            running @ BanRefused::Running(_) => text(StatusCode::CONFLICT, running.to_string()),
        },
    )?;
    // A fleet's ban is the fleet's: one its directory did not take is not made at all (the
    // operator tries again), rather than made here alone.
    if let Some(why) = write_fleet_bans(&ctx, std::slice::from_ref(&ban)).await {
        ctx.bans.lift(&target, Instant::now());
        let why = format!("not banned: {why}; try again");
        return Err(text(StatusCode::SERVICE_UNAVAILABLE, why));
    }
    info!(
        by = %operator,
        banned = %ban.target(),
        seconds = length.as_secs(),
        %reason,
        "an operator banned"
    );
    let record = ban_action(&operator, "ban", ban.target(), reason, Some(length));
    record_action(&ctx, record);
    let everywhere = remove_everywhere(&ctx, &target.into(), ban_message(&ban)).await;
    Ok((StatusCode::CREATED, Json(BanReply { ban, everywhere })).into_response())
}

async fn lift_ban(
    State(ctx): State<Arc<ServerContext>>,
    Extension(operator): Extension<Operator>,
    query: Result<Query<BanRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(request) = query
        .map_err(|e| text(StatusCode::BAD_REQUEST, format!("bad query: {}", e.body_text())))?;
    if request.length.is_some() || !request.reason.is_empty() || request.replace {
        return Err(text(StatusCode::BAD_REQUEST, "DELETE /bans takes only `address` or `name`"));
    }
    let target = target_of(&request)?;
    // A fleet's ban goes from its directory first: lifted here alone, the next reading of the
    // fleet's bans would bring it back.
    let mut in_fleet = 0;
    if let Some(cluster) = ctx.cluster() {
        in_fleet = cluster.directory().drop_bans(&[target.field()]).await.map_err(|e| {
            let why = format!("not lifted: the fleet's directory did not answer ({e}); try again");
            text(StatusCode::SERVICE_UNAVAILABLE, why)
        })?;
    }
    let now = Instant::now();
    let lifted = ctx.bans.lift(&target, now);
    if lifted.is_none() && in_fleet == 0 {
        // An address of a banned network: say which ban to lift.
        let covering = match &target {
            BanTarget::Address(key) => ctx.bans.covering_address(key.network(), now),
            BanTarget::Name(_) => None,
        };
        let why = match covering {
            Some(ban) => format!(
                "no ban of {}, but the ban of {} covers it: lift that (?address={})",
                request.address.as_deref().unwrap_or_default().trim(),
                ban.target(),
                ban.target()
            ),
            None => "no such ban (GET /bans lists them)".to_owned(),
        };
        return Err(text(StatusCode::NOT_FOUND, why));
    }
    info!(by = %operator, lifted = %target, "an operator lifted a ban");
    let shown = match &target {
        BanTarget::Address(key) => key.to_string(),
        BanTarget::Name(name) => name.clone(),
    };
    record_action(&ctx, ban_action(&operator, "lift", &shown, String::new(), None));
    Ok(Json(BansReply { bans: lifted.into_iter().collect() }).into_response())
}

/// The query of `GET /moderation/log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogRequest {
    /// The most actions to list; 100 when not given, at most [`MAX_LOGGED_ACTIONS`].
    limit: Option<usize>,
}

/// `GET /moderation/log`'s answer.
#[derive(Debug, Serialize)]
struct LogReply {
    actions: Vec<ActionRecord>,
    /// `fleet`: every node's actions, from the fleet's log; `node`: this node's only.
    scope: &'static str,
    /// Why a node of a fleet lists its own actions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// `GET /moderation/log[?limit=N]`: what the operators did, newest first: on a node of a
/// fleet, on every node (the fleet's log); on one server, on it.
async fn action_log(
    State(ctx): State<Arc<ServerContext>>,
    query: Result<Query<LogRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(request) = query
        .map_err(|e| text(StatusCode::BAD_REQUEST, format!("bad query: {}", e.body_text())))?;
    let limit = request.limit.unwrap_or(100).min(MAX_LOGGED_ACTIONS);
    let Some(cluster) = ctx.cluster() else {
        return Ok(Json(LogReply {
            actions: ctx.actions.newest(limit),
            scope: "node",
            warning: None,
        })
        .into_response());
    };
    // This node's own actions first, so that a list read just after an action has it; no
    // other writer meanwhile, so none is listed both as the fleet's and as not sent yet.
    let one_writer = ctx.actions.shipping.lock().await;
    let fleet = match ship_unsent(&ctx, cluster).await {
        Ok(()) => cluster.directory().actions(limit).await,
        Err(e) => Err(e),
    };
    let unsent = ctx.actions.unsent();
    drop(one_writer);
    let reply = match fleet {
        Ok(entries) => {
            let mut actions: Vec<ActionRecord> = entries
                .into_iter()
                .filter_map(|json| {
                    // An entry this version cannot read (another version's) is left out.
                    let record: ActionRecord = serde_json::from_str(&json).ok()?;
                    let node = record.node.as_deref().unwrap_or("");
                    let id = format!("{}-{node}-{}", record.at_unix_ms, record.seq);
                    Some(ActionRecord { id: Some(id), ..record })
                })
                .collect();
            // Any of this node's the fleet's log did not take meanwhile still shows.
            actions.extend(unsent);
            actions.sort_by_key(|a| std::cmp::Reverse(a.at_unix_ms));
            actions.truncate(limit);
            LogReply { actions, scope: "fleet", warning: None }
        }
        Err(e) => LogReply {
            actions: ctx.actions.newest(limit),
            scope: "node",
            warning: Some(format!(
                "the fleet's moderation log did not answer ({e}): this node's actions only"
            )),
        },
    };
    Ok(Json(reply).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_may_be_its_groups_to_read_as_a_kubernetes_secret_is() {
        for fine in [0o600, 0o400, 0o640, 0o440] {
            assert!(!too_open(fine), "{fine:o}");
        }
        for loose in [0o644, 0o604, 0o660, 0o666, 0o602] {
            assert!(too_open(loose), "{loose:o}");
        }
    }

    #[test]
    fn an_ipv6_ban_covers_its_64_and_mapped_ipv4_is_ipv4() {
        let key = AddressKey::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        assert_eq!(key.to_string(), "2001:db8:1:2::/64");
        assert!(key.covers("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert!(!key.covers("2001:db8:1:3::1".parse().unwrap()));
        let v4 = AddressKey::of("::ffff:203.0.113.9".parse().unwrap());
        assert_eq!(v4, AddressKey::of("203.0.113.9".parse().unwrap()));
        assert!(!v4.covers("203.0.113.10".parse().unwrap()));
        // Logged as the operator named it, not as the directory keys it.
        assert_eq!(BanTarget::Address(v4).to_string(), "203.0.113.9");
        assert_eq!(BanTarget::Address(v4).field(), "a:203.0.113.9");
        assert_eq!(BanTarget::Name("ada".into()).to_string(), "ada");
    }

    #[test]
    fn bans_refuse_until_they_end_or_are_lifted() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(bans.check(ip, "ada", t0), None);
        let ban = bans
            .ban(
                BanTarget::Address(AddressKey::of(ip)),
                Duration::from_secs(600),
                "spam",
                t0,
                Existing::Replace,
            )
            .unwrap();
        assert_eq!((ban.remaining_secs, ban.reason.as_str()), (600, "spam"));
        let found = bans.check(ip, "anyone", t0 + Duration::from_secs(60)).unwrap();
        assert_eq!((found.address.as_deref(), found.remaining_secs), (Some("203.0.113.9"), 540));
        assert_eq!(bans.check("203.0.113.10".parse().unwrap(), "ada", t0), None);
        // Over: gone from the table too.
        assert_eq!(bans.check(ip, "ada", t0 + Duration::from_secs(600)), None);
        assert!(bans.list(t0).is_empty());

        bans.ban(
            BanTarget::Name(name_key(" Ada ")),
            Duration::from_secs(60),
            "",
            t0,
            Existing::Replace,
        )
        .unwrap();
        assert!(bans.check(ip, "ADA", t0).is_some(), "names compare as name_key does");
        // Nothing invisible walks past a name ban: zero-width characters, joiners, marks,
        // variation selectors.
        for disguised in ["a\u{200b}da", "A\u{200d}DA", "\u{202e}ada", "ad\u{ad}a", "a\u{fe0f}da"] {
            assert!(bans.check(ip, disguised, t0).is_some(), "{disguised:?}");
        }
        assert_eq!(bans.check(ip, "adda", t0), None, "another name");
        // A flag's tags are no part of whose name it is.
        assert_eq!(
            name_key("\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}x"),
            name_key("\u{1f3f4}x")
        );
        assert_eq!(bans.list(t0).len(), 1);
        assert!(bans.lift(&BanTarget::Name("ada".into()), t0).is_some());
        assert_eq!(bans.check(ip, "ada", t0), None);
        assert_eq!(bans.lift(&BanTarget::Name("ada".into()), t0), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let target = |i: usize| BanTarget::Name(format!("p{i}"));
        for i in 0..MAX_BANS {
            bans.ban(target(i), Duration::from_secs(60), "", t0, Existing::Replace).unwrap();
        }
        assert_eq!(
            bans.ban(target(MAX_BANS), Duration::from_secs(60), "", t0, Existing::Replace),
            Err(BanRefused::Full(BansFull))
        );
        assert!(bans.is_full(t0));
        // Replacing one is not growing.
        assert!(bans.ban(target(0), Duration::from_secs(120), "", t0, Existing::Replace).is_ok());
        // Expired bans make room.
        let later = t0 + Duration::from_secs(61);
        assert!(!bans.is_full(later));
        assert!(
            bans.ban(target(MAX_BANS), Duration::from_secs(60), "", later, Existing::Replace)
                .is_ok()
        );
        assert_eq!(bans.list(later).len(), 2);

        // The fleet's list past the cap (two nodes that added their last bans at once): every
        // ban in it is held and enforced, and the node takes no new one.
        let fleet = Bans::default();
        let until = unix_ms(SystemTime::now() + Duration::from_secs(600));
        let listed: Vec<_> = (0..MAX_BANS + 2).map(|i| (target(i), until, String::new())).collect();
        assert_eq!(fleet.merge_fleet(listed, t0).len(), MAX_BANS + 2);
        assert_eq!(fleet.list(t0).len(), MAX_BANS + 2);
        assert!(
            fleet.check("192.0.2.1".parse().unwrap(), &format!("p{}", MAX_BANS + 1), t0).is_some()
        );
        assert!(fleet.is_full(t0));
    }

    #[test]
    fn a_removed_seats_token_is_remembered_for_a_while_and_within_a_bound() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let text = removal_message("afk");
        bans.note_removed(ResumeToken([1; 16]), text, t0);
        assert_eq!(
            bans.removed_token(&ResumeToken([1; 16]), t0 + Duration::from_secs(60)),
            Some(text)
        );
        assert_eq!(bans.removed_token(&ResumeToken([2; 16]), t0), None);
        assert_eq!(bans.removed_token(&ResumeToken([1; 16]), t0 + REMOVED_TOKEN_LIFE), None);
        let token = |i: usize| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(i as u64 + 10).to_le_bytes());
            ResumeToken(bytes)
        };
        for i in 0..MAX_REMOVED_TOKENS {
            bans.note_removed(token(i), text, t0);
        }
        // Full: the newest is not kept until older ones run out.
        bans.note_removed(token(MAX_REMOVED_TOKENS), text, t0);
        assert_eq!(bans.removed_token(&token(MAX_REMOVED_TOKENS), t0), None);
        let later = t0 + REMOVED_TOKEN_LIFE;
        bans.note_removed(token(MAX_REMOVED_TOKENS), text, later);
        assert_eq!(bans.removed_token(&token(MAX_REMOVED_TOKENS), later), Some(text));
    }

    #[test]
    fn addresses_are_written_alone_or_with_the_prefix_a_ban_covers() {
        let v4 = AddressKey::of("203.0.113.9".parse().unwrap());
        assert_eq!(address_of(" 203.0.113.9 "), Ok(v4));
        assert_eq!(address_of("203.0.113.9/32"), Ok(v4));
        let v6 = AddressKey::of("2001:db8::1".parse().unwrap());
        assert_eq!(address_of(&v6.to_string()), Ok(v6), "as GET /bans shows it");
        assert_eq!(address_of("2001:db8::ffff"), Ok(v6));
        assert_eq!(address_of("2001:db8::1/64"), Ok(v6));
        assert_eq!(address_of("::ffff:203.0.113.9"), Ok(v4));
        // Networks: any address of one with its prefix, shown by its network address.
        for (written, shown) in [
            ("203.0.113.0/24", "203.0.113.0/24"),
            ("203.0.113.77/24", "203.0.113.0/24"),
            ("10.1.2.3/16", "10.1.0.0/16"),
            ("::ffff:203.0.113.9/120", "203.0.113.0/24"),
            ("2001:db8:1:2::9/48", "2001:db8:1::/48"),
            ("2001:db8::/32", "2001:db8::/32"),
        ] {
            let key = address_of(written).unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(key.to_string(), shown, "{written}");
            assert_eq!(address_of(shown), Ok(key), "{shown} read back");
        }
        for (bad, says) in [
            ("nowhere", "not an IP address"),
            ("203.0.113.9/x", "number of bits"),
            ("203.0.113.9/33", "at most /32"),
            ("10.0.0.0/8", "at most an IPv4 /16"),
            ("0.0.0.0/0", "at most an IPv4 /16"),
            ("2001:db8::1/128", "covers a /64 at least"),
            ("2001:db8::1/65", "covers a /64 at least"),
            ("2001:db8::/31", "at most an IPv6 /32"),
            ("2001:db8::/129", "at most /64"),
            ("::ffff:203.0.113.0/24", "takes /112 to /128"),
        ] {
            let why = address_of(bad).expect_err(bad);
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn a_network_ban_covers_its_addresses_alone_and_is_found_by_any_of_them() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let net = address_of("203.0.113.0/24").unwrap();
        assert!(net.covers("203.0.113.200".parse().unwrap()));
        assert!(net.covers("::ffff:203.0.113.1".parse().unwrap()));
        assert!(!net.covers("203.0.114.1".parse().unwrap()));
        assert!(!net.covers("2001:db8::1".parse().unwrap()));
        bans.ban(BanTarget::Address(net), Duration::from_secs(60), "bots", t0, Existing::Replace)
            .unwrap();
        let v6 = address_of("2001:db8:1::/48").unwrap();
        bans.ban(
            BanTarget::Address(v6),
            Duration::from_secs(60),
            "more bots",
            t0,
            Existing::Replace,
        )
        .unwrap();
        let refused = |ip: &str| bans.check(ip.parse().unwrap(), "x", t0).map(|b| b.reason);
        assert_eq!(refused("203.0.113.9").as_deref(), Some("bots"));
        assert_eq!(refused("::ffff:203.0.113.255").as_deref(), Some("bots"));
        assert_eq!(refused("2001:db8:1:ffff::1").as_deref(), Some("more bots"));
        assert_eq!(refused("203.0.112.255"), None);
        assert_eq!(refused("2001:db8:2::1"), None);
        // Of a narrower ban inside a wider one, the one that ends last is told.
        let one = BanTarget::Address(AddressKey::of("203.0.113.9".parse().unwrap()));
        bans.ban(one.clone(), Duration::from_secs(30), "the ringleader", t0, Existing::Replace)
            .unwrap();
        assert_eq!(refused("203.0.113.9").as_deref(), Some("bots"), "60 s, not 30 s");
        bans.ban(one, Duration::from_secs(600), "the ringleader", t0, Existing::Replace).unwrap();
        assert_eq!(refused("203.0.113.9").as_deref(), Some("the ringleader"));
        assert_eq!(refused("203.0.113.10").as_deref(), Some("bots"));
        let by_name = bans.ban(
            BanTarget::Name("x".into()),
            Duration::from_secs(900),
            "n",
            t0,
            Existing::Replace,
        );
        assert_eq!(by_name.map(|b| b.remaining_secs), Ok(900));
        assert_eq!(refused("203.0.113.9").as_deref(), Some("n"), "its name's ban ends last");
        // An address of a network names the network's ban.
        let covering = bans.covering_address("203.0.113.77".parse().unwrap(), t0);
        assert_eq!(covering.map(|b| b.target().to_owned()).as_deref(), Some("203.0.113.0/24"));
        assert!(bans.covering_address("192.0.2.1".parse().unwrap(), t0).is_none());
        // Every key a check tries covers the address, from narrowest to widest.
        let keys: Vec<AddressKey> = AddressKey::covering("203.0.113.9".parse().unwrap()).collect();
        assert_eq!((keys.len(), keys[0].to_string()), (17, "203.0.113.9".to_string()));
        assert_eq!(keys[16].to_string(), "203.0.0.0/16");
        assert!(keys.iter().all(|k| k.covers("203.0.113.9".parse().unwrap())));
        assert_eq!(AddressKey::covering("2001:db8::1".parse().unwrap()).count(), 33);
        // In the fleet's directory a network is named as shown.
        let field = BanTarget::Address(net).field();
        assert_eq!(field, "a:203.0.113.0/24");
        assert_eq!(BanTarget::from_field(&field), Some(BanTarget::Address(net)));
    }

    #[test]
    fn a_running_ban_is_not_shortened_unless_replaced_on_purpose() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let target = BanTarget::Name("griefer".into());
        let year = Duration::from_secs(365 * 86_400);
        bans.ban(target.clone(), year, "cheater", t0, Existing::Refuse).unwrap();
        let refused = bans.ban(target.clone(), Duration::from_secs(5), "", t0, Existing::Refuse);
        let Err(refused @ BanRefused::Running(_)) = refused else { panic!("{refused:?}") };
        assert_eq!(
            refused.to_string(),
            "griefer is banned already, for 365 more days (cheater): send \"replace\": true to \
             set this ban instead, or lift that one first"
        );
        // A kick's shorter ban keeps the longer one, and says so.
        let kept =
            bans.ban(target.clone(), Duration::from_secs(60), "spam", t0, Existing::KeepLonger);
        assert_eq!(
            kept.map(|b| (b.remaining_secs, b.reason)),
            Ok((year.as_secs(), "cheater".into()))
        );
        let longer = year + Duration::from_secs(1);
        let kept = bans.ban(target.clone(), longer, "worse", t0, Existing::KeepLonger);
        assert_eq!(kept.map(|b| b.reason), Ok("worse".into()), "a longer one replaces it");
        let replaced = bans.ban(target.clone(), Duration::from_secs(5), "", t0, Existing::Replace);
        assert_eq!(replaced.map(|b| b.remaining_secs), Ok(5));
        assert_eq!(
            bans.check("192.0.2.1".parse().unwrap(), "griefer", t0).unwrap().remaining_secs,
            5
        );
        // One that ended is no obstacle.
        let later = t0 + Duration::from_secs(6);
        assert!(bans.ban(target, Duration::from_secs(9), "", later, Existing::Refuse).is_ok());
    }

    #[test]
    fn an_operators_file_names_each_token_and_says_which_line_is_wrong() {
        let file = "# the team\n\nalice   s3cret-alice\n  bob\ts3cret-bob  \n";
        let team = OperatorTokens::parse(file).expect("a team");
        let read: Vec<(&str, &str)> = team.iter().collect();
        assert_eq!(read, [("alice", "s3cret-alice"), ("bob", "s3cret-bob")]);
        assert_eq!(format!("{team:?}"), r#"["alice", "bob"]"#, "no token in Debug");
        for (bad, says) in [
            ("", "names no operator"),
            ("# only a comment\n", "names no operator"),
            ("alice\n", "line 1: alice has no token"),
            ("alice t1\nal/ice t2\n", "line 2: \"al/ice\" is not an operator's name"),
            (&format!("{} t1", "a".repeat(33)), "is not an operator's name"),
            ("alice t1\n\nalice t2", "line 3: alice is named twice"),
            ("alice t1\nbob t1", "line 2: bob's token is another operator's too"),
            ("dan t1 # on trial", "line 1: dan's token has a space in it"),
        ] {
            let why = OperatorTokens::parse(bad).expect_err(bad);
            assert!(why.contains(says), "{bad:?}: {why}");
        }
    }

    #[test]
    fn a_sighup_reads_the_operators_again_and_a_bad_file_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("tickwire-ops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("operators");
        let path = file.to_str().unwrap();
        std::fs::write(&file, "alice a-token\n").unwrap();
        let mut config = crate::config::ServerConfig::default();
        config.admin_token = Some(crate::config::Secret(" solo ".into()));
        config.admin_tokens = Some(OperatorTokens::read(path).unwrap());
        let operators = Operators::of(&config);
        assert_eq!(operators.find("a-token").as_deref(), Some("alice"));
        assert_eq!(operators.find("solo").as_deref(), Some("admin"));
        assert_eq!(operators.find("a-token "), None);
        // Alice leaves, Bob joins.
        std::fs::write(&file, "bob b-token\n").unwrap();
        assert_eq!(operators.reload(&config), Ok(Some(vec!["admin".into(), "bob".into()])));
        assert_eq!(operators.find("a-token"), None);
        assert_eq!(operators.find("b-token").as_deref(), Some("bob"));
        // A file that does not read, or clashes with --admin-token, leaves them as they were.
        for bad in ["bob\n", "admin x-token\n", "carol solo\n"] {
            std::fs::write(&file, bad).unwrap();
            assert!(operators.reload(&config).is_err(), "{bad}");
            assert_eq!(operators.names(), ["admin", "bob"], "{bad}");
        }
        // Without --admin-tokens there is nothing to read.
        assert_eq!(
            Operators::of(&config).reload(&crate::config::ServerConfig::default()),
            Ok(None)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_action_log_keeps_the_newest_numbered_in_order() {
        let log = ActionLog::default();
        for i in 0..MAX_LOGGED_ACTIONS + 3 {
            log.record(logged_ban(format!("n{i}")), None);
        }
        let newest = log.newest(MAX_LOGGED_ACTIONS + 10);
        assert_eq!(newest.len(), MAX_LOGGED_ACTIONS, "the oldest went");
        assert_eq!(newest[0].target, format!("n{}", MAX_LOGGED_ACTIONS + 2));
        assert_eq!(newest[0].seq, MAX_LOGGED_ACTIONS as u64 + 3);
        assert_eq!(newest.last().map(|r| r.target.as_str()), Some("n3"));
        assert!(newest.windows(2).all(|w| w[0].seq == w[1].seq + 1));
        assert!(newest[0].at_unix_ms > 1_700_000_000_000, "stamped with the time");
        assert_eq!(log.newest(2).len(), 2);
        assert!(log.unsent().is_empty(), "one server has no fleet's log to write to");
    }

    fn logged_ban(target: String) -> ActionRecord {
        ActionRecord {
            seq: 0,
            at_unix_ms: 0,
            operator: "admin".into(),
            from: "127.0.0.1".into(),
            action: "ban".into(),
            room: None,
            target,
            address: None,
            reason: String::new(),
            secs: Some(60),
            node: None,
            id: None,
        }
    }

    #[test]
    fn a_fleet_nodes_actions_wait_in_order_until_the_fleets_log_takes_them() {
        let log = ActionLog::default();
        for i in 0..3 {
            log.record(logged_ban(format!("n{i}")), Some("node-a"));
        }
        let unsent = log.unsent();
        assert_eq!(unsent.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3], "oldest first");
        assert!(unsent.iter().all(|r| r.node.as_deref() == Some("node-a")), "named by node");
        // Taken up to 2 while 4 was being made: 3 and 4 still wait.
        log.record(logged_ban("n3".into()), Some("node-a"));
        log.sent(2);
        assert_eq!(log.unsent().iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
        log.sent(4);
        assert!(log.unsent().is_empty());
        assert_eq!(log.newest(10).len(), 4, "the node keeps its own all the same");
        // With Redis away for long, only the newest wait: as many as a log keeps.
        for i in 0..MAX_LOGGED_ACTIONS + 5 {
            log.record(logged_ban(format!("m{i}")), Some("node-a"));
        }
        let unsent = log.unsent();
        assert_eq!(unsent.len(), MAX_LOGGED_ACTIONS);
        assert_eq!(unsent[0].target, "m5");
        // What a node writes, another reads back as it was.
        let json = serde_json::to_string(&unsent[0]).unwrap();
        assert_eq!(serde_json::from_str::<ActionRecord>(&json).unwrap(), unsent[0]);
        assert!(!json.contains("\"id\""), "an id is the fleet log's to give: {json}");
    }

    #[test]
    fn a_log_lost_by_redis_is_written_again_once_in_order() {
        let log = ActionLog::default();
        for i in 0..4 {
            log.record(logged_ban(format!("n{i}")), Some("node-a"));
        }
        log.sent(3);
        // Redis lost the log: every action kept goes again, the one still waiting once.
        log.resend_all();
        assert_eq!(log.unsent().iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        log.resend_all();
        assert_eq!(log.unsent().len(), 4, "asked twice, still once each");
    }

    #[test]
    fn the_bans_held_are_those_running_as_the_directory_keeps_them() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let name = BanTarget::Name("griefer".into());
        bans.ban(name.clone(), Duration::from_secs(60), "griefing", t0, Existing::Refuse).unwrap();
        let short = BanTarget::Name("brief".into());
        bans.ban(short, Duration::from_secs(1), "", t0, Existing::Refuse).unwrap();
        let held = bans.held(t0 + Duration::from_secs(2));
        assert_eq!(held.len(), 1, "a ban that is over is not written back: {held:?}");
        assert_eq!((held[0].0.as_str(), held[0].2.as_str()), ("n:griefer", "griefing"));
        assert_eq!(BanTarget::from_field(&held[0].0), Some(name));
    }

    #[test]
    fn a_ban_overlaps_a_trusted_proxys_network_either_way() {
        let proxy: IpNet = "10.0.0.5/32".parse().unwrap();
        let proxies: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(address_of("10.0.0.0/16").unwrap().overlaps(&proxy), "a network around it");
        assert!(address_of("10.0.0.5").unwrap().overlaps(&proxy));
        assert!(address_of("10.9.9.9").unwrap().overlaps(&proxies), "inside the proxies' net");
        assert!(!address_of("10.0.0.6").unwrap().overlaps(&proxy));
        assert!(!address_of("11.0.0.0/16").unwrap().overlaps(&proxies));
        assert!(!address_of("2001:db8::1").unwrap().overlaps(&proxies));
    }

    #[test]
    fn the_fleets_bans_replace_a_nodes_but_for_its_newest_own() {
        let bans = Bans::default();
        let t0 = Instant::now();
        let in_ms = |secs: u64| unix_ms(SystemTime::now()) + secs * 1000;
        let ada = BanTarget::Name("ada".into());
        let v6 = BanTarget::Address(AddressKey::of("2001:db8::1".parse().unwrap()));
        for target in [&ada, &v6] {
            assert_eq!(BanTarget::from_field(&target.field()).as_ref(), Some(target));
        }
        assert_eq!(v6.field(), "a:2001:db8::/64");
        assert_eq!(BanTarget::from_field("x:1"), None);
        // Made here a moment ago and not listed yet: kept; listed ones are new here.
        bans.ban(ada.clone(), Duration::from_secs(60), "here", t0, Existing::Replace).unwrap();
        let listed =
            vec![(v6.clone(), in_ms(600), "spam".to_owned()), (ada.clone(), 1, "over".into())];
        let added = bans.merge_fleet(listed.clone(), t0);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].address.as_deref(), Some("2001:db8::/64"));
        assert!(bans.check("2001:db8::9".parse().unwrap(), "bob", t0).is_some());
        assert_eq!(bans.check("203.0.113.1".parse().unwrap(), "ada", t0).unwrap().reason, "here");
        // Read again: nothing new. A learned ban the fleet no longer lists is lifted at once;
        // one made here and not written yet is kept.
        assert!(bans.merge_fleet(listed, t0).is_empty());
        assert!(bans.merge_fleet(vec![], t0).is_empty());
        assert_eq!(bans.check("2001:db8::9".parse().unwrap(), "bob", t0), None, "lifted elsewhere");
        assert!(bans.check("203.0.113.1".parse().unwrap(), "ada", t0).is_some(), "not written yet");
        // Written, then lifted elsewhere: gone with the next reading.
        let until = bans.running(&ada, t0).unwrap().0;
        assert!(!bans.mark_written(&ada, until + 1), "another ban of ada's: nothing marked");
        assert!(bans.mark_written(&ada, until));
        assert!(bans.merge_fleet(vec![], t0).is_empty());
        assert_eq!(bans.check("203.0.113.1".parse().unwrap(), "ada", t0), None);
        // One whose write failed (Redis away) holds here, and waits to be written, however
        // many readings do not list it (another node that wrote its own back after a Redis
        // restart), until it runs out.
        bans.ban(ada.clone(), Duration::from_secs(60), "here", t0, Existing::Replace).unwrap();
        let later = t0 + Duration::from_secs(30);
        assert!(bans.merge_fleet(vec![], later).is_empty());
        assert_eq!(bans.list(later).len(), 1);
        let settled = Duration::from_secs(4);
        assert!(
            bans.unwritten(t0 + Duration::from_secs(1), settled).is_empty(),
            "still its request's"
        );
        let waiting = bans.unwritten(later, settled);
        assert_eq!(waiting.len(), 1);
        assert_eq!((&waiting[0].0, waiting[0].2.as_str()), (&ada, "here"));
        // Listed at last (its write landed, its answer lost or not): written, and from then
        // on the listing decides.
        let listed = vec![(ada.clone(), waiting[0].1, "here".to_owned())];
        assert!(bans.merge_fleet(listed, later).is_empty(), "not new here");
        assert!(bans.unwritten(later, settled).is_empty());
        assert!(bans.merge_fleet(vec![], later).is_empty());
        assert!(bans.list(later).is_empty(), "lifted elsewhere");
        // Run out: not written any more.
        bans.ban(ada.clone(), Duration::from_secs(60), "here", t0, Existing::Replace).unwrap();
        assert!(bans.unwritten(t0 + Duration::from_secs(61), settled).is_empty());
        // Replaced while its write was on its way: the write of the old one marks nothing,
        // and the replacement waits to be written in its turn.
        let old = bans.running(&ada, t0).unwrap().0;
        bans.ban(ada.clone(), Duration::from_secs(600), "day", t0, Existing::Replace).unwrap();
        assert!(!bans.mark_written(&ada, old));
        let waiting = bans.unwritten(later, settled);
        assert_eq!((waiting.len(), waiting[0].2.as_str()), (1, "day"));
    }

    #[test]
    fn ban_lengths() {
        assert_eq!(parse_ban_length("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ban_length(" 10m "), Ok(Duration::from_secs(600)));
        assert_eq!(parse_ban_length("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_ban_length("365d"), Ok(MAX_BAN));
        assert_eq!(parse_ban_length("10"), Ok(Duration::from_secs(10)));
        for bad in ["", "0s", "366d", "1.5h", "-1h", "1w", "99999999999999999999d"] {
            assert!(parse_ban_length(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_fit_a_kick_and_say_how_long() {
        let ban = |remaining_secs, reason: &str| BanInfo {
            address: None,
            name: None,
            reason: reason.into(),
            until_unix_ms: 0,
            remaining_secs,
        };
        assert_eq!(ban_message(&ban(45, "")).as_str(), "banned for 45 more seconds");
        assert_eq!(ban_message(&ban(581, "spam")).as_str(), "banned for 10 more minutes: spam");
        assert_eq!(ban_message(&ban(3 * 3600, "x")).as_str(), "banned for 3 more hours: x");
        assert_eq!(ban_message(&ban(7 * 86_400, "x")).as_str(), "banned for 7 more days: x");
        // The longest reason, behind the longest prefix, arrives whole.
        let long = "é".repeat(MAX_REASON_LEN / 2);
        let message = ban_message(&ban(119 * 60, &long));
        assert!(message.ends_with(&long), "{message}");
        assert!(removal_message(&long).ends_with(&long));
        assert_eq!(removal_message("").as_str(), "removed by the operator");
        assert_eq!(removal_message("spam").as_str(), "removed by the operator: spam");
    }
}
