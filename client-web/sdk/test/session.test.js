// The session without a network: time is an argument, the server is played by the test with
// the SDK's own encoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Session, decodeClientMessage, encodeServerMessage, encodeSnapshot, KickedError, VersionMismatchError,
  ConnectionClosedError, UnreachableError, InterpolationBuffer, quantizeAxis, toRenderEntity, truncateUtf8,
  PROTOCOL_VERSION, VELOCITY_STEP, LIMITS,
} from '../index.js';
import { InputPhase, INPUT_SLEW_MS } from '../src/phase.js';

const token = new Uint8Array(16).fill(7);
/** @param {Partial<import('../index.js').Welcome>} [over] */
const welcome = (over = {}) => encodeServerMessage({
  type: 'Welcome', playerId: 3, role: 'Player', room: 'r1', tickRate: 30, world: { width: 1600, height: 1000 },
  viewRadius: 700, entity: 3, resumeToken: token, resumed: false, ...over,
});
const round = { round: 1, phase: /** @type {const} */ ('Playing'), secondsLeft: 90 };
/** @param {number} x */
const ship = (x) => ({ id: 3, kind: 0, pos: { x, y: 160 }, vel: { x: 0, y: 0 }, heading: 0, flags: 1, value: 0 });

/** @param {Session} s */
function drain(s) {
  const sent = [];
  for (let b = s.pollTransmit(); b; b = s.pollTransmit()) sent.push(decodeClientMessage(b));
  const events = [];
  for (let e = s.pollEvent(); e; e = s.pollEvent()) events.push(e);
  const actions = [];
  for (let a = s.pollAction(); a; a = s.pollAction()) actions.push(a);
  return { sent, events, actions };
}

/** A session that reached Welcome at time 0. */
function joined(options = {}) {
  const s = new Session({ name: 'ada', room: 'r1', random: () => 0.5, ...options });
  s.connect(0);
  s.handleOpen(0);
  s.handleMessage(welcome(), 0);
  drain(s);
  return s;
}

test('connect opens, Hello goes first with name, role and room', () => {
  const s = new Session({ name: 'ada', room: 'r1' });
  assert.equal(s.state, 'idle');
  s.connect(0);
  assert.deepEqual(drain(s).actions, [{ type: 'open' }]);
  s.handleOpen(5);
  const { sent } = drain(s);
  assert.deepEqual(sent[0], { type: 'Hello', version: PROTOCOL_VERSION, role: 'Player', name: 'ada', room: 'r1', resume: null });
  s.handleMessage(welcome(), 10);
  const { events } = drain(s);
  assert.ok(events.some((e) => e.type === 'welcome'));
  assert.equal(s.state, 'joined');
  assert.deepEqual(s.resumeToken, token);
});

test('inputs go out once per tick with increasing sequence numbers', () => {
  const s = joined();
  s.setInput({ x: 1, y: -0.5, buttons: 1 });
  const seen = [];
  for (let now = 0; now <= 1000; now += 5) {
    if ((s.pollTimeout() ?? Infinity) <= now) s.handleTimeout(now);
    seen.push(...drain(s).sent.filter((m) => m.type === 'Input'));
  }
  assert.ok(seen.length >= 30 && seen.length <= 32, `${seen.length} inputs in a second at 30 Hz`);
  assert.deepEqual(seen.map((m) => m.seq), seen.map((_, i) => i + 1));
  assert.deepEqual({ x: seen[0].x, y: seen[0].y, buttons: seen[0].buttons }, { x: 127, y: -64, buttons: 1 });
  assert.equal(quantizeAxis(NaN), 0);
  assert.equal(quantizeAxis(-3), -127);
  assert.equal(quantizeAxis(Infinity), 127, 'clamped, as quantize_axis_input');
  assert.equal(quantizeAxis(-Infinity), -127);
});

test('a stalled uplink holds the unapplied inputs at 128, within the server\'s input burst', () => {
  const s = joined();
  s.setInput({ x: 1 });
  /** @param {number} from @param {number} to */
  const inputsSent = (from, to) => {
    const seqs = [];
    for (let now = from; now <= to; now += 5) {
      if ((s.pollTimeout() ?? Infinity) <= now) s.handleTimeout(now);
      for (const m of drain(s).sent) if (m.type === 'Input') seqs.push(m.seq);
    }
    return seqs;
  };
  // 6 s of snapshots that say the server applied nothing (an uplink stalled; the downlink
  // is fine): 180 inputs would go out, a backlog that grows by 30 a second and, past the
  // server's burst of 360, gets the seat kicked as `RateLimited` when the uplink recovers.
  const stalled = [];
  for (let tick = 1; tick <= 6; tick++) {
    stalled.push(...inputsSent((tick - 1) * 1000, tick * 1000 - 5));
    s.handleMessage(encodeServerMessage(encodeSnapshot(null, null, { tick, round, entities: [ship(100)] }, 0, 30)), tick * 1000);
  }
  assert.equal(s.state, 'joined');
  assert.equal(stalled.length, 128, 'no more unapplied than prediction keeps');
  assert.equal(s.pendingInputs.length, 128, 'every one of them still predicted');
  // The uplink recovers: once the server says it applied them, inputs go out again.
  s.handleMessage(encodeServerMessage(encodeSnapshot(null, null, { tick: 7, round, entities: [ship(100)] }, 128, 30)), 6010);
  assert.deepEqual(inputsSent(6010, 6100).slice(0, 2), [129, 130]);

  // A controller hears of no snapshot, and so of no input applied: it sends on all the same.
  const pad = new Session({ name: 'pad', room: 'r1', role: 'Controller', random: () => 0.5 });
  pad.connect(0);
  pad.handleOpen(0);
  pad.handleMessage(welcome({ role: 'Controller' }), 0);
  drain(pad);
  pad.setInput({ x: 1 });
  let sent = 0;
  for (let now = 0; now <= 10_000; now += 5) {
    if ((pad.pollTimeout() ?? Infinity) <= now) pad.handleTimeout(now);
    for (const m of drain(pad).sent) if (m.type === 'Input') sent += 1;
    // The server's pongs keep the link alive; nothing says which inputs it applied.
    if (now % 1000 === 0) pad.handleMessage(encodeServerMessage({ type: 'Pong', nonce: 0, serverTick: now / 33 | 0 }), now);
  }
  assert.equal(pad.state, 'joined');
  assert.ok(sent >= 290, `a controller sent ${sent} inputs in 10 s`);
});

test('snapshots are applied, acked, and acked inputs leave the pending list', () => {
  const s = joined();
  s.setInput({ x: 1 });
  for (let now = 0; now <= 100; now += 10) s.handleTimeout(now);
  drain(s);
  assert.ok(s.pendingInputs.length >= 3);
  const w10 = { tick: 10, round, entities: [ship(100)] };
  const w11 = { tick: 11, round, entities: [{ ...ship(120), vel: { x: 18, y: 0 }, heading: 3 }] };
  const w12 = { tick: 12, round: { ...round, secondsLeft: 89 }, entities: [{ ...ship(140), vel: { x: 18, y: 0 }, heading: 3 }] };
  s.handleMessage(encodeServerMessage(encodeSnapshot(null, null, w10, 2, 30)), 120);
  let out = drain(s);
  assert.deepEqual(out.sent.filter((m) => m.type === 'Ack'), [{ type: 'Ack', tick: 10 }]);
  assert.equal(s.pendingInputs[0].seq, 3, 'inputs 1 and 2 were applied');
  s.handleMessage(encodeServerMessage(encodeSnapshot(w10, null, w11, 3, 30)), 150);
  s.handleMessage(encodeServerMessage(encodeSnapshot(w11, w10, w12, 3, 30)), 180);
  out = drain(s);
  assert.deepEqual(out.sent.filter((m) => m.type === 'Ack').map((m) => m.type === 'Ack' && m.tick), [11, 12]);
  assert.deepEqual(s.world, w12, 'rebuilt from a delta extrapolated from the reference');
  assert.equal(out.events.filter((e) => e.type === 'snapshot').length, 2);
  // A snapshot against a tick we do not hold: dropped, nothing acked, the history kept.
  s.handleMessage(encodeServerMessage(encodeSnapshot({ ...w12, tick: 13 }, null, { ...w12, tick: 14 }, 3, 30)), 190);
  out = drain(s);
  assert.equal(out.sent.filter((m) => m.type === 'Ack').length, 0);
  assert.equal(s.applyErrors, 1);
  assert.equal(s.history.latest()?.tick, 12);
  assert.equal(s.world?.tick, 12);
});

test('the tick that first showed the newest applied input is kept, through snapshots that come at once', () => {
  // After a stall the snapshots it held back are handled together and a game draws only the
  // newest: how long the server ran the ship on one input is in the ones between.
  const s = joined();
  assert.equal(s.lastInputAppliedTick, -1);
  s.setInput({ x: 1 });
  for (let now = 0; now <= 200; now += 10) s.handleTimeout(now);
  drain(s);
  /** @type {import('../index.js').World | null} */
  let before = null;
  for (const [tick, lastInput] of [[10, 2], [11, 3], [12, 3], [13, 3], [14, 3]]) {
    const w = { tick, round, entities: [ship(100)] };
    s.handleMessage(encodeServerMessage(encodeSnapshot(before, null, w, lastInput, 30)), 300);
    before = w;
  }
  assert.equal(s.lastInputApplied, 3);
  assert.equal(s.lastInputAppliedTick, 11, 'input 3 since tick 11, not the newest tick 14');
  s.handleClose(1006, '', false, 400);
  s.handleTimeout(10_000);
  s.handleOpen(10_000);
  s.handleMessage(welcome({ resumed: true }), 10_010);
  assert.equal(s.state, 'joined');
  assert.equal(s.lastInputAppliedTick, -1, 'a new connection numbers its inputs afresh');
});

test('a spectator acks its first full snapshot at once, then every 30 ticks', () => {
  const s = new Session({ name: 'eve', room: 'r1', role: 'Spectator', random: () => 0.5 });
  s.connect(0);
  s.handleOpen(0);
  s.handleMessage(welcome({ role: 'Spectator', entity: null }), 0);
  drain(s);
  const worlds = Array.from({ length: 36 }, (_, i) => ({ tick: 10 + i, round, entities: [ship(100 + i)] }));
  const acks = () => drain(s).sent.filter((m) => m.type === 'Ack').map((m) => m.type === 'Ack' && m.tick);
  s.handleMessage(encodeServerMessage(encodeSnapshot(null, null, worlds[0], 0, 30)), 10);
  assert.deepEqual(acks(), [10], 'a full snapshot is acked at once');
  // Each delta against the one before it (what the server's socket took).
  for (let i = 1; i < 30; i++) {
    s.handleMessage(encodeServerMessage(encodeSnapshot(worlds[i - 1], null, worlds[i], 0, 30)), 20);
    assert.deepEqual(acks(), [], `tick ${worlds[i].tick}: not yet`);
  }
  s.handleMessage(encodeServerMessage(encodeSnapshot(worlds[29], null, worlds[30], 0, 30)), 30);
  assert.deepEqual(acks(), [40], '30 ticks past the last ack: the newest');
  assert.deepEqual(s.world, worlds[30], 'every snapshot was rebuilt');

  const every = new Session({ name: 'eve', room: 'r1', role: 'Spectator', spectatorAckEvery: 1, random: () => 0.5 });
  every.connect(0);
  every.handleOpen(0);
  every.handleMessage(welcome({ role: 'Spectator', entity: null }), 0);
  drain(every);
  every.handleMessage(encodeServerMessage(encodeSnapshot(null, null, worlds[0], 0, 30)), 10);
  every.handleMessage(encodeServerMessage(encodeSnapshot(worlds[0], null, worlds[1], 0, 30)), 20);
  assert.deepEqual(drain(every).sent.filter((m) => m.type === 'Ack').map((m) => m.type === 'Ack' && m.tick), [10, 11]);
});

test('a spectator acks by ticks, not snapshots, and every 8 ticks on the HTTP fallback', () => {
  const worlds = Array.from({ length: 21 }, (_, i) => ({ tick: 10 + i, round, entities: [ship(100 + i)] }));
  const spectator = (/** @type {'ws' | 'poll'} */ transport, /** @type {number} */ every) => {
    const s = new Session({ name: 'eve', room: 'r1', role: 'Spectator', spectatorAckEvery: every, random: () => 0.5 });
    s.connect(0);
    s.handleOpen(0, transport);
    s.handleMessage(welcome({ role: 'Spectator', entity: null }), 0);
    drain(s);
    return s;
  };
  const acks = (/** @type {Session} */ s) => drain(s).sent.filter((m) => m.type === 'Ack').map((m) => m.type === 'Ack' && m.tick);
  // Every other tick arrives (a slow reader skips the rest): acked at tick 18, the fourth
  // snapshot after the first, not the eighth.
  const skipping = spectator('ws', 8);
  skipping.handleMessage(encodeServerMessage(encodeSnapshot(null, null, worlds[0], 0, 30)), 0);
  assert.deepEqual(acks(skipping), [10]);
  for (const i of [2, 4, 6, 8]) {
    skipping.handleMessage(encodeServerMessage(encodeSnapshot(worlds[i - 2], null, worlds[i], 0, 30)), i);
  }
  assert.deepEqual(acks(skipping), [18]);
  // A full snapshot is acked at once, whatever the cadence.
  skipping.handleMessage(encodeServerMessage(encodeSnapshot(null, null, worlds[9], 0, 30)), 9);
  assert.deepEqual(acks(skipping), [19]);
  // On the fallback the server encodes against acks: every 8 ticks even when asked for 30.
  const polling = spectator('poll', 30);
  polling.handleMessage(encodeServerMessage(encodeSnapshot(null, null, worlds[0], 0, 30)), 0);
  for (let i = 1; i <= 16; i++) {
    polling.handleMessage(encodeServerMessage(encodeSnapshot(worlds[i - 1], null, worlds[i], 0, 30)), i);
  }
  assert.deepEqual(acks(polling), [10, 18, 26]);
});

test('an abnormal close reconnects with growing backoff and resumes with the token', () => {
  const s = joined({ reconnect: { initialDelayMs: 100, maxDelayMs: 400, jitter: 0 } });
  s.handleClose(1006, '', false, 1000);
  assert.equal(s.state, 'reconnecting');
  assert.equal(s.pollTimeout(), 1100);
  s.handleTimeout(1099);
  assert.equal(drain(s).actions.length, 0, 'not before the delay');
  s.handleTimeout(1100);
  assert.deepEqual(drain(s).actions, [{ type: 'open' }]);
  s.handleClose(1006, '', false, 1110); // the server is still down
  assert.equal(s.pollTimeout(), 1110 + 200);
  s.handleTimeout(1310);
  s.handleClose(1006, '', false, 1320);
  assert.equal(s.pollTimeout(), 1320 + 400);
  s.handleTimeout(1720);
  s.handleClose(1006, '', false, 1730);
  assert.equal(s.pollTimeout(), 1730 + 400, 'capped');
  s.handleTimeout(2130);
  drain(s);
  s.handleOpen(2140);
  const hello = drain(s).sent[0];
  assert.equal(hello.type, 'Hello');
  assert.deepEqual(hello.type === 'Hello' && hello.resume, token);
  s.handleMessage(welcome({ resumed: true }), 2150);
  assert.equal(s.state, 'joined');
  assert.equal(s.inputSeq, 0, 'inputs are numbered afresh on a new connection');
  // A connection that lasted resets the backoff.
  s.handleClose(1006, '', false, 2150 + 5000);
  assert.equal(s.pollTimeout(), 7150 + 100, 'a success resets the backoff');
});

