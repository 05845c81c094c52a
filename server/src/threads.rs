//! Where the server's work runs: rooms on threads of their own, the network on the tokio
//! runtime, and the network yielding the CPU to the rooms.
//!
//! A room's tick must start on time, every period. As a task on the network runtime (the one
//! that accepts, reads and writes the sockets) a room is one task among thousands of
//! connections' readers and writers, and when the CPU is saturated its timer's wake-up waits in
//! the run queue behind them: with 2,000 players on one core, 138 to 524 ticks in 10 s started
//! more than a period late. The same load with the rooms on a thread of their own, which the
//! network threads yield to, had none (BENCHMARKS.md, "Rooms on threads of their own"). So:
//! - [`RoomThreads`]: `--room-threads` threads, each a single-threaded tokio runtime (timers
//!   only) running the room tasks given to it. A new room goes to the thread with the fewest
//!   rooms and stays there.
//! - [`network_runtime`]: the binary's multi-threaded runtime, whose workers lower their own
//!   priority by `--room-priority` nice levels (Linux), so that the kernel runs a ready room
//!   thread before them. Raising a thread's nice value needs no privilege and lowering it does,
//!   which is why the network steps down instead of the rooms stepping up. A thread inherits its
//!   creator's nice value: the room threads must be started from a thread that has not stepped
//!   down ([`crate::server::run`] starts them where it is first polled: the binary's main
//!   thread, inside `block_on`).
//!
//! A room needs nothing from the network runtime: it never awaits a socket, writes to idle
//! clients' sockets directly (non-blocking), hands the rest to their writer tasks with one
//! wake-up each (a wake-up crosses runtimes like any other), and gets joins, leaves and chat
//! through its command channel.
//!
//! The trade-off: the kernel now interleaves a room and the network, where the runtime used to
//! run one task at a time. A crowd's room writes for most of its period at the rooms' priority,
//! and its spectators' acks are read in what the network threads get meanwhile (with the
//! default gap, about a tenth of the core while a room is ready); in the fan-out benchmark that
//! cost less per frame than taking turns on one runtime.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One thread that runs rooms.
#[derive(Debug)]
struct RoomThread {
    runtime: Handle,
    /// Rooms running on it now.
    rooms: Arc<AtomicUsize>,
    /// Dropped to stop the thread (see [`RoomThreads`]'s drop).
    _stop: oneshot::Sender<()>,
}

/// The threads that run the rooms' tick loops ([`ServerConfig::room_threads`]). Dropping it
/// stops them without waiting, and drops any room still on them: a server's rooms hold its
/// context, which holds this, so they have ended by then.
///
/// [`ServerConfig::room_threads`]: crate::config::ServerConfig::room_threads
#[derive(Debug, Default)]
pub struct RoomThreads {
    threads: Vec<RoomThread>,
}

impl RoomThreads {
    /// Starts `count` threads named `tickwire-rooms-N`. With 0, or if the system refuses a
    /// thread, rooms run on the runtime that spawns them ([`RoomThreads::spawn`]); the error
    /// says why a thread could not be started, and the threads started before it are kept.
    pub fn start(count: usize) -> (Self, Option<io::Error>) {
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            match RoomThread::start(index) {
                Ok(thread) => threads.push(thread),
                Err(e) => return (RoomThreads { threads }, Some(e)),
            }
        }
        (RoomThreads { threads }, None)
    }

    /// Threads running.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether there are none (rooms then run on the runtime that spawns them).
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Rooms running on each thread now, in thread order.
    pub fn rooms_per_thread(&self) -> Vec<usize> {
        self.threads.iter().map(|t| t.rooms.load(Ordering::Relaxed)).collect()
    }

    /// Runs `room` on the thread with the fewest rooms (the first of those), or, with no
    /// threads, as a task of the current runtime. Must be called from within a tokio runtime.
    pub fn spawn<F>(&self, room: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(thread) = self.threads.iter().min_by_key(|t| t.rooms.load(Ordering::Relaxed))
        else {
            tokio::spawn(room);
            return;
        };
        let rooms = thread.rooms.clone();
        rooms.fetch_add(1, Ordering::Relaxed);
        // Counted down however the room ends, a panic included: the guard drops with the task.
        let guard = RoomCount(rooms);
        thread.runtime.spawn(async move {
            let _guard = guard;
            room.await;
        });
    }
}

