//! The HTTP fallback: the game for clients that cannot open a WebSocket (a proxy or filter
//! strips `Upgrade`), on the same port, with the same protocol, rooms, seats, resume tokens,
//! limits and close codes.
//!
//! A session is opened by one request and named by an unguessable id ([`SessionId`]) bound to
//! the client's address. Downstream it carries exactly the bytes a WebSocket would (the room's
//! frames, built once for everyone, read as records: `records`), either as one streamed
//! response that lasts the whole session (`GET /fallback/stream`) or, for networks that buffer
//! streamed responses, as long polls (`GET /fallback/poll`). Upstream, the client POSTs one or
//! more records (`POST /fallback/send`). The session runs the WebSocket connection's own reader
//! and writer (`crate::connection::play`, `crate::connection::write_loop`) over a pipe
//! instead of a socket, so the room never knows which transport a client uses, and a close is
//! a close record with its code and reason, the last thing the client receives.
//!
//! # Routes
//! | request | answer |
//! |---|---|
//! | `GET /fallback/stream` | 200, `Tickwire-Session: <id>`, `Tickwire-Numbering: 1`, then records for the session's life |
//! | `GET /fallback/poll` | 200, `Tickwire-Session: <id>`, `Tickwire-Numbering: 1`, and the first records |
//! | `GET /fallback/poll` with `Tickwire-Session` | 200 and what is waiting (waits for something, at most the heartbeat interval and a second) |
//! | `POST /fallback/send` with `Tickwire-Session` | 204 once its records are handed to the session |
//!
//! A poll takes its records out of the session, and a POST hands its records on, so neither
//! may simply be sent again: a poll answered into a connection that died would lose a tick's
//! frames, a POST whose answer was lost would be delivered twice. A client that numbers them
//! may: `Tickwire-Poll: n` (1, 2, ... after the opening, which is 0) is answered with the same
//! bytes for a repeated `n`, kept until poll `n + 1` comes (`session::Polls`), and
//! `Tickwire-Seq: n` (1, 2, ...) delivers a POST once, a repeat of the last number is
//! answered 204 without delivering it again (and, once that one was delivered, without being
//! read). Either out of order: 409. Requests without them are served as before the headers
//! existed. The answer that opens a session says the server takes them
//! (`Tickwire-Numbering: 1`, [`NUMBERING_HEADER`]): a client numbers them only then, since an
//! older server would refuse the headers in a CORS preflight, or ignore them.
//!
//! In a fleet, a session's polls and POSTs that reach another node are passed on to the node
//! holding the session (`forward`), so a client keeps playing when the load balancer sends
//! them elsewhere. One that node may have taken before its answer broke off gets 502 when it
//! is numbered (to be sent again), 404 otherwise (`forward_failed`).
//!
//! Refusals are plain-text statuses: 404 for an unknown (or expired, or another address's)
//! session, 403 for an Origin off the allowlist or a forged fleet hop (`x-tickwire-hop`), 401
//! without a good join token, 429 and 503 for the caps, 429 for a session's POSTs above
//! [`session::post_rate`], 413 for a body above [`MAX_POST_BODY`] or a message above 256
//! bytes, 400 for a malformed record, 408 for a POST body that broke off or came too slowly
//! (not taken), 409 for a second poll at once (but one repeat of a waiting numbered poll, which
//! waits: `Session::turn`) or a poll or POST number out of order, 410 for a closed session.
//! A malformed or oversized record also closes the session, with the close code a WebSocket
//! would get. Every answer to a request whose Origin passed carries CORS headers, refusals
//! too: a page must see why it was refused. Every answer is `Cache-Control: no-store`: the
//! routes' URLs are the same for every session, and a cache must never hand one session's
//! answer, a refusal least of all (a 404 or 410 is cacheable by default), to another request.
//!
//! # Layout
//! - `records`: the record format, and the strict reader of POST bodies.
//! - `pipe`: the bounded pipe from a session's writer to its responses.
//! - [`session`]: session ids, the registry, and the task that runs a session.
//! - `forward`: in a fleet, a session's requests that reach another node are passed on to
//!   the node holding it.

pub(crate) mod forward;
pub(crate) mod pipe;
pub(crate) mod records;
pub mod session;

