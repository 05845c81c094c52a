//! Fallback sessions: the registry of session ids, and the task that runs one session.
//!
//! A session is a WebSocket connection with the socket taken out: the same
//! [`ClientLink`] the room offers frames to, the same writer loop writing them (into a
//! `Pipe` instead of a socket), and the same reader (`crate::connection::play`) reading
//! what the client's POSTs carried. Only how the bytes cross differs.

use super::pipe::Pipe;
use crate::auth::JoinGrant;
use crate::connection::{self, ReadEnd, TransportRefusal, close_code};
use crate::context::{AddressKeys, ConnectionPermit, PerAddress, ServerContext, address_key};
use crate::frame;
use crate::metrics::Initiator;
use crate::outbox::{ClientLink, CloseRequest};
use crate::ratelimit::TokenBucket;
use crate::transport::Transport;
use futures_util::Stream;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{Instrument, debug, info_span};

/// Bytes a session's pipe holds between its writer and its responses: a few ticks of a
/// player's frames. Past it the writer blocks, and the room sees no write progress (a
/// WebSocket's kernel send buffer plays this part).
pub const PIPE_CAPACITY: usize = 16 * 1024;

/// POST bodies a session may have waiting for its reader; the reader only validates and
/// hands on, so this fills only if a client sends POSTs in parallel, faster than that.
const UPSTREAM_POSTS: usize = 8;

/// A session's id: 128 bits, written as 32 lowercase hex digits. It is the only thing that
/// names a session, so it must not be guessable; it is also bound to the client's address
/// (for IPv6, its /64).
///
/// In a fleet the first 4 bytes are the [`NodeTag`] of the node holding the session, so that
/// any node can send the session's requests on to it (`forward`), and the other 12 are
/// random: 96 bits of secret are still far beyond guessing. On a single server, which forwards
/// nothing, all 16 bytes are random.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

/// The part of a [`SessionId`] that names the node holding the session: [`node_tag`].
pub type NodeTag = [u8; 4];

