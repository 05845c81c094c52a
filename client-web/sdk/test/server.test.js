// The SDK session against the real server binary on 127.0.0.1 port 0, over each transport
// (WebSocket, the HTTP stream, long polling): join, inputs acked, chat, drop and resume the same
// ship, kick reasons, the closing handshake; and `auto` falling back on its own when a proxy
// blocks WebSocket, or also buffers streamed responses.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TickwireClient, KickedError, VersionMismatchError, Arena, worldEntity, PROTOCOL_VERSION, SESSION_HEADER } from '../index.js';
import { startServer, startProxy, startHttpProxy, until, getJson } from '../../test/support/server.js';
import { POLL_HEADER, SEQ_HEADER, NUMBERING_HEADER } from '../src/http.js';

assert.ok(globalThis.WebSocket, 'run with node --experimental-websocket (Node 20) or Node 22+');

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;

before(async () => {
  // A view radius past the arena's diagonal (1600 x 1000): every player sees the pickups
  // wherever it spawns. At the default 700, a ship spawned in a corner misses all 12 a few
  // times in a hundred, and the server's seed is random.
  server = await startServer(['--resume-grace', '10s', '--view-radius', '2000']);
});
after(async () => {
  await server.stop();
});

/** @param {Partial<import('../index.js').SessionOptions & import('../index.js').ClientOptions>} options */
function client(options) {
  const c = new TickwireClient({ url: server.ws, name: 'node', ...options });
  /** @type {string[]} */
  const transports = [];
  c.on('transport', (e) => transports.push(e.transport));
  /** @type {any[]} */
  const events = [];
  for (const type of /** @type {const} */ (['state', 'welcome', 'event', 'error', 'closed'])) c.on(type, (e) => events.push(e));
  /** @type {import('../index.js').World[]} */
  const worlds = [];
  /** @type {import('../index.js').Snapshot[]} */
  const snapshots = [];
  c.on('snapshot', (e) => { worlds.push(e.world); snapshots.push(e.snapshot); });
  c.connect();
  return { c, events, worlds, snapshots, transports };
}

/** @param {TickwireClient} c */
const ownShip = (c) => {
  const s = c.session;
  return s.world && s.welcome?.entity != null ? worldEntity(s.world, s.welcome.entity) : undefined;
};

