// The browser's own-ship prediction moves as the server does (shared/src/motion.rs):
// on the wire's grid, so a prediction replayed on unapplied inputs lands where the server's
// next snapshot puts the ship. The numbers mirror the arena's Rust tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARENA, ShipPredictor, gridStep, simulate, stepShip } from '../../js/predict.js';

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

/** Rounds half away from zero, as the server's quantization does. */
const roundAway = (/** @type {number} */ v) => Math.sign(v) * Math.round(Math.abs(v));

/**
 * The server's input queue, as server/src/inputs.rs `InputQueue` runs it (constants and all):
 * one input a tick in order, a late one caught up with by folding past the allowance, what
 * stood waiting through a window of 32 ticks skipped, the newest each tick for a client
 * sending faster than that.
 */
class InputQueue {
  constructor() {
    /** @type {{ input: { seq: number, x: number, y: number, buttons: number }, folded: number }[]} */
    this.queue = [];
    /** @type {{ input: { seq: number, x: number, y: number, buttons: number }, folded: number } | null} */
    this.last = null;
    this.newest = 0;
    this.behind = 0;
    this.windowTicks = 0;
    this.windowArrivals = 0;
    /** @type {number | null} */ this.leastWaiting = null;
    /** @type {number | null} */ this.leastBehind = null;
    this.faster = false;
    this.unneeded = 0;
  }

  /** @param {{ seq: number, x: number, y: number, buttons: number }} input */
  receive(input) {
    if (input.seq <= this.newest) return;
    this.newest = input.seq;
    this.windowArrivals += 1;
    this.queue.push({ input, folded: 0 });
    if (this.queue.length > 8) {
      this.foldOldest();
      this.behind = Math.max(this.behind - 1, 0);
    }
  }

  take() {
    if (this.newest === 0) return null;
    this.behind += 1;
    while (this.unneeded > 0 && this.queue.length > 1) {
      this.foldOldest();
      this.unneeded -= 1;
    }
    this.unneeded = 0;
    let taken = null;
    if (!this.queue.length) {
      const last = this.last;
      this.last = null;
      if (last && last.folded !== 0) taken = { input: { ...last.input, buttons: last.input.buttons & ~last.folded }, folded: 0 };
    } else if (this.faster) {
      while (this.queue.length > 1) this.foldOldest();
      this.behind = 0;
      taken = this.queue.shift() ?? null;
    } else {
      while (this.behind > 2 && this.queue.length > 1) {
        this.foldOldest();
        this.behind -= 1;
      }
      this.behind -= 1;
      taken = this.queue.shift() ?? null;
    }
    if (taken) this.last = taken;
    const waiting = this.queue.length;
    this.leastWaiting = Math.min(this.leastWaiting ?? waiting, waiting);
    if (this.windowArrivals > 0) this.leastBehind = Math.min(this.leastBehind ?? this.behind, this.behind);
    this.windowTicks += 1;
    if (this.windowTicks >= 32) {
      if (this.windowArrivals > 0) {
        this.faster = this.windowArrivals > 40;
        this.unneeded = this.leastWaiting ?? 0;
        this.behind = Math.max(this.behind - (this.leastBehind ?? 0), 0);
        this.windowArrivals = 0;
      }
      this.windowTicks = 0;
      this.leastWaiting = null;
      this.leastBehind = null;
    }
    return taken ? taken.input : null;
  }

  foldOldest() {
    if (this.queue.length < 2) return;
    const oldest = /** @type {{ input: { seq: number, x: number, y: number, buttons: number }, folded: number }} */ (this.queue.shift());
    const next = this.queue[0];
    const pressed = oldest.input.buttons | oldest.folded;
    next.folded |= pressed & ~next.input.buttons;
    next.input = { ...next.input, buttons: next.input.buttons | pressed };
  }
}

