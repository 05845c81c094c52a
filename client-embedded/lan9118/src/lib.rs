//! An [`embassy-net`](https://docs.rs/embassy-net) driver for the SMSC (now Microchip)
//! LAN9118 family of Ethernet controllers: LAN9118/9117/9116/9115, LAN9220/9221 and
//! LAN9210/9211/9215-9218 — the 10/100 MAC + PHY with a 32-bit SRAM-like bus found on Arm's
//! MPS2/MPS2+ FPGA boards (at `0x4020_0000`) and modelled by QEMU (`-nic user,model=lan9118`
//! on `mps2-an385`, `mps2-an386`, `mps2-an500`, ...).
//!
//! # Modules
//!
//! - [`regs`]: the register map, the [`Registers`] access trait and [`Mmio`], its
//!   memory-mapped implementation (the crate's only `unsafe`).
//! - this module: [`Lan9118`] (bring-up and [`embassy_net_driver::Driver`]), [`State`] (what
//!   the interrupt handler shares with the driver), [`Config`], [`Stats`], [`Error`].
//!
//! # Use
//!
//! ```no_run
//! use embassy_net_lan9118::{Config, Error, Lan9118, Mmio, State};
//!
//! /// Shared with the interrupt handler.
//! static ETH: State = State::new();
//!
//! /// The chip's interrupt handler (IRQ 13 on MPS2 AN385/AN386, 47 on AN500).
//! fn ethernet_interrupt() {
//!     ETH.on_interrupt();
//! }
//!
//! fn bring_up() -> Result<Lan9118<'static>, Error> {
//!     // SAFETY: the MPS2 boards' LAN9220 sits at 0x4020_0000, 32-bit wide, and nothing
//!     // else in this firmware touches it.
//!     let regs = unsafe { Mmio::new(0x4020_0000) };
//!     let device = Lan9118::new(regs, &ETH, Config::new())?;
//!     // Then unmask the interrupt in the NVIC and hand `device` to `embassy_net::new`.
//!     Ok(device)
//! }
//! ```
//!
//! # How it works
//!
//! The chip keeps received frames in its own RX FIFO (10 560 bytes and 176 frames with the
//! 5 KiB TX FIFO this driver configures) and sends from its TX FIFO; there is no DMA. The
//! driver moves frames between those FIFOs and two frame buffers of its own (1 536 bytes
//! each) with 32-bit reads and writes.
//!
//! Interrupts follow the NAPI pattern: the handler ([`State::on_interrupt`]) only disables
//! the chip's interrupt sources and wakes the network task; the task then drains *every*
//! pending frame (each [`Driver::receive`] that returns a frame wakes the task again, so it
//! comes back until the FIFO is empty) and re-arms the interrupts when it has nothing left to
//! do. Interrupt sources: a frame received (`RSFL`), a PHY event (link up or down), and, only
//! while a frame waits for room, TX FIFO space (`TDFA`).
//!
//! Draining promptly matters more than usual here: QEMU's model (`hw/net/lan9118.c`) drops a
//! frame that does not fit its RX FIFO without counting it anywhere (its `RX_DROP` always
//! reads 0). [`Stats::rx_fifo_peak_bytes`] makes that provable: frames leave the FIFO only
//! when this driver takes them, and it reads the level before taking each one, so between two
//! looks the level only grows but for the one frame taken. The FIFO therefore never held more
//! than the peak plus one full frame, and a peak at most [`RX_FIFO_SAFE_PEAK_BYTES`] (two
//! full frames below the FIFO's size) means every arriving frame fit: none was turned away.
//!
//! Link state comes from the internal PHY (basic status register, read again on each PHY
//! interrupt); duplex is resolved from the auto-negotiation registers and programmed into the
//! MAC. Frames with the error-summary bit set, or too short or too long, are discarded and
//! counted ([`Stats::rx_errors`]).
//!
//! Not supported: the LAN9220's checksum offload (QEMU models the LAN9118, which has none),
//! multicast filtering (frames for the own address and broadcast are accepted), wake-on-LAN,
//! the 16-bit bus mode and DMA.
#![no_std]
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod regs;

