// The driver (TickwireClient) on sockets the test plays: a WebSocket, and the HTTP fallback's
// fetch, that say only what the test makes them say. A dead link is one that goes quiet and
// never reports its close; real timers, with timeouts of a few tens of milliseconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TickwireClient, decodeClientMessage, encodeServerMessage, RecordReader, Record, encodeRecord, encodeClose, SESSION_HEADER,
  KickedError, RETRY_BEST_AFTER_MS,
} from '../index.js';

const token = new Uint8Array(16).fill(7);
/** @type {import('../index.js').ServerMessage} */
const welcome = {
  type: 'Welcome', playerId: 3, role: 'Player', room: 'r1', tickRate: 30, world: { width: 1600, height: 1000 },
  viewRadius: 700, entity: 3, resumeToken: token, resumed: false,
};

/**
 * Resolves with `check()` once it is truthy; throws after `ms`.
 * @template T @param {() => T} check @param {string} what @param {number} [ms]
 * @returns {Promise<NonNullable<T>>}
 */
async function until(check, what, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return /** @type {NonNullable<T>} */ (value);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Ends a client however its test went: one that missed what the test waited for would go on
 * pinging and reconnecting, and the test file would never exit.
 * @param {TickwireClient} c
 */
function dispose(c) {
  c.clearUpgradeTimer();
  if (!c.session.isEnded()) c.session.fail(new Error('test over'), c.now());
  c.socket?.close();
  c.drive();
}

/**
 * A close event as the `ws` package makes one: its fields are getters on the prototype, not
 * own properties, so that a copy by spread has none of them.
 */
class WsCloseEvent {
  #code;
  #reason;
  #wasClean;
  /** @param {number} code @param {string} reason @param {boolean} wasClean */
  constructor(code, reason, wasClean) {
    this.#code = code;
    this.#reason = reason;
    this.#wasClean = wasClean;
  }

  get type() { return 'close'; }
  get code() { return this.#code; }
  get reason() { return this.#reason; }
  get wasClean() { return this.#wasClean; }
}

/**
 * A WebSocket class whose sockets open, deliver and close only when the test says so.
 * `undici`: as Node 20's own WebSocket, `close()` on a socket still connecting fires `error`
 * from inside the call, before its readyState leaves 0. `ws`: as the `ws` package, `close()`
 * on a socket still connecting fires, on the next tick, `error` and at once a `close` 1006
 * without a reason (a {@link WsCloseEvent}).
 */
function fakeWebSocket({ undici = false, ws = false } = {}) {
  /** @type {FakeSocket[]} */
  const sockets = [];
  class FakeSocket {
    /** @param {string} url @param {string} protocol */
    constructor(url, protocol) {
      this.url = url;
      this.protocol = protocol;
      this.readyState = 0;
      this.binaryType = 'blob';
      /** @type {import('../index.js').ClientMessage[]} */
      this.sent = [];
      /** @type {{ code?: number, reason?: string } | null} */
      this.closed = null;
      /** @type {any} */ this.onopen = null;
      /** @type {any} */ this.onmessage = null;
      /** @type {any} */ this.onclose = null;
      /** @type {any} */ this.onerror = null;
      sockets.push(this);
    }

    /** @param {Uint8Array} bytes */
    send(bytes) {
      this.sent.push(decodeClientMessage(bytes));
    }

    /** Sends the close frame, and hears nothing back: a dead link. @param {number} [code] @param {string} [reason] */
    close(code, reason) {
      if (this.readyState >= 2) return; // as a WebSocket ignores a second close
      if (undici && this.readyState === 0) {
        this.onerror?.({ type: 'error', message: 'WebSocket was closed before the connection was established' });
      }
      if (ws && this.readyState === 0) {
        process.nextTick(() => this.failLikeWs('WebSocket was closed before the connection was established'));
      }
      this.closed = { code, reason };
      this.readyState = 2;
    }

    open() {
      this.readyState = 1;
      this.onopen?.();
    }

    /**
     * A handshake that failed as Node 20's own WebSocket reports one (refused, 401, 503): an
     * `error` event, no `close` event, and readyState left at 0.
     * @param {string} message
     */
    fail(message) {
      this.onerror?.({ type: 'error', message });
    }

    /**
     * A handshake that failed as the `ws` package reports one: an `error` with its text, then at
     * once (before any microtask) a `close` 1006 with an empty reason.
     * @param {string} message
     */
    failLikeWs(message) {
      this.readyState = 3;
      this.onerror?.({ type: 'error', message });
      this.onclose?.(new WsCloseEvent(1006, '', false));
    }

    /** @param {import('../index.js').ServerMessage} message */
    receive(message) {
      this.onmessage?.({ data: encodeServerMessage(message) });
    }
  }
  return { FakeSocket, sockets };
}

/** A fetch that notes each URL asked for and never answers: an HTTP fallback held up. */
function heldFetch() {
  /** @type {string[]} */
  const fetched = [];
  /** @type {typeof fetch} */
  const fetchSpy = (input) => {
    fetched.push(String(input));
    return new Promise(() => {});
  };
  return { fetched, fetchSpy };
}

test('setUrl renews the join token a reconnect presents, on the WebSocket and the fallback', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws?token=old', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada', room: 'r1',
    upgradeTimeoutMs: 60000, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  sockets[0].open();
  sockets[0].receive(welcome);
  assert.equal(c.state, 'joined');
  assert.throws(() => c.setUrl('not a url'), TypeError);
  c.setUrl('ws://127.0.0.1:9/ws?token=new');
  assert.equal(sockets[0].readyState, 1, 'the open connection is left as it is');
  // The link drops: the reconnect presents the renewed token.
  sockets[0].onclose?.({ code: 1006, reason: '', wasClean: false });
  const second = await until(() => sockets[1], 'the reconnect');
  assert.equal(second.url, 'ws://127.0.0.1:9/ws?token=new');
  // WebSocket fails there: the fallback asks with the renewed token too.
  second.fail('blocked');
  await until(() => fetched.length > 0, 'the fallback');
  assert.match(fetched[0], /\/fallback\/stream\?token=new$/);
});

test('a url function gives every attempt a fresh URL: a reconnect resumes the seat with a new join token', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  let minted = 0;
  const c = new TickwireClient({
    url: async () => `ws://127.0.0.1:9/ws?token=t${++minted}`, WebSocket: FakeSocket, fetch: fetchSpy,
    name: 'ada', room: 'r1', upgradeTimeoutMs: 60000, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  const first = await until(() => sockets[0], 'the first attempt');
  assert.equal(first.url, 'ws://127.0.0.1:9/ws?token=t1');
  first.open();
  first.receive(welcome);
  assert.equal(c.state, 'joined');
  // The link drops: the reconnect asks for a new URL, and resumes with it.
  first.onclose?.({ code: 1006, reason: '', wasClean: false });
  const second = await until(() => sockets[1], 'the reconnect');
  assert.equal(second.url, 'ws://127.0.0.1:9/ws?token=t2');
  second.open();
  assert.deepEqual(second.sent[0].type === 'Hello' && second.sent[0].resume, token, 'the Hello resumes the seat');
  // WebSocket blocked on the next drop: the fallback carries that attempt's token.
  second.onclose?.({ code: 1006, reason: '', wasClean: false });
  const third = await until(() => sockets[2], 'the next reconnect');
  assert.equal(third.url, 'ws://127.0.0.1:9/ws?token=t3');
  third.fail('blocked');
  await until(() => fetched.length > 0, 'the fallback');
  assert.match(fetched[0], /\/fallback\/stream\?token=t3$/);
  assert.equal(minted, 3, 'one URL per attempt, not per transport');
});

test('a url function that fails fails its attempt and the policy retries; one given up on is not used', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  /** @type {((url: string) => void)[]} */
  const pending = [];
  let calls = 0;
  const c = new TickwireClient({
    url: () => {
      calls += 1;
      if (calls === 1) throw new Error('no backend');
      if (calls === 2) return Promise.reject(new Error('401 from the backend'));
      if (calls === 3) return 'ftp://127.0.0.1:9/ws';
      return new Promise((resolve) => pending.push(resolve));
    },
    transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1', connectTimeoutMs: 60,
    reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 5 },
  });
  t.after(() => dispose(c));
  c.connect();
  // A throw, a rejection and a URL that is not a game WebSocket: three failed attempts.
  await until(() => pending.length > 0, 'the fourth attempt');
  assert.equal(calls, 4);
  assert.equal(sockets.length, 0, 'no socket for an attempt without a URL');
  assert.match(c.failures.get('ws') ?? '', /^url: not a ws:\/\/, .* URL: "ftp:/, 'why, for a give-up');
  // The fourth never answers within the connect timeout: given up, its URL comes too late.
  await until(() => calls === 5, 'the fifth attempt');
  pending[0]('ws://127.0.0.1:9/ws?token=late');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sockets.length, 0, 'a late URL opens nothing');
  pending[1]('ws://127.0.0.1:9/ws?token=fresh');
  const socket = await until(() => sockets[0], 'the attempt that got a URL');
  assert.equal(socket.url, 'ws://127.0.0.1:9/ws?token=fresh');
  socket.open();
  socket.receive(welcome);
  assert.equal(c.state, 'joined');
});

test('while a url function is pending, setUrl serves the waiting attempt at once and late answers are dropped; leave() ends at once', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  /** @type {((url: string) => void)[]} */
  const pending = [];
  const c = new TickwireClient({
    url: () => new Promise((resolve) => pending.push(resolve)), transport: 'ws', WebSocket: FakeSocket,
    name: 'ada', room: 'r1', connectTimeoutMs: 60000, closeTimeoutMs: 60000,
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => pending.length === 1, 'the url function');
  // A new function is asked at once for the waiting attempt; then a URL opens it at once.
  c.setUrl(() => new Promise((resolve) => pending.push(resolve)));
  assert.equal(pending.length, 2, 'the new function asked for the attempt that waits');
  c.setUrl('ws://127.0.0.1:9/ws?token=set-by-the-page');
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].url, 'ws://127.0.0.1:9/ws?token=set-by-the-page');
  pending[0]('ws://127.0.0.1:9/ws?token=stale');
  pending[1]('ws://127.0.0.1:9/ws?token=stale-too');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sockets.length, 1, 'the replaced functions\' answers open nothing');
  sockets[0].open();
  sockets[0].receive(welcome);
  assert.equal(c.state, 'joined');
  // A page that leaves while its attempt waits for a URL (here for good).
  const c2 = new TickwireClient({
    url: () => new Promise(() => {}), transport: 'ws', WebSocket: FakeSocket, name: 'bo', room: 'r1',
    connectTimeoutMs: 60000, closeTimeoutMs: 60000,
  });
  t.after(() => dispose(c2));
  c2.connect();
  // Well inside the close timeout: nothing to wait for with no socket.
  const closed = await Promise.race([c2.leave(), new Promise((r) => setTimeout(() => r(null), 3000))]);
  assert.ok(closed, 'leave() resolved without waiting out closeTimeoutMs');
  assert.equal(c2.session.isEnded(), true);
});