/**
 * Flies the own ship with the stick held right (or as `steer` sets it), against a model of the
 * server's room loop (server/src/room.rs `tick`): each tick it takes the newest input that has
 * arrived, if it has not applied it yet (an input it missed is skipped; with none new the ship
 * keeps the last), or with `queue` the input the server's own {@link InputQueue} hands it,
 * steps the ship, and sends the snapshot with the input applied. The client sends one input a
 * tick, as the session does, and draws a frame `fps` times a second. Each message takes half
 * the round trip, and what is sent from `upStep[0]` on `upStep[1]` ms more; what would arrive
 * in the `upStall` window (ms) arrives at its end, over `parts` ticks (TCP segments on either
 * side of a tick), and so does a snapshot that would arrive in the `downStall` window (both
 * together: a network that stalls both ways, as a phone's radio does). Returns where each frame drew the ship, and the correction a new snapshot
 * made there (`jump`, units, before blending).
 * @param {{ fps: number, rttMs: number, sendPhase: number, framePhase: number,
 *   steer?: (t: number) => { x: number, y: number }, upStall?: [number, number], parts?: number,
 *   downStall?: [number, number], upStep?: [number, number], end?: number, queue?: boolean, tickRate?: number }} o phases and times in ms (`tickRate`: 30 by default)
 */
function fly({ fps, rttMs, sendPhase, framePhase, steer = () => ({ x: 127, y: 0 }), upStall = [Infinity, Infinity], parts = 1, downStall = [Infinity, Infinity], upStep = [Infinity, 0], end = 2500, queue = false, tickRate = 30 }) {
  const tickMs = 1000 / tickRate;
  const frameMs = 1000 / fps;
  const oneWay = rttMs / 2;
  const world = { width: 100000, height: 1000 };
  /** @type {{ at: number, rank: number, run: () => void }[]} */
  const events = [];
  // At the same instant: what arrives counts for a tick or a frame there.
  const at = (/** @type {number} */ t, /** @type {number} */ rank, /** @type {() => void} */ run) => events.push({ at: t, rank, run });

  // The server.
  const ship = { x: 50000, y: 500, vx: 0, vy: 0, heading: 0 };
  let input = { x: 0, y: 0, buttons: 0 };
  let serverApplied = 0;
  /** @type {import('../../sdk/index.js').SentInput[]} */
  const arrived = [];
  const inputQueue = new InputQueue();
  // The client.
  /** @type {import('../../sdk/index.js').EntityState | null} */
  let server = null;
  let serverTick = -1;
  let applied = 0;
  let appliedTick = -1;
  /** @type {import('../../sdk/index.js').SentInput[]} */
  const pending = [];
  const predictor = new ShipPredictor();
  /** @type {{ at: number, x: number, y: number, jump: number, silent: boolean }[]} */
  const drawn = [];

  for (let k = 1; k * tickMs < end; k++) {
    at(k * tickMs, 1, () => {
      const newest = queue ? inputQueue.take() : arrived[arrived.length - 1];
      if (newest && (queue || newest.seq > serverApplied)) {
        serverApplied = newest.seq;
        input = newest;
      }
      stepShip(ship, input, 1 / tickRate, world);
      const state = {
        id: 1, kind: 0, flags: 0, value: 0,
        pos: { x: ship.x * 16, y: ship.y * 16 },
        vel: { x: roundAway(ship.vx / 2), y: roundAway(ship.vy / 2) },
        heading: roundAway((ship.heading / (Math.PI * 2)) * 256) % 256,
      };
      const lastInput = serverApplied;
      const due = k * tickMs + oneWay;
      const held = due >= downStall[0] && due < downStall[1];
      at(held ? downStall[1] + Math.floor(((due - downStall[0]) / (downStall[1] - downStall[0])) * parts) * tickMs : due, 0, () => {
        // A snapshot the stall held back may come after a newer one: the SDK drops it.
        if (k <= serverTick) return;
        server = state;
        serverTick = k;
        // As the session keeps them: the first snapshot that showed an input applied.
        if (lastInput > applied) appliedTick = k;
        applied = lastInput;
        while (pending.length && pending[0].seq <= applied) pending.shift();
      });
    });
  }
  for (let seq = 1; sendPhase + (seq - 1) * tickMs < end; seq++) {
    const sentAt = sendPhase + (seq - 1) * tickMs;
    const sent = { seq, ...steer(sentAt), buttons: 0, sentAt };
    const due = sentAt + oneWay + (sentAt >= upStep[0] ? upStep[1] : 0);
    const held = due >= upStall[0] && due < upStall[1];
    const part = Math.floor(((due - upStall[0]) / (upStall[1] - upStall[0])) * parts);
    at(sent.sentAt, 0, () => {
      pending.push(sent);
      at(held ? upStall[1] + part * tickMs : due, 0, () => {
        arrived.push(sent);
        inputQueue.receive(sent);
      });
    });
  }
  for (let t = framePhase; t < end; t += frameMs) {
    at(t, 2, () => {
      if (!server) return;
      const nextSendAt = sendPhase + Math.floor((t - sendPhase) / tickMs + 1) * tickMs;
      const { x, y } = steer(t);
      const [errX, errY] = [predictor.errX, predictor.errY];
      const p = predictor.predict({
        server, serverTick, pending, applied, appliedTick, stick: { x: x / 127, y: y / 127, buttons: 0 }, nextSendAt,
        tickRate, world, playing: true, now: t, frameDt: frameMs / 1000,
      });
      // What this frame's snapshot corrected, before this frame's blending.
      const decay = Math.exp(-(frameMs / 1000) * 15);
      const jump = Math.hypot(predictor.errX / decay - errX, predictor.errY / decay - errY);
      drawn.push({ at: t, x: p.x, y: p.y, jump, silent: predictor.silence !== null });
    });
  }
  while (events.length) {
    events.sort((a, b) => a.at - b.at || a.rank - b.rank);
    /** @type {{ run: () => void }} */ (events.shift()).run();
  }
  return drawn;
}

