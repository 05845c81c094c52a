// Client-side prediction of the own ship: the arena's movement rule (shared/src/motion.rs,
// `ShipMotion::step`, default MotionRules) replayed on the inputs the server has not applied yet.
// Collisions with other ships are left to the server: reconciliation corrects them smoothly.

import { VELOCITY_STEP, quantizeAxis } from '../sdk/index.js';

/** Mirrors `ArenaConfig::default()`. */
export const ARENA = Object.freeze({
  shipRadius: 20,
  thrust: 900,
  boostMultiplier: 1.8,
  maxSpeed: 420,
  boostMaxSpeed: 680,
  drag: 1.2,
  turnRate: 10,
  wallRestitution: 0.6,
  deadZone: 0.05,
  overspeedDecay: 6,
});

const TAU = Math.PI * 2;
/** The wire's heading step (1/256 turn) and position step (1/16 unit). */
const HEADING_STEP = TAU / 256;
const POSITION_SCALE = 16;
/** Inputs replayed at most to carry a correction over: a state older than the session keeps
 * inputs for (`MAX_PENDING_INPUTS`) is snapped to. */
const MAX_REPLAYED = 128;
/** Ticks the server's input queue runs behind a late input before it folds it
 * (server/src/inputs.rs `LATE_ALLOWANCE`). */
const SERVER_LATE_ALLOWANCE = 1;
/** Samples of the link's delays kept (about a second of snapshots): see {@link LinkTiming}. */
const TIMING_KEPT = 32;

/**
 * A stalled uplink, as the server runs it (client/src/prediction.rs `Stall`): the server gives
 * each input the tick it was sent for, or up to {@link SERVER_LATE_ALLOWANCE} ticks later; an
 * input later than that finds its tick gone by, run on the last input the server had, and is
 * folded into the next (its stick dropped). Replaying those inputs too counted every tick of
 * the stall twice, and drew the ship a whole stall ahead of the server's before snapping it
 * back, at every snapshot. So they are left out (`passedBy`, the oldest pending), and while
 * the server still has none of the inputs (its applied input unchanged since the last
 * snapshot) the rest are replayed with the last applied input's stick (`repeated`), as the
 * server runs them for as long as the stall lasts.
 * @typedef {{ passedBy: number, repeated: { x: number, y: number, buttons: number } | null }} Stall
 */

/**
 * The pending inputs as the server will run them through `stall`.
 * @param {import('../sdk/index.js').SentInput[]} inputs
 * @param {Stall | null} stall
 */
const asRun = (inputs, stall) => {
  if (!stall) return inputs;
  const { passedBy, repeated } = stall;
  const kept = inputs.slice(passedBy);
  return repeated ? kept.map((i) => ({ ...i, x: repeated.x, y: repeated.y, buttons: repeated.buttons })) : kept;
};

/**
 * The link's delays, as the snapshots show them: each the least over the last
 * {@link TIMING_KEPT} samples, so jitter and late samples do not move it and a round trip that
 * grew is followed within a second.
 */
class LinkTiming {
  constructor() {
    /** How long after it went out an input was shown applied, ms: sampled only by snapshots
     * that applied a new input, so a stall leaves it as it was. @type {number[]} */
    this.lags = [];
    /** When each snapshot came, less its tick's time, ms: the least came on time. @type {number[]} */
    this.arrivals = [];
  }

  /** @param {number[]} samples @param {number} sample */
  static push(samples, sample) {
    if (samples.length === TIMING_KEPT) samples.shift();
    samples.push(sample);
  }

  /** A snapshot showed a new input applied `lag` ms after it went out. @param {number} lag */
  applied(lag) {
    LinkTiming.push(this.lags, lag);
  }

  /** The least lag between sending an input and seeing it applied, ms, or null. */
  lagFloor() {
    return this.lags.length ? Math.min(...this.lags) : null;
  }

