//! HTTP routes and the WebSocket upgrade, on one port.
//!
//! The upgrade is checked here, before any WebSocket exists, so every refusal is an HTTP status
//! with a message: a missing or wrong `Upgrade`/`Connection` pair (RFC 6455 4.2.1; a half pair
//! is treated as a cross-protocol attempt), a wrong `Sec-WebSocket-Version` (426), a bad key,
//! an Origin outside the allowlist (403), a missing `tickwire.v1` subprotocol (400), or a full
//! server (503, 429 per address). Each is counted in `tickwire_refused_total` under a reason of
//! its own ([`Metrics::refused`](crate::metrics::Metrics::refused) lists them).

use crate::auth::{AuthError, JoinGrant, JoinVerifier};
use crate::connection;
use crate::context::{AdmitError, ServerContext};
use crate::echo;
use crate::guard::{FrameGuard, TextPolicy};
use crate::lan;
use crate::proxy::Peer;
use crate::stall::WriteDeadline;
use crate::stats::{self, StatsHistory};
use crate::web::{self, WebAssets};
use axum::Router;
use axum::extract::{Extension, Json, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tickwire_shared::{MAX_CLIENT_MESSAGE_SIZE, SUBPROTOCOL};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tracing::debug;

/// The TCP peer's address, inserted into each request by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address: the TCP peer's, or, behind a trusted proxy, the one the proxy names
/// (with port 0: a proxy does not say the client's port). Inserted by the listener; caps, rate
/// limits and logs use it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Who `req` is from, for a log: the client the listener found, and the proxy that named it
/// ([`PeerAddr`] and [`ClientAddr`]); `None` for a request the listener did not see.
pub fn peer_of<B>(req: &Request<B>) -> Option<Peer> {
    let client = req.extensions().get::<ClientAddr>()?.0;
    let tcp = req.extensions().get::<PeerAddr>().map_or(client, |p| p.0);
    Some(Peer::named_by(tcp, client))
}

/// The router of every route, for a server on one listener. Starts the dashboard's stats
/// sampler on `ctx`'s task tracker.
pub fn router(ctx: Arc<ServerContext>) -> Router {
    Routes::new(&ctx).public(ctx, true)
}

/// The routers of a server with an admin listener ([`ServerConfig::admin_bind`]): the public
/// one, without `/metrics`, and the admin one with the operators' routes. One stats sampler
/// feeds both.
///
/// [`ServerConfig::admin_bind`]: crate::config::ServerConfig::admin_bind
pub fn routers_with_admin(ctx: Arc<ServerContext>) -> (Router, Router) {
    let routes = Routes::new(&ctx);
    let admin = Router::new()
        .merge(routes.operator_pages.clone())
        .merge(routes.dashboard(web::DashboardLinks::admin(
            ctx.config.public_url.as_deref(),
            ctx.config.moderation_on(),
        )))
        .merge(routes.stats.clone())
        .route("/livez", get(livez))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/rooms", get(rooms))
        .route("/nodes", get(nodes))
        .merge(crate::moderation::router(&ctx))
        .fallback(admin_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx.clone());
    (routes.public(ctx, false), admin)
}

/// The routes both listeners may serve, built once.
struct Routes {
    /// The game's page (the public listener's only: the game needs `/ws`, the fallback and
    /// the invites beside it).
    game_pages: Router<Arc<ServerContext>>,
    /// The pages' assets; each listener adds its own dashboard ([`Routes::dashboard`]).
    operator_pages: Router<Arc<ServerContext>>,
    assets: Arc<WebAssets>,
    /// `/stats`, over the one sampler.
    stats: Router<Arc<ServerContext>>,
}

impl Routes {
    fn new(ctx: &Arc<ServerContext>) -> Self {
        let assets = Arc::new(match &ctx.config.web_root {
            Some(root) => WebAssets::from_disk(root.clone()),
            None => WebAssets::embedded(),
        });
        let game_pages = Router::new()
            .route("/", get(web::index))
            .route("/index.html", get(web::index))
            .route("/sdk/index.js", get(web::sdk_entry))
            .with_state(assets.clone());
        let operator_pages = Router::new()
            .route("/assets/{version}/{*path}", get(web::asset))
            .with_state(assets.clone());
        let stats = Router::new().route("/stats", get(stats_json)).with_state(stats::start(ctx));
        Routes { game_pages, operator_pages, assets, stats }
    }

    /// `/dashboard`, linking as its listener can ([`web::DashboardLinks`]).
    fn dashboard(&self, links: web::DashboardLinks) -> Router<Arc<ServerContext>> {
        let dashboard = Arc::new(web::Dashboard::new(self.assets.clone(), links));
        Router::new().route("/dashboard", get(web::dashboard)).with_state(dashboard)
    }

    /// The public listener's router; `/metrics` only when there is no admin listener.
    fn public(self, ctx: Arc<ServerContext>, with_metrics: bool) -> Router {
        let links = web::DashboardLinks::public(with_metrics, ctx.config.moderation_on());
        let public = Router::new()
            .merge(self.dashboard(links))
            .merge(self.game_pages)
            .merge(self.operator_pages)
            .merge(self.stats)
            .merge(crate::fallback::router(&ctx))
            .route("/invite", get(lan::invite_json))
            .route("/invite.svg", get(lan::invite_svg))
            .route("/ws", get(game_upgrade).fallback(upgrade_wrong_method))
            .route("/echo", get(echo_upgrade).fallback(upgrade_wrong_method))
            .route("/livez", get(livez))
            .route("/healthz", get(healthz))
            .route("/rooms", get(rooms))
            .route("/nodes", get(nodes));
        // The operators' routes go where the operators are: with `/metrics`.
        let public = if with_metrics {
            public.route("/metrics", get(metrics)).merge(crate::moderation::router(&ctx))
        } else {
            public.route("/metrics", get(metrics_elsewhere)).merge(crate::moderation::elsewhere())
        };
        public.fallback(not_found).method_not_allowed_fallback(method_not_allowed).with_state(ctx)
    }
}

/// The 405 body. No `Allow` header here: axum adds the route's own methods to a 405 that has
/// none (the fallback's routes also answer preflights). Never stored, as every refusal
/// ([`refuse`]): a 405 is cacheable by default.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let body = format!("{method} is not allowed on {path}: the Allow header lists what is\n");
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Another method than GET (or HEAD) on `/ws` or `/echo`: 405, counted as `not_upgrade` with the
/// other requests that are no WebSocket upgrade.
async fn upgrade_wrong_method(
    State(ctx): State<Arc<ServerContext>>,
    req: Request<axum::body::Body>,
) -> Response {
    let message = format!(
        "{} is not allowed on {}: a WebSocket upgrade is a GET (the Allow header lists what is)",
        req.method(),
        req.uri().path()
    );
    ctx.metrics.refused_from("not_upgrade", peer_of(&req).as_ref(), &message);
    let mut response = refuse(StatusCode::METHOD_NOT_ALLOWED, message);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// Bytes of a game connection's read buffer (see [`game_ws_config`]).
const GAME_READ_BUFFER: usize = 512;
// The largest client message and its longest (masked) frame header fit in one read.
const _: () = assert!(MAX_CLIENT_MESSAGE_SIZE + 14 <= GAME_READ_BUFFER);

/// The WebSocket settings of game connections.
///
/// The read buffer is 512 bytes, not tungstenite's 128 KiB: it is held by every socket for its
/// life and zero-filled on each read. 128 KiB measured 63% CPU instead of 14% at 1,000 clients
/// on this project's reference machine (2 cores, loopback), and 4 KiB was a quarter of what a
/// spectator costs in memory (BENCHMARKS.md, memory per spectator). Client messages are at
/// most [`MAX_CLIENT_MESSAGE_SIZE`] bytes, so the largest, with its header, fits in one read,
/// and a read of acks and inputs takes a dozen or more; both limits sit there and anything
/// bigger is closed with 1009 before it is buffered. Writes are fed and flushed once per
/// batch, so a small write buffer suffices; its hard cap bounds what one stuck socket can hold.
pub fn game_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(GAME_READ_BUFFER)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(MAX_CLIENT_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE_SIZE))
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try / (the game), /dashboard, /ws (WebSocket), /fallback/stream or /fallback/poll (HTTP), /sdk/index.js (the JavaScript SDK), /rooms, /stats, /livez, /healthz or /metrics\n",
    )
}

