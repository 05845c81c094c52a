// Display names, in Node with a stand-in localStorage: cut to the protocol's 24 bytes of UTF-8
// (not 24 characters) at whole characters, so a session can always be made with one. And, on a
// stand-in page, the link under the QR code of the room being typed, Enter in the name field,
// and the lobby an invite link shows someone new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, LIMITS } from '../../sdk/index.js';
import { heldFetch, installPage } from '../support/page.js';

/** @type {Map<string, string>} */
const stored = new Map();
/** @type {any} */ (globalThis).localStorage = {
  getItem: (/** @type {string} */ k) => stored.get(k) ?? null,
  setItem: (/** @type {string} */ k, /** @type {string} */ v) => { stored.set(k, v); },
};
const { Lobby, fitName, savedName, hasSavedName, invalidRoomMessage, wantsToWatch } = await import('../../js/lobby.js');

const bytes = (/** @type {string} */ s) => new TextEncoder().encode(s).length;

test('a name is cut to 24 bytes of UTF-8 at whole characters, and trimmed', () => {
  const cases = [
    ['Александра Константиновна', 'Александра К'], // 13+ Cyrillic letters
    ['東京都渋谷区神宮前一丁目', '東京都渋谷区神宮'], // 9+ CJK characters
    [`${'a'.repeat(23)}🚀`, 'a'.repeat(23)], // an emoji that would be split at 24 units
    ['  spaced  ', 'spaced'],
    ['Ada', 'Ada'],
  ];
  for (const [name, fitted] of cases) {
    assert.equal(fitName(name), fitted, name);
    assert.ok(bytes(fitName(name)) <= LIMITS.name);
    assert.doesNotThrow(() => new Session({ name: fitName(name) }), name);
  }
  // Cut right after a space: no trailing space is left.
  assert.equal(fitName(`${'a'.repeat(10)} ${'ж'.repeat(10)}`), `${'a'.repeat(10)} ${'ж'.repeat(6)}`);
  assert.equal(fitName(`${'ж'.repeat(11)} ж`), 'ж'.repeat(11));
});

test('a saved name too long for the protocol (saved by an older page) comes back cut', () => {
  stored.set('tickwire.name', 'Игорь Святославович Рюрикович');
  const name = savedName();
  assert.equal(name, 'Игорь Святос');
  assert.doesNotThrow(() => new Session({ name }));
  stored.set('tickwire.name', '   ');
  assert.match(savedName(), /^[A-Z][a-z]+-\d\d$/, 'a blank one gets a default');
});

test('the link shown is the newest selection\'s, whatever order the invite replies come in', async () => {
  const { document } = installPage();
  const calls = heldFetch();
  const lobby = new Lobby(() => {});
  const roomName = document.querySelector('#room-name');
  // Typing "ab": each keystroke selects the name so far.
  roomName.value = 'a';
  roomName.dispatchEvent(new Event('input'));
  roomName.value = 'ab';
  roomName.dispatchEvent(new Event('input'));
  // Relative to the page, so a reverse proxy may serve the server under a path prefix.
  assert.deepEqual(calls.map((c) => c.url), ['invite?room=a', 'invite?room=ab']);
  assert.equal(document.querySelector('#lobby-qr').src, 'invite.svg?room=ab');
  const link = document.querySelector('#lobby-link');
  const reply = (/** @type {number} */ i, /** @type {string} */ room) => {
    calls[i].reply({ url: `http://192.168.1.5:8080/?room=${room}`, reachable_from_lan: true });
    return new Promise((resolve) => setImmediate(resolve));
  };
  await reply(1, 'ab');
  assert.equal(link.href, 'http://192.168.1.5:8080/?room=ab');
  await reply(0, 'a'); // the slower reply for "a"
  assert.equal(link.href, 'http://192.168.1.5:8080/?room=ab', 'the link is the QR code\'s room');
  assert.equal(link.textContent, 'http://192.168.1.5:8080/?room=ab');
  lobby.hide();
});

