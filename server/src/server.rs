//! The listener: accepts TCP connections, serves HTTP/1.1 on each (with upgrades), and shuts
//! everything down when told.
//!
//! `run(listener, config, shutdown)` returns once every client got its close 1001 and every
//! task ended, or after [`ServerConfig::shutdown_timeout`], whichever comes first.
//! `run_with_admin` also serves the operators' routes on a listener of their own, and
//! [`Server`] runs rooms of a game other than the arena.

use crate::config::ServerConfig;
use crate::context::{ServerContext, TcpRefusal};
use crate::game::{GameFactory, Games};
use crate::http::{
    ClientAddr, PeerAddr, opens_connection, refuse_large_head, refuse_too_fast, router,
    routers_with_admin,
};
use crate::proxy::{Peer, client_ip};
use crate::stall::WriteDeadline;
use crate::tls::{Certificates, TLS_HANDSHAKE_RECORD};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, error, info, warn};

/// Refusals of over-cap connections under way at once (over their address's cap, or over the
/// server's limit of HTTP connections); past it, such a connection is closed without an
/// answer. A refusal holds its socket for up to a few seconds (the TLS handshake, the answer,
/// the linger) and counts against no other bound: without this, a peer opening connections
/// faster than that holds sockets in proportion to its rate and can run the process out of
/// file descriptors, for everyone.
pub const REFUSALS_IN_FLIGHT: usize = 64;

/// Why a connection is refused as soon as it is accepted, before its request is read.
#[derive(Debug, Clone, Copy)]
enum EarlyRefusal {
    /// Its address holds this many connections already (429).
    BusyAddress(u32),
    /// The server holds its limit of HTTP connections (503): `--max-connections` and
    /// `--http-headroom` together.
    ServerBusy,
    /// Its address opened this many connections in the last second (429); plain HTTP only.
    TooFast(u32),
}

/// Answers a connection refused on accepting it (a 429 or a 503) and closes it, without
/// reading its request (bounded: a peer that does not read gets dropped). On the TLS port the
/// answer goes inside a TLS session, or the client would see only a protocol error.
async fn refuse_early(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    refusal: EarlyRefusal,
    handshake_timeout: Duration,
) {
    let Some(acceptor) = tls else {
        return answer_early(stream, refusal).await;
    };
    match tokio::time::timeout(handshake_timeout, starts_with_tls(&stream)).await {
        Ok(Some(true)) => {
            let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(stream));
            if let Ok(Ok(tls)) = handshake.await {
                answer_early(tls, refusal).await;
            }
        }
        Ok(Some(false)) => answer_early(stream, refusal).await,
        // Gone before a byte, or silent: nobody to answer.
        Ok(None) | Err(_) => {}
    }
}

/// The 429 or 503 itself, written and the connection closed.
async fn answer_early<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, refusal: EarlyRefusal) {
    use tokio::io::AsyncWriteExt;
    let (status, body) = match refusal {
        EarlyRefusal::BusyAddress(limit) => (
            "429 Too Many Requests",
            format!(
                "too many connections from your address (limit {limit}; an IPv6 /48 holds \
                 {} at most); retry later\n",
                limit.saturating_mul(crate::context::ADDRESSES_PER_IPV6_SITE)
            ),
        ),
        EarlyRefusal::ServerBusy => (
            "503 Service Unavailable",
            "the server holds as many connections as it takes; retry later\n".to_string(),
        ),
        EarlyRefusal::TooFast(limit) => {
            ("429 Too Many Requests", format!("{}\n", crate::http::too_fast_message(limit)))
        }
    };
    let retry_after = match refusal {
        EarlyRefusal::TooFast(_) => 1,
        EarlyRefusal::BusyAddress(_) | EarlyRefusal::ServerBusy => 5,
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: {retry_after}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    // The request it sent is still unread: read it off, or the close becomes a reset that can
    // destroy the answer before the client reads it.
    crate::connection::linger(&mut stream, Duration::from_secs(1)).await;
}

/// Serves on `listener` until `shutdown` resolves, then closes every client with 1001. The
/// listener stays open until they are closed (or [`ServerConfig::shutdown_timeout`]): a
/// connection accepted meanwhile gets one answer (`/healthz` 503, an upgrade 503, `/livez`,
/// `/rooms` and `/metrics` as usual), so that load balancers and scrapers read the shutdown
/// rather than a refused connection.
///
/// With [`ServerConfig::redis_url`] the server is a node of a fleet ([`crate::cluster`]):
/// it registers in the room directory, and when `shutdown` resolves it drains first (leaves
/// matchmaking, `/healthz` 503, matches go on up to [`ServerConfig::drain_timeout`] or until
/// none is left), then leaves the directory and closes every client with 1001.
///
/// With [`ServerConfig::tls_cert`] and [`ServerConfig::tls_key`] it serves `https://` and
/// `wss://` and reloads the files on SIGHUP (Unix). If they cannot be loaded it logs why and
/// returns at once: a binary checks them first ([`crate::tls::Certificates::load`]) to exit
/// with a message naming the flag. A SIGHUP also reads the join keys given as files again
/// (`--join-secret-file`, the public keys) and the operators' tokens (`--admin-tokens`);
/// with nothing to reload it is logged and changes nothing: it never ends the process.
///
/// Connections still speaking HTTP (not upgraded to a WebSocket) are bounded by
/// [`ServerConfig::max_connections`] plus [`ServerConfig::http_headroom`]; past it a new
/// connection is accepted and refused at once with a 503, counted in
/// `tickwire_refused_total{reason="http_full"}`.
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: impl Future) {
    Server::new(config).run(listener, shutdown).await;
}

