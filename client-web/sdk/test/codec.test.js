// The SDK codec against every golden vector in shared/testdata/, both directions, and the
// decoding rules of PROTOCOL.md 2.5.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeClientMessage, decodeServerMessage, encodeClientMessage, encodeServerMessage,
  DecodeError, EncodeError, Writer, Reader, PROTOCOL_VERSION,
} from '../index.js';
import { TESTDATA, fromHex, loadVectors, toHex, toSdk } from './vectors.js';

const vectors = loadVectors();

test('the vector list covers both directions', () => {
  assert.ok(vectors.length >= 20, `only ${vectors.length} vectors`);
  assert.ok(vectors.some((v) => v.direction === 'client_to_server'));
  assert.ok(vectors.some((v) => v.direction === 'server_to_client'));
});

test('the vectors that must exist are there', () => {
  // The loop below tests whatever vectors.json holds, so one that went missing would fail
  // nothing there: the list of tests/tests/golden.rs (REQUIRED), which the Rust side checks too.
  const names = new Set(vectors.map((v) => v.name));
  const required = [
    'hello_player', 'hello_spectator', 'hello_controller', 'hello_resume', 'input', 'ack', 'chat', 'ping',
    'welcome', 'snapshot_full', 'snapshot_delta', 'snapshot_extrapolated', 'event_chat', 'event_audience',
    'controller_feedback', 'pong', 'kick', 'kick_removed',
  ];
  for (const name of required) assert.ok(names.has(name), `no vector ${name}`);
  // The Hellos state the version the SDK speaks: a protocol bump the SDK missed fails here.
  const hello = /** @type {any} */ (vectors.find((v) => v.name === 'hello_player'));
  assert.equal(toSdk(hello.value).version, PROTOCOL_VERSION);
  // Protocol 7's Removed, by its wire tag, 10.
  const removed = /** @type {any} */ (vectors.find((v) => v.name === 'kick_removed'));
  assert.deepEqual(decodeServerMessage(fromHex(removed.hex)), { type: 'Kick', reason: 'Removed', message: 'removed by the operator: spamming the chat' });
  assert.equal(removed.hex.slice(0, 4), '050a');
});

for (const vector of vectors) {
  const toServer = vector.direction === 'client_to_server';
  const decode = toServer ? decodeClientMessage : decodeServerMessage;
  const encode = toServer ? encodeClientMessage : encodeServerMessage;

  test(`${vector.name}: decodes to its value`, () => {
    const bin = readFileSync(join(TESTDATA, `${vector.name}.bin`));
    assert.equal(toHex(bin), vector.hex, '.bin and hex agree');
    const decoded = decode(bin);
    assert.equal(decoded.type, vector.message);
    assert.deepEqual(decoded, toSdk(vector.value));
  });

  test(`${vector.name}: its value encodes to its bytes`, () => {
    assert.equal(toHex(encode(toSdk(vector.value))), vector.hex);
  });

  test(`${vector.name}: every strict prefix is Truncated, an extra byte is TrailingBytes`, () => {
    const bytes = fromHex(vector.hex);
    if (vector.message === 'Snapshot') {
      // The body is the rest of the message: only the header can be cut short when decoding
      // (a cut body fails when applied; see snapshots.test.js).
      const header = bytes.length - vector.value.Snapshot.body.length / 2;
      for (let n = 0; n < header; n++) {
        assert.throws(() => decode(bytes.subarray(0, n)), (e) => e instanceof DecodeError && e.kind === 'Truncated', `prefix ${n}`);
      }
      return;
    }
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decode(bytes.subarray(0, n)), (e) => e instanceof DecodeError && e.kind === 'Truncated', `prefix ${n}`);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assert.throws(() => decode(longer), (e) => e instanceof DecodeError && e.kind === 'TrailingBytes');
  });
}

/** @param {string} hex @param {string} kind @param {(b: Uint8Array) => unknown} decode */
function rejects(hex, kind, decode = decodeServerMessage) {
  assert.throws(() => decode(fromHex(hex)), (e) => e instanceof DecodeError && e.kind === kind, `${hex} → ${kind}`);
}

test('varints: shortest forms written, markers checked against the field width', () => {
  const cases = [[42, '2a'], [250, 'fa'], [251, 'fbfb00'], [300, 'fb2c01'], [1234, 'fbd204'], [70000, 'fc70110100'], [0xdeadbeef, 'fcefbeadde']];
  for (const [v, hex] of cases) {
    const w = new Writer();
    w.u32(/** @type {number} */ (v));
    assert.equal(toHex(w.finish()), hex);
    assert.equal(new Reader(fromHex(/** @type {string} */ (hex))).u32(), v);
  }
  const w = new Writer();
  w.varint(2 ** 40, Number.MAX_SAFE_INTEGER);
  assert.equal(toHex(w.finish()), 'fd0000000000010000');
  assert.equal(new Reader(fromHex('fb0500')).u16(), 5, 'a longer form of a small value is accepted');
  assert.throws(() => new Reader(fromHex('fc01000000')).u16(), (e) => e instanceof DecodeError && e.kind === 'InvalidInteger');
  assert.throws(() => new Reader(fromHex('fd0100000000000000')).u32(), (e) => e instanceof DecodeError && e.kind === 'InvalidInteger');
  assert.throws(() => new Reader(fromHex('fe')).u32(), (e) => e instanceof DecodeError && e.kind === 'InvalidInteger');
  assert.throws(() => new Writer().u16(65536), EncodeError);
});

