//! [`Client`]: the tokio + tokio-tungstenite driver of a [`Session`]. It owns the socket and
//! the clock, and nothing else: every decision (what to send, when to give up, how long to
//! back off) is the session's.

use crate::config::Config;
use crate::error::{Disconnect, LinkError, Refusal};
use crate::interpolation::{Interpolation, InterpolationConfig};
use crate::prediction::PredictionState;
use crate::session::{CloseAction, Controls, End, Event, Identity, Session, State};
use futures_util::{Sink, Stream};
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tickwire_shared::delta::World;
use tickwire_shared::{
    InputSeq, MAX_SERVER_MESSAGE_SIZE, Role, RoomName, SUBPROTOCOL, Tick, Welcome,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::rustls;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

/// Why a server URL, or the join token that goes with it, was refused.
///
/// Who reacts: the programmer or the person who typed the URL; for
/// [`UrlError::Token`], the game backend that minted the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL.
    #[error("`{0}` is not a URL")]
    Invalid(String),
    /// Neither `ws://` nor `wss://`.
    #[error("`{0}`: only ws:// and wss:// URLs are supported")]
    Scheme(String),
    /// The URL names no host.
    #[error("`{0}` has no host")]
    NoHost(String),
    /// The join token given to [`Endpoint::with_bearer`] holds characters an HTTP header
    /// cannot carry (control characters, line breaks). Not shown: it is a credential.
    #[error("the join token cannot be sent in an Authorization header")]
    Token,
}

/// Why [`Client::connect`] did not get a `Welcome`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is unusable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// No `Welcome`: the ending was final, or the reconnect policy ran out of attempts
    /// ([`Reconnect::max_initial_attempts`](crate::Reconnect::max_initial_attempts)). This
    /// is the last ending: for a server that could not be reached,
    /// [`Disconnect::Lost`]`(`[`LinkError::Connect`]` { .. })`, [`Disconnect::ConnectTimeout`]
    /// or an HTTP refusal.
    #[error("gave up: {0}")]
    GaveUp(Disconnect),
}

/// Where to connect: a parsed `ws://` or `wss://` URL, and for `wss://` the TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    uri: Uri,
    host: String,
    port: u16,
    tls: Option<Tls>,
    bearer: Option<Bearer>,
}

/// The `Authorization: Bearer` value of an endpoint: a credential, so its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
struct Bearer(HeaderValue);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(..)")
    }
}

/// The rustls client configuration of a `wss://` endpoint. Compared by identity: two
/// endpoints are equal when they share the same configuration.
#[derive(Clone)]
struct Tls(Arc<rustls::ClientConfig>);

impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Tls {}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

/// The default `wss://` configuration: Mozilla's root certificates (webpki-roots, compiled in,
/// so it behaves the same on every machine and in containers without a CA bundle), TLS 1.2
/// and 1.3 with ring. Built once per process and shared by every client.
fn default_tls() -> Arc<rustls::ClientConfig> {
    static DEFAULT: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            Arc::new(tls_config(roots))
        })
        .clone()
}

