//! A room's direct writes as one io_uring submission (`--io-uring`, Linux): the crowds
//! issue's moonshot.
//!
//! Without it a room writes each idle client's frames with one `writev` of its own
//! ([`crate::outbox`]), so a crowd's tick is one system call per client. With it the room
//! collects up to [`BATCH_SENDS`] [`DirectSend`]s ([`crate::outbox::ClientLink::offer_batched`])
//! and [`send_batch`] hands them to the kernel as one `io_uring_enter`: one `IORING_OP_SENDMSG`
//! per socket, with `MSG_DONTWAIT` so a full socket answers `EAGAIN` at once (its frames go to
//! its writer, as after a `writev` that took nothing) instead of waiting inside the kernel. The
//! call waits for every completion before it returns, so a tick's sends are done, with their
//! results, when the room settles them; nothing outlives the call but the ring itself.
//!
//! A room writes directly for up to half a tick; the clients past that budget are not handed
//! to their writer tasks (a wake-up, a task switch and a `writev` each) but written after the
//! tick by the room itself (`Room::send_deferred`), through the ring a batch at a time, with a
//! yield before each batch so that the other rooms of its thread run between them (the
//! connections' readers, a crowd's acks, run on the network threads meanwhile). Whoever is
//! left when the next tick is due goes to their writer after all, and the room handles the
//! joins and leaves that came meanwhile before it ticks. The trade-off: with several cores,
//! the writers of a huge room's last clients could have run on other cores in parallel; here
//! the room's own thread writes them, in its period.
//!
//! Each thread that runs rooms has its own ring of [`BATCH_SENDS`] entries, made on its first
//! batch (about 24 KiB of shared ring memory). A thread whose ring cannot be made (a kernel or
//! sandbox that forbids io_uring) writes each send with `writev` instead, and says so once;
//! [`check`] lets the binary refuse `--io-uring` at startup instead.
//!
//! What it buys, measured against the `writev` path in one run: BENCHMARKS.md, "io_uring in
//! the server".

use crate::outbox::DirectSend;
use std::io;

/// Sends per submission, and entries of each thread's ring. A room flushes its batch when it
/// holds this many: the system call is then a hundredth of the batch's cost, and the room's
/// clock (it checks its time budget between batches) is never more than one batch late.
pub const BATCH_SENDS: usize = 128;

/// Fails when this kernel (or a sandbox around it) does not let the process set up a ring.
#[cfg(target_os = "linux")]
pub fn check() -> io::Result<()> {
    linux::Ring::new().map(drop)
}

/// Fails: io_uring is Linux only.
#[cfg(not(target_os = "linux"))]
pub fn check() -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring is Linux only"))
}

