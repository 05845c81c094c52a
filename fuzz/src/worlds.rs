//! Worlds in fuzz inputs.
//!
//! A world is its round state, then a mode byte (taken modulo 3) and the mode's fields:
//! - **0, listed**: a `u16` entity count (at most [`MAX_FUZZ_ENTITIES`]; the list also stops
//!   where the input ends), then each entity as `id u32, kind u8, pos i16 i16, vel i16 i16,
//!   heading u8, flags u8, value u16` (17 bytes). What [`write_listed`] writes.
//! - **1, bulk**: a `u16` count, a `u64` seed and a style byte; the entities are generated from
//!   the seed, so a few bytes reach the 1024-entity limit and the largest snapshots.
//! - **2, edited** (read as listed when there is no world to edit): the entities of the world
//!   it edits, each kept, removed, moved or changed by an op byte and its fields, then a `u8`
//!   count of spawns listed as in mode 0. Successive worlds of a game share most entities;
//!   this lets the fuzzer build such worlds without finding equal ids by chance.
//!
//! Every world is made with `World::from_unsorted` (sorted by id, later duplicates dropped), the
//! invariant `delta` and `apply` expect of their inputs.

use arbitrary::{Result, Unstructured};
use tickwire_shared::delta::World;
use tickwire_shared::{
    EntityId, EntityState, MAX_SNAPSHOT_ENTITIES, QVec2, RoundPhase, RoundState, Tick,
};

use crate::Seed;

/// Most entities a fuzz world holds: a few past [`MAX_SNAPSHOT_ENTITIES`], so that the limit's
/// refusals are exercised too.
pub const MAX_FUZZ_ENTITIES: usize = MAX_SNAPSHOT_ENTITIES + 8;

/// Bytes of one listed entity.
const ENTITY_BYTES: usize = 17;

fn round(u: &mut Unstructured<'_>) -> Result<RoundState> {
    Ok(RoundState {
        round: u.arbitrary()?,
        phase: if u.arbitrary::<u8>()? & 1 == 0 {
            RoundPhase::Playing
        } else {
            RoundPhase::Intermission
        },
        seconds_left: u.arbitrary()?,
    })
}

fn write_round(seed: &mut Seed, round: &RoundState) {
    seed.u16(round.round).u8(u8::from(round.phase == RoundPhase::Intermission));
    seed.u16(round.seconds_left);
}

fn entity_fields(u: &mut Unstructured<'_>, id: EntityId) -> Result<EntityState> {
    Ok(EntityState {
        id,
        kind: u.arbitrary()?,
        pos: QVec2 { x: u.arbitrary()?, y: u.arbitrary()? },
        vel: QVec2 { x: u.arbitrary()?, y: u.arbitrary()? },
        heading: u.arbitrary()?,
        flags: u.arbitrary()?,
        value: u.arbitrary()?,
    })
}

fn entity(u: &mut Unstructured<'_>) -> Result<EntityState> {
    let id = EntityId(u.arbitrary()?);
    entity_fields(u, id)
}

fn write_entity(seed: &mut Seed, e: &EntityState) {
    seed.u32(e.id.0).u8(e.kind);
    seed.i16(e.pos.x).i16(e.pos.y).i16(e.vel.x).i16(e.vel.y);
    seed.u8(e.heading).u8(e.flags).u16(e.value);
}

/// Up to `count` listed entities, fewer where the input ends.
fn listed(u: &mut Unstructured<'_>, count: usize) -> Result<Vec<EntityState>> {
    let count = count.min(u.len() / ENTITY_BYTES);
    (0..count).map(|_| entity(u)).collect()
}

