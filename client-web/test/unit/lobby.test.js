// Display names, in Node with a stand-in localStorage: cut to the protocol's 24 bytes of UTF-8
// (not 24 characters) at whole characters, so a session can always be made with one. And, on a
// stand-in page, the link under the QR code of the room being typed.
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
const { Lobby, fitName, savedName } = await import('../../js/lobby.js');

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