  /**
   * The snapshot of `tick` came at `now`: how much later than one on time, ms.
   * @param {number} tick @param {number} tickMs @param {number} now
   */
  snapshot(tick, tickMs, now) {
    const arrival = now - tick * tickMs;
    LinkTiming.push(this.arrivals, arrival);
    return Math.max(arrival - Math.min(...this.arrivals), 0);
  }
}

/** Rounds half away from zero, as the server's quantization does. */
const roundAway = (/** @type {number} */ v) => Math.sign(v) * Math.round(Math.abs(v));

/** A heading (any angle) on the wire's grid, in [0, 2π). */
const headingOnGrid = (/** @type {number} */ h) =>
  ((roundAway((h / TAU) * 256) % 256 + 256) % 256) * HEADING_STEP;

/**
 * How far a ship moves in `dt` along one axis: the velocity as the wire carries it (steps of
 * {@link VELOCITY_STEP} units/s), in whole position steps, as the server moves it (motion.rs
 * `grid_step`: `quantize_velocity`, then `wire * POSITION_SCALE / VELOCITY_SCALE * dt` rounded).
 * @param {number} v units/s
 * @param {number} dt seconds
 */
export const gridStep = (v, dt) =>
  roundAway(roundAway(v / VELOCITY_STEP) * (POSITION_SCALE * VELOCITY_STEP) * dt) / POSITION_SCALE;

/** @typedef {{ x: number, y: number, vx: number, vy: number, heading: number }} ShipState */

/**
 * One fixed step of one ship, as the server runs it.
 * @param {ShipState} s mutated
 * @param {{ x: number, y: number, buttons: number }} input quantized axes (-127..127) and buttons
 * @param {number} dt seconds
 * @param {{ width: number, height: number }} world
 */
export function stepShip(s, input, dt, world) {
  const c = ARENA;
  let sx = Math.max(input.x, -127) / 127;
  let sy = Math.max(input.y, -127) / 127;
  const len = Math.hypot(sx, sy);
  if (len > 1) { sx /= len; sy /= len; }
  const boosting = (input.buttons & 1) !== 0;
  if (Math.hypot(sx, sy) > c.deadZone) {
    const target = Math.atan2(sy, sx);
    const diff = ((((target - s.heading + Math.PI) % TAU) + TAU) % TAU) - Math.PI;
    // Whole heading steps, at least one, as the server turns (motion.rs `grid_turn`).
    const rate = c.turnRate * dt;
    const maxTurn = rate > 0 ? Math.max(roundAway(rate / HEADING_STEP), 1) * HEADING_STEP : 0;
    const turn = Math.max(-maxTurn, Math.min(maxTurn, diff));
    s.heading = headingOnGrid(s.heading + turn);
  }
  const speedBefore = Math.hypot(s.vx, s.vy);
  const thrust = boosting ? c.thrust * c.boostMultiplier : c.thrust;
  s.vx += sx * thrust * dt;
  s.vy += sy * thrust * dt;
  const drag = Math.exp(-c.drag * dt);
  s.vx *= drag;
  s.vy *= drag;
  const cap = boosting ? c.boostMaxSpeed : c.maxSpeed;
  const limit = speedBefore > cap ? cap + (speedBefore - cap) * Math.exp(-c.overspeedDecay * dt) : cap;
  const speed = Math.hypot(s.vx, s.vy);
  if (speed > limit && speed > 0) {
    s.vx *= limit / speed;
    s.vy *= limit / speed;
  }
  s.x += gridStep(s.vx, dt);
  s.y += gridStep(s.vy, dt);
  const r = c.shipRadius;
  if (s.x < r) { s.x = r; if (s.vx < 0) s.vx *= -c.wallRestitution; }
  if (s.x > world.width - r) { s.x = world.width - r; if (s.vx > 0) s.vx *= -c.wallRestitution; }
  if (s.y < r) { s.y = r; if (s.vy < 0) s.vy *= -c.wallRestitution; }
  if (s.y > world.height - r) { s.y = world.height - r; if (s.vy > 0) s.vy *= -c.wallRestitution; }
}

