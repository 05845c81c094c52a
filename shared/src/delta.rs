//! Acked-delta snapshots, sans-IO: [`delta`] encodes a world against what a client holds,
//! [`apply`] rebuilds it, [`WorldHistory`] keeps what a client holds.
//!
//! A [`World`] is the quantized state one client may see at one tick, entities sorted by id.
//! The server keeps recent worlds per client; each tick it encodes the next world against the
//! newest one that client acknowledged (its *baseline*), or against nothing (a full snapshot).
//!
//! The body of a snapshot is a bit stream ([`crate::bits`]) that spends bits only on what the
//! client cannot predict. Every entity of the baseline is predicted forward to the new tick:
//! its velocity and heading keep changing at the rate they changed between the baseline's own
//! baseline (the *reference*, when the client holds it) and the baseline, and its position
//! moves by the velocity over the ticks in between. An entity that matches its prediction costs
//! one bit; a moving one costs the small errors of the prediction; ids of baseline entities are
//! never sent. `PROTOCOL.md` section 6 specifies every bit and every integer formula. Both
//! sides compute in integers, so `apply(b, &delta(b, n)?) == n` exactly.

use crate::bits::{BitReader, BitWriter, BitsError};
use crate::codec::EncodeError;
use crate::messages::{
    EntityId, EntityState, InputSeq, MAX_SNAPSHOT_ENTITIES, QVec2, RoundState, Snapshot,
    SnapshotHeader, Tick,
};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The quantized world at one tick, as one client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// What a snapshot is encoded against: the world a client acked and, when the encoder
/// extrapolates motion, the world that one was itself rebuilt against.
#[derive(Debug, Clone, Copy)]
pub struct Baseline<'a> {
    /// The acked world.
    pub world: &'a World,
    /// The baseline's own baseline, if the client still holds it.
    pub reference: Option<&'a World>,
}

impl<'a> Baseline<'a> {
    /// A baseline without a reference (motion is predicted but not extrapolated).
    pub fn new(world: &'a World) -> Self {
        Baseline { world, reference: None }
    }

    /// A baseline whose motion is extrapolated from `reference`.
    pub fn with_reference(world: &'a World, reference: &'a World) -> Self {
        Baseline { world, reference: Some(reference) }
    }
}

/// Why a snapshot cannot be applied. The client must drop the snapshot and not ack it (the
/// server then falls back to what this client acked, or to a full snapshot), or reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The snapshot is encoded against a baseline other than the one given.
    #[error("snapshot is against baseline {expected:?}, applied to {given:?}")]
    BaselineMismatch {
        /// The baseline the snapshot names.
        expected: Option<Tick>,
        /// The baseline the caller passed.
        given: Option<Tick>,
    },
    /// The snapshot extrapolates from a reference world other than the one given (or none).
    #[error("snapshot extrapolates from {expected:?}, given {given:?}")]
    ReferenceMismatch {
        /// The reference the snapshot names.
        expected: Tick,
        /// The reference the caller passed.
        given: Option<Tick>,
    },
    /// The snapshot names a baseline (or reference) the client no longer keeps.
    #[error("world {0:?} is not kept")]
    MissingBaseline(Tick),
    /// The body ended inside a field.
    #[error("snapshot body is truncated")]
    Truncated,
    /// An Exp-Golomb code longer than 32 bits, or a field group of zero.
    #[error("snapshot body holds an invalid code")]
    InvalidCode,
    /// A decoded position, velocity, value or id outside its type's range.
    #[error("snapshot body decodes to a value out of range")]
    OutOfRange,
    /// A spawned id that the baseline already holds. (Spawned ids cannot come out of order:
    /// each is the previous one plus 1 plus its gap.)
    #[error("entity {0:?} is spawned but the baseline holds it")]
    DuplicateEntity(EntityId),
    /// More than [`MAX_SNAPSHOT_ENTITIES`] entities or spawns.
    #[error("snapshot describes more than {MAX_SNAPSHOT_ENTITIES} entities")]
    TooManyEntities,
    /// Bits or bytes after the last field that are not zero padding.
    #[error("snapshot body has trailing bits")]
    TrailingBits,
    /// A header whose baseline is not 1 to 255 ticks before its tick, or whose reference is
    /// not 1 to 255 ticks before its baseline (or comes without one). The decoder refuses
    /// such headers; this catches one built by other means (serde, tools).
    #[error("snapshot header ages out of range")]
    InvalidHeader,
}

impl From<BitsError> for ApplyError {
    fn from(e: BitsError) -> Self {
        match e {
            BitsError::Truncated => ApplyError::Truncated,
            BitsError::Overlong => ApplyError::InvalidCode,
        }
    }
}

// ---- the code of one baseline entity (PROTOCOL.md 6.3) -----------------------------------

/// Field group bit: velocity residuals, then one bit saying whether position residuals follow
/// (a ship on the wire's grid is where its new velocity puts it: 0 on 4 of 5 moving ships).
const MOTION: u32 = 1 << 0;
/// Field group bit: heading residual.
const HEADING: u32 = 1 << 1;
/// Field group bit: kind, flags and value.
const OTHER: u32 = 1 << 2;
/// Sub-field bits of [`OTHER`].
const KIND: u32 = 1 << 0;
const FLAGS: u32 = 1 << 1;
const VALUE: u32 = 1 << 2;

/// Exp-Golomb orders of the residuals, chosen on the recorded trace (BENCHMARKS.md): velocity
/// errors are a few units, position errors mostly 0 or ±1 step, heading errors small turns.
const K_VELOCITY: u32 = 1;
const K_POSITION: u32 = 0;
const K_HEADING: u32 = 1;

/// `a / d` rounded half away from zero (`d > 0`), in integers so every client agrees.
fn round_div(a: i64, d: i64) -> i64 {
    let q = (2 * a.abs() + d) / (2 * d);
    if a < 0 { -q } else { q }
}

/// A heading difference as the shortest turn, -128..=127 steps.
fn turn(from: u8, to: u8) -> i64 {
    i64::from(to.wrapping_sub(from) as i8)
}