/// The tag of the node named `node` (`--node-id`): FNV-1a (32 bits) over the name. Every
/// node computes every other's from the directory's listing, so it must not vary between
/// processes (as `RandomState` would). Two nodes of one fleet sharing a tag (about one chance
/// in 10 million for a fleet of 30) only lose forwarding between them: a request that reaches
/// the other gets 404, and the client resumes, as before forwarding existed.
pub fn node_tag(node: &str) -> NodeTag {
    let hash = node
        .bytes()
        .fold(0x811c_9dc5_u32, |hash, b| (hash ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash.to_be_bytes()
}

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Self {
        SessionId(rand::random())
    }

    /// A fresh id of a session held by the node tagged `tag`: the tag, then 96 random bits.
    pub fn tagged(tag: NodeTag) -> Self {
        let mut id: [u8; 16] = rand::random();
        id[..4].copy_from_slice(&tag);
        SessionId(id)
    }

    /// The tag of the node that holds the session, if it was opened in a fleet (a single
    /// server's ids carry random bits here).
    pub fn tag(&self) -> NodeTag {
        [self.0[0], self.0[1], self.0[2], self.0[3]]
    }

    /// Parses 32 hex digits (either case).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().as_bytes();
        if text.len() != 32 {
            return None;
        }
        let mut id = [0u8; 16];
        for (byte, pair) in id.iter_mut().zip(text.chunks_exact(2)) {
            let hex = |b: u8| (b as char).to_digit(16);
            *byte = (hex(pair[0])? * 16 + hex(pair[1])?) as u8;
        }
        Some(SessionId(id))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionId {
    /// Only a prefix: the id is a credential and stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// What a POST hands the session's reader: the messages of one body, in order.
pub(crate) type Upstream = Vec<Result<Message, WsError>>;

/// What a session remembers of its polls for a repeat (`Tickwire-Poll`, PROTOCOL.md 1.1).
///
/// A poll takes its records out of the session's pipe, so an answer lost on its way (a proxy
/// whose upstream died mid-response retries the GET; a forwarding node dies after the owner
/// answered) would take that tick's reliable frames with it, and the next poll would get the
/// tick after. So the session keeps the last body it answered until the poll after it comes:
/// that one acknowledges it, and a repeat of the same number gets the same bytes again.
#[derive(Debug, Default)]
pub(crate) struct Polls {
    /// The number of the last poll answered: 0, the request that opened the session, until
    /// a numbered poll comes.
    pub(crate) last: u64,
    /// The body poll `last` was answered with: one take of the pipe, so at most
    /// [`PIPE_CAPACITY`] bytes; one per session, in an allocation of its own ([`Polls::keep`]).
    pub(crate) body: bytes::Bytes,
}

impl Polls {
    /// Poll `n` is answered with `body`: kept for a repeat of it, and returned to be sent.
    ///
    /// A copy, in an allocation of its own: a take of the pipe shares the pipe's buffer (a
    /// `BytesMut` split off), so it would keep all of that buffer alive for as long as it is
    /// kept (a session lingering for a repeat too), whatever its own size. Sent too, so the
    /// pipe's buffer goes as soon as the pipe moves on. At most [`PIPE_CAPACITY`] bytes, one
    /// poll at a time.
    pub(crate) fn keep(&mut self, n: u64, body: &bytes::Bytes) -> bytes::Bytes {
        self.last = n;
        self.body = bytes::Bytes::copy_from_slice(body);
        self.body.clone()
    }
}

/// Who holds a session's polls ([`Session::polling`]), and whether a repeat of that poll waits
/// behind it: what [`Session::turn`] decides by.
#[derive(Debug, Default)]
struct PollQueue {
    /// The number of the poll holding [`Session::polling`] (`None`: an unnumbered one, or
    /// nobody since the lock was last taken through [`Session::turn`]).
    holder: Option<u64>,
    /// A repeat of the holder's number waits for it.
    waiting: bool,
}

/// One fallback session, shared by its task and the requests that name it.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    /// The client's address: requests from any other address (for IPv6, from outside its
    /// /64) do not find the session.
    pub(crate) client: IpAddr,
    pub(crate) transport: Transport,
    pub(crate) link: Arc<ClientLink>,
    pub(crate) pipe: Arc<Pipe>,
    upstream: mpsc::Sender<Upstream>,
    posts: Mutex<TokenBucket>,
    /// Held by the one poll that may wait on the session at a time, with what a repeat of the
    /// last one is answered; taken through [`Session::turn`] once the session is known.
    pub(crate) polling: tokio::sync::Mutex<Polls>,
    /// Who holds `polling`, and whether a repeat waits for it.
    poll_queue: Mutex<PollQueue>,
    /// A numbered poll came: at its end the session stays findable for a while, so that a
    /// repeat of the poll that took its close record gets it again ([`LINGER`]); and an
    /// unnumbered poll is refused from then on.
    numbered: AtomicBool,
    /// A numbered POST came: an unnumbered one is refused from then on.
    posts_numbered: AtomicBool,
    /// The `Tickwire-Seq` of the last numbered POST delivered (0: none yet), held while one
    /// is delivered: a repeat of it is not delivered again, and one out of sequence is
    /// refused (PROTOCOL.md 1.1).
    pub(crate) posted: tokio::sync::Mutex<u64>,
    /// A polled session's polls: whether one waits, and when the last one ended
    /// ([`POLLS_ABSENT`]).
    polls_seen: Mutex<PollsSeen>,
}

/// Whether a polled session has a poll waiting, and when its last one ended.
#[derive(Debug)]
struct PollsSeen {
    waiting: u32,
    last_ended: Instant,
}

/// How long a polled session may have no poll waiting before its client counts as gone (its
/// seat kept for a resume, as after a dropped connection). A stream's client that goes away
/// drops its connection, but a polling client that closes its tab leaves nothing to notice,
/// and its close record rarely gets out (its one POST in flight holds it back, and a page being
/// unloaded cancels it), so without this its ship stayed for the idle timeout and the resume
/// grace, 25 s, where a WebSocket's stays 10 s. A polling client has one waiting but for a
/// round trip between two, or while it waits out the `Retry-After` of a poll refused before it
/// was read (5 s at most: the per-address connection cap's; the SDK sends one refused at the
/// connection rate's 1 s again up to five times): longer than that, with room for the answer
/// on a slow link.
pub(crate) const POLLS_ABSENT: std::time::Duration = std::time::Duration::from_secs(8);

/// A poll of a session, counted from when it takes its turn until it ends however it ends.
pub(crate) struct PollWaiting<'a>(&'a Session);

impl Drop for PollWaiting<'_> {
    fn drop(&mut self) {
        let mut seen = lock(&self.0.polls_seen);
        seen.waiting = seen.waiting.saturating_sub(1);
        seen.last_ended = Instant::now();
    }
}

