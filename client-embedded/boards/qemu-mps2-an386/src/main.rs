//! A tickwire controller on an emulated board: QEMU's Arm MPS2 with the AN386 FPGA image (a
//! Cortex-M4F at 25 MHz) and its LAN9118 Ethernet. No hardware needed: the same controller
//! client as the real boards, over embassy-net and DHCP on QEMU's user-mode network, steered
//! by a scripted stick pattern, with the ship's feedback on the UART.
//!
//! - [`uart`]: UART0 as the log console; panics and hard faults are printed and reset the board
//!   (QEMU exits under `-no-reboot`).
//! - [`time`]: embassy-time on the CMSDK timers (a 64-bit clock and a one-shot alarm).
//! - [`watchdog`]: the CMSDK watchdog, fed by a task; a task that never awaits (starving the
//!   executor) is reported and resets the board, one stuck on an `await` is not caught.
//! - here: the LAN9118 (`embassy-net-lan9118`, IRQ 13), the network stack, the scripted
//!   [`Gamepad`], the client task, and a task that logs the link and the driver's counters.
//!
//! Build-time settings (`.cargo/config.toml` has the defaults): `TICKWIRE_SERVER` (in QEMU's
//! user network the host's loopback is 10.0.2.2), `TICKWIRE_NAME`, `TICKWIRE_ROOM`,
//! `TICKWIRE_LOG`.
#![no_std]
#![no_main]

mod time;
mod uart;
mod watchdog;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use embassy_executor::Spawner;
use embassy_net::{Runner, Stack, StackResources};
use embassy_net_lan9118::{Config as EthConfig, Lan9118, Mmio, RX_FIFO_BYTES, State};
use embassy_time::{Duration, Instant, Ticker};
use log::{debug, info, warn};
use rand_core::SeedableRng;
use rand_pcg::Pcg32;
use static_cell::ConstStaticCell;
use tickwire_client_embedded::protocol::Buttons;
use tickwire_client_embedded::transport::embassy_net::TcpConnector;
use tickwire_client_embedded::{
    App, Buffers, Client, Config as ClientConfig, Event, Identity, Pad, ServerUrl,
};

// ---- Build-time settings --------------------------------------------------------------------

/// The server, checked when the firmware compiles.
const SERVER: ServerUrl<'static> = match ServerUrl::parse(env!("TICKWIRE_SERVER")) {
    Ok(url) => url,
    Err(e) => panic!("{}", e.as_str()), // about TICKWIRE_SERVER
};
/// Display name on the server.
const NAME: &str = env!("TICKWIRE_NAME");
/// Room to join; empty joins any room with a free seat.
const ROOM: &str = env!("TICKWIRE_ROOM");
// TICKWIRE_NAME and TICKWIRE_ROOM, checked as the server will check them.
const _: () = if let Err(e) = Identity::check(NAME, ROOM) {
    panic!("{}", e.as_str()); // about TICKWIRE_NAME or TICKWIRE_ROOM
};

// ---- The board ------------------------------------------------------------------------------

/// The LAN9220 (QEMU: LAN9118) on every MPS2 FPGA image.
const LAN9118_BASE: usize = 0x4020_0000;

/// The device interrupts this firmware uses (AN385/AN386 numbering).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Irq {
    /// CMSDK TIMER0: the clock wrapped.
    Timer0 = 8,
    /// CMSDK TIMER1: the alarm.
    Timer1 = 9,
    /// The LAN9118 (AN500: 47).
    Ethernet = 13,
}

// SAFETY: `number` returns 8, 9 or 13, valid external interrupts on the AN386 (whose NVIC
// has 32 lines), so it names real interrupts, as the trait requires.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

/// What the LAN9118 driver shares with its interrupt handler.
static ETH: State = State::new();

/// The handler of every device interrupt: no PAC describes the MPS2's vector table, so
/// cortex-m-rt's default table sends them all here, with their number.
#[cortex_m_rt::exception]
unsafe fn DefaultHandler(irqn: i16) {
    const TIMER0: i16 = Irq::Timer0 as i16;
    const TIMER1: i16 = Irq::Timer1 as i16;
    const ETHERNET: i16 = Irq::Ethernet as i16;
    match irqn {
        TIMER0 => time::on_timer0(),
        TIMER1 => time::on_timer1(),
        ETHERNET => ETH.on_interrupt(),
        _ => panic!("unexpected interrupt or exception {irqn}"),
    }
}

