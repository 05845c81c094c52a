//! A tickwire controller on a Raspberry Pi Pico W: an analog joystick and two buttons steer a
//! ship in a tickwire game over Wi-Fi; the LEDs and a vibration motor show what happens to it.
//!
//! Tasks:
//! - `cyw43_task`, `net_task`: the Wi-Fi chip driver and the embassy-net stack (DHCP, DNS, TCP);
//! - `wifi_task`: joins the Wi-Fi network (again whenever it is lost, forever) and drives the
//!   on-board LED, which sits on the Wi-Fi chip and so needs the chip's `Control`;
//! - `feedback_task`: the ship's colour on an external RGB LED and the rumble motor;
//! - `watchdog_task`: feeds the RP2040's watchdog, so that a panic or a task that never awaits
//!   resets the board instead of leaving a dead gamepad (a task stuck on an `await` is not
//!   caught);
//! - `main`: brings everything up, then runs the tickwire [`Client`] with [`Gamepad`] as its
//!   [`App`]: the stick is read with blocking ADC conversions (2 µs each) right in
//!   `App::input`, and `App::event` hands news to the two tasks above through a shared cell
//!   and a signal, never waiting.
//!
//! Build-time settings (environment variables, defaults in `.cargo/config.toml`): `WIFI_SSID`,
//! `WIFI_PASSWORD`, `WIFI_AUTH`, `TICKWIRE_SERVER`, `TICKWIRE_NAME`, `TICKWIRE_ROOM`, and
//! `CYW43_NVRAM` (read by `build.rs`). See README.md.
#![no_std]
#![no_main]

use core::cell::Cell;

use cyw43::{A4, Aligned, JoinAuth, JoinOptions};
use cyw43_pio::{DEFAULT_CLOCK_DIVIDER, PioSpi};
use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_rp::adc::{self, Adc};
use embassy_rp::clocks::RoscRng;
use embassy_rp::gpio::{Input, Level, Output, Pull};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{InterruptHandler as PioInterruptHandler, Pio};
use embassy_rp::pwm::{self, Pwm};
use embassy_rp::watchdog::Watchdog;
use embassy_rp::{bind_interrupts, dma};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Instant, Timer, with_timeout};
use static_cell::{ConstStaticCell, StaticCell};
use tickwire_client_embedded::pad::Axis;
use tickwire_client_embedded::protocol::Buttons;
use tickwire_client_embedded::transport::embassy_net::TcpConnector;
use tickwire_client_embedded::{App, Buffers, Client, Config, Event, Identity, Pad, ServerUrl};
use {defmt_rtt as _, panic_probe as _};

// ---- Build-time settings ----------------------------------------------------------------------

/// The Wi-Fi network (`WIFI_SSID`).
const WIFI_SSID: &str = env!("WIFI_SSID");
/// Its passphrase (`WIFI_PASSWORD`); ignored when `WIFI_AUTH=open`.
const WIFI_PASSWORD: &str = env!("WIFI_PASSWORD");
/// `WIFI_AUTH`: `wpa2` (default, also joins WPA2/WPA3 transition networks), `wpa2wpa3`,
/// `wpa3` or `open`.
const WIFI_AUTH: JoinAuth = match parse_auth(env!("WIFI_AUTH")) {
    Some(auth) => auth,
    None => panic!("WIFI_AUTH must be one of wpa2, wpa2wpa3, wpa3, open"),
};
/// The server (`TICKWIRE_SERVER`), checked when the firmware compiles.
const SERVER: ServerUrl<'static> = match ServerUrl::parse(env!("TICKWIRE_SERVER")) {
    Ok(url) => url,
    Err(e) => panic!("{}", e.as_str()), // about TICKWIRE_SERVER
};
/// The display name (`TICKWIRE_NAME`).
const NAME: &str = env!("TICKWIRE_NAME");
/// The room to join (`TICKWIRE_ROOM`); empty joins any room with a free seat.
const ROOM: &str = env!("TICKWIRE_ROOM");

