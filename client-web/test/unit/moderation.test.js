// The dashboard's moderation calls: each route asked as the README's Moderation section says
// (paths relative to the page, the token as a Bearer header, JSON bodies), the server's own
// words carried into errors, and the answers told in an operator's words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  ModerationApi, ModerationError, ROUND_TRIP_BAD_MS, ROUND_TRIP_WARN_MS, TOKEN_KEY, actionKey, actionText, actorText, banOutcome, banTarget, formatLeft, kickOutcome, logScope,
  muteOutcome, roundTripCell, seatLabel, tokenStore, lateInputsCell, LATE_INPUTS_WARN_PCT, LATE_INPUTS_BAD_PCT,
} from '../../js/moderation.js';
import { ModerationPanel } from '../../js/dashboard-moderation.js';

/** @typedef {import('../../js/moderation.js').Seat} Seat */

/**
 * A fetch that records each request and answers with `status` and `body` (JSON unless a string).
 * @param {number} status @param {unknown} body
 */
function answering(status, body) {
  /** @type {{ url: string, method: string, headers: Record<string, string>, body: unknown }[]} */
  const asked = [];
  /** @type {typeof fetch} */
  const fetchImpl = async (url, init = {}) => {
    asked.push({
      url: String(url),
      method: init.method ?? 'GET',
      headers: /** @type {Record<string, string>} */ (init.headers),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(text, { status });
  };
  return { asked, fetchImpl };
}

/** @type {Seat} */
const ALICE = { room: 'arena-1', player: 3, name: 'Alice', role: 'player', score: 7, address: '127.0.0.2', connected: true, round_trip_ms: 42.3, late_inputs_pct: 0, input_buffer_ms: 0 };

test('every route is asked relative to the page, with the token as Bearer and JSON bodies', async () => {
  const { asked, fetchImpl } = answering(200, { seats: [ALICE], bans: [] });
  const api = new ModerationApi('s3cret', fetchImpl);
  assert.deepEqual(await api.seats('arena 1'), [ALICE]);
  await api.kick('arena-1', { player: 3, reason: 'spam', ban: '1h' });
  await api.kick('arena-1', { player: 4 });
  await api.mute('arena-1', 3, '10m');
  await api.unmute('arena-1', 3);
  assert.deepEqual(await api.bans(), []);
  await api.ban({ kind: 'name', target: 'griefer', length: '7d', reason: 'griefing' });
  await api.lift({ address: '2001:db8::/64', reason: '', until_unix_ms: 0, remaining_secs: 1 });
  await api.lift({ name: 'a b&c', reason: '', until_unix_ms: 0, remaining_secs: 1 });
  await api.log(20);
  assert.deepEqual(asked.map((r) => [r.method, r.url, r.body]), [
    // Relative: a reverse proxy's path prefix stays in front.
    ['GET', 'rooms/arena%201/seats', undefined],
    ['POST', 'rooms/arena-1/kick', { player: 3, reason: 'spam', ban: '1h' }],
    ['POST', 'rooms/arena-1/kick', { player: 4, reason: '' }],
    ['POST', 'rooms/arena-1/mute', { player: 3, for: '10m' }],
    ['DELETE', 'rooms/arena-1/mute?player=3', undefined],
    ['GET', 'bans', undefined],
    ['POST', 'bans', { name: 'griefer', for: '7d', reason: 'griefing' }],
    ['DELETE', 'bans?address=2001%3Adb8%3A%3A%2F64', undefined],
    ['DELETE', 'bans?name=a%20b%26c', undefined],
    ['GET', 'moderation/log?limit=20', undefined],
  ]);
  for (const request of asked) {
    assert.equal(request.headers.authorization, 'Bearer s3cret');
    assert.equal(request.headers['content-type'], request.body === undefined ? undefined : 'application/json');
  }
});

test('a refusal carries the server\'s own line and status; 401 alone means the token', async () => {
  const wrong = new ModerationApi('x', answering(401, 'wrong admin token: Authorization: Bearer takes the server\'s --admin-token\n').fetchImpl);
  const refused = await wrong.bans().catch((e) => e);
  assert.ok(refused instanceof ModerationError);
  assert.equal(refused.status, 401);
  assert.equal(refused.refusedToken, true);
  assert.equal(refused.message, 'wrong admin token: Authorization: Bearer takes the server\'s --admin-token');
  const gone = new ModerationApi('x', answering(404, 'no seat 9 in room arena-1 (GET /rooms/arena-1/seats lists them)\n').fetchImpl);
  const missing = await gone.kick('arena-1', { player: 9 }).catch((e) => e);
  assert.equal(missing.status, 404);
  assert.equal(missing.refusedToken, false);
  assert.match(missing.message, /^no seat 9 in room arena-1/);
  const bare = await new ModerationApi('x', answering(502, '').fetchImpl).bans().catch((e) => e);
  assert.equal(bare.message, 'HTTP 502', 'a body-less refusal still says something');
});

test('no answer is an error of its own that says the action may have happened', async () => {
  /** @type {typeof fetch} */
  const down = async () => { throw new TypeError('Failed to fetch'); };
  const error = await new ModerationApi('x', down).kick('arena-1', { player: 3 }).catch((e) => e);
  assert.equal(error.status, 0);
  assert.match(error.message, /did not answer \(TypeError: Failed to fetch\); it may still have acted/);
  /** @type {typeof fetch} */
  const silent = (_url, init) => new Promise((_resolve, reject) => {
    init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
  });
  const late = await new ModerationApi('x', silent, 20).bans().catch((e) => e);
  assert.equal(late.status, 0);
  assert.equal(late.message, 'the server did not answer (no answer in 0.02 s)', 'a read has nothing to look again at');
});

test('a 200 that is not the server\'s JSON (a proxy\'s login page) is an error that says so', async () => {
  const error = await new ModerationApi('x', answering(200, '<html>Sign in</html>').fetchImpl).bans().catch((e) => e);
  assert.ok(error instanceof ModerationError);
  assert.equal(error.message, 'the answer to GET bans was not the server\'s JSON: is something in between?');
});

test('time left reads as a person says it, rounded up', () => {
  assert.deepEqual([0, 0.2, 1, 59, 60, 61, 3540, 3541, 3599, 3600, 3601, 5400, 86_340, 86_341, 86_399, 86_400, 90_000, 7 * 86_400].map(formatLeft), [
    '0 s', '1 s', '1 s', '59 s', '1 min', '2 min', '59 min', '1 h', '1 h', '1 h', '1 h 1 min', '1 h 30 min', '23 h 59 min', '1 d', '1 d', '1 d', '1 d 1 h', '7 d',
  ]);
});

test('outcomes name who, where, for how long, and keep what went only partly right apart', () => {
  assert.equal(seatLabel({ ...ALICE, name: '' }), 'someone without a name (seat 3)');
  const plain = kickOutcome({ removed: ALICE, bans: [] });
  assert.deepEqual(plain, { text: 'Removed Alice (seat 3) from arena-1.', warning: '' });
  const banned = kickOutcome({
    removed: ALICE,
    bans: [{ address: '127.0.0.2', reason: 'spam', until_unix_ms: 0, remaining_secs: 3600 }, { name: 'alice', reason: 'spam', until_unix_ms: 0, remaining_secs: 3600 }],
    also_removed: [{ ...ALICE, room: 'duel', player: 1 }],
    unanswered: ['busy'],
    fleet_error: 'banned on this node only, for a few seconds: the directory is down',
  });
  assert.equal(banned.text, 'Removed Alice (seat 3) from arena-1. Banned 127.0.0.2 and alice for 1 h. The ban also removed Alice (seat 1) in duel.');
  assert.match(banned.warning, /did not answer .*: busy\. banned on this node only/);
  const ban = banOutcome({ ban: { name: 'griefer', reason: '', until_unix_ms: 0, remaining_secs: 600 }, removed: [], unanswered: [] });
  assert.deepEqual(ban, { text: 'Banned name griefer for 10 min. Nobody seated on this node was covered.', warning: '' });
  const covered = banOutcome({ ban: { address: '127.0.0.2', reason: '', until_unix_ms: 0, remaining_secs: 60 }, removed: [ALICE], unanswered: [] });
  assert.equal(covered.text, 'Banned address 127.0.0.2 for 1 min. Removed Alice (seat 3) in arena-1.');
  assert.match(muteOutcome({ ...ALICE, muted_secs: 300 }).text, /^Muted Alice \(seat 3\) for 5 min: .* not told/);
  assert.equal(muteOutcome(ALICE).text, 'Alice (seat 3) may chat again.');
  assert.deepEqual(banTarget({ address: '::/64', reason: '', until_unix_ms: 0, remaining_secs: 1 }), ['address', '::/64']);
});

test('a seat\'s round trip reads in whole ms, to a tenth below 10 ms, marked from where a game feels slow', () => {
  const cells = [null, 0, 4.2, 9.9, 10, 42.3, 149.4, 149.6, 180, 249.4, 250, 1234.5].map(roundTripCell);
  assert.deepEqual(cells.map((c) => c.text), ['–', '0.0 ms', '4.2 ms', '9.9 ms', '10 ms', '42 ms', '149 ms', '150 ms', '180 ms', '249 ms', '250 ms', '1235 ms']);
  assert.deepEqual(cells.map((c) => c.className), ['', '', '', '', '', '', '', 'warn', 'warn', 'warn', 'bad', 'bad']);
});

test('a seat\'s late inputs read in whole percent, with the buffer\'s wait, marked from a tick a second', () => {
  const cells = [[null, null], [null, 33.3], [0, 0], [0, 0.4], [0, 33.3], [2.4, 0], [3.1, 0], [4.4, 66.7], [6.3, 0], [100, 0]]
    .map(([pct, ms]) => lateInputsCell(pct, ms));
  assert.deepEqual(cells.map((c) => c.text), ['–', '–', '0%', '0%', '0% · +33 ms', '2%', '3%', '4% · +67 ms', '6%', '100%']);
  assert.deepEqual(cells.map((c) => c.className), ['', '', '', '', '', '', 'warn', 'warn', 'bad', 'bad']);
});

test('a seat\'s row has a cell under each of the seats table\'s headings: its round trip under "round trip"', async () => {
  const html = await readFile(new URL('../../dashboard.html', import.meta.url), 'utf8');
  const head = /<table class="seats">\s*<thead>([\s\S]*?)<\/thead>/.exec(html)?.[1] ?? '';
  const headings = [...head.matchAll(/<th\b([^>]*)>([^<]*)<\/th>/g)].map((m) => ({ title: m[1], text: m[2] }));
  const column = headings.findIndex((h) => h.text === 'round trip');
  assert.ok(column >= 0, `the headings: ${headings.map((h) => h.text).join(', ')}`);
  // The heading says where the marks start, as the cells mark them.
  assert.match(headings[column].title, new RegExp(`from ${ROUND_TRIP_WARN_MS} ms.* from ${ROUND_TRIP_BAD_MS} ms`));
  const panel = new ModerationPanel('on', () => {});
  /** @param {Seat} seat */
  const row = (seat) => {
    const cells = panel.seatCells(seat);
    assert.equal(cells.length, headings.length, 'a cell for each heading');
    return cells;
  };
  assert.deepEqual(row(ALICE)[column], { text: '42 ms', className: '' });
  assert.equal(row(ALICE)[headings.findIndex((h) => h.text === 'score')], '7');
  assert.deepEqual(row({ ...ALICE, round_trip_ms: 180 })[column], { text: '180 ms', className: 'warn' });
  assert.deepEqual(row({ ...ALICE, round_trip_ms: 312.5 })[column], { text: '313 ms', className: 'bad' });
  // Away (or not yet sampled): no round trip, shown as a missing score is.
  const away = row({ ...ALICE, connected: false, score: null, round_trip_ms: null });
  assert.deepEqual(away[column], { text: '–', className: '' });
  // Its late inputs, under theirs, the heading saying where the marks start.
  const late = headings.findIndex((h) => h.text === 'late inputs');
  assert.ok(late >= 0, `the headings: ${headings.map((h) => h.text).join(', ')}`);
  assert.match(headings[late].title, new RegExp(`from ${LATE_INPUTS_WARN_PCT}%.* from ${LATE_INPUTS_BAD_PCT}%`));
  assert.deepEqual(row(ALICE)[late], { text: '0%', className: '' });
  assert.deepEqual(row({ ...ALICE, late_inputs_pct: 9.4, input_buffer_ms: 33.3 })[late], { text: '9% · +33 ms', className: 'bad' });
  assert.deepEqual(row({ ...ALICE, role: 'spectator', late_inputs_pct: null, input_buffer_ms: null })[late], { text: '–', className: '' });
  assert.equal(away[headings.findIndex((h) => h.text === 'score')], '–');
  assert.equal(away[headings.findIndex((h) => h.text === 'link')], 'away');
});

test('the token is kept in the tab\'s storage, and in the page alone where storage is refused', () => {
  /** @type {Map<string, string>} */
  const kept = new Map();
  const storage = {
    getItem: (/** @type {string} */ k) => kept.get(k) ?? null,
    setItem: (/** @type {string} */ k, /** @type {string} */ v) => { kept.set(k, v); },
    removeItem: (/** @type {string} */ k) => { kept.delete(k); },
  };
  const store = tokenStore(storage);
  assert.equal(store.load(), null);
  store.save('t0ken');
  assert.equal(kept.get(TOKEN_KEY), 't0ken');
  assert.equal(tokenStore(storage).load(), 't0ken', 'a reload finds it');
  store.forget();
  assert.equal(store.load(), null);
  assert.equal(kept.size, 0);
  const refusing = {
    getItem: () => { throw new Error('SecurityError'); },
    setItem: () => { throw new Error('SecurityError'); },
    removeItem: () => { throw new Error('SecurityError'); },
  };
  const memory = tokenStore(refusing);
  memory.save('t0ken');
  assert.equal(memory.load(), 't0ken');
  memory.forget();
  assert.equal(memory.load(), null);
  const none = tokenStore(null);
  none.save('t');
  assert.equal(none.load(), 't');
});

test('each action of the log reads as a sentence', () => {
  const at = { seq: 1, at_unix_ms: 0, operator: 'alice', from: '127.0.0.1' };
  const seat = { ...at, room: 'arena-1', target: 'Ada (seat 3)', address: '203.0.113.9' };
  assert.deepEqual([
    actionText({ ...seat, action: 'remove', reason: 'spam' }),
    actionText({ ...seat, action: 'remove and ban', reason: 'spam', secs: 3600 }),
    actionText({ ...seat, action: 'mute', secs: 600 }),
    actionText({ ...seat, action: 'unmute' }),
    actionText({ ...at, action: 'ban', target: '203.0.113.0/24', reason: 'bot farm', secs: 86_400 }),
    actionText({ ...at, action: 'lift', target: 'griefer' }),
  ], [
    'removed Ada (seat 3) from arena-1 (203.0.113.9): “spam”',
    'removed and banned Ada (seat 3) from arena-1 (203.0.113.9) for 1 h: “spam”',
    'muted Ada (seat 3) in arena-1 for 10 min',
    'unmuted Ada (seat 3) in arena-1',
    'banned 203.0.113.0/24 for 1 d: “bot farm”',
    'lifted the ban of griefer',
  ]);
});

test('the log says whose actions it lists, and keys a fleet\'s rows apart', async () => {
  /** @type {import('../../js/moderation.js').ActionLog} */
  const fleet = { actions: [], scope: 'fleet' };
  assert.deepEqual(await new ModerationApi('t', answering(200, fleet).fetchImpl).log(5), { ...fleet, warning: undefined });
  /** @type {import('../../js/moderation.js').ActionLog} */
  const away = { actions: [], scope: 'node', warning: "the fleet's moderation log did not answer (redis: refused): this node's actions only" };
  assert.deepEqual(await new ModerationApi('t', answering(200, away).fetchImpl).log(5), away);
  // A server from before the fleet's log answers its own node's, without a scope.
  assert.deepEqual(await new ModerationApi('t', answering(200, { actions: [] }).fetchImpl).log(5), { actions: [], scope: 'node', warning: undefined });

  assert.deepEqual(logScope(fleet), { scope: "(every node's, from the fleet's log)", note: '' });
  assert.deepEqual(logScope(away), { scope: "(this node's; its log keeps them all)", note: away.warning });
  assert.deepEqual(logScope({ actions: [], scope: 'node' }).note, '');

  /** @type {import('../../js/moderation.js').ActionRecord} */
  const at = { seq: 4, at_unix_ms: 0, operator: 'alice', from: '10.0.0.9', action: 'ban', target: 'griefer' };
  assert.equal(actorText(at), 'alice (10.0.0.9)');
  assert.equal(actorText({ ...at, node: 'node-b' }), 'alice (10.0.0.9) on node-b');
  // Two nodes both number an action 4: the fleet's log tells them apart; a node's own
  // actions not in it yet, by node.
  const keys = [
    { ...at, node: 'node-a', id: '1765000000000-0' },
    { ...at, node: 'node-b', id: '1765000000001-0' },
    { ...at, node: 'node-c' },
    at,
  ].map(actionKey);
  assert.deepEqual(keys, ['1765000000000-0', '1765000000001-0', 'node-c#4', '#4']);
});
