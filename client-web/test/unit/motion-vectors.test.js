// The browser game's port of the arena's motion step (js/predict.js `stepShip`) against the
// golden vectors of shared/testdata/motion.json (PROTOCOL.md 10, "Checking a port"), which
// tests/tests/motion_vectors.rs generates from shared/src/motion.rs, the step the server runs.
// Each case starts from the own ship as a snapshot shows it and applies its inputs one a tick:
// after each, the wire's values of the ship (velocity, position, heading) must be the server's
// exactly. The port computes in f64, the server in f32; the vectors keep clear of the rounding
// boundaries where that could show (PROTOCOL.md 10, "Precision"), so nothing here is loosened
// for it: only the exact velocity, which the wire does not carry, is compared to a tolerance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ARENA, stepShip } from '../../js/predict.js';
import { VELOCITY_STEP } from '../../sdk/index.js';

/** @typedef {{ x: number, y: number }} XY */
/**
 * One step of a case: the input applied, then the ship's wire values and exact velocity.
 * @typedef {{ input: { x: number, y: number, buttons: number }, vel: XY, pos: XY, heading: number, velocity: XY }} MotionStep
 */
/**
 * A case of motion.json.
 * @typedef {{ name: string, about: string, tick_rate: number, dt: number,
 *   world: { width: number, height: number }, rules: Record<string, number>,
 *   start: { pos: XY, vel: XY, heading: number }, steps: MotionStep[] }} MotionCase
 */

const FILE = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/testdata/motion.json');
/** @type {MotionCase[]} */
const CASES = JSON.parse(readFileSync(FILE, 'utf8'));

const TAU = Math.PI * 2;
/** The exact velocity, units/s: f32 against f64 differ by about 1e-5 after a dozen steps. */
const VELOCITY_TOLERANCE = 1e-3;

/** motion.json's rules (`MotionRules`) and the constants of `stepShip` they are. */
const RULES = /** @type {const} */ ([
  ['ship_radius', 'shipRadius'],
  ['thrust', 'thrust'],
  ['boost_multiplier', 'boostMultiplier'],
  ['max_speed', 'maxSpeed'],
  ['boost_max_speed', 'boostMaxSpeed'],
  ['drag', 'drag'],
  ['turn_rate', 'turnRate'],
  ['wall_restitution', 'wallRestitution'],
]);

/** Rounds half away from zero, as the server quantizes (PROTOCOL.md 3.2); -0 is 0 on the wire. */
const roundAway = (/** @type {number} */ v) => Math.sign(v) * Math.round(Math.abs(v)) + 0;

/**
 * The ship as the wire carries it.
 * @param {import('../../js/predict.js').ShipState} s
 */
const wire = (s) => ({
  vel: { x: roundAway(s.vx / VELOCITY_STEP), y: roundAway(s.vy / VELOCITY_STEP) },
  pos: { x: roundAway(s.x * 16), y: roundAway(s.y * 16) },
  heading: ((roundAway((s.heading / TAU) * 256) % 256) + 256) % 256,
});

/**
 * Replays `c` with ticks of `dt` seconds, asserting every step's wire values.
 * @param {MotionCase} c @param {number} dt
 */
function replay(c, dt) {
  const { pos, vel, heading } = c.start;
  // The own ship as the snapshot shows it (PROTOCOL.md 10), as `simulate` starts from it.
  /** @type {import('../../js/predict.js').ShipState} */
  const s = { x: pos.x / 16, y: pos.y / 16, vx: vel.x * VELOCITY_STEP, vy: vel.y * VELOCITY_STEP, heading: (heading * TAU) / 256 };
  c.steps.forEach((step, at) => {
    stepShip(s, step.input, dt, c.world);
    const what = `${c.name}, step ${at + 1} (dt ${dt})`;
    assert.deepEqual(wire(s), { vel: step.vel, pos: step.pos, heading: step.heading }, what);
    const off = Math.max(Math.abs(s.vx - step.velocity.x), Math.abs(s.vy - step.velocity.y));
    assert.ok(off <= VELOCITY_TOLERANCE, `${what}: velocity (${s.vx}, ${s.vy}), the server's (${step.velocity.x}, ${step.velocity.y})`);
  });
}

test('motion.json holds the cases PROTOCOL.md 10 describes, all with the rules stepShip runs', () => {
  assert.ok(CASES.length >= 8, `${CASES.length} cases`);
  assert.equal(CASES[0].name, 'protocol_table');
  assert.deepEqual(new Set(CASES.map((c) => c.tick_rate)), new Set([30, 60]));
  for (const c of CASES) {
    assert.ok(c.steps.length > 0, c.name);
    // stepShip runs the defaults only (the `tickwire-server` command's): a case with other rules
    // would have to be skipped, and none is.
    assert.deepEqual(Object.keys(c.rules).sort(), RULES.map(([key]) => key).sort(), c.name);
    for (const [key, name] of RULES) assert.equal(c.rules[key], ARENA[name], `${c.name}: ${key}`);
  }
});

test('stepShip lands on every wire value of every motion vector, with the server\'s tick period', () => {
  // `dt` is the server's: 1 / tick_rate s to the nanosecond, as f32 (0.033333331 at 30 Hz).
  for (const c of CASES) replay(c, c.dt);
});

test('and with the game\'s own tick period, 1 / tick_rate in f64, as `simulate` steps', () => {
  for (const c of CASES) replay(c, 1 / c.tick_rate);
});
