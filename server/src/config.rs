//! Server configuration: every knob, its default, unit and trade-off.
//!
//! The binary fills [`ServerConfig`] from flags with `TICKWIRE_*` environment fallbacks
//! (clap derives both from the attributes here, so `--help` shows each default).

use crate::game::arena::ArenaConfig;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tickwire_shared::WorldBounds;

/// Everything a server needs to know. `ServerConfig::default()` equals running with no flags.
// The join key's flags may all be set as far as clap goes: one of them in an emptied variable
// is unset ([`ServerConfig::join_verifier`] refuses two that are not).
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("join_key").multiple(true)))]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address to listen on for HTTP and WebSocket.
    #[arg(long, env = "TICKWIRE_BIND", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// A second, plain-HTTP listener for operators, e.g. `10.0.0.5:9090` or `0.0.0.0:9090` in
    /// a pod: it serves `/metrics`, `/livez` (liveness: 200 as long as the process serves, a
    /// drain and the shutdown's closes included), `/healthz` (readiness: 503 while draining
    /// and shutting down), `/stats`, `/rooms`, `/nodes` and
    /// `/dashboard` (and, with `--admin-token`, moderation), with a pool of its own (32
    /// connections, 8 per address; a connection idle 50 ms without a request makes way for
    /// a new one when it is full), so that a public port full of clients, or connections held
    /// open idle, never make it answer a liveness probe or a scrape with 503. `/metrics`
    /// then leaves the public port. Keep it on a private network: it has no TLS. Unset:
    /// everything on `--bind`. Bound by the command (`tickwire_server::command::main`); a
    /// program of its own binds it and hands it to `Server::admin` (`run` ignores it).
    #[arg(long, env = "TICKWIRE_ADMIN_BIND", value_name = "ADDR")]
    pub admin_bind: Option<SocketAddr>,

    /// Turns on moderation: with `Authorization: Bearer` and this token, an operator lists a
    /// room's seats (`GET /rooms/ROOM/seats`), mutes a seat's chat (`POST /rooms/ROOM/mute`),
    /// removes a client (`POST /rooms/ROOM/kick`), bans an address, a network or a name for a
    /// while (`/bans`) and reads what was done (`GET /moderation/log`), or does all of it in
    /// the dashboard's Moderation panel, on the listener that serves `/metrics` (`--admin-bind`,
    /// else this one). Unset, with no --admin-tokens either: those routes answer 403. Use 32
    /// random bytes or more (`openssl rand -base64 32`; the server warns at start when it is
    /// shorter), and prefer the environment variable: a flag shows in `ps`. Spaces and line
    /// ends around it are ignored; empty is unset. See README, Moderation.
    #[arg(long, env = "TICKWIRE_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub admin_token: Option<Secret>,

    /// A file of operators' tokens for a team, one `NAME TOKEN` per line (`#` comments and
    /// blank lines are ignored): each operator has a token of their own, the moderation log
    /// says who did what, and one who leaves is one line out and a SIGHUP (which reads the
    /// file again; one that does not read keeps the operators as they were). With
    /// --admin-token too, that token's operator is `admin`. Refused, naming the line, when a
    /// name or a token is missing or repeated, a token has a space, or a name is not 1 to 32 of
    /// A-Z a-z 0-9 . _ -. Keep it readable by the server alone (it warns otherwise). See
    /// README, Moderation.
    #[arg(long, env = "TICKWIRE_ADMIN_TOKENS", value_name = "FILE",
          value_parser = crate::moderation::OperatorTokens::read)]
    pub admin_tokens: Option<crate::moderation::OperatorTokens>,

    /// Simulation ticks (and snapshots) per second, 1 to 120. Higher feels smoother and costs
    /// CPU and bandwidth linearly.
    #[arg(long, env = "TICKWIRE_TICK_RATE", default_value_t = 30,
          value_parser = clap::value_parser!(u8).range(TICK_RATES))]
    pub tick_rate: u8,

    /// Ship-owning clients (players plus controllers) per room.
    #[arg(long, env = "TICKWIRE_ROOM_CAPACITY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(ROOM_CAPACITIES))]
    pub room_capacity: u16,

    /// Spectators per room. A crowd costs the server about one socket write per spectator per
    /// tick and one ack read every 30 ticks: their snapshots are encoded and framed once for
    /// all against the same baseline (the snapshot their sockets took last), and joins and
    /// leaves reach the room as a count, not one event each. Default 3,000: what one core
    /// served with room to spare in BENCHMARKS.md's fan-out runs while 32 players played
    /// (every frame to everyone, 30 fps, at 60% of the core without `--io-uring`; 5,000 took
    /// all of it). A bigger crowd is never closed for it; past what the core holds, every
    /// spectator of the room skips frames alike (BENCHMARKS.md, crowds). Raise it on faster
    /// cores or with `--io-uring`.
    #[arg(long, env = "TICKWIRE_MAX_SPECTATORS", default_value_t = 3_000)]
    pub max_spectators: u16,

    /// Spectators server-wide, all rooms together; beyond it spectators get `Kick { Full }`
    /// and 1013 while players still join (they share `--max-connections`). Default: 2,000 per
    /// core the process may run on (`std::thread::available_parallelism`), about a third of
    /// each core in the fan-out runs, so crowds cannot starve the players' rooms of CPU. On
    /// one core it is below the per-room figure, and it is the cap that holds.
    #[arg(long, env = "TICKWIRE_MAX_SPECTATORS_TOTAL", default_value_t = default_spectators_total())]
    pub max_spectators_total: u32,

    /// Rooms open at once; matchmaking and named joins are refused with 1013 beyond it. An
    /// empty room waiting out `--room-idle-grace` is closed early to make way for a new one,
    /// so only rooms in use count against it. A spectator's join opens a room only while
    /// fewer than a quarter of them (at least one) hold spectators and no players (on a
    /// fleet, only on a node below that), so an audience waiting for a match, or a crowd of
    /// spectators naming rooms of their own, never keeps new matches out.
    #[arg(long, env = "TICKWIRE_MAX_ROOMS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,

    /// Distance (world units) within which a player receives entities; 0 sends everything.
    /// Smaller means fewer bytes per player and less of the field visible.
    #[arg(long, env = "TICKWIRE_VIEW_RADIUS", default_value_t = 700)]
    pub view_radius: u16,

    /// WebSocket sessions open at once, server-wide; beyond it upgrades get HTTP 503. At most
    /// 1,000,000 (the process's descriptors run out long before).
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(CONNECTIONS))]
    pub max_connections: u32,

    /// TCP connections still speaking HTTP (page loads, `/metrics`, `/healthz`, upgrades under
    /// way, HTTP fallback sessions), server-wide, beyond `--max-connections`. Past
    /// `--max-connections` plus this, a new connection is answered 503 (or, while 64 such
    /// refusals are under way, closed) as soon as it is accepted, and counted as
    /// `tickwire_refused_total{reason="http_full"}`. A connection upgraded to a WebSocket no
    /// longer counts.
    #[arg(long, env = "TICKWIRE_HTTP_HEADROOM", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(CONNECTIONS))]
    pub http_headroom: u32,

    /// WebSocket sessions per client IP (an IPv6 client: per /64, what one host is given, and
    /// one /48, a site, holds four addresses' worth at most); beyond it upgrades get HTTP 429.
    /// It also sets the TCP connections an address may hold (twice this, plus 16) and open a
    /// second (as many, at least 100, after a burst of twice that; SECURITY.md), the players'
    /// seats it may have waiting for a resume (past it, a dropped seat ends at once), and the
    /// new players' seats it may take a minute, after a burst of twice as many (past it,
    /// close 1013, which clients retry).
    /// Load tests from one machine need this raised.
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS_PER_IP", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(CONNECTIONS))]
    pub max_connections_per_ip: u32,

    /// Largest HTTP request head (request line and headers), in bytes; a larger one gets 431
    /// with a message, and past twice this (or past 100 headers) the connection gets a bare 431
    /// before the request is read whole. Bounds what one connection makes the server buffer;
    /// browsers send under 2 KiB, cookies included, unless a site sets many.
    #[arg(long, env = "TICKWIRE_MAX_REQUEST_HEAD", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(REQUEST_HEADS))]
    pub max_request_head: u32,

    /// Time to send the HTTP request head and then the first `Hello`; slower peers are dropped
    /// (HTTP: connection closed; WebSocket: close 1008).
    #[arg(long, env = "TICKWIRE_HANDSHAKE_TIMEOUT", default_value = "5s", value_parser = parse_positive_duration)]
    pub handshake_timeout: Duration,

    /// Silence from a client after which the server sends it a WebSocket ping, and again at
    /// this interval while the silence lasts, so idle-but-alive clients answer and stay known.
    /// Clients heard from meanwhile (inputs, acks) are not pinged. Must be shorter than
    /// `--idle-timeout`. Shorter finds a dead peer's silence no sooner (that is the idle
    /// timeout) but costs quiet clients more pings.
    #[arg(long, env = "TICKWIRE_HEARTBEAT_INTERVAL", default_value = "5s", value_parser = parse_positive_duration)]
    pub heartbeat_interval: Duration,

    /// Silence (no frame of any kind received) after which a client is closed with 1008 and
    /// its seat is kept for resume.
    #[arg(long, env = "TICKWIRE_IDLE_TIMEOUT", default_value = "15s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,

    /// How long a ship stays in the world after its connection dropped without a close, waiting
    /// for a `Hello` with its resume token.
    #[arg(long, env = "TICKWIRE_RESUME_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub resume_grace: Duration,

    /// How long a client may make no write progress (its socket buffer full) before it is
    /// closed with 1008. Until then it just skips stale frames.
    #[arg(long, env = "TICKWIRE_SLOW_CLIENT_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub slow_client_timeout: Duration,

    /// How long an empty room lingers before it closes (a quick rejoin finds it still there).
    #[arg(long, env = "TICKWIRE_ROOM_IDLE_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub room_idle_grace: Duration,

    /// Sustained inputs per second per client; a client above it (after the burst) is closed
    /// with 1008. Must exceed the client's send rate with room for jitter. At least 1: with 0
    /// every player would be closed once its burst was spent.
    #[arg(long, env = "TICKWIRE_INPUT_RATE", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub input_rate: u32,

    /// Inputs a client may send back to back beyond the sustained rate. Three seconds' worth
    /// by default: inputs held up by a stall of the client's uplink (a TCP retransmit on
    /// Wi-Fi) arrive together when it ends, and that is not a flood. A flood goes on past it
    /// at more than `--input-rate` and is closed all the same.
    #[arg(long, env = "TICKWIRE_INPUT_BURST", default_value_t = 360)]
    pub input_burst: u32,

    /// Sustained chat lines per second per client; above it, close 1008. At least 1: with 0
    /// a player who chats would be closed once its burst was spent (`--room-chat-rate 0`
    /// relays no chat at all without closing anyone).
    #[arg(long, env = "TICKWIRE_CHAT_RATE", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub chat_rate: u32,

    /// Chat lines a client may send back to back.
    #[arg(long, env = "TICKWIRE_CHAT_BURST", default_value_t = 5)]
    pub chat_burst: u32,

    /// Chat lines per second one room relays, all senders together, with bursts of twice as
    /// many; lines above it are dropped (counted in `tickwire_chat_dropped_total`). Bounds what
    /// a crowd's chat costs: every line goes to everyone in the room. One address's clients
    /// (an IPv6 /64's) together get a quarter of it (at least one a second), so many sockets
    /// of one address cannot drown the room's chat.
    #[arg(long, env = "TICKWIRE_ROOM_CHAT_RATE", default_value_t = 20)]
    pub room_chat_rate: u32,

    /// Proxies and load balancers whose `--proxy-header` is believed (comma separated CIDR
    /// ranges or addresses, e.g. `10.0.0.0/8,192.0.2.7`). Requests from them count against the
    /// per-address caps, rate limits and logs of the client they name: each WebSocket upgrade
    /// and each new HTTP fallback session counts as a new connection of that client (plain
    /// requests, which the proxy sends over connections it keeps open, do not); the proxies
    /// are exempt from the per-address TCP cap and rate themselves. Empty: no header is
    /// believed (anyone could write any address there). The server warns at start about a
    /// range that holds every address (`0.0.0.0/0`, `::/0`): every client could then claim
    /// any address.
    #[arg(long, env = "TICKWIRE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::proxy::TrustedProxy>,

    /// The header `--trusted-proxies` write the client's address into: `x-forwarded-for`
    /// (nginx, HAProxy `option forwardfor`, Envoy, cloud load balancers) or `forwarded`
    /// (RFC 7239). Only that one is read: a proxy passes the other through as the client wrote
    /// it, so believing it would let any client claim any address.
    /// Given without `--trusted-proxies`, it would be ignored: refused.
    #[arg(
        long,
        env = "TICKWIRE_PROXY_HEADER",
        value_enum,
        default_value_t,
        requires = "trusted_proxies"
    )]
    pub proxy_header: crate::proxy::ProxyHeader,

    /// Turns on signed join tokens: HS256 with this secret. Every upgrade of `/ws` must then
    /// carry a token a game backend minted (`?token=` or `Authorization: Bearer`), else 401.
    /// Use at least 32 random bytes (`openssl rand -base64 32`): anyone who sees one token can
    /// test guesses of a shorter one offline, and the server warns at start when it is
    /// shorter. Prefer the environment variable: a flag shows in `ps`. See SECURITY.md.
    #[arg(long, env = "TICKWIRE_JOIN_SECRET", hide_env_values = true, group = "join_key")]
    pub join_secret: Option<Secret>,

    /// Turns on signed join tokens as `--join-secret` does, with the secret read from this
    /// file (the whitespace around it trimmed), as Docker and Kubernetes mount secrets. The
    /// file is read again at each SIGHUP: a key rotates without a restart (SECURITY.md,
    /// "Rotating the join key").
    #[arg(long, env = "TICKWIRE_JOIN_SECRET_FILE", group = "join_key")]
    pub join_secret_file: Option<std::path::PathBuf>,

    /// Turns on signed join tokens verified with this Ed25519 public key (a PEM file): EdDSA
    /// tokens the backend signs with the private key, which never reaches the game servers.
    /// Read again at each SIGHUP.
    #[arg(long, env = "TICKWIRE_JOIN_PUBLIC_KEY", group = "join_key")]
    pub join_public_key: Option<std::path::PathBuf>,

    /// While a new join key rolls out: tokens signed with this earlier HS256 secret are
    /// accepted too. To rotate, give every node the new key with the old one here, then sign
    /// with the new key, then, once tokens signed with the old one have expired, drop this
    /// (SECURITY.md, "Rotating the join key"); empty, it is none. Needs a join key
    /// (`--join-secret`, `--join-secret-file` or `--join-public-key`).
    #[arg(long, env = "TICKWIRE_JOIN_PREVIOUS_SECRET", hide_env_values = true)]
    pub join_previous_secret: Option<Secret>,

    /// While a new join key rolls out: tokens signed with the earlier HS256 secret in this
    /// file are accepted too, as `--join-previous-secret`. Read again at each SIGHUP, and an
    /// empty file is no previous key: a node started with `--join-secret-file` and this (empty
    /// until a rotation) rotates its key with no restart at all.
    #[arg(long, env = "TICKWIRE_JOIN_PREVIOUS_SECRET_FILE", requires = "join_key")]
    pub join_previous_secret_file: Option<std::path::PathBuf>,

    /// While a new join key rolls out: tokens verified by this earlier Ed25519 public key (a
    /// PEM file) are accepted too, as `--join-previous-secret`. Read again at each SIGHUP, and
    /// an empty file is no previous key, as with `--join-previous-secret-file`. Needs a join
    /// key (`--join-secret`, `--join-secret-file` or `--join-public-key`).
    #[arg(long, env = "TICKWIRE_JOIN_PREVIOUS_PUBLIC_KEY", requires = "join_key")]
    pub join_previous_public_key: Option<std::path::PathBuf>,

    /// With join tokens on, the audience they must name (`aud`), e.g. the client id an
    /// identity provider puts there. Unset, a token that names any audience is refused: it
    /// was minted for something else that shares the key. Needs a join key (`--join-secret`,
    /// `--join-secret-file` or `--join-public-key`; refused without: it would be ignored).
    #[arg(long, env = "TICKWIRE_JOIN_AUDIENCE", requires = "join_key")]
    pub join_audience: Option<String>,

    /// With join tokens on, the issuer they must name (`iss`). Unset, `iss` is not checked.
    /// Needs a join key (`--join-secret`, `--join-secret-file` or `--join-public-key`).
    #[arg(long, env = "TICKWIRE_JOIN_ISSUER", requires = "join_key")]
    pub join_issuer: Option<String>,

    /// Origins allowed to open `/ws` and HTTP fallback sessions (comma separated, e.g.
    /// `https://play.example.com`). Empty allows any. A request without an Origin header (a
    /// non-browser client) is allowed unless its `Sec-Fetch-Site` says a browser sent it from
    /// another site (`cross-site`, `same-site`: an `<img>` or a no-cors fetch of another page,
    /// which carries no Origin), which gets 403. Spaces around entries and a trailing `/` are
    /// ignored, as a browser sends neither.
    #[arg(long, env = "TICKWIRE_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// Threads that run the rooms' tick loops, apart from the network runtime's (which
    /// accepts, reads and writes the sockets). A room stays on one thread; a new room goes to
    /// the thread with the fewest rooms, and waits behind the others' ticks there (a game that
    /// blocks stops its thread's rooms: `tickwire_rooms_stuck`). Default: one per core the process may run on
    /// (`std::thread::available_parallelism`). 0 runs the rooms as tasks of the network
    /// runtime, where a saturated CPU makes their ticks wait behind the connections' work.
    #[arg(long, env = "TICKWIRE_ROOM_THREADS", default_value_t = default_room_threads(),
          value_parser = clap::value_parser!(u16).range(ROOM_THREADS))]
    pub room_threads: u16,

    /// Linux: nice levels by which the binary's network threads run below the room threads, so
    /// that when the CPU is saturated a tick starts on time and the network waits (with 10, a
    /// ready room gets about nine tenths of a core the two share). The network threads step
    /// down rather than the rooms up because that needs no privilege; on a machine shared with
    /// other busy processes they then get less CPU than those. 0 to 19, default 10; 0 keeps
    /// every thread at the process's priority.
    #[arg(long, env = "TICKWIRE_ROOM_PRIORITY", default_value_t = 10,
          value_parser = clap::value_parser!(u8).range(ROOM_PRIORITIES))]
    pub room_priority: u8,

    /// Kernel send buffer per client socket in bytes (SO_SNDBUF); 0 keeps the OS default (Linux
    /// autotunes up to several MB). Smaller bounds kernel memory per client and makes a stalled
    /// client start skipping frames sooner.
    #[arg(long, env = "TICKWIRE_SOCKET_SEND_BUFFER", default_value_t = 0)]
    pub socket_send_buffer: usize,

    /// Linux: bytes a client socket's kernel queue may hold not yet sent (TCP_NOTSENT_LOWAT)
    /// before writes to it wait. Default 16384; 0 keeps the kernel's (no limit of its own:
    /// the queue grows to the send buffer, which Linux autotunes up to 4 MB). A client that
    /// reads nothing is closed after `--slow-client-timeout` without write progress, and
    /// without this limit its writes progress into the kernel until megabytes wait there:
    /// minutes of a client that reads nothing, and its kernel memory. With it, what waits
    /// unsent is bounded here, what is in flight by the client's receive window, and
    /// the send buffer is still autotuned for a fast link. 16 KiB is a few seconds of a
    /// client's snapshots (3 to 7 KB/s) and several full ones: a short stall catches up, a
    /// longer one skips stale frames. Smaller skips sooner (fresher frames) at the cost of
    /// more wake-ups; one frame larger than the limit still goes out whole. 0 to 16 MiB.
    /// Other systems: no effect.
    #[arg(long, env = "TICKWIRE_SOCKET_UNSENT_LIMIT", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(UNSENT_LIMITS))]
    pub socket_unsent_limit: u32,

    /// Linux: rooms hand their direct writes to the kernel as one io_uring submission per
    /// 128 clients instead of one `writev` each, and write the clients past half a tick
    /// themselves after the tick, in such batches, instead of waking each one's writer task
    /// (see BENCHMARKS.md, "io_uring in the server", for what it saves). Off by default:
    /// io_uring is often disabled in containers (the server then refuses to start with this
    /// flag), and older kernels lack it. `TICKWIRE_IO_URING` takes `true`/`false`, `1`/`0`,
    /// `yes`/`no` or `on`/`off`.
    #[arg(long, env = "TICKWIRE_IO_URING", default_value_t = false, value_parser = EnvBool)]
    pub io_uring: bool,

    /// PEM certificate chain (leaf first) to serve `https://` and `wss://` on `--bind`; needs
    /// `--tls-key`. Reloaded from disk on SIGHUP without dropping a connection. Unset: plain
    /// HTTP (run behind a TLS proxy, or on a LAN).
    #[arg(long, env = "TICKWIRE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, env = "TICKWIRE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Serve the diagnostics echo at `/echo` (echoes every WebSocket message back).
    /// `TICKWIRE_ECHO` takes `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`.
    #[arg(long, env = "TICKWIRE_ECHO", default_value_t = false, value_parser = EnvBool)]
    pub echo: bool,

    /// Largest message `/echo` accepts, in bytes: 1 to 64 MiB (each echo connection may buffer
    /// about twice this for a peer that does not read).
    #[arg(long, env = "TICKWIRE_ECHO_MAX_MESSAGE", default_value_t = 1 << 20,
          value_parser = parse_echo_max_message)]
    pub echo_max_message: usize,

    /// Time a closing handshake may take, each way: writing the server's close frame and then
    /// waiting for the client's answer, or flushing the answer to a client's close. The socket
    /// is dropped when it passes. Longer lets a client on a slow link close cleanly (it sees
    /// its close code, not 1006); shorter frees a hostile peer's socket sooner.
    #[arg(long, env = "TICKWIRE_CLOSE_TIMEOUT", default_value = "2s", value_parser = parse_positive_duration)]
    pub close_timeout: Duration,

    /// Time allowed on SIGINT/SIGTERM to send every client close 1001 and flush, before exit.
    /// Meanwhile the listeners stay open: `/healthz` answers 503, `/livez` 200, new upgrades
    /// and HTTP fallback sessions 503, `/metrics` and `/rooms` as usual. Longer lets slow
    /// clients close cleanly; shorter ends a stuck shutdown sooner (a second signal ends it at
    /// once).
    #[arg(long, env = "TICKWIRE_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Serve the web client (`/`, `/dashboard`, `/assets/...`) from this directory instead of
    /// the copy compiled into the binary, re-reading files on every request and disabling
    /// browser caching: edit `client-web/` and reload. Unset serves the embedded copy.
    #[arg(long, env = "TICKWIRE_WEB_ROOT", value_name = "DIR")]
    pub web_root: Option<PathBuf>,

    /// Base URL that invite links and their QR codes point to, e.g.
    /// `https://play.example.com` behind a TLS proxy. Unset: the host the browser used, or this
    /// machine's LAN address when that host is loopback, so a phone on the same network can
    /// scan and join.
    #[arg(long, env = "TICKWIRE_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Seed of the game's RNG for room N is `seed + N`; unset, each room draws a random seed of
    /// its own. Fixed seeds make matches reproducible.
    #[arg(long, env = "TICKWIRE_SEED")]
    pub seed: Option<u64>,

    /// The arena's playfield, `WIDTHxHEIGHT` in world units, each 64 to 2047 (the wire's
    /// range). Bigger spreads the ships out: fewer fights, more flying; 1600x1000 suits a room
    /// of 32. Players see `--view-radius` around their ship, spectators all of it. This and the
    /// three arena flags below set the arena's rooms; a game of your own
    /// (`tickwire_server::Server::games`) takes those it reads from `ServerConfig::arena`.
    #[arg(long, env = "TICKWIRE_WORLD_SIZE", default_value = "1600x1000",
          value_name = "WxH", value_parser = parse_world_size)]
    pub world_size: WorldBounds,

    /// Length of an arena round: 1s to 10 hours (as `600m`), e.g. `3m` for a class or a
    /// big screen. Scores reset when the next round starts.
    #[arg(long, env = "TICKWIRE_ROUND_TIME", default_value = "120s",
          value_parser = parse_round_time)]
    pub round_time: Duration,

    /// The pause between arena rounds, with the round's scoreboard shown: 0 to 10 minutes.
    #[arg(long, env = "TICKWIRE_INTERMISSION", default_value = "8s",
          value_parser = parse_intermission)]
    pub intermission: Duration,

    /// Pickups on the arena's field, 0 to 512. More means more scoring and less contest for
    /// each; a bigger `--world-size` wants more.
    #[arg(long, env = "TICKWIRE_PICKUPS", default_value_t = 12,
          value_parser = clap::value_parser!(u16).range(PICKUPS))]
    pub pickups: u16,

    /// Cluster mode: the Redis that holds the fleet's room directory, e.g.
    /// `redis://10.0.0.2:6379/0` (`redis://:password@host` for AUTH; plain TCP, so keep Redis on
    /// the fleet's private network). With a password, prefer the environment variable: a flag
    /// shows in `ps`.
    /// Every node of a fleet names the same one; a client may then connect to any node and play
    /// in any room (README, "Running a fleet"). Unset: a single server that needs no Redis.
    #[arg(long, env = "TICKWIRE_REDIS_URL", hide_env_values = true, value_name = "URL",
          value_parser = RedisUrlParser)]
    pub redis_url: Option<RedisUrl>,

    /// This node's name in the fleet (letters, digits, `-`, `_`, `.`; at most 48 bytes): shown
    /// in `/rooms`, logs and metrics. Unset: the host name (a pod's name in Kubernetes), or a
    /// random name when there is none. Two live nodes must not share one: a server that finds
    /// its id held by another live server exits at start (or, had they raced, stays out of the
    /// fleet and refuses joins, logging why).
    #[arg(long, env = "TICKWIRE_NODE_ID", value_name = "NAME", value_parser = parse_node_id)]
    pub node_id: Option<String>,

    /// How the other nodes of the fleet reach this one: `ws://host:port/ws` on the fleet's
    /// private network (a node proxies a client whose room lives here to this URL). Clients
    /// never see it. Unset: the bound address, or this machine's first LAN address (private
    /// ranges first) when bound to all interfaces. Set it on a host whose addresses are all
    /// public: relays to the node carry the fleet's secret in plain text, and the server warns
    /// at start when the default is not a private address.
    #[arg(long, env = "TICKWIRE_NODE_URL", value_name = "URL", value_parser = parse_node_url)]
    pub node_url: Option<String>,

    /// How long the directory keeps a node that stopped renewing its registration, and with it
    /// its rooms and resume tokens; the node renews every third of it. Shorter forgets a crashed
    /// node sooner; longer rides out longer pauses (a stop-the-world, a Redis failover). At
    /// least 3 times `--redis-timeout` (refused at start otherwise).
    #[arg(long, env = "TICKWIRE_NODE_TTL", default_value = "10s", value_parser = parse_node_ttl)]
    pub node_ttl: Duration,

    /// Longest wait for one Redis request. A directory slower than this counts as down: joins
    /// that need it are refused with 1013 (running matches never wait for Redis). At most a
    /// third of `--node-ttl`.
    #[arg(long, env = "TICKWIRE_REDIS_TIMEOUT", default_value = "1s", value_parser = parse_positive_duration)]
    pub redis_timeout: Duration,

    /// Cluster mode: on SIGTERM or SIGINT the node first drains: it leaves the fleet's
    /// matchmaking, `/healthz` answers 503 (a load balancer stops sending players), and running
    /// matches play their round out (then their players join again, on another node), for up
    /// to this long, or until none is left; then every client gets 1001
    /// as without a fleet. Set the orchestrator's grace period a little above it (Kubernetes:
    /// `terminationGracePeriodSeconds`). Without `--redis-url` shutdown does not wait.
    #[arg(long, env = "TICKWIRE_DRAIN_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Cluster mode: the least a drain lasts (up to --drain-timeout), however soon its matches
    /// end: the node keeps listening (and relaying, placing joiners on other nodes) until load
    /// balancers have seen `/healthz` answer 503, so none sends a player to a closed port.
    /// The default covers health checks every 2 s that drop a node after two misses, as the
    /// files in deploy/ set them; 0 stops listening as soon as the matches end.
    #[arg(long, env = "TICKWIRE_DRAIN_NOTICE", default_value = "5s", value_parser = parse_duration)]
    pub drain_notice: Duration,
}

