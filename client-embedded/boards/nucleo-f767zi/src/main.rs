//! A tickwire controller on an STM32 Nucleo-F767ZI: an analog joystick and two buttons
//! steer a ship on a tickwire server over the board's Ethernet port.
//!
//! - Ethernet (RMII, the on-board LAN8742A PHY) with DHCP; the MAC address comes from the
//!   chip's unique ID, so two boards on one LAN differ.
//! - The tickwire client joins as a controller and reconnects forever, resuming its ship.
//! - Joystick VRx on A0 (PA3), VRy on A1 (PC0), read by ADC1 at each input send.
//! - BOOST: the blue user button B1 (PC13) or a button on D2 (PF15); ACTION: a button on D3
//!   (PE13).
//! - LEDs: LD1 green = joined and alive, LD2 blue = connecting, LD3 red = turned away by the
//!   server, dead or no network. Rumble motor (through a transistor) on D5 (PE11).
//! - The independent watchdog, fed by a task: a panic or a task that never awaits resets the
//!   board instead of leaving a dead gamepad (a task stuck on an `await` is not caught).
//!
//! Build-time settings (`.cargo/config.toml` has the defaults): `TICKWIRE_SERVER`,
//! `TICKWIRE_NAME`, `TICKWIRE_ROOM`.
#![no_std]
#![no_main]

use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{Stack, StackResources};
use embassy_stm32::adc::{Adc, AdcChannel, SampleTime};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::gpio::{Input, Level, Output, Pull, Speed};
use embassy_stm32::peripherals::{ADC1, ETH, ETH_SMA, IWDG, PA3, PC0, RNG};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{Peri, bind_interrupts, peripherals};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer};
use static_cell::ConstStaticCell;
use tickwire_client_embedded::pad::Axis;
use tickwire_client_embedded::protocol::{Buttons, ControllerFeedback};
use tickwire_client_embedded::transport::embassy_net::TcpConnector;
use tickwire_client_embedded::{
    App, Buffers, Client, Config as ClientConfig, Event, Identity, Pad, ServerUrl,
};
use {defmt_rtt as _, panic_probe as _};

// ---- Build-time settings --------------------------------------------------------------------

/// The server, checked when the firmware compiles.
const SERVER: ServerUrl<'static> = match ServerUrl::parse(env!("TICKWIRE_SERVER")) {
    Ok(url) => url,
    Err(e) => panic!("{}", e.as_str()), // about TICKWIRE_SERVER
};
/// Display name on the server.
const NAME: &str = env!("TICKWIRE_NAME");
/// Room to join; empty for any room.
const ROOM: &str = env!("TICKWIRE_ROOM");

// TICKWIRE_NAME and TICKWIRE_ROOM, checked as the server will check them.
const _: () = if let Err(e) = Identity::check(NAME, ROOM) {
    panic!("{}", e.as_str()); // about TICKWIRE_NAME or TICKWIRE_ROOM
};

// ---- Joystick calibration -------------------------------------------------------------------

/// VRx: raw 12-bit counts to -127 (left) ..= 127 (right). A stick that does not rest at
/// mid-scale: log the raw readings (`DEFMT_LOG=debug`) and use `Axis::new(min, centre, max)`.
const X_AXIS: Axis = Axis::TWELVE_BIT;
/// VRy: -127 (up) ..= 127 (down). Add `.inverted()` if up steers down on your module.
const Y_AXIS: Axis = Axis::TWELVE_BIT;
/// ADC sampling time per conversion: long enough for a 10 kΩ potentiometer.
const SAMPLE_TIME: SampleTime = SampleTime::CYCLES144;
/// Conversions averaged per axis and input.
const OVERSAMPLE: u32 = 4;

// ---- Feedback timing ------------------------------------------------------------------------

/// How long the rumble motor runs per `rumble > 0` feedback (the server's rumble window).
const RUMBLE_PULSE: Duration = Duration::from_millis(200);
/// LED animation step.
const LED_STEP: Duration = Duration::from_millis(125);

// ---- Watchdog -------------------------------------------------------------------------------

/// How long the executor may go without feeding the watchdog before it resets the board; the
/// longest legitimate pause between two feeds is one feeding period, as every wait in this
/// firmware is an `await`. The IWDG counts the LSI (17 to 47 kHz, 32 typical): 5.5 to 15 s.
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(8);
/// How often `watchdog_task` feeds it.
const WATCHDOG_FEED: Duration = Duration::from_secs(1);

