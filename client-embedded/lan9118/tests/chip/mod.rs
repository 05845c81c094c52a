//! A model of the LAN9118 as QEMU's `hw/net/lan9118.c` implements it, behind the driver's
//! `Registers` trait: FIFOs with QEMU's sizes and its drop-when-full behaviour, interrupt
//! status and enable with the IRQ pin level, the indirect MAC and PHY registers, soft reset.
//!
//! Where QEMU aborts the emulator (`hw_error`: an unknown MAC register) or logs a guest error
//! (an unknown PHY register), the model panics, so a test fails if the driver would.

#![allow(dead_code)]

use embassy_net_lan9118::{Reg, Registers};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// QEMU's RX data FIFO size in words (10 560 bytes).
pub const RX_FIFO_WORDS: usize = 2640;
/// QEMU's RX status FIFO size.
pub const RX_STATUS_ENTRIES: usize = 176;
/// What QEMU puts where the FCS goes (it computes a CRC; any 4 bytes do for the driver).
pub const FCS: [u8; 4] = [0xf1, 0xf2, 0xf3, 0xf4];

/// The chip, shared by the driver's register handles and the test.
#[derive(Clone)]
pub struct Chip(Arc<Mutex<Model>>);

impl Chip {
    pub fn new() -> Chip {
        Chip(Arc::new(Mutex::new(Model::new())))
    }

    pub fn model(&self) -> MutexGuard<'_, Model> {
        self.0.lock().unwrap()
    }
}

impl Registers for Chip {
    fn read(&self, reg: Reg) -> u32 {
        self.model().read(reg)
    }

    fn write(&self, reg: Reg, value: u32) {
        self.model().write(reg, value)
    }
}

pub struct Model {
    // Identity and bring-up.
    pub byte_test: u32,
    pub id_rev: u32,
    /// HW_CFG reads that still show SRST set after a soft reset (`None`: it never clears).
    pub reset_reads: Option<u32>,
    reset_left: u32,
    pub soft_resets: u32,
    pub eeprom_mac: [u8; 6],

    // System registers.
    pub irq_cfg: u32,
    pub int_sts: u32,
    pub int_en: u32,
    pub fifo_int: u32,
    pub rx_cfg: u32,
    pub tx_cfg: u32,
    pub hw_cfg: u32,
    pub gpio_cfg: u32,
    pub afc_cfg: u32,
    mac_cmd: u32,
    mac_data: u32,

    // MAC.
    pub mac_cr: u32,
    pub mac: [u8; 6],
    mii_acc: u32,
    mii_data: u32,

    // PHY.
    pub phy_control: u16,
    pub phy_advertise: u16,
    pub phy_partner: u16,
    pub phy_int: u16,
    pub phy_int_mask: u16,
    pub link_up: bool,
    pub phy_resets: u32,
    /// Set by a test: `(n, up)` sets the link to `up` right after the `n`-th read of the
    /// basic status register from now returns (with the old state), like a cable pulled
    /// while the driver looks at the PHY. Cleared when it happens.
    pub link_change_at_bsr_read: Option<(u32, bool)>,

    // RX.
    rx_data: VecDeque<u32>,
    rx_status: VecDeque<u32>,
    /// Frames the model turned away because the FIFO was full (QEMU: `return -1`).
    pub rx_turned_away: u32,
    /// What `RX_DROP` reads (QEMU: always 0); the test may set it.
    pub rx_drop_register: u32,
    pub rx_underflows: u32,

    // TX.
    tx_words: Vec<u32>,
    tx_status: VecDeque<u32>,
    /// Free TX data FIFO bytes reported (QEMU: always roughly 4.5 K); the test may lower it.
    pub tx_free: u32,
    pub sent: Vec<Vec<u8>>,
    pub sent_tags: Vec<u16>,
    /// A TX status with the error bit for every frame sent, to test error counting.
    pub tx_fail: bool,

    /// Every register access, for tests about what the driver touches.
    pub accesses: u64,
}