use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Context;
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use embassy_sync::once_lock::OnceLock;
use embassy_sync::waitqueue::AtomicWaker;
use regs::{MacReg, PhyReg, bits::*};
pub use regs::{Mmio, Reg, Registers};

/// Largest frame the driver sends or accepts: 1 500 bytes of payload and the 14-byte Ethernet
/// header (the FCS is added and checked by the chip).
pub const MTU: usize = 1514;

/// Size of each of the driver's two frame buffers: a full frame with its FCS, rounded up to
/// whole FIFO words, with room for an 802.1Q tag.
const FRAME_BUFFER: usize = 1536;

/// TX FIFO size in KiB (`HW_CFG.TX_FIF_SZ`): 5 is the chip's default and what QEMU's model
/// hard-codes; it fits three full frames, and leaves [`RX_FIFO_BYTES`] for reception.
const TX_FIFO_KIB: u32 = 5;

/// RX data FIFO size with the 5 KiB TX FIFO (datasheet table 5.2; QEMU: 2 640 words).
pub const RX_FIFO_BYTES: u32 = 10_560;

/// RX status FIFO size in frames with the 5 KiB TX FIFO (datasheet table 5.2; QEMU: 176).
pub const RX_FIFO_FRAMES: u32 = 176;

/// The highest [`Stats::rx_fifo_peak_bytes`] that proves no frame was dropped for lack of
/// room: the FIFO's size less two full frames (the one the driver may have taken out just
/// before it looked, and one arriving). [`RX_FIFO_FRAMES`] less two plays the same role for
/// [`Stats::rx_fifo_peak_frames`].
pub const RX_FIFO_SAFE_PEAK_BYTES: u32 = RX_FIFO_BYTES - 2 * FRAME_BUFFER as u32;

/// Smallest frame worth handing up: an Ethernet header, plus the 4-byte FCS the chip keeps.
const MIN_RX_LENGTH: usize = 14 + 4;

/// Free TX FIFO bytes needed before a frame is accepted: two command words and the largest
/// frame in whole words.
const TX_ROOM: u32 = (8 + FRAME_BUFFER) as u32;

/// Polls of a self-clearing busy or reset bit before giving up. Each poll is at least one
/// register read (a MII poll is several, plus a 25 µs MII frame), so this allows well over
/// the datasheet's worst cases (PHY reset: 500 ms) on any bus.
const POLL_LIMIT: u32 = 200_000;

/// `FREE_RUN` counts at 25 MHz.
const FREE_RUN_PER_US: u32 = 25;

/// [`State::interrupted_at`] when no interrupt waits for the driver.
const NOT_INTERRUPTED: u32 = u32::MAX;

/// Interrupt deassertion interval (`IRQ_CFG.INT_DEAS`), in 10 µs units: after the pin goes
/// inactive it stays so for at least 220 µs, which bounds the interrupt rate.
const INT_DEAS: u32 = 22;

/// Why [`Lan9118::new`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// `BYTE_TEST` did not read `0x8765_4321`: no chip at that address, the bus is not
    /// 32-bit, or the chip never left reset. The board's memory map or wiring is wrong.
    #[error("no LAN9118 answers (BYTE_TEST reads {0:#010x}, expected 0x87654321)")]
    NotResponding(u32),
    /// `ID_REV` names a chip outside the LAN9118 family.
    #[error("ID_REV {0:#010x} is not a LAN9118-family chip")]
    UnknownChip(u32),
    /// A self-clearing bit did not clear in time (`what` names it): the chip is wedged.
    #[error("the chip did not finish {what} in time")]
    Timeout {
        /// The operation: "soft reset", "MAC register access", "PHY access", "PHY reset".
        what: &'static str,
    },
    /// The internal PHY's identifier reads all zeros or all ones.
    #[error("the internal PHY does not answer")]
    NoPhy,
    /// No MAC address was configured and the chip holds none (no EEPROM).
    #[error("no MAC address: the chip has no EEPROM; set Config::mac_address")]
    NoMacAddress,
    /// The [`State`] already belongs to another driver.
    #[error("this State already serves another driver")]
    StateInUse,
}