test('on a fast connection the own ship flies on evenly, whether or not an input is waiting for its ack', () => {
  // At full speed the server moves the ship 14 units a tick, on the position grid exactly, so a
  // ship drawn evenly moves 420/fps units a frame. A ship drawn at the server's state once all
  // inputs are acked moved back, then a tick's worth at the next input: steps of -0.8 to 4.6
  // times that. The prediction replays the server's own arithmetic, so what is left is float
  // noise; 2% is far below anything the eye sees and far above that noise. The phases put acks
  // before and after frames, and some inputs are sent and acked between two frames (at 20 Hz,
  // a slow device, two of them).
  const tickMs = 1000 / 30;
  for (const fps of [120, 60, 20]) {
    const frameMs = 1000 / fps;
    const even = 420 / fps;
    for (const rttMs of [1, 2, 3]) {
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 4; j++) {
          const sendPhase = 0.3 + (i * tickMs) / 8;
          const framePhase = 0.2 + (j * frameMs) / 4;
          const drawn = fly({ fps, rttMs, sendPhase, framePhase });
          const what = `${fps} Hz, ${rttMs} ms, sends at ${sendPhase.toFixed(1)}, frames at ${framePhase.toFixed(1)}`;
          for (let f = 1; f < drawn.length; f++) {
            const step = drawn[f].x - drawn[f - 1].x;
            assert.ok(step > -1e-9, `${what}: moved back ${step} at ${drawn[f].at.toFixed(1)} ms`);
            // Full speed from about 0.7 s on (thrust against drag), steady from the snapshot after.
            if (drawn[f].at > 1000) {
              assert.ok(Math.abs(step / even - 1) < 0.02, `${what}: moved ${step.toFixed(2)}, not ${even}, at ${drawn[f].at.toFixed(1)} ms`);
            }
          }
        }
      }
    }
  }
});