for (const transport of /** @type {const} */ (['ws', 'stream', 'poll'])) {
  test(`a player joins, sees its ship, and acks so snapshots become deltas (${transport})`, async () => {
    const { c, events, snapshots, transports } = client({ room: `sdk-join-${transport}`, transport });
    const welcome = await until(() => events.find((e) => e.type === 'welcome')?.welcome, 'Welcome');
    assert.equal(welcome.room, `sdk-join-${transport}`);
    assert.deepEqual(transports, [transport]);
    // Counted by the connection's task once it is seated, which may run a moment after the
    // room's Welcome reached the client (a loaded machine showed the row without it once).
    const row = await until(async () => (await getJson(`${server.http}/rooms`))
      .find((/** @type {any} */ r) => r.id === welcome.room && r.transports[transport] > 0), 'the room counting it under its transport');
    assert.deepEqual(row.transports, { ws: 0, stream: 0, poll: 0, [transport]: 1 }, 'counted once, under its transport');
    assert.equal(welcome.role, 'Player');
    assert.equal(welcome.entity, welcome.playerId);
    assert.equal(welcome.resumed, false);
    assert.equal(welcome.resumeToken.length, 16);
    const ship = await until(() => ownShip(c), 'own ship in a snapshot');
    assert.equal(ship.kind, Arena.KIND_SHIP);
    assert.ok(ship.flags & Arena.FLAG_ALIVE);
    assert.equal(snapshots[0].baseline, null, 'the first snapshot is full');
    await until(() => snapshots.some((s) => s.baseline !== null), 'a delta snapshot (the acks arrived)');
    assert.ok(c.session.world?.entities.some((e) => e.kind === Arena.KIND_PICKUP), 'pickups are in view');
    const left = await c.leave();
    assert.equal(left.code, 1000);
    assert.equal(left.answered, true, 'the server answered the close 1000');
    assert.equal(c.state, 'closed');
  });

  test(`inputs are numbered, applied and acknowledged, and move the ship (${transport})`, async () => {
    const { c } = client({ room: `sdk-input-${transport}`, transport });
    const start = await until(() => ownShip(c), 'own ship');
    c.setInput({ x: start.pos.x < 800 * 16 ? 1 : -1, y: 0 });
    const direction = start.pos.x < 800 * 16 ? 1 : -1;
    await until(() => c.session.lastInputApplied >= 10, 'ten inputs applied');
    const moved = await until(() => {
      const ship = ownShip(c);
      return ship && (ship.pos.x - start.pos.x) * direction > 16 * 30 ? ship : null;
    }, 'ship moved 30 units the way it was steered');
    assert.ok(moved.vel.x * direction > 0, 'velocity points the way it was steered');
    assert.ok(c.session.pendingInputs.every((i) => i.seq > c.session.lastInputApplied));
    await c.leave();
  });

  test(`chat goes across to everyone in the room with the sender name (${transport})`, async () => {
    const a = client({ room: `sdk-chat-${transport}`, name: 'ada', transport });
    const b = client({ room: `sdk-chat-${transport}`, name: 'bob', role: 'Spectator' });
    const aWelcome = await until(() => a.events.find((e) => e.type === 'welcome')?.welcome, 'a joined');
    await until(() => b.c.session.isJoined(), 'b joined');
    await until(() => b.c.session.roster.get(aWelcome.playerId)?.name === 'ada', 'b knows ada');
    assert.ok(a.c.chat('gg équipe 🚀'));
    const line = await until(() => b.events.find((e) => e.type === 'event' && e.kind.type === 'Chat')?.kind, 'chat event');
    assert.deepEqual(line, { type: 'Chat', from: aWelcome.playerId, name: 'ada', text: 'gg équipe 🚀' });
    await Promise.all([a.c.leave(), b.c.leave()]);
  });

  test(`a dropped connection reconnects and resumes the same ship (${transport})`, async () => {
    const proxy = await startProxy(server.port);
    const watcher = client({ room: `sdk-res-${transport}`, role: 'Spectator', name: 'watch' });
    const { c, events, transports } = client({ url: `ws://127.0.0.1:${proxy.port}/ws`, room: `sdk-res-${transport}`, transport });
    const first = await until(() => events.find((e) => e.type === 'welcome')?.welcome, 'Welcome');
    await until(() => ownShip(c), 'own ship');
    c.setInput({ x: 0.5, y: 0.5 });
    // Long polling sends a poll cut once again, with its number, and goes on: the link stays
    // down here (every new connection held unanswered) until the client gives up on it. (Cut
    // every 5 ms instead, a poll could slip an answer through between two cuts and keep the
    // link alive: a CI run once waited in vain.)
    if (transport === 'poll') proxy.hold();
    assert.ok(proxy.cut() >= 1, 'a connection was cut');
    await until(() => events.some((e) => e.type === 'state' && e.state === 'reconnecting'), 'reconnecting')
      .finally(() => proxy.release());
    const resumed = await until(() => events.filter((e) => e.type === 'welcome')[1]?.welcome, 'a second Welcome');
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.playerId, first.playerId);
    assert.equal(resumed.entity, first.entity);
    assert.deepEqual(resumed.resumeToken, first.resumeToken);
    await until(() => ownShip(c), 'own ship after the resume');
    assert.equal(c.session.connections, 2);
    assert.deepEqual(transports, [transport, transport]);
    assert.ok(!watcher.events.some((e) => e.type === 'event' && e.kind.type === 'Left' && e.kind.player === first.playerId),
      'the room never saw the ship leave');
    await Promise.all([c.leave(), watcher.c.leave()]);
    await proxy.close();
  });
}

