//! Per-client outbound state shared by the room (producer) and the connection's writer task.
//!
//! No queue here can grow with a slow peer: snapshots go through a **latest-frame-wins slot**
//! (a newer frame replaces one the socket has not taken yet; the client's deltas stay valid
//! because each is against what it acked), and the rare reliable messages (welcome, events,
//! pong) go through a queue of at most [`CONTROL_QUEUE_CAP`] frames whose overflow is reported
//! to the caller, which then closes the client as too slow.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use tickwire_shared::{InputSeq, Kick, Tick};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Reliable frames a client may have waiting. Events arrive a few per second at most, so 256
/// means the client has not read for a long time.
pub const CONTROL_QUEUE_CAP: usize = 256;

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

/// What the writer should send next.
#[derive(Debug, Default)]
pub struct Batch {
    /// Reliable frames, in order.
    pub control: Vec<Bytes>,
    /// The newest snapshot, if one is waiting.
    pub snapshot: Option<Bytes>,
    /// Close after sending the above.
    pub close: Option<CloseRequest>,
    /// The client closed first: send nothing more (its close is answered by the reader side,
    /// which owns the closing handshake; see `connection`).
    pub client_closed: bool,
}

impl Batch {
    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.control.is_empty()
            && self.snapshot.is_none()
            && self.close.is_none()
            && !self.client_closed
    }
}

#[derive(Debug, Default)]
struct Slots {
    control: VecDeque<Bytes>,
    snapshot: Option<Bytes>,
    /// When the snapshot slot last went from empty to full without the writer emptying it.
    occupied_since: Option<Instant>,
    close: Option<CloseRequest>,
    client_closed: bool,
}

impl Slots {
    fn is_closing(&self) -> bool {
        self.close.is_some() || self.client_closed
    }
}

/// The connection-side half of a client that the room talks to.
#[derive(Debug, Default)]
pub struct ClientLink {
    slots: Mutex<Slots>,
    wake: Notify,
    close_wake: Notify,
    /// Newest input received (highest sequence); the room takes it each tick.
    latest_input: Mutex<Option<tickwire_shared::Input>>,
    /// Newest acked tick + 1 (0: nothing acked).
    acked: AtomicU32,
}

/// Reported when a reliable frame does not fit: the client is not reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlOverflow;

impl ClientLink {
    /// A link with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding this lock cannot leave `Slots` inconsistent (each update is
        // one assignment), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the newest snapshot in the slot. Returns true when it replaced one the writer had
    /// not taken (a skipped frame).
    pub fn offer_snapshot(&self, frame: Bytes, now: Instant) -> bool {
        let mut slots = self.slots();
        if slots.is_closing() {
            return false;
        }
        let skipped = slots.snapshot.replace(frame).is_some();
        slots.occupied_since.get_or_insert(now);
        drop(slots);
        self.wake.notify_one();
        skipped
    }

    /// Queues a reliable frame.
    pub fn push_control(&self, frame: Bytes) -> Result<(), ControlOverflow> {
        let mut slots = self.slots();
        if slots.is_closing() {
            return Ok(());
        }
        if slots.control.len() >= CONTROL_QUEUE_CAP {
            return Err(ControlOverflow);
        }
        slots.control.push_back(frame);
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
        self.close_wake.notify_one();
    }

    /// The client sent a close frame: nothing more is written to it, and a close the server
    /// requested but has not sent yet is dropped (RFC 6455 7.1: once a close is received, the
    /// only frame left to send is its echo).
    pub fn client_closed(&self) {
        let mut slots = self.slots();
        slots.client_closed = true;
        slots.close = None;
        slots.control.clear();
        slots.snapshot = None;
        drop(slots);
        self.wake.notify_one();
        self.close_wake.notify_one();
    }

    /// True once a close was requested by the server or started by the client.
    pub fn is_closing(&self) -> bool {
        self.slots().is_closing()
    }

    /// How long the snapshot slot has stayed full without the writer taking it: the time the
    /// client has made no progress.
    pub fn stalled_for(&self, now: Instant) -> std::time::Duration {
        self.slots().occupied_since.map_or(Default::default(), |since| now - since)
    }

    /// Takes everything pending now (possibly nothing).
    pub fn take_batch(&self) -> Batch {
        let mut slots = self.slots();
        slots.occupied_since = None;
        Batch {
            control: slots.control.drain(..).collect(),
            snapshot: slots.snapshot.take(),
            close: slots.close.clone(),
            client_closed: slots.client_closed,
        }
    }

    /// Takes everything pending, waiting until something is.
    pub async fn next_batch(&self) -> Batch {
        loop {
            let batch = self.take_batch();
            if !batch.is_empty() {
                return batch;
            }
            self.wake.notified().await;
        }
    }

