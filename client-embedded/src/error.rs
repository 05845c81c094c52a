//! Error enums. Each variant says who reacts and how; none of them is fatal to a running
//! [`Client`](crate::Client), which reconnects forever. Configuration that could never
//! connect (a bad URL, name or room, buffers too small) is refused before it starts.

use embedded_io_async::ErrorKind;
use tickwire_shared::{DecodeError, KickReason};

/// Why the server's answer to the HTTP upgrade was refused.
///
/// Who reacts: the [`Session`](crate::Session) counts it as a failed attempt and backs off.
/// One that persists is a deployment problem for a person to fix (wrong path or port, a proxy
/// in between, a server of another protocol version).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The status was not `101 Switching Protocols` (e.g. 404 wrong path, 400 no subprotocol,
    /// 429/503 server limits).
    #[error("HTTP status {0} instead of 101")]
    Status(u16),
    /// The response head is not HTTP/1.x (or not ASCII headers).
    #[error("malformed HTTP response")]
    Malformed,
    /// `Upgrade: websocket` or `Connection: upgrade` is missing.
    #[error("response does not upgrade to WebSocket")]
    NotWebSocket,
    /// `Sec-WebSocket-Accept` is missing or does not match our key: a proxy or a cache
    /// answered, not the server.
    #[error("Sec-WebSocket-Accept does not match the key")]
    BadAccept,
    /// `Sec-WebSocket-Protocol` is missing or is not `tickwire.v1`.
    #[error("server did not select the tickwire.v1 subprotocol")]
    Subprotocol,
    /// The response head does not fit the receive buffer.
    #[error("HTTP response head larger than the receive buffer")]
    TooLarge,
    /// The request (host and path) does not fit the transmit buffer: a configuration error,
    /// fixed by a shorter host/path or a larger buffer, that fails every attempt alike.
    /// [`Client::new`](crate::Client::new) refuses such a buffer up front
    /// ([`BufferTooSmall`]), so its driver never meets this; a driver of its own that calls
    /// [`WsConnection::open`](crate::ws::WsConnection::open) should size `tx` with
    /// [`Buffers::tx_len_for`](crate::Buffers::tx_len_for) rather than retry it.
    #[error("HTTP request larger than the transmit buffer")]
    RequestTooLarge,
}

/// A frame from the server that breaks RFC 6455 or does not fit this client's buffers.
///
/// Who reacts: the [`Session`](crate::Session) drops the connection without a close frame,
/// as for silence, so the server keeps the seat for its resume grace, and reconnects (a frame
/// that breaks the protocol usually means a broken link or proxy, not a broken server).
/// [`FrameError::close_code`] is the code RFC 6455 names for it, for logs and for drivers of
/// their own. [`FrameError::MessageTooLarge`] on a controller
/// means the server sent something other than control messages (e.g. snapshots to a
/// `Role::Player`): give such a client larger buffers.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// RSV1-3 set without a negotiated extension.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// A control frame (close, ping, pong) without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 payload bytes.
    #[error("control frame longer than 125 bytes")]
    ControlTooLong,
    /// A server frame with the mask bit set.
    #[error("masked frame from the server")]
    Masked,
    /// A 64-bit payload length with its most significant bit set (RFC 6455 section 5.2).
    #[error("64-bit frame length with its most significant bit set")]
    InvalidLength,
    /// A continuation frame with no message open.
    #[error("continuation frame without a message")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still open.
    #[error("new message before the previous one ended")]
    InterleavedMessage,
    /// A close frame with a one-byte payload or a reserved status code.
    #[error("malformed close frame")]
    BadClose,
    /// A close frame whose reason is not valid UTF-8 (RFC 6455 section 8.1).
    #[error("close frame reason is not UTF-8")]
    BadCloseReason,
    /// A frame larger than the receive buffer can hold whole.
    #[error("frame of {len} bytes exceeds the receive buffer ({max} bytes)")]
    FrameTooLarge {
        /// Header plus payload length announced.
        len: u64,
        /// Receive buffer size.
        max: usize,
    },
    /// A message (all its fragments) larger than the message buffer.
    #[error("message of at least {len} bytes exceeds the message buffer ({max} bytes)")]
    MessageTooLarge {
        /// Bytes the message would need so far.
        len: u64,
        /// Message buffer size.
        max: usize,
    },
    /// embedded-websocket's codec disagreed with the frame parser about a whole frame (a bug
    /// in one of them).
    #[error("WebSocket codec rejected a frame")]
    Codec,
}

impl FrameError {
    /// The close status RFC 6455 names for it: 1009 (message too big) for the size errors,
    /// 1007 (invalid payload data) for a close reason that is not UTF-8, 1002 (protocol error)
    /// otherwise. The session sends none (see [`FrameError`]).
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::FrameTooLarge { .. } | FrameError::MessageTooLarge { .. } => 1009,
            FrameError::BadCloseReason => 1007,
            _ => 1002,
        }
    }
}

