//! A virtual controller on the host: the same no_std client, on tokio, over
//! `FromTokio<TcpStream>`. Steers in circles and prints feedback and status.
//!
//! ```text
//! cargo run -p tickwire-client-embedded --example host-controller -- ws://127.0.0.1:8080/ws [room] [name]
//! ```

use embedded_io_adapters::tokio_1::FromTokio;
use std::net::SocketAddr;
use std::time::Instant;
use tickwire_client_embedded::{
    App, Buffers, Client, Config, Connector, Endpoint, Event, Identity, Pad,
};
use tokio::net::TcpStream;

struct TokioConnector(SocketAddr);

impl Connector for TokioConnector {
    type Transport<'a> = FromTokio<TcpStream>;
    type Error = std::io::Error;

    async fn connect(&mut self) -> Result<FromTokio<TcpStream>, std::io::Error> {
        let stream = TcpStream::connect(self.0).await?;
        stream.set_nodelay(true)?;
        Ok(FromTokio::new(stream))
    }
}

/// Scripted input: a full circle every 3 s, boosting for one second in four.
struct Circles {
    start: Instant,
    last: Option<tickwire_shared::ControllerFeedback>,
}

impl App for Circles {
    fn input(&mut self) -> Pad {
        let t = self.start.elapsed().as_secs_f32();
        let angle = t * std::f32::consts::TAU / 3.0;
        let boost = (t as u32) % 4 == 0;
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
}

/// `ws://host[:port]/path` into (host header, address, path).
async fn parse(url: &str) -> anyhow::Result<(String, SocketAddr, String)> {
    let rest =
        url.strip_prefix("ws://").ok_or_else(|| anyhow::anyhow!("expected ws://host:port/path"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/ws"),
    };
    let lookup = if host.contains(':') { host.to_string() } else { format!("{host}:80") };
    let addr = tokio::net::lookup_host(&lookup)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?;
    Ok((host.to_string(), addr, path.to_string()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    let room = args.next();
    let name = args.next().unwrap_or_else(|| "host-controller".into());
    let (host, addr, path) = parse(&url).await?;
    println!("virtual controller {name} -> {addr} (Host: {host}, path {path})");

    // The same fixed buffers a board would keep in statics.
    let (mut rx, mut tx, mut msg) = ([0u8; 512], [0u8; 384], [0u8; 256]);
    let buffers = Buffers::new(&mut rx, &mut tx, &mut msg)?;
    let identity = Identity::controller(&name, room.as_deref());
    let endpoint = Endpoint { host: &host, path: &path };
    let mut client = Client::new(
        TokioConnector(addr),
        rand_core::OsRng,
        Config::DEFAULT,
        identity,
        endpoint,
        buffers,
    );
    let mut app = Circles { start: Instant::now(), last: None };
    tokio::select! {
        _ = client.run(&mut app) => unreachable!("run never returns"),
        _ = tokio::signal::ctrl_c() => println!("bye"),
    }
    Ok(())
}
