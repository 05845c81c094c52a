//! [`WsConnection`]: an open WebSocket over an `embedded_io_async` transport. Every write has
//! a timeout; reads wait until a caller deadline.

use super::deframer::{Deframer, MAX_CONTROL_PAYLOAD, Received};
use super::handshake::{accept_for, key_from_nonce, parse_response, write_request};
use crate::error::{BufferTooSmall, Disconnect, FrameError, HandshakeError};
use crate::url::ServerUrl;
use embassy_time::{Duration, Instant, with_deadline, with_timeout};
use embedded_io_async::{Error as _, Read, Write};
use embedded_websocket::{
    WebSocketClient, WebSocketCloseStatusCode, WebSocketSendMessageType, WebSocketState,
};
use rand_core::RngCore;
use tickwire_shared::{MAX_CLIENT_MESSAGE_SIZE, MAX_CONTROL_MESSAGE_SIZE};

/// Largest WebSocket header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_FRAME_HEADER: usize = 14;

/// The caller's buffers for one client. They are reused by every connection.
///
/// | buffer | minimum | recommended | holds |
/// |---|---|---|---|
/// | `rx` | [`Buffers::MIN_RX`] = 270 | 512 | the HTTP upgrade response head (~200 bytes from tickwire-server), then raw frames: the largest frame plus its header |
/// | `tx` | [`Buffers::MIN_TX`] = 270 | [`Buffers::tx_len_for`] the URL: 384, or the upgrade request if longer | the upgrade request (175 bytes plus host and path), then one outgoing frame |
/// | `msg` | [`Buffers::MIN_MESSAGE`] = 256 | 256 | one reassembled server message |
///
/// The minimums fit every message a controller sends and receives
/// ([`MAX_CLIENT_MESSAGE_SIZE`], [`MAX_CONTROL_MESSAGE_SIZE`]). A `Role::Player` also
/// receives snapshots (up to 64 KiB): size `msg` and `rx` for them or expect
/// [`FrameError::MessageTooLarge`].
pub struct Buffers<'b> {
    pub(crate) rx: &'b mut [u8],
    pub(crate) tx: &'b mut [u8],
    pub(crate) msg: &'b mut [u8],
}

impl<'b> Buffers<'b> {
    /// Minimum receive buffer: the largest control message plus a frame header.
    pub const MIN_RX: usize = MAX_CONTROL_MESSAGE_SIZE + MAX_FRAME_HEADER;
    /// Minimum transmit buffer: the largest client message plus a frame header and mask.
    pub const MIN_TX: usize = MAX_CLIENT_MESSAGE_SIZE + MAX_FRAME_HEADER;
    /// Minimum message buffer: the largest control message.
    pub const MIN_MESSAGE: usize = MAX_CONTROL_MESSAGE_SIZE;
    /// Recommended transmit buffer (see the table): room for the upgrade request to a typical
    /// URL and for any frame a controller sends.
    pub const RECOMMENDED_TX: usize = 384;

    /// The transmit buffer to give a client of `url`: [`RECOMMENDED_TX`](Self::RECOMMENDED_TX),
    /// or the URL's [upgrade request](ServerUrl::upgrade_request_len) when that is longer (a
    /// `?token=<jwt>` makes it 400 bytes and up), so that a URL that parses also connects
    /// ([`Client::new`](crate::Client::new) refuses a `tx` that cannot hold the request).
    /// A `const fn`: firmware with its URL in a `const` sizes its buffer at compile time, at no
    /// cost in flash (a program that reads its URL at run time calls it then, as
    /// `examples/host-controller.rs` does):
    ///
    /// ```
    /// use tickwire_client_embedded::{Buffers, ServerUrl};
    ///
    /// const SERVER: ServerUrl<'static> = match ServerUrl::parse("ws://192.168.1.20:8080") {
    ///     Ok(url) => url,
    ///     Err(_) => panic!("bad URL"),
    /// };
    /// static TX: [u8; Buffers::tx_len_for(&SERVER)] = [0; Buffers::tx_len_for(&SERVER)];
    /// assert_eq!(TX.len(), Buffers::RECOMMENDED_TX);
    /// ```
    pub const fn tx_len_for(url: &ServerUrl<'_>) -> usize {
        let request = url.upgrade_request_len();
        if request > Self::RECOMMENDED_TX { request } else { Self::RECOMMENDED_TX }
    }

