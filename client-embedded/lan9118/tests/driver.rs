//! The driver against a model of QEMU's LAN9118 (`chip`): bring-up, frames both ways with
//! exact bytes, draining bursts, interrupts and wake-ups, the link, errors and the FIFO-full
//! quirk.

mod chip;

use chip::{Chip, RX_FIFO_WORDS, RX_STATUS_ENTRIES};
use embassy_net_driver::{Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_net_lan9118::{
    Config, Error, IrqPin, Lan9118, MTU, RX_FIFO_BYTES, RX_FIFO_FRAMES, RX_FIFO_SAFE_PEAK_BYTES,
    Registers, State, Stats,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Rig {
    chip: Chip,
    state: &'static State<Chip>,
    wakes: Arc<Wakes>,
    waker: Waker,
}

impl Rig {
    fn new() -> Rig {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        Rig { chip: Chip::new(), state: Box::leak(Box::new(State::new())), wakes, waker }
    }

    fn driver(&self, config: Config) -> Result<Lan9118<'static, Chip>, Error> {
        Lan9118::new(self.chip.clone(), self.state, config)
    }

    fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// What the interrupt controller does: runs the handler while the pin is active.
    fn interrupt_if_pending(&self) -> bool {
        let active = self.chip.model().irq_active();
        if active {
            self.state.on_interrupt();
            assert!(!self.chip.model().irq_active(), "the handler releases the pin");
        }
        active
    }
}

/// A frame for the station: destination, source, EtherType, then `payload_len` bytes.
fn frame(dst: [u8; 6], seq: u16, payload_len: usize) -> Vec<u8> {
    let mut frame = dst.to_vec();
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    frame.extend((0..payload_len).map(|i| (i as u16 ^ seq.rotate_left(5)) as u8));
    if let Some(first) = frame.get_mut(14) {
        *first = seq as u8;
    }
    frame
}

const STATION: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// Receives one frame, as the network stack would, or `None`.
fn receive(dev: &mut Lan9118<'static, Chip>, cx: &mut Context<'_>) -> Option<Vec<u8>> {
    let (rx, _tx) = dev.receive(cx)?;
    Some(rx.consume(|bytes| bytes.to_vec()))
}

#[test]
fn bring_up_configures_the_chip_as_qemu_needs_it() {
    let rig = Rig::new();
    let dev = rig.driver(Config::new()).expect("bring-up");
    let model = rig.chip.model();
    assert_eq!(model.soft_resets, 1);
    assert_eq!(dev.chip_id() >> 16, 0x0118);
    // The EEPROM's address (QEMU: the NIC's mac=), kept and reported.
    assert_eq!(dev.mac_address(), STATION);
    assert_eq!(dev.hardware_address(), HardwareAddress::Ethernet(STATION));
    // Transmitter and receiver on, promiscuous mode off, full duplex from auto-negotiation
    // (QEMU's partner advertises everything).
    assert_eq!(model.mac_cr, (1 << 3) | (1 << 2) | (1 << 20));
    assert_eq!(model.tx_cfg, 0b110, "TX on, status overrun allowed");
    assert!(model.irq_active_high_push_pull(), "MPS2 and QEMU want active-high push-pull");
    assert_ne!(model.irq_cfg & (1 << 8), 0, "IRQ pin enabled");
    assert_eq!(model.int_en, 0, "no source enabled before the stack polls");
    assert_eq!(model.fifo_int & 0xff, 0, "RSFL on the first frame");
    assert_eq!(model.fifo_int >> 24, 25, "TDFA once 1 600 bytes are free");
    assert_eq!(model.phy_int_mask, 0xd0, "link up/down PHY interrupts");
    assert_eq!(model.phy_control & (1 << 12), 1 << 12, "auto-negotiation on");
    assert_eq!(model.phy_resets, 3, "at power-on, at soft reset, and by the driver");
    assert_eq!(model.hw_cfg & 0x000f_0000, 5 << 16, "5 KiB TX FIFO");
    assert_eq!(dev.capabilities().max_transmission_unit, MTU);
    assert_eq!((RX_FIFO_BYTES, RX_FIFO_FRAMES), (RX_FIFO_WORDS as u32 * 4, 176));
}

#[test]
fn a_configured_mac_address_is_programmed() {
    let rig = Rig::new();
    let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    let dev = rig.driver(Config::new().with_mac_address(mac)).unwrap();
    assert_eq!(dev.mac_address(), mac);
    assert_eq!(rig.chip.model().mac, mac);
}

#[test]
fn other_irq_pin_modes_are_programmed() {
    for (pin, bits) in [(IrqPin::ActiveLowPushPull, 0x01), (IrqPin::ActiveLowOpenDrain, 0x00)] {
        let rig = Rig::new();
        rig.driver(Config::new().with_irq_pin(pin).with_leds(false)).unwrap();
        let model = rig.chip.model();
        assert_eq!(model.irq_cfg & 0x11, bits, "{pin:?}");
        assert_eq!(model.gpio_cfg, 0, "LEDs left alone");
    }
}

#[test]
fn bring_up_failures_are_reported() {
    let rig = Rig::new();
    rig.chip.model().byte_test = 0xffff_ffff;
    assert_eq!(rig.driver(Config::new()).err(), Some(Error::NotResponding(0xffff_ffff)));

    let rig = Rig::new();
    rig.chip.model().id_rev = 0x8001_0000;
    assert_eq!(rig.driver(Config::new()).err(), Some(Error::UnknownChip(0x8001_0000)));

    let rig = Rig::new();
    rig.chip.model().reset_reads = None;
    assert_eq!(rig.driver(Config::new()).err(), Some(Error::Timeout { what: "soft reset" }));

    let rig = Rig::new();
    rig.chip.model().eeprom_mac = [0; 6];
    assert_eq!(rig.driver(Config::new()).err(), Some(Error::NoMacAddress));
    // ...which a configured address fixes.
    assert!(rig.driver(Config::new().with_mac_address([2, 0, 0, 0, 0, 1])).is_ok());
    // One State serves one driver.
    assert_eq!(
        rig.driver(Config::new().with_mac_address([2, 0, 0, 0, 0, 1])).err(),
        Some(Error::StateInUse)
    );
}

#[test]
fn frames_of_every_length_arrive_exactly_without_the_fcs() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    // Every length from the bare header to the MTU: all four word alignments, the FCS
    // straddling the last word.
    for len in (14..=MTU).step_by(7).chain([MTU - 1, MTU]) {
        let sent = frame(STATION, len as u16, len - 14);
        assert!(rig.chip.model().deliver(&sent));
        assert_eq!(receive(&mut dev, &mut cx).as_deref(), Some(&sent[..]), "length {len}");
        assert_eq!(rig.chip.model().rx_words(), 0, "the whole frame, FCS included, was read");
    }
    assert_eq!(receive(&mut dev, &mut cx), None);
    assert_eq!(rig.chip.model().rx_underflows, 0);
    assert_eq!(rig.stats().rx_errors, 0);
}

