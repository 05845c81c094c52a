//! The diagnostics echo at `/echo` (off unless `--echo`): every text and binary message comes
//! back unchanged, so a firmware author can test a WebSocket layer against a known-good peer
//! and a conformance suite can exercise the stack. Errors close with the same codes as games.

use crate::connection::{close_code, drain, echo_code, linger, shutdown_signal, truncate_utf8};
use crate::context::ServerContext;
use crate::guard::Violation;
use crate::metrics::Initiator;
use crate::proxy::Peer;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{Instrument, debug, info_span};

/// Echoes until the peer closes, errs, goes silent, or the server shuts down.
pub async fn serve<S>(mut ws: WebSocketStream<S>, ctx: Arc<ServerContext>, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let span = info_span!(
        "echo",
        peer = %peer.client_shown(),
        proxy = peer.proxy.map(tracing::field::display)
    );
    async move {
        // The message stream failed (a protocol error): the close lingers on the raw socket.
        let mut broken = false;
        let close = loop {
            let next = tokio::select! {
                m = tokio::time::timeout(ctx.config.idle_timeout, ws.next()) => m,
                _ = shutdown_signal(&ctx) => break Some((close_code::GOING_AWAY, "server shutting down".to_string())),
            };
            match next {
                Err(_) => break Some((close_code::POLICY, "idle".to_string())),
                Ok(None) => {
                    ctx.metrics.connection_lost();
                    break None;
                }
                Ok(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => {
                    // A peer that sends but never reads would otherwise hold this task and
                    // its connection slot forever.
                    let sent = tokio::time::timeout(ctx.config.slow_client_timeout, ws.send(message));
                    match sent.await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => {
                            ctx.metrics.connection_lost();
                            break None;
                        }
                        Err(_) => break Some((close_code::POLICY, "not reading the echo".to_string())),
                    }
                }
                // tungstenite answers pings and close frames itself; reading on writes the echo
                // of a close and ends the stream once it is out.
                Ok(Some(Ok(Message::Close(frame)))) => {
                    let echo = echo_code(frame.as_ref());
                    if tokio::time::timeout(ctx.config.close_timeout, drain(&mut ws)).await == Ok(true) {
                        ctx.metrics.closed(echo, Initiator::Client);
                    }
                    break None;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => {
                    debug!(error = %e, "echo read failed");
                    broken = true;
                    let utf8 = || (close_code::INVALID_DATA, "text frame is not UTF-8".to_string());
                    break match e {
                        WsError::Capacity(c) => Some((close_code::TOO_BIG, c.to_string())),
                        WsError::Protocol(p) => Some((close_code::PROTOCOL, p.to_string())),
                        // The guard checked every text frame: a close reason.
                        WsError::Utf8(_) => Some((
                            close_code::INVALID_DATA,
                            "the close reason is not UTF-8".to_string(),
                        )),
                        WsError::Io(io) if Violation::of(&io).is_some() => Some(utf8()),
                        _ => {
                            // Reset, or gone without a close frame.
                            ctx.metrics.connection_lost();
                            None
                        }
                    };
                }
            }
        };
        if let Some((code, mut reason)) = close {
            truncate_utf8(&mut reason, 123);
            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
            let timeout = ctx.config.close_timeout;
            if let Ok(Ok(())) = tokio::time::timeout(timeout, ws.close(Some(frame))).await {
                ctx.metrics.closed(code, Initiator::Server);
                // Wait for the peer's answer, discarding what it still sends, so the close
                // is not destroyed by a reset over unread bytes; after a protocol error the
                // message stream is dead and the bytes are read raw.
                let answered = !broken && tokio::time::timeout(timeout, drain(&mut ws)).await == Ok(true);
                if !answered {
                    linger(ws.get_mut(), timeout).await;
                }
            }
        }
    }
    .instrument(span)
    .await
}
