//! Why a connection ended, and what the application may get wrong. Each variant says who
//! reacts and how.

use std::io;
use std::time::Duration;
use tickwire_shared::{DecodeError, KickReason};

/// Close codes the server uses (PROTOCOL.md section 7.4), and what each means to a client.
pub mod close_code {
    /// Normal: the client closed, and the server echoed its code.
    pub const NORMAL: u16 = 1000;
    /// Going away: the server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: the client sent something the protocol does not allow.
    pub const PROTOCOL: u16 = 1002;
    /// Unsupported data: the client sent a text message.
    pub const UNSUPPORTED: u16 = 1003;
    /// No status code in the close frame (never sent on the wire).
    pub const NO_STATUS: u16 = 1005;
    /// Invalid payload: invalid UTF-8 in a name, room or chat line.
    pub const INVALID_DATA: u16 = 1007;
    /// Policy violation: rate limits, silence, too slow, replaced, resume refused, removed or
    /// banned by an operator.
    pub const POLICY: u16 = 1008;
    /// Message too big: a client message above 256 bytes.
    pub const TOO_BIG: u16 = 1009;
    /// Internal error: the server failed.
    pub const INTERNAL: u16 = 1011;
    /// Service restart: a server (or a proxy before it) restarting; not sent by tickwire.
    pub const SERVICE_RESTART: u16 = 1012;
    /// Try again later: the room or the server is full.
    pub const TRY_AGAIN_LATER: u16 = 1013;

    /// A short name for `code`, for logs and reports.
    pub fn name(code: u16) -> &'static str {
        match code {
            NORMAL => "normal",
            GOING_AWAY => "going away",
            PROTOCOL => "protocol error",
            UNSUPPORTED => "unsupported data",
            NO_STATUS => "no status",
            INVALID_DATA => "invalid payload",
            POLICY => "policy violation",
            TOO_BIG => "message too big",
            INTERNAL => "internal error",
            SERVICE_RESTART => "service restart",
            TRY_AGAIN_LATER => "try again later",
            _ => "other",
        }
    }
}

/// What to do after a connection ended, as [`Disconnect::retry`] decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reconnect and present the resume token: the seat (and ship, and score) may still be held.
    Resume,
    /// Reconnect without the token: the seat is gone, join afresh.
    Fresh,
    /// Do not reconnect: trying again cannot help until a person changes something (the
    /// client's version, its URL, its name, its rate limits), another connection now owns
    /// the seat, or an operator removed the client (or banned it for a while) and a person
    /// decides what next.
    Never,
}

/// The server refused the WebSocket upgrade with an HTTP status (PROTOCOL.md section 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {message}")]
pub struct Refusal {
    /// The status: 429 too many sessions from this address, 503 server full or shutting down,
    /// 502/504 a reverse proxy whose node is restarting, 400/403/405/426 a request the server
    /// will never accept. [`Disconnect::retry`] says which are retried.
    pub status: u16,
    /// The server's plain-text explanation (its response body), trimmed.
    pub message: String,
    /// The server's `Retry-After`, when it sent one (the session waits at most
    /// [`RETRY_AFTER_MAX`](crate::session::RETRY_AFTER_MAX) for it).
    pub retry_after: Option<Duration>,
}

/// The server's `Kick` and the close frame that followed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kicked ({reason:?}): {message}")]
pub struct Kicked {
    /// Machine-readable reason.
    pub reason: KickReason,
    /// The server's human-readable detail.
    pub message: String,
    /// The close frame's code, when it arrived (it follows the `Kick` at once).
    pub close_code: Option<u16>,
}