// ---- Memory ---------------------------------------------------------------------------------

/// Ethernet DMA descriptors and packet buffers: 4 frames each way is plenty for a controller.
static PACKETS: ConstStaticCell<PacketQueue<4, 4>> = ConstStaticCell::new(PacketQueue::new());
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

// ---- Hardware -------------------------------------------------------------------------------

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;
type TheClient = Client<'static, TcpConnector<'static>, Rng<'static, RNG>>;

/// 216 MHz from the 8 MHz clock the ST-LINK feeds to the MCU (HSE bypass), and the 48 MHz
/// clock the RNG needs from PLL Q.
fn clocks() -> embassy_stm32::Config {
    use embassy_stm32::rcc::*;
    use embassy_stm32::time::Hertz;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse { freq: Hertz(8_000_000), mode: HseMode::Bypass });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,   // 2 MHz
        mul: PllMul::MUL216,       // 432 MHz VCO
        divp: Some(PllPDiv::DIV2), // 216 MHz system clock
        divq: Some(PllQDiv::DIV9), // 48 MHz for the RNG
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4; // 54 MHz
    config.rcc.apb2_pre = APBPrescaler::DIV2; // 108 MHz
    config.rcc.mux.clk48sel = mux::Clk48sel::PLL1_Q;
    config
}

/// A locally administered unicast MAC address derived from the chip's 96-bit unique ID
/// (FNV-1a, so IDs that differ in any bit give different addresses).
fn mac_address(uid: [u8; 12]) -> [u8; 6] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in uid {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let [a, b, c, d, e, f, ..] = hash.to_le_bytes();
    // Bit 1 of the first octet: locally administered; bit 0 clear: unicast.
    [(a & 0xfc) | 0x02, b, c, d, e, f]
}

// ---- Status shown on the LEDs ---------------------------------------------------------------

/// Where the client is, as the LEDs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
enum Phase {
    /// Opening the connection, upgrading, waiting for `Welcome`.
    Connecting,
    /// Waiting before the next attempt after a failure or a lost connection.
    BackingOff,
    /// Joined; the ship is flying.
    Alive,
    /// Joined; the ship is waiting to respawn.
    Dead,
}

/// What the LED task shows (the network state it reads from the stack itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
struct Status {
    phase: Phase,
    /// The server turned us away since the last join (`Disconnect::is_refusal()`: an upgrade
    /// refused with an HTTP status such as 401 for a missing or expired join token, or a kick: a
    /// full room, another protocol version, a refused `Hello`, an operator's removal or ban;
    /// the log says which). Any other kick (a server restart's `ShuttingDown`, `Idle`,
    /// `Replaced`, ...) just reconnects.
    kicked: bool,
}

/// The latest status, from `App::event` to the LED task.
static STATUS: Signal<CriticalSectionRawMutex, Status> = Signal::new();
/// A rumble request, from `App::event` to the rumble task.
static RUMBLE: Signal<CriticalSectionRawMutex, ()> = Signal::new();

// ---- The gamepad ----------------------------------------------------------------------------

/// The controls, read synchronously at each input send (an ADC conversion takes ~6 µs), and
/// the status handed to the LED and rumble tasks.
struct Gamepad {
    adc: Adc<'static, ADC1>,
    vrx: Peri<'static, PA3>,
    vry: Peri<'static, PC0>,
    /// B1, the blue user button: active high (external pull-down on the board).
    boost_b1: Input<'static>,
    /// External BOOST button on D2: active low.
    boost_ext: Input<'static>,
    /// ACTION button on D3: active low.
    action: Input<'static>,
    status: Status,
    last_feedback: Option<ControllerFeedback>,
}

/// One axis: the mean of [`OVERSAMPLE`] conversions, 0..=4095.
fn read_axis(adc: &mut Adc<'static, ADC1>, pin: &mut impl AdcChannel<ADC1>) -> u16 {
    let sum: u32 = (0..OVERSAMPLE).map(|_| u32::from(adc.blocking_read(pin, SAMPLE_TIME))).sum();
    (sum / OVERSAMPLE) as u16
}

impl Gamepad {
    fn set_status(&mut self, status: Status) {
        if status != self.status {
            self.status = status;
            STATUS.signal(status);
        }
    }

