//! A tickwire controller on an ESP32-C3 board (ESP32-C3-DevKitM-1, DevKitC-02): an analog
//! joystick and two buttons steer a ship in a tickwire game over Wi-Fi; the on-board RGB LED
//! and a vibration motor show what happens to it.
//!
//! Tasks:
//! - `net_task`: the embassy-net stack (DHCP, DNS, TCP) over esp-radio's Wi-Fi station;
//! - `wifi_task`: joins the Wi-Fi network, retrying forever, joins again whenever the link is
//!   lost, and logs the IP address DHCP hands out;
//! - `stick_task`: samples the joystick with the ADC at 100 Hz into a shared cell (an ESP32-C3
//!   conversion is awaited, and `App::input` must not wait);
//! - `feedback_task`: the on-board WS2812 RGB LED (status, the ship's colour) and the rumble
//!   motor;
//! - `watchdog_task`: feeds TIMG0's watchdog, so that a panic or a task that never awaits resets
//!   the board instead of leaving a dead gamepad (a task stuck on an `await` is not caught);
//! - `main`: brings everything up, then runs the tickwire [`Client`] with [`Gamepad`] as its
//!   [`App`]: `App::input` returns the latest stick sample and reads the buttons, and
//!   `App::event` hands news to `feedback_task` through a shared cell and a signal, never
//!   waiting.
//!
//! esp-radio needs a heap (about 50 KiB for a station) and esp-rtos' preemptive scheduler,
//! which also drives embassy's executor and timers. The client itself allocates nothing.
//!
//! Build-time settings (environment variables, defaults in `.cargo/config.toml`): `WIFI_SSID`,
//! `WIFI_PASSWORD`, `TICKWIRE_SERVER`, `TICKWIRE_NAME`, `TICKWIRE_ROOM`, `ESP_LOG`. See
//! README.md.
#![no_std]
#![no_main]

use core::cell::Cell;

use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{Runner, Stack, StackResources};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Instant, Ticker, Timer, with_timeout};
use esp_backtrace as _;
use esp_hal::Async;
use esp_hal::analog::adc::{Adc, AdcChannel, AdcConfig, AdcPin, Attenuation};
use esp_hal::clock::CpuClock;
use esp_hal::gpio::{Input, InputConfig, Level, Output, OutputConfig, Pull};
use esp_hal::peripherals::{ADC1, GPIO0, GPIO1, TIMG0};
use esp_hal::rmt::Rmt;
use esp_hal::rng::{Rng, TrngSource};
use esp_hal::time::Rate;
use esp_hal::timer::timg::{MwdtStage, TimerGroup, Wdt};
use esp_hal_smartled::{RmtSmartLeds, buffer_size, color_order};
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{
    AuthenticationMethodConfig, Config as WifiConfig, ControllerConfig, Interface, Password, Ssid,
    WifiController,
};
use log::{debug, info, warn};
use smart_leds_trait::{RGB8, SmartLedsWriteAsync};
use static_cell::{ConstStaticCell, StaticCell};
use tickwire_client_embedded::pad::Axis;
use tickwire_client_embedded::protocol::Buttons;
use tickwire_client_embedded::transport::embassy_net::TcpConnector;
use tickwire_client_embedded::{App, Buffers, Client, Config, Event, Identity, Pad, ServerUrl};

esp_bootloader_esp_idf::esp_app_desc!();

// ---- Build-time settings ----------------------------------------------------------------------

/// The Wi-Fi network (`WIFI_SSID`).
const WIFI_SSID: &str = env!("WIFI_SSID");
/// Its passphrase (`WIFI_PASSWORD`); empty for an open network.
const WIFI_PASSWORD: &str = env!("WIFI_PASSWORD");
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
        WIFI_PASSWORD.is_empty() || (WIFI_PASSWORD.len() >= 8 && WIFI_PASSWORD.len() <= 64),
        "WIFI_PASSWORD must hold 8 to 64 characters (or be empty for an open network)"
    );
    // TICKWIRE_NAME and TICKWIRE_ROOM, checked as the server will check them.
    if let Err(e) = Identity::check(NAME, ROOM) {
        panic!("{}", e.as_str()); // about TICKWIRE_NAME or TICKWIRE_ROOM
    }
};