/// A client configuration trusting `roots`, with the ring provider (the one the server uses,
/// so the workspace builds one crypto library).
pub fn tls_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Endpoint {
    /// Parses a `ws://` URL (port 80 when none is given) or a `wss://` URL (port 443), the
    /// latter checked against Mozilla's root certificates.
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let uri: Uri = url.parse().map_err(|_| {
            // `Uri` refuses `ws://` and `ws:///ws` as malformed: say what is missing.
            let no_host = url.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "ws" | "wss") && split_authority(rest).0.is_empty()
            });
            if no_host {
                UrlError::NoHost(url.to_string())
            } else {
                UrlError::Invalid(url.to_string())
            }
        })?;
        let (tls, default_port) = match uri.scheme_str() {
            Some("ws") => (None, 80),
            Some("wss") => (Some(Tls(default_tls())), 443),
            _ => return Err(UrlError::Scheme(url.to_string())),
        };
        // `Uri` takes `ws://:80/ws` with an empty host, which would only fail to resolve
        // (retried for seconds as if the server were down), and `ws://h:99999/ws` with no
        // port, which would connect to port 80.
        let (host, port) = uri.authority().map_or(("", None), |a| split_authority(a.as_str()));
        if host.is_empty() {
            return Err(UrlError::NoHost(url.to_string()));
        }
        let port = match port.filter(|p| !p.is_empty()) {
            None => default_port,
            Some(p) => p.parse().map_err(|_| UrlError::Invalid(url.to_string()))?,
        };
        let host = host.to_string();
        Ok(Endpoint { uri, host, port, tls, bearer: None })
    }

    /// For a `wss://` endpoint, trusts what `config` trusts instead of Mozilla's roots (a
    /// private CA, a self-signed development certificate: see [`tls_config`]). No effect on
    /// `ws://`.
    #[must_use]
    pub fn with_tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Endpoint {
        if self.tls.is_some() {
            self.tls = Some(Tls(config));
        }
        self
    }

    /// Sends `token`, a join token a game backend minted, as `Authorization: Bearer <token>`
    /// with every upgrade, instead of in the URL (`?token=`): a URL ends up in the logs of
    /// proxies and load balancers, a header is not logged by default (SECURITY.md). The server
    /// takes either. Not shown by `Debug`. [`UrlError::Token`] for a token no header can carry
    /// (a JWT always can).
    pub fn with_bearer(mut self, token: &str) -> Result<Endpoint, UrlError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| UrlError::Token)?;
        // Kept out of HTTP/2 header compression tables and of `http`'s own Debug output.
        value.set_sensitive(true);
        self.bearer = Some(Bearer(value));
        Ok(self)
    }

    /// Whether a join token goes as `Authorization: Bearer` ([`Endpoint::with_bearer`]).
    pub fn has_bearer(&self) -> bool {
        self.bearer.is_some()
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether connections are encrypted (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// The host (an IPv6 address without its brackets) and the port text of the authority at the
/// start of `rest` (what follows `scheme://`; user info skipped).
fn split_authority(rest: &str) -> (&str, Option<&str>) {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => (v6, None),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    }
}

/// A byte-counting transport: what crossed the socket, HTTP upgrade and frame headers
/// included. It also holds back the first write error (see [`Counted::write_failed`]).
#[derive(Debug)]
struct Counted<S> {
    inner: S,
    read: u64,
    written: u64,
    /// Why a write failed, once one has; from then on writes and flushes are dropped and
    /// reported done. A server that ends a connection sends its `Kick` and close frame first,
    /// then ends TCP, so a write that fails (our ack, or the pong tungstenite answers a ping
    /// with before every read) finds them in the receive buffer, unread: returned, the error
    /// would end the connection as a broken pipe, and tungstenite would read no further.
    /// Held back, reading goes on to them; the driver reports the error once nothing is left
    /// to read.
    write_failed: Option<io::ErrorKind>,
}

impl<S> Counted<S> {
    fn new(inner: S) -> Counted<S> {
        Counted { inner, read: 0, written: 0, write_failed: None }
    }

    /// Keeps a write's error back (see [`Counted::write_failed`]).
    fn hold<T>(&mut self, polled: Poll<io::Result<T>>, done: T) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(Err(e)) => {
                debug!(error = %e, "write failed; reading what the server sent before it");
                self.write_failed = Some(e.kind());
                Poll::Ready(Ok(done))
            }
            polled => polled,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read += (buf.filled().len() - before) as u64;
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.write_failed.is_some() {
            return Poll::Ready(Ok(buf.len()));
        }
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.written += n as u64;
        }
        self.hold(polled, buf.len())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_failed.is_some() {
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.hold(polled, ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_failed.is_some() {
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.hold(polled, ())
    }
}

/// The socket under the WebSocket: TCP, or TLS over TCP. Bytes are counted on TCP, so the
/// statistics are what crossed the network, TLS records included.
#[derive(Debug)]
enum Transport {
    Plain(Counted<TcpStream>),
    Tls(Box<tokio_rustls::client::TlsStream<Counted<TcpStream>>>),
}

impl Transport {
    fn counted(&self) -> &Counted<TcpStream> {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Why a write to the socket failed, once one has (see [`Counted::write_failed`]).
    fn write_failed(&self) -> Option<WsError> {
        self.counted().write_failed.map(|kind| WsError::Io(kind.into()))
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(tls) => Pin::new(tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Transport::Tls(tls) => Pin::new(tls).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(tls) => Pin::new(tls).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(tls) => Pin::new(tls).poll_shutdown(cx),
        }
    }
}

type Ws = WebSocketStream<Transport>;
type Connecting = Pin<Box<dyn Future<Output = Result<Ws, Disconnect>> + Send>>;

enum Conn {
    None,
    Connecting(Connecting),
    Open(Box<Ws>),
    /// Ending: send `frame` (if any), then read until the server ends TCP or `deadline`
    /// (`None`: [`Config::close_timeout`] is off).
    Closing {
        ws: Box<Ws>,
        frame: Option<CloseFrame>,
        deadline: Option<Instant>,
    },
}

/// What woke the driver.
enum Wake {
    Frame(Option<Result<Message, WsError>>),
    Timer,
}

/// The feed of [`Client::prediction_feed`], and what its last publication reflected: inputs
/// sent, the newest tick, joins (a new one goes out when any of them moves).
#[derive(Debug)]
struct PredictionFeed {
    sender: tokio::sync::watch::Sender<PredictionState>,
    published: (u64, Option<Tick>, u64),
}

/// A tickwire client over tokio: connects, joins, rebuilds the world, acknowledges snapshots,
/// reconnects with jittered backoff and resumes its seat, and closes cleanly.
///
/// Drive it by awaiting [`next_event`](Self::next_event) in a loop: that is where messages
/// are read, queued inputs and acks are written, and timers fire. `next_event` is
/// cancel-safe, so it can sit in a `tokio::select!` beside the game's frame timer:
///
/// ```no_run
/// # async fn game() -> Result<(), Box<dyn std::error::Error>> {
/// use tickwire_client::{Client, Config, Controls, Event, Identity};
/// let identity = Identity::player("ada")?;
/// let mut client = Client::connect("ws://127.0.0.1:8080/ws", identity, Config::default()).await?;
/// let mut frame = tokio::time::interval(std::time::Duration::from_millis(33));
/// loop {
///     tokio::select! {
///         event = client.next_event() => match event {
///             Some(Event::Snapshot(_)) => { /* draw client.world() */ }
///             Some(Event::Ended(_)) | None => break,
///             Some(_) => {}
///         },
///         _ = frame.tick() => {
///             let _ = client.send_input(Controls { x: 1.0, ..Controls::NEUTRAL });
///         }
///     }
/// }
/// # Ok(()) }
/// ```
///
/// # Dropping
/// Prefer [`leave`](Self::leave), which waits for the server's answer. A client dropped while
/// connected still gives its seat up: it hands its connection to a tokio task that sends a
/// close frame with 1000, as `leave` does, and reads until the server answers and ends TCP (at
/// most [`Config::close_timeout`], 5 s when that is off), so the room does not keep a ghost
/// seat for the server's resume grace (10 s by default) and other players see it leave. Drop
/// itself never waits. Best effort: dropped outside a tokio runtime, or with a runtime that
/// shuts down before the task runs (the end of `#[tokio::main]`), the connection just ends,
/// and the server holds the seat for its grace as after a crash. A client dropped between
/// connections (backing off, or still opening TCP) has nothing to close.
pub struct Client {
    session: Session,
    endpoint: Arc<Endpoint>,
    local_ip: Option<IpAddr>,
    conn: Conn,
    /// Made at the first wait, not in the constructor: a tokio `Sleep` needs a runtime, and a
    /// client may be built outside one (then driven inside it).
    timer: Option<Pin<Box<Sleep>>>,
    /// Socket bytes (in, out) of connections already closed.
    wire_closed: (u64, u64),
    /// The open connection's write buffer was full at the last look: wait for it, not for
    /// sends that are due (see [`Session::poll_timeout_unwritable`]).
    unwritable: bool,
    /// Fed with every world as its snapshot is read, once the application asks for it
    /// ([`Client::interpolate`]).
    interpolation: Option<Interpolation>,
    /// Where [`Client::prediction_feed`] publishes, once asked for.
    prediction_feed: Option<PredictionFeed>,
}

impl Drop for Client {
    fn drop(&mut self) {
        let frame = match std::mem::replace(&mut self.conn, Conn::None) {
            Conn::Open(ws) if self.session.state().is_connected() => {
                let frame =
                    CloseFrame { code: crate::close_code::NORMAL.into(), reason: "dropped".into() };
                Some((ws, Some(frame)))
            }
            // A leave under way: its frame may not have gone yet, and the answer is awaited.
            Conn::Closing { ws, frame, .. } => Some((ws, frame)),
            _ => None,
        };
        let Some((ws, frame)) = frame else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            debug!("client dropped outside a tokio runtime: the server keeps the seat");
            return;
        };
        let close_timeout = self.session.config().close_timeout;
        let limit = if close_timeout.is_zero() { DROP_CLOSE_LIMIT } else { close_timeout };
        runtime.spawn(close_dropped(ws, frame, limit));
    }
}

/// How long a dropped client's close may take when [`Config::close_timeout`] is off: the task
/// must end even if the server never answers.
const DROP_CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// Closes the connection of a dropped [`Client`]: sends `frame` (if not sent yet) and reads
/// until the server answers and ends TCP, at most `limit`. Reading on matters: a socket
/// dropped right after the frame is written may reset the connection before the server
/// reads it, and then the seat is kept as after a crash.
async fn close_dropped(mut ws: Box<Ws>, frame: Option<CloseFrame>, limit: Duration) {
    use futures_util::{SinkExt, StreamExt};
    let closing = async {
        if let Some(frame) = frame
            && ws.send(Message::Close(Some(frame))).await.is_err()
        {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    };
    let _ = tokio::time::timeout(limit, closing).await;
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("state", &self.session.state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client that will connect to `url` (`ws://host:port/path`) at the first
    /// [`next_event`](Self::next_event). Reconnect jitter is seeded from the OS RNG.
    pub fn new(url: &str, identity: Identity, config: Config) -> Result<Client, UrlError> {
        Ok(Client::with_endpoint(Arc::new(Endpoint::parse(url)?), identity, config, rand::random()))
    }

    /// A client for an already parsed endpoint (shared by many clients, as the bots do),
    /// with a fixed jitter seed.
    pub fn with_endpoint(
        endpoint: Arc<Endpoint>,
        identity: Identity,
        config: Config,
        seed: u64,
    ) -> Client {
        let now = Instant::now();
        Client {
            session: Session::new(config, identity, now, seed),
            endpoint,
            local_ip: None,
            conn: Conn::None,
            timer: None,
            wire_closed: (0, 0),
            unwritable: false,
            interpolation: None,
            prediction_feed: None,
        }
    }

    /// Connects and waits for the `Welcome`, retrying as `config.reconnect` allows: until
    /// [`Reconnect::max_initial_attempts`](crate::Reconnect::max_initial_attempts) (default 5)
    /// attempts after the first have failed, or at once for an ending that is not retried
    /// (a full room among them). Then [`ConnectError::GaveUp`] says the last ending. With
    /// both limits `None` it waits for a server as long as it takes.
    ///
    /// It takes the events up to the `Welcome` itself: [`Event::Connecting`], the
    /// [`Event::Disconnected`] of failed attempts, and the [`Event::Joined`] it returns on,
    /// whose `Welcome` is [`welcome`](Self::welcome) (room, ship, tick rate). Everything
    /// after the `Welcome` comes from [`next_event`](Self::next_event): the room's roster as
    /// [`Event::Roster`], snapshots, and the events of later reconnects (their
    /// `Connecting`, `Disconnected` and `Joined` included). [`Client::new`] instead leaves
    /// every event to `next_event`, the first attempt's too.
    pub async fn connect(
        url: &str,
        identity: Identity,
        config: Config,
    ) -> Result<Client, ConnectError> {
        let mut client = Client::new(url, identity, config)?;
        let mut last = None;
        while let Some(event) = client.next_event().await {
            match event {
                Event::Joined(_) => return Ok(client),
                Event::Disconnected { reason, .. } => last = Some(reason),
                _ => {}
            }
        }
        Err(ConnectError::GaveUp(last.unwrap_or(Disconnect::Lost(LinkError::Eof))))
    }

    /// Opens every connection from this local address (e.g. one of `127.0.0.2`..`127.0.0.254`
    /// to spread a load test over source addresses); `None` lets the OS choose.
    pub fn set_local_ip(&mut self, ip: Option<IpAddr>) {
        self.local_ip = ip;
    }

    /// The sans-IO session: state, world, stats, round trip.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The newest world rebuilt from snapshots.
    pub fn world(&self) -> Option<&World> {
        self.session.world()
    }

    /// The last `Welcome`.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.session.welcome()
    }

    /// Keeps an [`Interpolation`] from now on ([`Client::interpolation`]), replacing any
    /// kept before: every world rebuilt is pushed at the instant its snapshot was read (which
    /// an application reading events later could not know). A player's fresh join
    /// (`resumed: false`) clears it, as it may be another world's. A spectator is never
    /// resumed (the server gives its seat up when it drops): back in the same room it keeps
    /// the buffer, as the room's ticks go on, and a restarted server's ticks, which start
    /// again from 1, start the buffer over when they come ([`Interpolation::push`]).
    pub fn interpolate(&mut self, config: InterpolationConfig) {
        // Before the first `Welcome` the room's rate is unknown: it is made again at the
        // `Welcome` if the guess was wrong.
        let tick_rate = self.session.welcome().map_or(30, |w| w.tick_rate);
        self.interpolation = Some(Interpolation::new(tick_rate, config));
    }

    /// The entities to draw, smoothly, once [`Client::interpolate`] turned this on:
    /// `client.interpolation()?.sample(Instant::now())`.
    pub fn interpolation(&self) -> Option<&Interpolation> {
        self.interpolation.as_ref()
    }

    /// A [`PredictionState`] kept current from now on: published each time an input goes out
    /// or a snapshot is applied (by [`next_event`](Self::next_event), which must keep being
    /// called), for a render loop in another thread that predicts the own ship without
    /// waiting: `prediction.predict_parts(feed.borrow().parts()?, now, frame)`. Every call
    /// returns a receiver of the same feed.
    pub fn prediction_feed(&mut self) -> tokio::sync::watch::Receiver<PredictionState> {
        let feed = self.prediction_feed.get_or_insert_with(|| PredictionFeed {
            sender: tokio::sync::watch::channel(PredictionState::of(&self.session)).0,
            published: (0, None, 0),
        });
        feed.sender.subscribe()
    }

    /// Publishes the session's [`PredictionState`] if a feed is kept and it moved.
    fn publish_prediction(&mut self) {
        let Some(feed) = &mut self.prediction_feed else { return };
        let stats = self.session.stats();
        let now = (stats.inputs_sent, self.session.world().map(|w| w.tick), stats.joins);
        if feed.published != now {
            feed.published = now;
            feed.sender.send_replace(PredictionState::of(&self.session));
        }
    }

    /// Queues an input (see [`Session::send_input`]); the next `next_event` sends it.
    pub fn send_input(&mut self, controls: Controls) -> Result<InputSeq, crate::SendError> {
        self.session.send_input(controls)
    }

    /// Queues a chat line (see [`Session::send_chat`]).
    pub fn send_chat(&mut self, text: &str) -> Result<(), crate::SendError> {
        self.session.send_chat(text)
    }

    /// Bytes that crossed the sockets of this client, (received, sent), HTTP upgrades and
    /// WebSocket frame headers included, TCP/IP headers not.
    pub fn wire_bytes(&self) -> (u64, u64) {
        let (mut read, mut written) = self.wire_closed;
        if let Conn::Open(ws) | Conn::Closing { ws, .. } = &self.conn {
            read += ws.get_ref().counted().read;
            written += ws.get_ref().counted().written;
        }
        (read, written)
    }

    /// Leaves: closes with 1000 and waits for the server's answering close frame (at most
    /// [`Config::close_timeout`]), so the seat is given up cleanly. Events that arrive
    /// meanwhile are dropped. A session that had ended already returns how it ended.
    pub async fn leave(&mut self) -> End {
        self.session.leave(Instant::now());
        while let Some(event) = self.next_event().await {
            if let Event::Ended(end) = event {
                return end;
            }
        }
        self.session.end().unwrap_or(End::Left { answer: None })
    }

    /// Where the next connection attempts go. The open connection, if any, is left as it is.
    ///
    /// For a join token that expires while the session lives: the server checks the token on
    /// every reconnect, and refuses an expired one with 401, which ends the session (its seat
    /// is not resumed). Renew the token before it expires and set the endpoint that carries it,
    /// so that a reconnect after a drop presents one the server still takes, and resumes:
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use tickwire_client::{Client, Endpoint, UrlError};
    /// # fn renew(client: &mut Client, fresh_token: &str) -> Result<(), UrlError> {
    /// let endpoint = Endpoint::parse("wss://game.example/ws")?.with_bearer(fresh_token)?;
    /// client.set_endpoint(Arc::new(endpoint));
    /// # Ok(()) }
    /// ```
    /// A `wss://` endpoint that trusts its own certificates keeps them only if the new one is
    /// given them too ([`Endpoint::with_tls_config`]).
    pub fn set_endpoint(&mut self, endpoint: Arc<Endpoint>) {
        self.endpoint = endpoint;
    }

    /// Where connection attempts go ([`Client::set_endpoint`]).
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Drops the connection without a close frame, as a crash or a lost network would: the
    /// server keeps the seat for its resume grace, and this client reconnects and resumes
    /// as its policy says. For tests and for simulating a flaky link.
    pub fn drop_connection(&mut self) {
        if let Conn::Open(_) = &self.conn {
            self.take_conn();
            self.session.handle_lost(Instant::now(), LinkError::Eof);
            // The session asks for an abort, which is what just happened.
            let _ = self.session.poll_close();
        }
    }

    /// The next event, after doing whatever IO is due. `None` once the session has ended and
    /// its last event ([`Event::Ended`]) was returned. Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let now = Instant::now();
            // Before a timeout ends the connection, what already arrived: an application that
            // did not call this for longer than the silence timeout finds the socket's buffer
            // full of snapshots (or a Kick), not a dead link. Only then, so that reading a
            // backlog does not hold back the acks and inputs that the next wait sends.
            let expiring = self.session.poll_timeout_unwritable().is_some_and(|at| at <= now);
            if expiring && self.read_ready(now).await {
                continue;
            }
            self.session.handle_timeout(now);
            self.apply_close(now);
            self.publish_prediction();
            if let Some(event) = self.session.poll_event() {
                return Some(event);
            }
            match &mut self.conn {
                Conn::None => {
                    if self.session.state().is_ended() {
                        return None;
                    }
                    if self.session.poll_connect(now) {
                        self.conn = Conn::Connecting(Box::pin(open(
                            self.endpoint.clone(),
                            self.local_ip,
                            self.session.config().read_buffer_size,
                        )));
                        continue;
                    }
                    self.sleep_until_timeout().await;
                }
                Conn::Connecting(attempt) => {
                    if self.session.state() != State::Connecting {
                        self.conn = Conn::None; // timed out, or the application left
                        continue;
                    }
                    let deadline = self.session.poll_timeout();
                    let timer = rearm(&mut self.timer, deadline);
                    let opened = poll_fn(|cx| match attempt.as_mut().poll(cx) {
                        Poll::Ready(result) => Poll::Ready(Some(result)),
                        Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
                    })
                    .await;
                    let now = Instant::now();
                    match opened {
                        Some(Ok(ws)) => {
                            self.conn = Conn::Open(Box::new(ws));
                            self.unwritable = false;
                            self.session.handle_connected(now);
                        }
                        Some(Err(reason)) => {
                            self.conn = Conn::None;
                            self.session.handle_connect_failed(now, reason);
                        }
                        None => {}
                    }
                }
                Conn::Open(_) if !self.session.state().is_connected() => self.take_conn(),
                Conn::Open(ws) => {
                    let deadline = if self.unwritable {
                        self.session.poll_timeout_unwritable()
                    } else {
                        self.session.poll_timeout()
                    };
                    let timer = rearm(&mut self.timer, deadline);
                    let session = &mut self.session;
                    let unwritable = &mut self.unwritable;
                    let wake =
                        poll_fn(|cx| poll_open(ws, session, unwritable, timer.as_mut(), cx)).await;
                    let now = Instant::now();
                    match wake {
                        Wake::Frame(Some(Ok(message))) => self.handle_frame(now, message),
                        Wake::Frame(Some(Err(e))) => self.session.handle_lost(now, link_error(e)),
                        Wake::Frame(None) => self.session.handle_lost(now, LinkError::Eof),
                        Wake::Timer => {}
                    }
                }
                Conn::Closing { ws, frame, deadline } => {
                    let timed = deadline.is_some();
                    let timer = rearm(&mut self.timer, *deadline);
                    let wake = poll_fn(|cx| poll_closing(ws, frame, timer.as_mut(), cx)).await;
                    let now = Instant::now();
                    match wake {
                        Wake::Frame(Some(Ok(Message::Close(frame)))) => {
                            let (code, reason) = close_parts(frame.as_ref());
                            self.session.handle_close_frame(now, code, reason);
                        }
                        Wake::Frame(Some(Ok(_))) => {}
                        // No close timeout: the far-off stand-in deadline ends nothing.
                        Wake::Timer if !timed => {}
                        Wake::Frame(_) | Wake::Timer => {
                            // TCP ended (or the time is up): the connection is over.
                            self.take_conn();
                            self.session.handle_lost(now, LinkError::Eof);
                            let _ = self.session.poll_close();
                        }
                    }
                }
            }
        }
    }

    /// Hands the session a frame that is already there, if the connection is open and one
    /// is; never waits.
    async fn read_ready(&mut self, now: Instant) -> bool {
        let Conn::Open(ws) = &mut self.conn else { return false };
        if !self.session.state().is_connected() {
            return false;
        }
        let mut ws = Pin::new(ws.as_mut());
        let ready = poll_fn(|cx| Poll::Ready(ws.as_mut().poll_next(cx))).await;
        match ready {
            Poll::Pending => match ws.get_ref().write_failed() {
                // Nothing left to read: the failed write ends the connection now.
                Some(e) => self.session.handle_lost(now, link_error(e)),
                None => return false,
            },
            Poll::Ready(Some(Ok(message))) => self.handle_frame(now, message),
            Poll::Ready(Some(Err(e))) => self.session.handle_lost(now, link_error(e)),
            Poll::Ready(None) => self.session.handle_lost(now, LinkError::Eof),
        }
        true
    }

    fn handle_frame(&mut self, now: Instant, message: Message) {
        match message {
            Message::Binary(bytes) => {
                let joins = self.session.stats().joins;
                let tick = self.session.world().map(|w| w.tick);
                let room = self.session.welcome().map(|w| w.room);
                self.session.handle_message(now, &bytes);
                self.feed_interpolation(now, joins, tick, room);
            }
            Message::Close(frame) => {
                let (code, reason) = close_parts(frame.as_ref());
                self.session.handle_close_frame(now, code, reason);
            }
            Message::Text(_) => self
                .session
                .handle_lost(now, LinkError::WebSocket("the server sent a text message".into())),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                self.session.handle_heard(now);
            }
        }
    }

    /// Hands the interpolation, if kept, what the message just handled brought: a new seat
    /// (the session counted another join; `room_before` is the room of the one before), or a
    /// world (its newest tick moved).
    fn feed_interpolation(
        &mut self,
        now: Instant,
        joins_before: u64,
        tick_before: Option<Tick>,
        room_before: Option<RoomName>,
    ) {
        let Some(interpolation) = &mut self.interpolation else { return };
        if self.session.stats().joins != joins_before
            && let Some(welcome) = self.session.welcome()
        {
            // The server never resumes a spectator: back in the same room, its view goes on,
            // ticks included, and the buffer with it. A restarted server's ticks start again
            // from 1, which `Interpolation::push` takes as a restart and starts over.
            let spectator_back =
                welcome.role == Role::Spectator && room_before == Some(welcome.room);
            if welcome.tick_rate != interpolation.tick_rate() {
                *interpolation = Interpolation::new(welcome.tick_rate, *interpolation.config());
            } else if !welcome.resumed && !spectator_back {
                interpolation.clear();
            }
        }
        if let Some(world) = self.session.world()
            && Some(world.tick) != tick_before
        {
            interpolation.push(world, now);
        }
    }

    /// Ends the connection as the session asked.
    fn apply_close(&mut self, now: Instant) {
        let Some(action) = self.session.poll_close() else {
            return;
        };
        let deadline = crate::session::deadline(now, self.session.config().close_timeout);
        self.conn = match (std::mem::replace(&mut self.conn, Conn::None), action) {
            (Conn::Open(ws), CloseAction::Close { code, reason }) => {
                let frame = CloseFrame { code: code.into(), reason: reason.into() };
                Conn::Closing { ws, frame: Some(frame), deadline }
            }
            (Conn::Open(ws), CloseAction::Finish) => Conn::Closing { ws, frame: None, deadline },
            (Conn::Closing { ws, frame, .. }, CloseAction::Finish | CloseAction::Close { .. }) => {
                Conn::Closing { ws, frame, deadline }
            }
            (conn, CloseAction::Abort) => {
                self.count_closed(&conn);
                Conn::None
            }
            (conn, _) => conn,
        };
    }

    fn take_conn(&mut self) {
        let conn = std::mem::replace(&mut self.conn, Conn::None);
        self.count_closed(&conn);
    }

    fn count_closed(&mut self, conn: &Conn) {
        if let Conn::Open(ws) | Conn::Closing { ws, .. } = conn {
            self.wire_closed.0 += ws.get_ref().counted().read;
            self.wire_closed.1 += ws.get_ref().counted().written;
        }
    }

    async fn sleep_until_timeout(&mut self) {
        match self.session.poll_timeout() {
            Some(at) => rearm(&mut self.timer, Some(at)).await,
            None => std::future::pending().await,
        }
    }
}

