//! [`Connector`]: how the driver (re)opens a byte stream to the server. Any
//! `embedded_io_async::Read + Write` works as the stream.

use embedded_io_async::{Read, Write};

/// What the driver needs of a [`Connector::Error`] to log it: `Debug`, and with feature
/// `defmt` also `defmt::Format` (so that logging it does not pull `core::fmt`, about 11 KB,
/// into the firmware). Implemented for every such type.
#[cfg(not(feature = "defmt"))]
pub trait LogError: core::fmt::Debug {}
#[cfg(not(feature = "defmt"))]
impl<T: core::fmt::Debug> LogError for T {}

/// What the driver needs of a [`Connector::Error`] to log it: `Debug`, and with feature
/// `defmt` also `defmt::Format` (so that logging it does not pull `core::fmt`, about 11 KB,
/// into the firmware). Implemented for every such type.
#[cfg(feature = "defmt")]
pub trait LogError: core::fmt::Debug + defmt::Format {}
#[cfg(feature = "defmt")]
impl<T: core::fmt::Debug + defmt::Format> LogError for T {}

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
    /// Why an attempt failed; only logged, then the session backs off.
    type Error: LogError;

    /// Opens a connection (e.g. a TCP connect). The driver bounds it with
    /// [`Config::connect_timeout_ms`](crate::Config::connect_timeout_ms).
    async fn connect(&mut self) -> Result<Self::Transport<'_>, Self::Error>;

    /// Shuts a transport down before it is dropped: `graceful` after a closing handshake
    /// (send FIN), otherwise abort (RST where possible), so the server notices at once. The
    /// driver calls it for every transport [`connect`](Self::connect) returned, one whose
    /// WebSocket upgrade failed or timed out included, and bounds it with
    /// [`Config::close_timeout_ms`](crate::Config::close_timeout_ms).
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
    use crate::url::ServerUrl;
    use embassy_net::tcp::{ConnectError, TcpSocket};
    use embassy_net::{IpEndpoint, Ipv4Address, Stack};
    use embassy_time::Duration;

    /// Where a [`TcpConnector`] connects: a fixed address, or a name resolved on every
    /// connect (so a server whose DHCP lease moves is found again).
    #[derive(Debug, Clone, Copy)]
    enum Remote<'d> {
        Address(IpEndpoint),
        #[cfg_attr(not(feature = "dns"), allow(dead_code))]
        Name {
            host: &'d str,
            port: u16,
        },
    }

    /// Why a [`TcpConnector`] could not open a connection. Only logged: the session backs
    /// off and tries again.
    #[cfg_attr(feature = "defmt", derive(defmt::Format))]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
    #[non_exhaustive]
    pub enum TcpConnectError {
        /// The TCP connect failed (refused, timed out, no route, or the stack has no address
        /// yet: see [`TcpConnector::waiting_for_address`]). Usually the server is down or
        /// unreachable from this network.
        #[error("TCP connect failed: {0:?}")]
        Connect(ConnectError),
        /// The host name did not resolve (no DNS server from DHCP, or an unknown name).
        #[cfg(feature = "dns")]
        #[error("DNS lookup failed: {0:?}")]
        Dns(embassy_net::dns::Error),
        /// The host is a name but the crate was built without the `dns` feature: a build
        /// configuration error, fixed by enabling `dns` or using an IPv4 address.
        #[error("the server host is a name; enable feature `dns` or use an IPv4 address")]
        NeedsDns,
    }

    /// Opens a `TcpSocket` to the server over `stack` with the given socket buffers, which
    /// every connection reuses. 1 KiB each is plenty for a controller (its frames are < 300
    /// bytes).
    ///
    /// A board whose network comes and goes (Wi-Fi, DHCP) wants
    /// [`waiting_for_address`](Self::waiting_for_address):
    ///
    /// ```no_run
    /// use embassy_net::Stack;
    /// use tickwire_client_embedded::ServerUrl;
    /// use tickwire_client_embedded::transport::embassy_net::TcpConnector;
    ///
    /// fn connector<'d>(
    ///     stack: Stack<'d>,
    ///     server: &ServerUrl<'d>,
    ///     (rx, tx): (&'d mut [u8], &'d mut [u8]),
    /// ) -> TcpConnector<'d> {
    ///     TcpConnector::for_url(stack, server, rx, tx).waiting_for_address()
    /// }
    /// ```
    pub struct TcpConnector<'d> {
        stack: Stack<'d>,
        remote: Remote<'d>,
        rx: &'d mut [u8],
        tx: &'d mut [u8],
        wait_for_address: bool,
    }

    impl<'d> TcpConnector<'d> {
        /// A connector to a fixed `remote` (e.g.
        /// `(Ipv4Address::new(192, 168, 1, 20), 8080).into()`).
        pub fn new(
            stack: Stack<'d>,
            remote: IpEndpoint,
            rx: &'d mut [u8],
            tx: &'d mut [u8],
        ) -> Self {
            TcpConnector { stack, remote: Remote::Address(remote), rx, tx, wait_for_address: false }
        }

        /// A connector to `url`'s host and port: an IPv4 address is used as is; a name is
        /// resolved through the stack's DNS servers (from DHCP) on every connect, which needs
        /// feature `dns` (without it, every connect fails with
        /// [`TcpConnectError::NeedsDns`]).
        pub fn for_url(
            stack: Stack<'d>,
            url: &ServerUrl<'d>,
            rx: &'d mut [u8],
            tx: &'d mut [u8],
        ) -> Self {
            let remote = match url.ipv4() {
                Some([a, b, c, d]) => Remote::Address(IpEndpoint::new(
                    Ipv4Address::new(a, b, c, d).into(),
                    url.port(),
                )),
                None => Remote::Name { host: url.host(), port: url.port() },
            };
            TcpConnector { stack, remote, rx, tx, wait_for_address: false }
        }

        /// Makes [`connect`](Connector::connect) wait until the stack has an IPv4 address
        /// (`Stack::wait_config_up`, e.g. until DHCP answers) before it resolves and connects,
        /// logging `no IP address: connecting once the network is back` (info) when it has to
        /// wait.
        ///
        /// Without it, a connect while the stack has no address fails at once
        /// ([`TcpConnectError::Connect`] with `NoRoute`): during an outage every attempt then
        /// counts as a failure and doubles the client's reconnect delay, so the board may sit
        /// idle for up to [`Config::backoff_max_ms`](crate::Config::backoff_max_ms) after
        /// the network is back, while the server holds its seat only for its resume grace.
        /// With it, the attempt goes out as soon as the address is back.
        ///
        /// The trade-off: [`Client`](crate::Client) bounds the whole `connect`, this wait
        /// included, by [`Config::connect_timeout_ms`](crate::Config::connect_timeout_ms).
        /// When the address is not back in time, or comes back so late that the TCP connect
        /// and the upgrade do not fit in what is left, the attempt ends as
        /// [`Disconnect::ConnectTimeout`](crate::Disconnect::ConnectTimeout) and the client
        /// backs off and tries again (waiting again). So a `ConnectTimeout` logged right
        /// after `no IP address: connecting once the network is back` means the network
        /// (link, Wi-Fi, DHCP) did not come back within the connect timeout (or too late in
        /// it to also connect), not that the server is unreachable.
        #[must_use]
        pub fn waiting_for_address(mut self) -> Self {
            self.wait_for_address = true;
            self
        }

        async fn resolve(&self) -> Result<IpEndpoint, TcpConnectError> {
            match self.remote {
                Remote::Address(endpoint) => Ok(endpoint),
                #[cfg(feature = "dns")]
                Remote::Name { host, port } => {
                    let addresses = self
                        .stack
                        .dns_query(host, embassy_net::dns::DnsQueryType::A)
                        .await
                        .map_err(TcpConnectError::Dns)?;
                    let address: embassy_net::IpAddress = *addresses
                        .first()
                        .ok_or(TcpConnectError::Dns(embassy_net::dns::Error::Failed))?;
                    debug!("{} resolved", host);
                    Ok(IpEndpoint::new(address, port))
                }
                #[cfg(not(feature = "dns"))]
                Remote::Name { .. } => Err(TcpConnectError::NeedsDns),
            }
        }
    }

    impl Connector for TcpConnector<'_> {
        type Transport<'a>
            = TcpSocket<'a>
        where
            Self: 'a;
        type Error = TcpConnectError;

        async fn connect(&mut self) -> Result<TcpSocket<'_>, TcpConnectError> {
            if self.wait_for_address && !self.stack.is_config_up() {
                info!("no IP address: connecting once the network is back");
                self.stack.wait_config_up().await;
            }
            let remote = self.resolve().await?;
            let mut socket = TcpSocket::new(self.stack, self.rx, self.tx);
            // TCP keep-alive is redundant with WebSocket pings; a smoltcp timeout makes a
            // half-dead socket fail its reads instead of waiting forever.
            socket.set_timeout(Some(Duration::from_secs(30)));
            socket.set_nagle_enabled(false); // inputs are tiny and latency-bound
            socket.connect(remote).await.map_err(TcpConnectError::Connect)?;
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
