// Snapshots (PROTOCOL.md 6) against the cases of shared/testdata/snapshots.json and
// predictions.json, which the Rust `tickwire-shared` crate wrote: the SDK rebuilds exactly the
// Rust crate's worlds from the vectors' bytes, its encoder writes exactly the vectors' bytes,
// the vectors applied in sequence through a WorldHistory give the same worlds, and bad bodies
// get the errors of 6.6. The prediction cases pin what the others leave open (extrapolated
// velocities, the velocity ramp, div's rounding of halves): the SDK's encoder and decoder share
// predict(), so a round trip of its own cannot catch a mistake there; the Rust crate's bytes do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeServerMessage, encodeServerMessage, applySnapshot, encodeSnapshot, WorldHistory,
  ApplyError, BitReader, BitWriter, roundDiv, turn,
} from '../index.js';
import { fromHex, loadPredictionCases, loadSnapshotCases, loadVectors, toHex } from './vectors.js';

const cases = loadSnapshotCases();
const vectors = new Map(loadVectors().map((v) => [v.name, v]));

/** @param {Uint8Array} bytes @returns {string} every bit, least significant of each byte first */
const bitsOf = (bytes) => Array.from(bytes, (b) => b.toString(2).padStart(8, '0').split('').reverse().join('')).join('');

/** @param {string} hex @returns {import('../index.js').Snapshot} */
function decodeSnapshot(hex) {
  const message = decodeServerMessage(fromHex(hex));
  assert.equal(message.type, 'Snapshot');
  return /** @type {import('../index.js').Snapshot} */ (message);
}

/** @param {string} name */
function snapshotOf(name) {
  const vector = vectors.get(name);
  assert.ok(vector, `vector ${name}`);
  return decodeSnapshot(vector.hex);
}

/**
 * `snapshot` applied to the worlds of case `c` with its body cut short, or padded with a byte,
 * is refused.
 * @param {{ baseline: import('../index.js').World | null, reference: import('../index.js').World | null, tickRate: number }} c
 * @param {import('../index.js').Snapshot} snapshot
 */
function assertCutOrPaddedRefused(c, snapshot) {
  for (let n = 0; n < snapshot.body.length; n++) {
    const cut = { ...snapshot, body: snapshot.body.subarray(0, n) };
    assert.throws(() => applySnapshot(c.baseline, c.reference, cut, c.tickRate), ApplyError, `body cut to ${n} bytes`);
  }
  const padded = { ...snapshot, body: Uint8Array.from([...snapshot.body, 0]) };
  assert.throws(() => applySnapshot(c.baseline, c.reference, padded, c.tickRate), (e) => e instanceof ApplyError && e.kind === 'TrailingBits');
}

test('every snapshot vector has a case, and the cases cover full, delta and extrapolated', () => {
  const snapshotVectors = [...vectors.values()].filter((v) => v.message === 'Snapshot').map((v) => v.name).sort();
  assert.deepEqual(cases.map((c) => c.vector).sort(), snapshotVectors);
  assert.ok(cases.some((c) => c.baseline === null));
  assert.ok(cases.some((c) => c.baseline !== null && c.reference === null));
  assert.ok(cases.some((c) => c.reference !== null));
});

for (const c of cases) {
  test(`${c.vector}: applied to its worlds it rebuilds the case's world`, () => {
    const snapshot = snapshotOf(c.vector);
    assert.equal(snapshot.lastInput, c.lastInput);
    assert.deepEqual(applySnapshot(c.baseline, c.reference, snapshot, c.tickRate), c.world);
  });

  test(`${c.vector}: the case's world encodes to the vector's bytes`, () => {
    const snapshot = encodeSnapshot(c.baseline, c.reference, c.world, c.lastInput, c.tickRate);
    assert.equal(toHex(encodeServerMessage(snapshot)), vectors.get(c.vector)?.hex);
  });

  test(`${c.vector}: a cut or padded body is refused`, () => {
    assertCutOrPaddedRefused(c, snapshotOf(c.vector));
  });
}

const predictionCases = loadPredictionCases();

test('the prediction cases are there and name their worlds', () => {
  assert.deepEqual(predictionCases.map((c) => c.name), ['snapshot_extrapolated_lagged', 'snapshot_half_steps', 'snapshot_escaped_ages']);
  assert.ok(predictionCases.some((c) => c.baseline && c.reference && c.baseline.tick - c.reference.tick === 2));
  assert.ok(predictionCases.some((c) => c.tickRate === 64));
});