test('retryNow skips the rest of a backoff wait, and touches nothing else', () => {
  const s = joined({ reconnect: { initialDelayMs: 100, maxDelayMs: 4000, jitter: 0, maxAttempts: 20 } });
  assert.equal(s.retryNow(500), false, 'joined: nothing to do');
  assert.deepEqual(drain(s).actions, []);
  s.handleClose(1006, '', false, 1000);
  // The server stays away: each attempt fails 10 ms after it opens.
  while (s.attempt < 6) {
    const at = /** @type {number} */ (s.pollTimeout());
    s.handleTimeout(at);
    s.handleClose(1006, '', false, at + 10);
  }
  drain(s);
  const waitingUntil = /** @type {number} */ (s.pollTimeout());
  const now = waitingUntil - 3000; // the network is back 3 s into a 3.2 s wait
  assert.equal(s.retryNow(now), true);
  assert.deepEqual(drain(s).actions, [{ type: 'open' }], 'an attempt opens at once');
  assert.equal(s.state, 'connecting');
  assert.equal(s.pollTimeout(), now + s.connectTimeoutMs, 'the old wake-up is gone: only the new attempt\'s deadline');
  assert.equal(s.retryNow(now + 1), false, 'an attempt under way is left to finish');
  assert.deepEqual(drain(s).actions, []);
  assert.equal(s.attempt, 6, 'the attempts made still count');
  s.handleOpen(now + 5);
  s.handleMessage(welcome({ resumed: true }), now + 10);
  assert.equal(s.state, 'joined');
  s.leave(now + 20);
  assert.equal(s.retryNow(now + 30), false, 'leaving: nothing to do');
  const ended = new Session({ name: 'ada' });
  assert.equal(ended.retryNow(0), false, 'not started: nothing to do');
  assert.equal(ended.state, 'idle');
});

test('a resume token of another role\'s seat is dropped, and the next attempt joins afresh', () => {
  const s = new Session({ name: 'ada', role: 'Spectator', resumeToken: token, random: () => 0.5, reconnect: { initialDelayMs: 100, jitter: 0 } });
  s.connect(0);
  s.handleOpen(0);
  const hello = drain(s).sent[0];
  assert.deepEqual(hello.type === 'Hello' && hello.resume, token);
  s.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'ResumeRejected', message: 'that seat is a player\'s' }), 5);
  s.handleClose(1008, 'that seat is a player\'s', true, 6);
  assert.equal(s.state, 'reconnecting');
  assert.equal(s.resumeToken, null);
  s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
  assert.deepEqual(drain(s).actions, [{ type: 'open' }]);
  s.handleOpen(200);
  const fresh = drain(s).sent[0];
  assert.equal(fresh.type === 'Hello' && fresh.resume, null, 'no token: a fresh seat');
  s.handleMessage(welcome({ role: 'Spectator' }), 210);
  assert.equal(s.state, 'joined');
});

test('fatal kicks fail the session; going-away kicks retry', () => {
  // (`ResumeRejected` without a token to drop is the server's mistake: not retried.)
  const noToken = new Session({ name: 'ada', room: 'r1', random: () => 0.5 });
  noToken.connect(0);
  noToken.handleOpen(0);
  noToken.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'ResumeRejected', message: 'no' }), 1);
  noToken.handleClose(1008, 'no', true, 2);
  assert.equal(noToken.state, 'failed');
  for (const [reason, code] of /** @type {[string, number][]} */ ([['RateLimited', 1008], ['Replaced', 1008], ['BadHello', 1002], ['Removed', 1008]])) {
    const s = joined();
    s.handleMessage(encodeServerMessage({ type: 'Kick', reason: /** @type {any} */ (reason), message: 'no' }), 10);
    s.handleClose(code, 'no', true, 11);
    const { events } = drain(s);
    assert.equal(s.state, 'failed', reason);
    const error = events.find((e) => e.type === 'error')?.error;
    assert.ok(error instanceof KickedError && error.reason === reason && error.code === code, reason);
    assert.equal(s.pollTimeout(), null, 'nothing more to do');
  }
  const v = joined();
  v.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'VersionMismatch', serverVersion: 2, message: 'speak 2' }), 1);
  v.handleClose(1002, 'speak 2', true, 2);
  assert.ok(v.error instanceof VersionMismatchError && v.error.serverVersion === 2);
  for (const [reason, code] of /** @type {[string, number][]} */ ([['ShuttingDown', 1001], ['Idle', 1008], ['TooSlow', 1008]])) {
    const s = joined();
    s.handleMessage(encodeServerMessage({ type: 'Kick', reason: /** @type {any} */ (reason), message: 'bye' }), 10);
    s.handleClose(code, 'bye', true, 11);
    assert.equal(s.state, 'reconnecting', reason);
  }
  const p = joined();
  p.handleClose(1002, 'bad frame', true, 5);
  assert.ok(p.error instanceof ConnectionClosedError && !p.error.retryable);
});

test('Full ends a first join, and is retried while resuming a seat', () => {
  const fresh = new Session({ name: 'ada', room: 'r1', random: () => 0.5 });
  fresh.connect(0);
  fresh.handleOpen(0);
  fresh.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Full', message: 'room is full' }), 1);
  fresh.handleClose(1013, 'room is full', true, 2);
  assert.equal(fresh.state, 'failed');
  assert.ok(fresh.error instanceof KickedError && fresh.error.reason === 'Full' && fresh.error.code === 1013);

  // Dropped, then refused as full on the way back (a fleet whose room directory is down).
  const s = joined();
  s.handleClose(1006, '', false, 10);
  s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
  s.handleOpen(400);
  assert.deepEqual(drain(s).sent[0].type === 'Hello' && s.resumeToken, token);
  s.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Full', message: 'the room directory is unavailable; try again' }), 401);
  s.handleClose(1013, 'try again', true, 402);
  assert.equal(s.state, 'reconnecting');
  const retry = drain(s).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
  assert.ok(retry?.type === 'state' && retry.cause instanceof KickedError && retry.cause.reason === 'Full');
  assert.equal(s.attempt, 2, 'a refused resume is a failed attempt');

  // Refused every time: the session ends with the server's last word (the room is full), which
  // a game shows as such, not as a lost connection.
  let now = 402;
  while (s.state === 'reconnecting') {
    now = /** @type {number} */ (s.pollTimeout());
    s.handleTimeout(now);
    s.handleOpen(now);
    s.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Full', message: 'room is full' }), now);
    s.handleClose(1013, 'room is full', true, now);
  }
  assert.equal(s.state, 'failed');
  assert.ok(s.error instanceof KickedError && s.error.reason === 'Full' && s.error.code === 1013, `${s.error}`);
  assert.equal(s.attempt, 21);
});

test('Removed ends the session for good, joined, on the way back to a seat and on a first join, with the operator\'s words', () => {
  /**
   * The server's Removed kick and its close, then what the session did with them; and nothing
   * more, however long the driver keeps asking.
   * @param {Session} s @param {string} message @param {number} now
   */
  const removed = (s, message, now) => {
    s.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Removed', message }), now);
    s.handleClose(1008, message, true, now + 1);
    const after = drain(s);
    assert.equal(s.state, 'failed');
    assert.equal(s.pollTimeout(), null, 'nothing more to do: no reconnect is scheduled');
    s.handleTimeout(now + 60_000);
    assert.deepEqual(drain(s), { sent: [], events: [], actions: [] }, 'a minute on: no socket opened, nothing sent');
    assert.throws(() => s.connect(now + 60_000), /failed and does not connect again/);
    return after;
  };

  // Removed from the room while playing.
  const s = joined();
  const said = 'removed by the operator: spamming the chat';
  const { events, actions } = removed(s, said, 10);
  assert.deepEqual(actions, [], 'no socket opened');
  const error = events.find((e) => e.type === 'error')?.error;
  assert.ok(error instanceof KickedError, `${error}`);
  assert.equal(error.reason, 'Removed');
  assert.equal(error.serverMessage, said, 'the operator\'s reason, as the server said it');
  assert.equal(error.code, 1008);
  assert.equal(error.message, `Removed: ${said}`);
  assert.equal(s.error, error);
  assert.deepEqual(events.filter((e) => e.type === 'state').map((e) => e.type === 'state' && e.state), ['failed']);
  const failed = events.find((e) => e.type === 'state');
  assert.ok(failed?.type === 'state' && failed.cause === error);

  // Dropped, and on the way back to the seat turned away by a ban: unlike `Full` there, not
  // retried, though the session has a seat to resume.
  const back = joined();
  back.handleClose(1006, '', false, 10);
  back.handleTimeout(/** @type {number} */ (back.pollTimeout()));
  back.handleOpen(400);
  const hello = drain(back).sent[0];
  assert.deepEqual(hello.type === 'Hello' && hello.resume, token, 'the Hello resumes the seat');
  const banned = 'banned for 9 more minutes: spamming the chat';
  const refused = removed(back, banned, 401);
  assert.deepEqual(refused.actions, []);
  assert.ok(back.error instanceof KickedError && back.error.reason === 'Removed' && back.error.serverMessage === banned, `${back.error}`);

  // A first join refused by a ban: the server's words, not an unreachable server.
  const fresh = new Session({ name: 'ada', room: 'r1', random: () => 0.5 });
  fresh.connect(0);
  fresh.handleOpen(0);
  drain(fresh);
  removed(fresh, banned, 1);
  assert.ok(fresh.error instanceof KickedError, `${fresh.error}`);
  assert.equal(fresh.error.reason, 'Removed');
  assert.equal(fresh.connections, 0);
});

test('only a connection that lasted resets the backoff: one closed right after its Welcome does not', () => {
  const s = joined({ reconnect: { maxAttempts: 3, initialDelayMs: 100, jitter: 0 } });
  /** @type {number[]} */
  const delays = [];
  let now = 0;
  // A server that welcomes and then fails at once, every time.
  for (let round = 0; round < 10; round++) {
    s.handleClose(1011, 'internal error', true, now + 50);
    const state = drain(s).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
    if (s.state === 'failed') break;
    assert.ok(state?.type === 'state' && state.delayMs !== undefined);
    delays.push(state.delayMs);
    now = /** @type {number} */ (s.pollTimeout());
    s.handleTimeout(now);
    s.handleOpen(now);
    s.handleMessage(welcome({ resumed: true }), now);
  }
  assert.deepEqual(delays, [100, 200, 400], 'the delays grow');
  assert.match(String(s.error?.message), /gave up after 3 attempts/);
  assert.equal(s.error?.message, 'connection closed with 1011: gave up after 3 attempts: internal error', 'each thing once');
  assert.equal(/** @type {import('../index.js').ConnectionClosedError} */ (s.error).attempts, 3, 'said apart from an answer');

  // A connection that lasted resets it: the next delay is the first one again.
  const t = joined({ reconnect: { initialDelayMs: 100, jitter: 0 } });
  t.handleClose(1006, '', false, 10);
  t.handleTimeout(/** @type {number} */ (t.pollTimeout()));
  t.handleOpen(200);
  t.handleMessage(welcome({ resumed: true }), 200);
  assert.equal(t.attempt, 1, 'not yet: the connection has not proved itself');
  drain(t);
  t.handleClose(1006, '', false, 200 + 5000);
  const state = drain(t).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
  assert.ok(state?.type === 'state' && state.delayMs === 100 && t.attempt === 1);
});

/**
 * Fails every attempt of `s` (a server that is down) `n` times, 10 ms after each opens; returns
 * the delay each failure chose (null once the session gave up) and the time reached.
 * @param {Session} s @param {number} n
 */
function refusedAttempts(s, n) {
  /** @type {(number | null)[]} */
  const delays = [];
  for (let i = 0; i < n; i++) {
    const at = /** @type {number} */ (s.pollTimeout());
    s.handleTimeout(at);
    s.handleClose(1006, '', false, at + 10);
    const state = drain(s).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
    if (s.state === 'failed') {
      delays.push(null);
      break;
    }
    delays.push(state?.type === 'state' && state.delayMs !== undefined ? state.delayMs : -1);
  }
  return delays;
}