/// What a client expects of one baseline entity at the new tick, before the snapshot's
/// corrections (see PROTOCOL.md 6.2).
struct Prediction<'a> {
    base: &'a EntityState,
    /// Ticks from the baseline to the new tick.
    ticks: i64,
    tick_rate: i64,
    vel: [i64; 2],
    heading: u8,
}

impl<'a> Prediction<'a> {
    fn new(
        base: &'a EntityState,
        reference: Option<(&EntityState, i64)>,
        ticks: i64,
        tick_rate: i64,
    ) -> Self {
        let mut vel = [i64::from(base.vel.x), i64::from(base.vel.y)];
        let mut heading = base.heading;
        if let Some((old, span)) = reference {
            let old_vel = [i64::from(old.vel.x), i64::from(old.vel.y)];
            for axis in 0..2 {
                vel[axis] += continued(vel[axis] - old_vel[axis], ticks, span);
            }
            let turned = continued(turn(old.heading, base.heading), ticks, span);
            heading = (i64::from(base.heading) + turned).rem_euclid(256) as u8;
        }
        Prediction { base, ticks, tick_rate, vel, heading }
    }

    /// The position after moving from the baseline's with velocity ramping to `vel`.
    fn pos(&self, vel: [i64; 2]) -> [i64; 2] {
        let base_pos = [i64::from(self.base.pos.x), i64::from(self.base.pos.y)];
        let base_vel = [i64::from(self.base.vel.x), i64::from(self.base.vel.y)];
        let k = self.ticks;
        // Position steps (1/16 unit) per velocity step (2 units/s) per tick: 32 / tick_rate;
        // the sum over the ticks of a velocity ramping linearly from base_vel to vel is
        // ((k + 1) vel + (k - 1) base_vel) / 2 ticks' worth.
        core::array::from_fn(|axis| {
            let steps = ((k + 1) * vel[axis] + (k - 1) * base_vel[axis]) * 16;
            // Things at rest (pickups, parked ships) skip the division.
            base_pos[axis] + if steps == 0 { 0 } else { round_div(steps, self.tick_rate) }
        })
    }

    /// True when the prediction is the baseline entity itself: at rest, not turning.
    fn is_still(&self) -> bool {
        let base = self.base;
        base.vel == QVec2::default() && self.vel == [0, 0] && self.heading == base.heading
    }
}

/// A change of `change` over `span` ticks, continued for `ticks` ticks: `change * ticks / span`
/// rounded, without dividing in the common case of equal spans (acks every tick).
fn continued(change: i64, ticks: i64, span: i64) -> i64 {
    if change == 0 {
        0
    } else if ticks == span {
        change
    } else {
        round_div(change * ticks, span)
    }
}

fn vec_of(q: QVec2) -> [i64; 2] {
    [i64::from(q.x), i64::from(q.y)]
}

fn qvec(v: [i64; 2]) -> Result<QVec2, ApplyError> {
    let axis = |a: i64| i16::try_from(a).map_err(|_| ApplyError::OutOfRange);
    Ok(QVec2 { x: axis(v[0])?, y: axis(v[1])? })
}

/// The residuals of `next` against its prediction, written as the entity's code.
fn write_update(w: &mut BitWriter<'_>, p: &Prediction<'_>, next: &EntityState) {
    let base = p.base;
    if next == base && p.is_still() {
        w.bit(false); // what the general path below would find, without the arithmetic
        return;
    }
    let new_vel = vec_of(next.vel);
    let dv = [new_vel[0] - p.vel[0], new_vel[1] - p.vel[1]];
    let pos = p.pos(new_vel);
    let dp = [i64::from(next.pos.x) - pos[0], i64::from(next.pos.y) - pos[1]];
    let dh = turn(p.heading, next.heading);
    let others = if next.kind != base.kind { KIND } else { 0 }
        | if next.flags != base.flags { FLAGS } else { 0 }
        | if next.value != base.value { VALUE } else { 0 };
    let groups = if dv != [0, 0] || dp != [0, 0] { MOTION } else { 0 }
        | if dh != 0 { HEADING } else { 0 }
        | if others != 0 { OTHER } else { 0 };
    match groups {
        0 => w.bit(false),
        MOTION => w.bits(0b01, 2),
        g if g == MOTION | HEADING => w.bits(0b011, 3),
        g => {
            w.bits(0b0111, 4);
            w.bits(g, 3);
        }
    }
    // Residuals of i16 fields against predictions within a few ticks fit an i32.
    if groups & MOTION != 0 {
        w.se(dv[0] as i32, K_VELOCITY);
        w.se(dv[1] as i32, K_VELOCITY);
        if dp == [0, 0] {
            w.bit(false); // one bit instead of two 1-bit codes
        } else {
            w.bit(true);
            w.se(dp[0] as i32, K_POSITION);
            w.se(dp[1] as i32, K_POSITION);
        }
    }
    if groups & HEADING != 0 {
        w.se(dh as i32, K_HEADING);
    }
    if groups & OTHER != 0 {
        w.bits(others, 3);
        if others & KIND != 0 {
            w.bits(u32::from(next.kind), 8);
        }
        if others & FLAGS != 0 {
            w.bits(u32::from(next.flags), 8);
        }
        if others & VALUE != 0 {
            w.eg(u32::from(next.value), 0);
        }
    }
}