for (const c of predictionCases) {
  test(`${c.name}: its header names its worlds and its last input`, () => {
    const snapshot = decodeSnapshot(c.hex);
    assert.equal(snapshot.tick, c.world.tick);
    assert.equal(snapshot.baseline, c.baseline ? c.baseline.tick : null);
    assert.equal(snapshot.reference, c.reference ? c.reference.tick : null);
    assert.equal(snapshot.lastInput, c.lastInput);
    assert.equal(toHex(encodeServerMessage(snapshot)), c.hex, 're-encoded as it came');
  });

  test(`${c.name}: applied to its worlds it rebuilds the Rust crate's world`, () => {
    assert.deepEqual(applySnapshot(c.baseline, c.reference, decodeSnapshot(c.hex), c.tickRate), c.world, c.about);
  });

  test(`${c.name}: the case's world encodes to the Rust crate's bytes`, () => {
    const snapshot = encodeSnapshot(c.baseline, c.reference, c.world, c.lastInput, c.tickRate);
    assert.equal(toHex(encodeServerMessage(snapshot)), c.hex);
  });

  test(`${c.name}: a cut or padded body is refused, and so is a missing reference`, () => {
    const snapshot = decodeSnapshot(c.hex);
    assertCutOrPaddedRefused(c, snapshot);
    if (c.reference) {
      assert.throws(() => applySnapshot(c.baseline, null, snapshot, c.tickRate), (e) => e instanceof ApplyError && e.kind === 'ReferenceMismatch');
    }
  });
}

test('the vectors form one stream: full, then delta, then extrapolated, through a WorldHistory', () => {
  const history = new WorldHistory(30);
  const byName = new Map(cases.map((c) => [c.vector, c]));
  for (const name of ['snapshot_full', 'snapshot_delta', 'snapshot_extrapolated']) {
    const world = history.apply(snapshotOf(name));
    assert.deepEqual(world, byName.get(name)?.world, name);
  }
  assert.equal(history.baselineOf(104), 103);
  assert.equal(history.baselineOf(103), 100);
  assert.equal(history.baselineOf(100), null);
  assert.throws(() => history.apply(snapshotOf('snapshot_large_tick')), (e) => e instanceof ApplyError && e.kind === 'MissingBaseline');
});

test('a rebuilt world cannot be changed, so a game cannot corrupt the deltas built on it', () => {
  const history = new WorldHistory(30);
  const world = history.apply(snapshotOf('snapshot_full'));
  assert.ok(world.entities.length >= 2, 'two entities to reorder');
  const mutable = /** @type {any} */ (world);
  // Sorting for drawing, writing a predicted position in: each throws where it is done.
  assert.throws(() => mutable.entities.reverse(), TypeError);
  assert.throws(() => { mutable.entities[0].pos.x += 16; }, TypeError);
  assert.throws(() => { mutable.entities[0].heading = 3; }, TypeError);
  assert.throws(() => { mutable.tick = 0; }, TypeError);
  // The types say so too (checked by `tsc -p jsconfig.json`): each write is a type error.
  const me = world.entities[0];
  // @ts-expect-error: a World is read-only
  assert.throws(() => { world.tick = 0; }, TypeError);
  // @ts-expect-error: its RoundState too
  assert.throws(() => { world.round.secondsLeft = 0; }, TypeError);
  // @ts-expect-error: an EntityState too
  assert.throws(() => { me.heading = 3; }, TypeError);
  // @ts-expect-error: and its vectors
  assert.throws(() => { me.pos.x = 0; }, TypeError);
  // And the next delta rebuilds the world it names, on the untouched baseline.
  const byName = new Map(cases.map((c) => [c.vector, c]));
  assert.deepEqual(history.apply(snapshotOf('snapshot_delta')), byName.get('snapshot_delta')?.world);
  assert.ok(Object.isFrozen(history.apply(snapshotOf('snapshot_extrapolated')).entities[0].pos));
});

