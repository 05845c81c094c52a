// What the game view says, in Node: failures (lost, unreachable, full or busy, removed by an
// operator, each in a player's words with the details apart), the scoreboard of a page that
// joined mid-round, the intermission message of one that joined in it, and which chat lines stay. On a stand-in page,
// with a client that connects nowhere: scores across a reconnect, the invite link and its
// warning, a hidden page's controls, the bandwidth readings after "Try again", the room it joins
// again after matchmaking, a chat line typed while disconnected, watching a full room, and the
// lobby as the only way on after a removal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena, ConnectionClosedError, KickedError, UnreachableError, VersionMismatchError, PROTOCOL_VERSION, fallbackFor } from '../../sdk/index.js';
import { heldFetch, installPage } from '../support/page.js';

const { document } = installPage();
const {
  describeFailure, refusedForNow, SPECTATOR_RETRY_MS, chatOverflow, ScoreBook, intermissionText, Game, gameSocketUrl, Arrivals, gaveUpRetrying, standingsText, ordinal,
  stallText, keepShipsInside, scoreboardView, seatStore, resumeTokenFor, KEPT_SEAT_MS, transportStore, KEPT_TRANSPORT_MS,
  reconnectedText, RESUME_GRACE_MS, linkCheckMs,
} = await import('../../js/game.js');

test('the game connects next to its page, so under a reverse proxy\'s path prefix too', () => {
  assert.equal(gameSocketUrl('http://arena.test/'), 'ws://arena.test/ws');
  assert.equal(gameSocketUrl('http://arena.test/index.html?room=den'), 'ws://arena.test/ws');
  assert.equal(gameSocketUrl('https://arena.test:8443/tw/?room=den&token=a+b%2F&transport=poll#x'), 'wss://arena.test:8443/tw/ws?token=a%20b%2F');
  assert.equal(gameSocketUrl('http://arena.test/tw/index.html'), 'ws://arena.test/tw/ws');
  // The SDK finds the HTTP fallback next to it.
  assert.deepEqual(fallbackFor(gameSocketUrl('https://arena.test/tw/?token=t')), { base: 'https://arena.test/tw/fallback', query: '?token=t' });
});

test('a first join that never connected says the server could not be reached, the transports\' failures apart', () => {
  const unreachable = describeFailure(new UnreachableError(1006, 'ws: closed with 1006; stream: Failed to fetch; poll: Failed to fetch', 6));
  assert.equal(unreachable.title, 'Can’t reach the server');
  assert.match(unreachable.text, /^Could not reach the server\. It may be down/);
  assert.doesNotMatch(unreachable.text, /1006|fetch/);
  assert.equal(unreachable.details, 'closed with 1006: ws: closed with 1006; stream: Failed to fetch; poll: Failed to fetch');
  // A refusal that ends the join at once says what the server said.
  const expired = describeFailure(new UnreachableError(1006, 'HTTP 401: the join token has expired', 1, 401));
  assert.equal(expired.title, 'Turned away');
  assert.match(expired.text, /^The server turned this page away \(HTTP 401: the join token has expired\)\. An invite link/);
});

test('a WebSocket the server or a proxy answered over plain HTTP says it is blocked, not that the server cannot be reached', () => {
  // Forced onto WebSocket: the SDK's plain GET of /ws got the server's 426 (it would have taken
  // the upgrade) or a proxy's 403.
  const blocked = describeFailure(new UnreachableError(1006, 'Received network error or non-101 status code.', 6, undefined, 426));
  assert.equal(blocked.title, 'WebSocket blocked');
  assert.match(blocked.text, /^WebSocket is blocked on this network: the server is up/);
  assert.match(blocked.details, /asked over plain HTTP: 426$/);
  const refused = describeFailure(new UnreachableError(1006, '', 6, undefined, 403));
  assert.equal(refused.title, 'WebSocket blocked');
  assert.match(refused.text, /^The WebSocket connection was refused \(HTTP 403\)/);
  // With no answer at all, the server may be down.
  assert.equal(describeFailure(new UnreachableError(1006, '', 6)).title, 'Can’t reach the server');
});

test('a connection given up on after its retries reads as lost, with the technical account apart', () => {
  const reason = 'gave up after 20 attempts: connection closed with 1006: ws: closed with 1006; stream: connection lost: Failed to fetch; poll: Failed to fetch';
  const lost = describeFailure(new ConnectionClosedError(1006, reason, false));
  assert.equal(lost.title, 'Connection lost');
  assert.match(lost.text, /^Lost the connection to the server.*Check your Wi-Fi or network, then try again/);
  assert.doesNotMatch(lost.text, /1006|attempts|fetch|code/);
  assert.equal(lost.details, `closed with 1006: ${reason}`);
  // A protocol breakdown is no network trouble: reload.
  const broken = describeFailure(new ConnectionClosedError(1002, 'bad frame', false));
  assert.match(broken.text, /could not understand each other\. Reload the page/);
  assert.equal(broken.details, 'closed with 1002: bad frame');
});

test('a removal by an operator says so, in the server\'s own words', () => {
  const banned = describeFailure(new KickedError('Removed', 'banned for 9 more minutes: spamming the chat', 1008));
  assert.equal(banned.title, 'Removed by an operator');
  assert.equal(banned.text, 'An operator of this server removed you from the room, or banned you for a while. '
    + 'The server said: “banned for 9 more minutes: spamming the chat”');
  assert.equal(banned.details, '');
  assert.match(describeFailure(new KickedError('Removed', 'removed by the operator: spamming the chat', 1008)).text,
    /The server said: “removed by the operator: spamming the chat”$/);
  // The other kicks keep their titles.
  assert.equal(describeFailure(new KickedError('Replaced', 'resumed elsewhere', 1008)).title, 'Disconnected');
  assert.equal(describeFailure(new KickedError('Full', 'room den is full', 1013)).title, 'Room full');
});

test('a server that is full or busy says so, not that it cannot be reached', () => {
  const limit = 'ws: closed with 1006; stream: HTTP 503: server is at its connection limit; poll: HTTP 503: server is at its connection limit';
  const full = describeFailure(new UnreachableError(1006, limit, 6, undefined, 503));
  assert.equal(full.title, 'Server full or restarting');
  assert.match(full.text, /^The server is up, but it cannot take another connection right now: it is full, or restarting.*try again/);
  assert.match(full.details, /HTTP 503: server is at its connection limit/);
  assert.equal(refusedForNow(new ConnectionClosedError(1006, limit, true, 503)), 'full', 'a retry\'s cause too');
  // A room that could not take the join: a plain 1013, retried and given up on.
  const busy = describeFailure(new ConnectionClosedError(1013, 'gave up after 20 attempts: connection closed with 1013: no room could take the join; try again', false));
  assert.equal(busy.title, 'Server busy');
  assert.match(busy.text, /too busy to seat you right now\. Wait a little, then try again/);
  // The per-address cap.
  assert.equal(describeFailure(new UnreachableError(1006, 'ws: closed with 1006; stream: HTTP 429: too many connections', 6, undefined, 429)).title, 'Too many connections');
  // Down, or a proxy's error: unreachable, not full.
  assert.equal(refusedForNow(new UnreachableError(1006, 'ws: closed with 1006; stream: HTTP 502: bad gateway', 6, undefined, 502)), null);
  assert.equal(refusedForNow(new UnreachableError(1006, 'ws: closed with 1006; stream: Failed to fetch', 6)), null);
  assert.equal(refusedForNow(undefined), null);
});

/** @type {Map<number, { name: string, role: string }>} */
const roster = new Map([
  [1, { name: 'ada', role: 'Player' }],
  [2, { name: 'bob', role: 'Player' }],
  [3, { name: 'cy', role: 'Controller' }],
]);

test('a score not seen yet is unknown, not 0, and ranks after the known ones', () => {
  const scores = new ScoreBook();
  scores.set(2, 0); // in view
  scores.set(3, 4); // scored since
  assert.deepEqual(scores.rows(roster), [
    { id: 3, name: 'cy', score: 4 },
    { id: 2, name: 'bob', score: 0 },
    { id: 1, name: 'ada', score: null },
  ]);
  // A new round: everyone starts at 0, seen or not.
  scores.newRound(roster.keys());
  assert.deepEqual(scores.rows(roster).map((r) => r.score), [0, 0, 0]);
  assert.deepEqual(scores.rows(roster).map((r) => r.id), [1, 2, 3]);
  // Spectators have no row.
  const watched = new Map([...roster, [9, { name: 'eve', role: 'Spectator' }]]);
  assert.equal(scores.rows(watched).length, 3);
});