    /// Resolves once a close is requested or the client closed (to abandon a write that is
    /// blocked).
    pub async fn close_requested(&self) {
        loop {
            if self.is_closing() {
                return;
            }
            self.close_wake.notified().await;
        }
    }

    /// Records a received input; older and repeated sequence numbers are ignored.
    pub fn record_input(&self, input: tickwire_shared::Input) {
        let mut latest = self.latest_input.lock().unwrap_or_else(|p| p.into_inner());
        if latest.is_none_or(|held| input.seq.0 > held.seq.0) {
            *latest = Some(input);
        }
    }

    /// The newest input if its sequence is above `applied`.
    pub fn take_input(&self, applied: InputSeq) -> Option<tickwire_shared::Input> {
        let latest = self.latest_input.lock().unwrap_or_else(|p| p.into_inner());
        latest.filter(|i| i.seq.0 > applied.0)
    }

    /// Records an ack; acks only move forward.
    pub fn record_ack(&self, tick: Tick) {
        self.acked.fetch_max(tick.0.saturating_add(1), Ordering::Relaxed);
    }

    /// The newest acked tick.
    pub fn acked(&self) -> Option<Tick> {
        match self.acked.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Tick(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::{Buttons, Input};

    fn input(seq: u32) -> Input {
        Input { seq: InputSeq(seq), x: 1, y: 0, buttons: Buttons(0) }
    }

    #[tokio::test]
    async fn newer_snapshot_replaces_unsent_one_and_control_keeps_order() {
        let link = ClientLink::new();
        let now = Instant::now();
        assert!(!link.offer_snapshot(Bytes::from_static(b"a"), now));
        assert!(link.offer_snapshot(Bytes::from_static(b"b"), now));
        link.push_control(Bytes::from_static(b"c1")).unwrap();
        link.push_control(Bytes::from_static(b"c2")).unwrap();
        let batch = link.next_batch().await;
        assert_eq!(batch.snapshot.as_deref(), Some(&b"b"[..]));
        assert_eq!(batch.control, vec![Bytes::from_static(b"c1"), Bytes::from_static(b"c2")]);
        assert_eq!(
            link.stalled_for(now + std::time::Duration::from_secs(9)),
            std::time::Duration::ZERO
        );
    }

    #[test]
    fn stall_is_measured_from_the_first_untaken_frame() {
        let link = ClientLink::new();
        let t0 = Instant::now();
        link.offer_snapshot(Bytes::from_static(b"a"), t0);
        link.offer_snapshot(Bytes::from_static(b"b"), t0 + std::time::Duration::from_secs(1));
        assert_eq!(link.stalled_for(t0 + std::time::Duration::from_secs(3)).as_secs(), 3);
    }

    #[tokio::test]
    async fn a_client_close_drops_what_is_pending_and_overrides_an_unsent_server_close() {
        let link = ClientLink::new();
        let now = Instant::now();
        link.offer_snapshot(Bytes::from_static(b"s"), now);
        link.push_control(Bytes::from_static(b"c")).unwrap();
        link.close(CloseRequest { code: 1008, reason: "slow".into(), kick: None });
        link.client_closed();
        assert!(link.is_closing());
        link.close_requested().await;
        let batch = link.next_batch().await;
        assert!(batch.client_closed);
        assert!(batch.close.is_none() && batch.snapshot.is_none() && batch.control.is_empty());
        assert!(!link.offer_snapshot(Bytes::from_static(b"t"), now), "nothing is queued after");
        link.close(CloseRequest { code: 1001, reason: "late".into(), kick: None });
        assert!(link.take_batch().close.is_none(), "no server close after the client's");
    }

    #[test]
    fn control_queue_is_bounded() {
        let link = ClientLink::new();
        for _ in 0..CONTROL_QUEUE_CAP {
            link.push_control(Bytes::new()).unwrap();
        }
        assert_eq!(link.push_control(Bytes::new()), Err(ControlOverflow));
    }

    #[test]
    fn stale_and_duplicate_inputs_are_ignored_and_acks_only_advance() {
        let link = ClientLink::new();
        link.record_input(input(5));
        link.record_input(input(3));
        link.record_input(input(5));
        assert_eq!(link.take_input(InputSeq(0)).map(|i| i.seq), Some(InputSeq(5)));
        assert_eq!(link.take_input(InputSeq(5)), None);
        assert_eq!(link.acked(), None);
        link.record_ack(Tick(10));
        link.record_ack(Tick(7));
        assert_eq!(link.acked(), Some(Tick(10)));
        link.record_ack(Tick(0));
        assert_eq!(link.acked(), Some(Tick(10)));
    }
}