/// Why a POST's messages did not reach the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliverError {
    /// The session is closing or closed.
    Closed,
    /// Its reader did not take them within the close timeout (a client sending POSTs in
    /// parallel faster than they are read).
    Busy,
}

impl Session {
    /// Takes one token of the session's POST rate; false when the client exceeds it.
    pub(crate) fn take_post(&self, now: Instant) -> bool {
        lock(&self.posts).try_take(now)
    }

    /// Hands a POST's messages to the reader, in order after earlier POSTs', waiting at most
    /// `patience` for room.
    pub(crate) async fn deliver(
        &self,
        messages: Upstream,
        patience: std::time::Duration,
    ) -> Result<(), DeliverError> {
        match tokio::time::timeout(patience, self.upstream.send(messages)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(DeliverError::Closed),
            Err(_) => Err(DeliverError::Busy),
        }
    }

    /// The session's polls for a poll numbered `number` (`None`: unnumbered), or `None` when it
    /// is refused: another poll holds them, and this is not the one repeat of that poll that
    /// may wait for it. That one waits at most `patience` for the holder to finish (a proxy
    /// retrying a poll whose connection died before this server noticed: the holder still
    /// waits for records nobody will read, then keeps them for the repeat). Any other poll is
    /// refused at once, so that polls cannot pile up on a session, each waiting its time.
    pub(crate) async fn turn(
        &self,
        number: Option<u64>,
        patience: std::time::Duration,
    ) -> Option<tokio::sync::MutexGuard<'_, Polls>> {
        {
            // The holder is named under the queue's lock, so whoever finds `polling` taken
            // reads the number of the poll that took it.
            let mut queue = lock(&self.poll_queue);
            if let Ok(polls) = self.polling.try_lock() {
                queue.holder = number;
                return Some(polls);
            }
            if number.is_none() || queue.holder != number || queue.waiting {
                return None;
            }
            queue.waiting = true;
        }
        /// Frees the one place behind the holder however the wait ends (its connection may
        /// go, and its future with it).
        struct Waiting<'a>(&'a Mutex<PollQueue>);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                lock(self.0).waiting = false;
            }
        }
        let waiting = Waiting(&self.poll_queue);
        let polls = tokio::time::timeout(patience, self.polling.lock()).await.ok()?;
        lock(&self.poll_queue).holder = number;
        drop(waiting);
        Some(polls)
    }

    /// A poll took its turn: counted as waiting until the guard goes.
    pub(crate) fn poll_waiting(&self) -> PollWaiting<'_> {
        lock(&self.polls_seen).waiting += 1;
        PollWaiting(self)
    }

    /// When the session's client counts as gone for want of a poll: `None` while one waits.
    fn polls_absent_at(&self) -> Option<Instant> {
        let seen = lock(&self.polls_seen);
        (seen.waiting == 0).then(|| seen.last_ended + POLLS_ABSENT)
    }

    /// The client showed life without sending a message (a poll): counts as a heartbeat for
    /// the idle timeout. Dropped when the reader is busy, which is life enough.
    pub(crate) fn heard(&self) {
        let _ = self.upstream.try_send(vec![Ok(Message::Pong(bytes::Bytes::new()))]);
    }

    /// The client numbers its polls: see [`Session::numbered`].
    pub(crate) fn polls_numbered(&self) {
        self.numbered.store(true, Ordering::Relaxed);
    }

    /// Whether a numbered poll came.
    pub(crate) fn are_polls_numbered(&self) -> bool {
        self.numbered.load(Ordering::Relaxed)
    }

    /// The client numbers its POSTs.
    pub(crate) fn posts_numbered(&self) {
        self.posts_numbered.store(true, Ordering::Relaxed);
    }

    /// Whether a numbered POST came.
    pub(crate) fn are_posts_numbered(&self) -> bool {
        self.posts_numbered.load(Ordering::Relaxed)
    }
}