/// The watchdog's first timeout, the only source of the NMI on the MPS2: the executor has not
/// run the feeding task for [`watchdog::TIMEOUT`].
///
/// cortex-m-rt has an NMI handler declared `unsafe` because it preempts critical sections;
/// this one touches no data that a critical section guards: `report_and_reset` writes only to
/// the UART's registers (a line being logged may come out cut) and resets.
#[cortex_m_rt::exception]
unsafe fn NonMaskableInt() -> ! {
    uart::report_and_reset(format_args!(
        "WATCHDOG: not fed for {} s (a task that never awaits?)",
        watchdog::TIMEOUT.as_secs()
    ))
}

// ---- Memory ---------------------------------------------------------------------------------

/// Sockets: DHCP, DNS and the one TCP connection.
static NET_RESOURCES: ConstStaticCell<StackResources<3>> =
    ConstStaticCell::new(StackResources::new());
static TCP_RX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
static TCP_TX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
/// The WebSocket transmit buffer holds the upgrade request, then one frame at a time: the
/// client's recommended 384 bytes, or more for a long `TICKWIRE_SERVER` (a `?token=<jwt>` makes
/// the request 400 bytes and up), so that a URL that parses also fits.
const WS_TX_LEN: usize = Buffers::tx_len_for(&SERVER);

static WS_RX: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);
static WS_TX: ConstStaticCell<[u8; WS_TX_LEN]> = ConstStaticCell::new([0; WS_TX_LEN]);
static WS_MSG: ConstStaticCell<[u8; 256]> = ConstStaticCell::new([0; 256]);

type Device = Lan9118<'static>;
type TheClient = Client<'static, TcpConnector<'static>, Pcg32>;

// ---- The scripted stick ---------------------------------------------------------------------

/// One step of the stick script: a position, buttons held, and for how long.
struct Step {
    name: &'static str,
    x: i8,
    y: i8,
    buttons: u8,
    ms: u64,
}

/// A lap around the arena: eight headings, boosting on the long straights, firing on the way
/// back, then a rest. x is negative to the left, y negative up.
const SCRIPT: [Step; 9] = [
    Step { name: "east, boost", x: 127, y: 0, buttons: Buttons::BOOST, ms: 1500 },
    Step { name: "south-east", x: 90, y: 90, buttons: 0, ms: 700 },
    Step { name: "south", x: 0, y: 127, buttons: 0, ms: 1000 },
    Step { name: "south-west", x: -90, y: 90, buttons: 0, ms: 700 },
    Step { name: "west, boost", x: -127, y: 0, buttons: Buttons::BOOST, ms: 1500 },
    Step { name: "north-west, fire", x: -90, y: -90, buttons: Buttons::ACTION, ms: 700 },
    Step { name: "north, fire", x: 0, y: -127, buttons: Buttons::ACTION, ms: 1000 },
    Step { name: "north-east", x: 90, y: -90, buttons: 0, ms: 700 },
    Step { name: "rest", x: 0, y: 0, buttons: 0, ms: 500 },
];

/// The script's step at `ms` milliseconds of uptime (it loops).
fn script_step(ms: u64) -> usize {
    let lap: u64 = SCRIPT.iter().map(|step| step.ms).sum();
    let mut into = ms % lap;
    SCRIPT
        .iter()
        .position(|step| match into.checked_sub(step.ms) {
            Some(rest) => {
                into = rest;
                false
            }
            None => true,
        })
        .unwrap_or(SCRIPT.len() - 1)
}

// ---- The gamepad ----------------------------------------------------------------------------

/// The tickwire [`App`]: the scripted stick in, status and feedback out to the UART.
struct Gamepad {
    step: usize,
    last_feedback: Option<(u16, bool, [u8; 3])>,
    rumbling: bool,
}