#[test]
fn frames_are_sent_exactly_with_single_segment_commands() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    let mut expected = Vec::new();
    for len in [60, 61, 62, 63, 64, 333, MTU] {
        let bytes = frame([0xff; 6], len as u16, len - 14);
        let token = dev.transmit(&mut cx).expect("room in the TX FIFO");
        token.consume(len, |buf| buf.copy_from_slice(&bytes));
        expected.push(bytes);
    }
    let model = rig.chip.model();
    assert_eq!(model.sent, expected);
    assert_eq!(model.sent_tags, (1..=7).collect::<Vec<u16>>(), "a fresh tag per frame");
    drop(model);
    assert_eq!(rig.stats().tx_frames, 7);
}

#[test]
fn the_rx_token_comes_with_a_tx_token_for_the_reply() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    rig.chip.model().deliver(&frame(STATION, 1, 50));
    let (rx, tx) = dev.receive(&mut cx).unwrap();
    let request = rx.consume(|bytes| bytes.to_vec());
    tx.consume(request.len(), |buf| buf.copy_from_slice(&request));
    assert_eq!(rig.chip.model().sent, vec![request]);
}

#[test]
fn a_burst_is_drained_with_a_wake_up_per_frame_until_the_fifo_is_empty() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    assert!(dev.link_state(&mut cx) == LinkState::Up);
    // As many frames as the status FIFO holds (176), of 56 bytes (60 with the FCS, so they
    // fill the data FIFO exactly): all are kept.
    let burst: Vec<Vec<u8>> =
        (0..RX_STATUS_ENTRIES).map(|i| frame(STATION, i as u16, 42)).collect();
    for f in &burst {
        assert!(rig.chip.model().deliver(f));
    }
    assert!(rig.interrupt_if_pending(), "RSFL interrupts");
    let woken = rig.wakes();
    // The stack polls once per wake-up: each poll that yields a frame asks for another.
    let mut received = Vec::new();
    while let Some(f) = receive(&mut dev, &mut cx) {
        received.push(f);
        assert_eq!(rig.wakes(), woken + received.len(), "woken again after each frame");
    }
    assert_eq!(received, burst, "every frame, in order");
    let stats = rig.stats();
    assert_eq!(stats.rx_frames, RX_STATUS_ENTRIES as u32);
    assert_eq!(stats.rx_fifo_peak_frames, RX_STATUS_ENTRIES as u32);
    assert_eq!(stats.rx_fifo_peak_bytes, RX_FIFO_BYTES);
    // Empty again: interrupts re-armed, no spurious wake-up.
    assert_eq!(rig.chip.model().int_en, (1 << 3) | (1 << 18));
    assert_eq!(rig.wakes(), woken + received.len());
}

