//! The connection to the node that hosts a client's room, and the relay over it.
//!
//! The node a client reached opens a WebSocket to the hosting node (`--node-url`), sends the
//! client's `Hello` (with the room the directory placed it in), and from the answer on passes
//! messages both ways: the client keeps its one connection, the hosting node runs the match
//! as for any client. The upgrade carries the fleet's secret (only nodes of the fleet may say
//! who the client is and which seat it was promised), the client's address (the host applies
//! its per-address caps to the client, not to the proxying node), the promise id, and the id of
//! the node it is meant for, which refuses it should the URL reach another server
//! ([`super::NODE_HEADER`]).
//!
//! The relay keeps the single server's guarantees on the client's side: snapshots go into
//! the client's latest-wins slot (a slow client skips frames here, while the hosting node sees
//! a fast reader), a tick's events go out with its snapshot, a client that makes no write
//! progress for `--slow-client-timeout` is closed with 1008, and the closing handshake is the
//! client's own: a close frame from the client is passed on (its seat ends), a client that
//! vanishes is dropped on the hosting side without one (its seat waits for a resume, through
//! any node), and the hosting node's `Kick` and close reach the client as they were sent.
//!
//! The hosting node cannot see what the client's socket took (the relay may skip frames), so
//! it encodes the client's snapshots against the client's acks, which tickwire's spectators
//! send only every 30 ticks. The relay can see it, and acks on the client's behalf what its own
//! socket took (`RelayAcks`), so a relayed client gets deltas one or two ticks old.

use super::{Cluster, MISDIRECTED, MISDIRECTED_REASON, PROMISE_HEADER, TRANSPORT_HEADER};
use crate::connection::{self, Admitted, ReadEnd, close_code};
use crate::context::ServerContext;
use crate::frame;
use crate::outbox::{ClientLink, CloseRequest};
use crate::room::acks_keep_up;
use crate::transport::Transport;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tickwire_shared::codec::{decode_client, decode_control, decode_server, encode_client_to_vec};
use tickwire_shared::{
    Ack, ClientMessage, ControlMessage, Hello, KickReason, MAX_SERVER_MESSAGE_SIZE, SUBPROTOCOL,
    ServerMessage, Tick, server_tag,
};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, warn};

/// Time to open the connection to the hosting node and upgrade it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time the hosting node may take to answer the `Hello`: past its own wait for a room's
/// answer (5 s to queue the join, 5 s for the reply), so that a slow room's seat is not
/// given to a relay that already told its client to go away.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(11);
/// Time one message to the hosting node may take to be written.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// A tick's events held for its snapshot at most (bytes): past it they go out alone.
const EVENTS_HELD_MAX: usize = 16 * 1024;
/// How often the relay checks that its client makes write progress.
const STALL_CHECK: Duration = Duration::from_millis(500);
/// A hosting node silent this long is pinged. A live one is never this quiet: every client
/// gets a snapshot each tick, or a controller its feedback at least every second.
const HOST_PING_AFTER: Duration = Duration::from_secs(2);
/// A hosting node silent this long (a ping included) is taken for gone: powered off,
/// partitioned or hung, its connection half-open, where TCP alone would take a quarter of an
/// hour to tell and the client would watch a frozen match meanwhile.
const HOST_SILENCE_LIMIT: Duration = Duration::from_secs(6);

/// The WebSocket to the hosting node.
type Hosting = WebSocketStream<TcpStream>;

/// An open connection to the node hosting the client's room, answered with `Welcome`.
#[derive(Debug)]
pub struct Upstream {
    ws: Hosting,
    node: String,
    /// The client's role and transport, for its round trip's metric.
    role: tickwire_shared::Role,
    transport: Transport,
}

/// Why [`admit_remote`] did not seat the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// How the client's connection ends (its close is already requested, unless `untold`).
    pub(crate) end: ReadEnd,
    /// Only with `may_retry`: the room is full, or its node could not be reached; nothing was
    /// said to the client yet, so matchmaking may place it again, and should it not, this is
    /// what the client is told.
    pub(crate) untold: Option<CloseRequest>,
    /// The node refused the client's protocol version (a node of a release before nodes said
    /// their version, in a fleet upgrading across one): placed again, this join avoids it.
    pub(crate) other_release: bool,
}

/// The settings of node-to-node connections: the hosting node sends server messages (up to
/// [`MAX_SERVER_MESSAGE_SIZE`]); a small read buffer, as for clients (see
/// [`crate::http::game_ws_config`]).
fn hosting_ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(Some(MAX_SERVER_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_SERVER_MESSAGE_SIZE))
}

/// Why the hosting node could not be reached.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("the node URL {0:?} is not ws://host:port/path")]
    Url(String),
    #[error("not connected within {CONNECT_TIMEOUT:?}")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Ws(#[from] WsError),
    #[error("the fleet's secret is not known yet")]
    NoSecret,
}