const _: () = {
    assert!(!WIFI_SSID.is_empty() && WIFI_SSID.len() <= 32, "WIFI_SSID must hold 1 to 32 bytes");
    assert!(
        matches!(WIFI_AUTH, JoinAuth::Open)
            || (WIFI_PASSWORD.len() >= 8 && WIFI_PASSWORD.len() <= 63),
        "WIFI_PASSWORD must hold 8 to 63 characters (or set WIFI_AUTH=open)"
    );
    // TICKWIRE_NAME and TICKWIRE_ROOM, checked as the server will check them.
    if let Err(e) = Identity::check(NAME, ROOM) {
        panic!("{}", e.as_str()); // about TICKWIRE_NAME or TICKWIRE_ROOM
    }
};

// ---- Hardware settings ------------------------------------------------------------------------

/// Stick calibration for the 12-bit ADC. `Axis::TWELVE_BIT` suits a stick that rests near
/// mid-scale; measure yours (build with `DEFMT_LOG=info,tickwire_pico_w=trace` to log the raw
/// readings) and use `Axis::new(min, centre, max).with_deadzone(..)` when it does not. Add
/// `.inverted()` to an axis that steers the wrong way: the game wants x negative to the left,
/// y negative up.
const X_AXIS: Axis = Axis::TWELVE_BIT;
const Y_AXIS: Axis = Axis::TWELVE_BIT;
/// ADC conversions averaged per reading (2 µs each), to calm a noisy stick.
const ADC_SAMPLES: u32 = 4;
/// Set for a common-anode RGB LED (its common pin on 3V3): the outputs are then inverted.
const RGB_COMMON_ANODE: bool = false;
/// Brightness of the ship colour while the ship waits to respawn, in 1/256ths of full.
const DEAD_BRIGHTNESS: u16 = 24;
/// How long a rumble lasts (the server's feedback says "for the next ~200 ms").
const RUMBLE_FOR: Duration = Duration::from_millis(200);
/// Weakest motor drive, in 1/255ths, so that a weak rumble still spins a small motor.
const RUMBLE_MIN: u8 = 110;
/// Wi-Fi power saving. `PowerSave` keeps the radio awake for 200 ms after each send, and
/// inputs go out every 33 ms, so it never dozes while playing (no added latency) and does doze
/// while idle; `None` would only cost power.
const WIFI_POWER: cyw43::PowerManagementMode = cyw43::PowerManagementMode::PowerSave;
/// How long one Wi-Fi join may take before it is abandoned and retried.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between failed joins.
const JOIN_RETRY: Duration = Duration::from_secs(2);
/// How long the Wi-Fi link may stay down before the network is joined again.
const LINK_GRACE: Duration = Duration::from_secs(5);
/// How long the executor may go without feeding the watchdog before it resets the board. The
/// RP2040's watchdog counts at most 8.3 s; the longest legitimate pause between two feeds is
/// one feeding period, as every wait in this firmware is an `await`.
const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(8);
/// How often `watchdog_task` feeds it.
const WATCHDOG_FEED: Duration = Duration::from_secs(1);

// ---- Blobs for the Wi-Fi chip (in flash, 4-byte aligned) ---------------------------------------