/** Enter pressed in the name field. @param {any} input */
function pressEnter(input) {
  const event = Object.assign(new Event('keydown', { cancelable: true }), { key: 'Enter', isComposing: false });
  input.dispatchEvent(event);
  return event;
}

test('Enter in the name field does the lobby\'s primary action: the typed room if any, else quick play', () => {
  const { document } = installPage();
  heldFetch();
  /** @type {{ name: string, room: string | null, spectate: boolean }[]} */
  const joins = [];
  const lobby = new Lobby((choice) => joins.push(choice));
  const name = document.querySelector('#name');
  name.value = '  Ada  ';
  assert.equal(pressEnter(name).defaultPrevented, true);
  assert.deepEqual(joins.at(-1), { name: 'Ada', room: null, spectate: false });
  document.querySelector('#room-name').value = 'den';
  pressEnter(name);
  assert.deepEqual(joins.at(-1), { name: 'Ada', room: 'den', spectate: false });
  // A name that is no room's: the form says why, and nothing is joined.
  document.querySelector('#room-name').value = 'no good!';
  pressEnter(name);
  assert.equal(joins.length, 2);
  assert.equal(document.querySelector('#create-error').hidden, false);
  document.querySelector('#room-name').value = '';
  lobby.hide();
});

test('someone new from an invite link picks a name first; a name once chosen is remembered', () => {
  const { document } = installPage();
  heldFetch();
  stored.delete('tickwire.name');
  assert.equal(hasSavedName(), false);
  /** @type {{ name: string, room: string | null, spectate: boolean }[]} */
  const joins = [];
  const lobby = new Lobby((choice) => joins.push(choice));
  lobby.invite('den');
  assert.equal(joins.length, 0, 'nothing joined yet');
  assert.equal(document.querySelector('#invited').hidden, false);
  const join = document.querySelector('#join-invited');
  assert.equal(join.hidden, false);
  assert.equal(join.textContent, 'Join den');
  assert.equal(document.querySelector('#quick-play').className, 'btn ghost', 'one big button: the invite\'s');
  assert.equal(document.querySelector('#room-name').value, 'den');
  // Enter in the name field joins the invite's room, under the name typed.
  const name = document.querySelector('#name');
  name.value = 'Grace';
  pressEnter(name);
  assert.deepEqual(joins, [{ name: 'Grace', room: 'den', spectate: false }]);
  assert.equal(hasSavedName(), true, 'next time, a returning player');
  // Back in the lobby after that game, it is the lobby again.
  assert.equal(join.hidden, true);
  assert.equal(document.querySelector('#quick-play').className, 'btn primary big');
  lobby.hide();
});

test('the LAN hint names the port this page came by, and a broken invite link says what is wrong', () => {
  const { document } = installPage();
  heldFetch();
  /** @type {any} */ (globalThis).location = new URL('http://127.0.0.1:18080/');
  new Lobby(() => {}).hide();
  assert.equal(document.querySelector('#lobby-lan-bind').textContent, '--bind 0.0.0.0:18080');
  assert.equal(document.querySelector('#invite-lan-bind').textContent, '--bind 0.0.0.0:18080');
  assert.match(invalidRoomMessage('bad name!'), /^That invite link names no valid room \(“bad name!”\): a room name is 1 to 16/);
  const long = invalidRoomMessage('x'.repeat(40));
  assert.ok(long.includes(`“${'x'.repeat(24)}…”`), long);
});

test('a name is cut at whole graphemes: a family emoji is kept whole or left out, never left with a dangling joiner', () => {
  const family = '👨‍👩‍👧‍👦'; // 25 bytes: more than a name holds
  assert.equal(fitName(family), '');
  assert.equal(fitName(`Al${family}`), 'Al');
  const couple = '👩‍❤️‍👨'; // 20 bytes
  assert.equal(fitName(`Bea ${couple}`), `Bea ${couple}`);
  assert.equal(fitName(`Bea ${couple}!`), `Bea ${couple}`, 'full at 24 bytes');
  assert.equal(fitName(`Beatrix ${couple}`), 'Beatrix');
  // The field itself stops there as it is typed into.
  const { document } = installPage();
  heldFetch();
  const lobby = new Lobby(() => {});
  const name = document.querySelector('#name');
  name.value = `Al${family}`;
  name.dispatchEvent(new Event('input'));
  assert.equal(name.value, 'Al');
  lobby.hide();
});