async fn connect(
    cluster: &Cluster,
    url: &str,
    node: &str,
    client: IpAddr,
    promise: Option<&str>,
    transport: Transport,
) -> Result<Hosting, ConnectError> {
    let hop = cluster.hop_headers(client, Some(node)).ok_or(ConnectError::NoSecret)?;
    let authority = super::node_authority(url).ok_or_else(|| ConnectError::Url(url.to_string()))?;
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    headers.extend(hop);
    if transport != Transport::WebSocket {
        headers.insert(TRANSPORT_HEADER, HeaderValue::from_static(transport.name()));
    }
    if let Some(promise) = promise {
        let promise =
            HeaderValue::from_str(promise).map_err(|_| ConnectError::Url(url.to_string()))?;
        headers.insert(PROMISE_HEADER, promise);
    }
    let open = async {
        let stream = TcpStream::connect(authority.as_str()).await?;
        let _ = stream.set_nodelay(true);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(hosting_ws_config()))
                .await?;
        Ok::<_, ConnectError>(ws)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, open).await.map_err(|_| ConnectError::Timeout)?
}

/// Answers the hosting node's close (or just closes) and reads until it is done, bounded:
/// run in its own task so the client's side never waits for it.
async fn close_upstream(mut ws: Hosting, code: Option<u16>, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, async {
        // A client's close without a code (echoed as 1005, which no frame may carry) is passed
        // on as one without a code: the hosting node reads the seat's fate from it.
        let frame = code
            .filter(|&code| code != close_code::NO_STATUS)
            .map(|code| CloseFrame { code: CloseCode::from(code), reason: "".into() });
        let _ = ws.close(frame).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Whether a hosting node's refusal says it checks join tokens otherwise ([`super::JOIN_MISMATCH`]).
fn join_mismatch(
    response: &tokio_tungstenite::tungstenite::http::Response<Option<Vec<u8>>>,
) -> bool {
    response.body().as_deref().is_some_and(|body| body.starts_with(super::JOIN_MISMATCH.as_bytes()))
}

/// The answer to a client whose hosting node refused the proxied upgrade at its door (its
/// connection caps, or it is stopping): try again later, without a `Kick`, as a client that
/// reaches that node itself gets a 503 or 429 it retries (a `Kick { Full }` would end a first
/// join). `None` for any other failure to connect.
fn refused_at_the_door(error: &ConnectError) -> Option<CloseRequest> {
    let ConnectError::Ws(WsError::Http(response)) = error else { return None };
    let generic = match response.status() {
        StatusCode::TOO_MANY_REQUESTS => "too many connections from this address",
        StatusCode::SERVICE_UNAVAILABLE => "the server hosting the room is busy",
        // The hosting node checks join tokens otherwise (`JOIN_HEADER`): the fleet is set up
        // wrong, which its operators must hear of, not the player. (Any other 403, a hop
        // secret that does not verify, leaves the node suspect, as an unreachable one.)
        StatusCode::FORBIDDEN if join_mismatch(response) => "the game's servers are misconfigured",
        _ => return None,
    };
    // The hosting node's own words (a node of the fleet: "server is at its connection limit",
    // "server shutting down"), when they are short plain text.
    let said = response
        .body()
        .as_deref()
        .and_then(|body| std::str::from_utf8(body).ok())
        .map(str::trim)
        .filter(|text| !text.is_empty() && text.len() <= 64 && !text.contains(char::is_control));
    let text = format!("{}; try again", said.unwrap_or(generic));
    Some(connection::close_only(close_code::TRY_AGAIN_LATER, text))
}

/// Seats the client in a room of the node at `url` and returns the open connection (the
/// `Welcome` already handed to the client), or how the client's connection ends.
/// `may_retry` (matchmaking, which may place it elsewhere): a `Kick { Full }`, and a node that
/// cannot be reached before the `Hello` got there, are kept from the client
/// ([`Refusal::untold`]). Otherwise (a named room, a resume) the client gets them, as from one
/// server. A node that cannot be reached is suspect for a while ([`Cluster::suspect`]): a
/// `may_retry` join for it then goes elsewhere at once; any other tries the node again.
/// `transport`: how the client reached this node (the hosting node counts it so).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn admit_remote(
    cluster: &Cluster,
    ctx: &Arc<ServerContext>,
    hello: &Hello,
    link: &Arc<ClientLink>,
    url: &str,
    node: &str,
    promise: Option<&str>,
    may_retry: bool,
    client: IpAddr,
    transport: Transport,
) -> Result<Admitted, Refusal> {
    let refused = || Refusal { end: ReadEnd::Refused, untold: None, other_release: false };
    // A passing fault, not a full room: 1013 without a `Kick`, which clients retry (a
    // `Kick { Full }` ends a first join in both SDKs).
    let unreachable_close = || {
        connection::close_only(
            close_code::TRY_AGAIN_LATER,
            format!("the server hosting the room ({node}) is unreachable; try again"),
        )
    };
    // `again`: the hosting node cannot have seated the client, so matchmaking may place it
    // elsewhere.
    let give_up = |again: bool| {
        if again && may_retry {
            let untold = Some(unreachable_close());
            return Refusal { end: ReadEnd::Refused, untold, other_release: false };
        }
        link.close(unreachable_close());
        refused()
    };
    let unreachable = |why: String, again: bool| {
        warn!(%node, %why, "cannot reach the node hosting the room");
        cluster.suspect(node);
        give_up(again)
    };
    // A join that may go elsewhere does not wait on a node that failed moments ago. One for a
    // room only that node holds tries again: a blip must not fail the room's joins for a TTL,
    // and a success takes the node off the list.
    if may_retry && cluster.is_suspect(node) {
        debug!(%node, "the node hosting the room was unreachable moments ago; placing elsewhere");
        return Err(give_up(true));
    }
    // When this node stops, so does the join: these waits (16 s at most) would outlast the
    // shutdown's own timeout, and keep a seat the client was already told to leave.
    let going_away = || {
        link.close(connection::going_away());
        refused()
    };
    let connected = tokio::select! {
        connected = connect(cluster, url, node, client, promise, transport) => connected,
        () = connection::shutdown_signal(ctx) => return Err(going_away()),
    };
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(e) => {
            if let Some(close) = refused_at_the_door(&e) {
                // As busy as any server may be, and a client's to repeat at will: not a fault.
                // But a node that checks join tokens otherwise is a fault of the fleet's.
                if let ConnectError::Ws(WsError::Http(r)) = &e
                    && join_mismatch(r)
                {
                    let said = r.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                    // At most a line per interval: a client retrying would flood the log.
                    if cluster.relay_refusal_log_due() {
                        warn!(%node, said = %said.trim(), "the node hosting the room refused the relay");
                    }
                } else {
                    debug!(%node, error = %e, "the node hosting the room refused the connection");
                }
                cluster.reached(node);
                link.close(close);
                return Err(refused());
            }
            if let ConnectError::NoSecret = e {
                // This node's own lack, not the hosting node's fault.
                warn!(%node, error = %e, "cannot relay to the node hosting the room");
                link.close(unreachable_close());
                return Err(refused());
            }
            return Err(unreachable(e.to_string(), true));
        }
    };
    cluster.reached(node);
    let close_timeout = ctx.config.close_timeout;
    // Abandoned on shutdown: a seat the hosting node gave a fresh joiner, who never learns its
    // token, ends at once (a close); one it resumed waits for the client's next resume,
    // through another node (no close).
    let abandon = |ws: Hosting| {
        if hello.resume.is_some() && promise.is_none() {
            drop(ws);
        } else {
            ctx.tasks.spawn(close_upstream(ws, Some(close_code::NORMAL), close_timeout));
        }
        going_away()
    };
    let hello_bytes = encode_client_to_vec(&ClientMessage::Hello(*hello));
    let send = ws.send(Message::Binary(hello_bytes.into()));
    let sent = tokio::select! {
        sent = tokio::time::timeout(FORWARD_TIMEOUT, send) => sent,
        () = connection::shutdown_signal(ctx) => return Err(abandon(ws)),
    };
    if let Err(e) = sent.unwrap_or(Err(WsError::ConnectionClosed)) {
        return Err(unreachable(e.to_string(), true));
    }
    let answer = tokio::select! {
        answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(bytes))) => return Some(Ok(bytes)),
                    Some(Ok(Message::Close(frame))) => return Some(Err(frame)),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        }) => answer,
        () = connection::shutdown_signal(ctx) => return Err(abandon(ws)),
    };
    let bytes = match answer {
        Ok(Some(Ok(bytes))) => bytes,
        Ok(Some(Err(frame))) => {
            let (code, reason) = frame
                .map(|f| (u16::from(f.code), f.reason.to_string()))
                .unwrap_or((close_code::TRY_AGAIN_LATER, String::new()));
            ctx.tasks.spawn(close_upstream(ws, None, close_timeout));
            if code == MISDIRECTED {
                // `url` reaches another server of the fleet, which refused to open the room
                // (super::NODE_HEADER): a misconfigured `--node-url`, not a passing fault of
                // the client's; it is told 1013, as for a node that cannot be reached.
                let reached = reason
                    .strip_prefix(MISDIRECTED_REASON)
                    .and_then(|id| crate::config::parse_node_id(id).ok())
                    .unwrap_or_else(|| "another server".to_string());
                warn!(
                    %node,
                    %url,
                    %reached,
                    "the node-url of {node} ({url}) reaches {reached}: give {node} a \
                     --node-url only it answers at (not a load balancer's or a Service's)"
                );
                cluster.suspect(node);
                return Err(give_up(true));
            }
            link.close(CloseRequest { code, reason, kick: None });
            return Err(refused());
        }
        Ok(None) => return Err(unreachable("closed before answering".into(), true)),
        Err(_) => {
            // A close frame, not a dropped socket: should the hosting node seat the client
            // after all, it reads the close next and frees the seat at once, where a drop
            // would hold it for the resume grace for a client that never got its token.
            ctx.tasks.spawn(close_upstream(ws, Some(close_code::NORMAL), close_timeout));
            return Err(unreachable(format!("no answer within {ANSWER_TIMEOUT:?}"), false));
        }
    };
    match decode_server(&bytes) {
        Ok(ServerMessage::Welcome(welcome)) => {
            debug!(%node, room = %welcome.room, "seated through the node hosting the room");
            // The roster and audience follow as events; they go out with the first snapshot.
            let _ = link.push_control(frame::binary(&bytes));
            ctx.metrics.proxied_sessions.inc();
            Ok(Admitted::Remote(Box::new(Upstream {
                ws,
                node: node.to_string(),
                role: hello.role,
                transport,
            })))
        }
        Ok(ServerMessage::Kick(kick)) => {
            if let KickReason::VersionMismatch { server } = kick.reason {
                // This node took the client's version: the hosting node speaks another, a fleet
                // upgrading across a protocol version (the directory places joins only on
                // nodes of the joiner's, but a named room lives where it is, and a node of a
                // release before the directory kept versions apart says nothing of its own).
                // Neither final nor the client's fault: that node is replaced soon.
                ctx.tasks.spawn(close_upstream(ws, Some(close_code::NORMAL), close_timeout));
                debug!(%node, protocol = server, "the node hosting the room speaks another protocol version");
                let close = connection::close_only(
                    close_code::TRY_AGAIN_LATER,
                    "the room runs on a server of another release while the game's servers \
                     are upgraded; try again in a minute",
                );
                if may_retry {
                    let untold = Some(close);
                    return Err(Refusal { end: ReadEnd::Refused, untold, other_release: true });
                }
                link.close(close);
                return Err(refused());
            }
            if may_retry && kick.reason == KickReason::Full {
                ctx.tasks.spawn(close_upstream(ws, Some(close_code::NORMAL), close_timeout));
                // The room the directory placed the join in filled meanwhile (a race, as
                // matchmaking opens a room when none has space): passing, so retried.
                let untold = connection::close_only(
                    close_code::TRY_AGAIN_LATER,
                    "no room could take the join; try again",
                );
                let untold = Some(untold);
                return Err(Refusal { end: ReadEnd::Refused, untold, other_release: false });
            }
            // Pass the refusal on as it was said: the Kick, then the hosting node's close.
            let _ = link.push_control(frame::binary(&bytes));
            let close = tokio::time::timeout(close_timeout, async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(frame))) => return frame,
                        Some(Ok(_)) => continue,
                        _ => return None,
                    }
                }
            })
            .await
            .ok()
            .flatten();
            let (code, reason) = close
                .map(|f| (u16::from(f.code), f.reason.to_string()))
                .unwrap_or((close_code::TRY_AGAIN_LATER, kick.message.to_string()));
            link.close(CloseRequest { code, reason, kick: None });
            ctx.tasks.spawn(close_upstream(ws, None, close_timeout));
            Err(refused())
        }
        _ => {
            warn!(
                %node,
                "the node hosting the room answered the Hello with something other than \
                 Welcome or Kick"
            );
            link.close(unreachable_close());
            Err(refused())
        }
    }
}