static FIRMWARE: &Aligned<A4, [u8]> = &Aligned(*cyw43_firmware::CYW43_43439A0);
static CLM: &[u8] = cyw43_firmware::CYW43_43439A0_CLM;
/// The Pico W's NVRAM, converted by `build.rs` from the file `CYW43_NVRAM` names.
static NVRAM: &Aligned<A4, [u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/nvram.bin")));

// ---- Buffers ----------------------------------------------------------------------------------

/// The WebSocket transmit buffer holds the upgrade request, then one frame at a time: the
/// client's recommended 384 bytes, or more for a long `TICKWIRE_SERVER` (a `?token=<jwt>` makes
/// the request 400 bytes and up), so that a URL that parses also fits.
const TX_LEN: usize = Buffers::tx_len_for(&SERVER);

static RX: ConstStaticCell<[u8; 512]> = ConstStaticCell::new([0; 512]);
static TX: ConstStaticCell<[u8; TX_LEN]> = ConstStaticCell::new([0; TX_LEN]);
static MSG: ConstStaticCell<[u8; 256]> = ConstStaticCell::new([0; 256]);
static TCP_RX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
static TCP_TX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => PioInterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

// ---- What the LEDs show -----------------------------------------------------------------------

/// Where the game session stands, as the LEDs show it.
#[derive(Clone, Copy, PartialEq, Eq, defmt::Format)]
enum Play {
    /// Connecting to the server, or waiting to retry.
    Connecting,
    /// Joined; the ship is alive.
    Alive,
    /// Joined; the ship waits to respawn.
    Dead,
    /// The server turned us away (`Disconnect::is_refusal()`: a full room, another protocol
    /// version, a refused `Hello`, an operator's removal or ban, or an upgrade refused with an
    /// HTTP status such as 401 for a missing or expired join token); retrying until it takes
    /// us. Any other kick (a server restart's `ShuttingDown`, `Idle`, `Replaced`, ...)
    /// just reconnects.
    Kicked,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Status {
    /// Wi-Fi joined and an IPv4 address configured.
    online: bool,
    play: Play,
    /// The ship's colour from the last feedback.
    colour: [u8; 3],
}

/// Written by `wifi_task` (`online`) and `Gamepad::event` (the rest), read by the LED tasks.
static STATUS: Mutex<CriticalSectionRawMutex, Cell<Status>> =
    Mutex::new(Cell::new(Status { online: false, play: Play::Connecting, colour: [0; 3] }));
/// Rumble strength (1-255) from the latest feedback that asked for one.
static RUMBLE: Signal<CriticalSectionRawMutex, u8> = Signal::new();

fn status() -> Status {
    STATUS.lock(Cell::get)
}

fn update_status(change: impl FnOnce(&mut Status)) {
    STATUS.lock(|cell| {
        let mut status = cell.get();
        change(&mut status);
        cell.set(status);
    });
}

/// The on-board LED at `ms` milliseconds of uptime:
/// - fast blink (5 Hz): no network (joining Wi-Fi, waiting for DHCP);
/// - slow blink (1 Hz): connecting to the server, or waiting to retry;
/// - solid: joined, ship alive;
/// - a short flash every 2 s: joined, ship waiting to respawn;
/// - three quick flashes every 2 s: turned away (a full room, or an HTTP refusal such as a 401 for an
///   expired join token), retrying.
fn onboard_led(status: Status, ms: u64) -> bool {
    if !status.online {
        return ms % 200 < 100;
    }
    match status.play {
        Play::Connecting => ms % 1000 < 500,
        Play::Alive => true,
        Play::Dead => ms % 2000 < 100,
        Play::Kicked => {
            let phase = ms % 2000;
            phase < 600 && phase % 200 < 100
        }
    }
}

// ---- The controller ---------------------------------------------------------------------------

/// The tickwire [`App`]: stick and buttons in, status and feedback out to the LED tasks.
struct Gamepad {
    adc: Adc<'static, adc::Blocking>,
    x: adc::Channel<'static>,
    y: adc::Channel<'static>,
    boost: Input<'static>,
    action: Input<'static>,
    last_feedback: Option<(u16, bool, [u8; 3])>,
}

impl Gamepad {
    /// The average of [`ADC_SAMPLES`] conversions, or `None` when a conversion failed.
    fn read(
        adc: &mut Adc<'static, adc::Blocking>,
        channel: &mut adc::Channel<'static>,
    ) -> Option<u16> {
        let mut sum = 0u32;
        for _ in 0..ADC_SAMPLES {
            sum += u32::from(adc.blocking_read(channel).ok()?);
        }
        Some((sum / ADC_SAMPLES) as u16)
    }
}

impl App for Gamepad {
    fn input(&mut self) -> Pad {
        let raw_x = Self::read(&mut self.adc, &mut self.x);
        let raw_y = Self::read(&mut self.adc, &mut self.y);
        defmt::trace!("stick raw x {} y {}", raw_x, raw_y);
        let mut buttons = 0;
        if self.boost.is_low() {
            buttons |= Buttons::BOOST;
        }
        if self.action.is_low() {
            buttons |= Buttons::ACTION;
        }
        Pad {
            // A failed conversion reads as a centred stick rather than a wild swing.
            x: raw_x.map_or(0, |raw| X_AXIS.map(raw)),
            y: raw_y.map_or(0, |raw| Y_AXIS.map(raw)),
            buttons,
        }
    }

    fn event(&mut self, event: &Event) {
        // The client logs joins, kicks and disconnects itself; only feedback is logged here.
        match event {
            Event::Disconnected { reason, .. } if reason.is_refusal() => {
                update_status(|s| s.play = Play::Kicked)
            }
            Event::Connecting { .. } | Event::Disconnected { .. } => update_status(|s| {
                if s.play != Play::Kicked {
                    s.play = Play::Connecting;
                }
            }),
            Event::Joined(_) => {
                self.last_feedback = None;
                update_status(|s| s.play = Play::Alive);
            }
            Event::Kicked(kick) => update_status(|s| {
                s.play = if kick.reason.is_refusal() { Play::Kicked } else { Play::Connecting };
            }),
            Event::Feedback(feedback) => {
                let now = (feedback.score, feedback.alive, feedback.colour.0);
                if self.last_feedback != Some(now) {
                    let [r, g, b] = feedback.colour.0;
                    info!(
                        "ship colour #{=u8:02x}{=u8:02x}{=u8:02x}, score {}, alive {}",
                        r, g, b, feedback.score, feedback.alive
                    );
                    self.last_feedback = Some(now);
                }
                update_status(|s| {
                    s.play = if feedback.alive { Play::Alive } else { Play::Dead };
                    s.colour = feedback.colour.0;
                });
                if feedback.rumble > 0 {
                    RUMBLE.signal(feedback.rumble);
                }
            }
        }
    }
}

// ---- Tasks ------------------------------------------------------------------------------------

/// Feeds the watchdog every [`WATCHDOG_FEED`]. It runs on the executor like every other task, so
/// a panic (which stops the executor) or a task that never awaits (which starves it) ends the
/// feeding, and the watchdog resets the board.
/// A future stuck on an `await` that never completes is not caught: the executor, and this task
/// with it, keep running.
#[embassy_executor::task]
async fn watchdog_task(mut watchdog: Watchdog) -> ! {
    loop {
        watchdog.feed(WATCHDOG_TIMEOUT);
        Timer::after(WATCHDOG_FEED).await;
    }
}

type Cyw43Runner = cyw43::Runner<'static, cyw43::SpiBus<Output<'static>, PioSpi<'static, PIO0, 0>>>;

#[embassy_executor::task]
async fn cyw43_task(runner: Cyw43Runner) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

/// Joins the Wi-Fi network, retrying forever, and joins again whenever the link stays down;
/// meanwhile drives the on-board LED (on the Wi-Fi chip, hence here).
#[embassy_executor::task]
async fn wifi_task(mut control: cyw43::Control<'static>, stack: Stack<'static>) -> ! {
    let mut led = false;
    loop {
        update_status(|s| s.online = false);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            info!("joining Wi-Fi \"{=str}\" (attempt {})", WIFI_SSID, attempt);
            let options = match WIFI_AUTH {
                JoinAuth::Open => JoinOptions::new_open(),
                auth => {
                    let mut options = JoinOptions::new(WIFI_PASSWORD.as_bytes());
                    options.auth = auth;
                    options
                }
            };
            match with_timeout(JOIN_TIMEOUT, control.join(WIFI_SSID, options)).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => warn!("Wi-Fi join failed: {}", e),
                Err(_) => warn!("Wi-Fi join timed out"),
            }
            // Blink fast while waiting to retry.
            let retry_at = Instant::now() + JOIN_RETRY;
            while Instant::now() < retry_at {
                show(&mut control, &mut led, status()).await;
                Timer::after_millis(50).await;
            }
        }
        info!("Wi-Fi joined; waiting for DHCP");

        let mut down_since: Option<Instant> = None;
        loop {
            let online = stack.is_config_up();
            if online != status().online {
                match stack.config_v4() {
                    Some(config) if online => {
                        // Octet by octet: defmt's `Ipv4Addr` goes through `core::fmt`.
                        let [a, b, c, d] = config.address.address().octets();
                        let prefix = config.address.prefix_len();
                        info!("online: IP {}.{}.{}.{}/{}", a, b, c, d, prefix);
                    }
                    _ => warn!("no IP address"),
                }
                update_status(|s| s.online = online);
            }
            show(&mut control, &mut led, status()).await;

            if stack.is_link_up() {
                down_since = None;
            } else {
                let since = *down_since.get_or_insert_with(Instant::now);
                if since.elapsed() > LINK_GRACE {
                    warn!("Wi-Fi link lost; joining again");
                    break;
                }
            }
            Timer::after_millis(50).await;
        }
    }
}

