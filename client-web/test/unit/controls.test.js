// The keyboard half of the game's controls, in Node with a stand-in window: a key released
// while the controls were off, or while typing in the chat box, is not left held.
import { test } from 'node:test';
import assert from 'node:assert/strict';

/** A stand-in for the page's elements: what the controls touch of them. @returns {HTMLElement} */
const element = () => /** @type {any} */ (Object.assign(new EventTarget(), {
  hidden: true, tagName: 'DIV', style: {}, classList: { add() {}, toggle() {} },
}));
/** @type {any} */ (globalThis).window = new EventTarget();
// Node 20 has no navigator (no gamepads either way).
/** @type {any} */ (globalThis).navigator ??= {};
const { Controls } = await import('../../js/controls.js');

/** @param {string} type @param {string} code @param {EventTarget} [target] */
function key(type, code, target) {
  const event = Object.assign(new Event(type, { cancelable: true }), { code });
  (target ?? window).dispatchEvent(event);
}

function controls() {
  const root = element();
  return new Controls({ root, touch: element(), zone: element(), base: element(), knob: element(), boost: element() });
}

test('a key released while the controls were off is not held when they come back', () => {
  const c = controls();
  c.enabled = true;
  key('keydown', 'KeyD');
  assert.equal(c.read().x, 1);
  c.enabled = false; // the connection dropped: reconnecting
  key('keyup', 'KeyD');
  c.enabled = true; // resumed
  assert.equal(c.read().x, 0, 'the ship does not turn by itself');
  c.dispose();
});

test('a key released in the chat box is not held', () => {
  const c = controls();
  c.enabled = true;
  key('keydown', 'KeyW');
  assert.equal(c.read().y, -1);
  // Enter focused the chat box: the release lands there.
  const input = Object.assign(new EventTarget(), { tagName: 'INPUT' });
  const release = Object.assign(new Event('keyup', { bubbles: true }), { code: 'KeyW' });
  Object.defineProperty(release, 'target', { value: input });
  window.dispatchEvent(release);
  assert.equal(c.read().y, 0, 'the ship stops thrusting');
  // Typing there steers nothing.
  const typed = Object.assign(new Event('keydown'), { code: 'KeyA' });
  Object.defineProperty(typed, 'target', { value: input });
  window.dispatchEvent(typed);
  assert.equal(c.read().x, 0);
  c.dispose();
});