test('when the round ends the ship blends back to where it froze from where it was drawn, never from behind', () => {
  const world = { width: 1600, height: 1000 };
  const ship = (/** @type {number} */ x) => ({
    id: 1, kind: 0, flags: 1, value: 0, pos: { x: x * 16, y: 400 * 16 }, vel: { x: 210, y: 0 }, heading: 0,
  });
  const pending = [11, 12, 13, 14].map((seq) => ({ seq, x: 127, y: 0, buttons: 0, sentAt: seq * 33 }));
  const common = { stick: { x: 1, y: 0, buttons: 0 }, nextSendAt: 15 * 33, tickRate: 30, world, frameDt: 1 / 60 };
  const predictor = new ShipPredictor();
  const drawn = predictor.predict({ ...common, server: ship(500), serverTick: 20, pending, applied: 10, playing: true, now: 14 * 33 });
  assert.ok(drawn.x > 550, `four inputs ahead: ${drawn.x}`);
  // The next tick ends the round: the server froze the ship one tick on, at 514.
  const frozen = { ...common, server: ship(514), serverTick: 21, pending: pending.slice(1), applied: 11, playing: false };
  const next = predictor.predict({ ...frozen, now: 14 * 33 + 16 });
  assert.ok(Math.abs(next.x - drawn.x) < 15, `from ${drawn.x} to ${next.x}`);
  let last = next;
  for (let f = 2; f < 30; f++) {
    last = predictor.predict({ ...frozen, now: 14 * 33 + 16 * f });
    assert.ok(last.x >= 514 - 1e-9, `behind where it froze: ${last.x}`);
  }
  assert.ok(Math.abs(last.x - 514) < 0.1, `${last.x}`);
});

/**
 * What the eye sees of `frames` from `from` ms on: frames whose ship is more than 2 units off
 * where the two before were flying it (the curve itself bends it by under a unit a frame), the
 * most it is off, the corrections of over 5 units, and the longest step between two frames.
 * @param {{ at: number, x: number, y: number, jump: number }[]} frames @param {number} [from]
 */
function seen(frames, from = 500) {
  let visible = 0;
  let worst = 0;
  let corrections = 0;
  let step = 0;
  for (let f = 2; f < frames.length; f++) {
    const [a, b, c] = [frames[f - 2], frames[f - 1], frames[f]];
    if (c.at < from) continue;
    const off = Math.hypot(c.x - (2 * b.x - a.x), c.y - (2 * b.y - a.y));
    visible += off > 2 ? 1 : 0;
    worst = Math.max(worst, off);
    corrections += c.jump > 5 ? 1 : 0;
    step = Math.max(step, Math.hypot(c.x - b.x, c.y - b.y));
  }
  return { visible, worst, corrections, step };
}

test('at a few ticks a second a steady link is no silence: it waits for two ticks, not 250 ms', () => {
  // Taken for silent once a tick at 3 Hz and below (snapshots 333 ms apart and more), the steady
  // link corrected the ship 180-odd times, by up to 198 units (client/src/prediction.rs alike).
  const steer = (/** @type {number} */ t) => ({ x: roundAway(127 * Math.cos(t * 0.003)), y: roundAway(127 * Math.sin(t * 0.003)) });
  for (const tickRate of [1, 2, 3, 4, 8]) {
    const tickMs = 1000 / tickRate;
    const frames = fly({ fps: 60, rttMs: 150, sendPhase: 3, framePhase: 1, steer, queue: true, tickRate, end: 60 * tickMs });
    const silent = frames.filter((f) => f.silent).length;
    const { corrections } = seen(frames, 10 * tickMs);
    assert.ok(silent === 0 && corrections <= 3, `${tickRate} Hz: ${silent} frames silent, ${corrections} corrections`);
  }
});

test('through a stalled uplink the ship is drawn as the server runs it, corrected as the stall starts and ends, not at every snapshot', () => {
  // Steering round a circle at 3 rad/s, 60 ms round trip, the uplink stalled for a second;
  // what it held back arrives at once, or over two or three ticks.
  const steer = (/** @type {number} */ t) => ({ x: roundAway(127 * Math.cos(t * 0.003)), y: roundAway(127 * Math.sin(t * 0.003)) });
  for (const parts of [1, 2, 3]) {
    const frames = fly({ fps: 60, rttMs: 60, sendPhase: 3, framePhase: 1, steer, upStall: [1000, 2000], parts, end: 3500, queue: true });
    const { visible, worst, corrections } = seen(frames);
    // Replaying the held-back inputs as if the server would still run them: 58 frames off,
    // by up to 311 units (a snap), and 31 corrections over 5 units, one at every snapshot.
    const what = `${parts} part(s): ${visible} frames off, by up to ${worst.toFixed(1)}; ${corrections} corrections`;
    assert.ok(visible <= 12 && worst < 40 && corrections <= 8, what);
  }
});