/// [`run`], with the operators' routes (`/metrics`, `/livez`, `/healthz`, `/stats`, `/rooms`,
/// `/nodes`, `/dashboard`) also served on `admin` ([`ServerConfig::admin_bind`]), and
/// `/metrics` only there. The admin listener has a pool of its own ([`ADMIN_CONNECTIONS`],
/// [`ADMIN_CONNECTIONS_PER_IP`] of an address), so a public port full of clients does not fail
/// a liveness probe or a scrape; it is plain HTTP, meant for a private network. It serves
/// through the drain and stops with the public listener.
pub async fn run_with_admin(
    listener: TcpListener,
    admin: TcpListener,
    config: ServerConfig,
    shutdown: impl Future,
) {
    Server::new(config).admin(admin).run(listener, shutdown).await;
}

/// A server with everything [`run`] takes by default spelled out: the game its rooms run and
/// the operators' listener.
///
/// ```no_run
/// use tickwire_server::game::arena::{Arena, ArenaConfig};
/// use tickwire_server::shared::RoomName;
/// use tickwire_server::{Server, ServerConfig};
///
/// # async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) {
/// // Rooms named `long-...` play 10-minute rounds, the others the flags' arena (a game of
/// // your own is any `impl Game`).
/// let flags = config.arena();
/// Server::new(config)
///     .games(move |room: RoomName, seed: u64| {
///         let long = room.as_str().starts_with("long-");
///         let round_secs = if long { 600.0 } else { flags.round_secs };
///         Arena::new(ArenaConfig { round_secs, ..flags.clone() }, seed)
///     })
///     .run(listener, tokio::signal::ctrl_c())
///     .await;
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    games: Games,
    admin: Option<TcpListener>,
}

impl Server {
    /// A server of `config` whose rooms run its arena ([`ServerConfig::arena`]), without an
    /// admin listener: [`ServerConfig::admin_bind`] is for the binary to bind and hand to
    /// [`Server::admin`]. A config built or changed by hand is checked by
    /// [`ServerConfig::check`], which names the setting at fault; one that does not pass is
    /// served as it is, with a warning in the log.
    pub fn new(config: ServerConfig) -> Self {
        let games = Games::arena(config.arena());
        Server { config, games, admin: None }
    }

    /// Every room this server opens runs what `factory` makes ([`GameFactory`]).
    pub fn games(mut self, factory: impl GameFactory) -> Self {
        self.games = Games::new(factory);
        self
    }

    /// [`Server::games`] for a factory already shared.
    pub(crate) fn with_games(mut self, games: Games) -> Self {
        self.games = games;
        self
    }

    /// The operators' routes are also served on `admin`, and `/metrics` only there (see
    /// [`run_with_admin`]).
    pub fn admin(mut self, admin: TcpListener) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Serves on `listener` until `shutdown` resolves, as [`run`] does.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future) {
        serve(listener, self.admin, self.config, self.games, shutdown).await;
    }
}

/// Connections the admin listener serves at once: a scraper, probes and a few dashboards need
/// a handful. Past it, or past [`ADMIN_CONNECTIONS_PER_IP`] from one address, a new connection
/// is answered 503 (while a few such answers are under way; closed unanswered past them),
/// counted as `tickwire_refused_total{reason="admin_full"}`.
pub const ADMIN_CONNECTIONS: usize = 32;

/// Admin connections one address may hold: one peer that can reach the admin port must not be
/// able to hold every place, and with them the liveness probe.
pub const ADMIN_CONNECTIONS_PER_IP: usize = 8;

/// Admin refusals answered at once; past them a refused connection is closed unanswered.
const ADMIN_REFUSALS: usize = 8;

/// How long an admin connection must have been waiting for a request (since it was accepted,
/// or since its last answer) before a new connection may take its place when the pool is
/// full: a probe's or a scraper's request arrives within milliseconds of its connection.
pub const ADMIN_QUIET_BEFORE_EVICTION: Duration = Duration::from_millis(50);

/// Connections an address may open a second that take another's place in a full pool, after a
/// burst of [`ADMIN_NEW_CONNECTIONS_BURST`] (a connection that finds a free place is not
/// counted): a peer cannot open them fast enough to keep its share of the places younger than
/// [`ADMIN_QUIET_BEFORE_EVICTION`] (that would take 160 a second), so a few addresses cannot
/// keep every place too young to be taken.
const ADMIN_NEW_CONNECTIONS_PER_SECOND: u32 = 64;

/// See [`ADMIN_NEW_CONNECTIONS_PER_SECOND`].
const ADMIN_NEW_CONNECTIONS_BURST: u32 = 128;

