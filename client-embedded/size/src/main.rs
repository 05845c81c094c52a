//! Size report firmware: a generic Cortex-M with an embassy executor, a minimal SysTick
//! time driver and a "blink" task (the baseline), plus, with feature `client`, the tickwire
//! controller client over a stub transport with buffers for 1 KiB frames.
//!
//! Hardware is faked with volatile accesses to statics (a UART-like byte FIFO, an ADC, an
//! LED) so that the optimiser cannot see through the transport or the application and keeps
//! all of the client's code. The image links and would run, but it talks to nobody: it
//! exists to be measured (`report.sh`).
#![no_std]
#![no_main]

use core::cell::{Cell, RefCell};
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use core::task::Waker;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_time::Timer;
use embassy_time_queue_utils::Queue;
use panic_halt as _;

/// Core clock assumed for SysTick (any value links; 64 MHz is typical).
const CORE_HZ: u32 = 64_000_000;
const TICKS_PER_MS: u64 = embassy_time_driver::TICK_HZ / 1000;

// ---- Fake hardware registers -------------------------------------------------------------

// These `static mut`s (and the FIFO's in `client`) are only ever read and written through raw
// pointers with volatile accesses, never through a reference, so no two references can alias
// them (one thread of execution; no interrupt handler touches them).
static mut ADC: u16 = 0;
static mut LED: u32 = 0;

fn adc() -> u16 {
    // SAFETY: a plain volatile read of a static, standing in for a register.
    unsafe { read_volatile(addr_of!(ADC)) }
}

fn set_led(value: u32) {
    // SAFETY: a plain volatile write of a static, standing in for a register.
    unsafe { write_volatile(addr_of_mut!(LED), value) }
}

// ---- A minimal time driver: SysTick every millisecond, embassy's timer queue -------------

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        // SysTick fires every millisecond, so there is no alarm to re-arm.
        critical_section::with(|cs| {
            self.queue.borrow(cs).borrow_mut().schedule_wake(at, waker);
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + TICKS_PER_MS;
        ticks.set(now);
        DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now);
    });
}

fn start_systick() {
    if let Some(mut p) = cortex_m::Peripherals::take() {
        p.SYST.set_clock_source(SystClkSource::Core);
        p.SYST.set_reload(CORE_HZ / 1000 - 1);
        p.SYST.clear_current();
        p.SYST.enable_interrupt();
        p.SYST.enable_counter();
    }
}

// ---- The baseline application ------------------------------------------------------------