impl Model {
    fn new() -> Model {
        let mut model = Model {
            byte_test: 0x8765_4321,
            id_rev: 0x0118_0001,
            reset_reads: Some(3),
            reset_left: 0,
            soft_resets: 0,
            eeprom_mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            irq_cfg: 0,
            int_sts: 0,
            int_en: 0,
            fifo_int: 0,
            rx_cfg: 0,
            tx_cfg: 0,
            hw_cfg: 0,
            gpio_cfg: 0,
            afc_cfg: 0,
            mac_cmd: 0,
            mac_data: 0,
            mac_cr: 0,
            mac: [0; 6],
            mii_acc: 0,
            mii_data: 0,
            phy_control: 0,
            phy_advertise: 0,
            phy_partner: 0x0f71,
            phy_int: 0,
            phy_int_mask: 0,
            link_up: true,
            phy_resets: 0,
            link_change_at_bsr_read: None,
            rx_data: VecDeque::new(),
            rx_status: VecDeque::new(),
            rx_turned_away: 0,
            rx_drop_register: 0,
            rx_underflows: 0,
            tx_words: Vec::new(),
            tx_status: VecDeque::new(),
            tx_free: 4608,
            sent: Vec::new(),
            sent_tags: Vec::new(),
            tx_fail: false,
            accesses: 0,
        };
        model.reset();
        model
    }

    /// QEMU's `lan9118_reset`.
    fn reset(&mut self) {
        self.irq_cfg &= 0x11;
        self.int_sts = 0;
        self.int_en = 0;
        self.fifo_int = 0x4800_0000;
        self.rx_cfg = 0;
        self.tx_cfg = 0;
        self.hw_cfg = 0x0005_0004;
        self.rx_data.clear();
        self.rx_status.clear();
        self.tx_words.clear();
        self.tx_status.clear();
        self.mac_cr = 1 << 18; // promiscuous
        self.mac = self.eeprom_mac;
        self.phy_reset();
    }

    fn phy_reset(&mut self) {
        self.phy_resets += 1;
        self.phy_control = 0x3000;
        self.phy_advertise = 0x01e1;
        self.phy_int_mask = 0;
        self.phy_int = 0;
        self.update_phy_link();
    }

    /// QEMU's `phy_update_link`.
    fn update_phy_link(&mut self) {
        self.phy_int |= if self.link_up { 0x80 | 0x40 } else { 0x10 };
        self.update_phy_irq();
    }

    fn update_phy_irq(&mut self) {
        if self.phy_int & self.phy_int_mask != 0 {
            self.int_sts |= 1 << 18;
        } else {
            self.int_sts &= !(1 << 18);
        }
    }

    /// QEMU's `set_link` from the monitor.
    pub fn set_link(&mut self, up: bool) {
        self.link_up = up;
        self.update_phy_link();
    }

    /// The IRQ pin as the interrupt controller sees it (active high when configured so).
    pub fn irq_active(&self) -> bool {
        self.irq_cfg & (1 << 8) != 0 && self.int_sts & self.int_en != 0
    }

    pub fn irq_active_high_push_pull(&self) -> bool {
        self.irq_cfg & 0x11 == 0x11
    }

    /// A frame arrives from the wire; false when the model drops it as QEMU does (receiver
    /// off, wrong size, status or data FIFO full). Not filtered: tests send to the station.
    pub fn deliver(&mut self, frame: &[u8]) -> bool {
        if self.mac_cr & (1 << 2) == 0 || frame.len() < 14 || frame.len() >= 2048 {
            self.rx_turned_away += 1;
            return false;
        }
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(&FCS);
        let words = bytes.len().div_ceil(4);
        if self.rx_status.len() == RX_STATUS_ENTRIES || RX_FIFO_WORDS - self.rx_data.len() < words {
            self.rx_turned_away += 1;
            return false;
        }
        bytes.resize(words * 4, 0);
        for chunk in bytes.chunks_exact(4) {
            self.rx_data.push_back(u32::from_le_bytes(chunk.try_into().unwrap()));
        }
        self.rx_status.push_back(((frame.len() as u32 + 4) << 16) | self.extra_status(frame));
        if self.rx_status.len() as u32 > (self.fifo_int & 0xff) {
            self.int_sts |= 1 << 3; // RSFL
        }
        true
    }

