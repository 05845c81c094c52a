// The keyboard half of the game's controls, in Node with a stand-in window: a key released
// while the controls were off, or while typing in the chat box, is not left held; keys on a
// focused button or checkbox; and the touch layout on a screen that also has a keyboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';

/** A class list that keeps its classes. */
function classList() {
  const names = new Set();
  return {
    add: (/** @type {string} */ c) => { names.add(c); },
    remove: (/** @type {string} */ c) => { names.delete(c); },
    contains: (/** @type {string} */ c) => names.has(c),
    toggle: (/** @type {string} */ c, /** @type {boolean} */ on) => { if (on) names.add(c); else names.delete(c); },
  };
}

/** A stand-in for the page's elements: what the controls touch of them. @returns {HTMLElement} */
const element = (tagName = 'DIV', attributes = {}) => /** @type {any} */ (Object.assign(new EventTarget(), {
  hidden: true, tagName, style: {}, classList: classList(), ...attributes,
  hasAttribute: (/** @type {string} */ name) => name in attributes,
  getAttribute: (/** @type {string} */ name) => /** @type {any} */ (attributes)[name] ?? null,
}));
/** @type {any} */ (globalThis).window = new EventTarget();
// Node 20 has no navigator (no gamepads either way).
/** @type {any} */ (globalThis).navigator ??= {};
const { Controls, isTextEntry, isControl } = await import('../../js/controls.js');

/**
 * Dispatches a key event on the window, as if it happened on `target` (default: the body).
 * @param {string} type @param {string} code @param {EventTarget} [target] @param {string} [key]
 */
function key(type, code, target, key = code) {
  const event = Object.assign(new Event(type, { cancelable: true }), { code, key });
  if (target) Object.defineProperty(event, 'target', { value: target });
  window.dispatchEvent(event);
  return event;
}

/** @param {{ steers?: boolean }} [options] */
function controls(options) {
  const el = { root: element(), touch: element(), zone: element(), base: element(), knob: element(), boost: element('BUTTON') };
  return { c: new Controls(el, options), el };
}

test('a key released while the controls were off is not held when they come back', () => {
  const { c } = controls();
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
  const { c } = controls();
  c.enabled = true;
  key('keydown', 'KeyW');
  assert.equal(c.read().y, -1);
  // Enter focused the chat box: the release lands there.
  const input = element('INPUT');
  key('keyup', 'KeyW', input);
  assert.equal(c.read().y, 0, 'the ship stops thrusting');
  // Typing there steers nothing.
  const typed = key('keydown', 'KeyA', input);
  assert.equal(c.read().x, 0);
  assert.equal(typed.defaultPrevented, false, 'the letter is typed');
  c.dispose();
});

test('a focused checkbox or button still steers, and Space presses it rather than boosting', () => {
  const { c } = controls();
  c.enabled = true;
  for (const focused of [element('INPUT', { type: 'checkbox' }), element('BUTTON')]) {
    const down = key('keydown', 'ArrowRight', focused);
    assert.equal(c.read().x, 1, `${focused.tagName}: arrows steer`);
    assert.equal(down.defaultPrevented, true);
    key('keyup', 'ArrowRight', focused);
    key('keydown', 'KeyW', focused);
    assert.equal(c.read().y, -1, `${focused.tagName}: letters steer`);
    key('keyup', 'KeyW', focused);
    const space = key('keydown', 'Space', focused, ' ');
    const spaceUp = key('keyup', 'Space', focused, ' ');
    assert.equal(space.defaultPrevented || spaceUp.defaultPrevented, false, `${focused.tagName}: Space presses it`);
    assert.equal(c.read().buttons, 0);
  }
  // On the page itself Space boosts, and scrolls nothing.
  const body = element('BODY');
  const boost = key('keydown', 'Space', body, ' ');
  assert.equal(c.read().buttons, 1);
  assert.equal(boost.defaultPrevented, true);
  key('keyup', 'Space', body, ' ');
  c.dispose();
});

test('text entry is told apart from other controls', () => {
  assert.equal(isTextEntry(element('INPUT', { type: 'text' })), true);
  assert.equal(isTextEntry(element('INPUT', { type: 'search' })), true);
  assert.equal(isTextEntry(element('TEXTAREA')), true);
  assert.equal(isTextEntry(element('DIV', { isContentEditable: true })), true);
  assert.equal(isTextEntry(element('INPUT', { type: 'checkbox' })), false);
  assert.equal(isTextEntry(element('BUTTON')), false);
  assert.equal(isTextEntry(null), false);
  assert.equal(isControl(element('BUTTON')), true);
  assert.equal(isControl(element('A', { href: '/' })), true);
  assert.equal(isControl(element('A')), false, 'an anchor without a link');
  assert.equal(isControl(element('DIV', { role: 'button' })), true);
  assert.equal(isControl(element('CANVAS')), false);
  assert.equal(isControl(element('BODY')), false);
});

test('a spectator on a touch screen gets the touch layout but no stick or boost button', () => {
  const player = controls();
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(player.el.touch.hidden, false);
  assert.equal(player.el.root.classList.contains('touching'), true);
  player.c.dispose();
  const spectator = controls({ steers: false });
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(spectator.el.touch.hidden, true, 'nothing to steer');
  assert.equal(spectator.el.root.classList.contains('touching'), true);
  spectator.c.dispose();
});

test('a key pressed after a touch goes back to the keyboard layout, and lets go of the stick', () => {
  const { c, el } = controls();
  c.enabled = true;
  window.dispatchEvent(new Event('touchstart'));
  c.stick = { x: 0.5, y: 0, pointer: 3, ox: 10, oy: 10 };
  c.setBoost(true);
  // A phone's on-screen keyboard (it types only into fields) changes nothing.
  key('keydown', '', element('BODY'), 'Unidentified');
  assert.equal(el.root.classList.contains('touching'), true);
  key('keydown', 'KeyD', element('BODY'), 'd');
  assert.equal(el.root.classList.contains('touching'), false, 'the chat box shows again');
  assert.equal(el.touch.hidden, true);
  assert.deepEqual(c.read(), { x: 1, y: 0, buttons: 0 }, 'only the key steers');
  window.dispatchEvent(new Event('touchstart'));
  assert.equal(el.root.classList.contains('touching'), true, 'a touch brings it back');
  c.dispose();
});