/// Points the reusable timer at `deadline` (far in the future for `None`) without
/// re-registering it when it already points there; makes it at the first call.
fn rearm(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Option<Instant>) -> &mut Pin<Box<Sleep>> {
    let at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
    let at = tokio::time::Instant::from_std(at);
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
    if timer.deadline() != at {
        timer.as_mut().reset(at);
    }
    timer
}

/// One wake-up of an open connection: sends what the session has (only as far as the socket
/// takes it, so nothing is lost if this future is dropped), flushes, then waits for a frame
/// or the timer.
fn poll_open(
    ws: &mut Ws,
    session: &mut Session,
    unwritable: &mut bool,
    mut timer: Pin<&mut Sleep>,
    cx: &mut Context<'_>,
) -> Poll<Wake> {
    let mut ws = Pin::new(ws);
    let was_unwritable = *unwritable;
    let inputs_before = session.stats().inputs_sent;
    loop {
        match ws.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => *unwritable = false,
            Poll::Ready(Err(e)) => return Poll::Ready(Wake::Frame(Some(Err(e)))),
            Poll::Pending => {
                *unwritable = true;
                break;
            }
        }
        let Some(bytes) = session.poll_transmit(Instant::now()) else {
            break;
        };
        if let Err(e) = ws.as_mut().start_send(Message::Binary(bytes.into())) {
            return Poll::Ready(Wake::Frame(Some(Err(e))));
        }
    }
    if let Poll::Ready(Err(e)) = ws.as_mut().poll_flush(cx) {
        return Poll::Ready(Wake::Frame(Some(Err(e))));
    }
    if let Poll::Ready(frame) = ws.as_mut().poll_next(cx) {
        return Poll::Ready(Wake::Frame(frame));
    }
    // A write failed, and every frame the server sent before it is read.
    if let Some(e) = ws.get_ref().write_failed() {
        return Poll::Ready(Wake::Frame(Some(Err(e))));
    }
    if was_unwritable && !*unwritable {
        // Writable again: the timer was armed without the sends that are due.
        return Poll::Ready(Wake::Timer);
    }
    if session.stats().inputs_sent != inputs_before {
        // An input went out: the prediction feed publishes it now, not at the next wake.
        return Poll::Ready(Wake::Timer);
    }
    timer.as_mut().poll(cx).map(|()| Wake::Timer)
}

