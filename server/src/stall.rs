//! [`WriteDeadline`]: an HTTP connection's stream whose writes must make progress.
//!
//! hyper bounds the time to read a request head, but not the time to write a response: a
//! client that asks for the 145 KB chart library (or `/stats`, or a fallback stream) and then
//! stops reading would hold its connection, and with it a place under the server-wide and the
//! per-address connection caps, for good. Enough of them and the accept loop stops for everyone.
//! The wrapper fails a write, flush or shutdown that has made no progress for its limit with
//! `TimedOut`, which ends the connection. Only a stalled write counts: a response waiting for
//! something to send (an idle fallback stream) or a connection waiting for its next request is
//! not limited here.
//!
//! A WebSocket upgraded out of a plain TCP connection takes the bare socket back
//! ([`WriteDeadline::into_inner`]) and is judged by the room's slow-client rules instead; one
//! over TLS keeps the wrapper, whose limit is set past those rules (the slow-client timeout,
//! then the closing handshake) so that they always act first.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `io` whose writes fail with `TimedOut` after `limit` without progress.
#[derive(Debug)]
pub struct WriteDeadline<I> {
    io: I,
    limit: Duration,
    /// Armed while a write is stalled: when it fires, the write fails.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> WriteDeadline<I> {
    /// Wraps `io`; a write that makes no progress for `limit` fails.
    pub fn new(io: I, limit: Duration) -> Self {
        WriteDeadline { io, limit, stalled: None }
    }

    /// The stream itself, without the deadline.
    pub fn into_inner(self) -> I {
        self.io
    }

    /// Passes on a write-side poll's result: progress disarms the deadline; a stall arms it
    /// (once, from the first `Pending`) and fails once it has passed.
    fn judge<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(sleep.as_mut().poll(cx));
        self.stalled = None;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {limit:?}"),
        )))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.judge(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.judge(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.judge(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.judge(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_limit() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = WriteDeadline::new(near, Duration::from_secs(10));
        stream.write_all(&[1; 64]).await.unwrap(); // fills the pipe
        let started = Instant::now();
        let error = stream.write_all(&[2; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));

        // A reader that keeps up, however slowly, is never cut off: each bit of progress
        // starts the limit again.
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut chunk = [0; 16];
            while got < 64 + 256 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                got += far.read(&mut chunk).await.unwrap();
            }
            got
        });
        stream.write_all(&[3; 256]).await.expect("progress every 6 s is progress");
        assert_eq!(reader.await.unwrap(), 64 + 256);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_to_read_is_not_limited() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = WriteDeadline::new(near, Duration::from_secs(1));
        let read = tokio::spawn(async move {
            let mut byte = [0];
            stream.read_exact(&mut byte).await.map(|_| byte[0])
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        far.write_all(&[7]).await.unwrap();
        assert_eq!(read.await.unwrap().unwrap(), 7);
    }
}
