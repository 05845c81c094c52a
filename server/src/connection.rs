//! One game WebSocket: the `Hello` handshake, the reader loop, and the writer task.
//!
//! The socket is split in two. The reader half goes to tungstenite, which parses and checks
//! the client's frames; the reader validates and rate-limits what the client sends and hands
//! it to the room without waiting on it (inputs and acks go into the [`ClientLink`]; chat
//! through the room's bounded channel). The writer half belongs to the writer task, which
//! writes the link's frames as they are: whole WebSocket frames the room built once and shares
//! with every client that gets the same bytes ([`crate::frame`]), everything one client is
//! owed in one vectored write, and reports its progress to the link (how the room tells a
//! slow reader from a dead one). What tungstenite writes on its own, the pongs and the echo of
//! a close, it writes into the link ([`ReadSide`]), and the writer sends that too. On a plain
//! TCP socket ([`serve_tcp`]) the room writes a tick's frames to an idle client's socket
//! itself, and the writer is not woken at all ([`crate::outbox`]).
//! Every way a connection ends maps to a close code with a reason.
//!
//! # The closing handshake (RFC 6455 section 7)
//! The reader side owns its end. When the client closes first, tungstenite makes the echo of
//! its close code; the reader tells the writer to send nothing else
//! ([`ClientLink::client_closed`]) and reads on, which is what makes tungstenite write the
//! echo, until the stream ends; the writer sends it and stops. When the server closes first,
//! the writer sends `Kick` and the close frame, and the reader keeps reading (and discarding)
//! until the client's answering close arrives. Either way the socket is dropped only then, or
//! after [`ServerConfig::close_timeout`](crate::ServerConfig::close_timeout): a peer that
//! closed cleanly sees its close code, and unread bytes never turn the server's close into a
//! reset.

use crate::auth::JoinGrant;
use crate::context::{FindRoomError, RoomHandle, ServerContext};
use crate::frame::{self, FrameBuilder};
use crate::guard::{FrameGuard, TextPolicy, Violation};
use crate::latency::RoundTrips;
use crate::metrics::Initiator;
use crate::outbox::{Batch, ClientLink, CloseRequest, RepliesOverflow};
use crate::proxy::Peer;
use crate::ratelimit::TokenBucket;
use crate::room::{Departure, JoinRefused, JoinRequest, Joined, RoomCommand};
use crate::socket::SharedTcp;
use crate::transport::{Attached, Transport};
use futures_util::{Stream, StreamExt};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tickwire_shared::codec::{decode_client, peek_hello_version};
use tickwire_shared::{
    ClientMessage, DecodeError, Hello, Kick, KickReason, KickText, Name, PROTOCOL_VERSION, Pong,
    Role, RoomRequest, ServerMessage, Tick, is_valid_room_name,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role as WsRole};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{Instrument, debug, info, info_span, warn};

/// A closing connection whose peer sends nothing for this long is done sending.
const LINGER_QUIET: Duration = Duration::from_millis(250);

/// Time the room may take to answer a join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Close codes used by the server (RFC 6455 section 7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: bad hello, wrong version, undecodable message.
    pub const PROTOCOL: u16 = 1002;
    /// A text message; tickwire is binary.
    pub const UNSUPPORTED: u16 = 1003;
    /// Invalid UTF-8 in a text field or frame.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy: rate limits, silence, too slow, replaced, resume refused, removed or banned.
    pub const POLICY: u16 = 1008;
    /// A message above the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed internally.
    pub const INTERNAL: u16 = 1011;
    /// Try again later: server or room full.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// What a close frame without a code reads as; never sent in a frame (an answer to such a
    /// close has no code either).
    pub const NO_STATUS: u16 = 1005;
    /// A connection that ended without a closing handshake (RFC 6455 7.1.5); never sent in a
    /// frame, only counted (`tickwire_closes_total{code="1006",initiator="client"}`).
    pub const ABNORMAL: u16 = 1006;
    /// 1002 as a browser sends it (its WebSocket API allows only 1000 and 3000-4999): a
    /// client that could not decode a message. Keeps the seat, as 1002 does.
    pub const BROWSER_PROTOCOL: u16 = 4002;
}

pub(crate) fn kick(code: u16, reason: KickReason, text: impl Into<String>) -> CloseRequest {
    let text = text.into();
    CloseRequest {
        code,
        kick: Some(Kick { reason, message: KickText::truncated(&text) }),
        reason: text,
    }
}

pub(crate) fn going_away() -> CloseRequest {
    kick(close_code::GOING_AWAY, KickReason::ShuttingDown, "server shutting down")
}

/// A close without a `Kick`: for what no `KickReason` says (a fault of the frame, or a refusal
/// a client should simply retry, which `Kick { Full }` on a first join would end).
pub(crate) fn close_only(code: u16, text: impl Into<String>) -> CloseRequest {
    CloseRequest { code, reason: text.into(), kick: None }
}

/// What happened to a message the reader could not accept.
fn decode_failure(e: DecodeError) -> CloseRequest {
    let code = match e {
        DecodeError::InvalidUtf8 => close_code::INVALID_DATA,
        DecodeError::TooLarge { .. } => close_code::TOO_BIG,
        _ => close_code::PROTOCOL,
    };
    kick(code, KickReason::MalformedMessage, format!("undecodable message: {e}"))
}

/// A WebSocket error from the reader as a close (or `None` when the peer is simply gone).
pub(crate) fn ws_failure(e: &WsError) -> Option<CloseRequest> {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some(close_only(
            close_code::TOO_BIG,
            format!("message of {size} bytes exceeds the limit of {max_size}"),
        )),
        WsError::Capacity(other) => Some(close_only(close_code::TOO_BIG, other.to_string())),
        // A peer that vanished without a closing handshake dropped; it did not misbehave.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(p) => Some(close_only(close_code::PROTOCOL, p.to_string())),
        // Text frames never reach tungstenite here (the guard refuses them): a close reason.
        WsError::Utf8(_) => {
            Some(close_only(close_code::INVALID_DATA, "the close reason is not UTF-8"))
        }
        WsError::Io(io) => {
            if let Some(refusal) = io.get_ref().and_then(|e| e.downcast_ref::<TransportRefusal>()) {
                return Some(refusal.0.clone());
            }
            if let Some(overflow) = io.get_ref().and_then(|e| e.downcast_ref::<RepliesOverflow>()) {
                return Some(close_only(close_code::POLICY, overflow.to_string()));
            }
            match Violation::of(io)? {
                Violation::TextFrame => Some(close_only(
                    close_code::UNSUPPORTED,
                    "tickwire speaks binary messages only",
                )),
                Violation::InvalidUtf8 => {
                    Some(close_only(close_code::INVALID_DATA, "text frame is not UTF-8"))
                }
            }
        }
        _ => None,
    }
}

/// What a transport below the reader refused before it became a message (the HTTP fallback's
/// record parser, [`crate::fallback`]): carried as an I/O error in the message stream, it closes
/// the connection with its code and reason, and the seat ends, as a WebSocket framing error does.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.reason)]
pub(crate) struct TransportRefusal(pub(crate) CloseRequest);

