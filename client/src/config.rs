//! [`Config`]: every timing knob of a session and its driver, and [`Reconnect`], the policy
//! that says when to try again after a connection ends.

use std::time::Duration;

/// Timing of a [`Session`](crate::Session) and of the tokio [`Client`](crate::Client).
///
/// Start from `Config::default()` and change fields; the struct is `#[non_exhaustive]` so new
/// knobs are not breaking. `Duration::ZERO` turns any timeout or interval off, and so does a
/// duration too long for the clock (`Duration::MAX`):
///
/// ```
/// let mut config = tickwire_client::Config::default();
/// config.ping_interval = std::time::Duration::from_secs(1);
/// config.reconnect = tickwire_client::Reconnect::NEVER;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Interval of tickwire `Ping`s while joined, the first at the join; each answer updates
    /// [`Session::rtt`](crate::Session::rtt) and yields [`Event::Pong`](crate::Event::Pong).
    /// Default 5 s. A ping costs 6 bytes each way; `Duration::ZERO` sends no periodic one
    /// (the session still pings when inputs or chat lines wait for the server to confirm
    /// earlier ones: see [`Config::max_inputs_unconfirmed`], [`Config::chat_rate_per_sec`]).
    pub ping_interval: Duration,
    /// Silence (no frame of any kind received) after which the connection is taken for dead
    /// and dropped without a close frame, so the server keeps the seat for a resume.
    /// Default 15 s: a joined player or spectator gets a snapshot every tick (and a WebSocket
    /// ping after 5 s of its own silence), so 15 s rides out a long stall; lower notices a dead
    /// link sooner at the risk of dropping a merely slow one. `Duration::ZERO`: never, only a
    /// failing socket ends the connection (a dead link may then go unnoticed for as long as
    /// TCP takes, many minutes).
    pub silence_timeout: Duration,
    /// Time to open TCP and complete the WebSocket upgrade. Default 10 s.
    /// `Duration::ZERO`: no limit but the operating system's own TCP connect timeout.
    pub connect_timeout: Duration,
    /// Time from the upgrade to the server's `Welcome`. Default 5 s. The server's handshake
    /// timeout (also 5 s by default, `--handshake-timeout`) bounds only the arrival of our
    /// `Hello`, not its answer: a busy room may take up to about 10 s to seat a join, and in a
    /// fleet the hop to the node holding the room adds to that. A join that times out is
    /// dropped and retried as a failed attempt, so the default gives up early on a join that
    /// is merely slow, in exchange for retrying soon a server that never answers; raise it
    /// for a heavily loaded server or a fleet. `Duration::ZERO`: no limit but
    /// [`Config::silence_timeout`].
    pub join_timeout: Duration,
    /// Time the closing handshake may take: after our close frame, waiting for the server's
    /// answer; after the server's close frame, waiting for it to end the TCP connection.
    /// Default 2 s, the server's `--close-timeout`. `Duration::ZERO`: no limit, waiting as
    /// long as the server keeps the connection (a tickwire server ends it after its own close
    /// timeout; leaving may hang on another one).
    pub close_timeout: Duration,
    /// When and how to reconnect after a connection ends. Default: forever once a `Welcome`
    /// arrived, 5 times before the first one, with jittered exponential backoff from 250 ms
    /// to 10 s ([`Reconnect::default`]).
    pub reconnect: Reconnect,
    /// The server's chat limit: lines per second, and lines back to back. Default 2 per
    /// second, burst 5: the server's defaults (`--chat-rate`, `--chat-burst`), above which it
    /// closes the connection with 1008, ending the seat. The session sends at this rate with
    /// a burst of one line fewer, and counts every line the server has not confirmed yet
    /// (with the `Pong` of a `Ping` sent after it) as arriving with the next one: lines held
    /// up by a stalled uplink reach the server back to back, and must still find tokens
    /// there. When a line waits for such a confirmation the session sends that `Ping`, so
    /// past the burst a line may wait a round trip longer than the rate alone says. Lines
    /// over the rate wait in a queue of [`Config::chat_queue`] lines.
    pub chat_rate_per_sec: u32,
    /// See [`Config::chat_rate_per_sec`]. Default 5.
    pub chat_burst: u32,
    /// Inputs sent per second at most. Default `None`: one a tick of the room (its
    /// `Welcome`'s tick rate, 30 before it, timed to reach the server mid-tick: PROTOCOL.md 4,
    /// "When to send"), at most two back to back after a late frame, so
    /// a game may call [`Session::send_input`](crate::Session::send_input) every frame at any
    /// frame rate and the server applies each input it sends (it applies one a tick,
    /// PROTOCOL.md 4, and of inputs sent faster only the newest), which is what a prediction
    /// replays ([`Prediction`](crate::Prediction)). An input over the rate waits for its
    /// turn, replaced by any newer one meanwhile (keeping the buttons it held, so a press
    /// shorter than a tick is still sent). `Some(rate)` sends up to `rate` a second, after
    /// [`Config::input_burst`] back to back: a load test's; keep it under the server's limit
    /// (`--input-rate` 120, `--input-burst` 360 by default), past which it closes the
    /// connection with 1008.
    pub input_rate_per_sec: Option<u32>,
    /// Inputs sent back to back before an `input_rate_per_sec` of `Some(rate)` paces them.
    /// Default 50.
    pub input_burst: u32,
    /// Inputs sent that the server has not confirmed yet (by a snapshot's `last_input`, or the
    /// `Pong` of a `Ping` sent after them), at most. Past it the newest input waits, replaced
    /// by newer ones, until a confirmation comes (the session pings for one once half of
    /// them are unconfirmed, which a controller, without snapshots, needs). Default 200:
    /// inputs held up by a stalled uplink (Wi-Fi) reach the server back to back when it
    /// recovers, and this many plus the pacing's burst (2, or [`Config::input_burst`] with a
    /// rate set) must fit the server's input burst (360, `--input-burst`) or it kicks the
    /// client (1008, `RateLimited`), ending the seat and the session (the kick is not
    /// retried: [`Disconnect::Kicked`](crate::Disconnect::Kicked)). At one input a tick of a
    /// 30 Hz room, 200 is 6.7 s of inputs: lower stops sending sooner on a long round trip;
    /// higher, past that sum, risks the kick.
    pub max_inputs_unconfirmed: usize,
    /// Chat lines waiting for their turn at most; [`Session::send_chat`](crate::Session::send_chat)
    /// refuses more. Default 16.
    pub chat_queue: usize,
    /// Inputs whose acknowledgement is awaited for [`Event::InputAcked`](crate::Event::InputAcked)
    /// latencies. Default 64 (about 2 s of inputs at 30 per second); older ones are forgotten
    /// unmeasured.
    pub inputs_in_flight: usize,
    /// Events waiting for the application at most. The tokio driver reads the next message
    /// only once every event is taken, so this bound matters only to other drivers that
    /// don't drain [`Session::poll_event`](crate::Session::poll_event); past it the oldest
    /// events are dropped and counted in [`Stats::events_dropped`](crate::Stats::events_dropped).
    /// Default 1024.
    pub max_events: usize,
    /// tungstenite's read buffer, in bytes (the tokio driver). Default 4096, which is also
    /// the floor: tungstenite 0.30's client handshake hands its 4 KiB response buffer on as
    /// the read buffer, so smaller values change nothing. A snapshot of a full room is about
    /// 1 KB; a bigger buffer costs memory per connection and time (tungstenite zero-fills the
    /// free part before each read).
    pub read_buffer_size: usize,
    /// Acknowledge each rebuilt snapshot, so the server sends deltas against it. Default
    /// true. False never acks: every snapshot is then full, which only a load test that
    /// measures full snapshots (`tickwire-bots --no-ack`) wants; a game would pay several
    /// times the bandwidth.
    pub ack_snapshots: bool,
    /// A spectator acknowledges the newest rebuilt snapshot once it is this many ticks past
    /// its last ack. Default 30 (once a second at 30 Hz). A spectator sends nothing but acks,
    /// so each is a message the server must wake up for and read, and a tickwire server
    /// encodes against the snapshots its socket took rather than against acks (PROTOCOL.md
    /// 6.1): acks only need to come within 64 ticks, round trip included, or the server sends
    /// full snapshots. Smaller values make deltas smaller only where the server encodes
    /// against acks (a server other than tickwire). 1 acks every snapshot. Counted in ticks,
    /// so a spectator that skips frames acks no later in time. Players ack every snapshot,
    /// whatever this says, each ack a message of its own (the protocol's `Input` carries no
    /// ack): a player sending an input a tick sends two messages a tick, written to the
    /// socket together (one TCP segment) when both are due at once.
    pub spectator_ack_every: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_interval: Duration::from_secs(5),
            silence_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            join_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(2),
            reconnect: Reconnect::default(),
            chat_rate_per_sec: 2,
            chat_burst: 5,
            input_rate_per_sec: None,
            input_burst: 50,
            max_inputs_unconfirmed: 200,
            chat_queue: 16,
            inputs_in_flight: 64,
            max_events: 1024,
            read_buffer_size: 4096,
            ack_snapshots: true,
            spectator_ack_every: 30,
        }
    }
}

