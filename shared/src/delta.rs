//! Acked-delta snapshots, sans-IO: `delta(baseline, next)` and `apply(baseline, snapshot)`.
//!
//! A [`World`] is the quantized state one client may see at one tick, entities sorted by id.
//! The server keeps recent worlds per client; each tick it encodes the next world against the
//! newest one that client acknowledged (or against nothing, a full snapshot). The client keeps
//! the worlds it rebuilt and applies each snapshot to the baseline the snapshot names. Because
//! both sides compare quantized integers, `apply(b, &delta(b, n)) == n` exactly.

use crate::messages::{
    EntityDelta, EntityId, EntityState, InputSeq, RoundState, Snapshot, SnapshotHeader, Tick,
};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// The quantized world at one tick, as one client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct World {
    /// The tick.
    pub tick: Tick,
    /// Room-wide round state.
    pub round: RoundState,
    /// Entities, sorted by id, ids unique.
    pub entities: Vec<EntityState>,
}

impl World {
    /// A world from entities in any order; later duplicates of an id are dropped.
    pub fn from_unsorted(tick: Tick, round: RoundState, mut entities: Vec<EntityState>) -> Self {
        entities.sort_by_key(|e| e.id.0);
        entities.dedup_by_key(|e| e.id.0);
        World { tick, round, entities }
    }

    /// The entity with this id.
    pub fn get(&self, id: EntityId) -> Option<&EntityState> {
        self.entities.binary_search_by_key(&id.0, |e| e.id.0).ok().map(|i| &self.entities[i])
    }
}

/// Why a snapshot cannot be applied. The client must drop its state and stop acking until a
/// full snapshot arrives (the server sends one when the client acks nothing new), or reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The snapshot is encoded against a baseline other than the one given.
    #[error("snapshot is against baseline {expected:?}, applied to {given:?}")]
    BaselineMismatch {
        /// The baseline the snapshot names.
        expected: Option<Tick>,
        /// The baseline the caller passed.
        given: Option<Tick>,
    },
    /// An entity not in the baseline arrived without all its fields.
    #[error("entity {0:?} is new but not every field was sent")]
    IncompleteSpawn(EntityId),
    /// Entries are not sorted by id or repeat an id.
    #[error("snapshot entries are not strictly sorted by id")]
    Unsorted,
    /// The snapshot names a baseline the client no longer keeps (or never rebuilt).
    #[error("baseline {0:?} is not kept")]
    MissingBaseline(Tick),
}

fn changed<T: PartialEq + Copy>(old: T, new: T) -> Option<T> {
    (old != new).then_some(new)
}

/// The entry that turns `old` into `new`, or `None` when nothing changed.
pub fn entity_delta(old: &EntityState, new: &EntityState) -> Option<EntityDelta> {
    let d = EntityDelta {
        id: new.id,
        kind: changed(old.kind, new.kind),
        pos: changed(old.pos, new.pos),
        vel: changed(old.vel, new.vel),
        heading: changed(old.heading, new.heading),
        flags: changed(old.flags, new.flags),
        value: changed(old.value, new.value),
    };
    (d.mask() != 0).then_some(d)
}

/// Encodes `next` against `baseline` (a full snapshot when `None`), for a client whose newest
/// applied input is `last_input`. Entries and removals come out sorted by id.
pub fn delta(baseline: Option<&World>, next: &World, last_input: InputSeq) -> Snapshot {
    let empty: &[EntityState] = &[];
    let old = baseline.map_or(empty, |b| &b.entities[..]);
    let mut entities = Vec::new();
    let mut removed = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < next.entities.len() {
        let order = match (old.get(i), next.entities.get(j)) {
            (Some(o), Some(n)) => o.id.0.cmp(&n.id.0),
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                removed.push(old[i].id);
                i += 1;
            }
            Ordering::Greater => {
                entities.push(EntityDelta::spawn(&next.entities[j]));
                j += 1;
            }
            Ordering::Equal => {
                entities.extend(entity_delta(&old[i], &next.entities[j]));
                i += 1;
                j += 1;
            }
        }
    }
    Snapshot {
        header: SnapshotHeader {
            tick: next.tick,
            baseline: baseline.map(|b| b.tick),
            last_input,
            round: next.round,
        },
        entities,
        removed,
    }
}