test('a server going away is retried at the first delay through its restart window, uncounted', () => {
  const s = joined({ reconnect: { maxAttempts: 3, initialDelayMs: 250, jitter: 0 } });
  s.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'ShuttingDown', message: 'server shutting down' }), 60000);
  s.handleClose(1001, 'server shutting down', true, 60000);
  const first = drain(s).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
  assert.ok(first?.type === 'state' && first.delayMs === 250);
  // 10 s of a server that is down: each attempt fails 10 ms after it opens and waits 250 ms
  // again (38 fit the window), and none counts towards maxAttempts (3).
  const inWindow = refusedAttempts(s, 38);
  assert.deepEqual(inWindow, Array(38).fill(250));
  assert.equal(s.state, 'reconnecting');
  // Past the window the backoff grows from the first delay, and the limit counts again.
  assert.deepEqual(refusedAttempts(s, 5), [250, 500, 1000, null]);
  assert.ok(s.error instanceof ConnectionClosedError);
  assert.match(s.error.message, /gave up after 3 attempts/);

  // Without a kick, a close 1001 or 1012 opens the window too; other codes do not.
  for (const [code, expected] of /** @type {[number, number[]][]} */ ([[1001, [250, 250, 250]], [1012, [250, 250, 250]], [1011, [500, 1000, 2000]], [1013, [500, 1000, 2000]]])) {
    const t = joined({ reconnect: { initialDelayMs: 250, jitter: 0 } });
    t.handleClose(code, 'bye', true, 60000);
    drain(t);
    assert.deepEqual(refusedAttempts(t, 3), expected, `close ${code}`);
  }
  // A 1001 that a kick other than ShuttingDown explained does not (none does today: the
  // kick's reason decides).
  const idle = joined({ reconnect: { initialDelayMs: 250, jitter: 0 } });
  idle.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Idle', message: 'idle' }), 60000);
  idle.handleClose(1001, 'idle', true, 60000);
  drain(idle);
  assert.deepEqual(refusedAttempts(idle, 2), [500, 1000]);

  // A Welcome ends the window: a server back from its restart that then fails at once is
  // retried ever more slowly and given up on (the restart's attempts still uncounted).
  const crashing = joined({ reconnect: { maxAttempts: 2, initialDelayMs: 250, jitter: 0 } });
  crashing.handleClose(1001, 'bye', true, 60000);
  drain(crashing);
  assert.deepEqual(refusedAttempts(crashing, 3), [250, 250, 250]);
  /** @type {(number | null)[]} */
  const crashes = [];
  for (let i = 0; i < 4 && crashing.state !== 'failed'; i++) {
    const at = /** @type {number} */ (crashing.pollTimeout());
    crashing.handleTimeout(at);
    crashing.handleOpen(at);
    crashing.handleMessage(welcome(), at);
    crashing.handleClose(1011, 'internal error', true, at + 50);
    const state = drain(crashing).events.find((e) => e.type === 'state' && e.state === 'reconnecting');
    crashes.push(crashing.isEnded() ? null : state?.type === 'state' ? state.delayMs ?? -1 : -1);
  }
  assert.deepEqual(crashes, [250, 500, null], 'within 10 s of the 1001');

  // A kick for another reason is a live server's answer: the window ends there too.
  const full = joined({ reconnect: { initialDelayMs: 250, jitter: 0 } });
  full.handleClose(1012, 'service restart', true, 60000);
  drain(full);
  const at = /** @type {number} */ (full.pollTimeout());
  full.handleTimeout(at);
  full.handleOpen(at);
  full.handleMessage(encodeServerMessage({ type: 'Kick', reason: 'Full', message: 'room is full' }), at + 5);
  full.handleClose(1013, 'room is full', true, at + 5);
  drain(full);
  assert.deepEqual(refusedAttempts(full, 2), [500, 1000]);

  // Before a first Welcome a 1001 opens no window: maxInitialAttempts stands.
  const fresh = new Session({ name: 'ada', random: () => 0.5, reconnect: { initialDelayMs: 250, jitter: 0, maxInitialAttempts: 2 } });
  fresh.connect(0);
  fresh.handleOpen(0);
  fresh.handleClose(1001, 'going away', true, 10);
  drain(fresh);
  assert.deepEqual(refusedAttempts(fresh, 3), [500, null]);

  // The retries of a window are all retry 1 in the `reconnecting` states.
  const numbered = joined({ reconnect: { initialDelayMs: 250, jitter: 0 } });
  numbered.handleClose(1001, 'bye', true, 60000);
  /** @type {number[]} */
  const attempts = [];
  for (let i = 0; i < 3; i++) {
    const when = /** @type {number} */ (numbered.pollTimeout());
    numbered.handleTimeout(when);
    numbered.handleClose(1006, '', false, when + 10);
    for (const e of drain(numbered).events) if (e.type === 'state' && e.state === 'reconnecting') attempts.push(e.attempt ?? -1);
  }
  assert.deepEqual(attempts, [1, 1, 1, 1], 'the retry after the 1001, and after three failed attempts');

  // A limit of 0 never reconnects, a restart included; a window of 0 backs off as usual.
  const never = joined({ reconnect: { maxAttempts: 0 } });
  never.handleClose(1001, 'bye', true, 60000);
  assert.equal(never.state, 'failed');
  const noWindow = joined({ reconnect: { initialDelayMs: 250, jitter: 0, restartWindowMs: 0 } });
  noWindow.handleClose(1001, 'bye', true, 60000);
  drain(noWindow);
  assert.deepEqual(refusedAttempts(noWindow, 3), [500, 1000, 2000]);
});

test('a first join that never connects gives up after maxInitialAttempts, as unreachable', () => {
  const s = new Session({ name: 'ada', room: 'r1', random: () => 0.5, reconnect: { jitter: 0 } });
  s.connect(0);
  /** @type {any[]} */
  const events = [];
  let now = 0;
  // The server is down, or refuses the upgrade (a 401 looks the same to a browser: 1006).
  for (let i = 0; i < 30 && !s.isEnded(); i++) {
    drain(s);
    s.handleClose(1006, '', false, now);
    events.push(...drain(s).events);
    now = s.pollTimeout() ?? now;
    s.handleTimeout(now);
  }
  const states = events.filter((e) => e.type === 'state');
  assert.equal(s.state, 'failed');
  const error = events.find((e) => e.type === 'error')?.error;
  assert.ok(error instanceof UnreachableError, `${error}`);
  assert.ok(error instanceof ConnectionClosedError && !error.retryable, 'still a ConnectionClosedError');
  assert.equal(error.attempts, 6);
  assert.equal(error.code, 1006);
  assert.deepEqual(states.filter((e) => e.state === 'reconnecting').map((e) => e.delayMs), [250, 500, 1000, 2000, 4000],
    'about 8 s of retries, not 70');
  assert.ok(now < 10000, `gave up at ${now} ms`);

  // The HTTP fallback's refusal names its status, and the error keeps it.
  const refused = new Session({ name: 'ada', reconnect: { maxInitialAttempts: 0 } });
  refused.connect(0);
  refused.handleClose(1006, 'HTTP 401: the join token has expired', false, 5);
  assert.ok(refused.error instanceof UnreachableError);
  assert.match(refused.error.message, /HTTP 401: the join token has expired/);
  assert.equal(refused.error.message, 'no connection opened in 1 attempt: HTTP 401: the join token has expired', 'each thing once');
  assert.equal(new UnreachableError(1006, 'HTTP 401: the join token has expired', 1, 401).message,
    'refused with HTTP 401: the join token has expired');
  assert.equal(new UnreachableError(1006, '', 1, 403).message, 'refused with HTTP 403: closed with 1006');
  assert.equal(new UnreachableError(1006, 'ws: closed with 1006', 6).message,
    'no connection opened in 6 attempts (the first and 5 retries): ws: closed with 1006');

  // A server that opens and closes before its Welcome was reached: the short budget, but not
  // "unreachable".
  const opened = new Session({ name: 'ada', reconnect: { maxInitialAttempts: 1, initialDelayMs: 10 } });
  opened.connect(0);
  opened.handleOpen(1);
  opened.handleClose(1011, 'internal error', true, 2);
  opened.handleTimeout(/** @type {number} */ (opened.pollTimeout()));
  opened.handleClose(1006, '', false, 30);
  assert.equal(opened.state, 'failed');
  assert.ok(opened.error instanceof ConnectionClosedError && !(opened.error instanceof UnreachableError), `${opened.error}`);

  // An application that asked for more attempts, or a session with a seat to get back, keeps
  // to maxAttempts.
  const attemptsOf = (/** @type {import('../src/session.js').SessionOptions} */ options) => {
    const session = new Session({ name: 'ada', random: () => 0.5, ...options });
    session.connect(0);
    let at = 0;
    let closes = 0;
    while (!session.isEnded() && closes < 100) {
      session.handleClose(1006, '', false, at);
      closes += 1;
      at = session.pollTimeout() ?? at;
      session.handleTimeout(at);
    }
    return closes;
  };
  assert.equal(attemptsOf({ reconnect: { maxAttempts: 12, initialDelayMs: 1 } }), 13);
  assert.equal(attemptsOf({ reconnect: { initialDelayMs: 1 }, resumeToken: new Uint8Array(16) }), 21);
  assert.equal(attemptsOf({ reconnect: { initialDelayMs: 1 } }), 6);

  // Once welcomed, a drop is retried maxAttempts times as before.
  const t = joined({ reconnect: { maxInitialAttempts: 1, initialDelayMs: 10 } });
  for (let i = 0; i < 5; i++) {
    t.handleClose(1006, '', false, i * 1000);
    assert.equal(t.state, 'reconnecting', `attempt ${i + 1}`);
    t.handleTimeout(/** @type {number} */ (t.pollTimeout()));
  }
});

test('an undecodable server message closes with 1002 and reconnects', () => {
  const s = joined();
  s.handleMessage(Uint8Array.of(9, 9), 10);
  assert.deepEqual(drain(s).actions, [{ type: 'close', code: 1002, reason: 'undecodable server message' }]);
  s.handleClose(1002, 'undecodable server message', true, 12);
  assert.equal(s.state, 'reconnecting');
});

test('leave closes with 1000 and reports whether the server answered', () => {
  const s = joined();
  s.leave(10);
  assert.deepEqual(drain(s).actions, [{ type: 'close', code: 1000, reason: 'leaving' }]);
  assert.equal(s.state, 'closing');
  s.handleClose(1000, 'leaving', true, 20);
  const closed = drain(s).events.find((e) => e.type === 'closed');
  assert.deepEqual(closed, { type: 'closed', code: 1000, reason: 'leaving', answered: true });
  const t = joined();
  t.leave(10);
  t.handleClose(1006, '', false, 20);
  assert.equal(drain(t).events.find((e) => e.type === 'closed')?.answered, false);
});

test('a connection silent past silenceTimeoutMs is closed keeping the seat, and resumed at once', () => {
  const s = joined();
  s.handleTimeout(4999);
  assert.equal(s.state, 'joined', 'not before the limit');
  assert.deepEqual(drain(s).actions, []);
  s.handleTimeout(5000);
  const { actions, events } = drain(s);
  // 4000, not 1000: a server that still hears it keeps the seat for the resume (PROTOCOL.md 7.1).
  assert.deepEqual(actions, [{ type: 'close', code: 4000, reason: 'nothing from the server for 5000 ms', abandon: true }]);
  assert.equal(s.state, 'reconnecting', 'without waiting for the socket to close');
  const state = events.find((e) => e.type === 'state');
  assert.ok(state?.type === 'state' && state.cause instanceof ConnectionClosedError && state.cause.code === 1006);
  // A dead link's close event, should it come after all, changes nothing.
  s.handleClose(1006, '', false, 5100);
  assert.equal(s.attempt, 1);
  s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
  assert.deepEqual(drain(s).actions, [{ type: 'open' }]);
  s.handleOpen(5300);
  const hello = drain(s).sent[0];
  assert.deepEqual(hello.type === 'Hello' && hello.resume, token);
});

test('a deadline handled a second or more late is held once, for the messages queued behind it', () => {
  // The page's thread did not run from 1000 to 8000 ms: the timer comes before the snapshots
  // that arrived meanwhile, which wait behind it in the browser's queue.
  const s = joined();
  s.handleTimeout(1000);
  assert.ok(/** @type {number} */ (s.pollTimeout()) <= 1100, 'the next input is due');
  s.handleTimeout(8000);
  assert.equal(s.state, 'joined', 'not abandoned before the queue is read');
  assert.deepEqual(drain(s).actions.filter((a) => a.type === 'close'), []);
  assert.equal(s.connectionDeadline()?.at, 9000, 'the driver wakes at the end of the grace');
  // The queued messages prove the link alive.
  s.handleMessage(encodeServerMessage({ type: 'Event', tick: 240, kind: { type: 'Audience', spectators: 1 } }), 8001);
  s.handleTimeout(9000);
  assert.equal(s.state, 'joined');
  assert.equal(s.connectionDeadline()?.at, 13001, 'silence counts from the last message again');

  // Held only a little past the silence deadline (5.5 s from 0.5 s), but long after the
  // wake-up it asked for: held too.
  const brief = joined();
  brief.handleTimeout(500);
  brief.pollTimeout();
  brief.handleTimeout(5500);
  assert.equal(brief.state, 'joined');

  // A dead link stays silent through the grace: abandoned at its end, even when that timer
  // is late again (a background tab's), and not held a second time.
  const dead = joined();
  dead.pollTimeout();
  dead.handleTimeout(8000);
  dead.pollTimeout();
  dead.handleTimeout(8999);
  assert.equal(dead.state, 'joined');
  dead.pollTimeout();
  dead.handleTimeout(70000);
  assert.deepEqual(drain(dead).actions.filter((a) => a.type === 'close'), [{ type: 'close', code: 4000, reason: 'nothing from the server for 5000 ms', abandon: true }]);
  assert.equal(dead.state, 'reconnecting');

  // Woken when asked, the deadline is judged at once: no grace.
  const punctual = joined();
  for (let now = 0; now < 5000; now = /** @type {number} */ (punctual.pollTimeout())) punctual.handleTimeout(now);
  punctual.handleTimeout(/** @type {number} */ (punctual.pollTimeout()));
  assert.equal(punctual.state, 'reconnecting');
});

test('checking the link after a freeze: only the answer to a ping sent now keeps the connection', () => {
  // A page frozen in the background from 1 s to 30 s: the messages that waited for it are
  // handled as it comes back, and would start the silence timeout over on a link that died.
  const audience = (/** @type {number} */ tick) => encodeServerMessage({ type: 'Event', tick, kind: { type: 'Audience', spectators: 1 } });
  const dead = joined();
  dead.handleTimeout(1000);
  drain(dead);
  dead.handleMessage(audience(900), 30_000);
  assert.equal(dead.checkLink(30_000, 1500), true);
  const ping = drain(dead).sent.find((m) => m.type === 'Ping');
  assert.ok(ping, 'a ping goes at once');
  dead.handleMessage(audience(901), 30_010);
  assert.equal(dead.connectionDeadline()?.at, 31_500, 'the old messages do not put the check off');
  dead.handleTimeout(31_499);
  assert.equal(dead.state, 'joined');
  dead.handleTimeout(31_500);
  assert.deepEqual(drain(dead).actions.filter((a) => a.type === 'close'),
    [{ type: 'close', code: 4000, reason: 'no answer to a ping within 1500 ms of checking the link', abandon: true }]);
  assert.equal(dead.state, 'reconnecting', 'resumed on a new connection, 3.5 s before the silence timeout');

  // A link that answers stays, and the check ends with the answer.
  const alive = joined();
  alive.handleTimeout(1000);
  drain(alive);
  alive.checkLink(30_000, 1500);
  const sent = drain(alive).sent.find((m) => m.type === 'Ping');
  assert.ok(sent?.type === 'Ping');
  alive.handleMessage(encodeServerMessage({ type: 'Pong', nonce: sent.nonce, serverTick: 900 }), 30_200);
  assert.equal(alive.connectionDeadline()?.at, 35_200, 'the silence timeout again');
  alive.handleTimeout(31_500);
  assert.equal(alive.state, 'joined');

  // Nothing to check before a Welcome.
  const joining = new Session({ name: 'ada' });
  joining.connect(0);
  joining.handleOpen(0);
  assert.equal(joining.checkLink(10, 1500), false);
  assert.throws(() => joined().checkLink(0, 0), RangeError);
});

test('a connection that keeps hearing from the server stays, and the silence deadline wakes the driver', () => {
  // A spectator pinging once a minute has nothing else to wake up for.
  const s = new Session({ name: 'eve', role: 'Spectator', pingIntervalMs: 60000 });
  s.connect(0);
  s.handleOpen(0);
  s.handleMessage(welcome({ role: 'Spectator', entity: null }), 0);
  s.handleTimeout(0);
  drain(s);
  assert.equal(s.pollTimeout(), 5000);
  for (let now = 1000; now <= 30000; now += 1000) {
    s.handleMessage(encodeServerMessage({ type: 'Event', tick: now, kind: { type: 'Audience', spectators: 1 } }), now);
    s.handleTimeout(now + 999);
    assert.equal(s.state, 'joined', `at ${now + 999} ms`);
  }
  assert.equal(s.pollTimeout(), 35000);
  assert.equal(drain(s).actions.length, 0);
});

