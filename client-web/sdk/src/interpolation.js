// Interpolation: other entities are drawn a little in the past, between the two received
// worlds around that moment, so they move smoothly at any frame rate, as far behind as the
// network's jitter needs. Sans-IO: the caller passes arrival times and the render time.

import { worldEntity } from './snapshot.js';
import { VELOCITY_STEP } from './constants.js';

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
/** The adaptive delay's most, in ticks (267 ms at 30 Hz): past it, a late world freezes what is drawn for a moment. */
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
   * @param {object} options
   * @param {number} options.tickRate ticks per second (from `Welcome`)
   * @param {number} [options.delayTicks] how far behind to draw, fixed; by default it adapts
   *   to the jitter, from {@link MIN_DELAY_TICKS} to {@link MAX_DELAY_TICKS}
   * @param {number} [options.capacity] worlds kept (default 32)
   */
  constructor({ tickRate, delayTicks, capacity = 32 }) {
    this.periodMs = 1000 / Math.max(1, tickRate);
    /** The delay drawn at now, in ticks (fractional while it adapts). */
    this.delayTicks = delayTicks ?? MIN_DELAY_TICKS;
    /** Whether the delay follows the jitter. */
    this.adaptive = delayTicks === undefined;
    this.capacity = capacity;
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
    this.worlds.push(world);
    if (this.worlds.length > this.capacity) this.worlds.shift();
    const base = receivedAt - world.tick * this.periodMs;
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
    return Math.min(...bases) > drawnPast && spread >= (STEP_WORLDS - 1) * this.periodMs * 0.5;
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
   * around it; an entity present in only the later one appears as it is there. Past the
   * newest world, entities hold there (never extrapolated more than a tick).
   * @param {number} now
   * @returns {{ tick: number, entities: RenderEntity[], world: World | undefined }}
   */
  sample(now) {
    const newest = this.latest();
    if (!newest) return { tick: 0, entities: [], world: undefined };
    const tick = this.renderTick(now);
    let i = this.worlds.length - 1;
    while (i > 0 && this.worlds[i - 1].tick > tick) i--;
    const to = this.worlds[i];
    const from = i > 0 ? this.worlds[i - 1] : to;
    if (tick < to.tick && from === to) {
      // Before the oldest world held (the first worlds of a connection, drawn two ticks
      // behind): hold the oldest. The newest here would be ahead of the worlds drawn next,
      // and everything would jump back once the render time reached them.
      return { tick, world: to, entities: to.entities.map(toRenderEntity) };
    }
    if (tick >= newest.tick || from === to) {
      const ahead = Math.min(Math.max(tick - newest.tick, 0), 1) * this.periodMs / 1000;
      return {
        tick,
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
      if (Math.hypot(b.x - a.x, b.y - a.y) > 200) return t < 0.5 ? a : b;
      return {
        ...b,
        x: a.x + (b.x - a.x) * t,
        y: a.y + (b.y - a.y) * t,
        vx: a.vx + (b.vx - a.vx) * t,
        vy: a.vy + (b.vy - a.vy) * t,
        heading: lerpAngle(a.heading, b.heading, t),
      };
    });
    return { tick, world: to, entities };
  }
}
