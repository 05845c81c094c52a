//! A client rebuilding a snapshot: any message `decode_server` reads as a `Snapshot`, applied
//! to arbitrary baseline and reference worlds at the ticks its header names, directly and
//! through a `WorldHistory`.
//!
//! Invariants:
//! - worlds other than the ones the header names are refused with `BaselineMismatch` or
//!   `ReferenceMismatch`, never applied;
//! - a rebuilt world has the header's tick, its round (or the baseline's), at most
//!   [`MAX_SNAPSHOT_ENTITIES`] entities, sorted by id without duplicates;
//! - `delta` encodes that world against the same worlds into a body no longer than the one
//!   received (it writes the shortest codes), which applies to the same world;
//! - a body without its last byte is `Truncated`, with one byte more `TrailingBits`;
//! - `WorldHistory`, holding the same worlds, rebuilds the same world or fails the same way,
//!   keeps what it rebuilt and nothing on an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_fuzz::inputs::ApplyInput;
use tickwire_shared::codec::decode_server;
use tickwire_shared::delta::{ApplyError, Baseline, World, WorldHistory, apply, delta};
use tickwire_shared::{MAX_SNAPSHOT_ENTITIES, ServerMessage, Snapshot, Tick};

fuzz_target!(|input: ApplyInput| {
    let Ok(ServerMessage::Snapshot(snapshot)) = decode_server(&input.message) else { return };
    let header = snapshot.header;
    let rate = input.tick_rate;
    let (mut baseline, mut reference) = (input.baseline, input.reference);
    if let Some(tick) = header.baseline {
        let off = u32::from(input.given & 4 != 0);
        baseline.tick = Tick(tick.0.wrapping_add(off));
    }
    if let Some(tick) = header.reference {
        reference.tick = tick;
    }
    let given = (input.given & 1 == 0).then(|| Baseline {
        world: &baseline,
        reference: (input.given & 2 == 0).then_some(&reference),
    });
    let result = apply(given, &snapshot, rate);

    let given_tick = given.map(|b| b.world.tick);
    if given_tick != header.baseline {
        let expected =
            ApplyError::BaselineMismatch { expected: header.baseline, given: given_tick };
        assert_eq!(result, Err(expected));
        return;
    }
    if let (Some(b), Some(expected)) = (given, header.reference) {
        let given = b.reference.map(|r| r.tick);
        if given != Some(expected) {
            assert_eq!(result, Err(ApplyError::ReferenceMismatch { expected, given }));
            return;
        }
    }
    // From here the worlds are the ones the header names.
    let used = given.map(|b| Baseline { reference: header.reference.and(b.reference), ..b });
    check_history(&snapshot, used, rate, &result);
    let Ok(world) = result else { return };

    assert_eq!(world.tick, header.tick);
    assert_eq!(Some(world.round), header.round.or(used.map(|b| b.world.round)));
    assert!(world.entities.len() <= MAX_SNAPSHOT_ENTITIES);
    assert!(world.entities.windows(2).all(|w| w[0].id.0 < w[1].id.0), "sorted, unique ids");

    let canonical = delta(used, &world, header.last_input, rate).expect("a rebuilt world encodes");
    let h = canonical.header;
    assert_eq!((h.tick, h.baseline, h.reference), (header.tick, header.baseline, header.reference));
    assert_eq!(h.last_input, header.last_input);
    assert!(
        canonical.body.len() <= snapshot.body.len(),
        "delta wrote {} bytes where {} were enough",
        canonical.body.len(),
        snapshot.body.len()
    );
    assert_eq!(apply(used, &canonical, rate).as_ref(), Ok(&world), "delta then apply");

    let mut cut = snapshot.clone();
    cut.body.pop();
    assert_eq!(apply(used, &cut, rate), Err(ApplyError::Truncated), "body without its last byte");
    let mut longer = snapshot;
    longer.body.push(0);
    assert_eq!(apply(used, &longer, rate), Err(ApplyError::TrailingBits), "one byte more");
});

/// A history holding the worlds `used` names rebuilds `snapshot` as `apply` did.
fn check_history(
    snapshot: &Snapshot,
    used: Option<Baseline<'_>>,
    rate: u8,
    direct: &Result<World, ApplyError>,
) {
    let mut history = WorldHistory::new(rate);
    let held = used.map_or(vec![], |b| b.reference.into_iter().chain([b.world]).collect());
    for world in held {
        // Full snapshots put them there; one too large to send cannot be held.
        let Ok(full) = delta(None, world, snapshot.header.last_input, rate) else { return };
        assert_eq!(history.apply(&full), Ok(world), "a full snapshot rebuilds its world");
    }
    let kept = history.iter().count();
    let tick = snapshot.header.tick;
    match (history.apply(snapshot), direct) {
        (Ok(world), Ok(expected)) => assert_eq!(world, expected, "WorldHistory vs apply"),
        (Err(e), Err(expected)) => assert_eq!(&e, expected, "WorldHistory vs apply"),
        (got, expected) => panic!("WorldHistory: {got:?}, apply: {expected:?}"),
    }
    if let Ok(world) = direct {
        assert_eq!(history.get(tick), Some(world), "kept");
        assert_eq!(history.baseline_of(tick), snapshot.header.baseline);
        assert_eq!(history.latest(), Some(world), "the newest tick");
    } else {
        assert_eq!(history.iter().count(), kept, "nothing kept on an error");
    }
}