/// The IRQ pin's signalling, as the board wires it to the interrupt controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IrqPin {
    /// Driven high when active (MPS2 boards, QEMU's model).
    #[default]
    ActiveHighPushPull,
    /// Driven low when active.
    ActiveLowPushPull,
    /// Pulled low when active, floats otherwise (needs a pull-up; shareable).
    ActiveLowOpenDrain,
}

/// Bring-up settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// The station address to program. Default `None`: keep the address the chip loaded from
    /// its EEPROM at reset (QEMU: the NIC's `mac=` option, `52:54:00:12:34:56` unless set);
    /// [`Error::NoMacAddress`] if there is none. Boards without an EEPROM must set one: a
    /// locally administered unicast address (first octet `x2`, `x6`, `xA` or `xE`) derived
    /// from something unique to the board.
    pub mac_address: Option<[u8; 6]>,
    /// How the IRQ pin signals. Default [`IrqPin::ActiveHighPushPull`], as MPS2 boards and
    /// QEMU expect; a mismatch means no interrupt ever arrives, so the network stalls.
    pub irq_pin: IrqPin,
    /// Drive the link/activity/speed LEDs from GPIO0..2, as the datasheet's reference design
    /// wires them. Default `true`; set `false` if the board uses those pins otherwise.
    pub leds: bool,
}

impl Config {
    /// The defaults: the chip's own MAC address, active-high IRQ, LEDs on.
    pub const fn new() -> Self {
        Config { mac_address: None, irq_pin: IrqPin::ActiveHighPushPull, leds: true }
    }

    /// With this station address.
    pub const fn with_mac_address(mut self, mac_address: [u8; 6]) -> Self {
        self.mac_address = Some(mac_address);
        self
    }

    /// With this IRQ pin signalling.
    pub const fn with_irq_pin(mut self, irq_pin: IrqPin) -> Self {
        self.irq_pin = irq_pin;
        self
    }

