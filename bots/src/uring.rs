//! `--io-uring` (Linux): every bot's [`Session`] driven by one thread that reads all the
//! sockets through one io_uring ([`crate::ring`]), instead of a tokio task and a
//! tokio-tungstenite stream per bot.
//!
//! Why: a load test's size is what one core of bots can read. Measured against the same
//! server, a tokio client pays for a task wake-up, an `epoll_wait` share and a `recvfrom` per
//! snapshot; here one `io_uring_enter` runs the receives of every socket that has data
//! (BENCHMARKS.md, "Bots on io_uring").
//!
//! The bots are the same: the same [`Session`] (joins, acks, decodes and applies every
//! snapshot), the same [`Bot`] bookkeeping and checks, the same report. Only the IO differs:
//! - tokio still opens each connection as the ramp starts it ([`tickwire_client::upgrade`]:
//!   TCP, the upgrade, refusals by status), then hands the socket to the ring thread
//!   ([`Connected`]);
//! - the ring thread frames with tungstenite's sans-IO [`WebSocketContext`] over the bytes
//!   each receive brought, sends with one non-blocking `send` per flush, and runs the
//!   sessions' timers in a sweep every [`SWEEP`];
//! - at the stop every joined bot leaves with a close frame and waits for the answer, as the
//!   tokio bots do.

use crate::bot::{Bot, Link, Shared, client_config, identity};
use crate::ring::{RingEvent, RingReader};
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickwire_client::{
    CloseAction, Controls, Disconnect, Event, LinkError, Session, Stats, Upgraded,
};
use tickwire_shared::delta::World;
use tickwire_shared::{InputSeq, MAX_SERVER_MESSAGE_SIZE};
use tokio_tungstenite::tungstenite::protocol::{
    CloseFrame, Role, WebSocketConfig, WebSocketContext,
};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Buffers the kernel receives into, shared by every socket: one per bot, from 256 to 4,096
/// of 1 KiB (4 MiB), far more than the receives of one poll; a receive that finds none is
/// armed again at the next. A snapshot larger than a buffer arrives in several.
fn buffers(bots: u32) -> u16 {
    bots.next_power_of_two().clamp(256, 4096) as u16
}
const BUFFER_LEN: usize = 1024;
/// A poll returns once this many receives completed, or [`BATCH_WAIT`] after the first:
/// one wake-up per batch rather than per snapshot.
const WAKE_AFTER: usize = 64;
/// The longest a received frame waits for others before the ring thread reads it: the most
/// this engine adds to the arrival times and round trips the bots measure.
const BATCH_WAIT: Duration = Duration::from_micros(250);
/// The longest a poll waits when nothing arrives (the stop and new bots are seen then).
const POLL_WAIT: Duration = Duration::from_millis(5);
/// How often the sessions' timers (pings, silence, join and close timeouts) are checked.
const SWEEP: Duration = Duration::from_millis(25);
/// Unsent bytes a socket may hold before the session's messages are left with the session.
/// Bytes a flush leaves mean the kernel's buffer is full: framing more would queue every ack
/// and input without limit, where the session merges what waits (the newest ack and input
/// win), as it does for the tokio engine when its socket is not ready. The slack keeps a
/// socket one write behind framing.
const OUT_HIGH_WATER: usize = 1024;

/// A connection the ramp opened (or failed to), for the ring thread.
pub(crate) struct Connected {
    index: u32,
    /// When the bot started (its connect time counts from here).
    started: Instant,
    result: Result<Handover, Disconnect>,
}

/// An upgraded socket on its way to the ring thread.
struct Handover {
    stream: TcpStream,
    /// What the upgrade read past its head.
    early: Vec<u8>,
    /// Bytes the upgrade read and wrote.
    wire: (u64, u64),
}

/// Opens bot `index`'s connection and hands it to the ring thread.
pub(crate) async fn connect(shared: Arc<Shared>, index: u32, to_ring: Sender<Connected>) {
    let started = Instant::now();
    let args = &shared.args;
    let local_ip = args.source_ips.as_ref().and_then(|ips| ips.for_bot(index));
    let connect_timeout = client_config(args).connect_timeout;
    let result =
        match tokio::time::timeout(connect_timeout, tickwire_client::upgrade(&args.url, local_ip))
            .await
        {
            Ok(Ok(Upgraded { stream, early, wire_bytes })) => stream
                .into_std()
                .map(|stream| Handover { stream, early, wire: wire_bytes })
                .map_err(|e| Disconnect::Lost(LinkError::Io(e.kind()))),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(Disconnect::ConnectTimeout),
        };
    // The ring thread outlives every connect (it ends after the ramp's sender is gone).
    let _ = to_ring.send(Connected { index, started, result });
}