test('an intermission names the winner only of a RoundOver this page saw', () => {
  const nameOf = (/** @type {number} */ id) => ({ 1: 'ada' })[id] ?? `Player ${id}`;
  // Joined during the intermission after round 3: the world's round is the one just over.
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, null, nameOf), ['Round 3 over', 'next round in 6 s', 'Round 3 over.']);
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, { round: 3, winner: 1, score: 9, standings: 'Top 1: ada 9. You came 1st with 9.' }, nameOf),
    ['Round 3 over', 'ada wins with 9 · next round in 6 s', 'Round 3 over. ada wins with 9. Top 1: ada 9. You came 1st with 9.']);
  assert.deepEqual(intermissionText({ round: 3, secondsLeft: 6 }, { round: 3, winner: null, score: 0 }, nameOf),
    ['Round 3 over', 'Nobody scored · next round in 6 s', 'Round 3 over. Nobody scored.']);
  // A RoundOver of an earlier round (this one's was missed while reconnecting) is not this round's.
  assert.deepEqual(intermissionText({ round: 4, secondsLeft: 2 }, { round: 3, winner: 1, score: 9 }, nameOf),
    ['Round 4 over', 'next round in 2 s', 'Round 4 over.']);
  // What is spoken does not count down.
  assert.equal(intermissionText({ round: 3, secondsLeft: 5 }, { round: 3, winner: 1, score: 9 }, nameOf)[2],
    intermissionText({ round: 3, secondsLeft: 6 }, { round: 3, winner: 1, score: 9 }, nameOf)[2]);
});

test('a round\'s standings read as the top three and where this player came, a tie sharing the higher place', () => {
  const rows = [{ id: 4, name: 'cy', score: 12 }, { id: 2, name: 'bo', score: 9 }, { id: 7, name: 'di', score: 9 },
    { id: 5, name: 'ed', score: 3 }, { id: 1, name: 'ada', score: 2 }, { id: 9, name: 'fay', score: null }];
  assert.equal(standingsText(rows, 1), 'Top 3: cy 12, bo 9, di 9. You came 5th with 2.');
  assert.equal(standingsText(rows, 7), 'Top 3: cy 12, bo 9, di 9. You came 2nd with 9.');
  assert.equal(standingsText(rows, undefined), 'Top 3: cy 12, bo 9, di 9.', 'a spectator has no place');
  assert.equal(standingsText(rows.slice(0, 1), 4), 'Top 1: cy 12. You came 1st with 12.');
  assert.equal(standingsText([], 1), '');
  assert.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal), ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st', '111th']);
});

/** What a game uses of its client, connected nowhere. */
class FakeClient {
  constructor() {
    this.session = {
      /** @type {Map<number, { name: string, role: string }>} */
      roster: new Map(), world: null, connections: 0, opened: false,
      /** @type {number | null} the end of a restart window, as the SDK's session keeps it */
      restartUntil: null,
      pendingInputs: [], lastInputApplied: 0, input: { x: 0, y: 0, buttons: 0 }, nextInputAt: null,
      inputPeriodMs: () => 1000 / 30,
      isEnded: () => this.ended, hasShip: () => true, isJoined: () => this.joined,
      /** @type {string} */
      state: 'joined',
      /** @type {string[]} why each connection was given up keeping its seat */
      abandoned: [],
      /** @param {string} reason */
      abandon: (reason) => {
        this.session.abandoned.push(reason);
        this.session.state = 'reconnecting';
      },
    };
    /** Whether the session ended, as the SDK's does after a failure or a leave. */
    this.ended = false;
    this.leaves = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.joined = true;
    /** @type {string[]} */
    this.said = [];
  }

  /** @param {string} [_type] @param {(e: any) => void} [_listener] */
  on(_type, _listener) { return () => {}; }
  connect() {}
  /** Times the page asked to skip the backoff. */
  retries = 0;
  retryNow() {
    this.retries += 1;
    return true;
  }
  leave() {
    this.leaves += 1;
    this.ended = true;
    return Promise.resolve();
  }
  now() { return 0; }
  drive() {}
  /** @param {{ x: number, y: number, buttons: number }} input */
  setInput(input) { this.session.input = input; }
  /** @param {string} text */
  chat(text) {
    if (!this.joined) return false;
    this.said.push(text);
    return true;
  }
}

/**
 * How many clients each test game made, one per join: kept outside the game, which makes its
 * first client in its constructor, before a field of its class would exist.
 * @type {WeakMap<object, number>}
 */
const clientsMade = new WeakMap();
/** @param {object} game */
const madeBy = (game) => clientsMade.get(game) ?? 0;

/** A game on the stand-in page; it keeps its chat lines rather than show them. */
class TestGame extends Game {
  /** @type {HTMLElement[]} the lines as they are now (a burst's folded line changes) */
  chatItems = [];

  chatHolder = document.createElement('ul');

  get chatLines() {
    return this.chatItems.map((line) => line.textContent ?? '');
  }

  createClient() {
    clientsMade.set(this, madeBy(this) + 1);
    return /** @type {any} */ (new FakeClient());
  }

  /** @type {(string | undefined)[]} */
  chatKinds = [];

  /** @param {number | null} from @param {string} text @param {string} [_name] @param {'result' | 'warn'} [kind] */
  addChat(from, text, _name, kind) {
    const line = document.createElement('li');
    line.textContent = text;
    this.chatHolder.append(line);
    this.chatItems.push(line);
    this.chatKinds.push(kind);
    return line;
  }
}

/** A stand-in sessionStorage, its items in view. */
function memoryStorage() {
  /** @type {Map<string, string>} */
  const items = new Map();
  return {
    items,
    getItem: (/** @type {string} */ k) => items.get(k) ?? null,
    setItem: (/** @type {string} */ k, /** @type {string} */ v) => { items.set(k, String(v)); },
    removeItem: (/** @type {string} */ k) => { items.delete(k); },
  };
}

/** A game that ends with the test, listeners and all. @param {import('node:test').TestContext} t */
function newGame(t) {
  const game = new TestGame({ name: 'ada', room: 'den', spectate: false, onExit() {} });
  t.after(() => game.exit());
  return game;
}

/**
 * Notes which of the failure dialog's elements take the focus, for the test's length.
 * @param {import('node:test').TestContext} t @returns {string[]}
 */
function focusLog(t) {
  /** @type {string[]} */
  const focused = [];
  for (const id of ['#failure-retry', '#failure-reload', '#failure-lobby', '#failure-text']) {
    const element = document.querySelector(id);
    const focus = element.focus;
    element.focus = () => focused.push(id);
    t.after(() => { element.focus = focus; });
  }
  return focused;
}

/** @param {number} room @param {{ resumed?: boolean }} [o] @returns {any} */
const welcome = (room, { resumed = false } = {}) => ({
  type: 'Welcome', playerId: 1, role: 'Player', room: `room-${room}`, tickRate: 30, world: { width: 1600, height: 1000 },
  viewRadius: 600, entity: 1, resumeToken: new Uint8Array(16), resumed,
});

/**
 * A world with ships of the given scores in view.
 * @param {number} tick @param {'Playing' | 'Intermission'} phase @param {number} round
 * @param {Record<number, number>} scores by ship (a ship's id is its player's)
 * @returns {any}
 */
const world = (tick, phase, round, scores) => ({
  tick, round: { phase, round, secondsLeft: 30 },
  entities: Object.entries(scores).map(([id, value]) => ({
    id: Number(id), kind: Arena.KIND_SHIP, pos: { x: 0, y: 0 }, vel: { x: 0, y: 0 }, heading: 0, flags: 1, value,
  })),
});

test('a reconnect takes every score from its roster, into a round that started meanwhile, and announces no round start', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the banner's
  const game = newGame(t);
  game.client.session.roster = /** @type {any} */ (roster);
  /** @type {number[]} */
  const bursts = [];
  game.renderer.burst = (_x, _y, count) => { bursts.push(count); };
  game.shipPosition = () => /** @type {any} */ ({ x: 0, y: 0 });
  game.onWelcome(welcome(1));
  game.onSnapshot(world(100, 'Playing', 3, { 1: 2, 2: 5 }), 0);
  game.onSnapshot(world(101, 'Intermission', 3, { 1: 2 }), 0);
  // The connection drops in the intermission; it is back in round 4, where ada scored once and
  // bob, out of view, three times: the SDK passes bob's score on from the resume's roster.
  game.onWelcome(welcome(1, { resumed: true }));
  assert.equal(game.scores.get(2), undefined, 'bob\'s 5 was round 3\'s');
  game.onEvent({ type: 'Scored', player: 2, score: 3 }, undefined, true);
  game.onSnapshot(world(400, 'Playing', 4, { 1: 1 }), 0);
  assert.equal(game.scores.get(1), 1, 'the score in view');
  assert.equal(game.scores.get(2), 3, 'bob\'s round-4 score, from the roster');
  assert.deepEqual(bursts, [], 'catch-up is not a point scored now');
  game.onEvent({ type: 'Scored', player: 2, score: 5 });
  assert.deepEqual(bursts, [2], 'a point scored now bursts');
  // The first tick after a roster repeats a score the roster gave: nothing scored now.
  game.onEvent({ type: 'Scored', player: 2, score: 5 });
  assert.deepEqual(bursts, [2], 'a repeated score does not burst');
  // Scored while the page was hidden: kept, not drawn when it comes back.
  document.hidden = true;
  t.after(() => { document.hidden = false; });
  game.onEvent({ type: 'Scored', player: 2, score: 6 });
  document.hidden = false;
  assert.equal(game.scores.get(2), 6);
  assert.deepEqual(bursts, [2], 'no burst for a hidden page');
  assert.deepEqual(game.chatLines.filter((l) => l.includes('go!')), [], 'no round starts now');
  // A round this page sees start zeroes everyone, then takes the scores in view.
  game.onSnapshot(world(900, 'Intermission', 4, { 1: 6 }), 0);
  game.onSnapshot(world(1000, 'Playing', 5, { 1: 1 }), 0);
  assert.equal(game.scores.get(1), 1, 'ada scored in the round\'s first tick');
  assert.equal(game.scores.get(2), 0);
  assert.deepEqual(game.chatLines.filter((l) => l.includes('go!')), ['Round 5: go!']);
});

