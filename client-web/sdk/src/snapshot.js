// Snapshots (PROTOCOL.md 5 "Snapshot" and 6): the body codec, applying a snapshot to the
// baseline it names, and the history of rebuilt worlds a client keeps to do so. Everything
// that depends on the snapshot encoding lives in this one module.

import { DecodeError } from './errors.js';
import { MAX_SNAPSHOT_ENTITIES, PHASES } from './constants.js';

/** @import { Reader } from './wire.js' */
/** @import { Writer } from './wire.js' */

/** @typedef {{ x: number, y: number }} QVec2 a quantized vector (position: 1/16 unit, velocity: 1/8 unit/s) */
/** @typedef {'Playing' | 'Intermission'} RoundPhase */
/** @typedef {{ round: number, phase: RoundPhase, secondsLeft: number }} RoundState */

/**
 * One entity, complete and quantized (PROTOCOL.md 3.2).
 * @typedef {object} EntityState
 * @property {number} id
 * @property {number} kind arena: 0 ship, 1 pickup
 * @property {QVec2} pos position in 1/16 world units
 * @property {QVec2} vel velocity in 1/8 units per second
 * @property {number} heading 1/256 turn, 0 = +x, growing toward +y
 * @property {number} flags arena: bit 0 alive, 1 boosting, 2 invulnerable
 * @property {number} value arena: a ship's score or a pickup's worth
 */

/**
 * One entry of a snapshot: the id and the fields that changed (all of them for a spawn).
 * @typedef {object} EntityDelta
 * @property {number} id
 * @property {number} [kind]
 * @property {QVec2} [pos]
 * @property {QVec2} [vel]
 * @property {number} [heading]
 * @property {number} [flags]
 * @property {number} [value]
 */

/**
 * A `Snapshot` message.
 * @typedef {object} Snapshot
 * @property {'Snapshot'} type
 * @property {number} tick the tick described
 * @property {number | null} baseline the acked tick this is a delta against; null: full
 * @property {number} lastInput newest `Input.seq` of this client the server applied
 * @property {RoundState} round
 * @property {EntityDelta[]} entities spawned or changed entities, sorted by id
 * @property {number[]} removed ids gone since the baseline, sorted
 */

/**
 * The world one client sees at one tick.
 * @typedef {object} World
 * @property {number} tick
 * @property {RoundState} round
 * @property {EntityState[]} entities sorted by id, ids unique
 */

const FIELDS = /** @type {const} */ (['kind', 'pos', 'vel', 'heading', 'flags', 'value']);
const FULL_MASK = 0x3f;

/** @param {Writer} w @param {QVec2} v */
function writeQVec2(w, v) {
  w.i16(v.x);
  w.i16(v.y);
}

/** @param {Reader} r @returns {QVec2} */
function readQVec2(r) {
  return { x: r.i16(), y: r.i16() };
}

/** @param {Writer} w @param {RoundState} round */
export function writeRound(w, round) {
  w.u16(round.round);
  w.u32(PHASES.indexOf(round.phase) < 0 ? 0 : PHASES.indexOf(round.phase));
  w.u16(round.secondsLeft);
}

/** @param {Reader} r @returns {RoundState} */
export function readRound(r) {
  const round = r.u16();
  const phaseTag = r.tag();
  const phase = PHASES[phaseTag];
  if (phase === undefined) throw new DecodeError('UnknownTag', `RoundPhase ${phaseTag}`);
  return { round, phase, secondsLeft: r.u16() };
}

/**
 * Writes a snapshot's body (everything after the message tag).
 * @param {Writer} w
 * @param {Snapshot} s
 */
export function writeSnapshot(w, s) {
  w.u32(s.tick);
  if (s.baseline === null) {
    w.u8(0);
  } else {
    w.u8(1);
    w.u32(s.baseline);
  }
  w.u32(s.lastInput);
  writeRound(w, s.round);
  w.varint(s.entities.length, MAX_SNAPSHOT_ENTITIES);
  for (const e of s.entities) {
    w.u32(e.id);
    let mask = 0;
    FIELDS.forEach((field, bit) => {
      if (e[field] !== undefined) mask |= 1 << bit;
    });
    w.u8(mask);
    if (e.kind !== undefined) w.u8(e.kind);
    if (e.pos !== undefined) writeQVec2(w, e.pos);
    if (e.vel !== undefined) writeQVec2(w, e.vel);
    if (e.heading !== undefined) w.u8(e.heading);
    if (e.flags !== undefined) w.u8(e.flags);
    if (e.value !== undefined) w.u16(e.value);
  }
  w.varint(s.removed.length, MAX_SNAPSHOT_ENTITIES);
  for (const id of s.removed) w.u32(id);
}

/**
 * Reads a snapshot's body (after the tag).
 * @param {Reader} r
 * @returns {Snapshot}
 */
export function readSnapshot(r) {
  const tick = r.u32();
  const baseline = r.option() ? r.u32() : null;
  const lastInput = r.u32();
  const round = readRound(r);
  const count = r.count(MAX_SNAPSHOT_ENTITIES);
  /** @type {EntityDelta[]} */
  const entities = [];
  for (let i = 0; i < count; i++) {
    /** @type {EntityDelta} */
    const e = { id: r.u32() };
    const mask = r.u8();
    if (mask & ~FULL_MASK) throw new DecodeError('InvalidMask', `mask ${mask}`);
    if (mask & 0x01) e.kind = r.u8();
    if (mask & 0x02) e.pos = readQVec2(r);
    if (mask & 0x04) e.vel = readQVec2(r);
    if (mask & 0x08) e.heading = r.u8();
    if (mask & 0x10) e.flags = r.u8();
    if (mask & 0x20) e.value = r.u16();
    entities.push(e);
  }
  const removedCount = r.count(MAX_SNAPSHOT_ENTITIES);
  const removed = [];
  for (let i = 0; i < removedCount; i++) removed.push(r.u32());
  return { type: 'Snapshot', tick, baseline, lastInput, round, entities, removed };
}