test('a newcomer\'s roster carries every player\'s score so far', async () => {
  const scorer = client({ room: 'sdk-scores', name: 'ace' });
  const id = (await until(() => scorer.events.find((e) => e.type === 'welcome')?.welcome, 'the scorer joined')).playerId;
  // Toward the nearest pickup until the ship's score rises (every pickup is in view here).
  const steer = setInterval(() => {
    const ship = ownShip(scorer.c);
    const world = scorer.c.session.world;
    if (!ship || !world) return;
    const pickups = world.entities.filter((e) => e.kind === Arena.KIND_PICKUP);
    const distance = (/** @type {typeof ship} */ e) => Math.hypot(e.pos.x - ship.pos.x, e.pos.y - ship.pos.y);
    const target = pickups.sort((a, b) => distance(a) - distance(b))[0];
    if (!target) return;
    const d = distance(target) || 1;
    scorer.c.setInput({ x: (target.pos.x - ship.pos.x) / d, y: (target.pos.y - ship.pos.y) / d });
  }, 50);
  const score = await until(() => ownShip(scorer.c)?.value, 'the scorer scored', 30000).finally(() => clearInterval(steer));
  const late = client({ room: 'sdk-scores', name: 'late', role: 'Spectator' });
  const joined = await until(() => late.events.find((e) => e.type === 'event' && e.kind.type === 'Joined' && e.kind.player === id), 'the roster');
  assert.equal(joined.roster, true);
  assert.ok(joined.kind.score >= score, `told ${joined.kind.score}, the scorer has ${score}`);
  // A page reload: a new client with the scorer's token resumes the seat knowing nothing of
  // it but the token, and its roster names the seat itself, with its name and score.
  const token = scorer.events.find((e) => e.type === 'welcome').welcome.resumeToken;
  const reloaded = client({ room: 'sdk-scores', name: 'ace', resumeToken: token });
  const own = await until(() => reloaded.events.find((e) => e.type === 'event' && e.kind.type === 'Joined' && e.kind.player === id), 'its own roster entry');
  assert.equal(reloaded.events.find((e) => e.type === 'welcome').welcome.resumed, true);
  assert.equal(own.roster, true);
  assert.ok(own.kind.score >= score, `told ${own.kind.score}, the seat has ${score}`);
  assert.equal(reloaded.c.session.roster.get(id)?.name, 'ace');
  await Promise.all([scorer.c.leave(), late.c.leave(), reloaded.c.leave()]);
});

test('a chat flood is paced under the server limit: every line arrives and nobody is kicked', async () => {
  const a = client({ room: 'sdk-chat-flood', name: 'ada' });
  const b = client({ room: 'sdk-chat-flood', name: 'bob', role: 'Spectator' });
  await until(() => a.c.session.isJoined() && b.c.session.isJoined(), 'both joined');
  const lines = Array.from({ length: 8 }, (_, i) => `line ${i}`);
  for (const line of lines) assert.ok(a.c.chat(line));
  const heard = () => b.events.flatMap((e) => (e.type === 'event' && e.kind.type === 'Chat' ? [e.kind.text] : []));
  await until(() => heard().length === lines.length, 'every line');
  assert.deepEqual(heard(), lines);
  assert.deepEqual(a.events.filter((e) => e.type === 'error'), [], 'not kicked');
  assert.equal(a.c.state, 'joined');
  await Promise.all([a.c.leave(), b.c.leave()]);
});