/**
 * Predicts the own ship: the server's latest state of it, advanced by every input sent since
 * (one tick each), then by the time since the newest input (so motion is smooth between
 * ticks). A correction after a new snapshot is blended in over ~150 ms instead of snapping.
 */
/**
 * The ship at `now`: `server` advanced one tick per input in `inputs`, then by the time since
 * the newest input was sent (at most a tick), so motion is smooth between ticks.
 * @param {import('../sdk/index.js').EntityState} server
 * @param {import('../sdk/index.js').SentInput[]} inputs
 * @param {number} tickRate
 * @param {{ width: number, height: number }} world
 * @param {boolean} playing
 * @param {number} now
 * @param {number | null} [sentAt] when the newest input `server` has applied was sent, for
 *   when `inputs` is empty: the ship flies on from there rather than back to `server`, which
 *   is a whole tick behind once the server has applied everything sent
 * @returns {ShipState}
 */
export function simulate(server, inputs, tickRate, world, playing, now, sentAt = null) {
  const dt = 1 / tickRate;
  /** @type {ShipState} */
  const s = {
    x: server.pos.x / 16, y: server.pos.y / 16,
    vx: server.vel.x * VELOCITY_STEP, vy: server.vel.y * VELOCITY_STEP,
    heading: (server.heading * TAU) / 256,
  };
  if (!playing) return s; // intermission: ships are frozen
  for (const input of inputs) stepShip(s, input, dt, world);
  const from = inputs.length ? inputs[inputs.length - 1].sentAt : sentAt;
  const since = from === null ? 0 : Math.min(Math.max((now - from) / 1000, 0), dt);
  s.x = Math.min(Math.max(s.x + s.vx * since, ARENA.shipRadius), world.width - ARENA.shipRadius);
  s.y = Math.min(Math.max(s.y + s.vy * since, ARENA.shipRadius), world.height - ARENA.shipRadius);
  return s;
}

/**
 * Predicts the own ship from the server's newest state of it and the inputs it has not
 * applied yet. When a new snapshot corrects the prediction, the difference is blended away
 * over ~100 ms instead of snapping (a jump of more than 120 units, a respawn, snaps).
 */
export class ShipPredictor {
  constructor() {
    /** Display offset still to blend away (world units). */
    this.errX = 0;
    this.errY = 0;
    /** @type {import('../sdk/index.js').EntityState | null} */
    this.prevServer = null;
    /** The newest input `prevServer` has applied. */
    this.prevApplied = 0;
    /** @type {import('../sdk/index.js').SentInput[]} */
    this.prevPending = [];
    this.prevTick = -1;
    /** Whether `prevServer`'s round was in play: what was drawn from it, replayed or frozen. */
    this.prevPlaying = true;
    /**
     * The newest input sent, kept once applied: the ship flies on from its send time (see
     * `simulate`). @type {import('../sdk/index.js').SentInput | null}
     */
    this.newest = null;
    /** The stick as the previous frame set it, quantized. @type {{ x: number, y: number, buttons: number } | null} */
    this.stick = null;
    /** How the newest snapshot's pending inputs are run: judged when it came. @type {Stall | null} */
    this.stall = null;
    /** How `prevServer`'s were run. @type {Stall | null} */
    this.prevStall = null;
    /**
     * The newest applied input (`input`: null when no frame saw it sent), and the first tick a
     * snapshot showed it in.
     * @type {{ seq: number, tick: number, input: import('../sdk/index.js').SentInput | null } | null}
     */
    this.appliedSince = null;
    this.link = new LinkTiming();
    /** Inputs frames saw sent, by number, back to the applied one: to find the one applied
     * once it is no longer pending. @type {Map<number, import('../sdk/index.js').SentInput>} */
    this.sent = new Map();
  }

