//! A bounded in-memory byte pipe: a session's writer task writes its frames in, its HTTP
//! responses take them out.
//!
//! The writer side is an [`AsyncWrite`], so the WebSocket writer loop
//! ([`crate::connection::write_loop`]) drives it unchanged: it blocks when the pipe holds
//! its capacity, and that is the "no write progress" the room judges slow clients
//! by. The reader side takes everything buffered at once, as one [`Bytes`] without a copy: one
//! HTTP chunk of a streamed response, or the body of one long poll. A vectored write appends
//! all of its slices that fit under one lock, so a tick's frames reach a reader together.

use bytes::{Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    buffered: BytesMut,
    /// The writer shut down: once `buffered` is taken, the reader sees the end.
    shut: bool,
    /// Nobody will read again (the streamed response was dropped): writes fail.
    reader_gone: bool,
    writer: Option<Waker>,
    reader: Option<Waker>,
}

/// The pipe both sides share.
#[derive(Debug)]
pub(crate) struct Pipe {
    state: Mutex<State>,
    capacity: usize,
    /// Woken when the pipe ends for its reader (shut and taken, or the reader gone).
    ended: Notify,
}

impl Pipe {
    /// An empty pipe that holds at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe { state: Mutex::default(), capacity: capacity.max(1), ended: Notify::new() })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent; a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes everything buffered, waiting for something; `None` once the writer shut down
    /// and everything was taken.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.state();
        if !state.buffered.is_empty() {
            let taken = state.buffered.split().freeze();
            let writer = state.writer.take();
            let ended = state.shut;
            drop(state);
            if let Some(writer) = writer {
                writer.wake();
            }
            if ended {
                self.ended.notify_waiters();
            }
            return Poll::Ready(Some(taken));
        }
        if state.shut {
            drop(state);
            self.ended.notify_waiters();
            return Poll::Ready(None);
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// [`Pipe::poll_take`] as a future.
    pub(crate) async fn take(&self) -> Option<Bytes> {
        std::future::poll_fn(|cx| self.poll_take(cx)).await
    }

    /// Nobody reads any more: the writer's next write fails with `BrokenPipe`, and the buffer
    /// goes (not only what it holds: a session may linger after this, its pipe with it).
    pub(crate) fn close_reader(&self) {
        let mut state = self.state();
        state.reader_gone = true;
        state.buffered = BytesMut::new();
        let writer = state.writer.take();
        drop(state);
        if let Some(writer) = writer {
            writer.wake();
        }
        self.ended.notify_waiters();
    }

    /// True once the reader has taken everything after the writer shut down, or is gone.
    pub(crate) fn is_ended(&self) -> bool {
        let state = self.state();
        state.reader_gone || (state.shut && state.buffered.is_empty())
    }

    /// Resolves once [`Pipe::is_ended`].
    pub(crate) async fn ended(&self) {
        loop {
            let notified = self.ended.notified();
            if self.is_ended() {
                return;
            }
            notified.await;
        }
    }

    /// The writer is done: the reader gets what is buffered, then the end. (The writer task
    /// does this through `AsyncWrite::poll_shutdown`; a session whose writer never returned
    /// does it here.)
    pub(crate) fn shut_down(&self) {
        let mut state = self.state();
        state.shut = true;
        let reader = state.reader.take();
        let ended = state.buffered.is_empty();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        if ended {
            self.ended.notify_waiters();
        }
    }

    /// The writing end.
    pub(crate) fn writer(self: &Arc<Self>) -> PipeWriter {
        PipeWriter(self.clone())
    }
}

/// The writing end of a [`Pipe`].
#[derive(Debug)]
pub(crate) struct PipeWriter(Arc<Pipe>);

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(bytes)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let pipe = &self.0;
        let mut state = pipe.state();
        if state.reader_gone || state.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let wanted: usize = slices.iter().map(|s| s.len()).sum();
        if wanted == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = pipe.capacity.saturating_sub(state.buffered.len());
        if room == 0 {
            state.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut written = 0;
        for slice in slices {
            let part = &slice[..slice.len().min(room - written)];
            state.buffered.extend_from_slice(part);
            written += part.len();
            if written == room {
                break;
            }
        }
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.shut_down();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_vectored_write_lands_whole_and_is_taken_at_once() {
        let pipe = Pipe::new(64);
        let mut writer = pipe.writer();
        let slices = [io::IoSlice::new(b"ab"), io::IoSlice::new(b"cde")];
        assert_eq!(writer.write_vectored(&slices).await.unwrap(), 5);
        writer.write_all(b"f").await.unwrap();
        assert_eq!(pipe.take().await.as_deref(), Some(&b"abcdef"[..]));
        writer.shutdown().await.unwrap();
        assert!(pipe.is_ended());
        assert_eq!(pipe.take().await, None, "the end, once taken");
    }

    #[tokio::test]
    async fn a_full_pipe_blocks_the_writer_until_taken() {
        let pipe = Pipe::new(4);
        let mut writer = pipe.writer();
        assert_eq!(writer.write(b"abcdef").await.unwrap(), 4, "a short write, up to capacity");
        let blocked = tokio::spawn(async move {
            writer.write_all(b"ef").await.unwrap();
            writer
        });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished(), "no room: no progress");
        assert_eq!(pipe.take().await.as_deref(), Some(&b"abcd"[..]));
        let mut writer = blocked.await.unwrap();
        assert_eq!(pipe.take().await.as_deref(), Some(&b"ef"[..]));
        writer.shutdown().await.unwrap();
        pipe.ended().await;
    }

    #[tokio::test]
    async fn writes_fail_once_the_reader_is_gone_and_a_waiting_reader_wakes_for_data() {
        let pipe = Pipe::new(16);
        let reader = {
            let pipe = pipe.clone();
            tokio::spawn(async move { pipe.take().await })
        };
        tokio::task::yield_now().await;
        let mut writer = pipe.writer();
        writer.write_all(b"x").await.unwrap();
        assert_eq!(reader.await.unwrap().as_deref(), Some(&b"x"[..]));
        writer.write_all(b"left behind").await.unwrap();
        pipe.close_reader();
        assert!(pipe.is_ended());
        assert_eq!(pipe.state().buffered.capacity(), 0, "the buffer is freed, not only emptied");
        let e = writer.write_all(b"y").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