/// How the transport failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// TCP could not be opened (refused, unreachable, no address for the host name). Made by
    /// [`LinkError::connect`].
    #[error("cannot connect: {message}")]
    Connect {
        /// The error's kind, for [`Disconnect::label`]. A host name that does not resolve is
        /// `Uncategorized` (std has no kind for it): `message` says so.
        kind: io::ErrorKind,
        /// The operating system's (or resolver's) explanation, e.g. "failed to lookup address
        /// information: Name or service not known", at most [`LinkError::MESSAGE_MAX`] bytes.
        message: String,
    },
    /// Reading or writing failed.
    #[error("transport error: {0}")]
    Io(io::ErrorKind),
    /// The TCP connection ended without a close frame.
    #[error("connection ended without a close frame")]
    Eof,
    /// The server broke the WebSocket protocol (or the upgrade response was malformed).
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// The server accepted the upgrade without selecting the `tickwire.v1` subprotocol: not
    /// a tickwire server of this protocol version, or a proxy in between. Not retried: another
    /// attempt meets the same server ([`Retry::Never`]).
    #[error("the server did not select the tickwire.v1 subprotocol")]
    Subprotocol,
    /// The TLS handshake of a `wss://` connection failed: the server's certificate is not
    /// trusted by the roots in use, names another host, or has expired. Not retried
    /// ([`Retry::Never`]): another attempt meets the same certificate (give the
    /// [`Endpoint`](crate::Endpoint) the roots that sign it with `Endpoint::with_tls_config`).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// Why a connection ended or could not be opened. Arrives in
/// [`Event::Disconnected`](crate::Event::Disconnected) together with the session's decision
/// (retry when, or stop).
///
/// Who reacts: the session, always, by [`Disconnect::retry_for`] and the
/// [`Reconnect`](crate::Reconnect) policy; it keeps the last one
/// ([`Session::last_disconnect`](crate::Session::last_disconnect)) for when it gives up. The application shows it; a person reacts only to
/// the endings [`Retry::Never`] names (update the client, fix the URL, read why an operator
/// removed it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The upgrade was refused with an HTTP status. Retried (not before the server's
    /// `Retry-After`): 408, 429 and every 5xx, which say the server or a proxy in front of it
    /// is busy, restarting or unreachable for now (Caddy and nginx answer 502 or 504 while a
    /// node restarts). Not retried: every other status (400, 401, 403, 404, 405, 426, 431, a
    /// redirect), which says the request itself is wrong (URL, subprotocol, credentials) and
    /// is refused again until a person changes it. 404 included: a mistyped path is far more
    /// common than a proxy that answers 404 while a node restarts.
    #[error("upgrade refused: {0}")]
    Refused(Refusal),
    /// The server sent a `Kick` and closed. Retried with the resume token after `Idle`,
    /// `TooSlow` and `ShuttingDown` (the server keeps the seat for its resume grace, a
    /// restarted server excepted). Not retried after `VersionMismatch` (update the client),
    /// `BadHello` or `MalformedMessage` (a client bug), `Replaced` (another connection resumed
    /// this seat; retrying would take it back and forth), `Removed` (an operator removed this
    /// client from its room, or banned its address or name for a while: the seat is gone, a
    /// banned client would be refused alike, and the message, which says which and why, is for
    /// the person playing to read and decide on), or `RateLimited` (more inputs or chat lines
    /// than the server allows: the seat is over, and a client whose own pacing,
    /// [`Config::input_rate_per_sec`](crate::Config::input_rate_per_sec) and
    /// [`Config::chat_rate_per_sec`](crate::Config::chat_rate_per_sec), let that happen would
    /// be kicked again; as in the JavaScript SDK). After `ResumeRejected` the next attempt
    /// joins afresh. `Full` is retried while the session has a seat to get back (a `Welcome`
    /// arrived: the seat may still be held, and a fleet node that does not find it answers
    /// `Full` too), but ends a first join, as in the JavaScript SDK
    /// ([`Disconnect::retry_for`] with `first_join: true` says [`Retry::Never`]).
    #[error("{0}")]
    Kicked(Kicked),
    /// The server closed with a close frame and no `Kick` (e.g. 1008 "no Hello within the
    /// handshake timeout"). Codes that say this client broke the protocol (1002, 1003, 1007,
    /// 1009) are not retried.
    #[error("closed by the server with {code} ({}): {reason}", close_code::name(*code))]
    Closed {
        /// The close code (1005 when the frame had none).
        code: u16,
        /// The close frame's reason text.
        reason: String,
    },
    /// The transport failed or ended without a close frame, or TCP could not be opened.
    /// Retried with the resume token, except [`LinkError::Subprotocol`] and
    /// [`LinkError::Tls`], which are not retried ([`Retry::Never`]): another attempt meets the
    /// same server, or the same certificate.
    #[error("{0}")]
    Lost(LinkError),
    /// TCP plus the upgrade took longer than [`Config::connect_timeout`](crate::Config::connect_timeout).
    #[error("connection attempt timed out")]
    ConnectTimeout,
    /// No `Welcome` within [`Config::join_timeout`](crate::Config::join_timeout).
    #[error("no Welcome from the server in time")]
    JoinTimeout,
    /// Nothing received for [`Config::silence_timeout`](crate::Config::silence_timeout).
    #[error("nothing heard from the server for too long")]
    Silence,
    /// A message from the server did not decode (a server of another protocol version, or a
    /// bug); this client closed with 1002. Retried.
    #[error("undecodable message from the server: {0}")]
    Decode(DecodeError),
}

