//! Per-client outbound state shared by the room (producer) and the connection's writer task.
//!
//! Everything here is whole WebSocket frames ([`crate::frame`]), often the very bytes other
//! clients get too. No queue can grow with a slow peer: snapshots go through a
//! **latest-frame-wins slot** (a newer frame replaces one the socket has not taken yet; the
//! client's deltas stay valid because each is against what it acked); reliable frames (the
//! welcome, each tick's events, pongs) go through a queue bounded by
//! [`CONTROL_QUEUE_CAP`] entries and [`CONTROL_QUEUE_BYTES`], and the frames tungstenite
//! writes on its own (pongs, the echo of a close) through a buffer of [`REPLY_BUFFER_CAP`].
//!
//! # Who is slow
//! A client is judged by its socket's **write progress**, not by how much the room has for
//! it: [`ClientLink::stalled_for`] is how long the client has been owed bytes while the writer
//! wrote none of them. A client that reads slowly keeps making progress and skips stale
//! snapshots; one that does not read at all stalls and is closed by the room after the
//! slow-client timeout. The queue's bounds are a backstop that a room delivering at most one
//! events frame per tick does not reach before that timeout.
//!
//! # Writing without the writer
//! When the link has a plain TCP socket ([`ClientLink::set_direct`]) and owes the client
//! nothing, [`ClientLink::offer`] writes the tick's frames to the socket itself, at once, and
//! the writer task is not woken at all: a crowd's tick becomes one write per client in a
//! tight loop, as in a plain broadcast loop, instead of a wake-up, a task switch and a write.
//! It does so under the link's lock and only while the writer holds nothing, so the two never
//! write at the same time. Whatever the socket does not take goes to the writer as usual; the
//! rest of a frame the socket took only part of goes out first of all ([`Batch::carry`]).
//!
//! Frames the writer was woken for but has not taken yet (a pong, a reliable frame, the frames
//! of a tick the room left to it) do not stop the room: it takes them back, up to
//! [`OWED_MAX`], and writes them first, in the writer's order, with the tick's own (a newer
//! snapshot replaces the pending one). On a core a crowd saturates, the writers run behind the
//! rooms and get little of it; a client whose frames waited for its writer used to wait for
//! every frame after them too, up to a second at 12,000 spectators, while its neighbours got
//! theirs every tick (BENCHMARKS.md, "12,000 spectators"). What the socket takes none of goes
//! back where it came from.
//!
//! With `--io-uring` the same writes go in two halves so that a room can hand a whole batch of
//! them to the kernel in one system call ([`crate::uring`]): [`ClientLink::offer_batched`]
//! takes the frames of an idle link as a [`DirectSend`] and marks the link **in flight**;
//! [`ClientLink::complete_direct`] settles it with what the socket took, exactly as `offer`
//! settles its own write (one dropped unsettled, by a panic in the room's tick, settles as a
//! write that took nothing). While a link is in flight its writer takes nothing, so the two
//! still never write at the same time.
//!
//! # What the client will hold
//! On a connection that delivers everything the socket takes, in order (a WebSocket the
//! client holds itself, [`ClientLink::set_in_order`]), a snapshot the socket took is one the
//! client will rebuild unless the connection dies, and a dead connection's client resumes
//! from a full snapshot. [`ClientLink::taken`] is the newest such tick: the room may encode
//! against it without waiting for the client's ack (PROTOCOL.md 6.1), so a crowd need not
//! ack every few snapshots for its deltas to stay small.

use crate::socket::SharedTcp;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tickwire_shared::{Kick, Tick};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Reliable frames a client may have waiting. The room queues at most one events frame per
/// tick (two in a newcomer's first: its roster too), so 1,024 is over 30 s of a 30 Hz room's
/// events: far past the slow-client timeout.
pub const CONTROL_QUEUE_CAP: usize = 1024;

/// Bytes of reliable frames a client may have waiting (mostly shared with other clients:
/// this bounds what one client can pin, not a copy per client).
pub const CONTROL_QUEUE_BYTES: usize = 1024 * 1024;

/// Bytes tungstenite may have written for the writer to send (a pong is at most 127 bytes,
/// and tungstenite keeps only the newest one pending): only a client that floods pings and
/// never reads fills it.
pub const REPLY_BUFFER_CAP: usize = 4 * 1024;

/// Most frames owed to a client (the rest of a cut frame, a buffer of pongs, reliable frames)
/// that the room takes back from an idle writer to write them itself, ahead of a tick's own:
/// a writer that has not run since they came (a crowd's writers wait behind the rooms on a
/// saturated core) would otherwise hold its client's every frame until it runs. More than this
/// and they stay the writer's: the client is behind, not only its writer.
pub const OWED_MAX: usize = 6;

/// Most frames of one direct write: what was owed, then the tick's events and snapshot.
pub const DIRECT_FRAMES_MAX: usize = OWED_MAX + 2;

/// How the server ends a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    /// WebSocket close code.
    pub code: u16,
    /// Close reason text (at most 123 bytes on the wire; longer is cut).
    pub reason: String,
    /// A `Kick` to send before the close frame, when the protocol has one for this reason.
    pub kick: Option<Kick>,
}

/// What the writer should send next, in this order: `carry`, `replies`, `control`,
/// `snapshot`, then a close. The writer keeps one `Batch` and refills it with [`ClientLink::take_batch_into`],
/// so taking frames allocates nothing once its vector has grown.
#[derive(Debug, Default)]
pub struct Batch {
    /// The rest of frames a direct write put only partly on the socket: nothing may come
    /// between their parts.
    pub carry: Vec<Bytes>,
    /// Frames tungstenite wrote on its own: pongs, the echo of the client's close.
    pub replies: Option<Bytes>,
    /// Reliable frames, in order.
    pub control: Vec<Bytes>,
    /// The newest snapshot, if one is waiting.
    pub snapshot: Option<Bytes>,
    /// Close after sending the above.
    pub close: Option<CloseRequest>,
    /// The client closed first: send nothing but `replies` (the echo of its close is among
    /// them once the reader side has read on).
    pub client_closed: bool,
    /// The reader side is done with the socket: after a client's close, the writer stops once
    /// the replies are out.
    pub reader_done: bool,
    /// `close` is the one sent after the client went away without a closing handshake
    /// ([`ClientLink::close_after_loss`]): not a close of the server's own.
    pub after_loss: bool,
}

impl Batch {
    /// True when there is nothing to send and nothing to act on. After a client's close the
    /// writer waits for replies or for the reader to finish, so a batch with neither is empty:
    /// were it not, the writer would take empty batches in a loop that never yields, and on a
    /// one-worker runtime the reader it waits for would never run.
    pub fn is_empty(&self) -> bool {
        self.carry.is_empty()
            && self.replies.is_none()
            && self.control.is_empty()
            && self.snapshot.is_none()
            && self.close.is_none()
            && !(self.client_closed && self.reader_done)
    }

    /// The frames to write, in order.
    pub fn frames(&self) -> impl Iterator<Item = &Bytes> {
        self.carry.iter().chain(&self.replies).chain(&self.control).chain(&self.snapshot)
    }

    fn clear(&mut self) {
        self.carry.clear();
        self.replies = None;
        self.control.clear();
        self.snapshot = None;
        self.close = None;
        self.client_closed = false;
        self.reader_done = false;
        self.after_loss = false;
    }
}

/// What happened to a tick's frames offered with [`ClientLink::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offered {
    /// The snapshot replaced one the writer had not taken (a skipped frame).
    pub skipped: bool,
    /// How long the client has been owed bytes without the writer making progress.
    pub stalled_for: Duration,
    /// The reliable queue is full: the client has not read for a long time.
    pub overflow: bool,
    /// Bytes written to the socket directly (0: the writer task got the frames).
    pub wrote: usize,
    /// Frames written to the socket whole directly.
    pub frames_written: u64,
}

// `repr(C)`: the fields stay in this order, those a room's offer reads for every client every
// tick first, so they share as few cache lines as they can (see `ClientLink`).
#[derive(Debug, Default)]
#[repr(C)]
struct Slots {
    /// The writer holds frames it has not finished writing.
    writing: bool,
    /// A [`DirectSend`] of this link's frames is out and not yet completed: the writer must
    /// not write ahead of it or into the middle of it.
    in_flight: bool,
    client_closed: bool,
    reader_done: bool,
    /// What the socket takes is delivered in order (see [`ClientLink::set_in_order`]).
    in_order: bool,
    /// Since when the client has been owed bytes without progress: set when frames arrive
    /// for an idle writer, moved forward on every write that makes progress, cleared when
    /// the writer has caught up.
    owed_since: Option<Instant>,
    /// The client's socket, while the room may write to it itself (plain TCP).
    direct: Option<SharedTcp>,
    /// The socket a [`DirectSend`] in flight writes to, once the connection released or
    /// replaced it: kept until the send completes, so that its descriptor stays open and is
    /// not reused for another socket meanwhile (the send holds only the descriptor).
    retired: Option<SharedTcp>,
    /// See [`Batch::carry`].
    carry: Vec<Bytes>,
    control: VecDeque<Bytes>,
    /// The newest snapshot and its tick.
    snapshot: Option<(Tick, Bytes)>,
    replies: BytesMut,
    close: Option<CloseRequest>,
    /// `close` came from [`ClientLink::close_after_loss`].
    close_after_loss: bool,
    control_bytes: usize,
}