test('a joined client whose link dies silently closes it keeping the seat, and resumes on a new socket', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1',
    silenceTimeoutMs: 80, closeTimeoutMs: 50, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  /** @type {string[]} */
  const states = [];
  c.on('state', (e) => states.push(e.state));
  c.connect();
  const first = sockets[0];
  first.open();
  first.receive(welcome);
  assert.equal(c.state, 'joined');
  // Nothing more arrives, and the socket never reports a close: only the silence limit can
  // end the connection, and its close frame says it did.
  await until(() => c.state === 'reconnecting', 'reconnecting');
  assert.deepEqual(first.closed, { code: 4000, reason: 'nothing from the server for 80 ms' });
  // The old socket's close, should it ever come, is no longer heard.
  first.onclose?.({ code: 1006, reason: '', wasClean: false });
  assert.equal(c.state, 'reconnecting', 'the old socket is no longer listened to');
  const second = await until(() => sockets[1], 'a new socket');
  second.open();
  assert.deepEqual(second.sent[0].type === 'Hello' && second.sent[0].resume, token, 'the Hello resumes the seat');
  second.receive({ ...welcome, resumed: true });
  assert.equal(c.state, 'joined');
  assert.deepEqual(states, ['connecting', 'joined', 'reconnecting', 'connecting', 'joined']);
  // Leaving on a link that dies too: the close goes unanswered, and leave() resolves anyway.
  const left = await c.leave();
  assert.deepEqual(second.closed, { code: 1000, reason: 'leaving' });
  assert.equal(left.answered, false);
  assert.equal(c.state, 'closed');
});