/// Reads one baseline entity's code: the entity at the new tick, or `None` when removed.
fn read_update(
    r: &mut BitReader<'_>,
    p: &Prediction<'_>,
) -> Result<Option<EntityState>, ApplyError> {
    let groups = if !r.bit()? {
        0
    } else if !r.bit()? {
        MOTION
    } else if !r.bit()? {
        MOTION | HEADING
    } else if !r.bit()? {
        match r.bits(3)? {
            0 => return Err(ApplyError::InvalidCode),
            g => g,
        }
    } else {
        return Ok(None);
    };
    let mut next = *p.base;
    let mut vel = p.vel;
    let mut pos_error = [0, 0];
    if groups & MOTION != 0 {
        vel[0] += i64::from(r.se(K_VELOCITY)?);
        vel[1] += i64::from(r.se(K_VELOCITY)?);
        if r.bit()? {
            pos_error = [i64::from(r.se(K_POSITION)?), i64::from(r.se(K_POSITION)?)];
        }
    }
    let pos = p.pos(vel);
    next.vel = qvec(vel)?;
    next.pos = qvec([pos[0] + pos_error[0], pos[1] + pos_error[1]])?;
    next.heading = p.heading;
    if groups & HEADING != 0 {
        let dh = i64::from(r.se(K_HEADING)?);
        next.heading = (i64::from(p.heading) + dh).rem_euclid(256) as u8;
    }
    if groups & OTHER != 0 {
        let others = r.bits(3)?;
        if others == 0 {
            return Err(ApplyError::InvalidCode);
        }
        if others & KIND != 0 {
            next.kind = r.bits(8)? as u8;
        }
        if others & FLAGS != 0 {
            next.flags = r.bits(8)? as u8;
        }
        if others & VALUE != 0 {
            next.value = u16::try_from(r.eg(0)?).map_err(|_| ApplyError::OutOfRange)?;
        }
    }
    Ok(Some(next))
}

// ---- spawns (PROTOCOL.md 6.4) --------------------------------------------------------------

/// Whether ids strictly increase: what [`delta`] needs of every world it is given.
fn sorted_by_unique_id(entities: &[EntityState]) -> bool {
    entities.windows(2).all(|pair| pair[0].id.0 < pair[1].id.0)
}

/// Writes a spawn; `previous` is the previous spawn's id, below `e`'s ([`delta`] checks that
/// the world is sorted by unique id before it writes anything).
fn write_spawn(w: &mut BitWriter<'_>, e: &EntityState, previous: Option<EntityId>) {
    let gap = match previous {
        Some(previous) => e.id.0 - previous.0 - 1,
        None => e.id.0,
    };
    w.eg(gap, 0);
    w.bits(u32::from(e.kind), 8);
    for v in [e.pos.x, e.pos.y, e.vel.x, e.vel.y] {
        w.bits(u32::from(v as u16), 16);
    }
    w.bits(u32::from(e.heading), 8);
    w.bits(u32::from(e.flags), 8);
    w.eg(u32::from(e.value), 0);
}

fn read_spawn(
    r: &mut BitReader<'_>,
    previous: Option<EntityId>,
) -> Result<EntityState, ApplyError> {
    let gap = r.eg(0)?;
    let id = match previous {
        Some(previous) => previous.0.checked_add(1).and_then(|n| n.checked_add(gap)),
        None => Some(gap),
    }
    .ok_or(ApplyError::OutOfRange)?;
    let kind = r.bits(8)? as u8;
    let mut v = [0i16; 4];
    for slot in &mut v {
        *slot = r.bits(16)? as u16 as i16;
    }
    Ok(EntityState {
        id: EntityId(id),
        kind,
        pos: QVec2 { x: v[0], y: v[1] },
        vel: QVec2 { x: v[2], y: v[3] },
        heading: r.bits(8)? as u8,
        flags: r.bits(8)? as u8,
        value: u16::try_from(r.eg(0)?).map_err(|_| ApplyError::OutOfRange)?,
    })
}

// ---- encode and apply ------------------------------------------------------------------------

/// The reference entity of `id` and the ticks from the reference to the baseline.
/// Finds the reference entity of each baseline entity in turn: both lists are sorted by id,
/// so one pass over the reference serves the whole baseline.
struct References<'w> {
    entities: &'w [EntityState],
    /// Ticks from the reference to the baseline.
    span: i64,
}

impl<'w> References<'w> {
    /// A reference that is not older than the baseline plays no part (the header decoder never
    /// lets one through; a hand-built header must not divide by zero).
    fn new(baseline: Option<&Baseline<'w>>) -> Self {
        let none = References { entities: &[], span: 1 };
        let Some(b) = baseline else { return none };
        let Some(reference) = b.reference else { return none };
        let span = i64::from(b.world.tick.0) - i64::from(reference.tick.0);
        if span <= 0 {
            return none;
        }
        References { entities: &reference.entities, span }
    }

    /// The reference entity of `id`; ids must be asked in increasing order.
    fn of(&mut self, id: EntityId) -> Option<(&'w EntityState, i64)> {
        while let Some((first, rest)) = self.entities.split_first() {
            if first.id.0 >= id.0 {
                return (first.id == id).then_some((first, self.span));
            }
            self.entities = rest;
        }
        None
    }
}