/// The admin listener's 404.
async fn admin_not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: the admin listener serves /metrics, /livez, /healthz, /stats, /rooms, /nodes, /dashboard and, with an operator's token (--admin-token or --admin-tokens), /bans, /moderation/log and /rooms/ROOM/seats, /kick and /mute (the game is on the public port)\n",
    )
}

/// `/metrics` on the public port of a server with an admin listener: a scraper pointed at the
/// old address learns where they went.
async fn metrics_elsewhere() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found: /metrics is served on the admin listener (--admin-bind)\n")
}

/// Query of `/stats`.
#[derive(Debug, serde::Deserialize)]
struct StatsQuery {
    /// Only samples newer than this sequence number.
    since: Option<u64>,
}

async fn stats_json(
    State(history): State<Arc<StatsHistory>>,
    axum::extract::Query(query): axum::extract::Query<StatsQuery>,
) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Json(history.reply(query.since)))
}

/// Liveness: whether the process should be left running. 200 for as long as it answers: through
/// a fleet node's drain, where `/healthz` answers 503 (a probe of it would kill a pod mid-drain,
/// ending the matches the drain lets finish), and through the shutdown's closes, which end by
/// themselves within `--shutdown-timeout` (a kill then would only cut them short).
/// A fleet node names itself in [`crate::cluster::NODE_HEADER`], so a node can tell whether
/// its `--node-url` reaches itself ([`crate::cluster::selfcheck`]).
async fn livez(State(ctx): State<Arc<ServerContext>>) -> Response {
    let text = if ctx.is_shutting_down() { "alive, shutting down\n" } else { "alive\n" };
    let mut response = (StatusCode::OK, text).into_response();
    if let Some(cluster) = ctx.cluster()
        && let Ok(node) = HeaderValue::from_str(&cluster.node)
    {
        response.headers_mut().insert(crate::cluster::NODE_HEADER, node);
    }
    response
}

