//! [`Connector`]: how the driver (re)opens a byte stream to the server. Any
//! `embedded_io_async::Read + Write` works as the stream.

use embedded_io_async::{Read, Write};

/// Opens a fresh transport to the server for each connection attempt.
///
/// Contract for the transport: `write` hands bytes to the network without waiting for
/// `flush` (the driver does not flush per message: on embassy-net `flush` waits for the
/// peer's ACK); `read` is cancel-safe (bytes are not lost when a read is dropped at a timeout);
/// dropping it closes the connection.
#[allow(async_fn_in_trait)] // used from single-threaded executors; no Send bound wanted
pub trait Connector {
    /// The byte stream, which may borrow the connector (e.g. its socket buffers).
    type Transport<'a>: Read + Write
    where
        Self: 'a;
    /// Why an attempt failed; only logged (with `Debug`), then the session backs off.
    type Error: core::fmt::Debug;

    /// Opens a connection (e.g. a TCP connect). The driver bounds it with
    /// [`Config::connect_timeout_ms`](crate::Config::connect_timeout_ms).
    async fn connect(&mut self) -> Result<Self::Transport<'_>, Self::Error>;

    /// Shuts a transport down before it is dropped: `graceful` after a closing handshake
    /// (send FIN), otherwise abort (RST where possible), so the server notices at once. The
    /// driver bounds it with [`Config::close_timeout_ms`](crate::Config::close_timeout_ms).
    /// The default does nothing: dropping the transport is enough for OS sockets.
    async fn release<'a>(transport: &mut Self::Transport<'a>, graceful: bool)
    where
        Self: 'a,
    {
        let _ = (transport, graceful);
    }
}

/// [`Connector`] over embassy-net's `TcpSocket` (feature `embassy-net`).
#[cfg(feature = "embassy-net")]
pub mod embassy_net {
    use super::Connector;
    use embassy_net::tcp::{ConnectError, TcpSocket};
    use embassy_net::{IpEndpoint, Stack};
    use embassy_time::Duration;

    /// Opens a `TcpSocket` to `remote` over `stack` with the given socket buffers, which every
    /// connection reuses. 1 KiB each is plenty for a controller (its frames are < 300 bytes).
    pub struct TcpConnector<'d> {
        stack: Stack<'d>,
        remote: IpEndpoint,
        rx: &'d mut [u8],
        tx: &'d mut [u8],
    }

    impl<'d> TcpConnector<'d> {
        /// A connector to `remote` (e.g. `(Ipv4Address::new(192, 168, 1, 20), 8080).into()`).
        pub fn new(
            stack: Stack<'d>,
            remote: IpEndpoint,
            rx: &'d mut [u8],
            tx: &'d mut [u8],
        ) -> Self {
            TcpConnector { stack, remote, rx, tx }
        }
    }

    impl Connector for TcpConnector<'_> {
        type Transport<'a>
            = TcpSocket<'a>
        where
            Self: 'a;
        type Error = ConnectError;

        async fn connect(&mut self) -> Result<TcpSocket<'_>, ConnectError> {
            let mut socket = TcpSocket::new(self.stack, self.rx, self.tx);
            // TCP keep-alive is redundant with WebSocket pings; a smoltcp timeout makes a
            // half-dead socket fail its reads instead of waiting forever.
            socket.set_timeout(Some(Duration::from_secs(30)));
            socket.set_nagle_enabled(false); // inputs are tiny and latency-bound
            socket.connect(self.remote).await?;
            Ok(socket)
        }

        async fn release<'a>(socket: &mut TcpSocket<'a>, graceful: bool)
        where
            Self: 'a,
        {
            if graceful {
                socket.close();
            } else {
                socket.abort();
            }
            // Let the FIN or RST go out before the socket is dropped.
            let _ = socket.flush().await;
        }
    }
}