/// Encodes `next` against `baseline` (a full snapshot when `None`), for a client whose newest
/// applied input is `last_input`, in a room ticking `tick_rate` times a second.
///
/// A baseline must be 1 to 255 ticks before `next` and a reference 1 to 255 ticks before the
/// baseline ([`EncodeError::InvalidSnapshotHeader`] otherwise); `next` may hold at most
/// [`MAX_SNAPSHOT_ENTITIES`] entities ([`EncodeError::TooManyEntities`]); every world given
/// must hold its entities sorted by id, ids unique, as [`World`] promises: `entities` is
/// public, and the codes of an unsorted world would be wrong bytes, not an error, on the
/// client's side. `next` is refused with [`EncodeError::UnsortedEntities`] otherwise; the
/// baseline and reference only in debug builds (in release ones they are taken on trust, as
/// worlds an earlier call took as its `next`).
pub fn delta(
    baseline: Option<Baseline<'_>>,
    next: &World,
    last_input: InputSeq,
    tick_rate: u8,
) -> Result<Snapshot, EncodeError> {
    if next.entities.len() > MAX_SNAPSHOT_ENTITIES {
        return Err(EncodeError::TooManyEntities);
    }
    // Everything below merges the worlds by id and writes each spawn's id as its gap from the
    // previous spawn's, which only sorted, unique ids make meaningful (and non-negative). The
    // new world is checked every time; a baseline or reference is a world an earlier call took
    // as its new one (a server's, a client's history), so in release builds it is not checked
    // again: that check cost 12% of an encode, this one 3% (BENCHMARKS.md, "Encode and decode
    // cost").
    if !sorted_by_unique_id(&next.entities) {
        return Err(EncodeError::UnsortedEntities);
    }
    let older = [baseline.map(|b| b.world), baseline.and_then(|b| b.reference)];
    if cfg!(debug_assertions)
        && !older.into_iter().flatten().all(|w| sorted_by_unique_id(&w.entities))
    {
        return Err(EncodeError::UnsortedEntities);
    }
    let before =
        |later: Tick, earlier: Tick| matches!(later.0.checked_sub(earlier.0), Some(1..=255));
    if let Some(b) = &baseline {
        let reference_ok = b.reference.is_none_or(|r| before(b.world.tick, r.tick));
        if !before(next.tick, b.world.tick) || !reference_ok {
            return Err(EncodeError::InvalidSnapshotHeader);
        }
    }
    let header = SnapshotHeader {
        tick: next.tick,
        baseline: baseline.map(|b| b.world.tick),
        reference: baseline.and_then(|b| b.reference).map(|r| r.tick),
        last_input,
        round: match &baseline {
            Some(b) if b.world.round == next.round => None,
            _ => Some(next.round),
        },
    };
    // About 2 bytes per moving entity and 12 per spawn; growing past it is rare.
    let mut body = Vec::with_capacity(next.entities.len() * 3 + 16);
    let mut w = BitWriter::new(&mut body);
    let old: &[EntityState] = baseline.map_or(&[], |b| &b.world.entities[..]);
    let ticks = i64::from(next.tick.0) - baseline.map_or(0, |b| i64::from(b.world.tick.0));
    let tick_rate = i64::from(tick_rate.max(1));
    let mut references = References::new(baseline.as_ref());
    let mut spawns = 0;
    let mut j = 0;
    for base in old {
        while next.entities.get(j).is_some_and(|n| n.id.0 < base.id.0) {
            j += 1;
            spawns += 1;
        }
        match next.entities.get(j) {
            Some(n) if n.id == base.id => {
                let reference = references.of(base.id);
                let prediction = Prediction::new(base, reference, ticks, tick_rate);
                write_update(&mut w, &prediction, n);
                j += 1;
            }
            _ => w.bits(0b1111, 4),
        }
    }
    spawns += next.entities.len() - j;
    w.eg(spawns as u32, 0);
    if spawns > 0 {
        let mut previous = None;
        let mut old_ids = old.iter().map(|e| e.id.0).peekable();
        for n in &next.entities {
            while old_ids.next_if(|&id| id < n.id.0).is_some() {}
            if old_ids.peek() != Some(&n.id.0) {
                write_spawn(&mut w, n, previous);
                previous = Some(n.id);
            }
        }
    }
    w.finish();
    Ok(Snapshot { header, body })
}

/// Rebuilds the world a snapshot describes from the baseline (and reference) it names, in a
/// room ticking `tick_rate` times a second (`Welcome::tick_rate`). Never panics, whatever the
/// bytes; allocates at most [`MAX_SNAPSHOT_ENTITIES`] entities.
pub fn apply(
    baseline: Option<Baseline<'_>>,
    snapshot: &Snapshot,
    tick_rate: u8,
) -> Result<World, ApplyError> {
    let header = &snapshot.header;
    // Extrapolation multiplies by these ages: a header the decoder never let through could
    // overflow it.
    if header.ages().is_none() {
        return Err(ApplyError::InvalidHeader);
    }
    let given = baseline.map(|b| b.world.tick);
    if given != header.baseline {
        return Err(ApplyError::BaselineMismatch { expected: header.baseline, given });
    }
    let baseline = match (baseline, header.reference) {
        (Some(b), Some(expected)) => {
            let given = b.reference.map(|r| r.tick);
            if given != Some(expected) {
                return Err(ApplyError::ReferenceMismatch { expected, given });
            }
            Some(b)
        }
        // A reference the snapshot does not name plays no part.
        (Some(b), None) => Some(Baseline::new(b.world)),
        (None, _) => None,
    };
    let round = match (header.round, baseline) {
        (Some(round), _) => round,
        (None, Some(b)) => b.world.round,
        // The header decoder refuses this; a hand-built header gets an error, not a panic.
        (None, None) => return Err(ApplyError::InvalidCode),
    };
    let old: &[EntityState] = baseline.map_or(&[], |b| &b.world.entities[..]);
    if old.len() > MAX_SNAPSHOT_ENTITIES {
        return Err(ApplyError::TooManyEntities);
    }
    let ticks = i64::from(header.tick.0) - baseline.map_or(0, |b| i64::from(b.world.tick.0));
    let tick_rate = i64::from(tick_rate.max(1));
    let mut r = BitReader::new(&snapshot.body);
    let mut references = References::new(baseline.as_ref());
    let mut kept = Vec::with_capacity(old.len());
    for base in old {
        let reference = references.of(base.id);
        let prediction = Prediction::new(base, reference, ticks, tick_rate);
        kept.extend(read_update(&mut r, &prediction)?);
    }
    let spawns = r.eg(0)? as usize;
    if spawns > MAX_SNAPSHOT_ENTITIES || kept.len() + spawns > MAX_SNAPSHOT_ENTITIES {
        return Err(ApplyError::TooManyEntities);
    }
    // Most snapshots spawn nothing: then the kept entities are the world, without a second
    // vector to merge into (a client applies 30 of these a second; the bots thousands).
    let entities = if spawns == 0 {
        kept
    } else {
        let mut entities = Vec::with_capacity(kept.len() + spawns);
        let mut kept = kept.into_iter().peekable();
        let mut old_ids = old.iter().map(|e| e.id.0).peekable();
        let mut previous = None;
        for _ in 0..spawns {
            let spawn = read_spawn(&mut r, previous)?;
            while old_ids.next_if(|&id| id < spawn.id.0).is_some() {}
            if old_ids.peek() == Some(&spawn.id.0) {
                return Err(ApplyError::DuplicateEntity(spawn.id));
            }
            while let Some(e) = kept.next_if(|e| e.id.0 < spawn.id.0) {
                entities.push(e);
            }
            entities.push(spawn);
            previous = Some(spawn.id);
        }
        entities.extend(kept);
        entities
    };
    if !r.at_end() {
        return Err(ApplyError::TrailingBits);
    }
    Ok(World { tick: header.tick, round, entities })
}