impl App for Gamepad {
    fn input(&mut self) -> Pad {
        let step = script_step(Instant::now().as_millis());
        if step != self.step {
            self.step = step;
            debug!("stick: {}", SCRIPT[step].name);
        }
        let Step { x, y, buttons, .. } = SCRIPT[step];
        Pad { x, y, buttons }
    }

    fn event(&mut self, event: &Event) {
        // The client logs joins, kicks and disconnects itself.
        match event {
            Event::Connecting { attempt } => {
                info!("connecting to {} (attempt {attempt})", SERVER.authority());
            }
            Event::Joined(joined) => {
                self.last_feedback = None;
                match joined.entity {
                    Some(ship) => info!("steering ship {} (resumed: {})", ship.0, joined.resumed),
                    None => warn!("joined without a ship"),
                }
            }
            Event::Feedback(feedback) => {
                let now = (feedback.score, feedback.alive, feedback.colour.0);
                if self.last_feedback != Some(now) {
                    let [r, g, b] = feedback.colour.0;
                    info!(
                        "ship colour #{r:02x}{g:02x}{b:02x}, score {}, alive {}",
                        feedback.score, feedback.alive
                    );
                    self.last_feedback = Some(now);
                }
                let rumbling = feedback.rumble > 0;
                if rumbling && !self.rumbling {
                    info!("rumble {}", feedback.rumble);
                }
                self.rumbling = rumbling;
            }
            // The client logs a kick with the server's words itself.
            Event::Kicked(_) | Event::Disconnected { .. } => {}
        }
    }
}

// ---- Tasks ----------------------------------------------------------------------------------

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Device>) -> ! {
    runner.run().await
}

/// How often the driver's counters are logged.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// Logs the driver's counters every [`STATS_EVERY`]. The RX FIFO peak shows whether QEMU can
/// have dropped a frame: it drops only when a frame does not fit, and frames leave the FIFO
/// only when the driver drains it.
#[embassy_executor::task]
async fn stats_task() -> ! {
    let mut ticker = Ticker::every(STATS_EVERY);
    loop {
        ticker.next().await;
        let s = ETH.stats();
        info!(
            "eth: rx {} frames ({} errors, {} dropped), FIFO peak {} of {} B, {} frames; \
             tx {} frames ({} errors, {} waits); {} interrupts, wake latency max {} us",
            s.rx_frames,
            s.rx_errors,
            s.rx_dropped,
            s.rx_fifo_peak_bytes,
            RX_FIFO_BYTES,
            s.rx_fifo_peak_frames,
            s.tx_frames,
            s.tx_errors,
            s.tx_waits,
            s.interrupts,
            s.wake_latency_max_us
        );
    }
}

/// Logs the link going down and up (QEMU monitor: `set_link`) and the DHCP lease.
#[embassy_executor::task]
async fn net_watch(stack: Stack<'static>) -> ! {
    loop {
        stack.wait_link_down().await;
        warn!("Ethernet link down");
        stack.wait_link_up().await;
        info!("Ethernet link up");
        stack.wait_config_up().await;
        if let Some(config) = stack.config_v4() {
            info!("IP address {} again", config.address);
        }
    }
}

#[embassy_executor::task]
async fn client_task(mut client: TheClient, mut gamepad: Gamepad) -> ! {
    // `Gamepad` never asks to leave, so `run` does not return; if it ever does, stay parked.
    let left = client.run(&mut gamepad).await;
    warn!("left the server (close answered: {})", left.answered);
    core::future::pending().await
}

// ---- Start-up -------------------------------------------------------------------------------

