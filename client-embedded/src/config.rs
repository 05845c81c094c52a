//! [`Config`]: every timing knob of a session and its driver, with defaults for a Pico W on
//! Wi-Fi talking to a server on the same LAN or a nearby region.

/// Timing of a [`Session`](crate::Session) and of the [`Client`](crate::Client) driver.
///
/// All times are milliseconds. Start from [`Config::DEFAULT`] (also `Config::default()`) and
/// change fields; the struct is `#[non_exhaustive]` so that new knobs are not breaking:
///
/// ```
/// let mut config = tickwire_client_embedded::Config::DEFAULT;
/// config.input_rate_hz = 20;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// Inputs sent per second while joined. Default 30, the server's default tick rate: more
    /// is wasted (the server applies one input a tick, the newest of those sent faster),
    /// fewer adds up to one input period of latency. The server closes clients above its
    /// `input_rate` (120/s by default). 0 sends no inputs.
    pub input_rate_hz: u16,
    /// Interval between tickwire `Ping` messages while joined, which measure the round trip
    /// ([`Session::rtt_ms`](crate::Session::rtt_ms)). Default 5 000. Inputs already prove
    /// liveness to the server; pings cost 6 bytes each.
    pub ping_interval_ms: u32,
    /// Silence (no frame of any kind received) after which the connection is considered
    /// dead and dropped without a close frame, so the server keeps the seat for a resume.
    /// Default 15 000: the server sends feedback at least once per second (and a WebSocket
    /// ping after 5 s of the controller's silence), so 15 s rides out a long stall; lower
    /// detects a dead link sooner, at the risk of dropping a merely slow one.
    pub silence_timeout_ms: u32,
    /// Time to open the transport and complete the WebSocket upgrade. Default 10 000: a Wi-Fi
    /// association or ARP can take seconds; lower retries a lost SYN sooner.
    pub connect_timeout_ms: u32,
    /// Time from the upgrade to the server's `Welcome`. Default 5 000, the server's own
    /// handshake timeout.
    pub join_timeout_ms: u32,
    /// Time any single write (one frame) may take before the connection is dropped. Default
    /// 2 000: a write only waits when the socket's send buffer is full, i.e. when the link is
    /// stalled; waiting longer delays reconnecting.
    pub write_timeout_ms: u32,
    /// Time to wait for the peer's close frame (and the transport's shutdown) after sending
    /// ours. Default 1 000.
    pub close_timeout_ms: u32,
    /// First reconnect delay after a drop or a failed attempt. Default 250: quick enough that a
    /// resume lands well within the server's 10 s resume grace.
    pub backoff_initial_ms: u32,
    /// Cap of the reconnect delay, which doubles per consecutive failure. Default 10 000:
    /// a server that is down is polled every ~10 s; jitter never exceeds the cap.
    pub backoff_max_ms: u32,
    /// Random spread of each reconnect delay, in percent either way. Default 25 (±25%), so
    /// a room's controllers do not all reconnect in the same instant after a server restart.
    pub backoff_jitter_percent: u8,
    /// How long a connection must last after its `Welcome` to count as a success, which
    /// resets the reconnect delay when it ends. Default 5 000. A connection that ends sooner
    /// counts as a failed attempt, so a server that welcomes and then fails at once is polled
    /// ever more slowly (up to `backoff_max_ms`), not every `backoff_initial_ms` for good; the
    /// price is that a link dropping every few seconds also backs off.
    pub stable_after_ms: u32,
    /// How long after the server says it goes away (`Kick { ShuttingDown }`, a close 1001 or
    /// 1012) failed attempts retry at `backoff_initial_ms` instead of doubling. Default
    /// 10 000, the server's resume grace: a restarted server is back within a second or two
    /// (or a fleet's balancer sends the next attempt to another node), and without the window
    /// the controller would find it seconds later, its delay grown by the refused attempts in
    /// between. The price is an attempt every `backoff_initial_ms` while the server is down.
    /// The window ends at the next `Welcome` or a kick for another reason (a live server's
    /// answer). 0: no window.
    pub restart_window_ms: u32,
}

impl Config {
    /// The defaults documented on each field.
    pub const DEFAULT: Config = Config {
        input_rate_hz: 30,
        ping_interval_ms: 5_000,
        silence_timeout_ms: 15_000,
        connect_timeout_ms: 10_000,
        join_timeout_ms: 5_000,
        write_timeout_ms: 2_000,
        close_timeout_ms: 1_000,
        backoff_initial_ms: 250,
        backoff_max_ms: 10_000,
        backoff_jitter_percent: 25,
        stable_after_ms: 5_000,
        restart_window_ms: 10_000,
    };
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}