/// How the reader loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The client sent a close frame; tungstenite has queued its echo, carrying this code.
    /// A goodbye ends the seat; a close for a fault keeps it for a resume
    /// ([`close_ends_seat`]).
    ClientClosed {
        /// The code of the echo (the client's own, or 1002 for a code it may not send, or
        /// 1005 when its close frame had no code).
        echo: u16,
    },
    /// The server closed it for a reason that keeps the seat (silence, too slow, a resume
    /// elsewhere).
    Dropped,
    /// The client went away without a closing handshake: its socket ended (EOF) or failed (a
    /// reset). The seat waits for a resume; the connection counts as 1006 from the client.
    /// A close still goes out if the socket takes it (a client that shut down only its
    /// sending side reads it), as no close of the server's.
    Lost,
    /// The server closed it for a reason that ends the seat.
    Refused,
    /// The client broke the WebSocket protocol (a frame too big, invalid UTF-8, a text frame,
    /// bad framing): the server closes for it and the seat ends. The message stream is dead,
    /// so the closing handshake lingers on the raw socket.
    Broken,
}

/// Whether a client's close, by the code of its echo, gives its seat up (PROTOCOL.md 7.1 step
/// 8). A goodbye does: 1000, 1001 (a page going away) or no code. Any other code says the
/// client hit a fault (1002 for a message it could not decode; 4002 from a browser, which may
/// not send 1002) and will come back with its resume token, as after a dropped connection:
/// ending the seat would cost the player its ship and score for the server's own bad message.
pub(crate) fn close_ends_seat(echo: u16) -> bool {
    matches!(echo, close_code::NORMAL | close_code::GOING_AWAY | close_code::NO_STATUS)
}

/// The code tungstenite echoes to a client's close frame (see `WebSocketContext::do_close`).
pub(crate) fn echo_code(frame: Option<&CloseFrame>) -> u16 {
    match frame {
        None => close_code::NO_STATUS,
        Some(frame) if frame.code.is_allowed() => frame.code.into(),
        Some(_) => close_code::PROTOCOL,
    }
}

/// What the writer task did with the connection's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterEnd {
    /// It wrote the server's close frame (or, after the client's close, tungstenite's echo of
    /// it), so the closing handshake can complete.
    pub(crate) close_sent: bool,
    /// What it wrote was the echo of the client's close, not a close of the server's own: the
    /// handshake counts as the client's. When the two closes cross, the server's went out
    /// first and was counted as the server's.
    pub(crate) echoed: bool,
}