  reset() {
    this.stall = null;
    this.prevStall = null;
    this.appliedSince = null;
    this.link = new LinkTiming();
    this.sent.clear();
    this.errX = 0;
    this.errY = 0;
    this.prevServer = null;
    this.prevApplied = 0;
    this.prevPending = [];
    this.prevTick = -1;
    this.prevPlaying = true;
    this.newest = null;
    this.stick = null;
  }

  /**
   * @param {object} p
   * @param {import('../sdk/index.js').EntityState} p.server the ship in the newest world
   * @param {number} p.serverTick that world's tick
   * @param {import('../sdk/index.js').SentInput[]} p.pending inputs the server has not applied
   * @param {number} p.applied the newest input the server has applied (`Session.lastInputApplied`)
   * @param {{ x: number, y: number, buttons: number }} p.stick the input the session sends now
   *   (`Session.input`, set by this frame)
   * @param {number | null} p.nextSendAt ms, when the session sends its next input (`Session.nextInputAt`)
   * @param {number} [p.inputPeriodMs] ms between the session's inputs (`Session.inputPeriodMs()`);
   *   by default one a tick
   * @param {number} p.tickRate
   * @param {{ width: number, height: number }} p.world
   * @param {boolean} p.playing false in intermission (ships are frozen)
   * @param {number} p.now ms, the clock of `SentInput.sentAt`
   * @param {number} p.frameDt seconds since the last frame
   * @returns {ShipState} where to draw the ship
   */
  predict({ server, serverTick, pending, applied, stick, nextSendAt, tickRate, inputPeriodMs = 1000 / tickRate, world, playing, now, frameDt }) {
    const current = { x: quantizeAxis(stick.x), y: quantizeAxis(stick.y), buttons: stick.buttons };
    // Inputs sent since the previous frame went with the stick it set.
    const sentStick = this.stick ?? current;
    /** @type {import('../sdk/index.js').SentInput | null} */
    let newest = pending[pending.length - 1] ?? this.newest;
    if (!pending.length && newest?.seq !== applied) {
      // Sent and applied between two frames, which on a fast connection is often: no frame saw
      // it pending, but it went at the last point of the session's cadence.
      newest = applied > 0 && nextSendAt !== null
        ? { seq: applied, ...sentStick, sentAt: nextSendAt - inputPeriodMs }
        : null;
    }
    const sentAt = newest ? newest.sentAt : null;
    for (const input of pending) this.sent.set(input.seq, input);
    if (newest) this.sent.set(newest.seq, newest);
    if (!this.prevServer || serverTick !== this.prevTick) {
      this.stall = this.judgeStall(serverTick, tickRate, applied, pending, now);
    }
    for (const seq of this.sent.keys()) if (seq < applied) this.sent.delete(seq);
    const s = simulate(server, asRun(pending, this.stall), tickRate, world, playing, now, sentAt);
    if (this.prevServer && serverTick !== this.prevTick) {
      // Where the previous state puts the ship now, with every input sent since it (the ones no
      // frame saw pending included: leaving one out would take a tick of travel for an error).
      /** @type {Map<number, import('../sdk/index.js').SentInput>} */
      const known = new Map([...this.prevPending, ...pending].map((i) => [i.seq, i]));
      if (newest) known.set(newest.seq, newest);
      const last = newest ? newest.seq : this.prevApplied;
      let jumpX = Infinity;
      let jumpY = Infinity;
      if (last - this.prevApplied <= MAX_REPLAYED) {
        const inputs = [];
        for (let seq = this.prevApplied + 1; seq <= last; seq++) {
          inputs.push(known.get(seq) ?? { seq, ...sentStick, sentAt: now });
        }
        // With the previous state's phase: a round that ended since froze the ship, but what
        // was drawn had flown on, and the correction blends from there.
        const before = simulate(this.prevServer, asRun(inputs, this.prevStall), tickRate, world, this.prevPlaying, now, sentAt);
        jumpX = before.x + this.errX - s.x;
        jumpY = before.y + this.errY - s.y;
      }
      if (Math.hypot(jumpX, jumpY) < 120) {
        this.errX = jumpX;
        this.errY = jumpY;
      } else {
        this.errX = 0;
        this.errY = 0;
      }
    }
    this.prevServer = server;
    this.prevStall = this.stall;
    this.prevApplied = applied;
    this.prevPending = pending.slice();
    this.prevTick = serverTick;
    this.prevPlaying = playing;
    this.newest = newest;
    this.stick = current;
    const decay = Math.exp(-frameDt * 15);
    this.errX *= decay;
    this.errY *= decay;
    return { ...s, x: s.x + this.errX, y: s.y + this.errY };
  }