/// Why a connection ended or could not be opened.
///
/// Who reacts: the [`Session`](crate::Session), always the same way: it backs off and
/// reconnects, resuming its seat with the token of the last `Welcome`. The application sees it
/// in [`Event::Disconnected`](crate::Event::Disconnected) and may show it (e.g. blink an LED);
/// it has nothing to fix except for the variants that say so.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The [`Connector`](crate::Connector) could not open a transport (no route, refused,
    /// Wi-Fi down).
    #[error("could not open a connection")]
    Connect,
    /// Opening the transport plus the upgrade took longer than
    /// [`Config::connect_timeout_ms`](crate::Config::connect_timeout_ms).
    #[error("connection attempt timed out")]
    ConnectTimeout,
    /// The server refused or botched the HTTP upgrade.
    #[error("WebSocket upgrade failed: {0}")]
    Handshake(HandshakeError),
    /// The transport reported an error while reading or writing.
    #[error("transport error: {0:?}")]
    Io(ErrorKind),
    /// A write did not complete within
    /// [`Config::write_timeout_ms`](crate::Config::write_timeout_ms): the link is stalled.
    #[error("write timed out")]
    WriteTimeout,
    /// The transport ended (TCP FIN or reset) without a close frame.
    #[error("connection closed by the peer without a close frame")]
    Eof,
    /// The server broke the WebSocket protocol, or sent a frame too large for our buffers.
    #[error("WebSocket protocol error: {0}")]
    Frame(FrameError),
    /// The server closed the WebSocket with this status (1005 when it gave none).
    #[error("server closed the WebSocket with status {code}")]
    Closed {
        /// The close status code.
        code: u16,
    },
    /// The server sent a `Kick` saying why it is closing. With `ResumeRejected` the session
    /// forgets its token and joins afresh next time; with `VersionMismatch` this firmware
    /// needs an update, and the session retries only every `backoff_max_ms`.
    #[error("kicked by the server: {0:?}")]
    Kicked(KickReason),
    /// Nothing was received for [`Config::silence_timeout_ms`](crate::Config::silence_timeout_ms).
    #[error("nothing heard from the server for too long")]
    Silence,
    /// No `Welcome` within [`Config::join_timeout_ms`](crate::Config::join_timeout_ms).
    #[error("no Welcome from the server in time")]
    JoinTimeout,
    /// A binary message from the server did not decode as a tickwire control message (a
    /// server of another protocol version, or a bug).
    #[error("undecodable message from the server: {0}")]
    Decode(DecodeError),
}

impl Disconnect {
    /// Whether the server turned the controller away, rather than a session or a link that
    /// failed: a [`Kicked`](Disconnect::Kicked) whose reason
    /// [`is_refusal`](crate::protocol::KickReason::is_refusal) (a full room, another protocol
    /// version, a refused `Hello`, an operator's removal or ban), or an upgrade answered with a
    /// client error ([`Handshake`](Disconnect::Handshake)`(Status(..))`): 401 (no join token,
    /// or one that expired), 403 (an Origin or address the server refuses), 404 (a wrong
    /// path), 429 (too many connections from this address). The next attempts may well meet
    /// it too, so a board shows it apart from "connecting" (each board's "turned away" LED
    /// pattern). Not one: a 408 (the server's own timeout), and any 5xx: a 503 comes from a
    /// server at its connection limit but also from one restarting or draining, and from a
    /// proxy whose servers are down, which the next attempts may well get past.
    pub const fn is_refusal(&self) -> bool {
        match self {
            Disconnect::Kicked(reason) => reason.is_refusal(),
            Disconnect::Handshake(HandshakeError::Status(status)) => {
                matches!(*status, 400..=407 | 409..=499)
            }
            _ => false,
        }
    }

    /// Whether the server said it goes away (`Kick { ShuttingDown }`, or a close 1001 or 1012
    /// without a kick): it or its successor may be back any moment, and the session retries at
    /// the first delay for [`Config::restart_window_ms`](crate::Config::restart_window_ms).
    pub fn is_restart(&self) -> bool {
        matches!(
            self,
            Disconnect::Kicked(KickReason::ShuttingDown) | Disconnect::Closed { code: 1001 | 1012 }
        )
    }
}

impl From<HandshakeError> for Disconnect {
    fn from(e: HandshakeError) -> Self {
        Disconnect::Handshake(e)
    }
}

impl From<FrameError> for Disconnect {
    fn from(e: FrameError) -> Self {
        Disconnect::Frame(e)
    }
}

/// A caller-provided buffer is smaller than the documented minimum
/// ([`Buffers::new`](crate::Buffers::new)), or the transmit buffer cannot hold the upgrade
/// request to the client's endpoint ([`Client::new`](crate::Client::new); `min` is then that
/// request's length).
///
/// Who reacts: the programmer, at start-up; see [`Buffers`](crate::Buffers) for the sizes and
/// [`Buffers::tx_len_for`](crate::Buffers::tx_len_for) for a transmit buffer that always fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[error("{which} buffer has {len} bytes, needs at least {min}")]
pub struct BufferTooSmall {
    /// Which buffer: "rx", "tx" or "message".
    pub which: &'static str,
    /// Its length.
    pub len: usize,
    /// The minimum.
    pub min: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_refusing_kick_or_an_upgrade_the_server_turned_down() {
        use HandshakeError::Status;
        for status in [400, 401, 403, 404, 426, 429] {
            assert!(Disconnect::Handshake(Status(status)).is_refusal(), "{status}");
        }
        // The server's own timeout, a restart's or a drain's 503, a proxy whose servers are
        // down: links that failed, or may get through next time.
        for status in [408, 500, 502, 503, 504, 301] {
            assert!(!Disconnect::Handshake(Status(status)).is_refusal(), "{status}");
        }
        assert!(Disconnect::Kicked(KickReason::Full).is_refusal());
        assert!(Disconnect::Kicked(KickReason::Removed).is_refusal());
        assert!(!Disconnect::Kicked(KickReason::ShuttingDown).is_refusal());
        let links = [
            Disconnect::Connect,
            Disconnect::ConnectTimeout,
            Disconnect::Eof,
            Disconnect::Silence,
            Disconnect::Closed { code: 1008 },
            Disconnect::Handshake(HandshakeError::BadAccept),
        ];
        for link in links {
            assert!(!link.is_refusal(), "{link:?}");
        }
        // A board may decide it in a `const`.
        const { assert!(Disconnect::Handshake(Status(401)).is_refusal()) };
    }
}