#[test]
fn qemu_drops_what_does_not_fit_and_the_peak_shows_how_close_it_came() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    // Full-size frames: 380 words each, so 6 fit in 2 640 words and the 7th is dropped.
    let big = |i| frame(STATION, i, MTU - 14);
    let kept = (0..7).filter(|&i| rig.chip.model().deliver(&big(i))).count();
    assert_eq!(kept, 6);
    assert_eq!(rig.chip.model().rx_turned_away, 1, "QEMU's model drops it silently");
    while receive(&mut dev, &mut cx).is_some() {}
    let stats = rig.stats();
    assert_eq!(stats.rx_frames, 6);
    assert_eq!(stats.rx_dropped, 0, "QEMU's RX_DROP never counts");
    // The peak says the FIFO came within a full frame of its size: a drop was possible.
    assert!(stats.rx_fifo_peak_bytes + 1536 > RX_FIFO_BYTES, "{stats:?}");
    assert!(stats.rx_fifo_peak_bytes > RX_FIFO_SAFE_PEAK_BYTES);

    // Drained promptly, the same burst size never comes near that.
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    for i in 0..700 {
        assert!(rig.chip.model().deliver(&big(i)), "frame {i} kept");
        if i % 3 == 2 {
            while receive(&mut dev, &mut cx).is_some() {}
        }
    }
    while receive(&mut dev, &mut cx).is_some() {}
    let stats = rig.stats();
    assert_eq!(stats.rx_frames, 700);
    assert_eq!(stats.rx_fifo_peak_frames, 3);
    assert!(stats.rx_fifo_peak_bytes <= RX_FIFO_SAFE_PEAK_BYTES, "{stats:?}");
}

#[test]
fn the_chip_drop_counter_is_collected() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    rig.chip.model().rx_drop_register = 3;
    dev.link_state(&mut cx);
    rig.chip.model().rx_drop_register = 2;
    dev.link_state(&mut cx);
    assert_eq!(rig.stats().rx_dropped, 5);
}