/// What the firmware does without the client: samples the stick and drives an LED.
#[embassy_executor::task]
async fn blink() -> ! {
    loop {
        set_led(u32::from(adc()));
        Timer::after_millis(33).await;
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    start_systick();
    if let Ok(token) = blink() {
        spawner.spawn(token);
    }
    #[cfg(feature = "client")]
    client::start(spawner);
}

// ---- The client ----------------------------------------------------------------------------

#[cfg(feature = "client")]
mod client {
    use super::{adc, set_led};
    use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
    use embassy_executor::Spawner;
    use embassy_time::Timer;
    use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
    use static_cell::ConstStaticCell;
    use tickwire_client_embedded::{
        App, Buffers, Client, Config, Connector, Endpoint, Event, Identity, Pad,
    };

    /// Largest server frame payload the buffers are sized for.
    const FRAME: usize = 1024;
    /// Raw frames: the largest frame plus the largest header the server sends for it.
    const RX: usize = FRAME + 14;
    /// The upgrade request and one client frame (client messages are at most 256 bytes).
    const TX: usize = 384;
    /// One reassembled server message.
    const MSG: usize = FRAME;

    /// The client's buffers, handed out once (as the boards do with theirs).
    static BUFFERS: ConstStaticCell<([u8; RX], [u8; TX], [u8; MSG])> =
        ConstStaticCell::new(([0; RX], [0; TX], [0; MSG]));

    // A UART-like byte FIFO standing in for a network stack.
    static mut LINK_UP: u8 = 0;
    static mut RX_LEVEL: u16 = 0;
    static mut RX_DATA: u8 = 0;
    static mut TX_DATA: u8 = 0;

    /// The stub transport: bytes in and out through the fake FIFO.
    pub struct Stub;

    impl ErrorType for Stub {
        type Error = ErrorKind;
    }

    impl Read for Stub {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            loop {
                // SAFETY: volatile reads of statics, standing in for registers.
                let level = usize::from(unsafe { read_volatile(addr_of!(RX_LEVEL)) });
                if level == 0xFFFF {
                    return Err(ErrorKind::ConnectionReset);
                }
                let n = level.min(buf.len());
                if n > 0 {
                    for byte in &mut buf[..n] {
                        // SAFETY: as above.
                        *byte = unsafe { read_volatile(addr_of!(RX_DATA)) };
                    }
                    return Ok(n);
                }
                Timer::after_millis(1).await;
            }
        }
    }

    impl Write for Stub {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            for &byte in buf {
                // SAFETY: a volatile write of a static, standing in for a register.
                unsafe { write_volatile(addr_of_mut!(TX_DATA), byte) };
            }
            Ok(buf.len())
        }

        async fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    /// Opens a [`Stub`] when the fake link is up.
    pub struct StubConnector;

    impl Connector for StubConnector {
        type Transport<'a> = Stub;
        type Error = ErrorKind;

        async fn connect(&mut self) -> Result<Stub, ErrorKind> {
            // SAFETY: a volatile read of a static, standing in for a register.
            if unsafe { read_volatile(addr_of!(LINK_UP)) } == 0 {
                return Err(ErrorKind::NotConnected);
            }
            Ok(Stub)
        }
    }

    /// xorshift64*, standing in for a hardware RNG.
    pub struct XorShift(u64);

    impl rand_core::RngCore for XorShift {
        fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }

        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn fill_bytes(&mut self, dest: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dest)
        }

        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    /// The gamepad: the stick from the ADC, feedback to the LED.
    pub struct Gamepad;

    impl App for Gamepad {
        fn input(&mut self) -> Pad {
            let raw = adc();
            Pad { x: (raw & 0xFF) as i8, y: (raw >> 8) as i8, buttons: (raw >> 4) as u8 & 3 }
        }

        fn event(&mut self, event: &Event) {
            match event {
                Event::Feedback(f) => {
                    let [r, g, b] = f.colour.0;
                    set_led(u32::from_be_bytes([f.rumble, r, g, b]));
                }
                Event::Joined(j) => set_led(u32::from(j.player_id.0)),
                Event::Kicked(_) => set_led(0xFF00_0000),
                Event::Disconnected { retry_in_ms, .. } => set_led(*retry_in_ms),
                Event::Connecting { attempt } => set_led(*attempt),
            }
        }
    }

    type TheClient = Client<'static, StubConnector, XorShift>;

    #[embassy_executor::task]
    async fn run(mut client: TheClient) -> ! {
        // `Gamepad` never asks to leave, so `run` does not return.
        let _left = client.run(&mut Gamepad).await;
        match core::future::pending::<core::convert::Infallible>().await {}
    }

    pub fn start(spawner: Spawner) {
        // A second call finds the buffers taken and starts nothing.
        let Some((rx, tx, msg)) = BUFFERS.try_take() else {
            return;
        };
        let Ok(buffers) = Buffers::new(rx, tx, msg) else {
            return;
        };
        let Ok(identity) = Identity::controller("pico", Some("lobby")) else {
            return;
        };
        let Ok(client) = Client::new(
            StubConnector,
            XorShift(0x7469_636b_7769_7265 ^ u64::from(adc())),
            Config::DEFAULT,
            identity,
            Endpoint { host: "192.168.1.20:8080", path: "/ws" },
            buffers,
        ) else {
            return;
        };
        if let Ok(token) = run(client) {
            spawner.spawn(token);
        }
    }
}