/// Rebuilds the world a snapshot describes from the baseline it names.
pub fn apply(baseline: Option<&World>, snapshot: &Snapshot) -> Result<World, ApplyError> {
    let given = baseline.map(|b| b.tick);
    if given != snapshot.header.baseline {
        return Err(ApplyError::BaselineMismatch { expected: snapshot.header.baseline, given });
    }
    fn strictly_sorted(mut ids: impl Iterator<Item = u32>) -> bool {
        let mut prev: Option<u32> = None;
        ids.all(|id| {
            let ok = prev.is_none_or(|p| p < id);
            prev = Some(id);
            ok
        })
    }
    if !strictly_sorted(snapshot.entities.iter().map(|e| e.id.0))
        || !strictly_sorted(snapshot.removed.iter().map(|id| id.0))
    {
        return Err(ApplyError::Unsorted);
    }

    let empty: &[EntityState] = &[];
    let old = baseline.map_or(empty, |b| &b.entities[..]);
    let mut out = Vec::with_capacity(old.len() + snapshot.entities.len());
    let mut removed = snapshot.removed.iter().peekable();
    let mut updates = snapshot.entities.iter().peekable();
    let mut old_iter = old.iter().peekable();
    loop {
        let next_old = old_iter.peek().map(|e| e.id.0);
        let next_upd = updates.peek().map(|d| d.id.0);
        match (next_old, next_upd) {
            (None, None) => break,
            (Some(o), u) if u.is_none_or(|u| o < u) => {
                let e = old_iter.next().copied();
                while removed.next_if(|r| r.0 < o).is_some() {}
                if removed.next_if(|r| r.0 == o).is_none() {
                    out.extend(e);
                }
            }
            (o, _) => {
                // The guard above failed, so an update exists and its id is <= the old one's.
                let Some(delta) = updates.next().copied() else {
                    break;
                };
                let base = if o == Some(delta.id.0) { old_iter.next().copied() } else { None };
                let merged = match base {
                    Some(b) => EntityState {
                        id: b.id,
                        kind: delta.kind.unwrap_or(b.kind),
                        pos: delta.pos.unwrap_or(b.pos),
                        vel: delta.vel.unwrap_or(b.vel),
                        heading: delta.heading.unwrap_or(b.heading),
                        flags: delta.flags.unwrap_or(b.flags),
                        value: delta.value.unwrap_or(b.value),
                    },
                    None => delta.as_full().ok_or(ApplyError::IncompleteSpawn(delta.id))?,
                };
                out.push(merged);
            }
        }
    }
    Ok(World { tick: snapshot.header.tick, round: snapshot.header.round, entities: out })
}

/// The worlds a client keeps to rebuild snapshots: the newest [`WorldHistory::CAPACITY`] it
/// rebuilt, by tick. Feed every snapshot to [`WorldHistory::apply`] and `Ack` the tick of each
/// world it returns; on an error, ack nothing new (the server then falls back to a snapshot
/// this client can rebuild) and carry on.
///
/// The server deltas against the newest tick a client acked, at most 32 ticks back, so 64
/// worlds cover any ack in flight.
#[derive(Debug, Clone)]
pub struct WorldHistory {
    /// Rebuilt worlds, oldest first, ticks strictly increasing.
    worlds: VecDeque<World>,
    tick_rate: u8,
}

impl WorldHistory {
    /// Worlds kept.
    pub const CAPACITY: usize = 64;

    /// An empty history for a room ticking `tick_rate` times a second (`Welcome::tick_rate`).
    pub fn new(tick_rate: u8) -> Self {
        WorldHistory { worlds: VecDeque::with_capacity(Self::CAPACITY), tick_rate }
    }

    /// The room's tick rate this history was made for.
    pub fn tick_rate(&self) -> u8 {
        self.tick_rate
    }

