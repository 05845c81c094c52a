//! `bench-tungstenite`: a plain tokio-tungstenite broadcast server, as a Rust developer would
//! first write one: a current-thread runtime, a task per connection, a `broadcast` channel of
//! the tick's message (the payload shared as `Bytes`, framed by tungstenite for each client),
//! and tungstenite's read buffer at 4 KiB (its 128 KiB default is zero-filled on every read:
//! see `shared/notes/performance.md`). A client that falls 16 messages behind skips to the
//! newest.

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tickwire_bench::spectator::raw_payload;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::{MissedTickBehavior, interval, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A plain tokio-tungstenite broadcast loop: every tick one binary message to every client.
#[derive(Debug, Parser)]
#[command(name = "bench-tungstenite", version, about)]
struct Args {
    /// Address to listen on (any path upgrades).
    #[arg(long, default_value = "127.0.0.1:18102")]
    bind: SocketAddr,

    /// Payload bytes of each broadcast message (at least 4: its tick).
    #[arg(long, default_value_t = 230, value_parser = clap::value_parser!(u32).range(4..=65_536))]
    payload_bytes: u32,

    /// Messages per second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    tick_rate: u32,

    /// tungstenite's read buffer per connection, bytes.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1024..))]
    read_buffer: u32,
}

/// Messages a client may fall behind before it skips to the newest.
const CHANNEL_CAPACITY: usize = 16;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before the listener: every client takes a descriptor, and a shell's soft limit of 1,024
    // would fail the accepts of a larger crowd while the hard limit allows it.
    tickwire_bench::cli::raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

/// Serves until the process is killed (the bench script sends SIGTERM).
async fn run(args: Args) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(args.bind).await.with_context(|| format!("--bind {}", args.bind))?;
    eprintln!(
        "bench-tungstenite: ws://{}/ws, {} B every 1/{} s",
        listener.local_addr()?,
        args.payload_bytes,
        args.tick_rate
    );
    let (sender, _) = broadcast::channel::<Bytes>(CHANNEL_CAPACITY);
    let config = WebSocketConfig::default().read_buffer_size(args.read_buffer as usize);
    let frames = sender.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            tokio::spawn(serve(stream, config, frames.subscribe()));
        }
    });

    let mut ticks = interval(Duration::from_secs(1) / args.tick_rate);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut tick = 0u32;
    loop {
        ticks.tick().await;
        tick = tick.wrapping_add(1);
        // No receivers yet is fine.
        let _ = sender.send(Bytes::from(raw_payload(tick, args.payload_bytes as usize)));
    }
}

/// One client: its frames from the channel out, pings answered and its close echoed by
/// tungstenite.
async fn serve(stream: TcpStream, config: WebSocketConfig, mut frames: broadcast::Receiver<Bytes>) {
    let _ = stream.set_nodelay(true);
    let Ok(Ok(mut ws)) = timeout(
        Duration::from_secs(5),
        tokio_tungstenite::accept_async_with_config(stream, Some(config)),
    )
    .await
    else {
        return;
    };
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(payload) => {
                    if ws.send(Message::Binary(payload)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the answer; send it.
                    let _ = timeout(Duration::from_secs(1), ws.flush()).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    }
}
