//! A player's inputs between its socket and the room's tick: a short queue that gives each
//! tick the input the client sent for it.
//!
//! A client sends one input per tick (the SDK and the controller firmware do, at the
//! `Welcome`'s tick rate) and predicts its own ship by replaying the inputs the server has not
//! applied yet, one tick each. The network does not deliver them one per tick: jitter brings
//! two in one tick and none in the next, and a stalled uplink holds back a burst. Applying only
//! the newest input each tick (as the server did) skipped the first of two and ran the next
//! tick on a stale one, so the server's ship drifted a tick from the client's prediction and
//! back, again and again (a rubber band of one tick's flight at 100 ms of jitter), and a
//! button pressed for one input was lost when its input was skipped.
//!
//! [`InputQueue`] instead hands the room one input per tick, in order, and keeps count of the
//! ticks that passed without one (an input arriving late): once more than
//! [`LATE_ALLOWANCE`] ticks behind, it catches up by folding inputs together (the older one's
//! steering is dropped, its buttons are kept, so a tap always lands, and is let go on the next
//! tick even if no input comes then, rather than held through a gap). It never lags for
//! nothing: inputs that stood unused through a whole [`WINDOW`] (the network calmed, or the
//! client's clock runs a little fast) are folded away. A client sending faster than one input
//! a tick (a load test's bots at `--input-rate 60`) gets the newest each tick, as before. It holds at most [`MAX_QUEUED`] inputs: no peer can grow it.
//!
//! Each window it also reports how the client's inputs met the ticks ([`InputReport`]): the
//! ticks that ran without their input (late, and the client's prediction corrected), the
//! inputs folded away, and the ticks inputs waited in the queue (the input delay the buffer
//! adds). The round trip the server measures from acks ([`crate::latency`]) sees the network's
//! latency; this sees its jitter on the way in, which is what players feel as corrections.

use std::collections::VecDeque;
use tickwire_shared::{Input, InputSeq};

/// Inputs held for ticks to come, at most (267 ms at 30 Hz); one more folds the oldest into
/// the next.
pub const MAX_QUEUED: usize = 8;

/// Ticks the queue may run behind the client's inputs without catching up: an input that
/// arrives up to this many ticks late still gets a tick of its own. One tick (33 ms at 30 Hz)
/// covers the jitter of most links, at the cost of that much input delay while it is used;
/// more would trade more delay for fewer corrections.
pub const LATE_ALLOWANCE: u32 = 1;

/// Ticks over which the queue judges the client's pace and drops inputs that stood unused
/// (32: about a second at 30 Hz).
pub const WINDOW: u32 = 32;

/// One link's inputs, as the room takes them: [`InputQueue::receive`] as they arrive,
/// [`InputQueue::take`] once per tick. Deterministic and clock-free: its time is the ticks.
#[derive(Debug, Default)]
pub struct InputQueue {
    /// Inputs received and not applied yet, oldest first, at most [`MAX_QUEUED`], each with
    /// the buttons only inputs folded into it held and the tick count when it arrived.
    queue: VecDeque<Queued>,
    /// The last input taken, and the buttons only inputs folded into it held: a tick without
    /// an input takes it again without them, once.
    last: Option<(Input, u8)>,
    /// The highest sequence received: older and repeated ones are ignored.
    newest: InputSeq,
    /// Ticks passed that no input was applied for yet: how far behind the client's inputs
    /// the room runs.
    behind: u32,
    /// The fewest inputs left waiting after a tick's take, in the current window.
    least_waiting: Option<usize>,
    /// The least the room ran behind after a tick's take, in the current window.
    least_behind: Option<u32>,
    /// The client sends more than one input a tick: each tick takes the newest.
    faster_than_ticks: bool,
    /// Inputs the next tick skips: as many as waited unused through the last window.
    unneeded: usize,
    /// Ticks taken since the client's first input (wrapping: no input waits 65,536 ticks, as
    /// the queue gives one a tick): when each input arrived.
    ticks: u16,
    /// The current window: its ticks and arrivals so far, which judge the client's pace, and
    /// how they met.
    account: InputReport,
    /// The account of the last window that had inputs, for the seat lists.
    last_report: Option<InputReport>,
    /// The room has not taken `last_report` yet ([`InputQueue::take_report`]).
    report_fresh: bool,
}