test('a fresh seat after a reconnect shows none of the old seat\'s scores', (t) => {
  const game = newGame(t);
  game.client.session.roster = /** @type {any} */ (roster);
  game.onWelcome(welcome(1));
  game.onSnapshot(world(100, 'Playing', 3, { 1: 2, 2: 5 }), 0);
  // The seat expired: a fresh one, in a room whose round has the same number.
  game.onWelcome(welcome(1, { resumed: false }));
  game.onSnapshot(world(50, 'Playing', 3, { 1: 0 }), 0);
  assert.equal(game.scores.get(2), undefined, 'player 2 here is not the old room\'s player 2');
});

test('the invite link is the newest choice\'s, whatever order the replies come in', async (t) => {
  const calls = heldFetch();
  const game = newGame(t);
  const box = document.querySelector('#invite');
  box.hidden = true;
  game.onWelcome(welcome(7));
  document.querySelector('#invite-btn').dispatchEvent(new Event('click'));
  assert.equal(box.hidden, false);
  // Spectating ticked, and unticked again at once.
  const spectate = document.querySelector('#invite-spectate');
  spectate.checked = true;
  spectate.dispatchEvent(new Event('change'));
  spectate.checked = false;
  spectate.dispatchEvent(new Event('change'));
  // Relative to the page, so a reverse proxy may serve the server under a path prefix.
  assert.deepEqual(calls.map((c) => c.url), ['invite?room=room-7', 'invite?room=room-7&spectate=1', 'invite?room=room-7']);
  assert.equal(document.querySelector('#invite-qr').src, 'invite.svg?room=room-7');
  const link = document.querySelector('#invite-link');
  for (const i of [2, 0, 1]) {
    calls[i].reply({ url: `http://192.168.1.5:8080/${calls[i].url.slice('invite'.length)}` });
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(link.href, 'http://192.168.1.5:8080/?room=room-7', 'the QR code\'s link, to play');
  assert.equal(link.textContent, link.href);
});

test('a page hidden while the touch stick and boost are held lets go of them', (t) => {
  const game = newGame(t);
  const zone = document.querySelector('#stick-zone');
  const press = (/** @type {string} */ type, /** @type {number} */ pointerId, clientX = 100) =>
    zone.dispatchEvent(Object.assign(new Event(type, { cancelable: true }), { pointerId, clientX, clientY: 100 }));
  press('pointerdown', 3);
  press('pointermove', 3, 156);
  document.querySelector('#boost-btn').dispatchEvent(new Event('pointerdown', { cancelable: true }));
  assert.deepEqual(game.controls.read(), { x: 1, y: 0, buttons: 1 });
  document.hidden = true;
  document.dispatchEvent(new Event('visibilitychange'));
  document.hidden = false;
  assert.deepEqual(game.client.session.input, { x: 0, y: 0, buttons: 0 });
  // Shown again (the finger was lifted meanwhile, elsewhere): the ship does not fly on.
  assert.deepEqual(game.controls.read(), { x: 0, y: 0, buttons: 0 });
  assert.equal(document.querySelector('#stick-base').hidden, true);
  press('pointerdown', 4);
  press('pointermove', 4, 44);
  assert.equal(game.controls.read().x, -1, 'a new touch takes the stick');
});

test('the bandwidth after "Try again" is the new connection\'s, never negative', (t) => {
  const game = newGame(t);
  const start = game.lastBytes.at;
  game.client.bytesIn = 900_000;
  game.client.bytesOut = 90_000;
  game.updateHud(start + 2000, null);
  assert.equal(document.querySelector('#hud-in').textContent, '450 KB/s');
  game.rejoin();
  game.client.bytesIn = 3000;
  game.client.bytesOut = 1000;
  game.updateHud(start + 3500, null);
  assert.equal(document.querySelector('#hud-fps').textContent, '0', 'the HUD was updated');
  assert.ok(game.rate.in >= 0 && game.rate.out >= 0, `rates ${JSON.stringify(game.rate)}`);
  assert.doesNotMatch(document.querySelector('#hud-in').textContent, /-/);
  assert.doesNotMatch(document.querySelector('#hud-out').textContent, /-/);
});

test('after quick play, "Try again" and a page restored from the cache join the room the Welcome named', (t) => {
  /** @type {(string | null)[]} */
  const asked = [];
  /** Builds each client for real, to see the room it would ask for, then one that connects nowhere. */
  class Matchmade extends TestGame {
    createClient() {
      asked.push(Game.prototype.createClient.call(this).session.room);
      return super.createClient();
    }
  }
  const game = new Matchmade({ name: 'ada', room: null, spectate: false, onExit() {} });
  t.after(() => game.exit());
  game.onWelcome(welcome(4));
  document.querySelector('#failure-retry').dispatchEvent(new Event('click'));
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  assert.deepEqual(asked, [null, 'room-4', 'room-4'], 'matchmaking once, then the room the URL names');
});

test('a burst of joins and leaves shows three lines, then folds the rest into one that counts them', () => {
  const arrivals = new Arrivals();
  assert.deepEqual([0, 100, 200].map((t) => arrivals.note('joined', t)), [null, null, null]);
  assert.equal(arrivals.note('joined', 300), '1 more joined.');
  assert.equal(arrivals.note('left', 400), '1 more joined and 1 more left.');
  assert.equal(arrivals.note('left', 3300), '1 more joined and 2 more left.', 'within 3 s of the last');
  // A quiet spell ends the burst: lines of their own again.
  assert.equal(arrivals.note('joined', 6400), null);
});

test('in the game, a join-and-leave loop fills one chat line, not the whole chat', (t) => {
  const game = newGame(t);
  game.onWelcome(welcome(1));
  const before = game.chatLines.length;
  for (let i = 0; i < 20; i++) {
    game.onEvent(/** @type {any} */ ({ type: 'Joined', player: 100 + i, name: 'BUY GOLD', role: 'Player', score: 0 }), undefined, false);
    game.onEvent(/** @type {any} */ ({ type: 'Left', player: 100 + i }), 'BUY GOLD', false);
  }
  const added = game.chatLines.slice(before);
  assert.deepEqual(added, ['BUY GOLD joined.', 'BUY GOLD left.', 'BUY GOLD joined.', '18 more joined and 19 more left.']);
});

test('joins are announced by the SDK\'s roster flag: the roster is not news, a join before the first snapshot is', (t) => {
  const game = newGame(t);
  game.onWelcome(welcome(1));
  const joined = (/** @type {number} */ player, /** @type {string} */ name, score = 0) => ({ type: 'Joined', player, name, role: 'Player', score });
  // The roster, even once a world is known (a reconnect's roster comes after the old world).
  game.client.session.world = /** @type {any} */ ({ tick: 5 });
  game.onEvent(/** @type {any} */ (joined(2, 'bob', 6)), undefined, true);
  assert.deepEqual(game.chatLines.filter((l) => l.includes('bob')), []);
  assert.equal(game.scores.get(2), 6, 'bob\'s score so far, from the roster, before his ship is in view');
  // Someone joining with this page's first tick, before its first snapshot.
  game.client.session.world = null;
  game.onEvent(/** @type {any} */ (joined(3, 'cy')), undefined, false);
  assert.deepEqual(game.chatLines.filter((l) => l.includes('cy')), ['cy joined.']);
  assert.equal(game.scores.get(3), 0);
  // Back from a reconnect, the SDK names only who came or went meanwhile.
  game.onWelcome(welcome(1, { resumed: true }));
  game.onEvent(/** @type {any} */ (joined(4, 'di')), undefined, true);
  game.onEvent(/** @type {any} */ ({ type: 'Left', player: 2 }), 'bob', true);
  assert.deepEqual(game.chatLines.slice(-2), ['di joined while you were away.', 'bob left while you were away.']);
});

test('a retry turned away by a full server says the server is full, not unreachable', (t) => {
  const game = newGame(t);
  const cause = new ConnectionClosedError(1006, 'ws: closed with 1006; stream: HTTP 503: server is at its connection limit', true, 503);
  game.onState('reconnecting', 2, cause);
  const banner = document.querySelector('#banner');
  assert.equal(banner.hidden, false);
  assert.equal(banner.children.at(-1), 'The server is full or restarting. Retrying (attempt 2)…');
  game.onState('reconnecting', 3, new ConnectionClosedError(1006, 'ws: closed with 1006; stream: Failed to fetch', true));
  assert.equal(banner.children.at(-1), 'Can’t reach the server. Retrying (attempt 3)…');
});

/**
 * A game joined once, with the banner's timer mocked: what the restart tests start from.
 * @param {import('node:test').TestContext} t
 */
function joinedOnce(t) {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the banner's
  const game = newGame(t);
  const banner = document.querySelector('#banner');
  game.onWelcome(welcome(1));
  const session = game.client.session;
  session.connections = 1;
  return { game, banner, session };
}

test('a server that said it restarts is named in the banners until the page is back', (t) => {
  const { game, banner, session } = joinedOnce(t);
  // The SDK opened a restart window: for the kick, and for a proxy's 1012 alike.
  session.restartUntil = 70000;
  game.onState('reconnecting', 1, new ConnectionClosedError(1012, 'service restart', true));
  assert.equal(banner.children.at(-1), 'The server is restarting. Reconnecting…');
  // The attempts while it is down fail as any would: still a restart.
  game.onState('reconnecting', 1, new ConnectionClosedError(1006, '', true));
  assert.equal(banner.children.at(-1), 'The server is restarting. Reconnecting…');
  session.restartUntil = null; // the Welcome ends it
  game.onWelcome(welcome(1));
  assert.deepEqual(banner.children, ['Reconnected: the server restarted, so this is a new ship.']);
  // The next drop is an ordinary one again.
  t.mock.timers.tick(2500);
  game.onState('reconnecting', 2, new ConnectionClosedError(1006, '', true));
  assert.equal(banner.children.at(-1), 'Connection lost. Reconnecting (attempt 2)…');
  game.onWelcome(welcome(1));
  // A seat the server no longer knew: gone with a crash the page cannot tell from its grace
  // running out, so the words blame neither.
  assert.deepEqual(banner.children, ['Reconnected as a new ship: the server no longer had your seat (it may have restarted).']);
});

test('the retries of a restart window leave the banner alone while its words stay the same: a live region rewritten is read again', (t) => {
  const { game, banner, session } = joinedOnce(t);
  session.restartUntil = 70000;
  let writes = 0;
  const write = banner.replaceChildren;
  banner.replaceChildren = (/** @type {any[]} */ ...nodes) => { writes += 1; write(...nodes); };
  t.after(() => { banner.replaceChildren = write; });
  // The SDK tries every 250 ms while the server is down: four failures a second, one text.
  for (let i = 0; i < 8; i += 1) game.onState('reconnecting', 1, new ConnectionClosedError(1006, '', true));
  assert.equal(writes, 1);
  assert.equal(banner.textContent, 'The server is restarting. Reconnecting…');
  assert.equal(banner.children.length, 2, 'the spinner and the words');
  // Back, then an ordinary drop: new words are written, once.
  session.restartUntil = null;
  game.onWelcome(welcome(1));
  writes = 0;
  game.onState('reconnecting', 2, new ConnectionClosedError(1006, '', true));
  game.onState('reconnecting', 2, new ConnectionClosedError(1006, '', true));
  assert.equal(writes, 1);
  assert.equal(banner.textContent, 'Connection lost. Reconnecting (attempt 2)…');
});

test('a chat line typed while disconnected is not lost: it stays in the box, and the player is told', (t) => {
  const game = newGame(t);
  const input = document.querySelector('#chat-input');
  const form = document.querySelector('#chat-form');
  const client = /** @type {FakeClient} */ (/** @type {unknown} */ (game.client));
  client.joined = false;
  input.value = 'gg everyone';
  form.dispatchEvent(new Event('submit', { cancelable: true }));
  assert.equal(input.value, 'gg everyone', 'kept, to send once back');
  assert.deepEqual(client.said, []);
  assert.match(game.chatLines.at(-1) ?? '', /^Not connected: message not sent/);
  assert.equal(game.chatKinds.at(-1), 'warn');
  // Reconnected: Enter, Enter sends it.
  client.joined = true;
  form.dispatchEvent(new Event('submit', { cancelable: true }));
  assert.deepEqual(client.said, ['gg everyone']);
  assert.equal(input.value, '');
});

test('the newest round result stays in the chat however busy it gets, until the next one', () => {
  const lines = (/** @type {string} */ pattern) => [...pattern].map((c) => c === 'R');
  // Eight lines kept: the oldest go.
  assert.deepEqual(chatOverflow(lines('ccccccccc'), 8), [0]);
  // A result scrolled to the top stays; the chatter under it goes.
  assert.deepEqual(chatOverflow(lines('Rcccccccc'), 8), [1]);
  assert.deepEqual(chatOverflow(lines('cRcccccccc'), 8), [0, 2]);
  // Until a newer result: then the older one goes like any line.
  assert.deepEqual(chatOverflow(lines('RccccccR'), 8), []);
  assert.deepEqual(chatOverflow(lines('RcccccccR'), 8), [0]);
  assert.deepEqual(chatOverflow(lines('cccc'), 8), []);
});

test('an invite link only this machine can open comes with a warning, and the --bind to fix it', async (t) => {
  const calls = heldFetch();
  const game = newGame(t);
  game.onWelcome(welcome(3));
  const warning = document.querySelector('#invite-lan-warning');
  warning.hidden = true;
  game.updateInvite();
  calls.at(-1)?.reply({ url: 'http://127.0.0.1:18080/?room=room-3', reachable_from_lan: false });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(warning.hidden, false);
  // Served on a LAN address: no warning.
  game.updateInvite();
  calls.at(-1)?.reply({ url: 'http://192.168.1.5:18080/?room=room-3', reachable_from_lan: true });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(warning.hidden, true);
  const { lanBindFlag } = await import('../../js/dom.js');
  assert.equal(lanBindFlag(new URL('http://127.0.0.1:18080/?room=x')), '--bind 0.0.0.0:18080');
  assert.equal(lanBindFlag(new URL('http://localhost/')), '--bind 0.0.0.0:80');
  assert.equal(lanBindFlag(new URL('https://localhost/')), '--bind 0.0.0.0:443');
});

test('a full room offers to watch it instead, and does, as a spectator of the same room', (t) => {
  /** @type {{ room: string | null, role: string }[]} */
  const asked = [];
  class Recorded extends TestGame {
    createClient() {
      const real = Game.prototype.createClient.call(this);
      asked.push({ room: real.session.room, role: real.session.role });
      return super.createClient();
    }
  }
  const game = new Recorded({ name: 'ada', room: 'den', spectate: false, onExit() {} });
  t.after(() => game.exit());
  game.onFailure(new KickedError('Full', 'room den is full', 1013));
  assert.equal(document.querySelector('#failure-title').textContent, 'Room full');
  const watch = document.querySelector('#failure-watch');
  assert.equal(watch.hidden, false);
  watch.dispatchEvent(new Event('click'));
  assert.deepEqual(asked.at(-1), { room: 'den', role: 'Spectator' });
  assert.equal(game.controls.steers, false, 'nothing to steer');
  // Any other failure has no such way out.
  game.onFailure(new ConnectionClosedError(1006, 'gave up', false));
  assert.equal(watch.hidden, true);
});

test('a page restored from the back/forward cache takes its kept seat back if it was playing, joins again if it was joining; a failure it showed stays', (t) => {
  const storage = memoryStorage();
  const game = new TestGame({ name: 'ada', room: 'den', spectate: false, onExit() {}, seats: seatStore(storage) });
  t.after(() => game.exit());
  game.onWelcome(welcome(1));
  const client = () => /** @type {FakeClient} */ (/** @type {unknown} */ (game.client));
  const hideAndRestore = () => {
    window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  };
  // Playing when hidden: the seat was kept, and the restored page resumes it at once.
  hideAndRestore();
  assert.deepEqual([client().session.abandoned.length, client().leaves], [1, 0], 'the seat kept, not given up');
  assert.equal(client().retries, 1, 'resumed at once');
  assert.equal(madeBy(game), 1, 'the same session');
  assert.equal(storage.items.size, 0, 'the page took its seat back: nothing left for a reload of this tab');
  assert.equal(document.querySelector('#failure').hidden, true);
  // Hidden while saying the room is full: the restored page says it still, and joins nothing
  // (its "Try again" and "Watch instead" are there for the player to choose).
  client().ended = true;
  game.onFailure(new KickedError('Full', 'room is full', 1013));
  hideAndRestore();
  assert.equal(madeBy(game), 1, 'no new client after a failure');
  assert.equal(storage.items.size, 0, 'no seat to keep');
  assert.equal(document.querySelector('#failure').hidden, false);
  assert.equal(document.querySelector('#failure-retry').hidden, false);
  // So does one that gave up on an unreachable server.
  game.onFailure(new UnreachableError(1006, 'ws: closed with 1006', 6));
  hideAndRestore();
  assert.equal(madeBy(game), 1);
  // Until the player tries again: hidden while still joining, it gave that join up, and the
  // restored page joins again.
  document.querySelector('#failure-retry').dispatchEvent(new Event('click'));
  assert.equal(madeBy(game), 2);
  hideAndRestore();
  assert.equal(madeBy(game), 3);
});

test('after a removal by an operator the page goes back to the lobby only when asked: no "Try again", no rejoin on a restore', (t) => {
  let exits = 0;
  const game = new TestGame({ name: 'ada', room: 'den', spectate: false, onExit() { exits += 1; } });
  t.after(() => game.exit());
  game.onWelcome(welcome(1));
  const focused = focusLog(t);
  const error = new KickedError('Removed', 'removed by the operator: spamming the chat', 1008);
  game.client.session.error = error;
  game.onFailure(error);
  assert.equal(document.querySelector('#failure').hidden, false);
  assert.equal(document.querySelector('#failure-title').textContent, 'Removed by an operator');
  assert.match(document.querySelector('#failure-text').textContent, /“removed by the operator: spamming the chat”/);
  assert.equal(game.root.dataset.failure, 'Removed');
  assert.equal(document.querySelector('#failure-retry').hidden, true, 'no way straight back into the room');
  assert.equal(document.querySelector('#failure-watch').hidden, true);
  assert.equal(document.querySelector('#failure-lobby').hidden, false);
  // The message has the focus: an Enter that ends a chat line presses nothing.
  assert.deepEqual(focused, ['#failure-text']);
  // A page restored from the back/forward cache keeps saying so, and joins nothing.
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  assert.equal(madeBy(game), 1, 'no new client');
  assert.equal(document.querySelector('#failure').hidden, false);
  document.querySelector('#failure-lobby').dispatchEvent(new Event('click'));
  assert.equal(exits, 1, 'back to the lobby');
  assert.equal(madeBy(game), 1);
});

test('a failure after a removal offers "Try again" again, with the focus', (t) => {
  const game = newGame(t);
  const focused = focusLog(t);
  game.onFailure(new KickedError('Removed', 'banned for 9 more minutes: spamming the chat', 1008));
  game.onFailure(new KickedError('RateLimited', 'more than 2 chat lines per second', 1008));
  assert.equal(document.querySelector('#failure-retry').hidden, false);
  assert.deepEqual(focused, ['#failure-text', '#failure-retry']);
});

test('another protocol version offers a Reload, with the focus, not a "Try again" with the same page; worded for either way', (t) => {
  const newer = describeFailure(new VersionMismatchError('this server speaks a newer version', 1002, PROTOCOL_VERSION + 1));
  assert.equal(newer.title, 'Game updated');
  assert.equal(newer.text, `The game was updated: the server now speaks protocol version ${PROTOCOL_VERSION + 1}, and this page version ${PROTOCOL_VERSION}. Reload the page to get the new game.`);
  // Rolled back: nothing was updated.
  const older = describeFailure(new VersionMismatchError('', 1002, PROTOCOL_VERSION - 1));
  assert.doesNotMatch(older.text, /updated/);
  assert.match(older.text, new RegExp(`^The server speaks an older protocol version \\(${PROTOCOL_VERSION - 1}\\) than this page \\(${PROTOCOL_VERSION}\\).*Reload the page`));
  assert.doesNotMatch(describeFailure(new VersionMismatchError('', 1002, 0)).text, /updated|older/);

  const game = newGame(t);
  const focused = focusLog(t);
  let reloads = 0;
  const g = /** @type {any} */ (globalThis);
  const location = g.location;
  g.location = Object.assign(new URL(location.href), { reload: () => { reloads += 1; } });
  t.after(() => { g.location = location; });
  game.onFailure(new VersionMismatchError('', 1002, PROTOCOL_VERSION + 1));
  assert.equal(document.querySelector('#failure-title').textContent, 'Game updated');
  assert.equal(document.querySelector('#failure-reload').hidden, false);
  assert.equal(document.querySelector('#failure-retry').hidden, true, 'the same page would be refused again');
  assert.equal(document.querySelector('#failure-lobby').hidden, false);
  assert.deepEqual(focused, ['#failure-reload']);
  document.querySelector('#failure-reload').dispatchEvent(new Event('click'));
  assert.equal(reloads, 1);
  // Any other failure: "Try again" again, and no Reload.
  game.onFailure(new KickedError('RateLimited', 'more than 2 chat lines per second', 1008));
  assert.equal(document.querySelector('#failure-reload').hidden, true);
  assert.equal(document.querySelector('#failure-retry').hidden, false);
});

test('chat names keep their player\'s colour, lightened where needed to read at 4.5:1 on the arena floor', async () => {
  const { legibleOn, contrastRatio } = await import('../../js/dom.js');
  for (const colour of Arena.PALETTE) {
    const shown = legibleOn(colour, '#0a1226');
    assert.ok(contrastRatio(shown, '#0a1226') >= 4.5, `${colour} as ${shown}`);
    if (contrastRatio(colour, '#0a1226') >= 4.5) assert.equal(shown, colour, 'a legible colour is left as it is');
  }
  // The palette's violet, 4.47:1 as it is.
  assert.notEqual(legibleOn('#845ef7', '#0a1226'), '#845ef7');
});

test('back in view, or back online, a reconnect tries at once; a session that gave up while hidden, or in view until the network came back, starts again, once', (t) => {
  const game = new TestGame({ name: 'ada', room: 'den', spectate: false, onExit() {} });
  t.after(() => game.exit());
  t.after(() => { document.hidden = false; });
  game.onWelcome(welcome(1));
  const client = () => /** @type {FakeClient} */ (/** @type {unknown} */ (game.client));
  const setHidden = (/** @type {boolean} */ hidden) => {
    document.hidden = hidden;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  setHidden(true);
  assert.equal(client().retries, 0, 'hidden: nothing to hurry');
  setHidden(false);
  assert.equal(client().retries, 1, 'shown again: the backoff is skipped');
  window.dispatchEvent(new Event('online'));
  assert.equal(client().retries, 2, 'the network is back: so is it');
  // Hidden for over a minute with the network down: the SDK ran out of retries meanwhile.
  setHidden(true);
  game.onFailure(new ConnectionClosedError(1006, 'gave up after 20 attempts: connection closed with 1006', false, undefined, 20));
  assert.equal(madeBy(game), 1);
  setHidden(false);
  assert.equal(madeBy(game), 2, 'back in view, it joins again by itself');
  assert.equal(document.querySelector('#failure').hidden, true, 'without "Connection lost" first');
  // Once: failing again in view, it says so and waits for the player...
  game.onFailure(new ConnectionClosedError(1006, 'gave up after 20 attempts: connection closed with 1006', false, undefined, 20));
  setHidden(true);
  setHidden(false);
  assert.equal(madeBy(game), 2);
  assert.equal(document.querySelector('#failure').hidden, false);
  // ...or for the network: a router back after longer than the retries last, in view.
  window.dispatchEvent(new Event('online'));
  assert.equal(madeBy(game), 3, 'back online, it joins again by itself');
  assert.equal(document.querySelector('#failure').hidden, true);
  window.dispatchEvent(new Event('online'));
  assert.equal(madeBy(game), 3, 'once per failure');
  // An answer is no network trouble: a kick while hidden stays shown, and online again too.
  game.onFailure(new ConnectionClosedError(1006, 'gave up after 20 attempts: connection closed with 1006', false, undefined, 20));
  document.querySelector('#failure-retry').dispatchEvent(new Event('click'));
  assert.equal(madeBy(game), 4);
  setHidden(true);
  game.onFailure(new KickedError('Replaced', 'resumed elsewhere', 1008));
  setHidden(false);
  window.dispatchEvent(new Event('online'));
  assert.equal(madeBy(game), 4);
  assert.equal(document.querySelector('#failure').hidden, false);
});

test('a spectator\'s page that ran out of retries in view joins again by itself, jittered, until it is back; a player\'s waits for the player', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  t.mock.method(Math, 'random', () => 0.5); // the jitter: a quarter of SPECTATOR_RETRY_MS more
  t.after(() => { document.hidden = false; });
  const gaveUp = () => new ConnectionClosedError(1006, 'gave up after 20 attempts: connection closed with 1006', false, undefined, 20);
  const screen = new TestGame({ name: 'hall', room: 'final', spectate: true, onExit() {} });
  t.after(() => screen.exit());
  screen.onWelcome(welcome(1));
  // A server restart that outlasted the SDK's retries, the network up all along.
  screen.onFailure(gaveUp());
  assert.equal(document.querySelector('#failure').hidden, false, 'it says what happened');
  assert.match(document.querySelector('#failure-text').textContent ?? '', /keeps trying by itself\.$/);
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 1.25 - 1);
  assert.equal(madeBy(screen), 1);
  t.mock.timers.tick(1);
  assert.equal(madeBy(screen), 2, 'joined again by itself');
  assert.equal(document.querySelector('#failure').hidden, true);
  // Still down: it gives up again, and again tries later.
  screen.onFailure(gaveUp());
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 1.25);
  assert.equal(madeBy(screen), 3);
  // Hidden when the time comes: it joins as it is shown, as any page that gave up hidden.
  screen.onFailure(gaveUp());
  document.hidden = true;
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 1.25);
  assert.equal(madeBy(screen), 3, 'nothing joined hidden');
  document.hidden = false;
  document.dispatchEvent(new Event('visibilitychange'));
  assert.equal(madeBy(screen), 4);
  // "Try again" before the time, or the network back: one join, and no second from the timer.
  screen.onFailure(gaveUp());
  document.querySelector('#failure-retry').dispatchEvent(new Event('click'));
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 2);
  assert.equal(madeBy(screen), 5);
  // An answer from the server is no outage: a kick waits for whoever is there.
  screen.onFailure(new KickedError('Removed', 'banned for 9 more minutes', 1008));
  assert.doesNotMatch(document.querySelector('#failure-text').textContent ?? '', /keeps trying/);
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 2);
  assert.equal(madeBy(screen), 5);
  // Back to the lobby: nothing joins after it.
  screen.onFailure(gaveUp());
  screen.exit();
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 2);
  assert.equal(madeBy(screen), 5);

  // A player's page does not put an unsteered ship into the round.
  const player = new TestGame({ name: 'ada', room: 'final', spectate: false, onExit() {} });
  t.after(() => player.exit());
  player.onWelcome(welcome(1));
  player.onFailure(gaveUp());
  assert.doesNotMatch(document.querySelector('#failure-text').textContent ?? '', /keeps trying/);
  t.mock.timers.tick(SPECTATOR_RETRY_MS * 10);
  assert.equal(madeBy(player), 1);
  assert.equal(document.querySelector('#failure').hidden, false);
});