/// One wake-up of a closing connection: sends our close frame if one is due, flushes (which
/// also sends the answer to the server's close), and reads on until TCP ends.
fn poll_closing(
    ws: &mut Ws,
    frame: &mut Option<CloseFrame>,
    mut timer: Pin<&mut Sleep>,
    cx: &mut Context<'_>,
) -> Poll<Wake> {
    let mut ws = Pin::new(ws);
    if frame.is_some() {
        match ws.as_mut().poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                let close = Message::Close(frame.take());
                if let Err(e) = ws.as_mut().start_send(close) {
                    return Poll::Ready(Wake::Frame(Some(Err(e))));
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Wake::Frame(Some(Err(e)))),
            Poll::Pending => {}
        }
    }
    // Socket errors are held back (`Counted::write_failed`); others surface on the read side.
    let _ = ws.as_mut().poll_flush(cx);
    if let Poll::Ready(frame) = ws.as_mut().poll_next(cx) {
        return Poll::Ready(Wake::Frame(frame));
    }
    if ws.get_ref().write_failed().is_some() {
        // Nothing more can be answered, and everything that came is read: over.
        return Poll::Ready(Wake::Frame(None));
    }
    timer.as_mut().poll(cx).map(|()| Wake::Timer)
}

fn close_parts(frame: Option<&CloseFrame>) -> (Option<u16>, &str) {
    match frame {
        Some(frame) => (Some(frame.code.into()), frame.reason.as_str()),
        None => (None, ""),
    }
}