/// Readiness: whether new clients should be sent here. 503 while draining or shutting down,
/// and on a fleet node that is not (yet) in the room directory. Not while full of sessions: its
/// pages, its HTTP fallback players' polls (each a request through the balancer) and its
/// operators still need it, and a node out of the balancer's pool would lose them; a new
/// upgrade there is refused 503, and the client's retry goes through the balancer again. Not
/// for restarting a process: that is `/livez`.
async fn healthz(State(ctx): State<Arc<ServerContext>>) -> (StatusCode, &'static str) {
    if ctx.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if ctx.cluster().is_some_and(|cluster| cluster.is_draining()) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else if ctx.cluster().is_some_and(|cluster| cluster.is_locked_out()) {
        (StatusCode::SERVICE_UNAVAILABLE, "another live server holds this node's --node-id\n")
    } else if ctx.cluster().is_some_and(|cluster| !cluster.is_registered()) {
        // Such a node refuses every join; the log says why (its Redis URL or password).
        (StatusCode::SERVICE_UNAVAILABLE, "not registered in the room directory (see the log)\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(ctx): State<Arc<ServerContext>>) -> impl IntoResponse {
    ctx.metrics.rooms_in_use.set(ctx.rooms_in_use() as i64);
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        ctx.metrics.render(),
    )
}

/// The fleet's nodes; none for a single server (no `--redis-url`).
async fn nodes(State(ctx): State<Arc<ServerContext>>) -> Response {
    match ctx.cluster() {
        Some(cluster) => crate::cluster::nodes_json(cluster).await,
        None => Json(Vec::<()>::new()).into_response(),
    }
}

async fn rooms(State(ctx): State<Arc<ServerContext>>) -> Response {
    match ctx.cluster() {
        Some(cluster) => crate::cluster::rooms_json(&ctx, cluster).await,
        None => Json(ctx.rooms()).into_response(),
    }
}

/// A connection over the global or per-address cap: 503 or 429, counted and logged with
/// `peer`, with `Retry-After`.
pub(crate) fn refuse_admission_of(
    ctx: &ServerContext,
    e: AdmitError,
    peer: Option<&Peer>,
) -> Response {
    let reason = match e {
        AdmitError::ServerFull => "server_full",
        AdmitError::TooManyFromAddress => "per_ip",
    };
    ctx.metrics.refused_from(reason, peer, &e);
    admission_refusal(&e)
}

/// The answer to a session refused admission (`e`): 503 for a full server, 429 for an
/// address at its cap, each with when to try again.
fn admission_refusal(e: &AdmitError) -> Response {
    let status = match e {
        AdmitError::ServerFull => StatusCode::SERVICE_UNAVAILABLE,
        AdmitError::TooManyFromAddress => StatusCode::TOO_MANY_REQUESTS,
    };
    retry_after(refuse(status, e.to_string()))
}

/// Whether `req` opens what counts as a new connection of its client: a WebSocket upgrade
/// (`/ws`, `/echo`), or a new HTTP fallback session (`GET /fallback/stream`, or
/// `GET /fallback/poll` without a session). Through a trusted proxy these are charged to the
/// rate of new connections of the client it names, as a direct client's TCP connections are;
/// other requests are not, so a page's assets over the proxy's kept-alive connections are not.
pub fn opens_connection<B>(req: &Request<B>) -> bool {
    match req.uri().path() {
        "/ws" | "/echo" => req.headers().contains_key(header::UPGRADE),
        "/fallback/stream" => req.method() == Method::GET,
        "/fallback/poll" => {
            req.method() == Method::GET
                && !req.headers().contains_key(crate::fallback::SESSION_HEADER)
        }
        _ => false,
    }
}

/// 429 for a client, named by a trusted proxy, that opened more connections in the last second
/// than an address may ([`opens_connection`]); counted as `tcp_rate`, as a direct client's.
pub fn refuse_too_fast(ctx: &ServerContext, peer: &Peer) -> Response {
    let message = too_fast_message(ctx.new_connections_per_second());
    ctx.metrics.refused_from("tcp_rate", Some(peer), &message);
    let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, message);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// What a client opening connections faster than `limit` a second is told, whether refused at
/// the listener or, behind a trusted proxy, at its upgrade.
pub fn too_fast_message(limit: u32) -> String {
    format!(
        "too many new connections from your address (at most {limit} a second; an IPv6 /48 {} \
         at most); retry in a second",
        limit.saturating_mul(crate::context::ADDRESSES_PER_IPV6_SITE)
    )
}

/// The size of a request head as it came on the wire: request line, headers, blank line.
pub fn head_size<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + "  HTTP/1.1\r\n".len();
    let headers: usize =
        req.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    line + headers + 2
}

/// A 431 for a request head above [`ServerConfig::max_request_head`](crate::ServerConfig), or
/// `None`. (Twice that, hyper refuses with a bare 431 before a request exists.)
pub fn refuse_large_head<B>(req: &Request<B>, ctx: &ServerContext) -> Option<Response> {
    let size = head_size(req);
    let limit = ctx.config.max_request_head as usize;
    (size > limit).then(|| {
        let message = format!("request head of {size} bytes exceeds the limit of {limit}");
        ctx.metrics.refused_from("head_too_large", peer_of(req).as_ref(), &message);
        refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message)
    })
}