impl Slots {
    /// Takes `socket`, no longer the link's, out of the way: kept as [`Slots::retired`] when a
    /// send in flight writes to it, else returned, to be dropped after the lock (the last
    /// clone closes the descriptor).
    fn retire(&mut self, socket: Option<SharedTcp>) -> Option<SharedTcp> {
        // A socket retired before is the one in flight; a later one never was.
        if self.in_flight && self.retired.is_none() {
            self.retired = socket;
            return None;
        }
        socket
    }

    /// The socket a send in flight writes to.
    fn in_flight_socket(&self) -> Option<&SharedTcp> {
        self.retired.as_ref().or(self.direct.as_ref())
    }

    fn is_closing(&self) -> bool {
        self.close.is_some() || self.client_closed
    }

    fn has_frames(&self) -> bool {
        !self.carry.is_empty()
            || !self.control.is_empty()
            || self.snapshot.is_some()
            || !self.replies.is_empty()
    }

    fn owe(&mut self, now: Instant) {
        self.owed_since.get_or_insert(now);
    }

    fn stalled_for(&self, now: Instant) -> Duration {
        if self.is_closing() {
            // Its end is decided already (a goodbye on its way to the room ends the seat): a
            // slow-client kick now would keep the seat for a resume nobody will make.
            return Duration::ZERO;
        }
        self.owed_since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    fn queue_control(&mut self, frame: Bytes, now: Instant) -> Result<(), ControlOverflow> {
        self.admit_control(frame.len(), now)?;
        self.control.push_back(frame);
        Ok(())
    }

    /// Counts a reliable frame of `len` bytes into the queue's bounds, or refuses it; the
    /// caller then puts it in the queue.
    fn admit_control(&mut self, len: usize, now: Instant) -> Result<(), ControlOverflow> {
        if self.control.len() >= CONTROL_QUEUE_CAP || self.control_bytes + len > CONTROL_QUEUE_BYTES
        {
            return Err(ControlOverflow);
        }
        self.control_bytes += len;
        self.owe(now);
        Ok(())
    }

    /// True when the room may write to the socket itself now: it has one, the writer is not
    /// writing (nor is a send of the room's), and what is owed before this tick's frames is
    /// few enough for the room to take back ([`OWED_MAX`]).
    fn may_write_directly(&self) -> bool {
        self.direct.is_some() && !self.writing && !self.in_flight && self.owed_count() <= OWED_MAX
    }

    fn owed_count(&self) -> usize {
        self.carry.len() + usize::from(!self.replies.is_empty()) + self.control.len()
    }

    /// Takes what an idle writer has not taken yet, for the room to write ahead of a tick's
    /// frames, in the writer's order. Returns it, the snapshot to send (the tick's `snapshot`,
    /// which replaces the pending one, or else the pending one, which then goes last), and
    /// whether a pending snapshot was replaced (a skipped frame).
    fn take_owed(
        &mut self,
        snapshot: Option<(Tick, Bytes)>,
    ) -> (Owed, Option<(Tick, Bytes)>, bool) {
        let mut owed = Owed::default();
        if self.owed_count() > 0 {
            owed.carried = self.carry.len();
            owed.frames.append(&mut self.carry);
            if !self.replies.is_empty() {
                owed.replies = true;
                owed.frames.push(self.replies.split().freeze());
            }
            owed.frames.extend(self.control.drain(..));
            self.control_bytes = 0;
        }
        let pending = self.snapshot.take();
        let skipped = snapshot.is_some() && pending.is_some();
        (owed, snapshot.or(pending), skipped)
    }

    /// Puts back owed frames the socket took none of, ahead of whatever came meanwhile (a
    /// send in flight lets pongs and reliable frames queue behind it, nothing else). What came
    /// meanwhile was admitted against the emptier queues, so these may hold up to twice their
    /// bounds for as long as the writer takes to drain them.
    fn restore_owed(&mut self, owed: Owed) {
        let mut frames = owed.frames.into_iter();
        // Only a direct write fills the carry, and none runs while these are out.
        debug_assert!(self.carry.is_empty());
        self.carry.extend(frames.by_ref().take(owed.carried));
        if owed.replies
            && let Some(taken) = frames.next()
        {
            let mut replies = BytesMut::with_capacity(taken.len() + self.replies.len());
            replies.extend_from_slice(&taken);
            replies.extend_from_slice(&self.replies);
            self.replies = replies;
        }
        for frame in frames.rev() {
            self.control_bytes += frame.len();
            self.control.push_front(frame);
        }
    }
}

/// Frames owed to a client that the room took back from its idle writer to write them ahead of
/// a tick's ([`Slots::take_owed`]), in the writer's order, and where they came from, to put
/// back what the socket does not take. Empty (and unallocated) for a client owed nothing.
#[derive(Debug, Default)]
struct Owed {
    frames: Vec<Bytes>,
    /// The first `carried` frames were the carry.
    carried: usize,
    /// The frame after them was the buffer of replies.
    replies: bool,
}

/// One idle link's frames for a tick, taken by [`ClientLink::offer_batched`] to be written
/// with others in one submission, then settled with [`ClientLink::complete_direct`]. One
/// dropped unsettled is settled as a send the socket took none of (see its `Drop`).
#[derive(Debug)]
pub struct DirectSend<'a> {
    link: &'a ClientLink,
    /// The socket's descriptor, open until the send completes whatever the connection does
    /// meanwhile: the link keeps the socket while the send is in flight ([`Slots::retired`]).
    /// Not a clone of the socket: its reference count is a cache miss per client per tick.
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
    owed: Owed,
    events: Option<Bytes>,
    snapshot: Option<(Tick, Bytes)>,
    /// When it was offered: the time a send dropped unsettled is settled as of.
    offered_at: Instant,
    /// [`ClientLink::complete_direct`] settled it (and took its frames): `Drop` has nothing
    /// left to do.
    settled: bool,
}

/// A send dropped before [`ClientLink::complete_direct`] settled it (the room's tick panicked
/// between the offer and the submission, say: a bug in its game) would leave its link in
/// flight for good, and a link in flight gives its writer nothing, not even the close the
/// crashed room asks for ([`ClientLink::take_batch_into`]): the client would get silence
/// instead of 1011, and the writer, its socket with it, would never end. So it is settled here
/// as a send the socket took none of, as `complete_direct` settles `WouldBlock`: the link is
/// out of flight, what it was owed and the tick's frames are the writer's again, and the
/// writer is woken.
///
/// Submitting and completing are one call ([`crate::uring::send_batch`]), and the room
/// settles each send right after it, so a send dropped unsettled was not written, unless
/// settling an earlier one of its batch panicked; its frames would then go out twice, to a
/// client its dying room is closing anyway.
///
/// It may run while unwinding, where a second panic aborts the process: the lock is taken
/// poisoned or not (`ClientLink::slots`), nothing is unwrapped, and the time is the offer's
/// (the one the room would have completed it with), not a read of a clock.
impl Drop for DirectSend<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let owed = std::mem::take(&mut self.owed);
        self.link.settle_direct(
            owed,
            self.events.take(),
            self.snapshot.take(),
            None,
            self.offered_at,
        );
    }
}

impl DirectSend<'_> {
    /// The descriptor of the socket to write to, open until the send is completed
    /// ([`ClientLink::complete_direct`]).
    #[cfg(unix)]
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.fd
    }

    /// The frames to write, in order, whole (at most [`DIRECT_FRAMES_MAX`]): what the client
    /// was owed, the tick's events, then its snapshot.
    pub fn frames(&self) -> impl Iterator<Item = &Bytes> {
        self.owed
            .frames
            .iter()
            .chain(&self.events)
            .chain(self.snapshot.as_ref().map(|(_, frame)| frame))
    }

    /// Writes the frames now, without waiting: what the send of a batch would have done, for
    /// a thread that has no ring.
    pub fn try_write(&self) -> std::io::Result<usize> {
        let slots = self.link.slots();
        let socket = slots.in_flight_socket().ok_or(std::io::ErrorKind::NotConnected)?;
        write_frames(socket, self.frames())
    }
}

/// Writes a tick's frames (at most [`DIRECT_FRAMES_MAX`]: what was owed, its events and its
/// snapshot; empty ones skipped) to `socket` with one `writev`, without waiting.
fn write_frames<'f>(
    socket: &SharedTcp,
    frames: impl Iterator<Item = &'f Bytes>,
) -> std::io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); DIRECT_FRAMES_MAX];
    let mut held = 0;
    for frame in frames.filter(|frame| !frame.is_empty()) {
        slices[held] = IoSlice::new(frame);
        held += 1;
    }
    socket.try_write_vectored(&slices[..held])
}

/// The connection-side half of a client that the room talks to.
// `repr(C)`: the fields stay in this order. A room's tick reads `acked` and `taken` of every
// client (its baseline), then takes the lock and reads `Slots`' first fields: in a crowd each
// link is a cache miss a tick, and kept together they are one miss rather than several.
#[derive(Debug, Default)]
#[repr(C)]
pub struct ClientLink {
    /// Newest acked tick + 1 (0: nothing acked).
    acked: AtomicU32,
    /// Newest snapshot tick the socket took + 1 (0: none, or the link is not in order).
    taken: AtomicU32,
    slots: Mutex<Slots>,
    wake: Notify,
    close_wake: Notify,
    /// Inputs received, for the room to take one a tick ([`crate::inputs`]).
    inputs: Mutex<crate::inputs::InputQueue>,
    /// The client's last round trip sampled ([`crate::latency`]), microseconds + 1 (0: none
    /// yet), for the seat lists.
    round_trip: AtomicU32,
}

