//! One spectator connection of the swarm, sans-IO: bytes from the server go in
//! ([`Spectator::handle`]), what they amount to comes out as [`Received`] values, and the
//! answers a real spectator would write (pongs, one `Ack` for the newest snapshot, the echo of
//! a close) are appended to the caller's output buffer. No socket and no clock: the swarm's
//! tasks own those.
//!
//! Two kinds of server are read: a tickwire server ([`Mode::Tickwire`]: `Hello` first, every
//! snapshot's tick read from its header through the shared crate's decoder, so the swarm
//! follows protocol bumps) and the reference broadcasters ([`Mode::Raw`]: every binary
//! message is a frame whose first four bytes are its tick, little-endian, see
//! [`raw_payload`]).

use crate::frame::{Frame, FrameError, FrameReader, Opcode, Writer, write_close, write_frame};
use thiserror::Error;
use tickwire_shared::codec::{decode_control, encode_client};
use tickwire_shared::{
    ClientMessage, Hello, KickReason, MAX_CLIENT_MESSAGE_SIZE, Name, PROTOCOL_VERSION, ResumeToken,
    Role, RoomName, RoomRequest, ServerView, Tick,
};

/// What the server at the other end speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A tickwire server: join room `room` as a spectator and ack snapshots (or not, with
    /// `ack_every: 0`, which makes the server send full snapshots).
    Tickwire {
        /// The room every spectator of the swarm joins.
        room: RoomName,
        /// Acknowledge the newest snapshot after a read once it is this many ticks past the
        /// last ack (the first at once, as tickwire's clients ack their first, full snapshot):
        /// 1 acks after every read that brought one; tickwire's spectators ack every 30 ticks;
        /// 0 never acks.
        ack_every: u32,
    },
    /// A reference broadcaster: no hello, no acks; every binary message counts as a frame.
    Raw,
}

/// What one message or control frame from the server was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A frame of the broadcast: a tickwire snapshot, or a binary message of a reference
    /// server. `len` is its payload length (WebSocket header excluded).
    Frame {
        /// Its tick.
        tick: u32,
        /// Payload bytes.
        len: u64,
    },
    /// tickwire's `Welcome`: the spectator is in the room.
    Welcome,
    /// A tickwire event (joins, leaves, scores, chat ...) or any other message that is not
    /// a frame of the broadcast.
    Other {
        /// Payload bytes.
        len: u64,
    },
    /// tickwire's `Kick`, sent just before a close.
    Kick(KickReason),
    /// The server's ping (answered) or pong.
    Heartbeat,
    /// The server's close frame (answered with the same code).
    Close {
        /// Its status code, if it had one.
        code: Option<u16>,
    },
}

/// A stream the swarm cannot go on reading. Each is counted by its kind in the report.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpectatorError {
    /// The WebSocket framing is broken.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// A tickwire message that does not decode.
    #[error("undecodable {what} ({len} bytes)")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Its payload length.
        len: u64,
    },
    /// A reference server's binary message shorter than the four bytes of its tick.
    #[error("raw frame of {0} bytes has no tick")]
    NoTick(u64),
}

impl SpectatorError {
    /// A short label for the report's tally.
    pub fn label(&self) -> &'static str {
        match self {
            SpectatorError::Frame(_) => "bad-frame",
            SpectatorError::Decode { .. } => "undecodable",
            SpectatorError::NoTick(_) => "no-tick",
        }
    }
}

/// The payload a reference server broadcasts at `tick`: the tick in its first four bytes
/// (little-endian), zeros up to `len` (at least 4).
pub fn raw_payload(tick: u32, len: usize) -> Vec<u8> {
    let mut payload = vec![0; len.max(4)];
    payload[..4].copy_from_slice(&tick.to_le_bytes());
    payload
}

/// The client side of one connection after its upgrade.
#[derive(Debug, Clone)]
pub struct Spectator {
    mode: Mode,
    reader: FrameReader,
    /// State of the masking-key generator (xorshift32): clients must mask every frame
    /// (RFC 6455 section 5.3); predictability does not matter against our own server.
    mask_state: u32,
    /// The newest snapshot read since the last ack was written.
    ack_pending: Option<u32>,
    /// The tick of the last ack written.
    last_acked: Option<u32>,
    /// The server's close frame was read (and answered): nothing more will come.
    closed: bool,
}