test('retryNow opens the next socket at once, not at the end of the backoff', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1',
    reconnect: { initialDelayMs: 60_000, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  sockets[0].open();
  sockets[0].receive(welcome);
  assert.equal(c.retryNow(), false, 'joined: nothing to do');
  sockets[0].onclose?.({ code: 1006, reason: '', wasClean: false });
  assert.equal(c.state, 'reconnecting');
  assert.equal(sockets.length, 1, 'a minute to wait');
  assert.equal(c.retryNow(), true);
  assert.equal(sockets.length, 2, 'a new socket at once');
  sockets[1].open();
  sockets[1].receive({ ...welcome, resumed: true });
  assert.equal(c.state, 'joined');
});

test('a backoff past a timer\'s longest delay waits the longest a timer takes, not a busy loop', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const longest = 2 ** 31 - 1;
  // Jitter may take the delay past the longest timer, which fires at once.
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1',
    reconnect: { initialDelayMs: longest, maxDelayMs: longest, jitter: 1 }, random: () => 1,
  });
  t.after(() => dispose(c));
  /** @type {number[]} */
  const delays = [];
  const setTimeoutBefore = globalThis.setTimeout;
  globalThis.setTimeout = /** @type {any} */ ((/** @type {() => void} */ f, /** @type {number} */ ms) => {
    delays.push(ms);
    return setTimeoutBefore(f, Math.min(ms, 10_000_000));
  });
  t.after(() => { globalThis.setTimeout = setTimeoutBefore; });
  c.connect();
  sockets[0].open();
  sockets[0].receive(welcome);
  sockets[0].onclose?.({ code: 1006, reason: '', wasClean: false });
  assert.equal(c.state, 'reconnecting');
  assert.ok(c.session.reconnectAt !== null && c.session.reconnectAt - c.now() > longest, 'past the longest timer');
  assert.ok(delays.length > 0 && delays.every((ms) => ms <= longest), `${delays}`);
  assert.equal(sockets.length, 1, 'not retried at once');
});

test('a Removed kick ends the client with the operator\'s words, and nothing reconnects, on the WebSocket and the fallback', { timeout: 10000 }, async (t) => {
  const said = 'banned for 9 more minutes: spamming the chat';
  /** What the application heard. @param {TickwireClient} c */
  const heard = (c) => {
    /** @type {Error[]} */
    const errors = [];
    /** @type {string[]} */
    const states = [];
    c.on('error', (e) => errors.push(e.error));
    c.on('state', (e) => states.push(e.state));
    return { errors, states };
  };
  /** What it must have heard, and still, a while later. @param {TickwireClient} c @param {ReturnType<heard>} app */
  const ended = async (c, app) => {
    // Ten times the first retry's delay: a reconnect would have opened by now.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(c.state, 'failed');
    assert.deepEqual(app.states, ['connecting', 'joined', 'failed']);
    assert.equal(app.errors.length, 1);
    const [error] = app.errors;
    assert.ok(error instanceof KickedError, `${error}`);
    assert.equal(error.reason, 'Removed');
    assert.equal(error.serverMessage, said);
    assert.equal(error.code, 1008);
    // Leaving after it has nothing to close, and resolves at once.
    assert.equal((await c.leave()).code, 1008);
  };

  const { FakeSocket, sockets } = fakeWebSocket();
  const ws = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(ws));
  const wsHeard = heard(ws);
  ws.connect();
  sockets[0].open();
  sockets[0].receive(welcome);
  sockets[0].receive({ type: 'Kick', reason: 'Removed', message: said });
  sockets[0].onclose?.({ code: 1008, reason: said, wasClean: true });
  await ended(ws, wsHeard);
  assert.equal(sockets.length, 1, 'no new socket');

  // The HTTP fallback: the Kick and the close come as records of a poll.
  let opens = 0;
  let polls = 0;
  /** @type {typeof fetch} */
  const server = async (input, init = {}) => {
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    const signal = /** @type {AbortSignal} */ (init.signal);
    if (String(input).endsWith('/send')) return new Response(null, { status: 204 });
    if (!headers[SESSION_HEADER]) return new Response(Uint8Array.of(0x89, 0), { headers: { [SESSION_HEADER]: `s${++opens}` } });
    if (++polls === 1) {
      const records = [
        encodeRecord(Record.MESSAGE, encodeServerMessage(welcome)),
        encodeRecord(Record.MESSAGE, encodeServerMessage({ type: 'Kick', reason: 'Removed', message: said })),
        encodeClose(1008, said),
      ];
      return new Response(/** @type {Uint8Array<ArrayBuffer>} */ (Uint8Array.from(records.flatMap((r) => [...r]))));
    }
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
  };
  const poll = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'poll', fetch: server, name: 'ada', room: 'r1',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(poll));
  const pollHeard = heard(poll);
  poll.connect();
  await until(() => poll.state === 'failed', 'the fallback session to end');
  await ended(poll, pollHeard);
  assert.equal(opens, 1, 'no new fallback session');
});

test('a page whose thread was blocked past the silence limit reads the messages queued meanwhile before judging the link', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada', room: 'r1',
    silenceTimeoutMs: 80, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  const socket = sockets[0];
  socket.open();
  socket.receive(welcome);
  // A long script holds the thread past the silence deadline; a message that arrived meanwhile
  // waits in the queue behind the driver's timer, as a browser may run a due timer before a
  // socket's message. (An immediate queued from an immediate runs in the event loop's next
  // turn, after the timers that fell due.)
  await new Promise((resolve) => {
    setImmediate(() => {
      setImmediate(() => {
        socket.receive({ type: 'Event', tick: 40, kind: { type: 'Audience', spectators: 1 } });
        resolve(undefined);
      });
      const until = performance.now() + 1300;
      while (performance.now() < until) { /* the page is busy */ }
    });
  });
  assert.equal(socket.closed, null, 'the link is alive: not abandoned');
  assert.equal(c.state, 'joined');
  // Silence after that is judged as before.
  await until(() => c.state === 'reconnecting', 'reconnecting after real silence');
  assert.deepEqual(socket.closed, { code: 4000, reason: 'nothing from the server for 80 ms' });
});