/// Sets the on-board LED to its pattern for `status`, talking to the chip only on a change.
async fn show(control: &mut cyw43::Control<'static>, led: &mut bool, status: Status) {
    let on = onboard_led(status, Instant::now().as_millis());
    if on != *led {
        control.gpio_set(0, on).await;
        *led = on;
    }
}

/// An RGB LED on three PWM channels.
struct RgbLed {
    red_green: Pwm<'static>,
    red_green_config: pwm::Config,
    blue: Pwm<'static>,
    blue_config: pwm::Config,
}

impl RgbLed {
    /// PWM wrap: 12 bits, ~30 kHz at the RP2040's 125 MHz system clock.
    const TOP: u16 = 4095;

    fn config() -> pwm::Config {
        let mut config = pwm::Config::default();
        config.top = Self::TOP;
        config.invert_a = RGB_COMMON_ANODE;
        config.invert_b = RGB_COMMON_ANODE;
        config
    }

    /// Shows `colour` at `brightness`/256, gamma-corrected so that colours look right.
    fn set(&mut self, colour: [u8; 3], brightness: u16) {
        let [r, g, b] = colour.map(|c| {
            let c = u32::from(c) * u32::from(brightness) / 256;
            (c * c * u32::from(Self::TOP) / (255 * 255)) as u16
        });
        if (self.red_green_config.compare_a, self.red_green_config.compare_b) != (r, g) {
            self.red_green_config.compare_a = r;
            self.red_green_config.compare_b = g;
            self.red_green.set_config(&self.red_green_config);
        }
        if self.blue_config.compare_a != b {
            self.blue_config.compare_a = b;
            self.blue.set_config(&self.blue_config);
        }
    }
}