    /// Checks the sizes against the minimums.
    pub fn new(
        rx: &'b mut [u8],
        tx: &'b mut [u8],
        msg: &'b mut [u8],
    ) -> Result<Self, BufferTooSmall> {
        let check = |which, len, min| match len < min {
            true => Err(BufferTooSmall { which, len, min }),
            false => Ok(()),
        };
        check("rx", rx.len(), Self::MIN_RX)?;
        check("tx", tx.len(), Self::MIN_TX)?;
        check("message", msg.len(), Self::MIN_MESSAGE)?;
        Ok(Buffers { rx, tx, msg })
    }
}

/// What [`WsConnection::recv`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// One whole binary message.
    Binary(&'a [u8]),
    /// A ping (already answered), a pong or a text message: proof of life, nothing else.
    Other,
}

/// An open WebSocket (client side) over transport `T`, masking with `R`.
pub struct WsConnection<'c, T, R: RngCore> {
    transport: T,
    codec: WebSocketClient<R>,
    deframer: Deframer<'c>,
    tx: &'c mut [u8],
    write_timeout: Duration,
}

impl<'c, T: Read + Write, R: RngCore> WsConnection<'c, T, R> {
    /// Upgrades `transport` to a WebSocket: sends the request for `path` on `host` (e.g.
    /// `"192.168.1.20:8080"`, `"/ws"`) with `Sec-WebSocket-Protocol: tickwire.v1` and checks
    /// the response, which may arrive in pieces of any size. Takes no time limit of its own
    /// apart from `write_timeout` per write: wrap it in `with_timeout`.
    pub async fn open(
        mut transport: T,
        mut rng: R,
        host: &str,
        path: &str,
        buffers: &'c mut Buffers<'_>,
        write_timeout: Duration,
    ) -> Result<Self, Disconnect> {
        let mut nonce = [0u8; 16];
        rng.fill_bytes(&mut nonce);
        let key = key_from_nonce(&nonce);
        let accept = accept_for(&key);
        let len = write_request(host, path, &key, buffers.tx)?;
        write_all(&mut transport, &buffers.tx[..len], write_timeout).await?;

        let mut deframer = Deframer::new(&mut *buffers.rx, &mut *buffers.msg);
        loop {
            if let Some(head) = parse_response(deframer.buffered(), &accept)? {
                deframer.consume(head);
                break;
            }
            let spare = deframer.spare();
            if spare.is_empty() {
                return Err(HandshakeError::TooLarge.into());
            }
            let n = transport.read(spare).await.map_err(|e| Disconnect::Io(e.kind()))?;
            if n == 0 {
                return Err(Disconnect::Eof);
            }
            deframer.commit(n);
        }
        let mut codec = WebSocketClient::new_client(rng);
        // The handshake was checked above; the codec only frames from here on.
        codec.state = WebSocketState::Open;
        Ok(WsConnection { transport, codec, deframer, tx: &mut *buffers.tx, write_timeout })
    }

    /// Sends one binary message (at most `tx.len() - 14` bytes) as a single masked frame.
    pub async fn send_binary(&mut self, payload: &[u8]) -> Result<(), Disconnect> {
        let len = self
            .codec
            .write(WebSocketSendMessageType::Binary, true, payload, self.tx)
            .map_err(|_| Disconnect::Frame(FrameError::Codec))?;
        write_all(&mut self.transport, &self.tx[..len], self.write_timeout).await
    }