test('a WebSocket constructor that throws (mixed content, an older Safari\'s CSP) moves on to the fallback, or counts as a failed attempt', { timeout: 10000 }, async (t) => {
  class RefusedWebSocket {
    constructor() {
      throw new DOMException('The operation is insecure.', 'SecurityError');
    }
  }
  const { fetched, fetchSpy } = heldFetch();
  const auto = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: RefusedWebSocket, fetch: fetchSpy, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(auto));
  auto.connect();
  await until(() => fetched.length > 0, 'the HTTP fallback');
  assert.match(fetched[0], /\/fallback\/stream/);
  assert.equal(auto.state, 'connecting');

  // With WebSocket alone, each attempt fails as a refused connection would, and the session
  // gives up after its initial attempts saying why.
  const only = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: RefusedWebSocket, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 2 },
  });
  t.after(() => dispose(only));
  /** @type {unknown[]} */
  const errors = [];
  only.on('error', (e) => errors.push(e.error));
  only.connect();
  await until(() => only.state === 'failed', 'the session to give up');
  const error = /** @type {import('../index.js').UnreachableError} */ (errors[0]);
  assert.equal(error.name, 'UnreachableError');
  assert.equal(error.code, 1006);
  assert.match(error.message, /The operation is insecure/);
});

test('in auto mode, an upgrade held past the connect timeout is followed by the fallback', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  // The upgrade timer is longer than the connect timeout: the session gives up first.
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada',
    upgradeTimeoutMs: 5000, connectTimeoutMs: 40, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => fetched.length > 0, 'an HTTP fallback session');
  assert.equal(sockets.length, 1, 'no second upgrade to the proxy holding the first');
  assert.match(fetched[0], /\/fallback\/stream$/);
});

test('in auto mode, a WebSocket that opens and twice carries no Welcome is followed by the fallback; one that did is resumed on', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  // A middlebox that takes the upgrade and passes nothing on: the socket opens, then silence.
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada',
    joinTimeoutMs: 40, connectTimeoutMs: 40, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  (await until(() => sockets[0], 'the upgrade')).open();
  // Once may be a server too slow to seat the client: WebSocket again.
  (await until(() => sockets[1], 'a second upgrade')).open();
  await until(() => fetched.length > 0, 'an HTTP fallback session');
  assert.equal(sockets.length, 2, 'no third upgrade through the middlebox');
  assert.match(fetched[0], /\/fallback\/stream$/);

  // A WebSocket that carried a Welcome and then went quiet is a dead link, not a middlebox:
  // the resume goes over WebSocket again.
  const { FakeSocket: Welcoming, sockets: welcomed } = fakeWebSocket();
  const { fetched: fetched2, fetchSpy: fetchSpy2 } = heldFetch();
  const d = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: Welcoming, fetch: fetchSpy2, name: 'ada',
    silenceTimeoutMs: 60, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(d));
  d.connect();
  const first = await until(() => welcomed[0], 'the upgrade');
  first.open();
  first.receive(welcome);
  assert.equal(d.state, 'joined');
  await until(() => welcomed.length > 1, 'a second WebSocket');
  assert.equal(fetched2.length, 0, 'no fallback for a link that had worked');
});

test('in auto mode, a session with a seat to resume moves on to the fallback after one silent WebSocket, within the resume grace', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  // A page reloaded behind a middlebox that takes the upgrade and passes nothing on: a second
  // silent open would outlast the server's resume grace, and the seat would be gone.
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada', resumeToken: token,
    joinTimeoutMs: 40, connectTimeoutMs: 40, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  (await until(() => sockets[0], 'the upgrade')).open();
  await until(() => fetched.length > 0, 'an HTTP fallback session');
  assert.equal(sockets.length, 1, 'no second upgrade through the middlebox');
  assert.match(fetched[0], /\/fallback\/stream$/);
});

test('preferTransport starts auto at the transport that worked last; a forced transport overrides it', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada', preferTransport: 'stream',
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => fetched.length > 0, 'an HTTP fallback session');
  assert.match(fetched[0], /\/fallback\/stream$/);
  assert.equal(sockets.length, 0, 'no WebSocket probed first');

  const forced = new TickwireClient({ url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, transport: 'ws', preferTransport: 'poll', name: 'ada' });
  assert.equal(forced.chain[forced.preferred], 'ws');
  assert.throws(() => new TickwireClient({ url: 'ws://127.0.0.1:9/ws', preferTransport: /** @type {any} */ ('smoke'), name: 'ada' }), TypeError);
});

test('attempts keep to the fallback WebSocket failed over to for ten minutes, then try WebSocket first again', { timeout: 10000 }, async (t) => {
  // A clock that runs, and jumps ahead when the test says so.
  let ahead = 0;
  const now = () => performance.now() + ahead;
  // A session whose WebSocket went silent with a seat to resume moved on to the stream...
  const first = fakeWebSocket();
  const firstFetch = heldFetch();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: first.FakeSocket, fetch: firstFetch.fetchSpy, name: 'ada', resumeToken: token,
    joinTimeoutMs: 40, connectTimeoutMs: 40, reconnect: { initialDelayMs: 10, jitter: 0 }, now,
  });
  t.after(() => dispose(c));
  c.connect();
  (await until(() => first.sockets[0], 'the upgrade')).open();
  await until(() => firstFetch.fetched.length > 0, 'an HTTP fallback session');
  assert.equal(c.chain[c.preferred], 'stream');
  assert.ok(now() - c.preferredAt < 1000, 'the move is dated');
  // ...and a round within ten minutes of the move starts there (as a page reloaded with the
  // transport it kept)...
  const kept = fakeWebSocket();
  const keptFetch = heldFetch();
  const within = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: kept.FakeSocket, fetch: keptFetch.fetchSpy, name: 'ada', preferTransport: 'stream', now,
  });
  t.after(() => dispose(within));
  ahead += RETRY_BEST_AFTER_MS - 5000;
  within.connect();
  await until(() => keptFetch.fetched.length > 0, 'the kept transport first');
  assert.equal(kept.sockets.length, 0, 'no WebSocket tried within ten minutes');
  // ...but one bad reconnect does not keep a session off WebSocket for the evening.
  const retried = fakeWebSocket();
  const retriedFetch = heldFetch();
  const later = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: retried.FakeSocket, fetch: retriedFetch.fetchSpy, name: 'ada', preferTransport: 'stream', now,
  });
  t.after(() => dispose(later));
  ahead += RETRY_BEST_AFTER_MS;
  later.connect();
  await until(() => retried.sockets.length > 0, 'WebSocket first again');
  assert.equal(retriedFetch.fetched.length, 0, 'no fallback session before it');
  assert.equal(later.chain[later.preferred], 'ws');
});