/// A vibration motor (through a transistor) on one PWM channel.
struct Motor {
    pwm: Pwm<'static>,
    config: pwm::Config,
}

impl Motor {
    /// PWM wrap: ~20 kHz (inaudible) at 125 MHz.
    const TOP: u16 = 6249;

    fn config() -> pwm::Config {
        let mut config = pwm::Config::default();
        config.top = Self::TOP;
        config
    }

    /// Drives the motor at `strength`/255 (0: off).
    fn set(&mut self, strength: u8) {
        let duty = match strength {
            0 => 0,
            s => u32::from(s.max(RUMBLE_MIN)) * (u32::from(Self::TOP) + 1) / 255,
        };
        self.config.compare_a = duty as u16;
        self.pwm.set_config(&self.config);
    }
}

/// Shows the ship's colour on the RGB LED (dimmed while the ship waits to respawn, off
/// while not joined) and runs the motor for [`RUMBLE_FOR`] after each rumble.
#[embassy_executor::task]
async fn feedback_task(mut rgb: RgbLed, mut motor: Motor) -> ! {
    let mut rumble_until: Option<Instant> = None;
    loop {
        let status = status();
        match (status.online, status.play) {
            (true, Play::Alive) => rgb.set(status.colour, 256),
            (true, Play::Dead) => rgb.set(status.colour, DEAD_BRIGHTNESS),
            _ => rgb.set([0; 3], 0),
        }

        if let Ok(strength) = with_timeout(Duration::from_millis(20), RUMBLE.wait()).await {
            motor.set(strength);
            rumble_until = Some(Instant::now() + RUMBLE_FOR);
        }
        if let Some(until) = rumble_until
            && Instant::now() >= until
        {
            motor.set(0);
            rumble_until = None;
        }
    }
}