/// A bad record as the reader's stream carries it: the close it asks for.
pub(crate) fn refusal(close: CloseRequest) -> Result<Message, WsError> {
    Err(WsError::Io(io::Error::other(TransportRefusal(close))))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent; a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every open session, by id: at most `--max-connections` (each holds a connection permit),
/// and at most [`LINGERING_MAX`] ended ones lingering ([`LINGER`]).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<SessionId, Arc<Session>>>,
    /// Ended sessions still in `map` for a repeat of their last poll.
    lingering: Mutex<LingerPlaces>,
}

/// The places of lingering sessions: all of them, and by address (an IPv6 client by its /64,
/// and its /48 at four addresses' worth, as the session caps count), so that one address
/// cannot take every place.
#[derive(Debug, Default)]
struct LingerPlaces {
    total: usize,
    by_address: PerAddress,
}

impl Sessions {
    /// The session `id` if it exists and belongs to `client`. A session of another address is
    /// not told apart from none at all.
    ///
    /// An IPv6 client is its /64, as the per-address caps count it: a host picks its addresses
    /// there (privacy addresses rotate), and its polls and POSTs travel on connections of their
    /// own, so they need not leave from the address that opened the session.
    pub(crate) fn find(&self, id: SessionId, client: IpAddr) -> Option<Arc<Session>> {
        let key = address_key(client);
        lock(&self.map).get(&id).filter(|s| address_key(s.client) == key).cloned()
    }

    fn insert(&self, session: Arc<Session>) {
        lock(&self.map).insert(session.id, session);
    }

    fn remove(&self, id: SessionId) {
        lock(&self.map).remove(&id);
    }

    /// Counts one more ended session of `client` lingering, unless [`LINGERING_MAX`] already
    /// do, or [`LINGERING_PER_ADDRESS`] of its address (four times that of its IPv6 /48): its
    /// place, given back when dropped.
    fn start_lingering(&self, client: IpAddr) -> Option<Lingering<'_>> {
        let keys = AddressKeys::of(client);
        let mut places = lock(&self.lingering);
        if places.total >= LINGERING_MAX
            || !places.by_address.take(keys, LINGERING_PER_ADDRESS as u32)
        {
            return None;
        }
        places.total += 1;
        Some(Lingering { sessions: self, keys })
    }

    /// Keeps a place among the lingering sessions ([`Sessions::start_lingering`]) until
    /// `until` resolves: `false` when none was free.
    async fn linger(&self, client: IpAddr, until: impl std::future::Future<Output = ()>) -> bool {
        let Some(_place) = self.start_lingering(client) else { return false };
        until.await;
        true
    }

    /// Sessions lingering now.
    #[cfg(test)]
    fn lingering(&self) -> usize {
        lock(&self.lingering).total
    }
}

/// A place among the sessions lingering ([`LINGERING_MAX`]), given back when dropped: when the
/// lingering ends, and when the session's task is dropped while it lingers (a runtime going
/// down), so that no place is lost for good.
struct Lingering<'a> {
    sessions: &'a Sessions,
    keys: AddressKeys,
}

impl Drop for Lingering<'_> {
    fn drop(&mut self) {
        let mut places = lock(&self.sessions.lingering);
        places.total -= 1;
        places.by_address.give_back(self.keys);
    }
}

/// Opens a session for `client` over `transport` and starts its task; the session is
/// registered before this returns, so its id may be handed out at once.
pub(crate) fn open(
    ctx: &Arc<ServerContext>,
    sessions: &Arc<Sessions>,
    client: std::net::SocketAddr,
    transport: Transport,
    grant: Option<JoinGrant>,
    permit: ConnectionPermit,
) -> Arc<Session> {
    let (upstream, upstream_rx) = mpsc::channel(UPSTREAM_POSTS);
    let post_rate = post_rate(ctx);
    let session = Arc::new(Session {
        id: match ctx.cluster() {
            Some(cluster) => SessionId::tagged(cluster.fallback_tag),
            None => SessionId::random(),
        },
        client: client.ip(),
        transport,
        link: Arc::new(ClientLink::new()),
        pipe: Pipe::new(PIPE_CAPACITY),
        upstream,
        posts: Mutex::new(TokenBucket::new(post_rate, post_rate, Instant::now())),
        polling: tokio::sync::Mutex::default(),
        poll_queue: Mutex::default(),
        numbered: AtomicBool::new(false),
        posts_numbered: AtomicBool::new(false),
        posted: tokio::sync::Mutex::new(0),
        polls_seen: Mutex::new(PollsSeen { waiting: 0, last_ended: Instant::now() }),
    });
    sessions.insert(session.clone());
    let span = info_span!(
        "conn",
        peer = %client,
        transport = transport.name(),
        player = tracing::field::Empty,
        room = tracing::field::Empty
    );
    let task = run(ctx.clone(), sessions.clone(), session.clone(), upstream_rx, grant, permit);
    ctx.tasks.spawn(task.instrument(span));
    session
}