/// The reconnect policy, as data: the session computes every delay from it, the driver only
/// sleeps. Which endings are retried at all is decided per [`Disconnect`](crate::Disconnect)
/// ([`Disconnect::retry`](crate::Disconnect::retry)); this says how often and how soon.
///
/// `#[non_exhaustive]` as [`Config`] is, so `Reconnect { .., ..Reconnect::default() }` does not
/// compile outside this crate: start from [`Reconnect::default`] (or [`Reconnect::NEVER`])
/// and assign fields, or assign them in place in a [`Config`]:
///
/// ```
/// use std::time::Duration;
/// use tickwire_client::{Config, Reconnect};
/// let mut reconnect = Reconnect::default();
/// reconnect.max_initial_attempts = None; // wait for a server that is still starting
/// reconnect.max_delay = Duration::from_secs(5);
/// let mut config = Config::default();
/// config.reconnect = reconnect;
/// config.reconnect.initial_delay = Duration::from_millis(100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnect {
    /// Attempts after a connection ends (or fails) before giving up; `None` retries forever.
    /// A connection that lasted [`Reconnect::stable_after`] resets the count, and attempts in
    /// a [`Reconnect::restart_window`] are not counted. Default `None`.
    /// Before the session's first `Welcome`, [`Reconnect::max_initial_attempts`] applies too.
    pub max_attempts: Option<u32>,
    /// Attempts after the first connection fails before giving up, while the session has
    /// never been welcomed (so it holds no resume token, no seat to get back); the lower of
    /// this and [`Reconnect::max_attempts`] applies then, `max_attempts` alone once a
    /// `Welcome` arrived. Counted in attempts (connections opened, or tried, after the
    /// first); `None` retries forever. Default 5: six tries in all, about 8 s of backoff at the
    /// default delays (250 ms doubling to 4 s) plus the time each try takes (up to
    /// [`Config::connect_timeout`] or [`Config::join_timeout`]). A first join that keeps
    /// failing is a server that is down, a wrong host or port, or a server that refuses
    /// this client, and an application (and [`Client::connect`](crate::Client::connect),
    /// which returns only when the session joins or gives up) is better told so than kept
    /// waiting; the price is that a server restarting for longer than that is given up on
    /// (raise it, or `None` to wait for it). As in the JavaScript SDK (`maxInitialAttempts`).
    /// A first join refused with `Kick { Full }` is not retried at all (see
    /// [`Disconnect::Kicked`](crate::Disconnect::Kicked)).
    pub max_initial_attempts: Option<u32>,
    /// First delay. Default 250 ms: a resume lands well within the server's 10 s grace.
    pub initial_delay: Duration,
    /// Cap of the delay, which doubles per consecutive failure. Default 10 s. A delay too long
    /// for the clock waits 30 years.
    pub max_delay: Duration,
    /// Random spread of each delay, in percent either way (never above `max_delay`).
    /// Default 25, so the clients of a restarted server do not all come back in one instant.
    pub jitter_percent: u8,
    /// How long a connection must last after its `Welcome` to count as a success, which
    /// resets the delay and the attempt count when it ends. Default 5 s. A connection that
    /// ends sooner counts as a failed attempt, so a server that welcomes and then fails at
    /// once (a room that breaks on its first tick) is retried ever more slowly, not at
    /// `initial_delay` forever; the price is that a network dropping every few seconds also
    /// backs off (up to `max_delay`), and a retry late in that backoff may find its seat
    /// past the server's resume grace (10 s by default) and join afresh.
    pub stable_after: Duration,
    /// How long after the server says it goes away (`Kick { ShuttingDown }`, a close 1001 or
    /// 1012) failed attempts retry at [`Reconnect::initial_delay`] instead of doubling, and
    /// count towards neither limit. Default 10 s, the server's resume grace. A restarted
    /// server is back in well under that (systemd, a container), and a fleet's balancer sends
    /// the next attempt to another node at once; without the window the backoff has grown to
    /// 2 s or more by the time the server is back, and the player waits that long for
    /// nothing. The price is a connection attempt per client every `initial_delay` while the
    /// server is down (a refused TCP connection, or a proxy's 502), and the crowd's first
    /// joins arriving within about one `initial_delay` of its return. The window ends at the
    /// next `Welcome` or a kick for another reason (a live server's answer: a server that
    /// welcomes and fails at once is backed off from as usual), and a first join (never
    /// welcomed, no token) opens none, so [`Reconnect::max_initial_attempts`] stands.
    /// `Duration::ZERO`: no window.
    pub restart_window: Duration,
}