async fn serve(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: ServerConfig,
    games: Games,
    shutdown: impl Future,
) {
    if let Err(e) = config.check() {
        // A program's own config (`command::main` refuses to start with one): served as it is,
        // each value taken at the nearest it can be (a tick rate of 0 ticks once a second).
        tracing::warn!(error = %e, "the server's config is outside what its flags allow");
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_timeout = config.shutdown_timeout;
    // Connections still speaking HTTP (not yet upgraded, or an HTTP fallback session's): as
    // many as there may be WebSocket sessions, upgrading, and the headroom beyond.
    let http_limit = Arc::new(Semaphore::new(
        config.max_connections.saturating_add(config.http_headroom) as usize,
    ));
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => match Certificates::load(cert, key) {
            Ok(certificates) => Some(certificates),
            Err(e) => {
                error!(error = %e, "cannot serve TLS (--tls-cert, --tls-key)");
                return;
            }
        },
        _ => None,
    };
    let join = match config.join_verifier() {
        Ok(join) => join.map(|verifier| Arc::new(crate::auth::JoinKeys::new(verifier))),
        Err(e) => {
            error!(error = %e, "cannot check join tokens ({JOIN_KEY_FLAGS})");
            return;
        }
    };
    let fleet = match &config.redis_url {
        None => None,
        Some(_) => {
            let bound = listener.local_addr().unwrap_or(config.bind);
            match crate::cluster::Cluster::new(&config, bound, join.clone()) {
                Ok(cluster) => Some(cluster),
                Err(e) => {
                    error!(error = %e, "cannot use the room directory (--redis-url)");
                    return;
                }
            }
        }
    };
    let drain_timeout = config.drain_timeout;
    let drain_notice = config.drain_notice.min(drain_timeout);
    let ctx = ServerContext::with_games(config, shutdown_rx, fleet.clone(), games);
    let registration = fleet
        .as_ref()
        .map(|cluster| ctx.tasks.spawn(crate::cluster::run(cluster.clone(), ctx.clone())));
    ctx.tasks.spawn(crate::room::watch_stuck_rooms(ctx.clone()));
    if let Some(cluster) = &fleet {
        ctx.tasks.spawn(crate::cluster::selfcheck::run(cluster.clone(), ctx.clone()));
        ctx.tasks.spawn(crate::moderation::sync_fleet_bans(cluster.clone(), ctx.clone()));
    }
    // Which keys this node takes, by the prints nodes compare on every relay: what an operator
    // rotating a key checks against the other nodes' logs.
    if let Some(keys) = &join {
        show_join_keys(&keys.current(), &ctx, "join tokens required");
    } else if fleet.is_some() {
        warn!(
            "this fleet node checks no join tokens: it admits anyone to the rooms it hosts; if \
             the fleet's other nodes check them, give this one the same --join-secret, \
             --join-secret-file or --join-public-key"
        );
    }
    if let Some(join) = join {
        let _ = ctx.join.set(join);
    }
    if ctx.config.admin_token.is_some() && ctx.config.moderation_token().is_none() {
        warn!("--admin-token is blank: it lets no operator in");
    }
    for (operator, token) in ctx.config.operators() {
        if crate::auth::is_weak_secret(token) {
            warn!(
                operator,
                bytes = token.len(),
                minimum = crate::auth::MIN_SECRET_BYTES,
                "an operator's token is shorter than {} bytes: whoever guesses it may remove \
                 and ban players; use 32 random bytes or more (`openssl rand -base64 32`)",
                crate::auth::MIN_SECRET_BYTES
            );
        }
    }
    for proxy in ctx.config.trusted_proxies.iter().filter(|p| p.trusts_everyone()) {
        warn!(
            trusted_proxy = %proxy.0,
            "--trusted-proxies {} trusts every address: any client can write any address in \
             {} and have it believed, escaping its per-address caps and rate limits and \
             naming someone else in the logs; list only your proxies' addresses",
            proxy.0,
            ctx.config.proxy_header.name()
        );
    }
    let (app, admin) = match admin {
        None => (router(ctx.clone()), None),
        Some(admin) => {
            let (public, operators) = routers_with_admin(ctx.clone());
            (public, Some((admin, operators)))
        }
    };
    // The listeners stay open until the clients are closed (or the shutdown timeout), so
    // that probes, scrapes and late clients get answers (`/healthz` 503, upgrades 503) rather
    // than a refused connection: a load balancer then takes the node out for what it says.
    let listeners_closed = CancellationToken::new();
    // Also when this future is dropped before its end (a library user aborting `run`): the
    // admin listener must not outlive it.
    let _admin_guard = listeners_closed.clone().drop_guard();
    let admin = admin.map(|(admin, operators)| {
        tokio::spawn(serve_admin(admin, operators, ctx.clone(), listeners_closed.clone()))
    });
    // Before the first connection is accepted, so that a SIGHUP from then on never kills it.
    listen_for_sighup(tls.clone(), &ctx);
    let doors = Doors {
        acceptor: tls.as_ref().map(|certificates| certificates.acceptor()),
        refusals: Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT)),
        http_limit,
        app,
        ctx: ctx.clone(),
    };
    // Resolves when the server should stop taking clients: at `shutdown`, or, for a node of a
    // fleet, once its drain is over.
    let stop = async {
        shutdown.await;
        if fleet.is_some() {
            ctx.start_draining();
            drain(&ctx, drain_timeout, drain_notice).await;
        }
    };
    tokio::pin!(stop);

    let mut backoff = Backoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match backoff.accepted(accepted, &ctx, "").await {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        if let Some(connection) = doors.open(stream, peer, Serving::UntilShutdown) {
            ctx.tasks.spawn(connection);
        }
    }

    if let Some(cluster) = &fleet {
        // Before the 1001: its clients come back through other nodes at once, and the
        // directory must no longer send them here.
        cluster.leave(registration).await;
    }
    info!("shutting down: closing every client with 1001");
    let _ = shutdown_tx.send(true);
    ctx.tasks.close();
    let closed = tokio::time::timeout(shutdown_timeout, ctx.tasks.wait());
    tokio::pin!(closed);
    // Connections accepted from now on answer one request each (`/healthz` 503, `/livez`,
    // `/rooms`, an upgrade's 503) and are not waited for: dropped with the listener.
    let mut late = JoinSet::new();
    let closed = loop {
        let (stream, peer) = tokio::select! {
            closed = &mut closed => break closed,
            Some(_) = late.join_next(), if !late.is_empty() => continue,
            accepted = listener.accept() => match backoff.accepted(accepted, &ctx, "").await {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        if let Some(connection) = doors.open(stream, peer, Serving::OneRequest) {
            late.spawn(connection);
        }
    };
    drop(listener);
    listeners_closed.cancel();
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    if closed.is_err() {
        error!(remaining = ctx.tasks.len(), "shutdown timed out; dropping remaining tasks");
    } else {
        info!("shutdown complete");
    }
}

/// `accept()`'s failures: counted, logged, and waited out with a growing pause (usually the
/// process is out of file descriptors: spinning would only burn the CPU that frees them).
#[derive(Debug)]
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_millis(10))
    }
}

