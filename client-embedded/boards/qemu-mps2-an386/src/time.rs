//! embassy-time on the MPS2's two CMSDK APB timers (32-bit, counting down at the 25 MHz
//! peripheral clock), tickless:
//!
//! - TIMER0 runs free from `0xFFFF_FFFF` and interrupts at each wrap (every 171.8 s). The time
//!   is its count extended to 64 bits, so it is exact however late an interrupt is taken.
//!   (Counting SysTick interrupts is not: QEMU on a busy host delivers them late and merges
//!   the missed ones, and such a clock lost half its time in CI.)
//! - TIMER1 is the alarm: loaded with the time to the earliest timer in embassy's queue, it
//!   interrupts once then; the CPU sleeps (WFE) until that or another interrupt.
//!
//! embassy-time's default 1 MHz tick: 25 timer cycles per tick.

use core::cell::RefCell;
use core::ptr;
use core::task::Waker;
use critical_section::{CriticalSection, Mutex};
use embassy_time_queue_utils::Queue;

/// Timer cycles (25 MHz) per embassy tick (1 MHz).
const CYCLES_PER_TICK: u64 = 25;
const _: () = assert!(embassy_time_driver::TICK_HZ * CYCLES_PER_TICK == 25_000_000);
/// The longest alarm programmed at once (86 s); a later one is re-armed when it fires.
const MAX_ALARM_CYCLES: u64 = 1 << 31;

/// One CMSDK APB timer.
#[derive(Clone, Copy)]
struct Timer(usize);

/// The free-running clock, IRQ 8.
const TIMER0: Timer = Timer(0x4000_0000);
/// The alarm, IRQ 9.
const TIMER1: Timer = Timer(0x4000_1000);

const CTRL: usize = 0x0;
const VALUE: usize = 0x4;
const RELOAD: usize = 0x8;
const INTSTATUS: usize = 0xc;
const CTRL_ENABLE: u32 = 1 << 0;
const CTRL_IRQ_ENABLE: u32 = 1 << 3;

impl Timer {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: `self.0` is TIMER0's or TIMER1's base and `offset` one of the four
        // registers above: 4-aligned device registers present on every MPS2 FPGA image (and
        // in QEMU's model) for the whole program. Reads have no side effects.
        unsafe { ptr::read_volatile((self.0 + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`; this module is the timers' only user, and every write happens
        // in `start` (before interrupts are enabled) or inside a critical section.
        unsafe { ptr::write_volatile((self.0 + offset) as *mut u32, value) }
    }

    fn interrupt_pending(self) -> bool {
        self.read(INTSTATUS) & 1 != 0
    }
}

struct Clock {
    /// TIMER0 wraps counted by its interrupt.
    wraps: u64,
    queue: Queue,
}

struct CmsdkDriver(Mutex<RefCell<Clock>>);

embassy_time_driver::time_driver_impl!(static DRIVER: CmsdkDriver = CmsdkDriver(
    Mutex::new(RefCell::new(Clock { wraps: 0, queue: Queue::new() }))
));

/// Timer cycles since `start`. TIMER0 interrupts when it reaches 0, one cycle before it
/// reloads, so a pending interrupt with the counter already reloaded means one more wrap.
fn cycles(clock: &Clock) -> u64 {
    loop {
        let before = TIMER0.interrupt_pending();
        let value = TIMER0.read(VALUE);
        if TIMER0.interrupt_pending() == before {
            let unseen_wrap = u64::from(before && value != 0);
            return ((clock.wraps + unseen_wrap) << 32) | u64::from(!value);
        }
        // It wrapped between the reads: read again.
    }
}

fn now_ticks(clock: &Clock) -> u64 {
    cycles(clock) / CYCLES_PER_TICK
}

/// TIMER1's load value for a wake-up at tick `next`, at tick `now`: at least one cycle (a
/// timer already due, woken by `arm`, never gets here) and at most [`MAX_ALARM_CYCLES`]. A far
/// wake-up (up to `u64::MAX`, e.g. `Timer::at(Instant::MAX)`) saturates instead of overflowing.
const fn alarm_cycles(now: u64, next: u64) -> u32 {
    let cycles = next.saturating_sub(now).saturating_mul(CYCLES_PER_TICK);
    if cycles < 1 {
        1
    } else if cycles > MAX_ALARM_CYCLES {
        MAX_ALARM_CYCLES as u32
    } else {
        cycles as u32
    }
}

// Checked when the firmware compiles (it has no host tests): the bounds, and wake-ups far
// enough out that their cycle count does not fit 64 bits.
const _: () = {
    assert!(alarm_cycles(5, 5) == 1);
    assert!(alarm_cycles(7, 1_000_007) == 25_000_000); // one second
    assert!(alarm_cycles(0, 86_000_000) == MAX_ALARM_CYCLES as u32); // 86 s, past the cap
    assert!(alarm_cycles(0, u64::MAX / CYCLES_PER_TICK + 1) == MAX_ALARM_CYCLES as u32);
    assert!(alarm_cycles(1000, u64::MAX - 1) == MAX_ALARM_CYCLES as u32);
};

/// Wakes the timers that are due and loads TIMER1 for the next one.
fn arm(clock: &mut Clock) {
    let now = now_ticks(clock);
    let next = clock.queue.next_expiration(now);
    TIMER1.write(CTRL, 0);
    TIMER1.write(INTSTATUS, 1);
    if next == u64::MAX {
        return;
    }
    let delay = alarm_cycles(now, next);
    TIMER1.write(RELOAD, delay);
    TIMER1.write(VALUE, delay);
    TIMER1.write(CTRL, CTRL_ENABLE | CTRL_IRQ_ENABLE);
}

impl embassy_time_driver::Driver for CmsdkDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| now_ticks(&self.0.borrow_ref(cs)))
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut clock = self.0.borrow_ref_mut(cs);
            if clock.queue.schedule_wake(at, waker) {
                arm(&mut clock);
            }
        });
    }
}

fn with_clock(f: impl FnOnce(CriticalSection<'_>, &mut Clock)) {
    critical_section::with(|cs| f(cs, &mut DRIVER.0.borrow_ref_mut(cs)));
}

/// TIMER0's interrupt: it wrapped.
pub fn on_timer0() {
    with_clock(|_, clock| {
        // The interrupt comes as the counter reaches 0; it reloads one cycle later.
        while TIMER0.read(VALUE) == 0 {}
        clock.wraps += 1;
        TIMER0.write(INTSTATUS, 1);
    });
}

/// TIMER1's interrupt: the alarm.
pub fn on_timer1() {
    with_clock(|_, clock| arm(clock));
}

/// Starts TIMER0 from `0xFFFF_FFFF`, with its wrap interrupt; TIMER1 stays off until a timer
/// is scheduled. Unmask IRQs 8 and 9 afterwards.
pub fn start() {
    TIMER1.write(CTRL, 0);
    TIMER0.write(CTRL, 0);
    TIMER0.write(INTSTATUS, 1);
    TIMER0.write(RELOAD, u32::MAX);
    TIMER0.write(VALUE, u32::MAX);
    TIMER0.write(CTRL, CTRL_ENABLE | CTRL_IRQ_ENABLE);
}

/// The clock's lowest bits (25 MHz): a little timing entropy.
pub fn phase() -> u32 {
    TIMER0.read(VALUE)
}