impl Spectator {
    /// A spectator speaking to a server of `mode`; `seed` varies the masking keys.
    pub fn new(mode: Mode, seed: u32) -> Spectator {
        Spectator {
            mode,
            reader: FrameReader::new(Writer::Server),
            mask_state: seed | 1,
            ack_pending: None,
            last_acked: None,
            closed: false,
        }
    }

    /// True once the server's close frame was read.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        x.to_le_bytes()
    }

    fn send(&mut self, out: &mut Vec<u8>, message: &ClientMessage) {
        let mut buf = [0u8; MAX_CLIENT_MESSAGE_SIZE];
        // Every client message fits MAX_CLIENT_MESSAGE_SIZE (bounded strings).
        let len = encode_client(message, &mut buf).unwrap_or(0);
        let mask = self.mask();
        write_frame(out, Opcode::Binary, &buf[..len], Some(mask));
    }

    /// Appends what the connection sends first: tickwire's `Hello` as spectator `name`
    /// (nothing for a reference server).
    pub fn start(&mut self, name: &str, out: &mut Vec<u8>) {
        let Mode::Tickwire { room, .. } = &self.mode else { return };
        let hello = Hello {
            version: PROTOCOL_VERSION,
            role: Role::Spectator,
            name: Name::truncated(name),
            room: RoomRequest::Named(*room),
            resume: None::<ResumeToken>,
        };
        self.send(out, &ClientMessage::Hello(hello));
    }

    /// Reads `input` (bytes as they came off the socket), reports each message or control
    /// frame to `on`, and appends the answers to `out`: a pong per ping, the close echo, and
    /// after the whole input one `Ack` of the newest snapshot (tickwire, when acking).
    pub fn handle(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        mut on: impl FnMut(Received),
    ) -> Result<(), SpectatorError> {
        let result = loop {
            let received = match self.reader.next(&mut input) {
                Ok(None) => break Ok(()),
                Err(e) => break Err(SpectatorError::Frame(e)),
                Ok(Some(frame)) => match frame {
                    Frame::Message { opcode: _, len, prefix } => {
                        match classify(&self.mode, len, prefix) {
                            Ok(received) => received,
                            Err(e) => break Err(e),
                        }
                    }
                    Frame::Ping(payload) => {
                        let mut echo = [0u8; 125];
                        echo[..payload.len()].copy_from_slice(payload);
                        let len = payload.len();
                        let mask = self.mask();
                        write_frame(out, Opcode::Pong, &echo[..len], Some(mask));
                        Received::Heartbeat
                    }
                    Frame::Pong(_) => Received::Heartbeat,
                    Frame::Close { code, .. } => {
                        if !self.closed {
                            let mask = self.mask();
                            write_close(out, code.unwrap_or(1000), "", Some(mask));
                        }
                        self.closed = true;
                        Received::Close { code }
                    }
                },
            };
            if let Received::Frame { tick, .. } = received
                && matches!(self.mode, Mode::Tickwire { ack_every: 1.., .. })
            {
                self.ack_pending = self.ack_pending.max(Some(tick));
            }
            on(received);
        };
        let ack_every = match self.mode {
            Mode::Tickwire { ack_every, .. } => ack_every,
            Mode::Raw => 0,
        };
        if let Some(tick) = self.ack_pending
            && self.last_acked.is_none_or(|last| tick.saturating_sub(last) >= ack_every.max(1))
            && !self.closed
        {
            self.ack_pending = None;
            self.last_acked = Some(tick);
            self.send(out, &ClientMessage::Ack(tickwire_shared::Ack { tick: Tick(tick) }));
        }
        result
    }

    /// Appends the client's close frame (1000, normal closure).
    pub fn close(&mut self, out: &mut Vec<u8>) {
        let mask = self.mask();
        write_close(out, 1000, "bench done", Some(mask));
    }
}