    fn feedback(&mut self, f: &ControllerFeedback) {
        let phase = if f.alive { Phase::Alive } else { Phase::Dead };
        self.set_status(Status { phase, ..self.status });
        if f.rumble > 0 {
            RUMBLE.signal(());
        }
        let changed = self.last_feedback.is_none_or(|last| {
            (last.colour, last.score, last.alive) != (f.colour, f.score, f.alive)
        });
        if changed {
            let [r, g, b] = f.colour.0;
            info!(
                "ship colour #{=u8:02x}{=u8:02x}{=u8:02x}, score {}, alive {}",
                r, g, b, f.score, f.alive
            );
        }
        self.last_feedback = Some(*f);
    }
}

impl App for Gamepad {
    fn input(&mut self) -> Pad {
        let raw_x = read_axis(&mut self.adc, &mut self.vrx);
        let raw_y = read_axis(&mut self.adc, &mut self.vry);
        defmt::trace!("stick raw x {} y {}", raw_x, raw_y);
        let mut buttons = 0;
        if self.boost_b1.is_high() || self.boost_ext.is_low() {
            buttons |= Buttons::BOOST;
        }
        if self.action.is_low() {
            buttons |= Buttons::ACTION;
        }
        Pad { x: X_AXIS.map(raw_x), y: Y_AXIS.map(raw_y), buttons }
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::Connecting { attempt } => {
                info!("connecting to {} (attempt {})", SERVER.authority(), attempt);
                self.set_status(Status { phase: Phase::Connecting, ..self.status });
            }
            // The client logs joins, kicks and disconnects itself.
            Event::Joined(_) => {
                self.last_feedback = None;
                self.set_status(Status { phase: Phase::Alive, kicked: false });
            }
            Event::Feedback(f) => self.feedback(f),
            Event::Kicked(k) => {
                if k.reason.is_refusal() {
                    self.set_status(Status { kicked: true, ..self.status });
                }
            }
            Event::Disconnected { reason, .. } => {
                let kicked = self.status.kicked || reason.is_refusal();
                self.set_status(Status { phase: Phase::BackingOff, kicked });
            }
        }
    }
}

// ---- Tasks ----------------------------------------------------------------------------------