test('the arena holds still behind the failure dialog, and draws again after "Try again"', (t) => {
  const game = newGame(t);
  let draws = 0;
  game.renderer.draw = () => { draws += 1; };
  game.frame(0);
  assert.equal(draws, 1);
  game.onFailure(new KickedError('RateLimited', 'more than 2 chat lines per second', 1008));
  game.frame(16);
  game.frame(33);
  assert.equal(draws, 1, 'nothing drawn under the dialog');
  document.querySelector('#failure-retry').dispatchEvent(new Event('click'));
  game.frame(50);
  assert.equal(draws, 2);
});

test('only running out of retries counts as giving up on the network, not an answer from the server', () => {
  assert.equal(gaveUpRetrying(new ConnectionClosedError(1006, 'gave up after 20 attempts: connection closed with 1006', false, undefined, 20)), true);
  assert.equal(gaveUpRetrying(new UnreachableError(1006, 'ws: closed with 1006', 6)), true);
  assert.equal(gaveUpRetrying(new UnreachableError(1006, 'HTTP 401: the join token has expired', 1, 401)), false);
  assert.equal(gaveUpRetrying(new ConnectionClosedError(1008, 'refused: HTTP 401', false)), false);
  assert.equal(gaveUpRetrying(new ConnectionClosedError(1002, 'bad frame', false)), false);
  assert.equal(gaveUpRetrying(new KickedError('Removed', 'banned', 1008)), false);
});