/// Passes messages between the client (`client`, the reader half of its WebSocket, and
/// `link`, its writer) and the hosting node until either side ends; returns how the client's
/// connection ends (see [`connection`]'s closing handshake).
pub(crate) async fn relay<St>(
    client: &mut St,
    link: &Arc<ClientLink>,
    ctx: &Arc<ServerContext>,
    upstream: Box<Upstream>,
) -> ReadEnd
where
    St: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let Upstream { ws, node, role, transport } = *upstream;
    let (mut to_host, mut from_host) = ws.split();
    let config = &ctx.config;
    let mut silence =
        connection::Silence::new(Instant::now(), config.heartbeat_interval, config.idle_timeout);
    let silent = tokio::time::sleep_until(silence.deadline());
    tokio::pin!(silent);
    let mut events = BytesMut::new();
    let mut stall_check = tokio::time::interval(STALL_CHECK);
    let mut acks = RelayAcks::default();
    // The hosting node sees this relay's acks, not the client's: the client's round trip is
    // measured here. Boxed: its ring of tick times (half a KiB) in place would grow every
    // connection's future, relayed or not (measured: 0.5 to 0.8 KiB per spectator).
    let mut round_trips = Box::<crate::latency::Relayed>::default();
    let mut host = HostSilence::new(Instant::now());
    let host_check = tokio::time::sleep_until(host.deadline());
    tokio::pin!(host_check);
    // How the hosting side ends: `None` drops it without a close frame (the seat waits for a
    // resume), `Some(code)` closes it with that code, which the hosting node reads as a
    // client's own close (PROTOCOL.md 7.1 step 8): the client's code when it closed, 1000
    // (the seat ends, as on one server) when the relay refused the client itself.
    let (end, host_close): (ReadEnd, Option<u16>) = loop {
        tokio::select! {
            // The relay pings a quiet client itself, as the reader does (the hosting node pings
            // only the relay, and tungstenite answers for it).
            () = &mut silent => match silence.act(link, Instant::now()) {
                Some(next) => silent.as_mut().reset(next),
                None => {
                    link.close(silence.idle_kick());
                    break (ReadEnd::Dropped, None);
                }
            },
            message = client.next() => {
                let message = match message {
                    None => break (ReadEnd::Dropped, None),
                    Some(Err(e)) => match connection::ws_failure(&e) {
                        Some(close) => {
                            link.close(close);
                            // The client broke the protocol: its seat ends, as on one server.
                            break (ReadEnd::Broken, Some(close_code::NORMAL));
                        }
                        None => break (ReadEnd::Dropped, None),
                    },
                    Some(Ok(message)) => message,
                };
                silence.heard(Instant::now());
                match message {
                    Message::Binary(bytes) => {
                        let passed_on = match decode_client(&bytes) {
                            Ok(ClientMessage::Ack(ack)) => {
                                if let Some(trip) = round_trips.client_acked(ack.tick, Instant::now()) {
                                    ctx.metrics.round_trip(role, transport, trip);
                                }
                                acks.client_acked(ack.tick, link.taken())
                            }
                            _ => true,
                        };
                        if !passed_on {
                            continue; // the hosting node has this ack or a newer one
                        }
                        if !forward(&mut to_host, bytes).await {
                            break host_gone(link, &node);
                        }
                    }
                    Message::Close(frame) => {
                        let echo = connection::echo_code(frame.as_ref());
                        break (ReadEnd::ClientClosed { echo }, Some(echo));
                    }
                    Message::Text(_) => {
                        link.close(CloseRequest {
                            code: close_code::UNSUPPORTED,
                            reason: "tickwire speaks binary messages only".into(),
                            kick: None,
                        });
                        break (ReadEnd::Refused, Some(close_code::NORMAL));
                    }
                    _ => {} // pings are answered by tungstenite; pongs prove life
                }
            }
            () = &mut host_check => match host.act(Instant::now()) {
                HostAct::Wait(until) => host_check.as_mut().reset(until),
                HostAct::Ping(until) => {
                    host_check.as_mut().reset(until);
                    if !forward_message(&mut to_host, Message::Ping(Bytes::new())).await {
                        break host_gone(link, &node);
                    }
                }
                HostAct::GiveUp => {
                    warn!(node = %node, "the hosting node went silent; its client is sent elsewhere");
                    break host_gone(link, &node);
                }
            },
            message = from_host.next() => match message {
                Some(Ok(Message::Binary(payload))) => {
                    host.heard(Instant::now());
                    if !deliver(link, ctx, &mut events, &payload, &mut round_trips) {
                        link.close(connection::kick(
                            close_code::POLICY,
                            KickReason::TooSlow,
                            "client is not reading its messages",
                        ));
                        break (ReadEnd::Dropped, None);
                    }
                    if let Some(tick) = acks.on_behalf(link.taken()) {
                        let ack = encode_client_to_vec(&ClientMessage::Ack(Ack { tick }));
                        if !forward(&mut to_host, ack.into()).await {
                            break host_gone(link, &node);
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // The hosting node closes the client (its Kick came just before).
                    flush_events(link, &mut events);
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((close_code::NORMAL, String::new()));
                    link.close(CloseRequest { code, reason, kick: None });
                    // Answered below; the seat is the hosting node's business.
                    break (ReadEnd::Refused, Some(code));
                }
                // Its pings are answered by tungstenite; pongs answer the relay's.
                Some(Ok(_)) => host.heard(Instant::now()),
                Some(Err(_)) | None => break host_gone(link, &node),
            },
            _ = stall_check.tick() => {
                if link.stalled_for(Instant::now()) > config.slow_client_timeout {
                    link.close(connection::kick(
                        close_code::POLICY,
                        KickReason::TooSlow,
                        "client made no progress reading its frames",
                    ));
                    break (ReadEnd::Dropped, None);
                }
            }
            _ = connection::shutdown_signal(ctx) => {
                // This node goes away, the match does not: the client comes back through
                // another node and resumes its seat, which the hosting node keeps for it.
                link.close(connection::going_away());
                break (ReadEnd::Refused, None);
            }
            _ = link.close_requested() => break (ReadEnd::Dropped, None),
        }
    };
    ctx.metrics.proxied_sessions.dec();
    match to_host.reunite(from_host) {
        Ok(ws) => match host_close {
            Some(code) => {
                ctx.tasks.spawn(close_upstream(ws, Some(code), config.close_timeout));
            }
            // Dropped without a close frame: the hosting node keeps the seat for a resume.
            None => drop(ws),
        },
        Err(_) => unreachable!("the halves of one stream reunite"),
    }
    end
}

/// Writes one message to the hosting node; false when it cannot take it in time (it is gone).
async fn forward<Si>(to_host: &mut Si, message: Bytes) -> bool
where
    Si: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    forward_message(to_host, Message::Binary(message)).await
}