/// The reader's half of the socket as tungstenite sees it: reads come from the client
/// (through the [`FrameGuard`]); what tungstenite writes on its own (pongs, the echo of a
/// close) goes into the [`ClientLink`] for the writer task to send, bounded (a client that
/// floods pings and never reads fails its connection with [`RepliesOverflow`]).
#[derive(Debug)]
pub struct ReadSide<R> {
    guard: FrameGuard<R>,
    link: Arc<ClientLink>,
    /// `tickwire_bytes_received_total`.
    received: prometheus_client::metrics::counter::Counter,
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.guard).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        // Not for the polls that find nothing: one shared counter, every connection's reads.
        if read > 0 {
            this.received.inc_by(read as u64);
        }
        polled
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(match self.link.push_reply(bytes) {
            Ok(()) => Ok(bytes.len()),
            Err(overflow) => Err(io::Error::other(overflow)),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The message stream of one game connection.
type Messages<R> = WebSocketStream<ReadSide<R>>;

/// Where a client that sent a good `Hello` was seated.
#[derive(Debug)]
pub(crate) enum Admitted {
    /// In a room of this server.
    Local(Joined, RoomHandle),
    /// In a room of another node of the fleet, through this connection to it (cluster mode).
    Remote(Box<crate::cluster::proxy::Upstream>),
}

/// Serves one upgraded game connection until it ends.
///
/// `io`: the socket after the HTTP upgrade. `config`: tungstenite's limits for what the
/// client sends. `grant`: what the client's join token allows, when tokens are required.
/// `hop`: set when another node of the fleet proxies this client here (cluster mode).
pub fn serve<S>(
    io: S,
    config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    ctx: Arc<ServerContext>,
    peer: Peer,
    grant: Option<JoinGrant>,
    hop: Option<crate::cluster::Hop>,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(io);
    serve_halves(read_half, write_half, config, ctx, peer, grant, hop)
}

/// A write half the room may write to itself.
trait DirectWrite {
    fn direct(&self) -> Option<SharedTcp> {
        None
    }
}

impl<S> DirectWrite for tokio::io::WriteHalf<S> {}

impl DirectWrite for SharedTcp {
    fn direct(&self) -> Option<SharedTcp> {
        Some(self.clone())
    }
}

/// [`serve`] for a plain TCP socket, split without a lock ([`SharedTcp`]): the reader keeps
/// the read half; the writer shares the write side with the room, which writes a tick's frames
/// to it itself when the client is owed nothing ([`crate::outbox`]). `early` holds bytes the
/// client sent after its upgrade request that the HTTP server already read.
pub fn serve_tcp(
    socket: tokio::net::TcpStream,
    early: bytes::Bytes,
    config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    ctx: Arc<ServerContext>,
    peer: Peer,
    grant: Option<JoinGrant>,
    hop: Option<crate::cluster::Hop>,
) -> impl Future<Output = ()> + Send {
    let (read_half, socket) = SharedTcp::split(socket);
    let read_half = Prefixed::new(early, read_half);
    serve_halves(read_half, socket, config, ctx, peer, grant, hop)
}

/// A reader that yields `early` before reading from `inner`.
#[derive(Debug)]
struct Prefixed<R> {
    early: bytes::Bytes,
    inner: R,
}

impl<R> Prefixed<R> {
    fn new(early: bytes::Bytes, inner: R) -> Self {
        // Even empty, `early` is a slice of the HTTP server's whole read buffer (8 KiB or
        // more), which it would keep alive for the connection's life: keep it only while it
        // holds bytes (`early` itself is dropped on return).
        let early = if early.is_empty() { bytes::Bytes::new() } else { early };
        Prefixed { early, inner }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Prefixed<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.early.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.early.len().min(buf.remaining());
        buf.put_slice(&this.early.split_to(n));
        if this.early.is_empty() {
            // See `Prefixed::new`.
            this.early = bytes::Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

/// The connection's whole life as one future, which its task holds from the upgrade to the
/// close: these functions are not `async` themselves, as each `async` layer would keep its own
/// copy of the arguments in that future (BENCHMARKS.md, memory per spectator).
fn serve_halves<R, W>(
    read_half: R,
    write_half: W,
    config: tokio_tungstenite::tungstenite::protocol::WebSocketConfig,
    ctx: Arc<ServerContext>,
    peer: Peer,
    grant: Option<JoinGrant>,
    hop: Option<crate::cluster::Hop>,
) -> impl Future<Output = ()> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + DirectWrite + Unpin + Send + 'static,
{
    // Behind a proxy, the client without the port it does not know, and the proxy.
    let span = info_span!(
        "conn",
        peer = %peer.client_shown(),
        proxy = peer.proxy.map(tracing::field::display),
        player = tracing::field::Empty,
        room = tracing::field::Empty
    );
    async move {
        let link = Arc::new(ClientLink::new());
        if let Some(socket) = write_half.direct() {
            link.set_direct(socket);
        }
        // A relay in front (another node of the fleet) skips frames its client reads too
        // slowly, so there acks say what the client holds: the relay's on its behalf (what
        // the relay's own socket took) and the client's.
        if hop.is_none() {
            link.set_in_order();
        }
        let read_side = ReadSide {
            guard: FrameGuard::new(read_half, TextPolicy::Refuse),
            link: link.clone(),
            received: ctx.metrics.bytes_received.clone(),
        };
        let mut stream =
            WebSocketStream::from_raw_socket(read_side, WsRole::Server, Some(config)).await;
        let writer =
            ctx.tasks.spawn(write_loop(write_half, link.clone(), ctx.clone()).in_current_span());

        // Proxied by another node of the fleet: the client's own transport, which the proxying
        // node says (a fallback client is relayed over a WebSocket).
        let transport = hop.as_ref().map_or(Transport::WebSocket, |hop| hop.transport);
        let end = play(&mut stream, &link, &ctx, grant, hop, peer.ip(), transport).await;
        // Boxed, like the handshake: only the connection's end needs its state.
        Box::pin(finish(stream, &link, writer, &ctx, end)).await;
        // The room may hold the link a while longer (a seat waiting for a resume); the socket
        // closes now.
        link.release_socket();
    }
    .instrument(span)
}

/// Seats the client (its `Hello`, the room's answer), reads its messages until the connection
/// ends, and tells the room how it ended; a client whose room another node of the fleet hosts
/// is relayed there instead. Every transport runs this: `stream` yields what the client sent,
/// as tungstenite's messages (the HTTP fallback makes them from its records).
pub(crate) async fn play<St>(
    stream: &mut St,
    link: &Arc<ClientLink>,
    ctx: &Arc<ServerContext>,
    grant: Option<JoinGrant>,
    hop: Option<crate::cluster::Hop>,
    client: std::net::IpAddr,
    transport: Transport,
) -> ReadEnd
where
    St: Stream<Item = Result<Message, WsError>> + Unpin,
{
    // A client relayed by another node of the fleet: that node sees its acks (some of the
    // ones reaching here it sends on the client's behalf), and measures its round trip.
    let relayed = hop.is_some();
    // Boxed, and freed once the client is seated: held in place, the handshake's state would
    // be part of every connection's task for its whole life (BENCHMARKS.md, memory per
    // spectator).
    let admitted = Box::pin(handshake(stream, link, ctx, grant, hop, client, transport)).await;
    let (joined, handle) = match admitted {
        Ok(Admitted::Local(joined, handle)) => (joined, handle),
        Ok(Admitted::Remote(upstream)) => {
            return crate::cluster::proxy::relay(stream, link, ctx, upstream).await;
        }
        Err(end) => return end,
    };
    let span = tracing::Span::current();
    span.record("player", joined.player.0);
    span.record("room", joined.room.name.as_str());
    let _attached = Attached::new(&ctx.metrics, &joined.room, transport);
    let measured = (!relayed).then_some(transport);
    let end = read_loop(stream, link, ctx, &joined, &handle, measured).await;
    if let ReadEnd::ClientClosed { .. } = end {
        // Before the room hears of it, so nothing more is queued for this client.
        link.client_closed();
    }
    let how = match end {
        ReadEnd::ClientClosed { echo } if !close_ends_seat(echo) => Departure::Dropped,
        ReadEnd::ClientClosed { .. } | ReadEnd::Refused | ReadEnd::Broken => Departure::Left,
        ReadEnd::Dropped | ReadEnd::Lost => Departure::Dropped,
    };
    let leave = RoomCommand::Leave { player: joined.player, link: link.clone(), how };
    // The room may be gone already during shutdown; nothing is left to tell then.
    let _ = handle.commands.send(leave).await;
    end
}

/// Completes the closing handshake (see the module docs), bounded by `close_timeout` each way,
/// and waits for the writer to exit.
async fn finish<R, W>(
    mut stream: Messages<R>,
    link: &ClientLink,
    writer: tokio::task::JoinHandle<(WriterEnd, W)>,
    ctx: &ServerContext,
    end: ReadEnd,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let timeout = ctx.config.close_timeout;
    let mut writer = writer;
    // A relay (cluster mode) says `Dropped` for a client that went away too; only the server's
    // own reasons for `Dropped` request a close.
    let end = match end {
        ReadEnd::Dropped if !link.is_closing() => ReadEnd::Lost,
        end => end,
    };
    let mut written = None;
    let clean = match end {
        ReadEnd::ClientClosed { echo } => {
            link.client_closed();
            // Reading on is what makes tungstenite write its echo (into the link); the stream
            // ends once it has.
            let drained = tokio::time::timeout(timeout, drain(&mut stream)).await == Ok(true);
            link.reader_done();
            let out = tokio::time::timeout(timeout, &mut writer).await;
            let sent = matches!(&out, Ok(Ok((end, _))) if end.close_sent);
            let echoed = matches!(&out, Ok(Ok((end, _))) if end.echoed);
            written = out.ok().and_then(Result::ok);
            let clean = drained && sent;
            if clean && echoed {
                ctx.metrics.closed(echo, Initiator::Client);
                debug!(code = echo, "client closed; echoed");
            } else {
                debug!(code = echo, "client closed; the echo could not be written");
            }
            clean
        }
        // The message stream died with the error the close is about: nothing to read on it.
        ReadEnd::Broken => false,
        ReadEnd::Refused | ReadEnd::Dropped | ReadEnd::Lost => {
            // Whatever ended the session, make sure the writer sends a close and exits (a
            // refusal requested its own, with its reason, and the first request wins).
            let ended = || {
                close_only(close_code::NORMAL, "the connection ended without a closing handshake")
            };
            // A client gone without a closing handshake is counted as what it is. The close
            // still goes out if the socket takes it (a client that only shut down its sending
            // side reads it), but it is no close of the server's: a reset socket takes none,
            // and one the peer closed only answers it with a reset.
            if end == ReadEnd::Lost && link.close_after_loss(ended()) {
                debug!("connection lost without a closing handshake");
                ctx.metrics.connection_lost();
            } else {
                link.close(ended());
            }
            let drained = drain(&mut stream);
            tokio::pin!(drained);
            tokio::select! {
                // The client answered (or the socket is gone): nothing left to wait for.
                clean = &mut drained => clean,
                out = &mut writer => {
                    let sent = out.as_ref().is_ok_and(|(end, _)| end.close_sent);
                    written = out.ok();
                    sent && tokio::time::timeout(timeout, drained).await == Ok(true)
                }
            }
        }
    };
    link.reader_done();
    let written = match written {
        Some(written) => Some(written),
        // The writer stops at once now (the session is closing); bounded all the same.
        None => tokio::time::timeout(timeout, writer).await.ok().and_then(Result::ok),
    };
    let Some((end_of_writer, mut write_half)) = written else { return };
    if !clean && !matches!(end, ReadEnd::Dropped | ReadEnd::Lost) && end_of_writer.close_sent {
        // The client broke the protocol or its answer did not come cleanly, but its socket may
        // be alive with bytes in flight: read them off before dropping it, or the kernel
        // answers them with a reset that can destroy the close frame before the client reads
        // it.
        let read_side = stream.get_mut();
        read_side.guard.disarm();
        linger(read_side, timeout).await;
    }
    // FIN after the last frame; dropping both halves then closes the socket.
    let _ = tokio::time::timeout(timeout, write_half.shutdown()).await;
}

/// Reads and discards raw bytes until the peer closes, the socket fails, nothing has come for
/// [`LINGER_QUIET`], or `timeout` passes (nginx's lingering close does the same).
pub(crate) async fn linger<S: AsyncRead + Unpin>(io: &mut S, timeout: Duration) {
    use tokio::io::AsyncReadExt;
    // On the heap, not in the connection's future, which every connection carries for its
    // whole life while few ever linger.
    let mut discard = vec![0u8; 4096];
    let _ = tokio::time::timeout(timeout, async {
        while let Ok(Ok(n)) = tokio::time::timeout(LINGER_QUIET, io.read(&mut discard)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Reads and discards until the stream ends. True when it ended cleanly: the closing handshake
/// completed (tungstenite ends a server's stream once both close frames have crossed and its
/// own is written), false when the socket failed first.
pub(crate) async fn drain<S>(stream: &mut S) -> bool
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match stream.next().await {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(_)) => {}
        }
    }
}

async fn next_message<St>(stream: &mut St) -> Option<Result<Message, WsError>>
where
    St: Stream<Item = Result<Message, WsError>> + Unpin,
{
    stream.next().await
}

/// Reads the `Hello` and seats the client. On failure the close is already requested and the
/// error says how the connection ends.
async fn handshake<St>(
    stream: &mut St,
    link: &Arc<ClientLink>,
    ctx: &Arc<ServerContext>,
    grant: Option<JoinGrant>,
    hop: Option<crate::cluster::Hop>,
    client: std::net::IpAddr,
    transport: Transport,
) -> Result<Admitted, ReadEnd>
where
    St: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let refused = |close: CloseRequest| {
        link.close(close);
        Err(ReadEnd::Refused)
    };
    let deadline = Instant::now() + ctx.config.handshake_timeout;
    let bytes = loop {
        let message = tokio::select! {
            m = tokio::time::timeout_at(deadline, next_message(stream)) => m,
            _ = shutdown_signal(ctx) => return refused(going_away()),
        };
        match message {
            Err(_) => {
                return refused(close_only(
                    close_code::POLICY,
                    "no Hello within the handshake timeout",
                ));
            }
            Ok(None) => return Err(ReadEnd::Lost),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(ReadEnd::ClientClosed { echo: echo_code(frame.as_ref()) });
            }
            Ok(Some(Ok(Message::Binary(bytes)))) => break bytes,
            Ok(Some(Ok(Message::Text(_)))) => {
                return refused(close_only(
                    close_code::UNSUPPORTED,
                    "tickwire speaks binary messages only",
                ));
            }
            Ok(Some(Ok(_))) => continue, // ping, pong
            Ok(Some(Err(e))) => {
                return match ws_failure(&e) {
                    Some(close) => {
                        link.close(close);
                        Err(ReadEnd::Broken)
                    }
                    None => Err(ReadEnd::Lost),
                };
            }
        }
    };

    match peek_hello_version(&bytes) {
        Some(PROTOCOL_VERSION) => {}
        Some(theirs) => {
            return refused(kick(
                close_code::PROTOCOL,
                KickReason::VersionMismatch { server: PROTOCOL_VERSION },
                format!("this server speaks protocol {PROTOCOL_VERSION}, the client {theirs}"),
            ));
        }
        None => {
            return refused(kick(
                close_code::PROTOCOL,
                KickReason::BadHello,
                "the first message must be Hello",
            ));
        }
    }
    let hello = match decode_client(&bytes) {
        Ok(ClientMessage::Hello(hello)) => hello,
        Ok(_) => unreachable!("peek_hello_version saw the Hello tag"),
        Err(e) => {
            let mut close = decode_failure(e);
            if let Some(k) = close.kick.as_mut() {
                k.reason = KickReason::BadHello;
            }
            return refused(close);
        }
    };
    if let Err(why) = validate_hello(&hello) {
        return refused(kick(close_code::PROTOCOL, KickReason::BadHello, why));
    }
    let mut hello = hello;
    if let Some(grant) = grant
        && let Err(why) = apply_grant(&mut hello, &grant)
    {
        return refused(kick(close_code::POLICY, KickReason::BadHello, why));
    }
    let now = Instant::now();
    if let Some(ban) = ctx.bans.check(client, &hello.name, now) {
        ctx.metrics.joins_banned.inc();
        debug!(%client, name = %hello.name, banned = %ban.target(), "join refused: banned");
        let message = crate::moderation::ban_message(&ban);
        return refused(kick(close_code::POLICY, KickReason::Removed, message.as_str()));
    }
    // The seat an operator removed is not resumed, nor swapped for a fresh one.
    if let Some(token) = &hello.resume
        && let Some(message) = ctx.bans.removed_token(token, now)
    {
        return refused(kick(close_code::POLICY, KickReason::Removed, message.as_str()));
    }
    if let Some(cluster) = ctx.cluster() {
        // Boxed: the fleet's admission future is three times the rest of the handshake, whose
        // box a server outside a fleet then need not make room for.
        return Box::pin(cluster.admit(ctx, hello, link, hop, client, transport)).await;
    }
    join(hello, link, ctx, client)
        .await
        .map(|(joined, handle)| Admitted::Local(joined, handle))
        .ok_or(ReadEnd::Refused)
}

/// Holds a `Hello` to what its join token allows: the token's name replaces the one asked
/// for; a room or role the token pins must be the one asked for.
pub fn apply_grant(hello: &mut Hello, grant: &JoinGrant) -> Result<(), String> {
    if let Some(room) = grant.room
        && hello.room != RoomRequest::Named(room)
    {
        return Err(format!("this join token is for room {} only", room.as_str()));
    }
    if let Some(role) = grant.role
        && hello.role != role
    {
        return Err(format!("this join token joins as a {role:?} only"));
    }
    hello.name = grant.name;
    Ok(())
}

/// Checks what `decode_client` cannot: the room name's characters. `Err` says why, for the
/// `Kick { BadHello }` and close 1002 the caller sends.
pub fn validate_hello(hello: &Hello) -> Result<(), String> {
    if let RoomRequest::Named(name) = &hello.room
        && !is_valid_room_name(name.as_str())
    {
        return Err(format!(
            "room name {:?} must be 1-16 letters, digits, '-', '_' or '.'",
            name.as_str()
        ));
    }
    Ok(())
}

/// A display name as other players see it: [`clean_name_text`], cut to fit.
pub fn clean_name(name: &Name) -> Name {
    Name::truncated(&clean_name_text(name))
}

/// A name without what would let it pass for another or for none: control characters,
/// direction overrides and marks (a right-to-left override shows `\u{202e}nimda` as `admin`),
/// invisible characters (zero-width spaces, soft hyphens, Hangul and Braille blanks, line
/// separators) and tag characters outside a whole flag's sequence (which hide text); then
/// trimmed. Joiners (U+200C, U+200D) stay: Persian and Indic names and emoji sequences need
/// them. Moderation compares names without them ([`crate::moderation::name_key`]).
pub fn clean_name_text(name: &str) -> String {
    let mut cleaned = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1F3F4}' {
            // A subdivision's flag: the black flag, one to six tag digits or letters, the
            // cancel tag. Its tags stay only as a whole sequence; any others are hidden text.
            cleaned.push(c);
            let is_tag_spec =
                |t: &char| matches!(t, '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}');
            let tags: Vec<char> = std::iter::from_fn(|| chars.next_if(is_tag_spec)).collect();
            if (1..=6).contains(&tags.len()) && chars.next_if_eq(&'\u{E007F}').is_some() {
                cleaned.extend(tags);
                cleaned.push('\u{E007F}');
            }
            continue;
        }
        let tag = ('\u{E0000}'..='\u{E007F}').contains(&c);
        if !(tag || c.is_control() || hides(c)) {
            cleaned.push(c);
        }
    }
    cleaned.trim().to_owned()
}

/// Whether `c` changes how the text around it reads or shows nothing: the format characters
/// (Unicode category Cf) other than the joiners, and the blanks that are letters or symbols.
fn hides(c: char) -> bool {
    matches!(c,
        '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{061C}' // Arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
        | '\u{200B}' // zero-width space
        | '\u{200E}' | '\u{200F}' // left-to-right and right-to-left marks
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}' // isolates, deprecated format characters
        | '\u{2800}' // Braille blank
        | '\u{FEFF}' // zero-width no-break space (BOM)
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}' // musical format controls
    )
}