impl Reconnect {
    /// Never reconnect: every ending is final (load tests report refusals instead of
    /// retrying them).
    pub const NEVER: Reconnect = Reconnect {
        max_attempts: Some(0),
        max_initial_attempts: Some(0),
        initial_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(10),
        jitter_percent: 25,
        stable_after: Duration::from_secs(5),
        restart_window: Duration::ZERO,
    };

    /// The delay before attempt `failures + 1` after `failures` consecutive failures (1 for
    /// the first), with `unit` in `[0, 1)` drawn at random for the jitter.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let base = self.initial_delay.saturating_mul(1 << doublings).min(self.max_delay);
        let spread = f64::from(self.jitter_percent.min(100)) / 100.0;
        let factor = 1.0 + spread * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        // `mul_f64` would panic past `Duration::MAX` (a cap of `Duration::MAX`, jittered up).
        Duration::try_from_secs_f64(base.as_secs_f64() * factor)
            .map_or(self.max_delay, |delay| delay.min(self.max_delay))
    }
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            max_attempts: None,
            max_initial_attempts: Some(5),
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            jitter_percent: 25,
            stable_after: Duration::from_secs(5),
            restart_window: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_within_its_spread() {
        let r = Reconnect::default();
        assert_eq!(r.delay(1, 0.5), Duration::from_millis(250));
        assert_eq!(r.delay(2, 0.5), Duration::from_millis(500));
        assert_eq!(r.delay(4, 0.5), Duration::from_secs(2));
        assert_eq!(r.delay(40, 0.5), Duration::from_secs(10));
        assert_eq!(r.delay(1, 0.0), Duration::from_micros(187_500));
        assert_eq!(r.delay(1, 1.0), Duration::from_micros(312_500));
        assert_eq!(r.delay(40, 1.0), Duration::from_secs(10), "jitter never exceeds the cap");
    }

    #[test]
    fn a_delay_of_duration_max_does_not_overflow() {
        let r = Reconnect {
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            ..Reconnect::default()
        };
        assert_eq!(r.delay(1, 1.0), Duration::MAX, "jittered up past the clock: the cap");
    }
}
