// Snapshots (PROTOCOL.md 2.4 "SnapshotHeader", 5 "Snapshot" and 6): the header codec, the
// bit-packed body (corrections to a prediction from the worlds the client holds), encoding a
// world against a baseline, applying a snapshot, and the history of rebuilt worlds a client
// keeps. Everything that depends on the snapshot encoding lives in this one module.
//
// All arithmetic is on integers (JavaScript numbers are exact far beyond what it needs), so
// the SDK rebuilds exactly the world the server quantized, bit for bit.

import { DecodeError, EncodeError } from './errors.js';
import { MAX_SNAPSHOT_ENTITIES, PHASES } from './constants.js';

/** @import { Reader, Writer } from './wire.js' */

// The types of rebuilt worlds are read-only, as the worlds are frozen (see `World`): a write
// into one is a type error rather than a throw (or, outside strict mode, nothing) at run time.
/** @typedef {Readonly<{ x: number, y: number }>} QVec2 a quantized vector (position: 1/16 unit, velocity: 2 units/s, `VELOCITY_STEP`) */
/** @typedef {'Playing' | 'Intermission'} RoundPhase */
/** @typedef {Readonly<{ round: number, phase: RoundPhase, secondsLeft: number }>} RoundState */

/**
 * The fields of an {@link EntityState}.
 * @typedef {object} EntityFields
 * @property {number} id
 * @property {number} kind arena: 0 ship, 1 pickup
 * @property {QVec2} pos position in 1/16 world units
 * @property {QVec2} vel velocity in steps of 2 units per second (`VELOCITY_STEP`): `vel.x * VELOCITY_STEP` units/s
 * @property {number} heading 1/256 turn, 0 = +x, growing toward +y
 * @property {number} flags arena: bit 0 alive, 1 boosting, 2 invulnerable
 * @property {number} value arena: a ship's score or a pickup's worth
 */
/** @typedef {Readonly<EntityFields>} EntityState One entity, quantized (PROTOCOL.md 3.2), read-only: rebuilt worlds share it (see `World`). */

/**
 * A `Snapshot` message: the header, and the body still packed (it means something only next
 * to the worlds the header names; {@link applySnapshot} reads it).
 * @typedef {object} Snapshot
 * @property {'Snapshot'} type
 * @property {number} tick the tick described
 * @property {number | null} baseline the acked tick it is encoded against; null: a full snapshot
 * @property {number | null} reference the world the baseline was rebuilt against, which motion is extrapolated from
 * @property {number} lastInput newest `Input.seq` of this client the server applied
 * @property {RoundState | null} round the round state; null: as in the baseline
 * @property {Uint8Array} body the bit stream (section 6)
 */

/**
 * The world one client sees at one tick.
 * The worlds {@link applySnapshot} rebuilds are frozen, their entities too: each is the
 * baseline of deltas to come, and shares what did not change with the worlds around it. Copy
 * what a game wants to change (sort for drawing, predict).
 * @typedef {Readonly<WorldFields>} World
 */
/**
 * The fields of a {@link World}.
 * @typedef {object} WorldFields
 * @property {number} tick
 * @property {RoundState} round
 * @property {readonly EntityState[]} entities sorted by id, ids unique
 */

// ---- the header (PROTOCOL.md 2.4) ---------------------------------------------------------

// The head byte: bits 0-3 the baseline age (0 none, 15: a byte follows), bits 4-6 the
// reference age (0 none, 7: a byte follows), bit 7 the round follows.
const HAS_ROUND = 0x80;
const AGE_FOLLOWS = 15;
const REFERENCE_FOLLOWS = 7;