fn link_error(e: WsError) -> LinkError {
    match e {
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => LinkError::Eof,
        WsError::Io(e) => LinkError::Io(e.kind()),
        other => LinkError::WebSocket(other.to_string()),
    }
}

/// Opens TCP (from `local_ip` if given) and upgrades to WebSocket with `tickwire.v1`.
async fn open(
    endpoint: Arc<Endpoint>,
    local_ip: Option<IpAddr>,
    read_buffer_size: usize,
) -> Result<Ws, Disconnect> {
    let stream = connect_tcp(&endpoint, local_ip).await?;
    let counted = Counted::new(stream);
    let transport = match &endpoint.tls {
        None => Transport::Plain(counted),
        Some(Tls(tls)) => {
            let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                .map_err(|e| Disconnect::Lost(LinkError::Tls(e.to_string())))?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            match connector.connect(name, counted).await {
                Ok(tls) => Transport::Tls(Box::new(tls)),
                // Certificate and protocol failures arrive as InvalidData carrying rustls's
                // error; anything else is the network.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(Disconnect::Lost(LinkError::Tls(tls_failure(&e))));
                }
                Err(e) => return Err(Disconnect::Lost(LinkError::Io(e.kind()))),
            }
        }
    };
    ws_handshake(&endpoint, transport, read_buffer_size).await
}