/// An input waiting for its tick.
#[derive(Debug, Clone, Copy)]
struct Queued {
    input: Input,
    /// Buttons held only by inputs folded into this one.
    folded: u8,
    /// [`InputQueue::ticks`] when it arrived.
    arrived: u16,
}

/// How a client's inputs met the room's ticks through one window ([`WINDOW`] ticks, about a
/// second at 30 Hz). A window in which no input came (a client that stopped sending, a stalled
/// uplink) has none: it says nothing of the network's jitter. Counts saturate (every link has
/// one of these in its queue, spectators too: kept small).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InputReport {
    /// Ticks in the window.
    pub ticks: u16,
    /// Inputs received in it.
    pub arrivals: u16,
    /// Ticks that ran without an input of their own (none had come yet: the game played the
    /// client's last input again, where the client predicted its new one).
    pub missed: u16,
    /// Inputs applied on a tick of their own.
    pub applied: u16,
    /// Ticks the applied inputs waited in the queue past the first tick after they arrived,
    /// summed: the input delay the buffer added.
    pub waited: u16,
    /// Inputs folded into a later one, without a tick of their own (late ones caught up with,
    /// ones that waited for nothing, a client sending faster than the ticks): their steering
    /// was never applied (their buttons were).
    pub folded: u16,
}

impl InputReport {
    /// Whether the client sent at the ticks' pace (three inputs at least for every four
    /// ticks): only then is a tick without its input a late input rather than one the client
    /// never meant to send (a client sending every other tick).
    pub fn kept_pace(&self) -> bool {
        u64::from(self.arrivals) * 4 >= u64::from(self.ticks) * 3
    }

    /// The share of the window's ticks that ran without their input, 0 to 1: none when the
    /// client did not keep the ticks' pace.
    pub fn late_share(&self) -> Option<f64> {
        (self.kept_pace() && self.ticks > 0).then(|| f64::from(self.missed) / f64::from(self.ticks))
    }

    /// The ticks an applied input waited on average, past the first it could have been
    /// applied on: none when none was applied.
    pub fn mean_wait_ticks(&self) -> Option<f64> {
        (self.applied > 0).then(|| f64::from(self.waited) / f64::from(self.applied))
    }
}

impl InputQueue {
    /// Takes an input the client sent; one not newer than every input before is ignored.
    pub fn receive(&mut self, input: Input) {
        if input.seq.0 <= self.newest.0 {
            return;
        }
        self.newest = input.seq;
        self.account.arrivals = self.account.arrivals.saturating_add(1);
        self.queue.push_back(Queued { input, folded: 0, arrived: self.ticks });
        if self.queue.len() > MAX_QUEUED {
            // The oldest made way without a tick of its own: one late input fewer owed.
            self.fold_oldest();
            self.behind = self.behind.saturating_sub(1);
        }
    }

    /// The input for this tick, if one came; `None` leaves the game on the last one. Call it
    /// once per tick, for every tick.
    pub fn take(&mut self) -> Option<Input> {
        // The client's schedule starts with its first input: the ticks before it (the round
        // trip of a join) are none of its inputs' late.
        if self.newest.0 == 0 {
            return None;
        }
        // Owed in full, however long a stall: its burst may arrive over several ticks, and each
        // part is then folded, not left waiting as a later schedule.
        self.behind = self.behind.saturating_add(1);
        // Inputs that waited for nothing through the last window go, the one arriving now
        // taken in their place.
        while self.unneeded > 0 && self.queue.len() > 1 {
            self.fold_oldest();
            self.unneeded -= 1;
        }
        self.unneeded = 0;
        let missed = self.queue.is_empty();
        let taken = if missed {
            // The game keeps the last input on a tick without one; but a button held only by
            // inputs folded into it was a press of their ticks, not one to hold through a gap.
            self.last.take().filter(|(_, folded)| *folded != 0).map(|(last, folded)| {
                let buttons = tickwire_shared::Buttons(last.buttons.0 & !folded);
                Queued { input: Input { buttons, ..last }, folded: 0, arrived: self.ticks }
            })
        } else if self.faster_than_ticks {
            while self.queue.len() > 1 {
                self.fold_oldest();
            }
            self.behind = 0;
            self.queue.pop_front()
        } else {
            // Further behind than the allowance: the inputs meant for ticks already gone are
            // folded into the one this tick applies.
            while self.behind > LATE_ALLOWANCE + 1 && self.queue.len() > 1 {
                self.fold_oldest();
                self.behind -= 1;
            }
            self.behind -= 1;
            self.queue.pop_front()
        };
        if missed {
            self.account.missed = self.account.missed.saturating_add(1);
        } else if let Some(taken) = taken {
            self.account.applied = self.account.applied.saturating_add(1);
            self.account.waited =
                self.account.waited.saturating_add(self.ticks.wrapping_sub(taken.arrived));
        }
        if let Some(taken) = taken {
            self.last = Some((taken.input, taken.folded));
        }
        self.ticks = self.ticks.wrapping_add(1);
        let waiting = self.queue.len();
        self.least_waiting = Some(self.least_waiting.map_or(waiting, |least| least.min(waiting)));
        // From the window's first input on: the ticks before it (a client that had stopped
        // sending, a stall) say nothing of the schedule its inputs keep now.
        if self.account.arrivals > 0 {
            self.least_behind = Some(self.least_behind.map_or(self.behind, |l| l.min(self.behind)));
        }
        self.account.ticks += 1;
        if u32::from(self.account.ticks) >= WINDOW {
            self.end_window();
        }
        taken.map(|taken| taken.input)
    }