/// Seats the client in a room of this server (found or created as `hello` asks); on refusal
/// the close is already requested on `link`.
pub(crate) async fn join(
    hello: Hello,
    link: &Arc<ClientLink>,
    ctx: &Arc<ServerContext>,
    client: std::net::IpAddr,
) -> Option<(Joined, RoomHandle)> {
    // A room can close between the directory lookup and our join, or (for `Any`) fill up
    // with named joins; then ask again, a bounded number of times.
    for _attempt in 0..4 {
        // A room that failed while taking the join (a panic) closed this link already.
        if link.is_closing() {
            return None;
        }
        // Held until the room takes the join, so concurrent `Any` joins spread over rooms.
        let (handle, reservation) = match ctx.find_room(
            &hello.room,
            hello.resume.as_ref(),
            hello.role == Role::Spectator,
        ) {
            Ok(handle) => handle,
            Err(e @ FindRoomError::GameFailed) => {
                link.close(close_only(close_code::INTERNAL, e.to_string()));
                return None;
            }
            // A passing refusal: no `Kick` (which ends a first join), so clients retry, and
            // the fleet places them on another node.
            Err(e @ FindRoomError::Draining) => {
                link.close(close_only(close_code::TRY_AGAIN_LATER, e.to_string()));
                return None;
            }
            Err(e) => {
                link.close(kick(close_code::TRY_AGAIN_LATER, KickReason::Full, e.to_string()));
                return None;
            }
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let request = JoinRequest {
            role: hello.role,
            name: clean_name(&hello.name),
            resume: hello.resume,
            link: link.clone(),
            client,
            reservation: Some(reservation),
        };
        let command = RoomCommand::Join { request, reply: reply_tx };
        match tokio::time::timeout(JOIN_TIMEOUT, handle.commands.send(command)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => continue, // the room closed meanwhile
            Err(_) => break,        // the room is overloaded
        }
        let mut reply_rx = reply_rx;
        let reply = tokio::time::timeout(JOIN_TIMEOUT, &mut reply_rx).await;
        match reply {
            Ok(Ok(Ok(joined))) => return Some((joined, handle)),
            Ok(Ok(Err(JoinRefused::Closing))) | Ok(Err(_)) => continue,
            // Matchmaking picks another room (this one now counts as full).
            Ok(Ok(Err(JoinRefused::Full))) if hello.room == RoomRequest::Any => continue,
            Ok(Ok(Err(JoinRefused::Full))) => {
                link.close(kick(
                    close_code::TRY_AGAIN_LATER,
                    KickReason::Full,
                    format!("room {} is full", handle.shared.name),
                ));
                return None;
            }
            Ok(Ok(Err(e @ JoinRefused::TooFast))) => {
                ctx.metrics.refused("join_rate");
                // A passing refusal: no `Kick` (which ends a first join), so clients retry.
                link.close(close_only(close_code::TRY_AGAIN_LATER, e.to_string()));
                return None;
            }
            Ok(Ok(Err(JoinRefused::RoleMismatch))) => {
                link.close(kick(
                    close_code::POLICY,
                    KickReason::ResumeRejected,
                    "the resume token belongs to a seat of another role",
                ));
                return None;
            }
            Err(_) => {
                // The room may have seated the join between the deadline and now: it did the
                // whole join then (its Welcome is on the link, and a resume kicked the
                // connection it replaced), so the seat is this connection's to serve. Closed
                // first, so that the room sees a join answered after this as given up.
                reply_rx.close();
                if let Ok(Ok(joined)) = reply_rx.try_recv() {
                    return Some((joined, handle));
                }
                break;
            }
        }
    }
    warn!("no room accepted the join");
    // An overloaded room, or rooms that closed or filled under the join each time: passing,
    // so no `Kick { Full }` (which ends a first join); clients retry a plain 1013.
    link.close(close_only(close_code::TRY_AGAIN_LATER, "no room could take the join; try again"));
    None
}

async fn read_loop<St>(
    stream: &mut St,
    link: &Arc<ClientLink>,
    ctx: &Arc<ServerContext>,
    joined: &Joined,
    room: &RoomHandle,
    // The client's transport, when its round trip is measured here (not relayed).
    measured: Option<Transport>,
) -> ReadEnd
where
    St: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let config = &ctx.config;
    let now = Instant::now();
    let mut inputs = TokenBucket::new(config.input_rate, config.input_burst, now);
    let mut chats = TokenBucket::new(config.chat_rate, config.chat_burst, now);
    let mut silence = Silence::new(now, config.heartbeat_interval, config.idle_timeout);
    let mut pongs = FrameBuilder::new();
    let mut round_trips = RoundTrips::default();
    // Made once, not per message: a crowd's acks are most of what the server reads, and a
    // timer, a watch receiver and a waiter created and dropped for each one cost locks in the
    // timer wheel and the notifiers (BENCHMARKS.md, crowds). The silence timer moves lazily:
    // a message only notes the time, and the timer is re-armed when it fires early.
    let silent = tokio::time::sleep_until(silence.deadline());
    let shutdown = shutdown_signal(ctx);
    let closing = link.close_requested();
    tokio::pin!(silent, shutdown, closing);
    loop {
        let message = tokio::select! {
            m = next_message(stream) => Ok(m),
            () = &mut silent => match silence.act(link, Instant::now()) {
                Some(next) => {
                    silent.as_mut().reset(next);
                    continue;
                }
                None => Err(()),
            },
            () = &mut shutdown => {
                link.close(going_away());
                return ReadEnd::Refused;
            }
            () = &mut closing => return ReadEnd::Dropped,
        };
        let now = Instant::now();
        let bytes = match message {
            Err(()) => {
                link.close(silence.idle_kick());
                return ReadEnd::Dropped;
            }
            Ok(None) => return ReadEnd::Lost,
            Ok(Some(Err(e))) => {
                return match ws_failure(&e) {
                    Some(close) => {
                        link.close(close);
                        ReadEnd::Broken
                    }
                    None => {
                        debug!(error = %e, "connection lost");
                        ReadEnd::Lost
                    }
                };
            }
            Ok(Some(Ok(message))) => {
                silence.heard(now);
                match message {
                    Message::Binary(bytes) => bytes,
                    Message::Close(frame) => {
                        return ReadEnd::ClientClosed { echo: echo_code(frame.as_ref()) };
                    }
                    Message::Text(_) => {
                        link.close(close_only(
                            close_code::UNSUPPORTED,
                            "tickwire speaks binary messages only",
                        ));
                        return ReadEnd::Refused;
                    }
                    _ => continue, // pings are answered by tungstenite; pongs just prove life
                }
            }
        };
        let refuse = |close: CloseRequest| {
            link.close(close);
            ReadEnd::Refused
        };
        match decode_client(&bytes) {
            Err(e) => return refuse(decode_failure(e)),
            Ok(ClientMessage::Hello(_)) => {
                return refuse(kick(
                    close_code::PROTOCOL,
                    KickReason::BadHello,
                    "Hello was already sent",
                ));
            }
            Ok(ClientMessage::Input(input)) => {
                if !joined.role.plays() {
                    return refuse(kick(
                        close_code::POLICY,
                        KickReason::MalformedMessage,
                        "spectators do not send input",
                    ));
                }
                if !inputs.try_take(now) {
                    return refuse(kick(
                        close_code::POLICY,
                        KickReason::RateLimited,
                        format!("more than {} inputs per second", config.input_rate),
                    ));
                }
                link.record_input(input);
            }
            Ok(ClientMessage::Ack(ack)) => {
                // An ack of a tick not yet sent would pin the baseline forever: ignore it.
                let current = Tick(joined.room.tick.load(Ordering::Relaxed));
                if ack.tick.0 <= current.0 {
                    let newer = link.record_ack(ack.tick);
                    let times = &joined.room.tick_times;
                    if let Some(transport) = measured
                        && let Some(trip) = round_trips.on_ack(ack.tick, newer, now, times, current)
                    {
                        link.record_round_trip(trip);
                        ctx.metrics.round_trip(joined.role, transport, trip);
                    }
                }
            }
            Ok(ClientMessage::Chat(chat)) => {
                if !chats.try_take(now) {
                    return refuse(kick(
                        close_code::POLICY,
                        KickReason::RateLimited,
                        format!("more than {} chat lines per second", config.chat_rate),
                    ));
                }
                let text: String = chat.text.chars().filter(|c| !c.is_control()).collect();
                let text = tickwire_shared::ChatText::truncated(text.trim());
                if !text.is_empty() {
                    // Chat is rate-limited above, so a full room channel means an overloaded
                    // room: dropping one line beats stalling this reader.
                    let _ =
                        room.commands.try_send(RoomCommand::Chat { player: joined.player, text });
                }
            }
            Ok(ClientMessage::Ping(ping)) => {
                let pong = Pong {
                    nonce: ping.nonce,
                    server_tick: tickwire_shared::Tick(joined.room.tick.load(Ordering::Relaxed)),
                };
                if pongs.push(&ServerMessage::Pong(pong))
                    && link.push_control(pongs.finish()).is_err()
                {
                    // Too slow, as the room judges a client that does not read: the seat waits
                    // for a resume (PROTOCOL.md 7.3).
                    link.close(kick(
                        close_code::POLICY,
                        KickReason::TooSlow,
                        "client is not reading its messages",
                    ));
                    return ReadEnd::Dropped;
                }
            }
        }
    }
}