impl Backoff {
    /// The accepted connection, or `None` after a failure has been waited out.
    async fn accepted<T>(
        &mut self,
        accepted: std::io::Result<T>,
        ctx: &ServerContext,
        listener: &str,
    ) -> Option<T> {
        match accepted {
            Ok(accepted) => {
                self.0 = Duration::from_millis(10);
                Some(accepted)
            }
            Err(e) => {
                ctx.metrics.refused("accept_failed");
                warn!(error = %e, "{listener}accept failed; backing off");
                tokio::time::sleep(self.0).await;
                self.0 = (self.0 * 2).min(Duration::from_secs(1));
                None
            }
        }
    }
}

/// What the public listener lets a new connection through: the per-address and server-wide
/// caps, TLS, then HTTP.
struct Doors {
    acceptor: Option<TlsAcceptor>,
    /// Refusals under way ([`REFUSALS_IN_FLIGHT`]).
    refusals: Arc<Semaphore>,
    /// Connections speaking HTTP ([`ServerConfig::http_headroom`]).
    http_limit: Arc<Semaphore>,
    app: axum::Router,
    ctx: Arc<ServerContext>,
}

impl Doors {
    /// The task serving `stream`, or `None` when it is refused (answered by a task of its
    /// own, or closed).
    fn open(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        serving: Serving,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        let ctx = &self.ctx;
        // A trusted proxy carries many clients: each is capped by its own address instead.
        // Canonical: on a dual-stack listener an IPv4 peer arrives as `::ffff:a.b.c.d`.
        let peer_ip = crate::proxy::canonical(peer.ip());
        let trusted = ctx.is_trusted_proxy(peer_ip)
            || ctx.cluster().is_some_and(|cluster| cluster.is_peer(peer_ip));
        // Past the refusals' own bound a refused connection closes unanswered (dropped).
        let refuse = |stream, refusal| {
            if let Ok(slot) = self.refusals.clone().try_acquire_owned() {
                let refusal = refuse_early(
                    stream,
                    self.acceptor.clone(),
                    refusal,
                    ctx.config.handshake_timeout,
                );
                let answer = async move {
                    let _slot = slot;
                    refusal.await;
                };
                // During the shutdown nobody waits for a refusal: clients reconnecting at
                // once after their 1001 must not hold the shutdown up to its timeout.
                if serving == Serving::OneRequest {
                    tokio::spawn(answer);
                } else {
                    ctx.tasks.spawn(answer);
                }
            }
        };
        let tcp_permit = if trusted {
            None
        } else {
            match ctx.admit_tcp(peer_ip, tokio::time::Instant::now()) {
                Ok(permit) => Some(permit),
                Err(TcpRefusal::TooMany) => {
                    // Apart from the sessions' `per_ip`: this cap is hit by idle or
                    // plain-HTTP connections, before any request is read.
                    let limit = ctx.tcp_limit_per_ip();
                    let why = format!("holds {limit} TCP connections already");
                    ctx.metrics.refused_from("tcp_per_ip", Some(&Peer::direct(peer)), &why);
                    refuse(stream, EarlyRefusal::BusyAddress(limit));
                    return None;
                }
                Err(TcpRefusal::TooFast) => {
                    let rate = ctx.new_connections_per_second();
                    let why = format!("opened more than {rate} connections in a second");
                    ctx.metrics.refused_from("tcp_rate", Some(&Peer::direct(peer)), &why);
                    // On the TLS port an answer would cost the very handshake the rate is
                    // there to spare: the connection is closed unanswered.
                    if self.acceptor.is_none() {
                        refuse(stream, EarlyRefusal::TooFast(rate));
                    }
                    return None;
                }
            }
        };
        // Refused at once rather than left waiting to be accepted: a full backlog would leave
        // every new connection hanging, health checks and the fleet's relays included.
        let Ok(permit) = self.http_limit.clone().try_acquire_owned() else {
            ctx.metrics.refused_from(
                "http_full",
                Some(&Peer::direct(peer)),
                &"the server holds as many HTTP connections as it takes",
            );
            refuse(stream, EarlyRefusal::ServerBusy);
            return None;
        };
        // Snapshots are small and latency-bound: never wait to coalesce them.
        let _ = stream.set_nodelay(true);
        if ctx.config.socket_send_buffer > 0 {
            let _ =
                socket2::SockRef::from(&stream).set_send_buffer_size(ctx.config.socket_send_buffer);
        }
        // Writes then wait once this much is queued unsent, so a client that reads nothing
        // shows no write progress long before the autotuned send buffer is full.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if ctx.config.socket_unsent_limit > 0 {
            let _ = socket2::SockRef::from(&stream)
                .set_tcp_notsent_lowat(ctx.config.socket_unsent_limit);
        }
        let (app, ctx_conn, acceptor) = (self.app.clone(), ctx.clone(), self.acceptor.clone());
        Some(async move {
            let _permits = (permit, tcp_permit);
            let Some(acceptor) = acceptor else {
                return serve_http(stream, peer, app, ctx_conn, serving, None).await;
            };
            // The TLS handshake counts against the same deadline as an HTTP request head.
            let handshake = async {
                match starts_with_tls(&stream).await {
                    Some(true) => acceptor.accept(stream).await.ok(),
                    Some(false) => {
                        ctx_conn.metrics.refused_from(
                            "plain_http",
                            Some(&Peer::direct(peer)),
                            &"plain HTTP on the TLS port",
                        );
                        refuse_plain_http(stream).await;
                        None
                    }
                    // Connected and closed: a load balancer's TCP check, or a port scan.
                    None => None,
                }
            };
            match tokio::time::timeout(ctx_conn.config.handshake_timeout, handshake).await {
                Ok(Some(tls)) => serve_http(tls, peer, app, ctx_conn, serving, None).await,
                Ok(None) => debug!(%peer, "TLS handshake failed"),
                Err(_) => debug!(%peer, "TLS handshake timed out"),
            }
        })
    }
}