/// What a whole message is, from its length and first bytes.
fn classify(mode: &Mode, len: u64, prefix: &[u8]) -> Result<Received, SpectatorError> {
    if *mode == Mode::Raw {
        let tick = prefix.get(..4).ok_or(SpectatorError::NoTick(len))?;
        let tick = u32::from_le_bytes([tick[0], tick[1], tick[2], tick[3]]);
        return Ok(Received::Frame { tick, len });
    }
    let whole = len == prefix.len() as u64;
    // A snapshot's header is a few bytes and always within the prefix; other messages are
    // decoded only when whole (an event with a long chat line is counted unread).
    match decode_control(prefix) {
        Ok(ServerView::Snapshot(header)) => Ok(Received::Frame { tick: header.tick.0, len }),
        Ok(ServerView::Welcome(_)) => Ok(Received::Welcome),
        Ok(ServerView::Kick(kick)) => Ok(Received::Kick(kick.reason)),
        Ok(_) => Ok(Received::Other { len }),
        Err(_) if !whole => Ok(Received::Other { len }),
        Err(_) => Err(SpectatorError::Decode { what: "server message", len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::codec::{decode_client, encode_server};
    use tickwire_shared::{
        Event, EventKind, InputSeq, Kick, KickText, PlayerId, RoundPhase, RoundState,
        ServerMessage, Snapshot, SnapshotHeader,
    };

    fn room() -> RoomName {
        RoomName::truncated("bench")
    }

    fn tickwire(ack: bool) -> Spectator {
        Spectator::new(Mode::Tickwire { room: room(), ack_every: u32::from(ack) }, 7)
    }

    fn server_frame(message: &ServerMessage) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Binary, &encode_server(message).unwrap(), None);
        out
    }

    fn snapshot(tick: u32, body_len: usize) -> ServerMessage {
        ServerMessage::Snapshot(Snapshot {
            header: SnapshotHeader {
                tick: Tick(tick),
                baseline: None,
                reference: None,
                last_input: InputSeq(0),
                round: Some(RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 90 }),
            },
            body: vec![0x55; body_len],
        })
    }

    /// The client messages in `bytes`, unmasked and decoded.
    fn client_messages(bytes: &[u8]) -> Vec<ClientMessage> {
        let mut reader = FrameReader::new(Writer::Client);
        let mut input = bytes;
        let mut messages = Vec::new();
        while let Some(frame) = reader.next(&mut input).unwrap() {
            if let Frame::Message { prefix, .. } = frame {
                messages.push(decode_client(prefix).unwrap());
            }
        }
        messages
    }

    #[test]
    fn hello_is_a_spectator_of_the_room_at_this_protocol_version() {
        let mut out = Vec::new();
        tickwire(true).start("swarm-1", &mut out);
        let [ClientMessage::Hello(hello)] = client_messages(&out)[..] else { panic!("{out:?}") };
        assert_eq!(hello.version, PROTOCOL_VERSION);
        assert_eq!(hello.role, Role::Spectator);
        assert_eq!(hello.room, RoomRequest::Named(room()));
        assert_eq!(hello.name.as_str(), "swarm-1");

        let mut raw = Spectator::new(Mode::Raw, 1);
        out.clear();
        raw.start("swarm-1", &mut out);
        assert!(out.is_empty(), "a reference server gets no hello");
    }

    #[test]
    fn acking_every_third_tick_acks_the_first_at_once_then_the_newest_three_ticks_on() {
        let mut spectator = Spectator::new(Mode::Tickwire { room: room(), ack_every: 3 }, 7);
        let mut out = Vec::new();
        let mut read = |tick: u32, out: &mut Vec<u8>| {
            out.clear();
            spectator.handle(&server_frame(&snapshot(tick, 20)), out, |_| {}).unwrap();
            client_messages(out)
        };
        let ack = |tick: u32| [ClientMessage::Ack(tickwire_shared::Ack { tick: Tick(tick) })];
        assert_eq!(read(10, &mut out), ack(10), "the first at once");
        assert_eq!(read(11, &mut out), []);
        assert_eq!(read(12, &mut out), []);
        assert_eq!(read(13, &mut out), ack(13));
        assert_eq!(read(14, &mut out), [], "counted from the last ack");
        // Tick 15 skipped: 16 is three ticks on, the second snapshot since the ack.
        assert_eq!(read(16, &mut out), ack(16));
    }

    #[test]
    fn snapshots_are_frames_and_only_the_newest_is_acked_once_per_read() {
        let mut input = server_frame(&snapshot(41, 200));
        input.extend(server_frame(&snapshot(42, 10)));
        input.extend(server_frame(&ServerMessage::Event(Event {
            tick: Tick(42),
            kind: EventKind::Left { player: PlayerId(3) },
        })));
        let mut spectator = tickwire(true);
        let mut seen = Vec::new();
        let mut out = Vec::new();
        spectator.handle(&input, &mut out, |r| seen.push(r)).unwrap();
        assert!(matches!(seen[0], Received::Frame { tick: 41, len } if len > 200));
        assert!(matches!(seen[1], Received::Frame { tick: 42, .. }));
        assert!(matches!(seen[2], Received::Other { .. }));
        assert_eq!(
            client_messages(&out),
            [ClientMessage::Ack(tickwire_shared::Ack { tick: Tick(42) })]
        );

        // Split anywhere, the same frames come out; the ack follows the read that completed
        // the snapshot.
        let mut spectator = tickwire(true);
        let (mut count, mut out) = (0, Vec::new());
        let whole = server_frame(&snapshot(43, 300));
        spectator.handle(&whole[..100], &mut out, |_| count += 1).unwrap();
        assert_eq!((count, out.len()), (0, 0));
        spectator.handle(&whole[100..], &mut out, |_| count += 1).unwrap();
        assert_eq!(count, 1);
        assert_eq!(
            client_messages(&out),
            [ClientMessage::Ack(tickwire_shared::Ack { tick: Tick(43) })]
        );

        // Not acking: frames are still counted, nothing is written.
        let mut quiet = tickwire(false);
        out.clear();
        quiet.handle(&input, &mut out, |_| {}).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn pings_are_answered_and_a_close_is_echoed_once() {
        let mut spectator = tickwire(true);
        let mut input = Vec::new();
        write_frame(&mut input, Opcode::Ping, b"hb", None);
        input.extend(server_frame(&ServerMessage::Kick(Kick {
            reason: KickReason::TooSlow,
            message: KickText::truncated("client is not reading its messages"),
        })));
        write_close(&mut input, 1008, "client is not reading its messages", None);
        let (mut seen, mut out) = (Vec::new(), Vec::new());
        spectator.handle(&input, &mut out, |r| seen.push(r)).unwrap();
        assert_eq!(
            seen,
            [
                Received::Heartbeat,
                Received::Kick(KickReason::TooSlow),
                Received::Close { code: Some(1008) }
            ]
        );
        assert!(spectator.is_closed());
        let mut reader = FrameReader::new(Writer::Client);
        let mut bytes = &out[..];
        assert_eq!(reader.next(&mut bytes).unwrap(), Some(Frame::Pong(b"hb")));
        assert_eq!(
            reader.next(&mut bytes).unwrap(),
            Some(Frame::Close { code: Some(1008), reason: b"" })
        );
        assert_eq!(reader.next(&mut bytes).unwrap(), None);
    }

    #[test]
    fn raw_frames_carry_their_tick() {
        let mut input = Vec::new();
        write_frame(&mut input, Opcode::Binary, &raw_payload(9, 230), None);
        write_frame(&mut input, Opcode::Binary, &[1, 2], None);
        let mut raw = Spectator::new(Mode::Raw, 3);
        let (mut seen, mut out) = (Vec::new(), Vec::new());
        let result = raw.handle(&input, &mut out, |r| seen.push(r));
        assert_eq!(seen, [Received::Frame { tick: 9, len: 230 }]);
        assert_eq!(result, Err(SpectatorError::NoTick(2)));
        assert!(out.is_empty(), "a reference server gets no acks");
    }

    #[test]
    fn garbage_from_a_tickwire_server_is_an_error_not_a_frame() {
        let mut input = Vec::new();
        write_frame(&mut input, Opcode::Binary, &[0xFF, 0xFF], None);
        let mut spectator = tickwire(true);
        let result = spectator.handle(&input, &mut Vec::new(), |_| {});
        assert_eq!(result, Err(SpectatorError::Decode { what: "server message", len: 2 }));
        assert_eq!(
            spectator.handle(&[0x83, 0x00], &mut Vec::new(), |_| {}),
            Err(SpectatorError::Frame(FrameError::ReservedOpcode(3)))
        );
    }
}