/// The one timer for a client's silence, sans IO (time is an argument): the reader's, and the
/// relay's for a client whose room is on another node.
///
/// A client silent for a heartbeat interval is pinged, and again every interval while the
/// silence lasts, so that one which is alive but has nothing to say (a spectator that does not
/// ack, a tab in the background) answers with a pong; one silent for the idle timeout is
/// closed. A client heard from meanwhile gets no ping: its own frames prove it alive, and the
/// room's snapshots, every tick, tell it the server is. (A ping to every client every interval
/// cost a crowd a wake-up, a write and a pong to read per client per interval: at 5,000
/// spectators, 1,000 of each a second; BENCHMARKS.md, crowds.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct Silence {
    heartbeat: Duration,
    idle: Duration,
    last_heard: Instant,
    /// The earliest time of the next ping within one silence (a ping's interval runs from the
    /// ping before it).
    next_ping: Instant,
}

/// What [`Silence::check`] found when the timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SilenceCheck {
    /// Heard from recently enough: nothing to do until [`Silence::deadline`].
    Quiet,
    /// Silent for a heartbeat interval since the client was heard or last pinged: ping it.
    Ping,
    /// Silent for the idle timeout: close it.
    Idle,
}

impl Silence {
    pub(crate) fn new(now: Instant, heartbeat: Duration, idle: Duration) -> Self {
        // A zero heartbeat would ping at every wake-up; the CLI refuses 0, a library caller
        // might not.
        let heartbeat = heartbeat.max(Duration::from_millis(1));
        Self { heartbeat, idle, last_heard: now, next_ping: now }
    }