    /// With the LEDs driven by the chip or not.
    pub const fn with_leds(mut self, leds: bool) -> Self {
        self.leds = leds;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Counters since start-up, from [`State::stats`]. They wrap at `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Frames handed to the network stack.
    pub rx_frames: u32,
    /// Frames discarded: error summary set (CRC, runt, too long, ...) or an impossible length.
    pub rx_errors: u32,
    /// Frames the chip itself dropped for lack of FIFO room (its `RX_DROP` counter; QEMU's
    /// model never counts, see [`Stats::rx_fifo_peak_bytes`]).
    pub rx_dropped: u32,
    /// Highest RX data FIFO level seen, in bytes, of [`RX_FIFO_BYTES`]. The FIFO never held
    /// more than this plus one full frame: at most [`RX_FIFO_SAFE_PEAK_BYTES`] proves that no
    /// frame was dropped for lack of room (see the crate docs).
    pub rx_fifo_peak_bytes: u32,
    /// Highest number of frames waiting in the RX FIFO, of [`RX_FIFO_FRAMES`].
    pub rx_fifo_peak_frames: u32,
    /// Frames written to the TX FIFO.
    pub tx_frames: u32,
    /// Frames whose TX status reported an error (collisions, carrier loss, ...).
    pub tx_errors: u32,
    /// Times the stack wanted to send while the TX FIFO was full (it then waits for `TDFA`).
    pub tx_waits: u32,
    /// Interrupts taken.
    pub interrupts: u32,
    /// Longest time from an interrupt to the network task's next look at the chip, in
    /// microseconds (from the chip's free-running 25 MHz counter): how promptly frames are
    /// drained. It is the executor's latency; a wake-up lost would show as seconds here.
    pub wake_latency_max_us: u32,
}

/// A `u32` counter with a single writer (the driver, or the interrupt handler): plain loads
/// and stores, so it works without compare-and-swap (Cortex-M0+).
#[derive(Default)]
struct Counter(AtomicU32);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicU32::new(0))
    }

    fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u32) {
        self.0.store(self.get().wrapping_add(n), Ordering::Relaxed);
    }

    fn raise_to(&self, n: u32) {
        if n > self.get() {
            self.0.store(n, Ordering::Relaxed);
        }
    }
}

/// What the driver shares with its interrupt handler: the registers (to mask the chip's
/// interrupts), the network task's waker, and the [`Stats`]. Put it in a `static`.
pub struct State<R: Registers = Mmio> {
    regs: OnceLock<R>,
    waker: AtomicWaker,
    rx_frames: Counter,
    rx_errors: Counter,
    rx_dropped: Counter,
    rx_fifo_peak_bytes: Counter,
    rx_fifo_peak_frames: Counter,
    tx_frames: Counter,
    tx_errors: Counter,
    tx_waits: Counter,
    interrupts: Counter,
    /// `FREE_RUN` when the handler last ran, until the driver looks (`u32::MAX`: nothing
    /// pending; a real stamp of `u32::MAX` is off by one cycle).
    interrupted_at: AtomicU32,
    wake_latency_max: Counter,
}

impl<R: Registers> State<R> {
    /// A state for one driver.
    pub const fn new() -> Self {
        State {
            regs: OnceLock::new(),
            waker: AtomicWaker::new(),
            rx_frames: Counter::new(),
            rx_errors: Counter::new(),
            rx_dropped: Counter::new(),
            rx_fifo_peak_bytes: Counter::new(),
            rx_fifo_peak_frames: Counter::new(),
            tx_frames: Counter::new(),
            tx_errors: Counter::new(),
            tx_waits: Counter::new(),
            interrupts: Counter::new(),
            interrupted_at: AtomicU32::new(NOT_INTERRUPTED),
            wake_latency_max: Counter::new(),
        }
    }

    /// Call from the chip's interrupt handler. Disables the chip's interrupt sources (which
    /// releases its IRQ pin) and wakes the network task, which drains the FIFOs and enables
    /// them again. Does nothing but count before [`Lan9118::new`] has run.
    pub fn on_interrupt(&self) {
        self.interrupts.add(1);
        if let Some(regs) = self.regs.try_get() {
            regs.write(Reg::IntEn, 0);
            // Also the read-after-write the datasheet asks for: the write has reached the
            // chip (and the pin dropped) before the handler returns, so it is not taken again.
            let now = regs.read(Reg::FreeRun);
            if self.interrupted_at.load(Ordering::Relaxed) == NOT_INTERRUPTED {
                self.interrupted_at.store(now.min(NOT_INTERRUPTED - 1), Ordering::Relaxed);
            }
        }
        self.waker.wake();
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            rx_frames: self.rx_frames.get(),
            rx_errors: self.rx_errors.get(),
            rx_dropped: self.rx_dropped.get(),
            rx_fifo_peak_bytes: self.rx_fifo_peak_bytes.get(),
            rx_fifo_peak_frames: self.rx_fifo_peak_frames.get(),
            tx_frames: self.tx_frames.get(),
            tx_errors: self.tx_errors.get(),
            tx_waits: self.tx_waits.get(),
            interrupts: self.interrupts.get(),
            wake_latency_max_us: self.wake_latency_max.get() / FREE_RUN_PER_US,
        }
    }
}

impl<R: Registers> Default for State<R> {
    fn default() -> Self {
        State::new()
    }
}

/// The driver: owns the chip through `R` and implements [`embassy_net_driver::Driver`].
pub struct Lan9118<'d, R: Registers = Mmio> {
    regs: R,
    state: &'d State<R>,
    mac: [u8; 6],
    chip_id: u32,
    link: LinkState,
    /// Waiting for TX FIFO room: enable `TDFA` with the other sources.
    tx_waiting: bool,
    tx_tag: u16,
    rx: [u8; FRAME_BUFFER],
    tx: [u8; FRAME_BUFFER],
}

impl<'d, R: Registers + Clone> Lan9118<'d, R> {
    /// Resets and configures the chip: soft reset, 5 KiB TX FIFO, interrupt pin, MAC address,
    /// PHY reset and auto-negotiation (10/100, half and full duplex), MAC transmitter and
    /// receiver on. Returns without waiting for the link; [`Driver::link_state`] follows it.
    ///
    /// Busy-waits on the chip (bounded: see [`Error::Timeout`]), a few hundred microseconds on
    /// real hardware, longer while the PHY resets. Enable the interrupt in the interrupt
    /// controller after this returns.
    pub fn new(regs: R, state: &'d State<R>, config: Config) -> Result<Self, Error> {
        let mut this = Lan9118 {
            regs,
            state,
            mac: [0; 6],
            chip_id: 0,
            link: LinkState::Down,
            tx_waiting: false,
            tx_tag: 0,
            rx: [0; FRAME_BUFFER],
            tx: [0; FRAME_BUFFER],
        };
        this.bring_up(config)?;
        if state.regs.init(this.regs.clone()).is_err() {
            return Err(Error::StateInUse);
        }
        Ok(this)
    }
}

impl<R: Registers> Lan9118<'_, R> {
    /// The station address in use.
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    /// `ID_REV`: chip ID in the high half (`0x0118`, `0x9220`, ...), revision in the low.
    pub fn chip_id(&self) -> u32 {
        self.chip_id
    }

    /// The chip's free-running 25 MHz counter. Its value at a moment that depends on the
    /// outside world (a DHCP reply, a button press) is a source of timing entropy on boards
    /// without a random number generator.
    pub fn free_running_counter(&self) -> u32 {
        self.regs.read(Reg::FreeRun)
    }

    fn bring_up(&mut self, config: Config) -> Result<(), Error> {
        let byte_test = self.regs.read(Reg::ByteTest);
        if byte_test != BYTE_TEST_MAGIC {
            return Err(Error::NotResponding(byte_test));
        }
        self.wait("power-up", |r| Ok(r.regs.read(Reg::PmtCtrl) & PMT_CTRL_READY != 0))?;
        self.chip_id = self.regs.read(Reg::IdRev);
        if !is_lan9118_family(self.chip_id) {
            return Err(Error::UnknownChip(self.chip_id));
        }

        self.regs.write(Reg::HwCfg, HW_CFG_SRST);
        self.wait("soft reset", |r| Ok(r.regs.read(Reg::HwCfg) & HW_CFG_SRST == 0))?;
        self.wait("soft reset", |r| Ok(r.regs.read(Reg::PmtCtrl) & PMT_CTRL_READY != 0))?;
        self.regs.write(Reg::HwCfg, HW_CFG_MBO | (TX_FIFO_KIB << HW_CFG_TX_FIF_SZ_SHIFT));
        // Flow control thresholds: the datasheet's recommended values (AFC_HI 110, AFC_LO 55
        // 64-byte blocks, back-pressure 4 µs).
        self.regs.write(Reg::AfcCfg, 0x006e_3740);
        if config.leds {
            // GPIO0..2 as LED outputs (speed, link/activity, full duplex), push-pull.
            self.regs.write(Reg::GpioCfg, 0x7007_0000);
        }

        // Interrupts: all sources off and acknowledged; the pin enabled with the board's
        // polarity. The driver enables sources as it needs them (`arm`).
        self.regs.write(Reg::IntEn, 0);
        self.regs.write(Reg::IntSts, u32::MAX);
        let pin = match config.irq_pin {
            IrqPin::ActiveHighPushPull => IRQ_CFG_IRQ_POL | IRQ_CFG_IRQ_TYPE,
            IrqPin::ActiveLowPushPull => IRQ_CFG_IRQ_TYPE,
            IrqPin::ActiveLowOpenDrain => 0,
        };
        self.regs.write(Reg::IrqCfg, (INT_DEAS << IRQ_CFG_INT_DEAS_SHIFT) | IRQ_CFG_IRQ_EN | pin);
        // RSFL as soon as one frame is waiting; TDFA once a whole frame fits (64-byte units).
        let tx_level = TX_ROOM.div_ceil(64);
        self.regs.write(Reg::FifoInt, tx_level << FIFO_INT_TX_AVAIL_SHIFT);

        match config.mac_address {
            Some(mac) => {
                let [a, b, c, d, e, f] = mac;
                self.mac_write(MacReg::AddrL, u32::from_le_bytes([a, b, c, d]))?;
                self.mac_write(MacReg::AddrH, u32::from_le_bytes([e, f, 0, 0]))?;
                self.mac = mac;
            }
            None => {
                let [a, b, c, d] = self.mac_read(MacReg::AddrL)?.to_le_bytes();
                let [e, f, ..] = self.mac_read(MacReg::AddrH)?.to_le_bytes();
                self.mac = [a, b, c, d, e, f];
                // All zeros or all ones (no EEPROM), or a multicast address: unusable.
                if self.mac == [0; 6] || self.mac == [0xff; 6] || a & 1 != 0 {
                    return Err(Error::NoMacAddress);
                }
            }
        }

        let (id1, id2) = (self.phy_read(PhyReg::Id1)?, self.phy_read(PhyReg::Id2)?);
        if (id1, id2) == (0, 0) || (id1, id2) == (0xffff, 0xffff) {
            return Err(Error::NoPhy);
        }
        self.phy_write(PhyReg::Bcr, BCR_RESET)?;
        self.wait("PHY reset", |r| Ok(r.phy_read(PhyReg::Bcr)? & BCR_RESET == 0))?;
        self.phy_write(PhyReg::Anar, ANAR_10_100_ALL)?;
        self.phy_write(PhyReg::IntMask, PHY_INT_LINK)?;
        self.phy_write(PhyReg::Bcr, BCR_ANEG_ENABLE | BCR_ANEG_RESTART)?;

        // Transmitter on; let TX statuses overrun so a slow reader can never stop it (the
        // driver still reads them to count errors). Receiver: no offset, 4-byte alignment.
        self.regs.write(Reg::TxCfg, TX_CFG_TX_ON | TX_CFG_TXSAO);
        self.regs.write(Reg::RxCfg, 0);
        // MAC: own address and broadcast only (this also clears the reset value's
        // promiscuous mode), no SQE heartbeat check; duplex follows the link (`refresh_link`).
        self.mac_write(MacReg::Cr, MAC_CR_TXEN | MAC_CR_RXEN | MAC_CR_HBDIS)?;
        self.refresh_link();
        Ok(())
    }

    /// Polls `done` until it says so, at most [`POLL_LIMIT`] times.
    fn wait(
        &self,
        what: &'static str,
        mut done: impl FnMut(&Self) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        for _ in 0..POLL_LIMIT {
            if done(self)? {
                return Ok(());
            }
        }
        Err(Error::Timeout { what })
    }

    fn mac_idle(&self) -> Result<(), Error> {
        self.wait("MAC register access", |r| Ok(r.regs.read(Reg::MacCsrCmd) & MAC_CSR_BUSY == 0))
    }

    fn mac_command(&self, command: u32) -> Result<(), Error> {
        self.regs.write(Reg::MacCsrCmd, MAC_CSR_BUSY | command);
        // Read-after-write rule (datasheet 6.2.1): a dummy read before polling the busy bit.
        self.regs.read(Reg::ByteTest);
        self.mac_idle()
    }

    fn mac_read(&self, reg: MacReg) -> Result<u32, Error> {
        self.mac_idle()?;
        self.mac_command(MAC_CSR_READ | reg as u32)?;
        Ok(self.regs.read(Reg::MacCsrData))
    }

    fn mac_write(&self, reg: MacReg, value: u32) -> Result<(), Error> {
        self.mac_idle()?;
        self.regs.write(Reg::MacCsrData, value);
        self.mac_command(reg as u32)
    }

    fn mii_idle(&self) -> Result<(), Error> {
        self.wait("PHY access", |r| Ok(r.mac_read(MacReg::MiiAcc)? & MII_ACC_BUSY == 0))
    }

    fn phy_read(&self, reg: PhyReg) -> Result<u16, Error> {
        self.mii_idle()?;
        self.mac_write(MacReg::MiiAcc, (PHY_ADDR << 11) | ((reg as u32) << 6) | MII_ACC_BUSY)?;
        self.mii_idle()?;
        Ok(self.mac_read(MacReg::MiiData)? as u16)
    }

    fn phy_write(&self, reg: PhyReg, value: u16) -> Result<(), Error> {
        self.mii_idle()?;
        self.mac_write(MacReg::MiiData, u32::from(value))?;
        let command = (PHY_ADDR << 11) | ((reg as u32) << 6) | MII_ACC_WRITE | MII_ACC_BUSY;
        self.mac_write(MacReg::MiiAcc, command)?;
        self.mii_idle()
    }

    /// Reads the link from the PHY and, when it is up, programs the negotiated duplex into
    /// the MAC. A PHY that stops answering counts as link down.
    fn refresh_link(&mut self) {
        self.link = match self.read_link() {
            Ok(true) => LinkState::Up,
            Ok(false) | Err(_) => LinkState::Down,
        };
    }

    fn read_link(&mut self) -> Result<bool, Error> {
        // Reading the interrupt source acknowledges it (and releases INT_STS.PHY_INT).
        self.phy_read(PhyReg::IntSrc)?;
        // The link bit latches low until read: the second read is the current state.
        self.phy_read(PhyReg::Bsr)?;
        if self.phy_read(PhyReg::Bsr)? & BSR_LINK_UP == 0 {
            return Ok(false);
        }
        // IEEE 802.3 priority resolution: 100 full > 100 half > 10 full > 10 half.
        let common = self.phy_read(PhyReg::Anar)? & self.phy_read(PhyReg::Anlpar)?;
        let full_duplex =
            common & ANAR_100_FULL != 0 || (common & (1 << 7) == 0 && common & ANAR_10_FULL != 0);
        let mac_cr = self.mac_read(MacReg::Cr)?;
        let wanted = if full_duplex { mac_cr | MAC_CR_FDPX } else { mac_cr & !MAC_CR_FDPX };
        if wanted != mac_cr {
            self.mac_write(MacReg::Cr, wanted)?;
        }
        Ok(true)
    }

    /// Takes note of what the interrupt handler would: acknowledges the interrupt sources,
    /// follows the link, collects TX statuses and the chip's drop counter.
    fn service(&mut self, cx: &mut Context<'_>) {
        self.state.waker.register(cx.waker());
        let interrupted_at = self.state.interrupted_at.load(Ordering::Relaxed);
        if interrupted_at != NOT_INTERRUPTED {
            let latency = self.regs.read(Reg::FreeRun).wrapping_sub(interrupted_at);
            self.state.wake_latency_max.raise_to(latency);
            self.state.interrupted_at.store(NOT_INTERRUPTED, Ordering::Relaxed);
        }
        let pending = self.regs.read(Reg::IntSts);
        let handled = pending & (INT_RSFL | INT_PHY | INT_TDFA | INT_RXE | INT_TXE);
        if handled != 0 {
            self.regs.write(Reg::IntSts, handled);
        }
        // Only after the acknowledgement: QEMU sets PHY_INT again for a link change while the
        // PHY is read, which a later write to INT_STS would clear unseen.
        if pending & INT_PHY != 0 {
            self.refresh_link();
        }
        let statuses = (self.regs.read(Reg::TxFifoInf) >> 16) & 0xff;
        for _ in 0..statuses {
            if self.regs.read(Reg::TxStatus) & TX_STS_ERROR != 0 {
                self.state.tx_errors.add(1);
            }
        }
        let dropped = self.regs.read(Reg::RxDrop);
        if dropped != 0 {
            self.state.rx_dropped.add(dropped);
        }
    }

    /// Enables the interrupt sources the driver waits for. The interrupt handler disables
    /// them all again; a source that fired while disabled stays pending in `INT_STS` and
    /// interrupts as soon as this runs, so nothing is missed in between.
    fn arm(&self) {
        let tdfa = if self.tx_waiting { INT_TDFA } else { 0 };
        self.regs.write(Reg::IntEn, INT_RSFL | INT_PHY | tdfa);
    }

    fn tx_room(&mut self) -> bool {
        let room = self.regs.read(Reg::TxFifoInf) & 0xffff >= TX_ROOM;
        if !room && !self.tx_waiting {
            self.state.tx_waits.add(1);
        }
        self.tx_waiting = !room;
        room
    }

    /// Pops and drops `words` words of the frame at the head of the RX data FIFO.
    fn discard(&self, words: usize) {
        for _ in 0..words {
            self.regs.read(Reg::RxData);
        }
    }

    /// The next good frame from the RX FIFO into `self.rx`; its length without the FCS.
    fn next_frame(&mut self) -> Option<usize> {
        loop {
            let info = self.regs.read(Reg::RxFifoInf);
            let (frames, bytes) = ((info >> 16) & 0xff, info & 0xffff);
            self.state.rx_fifo_peak_frames.raise_to(frames);
            self.state.rx_fifo_peak_bytes.raise_to(bytes);
            if frames == 0 {
                return None;
            }
            let status = self.regs.read(Reg::RxStatus);
            // The length includes the 4-byte FCS, which the chip leaves in the FIFO.
            let length = ((status >> RX_STS_LENGTH_SHIFT) & RX_STS_LENGTH_MASK) as usize;
            let words = length.div_ceil(4);
            if status & RX_STS_ERROR != 0 || !(MIN_RX_LENGTH..=FRAME_BUFFER).contains(&length) {
                self.discard(words);
                self.state.rx_errors.add(1);
                continue;
            }
            for chunk in self.rx[..words * 4].chunks_exact_mut(4) {
                chunk.copy_from_slice(&self.regs.read(Reg::RxData).to_le_bytes());
            }
            self.state.rx_frames.add(1);
            return Some(length - 4);
        }
    }
}

/// Whether `ID_REV` names a chip of the family (its high half).
fn is_lan9118_family(id_rev: u32) -> bool {
    matches!(
        id_rev >> 16,
        0x0115..=0x0118 | 0x115a | 0x116a | 0x117a | 0x118a | 0x9115..=0x9118
            | 0x9210 | 0x9211 | 0x9215..=0x9218 | 0x9220 | 0x9221
    )
}

/// A received frame, already copied out of the chip.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<T, F: FnOnce(&mut [u8]) -> T>(self, f: F) -> T {
        f(self.frame)
    }
}

/// Room for one frame in the TX FIFO.
pub struct TxToken<'a, R: Registers> {
    regs: &'a R,
    tx_frames: &'a Counter,
    buffer: &'a mut [u8; FRAME_BUFFER],
    tag: &'a mut u16,
}

impl<R: Registers> embassy_net_driver::TxToken for TxToken<'_, R> {
    /// # Panics
    ///
    /// If `len` exceeds the buffer (1 536 bytes): beyond the [`MTU`] the driver announces, so
    /// the network stack never asks for it.
    fn consume<T, F: FnOnce(&mut [u8]) -> T>(self, len: usize, f: F) -> T {
        let result = f(&mut self.buffer[..len]);
        // One buffer holds the whole frame: a single segment, first and last.
        *self.tag = self.tag.wrapping_add(1);
        let length = len as u32;
        self.regs.write(Reg::TxData, TX_CMD_A_FIRST | TX_CMD_A_LAST | length);
        self.regs.write(Reg::TxData, (u32::from(*self.tag) << TX_CMD_B_TAG_SHIFT) | length);
        for chunk in self.buffer[..len.div_ceil(4) * 4].chunks_exact(4) {
            let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            self.regs.write(Reg::TxData, word);
        }
        self.tx_frames.add(1);
        result
    }
}

impl<R: Registers> Driver for Lan9118<'_, R> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, R>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(RxToken<'_>, TxToken<'_, R>)> {
        self.service(cx);
        // A received frame comes with a TX token (for a reply), so it waits for TX room too.
        let Some(len) = self.tx_room().then(|| self.next_frame()).flatten() else {
            self.arm();
            return None;
        };
        // More frames may be waiting: come back until the FIFO is empty (QEMU drops what
        // does not fit), and re-arm the interrupts only then.
        cx.waker().wake_by_ref();
        let Lan9118 { regs, state, tx_tag, rx, tx, .. } = self;
        let tx = TxToken { regs, tx_frames: &state.tx_frames, buffer: tx, tag: tx_tag };
        Some((RxToken { frame: &mut rx[..len] }, tx))
    }

    fn transmit(&mut self, cx: &mut Context<'_>) -> Option<TxToken<'_, R>> {
        self.service(cx);
        if !self.tx_room() {
            self.arm();
            return None;
        }
        let Lan9118 { regs, state, tx_tag, tx, .. } = self;
        Some(TxToken { regs, tx_frames: &state.tx_frames, buffer: tx, tag: tx_tag })
    }

    fn link_state(&mut self, cx: &mut Context<'_>) -> LinkState {
        self.service(cx);
        self.arm();
        self.link
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