test('snapshot ticks and inputs are LEB128, and escaped ages read back', () => {
  const leb = (/** @type {number} */ v) => {
    const w = new Writer();
    w.leb128(v);
    return toHex(w.finish());
  };
  assert.deepEqual([0, 127, 128, 300, 5000, 70000, 2 ** 21 - 1, 2 ** 32 - 1].map(leb),
    ['00', '7f', '8001', 'ac02', '8827', 'f0a204', 'ffff7f', 'ffffffff0f']);
  assert.equal(new Reader(fromHex('ffffffff0f')).leb128(), 2 ** 32 - 1);
  assert.throws(() => new Writer().leb128(2 ** 32), EncodeError);
  const s = decodeServerMessage(fromHex('017f0f071e00'));
  assert.ok(s.type === 'Snapshot');
  assert.deepEqual([s.tick, s.baseline, s.reference], [30, 15, 8], 'ages 15 and 7 follow as bytes');
  assert.equal(toHex(encodeServerMessage(s)), '017f0f071e00');
  // A player's usual delta at tick 5000: tag, head (ages 1 and 1), tick, last input.
  /** @type {import('../index.js').ServerMessage} */
  const usual = { type: 'Snapshot', tick: 5000, baseline: 4999, reference: 4998, lastInput: 4990, round: null, body: new Uint8Array(0) };
  assert.equal(toHex(encodeServerMessage(usual)), '01118827fe26');
});

test('bad input gets the error PROTOCOL.md names', () => {
  rejects('06', 'UnknownTag'); // no server message 6
  rejects('0505216d', 'Truncated');
  rejects('050b00', 'UnknownTag'); // kick reason 11 (10 is Removed, since protocol 7)
  rejects('0207', 'Truncated');
  rejects('020506', 'UnknownTag'); // event kind 6
  rejects('000700fa', 'StringTooLong'); // a room name of 250 bytes
  rejects('0305000000fb2c0102c8', 'InvalidBool');
  // Snapshot heads: bits 0-3 baseline age (15: a byte follows), 4-6 reference age (7: a byte
  // follows), 7 round; then the tick and last input as LEB128.
  rejects('010f0e1400', 'InvalidSnapshotHeader'); // an escaped baseline age that fits the field
  rejects('0171061400', 'InvalidSnapshotHeader'); // an escaped reference age that fits
  rejects('0171001400', 'InvalidSnapshotHeader'); // a reference age of 0
  rejects('01000000', 'InvalidSnapshotHeader'); // a full snapshot without its round
  rejects('01b00900010005', 'InvalidSnapshotHeader'); // a reference without a baseline
  rejects('01020100', 'InvalidSnapshotHeader'); // a baseline before tick 0
  rejects('0171090900', 'InvalidSnapshotHeader'); // a reference before tick 0
  rejects('0111810000', 'InvalidInteger'); // a tick longer than its shortest form
  rejects('0111ffffffff1f00', 'InvalidInteger'); // a tick past 32 bits
  rejects('0111e4', 'Truncated'); // a tick that goes on past the end
  rejects('0205000203ff6f6202', 'InvalidUtf8');
  rejects('0205000203c0af6202', 'InvalidUtf8'); // an overlong form
  rejects('000100036164610200', 'UnknownTag', decodeClientMessage); // RoomRequest 2
  assert.throws(() => decodeClientMessage(new Uint8Array(257)), (e) => e instanceof DecodeError && e.kind === 'TooLarge');
  assert.throws(() => decodeServerMessage(new Uint8Array(65537)), (e) => e instanceof DecodeError && e.kind === 'TooLarge');
});

test('strings keep a leading U+FEFF, byte for byte, as the Rust codec does', () => {
  const chat = Uint8Array.of(3, 5, 0xef, 0xbb, 0xbf, 0x68, 0x69);
  const decoded = decodeClientMessage(chat);
  assert.deepEqual(decoded, { type: 'Chat', text: '\uFEFFhi' });
  assert.deepEqual([...encodeClientMessage(decoded)], [...chat]);
});

test('encoders refuse what the protocol cannot carry', () => {
  assert.throws(() => encodeClientMessage({ type: 'Chat', text: 'x'.repeat(201) }), EncodeError);
  assert.throws(() => encodeClientMessage({ type: 'Chat', text: '🚀'.repeat(51) }), EncodeError, 'bounds count bytes');
  assert.throws(() => encodeClientMessage({ type: 'Input', seq: 1, x: 128, y: 0, buttons: 0 }), EncodeError);
  assert.throws(() => encodeClientMessage({ type: 'Hello', version: 1, role: 'Player', name: 'a', room: null, resume: new Uint8Array(3) }), EncodeError);
  assert.equal(encodeClientMessage({ type: 'Chat', text: '🚀'.repeat(50) }).length, 202, 'the largest client message');
});