test('the live regions stay in the page and change their text: the banner empties rather than hides, the centre message speaks once per meaning', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the banner's
  const game = newGame(t);
  const banner = document.querySelector('#banner');
  const centre = document.querySelector('#center-msg');
  const spoken = () => centre.children[2]?.textContent;
  game.client.session.roster = /** @type {any} */ (new Map([[1, { name: 'ada', role: 'Player' }], [2, { name: 'bo', role: 'Player' }]]));
  assert.equal(spoken(), 'Joining…');
  assert.equal(centre.hidden, false);
  game.onWelcome(welcome(1));
  game.client.session.connections = 1;
  game.onState('reconnecting', 2, new ConnectionClosedError(1006, '', true));
  assert.equal(banner.hidden, false);
  assert.equal(banner.children.at(-1), 'Connection lost. Reconnecting (attempt 2)…');
  game.onWelcome(welcome(1, { resumed: true }));
  assert.deepEqual(banner.children, ['Reconnected: your ship is back.']);
  t.mock.timers.tick(2500);
  assert.deepEqual(banner.children, [], 'emptied');
  assert.equal(banner.hidden, false, 'still in the page, for the next message to be announced');
  // A round ends: its result and standings are said once, not each second of the countdown.
  game.scores.set(1, 4);
  game.scores.set(2, 7);
  game.onEvent({ type: 'RoundOver', round: 2, winner: 2, score: 7 });
  // The chat shows it, but the centre message alone says it: not twice back to back.
  const result = /** @type {HTMLElement} */ (game.chatItems.at(-1));
  assert.equal(result.textContent, 'Round 2 over: bo wins with 7.');
  assert.equal(result.getAttribute('aria-hidden'), 'true');
  /** @type {string[]} */
  const heard = [];
  const shown = [];
  for (const secondsLeft of [8, 7, 6]) {
    game.updateHud(game.lastHud + 1000, /** @type {any} */ ({ tick: 1, round: { phase: 'Intermission', round: 2, secondsLeft } }));
    heard.push(spoken());
    shown.push(centre.children[1].textContent);
  }
  assert.deepEqual(shown, ['bo wins with 7 · next round in 8 s', 'bo wins with 7 · next round in 7 s', 'bo wins with 7 · next round in 6 s']);
  assert.deepEqual(new Set(heard), new Set(['Round 2 over. bo wins with 7. Top 2: bo 7, ada 4. You came 2nd with 4.']));
  assert.equal(centre.children[0].getAttribute('aria-hidden'), 'true', 'the countdown is not read out');
  assert.equal(centre.children[1].getAttribute('aria-hidden'), 'true');
  game.updateHud(game.lastHud + 1000, /** @type {any} */ ({ tick: 2, round: { phase: 'Playing', round: 3, secondsLeft: 90 } }));
  assert.equal(spoken(), '', 'cleared, and still there');
});