/// What a failed TLS handshake says to a person. A server that does not speak TLS answers
/// the ClientHello with plain bytes (an HTTP 400, or nothing TLS at all), which rustls reports
/// as "received corrupt message of type InvalidContentType": true, and no help to someone who
/// typed `wss://` for a `ws://` server.
fn tls_failure(e: &io::Error) -> String {
    let rustls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            "the server does not speak TLS (its answer is not TLS): try ws:// instead of wss://"
                .to_string()
        }
        _ => e.to_string(),
    }
}

/// How long one of several resolved addresses may take to connect before the next is tried.
/// `localhost` resolves to `::1` first on most hosts, while a server bound to `0.0.0.0` listens
/// on IPv4 only: that refusal is quick, but a host name whose IPv6 route is broken is silent,
/// and the whole connect timeout must not go to it.
const NEXT_ADDRESS_AFTER: Duration = Duration::from_secs(2);

/// TCP to the endpoint, from `local_ip` when given, Nagle off. Tries every address the host
/// name resolves to (of `local_ip`'s family), in the resolver's order, and reports the last
/// failure when none connects.
async fn connect_tcp(
    endpoint: &Endpoint,
    local_ip: Option<IpAddr>,
) -> Result<TcpStream, Disconnect> {
    let lost = |e: io::Error| Disconnect::Lost(LinkError::connect(&e));
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(lost)?
        .filter(|a| local_ip.is_none_or(|ip| ip.is_ipv4() == a.is_ipv4()))
        .collect();
    connect_any(&addrs, local_ip).await.map_err(lost)
}

/// The first of `addrs` that connects, each but the last given [`NEXT_ADDRESS_AFTER`].
async fn connect_any(addrs: &[SocketAddr], local_ip: Option<IpAddr>) -> io::Result<TcpStream> {
    let mut failure: io::Error = io::ErrorKind::NotFound.into();
    for (i, &addr) in addrs.iter().enumerate() {
        let attempt = connect_one(addr, local_ip);
        let connected = if i + 1 < addrs.len() {
            tokio::time::timeout(NEXT_ADDRESS_AFTER, attempt)
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
        } else {
            attempt.await
        };
        match connected {
            Ok(stream) => return Ok(stream),
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

async fn connect_one(addr: SocketAddr, local_ip: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }?;
    if let Some(ip) = local_ip {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    // Inputs and acks are a few bytes each and must not wait for Nagle.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The WebSocket upgrade for the tickwire subprotocol over `transport`, refusals and
/// failures mapped to [`Disconnect`].
async fn ws_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    endpoint: &Endpoint,
    transport: S,
    read_buffer_size: usize,
) -> Result<WebSocketStream<S>, Disconnect> {
    let mut request = endpoint
        .uri
        .clone()
        .into_client_request()
        .map_err(|e| Disconnect::Lost(LinkError::WebSocket(e.to_string())))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    if let Some(Bearer(value)) = &endpoint.bearer {
        request.headers_mut().insert("Authorization", value.clone());
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer_size)
        .max_message_size(Some(MAX_SERVER_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_SERVER_MESSAGE_SIZE));
    match tokio_tungstenite::client_async_with_config(request, transport, Some(config)).await {
        Ok((ws, response)) => {
            let selected = response.headers().get("sec-websocket-protocol");
            if selected.is_none_or(|p| p != SUBPROTOCOL) {
                return Err(Disconnect::Lost(LinkError::Subprotocol));
            }
            Ok(ws)
        }
        Err(WsError::Http(response)) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.body().as_deref().unwrap_or_default();
            let message = String::from_utf8_lossy(body).trim().to_string();
            Err(Disconnect::Refused(Refusal {
                status: response.status().as_u16(),
                message,
                retry_after,
            }))
        }
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol | SubProtocolError::InvalidSubProtocol,
        ))) => Err(Disconnect::Lost(LinkError::Subprotocol)),
        Err(WsError::Io(e)) => Err(Disconnect::Lost(LinkError::Io(e.kind()))),
        // tungstenite says "Handshake not finished": what a player needs to hear is that the
        // other end hung up (a proxy or load balancer with no server behind it, often).
        Err(WsError::Protocol(ProtocolError::HandshakeIncomplete)) => {
            Err(Disconnect::Lost(LinkError::WebSocket(
                "the connection closed before the server answered the upgrade (a proxy with no \
                 server behind it?)"
                    .to_string(),
            )))
        }
        Err(e) => Err(Disconnect::Lost(LinkError::WebSocket(e.to_string()))),
    }
}