use crate::connection::close_code;
use crate::context::ServerContext;
use crate::http::{
    BodyError, ClientAddr, authorize, check_origin, read_body, refuse, refuse_admission_of,
    requester, unauthorized, with_cors,
};
use crate::outbox::CloseRequest;
use crate::transport::Transport;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pipe::Pipe;
use session::{DeliverError, Session, SessionId, Sessions};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

pub use session::{PIPE_CAPACITY, post_rate};

/// The header that names a session: in the answer that opens it, and in every request after.
pub const SESSION_HEADER: &str = "tickwire-session";

/// The header that numbers a session's polls, 1 and up (the opening request is 0): a repeated
/// number gets the same bytes again (`session::Polls`).
pub const POLL_HEADER: &str = "tickwire-poll";

/// The header that numbers a session's POSTs, 1 and up: each number is delivered once, in
/// order.
pub const SEQ_HEADER: &str = "tickwire-seq";

/// The header of the answer that opens a session saying that the server takes numbered polls
/// and POSTs ([`POLL_HEADER`], [`SEQ_HEADER`]): `1`. A client numbers them only when it is
/// there: a server without it (older than the numbers) refuses them in a CORS preflight and
/// ignores them otherwise, so a repeat would take the next records, or be delivered twice.
pub const NUMBERING_HEADER: &str = "tickwire-numbering";

/// Largest POST body, in bytes: 32 of the largest client messages with their record headers.
/// A client with more to send sends another POST after this one.
pub const MAX_POST_BODY: usize = 8 * 1024;

/// The media type of record streams and bodies.
const RECORDS: &str = "application/vnd.tickwire.records";

/// What the fallback's routes share.
#[derive(Debug)]
struct Fallback {
    ctx: Arc<ServerContext>,
    sessions: Arc<Sessions>,
    /// Connections to the fleet's other nodes, for the requests of their sessions.
    forwarder: forward::Forwarder,
}

/// The fallback's routes, merged into the server's router (whatever its state).
pub fn router<S: Clone + Send + Sync + 'static>(ctx: &Arc<ServerContext>) -> Router<S> {
    let forwarder = forward::Forwarder::new(&ctx.config);
    let state = Arc::new(Fallback { ctx: ctx.clone(), sessions: Arc::default(), forwarder });
    Router::new()
        .route("/fallback/stream", get(open_stream).options(preflight))
        .route("/fallback/poll", get(poll).options(preflight))
        .route(
            "/fallback/send",
            post(send).options(preflight).fallback(|| async {
                let mut response = refuse(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "/fallback/send takes POSTs of records (PROTOCOL.md, the HTTP fallback)",
                );
                response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
                response
            }),
        )
        .layer(axum::middleware::map_response(no_store))
        .with_state(state)
}

/// Every answer of the fallback's routes, records, 204s and refusals alike, is never stored (a
/// 405 the server's router answers, outside this layer, says so itself):
/// a poll's URL is the same for every session (and `Vary` does not name the session header),
/// so a cache that kept one would answer another session's poll with it.
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Opens a session: the checks a WebSocket upgrade gets after the Origin's (shutdown, join
/// token, caps), then a registered session and its task.
#[allow(clippy::result_large_err)] // the refusal is the response itself, on a cold path
fn open_session<B>(
    fallback: &Fallback,
    client: std::net::SocketAddr,
    req: &Request<B>,
    transport: Transport,
) -> Result<Arc<Session>, Response> {
    let ctx = &fallback.ctx;
    // Logged with who was refused and why, as an upgrade's refusals are.
    let peer = crate::http::peer_of(req);
    if ctx.is_shutting_down() {
        return Err(crate::http::refuse_shutting_down(ctx, peer.as_ref()));
    }
    let grant = match ctx.join.get().map(|keys| authorize(req, &keys.current())) {
        None => None,
        Some(Ok(grant)) => {
            if grant.by_previous_key {
                ctx.metrics.join_tokens_previous_key.inc();
            }
            Some(grant)
        }
        Some(Err(e)) => {
            ctx.metrics.refused_from("auth", peer.as_ref(), &e);
            return Err(unauthorized(&e));
        }
    };
    let permit = ctx.admit(client.ip()).map_err(|e| refuse_admission_of(ctx, e, peer.as_ref()))?;
    Ok(session::open(ctx, &fallback.sessions, client, transport, grant, permit))
}

