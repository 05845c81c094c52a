// Interpolation: other entities are drawn a little in the past, between the two received
// worlds around that moment, so they move smoothly at any frame rate, as far behind as the
// network's jitter needs. A stalled downlink leaves the render time past the newest world:
// entities then move on by their velocity for a while (250 ms), and when the worlds come again
// more than a tick overdue the difference from what was drawn is taken up over 200 ms rather
// than jumped (a difference of more than 200 units is jumped, whole). Sans-IO: the
// caller passes arrival times and the render time. The Rust client's `Interpolation`
// (client/src/interpolation.rs) is the same algorithm with the same constants.

import { worldEntity } from './snapshot.js';
import { VELOCITY_STEP } from './constants.js';
import { numberOption } from './options.js';

/** @import { World } from './snapshot.js' */
/** @import { EntityState } from './snapshot.js' */

/**
 * An entity ready to draw, in world units and radians.
 * @typedef {object} RenderEntity
 * @property {number} id
 * @property {number} kind
 * @property {number} x
 * @property {number} y
 * @property {number} vx units per second (the wire's `vel.x` times `VELOCITY_STEP`)
 * @property {number} vy units per second
 * @property {number} heading radians, 0 = +x, growing toward +y
 * @property {number} flags
 * @property {number} value
 */

const TAU = Math.PI * 2;
/** Arrival bases the clock follows the earliest of (two seconds at 30 Hz). */
const BASES_KEPT = 60;
/** Worlds in a row that, all late enough to be drawn past and arriving at the tick rate, show the server's schedule moved. */
const STEP_WORLDS = 8;
/** The adaptive delay's least, in ticks: a steady link draws this far behind. */
export const MIN_DELAY_TICKS = 2;
/** The adaptive delay's most, in ticks (267 ms at 30 Hz): past it, a late world leaves the render time past the newest world (extrapolated, then held) for a moment. */
export const MAX_DELAY_TICKS = 8;
/** Worlds whose lateness the adaptive delay reads (three seconds at 30 Hz). */
const LATENESS_KEPT = 90;
/** The share of worlds the adaptive delay waits for, whatever their lateness: 9 in 10. */
const LATENESS_QUANTILE = 0.9;
/** Lateness past which a world was held up (a stalled link), not jittered, in ms: left out of the delay. */
const HELD_UP_MS = 300;
/** How fast the adaptive delay grows and shrinks, in ticks per world: time runs 10% slower for a moment as it grows, 2% faster as it shrinks, so neither shows. */
const DELAY_GROWTH = 0.1;
const DELAY_SHRINK = 0.02;
/** A move between two worlds longer than this, in world units, is a respawn: drawn as a jump, not a sweep across the map; a difference to settle longer than this is jumped too. */
const RESPAWN_DISTANCE = 200;
/** How long past the newest world entities move on by their velocity before they hold, in ms, by default (Source's default `cl_extrapolate_amount`). */
export const DEFAULT_EXTRAPOLATE_MS = 250;
/** How long the difference between what was drawn and what the worlds say after a stall is taken up over, in ms, by default. */
export const DEFAULT_SETTLE_MS = 200;
/** The most `extrapolateMs` and `settleMs` take, in ms. */
const MOST_EXTRAPOLATE_OR_SETTLE_MS = 1000;
/** How long after the first world of a stall's burst the rest is waited for, at most, before the easing starts, in ms: a slow link lets a burst of many worlds through over tens of ms, and the difference to ease (or jump) is known only once they are in. */
const BURST_MS = 250;

/**
 * A time option in ms, within 0 to 1 s (an infinity too, as the Rust client's `Duration::MAX`);
 * its default if it is not a number, or NaN.
 * @param {number} value @param {number} fallback
 */
const msOption = (value, fallback) => (typeof value === 'number' && !Number.isNaN(value) ? Math.min(MOST_EXTRAPOLATE_OR_SETTLE_MS, Math.max(0, value)) : fallback);

/**
 * How an easing after a stall takes up each entity's difference, from when (`from`), by id.
 * @typedef {{ from: number, offsets: Map<number, { dx: number, dy: number, turn: number }> }} Easing
 */
/**
 * What was drawn when the worlds came again after a stall: see `InterpolationBuffer.settling`.
 * @typedef {{ drawn: Map<number, RenderEntity>, tick: number, held: number, taken: number, easing: Easing | null }} Settling
 */

