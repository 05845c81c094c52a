//! The register map (SMSC LAN9118 datasheet rev. 1.5, section 5 "Register Description"), the
//! [`Registers`] access trait and its memory-mapped implementation [`Mmio`].
//!
//! Only the registers this driver uses are named. That is deliberate: QEMU's model aborts the
//! whole emulator (`hw_error`) on a read or write of an offset it does not implement, so a
//! register that is not in [`Reg`] can never be touched by accident.

use core::ptr;

/// A system control and status register, or a FIFO port, by its byte offset from the base.
///
/// Every offset is below `0x100` and a multiple of 4: [`Mmio`] relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Reg {
    /// RX data FIFO port (`0x00`; the chip aliases it up to `0x1c`). Each read pops a word.
    RxData = 0x00,
    /// TX data FIFO port (`0x20`; aliased up to `0x3c`). Each write pushes a word.
    TxData = 0x20,
    /// RX status FIFO port: each read pops one received frame's status word.
    RxStatus = 0x40,
    /// TX status FIFO port: each read pops one transmitted frame's status word.
    TxStatus = 0x48,
    /// Chip ID (high half) and revision (low half).
    IdRev = 0x50,
    /// Interrupt pin configuration.
    IrqCfg = 0x54,
    /// Interrupt status (write 1 to clear).
    IntSts = 0x58,
    /// Interrupt enables.
    IntEn = 0x5c,
    /// Reads `0x8765_4321` once the bus works and the chip is out of reset.
    ByteTest = 0x64,
    /// FIFO level interrupt thresholds.
    FifoInt = 0x68,
    /// Receive configuration.
    RxCfg = 0x6c,
    /// Transmit configuration.
    TxCfg = 0x70,
    /// Hardware configuration: soft reset, TX FIFO size.
    HwCfg = 0x74,
    /// RX FIFO levels: status words and data bytes in use.
    RxFifoInf = 0x7c,
    /// TX FIFO levels: status words used and data bytes free.
    TxFifoInf = 0x80,
    /// Power management control; bit 0 tells the chip is ready.
    PmtCtrl = 0x84,
    /// GPIO and LED configuration.
    GpioCfg = 0x88,
    /// Free-running 25 MHz counter.
    FreeRun = 0x9c,
    /// Frames dropped because the RX FIFO was full (clears when read).
    RxDrop = 0xa0,
    /// Indirect MAC register access: command.
    MacCsrCmd = 0xa4,
    /// Indirect MAC register access: data.
    MacCsrData = 0xa8,
    /// Automatic flow control configuration.
    AfcCfg = 0xac,
}

/// MAC control and status registers, reached through [`Reg::MacCsrCmd`] / [`Reg::MacCsrData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum MacReg {
    /// MAC control.
    Cr = 1,
    /// MAC address, bytes 4 and 5.
    AddrH = 2,
    /// MAC address, bytes 0 to 3.
    AddrL = 3,
    /// MII (PHY) access command.
    MiiAcc = 6,
    /// MII (PHY) access data.
    MiiData = 7,
}

/// PHY registers (IEEE 802.3 clause 22, and the internal PHY's vendor registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum PhyReg {
    /// Basic control.
    Bcr = 0,
    /// Basic status.
    Bsr = 1,
    /// PHY identifier 1.
    Id1 = 2,
    /// PHY identifier 2.
    Id2 = 3,
    /// Auto-negotiation advertisement.
    Anar = 4,
    /// Auto-negotiation link partner ability.
    Anlpar = 5,
    /// Interrupt source flags (clear on read).
    IntSrc = 29,
    /// Interrupt mask.
    IntMask = 30,
}

/// Bits of the registers above.
#[allow(missing_docs)]
pub mod bits {
    pub const BYTE_TEST_MAGIC: u32 = 0x8765_4321;

    pub const IRQ_CFG_INT_DEAS_SHIFT: u32 = 24;
    pub const IRQ_CFG_IRQ_EN: u32 = 1 << 8;
    pub const IRQ_CFG_IRQ_POL: u32 = 1 << 4;
    pub const IRQ_CFG_IRQ_TYPE: u32 = 1 << 0;

    pub const INT_PHY: u32 = 1 << 18;
    pub const INT_RXE: u32 = 1 << 14;
    pub const INT_TXE: u32 = 1 << 13;
    pub const INT_TDFA: u32 = 1 << 9;
    pub const INT_RSFL: u32 = 1 << 3;

    pub const FIFO_INT_TX_AVAIL_SHIFT: u32 = 24;

    pub const TX_CFG_TXSAO: u32 = 1 << 2;
    pub const TX_CFG_TX_ON: u32 = 1 << 1;

    pub const HW_CFG_MBO: u32 = 1 << 20;
    pub const HW_CFG_TX_FIF_SZ_SHIFT: u32 = 16;
    pub const HW_CFG_SRST: u32 = 1 << 0;