test('leave() while the WebSocket is still opening in auto mode tries no fallback, and resolves', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada', upgradeTimeoutMs: 20,
  });
  t.after(() => dispose(c));
  c.connect();
  // A proxy holds the upgrade; the page leaves before the upgrade timer gives up on it.
  const left = c.leave();
  assert.deepEqual(sockets[0].closed, { code: 1000, reason: 'leaving' });
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(fetched, [], 'no HTTP fallback session for a client that left');
  sockets[0].onclose?.({ code: 1006, reason: '', wasClean: false });
  const closed = await left;
  assert.equal(closed.answered, false);
  assert.equal(c.state, 'closed');
});

test('on the HTTP fallback a silent session is given up too, and its requests are aborted', { timeout: 10000 }, async (t) => {
  /** @type {{ session: string, kind: string, signal: AbortSignal }[]} */
  const requests = [];
  let sessions = 0;
  /** @type {typeof fetch} */
  const server = async (input, init = {}) => {
    const url = String(input);
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    const session = url.endsWith('/send') ? headers[SESSION_HEADER] : headers[SESSION_HEADER] ?? `s${++sessions}`;
    const kind = url.endsWith('/send') ? 'send' : headers[SESSION_HEADER] ? 'poll' : 'open';
    const signal = /** @type {AbortSignal} */ (init.signal);
    requests.push({ session, kind, signal });
    const count = requests.filter((r) => r.session === session && r.kind === kind).length;
    // The session opens, the Hello is taken, one poll brings the Welcome; then the link dies:
    // every request hangs until aborted.
    if (kind === 'open') return new Response(Uint8Array.of(0x89, 0), { headers: { [SESSION_HEADER]: session } });
    if (kind === 'send' && count === 1) return new Response(null, { status: 204 });
    if (kind === 'poll' && count === 1 && session === 's1') {
      return new Response(/** @type {Uint8Array<ArrayBuffer>} */ (encodeRecord(Record.MESSAGE, encodeServerMessage(welcome))));
    }
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
  };
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'poll', fetch: server, name: 'ada',
    silenceTimeoutMs: 80, closeTimeoutMs: 50, reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => c.state === 'joined', 'joined over long polling');
  await until(() => c.state === 'reconnecting', 'reconnecting');
  await until(() => requests.some((r) => r.session === 's2'), 'a new fallback session');
  const old = requests.filter((r) => r.session === 's1');
  await until(() => old.every((r) => r.signal.aborted), 'the old session let go of its requests');
  assert.ok(old.some((r) => r.kind === 'poll'));
  await c.leave();
});

test('a close record goes out when a fallback session is given up on a link that still carries POSTs', { timeout: 10000 }, async (t) => {
  /** @type {{ code: number }[]} */
  const closes = [];
  let sessions = 0;
  let polls = 0;
  /** @type {typeof fetch} */
  const server = async (input, init = {}) => {
    const url = String(input);
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {});
    const signal = /** @type {AbortSignal} */ (init.signal);
    if (url.endsWith('/send')) {
      const reader = new RecordReader();
      reader.push(new Uint8Array(/** @type {Uint8Array} */ (init.body)));
      for (let r = reader.next(); r; r = reader.next()) {
        if (r.type === Record.CLOSE) closes.push({ code: (r.payload[0] << 8) | r.payload[1] });
      }
      return new Response(null, { status: 204 });
    }
    if (!headers[SESSION_HEADER]) return new Response(Uint8Array.of(0x89, 0), { headers: { [SESSION_HEADER]: `s${++sessions}` } });
    // Downstream stalls after the Welcome; upstream still works.
    if (++polls === 1) return new Response(/** @type {Uint8Array<ArrayBuffer>} */ (encodeRecord(Record.MESSAGE, encodeServerMessage(welcome))));
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
  };
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'poll', fetch: server, name: 'ada',
    silenceTimeoutMs: 80, closeTimeoutMs: 50, reconnect: { initialDelayMs: 1000, jitter: 0 },
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => c.state === 'reconnecting', 'reconnecting');
  await until(() => closes.length > 0, 'a close record');
  assert.deepEqual(closes, [{ code: 4000 }], 'a code that keeps the seat, not 1000');
  await c.leave();
});

test('a WebSocket that reports a failed handshake with an error and no close (Node 20) ends that attempt at once', { timeout: 10000 }, async (t) => {
  const cause = 'Received network error or non-101 status code.';
  const { FakeSocket, sockets } = fakeWebSocket();
  // A connect timeout longer than the test: only the error can end the attempts.
  const only = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada',
    connectTimeoutMs: 60000, reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 1 },
  });
  t.after(() => dispose(only));
  /** @type {any[]} */
  const errors = [];
  only.on('error', (e) => errors.push(e.error));
  only.connect();
  sockets[0].fail(cause);
  // After the question why, which a server that is down (this port) does not answer.
  await until(() => only.state !== 'connecting', 'the attempt ended with the error, not at the connect timeout');
  assert.equal(only.state, 'reconnecting');
  assert.equal(only.session.attempt, 1);
  // Should the socket still report its close, it is not taken for a second failure.
  sockets[0].onclose?.({ code: 1006, reason: '', wasClean: false });
  assert.equal(only.session.attempt, 1);
  const second = await until(() => sockets[1], 'the retry');
  second.fail(cause);
  await until(() => only.state !== 'connecting', 'the second attempt ended');
  assert.equal(only.state, 'failed');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].name, 'UnreachableError');
  assert.equal(errors[0].code, 1006);
  assert.equal(errors[0].reason, cause, 'the socket\'s own cause, not a bare 1006');

  // In auto, the fallback is tried at once, not after the upgrade timeout.
  const ws2 = fakeWebSocket();
  const { fetched, fetchSpy } = heldFetch();
  const auto = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: ws2.FakeSocket, fetch: fetchSpy, name: 'ada', upgradeTimeoutMs: 60000,
  });
  t.after(() => dispose(auto));
  auto.connect();
  ws2.sockets[0].fail(cause);
  await Promise.resolve();
  assert.equal(fetched.length, 1, 'the HTTP stream opened at once');
  assert.match(fetched[0], /\/fallback\/stream$/);
  assert.equal(auto.state, 'connecting');
});