/// Writes every send's frames to its socket, as many as it takes without waiting, and stores
/// in `results[i]` what `sends[i]`'s socket took (bytes, or the error; `WouldBlock`: nothing).
/// All of them are done when it returns. Returns how many submissions went through a ring (0:
/// this thread has none, and each send was a `writev`).
pub fn send_batch(sends: &[DirectSend<'_>], results: &mut Vec<io::Result<usize>>) -> usize {
    results.clear();
    #[cfg(target_os = "linux")]
    if let Some(submissions) = linux::send_batch(sends, results) {
        return submissions;
    }
    results.extend(sends.iter().map(DirectSend::try_write));
    0
}

#[cfg(target_os = "linux")]
mod linux {
    use super::BATCH_SENDS;
    use crate::outbox::{DIRECT_FRAMES_MAX, DirectSend};
    use io_uring::{IoUring, opcode, types};
    use std::cell::RefCell;
    use std::io;

    /// A thread's ring, or why it has none.
    enum State {
        Untried,
        Ready(Box<Ring>),
        Unavailable,
    }

    thread_local! {
        static RING: RefCell<State> = const { RefCell::new(State::Untried) };
    }

    /// Sends `sends` through this thread's ring and returns how many submissions that took;
    /// `None` (and `results` untouched) when the thread has no ring.
    pub(super) fn send_batch(
        sends: &[DirectSend<'_>],
        results: &mut Vec<io::Result<usize>>,
    ) -> Option<usize> {
        RING.with_borrow_mut(|state| {
            if let State::Untried = state {
                *state = match Ring::new() {
                    Ok(ring) => State::Ready(Box::new(ring)),
                    Err(error) => {
                        tracing::warn!(%error, "--io-uring: no ring on this thread; writing with writev");
                        State::Unavailable
                    }
                };
            }
            let State::Ready(ring) = state else { return None };
            for chunk in sends.chunks(BATCH_SENDS) {
                ring.send_chunk(chunk, results);
            }
            Some(sends.len().div_ceil(BATCH_SENDS))
        })
    }

    /// A ring and the message headers its sends point at.
    pub(super) struct Ring {
        ring: IoUring,
        /// One `msghdr` per send of the chunk, pointing into `slices`.
        headers: Vec<libc::msghdr>,
        /// Each send's frames (at most `DIRECT_FRAMES_MAX`: what was owed, the tick's events
        /// and its snapshot).
        slices: Vec<[libc::iovec; DIRECT_FRAMES_MAX]>,
        /// Each completion's result, by send.
        completed: Vec<i32>,
    }

    impl Ring {
        pub(super) fn new() -> io::Result<Ring> {
            Ok(Ring {
                ring: IoUring::new(BATCH_SENDS as u32)?,
                headers: Vec::with_capacity(BATCH_SENDS),
                slices: Vec::with_capacity(BATCH_SENDS),
                completed: Vec::with_capacity(BATCH_SENDS),
            })
        }

        /// Submits one send per entry of `chunk` (at most [`BATCH_SENDS`]) with one system call,
        /// waits for all of them, and appends their results to `results`.
        fn send_chunk(&mut self, chunk: &[DirectSend<'_>], results: &mut Vec<io::Result<usize>>) {
            debug_assert!(chunk.len() <= BATCH_SENDS);
            let empty = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
            self.slices.clear();
            for send in chunk {
                let mut slices = [empty; DIRECT_FRAMES_MAX];
                for (slot, frame) in slices.iter_mut().zip(send.frames()) {
                    // The kernel only reads through it (a send), so the `*mut` is never used
                    // to write the shared frame.
                    *slot =
                        libc::iovec { iov_base: frame.as_ptr() as *mut _, iov_len: frame.len() };
                }
                self.slices.push(slices);
            }
            // Made only once `slices` is complete: its buffer no longer moves.
            self.headers.clear();
            for (send, slices) in chunk.iter().zip(&mut self.slices) {
                // SAFETY: `msghdr` is a C struct of pointers, lengths and flags, for which all
                // zero bytes are a valid value (no address, no control data, no flags).
                let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
                header.msg_iov = slices.as_mut_ptr();
                header.msg_iovlen = send.frames().count().min(DIRECT_FRAMES_MAX) as _;
                self.headers.push(header);
            }
            for (index, (send, header)) in chunk.iter().zip(&self.headers).enumerate() {
                let entry = opcode::SendMsg::new(types::Fd(send.fd()), header)
                    // A full socket answers EAGAIN now instead of waiting in the kernel; a
                    // closed one answers EPIPE, not SIGPIPE.
                    .flags((libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as u32)
                    .build()
                    .user_data(index as u64);
                // SAFETY: the entry points at `header`, its `slices`, the frames they point at
                // (held by `chunk`'s sends) and the socket (its descriptor stays open until
                // the send is completed: its link keeps the socket while the send is in
                // flight, `DirectSend::fd`). All of them are borrowed for this whole function
                // and none moves or is freed before `reap` has seen every entry of the chunk
                // complete: it returns only then, or aborts the process. The queue has `BATCH_SENDS` entries and was emptied by the
                // previous `reap`, and the chunk has at most that many, so the push fits.
                unsafe { self.ring.submission().push(&entry) }
                    .expect("a chunk fits the submission queue");
            }
            self.reap(chunk.len());
            results.extend(self.completed.iter().map(|&result| match result {
                sent if sent >= 0 => Ok(sent as usize),
                errno => Err(io::Error::from_raw_os_error(-errno)),
            }));
        }

        /// Submits and waits until all `count` sends completed, storing each result by its
        /// send's index.
        fn reap(&mut self, count: usize) {
            self.completed.clear();
            self.completed.resize(count, 0);
            let mut reaped = 0;
            while reaped < count {
                match self.ring.submit_and_wait(count - reaped) {
                    Ok(_) => {}
                    // Nothing was lost: ask again.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                        ) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                    // The kernel may still read the frames of sends in flight, so nothing may be
                    // freed or reused; there is no safe way on.
                    Err(e) => {
                        tracing::error!(error = %e, "io_uring_enter failed with sends in flight");
                        std::process::abort();
                    }
                }
                for completion in self.ring.completion() {
                    self.completed[completion.user_data() as usize] = completion.result();
                    reaped += 1;
                }
            }
        }
    }
}