/// The admin listener's accept loop, until `closed` (after the drain and the shutdown's
/// closes: probes and scrapes see them through). Its connections are its own, not the
/// server's tasks: a scraper's kept-alive connection is served until then too.
async fn serve_admin(
    listener: TcpListener,
    app: axum::Router,
    ctx: Arc<ServerContext>,
    closed: CancellationToken,
) {
    let refusals = Arc::new(Semaphore::new(ADMIN_REFUSALS));
    let pool = Arc::new(std::sync::Mutex::new(AdminPool::default()));
    // Dropped with this loop, ending every admin connection still open.
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            () = closed.cancelled() => return,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match backoff.accepted(accepted, &ctx, "admin ").await {
                Some(accepted) => accepted,
                None => continue,
            },
        };
        // An IPv6 client by its /64, as the public port's caps count it.
        let ip = crate::context::address_key(crate::proxy::canonical(peer.ip()));
        let admitted = lock_pool(&pool).admit(ip, tokio::time::Instant::now());
        let Some(place) = admitted.map(|(id, idle)| AdminPlace { pool: pool.clone(), id, idle })
        else {
            ctx.metrics.refused_from(
                "admin_full",
                Some(&Peer::direct(peer)),
                &"the admin listener is full: every place serving a request or too recent to \
                  take, or this address making way too often",
            );
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                connections.spawn(async move {
                    let _refusal = refusal;
                    answer_early(stream, EarlyRefusal::ServerBusy).await;
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, ctx) = (app.clone(), ctx.clone());
        connections.spawn(async move {
            let evicted = place.idle.evict.clone();
            let serve = serve_http(stream, peer, app, ctx, Serving::UntilDropped, Some(place.idle.clone()));
            tokio::select! {
                () = serve => {}
                // Its place went to a newer connection while this one waited for a request.
                () = evicted.cancelled() => debug!(%peer, "admin connection closed to make way for a new one"),
            }
            drop(place);
        });
    }
}

/// Whether an admin connection is waiting for a request, and since when (for
/// [`AdminPool::admit`]), and how to close it.
#[derive(Debug)]
struct AdminIdle {
    /// Since when it waits for a request (accepted, or its last answer sent); `None` while a
    /// request is served.
    since: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Cancelled to close it for a newer connection.
    evict: CancellationToken,
}

impl AdminIdle {
    /// Marks a request under way until the guard is dropped (with its answer's body, once
    /// sent: [`BusyUntilSent`]).
    fn serving(self: &Arc<Self>) -> AdminServing {
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = None;
        AdminServing(self.clone())
    }
}

/// A request of an admin connection under way ([`AdminIdle::serving`]).
struct AdminServing(Arc<AdminIdle>);

/// An admin answer's body, which keeps its connection marked as serving until hyper has sent
/// all of it and dropped it: a big `/metrics` to a slow reader is not cut for a newer
/// connection.
struct BusyUntilSent {
    body: axum::body::Body,
    _serving: AdminServing,
}

impl hyper::body::Body for BusyUntilSent {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for AdminServing {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::time::Instant::now());
    }
}

/// The admin listener's connections: at most [`ADMIN_CONNECTIONS`], and
/// [`ADMIN_CONNECTIONS_PER_IP`] of an address. When a new connection finds no place, it takes
/// that of the connection that has waited longest for a request (at least
/// [`ADMIN_QUIET_BEFORE_EVICTION`]: among all of them, or among its own address's when that
/// address is at its cap), which is closed. Connections held open without a request therefore
/// never keep out a liveness probe or a scrape; a request under way is never cut short.
#[derive(Debug, Default)]
struct AdminPool {
    next: u64,
    open: HashMap<u64, (IpAddr, Arc<AdminIdle>)>,
    /// Places made per address by closing another connection
    /// ([`ADMIN_NEW_CONNECTIONS_PER_SECOND`]).
    made_way: crate::ratelimit::PerAddressRate,
}

