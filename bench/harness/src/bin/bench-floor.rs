//! `bench-floor`: the raw floor of a broadcast. Every tick it frames one binary message of
//! `--payload-bytes` once (its tick in the first four bytes) and writes those same bytes to
//! every connected socket with one `write()` each. No reading, no per-client state beyond a
//! partial frame, no WebSocket library: what any WebSocket server pays at least to send the
//! same frames, on one thread.
//!
//! A socket that takes only part of a frame keeps the rest and finishes it on the next tick
//! instead of a new frame (so the stream stays valid); one whose buffer is full skips the
//! tick, as a latest-frame-wins server would. A socket that fails is dropped.

use anyhow::Context;
use clap::Parser;
use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;
use tickwire_bench::frame::{Opcode, write_frame};
use tickwire_bench::handshake::{MAX_HEAD, accept_response, read_request, refusal};
use tickwire_bench::spectator::raw_payload;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{MissedTickBehavior, interval, timeout};

/// The write() floor of a WebSocket broadcast: one pre-framed message written to every
/// client per tick, one write() per client.
#[derive(Debug, Parser)]
#[command(name = "bench-floor", version, about)]
struct Args {
    /// Address to listen on (WebSocket upgrades of `/ws`).
    #[arg(long, default_value = "127.0.0.1:18101")]
    bind: SocketAddr,

    /// Payload bytes of each broadcast message (at least 4: its tick).
    #[arg(long, default_value_t = 230, value_parser = clap::value_parser!(u32).range(4..=65_536))]
    payload_bytes: u32,

    /// Messages per second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    tick_rate: u32,

    /// Connections held at most; later upgrades get 503.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_clients: u32,
}

/// A connected client: its socket and the unwritten end of a frame, if any.
struct Client {
    stream: TcpStream,
    backlog: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    tokio::task::LocalSet::new().block_on(&runtime, run(args))
}

/// Serves until the process is killed (the bench script sends SIGTERM).
async fn run(args: Args) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(args.bind).await.with_context(|| format!("--bind {}", args.bind))?;
    eprintln!(
        "bench-floor: ws://{}/ws, {} B every 1/{} s",
        listener.local_addr()?,
        args.payload_bytes,
        args.tick_rate
    );
    let clients: Rc<RefCell<Vec<Client>>> = Rc::default();
    let max_clients = args.max_clients as usize;
    let acceptor = {
        let clients = clients.clone();
        async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let clients = clients.clone();
                tokio::task::spawn_local(async move {
                    let full = clients.borrow().len() >= max_clients;
                    if let Ok(Ok(stream)) =
                        timeout(Duration::from_secs(5), upgrade(stream, full)).await
                    {
                        clients.borrow_mut().push(Client { stream, backlog: Vec::new() });
                    }
                });
            }
        }
    };
    tokio::task::spawn_local(acceptor);

    let mut ticks = interval(Duration::from_secs(1) / args.tick_rate);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut frame = Vec::with_capacity(args.payload_bytes as usize + 14);
    let mut tick = 0u32;
    loop {
        ticks.tick().await;
        tick = tick.wrapping_add(1);
        frame.clear();
        write_frame(
            &mut frame,
            Opcode::Binary,
            &raw_payload(tick, args.payload_bytes as usize),
            None,
        );
        clients.borrow_mut().retain_mut(|client| send(client, &frame));
    }
}

/// One write() of the client's backlog if it has one, else of `frame`. False when the socket
/// failed.
fn send(client: &mut Client, frame: &[u8]) -> bool {
    let pending = if client.backlog.is_empty() { frame } else { &client.backlog[..] };
    match client.stream.try_write(pending) {
        Ok(n) if n == pending.len() => client.backlog.clear(),
        Ok(n) => client.backlog = pending[n..].to_vec(),
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(_) => return false,
    }
    true
}

/// Reads the upgrade request and answers it (`full`: with 503).
async fn upgrade(mut stream: TcpStream, full: bool) -> std::io::Result<TcpStream> {
    stream.set_nodelay(true)?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let refused = |what: &str| std::io::Error::new(ErrorKind::InvalidData, what.to_string());
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        match read_request(&head, "/ws") {
            Ok(None) if head.len() < MAX_HEAD => continue,
            Ok(None) => return Err(refused("head too long")),
            Ok(Some(_)) if full => {
                stream
                    .write_all(refusal(503, "bench-floor: --max-clients reached").as_bytes())
                    .await?;
                return Err(refused("full"));
            }
            Ok(Some(request)) => {
                stream.write_all(accept_response(&request.value.key).as_bytes()).await?;
                return Ok(stream);
            }
            Err(tickwire_bench::handshake::HandshakeError::BadRequest { status, message }) => {
                stream.write_all(refusal(status, message).as_bytes()).await?;
                return Err(refused(message));
            }
            Err(e) => {
                stream.write_all(refusal(400, &e.to_string()).as_bytes()).await?;
                return Err(refused("bad request"));
            }
        }
    }
}