/// A previous key's file, emptied to end a rotation, is no previous key (as a blanked
/// variable is); any other failure to load it stands.
fn emptied_is_none(
    loaded: Result<crate::auth::JoinVerifier, crate::auth::KeyError>,
) -> Result<Option<crate::auth::JoinVerifier>, crate::auth::KeyError> {
    match loaded {
        Err(crate::auth::KeyError::EmptyFile(_)) => Ok(None),
        other => other.map(Some),
    }
}

/// Cores the process may run on (its affinity and cgroup quota), at least one.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// One per core available to the process.
fn default_room_threads() -> u16 {
    u16::try_from(cores()).unwrap_or(u16::MAX).min(1024)
}

/// 2,000 spectators per core available to the process.
fn default_spectators_total() -> u32 {
    u32::try_from(cores().saturating_mul(2_000)).unwrap_or(u32::MAX)
}

impl Default for ServerConfig {
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: ServerConfig,
        }
        // The defaults live once, in the attributes above; parsing no arguments applies them.
        // Environment fallbacks are deliberately ignored here: `Default` must not depend on it.
        let cmd = <Defaults as clap::CommandFactory>::command();
        let cmd = cmd.mut_args(|a| a.env(None::<&str>));
        let matches = cmd.get_matches_from(["tickwire-server"]);
        <Defaults as clap::FromArgMatches>::from_arg_matches(&matches)
            .map(|d| d.config)
            .unwrap_or_else(|e| unreachable!("built-in defaults parse: {e}"))
    }
}