/// A 64-bit seed from timing: the MPS2 has no random number generator. The values mixed in
/// depend on how long the host took to boot QEMU and to answer DHCP (its scheduling, not the
/// guest's), which differs from run to run; good enough for TCP port numbers and WebSocket
/// masks, not for secrets.
fn entropy(parts: &[u64]) -> u64 {
    // SplitMix64 over the parts.
    parts.iter().fold(0x7469_636b_7769_7265, |seed: u64, &part| {
        let mut z = (seed ^ part).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// Brings up the LAN9118 and the network stack (DHCP) and spawns its task; returns the stack
/// and the entropy gathered so far. Not async, so that the driver (with its two 1.5 KiB frame
/// buffers) passes through this stack frame on its way to `net_task` instead of taking room
/// in `main`'s future for good.
fn start_network(spawner: Spawner) -> (Stack<'static>, u64) {
    // SAFETY: every MPS2 FPGA image (and QEMU's model) has its LAN9220/LAN9118 at
    // LAN9118_BASE with a 32-bit bus, and this firmware touches it only through this driver.
    let regs = unsafe { Mmio::new(LAN9118_BASE) };
    let device = match Lan9118::new(regs, &ETH, EthConfig::new()) {
        Ok(device) => device,
        Err(e) => panic!("Ethernet: {e}"),
    };
    let [a, b, c, d, e, f] = device.mac_address();
    info!(
        "LAN9118 (ID_REV {:#010x}), MAC address {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}",
        device.chip_id()
    );
    let mac = u64::from_le_bytes([a, b, c, d, e, f, 0, 0]);
    let seed = entropy(&[mac, u64::from(device.free_running_counter()), time::phase().into()]);
    // SAFETY: as for the timers; `ETH` now serves the driver, so its handler has work to do.
    unsafe { NVIC::unmask(Irq::Ethernet) };

    let net_config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(device, net_config, NET_RESOURCES.take(), seed);
    spawner.spawn(net_task(runner).expect("one net task"));
    (stack, seed)
}

/// Builds the client (not async, for the same reason as [`start_network`]) and spawns it.
fn start_client(spawner: Spawner, stack: Stack<'static>, seed: u64) {
    let rng = Pcg32::seed_from_u64(seed);
    // Each attempt first waits for an IP address, within the client's connect timeout (see
    // `TcpConnector::waiting_for_address`).
    let connector =
        TcpConnector::for_url(stack, &SERVER, TCP_RX.take(), TCP_TX.take()).waiting_for_address();
    let Ok(buffers) = Buffers::new(WS_RX.take(), WS_TX.take(), WS_MSG.take()) else {
        panic!("buffers below the client's minimum");
    };
    let Ok(identity) = Identity::controller(NAME, Some(ROOM)) else {
        panic!("TICKWIRE_NAME and TICKWIRE_ROOM are checked at compile time");
    };
    let config = ClientConfig::DEFAULT;
    let Ok(client) = Client::new(connector, rng, config, identity, SERVER.endpoint(), buffers)
    else {
        panic!("WS_TX holds the upgrade request (Buffers::tx_len_for)");
    };
    let gamepad = Gamepad { step: usize::MAX, last_feedback: None, rumbling: false };
    spawner.spawn(client_task(client, gamepad).expect("one client task"));
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    uart::init();
    uart::init_log(env!("TICKWIRE_LOG"));
    time::start();
    for irq in [Irq::Timer0, Irq::Timer1] {
        // SAFETY: unmasking is unsound only inside a critical section that relies on the
        // line being masked; there is none, and the timers' handlers are ready.
        unsafe { NVIC::unmask(irq) };
    }
    info!(
        "tickwire controller {NAME} for {} (room {}) on an MPS2 AN386 (Cortex-M4F, 25 MHz)",
        SERVER.authority(),
        if ROOM.is_empty() { "any" } else { ROOM }
    );
    watchdog::start();
    spawner.spawn(watchdog::task().expect("one watchdog task"));
    info!(
        "watchdog armed: a task that never awaits resets the board after {} s",
        watchdog::TIMEOUT.as_secs()
    );
    let (stack, seed) = start_network(spawner);
    spawner.spawn(stats_task().expect("one stats task"));

    info!("waiting for the Ethernet link");
    stack.wait_link_up().await;
    info!("link up, waiting for DHCP");
    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        info!("IP address {}", config.address);
    }
    spawner.spawn(net_watch(stack).expect("one watch task"));
    // The DHCP exchange took as long as the host made it: more timing entropy.
    let seed = entropy(&[seed, Instant::now().as_ticks(), time::phase().into()]);
    start_client(spawner, stack, seed);
}
