//! The MPS2's CMSDK APB watchdog (at `0x4000_8000`, counting down at the 25 MHz peripheral
//! clock; QEMU models it and wires its interrupt to the NMI), fed by a task.
//!
//! A panic already resets this board (`uart`), so the watchdog is for a starved executor: a
//! task that spins without awaiting keeps the feeding task from running, and at the first
//! timeout the NMI reports it on the UART and resets the board (QEMU exits under `-no-reboot`).
//! Should even that handler not get through, the watchdog's second timeout resets the board
//! itself. A future stuck on an `await` that never completes is not caught: the executor, and
//! the feeding task with it, keep running.
//! QEMU's clock stops while gdb holds the CPU, so a debugging session is never reset.

use core::ptr;
use embassy_time::{Duration, Timer};

const BASE: usize = 0x4000_8000;
const LOAD: usize = BASE;
const CONTROL: usize = BASE + 0x08;
const INTCLR: usize = BASE + 0x0c;
const LOCK: usize = BASE + 0xc00;
/// Written to LOCK, enables writes to the other registers; any other value disables them.
const UNLOCK_KEY: u32 = 0x1acc_e551;
/// Runs the counter and raises the interrupt (the NMI) at its first timeout.
const CONTROL_INTEN: u32 = 1 << 0;
/// Resets the board at the second timeout, when the interrupt is still pending.
const CONTROL_RESEN: u32 = 1 << 1;
/// Watchdog clock cycles (25 MHz) per second.
const CYCLES_PER_SECOND: u64 = 25_000_000;

/// How long the executor may go without feeding the watchdog before the NMI resets the board;
/// the longest legitimate pause between two feeds is one feeding period, as every wait in this
/// firmware is an `await`.
pub const TIMEOUT: Duration = Duration::from_secs(8);
/// How often [`task`] feeds it.
const FEED: Duration = Duration::from_secs(1);
const _: () = assert!(TIMEOUT.as_secs() * CYCLES_PER_SECOND <= u32::MAX as u64);

fn write(address: usize, value: u32) {
    // SAFETY: `address` is one of the watchdog registers above: 4-aligned device registers that
    // exist on every MPS2 FPGA image (and in QEMU's model) for the whole program; writing them
    // touches nothing in Rust's memory. This module is the watchdog's only user, and after
    // `start` only `task` writes, so unlock-write-lock sequences never interleave.
    unsafe { ptr::write_volatile(address as *mut u32, value) }
}

/// Writes `value` to `register` between an unlock and a lock (the lock guards the watchdog
/// against stray writes).
fn unlocked_write(register: usize, value: u32) {
    write(LOCK, UNLOCK_KEY);
    write(register, value);
    write(LOCK, 0);
}

/// Arms the watchdog with [`TIMEOUT`]. Spawn [`task`] right after.
pub fn start() {
    unlocked_write(LOAD, (TIMEOUT.as_secs() * CYCLES_PER_SECOND) as u32);
    unlocked_write(CONTROL, CONTROL_INTEN | CONTROL_RESEN);
}

/// Feeds the watchdog every second: writing INTCLR reloads the counter from LOAD.
#[embassy_executor::task]
pub async fn task() -> ! {
    loop {
        unlocked_write(INTCLR, 1);
        Timer::after(FEED).await;
    }
}