/// A secret from the command line or environment, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_owned()))
    }
}

impl ServerConfig {
    /// The operators' token ([`ServerConfig::admin_token`]) as moderation compares it: trimmed,
    /// and none when unset or blank.
    pub fn moderation_token(&self) -> Option<&str> {
        self.admin_token.as_ref().map(|t| t.0.trim()).filter(|t| !t.is_empty())
    }

    /// Whether a join key comes from a file, which a SIGHUP reads again
    /// ([`crate::auth::JoinKeys`]); keys given inline cannot change while the process runs.
    pub fn join_keys_in_files(&self) -> bool {
        self.join_secret_file.is_some()
            || self.join_public_key.is_some()
            || self.join_previous_secret_file.is_some()
            || self.join_previous_public_key.is_some()
    }

    /// The flag that gives the current join key (`previous`: the previous one), for messages
    /// about it; `None` when none does.
    pub fn join_key_flag(&self, previous: bool) -> Option<&'static str> {
        self.join_key_flags(previous).first().copied()
    }

    /// Every flag that gives the current join key (`previous`: the previous one), an emptied
    /// variable left out: more than one is refused ([`ServerConfig::join_verifier`]).
    fn join_key_flags(&self, previous: bool) -> Vec<&'static str> {
        let given = if previous {
            [
                ("--join-previous-secret", self.previous_join_secret().is_some()),
                ("--join-previous-secret-file", self.join_previous_secret_file.is_some()),
                ("--join-previous-public-key", self.join_previous_public_key.is_some()),
            ]
        } else {
            [
                ("--join-secret", self.current_join_secret().is_some()),
                ("--join-secret-file", self.join_secret_file.is_some()),
                ("--join-public-key", self.join_public_key.is_some()),
            ]
        };
        given.into_iter().filter(|(_, set)| *set).map(|(flag, _)| flag).collect()
    }

    /// `--join-secret`, unless it is empty (or blank): a variable blanked by a manifest moving
    /// to `--join-secret-file` is unset (alone, it is refused: [`ServerConfig::join_verifier`]).
    fn current_join_secret(&self) -> Option<&Secret> {
        self.join_secret.as_ref().filter(|secret| !secret.0.trim().is_empty())
    }

    /// `--join-previous-secret`, unless it is empty (or blank): a variable blanked to end a
    /// rotation (compose, a Kubernetes Secret) means no previous key, as no variable does.
    pub fn previous_join_secret(&self) -> Option<&Secret> {
        self.join_previous_secret.as_ref().filter(|secret| !secret.0.trim().is_empty())
    }

    /// Every operator moderation answers, with their token: `admin` for `--admin-token`, and
    /// those of `--admin-tokens`. None leaves moderation off.
    pub fn operators(&self) -> impl Iterator<Item = (&str, &str)> {
        let single = self.moderation_token().map(|token| ("admin", token));
        let team = self.admin_tokens.iter().flat_map(|t| t.iter());
        single.into_iter().chain(team)
    }

    /// Whether moderation is on: an operator's token is set.
    pub fn moderation_on(&self) -> bool {
        self.operators().next().is_some()
    }

    /// The join-token verifier the configuration asks for, if any, its files read now (at
    /// start, and again at each SIGHUP).
    pub fn join_verifier(
        &self,
    ) -> Result<Option<crate::auth::JoinVerifier>, crate::auth::KeyError> {
        use crate::auth::{JoinVerifier, KeyError};
        let mut verifier =
            match (self.current_join_secret(), &self.join_secret_file, &self.join_public_key) {
                (Some(secret), None, None) => JoinVerifier::from_secret(&secret.0)?,
                (None, Some(path), None) => JoinVerifier::from_secret_file(path)?,
                (None, None, Some(path)) => JoinVerifier::from_public_key_file(path)?,
                (None, None, None) if self.join_secret.is_some() => {
                    return Err(KeyError::EmptySecret);
                }
                // Checked here rather than by clap (`requires`), which would refuse an emptied
                // variable too: that one is no previous key.
                (None, None, None) if self.previous_join_secret().is_some() => {
                    return Err(KeyError::PreviousWithoutKey);
                }
                (None, None, None) => return Ok(None),
                _ => return Err(KeyError::TwoKeys(self.join_key_flags(false))),
            };
        let previous = match (
            self.previous_join_secret(),
            &self.join_previous_secret_file,
            &self.join_previous_public_key,
        ) {
            (Some(secret), None, None) => Some(JoinVerifier::from_secret(&secret.0)?),
            (None, Some(path), None) => emptied_is_none(JoinVerifier::from_secret_file(path))?,
            (None, None, Some(path)) => emptied_is_none(JoinVerifier::from_public_key_file(path))?,
            (None, None, None) => None,
            _ => return Err(KeyError::TwoKeys(self.join_key_flags(true))),
        };
        if let Some(previous) = previous {
            verifier = verifier.or_previous(previous);
        }
        Ok(Some(verifier.expecting(self.join_audience.as_deref(), self.join_issuer.as_deref())))
    }

    /// The arena every room runs unless the server was given a game of its own: the default
    /// [`ArenaConfig`] with `--world-size`, `--round-time`, `--intermission` and `--pickups`.
    pub fn arena(&self) -> ArenaConfig {
        ArenaConfig {
            width: self.world_size.width,
            height: self.world_size.height,
            round_secs: self.round_time.as_secs_f32(),
            intermission_secs: self.intermission.as_secs_f32(),
            pickup_count: self.pickups,
            ..ArenaConfig::default()
        }
    }

    /// Length of one tick.
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.tick_rate.max(1)))
    }

    /// Checks what parsing the flags checks, for a config that did not come from them or was
    /// changed after: a game's adjustments in [`command::main`](crate::command::main), or a
    /// program's own for [`Server::new`](crate::Server::new). The error names the flag.
    pub fn check(&self) -> Result<(), String> {
        let world_sides = i64::from(*WORLD_SIDES.start())..=i64::from(*WORLD_SIDES.end());
        let ranged = [
            ("--tick-rate", i64::from(self.tick_rate), TICK_RATES),
            ("--room-capacity", i64::from(self.room_capacity), ROOM_CAPACITIES),
            ("--max-rooms", i64::from(self.max_rooms), 1..=i64::from(u32::MAX)),
            ("--max-connections", i64::from(self.max_connections), CONNECTIONS),
            ("--max-connections-per-ip", i64::from(self.max_connections_per_ip), CONNECTIONS),
            ("--http-headroom", i64::from(self.http_headroom), CONNECTIONS),
            ("--max-request-head", i64::from(self.max_request_head), REQUEST_HEADS),
            ("--room-threads", i64::from(self.room_threads), ROOM_THREADS),
            ("--room-priority", i64::from(self.room_priority), ROOM_PRIORITIES),
            ("--socket-unsent-limit", i64::from(self.socket_unsent_limit), UNSENT_LIMITS),
            ("--input-rate", i64::from(self.input_rate), 1..=i64::from(u32::MAX)),
            ("--chat-rate", i64::from(self.chat_rate), 1..=i64::from(u32::MAX)),
            ("--pickups", i64::from(self.pickups), PICKUPS),
            ("--world-size's width", i64::from(self.world_size.width), world_sides.clone()),
            ("--world-size's height", i64::from(self.world_size.height), world_sides),
        ];
        for (flag, value, range) in ranged {
            if !range.contains(&value) {
                return Err(format!(
                    "{flag} is {value}, outside {} to {}",
                    range.start(),
                    range.end()
                ));
            }
        }
        let positive = [
            ("--handshake-timeout", self.handshake_timeout),
            ("--heartbeat-interval", self.heartbeat_interval),
            ("--idle-timeout", self.idle_timeout),
            ("--slow-client-timeout", self.slow_client_timeout),
            ("--close-timeout", self.close_timeout),
            ("--redis-timeout", self.redis_timeout),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, d)| *d < Duration::from_millis(1)) {
            return Err(format!("{flag} must be at least 1ms"));
        }
        if self.round_time < Duration::from_secs(1) || self.round_time > MAX_ROUND_TIME {
            return Err(format!(
                "--round-time ({:?}) must be between 1s and 10 hours",
                self.round_time
            ));
        }
        if self.intermission > MAX_INTERMISSION {
            return Err(format!(
                "--intermission ({:?}) must be 10 minutes at most",
                self.intermission
            ));
        }
        Ok(())
    }

    /// In a fleet (`--redis-url`), refuses a `--node-ttl` shorter than
    /// [`NODE_TTL_PER_REDIS_TIMEOUT`] times `--redis-timeout`, naming both flags (clap checks
    /// each flag alone).
    pub fn check_node_ttl(&self) -> Result<(), String> {
        if self.redis_url.is_none()
            || self.node_ttl >= self.redis_timeout * NODE_TTL_PER_REDIS_TIMEOUT
        {
            return Ok(());
        }
        Err(format!(
            "--node-ttl ({:?}) must be at least {NODE_TTL_PER_REDIS_TIMEOUT} times \
             --redis-timeout ({:?}): the node renews its registration every third of the TTL, \
             and a single renewal lost to a slow Redis reply would let it lapse, taking its \
             rooms and seats out of the fleet",
            self.node_ttl, self.redis_timeout,
        ))
    }
}