// ---- Start-up ---------------------------------------------------------------------------------

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    info!("tickwire controller \"{=str}\" for {=str}", NAME, SERVER.authority());

    let mut watchdog = Watchdog::new(p.WATCHDOG);
    // Paused while a debugger halts the core (the chip's reset default, made explicit), so a
    // probe-rs session stopped at a breakpoint is not reset.
    watchdog.pause_on_debug(true);
    watchdog.start(WATCHDOG_TIMEOUT);
    spawner.spawn(unwrap!(watchdog_task(watchdog)));
    info!(
        "watchdog armed: a panic or a task that never awaits resets the board after {} s",
        WATCHDOG_TIMEOUT.as_secs()
    );

    // Controls first, so that the LEDs and the motor are quiet while Wi-Fi comes up.
    let rgb = RgbLed {
        red_green: Pwm::new_output_ab(p.PWM_SLICE1, p.PIN_18, p.PIN_19, RgbLed::config()),
        red_green_config: RgbLed::config(),
        blue: Pwm::new_output_a(p.PWM_SLICE2, p.PIN_20, RgbLed::config()),
        blue_config: RgbLed::config(),
    };
    let motor = Motor {
        pwm: Pwm::new_output_a(p.PWM_SLICE0, p.PIN_16, Motor::config()),
        config: Motor::config(),
    };
    spawner.spawn(unwrap!(feedback_task(rgb, motor)));
    let mut gamepad = Gamepad {
        adc: Adc::new_blocking(p.ADC, adc::Config::default()),
        x: adc::Channel::new_pin(p.PIN_26, Pull::None),
        y: adc::Channel::new_pin(p.PIN_27, Pull::None),
        boost: Input::new(p.PIN_14, Pull::Up),
        action: Input::new(p.PIN_15, Pull::Up),
        last_feedback: None,
    };

    // The CYW43439 Wi-Fi chip on PIO0: power GP23, chip select GP25, data GP24, clock GP29.
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        dma::Channel::new(p.DMA_CH0, Irqs),
    );
    static CYW43_STATE: StaticCell<cyw43::State> = StaticCell::new();
    let state = CYW43_STATE.init(cyw43::State::new());
    let (net_device, mut control, runner) = cyw43::new(state, pwr, spi, FIRMWARE, NVRAM).await;
    spawner.spawn(unwrap!(cyw43_task(runner)));
    control.init(CLM).await;
    control.set_power_management(WIFI_POWER).await;

    // The network stack: DHCP, plus DNS for a server given by name. Sockets: DHCP, DNS, TCP.
    let mut rng = RoscRng;
    static RESOURCES: StaticCell<StackResources<3>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        net_device,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        rng.next_u64(),
    );
    spawner.spawn(unwrap!(net_task(runner)));
    spawner.spawn(unwrap!(wifi_task(control, stack)));

    stack.wait_config_up().await;

    // Each attempt first waits for an IP address, within the client's connect timeout (see
    // `TcpConnector::waiting_for_address`).
    let connector =
        TcpConnector::for_url(stack, &SERVER, TCP_RX.take(), TCP_TX.take()).waiting_for_address();
    let buffers = unwrap!(Buffers::new(RX.take(), TX.take(), MSG.take()));
    // Checked at compile time (above): never fails here.
    let identity = unwrap!(Identity::controller(NAME, Some(ROOM)));
    // `TX` holds the upgrade request (`Buffers::tx_len_for`): never fails here.
    let mut client =
        unwrap!(Client::new(connector, rng, Config::DEFAULT, identity, SERVER.endpoint(), buffers));
    info!("playing on {=str}{=str} as \"{=str}\"", SERVER.authority(), SERVER.path(), NAME);
    // `Gamepad` never asks to leave, so `run` does not return.
    let _left = client.run(&mut gamepad).await;
}

/// `WIFI_AUTH` as a [`JoinAuth`], at compile time.
const fn parse_auth(name: &str) -> Option<JoinAuth> {
    match name.as_bytes() {
        b"wpa2" | b"WPA2" => Some(JoinAuth::Wpa2),
        b"wpa2wpa3" | b"WPA2WPA3" => Some(JoinAuth::Wpa2Wpa3),
        b"wpa3" | b"WPA3" => Some(JoinAuth::Wpa3),
        b"open" | b"OPEN" => Some(JoinAuth::Open),
        _ => None,
    }
}