test('kicks surface as typed errors and are not retried', async (t) => {
  for (const transport of /** @type {const} */ (['ws', 'stream', 'poll'])) {
    await t.test(`RateLimited: chat flood (${transport})`, async () => {
      // Paced for a server with a far higher chat limit than this one's 2 a second, burst 5.
      const { c, events } = client({ room: 'sdk-kick', transport, chatRate: 1000, chatBurst: 1000 });
      await until(() => c.session.isJoined(), 'joined');
      for (let i = 0; i < 12; i++) c.chat(`spam ${i}`);
      const error = await until(() => events.find((e) => e.type === 'error')?.error, 'an error');
      assert.ok(error instanceof KickedError);
      assert.equal(error.reason, 'RateLimited');
      assert.equal(error.code, 1008);
      assert.match(error.serverMessage, /chat/);
      assert.equal(c.state, 'failed');
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(!events.some((e) => e.type === 'state' && e.state === 'reconnecting'), 'no retry after a kick');
    });
  }

  await t.test('Replaced: the seat resumed elsewhere', async () => {
    const first = client({ room: 'sdk-kick' });
    const welcome = await until(() => first.events.find((e) => e.type === 'welcome')?.welcome, 'first joined');
    const second = client({ room: 'sdk-kick', resumeToken: welcome.resumeToken });
    const taken = await until(() => second.events.find((e) => e.type === 'welcome')?.welcome, 'second joined');
    assert.equal(taken.resumed, true);
    assert.equal(taken.playerId, welcome.playerId);
    const error = await until(() => first.events.find((e) => e.type === 'error')?.error, 'first kicked');
    assert.ok(error instanceof KickedError);
    assert.equal(error.reason, 'Replaced');
    assert.equal(first.c.state, 'failed');
    await second.c.leave();
  });

  await t.test('VersionMismatch: a client of another protocol version', async () => {
    // A WebSocket that rewrites the Hello's version byte, as an out-of-date page would send it.
    const Outdated = class extends WebSocket {
      /** @param {any} data */
      send(data) {
        const bytes = new Uint8Array(data);
        if (bytes[0] === 0) bytes[1] = 1;
        super.send(bytes);
      }
    };
    const c = new TickwireClient({ url: server.ws, name: 'old', room: 'sdk-kick', WebSocket: Outdated });
    /** @type {Error[]} */
    const errors = [];
    c.on('error', (e) => errors.push(e.error));
    c.connect();
    const error = await until(() => errors[0], 'refused');
    assert.ok(error instanceof VersionMismatchError);
    assert.equal(error.serverVersion, PROTOCOL_VERSION);
    assert.equal(error.code, 1002);
    assert.equal(c.state, 'failed');
  });

  await t.test('Full: a room at capacity', async () => {
    const small = await startServer(['--room-capacity', '1']);
    try {
      const one = client({ url: small.ws, room: 'tiny' });
      await until(() => one.c.session.isJoined(), 'first player joined');
      const two = client({ url: small.ws, room: 'tiny' });
      const error = await until(() => two.events.find((e) => e.type === 'error')?.error, 'second refused');
      assert.ok(error instanceof KickedError);
      assert.equal(error.reason, 'Full');
      assert.equal(error.code, 1013);
      // Leaving a session that already ended resolves at once, saying how it ended.
      const left = await two.c.leave();
      assert.deepEqual({ code: left.code, answered: left.answered }, { code: 1013, answered: false });
      await one.c.leave();
    } finally {
      await small.stop();
    }
  });

  await t.test('ShuttingDown: retried, since the server comes back', async () => {
    const doomed = await startServer([]);
    const { c, events } = client({ url: doomed.ws, room: 'bye', reconnect: { initialDelayMs: 5000 } });
    await until(() => c.session.isJoined(), 'joined');
    await doomed.stop();
    const retry = await until(() => events.find((e) => e.type === 'state' && e.state === 'reconnecting'), 'reconnecting');
    assert.ok(retry.cause instanceof KickedError);
    assert.equal(retry.cause.reason, 'ShuttingDown');
    assert.equal(retry.cause.code, 1001);
    await c.leave();
    assert.equal(c.state, 'closed');
  });
});