test('a WebSocket that fires error from inside close() (Node 20) is given up once: an upgrade timeout opens the stream, a leave ends', { timeout: 10000 }, async (t) => {
  // The upgrade timer gives up on the socket: its close fires `error`, which must not count
  // as a second failure (that skipped the stream for the poll, and left the stream open).
  const { FakeSocket, sockets } = fakeWebSocket({ undici: true });
  const { fetched, fetchSpy } = heldFetch();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: FakeSocket, fetch: fetchSpy, name: 'ada', upgradeTimeoutMs: 20,
  });
  t.after(() => dispose(c));
  c.connect();
  await until(() => fetched.length > 0, 'the fallback after the upgrade timeout');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fetched.length, 1, `one fallback session: ${fetched}`);
  assert.match(fetched[0], /\/fallback\/stream$/);
  assert.equal(c.trying, 1);
  assert.equal(c.failures.get('ws'), 'no upgrade within 20 ms');
  assert.equal(sockets[0].closed !== null, true, 'the upgrade given up is closed');

  // A leave while the upgrade is under way: its close fires `error` too, from inside.
  const other = fakeWebSocket({ undici: true });
  const held = heldFetch();
  const d = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: other.FakeSocket, fetch: held.fetchSpy, name: 'ada', upgradeTimeoutMs: 60000,
  });
  t.after(() => dispose(d));
  d.connect();
  const leaving = d.leave();
  // The error the close fired is handled after it, not inside the leave's own close.
  assert.equal(d.state, 'closing');
  const closed = await leaving;
  assert.equal(closed.answered, false);
  assert.equal(d.state, 'closed');
  assert.deepEqual(held.fetched, [], 'no fallback for a client that left');
  assert.equal(other.sockets.length, 1);
});

test('in auto, a client that gives up names each transport\'s failure; a refusal retrying cannot fix ends the join at once', { timeout: 10000 }, async (t) => {
  /** @param {number} status @param {string} text */
  const refusing = (status, text) => {
    /** @type {string[]} */
    const fetched = [];
    /** @type {typeof fetch} */
    const f = async (input) => {
      fetched.push(String(input));
      return new Response(text, { status });
    };
    return { fetched, f };
  };
  const cause = 'Received network error or non-101 status code.';

  // 503: retried, and when the session gives up, every transport's failure is named.
  const busy = refusing(503, 'shutting down');
  const a = fakeWebSocket();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: a.FakeSocket, fetch: busy.f, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 1 },
  });
  t.after(() => dispose(c));
  /** @type {any[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e.error));
  /** @type {any[]} */
  const causes = [];
  c.on('state', (e) => { if (e.state === 'reconnecting') causes.push(e.cause); });
  c.connect();
  a.sockets[0].fail(cause);
  await until(() => a.sockets[1], 'a second attempt, from WebSocket again');
  // The retry's cause says it too, for a "the server is full, retrying" banner.
  assert.equal(causes[0].lastStatus, 503);
  a.sockets[1].fail(cause);
  await until(() => c.state === 'failed', 'given up');
  assert.equal(busy.fetched.length, 4, 'stream and poll on each attempt');
  assert.equal(errors[0].name, 'UnreachableError');
  assert.equal(errors[0].status, undefined);
  assert.equal(errors[0].reason, `ws: ${cause}; stream: HTTP 503: shutting down; poll: HTTP 503: shutting down`);
  // Reached, and refusing for now (full, or here shutting down): a game says so rather than
  // "cannot reach the server".
  assert.equal(errors[0].lastStatus, 503);

  // 401 (a join token): the join ends at its first attempt, saying so.
  const denied = refusing(401, 'the join token has expired');
  const b = fakeWebSocket();
  const d = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws?token=x', WebSocket: b.FakeSocket, fetch: denied.f, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(d));
  /** @type {any[]} */
  const refusals = [];
  d.on('error', (e) => refusals.push(e.error));
  d.connect();
  b.sockets[0].fail(cause);
  await until(() => d.state === 'failed', 'refused');
  assert.equal(denied.fetched.length, 1, 'no long polling, no retry');
  assert.equal(b.sockets.length, 1);
  assert.equal(refusals[0].name, 'UnreachableError');
  assert.equal(refusals[0].status, 401);
  assert.equal(refusals[0].attempts, 1);
  assert.equal(refusals[0].lastStatus, 401);
  // The refusal's own words, not the WebSocket's failure before it: the 401 is why it ended.
  assert.equal(refusals[0].message, 'refused with HTTP 401: the join token has expired', 'each thing once');

  // In auto, a 404 says only that no fallback is served there: retried as any failure.
  const missing = refusing(404, 'not found');
  const e = fakeWebSocket();
  const g = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', WebSocket: e.FakeSocket, fetch: missing.f, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(g));
  g.connect();
  e.sockets[0].fail(cause);
  await until(() => g.state === 'reconnecting', 'retrying');
  assert.equal(g.session.attempt, 1);
});