    /// The account of the window that ended with the last [`InputQueue::take`], once: none
    /// while a window runs, and for a window without inputs.
    pub fn take_report(&mut self) -> Option<InputReport> {
        std::mem::take(&mut self.report_fresh).then_some(self.last_report).flatten()
    }

    /// The account of the last window that had inputs; none before the first.
    pub fn last_report(&self) -> Option<InputReport> {
        self.last_report
    }

    /// Judges the window that ended: the client's pace, and inputs that waited for nothing.
    /// A window without an input (a stalled uplink, a client that stopped sending) says
    /// nothing of either, and forgives nothing of what the stall is owed.
    fn end_window(&mut self) {
        let account = std::mem::take(&mut self.account);
        if account.arrivals == 0 {
            self.least_waiting = None;
            self.least_behind = None;
            return;
        }
        self.last_report = Some(account);
        self.report_fresh = true;
        self.faster_than_ticks = u32::from(account.arrivals) > WINDOW + WINDOW / 4;
        // Inputs that stood waiting through every tick of the window were never needed to
        // cover a late one: they only delayed the rest. The next tick skips them.
        self.unneeded = self.least_waiting.unwrap_or(0);
        // Running behind through every tick of the window is no lateness but a later schedule
        // (the client's round trip grew, or a stall was caught up with): follow it, as the
        // earliest inputs set it, or every pair jitter brings would be folded from now on.
        self.behind = self.behind.saturating_sub(self.least_behind.unwrap_or(0));
        self.least_waiting = None;
        self.least_behind = None;
    }

    /// Drops the oldest input waiting, keeping its buttons in the next one (a button pressed
    /// for one input is pressed for a tick all the same). The last one waiting is never dropped.
    fn fold_oldest(&mut self) {
        if self.queue.len() < 2 {
            return;
        }
        if let Some(oldest) = self.queue.pop_front()
            && let Some(next) = self.queue.front_mut()
        {
            let pressed = oldest.input.buttons.0 | oldest.folded;
            next.folded |= pressed & !next.input.buttons.0;
            next.input.buttons.0 |= pressed;
            self.account.folded = self.account.folded.saturating_add(1);
        }
    }

    /// How many inputs wait.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::Buttons;

    fn input(seq: u32) -> Input {
        Input { seq: InputSeq(seq), x: 0, y: 0, buttons: Buttons(0) }
    }

    /// Runs `arrivals[t]` inputs in before tick `t`'s take (sequences from 1, one per input
    /// sent); what each tick applied.
    fn run(queue: &mut InputQueue, arrivals: &[u32], next: &mut u32) -> Vec<Option<u32>> {
        arrivals
            .iter()
            .map(|&count| {
                for _ in 0..count {
                    queue.receive(input(*next));
                    *next += 1;
                }
                queue.take().map(|i| i.seq.0)
            })
            .collect()
    }

    #[test]
    fn one_input_a_tick_is_applied_on_its_tick() {
        let mut queue = InputQueue::default();
        let applied = run(&mut queue, &[1; 100], &mut 1);
        assert_eq!(applied, (1..=100).map(Some).collect::<Vec<_>>());
        assert_eq!(queue.waiting(), 0, "nothing waits: no delay added");
    }