/// The join token of an upgrade, checked: a non-empty `?token=` (percent-decoded), else
/// `Authorization: Bearer` (the scheme in any case, RFC 7235 section 2.1). Public for the
/// `join_token` fuzz target.
pub fn authorize<B>(req: &Request<B>, verifier: &JoinVerifier) -> Result<JoinGrant, AuthError> {
    let from_query = req.uri().query().and_then(|q| query_param(q, "token"));
    let from_header = || {
        let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
    };
    let token = from_query
        .filter(|t| !t.is_empty())
        .or_else(|| from_header().filter(|t| !t.is_empty()))
        .ok_or(AuthError::Missing)?;
    verifier.verify(&token)
}

/// The percent-decoded value of `name` in a query string. Public (hidden) for the
/// `http_headers` fuzz target.
#[doc(hidden)]
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let value = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })?;
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// 401 for a join token that is missing or not good, with the reason.
pub(crate) fn unauthorized(e: &AuthError) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, e.to_string());
    let challenge = HeaderValue::from_static("Bearer realm=\"tickwire\", error=\"invalid_token\"");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    response
}

/// Lets a page of an allowed origin read the answer, a refusal as much as records (CORS; the
/// Origin was checked already): the HTTP fallback's, and [`why_not_upgrade`]'s. Without these headers a browser hides the whole answer from
/// the page, status and all: a 401 or a 404 would look like a network failure.
pub(crate) fn with_cors(request: &HeaderMap, mut response: Response) -> Response {
    if let Some(origin) = request.get(header::ORIGIN).cloned() {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // None of these is among the headers a page may read unasked: the session's id, that
        // it takes numbered requests (the SDK numbers them only then), Retry-After, which the
        // SDK waits by, and the mark of a refusal that is the server's own.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "tickwire-session, tickwire-numbering, retry-after, tickwire-refusal",
            ),
        );
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Adds `Retry-After: 5` (seconds) to a refusal the client may retry.
pub(crate) fn retry_after(mut response: Response) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// 503 for a connection that comes while the server shuts down, with `Retry-After: 1`: its
/// clients were just told to come back (`Kick { ShuttingDown }`), and whatever serves this
/// address next (the restarted server, another node behind the balancer) may take them within
/// a second, not the 5 of a busy server.
pub(crate) fn refuse_shutting_down(ctx: &ServerContext, peer: Option<&Peer>) -> Response {
    const MESSAGE: &str = "server shutting down";
    ctx.metrics.refused_from("shutting_down", peer, &MESSAGE);
    let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, MESSAGE);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A refusal: `status` with `message` as plain text, never stored by a cache, and the
/// connection closed after it. A refusal answers one request of one client at one moment:
/// some are cacheable by default (404, 405, 410), and the HTTP fallback's session routes have
/// one URL for every session, so a cache keeping one would refuse others with it.
/// Why a request's body was not read whole ([`read_body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Past the limit.
    TooLarge,
    /// The connection it came on ended first.
    BrokeOff,
    /// Not whole within the deadline: a client (or an attacker) trickling it.
    TimedOut,
}

/// Reads a request's body whole, up to `max` bytes, within `within`: a body that trickles in
/// must not hold its connection for good.
pub(crate) async fn read_body(
    body: axum::body::Body,
    max: usize,
    within: std::time::Duration,
) -> Result<axum::body::Bytes, BodyError> {
    match tokio::time::timeout(within, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e))
            if std::error::Error::source(&e)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>()) =>
        {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::BrokeOff),
        Err(_) => Err(BodyError::TimedOut),
    }
}

pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push('\n');
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client a request speaks for, and the fleet hop that brought it, if one did: the address
/// the listener found (the TCP peer, or the one a trusted proxy names), or the one a verified
/// hop names. A hop that does not verify is refused (403): only a node of the fleet may say
/// who the client is.
#[allow(clippy::result_large_err)] // the refusal is the response itself, on a cold path
pub(crate) fn requester(
    ctx: &ServerContext,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(SocketAddr, Option<crate::cluster::Hop>), Response> {
    match ctx.cluster().and_then(|cluster| cluster.verify_hop(headers)) {
        None => Ok((peer, None)),
        Some(Ok(hop)) => {
            let client = hop.client.map_or(peer, |ip| SocketAddr::new(ip, 0));
            Ok((client, Some(hop)))
        }
        Some(Err(())) => {
            let message = "not a node of this fleet (x-tickwire-hop)";
            ctx.metrics.refused_from("hop", Some(&Peer::direct(peer)), &message);
            Err(refuse(StatusCode::FORBIDDEN, message))
        }
    }
}

/// Whether the comma-separated header `name` contains `token` (case-insensitive).
pub(crate) fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A `Sec-WebSocket-Key` must be 16 bytes in base64: 22 symbols and `==`.
fn valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Checks an upgrade request; `Ok` carries the accept key, `Err` the refusal to send (a status
/// with a message). `subprotocol`: the one the client must offer, if any.
// The refusal is the response itself; it is built once on a cold path, so boxing buys nothing.
#[allow(clippy::result_large_err)]
pub fn check_upgrade<B>(
    req: &Request<B>,
    ctx: &ServerContext,
    subprotocol: Option<&str>,
) -> Result<String, Response> {
    let headers = req.headers();
    let peer = peer_of(req);
    // Counted and logged with the message the client gets.
    let refused = |reason: &'static str, status: StatusCode, message: String| {
        ctx.metrics.refused_from(reason, peer.as_ref(), &message);
        refuse(status, message)
    };
    let upgrade = header_has_token(headers, header::UPGRADE, "websocket");
    let connection = header_has_token(headers, header::CONNECTION, "upgrade");
    if req.method() != Method::GET || req.version() != Version::HTTP_11 {
        return Err(refused(
            "not_upgrade",
            StatusCode::BAD_REQUEST,
            format!(
                "a WebSocket upgrade is an HTTP/1.1 GET, not {} {:?}",
                req.method(),
                req.version()
            ),
        ));
    }
    match (upgrade, connection) {
        (true, true) => {}
        (false, false) => {
            // A page visit, or a proxy on the way that strips the upgrade headers.
            let mut response = refused(
                "not_upgrade",
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket: send Connection: Upgrade and Upgrade: websocket"
                    .into(),
            );
            response.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return Err(response);
        }
        _ => {
            return Err(refused(
                "cross_protocol",
                StatusCode::BAD_REQUEST,
                "Upgrade and Connection headers do not form a WebSocket upgrade (cross-protocol request refused)".into(),
            ));
        }
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        let mut response = refused(
            "ws_version",
            StatusCode::UPGRADE_REQUIRED,
            "only WebSocket version 13 is supported".into(),
        );
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(response);
    }
    // One key (RFC 6455 4.2.1): with two, which one the accept answers is anyone's guess.
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = keys.next().and_then(|v| v.to_str().ok()).unwrap_or("");
    if !valid_key(key) || keys.next().is_some() {
        return Err(refused(
            "ws_key",
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key is missing, malformed or given twice".into(),
        ));
    }
    // An upgrade has no body: bytes after its head are the first WebSocket frames, and a
    // request that says otherwise is a smuggling attempt's shape or a broken client.
    let declares_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).is_some_and(|length| length != "0");
    if declares_body {
        return Err(refused(
            "cross_protocol",
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade has no body (Content-Length or Transfer-Encoding given)".into(),
        ));
    }
    check_origin_of(headers, ctx, peer.as_ref())?;
    if let Some(protocol) = subprotocol
        && !header_has_token(headers, header::SEC_WEBSOCKET_PROTOCOL, protocol)
    {
        return Err(refused(
            "subprotocol",
            StatusCode::BAD_REQUEST,
            format!("offer the WebSocket subprotocol {protocol} (Sec-WebSocket-Protocol)"),
        ));
    }
    if ctx.is_shutting_down() {
        return Err(refuse_shutting_down(ctx, peer.as_ref()));
    }
    Ok(derive_accept_key(key.as_bytes()))
}

/// The Origin policy (`--allowed-origins`), shared by the WebSocket and the HTTP fallback. With
/// a non-empty allowlist: a browser's request from an origin off it gets 403; so does one
/// without an Origin that a browser sent from another site, as `Sec-Fetch-Site` says
/// (`cross-site` or `same-site`): a no-cors request (`<img src=".../fallback/poll">` on any
/// page) carries no Origin, and would open a session that holds one of the address's places.
/// Requests without an Origin and with `Sec-Fetch-Site` absent (non-browser clients, older
/// browsers), `same-origin` or `none` (typed into the address bar) pass.
#[allow(clippy::result_large_err)] // the refusal is the response itself, built on a cold path
pub(crate) fn check_origin(headers: &HeaderMap, ctx: &ServerContext) -> Result<(), Response> {
    check_origin_of(headers, ctx, None)
}

/// [`check_origin`], logging who was refused.
#[allow(clippy::result_large_err)] // the refusal is the response itself, built on a cold path
pub(crate) fn check_origin_of(
    headers: &HeaderMap,
    ctx: &ServerContext,
    peer: Option<&Peer>,
) -> Result<(), Response> {
    let allowed = &ctx.config.allowed_origins;
    if allowed.is_empty() {
        return Ok(());
    }
    match headers.get(header::ORIGIN) {
        Some(origin) => {
            let origin = origin.to_str().unwrap_or("");
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                let message = format!("origin {origin:?} is not allowed");
                ctx.metrics.refused_from("origin", peer, &message);
                return Err(refuse(StatusCode::FORBIDDEN, message));
            }
        }
        None => {
            let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("");
            if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
                let message = format!(
                    "a {site} request without an Origin header is not allowed: this server \
                     takes browser requests only from the origins it allows"
                );
                ctx.metrics.refused_from("origin", peer, &message);
                return Err(refuse(StatusCode::FORBIDDEN, message));
            }
        }
    }
    Ok(())
}

fn switching_protocols(accept: String, subprotocol: Option<&'static str>) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = subprotocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    response
}

/// The header that marks a 401 as this server's verdict on a join token, not a proxy's: the
/// JavaScript SDK ends a join on a probe's 401 only with it ([`why_not_upgrade`]).
pub(crate) const REFUSAL_HEADER: &str = "tickwire-refusal";