test('a socket that does not open, or a Welcome that does not come, is given up on in time', () => {
  const s = new Session({ name: 'ada', random: () => 0.5, connectTimeoutMs: 1000, joinTimeoutMs: 500 });
  s.connect(0);
  drain(s);
  assert.equal(s.pollTimeout(), 1000);
  // A driver trying another transport for the same attempt restarts the clock.
  s.handleOpening(600);
  s.handleTimeout(1000);
  assert.equal(s.state, 'connecting');
  s.handleTimeout(1600);
  assert.deepEqual(drain(s).actions, [{ type: 'close', code: 4000, reason: 'the connection did not open within 1000 ms', abandon: true }]);
  assert.equal(s.state, 'reconnecting');
  s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
  s.handleOpen(2000);
  drain(s);
  assert.equal(s.pollTimeout(), 2500, 'the Hello is out: the join deadline');
  s.handleTimeout(2499);
  assert.equal(s.state, 'connecting');
  s.handleTimeout(2500);
  assert.deepEqual(drain(s).actions, [{ type: 'close', code: 4000, reason: 'no Welcome within 500 ms', abandon: true }]);
  assert.equal(s.state, 'reconnecting');
});

test('while closing nothing but the close is due, and an unanswered close ends the session', () => {
  const s = joined();
  s.leave(10);
  drain(s);
  s.handleTimeout(10);
  assert.ok((s.pollTimeout() ?? Infinity) > 10, `due at ${s.pollTimeout()}: the driver would spin`);
  assert.equal(s.pollTimeout(), 10 + 3000);
  assert.deepEqual(drain(s), { sent: [], events: [], actions: [] });
  s.handleTimeout(3010);
  const { actions, events } = drain(s);
  assert.deepEqual(actions, [{ type: 'close', code: 1000, reason: 'the server did not answer the close within 3000 ms', abandon: true }]);
  assert.deepEqual(events.find((e) => e.type === 'closed'),
    { type: 'closed', code: 1006, reason: 'the server did not answer the close within 3000 ms', answered: false });
  assert.equal(s.state, 'closed');
  assert.equal(s.pollTimeout(), null);
});

test('the first round trip is measured from the Welcome, not from the Hello', () => {
  const s = new Session({ name: 'ada', room: 'r1' });
  s.connect(0);
  s.handleOpen(0);
  s.handleTimeout(0); // a driver wakes up as soon as the session asks
  const early = drain(s).sent;
  s.handleMessage(welcome(), 300);
  s.handleTimeout(300);
  const pings = [...early, ...drain(s).sent].flatMap((m) => (m.type === 'Ping' ? [m.nonce] : []));
  assert.ok(pings.length > 0, 'a ping once joined');
  // The server answers every ping it got, once joined.
  for (const nonce of pings) s.handleMessage(encodeServerMessage({ type: 'Pong', nonce, serverTick: 9 }), 310);
  assert.equal(s.rttMs, 10);
});

test('pings measure the round trip', () => {
  const s = joined();
  s.handleTimeout(0);
  const ping = drain(s).sent.find((m) => m.type === 'Ping');
  assert.ok(ping && ping.type === 'Ping');
  s.handleMessage(encodeServerMessage({ type: 'Pong', nonce: ping.nonce, serverTick: 5 }), 42);
  assert.equal(s.rttMs, 42);
});

/** A room's tick period at 30 Hz, ms, and the one-way delays of `againstTicks`. */
const PERIOD = 1000 / 30;
const UPLINK_MS = 15;
const DOWNLINK_MS = 20;

/** How far after mid-tick a time falls, ms, in [-PERIOD / 2, PERIOD / 2), with ticks every PERIOD
 * from 0. @param {number} at */
const pastMidTick = (at) => (((at % PERIOD) + PERIOD) % PERIOD) - PERIOD / 2;

/** A seeded generator of numbers in [0, 1) (mulberry32): jitter a failure can be replayed with.
 * @param {number} seed */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Plays a player's session, welcomed at `welcomeAt`, against a server whose tick k runs at
 * k * PERIOD and sends its snapshot then, arriving DOWNLINK_MS later plus `snapshotDelay(k)`
 * (in order; pongs are not held behind them); inputs and pings arrive UPLINK_MS after they are
 * sent, each ping answered at once. The driver wakes exactly when the session asks (`pollTimeout`),
 * except through `held` (from, to: a tab whose timers were held), which it wakes at the end of.
 * Returns each input's send and arrival times, in order, and the session.
 * @param {{ welcomeAt: number, until: number, options?: import('../index.js').SessionOptions,
 *   snapshotDelay?: (tick: number) => number, held?: [number, number] }} p
 */
function againstTicks({ welcomeAt, until, options = {}, snapshotDelay = () => 0, held = [Infinity, Infinity] }) {
  const s = new Session({ name: 'ada', room: 'r1', random: () => 0.5, ...options });
  s.connect(welcomeAt);
  s.handleOpen(welcomeAt);
  s.handleMessage(welcome(), welcomeAt);
  drain(s);
  s.setInput({ x: 1 });
  /** @type {{ at: number, message: import('../index.js').ClientMessage }[]} on the way up, in order */
  const uplink = [];
  /** @type {{ at: number, bytes: Uint8Array }[]} on the way down */
  const downlink = [];
  /** @type {{ sentAt: number, arrivedAt: number }[]} by input, oldest first */
  const inputs = [];
  let tick = Math.floor(welcomeAt / PERIOD) + 1;
  let newest = 0;
  let lastSnapshotAt = -Infinity;
  for (;;) {
    const due = s.pollTimeout() ?? Infinity;
    const wake = due >= held[0] && due < held[1] ? held[1] : due;
    const now = Math.min(tick * PERIOD, uplink[0]?.at ?? Infinity, ...downlink.map((m) => m.at), wake);
    if (now > until) break;
    // The server: what reached it, then its tick.
    while (uplink.length && uplink[0].at <= now) {
      const { at, message } = /** @type {(typeof uplink)[number]} */ (uplink.shift());
      if (message.type === 'Input') {
        inputs[message.seq - 1].arrivedAt = at;
        newest = message.seq;
      } else if (message.type === 'Ping') {
        const pong = encodeServerMessage({ type: 'Pong', nonce: message.nonce, serverTick: tick - 1 });
        downlink.push({ at: at + DOWNLINK_MS, bytes: pong });
      }
    }
    if (tick * PERIOD <= now) {
      lastSnapshotAt = Math.max(tick * PERIOD + DOWNLINK_MS + snapshotDelay(tick), lastSnapshotAt);
      const snapshot = encodeSnapshot(null, null, { tick, round, entities: [ship(100)] }, newest, 30);
      downlink.push({ at: lastSnapshotAt, bytes: encodeServerMessage(snapshot) });
      tick += 1;
    }
    downlink.sort((a, b) => a.at - b.at);
    while (downlink.length && downlink[0].at <= now) {
      s.handleMessage(/** @type {(typeof downlink)[number]} */ (downlink.shift()).bytes, now);
    }
    const asleep = now >= held[0] && now < held[1];
    if (!asleep && (s.pollTimeout() ?? Infinity) <= now) s.handleTimeout(now);
    for (const message of drain(s).sent) {
      if (message.type === 'Input') inputs.push({ sentAt: now, arrivedAt: NaN });
      uplink.push({ at: now + UPLINK_MS, message });
    }
  }
  assert.equal(s.state, 'joined');
  return { inputs: inputs.filter((i) => !Number.isNaN(i.arrivedAt)), session: s };
}

/** Asserts that consecutive inputs went a period apart, within INPUT_SLEW_MS.
 * @param {{ sentAt: number }[]} inputs */
function assertPeriodApart(inputs) {
  for (let i = 1; i < inputs.length; i++) {
    const gap = inputs[i].sentAt - inputs[i - 1].sentAt;
    assert.ok(Math.abs(gap - PERIOD) <= INPUT_SLEW_MS + 1e-9, `inputs ${i} and ${i + 1} sent ${gap} ms apart`);
  }
}

/** A Welcome time at which the session's inputs, one a period from it, reach the server just as
 * tick 10 and each tick after it begins. */
const AT_THE_BOUNDARY = 10 * PERIOD - UPLINK_MS;

test('inputs that reach the server at its tick boundary are slewed to mid-tick, a millisecond an input', () => {
  const { inputs } = againstTicks({ welcomeAt: AT_THE_BOUNDARY, until: 4000 });
  assert.ok(Math.abs(pastMidTick(inputs[0].arrivedAt)) > PERIOD / 2 - 0.01, `the first input lands at ${inputs[0].arrivedAt} ms, at a tick`);
  const settled = inputs.filter((i) => i.sentAt >= AT_THE_BOUNDARY + 2000);
  assert.ok(settled.length >= 45, `${settled.length} inputs after 2 s`);
  for (const { arrivedAt } of settled) {
    assert.ok(Math.abs(pastMidTick(arrivedAt)) <= 2, `an input lands ${pastMidTick(arrivedAt).toFixed(2)} ms from mid-tick`);
  }
  // Never doubled or skipped: a period apart, within the millisecond of slew.
  assertPeriodApart(inputs);
  // One a period on average: the slew moved the cadence by half a period at most, once.
  const span = inputs[inputs.length - 1].sentAt - inputs[0].sentAt;
  assert.ok(Math.abs(span - (inputs.length - 1) * PERIOD) <= PERIOD / 2 + 1, `${inputs.length} inputs over ${span} ms`);
  // And the server has exactly one input for each tick once they land mid-tick.
  const first = Math.ceil(settled[0].arrivedAt / PERIOD);
  const last = Math.floor(settled[settled.length - 1].arrivedAt / PERIOD);
  for (let k = first + 1; k <= last; k++) {
    const forTick = settled.filter((i) => i.arrivedAt > (k - 1) * PERIOD && i.arrivedAt <= k * PERIOD).length;
    assert.equal(forTick, 1, `inputs for tick ${k}`);
  }
});

test('snapshots the network holds up do not move where inputs land: their arrivals\' floor is the target', () => {
  const random = seeded(7);
  // Three snapshots in four held up by 0 to 15 ms: an average would move the target by 5 ms.
  const snapshotDelay = () => (random() < 0.75 ? random() * 15 : 0);
  const { inputs, session } = againstTicks({ welcomeAt: AT_THE_BOUNDARY, until: 6000, snapshotDelay });
  const settled = inputs.filter((i) => i.sentAt >= AT_THE_BOUNDARY + 2000);
  assert.ok(settled.length >= 100, `${settled.length} inputs after 2 s`);
  for (const { arrivedAt } of settled) {
    assert.ok(Math.abs(pastMidTick(arrivedAt)) <= 2, `an input lands ${pastMidTick(arrivedAt).toFixed(2)} ms from mid-tick`);
  }
  assertPeriodApart(inputs);
  assert.ok(session.applyErrors === 0);
});

test('a cadence that starts again after its timers were held goes to mid-tick from its next input, not a second one at once', () => {
  // Timers held for a second from 200 ms after the Welcome (a tab in the background): the phase
  // is known by then, and the cadence starts again after.
  const held = /** @type {[number, number]} */ ([AT_THE_BOUNDARY + 200, AT_THE_BOUNDARY + 1203]);
  const { inputs } = againstTicks({ welcomeAt: AT_THE_BOUNDARY, until: 3000, held });
  const again = inputs.findIndex((i) => i.sentAt >= held[1]);
  assert.ok(again > 0, 'inputs before and after the held timers');
  const gap = inputs[again + 1].sentAt - inputs[again].sentAt;
  assert.ok(gap >= PERIOD / 2 && gap <= 1.5 * PERIOD, `the next input ${gap} ms after the first`);
  for (const { arrivedAt } of inputs.slice(again + 1)) {
    assert.ok(Math.abs(pastMidTick(arrivedAt)) <= 0.5, `an input lands ${pastMidTick(arrivedAt).toFixed(2)} ms from mid-tick`);
  }
  assertPeriodApart(inputs.slice(again + 1));
});

test('a game\'s own input rate is sent as it is, not slewed towards mid-tick', () => {
  const { inputs } = againstTicks({ welcomeAt: AT_THE_BOUNDARY, until: 3000, options: { inputRate: 30 } });
  assert.ok(inputs.length >= 80, `${inputs.length} inputs`);
  inputs.forEach(({ sentAt, arrivedAt }, i) => {
    assert.ok(Math.abs(sentAt - (AT_THE_BOUNDARY + i * PERIOD)) < 1e-6, `input ${i + 1} sent at ${sentAt} ms`);
    assert.ok(Math.abs(pastMidTick(arrivedAt)) > PERIOD / 2 - 0.01, `input ${i + 1} still lands at a tick`);
  });
});

test('the input phase: nothing before a snapshot and a round trip, a floor of arrivals that follows a longer path', () => {
  const phase = new InputPhase(30);
  assert.equal(phase.error(0), null);
  assert.equal(phase.slew(0), 0);
  // Tick k runs at k * PERIOD; its snapshot arrives 20 ms later; the round trip is 35 ms.
  for (let k = 1; k <= 40; k++) phase.snapshotArrived(k, k * PERIOD + DOWNLINK_MS);
  assert.equal(phase.error(0), null, 'no round trip yet');
  phase.roundTrip(UPLINK_MS + DOWNLINK_MS + 9);
  phase.roundTrip(UPLINK_MS + DOWNLINK_MS);
  phase.roundTrip(UPLINK_MS + DOWNLINK_MS + 30);
  // Sent to arrive at tick 50's start plus half a period: on target; a millisecond later, a
  // millisecond of error, and the slew takes it back.
  const onTarget = 50 * PERIOD + PERIOD / 2 - UPLINK_MS;
  assert.ok(Math.abs(/** @type {number} */ (phase.error(onTarget))) < 1e-9);
  assert.ok(Math.abs(/** @type {number} */ (phase.error(onTarget + 1 + 3 * PERIOD)) - 1) < 1e-9);
  assert.ok(Math.abs(phase.slew(onTarget + 0.25) + 0.25) < 1e-9, 'within a millisecond, the whole error');
  // Just after a tick's boundary, early in the tick: a millisecond later; just before, earlier.
  assert.ok(Math.abs(phase.slew(50 * PERIOD - UPLINK_MS + 2) - INPUT_SLEW_MS) < 1e-9);
  assert.ok(Math.abs(phase.slew(50 * PERIOD - UPLINK_MS - 2) + INPUT_SLEW_MS) < 1e-9);
  // From tick 41 the downlink takes 10 ms more for good, and the round trip with it: the ticks
  // did not move, and within two windows of snapshots neither has the target.
  for (let k = 41; k <= 110; k++) phase.snapshotArrived(k, k * PERIOD + DOWNLINK_MS + 10);
  for (let i = 0; i < 4; i++) phase.roundTrip(UPLINK_MS + DOWNLINK_MS + 10);
  assert.ok(Math.abs(/** @type {number} */ (phase.error(120 * PERIOD + PERIOD / 2 - UPLINK_MS))) < 1e-9);
});