test('an undecodable message closes the WebSocket with 4002, and the session resumes its seat', async () => {
  // A WebSocket whose first connection garbles its third message, as a broken proxy might.
  let garbled = 0;
  /** @type {(number | undefined)[]} */
  const closes = [];
  const Garbling = class extends WebSocket {
    /** @param {number} [code] @param {string} [reason] */
    close(code, reason) {
      closes.push(code);
      super.close(code, reason);
    }
    /** @param {any} handler */
    set onmessage(handler) {
      let seen = 0;
      const first = garbled === 0;
      super.onmessage = (/** @type {MessageEvent} */ event) => {
        seen += 1;
        if (first && seen === 3) {
          garbled += 1;
          handler({ data: Uint8Array.of(250, 250).buffer });
        } else {
          handler(event);
        }
      };
    }
    get onmessage() {
      return super.onmessage;
    }
  };
  const { c, events } = client({ room: 'sdk-garbled', WebSocket: Garbling, reconnect: { initialDelayMs: 50 } });
  const retry = await until(() => events.find((e) => e.type === 'state' && e.state === 'reconnecting'), 'reconnecting');
  assert.equal(garbled, 1);
  assert.equal(retry.cause?.name, 'DecodeError');
  await until(() => c.session.connections === 2 && c.session.isJoined(), 'joined again');
  // The browser's 1002 keeps the seat, as a dropped connection does: the same ship, resumed.
  const welcomes = events.filter((e) => e.type === 'welcome').map((e) => e.welcome);
  assert.equal(welcomes.length, 2);
  assert.equal(welcomes[1].resumed, true);
  assert.equal(welcomes[1].playerId, welcomes[0].playerId);
  assert.deepEqual(closes, [1002, 4002], 'the browser refuses 1002, then 4002 goes out');
  const left = await c.leave();
  assert.equal(left.answered, true);
});

test('a server restarted in place is retried at the first delay, and joined again', async () => {
  const first = await startServer();
  const c = new TickwireClient({ url: first.ws, name: 'node', room: 'sdk-restart' });
  /** @type {any[]} */
  const events = [];
  for (const type of /** @type {const} */ (['state', 'welcome', 'error'])) c.on(type, (e) => events.push(e));
  c.connect();
  await until(() => events.some((e) => e.type === 'welcome'), 'Welcome');
  await first.stop(); // SIGTERM: `Kick { ShuttingDown }` and 1001, then the process exits
  // Down until four attempts failed: each waits the first delay (250 ms, jitter of 20%), where
  // the backoff would have grown to 500 ms, 1 s, 2 s.
  const retries = () => events.filter((e) => e.type === 'state' && e.state === 'reconnecting');
  await until(() => retries().length >= 5, 'the kick and four failed attempts');
  const delays = retries().map((e) => e.delayMs);
  assert.ok(delays.every((d) => d >= 200 && d <= 300), `${delays}`);
  assert.equal(retries()[0].cause?.reason, 'ShuttingDown');
  const second = await startServer(['--bind', `127.0.0.1:${first.port}`]);
  try {
    const welcomes = () => events.filter((e) => e.type === 'welcome');
    await until(() => welcomes().length >= 2, 'a Welcome from the restarted server');
    assert.equal(welcomes()[1].welcome.resumed, false, 'a new process holds no seat');
    assert.equal(welcomes()[1].welcome.room, 'sdk-restart');
    assert.equal(events.some((e) => e.type === 'error'), false);
    await c.leave();
  } finally {
    await second.stop();
  }
});

test('a WebSocket refused for its join token ends the join at once with the server\'s words, though the socket hides the 401', async () => {
  const strict = await startServer(['--join-secret', 'sdk-secret']);
  try {
    const c = new TickwireClient({ url: `${strict.ws}?token=not.a.token`, transport: 'ws', name: 'node' });
    /** @type {any[]} */
    const errors = [];
    c.on('error', (e) => errors.push(e.error));
    c.connect();
    await until(() => c.state === 'failed', 'the join ended');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].name, 'UnreachableError');
    assert.equal(errors[0].status, 401);
    assert.equal(errors[0].attempts, 1, 'no retries that would meet the same 401');
    assert.match(errors[0].message, /HTTP 401: .*malformed/);
  } finally {
    await strict.stop();
  }
});

