//! Reading thousands of sockets through one io_uring (Linux): one multishot receive per socket
//! into a shared ring of provided buffers, so a frame costs no system call of its own, no
//! `epoll_wait` and no task wake-up. `tickwire-bots --io-uring` reads its bots through it, and
//! `bench-swarm --io-uring` its raw clients (BENCHMARKS.md, "Bots on io_uring").
//!
//! A [`RingReader`] owns the ring and the buffers; sockets stay owned by the caller, who
//! [`add`](RingReader::add)s each one with a token and must keep it open until
//! [`cancel_all`](RingReader::cancel_all) returned. [`poll`](RingReader::poll) runs the
//! receives that are ready and hands each chunk of bytes to a callback, in the order each
//! socket received them.

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// The provided-buffer group every receive selects from.
const GROUP: u16 = 0;

/// The user data of the cancellation entry (tokens are socket indexes, far below).
const CANCEL_TOKEN: u64 = u64::MAX;

/// What [`RingReader::poll`] reports for one socket.
#[derive(Debug, PartialEq, Eq)]
pub enum RingEvent<'a> {
    /// Bytes the socket received, in order.
    Data(&'a [u8]),
    /// The peer closed its side: nothing more will come.
    Eof,
    /// The receive failed with this OS error; the socket is no longer read.
    Error(io::ErrorKind),
}

/// One ring, one buffer group, many sockets.
pub struct RingReader {
    // `Drop` ends every receive (and unregisters the buffers) before it frees them; the ring
    // itself closes after that.
    ring: IoUring,
    /// The ring of buffer descriptors the kernel takes buffers from (page aligned).
    descriptors: *mut types::BufRingEntry,
    descriptors_layout: Layout,
    /// `count` buffers of `buffer_len` bytes each.
    buffers: *mut u8,
    buffers_layout: Layout,
    buffer_len: usize,
    count: u16,
    /// Our copy of the descriptors' tail: buffers handed back to the kernel so far.
    tail: u16,
    /// File descriptor of each armed socket, by token, for re-arming.
    fds: Vec<Option<RawFd>>,
    /// Tokens whose multishot receive ended and must be submitted again.
    rearm: Vec<u64>,
    /// Multishot receives submitted and not yet ended (their last completion lacks `more`).
    in_flight: usize,
    /// One batch of completions, copied out of the ring (kept for its capacity).
    completions: Vec<(u64, i32, u32)>,
}