test('a pad\'s Start opens the chat box and closes it, and with a failure showing presses its focused button', (t) => {
  const game = newGame(t);
  const input = document.querySelector('#chat-input');
  const failure = document.querySelector('#failure');
  const retry = document.querySelector('#failure-retry');
  t.after(() => { document.activeElement = null; });
  /** @type {string[]} */
  const did = [];
  input.focus = () => { did.push('chat opened'); document.activeElement = input; };
  input.blur = () => { did.push('chat closed'); document.activeElement = null; };
  t.after(() => { input.focus = () => {}; input.blur = () => {}; });
  game.padStart();
  assert.equal(game.root.classList.contains('chatting'), true, 'shown on a touch layout too');
  game.padStart();
  assert.deepEqual(did, ['chat opened', 'chat closed']);
  // A failure: Start is the dialog's, not the chat's.
  retry.tagName = 'BUTTON';
  retry.click = () => did.push('retry pressed');
  failure.contains = (/** @type {any} */ e) => e === retry;
  t.after(() => { failure.contains = () => false; game.showFailure(false); });
  game.showFailure(true);
  assert.equal(failure.hidden, false, 'the dialog shows');
  document.activeElement = retry;
  game.padStart();
  assert.deepEqual(did, ['chat opened', 'chat closed', 'retry pressed']);
});

test('a downlink quiet past the extrapolation shows in the ping cell, and the round trip comes back after', (t) => {
  assert.equal(stallText(200, 250), null, 'a stall the extrapolation covers goes unmentioned');
  assert.equal(stallText(250, 250), null);
  assert.equal(stallText(840, 250), 'stalled 0.8 s');
  const game = newGame(t);
  game.onWelcome(welcome(1));
  const ping = document.querySelector('#hud-ping');
  game.pingText = '48 ms';
  game.staleMs = 1250;
  game.showStall();
  assert.equal(ping.textContent, 'stalled 1.3 s');
  assert.ok(ping.classList.contains('stalled'));
  game.staleMs = 0;
  game.showStall();
  assert.equal(ping.textContent, '48 ms');
  assert.ok(!ping.classList.contains('stalled'));
  game.staleMs = 900;
  game.showStall();
  game.clearView();
  assert.equal(ping.textContent, '–', 'a new room starts blank');
  assert.ok(!ping.classList.contains('stalled'));
});