test('a WebSocket refused by a full server gives up saying 503, though the socket hides it', async () => {
  const full = await startServer(['--max-connections', '1']);
  try {
    const first = new TickwireClient({ url: full.ws, transport: 'ws', name: 'one' });
    first.connect();
    await until(() => first.session.isJoined(), 'the only place taken');
    const c = new TickwireClient({ url: full.ws, transport: 'ws', name: 'two', reconnect: { maxInitialAttempts: 1, initialDelayMs: 10 } });
    /** @type {any[]} */
    const errors = [];
    c.on('error', (e) => errors.push(e.error));
    c.connect();
    await until(() => c.state === 'failed', 'the join gave up');
    assert.equal(errors[0].name, 'UnreachableError');
    // What lets a game say "the server is full" rather than "cannot reach it".
    assert.equal(errors[0].lastStatus, 503, errors[0].message);
    await first.leave();
  } finally {
    await full.stop();
  }
});

test('a listener that throws is reported, and the session goes on', async () => {
  const c = new TickwireClient({ url: server.ws, name: 'node', room: 'sdk-throwing' });
  /** @type {unknown[]} */
  const reported = [];
  c.reportError = (error) => reported.push(error);
  c.on('transport', () => { throw new Error('broken transport listener'); });
  c.on('welcome', () => { throw new Error('broken welcome listener'); });
  c.connect();
  await until(() => c.session.isJoined(), 'joined despite the listeners');
  assert.deepEqual(reported.map((e) => /** @type {Error} */ (e).message), ['broken transport listener', 'broken welcome listener']);
  await c.leave();
});

test('auto: a proxy that blocks WebSocket sends the client to the HTTP stream, by itself', async () => {
  const proxy = await startHttpProxy(server.port);
  try {
    const { c, events, transports } = client({ url: proxy.ws, room: 'sdk-auto' });
    const welcome = await until(() => events.find((e) => e.type === 'welcome')?.welcome, 'Welcome through the proxy');
    assert.ok(proxy.upgrades() >= 1, 'the WebSocket was tried first');
    assert.deepEqual(transports, ['stream']);
    assert.equal(c.transport, 'stream');
    c.setInput({ x: 1 });
    await until(() => c.session.lastInputApplied >= 10, 'inputs applied over the fallback');
    const row = (await getJson(`${server.http}/rooms`)).find((/** @type {any} */ r) => r.id === welcome.room);
    assert.equal(row.transports.stream, 1);
    assert.equal(row.transports.ws, 0);
    const left = await c.leave();
    assert.equal(left.answered, true, 'the server answered the close record');
  } finally {
    await proxy.close();
  }
});

test('auto: a proxy that also buffers streamed responses sends the client to long polling', async () => {
  const proxy = await startHttpProxy(server.port, { buffer: true });
  try {
    const { c, events, transports } = client({ url: proxy.ws, room: 'sdk-auto-poll', streamTimeoutMs: 1000 });
    await until(() => events.find((e) => e.type === 'welcome')?.welcome, 'Welcome through the buffering proxy');
    assert.deepEqual(transports, ['poll'], 'the stream delivered nothing in time');
    c.setInput({ x: -1 });
    await until(() => c.session.lastInputApplied >= 10, 'inputs applied over long polling');
    const left = await c.leave();
    assert.equal(left.answered, true);
  } finally {
    await proxy.close();
  }
});

