//! Each client's round trip as the server sees it, from its acks, sans IO.
//!
//! A client acks the newest snapshot it holds (players with every input, spectators every
//! second or so: PROTOCOL.md 6.1). When an ack of a tick newer than the last one arrives, the
//! time since the room built that tick is the client's round trip as the game feels it: the
//! server's own queues and writes, the network both ways, and the client's wait before it
//! sent the ack. The room notes when it built each of its last [`TICK_TIMES`] ticks
//! ([`TickTimes`], lock-free, read by every connection of the room); each connection samples
//! its client at most once a [`SAMPLE_INTERVAL`] ([`RoundTrips`]), for the histogram
//! `tickwire_round_trip_seconds` and the seat lists (`round_trip_ms`).
//!
//! The server measures without asking: no ping of its own, no wire change, every client that
//! acks (the browser, the Rust client, a controller) is measured alike, whatever its transport.

use crate::room::anchor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickwire_shared::Tick;
use tokio::time::Instant;

/// Ticks whose build time a room keeps: as many as an ack may lag and still be a baseline
/// ([`crate::room::ACK_LAG_MAX_TICKS`], 2.1 s at 30 Hz). An ack older than that measures
/// nothing; its client is already too far behind to be encoded against it.
pub const TICK_TIMES: usize = crate::room::ACK_LAG_MAX_TICKS as usize;

/// How often a client's round trip is sampled at most: often enough to follow a network that
/// changes, seldom enough that a crowd's acks cost the histogram a few thousand observations a
/// second, not a hundred thousand (players ack every tick).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// A slot: the tick's low 16 bits above its build time in microseconds since the rooms'
/// [`anchor`] plus one (48 bits, which last 8.9 years; 0 is an empty slot).
const TIME_BITS: u32 = 48;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// When a room built each of its last [`TICK_TIMES`] ticks. Written by the room's thread once
/// a tick, read by its connections as acks arrive; a slot is one atomic word, so a reader
/// never sees a tick with another's time.
#[derive(Debug)]
pub struct TickTimes {
    slots: [AtomicU64; TICK_TIMES],
}