/// Counts a room out of its thread when dropped.
struct RoomCount(Arc<AtomicUsize>);

impl Drop for RoomCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RoomThread {
    fn start(index: usize) -> io::Result<Self> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (started, handle) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new().name(format!("tickwire-rooms-{index}")).spawn(move || {
            // Built and dropped on this thread: a runtime dropped on the caller's, which may be
            // a runtime's, would panic.
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = started.send(Err(e));
                    return;
                }
            };
            let _ = started.send(Ok(runtime.handle().clone()));
            // Drives the rooms until the `RoomThreads` is dropped (the sender with it); the
            // runtime, and any room still on it, is dropped here, outside of it.
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        let runtime =
            handle.recv().map_err(|_| io::Error::other("a room thread ended at its start"))??;
        Ok(RoomThread { runtime, rooms: Arc::default(), _stop: stop })
    }
}

/// The binary's network runtime: tokio's multi-threaded runtime (one worker per core the
/// process may run on), every one of whose threads steps down `room_priority` nice levels as
/// it starts ([`step_down`]), so that a room thread that is ready runs first. 0 leaves them be.
pub fn network_runtime(room_priority: u8) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            if let Err(e) = step_down(room_priority) {
                tracing::warn!(error = %e, "a network thread cannot lower its priority");
            }
        })
        .build()
}

/// Raises the calling thread's nice value by `levels` (the kernel caps it at 19), and returns
/// the new one. Linux; elsewhere it changes nothing and returns 0.
pub fn step_down(levels: u8) -> io::Result<i32> {
    let now = nice()?;
    if levels == 0 {
        return Ok(now);
    }
    set_nice(now.saturating_add(i32::from(levels)))?;
    nice()
}

/// Raises this process's soft limit on open files to its hard limit, as the Go runtime does
/// at start, and returns the soft limit now in force (`None` where it cannot be read: not
/// Linux). Each connection takes a descriptor, and shells and containers commonly start
/// processes at a soft limit of 1,024 (a hard limit of 524,288 is usual): without this the
/// server took about a thousand clients of its default ten thousand, and then could only log
/// that accepting failed. A soft limit is the process's own to raise up to the hard one.
pub fn raise_open_files_limit() -> io::Result<Option<u64>> {
    #[cfg(target_os = "linux")]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` through the pointer, which points at a live,
        // properly aligned local of that type.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            // SAFETY: setrlimit only reads one `rlimit` through the pointer, a live local.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
                return Err(io::Error::last_os_error());
            }
            limit = raised;
        }
        Ok(Some(limit.rlim_cur))
    }
    #[cfg(not(target_os = "linux"))]
    Ok(None)
}

/// The calling thread's nice value (Linux: nice is per thread); 0 elsewhere.
pub fn nice() -> io::Result<i32> {
    #[cfg(target_os = "linux")]
    {
        let tid = this_thread();
        // getpriority may return -1 as a value, so errno is cleared first and read after.
        // SAFETY: `__errno_location` returns a valid pointer to this thread's errno, and
        // getpriority takes plain integers and touches no memory of ours.
        let value = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        };
        let error = io::Error::last_os_error();
        if value == -1 && error.raw_os_error() != Some(0) {
            return Err(error);
        }
        Ok(value)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(0)
}

#[cfg(target_os = "linux")]
fn set_nice(value: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, this_thread(), value) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_nice(_: i32) -> io::Result<()> {
    Ok(())
}