/// A connection upgraded to the tickwire subprotocol and handed over as its TCP socket, for
/// an application that drives a [`Session`] with IO of its own (the load-test bots read
/// thousands of them through one io_uring). What follows the upgrade is WebSocket frames:
/// the client masks what it sends and starts with the session's `Hello`
/// ([`Session::handle_connected`], then [`Session::poll_transmit`]).
#[derive(Debug)]
pub struct Upgraded {
    /// The socket, non-blocking and with Nagle off.
    pub stream: TcpStream,
    /// Bytes that came after the server's `101` head: frames to read before the socket's.
    pub early: Vec<u8>,
    /// Bytes read and written on the socket by the upgrade.
    pub wire_bytes: (u64, u64),
}

/// Opens TCP (from `local_ip` when given) and upgrades it as [`Client`] does, with the same
/// refusals ([`Disconnect::Refused`] with the status, the message and `Retry-After`), then
/// hands over the socket. `ws://` only: a `wss://` endpoint fails with [`LinkError::Tls`], as
/// the TLS session could not be handed over.
pub async fn upgrade(
    endpoint: &Endpoint,
    local_ip: Option<IpAddr>,
) -> Result<Upgraded, Disconnect> {
    if endpoint.is_tls() {
        return Err(Disconnect::Lost(LinkError::Tls(
            "a wss:// connection cannot be handed over as a socket".into(),
        )));
    }
    let stream = connect_tcp(endpoint, local_ip).await?;
    let tap = Tap { stream: Some(Counted::new(stream)), read: Vec::new() };
    let mut ws = ws_handshake(endpoint, tap, 4096).await?;
    let tap = ws.get_mut();
    let counted = tap.stream.take().ok_or(Disconnect::Lost(LinkError::Eof))?;
    // tungstenite may have read past the head: those bytes are the first frames.
    let head_end =
        tap.read.windows(4).position(|w| w == b"\r\n\r\n").map_or(tap.read.len(), |i| i + 4);
    let early = tap.read[head_end..].to_vec();
    Ok(Upgraded { stream: counted.inner, early, wire_bytes: (counted.read, counted.written) })
}

/// The socket under an upgrade that is handed over afterwards: keeps every byte read, so
/// what the handshake read past the head is not lost, and lets the socket be taken out.
struct Tap {
    stream: Option<Counted<TcpStream>>,
    read: Vec<u8>,
}