test('a room name or resume token the Hello cannot carry is refused at construction, not at each connection', () => {
  for (const room of ['tournament-finals-eu', '', 'a b', 'é']) {
    assert.throws(() => new Session({ name: 'ada', room }), TypeError, `room ${room}`);
  }
  assert.equal(new Session({ room: 'finals.eu-1_b' }).room, 'finals.eu-1_b');
  // A token kept with JSON.stringify comes back an object of numbered keys, with no length.
  const stringified = JSON.parse(JSON.stringify(token));
  for (const resumeToken of [new Uint8Array(15), stringified, [...token.subarray(1), 256]]) {
    assert.throws(() => new Session({ name: 'ada', resumeToken }), TypeError);
  }
  // An array of its bytes is taken, as a Uint8Array.
  const s = new Session({ name: 'ada', resumeToken: Array.from(token) });
  assert.deepEqual(s.resumeToken, token);
  s.connect(0);
  s.handleOpen(1);
  const hello = drain(s).sent[0];
  assert.deepEqual(hello.type === 'Hello' && hello.resume, token, 'and sent in the Hello');
});

test('an interpolation buffer has no newest world before the first, and says so', () => {
  const buffer = new InterpolationBuffer({ tickRate: 30 });
  assert.equal(buffer.latest(), undefined);
  assert.throws(() => {
    // @ts-expect-error: `World | undefined`, so a game checks before reading it
    void buffer.latest().tick;
  }, TypeError);
});

test('the interpolation buffer draws two ticks behind, between the worlds around that time', () => {
  const buffer = new InterpolationBuffer({ tickRate: 10, delayTicks: 2 });
  const world = (/** @type {number} */ tick, /** @type {number} */ x) => ({ tick, round, entities: [ship(x * 16)] });
  // Ticks every 100 ms, arriving 30 ms after they were made, with 0-20 ms of jitter.
  [0, 15, 5, 20, 0, 10].forEach((jitter, tick) => buffer.push(world(tick, tick * 10), tick * 100 + 30 + jitter));
  const at = buffer.sample(5 * 100 + 30 + 50);
  assert.ok(Math.abs(at.tick - 3.5) < 0.05, `render tick ${at.tick}`);
  assert.ok(Math.abs(at.entities[0].x - 35) < 0.6, `x ${at.entities[0].x}`);
  const late = buffer.sample(5000);
  assert.equal(late.entities[0].x, 50, 'holds at the newest world, no runaway extrapolation');
});

test('after the room stalls, the clock follows its later schedule within a second', () => {
  const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks: 2 });
  const period = 1000 / 30;
  const world = (/** @type {number} */ tick) => ({ tick, round, entities: [ship(tick * 16)] });
  for (let tick = 0; tick < 60; tick++) buffer.push(world(tick), tick * period + 20);
  // The room stalled for 200 ms and skipped the ticks it missed: every tick since comes 200 ms
  // later than before.
  let tick = 60;
  for (; tick < 90; tick++) buffer.push(world(tick), tick * period + 20 + 200);
  const now = (tick - 1) * period + 20 + 200;
  const drawn = buffer.renderTick(now);
  assert.ok(drawn <= tick - 1, `drawn at tick ${drawn.toFixed(1)}, past the newest (${tick - 1})`);
  assert.ok(drawn >= tick - 1 - 3, `drawn at tick ${drawn.toFixed(1)}, far behind the newest`);
});

test('jitter the delay absorbs never snaps the clock', () => {
  const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks: 2 });
  const period = 1000 / 30;
  const world = (/** @type {number} */ tick) => ({ tick, round, entities: [ship(tick * 16)] });
  // Up to 60 ms of jitter (under two ticks), from a fixed pseudo-random sequence, and a path
  // 40 ms slower for a while: the clock only ever eases, never jumps.
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  let before = null;
  for (let tick = 0; tick < 600; tick++) {
    const slower = tick >= 200 && tick < 260 ? 40 : 0;
    buffer.push(world(tick), tick * period + 20 + slower + random() * 60);
    const base = /** @type {number} */ (buffer.clockBase);
    if (before !== null) assert.ok(Math.abs(base - before) < 10, `the clock jumped ${(base - before).toFixed(1)} ms at tick ${tick}`);
    before = base;
  }
});

test('worlds the network held up and let through together do not move the clock', () => {
  const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks: 2 });
  const period = 1000 / 30;
  const world = (/** @type {number} */ tick) => ({ tick, round, entities: [ship(tick * 16)] });
  for (let tick = 0; tick < 60; tick++) buffer.push(world(tick), tick * period + 20);
  const before = buffer.renderTick(60 * period + 20);
  // A 400 ms stall of the link: ticks 60-71 arrive together when it ends, then on time again.
  for (let tick = 60; tick < 72; tick++) buffer.push(world(tick), 72 * period + 20);
  for (let tick = 72; tick < 80; tick++) buffer.push(world(tick), tick * period + 20);
  const after = buffer.renderTick(60 * period + 20);
  assert.ok(Math.abs(after - before) < 0.5, `the clock moved by ${(after - before).toFixed(2)} ticks`);
});

test('after a link stalled for seconds, the burst it lets through is not replayed', () => {
  for (const delayTicks of [2, undefined]) {
    const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks });
    const period = 1000 / 30;
    const world = (/** @type {number} */ tick) => ({ tick, round, entities: [ship(tick * 16)] });
    for (let tick = 0; tick < 60; tick++) buffer.push(world(tick), tick * period + 20);
    // 3 s without a world, then the 90 made meanwhile at once, then on time again.
    const released = 150 * period + 20;
    for (let tick = 60; tick < 150; tick++) buffer.push(world(tick), released);
    const drawn = buffer.renderTick(released);
    // Drawn where a steady link would draw: the delay behind the newest, not 10 ticks back,
    // from where it would fast-forward through the burst for a second.
    assert.ok(drawn > 149 - buffer.delayTicks - 0.5 && drawn <= 149, `delay ${delayTicks}: drawn at tick ${drawn.toFixed(2)}`);
    for (let tick = 150; tick < 160; tick++) buffer.push(world(tick), tick * period + 20);
    const later = buffer.renderTick(159 * period + 20);
    assert.ok(Math.abs(later - (159 - buffer.delayTicks)) < 0.5, `delay ${delayTicks}: then at tick ${later.toFixed(2)}`);
    assert.ok(buffer.delayTicks < 2.5, `a stall is no jitter: delay ${buffer.delayTicks}`);
  }
});

test('the delay grows with the jitter, and draws past the newest world far less than two ticks do', () => {
  const period = 1000 / 30;
  /** @param {number | undefined} delayTicks @param {number} jitterMs */
  const run = (delayTicks, jitterMs) => {
    const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks });
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    // In order, as one connection delivers: each world at the earliest after the one before.
    /** @type {number[]} */
    const arrivals = [];
    for (let tick = 0; tick < 900; tick++) {
      const at = tick * period + 50 + (random() * 2 - 1) * jitterMs;
      arrivals.push(Math.max(at, arrivals[tick - 1] ?? 0));
    }
    let next = 0;
    let past = 0;
    let frames = 0;
    for (let now = 0; now < 900 * period; now += 1000 / 60) {
      while (next < arrivals.length && arrivals[next] <= now) {
        buffer.push({ tick: next, round, entities: [ship(next * 16)] }, arrivals[next]);
        next += 1;
      }
      if (now < 10_000 || next === 0) continue; // after ten seconds, to let it settle
      frames += 1;
      if (buffer.renderTick(now) > next - 1) past += 1;
    }
    return { past: past / frames, delay: buffer.delayTicks };
  };
  const steady = run(undefined, 0);
  assert.equal(steady.delay, 2, 'a steady link keeps the least delay');
  assert.equal(steady.past, 0);
  const fixed = run(2, 60);
  const adaptive = run(undefined, 60);
  assert.ok(fixed.past > 0.1, `two ticks behind, ±60 ms draws past the newest in ${(fixed.past * 100).toFixed(1)}% of frames`);
  assert.ok(adaptive.past < 0.05, `adaptive: ${(adaptive.past * 100).toFixed(1)}% of frames`);
  assert.ok(adaptive.delay > 3 && adaptive.delay < 6, `delay ${adaptive.delay.toFixed(2)} ticks`);
});

test('a world far behind the newest (a server that restarted, from tick 0) starts the buffer over instead of freezing it', () => {
  const buffer = new InterpolationBuffer({ tickRate: 10, delayTicks: 2 });
  const world = (/** @type {number} */ tick, /** @type {number} */ x) => ({ tick, round, entities: [ship(x * 16)] });
  for (let tick = 5000; tick < 5010; tick++) buffer.push(world(tick, tick - 5000), tick * 100);
  // A repeated or late tick close behind is still dropped.
  buffer.push(world(5008, 99), 1_000_000);
  assert.equal(buffer.latest()?.tick, 5009);
  // The restarted server's ticks, arriving a few seconds later.
  for (let tick = 0; tick < 5; tick++) buffer.push(world(tick, 200 + tick), 510_000 + tick * 100);
  assert.equal(buffer.latest()?.tick, 4);
  assert.deepEqual(buffer.worlds.map((w) => w.tick), [0, 1, 2, 3, 4], 'the old worlds are forgotten');
  const drawn = buffer.sample(510_000 + 4 * 100);
  assert.ok(drawn.tick > 1 && drawn.tick <= 4, `render tick ${drawn.tick}, on the new clock`);
  assert.ok(drawn.entities[0].x >= 201 && drawn.entities[0].x <= 204, `x ${drawn.entities[0].x}`);
});

test('before the oldest world held, the buffer holds that world rather than the newest', () => {
  const buffer = new InterpolationBuffer({ tickRate: 10, delayTicks: 2 });
  const world = (/** @type {number} */ tick, /** @type {number} */ x) => ({ tick, round, entities: [ship(x * 16)] });
  // A connection's first two worlds, at once: render time is still two ticks behind them.
  buffer.push(world(40, 100), 1000);
  buffer.push(world(41, 110), 1000);
  const first = buffer.sample(1000);
  assert.ok(first.tick < 40, `render tick ${first.tick}`);
  assert.equal(first.world?.tick, 40);
  assert.equal(first.entities[0].x, 100, 'the oldest world, not the newest');
  // A moment later the render time is between them: nothing jumped backwards.
  const later = buffer.sample(1000 + 250);
  assert.ok(later.entities[0].x >= first.entities[0].x && later.entities[0].x <= 110, `x ${later.entities[0].x}`);
});

test('entities are drawn in world units: a wire velocity is 2 units/s steps', () => {
  assert.equal(VELOCITY_STEP, 2);
  const drawn = toRenderEntity({ ...ship(40 * 16), vel: { x: 150, y: -21 }, heading: 64 });
  assert.deepEqual({ x: drawn.x, y: drawn.y, vx: drawn.vx, vy: drawn.vy, heading: drawn.heading }, { x: 40, y: 10, vx: 300, vy: -42, heading: Math.PI / 2 });
  // Past the newest world an entity moves on by its velocity for the extrapolation's 250 ms at
  // most: 300 units/s is 75 units.
  const racing = { ...ship(40 * 16), vel: { x: 150, y: 0 } };
  const buffer = new InterpolationBuffer({ tickRate: 10, delayTicks: 0 });
  buffer.push({ tick: 0, round, entities: [racing] }, 0);
  const halfTick = buffer.sample(50);
  assert.equal(halfTick.entities[0].x, 55, 'half a tick on');
  assert.equal(halfTick.staleMs, 50);
  assert.equal(buffer.sample(100).entities[0].x, 70);
  assert.equal(buffer.sample(250).entities[0].x, 115);
  const held = buffer.sample(5000);
  assert.equal(held.entities[0].x, 115, 'and no further');
  assert.equal(held.staleMs, 5000, 'how long it has been past the newest world');
  // Extrapolation off: held at the newest world at once.
  const holding = new InterpolationBuffer({ tickRate: 10, delayTicks: 0, extrapolateMs: 0 });
  holding.push({ tick: 0, round, entities: [racing] }, 0);
  assert.equal(holding.sample(50).entities[0].x, 40);
});

/**
 * A ship on `path` (position, velocity and heading at a time in seconds), its worlds at 30 Hz
 * arriving 20 ms after they were made, but those made in the `stallMs` from 2 s on, which
 * arrive together as the stall ends; drawn at 60 frames a second by a buffer of `options`. The
 * Rust client's `through_stall` (client/src/interpolation/tests.rs).
 * @param {{ extrapolateMs?: number, settleMs?: number }} options
 * @param {number} stallMs
 * @param {(t: number) => { x: number, y: number, vx: number, vy: number, heading: number }} path
 */
const throughStall = (options, stallMs, path) => {
  const [stallFrom, stallTo] = [2000, 2000 + stallMs];
  const arrival = (/** @type {number} */ made) => (made >= stallFrom && made < stallTo ? stallTo + 20 : made + 20);
  return drawnThrough(options, path, arrival, stallTo + 20);
};

/**
 * A ship on `path` drawn at 60 frames a second by a buffer of `options`, its worlds (made at
 * 30 Hz) arriving at `arrival(made)`, ms; the last held-up one at `released`. The Rust client's
 * `drawn_through`.
 * @param {{ extrapolateMs?: number, settleMs?: number }} options
 * @param {(t: number) => { x: number, y: number, vx: number, vy: number, heading: number }} path
 * @param {(made: number) => number} arrival
 * @param {number} released
 */
const drawnThrough = (options, path, arrival, released) => {
  const period = 1000 / 30;
  const buffer = new InterpolationBuffer({ tickRate: 30, ...options });
  const settleMs = options.settleMs ?? 200;
  /** @type {number[]} every step, frame to frame */
  const steps = [];
  const drawn = { largestStep: 0, frozenFrames: 0, settledError: 0, staleMs: 0, steps };
  let [next, frozen] = [0, 0];
  /** @type {{ x: number, y: number } | null} */
  let before = null;
  for (let frame = 0; frame < released + 1000; frame += 1000 / 60) {
    while (arrival(next * period) <= frame) {
      const p = path((next * period) / 1000);
      const q = (/** @type {number} */ v, /** @type {number} */ scale) => Math.round(v * scale);
      const heading = ((Math.round((p.heading / (2 * Math.PI)) * 256) % 256) + 256) % 256;
      const state = { ...ship(0), pos: { x: q(p.x, 16), y: q(p.y, 16) }, vel: { x: q(p.vx, 0.5), y: q(p.vy, 0.5) }, heading };
      buffer.push({ tick: next, round, entities: [state] }, arrival(next * period));
      next += 1;
    }
    const sample = buffer.sample(frame);
    const e = sample.entities[0];
    if (!e || sample.tick <= 0) continue;
    if (before) {
      const step = Math.hypot(e.x - before.x, e.y - before.y);
      drawn.steps.push(step);
      drawn.largestStep = Math.max(drawn.largestStep, step);
      frozen = step < 0.1 ? frozen + 1 : 0;
      drawn.frozenFrames = Math.max(drawn.frozenFrames, frozen);
    }
    before = { x: e.x, y: e.y };
    if (frame >= released + settleMs) {
      const truth = path((sample.tick * period) / 1000);
      drawn.settledError = Math.max(drawn.settledError, Math.hypot(e.x - truth.x, e.y - truth.y));
    }
    drawn.staleMs = Math.max(drawn.staleMs, sample.staleMs);
  }
  return drawn;
};