// ---- Hardware settings ------------------------------------------------------------------------

/// Stick calibration in raw 12-bit ADC counts. At 11 dB attenuation the ESP32-C3's range ends
/// below 3.3 V (raw 4095 comes at roughly 2.5 to 3 V, uncalibrated), so a stick on 3V3 rests
/// above mid-scale and the end of its travel reads 4095: the centre is therefore measured at
/// start-up (see [`CENTRE_WINDOW`]). Measure yours (raw readings are logged at
/// `ESP_LOG=debug`) and use `Axis::new(min, centre, max).with_deadzone(..)` for a stick that
/// still steers badly. Add `.inverted()` to an axis that steers the wrong way: the game wants
/// x negative to the left, y negative up.
const X_AXIS: Axis = Axis::TWELVE_BIT;
const Y_AXIS: Axis = Axis::TWELVE_BIT;
/// A centre measured at start-up is used only inside this window; outside it the stick was
/// probably held, so the axis keeps its configured centre.
const CENTRE_WINDOW: (u16, u16) = (1024, 3584);
/// ADC conversions averaged per stick sample, to calm a noisy stick.
const ADC_SAMPLES: u32 = 4;
/// Stick sampling period (100 Hz, three samples per input sent at the default 30 Hz).
const STICK_PERIOD: Duration = Duration::from_millis(10);
/// Brightness of the on-board WS2812, in 1/255ths: at full power it dazzles.
const LED_BRIGHTNESS: u16 = 40;
/// How long a rumble lasts (the server's feedback says "for the next ~200 ms").
const RUMBLE_FOR: Duration = Duration::from_millis(200);
/// How long one Wi-Fi join may take before it is abandoned and retried.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between failed joins.
const JOIN_RETRY: Duration = Duration::from_secs(2);
/// How long the executor may go without feeding the watchdog before it resets the board; the
/// longest legitimate pause between two feeds is one feeding period, as every wait in this
/// firmware is an `await`.
const WATCHDOG_TIMEOUT_S: u64 = 8;
/// How often `watchdog_task` feeds it.
const WATCHDOG_FEED: Duration = Duration::from_secs(1);

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

// ---- What the LED shows -----------------------------------------------------------------------

/// Where the game session stands, as the LED shows it.
#[derive(Clone, Copy, PartialEq, Eq)]
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
    play: Play,
    /// The ship's colour from the last feedback; `None` until the first one.
    colour: Option<[u8; 3]>,
}

/// Written by `Gamepad::event`, read by `feedback_task`.
static STATUS: Mutex<CriticalSectionRawMutex, Cell<Status>> =
    Mutex::new(Cell::new(Status { play: Play::Connecting, colour: None }));
/// A feedback asked for a rumble.
static RUMBLE: Signal<CriticalSectionRawMutex, ()> = Signal::new();
/// The latest stick position (x, y), written by `stick_task`, read by `Gamepad::input`.
static STICK: Mutex<CriticalSectionRawMutex, Cell<(i8, i8)>> = Mutex::new(Cell::new((0, 0)));

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