/** @param {EntityState} e @returns {RenderEntity} */
export function toRenderEntity(e) {
  return {
    id: e.id, kind: e.kind, x: e.pos.x / 16, y: e.pos.y / 16,
    vx: e.vel.x * VELOCITY_STEP, vy: e.vel.y * VELOCITY_STEP,
    heading: (e.heading * TAU) / 256, flags: e.flags, value: e.value,
  };
}

/** @param {number} a @param {number} b @param {number} t radians, the short way round */
export function lerpAngle(a, b, t) {
  const diff = ((((b - a) % TAU) + TAU + Math.PI) % TAU) - Math.PI;
  return a + diff * t;
}

/**
 * Keeps the last worlds received and answers "what does the world look like at render time".
 * Render time runs `delayTicks` behind the newest tick expected to have arrived, on a clock
 * that follows the earliest arrivals (the least delayed ones), so jitter never runs it past
 * the data. Unless fixed, the delay adapts: as many ticks as 9 in 10 worlds come late by, plus
 * one, from 2 on a steady link up to 8 (a link with ±60 ms of jitter needs about 4).
 */
export class InterpolationBuffer {
  /**
   * @param {object} options `tickRate`, `delayTicks` and `capacity` are checked: anything but a
   *   number throws a TypeError, and a number out of its range a RangeError, naming the option
   * @param {number} options.tickRate ticks per second (from `Welcome`; a finite number > 0)
   * @param {number} [options.delayTicks] how far behind to draw, fixed (a finite number >= 0);
   *   by default it adapts to the jitter, from {@link MIN_DELAY_TICKS} to {@link MAX_DELAY_TICKS}
   * @param {number} [options.capacity] worlds kept (default 32; an integer >= 2, the two drawn
   *   between)
   * @param {number} [options.extrapolateMs] how long past the newest world, when none comes
   *   in time (a stalled downlink), entities move on by their velocity before they hold
   *   (default 250, at most 1000): a ship on a straight course crosses a stall that long
   *   seamlessly, one that turned meanwhile is drawn off course, the more so the longer the
   *   stall; 0 holds at once, and every stall freezes
   * @param {number} [options.settleMs] how long the difference between what was drawn and what
   *   the worlds say, when they come again more than a tick overdue, is taken up over, quickly
   *   at first then easing (default 200, at most 1000); 0 jumps there at once. While the
   *   burst after a stall is still coming (at most 250 ms), each frame interpolates the
   *   entities twice
   */
  constructor(options) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError('InterpolationBuffer needs its options: { tickRate } at least (the Welcome\'s tickRate)');
    }
    const { tickRate, delayTicks, extrapolateMs = DEFAULT_EXTRAPOLATE_MS, settleMs = DEFAULT_SETTLE_MS } = options;
    // Checked, not clamped: a tick rate of 0 drew at 1 Hz, a negative delay past the newest
    // world, and a capacity under 2 nothing to draw between, all without a word.
    if (tickRate === undefined || tickRate === null) throw new TypeError('tickRate is missing: pass the Welcome\'s tickRate');
    this.periodMs = 1000 / numberOption('tickRate', tickRate, 0, { min: 0, above: true });
    /** The delay drawn at now, in ticks (fractional while it adapts). */
    this.delayTicks = numberOption('delayTicks', delayTicks, MIN_DELAY_TICKS, { min: 0 });
    /** Whether the delay follows the jitter. */
    this.adaptive = delayTicks === undefined || delayTicks === null;
    this.capacity = numberOption('capacity', options.capacity, 32, { min: 2, integer: true });
    this.extrapolateMs = msOption(extrapolateMs, DEFAULT_EXTRAPOLATE_MS);
    this.settleMs = msOption(settleMs, DEFAULT_SETTLE_MS);
    /**
     * What was drawn when the worlds came again after a stall: the entities then (`drawn`, by
     * id, the rest of an easing before included), the render tick then, the newest world then
     * (`held`) and when (`taken`). Until its burst is in, the drawing goes on as the stall drew
     * it (from the worlds up to `held`); then (`easing`) the difference between that and where
     * the whole burst puts each entity (`offsets`, by id: only those of 200 units or less, the
     * others are jumped) is added to what is drawn, less and less over `settleMs` from `from`.
     * @type {Settling | null}
     */
    this.settling = null;
    /**
     * Whether the render time has been past the newest world since `settling` was taken: the
     * worlds of its burst still coming are eased from what was drawn when the stall ended, not
     * from where the first of them moved the drawing.
     */
    this.stalled = false;
    /** When the last world came: worlds closer together than a tick are one burst. */
    this.lastPush = 0;
    /** @type {World[]} ticks ascending */
    this.worlds = [];
    /** Local time of tick 0 as the clock sees it. @type {number | null} */
    this.clockBase = null;
    /** @type {number[]} recent `arrival - tick * period` values of worlds not late, which the clock follows */
    this.bases = [];
    /** @type {number[]} the last worlds' `arrival - tick * period`, late or not */
    this.recentBases = [];
    /** @type {number[]} their arrival times */
    this.arrivals = [];
    /** @type {number[]} how late recent worlds came after the clock expected them, in ms */
    this.lateness = [];
  }

  /** @param {World} world @param {number} receivedAt */
  push(world, receivedAt) {
    const last = this.worlds[this.worlds.length - 1];
    if (last && world.tick <= last.tick) {
      // A tick far behind the newest is no late arrival (a connection delivers in order) but
      // a new world: a server that restarted counts from 0 again. Dropped like a late one, it
      // and every tick after it until the old count is passed would be, and the drawing would
      // freeze: start over from it (the clock snaps to it, as for a first world).
      if (last.tick - world.tick <= this.capacity) return;
      this.clear();
    }
    // A burst whose wait ran out before this world came is eased from then, as `sample` has
    // drawn it since.
    const over = this.settling && this.waitOver(this.settling, receivedAt);
    if (this.settling && over) this.settling.easing = over;
    const settling = this.settlingAt(receivedAt);
    const drawnBefore = this.renderTick(receivedAt);
    const clockBefore = { clockBase: this.clockBase, delayTicks: this.delayTicks };
    const newestBefore = this.latest()?.tick;
    this.followClock(world.tick, receivedAt);
    const drawnAfter = this.renderTick(receivedAt);
    // The clock snapped (to a room's moved schedule) while a stall is drawn or eased: what was
    // drawn just before is where the drawing goes on from, not where the render time's step
    // back or on would put it (73 to 109 units away).
    /** @type {Map<number, RenderEntity> | null} */
    let drawn = null;
    if (Math.abs(drawnAfter - drawnBefore) > 1 && (settling || this.easingAt(receivedAt))) {
      const clockAfter = { clockBase: this.clockBase, delayTicks: this.delayTicks };
      Object.assign(this, clockBefore);
      drawn = new Map(this.sample(receivedAt).entities.map((e) => [e.id, e]));
      Object.assign(this, clockAfter);
    }
    this.worlds.push(world);
    if (this.worlds.length > this.capacity) this.worlds.shift();
    if (settling) {
      this.settling = settling;
      this.stalled = true;
    }
    if (drawn && this.settling && !this.settling.easing) {
      // A burst still waited for: its drawing goes on from what was drawn.
      this.settling.drawn = drawn;
      this.settling.tick = drawnAfter;
    } else if (drawn && newestBefore !== undefined) {
      // An easing: a new one, from what was drawn.
      /** @type {Settling} */
      const fresh = { drawn, tick: drawnAfter, held: newestBefore, taken: receivedAt - BURST_MS, easing: null };
      fresh.easing = { from: receivedAt, offsets: this.measure(fresh, drawnAfter) };
      this.settling = fresh;
    } else if (this.settling && !this.settling.easing) {
      // The clock moved gently: a burst still waited for keeps drawing what it drew.
      this.settling.tick += drawnAfter - drawnBefore;
    }
    this.lastPush = receivedAt;
    this.startEasing(receivedAt);
  }

  /**
   * Moves the clock for a world of `tick` that came at `receivedAt`, and the delay with the
   * lateness it shows.
   * @param {number} tick @param {number} receivedAt
   */
  followClock(tick, receivedAt) {
    const base = receivedAt - tick * this.periodMs;
    this.recentBases.push(base);
    this.arrivals.push(receivedAt);
    if (this.recentBases.length > STEP_WORLDS) {
      this.recentBases.shift();
      this.arrivals.shift();
    }
    if (this.clockBase !== null) this.noteLateness(base - this.clockBase);
    // A world later than the delay was held up (jitter, or a link that stalled and let a
    // burst through): when it came says nothing of when the server made it. Followed, a burst
    // of them after a stall of seconds moved the clock late, and the buffer replayed them.
    const late = this.clockBase !== null && base > this.clockBase + this.delayTicks * this.periodMs;
    if (!late) {
      this.bases.push(base);
      if (this.bases.length > BASES_KEPT) this.bases.shift();
    }
    if (this.scheduleMoved()) {
      // A room that stalled skips the ticks it missed: every tick since comes later by the
      // same amount, for good. The earlier bases describe a schedule that is gone, and
      // following their minimum would draw past the newest world for seconds: follow the
      // recent ones (gently, as ever: a jump would show).
      this.bases = this.recentBases.slice();
    }
    const target = Math.min(...this.bases);
    if (this.clockBase === null || Math.abs(target - this.clockBase) > 500) {
      this.clockBase = target; // first world, or the server restarted: snap
    } else {
      this.clockBase += (target - this.clockBase) * 0.1; // follow gently
    }
    if (this.adaptive) this.adaptDelay();
  }

  /**
   * What is drawn at `at`, to ease from, when a world arriving then ends a stall: the render
   * time is past the newest world (what is drawn is a guess, or held, and the world may put it
   * elsewhere), the world after the newest is more than a tick overdue, and this stall has
   * nothing to ease from yet. A world a tick
   * late or less (jitter) is drawn as it says, as before a stall: eased from, each would start
   * another easing before the last ended, and the easings would add up to a lag behind where
   * the worlds put the entities.
   * @param {number} at
   */
  settlingAt(at) {
    const newest = this.latest();
    if (!newest) return null;
    const tick = this.renderTick(at);
    if (tick <= newest.tick) this.stalled = false; // caught up: the next stall is another
    // Drawing a guess, and the world after the newest more than a tick late by the clock
    // (drawn 0 or 1 ticks behind, an on-time world comes with the render time a tick past the
    // newest).
    const overdue = tick > newest.tick && tick + this.delayTicks > newest.tick + 2;
    // A world after a gap clearly longer than the worlds' pace (two ticks), though, ends another
    // stall (a world was let through, then the link stalled again): eased from what is drawn
    // now, the rest of the last easing included.
    const apart = at - this.lastPush > 2 * this.periodMs;
    const easing = this.stalled && !apart && this.easingAt(at);
    if (!overdue || easing || this.settleMs === 0) return null;
    let taken = at;
    // The same burst, its easing over (a long one, draining slowly): eased at once, not waited
    // for again.
    if (this.settling && this.stalled && !apart) taken = at - BURST_MS;
    // Still waiting for the burst: the wait ends when it would have.
    else if (this.settling && !this.settling.easing) taken = this.settling.taken;
    const drawn = new Map(this.sample(at).entities.map((e) => [e.id, e]));
    return { drawn, tick, held: newest.tick, taken, easing: null };
  }

  /**
   * Whether what was drawn when the last stall ended is still added at `now`: its burst is
   * still coming, or its easing is not over.
   * @param {number} now
   */
  easingAt(now) {
    const easing = this.settling?.easing;
    return this.settling !== null && (!easing || now - easing.from < this.settleMs);
  }

  /**
   * Starts easing what was drawn when the last stall ended, at `at`, once its burst is in: the
   * worlds reach the render time (or, drawn less than two ticks behind, are no longer
   * overdue). Each entity's difference is measured once, between the drawing the stall would
   * have gone on with and where the whole burst puts it: one too long to ease is jumped, whole.
   * @param {number} at
   */
  startEasing(at) {
    const settling = this.settling;
    if (!settling || settling.easing) return;
    const tick = this.renderTick(at);
    const newest = this.latest();
    if (!newest || newest.tick < Math.min(tick, tick + this.delayTicks - 2)) return;
    settling.easing = { from: at, offsets: this.measure(settling, tick) };
  }

  /**
   * The easing of `settling` from the end of its wait for the burst, measured then, if the wait
   * is over at `now` and no easing started before; else null.
   * @param {Settling} settling @param {number} now
   * @returns {Easing | null}
   */
  waitOver(settling, now) {
    const from = settling.taken + BURST_MS;
    if (settling.easing || now < from) return null;
    return { from, offsets: this.measure(settling, this.renderTick(from)) };
  }

  /**
   * Each entity's difference at render tick `tick` between the drawing the stall of `settling`
   * would have gone on with and where the worlds put it, by id: only those of 200 units or less
   * (the others are jumped, whole).
   * @param {Settling} settling @param {number} tick
   * @returns {Easing['offsets']}
   */
  measure(settling, tick) {
    const held = new Map(this.heldDrawing(settling, tick).map((e) => [e.id, e]));
    /** @type {Map<number, { dx: number, dy: number, turn: number }>} */
    const offsets = new Map();
    for (const e of this.interpolate(tick).entities) {
      const drawn = held.get(e.id);
      if (!drawn) continue;
      const dx = drawn.x - e.x;
      const dy = drawn.y - e.y;
      if (Math.hypot(dx, dy) <= RESPAWN_DISTANCE) offsets.set(e.id, { dx, dy, turn: lerpAngle(e.heading, drawn.heading, 1) - e.heading });
    }
    return offsets;
  }

  /**
   * What the stall would draw at render tick `tick`, its burst still not come: what was drawn
   * when it ended, moved on as the worlds before the burst move it (extrapolated, held). Should
   * those worlds be gone (a burst longer than the buffer), what was drawn.
   * @param {Settling} settling @param {number} tick
   * @returns {RenderEntity[]}
   */
  heldDrawing(settling, tick) {
    const kept = this.worlds.findIndex((w) => w.tick > settling.held);
    const count = kept === -1 ? this.worlds.length : kept;
    if (count === 0 || this.worlds[count - 1].tick !== settling.held) return [...settling.drawn.values()].map((e) => ({ ...e }));
    const then = new Map(this.interpolate(settling.tick, count).entities.map((e) => [e.id, e]));
    const drawn = [];
    for (const e of this.interpolate(tick, count).entities) {
      const was = settling.drawn.get(e.id);
      const there = then.get(e.id);
      if (!was || !there) continue;
      e.x += was.x - there.x;
      e.y += was.y - there.y;
      e.heading += lerpAngle(there.heading, was.heading, 1) - there.heading;
      drawn.push(e);
    }
    return drawn;
  }

  /** @param {number} lateMs how late a world came after the clock expected it */
  noteLateness(lateMs) {
    if (lateMs > HELD_UP_MS) return;
    this.lateness.push(Math.max(0, lateMs));
    if (this.lateness.length > LATENESS_KEPT) this.lateness.shift();
  }

  /** Moves the delay a step toward what the recent lateness needs. */
  adaptDelay() {
    if (this.lateness.length === 0) return;
    const sorted = this.lateness.slice().sort((a, b) => a - b);
    const late = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * LATENESS_QUANTILE))];
    const wanted = Math.min(MAX_DELAY_TICKS, Math.max(MIN_DELAY_TICKS, late / this.periodMs + 1));
    const step = Math.min(DELAY_GROWTH, Math.max(-DELAY_SHRINK, wanted - this.delayTicks));
    this.delayTicks += step;
  }

  /**
   * Whether the last worlds all came so long after the clock expects them that each was
   * already due to be drawn when it arrived (later than the `delayTicks` the clock keeps in
   * hand), one by one at the tick rate: the server's tick schedule moved later. Lateness the
   * delay absorbs is jitter and is left to the gentle following; worlds held up by the network
   * are late too, but arrive together once it lets them through, and the ones after are on
   * time again: the clock must not follow those.
   */
  scheduleMoved() {
    if (this.clockBase === null || this.recentBases.length < STEP_WORLDS) return false;
    const bases = this.recentBases;
    const arrivals = this.arrivals;
    const spread = arrivals[arrivals.length - 1] - arrivals[0];
    const drawnPast = this.clockBase + Math.max(1, this.delayTicks) * this.periodMs;
    // One by one, at the ticks' own pace: spread over most of the time their ticks span (a
    // burst draining at 20 ms a world is not), and most gaps between them near a tick (a world
    // let through early in a stall and seven of the burst after it span as long, but most of
    // their gaps are 0).
    const last = arrivals.length - 1;
    const ticksSpan = (arrivals[last] - bases[last]) - (arrivals[0] - bases[0]);
    const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]).sort((a, b) => a - b);
    const paced = gaps[Math.floor(gaps.length / 2)] >= this.periodMs * 0.5;
    return Math.min(...bases) > drawnPast && spread >= ticksSpan * 0.8 && paced;
  }

  /**
   * Forgets everything: for a `welcome` with `resumed: false` (a new seat, perhaps in a new room
   * or on a restarted server, whose ticks are not those drawn so far).
   */
  clear() {
    this.worlds = [];
    this.bases = [];
    this.recentBases = [];
    this.arrivals = [];
    this.lateness = [];
    this.clockBase = null;
    this.settling = null;
    this.stalled = false;
    this.lastPush = 0;
  }

  /** The tick (fractional) drawn at `now`. @param {number} now */
  renderTick(now) {
    if (this.clockBase === null) return 0;
    return (now - this.clockBase) / this.periodMs - this.delayTicks;
  }

  /** The newest world, if one was pushed. @returns {World | undefined} */
  latest() {
    return this.worlds[this.worlds.length - 1];
  }

  /**
   * The entities at render time: positions and headings interpolated between the worlds
   * around it; an entity present in only the later one appears as it is there. Before the
   * oldest world held, that world is held; past the newest, entities move on by their velocity
   * for up to `extrapolateMs`, then hold. After a stall, what was drawn eases to where the
   * worlds say over `settleMs` (while its burst is still coming, at most 250 ms, the stall's
   * drawing goes on: an entity the burst brings appears once it is in). `staleMs` says how far
   * the render time is past the newest
   * world (0 while it is between two): past `extrapolateMs` what is drawn is held, and a game
   * may show that its link stalled.
   * @param {number} now
   * @returns {{ tick: number, entities: RenderEntity[], world: World | undefined, staleMs: number }}
   */
  sample(now) {
    const tick = this.renderTick(now);
    const drawing = this.interpolate(tick);
    const { world } = drawing;
    let { entities } = drawing;
    let easing = this.settling?.easing;
    if (this.settling && !easing) {
      // The burst still coming: as the stall drew; its wait over and no world since: eased
      // from then, as `push` will.
      easing = this.waitOver(this.settling, now);
      if (!easing) entities = this.heldDrawing(this.settling, tick);
    }
    if (easing && now - easing.from < this.settleMs) {
      const left = 1 - Math.max(0, now - easing.from) / this.settleMs;
      const weight = left * left; // quickly at first, easing out
      for (const e of entities) {
        const off = easing.offsets.get(e.id);
        if (!off) continue;
        e.x += off.dx * weight;
        e.y += off.dy * weight;
        e.heading += off.turn * weight;
      }
    }
    const newest = this.latest();
    const staleMs = newest ? Math.max(0, (tick - newest.tick) * this.periodMs) : 0;
    return { tick, entities, world, staleMs };
  }

  /**
   * The world drawn toward at render tick `tick`, and its entities there as the worlds say (no
   * settling added); as if only the `kept` oldest worlds had come, if given.
   * @param {number} tick
   * @param {number} [kept]
   * @returns {{ entities: RenderEntity[], world: World | undefined }}
   */
  interpolate(tick, kept = this.worlds.length) {
    const newest = this.worlds[kept - 1];
    if (!newest) return { entities: [], world: undefined };
    let i = kept - 1;
    while (i > 0 && this.worlds[i - 1].tick > tick) i--;
    const to = this.worlds[i];
    const from = i > 0 ? this.worlds[i - 1] : to;
    if (tick < to.tick && from === to) {
      // Before the oldest world held (the first worlds of a connection, drawn two ticks
      // behind): hold the oldest. The newest here would be ahead of the worlds drawn next,
      // and everything would jump back once the render time reached them.
      return { world: to, entities: to.entities.map(toRenderEntity) };
    }
    if (tick >= newest.tick || from === to) {
      const ahead = Math.min(Math.max((tick - newest.tick) * this.periodMs, 0), this.extrapolateMs) / 1000;
      return {
        world: newest,
        entities: newest.entities.map((e) => {
          const r = toRenderEntity(e);
          r.x += r.vx * ahead;
          r.y += r.vy * ahead;
          return r;
        }),
      };
    }
    const t = Math.min(1, Math.max(0, (tick - from.tick) / (to.tick - from.tick)));
    const entities = to.entities.map((e) => {
      const b = toRenderEntity(e);
      const old = worldEntity(from, e.id);
      if (!old) return b;
      const a = toRenderEntity(old);
      // A jump of more than a few hundred units is a respawn: do not sweep across the map.
      if (Math.hypot(b.x - a.x, b.y - a.y) > RESPAWN_DISTANCE) return t < 0.5 ? a : b;
      return {
        ...b,
        x: a.x + (b.x - a.x) * t,
        y: a.y + (b.y - a.y) * t,
        vx: a.vx + (b.vx - a.vx) * t,
        vy: a.vy + (b.vy - a.vy) * t,
        heading: lerpAngle(a.heading, b.heading, t),
      };
    });
    return { world: to, entities };
  }
}