test('a ship extrapolated toward a wall through a stall is drawn against it, not through it', () => {
  const ship = (/** @type {number} */ x, /** @type {number} */ y) => ({ id: 3, kind: Arena.KIND_SHIP, x, y, vx: 300, vy: 0, heading: 0, flags: 1, value: 0 });
  const pickup = { ...ship(1650, -10), id: 100_000, kind: Arena.KIND_PICKUP };
  const entities = [ship(1650, 500), ship(-5, 1200), pickup];
  keepShipsInside(entities, { width: 1600, height: 1000 });
  assert.deepEqual(entities.map((e) => [e.x, e.y]), [[1580, 500], [20, 980], [1650, -10]], 'ships by their radius, nothing else');
});

/** The text of a stand-in element, its children's joined by spaces. @param {any} node @returns {string} */
const textOf = (node) => (typeof node === 'string' ? node
  : node.children.length ? node.children.map(textOf).filter(Boolean).join(' ') : node.textContent);

test('a player ranked past the top ten finds its own row pinned below them, with its place in the board\'s order', (t) => {
  // A latecomer (id 15) tied at 0 with 14 others: the board puts it last, by id.
  const rows = Array.from({ length: 15 }, (_, i) => ({ id: i + 1, name: `p${i + 1}`, score: 0 }));
  assert.deepEqual(scoreboardView(rows, 15).top.map((r) => r.id), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(scoreboardView(rows, 15).pinned, { row: rows[14], place: 15 });
  // Within the top ten, or a spectator: the top ten, nothing pinned.
  assert.deepEqual(scoreboardView(rows, 10), { top: rows.slice(0, 10), pinned: null });
  assert.deepEqual(scoreboardView(rows, undefined), { top: rows.slice(0, 10), pinned: null });
  assert.deepEqual(scoreboardView(rows, 11).pinned, { row: rows[10], place: 11 });

  const game = newGame(t);
  const roster = new Map(rows.map((r) => [r.id, { name: r.name, role: 'Player' }]));
  game.client.session.roster = /** @type {any} */ (roster);
  game.onWelcome({ ...welcome(1), playerId: 15, entity: 15 });
  for (const r of rows) game.scores.set(r.id, r.id === 3 ? 2 : 0);
  game.updateScoreboard();
  const items = document.querySelector('#scoreboard').children;
  assert.equal(items.length, 11, 'nine rows, the gap, and this player\'s');
  assert.equal(textOf(items[0]), 'p3 2');
  assert.equal(items[9].className, 'gap');
  assert.equal(items[10].className, 'me pinned');
  assert.equal(items[10].dataset.place, '15');
  assert.equal(textOf(items[10]), 'p15 (you) 0');
});

test('the camera keeps the ship clear of the invite popover while it is open', (t) => {
  const game = newGame(t);
  document.querySelector('#touch').hidden = true;
  const invite = document.querySelector('#invite');
  const box = { left: 980, top: 300, right: 1266, bottom: 700 };
  invite.getBoundingClientRect = () => ({ ...box, width: 286, height: 400 });
  game.showInvite(false);
  assert.deepEqual(game.coveredByControls(), []);
  game.showInvite(true);
  assert.deepEqual(game.coveredByControls(), [box]);
  game.showInvite(false);
});

test('the camera keeps the ship clear of the chat lines and the Chat, Invite and Leave buttons on screen', (t) => {
  const game = newGame(t);
  document.querySelector('#touch').hidden = true;
  game.showInvite(false);
  const at = (/** @type {any} */ element, /** @type {number[]} */ [left, top, right, bottom]) => {
    element.getBoundingClientRect = () => ({ left, top, right, bottom, width: right - left, height: bottom - top });
  };
  // A phone held upright: two chat lines over the buttons; the chat box is not shown (no size).
  const [first, second] = [document.createElement('li'), document.createElement('li')];
  document.querySelector('#chat-log').replaceChildren(first, second);
  at(first, [10, 640, 300, 664]);
  at(second, [10, 668, 120, 692]);
  at(document.querySelector('#chat-btn'), [150, 730, 205, 774]);
  at(document.querySelector('#invite-btn'), [213, 730, 285, 774]);
  at(document.querySelector('#leave-btn'), [310, 730, 380, 774]);
  t.after(() => {
    for (const id of ['#chat-btn', '#invite-btn', '#leave-btn']) at(document.querySelector(id), [0, 0, 0, 0]);
  });
  assert.deepEqual(game.coveredByControls(), [
    { left: 10, top: 640, right: 300, bottom: 692 },
    { left: 150, top: 730, right: 380, bottom: 774 },
  ]);
  // A wide screen with no Chat button (not shown: no size).
  at(document.querySelector('#chat-btn'), [0, 0, 0, 0]);
  assert.deepEqual(game.coveredByControls()[1], { left: 213, top: 730, right: 380, bottom: 774 });
});

test('the chat box stops at the 200 bytes of UTF-8 a line may be, at whole characters, keeping what follows the caret', (t) => {
  newGame(t);
  const input = document.querySelector('#chat-input');
  const type = (/** @type {string} */ value, /** @type {number} */ caret = value.length) => {
    input.value = value;
    input.selectionEnd = caret;
    input.dispatchEvent(new Event('input'));
    return input.value;
  };
  assert.equal(type('é'.repeat(200)), 'é'.repeat(100));
  assert.equal(type('漢'.repeat(200)), '漢'.repeat(66));
  assert.equal(type('a'.repeat(200)), 'a'.repeat(200));
  // A family emoji (25 bytes) is kept whole or not at all: no joiner left dangling.
  const family = '👨‍👩‍👧‍👦';
  assert.equal(type(`${'a'.repeat(190)}${family}`), 'a'.repeat(190));
  // Pasted in the middle: the paste is cut, the text after the caret stays.
  assert.equal(type(`hello ${'é'.repeat(150)}world`, 6 + 150), `hello ${'é'.repeat(94)}world`);
  // Not while an input method composes: once it ends.
  input.value = 'é'.repeat(101);
  input.selectionEnd = 101;
  input.dispatchEvent(Object.assign(new Event('input'), { isComposing: true }));
  assert.equal(input.value.length, 101);
  input.dispatchEvent(new Event('compositionend'));
  assert.equal(input.value, 'é'.repeat(100));
});

test('a page going away keeps its seat for a reload of the tab, which takes it once; Leave gives it up', (t) => {
  const storage = memoryStorage();
  const seats = seatStore(storage);
  const game = new TestGame({ name: 'ada', room: 'den', spectate: false, onExit() {}, seats });
  t.after(() => game.exit());
  const client = () => /** @type {FakeClient} */ (/** @type {unknown} */ (game.client));
  const token = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  game.onWelcome({ ...welcome(7), resumeToken: token });
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  assert.equal(client().leaves, 0, 'not left: a close 1000 (or the browser\'s 1001) would give the seat up');
  assert.deepEqual(client().session.abandoned.length, 1, 'closed with a code that keeps it');
  const now = Date.now();
  const seat = seats.take(now);
  assert.deepEqual(seat && { ...seat, at: 0 }, { room: 'room-7', role: 'Player', name: 'ada', resumeToken: Array.from(token), at: 0 });
  assert.equal(seats.take(now), null, 'taken once: a tab duplicated later finds none');
  // The reloaded page asks for it only in the same room and role.
  assert.deepEqual(resumeTokenFor(seat, 'room-7', false), Array.from(token));
  assert.equal(resumeTokenFor(seat, 'room-7', true), null);
  assert.equal(resumeTokenFor(seat, 'elsewhere', false), null);
  // A seat kept long ago, or garbled, is not asked for.
  storage.setItem('tickwire.seat', JSON.stringify({ ...seat, at: now - KEPT_SEAT_MS - 1 }));
  assert.equal(seats.take(now), null);
  assert.equal(storage.items.size, 0, 'and is gone');
  storage.setItem('tickwire.seat', '{"room":');
  assert.equal(seats.take(now), null);
  // Leave: nothing for a reload to take back, and the seat is given up.
  storage.setItem('tickwire.seat', JSON.stringify(seat));
  document.querySelector('#leave-btn').dispatchEvent(new Event('click'));
  assert.equal(storage.items.size, 0);
  assert.equal(client().leaves, 1);
});

test('the HUD names a transport once a Welcome came over it; a reload in the tab starts from it for ten minutes, a forced one is not kept', (t) => {
  const storage = memoryStorage();
  const transports = transportStore(storage);
  /** A client whose listeners the test can call. */
  class Listened extends FakeClient {
    /** @type {Map<string, (e: any) => void>} */
    listeners = new Map();
    transport = 'stream';
    chain = ['ws', 'stream', 'poll'];
    /** @param {string} type @param {(e: any) => void} listener */
    on(type, listener) {
      this.listeners.set(type, listener);
      return () => {};
    }
  }
  class Heard extends TestGame {
    createClient() {
      super.createClient();
      return /** @type {any} */ (new Listened());
    }
  }
  // The SDK leaves WebSocket out of `auto` where there is none (Node 20 as run here).
  const g = /** @type {any} */ (globalThis);
  const global = g.WebSocket;
  g.WebSocket ??= class {};
  t.after(() => { g.WebSocket = global; });
  const hud = document.querySelector('#hud-transport');
  hud.textContent = '–';
  const game = new Heard({ name: 'ada', room: 'den', spectate: false, onExit() {}, seats: seatStore(memoryStorage()), transports });
  t.after(() => game.exit());
  const client = /** @type {Listened} */ (/** @type {unknown} */ (game.client));
  // A WebSocket a middlebox swallows opens all the same: nothing came over it yet.
  client.listeners.get('transport')?.({ type: 'transport', transport: 'ws' });
  assert.equal(hud.textContent, '–');
  assert.equal(storage.items.size, 0);
  game.onWelcome(welcome(1));
  assert.equal(hud.textContent, 'HTTP stream');
  assert.equal(game.root.dataset.transport, 'stream');

  const now = Date.now();
  assert.equal(transports.recall(now), 'stream');
  // The reloaded page's client starts from it; one loaded later probes WebSocket again.
  const reloaded = Game.prototype.createClient.call(game);
  assert.equal(reloaded.chain[reloaded.preferred], 'stream');
  assert.equal(transports.recall(now + KEPT_TRANSPORT_MS + 1), undefined);
  storage.setItem('tickwire.transport', JSON.stringify({ transport: 'stream', at: now - KEPT_TRANSPORT_MS - 1 }));
  assert.equal(Game.prototype.createClient.call(game).chain[0], 'ws');
  assert.equal(Game.prototype.createClient.call(game).preferred, 0);
  for (const garbled of ['{"transport":', JSON.stringify({ transport: 'carrier pigeon', at: now })]) {
    storage.setItem('tickwire.transport', garbled);
    assert.equal(transports.recall(now), undefined);
  }
  // A page going away keeps it from then on, so a long game does not let it expire.
  game.keepSeat();
  assert.equal(transports.recall(Date.now()), 'stream');

  // `?transport=` forces one: neither asked for nor kept.
  storage.items.clear();
  client.chain = ['poll'];
  client.transport = 'poll';
  game.onWelcome(welcome(1));
  assert.equal(storage.items.size, 0);
  transports.keep('stream', Date.now());
  location.search = '?transport=ws';
  t.after(() => { location.search = ''; });
  const forced = Game.prototype.createClient.call(game);
  assert.deepEqual([forced.chain, forced.preferred], [['ws'], 0]);
});

test('a spectator going away gives its place up: the server keeps no spectator for a resume', (t) => {
  const storage = memoryStorage();
  const seats = seatStore(storage);
  const game = new TestGame({ name: 'ada', room: 'den', spectate: true, onExit() {}, seats });
  t.after(() => game.exit());
  const client = () => /** @type {FakeClient} */ (/** @type {unknown} */ (game.client));
  game.onWelcome({ ...welcome(7), role: 'Spectator', entity: null });
  window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: false }));
  assert.equal(client().leaves, 1, 'left, as before');
  assert.equal(client().session.abandoned.length, 0);
  assert.equal(seats.take(Date.now()), null, 'nothing kept');
  // Nor is one kept by an older page asked for.
  const kept = { room: 'room-7', role: 'Spectator', name: 'ada', resumeToken: new Array(16).fill(1), at: Date.now() };
  assert.equal(resumeTokenFor(kept, 'room-7', true), null);
});