/** 300 units a second along x (5 units a frame at 60 frames a second). @param {number} t */
const straight = (t) => ({ x: -1000 + 300 * t, y: 0, vx: 300, vy: 0, heading: 0 });
/** 200 units a second round a circle of 200 units (a radian a second). @param {number} t */
const circling = (t) => ({ x: 200 * Math.cos(t), y: 200 * Math.sin(t), vx: -200 * Math.sin(t), vy: 200 * Math.cos(t), heading: t + Math.PI / 2 });
/** 420 units a second along x, the arena's top speed without boost (7 units a frame). @param {number} t */
const flatOut = (t) => ({ x: -1500 + 420 * t, y: 0, vx: 420, vy: 0, heading: 0 });
/** Before extrapolation and settling: a tick of extrapolation, then a hold, then a jump. */
const tickThenHold = { extrapolateMs: 1000 / 30, settleMs: 0 };

test('a ship on a straight course crosses a stall within the extrapolation without a hitch', () => {
  const drawn = throughStall({}, 200, straight);
  const said = JSON.stringify(drawn);
  assert.equal(drawn.frozenFrames, 0, said);
  assert.ok(drawn.largestStep < 5.5, `5 units a frame: ${said}`);
  assert.ok(drawn.settledError < 0.5, said);
  assert.ok(drawn.staleMs > 100, `the frames past the newest world say so: ${said}`);
  // What a tick of extrapolation did: the ship stood for 8 frames and jumped 40 units.
  const before = throughStall(tickThenHold, 200, straight);
  assert.ok(before.frozenFrames >= 6 && before.largestStep > 30, JSON.stringify(before));
});

test('a stall past the extrapolation holds, then settles instead of jumping', () => {
  // 600 ms: 250 of them extrapolated, the rest held; the ship is then 85 units behind.
  const drawn = throughStall({}, 600, straight);
  const said = JSON.stringify(drawn);
  assert.ok(drawn.frozenFrames >= 10, `held past the extrapolation: ${said}`);
  assert.ok(drawn.largestStep < 25, `taken up over frames: ${said}`);
  assert.ok(drawn.settledError < 0.5, said);
  assert.ok(throughStall(tickThenHold, 600, straight).largestStep > 150);
  // Settling alone, without extrapolation: the same difference, taken up as smoothly.
  assert.ok(throughStall({ extrapolateMs: 0 }, 600, straight).largestStep < 50);
});

test('a ship that turned through the stall is eased back onto its course', () => {
  const drawn = throughStall({}, 300, circling);
  const said = JSON.stringify(drawn);
  assert.ok(drawn.largestStep < 6, `3.3 units a frame, and the easing: ${said}`);
  assert.ok(drawn.settledError < 0.5, `back on its course after the settle: ${said}`);
  const jumped = throughStall({ settleMs: 0 }, 300, circling);
  assert.ok(jumped.largestStep > drawn.largestStep + 2, `${JSON.stringify(jumped)} against ${said}`);
});

test('a ship that respawned during a stall jumps there, and the others settle', () => {
  const buffer = new InterpolationBuffer({ tickRate: 10, delayTicks: 2 });
  const racing = (/** @type {number} */ id, /** @type {number} */ x) => ({ ...ship(0), id, pos: { x: x * 16, y: 0 }, vel: { x: 50, y: 0 } });
  for (let tick = 0; tick < 10; tick++) buffer.push({ tick, round, entities: [racing(3, 10 * tick), racing(4, 10 * tick)] }, tick * 100);
  // 800 ms without a world: drawn at tick 15, past tick 9, held 250 ms on (x 115).
  assert.equal(buffer.sample(1700).entities[0].x, 115);
  // Ticks 10 to 17 at once: 3 respawned at -500, 4 went on (150 at the render tick 15).
  for (let tick = 10; tick < 18; tick++) buffer.push({ tick, round, entities: [racing(3, 10 * tick - 600), racing(4, 10 * tick)] }, 1700);
  const after = buffer.sample(1700);
  assert.ok(Math.abs(after.tick - 15) < 1e-9);
  assert.equal(after.entities[0].x, -450, 'a respawn is jumped to, not swept from 115');
  assert.equal(after.entities[1].x, 115, 'drawn where it was a moment ago');
  assert.equal(after.staleMs, 0);
  const halfway = buffer.sample(1800).entities[1].x;
  assert.ok(Math.abs(halfway - (160 - 35 * 0.25)) < 1e-9, `a quarter of the way left: ${halfway}`);
  assert.equal(buffer.sample(1900).entities[1].x, 170, 'settled');
  // A fresh join forgets the difference.
  buffer.clear();
  buffer.push({ tick: 1, round, entities: [racing(4, 0)] }, 2000);
  assert.equal(buffer.sample(2000).entities[0].x, 0);
});

test('a ship held so long it is more than 200 units off jumps there whole, and does not slide after', () => {
  // 1 s at 420 units/s: held for about 700 ms, so about 300 units behind when the burst comes.
  // Judged on the whole difference, not on where the burst's first world put it.
  const drawn = throughStall({}, 1000, flatOut);
  const jump = drawn.steps.findIndex((step) => step > 200);
  assert.ok(jump > 0 && drawn.steps[jump] > 280, `the whole difference at once: ${drawn.steps[jump]}`);
  const after = drawn.steps.slice(jump + 1);
  assert.ok(after.every((step) => step < 7.5), `and no slide after it: ${after.slice(0, 10)}`);
  assert.ok(drawn.settledError < 0.5, JSON.stringify(drawn.settledError));
});

test('a world a tick late or less is drawn as it says, so easings never pile up', () => {
  // Drawn 0 ticks behind, the render time is past the newest world until each next comes:
  // eased from at every world, the easings added up to a lag. Only a world more than a tick
  // overdue is eased from.
  const period = 1000 / 30;
  const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks: 0 });
  for (let tick = 0; tick < 90; tick++) {
    const p = circling((tick * period) / 1000);
    const state = { ...ship(0), pos: { x: Math.round(p.x * 16), y: Math.round(p.y * 16) }, vel: { x: Math.round(p.vx / 2), y: Math.round(p.vy / 2) } };
    buffer.push({ tick, round, entities: [state] }, tick * period + 20);
    assert.equal(buffer.settling, null, `tick ${tick}`);
  }
  // A world two ticks overdue is.
  buffer.push({ tick: 92, round, entities: [ship(92 * 16)] }, 93 * period + 20);
  assert.notEqual(buffer.settling, null);
});

test('a burst after a stall samples what was drawn once, not at every world', () => {
  const period = 1000 / 30;
  const buffer = new InterpolationBuffer({ tickRate: 30 });
  const world = (/** @type {number} */ tick) => ({ tick, round, entities: [ship(tick * 16)] });
  for (let tick = 0; tick < 60; tick++) buffer.push(world(tick), tick * period + 20);
  buffer.push(world(60), 3000);
  const first = buffer.settling?.taken;
  assert.equal(first, 3000, 'eased from');
  for (let tick = 61; tick < 90; tick++) buffer.push(world(tick), 3000 + tick - 60);
  assert.equal(buffer.settling?.taken, first, 'the stall\'s first world\'s, kept through its burst');
});

/**
 * The held-up worlds of a 1 s stall from 2 s: those made up to `earlyTo` let through at
 * `earlyAt`, the rest `spread` ms apart from 3 s on. The Rust tests' `let_through`.
 * @param {number} earlyTo @param {number} earlyAt @param {number} spread
 * @returns {[(made: number) => number, number]}
 */
const letThrough = (earlyTo, earlyAt, spread) => {
  const period = 1000 / 30;
  const firstLate = Math.ceil(earlyTo / period);
  const last = Math.floor(2999 / period);
  const arrival = (/** @type {number} */ made) => {
    if (made < 2000 || made >= 3000) return made + 20;
    if (made < earlyTo) return earlyAt;
    return 3020 + (Math.round(made / period) - firstLate) * spread;
  };
  return [arrival, 3020 + (last - firstLate) * spread];
};
/** 150 units a second along x. @param {number} t */
const cruising = (t) => ({ x: -500 + 150 * t, y: 0, vx: 150, vy: 0, heading: 0 });

test('a world let through before the rest of a stall does not turn the easing of the rest into a jump', () => {
  // One world of a 1 s stall let through 100 ms before the rest (it jumped 86 units, the
  // circling ship 115).
  for (const [path, most] of /** @type {const} */ ([[cruising, 20], [circling, 25]])) {
    const [arrival, released] = letThrough(2040, 2920, 0);
    const drawn = drawnThrough({}, path, arrival, released);
    assert.ok(drawn.largestStep < most && drawn.settledError < 0.5, JSON.stringify({ ...drawn, steps: undefined }));
  }
});

test('a burst spread over tens of ms is judged once it is in', () => {
  // 1 s at 420 units/s, about 300 units off: one jump, whole, however the burst comes.
  for (const spread of [0, 1, 5]) {
    const [arrival, released] = letThrough(2000, 0, spread);
    const drawn = drawnThrough({}, flatOut, arrival, released);
    const jump = drawn.steps.findIndex((step) => step > 200);
    assert.ok(jump > 0, `${spread} ms apart: one jump`);
    assert.ok(drawn.steps.every((step, i) => i === jump || step < 7.5), `${spread} ms apart: ${drawn.steps.filter((step) => step >= 7.5)}`);
    assert.ok(drawn.settledError < 0.5, `${spread} ms apart: ${drawn.settledError}`);
  }
  // Spread wider than the wait, eased from where the worlds in by then put the ship.
  const [arrival, released] = letThrough(2000, 0, 10);
  assert.ok(drawnThrough({}, straight, arrival, released).settledError < 0.5);
});

test('a burst that comes unevenly does not make the clock follow it back', () => {
  // One world of a 1 s stall let through at 2.5 s, then seven of the burst: their arrivals span
  // as long as worlds paced at the tick rate, but most came together. Or the burst draining at
  // 20 ms a world, faster than the ticks were made. Followed as a moved schedule, the render
  // time fell 10 (26) ticks back and replayed 0.6 (0.8) s.
  const period = 1000 / 30;
  for (const [earlyTo, earlyAt, spread] of [[2040, 2500, 0], [2000, 0, 20]]) {
    const [arrival] = letThrough(earlyTo, earlyAt, spread);
    const buffer = new InterpolationBuffer({ tickRate: 30 });
    let [next, drawnTick] = [0, -Infinity];
    for (let frame = 0; frame < 5000; frame += 1000 / 60) {
      while (arrival(next * period) <= frame) {
        buffer.push({ tick: next, round, entities: [ship(next * 16)] }, arrival(next * period));
        next += 1;
      }
      const tick = buffer.renderTick(frame);
      if (frame > 1000) assert.ok(tick >= drawnTick - 1e-9, `${spread} ms apart, at ${frame.toFixed(0)} ms: ${tick.toFixed(2)} after ${drawnTick.toFixed(2)}`);
      drawnTick = tick;
    }
  }
});

/**
 * Worlds arriving 20 ms after they were made, but those made in each `[from, to)` of `held`,
 * which arrive at its `at`; the ship straight at 300 units a second through them, as
 * `drawnThrough` draws it. The Rust tests' `held_back`.
 * @param {[number, number, number][]} held
 */
const heldBack = (held) => {
  const arrival = (/** @type {number} */ made) => held.find(([from, to]) => made >= from && made < to)?.[2] ?? made + 20;
  return drawnThrough({}, straight, arrival, Math.max(...held.map(([, , at]) => at)));
};

test('a world let through long before the rest of a stall does not turn its easing into a jump', () => {
  // 600 ms of stall with one world let through 400 ms before the rest: past the wait for it,
  // the rest came as a new burst and jumped 73 units.
  const drawn = heldBack([[2000, 2040, 2200], [2040, 2600, 2620]]);
  assert.ok(drawn.largestStep < 25 && drawn.settledError < 0.5, JSON.stringify({ ...drawn, steps: undefined }));
});

test('a world then silence is drawn once the wait for its burst is over', () => {
  const period = 1000 / 30;
  const buffer = new InterpolationBuffer({ tickRate: 30 });
  for (let tick = 0; tick < 60; tick++) buffer.push({ tick, round, entities: [ship(tick * 16)] }, tick * period + 20);
  // World 60, which brings entity 7, comes 400 ms late; then nothing.
  buffer.push({ tick: 60, round, entities: [ship(60 * 16), { ...ship(0), id: 7 }] }, 2400);
  assert.equal(buffer.sample(2500).entities.length, 1, 'the stall\'s drawing goes on while its burst may come');
  assert.equal(buffer.sample(2700).entities.length, 2, 'the wait over, world 60 is drawn');
  assert.equal(buffer.sample(3000).entities[0].x, 60, 'eased onto where world 60 holds the ship');
  // A world after the wait takes the easing on from where it was.
  const before = buffer.sample(2750).entities[0].x;
  buffer.push({ tick: 61, round, entities: [ship(61 * 16)] }, 2750);
  const after = buffer.sample(2750).entities[0].x;
  assert.ok(Math.abs(after - before) < 1.5, `${before} then ${after}`);
});

test('drawn a tick behind or less on a jittered link, the drawing never waits for a burst', () => {
  // Drawn 0 or 1 ticks behind, a world always comes after the render time: waiting for the
  // burst to reach it, each world more than a tick late stopped the drawing for 250 ms and it
  // strayed 48 units from the true course.
  const period = 1000 / 30;
  for (const delayTicks of [0, 1]) {
    const buffer = new InterpolationBuffer({ tickRate: 30, delayTicks });
    let seed = 7;
    const random = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    /** @type {number[]} */
    const arrivals = [];
    for (let tick = 0; tick < 450; tick++) arrivals.push(Math.max(tick * period + 50 + (random() * 2 - 1) * 30, arrivals.at(-1) ?? 0));
    let [next, mostOff] = [0, 0];
    for (let frame = 0; frame < 450 * period; frame += 1000 / 60) {
      while (next < arrivals.length && arrivals[next] <= frame) {
        const p = cruising((next * period) / 1000);
        buffer.push({ tick: next, round, entities: [{ ...ship(0), pos: { x: Math.round(p.x * 16), y: 0 }, vel: { x: Math.round(p.vx / 2), y: 0 } }] }, arrivals[next]);
        next += 1;
      }
      const sample = buffer.sample(frame);
      if (frame > 2000) mostOff = Math.max(mostOff, Math.abs(sample.entities[0].x - cruising((sample.tick * period) / 1000).x));
    }
    assert.ok(mostOff < 1, `delay ${delayTicks}: ${mostOff} units off course`);
  }
});