test('a name with nothing visible in it is blank, as the server would make it', () => {
  for (const invisible of ['\u200b\u200b\u200b', '\u2800', '\u3164\u3164', '\u200d', '\u202e \u202c', '\ufe0f']) {
    assert.equal(fitName(invisible), '', JSON.stringify(invisible));
  }
  assert.equal(fitName('\u200bAda'), '\u200bAda', 'the server takes out the blank; the name is Ada');
  assert.equal(fitName('ل\u200cد'), 'ل\u200cد', 'a joiner between letters stays');
  stored.set('tickwire.name', '\u200b\u200b\u200b');
  assert.equal(hasSavedName(), false);
  assert.notEqual(savedName(), '\u200b\u200b\u200b');
  stored.delete('tickwire.name');
});

test('a blank name plays under a made-up one that stays in the field and is kept from game to game', () => {
  const { document } = installPage();
  heldFetch();
  /** @type {{ name: string, room: string | null, spectate: boolean }[]} */
  const joins = [];
  const lobby = new Lobby((choice) => joins.push(choice));
  const name = document.querySelector('#name');
  for (const blank of ['', '\u200b\u200b\u200b']) {
    name.value = blank;
    document.querySelector('#quick-play').dispatchEvent(new Event('click'));
    document.querySelector('#quick-play').dispatchEvent(new Event('click'));
    const [first, second] = joins.splice(0).map((j) => j.name);
    assert.match(first, /^[A-Z][a-z]+-\d\d$/);
    assert.equal(second, first, 'the same name the second time');
    assert.equal(name.value, first);
    assert.equal(stored.get('tickwire.name'), first);
  }
  lobby.hide();
});

test('a link asks to watch with any usual spelling of yes', () => {
  for (const yes of ['spectate=1', 'spectate=true', 'spectate=TRUE', 'spectate=yes', 'spectate=on', 'spectate', 'spectate=']) {
    assert.equal(wantsToWatch(new URLSearchParams(`room=ok&${yes}`)), true, yes);
  }
  for (const no of ['', 'spectate=0', 'spectate=false', 'spectate=no']) {
    assert.equal(wantsToWatch(new URLSearchParams(`room=ok&${no}`)), false, no);
  }
});

test('a room row\'s buttons name their room to a screen reader, after the words they show', () => {
  installPage();
  const lobby = new Lobby(() => {});
  const rooms = [
    { id: 'arena1', players: 2, capacity: 8, spectators: 0, controllers: 0 },
    { id: 'packed', players: 8, capacity: 8, spectators: 3, controllers: 0 },
  ];
  lobby.renderRooms(/** @type {any} */ (rooms));
  const arena = /** @type {any} */ (lobby.rows.get('arena1'));
  assert.equal(arena.join.textContent, 'Join');
  assert.equal(arena.join.getAttribute('aria-label'), 'Join arena1');
  assert.equal(arena.watch.textContent, 'Watch');
  assert.equal(arena.watch.getAttribute('aria-label'), 'Watch arena1');
  const packed = /** @type {any} */ (lobby.rows.get('packed'));
  assert.equal(packed.join.textContent, 'Full');
  assert.equal(packed.join.getAttribute('aria-label'), 'Full: packed');
  // A seat freed: the name follows the words.
  lobby.renderRooms(/** @type {any} */ ([{ id: 'packed', players: 7, capacity: 8, spectators: 3, controllers: 0 }]));
  assert.equal(packed.join.getAttribute('aria-label'), 'Join packed');
});
