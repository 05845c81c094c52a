//! The listener: accepts TCP connections, serves HTTP/1.1 on each (with upgrades), and shuts
//! everything down when told.
//!
//! `run(listener, config, shutdown)` returns once every client got its close 1001 and every
//! task ended, or after [`ServerConfig::shutdown_timeout`], whichever comes first.

use crate::config::ServerConfig;
use crate::context::ServerContext;
use crate::http::{PeerAddr, refuse_large_head, router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tracing::{debug, error, info, warn};

/// TCP connections still speaking HTTP (not yet upgraded) beyond the WebSocket cap; past it,
/// accepting pauses until one finishes.
const HTTP_CONNECTION_HEADROOM: u32 = 1024;

/// Answers a connection from an address over its connection limit with a 429 and closes it,
/// without reading its request (a bounded write: a peer that does not read gets dropped).
async fn refuse_busy_address(mut stream: tokio::net::TcpStream, limit: u32) {
    use tokio::io::AsyncWriteExt;
    let body = format!("too many connections from your address (limit {limit}); retry later\n");
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serves on `listener` until `shutdown` resolves, then closes every client with 1001.
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: impl Future) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shutdown_timeout = config.shutdown_timeout;
    let http_limit =
        Arc::new(Semaphore::new((config.max_connections + HTTP_CONNECTION_HEADROOM) as usize));
    let ctx = ServerContext::new(config, shutdown_rx);
    let app = router(ctx.clone());
    tokio::pin!(shutdown);

    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = http_limit.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                // Usually out of file descriptors: wait for some to free instead of spinning.
                warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some(tcp_permit) = ctx.admit_tcp(peer.ip()) else {
            ctx.metrics.refused("per_ip");
            ctx.tasks.spawn(refuse_busy_address(stream, ctx.tcp_limit_per_ip()));
            continue;
        };
        // Snapshots are small and latency-bound: never wait to coalesce them.
        let _ = stream.set_nodelay(true);
        if ctx.config.socket_send_buffer > 0 {
            let _ =
                socket2::SockRef::from(&stream).set_send_buffer_size(ctx.config.socket_send_buffer);
        }
        let app = app.clone();
        let ctx_conn = ctx.clone();
        ctx.tasks.spawn(async move {
            let _permits = (permit, tcp_permit);
            let ctx_req = ctx_conn.clone();
            let service = hyper::service::service_fn(move |mut req| {
                req.extensions_mut().insert(PeerAddr(peer));
                let refusal = refuse_large_head(&req, &ctx_req);
                let app = app.clone();
                async move {
                    match refusal {
                        Some(refusal) => Ok(refusal),
                        None => app.oneshot(req).await,
                    }
                }
            });
            let head_limit = ctx_conn.config.max_request_head as usize;
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                // Past twice the documented limit hyper refuses (431) before a request exists.
                .max_header_size(2 * head_limit)
                .max_buf_size((2 * head_limit).max(8192) + 4096)
                .header_read_timeout(ctx_conn.config.handshake_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "http connection ended with an error");
                    }
                }
                _ = crate::connection::shutdown_signal(&ctx_conn) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                }
            }
        });
    }

    info!("shutting down: closing every client with 1001");
    drop(listener);
    let _ = shutdown_tx.send(true);
    ctx.tasks.close();
    if tokio::time::timeout(shutdown_timeout, ctx.tasks.wait()).await.is_err() {
        error!(remaining = ctx.tasks.len(), "shutdown timed out; dropping remaining tasks");
    } else {
        info!("shutdown complete");
    }
}