test('a second stall while the first is eased is eased from what is drawn then', () => {
  // 600 ms of stall, then 150 ms more starting 20 ms after the first burst: the second burst
  // comes while the first easing runs.
  const drawn = heldBack([[2000, 2600, 2620], [2620, 2770, 2790]]);
  assert.ok(drawn.largestStep < 25 && drawn.settledError < 0.5, JSON.stringify({ ...drawn, steps: undefined }));
});

/**
 * The most a ship drawn through `arrival` (of worlds made at 30 Hz) stepped backwards along x
 * in one frame, the most frames in a row it stood still, and its longest step forwards, from
 * `from` ms on. The Rust tests' `backwards_and_stands`.
 * @param {(t: number) => { x: number, y: number, vx: number, vy: number, heading: number }} path
 * @param {(made: number) => number} arrival @param {number} from @param {number} end
 */
const backwardsAndStands = (path, arrival, from, end) => {
  const period = 1000 / 30;
  const buffer = new InterpolationBuffer({ tickRate: 30 });
  let [next, back, stood, longest, forward] = [0, 0, 0, 0, 0];
  /** @type {number | null} */
  let before = null;
  for (let frame = 0; frame < end; frame += 1000 / 60) {
    while (arrival(next * period) <= frame) {
      const p = path((next * period) / 1000);
      buffer.push({ tick: next, round, entities: [{ ...ship(0), pos: { x: Math.round(p.x * 16), y: 0 }, vel: { x: Math.round(p.vx / 2), y: 0 } }] }, arrival(next * period));
      next += 1;
    }
    const x = buffer.sample(frame).entities[0]?.x;
    if (x === undefined) continue;
    if (before !== null && frame >= from) {
      back = Math.max(back, before - x);
      forward = Math.max(forward, x - before);
      stood = Math.abs(x - before) < 0.1 ? stood + 1 : 0;
      longest = Math.max(longest, stood);
    }
    before = x;
  }
  return { back, longest, forward };
};

test('a room that stalled is followed without the ships stepping back', () => {
  // The room stalls for 1 s and its ticks come that much later for good. Each late world, a
  // tick after the one before, once passed for a new stall and was waited for anew: the drawing
  // stood until the clock moved to the new schedule, then stepped back 73 units.
  // Then, when the clock snapped to the new schedule during the wait for the burst, it jumped
  // 86 units forward and slid back (or, just after, stepped back 84 to 109).
  const period = 1000 / 30;
  for (const [stall, jitter] of [[1000, 0], [600, 0], [600, 30], [600, 60], [1000, 60]]) {
    for (let seed = 1; seed <= 5; seed++) {
      let state = seed;
      const random = () => { state = (state * 1103515245 + 12345) % 2147483648; return state / 2147483648; };
      /** @type {number[]} */
      const arrivals = [];
      for (let tick = 0; tick < 160; tick++) {
        const made = tick * period;
        const late = made < 2000 ? 20 : 20 + stall;
        arrivals.push(Math.max(made + late + (random() * 2 - 1) * jitter + jitter, arrivals.at(-1) ?? 0));
      }
      const { back, forward } = backwardsAndStands(flatOut, (made) => arrivals[Math.round(made / period)], 1000, 5000);
      const at = `${stall} ms, ±${jitter} ms, seed ${seed}`;
      assert.ok(back < 20, `${at}: stepped back ${back} units`);
      assert.ok(forward < 25, `${at}: stepped ${forward} units forward (7 a frame)`);
    }
  }
});

test('a long burst draining slowly is not waited for again and again', () => {
  // A 2 s stall, then its worlds one every 20 ms: the first wait and easing, then the rest eased
  // as they come (each new wait froze the ship for 250 ms, then it jumped).
  const period = 1000 / 30;
  const arrival = (/** @type {number} */ made) => (made < 2000 ? made + 20 : Math.max(made + 20, 4020 + Math.round((made - 2000) / period) * 20));
  const { longest } = backwardsAndStands(straight, arrival, 4300, 6500);
  assert.ok(longest < 3, `stood ${longest} frames in a row while the burst drained`);
});

test('extrapolation and settling take 0 to 1 s, and their defaults for what is not a number', () => {
  const at = (/** @type {any} */ extrapolateMs, /** @type {any} */ settleMs) => {
    const buffer = new InterpolationBuffer({ tickRate: 30, extrapolateMs, settleMs });
    return [buffer.extrapolateMs, buffer.settleMs];
  };
  assert.deepEqual(at(Infinity, 3_600_000), [1000, 1000]);
  assert.deepEqual(at(NaN, '50'), [250, 200]);
  assert.deepEqual(at(-5, 0), [0, 0]);
  assert.deepEqual(at(undefined, undefined), [250, 200]);
});

test('the roster follows Joined and Left; spectators arrive only as the Audience count', () => {
  const s = joined();
  /** @param {number} tick @param {any} kind */
  const event = (tick, kind) => s.handleMessage(encodeServerMessage({ type: 'Event', tick, kind }), tick);
  event(20, { type: 'Joined', player: 4, name: 'bob', role: 'Controller', score: 0 });
  event(20, { type: 'Audience', spectators: 5000 });
  assert.deepEqual([...s.roster], [[4, { name: 'bob', role: 'Controller' }]]);
  assert.equal(s.audience, 5000);
  event(21, { type: 'Left', player: 4 });
  event(21, { type: 'Audience', spectators: 4999 });
  assert.equal(s.roster.size, 0);
  assert.equal(s.audience, 4999);
  const kinds = drain(s).events.filter((e) => e.type === 'event').map((e) => e.type === 'event' && e.kind.type);
  assert.deepEqual(kinds, ['Joined', 'Audience', 'Left', 'Audience']);
});

test('a Left event carries who left: its listeners no longer find the player in the roster', () => {
  const s = joined();
  /** @param {number} tick @param {any} kind */
  const event = (tick, kind) => s.handleMessage(encodeServerMessage({ type: 'Event', tick, kind }), tick);
  // A roster of 128 names: the room may hold players it left out.
  for (let player = 100; player < 228; player++) event(20, { type: 'Joined', player, name: `p${player}`, role: 'Player', score: 0 });
  event(20, { type: 'Audience', spectators: 0 });
  event(20, { type: 'Joined', player: 4, name: 'bob', role: 'Player', score: 0 });
  event(21, { type: 'Left', player: 4 });
  // A player the roster never named.
  event(22, { type: 'Left', player: 9 });
  const lefts = drain(s).events.filter((e) => e.type === 'event' && e.kind.type === 'Left');
  assert.deepEqual(lefts, [
    { type: 'event', tick: 21, kind: { type: 'Left', player: 4 }, left: { name: 'bob', role: 'Player' } },
    { type: 'event', tick: 22, kind: { type: 'Left', player: 9 } },
  ]);
  assert.equal(s.roster.size, 128);

  // A roster that named everyone: a Left for a player it never named (one that left as this
  // client joined, before the tick that carries its Left) is no news.
  const small = joined();
  /** @param {number} tick @param {any} kind */
  const smallEvent = (tick, kind) => small.handleMessage(encodeServerMessage({ type: 'Event', tick, kind }), tick);
  smallEvent(20, { type: 'Audience', spectators: 0 });
  smallEvent(20, { type: 'Left', player: 9 });
  assert.deepEqual(drain(small).events.filter((e) => e.type === 'event' && e.kind.type === 'Left'), []);
});

test('a resumed roster names its own seat outside the count of the others', () => {
  // 127 others besides itself: complete, so bob, unnamed, left while it was away; 128 others
  // besides itself: it may have left players out, so bob is not taken for gone.
  for (const [others, bobGone] of /** @type {[number, boolean][]} */ ([[127, true], [128, false]])) {
    const s = joined();
    /** @param {number} tick @param {any} kind */
    const event = (tick, kind) => s.handleMessage(encodeServerMessage({ type: 'Event', tick, kind }), tick);
    event(1, { type: 'Joined', player: 4, name: 'bob', role: 'Player', score: 0 });
    event(1, { type: 'Audience', spectators: 0 });
    s.handleClose(1006, '', false, 100);
    s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
    s.handleOpen(500);
    s.handleMessage(welcome({ resumed: true }), 500);
    drain(s);
    event(40, { type: 'Joined', player: 3, name: 'ada', role: 'Player', score: 9 });
    for (let player = 100; player < 100 + others; player++) event(40, { type: 'Joined', player, name: `p${player}`, role: 'Player', score: 0 });
    event(40, { type: 'Audience', spectators: 0 });
    const lefts = drain(s).events.filter((e) => e.type === 'event' && e.kind.type === 'Left');
    assert.equal(lefts.length, bobGone ? 1 : 0, `${others} others`);
    assert.equal(s.roster.has(4), !bobGone);
    assert.equal(s.roster.get(3)?.name, 'ada', 'itself');
  }
});

test('names and chat lines are cut to their bytes at whole code points', () => {
  assert.equal(truncateUtf8('Константинопольский', LIMITS.name), 'Константиноп', '12 letters of 2 bytes');
  assert.equal(truncateUtf8('東京都渋谷区神宮前一丁目', LIMITS.name), '東京都渋谷区神宮', '8 of 3 bytes');
  // 22 bytes, then an emoji of 4: it does not fit, and is not cut in half.
  assert.equal(truncateUtf8(`${'a'.repeat(22)}😀`, LIMITS.name), 'a'.repeat(22));
  assert.equal(truncateUtf8(`${'a'.repeat(20)}😀`, LIMITS.name), `${'a'.repeat(20)}😀`);
  assert.equal(truncateUtf8('short', LIMITS.name), 'short');
  for (const name of ['Константиноп', '東京都渋谷区神宮', `${'a'.repeat(20)}😀`]) {
    assert.doesNotThrow(() => new Session({ name }), name);
  }
  const s = joined();
  // 201 bytes; a cut between the emoji's halves would leave 200, ending in U+FFFD.
  s.chat(`${'a'.repeat(197)}😀`, 0);
  assert.deepEqual(drain(s).sent.filter((m) => m.type === 'Chat').map((m) => m.type === 'Chat' && m.text), ['a'.repeat(197)],
    'no half emoji at the end');
});

/** The chat lines among what a session sent. @param {Session} s */
const chatSent = (s) => drain(s).sent.flatMap((m) => (m.type === 'Chat' ? [m.text] : []));

/**
 * Plays a session against a server with the default chat limit (2 lines a second, burst 5) over
 * an uplink that takes 20 ms, and holds everything sent in `stall` until its end. The server
 * answers each Ping 20 ms later. Returns the lines as the server read them, with when.
 * @param {Session} s @param {{ from: number, to: number } | null} stall @param {number} until
 */
function chatAgainstServer(s, stall, until) {
  /** @type {{ text: string, at: number }[]} */
  const read = [];
  /** @type {{ at: number, message: any }[]} on the way up, in order */
  const uplink = [];
  /** @type {{ at: number, nonce: number }[]} pongs on the way down */
  const downlink = [];
  let tokens = 5;
  let counted = 0;
  for (let now = 0; now <= until; now += 10) {
    while (uplink.length && uplink[0].at <= now) {
      const { at, message } = /** @type {{ at: number, message: any }} */ (uplink.shift());
      if (message.type === 'Chat') {
        tokens = Math.min(5, tokens + ((at - counted) * 2) / 1000);
        counted = at;
        assert.ok(tokens >= 1, `the server kicks for chat: ${message.text} read at ${at} ms`);
        tokens -= 1;
        read.push({ text: message.text, at });
      } else if (message.type === 'Ping') {
        downlink.push({ at: at + 20, nonce: message.nonce });
      }
    }
    while (downlink.length && downlink[0].at <= now) {
      const { nonce } = /** @type {{ nonce: number }} */ (downlink.shift());
      s.handleMessage(encodeServerMessage({ type: 'Pong', nonce, serverTick: 1 }), now);
    }
    if ((s.pollTimeout() ?? Infinity) <= now) s.handleTimeout(now);
    for (const message of drain(s).sent) {
      const stalled = stall !== null && now >= stall.from && now < stall.to;
      const at = Math.max(stalled ? stall.to : now + 20, uplink.at(-1)?.at ?? 0);
      uplink.push({ at, message });
    }
  }
  return read;
}

test('chat is paced under the server limit: a flood arrives whole, and never trips the limit', () => {
  const s = joined();
  const lines = Array.from({ length: 12 }, (_, i) => `line ${i}`);
  for (const line of lines) assert.equal(s.chat(line, 0), true);
  const read = chatAgainstServer(s, null, 6000);
  assert.deepEqual(read.map((l) => l.text), lines, 'every line, in order');
  assert.equal(read.filter((l) => l.at <= 20).length, 4, "the server's burst of 5, less one spare");
  assert.ok(read[11].at >= 4000 && read[11].at <= 4100, `the last line at ${read[11].at} ms`);
});

test('chat held up by a stalled uplink reaches the server within its limit', () => {
  // 4 s of stall: lines paced at 2 a second on the client would reach the server as one burst
  // of 12, and the 6th would be kicked. Unconfirmed lines keep their tokens instead.
  const s = joined({ chatQueue: 32 });
  const lines = Array.from({ length: 24 }, (_, i) => `line ${i}`);
  for (const line of lines) assert.equal(s.chat(line, 0), true);
  const read = chatAgainstServer(s, { from: 500, to: 4500 }, 14000);
  assert.deepEqual(read.map((l) => l.text), lines, 'every line, in order');
  const during = read.filter((l) => l.at === 4500).length;
  assert.ok(during >= 1 && during <= 5, `${during} lines bunched at the stall's end`);
  // Once confirmed, lines flow at the server's rate again: the last within a second of it.
  const ideal = 500 * (lines.length - 5);
  assert.ok(read[23].at <= ideal + 1000 + 4000, `the last line at ${read[23].at} ms`);
});