test('a fallback session refused by the server says why', async () => {
  const strict = await startServer(['--allowed-origins', 'http://game.example']);
  try {
    // Node's fetch sends no Origin: forge one, as a page elsewhere would.
    /** @type {typeof fetch} */
    const foreign = (input, init = {}) => fetch(input, { ...init, headers: { ...(init.headers ?? {}), origin: 'http://evil.example' } });
    const { c, events } = client({ url: strict.ws, transport: 'stream', fetch: foreign, reconnect: { maxAttempts: 1, initialDelayMs: 10 } });
    const error = await until(() => events.find((e) => e.type === 'error')?.error, 'given up');
    assert.match(error.message, /HTTP 403: origin "http:\/\/evil.example" is not allowed/);
    assert.equal(c.state, 'failed');
  } finally {
    await strict.stop();
  }
});

/** Whether `bytes` contain `text`'s UTF-8. @param {Uint8Array} bytes @param {string} text */
function carries(bytes, text) {
  return Buffer.from(bytes).includes(Buffer.from(text));
}

/** @param {any[]} events @param {string} text */
const chatLines = (events, text) => events.filter((e) => e.type === 'event' && e.kind.type === 'Chat' && e.kind.text === text).length;

test('a poll whose answer is lost on its way is sent again with its number: the same records, none lost', async () => {
  // The first answer of the poll that carries the line is lost after the server answered it
  // (a proxy whose upstream died mid-response, a dying forwarding node): the SDK polls again
  // with the same number, and the server answers with the same bytes.
  /** @type {Map<string, Uint8Array[]>} */
  const answers = new Map();
  let lost = 0;
  let polls = 0;
  /** @type {typeof fetch} */
  const lossy = async (input, init = {}) => {
    const response = await fetch(input, init);
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    // Every poll (the opening request and POSTs pass), by its number, or its place if none.
    if (String(input).endsWith('/send') || !headers[SESSION_HEADER] || !response.ok) return response;
    const number = headers[POLL_HEADER] ?? `unnumbered ${++polls}`;
    const body = new Uint8Array(await response.arrayBuffer());
    answers.set(number, [...(answers.get(number) ?? []), body]);
    if (lost === 0 && carries(body, 'found again')) {
      lost += 1;
      throw new TypeError('fetch failed: the answer was lost on its way');
    }
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const a = client({ room: 'sdk-lost-poll', name: 'ada', transport: 'poll', fetch: lossy });
  const b = client({ room: 'sdk-lost-poll', name: 'bob', role: 'Spectator' });
  await until(() => a.c.session.isJoined() && b.c.session.isJoined(), 'both joined');
  assert.ok(a.c.chat('found again'));
  await until(() => chatLines(b.events, 'found again') === 1, 'bob hears the line');
  await until(() => chatLines(a.events, 'found again') === 1, 'ada gets her own line, from the poll sent again');
  assert.equal(lost, 1);
  const repeated = [...answers.values()].filter((bodies) => bodies.length > 1);
  assert.equal(repeated.length, 1, 'one poll sent twice');
  assert.deepEqual(repeated[0][1], repeated[0][0], 'answered with the same bytes');
  assert.equal(a.c.session.connections, 1, 'the session went on: no reconnect, no resume');
  assert.equal(a.c.state, 'joined');
  await Promise.all([a.c.leave(), b.c.leave()]);
});

test('a POST whose answer a proxy lost (502 after the server took it) is sent again and delivered once', async () => {
  /** @type {string[]} */
  const numbers = [];
  let lost = 0;
  /** @type {typeof fetch} */
  const lossy = async (input, init = {}) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith('/send')) return response;
    numbers.push(/** @type {Record<string, string>} */ (init.headers ?? {})[SEQ_HEADER]);
    // The server took it; the proxy in front says it could not reach it, twice.
    if (lost < 2 && carries(/** @type {Uint8Array} */ (init.body), 'only once')) {
      lost += 1;
      await response.arrayBuffer();
      return new Response('bad gateway', { status: 502, headers: { 'retry-after': '0' } });
    }
    return response;
  };
  const a = client({ room: 'sdk-lost-post', name: 'ada', transport: 'poll', fetch: lossy });
  const b = client({ room: 'sdk-lost-post', name: 'bob', role: 'Spectator' });
  await until(() => a.c.session.isJoined() && b.c.session.isJoined(), 'both joined');
  // Three lines in one POST: taken three times they would be nine, past the server's burst
  // of five, and ada would be kicked.
  for (const text of ['only once', 'only once', 'only once']) assert.ok(a.c.chat(text));
  await until(() => lost === 2, 'the answers lost');
  assert.ok(a.c.chat('after'));
  await until(() => chatLines(b.events, 'after') === 1, 'the line after');
  assert.equal(chatLines(b.events, 'only once'), 3, 'each line once');
  assert.deepEqual(a.events.filter((e) => e.type === 'error'), [], 'not kicked');
  assert.equal(a.c.state, 'joined');
  // Numbered 1, 2, ...: the POST sent again kept its number.
  const at = numbers.findIndex((n, i) => i > 0 && n === numbers[i - 1]);
  assert.ok(at > 0 && numbers[at + 1] === numbers[at], `sent three times with one number: ${numbers}`);
  assert.deepEqual(numbers.filter((n, i) => i === 0 || n !== numbers[i - 1]).map(Number),
    Array.from({ length: new Set(numbers).size }, (_, i) => i + 1), `numbered in order: ${numbers}`);
  await Promise.all([a.c.leave(), b.c.leave()]);
});