/// Headers every record response carries: no caching, no sniffing, no proxy buffering.
fn records_response(status: StatusCode, body: Body, id: Option<SessionId>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RECORDS));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // nginx (and proxies that copy it) pass a response with this on as it comes.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(id) = id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        headers.insert(HeaderName::from_static(SESSION_HEADER), value);
        // The session takes numbered polls and POSTs: the client may number them, and send
        // one again whose answer it did not get.
        headers.insert(HeaderName::from_static(NUMBERING_HEADER), HeaderValue::from_static("1"));
    }
    response
}

/// `OPTIONS` before a cross-origin request that a browser does not send unasked: a poll or
/// POST (they carry `Tickwire-Session`), or an opening with `Authorization: Bearer`.
async fn preflight(State(fallback): State<Arc<Fallback>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = check_origin(&headers, &fallback.ctx) {
        return refusal;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    out.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "tickwire-session, tickwire-poll, tickwire-seq, content-type, authorization",
        ),
    );
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    with_cors(&headers, response)
}

/// `GET /fallback/stream`: a new session whose records come in this one response.
async fn open_stream(
    State(fallback): State<Arc<Fallback>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    req: Request<Body>,
) -> Response {
    // A refused Origin gets no CORS headers: its page must not read even the refusal.
    if let Err(refusal) = check_origin(req.headers(), &fallback.ctx) {
        return refusal;
    }
    let client = match requester(&fallback.ctx, req.headers(), client) {
        Ok((client, _)) => client,
        Err(refusal) => return with_cors(req.headers(), refusal),
    };
    let response = match open_session(&fallback, client, &req, Transport::Stream) {
        Ok(session) => {
            let body = Body::from_stream(StreamBody {
                pipe: session.pipe.clone(),
                session: session.clone(),
            });
            records_response(StatusCode::OK, body, Some(session.id))
        }
        Err(refusal) => refusal,
    };
    with_cors(req.headers(), response)
}

/// A streamed response's body: whatever the session's pipe holds, as it comes. Dropped when
/// the response ends or the connection dies; a session whose stream dies before its close
/// ends as a WebSocket whose socket died: its seat waits for a resume.
struct StreamBody {
    pipe: Arc<Pipe>,
    session: Arc<Session>,
}

impl futures_util::Stream for StreamBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.pipe.poll_take(cx).map(|taken| taken.map(Ok))
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if !self.pipe.is_ended() {
            // Never sent (nobody reads any more): it only ends the session's reader.
            self.session.link.close(CloseRequest {
                code: close_code::GOING_AWAY,
                reason: "the stream response ended".into(),
                kick: None,
            });
        }
        self.pipe.close_reader();
    }
}

/// The session a request names, or the 404 (or 400) it gets.
#[allow(clippy::result_large_err)] // the refusal is the response itself, on a cold path
fn named_session(
    fallback: &Fallback,
    headers: &HeaderMap,
    client: std::net::SocketAddr,
) -> Result<Arc<Session>, Response> {
    let Some(text) = headers.get(SESSION_HEADER) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "this request needs a Tickwire-Session header",
        ));
    };
    let session = text
        .to_str()
        .ok()
        .and_then(SessionId::parse)
        .and_then(|id| fallback.sessions.find(id, client.ip()));
    session.ok_or_else(|| unknown_session(&fallback.ctx))
}

/// The number a request carries in `name` ([`POLL_HEADER`], [`SEQ_HEADER`]): `None` without
/// one, the 400 for one that is not a number (decimal digits, at most a u64). Public (hidden)
/// for the `http_headers` fuzz target.
#[doc(hidden)]
#[allow(clippy::result_large_err)] // the refusal is the response itself, on a cold path
pub fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, Response> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = value.to_str().unwrap_or("").trim();
    match text.parse::<u64>() {
        Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("{name} must be a whole number (PROTOCOL.md, the HTTP fallback)"),
        )),
    }
}

/// The answer to a request naming a session that is not (or no longer) anywhere it can reach.
fn unknown_session(ctx: &ServerContext) -> Response {
    ctx.metrics.refused("unknown_session");
    refuse(
        StatusCode::NOT_FOUND,
        "unknown or expired session: open a new one (GET /fallback/stream or /fallback/poll)",
    )
}