/** @param {Writer} w @param {RoundState} round */
export function writeRound(w, round) {
  const phase = PHASES.indexOf(round.phase);
  if (phase < 0) throw new EncodeError(`unknown round phase ${round.phase}`);
  w.u16(round.round);
  w.u32(phase);
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

/** @param {number} later @param {number} earlier @returns {number} an age byte, 1 to 255 */
function age(later, earlier) {
  const a = later - earlier;
  if (!Number.isInteger(a) || a < 1 || a > 255) throw new EncodeError(`snapshot age ${a} is not 1 to 255`);
  return a;
}

/**
 * Writes a snapshot after its message tag: the header, then the body as it is.
 * @param {Writer} w
 * @param {Snapshot} s
 */
export function writeSnapshot(w, s) {
  if (s.baseline === null && (s.reference !== null || s.round === null)) {
    throw new EncodeError('a full snapshot has no reference and carries its round');
  }
  const baselineAge = s.baseline === null ? 0 : age(s.tick, s.baseline);
  const referenceAge = s.baseline !== null && s.reference !== null ? age(s.baseline, s.reference) : 0;
  const baselineField = Math.min(baselineAge, AGE_FOLLOWS);
  const referenceField = Math.min(referenceAge, REFERENCE_FOLLOWS);
  w.u8(baselineField | (referenceField << 4) | (s.round ? HAS_ROUND : 0));
  if (baselineField === AGE_FOLLOWS) w.u8(baselineAge);
  if (referenceField === REFERENCE_FOLLOWS) w.u8(referenceAge);
  w.leb128(s.tick);
  w.leb128(s.lastInput);
  if (s.round) writeRound(w, s.round);
  w.bytes(s.body);
}

/**
 * Reads a snapshot after its message tag: the header, and every byte after it as the body.
 * @param {Reader} r
 * @returns {Snapshot}
 */
export function readSnapshot(r) {
  const invalid = (/** @type {string} */ why) => new DecodeError('InvalidSnapshotHeader', why);
  const head = r.u8();
  /** An age from its head field, or from the byte after its escape, which must not fit the field. */
  const readAge = (/** @type {number} */ field, /** @type {number} */ escape) => {
    if (field < escape) return field;
    const a = r.u8();
    if (a < escape) throw invalid(`an escaped age of ${a}`);
    return a;
  };
  const baselineAge = readAge(head & 0x0f, AGE_FOLLOWS);
  const referenceAge = readAge((head >> 4) & 0x07, REFERENCE_FOLLOWS);
  const tick = r.leb128();
  const lastInput = r.leb128();
  let baseline = null;
  if (baselineAge !== 0) {
    if (baselineAge > tick) throw invalid('a baseline before tick 0');
    baseline = tick - baselineAge;
  }
  let reference = null;
  if (referenceAge !== 0) {
    if (baseline === null) throw invalid('a reference without a baseline');
    if (referenceAge > baseline) throw invalid('a reference before tick 0');
    reference = baseline - referenceAge;
  }
  const round = head & HAS_ROUND ? readRound(r) : null;
  if (baseline === null && round === null) throw invalid('a full snapshot without its round');
  const body = r.fixed(r.bytes.length - r.pos);
  return { type: 'Snapshot', tick, baseline, reference, lastInput, round, body };
}

// ---- the bit stream (PROTOCOL.md 6.3) -----------------------------------------------------

/** Longest `z + k` of an Exp-Golomb code: every value fits 32 bits. */
const MAX_EG_BITS = 32;

/**
 * Why a snapshot could not be applied (PROTOCOL.md 6.6). The client drops the snapshot and
 * acks nothing new; the server falls back to what it acked, or to a full snapshot.
 * @typedef {'BaselineMismatch' | 'ReferenceMismatch' | 'MissingBaseline' | 'Truncated' | 'InvalidCode'
 *   | 'OutOfRange' | 'DuplicateEntity' | 'TooManyEntities' | 'TrailingBits'} ApplyErrorKind
 */
export class ApplyError extends Error {
  /** @param {ApplyErrorKind} kind @param {string} [detail] */
  constructor(kind, detail) {
    super(detail ? `${kind}: ${detail}` : kind);
    this.name = 'ApplyError';
    /** @type {ApplyErrorKind} */
    this.kind = kind;
  }
}

/** Reads a body bit by bit, least significant bit of each byte first. */
export class BitReader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    /** Bits read so far. */
    this.at = 0;
    this.limit = bytes.length * 8;
  }

  bit() {
    const at = this.at;
    if (at >= this.limit) throw new ApplyError('Truncated');
    this.at = at + 1;
    return (this.bytes[at >>> 3] >>> (at & 7)) & 1;
  }

  /** `u(n)`, n <= 32, as a non-negative number. @param {number} n */
  bits(n) {
    let value = 0;
    for (let i = 0, unit = 1; i < n; i++, unit *= 2) if (this.bit()) value += unit;
    return value;
  }

  /** `eg(k)`. @param {number} k */
  eg(k) {
    let zeros = 0;
    while (!this.bit()) {
      zeros += 1;
      if (zeros + k > MAX_EG_BITS) throw new ApplyError('InvalidCode', 'an Exp-Golomb code over 32 bits');
    }
    const n = zeros + k;
    const value = 2 ** n + this.bits(n) - 2 ** k;
    if (value > 0xffffffff) throw new ApplyError('InvalidCode', 'an Exp-Golomb value over 32 bits');
    return value;
  }

  /** `se(k)`: zigzag back to a signed value. @param {number} k */
  se(k) {
    const z = this.eg(k);
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** Whether only zero padding bits remain in the last byte and no byte follows. */
  atEnd() {
    const used = Math.ceil(this.at / 8);
    if (this.at === this.bytes.length * 8) return true;
    return used === this.bytes.length && this.at % 8 !== 0 && (this.bytes[used - 1] >>> (this.at % 8)) === 0;
  }
}