/// `--tick-rate`: ticks per second (a u8 on the wire; past 120 a tick's work outgrows its
/// period).
const TICK_RATES: std::ops::RangeInclusive<i64> = 1..=120;
/// `--room-capacity`: ships per room (a room's work and each snapshot grow with it).
const ROOM_CAPACITIES: std::ops::RangeInclusive<i64> = 1..=1000;
/// `--pickups` on the arena's field.
const PICKUPS: std::ops::RangeInclusive<i64> = 0..=512;
/// `--world-size`: each side in world units (the wire's positions reach 2047).
const WORLD_SIDES: std::ops::RangeInclusive<u16> = 64..=2047;
/// `--round-time` at most (a round's seconds left are a u16 on the wire).
const MAX_ROUND_TIME: Duration = Duration::from_secs(10 * 3600);
/// `--intermission` at most.
const MAX_INTERMISSION: Duration = Duration::from_secs(600);
/// `--max-connections`, `--max-connections-per-ip`, `--http-headroom`: past a million the
/// process's descriptors run out long before (and `u32::MAX` wrapped a listener's limit).
const CONNECTIONS: std::ops::RangeInclusive<i64> = 1..=1_000_000;
/// `--max-request-head`, bytes: a browser's head with its cookies fits the least.
const REQUEST_HEADS: std::ops::RangeInclusive<i64> = 1024..=1024 * 1024;
/// `--room-threads` (0 runs the rooms on the network runtime).
const ROOM_THREADS: std::ops::RangeInclusive<i64> = 0..=1024;
/// `--room-priority`, nice levels.
const ROOM_PRIORITIES: std::ops::RangeInclusive<i64> = 0..=19;
/// `--socket-unsent-limit`, bytes: past 16 MiB it bounds nothing a game sends.
const UNSENT_LIMITS: std::ops::RangeInclusive<i64> = 0..=16 << 20;