    /// The client sent a frame (any frame, pongs included) at `now`.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    fn ping_due(&self) -> Instant {
        self.next_ping.max(self.last_heard + self.heartbeat)
    }

    /// When the timer must fire next: the next ping due or the idle close, whichever is first.
    pub(crate) fn deadline(&self) -> Instant {
        self.ping_due().min(self.last_heard + self.idle)
    }

    /// Decides at `now` (the timer fired); a ping moves the next one an interval on.
    fn check(&mut self, now: Instant) -> SilenceCheck {
        if now >= self.last_heard + self.idle {
            SilenceCheck::Idle
        } else if now >= self.ping_due() {
            self.next_ping = now + self.heartbeat;
            SilenceCheck::Ping
        } else {
            SilenceCheck::Quiet
        }
    }

    /// The timer fired at `now`: pings `link`'s client if one is due and returns when the
    /// timer must fire next, or `None` once the client has been silent for the idle timeout
    /// (close it with [`Silence::idle_kick`]).
    pub(crate) fn act(&mut self, link: &ClientLink, now: Instant) -> Option<Instant> {
        match self.check(now) {
            SilenceCheck::Idle => return None,
            // Through the link, like every frame, so it never interleaves with the room's
            // direct writes. (A client whose pongs and pings fill the reply buffer is not
            // reading: this ping is skipped, and the room closes it for its stall.)
            SilenceCheck::Ping if !link.is_closing() => {
                let _ = link.push_reply(frame::PING);
            }
            SilenceCheck::Ping | SilenceCheck::Quiet => {}
        }
        Some(self.deadline())
    }

    /// The close of a client silent for the idle timeout.
    pub(crate) fn idle_kick(&self) -> CloseRequest {
        let silence = self.idle.as_secs_f32();
        kick(close_code::POLICY, KickReason::Idle, format!("nothing received for {silence} s"))
    }
}

/// Resolves when the server begins shutting down.
pub async fn shutdown_signal(ctx: &ServerContext) {
    let mut shutdown = ctx.shutdown.clone();
    // An error means the sender is gone, which only happens when the server is stopping.
    let _ = shutdown.wait_for(|&down| down).await;
}

/// Frames written per vectored write at most (a batch with more takes several).
const WRITE_SLICES: usize = 32;

/// Writes `frames` in order with as few write calls as the socket allows (one, unless it
/// takes less than everything), reporting progress to `link` after each call that wrote.
async fn write_frames<'a, W>(
    io: &mut W,
    frames: impl Iterator<Item = &'a [u8]>,
    link: &ClientLink,
    ctx: &ServerContext,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut frames = frames.filter(|f| !f.is_empty());
    // The frames being written, the first possibly cut by a short write.
    let mut window: [&[u8]; WRITE_SLICES] = [&[]; WRITE_SLICES];
    let mut held = 0;
    loop {
        while held < WRITE_SLICES {
            let Some(frame) = frames.next() else { break };
            window[held] = frame;
            held += 1;
        }
        if held == 0 {
            return Ok(());
        }
        // The slices are made at each poll, not held across the await: in the writer task's
        // state they would be another 512 bytes per connection.
        let wrote = std::future::poll_fn(|cx| {
            let slices: [IoSlice<'_>; WRITE_SLICES] =
                std::array::from_fn(|i| IoSlice::new(window[i]));
            Pin::new(&mut *io).poll_write_vectored(cx, &slices[..held])
        })
        .await?;
        if wrote == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        ctx.metrics.socket_writes.inc();
        ctx.metrics.bytes_sent.inc_by(wrote as u64);
        link.progressed(Instant::now());
        // Drop what was written from the front of the window.
        let mut rest = wrote;
        let mut done = 0;
        while done < held && window[done].len() <= rest {
            rest -= window[done].len();
            done += 1;
        }
        if done < held {
            window[done] = &window[done][rest..];
        }
        window.copy_within(done..held, 0);
        held -= done;
    }
}