test('against a server that takes no numbers, nothing is numbered, and a poll whose answer is lost resumes the seat', async () => {
  // A server older than the numbers: its opening answer lacks `Tickwire-Numbering` (taken off
  // here). It would refuse the numbers' headers in a CORS preflight, and otherwise ignore them:
  // a poll sent again would take the next records. So the SDK sends no numbers, and a poll
  // that failed ends the socket; the session resumes its seat in a new one, as before.
  /** @type {Record<string, string>[]} */
  const sent = [];
  let lost = 0;
  /** @type {typeof fetch} */
  const old = async (input, init = {}) => {
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    sent.push(headers);
    const response = await fetch(input, init);
    if (!headers[SESSION_HEADER]) {
      // An opening: as an older server answers it.
      const head = new Headers(response.headers);
      head.delete(NUMBERING_HEADER);
      return new Response(response.body, { status: response.status, headers: head });
    }
    if (String(input).endsWith('/send') || !response.ok) return response;
    const body = new Uint8Array(await response.arrayBuffer());
    if (lost === 0 && carries(body, 'lost poll')) {
      lost += 1;
      throw new TypeError('fetch failed: the answer was lost on its way');
    }
    return new Response(body, { status: response.status, headers: response.headers });
  };
  const a = client({ room: 'sdk-old-server', name: 'ada', transport: 'poll', fetch: old });
  const b = client({ room: 'sdk-old-server', name: 'bob', role: 'Spectator' });
  await until(() => a.c.session.isJoined() && b.c.session.isJoined(), 'both joined');
  const first = a.events.find((e) => e.type === 'welcome').welcome;
  assert.ok(a.c.chat('lost poll'));
  await until(() => lost === 1, 'the poll answer with the line lost');
  const resumed = await until(() => a.events.filter((e) => e.type === 'welcome')[1]?.welcome, 'a second Welcome');
  assert.equal(resumed.resumed, true, 'the seat resumed in a new session');
  assert.equal(resumed.playerId, first.playerId);
  assert.equal(chatLines(b.events, 'lost poll'), 1, 'the line went out once');
  assert.ok(sent.length > 4, `${sent.length} requests`);
  for (const headers of sent) {
    assert.ok(!(POLL_HEADER in headers) && !(SEQ_HEADER in headers), `no numbers: ${JSON.stringify(headers)}`);
  }
  await Promise.all([a.c.leave(), b.c.leave()]);
});