/// POSTs per second a session may send, and its burst: four per tick (an ack, an input and
/// room to spare; one POST in flight at a time, as the SDK sends them, stays under it), at
/// least 120.
pub fn post_rate(ctx: &ServerContext) -> u32 {
    (4 * u32::from(ctx.config.tick_rate)).max(120)
}

/// How long a session whose client numbers its polls stays findable after its last records
/// were taken: long enough for a proxy, or the client, to repeat the poll that took the close
/// record (at once, as a retry is sent), short enough that an ended session is soon forgotten.
/// It no longer counts against the session caps meanwhile, reads no POSTs (410; a repeat of
/// its last numbered POST still gets 204) and has nothing new for a poll (410).
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Ended sessions that linger at once at most. They hold no connection permit, so without a
/// bound a client opening and ending sessions as fast as it can would keep any number of them
/// (each with its last poll body, up to 16 KiB); past it an ended session goes at once, as
/// one whose client never numbered its polls.
pub(crate) const LINGERING_MAX: usize = 1024;

/// Ended sessions of one address that linger at once at most (of an IPv6 /48, four times as
/// many): one address opening and ending sessions in a loop would otherwise take every place
/// of [`LINGERING_MAX`], and everyone else's sessions would end without one.
pub(crate) const LINGERING_PER_ADDRESS: usize = 16;

/// The session's life: the first heartbeat, the reader and the writer, and the end.
async fn run(
    ctx: Arc<ServerContext>,
    sessions: Arc<Sessions>,
    session: Arc<Session>,
    upstream: mpsc::Receiver<Upstream>,
    grant: Option<JoinGrant>,
    permit: ConnectionPermit,
) {
    let link = session.link.clone();
    let mut writer_io = session.pipe.writer();
    // The first bytes go out at once: a client learns from them that the stream flows (a
    // proxy that buffers responses holds them back, and the SDK falls back to polling).
    let _ = writer_io.write_all(frame::PING).await;
    let writer = ctx
        .tasks
        .spawn(connection::write_loop(writer_io, link.clone(), ctx.clone()).in_current_span());
    let polled = (session.transport == Transport::Poll).then(|| {
        let check = Box::pin(tokio::time::sleep(POLLS_ABSENT));
        (session.clone(), check)
    });
    let mut messages = Messages { upstream, pending: VecDeque::new(), polled };
    let end = connection::play(
        &mut messages,
        &link,
        &ctx,
        grant,
        None,
        session.client,
        session.transport,
    )
    .await;
    // Nothing reads the client's records any more: from here a POST is refused with 410 at
    // once, rather than queued for nobody (and answered 204) while the close goes out.
    drop(messages);
    match end {
        ReadEnd::ClientClosed { echo } => {
            link.client_closed();
            // The answer to the client's close record, as tungstenite answers a close frame:
            // its code, or none when it had none.
            let _ = match echo {
                close_code::NO_STATUS => link.push_reply(frame::CLOSE_WITHOUT_CODE),
                code => link.push_reply(&frame::close(code, "")),
            };
        }
        // Whatever ended it, make sure the writer sends a close and stops (a close requested
        // earlier wins).
        _ => {
            link.close(CloseRequest { code: close_code::NORMAL, reason: String::new(), kick: None })
        }
    }
    link.reader_done();
    let timeout = ctx.config.close_timeout;
    let mut writer = writer;
    match tokio::time::timeout(timeout, &mut writer).await {
        Ok(Ok((written, mut io))) => {
            if let ReadEnd::ClientClosed { echo } = end
                && written.echoed
            {
                ctx.metrics.closed(echo, Initiator::Client);
            }
            let _ = io.shutdown().await;
        }
        _ => {
            writer.abort();
            session.pipe.shut_down();
        }
    }
    // The stream, or the last poll, takes what is left: the close record among it.
    if tokio::time::timeout(timeout, session.pipe.ended()).await.is_err() {
        debug!("the client did not take its close record in time");
    }
    session.pipe.close_reader();
    // The seat is gone: the session no longer counts against the caps.
    drop(permit);
    if session.numbered.load(Ordering::Relaxed) {
        // Its last poll's answer, the close record in it, may still be lost on its way; a
        // repeat of that poll finds the session and gets it again.
        let linger = async {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = connection::shutdown_signal(&ctx) => {}
            }
        };
        sessions.linger(session.client, linger).await;
    }
    sessions.remove(session.id);
}