/// Writes a batch's frames; a write blocked when the session starts closing gets
/// `close_timeout` more to finish (frames are never cut: a close frame must follow whole
/// frames), then the connection is given up.
async fn write_batch<W>(
    io: &mut W,
    batch: &Batch,
    link: &ClientLink,
    ctx: &ServerContext,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let write = async {
        write_frames(&mut *io, batch.frames().map(|f| f.as_ref()), link, ctx).await?;
        // Over TLS a write is done once rustls has taken the bytes, not the socket: what a full
        // socket could not take yet would wait for the next batch (a tick; a second for a
        // controller's feedback), and the slow-client clock would think it sent. Free on TCP.
        io.flush().await
    };
    tokio::pin!(write);
    let finished = tokio::select! {
        // The write first: it usually completes at once, and then the other two futures are
        // never polled (they would register waiters only to drop them).
        biased;
        result = &mut write => Some(result),
        () = link.close_requested() => None,
        () = shutdown_signal(ctx) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => match tokio::time::timeout(ctx.config.close_timeout, write).await {
            Ok(result) => result,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        },
    };
    if result.is_ok() {
        let frames = batch.frames().count() as u64;
        ctx.metrics.frames_sent.inc_by(frames);
        link.written(Instant::now());
    }
    result
}

/// The writer task: sends what the link holds (the reader's heartbeats among the replies, see
/// [`Silence`]) and the server's close. Once the client closed it sends only tungstenite's
/// replies (the echo among them) and stops when the reader side is done.
pub(crate) async fn write_loop<W>(
    mut io: W,
    link: Arc<ClientLink>,
    ctx: Arc<ServerContext>,
) -> (WriterEnd, W)
where
    W: AsyncWrite + Unpin,
{
    let unsent = WriterEnd { close_sent: false, echoed: false };
    let mut batch = Batch::default();
    // Once for the connection, not per batch (see `read_loop`).
    let shutdown = shutdown_signal(&ctx);
    tokio::pin!(shutdown);
    let (close, after_loss) = loop {
        tokio::select! {
            () = link.next_batch_into(&mut batch) => {
                let wrote = write_batch(&mut io, &batch, &link, &ctx).await.is_ok();
                let close = batch.close.take();
                if batch.client_closed {
                    if !wrote {
                        return (unsent, io);
                    }
                    if batch.reader_done {
                        // The reader read on until the stream ended, so the echo (if the
                        // client's close got one) was among these replies.
                        return (WriterEnd { close_sent: true, echoed: true }, io);
                    }
                    continue;
                }
                if !wrote {
                    // A client that stopped reading, closed (`TooSlow`, as a rule) while the
                    // writer waited on its socket or with what it could not take: no close
                    // frame can reach it, but the close is the server's, and operators count
                    // and read it like any other.
                    let close = close.map(|c| (c, batch.after_loss));
                    if let Some((close, false)) = close.or_else(|| link.pending_close()) {
                        log_close(&close, UNSENT_CLOSE);
                        let kick = close.kick.as_ref().map(|k| k.reason);
                        ctx.metrics.server_closed(close.code, kick);
                    }
                    return (unsent, io);
                }
                if let Some(close) = close {
                    break (close, batch.after_loss);
                }
            }
            // Requested on the link, so the room writes nothing more to the socket itself; the
            // next batch carries the close.
            () = &mut shutdown, if !link.is_closing() => {
                link.close(going_away());
            }
        }
    };
    let code = close.code;
    log_close(&close, "closing");
    let kick_reason = close.kick.as_ref().map(|k| k.reason);
    let mut frames = FrameBuilder::new();
    if let Some(kick) = close.kick {
        frames.push(&ServerMessage::Kick(kick));
    }
    let kick = frames.finish();
    let close_frame = frame::close(code, &close.reason);
    let parts = [kick.as_ref(), close_frame.as_ref()];
    let sent = tokio::time::timeout(ctx.config.close_timeout, async {
        write_frames(&mut io, parts.into_iter(), &link, &ctx).await?;
        io.flush().await
    })
    .await;
    let close_sent = matches!(sent, Ok(Ok(())));
    if close_sent {
        ctx.metrics.frames_sent.inc();
    }
    // Sent or not (a client that stopped reading takes no close frame either), the close is
    // the server's; after a loss the connection was counted as the client's (1006) already.
    if !after_loss {
        ctx.metrics.server_closed(code, kick_reason);
    }
    (WriterEnd { close_sent, echoed: false }, io)
}

/// What the log says of a close of the server's that no close frame could carry.
const UNSENT_CLOSE: &str =
    "closing; the client is not reading its messages, so no close frame could be sent";