impl Tap {
    fn stream(&mut self) -> io::Result<&mut Counted<TcpStream>> {
        self.stream.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(this.stream()?).poll_read(cx, buf);
        this.read.extend_from_slice(&buf.filled()[before..]);
        polled
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stream()?).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().stream()?).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tickwire_shared::codec::encode_server;
    use tickwire_shared::{
        Kick, KickReason, KickText, PlayerId, ResumeToken, Role, RoomName, ServerMessage,
        WorldBounds,
    };
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

    /// The upgrade's answer selects `tickwire.v1` (tungstenite's callback type, large error and
    /// all).
    #[allow(clippy::result_large_err)]
    fn subprotocol(_: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        let value = HeaderValue::from_static(SUBPROTOCOL);
        response.headers_mut().insert("sec-websocket-protocol", value);
        Ok(response)
    }

    /// A server on 127.0.0.1 port 0 that welcomes one client, then, once `go` fires, sends it
    /// `frames` and ends TCP; returns its URL and the task, which ends once TCP is ended.
    async fn fake_server(
        frames: Vec<Message>,
    ) -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (go, went) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, subprotocol).await.unwrap();
            let hello = ws.next().await.unwrap().unwrap();
            assert!(hello.is_binary(), "the Hello");
            let welcome = Welcome {
                player_id: PlayerId(1),
                role: Role::Player,
                room: RoomName::truncated("fake"),
                tick_rate: 30,
                world: WorldBounds { width: 1600, height: 1000 },
                view_radius: 700,
                entity: None,
                resume_token: ResumeToken([7; 16]),
                resumed: false,
            };
            let welcome = encode_server(&ServerMessage::Welcome(welcome)).unwrap();
            ws.send(Message::Binary(welcome.into())).await.unwrap();
            went.await.unwrap();
            for frame in frames {
                ws.feed(frame).await.unwrap();
            }
            ws.flush().await.unwrap();
            // Dropped: TCP ends (FIN), and what the client writes next is answered with a reset.
        });
        (url, go, task)
    }

    #[tokio::test]
    async fn a_kick_already_received_is_reported_though_answering_a_ping_fails() {
        // A game that stopped calling `next_event` finds the server's pings, its Kick and its
        // close frame in the socket, and TCP ended: the first pong goes out and is answered
        // with a reset, the next fails (broken pipe) before the Kick is read.
        let kick = Kick { reason: KickReason::Idle, message: KickText::truncated("idle") };
        let kick = encode_server(&ServerMessage::Kick(kick)).unwrap();
        let close = CloseFrame { code: crate::close_code::POLICY.into(), reason: "idle".into() };
        let mut frames: Vec<Message> = (0..4).map(|_| Message::Ping(vec![1].into())).collect();
        frames.extend([Message::Binary(kick.into()), Message::Close(Some(close))]);
        let (url, go, server) = fake_server(frames).await;

        let config = Config { reconnect: crate::Reconnect::NEVER, ..Config::default() };
        let identity = Identity::player("ada").unwrap();
        let mut client = Client::connect(&url, identity, config).await.unwrap();
        go.send(()).unwrap();
        server.await.unwrap(); // every frame is in our socket, and TCP is ended

        let reason = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match client.next_event().await.expect("a Disconnected before the end") {
                    Event::Disconnected { reason, .. } => return reason,
                    _ => continue,
                }
            }
        })
        .await
        .expect("the connection ends");
        let kicked = crate::Kicked {
            reason: KickReason::Idle,
            message: "idle".into(),
            close_code: Some(crate::close_code::POLICY),
        };
        assert_eq!(reason, Disconnect::Kicked(kicked));
    }

    #[tokio::test]
    async fn an_interpolation_asked_for_is_fed_every_world_as_it_arrives() {
        use tickwire_shared::delta::delta;
        use tickwire_shared::{EntityId, EntityState, QVec2, RoundPhase, RoundState};
        let round = RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 };
        let world = |tick: u32| World {
            tick: Tick(tick),
            round,
            entities: vec![EntityState {
                id: EntityId(3),
                kind: 0,
                pos: QVec2 { x: tick as i16 * 16, y: 0 },
                vel: QVec2::default(),
                heading: 0,
                flags: 1,
                value: 0,
            }],
        };
        let frames = [1, 2]
            .map(|tick| {
                let snapshot = delta(None, &world(tick), InputSeq(0), 30).unwrap();
                Message::Binary(encode_server(&ServerMessage::Snapshot(snapshot)).unwrap().into())
            })
            .to_vec();
        let (url, go, server) = fake_server(frames).await;

        let config = Config { reconnect: crate::Reconnect::NEVER, ..Config::default() };
        let identity = Identity::player("ada").unwrap();
        let mut client = Client::connect(&url, identity, config).await.unwrap();
        assert!(client.interpolation().is_none(), "only when asked for");
        client.interpolate(InterpolationConfig::default());
        go.send(()).unwrap();
        server.await.unwrap();
        let mut snapshots = 0;
        while let Some(event) = client.next_event().await {
            match event {
                Event::Snapshot(_) => snapshots += 1,
                Event::Disconnected { .. } => break,
                _ => {}
            }
        }
        assert_eq!(snapshots, 2);
        let interpolation = client.interpolation().expect("asked for");
        assert_eq!(interpolation.tick_rate(), 30, "the room's");
        assert_eq!(interpolation.latest(), Some(&world(2)));
        let ticks: Vec<u32> = interpolation.worlds().map(|w| w.tick.0).collect();
        assert_eq!(ticks, [1, 2], "each world, not only the newest when the events are read");
        let drawn = interpolation.sample(Instant::now() + Duration::from_secs(10));
        assert_eq!(drawn.entities[0].pos.x, 2.0, "long after, the newest world held");
    }

    #[tokio::test]
    async fn an_address_that_refuses_passes_the_connect_to_the_next() {
        // `localhost` as `::1` then `127.0.0.1`, with the server on IPv4 only: a closed port
        // stands for the address that refuses.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = connect_any(&[closed, open.local_addr().unwrap()], None).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), open.local_addr().unwrap());
        let refused = connect_any(&[closed], None).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused, "the last failure is kept");
        let none = connect_any(&[], None).await.unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_host_name_that_does_not_resolve_is_shown_as_such() {
        // `.invalid` never resolves (RFC 6761); std files the failure under no kind of its own.
        let endpoint = Endpoint::parse("ws://no-such-host.invalid/ws").unwrap();
        let Err(lost) = connect_tcp(&endpoint, None).await else { panic!("resolved") };
        let shown = lost.to_string();
        assert!(shown.starts_with("cannot connect: failed to lookup address"), "{shown}");
    }

    #[test]
    fn a_client_is_made_outside_a_tokio_runtime_and_driven_inside_one() {
        // As the TLS example of the crate's page does, from a plain function.
        let endpoint = Arc::new(Endpoint::parse("wss://game.example:8443/ws").unwrap());
        let identity = Identity::player("ada").unwrap();
        let mut client = Client::with_endpoint(endpoint, identity, Config::default(), 7);
        assert_eq!(client.session().state(), State::Idle);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let first = runtime.block_on(client.next_event());
        assert_eq!(first, Some(Event::Connecting { attempt: 1 }));
    }

    #[test]
    fn endpoints_parse_ws_urls_only() {
        let e = Endpoint::parse("ws://127.0.0.1:8080/ws").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8080));
        assert_eq!(Endpoint::parse("ws://example.com/ws").unwrap().port, 80);
        assert_eq!(Endpoint::parse("ws://[::1]:9/ws").unwrap().host, "::1");
        let secure = Endpoint::parse("wss://example.com/ws").unwrap();
        assert_eq!((secure.port, secure.is_tls()), (443, true));
        assert_eq!(Endpoint::parse("wss://example.com:8443/ws").unwrap().port, 8443);
        assert!(!e.is_tls());
        let roots = Arc::new(tls_config(rustls::RootCertStore::empty()));
        assert_ne!(secure.clone().with_tls_config(roots.clone()), secure);
        assert_eq!(e.clone().with_tls_config(roots), e, "no effect on ws://");
        assert!(matches!(Endpoint::parse("http://example.com/"), Err(UrlError::Scheme(_))));
        assert!(matches!(Endpoint::parse("not a url"), Err(UrlError::Invalid(_))));
        let with_token = Endpoint::parse("ws://user@example.com:9/ws?token=abc").unwrap();
        assert_eq!((with_token.host.as_str(), with_token.port), ("example.com", 9));
        assert_eq!(Endpoint::parse("ws://example.com:/ws").unwrap().port, 80, "an empty port");
    }

    #[test]
    fn a_bearer_token_is_not_shown_and_one_no_header_carries_is_refused() {
        let endpoint = Endpoint::parse("wss://game.example/ws").unwrap();
        assert!(!endpoint.has_bearer());
        let with = endpoint.clone().with_bearer("eyJhbGciOi.secret-part.sig").unwrap();
        assert!(with.has_bearer());
        let shown = format!("{with:?}");
        assert!(!shown.contains("secret-part"), "a credential in Debug: {shown}");
        assert!(shown.contains("Bearer(..)"), "{shown}");
        assert_ne!(with, endpoint);
        assert_eq!(endpoint.with_bearer("a\r\nX-Injected: 1"), Err(UrlError::Token));
    }

    #[test]
    fn a_url_without_a_host_or_with_a_port_out_of_range_is_refused() {
        // Taken, these would fail only when connecting, retried for seconds as a server down
        // (an empty host), or connect to port 80 (a port that does not fit).
        for url in ["ws://", "wss://", "ws:///ws", "ws://:80/ws", "ws://user@:80/ws", "ws://[]/ws"]
        {
            assert_eq!(Endpoint::parse(url), Err(UrlError::NoHost(url.into())), "{url}");
        }
        for url in ["ws://example.com:99999/ws", "ws://[::1]:65536/ws"] {
            assert_eq!(Endpoint::parse(url), Err(UrlError::Invalid(url.into())), "{url}");
        }
        assert_eq!(Endpoint::parse("ws://[::1]:65535/ws").unwrap().port, 65535);
    }
}