    #[test]
    fn jitter_still_gives_each_input_a_tick_of_its_own() {
        // Two in one tick and none in the next, at random, as ±1 tick of jitter brings them.
        let pattern = [1, 2, 0, 1, 1, 2, 0, 2, 0, 1, 0, 2, 1, 1, 2, 0];
        let arrivals: Vec<u32> = pattern.iter().copied().cycle().take(320).collect();
        let mut queue = InputQueue::default();
        let applied = run(&mut queue, &arrivals, &mut 1);
        let taken: Vec<u32> = applied.iter().flatten().copied().collect();
        // Every input sent is applied, in order, each for a tick of its own: the buffer the
        // first late input opened absorbs the rest.
        assert!(taken.windows(2).all(|w| w[1] > w[0]), "in order");
        let skipped = taken.windows(2).filter(|w| w[1] != w[0] + 1).count();
        let repeated = applied.iter().filter(|a| a.is_none()).count();
        assert!(
            skipped == 0 && repeated <= 2,
            "skipped {skipped}, repeated {repeated}: {applied:?}"
        );
        // (Applying the newest each tick instead skips the first of every pair, and repeats
        // on every empty tick: 5 of every 16 ticks here.)
        assert!(queue.waiting() <= 2, "a short buffer, not a growing one: {}", queue.waiting());
    }

    #[test]
    fn jitter_is_absorbed_whenever_the_first_input_comes_and_after_the_round_trip_grows() {
        let pattern = [1, 2, 0, 1, 1, 2, 0, 2, 0, 1, 0, 2, 1, 1, 2, 0];
        let skipped = |applied: &[Option<u32>]| {
            let taken: Vec<u32> = applied.iter().flatten().copied().collect();
            taken.windows(2).filter(|w| w[1] != w[0] + 1).count()
        };
        // The join's round trip: ticks pass before the first input arrives.
        for wait in [1, 3, 10] {
            let mut queue = InputQueue::default();
            let mut arrivals = vec![0; wait];
            arrivals.extend(pattern.iter().copied().cycle().take(320));
            let applied = run(&mut queue, &arrivals, &mut 1);
            assert_eq!(skipped(&applied), 0, "first input after {wait} ticks: {applied:?}");
        }
        // The round trip grows by three ticks for good: after a window, pairs are buffered
        // again, not folded.
        let mut queue = InputQueue::default();
        let mut next = 1;
        run(&mut queue, &[1; 64], &mut next);
        run(&mut queue, &[0, 0, 0], &mut next);
        run(&mut queue, &[1; 2 * WINDOW as usize], &mut next);
        let arrivals: Vec<u32> = pattern.iter().copied().cycle().take(320).collect();
        let applied = run(&mut queue, &arrivals, &mut next);
        assert_eq!(skipped(&applied), 0, "{applied:?}");
    }