    /// Waits for the next binary message until `deadline` (`Ok(None)` when it passes; `None`
    /// waits forever). Answers pings on the way. A close frame from the server is echoed and
    /// returned as [`Disconnect::Closed`]: the connection is then finished.
    ///
    /// Cancel-safe as long as the transport's `read` is (tokio's and embassy-net's are): bytes
    /// read are kept in the receive buffer.
    pub async fn recv(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Incoming<'_>>, Disconnect> {
        loop {
            match self.deframer.next(&mut self.codec)? {
                Some(Received::Binary { .. }) => {
                    return Ok(Some(Incoming::Binary(self.deframer.payload())));
                }
                Some(Received::Ping { .. }) => {
                    let len = self
                        .codec
                        .write(
                            WebSocketSendMessageType::Pong,
                            true,
                            self.deframer.payload(),
                            self.tx,
                        )
                        .map_err(|_| Disconnect::Frame(FrameError::Codec))?;
                    write_all(&mut self.transport, &self.tx[..len], self.write_timeout).await?;
                    return Ok(Some(Incoming::Other));
                }
                Some(Received::Pong { .. } | Received::Text { .. }) => {
                    return Ok(Some(Incoming::Other));
                }
                Some(Received::Close { code, .. }) => {
                    // Echo the status (RFC 6455 section 5.5.1), or nothing when there was none.
                    let status_bytes = code.map(u16::to_be_bytes);
                    let echo: &[u8] = status_bytes.as_ref().map_or(&[], |b| b.as_slice());
                    // Framing the echo moves the codec to `Closed`; an echo that did not go
                    // out whole puts it back to `CloseReceived`, and `close` then reports no
                    // completed handshake.
                    let echoed = match self.codec.write(
                        WebSocketSendMessageType::CloseReply,
                        true,
                        echo,
                        self.tx,
                    ) {
                        Ok(len) => {
                            write_all(&mut self.transport, &self.tx[..len], self.write_timeout)
                                .await
                                .is_ok()
                        }
                        Err(_) => false,
                    };
                    if !echoed {
                        self.codec.state = WebSocketState::CloseReceived;
                    }
                    return Err(Disconnect::Closed { code: code.unwrap_or(1005) });
                }
                None => {}
            }
            let spare = self.deframer.spare();
            if spare.is_empty() {
                // Unreachable: the deframer refuses frames larger than the buffer.
                return Err(Disconnect::Frame(FrameError::Codec));
            }
            let read = match deadline {
                Some(deadline) => match with_deadline(deadline, self.transport.read(spare)).await {
                    Ok(read) => read,
                    Err(_) => return Ok(None),
                },
                None => self.transport.read(spare).await,
            };
            let n = read.map_err(|e| Disconnect::Io(e.kind()))?;
            if n == 0 {
                return Err(Disconnect::Eof);
            }
            self.deframer.commit(n);
        }
    }

    /// The closing handshake: sends a close frame with `code`, then reads (discarding
    /// messages) until the server's close frame arrives, the transport ends or `timeout`
    /// passes. Returns whether the handshake completed: true when the server's close frame
    /// arrived, or when the server closed first and [`WsConnection::recv`] wrote its echo
    /// (nothing is sent then; an echo that did not go out is not retried and gives false).
    /// Best effort: errors only end it early.
    pub async fn close(&mut self, code: u16, timeout: Duration) -> bool {
        let answered = with_timeout(timeout, async {
            if self.codec.state != WebSocketState::Open {
                return self.codec.state == WebSocketState::Closed;
            }
            let Ok(len) = self.codec.close(status(code), None, self.tx) else { return false };
            if write_all(&mut self.transport, &self.tx[..len], self.write_timeout).await.is_err() {
                return false;
            }
            let _ = self.transport.flush().await;
            loop {
                match self.deframer.next(&mut self.codec) {
                    Ok(Some(Received::Close { .. })) => return true,
                    Err(_) => return false,
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                }
                let spare = self.deframer.spare();
                match self.transport.read(spare).await {
                    Ok(n) if n > 0 => self.deframer.commit(n),
                    _ => return false,
                }
            }
        })
        .await;
        answered == Ok(true)
    }