/// The ring thread: started before the ramp, ended after the leave.
pub(crate) struct Engine {
    thread: JoinHandle<()>,
    /// Set when the leave patience ran out: the thread stops waiting for answers.
    abort: Arc<AtomicBool>,
}

impl Engine {
    /// Sets up the ring (failing as the kernel does, e.g. where seccomp forbids io_uring)
    /// and starts the thread; the returned sender takes each bot's [`Connected`], and
    /// dropping every clone of it tells the thread the ramp is over.
    pub(crate) fn start(shared: Arc<Shared>) -> io::Result<(Engine, Sender<Connected>)> {
        let (to_ring, from_ramp) = std::sync::mpsc::channel();
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        let abort = Arc::new(AtomicBool::new(false));
        let thread_abort = abort.clone();
        let thread =
            std::thread::Builder::new().name("tickwire-bots-ring".into()).spawn(move || {
                // The ring belongs to the thread that set it up (single issuer).
                let bots = shared.args.bots;
                match RingReader::new(bots as usize, buffers(bots), BUFFER_LEN) {
                    Ok(reader) => {
                        let _ = ready_tx.send(Ok(()));
                        RingThread::new(shared, reader, from_ramp, thread_abort).run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        match ready.recv() {
            Ok(Ok(())) => Ok((Engine { thread, abort }, to_ring)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the ring thread ended while starting")),
        }
    }

    /// Waits for every bot to have left, at most `patience`; then stops the thread. Returns
    /// what the thread's panic said, if it panicked: every bot it drove went with it.
    pub(crate) async fn finish(self, patience: Duration) -> Option<String> {
        let Engine { thread, abort } = self;
        let joined = tokio::task::spawn_blocking(move || thread.join());
        tokio::pin!(joined);
        let ended = match tokio::time::timeout(patience, &mut joined).await {
            Ok(ended) => ended,
            Err(_) => {
                abort.store(true, Ordering::Relaxed);
                joined.await
            }
        };
        match ended {
            Ok(Ok(())) => None,
            Ok(Err(payload)) => Some(crate::run::panic_message(payload)),
            // The blocking task itself cannot panic (join does not); only a runtime
            // shutting down cancels it, and then nobody reads the report.
            Err(e) => Some(format!("its join failed: {e}")),
        }
    }
}

/// Bytes in from one receive, bytes out to one buffer: the stream tungstenite frames over.
struct MemoryIo<'i, 'o> {
    input: &'i [u8],
    output: &'o mut Vec<u8>,
}

impl Read for MemoryIo<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = self.input.len().min(buf.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for MemoryIo<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One bot's open connection.
struct Socket {
    stream: TcpStream,
    ws: WebSocketContext,
    /// Framed bytes the socket has not taken yet.
    out: Vec<u8>,
    /// Bytes read and written, the upgrade's included.
    wire: (u64, u64),
    /// Closing: our close frame is out or the server's answered; the TCP end is awaited
    /// until then.
    closing_until: Option<Instant>,
}

/// One bot of the ring thread.
struct RingBot {
    session: Session,
    bot: Bot,
    socket: Option<Socket>,
    /// Bytes of connections already closed.
    wire_closed: (u64, u64),
    /// Set at the stop for a bot that was joined then: its end is how its leave ended.
    leaving: bool,
    finished: bool,
}

/// What [`Bot`] sees of a ring bot.
struct RingLink<'a> {
    session: &'a mut Session,
    wire: (u64, u64),
}

impl Link for RingLink<'_> {
    fn world(&self) -> Option<&World> {
        self.session.world()
    }

    fn send_input(&mut self, controls: Controls) -> Option<InputSeq> {
        self.session.send_input(controls).ok()
    }

    fn wire_bytes(&self) -> (u64, u64) {
        self.wire
    }
}

impl RingBot {
    fn wire(&self) -> (u64, u64) {
        let open = self.socket.as_ref().map_or((0, 0), |s| s.wire);
        (self.wire_closed.0 + open.0, self.wire_closed.1 + open.1)
    }

    /// Feeds what a receive brought (or, with `input` empty, what the upgrade read past its
    /// head) through the framing into the session, and hands the bot each message's events
    /// before the next message is read, as [`tickwire_client::Client`] does: a receive can
    /// bring dozens of messages (a busy room's first ones), and the session's event queue
    /// keeps the capacity it once grew to.
    fn on_bytes(&mut self, now: Instant, mut input: &[u8]) {
        if let Some(socket) = self.socket.as_mut() {
            socket.wire.0 += input.len() as u64;
        }
        while !self.finished {
            let Some(socket) = self.socket.as_mut() else { return };
            let mut io = MemoryIo { input, output: &mut socket.out };
            let read = socket.ws.read(&mut io);
            input = io.input;
            match read {
                Ok(Message::Binary(bytes)) => self.session.handle_message(now, &bytes),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = match &frame {
                        Some(f) => (Some(u16::from(f.code)), f.reason.as_str()),
                        None => (None, ""),
                    };
                    self.session.handle_close_frame(now, code, reason);
                }
                Ok(Message::Text(_)) => {
                    let error = LinkError::WebSocket("the server sent a text message".into());
                    self.session.handle_lost(now, error);
                    return;
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {
                    self.session.handle_heard(now);
                }
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => return,
                // The close handshake is complete: the TCP end comes next.
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return,
                Err(e) => {
                    self.session.handle_lost(now, LinkError::WebSocket(e.to_string()));
                    return;
                }
            }
            while let Some(event) = self.session.poll_event() {
                self.on_event(event);
            }
            // What the events asked for (a player's input) goes before the next message is
            // read, in the same send.
            self.frame_transmits(now);
        }
    }

    /// The socket ended (end of stream, error, or our own abort).
    fn on_lost(&mut self, now: Instant, reader: &mut RingReader, token: usize, error: LinkError) {
        self.drop_socket(reader, token);
        self.session.handle_lost(now, error);
        // The session asks for an abort, which is what happened.
        let _ = self.session.poll_close();
    }

    fn drop_socket(&mut self, reader: &mut RingReader, token: usize) {
        if let Some(socket) = self.socket.take() {
            reader.remove(token);
            self.wire_closed.0 += socket.wire.0;
            self.wire_closed.1 += socket.wire.1;
        }
    }

    /// Does what the session asks: its close actions, its events (the bot's bookkeeping),
    /// its messages (framed and sent).
    fn drive(&mut self, now: Instant, reader: &mut RingReader, token: usize) {
        if self.finished {
            self.drop_socket(reader, token);
            return;
        }
        for _ in 0..4 {
            self.apply_close(now, reader, token);
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                self.on_event(event);
                if self.finished {
                    self.drop_socket(reader, token);
                    return;
                }
            }
            // Over the high water, flushed first as well: what the socket takes now makes room
            // for what the session has waiting (under it, framing goes ahead anyway).
            let backed_up = self.socket.as_ref().is_some_and(|s| s.out.len() > OUT_HIGH_WATER);
            let mut flushed = if backed_up { self.flush() } else { Ok(()) };
            if flushed.is_ok() {
                progressed |= self.frame_transmits(now);
                flushed = self.flush();
            }
            if let Err(error) = flushed {
                self.on_lost(now, reader, token, error);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    /// Frames what the session has to send into the socket's buffer (sent by
    /// [`Self::flush`]), unless that holds more than [`OUT_HIGH_WATER`] unsent; true when
    /// framing failed and the session was told.
    fn frame_transmits(&mut self, now: Instant) -> bool {
        // Checked once: tungstenite holds what is framed here until the flush.
        let Some(socket) = self
            .socket
            .as_mut()
            .filter(|s| s.closing_until.is_none() && s.out.len() <= OUT_HIGH_WATER)
        else {
            return false;
        };
        let mut io = MemoryIo { input: &[], output: &mut socket.out };
        while let Some(message) = self.session.poll_transmit(now) {
            if let Err(e) = socket.ws.write(&mut io, Message::Binary(message.into())) {
                self.session.handle_lost(now, LinkError::WebSocket(e.to_string()));
                return true;
            }
        }
        false
    }

    /// Frames what tungstenite holds (pongs, close answers) and writes everything the socket
    /// takes without blocking; the rest waits for the next drive or sweep.
    fn flush(&mut self) -> Result<(), LinkError> {
        let Some(socket) = self.socket.as_mut() else { return Ok(()) };
        let mut io = MemoryIo { input: &[], output: &mut socket.out };
        match socket.ws.flush(&mut io) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {}
            Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(LinkError::WebSocket(e.to_string())),
        }
        while !socket.out.is_empty() {
            match (&socket.stream).write(&socket.out) {
                Ok(n) => {
                    socket.wire.1 += n as u64;
                    socket.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Io(e.kind())),
            }
        }
        Ok(())
    }

    /// As [`tickwire_client::Client`] ends a connection when the session asks.
    fn apply_close(&mut self, now: Instant, reader: &mut RingReader, token: usize) {
        let Some(action) = self.session.poll_close() else { return };
        let close_timeout = self.session.config().close_timeout;
        match (self.socket.as_mut(), action) {
            (Some(socket), CloseAction::Close { code, reason })
                if socket.closing_until.is_none() =>
            {
                let frame = CloseFrame { code: code.into(), reason: reason.into() };
                let mut io = MemoryIo { input: &[], output: &mut socket.out };
                // A failed write shows as a failed flush or the TCP end.
                let _ = socket.ws.write(&mut io, Message::Close(Some(frame)));
                socket.closing_until = Some(now + close_timeout);
            }
            (Some(socket), CloseAction::Finish | CloseAction::Close { .. }) => {
                socket.closing_until = Some(now + close_timeout);
            }
            (Some(_), CloseAction::Abort) => self.drop_socket(reader, token),
            (None, _) => {}
        }
    }

    fn on_event(&mut self, event: Event) {
        let wire = self.wire();
        let ended = match &event {
            Event::Ended(end) => Some(*end),
            _ => None,
        };
        let mut link = RingLink { session: &mut self.session, wire };
        let alive = self.bot.on_event(Instant::now(), event, &mut link);
        if alive {
            return;
        }
        if self.leaving
            && let Some(end) = ended
        {
            self.bot.record_leave(end);
        }
        self.finish();
    }

    /// The stop: records the bot's window (before a joined bot leaves, so that a leave the
    /// run stops waiting for does not take it along).
    fn close_window(&mut self) {
        let stats: Stats = *self.session.stats();
        let wire = self.wire();
        let link = RingLink { session: &mut self.session, wire };
        self.bot.close_window(Instant::now(), stats, &link);
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let stats: Stats = *self.session.stats();
        let wire = self.wire();
        let link = RingLink { session: &mut self.session, wire };
        self.bot.record_end(stats, &link);
    }
}

/// The ring thread's state.
struct RingThread {
    shared: Arc<Shared>,
    reader: RingReader,
    from_ramp: Receiver<Connected>,
    abort: Arc<AtomicBool>,
    /// By bot index (the ring's token).
    bots: Vec<Option<RingBot>>,
    /// Bots added and not finished.
    live: usize,
    ramp_over: bool,
    leaving: bool,
}

impl RingThread {
    fn new(
        shared: Arc<Shared>,
        reader: RingReader,
        from_ramp: Receiver<Connected>,
        abort: Arc<AtomicBool>,
    ) -> RingThread {
        let count = shared.args.bots as usize;
        RingThread {
            shared,
            reader,
            from_ramp,
            abort,
            bots: (0..count).map(|_| None).collect(),
            live: 0,
            ramp_over: false,
            leaving: false,
        }
    }

    fn run(mut self) {
        let mut touched: Vec<usize> = Vec::new();
        let mut next_sweep = Instant::now() + SWEEP;
        loop {
            self.take_connections();
            if self.shared.stop.is_cancelled() && !self.leaving {
                self.leave_all();
            }
            if self.abort.load(Ordering::Relaxed)
                || (self.leaving && self.ramp_over && self.live == 0)
            {
                break;
            }
            let bots = &mut self.bots;
            let want = self.live.clamp(1, WAKE_AFTER);
            let polled = self.reader.poll(want, BATCH_WAIT, POLL_WAIT, |token, event| {
                let Some(bot) = bots.get_mut(token).and_then(Option::as_mut) else { return };
                let now = Instant::now();
                match event {
                    RingEvent::Data(bytes) => bot.on_bytes(now, bytes),
                    RingEvent::Eof => bot.session.handle_lost(now, LinkError::Eof),
                    RingEvent::Error(kind) => bot.session.handle_lost(now, LinkError::Io(kind)),
                }
                touched.push(token);
            });
            if polled.is_err() {
                // The ring failed: nothing can be read any more. Every bot drops.
                let now = Instant::now();
                for token in 0..self.bots.len() {
                    self.lose(token, now);
                }
                break;
            }
            let now = Instant::now();
            touched.sort_unstable();
            touched.dedup();
            for token in touched.drain(..) {
                self.drive(token, now);
            }
            if now >= next_sweep {
                next_sweep = now + SWEEP;
                self.sweep(now);
            }
        }
        let _ = self.reader.cancel_all();
    }

    /// Adds the bots whose connection the ramp opened (or failed to open).
    fn take_connections(&mut self) {
        loop {
            let connected = match self.from_ramp.try_recv() {
                Ok(connected) => connected,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.ramp_over = true;
                    return;
                }
            };
            let Connected { index, started, result } = connected;
            let token = index as usize;
            let args = &self.shared.args;
            let seed = args.seed.wrapping_add(u64::from(index));
            let mut session =
                Session::new(client_config(args), identity(args, index), started, seed);
            let _ = session.poll_connect(started);
            let mut bot = RingBot {
                session,
                bot: Bot::new(self.shared.clone(), started, seed),
                socket: None,
                wire_closed: (0, 0),
                leaving: false,
                finished: false,
            };
            let now = Instant::now();
            match result {
                Ok(Handover { stream, early, wire }) => {
                    let config = WebSocketConfig::default()
                        // What one receive brings at most: tungstenite zeroes this much
                        // before each read.
                        .read_buffer_size(BUFFER_LEN)
                        .max_message_size(Some(MAX_SERVER_MESSAGE_SIZE))
                        .max_frame_size(Some(MAX_SERVER_MESSAGE_SIZE));
                    let fd = stream.as_raw_fd();
                    bot.socket = Some(Socket {
                        stream,
                        ws: WebSocketContext::from_partially_read(
                            early,
                            Role::Client,
                            Some(config),
                        ),
                        out: Vec::new(),
                        wire,
                        closing_until: None,
                    });
                    self.reader.add(token, fd);
                    bot.session.handle_connected(now);
                    bot.on_bytes(now, &[]);
                }
                Err(reason) => bot.session.handle_connect_failed(now, reason),
            }
            if token < self.bots.len() {
                self.live += 1;
                self.bots[token] = Some(bot);
                if self.leaving {
                    self.leave(token, now);
                }
                self.drive(token, now);
            }
        }
    }

    fn drive(&mut self, token: usize, now: Instant) {
        let Some(bot) = self.bots.get_mut(token).and_then(Option::as_mut) else { return };
        // A bot that finished while its bytes were read is removed here.
        bot.drive(now, &mut self.reader, token);
        if bot.socket.is_none() && !bot.finished && bot.session.state().is_ended() {
            // Ended without an `Ended` event left to read: finish it as it stands.
            bot.finish();
        }
        if bot.finished {
            self.live -= 1;
            self.bots[token] = None;
        }
    }

    /// Runs the timers that are due, ends closes that waited too long, and retries writes;
    /// bots with none of these are not touched.
    fn sweep(&mut self, now: Instant) {
        for token in 0..self.bots.len() {
            let Some(bot) = self.bots[token].as_mut() else { continue };
            let mut due = false;
            if bot.session.poll_timeout().is_some_and(|at| at <= now) {
                bot.session.handle_timeout(now);
                due = true;
            }
            if let Some(socket) = &bot.socket {
                due |= !socket.out.is_empty();
                if socket.closing_until.is_some_and(|at| at <= now) {
                    bot.on_lost(now, &mut self.reader, token, LinkError::Eof);
                    due = true;
                }
            }
            if due {
                self.drive(token, now);
            }
        }
    }

    /// The stop: joined bots leave with a close frame; the others are done.
    fn leave_all(&mut self) {
        self.leaving = true;
        let now = Instant::now();
        for token in 0..self.bots.len() {
            self.leave(token, now);
            self.drive(token, now);
        }
    }

    fn leave(&mut self, token: usize, now: Instant) {
        let Some(bot) = self.bots[token].as_mut() else { return };
        bot.close_window();
        if bot.bot.is_joined() {
            bot.leaving = true;
            bot.session.leave(now);
        } else {
            bot.drop_socket(&mut self.reader, token);
            bot.finish();
        }
    }

    /// The ring failed under this bot.
    fn lose(&mut self, token: usize, now: Instant) {
        let Some(bot) = self.bots[token].as_mut() else { return };
        bot.on_lost(now, &mut self.reader, token, LinkError::Io(ErrorKind::Other));
        self.drive(token, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tickwire_shared::codec::{decode_client, encode_server};
    use tickwire_shared::{
        ClientMessage, EntityId, EventKind, Name, PlayerId, ResumeToken, RoomName, ServerMessage,
        Tick, Welcome, WorldBounds,
    };

    /// A server frame (unmasked, short) around one message.
    fn frame(message: &ServerMessage) -> Vec<u8> {
        let payload = encode_server(message).unwrap();
        assert!(payload.len() < 126);
        let mut bytes = vec![0x82, payload.len() as u8];
        bytes.extend_from_slice(&payload);
        bytes
    }

    fn ring_bot(shared: &Arc<Shared>) -> (RingBot, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        let now = Instant::now();
        let args = &shared.args;
        let mut session = Session::new(client_config(args), identity(args, 0), now, 1);
        assert!(session.poll_connect(now));
        session.handle_connected(now);
        let bot = RingBot {
            session,
            bot: Bot::new(shared.clone(), now, 1),
            socket: Some(Socket {
                stream,
                ws: WebSocketContext::new(Role::Client, None),
                out: Vec::new(),
                wire: (0, 0),
                closing_until: None,
            }),
            wire_closed: (0, 0),
            leaving: false,
            finished: false,
        };
        (bot, server_side)
    }

    #[tokio::test]
    async fn a_ring_thread_that_panics_says_so_when_it_is_finished() {
        let thread = std::thread::spawn(|| panic!("the ring broke"));
        let engine = Engine { thread, abort: Arc::new(AtomicBool::new(false)) };
        let panic = engine.finish(Duration::from_secs(10)).await;
        assert_eq!(panic.as_deref(), Some("the ring broke"));
        let thread = std::thread::spawn(|| {});
        let engine = Engine { thread, abort: Arc::new(AtomicBool::new(false)) };
        assert_eq!(engine.finish(Duration::from_secs(10)).await, None);
    }

    #[test]
    fn a_socket_that_takes_nothing_leaves_the_sessions_messages_to_merge_in_it() {
        let args = crate::cli::Args::try_parse_from(["tickwire-bots", "--role", "player"]);
        let shared = Arc::new(Shared::new(args.unwrap()));
        let (mut bot, _server_side) = ring_bot(&shared);
        let welcome = crate::bot::tests::player_welcome();
        let now = Instant::now();
        bot.on_bytes(now, &frame(&ServerMessage::Welcome(welcome)));
        assert!(bot.bot.is_joined());
        // The kernel has taken nothing for a while: what was framed waits in the buffer.
        bot.socket.as_mut().unwrap().out = vec![0; OUT_HIGH_WATER + 1];
        for _ in 0..100 {
            bot.session.send_input(Controls::NEUTRAL).unwrap();
            assert!(!bot.frame_transmits(now));
        }
        let waiting: Vec<ClientMessage> = std::iter::from_fn(|| bot.session.poll_transmit(now))
            .map(|bytes| decode_client(&bytes).unwrap())
            .collect();
        let inputs: Vec<InputSeq> = waiting
            .iter()
            .filter_map(|m| match m {
                ClientMessage::Input(input) => Some(input.seq),
                _ => None,
            })
            .collect();
        assert_eq!(inputs, [InputSeq(100)], "the newest input alone, in the session: {waiting:?}");
    }

    #[test]
    fn a_receive_of_many_messages_hands_the_bot_each_messages_events_as_it_goes() {
        let args = crate::cli::Args::try_parse_from(["tickwire-bots", "--role", "spectator"]);
        let shared = Arc::new(Shared::new(args.unwrap()));
        let (mut bot, _server_side) = ring_bot(&shared);
        let welcome = Welcome {
            player_id: PlayerId(9),
            role: tickwire_shared::Role::Spectator,
            room: RoomName::truncated("busy"),
            tick_rate: 30,
            world: WorldBounds { width: 1600, height: 1000 },
            view_radius: 700,
            entity: None::<EntityId>,
            resume_token: ResumeToken([7; 16]),
            resumed: false,
        };
        // One receive: the Welcome and a busy room's roster, as a first read brings them.
        let mut input = frame(&ServerMessage::Welcome(welcome));
        for player in 0..40u16 {
            let kind = EventKind::Joined {
                player: PlayerId(player),
                name: Name::truncated("ship"),
                role: tickwire_shared::Role::Player,
                score: 3,
            };
            let event = tickwire_shared::Event { tick: Tick(1), kind };
            input.extend(frame(&ServerMessage::Event(event)));
        }
        bot.on_bytes(Instant::now(), &input);
        assert!(bot.bot.is_joined(), "the Welcome reached the bot");
        assert!(bot.session.poll_event().is_none(), "no event left queued in the session");
        assert_eq!(bot.socket.as_ref().unwrap().wire.0, input.len() as u64, "bytes counted");
        assert!(!bot.finished);
    }
}