impl Default for TickTimes {
    fn default() -> Self {
        TickTimes { slots: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

impl TickTimes {
    /// Notes that the room built `tick` at `at`.
    pub fn record(&self, tick: Tick, at: Instant) {
        let micros = at.saturating_duration_since(anchor()).as_micros() as u64;
        let word = (u64::from(tick.0 & 0xffff) << TIME_BITS) | ((micros + 1) & TIME_MASK);
        self.slots[tick.0 as usize % TICK_TIMES].store(word, Ordering::Relaxed);
    }

    /// When the room built `tick`, while it is among the last [`TICK_TIMES`] before `current`
    /// (the room's tick now); `None` for an older tick, a future one, or one not recorded.
    pub fn built_at(&self, tick: Tick, current: Tick) -> Option<Instant> {
        if current.0.checked_sub(tick.0)? as usize >= TICK_TIMES {
            return None;
        }
        let word = self.slots[tick.0 as usize % TICK_TIMES].load(Ordering::Relaxed);
        let micros = word & TIME_MASK;
        if micros == 0 || word >> TIME_BITS != u64::from(tick.0 & 0xffff) {
            return None;
        }
        Some(anchor() + Duration::from_micros(micros - 1))
    }
}

/// One connection's sampling of its client's round trip.
#[derive(Debug, Default)]
pub struct RoundTrips {
    /// No sample before this; none taken yet when `None`.
    next: Option<Instant>,
}

impl RoundTrips {
    /// The client acked `ack` at `now`; `newer` when it is past every tick it acked before (a
    /// repeated ack is as old as the first, and would read as a round trip that grows). A
    /// round trip when one is due and the room still knows when it built the tick.
    pub fn on_ack(
        &mut self,
        ack: Tick,
        newer: bool,
        now: Instant,
        times: &TickTimes,
        current: Tick,
    ) -> Option<Duration> {
        if !newer || self.next.is_some_and(|next| now < next) {
            return None;
        }
        let built = times.built_at(ack, current)?;
        self.next = Some(now + SAMPLE_INTERVAL);
        Some(now.saturating_duration_since(built))
    }
}

/// A client relayed by this node to the node hosting its room (cluster mode): the hosting
/// node sees this relay's acks, some sent on the client's behalf, so the relay measures the
/// client's own acks against when it handed each snapshot to the client's writer. That leaves
/// out the hop between the nodes (a data centre's fraction of a millisecond).
#[derive(Debug, Default)]
pub struct Relayed {
    sent: TickTimes,
    newest_sent: Option<Tick>,
    newest_acked: Option<Tick>,
    trips: RoundTrips,
}

impl Relayed {
    /// The snapshot of `tick` was handed to the client's writer at `now`.
    pub fn sent(&mut self, tick: Tick, now: Instant) {
        self.sent.record(tick, now);
        self.newest_sent = Some(self.newest_sent.map_or(tick, |newest| newest.max(tick)));
    }

    /// The client acked `tick` itself at `now`: its round trip, when a sample is due.
    pub fn client_acked(&mut self, tick: Tick, now: Instant) -> Option<Duration> {
        let newer = self.newest_acked.is_none_or(|acked| tick > acked);
        if newer {
            self.newest_acked = Some(tick);
        }
        self.trips.on_ack(tick, newer, now, &self.sent, self.newest_sent?)
    }
}

/// The `tickwire_round_trip_seconds` buckets: a LAN's fraction of a millisecond (a
/// controller on the same Wi-Fi; with 5 ms as the first bound, a quantile of 0.2 ms round trips
/// read as 2.5 ms, the bucket's middle) to a mobile network's worst, with bounds where action
/// games draw their lines (50, 100, 150, 250 ms).
pub const ROUND_TRIP_BUCKETS: [f64; 15] =
    [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.5];

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        anchor() + Duration::from_millis(ms)
    }

    #[test]
    fn a_tick_reads_back_its_build_time_while_it_is_recent() {
        let times = TickTimes::default();
        for tick in 0..200u32 {
            times.record(Tick(tick), at(1000 + u64::from(tick) * 33));
        }
        assert_eq!(times.built_at(Tick(199), Tick(199)), Some(at(1000 + 199 * 33)));
        let oldest = 199 - (TICK_TIMES as u32 - 1);
        assert_eq!(
            times.built_at(Tick(oldest), Tick(199)),
            Some(at(1000 + u64::from(oldest) * 33))
        );
        assert_eq!(times.built_at(Tick(oldest - 1), Tick(199)), None, "past the window");
        assert_eq!(times.built_at(Tick(200), Tick(199)), None, "not built yet");
        // The room built tick 200 into tick 136's slot, and has not yet said it is at 200: the
        // slot's own tick tells them apart.
        times.record(Tick(200), at(1000 + 200 * 33));
        assert_eq!(times.built_at(Tick(136), Tick(199)), None);
        assert_eq!(times.built_at(Tick(137), Tick(199)), Some(at(1000 + 137 * 33)));
    }

    #[test]
    fn a_slot_never_written_or_written_for_another_tick_gives_nothing() {
        let times = TickTimes::default();
        assert_eq!(times.built_at(Tick(3), Tick(10)), None, "never written");
        times.record(Tick(3 + 65_536), at(5));
        // Same slot, and the same low bits: only the window check tells them apart.
        assert_eq!(times.built_at(Tick(3), Tick(3 + 65_536)), None);
        assert_eq!(times.built_at(Tick(3 + 65_536), Tick(3 + 65_536)), Some(at(5)));
        times.record(Tick(3 + TICK_TIMES as u32), at(9));
        assert_eq!(times.built_at(Tick(3), Tick(3)), None, "the slot is another tick's");
    }

    #[test]
    fn a_client_is_sampled_on_a_newer_ack_at_most_once_an_interval() {
        let times = TickTimes::default();
        let mut built = 0u32;
        // The room's ticks up to `current`, 33 ms apart.
        let mut run_to = |current: u32| {
            while built <= current {
                times.record(Tick(built), at(u64::from(built) * 33));
                built += 1;
            }
            Tick(current)
        };
        let mut trips = RoundTrips::default();
        // Tick 10 was built at 330 ms, acked at 450 ms: 120 ms.
        let current = run_to(14);
        assert_eq!(
            trips.on_ack(Tick(10), true, at(450), &times, current),
            Some(Duration::from_millis(120))
        );
        // Within the interval: none, however new.
        let current = run_to(27);
        assert_eq!(trips.on_ack(Tick(20), true, at(900), &times, current), None);
        // Past it, a repeated ack (not newer) is no sample: its age only grows.
        let current = run_to(45);
        assert_eq!(trips.on_ack(Tick(20), false, at(1500), &times, current), None);
        // The next newer one is.
        let current = run_to(48);
        assert_eq!(
            trips.on_ack(Tick(45), true, at(1600), &times, current),
            Some(Duration::from_millis(1600 - 45 * 33))
        );
    }

    #[test]
    fn a_relay_measures_its_client_s_own_acks_against_when_it_handed_each_snapshot_on() {
        let mut relayed = Relayed::default();
        assert_eq!(relayed.client_acked(Tick(3), at(10)), None, "nothing sent yet");
        for tick in 10..20u32 {
            relayed.sent(Tick(tick), at(u64::from(tick) * 33));
        }
        assert_eq!(
            relayed.client_acked(Tick(15), at(15 * 33 + 80)),
            Some(Duration::from_millis(80))
        );
        // An older one, or within the interval: none.
        assert_eq!(relayed.client_acked(Tick(14), at(2000)), None);
        assert_eq!(relayed.client_acked(Tick(16), at(15 * 33 + 500)), None);
        relayed.sent(Tick(60), at(1980));
        assert_eq!(relayed.client_acked(Tick(60), at(2020)), Some(Duration::from_millis(40)));
    }

    #[test]
    fn an_ack_the_room_no_longer_knows_takes_no_sample_and_leaves_the_next_one_due() {
        let times = TickTimes::default();
        for tick in 0..200u32 {
            times.record(Tick(tick), at(u64::from(tick) * 33));
        }
        let mut trips = RoundTrips::default();
        assert_eq!(trips.on_ack(Tick(5), true, at(6000), &times, Tick(181)), None, "too old");
        assert_eq!(
            trips.on_ack(Tick(179), true, at(6010), &times, Tick(181)),
            Some(Duration::from_millis(6010 - 179 * 33))
        );
    }
}
