// Client-side prediction of the own ship: the arena's movement rules (server/src/game/arena.rs,
// `move_ships`, default ArenaConfig) replayed on the inputs the server has not applied yet.
// Collisions with other ships are left to the server: reconciliation corrects them smoothly.

import { VELOCITY_STEP } from '../sdk/index.js';

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

/** Rounds half away from zero, as the server's quantization does. */
const roundAway = (/** @type {number} */ v) => Math.sign(v) * Math.round(Math.abs(v));

/** A heading (any angle) on the wire's grid, in [0, 2π). */
const headingOnGrid = (/** @type {number} */ h) =>
  ((roundAway((h / TAU) * 256) % 256 + 256) % 256) * HEADING_STEP;

/**
 * How far a ship moves in `dt` along one axis: the velocity as the wire carries it (steps of
 * {@link VELOCITY_STEP} units/s), in whole position steps, as the server moves it (arena.rs
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
    // Whole heading steps, at least one, as the server turns (arena.rs `grid_turn`).
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
 * @returns {ShipState}
 */
export function simulate(server, inputs, tickRate, world, playing, now) {
  const dt = 1 / tickRate;
  /** @type {ShipState} */
  const s = {
    x: server.pos.x / 16, y: server.pos.y / 16,
    vx: server.vel.x * VELOCITY_STEP, vy: server.vel.y * VELOCITY_STEP,
    heading: (server.heading * TAU) / 256,
  };
  if (!playing) return s; // intermission: ships are frozen
  for (const input of inputs) stepShip(s, input, dt, world);
  const newest = inputs[inputs.length - 1];
  const since = newest ? Math.min(Math.max((now - newest.sentAt) / 1000, 0), dt) : 0;
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
    /** @type {import('../sdk/index.js').SentInput[]} */
    this.prevPending = [];
    this.prevTick = -1;
  }

  reset() {
    this.errX = 0;
    this.errY = 0;
    this.prevServer = null;
    this.prevPending = [];
    this.prevTick = -1;
  }

  /**
   * @param {object} p
   * @param {import('../sdk/index.js').EntityState} p.server the ship in the newest world
   * @param {number} p.serverTick that world's tick
   * @param {import('../sdk/index.js').SentInput[]} p.pending inputs the server has not applied
   * @param {number} p.tickRate
   * @param {{ width: number, height: number }} p.world
   * @param {boolean} p.playing false in intermission (ships are frozen)
   * @param {number} p.now ms, the clock of `SentInput.sentAt`
   * @param {number} p.frameDt seconds since the last frame
   * @returns {ShipState} where to draw the ship
   */
  predict({ server, serverTick, pending, tickRate, world, playing, now, frameDt }) {
    const s = simulate(server, pending, tickRate, world, playing, now);
    if (this.prevServer && serverTick !== this.prevTick) {
      // Where the previous state puts the ship now, with the inputs sent since.
      const lastSeq = this.prevPending.length ? this.prevPending[this.prevPending.length - 1].seq : 0;
      const inputs = this.prevPending.concat(pending.filter((i) => i.seq > lastSeq));
      const before = simulate(this.prevServer, inputs, tickRate, world, playing, now);
      /** @type {number} */
      const jumpX = before.x + this.errX - s.x;
      /** @type {number} */
      const jumpY = before.y + this.errY - s.y;
      if (Math.hypot(jumpX, jumpY) < 120) {
        this.errX = jumpX;
        this.errY = jumpY;
      } else {
        this.errX = 0;
        this.errY = 0;
      }
    }
    this.prevServer = server;
    this.prevPending = pending.slice();
    this.prevTick = serverTick;
    const decay = Math.exp(-frameDt * 15);
    this.errX *= decay;
    this.errY *= decay;
    return { ...s, x: s.x + this.errX, y: s.y + this.errY };
  }
}