/** Writes a body bit by bit. */
export class BitWriter {
  constructor() {
    /** @type {number[]} */
    this.out = [];
    /** Bits used in the last byte (0: start a new one). */
    this.used = 0;
  }

  /** @param {boolean | number} bit */
  bit(bit) {
    if (this.used === 0) this.out.push(0);
    if (bit) this.out[this.out.length - 1] |= 1 << this.used;
    this.used = (this.used + 1) % 8;
  }

  /** `u(n)`: the low `n` bits of `value`, low bit first. @param {number} value @param {number} n */
  bits(value, n) {
    for (let i = 0; i < n; i++) this.bit(Math.floor(value / 2 ** i) % 2);
  }

  /** `eg(k)`. @param {number} value @param {number} k */
  eg(value, k) {
    const w = value + 2 ** k;
    let n = 0; // bits after the leading one of w
    while (2 ** (n + 1) <= w) n++;
    for (let i = k; i < n; i++) this.bit(0);
    this.bit(1);
    this.bits(w - 2 ** n, n);
  }

  /** `se(k)`. @param {number} value @param {number} k */
  se(value, k) {
    this.eg(value >= 0 ? 2 * value : -2 * value - 1, k);
  }

  finish() {
    return Uint8Array.from(this.out);
  }
}

// ---- predictions (PROTOCOL.md 6.2) --------------------------------------------------------

/** Field group bit: velocity residuals, then one bit saying whether position residuals follow
 * (protocol 5: an entity where its new velocity puts it costs 1 bit for its position). */
const MOTION = 1;
const HEADING = 2;
const OTHER = 4;
const KIND = 1;
const FLAGS = 2;
const VALUE = 4;
/** Exp-Golomb orders of the residuals (PROTOCOL.md 6.5). */
const K_VELOCITY = 1;
const K_POSITION = 0;
const K_HEADING = 1;

/** `a / d` rounded half away from zero (`d > 0`), exactly. @param {number} a @param {number} d */
export function roundDiv(a, d) {
  const n = 2 * Math.abs(a) + d;
  const m = 2 * d;
  const q = (n - (n % m)) / m;
  return a < 0 ? -q : q;
}

/** The shortest turn from heading `from` to `to`, -128..=127. @param {number} from @param {number} to */
export function turn(from, to) {
  return ((((to - from + 128) % 256) + 256) % 256) - 128;
}