#[test]
fn an_interrupt_disables_the_sources_and_wakes_the_stack_which_re_arms_them() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    assert_eq!(receive(&mut dev, &mut cx), None);
    assert_eq!(rig.chip.model().int_en, (1 << 3) | (1 << 18), "RSFL and PHY armed");
    assert!(!rig.interrupt_if_pending(), "nothing pending");
    assert_eq!(rig.wakes(), 0);

    rig.chip.model().deliver(&frame(STATION, 9, 100));
    assert!(rig.chip.model().irq_active(), "a frame raises the pin");
    assert!(rig.interrupt_if_pending());
    assert_eq!(rig.chip.model().int_en, 0, "the handler disabled every source");
    assert_eq!(rig.wakes(), 1, "the handler woke the stack");
    assert_eq!(rig.stats().interrupts, 1);

    // The stack comes back after some bus traffic (the model's clock: 1 µs per access).
    for _ in 0..40 {
        rig.chip.read(embassy_net_lan9118::Reg::ByteTest);
    }
    assert!(receive(&mut dev, &mut cx).is_some());
    assert_eq!(receive(&mut dev, &mut cx), None);
    assert_eq!(rig.chip.model().int_en, (1 << 3) | (1 << 18), "re-armed once empty");
    assert!(!rig.chip.model().irq_active());
    // From the handler's stamp to the driver's first look: the 40 accesses and a few more.
    let latency = rig.stats().wake_latency_max_us;
    assert!((40..60).contains(&latency), "{latency} µs");
}

#[test]
fn a_frame_arriving_while_disarmed_interrupts_as_soon_as_the_driver_re_arms() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    rig.chip.model().deliver(&frame(STATION, 1, 100));
    // The stack takes the frame; before it polls again a second frame arrives while the
    // sources are still disabled.
    assert!(receive(&mut dev, &mut cx).is_some());
    rig.chip.model().deliver(&frame(STATION, 2, 100));
    assert!(!rig.interrupt_if_pending(), "disarmed: no interrupt yet");
    // The wake-up that came with the first frame brings the stack back for the second.
    assert!(receive(&mut dev, &mut cx).is_some());
    // Now a link_state poll (which acknowledges RSFL) between a frame and receive():
    rig.chip.model().deliver(&frame(STATION, 3, 100));
    assert_eq!(receive(&mut dev, &mut cx).map(|f| f[14]), Some(3));
    rig.chip.model().deliver(&frame(STATION, 4, 100));
    let wakes = rig.wakes();
    dev.link_state(&mut cx);
    // RSFL was acknowledged, but the frame is still in the FIFO: the stack must come back.
    // Either the handler runs now, or a wake-up is already owed (the driver woke itself
    // when it returned frame 3).
    assert!(rig.interrupt_if_pending() || rig.wakes() > wakes - 1);
    assert_eq!(receive(&mut dev, &mut cx).map(|f| f[14]), Some(4));
    assert_eq!(receive(&mut dev, &mut cx), None);
    assert_eq!(rig.stats().rx_frames, 4);
}

#[test]
fn link_changes_interrupt_and_are_followed() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    assert!(dev.link_state(&mut cx) == LinkState::Up);
    assert!(!rig.interrupt_if_pending());

    rig.chip.model().set_link(false);
    assert!(rig.interrupt_if_pending(), "the PHY interrupts on link down");
    assert!(dev.link_state(&mut cx) == LinkState::Down);
    assert!(!rig.interrupt_if_pending(), "PHY source acknowledged");

    rig.chip.model().set_link(true);
    assert!(rig.interrupt_if_pending(), "and on link up");
    assert!(dev.link_state(&mut cx) == LinkState::Up);
}