/// `--node-ttl` is at least this many `--redis-timeout`s. The node renews its registration
/// every third of the TTL, and must ride out one renewal lost to a slow reply (given up after
/// the timeout): the next renewal is sent two thirds of the TTL after the last one that landed
/// and may itself take up to the timeout to land, so `2/3 ttl + timeout <= ttl`, that is
/// `ttl >= 3 timeout`.
pub const NODE_TTL_PER_REDIS_TIMEOUT: u32 = 3;

/// Accepts an `http://` or `https://` URL with a host and no query, e.g.
/// `https://play.example.com` or `http://10.0.0.5:8080/tickwire`.
pub fn parse_public_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(|| format!("`{text}` must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || text.contains(['?', '#', ' ', '"', '<', '>']) {
        return Err(format!("`{text}` must be a base URL with a host and no query or spaces"));
    }
    Ok(text.to_string())
}

/// An Origin as a browser sends it: trimmed, without a trailing `/`.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/');
    if origin.is_empty() {
        return Err("an empty origin (a stray comma?)".into());
    }
    // What a browser sends: `scheme://host[:port]`, in lower case (https, or an app's own
    // scheme: `capacitor://localhost`, `tauri://localhost`). An entry of another form would
    // match no browser, and every player would be refused with 403.
    let form =
        "an origin is scheme://host[:port], as a browser sends it (e.g. https://play.example.com)";
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(format!("`{origin}` has no scheme: {form}"));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("`{origin}`: {form}, its scheme letters, digits, `+`, `-` or `.`"));
    }
    if host.is_empty() || host.contains(['/', '?', '#', '*', ' ']) {
        return Err(format!("`{origin}`: {form}, with no path and no wildcard"));
    }
    Ok(origin.to_ascii_lowercase())
}

/// 1 byte to 64 MiB.
pub fn parse_echo_max_message(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(bytes) if (1..=64 << 20).contains(&bytes) => Ok(bytes),
        _ => Err(format!("`{}` must be a number of bytes from 1 to {}", text.trim(), 64 << 20)),
    }
}

/// Accepts `redis://` and `unix://` URLs (the forms the `redis` crate opens without TLS). The
/// error never repeats the text, which may hold a password.
pub fn parse_redis_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let known = ["redis://", "unix://", "redis+unix://"];
    if !known.iter().any(|scheme| text.starts_with(scheme)) {
        let tls = ["rediss://", "valkeys://"].iter().any(|scheme| text.starts_with(scheme));
        return Err(if tls {
            "Redis over TLS (rediss://) is not supported: use redis:// or unix:// on the \
             fleet's private network"
                .to_string()
        } else {
            "a Redis URL starts with redis:// or unix://".to_string()
        });
    }
    Ok(text.to_string())
}

/// A Redis URL, which may carry a password (`redis://:password@host`, or
/// `unix:///path?pass=password`): its `Debug` shows the URL with the user part and the query
/// replaced by `***`, so a logged or printed [`ServerConfig`] does not leak it. Dereferences to
/// the whole URL for the code that connects.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL with any `user:password@` replaced by `***@` and any query by `?***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else { return "***".into() };
        let (rest, query) = match rest.split_once('?') {
            Some((before, _)) => (before, "?***"),
            None => (rest, ""),
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let rest = match rest[..authority_end].rfind('@') {
            Some(at) => format!("***{}", &rest[at..]),
            None => rest.to_owned(),
        };
        format!("{scheme}://{rest}{query}")
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({:?})", self.redacted())
    }
}

impl std::ops::Deref for RedisUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for RedisUrl {
    fn from(url: String) -> Self {
        RedisUrl(url)
    }
}

impl From<&str> for RedisUrl {
    fn from(url: &str) -> Self {
        RedisUrl(url.to_owned())
    }
}

/// `--redis-url`'s parser: [`parse_redis_url`], with clap's error built without the value. A
/// plain function parser makes clap print "invalid value '<the URL>'", password and all.
#[derive(Debug, Clone, Copy)]
struct RedisUrlParser;

impl clap::builder::TypedValueParser for RedisUrlParser {
    type Value = RedisUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<RedisUrl, clap::Error> {
        let flag = arg.map_or_else(|| "--redis-url".to_string(), ToString::to_string);
        let refused = |problem: &str| {
            let message = format!("invalid value for '{flag}': {problem}\n");
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| refused("the URL is not valid UTF-8"))?;
        parse_redis_url(text).map(RedisUrl).map_err(|problem| refused(&problem))
    }
}

/// The parser of a boolean flag's environment variable (`--echo`: `TICKWIRE_ECHO`): what
/// environments and service managers write for a boolean (`true`/`false`, `1`/`0`, `yes`/`no`,
/// `on`/`off`, `y`/`n`, `t`/`f`, in any case), and an error naming the variable for anything
/// else (a flag takes no value on the command line, so a bad one came from there). Clap's own
/// parser for a flag takes only `true` and `false`, and names the flag.
#[derive(Debug, Clone, Copy)]
pub struct EnvBool;

impl clap::builder::TypedValueParser for EnvBool {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        clap::builder::BoolishValueParser::new().parse_ref(cmd, arg, value).map_err(|_| {
            let flag = arg.map_or_else(|| "the flag".to_string(), |a| format!("--{}", a.get_id()));
            let flag = arg.and_then(clap::Arg::get_long).map_or(flag, |long| format!("--{long}"));
            let source = match arg.and_then(clap::Arg::get_env) {
                Some(var) => format!("{} (the variable of {flag})", var.to_string_lossy()),
                None => flag,
            };
            let message = format!(
                "invalid value '{}' for {source}: use true or false, 1 or 0, yes or no, on or off\n",
                value.to_string_lossy()
            );
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message).with_cmd(cmd)
        })
    }
}

/// A node name: 1 to 48 letters, digits, `-`, `_` or `.` (it goes into Redis keys, metric
/// labels and `/rooms`).
pub fn parse_node_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let fits = !text.is_empty()
        && text.len() <= 48
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !fits {
        return Err(format!("`{text}` must be 1 to 48 letters, digits, '-', '_' or '.'"));
    }
    Ok(text.to_string())
}

/// The port an authority (`host:port`, `[v6]:port`, or either without a port) names: what
/// follows the last colon outside brackets.
pub(crate) fn authority_port(authority: &str) -> Option<&str> {
    match authority.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, port)| port),
    }
}

/// Accepts `ws://host[:port]/path` (the fleet's own network is plain WebSocket); without a
/// port the other nodes connect to port 80.
pub fn parse_node_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest =
        text.strip_prefix("ws://").ok_or_else(|| format!("`{text}` must start with ws://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || text.contains(['?', '#', ' ', '"', '<', '>']) {
        return Err(format!("`{text}` must be ws://host[:port]/path with no query or spaces"));
    }
    // `fd00::5:8080` reads as a host and a port to nobody but a person: the dialing nodes
    // would take `8080` as part of the address (a Kubernetes `$(POD_IP)` on IPv6 does this).
    if !authority.starts_with('[') && authority.matches(':').count() > 1 {
        return Err(format!(
            "`{text}`: an IPv6 address goes in brackets, as in ws://[fd00::5]:8080/ws"
        ));
    }
    if authority_port(authority).is_some_and(|port| port.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(format!("`{text}`: the port must be a number from 1 to 65535"));
    }
    Ok(if rest.contains('/') { text.to_string() } else { format!("{text}/ws") })
}

/// [`parse_duration`] for `--node-ttl`: at least 300 ms (three renewals must fit in it) and at
/// most 10 minutes.
pub fn parse_node_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_millis(300) || ttl > Duration::from_secs(600) {
        return Err(format!("`{}` must be between 300ms and 10m", text.trim()));
    }
    Ok(ttl)
}