/** @param {number} v */
const mod256 = (v) => ((v % 256) + 256) % 256;

/**
 * What a client expects of one baseline entity at the new tick.
 * @typedef {{ base: EntityState, vx: number, vy: number, heading: number, ticks: number, tickRate: number }} Prediction
 */

/**
 * @param {EntityState} base
 * @param {{ entity: EntityState, span: number } | null} reference
 * @param {number} ticks from the baseline to the new tick
 * @param {number} tickRate
 * @returns {Prediction}
 */
function predict(base, reference, ticks, tickRate) {
  let vx = base.vel.x;
  let vy = base.vel.y;
  let heading = base.heading;
  if (reference) {
    const old = reference.entity;
    vx += roundDiv((base.vel.x - old.vel.x) * ticks, reference.span);
    vy += roundDiv((base.vel.y - old.vel.y) * ticks, reference.span);
    heading = mod256(base.heading + roundDiv(turn(old.heading, base.heading) * ticks, reference.span));
  }
  return { base, vx, vy, heading, ticks, tickRate };
}

/**
 * One axis of the position after moving from the baseline's with velocity ramping to `vel`.
 * Position steps (1/16 unit) per velocity step (2 units/s) per tick: 32 / tickRate; the sum
 * over the ticks of a velocity ramping linearly from `baseVel` to `vel` is
 * ((k + 1) vel + (k - 1) baseVel) / 2 ticks' worth.
 * @param {Prediction} p @param {number} basePos @param {number} baseVel @param {number} vel
 */
function predictedPos(p, basePos, baseVel, vel) {
  return basePos + roundDiv(((p.ticks + 1) * vel + (p.ticks - 1) * baseVel) * 16, p.tickRate);
}

/** @param {number} v */
function i16(v) {
  if (v < -32768 || v > 32767) throw new ApplyError('OutOfRange', `${v} is not an i16`);
  return v;
}

/** @param {number} v */
function u16(v) {
  if (v > 0xffff) throw new ApplyError('OutOfRange', `${v} is not a u16`);
  return v;
}

/**
 * @param {World | null} baseline
 * @param {World | null} reference
 * @param {number} id
 */
function referenceOf(baseline, reference, id) {
  if (!baseline || !reference) return null;
  const span = baseline.tick - reference.tick;
  const entity = span > 0 ? worldEntity(reference, id) : undefined;
  return entity ? { entity, span } : null;
}

// ---- encoding (the server's side, for tests and tools) ------------------------------------

/**
 * Encodes `next` against `baseline` (and `reference`, the world the baseline was rebuilt
 * against, to extrapolate motion), as the server does: a full snapshot when `baseline` is null.
 * @param {World | null} baseline
 * @param {World | null} reference
 * @param {World} next
 * @param {number} lastInput
 * @param {number} tickRate
 * @returns {Snapshot}
 */
export function encodeSnapshot(baseline, reference, next, lastInput, tickRate) {
  if (next.entities.length > MAX_SNAPSHOT_ENTITIES) throw new EncodeError('more than 1024 entities');
  const ref = baseline ? reference : null;
  if (baseline) age(next.tick, baseline.tick);
  if (baseline && ref) age(baseline.tick, ref.tick);
  const w = new BitWriter();
  const old = baseline ? baseline.entities : [];
  const ticks = next.tick - (baseline ? baseline.tick : 0);
  const rate = Math.max(1, tickRate);
  let spawns = 0;
  let j = 0;
  for (const base of old) {
    while (j < next.entities.length && next.entities[j].id < base.id) {
      j++;
      spawns++;
    }
    const n = next.entities[j];
    if (n && n.id === base.id) {
      writeUpdate(w, predict(base, referenceOf(baseline, ref, base.id), ticks, rate), n);
      j++;
    } else {
      w.bits(0b1111, 4);
    }
  }
  spawns += next.entities.length - j;
  w.eg(spawns, 0);
  /** @type {number | null} */
  let previous = null;
  let o = 0;
  for (const n of next.entities) {
    while (o < old.length && old[o].id < n.id) o++;
    if (o < old.length && old[o].id === n.id) continue;
    w.eg(previous === null ? n.id : n.id - previous - 1, 0);
    w.bits(n.kind, 8);
    for (const v of [n.pos.x, n.pos.y, n.vel.x, n.vel.y]) w.bits(v & 0xffff, 16);
    w.bits(n.heading, 8);
    w.bits(n.flags, 8);
    w.eg(n.value, 0);
    previous = n.id;
  }
  const sameRound = baseline !== null && sameRoundState(baseline.round, next.round);
  return {
    type: 'Snapshot',
    tick: next.tick,
    baseline: baseline ? baseline.tick : null,
    reference: ref ? ref.tick : null,
    lastInput,
    round: sameRound ? null : next.round,
    body: w.finish(),
  };
}