    /// Rebuilds the world `snapshot` describes from the baseline it names, keeps it, and
    /// returns it. On an error nothing is kept.
    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<&World, ApplyError> {
        let baseline = match snapshot.header.baseline {
            Some(tick) => Some(self.get(tick).ok_or(ApplyError::MissingBaseline(tick))?),
            None => None,
        };
        let world = apply(baseline, snapshot)?;
        // A world of a tick already held replaces it; anything newer stays after it.
        let at = self.worlds.partition_point(|w| w.tick < world.tick);
        if self.worlds.get(at).is_some_and(|w| w.tick == world.tick) {
            self.worlds[at] = world;
        } else {
            self.worlds.insert(at, world);
        }
        // Evict the oldest, never the world just rebuilt (a server may resend an old tick).
        let tick = snapshot.header.tick;
        while self.worlds.len() > Self::CAPACITY {
            let oldest = usize::from(self.worlds[0].tick == tick);
            self.worlds.remove(oldest);
        }
        Ok(&self.worlds[self.worlds.partition_point(|w| w.tick < tick)])
    }

    /// The world of `tick`, if kept.
    pub fn get(&self, tick: Tick) -> Option<&World> {
        let at = self.worlds.partition_point(|w| w.tick < tick);
        self.worlds.get(at).filter(|w| w.tick == tick)
    }

    /// The newest world.
    pub fn latest(&self) -> Option<&World> {
        self.worlds.back()
    }

    /// Forgets every world (a new connection starts from a full snapshot).
    pub fn clear(&mut self) {
        self.worlds.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{QVec2, RoundPhase};
    use alloc::vec;
    use proptest::prelude::*;

    fn round() -> RoundState {
        RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 60 }
    }

    fn entity(id: u32, x: i16) -> EntityState {
        EntityState {
            id: EntityId(id),
            kind: 0,
            pos: QVec2 { x, y: 0 },
            vel: QVec2::default(),
            heading: 0,
            flags: 1,
            value: 0,
        }
    }

    #[test]
    fn unchanged_entities_are_omitted_and_changes_carry_only_changed_fields() {
        let a = World::from_unsorted(
            Tick(1),
            round(),
            vec![entity(1, 10), entity(2, 20), entity(3, 30)],
        );
        let b = World::from_unsorted(
            Tick(2),
            round(),
            vec![entity(1, 10), entity(3, 31), entity(4, 40)],
        );
        let snap = delta(Some(&a), &b, InputSeq(7));
        assert_eq!(snap.header.baseline, Some(Tick(1)));
        assert_eq!(snap.header.last_input, InputSeq(7));
        assert_eq!(snap.removed, vec![EntityId(2)]);
        assert_eq!(snap.entities.len(), 2);
        assert_eq!(snap.entities[0].mask(), EntityDelta::POS);
        assert_eq!(snap.entities[1].mask(), EntityDelta::ALL);
        assert_eq!(apply(Some(&a), &snap).unwrap(), b);
    }

    #[test]
    fn wrong_baseline_and_incomplete_spawn_are_refused() {
        let a = World::from_unsorted(Tick(1), round(), vec![entity(1, 10)]);
        let b = World::from_unsorted(Tick(2), round(), vec![entity(1, 11)]);
        let snap = delta(Some(&a), &b, InputSeq(0));
        assert_eq!(
            apply(None, &snap),
            Err(ApplyError::BaselineMismatch { expected: Some(Tick(1)), given: None })
        );
        let mut partial = delta(None, &b, InputSeq(0));
        partial.entities[0].vel = None;
        assert_eq!(apply(None, &partial), Err(ApplyError::IncompleteSpawn(EntityId(1))));
        let mut unsorted = delta(
            None,
            &World::from_unsorted(Tick(2), round(), vec![entity(1, 0), entity(2, 0)]),
            InputSeq(0),
        );
        unsorted.entities.swap(0, 1);
        assert_eq!(apply(None, &unsorted), Err(ApplyError::Unsorted));
    }