/// Reported when a reliable frame does not fit: the client is not reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlOverflow;

/// Reported when tungstenite's own replies do not fit: the client floods pings and does not
/// read. The reader fails the connection with it (close 1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client is not reading its messages (pong replies piled up)")]
pub struct RepliesOverflow;

impl ClientLink {
    /// How many bytes from its start a room's offer reads of a link: its acks and its slots,
    /// not the wake-ups and the input (for a prefetch).
    pub const HOT_BYTES: usize = std::mem::offset_of!(ClientLink, wake);

    /// A link with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding this lock cannot leave `Slots` inconsistent in a way that
        // matters (at worst a byte count is off until the queue drains), so a poisoned lock is
        // still usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets [`ClientLink::offer`] write to `socket` itself (see the module docs), until
    /// [`ClientLink::release_socket`].
    pub fn set_direct(&self, socket: SharedTcp) {
        let mut slots = self.slots();
        let replaced = slots.direct.replace(socket);
        let retired = slots.retire(replaced);
        drop(slots);
        drop(retired);
    }

    /// Declares that whatever the socket takes reaches the client whole and in order, or the
    /// connection dies (a WebSocket the client holds itself; not a relayed one, whose relay
    /// skips frames, nor the HTTP fallback): from now on [`ClientLink::taken`] counts.
    pub fn set_in_order(&self) {
        self.slots().in_order = true;
    }

    /// Forgets the socket (the connection is done with it): a room that still holds this link
    /// (a seat waiting for a resume) must not keep the socket open.
    pub fn release_socket(&self) {
        let mut slots = self.slots();
        let released = slots.direct.take();
        let retired = slots.retire(released);
        drop(slots);
        drop(retired);
    }

    /// Sends one tick's frames, `events` (reliable) and `snapshot` (latest wins), with one
    /// lock: written to the socket at once when the link may and owes nothing, else handed to
    /// the writer with one wake-up. Nothing is taken once the connection is closing.
    /// `snapshot` is the snapshot's tick and its frame.
    pub fn offer(
        &self,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
    ) -> Offered {
        self.offer_frames(events, snapshot, now, true)
    }

    /// [`ClientLink::offer`], always through the writer task (a room past its budget of
    /// direct writes for a tick leaves the rest to the writers, which other cores can run).
    pub fn offer_later(
        &self,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
    ) -> Offered {
        self.offer_frames(events, snapshot, now, false)
    }

    fn offer_frames(
        &self,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
        write_now: bool,
    ) -> Offered {
        let mut slots = self.slots();
        let mut offered = Offered { stalled_for: slots.stalled_for(now), ..Offered::default() };
        if slots.is_closing() || (events.is_none() && snapshot.is_none()) {
            return offered;
        }
        if !(write_now && slots.may_write_directly()) {
            return self.settle(slots, None, Owed::default(), events, snapshot, now, offered);
        }
        let (owed, snapshot, skipped) = slots.take_owed(snapshot);
        offered.skipped = skipped;
        // Borrowed under the lock, not cloned: an `Arc` count touched per client per tick is
        // a cache miss on every link of a crowd. `None` when the frames are the writer's:
        // nothing written (`WouldBlock`, or an error the writer will meet and report).
        let wrote = slots.direct.as_ref().and_then(|socket| {
            let frames = owed.frames.iter().chain(&events);
            let frames = frames.chain(snapshot.as_ref().map(|(_, frame)| frame));
            write_frames(socket, frames).ok().filter(|&n| n > 0)
        });
        if wrote.is_none() {
            slots.restore_owed(owed);
            return self.settle(slots, None, Owed::default(), events, snapshot, now, offered);
        }
        self.settle(slots, wrote, owed, events, snapshot, now, offered)
    }