/// Parses `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 250ms, 5s, 2m, 1h)"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 86_400.0 {
        return Err(format!("`{text}` must be between 0 and 24 hours"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// `--world-size`: `WIDTHxHEIGHT`, each 64 to 2047 units.
fn parse_world_size(text: &str) -> Result<WorldBounds, String> {
    let (width, height) = text
        .trim()
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT (example: 1600x1000)"))?;
    let side = |side: &str| match side.trim().parse::<u16>() {
        Ok(units) if WORLD_SIDES.contains(&units) => Ok(units),
        _ => Err(format!("`{text}`: each side must be a whole number from 64 to 2047 units")),
    };
    Ok(WorldBounds { width: side(width)?, height: side(height)? })
}

/// `--round-time`: 1 s to 10 hours (a round's seconds left are a u16 on the wire).
fn parse_round_time(text: &str) -> Result<Duration, String> {
    let time = parse_duration(text)?;
    if time < Duration::from_secs(1) || time > MAX_ROUND_TIME {
        return Err(format!("`{text}` must be between 1s and 10 hours (600m)"));
    }
    Ok(time)
}

/// `--intermission`: 0 to 10 minutes.
fn parse_intermission(text: &str) -> Result<Duration, String> {
    let time = parse_duration(text)?;
    if time > MAX_INTERMISSION {
        return Err(format!("`{text}` must be between 0 and 10 minutes"));
    }
    Ok(time)
}

/// [`parse_duration`] for a period or timeout that must be positive (at least 1 ms): a zero
/// heartbeat, handshake, idle or slow-client timeout has no sensible meaning.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration < Duration::from_millis(1) {
        return Err(format!("`{}` must be at least 1ms", text.trim()));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prints a server so configured starts with.
    trait Prints {
        /// `none` without tokens, else the verifier's; `unreadable` when it cannot be made.
        fn join_fingerprints(&self) -> Vec<String>;
    }

    impl Prints for ServerConfig {
        fn join_fingerprints(&self) -> Vec<String> {
            match self.join_verifier() {
                Ok(None) => vec!["none".into()],
                Ok(Some(verifier)) => verifier.prints().to_vec(),
                Err(_) => vec!["unreadable".into()],
            }
        }
    }

    #[test]
    fn the_join_fingerprint_tells_settings_apart_without_telling_them() {
        let mut config = ServerConfig::default();
        assert_eq!(config.join_fingerprints().join(","), "none");
        config.join_secret = Some("s3cret".parse().unwrap());
        let secret = config.join_fingerprints().join(",");
        assert_eq!(secret.len(), 16);
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.contains("s3cret"));
        assert_eq!(
            config.join_fingerprints().join(","),
            secret,
            "the same settings, the same print"
        );
        config.join_audience = Some("tickwire".into());
        let audience = config.join_fingerprints().join(",");
        assert_ne!(audience, secret);
        config.join_secret = Some("other".parse().unwrap());
        assert_ne!(config.join_fingerprints().join(","), audience);
        // A public key prints as its key: the same one with other line endings alike.
        let dir = std::env::temp_dir().join(format!("tickwire-join-print-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let (unix, dos) = (dir.join("unix.pem"), dir.join("dos.pem"));
        std::fs::write(&unix, key).unwrap();
        std::fs::write(&dos, key.replace('\n', "\r\n") + "\r\n").unwrap();
        let print = |path: &std::path::Path| {
            ServerConfig { join_public_key: Some(path.to_owned()), ..ServerConfig::default() }
                .join_fingerprints()
                .join(",")
        };
        assert_eq!(print(&unix), print(&dos));
        assert_ne!(print(&unix), secret);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A node rotating its key prints both: the key it is given first, as a node with that key
    /// alone prints it, then the previous one, as a node still on it prints it; so nodes on
    /// either side of a rotation share a print.
    #[test]
    fn a_previous_join_key_adds_its_own_fingerprint() {
        let on = |secret: &str| ServerConfig {
            join_secret: Some(secret.parse().unwrap()),
            join_audience: Some("tickwire".into()),
            ..ServerConfig::default()
        };
        let (old, new) =
            (on("old-secret").join_fingerprints(), on("new-secret").join_fingerprints());
        let rotating = ServerConfig {
            join_previous_secret: Some("old-secret".parse().unwrap()),
            ..on("new-secret")
        };
        assert_eq!(rotating.join_fingerprints(), [new[0].clone(), old[0].clone()]);
        // A previous secret blanked to end the rotation is none (not an empty key refused).
        let ended =
            ServerConfig { join_previous_secret: Some(Secret(String::new())), ..on("new-secret") };
        assert_eq!(ended.join_fingerprints(), new);
        assert!(ended.join_verifier().is_ok_and(|verifier| verifier.is_some()));
    }

    /// Keys in files: a secret file prints as the same secret given inline (a fleet can move
    /// from the variable to the file node by node); a previous-secret file emptied to end a
    /// rotation is no previous key, while an emptied current one is refused; SIGHUP has
    /// something to read only with a key in a file; a short secret in a file is warned about
    /// by its flag.
    #[test]
    fn join_keys_in_files_print_as_given_inline_and_an_emptied_previous_one_is_none() {
        let dir = std::env::temp_dir().join(format!("tickwire-key-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (current, previous) = (dir.join("current"), dir.join("previous"));
        std::fs::write(&current, "new-secret-of-thirty-two-bytes-at-least\n").unwrap();
        std::fs::write(&previous, "old\n").unwrap();
        let inline = ServerConfig {
            join_secret: Some("new-secret-of-thirty-two-bytes-at-least".parse().unwrap()),
            join_previous_secret: Some("old".parse().unwrap()),
            ..ServerConfig::default()
        };
        let files = ServerConfig {
            join_secret_file: Some(current.clone()),
            join_previous_secret_file: Some(previous.clone()),
            ..ServerConfig::default()
        };
        assert_eq!(files.join_fingerprints(), inline.join_fingerprints());
        assert_eq!(files.join_fingerprints().len(), 2);
        assert!(files.join_keys_in_files() && !inline.join_keys_in_files());
        assert!(!ServerConfig::default().join_keys_in_files());
        let lengths: Vec<_> = files.join_verifier().unwrap().unwrap().secret_lengths().collect();
        assert_eq!(lengths, [(false, 39), (true, 3)]);
        assert_eq!(files.join_key_flag(true), Some("--join-previous-secret-file"));
        assert_eq!(inline.join_key_flag(false), Some("--join-secret"));
        std::fs::write(&previous, "\n").unwrap();
        assert_eq!(files.join_fingerprints(), &inline.join_fingerprints()[..1]);
        // Missing (deleted, where emptying was meant) is not none: a typo must not pass.
        std::fs::remove_file(&previous).unwrap();
        assert!(matches!(files.join_verifier(), Err(crate::auth::KeyError::Read(..))));
        std::fs::write(&current, "").unwrap();
        assert!(matches!(
            files.join_verifier(),
            Err(crate::auth::KeyError::EmptyFile(path)) if path.ends_with("current")
        ));
        assert_eq!(files.join_fingerprints(), ["unreadable"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An emptied variable is unset, so a manifest can move from `TICKWIRE_JOIN_SECRET` to the
    /// file by blanking it; two keys given in earnest are refused naming both.
    #[test]
    fn an_emptied_key_variable_is_unset_and_two_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("tickwire-key-two-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let blank = || Some(Secret(" \n".into()));
        let moved = ServerConfig {
            join_secret: blank(),
            join_secret_file: Some(file.clone()),
            join_previous_secret: blank(),
            join_previous_secret_file: Some(file.clone()),
            ..ServerConfig::default()
        };
        let from_file = ServerConfig {
            join_secret: Some("from-the-file".parse().unwrap()),
            ..ServerConfig::default()
        };
        let verifier = moved.join_verifier().unwrap().unwrap();
        assert_eq!(
            verifier.prints(),
            [from_file.join_fingerprints(), from_file.join_fingerprints()].concat()
        );
        assert_eq!(moved.join_key_flag(false), Some("--join-secret-file"));
        let both = ServerConfig { join_secret: Some("x".parse().unwrap()), ..moved.clone() };
        let refused = both.join_verifier().unwrap_err();
        assert!(matches!(&refused, crate::auth::KeyError::TwoKeys(flags) if flags.len() == 2));
        assert!(
            refused.to_string().contains(
                "--join-secret (TICKWIRE_JOIN_SECRET) and --join-secret-file \
                 (TICKWIRE_JOIN_SECRET_FILE) are both set"
            ),
            "{refused}"
        );
        let previous_twice =
            ServerConfig { join_previous_secret: Some("y".parse().unwrap()), ..moved.clone() };
        let refused = previous_twice.join_verifier().unwrap_err().to_string();
        assert!(
            refused.contains("(TICKWIRE_JOIN_PREVIOUS_SECRET) and --join-previous-secret-file"),
            "{refused}"
        );
        // Blank alone is still refused: it would make every token forgeable.
        let blank_only = ServerConfig { join_secret: blank(), ..ServerConfig::default() };
        assert!(matches!(blank_only.join_verifier(), Err(crate::auth::KeyError::EmptySecret)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_join_audience_and_issuer_reach_the_verifier() {
        use crate::auth::{AuthError, JoinClaims, MintKey, mint, unix_now};
        let mut config = ServerConfig::default();
        assert!(config.join_verifier().unwrap().is_none());
        config.join_secret = Some("s3cret".parse().unwrap());
        config.join_audience = Some("tickwire".into());
        let verifier = config.join_verifier().unwrap().expect("tokens are on");
        let claims = JoinClaims {
            sub: "ada".into(),
            exp: unix_now() + 60,
            nbf: None,
            room: None,
            role: None,
        };
        let token = mint(&claims, &MintKey::Secret("s3cret".into())).unwrap();
        assert!(
            matches!(verifier.verify(&token), Err(AuthError::Malformed(m)) if m.contains("aud")),
            "a token without the audience passed"
        );
    }

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("25h").is_err(), "past a day");
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0.0001").is_err());
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = ServerConfig::default();
        assert_eq!(c.bind.port(), 8080);
        assert_eq!(c.tick_rate, 30);
        assert_eq!(c.room_capacity, 32);
        assert_eq!(c.max_spectators, 3_000);
        let cores = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(c.max_spectators_total, 2_000 * cores);
        assert_eq!(c.room_chat_rate, 20);
        assert_eq!(c.resume_grace, Duration::from_secs(10));
        assert_eq!(c.close_timeout, Duration::from_secs(2));
        assert_eq!(c.http_headroom, 1024);
        assert_eq!(c.socket_send_buffer, 0, "the kernel's, autotuned");
        assert_eq!(c.socket_unsent_limit, 16 * 1024);
        assert_eq!(c.admin_bind, None, "one listener unless told otherwise");
        assert!(c.join_secret.is_none() && c.join_public_key.is_none());
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.proxy_header, crate::proxy::ProxyHeader::XForwardedFor);
        let secret: Secret = "hunter2".parse().unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"), "secrets stay out of Debug");
        assert!(!c.echo);
        assert_eq!(c.web_root, None);
        assert_eq!(c.public_url, None);
        assert_eq!(c.redis_url, None, "a single server unless told otherwise");
        assert_eq!(c.node_ttl, Duration::from_secs(10));
        assert_eq!(c.drain_timeout, Duration::from_secs(60));
        assert_eq!(c.drain_notice, Duration::from_secs(5));
    }

    #[test]
    fn flags_that_would_break_later_are_refused_naming_the_flag() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: ServerConfig,
        }
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["tickwire-server"], args].concat()).map(|cli| cli.config)
        };
        let refused = |args: &[&str]| parse(args).expect_err("refused").to_string();
        // 0 made every /echo upgrade panic (tungstenite asserts its write buffer's bound).
        assert!(refused(&["--echo-max-message", "0"]).contains("--echo-max-message"));
        assert!(refused(&["--echo-max-message", "99999999999"]).contains("--echo-max-message"));
        // u32::MAX wrapped the listener's limit to 1,023 connections.
        assert!(refused(&["--max-connections", "4294967295"]).contains("--max-connections"));
        // 0 refused every session as "too many from your address", and kept an entry for
        // every address that tried.
        let zero = refused(&["--max-connections-per-ip", "0"]);
        assert!(zero.contains("--max-connections-per-ip"), "{zero}");
        assert!(refused(&["--allowed-origins", "https://a.example,,"]).contains("empty origin"));
        // An operators' file that cannot be read, or names no one, is refused at start.
        let missing = refused(&["--admin-tokens", "/nonexistent/operators"]);
        assert!(missing.contains("--admin-tokens") && missing.contains("cannot read"), "{missing}");
        let dir = std::env::temp_dir().join(format!("tickwire-operators-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("operators");
        std::fs::write(&file, "alice\n").unwrap();
        let path = file.to_str().unwrap();
        let bad = refused(&["--admin-tokens", path]);
        assert!(
            bad.contains("--admin-tokens") && bad.contains("line 1: alice has no token"),
            "{bad}"
        );
        std::fs::write(&file, "alice a-token\nbob b-token\n").unwrap();
        let c = parse(&["--admin-tokens", path, "--admin-token", "solo"]).unwrap();
        let operators: Vec<_> = c.operators().collect();
        assert_eq!(operators, [("admin", "solo"), ("alice", "a-token"), ("bob", "b-token")]);
        assert!(c.moderation_on() && !ServerConfig::default().moderation_on());
        let _ = std::fs::remove_dir_all(dir);
        let c = parse(&[
            "--allowed-origins",
            "https://a.example, https://b.example/",
            "--echo-max-message",
            "1",
        ])
        .unwrap();
        assert_eq!(c.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.echo_max_message, 1);
        // Written as no browser sends it: refused at start, not 403 for every player.
        for bad in [
            "play.example.com",
            "1x://play.example.com",
            "https://play.example.com/game",
            "https://*.example.com",
        ] {
            let error = parse_origin(bad).unwrap_err();
            assert!(error.contains("an origin is scheme://host[:port]"), "{bad}: {error}");
        }
        assert_eq!(
            parse_origin("HTTPS://Play.Example.com:8443/"),
            Ok("https://play.example.com:8443".into())
        );
        // An app's own scheme is an origin a browser engine sends.
        assert_eq!(parse_origin("capacitor://localhost"), Ok("capacitor://localhost".into()));
        let error = refusal(&["--allowed-origins", "play.example.com"]).expect("refused");
        assert!(error.contains("--allowed-origins"), "{error}");
    }

    /// The command the binary parses its flags with (the same attributes, flattened).
    #[derive(clap::Parser)]
    struct TestCli {
        #[command(flatten)]
        config: ServerConfig,
    }

    /// Parses `args`; the rendered error when refused.
    fn refusal(args: &[&str]) -> Option<String> {
        use clap::Parser;
        let args = [&["tickwire-server"], args].concat();
        TestCli::try_parse_from(args).err().map(|e| e.render().to_string())
    }

    /// The arena's flags reach the arena every room runs, and what the wire or the game
    /// cannot carry is refused naming the flag.
    #[test]
    fn the_arena_flags_set_the_arena_and_refuse_what_it_cannot_run() {
        use clap::Parser;
        let defaults = ServerConfig::default().arena();
        assert_eq!(defaults, ArenaConfig::default(), "no flags: the arena as it always was");
        let args = [
            "tickwire-server",
            "--world-size",
            "800x2047",
            "--round-time",
            "3m",
            "--intermission",
            "0",
            "--pickups",
            "0",
        ];
        let arena = TestCli::try_parse_from(args).unwrap().config.arena();
        assert_eq!((arena.width, arena.height), (800, 2047));
        assert_eq!((arena.round_secs, arena.intermission_secs), (180.0, 0.0));
        assert_eq!(arena.pickup_count, 0);
        assert_eq!(arena.motion, defaults.motion, "the ships fly as the browser predicts them");
        for (flag, value) in [
            ("--world-size", "1600"),
            ("--world-size", "63x100"),
            ("--world-size", "100x2048"),
            ("--world-size", "axb"),
            ("--round-time", "0.5s"),
            ("--round-time", "601m"),
            ("--intermission", "11m"),
            ("--pickups", "513"),
        ] {
            let refused = refusal(&[flag, value]).unwrap_or_else(|| panic!("{flag} {value} taken"));
            assert!(refused.contains(flag) && refused.contains(value), "{refused}");
        }
    }

    /// 0 inputs (or chat lines) a second closed every player once its burst was spent.
    #[test]
    fn rates_that_would_close_every_client_are_refused_naming_the_flag() {
        for flag in ["--input-rate", "--chat-rate"] {
            let refused = refusal(&[flag, "0"]).expect("0 refused");
            assert!(refused.contains(flag), "{refused}");
            assert_eq!(refusal(&[flag, "1"]), None);
        }
        assert_eq!(refusal(&["--room-chat-rate", "0"]), None, "0 relays no chat, closes nobody");
    }

    /// Flags that mean nothing without another, which would otherwise be ignored in silence,
    /// are refused naming both.
    #[test]
    fn flags_that_need_another_are_refused_without_it_naming_both() {
        for (alone, missing) in [
            (&["--join-audience", "tickwire"][..], "--join-secret"),
            (&["--join-issuer", "https://id.example"][..], "--join-public-key"),
            (&["--join-previous-public-key", "old.pem"][..], "--join-public-key"),
            (&["--proxy-header", "forwarded"][..], "--trusted-proxies"),
        ] {
            let refused = refusal(alone).expect("refused");
            assert!(refused.contains(alone[0]), "{refused}");
            assert!(refused.contains(missing), "{refused}");
        }
        assert_eq!(refusal(&["--join-audience", "a", "--join-secret", "s"]), None);
        assert_eq!(refusal(&["--join-issuer", "i", "--join-public-key", "k.pem"]), None);
        let rotating = ["--join-public-key", "new.pem", "--join-previous-secret", "old"];
        assert_eq!(refusal(&rotating), None);
        // A previous secret alone parses (its variable may be emptied: no previous key), and
        // the start refuses one given in earnest, naming the keys it lacks.
        let parsed = |args: &[&str]| {
            use clap::Parser;
            TestCli::try_parse_from([&["tickwire-server"], args].concat()).unwrap().config
        };
        let emptied = parsed(&["--join-previous-secret", ""]).join_verifier();
        assert!(emptied.is_ok_and(|verifier| verifier.is_none()), "no keys at all");
        let alone =
            parsed(&["--join-previous-secret", "old"]).join_verifier().map(|_| ()).unwrap_err();
        assert!(alone.to_string().contains("--join-secret"), "{alone}");
        // Two previous keys parse (one may be an emptied variable): `join_verifier` refuses
        // two given in earnest (an_emptied_key_variable_is_unset_and_two_keys_are_refused).
        let moved = ["--join-secret", "", "--join-secret-file", "s", "--join-previous-secret", ""];
        assert_eq!(refusal(&[&moved[..], &["--join-previous-secret-file", "p"]].concat()), None);
        let proxied = ["--proxy-header", "forwarded", "--trusted-proxies", "10.0.0.1"];
        assert_eq!(refusal(&proxied), None);
        assert_eq!(refusal(&[]), None, "the defaults (x-forwarded-for) need nothing");
    }

    /// Every boolean flag's variable takes what environments write for a boolean (`1`, `yes`,
    /// `on`, ...), and a refusal names the variable. Set for a child process (this test binary
    /// again, running this test alone), never in this one, where other tests read it.
    #[test]
    fn boolean_flags_take_the_usual_spellings_from_the_environment() {
        const CHILD: &str = "TICKWIRE_BOOL_ENV_CHILD";
        let cmd = <TestCli as clap::CommandFactory>::command();
        let flags: Vec<(String, String)> = cmd
            .get_arguments()
            .filter(|a| matches!(a.get_action(), clap::ArgAction::SetTrue))
            .filter_map(|a| {
                Some((a.get_id().to_string(), a.get_env()?.to_string_lossy().into_owned()))
            })
            .collect();
        if std::env::var_os(CHILD).is_some() {
            match cmd.try_get_matches_from(["tickwire-server"]) {
                Ok(matches) => {
                    for (id, _) in &flags {
                        println!("{id}={}", matches.get_flag(id));
                    }
                }
                Err(e) => println!("refused: {}", e.render()),
            }
            return;
        }
        let ids: Vec<&str> = flags.iter().map(|(id, _)| id.as_str()).collect();
        assert!(ids.contains(&"echo") && ids.contains(&"io_uring"), "{ids:?}");
        let child = |value: &str| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "config::tests::boolean_flags_take_the_usual_spellings_from_the_environment",
                ])
                .args(["--exact", "--nocapture"])
                .envs(flags.iter().map(|(_, var)| (var.as_str(), value)))
                .env(CHILD, "1")
                .output()
                .expect("the test binary runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        for (value, expected) in
            [("1", true), ("yes", true), ("On", true), ("0", false), ("off", false)]
        {
            let printed = child(value);
            for (id, var) in &flags {
                assert!(printed.contains(&format!("{id}={expected}")), "{var}={value}: {printed}");
            }
        }
        let refused = child("maybe");
        assert!(refused.contains("refused: "), "{refused}");
        assert!(refused.contains("'maybe'"), "{refused}");
        assert!(flags.iter().any(|(_, var)| refused.contains(var.as_str())), "{refused}");
    }

    #[test]
    fn cluster_flags_are_checked() {
        assert!(parse_redis_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(parse_redis_url("http://127.0.0.1:6379").is_err());
        assert_eq!(parse_node_id("node-a.1").as_deref(), Ok("node-a.1"));
        assert!(parse_node_id("a b").is_err());
        assert!(parse_node_id(&"x".repeat(49)).is_err());
        assert_eq!(parse_node_url("ws://10.0.0.5:8080").as_deref(), Ok("ws://10.0.0.5:8080/ws"));
        assert_eq!(parse_node_url("ws://n1:8080/ws").as_deref(), Ok("ws://n1:8080/ws"));
        assert!(parse_node_url("wss://n1/ws").is_err());
        assert!(parse_node_url("ws:///ws").is_err());
        assert_eq!(parse_node_url("ws://10.0.0.5/ws").as_deref(), Ok("ws://10.0.0.5/ws"));
        assert_eq!(parse_node_url("ws://[fd00::5]:8080").as_deref(), Ok("ws://[fd00::5]:8080/ws"));
        assert!(parse_node_url("ws://10.0.0.5:/ws").is_err());
        assert!(parse_node_url("ws://10.0.0.5:http/ws").is_err());
        assert!(parse_node_url("ws://10.0.0.5:0/ws").is_err());
        let unbracketed = parse_node_url("ws://fd00::5:8080/ws").unwrap_err();
        assert!(unbracketed.contains("brackets"), "{unbracketed}");
        assert!(parse_node_url("ws://fd00::5/ws").is_err());
        assert!(parse_node_ttl("100ms").is_err());
        assert_eq!(parse_node_ttl("2s"), Ok(Duration::from_secs(2)));
    }

    /// Renewed every third of the TTL, a node whose Redis replies as slowly as the timeout
    /// allows lapses with one lost renewal unless the TTL is three timeouts or more.
    #[test]
    fn a_config_changed_after_parsing_is_checked_as_the_flags_are() {
        assert_eq!(ServerConfig::default().check(), Ok(()), "the defaults");
        let with = |change: fn(&mut ServerConfig)| {
            let mut config = ServerConfig::default();
            change(&mut config);
            config.check()
        };
        assert_eq!(with(|c| c.tick_rate = 0), Err("--tick-rate is 0, outside 1 to 120".into()));
        assert_eq!(with(|c| c.tick_rate = 120), Ok(()));
        assert_eq!(
            with(|c| c.tick_rate = 121).unwrap_err(),
            "--tick-rate is 121, outside 1 to 120"
        );
        assert!(with(|c| c.room_capacity = 0).unwrap_err().starts_with("--room-capacity is 0"));
        assert!(with(|c| c.room_capacity = 1001).is_err());
        assert!(with(|c| c.pickups = 513).unwrap_err().starts_with("--pickups"));
        assert!(with(|c| c.input_rate = 0).unwrap_err().starts_with("--input-rate"));
        assert!(with(|c| c.world_size.height = 2048).unwrap_err().contains("height"));
        assert!(with(|c| c.world_size.width = 63).unwrap_err().contains("width"));
        let zero = with(|c| c.idle_timeout = Duration::ZERO).unwrap_err();
        assert_eq!(zero, "--idle-timeout must be at least 1ms");
        assert!(with(|c| c.round_time = Duration::ZERO).unwrap_err().starts_with("--round-time"));
        let long = with(|c| c.intermission = Duration::from_secs(3600)).unwrap_err();
        assert!(long.starts_with("--intermission"), "{long}");
        assert!(with(|c| c.room_threads = 5000).unwrap_err().starts_with("--room-threads"));
        assert!(with(|c| c.room_priority = 50).unwrap_err().starts_with("--room-priority"));
        assert!(with(|c| c.max_request_head = 0).unwrap_err().starts_with("--max-request-head"));
        assert!(with(|c| c.http_headroom = 0).unwrap_err().starts_with("--http-headroom"));
        let unsent = with(|c| c.socket_unsent_limit = (16 << 20) + 1).unwrap_err();
        assert!(unsent.starts_with("--socket-unsent-limit"), "{unsent}");
        assert_eq!(with(|c| c.socket_unsent_limit = 0), Ok(()), "the kernel's own");
        // What the flags take, the check takes: each range is the one their parsers use.
        use clap::Parser;
        let parsed = |flags: &[&str]| {
            TestCli::try_parse_from([&["tickwire-server"][..], flags].concat())
                .map(|cli| cli.config)
        };
        let taken = [
            &["--tick-rate", "120"][..],
            &["--room-capacity", "1000"],
            &["--pickups", "512"],
            &["--socket-unsent-limit", "16777216"],
        ];
        for flags in taken {
            assert_eq!(parsed(flags).expect("taken").check(), Ok(()), "{flags:?}");
        }
        let refused = [
            &["--tick-rate", "121"][..],
            &["--room-capacity", "1001"],
            &["--pickups", "513"],
            &["--socket-unsent-limit", "16777217"],
        ];
        for flags in refused {
            assert!(parsed(flags).is_err(), "{flags:?}");
        }
    }

    #[test]
    fn a_node_ttl_below_three_redis_timeouts_is_refused_naming_both_flags() {
        let fleet = |ttl: u64, timeout: u64| ServerConfig {
            redis_url: Some("redis://127.0.0.1/".into()),
            node_ttl: Duration::from_millis(ttl),
            redis_timeout: Duration::from_millis(timeout),
            ..ServerConfig::default()
        };
        let refused = fleet(300, 1000).check_node_ttl().unwrap_err();
        assert!(refused.contains("--node-ttl (300ms)"), "{refused}");
        assert!(refused.contains("--redis-timeout (1s)"), "{refused}");
        assert!(fleet(2999, 1000).check_node_ttl().is_err());
        assert_eq!(fleet(3000, 1000).check_node_ttl(), Ok(()));
        assert_eq!(ServerConfig::default().check_node_ttl(), Ok(()), "the defaults");
        assert_eq!(fleet(10_000, 1000).check_node_ttl(), Ok(()));
        // A single server has no registration to keep.
        let single = ServerConfig { redis_url: None, ..fleet(300, 1000) };
        assert_eq!(single.check_node_ttl(), Ok(()));
    }

    /// A Redis URL clap refuses is not echoed: clap's own "invalid value '<value>'" would print
    /// the password, and so would a parser's message that quotes the text.
    #[test]
    fn a_refused_redis_url_is_not_echoed() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: ServerConfig,
        }
        for url in ["rediss://:hunter2@10.0.0.2:6379/0", "http://:hunter2@10.0.0.2", "hunter2@h"] {
            let refused = Cli::try_parse_from(["tickwire-server", "--redis-url", url])
                .err()
                .expect("refused");
            let rendered = refused.render().to_string();
            assert!(!rendered.contains("hunter2"), "{rendered}");
            assert!(!format!("{refused:?}").contains("hunter2"), "{refused:?}");
            assert!(rendered.contains("--redis-url"), "names the flag: {rendered}");
            assert!(rendered.contains("redis://"), "says what is wanted: {rendered}");
            assert_eq!(refused.kind(), clap::error::ErrorKind::ValueValidation);
            assert!(!parse_redis_url(url).unwrap_err().contains("hunter2"));
        }
        assert!(parse_redis_url("rediss://h").unwrap_err().contains("TLS"));
        let cli = Cli::try_parse_from(["tickwire-server", "--redis-url", " redis://:pw@h:1/0 "]);
        assert_eq!(cli.ok().and_then(|c| c.config.redis_url).as_deref(), Some("redis://:pw@h:1/0"));
    }

    /// A configuration printed with `{:?}` (a log line, a panic message) shows where Redis is
    /// but not its password.
    #[test]
    fn debug_hides_the_redis_password() {
        let config = ServerConfig {
            redis_url: Some("redis://:hunter2@10.0.0.2:6379/0".into()),
            ..ServerConfig::default()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("redis://***@10.0.0.2:6379/0"), "{printed}");
        let cases = [
            ("redis://user:pw@h/0", "redis://***@h/0"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("unix:///run/redis.sock?pass=pw", "unix:///run/redis.sock?***"),
            ("redis://h/0?x=a@b", "redis://h/0?***"),
            ("redis://:p@w@h", "redis://***@h"),
        ];
        for (url, shown) in cases {
            assert_eq!(RedisUrl::from(url).redacted(), shown);
        }
    }

    /// The environment this test's child sets, and what must not show in `--help`.
    const SECRET_ENV: [(&str, &str); 2] = [
        ("TICKWIRE_REDIS_URL", "redis://:hunter2@10.0.0.2:6379/0"),
        ("TICKWIRE_JOIN_SECRET", "correct-horse-battery-staple"),
    ];

    /// Secrets set in the environment stay out of `--help`, which otherwise shows each
    /// variable's value (`[env: TICKWIRE_REDIS_URL=redis://:pw@...]`). The environment is set
    /// for a child process (this test binary again, running this test alone as the child),
    /// never in this one, where other tests read it concurrently.
    #[test]
    fn help_shows_no_secret_from_the_environment() {
        const CHILD: &str = "TICKWIRE_PRINT_HELP_CHILD";
        if std::env::var_os(CHILD).is_some() {
            #[derive(clap::Parser)]
            struct Cli {
                #[command(flatten)]
                config: ServerConfig,
            }
            let mut cmd = <Cli as clap::CommandFactory>::command();
            println!("{}", cmd.render_long_help());
            println!("{}", cmd.render_help());
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["config::tests::help_shows_no_secret_from_the_environment", "--exact"])
            .arg("--nocapture")
            .envs(SECRET_ENV)
            .env(CHILD, "1")
            .output()
            .expect("the test binary runs");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{help}{}", String::from_utf8_lossy(&out.stderr));
        assert!(help.contains("[env: TICKWIRE_REDIS_URL"), "the help was printed: {help}");
        assert!(help.contains("[env: TICKWIRE_JOIN_SECRET"), "{help}");
        for (_, secret) in SECRET_ENV {
            assert!(!help.contains(secret), "{secret} in --help:\n{help}");
        }
        assert!(!help.contains("hunter2"), "{help}");
    }

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(
            parse_public_url("https://play.example.com/").as_deref(),
            Ok("https://play.example.com")
        );
        assert_eq!(
            parse_public_url("http://10.0.0.5:8080/tw").as_deref(),
            Ok("http://10.0.0.5:8080/tw")
        );
        assert!(parse_public_url("play.example.com").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("https://x.com/?a=1").is_err());
    }
}