    /// A frame with a given raw status word (errors, odd lengths) and `words` data words.
    pub fn deliver_raw(&mut self, status: u32, words: usize) {
        for i in 0..words {
            self.rx_data.push_back(0xdead_0000 | i as u32);
        }
        self.rx_status.push_back(status);
        self.int_sts |= 1 << 3;
    }

    fn extra_status(&self, frame: &[u8]) -> u32 {
        if frame[..6] == [0xff; 6] {
            1 << 13
        } else if frame[0] & 1 != 0 {
            1 << 10
        } else {
            0
        }
    }

    pub fn rx_pending(&self) -> usize {
        self.rx_status.len()
    }

    pub fn rx_words(&self) -> usize {
        self.rx_data.len()
    }

    fn read(&mut self, reg: Reg) -> u32 {
        self.accesses += 1;
        match reg {
            Reg::RxData => match self.rx_data.pop_front() {
                Some(word) => word,
                None => {
                    self.rx_underflows += 1;
                    self.int_sts |= 1 << 14; // RXE
                    0
                }
            },
            Reg::RxStatus => self.rx_status.pop_front().unwrap_or(0),
            Reg::TxStatus => self.tx_status.pop_front().unwrap_or(0),
            Reg::IdRev => self.id_rev,
            Reg::IrqCfg => self.irq_cfg | if self.irq_active() { 1 << 12 } else { 0 },
            Reg::IntSts => self.int_sts,
            Reg::IntEn => self.int_en,
            Reg::ByteTest => self.byte_test,
            Reg::FifoInt => self.fifo_int,
            Reg::RxCfg => self.rx_cfg,
            Reg::TxCfg => self.tx_cfg,
            Reg::HwCfg => {
                if self.hw_cfg & 1 != 0 {
                    match self.reset_reads {
                        Some(_) if self.reset_left == 0 => {
                            self.hw_cfg &= !1;
                            self.reset();
                        }
                        Some(_) => self.reset_left -= 1,
                        None => {}
                    }
                }
                self.hw_cfg
            }
            Reg::RxFifoInf => {
                ((self.rx_status.len() as u32) << 16) | (self.rx_data.len() as u32 * 4)
            }
            Reg::TxFifoInf => ((self.tx_status.len() as u32) << 16) | self.tx_free,
            Reg::PmtCtrl => {
                if self.hw_cfg & 1 != 0 {
                    0
                } else {
                    1
                }
            }
            Reg::GpioCfg => self.gpio_cfg,
            // 25 MHz, and one register access takes 1 µs.
            Reg::FreeRun => (self.accesses * 25) as u32,
            Reg::RxDrop => std::mem::take(&mut self.rx_drop_register),
            Reg::MacCsrCmd => self.mac_cmd,
            Reg::MacCsrData => self.mac_data,
            Reg::AfcCfg => self.afc_cfg,
            Reg::TxData => panic!("read of the TX data FIFO (QEMU: hw_error, the emulator aborts)"),
        }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        self.accesses += 1;
        match reg {
            Reg::TxData => self.tx_push(value),
            Reg::IrqCfg => self.irq_cfg = value & 0x111 | (value & 0xff00_0000),
            Reg::IntSts => self.int_sts &= !value,
            Reg::IntEn => self.int_en = value & !0x7c00_1000,
            Reg::FifoInt => self.fifo_int = value,
            Reg::RxCfg => self.rx_cfg = value & 0xcfff_1ff0,
            Reg::TxCfg => self.tx_cfg = value & 6,
            Reg::HwCfg => {
                if value & 1 != 0 {
                    self.soft_resets += 1;
                    self.hw_cfg |= 1;
                    self.reset_left = self.reset_reads.unwrap_or(0);
                } else {
                    self.hw_cfg = value;
                }
            }
            Reg::GpioCfg => self.gpio_cfg = value,
            Reg::AfcCfg => self.afc_cfg = value,
            Reg::MacCsrData => self.mac_data = value,
            Reg::MacCsrCmd => {
                self.mac_cmd = value & 0x4000_00ff;
                if value & (1 << 31) != 0 {
                    let mac_reg = value & 0xff;
                    if value & (1 << 30) != 0 {
                        self.mac_data = self.mac_read(mac_reg);
                    } else {
                        self.mac_write(mac_reg, self.mac_data);
                    }
                }
            }
            other => panic!("write to read-only {other:?} (QEMU: hw_error, the emulator aborts)"),
        }
    }