/// This thread's id, which `PRIO_PROCESS` takes to mean this thread alone on Linux.
#[cfg(target_os = "linux")]
fn this_thread() -> libc::id_t {
    // SAFETY: gettid takes no arguments, cannot fail, and returns this thread's id.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as libc::id_t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or("").to_string()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        const CHILD: &str = "TICKWIRE_TEST_OPEN_FILES_CHILD";
        const NAME: &str = "threads::tests::the_open_files_limit_is_raised_to_the_hard_limit";
        if std::env::var_os(CHILD).is_none() {
            // In a process of its own: the limit is the process's, and lowered here it would
            // fail the sockets of tests running beside this one.
            let exe = std::env::current_exe().unwrap();
            let out = std::process::Command::new(exe)
                .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
                .env(CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains("open files raised"), "the child ran no test: {stdout}");
            return;
        }
        let read = || {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: as in `raise_open_files_limit`.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
            limit
        };
        let before = read();
        // Lowered first (always allowed), as a shell's 1,024 would be.
        let lowered =
            libc::rlimit { rlim_cur: before.rlim_max.min(256), rlim_max: before.rlim_max };
        // SAFETY: as in `raise_open_files_limit`.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let now = raise_open_files_limit().unwrap();
        let after = read();
        assert_eq!(after.rlim_cur, before.rlim_max, "the soft limit reaches the hard one");
        assert_eq!(now, Some(after.rlim_cur));
        println!("open files raised from 256 to {}", after.rlim_cur);
    }

    #[tokio::test]
    async fn rooms_go_to_the_thread_with_the_fewest_and_are_counted_out_when_they_end() {
        let (threads, error) = RoomThreads::start(2);
        assert!(error.is_none());
        assert_eq!(threads.len(), 2);
        let mut ends = Vec::new();
        let mut names = Vec::new();
        for _ in 0..3 {
            let (end, ended) = oneshot::channel::<()>();
            let (name_tx, name_rx) = oneshot::channel();
            threads.spawn(async move {
                let _ = name_tx.send(thread_name());
                let _ = ended.await;
            });
            names.push(name_rx.await.unwrap());
            ends.push(end);
        }
        assert_eq!(names, ["tickwire-rooms-0", "tickwire-rooms-1", "tickwire-rooms-0"]);
        assert_eq!(threads.rooms_per_thread(), [2, 1]);
        // The room on thread 1 ends: the next one goes there.
        drop(ends.remove(1));
        wait_until(|| threads.rooms_per_thread() == [2, 0]).await;
        let (name_tx, name_rx) = oneshot::channel();
        threads.spawn(async move {
            let _ = name_tx.send(thread_name());
        });
        assert_eq!(name_rx.await.unwrap(), "tickwire-rooms-1");
        wait_until(|| threads.rooms_per_thread() == [2, 0]).await;
    }

    #[tokio::test]
    async fn a_room_that_panics_is_counted_out_and_its_thread_goes_on() {
        let (threads, _) = RoomThreads::start(1);
        threads.spawn(async { panic!("a room's bug") });
        wait_until(|| threads.rooms_per_thread() == [0]).await;
        let (done, ran) = oneshot::channel();
        threads.spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _ = done.send(thread_name());
        });
        assert_eq!(ran.await.unwrap(), "tickwire-rooms-0");
    }

    #[tokio::test]
    async fn with_no_threads_rooms_run_on_the_spawning_runtime() {
        let (threads, error) = RoomThreads::start(0);
        assert!(error.is_none() && threads.is_empty());
        let (done, ran) = oneshot::channel();
        threads.spawn(async move {
            let _ = done.send(thread_name());
        });
        assert!(!ran.await.unwrap().starts_with("tickwire-rooms"));
    }

    #[test]
    fn dropping_the_threads_stops_them_and_drops_what_still_runs_there() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _entered = runtime.enter();
        let (threads, _) = RoomThreads::start(1);
        let (alive_tx, alive_rx) = std::sync::mpsc::channel::<()>();
        threads.spawn(async move {
            let _alive = alive_tx;
            std::future::pending::<()>().await;
        });
        assert_eq!(
            alive_rx.recv_timeout(Duration::from_millis(50)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "the room runs"
        );
        drop(threads);
        // The thread leaves `block_on` and drops its runtime, and the room's task with it.
        assert_eq!(
            alive_rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_steps_down_by_the_levels_asked_and_no_further_than_19() {
        let mine = nice().unwrap();
        std::thread::spawn(|| {
            let before = nice().unwrap();
            assert_eq!(step_down(0).unwrap(), before);
            assert_eq!(step_down(3).unwrap(), (before + 3).min(19));
            assert_eq!(step_down(19).unwrap(), 19);
            assert_eq!(nice().unwrap(), 19);
        })
        .join()
        .unwrap();
        // Per thread: this one kept its own.
        assert_eq!(nice().unwrap(), mine);
    }

    async fn wait_until(mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("not reached in a second");
    }
}