    pub const PMT_CTRL_READY: u32 = 1 << 0;

    pub const MAC_CSR_BUSY: u32 = 1 << 31;
    pub const MAC_CSR_READ: u32 = 1 << 30;

    pub const MAC_CR_HBDIS: u32 = 1 << 28;
    pub const MAC_CR_FDPX: u32 = 1 << 20;
    pub const MAC_CR_PRMS: u32 = 1 << 18;
    pub const MAC_CR_TXEN: u32 = 1 << 3;
    pub const MAC_CR_RXEN: u32 = 1 << 2;

    /// The internal PHY's address on the MII bus.
    pub const PHY_ADDR: u32 = 1;
    pub const MII_ACC_WRITE: u32 = 1 << 1;
    pub const MII_ACC_BUSY: u32 = 1 << 0;

    pub const BCR_RESET: u16 = 1 << 15;
    pub const BCR_ANEG_ENABLE: u16 = 1 << 12;
    pub const BCR_ANEG_RESTART: u16 = 1 << 9;
    pub const BSR_LINK_UP: u16 = 1 << 2;
    /// 10BASE-T half and full, 100BASE-TX half and full, IEEE 802.3 selector.
    pub const ANAR_10_100_ALL: u16 = 0x01e1;
    pub const ANAR_100_FULL: u16 = 1 << 8;
    pub const ANAR_10_FULL: u16 = 1 << 6;
    /// ENERGYON, auto-negotiation complete, link down.
    pub const PHY_INT_LINK: u16 = (1 << 7) | (1 << 6) | (1 << 4);

    pub const RX_STS_LENGTH_SHIFT: u32 = 16;
    pub const RX_STS_LENGTH_MASK: u32 = 0x3fff;
    pub const RX_STS_ERROR: u32 = 1 << 15;

    pub const TX_CMD_A_FIRST: u32 = 1 << 13;
    pub const TX_CMD_A_LAST: u32 = 1 << 12;
    pub const TX_CMD_B_TAG_SHIFT: u32 = 16;
    pub const TX_STS_ERROR: u32 = 1 << 15;
}

/// 32-bit access to the chip's registers.
///
/// [`Mmio`] is the real thing; tests implement it with a model of the chip. Both methods take
/// `&self` because a register access is a bus transaction, not a Rust mutation: the driver
/// and its interrupt handler ([`crate::State::on_interrupt`]) may use the same block at once
/// (the handler only ever writes [`Reg::IntEn`]).
pub trait Registers {
    /// Reads a register (a FIFO port pops a word).
    fn read(&self, reg: Reg) -> u32;
    /// Writes a register (a FIFO port pushes a word).
    fn write(&self, reg: Reg, value: u32);
}

/// The chip's registers, memory-mapped at a fixed address (32-bit bus).
///
/// `Copy`: it is only an address. The driver keeps one copy and hands another to its
/// [`State`](crate::State) for the interrupt handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// The register block at `base`, e.g. `0x4020_0000` on Arm's MPS2 boards (and QEMU's
    /// `mps2-an385`/`mps2-an386`/`mps2-an500`).
    ///
    /// # Safety
    ///
    /// `base` must be the address of a LAN9118-family register block wired for 32-bit
    /// accesses (256 bytes, mapped as device memory) for the rest of the program, and nothing
    /// but the [`Lan9118`](crate::Lan9118) built from it and that driver's
    /// [`State`](crate::State) may access those registers: the FIFOs and the indirect MAC and
    /// PHY registers are stateful, so another user would corrupt the driver's transactions.
    ///
    /// # Panics
    ///
    /// If `base` is not a multiple of 4 (at compile time in a `const`).
    pub const unsafe fn new(base: usize) -> Self {
        assert!(base.is_multiple_of(4), "the LAN9118 register block is 32-bit aligned");
        Mmio { base }
    }

    /// The base address.
    pub const fn base(&self) -> usize {
        self.base
    }

    fn address(&self, reg: Reg) -> *mut u32 {
        // `reg` is below 0x100, so this stays inside the block; no wrap for a mapped block.
        (self.base + reg as usize) as *mut u32
    }
}

impl Registers for Mmio {
    fn read(&self, reg: Reg) -> u32 {
        // SAFETY: by `Mmio::new`'s contract `base..base + 0x100` is this chip's register
        // block, mapped for 32-bit accesses for the rest of the program; every `Reg` offset is
        // below 0x100 and a multiple of 4 and `base` is 4-aligned, so the address is an
        // aligned, valid register. A volatile access is never elided or merged, and it has no
        // effect on Rust-visible memory (FIFO pops change only the chip's state, which the
        // driver owns exclusively by the same contract).
        unsafe { ptr::read_volatile(self.address(reg)) }
    }

    fn write(&self, reg: Reg, value: u32) {
        // SAFETY: as in `read`: an aligned register inside the block `Mmio::new` vouches for.
        unsafe { ptr::write_volatile(self.address(reg), value) }
    }
}