impl LinkError {
    /// The longest explanation a [`LinkError::Connect`] keeps, in bytes.
    pub const MESSAGE_MAX: usize = 200;

    /// [`LinkError::Connect`] for `error`, its explanation kept (cut to
    /// [`LinkError::MESSAGE_MAX`] bytes): its kind alone would show a host name that does not
    /// resolve as "uncategorized error".
    pub fn connect(error: &io::Error) -> LinkError {
        let mut message = error.to_string();
        if message.len() > Self::MESSAGE_MAX {
            let mut end = Self::MESSAGE_MAX;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        LinkError::Connect { kind: error.kind(), message }
    }
}

impl Disconnect {
    /// What to do next after this ending of a connection of a session that had joined before
    /// (see each variant): `retry_for(false)`. For a first join (no `Welcome` yet, so no seat
    /// to get back) the session decides by [`retry_for(true)`](Self::retry_for), which ends
    /// on a full room where this says [`Retry::Resume`].
    pub fn retry(&self) -> Retry {
        self.retry_for(false)
    }

    /// What the session does after this ending: `first_join` is true while it has no seat
    /// to get back (no `Welcome` arrived, no resume token). A first join refused as `Full` is
    /// final ([`Retry::Never`]): no seat of this client is held there, so the room is full
    /// indeed, and the player is better told at once; with a seat to get back it is retried,
    /// as the seat may still be held. Every other ending is judged alike either way (see
    /// each variant); how many attempts follow is the [`Reconnect`](crate::Reconnect)
    /// policy's.
    pub fn retry_for(&self, first_join: bool) -> Retry {
        match self {
            Disconnect::Kicked(k) if first_join && k.reason == KickReason::Full => Retry::Never,
            other => other.retry_judged(),
        }
    }

    /// [`Disconnect::retry_for`] where having a seat makes no difference.
    fn retry_judged(&self) -> Retry {
        match self {
            Disconnect::Refused(r) if matches!(r.status, 408 | 429 | 500..=599) => Retry::Resume,
            Disconnect::Refused(_) => Retry::Never,
            Disconnect::Kicked(k) => match k.reason {
                KickReason::VersionMismatch { .. }
                | KickReason::BadHello
                | KickReason::MalformedMessage
                | KickReason::RateLimited
                | KickReason::Replaced
                | KickReason::Removed => Retry::Never,
                KickReason::ResumeRejected => Retry::Fresh,
                KickReason::Full
                | KickReason::Idle
                | KickReason::TooSlow
                | KickReason::ShuttingDown => Retry::Resume,
            },
            Disconnect::Closed { code, .. } => match *code {
                close_code::PROTOCOL
                | close_code::UNSUPPORTED
                | close_code::INVALID_DATA
                | close_code::TOO_BIG => Retry::Never,
                _ => Retry::Resume,
            },
            Disconnect::Lost(LinkError::Subprotocol | LinkError::Tls(_)) => Retry::Never,
            Disconnect::Lost(_)
            | Disconnect::ConnectTimeout
            | Disconnect::JoinTimeout
            | Disconnect::Silence
            | Disconnect::Decode(_) => Retry::Resume,
        }
    }

    /// Whether the server said it goes away (`Kick { ShuttingDown }`, or a close 1001 or 1012
    /// without a kick): it or its successor may be back any moment, and the session retries
    /// at the first delay for [`Reconnect::restart_window`](crate::Reconnect::restart_window).
    pub fn is_restart(&self) -> bool {
        match self {
            Disconnect::Kicked(k) => k.reason == KickReason::ShuttingDown,
            Disconnect::Closed { code, .. } => {
                matches!(*code, close_code::GOING_AWAY | close_code::SERVICE_RESTART)
            }
            _ => false,
        }
    }