    fn mac_read(&mut self, reg: u32) -> u32 {
        match reg {
            1 => self.mac_cr,
            2 => u32::from(self.mac[4]) | u32::from(self.mac[5]) << 8,
            3 => u32::from_le_bytes(self.mac[..4].try_into().unwrap()),
            6 => self.mii_acc,
            7 => self.mii_data,
            other => panic!("MAC register {other} read: QEMU aborts (hw_error)"),
        }
    }

    fn mac_write(&mut self, reg: u32, value: u32) {
        match reg {
            1 => self.mac_cr = value & !0x7f40_4213,
            2 => [self.mac[4], self.mac[5]] = [value as u8, (value >> 8) as u8],
            3 => self.mac[..4].copy_from_slice(&value.to_le_bytes()),
            6 => {
                self.mii_acc = value & 0xffc2;
                assert_eq!((value >> 11) & 0x1f, 1, "the internal PHY is at address 1");
                let phy_reg = (value >> 6) & 0x1f;
                if value & 2 != 0 {
                    self.phy_write(phy_reg, self.mii_data as u16);
                } else {
                    self.mii_data = u32::from(self.phy_read(phy_reg));
                }
            }
            7 => self.mii_data = value & 0xffff,
            other => panic!("MAC register {other} write: QEMU aborts (hw_error)"),
        }
    }

    fn phy_read(&mut self, reg: u32) -> u16 {
        match reg {
            0 => self.phy_control,
            1 => {
                let bsr = 0x7809 | if self.link_up { 0x0024 } else { 0 };
                match self.link_change_at_bsr_read {
                    Some((1, up)) => {
                        self.link_change_at_bsr_read = None;
                        self.set_link(up);
                    }
                    Some((n, up)) => self.link_change_at_bsr_read = Some((n - 1, up)),
                    None => {}
                }
                bsr
            }
            2 => 0x0007,
            3 => 0xc0d1,
            4 => self.phy_advertise,
            5 => self.phy_partner,
            6 => 1,
            29 => {
                let sources = std::mem::take(&mut self.phy_int);
                self.update_phy_irq();
                sources
            }
            30 => self.phy_int_mask,
            other => panic!("PHY register {other} read: QEMU does not implement it"),
        }
    }

    fn phy_write(&mut self, reg: u32, value: u16) {
        match reg {
            0 if value & 0x8000 != 0 => self.phy_reset(),
            0 => self.phy_control = value & 0x7980,
            4 => self.phy_advertise = (value & 0x2d7f) | 0x80,
            30 => {
                self.phy_int_mask = value & 0xff;
                self.update_phy_irq();
            }
            other => panic!("PHY register {other} write: QEMU does not implement it"),
        }
    }

    /// QEMU's `tx_fifo_push`, simplified to the single-segment frames with no offset that
    /// the driver writes (anything else fails the test).
    fn tx_push(&mut self, word: u32) {
        self.tx_words.push(word);
        let cmd_a = self.tx_words[0];
        assert_eq!(cmd_a & 0x3000, 0x3000, "one segment, first and last: {cmd_a:#x}");
        assert_eq!(cmd_a & 0x001f_0000, 0, "no data start offset");
        let size = (cmd_a & 0x7ff) as usize;
        if self.tx_words.len() < 2 + size.div_ceil(4) {
            return;
        }
        let cmd_b = self.tx_words[1];
        assert_eq!((cmd_b & 0x7ff) as usize, size, "command B length = buffer size");
        let bytes: Vec<u8> = self.tx_words[2..].iter().flat_map(|w| w.to_le_bytes()).collect();
        self.sent.push(bytes[..size].to_vec());
        self.sent_tags.push((cmd_b >> 16) as u16);
        let error = if self.tx_fail { 1 << 15 } else { 0 };
        self.tx_status.push_back((cmd_b & 0xffff_0000) | error);
        self.tx_words.clear();
    }
}