test('an uplink whose delay grows at once is corrected once, the late inputs not taken for folded', () => {
  // 200 ms more from 1 s on: while nothing arrives it looks like a stall, then the server
  // applies every input late (it folds none), and the ship held through the gap is corrected
  // as they come (7 frames off, by up to 6 units). Inputs late against the lag floor from
  // before the step were left out as folded for a second: 16 frames off.
  const steer = (/** @type {number} */ t) => ({ x: roundAway(127 * Math.cos(t * 0.003)), y: roundAway(127 * Math.sin(t * 0.003)) });
  const frames = fly({ fps: 60, rttMs: 40, sendPhase: 3, framePhase: 1, steer, upStep: [1000, 200], end: 3500, queue: true });
  const { visible, worst } = seen(frames);
  assert.ok(visible <= 8, `${visible} frames off, by up to ${worst.toFixed(1)}`);
});

test('through a network that stalls both ways the ship flies on as the server runs it, and is eased, never thrown back and forth', () => {
  // A phone's radio: for a second or more nothing comes, so no snapshot shows the server
  // running the ship on its last input; then the stall's snapshots come at once (or over a few
  // ticks), and the server gets the inputs it held back and folds them.
  const steer = (/** @type {number} */ t) => ({ x: roundAway(127 * Math.cos(t * 0.003)), y: roundAway(127 * Math.sin(t * 0.003)) });
  for (const stallMs of [1000, 2000, 3000]) {
    for (const parts of [1, 3]) {
      const stall = /** @type {[number, number]} */ ([1000, 1000 + stallMs]);
      const frames = fly({ fps: 60, rttMs: 150, sendPhase: 3, framePhase: 1, steer, upStall: stall, downStall: stall, parts, end: stall[1] + 1500, queue: true });
      const { visible, worst, step } = seen(frames);
      // At full speed the ship moves 7 units a frame. Replaying the held-back inputs with the
      // stick's steering, and snapping corrections over 120 units: steps of 358 to 1240 units
      // as the stall ended, then back.
      const what = `${stallMs} ms, ${parts} part(s): ${visible} frames off, by up to ${worst.toFixed(1)}; steps of up to ${step.toFixed(1)}`;
      assert.ok(step < 25 && worst < 25 && visible <= 12, what);
    }
  }
});

test('a large correction is eased over a few frames, a new round\'s respawn is not', () => {
  const world = { width: 1600, height: 1000 };
  const ship = (/** @type {number} */ x) => ({ id: 1, kind: 0, flags: 1, value: 0, pos: { x: x * 16, y: 400 * 16 }, vel: { x: 0, y: 0 }, heading: 0 });
  const common = { pending: [], applied: 0, stick: { x: 0, y: 0, buttons: 0 }, nextSendAt: null, tickRate: 30, world, playing: true, frameDt: 1 / 60 };
  for (const newRound of [false, true]) {
    const predictor = new ShipPredictor();
    predictor.predict({ ...common, server: ship(400), serverTick: 10, round: 1, now: 0 });
    // Something only the server knows put the ship 400 units on (or a new round did).
    /** @type {number[]} */
    const drawn = [];
    for (let f = 1; f <= 30; f++) {
      drawn.push(predictor.predict({ ...common, server: ship(800), serverTick: 11, round: newRound ? 2 : 1, now: f * 16 }).x);
    }
    if (newRound) {
      assert.equal(drawn[0], 800, 'respawned: drawn there at once');
    } else {
      const steps = drawn.map((x, i) => x - (i ? drawn[i - 1] : 400));
      assert.ok(steps.every((d) => d >= 0 && d <= 40), `eased, no frame's step over 40 units: ${steps.map((d) => d.toFixed(0))}`);
      assert.ok(Math.abs(drawn[29] - 800) < 1, `there within half a second: ${drawn[29]}`);
    }
  }
});