/// [`forward`] for any message.
async fn forward_message<Si>(to_host: &mut Si, message: Message) -> bool
where
    Si: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    let sent = tokio::time::timeout(FORWARD_TIMEOUT, to_host.send(message)).await;
    matches!(sent, Ok(Ok(())))
}

/// When the relay last heard from the hosting node, and whether it has pinged it since
/// ([`HOST_PING_AFTER`], [`HOST_SILENCE_LIMIT`]). Checked lazily: hearing is one store per
/// message, and the timer is moved only when it fires.
#[derive(Debug, Clone, Copy)]
struct HostSilence {
    heard: Instant,
    pinged: bool,
}

/// What the relay does when its check on the hosting node fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostAct {
    /// Heard from it meanwhile: check again then.
    Wait(Instant),
    /// Quiet for [`HOST_PING_AFTER`]: ping it, and check again then.
    Ping(Instant),
    /// Quiet for [`HOST_SILENCE_LIMIT`]: it is gone.
    GiveUp,
}

impl HostSilence {
    fn new(now: Instant) -> Self {
        HostSilence { heard: now, pinged: false }
    }

    fn heard(&mut self, now: Instant) {
        self.heard = now;
        self.pinged = false;
    }

    /// When the check first fires.
    fn deadline(&self) -> Instant {
        self.heard + HOST_PING_AFTER
    }