/// Passes a request on to the node holding its session ([`forward::forward`]): that node's
/// answer, or [`forward_failed`]'s when it did not come.
async fn forwarded(
    fallback: &Fallback,
    (cluster, url): (Arc<crate::cluster::Cluster>, String),
    parts: &Parts,
    body: Body,
    client: std::net::IpAddr,
) -> Response {
    match forward::forward(fallback, &cluster, &url, parts, body, client).await {
        Ok(response) => response,
        Err(e) => {
            debug!(error = %e, %url, "cannot forward a fallback request to its session's node");
            with_cors(&parts.headers, forward_failed(&fallback.ctx, &parts.headers, &e))
        }
    }
}

/// The answer to a request that could not be passed on to its session's node (`e`).
///
/// Sent, and its answer broke off or never came: the owner may have taken it (a poll's
/// records, a POST's), so a numbered request gets 502, and the client sends it again with its
/// number, which the owner answers as it answered the first. An unnumbered one gets the 404 of
/// an unknown session, as every failure did before the numbers: sent again, it could take the
/// next records or be delivered twice, so its client had better resume. Never sent (no such
/// node, connection refused, no fleet secret yet): the 404 of an unknown session; the client
/// resumes.
fn forward_failed(ctx: &ServerContext, headers: &HeaderMap, e: &forward::ForwardError) -> Response {
    let numbered = headers.contains_key(POLL_HEADER) || headers.contains_key(SEQ_HEADER);
    if !(numbered && e.may_have_arrived()) {
        return unknown_session(ctx);
    }
    // Why (`e`) is the operator's log's (`forwarded`), not the public's: it names the fleet.
    refuse(
        StatusCode::BAD_GATEWAY,
        "the node holding this session may have taken this request, but its answer did not \
         come back: send it again with the same number",
    )
}

/// `GET /fallback/poll`: opens a session without `Tickwire-Session`, else takes what the
/// session has for its client, waiting for something until at most a heartbeat interval and
/// a second.
async fn poll(
    State(fallback): State<Arc<Fallback>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    req: Request<Body>,
) -> Response {
    // Only an allowed origin reads a session's records, or gets CORS headers on anything.
    if let Err(refusal) = check_origin(req.headers(), &fallback.ctx) {
        return refusal;
    }
    let (client, hop) = match requester(&fallback.ctx, req.headers(), client) {
        Ok((client, hop)) => (client, hop.is_some()),
        Err(refusal) => return with_cors(req.headers(), refusal),
    };
    // Without its body (a GET has none): a `Body` is not `Sync`, and the request is held
    // across the poll's wait.
    let parts = req.into_parts().0;
    if let Some(owner) = forward::owner(&fallback, &parts.headers, client.ip(), hop).await {
        return forwarded(&fallback, owner, &parts, Body::empty(), client.ip()).await;
    }
    let req = Request::from_parts(parts, ());
    let response = poll_answer(&fallback, client, &req).await;
    with_cors(req.headers(), response)
}

