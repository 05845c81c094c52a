// Display names, in Node with a stand-in localStorage: cut to the protocol's 24 bytes of UTF-8
// (not 24 characters) at whole characters, so a session can always be made with one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, LIMITS } from '../../sdk/index.js';

/** @type {Map<string, string>} */
const stored = new Map();
/** @type {any} */ (globalThis).localStorage = {
  getItem: (/** @type {string} */ k) => stored.get(k) ?? null,
  setItem: (/** @type {string} */ k, /** @type {string} */ v) => { stored.set(k, v); },
};
const { fitName, savedName } = await import('../../js/lobby.js');

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
