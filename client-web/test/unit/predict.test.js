// The browser's own-ship prediction moves as the server does (server/src/game/arena.rs):
// on the wire's grid, so a prediction replayed on unapplied inputs lands where the server's
// next snapshot puts the ship. The numbers mirror the arena's Rust tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARENA, gridStep, stepShip } from '../../js/predict.js';

const WORLD = { width: 1600, height: 1000 };
const DT = 1 / 30;
const STEP = (Math.PI * 2) / 256;

test('a ship moves in whole position steps of the velocity the wire carries', () => {
  const s = { x: 800, y: 500, vx: 0, vy: 0, heading: 0 };
  stepShip(s, { x: 127, y: 0, buttons: 0 }, DT, WORLD);
  // 900 u/s² for a tick, then drag: 28.82 u/s, 29 on the wire; 29 * 16 / 30 rounds to 15 steps.
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

test('half-way steps round away from zero, as the server quantizes', () => {
  // 15 units/s moves 8 steps a tick at 30 Hz (16 * 15 / 30 = 8 exactly); -29 moves -15.
  assert.equal(gridStep(15, DT), 8 / 16);
  assert.equal(gridStep(-29, DT), -15 / 16);
  assert.equal(gridStep(-28.6, DT), -15 / 16, 'the velocity rounds to -29 first');
  assert.equal(gridStep(0.4, DT), 0, 'under half a unit per second does not move');
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