#[test]
fn a_link_change_while_the_driver_reads_the_phy_is_not_lost() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    assert!(dev.link_state(&mut cx) == LinkState::Up);
    // A flap the driver has not looked at yet, and the cable pulled again just after the
    // second of its two BSR reads (the first clears the latched bit): after its last look at
    // the link, before it acknowledges PHY_INT in INT_STS.
    {
        let mut model = rig.chip.model();
        model.set_link(false);
        model.set_link(true);
        model.link_change_at_bsr_read = Some((2, false));
    }
    assert!(rig.interrupt_if_pending());
    assert!(dev.link_state(&mut cx) == LinkState::Up, "up when the driver read it");
    assert_eq!(rig.chip.model().link_change_at_bsr_read, None, "the cable was pulled");
    assert!(!rig.chip.model().link_up);
    let interrupted = rig.interrupt_if_pending();
    assert!(dev.link_state(&mut cx) == LinkState::Down, "the pull was acknowledged unseen");
    assert!(interrupted, "the PHY interrupt for the pull stayed pending");
}

#[test]
fn half_duplex_partners_get_a_half_duplex_mac() {
    let rig = Rig::new();
    rig.chip.model().phy_partner = 0x00a1; // 10 and 100 half duplex only
    rig.driver(Config::new()).unwrap();
    assert_eq!(rig.chip.model().mac_cr & (1 << 20), 0);

    let rig = Rig::new();
    rig.chip.model().phy_partner = 0x00c1; // 100 half and 10 full: 100 half wins
    rig.driver(Config::new()).unwrap();
    assert_eq!(rig.chip.model().mac_cr & (1 << 20), 0);

    let rig = Rig::new();
    rig.chip.model().phy_partner = 0x0061; // 10 half and full
    rig.driver(Config::new()).unwrap();
    assert_eq!(rig.chip.model().mac_cr & (1 << 20), 1 << 20);
}

#[test]
fn bad_frames_are_discarded_whole_and_counted() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    let good = frame(STATION, 7, 80);
    {
        let mut model = rig.chip.model();
        model.deliver_raw((68 << 16) | (1 << 15) | (1 << 1), 17); // CRC error
        model.deliver_raw(10 << 16, 3); // shorter than a header
        model.deliver_raw(2000 << 16, 500); // longer than any frame
        model.deliver(&good);
    }
    assert_eq!(receive(&mut dev, &mut cx), Some(good));
    assert_eq!(rig.stats().rx_errors, 3);
    assert_eq!(rig.chip.model().rx_words(), 0, "nothing left behind");
    assert_eq!(rig.chip.model().rx_underflows, 0, "and nothing read beyond the frames");
}

#[test]
fn a_full_tx_fifo_waits_for_tdfa() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    rig.chip.model().tx_free = 1000;
    assert!(dev.transmit(&mut cx).is_none());
    assert_eq!(rig.chip.model().int_en & (1 << 9), 1 << 9, "TDFA armed");
    assert!(dev.receive(&mut cx).is_none(), "no TX room: no RX token either");
    assert_eq!(rig.stats().tx_waits, 1, "one wait, however often polled");

    rig.chip.model().tx_free = 4608;
    rig.chip.model().int_sts |= 1 << 9; // the chip raises TDFA
    assert!(rig.interrupt_if_pending());
    assert!(dev.transmit(&mut cx).is_some());
    dev.link_state(&mut cx);
    assert_eq!(rig.chip.model().int_en & (1 << 9), 0, "TDFA no longer wanted");
}

#[test]
fn tx_errors_are_counted_from_the_status_fifo() {
    let rig = Rig::new();
    let mut dev = rig.driver(Config::new()).unwrap();
    let mut cx = Context::from_waker(&rig.waker);
    rig.chip.model().tx_fail = true;
    for _ in 0..2 {
        dev.transmit(&mut cx).unwrap().consume(60, |buf| buf.fill(0xaa));
    }
    dev.link_state(&mut cx);
    assert_eq!(rig.stats().tx_errors, 2);
}

#[test]
fn the_handler_before_bring_up_only_counts() {
    let state: State<Chip> = State::new();
    state.on_interrupt();
    assert_eq!(state.stats().interrupts, 1);
}