/// SplitMix64: the bulk generator.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `count` generated entities. Style bit 1: values over their whole range (else the small
/// values of a game); bit 2: ids anywhere in `u32` (else dense from 0).
fn bulk(count: usize, mut state: u64, style: u8) -> Vec<EntityState> {
    let extreme = style & 1 != 0;
    let sparse = style & 2 != 0;
    (0..count)
        .map(|i| {
            let r = next(&mut state);
            let small = |shift: u32, span: i64| ((r >> shift) as i64 % span - span / 2) as i16;
            let wide = |shift: u32| (r >> shift) as i16;
            let pick = |shift| if extreme { wide(shift) } else { small(shift, 64) };
            EntityState {
                id: EntityId(if sparse { next(&mut state) as u32 } else { i as u32 }),
                kind: (r & 3) as u8,
                pos: QVec2 { x: pick(2), y: pick(18) },
                vel: QVec2 { x: pick(34), y: pick(50) },
                heading: (r >> 40) as u8,
                flags: (r >> 48) as u8 & if extreme { 0xff } else { 7 },
                value: if extreme { (r >> 24) as u16 } else { (r >> 56) as u16 },
            }
        })
        .collect()
}

/// `base` edited: each entity kept (op 0), removed (1), moved (2: velocity, position and
/// heading steps as `i8`), changed (3: kind, flags, value) or replaced but for its id (4).
fn edited(u: &mut Unstructured<'_>, base: &World) -> Result<Vec<EntityState>> {
    let mut out = Vec::with_capacity(base.entities.len());
    for e in &base.entities {
        let mut e = *e;
        match u.arbitrary::<u8>()? % 5 {
            0 => {}
            1 => continue,
            2 => {
                let [dvx, dvy, dpx, dpy, dh]: [i8; 5] = u.arbitrary()?;
                e.vel.x = e.vel.x.saturating_add(dvx.into());
                e.vel.y = e.vel.y.saturating_add(dvy.into());
                e.pos.x = e.pos.x.saturating_add(e.vel.x / 2).saturating_add(dpx.into());
                e.pos.y = e.pos.y.saturating_add(e.vel.y / 2).saturating_add(dpy.into());
                e.heading = e.heading.wrapping_add(dh as u8);
            }
            3 => {
                e.kind = u.arbitrary()?;
                e.flags = u.arbitrary()?;
                e.value = u.arbitrary()?;
            }
            _ => e = entity_fields(u, e.id)?,
        }
        out.push(e);
    }
    let spawns = usize::from(u.arbitrary::<u8>()?);
    out.extend(listed(u, spawns)?);
    Ok(out)
}

/// Reads a world at `tick`; mode 2 edits `base` (and is read as mode 0 without one).
pub fn read_world(u: &mut Unstructured<'_>, tick: Tick, base: Option<&World>) -> Result<World> {
    let mode = u.arbitrary::<u8>()? % 3;
    let (round, entities) = match (mode, base) {
        (2, Some(base)) => {
            let round = if u.arbitrary::<u8>()? & 1 == 0 { base.round } else { round(u)? };
            (round, edited(u, base)?)
        }
        (1, _) => {
            let round = round(u)?;
            let count = usize::from(u.arbitrary::<u16>()?).min(MAX_FUZZ_ENTITIES);
            let state = u.arbitrary()?;
            (round, bulk(count, state, u.arbitrary()?))
        }
        _ => {
            let round = round(u)?;
            let count = usize::from(u.arbitrary::<u16>()?).min(MAX_FUZZ_ENTITIES);
            (round, listed(u, count)?)
        }
    };
    Ok(World::from_unsorted(tick, round, entities))
}

/// Writes `world` in mode 0 (its tick is not written: the input it is part of sets it).
pub fn write_listed(seed: &mut Seed, world: &World) {
    seed.u8(0);
    write_round(seed, &world.round);
    seed.u16(world.entities.len() as u16);
    for e in &world.entities {
        write_entity(seed, e);
    }
}

/// Writes a bulk world (mode 1): `count` entities generated from `state` in `style`.
pub fn write_bulk(seed: &mut Seed, round: &RoundState, count: u16, state: u64, style: u8) {
    seed.u8(1);
    write_round(seed, round);
    seed.u16(count).u64(state).u8(style);
}