const OFF: [u8; 3] = [0, 0, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const AMBER: [u8; 3] = [255, 120, 0];
const RED: [u8; 3] = [255, 0, 0];
const WHITE: [u8; 3] = [255, 255, 255];

/// The LED's colour at `ms` milliseconds of uptime:
/// - blue, fast blink (5 Hz): no network (joining Wi-Fi, waiting for DHCP);
/// - amber, slow blink (1 Hz): connecting to the server, or waiting to retry;
/// - the ship's colour, solid: joined, ship alive (white until the first feedback);
/// - the ship's colour, a short flash every 2 s: joined, ship waiting to respawn;
/// - red, three quick flashes every 2 s: turned away (a full room, or an HTTP refusal such as a 401 for an
///   expired join token), retrying.
fn led_colour(online: bool, status: Status, ms: u64) -> [u8; 3] {
    let blink = |on: bool, colour: [u8; 3]| if on { colour } else { OFF };
    if !online {
        return blink(ms % 200 < 100, BLUE);
    }
    let ship = status.colour.unwrap_or(WHITE);
    match status.play {
        Play::Connecting => blink(ms % 1000 < 500, AMBER),
        Play::Alive => ship,
        Play::Dead => blink(ms % 2000 < 150, ship),
        Play::Kicked => {
            let phase = ms % 2000;
            blink(phase < 600 && phase % 200 < 100, RED)
        }
    }
}

// ---- The controller ---------------------------------------------------------------------------

/// The tickwire [`App`]: stick and buttons in, status and feedback out to `feedback_task`.
struct Gamepad {
    boost: Input<'static>,
    action: Input<'static>,
    last_feedback: Option<(u16, bool, [u8; 3])>,
}

impl App for Gamepad {
    fn input(&mut self) -> Pad {
        let (x, y) = STICK.lock(Cell::get);
        let mut buttons = 0;
        if self.boost.is_low() {
            buttons |= Buttons::BOOST;
        }
        if self.action.is_low() {
            buttons |= Buttons::ACTION;
        }
        Pad { x, y, buttons }
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
                        "ship colour #{r:02x}{g:02x}{b:02x}, score {}, alive {}",
                        feedback.score, feedback.alive
                    );
                    self.last_feedback = Some(now);
                }
                update_status(|s| {
                    s.play = if feedback.alive { Play::Alive } else { Play::Dead };
                    s.colour = Some(feedback.colour.0);
                });
                if feedback.rumble > 0 {
                    RUMBLE.signal(());
                }
            }
        }
    }
}

// ---- Tasks ------------------------------------------------------------------------------------

/// Feeds the watchdog every [`WATCHDOG_FEED`]. It runs on the executor like every other task, so
/// a panic (esp-backtrace then spins with interrupts off) or a task that never awaits (which
/// starves the executor) ends the feeding, and the watchdog resets the board.
/// A future stuck on an `await` that never completes is not caught: the executor, and this task
/// with it, keep running.
#[embassy_executor::task]
async fn watchdog_task(mut watchdog: Wdt<TIMG0<'static>>) -> ! {
    loop {
        watchdog.feed();
        Timer::after(WATCHDOG_FEED).await;
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Interface>) -> ! {
    runner.run().await
}

/// Joins the Wi-Fi network, retrying forever, and joins again whenever the link is lost.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>, stack: Stack<'static>) -> ! {
    loop {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            info!("joining Wi-Fi \"{WIFI_SSID}\" (attempt {attempt})");
            match with_timeout(JOIN_TIMEOUT, controller.connect_async()).await {
                Ok(Ok(joined)) => {
                    info!("Wi-Fi joined (channel {}); waiting for DHCP", joined.channel);
                    break;
                }
                Ok(Err(e)) => warn!("Wi-Fi join failed: {e:?}"),
                Err(_) => {
                    warn!("Wi-Fi join timed out");
                    // Abandon the attempt the driver may still be making.
                    let _ = with_timeout(JOIN_RETRY, controller.disconnect_async()).await;
                }
            }
            Timer::after(JOIN_RETRY).await;
        }

        // Log the address once DHCP gives one, then wait for the link to drop.
        let lost =
            match select(stack.wait_config_up(), controller.wait_for_disconnect_async()).await {
                Either::First(()) => {
                    if let Some(config) = stack.config_v4() {
                        info!("online: IP {}", config.address);
                    }
                    controller.wait_for_disconnect_async().await
                }
                Either::Second(lost) => lost,
            };
        match lost {
            Ok(info) => warn!("Wi-Fi lost ({:?}); joining again", info.reason),
            Err(e) => warn!("Wi-Fi not connected ({e:?}); joining again"),
        }
        Timer::after(JOIN_RETRY).await;
    }
}

type StickAdc = Adc<'static, ADC1<'static>, Async>;

/// The average of [`ADC_SAMPLES`] conversions of `pin`.
async fn read_stick<P: AdcChannel>(adc: &mut StickAdc, pin: &mut AdcPin<P, ADC1<'static>>) -> u16 {
    let mut sum = 0u32;
    for _ in 0..ADC_SAMPLES {
        sum += u32::from(adc.read_oneshot(pin).await);
    }
    (sum / ADC_SAMPLES) as u16
}