test('a page reloaded into its seat says the ship is back, or that the server no longer had it', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] }); // the banner's
  const banner = document.querySelector('#banner');
  const token = Array.from({ length: 16 }, () => 7);
  for (const [resumed, said] of /** @type {const} */ ([[true, 'Reconnected: your ship is back.'],
    [false, 'Reconnected as a new ship: the server no longer had your seat (it may have restarted).']])) {
    /** @type {(import('../../sdk/index.js').TickwireClient)[]} */
    const made = [];
    class Reloaded extends TestGame {
      createClient() {
        made.push(Game.prototype.createClient.call(this));
        return super.createClient();
      }
    }
    const game = new Reloaded({ name: 'ada', room: 'den', spectate: false, onExit() {}, resumeToken: token, seats: seatStore(memoryStorage()) });
    t.after(() => game.exit());
    assert.deepEqual(Array.from(made[0].session.resumeToken ?? []), token, 'the first join asks for the seat');
    game.root.dataset.connections = '0';
    game.onWelcome(welcome(1, { resumed }));
    assert.deepEqual(banner.children, [said]);
    // "Try again" later joins as itself.
    game.rejoin();
    assert.equal(made[1].session.resumeToken, null);
    game.exit();
  }
});

test('watching a room nobody plays in says so, until someone joins', (t) => {
  const game = new TestGame({ name: 'ada', room: 'den', spectate: true, onExit() {} });
  t.after(() => game.exit());
  const roster = new Map([[4, { name: 'eve', role: 'Spectator' }]]);
  game.client.session.roster = /** @type {any} */ (roster);
  game.onWelcome({ ...welcome(1), role: 'Spectator', entity: null, playerId: 4 });
  const line = document.querySelector('#empty-room');
  game.updateScoreboard();
  assert.equal(line.hidden, false);
  roster.set(5, { name: 'bob', role: 'Player' });
  game.updateScoreboard();
  assert.equal(line.hidden, true);
  // A player's own game never says it.
  const player = newGame(t);
  player.client.session.roster = /** @type {any} */ (new Map());
  player.onWelcome(welcome(1));
  player.updateScoreboard();
  assert.equal(line.hidden, true);
});

test('back as a new ship after longer away than the server keeps a seat, the banner says so rather than blame the server', () => {
  assert.equal(reconnectedText(true, false, 30_000), 'Reconnected: your ship is back.');
  assert.equal(reconnectedText(false, true, 30_000), 'Reconnected: the server restarted, so this is a new ship.');
  assert.equal(reconnectedText(false, false, RESUME_GRACE_MS), 'Reconnected as a new ship: you were away longer than the server keeps a seat.');
  assert.equal(reconnectedText(false, false, 24_000), 'Reconnected as a new ship: you were away longer than the server keeps a seat.');
  // Not away, or not for that long: the page cannot tell a grace that ran out from a restart.
  for (const away of [0, 3000, RESUME_GRACE_MS - 1]) {
    assert.equal(reconnectedText(false, false, away), 'Reconnected as a new ship: the server no longer had your seat (it may have restarted).');
  }
  // A spectator has no ship: back to watching, whatever happened to seats.
  /** @type {[boolean, boolean, number][]} */
  const cases = [[true, false, 0], [false, true, 0], [false, false, RESUME_GRACE_MS], [false, false, 0]];
  for (const [resumed, restarting, away] of cases) {
    assert.equal(reconnectedText(resumed, restarting, away, true), 'Reconnected: watching again.');
  }
});

test('a page back from the background waits a few round trips for the answer to its link check, 1.5 to 5 s', () => {
  assert.equal(linkCheckMs(null), 1500);
  assert.equal(linkCheckMs(40), 1500);
  assert.equal(linkCheckMs(800), 2400);
  assert.equal(linkCheckMs(4000), 5000, 'no longer than the silence timeout it stands in for');
});

test('a page hidden past the resume grace and back as a new ship says it was away; a short time away does not', (t) => {
  const banner = document.querySelector('#banner');
  for (const awayMs of [24_000, 3000]) {
    const game = newGame(t);
    game.onWelcome(welcome(1));
    document.hidden = true;
    document.dispatchEvent(new Event('visibilitychange'));
    // Frozen in the background meanwhile.
    game.hiddenAt = /** @type {number} */ (game.hiddenAt) - awayMs;
    document.hidden = false;
    document.dispatchEvent(new Event('visibilitychange'));
    game.onWelcome(welcome(1, { resumed: false }));
    assert.equal(banner.children.at(-1), awayMs >= RESUME_GRACE_MS
      ? 'Reconnected as a new ship: you were away longer than the server keeps a seat.'
      : 'Reconnected as a new ship: the server no longer had your seat (it may have restarted).', `${awayMs} ms away`);
    game.exit();
  }
});