/// Feeds the watchdog every [`WATCHDOG_FEED`]. It runs on the executor like every other task, so
/// a panic (which stops the executor) or a task that never awaits (which starves it) ends the
/// feeding, and the watchdog resets the board.
/// A future stuck on an `await` that never completes is not caught: the executor, and this task
/// with it, keep running.
#[embassy_executor::task]
async fn watchdog_task(mut watchdog: IndependentWatchdog<'static, IWDG>) -> ! {
    loop {
        watchdog.pet();
        Timer::after(WATCHDOG_FEED).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Logs the network going down and coming back (cable, DHCP lease).
#[embassy_executor::task]
async fn net_watch(stack: Stack<'static>) -> ! {
    loop {
        stack.wait_config_down().await;
        warn!("network down (cable unplugged or DHCP lease lost)");
        stack.wait_config_up().await;
        if let Some(config) = stack.config_v4() {
            info!("network up again, IP address {}", config.address);
        }
    }
}

#[embassy_executor::task]
async fn client_task(mut client: TheClient, mut gamepad: Gamepad) -> ! {
    // `Gamepad` never asks to leave, so `run` does not return; if it ever does, stay parked.
    let _left = client.run(&mut gamepad).await;
    match core::future::pending::<core::convert::Infallible>().await {}
}

/// LD1 green: joined and alive. LD2 blue: fast blink while connecting, a short flash a second
/// while backing off. LD3 red: on when the network is down or after a kick, slow blink while
/// the ship is dead.
#[embassy_executor::task]
async fn led_task(
    stack: Stack<'static>,
    mut green: Output<'static>,
    mut blue: Output<'static>,
    mut red: Output<'static>,
) -> ! {
    let mut status = Status { phase: Phase::Connecting, kicked: false };
    let mut step: u32 = 0;
    loop {
        let net_up = stack.is_config_up();
        // Eight steps of 125 ms: one second.
        let phase = step % 8;
        let fast = phase.is_multiple_of(2);
        let (g, b, r) = match status.phase {
            _ if !net_up => (false, fast, true),
            Phase::Connecting => (false, fast, status.kicked),
            Phase::BackingOff => (false, phase == 0, status.kicked),
            Phase::Alive => (true, false, false),
            Phase::Dead => (false, false, phase < 4),
        };
        green.set_level(Level::from(g));
        blue.set_level(Level::from(b));
        red.set_level(Level::from(r));
        match select(STATUS.wait(), Timer::after(LED_STEP)).await {
            Either::First(new) => status = new,
            Either::Second(()) => step = step.wrapping_add(1),
        }
    }
}

/// Runs the motor for [`RUMBLE_PULSE`] per request; a request during a pulse extends it.
#[embassy_executor::task]
async fn rumble_task(mut motor: Output<'static>) -> ! {
    loop {
        RUMBLE.wait().await;
        motor.set_high();
        while let Either::First(()) = select(RUMBLE.wait(), Timer::after(RUMBLE_PULSE)).await {}
        motor.set_low();
    }
}

// ---- Start-up -------------------------------------------------------------------------------

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    info!(
        "tickwire controller {} for {} (room {})",
        NAME,
        SERVER.authority(),
        if ROOM.is_empty() { "any" } else { ROOM }
    );

    // The IWDG keeps counting while a debugger halts the core unless DBGMCU freezes it (it
    // does not by default, and embassy-stm32 leaves it so): frozen, a probe-rs session stopped
    // at a breakpoint is not reset.
    embassy_stm32::pac::DBGMCU.apb1fzr().modify(|w| w.set_iwdg(true));
    let mut watchdog = IndependentWatchdog::new(p.IWDG, WATCHDOG_TIMEOUT.as_micros() as u32);
    watchdog.unleash();
    spawner.spawn(unwrap!(watchdog_task(watchdog)));
    info!(
        "watchdog armed: a panic or a task that never awaits resets the board after {} s",
        WATCHDOG_TIMEOUT.as_secs()
    );

    // Outputs first, so the LEDs show something while the network comes up.
    let green = Output::new(p.PB0, Level::Low, Speed::Low);
    let blue = Output::new(p.PB7, Level::Low, Speed::Low);
    let red = Output::new(p.PB14, Level::Low, Speed::Low);
    let motor = Output::new(p.PE11, Level::Low, Speed::Low);
    spawner.spawn(unwrap!(rumble_task(motor)));

    let mut rng = Rng::new(p.RNG, Irqs);
    let seed = rng.next_u64();

    let mac = mac_address(embassy_stm32::uid::uid());
    info!("MAC address {=[u8]:02x}", mac);
    let device = Ethernet::new(
        PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );
    let net_config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(device, net_config, NET_RESOURCES.take(), seed);
    spawner.spawn(unwrap!(net_task(runner)));
    spawner.spawn(unwrap!(led_task(stack, green, blue, red)));

    info!("waiting for the Ethernet link");
    stack.wait_link_up().await;
    info!("link up, waiting for DHCP");
    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        info!("IP address {}", config.address);
    }
    spawner.spawn(unwrap!(net_watch(stack)));

    let gamepad = Gamepad {
        adc: Adc::new(p.ADC1),
        vrx: p.PA3,
        vry: p.PC0,
        boost_b1: Input::new(p.PC13, Pull::Down),
        boost_ext: Input::new(p.PF15, Pull::Up),
        action: Input::new(p.PE13, Pull::Up),
        status: Status { phase: Phase::Connecting, kicked: false },
        last_feedback: None,
    };

    // Each attempt first waits for an IP address, within the client's connect timeout (see
    // `TcpConnector::waiting_for_address`).
    let connector =
        TcpConnector::for_url(stack, &SERVER, TCP_RX.take(), TCP_TX.take()).waiting_for_address();
    let buffers = match Buffers::new(WS_RX.take(), WS_TX.take(), WS_MSG.take()) {
        Ok(buffers) => buffers,
        Err(_) => panic!("buffers below the client's minimum"),
    };
    let identity = match Identity::controller(NAME, Some(ROOM)) {
        Ok(identity) => identity,
        Err(_) => panic!("TICKWIRE_NAME and TICKWIRE_ROOM are checked at compile time"),
    };
    let config = ClientConfig::DEFAULT;
    let client = match Client::new(connector, rng, config, identity, SERVER.endpoint(), buffers) {
        Ok(client) => client,
        Err(_) => panic!("WS_TX holds the upgrade request (Buffers::tx_len_for)"),
    };
    spawner.spawn(unwrap!(client_task(client, gamepad)));
}