/// [`poll`] once the Origin passed: the records, or the refusal.
async fn poll_answer(
    fallback: &Fallback,
    client: std::net::SocketAddr,
    req: &Request<()>,
) -> Response {
    if !req.headers().contains_key(SESSION_HEADER) {
        let session = match open_session(fallback, client, req, Transport::Poll) {
            Ok(session) => session,
            Err(refusal) => return refusal,
        };
        // Nobody else knows the session yet: the lock is free.
        let mut polls = session.polling.lock().await;
        let first = session.pipe.take().await.unwrap_or_default();
        // Poll 0: a repeat of it (a client that counts the opening) gets the same heartbeat.
        let first = polls.keep(0, &first);
        return records_response(StatusCode::OK, Body::from(first), Some(session.id));
    }
    let number = match number(req.headers(), POLL_HEADER) {
        Ok(number) => number,
        Err(refusal) => return refusal,
    };
    let session = match named_session(fallback, req.headers(), client) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    if session.transport != Transport::Poll {
        return refuse(
            StatusCode::CONFLICT,
            "this session streams its records (GET /fallback/stream); it is not polled",
        );
    }
    // Numbering is for a whole session: a poll that lost its number on the way (passed on by a
    // node older than the numbers, in a fleet being upgraded) may be a repeat, and served
    // unnumbered it would take the next records and lose the ones its number kept. The client
    // resumes its seat in a new session instead.
    if number.is_none() && session.are_polls_numbered() {
        return refuse(
            StatusCode::CONFLICT,
            "this session numbers its polls (Tickwire-Poll) and this one has none: its records \
             are not taken",
        );
    }
    let wait = fallback.ctx.config.heartbeat_interval + Duration::from_secs(1);
    // One poll at a time. A numbered poll may be a repeat of the one still waiting here: a
    // proxy that lost its connection to this server retries at once, before this server saw
    // that connection go and dropped the first. That one repeat waits its turn, then gets what
    // the first took; any other poll is refused at once, so none pile up ([`Session::turn`]).
    let Some(mut polls) = session.turn(number, wait).await else {
        return refuse(StatusCode::CONFLICT, "a poll is already waiting on this session");
    };
    let _waiting = session.poll_waiting();
    session.heard();
    if let Some(n) = number {
        session.polls_numbered();
        if n == polls.last {
            // A repeat: its first answer was lost on the way. The same bytes, none lost.
            return records_response(StatusCode::OK, Body::from(polls.body.clone()), None);
        }
        if Some(n) != polls.last.checked_add(1) {
            let last = polls.last;
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "poll {n} is out of order: the last poll answered was {last}; \
                     send {last} again, or {}",
                    last.saturating_add(1)
                ),
            );
        }
    }
    let body = match tokio::time::timeout(wait, session.pipe.take()).await {
        Ok(Some(records)) => records,
        // Nothing came: rare, the room sends every tick (a controller's feedback at least
        // every second), and a silent client gets a heartbeat each interval.
        Err(_) => Bytes::new(),
        Ok(None) => return refuse(StatusCode::GONE, "the session is closed"),
    };
    // Kept (no await between the take and this: a poll dropped with its connection either
    // took nothing or kept it) until the next number acknowledges it. The previous body goes:
    // this poll's number says it arrived.
    let body = match number {
        Some(n) => polls.keep(n, &body),
        None => body,
    };
    records_response(StatusCode::OK, Body::from(body), None)
}

/// `POST /fallback/send`: one or more records from the client.
async fn send(
    State(fallback): State<Arc<Fallback>>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(refusal) = check_origin(&parts.headers, &fallback.ctx) {
        return refusal;
    }
    let (client, hop) = match requester(&fallback.ctx, &parts.headers, client) {
        Ok((client, hop)) => (client, hop.is_some()),
        Err(refusal) => return with_cors(&parts.headers, refusal),
    };
    // The body streams on as it comes: the owner applies its limits to it, as to its own.
    if let Some(owner) = forward::owner(&fallback, &parts.headers, client.ip(), hop).await {
        return forwarded(&fallback, owner, &parts, body, client.ip()).await;
    }
    let response = send_answer(&fallback, client, &parts.headers, body).await;
    with_cors(&parts.headers, response)
}

