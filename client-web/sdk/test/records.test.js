// The HTTP fallback's records (PROTOCOL.md 1.1) on exact bytes, and the transport choice of
// `auto`, without a network.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Record, RecordReader, encodeRecord, encodeClose, decodeClose, DecodeError, fallbackFor, encodeClientMessage, decodeClientMessage, HttpSocket, SESSION_HEADER } from '../index.js';
import { POLL_HEADER, SEQ_HEADER, NUMBERING_HEADER, REFUSED_POLLS } from '../src/http.js';
import { MAX_SERVER_MESSAGE_SIZE } from '../src/constants.js';
import { until } from '../../test/support/server.js';

/** @param {RequestInit | undefined} init @param {string} name */
const header = (init, name) => /** @type {Record<string, string>} */ (init?.headers ?? {})[name];

/** The head of an answer that opens session `s1` on a server that takes numbered polls and POSTs. */
const NUMBERED = { [SESSION_HEADER]: 's1', [NUMBERING_HEADER]: '1' };

/** @typedef {(init: RequestInit | undefined) => Response | Promise<Response>} Answer */

/**
 * A fallback server as `fetch`, without a network: the request without headers opens session
 * `s1` (taking numbered polls and POSTs when `numbered`), a POST is answered by `onSend` (204
 * without it), a poll by `onPoll` (without it, polls wait for ever).
 * @param {{ numbered?: boolean, onSend?: Answer, onPoll?: Answer }} [options]
 * @returns {typeof globalThis.fetch}
 */
function fakeFallback({ numbered = false, onSend, onPoll } = {}) {
  return async (input, init) => {
    if (String(input).endsWith('/send')) return onSend ? onSend(init) : new Response(null, { status: 204 });
    if (!init?.headers) return new Response(Uint8Array.of(0x89, 0), { headers: numbered ? NUMBERED : { [SESSION_HEADER]: 's1' } });
    return onPoll ? onPoll(init) : new Promise(() => {}); // polls wait
  };
}

test('records are RFC 6455 frames without a mask: the bytes of PROTOCOL.md', () => {
  // The `ping` vector (04 2a) as a record.
  const ping = encodeClientMessage({ type: 'Ping', nonce: 42 });
  assert.deepEqual([...encodeRecord(Record.MESSAGE, ping)], [0x82, ping.length, ...ping]);
  const long = encodeRecord(Record.MESSAGE, new Uint8Array(200).fill(7));
  assert.deepEqual([...long.subarray(0, 4)], [0x82, 126, 0, 200]);
  assert.equal(long.length, 204);
  assert.deepEqual([...encodeClose(1000, 'bye')], [0x88, 5, 0x03, 0xe8, 0x62, 0x79, 0x65]);
  assert.deepEqual(decodeClose(new Uint8Array([0x03, 0xf0, 0x73, 0x6c, 0x6f, 0x77])), { code: 1008, reason: 'slow' });
  assert.deepEqual(decodeClose(new Uint8Array()), { code: 1005, reason: '' });
  // The reason's bytes as sent, a leading byte order mark too (as a WebSocket close's reason).
  assert.deepEqual(decodeClose(new Uint8Array([0x03, 0xe8, 0xef, 0xbb, 0xbf, 0x68, 0x69])), { code: 1000, reason: '\uFEFFhi' });
  const cut = encodeClose(1000, 'é'.repeat(80));
  assert.ok(cut.length <= 2 + 125, 'a close reason is cut to 123 bytes');
});

test('a reader takes records out of pieces of any size', () => {
  const stream = new Uint8Array([
    0x89, 0x00, // heartbeat
    0x82, 0x02, 0x04, 0x2a, // a message
    0x82, 126, 0x00, 0x80, ...new Array(128).fill(9), // a 128-byte message, 16-bit length
    0x88, 0x02, 0x03, 0xe8, // close 1000
  ]);
  for (const size of [1, 2, 3, 7, stream.length]) {
    const reader = new RecordReader();
    /** @type {{ type: number, length: number }[]} */
    const got = [];
    for (let at = 0; at < stream.length; at += size) {
      reader.push(stream.subarray(at, at + size));
      for (let r = reader.next(); r; r = reader.next()) got.push({ type: r.type, length: r.payload.length });
    }
    assert.deepEqual(got, [
      { type: Record.HEARTBEAT, length: 0 }, { type: Record.MESSAGE, length: 2 },
      { type: Record.MESSAGE, length: 128 }, { type: Record.CLOSE, length: 2 },
    ], `in pieces of ${size}`);
    assert.equal(reader.pending, 0);
  }
});