impl RingReader {
    /// A ring for up to `sockets` sockets and `count` buffers of `buffer_len` bytes (`count` a
    /// power of two, at most 32,768).
    pub fn new(sockets: usize, count: u16, buffer_len: usize) -> io::Result<RingReader> {
        if !count.is_power_of_two() || count > 32_768 || buffer_len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "count: a power of two"));
        }
        let entries = (sockets as u32).clamp(64, 4096).next_power_of_two();
        let ring = IoUring::builder()
            // Receives run when this thread asks for completions, all at once: the batching.
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(entries.saturating_mul(8).max(u32::from(count)))
            .build(entries)?;
        let descriptors_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<types::BufRingEntry>(),
            4096,
        )
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let buffers_layout = Layout::from_size_align(usize::from(count) * buffer_len, 64)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both layouts have a non-zero size (count >= 1, buffer_len >= 1).
        let (descriptors, buffers) = unsafe {
            (
                alloc_zeroed(descriptors_layout).cast::<types::BufRingEntry>(),
                alloc_zeroed(buffers_layout),
            )
        };
        if descriptors.is_null() || buffers.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut reader = RingReader {
            ring,
            descriptors,
            descriptors_layout,
            buffers,
            buffers_layout,
            buffer_len,
            count,
            tail: 0,
            fds: Vec::with_capacity(sockets),
            rearm: Vec::new(),
            completions: Vec::new(),
            in_flight: 0,
        };
        // SAFETY: `descriptors` is a zeroed, page-aligned array of `count` entries that lives
        // as long as the ring (see `Drop`: the ring is closed before it is freed).
        unsafe {
            reader.ring.submitter().register_buf_ring_with_flags(
                descriptors as u64,
                count,
                GROUP,
                0,
            )?;
        }
        for bid in 0..count {
            reader.provide(bid);
        }
        reader.publish();
        Ok(reader)
    }

    /// Puts buffer `bid` at the tail (not yet visible to the kernel: [`Self::publish`]).
    fn provide(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (self.count - 1));
        // SAFETY: `slot` < `count`, the array's length; the kernel reads only entries between
        // its head and the published tail, and this one is past the published tail.
        let entry = unsafe { &mut *self.descriptors.add(slot) };
        // SAFETY: `bid` < `count`, so the buffer lies inside the allocation.
        entry.set_addr(unsafe { self.buffers.add(usize::from(bid) * self.buffer_len) } as u64);
        entry.set_len(self.buffer_len as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the provided buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field is a u16 inside the first descriptor, which is valid and
        // aligned for as long as `self`; the kernel reads it concurrently, hence atomic.
        let tail = unsafe { &*types::BufRingEntry::tail(self.descriptors).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// Starts reading socket `fd` as `token` (a small index: tokens size a table). The caller
    /// keeps `fd` open until [`Self::cancel_all`] returned or the reader is dropped.
    pub fn add(&mut self, token: usize, fd: RawFd) {
        if self.fds.len() <= token {
            self.fds.resize(token + 1, None);
        }
        self.fds[token] = Some(fd);
        self.rearm.push(token as u64);
    }

    /// Stops reading `token`'s socket. Its receive may still be in flight until the kernel
    /// answers the cancellation, so the caller keeps the socket open until
    /// [`Self::cancel_all`] (closing it earlier is safe too: the ring holds its own
    /// reference to the file, and nothing more is reported for `token`).
    pub fn remove(&mut self, token: usize) {
        if let Some(slot) = self.fds.get_mut(token)
            && slot.take().is_some()
        {
            let cancel = opcode::AsyncCancel::new(token as u64).build().user_data(CANCEL_TOKEN);
            if self.push(&cancel).is_err() {
                // A full queue: submit it and try once more; a receive left running is ended
                // by `cancel_all` anyway and reports nothing meanwhile.
                let _ = self.ring.submit();
                let _ = self.push(&cancel);
            }
        }
    }

    /// Submits what must be (re)armed; waits until `want` receives completed, or `batch`
    /// passed with at least one, or `timeout` passed; and reports every completion to `on`
    /// as `(token, event)`. Returns how many events.
    ///
    /// Waiting for a batch makes one wake-up serve many sockets; `batch` bounds how long a
    /// lone completion waits for company. Kernels before 6.12 cannot bound it: there each
    /// completion is returned as soon as it is there.
    pub fn poll(
        &mut self,
        want: usize,
        batch: Duration,
        timeout: Duration,
        mut on: impl FnMut(usize, RingEvent<'_>),
    ) -> io::Result<usize> {
        self.arm()?;
        let timespec = types::Timespec::from(timeout);
        let mut args = types::SubmitArgs::new().timespec(&timespec);
        let mut want = want.max(1);
        if self.ring.params().is_feature_min_timeout() {
            args = args.min_wait_usec(batch.as_micros().min(u128::from(u32::MAX)) as u32);
        } else {
            want = 1;
        }
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
        let mut events = 0;
        // Copy the batch out first: the callback may not borrow the ring.
        let mut completions = std::mem::take(&mut self.completions);
        completions.clear();
        completions.extend(self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
        for &(token, result, flags) in &completions {
            if token == CANCEL_TOKEN {
                continue;
            }
            let index = token as usize;
            if !cqueue::more(flags) {
                self.in_flight -= 1;
            }
            let armed = self.fds.get(index).copied().flatten().is_some();
            if result > 0 {
                let Some(bid) = cqueue::buffer_select(flags) else { continue };
                // What the kernel promises, checked: a buffer we provided, filled at most.
                if bid >= self.count || result as usize > self.buffer_len {
                    return Err(io::Error::other("a receive named a buffer it cannot have"));
                }
                let start = usize::from(bid) * self.buffer_len;
                // SAFETY: the kernel wrote `result` bytes (checked above: at most
                // `buffer_len`) into buffer `bid` (checked: inside the allocation), which it
                // handed to us and takes back only once provided again below.
                let bytes =
                    unsafe { std::slice::from_raw_parts(self.buffers.add(start), result as usize) };
                if armed {
                    on(index, RingEvent::Data(bytes));
                    events += 1;
                }
                self.provide(bid);
                if !cqueue::more(flags) && armed {
                    self.rearm.push(token);
                }
            } else if result == -libc::ENOBUFS {
                // Every buffer was out: read again once they are back.
                if armed {
                    self.rearm.push(token);
                }
            } else if armed {
                self.fds[index] = None;
                let event = match result {
                    0 => RingEvent::Eof,
                    errno => RingEvent::Error(io::Error::from_raw_os_error(-errno).kind()),
                };
                on(index, event);
                events += 1;
            }
        }
        self.completions = completions;
        self.publish();
        Ok(events)
    }

    /// Submits a multishot receive for every token waiting for one.
    fn arm(&mut self) -> io::Result<()> {
        while let Some(token) = self.rearm.pop() {
            let Some(fd) = self.fds[token as usize] else { continue };
            let receive = opcode::RecvMulti::new(types::Fd(fd), GROUP).build().user_data(token);
            if self.push(&receive).is_err() {
                self.rearm.push(token);
                self.ring.submit()?;
            } else {
                self.in_flight += 1;
            }
        }
        Ok(())
    }

    fn push(&mut self, entry: &squeue::Entry) -> Result<(), squeue::PushError> {
        // SAFETY: a receive selects its buffer from the group (no pointer of ours in the entry
        // but the fd, which the caller keeps open, see `add`); a cancellation holds nothing.
        unsafe { self.ring.submission().push(entry) }
    }

    /// Stops reading every socket and waits until the kernel has let go of all of them: after
    /// this the caller may read, write or close the sockets itself.
    pub fn cancel_all(&mut self) -> io::Result<()> {
        self.fds.iter_mut().for_each(|fd| *fd = None);
        self.rearm.clear();
        if self.in_flight == 0 {
            return Ok(());
        }
        let cancel =
            opcode::AsyncCancel2::new(types::CancelBuilder::any()).build().user_data(CANCEL_TOKEN);
        while self.push(&cancel).is_err() {
            self.ring.submit()?;
        }
        // Every multishot receive ends with a completion without the `more` flag.
        let mut cancel_done = false;
        while self.in_flight > 0 || !cancel_done {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
            let completions: Vec<_> =
                self.ring.completion().map(|c| (c.user_data(), c.result(), c.flags())).collect();
            for (token, result, flags) in completions {
                if token == CANCEL_TOKEN {
                    cancel_done = true;
                    continue;
                }
                if let Some(bid) = cqueue::buffer_select(flags).filter(|_| result > 0) {
                    self.provide(bid);
                }
                if !cqueue::more(flags) {
                    self.in_flight -= 1;
                }
            }
            self.publish();
        }
        Ok(())
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        // Receives may still be armed: end them before the buffers go. If that fails the
        // memory is leaked rather than freed under the kernel.
        if self.cancel_all().is_err() {
            return;
        }
        // SAFETY: no receive is in flight (above), so the kernel holds no buffer; both
        // pointers came from `alloc_zeroed` with these layouts.
        unsafe {
            let _ = self.ring.submitter().unregister_buf_ring(GROUP);
            dealloc(self.descriptors.cast(), self.descriptors_layout);
            dealloc(self.buffers, self.buffers_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn each_socket_gets_its_bytes_in_order_and_its_end() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sockets: Vec<_> = (0..3).map(|_| pair(&listener)).collect();
        // Few, small buffers: a write spans several and the group runs dry.
        let mut reader = RingReader::new(3, 4, 16).unwrap();
        for (token, (client, _)) in sockets.iter().enumerate() {
            reader.add(token, client.as_raw_fd());
        }
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for (token, (_, server)) in sockets.iter().enumerate() {
            let bytes: Vec<u8> = (0..200u32).map(|i| (i * 7 + token as u32) as u8).collect();
            (&*server).write_all(&bytes).unwrap();
            expected.push(bytes);
        }
        let mut got = vec![Vec::new(); 3];
        let mut ends = vec![None; 3];
        sockets[1].1.shutdown(std::net::Shutdown::Write).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while (got[0].len() < 200 || got[2].len() < 200 || ends[1].is_none())
            && std::time::Instant::now() < deadline
        {
            reader
                .poll(1, Duration::ZERO, Duration::from_millis(50), |token, event| match event {
                    RingEvent::Data(bytes) => got[token].extend_from_slice(bytes),
                    other => ends[token] = Some(format!("{other:?}")),
                })
                .unwrap();
        }
        assert_eq!(got, expected);
        assert_eq!(ends, vec![None, Some("Eof".to_string()), None]);
        reader.cancel_all().unwrap();
        // The sockets are the caller's again: a plain read sees what came after.
        (&sockets[0].1).write_all(b"after").unwrap();
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut &sockets[0].0, &mut buf).unwrap();
        assert_eq!(&buf, b"after");
    }

    #[test]
    fn bad_buffer_counts_are_refused() {
        assert!(RingReader::new(1, 3, 16).is_err());
        assert!(RingReader::new(1, 4, 0).is_err());
    }
}
