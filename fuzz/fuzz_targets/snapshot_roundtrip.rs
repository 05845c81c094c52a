//! The server's encoding, checked by the client's decoding: three successive worlds
//! (reference, baseline, next), `delta` of the next against the others, through the wire
//! (`encode_server`, `decode_server`), then `apply`.
//!
//! Invariants:
//! - `delta` refuses exactly what cannot be sent: more than [`MAX_SNAPSHOT_ENTITIES`]
//!   entities (`TooManyEntities`), a baseline or reference not 1 to 255 ticks back
//!   (`InvalidSnapshotHeader`); everything else encodes;
//! - the header names the worlds and the input, and the round only when it changed (always in
//!   a full snapshot);
//! - the message fits [`MAX_SERVER_MESSAGE_SIZE`] and decodes to the same snapshot, and a
//!   controller reads its tick;
//! - `apply` of the decoded snapshot against the same worlds gives the world back **exactly**
//!   (for a baseline that was itself sendable);
//! - without the reference it names, the snapshot is refused (`ReferenceMismatch`), not guessed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_fuzz::inputs::RoundtripInput;
use tickwire_shared::codec::{decode_controller, decode_server, encode_server};
use tickwire_shared::delta::{ApplyError, Baseline, apply, delta};
use tickwire_shared::{
    EncodeError, InputSeq, MAX_SERVER_MESSAGE_SIZE, MAX_SNAPSHOT_ENTITIES, ServerMessage,
    ServerView, SnapshotTick, Tick,
};

/// `earlier` is 1 to 255 ticks before `later`: what a header can carry.
fn sendable_age(later: Tick, earlier: Tick) -> bool {
    matches!(later.0.checked_sub(earlier.0), Some(1..=255))
}

fuzz_target!(|input: RoundtripInput| {
    let RoundtripInput { tick_rate, last_input, reference, baseline, next, .. } = &input;
    let base = (input.baseline_age != 0).then(|| Baseline {
        world: baseline,
        reference: (input.reference_age != 0).then_some(reference),
    });
    let encoded = delta(base, next, InputSeq(*last_input), *tick_rate);

    if next.entities.len() > MAX_SNAPSHOT_ENTITIES {
        assert_eq!(encoded, Err(EncodeError::TooManyEntities));
        return;
    }
    let ages_ok = base.is_none_or(|b| {
        sendable_age(next.tick, b.world.tick)
            && b.reference.is_none_or(|r| sendable_age(b.world.tick, r.tick))
    });
    if !ages_ok {
        assert_eq!(encoded, Err(EncodeError::InvalidSnapshotHeader));
        return;
    }
    let snapshot = encoded.expect("a sendable world encodes");
    let header = snapshot.header;
    assert_eq!(header.tick, next.tick);
    assert_eq!(header.baseline, base.map(|b| b.world.tick));
    assert_eq!(header.reference, base.and_then(|b| b.reference).map(|r| r.tick));
    assert_eq!(header.last_input, InputSeq(*last_input));
    let round_changed = base.is_none_or(|b| b.world.round != next.round);
    assert_eq!(header.round, round_changed.then_some(next.round));

    let message = ServerMessage::Snapshot(snapshot);
    let bytes = encode_server(&message).expect("a snapshot encodes");
    assert!(bytes.len() <= MAX_SERVER_MESSAGE_SIZE, "{} bytes", bytes.len());
    assert_eq!(decode_controller(&bytes), Ok(ServerView::Snapshot(SnapshotTick(next.tick))));
    let Ok(ServerMessage::Snapshot(received)) = decode_server(&bytes) else {
        panic!("the encoded snapshot does not decode");
    };
    assert_eq!(ServerMessage::Snapshot(received.clone()), message);

    if baseline.entities.len() > MAX_SNAPSHOT_ENTITIES && base.is_some() {
        return; // a world the server could not have sent is no client's baseline
    }
    assert_eq!(apply(base, &received, *tick_rate).as_ref(), Ok(next), "apply(delta) != next");
    if let Some(b) = base.filter(|b| b.reference.is_some()) {
        let without = apply(Some(Baseline::new(b.world)), &received, *tick_rate);
        assert!(matches!(without, Err(ApplyError::ReferenceMismatch { .. })), "{without:?}");
    }
});