    /// The transport, to shut it down (see [`Connector::release`](crate::Connector::release)).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}

async fn write_all<T: Write>(
    transport: &mut T,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), Disconnect> {
    match with_timeout(timeout, transport.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Disconnect::Io(e.kind())),
        Err(_) => Err(Disconnect::WriteTimeout),
    }
}

fn status(code: u16) -> WebSocketCloseStatusCode {
    match code {
        1000 => WebSocketCloseStatusCode::NormalClosure,
        1001 => WebSocketCloseStatusCode::EndpointUnavailable,
        1002 => WebSocketCloseStatusCode::ProtocolError,
        1009 => WebSocketCloseStatusCode::MessageTooBig,
        other => WebSocketCloseStatusCode::Custom(other),
    }
}

// Compile-time check that the control buffer covers every control payload.
const _: () = assert!(MAX_CONTROL_PAYLOAD == 125);

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{Script, TestRng, server_frame};
    use std::vec::Vec;

    fn buffers<'b>(rx: &'b mut [u8], tx: &'b mut [u8], msg: &'b mut [u8]) -> Buffers<'b> {
        Buffers::new(rx, tx, msg).unwrap()
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn frames() -> Vec<u8> {
        [
            server_frame(true, 2, b"hello"),
            server_frame(true, 9, b"pp"),
            server_frame(false, 2, b"ab"),
            server_frame(true, 9, b""),
            server_frame(true, 0, b"cd"),
            server_frame(true, 8, &1001u16.to_be_bytes()),
        ]
        .concat()
    }

    async fn talk(script: &mut Script) -> Vec<Result<Option<Vec<u8>>, Disconnect>> {
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let mut conn =
            WsConnection::open(&mut *script, TestRng(9), "h:1", "/ws", &mut bufs, SECOND)
                .await
                .expect("upgrade accepted");
        let mut got = Vec::new();
        loop {
            let next = conn.recv(None).await.map(|m| match m {
                Some(Incoming::Binary(b)) => Some(b.to_vec()),
                _ => None,
            });
            let done = next.is_err();
            got.push(next);
            if done {
                return got;
            }
        }
    }

    fn expected() -> Vec<Result<Option<Vec<u8>>, Disconnect>> {
        std::vec![
            Ok(Some(b"hello".to_vec())),
            Ok(None),
            Ok(None),
            Ok(Some(b"abcd".to_vec())),
            Err(Disconnect::Closed { code: 1001 }),
        ]
    }

    #[tokio::test]
    async fn upgrade_and_frames_split_at_every_byte_offset() {
        let total = {
            let mut probe = Script::new(frames(), usize::MAX, usize::MAX);
            talk(&mut probe).await;
            probe.input.len()
        };
        for cut in 0..=total {
            let mut script = Script::new(frames(), usize::MAX, cut);
            assert_eq!(talk(&mut script).await, expected(), "split at {cut}");
        }
    }

    #[tokio::test]
    async fn one_byte_reads_answer_pings_and_echo_the_close() {
        let mut script = Script::new(frames(), 1, usize::MAX);
        assert_eq!(talk(&mut script).await, expected());
        let written = script.written();
        assert_eq!(
            written,
            [
                (true, 10, b"pp".to_vec()),
                (true, 10, Vec::new()),
                (true, 8, 1001u16.to_be_bytes().to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn binary_messages_go_out_masked() {
        let mut script = Script::new(Vec::new(), usize::MAX, usize::MAX);
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let mut conn = WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, SECOND)
            .await
            .unwrap();
        conn.send_binary(&[1, 2, 3]).await.unwrap();
        conn.send_binary(&[9u8; 256]).await.unwrap();
        // No frame within the deadline: `Ok(None)`, not an error.
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(conn.recv(Some(deadline)).await, Ok(None));
        assert_eq!(script.written(), [(true, 2, std::vec![1, 2, 3]), (true, 2, std::vec![9; 256])]);
    }

    #[tokio::test]
    async fn closing_handshake_waits_for_the_echo_or_the_timeout() {
        // The server still sends a message, then echoes the close.
        let frames =
            [server_frame(true, 2, b"late"), server_frame(true, 8, &1000u16.to_be_bytes())];
        let mut script = Script::new(frames.concat(), usize::MAX, usize::MAX);
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let mut conn = WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, SECOND)
            .await
            .unwrap();
        assert!(conn.close(1000, SECOND).await, "the echo ends it");
        assert_eq!(script.written(), [(true, 8, 1000u16.to_be_bytes().to_vec())]);

        // A silent server: the timeout ends it.
        let mut script = Script::new(Vec::new(), usize::MAX, usize::MAX);
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let mut conn = WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, SECOND)
            .await
            .unwrap();
        let started = Instant::now();
        assert!(!conn.close(1000, Duration::from_millis(100)).await, "no answer");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_close_echo_that_did_not_go_out_does_not_complete_the_handshake() {
        // The server closes first; `close` afterwards reports whether the echo went out. With
        // the client's writes stalled after its upgrade request, the echo times out.
        for stalled in [false, true] {
            let mut script =
                Script::new(server_frame(true, 8, &1001u16.to_be_bytes()), 1, usize::MAX);
            if stalled {
                script.writes_until_stall = 1;
            }
            let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
            let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
            let write_timeout = Duration::from_millis(50);
            let mut conn =
                WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, write_timeout)
                    .await
                    .unwrap();
            assert_eq!(conn.recv(None).await, Err(Disconnect::Closed { code: 1001 }));
            assert_eq!(conn.close(1000, SECOND).await, !stalled, "stalled: {stalled}");
            let echo = (true, 8, 1001u16.to_be_bytes().to_vec());
            let expected = if stalled { Vec::new() } else { std::vec![echo] };
            assert_eq!(script.written(), expected, "nothing sent by `close`");
        }
    }

    #[tokio::test]
    async fn a_refused_upgrade_and_a_dropped_stream_are_errors() {
        let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
        let mut script = Script::new(Vec::new(), 1, usize::MAX);
        script.response = Some(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_vec());
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let opened =
            WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, SECOND).await;
        assert_eq!(opened.err(), Some(Disconnect::Handshake(HandshakeError::Status(400))));

        let mut script = Script::new(server_frame(true, 2, b"x"), usize::MAX, usize::MAX);
        script.eof = true;
        let mut bufs = buffers(&mut rx, &mut tx, &mut msg);
        let mut conn = WsConnection::open(&mut script, TestRng(1), "h", "/ws", &mut bufs, SECOND)
            .await
            .unwrap();
        assert_eq!(conn.recv(None).await, Ok(Some(Incoming::Binary(b"x"))));
        assert_eq!(conn.recv(None).await, Err(Disconnect::Eof));
    }

    #[test]
    fn buffers_below_the_minimum_are_refused() {
        let (mut rx, mut tx, mut msg) = ([0u8; 269], [0u8; 384], [0u8; 256]);
        let err = Buffers::new(&mut rx, &mut tx, &mut msg).err().unwrap();
        assert_eq!(err, BufferTooSmall { which: "rx", len: 269, min: 270 });
    }

    #[test]
    fn tx_len_for_is_the_recommended_size_or_the_upgrade_request() {
        let short = ServerUrl::parse("ws://192.168.1.20:8080").unwrap();
        assert!(short.upgrade_request_len() < Buffers::RECOMMENDED_TX);
        assert_eq!(Buffers::tx_len_for(&short), Buffers::RECOMMENDED_TX);
        let token = "t".repeat(300);
        let long = std::format!("ws://192.168.1.20:8080/ws?token={token}");
        let long = ServerUrl::parse(&long).unwrap();
        assert!(long.upgrade_request_len() > Buffers::RECOMMENDED_TX);
        assert_eq!(Buffers::tx_len_for(&long), long.upgrade_request_len());
    }
}