  /**
   * The stall, if any, a new snapshot of `tick` that came at `now` shows (see {@link Stall}).
   * Two signs tell of it: the ticks its applied input has stood unchanged (at once, while
   * nothing reaches the server), and, while the server catches up with what a stall held back
   * (arriving over several ticks, each part folded as it comes), pending inputs sent longer
   * ago than any input took to be shown applied, judged as of when the snapshot would have
   * come on time (a stalled downlink delivers snapshots late, with inputs that were not late
   * then). An uplink whose delay grew at once looks like a stall until its inputs come, late
   * but not folded: it costs a correction or two.
   * @param {number} tick @param {number} tickRate @param {number} applied
   * @param {import('../sdk/index.js').SentInput[]} pending @param {number} now
   * @returns {Stall | null}
   */
  judgeStall(tick, tickRate, applied, pending, now) {
    const tickMs = 1000 / tickRate;
    let since = this.appliedSince;
    if (!since || since.seq !== applied || since.tick > tick) {
      // Newly applied: a frame saw it sent (if none did, sent and applied between two frames
      // of a slow device, its stick is the one set before it).
      const seen = this.sent.get(applied);
      if (seen) this.link.applied(now - seen.sentAt);
      const input = seen ?? (applied > 0 && this.stick ? { seq: applied, ...this.stick, sentAt: now } : null);
      since = { seq: applied, tick, input };
    }
    this.appliedSince = since;
    const appliedInput = since.input;
    const lateBy = this.link.snapshot(tick, tickMs, now);
    // No stall before the server applied an input of this connection: its schedule starts
    // with the first that reaches it.
    if (!appliedInput) return null;
    // Up to LATE_ALLOWANCE + 1 ticks behind, the server applies late inputs a tick each.
    const unchanged = Math.max(tick - since.tick - (SERVER_LATE_ALLOWANCE + 1), 0);
    // The server is catching up with what a stall held back: the last snapshot showed it
    // running on its last input, or this one more inputs applied than ticks passed (folded).
    // Only then are inputs later than the lag floor taken for folded: a round trip that grew
    // makes them late too, and the server applies every one, on a later schedule.
    const starved = this.stall !== null && this.stall.repeated !== null;
    const folding = this.prevTick >= 0 && tick > this.prevTick && (starved || applied - this.prevApplied > tick - this.prevTick);
    // Later than the lag floor by the allowance, a tick of the server's phase and one of jitter.
    const floor = this.link.lagFloor();
    const due = floor === null || !folding ? -Infinity : now - lateBy - floor - (SERVER_LATE_ALLOWANCE + 2) * tickMs;
    let overdue = 0;
    while (overdue < pending.length && pending[overdue].sentAt < due) overdue++;
    // The newest is always applied, when it comes.
    const passedBy = Math.min(Math.max(unchanged, overdue), Math.max(pending.length - 1, 0));
    if (passedBy === 0) return null;
    const repeated = tick > since.tick ? { x: appliedInput.x, y: appliedInput.y, buttons: appliedInput.buttons } : null;
    return { passedBy, repeated };
  }
}