impl AdminPool {
    /// A place for a connection from `ip`, making one if need be; `None` when none can be
    /// made (every candidate busy or too recent) or `ip` made way too often.
    fn admit(&mut self, ip: IpAddr, now: tokio::time::Instant) -> Option<(u64, Arc<AdminIdle>)> {
        let own = self.open.values().filter(|(of, _)| *of == ip).count();
        let share_full = own >= ADMIN_CONNECTIONS_PER_IP;
        if share_full || self.open.len() >= ADMIN_CONNECTIONS {
            let quietest = if share_full {
                self.quietest(now, |of| of == ip)
            } else {
                self.quietest(now, |_| true)
            }?;
            // Making way is held to the address's rate; a connection that finds a free place
            // is not (a script of `curl` calls, one connection each, is never refused).
            let burst = ADMIN_NEW_CONNECTIONS_BURST;
            if !self.made_way.try_take(ip, ADMIN_NEW_CONNECTIONS_PER_SECOND, burst, now) {
                return None;
            }
            if let Some((_, idle)) = self.open.remove(&quietest) {
                idle.evict.cancel();
            }
        }
        self.next += 1;
        let idle = Arc::new(AdminIdle {
            since: std::sync::Mutex::new(Some(now)),
            evict: CancellationToken::new(),
        });
        self.open.insert(self.next, (ip, idle.clone()));
        Some((self.next, idle))
    }

    /// The connection among `candidates` that has waited longest for a request, if it has
    /// waited [`ADMIN_QUIET_BEFORE_EVICTION`]: the one to close to make way.
    fn quietest(
        &self,
        now: tokio::time::Instant,
        candidates: impl Fn(IpAddr) -> bool,
    ) -> Option<u64> {
        let quiet = self.open.iter().filter(|(_, (ip, _))| candidates(*ip)).filter_map(
            |(&id, (_, idle))| {
                let since = (*idle.since.lock().unwrap_or_else(|p| p.into_inner()))?;
                (now.saturating_duration_since(since) >= ADMIN_QUIET_BEFORE_EVICTION)
                    .then_some((since, id))
            },
        );
        quiet.min().map(|(_, id)| id)
    }
}

fn lock_pool(pool: &std::sync::Mutex<AdminPool>) -> std::sync::MutexGuard<'_, AdminPool> {
    pool.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's place in the [`AdminPool`], given back when dropped (unless a newer
/// connection took it already).
struct AdminPlace {
    pool: Arc<std::sync::Mutex<AdminPool>>,
    id: u64,
    idle: Arc<AdminIdle>,
}

impl Drop for AdminPlace {
    fn drop(&mut self) {
        lock_pool(&self.pool).open.remove(&self.id);
    }
}

/// How often a draining node checks whether its matches are over.
const DRAIN_CHECK: Duration = Duration::from_millis(100);

/// Waits until no room of this node has anyone in it (but `notice` at least), or `timeout`.
async fn drain(ctx: &ServerContext, timeout: Duration, notice: Duration) {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let busy = || ctx.rooms().iter().any(|r| r.players > 0 || r.spectators > 0);
    info!(timeout = ?timeout, "draining: matches go on until they end or the drain timeout");
    while busy() || started.elapsed() < notice {
        if tokio::time::Instant::now() >= deadline {
            info!("drain timeout reached");
            return;
        }
        tokio::time::sleep(DRAIN_CHECK).await;
    }
    info!("drained: no match left");
}

/// How long an HTTP connection is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    /// Request after request until the server shuts down (then the one under way is
    /// finished): the public listener's connections.
    UntilShutdown,
    /// One request: a connection the public listener accepted during the shutdown.
    OneRequest,
    /// Request after request until the task is dropped: the admin listener's, which serve
    /// probes and scrapes through the shutdown.
    UntilDropped,
}

/// Serves HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    app: axum::Router,
    ctx: Arc<ServerContext>,
    serving: Serving,
    admin: Option<Arc<AdminIdle>>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx_req = ctx.clone();
    let service = hyper::service::service_fn(move |mut req| {
        let config = &ctx_req.config;
        let client =
            match client_ip(peer, req.headers(), &config.trusted_proxies, config.proxy_header) {
                ip if ip == peer.ip() => peer,
                ip => SocketAddr::new(ip, 0),
            };
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut().insert(ClientAddr(client));
        let refusal = refuse_large_head(&req, &ctx_req)
            .or_else(|| refuse_forwarded_too_fast(&req, peer, client, &ctx_req));
        let app = app.clone();
        // An admin connection serving a request, its answer included, is not one a newer
        // connection may replace.
        let serving = admin.as_ref().map(AdminIdle::serving);
        async move {
            let response = match refusal {
                Some(refusal) => refusal,
                None => app.oneshot(req).await?,
            };
            Ok::<_, std::convert::Infallible>(match serving {
                Some(serving) => response
                    .map(|body| axum::body::Body::new(BusyUntilSent { body, _serving: serving })),
                None => response,
            })
        }
    });
    let head_limit = ctx.config.max_request_head as usize;
    let conn = http1::Builder::new()
        .keep_alive(serving != Serving::OneRequest)
        .timer(TokioTimer::new())
        // Past twice the documented limit hyper refuses (431) before a request exists.
        .max_header_size(2 * head_limit)
        .max_buf_size((2 * head_limit).max(8192) + 4096)
        .header_read_timeout(ctx.config.handshake_timeout)
        .serve_connection(TokioIo::new(WriteDeadline::new(io, write_stall_limit(&ctx))), service)
        .with_upgrades();
    tokio::pin!(conn);
    // A connection accepted during the shutdown must be served, not shut down before it has
    // read its request (hyper closes an idle connection at once).
    let shutdown = async {
        if serving == Serving::UntilShutdown {
            crate::connection::shutdown_signal(&ctx).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(%peer, error = %e, "http connection ended with an error");
            }
        }
        _ = shutdown => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