test('worlds given must be the ones the header names', () => {
  const [full, delta, extrapolated] = ['snapshot_full', 'snapshot_delta', 'snapshot_extrapolated'].map((n) => cases.find((c) => c.vector === n));
  assert.ok(full && delta && extrapolated);
  assert.throws(() => applySnapshot(null, null, snapshotOf('snapshot_delta'), 30), (e) => e instanceof ApplyError && e.kind === 'BaselineMismatch');
  assert.throws(() => applySnapshot(delta.world, null, snapshotOf('snapshot_extrapolated'), 30), (e) => e instanceof ApplyError && e.kind === 'ReferenceMismatch');
  assert.throws(() => applySnapshot(delta.world, delta.world, snapshotOf('snapshot_extrapolated'), 30), (e) => e instanceof ApplyError && e.kind === 'ReferenceMismatch');
});

test('a moving entity exactly where its new velocity puts it says so in one bit (protocol 5)', () => {
  // Two ships speeding up from 15 to 16 velocity steps (30 to 32 units/s) in one tick at 30 Hz:
  // the prediction puts both at div((k + 1) * 16 * 16, 30) = div(512, 30) = 17 position steps.
  // Ship 1 is there; ship 2 is one step off on each axis (18, -1).
  const round = { round: 1, phase: /** @type {const} */ ('Playing'), secondsLeft: 60 };
  /** @param {number} id @param {number} x @param {number} y @param {number} vx */
  const ship = (id, x, y, vx) => ({ id, kind: 0, pos: { x, y }, vel: { x: vx, y: 0 }, heading: 0, flags: 1, value: 0 });
  const baseline = { tick: 1, round, entities: [ship(1, 0, 0, 15), ship(2, 0, 0, 15)] };
  const next = { tick: 2, round, entities: [ship(1, 17, 0, 16), ship(2, 18, -1, 16)] };
  const snapshot = encodeSnapshot(baseline, null, next, 0, 30);
  const exact = '10' + '0100' + '10' + '0'; // code 10 (motion), se(1) +1, se(1) 0, position flag 0
  const off = '10' + '0100' + '10' + '1' + '011' + '010'; // ... flag 1, se(0) +1, se(0) -1
  const spawns = '1'; // eg(0) 0
  const bits = exact + off + spawns;
  assert.equal(bits.length, 25);
  const body = bitsOf(snapshot.body);
  assert.equal(body, bits.padEnd(32, '0'), 'bit for bit');
  assert.equal(toHex(snapshot.body), '49925a01');
  assert.deepEqual(applySnapshot(baseline, null, snapshot, 30), next, 'and back');
  // Ship 1 alone: its code, its velocity's 6 bits and one position bit (was 2 se(0) codes).
  const alone = encodeSnapshot({ ...baseline, entities: [baseline.entities[0]] }, null, { ...next, entities: [next.entities[0]] }, 0, 30);
  assert.equal(bitsOf(alone.body), (exact + spawns).padEnd(16, '0'));
  assert.equal(alone.body.length, 2);
  // A decoder that reads the flag as 1 wants the position codes: cut them and it is Truncated.
  const flagged = Uint8Array.from(alone.body);
  flagged[1] |= 0x01; // bit 8: ship 1's position flag
  assert.throws(() => applySnapshot({ ...baseline, entities: [baseline.entities[0]] }, null, { ...alone, body: flagged }, 30),
    (e) => e instanceof ApplyError && e.kind === 'Truncated');
});

/**
 * A random but plausible stream of worlds: ships that accelerate, turn and score, pickups
 * that vanish and respawn, a ship that joins late.
 * @param {number} seed
 */
