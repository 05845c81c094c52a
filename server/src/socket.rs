//! A plain TCP game socket: its read half for the connection's reader, its write side shared
//! by the writer task and the room.
//!
//! The writer uses it as an ordinary `AsyncWrite`; the room may also write to it directly
//! ([`SharedTcp::try_write_vectored`]), without waking the writer task: see [`crate::outbox`]
//! for when it does. `tokio::io::split` would put a lock on every read and write; this needs
//! none, because the socket's operations all take `&self`. The reader keeps tokio's own read
//! half, which knows that a read the buffer did not fill emptied the socket: it waits for the
//! next readiness instead of asking the kernel again only to hear `WouldBlock`, a second
//! `recvfrom` per ack a crowd sends
//! (`tests::a_short_read_waits_for_the_reactor_instead_of_asking_again`).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The write side of one TCP socket, shared (cloning shares it). Dropping the last clone
/// sends FIN; the socket closes once the read half is dropped too.
#[derive(Debug, Clone)]
pub struct SharedTcp {
    half: Arc<OwnedWriteHalf>,
    /// The socket's descriptor, copied beside the pointer: a room's direct writes read it for
    /// every client every tick (one `writev`, or a batched send with `--io-uring`), and
    /// behind the pointer it is two cache misses away (the write half, then the stream it
    /// shares with the read half).
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl SharedTcp {
    /// Splits `socket` into the reader's half and the shared write side.
    pub fn split(socket: TcpStream) -> (OwnedReadHalf, SharedTcp) {
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        let (read_half, write_half) = socket.into_split();
        let half = Arc::new(write_half);
        #[cfg(unix)]
        return (read_half, SharedTcp { half, fd });
        #[cfg(not(unix))]
        return (read_half, SharedTcp { half });
    }

    /// Writes what the socket takes now, without waiting: `WouldBlock` when it takes nothing.
    ///
    /// On Linux one `writev` on the descriptor kept beside the pointer: a room writes to every
    /// idle client this way every tick, and tokio's own `try_write_vectored` reaches the
    /// descriptor and the reactor's readiness through three allocations, each a cache miss in
    /// a crowd. Tokio's readiness is left as it was: after a `WouldBlock` here the frames go
    /// to the writer task, whose own write then meets the full socket and waits for the
    /// reactor (the same as after a batched send, `crate::uring`).
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        {
            // More than `IOV_MAX` (1,024) is refused by the kernel; a room writes at most a
            // handful.
            let count = bufs.len().min(1024) as libc::c_int;
            // SAFETY: `self.fd` is the stream's descriptor, open while `self` holds the
            // stream; `IoSlice` is ABI-compatible with `iovec` on Unix (std guarantees it),
            // and the kernel only reads the first `count` of them and the bytes they point at,
            // all borrowed for the call.
            let wrote = unsafe { libc::writev(self.fd, bufs.as_ptr().cast(), count) };
            if wrote < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(wrote as usize)
        }
        #[cfg(not(target_os = "linux"))]
        self.half.try_write_vectored(bufs)
    }

    fn stream(&self) -> &TcpStream {
        (*self.half).as_ref()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for SharedTcp {
    /// The socket's descriptor, open as long as this clone lives.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
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
            ready!(self.stream().poll_write_ready(cx))?;
            // `try_write_vectored` clears the readiness it saw on `WouldBlock`, so the next
            // poll waits.
            match self.half.try_write_vectored(bufs) {
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
        Poll::Ready(socket2::SockRef::from(self.stream()).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn writes_and_shuts_down_through_any_clone_and_reads_through_its_half() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut reader, socket) = SharedTcp::split(listener.accept().await.unwrap().0);
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let stream_fd = socket.stream().as_raw_fd();
            assert_eq!(socket.as_raw_fd(), stream_fd, "the copy is the stream's descriptor");
            assert_eq!(socket.clone().as_raw_fd(), stream_fd);
        }
        let (mut writer, direct) = (socket.clone(), socket);
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

    /// The room's direct writes bypass tokio's readiness: a write of the writer task after
    /// one of them found the socket full must still wait for the reactor and finish once the
    /// peer reads, not spin or stall.
    #[tokio::test]
    async fn the_writer_finishes_after_a_direct_write_found_the_socket_full() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (_reader, socket) = SharedTcp::split(listener.accept().await.unwrap().0);
        let chunk = vec![1u8; 64 << 10];
        let mut queued = 0;
        let full = loop {
            match socket.try_write_vectored(&[IoSlice::new(&chunk)]) {
                Ok(wrote) => queued += wrote,
                Err(e) => break e,
            }
        };
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
        let mut writer = socket.clone();
        let write = tokio::spawn(async move { writer.write_all(b"tail").await });
        let mut got = vec![0; queued + 4];
        tokio::time::timeout(std::time::Duration::from_secs(10), peer.read_exact(&mut got))
            .await
            .expect("the writer's bytes arrive")
            .unwrap();
        assert_eq!(&got[queued..], b"tail");
        write.await.unwrap().unwrap();
    }

    /// The reason the reader keeps tokio's read half (see the module docs): after a read that
    /// did not fill the buffer it waits for the socket's next readiness from the reactor,
    /// where a `try_read` loop would ask the kernel again at once. Bytes that arrive before
    /// the reactor looks are read on its next wake-up, not missed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_short_read_waits_for_the_reactor_instead_of_asking_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut reader, _socket) = SharedTcp::split(listener.accept().await.unwrap().0);
        peer.write_all(b"ack").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 3);
        // Sent without yielding to the reactor (the peer's socket is writable): the bytes are
        // in the reader's socket, but its readiness was cleared by the short read.
        peer.write_all(b"more").await.unwrap();
        let mut read_buf = tokio::io::ReadBuf::new(&mut buf);
        let polled = std::future::poll_fn(|cx| {
            Poll::Ready(Pin::new(&mut reader).poll_read(cx, &mut read_buf))
        })
        .await;
        assert!(polled.is_pending(), "the reader asked the kernel again after a short read");
        assert_eq!(reader.read(&mut buf).await.unwrap(), 4, "and the reactor woke it for them");
    }
}