/// A 429 for a request through a trusted proxy that opens a connection of its client
/// ([`crate::http::opens_connection`]) over that client's rate of new connections: the proxy
/// is exempt from the per-address TCP rate ([`ServerContext::admit_tcp`]), its clients are
/// not. Fleet peers relaying clients are not charged: the node the client reached did.
fn refuse_forwarded_too_fast<B>(
    req: &hyper::Request<B>,
    peer: SocketAddr,
    client: SocketAddr,
    ctx: &Arc<ServerContext>,
) -> Option<axum::response::Response> {
    let peer_ip = crate::proxy::canonical(peer.ip());
    let through_proxy = ctx.is_trusted_proxy(peer_ip)
        && !ctx.cluster().is_some_and(|cluster| cluster.is_peer(peer_ip));
    if !through_proxy
        || !opens_connection(req)
        || ctx.admit_forwarded(client.ip(), tokio::time::Instant::now())
    {
        return None;
    }
    Some(refuse_too_fast(ctx, &Peer::named_by(peer, client)))
}

/// How long an HTTP connection's write may stall before the connection is dropped: past the
/// slow-client timeout and the closing handshake, so that a WebSocket over TLS (which keeps
/// the deadline) is always judged by the room's rules first (`Kick { TooSlow }`, close 1008).
pub(crate) fn write_stall_limit(ctx: &ServerContext) -> Duration {
    ctx.config.slow_client_timeout + ctx.config.close_timeout + Duration::from_secs(1)
}

/// Whether the connection's first byte starts a TLS handshake (waiting for it to arrive);
/// `None` when the peer closed (or the socket failed) before sending one.
async fn starts_with_tls(stream: &TcpStream) -> Option<bool> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(first[0] == TLS_HANDSHAKE_RECORD),
    }
}

/// Plain HTTP on the TLS port: a plain-text 400 saying so, instead of a failed handshake.
async fn refuse_plain_http(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = "this server speaks TLS: use https:// or wss://\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
    crate::connection::linger(&mut stream, Duration::from_secs(1)).await;
}

/// The flags a join key comes from, for messages about keys that cannot be read.
const JOIN_KEY_FLAGS: &str = "--join-secret, --join-secret-file, --join-public-key, \
                              --join-previous-secret-file, --join-previous-public-key";

/// Shows the join keys in force: counted in `tickwire_join_keys`, logged by their prints
/// (`keys=`, what nodes compare on every relay and an operator rotating a key compares across
/// the nodes' logs) with `what` as the message; and warns about what looks like a slip: a
/// previous key that is the current one, a secret short enough to guess.
fn show_join_keys(verifier: &crate::auth::JoinVerifier, ctx: &ServerContext, what: &str) {
    let (config, prints) = (&ctx.config, verifier.prints());
    ctx.metrics.set_join_keys(prints);
    info!(keys = %prints.join(","), "{what}, checked with {} key(s)", prints.len());
    if prints.len() == 2 && prints[0] == prints[1] {
        warn!("the previous join key is the current one: no key is being rotated in");
    }
    let short =
        verifier.secret_lengths().filter(|(_, bytes)| *bytes < crate::auth::MIN_SECRET_BYTES);
    for (previous, bytes) in short {
        let flag = config.join_key_flag(previous).unwrap_or("--join-secret");
        warn!(
            bytes,
            minimum = crate::auth::MIN_SECRET_BYTES,
            "{flag} is shorter than {} bytes: anyone who sees one token can guess it \
             offline and mint their own; use 32 random bytes or more \
             (`openssl rand -base64 32`), or --join-public-key",
            crate::auth::MIN_SECRET_BYTES
        );
    }
}

/// Reads the join keys given as files again (SIGHUP) and puts them in force: `Ok(true)` when
/// it did, `Ok(false)` when no key comes from a file (nothing can have changed). A key that
/// cannot be read changes nothing: the keys in force stay, all of them.
fn reload_join_keys(ctx: &ServerContext) -> Result<bool, crate::auth::KeyError> {
    let Some(keys) = ctx.join.get().filter(|_| ctx.config.join_keys_in_files()) else {
        return Ok(false);
    };
    // Tokens stay on: the flags that turned them on name the same files.
    if let Some(verifier) = ctx.config.join_verifier()? {
        let before = keys.current().prints().to_vec();
        keys.replace(verifier);
        let now = keys.current();
        if !now.prints().iter().any(|print| before.contains(print)) {
            // Right to replace a leaked key; a slip in a rotation (the new key written without
            // the old one kept as the previous key) otherwise.
            warn!(
                before = %before.join(","),
                "SIGHUP: the join keys read share none with those in force before: every token \
                 the old keys signed is refused from now on (right for a leaked key; in a \
                 rotation, keep the old key as the previous one until its tokens expire)"
            );
        }
        let what = if now.prints() == before.as_slice() {
            "SIGHUP: join keys read again, unchanged"
        } else {
            if let Some(cluster) = ctx.cluster() {
                cluster.join_keys_changed();
            }
            "SIGHUP: join keys reloaded"
        };
        show_join_keys(&now, ctx, what);
    }
    Ok(true)
}