    fn act(&mut self, now: Instant) -> HostAct {
        let quiet = now.saturating_duration_since(self.heard);
        if quiet >= HOST_SILENCE_LIMIT {
            HostAct::GiveUp
        } else if quiet < HOST_PING_AFTER {
            HostAct::Wait(self.heard + HOST_PING_AFTER)
        } else if !self.pinged {
            self.pinged = true;
            HostAct::Ping(self.heard + HOST_SILENCE_LIMIT)
        } else {
            HostAct::Wait(self.heard + HOST_SILENCE_LIMIT)
        }
    }
}

/// The hosting node vanished: the client is told to come back (its seat is gone with the
/// node unless the node returns within the resume grace).
fn host_gone(link: &ClientLink, node: &str) -> (ReadEnd, Option<u16>) {
    link.close(connection::kick(
        close_code::GOING_AWAY,
        KickReason::ShuttingDown,
        format!("the server hosting the room ({node}) went away"),
    ));
    (ReadEnd::Refused, None)
}

/// Hands one message of the hosting node to the client's writer: a snapshot into the
/// latest-wins slot together with the events held for it, anything else queued in order.
/// False when the client's queue overflowed (it is not reading).
fn deliver(
    link: &ClientLink,
    ctx: &ServerContext,
    events: &mut BytesMut,
    payload: &[u8],
    round_trips: &mut crate::latency::Relayed,
) -> bool {
    let framed = frame::binary(payload);
    match payload.first().map(|&tag| u32::from(tag)) {
        Some(server_tag::EVENT) => {
            events.extend_from_slice(&framed);
            if events.len() > EVENTS_HELD_MAX {
                return flush_events(link, events);
            }
            true
        }
        Some(server_tag::SNAPSHOT) => {
            let held = (!events.is_empty()).then(|| events.split().freeze());
            // The tick says what the client's socket took (see `RelayAcks`); the hosting node
            // is of the fleet, so a header that does not parse is its bug, and only costs the
            // client an ack on its behalf.
            let now = Instant::now();
            let tick = match decode_control(payload) {
                Ok(ControlMessage::Snapshot(header)) => {
                    round_trips.sent(header.tick, now);
                    header.tick
                }
                _ => Tick(0),
            };
            let offered = link.offer(held, Some((tick, framed)), now);
            if offered.skipped {
                ctx.metrics.frames_skipped.inc();
            }
            !offered.overflow
        }
        _ => flush_events(link, events) && link.push_control(framed).is_ok(),
    }
}