/** @param {RoundState} a @param {RoundState} b */
function sameRoundState(a, b) {
  return a.round === b.round && a.phase === b.phase && a.secondsLeft === b.secondsLeft;
}

/**
 * @param {BitWriter} w
 * @param {Prediction} p
 * @param {EntityState} next
 */
function writeUpdate(w, p, next) {
  const base = p.base;
  const dv = { x: next.vel.x - p.vx, y: next.vel.y - p.vy };
  const dp = {
    x: next.pos.x - predictedPos(p, base.pos.x, base.vel.x, next.vel.x),
    y: next.pos.y - predictedPos(p, base.pos.y, base.vel.y, next.vel.y),
  };
  const dh = turn(p.heading, next.heading);
  const others = (next.kind !== base.kind ? KIND : 0) | (next.flags !== base.flags ? FLAGS : 0) | (next.value !== base.value ? VALUE : 0);
  const groups = (dv.x || dv.y || dp.x || dp.y ? MOTION : 0) | (dh ? HEADING : 0) | (others ? OTHER : 0);
  if (groups === 0) w.bit(0);
  else if (groups === MOTION) w.bits(0b01, 2);
  else if (groups === (MOTION | HEADING)) w.bits(0b011, 3);
  else {
    w.bits(0b0111, 4);
    w.bits(groups, 3);
  }
  if (groups & MOTION) {
    w.se(dv.x, K_VELOCITY);
    w.se(dv.y, K_VELOCITY);
    // One bit: whether position errors follow (0: exactly where the new velocity puts it).
    if (dp.x === 0 && dp.y === 0) w.bit(0);
    else {
      w.bit(1);
      w.se(dp.x, K_POSITION);
      w.se(dp.y, K_POSITION);
    }
  }
  if (groups & HEADING) w.se(dh, K_HEADING);
  if (groups & OTHER) {
    w.bits(others, 3);
    if (others & KIND) w.bits(next.kind, 8);
    if (others & FLAGS) w.bits(next.flags, 8);
    if (others & VALUE) w.eg(next.value, 0);
  }
}

// ---- applying (the client's side) ---------------------------------------------------------

/**
 * Reads one baseline entity's code: the entity at the new tick, or null when removed. An
 * entity that did not change at all (a pickup at rest) is the baseline's own object: worlds
 * share what they have in common.
 * @param {BitReader} r
 * @param {Prediction} p
 * @returns {EntityState | null}
 */
