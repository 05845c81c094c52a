//! UART0 of the MPS2 (an Arm CMSDK APB UART at `0x4000_4000`) as the firmware's console: the
//! `log` backend, and where panics and hard faults are reported before the board resets.
//! QEMU connects it to its stdio (`-nographic`) or to whatever `-serial` says.

use core::fmt::{self, Write};
use core::ptr;

/// The CMSDK APB UART0 registers.
const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const BAUDDIV: usize = BASE + 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const CTRL_TX_ENABLE: u32 = 1 << 0;
/// 115 200 baud from the 25 MHz peripheral clock (QEMU ignores the rate, but insists on a
/// divisor of at least 16).
const DIVISOR: u32 = 25_000_000 / 115_200;

fn read(address: usize) -> u32 {
    // SAFETY: `address` is one of the UART0 registers above: 4-aligned device registers that
    // exist on every MPS2 FPGA image (and in QEMU's model) for the whole program. Reading
    // STATE has no side effect; nothing in Rust's memory is touched.
    unsafe { ptr::read_volatile(address as *const u32) }
}

fn write(address: usize, value: u32) {
    // SAFETY: as in `read`: a volatile write to a device register is sound whatever else
    // runs, as it touches nothing in Rust's memory. Writes from two contexts may interleave:
    // the watchdog's NMI preempts even the critical section a `log` line is written in, and
    // its report may cut into that line; harmless, as the board resets right after it.
    unsafe { ptr::write_volatile(address as *mut u32, value) }
}

/// Enables the transmitter. Call once, first thing.
pub fn init() {
    write(BAUDDIV, DIVISOR);
    write(CTRL, CTRL_TX_ENABLE);
}

/// The transmitter, blocking on its one-byte buffer.
struct Tx;

impl Write for Tx {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            while read(STATE) & STATE_TX_FULL != 0 {}
            write(DATA, u32::from(byte));
        }
        Ok(())
    }
}

/// The `log` backend: `[uptime] LEVEL message`, one line per record.
struct Console;

impl log::Log for Console {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ms = embassy_time::Instant::now().as_millis();
        // One critical section per line, so lines from an interrupt never cut into others (the
        // watchdog's NMI, which no critical section holds off, can; it then resets the board).
        critical_section::with(|_| {
            let _ = write!(
                Tx,
                "[{:>5}.{:03}] {:<5} {}\r\n",
                ms / 1000,
                ms % 1000,
                record.level(),
                record.args()
            );
        });
    }

    fn flush(&self) {}
}

static CONSOLE: Console = Console;

/// Installs the UART as the `log` backend at `level` (`error` .. `trace`; anything else means
/// `info`).
pub fn init_log(level: &str) {
    let level = level.parse().unwrap_or(log::LevelFilter::Info);
    if log::set_logger(&CONSOLE).is_ok() {
        log::set_max_level(level);
    }
}

/// Prints `what` with interrupts off for good, then resets the board: the firmware starts
/// again, or QEMU exits when run with `-no-reboot` (as the runner and CI do).
pub fn report_and_reset(what: fmt::Arguments<'_>) -> ! {
    cortex_m::interrupt::disable();
    let _ = write!(Tx, "\r\n{what}\r\nresetting\r\n");
    cortex_m::peripheral::SCB::sys_reset()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    report_and_reset(format_args!("PANIC: {info}"))
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    report_and_reset(format_args!("HARD FAULT at pc {:#010x}: {frame:?}", frame.pc()))
}