// ---- what a client keeps ---------------------------------------------------------------------

/// A rebuilt world and the baseline it was rebuilt against (the reference of a snapshot that
/// extrapolates from it).
#[derive(Debug, Clone)]
struct Kept {
    world: World,
    baseline: Option<Tick>,
}

/// The worlds a client keeps to rebuild snapshots, by tick. Feed every snapshot to
/// [`WorldHistory::apply`] and `Ack` the tick of each world it returns; on an error, ack
/// nothing new (the server then falls back to a snapshot this client can rebuild) and carry on.
///
/// It keeps only what a later snapshot can still name (the server's baselines only move
/// forward, `PROTOCOL.md` 6.1 server step 5, and a snapshot extrapolates from its baseline's
/// own baseline), so a client holds
/// about three worlds, and never more than [`WorldHistory::CAPACITY`] (the server deltas
/// against a tick at most 32 ticks back, the newest acked or the newest its socket took, and
/// extrapolates from that world's own baseline only while it is within the same 32 ticks). A
/// renderer that interpolates further back keeps its own copies.
#[derive(Debug, Clone)]
pub struct WorldHistory {
    /// Rebuilt worlds, oldest first, ticks strictly increasing.
    worlds: VecDeque<Kept>,
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

    fn kept(&self, tick: Tick) -> Option<&Kept> {
        let at = self.worlds.partition_point(|k| k.world.tick < tick);
        self.worlds.get(at).filter(|k| k.world.tick == tick)
    }

    /// Rebuilds the world `snapshot` describes from the worlds its header names, keeps it,
    /// and returns it. On an error nothing is kept.
    pub fn apply(&mut self, snapshot: &Snapshot) -> Result<&World, ApplyError> {
        let header = &snapshot.header;
        let find = |tick: Tick| self.get(tick).ok_or(ApplyError::MissingBaseline(tick));
        let baseline = match header.baseline {
            Some(tick) => Some(Baseline {
                world: find(tick)?,
                reference: header.reference.map(find).transpose()?,
            }),
            None => None,
        };
        let world = apply(baseline, snapshot, self.tick_rate)?;
        let tick = world.tick;
        let kept = Kept { world, baseline: header.baseline };
        // A world of a tick already held replaces it; anything newer stays after it.
        let at = self.worlds.partition_point(|k| k.world.tick < tick);
        if self.worlds.get(at).is_some_and(|k| k.world.tick == tick) {
            self.worlds[at] = kept;
        } else {
            self.worlds.insert(at, kept);
        }
        // Nothing older than what a later snapshot can name is needed again. The server's
        // baselines only move forward, so a later snapshot is against this one's baseline or a
        // newer world, and extrapolates from that world's own baseline: the oldest of the kept
        // worlds from this baseline on and of their baselines bounds what is still needed. (A
        // full snapshot bounds nothing: the server may still see an older ack arrive.) A
        // client that acks promptly keeps about three worlds.
        if let Some(baseline) = header.baseline {
            let from = self.worlds.partition_point(|k| k.world.tick < baseline);
            let oldest_needed = self
                .worlds
                .range(from..)
                .map(|k| k.baseline.map_or(k.world.tick, |b| b.min(k.world.tick)))
                .min()
                .unwrap_or(baseline);
            let stale = self.worlds.partition_point(|k| k.world.tick < oldest_needed);
            self.worlds.drain(..stale);
        }
        // Evict the oldest, never the world just rebuilt (a server may resend an old tick).
        while self.worlds.len() > Self::CAPACITY {
            let oldest = usize::from(self.worlds[0].world.tick == tick);
            self.worlds.remove(oldest);
        }
        Ok(&self.worlds[self.worlds.partition_point(|k| k.world.tick < tick)].world)
    }

    /// The world of `tick`, if kept.
    pub fn get(&self, tick: Tick) -> Option<&World> {
        self.kept(tick).map(|k| &k.world)
    }

    /// The baseline the world of `tick` was rebuilt against (`None` for a full snapshot, or
    /// when `tick` is not kept).
    pub fn baseline_of(&self, tick: Tick) -> Option<Tick> {
        self.kept(tick).and_then(|k| k.baseline)
    }