function readUpdate(r, p) {
  let groups;
  if (!r.bit()) groups = 0;
  else if (!r.bit()) groups = MOTION;
  else if (!r.bit()) groups = MOTION | HEADING;
  else if (!r.bit()) {
    groups = r.bits(3);
    if (groups === 0) throw new ApplyError('InvalidCode', 'an empty field group');
  } else return null;
  const base = p.base;
  let vx = p.vx;
  let vy = p.vy;
  let ex = 0;
  let ey = 0;
  if (groups & MOTION) {
    vx += r.se(K_VELOCITY);
    vy += r.se(K_VELOCITY);
    if (r.bit()) {
      ex = r.se(K_POSITION);
      ey = r.se(K_POSITION);
    }
  }
  const px = predictedPos(p, base.pos.x, base.vel.x, vx) + ex;
  const py = predictedPos(p, base.pos.y, base.vel.y, vy) + ey;
  let heading = p.heading;
  if (groups & HEADING) heading = mod256(p.heading + r.se(K_HEADING));
  let { kind, flags, value } = base;
  if (groups & OTHER) {
    const others = r.bits(3);
    if (others === 0) throw new ApplyError('InvalidCode', 'an empty field set');
    if (others & KIND) kind = r.bits(8);
    if (others & FLAGS) flags = r.bits(8);
    if (others & VALUE) value = u16(r.eg(0));
  }
  const samePos = px === base.pos.x && py === base.pos.y;
  const sameVel = vx === base.vel.x && vy === base.vel.y;
  if (samePos && sameVel && heading === base.heading && kind === base.kind && flags === base.flags && value === base.value) {
    return base;
  }
  return Object.freeze({
    id: base.id,
    kind,
    pos: samePos ? base.pos : Object.freeze({ x: i16(px), y: i16(py) }),
    vel: sameVel ? base.vel : Object.freeze({ x: i16(vx), y: i16(vy) }),
    heading,
    flags,
    value,
  });
}

/** @param {number} u a `u(16)` @returns {number} as an i16 */
const signed16 = (u) => (u > 32767 ? u - 65536 : u);

/**
 * Rebuilds the world `snapshot` describes from the baseline and reference it names, in a room
 * ticking `tickRate` times a second (`Welcome.tickRate`). Throws {@link ApplyError}.
 * @param {World | null} baseline
 * @param {World | null} reference
 * @param {Snapshot} snapshot
 * @param {number} tickRate
 * @returns {World}
 */