/// A `GET /ws` that is no WebSocket upgrade (no `Upgrade: websocket`): the join token's 401
/// an upgrade with this request's token would meet, marked as this server's
/// ([`REFUSAL_HEADER`]: `join-token`) and readable by the page that sent it (CORS), else the
/// answer such a request always got (426, or 400 for a lone `Connection: upgrade`). A
/// browser hides an upgrade's refusal from its page (a WebSocket that does not open says 1006
/// and nothing else), so the JavaScript SDK asks this way when its WebSocket does not open
/// and no HTTP fallback can say why: an expired join token then ends the join with the
/// server's words rather than after its retries, as "cannot reach the server", and a full
/// server (503) or an address at its cap (429) is told apart from one that cannot be reached.
/// Nothing is admitted. The 401, 503 and 429 are not counted (the upgrade they explain was);
/// an Origin off the list (403, without CORS headers: its page may not read it) and a shutdown
/// (503) are answered and counted as for an upgrade.
fn why_not_upgrade<B>(req: &Request<B>, ctx: &ServerContext) -> Response {
    let headers = req.headers();
    let peer = peer_of(req);
    // A refused Origin gets no CORS headers: its page must not read even the refusal.
    if let Err(refusal) = check_origin_of(headers, ctx, peer.as_ref()) {
        return refusal;
    }
    let auth = ctx.join.get().map(|keys| authorize(req, &keys.current()));
    let response = if ctx.is_shutting_down() {
        refuse_shutting_down(ctx, peer.as_ref())
    } else if let Some(Err(e)) = auth {
        debug!(?peer, error = %e, "a page asked why its upgrade was refused");
        let mut response = unauthorized(&e);
        let verdict = HeaderValue::from_static("join-token");
        response.headers_mut().insert(header::HeaderName::from_static(REFUSAL_HEADER), verdict);
        response
    } else if let Some(Err(e)) = peer.as_ref().map(|peer| ctx.would_admit(peer.ip())) {
        admission_refusal(&e)
    } else {
        match check_upgrade(req, ctx, Some(SUBPROTOCOL)) {
            Err(response) => response,
            // Not reached: a request without the upgrade headers is never one.
            Ok(_) => refuse(StatusCode::UPGRADE_REQUIRED, "send a WebSocket upgrade"),
        }
    };
    with_cors(headers, response)
}

async fn game_upgrade(
    State(ctx): State<Arc<ServerContext>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    Extension(PeerAddr(tcp_peer)): Extension<PeerAddr>,
    mut req: Request<axum::body::Body>,
) -> Response {
    // Whatever `Connection` says: a proxy may set `Connection: upgrade` on every request.
    if req.method() == Method::GET && !header_has_token(req.headers(), header::UPGRADE, "websocket")
    {
        return why_not_upgrade(&req, &ctx);
    }
    let accept = match check_upgrade(&req, &ctx, Some(SUBPROTOCOL)) {
        Ok(accept) => accept,
        Err(response) => return response,
    };
    // A node of the fleet proxying a client: it checked the client's token, and says who the
    // client is, so caps apply to the client.
    let (client, hop) = match requester(&ctx, req.headers(), client) {
        Ok(requester) => requester,
        Err(refusal) => return refusal,
    };
    let peer = Peer::named_by(tcp_peer, client);
    // A relayed client's token was checked by the node it reached: as this node would, or
    // the relay is refused. (Forwarded fallback requests are of sessions already admitted,
    // and are not checked again.)
    if let (Some(hop), Some(cluster)) = (&hop, ctx.cluster())
        && !cluster.same_join_checks(hop)
    {
        let message = crate::cluster::JOIN_MISMATCH;
        // The prints say which keys each side takes: a key rotated in on one node without the
        // old one kept (the usual slip) shows as prints with none in common.
        // At most a line per interval: a client retrying its join would flood the log.
        if cluster.relay_refusal_log_due() {
            tracing::warn!(
                from = %tcp_peer,
                theirs = hop.join.as_deref().unwrap_or_default(),
                ours = %cluster.join_fingerprints().join(","),
                "refused a relay: {message} (while a key rotates, a node given the new key keeps \
                 the old one as its previous key: --join-previous-secret-file, \
                 --join-previous-secret or --join-previous-public-key; /nodes shows every \
                 node's prints)"
            );
        }
        ctx.metrics.refused_from("hop", Some(&Peer::direct(tcp_peer)), &message);
        return refuse(StatusCode::FORBIDDEN, message);
    }
    let keys = ctx.join.get().filter(|_| hop.is_none());
    let grant = match keys.map(|keys| authorize(&req, &keys.current())) {
        None => None,
        Some(Ok(grant)) => {
            if grant.by_previous_key {
                ctx.metrics.join_tokens_previous_key.inc();
            }
            Some(grant)
        }
        Some(Err(e)) => {
            ctx.metrics.refused_from("auth", Some(&peer), &e);
            return unauthorized(&e);
        }
    };
    let permit = match ctx.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(e) => return refuse_admission_of(&ctx, e, Some(&peer)),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let task_ctx = ctx.clone();
    ctx.tasks.spawn(async move {
        let _permit = permit;
        match on_upgrade.await {
            // A plain TCP socket is served as itself, not through hyper's boxed stream.
            Ok(upgraded) => match upgraded.downcast::<TokioIo<WriteDeadline<TcpStream>>>() {
                Ok(parts) => {
                    // The room's slow-client rules judge it from now on (crate::stall).
                    let socket = parts.io.into_inner().into_inner();
                    let config = game_ws_config();
                    connection::serve_tcp(
                        socket,
                        parts.read_buf,
                        config,
                        task_ctx,
                        peer,
                        grant,
                        hop,
                    )
                    .await;
                }
                Err(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    connection::serve(io, game_ws_config(), task_ctx, peer, grant, hop).await;
                }
            },
            Err(e) => debug!(%peer, error = %e, "upgrade failed"),
        }
    });
    switching_protocols(accept, Some(SUBPROTOCOL))
}