    #[test]
    fn a_late_input_is_caught_up_with_by_folding_past_the_allowance() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        run(&mut queue, &[1; 10], &mut next);
        // Three ticks without inputs, then all of them at once.
        let applied = run(&mut queue, &[0, 0, 0, 4, 1, 1, 1], &mut next);
        assert_eq!(applied[..3], [None, None, None], "the game keeps the last input meanwhile");
        // Behind by 3: catches up to within the allowance at once, then one a tick again.
        assert_eq!(applied[3..], [Some(13), Some(14), Some(15), Some(16)]);
    }

    #[test]
    fn a_stalled_uplinks_burst_is_folded_keeping_every_buttons_press() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        run(&mut queue, &[1; 10], &mut next);
        run(&mut queue, &[0; 90], &mut next);
        // 90 inputs arrive together (3 s at 30 Hz); one of the first pressed BOOST.
        for seq in next..next + 90 {
            let buttons = if seq == next + 2 { Buttons(Buttons::BOOST) } else { Buttons(0) };
            queue.receive(Input { buttons, ..input(seq) });
        }
        next += 90;
        assert_eq!(queue.waiting(), MAX_QUEUED, "bounded whatever the burst");
        let first = queue.take().unwrap();
        assert!(first.buttons.held(Buttons::BOOST), "the press folded into the input taken");
        let then = run(&mut queue, &[1; 40], &mut next);
        // Live again: the stale part of the burst is gone.
        assert_eq!(then.last(), Some(&Some(next - 1)), "{then:?}");
    }

    #[test]
    fn a_stalls_burst_arriving_over_several_ticks_is_folded_all_the_same() {
        for (stall, parts) in [(30, 2), (60, 3), (90, 5), (9, 2)] {
            let mut queue = InputQueue::default();
            let mut next = 1;
            run(&mut queue, &[1; 40], &mut next);
            run(&mut queue, &vec![0; stall], &mut next);
            // What the stall held back arrives over `parts` ticks (TCP segments on either side
            // of a tick), with the input of each of those ticks.
            let mut arrivals = vec![stall as u32 / parts as u32 + 1; parts];
            arrivals[0] += stall as u32 % parts as u32;
            arrivals.extend([1; 10]);
            let applied = run(&mut queue, &arrivals, &mut next);
            // Live again once the burst is in: the input of each tick on its tick (within the
            // allowance), none waiting as a later schedule.
            let newest = next - 1;
            assert!(
                applied.last().unwrap().is_some_and(|seq| newest - seq <= LATE_ALLOWANCE),
                "a stall of {stall} ticks in {parts} parts: {applied:?}"
            );
            assert!(queue.waiting() <= 1, "{stall} in {parts}: {} waiting", queue.waiting());
        }
    }

    /// A client that stopped sending for a while (a hidden tab, a controller put down) owes
    /// the ticks of its pause no more than a stall does: once it sends again, its jitter is
    /// buffered, not folded, from the window after it resumed.
    #[test]
    fn a_client_that_paused_has_its_jitter_buffered_again_within_a_window() {
        let pattern = [1, 2, 0, 1, 1, 2, 0, 2, 0, 1, 0, 2, 1, 1, 2, 0];
        for pause in [40, 300, 9000] {
            for phase in [0, 7, 19, 31] {
                let mut queue = InputQueue::default();
                let mut next = 1;
                run(&mut queue, &vec![1; 64 + phase], &mut next);
                run(&mut queue, &vec![0; pause], &mut next);
                let arrivals: Vec<u32> = pattern.iter().copied().cycle().take(320).collect();
                let applied = run(&mut queue, &arrivals, &mut next);
                let folded = |applied: &[Option<u32>]| {
                    let taken: Vec<u32> = applied.iter().flatten().copied().collect();
                    taken.windows(2).filter(|w| w[1] != w[0] + 1).count()
                };
                // The window it resumed in folds what any jitter brings after a gap (as after
                // the join's round trip); from the next, none.
                let (first, then) = applied.split_at(2 * WINDOW as usize);
                let what = format!("a pause of {pause} ticks at phase {phase}: {applied:?}");
                assert!(folded(first) <= 10 && folded(then) == 0, "{what}");
            }
        }
    }

    #[test]
    fn a_press_folded_into_an_input_is_let_go_when_a_gap_follows() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        run(&mut queue, &[1; 5], &mut next);
        run(&mut queue, &[0, 0, 0], &mut next);
        // Two late inputs at once, the first a tap of ACTION; then the uplink stalls again.
        queue.receive(Input { buttons: Buttons(Buttons::ACTION), ..input(6) });
        queue.receive(Input { buttons: Buttons(Buttons::BOOST), ..input(7) });
        let caught_up = queue.take().unwrap();
        assert_eq!(caught_up.seq, InputSeq(7), "the late tap folded into the input applied");
        assert!(caught_up.buttons.held(Buttons::ACTION) && caught_up.buttons.held(Buttons::BOOST));
        // The next tick has no input: the game would hold the last one, tap and all, through
        // the gap. The tap is let go; BOOST, held by the input itself, stays held.
        let gap = queue.take().expect("the last input again, its folded press let go");
        assert_eq!((gap.seq, gap.buttons), (InputSeq(7), Buttons(Buttons::BOOST)));
        assert_eq!(queue.take(), None, "then the game keeps it");
    }

    #[test]
    fn a_tap_on_an_input_folded_away_still_presses_its_button() {
        let mut queue = InputQueue::default();
        for seq in 1..=MAX_QUEUED as u32 + 1 {
            let buttons = if seq == 1 { Buttons(Buttons::ACTION) } else { Buttons(0) };
            queue.receive(Input { buttons, ..input(seq) });
        }
        let taken = queue.take().unwrap();
        assert_eq!(taken.seq, InputSeq(2), "the oldest made way");
        assert!(taken.buttons.held(Buttons::ACTION));
    }

    #[test]
    fn inputs_standing_unused_for_a_window_are_dropped() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        // A burst of 3 early, then one a tick: two wait for nothing, every tick.
        let mut arrivals = vec![3];
        arrivals.extend([1; 2 * WINDOW as usize]);
        let applied = run(&mut queue, &arrivals, &mut next);
        assert_eq!(queue.waiting(), 0, "the delay they added is gone");
        assert_eq!(applied.last(), Some(&Some(next - 1)), "the newest is applied on its tick");
    }

    #[test]
    fn a_client_sending_faster_than_the_ticks_gets_its_newest_each_tick() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        run(&mut queue, &[4; WINDOW as usize], &mut next);
        let applied = run(&mut queue, &[4; 10], &mut next);
        assert_eq!(applied.last(), Some(&Some(next - 1)), "{applied:?}");
        assert_eq!(queue.waiting(), 0);
    }

    #[test]
    fn a_client_sending_every_other_tick_has_each_input_applied_once() {
        let mut queue = InputQueue::default();
        let arrivals: Vec<u32> = [1, 0].iter().copied().cycle().take(200).collect();
        let applied = run(&mut queue, &arrivals, &mut 1);
        let taken: Vec<u32> = applied.iter().flatten().copied().collect();
        assert_eq!(taken, (1..=100).collect::<Vec<_>>());
    }

    proptest::proptest! {
        /// Whatever arrives when: the queue stays bounded, inputs apply in order, and every
        /// button pressed in an input received is held in the first input applied at or after
        /// it (none is lost to folding).
        #[test]
        fn bounded_in_order_and_no_press_is_lost(
            steps in proptest::collection::vec((0u32..12, 0u8..4), 1..300),
        ) {
            let mut queue = InputQueue::default();
            let (mut received, mut taken) = (Vec::new(), Vec::new());
            let mut next = 1;
            for (arrivals, buttons) in steps {
                for _ in 0..arrivals {
                    let input = Input { buttons: Buttons(buttons), ..input(next) };
                    queue.receive(input);
                    queue.receive(input); // a repeat is ignored
                    received.push(input);
                    next += 1;
                }
                proptest::prop_assert!(queue.waiting() <= MAX_QUEUED);
                taken.extend(queue.take());
            }
            while queue.waiting() > 0 {
                taken.extend(queue.take());
            }
            // In order; an input taken again is its folded-in presses let go after a gap.
            let in_order = taken.windows(2).all(|w| {
                let let_go = w[1].buttons.0 & !w[0].buttons.0 == 0 && w[0].buttons != w[1].buttons;
                w[0].seq.0 < w[1].seq.0 || (w[0].seq == w[1].seq && let_go)
            });
            proptest::prop_assert!(in_order, "{:?}", taken);
            for sent in &received {
                let applied = taken.iter().find(|t| t.seq.0 >= sent.seq.0);
                proptest::prop_assert!(
                    applied.is_some_and(|t| t.buttons.0 & sent.buttons.0 == sent.buttons.0),
                    "input {} pressed {:#04x}: {:?}", sent.seq.0, sent.buttons.0, applied
                );
            }
        }
    }

    /// Runs `arrivals` as [`run`] does; the reports of the windows that ended, in order.
    fn windows(queue: &mut InputQueue, arrivals: &[u32], next: &mut u32) -> Vec<InputReport> {
        arrivals
            .iter()
            .filter_map(|&count| {
                run(queue, &[count], next);
                queue.take_report()
            })
            .collect()
    }

    /// [`WINDOW`] as a report counts it.
    const W: u16 = WINDOW as u16;

    #[test]
    fn inputs_on_time_report_no_late_tick_and_no_wait() {
        let mut queue = InputQueue::default();
        let reports = windows(&mut queue, &[1; 3 * WINDOW as usize], &mut 1);
        let on_time =
            InputReport { ticks: W, arrivals: W, missed: 0, applied: W, waited: 0, folded: 0 };
        assert_eq!(reports, [on_time; 3]);
        assert_eq!((on_time.late_share(), on_time.mean_wait_ticks()), (Some(0.0), Some(0.0)));
        assert_eq!(queue.take_report(), None, "a report is taken once");
        assert_eq!(queue.last_report(), Some(on_time), "and kept for the seat lists");
    }

    #[test]
    fn jitter_is_reported_as_the_late_ticks_then_as_the_buffers_wait() {
        let pattern = [1, 2, 0, 1, 1, 2, 0, 2, 0, 1, 0, 2, 1, 1, 2, 0];
        let arrivals: Vec<u32> =
            pattern.iter().copied().cycle().take(4 * WINDOW as usize).collect();
        let mut queue = InputQueue::default();
        let reports = windows(&mut queue, &arrivals, &mut 1);
        assert_eq!(reports.len(), 4);
        // The first late input is a tick without its input; the buffer it opens makes every
        // input wait a tick, and no tick is late again.
        assert!(reports[0].missed >= 1, "{reports:?}");
        for report in &reports[1..] {
            assert_eq!((report.missed, report.folded), (0, 0), "{reports:?}");
            let wait = report.mean_wait_ticks().unwrap();
            assert!((0.5..=1.5).contains(&wait), "a tick's wait, not {wait}: {reports:?}");
        }
    }

    #[test]
    fn a_stall_is_reported_as_late_ticks_and_folded_inputs() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        windows(&mut queue, &[1; WINDOW as usize], &mut next);
        // Four ticks without inputs, then all of them at once, then one a tick.
        let mut arrivals = vec![0, 0, 0, 0, 5];
        arrivals.resize(WINDOW as usize, 1);
        let report = windows(&mut queue, &arrivals, &mut next)[0];
        assert_eq!(report.missed, 4, "{report:?}");
        assert!(report.folded >= 2, "caught up by folding past the allowance: {report:?}");
        assert_eq!(report.arrivals, W);
        assert_eq!(report.late_share(), Some(4.0 / f64::from(WINDOW)));
    }

    #[test]
    fn a_client_off_the_ticks_pace_reports_no_late_share() {
        // Every other tick: half the ticks have no input, as the client meant.
        let mut queue = InputQueue::default();
        let arrivals: Vec<u32> = [1, 0].iter().copied().cycle().take(2 * WINDOW as usize).collect();
        let reports = windows(&mut queue, &arrivals, &mut 1);
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| !r.kept_pace() && r.late_share().is_none()), "{reports:?}");
        assert_eq!(reports[1].mean_wait_ticks(), Some(0.0));
        // Faster than the ticks: each tick takes the newest, the rest are folded.
        let mut queue = InputQueue::default();
        let faster = windows(&mut queue, &[2; 2 * WINDOW as usize], &mut 1);
        assert_eq!(faster[1].late_share(), Some(0.0), "{faster:?}");
        assert!(faster[1].folded >= W - 2, "{faster:?}");
    }

    #[test]
    fn a_window_without_inputs_reports_nothing() {
        let mut queue = InputQueue::default();
        let mut next = 1;
        // Before the first input, ticks are none of the client's.
        assert_eq!(windows(&mut queue, &[0; 3 * WINDOW as usize], &mut next), []);
        windows(&mut queue, &[1; WINDOW as usize], &mut next);
        let before = queue.last_report();
        // The client stops sending: the windows of its pause report nothing, and the seat
        // lists keep its last window's account.
        let pause = windows(&mut queue, &[0; 3 * WINDOW as usize], &mut next);
        assert_eq!(pause, [], "it stopped as a window ended");
        assert!(before.is_some());
        assert_eq!(queue.last_report(), before);
        // Stopping within a window: that window reports its late ticks (which may be the
        // uplink's stall as well as the client's pause).
        let mut arrivals = vec![1; WINDOW as usize / 2];
        arrivals.resize(2 * WINDOW as usize, 0);
        let stopped = windows(&mut queue, &arrivals, &mut next);
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!(stopped[0].missed, W / 2);
        assert!(!stopped[0].kept_pace(), "half the ticks' inputs: off the pace, no late share");
    }

    #[test]
    fn old_and_repeated_inputs_are_ignored() {
        let mut queue = InputQueue::default();
        queue.receive(input(5));
        queue.receive(input(3));
        queue.receive(input(5));
        assert_eq!(queue.waiting(), 1);
        assert_eq!(queue.take().map(|i| i.seq), Some(InputSeq(5)));
        assert_eq!(queue.take(), None);
    }
}
