//! Which transport a client plays over, and how many play over each: per room (`GET /rooms`)
//! and server-wide (`tickwire_transport_clients{transport}`).
//!
//! The room never knows: every transport hands it the same [`crate::outbox::ClientLink`]. A
//! connection counts itself once it is seated, with an [`Attached`] guard that counts it down
//! when the connection ends (a seat waiting for a resume has no transport).

use crate::metrics::Metrics;
use crate::room::RoomShared;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// One WebSocket (`GET /ws`): the default, and the cheapest.
    WebSocket,
    /// The HTTP fallback with one streamed response down and POSTs up (`GET /fallback/stream`).
    Stream,
    /// The HTTP fallback with long polls down and POSTs up (`GET /fallback/poll`), for networks
    /// that buffer streamed responses.
    Poll,
}

impl Transport {
    /// Every transport, in the order of [`TransportCounts`].
    pub const ALL: [Transport; 3] = [Transport::WebSocket, Transport::Stream, Transport::Poll];

    /// Its name in `/rooms`, metrics and the SDK's `?transport=`: `ws`, `stream` or `poll`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "ws",
            Transport::Stream => "stream",
            Transport::Poll => "poll",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Clients attached over each transport (atomics: read by `/rooms` without asking the room).
#[derive(Debug, Default)]
pub struct TransportCounts([AtomicU32; 3]);

impl TransportCounts {
    /// Clients attached over `transport`.
    pub fn get(&self, transport: Transport) -> u32 {
        self.0[transport.index()].load(Ordering::Relaxed)
    }

    /// The counts as a `/rooms` row shows them.
    pub fn info(&self) -> TransportsInfo {
        TransportsInfo {
            ws: self.get(Transport::WebSocket),
            stream: self.get(Transport::Stream),
            poll: self.get(Transport::Poll),
        }
    }
}

/// Clients of a room by transport, as `GET /rooms` writes them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TransportsInfo {
    /// Over WebSocket.
    pub ws: u32,
    /// Over the HTTP stream fallback.
    pub stream: u32,
    /// Over the long-polling fallback.
    pub poll: u32,
}

/// One seated connection, counted in its room and in the metric of its transport until
/// dropped.
#[derive(Debug)]
pub struct Attached {
    room: Arc<RoomShared>,
    transport: Transport,
    gauge: Gauge,
}

impl Attached {
    /// Counts a connection over `transport` seated in `room`.
    pub fn new(metrics: &Metrics, room: &Arc<RoomShared>, transport: Transport) -> Self {
        room.transports.0[transport.index()].fetch_add(1, Ordering::Relaxed);
        let gauge = metrics.transport_clients_of(transport);
        gauge.inc();
        Attached { room: room.clone(), transport, gauge }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.room.transports.0[self.transport.index()].fetch_sub(1, Ordering::Relaxed);
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::RoomName;

    #[test]
    fn attached_connections_count_per_room_and_server_wide_until_dropped() {
        let metrics = Metrics::new();
        let room = Arc::new(RoomShared::new(RoomName::truncated("r"), 8));
        let a = Attached::new(&metrics, &room, Transport::Stream);
        let b = Attached::new(&metrics, &room, Transport::Stream);
        let c = Attached::new(&metrics, &room, Transport::WebSocket);
        assert_eq!(room.transports.info(), TransportsInfo { ws: 1, stream: 2, poll: 0 });
        assert!(metrics.render().contains("tickwire_transport_clients{transport=\"stream\"} 2"));
        drop((a, c));
        assert_eq!(room.transports.info(), TransportsInfo { ws: 0, stream: 1, poll: 0 });
        drop(b);
        assert_eq!(room.transports.info(), TransportsInfo::default());
        assert!(metrics.render().contains("tickwire_transport_clients{transport=\"ws\"} 0"));
    }
}