/** Why a snapshot could not be applied (PROTOCOL.md 6, client step 4): the client drops its
 * state and stops acking; the server falls back to a snapshot it can rebuild. */
export class ApplyError extends Error {
  /** @param {'MissingBaseline' | 'BaselineMismatch' | 'Unsorted' | 'IncompleteSpawn'} kind @param {string} detail */
  constructor(kind, detail) {
    super(`${kind}: ${detail}`);
    this.name = 'ApplyError';
    this.kind = kind;
  }
}

/** @param {number[]} ids */
function strictlySorted(ids) {
  for (let i = 1; i < ids.length; i++) if (ids[i - 1] >= ids[i]) return false;
  return true;
}

/**
 * Rebuilds the world `snapshot` describes from `baseline` (null for a full snapshot).
 * @param {World | null} baseline
 * @param {Snapshot} snapshot
 * @returns {World}
 */
export function applySnapshot(baseline, snapshot) {
  const given = baseline ? baseline.tick : null;
  if (given !== snapshot.baseline) {
    throw new ApplyError('BaselineMismatch', `snapshot wants ${snapshot.baseline}, given ${given}`);
  }
  if (!strictlySorted(snapshot.entities.map((e) => e.id)) || !strictlySorted(snapshot.removed)) {
    throw new ApplyError('Unsorted', `tick ${snapshot.tick}`);
  }
  const old = baseline ? baseline.entities : [];
  /** @type {EntityState[]} */
  const out = [];
  let o = 0;
  let u = 0;
  let rm = 0;
  const removed = snapshot.removed;
  const updates = snapshot.entities;
  while (o < old.length || u < updates.length) {
    if (o < old.length && (u >= updates.length || old[o].id < updates[u].id)) {
      const e = old[o++];
      while (rm < removed.length && removed[rm] < e.id) rm++;
      if (rm < removed.length && removed[rm] === e.id) rm++;
      else out.push(e);
      continue;
    }
    const d = updates[u++];
    const base = o < old.length && old[o].id === d.id ? old[o++] : null;
    if (base) {
      out.push({
        id: base.id,
        kind: d.kind ?? base.kind,
        pos: d.pos ?? base.pos,
        vel: d.vel ?? base.vel,
        heading: d.heading ?? base.heading,
        flags: d.flags ?? base.flags,
        value: d.value ?? base.value,
      });
    } else {
      if (d.kind === undefined || d.pos === undefined || d.vel === undefined || d.heading === undefined
        || d.flags === undefined || d.value === undefined) {
        throw new ApplyError('IncompleteSpawn', `entity ${d.id} is new but lacks fields`);
      }
      out.push({ id: d.id, kind: d.kind, pos: d.pos, vel: d.vel, heading: d.heading, flags: d.flags, value: d.value });
    }
  }
  return { tick: snapshot.tick, round: snapshot.round, entities: out };
}

/**
 * The entity `id` of `world`, by binary search.
 * @param {World} world
 * @param {number} id
 * @returns {EntityState | undefined}
 */
export function worldEntity(world, id) {
  const list = world.entities;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return list[lo] && list[lo].id === id ? list[lo] : undefined;
}

/**
 * The worlds a client keeps to rebuild snapshots: the newest {@link WorldHistory.CAPACITY}
 * by tick. Feed every snapshot to {@link WorldHistory#apply} and ack the tick of each world
 * it returns; on an error ack nothing new and carry on.
 */
export class WorldHistory {
  /** Worlds kept: the server deltas at most 32 ticks back, so 64 cover any ack in flight. */
  static CAPACITY = 64;

  constructor() {
    /** @type {World[]} oldest first, ticks strictly increasing */
    this.worlds = [];
  }

  /**
   * Rebuilds and keeps the world `snapshot` describes; throws {@link ApplyError}.
   * @param {Snapshot} snapshot
   * @returns {World}
   */
  apply(snapshot) {
    let baseline = null;
    if (snapshot.baseline !== null) {
      baseline = this.get(snapshot.baseline);
      if (!baseline) throw new ApplyError('MissingBaseline', `tick ${snapshot.baseline} is not held`);
    }
    const world = applySnapshot(baseline, snapshot);
    const at = this.worlds.findIndex((w) => w.tick >= world.tick);
    if (at < 0) this.worlds.push(world);
    else if (this.worlds[at].tick === world.tick) this.worlds[at] = world;
    else this.worlds.splice(at, 0, world);
    while (this.worlds.length > WorldHistory.CAPACITY) {
      // Evict the oldest, never the world just rebuilt.
      this.worlds.splice(this.worlds[0] === world ? 1 : 0, 1);
    }
    return world;
  }

  /** @param {number} tick */
  get(tick) {
    return this.worlds.find((w) => w.tick === tick);
  }

  latest() {
    return this.worlds.length ? this.worlds[this.worlds.length - 1] : undefined;
  }

  clear() {
    this.worlds = [];
  }
}