/// `axis` with its centre moved to `rest`, the reading of the stick at rest, when `rest` is
/// plausible.
fn centred(axis: Axis, rest: u16, name: &str) -> Axis {
    if (CENTRE_WINDOW.0..=CENTRE_WINDOW.1).contains(&rest) {
        info!("stick {name}: centre {rest}");
        Axis { centre: rest, ..axis }
    } else {
        warn!(
            "stick {name} reads {rest} at start-up: not centred (or not connected); using {}",
            axis.centre
        );
        axis
    }
}

/// Samples the stick every [`STICK_PERIOD`] into [`STICK`]. The first sample, taken at
/// power-up with the stick at rest, sets the centres.
#[embassy_executor::task]
async fn stick_task(
    mut adc: StickAdc,
    mut x_pin: AdcPin<GPIO0<'static>, ADC1<'static>>,
    mut y_pin: AdcPin<GPIO1<'static>, ADC1<'static>>,
) -> ! {
    let x_axis = centred(X_AXIS, read_stick(&mut adc, &mut x_pin).await, "x");
    let y_axis = centred(Y_AXIS, read_stick(&mut adc, &mut y_pin).await, "y");
    let mut ticker = Ticker::every(STICK_PERIOD);
    let mut logged = Instant::now();
    loop {
        let raw_x = read_stick(&mut adc, &mut x_pin).await;
        let raw_y = read_stick(&mut adc, &mut y_pin).await;
        STICK.lock(|stick| stick.set((x_axis.map(raw_x), y_axis.map(raw_y))));
        if logged.elapsed() >= Duration::from_secs(1) {
            debug!("stick raw x {raw_x} y {raw_y}");
            logged = Instant::now();
        }
        ticker.next().await;
    }
}

/// The on-board WS2812 on an RMT channel, one pixel, green-red-blue on the wire.
type Led = RmtSmartLeds<'static, { buffer_size::<RGB8>(1) }, Async, RGB8, color_order::Grb>;

/// Shows [`led_colour`] on the LED (dimmed to [`LED_BRIGHTNESS`]) and runs the motor for
/// [`RUMBLE_FOR`] after each rumble.
#[embassy_executor::task]
async fn feedback_task(mut led: Led, mut motor: Output<'static>, stack: Stack<'static>) -> ! {
    let mut shown = None;
    let mut rumble_until: Option<Instant> = None;
    loop {
        let colour = led_colour(stack.is_config_up(), status(), Instant::now().as_millis());
        if shown != Some(colour) {
            let [r, g, b] = colour.map(|c| (u16::from(c) * LED_BRIGHTNESS / 255) as u8);
            if let Err(e) = led.write([RGB8 { r, g, b }]).await {
                warn!("LED write failed: {e:?}");
            }
            shown = Some(colour);
        }

        if with_timeout(Duration::from_millis(20), RUMBLE.wait()).await.is_ok() {
            motor.set_high();
            rumble_until = Some(Instant::now() + RUMBLE_FOR);
        }
        if let Some(until) = rumble_until
            && Instant::now() >= until
        {
            motor.set_low();
            rumble_until = None;
        }
    }
}

