//! `bench-floor`: the raw floor of a broadcast. Every tick it frames one binary message of
//! `--payload-bytes` once (its tick in the first four bytes) and writes those same bytes to
//! every connected socket with one `write()` each. No reading, no per-client state beyond a
//! partial frame, no WebSocket library: what any WebSocket server pays at least to send the
//! same frames, on one thread.
//!
//! A socket that takes only part of a frame keeps the rest and finishes it on the next tick
//! instead of a new frame (so the stream stays valid); one whose buffer is full skips the
//! tick, as a latest-frame-wins server would. A socket that fails is dropped.
//!
//! `--io-uring` (Linux): the same sends, but a tick's sends to every socket go to the kernel as
//! one io_uring submission (in batches of the ring's size) instead of one `write()` each: the
//! crowds issue's moonshot, measured here first, without a server around it, to learn whether
//! batching beats the floor at all.

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

    /// Send a tick to every socket with one io_uring submission (per 4,096 sockets) instead of
    /// one write() each (Linux only).
    #[arg(long)]
    io_uring: bool,
}

/// A connected client: its socket and the unwritten end of a frame, if any.
struct Client {
    stream: TcpStream,
    backlog: Vec<u8>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before the listener: every client takes a descriptor, and a shell's soft limit of 1,024
    // would fail the accepts of a larger crowd while the hard limit allows it.
    tickwire_bench::cli::raise_open_files_limit();
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

    #[cfg(target_os = "linux")]
    let mut ring = match args.io_uring {
        true => Some(uring::Sender::new().context("--io-uring: setting up the ring")?),
        false => None,
    };
    #[cfg(not(target_os = "linux"))]
    anyhow::ensure!(!args.io_uring, "--io-uring: io_uring is Linux only");
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
        let mut clients = clients.borrow_mut();
        #[cfg(target_os = "linux")]
        if let Some(ring) = ring.as_mut() {
            ring.send_all(&mut clients, &frame);
            continue;
        }
        clients.retain_mut(|client| send(client, &frame));
    }
}

/// One write() of the client's backlog if it has one, else of `frame`. False when the socket
/// failed.
fn send(client: &mut Client, frame: &[u8]) -> bool {
    let pending = if client.backlog.is_empty() { frame } else { &client.backlog[..] };
    let result = client.stream.try_write(pending);
    settle(client, frame, result)
}

/// Updates `client` after a send of its pending bytes (its backlog, or else `frame`) that
/// returned `result`: what the socket did not take waits for the next tick. False when the
/// socket failed.
fn settle(client: &mut Client, frame: &[u8], result: std::io::Result<usize>) -> bool {
    match result {
        Ok(n) if client.backlog.is_empty() => {
            if n < frame.len() {
                client.backlog = frame[n..].to_vec();
            }
        }
        Ok(n) => {
            client.backlog.drain(..n);
        }
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

/// The io_uring sender of `--io-uring`.
#[cfg(target_os = "linux")]
mod uring {
    use super::{Client, settle};
    use io_uring::{IoUring, opcode, types};
    use std::io;
    use std::os::fd::AsRawFd;

    /// Sends in flight at most: one batch, one `io_uring_enter`.
    const RING_ENTRIES: u32 = 4096;

    /// A ring and the results of the batch being reaped.
    pub struct Sender {
        ring: IoUring,
        results: Vec<i32>,
    }

    impl Sender {
        pub fn new() -> io::Result<Sender> {
            Ok(Sender { ring: IoUring::new(RING_ENTRIES)?, results: Vec::new() })
        }

        /// Sends every client its pending bytes (its backlog, or else `frame`), a batch of up
        /// to [`RING_ENTRIES`] sends per submission, and drops the clients whose socket failed.
        pub fn send_all(&mut self, clients: &mut Vec<Client>, frame: &[u8]) {
            self.results.clear();
            self.results.resize(clients.len(), 0);
            for (batch, chunk) in clients.chunks(RING_ENTRIES as usize).enumerate() {
                let first = batch * RING_ENTRIES as usize;
                for (i, client) in chunk.iter().enumerate() {
                    let pending = if client.backlog.is_empty() { frame } else { &client.backlog };
                    let send = opcode::Send::new(
                        types::Fd(client.stream.as_raw_fd()),
                        pending.as_ptr(),
                        pending.len() as u32,
                    )
                    // Never wait for room in a full socket: it skips the tick, as with write().
                    .flags(libc::MSG_DONTWAIT)
                    .build()
                    .user_data((first + i) as u64);
                    // SAFETY: the entry points at `frame` or at a client's backlog, and at its
                    // socket, and all of them outlive the send: `reap` returns only once every
                    // entry of this batch has completed (one completion each; otherwise the
                    // process aborts), and nothing touches `clients` or `frame` until then.
                    // A batch is at most the submission queue's size, so the push cannot fail.
                    unsafe { self.ring.submission().push(&send) }
                        .expect("a batch fits the submission queue");
                }
                self.reap(chunk.len());
            }
            let mut index = 0;
            let results = &self.results;
            clients.retain_mut(|client| {
                let result = match results[index] {
                    n if n >= 0 => Ok(n as usize),
                    errno => Err(io::Error::from_raw_os_error(-errno)),
                };
                index += 1;
                settle(client, frame, result)
            });
        }

        /// Submits and waits until all `count` sends of the batch completed, storing each
        /// result by its client's index.
        fn reap(&mut self, count: usize) {
            let mut reaped = 0;
            while reaped < count {
                match self.ring.submit_and_wait(count - reaped) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Sends the kernel may still read from: nothing may be freed or moved.
                    Err(e) => {
                        eprintln!("bench-floor: io_uring_enter failed with sends in flight: {e}");
                        std::process::abort();
                    }
                }
                for completion in self.ring.completion() {
                    self.results[completion.user_data() as usize] = completion.result();
                    reaped += 1;
                }
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn one_submission_sends_every_client_its_frames_in_order_and_drops_the_failed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        for _ in 0..3 {
            peers.push(TcpStream::connect(addr).await.unwrap());
            let (stream, _) = listener.accept().await.unwrap();
            clients.push(Client { stream, backlog: Vec::new() });
        }
        // The middle client resets its connection: its sends fail and it is dropped.
        let gone = peers.remove(1);
        gone.set_zero_linger().unwrap();
        drop(gone);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut sender = uring::Sender::new().expect("io_uring is available on this kernel");
        sender.send_all(&mut clients, b"frame one ");
        sender.send_all(&mut clients, b"frame two");
        assert_eq!(clients.len(), 2, "the reset client is dropped");
        for peer in &mut peers {
            let mut got = [0u8; 19];
            peer.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"frame one frame two");
        }
    }

    #[test]
    fn what_a_socket_does_not_take_waits_for_the_next_tick() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut client = Client { stream, backlog: Vec::new() };
            assert!(settle(&mut client, b"abcdef", Ok(2)));
            assert_eq!(client.backlog, b"cdef");
            assert!(settle(&mut client, b"ignored", Ok(1)));
            assert_eq!(client.backlog, b"def", "the backlog goes first, the frame waits");
            assert!(settle(&mut client, b"ignored", Err(ErrorKind::WouldBlock.into())));
            assert_eq!(client.backlog, b"def");
            assert!(settle(&mut client, b"ignored", Ok(3)));
            assert!(client.backlog.is_empty());
            assert!(!settle(&mut client, b"x", Err(ErrorKind::ConnectionReset.into())));
        });
    }
}
