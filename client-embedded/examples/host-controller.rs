//! A virtual controller on the host: the same no_std client, on tokio, over
//! `FromTokio<TcpStream>`. Steers in circles and prints feedback and status; Ctrl-C leaves
//! the room properly (close 1000, the seat is freed at once).
//!
//! ```text
//! cargo run -p tickwire-client-embedded --example host-controller -- ws://127.0.0.1:8080/ws [room] [name]
//! ```
//!
//! Without a room (or with ""), it joins any room with a free seat.

use embedded_io_adapters::tokio_1::FromTokio;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tickwire_client_embedded::{
    App, Buffers, Client, Config, Connector, Event, Identity, Pad, ServerUrl,
};
use tokio::net::TcpStream;

/// Connects to the first of the resolved addresses that answers (`localhost` may resolve
/// to `::1` before `127.0.0.1`).
struct TokioConnector(Vec<SocketAddr>);

impl Connector for TokioConnector {
    type Transport<'a> = FromTokio<TcpStream>;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<FromTokio<TcpStream>, std::io::Error> {
        // The session's `Disconnect::Connect` carries no cause (it is `Copy` and fits a
        // microcontroller), so the host says it here: "connection refused" is the usual one.
        let stream = TcpStream::connect(&self.0[..])
            .await
            .inspect_err(|e| eprintln!("cannot connect to {:?}: {e}", self.0))?;
        stream.set_nodelay(true)?;
        Ok(FromTokio::new(stream))
    }
}

/// Scripted input: a full circle every 3 s, boosting for one second in four.
struct Circles {
    start: Instant,
    last: Option<tickwire_shared::ControllerFeedback>,
    /// Set by Ctrl-C.
    quit: Arc<AtomicBool>,
}

impl App for Circles {
    fn input(&mut self) -> Pad {
        let t = self.start.elapsed().as_secs_f32();
        let angle = t * std::f32::consts::TAU / 3.0;
        let boost = (t as u32).is_multiple_of(4);
        Pad {
            x: (angle.cos() * 127.0) as i8,
            y: (angle.sin() * 127.0) as i8,
            buttons: if boost { tickwire_shared::Buttons::BOOST } else { 0 },
        }
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::Connecting { attempt } => println!("connecting (attempt {attempt})"),
            Event::Joined(j) => println!(
                "joined room {} as player {} (ship {:?}, resumed: {})",
                j.room, j.player_id.0, j.entity, j.resumed
            ),
            Event::Feedback(f) if self.last.as_ref() != Some(f) => {
                let [r, g, b] = f.colour.0;
                println!(
                    "feedback: colour #{r:02x}{g:02x}{b:02x} score {} alive {} rumble {}",
                    f.score, f.alive, f.rumble
                );
                self.last = Some(*f);
            }
            Event::Feedback(_) => {}
            Event::Kicked(k) => println!("kicked: {:?} ({})", k.reason, k.message),
            Event::Disconnected { reason, retry_in_ms } => {
                println!("disconnected: {reason}; retrying in {retry_in_ms} ms")
            }
        }
    }

    fn wants_to_leave(&mut self) -> bool {
        self.quit.load(Ordering::Relaxed)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    const USAGE: &str = "usage: host-controller [URL (default ws://127.0.0.1:8080/ws)] [ROOM \
                         (default or \"\": any room with a free seat)] [NAME (default host-controller)]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    if let Some(option) = args.iter().find(|a| a.starts_with('-')) {
        anyhow::bail!("unknown option {option}\n{USAGE}");
    }
    let mut args = args.into_iter();
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    // "" joins any room, as an empty TICKWIRE_ROOM does on a board.
    let room = args.next();
    let name = args.next().unwrap_or_else(|| "host-controller".into());
    // The same parser a board runs on its build-time URL.
    let server = ServerUrl::parse(&url).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    // Refused here, with the reason, rather than kicked by the server on every attempt.
    let identity = Identity::controller(&name, room.as_deref())
        .map_err(|e| anyhow::anyhow!("name {name:?}, room {room:?}: {e}"))?;
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((server.host(), server.port())).await?.collect();
    anyhow::ensure!(!addrs.is_empty(), "{} does not resolve", server.host());
    println!(
        "virtual controller {name} -> {addrs:?} (Host: {}, path {})",
        server.authority(),
        server.path()
    );

    // The buffers a board keeps in statics. The URL comes at run time here, so the send
    // buffer is sized then: a `?token=<jwt>` makes the upgrade request longer than 384 bytes.
    let (mut rx, mut msg) = ([0u8; 512], [0u8; 256]);
    let mut tx = vec![0u8; Buffers::tx_len_for(&server)];
    let buffers = Buffers::new(&mut rx, &mut tx, &mut msg)?;
    let mut client = Client::new(
        TokioConnector(addrs),
        rand_core::OsRng,
        Config::DEFAULT,
        identity,
        server.endpoint(),
        buffers,
    )?;
    let quit = Arc::new(AtomicBool::new(false));
    let mut app = Circles { start: Instant::now(), last: None, quit: quit.clone() };
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        quit.store(true, Ordering::Relaxed);
    });
    let left = client.run(&mut app).await;
    let how = if left.answered { "the server answered" } else { "no answer" };
    println!("left the room ({how})");
    Ok(())
}