/// Ticks between the acks a relay sends on its client's behalf: deltas 1 or 2 ticks old.
/// Each is one more message between the nodes (a write on this one, a read and a wake-up on
/// the hosting one). Measured with 300 relayed spectators of one room (BENCHMARKS.md "Relayed
/// spectators"): acking every tick took their bytes to 0.40x of their own every-eighth acks'
/// at 1.43x the two nodes' CPU per frame; every second tick to 0.52x at 1.18x.
const BEHALF_EVERY: u32 = 2;

/// The acks a relay sends the hosting node: its client's own, and on the client's behalf the
/// newest snapshot the client's socket took (a WebSocket delivers in order, so the client
/// will hold it), at most every [`BEHALF_EVERY`] ticks, which the hosting node encodes the next
/// snapshots against.
///
/// On the client's behalf only while the client's own newest ack keeps up with what its socket
/// took ([`acks_keep_up`], the rule a room applies to a client it serves itself): a client that
/// fails to rebuild a snapshot stops acking, the relay then stops too, and the hosting node
/// sends a full snapshot once its ack falls out of the ring. A client's ack older than one the
/// hosting node has is not passed on.
#[derive(Debug, Default)]
struct RelayAcks {
    /// The newest tick the client acked itself (only ticks its socket took count).
    client: Option<Tick>,
    /// The newest ack the hosting node got from this relay.
    sent: Option<Tick>,
}