    /// The earliest the server allows another attempt (its `Retry-After`), if it said.
    pub fn not_before(&self) -> Option<Duration> {
        match self {
            Disconnect::Refused(r) => r.retry_after,
            _ => None,
        }
    }

    /// The close code of the frame that ended the connection, if one arrived.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Disconnect::Kicked(k) => k.close_code,
            Disconnect::Closed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A short, stable label of the kind of ending, for counting in reports and metrics:
    /// `http-429`, `kick-Full`, `close-1008`, `lost-eof`, `timeout-join`, `decode` ...
    pub fn label(&self) -> String {
        match self {
            Disconnect::Refused(r) => format!("http-{}", r.status),
            Disconnect::Kicked(k) => {
                let reason = format!("{:?}", k.reason);
                let name = reason.split([' ', '{']).next().unwrap_or_default().to_string();
                format!("kick-{name}")
            }
            Disconnect::Closed { code, .. } => format!("close-{code}"),
            Disconnect::Lost(LinkError::Connect { kind, .. }) => format!("connect-{kind:?}"),
            Disconnect::Lost(LinkError::Io(kind)) => format!("io-{kind:?}"),
            Disconnect::Lost(LinkError::Eof) => "lost-eof".into(),
            Disconnect::Lost(LinkError::WebSocket(_)) => "websocket-error".into(),
            Disconnect::Lost(LinkError::Subprotocol) => "subprotocol".into(),
            Disconnect::Lost(LinkError::Tls(_)) => "tls".into(),
            Disconnect::ConnectTimeout => "timeout-connect".into(),
            Disconnect::JoinTimeout => "timeout-join".into(),
            Disconnect::Silence => "timeout-silence".into(),
            Disconnect::Decode(_) => "decode".into(),
        }
    }
}

/// Why [`Identity`](crate::Identity) refused a name or room.
///
/// Who reacts: the programmer or the player typing them; the server would refuse the `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The display name is longer than 24 bytes of UTF-8.
    #[error("the name must hold at most 24 bytes")]
    Name,
    /// The room is not 1 to 16 letters, digits, `-`, `_` or `.`.
    #[error("the room must hold 1 to 16 letters, digits, '-', '_' or '.'")]
    Room,
}

