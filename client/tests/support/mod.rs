//! A real tickwire server on 127.0.0.1 port 0, for the end-to-end tests of tickwire-client
//! and tickwire-bots (which includes this file).

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tickwire_server::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single expected thing may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> TestServer {
        TestServer::start_at("127.0.0.1:0".parse().unwrap(), config).await
    }

    /// A server on `addr`: the address of one shut down, for a restart.
    pub async fn start_at(addr: SocketAddr, config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tickwire_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer { addr, stop: Some(stop), task }
    }

    /// The server whose rooms run what `games` makes (a library user's own game).
    pub async fn start_with_games(
        config: ServerConfig,
        games: impl tickwire_server::game::GameFactory,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tickwire_server::Server::new(config).games(games).run(listener, async move {
            let _ = stopped.await;
        });
        TestServer { addr, stop: Some(stop), task: tokio::spawn(run) }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("run returns").unwrap();
    }
}

pub fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.seed = Some(7);
    config.max_connections_per_ip = 1000;
    config.shutdown_timeout = Duration::from_secs(3);
    config
}

/// A TCP proxy on 127.0.0.1 port 0 that holds every byte `one_way` in each direction, as a
/// link with that latency does (order kept, no loss), and can stall the uplink (client to
/// server) as Wi-Fi does, sending what it held back when it ends.
pub struct DelayProxy {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    uplink_stalled: Arc<AtomicBool>,
}

impl DelayProxy {
    pub async fn start(target: SocketAddr, one_way: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let uplink_stalled = Arc::new(AtomicBool::new(false));
        let stalled = uplink_stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { continue };
                let (in_read, in_write) = inbound.into_split();
                let (out_read, out_write) = outbound.into_split();
                tokio::spawn(delayed(in_read, out_write, one_way, stalled.clone()));
                let never = Arc::new(AtomicBool::new(false));
                tokio::spawn(delayed(out_read, in_write, one_way, never));
            }
        });
        DelayProxy { addr, task, uplink_stalled }
    }

    /// Holds back everything the client sends from now on, until [`end_uplink_stall`].
    ///
    /// [`end_uplink_stall`]: DelayProxy::end_uplink_stall
    pub fn stall_uplink(&self) {
        self.uplink_stalled.store(true, Ordering::Relaxed);
    }

    /// Sends what the stall held back, at once, and what comes after as before.
    pub fn end_uplink_stall(&self) {
        self.uplink_stalled.store(false, Ordering::Relaxed);
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk `delay` after it was read, none while `stalled`.
/// Bounded: a full queue stops the reading, as a full link would.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    stalled: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (queue, mut queued) = tokio::sync::mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(1024);
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = queued.recv().await {
            tokio::time::sleep_until(due).await;
            while stalled.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        let due = tokio::time::Instant::now() + delay;
        if queue.send((due, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}