impl RelayAcks {
    /// The client acked `tick`; `taken`: what its socket took so far. True when the ack is
    /// to be passed on. One naming a tick the socket never took is passed on untouched (the
    /// hosting node judges it) but counts for nothing here.
    fn client_acked(&mut self, tick: Tick, taken: Option<Tick>) -> bool {
        if taken.is_none_or(|taken| tick > taken) {
            return true;
        }
        self.client = self.client.max(Some(tick));
        if self.sent.is_some_and(|sent| tick <= sent) {
            return false;
        }
        self.sent = Some(tick);
        true
    }

    /// The ack to send on the client's behalf now that its socket took `taken`, if any.
    fn on_behalf(&mut self, taken: Option<Tick>) -> Option<Tick> {
        let (taken, client) = (taken?, self.client?);
        let fresh = self.sent.is_none_or(|sent| taken.0 >= sent.0.saturating_add(BEHALF_EVERY));
        if fresh && acks_keep_up(client, taken) {
            self.sent = Some(taken);
            return Some(taken);
        }
        None
    }
}

/// Queues the held events by themselves. False on overflow.
fn flush_events(link: &ClientLink, events: &mut BytesMut) -> bool {
    if events.is_empty() {
        return true;
    }
    let held: Bytes = events.split().freeze();
    link.push_control(held).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::{Event, EventKind, Tick};

    fn event_payload(spectators: u32) -> Vec<u8> {
        let mut builder = crate::frame::FrameBuilder::new();
        builder.push(&ServerMessage::Event(Event {
            tick: Tick(3),
            kind: EventKind::Audience { spectators },
        }));
        let framed = builder.finish();
        framed[2..].to_vec() // a one-byte length header: the payload follows it
    }

    #[test]
    fn a_quiet_hosting_node_is_pinged_once_then_given_up_on() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut host = HostSilence::new(t0);
        assert_eq!(host.deadline(), at(2000));
        // Heard meanwhile: the check that fires just waits for the new deadline.
        host.heard(at(1500));
        assert_eq!(host.act(at(2000)), HostAct::Wait(at(3500)));
        assert_eq!(host.act(at(3500)), HostAct::Ping(at(7500)));
        assert_eq!(host.act(at(5000)), HostAct::Wait(at(7500)), "one ping per silence");
        assert_eq!(host.act(at(7500)), HostAct::GiveUp);
        // The pong (or anything) starts over, ping included.
        let mut host = HostSilence::new(t0);
        assert_eq!(host.act(at(2000)), HostAct::Ping(at(6000)));
        host.heard(at(2100));
        assert_eq!(host.act(at(6000)), HostAct::Ping(at(8100)));
    }

    #[test]
    fn events_wait_for_their_snapshot_and_snapshots_replace_each_other() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let link = ClientLink::new();
        let mut events = BytesMut::new();
        assert!(deliver(&link, &ctx, &mut events, &event_payload(4), &mut Default::default()));
        assert!(link.take_batch().is_empty(), "an event waits for its tick's snapshot");
        let snapshot = [1u8, 9, 0, 0, 0];
        assert!(deliver(&link, &ctx, &mut events, &snapshot, &mut Default::default()));
        assert!(deliver(&link, &ctx, &mut events, &snapshot, &mut Default::default()));
        assert_eq!(ctx.metrics.frames_skipped.get(), 1, "the first snapshot was never taken");
        let batch = link.take_batch();
        assert_eq!(batch.control.len(), 1, "the event, framed");
        assert_eq!(&batch.control[0][2..], &event_payload(4)[..]);
        assert_eq!(&batch.snapshot.unwrap()[2..], &snapshot[..]);
        // Anything else goes out at once, after any held events.
        assert!(deliver(&link, &ctx, &mut events, &event_payload(5), &mut Default::default()));
        assert!(deliver(&link, &ctx, &mut events, &[4, 1, 2], &mut Default::default()));
        let batch = link.take_batch();
        assert_eq!(batch.control.len(), 2);
        assert_eq!(&batch.control[1][2..], &[4, 1, 2]);
    }

    #[test]
    fn a_relay_acks_what_its_client_s_socket_took_while_the_client_s_acks_keep_up() {
        let mut acks = RelayAcks::default();
        assert_eq!(acks.on_behalf(Some(Tick(5))), None, "nothing on behalf of a silent client");
        assert!(acks.client_acked(Tick(5), Some(Tick(5))), "the client's first ack goes on");
        assert!(!acks.client_acked(Tick(4), Some(Tick(6))), "an older one does not");
        assert_eq!(acks.on_behalf(Some(Tick(5))), None, "the host has that tick already");
        assert_eq!(acks.on_behalf(Some(Tick(6))), None, "too soon after the last ack");
        assert_eq!(acks.on_behalf(Some(Tick(7))), Some(Tick(7)));
        assert_eq!(acks.on_behalf(Some(Tick(7))), None, "once per tick taken");
        assert_eq!(acks.on_behalf(Some(Tick(8))), None);
        assert!(!acks.client_acked(Tick(7), Some(Tick(8))), "the client's own ack came after ours");
        assert!(acks.client_acked(Tick(8), Some(Tick(8))), "a newer one of its own goes on");
        assert_eq!(acks.on_behalf(Some(Tick(9))), None, "it counts as the last ack");
        assert_eq!(acks.on_behalf(Some(Tick(10))), Some(Tick(10)));
        // The client's own ack falls behind (it stopped rebuilding): the relay stops once it
        // is `ACK_LAG_MAX_TICKS` behind, so the hosting node falls back to a full snapshot.
        let last = 8 + crate::room::ACK_LAG_MAX_TICKS - 1;
        assert_eq!(acks.on_behalf(Some(Tick(last))), Some(Tick(last)));
        assert_eq!(acks.on_behalf(Some(Tick(last + 2))), None);
        assert_eq!(acks.on_behalf(Some(Tick(90))), None);
        // It acks again (it rebuilt the full snapshot): so does the relay.
        assert!(acks.client_acked(Tick(88), Some(Tick(90))));
        assert_eq!(acks.on_behalf(Some(Tick(91))), Some(Tick(91)));
        // A link that does not deliver in order knows nothing taken: only the client acks.
        let mut unordered = RelayAcks::default();
        assert!(unordered.client_acked(Tick(3), None));
        assert!(unordered.client_acked(Tick(3), None), "judged by the host alone");
        assert_eq!(unordered.on_behalf(None), None);
    }

    #[test]
    fn an_ack_of_a_tick_the_socket_never_took_is_passed_on_and_counts_for_nothing() {
        let mut acks = RelayAcks::default();
        assert!(acks.client_acked(Tick(1_000), Some(Tick(10))), "the host judges it");
        assert_eq!(acks.on_behalf(Some(Tick(11))), None, "it proves nothing held");
        assert!(acks.client_acked(Tick(10), Some(Tick(11))));
        assert_eq!(acks.on_behalf(Some(Tick(12))), Some(Tick(12)));
    }

    #[test]
    fn the_snapshot_s_tick_is_what_the_relay_s_link_took() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let link = ClientLink::new();
        link.set_in_order();
        let mut events = BytesMut::new();
        let snapshot = tickwire_shared::codec::encode_server(&ServerMessage::Snapshot(
            tickwire_shared::Snapshot {
                header: tickwire_shared::SnapshotHeader {
                    tick: Tick(300),
                    baseline: None,
                    reference: None,
                    last_input: tickwire_shared::InputSeq(0),
                    round: Some(tickwire_shared::RoundState {
                        round: 1,
                        phase: tickwire_shared::RoundPhase::Playing,
                        seconds_left: 60,
                    }),
                },
                body: vec![0],
            },
        ))
        .unwrap();
        assert!(deliver(&link, &ctx, &mut events, &snapshot, &mut Default::default()));
        assert_eq!(link.taken(), None, "in the slot, not yet taken");
        let batch = link.take_batch();
        assert!(batch.snapshot.is_some());
        assert_eq!(link.taken(), Some(Tick(300)));
    }
}