/// [`send`] once the Origin passed: 204, or the refusal.
async fn send_answer(
    fallback: &Fallback,
    client: std::net::SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let ctx = &fallback.ctx;
    let session = match named_session(fallback, headers, client) {
        Ok(session) => session,
        Err(refusal) => return refusal,
    };
    let seq = match number(headers, SEQ_HEADER) {
        Ok(Some(0)) => {
            // 0 would read as a repeat of "none yet", and the POST would go undelivered.
            return refuse(StatusCode::BAD_REQUEST, "Tickwire-Seq counts from 1");
        }
        Ok(seq) => seq,
        Err(refusal) => return refusal,
    };
    // As for polls: once the client numbers its POSTs, one without a number (passed on by a
    // node older than the numbers) may be a repeat, which would be delivered twice.
    match seq {
        Some(_) => session.posts_numbered(),
        None if session.are_posts_numbered() => {
            return refuse(
                StatusCode::CONFLICT,
                "this session numbers its POSTs (Tickwire-Seq) and this one has none: its \
                 records are not taken",
            );
        }
        None => {}
    }
    // A repeat of the POST delivered last is answered at once, its body unread and no token of
    // the POST rate spent: it was taken already, and reading it again could only turn its 204
    // into a 429 or a 408 to be sent again. (A repeat that comes while the first is still being
    // read or delivered holds no answer yet: it goes the whole way, and is answered below.)
    if let Some(seq) = seq
        && session.posted.try_lock().is_ok_and(|posted| *posted == seq)
    {
        return StatusCode::NO_CONTENT.into_response();
    }
    if !session.take_post(Instant::now()) {
        ctx.metrics.refused("post_rate");
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {} POSTs per second on this session", post_rate(ctx)),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let too_big = |size: Option<u64>| {
        let size = size.map_or(String::new(), |size| format!(" of {size} bytes"));
        let reason = format!("POST body{size} exceeds the limit of {MAX_POST_BODY} bytes");
        CloseRequest { code: close_code::TOO_BIG, reason, kick: None }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let outcome = match declared {
        Some(size) if size > MAX_POST_BODY as u64 => Err(too_big(Some(size))),
        _ => match read_body(body, MAX_POST_BODY, ctx.config.handshake_timeout).await {
            Ok(bytes) => {
                ctx.metrics.bytes_received.inc_by(bytes.len() as u64);
                Ok(bytes)
            }
            Err(BodyError::TooLarge) => Err(too_big(None)),
            // The body broke off (the connection it came on dropped as it was sent): a
            // network failure, not the client's fault, so the session is left alone, and its
            // seat with it. Nothing of it is taken, its number neither: 408, as for a body
            // that came too slowly, which a client sends again (PROTOCOL.md 1.1).
            Err(BodyError::BrokeOff) => {
                return refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "the POST body broke off: its records are not taken (send them again)",
                );
            }
            Err(BodyError::TimedOut) => {
                return refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "the POST body did not arrive in time: its records are not taken (send them \
                     again)",
                );
            }
        },
    };
    // A numbered POST is delivered once, in order. Its number is checked once the body is
    // read, and held until it is delivered: a repeat that came while the first was still
    // being read (a proxy retrying early) waits here, then finds it delivered.
    let mut sequence = None;
    if let Some(seq) = seq {
        let Ok(posted) =
            tokio::time::timeout(ctx.config.close_timeout, session.posted.lock()).await
        else {
            return busy();
        };
        if *posted == seq {
            // Delivered already; its answer was lost on the way (a proxy's 502 or 504 after
            // this server took it, a dropped connection). Delivering it again would repeat
            // its chat lines, past the chat rate, and the seat would be kicked.
            return StatusCode::NO_CONTENT.into_response();
        }
        if Some(seq) != posted.checked_add(1) {
            let last = *posted;
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "POST {seq} is out of sequence: the last POST delivered was {last}; \
                     its records are not taken"
                ),
            );
        }
        sequence = Some((posted, seq));
    }
    let (messages, status, reason) = match outcome {
        Ok(body) => {
            let (messages, bad) = records::parse(&body);
            let mut messages: session::Upstream = messages.into_iter().map(Ok).collect();
            if messages.is_empty() && bad.is_none() {
                // An empty POST is a heartbeat.
                messages.push(Ok(tokio_tungstenite::tungstenite::Message::Pong(Bytes::new())));
            }
            match bad {
                None => (messages, StatusCode::NO_CONTENT, String::new()),
                Some(bad) => {
                    ctx.metrics.refused("bad_record");
                    messages.push(session::refusal(bad.close()));
                    let reason = bad.reason;
                    let status =
                        StatusCode::from_u16(bad.status).unwrap_or(StatusCode::BAD_REQUEST);
                    (messages, status, reason)
                }
            }
        }
        Err(close) => {
            ctx.metrics.refused("post_too_large");
            let reason = close.reason.clone();
            (vec![session::refusal(close)], StatusCode::PAYLOAD_TOO_LARGE, reason)
        }
    };
    let delivered = session.deliver(messages, ctx.config.close_timeout).await;
    if delivered.is_ok()
        && let Some((mut posted, seq)) = sequence
    {
        *posted = seq;
    }
    match delivered {
        Err(DeliverError::Closed) => refuse(StatusCode::GONE, "the session is closed"),
        Err(DeliverError::Busy) => busy(),
        Ok(()) if status == StatusCode::NO_CONTENT => StatusCode::NO_CONTENT.into_response(),
        Ok(()) => refuse(status, reason),
    }
}

/// A POST the session did not take in time (its reader is behind, or another POST of it is
/// being delivered): 503, to be sent again soon (the records are a game's inputs, and a
/// second is already long for them).
fn busy() -> Response {
    let mut response = refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "the session is not keeping up with its POSTs; send one at a time",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