test('a WebSocket that does not open with no fallback to say why asks the server, and a 401 ends the join with its words', { timeout: 10000 }, async (t) => {
  const cause = 'Received network error or non-101 status code.';
  /**
   * A fetch answering `probe` for the WebSocket's URL (a 401 marked as the server's, as a
   * tickwire server's is, unless `marked` is false) and `fallback` for the fallback's.
   * @param {[number, string]} probe @param {[number, string]} fallback
   */
  const server = (probe, fallback, marked = true) => {
    /** @type {string[]} */
    const fetched = [];
    /** @type {typeof fetch} */
    const f = async (input) => {
      fetched.push(String(input));
      const isFallback = String(input).includes('/fallback/');
      const [status, text] = isFallback ? fallback : probe;
      const headers = !isFallback && status === 401 && marked ? { 'tickwire-refusal': 'join-token' } : undefined;
      return new Response(text, { status, headers });
    };
    return { fetched, f };
  };
  /** @param {import('../index.js').TransportName | 'auto'} transport @param {typeof fetch} f */
  const joining = (transport, f) => {
    const ws = fakeWebSocket();
    const c = new TickwireClient({
      url: 'ws://127.0.0.1:9/ws?token=x#top', transport, WebSocket: ws.FakeSocket, fetch: f, name: 'ada',
      reconnect: { initialDelayMs: 10, jitter: 0 },
    });
    t.after(() => dispose(c));
    /** @type {any[]} */
    const errors = [];
    c.on('error', (e) => errors.push(e.error));
    c.connect();
    ws.sockets[0].fail(cause);
    return { c, ws, errors };
  };

  // WebSocket alone: the plain GET of its URL (the join token kept) says 401, and the join ends
  // at its first attempt with the server's words.
  const expired = server([401, 'the join token has expired'], [404, '']);
  const { c, ws, errors } = joining('ws', expired.f);
  await until(() => c.state === 'failed', 'refused');
  assert.deepEqual(expired.fetched, ['http://127.0.0.1:9/ws?token=x']);
  assert.equal(ws.sockets.length, 1, 'not retried');
  assert.equal(errors[0].name, 'UnreachableError');
  assert.equal(errors[0].status, 401);
  assert.match(errors[0].message, /HTTP 401: the join token has expired/);

  // Behind a proxy that routes /ws alone (the fallback's 404s), `auto` asks too.
  const routed = server([401, 'the join token has expired'], [404, 'not found']);
  const d = joining('auto', routed.f);
  await until(() => d.c.state === 'failed', 'refused');
  assert.equal(routed.fetched.at(-1), 'http://127.0.0.1:9/ws?token=x');
  assert.equal(d.errors[0].status, 401);

  // 426 (the server would take the upgrade), a proxy's 502, or a 401 or 403 without the
  // server's mark (basic auth, a WAF in front) says nothing more: retried.
  for (const [status, marked] of /** @type {[number, boolean][]} */ ([[426, true], [502, true], [401, false], [403, true]])) {
    const other = server([status, 'no'], [404, ''], marked);
    const e = joining('ws', other.f);
    await until(() => e.c.state === 'reconnecting', `retrying after ${status}`);
    assert.equal(other.fetched.length, 1);
  }

  // A new URL while the question is asked: the answer for the old token is dropped, and the
  // attempt goes on with the new one at once.
  /** @type {((r: Response) => void)[]} */
  const pending = [];
  /** @type {string[]} */
  const asked = [];
  /** @type {typeof fetch} */
  const slow = (input) => {
    asked.push(String(input));
    return new Promise((resolve) => pending.push(resolve));
  };
  const h = joining('ws', slow);
  await until(() => pending.length === 1, 'the question');
  h.c.setUrl('ws://127.0.0.1:9/ws?token=fresh');
  assert.equal(h.ws.sockets.length, 2, 'a socket with the new URL, at once');
  assert.equal(h.ws.sockets[1].url, 'ws://127.0.0.1:9/ws?token=fresh');
  pending[0](new Response('the join token has expired', { status: 401, headers: { 'tickwire-refusal': 'join-token' } }));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.c.state, 'connecting', 'the old token\'s 401 ends nothing');
  h.ws.sockets[1].open();
  assert.equal(h.c.state, 'connecting');

  // In a restart window nothing is asked: the server is going away or down, and its answer
  // would be a shutdown's 503 or nothing.
  const r = fakeWebSocket();
  const watched = server([401, 'never asked'], [404, '']);
  const restarting = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws?token=x', transport: 'ws', WebSocket: r.FakeSocket, fetch: watched.f, name: 'ada',
    reconnect: { initialDelayMs: 10, jitter: 0 },
  });
  t.after(() => dispose(restarting));
  restarting.connect();
  r.sockets[0].open();
  r.sockets[0].receive(welcome);
  r.sockets[0].onclose?.({ code: 1001, reason: 'server shutting down', wasClean: true });
  (await until(() => r.sockets[1], 'the retry')).fail(cause);
  await until(() => r.sockets[2], 'the next retry');
  assert.deepEqual(watched.fetched, []);

  // A leave while the question is asked ends at once.
  const l = joining('ws', slow);
  await until(() => pending.length === 2, 'the second question');
  const left = await l.c.leave();
  assert.equal(l.c.state, 'closed');
  assert.equal(left.answered, false);

  // A fallback that answered (503: busy) already said enough: no question.
  const busy = server([401, 'never asked'], [503, 'busy']);
  const g = joining('auto', busy.f);
  await until(() => g.c.state === 'reconnecting', 'retrying');
  assert.equal(busy.fetched.some((u) => u.includes('/ws?')), false, `${busy.fetched}`);
});

test('a WebSocket refused on the way says so: the status the plain GET of its URL got is the failure\'s lastStatus', { timeout: 10000 }, async (t) => {
  // The server's 426 (it would have taken the upgrade), a proxy's 403: reachable over HTTP,
  // WebSocket blocked in between, which a game says rather than "cannot reach the server".
  for (const status of [426, 403]) {
    const ws = fakeWebSocket();
    /** @type {typeof fetch} */
    const f = async () => new Response('no', { status });
    const c = new TickwireClient({
      url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: ws.FakeSocket, fetch: f, name: 'ada',
      reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 1 },
    });
    t.after(() => dispose(c));
    /** @type {any[]} */
    const errors = [];
    c.on('error', (e) => errors.push(e.error));
    c.connect();
    ws.sockets[0].fail('Received network error or non-101 status code.');
    (await until(() => ws.sockets[1], 'the retry')).fail('Received network error or non-101 status code.');
    await until(() => c.state === 'failed', 'given up');
    assert.equal(errors[0].name, 'UnreachableError');
    assert.equal(errors[0].status, undefined, 'not a refusal that ends the join at once');
    assert.equal(errors[0].lastStatus, status);
  }
});

test('a fallback forced by name ends the join at once on a 404 or 403', { timeout: 10000 }, async (t) => {
  for (const status of [400, 403, 404]) {
    /** @type {typeof fetch} */
    const f = async () => new Response('no', { status });
    const c = new TickwireClient({ url: 'ws://127.0.0.1:9/ws', transport: 'stream', fetch: f, name: 'ada', reconnect: { initialDelayMs: 10 } });
    t.after(() => dispose(c));
    c.connect();
    await until(() => c.state !== 'connecting', 'an answer');
    assert.equal(c.state, 'failed', `HTTP ${status}`);
    assert.equal(/** @type {any} */ (c.session.error).status, status);
  }
  // 429 and 408 are passing: retried.
  for (const status of [408, 429]) {
    /** @type {typeof fetch} */
    const f = async () => new Response('later', { status });
    const c = new TickwireClient({ url: 'ws://127.0.0.1:9/ws', transport: 'poll', fetch: f, name: 'ada', reconnect: { initialDelayMs: 1000 } });
    t.after(() => dispose(c));
    c.connect();
    await until(() => c.state !== 'connecting', 'an answer');
    assert.equal(c.state, 'reconnecting', `HTTP ${status}`);
  }
});

