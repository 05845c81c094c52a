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
 * No new snapshot for this long, ms, and the link is taken for stalled both ways (see
 * {@link Silence}): past the jitter of a poor mobile link (snapshots 150 ms apart), and when
 * the interpolation holds the other ships (its default `extrapolateMs`).
 */
const SILENT_MS = 250;
/**
 * How long without a new snapshot is a silence, ms, for ticks `tickMs` apart: {@link SILENT_MS},
 * or two ticks at a tick rate below 8 Hz (`--tick-rate` goes down to 1), whose snapshots come
 * further apart than that on a steady link.
 * @param {number} tickMs
 */
const silentMs = (tickMs) => Math.max(SILENT_MS, 2 * tickMs);
/**
 * How fast a correction is eased away at most, units/s (three times a boosting ship's top
 * speed): a large one (after a stall both ways, which inputs the server had when it went
 * quiet is a guess) slides over a few frames rather than jumping, and one that the next
 * snapshot takes back adds up with it instead of throwing the ship back and forth.
 */
const EASE_SPEED = 2000;

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
 * A link silent both ways (a phone's radio stalled, a network switch): no new snapshot for
 * longer than {@link SILENT_MS}, so none shows the server running the ship on its last input,
 * as it does when the uplink stalls too (what a {@link Stall} sees in the snapshots).
 * Replaying the inputs sent meanwhile with their own steering drew the ship where the stick
 * went, a whole stall away from where the server ran it, and the snapshots after the stall
 * threw it back by hundreds of units, then forth as the held-back inputs were folded. So the
 * inputs sent from when the link went quiet on (seq `from` and later: sent after the newest
 * snapshot left the server, as its timing tells) are replayed with the steering of the last
 * one before (`stick`), as the server will have run them once they come folded. The ship
 * flies on as the server runs it, deaf to the stick, until a snapshot shows the server running
 * without inputs (the {@link Stall} it shows takes over) or comes on time again. The snapshots a stall held back come late and at once,
 * and those from before the server went without show only which inputs it had by then: the
 * silence starts after them. A stall of the downlink alone, whose inputs the server did apply,
 * costs one eased correction when it ends.
 * @typedef {{ from: number, stick: { x: number, y: number, buttons: number } }} Silence
 */

/**
 * The pending inputs as the server will run them through `stall` and `silence`.
 * @param {import('../sdk/index.js').SentInput[]} inputs
 * @param {Stall | null} stall
 * @param {Silence | null} [silence]
 */
const asRun = (inputs, stall, silence = null) => {
  let run = inputs;
  if (stall) {
    const { passedBy, repeated } = stall;
    const kept = inputs.slice(passedBy);
    run = repeated ? kept.map((i) => ({ ...i, x: repeated.x, y: repeated.y, buttons: repeated.buttons })) : kept;
  }
  if (!silence) return run;
  const { from, stick } = silence;
  return run.map((i) => (i.seq < from ? i : { ...i, x: stick.x, y: stick.y, buttons: stick.buttons }));
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

  /** When the snapshot of `tick` would come on time, ms, or null before any came. @param {number} tick @param {number} tickMs */
  onTime(tick, tickMs) {
    return this.arrivals.length ? tick * tickMs + Math.min(...this.arrivals) : null;
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
 * over ~100 ms instead of snapping, a large one no faster than {@link EASE_SPEED}; a new
 * round's respawn snaps.
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
    /** The round of `prevServer`, when told: a new one respawned the ship. @type {number | undefined} */
    this.prevRound = undefined;
    /** When a frame first saw the newest snapshot, ms. @type {number | null} */
    this.heardAt = null;
    /** How the previous frame ran the inputs sent while the link was silent. @type {Silence | null} */
    this.silence = null;
    /** When the previous frame was drawn, ms. @type {number | null} */
    this.frameAt = null;
    /**
     * The newest applied input (`input`: null when no frame saw it sent), and the first tick a
     * snapshot showed it in.
     * @type {{ seq: number, tick: number, input: import('../sdk/index.js').SentInput | null } | null}
     */
    this.appliedSince = null;
    this.link = new LinkTiming();
    /** How much later than on time the newest snapshot came, ms. */
    this.lateBy = 0;
    /** After a silence, the newest input sent as it ended: until the server applied it, it is
     * catching up with what the silence held back. @type {number | null} */
    this.catchUpTo = null;
    /** Inputs frames saw sent, by number, back to the applied one: to find the one applied
     * once it is no longer pending. @type {Map<number, import('../sdk/index.js').SentInput>} */
    this.sent = new Map();
  }

  reset() {
    this.stall = null;
    this.prevStall = null;
    this.prevRound = undefined;
    this.heardAt = null;
    this.silence = null;
    this.frameAt = null;
    this.appliedSince = null;
    this.link = new LinkTiming();
    this.lateBy = 0;
    this.catchUpTo = null;
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
   * @param {number} [p.appliedTick] the tick of the first snapshot that showed it
   *   (`Session.lastInputAppliedTick`); by default the first a frame saw, which after snapshots
   *   that came at once (a stall of the downlink) is the newest, and hides how long the server
   *   ran the ship on it
   * @param {{ x: number, y: number, buttons: number }} p.stick the input the session sends now
   *   (`Session.input`, set by this frame)
   * @param {number | null} p.nextSendAt ms, when the session sends its next input (`Session.nextInputAt`)
   * @param {number} [p.inputPeriodMs] ms between the session's inputs (`Session.inputPeriodMs()`);
   *   by default one a tick
   * @param {number} p.tickRate
   * @param {{ width: number, height: number }} p.world
   * @param {boolean} p.playing false in intermission (ships are frozen)
   * @param {number} [p.round] the newest world's round number: a new one respawned the ship,
   *   which snaps there rather than easing across the arena
   * @param {number} p.now ms, the clock of `SentInput.sentAt`
   * @param {number} p.frameDt seconds since the last frame
   * @returns {ShipState} where to draw the ship
   */
  predict({ server, serverTick, pending, applied, appliedTick = -1, stick, nextSendAt, tickRate, inputPeriodMs = 1000 / tickRate, world, playing, round, now, frameDt }) {
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
    const fresh = !this.prevServer || serverTick !== this.prevTick;
    if (fresh) {
      this.stall = this.judgeStall(serverTick, tickRate, applied, pending, now, appliedTick);
      this.heardAt = now;
    }
    const silence = this.judgeSilence(fresh, serverTick, tickRate, applied, pending, now);
    for (const seq of this.sent.keys()) if (seq < applied) this.sent.delete(seq);
    const s = simulate(server, asRun(pending, this.stall, silence), tickRate, world, playing, now, sentAt);
    if (this.prevServer && !fresh && silence !== this.silence) {
      // The link fell silent: the ship the last frame drew flew the stick, and eases to where
      // the server runs it.
      const was = simulate(server, asRun(pending, this.stall, this.silence), tickRate, world, playing, now, sentAt);
      this.errX += was.x - s.x;
      this.errY += was.y - s.y;
    }
    if (this.prevServer && fresh) {
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
        // was drawn had flown on, and the correction blends from there. Through the silence
        // the last frame judged, if any, as it drew the ship.
        const before = simulate(this.prevServer, asRun(inputs, this.prevStall, this.silence), tickRate, world, this.prevPlaying, now, sentAt);
        jumpX = before.x + this.errX - s.x;
        jumpY = before.y + this.errY - s.y;
      }
      // A new round put the ship at a new spot: drawn there at once, not flown across the
      // arena. Any other correction is eased, however large (a stall both ways, what the
      // server did with what it held back): snapped, the ship jumped hundreds of units, and
      // back again when the next snapshot took part of it back.
      const respawned = (round !== undefined && this.prevRound !== undefined && round !== this.prevRound)
        || (playing && !this.prevPlaying);
      if (Number.isFinite(jumpX) && Number.isFinite(jumpY) && !respawned) {
        this.errX = jumpX;
        this.errY = jumpY;
      } else {
        this.errX = 0;
        this.errY = 0;
      }
    }
    this.silence = silence;
    this.frameAt = now;
    this.prevRound = round;
    this.prevServer = server;
    this.prevStall = this.stall;
    this.prevApplied = applied;
    this.prevPending = pending.slice();
    this.prevTick = serverTick;
    this.prevPlaying = playing;
    this.newest = newest;
    this.stick = current;
    // ~100 ms for a small correction; a large one at EASE_SPEED, a slide over a few frames.
    const err = Math.hypot(this.errX, this.errY);
    const eased = Math.min(err * (1 - Math.exp(-frameDt * 15)), EASE_SPEED * frameDt);
    const decay = err > 0 ? 1 - eased / err : 0;
    this.errX *= decay;
    this.errY *= decay;
    return { ...s, x: s.x + this.errX, y: s.y + this.errY };
  }

  /**
   * The silence the link is in at `now`, if any (see {@link Silence}): the one the last frame
   * judged, until a snapshot ends it, or a new one when no snapshot has come for
   * {@link SILENT_MS}.
   * @param {boolean} fresh whether a new snapshot (of `tick`) came since the last frame
   * @param {number} tick @param {number} tickRate @param {number} applied
   * @param {import('../sdk/index.js').SentInput[]} pending @param {number} now
   * @returns {Silence | null}
   */
  judgeSilence(fresh, tick, tickRate, applied, pending, now) {
    const tickMs = 1000 / tickRate;
    const silence = this.silence;
    if (silence && !fresh) return silence;
    if (silence) {
      // The server went without inputs (the stall says how long), or the link is back: it
      // catches up with the inputs sent until now.
      if (this.stall?.repeated || this.lateBy <= silentMs(tickMs)) {
        this.catchUpTo = pending[pending.length - 1]?.seq ?? null;
        return null;
      }
      // From before the server went without: it had these too, and ran the newest on.
      const input = this.appliedSince?.input;
      if (applied < silence.from || !input) return silence;
      const next = pending[0];
      return next ? { from: next.seq, stick: { x: input.x, y: input.y, buttons: input.buttons } } : null;
    }
    // Not on the first frame after the page's thread was held (a long script, a slow device):
    // the snapshots that came meanwhile wait behind this frame, and are handled before the next.
    const steady = this.frameAt !== null && now - this.frameAt <= SILENT_MS / 2;
    if (this.heardAt === null || now - this.heardAt <= silentMs(tickMs) || !steady) return null;
    // The newest snapshot left the server about half the least round trip before it would have
    // come on time (jitter delays it further; that round trip includes the server's wait for a
    // tick, half a tick on average), and the link went quiet before the next one left, half a
    // tick later on average: inputs sent from then on were stalled with it.
    const onTime = this.link.onTime(tick, tickMs) ?? this.heardAt;
    const quiet = Math.min(onTime, this.heardAt) - (this.link.lagFloor() ?? 0) / 2 + tickMs;
    const at = pending.findIndex((i) => i.sentAt >= quiet);
    if (at < 0) return null;
    // What the server ran last: a stall it was starving in already, the last input sent before
    // it went quiet, or the applied one.
    const last = this.stall?.repeated ?? (at > 0 ? pending[at - 1] : this.appliedSince?.input);
    if (!last) return null;
    return { from: pending[at].seq, stick: { x: last.x, y: last.y, buttons: last.buttons } };
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
   * @param {number} [appliedTick] the tick of the first snapshot that showed `applied`, if known
   * @returns {Stall | null}
   */
  judgeStall(tick, tickRate, applied, pending, now, appliedTick = -1) {
    const tickMs = 1000 / tickRate;
    let since = this.appliedSince;
    if (!since || since.seq !== applied || since.tick > tick) {
      // Newly applied: a frame saw it sent (if none did, sent and applied between two frames
      // of a slow device, its stick is the one set before it).
      const seen = this.sent.get(applied);
      if (seen) this.link.applied(now - seen.sentAt);
      const input = seen ?? (applied > 0 && this.stick ? { seq: applied, ...this.stick, sentAt: now } : null);
      since = { seq: applied, tick: appliedTick >= 0 && appliedTick <= tick ? appliedTick : tick, input };
    }
    this.appliedSince = since;
    const appliedInput = since.input;
    const lateBy = this.link.snapshot(tick, tickMs, now);
    this.lateBy = lateBy;
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
    // Or the link was silent (see `Silence`): what the stall held back comes over several ticks,
    // an input arriving alone is applied and the rest folded, until the server has all it held.
    if (this.catchUpTo !== null && applied >= this.catchUpTo) this.catchUpTo = null;
    const catchingUp = this.silence !== null || this.catchUpTo !== null;
    const folding = this.prevTick >= 0 && tick > this.prevTick && (starved || catchingUp || applied - this.prevApplied > tick - this.prevTick);
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