export function applySnapshot(baseline, reference, snapshot, tickRate) {
  const given = baseline ? baseline.tick : null;
  if (given !== snapshot.baseline) {
    throw new ApplyError('BaselineMismatch', `the snapshot is against ${snapshot.baseline}, given ${given}`);
  }
  let ref = null;
  if (baseline && snapshot.reference !== null) {
    if (!reference || reference.tick !== snapshot.reference) {
      throw new ApplyError('ReferenceMismatch', `the snapshot extrapolates from ${snapshot.reference}, given ${reference ? reference.tick : null}`);
    }
    ref = reference;
  }
  const round = snapshot.round ?? baseline?.round;
  if (!round) throw new ApplyError('InvalidCode', 'a full snapshot without its round');
  const old = baseline ? baseline.entities : [];
  if (old.length > MAX_SNAPSHOT_ENTITIES) throw new ApplyError('TooManyEntities');
  const ticks = snapshot.tick - (baseline ? baseline.tick : 0);
  const rate = Math.max(1, tickRate);
  const r = new BitReader(snapshot.body);
  /** @type {EntityState[]} */
  const kept = [];
  for (const base of old) {
    const next = readUpdate(r, predict(base, referenceOf(baseline, ref, base.id), ticks, rate));
    if (next) kept.push(next);
  }
  const spawns = r.eg(0);
  if (spawns > MAX_SNAPSHOT_ENTITIES || kept.length + spawns > MAX_SNAPSHOT_ENTITIES) {
    throw new ApplyError('TooManyEntities', `${kept.length + spawns} entities`);
  }
  /** @type {EntityState[]} */
  const entities = [];
  let k = 0;
  let o = 0;
  /** @type {number | null} */
  let previous = null;
  for (let i = 0; i < spawns; i++) {
    const gap = r.eg(0);
    /** @type {number} */
    const id = previous === null ? gap : previous + 1 + gap;
    if (id > 0xffffffff) throw new ApplyError('OutOfRange', `entity id ${id}`);
    const kind = r.bits(8);
    const [px, py, vx, vy] = [r.bits(16), r.bits(16), r.bits(16), r.bits(16)].map(signed16);
    const spawn = Object.freeze({
      id, kind, pos: Object.freeze({ x: px, y: py }), vel: Object.freeze({ x: vx, y: vy }),
      heading: r.bits(8), flags: r.bits(8), value: u16(r.eg(0)),
    });
    while (o < old.length && old[o].id < id) o++;
    if (o < old.length && old[o].id === id) throw new ApplyError('DuplicateEntity', `entity ${id} is in the baseline`);
    while (k < kept.length && kept[k].id < id) entities.push(kept[k++]);
    entities.push(spawn);
    previous = id;
  }
  while (k < kept.length) entities.push(kept[k++]);
  if (!r.atEnd()) throw new ApplyError('TrailingBits');
  // Frozen: a world is the baseline of the deltas to come, and shares its unchanged entities
  // with the worlds before and after it. A game that sorted its entities for drawing, or
  // wrote a predicted position into one, would corrupt every later world without a sound
  // (and ack it); frozen, the mistake throws where it is made.
  // The round a snapshot carries is copied, not frozen in place: the message is the caller's.
  const frozenRound = snapshot.round ? Object.freeze({ ...snapshot.round }) : round;
  return Object.freeze({ tick: snapshot.tick, round: frozenRound, entities: Object.freeze(entities) });
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
 * The worlds a client keeps to rebuild snapshots: the newest {@link WorldHistory.CAPACITY},
 * each with the baseline it was rebuilt against. Feed every snapshot to
 * {@link WorldHistory#apply} and ack the tick of each world it returns; on an error ack
 * nothing new and carry on.
 */
export class WorldHistory {
  /** Worlds kept: the server encodes against a world at most 32 ticks old (the newest acked,
   * or the newest its socket took) and extrapolates from that world's own baseline within the
   * same 32 ticks, so 64 cover any ack in flight. */
  static CAPACITY = 64;

  /** @param {number} tickRate the room's (`Welcome.tickRate`) */
  constructor(tickRate) {
    this.tickRate = tickRate;
    /** @type {{ world: World, baseline: number | null }[]} oldest first, ticks strictly increasing */
    this.kept = [];
  }

  /**
   * Rebuilds and keeps the world `snapshot` describes; throws {@link ApplyError}.
   * @param {Snapshot} snapshot
   * @returns {World}
   */
  apply(snapshot) {
    const find = (/** @type {number} */ tick) => {
      const world = this.get(tick);
      if (!world) throw new ApplyError('MissingBaseline', `tick ${tick} is not kept`);
      return world;
    };
    const baseline = snapshot.baseline === null ? null : find(snapshot.baseline);
    const reference = baseline && snapshot.reference !== null ? find(snapshot.reference) : null;
    const world = applySnapshot(baseline, reference, snapshot, this.tickRate);
    const entry = { world, baseline: snapshot.baseline };
    const at = this.kept.findIndex((k) => k.world.tick >= world.tick);
    if (at < 0) this.kept.push(entry);
    else if (this.kept[at].world.tick === world.tick) this.kept[at] = entry;
    else this.kept.splice(at, 0, entry);
    while (this.kept.length > WorldHistory.CAPACITY) {
      // Evict the oldest, never the world just rebuilt (a server may resend an old tick).
      this.kept.splice(this.kept[0] === entry ? 1 : 0, 1);
    }
    return world;
  }

  /** @param {number} tick */
  get(tick) {
    return this.kept.find((k) => k.world.tick === tick)?.world;
  }

  /** The baseline the world of `tick` was rebuilt against. @param {number} tick */
  baselineOf(tick) {
    return this.kept.find((k) => k.world.tick === tick)?.baseline ?? null;
  }

  latest() {
    return this.kept.length ? this.kept[this.kept.length - 1].world : undefined;
  }

  clear() {
    this.kept = [];
  }
}