/// Listens for SIGHUP until shutdown (Unix; elsewhere nothing): each one reloads the TLS
/// certificate files, the join keys given as files and the operators' tokens
/// (`--admin-tokens`), those there are; without any there is nothing to reload and it is only
/// logged. Installed whether or not there is anything to reload: SIGHUP's default action ends
/// the process at once, with no drain and no 1001, and a service manager's reload (`systemctl
/// reload`, a stray `kill -HUP`) must not do that.
fn listen_for_sighup(certificates: Option<Arc<Certificates>>, ctx: &Arc<ServerContext>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Installed here, not in the task: the handler is in place once this returns.
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                warn!(
                    error = %e,
                    "cannot listen for SIGHUP: TLS certificates, join keys in files and \
                     --admin-tokens will not reload"
                );
                return;
            }
        };
        let ctx_task = ctx.clone();
        ctx.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = hangups.recv() => {}
                    _ = crate::connection::shutdown_signal(&ctx_task) => return,
                }
                let tls = certificates.as_deref().map(Certificates::reload);
                match &tls {
                    Some(Ok(())) => info!("SIGHUP: TLS certificate reloaded"),
                    Some(Err(e)) => error!(
                        error = %e,
                        "SIGHUP: TLS certificate not reloaded; keeping the previous one"
                    ),
                    None => {}
                }
                let operators = ctx_task.operators.reload(&ctx_task.config);
                match &operators {
                    Ok(Some(names)) => {
                        info!(?names, "SIGHUP: operators' tokens reloaded (--admin-tokens)")
                    }
                    Err(e) => error!(
                        error = %e,
                        "SIGHUP: operators' tokens not reloaded; keeping the previous ones"
                    ),
                    Ok(None) => {}
                }
                let join = reload_join_keys(&ctx_task);
                ctx_task.metrics.join_key_reload_failed.set(i64::from(join.is_err()));
                if let (Err(e), Some(keys)) = (&join, ctx_task.join.get()) {
                    error!(
                        error = %e,
                        keys = %keys.current().prints().join(","),
                        "SIGHUP: join keys not reloaded; the keys in force stay, until a SIGHUP \
                         reads every key file"
                    );
                }
                if tls.is_none() && matches!(operators, Ok(None)) && matches!(join, Ok(false)) {
                    info!(
                        "SIGHUP: nothing to reload (no --tls-cert, no --admin-tokens, no join \
                         key in a file); serving on"
                    );
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (certificates, ctx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_full_admin_pool_makes_way_only_by_closing_the_connection_quiet_longest() {
        let mut pool = AdminPool::default();
        let t0 = Instant::now();
        let mut placed = Vec::new();
        for i in 0..ADMIN_CONNECTIONS {
            let at = t0 + Duration::from_millis(i as u64);
            placed.push(pool.admit(ip(i as u8 / 8), at).expect("a place"));
        }
        // Every place is too recent to take: a probe waits its turn (503).
        let soon = t0 + ADMIN_QUIET_BEFORE_EVICTION / 2;
        assert!(pool.admit(ip(100), soon).is_none());
        // A connection serving a request is never closed for another, however old.
        let busy = placed[0].1.serving();
        let later = t0 + ADMIN_QUIET_BEFORE_EVICTION * 3;
        let (_, probe) = pool.admit(ip(100), later).expect("a place made");
        assert!(!placed[0].1.evict.is_cancelled(), "the busy one stays");
        assert!(placed[1].1.evict.is_cancelled(), "the one waiting longest goes");
        assert!(placed[2..].iter().all(|(_, idle)| !idle.evict.is_cancelled()));
        assert!(!probe.evict.is_cancelled());
        assert_eq!(pool.open.len(), ADMIN_CONNECTIONS);
        drop(busy);
        // An address at its own cap makes way among its own connections only.
        let (_, own) = pool.admit(ip(3), later).expect("a place among its own");
        assert!(placed[24].1.evict.is_cancelled(), "address 3's quietest");
        assert!(!placed[2].1.evict.is_cancelled(), "not another address's");
        assert!(!own.evict.is_cancelled());
    }

    #[test]
    fn an_address_makes_way_in_a_full_pool_at_a_burst_then_a_rate() {
        let mut pool = AdminPool::default();
        let t0 = Instant::now();
        // A free place costs nothing: a script of `curl` calls, a connection each.
        for i in 0..1000u64 {
            let (id, _) = pool.admit(ip(1), t0 + Duration::from_micros(i)).expect("a free place");
            pool.open.remove(&id);
        }
        // A peer keeping its share full and trying every 5 ms for 10 s: each of its places is
        // taken back once it is quiet enough, which alone would let it make way 160 times a
        // second and keep its places young; the rate holds it to the burst and 64 a second.
        let mut made = 0;
        for step in 0..2000u32 {
            made += usize::from(pool.admit(ip(1), t0 + Duration::from_millis(5) * step).is_some());
        }
        let most = ADMIN_NEW_CONNECTIONS_BURST + 10 * ADMIN_NEW_CONNECTIONS_PER_SECOND;
        let share = ADMIN_CONNECTIONS_PER_IP;
        assert!(made <= share + most as usize + 1, "{made} connections, at most {most} made way");
        assert!(made >= most as usize - 10, "{made}: held to the rate, not stopped");
        assert!(pool.admit(ip(2), t0).is_some(), "another address is not held to it");
    }
}