    fn arb_entity() -> impl Strategy<Value = EntityState> {
        (0u32..64, 0u8..3, any::<(i16, i16, i16, i16)>(), any::<u8>(), 0u8..4, 0u16..50).prop_map(
            |(id, kind, (px, py, vx, vy), heading, flags, value)| EntityState {
                id: EntityId(id),
                kind,
                pos: QVec2 { x: px, y: py },
                vel: QVec2 { x: vx, y: vy },
                heading,
                flags,
                value,
            },
        )
    }

    fn arb_world(tick: u32) -> impl Strategy<Value = World> {
        proptest::collection::vec(arb_entity(), 0..40).prop_map(move |es| {
            World::from_unsorted(
                Tick(tick),
                RoundState { round: 1, phase: RoundPhase::Playing, seconds_left: 5 },
                es,
            )
        })
    }

    /// A world that shares most entities with `base`: the common case of a small change.
    fn arb_successor(base: World) -> impl Strategy<Value = (World, World)> {
        let n = base.entities.len();
        (
            proptest::collection::vec((any::<bool>(), any::<bool>(), any::<i16>()), n),
            arb_world(base.tick.0 + 3),
        )
            .prop_map(move |(edits, extra)| {
                let mut es: Vec<EntityState> = Vec::new();
                for (e, (keep, moved, x)) in base.entities.iter().zip(edits) {
                    if keep {
                        let mut e = *e;
                        if moved {
                            e.pos.x = x;
                        }
                        es.push(e);
                    }
                }
                es.extend(extra.entities.into_iter().map(|mut e| {
                    e.id.0 += 100; // new ids
                    e
                }));
                (base.clone(), World::from_unsorted(Tick(base.tick.0 + 3), base.round, es))
            })
    }

    #[test]
    fn a_history_rebuilds_a_chain_of_snapshots_and_forgets_the_oldest() {
        let mut history = WorldHistory::new(30);
        let w = |t: u32, x: i16| World::from_unsorted(Tick(t), round(), vec![entity(1, x)]);
        assert_eq!(history.apply(&delta(None, &w(1, 0), InputSeq(0))), Ok(&w(1, 0)));
        for t in 2..=70u32 {
            let snap = delta(Some(&w(t - 1, t as i16 - 1)), &w(t, t as i16), InputSeq(0));
            assert_eq!(history.apply(&snap).cloned(), Ok(w(t, t as i16)));
        }
        assert_eq!(history.latest().map(|w| w.tick), Some(Tick(70)));
        assert!(history.get(Tick(7)).is_some() && history.get(Tick(6)).is_none());
        let stale = delta(Some(&w(3, 3)), &w(71, 71), InputSeq(0));
        assert_eq!(history.apply(&stale), Err(ApplyError::MissingBaseline(Tick(3))));
        assert_eq!(history.latest().map(|w| w.tick), Some(Tick(70)), "nothing kept on error");
        history.clear();
        assert!(history.latest().is_none());
    }

    proptest! {
        #[test]
        fn apply_inverts_delta_for_random_worlds(b in arb_world(10), n in arb_world(11)) {
            prop_assert_eq!(apply(Some(&b), &delta(Some(&b), &n, InputSeq(3))), Ok(n.clone()));
            prop_assert_eq!(apply(None, &delta(None, &n, InputSeq(3))), Ok(n));
        }

        #[test]
        fn apply_inverts_delta_for_successor_worlds((b, n) in arb_world(50).prop_flat_map(arb_successor)) {
            let snap = delta(Some(&b), &n, InputSeq(1));
            prop_assert!(snap.entities.len() <= n.entities.len());
            prop_assert_eq!(apply(Some(&b), &snap), Ok(n));
        }

        #[test]
        fn delta_against_itself_is_empty(b in arb_world(10)) {
            let mut same = b.clone();
            same.tick = Tick(11);
            let snap = delta(Some(&b), &same, InputSeq(0));
            prop_assert!(snap.entities.is_empty() && snap.removed.is_empty());
        }
    }
}
