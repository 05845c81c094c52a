//! A plain TCP game socket shared by the connection's reader, its writer task, and the room.
//!
//! The reader and the writer use it as an ordinary `AsyncRead`/`AsyncWrite` (each polls its
//! own readiness, so they never steal each other's wake-ups). The room may also write to it
//! directly ([`SharedTcp::try_write_vectored`]), without waking the writer task: see
//! [`crate::outbox`] for when it does. `tokio::io::split` would put a lock on every read and
//! write; this needs none, because the socket's operations all take `&self`.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// One TCP socket, shared (cloning shares it).
#[derive(Debug, Clone)]
pub struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    /// Shares `socket`.
    pub fn new(socket: TcpStream) -> Self {
        SharedTcp(Arc::new(socket))
    }

    /// Writes what the socket takes now, without waiting: `WouldBlock` when it takes nothing.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            // `try_read` clears the readiness it saw on `WouldBlock`, so the next poll waits.
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(bytes)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends FIN (the read side stays open, as with `TcpStream`'s own shutdown).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn reads_writes_and_shuts_down_through_any_clone() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let socket = SharedTcp::new(listener.accept().await.unwrap().0);
        let (mut reader, mut writer, direct) = (socket.clone(), socket.clone(), socket);
        writer.write_all(b"one ").await.unwrap();
        assert_eq!(direct.try_write_vectored(&[IoSlice::new(b"two")]).unwrap(), 3);
        writer.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"one two", "then FIN");
        peer.write_all(b"back").await.unwrap();
        drop(peer);
        let mut back = Vec::new();
        reader.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"back");
    }
}