/// Why a send was refused. Nothing was queued.
///
/// Who reacts: the application; none of these ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not joined (connecting, reconnecting, or ended): inputs and chat of that time would be
    /// stale when the connection is back.
    #[error("not joined")]
    NotJoined,
    /// A spectator steers nothing; the server would close it with 1008.
    #[error("a spectator cannot send inputs")]
    Spectator,
    /// The chat line is longer than 200 bytes of UTF-8.
    #[error("chat line longer than 200 bytes")]
    ChatTooLong,
    /// The chat line is empty (or only whitespace); the server would drop it.
    #[error("empty chat line")]
    ChatEmpty,
    /// [`Config::chat_queue`](crate::Config::chat_queue) lines already wait for the chat
    /// rate: slow down.
    #[error("too many chat lines waiting")]
    ChatQueueFull,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::KickReason;

    fn kicked(reason: KickReason) -> Disconnect {
        Disconnect::Kicked(Kicked { reason, message: String::new(), close_code: Some(1008) })
    }

    #[test]
    fn endings_map_to_retry_decisions() {
        let refused = |status| {
            Disconnect::Refused(Refusal { status, message: String::new(), retry_after: None })
        };
        assert_eq!(refused(429).retry(), Retry::Resume);
        assert_eq!(refused(503).retry(), Retry::Resume);
        assert_eq!(refused(400).retry(), Retry::Never);
        assert_eq!(kicked(KickReason::VersionMismatch { server: 2 }).retry(), Retry::Never);
        assert_eq!(kicked(KickReason::Replaced).retry(), Retry::Never);
        assert_eq!(kicked(KickReason::Removed).retry(), Retry::Never);
        assert_eq!(kicked(KickReason::ResumeRejected).retry(), Retry::Fresh);
        assert_eq!(kicked(KickReason::ShuttingDown).retry(), Retry::Resume);
        assert_eq!(kicked(KickReason::Idle).retry(), Retry::Resume);
        assert_eq!(kicked(KickReason::TooSlow).retry(), Retry::Resume);
        assert_eq!(Disconnect::Closed { code: 1009, reason: String::new() }.retry(), Retry::Never);
        assert_eq!(Disconnect::Closed { code: 1011, reason: String::new() }.retry(), Retry::Resume);
        assert_eq!(Disconnect::Lost(LinkError::Eof).retry(), Retry::Resume);
        assert_eq!(Disconnect::Lost(LinkError::Subprotocol).retry(), Retry::Never);
        assert_eq!(Disconnect::Lost(LinkError::Tls("expired".into())).retry(), Retry::Never);
        let refused = LinkError::connect(&io::ErrorKind::ConnectionRefused.into());
        assert_eq!(Disconnect::Lost(refused).retry(), Retry::Resume);
    }

    #[test]
    fn a_full_room_ends_a_first_join_and_is_retried_with_a_seat_to_get_back() {
        let full = kicked(KickReason::Full);
        assert_eq!(full.retry_for(true), Retry::Never, "what the session does for a first join");
        assert_eq!(full.retry_for(false), Retry::Resume);
        assert_eq!(full.retry(), full.retry_for(false));
        // Nothing else depends on whether a seat was held.
        for other in [kicked(KickReason::Idle), kicked(KickReason::ResumeRejected)] {
            assert_eq!(other.retry_for(true), other.retry_for(false), "{other:?}");
        }
    }

    #[test]
    fn a_rate_limit_kick_is_final() {
        // The server ended the seat, and the pacing that let it happen would again.
        assert_eq!(kicked(KickReason::RateLimited).retry(), Retry::Never);
    }

    #[test]
    fn an_operators_removal_is_final() {
        // The seat is gone and a ban refuses every attempt alike: a person reads the message
        // and decides, the client does not rejoin on its own (PROTOCOL.md section 5).
        let removed = kicked(KickReason::Removed);
        assert_eq!(removed.retry(), Retry::Never);
        assert_eq!(removed.label(), "kick-Removed");
        assert_eq!(removed.close_code(), Some(1008));
        assert_eq!(removed.not_before(), None);
    }

    #[test]
    fn a_proxy_whose_node_restarts_is_retried_and_a_wrong_request_is_not() {
        let refused = |status| {
            Disconnect::Refused(Refusal { status, message: String::new(), retry_after: None })
        };
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(refused(status).retry(), Retry::Resume, "HTTP {status}");
        }
        for status in [301, 400, 401, 403, 404, 405, 426, 431, 600] {
            assert_eq!(refused(status).retry(), Retry::Never, "HTTP {status}");
        }
    }

    #[test]
    fn labels_are_short_and_stable() {
        assert_eq!(
            kicked(KickReason::VersionMismatch { server: 2 }).label(),
            "kick-VersionMismatch"
        );
        assert_eq!(kicked(KickReason::Full).label(), "kick-Full");
        assert_eq!(Disconnect::Closed { code: 1008, reason: "x".into() }.label(), "close-1008");
        assert_eq!(
            Disconnect::Lost(LinkError::Io(io::ErrorKind::ConnectionReset)).label(),
            "io-ConnectionReset"
        );
        assert_eq!(kicked(KickReason::Full).close_code(), Some(1008));
        let refused = LinkError::connect(&io::ErrorKind::ConnectionRefused.into());
        assert_eq!(Disconnect::Lost(refused).label(), "connect-ConnectionRefused");
    }

    #[test]
    fn a_connect_failure_says_what_failed() {
        // A name that does not resolve is an error of kind `Uncategorized`, which std does not
        // let us name: its text is the part worth showing.
        let unresolved =
            io::Error::other("failed to lookup address information: Name or service not known");
        let lost = Disconnect::Lost(LinkError::connect(&unresolved));
        assert_eq!(
            lost.to_string(),
            "cannot connect: failed to lookup address information: Name or service not known"
        );
        assert_eq!(lost.label(), "connect-Other");
        let long = LinkError::connect(&io::Error::other("é".repeat(150)));
        let LinkError::Connect { message, .. } = long else { unreachable!() };
        assert_eq!(message, "é".repeat(LinkError::MESSAGE_MAX / 2), "cut on a char boundary");
    }
}