/// Logs the server's close, once, in the connection's span: a violation (any code but normal
/// and going-away) at info, with the reason the client is told.
fn log_close(close: &CloseRequest, what: &'static str) {
    let (code, reason) = (close.code, &close.reason);
    if matches!(code, close_code::NORMAL | close_code::GOING_AWAY) {
        debug!(code, %reason, "{what}");
    } else {
        info!(code, %reason, "{what}");
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary (a close reason must fit in
/// a 125-byte control frame with its 2-byte code).
pub fn truncate_utf8(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_name_loses_what_would_pass_it_for_another_or_for_none() {
        // A right-to-left override shows this as "admin"; isolates and marks likewise.
        assert_eq!(clean_name_text("\u{202e}nimda\u{202c}"), "nimda");
        assert_eq!(clean_name_text("\u{2067}ada\u{2069}\u{200f}"), "ada");
        // Invisible: nothing left to show, as an empty name.
        assert_eq!(clean_name_text("\u{200b}\u{200b}\u{200b}"), "");
        assert_eq!(clean_name_text("\u{3164}\u{2800} \u{115f}"), "");
        assert_eq!(clean_name_text("ad\u{ad}min\u{feff}"), "admin");
        assert_eq!(clean_name_text(" \tada\n "), "ada");
        // Tag characters hide text ("ASCII smuggling"), except in a subdivision flag's sequence.
        assert_eq!(clean_name_text("ada\u{e0068}\u{e0069}"), "ada");
        let scotland = "\u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}";
        assert_eq!(clean_name_text(&format!("{scotland} ada")), format!("{scotland} ada"));
        assert_eq!(
            clean_name_text(&format!("{scotland}\u{e0061}")),
            scotland,
            "after its cancel tag"
        );
        // Tags after a black flag that make no whole flag are hidden text too.
        assert_eq!(clean_name_text("\u{1f3f4}\u{e0061}\u{e0064}\u{e006d}x"), "\u{1f3f4}x");
        assert_eq!(clean_name_text("\u{1f3f4}\u{e007f}x"), "\u{1f3f4}x");
        assert_eq!(clean_name_text("ada\u{2028}Server\u{2029}"), "adaServer");
        // Joiners stay: Persian and Indic names and emoji sequences are spelt with them.
        assert_eq!(
            clean_name_text("\u{645}\u{6cc}\u{200c}\u{62e}"),
            "\u{645}\u{6cc}\u{200c}\u{62e}"
        );
        let family = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}";
        assert_eq!(clean_name_text(family), family);
        // Letters of every script are untouched.
        assert_eq!(clean_name_text("Zoë 李 Ωμέγα"), "Zoë 李 Ωμέγα");
        assert_eq!(clean_name(&Name::truncated("\u{202e}Ada")).as_str(), "Ada");
    }

    /// Every connection's two tasks hold these futures from the upgrade to the close, so their
    /// size is memory per spectator (BENCHMARKS.md): the handshake, the fleet's admission, the
    /// close and the linger buffer are boxed or on the heap because in place they made the
    /// reader's future 6.4 KiB, and a relay's ring of tick times in place added half a KiB
    /// to every connection (2,880 B here, where 2,344 B with it boxed). The bounds leave room
    /// for unoptimised builds and compiler changes, and fail when one of those comes back in
    /// place.
    #[tokio::test]
    async fn a_connection_holds_small_futures_for_its_life() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let config = crate::http::game_ws_config();
        let writer = write_loop(
            SharedTcp::split(listener.accept().await.unwrap().0).1,
            Arc::new(ClientLink::new()),
            ctx.clone(),
        );
        let serving =
            serve_tcp(socket, bytes::Bytes::new(), config, ctx, Peer::direct(addr), None, None);
        let (reader, writer) = (std::mem::size_of_val(&serving), std::mem::size_of_val(&writer));
        eprintln!("reader {reader} B, writer {writer} B");
        assert!(reader <= 5 * 512, "the connection's future is {reader} B");
        assert!(writer <= 5 * 512, "the writer's future is {writer} B");
    }

    /// A writer that takes everything and passes it on only when flushed, as TLS does when the
    /// socket under it is full.
    struct HeldUntilFlushed {
        held: Vec<u8>,
        delivered: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for HeldUntilFlushed {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.held.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            let held = std::mem::take(&mut self.held);
            self.delivered.lock().unwrap().extend_from_slice(&held);
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            self.poll_flush(cx)
        }
    }

    #[tokio::test]
    async fn a_batch_is_flushed_not_left_for_the_next() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
        let io = HeldUntilFlushed { held: Vec::new(), delivered: delivered.clone() };
        let link = Arc::new(ClientLink::new());
        let writer = tokio::spawn(write_loop(io, link.clone(), ctx));
        let pong = frame::binary(&[7, 7, 7]);
        link.push_control(pong.clone()).unwrap();
        // Nothing else comes: the frame must reach the socket on its own.
        let deadline = Instant::now() + Duration::from_secs(5);
        while delivered.lock().unwrap().as_slice() != pong.as_ref() {
            assert!(Instant::now() < deadline, "the frame waits in the writer for the next batch");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        writer.abort();
    }

    /// The close metrics count a handshake once, under whoever started it: a writer that sent
    /// the server's own close must not report it as the echo of a client's close that crossed
    /// it, or the handshake is counted under both.
    #[tokio::test]
    async fn the_writer_tells_its_own_close_from_an_echo() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);

        let link = Arc::new(ClientLink::new());
        let writer = tokio::spawn(write_loop(tokio::io::sink(), link.clone(), ctx.clone()));
        link.close(going_away());
        let (end, _) = writer.await.unwrap();
        assert_eq!(end, WriterEnd { close_sent: true, echoed: false });

        let link = Arc::new(ClientLink::new());
        let writer = tokio::spawn(write_loop(tokio::io::sink(), link.clone(), ctx));
        link.client_closed();
        link.push_reply(&frame::close(1000, "")).unwrap();
        link.reader_done();
        let (end, _) = writer.await.unwrap();
        assert_eq!(end, WriterEnd { close_sent: true, echoed: true });
    }

    /// A room too busy to answer is a passing fault: a plain 1013, which clients retry, not the
    /// `Kick { Full }` that ends a first join.
    #[tokio::test(start_paused = true)]
    async fn a_join_no_room_answers_is_told_to_retry_not_that_the_room_is_full() {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let ctx = ServerContext::new(crate::ServerConfig::default(), rx);
        let room = tickwire_shared::RoomName::truncated("stuck");
        let _unread = ctx.insert_unanswering_room(room);
        let hello = Hello {
            version: PROTOCOL_VERSION,
            role: Role::Player,
            name: Name::truncated("ada"),
            room: RoomRequest::Named(room),
            resume: None,
        };
        let link = Arc::new(ClientLink::new());
        assert!(
            join(hello, &link, &ctx, std::net::Ipv4Addr::LOCALHOST.into()).await.is_none(),
            "no room seated the join"
        );
        let close = link.take_batch().close.expect("the join's refusal");
        assert_eq!((close.code, close.kick), (close_code::TRY_AGAIN_LATER, None));
        assert!(close.reason.contains("try again"), "{:?}", close.reason);
    }

    #[tokio::test]
    async fn prefixed_yields_the_early_bytes_first_then_the_socket() {
        let (mut client, server) = tokio::io::duplex(64);
        let early = bytes::Bytes::from_static(b"hello");
        let mut reader = Prefixed::new(early, server);
        client.write_all(b" world").await.unwrap();
        drop(client);
        // A buffer smaller than the early bytes takes them in pieces.
        let mut piece = [0u8; 3];
        assert_eq!(reader.read(&mut piece).await.unwrap(), 3);
        assert_eq!(&piece, b"hel");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"lo world");
        assert!(reader.early.is_empty());
    }

    #[test]
    fn prefixed_does_not_keep_the_http_read_buffer_alive() {
        let buffer = bytes::Bytes::from(vec![0u8; 8192]);
        let after_the_request = buffer.slice(8192..);
        let reader = Prefixed::new(after_the_request, tokio::io::empty());
        assert!(buffer.is_unique(), "the empty rest still holds the buffer");
        drop(reader);
    }

    /// Runs [`Silence`]'s timer as the reader does, over a client heard at `heard` (offsets
    /// in ms), until `until` ms or the idle close: what it did and when.
    fn silence_timeline(heard: &[u64], until: u64) -> Vec<(u64, SilenceCheck)> {
        let (heartbeat, idle) = (Duration::from_secs(5), Duration::from_secs(15));
        let t0 = Instant::now();
        let ms = |t: Instant| t.duration_since(t0).as_millis() as u64;
        let mut silence = Silence::new(t0, heartbeat, idle);
        let mut heard = heard.iter().map(|&h| t0 + Duration::from_millis(h)).peekable();
        let mut timer = silence.deadline();
        let mut done = Vec::new();
        while ms(timer) <= until {
            if let Some(at) = heard.next_if(|&at| at < timer) {
                silence.heard(at); // the timer is left as it is, as in the reader
                continue;
            }
            let check = silence.check(timer);
            if check != SilenceCheck::Quiet {
                done.push((ms(timer), check));
            }
            if check == SilenceCheck::Idle {
                break;
            }
            let next = silence.deadline();
            assert!(next > timer, "the timer re-armed at {} ms, not after {}", ms(next), ms(timer));
            timer = next;
        }
        done
    }

    #[test]
    fn a_silent_client_is_pinged_every_interval_then_closed() {
        use SilenceCheck::{Idle, Ping};
        assert_eq!(silence_timeline(&[], 60_000), [(5_000, Ping), (10_000, Ping), (15_000, Idle)]);
        // Silence counts from the last frame heard (here a pong to the first ping, late).
        assert_eq!(
            silence_timeline(&[7_000], 60_000),
            [(5_000, Ping), (12_000, Ping), (17_000, Ping), (22_000, Idle)]
        );
    }

    #[test]
    fn a_client_heard_within_each_interval_is_never_pinged() {
        // A spectator acking every second, for a minute.
        let acks: Vec<u64> = (1..=60).map(|s| s * 1_000).collect();
        assert_eq!(silence_timeline(&acks, 60_000), []);
        // Heard just before each ping would be due.
        let late: Vec<u64> = (1..=12).map(|k| k * 4_999).collect();
        assert_eq!(silence_timeline(&late, 60_000), []);
    }

    #[test]
    fn a_client_that_only_answers_pings_stays() {
        use SilenceCheck::Ping;
        // Each pong arrives 20 ms after its ping: pinged every interval after its pong, never
        // closed.
        let pongs = [5_020, 10_040, 15_060, 20_080];
        assert_eq!(
            silence_timeline(&pongs, 25_100),
            [(5_000, Ping), (10_020, Ping), (15_040, Ping), (20_060, Ping), (25_080, Ping)]
        );
    }
}