test('chat past its queue is refused, and lines still waiting go with the connection', () => {
  const s = joined({ chatQueue: 3 });
  for (let i = 0; i < 7; i++) assert.equal(s.chat(`l${i}`, 0), true, `l${i}`);
  assert.equal(s.chat('one too many', 0), false);
  assert.equal(s.chat('   ', 0), false);
  assert.deepEqual(chatSent(s), ['l0', 'l1', 'l2', 'l3']);
  s.handleClose(1006, '', false, 100);
  assert.equal(s.chatQueue.length, 0);
  for (let now = 100; now <= 3000; now += 10) {
    if ((s.pollTimeout() ?? Infinity) <= now) s.handleTimeout(now);
    if (s.state === 'connecting' && !s.socketOpen) {
      s.handleOpen(now);
      s.handleMessage(welcome({ resumed: true }), now);
    }
    assert.deepEqual(chatSent(s), [], 'nothing from the old connection');
  }
  assert.equal(s.state, 'joined');
  // A new connection starts with the server's whole burst.
  for (let i = 0; i < 4; i++) s.chat(`n${i}`, 3000);
  assert.deepEqual(chatSent(s), ['n0', 'n1', 'n2', 'n3']);
  assert.equal(s.chat('late', 3000), true);
  // Four unconfirmed lines hold the whole budget: the session asks for their confirmation.
  const ping = drain(s).sent.find((m) => m.type === 'Ping');
  assert.ok(ping, 'a confirmation ping');
  assert.equal(s.chatBudget.next(), null, 'no chat timer: only the Pong frees a token');
  s.handleMessage(encodeServerMessage({ type: 'Pong', nonce: ping.nonce, serverTick: 1 }), 3000);
  s.handleTimeout(3499);
  assert.deepEqual(chatSent(s), [], 'half a second per line');
  s.handleTimeout(3500);
  assert.deepEqual(chatSent(s), ['late']);
});

test('the roster after a Welcome is flagged as catch-up, and a resume announces only who came and went meanwhile', () => {
  const s = new Session({ name: 'ada', room: 'r1', random: () => 0.5, reconnect: { initialDelayMs: 10, jitter: 0 } });
  /** @param {number} tick @param {any} kind */
  const event = (tick, kind) => s.handleMessage(encodeServerMessage({ type: 'Event', tick, kind }), tick);
  /** @param {number} player @param {string} name @param {number} [score] */
  const joinedKind = (player, name, score = 0) => ({ type: 'Joined', player, name, role: 'Player', score });
  const snapshot = (/** @type {number} */ tick) => encodeServerMessage(encodeSnapshot(null, null, { tick, round, entities: [] }, 0, 30));
  s.connect(0);
  s.handleOpen(0);
  s.handleMessage(welcome(), 0);
  // The roster: bob and cy were here; then, with the first tick, ada's own Joined and eve's,
  // who joined in the same tick: news, although before the first snapshot.
  event(1, joinedKind(4, 'bob'));
  event(1, joinedKind(5, 'cy'));
  event(1, { type: 'Audience', spectators: 2 });
  event(1, joinedKind(3, 'ada'));
  event(1, joinedKind(6, 'eve'));
  s.handleMessage(snapshot(1), 1);
  event(2, joinedKind(7, 'fay'));
  const flags = (/** @type {import('../index.js').SessionEvent[]} */ events) => events
    .flatMap((e) => (e.type === 'event'
      ? [`${e.kind.type}${'player' in e.kind ? ` ${e.kind.player}` : ''}${e.kind.type === 'Scored' ? `=${e.kind.score}` : ''}${e.roster ? ' (roster)' : ''}`]
      : []));
  assert.deepEqual(flags(drain(s).events), ['Joined 4 (roster)', 'Joined 5 (roster)', 'Audience (roster)', 'Joined 3', 'Joined 6', 'Joined 7']);
  assert.deepEqual([...s.roster.keys()], [4, 5, 3, 6, 7]);

  // The connection drops; meanwhile cy and fay leave, gil joins and bob scores 7. The resumed
  // Welcome keeps the roster for its listener; its roster names bob, eve and gil, with their
  // scores. Those known before are not announced again, but their scores are passed on.
  s.handleClose(1006, '', false, 100);
  s.handleTimeout(/** @type {number} */ (s.reconnectAt));
  s.handleOpen(200);
  /** @type {number[]} */
  let seen = [];
  s.handleMessage(welcome({ resumed: true }), 200);
  for (let e = s.pollEvent(); e; e = s.pollEvent()) if (e.type === 'welcome') seen = [...s.roster.keys()];
  assert.deepEqual(seen, [4, 5, 3, 6, 7], 'the welcome listener finds the players known before');
  event(90, joinedKind(4, 'bob', 7));
  event(90, joinedKind(6, 'eve'));
  event(90, joinedKind(8, 'gil', 2));
  event(90, { type: 'Audience', spectators: 2 });
  const after = drain(s).events.filter((e) => e.type === 'event');
  assert.deepEqual(flags(after), [
    'Scored 4=7 (roster)', 'Scored 6=0 (roster)', 'Joined 8 (roster)', 'Left 5 (roster)', 'Left 7 (roster)', 'Audience (roster)',
  ]);
  assert.deepEqual(after[2].type === 'event' && after[2].kind, joinedKind(8, 'gil', 2));
  assert.deepEqual(after[3].type === 'event' && after[3].left, { name: 'cy', role: 'Player' });
  assert.deepEqual([...s.roster.keys()].sort(), [3, 4, 6, 8]);
  // fay left just before the resume: her own Left comes with the next tick, announced already.
  event(91, { type: 'Left', player: 7 });
  assert.deepEqual(flags(drain(s).events), []);

  // A fresh seat (resumed: false) starts over: everyone in its roster is catch-up, nobody is gone.
  s.handleClose(1006, '', false, 300);
  s.handleTimeout(/** @type {number} */ (s.reconnectAt));
  s.handleOpen(400);
  s.handleMessage(welcome({ resumed: false }), 400);
  assert.equal(s.roster.size, 0);
  event(5, joinedKind(4, 'bob'));
  s.handleMessage(snapshot(5), 5);
  assert.deepEqual(flags(drain(s).events), ['Joined 4 (roster)']);
});

test('small contracts: buttons past a byte throw, leave says why on every transport, an ended session does not connect again', () => {
  const s = joined();
  assert.throws(() => s.setInput({ buttons: 300 }), (e) => e instanceof RangeError && /input\.buttons 300/.test(e.message));
  assert.throws(() => s.setInput({ buttons: 1.5 }), RangeError);
  assert.deepEqual(s.input, { x: 0, y: 0, buttons: 0 }, 'a refused input changes nothing');
  s.setInput({ x: 2, buttons: 3 });
  assert.deepEqual(s.input, { x: 2, y: 0, buttons: 3 }, 'steering is clamped on the wire, not refused');
  // The HTTP fallback's answering close record carries no reason: the event's is the one sent.
  s.leave(10);
  s.handleClose(1000, '', true, 20);
  const closed = drain(s).events.find((e) => e.type === 'closed');
  assert.deepEqual(closed, { type: 'closed', code: 1000, reason: 'leaving', answered: true });
  assert.throws(() => s.connect(30), /has left and does not connect again: create a new one/);
  const failed = new Session({ reconnect: { maxInitialAttempts: 1, initialDelayMs: 10, jitter: 0 } });
  failed.connect(0);
  failed.handleClose(1006, '', false, 1);
  failed.handleTimeout(/** @type {number} */ (failed.reconnectAt));
  failed.handleClose(1006, '', false, 20);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.message, 'no connection opened in 2 attempts (the first and 1 retry): closed with 1006');
  assert.throws(() => failed.connect(30), /has failed/);
});

test('numeric options that are not numbers, or out of range, are refused at construction naming the option', () => {
  // null is an option not given, everywhere: the room's tick rate, and 5 first attempts.
  const nulls = new Session(/** @type {any} */ ({ inputRate: null, reconnect: { maxAttempts: null } }));
  assert.equal(nulls.inputRateOverride, undefined);
  assert.deepEqual([nulls.reconnect.maxAttempts, nulls.reconnect.maxInitialAttempts], [20, 5]);
  /** @type {[Record<string, unknown>, RegExp, typeof TypeError | typeof RangeError][]} */
  const bad = [
    // From an environment variable or a data- attribute: concatenated into every deadline.
    [{ silenceTimeoutMs: '5000' }, /^silenceTimeoutMs is a string \("5000"\), not a number/, TypeError],
    [{ pingIntervalMs: '2000' }, /pingIntervalMs.*"2000"/, TypeError],
    [{ connectTimeoutMs: NaN }, /connectTimeoutMs is NaN/, TypeError],
    [{ joinTimeoutMs: 0 }, /joinTimeoutMs 0 is out of range: expected a number over 0/, RangeError],
    [{ closeTimeoutMs: -1 }, /closeTimeoutMs -1/, RangeError],
    [{ closeTimeoutMs: Infinity }, /closeTimeoutMs Infinity/, RangeError],
    [{ connectTimeoutMs: 2 ** 31 }, /connectTimeoutMs/, RangeError],
    [{ reconnect: { initialDelayMs: '250' } }, /reconnect\.initialDelayMs/, TypeError],
    [{ reconnect: { maxDelayMs: -5 } }, /reconnect\.maxDelayMs -5/, RangeError],
    [{ reconnect: { factor: 0.5 } }, /reconnect\.factor 0\.5/, RangeError],
    [{ reconnect: { jitter: 2 } }, /reconnect\.jitter 2 .*from 0 to 1/, RangeError],
    [{ reconnect: { maxAttempts: '3' } }, /reconnect\.maxAttempts/, TypeError],
    [{ reconnect: { maxAttempts: 2.5 } }, /reconnect\.maxAttempts 2\.5 .*an integer/, RangeError],
    [{ reconnect: { maxInitialAttempts: -1 } }, /reconnect\.maxInitialAttempts -1/, RangeError],
    [{ reconnect: { restartWindowMs: true } }, /reconnect\.restartWindowMs is a boolean/, TypeError],
    [{ chatRate: 0 }, /chatRate 0/, RangeError],
    [{ chatBurst: '5' }, /chatBurst/, TypeError],
    [{ chatQueue: 0 }, /chatQueue 0/, RangeError],
    [{ spectatorAckEvery: 1.5 }, /spectatorAckEvery 1\.5/, RangeError],
    [{ inputRate: '30' }, /inputRate/, TypeError],
    [{ inputRate: -30 }, /inputRate -30/, RangeError],
  ];
  for (const [options, message, type] of bad) {
    assert.throws(() => new Session(/** @type {any} */ ({ name: 'ada', ...options })),
      (e) => e instanceof type && message.test(/** @type {Error} */ (e).message), JSON.stringify(options));
  }
  // The bounds' edges, and what turns a check or a limit off.
  const s = new Session({
    pingIntervalMs: Infinity, silenceTimeoutMs: Infinity, joinTimeoutMs: 1, inputRate: 0.5, chatQueue: 1,
    reconnect: { initialDelayMs: 0, factor: 1, jitter: 1, maxAttempts: Infinity, maxInitialAttempts: 0, restartWindowMs: 0 },
  });
  assert.equal(s.silenceTimeoutMs, Infinity);
  assert.equal(s.reconnect.maxAttempts, Infinity);
  assert.equal(s.reconnect.maxInitialAttempts, 0);
  // Defaults where nothing (or null) is given; maxInitialAttempts follows a given maxAttempts.
  const d = new Session({ pingIntervalMs: undefined, reconnect: { maxAttempts: 3 } });
  assert.deepEqual([d.pingIntervalMs, d.silenceTimeoutMs, d.reconnect.maxInitialAttempts, d.spectatorAckEvery], [2000, 5000, 3, 30]);
});

test('a final refusal on the way back to a seat keeps its HTTP status: an app tells "log in again" by it', () => {
  const s = joined({ reconnect: { initialDelayMs: 10, jitter: 0 } });
  s.handleClose(1006, '', false, 100);
  assert.equal(s.state, 'reconnecting');
  s.handleTimeout(/** @type {number} */ (s.pollTimeout()));
  drain(s);
  // The join token expired meanwhile: the fallback (or the client's question) sees the 401.
  s.handleClose(1006, 'HTTP 401: the join token has expired', false, 200, 401);
  assert.equal(s.state, 'failed');
  const error = s.error;
  assert.ok(error instanceof ConnectionClosedError && !(error instanceof UnreachableError), `${error}`);
  assert.equal(error.lastStatus, 401);
  assert.equal(error.retryable, false);
  assert.match(error.message, /the join token has expired/);
});

test('setInput keeps the held value of a field left out: a boost key does not stop the steering', () => {
  const s = joined();
  s.setInput({ x: 1, y: -0.5 });
  assert.deepEqual(s.input, { x: 1, y: -0.5, buttons: 0 }, '0 for what was never set');
  s.setInput({ buttons: 1 }); // Buttons.BOOST, from a keydown handler that knows nothing of steering
  assert.deepEqual(s.input, { x: 1, y: -0.5, buttons: 1 });
  s.handleTimeout(0);
  const input = drain(s).sent.find((m) => m.type === 'Input');
  assert.ok(input?.type === 'Input');
  assert.deepEqual([input.x, input.y, input.buttons], [127, -64, 1], 'sent as held, steering included');
  s.setInput({ y: 0 });
  assert.deepEqual(s.input, { x: 1, y: 0, buttons: 1 });
  s.setInput({ x: 0, y: 0, buttons: 0 });
  assert.deepEqual(s.input, { x: 0, y: 0, buttons: 0 }, 'all three let go of everything');
});

test('an interpolation buffer refuses options that would draw wrong, naming them', () => {
  /** @type {[unknown, RegExp, typeof TypeError | typeof RangeError][]} */
  const bad = [
    [undefined, /^InterpolationBuffer needs its options/, TypeError],
    [{}, /^tickRate is missing/, TypeError],
    [{ tickRate: 0 }, /^tickRate 0 is out of range/, RangeError], // drew at 1 Hz
    [{ tickRate: '30' }, /^tickRate is a string/, TypeError],
    [{ tickRate: Infinity }, /^tickRate Infinity/, RangeError],
    [{ tickRate: 30, delayTicks: -3 }, /^delayTicks -3 is out of range/, RangeError], // drew past the newest world
    [{ tickRate: 30, delayTicks: NaN }, /^delayTicks is NaN/, TypeError],
    [{ tickRate: 30, capacity: 0 }, /^capacity 0 is out of range: expected an integer >= 2/, RangeError], // drew nothing
    [{ tickRate: 30, capacity: 2.5 }, /^capacity 2\.5/, RangeError],
  ];
  for (const [options, message, type] of bad) {
    assert.throws(() => new InterpolationBuffer(/** @type {any} */ (options)),
      (e) => e instanceof type && message.test(/** @type {Error} */ (e).message), JSON.stringify(options));
  }
  const fixed = new InterpolationBuffer({ tickRate: 20, delayTicks: 0, capacity: 2 });
  assert.deepEqual([fixed.periodMs, fixed.delayTicks, fixed.adaptive, fixed.capacity], [50, 0, false, 2]);
  const adaptive = new InterpolationBuffer({ tickRate: 30 });
  assert.deepEqual([adaptive.delayTicks, adaptive.adaptive, adaptive.capacity], [2, true, 32]);
});