test('without a WebSocket implementation, auto leaves ws out of its chain, where an application can see it', (t) => {
  // Node 20 run without --experimental-websocket.
  const global = globalThis.WebSocket;
  // @ts-expect-error: a Node without it
  delete globalThis.WebSocket;
  t.after(() => { globalThis.WebSocket = global; });
  assert.deepEqual(new TickwireClient({ url: 'ws://127.0.0.1:9/ws' }).chain, ['stream', 'poll']);
  assert.deepEqual(new TickwireClient({ url: 'ws://127.0.0.1:9/ws', WebSocket: fakeWebSocket().FakeSocket }).chain, ['ws', 'stream', 'poll']);
  assert.throws(() => new TickwireClient({ url: 'ws://127.0.0.1:9/ws', transport: 'ws' }), /no WebSocket implementation/);
});

test('the constructor refuses a url no WebSocket opens at once, naming url, as setUrl does', () => {
  for (const url of ['localhost:19101/ws', 'ftp://x', 'ws://', '', undefined, 42]) {
    assert.throws(() => new TickwireClient(/** @type {any} */ ({ url, name: 'ada' })),
      (e) => e instanceof TypeError && /^url is not a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/.test(e.message), String(url));
  }
  assert.throws(() => new TickwireClient(/** @type {any} */ (undefined)), (e) => e instanceof TypeError && /^url /.test(e.message));
  // Taken: a WebSocket URL, an http(s) one (read as ws(s)), and a function, checked per attempt.
  for (const url of ['ws://127.0.0.1:9/ws', 'WSS://play.example/ws?token=t', 'http://127.0.0.1:9/ws', () => 'nonsense']) {
    assert.doesNotThrow(() => new TickwireClient({ url, name: 'ada' }), String(url));
  }
  assert.throws(() => new TickwireClient({ url: 'ws://127.0.0.1:9/ws', upgradeTimeoutMs: /** @type {any} */ ('5000') }),
    (e) => e instanceof TypeError && /upgradeTimeoutMs/.test(e.message));
  assert.throws(() => new TickwireClient({ url: 'ws://127.0.0.1:9/ws', streamTimeoutMs: 0 }),
    (e) => e instanceof RangeError && /streamTimeoutMs 0/.test(e.message));
});

test('with the ws package, the error text a close without a reason follows at once is kept as the reason', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket();
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada',
    // The question why gets no answer: the failure stays the socket's own.
    fetch: () => Promise.reject(new Error('down')),
    reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 1 },
  });
  t.after(() => dispose(c));
  /** @type {any[]} */
  const states = [];
  c.on('state', (e) => states.push(e));
  c.connect();
  sockets[0].failLikeWs('Unexpected server response: 403');
  await until(() => c.state === 'reconnecting', 'the first attempt failed');
  assert.equal(states.at(-1).cause.reason, 'Unexpected server response: 403');
  const second = await until(() => sockets[1], 'the retry');
  second.failLikeWs('Unexpected server response: 403');
  await until(() => c.state === 'failed', 'the client gave up');
  const error = /** @type {any} */ (c.session.error);
  assert.equal(error.name, 'UnreachableError');
  assert.equal(error.code, 1006);
  assert.equal(error.reason, 'Unexpected server response: 403', 'not a bare "closed with 1006"');
});

test('leave() called twice resolves both alike, on a socket that ends at once and on one that takes its time', { timeout: 10000 }, async (t) => {
  // The HTTP stream not yet open: its close ends it at once, inside the first leave.
  const { fetchSpy } = heldFetch();
  const c = new TickwireClient({ url: 'ws://127.0.0.1:9/ws', transport: 'stream', fetch: fetchSpy, name: 'ada' });
  t.after(() => dispose(c));
  c.connect();
  const [first, second] = await Promise.all([c.leave(), c.leave()]);
  assert.deepEqual(second, first);
  assert.equal(first.reason, 'closed before the session opened');
  assert.deepEqual(await c.leave(), first, 'and so does a leave after it');

  // A WebSocket that answers the close later: both wait for it.
  const { FakeSocket, sockets } = fakeWebSocket();
  const d = new TickwireClient({ url: 'ws://127.0.0.1:9/ws', transport: 'ws', WebSocket: FakeSocket, name: 'ada' });
  t.after(() => dispose(d));
  d.connect();
  sockets[0].open();
  sockets[0].receive(welcome);
  const leaving = [d.leave(), d.leave()];
  sockets[0].onclose?.({ code: 1000, reason: 'leaving', wasClean: true });
  const [a, b] = await Promise.all(leaving);
  assert.deepEqual(a, { type: 'closed', code: 1000, reason: 'leaving', answered: true });
  assert.deepEqual(b, a);
});

test('with the ws package, a close event whose fields are getters keeps its code: a refused upgrade, an early leave', { timeout: 10000 }, async (t) => {
  const { FakeSocket, sockets } = fakeWebSocket({ ws: true });
  const c = new TickwireClient({
    url: 'ws://127.0.0.1:9/nope', transport: 'ws', WebSocket: FakeSocket, name: 'ada',
    fetch: () => Promise.reject(new Error('down')),
    reconnect: { initialDelayMs: 10, jitter: 0, maxInitialAttempts: 1 },
  });
  t.after(() => dispose(c));
  /** @type {any[]} */
  const errors = [];
  c.on('error', (e) => errors.push(e.error));
  /** @type {any[]} */
  const causes = [];
  c.on('state', (e) => { if (e.cause) causes.push(e.cause); });
  c.connect();
  sockets[0].failLikeWs('Unexpected server response: 404');
  await until(() => c.state === 'reconnecting', 'the first attempt failed');
  assert.equal(causes[0].code, 1006);
  assert.equal(causes[0].message, 'connection closed with 1006: Unexpected server response: 404');
  (await until(() => sockets[1], 'the retry')).failLikeWs('Unexpected server response: 404');
  await until(() => c.state === 'failed', 'the client gave up');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 1006);

  // A leave while the upgrade is under way: ws reports the close it caused on the next tick,
  // with its error's text and no reason of its own; on one transport and on `auto`'s first.
  for (const transport of /** @type {const} */ (['ws', 'auto'])) {
    const other = fakeWebSocket({ ws: true });
    const d = new TickwireClient({
      url: 'ws://127.0.0.1:9/ws', transport, WebSocket: other.FakeSocket, fetch: heldFetch().fetchSpy, name: 'ada',
    });
    t.after(() => dispose(d));
    d.connect();
    const closed = await d.leave();
    assert.equal(closed.code, 1006, transport);
    assert.equal(closed.answered, false, transport);
    assert.match(closed.reason, /WebSocket was closed before the connection was established$/, transport);
    assert.equal(d.state, 'closed');
  }
});