    /// The worlds kept, oldest first (for an interpolation buffer).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &World> {
        self.worlds.iter().map(|k| &k.world)
    }

    /// The newest world.
    pub fn latest(&self) -> Option<&World> {
        self.worlds.back().map(|k| &k.world)
    }

    /// Forgets every world (a new connection starts from a full snapshot).
    pub fn clear(&mut self) {
        self.worlds.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::RoundPhase;
    use alloc::vec;
    use proptest::prelude::*;

    const RATE: u8 = 30;

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

    fn ship(id: u32, pos: (i16, i16), vel: (i16, i16), heading: u8) -> EntityState {
        EntityState {
            pos: QVec2 { x: pos.0, y: pos.1 },
            vel: QVec2 { x: vel.0, y: vel.1 },
            heading,
            ..entity(id, 0)
        }
    }

    fn world(tick: u32, entities: Vec<EntityState>) -> World {
        World::from_unsorted(Tick(tick), round(), entities)
    }

    #[test]
    fn a_header_the_decoder_would_refuse_is_refused_by_apply_too() {
        // Built by hand (serde, tools), with ages the wire cannot carry: extrapolating over
        // 2^32 ticks from the fastest velocity would overflow.
        let reference = world(0, vec![ship(1, (0, 0), (i16::MIN, 0), 0)]);
        let base = world(1, vec![ship(1, (0, 0), (i16::MAX, 0), 0)]);
        let next = world(2, vec![ship(1, (i16::MIN, 0), (i16::MAX, 0), 0)]);
        let baseline = || Baseline { world: &base, reference: Some(&reference) };
        let mut snapshot = delta(Some(baseline()), &next, InputSeq(0), RATE).unwrap();
        assert_eq!(apply(Some(baseline()), &snapshot, RATE), Ok(next.clone()));
        snapshot.header.tick = Tick(u32::MAX);
        assert_eq!(apply(Some(baseline()), &snapshot, RATE), Err(ApplyError::InvalidHeader));
        snapshot.header.tick = Tick(1);
        assert_eq!(apply(Some(baseline()), &snapshot, RATE), Err(ApplyError::InvalidHeader));
        snapshot.header.tick = Tick(2);
        snapshot.header.baseline = None;
        assert_eq!(apply(None, &snapshot, RATE), Err(ApplyError::InvalidHeader));
    }

    #[test]
    fn late_acks_keep_what_later_snapshots_name() {
        // Acks two ticks late, as on a 70-100 ms round trip: snapshot t is against t - 3,
        // extrapolated from t - 6; every one must find both after pruning.
        let mut history = WorldHistory::new(RATE);
        let w = |t: u32| world(t, vec![ship(1, (t as i16 * 5, 0), (t as i16, 0), 0)]);
        let mut baseline_of = alloc::collections::BTreeMap::new();
        for t in 1..=40u32 {
            let acked = t.checked_sub(3).filter(|&a| a >= 1);
            let snap = match acked {
                None => delta(None, &w(t), InputSeq(0), RATE).unwrap(),
                Some(a) => {
                    let reference = baseline_of.get(&a).copied().flatten().map(w);
                    let base = Baseline { world: &w(a), reference: reference.as_ref() };
                    delta(Some(base), &w(t), InputSeq(0), RATE).unwrap()
                }
            };
            baseline_of.insert(t, acked);
            assert_eq!(history.apply(&snap).map(|w| w.tick), Ok(Tick(t)), "tick {t}");
        }
        assert!(history.iter().count() <= 8, "{} worlds kept", history.iter().count());

        // Acks arriving between full snapshots: 4 is against 1, 5 against 3 (which was full),
        // and 6 against 4 extrapolates from 1, older than 5's baseline.
        let mut history = WorldHistory::new(RATE);
        let snap = |t: u32, base: Option<u32>, reference: Option<u32>| {
            let (b, r) = (base.map(w), reference.map(w));
            let base = b.as_ref().map(|world| Baseline { world, reference: r.as_ref() });
            delta(base, &w(t), InputSeq(0), RATE).unwrap()
        };
        for (t, base, reference) in [
            (1, None, None),
            (2, None, None),
            (3, None, None),
            (4, Some(1), None),
            (5, Some(3), None),
            (6, Some(4), Some(1)),
        ] {
            let applied = history.apply(&snap(t, base, reference)).map(|w| w.tick);
            assert_eq!(applied, Ok(Tick(t)), "tick {t}");
        }
    }

    #[test]
    fn unchanged_and_predicted_entities_cost_one_bit_each() {
        // 16 still pickups and 8 ships flying at a constant 300 units/s (150 velocity steps):
        // each lands exactly where the prediction puts it (160 position steps a tick at 30 Hz).
        let still = || (100..116).map(|id| entity(id, id as i16)).collect::<Vec<_>>();
        let flying = |t: i16| (1..=8).map(move |id| ship(id, (t * 160, 0), (150, 0), 0));
        let a = world(1, still().into_iter().chain(flying(1)).collect());
        let b = world(2, still().into_iter().chain(flying(2)).collect());
        let snap = delta(Some(Baseline::new(&a)), &b, InputSeq(7), RATE).unwrap();
        assert_eq!(snap.header.round, None, "the round did not change");
        // 24 one-bit codes, then `eg(0)` of zero spawns: 25 bits.
        assert_eq!(snap.body.len(), 4);
        assert_eq!(apply(Some(Baseline::new(&a)), &snap, RATE), Ok(b));
    }

    #[test]
    fn a_moving_entity_where_its_new_velocity_puts_it_spends_one_bit_on_its_position() {
        // Two ships speeding up from 15 to 16 velocity steps in a tick at 30 Hz: the prediction
        // puts both at div(2 * 16 * 16, 30) = 17 position steps. Ship 1 is there, ship 2 one
        // step off on each axis. Ship 1: `10`, se(1) +1 `0100`, se(1) 0 `10`, flag `0`; ship 2
        // the same with flag `1`, se(0) +1 `011`, se(0) -1 `010`; no spawns `1`: 25 bits,
        // the same bytes as the JavaScript SDK's test of it.
        let a = world(1, vec![ship(1, (0, 0), (15, 0), 0), ship(2, (0, 0), (15, 0), 0)]);
        let b = world(2, vec![ship(1, (17, 0), (16, 0), 0), ship(2, (18, -1), (16, 0), 0)]);
        let snap = delta(Some(Baseline::new(&a)), &b, InputSeq(0), RATE).unwrap();
        assert_eq!(snap.body, [0x49, 0x92, 0x5a, 0x01]);
        assert_eq!(apply(Some(Baseline::new(&a)), &snap, RATE), Ok(b));
    }

    #[test]
    fn removals_spawns_and_changes_rebuild_exactly() {
        let a = world(1, vec![entity(1, 10), entity(2, 20), entity(3, 30)]);
        let mut changed = entity(3, 31);
        changed.value = 9;
        let b = world(2, vec![entity(1, 10), changed, entity(4, 40), entity(100_000, -5)]);
        let snap = delta(Some(Baseline::new(&a)), &b, InputSeq(7), RATE).unwrap();
        assert_eq!(snap.header.baseline, Some(Tick(1)));
        assert_eq!(snap.header.last_input, InputSeq(7));
        assert_eq!(apply(Some(Baseline::new(&a)), &snap, RATE), Ok(b.clone()));
        let full = delta(None, &b, InputSeq(7), RATE).unwrap();
        assert_eq!(full.header.round, Some(round()));
        assert_eq!(apply(None, &full, RATE), Ok(b));
    }

    #[test]
    fn extrapolation_makes_steady_turns_and_acceleration_free() {
        // Accelerating by 30 units/s and turning 10 steps every tick, from a reference two
        // ticks before the baseline: the prediction is exact.
        let at = |t: i64| {
            let v = 100 + 30 * t;
            let x: i64 = (1..=t).map(|i| (100 + 30 * i) * 16 / 30).sum();
            ship(5, (x as i16, 0), (v as i16, 0), (10 * t) as u8)
        };
        let (r, a, b) = (world(10, vec![at(0)]), world(12, vec![at(2)]), world(13, vec![at(3)]));
        let base = Baseline::with_reference(&a, &r);
        let snap = delta(Some(base), &b, InputSeq(0), RATE).unwrap();
        assert_eq!(snap.header.reference, Some(Tick(10)));
        assert_eq!(apply(Some(base), &snap, RATE), Ok(b.clone()));
        let plain = delta(Some(Baseline::new(&a)), &b, InputSeq(0), RATE).unwrap();
        assert!(snap.body.len() < plain.body.len(), "{:?} vs {:?}", snap.body, plain.body);
        assert_eq!(
            apply(Some(Baseline::new(&a)), &snap, RATE),
            Err(ApplyError::ReferenceMismatch { expected: Tick(10), given: None })
        );
    }

    #[test]
    fn wrong_baselines_and_bad_bodies_are_errors() {
        let a = world(1, vec![entity(1, 10)]);
        let b = world(2, vec![entity(1, 11)]);
        let snap = delta(Some(Baseline::new(&a)), &b, InputSeq(0), RATE).unwrap();
        assert_eq!(
            apply(None, &snap, RATE),
            Err(ApplyError::BaselineMismatch { expected: Some(Tick(1)), given: None })
        );
        let mut cut = snap.clone();
        cut.body.clear();
        assert_eq!(apply(Some(Baseline::new(&a)), &cut, RATE), Err(ApplyError::Truncated));
        let mut long = snap.clone();
        long.body.push(0);
        assert_eq!(apply(Some(Baseline::new(&a)), &long, RATE), Err(ApplyError::TrailingBits));
        // A spawn of an id the baseline holds.
        let mut twice = Vec::new();
        let mut w = BitWriter::new(&mut twice);
        w.bit(false); // entity 1 as predicted
        w.eg(1, 0); // one spawn
        write_spawn(&mut w, &entity(1, 0), None);
        w.finish();
        let twice = Snapshot { header: snap.header, body: twice };
        assert_eq!(
            apply(Some(Baseline::new(&a)), &twice, RATE),
            Err(ApplyError::DuplicateEntity(EntityId(1)))
        );
        // The general code with no field group.
        let mut empty = Vec::new();
        let mut w = BitWriter::new(&mut empty);
        w.bits(0b000_0111, 7);
        w.finish();
        let empty = Snapshot { header: snap.header, body: empty };
        assert_eq!(apply(Some(Baseline::new(&a)), &empty, RATE), Err(ApplyError::InvalidCode));
        // Too old a baseline cannot be written.
        let old = world(1000, vec![]);
        assert_eq!(
            delta(Some(Baseline::new(&a)), &old, InputSeq(0), RATE),
            Err(EncodeError::InvalidSnapshotHeader)
        );
    }

    #[test]
    fn worlds_not_sorted_by_unique_id_are_refused_not_encoded() {
        // `entities` is public, so a caller can build these without `World::from_unsorted`.
        // Spawning ids 5 then 3 once reached `3 - 5 - 1` (a panic in debug builds, wrong bytes
        // in release ones).
        let sorted = world(1, vec![entity(3, 30), entity(5, 50)]);
        let by_hand = |tick: u32, ids: &[u32]| World {
            tick: Tick(tick),
            round: round(),
            entities: ids.iter().map(|&id| entity(id, id as i16)).collect(),
        };
        let unsorted = by_hand(2, &[5, 3]);
        let duplicate = by_hand(2, &[3, 3]);
        for next in [&unsorted, &duplicate] {
            assert_eq!(delta(None, next, InputSeq(0), RATE), Err(EncodeError::UnsortedEntities));
            let base = Baseline::new(&sorted);
            let refused = delta(Some(base), next, InputSeq(0), RATE);
            assert_eq!(refused, Err(EncodeError::UnsortedEntities));
        }
        // A baseline or reference out of order is refused too (checked in debug builds only):
        // the client holds them sorted, so its predictions would not be the encoder's.
        let (old, older) = (by_hand(1, &[5, 3]), by_hand(0, &[3, 3]));
        let next = world(2, vec![entity(3, 31), entity(5, 50)]);
        for base in [Baseline::new(&old), Baseline::with_reference(&sorted, &older)] {
            let refused = delta(Some(base), &next, InputSeq(0), RATE);
            if cfg!(debug_assertions) {
                assert_eq!(refused, Err(EncodeError::UnsortedEntities));
            }
        }
        // The same entities sorted encode and apply back.
        let fixed = World::from_unsorted(Tick(2), round(), unsorted.entities.clone());
        let snap = delta(Some(Baseline::new(&sorted)), &fixed, InputSeq(0), RATE).unwrap();
        assert_eq!(apply(Some(Baseline::new(&sorted)), &snap, RATE), Ok(fixed));
    }

    #[test]
    fn a_history_rebuilds_a_chain_of_extrapolated_snapshots_and_forgets_the_oldest() {
        let mut history = WorldHistory::new(RATE);
        let w = |t: u32| world(t, vec![ship(1, (t as i16 * 3, 0), (t as i16, 2), t as u8)]);
        let full = delta(None, &w(1), InputSeq(0), RATE).unwrap();
        assert_eq!(history.apply(&full), Ok(&w(1)));
        for t in 2..=70u32 {
            let reference = history.baseline_of(Tick(t - 1)).and_then(|r| history.get(r));
            let base = Baseline { world: history.get(Tick(t - 1)).unwrap(), reference };
            let snap = delta(Some(base), &w(t), InputSeq(0), RATE).unwrap();
            assert_eq!(snap.header.reference.is_some(), t > 2);
            assert_eq!(history.apply(&snap).cloned(), Ok(w(t)));
        }
        assert_eq!(history.latest().map(|w| w.tick), Some(Tick(70)));
        assert_eq!(history.baseline_of(Tick(70)), Some(Tick(69)));
        // Acked every tick: only the baseline's baseline onwards is kept.
        assert_eq!(history.iter().map(|w| w.tick.0).collect::<Vec<_>>(), [68, 69, 70]);
        let stale = delta(Some(Baseline::new(&w(6))), &w(71), InputSeq(0), RATE).unwrap();
        assert_eq!(history.apply(&stale), Err(ApplyError::MissingBaseline(Tick(6))));
        assert_eq!(history.latest().map(|w| w.tick), Some(Tick(70)), "nothing kept on error");
        history.clear();
        assert!(history.latest().is_none());
    }

    proptest! {
        /// Full snapshots bound nothing, so the history fills to its capacity, then evicts the
        /// oldest world but never the one just rebuilt, whatever order the ticks come in.
        #[test]
        fn a_history_of_full_snapshots_keeps_the_newest_ticks_in_order(
            ticks in proptest::collection::vec(1u32..200, 1..300),
        ) {
            let mut history = WorldHistory::new(RATE);
            let mut model: Vec<u32> = Vec::new();
            for &t in &ticks {
                let w = world(t, vec![entity(t % 7, t as i16)]);
                let snap = delta(None, &w, InputSeq(0), RATE).unwrap();
                prop_assert_eq!(history.apply(&snap), Ok(&w));
                if let Err(at) = model.binary_search(&t) {
                    model.insert(at, t);
                }
                while model.len() > WorldHistory::CAPACITY {
                    model.remove(usize::from(model[0] == t));
                }
                prop_assert_eq!(history.iter().map(|w| w.tick.0).collect::<Vec<_>>(), model.clone());
                prop_assert_eq!(history.get(Tick(t)), Some(&w));
            }
        }
    }

    fn arb_entity() -> impl Strategy<Value = EntityState> {
        (0u32..64, 0u8..3, any::<(i16, i16, i16, i16)>(), any::<u8>(), 0u8..4, any::<u16>())
            .prop_map(|(id, kind, (px, py, vx, vy), heading, flags, value)| EntityState {
                id: EntityId(id),
                kind,
                pos: QVec2 { x: px, y: py },
                vel: QVec2 { x: vx, y: vy },
                heading,
                flags,
                value,
            })
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

    /// Three worlds that share most entities, moving by small random steps: the common case.
    fn arb_motion() -> impl Strategy<Value = (World, World, World, u8)> {
        (
            arb_world(10),
            1u32..6,
            1u32..6,
            proptest::collection::vec(any::<(i8, i8, i8, bool)>(), 40),
            1u8..=120,
        )
            .prop_map(|(r, j, k, steps, rate)| {
                let step = |w: &World, tick: u32, flip: bool| {
                    let es = w
                        .entities
                        .iter()
                        .zip(&steps)
                        .filter(|(_, s)| !(flip && s.3))
                        .map(|(e, s)| {
                            let mut e = *e;
                            e.vel.x = e.vel.x.saturating_add(i16::from(s.0));
                            e.pos.y = e.pos.y.saturating_add(i16::from(s.1));
                            e.heading = e.heading.wrapping_add(s.2 as u8);
                            e
                        })
                        .collect();
                    World::from_unsorted(Tick(tick), w.round, es)
                };
                let a = step(&r, 10 + j, false);
                let b = step(&a, 10 + j + k, true);
                (r, a, b, rate)
            })
    }

    proptest! {
        #[test]
        fn apply_inverts_delta_for_random_worlds(r in arb_world(10), a in arb_world(11), b in arb_world(14), rate in 1u8..=120) {
            prop_assert_eq!(apply(None, &delta(None, &b, InputSeq(3), rate).unwrap(), rate), Ok(b.clone()));
            let plain = Baseline::new(&a);
            prop_assert_eq!(apply(Some(plain), &delta(Some(plain), &b, InputSeq(3), rate).unwrap(), rate), Ok(b.clone()));
            let extrapolated = Baseline::with_reference(&a, &r);
            let snap = delta(Some(extrapolated), &b, InputSeq(3), rate).unwrap();
            prop_assert_eq!(apply(Some(extrapolated), &snap, rate), Ok(b));
        }

        #[test]
        fn apply_inverts_delta_for_moving_worlds((r, a, b, rate) in arb_motion()) {
            let base = Baseline::with_reference(&a, &r);
            let snap = delta(Some(base), &b, InputSeq(1), rate).unwrap();
            prop_assert_eq!(apply(Some(base), &snap, rate), Ok(b));
        }

        #[test]
        fn delta_against_itself_is_tiny(b in arb_world(10)) {
            let mut same = b.clone();
            same.tick = Tick(11);
            for e in &mut same.entities {
                e.vel = QVec2::default(); // no motion: nothing to predict
            }
            let mut base = same.clone();
            base.tick = Tick(10);
            let snap = delta(Some(Baseline::new(&base)), &same, InputSeq(0), RATE).unwrap();
            prop_assert_eq!(snap.body.len(), (same.entities.len() + 1).div_ceil(8));
        }

        #[test]
        fn apply_never_panics_on_random_bodies(a in arb_world(11), r in arb_world(10), body in proptest::collection::vec(any::<u8>(), 0..300), rate in any::<u8>()) {
            let header = SnapshotHeader { tick: Tick(12), baseline: Some(Tick(11)), reference: Some(Tick(10)), last_input: InputSeq(0), round: None };
            let _ = apply(Some(Baseline::with_reference(&a, &r)), &Snapshot { header, body: body.clone() }, rate);
            let full = SnapshotHeader { baseline: None, reference: None, round: Some(a.round), ..header };
            if let Ok(world) = apply(None, &Snapshot { header: full, body }, rate) {
                prop_assert!(world.entities.windows(2).all(|w| w[0].id.0 < w[1].id.0));
            }
        }
    }
}