function* worlds(seed) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ships = [3, 7, 12].map((id) => ({ id, x: rand() * 20000, y: rand() * 14000, vx: 0, vy: 0, h: 0, value: 0 }));
  for (let tick = 1; tick <= 90; tick++) {
    const entities = [];
    for (const ship of ships) {
      if (ship.id === 12 && tick < 20) continue;
      // Wire velocities: 2 units/s steps (VELOCITY_STEP), up to 420 units/s; a tick moves a
      // ship by q * 2 * 16 / 30 position steps.
      ship.vx = Math.max(-210, Math.min(210, ship.vx + Math.round((rand() - 0.5) * 30)));
      ship.vy = Math.max(-210, Math.min(210, ship.vy + Math.round((rand() - 0.5) * 30)));
      ship.x = Math.max(320, Math.min(25280, ship.x + (ship.vx * 32) / 30));
      ship.y = Math.max(320, Math.min(15680, ship.y + (ship.vy * 32) / 30));
      ship.h = (ship.h + Math.round((rand() - 0.5) * 10) + 256) % 256;
      if (rand() < 0.05) ship.value += 1;
      entities.push({ id: ship.id, kind: 0, pos: { x: Math.round(ship.x), y: Math.round(ship.y) }, vel: { x: ship.vx, y: ship.vy }, heading: ship.h, flags: rand() < 0.2 ? 3 : 1, value: ship.value });
    }
    for (let p = 0; p < 6; p++) {
      if ((tick + p * 7) % 25 < 4) continue; // collected, waiting to respawn
      entities.push({ id: 100000 + p, kind: 1, pos: { x: 1000 + p * 3000, y: 2000 + p * 1500 }, vel: { x: 0, y: 0 }, heading: 0, flags: 1, value: p === 2 ? 3 : 1 });
    }
    yield { tick, round: { round: 1, phase: /** @type {const} */ ('Playing'), secondsLeft: 120 - Math.floor(tick / 30) }, entities };
  }
}

test('encode then apply is the identity over a stream of deltas with extrapolation', () => {
  for (const seed of [1, 2, 3]) {
    const history = new WorldHistory(30);
    /** @type {import('../index.js').World[]} */
    const sent = [];
    let bytes = 0;
    for (const world of worlds(seed)) {
      // Ack every other tick, like a client whose acks lag a little.
      const baseline = sent.length >= 2 ? sent[sent.length - 2] : null;
      const reference = baseline ? history.get(history.baselineOf(baseline.tick) ?? -1) ?? null : null;
      const snapshot = encodeSnapshot(baseline, reference, world, 0, 30);
      const wire = encodeServerMessage(snapshot);
      bytes += wire.length;
      const rebuilt = history.apply(/** @type {import('../index.js').Snapshot} */ (decodeServerMessage(wire)));
      assert.deepEqual(rebuilt, world, `seed ${seed} tick ${world.tick}`);
      sent.push(world);
    }
    assert.ok(bytes > 0);
  }
});

test('bit codes: Exp-Golomb and signed forms as PROTOCOL.md 6.3 writes them', () => {
  const bitsOf = (/** @type {(w: BitWriter) => void} */ f) => {
    const w = new BitWriter();
    f(w);
    const bytes = w.finish();
    const out = [];
    for (let i = 0; i < w.out.length * 8 - (w.used ? 8 - w.used : 0); i++) out.push((bytes[i >> 3] >> (i & 7)) & 1);
    return out.join('');
  };
  assert.equal(bitsOf((w) => w.eg(0, 0)), '1');
  assert.equal(bitsOf((w) => w.eg(1, 0)), '010');
  assert.equal(bitsOf((w) => w.eg(2, 0)), '011');
  assert.equal(bitsOf((w) => w.eg(3, 0)), '00100');
  assert.equal(bitsOf((w) => w.se(0, 1)), '10');
  assert.equal(bitsOf((w) => w.se(-1, 1)), '11');
  assert.equal(bitsOf((w) => w.se(1, 1)), '0100');
  for (const v of [0, 1, 5, 250, 65535, 2 ** 31, 2 ** 32 - 1]) {
    const w = new BitWriter();
    w.eg(v, 0);
    w.eg(v, 1);
    const r = new BitReader(w.finish());
    assert.equal(r.eg(0), v);
    assert.equal(r.eg(1), v);
  }
  for (const v of [0, 1, -1, 7, -300, 32767, -32768, 2 ** 30]) {
    const w = new BitWriter();
    w.se(v, 0);
    w.se(v, 1);
    const r = new BitReader(w.finish());
    assert.equal(r.se(0), v);
    assert.equal(r.se(1), v);
  }
  const overlong = new BitReader(new Uint8Array(5)); // 40 zero bits
  assert.throws(() => overlong.eg(0), (e) => e instanceof ApplyError && e.kind === 'InvalidCode');
  assert.equal(roundDiv(-5, 2), -3, 'half away from zero');
  assert.equal(roundDiv(5, 2), 3);
  assert.equal(roundDiv(-4, 3), -1);
  assert.equal(turn(250, 4), 10);
  assert.equal(turn(4, 250), -10);
  assert.equal(turn(0, 128), -128);
});