/// What the session's POSTs carried, as the reader's message stream. A polled session's
/// stream ends, as a dropped connection's does, once no poll has waited for [`POLLS_ABSENT`].
struct Messages {
    upstream: mpsc::Receiver<Upstream>,
    pending: VecDeque<Result<Message, WsError>>,
    /// A polled session, and when to look at its polls next.
    polled: Option<(Arc<Session>, Pin<Box<tokio::time::Sleep>>)>,
}

impl Stream for Messages {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(message) = this.pending.pop_front() {
                return Poll::Ready(Some(message));
            }
            match this.upstream.poll_recv(cx) {
                Poll::Ready(Some(batch)) => this.pending.extend(batch),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    let Some((session, check)) = &mut this.polled else { return Poll::Pending };
                    loop {
                        let now = Instant::now();
                        match session.polls_absent_at() {
                            Some(gone) if gone <= now => {
                                debug!(
                                    "no poll for {} s: the client is gone",
                                    POLLS_ABSENT.as_secs()
                                );
                                return Poll::Ready(None);
                            }
                            // A poll waits: looked at again a whole period later.
                            next => {
                                let next = next.unwrap_or(now + POLLS_ABSENT);
                                check.as_mut().reset(next);
                            }
                        }
                        if check.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_linger_only_up_to_their_bound() {
        let sessions = Sessions::default();
        let client = |i: usize| IpAddr::from(u32::try_from(i).unwrap().to_be_bytes());
        let mut places: Vec<_> = (0..LINGERING_MAX)
            .map(|i| sessions.start_lingering(client(i % 1000)).expect("a place"))
            .collect();
        assert!(sessions.start_lingering(client(5000)).is_none(), "one past the bound goes");
        places.pop();
        assert!(sessions.start_lingering(client(5000)).is_some(), "a place freed is taken again");
    }

    /// One address opening and ending sessions in a loop takes its own few places, not all:
    /// an IPv4 address, an IPv6 /64 whatever address of it, and a /48 from many /64s.
    #[test]
    fn one_address_takes_only_its_own_few_lingering_places() {
        let sessions = Sessions::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4: Vec<_> = (0..LINGERING_PER_ADDRESS)
            .map(|_| sessions.start_lingering(ip("192.0.2.1")).expect("its own places"))
            .collect();
        assert!(sessions.start_lingering(ip("192.0.2.1")).is_none());
        assert!(sessions.start_lingering(ip("192.0.2.2")).is_some(), "others keep theirs");
        let host: Vec<_> = (0..LINGERING_PER_ADDRESS)
            .map(|i| sessions.start_lingering(ip(&format!("2001:db8:1:1::{:x}", i + 1))).unwrap())
            .collect();
        assert!(sessions.start_lingering(ip("2001:db8:1:1::ffff")).is_none(), "one /64");
        let site_places = crate::context::ADDRESSES_PER_IPV6_SITE as usize * LINGERING_PER_ADDRESS;
        let site: Vec<_> = (LINGERING_PER_ADDRESS..site_places)
            .map(|i| {
                let address = format!("2001:db8:1:{:x}::1", 2 + i / LINGERING_PER_ADDRESS);
                sessions.start_lingering(ip(&address)).expect("under the /48's bound")
            })
            .collect();
        assert!(sessions.start_lingering(ip("2001:db8:1:ff::1")).is_none(), "one /48");
        assert!(sessions.start_lingering(ip("2001:db8:2:ff::1")).is_some(), "another /48");
        // Subnet 0 of a /48 is a /64 whose key is the /48's own: counted apart all the same.
        let subnet_zero: Vec<_> = (0..LINGERING_PER_ADDRESS)
            .map(|i| sessions.start_lingering(ip(&format!("2001:db8:3::{:x}", i + 1))))
            .collect();
        assert!(subnet_zero.iter().all(Option::is_some), "a /64's 16, in subnet 0 too");
        drop((v4, host, site, subnet_zero));
        assert!(sessions.start_lingering(ip("192.0.2.1")).is_some(), "given back");
        assert_eq!(sessions.lingering(), 0, "every place given back, the last one too");
    }

    /// A session's task can be dropped while it lingers (its runtime going down, an abort):
    /// its place must come back all the same, or the places would run out for good.
    #[tokio::test]
    async fn a_lingering_session_dropped_midway_gives_its_place_back() {
        let sessions = Arc::new(Sessions::default());
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        let lingering = {
            let sessions = sessions.clone();
            tokio::spawn(async move { sessions.linger(client, std::future::pending()).await })
        };
        while sessions.lingering() == 0 {
            tokio::task::yield_now().await;
        }
        lingering.abort();
        assert!(lingering.await.unwrap_err().is_cancelled());
        assert_eq!(sessions.lingering(), 0, "the place is given back");
        assert!(sessions.linger(client, std::future::ready(())).await, "and taken again");
        assert_eq!(sessions.lingering(), 0);
    }

    /// A take of the pipe is a view of the pipe's buffer; kept as it is, a few bytes would
    /// keep the whole buffer alive for as long as the session keeps its last poll's answer.
    #[tokio::test]
    async fn a_kept_poll_answer_holds_its_own_bytes_only() {
        use tokio::io::AsyncWriteExt;
        let pipe = Pipe::new(PIPE_CAPACITY);
        let mut writer = pipe.writer();
        writer.write_all(&[7; 8000]).await.unwrap();
        let _ = pipe.take().await;
        writer.write_all(b"tick").await.unwrap();
        let taken = pipe.take().await.unwrap();
        let mut polls = Polls::default();
        let sent = polls.keep(3, &taken);
        assert_eq!((polls.last, &sent[..], &polls.body[..]), (3, &b"tick"[..], &b"tick"[..]));
        drop((taken, sent));
        assert!(polls.body.is_unique(), "kept in an allocation of its own, not the pipe's");
        writer.write_all(b"more").await.unwrap();
        assert_eq!(pipe.take().await.as_deref(), Some(&b"more"[..]));
    }

    #[test]
    fn ids_are_128_random_bits_in_hex_and_stay_out_of_debug_output() {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(SessionId::parse(&text), Some(id));
        assert_eq!(SessionId::parse(&text.to_uppercase()), Some(id));
        assert_ne!(SessionId::random(), id);
        assert_eq!(SessionId::parse("zz"), None);
        assert_eq!(SessionId::parse(&"g".repeat(32)), None);
        assert_eq!(SessionId::parse(&format!("{text}0")), None);
        assert!(!format!("{id:?}").contains(&text[4..]), "{id:?}");
    }

    #[test]
    fn a_tagged_id_names_its_node_in_the_same_format() {
        // FNV-1a's published vectors: the tag is the same in every process.
        assert_eq!(node_tag(""), 0x811c_9dc5_u32.to_be_bytes());
        assert_eq!(node_tag("a"), 0xe40c_292c_u32.to_be_bytes());
        assert_eq!(node_tag("foobar"), 0xbf9c_f968_u32.to_be_bytes());
        let tag = node_tag("node-7");
        let id = SessionId::tagged(tag);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(SessionId::parse(&text), Some(id));
        assert_eq!(id.tag(), tag);
        assert_eq!(SessionId::parse(&text).map(|id| id.tag()), Some(tag));
        let other = SessionId::tagged(tag);
        assert_ne!(other, id, "the rest is random");
        assert_eq!(other.tag(), tag);
    }
}