/**
 * Runs `work` and counts the bytes typed arrays copied meanwhile (`set`, `slice`,
 * `copyWithin`): deterministic, unlike its time.
 * @param {() => void} work
 */
function bytesCopied(work) {
  const proto = /** @type {any} */ (Object.getPrototypeOf(Uint8Array.prototype));
  const { set, slice, copyWithin } = proto;
  let copied = 0;
  /** @this {Uint8Array} @param {ArrayLike<number>} source @param {number} [offset] */
  proto.set = function (source, offset) {
    copied += source.length;
    return set.call(this, source, offset);
  };
  /** @this {Uint8Array} @param {number} [start] @param {number} [end] */
  proto.slice = function (start, end) {
    const out = slice.call(this, start, end);
    copied += out.length;
    return out;
  };
  /** @this {Uint8Array} @param {number} target @param {number} start @param {number} [end] */
  proto.copyWithin = function (target, start, end) {
    const stop = end === undefined ? this.length : Math.min(end, this.length);
    copied += Math.max(0, stop - start);
    return copyWithin.call(this, target, start, end);
  };
  try {
    work();
  } finally {
    Object.assign(proto, { set, slice, copyWithin });
  }
  return copied;
}

test('a record of the largest size, a byte per chunk, is read whole and each byte copied once at most', () => {
  // 64 KiB: past a 16-bit length, so with the 64-bit one. Pushed a byte at a time, a reader
  // that joined what it held on every push copied 2 GiB.
  const size = MAX_SERVER_MESSAGE_SIZE;
  const payload = Uint8Array.from({ length: size }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
  const head = [0x82, 127, 0, 0, 0, 0, 0, size >> 16, (size >> 8) & 0xff, size & 0xff];
  const stream = new Uint8Array(2 + head.length + size + 4);
  stream.set([0x89, 0x00], 0); // heartbeat
  stream.set(head, 2);
  stream.set(payload, 2 + head.length);
  stream.set([0x82, 0x02, 0x04, 0x2a], 2 + head.length + size); // a message after it
  const reader = new RecordReader();
  /** @type {import('../src/records.js').ParsedRecord[]} */
  const got = [];
  const copied = bytesCopied(() => {
    for (let at = 0; at < stream.length; at++) {
      reader.push(stream.subarray(at, at + 1));
      for (let r = reader.next(); r; r = reader.next()) got.push(r);
    }
  });
  assert.deepEqual(got.map((r) => [r.type, r.payload.length]), [[Record.HEARTBEAT, 0], [Record.MESSAGE, size], [Record.MESSAGE, 2]]);
  assert.deepEqual(got[1].payload, payload);
  assert.deepEqual([...got[2].payload], [0x04, 0x2a]);
  assert.equal(reader.pending, 0);
  assert.ok(copied <= stream.length, `${copied} bytes copied to read ${stream.length}`);
});

test('a reader\'s buffered bytes read as one array, and what it returned stays as it was', () => {
  const reader = new RecordReader();
  for (const piece of [[0x82], [0x03, 1], [2, 3, 0x82, 0x02], [4]]) reader.push(Uint8Array.from(piece));
  assert.deepEqual([...reader.buffered], [0x82, 0x03, 1, 2, 3, 0x82, 0x02, 4]);
  const first = reader.next();
  assert.deepEqual(first && [...first.payload], [1, 2, 3]);
  assert.equal(reader.next(), null);
  assert.deepEqual([...reader.buffered], [0x82, 0x02, 4]);
  reader.push(Uint8Array.of(5, 0x89));
  const second = reader.next();
  assert.deepEqual(second && [...second.payload], [4, 5]);
  assert.deepEqual(first && [...first.payload], [1, 2, 3], 'a record read earlier is not written over');
  assert.equal(reader.pending, 1);
  reader.buffered = Uint8Array.of(0x89, 0);
  assert.deepEqual(reader.next(), { type: Record.HEARTBEAT, payload: new Uint8Array(0) });
  assert.equal(reader.pending, 0);
});

test('records no server sends are errors', () => {
  for (const bad of [[0x81, 0], [0x82, 0x81, 1, 2, 3, 4, 0], [0x02, 0], [0x8a, 0], [0x82, 127, 0, 0, 0, 0, 0, 2, 0, 0]]) {
    const reader = new RecordReader();
    reader.push(new Uint8Array(bad));
    assert.throws(() => reader.next(), DecodeError, `${bad}`);
  }
  assert.throws(() => decodeClose(new Uint8Array([3])), DecodeError);
  assert.throws(() => decodeClose(new Uint8Array([3, 0xe8, 0xff])), DecodeError);
});

test('the fallback lives beside the WebSocket, join token and all', () => {
  assert.deepEqual(fallbackFor('ws://127.0.0.1:8080/ws'), { base: 'http://127.0.0.1:8080/fallback', query: '' });
  assert.deepEqual(fallbackFor('wss://play.example.com/game/ws?token=a.b'), { base: 'https://play.example.com/game/fallback', query: '?token=a.b' });
});

test('a record no server sends fails the fallback socket as a WebSocket fails: 1006, which the session retries', async () => {
  for (const [body, why] of /** @type {[Uint8Array, RegExp][]} */ ([
    [Uint8Array.of(0x81, 1, 0x41), /malformed record: .*unknown record type 0x81/],
    [Uint8Array.of(0x88, 3, 0x03, 0xe8, 0xff), /malformed close record: .*not UTF-8/],
  ])) {
    /** @type {typeof globalThis.fetch} */
    const serve = async () => new Response(/** @type {Uint8Array<ArrayBuffer>} */ (body), { headers: { [SESSION_HEADER]: 's1' } });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    /** @type {import('../src/http.js').HttpCloseEvent} */
    const closed = await new Promise((resolve) => { socket.onclose = resolve; });
    assert.equal(closed.code, 1006);
    assert.equal(closed.wasClean, false);
    assert.match(closed.reason, why);
  }
});

test('a close does not wait out a long Retry-After, and the socket ended leaves no timer behind', { timeout: 10000 }, async () => {
  /** @type {Uint8Array[]} */
  const posted = [];
  const serve = fakeFallback({
    numbered: true,
    onSend: (init) => {
      posted.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      // A proxy in front asks for 20 s; then the server takes everything.
      return posted.length === 1
        ? new Response('busy', { status: 503, headers: { 'retry-after': '20' } })
        : new Response(null, { status: 204 });
    },
  });
  // The close timeout is long: the close must go out after its Retry-After is cut short, not
  // at the end of the 20 s (the socket would have failed by then).
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, closeTimeoutMs: 15000 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  socket.send(encodeClientMessage({ type: 'Ping', nonce: 7 }));
  await until(() => posted.length === 1 && !socket.flushQueued, 'the refused POST');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(socket.posting, true, 'waiting out the Retry-After');
  socket.close(1000, 'leaving');
  // Not 20 s later: the POST again, then the close record.
  /** @type {number[]} */
  let types = [];
  await until(() => {
    const records = new RecordReader();
    for (const body of posted.slice(1)) records.push(body);
    types = [];
    for (let r = records.next(); r; r = records.next()) types.push(r.type);
    return types.includes(Record.CLOSE);
  }, 'the close record', 10000);
  assert.deepEqual(types, [Record.MESSAGE, Record.CLOSE], 'the Ping sent again, then the close record');

  // A socket that ends while a POST waits out a Retry-After stops waiting: no timer of its
  // keeps a Node process alive for up to 30 s.
  posted.length = 0;
  const ended = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  await new Promise((resolve) => { ended.onopen = () => resolve(undefined); });
  ended.send(encodeClientMessage({ type: 'Ping', nonce: 8 }));
  await until(() => posted.length === 1, 'the refused POST');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(ended.posting, true);
  ended.fail(1006, 'gone');
  // Well before the 20 s the Retry-After asked for.
  await until(() => !ended.posting, 'the wait ended with the socket', 10000);
});

test('a POST refused without ending the session (429, 408, 5xx) is sent again as it was, with its number', async () => {
  for (const status of [429, 503, 408, 502, 504]) {
    /** @type {Uint8Array[]} */
    const posted = [];
    /** @type {string[]} */
    const numbers = [];
    const serve = fakeFallback({
      numbered: true,
      onSend: (init) => {
        posted.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
        numbers.push(header(init, SEQ_HEADER));
        return posted.length === 1
          ? new Response('not now', { status, headers: { 'retry-after': '1' } })
          : new Response(null, { status: 204 });
      },
    });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 7 }));
    await until(() => posted.length >= 1, 'the first POST');
    // While the refused POST waits, a game goes on sending inputs and acks: the inputs go out
    // in the POST after the one sent again, each meant for a tick of its own, and of the acks
    // only the newest. The one sent again goes as it was, with its number: a 502 or 504 may
    // come from a proxy that lost only the server's answer, and the server takes a number once.
    const input = (/** @type {number} */ seq, buttons = 0) => encodeClientMessage({ type: 'Input', seq, x: 0, y: 0, buttons });
    for (const [seq, buttons] of [[1, 0x01], [2, 0x02], [3, 0]]) socket.send(input(seq, buttons));
    for (const tick of [10, 11]) socket.send(encodeClientMessage({ type: 'Ack', tick }));
    await until(() => posted.length >= 3, `HTTP ${status}: three POSTs`, 5000);
    assert.equal(posted.length, 3, `HTTP ${status}: sent again, then the next`);
    assert.deepEqual([...posted[1]], [...posted[0]], `HTTP ${status}: the same records`);
    const next = [...encodeRecord(Record.MESSAGE, input(1, 0x01)), ...encodeRecord(Record.MESSAGE, input(2, 0x02)),
      ...encodeRecord(Record.MESSAGE, input(3)),
      ...encodeRecord(Record.MESSAGE, encodeClientMessage({ type: 'Ack', tick: 11 }))];
    assert.deepEqual([...posted[2]], next, `HTTP ${status}: then the inputs and the newest ack`);
    assert.deepEqual(numbers, ['1', '1', '2'], `HTTP ${status}: numbered, the same number again`);
    assert.equal(socket.readyState, 1, `HTTP ${status}: the session lives on`);
    socket.onclose = () => {};
    socket.fail(1000, 'test over');
  }
});