    /// Settles a tick's frames after a direct write of `wrote` bytes of `owed`'s frames and
    /// the tick's (`None`: the socket took nothing, or the room did not write; `owed` is then
    /// empty, put back by the caller): what the socket took is taken, the rest of a cut frame
    /// and every frame after it go out first, and frames of a write that took nothing go to
    /// the writer.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        mut slots: std::sync::MutexGuard<'_, Slots>,
        wrote: Option<usize>,
        owed: Owed,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
        mut offered: Offered,
    ) -> Offered {
        if let Some(wrote) = wrote {
            offered.wrote = wrote;
            // Progress was made: the client reads, however slowly (see below).
            offered.stalled_for = Duration::ZERO;
            // The socket took the snapshot, whole or as the start of the carry, which goes
            // out before anything else.
            if let Some((tick, _)) = &snapshot
                && slots.in_order
            {
                self.record_taken(*tick);
            }
            let mut rest = wrote;
            let frames = owed.frames.into_iter().map(Some);
            for frame in frames.chain([events, snapshot.map(|(_, frame)| frame)]).flatten() {
                if rest >= frame.len() {
                    rest -= frame.len();
                    offered.frames_written += u64::from(!frame.is_empty());
                } else {
                    slots.carry.push(frame.slice(rest..));
                    rest = 0;
                }
            }
            if slots.carry.is_empty() && !slots.has_frames() {
                // All out, what was owed before included: the client is owed nothing.
                slots.owed_since = None;
                return offered;
            }
            // Progress was made: the clock starts again for the rest (as the writer's
            // `progressed` moves it).
            slots.owed_since = Some(now);
            drop(slots);
            self.wake.notify_one();
            return offered;
        }
        debug_assert!(owed.frames.is_empty(), "put back by the caller");
        if !slots.is_closing() {
            if let Some(events) = events {
                offered.overflow = slots.queue_control(events, now).is_err();
            }
            if let Some(snapshot) = snapshot {
                offered.skipped |= slots.snapshot.replace(snapshot).is_some();
                slots.owe(now);
            }
        }
        drop(slots);
        self.wake.notify_one();
        offered
    }

    /// [`ClientLink::offer`] for a room that writes a batch of links at once: when the room may
    /// write to this link's socket itself, the frames go into `sends` and the link is in flight
    /// until [`ClientLink::complete_direct`]; otherwise they go to the writer, as with `offer`.
    pub fn offer_batched<'a>(
        &'a self,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        now: Instant,
        sends: &mut Vec<DirectSend<'a>>,
    ) -> Offered {
        let mut slots = self.slots();
        let offered = Offered { stalled_for: slots.stalled_for(now), ..Offered::default() };
        if slots.is_closing() || (events.is_none() && snapshot.is_none()) {
            return offered;
        }
        #[cfg(unix)]
        let fd = match &slots.direct {
            Some(socket) if slots.may_write_directly() => std::os::fd::AsRawFd::as_raw_fd(socket),
            _ => return self.settle(slots, None, Owed::default(), events, snapshot, now, offered),
        };
        #[cfg(not(unix))]
        if !slots.may_write_directly() {
            return self.settle(slots, None, Owed::default(), events, snapshot, now, offered);
        }
        slots.in_flight = true;
        let (owed, snapshot, skipped) = slots.take_owed(snapshot);
        // Not judged by the stall before a send that may make progress: a send that does
        // restarts the clock, and one that does not leaves the frames to the writer, so the
        // stall goes on and the next tick's offer (through the writer) judges it.
        let offered = Offered { skipped, stalled_for: Duration::ZERO, ..offered };
        let events = events.filter(|frame| !frame.is_empty());
        let snapshot = snapshot.filter(|(_, frame)| !frame.is_empty());
        sends.push(DirectSend {
            link: self,
            #[cfg(unix)]
            fd,
            owed,
            events,
            snapshot,
            offered_at: now,
            settled: false,
        });
        offered
    }

    /// Settles a send taken by [`ClientLink::offer_batched`] with its result: bytes the socket
    /// took, or the error of the send (`WouldBlock`: it took nothing). Returns what was
    /// written, as [`ClientLink::offer`] reports it.
    pub fn complete_direct(
        mut send: DirectSend<'_>,
        result: std::io::Result<usize>,
        now: Instant,
    ) -> Offered {
        // Settled here with its result, so its `Drop` (for a send nobody completed) does
        // nothing: a flag, and its frames taken out of it.
        send.settled = true;
        let owed = std::mem::take(&mut send.owed);
        let (events, snapshot) = (send.events.take(), send.snapshot.take());
        send.link.settle_direct(owed, events, snapshot, result.ok().filter(|&n| n > 0), now)
    }

    /// Settles a send's frames after the socket took `wrote` bytes of them (`None`: nothing,
    /// or the send was never made): [`ClientLink::complete_direct`], and a [`DirectSend`]
    /// dropped unsettled. Must not panic while the invariants hold: a drop may call it while
    /// unwinding.
    fn settle_direct(
        &self,
        owed: Owed,
        events: Option<Bytes>,
        snapshot: Option<(Tick, Bytes)>,
        wrote: Option<usize>,
        now: Instant,
    ) -> Offered {
        let mut slots = self.slots();
        slots.in_flight = false;
        // Dropped after the lock: the last clone closes the descriptor.
        let retired = slots.retired.take();
        let offered = Offered { stalled_for: slots.stalled_for(now), ..Offered::default() };
        // A close asked for while the send was out found the writer unable to take it.
        let closing = slots.is_closing() || slots.reader_done;
        let offered = match wrote {
            Some(wrote) => self.settle(slots, Some(wrote), owed, events, snapshot, now, offered),
            None => {
                let mut owed = owed;
                if slots.client_closed {
                    // The client closed while the send was out, and its echo may be among the
                    // replies by now: after it nothing may follow (RFC 6455 7.1), so the
                    // reliable frames it was owed go the way of those `client_closed` dropped.
                    // The rest of a cut frame and the replies still go, in order.
                    owed.frames.truncate(owed.carried + usize::from(owed.replies));
                } else if let (Some(events), false) = (events, slots.is_closing()) {
                    // Reliable frames queued while the send was out came after this tick's
                    // events, and those after what was owed. Put back past the queue's
                    // bounds, as what was owed is: the room had taken them out of a queue
                    // with room for them, and a reliable frame dropped here would be lost
                    // without the client being closed. A queue still full at the next offer
                    // overflows there, and the room closes the client.
                    slots.control_bytes += events.len();
                    slots.owe(now);
                    slots.control.push_front(events);
                }
                slots.restore_owed(owed);
                self.settle(slots, None, Owed::default(), None, snapshot, now, offered)
            }
        };
        drop(retired);
        if closing {
            self.wake.notify_one();
        }
        offered
    }

    /// Puts the newest snapshot (of `tick`) in the slot. Returns true when it replaced one
    /// the writer had not taken (a skipped frame).
    pub fn offer_snapshot(&self, tick: Tick, frame: Bytes, now: Instant) -> bool {
        self.offer(None, Some((tick, frame)), now).skipped
    }

    /// Queues a reliable frame.
    pub fn push_control(&self, frame: Bytes) -> Result<(), ControlOverflow> {
        let mut slots = self.slots();
        if slots.is_closing() {
            return Ok(());
        }
        slots.queue_control(frame, Instant::now())?;
        drop(slots);
        self.wake.notify_one();
        Ok(())
    }

    /// [`ClientLink::push_control`] without waking the writer: for the room, whose offer of the
    /// same tick follows and writes the frame with its own (or wakes the writer for all of
    /// them), so that a newcomer's roster costs no wake-up of its own.
    pub fn push_control_unwoken(&self, frame: Bytes) -> Result<(), ControlOverflow> {
        let mut slots = self.slots();
        if slots.is_closing() {
            return Ok(());
        }
        slots.queue_control(frame, Instant::now())
    }

    /// Takes bytes tungstenite writes on its own (pongs, a close echo). They are sent even
    /// after the client closed: its echo is one of them. Once the server asked to close they
    /// are dropped: its close frame is the last thing the client gets (RFC 6455 5.5.1), and a
    /// client's close read meanwhile crossed it, each side's close answering the other's;
    /// an echo written as well would put a second close, and the Kick before ours, after it.
    pub fn push_reply(&self, bytes: &[u8]) -> Result<(), RepliesOverflow> {
        let mut slots = self.slots();
        if slots.close.is_some() {
            return Ok(());
        }
        if slots.replies.len() + bytes.len() > REPLY_BUFFER_CAP {
            return Err(RepliesOverflow);
        }
        slots.replies.extend_from_slice(bytes);
        slots.owe(Instant::now());
        drop(slots);
        self.wake.notify_one();
        Ok(())
    }

    /// Asks the writer to close the connection; the first request wins, and none is taken once
    /// the client closed.
    pub fn close(&self, request: CloseRequest) {
        let mut slots = self.slots();
        if !slots.is_closing() {
            slots.close = Some(request);
        }
        drop(slots);
        self.wake.notify_one();
        // The reader and a blocked writer may both be waiting for it.
        self.close_wake.notify_waiters();
    }

    /// [`ClientLink::close`] for a client that went away without a closing handshake (its
    /// socket ended or failed): the writer sends the close if the socket still takes it, and
    /// counts it as no close of the server's (the connection is the client's 1006). False when
    /// a close was requested before, which then stands as the server's.
    pub fn close_after_loss(&self, request: CloseRequest) -> bool {
        let mut slots = self.slots();
        let taken = !slots.is_closing();
        if taken {
            slots.close = Some(request);
            slots.close_after_loss = true;
        }
        drop(slots);
        self.wake.notify_one();
        self.close_wake.notify_waiters();
        taken
    }

    /// The client sent a close frame: nothing more is written to it but tungstenite's replies,
    /// and a close the server requested but has not sent yet is dropped (RFC 6455 7.1: once a
    /// close is received, the only frame left to send is its echo).
    pub fn client_closed(&self) {
        let mut slots = self.slots();
        // The carry stays: the echo cannot go out in the middle of a frame.
        slots.client_closed = true;
        slots.close = None;
        slots.close_after_loss = false;
        slots.control.clear();
        slots.control_bytes = 0;
        slots.snapshot = None;
        drop(slots);
        self.wake.notify_one();
        self.close_wake.notify_waiters();
    }

    /// The reader side is done with the socket (after a client's close: the echo, if it could
    /// be made, is among the replies now).
    pub fn reader_done(&self) {
        self.slots().reader_done = true;
        self.wake.notify_one();
    }

    /// The close the server requested and the writer has not taken into a batch yet, with
    /// whether it follows a loss ([`ClientLink::close_after_loss`]): for a writer that gives up
    /// on a socket that stopped taking bytes, so the close is still logged and counted. Left in
    /// place, so the link stays closing (a later loss is not counted as the client's too).
    pub fn pending_close(&self) -> Option<(CloseRequest, bool)> {
        let slots = self.slots();
        slots.close.clone().map(|close| (close, slots.close_after_loss))
    }

    /// True once a close was requested by the server or started by the client.
    pub fn is_closing(&self) -> bool {
        self.slots().is_closing()
    }

    /// How long the client has been owed bytes without the writer making progress.
    pub fn stalled_for(&self, now: Instant) -> Duration {
        self.slots().stalled_for(now)
    }

    /// Moves everything pending into `batch` (emptied first; possibly nothing is pending).
    pub fn take_batch_into(&self, batch: &mut Batch, now: Instant) {
        batch.clear();
        let mut slots = self.slots();
        if slots.in_flight {
            // The room's send completes within its tick and wakes the writer if anything is
            // left: nothing may go out ahead of it or into its middle.
            slots.writing = false;
            return;
        }
        batch.carry.append(&mut slots.carry);
        if !slots.replies.is_empty() {
            batch.replies = Some(slots.replies.split().freeze());
        }
        batch.control.extend(slots.control.drain(..));
        slots.control_bytes = 0;
        if let Some((tick, frame)) = slots.snapshot.take() {
            // The writer writes all it takes, in order, or the connection dies.
            if slots.in_order {
                self.record_taken(tick);
            }
            batch.snapshot = Some(frame);
        }
        batch.close = slots.close.clone();
        batch.after_loss = slots.close_after_loss;
        batch.client_closed = slots.client_closed;
        batch.reader_done = slots.reader_done;
        slots.writing = batch.frames().next().is_some();
        // Taking frames is progress; the clock restarts for the write that follows.
        slots.owed_since = slots.writing.then_some(now);
    }

    /// Takes everything pending now (possibly nothing).
    pub fn take_batch(&self) -> Batch {
        let mut batch = Batch::default();
        self.take_batch_into(&mut batch, Instant::now());
        batch
    }

    /// Waits until something is pending, then moves it into `batch`.
    pub async fn next_batch_into(&self, batch: &mut Batch) {
        loop {
            // Registered before looking, so a wake-up between the look and the wait is kept.
            let notified = self.wake.notified();
            self.take_batch_into(batch, Instant::now());
            if !batch.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// The writer put some of its frames on the socket.
    pub fn progressed(&self, now: Instant) {
        let mut slots = self.slots();
        if slots.owed_since.is_some() {
            slots.owed_since = Some(now);
        }
    }

    /// The writer finished writing what it took: the client is owed nothing more unless new
    /// frames arrived meanwhile.
    pub fn written(&self, now: Instant) {
        let mut slots = self.slots();
        slots.writing = false;
        slots.owed_since = slots.has_frames().then_some(now);
    }

    /// Resolves once a close is requested or the client closed (to abandon a write that is
    /// blocked).
    pub async fn close_requested(&self) {
        loop {
            let notified = self.close_wake.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// Records a received input; older and repeated sequence numbers are ignored.
    pub fn record_input(&self, input: tickwire_shared::Input) {
        self.inputs.lock().unwrap_or_else(|p| p.into_inner()).receive(input);
    }

    /// This tick's input, if one came in time ([`crate::inputs::InputQueue::take`]), and the
    /// account of the window of ticks that ended with it, if one did: call it once every tick.
    pub fn take_input(
        &self,
    ) -> (Option<tickwire_shared::Input>, Option<crate::inputs::InputReport>) {
        let mut inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        (inputs.take(), inputs.take_report())
    }

    /// How the client's inputs met the ticks through its last window that had inputs.
    pub fn input_report(&self) -> Option<crate::inputs::InputReport> {
        self.inputs.lock().unwrap_or_else(|p| p.into_inner()).last_report()
    }

    /// Records an ack; acks only move forward. True when `tick` is past every tick acked
    /// before.
    pub fn record_ack(&self, tick: Tick) -> bool {
        let next = tick.0.saturating_add(1);
        self.acked.fetch_max(next, Ordering::Relaxed) < next
    }

    /// Notes the client's newest round trip ([`crate::latency::RoundTrips`]).
    pub fn record_round_trip(&self, trip: Duration) {
        // 71 minutes at most: far past any ack a room still knows (64 ticks).
        let micros = u32::try_from(trip.as_micros()).unwrap_or(u32::MAX).min(u32::MAX - 1);
        self.round_trip.store(micros + 1, Ordering::Relaxed);
    }

    /// The client's newest round trip sampled; `None` before its first.
    pub fn round_trip(&self) -> Option<Duration> {
        match self.round_trip.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_micros(u64::from(n - 1))),
        }
    }

    /// The newest acked tick.
    pub fn acked(&self) -> Option<Tick> {
        match self.acked.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Tick(n - 1)),
        }
    }

    fn record_taken(&self, tick: Tick) {
        self.taken.fetch_max(tick.0.saturating_add(1), Ordering::Relaxed);
    }

    /// The newest snapshot tick the socket took, on a link that delivers in order
    /// ([`ClientLink::set_in_order`]; `None` on others): the client will hold that world.
    pub fn taken(&self) -> Option<Tick> {
        match self.taken.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Tick(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tickwire_shared::{Buttons, Input, InputSeq};

    fn input(seq: u32) -> Input {
        Input { seq: InputSeq(seq), x: 1, y: 0, buttons: Buttons(0) }
    }

    fn bytes(b: &'static [u8]) -> Bytes {
        Bytes::from_static(b)
    }

    /// A link with a direct socket, and the client's end of it.
    async fn direct_link() -> (ClientLink, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let socket = listener.accept().await.unwrap().0;
        let link = ClientLink::new();
        link.set_direct(SharedTcp::split(socket).1);
        (link, client)
    }

    async fn read_exactly(client: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut got = vec![0; n];
        client.read_exact(&mut got).await.unwrap();
        got
    }

    #[tokio::test]
    async fn an_idle_link_writes_a_ticks_frames_itself_without_the_writer() {
        let (link, mut client) = direct_link().await;
        let now = Instant::now();
        let offered = link.offer(Some(bytes(b"events")), Some((Tick(1), bytes(b"snapshot"))), now);
        assert_eq!((offered.wrote, offered.frames_written), (14, 2));
        assert!(link.take_batch().is_empty(), "nothing left for the writer");
        assert_eq!(link.stalled_for(now + Duration::from_secs(9)), Duration::ZERO);
        assert_eq!(read_exactly(&mut client, 14).await, b"eventssnapshot");
    }

    /// A newcomer's roster costs no wake-up of its own: it goes out in the write of the
    /// tick's offer that follows, ahead of its frames.
    #[tokio::test]
    async fn a_frame_queued_unwoken_goes_out_with_the_next_offer_and_wakes_nobody() {
        let (link, mut client) = direct_link().await;
        let link = Arc::new(link);
        let now = Instant::now();
        let writer = tokio::spawn({
            let link = link.clone();
            async move {
                let mut batch = Batch::default();
                link.next_batch_into(&mut batch).await;
            }
        });
        tokio::task::yield_now().await; // the writer waits
        link.push_control_unwoken(bytes(b"roster")).unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!writer.is_finished(), "the writer was not woken");
        let offered = link.offer(Some(bytes(b"events")), Some((Tick(1), bytes(b"snap"))), now);
        assert_eq!(offered.frames_written, 3);
        assert_eq!(read_exactly(&mut client, 16).await, b"rostereventssnap");
        writer.abort();
    }

    #[tokio::test]
    async fn taken_is_the_newest_snapshot_the_socket_or_the_writer_took_on_an_in_order_link() {
        let (link, mut client) = direct_link().await;
        let now = Instant::now();
        // Not declared in order (a relayed client, the fallback): nothing counts.
        assert_eq!(link.offer(None, Some((Tick(3), bytes(b"a"))), now).wrote, 1);
        assert_eq!(link.taken(), None);
        link.set_in_order();
        // Written by the room itself.
        assert_eq!(link.offer(None, Some((Tick(4), bytes(b"b"))), now).wrote, 1);
        assert_eq!(link.taken(), Some(Tick(4)));
        // In the slot, not yet taken; then replaced before the writer came (skipped): neither
        // is held by the client.
        link.offer_later(None, Some((Tick(5), bytes(b"c"))), now);
        assert!(link.offer_later(None, Some((Tick(6), bytes(b"d"))), now).skipped);
        assert_eq!(link.taken(), Some(Tick(4)));
        // Taken by the writer: it writes all it takes.
        let mut batch = Batch::default();
        link.take_batch_into(&mut batch, now);
        assert_eq!(batch.snapshot, Some(bytes(b"d")));
        assert_eq!(link.taken(), Some(Tick(6)));
        // Events alone move nothing.
        link.written(now);
        assert_eq!(link.offer(Some(bytes(b"e")), None, now).wrote, 1);
        assert_eq!(link.taken(), Some(Tick(6)));
        assert_eq!(read_exactly(&mut client, 3).await, b"abe");
    }

    #[tokio::test]
    async fn a_snapshot_the_socket_took_in_part_is_taken() {
        let (link, _client) = direct_link().await;
        link.set_in_order();
        // Bigger than any loopback socket's buffers: its rest waits in the carry, which goes
        // out before anything else, so the client will hold it.
        let big = Bytes::from(vec![7u8; 8 << 20]);
        let offered = link.offer(None, Some((Tick(9), big.clone())), Instant::now());
        assert!(offered.wrote > 0 && offered.wrote < big.len(), "{}", offered.wrote);
        assert_eq!(link.taken(), Some(Tick(9)));
    }

    #[tokio::test]
    async fn a_socket_the_room_writes_a_little_of_each_tick_is_not_stalled() {
        let (link, mut client) = direct_link().await;
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Bigger than any loopback socket's buffers: the rest waits, owed from now.
        let big = Bytes::from(vec![7u8; 8 << 20]);
        let first = link.offer(None, Some((Tick(1), big)), t0);
        assert!(first.wrote > 0);
        assert_eq!(link.stalled_for(t0 + s(5)), s(5));
        // The client reads some, so the room's next write makes progress: a slow reader, not a
        // stalled one, even though the writer task never ran.
        read_exactly(&mut client, first.wrote).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let next = link.offer(None, Some((Tick(2), bytes(b"b"))), t0 + s(5));
        assert!(next.wrote > 0, "the socket took nothing");
        assert_eq!(next.stalled_for, Duration::ZERO, "judged by the stall before the write");
        // Owed nothing more, or the rest since the progress (the buffers' sizes decide).
        assert!(link.stalled_for(t0 + s(6)) <= s(1), "the clock did not move on progress");

        // The same through a batched send (--io-uring), owed since t0 + 5 s.
        let more = Bytes::from(vec![8u8; 8 << 20]);
        let owed = link.offer(None, Some((Tick(3), more)), t0 + s(5));
        read_exactly(&mut client, next.wrote + owed.wrote).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut sends = Vec::new();
        let batched =
            link.offer_batched(None, Some((Tick(4), bytes(b"c"))), t0 + s(20), &mut sends);
        assert_eq!(batched.stalled_for, Duration::ZERO, "judged before its send made progress");
        let mut results = Vec::new();
        crate::uring::send_batch(&sends, &mut results);
        let done =
            ClientLink::complete_direct(sends.pop().unwrap(), results.pop().unwrap(), t0 + s(20));
        assert!(done.wrote > 0, "the socket took nothing");
        assert!(link.stalled_for(t0 + s(21)) <= s(1), "owed since before the progress");
    }

    #[tokio::test]
    async fn frames_go_to_the_writer_while_it_holds_some_or_when_offered_later() {
        let (link, mut client) = direct_link().await;
        let now = Instant::now();
        let offered = link.offer_later(None, Some((Tick(1), bytes(b"a"))), now);
        assert_eq!(offered.wrote, 0, "offer_later never writes");
        // The writer takes `a` and has not written it yet: the room must not write `b` first.
        let mut batch = Batch::default();
        link.take_batch_into(&mut batch, now);
        assert_eq!(link.offer(None, Some((Tick(1), bytes(b"b"))), now).wrote, 0);
        link.written(now);
        // Offered later, `c` is the writer's even though the writer is idle.
        assert_eq!(link.offer_later(None, Some((Tick(1), bytes(b"c"))), now).wrote, 0);
        let frames: Vec<Bytes> = link.take_batch().frames().cloned().collect();
        assert_eq!(frames, [bytes(b"c")], "the newest snapshot wins");
        link.written(now);
        // Idle again: written at once.
        assert_eq!(link.offer(None, Some((Tick(1), bytes(b"c"))), now).wrote, 1);
        assert_eq!(read_exactly(&mut client, 1).await, b"c");
        // A link whose connection released the socket writes nothing itself.
        link.release_socket();
        assert_eq!(link.offer(None, Some((Tick(1), bytes(b"x"))), now).wrote, 0);
        assert_eq!(link.take_batch().snapshot, Some(bytes(b"x")));
        link.written(now);
        // Closing: nothing is written or taken.
        link.close(CloseRequest { code: 1000, reason: String::new(), kick: None });
        assert_eq!(link.offer(None, Some((Tick(1), bytes(b"d"))), now).wrote, 0);
    }

    #[tokio::test]
    async fn the_rest_of_a_frame_the_socket_took_in_part_goes_out_before_anything_else() {
        let (link, mut client) = direct_link().await;
        let now = Instant::now();
        // Bigger than any loopback socket's buffers: the client is not reading yet.
        let big = Bytes::from((0..8 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let offered = link.offer(Some(bytes(b"e")), Some((Tick(1), big.clone())), now);
        assert!(offered.wrote > 1 && offered.wrote < big.len() + 1, "{}", offered.wrote);
        assert_eq!(offered.frames_written, 1, "the events frame went out whole");
        // The socket is full: the next tick's frames wait for the writer, behind the rest.
        assert_eq!(link.offer(None, Some((Tick(1), bytes(b"next"))), now).wrote, 0);
        link.push_reply(b"pong").unwrap();
        let batch = link.take_batch();
        let frames: Vec<&[u8]> = batch.frames().map(|f| f.as_ref()).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], &big[offered.wrote - 1..], "the rest of the cut frame first");
        assert_eq!(&frames[1..], [&b"pong"[..], b"next"]);
        // What the client reads is the whole frame, unbroken.
        let written = read_exactly(&mut client, offered.wrote).await;
        assert_eq!(written[0], b'e');
        assert_eq!(&written[1..], &big[..offered.wrote - 1]);
    }

    #[tokio::test]
    async fn the_room_writes_what_an_idle_writer_has_not_taken_ahead_of_the_ticks_frames() {
        let (link, mut client) = direct_link().await;
        link.set_in_order();
        let now = Instant::now();
        // Frames for a writer that has not run since: a reliable frame, a pong, a snapshot.
        assert_eq!(
            link.offer_later(Some(bytes(b"e1")), Some((Tick(1), bytes(b"s1"))), now).wrote,
            0
        );
        link.push_reply(b"p1").unwrap();
        link.push_control(bytes(b"c1")).unwrap();
        // The next tick's frames take them back: in the writer's order (pongs, then reliable
        // frames), then the tick's events, and its snapshot instead of the stale one.
        let offered = link.offer(Some(bytes(b"e2")), Some((Tick(2), bytes(b"s2"))), now);
        assert_eq!((offered.wrote, offered.frames_written, offered.skipped), (10, 5, true));
        assert_eq!(read_exactly(&mut client, 10).await, b"p1e1c1e2s2");
        // Owed nothing, though its writer has still not run: no stall to close it for.
        assert_eq!(link.stalled_for(now + Duration::from_secs(5)), Duration::ZERO);
        assert!(link.take_batch().is_empty(), "nothing left for the writer");
        assert_eq!(link.taken(), Some(Tick(2)));

        // With no snapshot this tick, the pending one goes last.
        link.offer_later(None, Some((Tick(3), bytes(b"s3"))), now);
        assert_eq!(link.offer(Some(bytes(b"e4")), None, now).wrote, 4);
        assert_eq!(read_exactly(&mut client, 4).await, b"e4s3");
        assert_eq!(link.taken(), Some(Tick(3)));

        // A writer that took its frames is writing them: the room keeps off the socket.
        link.offer_later(None, Some((Tick(5), bytes(b"s5"))), now);
        let mut batch = Batch::default();
        link.take_batch_into(&mut batch, now);
        assert_eq!(link.offer(None, Some((Tick(6), bytes(b"s6"))), now).wrote, 0);
        link.written(now);

        // More owed than the room takes back: the client is behind, the writer keeps them.
        for _ in 0..=OWED_MAX {
            link.push_control(bytes(b"c")).unwrap();
        }
        assert_eq!(link.offer(None, Some((Tick(7), bytes(b"s7"))), now).wrote, 0);
        let batch = link.take_batch();
        assert_eq!(batch.control.len(), OWED_MAX + 1);
        assert_eq!(batch.snapshot, Some(bytes(b"s7")), "the newest, which replaced s6");
    }

    #[tokio::test]
    async fn owed_frames_a_full_socket_did_not_take_go_back_in_order() {
        for batched in [false, true] {
            let (link, _client) = full_link().await;
            let now = Instant::now();
            link.offer_later(Some(bytes(b"e1")), Some((Tick(1), bytes(b"s1"))), now);
            link.push_reply(b"p1").unwrap();
            let offered = if batched {
                let mut sends = Vec::new();
                let queued = link.offer_batched(
                    Some(bytes(b"e2")),
                    Some((Tick(2), bytes(b"s2"))),
                    now,
                    &mut sends,
                );
                assert!(queued.skipped, "s1 gave way to s2");
                assert_eq!(sends[0].frames().count(), 4, "p1 e1 e2 s2");
                // Queued while the send is out: after everything taken.
                link.push_reply(b"p2").unwrap();
                link.push_control(bytes(b"c2")).unwrap();
                let mut results = Vec::new();
                crate::uring::send_batch(&sends, &mut results);
                ClientLink::complete_direct(sends.pop().unwrap(), results.pop().unwrap(), now)
            } else {
                let offered = link.offer(Some(bytes(b"e2")), Some((Tick(2), bytes(b"s2"))), now);
                assert!(offered.skipped, "s1 gave way to s2");
                offered
            };
            assert_eq!(offered.wrote, 0, "batched: {batched}");
            // Still owed, since the first frames: the clock did not restart.
            assert!(link.stalled_for(now + Duration::from_secs(2)) >= Duration::from_secs(2));
            let batch = link.take_batch();
            let replies = if batched { &b"p1p2"[..] } else { b"p1" };
            assert_eq!(batch.replies.as_deref(), Some(replies), "batched: {batched}");
            let control = if batched {
                vec![bytes(b"e1"), bytes(b"e2"), bytes(b"c2")]
            } else {
                vec![bytes(b"e1"), bytes(b"e2")]
            };
            assert_eq!(batch.control, control, "batched: {batched}");
            assert_eq!(batch.snapshot, Some(bytes(b"s2")));
        }
    }

    #[tokio::test]
    async fn owed_frames_the_socket_cut_go_out_first_with_everything_after_them() {
        // Small socket buffers, so that a reliable frame the queue admits is more than the
        // socket takes while the client is not reading.
        let listener = tokio::net::TcpSocket::new_v4().unwrap();
        listener.set_send_buffer_size(64 << 10).unwrap();
        listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listener.listen(1).unwrap();
        let client = tokio::net::TcpSocket::new_v4().unwrap();
        client.set_recv_buffer_size(64 << 10).unwrap();
        let mut client = client.connect(listener.local_addr().unwrap()).await.unwrap();
        let link = ClientLink::new();
        link.set_direct(SharedTcp::split(listener.accept().await.unwrap().0).1);
        let now = Instant::now();
        let big =
            Bytes::from((0..CONTROL_QUEUE_BYTES).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        link.push_control(big.clone()).unwrap();
        let offered = link.offer(Some(bytes(b"e")), Some((Tick(1), bytes(b"s"))), now);
        assert!(offered.wrote > 0 && offered.wrote < big.len(), "{}", offered.wrote);
        assert_eq!(offered.frames_written, 0);
        link.push_reply(b"pong").unwrap();
        let batch = link.take_batch();
        assert_eq!(batch.carry, [big.slice(offered.wrote..), bytes(b"e"), bytes(b"s")]);
        assert_eq!(batch.replies.as_deref(), Some(&b"pong"[..]), "after the cut frame's rest");
        let written = read_exactly(&mut client, offered.wrote).await;
        assert_eq!(written, &big[..offered.wrote]);
    }

    /// A link whose socket's buffers are full (its client is not reading), with nothing owed.
    async fn full_link() -> (ClientLink, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let socket = SharedTcp::split(listener.accept().await.unwrap().0).1;
        let chunk = vec![0u8; 64 << 10];
        while socket.try_write_vectored(&[IoSlice::new(&chunk)]).is_ok() {}
        let link = ClientLink::new();
        link.set_direct(socket);
        (link, client)
    }

    fn frames_of(batch: &Batch) -> Vec<Bytes> {
        batch.frames().cloned().collect()
    }

    /// Offers a tick's `events` and `snap` (tick 3) for a batched send.
    fn offer_events_and_snapshot<'a>(
        link: &'a ClientLink,
        now: Instant,
        sends: &mut Vec<DirectSend<'a>>,
    ) {
        link.offer_batched(Some(bytes(b"events")), Some((Tick(3), bytes(b"snap"))), now, sends);
    }

    /// Sends the one send of `sends` through the ring on a full socket (it takes nothing) and
    /// settles it.
    fn send_to_full_socket(sends: &mut Vec<DirectSend<'_>>, now: Instant) -> Offered {
        let mut results = Vec::new();
        crate::uring::send_batch(sends, &mut results);
        assert_eq!(results[0].as_ref().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        let offered =
            ClientLink::complete_direct(sends.pop().unwrap(), results.pop().unwrap(), now);
        assert_eq!(offered.wrote, 0);
        offered
    }

    #[tokio::test]
    async fn a_batch_of_idle_links_goes_out_in_one_submission_and_is_settled_as_a_direct_write() {
        let (first, mut first_client) = direct_link().await;
        let (second, mut second_client) = direct_link().await;
        first.set_in_order();
        let now = Instant::now();
        let mut sends = Vec::new();
        let offered = first.offer_batched(
            Some(bytes(b"events")),
            Some((Tick(7), bytes(b"one"))),
            now,
            &mut sends,
        );
        assert_eq!(offered.wrote, 0, "nothing written yet");
        second.offer_batched(None, Some((Tick(7), bytes(b"two"))), now, &mut sends);
        assert_eq!(sends.len(), 2);
        // In flight: the writer takes nothing, and the room does not write past it either.
        first.push_reply(b"pong").unwrap();
        assert!(first.take_batch().is_empty(), "the writer waits for the send in flight");
        assert_eq!(first.offer(None, Some((Tick(8), bytes(b"x"))), now).wrote, 0);
        assert_eq!(first.taken(), None);

        let mut results = Vec::new();
        let submissions = crate::uring::send_batch(&sends, &mut results);
        assert_eq!(submissions, 1, "one submission for the batch");
        assert_eq!(results.iter().map(|r| *r.as_ref().unwrap()).collect::<Vec<_>>(), [9, 3]);
        let done: Vec<Offered> = sends
            .drain(..)
            .zip(results.drain(..))
            .map(|(send, result)| ClientLink::complete_direct(send, result, now))
            .collect();
        assert_eq!((done[0].wrote, done[0].frames_written), (9, 2));
        assert_eq!((done[1].wrote, done[1].frames_written), (3, 1));
        assert_eq!(first.taken(), Some(Tick(7)), "the socket took tick 7");
        assert_eq!(read_exactly(&mut first_client, 9).await, b"eventsone");
        assert_eq!(read_exactly(&mut second_client, 3).await, b"two");
        // What came while it was out is the writer's, after it.
        assert_eq!(frames_of(&first.take_batch()), [bytes(b"pong"), bytes(b"x")]);
        assert!(second.take_batch().is_empty(), "nothing left for the second writer");
    }

    #[tokio::test]
    async fn a_full_socket_in_a_batch_leaves_the_ticks_frames_to_the_writer_in_order() {
        let (link, _client) = full_link().await;
        let now = Instant::now();
        let mut sends = Vec::new();
        offer_events_and_snapshot(&link, now, &mut sends);
        // A reliable frame of the next moment, queued while the send is out.
        link.push_control(bytes(b"later")).unwrap();
        send_to_full_socket(&mut sends, now);
        let batch = link.take_batch();
        assert_eq!(frames_of(&batch), [bytes(b"events"), bytes(b"later"), bytes(b"snap")]);
        // Owed since then: a client that never reads is found out by the clock.
        assert!(link.stalled_for(now + Duration::from_secs(2)) > Duration::from_millis(1900));
    }

    #[tokio::test]
    async fn a_client_that_closes_while_a_send_is_out_gets_nothing_after_its_echo() {
        let (link, _client) = full_link().await;
        let now = Instant::now();
        // A reliable frame the writer has not taken: the room takes it back for its send.
        link.push_control(bytes(b"owed")).unwrap();
        let mut sends = Vec::new();
        offer_events_and_snapshot(&link, now, &mut sends);
        assert_eq!(sends[0].frames().count(), 3);
        // Meanwhile the client's close is read and answered.
        link.client_closed();
        link.push_reply(b"echo").unwrap();
        send_to_full_socket(&mut sends, now);
        let batch = link.take_batch();
        assert!(batch.client_closed);
        assert_eq!(frames_of(&batch), [bytes(b"echo")], "nothing may follow the echo");
    }

    #[tokio::test]
    async fn a_ticks_events_a_full_socket_gave_back_are_kept_past_a_queue_filled_meanwhile() {
        let (link, _client) = full_link().await;
        let now = Instant::now();
        let mut sends = Vec::new();
        offer_events_and_snapshot(&link, now, &mut sends);
        // The reliable queue fills up to its bound while the send is out (a client flooding
        // pings gets that many pongs).
        for _ in 0..CONTROL_QUEUE_CAP {
            link.push_control(bytes(b"pong")).unwrap();
        }
        assert!(!send_to_full_socket(&mut sends, now).overflow);
        let mut batch = Batch::default();
        link.take_batch_into(&mut batch, now);
        assert_eq!(batch.control.len(), CONTROL_QUEUE_CAP + 1);
        assert_eq!(batch.control[0], bytes(b"events"), "the tick's events first, not lost");
        // Had the writer not taken them, the next offer finds the queue full: the room then
        // closes the client.
        link.written(now);
        for _ in 0..CONTROL_QUEUE_CAP {
            link.push_control(bytes(b"pong")).unwrap();
        }
        assert!(link.offer_later(Some(bytes(b"next")), None, now).overflow);
    }

    #[test]
    fn after_the_servers_close_request_tungstenites_own_writes_are_dropped() {
        let link = ClientLink::new();
        link.push_reply(b"pong").unwrap();
        link.close(CloseRequest { code: 1008, reason: "too fast".into(), kick: None });
        // The client's close, read while ours waits for the writer: tungstenite echoes it.
        link.push_reply(b"echo").unwrap();
        let batch = link.take_batch();
        assert_eq!(frames_of(&batch), [bytes(b"pong")], "what came before the request still goes");
        assert_eq!(batch.close.map(|c| c.code), Some(1008), "then our close, and nothing else");
    }

    #[tokio::test]
    async fn a_snapshot_a_batched_send_cut_is_carried_and_taken() {
        let (link, _client) = direct_link().await;
        link.set_in_order();
        let now = Instant::now();
        let big = Bytes::from(vec![7u8; 8 << 20]);
        let mut sends = Vec::new();
        link.offer_batched(None, Some((Tick(9), big.clone())), now, &mut sends);
        let mut results = Vec::new();
        crate::uring::send_batch(&sends, &mut results);
        let result = results.pop().unwrap();
        let offered = ClientLink::complete_direct(sends.pop().unwrap(), result, now);
        assert!(offered.wrote > 0 && offered.wrote < big.len(), "{}", offered.wrote);
        assert_eq!(link.taken(), Some(Tick(9)));
        assert_eq!(frames_of(&link.take_batch()), [big.slice(offered.wrote..)]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_close_asked_for_while_a_send_is_out_wakes_the_writer_when_it_completes() {
        let (link, _client) = direct_link().await;
        let link = Arc::new(link);
        let now = Instant::now();
        let mut sends = Vec::new();
        link.offer_batched(None, Some((Tick(1), bytes(b"snap"))), now, &mut sends);
        // The writer is waiting; the close wakes it, but it may not take anything yet.
        let writer = {
            let link = link.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                link.next_batch_into(&mut batch).await;
                batch.close
            })
        };
        tokio::task::yield_now().await;
        link.close(CloseRequest { code: 1001, reason: "going away".into(), kick: None });
        tokio::task::yield_now().await;
        assert!(!writer.is_finished(), "nothing taken while the send is out");
        let mut results = Vec::new();
        crate::uring::send_batch(&sends, &mut results);
        let send = sends.pop().unwrap();
        assert_eq!(ClientLink::complete_direct(send, results.pop().unwrap(), now).wrote, 4);
        let close = tokio::time::timeout(Duration::from_secs(5), writer).await.unwrap().unwrap();
        assert_eq!(close.map(|c| c.code), Some(1001));
    }

    /// A send nobody completed (the room's tick panicked before submitting its batch) must
    /// not leave the link in flight, where its writer takes nothing, not even a close: it is
    /// settled as a send the socket took none of.
    #[tokio::test(flavor = "current_thread")]
    async fn a_send_dropped_unsettled_leaves_the_link_to_its_writer_with_its_frames() {
        use tokio::io::AsyncReadExt;
        let (link, mut client) = direct_link().await;
        let link = Arc::new(link);
        link.push_reply(b"pong").unwrap();
        let now = Instant::now();
        let mut sends = Vec::new();
        offer_events_and_snapshot(&link, now, &mut sends);
        assert_eq!(sends.len(), 1, "the pong and the tick's frames, in one send");
        let writer = {
            let link = link.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                link.next_batch_into(&mut batch).await;
                batch
            })
        };
        tokio::task::yield_now().await;
        assert!(!writer.is_finished(), "nothing taken while the send is out");
        // Never submitted.
        drop(sends);
        assert!(!link.slots().in_flight, "out of flight");
        let batch = tokio::time::timeout(Duration::from_secs(5), writer).await.unwrap().unwrap();
        assert_eq!(
            frames_of(&batch),
            [bytes(b"pong"), bytes(b"events"), bytes(b"snap")],
            "what was owed, then the tick's frames, still the writer's, in order"
        );
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(50), client.read(&mut byte)).await;
        assert!(read.is_err(), "nothing was written to the socket");
        // And a close asked for afterwards goes out.
        link.close(CloseRequest { code: 1011, reason: "internal error".into(), kick: None });
        assert_eq!(link.take_batch().close.map(|c| c.code), Some(1011));
    }

    /// A send holds only the descriptor: the link keeps the socket it writes to until the
    /// send completes, whatever the connection does meanwhile, so the descriptor is neither
    /// closed nor reused for another socket under it.
    #[tokio::test]
    async fn a_socket_released_or_replaced_while_a_send_is_out_closes_only_when_it_completes() {
        use std::os::fd::AsRawFd;
        use tokio::io::AsyncReadExt;
        let (link, mut first) = direct_link().await;
        let now = Instant::now();
        let mut sends = Vec::new();
        link.offer_batched(None, Some((Tick(1), bytes(b"snap"))), now, &mut sends);
        let in_flight = sends[0].fd();
        link.release_socket();
        let (second_link, mut second) = direct_link().await;
        let second_socket = second_link.slots().direct.take().unwrap();
        assert_ne!(second_socket.as_raw_fd(), in_flight, "the descriptor was not reused");
        link.set_direct(second_socket);
        let mut results = Vec::new();
        crate::uring::send_batch(&sends, &mut results);
        assert_eq!(results[0].as_ref().ok(), Some(&4));
        ClientLink::complete_direct(sends.pop().unwrap(), results.pop().unwrap(), now);
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut got))
            .await
            .expect("the first socket closes once its send completed")
            .unwrap();
        assert_eq!(got, b"snap");
        // The link writes to its new socket.
        assert_eq!(link.offer(None, Some((Tick(2), bytes(b"next"))), now).wrote, 4);
        assert_eq!(read_exactly(&mut second, 4).await, b"next");
    }

    #[tokio::test]
    async fn a_send_without_a_ring_is_one_writev() {
        let (link, mut client) = direct_link().await;
        let mut sends = Vec::new();
        link.offer_batched(
            Some(bytes(b"e")),
            Some((Tick(1), bytes(b"s"))),
            Instant::now(),
            &mut sends,
        );
        assert_eq!(sends[0].try_write().unwrap(), 2);
        assert_eq!(read_exactly(&mut client, 2).await, b"es");
    }

    #[tokio::test]
    async fn a_client_close_keeps_the_rest_of_a_cut_frame_ahead_of_the_echo() {
        let (link, _client) = direct_link().await;
        let now = Instant::now();
        // Far more than loopback's socket buffers take, however they grow.
        let big = Bytes::from(vec![7u8; 64 << 20]);
        let mut wrote = link.offer(None, Some((Tick(1), big.clone())), now).wrote;
        assert!(wrote > 0 && wrote < big.len());
        // The buffers may have room again by now (the peer's kernel acked what it took): this
        // offer writes more of the cut frame first, never the snapshot after it.
        wrote += link.offer(None, Some((Tick(1), bytes(b"stale"))), now).wrote;
        assert!(wrote < big.len());
        link.client_closed();
        link.push_reply(b"echo").unwrap();
        let batch = link.take_batch();
        let frames: Vec<&[u8]> = batch.frames().map(|f| f.as_ref()).collect();
        assert_eq!(
            frames,
            [&big[wrote..], &b"echo"[..]],
            "the snapshot is dropped, the cut frame is not"
        );
    }

    #[tokio::test]
    async fn newer_snapshot_replaces_unsent_one_and_control_keeps_order() {
        let link = ClientLink::new();
        let now = Instant::now();
        assert!(!link.offer_snapshot(Tick(1), bytes(b"a"), now));
        assert!(link.offer_snapshot(Tick(1), bytes(b"b"), now));
        link.push_control(bytes(b"c1")).unwrap();
        link.offer(Some(bytes(b"c2")), None, now);
        link.push_reply(b"p").unwrap();
        let mut batch = Batch::default();
        link.next_batch_into(&mut batch).await;
        let frames: Vec<&[u8]> = batch.frames().map(|b| b.as_ref()).collect();
        assert_eq!(frames, [&b"p"[..], b"c1", b"c2", b"b"], "replies, control, then snapshot");
        link.written(now);
        assert_eq!(link.stalled_for(now + Duration::from_secs(9)), Duration::ZERO);
    }

    #[test]
    fn a_stall_is_time_owed_without_write_progress() {
        let link = ClientLink::new();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        link.offer(Some(bytes(b"e")), Some((Tick(1), bytes(b"a"))), t0);
        let offered = link.offer(None, Some((Tick(1), bytes(b"b"))), t0 + s(1));
        assert!(offered.skipped);
        assert_eq!(offered.stalled_for, s(1), "owed since the first frame, not the newest");
        assert_eq!(link.stalled_for(t0 + s(3)), s(3));

        // The writer takes the frames and then writes some bytes now and then: progress.
        let mut batch = Batch::default();
        link.take_batch_into(&mut batch, t0 + s(3));
        assert_eq!(link.stalled_for(t0 + s(4)), s(1));
        link.progressed(t0 + s(5));
        link.offer(None, Some((Tick(1), bytes(b"c"))), t0 + s(5));
        assert_eq!(link.stalled_for(t0 + s(6)), s(1), "a slow reader is not stalled");
        // Then it blocks for good: the stall grows from the last progress.
        assert_eq!(link.stalled_for(t0 + s(20)), s(15));
        // Written up: owed only what arrived meanwhile, from now.
        link.written(t0 + s(21));
        assert_eq!(link.stalled_for(t0 + s(22)), s(1));
        link.take_batch_into(&mut batch, t0 + s(22));
        link.written(t0 + s(22));
        assert_eq!(link.stalled_for(t0 + s(60)), Duration::ZERO, "nothing owed, never stalled");
    }

    #[tokio::test]
    async fn a_client_close_keeps_only_the_replies_and_overrides_an_unsent_server_close() {
        let link = ClientLink::new();
        let now = Instant::now();
        link.offer(Some(bytes(b"e")), Some((Tick(1), bytes(b"s"))), now);
        link.close(CloseRequest { code: 1008, reason: "slow".into(), kick: None });
        link.client_closed();
        assert!(link.is_closing());
        link.close_requested().await;
        link.push_reply(b"echo").unwrap();
        let mut batch = Batch::default();
        link.next_batch_into(&mut batch).await;
        assert!(batch.client_closed && !batch.reader_done);
        assert!(batch.close.is_none() && batch.snapshot.is_none() && batch.control.is_empty());
        assert_eq!(batch.replies.as_deref(), Some(&b"echo"[..]));
        assert!(!link.offer_snapshot(Tick(1), bytes(b"t"), now), "nothing is queued after");
        link.close(CloseRequest { code: 1001, reason: "late".into(), kick: None });
        link.reader_done();
        let batch = link.take_batch();
        assert!(batch.close.is_none(), "no server close after the client's");
        assert!(batch.reader_done && batch.frames().next().is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn after_a_client_close_the_writer_waits_for_replies_or_the_reader() {
        let link = Arc::new(ClientLink::new());
        link.client_closed();
        let mut batch = Batch::default();
        // Nothing to write yet: the writer must wait (on one worker, a batch returned at once
        // here would be a loop that never lets the reader run).
        let waited =
            tokio::time::timeout(Duration::from_millis(50), link.next_batch_into(&mut batch));
        assert!(
            waited.await.is_err(),
            "an empty batch after the client's close does not wake the writer"
        );
        let writer = {
            let link = link.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                link.next_batch_into(&mut batch).await;
                batch
            })
        };
        tokio::task::yield_now().await;
        link.push_reply(b"echo").unwrap();
        let batch = writer.await.unwrap();
        assert_eq!(batch.replies.as_deref(), Some(&b"echo"[..]));
        assert!(batch.client_closed && !batch.reader_done);
        link.reader_done();
        let mut batch = Batch::default();
        link.next_batch_into(&mut batch).await;
        assert!(batch.client_closed && batch.reader_done && batch.frames().next().is_none());
    }

    #[test]
    fn queues_are_bounded() {
        let link = ClientLink::new();
        for _ in 0..CONTROL_QUEUE_CAP {
            link.push_control(Bytes::new()).unwrap();
        }
        assert_eq!(link.push_control(Bytes::new()), Err(ControlOverflow));
        assert!(link.offer(Some(Bytes::new()), None, Instant::now()).overflow);

        let link = ClientLink::new();
        link.push_control(Bytes::from(vec![0; CONTROL_QUEUE_BYTES])).unwrap();
        assert_eq!(link.push_control(bytes(b"x")), Err(ControlOverflow), "bytes bound too");

        let link = ClientLink::new();
        link.push_reply(&[0; REPLY_BUFFER_CAP]).unwrap();
        assert_eq!(link.push_reply(b"x"), Err(RepliesOverflow));
    }

    #[test]
    fn stale_and_duplicate_inputs_are_ignored_and_acks_only_advance() {
        let link = ClientLink::new();
        link.record_input(input(5));
        link.record_input(input(3));
        link.record_input(input(5));
        assert_eq!(link.take_input().0.map(|i| i.seq), Some(InputSeq(5)));
        assert_eq!(link.take_input().0, None);
        assert_eq!(link.acked(), None);
        assert!(link.record_ack(Tick(10)), "the first");
        assert!(!link.record_ack(Tick(7)), "an older one");
        assert_eq!(link.acked(), Some(Tick(10)));
        assert!(!link.record_ack(Tick(0)));
        assert!(!link.record_ack(Tick(10)), "the same again");
        assert_eq!(link.acked(), Some(Tick(10)));
        assert!(link.record_ack(Tick(11)));
    }

    /// Every client has a link, spectators too, so its size is memory per spectator
    /// (BENCHMARKS.md): 528 B before the input queue's reports, which cost 80 B more until
    /// their counts were made small (16 B). The bound fails when something large lands in it.
    #[test]
    fn a_link_stays_small() {
        let size = std::mem::size_of::<ClientLink>();
        assert!(size <= 576, "a link is {size} B");
    }

    #[test]
    fn a_round_trip_reads_back_to_the_microsecond_and_a_huge_one_saturates() {
        let link = ClientLink::new();
        assert_eq!(link.round_trip(), None, "none sampled yet");
        link.record_round_trip(Duration::ZERO);
        assert_eq!(link.round_trip(), Some(Duration::ZERO), "a zero is a sample");
        link.record_round_trip(Duration::from_micros(42_317));
        assert_eq!(link.round_trip(), Some(Duration::from_micros(42_317)));
        link.record_round_trip(Duration::from_secs(10_000));
        assert_eq!(link.round_trip(), Some(Duration::from_micros(u64::from(u32::MAX) - 1)));
    }
}
