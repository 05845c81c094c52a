// How fast the SDK rebuilds worlds from snapshots, next to JSON.parse of the same worlds (what
// a server sending JSON state would cost a browser). Run: node sdk/bench/apply.js [rounds]
//
// A 32-ship arena (plus 12 pickups) for 900 ticks; the client acks every tick, so every
// snapshot is a delta extrapolated from its reference, as in a real match. Each round times
// decode + apply of the whole stream and JSON.parse of the same worlds as JSON text, side by
// side; the medians of the rounds are reported.

import { encodeSnapshot, encodeServerMessage, decodeServerMessage, WorldHistory, VELOCITY_STEP } from '../index.js';

const ROUNDS = Number(process.argv[2] ?? 7);
const TICKS = 900;

/** A velocity in units/s on the wire: steps of VELOCITY_STEP, half-way away from zero. @param {number} v */
const wireVelocity = (v) => Math.sign(v) * Math.round(Math.abs(v) / VELOCITY_STEP);

/** @returns {import('../index.js').World[]} */
function match() {
  let s = 42;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ships = Array.from({ length: 32 }, (_, i) => ({ id: i + 1, x: rand() * 25000, y: rand() * 15000, vx: 0, vy: 0, h: 0, value: 0, ax: 0, ay: 0 }));
  const worlds = [];
  for (let tick = 1; tick <= TICKS; tick++) {
    const entities = [];
    for (const ship of ships) {
      if (tick % 20 === ship.id % 20) { ship.ax = (rand() - 0.5) * 30; ship.ay = (rand() - 0.5) * 30; }
      // Velocities in units/s; the wire carries them in VELOCITY_STEP (2 units/s) steps, and a
      // tick moves a ship by the wire velocity: q * VELOCITY_STEP * 16 / 30 position steps.
      ship.vx = Math.max(-420, Math.min(420, Math.round(ship.vx * 0.96 + ship.ax)));
      ship.vy = Math.max(-420, Math.min(420, Math.round(ship.vy * 0.96 + ship.ay)));
      const vel = { x: wireVelocity(ship.vx), y: wireVelocity(ship.vy) };
      ship.x = Math.max(320, Math.min(25280, ship.x + (vel.x * VELOCITY_STEP * 16) / 30));
      ship.y = Math.max(320, Math.min(15680, ship.y + (vel.y * VELOCITY_STEP * 16) / 30));
      ship.h = (Math.round((Math.atan2(ship.vy, ship.vx) / (2 * Math.PI)) * 256) + 256) % 256;
      if (rand() < 0.003) ship.value += 1;
      entities.push({ id: ship.id, kind: 0, pos: { x: Math.round(ship.x), y: Math.round(ship.y) }, vel, heading: ship.h, flags: 1, value: ship.value });
    }
    for (let p = 0; p < 12; p++) {
      if ((tick + p * 13) % 90 < 8) continue;
      entities.push({ id: 100000 + p, kind: 1, pos: { x: 1000 + p * 2000, y: 1500 + p * 1100 }, vel: { x: 0, y: 0 }, heading: 0, flags: 1, value: 1 });
    }
    worlds.push({ tick, round: { round: 1, phase: /** @type {const} */ ('Playing'), secondsLeft: 120 - Math.floor(tick / 30) }, entities });
  }
  return worlds;
}

const worlds = match();
/** @type {Uint8Array[]} */
const frames = [];
for (let i = 0; i < worlds.length; i++) {
  const baseline = i > 0 ? worlds[i - 1] : null;
  const reference = i > 1 ? worlds[i - 2] : null;
  frames.push(encodeServerMessage(encodeSnapshot(baseline, reference, worlds[i], i, 30)));
}
const texts = worlds.map((w) => JSON.stringify(w));
const binaryBytes = frames.reduce((n, f) => n + f.length, 0);
const jsonBytes = texts.reduce((n, t) => n + t.length, 0);

/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sdk = [];
const json = [];
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  let t = performance.now();
  const history = new WorldHistory(30);
  for (const frame of frames) {
    const snapshot = /** @type {import('../index.js').Snapshot} */ (decodeServerMessage(frame));
    sink += history.apply(snapshot).entities.length;
  }
  sdk.push(((performance.now() - t) * 1000) / frames.length);
  t = performance.now();
  for (const text of texts) sink += JSON.parse(text).entities.length;
  json.push(((performance.now() - t) * 1000) / texts.length);
}
if (sink === 0) throw new Error('nothing decoded');
const a = median(sdk);
const b = median(json);
console.log(`${TICKS} snapshots of 32 ships + 12 pickups, acked every tick, ${ROUNDS} rounds (medians):`);
console.log(`  SDK decode + apply : ${a.toFixed(1)} us per snapshot, ${(binaryBytes / frames.length).toFixed(1)} bytes per snapshot`);
console.log(`  JSON.parse (same) : ${b.toFixed(1)} us per world,    ${(jsonBytes / texts.length).toFixed(0)} bytes per world`);
console.log(`  ratio             : SDK/JSON time ${(a / b).toFixed(2)}, size ${(binaryBytes / jsonBytes).toFixed(3)}`);
