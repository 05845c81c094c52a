// The browser's own-ship prediction moves as the server does (server/src/game/arena.rs):
// on the wire's grid, so a prediction replayed on unapplied inputs lands where the server's
// next snapshot puts the ship. The numbers mirror the arena's Rust tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARENA, gridStep, simulate, stepShip } from '../../js/predict.js';

const WORLD = { width: 1600, height: 1000 };
const DT = 1 / 30;
const STEP = (Math.PI * 2) / 256;

test('a ship moves in whole position steps of the velocity the wire carries', () => {
  const s = { x: 800, y: 500, vx: 0, vy: 0, heading: 0 };
  stepShip(s, { x: 127, y: 0, buttons: 0 }, DT, WORLD);
  // 900 u/s² for a tick, then drag: 28.82 u/s, 14 on the wire (28 u/s, 2 u/s steps);
  // 14 * 32 / 30 = 14.93 rounds to 15 steps.
  assert.equal(s.x, 800 + 15 / 16);
  assert.equal(s.y, 500);
  assert.ok(Math.abs(s.vx - 28.82) < 0.01, `the velocity stays exact: ${s.vx}`);
  for (let t = 1; t < 120; t++) {
    const a = t * 0.15;
    const beforeX = s.x;
    const input = { x: Math.round(Math.cos(a) * 127), y: Math.round(Math.sin(a) * 127), buttons: t % 40 < 10 ? 1 : 0 };
    stepShip(s, input, DT, WORLD);
    assert.ok(Number.isInteger(s.x * 16) && Number.isInteger(s.y * 16), `tick ${t} on the grid: ${s.x}, ${s.y}`);
    if (s.x > ARENA.shipRadius && s.x < WORLD.width - ARENA.shipRadius) {
      assert.equal(s.x - beforeX, gridStep(s.vx, DT), `tick ${t}`);
    }
  }
});

test('velocities go on the wire in 2 units/s steps, half-way ones away from zero, as the server quantizes', () => {
  // 30 units/s is 15 wire steps and moves 16 position steps a tick at 30 Hz (15 * 32 / 30 = 16
  // exactly); -29 is -14.5 wire steps, rounded away to -15, so it moves -16 too.
  assert.equal(gridStep(30, DT), 16 / 16);
  assert.equal(gridStep(-29, DT), -16 / 16);
  assert.equal(gridStep(-27, DT), -15 / 16, '-13.5 wire steps round to -14: -14.93 position steps');
  assert.equal(gridStep(-26.9, DT), -14 / 16, '-13.45 wire steps round to -13: -13.87 position steps');
  assert.equal(gridStep(15, DT), 9 / 16, '7.5 wire steps round to 8 (16 units/s): 8.53 position steps');
  assert.equal(gridStep(1, DT), 1 / 16, 'one wire step (2 units/s) moves one position step');
  assert.equal(gridStep(0.99, DT), 0, 'under 1 unit per second does not move');
});

test('the server ship the prediction starts from has its wire velocity in units/s', () => {
  const server = { id: 1, kind: 0, pos: { x: 800 * 16, y: 500 * 16 }, vel: { x: 150, y: -21 }, heading: 64, flags: 1, value: 0 };
  const s = simulate(server, [], 30, WORLD, false, 0);
  assert.deepEqual(s, { x: 800, y: 500, vx: 300, vy: -42, heading: Math.PI / 2 });
  // One tick with the stick released: drag (300 -> 288.24 u/s, -42 -> -40.35), then a step of
  // the velocity the wire would carry: 144 wire steps -> 153.6 -> 154 position steps, and
  // -20 -> -21.33 -> -21.
  const moved = simulate(server, [{ seq: 1, x: 0, y: 0, buttons: 0, sentAt: 0 }], 30, WORLD, true, 0);
  const drag = Math.exp(-ARENA.drag * DT);
  assert.ok(Math.abs(moved.vx - 300 * drag) < 1e-9 && Math.abs(moved.vy + 42 * drag) < 1e-9);
  assert.equal(moved.x, 800 + 154 / 16);
  assert.equal(moved.y, 500 - 21 / 16);
});

test('a ship turning at full rate turns 14 heading steps a tick, then stops on the stick', () => {
  const s = { x: 800, y: 500, vx: 0, vy: 0, heading: 0 };
  const input = { x: -127, y: 6, buttons: 0 };
  const steps = [0];
  for (let t = 0; t < 10; t++) {
    stepShip(s, input, DT, WORLD);
    const q = s.heading / STEP;
    assert.ok(Math.abs(q - Math.round(q)) < 1e-6, `on the heading grid: ${q}`);
    steps.push(Math.round(q));
  }
  assert.deepEqual(steps.slice(0, 9), [0, 14, 28, 42, 56, 70, 84, 98, 112]);
  const target = Math.round((Math.atan2(6 / 127, -1) / (Math.PI * 2)) * 256);
  assert.equal(steps[10], target, `stops on the stick: ${steps}`);
});