test('a backlog of inputs a refused POST held back goes out as the newest 64, a tap among the rest kept', async () => {
  /** @type {Uint8Array[]} */
  const posted = [];
  const serve = fakeFallback({
    onSend: (init) => {
      posted.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      return posted.length === 1
        ? new Response('not now', { status: 503, headers: { 'retry-after': '1' } })
        : new Response(null, { status: 204 });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  const input = (/** @type {number} */ seq, buttons = 0) => encodeClientMessage({ type: 'Input', seq, x: 0, y: 0, buttons });
  socket.send(input(1));
  await until(() => posted.length >= 1, 'the first POST');
  // 200 inputs while it waits (a controller, which the session does not hold back); one tap.
  for (let seq = 2; seq <= 201; seq++) socket.send(input(seq, seq === 50 ? 0x02 : 0));
  await until(() => posted.length >= 3, 'the POST sent again, then the backlog', 5000);
  const backlog = [];
  for (let seq = 138; seq <= 201; seq++) backlog.push(...encodeRecord(Record.MESSAGE, input(seq, seq === 138 ? 0x02 : 0)));
  assert.deepEqual([...posted[2]], backlog, 'the newest 64, the first holding the tap');
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('a POST refused with 410 waits for the close record that says why, and POSTs nothing more', async () => {
  let posts = 0;
  /** @type {(body: Uint8Array) => void} */
  let answerPoll = () => {};
  const serve = fakeFallback({
    onSend: () => {
      posts += 1;
      return new Response('the session is closed', { status: 410 });
    },
    onPoll: () => new Promise((resolve) => { answerPoll = (body) => resolve(new Response(/** @type {Uint8Array<ArrayBuffer>} */ (body))); }),
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  /** @type {import('../src/http.js').HttpCloseEvent[]} */
  const closes = [];
  socket.onclose = (e) => closes.push(e);
  const input = (/** @type {number} */ seq) => encodeClientMessage({ type: 'Input', seq, x: 0, y: 0, buttons: 0 });
  socket.send(input(1));
  await until(() => posts >= 1, 'the first POST');
  await new Promise((r) => setTimeout(r, 20));
  for (const seq of [2, 3]) socket.send(input(seq));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(posts, 1, 'nothing more is POSTed to a session that reads no more');
  assert.deepEqual(closes, [], 'the close record is still to come');
  // The kick's close record, as the server sends it downstream.
  const kicked = encodeRecord(Record.CLOSE, Uint8Array.of(0x03, 0xf0, ...new TextEncoder().encode('too fast')));
  answerPoll(kicked);
  await until(() => closes.length > 0, 'the close');
  assert.deepEqual(closes, [{ code: 1008, reason: 'too fast', wasClean: true }]);
});

test('a close queued behind chat lines the pace holds goes after them, as on a WebSocket', async () => {
  /** @type {string[][]} */
  const posts = [];
  const serve = fakeFallback({
    onSend: (init) => {
      const reader = new RecordReader();
      reader.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      const kinds = [];
      for (let record = reader.next(); record; record = reader.next()) {
        kinds.push(record.type === Record.CLOSE ? 'close' : decodeClientMessage(record.payload).type);
      }
      posts.push(kinds);
      return new Response(null, { status: 204 });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, chatRate: 20, chatBurst: 1 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  for (const text of ['one', 'two', 'three']) socket.send(encodeClientMessage({ type: 'Chat', text }));
  socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
  socket.close(1000, 'bye');
  await until(() => posts.flat().length >= 5, 'five records POSTed', 3000);
  const order = posts.flat();
  assert.deepEqual(order.filter((k) => k !== 'Ping'), ['Chat', 'Chat', 'Chat', 'close'], JSON.stringify(posts));
  assert.equal(posts[0].includes('Ping'), true, 'other records do not wait for the chat');
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('chat lines queued behind a stalled POST go out no faster than the server takes them', async () => {
  // A fast pace keeps the test short; the server's bucket is simulated with the same rate and
  // one more line of burst, as the session's pace keeps one spare.
  const rate = 20;
  const burst = 5;
  /** @type {{ at: number, lines: string[] }[]} */
  const posts = [];
  /** @type {(r: Response) => void} */
  let releaseFirst = () => {};
  const serve = fakeFallback({
    onSend: (init) => {
      const reader = new RecordReader();
      reader.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      const lines = [];
      for (let record = reader.next(); record; record = reader.next()) {
        const message = decodeClientMessage(record.payload);
        if (message.type === 'Chat') lines.push(message.text);
      }
      posts.push({ at: performance.now(), lines });
      // The first POST stalls, and then is refused as too slow: its lines come again.
      if (posts.length === 1) return new Promise((resolve) => { releaseFirst = resolve; });
      return new Response(null, { status: 204 });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, chatRate: rate, chatBurst: burst - 1 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  const chat = (/** @type {string} */ text) => socket.send(encodeClientMessage({ type: 'Chat', text }));
  chat('line 0');
  await until(() => posts.length >= 1, 'the first POST');
  for (let i = 1; i < 12; i++) chat(`line ${i}`); // typed while the POST stalls
  releaseFirst(new Response('too slow', { status: 408, headers: { 'retry-after': '0' } }));
  await until(() => posts.flatMap((p) => p.lines).length >= 13, 'thirteen lines POSTed', 5000);

  const sent = posts.slice(1).flatMap((p) => p.lines);
  assert.deepEqual(sent, Array.from({ length: 12 }, (_, i) => `line ${i}`), 'every line, once, in order');
  // The server's bucket, at each POST's arrival: full after the stall, refilling at `rate`.
  let tokens = burst;
  let last = posts[1].at;
  for (const post of posts.slice(1)) {
    tokens = Math.min(burst, tokens + ((post.at - last) * rate) / 1000);
    last = post.at;
    tokens -= post.lines.length;
    assert.ok(tokens > -1e-6, `a POST past the server's chat burst: ${JSON.stringify(posts.map((p) => p.lines.length))}`);
  }
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('polls are numbered, and one that fails in transit goes again with its number', async () => {
  /** @type {string[]} */
  const polls = [];
  let failed = 0;
  const serve = fakeFallback({
    numbered: true,
    onPoll: (init) => {
      const number = header(init, POLL_HEADER);
      polls.push(number);
      // Poll 2's first answer is lost on its way (a dropped connection), poll 3's comes from a
      // proxy that lost its connection to the server: each goes again with its number.
      if (number === '2' && failed === 0) {
        failed += 1;
        throw new TypeError('fetch failed');
      }
      if (number === '3' && failed === 1) {
        failed += 1;
        return new Response('bad gateway', { status: 502 });
      }
      if (Number(number) <= 3) return new Response(Uint8Array.of(0x89, 0));
      return new Promise(() => {}); // poll 4 waits
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  /** @type {import('../src/http.js').HttpCloseEvent[]} */
  const closes = [];
  socket.onclose = (e) => closes.push(e);
  await until(() => polls.length >= 6, 'six polls', 5000);
  assert.deepEqual(polls, ['1', '2', '2', '3', '3', '4']);
  assert.deepEqual(closes, [], 'the session lives on');
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('a poll that keeps failing in transit fails the socket, after a few attempts', async () => {
  let polls = 0;
  const serve = fakeFallback({
    numbered: true,
    onPoll: () => {
      polls += 1;
      throw new TypeError('fetch failed');
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  /** @type {import('../src/http.js').HttpCloseEvent} */
  const closed = await new Promise((resolve) => { socket.onclose = resolve; });
  assert.equal(polls, 3);
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /connection lost: fetch failed/);
});

test('a poll refused for now (429, 408) goes again as it was after its Retry-After, numbered or not; only so many times', async () => {
  for (const numbered of [true, false]) {
    /** @type {{ number: string | undefined, at: number }[]} */
    const polls = [];
    const serve = fakeFallback({
      numbered,
      onPoll: (init) => {
        polls.push({ number: header(init, POLL_HEADER), at: performance.now() });
        // A proxy that opens a connection per request meets the server's per-address limit,
        // which turns the poll away before reading it: nothing taken.
        if (polls.length === 1) return new Response('too many new connections from your address', { status: 429, headers: { 'retry-after': '0' } });
        if (polls.length === 2) return new Response('too slow', { status: 408, headers: { 'retry-after': '0' } });
        if (polls.length === 3) return new Response(Uint8Array.of(0x89, 0));
        return new Promise(() => {}); // the next poll waits
      },
    });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    /** @type {import('../src/http.js').HttpCloseEvent[]} */
    const closes = [];
    socket.onclose = (e) => closes.push(e);
    await until(() => polls.length >= 4, 'four polls', 3000);
    assert.deepEqual(polls.map((p) => p.number), numbered ? ['1', '1', '1', '2'] : [undefined, undefined, undefined, undefined]);
    assert.deepEqual(closes, [], 'the session lives on');
    socket.onclose = () => {};
    socket.fail(1000, 'test over');
  }

  // A Retry-After is waited for; a refusal that never lifts ends the socket in the end.
  let refused = 0;
  /** @type {number[]} */
  const at = [];
  const serve = fakeFallback({
    numbered: true,
    onPoll: () => {
      refused += 1;
      at.push(performance.now());
      return new Response('slow down', { status: 429, headers: { 'retry-after': refused === 1 ? '0.1' : '0' } });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  /** @type {import('../src/http.js').HttpCloseEvent} */
  const closed = await new Promise((resolve) => { socket.onclose = resolve; });
  assert.equal(refused, REFUSED_POLLS + 1);
  assert.ok(at[1] - at[0] >= 90, `the Retry-After was waited for: ${at[1] - at[0]} ms`);
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /poll: HTTP 429: slow down/);
});

test('only the request that opens a session carries the query (its join token)', async () => {
  for (const mode of /** @type {const} */ (['poll', 'stream'])) {
    /** @type {string[]} */
    const urls = [];
    /** @type {typeof globalThis.fetch} */
    const serve = async (input, init) => {
      urls.push(String(input));
      if (String(input).endsWith('/send')) return new Response(null, { status: 204 });
      // A stream that stays open, or a poll session.
      const first = mode === 'stream'
        ? new ReadableStream({ start: (c) => c.enqueue(Uint8Array.of(0x89, 0)) })
        : Uint8Array.of(0x89, 0);
      if (!init?.headers) return new Response(first, { headers: { [SESSION_HEADER]: 's1' } });
      if (urls.length < 4) return new Response(Uint8Array.of(0x89, 0));
      return new Promise(() => {});
    };
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', mode, '?token=a.b.c', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
    // Poll: the open, two polls answered at once, the POST, and the poll left waiting.
    const made = mode === 'poll' ? 4 : 2;
    await until(() => urls.length >= made, `${mode}: ${made} requests`, 3000);
    assert.equal(urls[0], `http://127.0.0.1:9/fallback/${mode}?token=a.b.c`, mode);
    for (const url of urls.slice(1)) assert.ok(!url.includes('?') && !url.includes('a.b.c'), `${mode}: ${url}`);
    socket.onclose = () => {};
    socket.fail(1000, 'test over');
  }
});

test('a chat line held back because the POST is full takes its pace token once, when it goes', async () => {
  /** @type {string[][]} */
  const posts = [];
  const serve = fakeFallback({
    onSend: (init) => {
      const reader = new RecordReader();
      reader.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      const kinds = [];
      for (let record = reader.next(); record; record = reader.next()) kinds.push(record.payload[0] === 3 ? 'Chat' : 'big');
      posts.push(kinds);
      return new Response(null, { status: 204 });
    },
  });
  // A clock that stands still: the pace has one token, and never another.
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, chatRate: 1, chatBurst: 1, now: () => 0 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  // 33 records of 256 bytes: 32 fill a POST (8 KiB), the last and the line wait for the next.
  for (let i = 0; i < 33; i++) socket.send(new Uint8Array(252).fill(9));
  socket.send(encodeClientMessage({ type: 'Chat', text: 'hi' }));
  await until(() => posts.length >= 2, 'two POSTs', 3000);
  assert.deepEqual(posts.map((p) => p.length), [32, 2], JSON.stringify(posts));
  assert.deepEqual(posts[1], ['big', 'Chat'], 'the line goes with the next POST: its token was not spent on it while it waited');
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('a chat line in a POST sent again is charged to the pace once', async () => {
  /** @type {string[][]} */
  const posts = [];
  const serve = fakeFallback({
    numbered: true,
    onSend: (init) => {
      const reader = new RecordReader();
      reader.push(new Uint8Array(/** @type {Uint8Array} */ (init?.body)));
      const kinds = [];
      for (let record = reader.next(); record; record = reader.next()) kinds.push(decodeClientMessage(record.payload).type);
      posts.push(kinds);
      return posts.length === 1
        ? new Response('too many', { status: 429, headers: { 'retry-after': '0' } })
        : new Response(null, { status: 204 });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, chatRate: 1, chatBurst: 1, now: () => 0 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  socket.send(encodeClientMessage({ type: 'Chat', text: 'hi' }));
  await until(() => posts.length >= 2, 'two POSTs', 3000);
  assert.deepEqual(posts, [['Chat'], ['Chat']], 'sent again at once: the pace has no second token, and needs none');
  socket.onclose = () => {};
  socket.fail(1000, 'test over');
});

test('a POST that fails in transit goes again as it was, with its number; one out of sequence (409) fails the socket', async () => {
  /** @type {{ seq: string, body: number[] }[]} */
  const posted = [];
  const serve = fakeFallback({
    numbered: true,
    onSend: (init) => {
      posted.push({ seq: header(init, SEQ_HEADER), body: [...new Uint8Array(/** @type {Uint8Array} */ (init?.body))] });
      if (posted.length === 1) throw new TypeError('fetch failed'); // perhaps taken, perhaps not
      if (posted.length === 3) return new Response('POST 2 is out of sequence', { status: 409 });
      return new Response(null, { status: 204 });
    },
  });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  /** @type {import('../src/http.js').HttpCloseEvent} */
  const closed = await new Promise((resolve) => {
    socket.onclose = resolve;
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
    const next = () => (posted.length >= 2 ? socket.send(encodeClientMessage({ type: 'Ping', nonce: 2 })) : setTimeout(next, 5));
    next();
  });
  assert.deepEqual(posted.map((p) => p.seq), ['1', '1', '2']);
  assert.deepEqual(posted[1].body, posted[0].body, 'sent again as it was');
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /send: HTTP 409: POST 2 is out of sequence/);
});

test('a POST answered with a status no tickwire server sends (a proxy\'s 403, 431) fails the socket at once', async () => {
  for (const status of [403, 431]) {
    let posts = 0;
    const serve = fakeFallback({
      numbered: true,
      onSend: () => {
        posts += 1;
        return new Response('not through this proxy', { status });
      },
    });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    /** @type {import('../src/http.js').HttpCloseEvent} */
    const closed = await new Promise((resolve) => {
      socket.onclose = resolve;
      socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
    });
    assert.equal(closed.code, 1006);
    assert.match(closed.reason, new RegExp(`send: HTTP ${status}: not through this proxy`));
    assert.equal(posts, 1, 'nothing more is POSTed into a session that did not take it');
  }
});

test('a 400 with no close record after it (a proxy\'s) ends the socket within the close timeout', { timeout: 10000 }, async () => {
  const serve = fakeFallback({ numbered: true, onSend: () => new Response('Request Header Or Cookie Too Large', { status: 400 }) });
  const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve, closeTimeoutMs: 200 });
  await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
  /** @type {import('../src/http.js').HttpCloseEvent} */
  const closed = await new Promise((resolve) => {
    socket.onclose = resolve;
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
  });
  assert.equal(closed.code, 1006);
  assert.match(closed.reason, /send: HTTP 400: Request Header Or Cookie Too Large/);
});

test('the opening answer decides: numbers only for a server that says it takes them', async () => {
  for (const numbering of [undefined, '1']) {
    /** @type {{ path: string, headers: string[] }[]} */
    const requests = [];
    /** @type {typeof globalThis.fetch} */
    const serve = async (input, init) => {
      requests.push({ path: String(input), headers: Object.keys(/** @type {Record<string, string>} */ (init?.headers ?? {})) });
      if (String(input).endsWith('/send')) return new Response(null, { status: 204 });
      if (requests.length === 1) {
        return new Response(Uint8Array.of(0x89, 0), { headers: numbering ? NUMBERED : { [SESSION_HEADER]: 's1' } });
      }
      if (requests.filter((r) => r.path.endsWith('/poll')).length < 3) return new Response(Uint8Array.of(0x89, 0));
      return new Promise(() => {}); // the third poll waits
    };
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 1 }));
    await until(() => requests.length >= 4, `${numbering}: four requests`, 3000);
    const polls = requests.slice(1).filter((r) => r.path.endsWith('/poll'));
    const posts = requests.filter((r) => r.path.endsWith('/send'));
    assert.equal(polls.length, 2, JSON.stringify(requests));
    assert.equal(posts.length, 1, JSON.stringify(requests));
    // An older server refuses these headers in a CORS preflight (every poll would fail), and
    // otherwise ignores them: a request sent again would take the next records, or be
    // delivered twice.
    for (const r of [...polls, ...posts]) {
      assert.equal(r.headers.includes(POLL_HEADER), numbering !== undefined && r.path.endsWith('/poll'), `${numbering}: ${JSON.stringify(r)}`);
      assert.equal(r.headers.includes(SEQ_HEADER), numbering !== undefined && r.path.endsWith('/send'), `${numbering}: ${JSON.stringify(r)}`);
    }
    assert.equal(socket.numbered, numbering !== undefined);
    socket.onclose = () => {};
    socket.fail(1000, 'test over');
  }
});

test('against a server that takes no numbers, nothing that may have reached it is sent again', async () => {
  // A poll that failed in transit may have taken records; a POST may have been delivered.
  // Sent again unnumbered, the poll would take the next records (those lost for good) and the
  // POST would repeat its chat lines: the socket fails at once, and the session resumes its
  // seat in a new one, as before the numbers existed.
  const cases = [
    { poll: () => { throw new TypeError('fetch failed'); }, reason: /connection lost: fetch failed/, polls: 1, posts: 0 },
    { poll: () => new Response('bad gateway', { status: 502 }), reason: /poll: HTTP 502: bad gateway/, polls: 1, posts: 0 },
    { post: () => { throw new TypeError('fetch failed'); }, reason: /connection lost: fetch failed/, polls: 0, posts: 1 },
    { post: () => new Response('bad gateway', { status: 502 }), reason: /send: HTTP 502: bad gateway/, polls: 0, posts: 1 },
    { post: () => new Response('gateway timeout', { status: 504 }), reason: /send: HTTP 504/, polls: 0, posts: 1 },
  ];
  for (const { poll, post, reason, polls: pollsExpected, posts: postsExpected } of cases) {
    let polls = 0;
    let posts = 0;
    const serve = fakeFallback({
      onSend: () => {
        posts += 1;
        return post ? post() : new Response(null, { status: 204 });
      },
      onPoll: () => {
        polls += 1;
        return poll ? poll() : new Promise(() => {}); // polls wait
      },
    });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    /** @type {import('../src/http.js').HttpCloseEvent} */
    const closed = await new Promise((resolve) => {
      socket.onclose = resolve;
      if (post) socket.send(encodeClientMessage({ type: 'Chat', text: 'once' }));
    });
    await new Promise((r) => setTimeout(r, 3 * 200)); // longer than the numbered retries take
    assert.equal(closed.code, 1006, String(reason));
    assert.match(closed.reason, reason);
    assert.equal(poll ? polls : posts, poll ? pollsExpected : postsExpected, `${reason}: sent once`);
  }
});

test('against a server that takes no numbers, a POST it did not take (429, 408, 503) is sent again', async () => {
  for (const status of [429, 408, 503]) {
    /** @type {{ seq: string | undefined, body: number[] }[]} */
    const posted = [];
    const serve = fakeFallback({
      onSend: (init) => {
        posted.push({ seq: header(init, SEQ_HEADER), body: [...new Uint8Array(/** @type {Uint8Array} */ (init?.body))] });
        return posted.length === 1
          ? new Response('not now', { status, headers: { 'retry-after': '0' } })
          : new Response(null, { status: 204 });
      },
    });
    const socket = new HttpSocket('http://127.0.0.1:9/fallback', 'poll', '', { fetch: serve });
    await new Promise((resolve) => { socket.onopen = () => resolve(undefined); });
    socket.send(encodeClientMessage({ type: 'Ping', nonce: 3 }));
    await until(() => posted.length >= 2, `HTTP ${status}: two POSTs`, 3000);
    assert.deepEqual(posted.map((p) => p.seq), [undefined, undefined], `HTTP ${status}`);
    assert.deepEqual(posted[1].body, posted[0].body, `HTTP ${status}: sent again`);
    assert.equal(socket.readyState, 1, `HTTP ${status}: the session lives on`);
    socket.onclose = () => {};
    socket.fail(1000, 'test over');
  }
});