// ---- Start-up ---------------------------------------------------------------------------------

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    esp_println::logger::init_logger_from_env();
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    // esp-radio's heap: the RAM the second-stage bootloader used (64 KiB, free once the app
    // runs) plus 36 KiB of ordinary RAM, as esp-radio's own examples set it up.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: 36 * 1024);
    info!("tickwire controller \"{NAME}\" for {}", SERVER.authority());

    // Controls first, so that the motor is quiet while Wi-Fi comes up.
    let motor = Output::new(p.GPIO6, Level::Low, OutputConfig::default());
    let pull_up = InputConfig::default().with_pull(Pull::Up);
    let mut gamepad = Gamepad {
        boost: Input::new(p.GPIO4, pull_up),
        action: Input::new(p.GPIO5, pull_up),
        last_feedback: None,
    };
    let mut adc_config: AdcConfig<ADC1<'static>> = AdcConfig::new();
    let x_pin = adc_config.enable_pin(p.GPIO0, Attenuation::_11dB);
    let y_pin = adc_config.enable_pin(p.GPIO1, Attenuation::_11dB);
    let adc = Adc::new(p.ADC1, adc_config).into_async();
    let rmt_clock = Rate::from_mhz(80);
    let rmt = Rmt::new(p.RMT, rmt_clock).expect("RMT clock").into_async();
    let led = Led::new(esp_hal_smartled::WS2812_TIMING, rmt.channel0, p.GPIO8, rmt_clock)
        .expect("WS2812 timing fits the RMT");

    // The scheduler esp-radio needs, which also runs embassy's executor and timers.
    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    // `esp_hal::init` turned every watchdog off; TIMG0's, a full system reset at its first
    // timeout, comes back on here. The C3 cannot pause it while a debugger halts the CPU (see
    // README.md).
    let mut watchdog = timg0.wdt;
    watchdog.set_timeout(MwdtStage::Stage0, esp_hal::time::Duration::from_secs(WATCHDOG_TIMEOUT_S));
    watchdog.enable();
    spawner.spawn(watchdog_task(watchdog).expect("watchdog_task spawned once"));
    info!(
        "watchdog armed: a panic or a task that never awaits resets the board after \
         {WATCHDOG_TIMEOUT_S} s"
    );

    // Wi-Fi station, configured here and joined by `wifi_task`.
    let authentication = if WIFI_PASSWORD.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        // The weakest security accepted: also joins WPA2/WPA3 transition networks.
        AuthenticationMethodConfig::Wpa2Personal(
            Password::try_from(WIFI_PASSWORD).expect("length checked at compile time"),
        )
    };
    let station = StationConfig::default()
        .with_ssid(Ssid::try_from(WIFI_SSID).expect("length checked at compile time"))
        .with_authentication(authentication);
    let controller = WifiController::new(
        p.WIFI,
        ControllerConfig::default().with_initial_config(WifiConfig::Station(station)),
    )
    .expect("Wi-Fi driver start");
    let interface = Interface::station();

    // The hardware RNG draws true randomness from RF noise only while the radio is on, which it
    // is from here: it seeds the TCP stack and masks WebSocket frames (rand_core 0.6 RngCore).
    if !TrngSource::is_enabled() {
        warn!("the radio is off: the RNG is only pseudo-random");
    }
    let rng = Rng::new();

    // The network stack: DHCP, plus DNS for a server given by name. Sockets: DHCP, DNS, TCP.
    static RESOURCES: StaticCell<StackResources<3>> = StaticCell::new();
    let seed = u64::from(rng.random()) << 32 | u64::from(rng.random());
    let (stack, runner) = embassy_net::new(
        interface,
        embassy_net::Config::dhcpv4(Default::default()),
        RESOURCES.init(StackResources::new()),
        seed,
    );
    spawner.spawn(net_task(runner).expect("net_task spawned once"));
    spawner.spawn(wifi_task(controller, stack).expect("wifi_task spawned once"));
    spawner.spawn(stick_task(adc, x_pin, y_pin).expect("stick_task spawned once"));
    spawner.spawn(feedback_task(led, motor, stack).expect("feedback_task spawned once"));

    stack.wait_config_up().await;

    // Each attempt first waits for an IP address, within the client's connect timeout (see
    // `TcpConnector::waiting_for_address`).
    let connector =
        TcpConnector::for_url(stack, &SERVER, TCP_RX.take(), TCP_TX.take()).waiting_for_address();
    let buffers =
        Buffers::new(RX.take(), TX.take(), MSG.take()).expect("buffers above the minimums");
    let identity = Identity::controller(NAME, Some(ROOM))
        .expect("TICKWIRE_NAME and TICKWIRE_ROOM checked above");
    let mut client =
        Client::new(connector, rng, Config::DEFAULT, identity, SERVER.endpoint(), buffers)
            .expect("TX holds the upgrade request (Buffers::tx_len_for)");
    info!("playing on {}{} as \"{NAME}\"", SERVER.authority(), SERVER.path());
    // `Gamepad` never asks to leave, so `run` does not return; if it ever does, stay parked.
    let _left = client.run(&mut gamepad).await;
    match core::future::pending::<core::convert::Infallible>().await {}
}