async fn echo_upgrade(
    State(ctx): State<Arc<ServerContext>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    Extension(PeerAddr(tcp_peer)): Extension<PeerAddr>,
    mut req: Request<axum::body::Body>,
) -> Response {
    let peer = Peer::named_by(tcp_peer, client);
    if !ctx.config.echo {
        return refuse(
            StatusCode::NOT_FOUND,
            "the diagnostics echo is off (start the server with --echo)",
        );
    }
    let accept = match check_upgrade(&req, &ctx, None) {
        Ok(accept) => accept,
        Err(response) => return response,
    };
    // With join tokens on, the echo wants one too: it is not a way around them.
    if let Some(Err(e)) = ctx.join.get().map(|keys| authorize(&req, &keys.current())) {
        ctx.metrics.refused_from("auth", Some(&peer), &e);
        return unauthorized(&e);
    }
    let permit = match ctx.admit(peer.ip()) {
        Ok(permit) => permit,
        Err(e) => return refuse_admission_of(&ctx, e, Some(&peer)),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let task_ctx = ctx.clone();
    ctx.tasks.spawn(async move {
        let _permit = permit;
        if let Ok(upgraded) = on_upgrade.await {
            // The echo writes back what it reads: its write buffer is capped like a game
            // connection's, so a peer that never reads cannot make it hold more than a
            // couple of messages.
            let max_message = task_ctx.config.echo_max_message;
            let config = WebSocketConfig::default()
                .read_buffer_size(8 * 1024)
                .write_buffer_size(16 * 1024)
                .max_write_buffer_size(2 * max_message + 16 * 1024)
                .max_message_size(Some(max_message))
                .max_frame_size(Some(max_message));
            let io = FrameGuard::new(TokioIo::new(upgraded), TextPolicy::Validate);
            let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, Some(config)).await;
            echo::serve(ws, task_ctx, peer).await;
        }
    });
    switching_protocols(accept, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_query_percent_decoded() {
        assert_eq!(query_param("token=a.b.c", "token"), Some("a.b.c".into()));
        assert_eq!(query_param("room=x&token=a%2Eb%2ec&z", "token"), Some("a.b.c".into()));
        assert_eq!(query_param("tokens=1", "token"), None);
        assert_eq!(query_param("token=%zz%4", "token"), Some("%zz%4".into()));
        assert_eq!(query_param("token", "token"), Some(String::new()));
    }

    /// Found by the `join_token` fuzz target: an empty `?token=` hid the token in the
    /// `Authorization` header (401, "a join token is required"), and the `Bearer` scheme,
    /// case-insensitive by RFC 7235, was matched in two spellings only.
    #[test]
    fn the_token_is_a_non_empty_query_else_bearer_in_any_case() {
        use crate::auth::{JoinClaims, MintKey, mint, unix_now};
        let verifier = JoinVerifier::from_secret("s").unwrap();
        let claims = JoinClaims {
            sub: "ada".into(),
            exp: unix_now() + 600,
            nbf: None,
            room: None,
            role: None,
        };
        let token = mint(&claims, &MintKey::Secret("s".into())).unwrap();
        let request = |uri: &str, authorization: Option<String>| {
            let mut request = Request::get(uri);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            request.body(()).unwrap()
        };
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let r = request("/ws?token=&room=x", Some(format!("{scheme}  {token}")));
            assert_eq!(
                authorize(&r, &verifier).map(|g| g.name.as_str().to_owned()),
                Ok("ada".into())
            );
        }
        assert_eq!(authorize(&request("/ws?token=", None), &verifier), Err(AuthError::Missing));
        let basic = Some("Basic YWRhOnNlY3JldA==".to_owned());
        assert_eq!(authorize(&request("/ws", basic), &verifier), Err(AuthError::Missing));
        // A token in the query wins over the header.
        let r = request(&format!("/ws?token={token}"), Some("Bearer forged".into()));
        assert!(authorize(&r, &verifier).is_ok());
    }

    #[test]
    fn key_shape_is_checked() {
        assert!(valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!valid_key("dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!valid_key("dGhlIHNhbXBsZSBub25jZ!=="));
    }

    /// Every refusal of an upgrade is counted, each under a reason of its own.
    #[test]
    fn each_upgrade_refusal_is_counted_under_its_own_reason() {
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let upgrade = || {
            Request::get("/ws")
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "websocket")
                .header(header::SEC_WEBSOCKET_VERSION, "13")
                .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
                .header(header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL)
        };
        let without = |name: header::HeaderName| {
            let mut request = upgrade().body(()).unwrap();
            request.headers_mut().remove(name);
            request
        };
        let count = |reason: &'static str| {
            ctx.metrics.refused.get_or_create(&crate::metrics::ReasonLabels { reason }).get()
        };
        let cases = [
            (upgrade().version(Version::HTTP_10).body(()).unwrap(), 400, "not_upgrade"),
            (upgrade().method(Method::HEAD).body(()).unwrap(), 400, "not_upgrade"),
            (Request::get("/ws").body(()).unwrap(), 426, "not_upgrade"),
            (without(header::CONNECTION), 400, "cross_protocol"),
            (without(header::SEC_WEBSOCKET_VERSION), 426, "ws_version"),
            (without(header::SEC_WEBSOCKET_KEY), 400, "ws_key"),
            (
                upgrade()
                    .header(header::SEC_WEBSOCKET_KEY, "AAAAAAAAAAAAAAAAAAAAAA==")
                    .body(())
                    .unwrap(),
                400,
                "ws_key",
            ),
            (
                upgrade().header(header::CONTENT_LENGTH, "5").body(()).unwrap(),
                400,
                "cross_protocol",
            ),
            (
                upgrade().header(header::TRANSFER_ENCODING, "chunked").body(()).unwrap(),
                400,
                "cross_protocol",
            ),
            (without(header::SEC_WEBSOCKET_PROTOCOL), 400, "subprotocol"),
        ];
        for (request, status, reason) in cases {
            let before = count(reason);
            let refusal = check_upgrade(&request, &ctx, Some(SUBPROTOCOL)).unwrap_err();
            assert_eq!(refusal.status().as_u16(), status, "{reason}");
            assert_eq!(count(reason), before + 1, "{reason}");
        }
        assert!(check_upgrade(&upgrade().body(()).unwrap(), &ctx, Some(SUBPROTOCOL)).is_ok());
        let empty_body = upgrade().header(header::CONTENT_LENGTH, "0").body(()).unwrap();
        assert!(check_upgrade(&empty_body, &ctx, Some(SUBPROTOCOL)).is_ok());
        shutdown.send_replace(true);
        let refusal = check_upgrade(&upgrade().body(()).unwrap(), &ctx, Some(SUBPROTOCOL));
        assert_eq!(refusal.unwrap_err().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(count("shutting_down"), 1);
    }

    /// `--allowed-origins`: an Origin off the list is refused, and so is a request a browser
    /// sent from another site without one (a no-cors `<img>` or `fetch`); other requests
    /// without an Origin (non-browser clients, a page of the same origin, the address bar)
    /// pass. Without a list, everything passes.
    #[test]
    fn origins_and_cross_site_requests_without_one_are_checked() {
        let (_shutdown, rx) = tokio::sync::watch::channel(false);
        let config = crate::ServerConfig {
            allowed_origins: vec!["https://play.example".into()],
            ..crate::ServerConfig::default()
        };
        let ctx = ServerContext::new(config, rx);
        let (_shutdown, rx) = tokio::sync::watch::channel(false);
        let open = ServerContext::new(crate::ServerConfig::default(), rx);
        let headers = |origin: Option<&'static str>, site: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
            }
            if let Some(site) = site {
                headers.insert("sec-fetch-site", HeaderValue::from_static(site));
            }
            headers
        };
        let refused = |ctx: &ServerContext, h: &HeaderMap| match check_origin(h, ctx) {
            Ok(()) => None,
            Err(refusal) => Some(refusal.status()),
        };
        let count = || {
            ctx.metrics
                .refused
                .get_or_create(&crate::metrics::ReasonLabels { reason: "origin" })
                .get()
        };
        let cases = [
            (Some("https://play.example"), Some("cross-site"), None),
            (Some("HTTPS://PLAY.EXAMPLE"), None, None),
            (Some("https://evil.example"), None, Some(StatusCode::FORBIDDEN)),
            (Some("https://evil.example"), Some("same-origin"), Some(StatusCode::FORBIDDEN)),
            (None, None, None),
            (None, Some("same-origin"), None),
            (None, Some("none"), None),
            (None, Some("cross-site"), Some(StatusCode::FORBIDDEN)),
            (None, Some("Cross-Site"), Some(StatusCode::FORBIDDEN)),
            (None, Some("same-site"), Some(StatusCode::FORBIDDEN)),
        ];
        for (origin, site, expected) in cases {
            let before = count();
            let h = headers(origin, site);
            assert_eq!(refused(&ctx, &h), expected, "{origin:?} {site:?}");
            assert_eq!(count(), before + u64::from(expected.is_some()), "{origin:?} {site:?}");
            assert_eq!(refused(&open, &h), None, "no allowlist: {origin:?} {site:?}");
        }
    }

    #[test]
    fn header_tokens_are_matched_case_insensitively_in_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(header_has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!header_has_token(&headers, header::CONNECTION, "close"));
    }
}
